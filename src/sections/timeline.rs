//! `--- timeline ---`: the run split into phases at each workload step, with
//! per-phase scheduler metrics and ktstr's change detection.
//!
//! ```text
//! kernel: 6.14.2  topology: 1n1l4c1t (4 cpus)  scheduler: scx-ktstr  scenario: my_test  duration: 14.2s
//!
//! BASELINE (settle, 3010ms, 30 samples):
//!   imbalance: avg=1.2 max=2.0 | dsq: avg=0 max=1 | fallback: 0/s | keep_last: 41/s
//!
//! Phase 1: StepStart[1] ops=2 (3000ms, 30 samples):
//!   imbalance: avg=3.1 max=8.0 | dsq: avg=2 max=9 | keep_last: 12/s | throughput: 81234 iter/s
//!   stalls: 2
//!   >>> StepStart[1]: ops=2 (2 cgroups, 8 workers)
//!   >>> DEGRADATION: imbalance +1.9
//! ```
//!
//! NEWER ktstr adds `nr_run: avg=`, `(stimulus-derived)` after the
//! throughput and a `per-cgroup:` block; all are read, anything else is kept.

use serde::Serialize;

use super::{content_lines, num, num_with, tokens};

/// A parsed timeline section.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Timeline {
    pub header: TimelineHeader,
    pub phases: Vec<Phase>,
    /// Lines before the first phase that are not the header.
    pub unknown: Vec<String>,
}

/// The first line; ktstr omits each part it does not know.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TimelineHeader {
    pub kernel: Option<String>,
    /// `1n1l4c1t`.
    pub topology: Option<String>,
    /// From `(4 cpus)` after the topology.
    pub cpus: Option<u32>,
    /// Absent for EEVDF runs.
    pub scheduler: Option<String>,
    pub scenario: Option<String>,
    pub duration_s: Option<f64>,
    /// Parts of the line with an unknown name, as (name, value).
    pub extra: Vec<(String, String)>,
}

/// One phase: `BASELINE (...)` or `Phase <i>: <label> <op kind> (...)`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Phase {
    /// `None` for BASELINE.
    pub index: Option<u32>,
    /// `StepStart[1]`, or `BASELINE`.
    pub label: String,
    /// `ops=2`; `settle` for the baseline.
    pub op_kind: Option<String>,
    pub duration_ms: Option<u64>,
    pub samples: Option<u64>,
    /// `None` when the phase printed `[no samples]` or no metrics line.
    pub metrics: Option<PhaseMetrics>,
    pub no_samples: bool,
    pub stalls: Option<u64>,
    /// `>>>` lines, in order.
    pub events: Vec<PhaseEvent>,
    /// Rows of a NEWER `per-cgroup:` block, verbatim (trimmed).
    pub per_cgroup: Vec<String>,
    pub unknown: Vec<String>,
}

/// The `imbalance: ... | dsq: ... | ...` line.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PhaseMetrics {
    pub imbalance_avg: Option<f64>,
    pub imbalance_max: Option<f64>,
    pub dsq_avg: Option<f64>,
    pub dsq_max: Option<u64>,
    /// NEWER only.
    pub nr_run_avg: Option<f64>,
    pub fallback_per_s: Option<f64>,
    pub keep_last_per_s: Option<f64>,
    pub throughput_iter_per_s: Option<f64>,
    /// The parenthesised note after the throughput (`stimulus-derived`).
    pub throughput_note: Option<String>,
    /// Parts with an unknown name, as (name, value).
    pub extra: Vec<(String, String)>,
}

/// One `>>>` line.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PhaseEvent {
    /// The workload step that started the phase: `StepStart[1]: ops=2 (2 cgroups, 8 workers)`.
    Stimulus {
        label: String,
        op_kind: String,
        detail: Option<String>,
    },
    /// `DEGRADATION: imbalance +1.9` or `IMPROVEMENT: ...`.
    Change(Change),
    Other {
        text: String,
    },
}

