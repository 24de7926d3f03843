//! `--- monitor samples ---`: scxray's own section with the raw samples, kept
//! next to ktstr's sections so a saved report can be re-summarized.
//!
//! ```text
//! # t=<ms> then per CPU: nr_running/scx_nr_running/local_dsq/clock
//! # events: SCX_EV_SELECT_CPU_FALLBACK SCX_EV_DISPATCH_KEEP_LAST
//! t=0 2/2/1/1000 1/1/0/2000 ev=0,3
//! t=100 2/2/1/1100 1/1/0/2100 ev=0,5
//! # events unavailable: kernel symbol scx_root not found (neither in guest memory nor by the agent)
//! t=200 2/2/1/1200 1/1/0/2200 ev=-
//! ```
//!
//! SCX event counters, summed over CPUs, ride on a sample as `ev=` with one
//! value per name of the last `# events:` line; `ev=-` says they could not
//! be read, for the reason on the last `# events unavailable:` line; no
//! `ev=` means they were not sampled (no scheduler attached). Runqueue
//! schedstat counters, summed over CPUs, ride as `ss=run_delay,pcount,
//! yld_count,sched_count,sched_goidle,ttwu_count,ttwu_local`, or `ss=-` for
//! the reason on the last `# schedstat unavailable:` line. The struct_ops
//! BPF programs ride as `bpf=<id>:<name>:<cnt>:<nsecs>,...` (`bpf=` with
//! none loaded), or `bpf=-` for the last `# bpf unavailable:` line's reason.
//! Each vCPU thread's total wait on a host runqueue rides as `vw=<ns>,...`
//! (by guest CPU), when QEMU has a thread per vCPU. The task that had
//! waited longest on a CPU's runnable list rides as
//! `rw=<cpu>:<pid>:<jiffies>[/<watchdog timeout in jiffies>]`.

use std::fmt::Write as _;
use std::sync::Arc;

use super::bpf::{BpfProgs, ProgSample};
use super::events::{Events, Shared};
use super::sample::{CpuSample, RunnableWait, Sample, Schedstat, Schedstats};

const LEGEND: &str = "# t=<ms> then per CPU: nr_running/scx_nr_running/local_dsq/clock";
const NAMES: &str = "# events:";
const UNAVAILABLE: &str = "# events unavailable:";
const SS_UNAVAILABLE: &str = "# schedstat unavailable:";
const BPF_UNAVAILABLE: &str = "# bpf unavailable:";

