//! Parsers: detect the input's layout and build a [`Report`].
//!
//! Two layouts exist. ktstr's failure output is split into its sections
//! ([`ktstr`]); anything else (a scheduler log, dmesg, a journal, a trace) is
//! one section whose kind is guessed from its line prefixes. Crashes are then
//! found in every section by [`scan`], whatever format each message has, and
//! observations of the same exit (a dump, its trace copy, the kernel log line,
//! the `EXIT:` line) are merged into one [`Crash`].

use std::path::Path;

use crate::report::{
    Crash, ExitKind, MessageFormat, Note, Origin, Report, Section, SectionKind, Text,
};

mod bail;
mod dump;
mod error;
mod exit_line;
pub mod frame;
mod input;
mod joined;
mod kernel_log;
pub mod ktstr;
mod oops;
pub mod prefix;
mod scan;
mod verifier;

pub use error::ParseError;

use prefix::LineSource;

/// Parses any supported input held in memory.
pub fn parse_str(text: &str) -> Report {
    parse_text(Text::from(text))
}

/// Reads and parses a file (`-` = stdin).
pub fn parse_path(path: &Path) -> Result<Report, ParseError> {
    let input = input::read(path)?;
    let mut report = parse_text(input.text);
    let repairs = input.notes.into_iter().map(|text| Note {
        section: None,
        text,
    });
    report.notes.splice(0..0, repairs);
    Ok(report)
}

/// Parses a shared text without copying it.
pub fn parse_text(text: Text) -> Report {
    let mut notes = Vec::new();
    // Normalised once instead of everywhere. `parse_path` already repaired its
    // input while reading it, so only text handed in from memory is copied here.
    let text = if input::has_line_end_cr(text.as_bytes()) {
        Text::from(input::strip_line_end_cr(&text))
    } else {
        text
    };
    let points = joined::split_points(&text);
    let text = if points.is_empty() {
        text
    } else {
        notes.push(Note {
            section: None,
            text: format!(
                "{} kernel log record(s) were joined to the one before on the same line \
                 (copy and paste?); split at their timestamps",
                points.len()
            ),
        });
        Text::from(joined::split(&text, &points))
    };
    let (header, sections) = if ktstr::detect(&text) {
        let layout = ktstr::parse(&text);
        notes.extend(layout.notes.into_iter().map(|t| Note {
            section: None,
            text: t,
        }));
        (layout.header, layout.sections)
    } else {
        (Default::default(), raw_sections(&text))
    };
    let mut crashes = Vec::new();
    if let Some(summary) = &header.bug_summary {
        // ktstr's one-line digest of the dump; merged with the dump when both exist.
        if let Some(mut c) = exit_line::parse_uei(&format!("EXIT: {summary}")) {
            c.formats = vec![MessageFormat::BugSummary];
            c.origin = Origin {
                section: Origin::HEADER,
                first_line: 0,
                last_line: 0,
            };
            crashes.push(c);
        }
    }
    find_crashes(&sections, &mut notes, &mut crashes);
    for c in &mut crashes {
        if c.scheduler.is_none() && c.kernel_exit {
            c.scheduler.clone_from(&header.scheduler);
        }
        c.source = c.message.as_deref().and_then(source_of);
    }
    name_from_banners(&sections, &mut crashes);
    let selected = select(&crashes, &sections);
    if crashes.is_empty() {
        let lines = sections
            .iter()
            .filter(|s| !s.body.is_empty())
            .map(|s| memchr::memchr_iter(b'\n', s.body.as_bytes()).count() + 1)
            .sum::<usize>();
        notes.push(Note {
            section: None,
            text: format!(
                "no sched_ext exit, verifier rejection or scheduler bail found in {lines} line(s)"
            ),
        });
    }
    Report {
        header,
        sections,
        crashes,
        selected,
        notes,
    }
}

