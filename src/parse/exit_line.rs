//! One-line exit records: the scheduler's user exit info (`EXIT: reason (message)`)
//! and the ftrace `sched_ext_exit:` event.

use crate::report::{Crash, ExitKind, MessageFormat};

use super::dump::split_reason;

/// `EXIT: <reason> (<message>)` anywhere in the line (schedulers prefix it
/// with log levels, timestamps or `file:line:`). `None` for clean exits.
pub fn parse_uei(line: &str) -> Option<Crash> {
    let at = line
        .match_indices("EXIT: ")
        .find(|(i, _)| *i == 0 || matches!(line.as_bytes()[i - 1], b' ' | b':' | b']' | b'\t'))?
        .0;
    let text = line[at + "EXIT: ".len()..].trim();
    if text.is_empty() {
        return None;
    }
    let (reason, message) = split_reason(text);
    let mut crash = Crash {
        formats: vec![MessageFormat::UeiExit],
        kernel_exit: true,
        ..Crash::default()
    };
    let kind = ExitKind::from_reason(&reason);
    if message.is_some() && !reason.contains(':') {
        crash.kind = kind;
        crash.reason = Some(reason);
        crash.message = message;
    } else if kind != ExitKind::Unknown {
        crash.kind = kind;
        crash.reason = Some(reason);
    } else {
        crash.message = Some(text.to_string());
    }
    if crash.kind.is_clean() {
        return None;
    }
    Some(crash)
}

/// `sched_ext_exit: sched <name> level 0 sub_cgroup_id 0 cgrp_path / kind 1025`
/// (older kernels print `exit_kind=<n>`; both accepted).
pub fn parse_trace_exit(line: &str) -> Option<Crash> {
    let at = line.find("sched_ext_exit:")?;
    let body = &line[at + "sched_ext_exit:".len()..];
    let mut toks = body.split_whitespace().peekable();
    let mut crash = Crash {
        formats: vec![MessageFormat::TraceExit],
        kernel_exit: true,
        ..Crash::default()
    };
    let mut code = None;
    while let Some(tok) = toks.next() {
        match tok {
            "sched" | "name" => crash.scheduler = toks.next().map(str::to_string),
            "kind" | "exit_kind" => code = toks.next().and_then(|v| v.parse::<u64>().ok()),
            _ => {
                if let Some(v) = tok
                    .strip_prefix("exit_kind=")
                    .or_else(|| tok.strip_prefix("kind="))
                {
                    code = v.parse().ok();
                } else if let Some(v) = tok
                    .strip_prefix("sched=")
                    .or_else(|| tok.strip_prefix("name="))
                {
                    crash.scheduler = Some(v.to_string());
                }
            }
        }
    }
    let code = code?;
    crash.kind = ExitKind::from_code(code);
    if crash.kind.is_clean() {
        return None;
    }
    Some(crash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uei_forms() {
        let c = parse_uei("  EXIT: runnable task stall (stress[1530] failed to run for 6.841s)")
            .unwrap();
        assert_eq!(c.kind, ExitKind::Stall);
        assert_eq!(
            c.message.as_deref(),
            Some("stress[1530] failed to run for 6.841s")
        );
        let c =
            parse_uei("12:00:01 [INFO] EXIT: scx_bpf_error (main.bpf.c:424: boom (x))").unwrap();
        assert_eq!(c.kind, ExitKind::ScxBpfError);
        assert_eq!(c.message.as_deref(), Some("main.bpf.c:424: boom (x)"));
        let c = parse_uei("EXIT: lavd.bpf.c:120: something odd").unwrap();
        assert_eq!(c.kind, ExitKind::Unknown);
        assert_eq!(c.message.as_deref(), Some("lavd.bpf.c:120: something odd"));
        assert!(parse_uei("EXIT: unregistered from user space").is_none());
        assert!(parse_uei("KTSTR_EXIT: 1").is_none());
    }

    #[test]
    fn trace_exit() {
        let c = parse_trace_exit("sh-131 [001] d.h41 5.57: sched_ext_exit: sched crashfifo level 0 sub_cgroup_id 0 cgrp_path / kind 1025").unwrap();
        assert_eq!(
            (c.kind, c.scheduler.as_deref()),
            (ExitKind::ScxBpfError, Some("crashfifo"))
        );
        assert_eq!(
            parse_trace_exit("x: sched_ext_exit: exit_kind=1026")
                .unwrap()
                .kind,
            ExitKind::Stall
        );
        assert!(parse_trace_exit("sched_ext_exit: sched x kind 64").is_none());
    }
}
