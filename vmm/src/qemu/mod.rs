//! The QEMU backend: `qemu-system-x86_64` on KVM when it can really run a
//! guest here, else multi-threaded TCG.
//!
//! | module | holds |
//! |---|---|
//! | `command` | QEMU's arguments and the kernel command line (pure) |
//! | `process` | spawning QEMU in its own group with a parent-death signal; killing it |
//! | `kvm` | KVM or TCG: the probe boot and its cache, `SCXRAY_ACCEL` |
//! | `files` | run directory, guest RAM file, stale-file sweep |
//! | `run` | one boot attempt: watchdog, stages, teardown |
//!
//! The readers of what the guest says and the decision of how it ended are
//! shared with the own VMM: [`crate::stream`], [`crate::watch`].

pub mod command;
pub mod files;
pub mod kvm;
pub mod process;
mod run;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::backend::{Accel, Backend, ExitHow, GuestEvent, GuestExit, GuestSpec, VmError};
use crate::cancel::Cancel;
use crate::kernel::KernelCache;

pub use command::{TcgThreads, BASE_CMDLINE, NOKASLR};
pub use files::sweep_stale;
pub use kvm::{AccelChoice, AccelDecision, ACCEL_ENV};

/// Names the QEMU binary (default: `qemu-system-x86_64` on `PATH`).
pub const QEMU_ENV: &str = "SCXRAY_QEMU";
pub const QEMU_BINARY: &str = "qemu-system-x86_64";

/// The QEMU backend and its settings. Cheap to clone; holds no resources.
#[derive(Debug, Clone)]
pub struct QemuBackend {
    qemu: PathBuf,
    accel: AccelChoice,
    accel_asked_by: String,
    cache_dir: Option<PathBuf>,
    run_parent: PathBuf,
    boot_retries: u32,
    tcg_threads: TcgThreads,
    tail_lines: usize,
    queue_cap: usize,
    poweroff_grace: Duration,
}

impl Default for QemuBackend {
    fn default() -> Self {
        QemuBackend {
            qemu: PathBuf::from(QEMU_BINARY),
            accel: AccelChoice::Auto,
            accel_asked_by: "auto".into(),
            cache_dir: KernelCache::root_from(|name| std::env::var_os(name)),
            run_parent: std::env::temp_dir(),
            boot_retries: 2,
            tcg_threads: TcgThreads::Multi,
            tail_lines: 40,
            queue_cap: crate::stream::queue::DEFAULT_CAP,
            poweroff_grace: Duration::from_secs(10),
        }
    }
}

impl QemuBackend {
    /// Defaults: QEMU from `PATH`, accelerator `auto`, probe cache in
    /// scxray's cache directory, 2 retries of a TCG boot oops, 40 lines of
    /// console tail. The environment is not read (see [`from_env`]).
    ///
    /// [`from_env`]: QemuBackend::from_env
    pub fn new() -> Self {
        Self::default()
    }

    /// [`new`](Self::new) plus `$SCXRAY_QEMU` and `$SCXRAY_ACCEL`.
    pub fn from_env() -> Result<Self, VmError> {
        let mut b = Self::new();
        if let Some(q) = std::env::var_os(QEMU_ENV).filter(|v| !v.is_empty()) {
            b.qemu = PathBuf::from(q);
        }
        if std::env::var_os(ACCEL_ENV).is_some() {
            let choice = AccelChoice::from_env()?;
            b = b.accel(
                choice,
                &format!(
                    "{ACCEL_ENV}={}",
                    std::env::var(ACCEL_ENV).unwrap_or_default()
                ),
            );
        }
        Ok(b)
    }

    /// The QEMU binary: a path, or a name looked up on `PATH`.
    pub fn qemu(mut self, program: impl Into<PathBuf>) -> Self {
        self.qemu = program.into();
        self
    }

    /// The accelerator; `asked_by` says where the choice came from
    /// (`--accel kvm`), for messages.
    pub fn accel(mut self, choice: AccelChoice, asked_by: &str) -> Self {
        self.accel = choice;
        self.accel_asked_by = asked_by.to_owned();
        self
    }

    /// Where the KVM probe's answer is cached; `None`: probe every time.
    pub fn cache_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.cache_dir = dir;
        self
    }

    /// Where run directories (record socket, concatenated initrd) go.
    pub fn run_dir_parent(mut self, dir: impl Into<PathBuf>) -> Self {
        self.run_parent = dir.into();
        self
    }

    /// How often a TCG boot that oopses before the agent's hello is retried.
    pub fn boot_retries(mut self, n: u32) -> Self {
        self.boot_retries = n;
        self
    }

    pub fn tcg_threads(mut self, t: TcgThreads) -> Self {
        self.tcg_threads = t;
        self
    }

    /// Console lines kept for the exit report.
    pub fn console_tail(mut self, lines: usize) -> Self {
        self.tail_lines = lines;
        self
    }

    /// Bound of bytes queued between the port readers and the sink.
    pub fn queue_bytes(mut self, bytes: usize) -> Self {
        self.queue_cap = bytes.max(1024);
        self
    }

    /// The QEMU binary to run, resolved on `PATH` when given as a name.
    pub fn qemu_path(&self) -> Result<PathBuf, VmError> {
        let not_found = || VmError::QemuNotFound {
            program: self.qemu.clone(),
        };
        if self.qemu.components().count() > 1 {
            return if self.qemu.is_file() {
                Ok(self.qemu.clone())
            } else {
                Err(not_found())
            };
        }
        std::env::var_os("PATH")
            .and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(&self.qemu))
                    .find(|p| p.is_file())
            })
            .ok_or_else(not_found)
    }

    /// KVM or TCG for `kernel`, probing (once per host, QEMU and kernel)
    /// when the choice is `auto`.
    pub fn resolve_accel(&self, kernel: &Path, cancel: &Cancel) -> Result<AccelDecision, VmError> {
        let qemu = self.qemu_path()?;
        kvm::decide(
            self.accel,
            &self.accel_asked_by,
            &qemu,
            kernel,
            self.cache_dir.as_deref(),
            &self.run_parent,
            cancel,
        )
    }
}

