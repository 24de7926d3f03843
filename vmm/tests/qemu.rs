//! The QEMU backend against real VMs: a real kernel, a real QEMU (TCG here,
//! KVM where a probe boot shows it works) and a small Rust `/init`
//! (`src/bin/scxray-test-guest/`) speaking the record protocol.
//!
//! Needs `qemu-system-x86_64` (Debian: qemu-system-x86) and a kernel:
//! `$SCXRAY_KERNEL`, scxray's kernel cache (`scxray kernel fetch`), the
//! host's /boot, else the test cache of `tests/fetch.rs`
//! (`$SCXRAY_TEST_CACHE` or `~/.cache/scxray-test`). Without them each test
//! prints `skipped: <test>: <reason>` and passes, or fails under
//! `SCXRAY_REQUIRE_VM`/`CI` (`tests/support/require.rs`). VM tests take a
//! lock so that they run one at a time even without `--test-threads=1`: TCG
//! guests are CPU-heavy.
//!
//! How long a boot takes against a bare QEMU boot is measured by
//! `scripts/perf.sh`, not asserted here: a timing on a shared host is not a
//! test.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use scxray::run::record::Record;
use scxray_vmm::backend::{Backend, ExitHow, GuestEvent, GuestExit, GuestSpec, MemoryInfo};
use scxray_vmm::cancel::Cancel;
use scxray_vmm::initramfs::InitramfsBuilder;
use scxray_vmm::qemu::{self, AccelChoice, QemuBackend};

#[path = "common/kernel.rs"]
mod kernel;
#[path = "../../tests/support/require.rs"]
mod require;
use kernel::{find_kernel, test_cache_root};

static VM: Mutex<()> = Mutex::new(());

/// Where a child test process (see [`child_boots_until_killed`]) keeps its
/// scratch files.
const CHILD_SCRATCH: &str = "SCXRAY_TEST_CHILD_SCRATCH";

struct Env {
    _lock: MutexGuard<'static, ()>,
    qemu: PathBuf,
    kernel: PathBuf,
    initrd: PathBuf,
    /// Parent of the runs' private directories: must end empty.
    runs: PathBuf,
    cache: PathBuf,
    _dir: tempfile::TempDir,
}

/// `None` after [`require::require_vm`] has skipped `test` (or failed it).
fn missing(test: &str, why: &str) -> Option<Env> {
    require::require_vm(test, Some(why.to_owned()));
    None
}

fn env(test: &str) -> Option<Env> {
    let lock = VM.lock().unwrap_or_else(|e| e.into_inner());
    let Ok(qemu) = QemuBackend::from_env().and_then(|b| b.qemu_path()) else {
        return missing(
            test,
            "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)",
        );
    };
    let Some(kernel) = find_kernel() else {
        return missing(
            test,
            "no sched_ext kernel: run `scxray kernel fetch` (or tests/fetch.rs) first",
        );
    };
    // A child that the test SIGKILLs drops nothing: its scratch goes under
    // a directory its parent test owns and removes.
    let dir = match std::env::var_os(CHILD_SCRATCH) {
        Some(parent) => tempfile::tempdir_in(parent),
        None => tempfile::tempdir(),
    }
    .unwrap();
    let initrd = dir.path().join("initrd.cpio");
    InitramfsBuilder::new()
        .init(env!("CARGO_BIN_EXE_scxray-test-guest"))
        .build_file(&initrd)
        .unwrap();
    let runs = dir.path().join("runs");
    std::fs::create_dir(&runs).unwrap();
    let cache = test_cache_root().unwrap_or_else(|| dir.path().join("cache"));
    Some(Env {
        _lock: lock,
        qemu,
        kernel,
        initrd,
        runs,
        cache,
        _dir: dir,
    })
}

impl Env {
    fn backend(&self) -> QemuBackend {
        let b = QemuBackend::from_env().unwrap();
        b.qemu(&self.qemu)
            .cache_dir(Some(self.cache.clone()))
            .run_dir_parent(&self.runs)
    }

    fn spec(&self, mode: &str, deadline: Duration) -> GuestSpec {
        let mut s = GuestSpec::new(&self.kernel, &self.initrd);
        s.cmdline = format!("scxray_test={mode}");
        s.memory_mib = 512;
        s.deadline = deadline;
        s
    }

