//! A scrolling view of one section body, with line numbers.
//!
//! Bodies can be 100 MB slices of an mmap. The pane never copies the body and
//! never splits it into `String`s: the first time it is measured or drawn it
//! records where each line starts (one memchr pass, tens of milliseconds per
//! 100 MB), and each frame then formats only the rows on screen, reading each
//! line no further than the width it is cut to.

use std::cell::OnceCell;
use std::ops::Range;

use memchr::memmem;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use scxray::report::{Report, Section, SectionKind, Text};

use super::{Ctx, Pane};
use crate::find::{self, FindError, FindMode, Needle};
use crate::line_index::LineIndex;
use crate::theme::Theme;
use crate::widgets::text_line;

/// Bytes of a line looked at for log colouring: what can be on screen.
const COLOUR_SCAN: usize = 1024;

pub struct TextPane {
    title: String,
    section: Option<usize>,
    /// Shares the report's buffer; cloning a `Text` copies no bytes.
    body: Text,
    index: OnceCell<LineIndex>,
    search: Option<Search>,
    filter: Option<Filter>,
    /// How the last search and filter were read, kept when they are
    /// cleared: the next prompt opens in the same mode.
    search_mode: FindMode,
    filter_mode: FindMode,
    /// Show the ftrace prefix (`TASK-PID [CPU] FLAGS TIME: sched_ext_dump: `)
    /// of trace dump lines; hidden by default so the dump itself fills the
    /// pane.
    trace_prefix: bool,
    /// Whether the body has `sched_ext_dump:` trace lines, found once.
    has_trace: OnceCell<bool>,
}

/// A pane's search and filter, to carry to a rebuilt pane (live mode).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindState {
    pub query: String,
    pub search_mode: FindMode,
    pub filter: String,
    pub filter_mode: FindMode,
}

/// The search query and where n/N stand.
struct Search {
    query: String,
    needle: Needle,
    /// Byte start of the current match.
    current: Option<usize>,
    /// Match starts on shown lines, from the top, at most `find::MAX_COUNT`.
    counted: Vec<usize>,
    capped: bool,
}

/// The lines holding the filter text, computed once per filter change.
struct Filter {
    text: String,
    mode: FindMode,
    lines: Vec<u32>,
}

/// Where a jump landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jump {
    /// Row in the pane (a filtered row when a filter is on).
    pub row: usize,
    pub wrapped: bool,
}

impl TextPane {
    pub fn for_section(index: usize, section: &Section) -> TextPane {
        TextPane::new(
            section_title(&section.kind).to_string(),
            Some(index),
            section.body.clone(),
        )
    }

    pub fn new(title: String, section: Option<usize>, body: Text) -> TextPane {
        TextPane {
            title,
            section,
            body,
            index: OnceCell::new(),
            search: None,
            filter: None,
            search_mode: FindMode::Text,
            filter_mode: FindMode::Text,
            trace_prefix: false,
            has_trace: OnceCell::new(),
        }
    }

    /// Whether the body has ftrace `sched_ext_dump:` lines, whose prefix
    /// the pane can hide.
    pub fn has_trace_prefix(&self) -> bool {
        *self
            .has_trace
            .get_or_init(|| memmem::find(self.body.as_bytes(), TRACE_DUMP.as_bytes()).is_some())
    }

    /// Whether trace prefixes are shown (they are hidden by default).
    pub fn trace_prefix_shown(&self) -> bool {
        self.trace_prefix
    }

    /// Shows or hides the trace prefixes; returns whether they are shown.
    pub fn toggle_trace_prefix(&mut self) -> bool {
        self.trace_prefix = !self.trace_prefix;
        self.trace_prefix
    }

    /// Bytes of `line` hidden as its trace prefix, when it has one and
    /// prefixes are hidden.
    fn hidden_prefix(&self, line: &str) -> usize {
        if self.trace_prefix {
            return 0;
        }
        trace_prefix_len(line).unwrap_or(0)
    }

    /// The section's index in a rebuilt report (live mode keeps the pane).
    pub fn set_section(&mut self, section: usize) {
        self.section = Some(section);
    }

