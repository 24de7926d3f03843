//! A run as it happens: host and guest events folded into the state the live
//! panes show, and at any moment the same [`Report`] model a saved report
//! gives (built by writing ktstr's layout and parsing it, so live and saved
//! reports can never disagree).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use crate::parse::parse_text;
use crate::report::{Crash, Header, Outcome, Report, Section, SectionKind, Text};
use crate::repro::section::{Inputs, ReproRun, Verdict};
use crate::repro::signature::Signature;
use crate::repro::{Chain, ChainError, FieldDecoder, ScxTaskFlags, Target, TaskStates};
use crate::run::topology::Topology;
use crate::sections::auto_repro::Location;
use crate::write::to_ktstr;

use crate::failure_dump::FailureDump;
use crate::host_monitor::guest_rq::{self, GuestRq};
use crate::host_monitor::sample::Sample;
use crate::host_monitor::samples_text::write_samples;
use crate::host_monitor::summary::{Summary, Thresholds};

use super::bounded::BoundedLog;
use super::probe_text::{write_probe_log, ProbeLog};
use super::record::{CgroupStats, Record, Stream};

/// Per-stream memory budget: a flooding guest cannot take more than this.
const LOG_BUDGET: usize = 32 << 20;
/// Guest runqueue readings kept (the agent sends two a second).
const MAX_GUEST_RQ: usize = 1200;

/// Monitor samples kept: the last 10 minutes at 100 ms. The summary covers
/// what is kept.
const MAX_SAMPLES: usize = 6000;
/// Probe hits kept (the oldest go first; the guest already sends only the
/// last ones before the exit), and attach results kept.
const MAX_PROBE_EVENTS: usize = 20_000;
const MAX_PROBE_ATTACHES: usize = 256;
/// How a live report's outcome begins while the run goes on.
pub const IN_PROGRESS: &str = "in progress: ";

/// Where the run is, for the stage line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    FetchingKernel,
    BuildingInitramfs,
    Booting,
    /// Guest userspace up, before the scheduler loads.
    Preparing,
    LoadingScheduler,
    Running {
        phase: u32,
        total: u32,
        name: String,
    },
    Crashed,
    Passed,
    Collecting,
    Finished,
    /// Booted ahead of need (auto-repro), waiting for the probes to attach.
    Parked,
    /// Auto-repro run `run` of `of` is at `stage` (the test run is over).
    Repro {
        run: u32,
        of: u32,
        stage: Box<Stage>,
    },
}

impl Stage {
    pub fn label(&self) -> String {
        match self {
            Stage::FetchingKernel => "fetching kernel".into(),
            Stage::BuildingInitramfs => "building initramfs".into(),
            Stage::Booting => "booting".into(),
            Stage::Preparing => "preparing guest".into(),
            Stage::LoadingScheduler => "loading scheduler".into(),
            Stage::Running { phase, total, name } => {
                format!("running phase {phase}/{total} ({name})")
            }
            Stage::Crashed => "crashed".into(),
            Stage::Passed => "passed".into(),
            Stage::Collecting => "collecting".into(),
            Stage::Finished => "finished".into(),
            Stage::Parked => "parked until the crash chain is known".into(),
            Stage::Repro { run, of, stage } if *of > 1 => {
                format!("auto-repro {run}/{of}: {}", stage.label())
            }
            Stage::Repro { stage, .. } => format!("auto-repro: {}", stage.label()),
        }
    }
}

/// How the guest ended, as the host saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuestEnd {
    PoweredOff,
    /// The watchdog killed a guest stuck at `stage`.
    Hung {
        stage: String,
    },
    /// The kernel panicked or oopsed.
    KernelPanic {
        message: String,
    },
    Cancelled,
    /// The VM could not run at all.
    Failed {
        message: String,
    },
}

/// One thing that happened, with the host time (ms since the run started).
#[derive(Debug, Clone)]
pub enum Event {
    Stage(Stage),
    Console(String),
    Record(Record),
    /// Something the host wants in the report (a retry, a decode problem).
    Note(String),
    /// Facts learnt once the run is planned (the kernel's version).
    Meta(Box<RunMeta>),
    /// One sample of the host monitor (guest runqueues read from its RAM).
    Monitor(Sample),
    /// The guest's state walked while it was frozen at the scheduler's
    /// error (the first one counts).
    FailureDump(Box<FailureDump>),
    End(GuestEnd),
    /// The guest failed before its agent started (`why`: a TCG boot race,
    /// QEMU dying) and is booted again from scratch: what came before is
    /// dropped, `why` stays as a note. Auto-repro sends it for a repro VM,
    /// whose failed boot says nothing about the crash.
    Restart(String),
    /// An event of auto-repro run `run` (1-based) of `of`, after the test
    /// run ended; `at_ms` stays on the test run's clock.
    Repro {
        run: u32,
        of: u32,
        event: Box<Event>,
    },
}

/// Fixed facts about the run.
#[derive(Debug, Clone, Default)]
pub struct RunMeta {
    pub test_name: String,
    pub scheduler: String,
    pub kernel: String,
    pub cpus: u32,
    /// How the CPUs are laid out; `None`: `cpus` flat (`1n1l<cpus>c1t`).
    pub topology: Option<Topology>,
    pub scenario: String,
    pub backend: String,
    /// Field decoders with the guest kernel's tables (from its BTF); when
    /// absent they are picked by the kernel's release.
    pub decoder: Option<Box<FieldDecoder>>,
    /// A vmlinux with DWARF for the kernel's source lines (auto-repro's
    /// kernel functions), when one is at hand.
    pub kernel_debug: Option<std::path::PathBuf>,
    /// What the `--- monitor ---` verdict holds the samples to.
    pub thresholds: Thresholds,
}

/// Host times (ms since the run started) of the moments the timeline reports.
#[derive(Debug, Clone, Copy, Default)]
struct Marks {
    boot: Option<u64>,
    userspace: Option<u64>,
    load_start: Option<u64>,
    enabled: Option<u64>,
    /// When the agent's first error (e.g. "did not attach") arrived.
    first_error: Option<u64>,
    crash: Option<u64>,
    collecting: Option<u64>,
    done: Option<u64>,
    end: Option<u64>,
    /// A parked guest (auto-repro) waited from `parked` to `resumed`.
    parked: Option<u64>,
    resumed: Option<u64>,
}

/// The scheduler's first error-looking line on each stream, and its first
/// stderr line: kept apart from the bounded log, which may drop them, and
/// whose last line is usually the end of a usage text.
#[derive(Debug, Clone, Default)]
struct SchedFirst {
    error_stderr: Option<String>,
    error_stdout: Option<String>,
    stderr: Option<String>,
}

impl SchedFirst {
    fn push(&mut self, stream: Stream, line: &str) {
        let line = line.trim();
        if line.is_empty() {
            return;
        }
        let stderr = stream == Stream::Stderr;
        if stderr && self.stderr.is_none() {
            self.stderr = Some(line.to_string());
        }
        let slot = if stderr {
            &mut self.error_stderr
        } else {
            &mut self.error_stdout
        };
        if slot.is_none() && looks_like_error(line) {
            *slot = Some(line.to_string());
        }
    }

    /// The first error line (stderr's before stdout's), else the first
    /// stderr line.
    fn line(&self) -> Option<&str> {
        self.error_stderr
            .as_deref()
            .or(self.error_stdout.as_deref())
            .or(self.stderr.as_deref())
    }
}