    fn boot(
        &self,
        b: &QemuBackend,
        spec: &GuestSpec,
        cancel: &Cancel,
    ) -> (GuestExit, Vec<GuestEvent>) {
        let mut events = Vec::new();
        let exit = b.boot(spec, &mut |e| events.push(e), cancel).unwrap();
        (exit, events)
    }

    /// No QEMU alive, no guest RAM file of ours, no run directory.
    fn assert_nothing_left(&self, events: &[GuestEvent]) {
        for e in events {
            if let GuestEvent::Started { pid, memory, .. } = e {
                assert!(dead(*pid), "QEMU {pid} still alive");
                if let Some(m) = memory {
                    assert!(!m.path().exists(), "{} left behind", m.path().display());
                }
            }
        }
        let ours = format!("scxray-{}-", std::process::id());
        let shm: Vec<_> = std::fs::read_dir(qemu::files::SHM_DIR)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&ours))
            .collect();
        assert!(shm.is_empty(), "left in /dev/shm: {shm:?}");
        let runs: Vec<_> = std::fs::read_dir(&self.runs).unwrap().flatten().collect();
        assert!(runs.is_empty(), "left: {runs:?}");
    }
}

/// Gone, or a zombie waiting for a reaper.
fn dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

fn records(events: &[GuestEvent]) -> Vec<&Record> {
    events
        .iter()
        .filter_map(|e| {
            if let GuestEvent::Record(r) = e {
                Some(r)
            } else {
                None
            }
        })
        .collect()
}

fn summary(exit: &GuestExit) -> String {
    format!(
        "{} [{}; {} attempts]\n{}",
        exit.how,
        exit.accel_reason,
        exit.attempts,
        exit.console_tail.join("\n")
    )
}

/// Guest RAM read back from the shared file: the kernel's banner is there.
fn banner_in(m: &MemoryInfo) -> bool {
    let Ok(ram) = std::fs::read(m.path()) else {
        return false;
    };
    assert_eq!(ram.len() as u64, m.size);
    memchr::memmem::find(&ram, b"Linux version ").is_some()
}

#[test]
fn boots_says_hello_and_powers_off() {
    let Some(env) = env("boots_says_hello_and_powers_off") else {
        return;
    };
    let b = env.backend();
    let mut events = Vec::new();
    let mut ram_seen = None;
    let exit = b
        .boot(
            &env.spec("hello", Duration::from_secs(90)),
            &mut |e| {
                // Guest RAM is readable until the Stopped call returns.
                if let GuestEvent::Stopped {
                    memory: Some(m), ..
                } = &e
                {
                    ram_seen = Some(banner_in(m));
                }
                events.push(e);
            },
            &Cancel::new(),
        )
        .unwrap();
    assert_eq!(exit.how, ExitHow::PoweredOff, "{}", summary(&exit));
    // Multi-threaded TCG oopses at boot about 1 in 60 times; such a boot is
    // retried, and every extra attempt must be one of those.
    assert_eq!(
        exit.attempts as usize,
        1 + exit.retried_oopses.len(),
        "{}",
        summary(&exit)
    );
    assert!(exit.retried_oopses.iter().all(|o| !o.is_empty()));
    assert_eq!(exit.decode.records, 3);
    assert_eq!(exit.decode.skipped_bytes, 0);
    let recs = records(&events);
    assert!(matches!(recs[0], Record::Hello { agent, .. } if agent == "scxray-test-guest"));
    assert!(matches!(
        recs.last(),
        Some(Record::Done { passed: true, .. })
    ));
    let stages: Vec<&str> = events
        .iter()
        .filter_map(|e| {
            if let GuestEvent::Stage(s) = e {
                Some(s.as_str())
            } else {
                None
            }
        })
        .collect();
    // Each attempt boots; a retried one oopsed before the agent started.
    let mut expected = vec!["booting"; exit.attempts as usize];
    expected.extend(["agent started", "testing", "powering off"]);
    assert_eq!(stages, expected, "{}", summary(&exit));
    assert!(events.iter().any(
        |e| matches!(e, GuestEvent::Console(l) if l.contains("scxray-test-guest: mode hello"))
    ));
    assert!(exit.to_hello.is_some() && exit.to_first_record == exit.to_hello);
    assert_eq!(
        ram_seen,
        Some(true),
        "guest RAM file missing or without the kernel banner"
    );
    env.assert_nothing_left(&events);
    eprintln!(
        "hello boot: {} ({}), spawn→hello {:.2} s, wall {:.2} s",
        exit.how,
        exit.accel_reason,
        exit.to_hello.unwrap_or_default().as_secs_f64(),
        exit.wall.as_secs_f64()
    );
}

