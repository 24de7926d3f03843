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

/// Parses a rejection starting at `line` (a `load failed`, `BEGIN PROG LOAD LOG`
/// or `failed to load` line), reading the log from `rest`.
pub fn parse<'a>(
    line: &str,
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
    let mut log: Vec<String> = Vec::new();
    let mut in_log = line.contains("BEGIN PROG LOAD LOG");
    let mut ended = !in_log;
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
    }
}
