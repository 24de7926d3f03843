//! Test-runner output without ktstr's `--- section ---` layout, as ktstr's
//! predecessor ("stt") printed it straight into the log:
//!
//! ```text
//! PASS sched_basic/wake_chain (12.0s)
//! ...guest console, scheduler output...
//! --- probe pipeline ---
//!   extracted:   9 functions from crash backtrace
//!   ...
//!
//! === AUTO-PROBE: scx_exit fired ===
//!
//!   do_enqueue_task                                               kernel/sched/ext.c:1344
//!     rq *rq
//!       cpu         1
//!
//! repro VM duration: 16.9s
//! FAIL sched_basic/stress_llc (57.3s)
//! ```
//!
//! The `FAIL` line names the test of the report; the AUTO-PROBE block (with
//! the pipeline block above it and the repro VM's lines below it) is the
//! auto-repro section, not console text: the repro VM's crash is not the
//! report's.

use std::ops::Range;

use super::prefix::strip_ansi;

/// One `PASS`/`FAIL` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Byte offset of the line in the text.
    pub at: usize,
    pub failed: bool,
    /// `sched_basic/stress_llc`.
    pub name: String,
}

/// `FAIL <name> (<seconds>s)` (stt) or `FAIL [ <seconds>s] <name>` (nextest),
/// `PASS` alike, after any indent.
fn verdict(line: &str) -> Option<(bool, String)> {
    let t = strip_ansi(line);
    let t = t.trim();
    let (failed, rest) = if let Some(r) = t.strip_prefix("FAIL ") {
        (true, r.trim_start())
    } else if let Some(r) = t.strip_prefix("PASS ") {
        (false, r.trim_start())
    } else {
        return None;
    };
    let is_secs = |s: &str| {
        s.strip_suffix('s').is_some_and(|n| {
            let n = n.trim();
            !n.is_empty() && n.contains('.') && n.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        })
    };
    if let Some(r) = rest.strip_prefix('[') {
        // nextest: `FAIL [   3.456s] crate::tests name`
        let (secs, name) = r.split_once(']')?;
        let name = name.trim();
        return (is_secs(secs) && !name.is_empty()).then(|| (failed, name.to_string()));
    }
    let (name, tail) = rest.split_once(' ')?;
    let secs = tail.trim().strip_prefix('(')?.strip_suffix(')')?;
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-/.:[]=".contains(c));
    (name_ok && is_secs(secs)).then(|| (failed, name.to_string()))
}

/// Every `PASS`/`FAIL` line of `text`, in order.
pub fn verdicts(text: &str) -> Vec<Verdict> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let hits = memchr::memmem::find_iter(bytes, b"FAIL ")
        .chain(memchr::memmem::find_iter(bytes, b"PASS "));
    let mut starts: Vec<usize> = hits
        .map(|i| memchr::memrchr(b'\n', &bytes[..i]).map_or(0, |p| p + 1))
        .collect();
    starts.sort_unstable();
    starts.dedup();
    for at in starts {
        let end = memchr::memchr(b'\n', &bytes[at..]).map_or(text.len(), |p| at + p);
        if let Some((failed, name)) = verdict(&text[at..end]) {
            out.push(Verdict { at, failed, name });
        }
    }
    out
}

/// The failed test a report is about: the first `FAIL` at or after the
/// crash (a runner prints its verdict after the test's output), else the
/// last one before it; without a crash, the first `FAIL`.
pub fn failed_test(verdicts: &[Verdict], crash_at: Option<usize>) -> Option<&str> {
    let mut failed = verdicts.iter().filter(|v| v.failed);
    let v = match crash_at {
        Some(at) => verdicts
            .iter()
            .find(|v| v.failed && v.at >= at)
            .or_else(|| verdicts.iter().rev().find(|v| v.failed)),
        None => failed.next(),
    };
    v.map(|v| v.name.as_str())
}

/// The line of `text` that starts at `start`, without its `\n`.
fn line_from(text: &str, start: usize) -> Range<usize> {
    let end = memchr::memchr(b'\n', &text.as_bytes()[start..]).map_or(text.len(), |p| start + p);
    start..end
}

/// The line after `line`, if any.
fn next_line(text: &str, line: &Range<usize>) -> Option<Range<usize>> {
    (line.end < text.len()).then(|| line_from(text, line.end + 1))
}

/// The line before `line`, if any.
fn prev_line(text: &str, line: &Range<usize>) -> Option<Range<usize>> {
    let end = line.start.checked_sub(1)?;
    let start = memchr::memrchr(b'\n', &text.as_bytes()[..end]).map_or(0, |p| p + 1);
    Some(start..end)
}

fn indent_of(l: &str) -> usize {
    l.len() - l.trim_start().len()
}

fn is_auto_probe_header(t: &str) -> bool {
    t.starts_with("=== AUTO-PROBE") && t.ends_with("===")
}

fn is_tail_header(t: &str) -> bool {
    t.starts_with("--- repro VM ") && t.ends_with(" ---")
}

/// What ktstr prints after the probe data inside its auto-repro section.
fn continues_block(t: &str) -> bool {
    is_tail_header(t) || t.starts_with("repro VM duration:") || t.starts_with("repro VM: ")
}

