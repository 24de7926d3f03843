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
            crash.causes.push(without_index(c).to_string());
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

/// anyhow numbers the causes (`0: ...`) only when there are several.
pub(super) fn without_index(cause: &str) -> &str {
    match cause.split_once(": ") {
        Some((n, rest)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => rest,
        _ => cause,
    }
}

/// What the errno a bail ends in usually means for a sched_ext scheduler:
/// Rust prints only `Unknown error 524 (os error 524)`, which says nothing.
pub fn errno_notes(crash: &Crash) -> Vec<String> {
    let mut seen = Vec::new();
    let texts = crash.message.iter().chain(&crash.causes);
    for n in texts.flat_map(|t| errnos(t)) {
        if !seen.contains(&n) {
            seen.push(n);
        }
    }
    seen.into_iter()
        .filter_map(|n| explain(n).map(|e| format!("error {n} is {e}")))
        .collect()
}

/// Numbers in `(os error N)`, `Unknown error N` and libbpf's `: -N`, and
/// the names libbpf spells out (`-ENOTSUPP`).
fn errnos(text: &str) -> impl Iterator<Item = u32> + '_ {
    let numbers = ["os error ", "Unknown error ", ": -"]
        .into_iter()
        .flat_map(move |tag| {
            text.match_indices(tag).filter_map(move |(at, _)| {
                let digits = &text[at + tag.len()..];
                let end = digits
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(digits.len());
                digits[..end].parse().ok()
            })
        });
    let names = NAMES.iter().filter_map(move |(name, n)| {
        text.match_indices(name)
            .any(|(at, _)| {
                let after = text[at + name.len()..].chars().next();
                !after.is_some_and(|c| c.is_ascii_alphanumeric())
            })
            .then_some(*n)
    });
    numbers.chain(names)
}

const NAMES: [(&str, u32); 5] = [
    ("-EPERM", 1),
    ("-ENOENT", 2),
    ("-EBUSY", 16),
    ("-EINVAL", 22),
    ("-ENOTSUPP", 524),
];

fn explain(errno: u32) -> Option<&'static str> {
    Some(match errno {
        1 => "EPERM: not permitted; run the scheduler as root (it needs CAP_BPF and CAP_SYS_ADMIN)",
        2 => {
            "ENOENT: something the scheduler looks up is missing from this kernel \
              (a kfunc, a BTF type, a map or a program); was it built for another kernel?"
        }
        16 => {
            "EBUSY: another sched_ext scheduler is already loaded \
               (see /sys/kernel/sched_ext/root/ops); stop it first"
        }
        22 => {
            "EINVAL: the kernel rejected an argument, often a struct_ops field or flag \
               this kernel does not know (scheduler built for a newer kernel)"
        }
        524 => {
            "ENOTSUPP: the kernel cannot do what was asked, e.g. no BPF JIT \
                (CONFIG_BPF_JIT, net.core.bpf_jit_enable) or no BPF struct_ops/trampoline \
                support on this kernel or architecture"
        }
        _ => return None,
    })
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
        assert_eq!(
            c.causes,
            ["bpf_link_create", "Device or resource busy (os error 16)"]
        );
        assert!(c.ops_dump.is_empty());
        assert_eq!(last, Some(3));
        assert!(!c.kernel_exit);
    }

    #[test]
    fn libbpf_load_chain_explains_enotsupp() {
        let text =
            "Error: Failed to load BPF program\n\nCaused by:\n    Unknown error 524 (os error 524)";
        let mut lines = text.lines();
        let first = lines.next().unwrap();
        let (c, _) = parse(first, lines.enumerate().map(|(i, l)| (i, Cow::Borrowed(l)))).unwrap();
        assert_eq!(c.message.as_deref(), Some("Failed to load BPF program"));
        assert_eq!(c.causes, ["Unknown error 524 (os error 524)"]);
        let notes = errno_notes(&c);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].starts_with("error 524 is ENOTSUPP"), "{notes:?}");
    }
}
