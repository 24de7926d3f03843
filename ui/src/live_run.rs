//! `scxray demo` and `scxray run`: plan a run, drive it through the VM
//! session, and keep the live state the panes show. Headless mode prints the
//! ktstr-format report; the live TUI shows the same state as it changes.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use crate::live_feed::{Feed, LiveFeed, Update, REBUILD_INTERVAL};
use anyhow::Context;
use scxray::host_monitor::summary::Thresholds;
use scxray::report::Report;
use scxray::repro::{Chain, ChainError, FieldDecoder, ScxTaskFlags, TaskStates};
use scxray::run::live::{Event, GuestEnd, LiveRun, RunMeta};
use scxray::run::record::Record;
use scxray::run::scenario::HostOrder;
use scxray::run::scenario::Scenario;
use scxray::run::topology::Topology;
use scxray_vmm::backend::{Backend, GuestInput};
use scxray_vmm::cancel::Cancel;
use scxray_vmm::choose::{BackendChoice, Chosen};
use scxray_vmm::kernel::{resolve_kernel, KernelCache};
use scxray_vmm::qemu::TcgThreads;
use scxray_vmm::session::{self, RunPlan, RunResult};

/// What the user asked for, before anything is resolved.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub kernel: Option<PathBuf>,
    /// `None`: the bundled demo scheduler.
    pub scheduler: Option<PathBuf>,
    pub args: Vec<String>,
    pub includes: Vec<PathBuf>,
    /// Library directories searched first (`--lib-dir`, then the host's
    /// LD_LIBRARY_PATH).
    pub lib_dirs: Vec<PathBuf>,
    /// The monitor verdict's thresholds (`--monitor-*`).
    pub thresholds: Thresholds,
    pub scenario: Scenario,
    pub scenario_name: String,
    pub topology: Topology,
    pub memory_mib: u32,
    pub test_name: String,
    /// Experimental `--probe` targets, passed to the guest agent.
    pub probes: Vec<String>,
    pub repro: ReproOptions,
    /// Boot the guest with `nokaslr` (`--nokaslr`); KASLR is on by default.
    pub nokaslr: bool,
    /// Freeze the guest at a scheduler error for the failure dump
    /// (`--no-freeze` turns it off).
    pub freeze: bool,
    /// `--backend`, and where that came from (for the message).
    pub backend: BackendChoice,
    pub backend_asked_by: String,
}

/// Auto-repro: after a crash, the same run again with probes on the crash
/// chain (`--no-auto-repro`, `--repro-runs N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReproOptions {
    pub enabled: bool,
    /// Repro runs (each a fresh VM); the section reports how many crashed
    /// with the same signature.
    pub runs: u32,
}

impl Default for ReproOptions {
    fn default() -> ReproOptions {
        ReproOptions {
            enabled: true,
            runs: 1,
        }
    }
}

/// Asks the owner of the run's state what to reproduce
/// ([`scxray::repro::plan`] of the report so far).
pub type Decide<'a> = dyn FnMut() -> Option<Result<Chain, ChainError>> + 'a;

/// A binary built next to `scxray` (same cargo target dir or install dir).
pub fn sibling_binary(name: &str, env: &str) -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().context("cannot locate the scxray binary")?;
    let dir = exe
        .parent()
        .context("scxray binary has no parent directory")?;
    // Test binaries live in target/<profile>/deps: look one level up too.
    for d in [dir, dir.parent().unwrap_or(dir)] {
        let p = d.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    anyhow::bail!(
        "{name} not found next to {}: build it with `cargo build -p scxray-probes` (scripts/try.sh does), or set {env}",
        exe.display()
    )
}

