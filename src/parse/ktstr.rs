//! ktstr's failure layout: optional fingerprint and `BUG SUMMARY:` lines, the
//! `ktstr_test '<name>' [sched=..] [topo=..] <verdict>` error line with its
//! detail lines, then `--- <name> ---` sections separated by blank lines.
//!
//! Sections can come in any order; `--- x ---` look-alikes nested inside the
//! auto-repro section and cycle-collapse markers inside the scheduler log are
//! not section headers.

use crate::report::{Header, Outcome, Section, SectionKind, Text};

use super::prefix::strip_ansi;

const HEADER_WORD: &str = "ktstr_test '";

/// Lines that test runners print around the report; never a fingerprint.
fn is_runner_noise(t: &str) -> bool {
    let t = t.trim();
    t.is_empty()
        || t.starts_with("TRY ")
        || t.starts_with("FAIL ")
        || t.starts_with("PASS ")
        || t.starts_with("SIGSEGV")
        || t.starts_with("stderr ─")
        || t.starts_with("stdout ─")
        || t.starts_with("--- STDERR")
        || t.starts_with("--- STDOUT")
        || t.starts_with("---- ")
        || t.starts_with("running ")
        || t.starts_with("test ")
        || t.starts_with("thread '")
        || t == "..."
}

/// `--- name ---` → name, when the line is shaped like a section header.
fn header_name(line: &str) -> Option<&str> {
    let name = line.strip_prefix("--- ")?.strip_suffix(" ---")?;
    let ok = !name.is_empty()
        && name.len() <= 40
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == ' ' || c == '_' || c == '-')
        && !name.starts_with(' ')
        && !name.ends_with(' ');
    ok.then_some(name)
}

/// Look-alikes that live inside a section body.
fn is_nested_name(name: &str) -> bool {
    name == "probe pipeline"
        || name.starts_with("repro vm")
        || name.starts_with("repro VM")
        || name.contains("identical iterations")
        || name == "end repeat"
        || name.contains("verifier stats")
}

/// True when the text is in ktstr's layout (has its error line or a known section header).
pub fn detect(text: &str) -> bool {
    let at_line_start = |i: usize| {
        let line_start = memchr::memrchr(b'\n', &text.as_bytes()[..i]).map_or(0, |p| p + 1);
        text[line_start..i].trim().is_empty()
    };
    if memchr::memmem::find_iter(text.as_bytes(), HEADER_WORD.as_bytes()).any(at_line_start) {
        return true;
    }
    for i in memchr::memmem::find_iter(text.as_bytes(), b"--- ") {
        let line_start = memchr::memrchr(b'\n', &text.as_bytes()[..i]).map_or(0, |p| p + 1);
        let end = memchr::memchr(b'\n', &text.as_bytes()[i..]).map_or(text.len(), |p| i + p);
        let line = text[i..end].trim_end();
        if text[line_start..i].trim().is_empty() {
            if let Some(name) = header_name(line) {
                if SectionKind::from_known_name(name).is_some() {
                    return true;
                }
            }
        }
    }
    false
}

/// `line` without the report's `indent` (or, lacking it, any leading blanks).
fn dedent<'a>(line: &'a str, indent: &str) -> &'a str {
    line.strip_prefix(indent).unwrap_or(line.trim_start())
}

/// Result of reading the layout.
pub struct Layout {
    pub header: Header,
    pub sections: Vec<Section>,
    pub notes: Vec<String>,
}

