//! `--- monitor ---`: the host-side monitor's summary of the run and its
//! threshold verdict.
//!
//! ```text
//! samples=41 max_imbalance=2.00 max_dsq_depth=0 stuck=0
//! avg: imbalance=1.32 nr_running/cpu=1.2 dsq/cpu=0.0
//! events: fallback=0 (0.0/s) keep_last=210 (52.5/s) offline=0
//! events+: refill_slice_dfl=210
//! schedstat: csw=586 (146/s) run_delay=381246314ns/s ttwu=204 goidle=1
//! bpf: ktstr_enqueue cnt=373 34ns/call
//! verdict: monitor OK
//! ```
//!
//! MIRROR ktstr prints `stall=<bool>` where NEWER prints `stuck=<count>`.

use serde::Serialize;

use super::{content_lines, num, num_with, tokens};

/// A parsed `--- monitor ---` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MonitorSection {
    pub samples: Option<u64>,
    pub max_imbalance: Option<f64>,
    pub max_dsq_depth: Option<u64>,
    pub stall: Option<Stall>,
    pub avg: Option<MonitorAvg>,
    /// `events:` (kernel event counters).
    pub events: Vec<Counter>,
    /// `events+:` (the newer counters, only non-zero ones are printed).
    pub events_plus: Vec<Counter>,
    pub schedstat: Vec<Counter>,
    /// One per struct_ops program that ran.
    pub bpf: Vec<BpfProg>,
    pub verdict: Option<SectionVerdict>,
    /// `key=value` pairs of the first line with an unknown key.
    pub extra: Vec<(String, String)>,
    pub unknown: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Stall {
    /// MIRROR `stall=true|false`.
    Flag(bool),
    /// NEWER `stuck=<n>`.
    Stuck(u64),
}

impl Stall {
    pub fn detected(self) -> bool {
        match self {
            Stall::Flag(b) => b,
            Stall::Stuck(n) => n > 0,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MonitorAvg {
    pub imbalance: Option<f64>,
    pub nr_running_per_cpu: Option<f64>,
    pub dsq_per_cpu: Option<f64>,
}

/// `name=<n>[unit][ (<rate>/s)]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counter {
    pub name: String,
    pub count: Option<u64>,
    /// What followed the number: `ns`, `ns/s`.
    pub unit: Option<String>,
    pub rate_per_s: Option<f64>,
}

/// `bpf: <prog> cnt=<n> <ns>ns/call`. Names are cut at the kernel's 15 characters.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BpfProg {
    pub name: String,
    pub count: Option<u64>,
    pub ns_per_call: Option<f64>,
}

/// The `verdict:` line as the report prints it. Computing one from samples
/// is [`MonitorVerdict`](crate::host_monitor::MonitorVerdict)'s job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SectionVerdict {
    /// The whole text after `verdict: `.
    pub text: String,
    pub status: VerdictStatus,
    /// The violations after `monitor FAILED: <n> violation(s): `, split at `; `.
    pub details: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "violations", rename_all = "snake_case")]
pub enum VerdictStatus {
    Ok,
    Failed(Option<u32>),
    NoSamples,
    NotInitialized,
    Other,
}

impl MonitorSection {
    /// Parses a monitor body. Never fails: what is not understood is kept.
    pub fn parse(body: &str) -> MonitorSection {
        let mut m = MonitorSection::default();
        for line in content_lines(body) {
            if line.starts_with("samples=") {
                m.parse_first(line);
            } else if let Some(rest) = line.strip_prefix("avg:") {
                let mut avg = MonitorAvg::default();
                for (k, v) in tokens(rest) {
                    match k {
                        "imbalance" => avg.imbalance = num(v),
                        "nr_running/cpu" => avg.nr_running_per_cpu = num(v),
                        "dsq/cpu" => avg.dsq_per_cpu = num(v),
                        _ => {}
                    }
                }
                m.avg = Some(avg);
            } else if let Some(rest) = line.strip_prefix("events+:") {
                m.events_plus.extend(counters(rest));
            } else if let Some(rest) = line.strip_prefix("events:") {
                m.events.extend(counters(rest));
            } else if let Some(rest) = line.strip_prefix("schedstat:") {
                m.schedstat.extend(counters(rest));
            } else if let Some(rest) = line.strip_prefix("bpf:") {
                m.bpf.push(BpfProg::parse(rest));
            } else if let Some(rest) = line.strip_prefix("verdict:") {
                m.verdict = Some(SectionVerdict::parse(rest.trim()));
            } else {
                m.unknown.push(line.to_string());
            }
        }
        m
    }

