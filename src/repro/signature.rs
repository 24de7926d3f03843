//! A crash's signature: what must match for a repro run to count as the same
//! crash (`--repro-runs N` reports "reproduced k/N with the same signature").
//!
//! Three parts: the exit kind, the message with every number generalised
//! (`enqueue #400, pid 119` and `enqueue #401, pid 122` are the same bug),
//! and the innermost BPF program of the backtrace (the scheduler code that
//! raised it; tags differ between loads, names do not).

use std::fmt;

use serde::Serialize;

use crate::report::{Crash, ExitKind, FrameClass};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signature {
    pub kind: ExitKind,
    /// The message with each run of digits (and hex numbers) replaced by `N`.
    pub message: String,
    /// The innermost BPF program of the backtrace.
    pub top_bpf: Option<String>,
}

impl Signature {
    pub fn of(crash: &Crash) -> Signature {
        Signature {
            kind: crash.kind,
            message: generalise(crash.message.as_deref().unwrap_or("")),
            top_bpf: crash.backtrace.iter().find_map(|f| match &f.class {
                FrameClass::BpfProg { name, .. } => Some(name.clone()),
                _ => None,
            }),
        }
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind.label())?;
        if !self.message.is_empty() {
            write!(f, ", \"{}\"", self.message)?;
        }
        if let Some(p) = &self.top_bpf {
            write!(f, ", in {p}")?;
        }
        Ok(())
    }
}

/// Numbers become `N`: decimal runs, and `0x` hex numbers whole.
pub fn generalise(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let b = message.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let word_before = i > 0 && (b[i - 1].is_ascii_alphabetic() || b[i - 1] == b'_');
        if c.is_ascii_digit() && !word_before {
            let hex = c == b'0' && b.get(i + 1) == Some(&b'x');
            i += if hex { 2 } else { 1 };
            while i < b.len() && (b[i].is_ascii_digit() || (hex && b[i].is_ascii_hexdigit())) {
                i += 1;
            }
            out.push('N');
        } else {
            let ch = message[i..].chars().next().unwrap_or('?');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// How many of `runs` match `expected`.
pub fn count_matching<'a>(
    expected: &Signature,
    runs: impl IntoIterator<Item = Option<&'a Signature>>,
) -> usize {
    runs.into_iter().filter(|s| *s == Some(expected)).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Frame;

    #[test]
    fn numbers_are_generalised() {
        assert_eq!(
            generalise("cell 0 has no usable CPU left (enqueue #400, pid 119, comm scx-sleepwake)"),
            "cell N has no usable CPU left (enqueue #N, pid N, comm scx-sleepwake)"
        );
        assert_eq!(generalise("dsq 0x8000000000000002 bad"), "dsq N bad");
        // Digits inside a word are part of a name.
        assert_eq!(generalise("scx_rusty2 cpu7 at 3"), "scx_rusty2 cpu7 at N");
        assert_eq!(generalise("ünïcode 12"), "ünïcode N");
        assert_eq!(generalise(""), "");
    }

    #[test]
    fn same_bug_same_signature() {
        let crash = |msg: &str, tag: &str| Crash {
            kind: ExitKind::ScxBpfError,
            message: Some(msg.into()),
            backtrace: vec![
                Frame {
                    function: "scx_bpf_error_bstr".into(),
                    offset: Some(0x60),
                    size: Some(0xa0),
                    module: None,
                    class: FrameClass::Generic,
                },
                Frame {
                    function: format!("bpf_prog_{tag}_validate_cell"),
                    offset: Some(0x8c),
                    size: Some(0x94),
                    module: None,
                    class: FrameClass::BpfProg {
                        tag: tag.into(),
                        name: "validate_cell".into(),
                    },
                },
            ],
            ..Crash::default()
        };
        let a = Signature::of(&crash("enqueue #400, pid 119", "83b712abb9227355"));
        let b = Signature::of(&crash("enqueue #401, pid 7", "0000000000000001"));
        assert_eq!(a, b);
        assert_eq!(
            a.to_string(),
            "scx_bpf_error (1025), \"enqueue #N, pid N\", in validate_cell"
        );
        let other = Signature::of(&crash("other bug 1", "83b712abb9227355"));
        assert_ne!(a, other);
        assert_eq!(
            count_matching(&a, [Some(&b), None, Some(&other), Some(&a)]),
            2
        );
    }
}
