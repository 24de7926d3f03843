//! Files of the kernels `scxray kernel fetch` cached (`$SCXRAY_CACHE_DIR`
//! or `~/.cache/scxray`), for tests that read real kernel data. Included by
//! path from every crate's tests, like `require.rs`.

#![allow(dead_code)]

use std::path::PathBuf;

/// `name` (`btf`, `vmlinux`, `vmlinux.debug`) in every cached kernel entry
/// that has it, oldest release first.
pub fn cached_kernel_files(name: &str) -> Vec<PathBuf> {
    let base = match std::env::var_os("SCXRAY_CACHE_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("HOME") {
            Some(home) => PathBuf::from(home).join(".cache/scxray"),
            None => return Vec::new(),
        },
    };
    let Ok(dir) = std::fs::read_dir(base.join("kernels")) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = dir
        .flatten()
        .map(|e| e.path().join(name))
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}
