//! The panes listed in the tab bar, one per file, and what they share.
//!
//! A pane is anything implementing [`Pane`]. Adding one means writing its file
//! and adding its name to the `pane_list!` below; the tab bar, digit keys,
//! scrolling and the position shown in the border come for free from the app.
//!
//! Panes draw from `&self` and a read-only [`Ctx`]: drawing never mutates app
//! state. Caches of derived data (a text pane's line index, the Source
//! pane's highlighted code) sit in cells and depend only on the pane's input.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use scxray::report::{Crash, Report, SectionKind};
use unicode_width::UnicodeWidthChar;

use crate::theme::Theme;

pub mod export;
pub mod help;
pub mod monitor_chart;

/// Declares each pane module and lists it in tab order: a report gets the
/// panes each module's `panes(&Report)` returns, in this order.
macro_rules! pane_list {
    ($($pane:ident),* $(,)?) => {
        $(pub mod $pane;)*
        const PANE_LIST: &[fn(&Report) -> Vec<Box<dyn Pane>>] = &[$($pane::panes),*];
    };
}

// Adding a pane: write `panes/NAME.rs` with a `Pane` impl and
// `pub fn panes(&Report) -> Vec<Box<dyn Pane>>`, then add NAME here. The
// workbench stays last.
pane_list! {
    summary,
    backtrace,
    cpu_states,
    timeline,
    monitor_live,
    failure_dump,
    auto_repro,
    text,
    source,
    notes,
    workbench,
}

/// What a pane may read while drawing or measuring.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub report: &'a Report,
    /// The selected crash and its index in `report.crashes`.
    pub crash: Option<(usize, &'a Crash)>,
    pub theme: &'a Theme,
    /// The matcher workbench's state, for its pane.
    pub workbench: Option<&'a crate::workbench::Workbench>,
    /// The backtrace frame selected, if any.
    pub frame: Option<usize>,
    /// The auto-repro function selected, if any (it then has the Source
    /// pane, not the frame).
    pub probe: Option<usize>,
    /// Where that frame's function is defined, or how the lookup stands.
    pub source: &'a crate::source_lookup::SourceState,
}

/// An overlay of `line_count` lines (plus borders) at most `max_width` wide,
/// centred, leaving the title and status bars visible on a tall enough screen.
pub fn centred_popup(screen: Rect, line_count: usize, max_width: u16) -> Rect {
    let screen = if screen.height >= 8 {
        Rect {
            y: screen.y + 1,
            height: screen.height - 2,
            ..screen
        }
    } else {
        screen
    };
    let width = screen.width.min(max_width);
    let wanted = u16::try_from(line_count + 2).unwrap_or(u16::MAX);
    let height = screen.height.min(wanted);
    Rect {
        x: screen.x + (screen.width - width) / 2,
        y: screen.y + (screen.height - height) / 2,
        width,
        height,
    }
}

/// What a pane shows, independent of where it sits in the tab bar: the
/// letter keys (`l` scheduler log, `d` dump...) go by role, so they reach the
/// same pane whatever sections a report has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Summary,
    Backtrace,
    CpuStates,
    Timeline,
    Source,
    Stats,
    Diagnostics,
    SchedulerLog,
    Monitor,
    SchedExtDump,
    AutoRepro,
    /// scxray's failure dump pane (not its text pane).
    FailureDump,
    Console,
    Workbench,
}

impl Role {
    /// The role of a pane showing a section of this kind.
    pub fn of_section(kind: &SectionKind) -> Option<Role> {
        Some(match kind {
            SectionKind::Stats => Role::Stats,
            SectionKind::Diagnostics => Role::Diagnostics,
            SectionKind::SchedulerLog => Role::SchedulerLog,
            SectionKind::Monitor => Role::Monitor,
            SectionKind::SchedExtDump => Role::SchedExtDump,
            SectionKind::AutoRepro => Role::AutoRepro,
            SectionKind::Console => Role::Console,
            _ => return None,
        })
    }

