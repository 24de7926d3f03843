//! Kernel console lines announcing a scheduler's exit:
//!
//! ```text
//! sched_ext: BPF scheduler "x" disabled (scx_bpf_error)      (6.12+)
//! sched_ext: x: <message>
//!    frame+0x1/0x2
//! sched_ext: BPF scheduler "x" errored, disabling             (6.9-6.11)
//! sched_ext: runtime error (<message>)
//! ```

use std::borrow::Cow;

use crate::report::{Crash, ExitKind, MessageFormat};

use super::dump::split_reason;
use super::frame::parse_frame;

/// Parses the announcement in `line` and reads message and frames from `rest`.
/// Returns `None` for announcements that are not failures (`enabled`, unregistered).
pub fn parse<'a>(
    line: &str,
    rest: impl Iterator<Item = (usize, Cow<'a, str>)>,
) -> Option<(Crash, Option<usize>)> {
    let at = line.find("BPF scheduler \"")?;
    let after = &line[at + "BPF scheduler \"".len()..];
    let close = after.find('"')?;
    let name = after[..close].to_string();
    let verdict = after[close + 1..].trim();
    let mut crash = Crash {
        scheduler: Some(name.clone()),
        kernel_exit: true,
        ..Crash::default()
    };
    if let Some(r) = verdict
        .strip_prefix("disabled (")
        .and_then(|r| r.strip_suffix(')'))
    {
        crash.kind = ExitKind::from_reason(r);
        crash.reason = Some(r.to_string());
        crash.formats.push(MessageFormat::KernelDisabled);
    } else if verdict.starts_with("errored") {
        crash.formats.push(MessageFormat::KernelErrored);
    } else {
        return None;
    }
    if crash.kind.is_clean() {
        return None;
    }
    let mut last = None;
    let mut in_frames = false;
    let own_prefix = format!("{name}: ");
    for (tag, content) in rest {
        let t = content.trim();
        if !in_frames {
            if let Some(msg) = t.strip_prefix("sched_ext: ") {
                if let Some(m) = msg.strip_prefix(&own_prefix) {
                    crash.message = Some(m.to_string());
                } else {
                    // Old format: `sched_ext: runtime error (<message>)`.
                    let (reason, message) = split_reason(msg);
                    if message.is_some() && crash.reason.is_none() {
                        crash.kind = ExitKind::from_reason(&reason);
                        crash.reason = Some(reason);
                        crash.message = message;
                    } else if crash.reason.is_none()
                        && ExitKind::from_reason(&reason) != ExitKind::Unknown
                    {
                        // `sched_ext: runtime error`: an exit without a message.
                        crash.kind = ExitKind::from_reason(&reason);
                        crash.reason = Some(reason);
                    } else {
                        crash.message = Some(msg.to_string());
                    }
                }
                last = Some(tag);
                in_frames = true;
                continue;
            }
        }
        match parse_frame(t) {
            Some(f) => {
                crash.backtrace.push(f);
                last = Some(tag);
                in_frames = true;
            }
            None => break,
        }
    }
    if crash.task.is_none() {
        // 6.11+: `ops.init_task() failed (-12) for comm[pid]` as the exit message.
        crash.task = crash.message.as_deref().and_then(super::enable::task_of);
    }
    Some((crash, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Option<Crash> {
        let mut lines = text.lines();
        let first = lines.next().unwrap();
        parse(first, lines.enumerate().map(|(i, l)| (i, Cow::Borrowed(l)))).map(|(c, _)| c)
    }

    #[test]
    fn new_format() {
        let c = run("sched_ext: BPF scheduler \"bpfland\" disabled (runnable task stall)\nsched_ext: bpfland: ld.lld[8779] failed to run for 5.344s\n   kthread+0x2f3/0x330\nsched_ext: BPF scheduler \"bpfland\" enabled").unwrap();
        assert_eq!(c.kind, ExitKind::Stall);
        assert_eq!(
            c.message.as_deref(),
            Some("ld.lld[8779] failed to run for 5.344s")
        );
        assert_eq!(c.backtrace.len(), 1);
    }

    #[test]
    fn old_format() {
        let c = run("sched_ext: BPF scheduler \"rustland\" errored, disabling\nsched_ext: runtime error (invalid DSQ ID 0x000000000000000a)\n   scx_bpf_consume+0xbd/0x110").unwrap();
        assert_eq!(c.kind, ExitKind::RuntimeError);
        assert_eq!(c.reason.as_deref(), Some("runtime error"));
        assert_eq!(
            c.message.as_deref(),
            Some("invalid DSQ ID 0x000000000000000a")
        );
        assert_eq!(c.formats, vec![MessageFormat::KernelErrored]);
    }

    #[test]
    fn enable_failure_as_exit_message_names_the_task() {
        let c = run("sched_ext: BPF scheduler \"rusty\" disabled (runtime error)\nsched_ext: rusty: ops.init_task() failed (-12) for stress-ng[4711]").unwrap();
        assert_eq!(c.kind, ExitKind::RuntimeError);
        assert_eq!(
            c.task.map(|t| t.to_string()).as_deref(),
            Some("stress-ng[4711]")
        );
    }

    #[test]
    fn old_format_without_message() {
        let c =
            run("sched_ext: BPF scheduler \"rusty\" errored, disabling\nsched_ext: runtime error")
                .unwrap();
        assert_eq!(c.kind, ExitKind::RuntimeError);
        assert_eq!(c.reason.as_deref(), Some("runtime error"));
        assert_eq!(c.message, None);
    }

    #[test]
    fn clean_exits_are_not_crashes() {
        assert!(run("sched_ext: BPF scheduler \"x\" enabled").is_none());
        assert!(
            run("sched_ext: BPF scheduler \"x\" disabled (unregistered from user space)").is_none()
        );
    }
}
