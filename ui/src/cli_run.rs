//! `scxray demo` and `scxray run`: the live test VM from the command line.
//!
//! Exit codes: see [`EXIT_CODES`], which `--help` prints.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use scxray::run::live::{GuestEnd, LiveRun};
use scxray::run::scenario::Scenario;
use scxray::run::topology::{Topology, TopologyError};
use scxray_ui::live_run::{self, RunRequest};
use scxray_vmm::choose::{BackendChoice, BACKEND_ENV};

/// The exit codes of `demo` and `run`, for their `--help`. A scheduler that
/// never attaches has a code of its own: CI must tell "scxray could not run"
/// (fix the setup) from "your scheduler would not start" (fix the scheduler).
pub const EXIT_CODES: &str = "\
Exit codes:
  0    the scheduler survived the scenario
  1    the scheduler crashed (also when cancelled after the crash was captured:
       the report holds the whole crash)
  2    scxray could not run (bad arguments, no kernel, the VM or the TUI could not start)
  3    the guest failed (hung, kernel panic)
  4    the scheduler would not start or never attached to sched_ext
  130  cancelled before any crash (Ctrl-C, SIGTERM, SIGHUP, or q in the TUI)";

/// Options shared by `demo` and `run`.
#[derive(Args, Debug, Clone)]
pub struct VmArgs {
    /// Kernel image or build tree (else $SCXRAY_KERNEL, the newest cached kernel,
    /// the host's kernel if it has sched_ext; `demo` fetches one if none).
    #[arg(long, value_name = "PATH")]
    pub kernel: Option<PathBuf>,
    /// Guest CPUs (one NUMA node, one LLC, single-thread cores). Default 2.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=64), conflicts_with = "topology")]
    pub cpus: Option<u32>,
    /// Guest CPU topology in ktstr's form <nodes>n<llcs>l<cores>c<threads>t,
    /// e.g. 1n2l4c1t: LLCs spread evenly over the nodes, cores per LLC,
    /// threads per core. The guest's view (sysfs) is checked against it.
    #[arg(long, value_name = "TOPO", value_parser = topology_arg)]
    pub topology: Option<Topology>,
    /// Guest memory in MiB.
    #[arg(long, default_value_t = 768, value_parser = clap::value_parser!(u32).range(128..=65536))]
    pub memory: u32,
    /// Print stages on stderr and the ktstr-format report on stdout, no TUI (for CI).
    #[arg(long)]
    pub headless: bool,
    /// Colour theme for the TUI.
    #[arg(long, value_name = "NAME", default_value = "dark")]
    pub theme: String,
    /// A source directory for the Backtrace pane's frame lookup. Repeatable.
    #[arg(long, value_name = "DIR")]
    pub source: Vec<PathBuf>,
    /// Experimental: probe FUNCTION in the guest and add what the probes saw
    /// to the report (`--- probe events ---`). A kernel function gets a
    /// kprobe, a function of the scheduler's BPF programs an fentry
    /// (`kernel:` or `bpf:` before the name picks one); a sched_ext_exit
    /// trigger comes with them. Repeatable.
    #[arg(long, value_name = "FUNCTION", hide_short_help = true, value_parser = probe_target)]
    pub probe: Vec<String>,
    /// Do not rerun a crash in a second VM with probes on its crash chain
    /// (the report then has no `--- auto-repro ---` section).
    #[arg(long)]
    pub no_auto_repro: bool,
    /// Auto-repro runs after a crash (each a fresh VM); with more than one
    /// the section says how many crashed again with the same signature.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub repro_runs: u32,
    /// Boot the guest with `nokaslr` (KASLR is on by default; the host
    /// monitor finds the kernel's layout in guest memory either way).
    #[arg(long)]
    pub nokaslr: bool,
    /// Do not freeze the guest when the scheduler errors (the report then
    /// has no `--- failure dump ---`; by default a write watchpoint on
    /// `scx_sched.exit_kind` stops every vCPU at the error and the host
    /// reads the runqueues, DSQs, tasks and BPF maps).
    #[arg(long)]
    pub no_freeze: bool,
    /// Which VMM boots the guest: `kvm` (scxray's own, on /dev/kvm), `qemu`,
    /// or `auto` (the own VMM where a probe boot shows /dev/kvm runs this
    /// kernel, else QEMU, and QEMU again should the own VMM fail to boot
    /// the guest; the run's diagnostics say which and why). Default:
    /// $SCXRAY_BACKEND, else auto.
    #[arg(long, value_name = "BACKEND", value_parser = ["auto", "kvm", "qemu"])]
    pub backend: Option<String>,
    #[command(flatten)]
    pub monitor: crate::cli_monitor::MonitorArgs,
}

