//! The kernel console as lines: splitting a byte stream (bounded: a guest
//! that never sends a newline cannot grow a line forever), spotting the
//! lines that mean the kernel is in trouble, and keeping the tail.

use std::collections::VecDeque;

/// Longest line kept whole; longer ones are cut into pieces of this size.
pub const MAX_LINE: usize = 4096;

/// Splits bytes into lines, keeping a partial last line for the next push.
/// Line endings (`\n`, `\r\n`) are dropped; invalid UTF-8 is replaced.
#[derive(Debug, Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes, calling `line` for each completed line.
    pub fn push(&mut self, mut bytes: &[u8], line: &mut dyn FnMut(String)) {
        while !bytes.is_empty() {
            match memchr::memchr(b'\n', bytes) {
                Some(i) => {
                    self.append(&bytes[..i], line);
                    line(self.take());
                    bytes = &bytes[i + 1..];
                }
                None => {
                    self.append(bytes, line);
                    bytes = &[];
                }
            }
        }
    }

    /// The partial last line at end of stream, if any.
    pub fn finish(&mut self) -> Option<String> {
        (!self.partial.is_empty()).then(|| self.take())
    }

    fn append(&mut self, mut piece: &[u8], line: &mut dyn FnMut(String)) {
        while self.partial.len() + piece.len() > MAX_LINE {
            let room = MAX_LINE - self.partial.len();
            self.partial.extend_from_slice(&piece[..room]);
            line(self.take());
            piece = &piece[room..];
        }
        self.partial.extend_from_slice(piece);
    }

    fn take(&mut self) -> String {
        let mut bytes = std::mem::take(&mut self.partial);
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }
    }
}

/// A console line that says the kernel is in trouble.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trouble {
    /// `Oops:`, `BUG:`, `kernel BUG at`, `general protection fault`: the
    /// kernel hit a fault; it may go on, or panic next.
    Oops,
    /// `Kernel panic - not syncing`: the kernel stops (and, with `panic=-1`
    /// and `-no-reboot`, QEMU exits).
    Panic,
}

const PANIC: &str = "Kernel panic - not syncing";
const OOPS_PREFIXES: &[&str] = &["Oops:", "BUG:", "kernel BUG at", "general protection fault"];

/// The line without its printk timestamp (`[    3.141592] `).
pub fn strip_timestamp(line: &str) -> &str {
    let t = line.trim_start();
    if let Some(rest) = t.strip_prefix('[') {
        if let Some((stamp, after)) = rest.split_once(']') {
            if stamp
                .trim()
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'.')
            {
                return after.trim_start();
            }
        }
    }
    t
}

/// Whether `line` reports an oops or a panic.
pub fn trouble(line: &str) -> Option<Trouble> {
    let text = strip_timestamp(line);
    if text.starts_with(PANIC) {
        Some(Trouble::Panic)
    } else if OOPS_PREFIXES.iter().any(|p| text.starts_with(p)) {
        Some(Trouble::Oops)
    } else {
        None
    }
}

/// Whether `line` is the panic that ends an oops (`Fatal exception`,
/// `Fatal exception in interrupt`): the kernel faulted before it.
pub fn panics_after_a_fault(line: &str) -> bool {
    strip_timestamp(line)
        .strip_prefix(PANIC)
        .is_some_and(|rest| {
            rest.trim_start_matches(':')
                .trim()
                .starts_with("Fatal exception")
        })
}

/// The last `cap` lines.
#[derive(Debug, Clone)]
pub struct Tail {
    lines: VecDeque<String>,
    cap: usize,
}

impl Tail {
    pub fn new(cap: usize) -> Self {
        Tail {
            lines: VecDeque::with_capacity(cap.min(1024)),
            cap,
        }
    }

    pub fn push(&mut self, line: &str) {
        if self.cap == 0 {
            return;
        }
        if self.lines.len() == self.cap {
            self.lines.pop_front();
        }
        self.lines.push_back(line.to_owned());
    }