/// Whether a scheduler output line reads as an error (or a usage text's start).
fn looks_like_error(line: &str) -> bool {
    const WORDS: [&str; 7] = [
        "error",
        "failed",
        "not found",
        "no such",
        "usage:",
        "invalid",
        "cannot",
    ];
    let l = line.to_ascii_lowercase();
    WORDS.iter().any(|w| l.contains(w))
}

/// The state of a run.
#[derive(Debug, Clone)]
pub struct LiveRun {
    pub meta: RunMeta,
    pub stage: Stage,
    console: BoundedLog,
    sched_log: BoundedLog,
    dump: BoundedLog,
    kmsg: BoundedLog,
    stats: BTreeMap<u32, Vec<CgroupStats>>,
    phases: Vec<(u32, String, u64)>,
    errors: Vec<String>,
    notes: Vec<String>,
    marks: Marks,
    end: Option<GuestEnd>,
    passed: Option<bool>,
    samples: std::collections::VecDeque<Sample>,
    /// The guest's own runqueue readings, to check the samples by.
    guest_rq: Vec<GuestRq>,
    /// The guest's state at the scheduler's error.
    failure_dump: Option<FailureDump>,
    probes: ProbeLog,
    /// How the scheduler process ended: (exit code, signal).
    sched_exit: Option<(Option<i32>, Option<i32>)>,
    /// The scheduler's first lines that matter when it never attaches.
    sched_first: SchedFirst,
    /// Auto-repro runs, in order, and the crash they reproduce (parsed once,
    /// when the first one starts).
    repros: Vec<LiveRun>,
    repro_base: Option<Box<ReproBase>>,
}

/// What the auto-repro section is built against: the test run's crash, and
/// the source lines of its kernel functions (read once from DWARF).
#[derive(Debug, Clone)]
struct ReproBase {
    crash: Crash,
    chain: Result<Chain, ChainError>,
    kernel_lines: HashMap<String, Location>,
}

impl ReproBase {
    fn new(crash: Crash, kernel_debug: Option<&std::path::Path>) -> ReproBase {
        let chain = Chain::from_crash(&crash);
        let kernel_lines = match (&chain, kernel_debug) {
            (Ok(chain), Some(path)) => kernel_lines(&crash, chain, path),
            _ => HashMap::new(),
        };
        ReproBase {
            crash,
            chain,
            kernel_lines,
        }
    }
}

/// Each kernel function of `chain` at the line its backtrace frame was on
/// (the call that led on to the crash); empty when `path` has no DWARF.
fn kernel_lines(crash: &Crash, chain: &Chain, path: &std::path::Path) -> HashMap<String, Location> {
    let Ok(lines) = crate::symbolize::KernelLines::open(path) else {
        return HashMap::new();
    };
    chain
        .kernel_symbols()
        .filter_map(|symbol| {
            let offset = crash
                .backtrace
                .iter()
                .find(|f| Target::kernel(&f.function).name() == Target::kernel(symbol).name())
                .and_then(|f| f.offset);
            Some((symbol.to_string(), lines.line(symbol, offset)?))
        })
        .collect()
}

impl LiveRun {
    pub fn new(meta: RunMeta) -> LiveRun {
        LiveRun {
            meta,
            stage: Stage::Booting,
            console: BoundedLog::new(LOG_BUDGET),
            sched_log: BoundedLog::new(LOG_BUDGET),
            dump: BoundedLog::new(LOG_BUDGET),
            kmsg: BoundedLog::new(LOG_BUDGET),
            stats: BTreeMap::new(),
            phases: Vec::new(),
            errors: Vec::new(),
            notes: Vec::new(),
            marks: Marks::default(),
            end: None,
            passed: None,
            samples: std::collections::VecDeque::new(),
            guest_rq: Vec::new(),
            failure_dump: None,
            probes: ProbeLog::default(),
            sched_exit: None,
            sched_first: SchedFirst::default(),
            repros: Vec::new(),
            repro_base: None,
        }
    }

    /// Folds one event in; `at_ms` is host time since the run started.
    pub fn apply(&mut self, event: Event, at_ms: u64) {
        match event {
            Event::Stage(s) => {
                if s == Stage::Booting {
                    self.marks.boot.get_or_insert(at_ms);
                }
                self.stage = s;
            }
            Event::Console(line) => self.console.push(line),
            Event::Note(n) => self.notes.push(n),
            Event::Meta(m) => self.meta = *m,
            Event::FailureDump(d) => {
                if self.failure_dump.is_none() {
                    self.failure_dump = Some(*d);
                }
            }
            Event::Monitor(sample) => {
                if self.samples.len() == MAX_SAMPLES {
                    self.samples.pop_front();
                }
                self.samples.push_back(sample);
            }
            Event::End(end) => {
                self.marks.end = Some(at_ms);
                if self.passed.is_none() && !matches!(end, GuestEnd::PoweredOff) {
                    self.passed = Some(false);
                }
                self.end = Some(end);
                self.stage = Stage::Finished;
            }
            Event::Record(r) => self.record(r, at_ms),
            Event::Restart(why) => {
                let mut fresh = LiveRun::new(self.meta.clone());
                fresh
                    .notes
                    .push(format!("an earlier boot failed ({why}); booted again"));
                *self = fresh;
            }
            Event::Repro { run, of, event } => self.repro_event(run, of, *event, at_ms),
        }
    }

    fn repro_event(&mut self, run: u32, of: u32, event: Event, at_ms: u64) {
        if self.repro_base.is_none() {
            let crash = self.report().crash().cloned().unwrap_or_default();
            let base = ReproBase::new(crash, self.meta.kernel_debug.as_deref());
            self.repro_base = Some(Box::new(base));
        }
        let index = run.saturating_sub(1) as usize;
        if let Event::Restart(why) = &event {
            self.notes.push(format!(
                "auto-repro run {run}/{of}: the guest failed before its agent started ({why}); booting it again"
            ));
        }
        while self.repros.len() <= index {
            let mut meta = self.meta.clone();
            meta.test_name = format!("{} (auto-repro {})", meta.test_name, self.repros.len() + 1);
            self.repros.push(LiveRun::new(meta));
        }
        let repro = &mut self.repros[index];
        repro.apply(event, at_ms);
        self.stage = Stage::Repro {
            run,
            of,
            stage: Box::new(repro.stage.clone()),
        };
    }

    /// A run that only reproduces `crash` (a saved run's, for `scxray
    /// repro`): feed it [`Event::Repro`] events; its
    /// [`auto_repro_sections`](Self::auto_repro_sections) are the result.
    pub fn reproducing(meta: RunMeta, crash: Crash) -> LiveRun {
        let base = ReproBase::new(crash, meta.kernel_debug.as_deref());
        let mut live = LiveRun::new(meta);
        live.repro_base = Some(Box::new(base));
        live.stage = Stage::Finished;
        live
    }

    /// The auto-repro runs so far.
    pub fn repros(&self) -> &[LiveRun] {
        &self.repros
    }

    /// How this run ended, as auto-repro's status line says it.
    pub fn verdict(&self) -> Verdict {
        match &self.end {
            Some(GuestEnd::Hung { .. }) => return Verdict::TimedOut,
            Some(GuestEnd::KernelPanic { message }) => {
                return Verdict::Abnormal {
                    detail: format!("kernel panic: {message}"),
                }
            }
            Some(GuestEnd::Failed { message }) => {
                return Verdict::Abnormal {
                    detail: message.clone(),
                }
            }
            Some(GuestEnd::Cancelled) => {
                return Verdict::Abnormal {
                    detail: "cancelled".into(),
                }
            }
            Some(GuestEnd::PoweredOff) | None => {}
        }
        if self.crashed() {
            let clause = match self.sched_exit {
                Some((Some(0), _)) => "exited cleanly".to_string(),
                Some((Some(c), _)) => format!("exited with non-zero status ({c})"),
                Some((None, Some(s))) => format!("killed by signal ({s})"),
                _ => "sched_ext disabled it".to_string(),
            };
            return Verdict::Crashed {
                signature: self.report().crash().map(Signature::of),
                clause,
            };
        }
        if !self.attached() {
            let reason = self
                .errors
                .iter()
                .find(|e| e.contains("attach") || e.contains("sched_ext"))
                .cloned()
                .unwrap_or_else(|| "timeout".into());
            return Verdict::NotAttached { reason };
        }
        Verdict::RanNormally
    }