/// `--topology`: ktstr's form, with counts a guest can have.
fn topology_arg(s: &str) -> Result<Topology, String> {
    let t: Topology = s.parse().map_err(|e: TopologyError| e.to_string())?;
    t.check(scxray_vmm::backend::MAX_CPUS)
        .map_err(|e| e.to_string())?;
    Ok(t)
}

impl VmArgs {
    /// `--topology`, else `--cpus N` flat (2 by default), with the
    /// `--memory` its nodes need.
    fn topology(&self) -> anyhow::Result<Topology> {
        let t = self
            .topology
            .unwrap_or(Topology::flat(self.cpus.unwrap_or(2)));
        let need = t.numa_nodes * scxray_vmm::backend::MIN_NODE_MIB;
        if self.memory < need {
            anyhow::bail!(
                "--memory {} is too little for --topology {t}: each of its {} NUMA nodes needs {} MiB; pass --memory {need} or more",
                self.memory,
                t.numa_nodes,
                scxray_vmm::backend::MIN_NODE_MIB
            );
        }
        Ok(t)
    }

    fn backend(&self) -> anyhow::Result<BackendChoice> {
        Ok(match &self.backend {
            Some(b) => b.parse()?,
            None => BackendChoice::from_env()?,
        })
    }

    fn backend_asked_by(&self) -> String {
        match (&self.backend, std::env::var(BACKEND_ENV)) {
            (Some(b), _) => format!("--backend {b}"),
            (None, Ok(v)) => format!("{BACKEND_ENV}={v}"),
            (None, Err(_)) => "auto".into(),
        }
    }

    fn repro(&self) -> live_run::ReproOptions {
        live_run::ReproOptions {
            enabled: !self.no_auto_repro,
            runs: self.repro_runs,
        }
    }
}

fn probe_target(s: &str) -> Result<String, scxray::run::scenario::ProbeTargetError> {
    scxray::run::scenario::check_probe_target(s).map(|_| s.to_string())
}

/// Workload sizing when no scenario file is given.
#[derive(Args, Debug, Clone)]
pub struct WorkloadArgs {
    /// A TOML scenario file (`[[phases]]` with `name`, `duration_ms`, `cgroups`).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["phase_ms", "workers"])]
    pub scenario: Option<PathBuf>,
    /// Length of each standard phase (spin, sleep-wake, fork).
    #[arg(long, value_name = "MS", default_value_t = 1500)]
    pub phase_ms: u64,
    /// Workers per cgroup (two cgroups per phase).
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub workers: u32,
}

impl WorkloadArgs {
    fn scenario(&self) -> anyhow::Result<(Scenario, String)> {
        match &self.scenario {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read scenario {}", p.display()))?;
                let s =
                    Scenario::from_toml(&text).with_context(|| format!("in {}", p.display()))?;
                Ok((
                    s,
                    p.file_stem()
                        .map_or_else(|| "custom".into(), |n| n.to_string_lossy().into_owned()),
                ))
            }
            None => {
                let s = Scenario::standard(self.phase_ms, self.workers);
                s.check()?;
                Ok((s, "standard".into()))
            }
        }
    }
}

/// How the demo scheduler fails.
#[derive(ValueEnum, Debug, Clone, Copy)]
pub enum DemoCrash {
    /// scx_bpf_error() from a nested BPF function (exit kind 1025).
    ScxBpfError,
    /// A task is never dispatched: runnable task stall (1026).
    Stall,
    /// Dispatch to a DSQ that does not exist: runtime error (1024).
    BadDsq,
    /// select_cpu returns an invalid CPU: runtime error (1024).
    BadCpu,
    /// No failure: the scheduler should survive.
    None,
}

