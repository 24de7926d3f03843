//! One run of a scheduler in a test guest: build the initramfs (agent,
//! scheduler, its libraries, the run config), boot it on a [`Backend`], and
//! turn what the guest says into the domain's live [`Event`]s. The CLI and the
//! live TUI drive it; the report comes from `scxray::run::live::LiveRun`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use scxray::run::live::{Event, GuestEnd, Stage};
use scxray::run::record::Record;
use scxray::run::scenario::{RunConfig, Scenario, RUN_CONFIG_PATH};
use scxray::run::topology::Topology;

use crate::backend::{Backend, ExitHow, GuestEvent, GuestExit, GuestInput, GuestSpec, VmError};
use crate::cancel::Cancel;
use crate::freeze::Freezer;
use crate::initramfs::{InitramfsBuilder, InitramfsError, LibraryResolver};
use crate::monitor::{self, Monitor};

/// The guest directory holding the scheduler, under its own file name (its
/// usage text, errors and `comm` then read `scx_qmap`, not an internal name).
pub const GUEST_SCHEDULER_DIR: &str = "/scxray/bin";

/// Where the scheduler `host` sits in the guest: its file name when that is
/// a plain path component, else `scheduler`.
pub fn guest_scheduler_path(host: &Path) -> String {
    let name = host
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.is_empty() && *n != "." && *n != ".." && !n.contains('\0'))
        .unwrap_or("scheduler");
    format!("{GUEST_SCHEDULER_DIR}/{name}")
}

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
    /// Directories searched for the scheduler's libraries before RUNPATH and
    /// ld.so.cache, as LD_LIBRARY_PATH is (`--lib-dir`, then the host's
    /// LD_LIBRARY_PATH).
    pub lib_dirs: Vec<PathBuf>,
    pub scenario: Scenario,
    /// The guest's CPUs and how they are laid out.
    pub topology: Topology,
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
    /// Freeze the guest at a scheduler error and walk its state (the
    /// failure dump); needs the kernel's BTF.
    pub freeze: bool,
    /// Which backend the caller boots it on ([`crate::choose`]); `run`
    /// itself takes the backend it is given.
    pub backend: crate::choose::BackendChoice,
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
    #[error(
        "scheduler {} is {what}, not a program the guest can run (it has no shell or \
         interpreter): pass the scheduler binary itself with --scheduler{hint}",
        path.display()
    )]
    NotAProgram {
        path: PathBuf,
        what: String,
        hint: &'static str,
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

    check_program(&plan.scheduler)?;
    on_event(Event::Stage(Stage::BuildingInitramfs), at(t0));
    let runs = ensure_dir(&plan.cache_dir)?;
    sweep_dead_runs(runs);
    let scratch = tempfile::Builder::new()
        .prefix(&format!("{RUN_DIR_PREFIX}{}-", std::process::id()))
        .tempdir_in(runs)
        .map_err(|source| SessionError::Io {
            path: plan.cache_dir.clone(),
            source,
        })?;
    let initrd = scratch.path().join("initramfs.cpio");
    let btf = crate::monitor::load_btf(plan.btf.as_deref(), plan.vmlinux.as_deref());
    let (mut monitor, btf) = Monitor::with_btf(btf, plan.vmlinux.as_deref(), plan.topology.cpus());
    let mut freezer = Freezer::with_btf(btf, plan.freeze);
    let guest_scheduler = guest_scheduler_path(&plan.scheduler);
    let mut resolver = LibraryResolver::from_host().map_err(InitramfsError::from)?;
    for d in &plan.lib_dirs {
        resolver = resolver.extra_dir(d);
    }
    let mut builder = InitramfsBuilder::new()
        .init(&plan.agent)
        .binary(&plan.scheduler, guest_scheduler.clone())
        .resolver(resolver)
        .cache_dir(plan.cache_dir.join("initramfs-base"));
    for inc in &plan.includes {
        builder = builder.file(inc, inc.to_string_lossy().into_owned());
    }
    let built = Instant::now();
    // Planning resolves the libraries; the guest learns from the plan which
    // of their directories its loader would not search by itself.
    let mut initramfs = builder.plan()?;
    let config = RunConfig {
        scheduler: guest_scheduler,
        library_path: initramfs.library_path().to_vec(),
        args: plan.args.clone(),
        attach_timeout_ms: plan.attach_timeout.as_millis() as u64,
        scenario: plan.scenario.clone(),
        kallsyms: monitor::wanted_symbols(),
        probes: plan.probes.clone(),
        park: plan.park,
    };
    initramfs.add_bytes(
        RUN_CONFIG_PATH,
        serde_json::to_vec_pretty(&config).unwrap_or_default(),
        0o644,
    )?;
    initramfs.build_file(&initrd)?;
    let initramfs_time = built.elapsed();

    on_event(Event::Stage(Stage::Booting), at(t0));
    let mut spec = GuestSpec::new(&plan.kernel_image, &initrd);
    spec.cpus = plan.topology.cpus();
    spec.topology = Some(plan.topology);
    spec.memory_mib = plan.memory_mib;
    spec.deadline = plan.deadline();
    spec.cmdline = plan.cmdline.clone();
    spec.input = plan.input.clone();
    spec.background = plan.park;
    spec.gdb_stub = freezer.wants_stub();
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
                            plan.topology.cpus(),
                            monitor::INTERVAL.as_millis()
                        )),
                        t,
                    );
                }
            }
            GuestEvent::Record(r) => {
                // The guest saw the scheduler go: a watchpoint stop should
                // have come first; if none did, the guest is stopped now.
                if let Record::ScxState { state, .. } = &r {
                    if state != "enabled" {
                        let why = format!("the guest reported sched_ext {state}");
                        if let Some(d) = freezer.exit_seen(&monitor, t, &why) {
                            on_event(Event::FailureDump(Box::new(d)), t);
                        }
                    }
                }
                on_event(Event::Record(r), t)
            }
            GuestEvent::Stopped { .. } => {
                freezer.started(None, None);
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
                pid,
                gdb,
                pause,
                vcpu_tids,
            } => {
                monitor.started(memory.as_ref());
                freezer.started(gdb.as_deref(), pause);
                match vcpu_tids {
                    Some(tids) => monitor.vcpu_threads(pid, tids),
                    None => monitor.qemu_started(pid),
                }
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
        if let Some(d) = freezer.poll(&monitor, t) {
            on_event(Event::FailureDump(Box::new(d)), t);
        }
        while let Some(note) = freezer.take_note() {
            on_event(Event::Note(note), t);
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
        ExitHow::VmmFailed { error, .. } => GuestEnd::Failed {
            message: format!("the VMM stopped the guest: {error}"),
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

/// Refuses what the guest cannot execute: a script (the guest has only the
/// agent, the scheduler and its libraries; no `/bin/sh`), or data.
fn check_program(path: &Path) -> Result<(), SessionError> {
    use std::io::Read;
    if crate::initramfs::ElfInfo::read(path)
        .map_err(InitramfsError::from)?
        .is_some()
    {
        return Ok(());
    }
    let mut head = [0u8; 128];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|source| SessionError::Io {
            path: path.to_owned(),
            source,
        })?;
    let head = &head[..n];
    let (what, hint) = match head.strip_prefix(b"#!") {
        Some(rest) => {
            let line = rest.split(|b| *b == b'\n').next().unwrap_or_default();
            let interp = String::from_utf8_lossy(line).trim().to_string();
            (
                format!("a script (#!{interp})"),
                " (a wrapper that sets arguments or the environment: pass those after `--`, \
                 libraries with --lib-dir)",
            )
        }
        None => ("not an ELF executable".to_string(), ""),
    };
    Err(SessionError::NotAProgram {
        path: path.to_owned(),
        what,
        hint,
    })
}

/// Scratch directories of runs are `run-<pid>-<random>`.
const RUN_DIR_PREFIX: &str = "run-";

/// Removes the scratch directories of runs whose process is gone (killed
/// with SIGKILL, or by the OOM killer: nothing of theirs could clean up).
/// A directory whose pid is alive is kept, even if the pid was reused.
pub fn sweep_dead_runs(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(RUN_DIR_PREFIX))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        if std::fs::remove_dir_all(e.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_and_data_are_refused_as_schedulers() {
        let d = tempfile::tempdir().unwrap();
        let script = d.path().join("run_qmap.sh");
        std::fs::write(&script, "#!/bin/sh\nexec ./scx_qmap -v\n").unwrap();
        let e = check_program(&script).unwrap_err().to_string();
        assert!(e.contains("run_qmap.sh is a script (#!/bin/sh)"), "{e}");
        assert!(e.contains("pass the scheduler binary itself"), "{e}");
        let data = d.path().join("notes.txt");
        std::fs::write(&data, "hello").unwrap();
        let e = check_program(&data).unwrap_err().to_string();
        assert!(e.contains("not an ELF executable"), "{e}");
        check_program(Path::new("/bin/true")).unwrap();
    }

    #[test]
    fn scratch_of_dead_runs_is_swept_and_live_ones_kept() {
        let d = tempfile::tempdir().unwrap();
        // A pid that cannot exist (above pid_max's hard limit).
        let dead = d.path().join("run-4194305-abc");
        let alive = d.path().join(format!("run-{}-xyz", std::process::id()));
        let other = d.path().join("initramfs-base");
        for p in [&dead, &alive, &other] {
            std::fs::create_dir_all(p.join("sub")).unwrap();
            std::fs::write(p.join("sub/initramfs.cpio"), b"x").unwrap();
        }
        assert_eq!(sweep_dead_runs(d.path()), 1);
        assert!(!dead.exists());
        assert!(alive.exists() && other.exists());
    }

    #[test]
    fn the_scheduler_keeps_its_file_name_in_the_guest() {
        let p = |s: &str| guest_scheduler_path(Path::new(s));
        assert_eq!(p("/home/u/scx/build/scx_qmap"), "/scxray/bin/scx_qmap");
        assert_eq!(p("scx_rusty"), "/scxray/bin/scx_rusty");
        // No usable file name: a fixed one, never a path outside the dir.
        assert_eq!(p("/"), "/scxray/bin/scheduler");
        assert_eq!(p(".."), "/scxray/bin/scheduler");
    }
}
