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

/// Fixtures of forms older kernels, ktstr's predecessor and pasted excerpts
/// print (tests/fixtures/more-formats/), against their expectations; each
/// also survives writing it in ktstr's layout and parsing that again.
#[test]
fn more_format_fixtures_match_expectations() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/more-formats");
    let path = dir.join("expectations.json");
    let json = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let expects = expect::load(&json).unwrap_or_else(|e| panic!("{}:\n{e}", path.display()));
    let listed: BTreeSet<String> = expects.iter().map(|e| e.file.clone()).collect();
    let files: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            entry
                .expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name != "expectations.json")
        .collect();
    assert_eq!(listed, files, "files and expectations differ");
    let mut failures = Vec::new();
    for e in &expects {
        let text = std::fs::read_to_string(dir.join(&e.file))
            .unwrap_or_else(|err| panic!("{}: {err}", e.file));
        if let Some(f) = expect::check_text(&text, e) {
            failures.push(f);
        }
        let report = scxray::parse::parse_str(&text);
        let again = scxray::parse::parse_str(&scxray::write::to_ktstr(&report));
        if again != report {
            failures.push(format!("{}: not the same report after to_ktstr", e.file));
        }
    }
    expect::assert_all("more-format fixtures", expects.len(), &failures);
}

/// Item 17's crashes are read from the new enable-failure format (a field the
/// expectation files cannot name: it is not in their list of formats).
#[test]
fn enable_failures_are_read_from_their_own_format() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/more-formats");
    for name in [
        "enable-prep_enable-eexist-warn-splat-dmesg.txt",
        "enable-init_task-enomem-splat-scx_bpf_error-console.txt",
        "enable-init_task-journal-no-prefix-alone.txt",
    ] {
        let report = scxray::parse::parse_path(&dir.join(name)).expect(name);
        let crash = report.crash().expect(name);
        assert!(
            crash
                .formats
                .contains(&scxray::report::MessageFormat::KernelEnableFailed),
            "{name}: {:?}",
            crash.formats
        );
    }
}

/// Item 18: an AUTO-PROBE block printed straight into a log is the
/// auto-repro section, in ktstr's exact layout (nothing kept verbatim), and
/// the repro VM's tails stay in it.
#[test]
fn auto_probe_blocks_in_raw_logs_are_auto_repro_sections() {
    use scxray::report::SectionKind;
    use scxray::sections::auto_repro;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/more-formats");
    for (name, functions, tails) in [
        ("stt-fail-line-autoprobe-dmesg.txt", 3, 1),
        ("stt-scheduler-log-two-fails-autoprobe.txt", 2, 0),
    ] {
        let report = scxray::parse::parse_path(&dir.join(name)).expect(name);
        let body = &report
            .section(&SectionKind::AutoRepro)
            .unwrap_or_else(|| panic!("{name}: no auto-repro section"))
            .body;
        assert!(
            !report
                .sections
                .iter()
                .filter(|s| s.kind != SectionKind::AutoRepro)
                .any(|s| s.body.contains("AUTO-PROBE") || s.body.contains("repro VM")),
            "{name}: probe output left in the log"
        );
        let m = auto_repro::parse(body);
        assert_eq!(auto_repro::write(&m), **body, "{name}");
        assert_eq!(m.skipped, 0, "{name}: {m:#?}");
        assert!(
            !serde_json::to_string(&m).unwrap().contains("verbatim"),
            "{name}"
        );
        let probe = m.probe().unwrap_or_else(|| panic!("{name}: no AUTO-PROBE"));
        assert_eq!(probe.functions().count(), functions, "{name}");
        assert_eq!(m.tails().count(), tails, "{name}");
    }
}
