//! One rule for tests that need something outside the repository (QEMU and a
//! sched_ext kernel, the shared fixtures, root, a mirror): where it is
//! missing, a developer's `cargo test` prints one `skipped: <test>: <reason>`
//! line on stderr and passes; under `SCXRAY_REQUIRE_VM` or `CI` the test
//! fails instead, so a CI run can never pass by skipping.
//!
//! Included by path from every crate's tests
//! (`#[path = "../../tests/support/require.rs"] mod require;`), so the wording
//! and the rule live in one place.

#![allow(dead_code)]

use std::path::PathBuf;

/// Whether a missing piece fails the test rather than skipping it.
pub fn strict() -> bool {
    ["SCXRAY_REQUIRE_VM", "CI"].iter().any(|name| {
        std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0" && v != "false")
    })
}

/// Skips `test` for `reason` (prints one line), or fails it under
/// [`strict`]. Returns false so callers can write
/// `if !require::ok(test, missing()) { return; }`.
pub fn skip(test: &str, reason: &str) -> bool {
    if strict() {
        panic!("{test}: {reason} (SCXRAY_REQUIRE_VM or CI is set: this test must run)");
    }
    eprintln!("skipped: {test}: {reason}");
    false
}

/// True when nothing is missing; otherwise [`skip`]s with the reason.
pub fn ok(test: &str, missing: Option<String>) -> bool {
    match missing {
        None => true,
        Some(reason) => skip(test, &reason),
    }
}

/// The VM tests' gate: `missing` says what is absent (QEMU, a kernel, the
/// guest binaries), or `None` when a VM can run.
pub fn require_vm(test: &str, missing: Option<String>) -> bool {
    ok(test, missing)
}

/// `../shared/fixtures` beside the repository, or a skip (a failure under
/// [`strict`]) naming where it was looked for.
pub fn require_shared_fixtures(test: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // The core crate is the workspace root; the others sit one level down.
    let candidates = [
        dir.join("../shared/fixtures"),
        dir.join("../../shared/fixtures"),
    ];
    if let Some(found) = candidates.iter().find(|p| p.is_dir()) {
        return Some(found.clone());
    }
    skip(
        test,
        &format!(
            "the shared fixtures are not at {} (clone the project beside its shared/ folder)",
            candidates[0].display()
        ),
    );
    None
}

/// Skips `test` even under [`strict`]: for what no setup script can provide on
/// this machine (real KVM behind a nested hypervisor that cannot run Linux).
/// The reason must say so.
pub fn not_on_this_machine(test: &str, reason: &str) -> bool {
    eprintln!("skipped: {test}: {reason}");
    false
}
