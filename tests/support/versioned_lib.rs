//! A shared library with symbol versions, built with the system C compiler,
//! standing in for libbpf (a scheduler built against libbpf 1.5 needs
//! `LIBBPF_1.5.0`). Included by path from the tests that check versions.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// Runs `cc ARGS` in `dir`; `Err` says why when there is no compiler, and a
/// failed compile panics with its output.
pub fn cc(dir: &Path, args: &[&str]) -> Result<(), String> {
    match Command::new("cc").current_dir(dir).args(args).output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => panic!("cc {args:?}: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => Err(format!("no C compiler (cc: {e}); install gcc")),
    }
}

/// Builds `libscxver.so.1` in `dir`, defining `versions` (function `f<i>`
/// in version `i`).
pub fn versioned_lib(dir: &Path, versions: &[&str]) -> Result<(), String> {
    std::fs::create_dir_all(dir).unwrap();
    let (mut script, mut code) = (String::new(), String::new());
    for (i, v) in versions.iter().enumerate() {
        let local = if i == 0 { "local: *;" } else { "" };
        script.push_str(&format!("{v} {{ global: f{i}; {local} }};\n"));
        code.push_str(&format!("int f{i}(void) {{ return {i}; }}\n"));
    }
    std::fs::write(dir.join("lib.c"), code).unwrap();
    std::fs::write(dir.join("lib.map"), script).unwrap();
    cc(
        dir,
        &[
            "-shared",
            "-fPIC",
            "-Wl,-soname,libscxver.so.1",
            "-Wl,--version-script=lib.map",
            "-o",
            "libscxver.so.1",
            "lib.c",
        ],
    )
}
