//! One run of a scheduler in a test guest: build the initramfs (agent,
//! scheduler, its libraries, the run config), boot it on a [`Backend`], and
//! turn what the guest says into the domain's live [`Event`]s. The CLI and the
//! live TUI drive it; the report comes from `scxray::run::live::LiveRun`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use scxray::run::live::{Event, GuestEnd, Stage};
use scxray::run::record::Record;
use scxray::run::scenario::{RunConfig, Scenario, RUN_CONFIG_PATH};

use crate::backend::{Backend, ExitHow, GuestEvent, GuestExit, GuestInput, GuestSpec, VmError};
use crate::cancel::Cancel;
use crate::initramfs::{InitramfsBuilder, InitramfsError};
use crate::monitor::{self, Monitor};

/// Where the scheduler sits in the guest.
pub const GUEST_SCHEDULER: &str = "/scxray/scheduler";

/// What to run.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub kernel_image: PathBuf,
    /// The guest agent binary (`scxray-agent`), on the host.
    pub agent: PathBuf,
    /// The scheduler binary, on the host.
    pub scheduler: PathBuf,
    pub args: Vec<String>,
    /// Extra files (`--include`), placed at the same path in the guest.
    pub includes: Vec<PathBuf>,
    pub scenario: Scenario,
    pub cpus: u32,
    pub memory_mib: u32,
    pub attach_timeout: Duration,
    /// Initramfs base cache and scratch space.
    pub cache_dir: PathBuf,
    /// Extra kernel command line.
    pub cmdline: String,
    /// The kernel's raw BTF and ELF vmlinux, for the host monitor's layout
    /// (either will do; without both the monitor is off).
    pub btf: Option<PathBuf>,
    pub vmlinux: Option<PathBuf>,
    /// Functions the guest agent probes (experimental; see
    /// [`RunConfig::probes`]). Passed through as they are.
    pub probes: Vec<String>,
    /// Park the guest agent before the scheduler loads until a
    /// [`HostOrder`](scxray::run::scenario::HostOrder) arrives through
    /// `input` ([`RunConfig::park`]).
    pub park: bool,
    /// Bytes for the guest's record port.
    pub input: Option<GuestInput>,
    /// How long a parked guest may wait: added to the watchdog's deadline.
    pub parked_for: Duration,
}

impl RunPlan {
    /// The watchdog deadline: boot, load, the scenario, collection, margin.
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.scenario.duration_ms())
            + self.attach_timeout
            + Duration::from_secs(45)
            + self.parked_for
    }
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("{what} not found at {path}: {fix}")]
    Missing {
        what: &'static str,
        path: PathBuf,
        fix: &'static str,
    },
    #[error("cannot build the initramfs: {0}")]
    Initramfs(#[from] InitramfsError),
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Vm(#[from] VmError),
}

/// How a run ended, for exit codes and the report's notes.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub exit: GuestExit,
    /// Host time spent building the initramfs.
    pub initramfs_time: Duration,
}

