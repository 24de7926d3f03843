//! Compiles the BPF programs with clang into `OUT_DIR/<name>.bpf.o` and
//! generates their libbpf-rs skeletons into `OUT_DIR/<name>.skel.rs`:
//! `src/bpf/demo.bpf.c` (the demo scheduler) and `src/bpf/probe.bpf.c` (the
//! guest agent's generic probe set).
//!
//! Needs clang 19 (`clang-19` in PATH, or the compiler named by `$CLANG`),
//! libelf and zlib development files, pkg-config and make: `scripts/deps.sh
//! test` installs them on Debian/Ubuntu.

use std::env;
use std::path::{Path, PathBuf};

use libbpf_cargo::SkeletonBuilder;

const SOURCES: [&str; 2] = ["demo", "probe"];

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let bpf_dir = manifest.join("src/bpf");
    // Debian ships clang versioned only; `$CLANG` picks another one.
    let clang = env::var("CLANG").unwrap_or_else(|_| "clang-19".to_owned());

    for name in SOURCES {
        build(name, &manifest, &out, &bpf_dir, &clang);
        println!("cargo:rerun-if-changed=src/bpf/{name}.bpf.c");
    }
    println!("cargo:rerun-if-changed=src/bpf/vmlinux.h");
    println!("cargo:rerun-if-env-changed=CLANG");
}

fn build(name: &str, manifest: &Path, out: &Path, bpf_dir: &Path, clang: &str) {
    SkeletonBuilder::new()
        .source(manifest.join(format!("src/bpf/{name}.bpf.c")))
        // Kept in OUT_DIR (the skeleton embeds a copy) for tests that read its BTF.
        .obj(out.join(format!("{name}.bpf.o")))
        .clang(clang)
        .clang_args([
            format!("-I{}", bpf_dir.display()),
            // The 7.3 kernel is built with -fms-extensions and its BTF embeds
            // tagged anonymous structs; without these flags clang drops them
            // and sizeof() of e.g. struct ns_common comes out wrong.
            "-fms-extensions".to_owned(),
            "-Wno-microsoft-anon-tag".to_owned(),
            // <asm/types.h> for anything that pulls in <linux/*.h>.
            "-I/usr/include/x86_64-linux-gnu".to_owned(),
            "-D__TARGET_ARCH_x86".to_owned(),
            // clang 19 defaults to BPF ISA v1, which has no atomic
            // fetch-and-add/cmpxchg with a result; v3 is what sched_ext
            // kernels (6.12+) support anyway.
            "-mcpu=v3".to_owned(),
        ])
        .build_and_generate(out.join(format!("{name}.skel.rs")))
        .unwrap_or_else(|e| {
            panic!("building src/bpf/{name}.bpf.c with `{clang}` failed (is clang 19 installed? `scripts/deps.sh test`, or set CLANG): {e:#}")
        });
}
