//! Kernel source lines from real DWARF: Debian's `-dbg` vmlinux of the
//! cached kernel (`scxray kernel fetch --debug-info`), and the cached
//! kernel's plain vmlinux, which has none. Skips without them (fails under
//! SCXRAY_REQUIRE_VM or CI, whose setup fetches them).

#[path = "support/kernel_cache.rs"]
mod kernel_cache;
#[path = "support/require.rs"]
mod require;

use std::path::PathBuf;

use scxray::symbolize::KernelLines;

/// `name` in the newest cached kernel's entry, if any.
fn cached(name: &str) -> Option<PathBuf> {
    kernel_cache::cached_kernel_files(name).pop()
}

#[test]
fn lines_of_the_debian_kernel() {
    let test = "lines_of_the_debian_kernel";
    let Some(debug) = cached("vmlinux.debug") else {
        require::skip(
            test,
            "no vmlinux.debug cached: run `scxray kernel fetch --debug-info`",
        );
        return;
    };
    let k = KernelLines::open(&debug).unwrap();
    let entry = k.line("scx_do_enqueue_task", None).expect("a line");
    // 7.3 keeps sched_ext in kernel/sched/ext/ext.c.
    assert!(entry.file.starts_with("kernel/sched/ext"), "{entry:?}");
    // A backtrace frame's offset is a return address: the call before it.
    let call = k.line("scx_do_enqueue_task", Some(0x310)).expect("a line");
    assert!(!call.file.starts_with('/') && call.line > 0, "{call:?}");
    assert_eq!(k.line("no_such_function_xyz", None), None);
}

#[test]
fn a_vmlinux_without_dwarf_says_how_to_get_it() {
    let test = "a_vmlinux_without_dwarf_says_how_to_get_it";
    let Some(plain) = cached("vmlinux") else {
        require::skip(test, "no kernel cached: run `scxray kernel fetch`");
        return;
    };
    let err = KernelLines::open(&plain).unwrap_err();
    assert!(err.to_string().contains("--debug-info"), "{err}");
}
