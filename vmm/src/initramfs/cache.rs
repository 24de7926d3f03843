//! On-disk cache of base archives (`<dir>/initramfs/base-<key>.cpio`).
//!
//! Entries are written to a temporary name and renamed into place, so a
//! reader never sees half an archive and concurrent builders of the same key
//! are harmless. A hit refreshes the file's mtime; only the most recently
//! used [`KEEP`] archives are kept.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::error::InitramfsError;

/// Base archives kept; each is a few MB (init + libc and friends).
pub const KEEP: usize = 8;
const PREFIX: &str = "base-";
const SUFFIX: &str = ".cpio";
/// Leftover temporaries older than this are from a crashed build.
const STALE_TMP: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone)]
pub(crate) struct BaseCache {
    dir: PathBuf,
}

impl BaseCache {
    pub fn new(cache_dir: &Path) -> Self {
        BaseCache {
            dir: cache_dir.join("initramfs"),
        }
    }

    pub fn path_for(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{PREFIX}{key}{SUFFIX}"))
    }

    /// The cached archive for `key` if it is there and ends with a trailer
    /// (a truncated file, say after a full disk, counts as a miss).
    pub fn get(&self, key: &str) -> Option<(File, PathBuf)> {
        let path = self.path_for(key);
        let mut f = File::open(&path).ok()?;
        if !ends_with_trailer(&mut f).unwrap_or(false) {
            return None;
        }
        f.seek(SeekFrom::Start(0)).ok()?;
        // Best effort: the mtime orders eviction.
        let _ = f.set_modified(SystemTime::now());
        Some((f, path))
    }

    /// Writes a new entry through `fill`, then publishes it atomically.
    pub fn store(
        &self,
        key: &str,
        fill: impl FnOnce(&mut BufWriter<File>) -> Result<(), InitramfsError>,
    ) -> Result<PathBuf, InitramfsError> {
        fs::create_dir_all(&self.dir).map_err(InitramfsError::io(
            &self.dir,
            "creating the initramfs cache directory",
        ))?;
        let path = self.path_for(key);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let tmp = self
            .dir
            .join(format!(".{PREFIX}{key}.{}.{nanos}.tmp", std::process::id()));
        let result = (|| {
            let f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .map_err(InitramfsError::io(&tmp, "creating a cache file"))?;
            let mut w = BufWriter::with_capacity(256 * 1024, f);
            fill(&mut w)?;
            let f = w
                .into_inner()
                .map_err(|e| InitramfsError::io(&tmp, "writing a cache file")(e.into_error()))?;
            f.sync_data()
                .map_err(InitramfsError::io(&tmp, "writing a cache file"))?;
            fs::rename(&tmp, &path).map_err(InitramfsError::io(&path, "publishing a cache file"))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result?;
        self.evict(KEEP);
        Ok(path)
    }

    /// Removes all but the `keep` most recently used archives, and stale
    /// temporaries. Failures are ignored: the cache is an optimization.
    pub fn evict(&self, keep: usize) {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return;
        };
        let now = SystemTime::now();
        let mut bases = Vec::new();
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            let Ok(meta) = e.metadata() else { continue };
            let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            if name.starts_with(&format!(".{PREFIX}")) && name.ends_with(".tmp") {
                if now.duration_since(mtime).unwrap_or_default() > STALE_TMP {
                    let _ = fs::remove_file(e.path());
                }
            } else if name.starts_with(PREFIX) && name.ends_with(SUFFIX) {
                bases.push((mtime, e.path()));
            }
        }
        bases.sort_by_key(|b| std::cmp::Reverse(b.0));
        for (_, p) in bases.into_iter().skip(keep) {
            let _ = fs::remove_file(p);
        }
    }
}

/// Whether the file ends with a newc trailer entry and its padding.
fn ends_with_trailer(f: &mut File) -> io::Result<bool> {
    // Header (110) + "TRAILER!!!\0" (11) padded to 124 bytes.
    const TAIL: u64 = 124;
    let len = f.metadata()?.len();
    if len < TAIL || len % 4 != 0 {
        return Ok(false);
    }
    f.seek(SeekFrom::Start(len - TAIL))?;
    let mut buf = [0u8; TAIL as usize];
    f.read_exact(&mut buf)?;
    Ok(buf.starts_with(b"070701") && &buf[110..121] == b"TRAILER!!!\0")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::initramfs::cpio::CpioWriter;

    fn fill_ok(w: &mut BufWriter<File>) -> Result<(), InitramfsError> {
        let mut c = CpioWriter::new(w);
        c.file("a", 0o644, b"hello")?;
        c.finish()?;
        Ok(())
    }

    #[test]
    fn store_get_and_evict() {
        let d = tempfile::tempdir().unwrap();
        let c = BaseCache::new(d.path());
        assert!(c.get("k1").is_none());
        let p = c.store("k1", fill_ok).unwrap();
        assert!(p.starts_with(d.path().join("initramfs")));
        assert!(c.get("k1").is_some());
        // A truncated entry is a miss.
        let len = fs::metadata(&p).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(len - 4)
            .unwrap();
        assert!(c.get("k1").is_none());
        // Failed fills leave nothing behind.
        let err = c.store("k2", |_| Err(InitramfsError::NoInit));
        assert!(err.is_err());
        assert!(!c.path_for("k2").exists());
        for i in 0..KEEP + 3 {
            c.store(&format!("e{i}"), fill_ok).unwrap();
        }
        let n = fs::read_dir(d.path().join("initramfs")).unwrap().count();
        assert_eq!(n, KEEP);
    }
}
