//! The own KVM VMM booting the real sched_ext kernel with the test guest
//! as /init, through the same `Backend` as QEMU.
//!
//! Which test runs depends on the host's KVM, told by QEMU's KVM probe
//! boot of this very kernel (`qemu::kvm`, cached):
//! - KVM runs Linux (users' machines): the guest must say hello and power
//!   off through ACPI, in time; the boot is compared with QEMU+KVM.
//! - /dev/kvm runs only tiny guests (this project's nested KVM): the boot
//!   must fail cleanly, naming the VMM's error, within its deadline, with
//!   no vCPU thread left behind.
//!
//! Where neither can be told (no QEMU, no kernel) the tests skip, failing
//! under `SCXRAY_REQUIRE_VM`/`CI` as every VM test does. Where /dev/kvm
//! cannot run Linux, `kvm_nested.rs` still boots it on the own VMM, on a
//! KVM inside QEMU's TCG.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use scxray::run::record::Record;
use scxray_vmm::backend::{Accel, Backend, ExitHow, GuestEvent, GuestExit, GuestSpec};
use scxray_vmm::cancel::Cancel;
use scxray_vmm::choose::{AnyBackend, Fallback};
use scxray_vmm::initramfs::InitramfsBuilder;
use scxray_vmm::kvm::KvmBackend;
use scxray_vmm::qemu::QemuBackend;

#[path = "common/kernel.rs"]
mod kernel;
#[path = "../../tests/support/require.rs"]
mod require;
use kernel::{find_kernel, test_cache_root};

static VM: Mutex<()> = Mutex::new(());

struct Env {
    _lock: MutexGuard<'static, ()>,
    kernel: PathBuf,
    initrd: PathBuf,
    runs: PathBuf,
    /// What QEMU's probe said about this host's KVM and this kernel.
    kvm_runs_linux: bool,
    cache: PathBuf,
    probe_why: String,
    _dir: tempfile::TempDir,
}

fn env(test: &str) -> Option<Env> {
    let lock = VM.lock().unwrap_or_else(|e| e.into_inner());
    if let Err(why) = scxray_vmm::kvm::can_run_real_mode_guests() {
        require::require_vm(test, Some(format!("/dev/kvm cannot run guests: {why}")));
        return None;
    }
    let Some(kernel) = find_kernel() else {
        require::require_vm(
            test,
            Some("no sched_ext kernel: run `scxray kernel fetch` first".into()),
        );
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = test_cache_root().unwrap_or_else(|| dir.path().join("cache"));
    let probe = QemuBackend::from_env()
        .unwrap()
        .cache_dir(Some(cache.clone()))
        .resolve_accel(&kernel, &Cancel::new());
    let probe = match probe {
        Ok(p) => p,
        Err(e) => {
            require::require_vm(
                test,
                Some(format!("cannot tell whether KVM runs Linux here: {e}")),
            );
            return None;
        }
    };
    let initrd = dir.path().join("initrd.cpio");
    InitramfsBuilder::new()
        .init(env!("CARGO_BIN_EXE_scxray-test-guest"))
        .build_file(&initrd)
        .unwrap();
    let runs = dir.path().join("runs");
    std::fs::create_dir(&runs).unwrap();
    Some(Env {
        _lock: lock,
        kernel,
        initrd,
        runs,
        kvm_runs_linux: probe.accel == Accel::Kvm,
        cache,
        probe_why: probe.why,
        _dir: dir,
    })
}

impl Env {
    fn spec(&self, mode: &str, deadline: Duration) -> GuestSpec {
        let mut s = GuestSpec::new(&self.kernel, &self.initrd);
        s.cmdline = format!("scxray_test={mode}");
        s.memory_mib = 512;
        s.deadline = deadline;
        s
    }

    fn boot(&self, spec: &GuestSpec) -> (GuestExit, Vec<GuestEvent>) {
        let b = KvmBackend::new().run_dir_parent(&self.runs);
        let mut events = Vec::new();
        let exit = b
            .boot(spec, &mut |e| events.push(e), &Cancel::new())
            .unwrap();
        (exit, events)
    }

    /// No vCPU thread of ours, no run directory.
    fn assert_nothing_left(&self) {
        let vcpus: Vec<String> = std::fs::read_dir("/proc/self/task")
            .unwrap()
            .flatten()
            .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
            .filter(|c| c.starts_with("vcpu"))
            .collect();
        assert!(vcpus.is_empty(), "vCPU threads left: {vcpus:?}");
        let left: Vec<_> = std::fs::read_dir(&self.runs).unwrap().flatten().collect();
        assert!(left.is_empty(), "run directories left: {left:?}");
    }
}

fn summary(exit: &GuestExit) -> String {
    format!(
        "{}\nwarnings: {:?}\nconsole tail:\n{}",
        exit.how,
        exit.warnings,
        exit.console_tail.join("\n")
    )
}

/// Users' machines: Linux boots on the own VMM, the agent's hello arrives
/// on COM2, and the guest powers off through ACPI S5.
#[test]
fn linux_boots_says_hello_and_powers_off_on_the_own_vmm() {
    let Some(env) = env("linux_boots_says_hello_and_powers_off_on_the_own_vmm") else {
        return;
    };
    if !env.kvm_runs_linux {
        // Not a skip to fail CI on: this host's KVM cannot run Linux at
        // all, which the next test checks is reported cleanly.
        eprintln!(
            "skipped: linux_boots_says_hello_and_powers_off_on_the_own_vmm: KVM here cannot run Linux ({})",
            env.probe_why
        );
        return;
    }
    let (exit, events) = env.boot(&env.spec("hello", Duration::from_secs(30)));
    assert_eq!(exit.how, ExitHow::PoweredOff, "{}", summary(&exit));
    assert_eq!(exit.accel, Accel::Kvm);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, GuestEvent::Record(Record::Hello { .. }))),
        "{}",
        summary(&exit)
    );
    assert!(matches!(
        events.first(),
        Some(GuestEvent::Started {
            memory: Some(_),
            pause: Some(_),
            vcpu_tids: Some(_),
            ..
        })
    ));
    eprintln!(
        "own VMM: spawn → hello {:?}, whole boot() {:?}",
        exit.to_hello, exit.wall
    );
    env.assert_nothing_left();
}