    /// Host ms from boot to the guest's end, less the time it was parked.
    fn duration_ms(&self) -> Option<u64> {
        let m = &self.marks;
        let parked = match (m.parked, m.resumed) {
            (Some(p), Some(r)) => r.saturating_sub(p),
            _ => 0,
        };
        Some(
            m.end
                .or(m.done)?
                .saturating_sub(m.boot?)
                .saturating_sub(parked),
        )
    }

    fn decoder(&self) -> FieldDecoder {
        self.meta
            .decoder
            .as_deref()
            .cloned()
            .unwrap_or_else(|| FieldDecoder {
                scx_flags: ScxTaskFlags::for_kernel_release(&self.meta.kernel)
                    .unwrap_or_else(|_| ScxTaskFlags::since_7_1()),
                task_states: TaskStates::classic(),
            })
    }

    /// The `--- auto-repro ---` body and the raw probe log of the run it
    /// shows (`--- repro probe events ---`, empty without probes); `None`
    /// before the first repro run starts.
    pub fn auto_repro_sections(&self) -> Option<(String, String)> {
        let base = self.repro_base.as_ref()?;
        let runs: Vec<ReproRun> = self
            .repros
            .iter()
            .map(|r| ReproRun {
                report: r.report(),
                probes: r.probes.clone(),
                duration_ms: r.duration_ms(),
                verdict: r.verdict(),
            })
            .collect();
        let body = crate::repro::section::build(&Inputs {
            primary: &base.crash,
            chain: &base.chain,
            runs: &runs,
            decoder: &self.decoder(),
            nr_cpus: (self.meta.cpus > 0).then_some(self.meta.cpus),
            kernel_lines: &base.kernel_lines,
        });
        let raw = crate::repro::section::shown(&runs)
            .filter(|r| !r.probes.is_empty())
            .map(|r| write_probe_log(&r.probes))
            .unwrap_or_default();
        Some((body, raw))
    }

    /// The failure dump of the auto-repro run its section shows, to
    /// compare with the test run's.
    pub fn repro_failure_dump(&self) -> Option<String> {
        self.shown_repro()?
            .failure_dump
            .as_ref()
            .map(crate::failure_dump::text::write)
    }

    /// The auto-repro run whose dump the report keeps: the first that
    /// reproduced, else the first.
    fn shown_repro(&self) -> Option<&LiveRun> {
        self.repro_base.as_ref()?;
        self.repros
            .iter()
            .find(|r| r.verdict().reproduced())
            .or_else(|| self.repros.first())
    }

    fn record(&mut self, r: Record, at_ms: u64) {
        match r {
            Record::Hello { .. } => {
                self.marks.userspace.get_or_insert(at_ms);
                self.stage = Stage::Preparing;
            }
            Record::Stage { name, .. }
                if name != "parked"
                    && self.marks.parked.is_some()
                    && self.marks.resumed.is_none() =>
            {
                // The host's order came: the stage after parked.
                self.marks.resumed = Some(at_ms);
                self.record(Record::Stage { name, uptime_ms: 0 }, at_ms);
            }
            Record::Stage { name, .. } => match name.as_str() {
                "loading scheduler" => {
                    self.marks.load_start.get_or_insert(at_ms);
                    self.stage = Stage::LoadingScheduler;
                }
                "crashed" => {
                    self.marks.crash.get_or_insert(at_ms);
                    self.stage = Stage::Crashed;
                }
                "passed" => self.stage = Stage::Passed,
                "parked" => {
                    self.marks.parked.get_or_insert(at_ms);
                    self.stage = Stage::Parked;
                }
                "collecting" => {
                    self.marks.collecting.get_or_insert(at_ms);
                    self.stage = Stage::Collecting;
                }
                _ => {}
            },
            Record::Phase {
                index, total, name, ..
            } => {
                self.phases.push((index, name.clone(), at_ms));
                self.stage = Stage::Running {
                    phase: index,
                    total,
                    name,
                };
            }
            Record::Stats { phase, cgroups, .. } => {
                self.stats.insert(phase, cgroups);
            }
            Record::SchedLine { stream, line } => {
                // stderr and stdout interleave in one log, as ktstr captures them.
                self.sched_first.push(stream, &line);
                self.sched_log.push(line);
            }
            Record::Trace { line } => {
                if line.contains("sched_ext_dump") {
                    self.dump.push(line);
                } else {
                    self.console.push(line);
                }
            }
            Record::Kmsg { line } => self.kmsg.push(line),
            Record::SchedExit { code, signal, .. } => {
                self.sched_exit = Some((code, signal));
                let how = match (code, signal) {
                    (Some(c), _) => format!("exit code {c}"),
                    (None, Some(s)) => format!("signal {s}"),
                    _ => "unknown status".into(),
                };
                self.notes.push(format!("scheduler process ended: {how}"));
            }
            Record::ScxState { state, .. } => {
                if state == "enabled" {
                    self.marks.enabled.get_or_insert(at_ms);
                } else if self.marks.enabled.is_some() {
                    self.marks.crash.get_or_insert(at_ms);
                    self.stage = Stage::Crashed;
                }
            }
            Record::Error { message } => {
                self.marks.first_error.get_or_insert(at_ms);
                self.errors.push(message);
            }
            Record::Done { passed, .. } => {
                self.marks.done.get_or_insert(at_ms);
                self.passed = Some(passed);
            }
            // For the host monitor (vmm's session), not the report.
            Record::Symbols { .. } => {}
            Record::ProbeAttach(a) => {
                if self.probes.attaches.len() < MAX_PROBE_ATTACHES {
                    self.probes.attaches.push(a);
                }
            }
            Record::ProbeEvent(e) => {
                if self.probes.events.len() == MAX_PROBE_EVENTS {
                    // Rare (the guest bounds what it sends): amortised by
                    // dropping a tenth at once.
                    self.probes.events.drain(..MAX_PROBE_EVENTS / 10);
                    self.probes.dropped += (MAX_PROBE_EVENTS / 10) as u64;
                }
                self.probes.events.push(e);
            }
            Record::ProbeStats(st) => {
                self.probes.counts = st.counts;
                self.probes.lost = st.lost;
                self.probes.missed = st.missed;
            }
            Record::ProbeLayout(l) => {
                if self.probes.layouts.len() < MAX_PROBE_ATTACHES {
                    self.probes.layouts.push(l);
                }
            }
            Record::ScxEvents { text, .. } => {
                self.notes
                    .push(crate::host_monitor::events::sysfs_note(&text));
            }
            Record::GuestRq { nr_running, .. } => {
                // A few per phase; bounded like everything a guest sends.
                if self.guest_rq.len() < MAX_GUEST_RQ {
                    self.guest_rq.push(GuestRq { at_ms, nr_running });
                }
            }
            Record::Topology(seen) => {
                let asked = self.topology();
                let line = seen.verdict(&asked);
                // A guest built otherwise than asked does not test what the
                // user meant: an error line. `--cpus N` asks only for N
                // CPUs; how a host's CPU model groups their caches is news.
                let flat = asked == Topology::flat(asked.cpus());
                if seen.topology() == Some(asked) || (flat && seen.cpus == asked.cpus()) {
                    self.notes.push(line);
                } else {
                    self.errors.push(line);
                }
            }
        }
    }

