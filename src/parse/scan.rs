//! Finds crashes in one body of text.
//!
//! A multi-gigabyte scheduler log holds one dump at most a few hundred lines
//! long, so the body is not walked line by line: one Aho-Corasick pass finds
//! anchor words, and only the lines around each anchor are parsed.

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, MatchKind};

use crate::report::{Crash, MessageFormat};

use super::prefix::{self, LineSource, Stripped};
use super::{bail, dump, enable, exit_line, kernel_log, oops, verifier};

/// A crash found in a body, with its byte span.
pub struct Found {
    pub crash: Crash,
    pub start: usize,
    pub end: usize,
    pub notes: Vec<String>,
}

#[derive(Clone, Copy)]
enum Anchor {
    Dump,
    KernelLog,
    TraceExit,
    Uei,
    Oops,
    EnableFailed,
    VerifierLog,
    LoadFailed,
    Error,
    Panic,
}

const ANCHORS: &[(&str, Anchor)] = &[
    (" triggered exit kind ", Anchor::Dump),
    ("BPF scheduler \"", Anchor::KernelLog),
    ("sched_ext_exit:", Anchor::TraceExit),
    ("EXIT: ", Anchor::Uei),
    ("Sched_ext: ", Anchor::Oops),
    ("() failed (", Anchor::EnableFailed),
    ("BEGIN PROG LOAD LOG", Anchor::VerifierLog),
    ("load failed", Anchor::LoadFailed),
    ("failed to load", Anchor::LoadFailed),
    ("Error: ", Anchor::Error),
    ("panicked at", Anchor::Panic),
];

fn finder() -> &'static AhoCorasick {
    static AC: OnceLock<AhoCorasick> = OnceLock::new();
    AC.get_or_init(|| {
        AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostFirst)
            .build(ANCHORS.iter().map(|(p, _)| p))
            .expect("static anchor patterns")
    })
}

/// Options for one body.
#[derive(Clone, Copy, Default)]
pub struct ScanOptions {
    /// Ignore `sched_ext_dump:` lines: the report has a dump section that holds them.
    pub skip_trace_dump: bool,
}

/// `[start, end)` of the line containing `pos`, without its `\n`.
fn line_at(text: &str, pos: usize) -> (usize, usize) {
    let b = text.as_bytes();
    let start = memchr::memrchr(b'\n', &b[..pos]).map_or(0, |i| i + 1);
    let end = memchr::memchr(b'\n', &b[pos..]).map_or(b.len(), |i| pos + i);
    (start, end)
}