/// Resolves the kernel and binaries into a plan, plus the report's facts.
pub fn plan(
    req: &RunRequest,
    on_stage: &mut dyn FnMut(&str),
) -> anyhow::Result<(RunPlan, RunMeta)> {
    let cache = KernelCache::from_env().context("cannot find scxray's cache directory")?;
    let kernel = match resolve_kernel(req.kernel.as_deref()) {
        Ok(k) => k,
        Err(e) if req.kernel.is_none() && std::env::var_os("SCXRAY_KERNEL").is_none() => {
            // No kernel at all: fetch Debian's sched_ext kernel once.
            on_stage(&format!(
                "no sched_ext kernel cached ({e}); fetching Debian's trixie-backports cloud kernel"
            ));
            fetch_kernel(&cache, on_stage)?;
            resolve_kernel(None)?
        }
        Err(e) => return Err(e.into()),
    };
    let agent = sibling_binary("scxray-agent", "SCXRAY_AGENT")?;
    let scheduler = match &req.scheduler {
        Some(p) => p.clone(),
        None => sibling_binary("scx-demo", "SCXRAY_DEMO_SCHEDULER")?,
    };
    let chosen = backend(req.backend, &req.backend_asked_by, &kernel.image)?;
    on_stage(&format!("backend: {}", chosen.why));
    let name = scheduler
        .file_name()
        .map_or_else(|| "scheduler".into(), |n| n.to_string_lossy().into_owned());
    let plan = RunPlan {
        kernel_image: kernel.image.clone(),
        agent,
        scheduler,
        args: req.args.clone(),
        includes: req.includes.clone(),
        lib_dirs: req.lib_dirs.clone(),
        scenario: req.scenario.clone(),
        topology: req.topology,
        memory_mib: req.memory_mib,
        attach_timeout: Duration::from_secs(20),
        cache_dir: cache.root().join("runs"),
        cmdline: if req.nokaslr {
            scxray_vmm::qemu::NOKASLR.to_string()
        } else {
            String::new()
        },
        btf: kernel.btf.clone(),
        vmlinux: kernel.vmlinux.clone(),
        probes: req.probes.clone(),
        park: false,
        input: None,
        parked_for: Duration::ZERO,
        freeze: req.freeze,
        // As asked: `auto` decides again for each boot from the cached
        // probe, keeping its fallback to QEMU.
        backend: req.backend,
    };
    let meta = RunMeta {
        test_name: req.test_name.clone(),
        scheduler: name,
        kernel: kernel.version.clone(),
        cpus: req.topology.cpus(),
        topology: Some(req.topology),
        scenario: req.scenario_name.clone(),
        backend: chosen.backend.name().into(),
        decoder: kernel.btf.as_deref().and_then(field_decoder).map(Box::new),
        kernel_debug: kernel.debug_vmlinux.clone(),
        thresholds: req.thresholds,
    };
    Ok((plan, meta))
}

/// Auto-repro's field decoders with the kernel's own `scx.flags` table,
/// read from its BTF; `None` when it cannot be read (the table is then
/// picked by release).
fn field_decoder(btf: &Path) -> Option<FieldDecoder> {
    let bytes = std::fs::read(btf).ok()?;
    let btf = scxray::btf::Btf::parse(&bytes).ok()?;
    Some(FieldDecoder {
        scx_flags: ScxTaskFlags::from_btf(&btf).ok()?,
        task_states: TaskStates::classic(),
    })
}

fn fetch_kernel(cache: &KernelCache, on_stage: &mut dyn FnMut(&str)) -> anyhow::Result<()> {
    let cancel = scxray_vmm::cancel::on_interrupt().context("cannot install the Ctrl-C handler")?;
    let mut lines = scxray_vmm::kernel::fetch::ProgressLines::default();
    scxray_vmm::kernel::fetch::fetch(cache, &Default::default(), &cancel, &mut |p| {
        if let Some(l) = lines.line(p) {
            on_stage(&l);
        }
    })
    .context("fetching a sched_ext kernel failed")?;
    Ok(())
}