/// Startup banners of scx's Rust schedulers, after any log prefix:
/// `[INFO] scx_bpfland 1.0.19 x86_64-unknown-linux-gnu SMT on`,
/// `[INFO] Running scx_rusty (build ID: 1.0.10-g2a7e4f11 x86_64-unknown-linux-gnu)`,
/// `[INFO] scx_lavd scheduler is initialized (build ID: ...)`.
static BANNER: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    // A constant pattern: the tests compile it.
    #[allow(clippy::unwrap_used)]
    regex::Regex::new(
        r"^(?:\d\d:\d\d:\d\d(?:\.\d+)? )?(?:\[INFO\] +)?(?:Running )?(?P<name>[A-Za-z][\w-]*) (?:scheduler is initialized )?(?:\(build ID: )?v?\d+\.\d+[\w.+-]* [\w.]+-\w+-linux-\w+",
    )
    .unwrap()
});

/// The scheduler a banner names; the triple's `-linux-` finds candidate
/// lines without walking a huge log line by line.
fn banners(body: &str) -> Vec<(usize, String)> {
    let mut counter = LineCounter::new(body);
    let mut found = Vec::new();
    let mut next_line = 0;
    for at in memchr::memmem::find_iter(body.as_bytes(), b"-linux-") {
        if at < next_line {
            continue;
        }
        let start = body[..at].rfind('\n').map_or(0, |i| i + 1);
        next_line = body[at..].find('\n').map_or(body.len(), |i| at + i);
        let content = prefix::strip(&body[start..next_line]).content;
        if let Some(caps) = BANNER.captures(content.trim_start()) {
            found.push((counter.line_of(start), caps["name"].to_string()));
        }
    }
    found
}

/// Names the scheduler of crashes nothing else named from its startup
/// banner: the newest one before the crash in its section, else any.
fn name_from_banners(sections: &[Section], crashes: &mut [Crash]) {
    if crashes.iter().all(|c| c.scheduler.is_some()) {
        return;
    }
    let per_section: Vec<Vec<(usize, String)>> = sections
        .iter()
        .map(|s| {
            if scanned(&s.kind) {
                banners(&s.body)
            } else {
                Vec::new()
            }
        })
        .collect();
    let any = per_section.iter().flatten().map(|(_, n)| n).next();
    for c in crashes.iter_mut().filter(|c| c.scheduler.is_none()) {
        let before = per_section
            .get(c.origin.section)
            .and_then(|b| {
                b.iter()
                    .rev()
                    .find(|(line, _)| *line <= c.origin.first_line)
            })
            .map(|(_, n)| n);
        c.scheduler = before.or(any).cloned();
    }
}

/// The `__FILE__:__LINE__: ` upstream's `scx_bpf_error()` puts in front of
/// its message (`src/scx_qmap.bpf.c:212: test triggering error`).
pub fn source_of(message: &str) -> Option<(String, u32)> {
    let (head, _) = message.split_once(": ")?;
    let (file, line) = head.rsplit_once(':')?;
    let name = file.rsplit('/').next().unwrap_or(file);
    let source_file = [".c", ".h"].iter().any(|ext| {
        name.strip_suffix(ext)
            .is_some_and(|stem| !stem.is_empty() && !stem.ends_with('.'))
    });
    let line = line.parse().ok()?;
    (source_file && !file.contains(char::is_whitespace)).then(|| (file.to_string(), line))
}

