//! scxray's kernel cache: one directory per kernel release,
//!
//! ```text
//! $SCXRAY_CACHE_DIR | $XDG_CACHE_HOME/scxray | ~/.cache/scxray
//!   kernels/<release>/vmlinuz   the boot image
//!                     config    its build config
//!                     vmlinux   the ELF extracted from vmlinuz
//!                     btf       vmlinux's raw .BTF section
//!                     meta.json where it came from, what it offers
//!                     manifest.json  sizes and SHA-256 of the files above
//!                               (see `integrity`)
//!                     vmlinux.debug  vmlinux with DWARF (`kernel fetch
//!                               --debug-info`), optional
//!   tmp/                        work dirs of running fetches
//! ```
//!
//! An entry appears whole or not at all: it is written in a `.staging-*`
//! directory beside the final one and renamed into place; a file added to an
//! entry later (`vmlinux.debug`) is written under a hidden temporary name and
//! renamed. Work and staging directories and temporary files carry their
//! process id, and those of dead processes are removed by the next fetch.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::config::{KernelConfig, KernelFeatures};
#[cfg(test)]
use super::integrity::Manifest;
use super::integrity::{check_entry, Damage, Depth};
use super::version::compare_releases;
use crate::io_at::{io_at, IoAt};

/// Overrides the cache root (tests, CI).
pub const CACHE_DIR_ENV: &str = "SCXRAY_CACHE_DIR";
/// File names inside an entry.
pub const IMAGE_FILE: &str = "vmlinuz";
pub const CONFIG_FILE: &str = "config";
pub const VMLINUX_FILE: &str = "vmlinux";
pub const BTF_FILE: &str = "btf";
pub const META_FILE: &str = "meta.json";
/// vmlinux with DWARF, from Debian's `linux-image-<release>-dbg`.
pub const DEBUG_VMLINUX_FILE: &str = "vmlinux.debug";

const STAGING_PREFIX: &str = ".staging-";
const OLD_PREFIX: &str = ".old-";
/// Prefix of the work dirs under `tmp/`.
pub(crate) const WORK_PREFIX: &str = "work-";

/// Errors of the cache; each names the path or value at fault.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cannot find a cache directory: set {CACHE_DIR_ENV}, XDG_CACHE_HOME or HOME")]
    NoCacheDir,
    #[error(transparent)]
    Io(#[from] IoAt),
    #[error(
        "`{release}` is not a usable kernel release name (letters, digits and . + - _ ~ only)"
    )]
    InvalidRelease { release: String },
    #[error("cache entry {dir} is incomplete: it has no {missing}")]
    Incomplete { dir: PathBuf, missing: &'static str },
    /// A file of the entry is not what was stored (truncated, changed,
    /// missing), or an entry from before manifests has no whole boot image.
    #[error("cached kernel {release} damaged ({file}: {what}): run `scxray kernel fetch --force`")]
    Damaged {
        release: String,
        dir: PathBuf,
        file: String,
        what: String,
    },
}

impl CacheError {
    fn damaged(release: &str, dir: &Path, damage: Damage) -> Self {
        CacheError::Damaged {
            release: release.to_string(),
            dir: dir.to_path_buf(),
            file: damage.file,
            what: damage.what,
        }
    }
}

/// Where a cached kernel came from; stored as `meta.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelMeta {
    /// Always `scxray-kernel`.
    pub schema: String,
    /// Format version, 1; fields are only added within a version.
    pub version: u32,
    /// The kernel release (`uname -r`).
    pub release: String,
    /// Where it came from, e.g. `debian trixie-backports`.
    pub origin: String,
    /// The packages it was unpacked from, as `name=version`.
    #[serde(default)]
    pub packages: Vec<String>,
    /// When it was stored, in seconds since the Unix epoch.
    pub stored_at_unix: u64,
    /// What its config offers.
    pub features: KernelFeatures,
}

impl KernelMeta {
    /// A meta record for `release`, stored now.
    pub fn new(
        release: &str,
        origin: &str,
        packages: Vec<String>,
        features: KernelFeatures,
    ) -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self {
            schema: "scxray-kernel".into(),
            version: 1,
            release: release.into(),
            origin: origin.into(),
            packages,
            stored_at_unix: now,
            features,
        }
    }
}

