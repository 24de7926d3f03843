//! The filesystems a sched_ext test needs.

use std::ffi::CString;

/// (source, target, fstype) in mount order.
const MOUNTS: &[(&str, &str, &str)] = &[
    ("proc", "/proc", "proc"),
    ("sysfs", "/sys", "sysfs"),
    ("devtmpfs", "/dev", "devtmpfs"),
    ("tmpfs", "/tmp", "tmpfs"),
    ("tmpfs", "/run", "tmpfs"),
    ("debugfs", "/sys/kernel/debug", "debugfs"),
    ("tracefs", "/sys/kernel/tracing", "tracefs"),
    ("cgroup2", "/sys/fs/cgroup", "cgroup2"),
    ("bpf", "/sys/fs/bpf", "bpf"),
];

/// Mounts everything; returns what failed (a missing tracefs is worth a
/// warning, not an abort: the crash is still seen on the console).
pub fn mount_all() -> Vec<String> {
    let mut failed = Vec::new();
    for (src, target, fstype) in MOUNTS {
        let _ = std::fs::create_dir_all(target);
        // The initramfs packs files at their host paths: a scheduler's
        // libraries or `--include` files under /tmp or /run would vanish
        // under a fresh tmpfs. rootfs is writable already.
        if *fstype == "tmpfs" && has_entries(target) {
            continue;
        }
        let (s, t, f) = (
            CString::new(*src),
            CString::new(*target),
            CString::new(*fstype),
        );
        let (Ok(s), Ok(t), Ok(f)) = (s, t, f) else {
            continue;
        };
        // SAFETY: valid NUL-terminated strings; no data argument.
        let rc = unsafe { libc::mount(s.as_ptr(), t.as_ptr(), f.as_ptr(), 0, std::ptr::null()) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            // devtmpfs may already be mounted by the kernel (CONFIG_DEVTMPFS_MOUNT).
            if err.raw_os_error() != Some(libc::EBUSY) {
                failed.push(format!("{target} ({fstype}): {err}"));
            }
        }
    }
    failed
}

fn has_entries(dir: &str) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some())
}