#[test]
fn watchdog_names_the_stage_of_a_hung_guest() {
    let Some(env) = env("watchdog_names_the_stage_of_a_hung_guest") else {
        return;
    };
    let deadline = Duration::from_secs(20);
    let t = Instant::now();
    let (exit, events) = env.boot(&env.backend(), &env.spec("hang", deadline), &Cancel::new());
    let took = t.elapsed();
    assert_eq!(
        exit.how,
        ExitHow::Watchdog {
            stage: "sleeping forever".into(),
            deadline
        },
        "{}",
        summary(&exit)
    );
    // Ended by the watchdog, not hanging: QEMU's teardown on a busy 2-core
    // machine has taken 5.4 s (CI, 2026-12-06), so the margin is wider.
    assert!(took < deadline + Duration::from_secs(10), "took {took:?}");
    assert!(exit
        .how
        .to_string()
        .starts_with("guest hung at sleeping forever"));
    assert!(!exit.console_tail.is_empty() && exit.console_tail.len() <= 40);
    env.assert_nothing_left(&events);
    eprintln!("watchdog: {} after {:.1} s", exit.how, took.as_secs_f64());
}

#[test]
fn cancel_during_boot_leaves_no_process_and_no_file() {
    let Some(env) = env("cancel_during_boot_leaves_no_process_and_no_file") else {
        return;
    };
    let cancel = Cancel::new();
    let c = cancel.clone();
    let mut started_at = None;
    let mut events = Vec::new();
    let mut live_files = Vec::new();
    let exit = std::thread::scope(|s| {
        let backend = env.backend();
        let spec = env.spec("hang", Duration::from_secs(90));
        let (tx, rx) = std::sync::mpsc::channel();
        s.spawn(move || {
            // Cancel 1 s after QEMU started: the kernel is still booting.
            if rx.recv().is_ok() {
                std::thread::sleep(Duration::from_secs(1));
                c.cancel();
            }
        });
        backend
            .boot(
                &spec,
                &mut |e| {
                    if let GuestEvent::Started { memory, .. } = &e {
                        started_at = Some(Instant::now());
                        live_files.extend(memory.iter().map(|m| m.path().to_path_buf()));
                        live_files.extend(
                            std::fs::read_dir(&env.runs)
                                .unwrap()
                                .flatten()
                                .map(|d| d.path()),
                        );
                        let _ = tx.send(());
                    }
                    events.push(e);
                },
                &cancel,
            )
            .unwrap()
    });
    let took = started_at.map(|t| t.elapsed()).unwrap_or_default();
    match &exit.how {
        // A KVM guest may have said hello within that second.
        ExitHow::Cancelled { stage } => {
            assert!(stage == "booting" || exit.accel_reason.starts_with("KVM"))
        }
        _ => panic!("{}", summary(&exit)),
    }
    assert!(took < Duration::from_secs(4), "cancel took {took:?}");
    assert!(
        live_files.len() >= 2,
        "expected a RAM file and a run dir while running: {live_files:?}"
    );
    for f in &live_files {
        assert!(!f.exists(), "{} left behind", f.display());
    }
    env.assert_nothing_left(&events);
}

#[test]
fn garbage_on_the_record_port_is_skipped_and_counted() {
    let Some(env) = env("garbage_on_the_record_port_is_skipped_and_counted") else {
        return;
    };
    let (exit, events) = env.boot(
        &env.backend(),
        &env.spec("junk", Duration::from_secs(90)),
        &Cancel::new(),
    );
    assert_eq!(exit.how, ExitHow::PoweredOff, "{}", summary(&exit));
    let recs = records(&events);
    assert_eq!(recs.len(), 2, "{recs:?}");
    assert!(matches!(recs[0], Record::Hello { .. }) && matches!(recs[1], Record::Done { .. }));
    assert_eq!(exit.decode.records, 2);
    assert!(exit.decode.skipped_bytes >= 300, "{:?}", exit.decode);
    assert!(exit.decode.bad_frames >= 2, "{:?}", exit.decode);
    env.assert_nothing_left(&events);
}

