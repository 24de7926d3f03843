//! One monitor reading of every CPU's runqueue (ktstr-notes §4.2–4.4).

use serde::{Deserialize, Serialize};

use super::bpf::BpfProgs;
use super::events::{Events, Shared};

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
    /// sched_ext event counters summed over CPUs; `None` when not sampled
    /// (no scheduler attached, or a reader that does not take them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Events>,
    /// Runqueue schedstat counters summed over CPUs; `None` when not sampled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedstat: Option<Schedstats>,
    /// The struct_ops BPF programs' statistics; `None` when not sampled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpf: Option<BpfProgs>,
    /// Each vCPU thread's total wait on a host runqueue (ns), by guest CPU;
    /// `None` when QEMU has no thread per vCPU (single-threaded TCG).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcpu_wait_ns: Option<Vec<u64>>,
    /// The task that had waited longest on a CPU's runnable list (the
    /// list sched_ext's watchdog checks); `None` when not sampled or no
    /// task was runnable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runnable_wait: Option<RunnableWait>,
}

/// How long the longest-waiting runnable task had waited, in jiffies, and
/// the watchdog's timeout to compare with: sched_ext ends the scheduler
/// when a task waits the whole timeout, so a wait past half of it is a
/// stall on its way, seen before the kernel acts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunnableWait {
    pub cpu: u32,
    pub pid: i32,
    pub waited_jiffies: u64,
    /// `scx_sched.watchdog_timeout`, when read.
    pub timeout_jiffies: Option<u64>,
}

impl RunnableWait {
    /// Past half the watchdog's timeout (ktstr's early-snapshot point).
    pub fn stalling(&self) -> bool {
        self.timeout_jiffies
            .is_some_and(|t| t > 0 && self.waited_jiffies.saturating_mul(2) >= t)
    }
}

/// The schedstat counters of every CPU's `struct rq`, summed (cumulative
/// since boot; the kernel counts them only with `schedstats=enable`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedstat {
    /// `rq.rq_sched_info.run_delay`: ns tasks waited on a runqueue.
    pub run_delay: u64,
    /// `rq.rq_sched_info.pcount`: times a task was run.
    pub pcount: u64,
    pub yld_count: u64,
    /// `rq.sched_count`: calls to `__schedule()` (ktstr's `csw`).
    pub sched_count: u64,
    pub sched_goidle: u64,
    pub ttwu_count: u64,
    pub ttwu_local: u64,
}

impl Schedstat {
    /// The fields in [`Schedstat::from_values`] order.
    pub fn values(&self) -> [u64; 7] {
        [
            self.run_delay,
            self.pcount,
            self.yld_count,
            self.sched_count,
            self.sched_goidle,
            self.ttwu_count,
            self.ttwu_local,
        ]
    }

    pub fn from_values(v: [u64; 7]) -> Schedstat {
        Schedstat {
            run_delay: v[0],
            pcount: v[1],
            yld_count: v[2],
            sched_count: v[3],
            sched_goidle: v[4],
            ttwu_count: v[5],
            ttwu_local: v[6],
        }
    }
}

/// What a sample says about schedstat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedstats {
    Read(Schedstat),
    /// Not readable on this kernel, and why (no `CONFIG_SCHEDSTATS` fields
    /// in its BTF...). Never reported as zeros.
    Unavailable(Shared<str>),
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
/// A CPU whose vCPU thread waited on a host runqueue for at least half the
/// interval is not stuck either: the host preempted it, so the guest could
/// not advance its clock. (ktstr exempts a vCPU thread that got fewer than
/// 10 ticks of host CPU time; that also exempts a vCPU idling in HLT with
/// tasks queued, which is exactly a sched_ext stall, so the host's wait time
/// is used instead.) Samples without vCPU waits (single-threaded TCG) get no
/// exemption.
///
/// CPUs are matched by index; extra CPUs in the longer sample are ignored.
pub fn stuck_cpus(prev: &Sample, cur: &Sample) -> Vec<usize> {
    prev.cpus
        .iter()
        .zip(&cur.cpus)
        .enumerate()
        .filter(|(i, (p, c))| {
            c.clock != 0
                && c.clock == p.clock
                && !(p.nr_running == 0 && c.nr_running == 0)
                && !host_preempted(prev, cur, *i)
        })
        .map(|(i, _)| i)
        .collect()
}

/// Whether CPU `i`'s vCPU thread waited on a host runqueue for at least
/// half the time between the samples.
pub fn host_preempted(prev: &Sample, cur: &Sample, i: usize) -> bool {
    let (Some(a), Some(b)) = (&prev.vcpu_wait_ns, &cur.vcpu_wait_ns) else {
        return false;
    };
    let (Some(a), Some(b)) = (a.get(i), b.get(i)) else {
        return false;
    };
    let interval_ns = cur.at_ms.saturating_sub(prev.at_ms) * 1_000_000;
    interval_ns > 0 && b.saturating_sub(*a) >= interval_ns / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vcpu_the_host_kept_waiting_is_not_stuck() {
        let s = |at_ms: u64, wait: Option<Vec<u64>>| Sample {
            at_ms,
            cpus: vec![cpu(2, 0, 500), cpu(1, 0, 700)],
            vcpu_wait_ns: wait,
            runnable_wait: None,
            ..Sample::default()
        };
        // Both clocks stand still; no vCPU times: both stuck.
        assert_eq!(stuck_cpus(&s(100, None), &s(200, None)), [0, 1]);
        // CPU 1's thread waited 60 of the 100 ms on the host: preempted.
        let (a, b) = (
            s(100, Some(vec![0, 0])),
            s(200, Some(vec![10_000_000, 60_000_000])),
        );
        assert_eq!(stuck_cpus(&a, &b), [0]);
        assert!(host_preempted(&a, &b, 1) && !host_preempted(&a, &b, 0));
    }

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
            events: None,
            schedstat: None,
            bpf: None,
            vcpu_wait_ns: None,
            runnable_wait: None,
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
