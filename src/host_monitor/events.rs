//! sched_ext event counters in monitor samples (ktstr-notes-2 §2.2) and
//! their `events:`/`events+:` summary lines (§2.1).
//!
//! The counters are whatever `struct scx_event_stats` holds in the guest
//! kernel's BTF (`SCX_EV_SELECT_CPU_FALLBACK`, ...), summed over CPUs; the
//! names travel with the values, so a kernel that adds or renames one needs
//! no code change. Only the printing follows ktstr: three counters on the
//! `events:` line under short keys, the others non-zero on `events+:` in
//! ktstr's order, then any counter ktstr does not know, in BTF order.

use std::fmt::Write as _;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::sample::Sample;

/// Shared, immutable text (counter names, a reason): one allocation for a
/// whole run's samples.
#[derive(Debug, PartialEq, Eq)]
pub struct Shared<T: ?Sized>(pub Arc<T>);

impl<T: ?Sized> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(Arc::clone(&self.0))
    }
}

impl Serialize for Shared<[String]> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.as_ref().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Shared<[String]> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<String>::deserialize(d).map(|v| Shared(v.into()))
    }
}

impl Serialize for Shared<str> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.as_ref().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Shared<str> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|v| Shared(v.into()))
    }
}

/// What a sample says about the event counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Events {
    /// The counters summed over CPUs: `values[i]` is `names[i]`, a field
    /// name of `struct scx_event_stats`.
    Read {
        names: Shared<[String]>,
        values: Vec<i64>,
    },
    /// They could not be read, and why (a missing symbol, BTF type or
    /// mapping). Never reported as zeros.
    Unavailable(Shared<str>),
}

impl Events {
    /// The value of counter `name` (its BTF field name).
    pub fn get(&self, name: &str) -> Option<i64> {
        match self {
            Events::Read { names, values } => names
                .0
                .iter()
                .position(|n| n == name)
                .and_then(|i| values.get(i).copied()),
            Events::Unavailable(_) => None,
        }
    }
}

/// The kernel's `/sys/kernel/sched_ext/root/events` (`SCX_EV_<NAME>
/// <value>` per line), as (field name, value); lines that are not so are
/// skipped.
pub fn parse_sysfs(text: &str) -> Vec<(String, i64)> {
    text.lines()
        .filter_map(|l| {
            let (name, value) = l.trim().split_once(char::is_whitespace)?;
            let value = value.trim().parse().ok()?;
            name.starts_with("SCX_EV_")
                .then(|| (name.to_string(), value))
        })
        .collect()
}

/// The note a run keeps of the guest's own counters: the non-zero ones as
/// `NAME=value`, the number of zero ones.
pub fn sysfs_note(text: &str) -> String {
    let all = parse_sysfs(text);
    let nonzero: Vec<String> = all
        .iter()
        .filter(|(_, v)| *v != 0)
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    format!(
        "{SYSFS_NOTE}{} ({} counters, the others 0)",
        if nonzero.is_empty() {
            "all 0".to_string()
        } else {
            nonzero.join(" ")
        },
        all.len()
    )
}

/// How [`sysfs_note`] starts.
pub const SYSFS_NOTE: &str = "guest sysfs sched_ext events at the scenario's end: ";

/// ktstr's key for a counter field (`SCX_EV_DISPATCH_KEEP_LAST` →
/// `keep_last`): the three of the `events:` line have short keys, the
/// others are the field name without `SCX_EV_`, lower case.
pub fn key(field: &str) -> String {
    let short = field.strip_prefix("SCX_EV_").unwrap_or(field);
    match short {
        "SELECT_CPU_FALLBACK" => "fallback".to_string(),
        "DISPATCH_KEEP_LAST" => "keep_last".to_string(),
        "DISPATCH_LOCAL_DSQ_OFFLINE" => "offline".to_string(),
        s => s.to_ascii_lowercase(),
    }
}

/// `events+:` keys in ktstr's order. `reenq_repeat` is what 7.x calls
/// ktstr's `reenq_local_repeat`, printed in its place.
const PLUS_ORDER: [&str; 9] = [
    "reenq_immed",
    "reenq_local_repeat",
    "reenq_repeat",
    "refill_slice_dfl",
    "bypass_activate",
    "bypass_dispatch",
    "bypass_duration",
    "insert_not_owned",
    "sub_bypass_dispatch",
];