/// A metric that moved past ktstr's threshold against the previous phase.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub direction: Direction,
    /// `imbalance`, `dsq_depth`, `fallback`, `keep_last`, `throughput`.
    pub metric: String,
    /// Signed, in the metric's unit (a percentage for throughput).
    pub delta: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Degradation,
    Improvement,
}

impl Timeline {
    /// Parses a timeline body. Never fails: what is not understood is kept.
    pub fn parse(body: &str) -> Timeline {
        let mut t = Timeline::default();
        let mut header_seen = false;
        let mut in_cgroups = false;
        for line in content_lines(body) {
            if let Some(phase) = Phase::parse_header(line) {
                t.phases.push(phase);
                in_cgroups = false;
                continue;
            }
            let Some(phase) = t.phases.last_mut() else {
                if !header_seen && TimelineHeader::looks_like(line) {
                    t.header = TimelineHeader::parse(line);
                    header_seen = true;
                } else {
                    t.unknown.push(line.to_string());
                }
                continue;
            };
            if let Some(event) = line.strip_prefix(">>>") {
                phase.events.push(PhaseEvent::parse(event.trim()));
                in_cgroups = false;
            } else if line.starts_with("imbalance:") {
                phase.metrics = Some(PhaseMetrics::parse(line));
                in_cgroups = false;
            } else if line == "[no samples]" {
                phase.no_samples = true;
            } else if let Some(n) = line.strip_prefix("stalls:") {
                phase.stalls = num(n);
                if phase.stalls.is_none() {
                    phase.unknown.push(line.to_string());
                }
            } else if line == "per-cgroup:" {
                in_cgroups = true;
            } else if in_cgroups {
                phase.per_cgroup.push(line.to_string());
            } else {
                phase.unknown.push(line.to_string());
            }
        }
        t
    }

    /// Sum of the phase durations in ms (phases with no duration count 0),
    /// or the header's duration when no phase has one.
    pub fn total_ms(&self) -> u64 {
        let sum: u64 = self.phases.iter().filter_map(|p| p.duration_ms).sum();
        if sum > 0 {
            sum
        } else {
            // Saturating float-to-int cast: a garbage duration cannot wrap.
            self.header.duration_s.map_or(0, |s| (s * 1000.0) as u64)
        }
    }

    /// `[start, end)` of each phase in ms from the run's start: phases are
    /// back to back, each starting where the previous ended.
    pub fn spans(&self) -> Vec<(u64, u64)> {
        let mut at = 0u64;
        self.phases
            .iter()
            .map(|p| {
                let start = at;
                at = at.saturating_add(p.duration_ms.unwrap_or(0));
                (start, at)
            })
            .collect()
    }
}

impl TimelineHeader {
    const KEYS: [&'static str; 5] = [
        "kernel:",
        "topology:",
        "scheduler:",
        "scenario:",
        "duration:",
    ];

    fn looks_like(line: &str) -> bool {
        Self::KEYS.iter().any(|k| line.starts_with(k))
    }

    /// Parts are separated by two spaces; each is `name: value`.
    pub fn parse(line: &str) -> TimelineHeader {
        let mut h = TimelineHeader::default();
        for part in line.split("  ").map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once(':').unwrap_or(("", part));
            let value = value.trim();
            match name {
                "kernel" => h.kernel = Some(value.to_string()),
                "topology" => {
                    // `1n1l4c1t (4 cpus)`
                    let (topo, rest) = value.split_once(" (").unwrap_or((value, ""));
                    h.topology = Some(topo.to_string());
                    h.cpus = rest
                        .strip_suffix(')')
                        .and_then(|r| num_with(r, "cpus").or_else(|| num_with(r, "cpu")));
                }
                "scheduler" => h.scheduler = Some(value.to_string()),
                "scenario" => h.scenario = Some(value.to_string()),
                "duration" => {
                    h.duration_s = num_with(value, "s");
                    if h.duration_s.is_none() {
                        h.extra.push((name.to_string(), value.to_string()));
                    }
                }
                _ => h.extra.push((name.to_string(), value.to_string())),
            }
        }
        h
    }
}

