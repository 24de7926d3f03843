//! The guest's own view of its runqueues, to check the host monitor by.
//!
//! While a scenario runs, the agent reads `nr_running` of every CPU from the
//! kernel's `sched/debug` file (debugfs) now and then and sends it. Each such
//! reading is compared with the host's samples taken around it: the run's
//! diagnostics then say how often the two agree, so a monitor reading the
//! wrong offsets or the wrong CPU's memory shows up as a disagreement rather
//! than as plausible numbers.

use super::sample::Sample;

/// Host samples up to this far from a guest reading are compared with it:
/// the reading reaches the host within milliseconds, and a sample is taken
/// every 100 ms.
pub const WINDOW_MS: u64 = 250;

/// How far a guest total may lie outside the range of the host's totals in
/// the window: the agent itself runs while it reads, and one task may wake
/// or sleep between the two reads.
pub const SLACK: u32 = 1;

/// How the diagnostics note of [`agreement_note`] starts.
pub const NOTE: &str = "host monitor vs the guest's sched/debug: ";

/// `nr_running` of each CPU, in CPU order, from the text of debugfs
/// `sched/debug` (each `cpu#N, … MHz` block has a `.nr_running : N` line;
/// the `cfs_rq`/`rt_rq` blocks below it have their own, which are not the
/// runqueue's). Empty when the text has no CPU block.
pub fn parse_sched_debug(text: &str) -> Vec<u32> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    let mut cpu: Option<u32> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("cpu#") {
            let id = rest.split(|c: char| !c.is_ascii_digit()).next();
            cpu = id.and_then(|n| n.parse().ok());
            continue;
        }
        // A nested block (`cfs_rq[0]:…`, `rt_rq[0]:`, `dl_rq[0]:`) ends the
        // runqueue's own fields.
        if line.contains("_rq[") {
            cpu = None;
            continue;
        }
        let Some(id) = cpu else { continue };
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        if key.trim() == ".nr_running" {
            if let Ok(n) = value.trim().parse() {
                out.push((id, n));
                cpu = None;
            }
        }
    }
    out.sort_unstable();
    out.dedup_by_key(|(id, _)| *id);
    // CPU ids are dense from 0 in a guest; a gap means a block was not read.
    if out.iter().enumerate().any(|(i, &(id, _))| id != i as u32) {
        return Vec::new();
    }
    out.into_iter().map(|(_, n)| n).collect()
}

/// One guest reading: host time of its arrival, `nr_running` per CPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestRq {
    pub at_ms: u64,
    pub nr_running: Vec<u32>,
}

/// How the guest's readings compare with the host's samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Agreement {
    /// Readings with at least one host sample within [`WINDOW_MS`].
    pub compared: usize,
    /// Of those, readings whose total lies within the host totals' range
    /// in the window, widened by [`SLACK`].
    pub agreed: usize,
    /// Readings with no host sample near them (or of another CPU count).
    pub unmatched: usize,
}

/// Compares each guest reading's total `nr_running` with the totals of the
/// host samples within [`WINDOW_MS`] of it. Totals, not per-CPU values: a
/// task moving between CPUs between the two reads is not a disagreement.
pub fn compare<'a>(
    readings: &[GuestRq],
    samples: impl Iterator<Item = &'a Sample> + Clone,
) -> Agreement {
    let mut a = Agreement::default();
    for r in readings {
        let near = samples.clone().filter(|s| {
            s.at_ms.abs_diff(r.at_ms) <= WINDOW_MS && s.cpus.len() == r.nr_running.len()
        });
        let totals: Vec<u32> = near
            .map(|s| s.cpus.iter().map(|c| c.nr_running).sum())
            .collect();
        let (Some(&lo), Some(&hi)) = (totals.iter().min(), totals.iter().max()) else {
            a.unmatched += 1;
            continue;
        };
        a.compared += 1;
        let guest: u32 = r.nr_running.iter().sum();
        if guest + SLACK >= lo && guest <= hi + SLACK {
            a.agreed += 1;
        }
    }
    a
}

