//! A run as it happens: host and guest events folded into the state the live
//! panes show, and at any moment the same [`Report`] model a saved report
//! gives (built by writing ktstr's layout and parsing it, so live and saved
//! reports can never disagree).

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::parse::parse_text;
use crate::report::{Header, Outcome, Report, Section, SectionKind, Text};
use crate::write::to_ktstr;

use crate::host_monitor::sample::Sample;
use crate::host_monitor::samples_text::write_samples;
use crate::host_monitor::summary::{Summary, Thresholds};

use super::bounded::BoundedLog;
use super::probe_text::{write_probe_log, ProbeLog};
use super::record::{CgroupStats, Record, Stream};

/// Per-stream memory budget: a flooding guest cannot take more than this.
const LOG_BUDGET: usize = 32 << 20;
/// Monitor samples kept: the last 10 minutes at 100 ms. The summary covers
/// what is kept.
const MAX_SAMPLES: usize = 6000;
/// Probe hits kept (the oldest go first; the guest already sends only the
/// last ones before the exit), and attach results kept.
const MAX_PROBE_EVENTS: usize = 20_000;
const MAX_PROBE_ATTACHES: usize = 256;

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
    Meta(RunMeta),
    /// One sample of the host monitor (guest runqueues read from its RAM).
    Monitor(Sample),
    End(GuestEnd),
}

/// Fixed facts about the run.
#[derive(Debug, Clone, Default)]
pub struct RunMeta {
    pub test_name: String,
    pub scheduler: String,
    pub kernel: String,
    pub cpus: u32,
    pub scenario: String,
    pub backend: String,
}

/// Host times (ms since the run started) of the moments the timeline reports.
#[derive(Debug, Clone, Copy, Default)]
struct Marks {
    boot: Option<u64>,
    userspace: Option<u64>,
    load_start: Option<u64>,
    enabled: Option<u64>,
    crash: Option<u64>,
    collecting: Option<u64>,
    done: Option<u64>,
    end: Option<u64>,
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
    probes: ProbeLog,
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
            probes: ProbeLog::default(),
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
            Event::Meta(m) => self.meta = m,
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
        }
    }

    fn record(&mut self, r: Record, at_ms: u64) {
        match r {
            Record::Hello { .. } => {
                self.marks.userspace.get_or_insert(at_ms);
                self.stage = Stage::Preparing;
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
                let _ = stream == Stream::Stderr;
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
            Record::Error { message } => self.errors.push(message),
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
            }
        }
    }

    /// True once the scheduler is known to have died after attaching.
    pub fn crashed(&self) -> bool {
        self.marks.crash.is_some() || (self.passed == Some(false) && self.attached())
    }

    /// True once sched_ext reported the scheduler `enabled`.
    pub fn attached(&self) -> bool {
        self.marks.enabled.is_some()
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
        if !self.probes.is_empty() {
            push(SectionKind::ProbeEvents, write_probe_log(&self.probes));
        }
        push(SectionKind::Console, self.console.text());
        push(SectionKind::Other("dmesg".into()), self.kmsg.text());

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
            (Some(GuestEnd::Cancelled), _) => Outcome::Other("cancelled".into()),
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
            _ if self.passed == Some(true) => Outcome::Other("passed".into()),
            _ if self.passed == Some(false) => Outcome::Other("scheduler did not attach".into()),
            _ => Outcome::Other(format!("in progress: {}", self.stage.label())),
        };
        details.extend(self.errors.iter().cloned());
        let last_log = self
            .sched_log
            .lines()
            .filter(|l| !l.trim().is_empty())
            .last()
            .map(str::to_string);
        Header {
            preamble: Vec::new(),
            fingerprint: last_log,
            bug_summary: None,
            test_name: Some(self.meta.test_name.clone()),
            scheduler: Some(self.meta.scheduler.clone()).filter(|s| !s.is_empty()),
            topology: (self.meta.cpus > 0).then(|| format!("1n1l{}c1t", self.meta.cpus)),
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
    /// was attached (ktstr likewise leaves out the samples before its
    /// scheduler settled); nothing before it attached.
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
        Summary::from_samples(&samples, &Thresholds::DEFAULT).to_section_text()
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
                "topology: 1n1l{}c1t ({} cpus)",
                self.meta.cpus, self.meta.cpus
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
        };
        let stats = ProbeStats {
            counts: vec![ProbeCount {
                target: "scx_bpf_error_bstr".into(),
                hits: 1,
                kept: 1,
            }],
            lost: 0,
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
}