    fn index(&self) -> &LineIndex {
        self.index.get_or_init(|| LineIndex::build(&self.body))
    }

    /// Lines shown: all, or the filtered ones.
    pub fn row_count(&self) -> usize {
        match &self.filter {
            Some(f) => f.lines.len(),
            None => self.index().len(),
        }
    }

    /// The body line shown on `row`.
    pub fn line_at_row(&self, row: usize) -> usize {
        match &self.filter {
            Some(f) => f.lines.get(row).map_or(usize::MAX, |&l| l as usize),
            None => row,
        }
    }

    /// The row showing body line `line`, or the first row after it.
    pub fn row_of_line(&self, line: usize) -> usize {
        match &self.filter {
            Some(f) => f.lines.partition_point(|&l| (l as usize) < line),
            None => line,
        }
    }

    fn shown(&self, line: usize) -> bool {
        match &self.filter {
            Some(f) => f.lines.binary_search(&(line as u32)).is_ok(),
            None => true,
        }
    }

    /// Byte offset of the start of the line shown on `row`.
    pub fn offset_of_row(&self, row: usize) -> usize {
        let line = self.line_at_row(row);
        let index = self.index();
        if line < index.len() {
            index.start(line)
        } else {
            self.body.len()
        }
    }

    pub fn query(&self) -> &str {
        self.search.as_ref().map_or("", |s| s.query.as_str())
    }

    pub fn filter_text(&self) -> &str {
        self.filter.as_ref().map_or("", |f| f.text.as_str())
    }

    pub fn current_match(&self) -> Option<usize> {
        self.search.as_ref().and_then(|s| s.current)
    }

    /// How the search query is read (also once it is cleared).
    pub fn search_mode(&self) -> FindMode {
        self.search_mode
    }

    /// How the filter is read (also once it is cleared).
    pub fn filter_mode(&self) -> FindMode {
        self.filter_mode
    }

    /// Sets the search query as plain text (empty clears it).
    pub fn set_query(&mut self, query: &str) {
        // Text needles cannot fail.
        let _ = self.set_search(query, FindMode::Text);
    }

    /// Sets the search query (empty clears it) and counts its matches on the
    /// shown lines; the current match is cleared. An invalid regex, or one
    /// matching empty text, clears the search (nothing is highlighted) and
    /// gives the one-line reason.
    pub fn set_search(&mut self, query: &str, mode: FindMode) -> Result<(), FindError> {
        self.search_mode = mode;
        let needle = Needle::for_search(query, mode);
        let ok = needle.as_ref().map(|_| ()).map_err(Clone::clone);
        self.search = needle.ok().flatten().map(|needle| Search {
            query: query.to_string(),
            needle,
            current: None,
            counted: Vec::new(),
            capped: false,
        });
        self.recount();
        ok
    }

    fn recount(&mut self) {
        let Some(s) = &self.search else { return };
        let (counted, capped) = find::count(&self.body, self.index(), &s.needle, |l| self.shown(l));
        if let Some(s) = &mut self.search {
            s.counted = counted;
            s.capped = capped;
        }
    }

    pub fn set_current(&mut self, current: Option<usize>) {
        if let Some(s) = &mut self.search {
            s.current = current;
        }
    }

    /// Sets the filter as plain text (empty clears it). Returns the number
    /// of lines shown.
    pub fn set_filter(&mut self, text: &str) -> usize {
        match self.apply_filter(text, FindMode::Text) {
            Ok(shown) => shown,
            Err(_) => self.row_count(),
        }
    }

    /// Sets the filter (empty clears it). Returns the number of lines shown;
    /// an invalid regex changes nothing and gives the one-line reason.
    pub fn apply_filter(&mut self, text: &str, mode: FindMode) -> Result<usize, FindError> {
        let needle = Needle::for_filter(text, mode)?;
        self.filter_mode = mode;
        self.filter = needle.map(|needle| Filter {
            text: text.to_string(),
            mode,
            lines: find::filter_lines(&self.body, self.index(), &needle),
        });
        if let Some(c) = self.current_match() {
            if !self.shown(self.index().line_of(c)) {
                self.set_current(None);
            }
        }
        self.recount();
        Ok(self.row_count())
    }