/// A raw input: one section (console or scheduler log), plus ktstr's
/// `sched_ext dump` section made of its `sched_ext_dump` lines.
fn raw_sections(text: &Text) -> Vec<Section> {
    let body = text.slice(0..trim_end_len(text));
    if body.is_empty() {
        return Vec::new();
    }
    let mut kernel = 0usize;
    let mut plain = 0usize;
    let mut dump_only = true;
    for line in body.lines().filter(|l| !l.trim().is_empty()).take(2000) {
        match prefix::strip(line).source {
            LineSource::Plain => {
                plain += 1;
                dump_only = false;
            }
            LineSource::TraceDump => kernel += 1,
            _ => {
                kernel += 1;
                dump_only = false;
            }
        }
    }
    let has_dump_lines = memchr::memmem::find(body.as_bytes(), b"sched_ext_dump").is_some();
    if has_dump_lines && dump_only && !body.trim().is_empty() {
        return vec![Section {
            kind: SectionKind::SchedExtDump,
            body,
        }];
    }
    let kind = if kernel > plain || body.starts_with("# tracer:") {
        SectionKind::Console
    } else {
        SectionKind::SchedulerLog
    };
    let mut sections = vec![Section {
        kind,
        body: body.clone(),
    }];
    if has_dump_lines {
        // ktstr's rule: the dump is every line containing `sched_ext_dump`.
        let mut dump = String::new();
        let lines = body.lines().filter(|l| l.contains("sched_ext_dump"));
        for (i, l) in lines.enumerate() {
            if i > 0 {
                dump.push('\n');
            }
            dump.push_str(l.strip_suffix('\r').unwrap_or(l));
        }
        sections.push(Section {
            kind: SectionKind::SchedExtDump,
            body: Text::from(dump),
        });
    }
    sections
}

/// Length of `s` without its trailing blank lines (no section body ends in one).
pub(crate) fn trim_end_len(s: &str) -> usize {
    let mut end = s.len();
    loop {
        let head = &s[..end];
        let line_start = head.rfind('\n').map_or(0, |i| i + 1);
        if !head[line_start..].trim().is_empty() {
            return end;
        }
        if line_start == 0 {
            return 0;
        }
        end = line_start - 1;
    }
}

/// Sections that never hold crash messages.
fn scanned(kind: &SectionKind) -> bool {
    !matches!(
        kind,
        SectionKind::Stats
            | SectionKind::Timeline
            | SectionKind::Monitor
            | SectionKind::MonitorSamples
            | SectionKind::ProbeEvents
            | SectionKind::ReproProbeEvents
            // The repro VM's tails: its crash is not the report's.
            | SectionKind::AutoRepro
            | SectionKind::PeriodicSamples
            | SectionKind::TemporalAssertions
            | SectionKind::Info
    )
}

fn find_crashes(sections: &[Section], notes: &mut Vec<Note>, crashes: &mut Vec<Crash>) {
    let mut seen_records = std::collections::HashSet::new();
    let has_dump = sections.iter().any(|s| s.kind == SectionKind::SchedExtDump);
    for (idx, section) in sections.iter().enumerate() {
        if !scanned(&section.kind) {
            continue;
        }
        let opts = scan::ScanOptions {
            skip_trace_dump: has_dump && section.kind != SectionKind::SchedExtDump,
        };
        let reversed = newest_first(&section.body).then(|| reverse_lines(&section.body));
        let body: &str = reversed.as_deref().unwrap_or(&section.body);
        let found = scan::scan(body, opts);
        let total_lines = if reversed.is_some() {
            body.lines().count()
        } else {
            0
        };
        let mut counter = LineCounter::new(body);
        for f in found {
            // The same kernel record seen twice (console and dmesg, or a dmesg
            // dumped twice) carries the same timestamp: it is one crash.
            let first_line = body[f.start..].lines().next().unwrap_or("").trim();
            if matches!(
                prefix::strip(first_line).source,
                LineSource::Dmesg | LineSource::Journal
            ) && !seen_records.insert(first_line.to_string())
            {
                continue;
            }
            let (mut first, mut last) = (counter.line_of(f.start), counter.line_of(f.end));
            if reversed.is_some() {
                (first, last) = (
                    total_lines.saturating_sub(last + 1),
                    total_lines.saturating_sub(first + 1),
                );
            }
            notes.extend(f.notes.into_iter().map(|text| Note {
                section: Some(idx),
                text,
            }));
            let mut crash = f.crash;
            crash.origin = Origin {
                section: idx,
                first_line: first,
                last_line: last,
            };
            merge_or_push(crashes, crash);
        }
        if reversed.is_some() {
            notes.push(Note {
                section: Some(idx),
                text: "lines are newest-first (journalctl -r); read in reverse".into(),
            });
        }
    }
    for c in crashes.iter_mut() {
        c.formats.sort_by_key(|f| format_rank(*f));
    }
}