    /// The topology the run asked for (`--cpus N` is `1n1l<N>c1t`).
    pub fn topology(&self) -> Topology {
        self.meta.topology.unwrap_or(Topology::flat(self.meta.cpus))
    }

    /// True once the scheduler is known to have died after attaching.
    pub fn crashed(&self) -> bool {
        self.marks.crash.is_some() || (self.passed == Some(false) && self.attached())
    }

    /// True once the guest said the scheduler crashed (its sched_ext state
    /// left `enabled`): unlike [`LiveRun::crashed`], a run cancelled while
    /// the scheduler still ran is not one.
    pub fn crash_seen(&self) -> bool {
        self.marks.crash.is_some()
    }

    /// True once sched_ext reported the scheduler `enabled`.
    pub fn attached(&self) -> bool {
        self.marks.enabled.is_some()
    }

    /// What the host noted about the run (retries, decode problems).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    pub fn end(&self) -> Option<&GuestEnd> {
        self.end.as_ref()
    }

    /// Lines of each live pane, for the UI.
    pub fn console_text(&self) -> String {
        self.console.text()
    }

    pub fn sched_log_text(&self) -> String {
        self.sched_log.text()
    }

    pub fn dump_text(&self) -> String {
        self.dump.text()
    }

    /// What the probes reported so far (experimental `--probe`).
    pub fn probes(&self) -> &ProbeLog {
        &self.probes
    }

    /// The report as of now.
    pub fn report(&self) -> Report {
        let mut sections = Vec::new();
        let mut push = |kind: SectionKind, body: String| {
            if !body.trim().is_empty() {
                sections.push(Section {
                    kind,
                    body: Text::from(body),
                });
            }
        };
        push(SectionKind::Stats, self.stats_text());
        push(SectionKind::Diagnostics, self.diagnostics_text());
        push(SectionKind::Timeline, self.timeline_text());
        push(SectionKind::SchedulerLog, self.sched_log.text());
        push(SectionKind::Monitor, self.monitor_text());
        push(SectionKind::MonitorSamples, self.samples_text());
        push(SectionKind::SchedExtDump, self.dump.text());
        if let Some(d) = &self.failure_dump {
            push(
                SectionKind::FailureDump,
                crate::failure_dump::text::write(d),
            );
        }
        if let Some((body, raw)) = self.auto_repro_sections() {
            push(SectionKind::AutoRepro, body);
            push(SectionKind::ReproProbeEvents, raw);
        }
        if let Some(body) = self.repro_failure_dump() {
            push(SectionKind::ReproFailureDump, body);
        }
        if !self.probes.is_empty() {
            push(SectionKind::ProbeEvents, write_probe_log(&self.probes));
        }
        push(SectionKind::Console, self.console.text());
        push(SectionKind::Dmesg, self.kmsg.text());

        let skeleton = Report {
            header: self.header(),
            sections,
            crashes: Vec::new(),
            selected: None,
            notes: Vec::new(),
        };
        // Through the text layout, so a live report equals the saved one
        // (the layout's `String` becomes the report's buffer, not copied).
        parse_text(Text::from(to_ktstr(&skeleton)))
    }

    fn header(&self) -> Header {
        let mut details = Vec::new();
        // ktstr's fingerprint: the scheduler's last log line. Not for a
        // passed run (its last line says nothing), nor for one that never
        // attached (that is the end of a usage text; its first error is).
        let mut fingerprint = self
            .sched_log
            .lines()
            .filter(|l| !l.trim().is_empty())
            .last()
            .map(str::to_string);
        let outcome = match (&self.end, self.crashed()) {
            (Some(GuestEnd::Hung { stage }), _) => {
                Outcome::Other(format!("timed out: guest hung at {stage}"))
            }
            (Some(GuestEnd::KernelPanic { message }), _) => {
                Outcome::Other(format!("guest crashed: {message}"))
            }
            (Some(GuestEnd::Failed { message }), _) => {
                Outcome::Other(format!("guest failed: {message}"))
            }
            (Some(GuestEnd::Cancelled), _) => {
                if self.crash_seen() {
                    details.push("scheduler crashed before the run was cancelled".into());
                } else {
                    // The scheduler was still running: its last line is no
                    // fingerprint of anything.
                    fingerprint = None;
                }
                Outcome::Other("cancelled".into())
            }
            (_, true) => {
                let during = self.phases.last().map_or_else(String::new, |(i, name, _)| {
                    format!(" during phase {i} ({name})")
                });
                let at = match (self.marks.crash, self.marks.enabled) {
                    (Some(c), Some(e)) => format!(
                        " ({:.1}s after it attached)",
                        c.saturating_sub(e) as f64 / 1000.0
                    ),
                    _ => String::new(),
                };
                details.push(format!("scheduler crashed{during}{at}"));
                Outcome::Failed
            }
            _ if self.passed == Some(true) => {
                fingerprint = None;
                Outcome::Other("passed".into())
            }
            _ if self.passed == Some(false) => {
                let first = self.sched_first.line();
                let mut d = "scheduler did not attach".to_string();
                let waited = self.marks.first_error.or(self.marks.done);
                if let (Some(start), Some(end)) = (self.marks.load_start, waited) {
                    let _ = write!(
                        d,
                        " after {:.1}s",
                        end.saturating_sub(start) as f64 / 1000.0
                    );
                }
                if let Some(l) = first {
                    let _ = write!(d, ": {l}");
                }
                details.push(d);
                fingerprint = first.map(str::to_string);
                Outcome::Other("scheduler did not attach".into())
            }
            // The guest ended without the agent's verdict.
            _ if self.end.is_some() => Outcome::Other("ended without a result".into()),
            _ => {
                fingerprint = None;
                Outcome::Other(format!("{IN_PROGRESS}{}", self.stage.label()))
            }
        };
        details.extend(self.errors.iter().cloned());
        Header {
            preamble: Vec::new(),
            fingerprint,
            bug_summary: None,
            test_name: Some(self.meta.test_name.clone()),
            scheduler: Some(self.meta.scheduler.clone()).filter(|s| !s.is_empty()),
            topology: (self.meta.cpus > 0).then(|| self.topology().to_string()),
            outcome,
            details,
        }
    }

    fn stats_text(&self) -> String {
        let all: Vec<&CgroupStats> = self.stats.values().flatten().collect();
        if all.is_empty() {
            return String::new();
        }
        let workers: u32 = all.iter().map(|c| c.workers).sum();
        let cpus = all.iter().map(|c| c.cpus).max().unwrap_or(0);
        let migrations: u64 = all.iter().map(|c| c.migrations).sum();
        let spread = all
            .iter()
            .filter_map(|c| c.spread_pct)
            .fold(0.0_f64, f64::max);
        let gap = all.iter().map(|c| c.gap_ms).max().unwrap_or(0);
        let mut s = format!("{workers} workers, {cpus} cpus, {migrations} migrations, worst_spread={spread:.1}%, worst_gap={gap}ms\n");
        let mut i = 0;
        for (phase, cgs) in &self.stats {
            for c in cgs {
                let spread = c
                    .spread_pct
                    .map_or_else(|| "n/a".to_string(), |p| format!("{p:.1}%"));
                let _ = writeln!(
                    s,
                    "  cg{i}: workers={} cpus={} spread={spread} gap={}ms migrations={} iter={}  (phase {phase}, {})",
                    c.workers, c.cpus, c.gap_ms, c.migrations, c.iterations, c.name
                );
                i += 1;
            }
        }
        s
    }

    fn diagnostics_text(&self) -> String {
        let mut s = format!("stage: {}\n", self.stage.label());
        if let Some(end) = &self.end {
            let _ = writeln!(s, "guest: {}", end_label(end));
        }
        for e in &self.errors {
            let _ = writeln!(s, "error: {e}");
        }
        for n in &self.notes {
            let _ = writeln!(s, "note: {n}");
        }
        // Why the repro VM has no failure dump to compare, when it has none.
        if let Some(r) = self.shown_repro().filter(|r| r.failure_dump.is_none()) {
            for n in r.notes.iter().filter(|n| n.starts_with("failure dump")) {
                let _ = writeln!(s, "note: auto-repro: {n}");
            }
        }
        if !self.guest_rq.is_empty() {
            let a = guest_rq::compare(&self.guest_rq, self.samples.iter());
            let note = guest_rq::agreement_note(a, self.guest_rq.last());
            let _ = writeln!(s, "note: {note}");
        }
        for (what, log) in [
            ("console", &self.console),
            ("scheduler log", &self.sched_log),
            ("sched_ext dump", &self.dump),
            ("dmesg", &self.kmsg),
        ] {
            let (lines, bytes) = log.dropped();
            if lines > 0 {
                let _ = writeln!(s, "note: {what}: {lines} lines ({bytes} bytes) dropped from the middle to bound memory");
            }
        }
        s
    }

    /// ktstr's monitor summary over the samples taken while the scheduler
    /// was attached, less ktstr's warm-up (its first 20 samples); nothing
    /// before it attached.
    fn monitor_text(&self) -> String {
        let Some(from) = self.marks.enabled else {
            return String::new();
        };
        let samples: Vec<Sample> = self
            .samples
            .iter()
            .filter(|s| s.at_ms >= from)
            .cloned()
            .collect();
        Summary::from_run(&samples, &self.meta.thresholds).to_section_text()
    }

    /// The raw samples, with the crash's time for the timeline.
    fn samples_text(&self) -> String {
        if self.samples.is_empty() {
            return String::new();
        }
        let samples: Vec<Sample> = self.samples.iter().cloned().collect();
        let mut s = String::new();
        if let Some(t) = self.marks.crash {
            s.push_str(&crate::host_monitor::samples_text::crash_line(t));
        }
        s.push_str(&write_samples(&samples));
        s
    }

    fn timeline_text(&self) -> String {
        let m = &self.marks;
        let mut s = String::new();
        let mut head = Vec::new();
        if !self.meta.kernel.is_empty() {
            head.push(format!("kernel: {}", self.meta.kernel));
        }
        if self.meta.cpus > 0 {
            head.push(format!(
                "topology: {} ({} cpus)",
                self.topology(),
                self.meta.cpus
            ));
        }
        head.push(format!("scheduler: {}", self.meta.scheduler));
        head.push(format!("scenario: {}", self.meta.scenario));
        if let (Some(b), Some(e)) = (m.boot, m.end.or(m.done)) {
            head.push(format!(
                "duration: {:.1}s",
                e.saturating_sub(b) as f64 / 1000.0
            ));
        }
        if !self.meta.backend.is_empty() {
            head.push(format!("backend: {}", self.meta.backend));
        }
        let _ = writeln!(s, "{}\n", head.join("  "));
        let span = |label: &str, a: Option<u64>, b: Option<u64>, s: &mut String| {
            if let (Some(a), Some(b)) = (a, b) {
                let _ = writeln!(
                    s,
                    "  {label:<22} {:>7.2}s",
                    b.saturating_sub(a) as f64 / 1000.0
                );
            }
        };
        s.push_str("breakdown:\n");
        span("boot -> userspace", m.boot, m.userspace, &mut s);
        span("scheduler load", m.load_start, m.enabled, &mut s);
        span("load -> crash", m.enabled, m.crash, &mut s);
        span("collection", m.collecting, m.done, &mut s);
        span("teardown", m.done, m.end, &mut s);
        for (i, (index, name, at)) in self.phases.iter().enumerate() {
            let next = self
                .phases
                .get(i + 1)
                .map(|p| p.2)
                .or(m.crash)
                .or(m.collecting)
                .or(m.end);
            let dur = next.map_or_else(
                || "running".to_string(),
                |n| format!("{}ms", n.saturating_sub(*at)),
            );
            let _ = writeln!(s, "\nPhase {index}: {name} ({dur})");
            if let Some(cgs) = self.stats.get(index) {
                for c in cgs {
                    let _ = writeln!(
                        s,
                        "  {}: workers={} iter={} migrations={} gap={}ms",
                        c.name, c.workers, c.iterations, c.migrations, c.gap_ms
                    );
                }
            }
        }
        if let Some(c) = m.crash {
            let phase = self.phases.last().map_or_else(String::new, |(i, name, _)| {
                format!(" in phase {i} ({name})")
            });
            let _ = writeln!(
                s,
                "\n>>> scheduler crashed at +{:.1}s{phase}",
                c.saturating_sub(m.boot.unwrap_or(0)) as f64 / 1000.0
            );
        }
        s
    }
}