impl Phase {
    /// A phase heading, or `None` when `line` is not one.
    pub fn parse_header(line: &str) -> Option<Phase> {
        let inner = line.strip_suffix("):")?;
        let (name, paren) = inner.rsplit_once(" (")?;
        let mut phase = Phase::default();
        if name == "BASELINE" {
            phase.label = name.to_string();
        } else {
            let rest = name.strip_prefix("Phase ")?;
            let (index, what) = rest.split_once(':').unwrap_or((rest, ""));
            phase.index = Some(num(index)?);
            let what = what.trim();
            let (label, op_kind) = what.split_once(char::is_whitespace).unwrap_or((what, ""));
            phase.label = label.to_string();
            let op_kind = op_kind.trim();
            if !op_kind.is_empty() {
                phase.op_kind = Some(op_kind.to_string());
            }
        }
        for part in paren.split(',').map(str::trim) {
            if let Some(ms) = num_with(part, "ms") {
                phase.duration_ms = Some(ms);
            } else if let Some(n) = num_with(part, "samples").or_else(|| num_with(part, "sample")) {
                phase.samples = Some(n);
            } else if !part.is_empty() && phase.op_kind.is_none() {
                // BASELINE's `settle`.
                phase.op_kind = Some(part.to_string());
            } else if !part.is_empty() {
                phase.unknown.push(part.to_string());
            }
        }
        Some(phase)
    }

    pub fn is_baseline(&self) -> bool {
        self.index.is_none()
    }

    /// The metric changes this phase reported as worse than the previous one.
    pub fn degradations(&self) -> impl Iterator<Item = &Change> {
        self.changes()
            .filter(|c| c.direction == Direction::Degradation)
    }

    pub fn changes(&self) -> impl Iterator<Item = &Change> {
        self.events.iter().filter_map(|e| match e {
            PhaseEvent::Change(c) => Some(c),
            _ => None,
        })
    }
}

impl PhaseMetrics {
    /// Parts are separated by ` | `; each is `name: values`.
    pub fn parse(line: &str) -> PhaseMetrics {
        let mut m = PhaseMetrics::default();
        for part in line.split('|').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once(':').unwrap_or(("", part));
            let value = value.trim();
            let known = match name {
                "imbalance" => {
                    for (k, v) in tokens(value) {
                        match k {
                            "avg" => m.imbalance_avg = num(v),
                            "max" => m.imbalance_max = num(v),
                            _ => {}
                        }
                    }
                    true
                }
                "dsq" => {
                    for (k, v) in tokens(value) {
                        match k {
                            "avg" => m.dsq_avg = num(v),
                            "max" => m.dsq_max = num(v),
                            _ => {}
                        }
                    }
                    true
                }
                "nr_run" => {
                    m.nr_run_avg = tokens(value)
                        .find(|(k, _)| *k == "avg")
                        .and_then(|(_, v)| num(v));
                    true
                }
                "fallback" => {
                    m.fallback_per_s = num_with(value, "/s");
                    m.fallback_per_s.is_some()
                }
                "keep_last" => {
                    m.keep_last_per_s = num_with(value, "/s");
                    m.keep_last_per_s.is_some()
                }
                "throughput" => {
                    // `81234 iter/s (stimulus-derived)`
                    let (rate, note) = value.split_once('(').unwrap_or((value, ""));
                    m.throughput_iter_per_s = num_with(rate, "iter/s");
                    let note = note.trim().trim_end_matches(')').trim();
                    if !note.is_empty() {
                        m.throughput_note = Some(note.to_string());
                    }
                    m.throughput_iter_per_s.is_some()
                }
                _ => false,
            };
            if !known {
                m.extra.push((name.to_string(), value.to_string()));
            }
        }
        m
    }
}

