//! The monitor summary and threshold verdict (ktstr-notes §4.3, §4.5), and
//! its `--- monitor ---` text (§1.9).
//!
//! SCX event counters give the `events:`/`events+:` lines and the
//! `max_fallback_rate`/`max_keep_last_rate` checks; runqueue schedstat the
//! `schedstat:` line; the struct_ops programs' statistics the `bpf:` lines.
//! What ktstr computes that is not sampled yet: sched_domain load-balance
//! stats (ktstr samples but never prints them) and the preempted-vCPU
//! exemption of the stall check (see [`stuck_cpus`]). What the samples
//! could not carry is said on `note:` lines, never shown as zeros.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::events::{Events, EventsSummary};
use super::sample::{stuck_cpus, Sample, Schedstats};
use super::WARMUP_SAMPLES;
use crate::sections::monitor::{MonitorSection, Stall, VerdictStatus};

/// ktstr's `MonitorThresholds`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Fails when a sample's imbalance ratio is above this...
    pub max_imbalance_ratio: f64,
    /// ...or any CPU's local DSQ is deeper than this...
    pub max_local_dsq_depth: u32,
    /// ...or (when set) a CPU's `rq.clock` stands still...
    pub fail_on_stall: bool,
    /// ...for at least this many consecutive samples.
    pub sustained_samples: usize,
    /// ...or SCX `select_cpu_fallback` events per second between two
    /// samples go above this...
    pub max_fallback_rate: f64,
    /// ...or SCX `dispatch_keep_last` events per second do.
    pub max_keep_last_rate: f64,
}

impl Thresholds {
    /// ktstr's `MonitorThresholds::DEFAULT`.
    pub const DEFAULT: Thresholds = Thresholds {
        max_imbalance_ratio: 4.0,
        max_local_dsq_depth: 50,
        fail_on_stall: true,
        sustained_samples: 5,
        max_fallback_rate: 200.0,
        max_keep_last_rate: 100.0,
    };
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds::DEFAULT
    }
}

/// ktstr's threshold verdict, computed from samples. A report's
/// `verdict:` line read back is a [`SectionVerdict`](crate::sections::SectionVerdict).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "violations", rename_all = "snake_case")]
pub enum MonitorVerdict {
    /// `monitor OK`
    Ok,
    /// `monitor FAILED: <n> violation(s): <a>; <b>`
    Failed(Vec<String>),
    /// `no monitor samples`
    NoSamples,
    /// `monitor data not yet initialized`: some sample was implausible, or
    /// every `rq.clock` read was the same value. Thresholds are not checked.
    NotInitialized,
}

impl MonitorVerdict {
    /// The text after `verdict: `.
    pub fn text(&self) -> String {
        match self {
            MonitorVerdict::Ok => "monitor OK".to_string(),
            MonitorVerdict::Failed(v) => {
                format!("monitor FAILED: {} violation(s): {}", v.len(), v.join("; "))
            }
            MonitorVerdict::NoSamples => "no monitor samples".to_string(),
            MonitorVerdict::NotInitialized => "monitor data not yet initialized".to_string(),
        }
    }

    pub fn failed(&self) -> bool {
        matches!(self, MonitorVerdict::Failed(_))
    }
}

/// ktstr's `MonitorSummary` plus the verdict, over the fields scxray samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Valid samples ([`Sample::valid`]); every number below is over these.
    pub samples: u64,
    pub max_imbalance: f64,
    pub avg_imbalance: f64,
    /// Mean `rq.nr_running` per CPU reading.
    pub avg_nr_running: f64,
    /// Mean local DSQ depth per CPU reading.
    pub avg_dsq: f64,
    pub max_dsq_depth: u32,
    /// Stuck-CPU events: CPUs [`stuck_cpus`] reports, summed over consecutive
    /// pairs of valid samples.
    pub stuck: u64,
    /// `events:`/`events+:`, when some sample carried counters.
    pub events: Option<EventsSummary>,
    /// `schedstat:`, when some sample carried schedstat.
    pub schedstat: Option<SchedstatSummary>,
    /// `bpf:` lines (read back from reports; not sampled yet).
    pub bpf: Vec<BpfSummary>,
    /// `note:` lines: what could not be read, and what still works.
    pub notes: Vec<String>,
    pub verdict: MonitorVerdict,
}

/// `schedstat: csw=<n> (<f0>/s) run_delay=<f0>ns/s ttwu=<n> goidle=<n>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchedstatSummary {
    pub csw: u64,
    pub csw_rate: f64,
    pub run_delay_ns_per_s: f64,
    pub ttwu: u64,
    pub goidle: u64,
}

impl SchedstatSummary {
    /// ktstr's numbers: the increase of the summed counters from the first
    /// to the last sample that has them, rates per second of that span
    /// (0 for a single sample). `None` when no sample has them.
    pub fn from_samples(samples: &[Sample]) -> Option<SchedstatSummary> {
        let mut read = samples.iter().filter_map(|s| match &s.schedstat {
            Some(Schedstats::Read(ss)) => Some((s.at_ms, ss)),
            _ => None,
        });
        let first = read.next()?;
        let last = read.next_back().unwrap_or(first);
        let secs = last.0.saturating_sub(first.0) as f64 / 1000.0;
        let d = |f: fn(&super::sample::Schedstat) -> u64| f(last.1).saturating_sub(f(first.1));
        let rate = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        let csw = d(|s| s.sched_count);
        Some(SchedstatSummary {
            csw,
            csw_rate: rate(csw),
            run_delay_ns_per_s: rate(d(|s| s.run_delay)),
            ttwu: d(|s| s.ttwu_count),
            goidle: d(|s| s.sched_goidle),
        })
    }
}

