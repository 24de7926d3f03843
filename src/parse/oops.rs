//! Kernel oopses and lockdep splats that happened with a sched_ext scheduler
//! loaded: the oops prints `Sched_ext: <name> (<state>), task: ...` lines.
//! Not a sched_ext exit, but the scheduler is the suspect.

use std::borrow::Cow;

use crate::report::{Crash, MessageFormat, TaskRef};

use super::frame::parse_frame;

/// Words that open an oops report, most telling first.
const OOPS_HEADS: &[&str] = &[
    "BUG: ",
    "WARNING: ",
    "kernel BUG at",
    "general protection fault",
    "possible circular locking dependency",
    "possible recursive locking",
    "inconsistent lock state",
    "INFO: task ",
    "watchdog: BUG: soft lockup",
    "Kernel panic - not syncing",
    "Oops: ",
];

/// Is this the first line of an oops?
pub fn is_oops_head(t: &str) -> bool {
    OOPS_HEADS.iter().any(|h| t.contains(h))
}

/// What the lines before the `Sched_ext:` line say.
#[derive(Default)]
pub struct Before {
    /// The line that opened the oops (`BUG: ...` preferred over `Oops: ...`).
    pub head: Option<String>,
    pub task: Option<TaskRef>,
    pub cpu: Option<u32>,
}

/// Reads the oops preamble backwards from the `Sched_ext:` line (nearest first).
pub fn read_before<'a>(lines: impl Iterator<Item = Cow<'a, str>>) -> Before {
    let mut b = Before::default();
    for l in lines.take(80) {
        let t = l.trim();
        if t.starts_with("---[ end trace") {
            break;
        }
        if t.starts_with("CPU: ") && b.cpu.is_none() {
            let (task, cpu) = parse_cpu_line(t);
            b.task = task;
            b.cpu = cpu;
        }
        if is_oops_head(t) {
            let better = match &b.head {
                None => true,
                // A `BUG:`/`WARNING:` line above `Oops:` says what happened.
                Some(h) => h.contains("Oops: ") && !t.contains("Oops: "),
            };
            if better {
                b.head = Some(t.to_string());
            }
            if !t.contains("Oops: ") {
                break;
            }
        }
    }
    b
}

/// `CPU: 6 UID: 1000 PID: 48213 Comm: cc1plus Not tainted ...`
fn parse_cpu_line(t: &str) -> (Option<TaskRef>, Option<u32>) {
    let toks: Vec<&str> = t.split_whitespace().collect();
    let after = |key: &str| {
        toks.iter()
            .position(|&x| x == key)
            .and_then(|i| toks.get(i + 1).copied())
    };
    let cpu = after("CPU:").and_then(|v| v.parse().ok());
    let pid = after("PID:").and_then(|v| v.parse().ok());
    let task = match (after("Comm:"), pid) {
        (Some(comm), Some(pid)) => Some(TaskRef {
            comm: comm.to_string(),
            pid,
        }),
        _ => None,
    };
    (task, cpu)
}

/// Builds a crash from the `Sched_ext:` line, what came before it, and the
/// `RIP:` and `Call Trace:` lines after it. `? ` frames are unreliable guesses
/// of the unwinder and are left out.
pub fn parse<'a>(
    sched_line: &str,
    before: Before,
    after: impl Iterator<Item = (usize, Cow<'a, str>)>,
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
        message: before.head,
        scheduler,
        task: before.task,
        cpu: before.cpu,
        formats: vec![MessageFormat::KernelOops],
        kernel_exit: false,
        ops_dump: vec![format!("Sched_ext: {info}")],
        ..Crash::default()
    };
    let mut last = None;
    let mut in_trace = false;
    for (tag, content) in after.take(400) {
        let t = content.trim();
        if let Some(rip) = t.strip_prefix("RIP: ") {
            // `RIP: 0010:func+0x1/0x2`; user-space RIPs (`0033:0x7f..`) end the trace.
            let sym = rip.split_once(':').map_or(rip, |(_, s)| s);
            match parse_frame(sym) {
                Some(f) if !in_trace => crash.backtrace.insert(0, f),
                Some(_) => {}
                None if in_trace => break,
                None => {}
            }
        } else if t == "Call Trace:" {
            in_trace = true;
        } else if in_trace {
            if t.starts_with("? ") {
                // unreliable frame
            } else if let Some(f) = parse_frame(t) {
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