    /// How help and the status bar name it.
    pub fn name(self) -> &'static str {
        match self {
            Role::Summary => "summary",
            Role::Backtrace => "backtrace",
            Role::CpuStates => "CPU states",
            Role::Timeline => "timeline",
            Role::Source => "source",
            Role::Stats => "stats",
            Role::Diagnostics => "diagnostics",
            Role::SchedulerLog => "scheduler log",
            Role::Monitor => "monitor",
            Role::SchedExtDump => "sched_ext dump",
            Role::AutoRepro => "auto-repro",
            Role::FailureDump => "failure dump",
            Role::Console => "console",
            Role::Workbench => "workbench",
        }
    }

    /// Why a report has no pane for this role, and how to get one.
    pub fn absent_reason(self) -> &'static str {
        match self {
            Role::Timeline => "no timeline: ktstr prints one only when the monitor sampled phases",
            Role::Monitor => {
                "no monitor section in this report: ktstr prints one only for an active \
                 scx scheduler with monitor data"
            }
            Role::AutoRepro => {
                "no auto-repro section in this report: ktstr adds one when it reran a crash \
                 with probes"
            }
            Role::FailureDump => {
                "no failure dump in this report: a live run writes one when it froze the guest \
                 at the scheduler's error exit"
            }
            Role::Stats => "no stats section in this report",
            Role::Diagnostics => "no diagnostics section in this report",
            Role::SchedulerLog => "no scheduler log in this report",
            Role::SchedExtDump => "no sched_ext dump in this report",
            Role::Console => "no console section in this report",
            _ => "that pane is not available",
        }
    }
}