    /// Moves to the next (or previous) match on a shown line from byte
    /// `from` (inclusive going forward), wrapping around once.
    pub fn jump_from(&mut self, from: usize, inclusive: bool, forward: bool) -> Option<Jump> {
        let s = self.search.as_ref()?;
        let hay = self.body.as_bytes();
        let index = self.index();
        let step = |pos: usize| -> Option<usize> {
            if !forward {
                return s
                    .needle
                    .rfind_where(hay, pos, |at| self.shown(index.line_of(at)));
            }
            let mut pos = pos;
            loop {
                let at = s.needle.find(hay, pos)?;
                let line = index.line_of(at);
                if self.shown(line) {
                    return Some(at);
                }
                // Skip the rest of a hidden line.
                pos = if line + 1 < index.len() {
                    index.start(line + 1)
                } else {
                    hay.len() + 1
                };
            }
        };
        let first = if forward {
            step(if inclusive {
                from
            } else {
                s.needle.after(hay, from)
            })
        } else {
            step(from)
        };
        let (at, wrapped) = match first {
            Some(at) => (at, false),
            None => (step(if forward { 0 } else { hay.len() })?, true),
        };
        let row = self.row_of_line(index.line_of(at));
        self.set_current(Some(at));
        Some(Jump { row, wrapped })
    }

    /// "match k of n", "match k of n+", or where the current match is.
    pub fn match_status(&self) -> String {
        let Some(s) = &self.search else {
            return "no search".into();
        };
        if s.counted.is_empty() {
            let on = if self.filter.is_some() {
                " in the filtered lines"
            } else {
                ""
            };
            return format!("no match for {}{on}", s.needle.mode().quote(&s.query));
        }
        let n = if s.capped {
            format!("{}+", s.counted.len())
        } else {
            s.counted.len().to_string()
        };
        match s.current {
            Some(c) => match s.counted.binary_search(&c) {
                Ok(k) => format!("match {} of {n}", k + 1),
                Err(_) => format!(
                    "match on line {} ({n} matches)",
                    self.index().line_of(c) + 1
                ),
            },
            None => format!("{n} matches"),
        }
    }

    /// Highlight ranges of line `i` (bytes within the line): search hits.
    fn search_marks(&self, theme: &Theme, i: usize, line: &str) -> Vec<(Range<usize>, Style)> {
        let Some(s) = &self.search else {
            return Vec::new();
        };
        let start = self.index().start(i);
        // Up to the newline: the matches the body search finds on this line.
        let end = if i + 1 < self.index().len() {
            self.index().start(i + 1) - 1
        } else {
            self.body.len()
        };
        s.needle
            .matches(self.body.as_bytes(), start..end)
            .map(|m| {
                let style = if s.current == Some(m.start) {
                    theme.current_match
                } else {
                    theme.matched
                };
                let at = m.start - start;
                (at..(m.end - start).min(line.len()).max(at), style)
            })
            .collect()
    }

    /// For live mode: the query, filter and their modes, to carry to the
    /// rebuilt pane.
    pub fn find_state(&self) -> FindState {
        FindState {
            query: self.query().to_string(),
            search_mode: self.search_mode,
            filter: self.filter_text().to_string(),
            filter_mode: self.filter_mode,
        }
    }