/// Byte ranges of the AUTO-PROBE blocks of a log: from the `--- probe
/// pipeline ---` block above the header (when there is one), through the
/// indented listing, to the `repro VM duration:` line and `--- repro VM ...
/// ---` tails that follow it. Only the lines around each header are read.
pub fn auto_probe_blocks(text: &str) -> Vec<Range<usize>> {
    let mut blocks: Vec<Range<usize>> = Vec::new();
    for hit in memchr::memmem::find_iter(text.as_bytes(), b"=== AUTO-PROBE") {
        if blocks.last().is_some_and(|b| hit < b.end) {
            continue;
        }
        let start = memchr::memrchr(b'\n', &text.as_bytes()[..hit]).map_or(0, |p| p + 1);
        let header = line_from(text, start);
        let l = &text[header.clone()];
        if !is_auto_probe_header(l.trim()) {
            continue;
        }
        let indent = indent_of(l);
        let floor = blocks.last().map_or(0, |b| b.end);
        // The pipeline block above: its stage lines, then its header.
        let mut first = header.clone();
        let mut k = header.clone();
        if let Some(p) = prev_line(text, &k).filter(|p| text[p.clone()].trim().is_empty()) {
            k = p;
        }
        while let Some(p) = prev_line(text, &k) {
            let pl = &text[p.clone()];
            if pl.trim().is_empty() || indent_of(pl) <= indent {
                break;
            }
            k = p;
        }
        if let Some(p) = prev_line(text, &k) {
            if text[p.clone()].trim() == "--- probe pipeline ---" && p.start >= floor {
                first = p;
            }
        }
        // The listing, then what ktstr prints after it.
        let mut last = header.clone();
        let mut in_tail = false;
        let mut cur = next_line(text, &header);
        while let Some(line) = cur {
            let l = &text[line.clone()];
            let t = l.trim();
            if t.is_empty() {
                if in_tail {
                    // A tail runs to a blank line; another part may follow it.
                    let mut n = next_line(text, &line);
                    while let Some(x) = n.clone().filter(|x| text[x.clone()].trim().is_empty()) {
                        n = next_line(text, &x);
                    }
                    match n {
                        Some(x) if continues_block(text[x.clone()].trim()) => {
                            cur = Some(x);
                            continue;
                        }
                        _ => break,
                    }
                }
                cur = next_line(text, &line);
                continue;
            }
            if in_tail || indent_of(l) > indent || continues_block(t) {
                in_tail |= is_tail_header(t);
                cur = next_line(text, &line);
                last = line;
                continue;
            }
            break;
        }
        blocks.push(first.start..last.end);
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_lines() {
        assert_eq!(
            verdict("FAIL sched_basic/stress_llc (57.3s)"),
            Some((true, "sched_basic/stress_llc".into()))
        );
        assert_eq!(
            verdict("  PASS sched_basic/wake_chain (12.0s)"),
            Some((false, "sched_basic/wake_chain".into()))
        );
        assert_eq!(
            verdict("        FAIL [   4.012s] scx_tests::basic smoke"),
            Some((true, "scx_tests::basic smoke".into()))
        );
        assert_eq!(
            verdict("\u{1b}[31mFAIL\u{1b}[0m cgroup/churn (3.1s)"),
            Some((true, "cgroup/churn".into()))
        );
        assert_eq!(verdict("FAIL to open /sys/kernel/sched_ext (ENOENT)"), None);
        assert_eq!(verdict("FAIL: something"), None);
        assert_eq!(verdict("PASS x (fast)"), None);
    }

    #[test]
    fn the_fail_after_the_crash_names_the_test() {
        let text = "FAIL a/one (1.0s)\nPASS a/two (1.0s)\ncrash here\nFAIL a/three (2.0s)\nFAIL a/four (2.0s)\n";
        let v = verdicts(text);
        assert_eq!(v.len(), 4);
        let crash = text.find("crash").unwrap();
        assert_eq!(failed_test(&v, Some(crash)), Some("a/three"));
        assert_eq!(failed_test(&v, Some(text.len())), Some("a/four"));
        assert_eq!(failed_test(&v, None), Some("a/one"));
        assert_eq!(failed_test(&v[1..2], None), None);
    }

    #[test]
    fn auto_probe_block_with_pipeline_and_tails() {
        let text = "\
console line
--- probe pipeline ---
  extracted:   9 functions from crash backtrace
  events:      125 captured, 8 after stitch

=== AUTO-PROBE: scx_exit fired ===

  do_enqueue_task                                               kernel/sched/ext.c:1344
    rq *rq
      cpu         1

repro VM duration: 16.9s

--- repro VM dmesg ---
[    5.621706] sched_ext: BPF scheduler \"crashfifo\" disabled (scx_bpf_error)
[    5.621772] sched_ext: crashfifo: boom

FAIL sched_basic/stress_llc (57.3s)
after";
        let b = auto_probe_blocks(text);
        assert_eq!(b.len(), 1);
        let block = &text[b[0].clone()];
        assert!(block.starts_with("--- probe pipeline ---"), "{block}");
        assert!(block.ends_with("sched_ext: crashfifo: boom"), "{block}");
        // Without pipeline and tails: the listing alone.
        let text = "x\n=== AUTO-PROBE: scx_exit fired ===\n\n  f  a.c:1\n      pid  7\nnext line\n";
        let b = auto_probe_blocks(text);
        assert_eq!(
            &text[b[0].clone()],
            "=== AUTO-PROBE: scx_exit fired ===\n\n  f  a.c:1\n      pid  7"
        );
        assert!(auto_probe_blocks("no block\n").is_empty());
    }
}