fn end_label(end: &GuestEnd) -> String {
    match end {
        GuestEnd::PoweredOff => "powered off".into(),
        GuestEnd::Hung { stage } => format!("hung at {stage}; killed by the watchdog"),
        GuestEnd::KernelPanic { message } => format!("kernel panic: {message}"),
        GuestEnd::Cancelled => "cancelled by the user".into(),
        GuestEnd::Failed { message } => format!("failed: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_str;
    use crate::report::ExitKind;

    fn demo_run() -> LiveRun {
        let mut r = LiveRun::new(RunMeta {
            test_name: "demo".into(),
            scheduler: "scx-demo".into(),
            kernel: "7.3.4".into(),
            cpus: 2,
            scenario: "standard".into(),
            backend: "qemu/tcg".into(),
            ..RunMeta::default()
        });
        let ev = |r: &mut LiveRun, e: Event, t: u64| r.apply(e, t);
        ev(&mut r, Event::Stage(Stage::Booting), 0);
        ev(
            &mut r,
            Event::Console("[    0.000000] Linux version 7.3.4".into()),
            100,
        );
        ev(
            &mut r,
            Event::Record(Record::Hello {
                agent: "a".into(),
                uptime_ms: 2600,
            }),
            2700,
        );
        ev(
            &mut r,
            Event::Record(Record::Stage {
                name: "loading scheduler".into(),
                uptime_ms: 2700,
            }),
            2800,
        );
        ev(
            &mut r,
            Event::Record(Record::SchedLine {
                stream: Stream::Stdout,
                line: "scx-demo: attached".into(),
            }),
            3000,
        );
        ev(
            &mut r,
            Event::Record(Record::ScxState {
                state: "enabled".into(),
                uptime_ms: 3900,
            }),
            4000,
        );
        ev(
            &mut r,
            Event::Record(Record::Phase {
                index: 1,
                total: 3,
                name: "spin".into(),
                uptime_ms: 4000,
            }),
            4100,
        );
        assert_eq!(r.stage.label(), "running phase 1/3 (spin)");
        for l in [
            "sh-1 [001] d.h1. 5.5: sched_ext_dump: sh[131] triggered exit kind 1025 on CPU 1:",
            "sh-1 [001] d.h1. 5.5: sched_ext_dump:   scx_bpf_error (validate_cell: bad cell 7 (enqueue #400))",
            "sh-1 [001] d.h1. 5.5: sched_ext_dump: ",
            "sh-1 [001] d.h1. 5.5: sched_ext_dump: Backtrace:",
            "sh-1 [001] d.h1. 5.5: sched_ext_dump:   bpf_prog_0123456789abcdef_validate_cell+0x7a/0x82",
        ] {
            ev(&mut r, Event::Record(Record::Trace { line: l.into() }), 5500);
        }
        ev(
            &mut r,
            Event::Record(Record::ScxState {
                state: "disabled".into(),
                uptime_ms: 5500,
            }),
            5600,
        );
        ev(
            &mut r,
            Event::Record(Record::Stats {
                phase: 1,
                cgroups: vec![CgroupStats {
                    name: "cg0".into(),
                    workers: 2,
                    cpus: 2,
                    spread_pct: Some(1.5),
                    gap_ms: 12,
                    migrations: 3,
                    iterations: 1000,
                }],
                uptime_ms: 6000,
            }),
            6000,
        );
        ev(
            &mut r,
            Event::Record(Record::Stage {
                name: "crashed".into(),
                uptime_ms: 6000,
            }),
            6050,
        );
        ev(
            &mut r,
            Event::Record(Record::SchedLine {
                stream: Stream::Stdout,
                line: "EXIT: scx_bpf_error (validate_cell: bad cell 7 (enqueue #400))".into(),
            }),
            6100,
        );
        ev(
            &mut r,
            Event::Record(Record::Stage {
                name: "collecting".into(),
                uptime_ms: 6200,
            }),
            6200,
        );
        ev(
            &mut r,
            Event::Record(Record::Kmsg {
                line: "[    5.500000] sched_ext: BPF scheduler \"demo\" disabled (scx_bpf_error)"
                    .into(),
            }),
            6300,
        );
        ev(
            &mut r,
            Event::Record(Record::Done {
                passed: false,
                uptime_ms: 6500,
            }),
            6500,
        );
        ev(&mut r, Event::End(GuestEnd::PoweredOff), 6900);
        r
    }

    #[test]
    fn crashed_run_reports_the_crash() {
        let r = demo_run();
        let rep = r.report();
        let c = rep.crash().expect("crash");
        assert_eq!(c.kind, ExitKind::ScxBpfError);
        assert_eq!(
            c.message.as_deref(),
            Some("validate_cell: bad cell 7 (enqueue #400)")
        );
        assert_eq!(rep.header.outcome, Outcome::Failed);
        assert!(
            rep.header.details[0].starts_with("scheduler crashed during phase 1 (spin)"),
            "{:?}",
            rep.header.details
        );
        let timeline = rep.section(&SectionKind::Timeline).unwrap();
        for want in [
            "boot -> userspace",
            "scheduler load",
            "load -> crash",
            "collection",
            "teardown",
            "Phase 1: spin",
        ] {
            assert!(
                timeline.body.contains(want),
                "{want} missing:\n{}",
                &*timeline.body
            );
        }
        assert!(rep
            .section(&SectionKind::Stats)
            .unwrap()
            .body
            .contains("cg0: workers=2"));
    }

    #[test]
    fn live_report_equals_saved_report() {
        let rep = demo_run().report();
        assert_eq!(parse_str(&to_ktstr(&rep)), rep);
    }

    #[test]
    fn dmesg_stays_its_own_section_when_read_back() {
        let mut r = demo_run();
        r.apply(
            Event::Console("[    5.500000] sched_ext: on the console".into()),
            7000,
        );
        let rep = r.report();
        let kinds: Vec<&str> = rep.sections.iter().map(|s| s.kind.name()).collect();
        assert!(kinds.ends_with(&["console", "dmesg"]), "{kinds:?}");
        let dmesg = rep.section(&SectionKind::Dmesg).unwrap();
        assert!(dmesg.body.contains("\"demo\" disabled"), "{}", &*dmesg.body);
        let console = rep.section(&SectionKind::Console).unwrap();
        assert!(!console.body.contains("dmesg"), "{}", &*console.body);
        assert_eq!(parse_str(&to_ktstr(&rep)).sections, rep.sections);
    }

    #[test]
    fn the_guests_topology_is_a_note_when_as_asked_else_an_error() {
        use crate::run::topology::Seen;
        let seen = |llcs: Vec<Vec<u32>>| {
            Record::Topology(Box::new(Seen {
                cpus: 2,
                nodes: vec![vec![0, 1]],
                llcs,
                cores: vec![vec![0], vec![1]],
            }))
        };
        let mut r = demo_run();
        let (notes, errors) = (r.notes.len(), r.errors.len());
        r.record(seen(vec![vec![0, 1]]), 1);
        assert_eq!(
            r.notes[notes..],
            ["the guest sees topology 1n1l2c1t, as asked"]
        );
        // `--cpus 2` does not ask for one LLC: another grouping is a note.
        r.record(seen(vec![vec![0], vec![1]]), 2);
        assert_eq!(r.errors.len(), errors);
        r.meta.topology = Some("1n2l1c1t".parse().unwrap());
        r.record(seen(vec![vec![0, 1]]), 3);
        assert_eq!(
            r.errors[errors..],
            ["topology 1n2l1c1t was asked, but the guest sees 1n1l2c1t (the backend could not build it as asked)"]
        );
        assert_eq!(r.report().header.topology.as_deref(), Some("1n2l1c1t"));
    }

    #[test]
    fn a_restart_drops_the_failed_boot_of_a_repro_run_and_keeps_why() {
        let mut r = demo_run();
        let repro = |r: &mut LiveRun, e: Event, t: u64| {
            r.apply(
                Event::Repro {
                    run: 2,
                    of: 3,
                    event: Box::new(e),
                },
                t,
            )
        };
        repro(&mut r, Event::Stage(Stage::Booting), 20_000);
        repro(
            &mut r,
            Event::Console("Kernel panic - not syncing: Fatal exception".into()),
            21_000,
        );
        let why = "guest kernel crashed while booting: Kernel panic - not syncing: Fatal exception";
        repro(
            &mut r,
            Event::End(GuestEnd::KernelPanic {
                message: why.into(),
            }),
            21_500,
        );
        repro(&mut r, Event::Restart(why.into()), 21_600);
        assert_eq!(r.repros().len(), 2, "run 1 stays empty, run 2 is fresh");
        let again = &r.repros()[1];
        assert!(again.end().is_none() && again.console_text().is_empty());
        assert_eq!(
            again.notes(),
            [format!("an earlier boot failed ({why}); booted again")]
        );
        assert!(again.meta.test_name.ends_with("(auto-repro 2)"));
        assert_eq!(
            r.notes().last().unwrap(),
            &format!("auto-repro run 2/3: the guest failed before its agent started ({why}); booting it again")
        );
        assert!(r.end().is_some(), "the test run's end stays");
    }

    #[test]
    fn why_the_repro_vm_has_no_failure_dump_is_in_the_diagnostics() {
        let mut r = demo_run();
        let why = "failure dump off: the gdbstub failed: timed out; the run goes on without it";
        for e in [
            Event::Stage(Stage::Booting),
            Event::Note("guest started with tcg".into()),
            Event::Note(why.into()),
        ] {
            r.apply(
                Event::Repro {
                    run: 1,
                    of: 1,
                    event: Box::new(e),
                },
                20_000,
            );
        }
        let report = r.report();
        let diag = report.section(&SectionKind::Diagnostics).unwrap();
        assert!(
            diag.body.contains(&format!("note: auto-repro: {why}")),
            "{}",
            &*diag.body
        );
        assert!(
            !diag.body.contains("auto-repro: guest started"),
            "{}",
            &*diag.body
        );
    }

    #[test]
    fn repro_runs_become_an_auto_repro_section() {
        use crate::run::record::{ProbeAttach, ProbeHit, ProbeKind};
        let mut r = demo_run();
        let end = r.end().cloned();
        let crashes = r.report().crashes;
        let repro = |r: &mut LiveRun, e: Event, t: u64| {
            r.apply(
                Event::Repro {
                    run: 1,
                    of: 1,
                    event: Box::new(e),
                },
                t,
            )
        };
        repro(&mut r, Event::Stage(Stage::Booting), 20_000);
        assert_eq!(r.stage.label(), "auto-repro: booting");
        assert_eq!(r.end().cloned(), end, "the test run's end stays");
        let hit = |kind, t_ns, exit_kind| ProbeHit {
            target: if kind == ProbeKind::Exit {
                "sched_ext_exit".into()
            } else {
                "validate_cell".into()
            },
            kind,
            t_ns,
            cpu: 1,
            pid: 131,
            comm: "sh".into(),
            task: 0xff11_0000_0000_1000,
            ip: 0,
            args: vec![0xff11_0000_0000_2000, 400],
            exit_kind,
            fields: Vec::new(),
            ret: None,
        };
        for (rec, t) in [
            (
                Record::ScxState {
                    state: "enabled".into(),
                    uptime_ms: 3900,
                },
                23_000,
            ),
            (
                Record::ProbeAttach(ProbeAttach {
                    target: "validate_cell".into(),
                    probe: "fentry".into(),
                    error: None,
                }),
                23_000,
            ),
            (
                Record::ProbeAttach(ProbeAttach {
                    target: "sched_ext_exit".into(),
                    probe: "tp_btf".into(),
                    error: None,
                }),
                23_000,
            ),
            (
                Record::Trace {
                    line: "sh-1 [001] d.h1. 5.5: sched_ext_dump:   scx_bpf_error (validate_cell: bad cell 7 (enqueue #400))".into(),
                },
                25_000,
            ),
            (
                Record::ScxState {
                    state: "disabled".into(),
                    uptime_ms: 5500,
                },
                25_100,
            ),
            (Record::ProbeEvent(hit(ProbeKind::Fentry, 5_000_000_000, None)), 26_000),
            (
                Record::ProbeEvent(hit(ProbeKind::Exit, 5_000_100_000, Some(1025))),
                26_000,
            ),
            (
                Record::SchedExit {
                    code: Some(1),
                    signal: None,
                    uptime_ms: 5600,
                },
                26_000,
            ),
            (
                Record::Done {
                    passed: false,
                    uptime_ms: 6000,
                },
                26_500,
            ),
        ] {
            repro(&mut r, Event::Record(rec), t);
        }
        repro(&mut r, Event::End(GuestEnd::PoweredOff), 27_000);
        assert_eq!(r.stage.label(), "auto-repro: finished");
        assert!(r.repros()[0].crashed());
        let report = r.report();
        let ar = crate::sections::auto_repro(&report).expect("an auto-repro section");
        let p = ar.pipeline().expect("a pipeline block");
        assert_eq!(p.stage("trigger").unwrap().value, "fired (tp_btf)");
        let f: Vec<_> = ar
            .probe()
            .expect("an AUTO-PROBE block")
            .functions()
            .collect();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].name, "validate_cell");
        assert!(ar.duration_s().is_some());
        // The repro's crash (in the section's tails) is not the report's.
        assert_eq!(report.crashes, crashes);
        // The raw events of the shown run stay in the report.
        let raw = crate::sections::section_body(&report, &SectionKind::ReproProbeEvents)
            .expect("the repro probe events");
        assert_eq!(crate::run::probe_text::parse_probe_log(raw).events.len(), 2);
        // Live and saved reports agree.
        assert_eq!(parse_str(&to_ktstr(&report)).sections, report.sections);
    }

    #[test]
    fn probe_records_become_a_section_that_parses_back() {
        use crate::run::probe_text::parse_probe_log;
        use crate::run::record::{ProbeAttach, ProbeCount, ProbeHit, ProbeKind, ProbeStats};
        let mut r = demo_run();
        let attach = ProbeAttach {
            target: "scx_bpf_error_bstr".into(),
            probe: "kprobe.multi".into(),
            error: None,
        };
        let hit = ProbeHit {
            target: "scx_bpf_error_bstr".into(),
            kind: ProbeKind::Kprobe,
            t_ns: 5_499_000_001,
            cpu: 1,
            pid: 131,
            comm: "sh".into(),
            task: 0xffff_8880_0312_4000,
            ip: 0xffff_ffff_8123_4560,
            args: vec![1, 2, 3, 4, 5, 6],
            exit_kind: None,
            fields: Vec::new(),
            ret: None,
        };
        let stats = ProbeStats {
            counts: vec![ProbeCount {
                target: "scx_bpf_error_bstr".into(),
                hits: 1,
                kept: 1,
            }],
            lost: 0,
            missed: 0,
        };
        for rec in [
            Record::ProbeAttach(attach.clone()),
            Record::ProbeEvent(hit.clone()),
            Record::ProbeStats(stats.clone()),
        ] {
            r.apply(Event::Record(rec), 6400);
        }
        let rep = r.report();
        let section = rep
            .section(&SectionKind::ProbeEvents)
            .expect("probe events");
        let log = parse_probe_log(&section.body);
        assert_eq!(log.attaches, [attach]);
        assert_eq!(log.events, [hit]);
        assert_eq!(log.counts, stats.counts);
        assert_eq!(&log, r.probes());
        // The section does not disturb the crash, and a saved report is the same.
        assert_eq!(rep.crash().unwrap().kind, ExitKind::ScxBpfError);
        assert_eq!(parse_str(&to_ktstr(&rep)), rep);
        // A run without probes has no such section.
        assert!(demo_run()
            .report()
            .section(&SectionKind::ProbeEvents)
            .is_none());
    }

    #[test]
    fn probe_events_are_bounded() {
        use crate::run::record::{ProbeHit, ProbeKind};
        let mut r = LiveRun::new(RunMeta::default());
        let hit = |t_ns| ProbeHit {
            target: "f".into(),
            kind: ProbeKind::Kprobe,
            t_ns,
            cpu: 0,
            pid: 1,
            comm: "c".into(),
            task: 0,
            ip: 0,
            args: Vec::new(),
            exit_kind: None,
            fields: Vec::new(),
            ret: None,
        };
        for t in 0..(MAX_PROBE_EVENTS as u64 + 5) {
            r.apply(Event::Record(Record::ProbeEvent(hit(t))), 0);
        }
        let p = r.probes();
        assert!(p.events.len() <= MAX_PROBE_EVENTS);
        assert_eq!(
            p.dropped + p.events.len() as u64,
            MAX_PROBE_EVENTS as u64 + 5
        );
        assert_eq!(p.events.last().unwrap().t_ns, MAX_PROBE_EVENTS as u64 + 4);
    }

    #[test]
    fn hung_guest_is_a_timeout() {
        let mut r = LiveRun::new(RunMeta {
            test_name: "t".into(),
            ..RunMeta::default()
        });
        r.apply(Event::Stage(Stage::Booting), 0);
        r.apply(
            Event::End(GuestEnd::Hung {
                stage: "booting".into(),
            }),
            30_000,
        );
        let rep = r.report();
        assert_eq!(
            rep.header.outcome,
            Outcome::Other("timed out: guest hung at booting".into())
        );
        assert!(rep.crash().is_none());
    }

    /// The events of a run up to "loading scheduler" (host ms 2800).
    fn loading_run() -> LiveRun {
        let mut r = LiveRun::new(RunMeta {
            test_name: "demo".into(),
            scheduler: "scx-demo".into(),
            cpus: 2,
            ..RunMeta::default()
        });
        r.apply(Event::Stage(Stage::Booting), 0);
        r.apply(
            Event::Record(Record::Hello {
                agent: "a".into(),
                uptime_ms: 2600,
            }),
            2700,
        );
        r.apply(
            Event::Record(Record::Stage {
                name: "loading scheduler".into(),
                uptime_ms: 2700,
            }),
            2800,
        );
        r
    }

    fn sched_line(r: &mut LiveRun, stream: Stream, line: &str, at: u64) {
        r.apply(
            Event::Record(Record::SchedLine {
                stream,
                line: line.into(),
            }),
            at,
        );
    }

    fn finish(r: &mut LiveRun, passed: bool, at: u64) {
        r.apply(
            Event::Record(Record::Done {
                passed,
                uptime_ms: at,
            }),
            at,
        );
        r.apply(Event::End(GuestEnd::PoweredOff), at + 100);
    }

    #[test]
    fn scheduler_that_never_attaches_shows_its_first_error_and_the_wait() {
        let mut r = loading_run();
        sched_line(&mut r, Stream::Stdout, "scx-demo 1.0 starting", 2900);
        sched_line(
            &mut r,
            Stream::Stderr,
            "error: unexpected argument '--bogus' found",
            3000,
        );
        for l in [
            "",
            "  tip: to pass '--bogus' as a value, use '-- --bogus'",
            "",
            "Usage: scx-demo [OPTIONS]",
            "",
            "For more information, try '--help'.",
        ] {
            sched_line(&mut r, Stream::Stderr, l, 3000);
        }
        r.apply(
            Event::Record(Record::SchedExit {
                code: Some(2),
                signal: None,
                uptime_ms: 3100,
            }),
            3100,
        );
        r.apply(
            Event::Record(Record::Error {
                message: "scheduler exited before attaching (exit status: 2); its output is in the scheduler log".into(),
            }),
            4000,
        );
        finish(&mut r, false, 4100);

        let rep = r.report();
        assert!(rep.crash().is_none());
        assert_eq!(
            rep.header.outcome,
            Outcome::Other("scheduler did not attach".into())
        );
        assert_eq!(
            rep.header.details[0],
            "scheduler did not attach after 1.2s: error: unexpected argument '--bogus' found",
            "{:?}",
            rep.header.details
        );
        assert!(
            rep.header
                .details
                .iter()
                .any(|d| d.starts_with("scheduler exited before attaching")),
            "{:?}",
            rep.header.details
        );
        assert_eq!(
            rep.header.fingerprint.as_deref(),
            Some("error: unexpected argument '--bogus' found")
        );
    }

    #[test]
    fn silent_scheduler_that_never_attaches_reports_the_wait_only() {
        let mut r = loading_run();
        r.apply(
            Event::Record(Record::Error {
                message: "scheduler did not attach within 20000 ms (sched_ext state: disabled)"
                    .into(),
            }),
            22_800,
        );
        finish(&mut r, false, 22_900);
        let rep = r.report();
        assert_eq!(
            rep.header.details[0],
            "scheduler did not attach after 20.0s"
        );
        assert_eq!(rep.header.fingerprint, None);
    }

    #[test]
    fn first_error_prefers_stderr_then_any_stderr_line() {
        let mut f = SchedFirst::default();
        f.push(Stream::Stdout, "loading: failed to open map, retrying");
        f.push(Stream::Stderr, "libbpf: warming up");
        assert_eq!(f.line(), Some("loading: failed to open map, retrying"));
        f.push(
            Stream::Stderr,
            "Error: No such file or directory (os error 2)",
        );
        assert_eq!(
            f.line(),
            Some("Error: No such file or directory (os error 2)")
        );
        let mut g = SchedFirst::default();
        g.push(Stream::Stdout, "hello");
        assert_eq!(g.line(), None);
        g.push(Stream::Stderr, "  something odd  ");
        assert_eq!(g.line(), Some("something odd"));
    }

    #[test]
    fn passed_run_has_no_last_line_headline() {
        let mut r = loading_run();
        sched_line(&mut r, Stream::Stdout, "scx-demo: attached", 3000);
        r.apply(
            Event::Record(Record::ScxState {
                state: "enabled".into(),
                uptime_ms: 3900,
            }),
            4000,
        );
        sched_line(&mut r, Stream::Stdout, "scx-demo: exiting, bye", 9000);
        finish(&mut r, true, 9100);
        let rep = r.report();
        assert_eq!(rep.header.outcome, Outcome::Other("passed".into()));
        assert_ne!(
            rep.header.fingerprint.as_deref(),
            Some("scx-demo: exiting, bye")
        );
        assert_eq!(rep.header.fingerprint, None);
    }

    #[test]
    fn cancelled_run_has_no_last_line_headline_unless_it_crashed() {
        let attached = |r: &mut LiveRun| {
            sched_line(
                r,
                Stream::Stdout,
                "scx-demo: select=83 dispatched=146",
                3000,
            );
            r.apply(
                Event::Record(Record::ScxState {
                    state: "enabled".into(),
                    uptime_ms: 3900,
                }),
                4000,
            );
        };
        let mut r = loading_run();
        attached(&mut r);
        r.apply(Event::End(GuestEnd::Cancelled), 5000);
        let rep = r.report();
        assert_eq!(rep.header.outcome, Outcome::Other("cancelled".into()));
        assert_eq!(rep.header.fingerprint, None);
        assert!(!r.crash_seen());

        let mut r = loading_run();
        attached(&mut r);
        sched_line(
            &mut r,
            Stream::Stderr,
            "EXIT: cell 0 has no usable CPU left",
            4500,
        );
        r.apply(
            Event::Record(Record::ScxState {
                state: "disabled".into(),
                uptime_ms: 4600,
            }),
            4700,
        );
        r.apply(Event::End(GuestEnd::Cancelled), 5000);
        let rep = r.report();
        assert!(r.crash_seen());
        assert_eq!(
            rep.header.fingerprint.as_deref(),
            Some("EXIT: cell 0 has no usable CPU left")
        );
        assert!(rep
            .header
            .details
            .contains(&"scheduler crashed before the run was cancelled".to_string()));
    }

    /// A long run keeps the newest samples only: memory stays bounded.
    #[test]
    fn monitor_samples_stay_bounded_over_a_long_run() {
        use crate::host_monitor::sample::{CpuSample, Sample};
        let mut r = loading_run();
        for i in 0..10_000u64 {
            let sample = Sample {
                at_ms: i * 100,
                cpus: vec![CpuSample::default(); 2],
                ..Sample::default()
            };
            r.apply(Event::Monitor(sample), i * 100);
        }
        assert_eq!(r.samples.len(), MAX_SAMPLES);
        assert_eq!(
            r.samples.front().map(|s| s.at_ms),
            Some((10_000 - MAX_SAMPLES as u64) * 100)
        );
        let rep = r.report();
        let body = &rep.section(&SectionKind::MonitorSamples).unwrap().body;
        assert_eq!(
            body.lines().filter(|l| l.starts_with("t=")).count(),
            MAX_SAMPLES
        );
    }
}
