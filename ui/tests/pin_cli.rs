//! `scxray pin check` / `pin suggest` end to end: exit codes 0/1/2 and the
//! reasons printed, on the bundled example and on a real run's trace.

#[path = "../../tests/support/require.rs"]
mod require;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scxray(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scxray"))
        .args(args)
        .output()
        .expect("run scxray")
}

fn example() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/reports/crashfifo-7.3-ktstr.txt")
        .display()
        .to_string()
}

fn real_trace() -> Option<String> {
    let p = require::require_shared_fixtures("pin_cli")?.join("real-runs/rust-loader/trace.txt");
    Some(p.display().to_string())
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn check(args: &[&str], code: i32) -> String {
    let o = scxray(args);
    assert_eq!(
        o.status.code(),
        Some(code),
        "scxray {args:?}\nstdout:\n{}\nstderr:\n{}",
        out(&o),
        err(&o)
    );
    out(&o)
}

#[test]
fn matching_literal_passes_with_its_location() {
    let s = check(
        &[
            "pin",
            "check",
            "--contains",
            "apply_cell_config returned",
            &example(),
        ],
        0,
    );
    assert!(s.starts_with("PASS: ktstr would accept"), "{s}");
    assert!(s.contains("matched 3 times"), "{s}");
    assert!(s.contains("line 9, column 23, scheduler log"), "{s}");
}

#[test]
fn matching_regex_with_a_leading_dash_passes() {
    // Patterns starting with `-` (an errno) are values, not options.
    let s = check(
        &[
            "pin",
            "check",
            "--matches",
            r"-E[A-Z]+ \(enqueue #\d+",
            &example(),
        ],
        0,
    );
    assert!(s.contains("PASS"), "{s}");
}

#[test]
fn missing_literal_fails_with_ktstrs_text_and_the_prefix_hint() {
    let s = check(
        &[
            "pin",
            "check",
            "--contains",
            "apply_cell_config returned -ENOENT",
            &example(),
        ],
        1,
    );
    assert!(s.starts_with("FAIL: ktstr would reject"), "{s}");
    assert!(
        s.contains("substring not found in the scheduler log + sched_ext dump corpus"),
        "{s}"
    );
    assert!(
        s.contains("the longest leading part that matches is \"apply_cell_config returned -E\""),
        "{s}"
    );
}

#[test]
fn both_fields_are_anded() {
    let s = check(
        &[
            "pin",
            "check",
            "--contains",
            "apply_cell_config",
            "--matches",
            r"returned -ENOMEM",
            &example(),
        ],
        1,
    );
    assert!(s.contains("BOTH to match"), "{s}");
}

#[test]
fn invalid_pins_exit_2_and_say_why() {
    let s = check(
        &["pin", "check", "--matches", "returned (-E", &example()],
        2,
    );
    assert!(s.starts_with("INVALID"), "{s}");
    assert!(s.contains("unclosed group"), "{s}");
    assert!(s.contains("    returned (-E\n"), "{s}");
    assert!(s.contains("             ^"), "{s}");

    let s = check(&["pin", "check", "--matches", ".*", &example()], 2);
    assert!(s.contains("every position"), "{s}");
    let s = check(&["pin", "check", "--matches", "^$", &example()], 2);
    assert!(s.contains("only the empty string"), "{s}");
    let s = check(&["pin", "check", "--contains", "", &example()], 2);
    assert!(s.contains("literal must be non-empty"), "{s}");
    let s = check(&["pin", "check", &example()], 2);
    assert!(s.contains("no matcher set"), "{s}");
}

#[test]
fn unreadable_report_or_clean_file_exits_2() {
    let o = scxray(&["pin", "check", "--contains", "x", "/nonexistent/r.txt"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("no such file"), "{}", err(&o));
    let o = scxray(&[
        "pin",
        "check",
        "--contains",
        "x",
        "--clean",
        "/nonexistent/clean.log",
        &example(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains("--clean /nonexistent/clean.log"),
        "{}",
        err(&o)
    );
}

fn clean_log(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clean.log");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    (dir, path)
}

#[test]
fn a_pin_matching_a_clean_run_is_too_broad() {
    let (_dir, clean) = clean_log(
        "scxload-rs: opening embedded skeleton\nscxload-rs: sched_ext state -> enabled\n",
    );
    let clean = clean.display().to_string();
    let s = check(
        &[
            "pin",
            "check",
            "--contains",
            "sched_ext state",
            "--clean",
            &clean,
            &example(),
        ],
        1,
    );
    assert!(s.starts_with("TOO BROAD"), "{s}");
    assert!(s.contains(&clean), "{s}");
    let s = check(
        &[
            "pin",
            "check",
            "--contains",
            "apply_cell_config",
            "--clean",
            &clean,
            &example(),
        ],
        0,
    );
    assert!(s.contains("no matcher hits (good)"), "{s}");
}

#[test]
fn suggest_prints_validated_pins_and_a_test_block() {
    let s = check(&["pin", "suggest", &example()], 0);
    assert!(s.contains("expect_scx_bpf_error_contains = \""), "{s}");
    assert!(s.contains("#[ktstr_test("), "{s}");
    assert!(s.contains("scheduler = CRASHFIFO,"), "{s}");
    // Each suggested field passes `pin check` on the same report.
    let line = |key: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(str::to_string)
    };
    if let Some(c) = line("expect_scx_bpf_error_contains = ") {
        let c: String = serde_json::from_str(&c).expect("a quoted literal");
        check(&["pin", "check", "--contains", &c, &example()], 0);
    }
    if let Some(m) = line("expect_scx_bpf_error_matches = ") {
        check(&["pin", "check", "--matches", &m, &example()], 0);
    }
}

#[test]
fn suggest_without_a_crash_exits_1() {
    let (_dir, clean) = clean_log("scheduler started\nall good\n");
    let s = check(&["pin", "suggest", clean.to_str().unwrap()], 1);
    assert!(s.contains("no pin suggested"), "{s}");
}

#[test]
fn real_trace_check_and_suggest() {
    let Some(trace) = real_trace() else {
        return;
    };
    let o = scxray(&["pin", "suggest", &trace]);
    let code = o.status.code();
    let s = out(&o);
    assert!(matches!(code, Some(0 | 1)), "{s}{}", err(&o));
    if code == Some(1) {
        // A trace holds the dump only through ftrace lines; say why, do not guess.
        assert!(s.contains("no pin suggested"), "{s}");
        return;
    }
    let c = s
        .lines()
        .find_map(|l| l.strip_prefix("expect_scx_bpf_error_contains = "))
        .map(|c| serde_json::from_str::<String>(c).expect("quoted"));
    if let Some(c) = c {
        check(&["pin", "check", "--contains", &c, &trace], 0);
    }
    check(
        &[
            "pin",
            "check",
            "--contains",
            "zz-not-in-any-trace-zz",
            &trace,
        ],
        1,
    );
    check(&["pin", "check", "--matches", "(", &trace], 2);
}