    /// Live mode: the section grew to `body`. When `body` starts with the
    /// current body, the pane keeps its search, filter and current match and
    /// scans only the new lines; otherwise nothing changes and this returns
    /// false (the caller builds a new pane).
    pub fn grow(&mut self, body: Text) -> bool {
        let old_len = self.body.len();
        if body.len() < old_len || body.as_bytes()[..old_len] != *self.body.as_bytes() {
            return false;
        }
        if self.has_trace.get() == Some(&false) {
            // Only the new bytes (and an event name cut at the old end)
            // may bring trace lines.
            let tail = &body.as_bytes()[old_len.saturating_sub(TRACE_DUMP.len())..];
            if memmem::find(tail, TRACE_DUMP.as_bytes()).is_some() {
                self.has_trace = OnceCell::from(true);
            }
        }
        let Some(index) = self.index.take() else {
            // Never drawn nor searched: nothing to extend.
            self.body = body;
            return true;
        };
        // The old last line may have been cut mid-line: scan from its start.
        let first_line = index.len().saturating_sub(1);
        let index = index.extend(&body, old_len);
        let from = if index.is_empty() {
            0
        } else {
            index.start(first_line.min(index.len() - 1))
        };
        self.body = body;
        if let Some(f) = &mut self.filter {
            f.lines.retain(|&l| (l as usize) < first_line);
            // It was valid when applied.
            if let Ok(Some(needle)) = Needle::for_filter(&f.text, f.mode) {
                f.lines
                    .extend(find::filter_lines_from(&self.body, &index, &needle, from));
            }
        }
        let _ = self.index.set(index);
        if let Some(s) = &self.search {
            let mut counted = s.counted.clone();
            counted.retain(|&at| at < from);
            let capped = find::count_into(
                &mut counted,
                &self.body,
                self.index(),
                &s.needle,
                from,
                |l| self.shown(l),
            );
            if let Some(s) = &mut self.search {
                s.counted = counted;
                s.capped = capped;
            }
        }
        true
    }

    /// Applies a [`TextPane::find_state`]: the filter, then the search.
    pub fn restore_find_state(&mut self, state: &FindState) {
        // Both were valid when saved; an error would leave them cleared.
        let _ = self.apply_filter(&state.filter, state.filter_mode);
        let _ = self.set_search(&state.query, state.search_mode);
    }
}

impl Pane for TextPane {
    fn title(&self, _ctx: &Ctx<'_>) -> String {
        self.title.clone()
    }

    fn section(&self) -> Option<usize> {
        self.section
    }

    fn text(&self) -> Option<&TextPane> {
        Some(self)
    }

    fn text_mut(&mut self) -> Option<&mut TextPane> {
        Some(self)
    }

    fn border_note(&self) -> Option<String> {
        let filter = self.filter.as_ref().map(|f| {
            let text = match f.mode {
                FindMode::Text => f.text.clone(),
                FindMode::Regex => f.mode.quote(&f.text),
            };
            format!(
                "filter: {text} ({} of {} lines)",
                f.lines.len(),
                self.index().len()
            )
        });
        let prefix =
            (!self.trace_prefix && self.has_trace_prefix()).then_some("trace prefix hidden");
        match (filter, prefix) {
            (Some(f), Some(p)) => Some(format!("{f} · {p}")),
            (f, p) => f.or(p.map(str::to_string)),
        }
    }

    fn line_count(&self, _ctx: &Ctx<'_>, _width: u16) -> usize {
        self.row_count()
    }

    fn render(&self, ctx: &Ctx<'_>, area: Rect, scroll: usize, buf: &mut Buffer) {
        let theme = ctx.theme;
        let index = self.index();
        let total = index.len();
        let rows = self.row_count();
        if total == 0 || rows == 0 {
            let text = match &self.filter {
                Some(f) if total > 0 && f.mode.is_regex() => format!(
                    "(no line matches {}; & then Enter clears the filter)",
                    f.mode.quote(&f.text)
                ),
                Some(f) if total > 0 => format!(
                    "(no line contains \"{}\"; & then Enter clears the filter)",
                    f.text
                ),
                _ => "(empty section)".to_string(),
            };
            let line = Line::styled(crate::widgets::visible::string(&text), theme.dim);
            buf.set_line(area.x, area.y, &line, area.width);
            return;
        }
        // Lines of the selected crash get a heavier gutter mark.
        let crash_lines = ctx
            .crash
            .map(|(_, c)| &c.origin)
            .filter(|o| Some(o.section) == self.section)
            .map(|o| o.first_line..=o.last_line);

        let digits = text_line::gutter_digits(total, area.width);
        let text_width = usize::from(area.width) - digits.map_or(0, |d| d + 1);
        let first = scroll.min(rows - 1);
        for (row, r) in area.rows().zip(first..rows) {
            let i = self.line_at_row(r);
            let raw = index.line(&self.body, i);
            let mut marks = log_marks(theme, raw);
            marks.extend(self.search_marks(theme, i, raw));
            // Marks count from the line's start, so they still fall on
            // the right characters with the prefix hidden.
            let skip = self.hidden_prefix(raw);
            let fitted = text_line::fit(&raw[skip..], skip, text_width, &marks);
            let mut spans = Vec::with_capacity(fitted.spans.len() + 3);
            if let Some(digits) = digits {
                let in_crash = crash_lines.as_ref().is_some_and(|r| r.contains(&i));
                spans.extend(text_line::gutter(i, digits, in_crash, theme));
            }
            spans.extend(fitted.spans);
            if fitted.cut_at.is_some() {
                spans.push(Span::styled("…", theme.dim));
            }
            buf.set_line(row.x, row.y, &Line::from(spans), row.width);
        }
    }
}

