//! The outer guest of the nested-KVM tests: QEMU's TCG boots the sched_ext
//! kernel on an emulated AMD CPU with SVM, with the test guest as /init in
//! its `kvm-host` mode (`vmm/src/bin/scxray-test-guest/kvm_host.rs`). That
//! loads the kernel's own KVM modules and runs one command, whose output
//! lines and exit status come back as records. Included by path from the
//! tests that need it, like `require.rs`.

#![allow(dead_code)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use scxray::run::record::{Record, Stream};
use scxray_vmm::backend::{Backend, GuestEvent, GuestExit, GuestSpec};
use scxray_vmm::cancel::Cancel;
use scxray_vmm::initramfs::InitramfsBuilder;
use scxray_vmm::kernel::kvm_modules::KvmModules;
use scxray_vmm::qemu::{AccelChoice, QemuBackend, TcgThreads};

/// The outer guest's vCPUs. One: with two (single-threaded TCG takes
/// them in turns), the inner guest's vCPUs wait on each other for a TCG
/// time slice each time, and its boot did not end in 200 s.
pub const OUTER_CPUS: u32 = 1;

/// The QEMU that runs the outer guest. Single-threaded TCG: QEMU 7.2's
/// multi-threaded TCG with nested SVM has crashed the outer kernel.
pub fn qemu(asked_by: &str) -> Result<QemuBackend, String> {
    Ok(QemuBackend::from_env()
        .map_err(|e| format!("no QEMU: {e}"))?
        .accel(AccelChoice::Tcg, asked_by)
        .tcg_threads(TcgThreads::Single))
}

/// Adds the KVM modules for an AMD host (TCG emulates one) and their list.
pub fn modules(mut b: InitramfsBuilder, modules: &KvmModules) -> InitramfsBuilder {
    let mut list = String::new();
    for (i, m) in modules.common.iter().chain([&modules.amd]).enumerate() {
        let guest = format!("/kvm-host/module-{i}.ko.xz");
        b = b.file(m, guest.as_str());
        list.push_str(&guest);
        list.push('\n');
    }
    b.bytes("/kvm-host/modules", list, 0o644)
}

/// Adds the command (`argv[0]` a guest path) and `NAME=value` lines for
/// its environment.
pub fn command(b: InitramfsBuilder, argv: &[&str], env: &[(&str, &str)]) -> InitramfsBuilder {
    let env: String = env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    b.bytes("/kvm-host/argv", argv.join("\n") + "\n", 0o644)
        .bytes("/kvm-host/env", env, 0o644)
}

/// How the outer guest ended and what its command said.
pub struct Outer {
    pub exit: GuestExit,
    pub stdout: String,
    pub stderr: String,
    /// The command's success, from the test guest's `Done` record.
    pub passed: Option<bool>,
    /// Cancelled after the command said nothing for the `stall` given to
    /// [`boot`].
    pub stalled: bool,
}

impl Outer {
    /// For an assertion's message: how it ended, the command's stderr and
    /// the outer console's tail.
    pub fn summary(&self) -> String {
        format!(
            "{}\nwarnings: {:?}\nthe command's stderr:\n{}\nouter console tail:\n{}",
            self.exit.how,
            self.exit.warnings,
            self.stderr,
            self.exit.console_tail.join("\n")
        )
    }
}

/// Boots `initrd` (built with [`modules`] and [`command`]) on `kernel`
/// with `cpus` vCPUs; stderr lines are echoed as they come. The guest is
/// cancelled when its command says nothing for `stall`: the outer guest
/// has hung, rarely, with the own VMM's guest inside keeping its one
/// vCPU, where even the command's own watchdog never ran again.
pub fn boot(
    qemu: &QemuBackend,
    kernel: &Path,
    initrd: &Path,
    cpus: u32,
    deadline: Duration,
    stall: Duration,
) -> Outer {
    let mut spec = GuestSpec::new(kernel, initrd);
    spec.cmdline = "scxray_test=kvm-host".into();
    spec.cpus = cpus;
    spec.memory_mib = 2048;
    spec.deadline = deadline;
    let (mut stdout, mut stderr, mut passed) = (String::new(), String::new(), None);
    let cancel = Cancel::new();
    let last = Arc::new(Mutex::new(Instant::now()));
    let done = Cancel::new();
    let exit = std::thread::scope(|s| {
        let guard = s.spawn(|| {
            while !done.sleep_or_cancel(Duration::from_secs(1)) {
                if last.lock().unwrap().elapsed() > stall {
                    cancel.cancel();
                    return true;
                }
            }
            false
        });
        let exit = qemu.boot(
            &spec,
            &mut |e| match e {
                GuestEvent::Record(Record::SchedLine { stream, line }) => {
                    *last.lock().unwrap() = Instant::now();
                    let to = if stream == Stream::Stdout {
                        &mut stdout
                    } else {
                        eprintln!("inner: {line}");
                        &mut stderr
                    };
                    to.push_str(&line);
                    to.push('\n');
                }
                GuestEvent::Record(Record::Done { passed: p, .. }) => passed = Some(p),
                _ => {}
            },
            &cancel,
        );
        done.cancel();
        (exit, guard.join().unwrap())
    });
    let (exit, stalled) = exit;
    Outer {
        exit: exit.unwrap(),
        stdout,
        stderr,
        passed,
        stalled,
    }
}