/// Richest first: a full dump tells more than a one-line record.
fn format_rank(f: MessageFormat) -> u8 {
    match f {
        MessageFormat::DebugDump => 0,
        MessageFormat::TraceDump => 1,
        MessageFormat::KernelDisabled => 2,
        MessageFormat::KernelErrored => 3,
        MessageFormat::KernelOops => 4,
        MessageFormat::VerifierReject => 5,
        MessageFormat::UeiExit => 6,
        MessageFormat::TraceExit => 7,
        MessageFormat::BugSummary => 8,
        MessageFormat::UserspaceBail => 9,
    }
}

/// Same exit seen through another format?
fn same_exit(a: &Crash, b: &Crash) -> bool {
    fn agree<T: PartialEq>(x: &Option<T>, y: &Option<T>) -> bool {
        x.is_none() || y.is_none() || x == y
    }
    let msg_ok = match (&a.message, &b.message) {
        (Some(x), Some(y)) => x == y || x.contains(y.as_str()) || y.contains(x.as_str()),
        _ => true,
    };
    a.kernel_exit
        && b.kernel_exit
        && (a.kind == ExitKind::Unknown || b.kind == ExitKind::Unknown || a.kind == b.kind)
        && agree(&a.scheduler, &b.scheduler)
        && msg_ok
        && !b.formats.iter().any(|f| a.formats.contains(f))
}

/// Merges `new` into the crash it is another view of, keeping the fuller of
/// each part (a console tail may hold only the first frames of a backtrace).
fn merge_or_push(crashes: &mut Vec<Crash>, new: Crash) {
    let Some(into) = crashes.iter_mut().rev().find(|c| same_exit(c, &new)) else {
        crashes.push(new);
        return;
    };
    if into.kind == ExitKind::Unknown {
        into.kind = new.kind;
    }
    // Point at the richest observation.
    let best = |c: &Crash| {
        c.formats
            .iter()
            .map(|f| format_rank(*f))
            .min()
            .unwrap_or(u8::MAX)
    };
    if best(&new) < best(into) {
        into.origin = new.origin.clone();
    }
    // Prefer the longer message (a dmesg line may be cut).
    if new.message.as_ref().map_or(0, String::len) > into.message.as_ref().map_or(0, String::len) {
        into.message = new.message;
    }
    fill(&mut into.reason, new.reason);
    fill(&mut into.scheduler, new.scheduler);
    fill(&mut into.task, new.task);
    fill(&mut into.cpu, new.cpu);
    if new.backtrace.len() > into.backtrace.len() {
        into.backtrace = new.backtrace;
    }
    if new.cpu_states.len() > into.cpu_states.len() {
        into.cpu_states = new.cpu_states;
    }
    if new.events.len() > into.events.len() {
        into.events = new.events;
    }
    if new.ops_dump.len() > into.ops_dump.len() {
        into.ops_dump = new.ops_dump;
    }
    into.formats.extend(new.formats);
}

fn fill<T>(slot: &mut Option<T>, v: Option<T>) {
    if slot.is_none() {
        *slot = v;
    }
}

/// The crash to show: the newest kernel exit of the run itself (not of the
/// auto-repro VM), else the newest kernel exit, else the newest anything.
fn select(crashes: &[Crash], sections: &[Section]) -> Option<usize> {
    let in_repro = |c: &Crash| {
        sections
            .get(c.origin.section)
            .is_some_and(|s| s.kind == SectionKind::AutoRepro)
    };
    let newest = |pred: &dyn Fn(&Crash) -> bool| crashes.iter().rposition(pred);
    newest(&|c| c.kernel_exit && !in_repro(c))
        .or_else(|| newest(&|c| c.kernel_exit))
        .or_else(|| crashes.len().checked_sub(1))
}