/// The ftrace event whose lines are the dump's: what follows it is the
/// dump's own text.
const TRACE_DUMP: &str = "sched_ext_dump:";

/// The length of the ftrace prefix of a `sched_ext_dump:` line
/// (`  kworker/u8:2-87  [001] d..1.  12.345678: sched_ext_dump: `), up to the
/// dump's text, whose indentation is kept. `None` for other lines: the event
/// name must follow the prefix's `TIMESTAMP: `, within the first
/// [`COLOUR_SCAN`] bytes.
pub(crate) fn trace_prefix_len(line: &str) -> Option<usize> {
    let head = &line.as_bytes()[..line.len().min(COLOUR_SCAN)];
    let at = memmem::find(head, TRACE_DUMP.as_bytes())?;
    let before = &head[..at];
    // `TIMESTAMP: ` right before, and a `[CPU]` somewhere: a trace line, not
    // a message quoting the event's name.
    let stamped = before.ends_with(b": ")
        && before[..before.len() - 2]
            .iter()
            .rev()
            .take_while(|&&b| b != b' ')
            .all(|&b| b.is_ascii_digit() || b == b'.');
    if !stamped || memchr::memchr(b']', before).is_none() {
        return None;
    }
    let mut end = at + TRACE_DUMP.len();
    if head.get(end) == Some(&b' ') {
        end += 1;
    }
    Some(end)
}

/// Log colouring of one line: kernel timestamps dimmed, level words in the
/// error, warning or dim role, `EXIT:` and `sched_ext:` lines highlighted.
/// Looks at the first [`COLOUR_SCAN`] bytes only.
pub(crate) fn log_marks(theme: &Theme, line: &str) -> Vec<(Range<usize>, Style)> {
    let mut end = line.len().min(COLOUR_SCAN);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    let head = &line.as_bytes()[..end];
    let mut marks = Vec::new();
    if memmem::find(head, b"EXIT:").is_some() {
        marks.push((0..line.len(), theme.error));
    } else if memmem::find(head, b"sched_ext:").is_some() {
        marks.push((0..line.len(), theme.label));
    }
    if let Some(ts) = kernel_timestamp(head) {
        marks.push((ts, theme.dim));
    }
    const LEVELS: &[(&str, u8)] = &[
        ("ERROR", 0),
        ("error:", 0),
        ("BUG:", 0),
        ("Oops", 0),
        ("panic", 0),
        ("WARN", 1),
        ("warning", 1),
        ("INFO", 2),
        ("DEBUG", 2),
    ];
    for &(word, role) in LEVELS {
        let mut pos = 0;
        while let Some(i) = memmem::find(&head[pos..], word.as_bytes()) {
            let at = pos + i;
            pos = at + word.len();
            if at > 0 && head[at - 1].is_ascii_alphanumeric() {
                continue;
            }
            let style = match role {
                0 => theme.error,
                1 => theme.warning,
                _ => theme.dim,
            };
            marks.push((at..at + word.len(), style));
            break;
        }
    }
    marks
}

/// `[  123.456789]` at the start of a line (after spaces or a `<6>` level).
fn kernel_timestamp(head: &[u8]) -> Option<Range<usize>> {
    let mut i = 0;
    if head.first() == Some(&b'<') {
        i = memchr::memchr(b'>', &head[..head.len().min(6)])? + 1;
    }
    while head.get(i) == Some(&b' ') {
        i += 1;
    }
    let open = i;
    if head.get(i) != Some(&b'[') {
        return None;
    }
    i += 1;
    let close = i + memchr::memchr(b']', &head[i..head.len().min(i + 24)])?;
    let inner = &head[i..close];
    let ok = inner.contains(&b'.')
        && inner
            .iter()
            .all(|&b| b == b' ' || b == b'.' || b.is_ascii_digit())
        && inner.iter().any(u8::is_ascii_digit);
    ok.then_some(open..close + 1)
}