/// Sampled but, as in ktstr, never printed in the summary (the raw samples
/// keep them).
const NOT_PRINTED: [&str; 2] = ["enq_skip_exiting", "enq_skip_migration_disabled"];

/// A sample's time, counter names and values.
type Reading<'a> = (u64, &'a Shared<[String]>, &'a [i64]);

/// The `events:` and `events+:` lines' numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventsSummary {
    pub fallback: u64,
    pub fallback_rate: f64,
    pub keep_last: u64,
    pub keep_last_rate: f64,
    pub offline: u64,
    /// `events+:`: non-zero counters, in print order, by key.
    pub plus: Vec<(String, u64)>,
}

impl EventsSummary {
    /// Counter increases over `samples` (oldest first), summed interval by
    /// interval: a counter that goes down (a new scheduler instance starts
    /// from zero) counts from zero. Rates are per second of the span from
    /// the first to the last sample with counters. `None` when no sample has
    /// counters; else the summary and the `events:` counters this kernel
    /// lacks (shown as 0).
    pub fn from_samples(samples: &[Sample]) -> Option<(EventsSummary, Vec<String>)> {
        let read: Vec<Reading<'_>> = samples
            .iter()
            .filter_map(|s| match &s.events {
                Some(Events::Read { names, values }) => Some((s.at_ms, names, values.as_slice())),
                _ => None,
            })
            .collect();
        let (first, last) = (read.first()?, read.last()?);
        let names = last.1;
        let mut deltas = vec![0u64; names.0.len()];
        for w in read.windows(2) {
            let ((_, pn, pv), (_, cn, cv)) = (w[0], w[1]);
            for (i, name) in cn.0.iter().enumerate() {
                let Some(&cur) = cv.get(i) else { continue };
                let prev = if pn.0.get(i) == Some(name) {
                    pv.get(i).copied()
                } else {
                    pn.0.iter()
                        .position(|n| n == name)
                        .and_then(|j| pv.get(j).copied())
                };
                let d = match prev {
                    Some(p) if cur >= p => cur - p,
                    _ => cur.max(0),
                };
                if let Some(slot) = names.0.iter().position(|n| n == name) {
                    deltas[slot] = deltas[slot].saturating_add(d as u64);
                }
            }
        }
        let secs = last.0.saturating_sub(first.0) as f64 / 1000.0;
        let rate = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        let mut by_key: Vec<(String, u64)> = names
            .0
            .iter()
            .zip(&deltas)
            .map(|(n, &d)| (key(n), d))
            .collect();
        let mut missing = Vec::new();
        let mut take = |k: &str, by_key: &mut Vec<(String, u64)>| match by_key
            .iter()
            .position(|(n, _)| n == k)
        {
            Some(i) => by_key.remove(i).1,
            None => {
                missing.push(k.to_string());
                0
            }
        };
        let fallback = take("fallback", &mut by_key);
        let keep_last = take("keep_last", &mut by_key);
        let offline = take("offline", &mut by_key);
        by_key.retain(|(k, d)| *d > 0 && !NOT_PRINTED.contains(&k.as_str()));
        // ktstr's order first, then the rest in BTF order (stable sort).
        by_key.sort_by_key(|(k, _)| {
            PLUS_ORDER
                .iter()
                .position(|p| p == k)
                .unwrap_or(PLUS_ORDER.len())
        });
        Some((
            EventsSummary {
                fallback,
                fallback_rate: rate(fallback),
                keep_last,
                keep_last_rate: rate(keep_last),
                offline,
                plus: by_key,
            },
            missing,
        ))
    }

