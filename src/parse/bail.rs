//! The scheduler's userspace giving up without a kernel exit: an anyhow
//! `Error: ...` chain or a Rust panic. Reported as such so that no
//! `expect_scx_bpf_error_*` pin is built on them.

use std::borrow::Cow;

use crate::report::{Crash, MessageFormat};

/// Parses a bail at `line`; `Caused by:` chains are kept as context lines.
pub fn parse<'a>(
    line: &str,
    rest: impl Iterator<Item = (usize, Cow<'a, str>)>,
) -> Option<(Crash, Option<usize>)> {
    let t = line.trim();
    let (reason, message) = if let Some(m) = t.strip_prefix("Error: ") {
        ("userspace error", m.trim())
    } else if let Some(at) = t.find("panicked at") {
        ("userspace panic", t[at..].trim())
    } else {
        return None;
    };
    let mut crash = Crash {
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
        formats: vec![MessageFormat::UserspaceBail],
        kernel_exit: false,
        ..Crash::default()
    };
    let mut last = None;
    let mut in_chain = false;
    for (tag, content) in rest.take(64) {
        let c = content.trim();
        if c == "Caused by:" {
            in_chain = true;
        } else if in_chain && !c.is_empty() && content.starts_with(char::is_whitespace) {
            crash.ops_dump.push(c.to_string());
        } else if c.is_empty() && !in_chain {
            continue;
        } else if reason == "userspace panic"
            && crash.ops_dump.is_empty()
            && !c.is_empty()
            && !c.starts_with("note:")
        {
            // The panic payload follows `panicked at file:line:col:` on its own line.
            crash.message = Some(format!("{message} {c}"));
            last = Some(tag);
            break;
        } else {
            break;
        }
        last = Some(tag);
    }
    Some((crash, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anyhow_chain() {
        let text = "Error: failed to attach struct_ops\n\nCaused by:\n    0: bpf_link_create\n    1: Device or resource busy (os error 16)\nnext";
        let mut lines = text.lines();
        let first = lines.next().unwrap();
        let (c, last) =
            parse(first, lines.enumerate().map(|(i, l)| (i, Cow::Borrowed(l)))).unwrap();
        assert_eq!(c.message.as_deref(), Some("failed to attach struct_ops"));
        assert_eq!(c.ops_dump.len(), 2);
        assert_eq!(last, Some(3));
        assert!(!c.kernel_exit);
    }
}