/// The section body: the legend, then one line per sample. No trailing
/// newline.
pub fn write_samples(samples: &[Sample]) -> String {
    let mut out = String::from(LEGEND);
    let mut names: Option<&[String]> = None;
    let mut reason: Option<&str> = None;
    let mut ss_reason: Option<&str> = None;
    let mut bpf_reason: Option<&str> = None;
    for s in samples {
        if let Some(BpfProgs::Unavailable(why)) = &s.bpf {
            if bpf_reason != Some(&why.0[..]) {
                let _ = write!(out, "\n{BPF_UNAVAILABLE} {}", one_line(&why.0));
                bpf_reason = Some(&why.0[..]);
            }
        }
        if let Some(Schedstats::Unavailable(why)) = &s.schedstat {
            if ss_reason != Some(&why.0[..]) {
                let _ = write!(out, "\n{SS_UNAVAILABLE} {}", one_line(&why.0));
                ss_reason = Some(&why.0[..]);
            }
        }
        match &s.events {
            Some(Events::Read { names: n, .. }) if names != Some(&n.0[..]) => {
                let _ = write!(out, "\n{NAMES}");
                for name in n.0.iter() {
                    let _ = write!(out, " {name}");
                }
                names = Some(&n.0[..]);
            }
            Some(Events::Unavailable(why)) if reason != Some(&why.0[..]) => {
                let _ = write!(out, "\n{UNAVAILABLE} {}", one_line(&why.0));
                reason = Some(&why.0[..]);
            }
            _ => {}
        }
        let _ = write!(out, "\nt={}", s.at_ms);
        for c in &s.cpus {
            let _ = write!(
                out,
                " {}/{}/{}/{}",
                c.nr_running, c.scx_nr_running, c.local_dsq, c.clock
            );
        }
        match &s.events {
            Some(Events::Read { values, .. }) => {
                out.push_str(" ev=");
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{v}");
                }
            }
            Some(Events::Unavailable(_)) => out.push_str(" ev=-"),
            None => {}
        }
        match &s.schedstat {
            Some(Schedstats::Read(ss)) => {
                let v = ss.values();
                let _ = write!(
                    out,
                    " ss={},{},{},{},{},{},{}",
                    v[0], v[1], v[2], v[3], v[4], v[5], v[6]
                );
            }
            Some(Schedstats::Unavailable(_)) => out.push_str(" ss=-"),
            None => {}
        }
        match &s.bpf {
            Some(BpfProgs::Read(progs)) => {
                out.push_str(" bpf=");
                for (i, p) in progs.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(
                        out,
                        "{}:{}:{}:{}",
                        p.id,
                        token_safe(&p.name),
                        p.cnt,
                        p.nsecs
                    );
                }
            }
            Some(BpfProgs::Unavailable(_)) => out.push_str(" bpf=-"),
            None => {}
        }
        if let Some(waits) = s.vcpu_wait_ns.as_ref().filter(|w| !w.is_empty()) {
            out.push_str(" vw=");
            for (i, w) in waits.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{w}");
            }
        }
        if let Some(r) = &s.runnable_wait {
            let _ = write!(out, " rw={}:{}:{}", r.cpu, r.pid, r.waited_jiffies);
            if let Some(t) = r.timeout_jiffies {
                let _ = write!(out, "/{t}");
            }
        }
    }
    out
}

/// A program name as one token of the format: kernel names are
/// `[A-Za-z0-9_.]`; anything else becomes `?`.
fn token_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

fn parse_prog(token: &str) -> Option<ProgSample> {
    let mut parts = token.split(':');
    let p = ProgSample {
        id: parts.next()?.parse().ok()?,
        name: parts.next()?.to_string(),
        cnt: parts.next()?.parse().ok()?,
        nsecs: parts.next()?.parse().ok()?,
    };
    parts.next().is_none().then_some(p)
}

/// A reason on one line (the format is line-based).
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Reads a body written by [`write_samples`], in order. Lenient: `#` lines,
/// blank lines and lines that do not parse whole are skipped.
pub fn parse_samples(text: &str) -> Vec<Sample> {
    let mut names: Option<Shared<[String]>> = None;
    let mut reason: Option<Shared<str>> = None;
    let mut ss_reason: Option<Shared<str>> = None;
    let mut bpf_reason: Option<Shared<str>> = None;
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix(NAMES) {
            let n: Vec<String> = rest.split_whitespace().map(str::to_string).collect();
            names = Some(Shared(n.into()));
        } else if let Some(rest) = line.strip_prefix(UNAVAILABLE) {
            reason = Some(Shared(Arc::from(rest.trim())));
        } else if let Some(rest) = line.strip_prefix(SS_UNAVAILABLE) {
            ss_reason = Some(Shared(Arc::from(rest.trim())));
        } else if let Some(rest) = line.strip_prefix(BPF_UNAVAILABLE) {
            bpf_reason = Some(Shared(Arc::from(rest.trim())));
        } else if !line.is_empty() && !line.starts_with('#') {
            let why = Reasons {
                events: reason.as_ref(),
                schedstat: ss_reason.as_ref(),
                bpf: bpf_reason.as_ref(),
            };
            if let Some(s) = parse_line(line, names.as_ref(), why) {
                out.push(s);
            }
        }
    }
    out
}

/// The reasons the last `# ... unavailable:` lines gave.
struct Reasons<'a> {
    events: Option<&'a Shared<str>>,
    schedstat: Option<&'a Shared<str>>,
    bpf: Option<&'a Shared<str>>,
}