/// Splits `text` (in ktstr layout) into header and sections. Bodies are slices
/// of `text` unless the report is indented (nextest), which forces a copy.
pub fn parse(text: &Text) -> Layout {
    let s: &str = text;
    // Lines with byte offsets.
    let mut lines: Vec<(usize, &str)> = Vec::new();
    let mut pos = 0;
    for l in s.split('\n') {
        lines.push((pos, l));
        pos += l.len() + 1;
    }
    if s.ends_with('\n') {
        lines.pop();
    }
    let clean = |l: &str| -> String { strip_ansi(l.strip_suffix('\r').unwrap_or(l)).into_owned() };

    // The report's indent: that of the error line, else of the first section header.
    let anchor = lines
        .iter()
        .position(|(_, l)| l.trim_start().starts_with(HEADER_WORD))
        .or_else(|| {
            lines.iter().position(|(_, l)| {
                header_name(l.trim()).is_some_and(|n| SectionKind::from_known_name(n).is_some())
            })
        });
    let Some(anchor) = anchor else {
        return Layout {
            header: Header::default(),
            sections: Vec::new(),
            notes: vec!["no ktstr error line or section header".into()],
        };
    };
    let indent_len = lines[anchor].1.len() - lines[anchor].1.trim_start().len();
    let indent = &lines[anchor].1[..indent_len];
    // Preamble lines stay slices of `text`: a long log in front of the report is not copied.
    let preamble = |upto: usize| -> Vec<Text> {
        let mut p: Vec<Text> = lines[..upto]
            .iter()
            .map(|&(at, l)| text.slice(at..at + l.len()))
            .collect();
        while p.last().is_some_and(|l| l.trim().is_empty()) {
            p.pop();
        }
        p
    };

    let mut header = Header::default();
    let notes = Vec::new();
    let is_error_line = lines[anchor].1.trim_start().starts_with(HEADER_WORD);
    let mut i = anchor;
    if is_error_line {
        // Fingerprint and BUG SUMMARY sit right above, at the same indent.
        let mut top = anchor;
        if top > 0 {
            let prev = clean(lines[top - 1].1);
            if let Some(b) = prev.trim_start().strip_prefix("BUG SUMMARY: ") {
                header.bug_summary = Some(b.trim_end().to_string());
                top -= 1;
            }
        }
        if top > 0 {
            let prev = clean(lines[top - 1].1);
            if !is_runner_noise(&prev)
                && prev.starts_with(indent)
                && !prev[indent.len()..].starts_with(char::is_whitespace)
            {
                header.fingerprint = Some(prev[indent.len()..].trim_end().to_string());
                top -= 1;
            }
        }
        header.preamble = preamble(top);
        parse_error_line(
            &clean(lines[anchor].1).trim_start()[HEADER_WORD.len()..],
            &mut header,
        );
        i = anchor + 1;
        while i < lines.len() {
            let l = clean(lines[i].1);
            let d = dedent(&l, indent);
            // Details run up to the first section header, blank lines included.
            // Headers are recognised on the raw line, as the section loop does.
            let raw = dedent(lines[i].1.strip_suffix('\r').unwrap_or(lines[i].1), indent);
            let starts_section = header_name(raw.trim_end())
                .is_some_and(|n| SectionKind::from_known_name(n).is_some() || !is_nested_name(n));
            if starts_section {
                break;
            }
            header
                .details
                .push(d.strip_prefix("  ").unwrap_or(d).trim_end().to_string());
            i += 1;
        }
        while header.details.last().is_some_and(|d| d.is_empty()) {
            header.details.pop();
        }
    } else {
        header.preamble = preamble(anchor);
    }

    // Sections.
    let mut sections: Vec<Section> = Vec::new();
    let mut current: Option<(SectionKind, usize)> = None; // kind, first body line
    let mut prev_blank = true;
    let close = |kind: SectionKind, from: usize, to: usize, sections: &mut Vec<Section>| {
        let mut to = to;
        while to > from && lines[to - 1].1.trim().is_empty() {
            to -= 1;
        }
        let body = if from >= to {
            Text::from(String::new())
        } else if indent.is_empty() {
            // Bodies stay verbatim (ANSI colour included): only the indent nextest adds is removed.
            let a = lines[from].0;
            let b = lines[to - 1].0 + lines[to - 1].1.len();
            text.slice(a..b)
        } else {
            // Built in place: one copy of the body, not a String per line and then their join.
            let mut body =
                String::with_capacity(lines[to - 1].0 + lines[to - 1].1.len() - lines[from].0);
            for (k, &(_, l)) in lines[from..to].iter().enumerate() {
                if k > 0 {
                    body.push('\n');
                }
                body.push_str(dedent(l, indent));
            }
            Text::from(body)
        };
        sections.push(Section { kind, body });
    };
    while i < lines.len() {
        let raw = lines[i].1;
        let l = dedent(raw.strip_suffix('\r').unwrap_or(raw), indent);
        let name = header_name(l.trim_end()).filter(|_| prev_blank || current.is_none());
        // Free-text sections (logs, consoles, repro tails) may contain `--- x ---`
        // lines of their own: only a known name ends them.
        let in_free_text = matches!(
            current,
            Some((
                SectionKind::AutoRepro
                    | SectionKind::SchedulerLog
                    | SectionKind::Console
                    | SectionKind::Dmesg
                    | SectionKind::SchedExtDump,
                _
            ))
        );
        let kind = name.and_then(|n| match SectionKind::from_known_name(n) {
            Some(k) => Some(k),
            None if !in_free_text && !is_nested_name(n) => Some(SectionKind::Other(n.to_string())),
            None => None,
        });
        if let Some(kind) = kind {
            if let Some((k, from)) = current.take() {
                close(k, from, i, &mut sections);
            }
            current = Some((kind, i + 1));
        } else if current.is_none() && !l.trim().is_empty() {
            // Unreachable after the detail loop above; kept so no text is ever lost.
            header.details.push(l.to_string());
        }
        prev_blank = l.trim().is_empty();
        i += 1;
    }
    if let Some((k, from)) = current.take() {
        close(k, from, lines.len(), &mut sections);
    }
    Layout {
        header,
        sections,
        notes,
    }
}

/// `<name>' [sched=..] [topo=..] <verdict>` (after `ktstr_test '`).
fn parse_error_line(rest: &str, header: &mut Header) {
    let rest = rest.trim_end();
    let (name, mut tail) = match rest.find("' ") {
        Some(q) => (&rest[..q], rest[q + 2..].trim_start()),
        None => (rest.trim_end_matches('\''), ""),
    };
    header.test_name = Some(name.to_string());
    loop {
        if let Some(r) = tail.strip_prefix("[sched=") {
            if let Some(end) = r.find(']') {
                header.scheduler = Some(r[..end].to_string());
                tail = r[end + 1..].trim_start();
                continue;
            }
        }
        if let Some(r) = tail.strip_prefix("[topo=") {
            if let Some(end) = r.find(']') {
                header.topology = Some(r[..end].to_string());
                tail = r[end + 1..].trim_start();
                continue;
            }
        }
        break;
    }
    header.outcome = match tail {
        "failed:" => Outcome::Failed,
        "inconclusive:" => Outcome::Inconclusive,
        "passed scenario but monitor failed:" => Outcome::MonitorFailed,
        "timed out (no result in SHM or COM2)" => Outcome::TimedOut,
        "" => Outcome::Unknown,
        other => Outcome::Other(other.to_string()),
    };
}
