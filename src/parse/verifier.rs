//! BPF verifier rejections as libbpf prints them:
//!
//! ```text
//! libbpf: prog 'x_enqueue': BPF program load failed: Invalid argument
//! libbpf: prog 'x_enqueue': -- BEGIN PROG LOAD LOG --
//! ...verifier log...
//! libbpf: prog 'x_enqueue': -- END PROG LOAD LOG --
//! libbpf: prog 'x_enqueue': failed to load: -22
//! ```
//!
//! A rejection is not a kernel exit: the scheduler never ran.

use std::borrow::Cow;

use crate::report::{Crash, Frame, FrameClass, MessageFormat};

/// `prog 'name'` in a libbpf line.
fn prog_name(line: &str) -> Option<&str> {
    let at = line.find("prog '")? + "prog '".len();
    let end = line[at..].find('\'')?;
    Some(&line[at..at + end])
}

/// A verifier log line that is an instruction, register state or source
/// comment rather than a verdict.
fn is_trace_line(t: &str) -> bool {
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    (digits > 0 && t[digits..].starts_with(':'))
        || t.starts_with("; ")
        || t.starts_with("func '")
        || t.starts_with("from ")
        || t.starts_with("last_idx")
        || t.starts_with("regs=")
        || t.starts_with("parent ")
        || t.starts_with("mark_precise")
        || t.starts_with("Validating ")
        || t.starts_with("verification time")
        || t.starts_with("stack depth")
        || t.starts_with("processed ")
        || t.starts_with("libbpf:")
}

/// What libbpf's `BPF program load failed: <text>` says (`strerror`) for
/// the errno its `failed to load: -13` / `-EACCES` line gives.
fn errno_text(errno: &str) -> Option<&'static str> {
    const TEXTS: [(u32, &str, &str); 9] = [
        (1, "EPERM", "Operation not permitted"),
        (2, "ENOENT", "No such file or directory"),
        (7, "E2BIG", "Argument list too long"),
        (13, "EACCES", "Permission denied"),
        (14, "EFAULT", "Bad address"),
        (22, "EINVAL", "Invalid argument"),
        (28, "ENOSPC", "No space left on device"),
        (95, "EOPNOTSUPP", "Operation not supported"),
        (524, "ENOTSUPP", "Unknown error 524"),
    ];
    let e = errno.trim().strip_prefix('-')?;
    TEXTS
        .iter()
        .find(|(n, name, _)| e == *name || e.parse() == Ok(*n))
        .map(|(_, _, text)| *text)
}

/// Is `t` a line that cannot belong to a verifier log: a logger's or
/// libbpf's own line, a loader's error chain?
fn ends_log_upwards(t: &str) -> bool {
    let clock = t.len() > 9
        && t.as_bytes()[2] == b':'
        && t.as_bytes()[5] == b':'
        && t.as_bytes()[..8]
            .iter()
            .filter(|b| b.is_ascii_digit())
            .count()
            == 6;
    t.is_empty()
        || clock
        || t.starts_with("libbpf: ")
        || t.starts_with("Error: ")
        || t.starts_with("Caused by")
        || t.starts_with("[INFO]")
        || t.starts_with("[WARN]")
        || t.starts_with("[ERROR]")
        || t.contains("BEGIN PROG LOAD LOG")
        || t.contains("END PROG LOAD LOG")
}

/// An instruction line of the verifier log: `17: (85) call bpf_map_lookup_elem#1`.
fn is_insn_line(t: &str) -> bool {
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && t[digits..].starts_with(": (")
}

/// A verifier log pasted without libbpf's `-- BEGIN PROG LOAD LOG --`,
/// ending just above a `failed to load` line: `lines` are the lines above
/// it, nearest first, as (start offset, content). Between the log and the
/// line may sit `-- END PROG LOAD LOG --` and other libbpf lines. The log
/// must end in `processed N insns` (or its statistics lines) and is read
/// upwards to a blank line, a logger or libbpf line, or the start of the
/// text. Returns the offset of its first line and its lines, top down.
pub fn log_before<'a>(
    lines: impl Iterator<Item = (usize, Cow<'a, str>)>,
) -> Option<(usize, Vec<String>)> {
    let mut log: Vec<String> = Vec::new();
    let mut first = None;
    let mut skipped = 0;
    let mut processed = false;
    for (at, content) in lines.take(20_000) {
        let t = content.trim();
        if log.is_empty()
            && ((skipped < 4 && t.starts_with("libbpf: ")) || t.contains("END PROG LOAD LOG"))
        {
            skipped += 1;
            continue;
        }
        if ends_log_upwards(t) {
            break;
        }
        // `processed N insns` ends the log, give or take the statistics
        // lines log level 2 and BPF_LOG_STATS print after it.
        if !processed && log.len() >= 4 {
            return None;
        }
        processed |= t.starts_with("processed ") && t.contains(" insns");
        log.push(t.to_string());
        first = Some(at);
    }
    if !processed || !log.iter().any(|l| is_insn_line(l) || l.starts_with("; ")) {
        return None;
    }
    log.reverse();
    Some((first?, log))
}

