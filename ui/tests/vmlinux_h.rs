//! `scxray kernel vmlinux-h` (issue 14): the header of a cached kernel, and
//! a BPF file built against it with the flags README gives.

use std::path::Path;
use std::process::Command;

#[path = "../../tests/support/kernel_cache.rs"]
mod kernel_cache;
#[path = "../../tests/support/require.rs"]
mod require;

fn scxray(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_scxray"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn clang() -> Option<&'static str> {
    ["clang-19", "clang"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok())
}

#[test]
fn vmlinux_h_of_the_cached_kernel_builds_a_scheduler_file() {
    const T: &str = "vmlinux_h_of_the_cached_kernel_builds_a_scheduler_file";
    if kernel_cache::cached_kernel_files("btf").is_empty() {
        require::skip(T, "no cached kernel with BTF: run `scxray kernel fetch`");
        return;
    }
    let Some(clang) = clang() else {
        require::skip(T, "no clang: install clang-19");
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let o = scxray(&["kernel", "vmlinux-h", "-o", "vmlinux.h"], d.path());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("wrote vmlinux.h"), "{stderr}");
    let header = std::fs::read_to_string(d.path().join("vmlinux.h")).unwrap();
    assert!(
        header.starts_with("/* vmlinux.h of Linux "),
        "{}",
        &header[..200]
    );
    assert!(header.contains("struct sched_ext_ops {"));
    std::fs::write(
        d.path().join("t.bpf.c"),
        "#include \"vmlinux.h\"\n\
         int ops = sizeof(struct sched_ext_ops);\n\
         int exit_info = sizeof(struct scx_exit_info);\n",
    )
    .unwrap();
    let built = Command::new(clang)
        .current_dir(d.path())
        .args([
            "-target",
            "bpf",
            "-O2",
            "-fms-extensions",
            "-Wno-microsoft-anon-tag",
            "-c",
            "t.bpf.c",
            "-o",
            "t.bpf.o",
        ])
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    // An OS error is said once, not once per layer.
    let o = scxray(
        &["kernel", "vmlinux-h", "-o", "/nonexistent-dir/v.h"],
        d.path(),
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.matches("(os error 2)").count(), 1, "{stderr}");
    // Standard output, for `> vmlinux.h`, is the same header.
    let o = scxray(&["kernel", "vmlinux-h"], d.path());
    assert!(o.status.success());
    assert_eq!(o.stdout, header.as_bytes());
}

#[test]
fn vmlinux_h_of_an_unknown_kernel_names_what_is_cached() {
    let d = tempfile::tempdir().unwrap();
    let o = scxray(&["kernel", "vmlinux-h", "0.0-none"], d.path());
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("no cached kernel matches 0.0-none") && stderr.contains("cached: "),
        "{stderr}"
    );
    assert!(!d.path().join("vmlinux.h").exists());
}
