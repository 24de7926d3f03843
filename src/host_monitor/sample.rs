//! One monitor reading of every CPU's runqueue (ktstr-notes §4.2–4.4).

use serde::{Deserialize, Serialize};

/// A local DSQ deeper than this means the memory read was garbage (the rq is
/// not initialized yet): ktstr's `DSQ_PLAUSIBILITY_CEILING`.
pub const DSQ_PLAUSIBILITY_CEILING: u32 = 10_000;

/// One CPU's runqueue fields at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuSample {
    /// `rq.nr_running`: tasks on the CPU, every sched class.
    pub nr_running: u32,
    /// `rq.scx.nr_running`: sched_ext tasks on the CPU.
    pub scx_nr_running: u32,
    /// `rq.scx.local_dsq.nr`: depth of the CPU's local dispatch queue.
    pub local_dsq: u32,
    /// `rq.clock` in ns; 0 before the rq is initialized.
    pub clock: u64,
}

/// All CPUs, in CPU order, read at `at_ms` since the monitor started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    pub at_ms: u64,
    pub cpus: Vec<CpuSample>,
}

impl Sample {
    /// ktstr's imbalance ratio: `max(nr_running) / max(1, min(nr_running))`
    /// over CPUs. 1.0 for a sample without CPUs; 0.0 when every CPU is idle
    /// (the formula gives `0 / 1`).
    pub fn imbalance(&self) -> f64 {
        let nr = self.cpus.iter().map(|c| c.nr_running);
        match (nr.clone().min(), nr.max()) {
            (Some(min), Some(max)) => f64::from(max) / f64::from(min.max(1)),
            _ => 1.0,
        }
    }

    /// ktstr's plausibility test: at least one CPU, and no local DSQ deeper
    /// than [`DSQ_PLAUSIBILITY_CEILING`].
    pub fn valid(&self) -> bool {
        !self.cpus.is_empty()
            && self
                .cpus
                .iter()
                .all(|c| c.local_dsq <= DSQ_PLAUSIBILITY_CEILING)
    }
}

/// CPUs whose `rq.clock` did not move from `prev` to `cur` (ktstr's
/// `is_cpu_stalled`): the clock is non-zero and unchanged, and the CPU is not
/// NOHZ-idle (`nr_running == 0` in both samples, when the tick is stopped and
/// the clock legitimately stands still).
///
/// ktstr also exempts a CPU whose vCPU thread got less than 10 ticks of host
/// CPU time between the samples (the host preempted the vCPU, so the guest
/// could not advance its clock). Samples carry no vCPU times, so that
/// exemption is not applied here: on an overloaded host a preempted vCPU can
/// show as stuck.
///
/// CPUs are matched by index; extra CPUs in the longer sample are ignored.
pub fn stuck_cpus(prev: &Sample, cur: &Sample) -> Vec<usize> {
    prev.cpus
        .iter()
        .zip(&cur.cpus)
        .enumerate()
        .filter(|(_, (p, c))| {
            c.clock != 0 && c.clock == p.clock && !(p.nr_running == 0 && c.nr_running == 0)
        })
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn cpu(nr_running: u32, local_dsq: u32, clock: u64) -> CpuSample {
        CpuSample {
            nr_running,
            scx_nr_running: nr_running,
            local_dsq,
            clock,
        }
    }

    fn sample(cpus: &[CpuSample]) -> Sample {
        Sample {
            at_ms: 0,
            cpus: cpus.to_vec(),
        }
    }

    #[test]
    fn imbalance_ratio() {
        assert_eq!(sample(&[]).imbalance(), 1.0);
        assert_eq!(sample(&[cpu(0, 0, 1), cpu(0, 0, 1)]).imbalance(), 0.0);
        assert_eq!(sample(&[cpu(3, 0, 1)]).imbalance(), 1.0);
        assert_eq!(sample(&[cpu(4, 0, 1), cpu(0, 0, 1)]).imbalance(), 4.0);
        assert_eq!(
            sample(&[cpu(6, 0, 1), cpu(2, 0, 1), cpu(3, 0, 1)]).imbalance(),
            3.0
        );
    }

    #[test]
    fn validity() {
        assert!(!sample(&[]).valid());
        assert!(sample(&[cpu(1, 10_000, 1)]).valid());
        assert!(!sample(&[cpu(1, 0, 1), cpu(1, 10_001, 1)]).valid());
    }

    #[test]
    fn stuck() {
        let prev = sample(&[
            cpu(1, 0, 100),
            cpu(0, 0, 100),
            cpu(1, 0, 0),
            cpu(0, 0, 5),
            cpu(2, 0, 7),
        ]);
        let cur = sample(&[
            cpu(1, 0, 200),
            cpu(0, 0, 100),
            cpu(1, 0, 0),
            cpu(1, 0, 5),
            cpu(2, 0, 7),
        ]);
        // cpu0 advanced, cpu1 idle in both, cpu2 clock 0, cpu3 woke up with a
        // stopped clock, cpu4 busy with a stopped clock.
        assert_eq!(stuck_cpus(&prev, &cur), [3, 4]);
        assert_eq!(stuck_cpus(&prev, &sample(&[])), Vec::<usize>::new());
    }
}