/// Runs `plan` on `backend`, feeding `on_event` with host-timed events
/// (ms since the run started). Blocks until the guest is gone and cleaned up.
pub fn run(
    plan: &RunPlan,
    backend: &dyn Backend,
    cancel: &Cancel,
    on_event: &mut dyn FnMut(Event, u64),
) -> Result<RunResult, SessionError> {
    let t0 = Instant::now();
    let at = |t0: Instant| t0.elapsed().as_millis() as u64;
    for (what, path, fix) in [
        (
            "kernel image",
            &plan.kernel_image,
            "run `scxray kernel fetch` or pass --kernel PATH",
        ),
        (
            "guest agent",
            &plan.agent,
            "build it with `cargo build -p scxray-probes` (scripts/try.sh does)",
        ),
        (
            "scheduler",
            &plan.scheduler,
            "pass the scheduler binary with --scheduler PATH",
        ),
    ] {
        if !path.is_file() {
            return Err(SessionError::Missing {
                what,
                path: path.clone(),
                fix,
            });
        }
    }

    on_event(Event::Stage(Stage::BuildingInitramfs), at(t0));
    let scratch = tempfile::Builder::new()
        .prefix(&format!("run-{}-", std::process::id()))
        .tempdir_in(ensure_dir(&plan.cache_dir)?)
        .map_err(|source| SessionError::Io {
            path: plan.cache_dir.clone(),
            source,
        })?;
    let initrd = scratch.path().join("initramfs.cpio");
    let mut monitor = Monitor::new(plan.btf.as_deref(), plan.vmlinux.as_deref(), plan.cpus);
    let config = RunConfig {
        scheduler: GUEST_SCHEDULER.to_string(),
        args: plan.args.clone(),
        attach_timeout_ms: plan.attach_timeout.as_millis() as u64,
        scenario: plan.scenario.clone(),
        kallsyms: monitor::wanted_symbols(),
        probes: plan.probes.clone(),
        park: plan.park,
    };
    let mut builder = InitramfsBuilder::new()
        .init(&plan.agent)
        .binary(&plan.scheduler, GUEST_SCHEDULER)
        .bytes(
            RUN_CONFIG_PATH,
            serde_json::to_vec_pretty(&config).unwrap_or_default(),
            0o644,
        )
        .cache_dir(plan.cache_dir.join("initramfs-base"));
    for inc in &plan.includes {
        builder = builder.file(inc, inc.to_string_lossy().into_owned());
    }
    let built = Instant::now();
    builder.build_file(&initrd)?;
    let initramfs_time = built.elapsed();

    on_event(Event::Stage(Stage::Booting), at(t0));
    let mut spec = GuestSpec::new(&plan.kernel_image, &initrd);
    spec.cpus = plan.cpus;
    spec.memory_mib = plan.memory_mib;
    spec.deadline = plan.deadline();
    spec.cmdline = plan.cmdline.clone();
    spec.input = plan.input.clone();
    spec.background = plan.park;
    let mut sink = |ev: GuestEvent| {
        let t = at(t0);
        match ev {
            GuestEvent::Console(line) => on_event(Event::Console(line), t),
            GuestEvent::Record(Record::Symbols { symbols }) => {
                monitor.symbols(&symbols);
                if monitor.running() {
                    on_event(
                        Event::Note(format!(
                            "host monitor: sampling {} CPUs every {} ms from guest memory",
                            plan.cpus,
                            monitor::INTERVAL.as_millis()
                        )),
                        t,
                    );
                }
            }
            GuestEvent::Record(r) => on_event(Event::Record(r), t),
            GuestEvent::Stopped { .. } => {
                if let Some(sample) = monitor.stopped(t) {
                    on_event(Event::Monitor(sample), t);
                }
            }
            GuestEvent::Retrying { attempt, oops } => on_event(
                Event::Note(format!(
                    "boot attempt {} oopsed ({}); retrying as attempt {attempt}",
                    attempt - 1,
                    oops.lines().next().unwrap_or("")
                )),
                t,
            ),
            GuestEvent::Started {
                attempt,
                accel,
                memory,
                ..
            } => {
                monitor.started(memory.as_ref());
                if attempt == 1 {
                    on_event(Event::Note(format!("guest started with {accel}")), t);
                }
            }
            _ => {}
        }
        if let Some(note) = monitor.take_note() {
            on_event(Event::Note(note), t);
        }
        if let Some(sample) = monitor.poll(t) {
            on_event(Event::Monitor(sample), t);
        }
    };
    let exit = backend.boot(&spec, &mut sink, cancel)?;
    let end = match &exit.how {
        ExitHow::PoweredOff => GuestEnd::PoweredOff,
        ExitHow::Watchdog { stage, .. } => GuestEnd::Hung {
            stage: stage.clone(),
        },
        ExitHow::Panicked { message, .. } => GuestEnd::KernelPanic {
            message: message.clone(),
        },
        ExitHow::BootOops { oops, .. } => GuestEnd::KernelPanic {
            message: oops.lines().next().unwrap_or("boot oops").to_string(),
        },
        ExitHow::Cancelled { .. } => GuestEnd::Cancelled,
        ExitHow::QemuDied { status, .. } => GuestEnd::Failed {
            message: format!("QEMU died: {status}"),
        },
    };
    for w in &exit.warnings {
        on_event(Event::Note(w.clone()), at(t0));
    }
    if exit.decode.bad_frames > 0 || exit.decode.skipped_bytes > 0 {
        on_event(
            Event::Note(format!(
                "record port: {} bad frames, {} garbage bytes skipped",
                exit.decode.bad_frames, exit.decode.skipped_bytes
            )),
            at(t0),
        );
    }
    on_event(Event::End(end), at(t0));
    Ok(RunResult {
        exit,
        initramfs_time,
    })
}

fn ensure_dir(p: &Path) -> Result<&Path, SessionError> {
    std::fs::create_dir_all(p).map_err(|source| SessionError::Io {
        path: p.to_path_buf(),
        source,
    })?;
    Ok(p)
}
