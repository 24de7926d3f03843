//! The monitor summary and threshold verdict (ktstr-notes §4.3, §4.5), and
//! its `--- monitor ---` text (§1.9).
//!
//! What ktstr computes that is left out here, because [`Sample`] does not
//! carry the data: SCX event counters (`events:`/`events+:` lines and the
//! `max_fallback_rate`/`max_keep_last_rate` checks), schedstat (`schedstat:`),
//! sched_domain load-balance stats (ktstr samples but never prints them), BPF
//! program runtime stats (`bpf:` lines), and the preempted-vCPU exemption of
//! the stall check (see [`stuck_cpus`]).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::sample::{stuck_cpus, Sample};

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
    /// SCX `select_cpu_fallback` events per second. Kept for parity with
    /// ktstr; not evaluated (samples carry no event counters).
    pub max_fallback_rate: f64,
    /// SCX `dispatch_keep_last` events per second. Not evaluated, as above.
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
    pub verdict: MonitorVerdict,
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
        Summary {
            samples: n as u64,
            max_imbalance,
            avg_imbalance: mean(sum_imbalance, n as u64),
            avg_nr_running: mean(sum_nr as f64, readings),
            avg_dsq: mean(sum_dsq as f64, readings),
            max_dsq_depth,
            stuck,
            verdict: evaluate(samples, t),
        }
    }

    /// The body of a `--- monitor ---` section in ktstr's NEWER template
    /// (`stuck=<n>`), without a trailing newline. The `events:`,
    /// `schedstat:` and `bpf:` lines are omitted (no data), and so is `avg:`
    /// when there is no valid sample.
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
    for (i, s) in samples.iter().enumerate() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host_monitor::CpuSample;
    use crate::sections::monitor::{MonitorSection, Stall, VerdictStatus};

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
}
