//! The real failure texts in `../shared/fixtures` (eight public reports and the
//! captures of real crashing runs) against what a human reads in them.
//!
//! The fixtures are read at run time; without `../shared` the tests print one
//! `skipped:` line each and pass, or fail under CI or `SCXRAY_REQUIRE_VM`.
//! The expectations are data, in `tests/fixtures/real-expectations.json`.
//! Every mismatching file is reported, not just the first.
//! The first line of each public fixture (`# source: <url>`) was added when
//! the text was collected; it is removed before parsing.

use std::collections::BTreeSet;
use std::path::PathBuf;

#[path = "fixtures/variants/support/expect.rs"]
mod expect;
#[path = "support/require.rs"]
mod require;

/// Expectations, `file` relative to `../shared/fixtures`. Same fields as
/// `tests/fixtures/variants/expectations.json`.
const EXPECTATIONS: &str = include_str!("fixtures/real-expectations.json");

/// Captures of real runs that must have expectations (where present).
const RUN_CAPTURES: [&str; 4] = [
    "dmesg.txt",
    "trace.txt",
    "loader.stdout",
    "console.host-timestamped.log",
];

/// `../shared/fixtures`, or `None` after one `skipped:` line (a failure under
/// CI or `SCXRAY_REQUIRE_VM`: a CI run must not pass by skipping).
fn shared_fixtures(test: &str) -> Option<PathBuf> {
    require::require_shared_fixtures(&format!("real_fixtures::{test}"))
}

fn expectations() -> Vec<expect::FileExpect> {
    expect::load(EXPECTATIONS)
        .unwrap_or_else(|e| panic!("tests/fixtures/real-expectations.json:\n{e}"))
}

/// Drops the collector's `# source: ...` first line.
fn strip_source_line(text: &str) -> &str {
    if text.starts_with("# source:") {
        text.split_once('\n').map_or("", |(_, rest)| rest)
    } else {
        text
    }
}

fn listed() -> BTreeSet<String> {
    expectations().into_iter().map(|e| e.file).collect()
}

#[test]
fn expectations_are_well_formed() {
    let expects = expectations();
    let dups = expect::duplicates(&expects);
    assert!(dups.is_empty(), "listed twice: {dups:?}");
}

#[test]
fn every_public_fixture_has_expectations() {
    let Some(root) = shared_fixtures("every_public_fixture_has_expectations") else {
        return;
    };
    let listed = listed();
    let dir = root.join("public");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let name = entry
            .expect("directory entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        let rel = format!("public/{name}");
        if !listed.contains(&rel) {
            missing.push(rel);
        }
    }
    assert!(
        missing.is_empty(),
        "public fixtures without expectations: {missing:?}"
    );
}

#[test]
fn every_real_run_capture_has_expectations() {
    let Some(root) = shared_fixtures("every_real_run_capture_has_expectations") else {
        return;
    };
    let listed = listed();
    let dir = root.join("real-runs");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let entry = entry.expect("directory entry");
        if !entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            continue;
        }
        let run = entry.file_name().to_string_lossy().into_owned();
        for capture in RUN_CAPTURES {
            let rel = format!("real-runs/{run}/{capture}");
            if root.join(&rel).is_file() && !listed.contains(&rel) {
                missing.push(rel);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "real-run captures without expectations: {missing:?}"
    );
}

#[test]
fn real_fixtures_match_expectations() {
    let Some(root) = shared_fixtures("real_fixtures_match_expectations") else {
        return;
    };
    let expects = expectations();
    let mut failures = Vec::new();
    let mut checked = 0;
    for e in &expects {
        let path = root.join(&e.file);
        if !path.is_file() {
            eprintln!("skipping {}: not present in ../shared/fixtures", e.file);
            continue;
        }
        checked += 1;
        let text = match std::fs::read(&path).map(String::from_utf8) {
            Ok(Ok(t)) => t,
            Ok(Err(err)) => {
                failures.push(format!("{}: not UTF-8: {err}", e.file));
                continue;
            }
            Err(err) => {
                failures.push(format!("{}: cannot read: {err}", e.file));
                continue;
            }
        };
        if let Some(f) = expect::check_text(strip_source_line(&text), e) {
            failures.push(f);
        }
    }
    assert!(
        checked > 0,
        "none of the listed fixtures exists under {}",
        root.display()
    );
    expect::assert_all("real fixtures", checked, &failures);
}