/// The tab title of a section's text pane: its name, except where that
/// would read like another tab's (the Timeline and Auto-repro panes draw
/// the same sections; `monitor` and `monitor samples` are two sections).
fn section_title(kind: &SectionKind) -> &str {
    match kind {
        SectionKind::Timeline => "timeline text",
        SectionKind::AutoRepro => "auto-repro text",
        SectionKind::Monitor => "monitor summary",
        SectionKind::MonitorSamples => "raw samples",
        SectionKind::FailureDump => "failure dump text",
        SectionKind::ReproFailureDump => "repro failure dump text",
        other => other.name(),
    }
}

/// The pane list's entry: one text pane per section, in report order.
pub fn panes(report: &Report) -> Vec<Box<dyn Pane>> {
    report
        .sections
        .iter()
        .enumerate()
        .map(|(i, section)| Box::new(TextPane::for_section(i, section)) as Box<dyn Pane>)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::theme::Theme;
    use scxray::report::{Header, Report};

    #[test]
    fn renders_only_what_fits_and_marks_cut_lines() {
        let report = Report {
            header: Header::default(),
            sections: Vec::new(),
            crashes: Vec::new(),
            selected: None,
            notes: Vec::new(),
        };
        let theme = Theme::plain();
        let ctx = Ctx {
            report: &report,
            crash: None,
            theme: &theme,
            workbench: None,
            frame: None,
            probe: None,
            source: &crate::source_lookup::SourceState::Idle,
        };
        let body: String = (1..=12)
            .map(|i| format!("line {i} {}\n", "x".repeat(i)))
            .collect();
        let pane = TextPane::new("log".into(), None, Text::from(body));
        assert_eq!(pane.line_count(&ctx, 0), 12);
        let area = Rect::new(0, 0, 16, 3);
        let mut buf = Buffer::empty(area);
        pane.render(&ctx, area, 9, &mut buf);
        assert_eq!(
            buf,
            Buffer::with_lines(["10│line 10 xxxx…", "11│line 11 xxxx…", "12│line 12 xxxx…",])
        );
    }
}

#[cfg(test)]
mod find_tests {
    use super::*;

    fn pane(body: &str) -> TextPane {
        TextPane::new("log".into(), None, Text::from(body.to_string()))
    }

    #[test]
    fn a_grown_body_keeps_search_and_filter_as_if_built_anew() {
        let old = "a dsq 1\nidle\nb dsq";
        let new = "a dsq 1\nidle\nb dsq 2\nidle\nc dsq 3\n";
        let mut p = pane(old);
        p.apply_filter("dsq", FindMode::Text).unwrap();
        p.set_search(r"dsq \d", FindMode::Regex).unwrap();
        assert_eq!(p.match_status(), "1 matches");
        assert!(p.grow(Text::from(new.to_string())));
        let mut fresh = pane(new);
        fresh.apply_filter("dsq", FindMode::Text).unwrap();
        fresh.set_search(r"dsq \d", FindMode::Regex).unwrap();
        assert_eq!(p.match_status(), fresh.match_status());
        assert_eq!(p.match_status(), "3 matches");
        assert_eq!(p.row_count(), fresh.row_count());
        assert_eq!(p.border_note(), fresh.border_note());
        // Not an append: the caller must build a new pane.
        assert!(!p.grow(Text::from("other".to_string())));
        assert_eq!(p.row_count(), 3);
    }