/// One entry of the tab bar.
pub trait Pane {
    /// Tab and border label.
    fn title(&self, ctx: &Ctx<'_>) -> String;

    /// The report section this pane shows, if it shows one.
    fn section(&self) -> Option<usize> {
        None
    }

    /// What the pane shows, for the letter keys; section panes take theirs
    /// from the section's kind (see [`role_of`]).
    fn role(&self) -> Option<Role> {
        None
    }

    /// True when the content changes with the selected crash, so its scroll
    /// position is reset when another crash is selected.
    fn follows_crash(&self) -> bool {
        false
    }

    /// The content for small panes, built per frame; `width` is the inner width
    /// for panes that wrap.
    fn lines<'a>(&'a self, ctx: &Ctx<'a>, width: u16) -> Vec<Line<'a>> {
        let _ = (ctx, width);
        Vec::new()
    }

    /// How many lines the content has at this width: the scroll bound.
    fn line_count(&self, ctx: &Ctx<'_>, width: u16) -> usize {
        self.lines(ctx, width).len()
    }

    /// Rows of `body` the scrolling content gets (the scroll bound and page
    /// size); less than the body for panes with a fixed part.
    fn viewport_rows(&self, ctx: &Ctx<'_>, body: Rect) -> usize {
        let _ = ctx;
        usize::from(body.height)
    }

    /// The pane as a text pane, for search and filter.
    fn text(&self) -> Option<&text::TextPane> {
        None
    }

    fn text_mut(&mut self) -> Option<&mut text::TextPane> {
        None
    }

    /// The content line of each item j/k select (the auto-repro pane's
    /// functions); empty for panes that scroll by line.
    fn item_lines(&self, ctx: &Ctx<'_>) -> Vec<usize> {
        let _ = ctx;
        Vec::new()
    }

    /// The backtrace frame shown on content line `line`, for clicks.
    fn frame_at_line(&self, ctx: &Ctx<'_>, line: usize) -> Option<usize> {
        let _ = (ctx, line);
        None
    }

    /// Switches to the pane's other view (the Failure dump pane: the
    /// auto-repro VM's dump and back); what it shows now, for the status
    /// bar, or `None` when the pane has no other view.
    fn toggle_alternate(&mut self) -> Option<String> {
        None
    }

    /// Whether [`Pane::toggle_alternate`] does anything.
    fn has_alternate(&self) -> bool {
        false
    }

    /// Extra state for the border title (an active filter).
    fn border_note(&self) -> Option<String> {
        None
    }

    /// Draws the content from line `scroll` on into `area`; a line wider
    /// than the area ends in a `…` mark rather than being cut silently.
    fn render(&self, ctx: &Ctx<'_>, area: Rect, scroll: usize, buf: &mut Buffer) {
        render_lines_marked(
            self.lines(ctx, area.width),
            area,
            scroll,
            ctx.theme.dim,
            buf,
        );
    }
}

/// The panes for a report, in tab order (see [`pane_list!`]): the fixed
/// ones, one per section, the selected frame's source, notes, then the
/// matcher workbench, always last (`w` jumps there).
pub fn build(report: &Report) -> Vec<Box<dyn Pane>> {
    PANE_LIST.iter().flat_map(|panes| panes(report)).collect()
}

/// A pane's role: its own, or its section's.
pub fn role_of(pane: &dyn Pane, report: &Report) -> Option<Role> {
    pane.role().or_else(|| {
        pane.section()
            .and_then(|i| report.sections.get(i))
            .and_then(|s| Role::of_section(&s.kind))
    })
}

/// Draws `lines[scroll..]`, one per row, clipped to the area's width.
/// Controls in the text (a crash message's escape sequence) are drawn in
/// their visible form (see [`crate::widgets::visible`]).
pub fn render_lines(lines: Vec<Line<'_>>, area: Rect, scroll: usize, buf: &mut Buffer) {
    for (row, line) in area.rows().zip(lines.into_iter().skip(scroll)) {
        let line = crate::widgets::visible::line(line);
        buf.set_line(row.x, row.y, &line, row.width);
    }
}

/// [`render_lines`], with each line wider than the area cut one column
/// short and ended with a `…` in `mark`: a column that does not fit is seen
/// to be cut.
pub fn render_lines_marked(
    lines: Vec<Line<'_>>,
    area: Rect,
    scroll: usize,
    mark: Style,
    buf: &mut Buffer,
) {
    for (row, line) in area.rows().zip(lines.into_iter().skip(scroll)) {
        let line = cut_line(line, usize::from(row.width), mark);
        buf.set_line(row.x, row.y, &line, row.width);
    }
}

/// `line` as it fits `width` columns: whole, or cut to `width - 1` columns
/// and a `…` in `mark`. Controls are measured and drawn in their visible form.
pub fn cut_line(line: Line<'_>, width: usize, mark: Style) -> Line<'_> {
    let line = crate::widgets::visible::line(line);
    if line.width() <= width || width == 0 {
        return line;
    }
    let keep = width - 1;
    let mut cols = 0;
    let mut spans: Vec<Span<'_>> = Vec::new();
    for span in line.spans {
        let mut end = 0;
        for (i, c) in span.content.char_indices() {
            let w = c.width().unwrap_or(0);
            if cols + w > keep {
                break;
            }
            cols += w;
            end = i + c.len_utf8();
        }
        let whole = end == span.content.len();
        let content = match span.content {
            std::borrow::Cow::Borrowed(s) => std::borrow::Cow::Borrowed(&s[..end]),
            std::borrow::Cow::Owned(s) => std::borrow::Cow::Owned(s[..end].to_string()),
        };
        spans.push(Span::styled(content, span.style));
        if !whole {
            break;
        }
    }
    spans.push(Span::styled("…", mark));
    Line { spans, ..line }
}

/// Splits `text` into pieces at most `width` columns wide, breaking after a
/// space where one is near. Always returns at least one piece.
pub fn wrap(text: &str, width: usize) -> Vec<&str> {
    let width = width.max(1);
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut cols = 0;
        let mut cut = rest.len();
        let mut last_space = None;
        for (i, c) in rest.char_indices() {
            let w = c.width().unwrap_or(0);
            if cols + w > width {
                cut = i;
                break;
            }
            cols += w;
            if c == ' ' {
                last_space = Some(i + 1);
            }
        }
        if cut < rest.len() {
            // Prefer a word break unless it would leave a tiny first piece.
            if let Some(s) = last_space.filter(|&s| s > cut / 2) {
                cut = s;
            }
            // A single character wider than the area: take it anyway.
            if cut == 0 {
                cut = rest.chars().next().map_or(rest.len(), char::len_utf8);
            }
        }
        out.push(&rest[..cut]);
        rest = &rest[cut..];
        if !rest.is_empty() {
            // The space a line was broken at is not worth a column.
            rest = rest.trim_start_matches(' ');
        }
    }
    if out.is_empty() {
        out.push("");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_lines_end_in_a_mark() {
        let dim = Style::new().add_modifier(ratatui::style::Modifier::DIM);
        let line = Line::from(vec![Span::raw("#2  "), Span::raw("bpf_prog  BPF program")]);
        assert_eq!(cut_line(line.clone(), 30, dim), line);
        let cut = cut_line(line.clone(), 12, dim);
        assert_eq!(cut.to_string(), "#2  bpf_pro…");
        assert_eq!(cut.spans.last().unwrap().style, dim);
        assert_eq!(cut_line(Line::raw("漢字漢字"), 6, dim).to_string(), "漢字…");
        assert_eq!(cut_line(line.clone(), 1, dim).to_string(), "…");
        assert_eq!(cut_line(line, 0, dim).width(), 25);
    }

    #[test]
    fn wrap_breaks_at_spaces_and_never_loops() {
        assert_eq!(
            wrap("dsq 0x8000 not found", 10),
            ["dsq 0x8000", "not found"]
        );
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 4), [""]);
        assert_eq!(wrap("漢字", 1), ["漢", "字"]);
        assert_eq!(wrap("a b", 0), ["a", "b"]);
    }
}
