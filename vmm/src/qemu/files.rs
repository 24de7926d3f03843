//! The files a run creates, each owned by a guard that removes it on every
//! path out (return, error, panic unwinding, Ctrl-C):
//! - a private run directory `$TMPDIR/scxray-run-<pid>-XXXXXX` (mode 0700)
//!   holding the record socket and, when several archives are given, the
//!   concatenated initrd;
//! - guest RAM, `/dev/shm/scxray-<pid>-<n>`.
//!
//! When scxray itself is SIGKILLed no guard runs: QEMU dies with it
//! (parent-death signal) but these files stay. The next run's
//! [`sweep_stale`] removes those whose `<pid>` is no longer alive.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::backend::{MemoryInfo, RamFile, VmError};

use crate::layout::low_mem_end;

/// Where guest RAM files go: tmpfs, so "the file" is memory, not disk.
pub const SHM_DIR: &str = "/dev/shm";
const SHM_PREFIX: &str = "scxray-";
const RUN_DIR_PREFIX: &str = "scxray-run-";
/// `sockaddr_un.sun_path` holds 108 bytes with the NUL.
const MAX_SOCKET_PATH: usize = 107;

static NEXT_SHM: AtomicU64 = AtomicU64::new(0);

/// The private directory of one run.
#[derive(Debug)]
pub struct RunDir {
    dir: tempfile::TempDir,
}

impl RunDir {
    /// Creates `<parent>/scxray-run-<pid>-XXXXXX`.
    pub fn create(parent: &Path) -> Result<RunDir, VmError> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{RUN_DIR_PREFIX}{}-", std::process::id()))
            .tempdir_in(parent)
            .map_err(VmError::io("creating the run directory in", parent))?;
        Ok(RunDir { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A fresh path for a unix socket, checked against the length limit.
    pub fn socket_path(&self, name: &str) -> Result<PathBuf, VmError> {
        let path = self.dir.path().join(name);
        if path.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(VmError::SocketPathTooLong { path });
        }
        // A socket left by an earlier attempt of this run.
        let _ = fs::remove_file(&path);
        Ok(path)
    }

    /// The initrd to pass to QEMU: the only archive itself, or all of them
    /// concatenated (each padded to 4 bytes, as the kernel expects of the
    /// next archive's start) into a file of this directory.
    pub fn initrd(&self, parts: &[PathBuf]) -> Result<PathBuf, VmError> {
        for p in parts {
            File::open(p).map_err(VmError::io("cannot read the initramfs", p))?;
        }
        if let [only] = parts {
            return Ok(only.clone());
        }
        let path = self.dir.path().join("initrd.cpio");
        let mut out = File::create(&path).map_err(VmError::io("cannot create", &path))?;
        for p in parts {
            let mut input = File::open(p).map_err(VmError::io("cannot read the initramfs", p))?;
            let n = io::copy(&mut input, &mut out)
                .map_err(VmError::io("cannot copy the initramfs", p))?;
            let pad = (4 - n % 4) % 4;
            out.write_all(&[0; 3][..pad as usize])
                .map_err(VmError::io("cannot write", &path))?;
        }
        Ok(path)
    }
}

/// Guest RAM as files in [`SHM_DIR`], one per NUMA node; removed on drop.
#[derive(Debug)]
pub struct ShmFile {
    info: MemoryInfo,
}

/// MiB of RAM for each of `nodes` nodes: equal 8 MiB multiples, the last
/// node taking what is left.
pub fn node_mib(memory_mib: u32, nodes: u32) -> Vec<u32> {
    let nodes = nodes.max(1);
    let each = memory_mib / nodes / 8 * 8;
    let mut out = vec![each; nodes as usize];
    if let Some(last) = out.last_mut() {
        *last = memory_mib - each * (nodes - 1);
    }
    out
}

impl ShmFile {
    /// Creates the (empty) files QEMU will size and map, one per node.
    /// Created here, with O_EXCL and mode 0600, so that nobody can plant a
    /// symlink at the predictable name for QEMU to follow. `Ok(Err(_))`
    /// with a reason when /dev/shm cannot hold the guest's RAM: the run
    /// goes on unshared.
    pub fn create(memory_mib: u32, nodes: u32) -> Result<Result<ShmFile, String>, VmError> {
        Self::create_in(Path::new(SHM_DIR), memory_mib, nodes)
    }