/// Parses a rejection starting at `line` (a `load failed`, `BEGIN PROG LOAD LOG`
/// or `failed to load` line), reading the log from `rest`.
pub fn parse<'a>(
    line: &str,
    rest: impl Iterator<Item = (usize, Cow<'a, str>)>,
) -> (Crash, Option<usize>, Option<String>) {
    parse_after_log(line, Vec::new(), rest)
}

/// [`parse`] for a `failed to load` line below a log already read
/// ([`log_before`]); an empty `log_above` reads the log from `rest`.
pub fn parse_after_log<'a>(
    line: &str,
    log_above: Vec<String>,
    rest: impl Iterator<Item = (usize, Cow<'a, str>)>,
) -> (Crash, Option<usize>, Option<String>) {
    let prog = prog_name(line).map(str::to_string);
    let mut crash = Crash {
        reason: Some("verifier rejection".to_string()),
        formats: vec![MessageFormat::VerifierReject],
        kernel_exit: false,
        ..Crash::default()
    };
    let mut errno = line
        .split_once("load failed: ")
        .or_else(|| line.split_once("failed to load: "))
        .map(|(_, e)| e.trim().to_string());
    // libbpf's `BPF program load failed: <errno text>`, wherever it is said.
    let mut load_failed = line
        .split_once("load failed: ")
        .map(|(_, e)| e.trim().to_string());
    if let Some(head) = line.trim().strip_prefix("Error: ") {
        crash.causes.push(head.trim().to_string());
    }
    let mut in_log = line.contains("BEGIN PROG LOAD LOG");
    let mut ended = !in_log;
    let mut log = log_above;
    let mut last = None;
    let mut after_end = 0;
    let mut in_chain = false;
    for (tag, content) in rest {
        let t = content.trim();
        // The loader's anyhow chain about the same load: kept, since its
        // last cause often holds the only errno (`os error 524`).
        if in_chain && !t.is_empty() && content.starts_with(char::is_whitespace) {
            crash.causes.push(super::bail::without_index(t).to_string());
            last = Some(tag);
            continue;
        }
        if t.contains("BEGIN PROG LOAD LOG") {
            in_log = true;
            ended = false;
            last = Some(tag);
            continue;
        }
        if t.contains("END PROG LOAD LOG") {
            in_log = false;
            ended = true;
            last = Some(tag);
            continue;
        }
        if in_log {
            log.push(t.to_string());
            last = Some(tag);
            continue;
        }
        // After the log: swallow the follow-up error lines about the same load.
        if after_end < 8
            && (t.contains("failed to load")
                || t.contains("load failed")
                || t.starts_with("Error: ")
                || t.starts_with("Caused by")
                || t.starts_with("libbpf: "))
        {
            if errno.is_none() {
                errno = t
                    .split_once("failed to load: ")
                    .map(|(_, e)| e.trim().to_string());
            }
            if load_failed.is_none() {
                load_failed = t
                    .split_once("load failed: ")
                    .map(|(_, e)| e.trim().to_string());
            }
            if let Some(head) = t.strip_prefix("Error: ") {
                crash.causes.push(head.trim().to_string());
            }
            in_chain |= t.starts_with("Caused by");
            last = Some(tag);
            after_end += 1;
            continue;
        }
        if t.is_empty() && after_end < 8 {
            after_end += 1;
            continue;
        }
        break;
    }
    // The verdict is the last non-trace line before 7.x's explanation block
    // (`Verification failed: ...`) or before `processed N insns`, else the first one.
    let processed = log
        .iter()
        .position(|l| l.starts_with("Verification failed"))
        .or_else(|| log.iter().position(|l| l.starts_with("processed ")));
    let verdict = match processed {
        Some(p) => log[..p]
            .iter()
            .rev()
            .find(|l| !l.is_empty() && !is_trace_line(l)),
        None => log.iter().find(|l| !l.is_empty() && !is_trace_line(l)),
    };
    // The verdict names what the verifier refused; libbpf's errno text is
    // kept with the loader's chain so that it is not lost.
    if verdict.is_some() {
        let spelled = errno.as_deref().and_then(errno_text).map(str::to_string);
        if let Some(e) = load_failed.as_ref().or(spelled.as_ref()).or(errno.as_ref()) {
            let said = format!("load failed: {e}");
            if !crash.causes.iter().any(|c| c.contains(&said)) {
                crash.causes.push(format!("BPF program load failed: {e}"));
            }
        }
    }
    crash.message = verdict
        .cloned()
        .or_else(|| {
            errno
                .clone()
                .map(|e| format!("BPF program load failed: {e}"))
        })
        .or_else(|| Some(line.trim().to_string()));
    if let Some(p) = prog {
        crash.backtrace.push(Frame {
            function: p.clone(),
            offset: None,
            size: None,
            module: None,
            class: FrameClass::BpfProg {
                tag: String::new(),
                name: p,
            },
        });
    }
    crash.ops_dump = log;
    let note = (!ended).then(|| {
        "verifier log ends before `-- END PROG LOAD LOG --` (input truncated?)".to_string()
    });
    (crash, last, note)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn above(text: &str) -> Option<(usize, Vec<String>)> {
        let lines: Vec<(usize, Cow<str>)> = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i, Cow::Borrowed(l)))
            .collect();
        log_before(lines.into_iter().rev())
    }

    #[test]
    fn log_without_begin_marker_is_read_upwards() {
        let log = "\
0: R1=ctx() R10=fp0
; int BPF_STRUCT_OPS(x_enqueue, struct task_struct *p, u64 enq_flags) @ foo.bpf.c:42
17: (85) call bpf_map_lookup_elem#1   ; R0_w=map_value_or_null(id=1,map=x_tasks,ks=4,vs=16)
18: (61) r1 = *(u32 *)(r0 +0)
R0 invalid mem access 'map_value_or_null'
processed 123 insns (limit 1000000) max_states_per_insn 0 total_states 9 peak_states 9 mark_read 3";
        // With and without libbpf's end marker.
        for tail in [
            "",
            "\n-- END PROG LOAD LOG --",
            "\nlibbpf: prog 'x_enqueue': -- END PROG LOAD LOG --",
        ] {
            let (first, lines) = above(&format!("{log}{tail}")).expect(tail);
            assert_eq!(first, 0);
            assert_eq!(lines.len(), 6);
            assert!(lines[5].starts_with("processed 123 insns"));
        }
        // The log stops at a blank line or a logger's line above it.
        let (first, _) = above(&format!("12:00:01 [INFO] loading\n{log}")).unwrap();
        assert_eq!(first, 1);
        // Not a log: no `processed` line near the bottom, or no instruction.
        assert!(above("a\nb\nc\nd\ne\nprocessed 1 insns\nf\ng\nh\ni").is_none());
        assert!(
            above("R0 invalid mem access 'scalar'\nprocessed 3 insns (limit 1000000)").is_none()
        );
        assert!(above("Error: boom\n").is_none());
    }

    #[test]
    fn rejection_below_a_log_keeps_libbpf_errno_text() {
        let log = vec![
            "0: R1=ctx() R10=fp0".to_string(),
            "17: (85) call bpf_map_lookup_elem#1".to_string(),
            "R0 invalid mem access 'map_value_or_null'".to_string(),
            "processed 123 insns (limit 1000000) max_states_per_insn 0".to_string(),
        ];
        let rest = "Error: x_enqueue: BPF program load failed: Permission denied\nnext";
        let (c, last, note) = parse_after_log(
            "libbpf: prog 'x_enqueue': failed to load: -13",
            log,
            rest.lines().enumerate().map(|(i, l)| (i, Cow::Borrowed(l))),
        );
        assert_eq!(
            c.message.as_deref(),
            Some("R0 invalid mem access 'map_value_or_null'")
        );
        assert_eq!(
            c.causes,
            ["x_enqueue: BPF program load failed: Permission denied"]
        );
        assert_eq!(c.backtrace[0].function, "x_enqueue");
        assert_eq!(last, Some(0));
        assert!(note.is_none());
        // Only the numeric errno said: kept in libbpf's words.
        let (c, _, _) = parse_after_log(
            "libbpf: prog 'x_enqueue': failed to load: -13",
            vec![
                "1: (85) call x#1".into(),
                "R1 type=scalar expected=fp".into(),
                "processed 2 insns".into(),
            ],
            std::iter::empty(),
        );
        assert_eq!(c.causes, ["BPF program load failed: Permission denied"]);
    }

    #[test]
    fn verdict_before_processed() {
        let text = "libbpf: prog 'rusty_enqueue': BPF program load failed: Permission denied
libbpf: prog 'rusty_enqueue': -- BEGIN PROG LOAD LOG --
0: R1=ctx() R10=fp0
; int BPF_STRUCT_OPS(rusty_enqueue)
12: (85) call bpf_map_lookup_elem#1
R1 invalid mem access 'scalar'
processed 120 insns (limit 1000000) max_states_per_insn 1
-- END PROG LOAD LOG --
libbpf: prog 'rusty_enqueue': failed to load: -13
unrelated line";
        let mut lines = text.lines();
        let first = lines.next().unwrap();
        let (c, last, note) = parse(first, lines.enumerate().map(|(i, l)| (i, Cow::Borrowed(l))));
        assert_eq!(c.message.as_deref(), Some("R1 invalid mem access 'scalar'"));
        assert!(!c.kernel_exit);
        assert_eq!(c.backtrace[0].function, "rusty_enqueue");
        assert_eq!(last, Some(7));
        assert!(note.is_none());
        assert_eq!(c.causes, ["BPF program load failed: Permission denied"]);
    }
}