/// `scxray demo`.
#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// The failure to trigger.
    #[arg(long, value_enum, default_value = "scx-bpf-error")]
    pub crash: DemoCrash,
    #[command(flatten)]
    pub vm: VmArgs,
    #[command(flatten)]
    pub workload: WorkloadArgs,
}

/// `scxray run`.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// The scheduler binary to test (its shared libraries are copied into the guest).
    #[arg(long, value_name = "PATH")]
    pub scheduler: PathBuf,
    /// Extra files for the guest, at the same path. Repeatable.
    #[arg(long, value_name = "FILE")]
    pub include: Vec<PathBuf>,
    /// A directory searched first for the scheduler's shared libraries (a
    /// newer libbpf, say), like an LD_LIBRARY_PATH entry; the host's
    /// LD_LIBRARY_PATH is honoured after it. Repeatable.
    #[arg(long, value_name = "DIR")]
    pub lib_dir: Vec<PathBuf>,
    /// A name for the report.
    #[arg(long, default_value = "run")]
    pub name: String,
    #[command(flatten)]
    pub vm: VmArgs,
    #[command(flatten)]
    pub workload: WorkloadArgs,
    /// Arguments for the scheduler (after `--`).
    #[arg(last = true)]
    pub args: Vec<String>,
}

pub fn demo(a: DemoArgs) -> anyhow::Result<ExitCode> {
    scxray::run::scenario::check_probe_targets(&a.vm.probe)?;
    let args: Vec<String> = match a.crash {
        DemoCrash::ScxBpfError => vec!["--crash-after".into(), "400".into()],
        DemoCrash::Stall => vec!["--stall-after".into(), "1".into()],
        DemoCrash::BadDsq => vec!["--bad-dsq".into()],
        DemoCrash::BadCpu => vec!["--bad-cpu".into()],
        DemoCrash::None => Vec::new(),
    };
    let (scenario, scenario_name) = a.workload.scenario()?;
    let req = RunRequest {
        kernel: a.vm.kernel.clone(),
        scheduler: None,
        args,
        includes: Vec::new(),
        lib_dirs: lib_dirs(&[])?,
        thresholds: a.vm.monitor.thresholds()?,
        scenario,
        scenario_name,
        topology: a.vm.topology()?,
        memory_mib: a.vm.memory,
        test_name: "demo".into(),
        probes: a.vm.probe.clone(),
        repro: a.vm.repro(),
        nokaslr: a.vm.nokaslr,
        freeze: !a.vm.no_freeze,
        backend: a.vm.backend()?,
        backend_asked_by: a.vm.backend_asked_by(),
    };
    go(req, &a.vm)
}

pub fn run(a: RunArgs) -> anyhow::Result<ExitCode> {
    if !a.scheduler.is_file() {
        anyhow::bail!(
            "scheduler {} not found: pass the path of the scheduler binary",
            a.scheduler.display()
        );
    }
    scxray::run::scenario::check_probe_targets(&a.vm.probe)?;
    let (scenario, scenario_name) = a.workload.scenario()?;
    let req = RunRequest {
        kernel: a.vm.kernel.clone(),
        scheduler: Some(a.scheduler.clone()),
        args: a.args.clone(),
        includes: a.include.clone(),
        lib_dirs: lib_dirs(&a.lib_dir)?,
        thresholds: a.vm.monitor.thresholds()?,
        scenario,
        scenario_name,
        topology: a.vm.topology()?,
        memory_mib: a.vm.memory,
        test_name: a.name.clone(),
        probes: a.vm.probe.clone(),
        repro: a.vm.repro(),
        nokaslr: a.vm.nokaslr,
        freeze: !a.vm.no_freeze,
        backend: a.vm.backend()?,
        backend_asked_by: a.vm.backend_asked_by(),
    };
    go(req, &a.vm)
}