impl Backend for QemuBackend {
    fn name(&self) -> &'static str {
        "qemu"
    }

    fn boot(
        &self,
        spec: &GuestSpec,
        sink: &mut dyn FnMut(GuestEvent),
        cancel: &Cancel,
    ) -> Result<GuestExit, VmError> {
        let t0 = Instant::now();
        spec.validate()?;
        let qemu = self.qemu_path()?;
        std::fs::File::open(&spec.kernel)
            .map_err(VmError::io("cannot read the kernel", &spec.kernel))?;
        if cancel.is_cancelled() {
            return Err(VmError::Cancelled);
        }
        sweep_stale();
        let decision = self.resolve_accel(&spec.kernel, cancel)?;
        let run_dir = files::RunDir::create(&self.run_parent)?;
        let initrd = run_dir.initrd(&spec.initramfs)?;
        let cmdline = command::kernel_cmdline(&spec.cmdline);
        let mut retried = Vec::new();
        let mut warnings = Vec::new();
        let mut attempt = 1;
        loop {
            let params = run::Params {
                qemu: &qemu,
                accel: decision.accel,
                tcg_threads: self.tcg_threads,
                spec,
                initrd: &initrd,
                cmdline: &cmdline,
                run_dir: &run_dir,
                attempt,
                tail_lines: self.tail_lines,
                queue_cap: self.queue_cap,
                poweroff_grace: self.poweroff_grace,
            };
            let out = run::attempt(&params, sink, cancel)?;
            warnings.extend(out.warnings);
            let how = match out.end {
                // Only a kernel fault under TCG is worth another boot: that
                // is QEMU 7.2's multi-threaded TCG text-patching race.
                run::End::BootOops { text, fault: true }
                    if decision.accel == Accel::Tcg
                        && retried.len() < self.boot_retries as usize =>
                {
                    retried.push(text.clone());
                    attempt += 1;
                    sink(GuestEvent::Retrying {
                        attempt,
                        oops: text,
                    });
                    continue;
                }
                run::End::BootOops { text, .. } => ExitHow::BootOops {
                    retries: retried.len() as u32,
                    oops: text,
                },
                run::End::PoweredOff => ExitHow::PoweredOff,
                run::End::Watchdog { stage } => ExitHow::Watchdog {
                    stage,
                    deadline: spec.deadline,
                },
                run::End::Panicked { stage, message } => ExitHow::Panicked { stage, message },
                run::End::Cancelled { stage } => ExitHow::Cancelled { stage },
                run::End::Died { stage, status } => ExitHow::QemuDied { stage, status },
            };
            drop(run_dir);
            return Ok(GuestExit {
                how,
                accel: decision.accel,
                accel_reason: decision.why,
                attempts: attempt,
                retried_oopses: retried,
                wall: t0.elapsed(),
                to_first_record: out.to_first_record,
                to_hello: out.to_hello,
                console_tail: out.console_tail,
                decode: out.decode,
                dropped: out.dropped,
                qemu_stderr: out.stderr,
                warnings,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_qemu_is_named_with_its_package() {
        let b = QemuBackend::new().qemu("/nonexistent/qemu-system-x86_64");
        let dir = tempfile::tempdir().unwrap();
        let k = dir.path().join("k");
        std::fs::write(&k, b"").unwrap();
        let e = b
            .boot(&GuestSpec::new(&k, &k), &mut |_| {}, &Cancel::new())
            .unwrap_err();
        assert!(matches!(e, VmError::QemuNotFound { .. }), "{e}");
        let msg = e.to_string();
        assert!(
            msg.contains("/nonexistent/qemu-system-x86_64") && msg.contains("qemu-system-x86 "),
            "{msg}"
        );
        let by_name = QemuBackend::new()
            .qemu("qemu-system-nonexistent-arch")
            .qemu_path()
            .unwrap_err();
        assert!(by_name.to_string().contains("qemu-system-nonexistent-arch"));
    }

    #[test]
    fn bad_spec_and_missing_kernel_are_refused_before_qemu() {
        let b = QemuBackend::new().qemu("/bin/sh");
        let mut spec = GuestSpec::new("/nonexistent/vmlinuz", "/nonexistent/initrd");
        let e = b
            .boot(&spec, &mut |_| {}, &Cancel::new())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cannot read the kernel /nonexistent/vmlinuz"),
            "{e}"
        );
        spec.cpus = 0;
        let e = b
            .boot(&spec, &mut |_| {}, &Cancel::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("cpus"), "{e}");
    }
}
