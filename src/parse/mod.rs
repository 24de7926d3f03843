//! Parsers: detect the input's layout and build a [`Report`].
//!
//! Two layouts exist. ktstr's failure output is split into its sections
//! ([`ktstr`]); anything else (a scheduler log, dmesg, a journal, a trace) is
//! one section whose kind is guessed from its line prefixes (an AUTO-PROBE
//! block a runner printed into it is an auto-repro section of its own, and a
//! runner's `FAIL <test>` line names the test, see [`runner`]). Crashes are then
//! found in every section by [`scan`], whatever format each message has, and
//! observations of the same exit (a dump, its trace copy, the kernel log line,
//! the `EXIT:` line) are merged into one [`Crash`].

use std::path::Path;

use crate::report::{
    Crash, ExitKind, Header, MessageFormat, Note, Origin, Outcome, Report, Section, SectionKind,
    Text,
};

mod bail;
mod dump;
mod enable;
mod error;
mod exit_line;
pub mod frame;
mod input;
mod joined;
mod kernel_log;
pub mod ktstr;
mod oops;
pub mod prefix;
mod runner;
mod scan;
mod verifier;

pub use error::ParseError;

use prefix::LineSource;

/// Parses any supported input held in memory.
pub fn parse_str(text: &str) -> Report {
    parse_text(Text::from(text))
}

pub use input::{human_size, parse_size, DEFAULT_MAX_INPUT};

/// Reads and parses a file (`-` = stdin), copying at most
/// [`DEFAULT_MAX_INPUT`] bytes into memory.
pub fn parse_path(path: &Path) -> Result<Report, ParseError> {
    parse_path_limited(path, DEFAULT_MAX_INPUT)
}

