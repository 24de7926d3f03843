//! Per-program BPF statistics of the scheduler's struct_ops programs in
//! monitor samples (ktstr-notes-2 §2.4) and their `bpf:` summary lines.
//!
//! The VM side walks the kernel's `prog_idr`, keeps `BPF_PROG_TYPE_STRUCT_OPS`
//! programs and sums each one's per-CPU `bpf_prog_stats` (`cnt`, `nsecs`);
//! the kernel counts them only while `kernel.bpf_stats_enabled` is 1.

use serde::{Deserialize, Serialize};

use super::events::Shared;
use super::sample::Sample;
use super::summary::BpfSummary;

/// One program's counters, summed over CPUs, at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgSample {
    /// `bpf_prog_aux.id`: tells two programs of one name apart.
    pub id: u32,
    /// `bpf_prog_aux.name` (at most 15 characters).
    pub name: String,
    /// Calls.
    pub cnt: u64,
    /// ns spent in them.
    pub nsecs: u64,
}

/// What a sample says about BPF programs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BpfProgs {
    /// The struct_ops programs loaded, in `prog_idr` order.
    Read(Vec<ProgSample>),
    /// They could not be read, and why. Never reported as zeros.
    Unavailable(Shared<str>),
}

/// The `bpf:` lines of `samples` (oldest first): each struct_ops program's
/// calls and ns per call between the first and the last sample it is in
/// (a scheduler's programs are gone once it is unloaded), for programs that
/// were called, in the order they were first seen. `None` when no sample
/// read the programs; else also a note when programs were loaded but none
/// was ever counted (statistics off in the guest).
pub fn summarize(samples: &[Sample]) -> Option<(Vec<BpfSummary>, Option<String>)> {
    let read: Vec<&[ProgSample]> = samples
        .iter()
        .filter_map(|s| match &s.bpf {
            Some(BpfProgs::Read(p)) => Some(p.as_slice()),
            _ => None,
        })
        .collect();
    if read.is_empty() {
        return None;
    }
    // Each program's first and last reading, in first-seen order.
    let mut seen: Vec<(&ProgSample, &ProgSample)> = Vec::new();
    for p in read.iter().flat_map(|progs| progs.iter()) {
        match seen.iter_mut().find(|(f, _)| f.id == p.id) {
            Some(entry) => entry.1 = p,
            None => seen.push((p, p)),
        }
    }
    let mut out = Vec::new();
    for (first, p) in seen {
        let (cnt, nsecs) = if p.cnt >= first.cnt {
            (p.cnt - first.cnt, p.nsecs.saturating_sub(first.nsecs))
        } else {
            (p.cnt, p.nsecs)
        };
        if cnt > 0 {
            out.push(BpfSummary {
                name: p.name.clone(),
                cnt,
                ns_per_call: nsecs as f64 / cnt as f64,
            });
        }
    }
    let any_loaded = read.iter().any(|p| !p.is_empty());
    let never_counted = read.iter().all(|p| p.iter().all(|q| q.cnt == 0));
    let note = (any_loaded && never_counted).then(|| {
        "struct_ops programs were loaded but no call was counted (is kernel.bpf_stats_enabled 0 in the guest?)"
            .to_string()
    });
    Some((out, note))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prog(id: u32, name: &str, cnt: u64, nsecs: u64) -> ProgSample {
        ProgSample {
            id,
            name: name.into(),
            cnt,
            nsecs,
        }
    }

    fn sample(at_ms: u64, bpf: Option<BpfProgs>) -> Sample {
        Sample {
            at_ms,
            bpf,
            ..Sample::default()
        }
    }

    #[test]
    fn deltas_per_program_in_idr_order() {
        let samples = vec![
            sample(
                0,
                Some(BpfProgs::Read(vec![prog(7, "x_enqueue", 100, 10_000)])),
            ),
            sample(100, None),
            sample(
                200,
                Some(BpfProgs::Read(vec![
                    prog(7, "x_enqueue", 473, 22_682),
                    prog(9, "x_dispatch", 0, 0),
                    prog(12, "x_select_cpu", 5, 1000),
                ])),
            ),
            sample(
                300,
                Some(BpfProgs::Read(vec![
                    prog(7, "x_enqueue", 473, 22_682),
                    prog(9, "x_dispatch", 0, 0),
                    prog(12, "x_select_cpu", 194, 28_405),
                ])),
            ),
            // The scheduler is gone: its programs with it.
            sample(400, Some(BpfProgs::Read(vec![]))),
        ];
        let (lines, note) = summarize(&samples).unwrap();
        assert_eq!(note, None);
        assert_eq!(
            lines,
            [
                BpfSummary {
                    name: "x_enqueue".into(),
                    cnt: 373,
                    ns_per_call: 34.0
                },
                BpfSummary {
                    name: "x_select_cpu".into(),
                    cnt: 189,
                    ns_per_call: 145.0
                },
            ]
        );
        assert_eq!(summarize(&samples[1..2]), None);
        // Loaded, never counted: said.
        let off = [sample(0, Some(BpfProgs::Read(vec![prog(1, "a", 0, 0)])))];
        let (lines, note) = summarize(&off).unwrap();
        assert!(lines.is_empty());
        assert!(note.unwrap().contains("bpf_stats_enabled"));
    }
}