/// `t=<ms>`, the CPUs, then `ev=`, `ss=` and `bpf=`, each at most once.
fn parse_line(line: &str, names: Option<&Shared<[String]>>, why: Reasons<'_>) -> Option<Sample> {
    let mut tokens = line.split_whitespace();
    let at_ms = tokens.next()?.strip_prefix("t=")?.parse().ok()?;
    let mut sample = Sample {
        at_ms,
        ..Sample::default()
    };
    for token in tokens {
        if let Some(rw) = token.strip_prefix("rw=") {
            if sample.runnable_wait.is_some() {
                return None;
            }
            let (waited, timeout) = match rw.rsplit_once('/') {
                Some((w, t)) => (w, Some(t.parse().ok()?)),
                None => (rw, None),
            };
            let mut parts = waited.split(':');
            sample.runnable_wait = Some(RunnableWait {
                cpu: parts.next()?.parse().ok()?,
                pid: parts.next()?.parse().ok()?,
                waited_jiffies: parts.next()?.parse().ok()?,
                timeout_jiffies: timeout,
            });
            if parts.next().is_some() {
                return None;
            }
        } else if let Some(list) = token.strip_prefix("vw=") {
            if sample.vcpu_wait_ns.is_some() {
                return None;
            }
            let waits = list
                .split(',')
                .map(|v| v.parse().ok())
                .collect::<Option<Vec<u64>>>()?;
            sample.vcpu_wait_ns = Some(waits);
        } else if let Some(list) = token.strip_prefix("ss=") {
            if sample.schedstat.is_some() {
                return None;
            }
            sample.schedstat = Some(if list == "-" {
                Schedstats::Unavailable(why.schedstat?.clone())
            } else {
                let v: Vec<u64> = list
                    .split(',')
                    .map(|v| v.parse().ok())
                    .collect::<Option<_>>()?;
                Schedstats::Read(Schedstat::from_values(v.try_into().ok()?))
            });
        } else if let Some(list) = token.strip_prefix("bpf=") {
            if sample.bpf.is_some() {
                return None;
            }
            sample.bpf = Some(match list {
                "-" => BpfProgs::Unavailable(why.bpf?.clone()),
                "" => BpfProgs::Read(Vec::new()),
                _ => BpfProgs::Read(list.split(',').map(parse_prog).collect::<Option<_>>()?),
            });
        } else if let Some(list) = token.strip_prefix("ev=") {
            if sample.events.is_some() {
                return None;
            }
            sample.events = Some(if list == "-" {
                Events::Unavailable(why.events?.clone())
            } else {
                let names = names?;
                let values = if list.is_empty() {
                    Vec::new()
                } else {
                    list.split(',')
                        .map(|v| v.parse().ok())
                        .collect::<Option<Vec<i64>>>()?
                };
                if values.len() != names.0.len() {
                    return None;
                }
                Events::Read {
                    names: names.clone(),
                    values,
                }
            });
        } else if sample.events.is_some()
            || sample.schedstat.is_some()
            || sample.bpf.is_some()
            || sample.vcpu_wait_ns.is_some()
            || sample.runnable_wait.is_some()
        {
            // CPUs come first.
            return None;
        } else {
            sample.cpus.push(parse_cpu(token)?);
        }
    }
    Some(sample)
}

fn parse_cpu(token: &str) -> Option<CpuSample> {
    let mut parts = token.split('/');
    let mut next = || parts.next();
    let cpu = CpuSample {
        nr_running: next()?.parse().ok()?,
        scx_nr_running: next()?.parse().ok()?,
        local_dsq: next()?.parse().ok()?,
        clock: next()?.parse().ok()?,
    };
    next().is_none().then_some(cpu)
}

/// The comment line that records when the scheduler crashed (host ms since
/// the run started), so the timeline can mark it among the samples.
pub fn crash_line(at_ms: u64) -> String {
    format!("# crash t={at_ms}\n")
}

