//! The pure part of scxray's host-side monitor (ktstr-notes §4): the sample
//! model, the summary and threshold verdict, and the text formats (`---
//! monitor ---` and scxray's own `--- monitor samples ---`). Named for the
//! host side that samples the guest, apart from [`sections::monitor`], which
//! parses the `--- monitor ---` section of a report.
//!
//! Reading guest memory is not done here: the VM side (`scxray-vmm`'s
//! `monitor`) reads `rq.nr_running`, `rq.scx.nr_running`,
//! `rq.scx.local_dsq.nr` and `rq.clock` of every CPU every
//! [`SAMPLE_INTERVAL_MS`] at the offsets [`Btf`](crate::btf::Btf) gives, the
//! runqueues' schedstat and the sched_ext event counters summed over CPUs
//! ([`Events`], named by the kernel's BTF), and hands [`Sample`]s to
//! [`Summary::from_run`] (ktstr's warm-up dropped) or
//! [`Summary::from_samples`].
//!
//! [`sections::monitor`]: mod@crate::sections::monitor

pub mod bpf;
pub mod events;
pub mod guest_rq;
pub mod sample;
pub mod samples_text;
pub mod summary;

pub use events::{Events, EventsSummary};
pub use sample::{stuck_cpus, CpuSample, Sample, Schedstat, Schedstats, DSQ_PLAUSIBILITY_CEILING};
pub use samples_text::{parse_samples, write_samples};
pub use summary::{BpfSummary, MonitorVerdict, SchedstatSummary, Summary, Thresholds};

/// ktstr's sampling period.
pub const SAMPLE_INTERVAL_MS: u64 = 100;

/// Samples ktstr drops from the start of a run before summarizing
/// (`MONITOR_WARMUP_SAMPLES`, ≈2 s): the scheduler is still attaching and the
/// rq fields may not be initialized. [`Summary::from_samples`] does not drop
/// them itself; [`Summary::from_run`] does.
pub const WARMUP_SAMPLES: usize = 20;