/// Runs the plan on the QEMU backend, handing every event to `on_event`;
/// then, if the scheduler crashed and `repro` asks for it, the auto-repro
/// runs (events wrapped in [`Event::Repro`]). `decide` is asked once, after
/// the test run's last event. Returns how the test run ended.
///
/// The first repro VM boots alongside the test run and parks before its
/// scheduler loads ([`RunPlan::park`]); once the crash chain is known it is
/// told which probes to attach, so its boot costs no wall time. When the
/// test run passes (or is cancelled) the parked VM is torn down unseen.
/// `SCXRAY_PARK_REPRO=0` boots it only after the crash instead.
pub fn execute(
    plan: &RunPlan,
    repro: ReproOptions,
    cancel: &Cancel,
    on_event: &mut dyn FnMut(Event, u64),
    decide: &mut Decide<'_>,
) -> anyhow::Result<RunResult> {
    let backend = backend(plan.backend, "the run's choice", &plan.kernel_image)?.backend;
    execute_on(plan, &backend, repro, cancel, on_event, decide)
}

/// [`execute`] on a given backend.
pub fn execute_on(
    plan: &RunPlan,
    backend: &(dyn Backend + Sync),
    repro: ReproOptions,
    cancel: &Cancel,
    on_event: &mut dyn FnMut(Event, u64),
    decide: &mut Decide<'_>,
) -> anyhow::Result<RunResult> {
    let t0 = std::time::Instant::now();
    if !repro.enabled || repro.runs == 0 {
        return Ok(session::run(plan, backend, cancel, on_event)?);
    }
    if std::env::var("SCXRAY_PARK_REPRO").as_deref() == Ok("0") {
        let result = session::run(plan, backend, cancel, on_event)?;
        if let Some(chain) = decide().filter(|_| !cancel.is_cancelled()) {
            let offset = t0.elapsed().as_millis() as u64;
            repro_runs(
                plan,
                &chain,
                1,
                repro.runs,
                backend,
                cancel,
                &mut |ev, at| on_event(ev, offset + at),
            );
        }
        return Ok(result);
    }
    let input = GuestInput::new();
    let mut parked_plan = plan.clone();
    parked_plan.park = true;
    parked_plan.input = Some(input.clone());
    parked_plan.probes = Vec::new();
    // It waits for the whole test run before its own begins.
    parked_plan.parked_for = plan.deadline();
    let park_cancel = Cancel::new();
    let (tx, rx) = mpsc::channel::<(Event, u64)>();
    let parked_done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let (parked_plan, backend_ref, park, done) =
            (&parked_plan, backend, &park_cancel, &parked_done);
        // `tx` moves in: the events end when this thread does.
        let parked = s.spawn(move || {
            let r = session::run(parked_plan, backend_ref, park, &mut |ev, at| {
                let _ = tx.send((ev, at));
            });
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            r
        });
        // Ctrl-C reaches the parked VM too.
        s.spawn(|| {
            while !parked_done.load(std::sync::atomic::Ordering::Relaxed) {
                if cancel.is_cancelled() {
                    park_cancel.cancel();
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let result = session::run(plan, backend, cancel, on_event);
        let chain = match &result {
            Ok(_) if !cancel.is_cancelled() => decide(),
            _ => None,
        };
        let Some(chain) = chain else {
            park_cancel.cancel();
            return result.map_err(Into::into);
        };
        let order = HostOrder::Run {
            probes: chain.as_ref().map(Chain::probe_targets).unwrap_or_default(),
        };
        let mut order = Some(order);
        let wrap = |event: Event| Event::Repro {
            run: 1,
            of: repro.runs,
            event: Box::new(event),
        };
        // Its events so far, then the rest as they come; the order goes
        // out once the agent says it is parked.
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok((event, at)) => {
                    let parked_now = matches!(&event,
                        Event::Record(Record::Stage { name, .. }) if name == "parked");
                    on_event(wrap(event), at);
                    if parked_now {
                        if let Some(o) = order.take() {
                            input.send(o.to_line());
                        }
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        let parked = parked.join();
        // Booted ahead but failed before parking (a boot crash under TCG):
        // run 1 boots again now, like any repro run whose boot failed.
        let first = match &parked {
            Ok(Ok(r)) if order.is_some() && !cancel.is_cancelled() => match boot_failure(r) {
                Some(why) => {
                    on_event(wrap(Event::Restart(why)), t0.elapsed().as_millis() as u64);
                    1
                }
                None => 2,
            },
            _ => 2,
        };
        match parked {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                let message = format!(
                    "auto-repro run 1 could not start: {}",
                    crate::error_text::chain(&e)
                );
                on_event(
                    wrap(Event::End(GuestEnd::Failed { message })),
                    t0.elapsed().as_millis() as u64,
                );
            }
            Err(_) => {
                let message = "auto-repro run 1: its thread panicked".to_string();
                on_event(
                    wrap(Event::End(GuestEnd::Failed { message })),
                    t0.elapsed().as_millis() as u64,
                );
            }
        }
        if repro.runs >= first && !cancel.is_cancelled() {
            let offset = t0.elapsed().as_millis() as u64;
            repro_runs(
                plan,
                &chain,
                first,
                repro.runs,
                backend,
                cancel,
                &mut |ev, at| on_event(ev, offset + at),
            );
        }
        result.map_err(Into::into)
    })
}

/// Asks whoever folds the run's events (through `feed`) what auto-repro
/// should reproduce; `None` when nothing, or when the folder is gone.
fn ask_plan(feed: &mpsc::Sender<Feed>) -> Option<Result<Chain, ChainError>> {
    let (answer, rx) = mpsc::channel();
    let ask = Feed::Ask(Box::new(move |live: &LiveRun| {
        let _ = answer.send(scxray::repro::plan(&live.report()));
    }));
    feed.send(ask).ok()?;
    rx.recv().ok().flatten()
}

/// The backend `choice` names for `kernel`: `auto` takes the own KVM VMM
/// where QEMU's KVM probe boot of this kernel works (cached), else QEMU.
pub fn backend(choice: BackendChoice, asked_by: &str, kernel: &Path) -> anyhow::Result<Chosen> {
    Ok(scxray_vmm::choose::choose(
        choice,
        asked_by,
        qemu_backend()?,
        kernel,
        &Cancel::new(),
    )?)
}

/// The QEMU backend as runs configure it.
fn qemu_backend() -> anyhow::Result<scxray_vmm::qemu::QemuBackend> {
    // Single-threaded TCG: sched_ext flips static keys (kernel text patched
    // through int3) when a scheduler attaches and when it dies, and QEMU 7.2's
    // multi-threaded TCG races with that often enough to oops the guest right
    // after the crash under test. About 20% slower; KVM is not affected.
    // SCXRAY_TCG_THREADS=multi opts back in.
    let threads = match std::env::var("SCXRAY_TCG_THREADS").as_deref() {
        Ok("multi") => TcgThreads::Multi,
        _ => TcgThreads::Single,
    };
    Ok(scxray_vmm::qemu::QemuBackend::from_env()?.tcg_threads(threads))
}

/// Auto-repro runs `first..=runs` of `runs`: fresh VMs with `plan`'s
/// scheduler, workload and topology, probes on `chain` (none for a stall),
/// each event wrapped in [`Event::Repro`] and timed in ms since this call.
/// A run whose guest fails before its agent starts is booted once more
/// ([`Event::Restart`]). Stops early on cancellation; a run that cannot
/// start ends the series with its error.
pub fn repro_runs(
    plan: &RunPlan,
    chain: &Result<Chain, ChainError>,
    first: u32,
    runs: u32,
    backend: &dyn scxray_vmm::backend::Backend,
    cancel: &Cancel,
    on_event: &mut dyn FnMut(Event, u64),
) {
    let t0 = std::time::Instant::now();
    let mut repro_plan = plan.clone();
    // A stall gets no probes (ktstr: status line and tails only).
    repro_plan.probes = chain.as_ref().map(Chain::probe_targets).unwrap_or_default();
    for run in first..=runs {
        let mut booted_again = false;
        loop {
            if cancel.is_cancelled() {
                return;
            }
            let base = t0.elapsed().as_millis() as u64;
            let mut wrap = |event: Event, at: u64| {
                on_event(
                    Event::Repro {
                        run,
                        of: runs,
                        event: Box::new(event),
                    },
                    base + at,
                )
            };
            match session::run(&repro_plan, backend, cancel, &mut wrap) {
                Err(e) => {
                    let message = format!(
                        "auto-repro run {run} could not start: {}",
                        crate::error_text::chain(&e)
                    );
                    wrap(Event::End(GuestEnd::Failed { message }), 0);
                    return;
                }
                Ok(result) => match boot_failure(&result) {
                    Some(why) if !booted_again && !cancel.is_cancelled() => {
                        booted_again = true;
                        wrap(
                            Event::Restart(why),
                            (t0.elapsed().as_millis() as u64).saturating_sub(base),
                        );
                    }
                    _ => break,
                },
            }
        }
    }
}

/// Why a repro guest is worth booting again: it ended before its agent
/// said hello (a kernel crash while booting, QEMU or the VMM failing), so
/// it says nothing about the crash being reproduced. `None` when it got
/// that far, hung, or was cancelled.
fn boot_failure(result: &RunResult) -> Option<String> {
    use scxray_vmm::backend::ExitHow;
    let exit = &result.exit;
    if exit.to_hello.is_some() {
        return None;
    }
    match exit.how {
        ExitHow::BootOops { .. }
        | ExitHow::Panicked { .. }
        | ExitHow::QemuDied { .. }
        | ExitHow::VmmFailed { .. } => Some(exit.how.to_string()),
        ExitHow::PoweredOff | ExitHow::Watchdog { .. } | ExitHow::Cancelled { .. } => None,
    }
}

/// The exit of a run in one line, for the status bar and stderr.
pub fn describe(result: &anyhow::Result<RunResult>) -> String {
    match result {
        Ok(r) => format!("run finished: {}", r.exit.how),
        Err(e) => format!("run failed: {}", crate::error_text::chain(e.as_ref())),
    }
}

/// Live: the TUI shows the run as it happens, from the kernel fetch on, and
/// stays open on the final report. Quitting early cancels the run (the guest
/// is torn down). Returns the final state and how the run ended.
pub fn run_live(
    req: RunRequest,
    meta: RunMeta,
    options: crate::OpenOptions,
) -> anyhow::Result<(LiveRun, anyhow::Result<RunResult>)> {
    let cancel = Cancel::new();
    let mut live = LiveRun::new(meta);
    live.apply(Event::Stage(scxray::run::live::Stage::FetchingKernel), 0);
    let mut app = crate::App::new(live.report(), "starting").with_clean(options.clean);
    app.set_source_roots(options.source_roots);
    if let Some(theme) = options.theme {
        app = app.with_theme(theme);
    }
    if let Some(keymap) = options.keymap {
        app = app.with_keymap(keymap);
    }
    let mut feed = None;
    let mut handle = None;
    let thread_cancel = cancel.clone();
    let ui = crate::run_app(app, |tx| {
        // The report is built on the feed thread; the UI only shows frames.
        let live_feed = LiveFeed::spawn(live, REBUILD_INTERVAL, move |update| {
            tx.send(match update {
                Update::Frame(frame) => crate::AppEvent::LiveFrame(frame),
                Update::Title(title) => crate::AppEvent::LiveTitle(title),
                Update::Done(message) => crate::AppEvent::RunDone(message),
            })
            .is_ok()
        })
        .context("cannot start the live report thread")?;
        let events = live_feed.sender();
        feed = Some(live_feed);
        let h = std::thread::Builder::new()
            .name("scxray-run".into())
            .spawn(move || {
                let t0 = std::time::Instant::now();
                let send = |ev: Event, at: u64| {
                    let _ = events.send(Feed::Event(ev, at));
                };
                let result = plan(&req, &mut |line| {
                    send(
                        Event::Note(line.to_string()),
                        t0.elapsed().as_millis() as u64,
                    )
                })
                .and_then(|(plan, meta)| {
                    let offset = t0.elapsed().as_millis() as u64;
                    send(Event::Meta(Box::new(meta)), offset);
                    let mut decide = || ask_plan(&events);
                    // One clock for the whole run, kernel fetch included.
                    execute(
                        &plan,
                        req.repro,
                        &thread_cancel,
                        &mut |ev, at| send(ev, offset + at),
                        &mut decide,
                    )
                });
                if let Err(e) = &result {
                    let message = crate::error_text::chain(e.as_ref());
                    send(
                        Event::End(scxray::run::live::GuestEnd::Failed { message }),
                        t0.elapsed().as_millis() as u64,
                    );
                }
                let _ = events.send(Feed::Done(describe(&result)));
                result
            })
            .context("cannot start the run thread")?;
        handle = Some(h);
        Ok(())
    });
    // Whatever happened to the UI, the guest must not outlive it.
    cancel.cancel();
    let result = match handle {
        Some(h) => h
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the run thread panicked"))),
        None => Err(anyhow::anyhow!("the run did not start")),
    };
    ui?;
    let live = feed.context("the run did not start")?.finish()?;
    Ok((live, result))
}

/// Where finished run reports go: `$XDG_STATE_HOME/scxray/runs/` (or
/// `~/.local/state/...`).
pub fn report_dir() -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("scxray/runs")
}

/// Writes the report in ktstr's layout; returns its path. With `run`, the
/// run's description goes next to it ([`SavedRun::path_for`]), so that
/// `scxray repro` can repeat it.
pub fn save_report(
    report: &Report,
    meta: &RunMeta,
    dir: &Path,
    run: Option<&SavedRun>,
) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Two runs may end in the same second: each name is created exclusively,
    // so a report never replaces another and the path printed is this run's.
    let mut created = None;
    for n in 1..1000 {
        let suffix = if n == 1 {
            String::new()
        } else {
            format!("-{n}")
        };
        let p = dir.join(format!(
            "{stamp}-{}-{}{suffix}.txt",
            file_word(&meta.test_name),
            file_word(&meta.scheduler)
        ));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&p)
        {
            Ok(f) => {
                created = Some((p, f));
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", p.display())),
        }
    }
    let (path, mut file) = created.with_context(|| {
        format!(
            "cannot create a report file in {}: 999 taken",
            dir.display()
        )
    })?;
    std::io::Write::write_all(&mut file, scxray::write::to_ktstr(report).as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    if let Some(run) = run {
        let side = SavedRun::path_for(&path);
        let json = serde_json::to_vec_pretty(run).unwrap_or_default();
        std::fs::write(&side, json).with_context(|| format!("cannot write {}", side.display()))?;
    }
    Ok(path)
}

/// `word` as a piece of a file name: `--name ../x` must not leave the
/// report directory, nor a scheduler's name make a hidden or odd file.
fn file_word(word: &str) -> String {
    let w: String = word
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if w.is_empty() {
        "run".into()
    } else {
        w
    }
}

/// What `scxray repro` needs to repeat a saved run: the request as given,
/// and the kernel release it ran on.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SavedRun {
    /// `--kernel` as given (`None`: the newest cached kernel).
    pub kernel: Option<PathBuf>,
    pub kernel_release: String,
    /// `None`: the bundled demo scheduler.
    pub scheduler: Option<PathBuf>,
    pub args: Vec<String>,
    pub includes: Vec<PathBuf>,
    #[serde(default)]
    pub lib_dirs: Vec<PathBuf>,
    #[serde(default)]
    pub thresholds: Thresholds,
    pub scenario: Scenario,
    pub scenario_name: String,
    pub cpus: u32,
    /// Absent in runs saved before `--topology`: `cpus` flat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology: Option<Topology>,
    pub memory_mib: u32,
    pub test_name: String,
    #[serde(default)]
    pub nokaslr: bool,
    #[serde(default = "yes")]
    pub freeze: bool,
}

fn yes() -> bool {
    true
}

impl SavedRun {
    pub fn of(req: &RunRequest, kernel_release: &str) -> SavedRun {
        SavedRun {
            kernel: req.kernel.clone(),
            kernel_release: kernel_release.to_string(),
            scheduler: req.scheduler.clone(),
            args: req.args.clone(),
            includes: req.includes.clone(),
            lib_dirs: req.lib_dirs.clone(),
            thresholds: req.thresholds,
            scenario: req.scenario.clone(),
            scenario_name: req.scenario_name.clone(),
            cpus: req.topology.cpus(),
            topology: Some(req.topology),
            memory_mib: req.memory_mib,
            test_name: req.test_name.clone(),
            nokaslr: req.nokaslr,
            freeze: req.freeze,
        }
    }

    /// The request that repeats it.
    pub fn request(&self, repro: ReproOptions) -> RunRequest {
        RunRequest {
            kernel: self.kernel.clone(),
            scheduler: self.scheduler.clone(),
            args: self.args.clone(),
            includes: self.includes.clone(),
            lib_dirs: self.lib_dirs.clone(),
            thresholds: self.thresholds,
            scenario: self.scenario.clone(),
            scenario_name: self.scenario_name.clone(),
            topology: self.topology.unwrap_or(Topology::flat(self.cpus)),
            memory_mib: self.memory_mib,
            test_name: self.test_name.clone(),
            probes: Vec::new(),
            repro,
            nokaslr: self.nokaslr,
            freeze: self.freeze,
            backend: BackendChoice::Auto,
            backend_asked_by: "auto (a saved run's default)".into(),
        }
    }

    /// `REPORT.run.json` for `REPORT.txt`.
    pub fn path_for(report: &Path) -> PathBuf {
        report.with_extension("run.json")
    }
}

/// Headless: print stages to stderr, return the final state.
pub fn run_headless(
    plan: &RunPlan,
    meta: RunMeta,
    repro: ReproOptions,
    cancel: &Cancel,
) -> anyhow::Result<(LiveRun, RunResult)> {
    let (tx, rx) = mpsc::channel::<Feed>();
    let mut live = LiveRun::new(meta);
    let result = std::thread::scope(|s| {
        let worker = s.spawn(move || {
            let asks = tx.clone();
            let mut decide = || ask_plan(&asks);
            execute(
                plan,
                repro,
                cancel,
                &mut |ev, at| {
                    let _ = tx.send(Feed::Event(ev, at));
                },
                &mut decide,
            )
        });
        let mut last = String::new();
        let mut fold = |feed: Feed, live: &mut LiveRun| match feed {
            Feed::Event(ev, at) => {
                live.apply(ev, at);
                let label = live.stage.label();
                if label != last {
                    eprintln!("scxray: [{:>6.2}s] {label}", at as f64 / 1000.0);
                    last = label;
                }
            }
            Feed::Ask(question) => question(live),
            Feed::Done(_) => {}
        };
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(feed) => fold(feed, &mut live),
                Err(mpsc::RecvTimeoutError::Timeout) if worker.is_finished() => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        // Drain what arrived after the last poll.
        while let Ok(feed) = rx.try_recv() {
            fold(feed, &mut live);
        }
        worker
            .join()
            .map_err(|_| anyhow::anyhow!("the run thread panicked"))?
    })?;
    Ok((live, result))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str) -> RunMeta {
        RunMeta {
            test_name: name.into(),
            scheduler: "scx_mine".into(),
            ..RunMeta::default()
        }
    }

    /// Many runs ending at once (the same second): every report is kept,
    /// and each returned path holds that run's report.
    #[test]
    fn reports_saved_at_once_never_replace_each_other() {
        let d = tempfile::tempdir().unwrap();
        let paths: Vec<(usize, PathBuf)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let dir = d.path();
                    s.spawn(move || {
                        let mut report = scxray::parse::parse_str("");
                        report.header.test_name = Some(format!("run {i}"));
                        (i, save_report(&report, &meta("same"), dir, None).unwrap())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut names: Vec<_> = paths.iter().map(|(_, p)| p.clone()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 8, "{names:?}");
        for (i, p) in paths {
            let text = std::fs::read_to_string(&p).unwrap();
            assert!(
                text.contains(&format!("ktstr_test 'run {i}'")),
                "{p:?}: {text}"
            );
        }
    }

    #[test]
    fn report_names_stay_in_their_directory() {
        let d = tempfile::tempdir().unwrap();
        let p = save_report(
            &scxray::parse::parse_str(""),
            &meta("../../escape"),
            d.path(),
            None,
        )
        .unwrap();
        assert_eq!(p.parent(), Some(d.path()));
        assert!(p
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .contains("-______escape-scx_mine"));
    }
}