/// Lines after the one ending at `end`: (end offset of the line, stripped content).
fn lines_after(text: &str, end: usize) -> impl Iterator<Item = (usize, Stripped<'_>)> + '_ {
    let mut pos = end;
    std::iter::from_fn(move || {
        if pos >= text.len() {
            return None;
        }
        let start = pos + 1;
        if start > text.len() {
            return None;
        }
        let stop =
            memchr::memchr(b'\n', &text.as_bytes()[start..]).map_or(text.len(), |i| start + i);
        if stop - start > MAX_CRASH_LINE {
            // No crash runs on into a flood: it ends above the over-long line.
            pos = text.len();
            return None;
        }
        pos = stop;
        Some((stop, prefix::strip(&text[start..stop])))
    })
}

/// Lines before the one starting at `start`, nearest first: (start offset, stripped content).
fn lines_before(text: &str, start: usize) -> impl Iterator<Item = (usize, Stripped<'_>)> + '_ {
    let mut pos = start;
    std::iter::from_fn(move || {
        if pos == 0 {
            return None;
        }
        let end = pos - 1;
        let s = memchr::memrchr(b'\n', &text.as_bytes()[..end]).map_or(0, |i| i + 1);
        if end - s > MAX_CRASH_LINE {
            pos = 0;
            return None;
        }
        pos = s;
        Some((s, prefix::strip(&text[s..end])))
    })
}

/// The longest line read as the start of a crash. A kernel log record holds
/// at most 1024 bytes of text (printk's limit, as is an exit message's
/// buffer), and its prefixes (timestamp, journal fields, trace header) add a
/// few hundred more; a longer line is a flood of garbage that happens to
/// contain an anchor word (`sched_ext: ` then 64 KiB of noise), not a crash.
pub const MAX_CRASH_LINE: usize = 4096;

/// Scans `text` and hands every crash found to `on_found`, in text order, as
/// it is found (no vector of every crash of a huge log beside the report's own).
pub fn scan_each(text: &str, opts: ScanOptions, mut on_found: impl FnMut(Found)) {
    let mut consumed = 0usize;
    // The end of the last over-long line: its other anchors are skipped
    // without looking for its start again (a 200 MB line would be quadratic).
    let mut long_until = 0usize;
    for m in finder().find_iter(text) {
        if m.start() < consumed || m.start() < long_until {
            continue;
        }
        let (start, end) = line_at(text, m.start());
        if start < consumed {
            continue;
        }
        if end - start > MAX_CRASH_LINE {
            long_until = end;
            continue;
        }
        let line = prefix::strip(&text[start..end]);
        let is_trace_dump = line.source == LineSource::TraceDump;
        if is_trace_dump && opts.skip_trace_dump {
            continue;
        }
        let content = line.content.as_ref();
        let anchor = ANCHORS[m.pattern().as_usize()].1;
        let result = match anchor {
            Anchor::Dump => scan_dump(text, start, end, content, is_trace_dump),
            Anchor::KernelLog => {
                if !content.trim_start().starts_with("sched_ext: ") {
                    None
                } else {
                    let rest = lines_after(text, end).map(|(e, s)| (e, s.content));
                    kernel_log::parse(content, rest).map(|(crash, last)| Found {
                        crash,
                        start,
                        end: last.unwrap_or(end),
                        notes: Vec::new(),
                    })
                }
            }
            Anchor::TraceExit => exit_line::parse_trace_exit(content).map(|crash| Found {
                crash,
                start,
                end,
                notes: Vec::new(),
            }),
            Anchor::Uei => exit_line::parse_uei(content).map(|crash| Found {
                crash,
                start,
                end,
                notes: Vec::new(),
            }),
            Anchor::Oops => Some(scan_oops(text, start, end, content)),
            Anchor::EnableFailed => scan_enable(text, start, end, content),
            Anchor::VerifierLog | Anchor::LoadFailed => {
                scan_verifier(text, consumed, start, end, content)
            }
            Anchor::Error | Anchor::Panic => {
                let t = content.trim_start();
                let log_above = matches!(anchor, Anchor::Error)
                    .then(|| log_above(text, consumed, start))
                    .flatten();
                if let Some((log_start, log)) = log_above {
                    // A loader's error right below a verifier log pasted without libbpf's lines.
                    Some(verifier_after_log(text, log_start, end, t, log))
                } else if t.contains("EXIT: ") {
                    exit_line::parse_uei(t).map(|crash| Found {
                        crash,
                        start,
                        end,
                        notes: Vec::new(),
                    })
                } else if matches!(anchor, Anchor::Error) && !t.starts_with("Error: ") {
                    None
                } else {
                    let rest = lines_after(text, end).map(|(e, s)| (e, s.content));
                    bail::parse(t, rest).map(|(crash, last)| Found {
                        notes: bail::errno_notes(&crash),
                        crash,
                        start,
                        end: last.unwrap_or(end),
                    })
                }
            }
        };
        if let Some(f) = result {
            consumed = f.end.max(end);
            on_found(f);
        }
    }
}

fn scan_dump(text: &str, start: usize, end: usize, content: &str, trace: bool) -> Option<Found> {
    dump::parse_header(content)?;
    // `DEBUG DUMP`, the banner and the `<sched>: root` line open the dump.
    let mut first = start;
    let mut scheduler = None;
    for (s, l) in lines_before(text, start).take(4) {
        if trace && l.source != LineSource::TraceDump {
            continue;
        }
        let t = l.content.trim();
        if let Some((name, scope)) = t.split_once(": ") {
            if scheduler.is_none()
                && !name.contains(' ')
                && (scope == "root" || scope.starts_with('/'))
            {
                scheduler = Some(name.to_string());
                first = s;
                continue;
            }
        }
        if t == "DEBUG DUMP" || t.starts_with("====") {
            first = s;
        } else if !t.is_empty() {
            break;
        }
    }
    // A trace dump may be interleaved with other console lines: read only dump lines.
    let rest = lines_after(text, end)
        .filter(move |(_, s)| !trace || s.source == LineSource::TraceDump)
        .map(|(e, s)| (e, s.content));
    let parsed = dump::parse_dump(content, rest)?;
    let mut crash = parsed.crash;
    crash.scheduler = scheduler;
    crash.formats.push(if trace {
        MessageFormat::TraceDump
    } else {
        MessageFormat::DebugDump
    });
    Some(Found {
        crash,
        start: first,
        end: parsed.last_tag.unwrap_or(end),
        notes: parsed.notes,
    })
}

fn scan_oops(text: &str, start: usize, end: usize, content: &str) -> Found {
    let before = oops::read_before(lines_before(text, start).map(|(_, l)| l.content));
    // The crash starts at the oops head when one is within reach.
    let first = lines_before(text, start)
        .take(80)
        .find(|(_, l)| before.head.as_deref() == Some(l.content.trim()))
        .map_or(start, |(s, _)| s);
    let rest = lines_after(text, end).map(|(e, s)| (e, s.content));
    let (crash, last) = oops::parse(content, before, rest);
    Found {
        crash,
        start: first,
        end: last.unwrap_or(end),
        notes: Vec::new(),
    }
}

/// How far after an enable failure (and its splat) the scheduler's exit
/// announcement is still read into the same crash, in lines.
const ENABLE_EXIT_REACH: usize = 12;

/// An enable failure (`ops.init_task() failed (-12) for comm[pid]`), the
/// warning splat right after it (its frames are the backtrace) and the
/// scheduler's exit announcement that follows (kind, name, message).
fn scan_enable(text: &str, start: usize, end: usize, content: &str) -> Option<Found> {
    let mut crash = enable::parse_line(content)?;
    let mut last = end;
    let after: Vec<(usize, Stripped<'_>)> = lines_after(text, end).take(400).collect();
    let contents: Vec<&str> = after.iter().map(|(_, s)| s.content.as_ref()).collect();
    // The splat starts on the next line, or after a line or two of other output.
    let mut next = 0;
    let mut notes = Vec::new();
    for k in 0..contents.len().min(3) {
        if let Some(splat) = oops::read_splat(&contents[k..]) {
            notes.push(format!(
                "the enable failure is followed by a kernel splat: {}",
                splat.head
            ));
            crash.backtrace = splat.frames;
            crash.scheduler = crash.scheduler.or(splat.scheduler);
            last = after[k + splat.last].0;
            next = k + splat.last + 1;
            break;
        }
    }
    for k in next..contents.len().min(next + ENABLE_EXIT_REACH) {
        let t = contents[k].trim_start();
        if enable::parse_line(t).is_some() || oops::is_oops_head(t) {
            break;
        }
        if !(t.starts_with("sched_ext: ") && t.contains("BPF scheduler \"")) {
            continue;
        }
        let rest = after[k + 1..]
            .iter()
            .map(|(e, s)| (*e, std::borrow::Cow::Borrowed(s.content.as_ref())));
        let Some((exit, exit_last)) = kernel_log::parse(t, rest) else {
            break;
        };
        if crash.scheduler.is_some() && crash.scheduler != exit.scheduler {
            break;
        }
        crash.kind = exit.kind;
        crash.scheduler = exit.scheduler;
        crash.formats.extend(exit.formats);
        if let Some(m) = exit.message.filter(|m| {
            crash
                .message
                .as_deref()
                .is_none_or(|own| !own.contains(m.as_str()))
        }) {
            // What the scheduler's exit says beyond the failure (its own
            // scx_bpf_error() message, say), in the kernel's words.
            let r = exit.reason.as_deref().unwrap_or("exit");
            crash.causes.push(format!("{r} ({m})"));
        }
        if crash.backtrace.is_empty() {
            crash.backtrace = exit.backtrace;
        }
        last = exit_last.unwrap_or(after[k].0);
        break;
    }
    Some(Found {
        crash,
        start,
        end: last,
        notes,
    })
}

/// A verifier log without its `-- BEGIN PROG LOAD LOG --` ending just above
/// the line at `start`, not reaching above `floor` (text already claimed).
fn log_above(text: &str, floor: usize, start: usize) -> Option<(usize, Vec<String>)> {
    let above = lines_before(text, start)
        .take_while(|(s, _)| *s >= floor)
        .map(|(s, l)| (s, l.content));
    verifier::log_before(above)
}

/// A rejection read from a log above the line `content` (ending at `end`).
fn verifier_after_log(
    text: &str,
    log_start: usize,
    end: usize,
    content: &str,
    log: Vec<String>,
) -> Found {
    let rest = lines_after(text, end).map(|(e, s)| (e, s.content));
    let (crash, last, note) = verifier::parse_after_log(content.trim(), log, rest);
    let mut notes: Vec<String> = note.into_iter().collect();
    notes.extend(bail::errno_notes(&crash));
    Found {
        crash,
        start: log_start,
        end: last.unwrap_or(end),
        notes,
    }
}

fn scan_verifier(
    text: &str,
    floor: usize,
    start: usize,
    end: usize,
    content: &str,
) -> Option<Found> {
    let t = content.trim();
    let has_log = t.contains("BEGIN PROG LOAD LOG")
        || lines_after(text, end)
            .take(3)
            .any(|(_, s)| s.content.contains("BEGIN PROG LOAD LOG"));
    if !has_log {
        if let Some((log_start, log)) = log_above(text, floor, start) {
            return Some(verifier_after_log(text, log_start, end, t, log));
        }
        // A program the kernel refused without a log is still a rejection;
        // anything else that failed to load (an object, a skeleton) is a bail.
        if t.contains("prog '") {
            // fall through to the verifier parser
        } else if t.contains("libbpf")
            || t.contains("BPF")
            || t.contains("bpf")
            || t.contains("skeleton")
        {
            return Some(load_bail(text, start, end, t));
        } else {
            return None;
        }
    }
    let rest = lines_after(text, end).map(|(e, s)| (e, s.content));
    let (crash, last, note) = verifier::parse(t, rest);
    let mut notes: Vec<String> = note.into_iter().collect();
    notes.extend(bail::errno_notes(&crash));
    Some(Found {
        crash,
        start,
        end: last.unwrap_or(end),
        notes,
    })
}

/// `libbpf: failed to load object 'x'` and the loader's own last word
/// (`x: failed to open skeleton: ...`), as a userspace bail.
fn load_bail(text: &str, start: usize, end: usize, line: &str) -> Found {
    let mut message = line.to_string();
    let mut last = end;
    for (e, l) in lines_after(text, end).take(3) {
        let c = l.content.trim();
        if c.contains("failed to") || c.starts_with("Error: ") {
            message = c.strip_prefix("Error: ").unwrap_or(c).to_string();
            last = e;
        }
    }
    let crash = Crash {
        reason: Some("BPF object failed to load".to_string()),
        message: Some(message),
        formats: vec![MessageFormat::UserspaceBail],
        kernel_exit: false,
        ..Crash::default()
    };
    Found {
        crash,
        start,
        end: last,
        notes: Vec::new(),
    }
}