/// [`parse_path`] with another cap on what is copied into memory (a pipe, a
/// device, stdin, a file that needs repair); a mapped file has none.
pub fn parse_path_limited(path: &Path, max_input: u64) -> Result<Report, ParseError> {
    let input = input::read(path, max_input)?;
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
        let split = Text::from(joined::split(&text, &points));
        // The original (a mapped file's pages) goes now, not after the parse.
        drop(text);
        split
    };
    let mut raw_starts = Vec::new();
    let (mut header, sections) = if ktstr::detect(&text) {
        let layout = ktstr::parse(&text);
        notes.extend(layout.notes.into_iter().map(|t| Note {
            section: None,
            text: t,
        }));
        (layout.header, layout.sections)
    } else {
        let (sections, starts) = raw_sections(&text);
        raw_starts = starts;
        (Header::default(), sections)
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
    if !raw_starts.is_empty() {
        name_failed_test(
            &text,
            &raw_starts,
            &sections,
            selected.map(|i| &crashes[i]),
            &mut header,
        );
    }
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
        // Banners are in line order: the last one at or above the crash.
        let before = per_section
            .get(c.origin.section)
            .and_then(|b| {
                let after = b.partition_point(|(line, _)| *line <= c.origin.first_line);
                after.checked_sub(1).map(|i| &b[i])
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

/// A runner's `FAIL <test> (<seconds>s)` line in a raw input names the test
/// (ktstr's predecessor printed no `ktstr_test '<name>'` line): the header
/// gets its name and the `failed` verdict, which ktstr's layout keeps.
fn name_failed_test(
    text: &str,
    starts: &[Option<usize>],
    sections: &[Section],
    crash: Option<&Crash>,
    header: &mut Header,
) {
    let verdicts = runner::verdicts(text);
    if !verdicts.iter().any(|v| v.failed) {
        return;
    }
    let crash_at = crash.and_then(|c| {
        let start = (*starts.get(c.origin.section)?)?;
        let body: &str = &sections.get(c.origin.section)?.body;
        let line = match c.origin.first_line {
            0 => 0,
            n => memchr::memchr_iter(b'\n', body.as_bytes()).nth(n - 1)? + 1,
        };
        Some(start + line)
    });
    if let Some(name) = runner::failed_test(&verdicts, crash_at) {
        header.test_name = Some(name.to_string());
        header.outcome = Outcome::Failed;
    }
}

/// A raw input: one section (console or scheduler log), plus ktstr's
/// `sched_ext dump` section made of its `sched_ext_dump` lines. An
/// AUTO-PROBE block a runner printed into the log is an `auto-repro`
/// section of its own, between the parts of the log around it. Returns the
/// sections and, for each, its offset in `text` (`None`: built, not a slice).
fn raw_sections(text: &Text) -> (Vec<Section>, Vec<Option<usize>>) {
    let body = text.slice(0..trim_end_len(text));
    if body.is_empty() {
        return (Vec::new(), Vec::new());
    }
    // The log's parts around the AUTO-PROBE blocks, without blank edges.
    let blocks = runner::auto_probe_blocks(&body);
    let mut pieces: Vec<(std::ops::Range<usize>, bool)> = Vec::new();
    let mut pos = 0;
    for b in blocks
        .iter()
        .cloned()
        .chain(std::iter::once(body.len()..body.len()))
    {
        let part = &body[pos..b.start];
        let lead = part.len() - part.trim_start_matches(['\n', ' ', '\t']).len();
        // Back to the start of the first non-blank line.
        // The text before the first block is kept whole, as without blocks.
        let lead = if pos == 0 {
            0
        } else {
            part[..lead].rfind('\n').map_or(0, |i| i + 1)
        };
        let end = pos + trim_end_len(part);
        if end > pos + lead {
            pieces.push((pos + lead..end, false));
        }
        if !b.is_empty() {
            pieces.push((b.clone(), true));
        }
        pos = b.end;
    }
    let log_parts = || {
        pieces
            .iter()
            .filter(|(_, block)| !block)
            .map(|(r, _)| &body[r.clone()])
    };
    let mut kernel = 0usize;
    let mut plain = 0usize;
    let mut dump_only = true;
    let log_lines = log_parts().flat_map(str::lines);
    for line in log_lines.filter(|l| !l.trim().is_empty()).take(2000) {
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
    let has_dump_lines =
        log_parts().any(|p| memchr::memmem::find(p.as_bytes(), b"sched_ext_dump").is_some());
    let kind = if has_dump_lines && dump_only && blocks.is_empty() {
        return (
            vec![Section {
                kind: SectionKind::SchedExtDump,
                body,
            }],
            vec![Some(0)],
        );
    } else if kernel > plain || body.starts_with("# tracer:") {
        SectionKind::Console
    } else {
        SectionKind::SchedulerLog
    };
    let mut sections = Vec::new();
    let mut starts = Vec::new();
    for (range, block) in &pieces {
        sections.push(Section {
            kind: if *block {
                SectionKind::AutoRepro
            } else {
                kind.clone()
            },
            body: body.slice(range.clone()),
        });
        starts.push(Some(range.start));
    }
    if has_dump_lines {
        // ktstr's rule: the dump is every line containing `sched_ext_dump`
        // (not those of the repro VM's tails).
        let mut dump = String::new();
        let lines = log_parts()
            .flat_map(str::lines)
            .filter(|l| l.contains("sched_ext_dump"));
        for (i, l) in lines.enumerate() {
            if i > 0 {
                dump.push('\n');
            }
            dump.push_str(l.strip_suffix('\r').unwrap_or(l));
        }
        dump.shrink_to_fit();
        sections.push(Section {
            kind: SectionKind::SchedExtDump,
            body: Text::from(dump),
        });
        starts.push(None);
    }
    (sections, starts)
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
            // Task names and map values, not messages.
            | SectionKind::FailureDump
            | SectionKind::ReproFailureDump
            // The repro VM's tails: its crash is not the report's.
            | SectionKind::AutoRepro
            | SectionKind::PeriodicSamples
            | SectionKind::TemporalAssertions
            | SectionKind::Info
    )
}

fn find_crashes(sections: &[Section], notes: &mut Vec<Note>, crashes: &mut Vec<Crash>) {
    let mut seen_records = std::collections::HashSet::new();
    let mut merger = Merger::new(crashes);
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
        let total_lines = if reversed.is_some() {
            body.lines().count()
        } else {
            0
        };
        let mut counter = LineCounter::new(body);
        // Merged as found: no vector of every observation beside the crashes.
        scan::scan_each(body, opts, |f| {
            // The same kernel record seen twice (console and dmesg, or a dmesg
            // dumped twice) carries the same timestamp: it is one crash.
            let first_line = body[f.start..].lines().next().unwrap_or("").trim();
            if matches!(
                prefix::strip(first_line).source,
                LineSource::Dmesg | LineSource::Journal
            ) && !seen_records.insert(first_line.to_string())
            {
                return;
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
            merger.merge_or_push(crashes, crash);
        });
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
        MessageFormat::KernelEnableFailed => 3,
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
    // The cheap tests first: the substring search runs only for candidates.
    let msg_ok = || match (&a.message, &b.message) {
        (Some(x), Some(y)) => x == y || x.contains(y.as_str()) || y.contains(x.as_str()),
        _ => true,
    };
    a.kernel_exit
        && b.kernel_exit
        && (a.kind == ExitKind::Unknown || b.kind == ExitKind::Unknown || a.kind == b.kind)
        && !b.formats.iter().any(|f| a.formats.contains(f))
        && agree(&a.scheduler, &b.scheduler)
        && msg_ok()
}

/// How many crashes a new observation is compared with: the newest ones, and
/// as many older kernel exits with the same message. The views of one exit
/// (a dump, its trace copy, the kernel line, the `EXIT:` line) are found
/// close together, or (a section of their own) share the message; without a
/// bound, a log of many crashes would compare every crash with every other
/// one (quadratic time).
const MERGE_WINDOW: usize = 64;

/// Merges each new observation into the crash it is another view of, in
/// time linear in the number of crashes (see [`MERGE_WINDOW`]).
struct Merger {
    /// Kernel exits by their message's hash, oldest first: where older
    /// crashes are looked up (a hash, not a copy of every message).
    by_message: std::collections::HashMap<u64, Vec<usize>>,
}

fn message_key(message: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    message.hash(&mut h);
    h.finish()
}

impl Merger {
    fn new(crashes: &[Crash]) -> Merger {
        let mut m = Merger {
            by_message: std::collections::HashMap::new(),
        };
        for i in 0..crashes.len() {
            m.index(crashes, i);
        }
        m
    }

    fn index(&mut self, crashes: &[Crash], i: usize) {
        let c = &crashes[i];
        if let (true, Some(msg)) = (c.kernel_exit, &c.message) {
            self.by_message.entry(message_key(msg)).or_default().push(i);
        }
    }

    fn merge_or_push(&mut self, crashes: &mut Vec<Crash>, mut new: Crash) {
        // Merged or pushed, its parts are kept: without the room they grew into.
        shrink(&mut new);
        let n = crashes.len();
        let near_from = n.saturating_sub(MERGE_WINDOW);
        let near = (near_from..n).rev().find(|&i| same_exit(&crashes[i], &new));
        let far = || {
            let older = self.by_message.get(&message_key(new.message.as_ref()?))?;
            older
                .iter()
                .rev()
                .copied()
                .filter(|&i| i < near_from)
                .take(MERGE_WINDOW)
                .find(|&i| same_exit(&crashes[i], &new))
        };
        match near.or_else(far) {
            Some(i) => {
                let message = crashes[i].message.clone();
                merge_into(&mut crashes[i], new);
                if crashes[i].message != message {
                    self.index(crashes, i);
                }
            }
            None => {
                if crashes.len() == crashes.capacity() {
                    // Grown by a quarter, not doubled: a log of many crashes
                    // keeps less room (still amortised linear).
                    crashes.reserve_exact(crashes.len() / 4 + 16);
                }
                crashes.push(new);
                self.index(crashes, n);
            }
        }
    }
}

/// Frees the room the parsers' vectors grew into: a log of many dumps keeps
/// thousands of crashes, each with its frames, CPU states and fields.
fn shrink(c: &mut Crash) {
    c.backtrace.shrink_to_fit();
    c.events.shrink_to_fit();
    c.ops_dump.shrink_to_fit();
    c.causes.shrink_to_fit();
    c.formats.shrink_to_fit();
    c.cpu_states.shrink_to_fit();
    for cpu in &mut c.cpu_states {
        cpu.fields.shrink_to_fit();
        cpu.extra.shrink_to_fit();
        cpu.tasks.shrink_to_fit();
        for t in &mut cpu.tasks {
            t.fields.shrink_to_fit();
            t.stack.shrink_to_fit();
            t.extra.shrink_to_fit();
        }
    }
}

/// Merges `new` into `into`, another view of the same exit, keeping the
/// fuller of each part (a console tail may hold only the first frames of a backtrace).
fn merge_into(into: &mut Crash, new: Crash) {
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

/// Byte offset → 0-based line number, fastest for increasing offsets.
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
        // Counted from the last offset either way: O(distance), not O(offset),
        // for offsets that step back a little (overlapping finds).
        if offset < self.pos {
            self.line -= memchr::memchr_iter(b'\n', &self.text[offset..self.pos]).count();
        } else {
            self.line += memchr::memchr_iter(b'\n', &self.text[self.pos..offset]).count();
        }
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
    fn verifier_log_above_a_bare_error_line() {
        let text = "0: R1=ctx() R10=fp0
; int BPF_STRUCT_OPS(x_enqueue, struct task_struct *p, u64 enq_flags) @ foo.bpf.c:42
17: (85) call bpf_map_lookup_elem#1
18: (61) r1 = *(u32 *)(r0 +0)
R0 invalid mem access 'map_value_or_null'
processed 123 insns (limit 1000000) max_states_per_insn 0 total_states 9 peak_states 9 mark_read 3
Error: failed to load BPF program: BPF program load failed: Permission denied
";
        let r = parse_str(text);
        assert_eq!(r.crashes.len(), 1, "{:?}", r.crashes);
        let c = r.crash().unwrap();
        assert_eq!(c.formats, [MessageFormat::VerifierReject]);
        assert_eq!(
            c.message.as_deref(),
            Some("R0 invalid mem access 'map_value_or_null'")
        );
        assert_eq!(
            c.causes,
            ["failed to load BPF program: BPF program load failed: Permission denied"]
        );
        assert_eq!(c.origin.first_line, 0);
        // A plain error line after ordinary output stays a userspace bail.
        let r = parse_str("loading\nError: failed to attach struct_ops\n");
        assert_eq!(r.crash().unwrap().formats, [MessageFormat::UserspaceBail]);
    }

    #[test]
    fn enable_failure_without_splat_takes_the_exit_after_it() {
        let text = "[   12.345678] sched_ext: ops.init_task() failed (-12) for stress-ng[4711] while loading
[   12.346001] sched_ext: BPF scheduler \"rusty\" disabled (runtime error)
[   12.350000] other
";
        let r = parse_str(text);
        assert_eq!(r.crashes.len(), 1, "{:?}", r.crashes);
        let c = r.crash().unwrap();
        assert_eq!(c.kind, ExitKind::RuntimeError);
        assert_eq!(c.scheduler.as_deref(), Some("rusty"));
        assert_eq!(c.reason.as_deref(), Some("enable failure"));
        assert_eq!(c.task.as_ref().unwrap().pid, 4711);
        assert!(c.backtrace.is_empty() && c.causes.is_empty());
        assert_eq!((c.origin.first_line, c.origin.last_line), (0, 1));
    }

    #[test]
    fn runner_lines_name_the_test_and_auto_probe_is_its_own_section() {
        let text = "PASS a/one (1.0s)
[    5.621706] sched_ext: BPF scheduler \"fifo\" disabled (scx_bpf_error)
[    5.621772] sched_ext: fifo: boom
=== AUTO-PROBE: scx_exit fired ===

  fifo_enqueue  fifo.bpf.c:12
      pid  7

FAIL a/two (2.5s)
";
        let r = parse_str(text);
        let kinds: Vec<&str> = r.sections.iter().map(|s| s.kind.name()).collect();
        assert_eq!(kinds, ["scheduler log", "auto-repro", "scheduler log"]);
        assert_eq!(&*r.sections[2].body, "FAIL a/two (2.5s)");
        assert_eq!(r.header.test_name.as_deref(), Some("a/two"));
        assert_eq!(r.header.outcome, Outcome::Failed);
        assert_eq!(r.crash().unwrap().message.as_deref(), Some("boom"));
        assert_eq!(parse_str(&crate::write::to_ktstr(&r)), r);
        // The crash on the first line: the FAIL after it.
        let r = parse_str("EXIT: scx_bpf_error (x)\nFAIL a/one (1.0s)\nFAIL a/two (1.0s)\n");
        assert_eq!(r.header.test_name.as_deref(), Some("a/one"));
        let r = parse_str("FAIL a/one (1.0s)\nEXIT: scx_bpf_error (x)\nFAIL a/two (1.0s)\n");
        assert_eq!(r.header.test_name.as_deref(), Some("a/two"));
        // Only passes: no test named.
        let r = parse_str("PASS a/one (1.0s)\nEXIT: scx_bpf_error (x)\n");
        assert_eq!(r.header.test_name, None);
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

/// The forms of issue 14 items 17-19 mixed with each other and with noise:
/// parsing never panics and a report survives ktstr's layout.
#[cfg(test)]
mod mixed_forms {
    use proptest::prelude::*;

    const POOL: &[&str] = &[
        "sched_ext: ops.prep_enable() failed (-17) for stress-ng[1234] while loading",
        "[   42.101517] ops.init_task() failed (-12) for kworker/u16:3[219] while loading",
        "------------[ cut here ]------------",
        "WARNING: CPU: 3 PID: 1234 at kernel/sched/ext.c:3615 scx_ops_enable+0x6e1/0xd00",
        "RIP: 0010:scx_ops_enable+0x6e1/0xd00",
        "RIP: 0033:0x7f5a4bf2a88d",
        "RSP: 002b:00007ffd6d0a5b78 EFLAGS: 00000246",
        "Call Trace:",
        " <TASK>",
        " ? __warn+0x81/0x130",
        " bpf_scx_reg+0x12/0x20",
        " </TASK>",
        "---[ end trace 0000000000000000 ]---",
        "Sched_ext: lavd (enabling+all)",
        "sched_ext: BPF scheduler \"rusty\" errored, disabling",
        "sched_ext: runtime error",
        "sched_ext: BPF scheduler \"lavd\" disabled (scx_bpf_error)",
        "sched_ext: lavd: boom",
        "FAIL sched_basic/stress_llc (57.3s)",
        "PASS sched_basic/wake_chain (12.0s)",
        "--- probe pipeline ---",
        "  extracted:   9 functions from crash backtrace",
        "=== AUTO-PROBE: scx_exit fired ===",
        "  do_enqueue_task                                               kernel/sched/ext.c:1344",
        "      cpu         1",
        "repro VM duration: 16.9s",
        "--- repro VM dmesg ---",
        "0: R1=ctx() R10=fp0",
        "17: (85) call bpf_map_lookup_elem#1",
        "R0 invalid mem access 'map_value_or_null'",
        "processed 123 insns (limit 1000000) max_states_per_insn 0",
        "-- END PROG LOAD LOG --",
        "libbpf: prog 'x_enqueue': failed to load: -13",
        "Error: x: BPF program load failed: Permission denied",
        "",
        "  ",
        "plain words",
    ];

    fn text() -> impl Strategy<Value = String> {
        let line = prop_oneof![
            6 => prop::sample::select(POOL).prop_map(str::to_string),
            1 => "[ -~]{0,30}",
        ];
        prop::collection::vec(line, 0..40).prop_map(|v| v.join("\n"))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        #[test]
        fn mixed_forms_round_trip(text in text()) {
            let r = super::parse_str(&text);
            let again = super::parse_str(&crate::write::to_ktstr(&r));
            prop_assert_eq!(again, r);
        }
    }
}

#[cfg(test)]
mod scaling {
    use super::*;

    #[test]
    fn a_flood_after_a_sched_ext_prefix_is_no_crash_but_a_real_record_is() {
        // The kernel's exit record for a scheduler called `name`.
        let record = |name: &str| {
            format!(
                "[   12.345678] sched_ext: BPF scheduler \"{name}\" disabled (runtime error)\n\
                 [   12.345690] sched_ext: {name}: invalid dsq 0x8000000000000002\n"
            )
        };
        let first_line = |r: &str| r.lines().next().map_or(0, str::len);
        assert_eq!(parse_str(&record("scx_x")).crashes.len(), 1);
        let flood = "A".repeat(64 << 10);
        let r = parse_str(&record(&flood));
        assert!(r.crashes.is_empty(), "{} crash(es)", r.crashes.len());
        let r = parse_str(&format!("sched_ext: {flood} {}", record("scx_x")));
        assert!(r.crashes.is_empty(), "{} crash(es)", r.crashes.len());
        // The bound: a first line of MAX_CRASH_LINE bytes is still read.
        let name = |n: usize| "m".repeat(n);
        let fits = record(&name(scan::MAX_CRASH_LINE + 1 - first_line(&record("m"))));
        assert_eq!(first_line(&fits), scan::MAX_CRASH_LINE);
        assert_eq!(parse_str(&fits).crashes.len(), 1);
        let over = record(&name(scan::MAX_CRASH_LINE + 2 - first_line(&record("m"))));
        assert!(parse_str(&over).crashes.is_empty());
        // A real record followed by a flood: the crash ends above the flood.
        let r = parse_str(&format!(
            "{}[   12.345700] sched_ext: scx_x: {flood}\n",
            record("scx_x")
        ));
        assert_eq!(r.crashes.len(), 1);
        assert_eq!(r.crashes[0].origin.last_line, 1);
        // Anchors inside a flood are skipped; the crash after it is found.
        let mut both = "EXIT: runtime error (x) ".repeat(10_000);
        both.push('\n');
        both.push_str(&record("scx_x"));
        let r = parse_str(&both);
        assert_eq!(r.crashes.len(), 1, "{:?}", r.crashes);
        assert_eq!(r.crashes[0].origin.first_line, 1);
    }

    #[test]
    fn a_trace_dump_merges_with_its_kernel_line_many_crashes_back() {
        let fixture =
            include_str!("../../tests/fixtures/variants/console-com1-trace-interleaved-p2dq.txt");
        let merged = |r: &Report| {
            r.crashes
                .iter()
                .find(|c| c.message.as_deref() == Some("p2dq_dispatch: invalid llc id 7 for cpu 0"))
                .map(|c| c.formats.clone())
        };
        let alone = merged(&parse_str(fixture)).expect("the fixture's crash");
        assert!(
            alone.contains(&MessageFormat::TraceDump) && alone.len() > 1,
            "{alone:?}"
        );
        // More unrelated crashes between the two views than MERGE_WINDOW.
        let mut text = fixture.to_string();
        for i in 0..3 * MERGE_WINDOW {
            text.push_str(&format!("EXIT: runtime error (unrelated exit {i})\n"));
        }
        let r = parse_str(&text);
        assert_eq!(merged(&r), Some(alone));
        assert!(r.crashes.len() > 3 * MERGE_WINDOW);
    }

    #[test]
    fn line_numbers_are_right_for_offsets_that_step_back() {
        let text = "a\nb\nc\nd\ne\n";
        let mut c = LineCounter::new(text);
        assert_eq!(c.line_of(8), 4);
        assert_eq!(c.line_of(3), 1);
        assert_eq!(c.line_of(4), 2);
        assert_eq!(c.line_of(0), 0);
        assert_eq!(c.line_of(100), 5);
    }
}