    /// The `events:` line and, when a counter of it is non-zero, the
    /// `events+:` line, each ending in a newline.
    pub fn write_lines(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "events: fallback={} ({:.1}/s) keep_last={} ({:.1}/s) offline={}",
            self.fallback, self.fallback_rate, self.keep_last, self.keep_last_rate, self.offline
        );
        if !self.plus.is_empty() {
            out.push_str("events+:");
            for (k, v) in &self.plus {
                let unit = if k == "bypass_duration" { "ns" } else { "" };
                let _ = write!(out, " {k}={v}{unit}");
            }
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Shared<[String]> {
        Shared(n.iter().map(|s| s.to_string()).collect::<Vec<_>>().into())
    }

    fn sample(at_ms: u64, names: &Shared<[String]>, values: &[i64]) -> Sample {
        Sample {
            at_ms,
            cpus: vec![],
            events: Some(Events::Read {
                names: names.clone(),
                values: values.to_vec(),
            }),
            schedstat: None,
            bpf: None,
            vcpu_wait_ns: None,
            runnable_wait: None,
        }
    }

    #[test]
    fn keys() {
        assert_eq!(key("SCX_EV_SELECT_CPU_FALLBACK"), "fallback");
        assert_eq!(key("SCX_EV_DISPATCH_LOCAL_DSQ_OFFLINE"), "offline");
        assert_eq!(key("SCX_EV_BYPASS_DURATION"), "bypass_duration");
        assert_eq!(key("weird"), "weird");
    }

    #[test]
    fn deltas_rates_order_and_resets() {
        // 7.3's fields, in BTF order.
        let n = names(&[
            "SCX_EV_SELECT_CPU_FALLBACK",
            "SCX_EV_DISPATCH_LOCAL_DSQ_OFFLINE",
            "SCX_EV_DISPATCH_KEEP_LAST",
            "SCX_EV_ENQ_SKIP_EXITING",
            "SCX_EV_SLICE_CLAMPED",
            "SCX_EV_BYPASS_DURATION",
            "SCX_EV_BYPASS_DISPATCH",
            "SCX_EV_REENQ_REPEAT",
            "SCX_EV_REFILL_SLICE_DFL",
        ]);
        let samples = vec![
            sample(1000, &n, &[5, 0, 10, 1, 0, 100, 0, 0, 0]),
            Sample {
                at_ms: 1500,
                cpus: vec![],
                events: None,
                schedstat: None,
                bpf: None,
                vcpu_wait_ns: None,
                runnable_wait: None,
            },
            sample(2000, &n, &[5, 0, 60, 4, 2, 300, 0, 1, 7]),
            // A new scheduler: counters restart.
            sample(5000, &n, &[0, 0, 40, 0, 0, 0, 0, 0, 3]),
        ];
        let (s, missing) = EventsSummary::from_samples(&samples).unwrap();
        assert!(missing.is_empty());
        assert_eq!((s.fallback, s.keep_last, s.offline), (0, 90, 0));
        assert_eq!((s.fallback_rate, s.keep_last_rate), (0.0, 22.5));
        let mut text = String::new();
        s.write_lines(&mut text);
        assert_eq!(
            text,
            "events: fallback=0 (0.0/s) keep_last=90 (22.5/s) offline=0\n\
             events+: reenq_repeat=1 refill_slice_dfl=10 bypass_duration=200ns slice_clamped=2\n"
        );
        assert_eq!(
            EventsSummary::from_samples(&samples[1..2]),
            None,
            "no sample with counters"
        );
        let lacking = names(&["SCX_EV_DISPATCH_KEEP_LAST"]);
        let (_, missing) = EventsSummary::from_samples(&[sample(0, &lacking, &[1])]).unwrap();
        assert_eq!(missing, ["fallback", "offline"]);
    }
}

#[cfg(test)]
mod sysfs_tests {
    use super::*;

    #[test]
    fn the_kernels_own_counters_are_read_and_noted() {
        let text = "SCX_EV_SELECT_CPU_FALLBACK 0\nSCX_EV_REFILL_SLICE_DFL 6\n\
                    SCX_EV_BYPASS_DURATION 45072872\ngarbage\n";
        assert_eq!(
            parse_sysfs(text),
            [
                ("SCX_EV_SELECT_CPU_FALLBACK".to_string(), 0),
                ("SCX_EV_REFILL_SLICE_DFL".to_string(), 6),
                ("SCX_EV_BYPASS_DURATION".to_string(), 45_072_872),
            ]
        );
        assert_eq!(
            sysfs_note(text),
            format!(
                "{SYSFS_NOTE}SCX_EV_REFILL_SLICE_DFL=6 SCX_EV_BYPASS_DURATION=45072872 \
                 (3 counters, the others 0)"
            )
        );
    }
}
