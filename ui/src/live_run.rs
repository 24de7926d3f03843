//! `scxray demo` and `scxray run`: plan a run, drive it through the VM
//! session, and keep the live state the panes show. Headless mode prints the
//! ktstr-format report; the live TUI shows the same state as it changes.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use crate::live_feed::{Feed, LiveFeed, Update, REBUILD_INTERVAL};
use anyhow::Context;
use scxray::report::Report;
use scxray::run::live::{Event, LiveRun, RunMeta};
use scxray::run::scenario::Scenario;
use scxray_vmm::cancel::Cancel;
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
    pub scenario: Scenario,
    pub scenario_name: String,
    pub cpus: u32,
    pub memory_mib: u32,
    pub test_name: String,
    /// Experimental `--probe` targets, passed to the guest agent.
    pub probes: Vec<String>,
}

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
    let name = scheduler
        .file_name()
        .map_or_else(|| "scheduler".into(), |n| n.to_string_lossy().into_owned());
    let plan = RunPlan {
        kernel_image: kernel.image.clone(),
        agent,
        scheduler,
        args: req.args.clone(),
        includes: req.includes.clone(),
        scenario: req.scenario.clone(),
        cpus: req.cpus,
        memory_mib: req.memory_mib,
        attach_timeout: Duration::from_secs(20),
        cache_dir: cache.root().join("runs"),
        cmdline: String::new(),
        btf: kernel.btf.clone(),
        vmlinux: kernel.vmlinux.clone(),
        probes: req.probes.clone(),
    };
    let meta = RunMeta {
        test_name: req.test_name.clone(),
        scheduler: name,
        kernel: kernel.version.clone(),
        cpus: req.cpus,
        scenario: req.scenario_name.clone(),
        backend: "qemu".into(),
    };
    Ok((plan, meta))
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

/// Runs the plan on the QEMU backend, handing every event to `on_event`.
pub fn execute(
    plan: &RunPlan,
    cancel: &Cancel,
    on_event: &mut dyn FnMut(Event, u64),
) -> anyhow::Result<RunResult> {
    // Single-threaded TCG: sched_ext flips static keys (kernel text patched
    // through int3) when a scheduler attaches and when it dies, and QEMU 7.2's
    // multi-threaded TCG races with that often enough to oops the guest right
    // after the crash under test. About 20% slower; KVM is not affected.
    // SCXRAY_TCG_THREADS=multi opts back in.
    let threads = match std::env::var("SCXRAY_TCG_THREADS").as_deref() {
        Ok("multi") => TcgThreads::Multi,
        _ => TcgThreads::Single,
    };
    let backend = scxray_vmm::qemu::QemuBackend::from_env()?.tcg_threads(threads);
    Ok(session::run(plan, &backend, cancel, on_event)?)
}

/// The exit of a run in one line, for the status bar and stderr.
pub fn describe(result: &anyhow::Result<RunResult>) -> String {
    match result {
        Ok(r) => format!("run finished: {}", r.exit.how),
        Err(e) => format!("run failed: {e:#}"),
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
                    send(Event::Meta(meta), offset);
                    // One clock for the whole run, kernel fetch included.
                    execute(&plan, &thread_cancel, &mut |ev, at| send(ev, offset + at))
                });
                if let Err(e) = &result {
                    let message = format!("{e:#}");
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

/// Writes the report in ktstr's layout; returns its path.
pub fn save_report(report: &Report, meta: &RunMeta, dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let path = dir.join(format!("{stamp}-{}-{}.txt", meta.test_name, meta.scheduler));
    std::fs::write(&path, scxray::write::to_ktstr(report))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// Headless: print stages to stderr, return the final state.
pub fn run_headless(
    plan: &RunPlan,
    meta: RunMeta,
    cancel: &Cancel,
) -> anyhow::Result<(LiveRun, RunResult)> {
    let (tx, rx) = mpsc::channel();
    let mut live = LiveRun::new(meta);
    let result = std::thread::scope(|s| {
        let worker = s.spawn(move || {
            execute(plan, cancel, &mut |ev, at| {
                let _ = tx.send((ev, at));
            })
        });
        let mut last = String::new();
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok((ev, at)) => {
                    live.apply(ev, at);
                    let label = live.stage.label();
                    if label != last {
                        eprintln!("scxray: [{:>6.2}s] {label}", at as f64 / 1000.0);
                        last = label;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) if worker.is_finished() => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        // Drain what arrived after the last poll.
        while let Ok((ev, at)) = rx.try_recv() {
            live.apply(ev, at);
        }
        worker
            .join()
            .map_err(|_| anyhow::anyhow!("the run thread panicked"))?
    })?;
    Ok((live, result))
}