    fn create_in(
        dir: &Path,
        memory_mib: u32,
        nodes: u32,
    ) -> Result<Result<ShmFile, String>, VmError> {
        let size = u64::from(memory_mib) << 20;
        match free_bytes(dir) {
            Ok(free) if free >= size => {}
            Ok(free) => {
                return Ok(Err(format!(
                    "guest RAM not shared: {} has {} MiB free, the guest needs {memory_mib} MiB",
                    dir.display(),
                    free >> 20
                )))
            }
            Err(e) => return Ok(Err(format!("guest RAM not shared: {}: {e}", dir.display()))),
        }
        // Made before a failure can return, so that drop removes them.
        let mut shm = ShmFile {
            info: MemoryInfo {
                files: Vec::new(),
                size,
                low_end: low_mem_end(size),
            },
        };
        for mib in node_mib(memory_mib, nodes) {
            let path = Self::create_one(dir)?;
            shm.info.files.push(RamFile {
                path,
                len: u64::from(mib) << 20,
            });
        }
        Ok(Ok(shm))
    }

    fn create_one(dir: &Path) -> Result<PathBuf, VmError> {
        loop {
            let n = NEXT_SHM.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!("{SHM_PREFIX}{}-{n}", std::process::id()));
            let created = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path);
            match created {
                Ok(_) => return Ok(path),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(VmError::io("cannot create guest RAM file", &path)(e)),
            }
        }
    }

    pub fn info(&self) -> &MemoryInfo {
        &self.info
    }
}

impl Drop for ShmFile {
    fn drop(&mut self) {
        for f in &self.info.files {
            let _ = fs::remove_file(&f.path);
        }
    }
}

fn free_bytes(dir: &Path) -> io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL"))?;
    // SAFETY: statvfs fills the zeroed struct from a NUL-terminated path.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.f_bavail as u64 * st.f_frsize as u64)
}

/// Whether process `pid` is alive: it exists (EPERM: as another user's)
/// and is not a zombie (an unreaped dead parent keeps its pid, and
/// containers often have no init reaping). A pid reused by another process
/// keeps the files until that one ends too.
fn alive(pid: u32) -> bool {
    let Ok(raw) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks for existence.
    let exists = unsafe {
        libc::kill(raw, 0) == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    };
    exists && !zombie(pid)
}

fn zombie(pid: u32) -> bool {
    // `pid (comm) S ...`: the state follows the last `)`.
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// `<pid>` of `<prefix><pid>-<rest>`, when `rest` passes `rest_ok`.
fn owner(name: &str, prefix: &str, rest_ok: impl Fn(&str) -> bool) -> Option<u32> {
    let (pid, rest) = name.strip_prefix(prefix)?.split_once('-')?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) || !rest_ok(rest) {
        return None;
    }
    pid.parse().ok()
}

fn shm_owner(name: &str) -> Option<u32> {
    owner(name, SHM_PREFIX, |n| {
        !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
    })
}

fn run_dir_owner(name: &str) -> Option<u32> {
    owner(name, RUN_DIR_PREFIX, |r| !r.is_empty())
}

/// Removes guest RAM files and run directories left by scxray processes
/// that no longer exist (killed with SIGKILL); returns what was removed.
pub fn sweep_stale() -> Vec<PathBuf> {
    sweep_in(Path::new(SHM_DIR), &std::env::temp_dir(), alive)
}

