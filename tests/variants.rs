//! Hand-written variant inputs (tests/fixtures/variants/*.txt) against what a
//! human reads in them (tests/fixtures/variants/expectations.json).
//!
//! Every mismatching file is reported, not just the first.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

#[path = "fixtures/variants/support/expect.rs"]
mod expect;

fn variants_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/variants")
}

fn expectations() -> Vec<expect::FileExpect> {
    let path = variants_dir().join("expectations.json");
    let json = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    expect::load(&json).unwrap_or_else(|e| panic!("{}:\n{e}", path.display()))
}

/// Input files: every regular file of the directory except the expectations.
fn variant_files() -> BTreeSet<String> {
    let dir = variants_dir();
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry"))
        .filter(|entry| entry.file_type().map(|t| t.is_file()).unwrap_or(false))
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name != "expectations.json")
        .collect()
}

#[test]
fn expectations_are_well_formed_and_cover_every_variant() {
    let expects = expectations();
    let dups = expect::duplicates(&expects);
    assert!(
        dups.is_empty(),
        "listed twice in expectations.json: {dups:?}"
    );

    let listed: BTreeSet<String> = expects.iter().map(|e| e.file.clone()).collect();
    let files = variant_files();
    let unlisted: Vec<&String> = files.difference(&listed).collect();
    let missing: Vec<&String> = listed.difference(&files).collect();
    assert!(
        unlisted.is_empty(),
        "variant files without expectations: {unlisted:?}"
    );
    assert!(
        missing.is_empty(),
        "expectations for files that do not exist: {missing:?}"
    );
    assert!(files.len() >= 30, "only {} variant files", files.len());
}

#[test]
fn variant_fixtures_match_expectations() {
    let dir = variants_dir();
    let expects = expectations();
    let mut failures = Vec::new();
    for e in &expects {
        let path = dir.join(&e.file);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(err) => {
                failures.push(format!("{}: cannot read: {err}", e.file));
                continue;
            }
        };
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(err) => {
                failures.push(format!("{}: not UTF-8: {err}", e.file));
                continue;
            }
        };
        if let Some(f) = expect::check_text(&text, e) {
            failures.push(f);
        }
    }
    expect::assert_all("variant fixtures", expects.len(), &failures);
}