    fn parse_first(&mut self, line: &str) {
        for (k, v) in tokens(line) {
            match k {
                "samples" => self.samples = num(v),
                "max_imbalance" => self.max_imbalance = num(v),
                "max_dsq_depth" => self.max_dsq_depth = num(v),
                "stall" => self.stall = num(v).map(Stall::Flag),
                "stuck" => self.stall = num(v).map(Stall::Stuck),
                _ => self.extra.push((k.to_string(), v.to_string())),
            }
        }
    }

    pub fn failed(&self) -> bool {
        matches!(
            self.verdict,
            Some(SectionVerdict {
                status: VerdictStatus::Failed(_),
                ..
            })
        )
    }
}

/// `fallback=1204 (80.3/s) keep_last=33 (2.2/s) bypass_duration=40112845ns`.
fn counters(line: &str) -> Vec<Counter> {
    let mut out: Vec<Counter> = Vec::new();
    for token in line.split_whitespace() {
        if let Some(rate) = token.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
            if let Some(last) = out.last_mut() {
                last.rate_per_s = num_with(rate, "/s");
            }
            continue;
        }
        let (name, value) = token.split_once('=').unwrap_or((token, ""));
        let digits = value
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(value.len());
        let unit = &value[digits..];
        out.push(Counter {
            name: name.to_string(),
            count: num(&value[..digits]),
            unit: (!unit.is_empty()).then(|| unit.to_string()),
            rate_per_s: None,
        });
    }
    out
}

impl BpfProg {
    pub fn parse(rest: &str) -> BpfProg {
        let mut p = BpfProg::default();
        for (k, v) in tokens(rest) {
            match k {
                "cnt" => p.count = num(v),
                "" if v.ends_with("ns/call") => p.ns_per_call = num_with(v, "ns/call"),
                "" if p.name.is_empty() => p.name = v.to_string(),
                _ => {}
            }
        }
        p
    }
}