/// The diagnostics line for a run: how many readings agreed, and the last
/// reading for a reader to see the numbers.
pub fn agreement_note(a: Agreement, last: Option<&GuestRq>) -> String {
    let mut s = format!(
        "{NOTE}{} of {} readings agree (total nr_running within ±{SLACK} of the host's samples within {WINDOW_MS} ms)",
        a.agreed, a.compared
    );
    if a.unmatched > 0 {
        s.push_str(&format!("; {} with no host sample near", a.unmatched));
    }
    if let Some(r) = last {
        let cpus: Vec<String> = r.nr_running.iter().map(u32::to_string).collect();
        s.push_str(&format!(
            "; last at {} ms: nr_running [{}]",
            r.at_ms,
            cpus.join(", ")
        ));
    }
    s
}

/// Reads back the agreed and compared counts of an [`agreement_note`].
pub fn parse_agreement(note: &str) -> Option<(usize, usize)> {
    let rest = note.strip_prefix(NOTE)?;
    let mut words = rest.split_whitespace();
    let agreed = words.next()?.parse().ok()?;
    (words.next()? == "of").then_some(())?;
    let compared = words.next()?.parse().ok()?;
    Some((agreed, compared))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host_monitor::sample::CpuSample;

    /// The shape of 7.x `sched/debug` (abridged): each CPU's own
    /// `.nr_running`, then its cfs_rq's, which must not be taken.
    const SCHED_DEBUG: &str = "\
Sched Debug Version: v0.11, 7.3.4+deb13-cloud-amd64 #1
ktime                                   : 5123.456789
jiffies                                 : 4294972418

sysctl_sched
  .sysctl_sched_base_slice                 : 3.000000

cpu#0, 2399.998 MHz
  .nr_running                    : 3
  .nr_switches                   : 1711
  .nr_uninterruptible            : 0
  .curr->pid                     : 153

cfs_rq[0]:/
  .nr_running                    : 1
  .h_nr_runnable                 : 1

rt_rq[0]:
  .rt_nr_running                 : 0

cpu#1, 2399.998 MHz
  .nr_running                    : 2
  .nr_switches                   : 1500

cfs_rq[1]:/
  .nr_running                    : 0
";

    #[test]
    fn the_runqueues_own_count_per_cpu() {
        assert_eq!(parse_sched_debug(SCHED_DEBUG), [3, 2]);
        assert_eq!(parse_sched_debug(""), Vec::<u32>::new());
        assert_eq!(parse_sched_debug("garbage\n\0\u{202e}"), Vec::<u32>::new());
        // A CPU block without its line leaves a gap: no reading at all.
        let gap = SCHED_DEBUG.replace("  .nr_running                    : 3\n", "");
        assert_eq!(parse_sched_debug(&gap), Vec::<u32>::new());
    }

    fn sample(at_ms: u64, nr: &[u32]) -> Sample {
        Sample {
            at_ms,
            cpus: nr
                .iter()
                .map(|&n| CpuSample {
                    nr_running: n,
                    ..CpuSample::default()
                })
                .collect(),
            ..Sample::default()
        }
    }

    #[test]
    fn readings_agree_within_the_host_range_plus_slack() {
        let samples = [
            sample(1000, &[2, 2]),
            sample(1100, &[3, 2]),
            sample(1200, &[2, 1]),
            sample(5000, &[1, 1]),
        ];
        let read = |at_ms, nr: &[u32]| GuestRq {
            at_ms,
            nr_running: nr.to_vec(),
        };
        let readings = [
            read(1150, &[3, 3]),    // 6 vs 3..=5: within slack
            read(1150, &[4, 4]),    // 8: no
            read(1100, &[1, 1]),    // 2 vs 3..=5: within slack
            read(3000, &[2, 2]),    // no sample near
            read(5100, &[1, 1, 1]), // another CPU count
        ];
        let a = compare(&readings, samples.iter());
        assert_eq!(
            a,
            Agreement {
                compared: 3,
                agreed: 2,
                unmatched: 2
            }
        );
        let note = agreement_note(a, readings.last());
        assert!(note.starts_with(NOTE), "{note}");
        assert!(note.contains("2 with no host sample near"), "{note}");
        assert!(
            note.ends_with("last at 5100 ms: nr_running [1, 1, 1]"),
            "{note}"
        );
        assert_eq!(parse_agreement(&note), Some((2, 3)));
        assert_eq!(parse_agreement("other"), None);
    }
}