/// Journal/dmesg lines whose timestamps go backwards (`journalctl -r`).
fn newest_first(body: &str) -> bool {
    // The first lines decide; a huge log must not be walked line by line for this.
    let mut times = body.lines().take(2000).filter_map(prefix::line_time);
    let Some(first) = times.next() else {
        return false;
    };
    let mut prev = first.clone();
    let mut down = 0;
    let mut up = 0;
    for t in times.take(500) {
        match t.cmp(&prev) {
            std::cmp::Ordering::Less => down += 1,
            std::cmp::Ordering::Greater => up += 1,
            std::cmp::Ordering::Equal => {}
        }
        prev = t;
    }
    down > 0 && down > up * 3
}

/// The lines of `body` last first, built in place (no vector of lines: a
/// reversed journal can be as big as any log).
fn reverse_lines(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    for (i, l) in body.lines().rev().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(l);
    }
    out
}

/// Byte offset → 0-based line number, for increasing offsets.
struct LineCounter<'a> {
    text: &'a [u8],
    pos: usize,
    line: usize,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a str) -> Self {
        LineCounter {
            text: text.as_bytes(),
            pos: 0,
            line: 0,
        }
    }

    fn line_of(&mut self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        if offset < self.pos {
            return memchr::memchr_iter(b'\n', &self.text[..offset]).count();
        }
        self.line += memchr::memchr_iter(b'\n', &self.text[self.pos..offset]).count();
        self.pos = offset;
        self.line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_position_of_upstream_messages() {
        let pos = source_of;
        assert_eq!(
            pos("src-main/scheds/c/scx_qmap.bpf.c:212: test triggering error"),
            Some(("src-main/scheds/c/scx_qmap.bpf.c".to_string(), 212))
        );
        assert_eq!(pos("main.h:9: x"), Some(("main.h".to_string(), 9)));
        assert_eq!(pos("cpu 3: bad thing"), None);
        assert_eq!(pos("dsq 0x2a: underflow"), None);
        assert_eq!(pos("a.bpf.c:12x: y"), None);
        let log =
            "EXIT: scx_bpf_error (src-main/scheds/c/scx_qmap.bpf.c:212: test triggering error)\n";
        let r = parse_str(log);
        let crash = r.crash().expect("crash");
        assert_eq!(crash.source.as_ref().map(|(_, l)| *l), Some(212));
    }

    #[test]
    fn scheduler_named_by_its_banner() {
        let exit = "Error: EXIT: runtime error (invalid DSQ ID 0x8000000000000000)";
        for banner in [
            "[INFO] scx_bpfland 1.0.19 x86_64-unknown-linux-gnu SMT on",
            "scx_bpfland 1.0.19-g1c2d3e4f aarch64-unknown-linux-gnu SMT off",
            "11:02:07 [INFO] scx_bpfland 1.0.19 x86_64-unknown-linux-gnu SMT on",
            "Dec 06 11:02:07 host scx_bpfland[812]: [INFO] scx_bpfland 1.0.19 x86_64-unknown-linux-gnu SMT on",
        ] {
            let r = parse_str(&format!("{banner}\n11:02:08 [INFO] cpus: 8\n{exit}\n"));
            let crash = r.crash().expect("crash");
            assert_eq!(crash.scheduler.as_deref(), Some("scx_bpfland"), "{banner}");
        }
        let r = parse_str(&format!("[INFO] cpus: 8\n{exit}\n"));
        assert_eq!(r.crash().and_then(|c| c.scheduler.as_deref()), None);
    }

    #[test]
    fn same_kernel_record_twice_is_one_crash() {
        let line = "[    6.829547] sched_ext: BPF scheduler \"demo\" disabled (scx_bpf_error)\n[    6.829600] sched_ext: demo: boom\n";
        let r = parse_str(&format!("{line}other\n{line}"));
        assert_eq!(r.crashes.len(), 1);
        // A later, separate crash with the same text is kept.
        let again = line.replace("6.829", "9.111");
        assert_eq!(parse_str(&format!("{line}{again}")).crashes.len(), 2);
    }
}