/// A guest sending faster than the host consumes: the queue stays within
/// its bound and what does not fit is dropped and counted.
#[test]
fn a_flooding_guest_is_bounded_and_counted() {
    let Some(env) = env("a_flooding_guest_is_bounded_and_counted") else {
        return;
    };
    let b = env.backend().queue_bytes(64 * 1024);
    let spec = env.spec("flood", Duration::from_secs(120));
    let mut events = Vec::new();
    let exit = b
        .boot(
            &spec,
            &mut |e| {
                // A sink stalled for 3 s after the hello, as a busy UI might.
                if matches!(&e, GuestEvent::Record(Record::Hello { .. })) {
                    std::thread::sleep(Duration::from_secs(3));
                }
                events.push(e);
            },
            &Cancel::new(),
        )
        .unwrap();
    assert_eq!(exit.how, ExitHow::PoweredOff, "{}", summary(&exit));
    let got = records(&events).len() as u64;
    assert_eq!(exit.decode.records, 5002, "{:?}", exit.decode);
    assert!(exit.dropped.records > 0, "{:?}", exit.dropped);
    assert_eq!(got + exit.dropped.records, exit.decode.records);
    // What steers the run is never crowded out by bulk lines.
    assert!(matches!(records(&events).last(), Some(Record::Done { .. })));
    env.assert_nothing_left(&events);
    eprintln!("flood: {got} records passed on, {:?} dropped", exit.dropped);
}

#[test]
fn panic_after_hello_is_reported_not_retried() {
    let Some(env) = env("panic_after_hello_is_reported_not_retried") else {
        return;
    };
    let (exit, events) = env.boot(
        &env.backend(),
        &env.spec("panic", Duration::from_secs(90)),
        &Cancel::new(),
    );
    match &exit.how {
        ExitHow::Panicked { stage, message } => {
            assert_eq!(stage, "panicking");
            assert!(
                message.starts_with("Kernel panic - not syncing"),
                "{message}"
            );
        }
        _ => panic!("{}", summary(&exit)),
    }
    // The panic after hello is never retried; the only retries allowed are
    // multi-threaded TCG's rare boot oopses (about 1 in 60) before it.
    assert_eq!(exit.attempts as usize, 1 + exit.retried_oopses.len());
    assert!(exit
        .retried_oopses
        .iter()
        .all(|o| !o.contains("Kernel panic - not syncing")));
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, GuestEvent::Retrying { .. }))
            .count(),
        exit.retried_oopses.len()
    );
    env.assert_nothing_left(&events);
}