/// The crash time written by [`crash_line`], if the body has one.
pub fn parse_crash_ms(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("# crash t="))
        .and_then(|t| t.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn event_counters_ride_on_samples() {
        let names = Shared::<[String]>(vec!["SCX_EV_A".to_string(), "SCX_EV_B".to_string()].into());
        let why = Shared::<str>(Arc::from(
            "struct scx_event_stats is not in this kernel's BTF",
        ));
        let ev = |values: &[i64]| {
            Some(Events::Read {
                names: names.clone(),
                values: values.to_vec(),
            })
        };
        let samples = vec![
            Sample {
                at_ms: 0,
                cpus: vec![cpu(1, 1, 0, 5)],
                events: None,
                schedstat: None,
                bpf: None,
                vcpu_wait_ns: None,
                runnable_wait: None,
            },
            Sample {
                at_ms: 100,
                cpus: vec![cpu(1, 1, 0, 6)],
                events: ev(&[0, -3]),
                schedstat: None,
                bpf: None,
                vcpu_wait_ns: None,
                runnable_wait: None,
            },
            Sample {
                at_ms: 200,
                cpus: vec![cpu(1, 1, 0, 7)],
                events: ev(&[4, 5]),
                schedstat: None,
                bpf: None,
                vcpu_wait_ns: None,
                runnable_wait: None,
            },
            Sample {
                at_ms: 300,
                cpus: vec![cpu(1, 1, 0, 8)],
                events: Some(Events::Unavailable(why.clone())),
                schedstat: None,
                bpf: None,
                vcpu_wait_ns: None,
                runnable_wait: None,
            },
        ];
        let text = write_samples(&samples);
        assert_eq!(
            text,
            format!(
                "{LEGEND}\nt=0 1/1/0/5\n# events: SCX_EV_A SCX_EV_B\nt=100 1/1/0/6 ev=0,-3\n\
                 t=200 1/1/0/7 ev=4,5\n# events unavailable: {}\nt=300 1/1/0/8 ev=-",
                why.0
            )
        );
        assert_eq!(parse_samples(&text), samples);
        // A value count that does not match the names, values without names,
        // junk after the counters: the line is skipped.
        assert_eq!(
            parse_samples(
                "t=1 1/1/0/1 ev=1\n# events: A B\nt=2 ev=1\nt=3 ev=1,2 1/1/0/1\nt=4 ev=x,1"
            ),
            []
        );
    }

    fn cpu(a: u32, b: u32, c: u32, d: u64) -> CpuSample {
        CpuSample {
            nr_running: a,
            scx_nr_running: b,
            local_dsq: c,
            clock: d,
        }
    }

    #[test]
    fn format() {
        let samples = vec![
            Sample {
                at_ms: 0,
                cpus: vec![cpu(2, 1, 0, 1000), cpu(0, 0, 3, u64::MAX)],
                events: None,
                schedstat: None,
                bpf: None,
                vcpu_wait_ns: None,
                runnable_wait: None,
            },
            Sample {
                at_ms: 100,
                cpus: vec![],
                events: None,
                schedstat: None,
                bpf: None,
                vcpu_wait_ns: None,
                runnable_wait: None,
            },
        ];
        let text = write_samples(&samples);
        assert_eq!(
            text,
            format!("{LEGEND}\nt=0 2/1/0/1000 0/0/3/18446744073709551615\nt=100")
        );
        assert_eq!(parse_samples(&text), samples);
        assert_eq!(write_samples(&[]), LEGEND);
        assert_eq!(parse_samples(LEGEND), []);
    }

    #[test]
    fn lenient() {
        let text = "\
# legend
  t=5 1/1/0/9   \n\
\n\
t=6 1/1/0\n\
t=7 1/1/0/9/1\n\
t=8 1/x/0/9\n\
x=9 1/1/0/9\n\
t=-1 1/1/0/9\n\
t=10 4294967296/0/0/0\n\
t= 1/1/1/1\n\
t=11 1/1/0/99999999999999999999\n\
garbage\n\
/ / // t=\n\
t=12 3/2/1/0 0/0/0/1\n";
        assert_eq!(
            parse_samples(text),
            [
                Sample {
                    at_ms: 5,
                    cpus: vec![cpu(1, 1, 0, 9)],
                    events: None,
                    schedstat: None,
                    bpf: None,
                    vcpu_wait_ns: None,
                    runnable_wait: None,
                },
                Sample {
                    at_ms: 12,
                    cpus: vec![cpu(3, 2, 1, 0), cpu(0, 0, 0, 1)],
                    events: None,
                    schedstat: None,
                    bpf: None,
                    vcpu_wait_ns: None,
                    runnable_wait: None,
                },
            ]
        );
    }

    fn arb_sample() -> impl Strategy<Value = Sample> {
        (
            any::<u64>(),
            prop::collection::vec(
                (any::<u32>(), any::<u32>(), any::<u32>(), any::<u64>())
                    .prop_map(|(a, b, c, d)| cpu(a, b, c, d)),
                0..6,
            ),
            prop_oneof![
                Just(None),
                Just(Some(Events::Unavailable(Shared(Arc::from(
                    "no scx_root symbol"
                ))))),
                Just(Some(Events::Unavailable(Shared(Arc::from(
                    "page walk failed"
                ))))),
                prop::collection::vec(any::<i64>(), 0..4).prop_map(|values| {
                    let names: Vec<String> =
                        (0..values.len()).map(|i| format!("SCX_EV_{i}")).collect();
                    Some(Events::Read {
                        names: Shared(names.into()),
                        values,
                    })
                }),
            ],
            prop_oneof![
                Just(None),
                Just(Some(Schedstats::Unavailable(Shared(Arc::from(
                    "rq.sched_count is not in this kernel's BTF"
                ))))),
                any::<[u64; 7]>().prop_map(|v| Some(Schedstats::Read(Schedstat::from_values(v)))),
            ],
            prop_oneof![
                Just(None),
                Just(Some(BpfProgs::Unavailable(Shared(Arc::from(
                    "kernel symbol prog_idr not found (neither in guest memory nor by the agent)"
                ))))),
                prop::collection::vec(
                    (any::<u32>(), "[a-z_.0-9]{1,15}", any::<u64>(), any::<u64>()).prop_map(
                        |(id, name, cnt, nsecs)| ProgSample {
                            id,
                            name,
                            cnt,
                            nsecs
                        }
                    ),
                    0..4
                )
                .prop_map(|p| Some(BpfProgs::Read(p))),
            ],
            prop::option::of(prop::collection::vec(any::<u64>(), 1..4)),
            prop::option::of(
                (
                    any::<u32>(),
                    any::<i32>(),
                    any::<u64>(),
                    any::<Option<u64>>(),
                )
                    .prop_map(|(cpu, pid, waited_jiffies, timeout_jiffies)| {
                        RunnableWait {
                            cpu,
                            pid,
                            waited_jiffies,
                            timeout_jiffies,
                        }
                    }),
            ),
        )
            .prop_map(
                |(at_ms, cpus, events, schedstat, bpf, vcpu_wait_ns, runnable_wait)| Sample {
                    at_ms,
                    cpus,
                    events,
                    schedstat,
                    bpf,
                    vcpu_wait_ns,
                    runnable_wait,
                },
            )
    }

    proptest! {
        #[test]
        fn round_trip(samples in prop::collection::vec(arb_sample(), 0..20)) {
            prop_assert_eq!(parse_samples(&write_samples(&samples)), samples);
        }

        #[test]
        fn never_panics(text in "\\PC*") {
            let _ = parse_samples(&text);
        }

        #[test]
        fn never_panics_near_format(text in "[t=0-9/ #\\n-]{0,80}") {
            let _ = parse_samples(&text);
        }
    }
}