    #[test]
    fn regex_search_marks_and_jumps_over_hidden_lines() {
        let body = "cpu 1 dsq_id 0x8\nidle\ndsq_id 0x1f and dsq_id 0x2\nidle dsq_id 0x3\n";
        let mut p = pane(body);
        p.set_search(r"dsq_id 0x[0-9a-f]+", FindMode::Regex)
            .unwrap();
        assert_eq!(p.match_status(), "4 matches");
        let t = Theme::dark();
        let line = p.index().line(body, 2);
        let marks: Vec<Range<usize>> = p
            .search_marks(&t, 2, line)
            .into_iter()
            .map(|m| m.0)
            .collect();
        assert_eq!(marks, [0..11, 16..26]);
        // Hide line 2: n/N skip its two matches both ways.
        assert_eq!(p.apply_filter("^cpu|^idle ", FindMode::Regex), Ok(2));
        assert_eq!(p.match_status(), "2 matches");
        let j = p.jump_from(0, true, true).unwrap();
        assert_eq!((j.row, p.current_match()), (0, Some(6)));
        let j = p.jump_from(6, false, true).unwrap();
        assert_eq!((j.row, j.wrapped), (1, false));
        assert_eq!(p.match_status(), "match 2 of 2");
        let j = p
            .jump_from(p.current_match().unwrap(), false, false)
            .unwrap();
        assert_eq!((j.row, j.wrapped, p.current_match()), (0, false, Some(6)));
        assert_eq!(
            p.border_note().unwrap(),
            "filter: /^cpu|^idle / (2 of 4 lines)"
        );
    }

    #[test]
    fn errors_keep_the_filter_and_clear_the_search() {
        let mut p = pane("a\nb\nab\n");
        p.apply_filter("a", FindMode::Text).unwrap();
        p.set_search("b", FindMode::Text).unwrap();
        assert!(p.apply_filter("(", FindMode::Regex).is_err());
        assert_eq!((p.filter_text(), p.row_count()), ("a", 2));
        assert_eq!(p.filter_mode(), FindMode::Text);
        let e = p.set_search("b|", FindMode::Regex).unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
        assert_eq!((p.query(), p.search_mode()), ("", FindMode::Regex));
        assert_eq!(p.match_status(), "no search");
    }

    #[test]
    fn find_state_carries_the_modes() {
        let body = "x1\ny22\nx333\n";
        let mut p = pane(body);
        p.apply_filter(r"^x\d", FindMode::Regex).unwrap();
        p.set_search(r"\d+", FindMode::Regex).unwrap();
        let state = p.find_state();
        assert_eq!(
            state,
            FindState {
                query: r"\d+".into(),
                search_mode: FindMode::Regex,
                filter: r"^x\d".into(),
                filter_mode: FindMode::Regex,
            }
        );
        let mut q = pane(body);
        q.restore_find_state(&state);
        assert_eq!(q.find_state(), state);
        assert_eq!((q.row_count(), q.match_status()), (2, "2 matches".into()));
        // A cleared search keeps its mode for the next prompt.
        q.set_search("", FindMode::Regex).unwrap();
        assert_eq!(q.find_state().search_mode, FindMode::Regex);
    }
}

#[cfg(test)]
mod trace_prefix_tests {
    use super::*;
    use scxray::report::Header;

    #[test]
    fn finds_the_prefix_of_dump_lines_only() {
        let line = "  kworker/u8:2-87  [001] d..1.  12.345678: sched_ext_dump: CPU 1: nr_run=2";
        let n = trace_prefix_len(line).unwrap();
        assert_eq!(&line[n..], "CPU 1: nr_run=2");
        // The dump's indentation is kept.
        let line =
            "  cc1plus-77120   [003] d.h2.   412.880127: sched_ext_dump:   scx_bpf_error (x)";
        assert_eq!(
            &line[trace_prefix_len(line).unwrap()..],
            "  scx_bpf_error (x)"
        );
        let empty = "  cc1plus-77120   [003] d.h2.   412.880134: sched_ext_dump: ";
        assert_eq!(trace_prefix_len(empty), Some(empty.len()));
        // Other events, plain dump lines and a message quoting the event stay whole.
        assert_eq!(
            trace_prefix_len("  ninja-77002   [019] dN.2.   412.880130: sched_ext_event: name X"),
            None
        );
        assert_eq!(trace_prefix_len("CPU 1   : nr_run=2"), None);
        assert_eq!(trace_prefix_len("[1.0] grep sched_ext_dump: trace"), None);
    }

