//! Kernel oopses and lockdep splats that happened with a sched_ext scheduler
//! loaded: the oops prints `Sched_ext: <name> (<state>), task: ...` lines.
//! Not a sched_ext exit, but the scheduler is the suspect.

use crate::report::{Crash, MessageFormat};

use super::frame::parse_frame;

/// Words that open an oops report.
const OOPS_HEADS: &[&str] = &[
    "BUG: ",
    "WARNING: ",
    "Oops: ",
    "general protection fault",
    "kernel BUG at",
    "possible circular locking dependency",
    "possible recursive locking",
    "inconsistent lock state",
    "INFO: task ",
    "watchdog: BUG: soft lockup",
    "Kernel panic - not syncing",
];

/// Is this the first line of an oops?
pub fn is_oops_head(t: &str) -> bool {
    OOPS_HEADS.iter().any(|h| t.contains(h))
}

/// Builds a crash from the `Sched_ext:` line, the oops head found before it
/// (if any) and the `Call Trace:` frames after it.
pub fn parse<'a>(
    sched_line: &str,
    head: Option<&str>,
    after: impl Iterator<Item = (usize, std::borrow::Cow<'a, str>)>,
) -> (Crash, Option<usize>) {
    let info = sched_line
        .split_once("Sched_ext: ")
        .map_or("", |(_, r)| r)
        .trim();
    let scheduler = info
        .split([' ', ','])
        .next()
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let mut crash = Crash {
        reason: Some("kernel oops".to_string()),
        message: head.map(|h| h.trim().to_string()),
        scheduler,
        formats: vec![MessageFormat::KernelOops],
        kernel_exit: false,
        ops_dump: vec![format!("Sched_ext: {info}")],
        ..Crash::default()
    };
    let mut last = None;
    let mut in_trace = false;
    for (tag, content) in after.take(400) {
        let t = content.trim();
        if t == "Call Trace:" {
            in_trace = true;
        } else if in_trace {
            if let Some(f) = parse_frame(t) {
                crash.backtrace.push(f);
            } else if !(t.starts_with('<') && t.ends_with('>')) {
                break;
            }
        } else if is_oops_head(t) || t.starts_with("---[ end trace") {
            break;
        }
        last = Some(tag);
    }
    (crash, last)
}