/// `bpf: <name> cnt=<n> <f0>ns/call`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BpfSummary {
    pub name: String,
    pub cnt: u64,
    pub ns_per_call: f64,
}

/// One run of consecutive violating samples.
#[derive(Debug, Clone, Copy)]
struct Run<V> {
    start: usize,
    end: usize,
    len: usize,
    value: V,
}

/// ktstr's `SustainedViolationTracker`: the current run and the longest one
/// (the first of equally long runs).
#[derive(Debug)]
struct Tracker<V> {
    cur: Option<Run<V>>,
    worst: Option<Run<V>>,
}

impl<V: Copy> Tracker<V> {
    fn new() -> Self {
        Tracker {
            cur: None,
            worst: None,
        }
    }

    /// Sample `i` violates with `value`; `keep(new, old)` says whether `new`
    /// replaces the run's reported value.
    fn hit(&mut self, i: usize, value: V, keep: impl Fn(&V, &V) -> bool) {
        let run = match self.cur.as_mut() {
            Some(r) => {
                r.end = i;
                r.len += 1;
                if keep(&value, &r.value) {
                    r.value = value;
                }
                *r
            }
            None => *self.cur.insert(Run {
                start: i,
                end: i,
                len: 1,
                value,
            }),
        };
        if self.worst.is_none_or(|w| run.len > w.len) {
            self.worst = Some(run);
        }
    }

    fn miss(&mut self) {
        self.cur = None;
    }

    fn sustained(&self, n: usize) -> Option<Run<V>> {
        self.worst.filter(|w| w.len >= n.max(1))
    }
}

impl Summary {
    /// Summarizes `samples` (oldest first) and checks them against `t`.
    pub fn from_samples(samples: &[Sample], t: &Thresholds) -> Summary {
        let valid: Vec<&Sample> = samples.iter().filter(|s| s.valid()).collect();
        let n = valid.len();
        let mut max_imbalance: f64 = 0.0;
        let mut sum_imbalance = 0.0;
        let (mut readings, mut sum_nr, mut sum_dsq) = (0u64, 0u64, 0u64);
        let mut max_dsq_depth = 0;
        for s in &valid {
            let imb = s.imbalance();
            max_imbalance = max_imbalance.max(imb);
            sum_imbalance += imb;
            for c in &s.cpus {
                readings += 1;
                sum_nr += u64::from(c.nr_running);
                sum_dsq += u64::from(c.local_dsq);
                max_dsq_depth = max_dsq_depth.max(c.local_dsq);
            }
        }
        let mean = |sum: f64, count: u64| if count == 0 { 0.0 } else { sum / count as f64 };
        let stuck = valid
            .windows(2)
            .map(|w| stuck_cpus(w[0], w[1]).len() as u64)
            .sum();
        let mut notes = Vec::new();
        let events = match EventsSummary::from_samples(samples) {
            Some((events, missing)) => {
                if !missing.is_empty() {
                    notes.push(format!(
                        "this kernel's struct scx_event_stats has no {} counter (shown as 0); the other counters are read",
                        missing.join("/")
                    ));
                }
                Some(events)
            }
            None => {
                let why = samples.iter().rev().find_map(|s| match &s.events {
                    Some(Events::Unavailable(why)) => Some(why.0.to_string()),
                    _ => None,
                });
                // No sample with counters and no reason: they were not
                // sampled (no scheduler attached, or an older report); the
                // `events:` line is left out, as ktstr does.
                if let Some(why) = why {
                    notes.push(format!(
                        "event counters not read: {why}; runqueue fields are sampled"
                    ));
                }
                None
            }
        };
        let bpf = match super::bpf::summarize(samples) {
            Some((lines, note)) => {
                notes.extend(note);
                lines
            }
            None => {
                let why = samples.iter().rev().find_map(|s| match &s.bpf {
                    Some(super::bpf::BpfProgs::Unavailable(why)) => Some(why.0.to_string()),
                    _ => None,
                });
                if let Some(why) = why {
                    notes.push(format!(
                        "BPF program statistics not read: {why}; the other fields are sampled"
                    ));
                }
                Vec::new()
            }
        };
        let schedstat = SchedstatSummary::from_samples(samples);
        if schedstat.is_none() {
            let why = samples.iter().rev().find_map(|s| match &s.schedstat {
                Some(Schedstats::Unavailable(why)) => Some(why.0.to_string()),
                _ => None,
            });
            if let Some(why) = why {
                notes.push(format!(
                    "schedstat not read: {why}; the other fields are sampled"
                ));
            }
        }
        Summary {
            samples: n as u64,
            max_imbalance,
            avg_imbalance: mean(sum_imbalance, n as u64),
            avg_nr_running: mean(sum_nr as f64, readings),
            avg_dsq: mean(sum_dsq as f64, readings),
            max_dsq_depth,
            stuck,
            events,
            schedstat,
            bpf,
            notes,
            verdict: evaluate(samples, t),
        }
    }

