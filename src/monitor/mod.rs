//! The pure part of scxray's host-side monitor (ktstr-notes §4): BTF field
//! offsets of the per-CPU runqueue, the sample model, the summary and
//! threshold verdict, and the text formats (`--- monitor ---` and scxray's own
//! `--- monitor samples ---`).
//!
//! Reading guest memory is not done here: the VM side reads `rq.nr_running`,
//! `rq.scx.nr_running`, `rq.scx.local_dsq.nr` and `rq.clock` of every CPU every
//! [`SAMPLE_INTERVAL_MS`] at the offsets [`Btf`] gives, and hands [`Sample`]s
//! to [`Summary::from_samples`].

pub mod btf;
pub mod sample;
pub mod samples_text;
pub mod summary;

pub use btf::{Btf, BtfError};
pub use sample::{stuck_cpus, CpuSample, Sample, DSQ_PLAUSIBILITY_CEILING};
pub use samples_text::{parse_samples, write_samples};
pub use summary::{Summary, Thresholds, Verdict};

/// ktstr's sampling period.
pub const SAMPLE_INTERVAL_MS: u64 = 100;

/// Samples ktstr drops from the start of a run before summarizing
/// (`MONITOR_WARMUP_SAMPLES`, ≈2 s): the scheduler is still attaching and the
/// rq fields may not be initialized. [`Summary::from_samples`] does not drop
/// them itself; a caller that wants ktstr's numbers passes
/// `&samples[WARMUP_SAMPLES.min(samples.len())..]`.
pub const WARMUP_SAMPLES: usize = 20;
