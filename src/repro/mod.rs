//! Auto-repro's host-side logic: what to probe in a second run of a crashed
//! scheduler, and how to print what the probes saw.
//!
//! ktstr answers a crash by booting a second VM with the same scheduler and
//! workload, a kprobe or fentry/fexit on every function of the crash chain,
//! and a trigger on `sched_ext_exit`; when the crash recurs it prints each
//! function's arguments (`--- auto-repro ---`, AUTO-PROBE block). scxray does
//! the same, and keeps the parts that need no VM here, pure and tested:
//!
//! - [`chain`]: a [`Crash`](crate::report::Crash)'s backtrace becomes the
//!   ordered probe targets ([`Chain`]), or the reason there are none
//!   ([`ChainError`]: a stall, no backtrace, only plumbing); the running
//!   scheduler's struct_ops programs are merged in later.
//! - [`decode`]: raw probe values to ktstr's text (DSQ ids, cpumasks, enqueue
//!   and kick flags, exit kinds, ops state, `scx.flags` with the guest
//!   kernel's own table read from BTF, `__state`).
//!
//! Attaching the probes, reading them out and stitching events to the task
//! that crashed belong to the VM and BPF sides (`vmm/`, `probes/`).

pub mod chain;
pub mod decode;
pub mod fields;
pub mod section;
pub mod signature;
pub mod stitch;

pub use chain::{BadProgramName, Chain, ChainError, Target};

use crate::report::Report;

/// What auto-repro does after a run: `None` when there is nothing to
/// reproduce (no sched_ext exit, or a clean one); else the crash chain to
/// probe, or why the repro runs without probes (a stall).
pub fn plan(report: &Report) -> Option<Result<Chain, ChainError>> {
    let crash = report.crash()?;
    if !crash.kernel_exit || crash.kind.is_clean() {
        return None;
    }
    Some(Chain::from_crash(crash))
}
pub use decode::{DecodeError, FieldDecoder, RenderHint, ScxTaskFlags, TaskStates};
