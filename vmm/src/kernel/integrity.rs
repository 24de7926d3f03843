//! A cache entry that checks itself: `manifest.json` records the size and
//! SHA-256 of the entry's files when it is stored; before a cached kernel is
//! used, the sizes are checked (a `stat` each) and the boot image is hashed
//! (about 14 MB). Entries stored before manifests existed are accepted when
//! their boot image has the x86 boot header and is at least as long as that
//! header says, so an empty, random or truncated image is still caught
//! before QEMU says "linux kernel too old to load a ram disk" or the guest
//! dies without a word.

use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::cache::{BTF_FILE, CONFIG_FILE, IMAGE_FILE, VMLINUX_FILE};
use crate::io_at::{io_at, IoAt};

/// The manifest's file name inside an entry.
pub const MANIFEST_FILE: &str = "manifest.json";

/// The files a manifest records, when the entry has them.
pub const RECORDED: [&str; 4] = [IMAGE_FILE, CONFIG_FILE, VMLINUX_FILE, BTF_FILE];

/// Offset of the `HdrS` signature of the x86 boot protocol header.
const HDRS_OFFSET: usize = 0x202;
/// `setup_sects`: 512-byte sectors of real-mode setup after the boot sector
/// (0 means 4).
const SETUP_SECTS_OFFSET: usize = 0x1f1;
/// `syssize`: the protected-mode part's size in 16-byte units.
const SYSSIZE_OFFSET: usize = 0x1f4;

/// Sizes and hashes of an entry's files; stored as `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `scxray-kernel-manifest`.
    pub schema: String,
    /// Format version, 1.
    pub version: u32,
    pub files: Vec<FileSum>,
}

/// One recorded file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSum {
    /// The file name inside the entry.
    pub name: String,
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
}

/// What is wrong with a cache entry: the file and what about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    pub file: String,
    pub what: String,
}

impl Damage {
    fn new(file: &str, what: impl Into<String>) -> Self {
        Self {
            file: file.to_string(),
            what: what.into(),
        }
    }
}

impl Manifest {
    /// Records the [`RECORDED`] files that `dir` has (each read once).
    pub fn record(dir: &Path) -> Result<Self, IoAt> {
        let mut files = Vec::new();
        for name in RECORDED {
            let path = dir.join(name);
            if !path.is_file() {
                continue;
            }
            let (size, sha256) = hash_file(&path).map_err(io_at("read", &path))?;
            files.push(FileSum {
                name: name.to_string(),
                size,
                sha256,
            });
        }
        Ok(Self {
            schema: "scxray-kernel-manifest".into(),
            version: 1,
            files,
        })
    }

    /// Writes `manifest.json` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), IoAt> {
        let path = dir.join(MANIFEST_FILE);
        let json = serde_json::to_vec_pretty(self).expect("manifest serializes");
        std::fs::write(&path, json).map_err(io_at("write", &path))
    }

    /// The manifest of the entry in `dir`: `Ok(None)` when it has none (an
    /// entry stored before manifests), damage when it cannot be read.
    pub fn read(dir: &Path) -> Result<Option<Self>, Damage> {
        let bytes = match std::fs::read(dir.join(MANIFEST_FILE)) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Damage::new(MANIFEST_FILE, format!("unreadable: {e}"))),
        };
        match serde_json::from_slice::<Manifest>(&bytes) {
            Ok(m) if m.schema == "scxray-kernel-manifest" => Ok(Some(m)),
            Ok(m) => Err(Damage::new(
                MANIFEST_FILE,
                format!("unknown schema `{}`", m.schema),
            )),
            Err(e) => Err(Damage::new(MANIFEST_FILE, format!("not valid JSON ({e})"))),
        }
    }
}

/// How thoroughly [`check_entry`] looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Sizes (or, without a manifest, the boot header): a few `stat`s and
    /// one 4 KiB read.
    Sizes,
    /// Sizes, and the boot image's SHA-256 against the manifest's.
    ImageHash,
}

/// The first thing wrong with the entry in `dir`, if any.
pub fn check_entry(dir: &Path, depth: Depth) -> Option<Damage> {
    let manifest = match Manifest::read(dir) {
        Ok(m) => m,
        Err(d) => return Some(d),
    };
    let Some(manifest) = manifest else {
        // Stored before manifests: the boot header is all there is to check.
        return check_boot_image(&dir.join(IMAGE_FILE))
            .err()
            .map(|what| Damage::new(IMAGE_FILE, what));
    };
    for f in &manifest.files {
        let path = dir.join(&f.name);
        match std::fs::metadata(&path) {
            Ok(m) if m.len() == f.size => {}
            Ok(m) => {
                return Some(Damage::new(
                    &f.name,
                    format!("{} bytes, {} when stored", m.len(), f.size),
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Some(Damage::new(&f.name, "missing"))
            }
            Err(e) => return Some(Damage::new(&f.name, format!("unreadable: {e}"))),
        }
    }
    let image = manifest.files.iter().find(|f| f.name == IMAGE_FILE);
    let Some(image) = image else {
        return Some(Damage::new(MANIFEST_FILE, "records no vmlinuz"));
    };
    if depth == Depth::ImageHash {
        match hash_file(&dir.join(IMAGE_FILE)) {
            Ok((_, sha)) if sha == image.sha256 => {}
            Ok((_, sha)) => {
                return Some(Damage::new(
                    IMAGE_FILE,
                    format!(
                        "SHA-256 {}…, {}… when stored",
                        &sha[..12],
                        &image.sha256[..12.min(image.sha256.len())]
                    ),
                ))
            }
            Err(e) => return Some(Damage::new(IMAGE_FILE, format!("unreadable: {e}"))),
        }
    }
    None
}

/// Whether `path` looks like a whole x86 boot image: the `HdrS` signature,
/// and at least the setup sectors plus `syssize` the header announces (a
/// signed image may be longer).
pub fn check_boot_image(path: &Path) -> Result<(), String> {
    let len = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err("missing".into()),
        Err(e) => return Err(format!("unreadable: {e}")),
    };
    if len == 0 {
        return Err("empty".into());
    }
    let mut head = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(0x1000).read_to_end(&mut head))
        .map_err(|e| format!("unreadable: {e}"))?;
    if head.get(HDRS_OFFSET..HDRS_OFFSET + 4) != Some(b"HdrS") {
        return Err(format!(
            "no x86 boot header (`HdrS` at 0x202) in its {len} bytes"
        ));
    }
    let setup_sects = match head[SETUP_SECTS_OFFSET] {
        0 => 4,
        n => u64::from(n),
    };
    let syssize = head
        .get(SYSSIZE_OFFSET..SYSSIZE_OFFSET + 4)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let want = (setup_sects + 1) * 512 + u64::from(syssize) * 16;
    // `syssize` is rounded up to 16 bytes.
    if len + 16 < want {
        return Err(format!(
            "truncated: {len} bytes, its boot header says {want}"
        ));
    }
    Ok(())
}

