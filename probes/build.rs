//! Compiles `src/bpf/demo.bpf.c` with clang into `OUT_DIR/demo.bpf.o` and
//! generates its libbpf-rs skeleton into `OUT_DIR/demo.skel.rs`.
//!
//! Needs clang 19 (`clang-19` in PATH, or the compiler named by `$CLANG`),
//! libelf and zlib development files, pkg-config and make: `scripts/deps.sh
//! test` installs them on Debian/Ubuntu.

use std::env;
use std::path::PathBuf;

use libbpf_cargo::SkeletonBuilder;

const SRC: &str = "src/bpf/demo.bpf.c";

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let bpf_dir = manifest.join("src/bpf");
    // Debian ships clang versioned only; `$CLANG` picks another one.
    let clang = env::var("CLANG").unwrap_or_else(|_| "clang-19".to_owned());

    SkeletonBuilder::new()
        .source(manifest.join(SRC))
        // Kept in OUT_DIR (the skeleton embeds a copy) for tests that read its BTF.
        .obj(out.join("demo.bpf.o"))
        .clang(&clang)
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
        .build_and_generate(out.join("demo.skel.rs"))
        .unwrap_or_else(|e| {
            panic!("building the demo BPF scheduler with `{clang}` failed (is clang 19 installed? `scripts/deps.sh test`, or set CLANG): {e:#}")
        });

    println!("cargo:rerun-if-changed={SRC}");
    println!("cargo:rerun-if-changed=src/bpf/vmlinux.h");
    println!("cargo:rerun-if-env-changed=CLANG");
}