impl PhaseEvent {
    /// Parses the text after `>>> `.
    pub fn parse(text: &str) -> PhaseEvent {
        for (word, direction) in [
            ("DEGRADATION:", Direction::Degradation),
            ("IMPROVEMENT:", Direction::Improvement),
        ] {
            if let Some(rest) = text.strip_prefix(word) {
                let mut it = rest.split_whitespace();
                if let Some(metric) = it.next() {
                    return PhaseEvent::Change(Change {
                        direction,
                        metric: metric.to_string(),
                        delta: it.next().and_then(|d| num(d.trim_end_matches('%'))),
                    });
                }
            }
        }
        if let Some((label, rest)) = text.split_once(": ") {
            if !label.contains(char::is_whitespace) {
                let (op_kind, detail) = match rest.split_once(" (") {
                    Some((op, d)) => (op, d.strip_suffix(')').map(str::to_string)),
                    None => (rest, None),
                };
                return PhaseEvent::Stimulus {
                    label: label.to_string(),
                    op_kind: op_kind.trim().to_string(),
                    detail,
                };
            }
        }
        PhaseEvent::Other {
            text: text.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ktstr-notes §1.7, the reconstructed MIRROR example.
    const MIRROR: &str = "\
kernel: 6.14.2  topology: 1n1l4c1t (4 cpus)  scheduler: scx-ktstr  scenario: my_test  duration: 14.2s

BASELINE (settle, 3010ms, 30 samples):
  imbalance: avg=1.2 max=2.0 | dsq: avg=0 max=1 | fallback: 0/s | keep_last: 41/s

Phase 1: StepStart[1] ops=2 (3000ms, 30 samples):
  imbalance: avg=3.1 max=8.0 | dsq: avg=2 max=9 | fallback: 0/s | keep_last: 12/s | throughput: 81234 iter/s
  stalls: 2
  >>> StepStart[1]: ops=2 (2 cgroups, 8 workers)
  >>> DEGRADATION: imbalance +1.9";

    /// ktstr-notes §1.7, the NEWER example.
    const NEWER: &str = "\
topology: 1n1l2c1t (2 cpus)  scheduler: my_sched  scenario: throughput_gate  duration: 15.0s

Phase 1: StepStart[0] ops=0 (4960ms, 0 samples):
  imbalance: avg=1.2 max=5.0 | dsq: avg=0 max=0 | nr_run: avg=1.0 | fallback: 0/s | keep_last: 38/s | throughput: 79697 iter/s (stimulus-derived)
  per-cgroup:
    cg_a: off-cpu avg=0.3% min=0.3% max=0.3% spread=0.0% | run-delay mean=915µs worst=915µs | iters=209600 migrations=1 | gap=10ms@cpu0
  >>> StepStart[0]: ops=0 (2 cgroups, 2 workers)";

    #[test]
    fn mirror_example() {
        let t = Timeline::parse(MIRROR);
        assert_eq!(
            t.header,
            TimelineHeader {
                kernel: Some("6.14.2".into()),
                topology: Some("1n1l4c1t".into()),
                cpus: Some(4),
                scheduler: Some("scx-ktstr".into()),
                scenario: Some("my_test".into()),
                duration_s: Some(14.2),
                extra: vec![],
            }
        );
        assert!(t.unknown.is_empty());
        assert_eq!(t.phases.len(), 2);
        let base = &t.phases[0];
        assert!(base.is_baseline());
        assert_eq!(base.label, "BASELINE");
        assert_eq!(base.op_kind.as_deref(), Some("settle"));
        assert_eq!((base.duration_ms, base.samples), (Some(3010), Some(30)));
        let m = base.metrics.as_ref().unwrap();
        assert_eq!((m.imbalance_avg, m.imbalance_max), (Some(1.2), Some(2.0)));
        assert_eq!((m.dsq_avg, m.dsq_max), (Some(0.0), Some(1)));
        assert_eq!(
            (m.fallback_per_s, m.keep_last_per_s),
            (Some(0.0), Some(41.0))
        );
        assert_eq!(m.throughput_iter_per_s, None);

        let p = &t.phases[1];
        assert_eq!(p.index, Some(1));
        assert_eq!(p.label, "StepStart[1]");
        assert_eq!(p.op_kind.as_deref(), Some("ops=2"));
        assert_eq!(p.stalls, Some(2));
        assert_eq!(
            p.metrics.as_ref().unwrap().throughput_iter_per_s,
            Some(81234.0)
        );
        assert_eq!(
            p.events,
            vec![
                PhaseEvent::Stimulus {
                    label: "StepStart[1]".into(),
                    op_kind: "ops=2".into(),
                    detail: Some("2 cgroups, 8 workers".into()),
                },
                PhaseEvent::Change(Change {
                    direction: Direction::Degradation,
                    metric: "imbalance".into(),
                    delta: Some(1.9),
                }),
            ]
        );
        assert_eq!(p.degradations().count(), 1);
        assert!(p.unknown.is_empty());
        assert_eq!(t.spans(), vec![(0, 3010), (3010, 6010)]);
        assert_eq!(t.total_ms(), 6010);
    }

    #[test]
    fn newer_example() {
        let t = Timeline::parse(NEWER);
        assert_eq!(t.header.kernel, None);
        assert_eq!(t.header.cpus, Some(2));
        assert_eq!(t.phases.len(), 1);
        let p = &t.phases[0];
        assert_eq!((p.index, p.samples), (Some(1), Some(0)));
        let m = p.metrics.as_ref().unwrap();
        assert_eq!(m.nr_run_avg, Some(1.0));
        assert_eq!(m.throughput_note.as_deref(), Some("stimulus-derived"));
        assert!(m.extra.is_empty(), "{:?}", m.extra);
        assert_eq!(p.per_cgroup.len(), 1);
        assert!(p.per_cgroup[0].starts_with("cg_a: off-cpu"));
        assert!(matches!(p.events[0], PhaseEvent::Stimulus { .. }));
        assert!(p.unknown.is_empty());
    }

    #[test]
    fn improvements_no_samples_and_unknown_lines() {
        let t = Timeline::parse(
            "something odd\n\
             Phase 2: StepStart[2] ops=1 (100ms, 0 samples, extra):\n\
             [no samples]\n\
             >>> IMPROVEMENT: throughput -35.0\n\
             >>> free text here\n\
             new_metric: 3\n\
             stalls: many",
        );
        assert_eq!(t.unknown, ["something odd"]);
        let p = &t.phases[0];
        assert!(p.no_samples && p.metrics.is_none());
        assert_eq!(
            p.events[0],
            PhaseEvent::Change(Change {
                direction: Direction::Improvement,
                metric: "throughput".into(),
                delta: Some(-35.0),
            })
        );
        assert_eq!(
            p.events[1],
            PhaseEvent::Other {
                text: "free text here".into()
            }
        );
        assert_eq!(p.unknown, ["extra", "new_metric: 3", "stalls: many"]);
        assert_eq!(p.stalls, None);
    }

    #[test]
    fn garbage_never_panics() {
        for body in [
            "",
            "):",
            " ():",
            "Phase (",
            "Phase x: (1ms):",
            "BASELINE ():",
            "kernel:",
            "topology: (",
            "imbalance: | | avg= max=",
            ">>>",
            ">>> DEGRADATION:",
            "duration: 1e400s",
        ] {
            let t = Timeline::parse(body);
            let _ = (t.total_ms(), t.spans());
        }
        let t = Timeline::parse("duration: 1e400s");
        assert_eq!(t.total_ms(), u64::MAX);
    }
}