    pub fn to_vec(&self) -> Vec<String> {
        self.lines.iter().cloned().collect()
    }
}

/// Collects an oops report: the first trouble line and what follows, up to
/// a bound.
#[derive(Debug, Default)]
pub struct OopsText {
    lines: Vec<String>,
}

impl OopsText {
    const MAX_LINES: usize = 80;

    pub fn push(&mut self, line: &str) {
        if self.lines.len() < Self::MAX_LINES {
            self.lines.push(line.to_owned());
        }
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn text(&self) -> String {
        self.lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> (Vec<String>, Option<String>) {
        let mut s = LineSplitter::new();
        let mut out = Vec::new();
        for c in chunks {
            s.push(c, &mut |l| out.push(l));
        }
        let rest = s.finish();
        (out, rest)
    }

    #[test]
    fn keeps_partial_lines_across_pushes() {
        let (lines, rest) = split(&[b"[ 0.1] a", b"bc\r\n", b"\r\nde", b"f\nxy"]);
        assert_eq!(lines, vec!["[ 0.1] abc", "", "def"]);
        assert_eq!(rest.as_deref(), Some("xy"));
    }

    #[test]
    fn overlong_lines_are_cut_not_grown() {
        let big = vec![b'x'; MAX_LINE * 2 + 10];
        let (lines, rest) = split(&[&big, b"\n"]);
        assert_eq!(lines.len(), 3);
        assert!(lines.iter().all(|l| l.len() <= MAX_LINE));
        assert_eq!(lines[2].len(), 10);
        assert_eq!(rest, None);
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let (lines, _) = split(&[b"a\xffb\n"]);
        assert_eq!(lines, vec!["a\u{fffd}b"]);
    }

    #[test]
    fn spots_oopses_and_panics() {
        // Lines as the 7.3 cloud kernel prints them (boot-flakiness fixture).
        let cases = [
            (
                "[    1.957034] Oops: int3: 0000 [#1] SMP NOPTI",
                Some(Trouble::Oops),
            ),
            (
                "[    1.96] BUG: kernel NULL pointer dereference, address: 0000000000000000",
                Some(Trouble::Oops),
            ),
            (
                "[    2.0] kernel BUG at mm/slub.c:123!",
                Some(Trouble::Oops),
            ),
            (
                "[    2.1] Kernel panic - not syncing: Fatal exception in interrupt",
                Some(Trouble::Panic),
            ),
            (
                "Kernel panic - not syncing: VFS: Unable to mount root fs",
                Some(Trouble::Panic),
            ),
            (
                "[    2.2] ---[ end Kernel panic - not syncing: Fatal exception ]---",
                None,
            ),
            ("[    0.5] Run /init as init process", None),
            ("[    0.5] WARNING: CPU: 0 PID: 1 at kernel/foo.c:1", None),
            ("no BUG: here", None),
        ];
        for (line, want) in cases {
            assert_eq!(trouble(line), want, "{line}");
        }
    }

    #[test]
    fn real_boot_oops_fixture_is_seen() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/fixtures/real-runs/boot-flakiness/int3-oops-boot-failure.console.log"
        );
        let Ok(text) = std::fs::read_to_string(path) else {
            eprintln!("fixture {path} not present; skipped");
            return;
        };
        // Each line starts with the host's seconds since QEMU started.
        let kinds: Vec<Trouble> = text
            .lines()
            .filter_map(|l| trouble(l.trim_start().split_once(' ').map_or(l, |(_, rest)| rest)))
            .collect();
        assert!(kinds.contains(&Trouble::Oops), "{kinds:?}");
        assert!(kinds.contains(&Trouble::Panic), "{kinds:?}");
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let mut t = Tail::new(3);
        for i in 0..10 {
            t.push(&i.to_string());
        }
        assert_eq!(t.to_vec(), vec!["7", "8", "9"]);
    }
}