    /// ktstr's numbers for a run: [`Summary::from_samples`] after dropping
    /// the first [`WARMUP_SAMPLES`] samples, as ktstr does.
    pub fn from_run(samples: &[Sample], t: &Thresholds) -> Summary {
        Summary::from_samples(&samples[WARMUP_SAMPLES.min(samples.len())..], t)
    }

    /// A `--- monitor ---` body read back: ktstr's (test vector E) or
    /// scxray's, whose [`to_section_text`](Summary::to_section_text) gives
    /// the same text again. `None` without a `samples=` line or a verdict
    /// this model does not know.
    pub fn parse_section(body: &str) -> Option<Summary> {
        Summary::from_section(&MonitorSection::parse(body))
    }

    /// [`Summary::parse_section`] over an already parsed section.
    pub fn from_section(m: &MonitorSection) -> Option<Summary> {
        let avg = m.avg.clone().unwrap_or_default();
        let events = (!m.events.is_empty()).then(|| {
            let get = |name| count(&m.events, name);
            EventsSummary {
                fallback: get("fallback").and_then(|c| c.count).unwrap_or(0),
                fallback_rate: get("fallback").and_then(|c| c.rate_per_s).unwrap_or(0.0),
                keep_last: get("keep_last").and_then(|c| c.count).unwrap_or(0),
                keep_last_rate: get("keep_last").and_then(|c| c.rate_per_s).unwrap_or(0.0),
                offline: get("offline").and_then(|c| c.count).unwrap_or(0),
                plus: m
                    .events_plus
                    .iter()
                    .map(|c| (c.name.clone(), c.count.unwrap_or(0)))
                    .collect(),
            }
        });
        let schedstat = (!m.schedstat.is_empty()).then(|| {
            let get = |name| count(&m.schedstat, name);
            SchedstatSummary {
                csw: get("csw").and_then(|c| c.count).unwrap_or(0),
                csw_rate: get("csw").and_then(|c| c.rate_per_s).unwrap_or(0.0),
                run_delay_ns_per_s: get("run_delay").and_then(|c| c.count).unwrap_or(0) as f64,
                ttwu: get("ttwu").and_then(|c| c.count).unwrap_or(0),
                goidle: get("goidle").and_then(|c| c.count).unwrap_or(0),
            }
        });
        let verdict = m.verdict.as_ref()?;
        let verdict = match verdict.status {
            VerdictStatus::Ok => MonitorVerdict::Ok,
            VerdictStatus::NoSamples => MonitorVerdict::NoSamples,
            VerdictStatus::NotInitialized => MonitorVerdict::NotInitialized,
            VerdictStatus::Failed(_) => MonitorVerdict::Failed(verdict.details.clone()),
            VerdictStatus::Other => return None,
        };
        Some(Summary {
            samples: m.samples?,
            max_imbalance: m.max_imbalance?,
            avg_imbalance: avg.imbalance.unwrap_or(0.0),
            avg_nr_running: avg.nr_running_per_cpu.unwrap_or(0.0),
            avg_dsq: avg.dsq_per_cpu.unwrap_or(0.0),
            max_dsq_depth: u32::try_from(m.max_dsq_depth?).ok()?,
            stuck: match m.stall? {
                Stall::Stuck(n) => n,
                Stall::Flag(b) => u64::from(b),
            },
            events,
            schedstat,
            bpf: m
                .bpf
                .iter()
                .map(|p| BpfSummary {
                    name: p.name.clone(),
                    cnt: p.count.unwrap_or(0),
                    ns_per_call: p.ns_per_call.unwrap_or(0.0),
                })
                .collect(),
            notes: m
                .unknown
                .iter()
                .filter_map(|l| l.strip_prefix("note:"))
                .map(|n| n.trim().to_string())
                .collect(),
            verdict,
        })
    }

    /// The body of a `--- monitor ---` section in ktstr's NEWER template
    /// (`stuck=<n>`), without a trailing newline. Lines without data are
    /// omitted (`avg:` without a valid sample, `events:` without counters,
    /// `schedstat:`, `bpf:`); `note:` lines, scxray's, come before the
    /// verdict.
    pub fn to_section_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "samples={} max_imbalance={:.2} max_dsq_depth={} stuck={}",
            self.samples, self.max_imbalance, self.max_dsq_depth, self.stuck
        );
        if self.samples > 0 {
            let _ = writeln!(
                out,
                "avg: imbalance={:.2} nr_running/cpu={:.1} dsq/cpu={:.1}",
                self.avg_imbalance, self.avg_nr_running, self.avg_dsq
            );
        }
        if let Some(e) = &self.events {
            e.write_lines(&mut out);
        }
        if let Some(s) = &self.schedstat {
            let _ = writeln!(
                out,
                "schedstat: csw={} ({:.0}/s) run_delay={:.0}ns/s ttwu={} goidle={}",
                s.csw, s.csw_rate, s.run_delay_ns_per_s, s.ttwu, s.goidle
            );
        }
        for p in &self.bpf {
            let _ = writeln!(
                out,
                "bpf: {} cnt={} {:.0}ns/call",
                p.name, p.cnt, p.ns_per_call
            );
        }
        for n in &self.notes {
            let _ = writeln!(out, "note: {n}");
        }
        let _ = write!(out, "verdict: {}", self.verdict.text());
        out
    }
}