/// `--lib-dir`s, then the host's LD_LIBRARY_PATH (as the scheduler would
/// search them when started here).
fn lib_dirs(flags: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    for d in flags {
        if !d.is_dir() {
            anyhow::bail!(
                "--lib-dir {}: not a directory; pass the directory that holds the libraries",
                d.display()
            );
        }
    }
    let env = std::env::var_os("LD_LIBRARY_PATH").unwrap_or_default();
    // Empty entries mean the current directory to ld.so; only absolute
    // ones mean the same thing in the guest.
    let from_env = std::env::split_paths(&env).filter(|p| p.is_absolute() && p.is_dir());
    let mut dirs: Vec<PathBuf> = Vec::new();
    for d in flags.iter().cloned().chain(from_env) {
        let d = if d.is_absolute() {
            d
        } else {
            std::env::current_dir()?.join(d)
        };
        if !dirs.contains(&d) {
            dirs.push(d);
        }
    }
    Ok(dirs)
}

/// `MemAvailable` of `/proc/meminfo`, in MiB.
fn available_mib(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

/// Refuses a guest larger than this machine can give now: QEMU would start
/// and the kernel's OOM killer end it (or something else) mid-run.
fn check_memory(memory_mib: u32) -> anyhow::Result<()> {
    let Some(avail) = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .as_deref()
        .and_then(available_mib)
    else {
        return Ok(());
    };
    if u64::from(memory_mib) > avail {
        anyhow::bail!(
            "--memory {memory_mib} MiB is more than this machine can give the guest: \
             {avail} MiB available now (MemAvailable in /proc/meminfo); pass --memory {} or less",
            avail.max(128)
        );
    }
    Ok(())
}

fn go(req: RunRequest, vm: &VmArgs) -> anyhow::Result<ExitCode> {
    check_memory(req.memory_mib)?;
    let theme = scxray_ui::theme::Theme::by_name_from_env(&vm.theme)?;
    let (live, result) = if vm.headless {
        let (plan, meta) = live_run::plan(&req, &mut |line| eprintln!("scxray: {line}"))?;
        let cancel =
            scxray_vmm::cancel::on_interrupt().context("cannot install the Ctrl-C handler")?;
        let (live, result) = live_run::run_headless(&plan, meta, req.repro, &cancel)?;
        (live, Ok(result))
    } else {
        let mut source_roots = vm.source.clone();
        if req.scheduler.is_none() {
            // The demo scheduler's BPF source, when scxray runs from its checkout.
            let demo_src = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../probes/src/bpf"));
            if demo_src.is_dir() {
                source_roots.push(demo_src);
            }
        }
        let options = scxray_ui::OpenOptions {
            clean: Vec::new(),
            theme: Some(theme),
            keymap: Some(scxray_ui::keymap::Keymap::load_user()?),
            source_roots,
        };
        let meta = scxray::run::live::RunMeta {
            test_name: req.test_name.clone(),
            scheduler: req
                .scheduler
                .as_ref()
                .and_then(|p| p.file_name())
                .map_or_else(|| "scx-demo".into(), |n| n.to_string_lossy().into_owned()),
            cpus: req.topology.cpus(),
            topology: Some(req.topology),
            scenario: req.scenario_name.clone(),
            ..Default::default()
        };
        live_run::run_live(req.clone(), meta, options)?
    };
    let report = live.report();
    let saved = live_run::SavedRun::of(&req, &live.meta.kernel);
    let path = live_run::save_report(&report, &live.meta, &live_run::report_dir(), Some(&saved))?;
    if vm.headless {
        // Streamed, and a closed pipe (`| head`) is not an error. Exact into
        // a file or a pipe, visible on a terminal (as `report --ktstr`).
        let mut out = crate::ktstr_stdout();
        let written = scxray::write::write_ktstr(&report, &mut out)
            .and_then(|()| std::io::Write::flush(&mut out));
        if let Err(e) = written {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                return Err(e).context("cannot write the report to stdout");
            }
        }
    }
    if let Err(e) = &result {
        // It can quote the guest's output: controls shown visibly.
        let text = scxray_ui::error_text::chain(e.as_ref());
        eprintln!("scxray: {}", scxray::write::visible(&text));
    }
    eprintln!("scxray: report written to {}", path.display());
    Ok(exit_code(&live, result.is_ok()))
}