/// This project's machines: a nested KVM that runs real-mode code but not
/// Linux. The boot must end by itself, well before its deadline, as a VMM
/// failure naming KVM's error (not a hang, not a panic), after `Started`
/// and `Stopped`, leaving no vCPU thread.
#[test]
fn where_kvm_cannot_run_linux_the_own_vmm_fails_cleanly() {
    let Some(env) = env("where_kvm_cannot_run_linux_the_own_vmm_fails_cleanly") else {
        return;
    };
    if env.kvm_runs_linux {
        eprintln!(
            "skipped: where_kvm_cannot_run_linux_the_own_vmm_fails_cleanly: KVM here runs Linux ({})",
            env.probe_why
        );
        return;
    }
    let deadline = Duration::from_secs(20);
    let t = Instant::now();
    let (exit, events) = env.boot(&env.spec("hello", deadline));
    eprintln!(
        "own VMM on this KVM after {:?}: {}",
        t.elapsed(),
        summary(&exit)
    );
    match &exit.how {
        ExitHow::VmmFailed { error, .. } => assert!(
            error.contains("KVM") || error.contains("triple fault") || error.contains("vCPU"),
            "{}",
            summary(&exit)
        ),
        // A guest that never gets anywhere is the watchdog's: also clean.
        ExitHow::Watchdog { stage, .. } => assert_eq!(stage, "booting"),
        other => panic!("unexpected end {other:?}\n{}", summary(&exit)),
    }
    assert!(t.elapsed() < deadline + Duration::from_secs(10));
    assert!(matches!(events.first(), Some(GuestEvent::Started { .. })));
    assert!(events
        .iter()
        .any(|e| matches!(e, GuestEvent::Stopped { .. })));
    env.assert_nothing_left();
}

/// `--backend auto`'s safety net: where the own VMM cannot boot the guest
/// (here: KVM's emulation error), the same spec boots under QEMU, the exit
/// is QEMU's with a first warning naming why; where it can, no fallback.
#[test]
fn auto_falls_back_to_qemu_when_the_own_vmm_cannot_boot() {
    let Some(env) = env("auto_falls_back_to_qemu_when_the_own_vmm_cannot_boot") else {
        return;
    };
    let qemu = QemuBackend::from_env()
        .unwrap()
        .cache_dir(Some(env.cache.clone()))
        .run_dir_parent(&env.runs);
    let b = AnyBackend::Kvm {
        kvm: KvmBackend::new().run_dir_parent(&env.runs),
        fallback: Some(Fallback::new(qemu)),
    };
    let mut events = Vec::new();
    let exit = b
        .boot(
            &env.spec("hello", Duration::from_secs(90)),
            &mut |e| events.push(e),
            &Cancel::new(),
        )
        .unwrap();
    assert_eq!(exit.how, ExitHow::PoweredOff, "{}", summary(&exit));
    let started: Vec<Accel> = events
        .iter()
        .filter_map(|e| match e {
            GuestEvent::Started { accel, .. } => Some(*accel),
            _ => None,
        })
        .collect();
    if env.kvm_runs_linux {
        assert_eq!(started, [Accel::Kvm]);
        assert!(exit.warnings.iter().all(|w| !w.contains("own KVM VMM")));
    } else {
        assert_eq!(started, [Accel::Kvm, exit.accel], "own VMM, then QEMU");
        let w = &exit.warnings[0];
        assert!(
            w.starts_with(
                "the own KVM VMM could not boot this guest (the VMM stopped the guest at booting: "
            ) && w.ends_with("; QEMU ran it instead"),
            "{w}"
        );
        // The run's next guest (a clone: the repro VMs') goes to QEMU at
        // once instead of failing on the own VMM again.
        let mut events = Vec::new();
        let again = b
            .clone()
            .boot(
                &env.spec("hello", Duration::from_secs(90)),
                &mut |e| events.push(e),
                &Cancel::new(),
            )
            .unwrap();
        assert_eq!(again.how, ExitHow::PoweredOff, "{}", summary(&again));
        let started = events
            .iter()
            .filter(|e| matches!(e, GuestEvent::Started { .. }))
            .count();
        assert_eq!(started, 1, "QEMU only");
        assert_eq!(again.accel, exit.accel);
        let w = &again.warnings[0];
        assert!(
            w.starts_with("QEMU ran this guest: the own KVM VMM could not boot an earlier one of this run (the VMM stopped the guest at booting: "),
            "{w}"
        );
    }
    env.assert_nothing_left();
}
