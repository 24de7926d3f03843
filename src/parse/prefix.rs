//! Strips what log collectors put in front of a message: dmesg timestamps,
//! journal headers, ftrace `sched_ext_dump:` prefixes, printk levels, ANSI colour.

use std::borrow::Cow;

/// Where a line came from, judged by its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineSource {
    Plain,
    /// `[  123.456789] ` or `[Fri Nov 27 07:00:01 2026] `.
    Dmesg,
    /// `Nov 27 07:00:01 host kernel: ` in any month language, or ISO time.
    Journal,
    /// ftrace `sched_ext_dump:` line; the content is the dump line.
    TraceDump,
    /// Another ftrace line (`sched_ext_exit:`, `sched_ext_event:`, ...), kept whole.
    Trace,
}

/// A line with its prefix removed.
#[derive(Debug, Clone)]
pub struct Stripped<'a> {
    pub source: LineSource,
    pub content: Cow<'a, str>,
}

/// Removes ANSI CSI sequences (`ESC [ ... letter`).
pub fn strip_ansi(s: &str) -> Cow<'_, str> {
    if !s.contains('\x1b') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else if c != '\x1b' {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Strips every known prefix from one line (without its `\n`).
pub fn strip(line: &str) -> Stripped<'_> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.contains('\x1b') {
        let owned = strip_ansi(line).into_owned();
        let s = strip_borrowed(&owned);
        let (source, start) = (s.source, owned.len() - s.content.len());
        return Stripped {
            source,
            content: Cow::Owned(owned[start..].to_string()),
        };
    }
    strip_borrowed(line)
}

fn strip_borrowed(line: &str) -> Stripped<'_> {
    if let Some(i) = line.find("sched_ext_dump:") {
        let rest = &line[i + "sched_ext_dump:".len()..];
        return Stripped {
            source: LineSource::TraceDump,
            content: Cow::Borrowed(rest.strip_prefix(' ').unwrap_or(rest)),
        };
    }
    let mut s = line;
    let mut source = LineSource::Plain;
    // A host-side timestamp column some capture tools add (`   4.264 [    3.17] ...`).
    if let Some(rest) = strip_float_column(s) {
        s = rest;
    }
    if let Some(rest) = strip_journal(s) {
        s = rest;
        source = LineSource::Journal;
    }
    if let Some(rest) = strip_printk_level(s) {
        s = rest;
    }
    if let Some(rest) = strip_dmesg_time(s) {
        s = rest;
        if source == LineSource::Plain {
            source = LineSource::Dmesg;
        }
    }
    if source == LineSource::Plain && is_trace_line(s) {
        source = LineSource::Trace;
    }
    Stripped {
        source,
        content: Cow::Borrowed(s),
    }
}

/// `   4.264 ` (seconds with a fraction, then blanks).
fn strip_float_column(s: &str) -> Option<&str> {
    let t = s.trim_start();
    let end = t.find(' ')?;
    let (num, rest) = t.split_at(end);
    let (a, b) = num.split_once('.')?;
    // Seconds with at least millisecond precision: `2.5 ms` in a log line is not a timestamp.
    if a.is_empty()
        || a.len() > 7
        || b.len() < 3
        || !a.bytes().all(|c| c.is_ascii_digit())
        || !b.bytes().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    Some(rest.strip_prefix(' ').unwrap_or(rest))
}

/// `<6>` printk level.
fn strip_printk_level(s: &str) -> Option<&str> {
    let rest = s.strip_prefix('<')?;
    let end = rest.find('>')?;
    if end == 0 || end > 2 || !rest[..end].bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(&rest[end + 1..])
}

/// `[  123.456789] ` or `[Fri Nov 27 07:00:01 2026] `, and dmesg -x's `kern  :err   : `.
fn strip_dmesg_time(s: &str) -> Option<&str> {
    let mut s = s;
    if let Some(rest) = strip_dmesg_facility(s) {
        s = rest;
    }
    let inner_end = s.strip_prefix('[')?.find(']')? + 1;
    let inner = s[1..inner_end].trim();
    let numeric = inner.split_once('.').is_some_and(|(a, b)| {
        !a.is_empty()
            && a.bytes().all(|c| c.is_ascii_digit())
            && b.bytes().all(|c| c.is_ascii_digit())
    });
    // `dmesg -T`: a weekday, a month, a day, a time and a year.
    let human = inner.split_whitespace().count() == 5 && inner.contains(':');
    if !(numeric || human) {
        return None;
    }
    let rest = &s[inner_end + 1..];
    Some(rest.strip_prefix(' ').unwrap_or(rest))
}

fn strip_dmesg_facility(s: &str) -> Option<&str> {
    let (fac, rest) = s.split_once(':')?;
    let (lvl, rest) = rest.split_once(':')?;
    let fac_ok = ["kern", "user", "daemon", "syslog"].contains(&fac.trim());
    let lvl_ok = [
        "emerg", "alert", "crit", "err", "warn", "notice", "info", "debug",
    ]
    .contains(&lvl.trim());
    (fac_ok && lvl_ok).then(|| rest.trim_start())
}