/// Size and lowercase hex SHA-256 of a file, read in 1 MiB blocks.
fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    let digest = hasher.finalize();
    let hex = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok((size, hex))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::image::fake_bzimage_head;

    /// A fake image whose header announces exactly its length.
    fn image(len: usize) -> Vec<u8> {
        let mut head = fake_bzimage_head("7.3.4");
        head.resize(len, 0xaa);
        head[SETUP_SECTS_OFFSET] = 3; // 4 × 512 bytes of setup
        let syssize = ((len - 4 * 512) / 16) as u32;
        head[SYSSIZE_OFFSET..SYSSIZE_OFFSET + 4].copy_from_slice(&syssize.to_le_bytes());
        head
    }

    fn entry(dir: &Path) {
        std::fs::write(dir.join(IMAGE_FILE), image(64 * 1024)).unwrap();
        std::fs::write(dir.join(CONFIG_FILE), "CONFIG_SCHED_CLASS_EXT=y\n").unwrap();
        std::fs::write(dir.join(BTF_FILE), b"btf").unwrap();
    }

    #[test]
    fn a_recorded_entry_checks_out_until_a_file_changes() {
        let d = tempfile::tempdir().unwrap();
        entry(d.path());
        let m = Manifest::record(d.path()).unwrap();
        let names: Vec<_> = m.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, [IMAGE_FILE, CONFIG_FILE, BTF_FILE]);
        assert_eq!(m.files[0].size, 64 * 1024);
        m.write(d.path()).unwrap();
        assert_eq!(Manifest::read(d.path()).unwrap(), Some(m));
        assert_eq!(check_entry(d.path(), Depth::ImageHash), None);

        // Same size, one byte changed: only the hash sees it.
        let mut bytes = std::fs::read(d.path().join(IMAGE_FILE)).unwrap();
        bytes[40_000] ^= 1;
        std::fs::write(d.path().join(IMAGE_FILE), &bytes).unwrap();
        assert_eq!(check_entry(d.path(), Depth::Sizes), None);
        let damage = check_entry(d.path(), Depth::ImageHash).unwrap();
        assert_eq!(damage.file, IMAGE_FILE);
        assert!(damage.what.starts_with("SHA-256 "), "{damage:?}");

        // Truncated: the size says so.
        bytes.truncate(1000);
        std::fs::write(d.path().join(IMAGE_FILE), &bytes).unwrap();
        let damage = check_entry(d.path(), Depth::Sizes).unwrap();
        assert_eq!(
            damage,
            Damage::new(IMAGE_FILE, "1000 bytes, 65536 when stored")
        );

        // Another recorded file gone.
        std::fs::write(d.path().join(IMAGE_FILE), image(64 * 1024)).unwrap();
        std::fs::remove_file(d.path().join(BTF_FILE)).unwrap();
        assert_eq!(
            check_entry(d.path(), Depth::Sizes),
            Some(Damage::new(BTF_FILE, "missing"))
        );

        std::fs::write(d.path().join(MANIFEST_FILE), b"{not json").unwrap();
        let damage = check_entry(d.path(), Depth::Sizes).unwrap();
        assert_eq!(damage.file, MANIFEST_FILE);
    }

    #[test]
    fn an_entry_without_manifest_needs_a_whole_boot_image() {
        let d = tempfile::tempdir().unwrap();
        entry(d.path());
        assert_eq!(check_entry(d.path(), Depth::ImageHash), None);
        let path = d.path().join(IMAGE_FILE);
        let damage = |bytes: &[u8]| {
            std::fs::write(&path, bytes).unwrap();
            check_entry(d.path(), Depth::ImageHash).map(|d| d.what)
        };
        assert_eq!(damage(b"").as_deref(), Some("empty"));
        let random: Vec<u8> = (0..70_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        assert_eq!(
            damage(&random).as_deref(),
            Some("no x86 boot header (`HdrS` at 0x202) in its 70000 bytes")
        );
        assert_eq!(
            damage(&image(64 * 1024)[..40_000]).as_deref(),
            Some("truncated: 40000 bytes, its boot header says 65536")
        );
        // A signed image is longer than its header says: fine.
        let mut signed = image(64 * 1024);
        signed.extend_from_slice(&[7; 1472]);
        assert_eq!(damage(&signed), None);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            check_entry(d.path(), Depth::Sizes)
                .map(|d| d.what)
                .as_deref(),
            Some("missing")
        );
    }
}