/// ktstr's `MonitorThresholds::evaluate`, over the checks scxray's samples
/// allow: sustained imbalance, sustained local DSQ depth, sustained per-CPU
/// `rq.clock` stall. Sample indices in the messages count from 0 in `samples`.
fn evaluate(samples: &[Sample], t: &Thresholds) -> MonitorVerdict {
    if samples.is_empty() {
        return MonitorVerdict::NoSamples;
    }
    let mut clocks = samples.iter().flat_map(|s| s.cpus.iter().map(|c| c.clock));
    let first = clocks.next();
    let all_same_clock = first.is_some() && {
        let mut more = false;
        let same = clocks.all(|c| {
            more = true;
            Some(c) == first
        });
        same && more
    };
    if all_same_clock || !samples.iter().all(Sample::valid) {
        return MonitorVerdict::NotInitialized;
    }

    let mut imbalance = Tracker::<f64>::new();
    let mut dsq = Tracker::<(u32, usize)>::new();
    let ncpus = samples.iter().map(|s| s.cpus.len()).max().unwrap_or(0);
    let mut stall: Vec<Tracker<u64>> = (0..ncpus).map(|_| Tracker::new()).collect();
    let mut fallback = Tracker::<f64>::new();
    let mut keep_last = Tracker::<f64>::new();
    for (i, s) in samples.iter().enumerate() {
        let prev = i.checked_sub(1).map(|p| &samples[p]);
        for (tracker, field, max) in [
            (
                &mut fallback,
                "SCX_EV_SELECT_CPU_FALLBACK",
                t.max_fallback_rate,
            ),
            (
                &mut keep_last,
                "SCX_EV_DISPATCH_KEEP_LAST",
                t.max_keep_last_rate,
            ),
        ] {
            match prev.and_then(|p| interval_rate(p, s, field)) {
                Some(rate) if rate > max => tracker.hit(i, rate, |new, old| new > old),
                _ => tracker.miss(),
            }
        }
        let imb = s.imbalance();
        if imb > t.max_imbalance_ratio {
            imbalance.hit(i, imb, |new, old| new > old);
        } else {
            imbalance.miss();
        }
        let deepest = s
            .cpus
            .iter()
            .enumerate()
            .map(|(cpu, c)| (c.local_dsq, cpu))
            .reduce(|a, b| if b.0 > a.0 { b } else { a });
        match deepest {
            Some(d) if d.0 > t.max_local_dsq_depth => dsq.hit(i, d, |new, old| new.0 > old.0),
            _ => dsq.miss(),
        }
        let stuck = match i.checked_sub(1) {
            Some(p) => stuck_cpus(&samples[p], s),
            None => Vec::new(),
        };
        for (cpu, tr) in stall.iter_mut().enumerate() {
            if stuck.contains(&cpu) {
                tr.hit(i, s.cpus[cpu].clock, |_, _| true);
            } else {
                tr.miss();
            }
        }
    }

    let n = t.sustained_samples;
    let mut violations = Vec::new();
    if let Some(r) = imbalance.sustained(n) {
        violations.push(format!(
            "imbalance ratio {:.1} exceeded threshold {:.1} for {} consecutive samples (ending at sample {})",
            r.value, t.max_imbalance_ratio, r.len, r.end
        ));
    }
    if let Some(r) = dsq.sustained(n) {
        violations.push(format!(
            "local DSQ depth {} on cpu{} exceeded threshold {} for {} consecutive samples (ending at sample {})",
            r.value.0, r.value.1, t.max_local_dsq_depth, r.len, r.end
        ));
    }
    for (what, tracker, max) in [
        ("fallback", &fallback, t.max_fallback_rate),
        ("keep_last", &keep_last, t.max_keep_last_rate),
    ] {
        if let Some(r) = tracker.sustained(n) {
            violations.push(format!(
                "{what} rate {:.1}/s exceeded threshold {:.1}/s for {} consecutive intervals (ending at sample {})",
                r.value, max, r.len, r.end
            ));
        }
    }
    if t.fail_on_stall {
        for (cpu, tr) in stall.iter().enumerate() {
            if let Some(r) = tr.sustained(n) {
                // The clock has stood still since the sample before the run.
                let since = samples[r.start.saturating_sub(1)].at_ms;
                let ms = samples[r.end].at_ms.saturating_sub(since);
                violations.push(format!(
                    "rq_clock stall on cpu{cpu} for {} consecutive samples (ending at sample {}, clock={}): cpu{cpu} stuck for {ms}ms",
                    r.len, r.end, r.value
                ));
            }
        }
    }
    if violations.is_empty() {
        MonitorVerdict::Ok
    } else {
        MonitorVerdict::Failed(violations)
    }
}

fn count<'a>(
    c: &'a [crate::sections::monitor::Counter],
    name: &str,
) -> Option<&'a crate::sections::monitor::Counter> {
    c.iter().find(|c| c.name == name)
}

