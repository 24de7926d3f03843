//! The kernel the VM tests boot, shared by `qemu.rs` and `kvm_linux.rs`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use scxray_vmm::kernel::{KernelCache, Resolver};

/// The test cache: `$SCXRAY_TEST_CACHE`, else `~/.cache/scxray-test`.
pub fn test_cache_root() -> Option<PathBuf> {
    let set = |n: &str| std::env::var_os(n).filter(|v| !v.is_empty());
    set("SCXRAY_TEST_CACHE")
        .map(PathBuf::from)
        .or_else(|| set("HOME").map(|h| Path::new(&h).join(".cache/scxray-test")))
}

/// The kernel scxray would resolve, else the newest in the test cache.
pub fn find_kernel() -> Option<PathBuf> {
    if let Ok(k) = Resolver::from_system(None).resolve() {
        return Some(k.image);
    }
    let cache = KernelCache::new(test_cache_root()?);
    cache.newest_sched_ext().ok().flatten().map(|k| k.image)
}