impl SectionVerdict {
    pub fn parse(text: &str) -> SectionVerdict {
        let mut details = Vec::new();
        let status = if text.starts_with("monitor OK") {
            VerdictStatus::Ok
        } else if let Some(rest) = text.strip_prefix("monitor FAILED") {
            let rest = rest.trim_start_matches(':').trim();
            let (count, list) = rest.split_once(": ").unwrap_or((rest, ""));
            details = list
                .split("; ")
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_string)
                .collect();
            VerdictStatus::Failed(count.split_whitespace().next().and_then(num))
        } else if text.starts_with("no monitor samples") {
            VerdictStatus::NoSamples
        } else if text.starts_with("monitor data not yet initialized") {
            VerdictStatus::NotInitialized
        } else {
            VerdictStatus::Other
        };
        SectionVerdict {
            text: text.to_string(),
            status,
            details,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// ktstr-notes §1.9, the NEWER real example (also ktstr-notes-2's test
    /// vector E).
    pub(crate) const NEWER: &str = "\
samples=41 max_imbalance=2.00 max_dsq_depth=0 stuck=0
avg: imbalance=1.32 nr_running/cpu=1.2 dsq/cpu=0.0
events: fallback=0 (0.0/s) keep_last=210 (52.5/s) offline=0
events+: refill_slice_dfl=210
schedstat: csw=586 (146/s) run_delay=381246314ns/s ttwu=204 goidle=1
bpf: ktstr_select_cp cnt=189 145ns/call
bpf: ktstr_enqueue cnt=373 34ns/call
bpf: ktstr_dispatch cnt=584 237ns/call
verdict: monitor OK";

    fn counter(name: &str, count: u64, unit: Option<&str>, rate: Option<f64>) -> Counter {
        Counter {
            name: name.into(),
            count: Some(count),
            unit: unit.map(Into::into),
            rate_per_s: rate,
        }
    }

    #[test]
    fn newer_example() {
        let m = MonitorSection::parse(NEWER);
        assert_eq!(m.samples, Some(41));
        assert_eq!(m.max_imbalance, Some(2.0));
        assert_eq!(m.max_dsq_depth, Some(0));
        assert_eq!(m.stall, Some(Stall::Stuck(0)));
        assert!(!m.stall.unwrap().detected());
        assert_eq!(
            m.avg,
            Some(MonitorAvg {
                imbalance: Some(1.32),
                nr_running_per_cpu: Some(1.2),
                dsq_per_cpu: Some(0.0),
            })
        );
        assert_eq!(
            m.events,
            vec![
                counter("fallback", 0, None, Some(0.0)),
                counter("keep_last", 210, None, Some(52.5)),
                counter("offline", 0, None, None),
            ]
        );
        assert_eq!(
            m.events_plus,
            vec![counter("refill_slice_dfl", 210, None, None)]
        );
        assert_eq!(m.schedstat[0], counter("csw", 586, None, Some(146.0)));
        assert_eq!(
            m.schedstat[1],
            counter("run_delay", 381246314, Some("ns/s"), None)
        );
        assert_eq!(
            m.bpf[1],
            BpfProg {
                name: "ktstr_enqueue".into(),
                count: Some(373),
                ns_per_call: Some(34.0),
            }
        );
        let v = m.verdict.as_ref().unwrap();
        assert_eq!((v.status, v.details.len()), (VerdictStatus::Ok, 0));
        assert!(!m.failed());
        assert!(m.unknown.is_empty() && m.extra.is_empty());
    }

    #[test]
    fn mirror_stall_flag_and_failed_verdict() {
        let m = MonitorSection::parse(
            "samples=130 max_imbalance=7.00 max_dsq_depth=41 stall=true future=1\n\
             events+: bypass_duration=40112845ns\n\
             verdict: monitor FAILED: 2 violation(s): imbalance ratio 7.0 exceeded threshold 4.0 for 14 consecutive samples (ending at sample 90); rq_clock stall on cpu1 for 5 consecutive samples (ending at sample 12, clock=77)\n\
             what is this",
        );
        assert_eq!(m.stall, Some(Stall::Flag(true)));
        assert_eq!(m.extra, [("future".to_string(), "1".to_string())]);
        assert_eq!(
            m.events_plus,
            vec![counter("bypass_duration", 40112845, Some("ns"), None)]
        );
        let v = m.verdict.as_ref().unwrap();
        assert_eq!(v.status, VerdictStatus::Failed(Some(2)));
        assert_eq!(v.details.len(), 2);
        assert!(v.details[1].starts_with("rq_clock stall on cpu1"));
        assert!(m.failed());
        assert_eq!(m.unknown, ["what is this"]);
    }

    #[test]
    fn other_verdicts() {
        for (text, status) in [
            ("no monitor samples", VerdictStatus::NoSamples),
            (
                "monitor data not yet initialized",
                VerdictStatus::NotInitialized,
            ),
            ("monitor FAILED", VerdictStatus::Failed(None)),
            ("something new", VerdictStatus::Other),
        ] {
            assert_eq!(SectionVerdict::parse(text).status, status, "{text}");
        }
    }

    #[test]
    fn garbage_never_panics() {
        for body in [
            "",
            "samples=",
            "samples==",
            "events: (1/s) = ==x (",
            "bpf:",
            "verdict:",
            "verdict: monitor FAILED: : ;",
            "avg: =",
        ] {
            let _ = MonitorSection::parse(body);
        }
    }
}