/// Events of counter `field` per second between samples `prev` and `cur`,
/// when both carry it and time passed (a counter that went down restarted).
fn interval_rate(prev: &Sample, cur: &Sample, field: &str) -> Option<f64> {
    let (a, b) = (
        prev.events.as_ref()?.get(field)?,
        cur.events.as_ref()?.get(field)?,
    );
    let ms = cur.at_ms.checked_sub(prev.at_ms).filter(|&ms| ms > 0)?;
    let d = if b >= a { b - a } else { b.max(0) };
    Some(d as f64 * 1000.0 / ms as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host_monitor::events::Shared;
    use crate::host_monitor::CpuSample;

    fn cpu(nr_running: u32, local_dsq: u32, clock: u64) -> CpuSample {
        CpuSample {
            nr_running,
            scx_nr_running: nr_running,
            local_dsq,
            clock,
        }
    }

    /// `n` samples 100 ms apart; `f(i)` gives sample i's CPUs.
    fn run(n: usize, f: impl Fn(u64) -> Vec<CpuSample>) -> Vec<Sample> {
        (0..n as u64)
            .map(|i| Sample {
                at_ms: i * 100,
                cpus: f(i),
                events: None,
                schedstat: None,
                bpf: None,
                vcpu_wait_ns: None,
                runnable_wait: None,
            })
            .collect()
    }

    fn healthy(i: u64) -> Vec<CpuSample> {
        vec![cpu(2, 1, 1000 + i * 100), cpu(1, 0, 2000 + i * 100)]
    }

    fn summary(samples: &[Sample]) -> Summary {
        Summary::from_samples(samples, &Thresholds::DEFAULT)
    }

    #[test]
    fn defaults_are_ktstrs() {
        let t = Thresholds::default();
        assert_eq!(t.max_imbalance_ratio, 4.0);
        assert_eq!(t.max_local_dsq_depth, 50);
        assert!(t.fail_on_stall);
        assert_eq!(t.sustained_samples, 5);
        assert_eq!((t.max_fallback_rate, t.max_keep_last_rate), (200.0, 100.0));
    }

    #[test]
    fn healthy_run() {
        let s = summary(&run(10, healthy));
        assert_eq!(s.samples, 10);
        assert_eq!((s.max_imbalance, s.avg_imbalance), (2.0, 2.0));
        assert_eq!(
            (s.avg_nr_running, s.avg_dsq, s.max_dsq_depth),
            (1.5, 0.5, 1)
        );
        assert_eq!((s.stuck, &s.verdict), (0, &MonitorVerdict::Ok));
        assert_eq!(
            s.to_section_text(),
            "samples=10 max_imbalance=2.00 max_dsq_depth=1 stuck=0\n\
             avg: imbalance=2.00 nr_running/cpu=1.5 dsq/cpu=0.5\n\
             verdict: monitor OK"
        );
    }

    #[test]
    fn imbalance_must_be_sustained() {
        // Samples 3..=6 (4 samples) at ratio 5: not enough.
        let short = run(12, |i| {
            let mut c = healthy(i);
            c[0].nr_running = if (3..7).contains(&i) { 5 } else { 2 };
            c
        });
        let s = summary(&short);
        assert_eq!(s.max_imbalance, 5.0);
        assert_eq!(s.verdict, MonitorVerdict::Ok);
        // Two runs: 2..=6 (5 samples, peak 6) and 8..=10 (3): the first fails.
        let long = run(12, |i| {
            let mut c = healthy(i);
            c[0].nr_running = match i {
                4 => 6,
                2..=6 | 8..=10 => 5,
                _ => 1,
            };
            c
        });
        assert_eq!(
            summary(&long).verdict,
            MonitorVerdict::Failed(vec![
                "imbalance ratio 6.0 exceeded threshold 4.0 for 5 consecutive samples (ending at sample 6)".into()
            ])
        );
    }

    #[test]
    fn dsq_depth_sustained() {
        let samples = run(8, |i| {
            let mut c = healthy(i);
            if i >= 1 {
                c[1].local_dsq = 51 + i as u32;
            }
            c
        });
        let s = summary(&samples);
        assert_eq!(s.max_dsq_depth, 58);
        assert_eq!(
            s.verdict,
            MonitorVerdict::Failed(vec![
                "local DSQ depth 58 on cpu1 exceeded threshold 50 for 7 consecutive samples (ending at sample 7)".into()
            ])
        );
    }

    #[test]
    fn stuck_cpu() {
        // cpu1's clock freezes at sample 3 and stays frozen to the end
        // (samples 4..=309 are stuck: 306 pairs, 30.6 s) while it has work.
        let samples = run(310, |i| {
            let mut c = healthy(i);
            c[1].clock = 2000 + i.min(3) * 100;
            c
        });
        let s = summary(&samples);
        assert_eq!(s.stuck, 306);
        assert_eq!(
            s.verdict,
            MonitorVerdict::Failed(vec![
                "rq_clock stall on cpu1 for 306 consecutive samples (ending at sample 309, clock=2300): cpu1 stuck for 30600ms".into()
            ])
        );
        let parsed = MonitorSection::parse(&s.to_section_text());
        assert_eq!(parsed.stall, Some(Stall::Stuck(306)));
        assert!(parsed.verdict.unwrap().details[0].ends_with("cpu1 stuck for 30600ms"));

        // Idle in both samples: NOHZ, not stuck. Four stuck samples: counted,
        // but not sustained.
        let samples = run(10, |i| {
            let mut c = healthy(i);
            c[1].nr_running = 0;
            c[1].clock = 2000;
            if (2..6).contains(&i) {
                c[0].clock = 7;
            }
            c
        });
        let s = summary(&samples);
        assert_eq!((s.stuck, &s.verdict), (3, &MonitorVerdict::Ok));
        let no_stall = Thresholds {
            fail_on_stall: false,
            ..Thresholds::DEFAULT
        };
        let frozen = run(20, |i| vec![cpu(1, 0, 5 + i.min(1))]);
        assert!(summary(&frozen).verdict.failed());
        assert_eq!(
            Summary::from_samples(&frozen, &no_stall).verdict,
            MonitorVerdict::Ok
        );
    }

    #[test]
    fn no_samples_and_uninitialized() {
        let s = summary(&[]);
        assert_eq!((s.samples, &s.verdict), (0, &MonitorVerdict::NoSamples));
        assert_eq!(
            s.to_section_text(),
            "samples=0 max_imbalance=0.00 max_dsq_depth=0 stuck=0\nverdict: no monitor samples"
        );
        // Every clock the same: the rq was never written.
        let s = summary(&run(10, |_| vec![cpu(9, 0, 42), cpu(0, 0, 42)]));
        assert_eq!(s.verdict, MonitorVerdict::NotInitialized);
        // One implausible sample: not counted, and no verdict is given.
        let mut samples = run(10, healthy);
        samples[4].cpus[0].local_dsq = 20_000;
        samples[5].cpus.clear();
        let s = summary(&samples);
        assert_eq!((s.samples, s.max_dsq_depth), (8, 1));
        assert_eq!(s.verdict, MonitorVerdict::NotInitialized);
        assert_eq!(
            MonitorSection::parse(&s.to_section_text())
                .verdict
                .unwrap()
                .status,
            VerdictStatus::NotInitialized
        );
    }

    /// The text parses back with the `--- monitor ---` parser, same numbers.
    #[test]
    fn section_text_parses_back() {
        let mut samples = run(40, |i| {
            vec![
                cpu((i % 7) as u32 + 1, (i % 3) as u32, 10 + i * 100),
                cpu(1, 60 + (i % 5) as u32, 20 + i * 100),
                cpu(3, 0, if i > 30 { 3030 } else { 30 + i * 100 }),
            ]
        });
        samples[0].cpus[1].nr_running = 0;
        let s = summary(&samples);
        assert!(s.verdict.failed());
        for s in [s, summary(&run(10, healthy)), summary(&[])] {
            let text = s.to_section_text();
            let m = MonitorSection::parse(&text);
            assert!(m.unknown.is_empty() && m.extra.is_empty(), "{text}");
            assert_eq!(m.samples, Some(s.samples));
            let close = |a: Option<f64>, b: f64, eps: f64| {
                let a = a.unwrap();
                assert!((a - b).abs() <= eps, "{a} vs {b} in\n{text}");
            };
            close(m.max_imbalance, s.max_imbalance, 0.005);
            assert_eq!(m.max_dsq_depth, Some(u64::from(s.max_dsq_depth)));
            assert_eq!(m.stall, Some(Stall::Stuck(s.stuck)));
            if s.samples > 0 {
                let avg = m.avg.clone().unwrap();
                close(avg.imbalance, s.avg_imbalance, 0.005);
                close(avg.nr_running_per_cpu, s.avg_nr_running, 0.05);
                close(avg.dsq_per_cpu, s.avg_dsq, 0.05);
            } else {
                assert_eq!(m.avg, None);
            }
            let v = m.verdict.unwrap();
            assert_eq!(v.text, s.verdict.text());
            match &s.verdict {
                MonitorVerdict::Ok => assert_eq!(v.status, VerdictStatus::Ok),
                MonitorVerdict::NoSamples => assert_eq!(v.status, VerdictStatus::NoSamples),
                MonitorVerdict::NotInitialized => {
                    assert_eq!(v.status, VerdictStatus::NotInitialized)
                }
                MonitorVerdict::Failed(d) => {
                    assert_eq!(v.status, VerdictStatus::Failed(Some(d.len() as u32)));
                    assert_eq!(&v.details, d);
                }
            }
        }
    }

    /// ktstr-notes-2 §2.1, test vector E (ktstr 0.23.0, kernel 7.0.14), verbatim.
    use crate::sections::monitor::tests::NEWER as VECTOR_E;

    #[test]
    fn vector_e_parses_into_the_model_and_back() {
        let s = Summary::parse_section(VECTOR_E).unwrap();
        assert_eq!(
            (s.samples, s.max_imbalance, s.max_dsq_depth, s.stuck),
            (41, 2.0, 0, 0)
        );
        assert_eq!(
            (s.avg_imbalance, s.avg_nr_running, s.avg_dsq),
            (1.32, 1.2, 0.0)
        );
        assert_eq!(
            s.events,
            Some(EventsSummary {
                fallback: 0,
                fallback_rate: 0.0,
                keep_last: 210,
                keep_last_rate: 52.5,
                offline: 0,
                plus: vec![("refill_slice_dfl".into(), 210)],
            })
        );
        assert_eq!(
            s.schedstat,
            Some(SchedstatSummary {
                csw: 586,
                csw_rate: 146.0,
                run_delay_ns_per_s: 381246314.0,
                ttwu: 204,
                goidle: 1,
            })
        );
        assert_eq!(s.bpf.len(), 3);
        assert_eq!(
            s.bpf[0],
            BpfSummary {
                name: "ktstr_select_cp".into(),
                cnt: 189,
                ns_per_call: 145.0
            }
        );
        assert_eq!(s.verdict, MonitorVerdict::Ok);
        assert!(s.notes.is_empty());
        assert_eq!(s.to_section_text(), VECTOR_E);
        assert_eq!(Summary::parse_section(&s.to_section_text()), Some(s));
    }

    fn events(names: &Shared<[String]>, values: &[i64]) -> Option<Events> {
        Some(Events::Read {
            names: names.clone(),
            values: values.to_vec(),
        })
    }

    fn ev_names() -> Shared<[String]> {
        Shared(
            [
                "SCX_EV_SELECT_CPU_FALLBACK",
                "SCX_EV_DISPATCH_LOCAL_DSQ_OFFLINE",
                "SCX_EV_DISPATCH_KEEP_LAST",
                "SCX_EV_ENQ_SKIP_EXITING",
                "SCX_EV_BYPASS_DURATION",
                "SCX_EV_BYPASS_ACTIVATE",
            ]
            .map(String::from)
            .to_vec()
            .into(),
        )
    }

    #[test]
    fn event_counters_summarized_checked_and_read_back() {
        let names = ev_names();
        // keep_last grows 20 per 100 ms (200/s) in samples 10..=16: a
        // sustained violation of the 100/s default; fallback 1 per sample.
        let mut samples = run(40, healthy);
        let mut keep = 0;
        for (i, s) in samples.iter_mut().enumerate() {
            if (10..17).contains(&i) {
                keep += 20;
            } else {
                keep += 1;
            }
            s.events = events(&names, &[i as i64, 0, keep, 3, 1000 * i as i64, 1]);
        }
        let s = summary(&samples);
        let e = s.events.clone().unwrap();
        assert_eq!((e.fallback, e.keep_last, e.offline), (39, 7 * 20 + 32, 0));
        assert!((e.keep_last_rate - 172.0 / 3.9).abs() < 1e-9);
        assert_eq!(e.plus, [("bypass_duration".to_string(), 39_000)]);
        assert_eq!(
            s.verdict,
            MonitorVerdict::Failed(vec![
                "keep_last rate 200.0/s exceeded threshold 100.0/s for 7 consecutive intervals (ending at sample 16)".into()
            ])
        );
        let text = s.to_section_text();
        assert_eq!(
            text,
            "samples=40 max_imbalance=2.00 max_dsq_depth=1 stuck=0\n\
             avg: imbalance=2.00 nr_running/cpu=1.5 dsq/cpu=0.5\n\
             events: fallback=39 (10.0/s) keep_last=172 (44.1/s) offline=0\n\
             events+: bypass_duration=39000ns\n\
             verdict: monitor FAILED: 1 violation(s): keep_last rate 200.0/s exceeded threshold 100.0/s for 7 consecutive intervals (ending at sample 16)"
        );
        // Read back: the same text again, and the same model from it.
        let back = Summary::parse_section(&text).unwrap();
        assert_eq!(back.to_section_text(), text);
        assert_eq!(
            Summary::parse_section(&back.to_section_text()),
            Some(back.clone())
        );
        assert_eq!(back.events.as_ref().unwrap().keep_last_rate, 44.1);
        assert_eq!(back.verdict, s.verdict);

        // Warm-up: ktstr drops the first 20 samples.
        let warm = Summary::from_run(&samples, &Thresholds::DEFAULT);
        assert_eq!(warm.samples, 20);
        assert_eq!(warm.events.unwrap().keep_last, 19);
        assert_eq!(warm.verdict, MonitorVerdict::Ok);
        assert_eq!(
            Summary::from_run(&samples[..5], &Thresholds::DEFAULT).samples,
            0
        );
    }

    #[test]
    fn counters_that_cannot_be_read_are_said_not_zeroed() {
        let why = Shared::<str>(
            "struct scx_event_stats is not in this kernel's BTF (sched_ext before 6.15?)".into(),
        );
        let mut samples = run(10, healthy);
        for s in &mut samples {
            s.events = Some(Events::Unavailable(why.clone()));
        }
        let s = summary(&samples);
        assert_eq!(s.events, None);
        let text = s.to_section_text();
        assert!(!text.contains("events:"), "{text}");
        assert!(
            text.contains(
                "note: event counters not read: struct scx_event_stats is not in this kernel's BTF (sched_ext before 6.15?); runqueue fields are sampled\nverdict: monitor OK"
            ),
            "{text}"
        );
        assert_eq!(
            Summary::parse_section(&text).unwrap().to_section_text(),
            text
        );

        // A kernel whose struct lacks one of the `events:` counters.
        let names = Shared::<[String]>(vec!["SCX_EV_DISPATCH_KEEP_LAST".to_string()].into());
        for (i, s) in samples.iter_mut().enumerate() {
            s.events = events(&names, &[i as i64]);
        }
        let s = summary(&samples);
        assert_eq!(
            s.notes,
            ["this kernel's struct scx_event_stats has no fallback/offline counter (shown as 0); the other counters are read"]
        );
    }

    #[test]
    fn schedstat_line_from_samples_and_back() {
        use crate::host_monitor::sample::Schedstat;
        let mut samples = run(21, healthy);
        for (i, s) in samples.iter_mut().enumerate() {
            let i = i as u64;
            s.schedstat = Some(Schedstats::Read(Schedstat {
                run_delay: 1_000_000 + 50_000 * i,
                pcount: 7 * i,
                yld_count: 0,
                sched_count: 500 + 15 * i,
                sched_goidle: 3 + i / 10,
                ttwu_count: 200 + 4 * i,
                ttwu_local: i,
            }));
        }
        // 2 s from the first sample to the last.
        let s = summary(&samples);
        assert_eq!(
            s.schedstat,
            Some(SchedstatSummary {
                csw: 300,
                csw_rate: 150.0,
                run_delay_ns_per_s: 500_000.0,
                ttwu: 80,
                goidle: 2,
            })
        );
        let text = s.to_section_text();
        assert!(
            text.contains("\nschedstat: csw=300 (150/s) run_delay=500000ns/s ttwu=80 goidle=2\nverdict: monitor OK"),
            "{text}"
        );
        let back = Summary::parse_section(&text).unwrap();
        assert_eq!(back.schedstat, s.schedstat);
        assert_eq!(back.to_section_text(), text);
        // One sample: no span, rates 0 (ktstr).
        let one = summary(&samples[..1]).schedstat.unwrap();
        assert_eq!((one.csw, one.csw_rate), (0, 0.0));

        // Not readable: said, not zeroed.
        let why = Shared::<str>(
            "rq.sched_count is not in this kernel's BTF (no CONFIG_SCHEDSTATS)".into(),
        );
        for s in &mut samples {
            s.schedstat = Some(Schedstats::Unavailable(why.clone()));
        }
        let s = summary(&samples);
        assert_eq!(s.schedstat, None);
        assert_eq!(
            s.notes,
            ["schedstat not read: rq.sched_count is not in this kernel's BTF (no CONFIG_SCHEDSTATS); the other fields are sampled"]
        );
    }

    /// Every `--- monitor ---` section of the ktstr outputs in
    /// tests/fixtures/variants reads into the model; NEWER ones (`stuck=`)
    /// are written back byte for byte, MIRROR ones (`stall=`) with the same
    /// numbers.
    #[test]
    fn ktstr_fixture_sections_read_back() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/variants");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let Some(start) = text.find("--- monitor ---") else {
                continue;
            };
            let body: Vec<&str> = text[start + 15..]
                .trim_start_matches(['\r', '\n'])
                .lines()
                .map(str::trim)
                .take_while(|l| !l.is_empty() && !l.starts_with("--- "))
                .collect();
            let body = body.join("\n");
            let s = Summary::parse_section(&body)
                .unwrap_or_else(|| panic!("{}:\n{body}", path.display()));
            seen += 1;
            if body.contains(" stuck=") {
                assert_eq!(s.to_section_text(), body, "{}", path.display());
            } else {
                let newer = body.replacen("stall=false", "stuck=0", 1);
                let again = Summary::parse_section(&s.to_section_text()).unwrap();
                assert_eq!(again, s, "{}", path.display());
                if !s.verdict.failed() {
                    assert_eq!(s.to_section_text(), newer, "{}", path.display());
                }
            }
        }
        assert!(seen >= 5, "{seen} monitor sections in {}", dir.display());
    }

    #[test]
    fn bpf_lines_from_samples_or_a_note() {
        use crate::host_monitor::bpf::{BpfProgs, ProgSample};
        let prog = |id, name: &str, cnt, nsecs| ProgSample {
            id,
            name: name.into(),
            cnt,
            nsecs,
        };
        let mut samples = run(10, healthy);
        for (i, s) in samples.iter_mut().enumerate() {
            let i = i as u64;
            s.bpf = Some(BpfProgs::Read(vec![
                prog(3, "x_select_cpu", 10 * i, 1450 * i),
                prog(4, "x_init", 1, 9000),
            ]));
        }
        let s = summary(&samples);
        let text = s.to_section_text();
        assert!(
            text.ends_with("\nbpf: x_select_cpu cnt=90 145ns/call\nverdict: monitor OK"),
            "{text}"
        );
        assert_eq!(
            Summary::parse_section(&text).unwrap().to_section_text(),
            text
        );

        let why = Shared::<str>(
            "kernel symbol prog_idr not found (neither in guest memory nor by the agent)".into(),
        );
        for s in &mut samples {
            s.bpf = Some(BpfProgs::Unavailable(why.clone()));
        }
        assert_eq!(
            summary(&samples).notes,
            ["BPF program statistics not read: kernel symbol prog_idr not found (neither in guest memory nor by the agent); the other fields are sampled"]
        );
    }
}
