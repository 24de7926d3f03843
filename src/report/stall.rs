//! What a watchdog stall message says: which task did not run, and for how
//! long.
//!
//! sched_ext's watchdog reports a stall in one of two ways:
//!
//! * `runnable task stall (kworker/0:1[123] failed to run for 5.630s)`: a
//!   runnable task sat in the scheduler for too long. The task the dump says
//!   "triggered" the exit is the watchdog's kworker that noticed, not this
//!   one; this is the task to look up in the CPU states.
//! * `watchdog failed to check in for 5.003s`: the watchdog itself did not
//!   run; no task is named.
//!
//! The message may come with or without the reason in front (the parser
//! keeps the text in parentheses as the crash's message) and with a dmesg
//! `sched_ext: <scheduler>: ` prefix.

use std::time::Duration;

use super::{Crash, ExitKind, TaskRef};

/// A stall read from a crash message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stall {
    /// The task that failed to run; `None` when the watchdog itself stalled.
    pub task: Option<TaskRef>,
    /// How long it went without running (or the watchdog without checking in).
    pub duration: Option<Duration>,
    /// The duration as the kernel wrote it (`5.630s`).
    pub duration_text: Option<String>,
    pub kind: StallKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StallKind {
    /// `... failed to run for ...`: a runnable task was not scheduled.
    Task,
    /// `watchdog failed to check in for ...`.
    Watchdog,
}

const TASK_STALL: &str = " failed to run for ";
const WATCHDOG_STALL: &str = "watchdog failed to check in for ";

/// Reads a stall message: `comm[pid] failed to run for N.NNNs` (inside
/// `runnable task stall (...)` or not) or `watchdog failed to check in for
/// N.NNNs`. `None` for any other message.
pub fn parse_stall(message: &str) -> Option<Stall> {
    let message = message.trim();
    if let Some(at) = message.find(WATCHDOG_STALL) {
        let (duration, duration_text) = duration_at(&message[at + WATCHDOG_STALL.len()..]);
        return Some(Stall {
            task: None,
            duration,
            duration_text,
            kind: StallKind::Watchdog,
        });
    }
    let at = message.find(TASK_STALL)?;
    let (duration, duration_text) = duration_at(&message[at + TASK_STALL.len()..]);
    Some(Stall {
        task: task_before(&message[..at]),
        duration,
        duration_text,
        kind: StallKind::Task,
    })
}

/// The stall a crash reports, read from its message (then its reason, for
/// inputs that kept the whole line there). Only stalls and crashes of an
/// unknown kind are read: another exit quoting a stall message is not one.
pub fn stall_of(crash: &Crash) -> Option<Stall> {
    if !matches!(crash.kind, ExitKind::Stall | ExitKind::Unknown) {
        return None;
    }
    crash
        .message
        .as_deref()
        .and_then(parse_stall)
        .or_else(|| crash.reason.as_deref().and_then(parse_stall))
}

/// The `comm[pid]` that ends `s`, after any `runnable task stall (` or
/// `sched_ext: sched: ` in front. comm may hold spaces and brackets; the pid
/// is the last `[n]`.
fn task_before(s: &str) -> Option<TaskRef> {
    let body = s.trim_end().strip_suffix(']')?;
    let open = body.rfind('[')?;
    let pid = body[open + 1..].parse().ok()?;
    let mut comm = &body[..open];
    // What comes before the task: the reason's parenthesis or a prefix.
    if let Some(i) = comm.rfind("stall (") {
        comm = &comm[i + "stall (".len()..];
    } else if let Some(i) = comm.rfind(": ") {
        comm = &comm[i + 2..];
    }
    let comm = comm.trim_start();
    (!comm.is_empty()).then(|| TaskRef {
        comm: comm.to_string(),
        pid,
    })
}

/// `5.630s` (what follows "for "): the duration and its text.
fn duration_at(s: &str) -> (Option<Duration>, Option<String>) {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let number = &s[..end];
    if number.is_empty() || !s[end..].starts_with('s') {
        return (None, None);
    }
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    let Ok(secs) = whole.parse::<u64>() else {
        return (None, None);
    };
    // Nanoseconds from up to nine fraction digits.
    let digits: String = frac.chars().take(9).collect();
    let nanos = if digits.is_empty() {
        0
    } else {
        digits.parse::<u32>().unwrap_or(0) * 10u32.pow(9 - digits.len() as u32)
    };
    (Some(Duration::new(secs, nanos)), Some(format!("{number}s")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(comm: &str, pid: i64) -> Option<TaskRef> {
        Some(TaskRef {
            comm: comm.into(),
            pid,
        })
    }

    #[test]
    fn runnable_task_stall_names_the_task_and_duration() {
        let s =
            parse_stall("runnable task stall (kworker/0:1[123] failed to run for 5.63s)").unwrap();
        assert_eq!(s.task, task("kworker/0:1", 123));
        assert_eq!(s.duration, Some(Duration::from_millis(5630)));
        assert_eq!(s.duration_text.as_deref(), Some("5.63s"));
        assert_eq!(s.kind, StallKind::Task);
        // The crash message keeps only what is inside the parentheses.
        let s = parse_stall("stress-ng-cpu[388] failed to run for 30.512s").unwrap();
        assert_eq!(s.task, task("stress-ng-cpu", 388));
        assert_eq!(s.duration, Some(Duration::from_millis(30_512)));
    }

    #[test]
    fn comm_keeps_spaces_and_brackets_and_drops_prefixes() {
        let s = parse_stall("Web Content[7][2201] failed to run for 6.000s").unwrap();
        assert_eq!(s.task, task("Web Content[7]", 2201));
        let s = parse_stall("sched_ext: bpfland: ld.lld[8779] failed to run for 5.344s").unwrap();
        assert_eq!(s.task, task("ld.lld", 8779));
        let s = parse_stall("EXIT: runnable task stall (clang++[13478] failed to run for 6.673s)")
            .unwrap();
        assert_eq!(s.task, task("clang++", 13478));
    }

    #[test]
    fn watchdog_stall_names_no_task() {
        let s = parse_stall("watchdog failed to check in for 5.003s").unwrap();
        assert_eq!(s.task, None);
        assert_eq!(s.kind, StallKind::Watchdog);
        assert_eq!(s.duration, Some(Duration::from_millis(5003)));
        assert_eq!(s.duration_text.as_deref(), Some("5.003s"));
    }

    #[test]
    fn other_messages_are_not_stalls() {
        assert_eq!(parse_stall("dsq_id 0x8000 not found on CPU 1"), None);
        // A task and no duration still names the task.
        let s = parse_stall("foo[1] failed to run for a while").unwrap();
        assert_eq!((s.task, s.duration), (task("foo", 1), None));
        // No pid: no task.
        assert_eq!(parse_stall("foo failed to run for 1s").unwrap().task, None);
    }

    #[test]
    fn only_stall_crashes_are_read() {
        let mut crash = Crash {
            kind: ExitKind::Stall,
            reason: Some("runnable task stall".into()),
            message: Some("pipewire[1873] failed to run for 5.120s".into()),
            task: task("kworker/3:1", 77),
            ..Crash::default()
        };
        assert_eq!(stall_of(&crash).unwrap().task, task("pipewire", 1873));
        crash.kind = ExitKind::ScxBpfError;
        assert_eq!(stall_of(&crash), None);
    }
}