/// One kernel in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedKernel {
    /// The release, which is also the directory name.
    pub release: String,
    pub dir: PathBuf,
    /// The boot image (`vmlinuz`); always present.
    pub image: PathBuf,
    pub config: Option<PathBuf>,
    pub vmlinux: Option<PathBuf>,
    pub btf: Option<PathBuf>,
    /// vmlinux with DWARF (`vmlinux.debug`), for source file:line of kernel
    /// functions; only `kernel fetch --debug-info` adds it.
    pub debug_vmlinux: Option<PathBuf>,
    /// From `config` when it is there, else from `meta.json`, else all false.
    pub features: KernelFeatures,
    pub meta: Option<KernelMeta>,
    /// Total size of the entry's files.
    pub size_bytes: u64,
    /// What is wrong with it, as far as the last check looked: listing
    /// checks sizes (or the boot header of an entry without a manifest),
    /// [`CachedKernel::verify`] and [`KernelCache::list_verified`] also the
    /// boot image's hash.
    pub damage: Option<Damage>,
}

impl CachedKernel {
    /// Reads the entry in `dir`; `None` when it has no boot image.
    fn load(dir: &Path, release: &str) -> Option<Self> {
        let image = dir.join(IMAGE_FILE);
        if !image.is_file() {
            return None;
        }
        let present = |name: &str| Some(dir.join(name)).filter(|p| p.is_file());
        let config = present(CONFIG_FILE);
        let meta: Option<KernelMeta> = std::fs::read(dir.join(META_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let features = config
            .as_deref()
            .and_then(|c| KernelConfig::read(c).ok())
            .map(|c| c.features())
            .or_else(|| meta.as_ref().map(|m| m.features))
            .unwrap_or_default();
        let size_bytes = std::fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| e.metadata().ok())
                    .filter(|m| m.is_file())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0);
        Some(Self {
            release: release.to_string(),
            dir: dir.to_path_buf(),
            image,
            config,
            vmlinux: present(VMLINUX_FILE),
            btf: present(BTF_FILE),
            debug_vmlinux: present(DEBUG_VMLINUX_FILE),
            features,
            meta,
            size_bytes,
            damage: check_entry(dir, Depth::Sizes),
        })
    }

    /// Checks the entry before it is used: the sizes its manifest records
    /// and the boot image's SHA-256 (or, for an entry stored before
    /// manifests, the boot header). Updates [`CachedKernel::damage`].
    pub fn verify(&mut self) -> Result<(), CacheError> {
        self.damage = self
            .damage
            .take()
            .or_else(|| check_entry(&self.dir, Depth::ImageHash));
        self.damage_error().map_or(Ok(()), Err)
    }

    /// [`CacheError::Damaged`] for the damage found so far, if any.
    pub fn damage_error(&self) -> Option<CacheError> {
        let d = self.damage.clone()?;
        Some(CacheError::damaged(&self.release, &self.dir, d))
    }
}

impl CachedKernel {
    /// Starts writing the file `name` into this entry: fill
    /// [`EntryFile::file`], then [`EntryFile::commit`]. Until then the entry
    /// only has a hidden temporary file, which dropping removes.
    pub fn new_file(&self, name: &str) -> Result<EntryFile, CacheError> {
        let prefix = format!(".{name}-");
        // Left by a process that died before it could clean up (a second Ctrl-C).
        sweep_stale(&self.dir, &[&prefix]);
        let temp = tempfile::Builder::new()
            .prefix(&format!("{prefix}{}-", std::process::id()))
            // Like the entry's other files, not tempfile's private 0600.
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .tempfile_in(&self.dir)
            .map_err(io_at("create a temporary file in", &self.dir))?;
        Ok(EntryFile {
            temp,
            target: self.dir.join(name),
        })
    }
}

/// A file being added to a cache entry; see [`CachedKernel::new_file`].
#[derive(Debug)]
pub struct EntryFile {
    temp: tempfile::NamedTempFile,
    target: PathBuf,
}

impl EntryFile {
    /// Where to write.
    pub fn file(&mut self) -> &mut std::fs::File {
        self.temp.as_file_mut()
    }

    /// The temporary file's path, for errors and checks before the commit.
    pub fn path(&self) -> &Path {
        self.temp.path()
    }

