//! What the VM tests share: the `scxray` binary, why this machine cannot run
//! a guest (if it cannot), a private state directory, one guest at a time.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

/// TCG guests are CPU hungry: one at a time within a test binary.
static VM: Mutex<()> = Mutex::new(());

pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    VM.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_scxray"))
}

/// Why this machine cannot run VM tests, if it cannot.
pub fn missing() -> Option<String> {
    let dir = bin().parent().map(Path::to_path_buf).unwrap_or_default();
    if Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .is_err()
    {
        return Some(
            "qemu-system-x86_64 is not installed (scripts/deps.sh test installs it)".into(),
        );
    }
    for b in ["scxray-agent", "scx-demo"] {
        if !dir.join(b).is_file() {
            return Some(format!(
                "{b} is not built next to scxray (cargo build -p scxray-probes)"
            ));
        }
    }
    match scxray_vmm::kernel::KernelCache::from_env()
        .ok()
        .and_then(|c| c.newest_sched_ext().ok().flatten())
    {
        Some(_) => None,
        None => Some("no sched_ext kernel cached (run `scxray kernel fetch`)".into()),
    }
}

/// Whether the newest cached kernel has its DWARF (`scxray kernel fetch
/// --debug-info`): kernel functions then get their file:line.
pub fn kernel_debug_info() -> bool {
    scxray_vmm::kernel::KernelCache::from_env()
        .ok()
        .and_then(|c| c.newest_sched_ext().ok().flatten())
        .is_some_and(|k| k.debug_vmlinux.is_some())
}

pub fn state_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// `scxray ARGS` with its saved reports under `state`.
pub fn scxray(args: &[&str], state: &Path) -> Output {
    Command::new(bin())
        .args(args)
        .env("XDG_STATE_HOME", state)
        .output()
        .unwrap()
}

/// The reports saved under `state`, oldest first.
pub fn saved_reports(state: &Path) -> Vec<PathBuf> {
    let dir = state.join("scxray/runs");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(|e| Some(e.ok()?.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "txt"))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// QEMU processes of the scxray run with this pid (its shared memory and
/// sockets are named `scxray-<pid>-...`).
pub fn qemu_of(pid: u32) -> Vec<String> {
    let needle = format!("scxray-{pid}-");
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&needle) && c.contains("qemu"))
        .collect()
}

/// The failure dump of `kind` (the test run's or the repro VM's), parsed
/// back from its section; a missing one fails with the run's diagnostics,
/// which say why.
pub fn failure_dump(
    r: &scxray::report::Report,
    kind: scxray::report::SectionKind,
) -> scxray::failure_dump::FailureDump {
    let raw = r.section(&kind).unwrap_or_else(|| {
        panic!(
            "no {} section; diagnostics:\n{}",
            kind.name(),
            r.section(&scxray::report::SectionKind::Diagnostics)
                .map(|d| d.body.to_string())
                .unwrap_or_default()
        )
    });
    scxray::failure_dump::text::parse(&raw.body).unwrap_or_else(|e| panic!("{e}:\n{}", &*raw.body))
}