fn exit_code(live: &LiveRun, ran: bool) -> ExitCode {
    ExitCode::from(exit_status(live, ran))
}

/// The code [`EXIT_CODES`] documents for how the run ended.
fn exit_status(live: &LiveRun, ran: bool) -> u8 {
    match live.end() {
        _ if !ran => 2,
        // The crash is in the report: a CI job gets the crash's code.
        Some(GuestEnd::Cancelled) if live.crash_seen() => 1,
        Some(GuestEnd::Cancelled) => 130,
        Some(GuestEnd::Hung { .. } | GuestEnd::KernelPanic { .. } | GuestEnd::Failed { .. }) => 3,
        _ if live.crashed() => 1,
        // The guest ran but the scheduler never attached.
        _ if !live.attached() => 4,
        Some(GuestEnd::PoweredOff) => 0,
        None => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scxray::run::live::{Event, RunMeta};
    use scxray::run::record::Record;

    /// A run whose scheduler exits at once, `attached` or not, and whose
    /// guest then powers off.
    fn run(attached: bool, passed: bool) -> LiveRun {
        let mut live = LiveRun::new(RunMeta::default());
        let mut at = 0;
        let mut ev = |live: &mut LiveRun, e: Event| {
            at += 100;
            live.apply(e, at);
        };
        if attached {
            let enabled = Record::ScxState {
                state: "enabled".into(),
                uptime_ms: 0,
            };
            ev(&mut live, Event::Record(enabled));
        } else {
            let why = "scheduler exited before attaching (exit status: 1)".into();
            ev(&mut live, Event::Record(Record::Error { message: why }));
        }
        let done = Record::Done {
            passed,
            uptime_ms: 0,
        };
        ev(&mut live, Event::Record(done));
        ev(&mut live, Event::End(GuestEnd::PoweredOff));
        live
    }

    #[test]
    fn a_scheduler_that_never_attaches_is_not_a_failure_to_run() {
        let never = run(false, false);
        assert_eq!(exit_status(&never, true), 4);
        // scxray itself failing stays 2, whatever the guest did.
        assert_eq!(exit_status(&never, false), 2);
        assert_eq!(exit_status(&run(true, true), true), 0);
        assert_eq!(exit_status(&run(true, false), true), 1);
        // Every code `--help` and README list.
        for code in [0, 1, 2, 3, 4, 130] {
            assert!(EXIT_CODES.contains(&format!("\n  {code} ")), "{code}");
        }
    }

    #[test]
    fn available_memory_is_read_from_meminfo() {
        let m = "MemTotal:       24590000 kB\nMemFree:  100 kB\nMemAvailable:   20480000 kB\n";
        assert_eq!(available_mib(m), Some(20000));
        assert_eq!(available_mib("MemTotal: 1 kB\n"), None);
        // More than any machine has: refused, naming what it has.
        let e = check_memory(u32::MAX).unwrap_err().to_string();
        assert!(
            e.contains("MiB available now") && e.contains("--memory"),
            "{e}"
        );
    }

    #[test]
    fn cancelled_after_the_crash_keeps_the_crash_code() {
        let cancelled = |attached: bool, passed: bool| {
            let mut live = LiveRun::new(RunMeta::default());
            if attached {
                let enabled = Record::ScxState {
                    state: "enabled".into(),
                    uptime_ms: 0,
                };
                live.apply(Event::Record(enabled), 100);
            }
            if !passed {
                let gone = Record::ScxState {
                    state: "disabled".into(),
                    uptime_ms: 0,
                };
                live.apply(Event::Record(gone), 200);
            }
            live.apply(Event::End(GuestEnd::Cancelled), 300);
            live
        };
        // Crashed, then the user quit while the dump or repro came in.
        assert_eq!(exit_status(&cancelled(true, false), true), 1);
        // Cancelled mid-run, nothing crashed.
        assert_eq!(exit_status(&cancelled(true, true), true), 130);
        assert_eq!(exit_status(&cancelled(false, true), true), 130);
    }
}