#[test]
fn boot_oops_is_retried_then_reported() {
    let Some(env) = env("boot_oops_is_retried_then_reported") else {
        return;
    };
    let b = env.backend().boot_retries(1);
    let spec = env.spec("boot-oops", Duration::from_secs(90));
    let (exit, events) = env.boot(&b, &spec, &Cancel::new());
    if exit.accel_reason.starts_with("KVM") {
        // Retries are for TCG's boot race only.
        assert!(
            matches!(exit.how, ExitHow::BootOops { retries: 0, .. }),
            "{}",
            summary(&exit)
        );
        return;
    }
    match &exit.how {
        ExitHow::BootOops { retries: 1, oops } => {
            assert!(oops.contains("Oops: int3"), "{oops}");
            assert!(oops.contains("Kernel panic - not syncing"), "{oops}");
        }
        _ => panic!("{}", summary(&exit)),
    }
    assert_eq!(exit.attempts, 2);
    assert_eq!(exit.retried_oopses.len(), 1);
    let retries: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            GuestEvent::Retrying { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .collect();
    assert_eq!(retries, [2]);
    let starts = events
        .iter()
        .filter(|e| matches!(e, GuestEvent::Started { .. }))
        .count();
    assert_eq!(starts, 2);
    assert!(
        exit.how.to_string().contains("also on 1 retries"),
        "{}",
        exit.how
    );
    env.assert_nothing_left(&events);
}

#[test]
fn boot_panic_without_a_fault_is_not_retried() {
    let Some(env) = env("boot_panic_without_a_fault_is_not_retried") else {
        return;
    };
    let spec = env.spec("boot-panic", Duration::from_secs(90));
    let (exit, events) = env.boot(&env.backend(), &spec, &Cancel::new());
    match &exit.how {
        // sysrq c panics directly: deterministic, so it is not retried
        // (only a rare multi-threaded TCG oops before it may be).
        ExitHow::BootOops { retries, oops } => {
            assert!(
                oops.contains("Kernel panic - not syncing: sysrq triggered crash"),
                "{oops}"
            );
            assert_eq!(*retries as usize, exit.retried_oopses.len());
            assert!(exit
                .retried_oopses
                .iter()
                .all(|o| !o.contains("sysrq triggered crash")));
        }
        _ => panic!("{}", summary(&exit)),
    }
    assert_eq!(exit.attempts as usize, 1 + exit.retried_oopses.len());
    env.assert_nothing_left(&events);
}

#[test]
fn accelerator_probe_and_cache() {
    let Some(env) = env("accelerator_probe_and_cache") else {
        return;
    };
    let cancel = Cancel::new();
    // Under TCG the probe initramfs must reach userspace: this checks the
    // hand-made /init the KVM probe relies on.
    let tcg = qemu::kvm::probe(
        &env.qemu,
        &env.kernel,
        scxray_vmm::backend::Accel::Tcg,
        &env.runs,
        &cancel,
    )
    .unwrap();
    assert!(tcg.usable, "{}", tcg.detail);
    let cache = tempfile::tempdir().unwrap();
    let b = QemuBackend::new()
        .qemu(&env.qemu)
        .cache_dir(Some(cache.path().into()))
        .run_dir_parent(&env.runs);
    let b = b.accel(AccelChoice::Auto, "test");
    let t = Instant::now();
    let first = b.resolve_accel(&env.kernel, &cancel).unwrap();
    let probe_took = t.elapsed();
    let second = b.resolve_accel(&env.kernel, &cancel).unwrap();
    assert_eq!(first.accel, second.accel);
    if Path::new("/dev/kvm").exists() {
        assert!(second.why.contains("cached probe"), "{}", second.why);
    }
    let forced = b
        .clone()
        .accel(AccelChoice::Tcg, "--accel tcg")
        .resolve_accel(&env.kernel, &cancel)
        .unwrap();
    assert_eq!(forced.why, "TCG (--accel tcg)");
    assert!(std::fs::read_dir(&env.runs).unwrap().next().is_none());
    eprintln!(
        "accel: {} (probe {:.2} s); then {}; TCG probe: {}",
        first.why,
        probe_took.as_secs_f64(),
        second.why,
        tcg.detail
    );
}

/// scxray's boot (spawn → hello, and the whole `boot` call) against a bare
/// QEMU boot of the same kernel and initramfs (spawn → powered off), in
/// one run, alternating to share the host's load fairly. A measurement, so
/// ignored: `scripts/perf.sh` runs it and reports the times; only that
/// each boot powers off and leaves nothing behind is asserted.
#[test]
#[ignore = "a measurement: scripts/perf.sh runs it"]
fn boot_time_against_bare_qemu() {
    let Some(env) = env("boot_time_against_bare_qemu") else {
        return;
    };
    let b = env.backend();
    let spec = env.spec("hello", Duration::from_secs(90));
    let accel = b.resolve_accel(&env.kernel, &Cancel::new()).unwrap();
    let bare_args = |accel: &str, cpu: &str| -> Vec<String> {
        let cmdline = format!("{} {}", qemu::BASE_CMDLINE, spec.cmdline);
        let mut a: Vec<String> = [
            "-nodefaults",
            "-display",
            "none",
            "-no-reboot",
            "-machine",
            "q35",
            "-accel",
            accel,
            "-cpu",
            cpu,
        ]
        .map(String::from)
        .to_vec();
        a.extend(["-smp".into(), "2".into(), "-m".into(), "512M".into()]);
        a.extend([
            "-kernel".into(),
            env.kernel.display().to_string(),
            "-initrd".into(),
            env.initrd.display().to_string(),
        ]);
        a.extend([
            "-append".into(),
            cmdline,
            "-serial".into(),
            "stdio".into(),
            "-serial".into(),
            "null".into(),
        ]);
        a
    };
    let args = match accel.accel {
        scxray_vmm::backend::Accel::Kvm => bare_args("kvm", "host"),
        scxray_vmm::backend::Accel::Tcg => bare_args("tcg,thread=multi", "max"),
    };
    let (mut bare, mut hello, mut wall) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..2 {
        let t = Instant::now();
        let status = Command::new(&env.qemu)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        bare.push(t.elapsed().as_secs_f64());
        assert!(status.success());
        let (exit, events) = env.boot(&b, &spec, &Cancel::new());
        assert_eq!(exit.how, ExitHow::PoweredOff, "{}", summary(&exit));
        env.assert_nothing_left(&events);
        hello.push(exit.to_hello.unwrap_or_default().as_secs_f64());
        wall.push(exit.wall.as_secs_f64());
    }
    let min = |v: &[f64]| v.iter().cloned().fold(f64::INFINITY, f64::min);
    let (bare_s, hello_s, wall_s) = (min(&bare), min(&hello), min(&wall));
    eprintln!(
        "boot timing: {}, kernel {}",
        accel.why,
        env.kernel.display()
    );
    eprintln!("  bare QEMU, spawn → powered off:    {bare_s:6.2} s (best of {bare:.2?})");
    eprintln!("  scxray boot(), spawn → hello:      {hello_s:6.2} s (best of {hello:.2?})");
    eprintln!("  scxray boot(), the whole call:     {wall_s:6.2} s (best of {wall:.2?})");
    eprintln!(
        "  ratio hello/bare {:.2}, boot()/bare {:.2}",
        hello_s / bare_s,
        wall_s / bare_s
    );
}

/// Run by `sigkilled_scxray_leaves_no_qemu` in a child process, which it
/// then kills with SIGKILL.
#[test]
fn child_boots_until_killed() {
    if std::env::var_os("SCXRAY_TEST_CHILD_BOOT").is_none() {
        return;
    }
    let Some(env) = env("child_boots_until_killed") else {
        return;
    };
    let b = QemuBackend::from_env()
        .unwrap()
        .qemu(&env.qemu)
        .cache_dir(Some(env.cache.clone()));
    let mut spec = env.spec("hang", Duration::from_secs(120));
    spec.memory_mib = 256;
    let _ = b.boot(
        &spec,
        &mut |e| {
            if let GuestEvent::Started { pid, memory, .. } = &e {
                let shm = memory
                    .as_ref()
                    .map(|m| m.path().display().to_string())
                    .unwrap_or_default();
                println!("CHILD-STARTED {pid} {shm}");
            }
        },
        &Cancel::new(),
    );
}

#[test]
fn sigkilled_scxray_leaves_no_qemu_and_the_next_run_sweeps_its_files() {
    let Some(env) = env("sigkilled_scxray_leaves_no_qemu_and_the_next_run_sweeps_its_files") else {
        return;
    };
    drop(env); // the child takes the VM; keep only the check
    let _lock = VM.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_boots_until_killed",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SCXRAY_TEST_CHILD_BOOT", "1")
        .env(CHILD_SCRATCH, scratch.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child_pid = child.id();
    let mut started = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        // libtest prints `test <name> ... ` before the test's own output.
        if let Some((_, rest)) = line.split_once("CHILD-STARTED ") {
            let mut f = rest.split(' ');
            let pid: u32 = f.next().unwrap().parse().unwrap();
            started = Some((pid, f.next().filter(|s| !s.is_empty()).map(PathBuf::from)));
            break;
        }
    }
    let Some((qemu_pid, shm)) = started else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the child never started QEMU");
    };
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!dead(qemu_pid));
    child.kill().unwrap(); // SIGKILL: no guard of the child runs
    child.wait().unwrap();
    let t = Instant::now();
    while !dead(qemu_pid) && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        dead(qemu_pid),
        "QEMU {qemu_pid} outlived its SIGKILLed parent"
    );
    let run_prefix = format!("scxray-run-{child_pid}-");
    let run_dirs = || -> Vec<PathBuf> {
        std::fs::read_dir(std::env::temp_dir())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&run_prefix))
            .map(|e| e.path())
            .collect()
    };
    assert_eq!(
        run_dirs().len(),
        1,
        "the killed child's run dir should be left for the sweep"
    );
    if let Some(shm) = &shm {
        assert!(
            shm.exists(),
            "the killed child's RAM file should be left for the sweep"
        );
    }
    let removed = qemu::sweep_stale();
    assert!(run_dirs().is_empty(), "not swept: {:?}", run_dirs());
    if let Some(shm) = &shm {
        assert!(
            !shm.exists() && removed.contains(shm),
            "not swept: {removed:?}"
        );
    }
}
