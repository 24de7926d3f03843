//! Exported `#[ktstr_test]` code must compile and hand rustc back the exact
//! pattern bytes: builds a throwaway crate against the stub attribute in
//! tests/ktstr-stub and compares what the compiled program prints.

#[path = "support/require.rs"]
mod require;

use std::path::{Path, PathBuf};
use std::process::Command;

use scxray::matcher::{render_test, ExportSpec};

/// Patterns chosen to break naive escaping.
const NASTY: &[(Option<&str>, Option<&str>)] = &[
    (
        Some("apply_cell_config"),
        Some(r"apply_cell_config returned -E[A-Z]+"),
    ),
    (Some(r#"say "hi""#), Some(r#"say "hi""#)),
    (Some(r"back\slash \\ \d"), Some(r"back\\slash \d+ \\")),
    (Some(r##"a"#b"##), Some(r##"a"#b"##)),
    (Some(r###"x"##y"#z"###), Some(r###"x"##y"#z"###)),
    (Some("ends with quote\""), Some("ends with \"#")),
    (
        Some("état ☃ 日本 \u{1F980}"),
        Some(r"état\s☃ 日本 \u{1F980}"),
    ),
    (Some("two\nlines\tand tab"), Some("(?s)two\nlines\t.*")),
    (Some("cr\r\nlf"), Some("cr\r\nlf")),
    (
        Some("nul\0 esc\u{1b}[0m zw\u{200B} bidi\u{202E}x"),
        Some("bidi\u{202E}x"),
    ),
    (None, Some(r"(?m)^\S+\[\d+\] triggered exit kind \d+:$")),
    (Some("only a literal {braces} #{}"), None),
];

fn cargo() -> Option<PathBuf> {
    let cargo = std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from);
    let ok = Command::new(&cargo)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(cargo)
}

fn stub_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ktstr-stub")
}

fn write_crate(dir: &Path, name: &str, main: &str) {
    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
         [dependencies]\nktstr-stub = {{ path = {:?} }}\n\n[workspace]\n",
        stub_dir().display().to_string()
    );
    std::fs::create_dir_all(dir.join("src")).expect("crate dir");
    std::fs::write(dir.join("Cargo.toml"), manifest).expect("Cargo.toml");
    std::fs::write(dir.join("src/main.rs"), main).expect("main.rs");
}

const PRELUDE: &str = "#![allow(dead_code, unused_variables)]\n\
    use ktstr_stub::ktstr_test;\n\
    pub struct Ctx;\n\
    pub struct AssertResult;\n\
    impl AssertResult { pub fn pass() -> AssertResult { AssertResult } }\n\
    pub type Result<T> = std::result::Result<T, String>;\n\
    const MITOSIS: &str = \"mitosis\";\n\n";

fn run_cargo(cargo: &Path, dir: &Path, target: &Path, args: &[&str]) -> std::process::Output {
    Command::new(cargo)
        .args(args)
        .args(["--offline", "--quiet"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("RUSTFLAGS")
        .output()
        .expect("run cargo")
}

/// Reads `<case> <key> <len>:<value>\n` records.
fn parse_records(mut out: &[u8]) -> Vec<(usize, String, String)> {
    let mut records = Vec::new();
    while !out.is_empty() {
        let colon = out.iter().position(|&b| b == b':').expect("record header");
        let header = std::str::from_utf8(&out[..colon]).expect("utf8 header");
        let mut parts = header.split(' ');
        let case: usize = parts.next().and_then(|s| s.parse().ok()).expect("case");
        let key = parts.next().expect("key").to_string();
        let len: usize = parts.next().and_then(|s| s.parse().ok()).expect("len");
        let value = &out[colon + 1..colon + 1 + len];
        records.push((
            case,
            key,
            String::from_utf8(value.to_vec()).expect("utf8 value"),
        ));
        out = &out[colon + 1 + len + 1..];
    }
    records
}

#[test]
fn exported_tests_compile_and_round_trip() {
    let Some(cargo) = cargo() else {
        require::skip(
            "exported_tests_compile_and_round_trip",
            "cargo is not on PATH",
        );
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let target = tmp.path().join("target");

    let mut main = PRELUDE.to_string();
    let mut printer = String::from(
        "fn main() {\n    use std::io::Write;\n    let mut out = std::io::stdout().lock();\n",
    );
    for (i, (contains, matches)) in NASTY.iter().enumerate() {
        let name = format!("case_{i}_regression");
        let code = render_test(&ExportSpec {
            test_name: name.clone(),
            scheduler: "MITOSIS".into(),
            contains: contains.map(Into::into),
            matches: matches.map(Into::into),
            matches_const: None,
            // Every other case carries a topology: its keys must compile too.
            topology: (i % 2 == 0).then(|| "2n4l3c2t".parse().unwrap()),
        })
        .unwrap_or_else(|e| panic!("case {i}: {e}"));
        main.push_str(&code);
        main.push('\n');
        printer.push_str(&format!(
            "    for (k, v) in {}_KTSTR_ATTRS {{\n        write!(out, \"{i} {{k}} {{}}:\", v.len()).unwrap();\n        out.write_all(v.as_bytes()).unwrap();\n        out.write_all(b\"\\n\").unwrap();\n    }}\n",
            name.to_uppercase()
        ));
    }
    printer.push_str("}\n");
    main.push_str(&printer);

    let dir = tmp.path().join("exported");
    write_crate(&dir, "exported", &main);
    let out = run_cargo(&cargo, &dir, &target, &["run"]);
    assert!(
        out.status.success(),
        "exported code does not build:\n{}\n--- main.rs ---\n{main}",
        String::from_utf8_lossy(&out.stderr)
    );

    let records = parse_records(&out.stdout);
    for (i, (contains, matches)) in NASTY.iter().enumerate() {
        let get = |key: &str| {
            records
                .iter()
                .find(|(c, k, _)| *c == i && k == key)
                .map(|(_, _, v)| v.as_str())
        };
        assert_eq!(
            get("expect_scx_bpf_error_contains"),
            *contains,
            "case {i} contains"
        );
        assert_eq!(
            get("expect_scx_bpf_error_matches"),
            *matches,
            "case {i} matches"
        );
        assert_eq!(get("expect_err"), Some("true"), "case {i}");
        assert_eq!(get("scheduler"), Some("MITOSIS"), "case {i}");
        let topology = [get("numa_nodes"), get("llcs"), get("cores"), get("threads")];
        let want = if i % 2 == 0 {
            [Some("2"), Some("4"), Some("3"), Some("2")]
        } else {
            [None; 4]
        };
        assert_eq!(topology, want, "case {i} topology");
    }

    // The stub rejects what ktstr rejects, so it would catch a bad export.
    let bad = format!(
        "{PRELUDE}#[ktstr_test(scheduler = MITOSIS, expect_errr = true)]\nfn t(ctx: &Ctx) -> Result<AssertResult> {{ Ok(AssertResult::pass()) }}\nfn main() {{}}\n"
    );
    let bad_dir = tmp.path().join("bad");
    write_crate(&bad_dir, "bad", &bad);
    let out = run_cargo(&cargo, &bad_dir, &target, &["build"]);
    assert!(!out.status.success(), "unknown key accepted");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown ktstr_test key `expect_errr`"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