    #[test]
    fn hides_the_prefix_keeps_numbers_and_search_marks_and_toggles() {
        let report = Report {
            header: Header::default(),
            sections: Vec::new(),
            crashes: Vec::new(),
            selected: None,
            notes: Vec::new(),
        };
        let theme = Theme::dark();
        let ctx = Ctx {
            report: &report,
            crash: None,
            theme: &theme,
            workbench: None,
            frame: None,
            probe: None,
            source: &crate::source_lookup::SourceState::Idle,
        };
        let body = "# tracer: nop\n \
            kworker/1:2-97 [001] d..1. 36.188317: sched_ext_dump: kworker/1:2[97] triggered\n \
            kworker/1:2-97 [001] d..1. 36.188324: sched_ext_dump:   runnable task stall\n";
        let mut pane = TextPane::new("dump".into(), None, Text::from(body.to_string()));
        assert!(pane.has_trace_prefix());
        assert_eq!(pane.border_note().as_deref(), Some("trace prefix hidden"));
        pane.set_query("stall");
        let area = Rect::new(0, 0, 30, 3);
        let mut buf = Buffer::empty(area);
        pane.render(&ctx, area, 0, &mut buf);
        let rows: Vec<String> = (0..3)
            .map(|y| (0..30).map(|x| buf[(x, y)].symbol()).collect())
            .collect();
        assert_eq!(
            rows,
            [
                "1│# tracer: nop               ",
                "2│kworker/1:2[97] triggered   ",
                "3│  runnable task stall       ",
            ]
        );
        // The search mark is on "stall", where it is drawn.
        let matched = |x: u16| {
            let style = buf[(x, 2)].style();
            style == style.patch(theme.matched)
        };
        assert!(matched(18) && matched(22), "{:?}", buf[(18, 2)]);
        assert!(!matched(17));
        // A pane without trace lines learns of them as it grows.
        let mut live = TextPane::new("log".into(), None, Text::from("boot\n".to_string()));
        assert!(!live.has_trace_prefix());
        assert!(live.grow(Text::from(format!("boot\n{body}"))));
        assert!(live.has_trace_prefix());
        assert!(pane.toggle_trace_prefix());
        assert_eq!(pane.border_note(), None);
        let mut buf = Buffer::empty(area);
        pane.render(&ctx, area, 1, &mut buf);
        let row: String = (0..30).map(|x| buf[(x, 0)].symbol()).collect();
        assert_eq!(row, "2│ kworker/1:2-97 [001] d..1.…");
    }
}

#[cfg(test)]
mod colour_tests {
    use super::*;

    #[test]
    fn log_lines_are_coloured_by_role() {
        let t = Theme::dark();
        let line = "[  123.456789] sched_ext: BPF scheduler \"x\" disabled (runtime error)";
        let marks = log_marks(&t, line);
        assert!(marks.contains(&(0..line.len(), t.label)), "{marks:?}");
        assert!(marks.contains(&(0..14, t.dim)), "{marks:?}");
        let line = "<4>[    1.5] WARN foo: error: bar";
        let marks = log_marks(&t, line);
        assert!(marks.contains(&(3..12, t.dim)), "{marks:?}");
        assert!(marks.contains(&(13..17, t.warning)), "{marks:?}");
        assert!(marks.contains(&(23..29, t.error)), "{marks:?}");
        let marks = log_marks(&t, "12:00 ERROR EXIT: scx_bpf_error");
        assert_eq!(marks[0], (0..31, t.error));
        // Inside a word is not a level; a bracket without a time is not a stamp.
        assert!(log_marks(&t, "[cpu0] PREINFO").is_empty());
    }

    #[test]
    fn marks_style_the_characters_they_cover() {
        let t = Theme::dark();
        let fitted = text_line::fit("ab\tcd", 0, 20, &[(1..4, t.matched)]);
        assert!(fitted.cut_at.is_none());
        let parts: Vec<(&str, Style)> = fitted
            .spans
            .iter()
            .map(|s| (s.content.as_ref(), s.style))
            .collect();
        assert_eq!(
            parts,
            [
                ("a", Style::new()),
                ("b      c", t.matched),
                ("d", Style::new())
            ]
        );
    }
}