fn sweep_in(shm: &Path, tmp: &Path, alive: impl Fn(u32) -> bool) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let entries = |dir: &Path| {
        fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| Some((e.file_name().to_str()?.to_owned(), e.path())))
            .collect::<Vec<_>>()
    };
    for (name, path) in entries(shm) {
        if shm_owner(&name).is_some_and(|pid| !alive(pid)) && fs::remove_file(&path).is_ok() {
            removed.push(path);
        }
    }
    for (name, path) in entries(tmp) {
        let stale = run_dir_owner(&name).is_some_and(|pid| !alive(pid));
        // symlink_metadata: never follow a planted link out of the temp dir.
        if stale
            && fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir())
            && fs::remove_dir_all(&path).is_ok()
        {
            removed.push(path);
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_parsed_strictly() {
        assert_eq!(shm_owner("scxray-123-4"), Some(123));
        assert_eq!(shm_owner("scxray-123-"), None);
        assert_eq!(shm_owner("scxray-x-4"), None);
        assert_eq!(shm_owner("scxray-12-4a"), None);
        assert_eq!(shm_owner("scxray-run-12-abc"), None);
        assert_eq!(run_dir_owner("scxray-run-12-aBc123"), Some(12));
        assert_eq!(run_dir_owner("scxray-run-12"), None);
    }

    #[test]
    fn zombies_are_dead() {
        assert!(alive(std::process::id()));
        let mut child = std::process::Command::new("/bin/true").spawn().unwrap();
        let pid = child.id();
        // Exited but not reaped yet: a zombie.
        let t = std::time::Instant::now();
        while !zombie(pid) && t.elapsed() < std::time::Duration::from_secs(5) {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(!alive(pid));
        child.wait().unwrap();
        assert!(!alive(pid));
    }

    #[test]
    fn sweep_removes_only_dead_owners() {
        let shm = tempfile::tempdir().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        for name in ["scxray-10-0", "scxray-20-1", "other-10-0", "scxray-10-x"] {
            fs::write(shm.path().join(name), b"").unwrap();
        }
        for name in ["scxray-run-10-abc", "scxray-run-20-def"] {
            fs::create_dir(tmp.path().join(name)).unwrap();
            fs::write(tmp.path().join(name).join("rec.sock"), b"").unwrap();
        }
        let removed = sweep_in(shm.path(), tmp.path(), |pid| pid == 20);
        assert_eq!(removed.len(), 2, "{removed:?}");
        assert!(!shm.path().join("scxray-10-0").exists());
        assert!(shm.path().join("scxray-20-1").exists());
        assert!(shm.path().join("other-10-0").exists());
        assert!(shm.path().join("scxray-10-x").exists());
        assert!(!tmp.path().join("scxray-run-10-abc").exists());
        assert!(tmp.path().join("scxray-run-20-def").exists());
    }

    #[test]
    fn run_dir_and_shm_file_are_removed_on_drop() {
        let parent = tempfile::tempdir().unwrap();
        let rd = RunDir::create(parent.path()).unwrap();
        let name = rd.path().file_name().unwrap().to_str().unwrap().to_owned();
        assert_eq!(run_dir_owner(&name), Some(std::process::id()));
        let sock = rd.socket_path("rec.sock").unwrap();
        fs::write(&sock, b"").unwrap();
        drop(rd);
        assert_eq!(fs::read_dir(parent.path()).unwrap().count(), 0);

        let shm = tempfile::tempdir().unwrap();
        let f = ShmFile::create_in(shm.path(), 128, 1).unwrap().unwrap();
        let path = f.info().path().to_path_buf();
        assert!(path.exists());
        assert_eq!(f.info().size, 128 << 20);
        drop(f);
        assert!(!path.exists());
        // One file per NUMA node, each as long as its node's RAM.
        let f = ShmFile::create_in(shm.path(), 100, 3).unwrap().unwrap();
        let lens: Vec<u64> = f.info().files.iter().map(|r| r.len >> 20).collect();
        assert_eq!(lens, [32, 32, 36]);
        let paths: Vec<PathBuf> = f.info().files.iter().map(|r| r.path.clone()).collect();
        assert!(paths.iter().all(|p| p.exists()));
        drop(f);
        assert!(paths.iter().all(|p| !p.exists()));
    }

    #[test]
    fn several_archives_are_concatenated_with_padding() {
        let parent = tempfile::tempdir().unwrap();
        let rd = RunDir::create(parent.path()).unwrap();
        let a = parent.path().join("a");
        let b = parent.path().join("b");
        fs::write(&a, b"12345").unwrap();
        fs::write(&b, b"678").unwrap();
        assert_eq!(rd.initrd(std::slice::from_ref(&a)).unwrap(), a);
        let both = rd.initrd(&[a, b]).unwrap();
        assert_eq!(fs::read(both).unwrap(), b"12345\x00\x00\x00678\x00");
        let missing = rd
            .initrd(&[parent.path().join("nope")])
            .unwrap_err()
            .to_string();
        assert!(missing.contains("nope"), "{missing}");
    }

    #[test]
    fn too_long_socket_path_is_refused() {
        let parent = tempfile::tempdir().unwrap();
        let rd = RunDir::create(parent.path()).unwrap();
        let e = rd.socket_path(&"s".repeat(120)).unwrap_err();
        assert!(matches!(e, VmError::SocketPathTooLong { .. }));
    }

    #[test]
    fn no_room_means_unshared_with_a_reason() {
        let shm = tempfile::tempdir().unwrap();
        let r = ShmFile::create_in(shm.path(), 60 * 1024, 1).unwrap();
        // A host with 60 GiB free in its temp dir would share: both fine.
        if let Err(why) = r {
            assert!(why.contains("MiB free"), "{why}");
        }
    }
}