/// `Nov 27 07:00:01 host ident[pid]: ` (month in any language, optional
/// fraction), or `2026-11-27T07:00:01+0000 host ident: `.
fn strip_journal(s: &str) -> Option<&str> {
    let mut it = s.splitn(2, ' ');
    let first = it.next()?;
    let mut rest = it.next()?;
    if is_iso_time(first) {
        // ok: ISO timestamp is one token
    } else {
        // month token: letters (any script) and an optional trailing dot
        let month = first.trim_end_matches('.');
        if month.is_empty() || month.chars().count() > 5 || !month.chars().all(char::is_alphabetic)
        {
            return None;
        }
        rest = rest.trim_start();
        let (day, r) = rest.split_once(' ')?;
        if day.is_empty() || day.len() > 2 || !day.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let (time, r) = r.split_once(' ')?;
        if !is_clock(time) {
            return None;
        }
        rest = r;
    }
    let (_host, r) = rest.split_once(' ')?;
    let (ident, r) = r
        .split_once(": ")
        .or_else(|| r.strip_suffix(':').map(|i| (i, "")))?;
    if ident.is_empty() || ident.contains(' ') {
        return None;
    }
    Some(r)
}

fn is_clock(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() >= 8
        && b[2] == b':'
        && b[5] == b':'
        // Bytes, not `&t[..8]`: byte 8 may fall inside a multi-byte character.
        && b[..8].iter().filter(|c| c.is_ascii_digit()).count() == 6
}

fn is_iso_time(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() >= 19 && b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && is_clock(&t[11..])
}

/// `  comm-123   [001] d.h1.   5.576: event: ...`
fn is_trace_line(s: &str) -> bool {
    let t = s.trim_start();
    let Some(open) = t.find(" [") else {
        return false;
    };
    let Some(close) = t[open..].find("] ") else {
        return false;
    };
    let cpu = &t[open + 2..open + close];
    cpu.len() <= 4
        && !cpu.is_empty()
        && cpu.bytes().all(|c| c.is_ascii_digit())
        && t[..open]
            .trim_end()
            .rsplit_once('-')
            .is_some_and(|(_, pid)| pid.bytes().all(|c| c.is_ascii_digit()))
}

/// The clock time of a journal or dmesg line, for detecting newest-first order.
pub fn line_time(line: &str) -> Option<String> {
    let first = line.split_whitespace().next()?;
    if is_iso_time(first) {
        return Some(first[11..19].to_string());
    }
    let mut toks = line.split_whitespace();
    let _month = toks.next()?;
    let _day = toks.next()?;
    let t = toks.next()?;
    if is_clock(t) && strip_journal(line).is_some() {
        return Some(t.to_string());
    }
    let d = strip_float_column(line).unwrap_or(line);
    let inner = d.strip_prefix('[')?.split(']').next()?.trim();
    let (a, b) = inner.split_once('.')?;
    if a.bytes().all(|c| c.is_ascii_digit()) && b.bytes().all(|c| c.is_ascii_digit()) {
        return Some(format!("{a:0>12}.{b:0<9}"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(line: &str) -> (LineSource, String) {
        let s = strip(line);
        (s.source, s.content.into_owned())
    }

    #[test]
    fn dmesg_and_levels() {
        assert_eq!(c("[18868.377213] sched_ext: x").1, "sched_ext: x");
        assert_eq!(
            c("<3>[    5.6] sched_ext: y"),
            (LineSource::Dmesg, "sched_ext: y".into())
        );
        assert_eq!(
            c("[Fri Nov 27 07:00:01 2026] sched_ext: z").1,
            "sched_ext: z"
        );
        assert_eq!(c("kern  :err   : [  1.0] a").1, "a");
        assert_eq!(
            c("   6.699 [    5.621772] sched_ext: crashfifo: m").1,
            "sched_ext: crashfifo: m"
        );
    }

    #[test]
    fn journal_any_language() {
        assert_eq!(
            c("Nov 27 07:00:01 box kernel: sched_ext: a"),
            (LineSource::Journal, "sched_ext: a".into())
        );
        assert_eq!(c("déc. 03 10:11:12 box kernel: b").1, "b");
        assert_eq!(c("Dez 03 10:11:12.123456 box scx_rusty[991]: c").1, "c");
        assert_eq!(c("2026-11-27T07:00:01+0000 box kernel: d").1, "d");
        assert_eq!(c("Nov 27 07:00:01 box kernel: [  5.1] e").1, "e");
    }

    #[test]
    fn trace_dump_keeps_indent() {
        let l = "  sh-131     [001] d.h1.     5.576264: sched_ext_dump:   scx_bpf_error (x)";
        assert_eq!(c(l), (LineSource::TraceDump, "  scx_bpf_error (x)".into()));
        let l = "  sh-131     [001] d.h41     5.573702: sched_ext_exit: sched crashfifo kind 1025";
        assert_eq!(c(l).0, LineSource::Trace);
    }

    #[test]
    fn clock_check_never_slices_inside_a_character() {
        assert_eq!(c("12:34:5é host kernel: x").0, LineSource::Plain);
        assert!(line_time("Nov 27 12:34:5é host kernel: x").is_none());
    }

    #[test]
    fn plain_lines_untouched() {
        assert_eq!(
            c("18:15:22 [INFO] scx_lavd starts"),
            (LineSource::Plain, "18:15:22 [INFO] scx_lavd starts".into())
        );
        assert_eq!(c("  CPU 0   : nr_run=1").1, "  CPU 0   : nr_run=1");
        assert_eq!(c("\x1b[1;31mboom\x1b[0m\r").1, "boom");
    }
}