    /// Flushes the file and renames it into place, replacing an older one.
    pub fn commit(self) -> Result<PathBuf, CacheError> {
        let temp_path = self.temp.path().to_path_buf();
        self.temp
            .as_file()
            .sync_all()
            .map_err(io_at("flush", &temp_path))?;
        // On failure the temporary file comes back in the error and is dropped.
        self.temp
            .persist(&self.target)
            .map_err(|e| io_at("rename into place", &temp_path)(e.error))?;
        if let Some(Ok(d)) = self.target.parent().map(std::fs::File::open) {
            let _ = d.sync_all();
        }
        Ok(self.target)
    }
}

/// The cache rooted at one directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelCache {
    root: PathBuf,
}

impl KernelCache {
    /// A cache rooted at `root` (which holds `kernels/` and `tmp/`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The cache named by the environment: `$SCXRAY_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/scxray`, else `$HOME/.cache/scxray`.
    pub fn from_env() -> Result<Self, CacheError> {
        Self::root_from(|name| std::env::var_os(name))
            .map(Self::new)
            .ok_or(CacheError::NoCacheDir)
    }

    /// The cache root that [`from_env`](Self::from_env) picks, with the
    /// variables read through `var`. Empty and relative XDG values are ignored,
    /// as the XDG spec says.
    pub fn root_from(var: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
        let set = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        if let Some(dir) = set(CACHE_DIR_ENV) {
            return Some(dir);
        }
        if let Some(xdg) = set("XDG_CACHE_HOME").filter(|p| p.is_absolute()) {
            return Some(xdg.join("scxray"));
        }
        set("HOME").map(|home| home.join(".cache").join("scxray"))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/kernels`.
    pub fn kernels_dir(&self) -> PathBuf {
        self.root.join("kernels")
    }

    /// The kernels in the cache, newest release first. A cache that does not
    /// exist yet is empty; directories without a boot image are skipped.
    pub fn list(&self) -> Result<Vec<CachedKernel>, CacheError> {
        let dir = self.kernels_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_at("read", &dir)(e).into()),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_at("read", &dir))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if name.starts_with('.') || !entry.path().is_dir() {
                continue;
            }
            out.extend(CachedKernel::load(&entry.path(), &name));
        }
        out.sort_by(|a, b| {
            compare_releases(&b.release, &a.release).then_with(|| {
                let at = |k: &CachedKernel| k.meta.as_ref().map_or(0, |m| m.stored_at_unix);
                at(b).cmp(&at(a))
            })
        });
        Ok(out)
    }

    /// [`list`](Self::list), each entry also [verified](CachedKernel::verify)
    /// (its boot image hashed), for `scxray kernel list`.
    pub fn list_verified(&self) -> Result<Vec<CachedKernel>, CacheError> {
        let mut list = self.list()?;
        for k in &mut list {
            let _ = k.verify();
        }
        Ok(list)
    }

    /// The newest cached kernel that has sched_ext.
    pub fn newest_sched_ext(&self) -> Result<Option<CachedKernel>, CacheError> {
        Ok(self.list()?.into_iter().find(|k| k.features.sched_ext))
    }

    /// The entry for `release`, when cached.
    pub fn get(&self, release: &str) -> Result<Option<CachedKernel>, CacheError> {
        check_release(release)?;
        Ok(CachedKernel::load(
            &self.kernels_dir().join(release),
            release,
        ))
    }

    /// Starts writing the entry for `release`: fill [`Staging::dir`], then
    /// [`Staging::commit`]. Dropping it uncommitted removes what was written.
    pub fn stage(&self, release: &str) -> Result<Staging, CacheError> {
        check_release(release)?;
        let kernels = self.kernels_dir();
        std::fs::create_dir_all(&kernels).map_err(io_at("create", &kernels))?;
        sweep_stale(&kernels, &[STAGING_PREFIX, OLD_PREFIX]);
        let dir = tempfile::Builder::new()
            .prefix(&format!("{STAGING_PREFIX}{}-", std::process::id()))
            .tempdir_in(&kernels)
            .map_err(io_at("create a staging directory in", &kernels))?;
        Ok(Staging {
            dir,
            target: kernels.join(release),
            release: release.to_string(),
        })
    }

    /// A fresh work directory under `<root>/tmp`, removed when dropped. Work
    /// directories left by dead processes (killed fetches) are removed first.
    pub fn work_dir(&self) -> Result<tempfile::TempDir, CacheError> {
        let tmp = self.root.join("tmp");
        std::fs::create_dir_all(&tmp).map_err(io_at("create", &tmp))?;
        sweep_stale(&tmp, &[WORK_PREFIX]);
        tempfile::Builder::new()
            .prefix(&format!("{WORK_PREFIX}{}-", std::process::id()))
            .tempdir_in(&tmp)
            .map_err(|e| io_at("create a work directory in", &tmp)(e).into())
    }
}

/// A plain-text table of cached kernels, one line each, for `scxray kernel list`.
/// DEBUG_INFO is the size of `vmlinux.debug`, or `no`; STATE is `ok` or
/// `DAMAGED`, and each damaged entry gets a line after the table that says
/// what is wrong and how to fix it.
pub fn table(kernels: &[CachedKernel]) -> String {
    let yes = |b: bool| if b { "yes" } else { "no" };
    let mb = |bytes: u64| format!("{:.1} MB", bytes as f64 / 1e6);
    let rows: Vec<[String; 8]> = kernels
        .iter()
        .map(|k| {
            let debug = k.debug_vmlinux.as_deref().map(std::fs::metadata);
            [
                k.release.clone(),
                if k.damage.is_some() { "DAMAGED" } else { "ok" }.into(),
                yes(k.features.sched_ext).into(),
                yes(k.features.btf).into(),
                yes(k.features.kprobes).into(),
                debug.map_or("no".into(), |m| m.map_or("?".into(), |m| mb(m.len()))),
                mb(k.size_bytes),
                k.dir.display().to_string(),
            ]
        })
        .collect();
    let header = [
        "VERSION",
        "STATE",
        "SCHED_EXT",
        "BTF",
        "KPROBES",
        "DEBUG_INFO",
        "SIZE",
        "PATH",
    ]
    .map(String::from);
    let mut widths = header.each_ref().map(String::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    for e in kernels.iter().filter_map(CachedKernel::damage_error) {
        out.push_str(&format!("{e}\n"));
    }
    out
}

fn check_release(release: &str) -> Result<(), CacheError> {
    let ok = !release.is_empty()
        && !release.starts_with('.')
        && release
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-~".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(CacheError::InvalidRelease {
            release: release.to_string(),
        })
    }
}

/// Removes `<prefix><pid>-*` entries (directories or files) of `dir` whose
/// process is gone.
fn sweep_stale(dir: &Path, prefixes: &[&str]) {
    if !Path::new("/proc/self").exists() {
        return; // No way to tell live processes from dead ones.
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = prefixes.iter().find_map(|p| name.strip_prefix(p)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let path = entry.path();
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
    }
}

/// An entry being written; see [`KernelCache::stage`].
#[derive(Debug)]
pub struct Staging {
    dir: tempfile::TempDir,
    target: PathBuf,
    release: String,
}

impl Staging {
    /// Where to write the entry's files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Flushes the files to disk and renames the directory into place,
    /// replacing an older entry of the same release.
    pub fn commit(self) -> Result<CachedKernel, CacheError> {
        let staged = self.dir.path().to_path_buf();
        if !staged.join(IMAGE_FILE).is_file() {
            return Err(CacheError::Incomplete {
                dir: staged,
                missing: IMAGE_FILE,
            });
        }
        for entry in std::fs::read_dir(&staged)
            .map_err(io_at("read", &staged))?
            .flatten()
        {
            let path = entry.path();
            if path.is_file() {
                std::fs::File::open(&path)
                    .and_then(|f| f.sync_all())
                    .map_err(io_at("flush", &path))?;
            }
        }
        let parent = self.target.parent().unwrap_or(Path::new(".")).to_path_buf();
        let old = parent.join(format!(
            "{OLD_PREFIX}{}-{}",
            std::process::id(),
            self.release
        ));
        let had_old = self.target.exists();
        if had_old {
            std::fs::rename(&self.target, &old).map_err(io_at("move aside", &self.target))?;
        }
        if let Err(e) = std::fs::rename(&staged, &self.target) {
            if had_old {
                let _ = std::fs::rename(&old, &self.target);
            }
            return Err(io_at("rename into place", &staged)(e).into());
        }
        // The staging path is gone now; keep TempDir from trying to remove it.
        let _ = self.dir.keep();
        if had_old {
            let _ = std::fs::remove_dir_all(&old);
        }
        if let Ok(d) = std::fs::File::open(&parent) {
            let _ = d.sync_all();
        }
        CachedKernel::load(&self.target, &self.release).ok_or(CacheError::Incomplete {
            dir: self.target.clone(),
            missing: IMAGE_FILE,
        })
    }
}

/// Writes a complete entry (fake bzImage, `config`, vmlinux, meta) through
/// the staging path, for tests.
#[cfg(test)]
pub(crate) fn test_put(cache: &KernelCache, release: &str, config: &str) -> CachedKernel {
    let s = cache.stage(release).unwrap();
    let head = super::image::fake_bzimage_head(release);
    std::fs::write(s.dir().join(IMAGE_FILE), head).unwrap();
    std::fs::write(s.dir().join(CONFIG_FILE), config).unwrap();
    std::fs::write(s.dir().join(VMLINUX_FILE), b"\x7fELF").unwrap();
    let features = KernelConfig::parse("c", config).features();
    let meta = KernelMeta::new(release, "test", vec![], features);
    std::fs::write(s.dir().join(META_FILE), serde_json::to_vec(&meta).unwrap()).unwrap();
    Manifest::record(s.dir()).unwrap().write(s.dir()).unwrap();
    s.commit().unwrap()
}

/// The sorted names in `dir`, for tests that check nothing was left behind.
#[cfg(test)]
pub(crate) fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCX_CONFIG: &str =
        "CONFIG_SCHED_CLASS_EXT=y\nCONFIG_DEBUG_INFO_BTF=y\nCONFIG_KPROBES=y\n";

    #[test]
    fn root_from_env_precedence() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        let all = env(&[
            ("SCXRAY_CACHE_DIR", "/ci/cache"),
            ("XDG_CACHE_HOME", "/xdg"),
            ("HOME", "/home/u"),
        ]);
        assert_eq!(KernelCache::root_from(all), Some("/ci/cache".into()));
        let xdg = env(&[
            ("SCXRAY_CACHE_DIR", ""),
            ("XDG_CACHE_HOME", "/xdg"),
            ("HOME", "/h"),
        ]);
        assert_eq!(KernelCache::root_from(xdg), Some("/xdg/scxray".into()));
        let relative = env(&[("XDG_CACHE_HOME", "rel"), ("HOME", "/h")]);
        assert_eq!(
            KernelCache::root_from(relative),
            Some("/h/.cache/scxray".into())
        );
        assert_eq!(KernelCache::root_from(env(&[])), None);
    }

    #[test]
    fn list_is_newest_first_with_flags() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = KernelCache::new(tmp.path());
        assert!(cache.list().unwrap().is_empty());
        test_put(&cache, "7.0.9+deb13-cloud-amd64", SCX_CONFIG);
        test_put(&cache, "7.0.10+deb13-cloud-amd64", SCX_CONFIG);
        test_put(
            &cache,
            "7.9.1-no-scx",
            "# CONFIG_SCHED_CLASS_EXT is not set\n",
        );
        // Not entries: a dir without an image, a file, a hidden dir.
        std::fs::create_dir_all(cache.kernels_dir().join("empty")).unwrap();
        std::fs::write(cache.kernels_dir().join("stray"), b"x").unwrap();
        std::fs::create_dir_all(cache.kernels_dir().join(".hidden")).unwrap();

        let list = cache.list().unwrap();
        let names: Vec<_> = list.iter().map(|k| k.release.as_str()).collect();
        assert_eq!(
            names,
            [
                "7.9.1-no-scx",
                "7.0.10+deb13-cloud-amd64",
                "7.0.9+deb13-cloud-amd64"
            ]
        );
        assert!(!list[0].features.sched_ext);
        let k = &list[1];
        assert!(k.features.sched_ext && k.features.btf && k.features.kprobes);
        assert!(!k.features.fprobe);
        assert_eq!(k.vmlinux.as_deref(), Some(&*k.dir.join(VMLINUX_FILE)));
        assert_eq!(k.btf, None);
        assert_eq!(k.meta.as_ref().unwrap().release, k.release);
        assert!(k.size_bytes > 0);
        assert_eq!(
            cache.newest_sched_ext().unwrap().unwrap().release,
            "7.0.10+deb13-cloud-amd64"
        );
        assert!(cache.get("nope").unwrap().is_none());
        assert!(cache.get("7.0.9+deb13-cloud-amd64").unwrap().is_some());
    }

    #[test]
    fn features_fall_back_to_meta_without_config() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = KernelCache::new(tmp.path());
        let k = test_put(&cache, "7.3.4", SCX_CONFIG);
        std::fs::remove_file(k.dir.join(CONFIG_FILE)).unwrap();
        let k = cache.get("7.3.4").unwrap().unwrap();
        assert!(k.config.is_none());
        assert!(k.features.sched_ext);
    }

    #[test]
    fn uncommitted_staging_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = KernelCache::new(tmp.path());
        {
            let s = cache.stage("7.3.4").unwrap();
            std::fs::write(s.dir().join(IMAGE_FILE), b"half").unwrap();
            // Dropped: an interrupted fetch.
        }
        assert_eq!(std::fs::read_dir(cache.kernels_dir()).unwrap().count(), 0);
        assert!(cache.list().unwrap().is_empty());

        let s = cache.stage("7.3.4").unwrap();
        let err = s.commit().unwrap_err();
        assert!(matches!(err, CacheError::Incomplete { .. }), "{err}");
        assert_eq!(std::fs::read_dir(cache.kernels_dir()).unwrap().count(), 0);
    }

    #[test]
    fn commit_replaces_an_older_entry() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = KernelCache::new(tmp.path());
        test_put(&cache, "7.3.4", SCX_CONFIG);
        let s = cache.stage("7.3.4").unwrap();
        std::fs::write(s.dir().join(IMAGE_FILE), b"new image").unwrap();
        let k = s.commit().unwrap();
        assert_eq!(std::fs::read(&k.image).unwrap(), b"new image");
        assert!(k.config.is_none());
        let names: Vec<_> = std::fs::read_dir(cache.kernels_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["7.3.4"]);
    }

    #[test]
    fn stale_dirs_of_dead_processes_are_swept() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = KernelCache::new(tmp.path());
        let kernels = cache.kernels_dir();
        // pid 0 is never a process that /proc lists.
        let dead = kernels.join(".staging-0-abc");
        let dead_old = kernels.join(".old-0-7.3.4");
        let live = kernels.join(format!(".staging-{}-keep", std::process::id()));
        for d in [&dead, &dead_old, &live] {
            std::fs::create_dir_all(d).unwrap();
        }
        let work_dead = tmp.path().join("tmp").join("work-0-xyz");
        std::fs::create_dir_all(&work_dead).unwrap();
        let s = cache.stage("7.3.4").unwrap();
        assert!(!dead.exists() && !dead_old.exists() && live.exists());
        drop(s);
        let w = cache.work_dir().unwrap();
        assert!(!work_dead.exists());
        let path = w.path().to_path_buf();
        assert!(path.starts_with(tmp.path().join("tmp")));
        drop(w);
        assert!(!path.exists());
    }

    #[test]
    fn bad_release_names_are_refused() {
        let cache = KernelCache::new("/nonexistent");
        for bad in ["", "../x", "a/b", ".hidden", "a b"] {
            let err = cache.stage(bad).unwrap_err();
            assert!(
                matches!(err, CacheError::InvalidRelease { .. }),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn table_lists_flags_and_sizes() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = KernelCache::new(tmp.path());
        test_put(&cache, "7.3.4+deb13-cloud-amd64", SCX_CONFIG);
        test_put(
            &cache,
            "6.1.0-40-amd64",
            "# CONFIG_SCHED_CLASS_EXT is not set\n",
        );
        let text = table(&cache.list().unwrap());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[0].starts_with(
                "VERSION                  STATE  SCHED_EXT  BTF  KPROBES  DEBUG_INFO  SIZE    PATH"
            ),
            "{text}"
        );
        assert!(
            lines[1].starts_with(
                "7.3.4+deb13-cloud-amd64  ok     yes        yes  yes      no          0.0 MB  /"
            ),
            "{text}"
        );
        assert!(
            lines[2].starts_with("6.1.0-40-amd64           ok     no         no   no       no  "),
            "{text}"
        );
        assert!(
            lines[1].ends_with("kernels/7.3.4+deb13-cloud-amd64"),
            "{text}"
        );

        // With debug info: its size in the column.
        let k = cache.get("6.1.0-40-amd64").unwrap().unwrap();
        let mut f = k.new_file(DEBUG_VMLINUX_FILE).unwrap();
        std::io::Write::write_all(f.file(), &vec![0u8; 2_500_000]).unwrap();
        f.commit().unwrap();
        let text = table(&cache.list().unwrap());
        let row = text.lines().find(|l| l.starts_with("6.1.0")).unwrap();
        assert!(
            row.starts_with(
                "6.1.0-40-amd64           ok     no         no   no       2.5 MB      2.5 MB  /"
            ),
            "{text}"
        );
    }

    #[test]
    fn damaged_entries_are_listed_as_damaged_with_the_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = KernelCache::new(tmp.path());
        let good = test_put(&cache, "7.3.4+deb13-cloud-amd64", SCX_CONFIG);
        assert!(good
            .dir
            .join(super::super::integrity::MANIFEST_FILE)
            .is_file());
        let bad = test_put(&cache, "7.0.10+deb13-cloud-amd64", SCX_CONFIG);
        assert_eq!(good.damage, None);

        // Truncated: listing sees the size.
        let image = std::fs::read(&bad.image).unwrap();
        std::fs::write(&bad.image, &image[..1000]).unwrap();
        let list = cache.list().unwrap();
        assert_eq!(list[0].damage, None);
        let damage = list[1].damage.clone().unwrap();
        assert_eq!(damage.file, IMAGE_FILE);
        let err = list[1].clone().verify().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "cached kernel 7.0.10+deb13-cloud-amd64 damaged (vmlinuz: 1000 bytes, {} when \
                 stored): run `scxray kernel fetch --force`",
                image.len()
            )
        );
        let text = table(&list);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[1].starts_with("7.3.4+deb13-cloud-amd64   ok  "),
            "{text}"
        );
        assert!(
            lines[2].starts_with("7.0.10+deb13-cloud-amd64  DAMAGED  "),
            "{text}"
        );
        assert_eq!(lines[3], err.to_string(), "{text}");

        // Same size, other bytes: only the verified list (a hash) sees it.
        let mut flipped = image.clone();
        flipped[0x300] ^= 0xff;
        std::fs::write(&bad.image, &flipped).unwrap();
        assert_eq!(cache.list().unwrap()[1].damage, None);
        let verified = cache.list_verified().unwrap();
        assert_eq!(verified[0].damage, None);
        let what = &verified[1].damage.as_ref().unwrap().what;
        assert!(what.starts_with("SHA-256 "), "{what}");

        // An entry stored before manifests: its boot header is checked.
        std::fs::write(&bad.image, &image).unwrap();
        std::fs::remove_file(bad.dir.join(super::super::integrity::MANIFEST_FILE)).unwrap();
        assert_eq!(cache.list_verified().unwrap()[1].damage, None);
        std::fs::write(&bad.image, b"").unwrap();
        let k = cache.get("7.0.10+deb13-cloud-amd64").unwrap().unwrap();
        assert_eq!(
            k.damage_error().unwrap().to_string(),
            "cached kernel 7.0.10+deb13-cloud-amd64 damaged (vmlinuz: empty): run `scxray \
             kernel fetch --force`"
        );
    }

    #[test]
    fn entry_files_appear_whole_or_not_at_all() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = KernelCache::new(tmp.path());
        let k = test_put(&cache, "7.3.4", SCX_CONFIG);
        assert_eq!(k.debug_vmlinux, None);
        let names = |k: &CachedKernel| file_names(&k.dir);
        let before = names(&k);
        {
            let mut f = k.new_file(DEBUG_VMLINUX_FILE).unwrap();
            std::io::Write::write_all(f.file(), b"half").unwrap();
            assert!(f.path().starts_with(&k.dir));
            // Dropped: an interrupted extraction.
        }
        assert_eq!(names(&k), before);
        assert_eq!(cache.get("7.3.4").unwrap().unwrap().debug_vmlinux, None);

        // A dead process's temporary file is swept by the next writer.
        let stale = k.dir.join(".vmlinux.debug-0-abc");
        std::fs::write(&stale, b"stale").unwrap();
        let mut f = k.new_file(DEBUG_VMLINUX_FILE).unwrap();
        assert!(!stale.exists());
        std::io::Write::write_all(f.file(), b"dwarf").unwrap();
        let path = f.commit().unwrap();
        assert_eq!(path, k.dir.join(DEBUG_VMLINUX_FILE));
        assert_eq!(std::fs::read(&path).unwrap(), b"dwarf");
        let k = cache.get("7.3.4").unwrap().unwrap();
        assert_eq!(k.debug_vmlinux, Some(path));
        let mut want = before.clone();
        want.push(DEBUG_VMLINUX_FILE.into());
        want.sort();
        assert_eq!(names(&k), want);
    }
}
