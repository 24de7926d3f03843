//! The matcher workbench: draft an `expect_scx_bpf_error_*` pin against the
//! exact corpus ktstr matches, and see on every keystroke whether ktstr would
//! accept it, how often each field matches, every diagnostic, where a
//! missing match stops matching, and whether clean runs match too.
//!
//! This file draws; the state (the two fields, the latest results, the
//! corpus and its scroll) is the [`Workbench`] component in
//! `ui/src/workbench.rs`, which the app owns and hands to [`WorkbenchPane`]
//! through [`Ctx`].

use std::borrow::Cow;
use std::ops::Range;

use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use scxray::matcher::{Evaluation, Field, Severity, Verdict};
use unicode_width::UnicodeWidthChar;

use super::{wrap, Ctx, Pane};
use crate::corpus_view::CorpusView;
use crate::theme::Theme;
use crate::widgets::line_input::LineInput;
use crate::widgets::text_line;
use crate::workbench::Workbench;

/// Rows the corpus view keeps (plus its rule) before info lines are cut.
const MIN_CORPUS_ROWS: u16 = 3;
/// Label column of the two fields.
const LABEL_WIDTH: usize = 11;
/// Room for the match count right of a field.
const COUNT_WIDTH: usize = 14;

impl Workbench {
    /// Splits the pane: info lines on top (cut to leave the corpus
    /// [`MIN_CORPUS_ROWS`]), a rule, then the corpus.
    pub fn layout(&self, ctx: &Ctx<'_>, area: Rect) -> WbLayout {
        let mut info = self.info_lines(ctx, area.width);
        let max_info = if area.height > MIN_CORPUS_ROWS + 3 {
            area.height - MIN_CORPUS_ROWS - 1
        } else {
            area.height
        };
        let max_info = usize::from(max_info);
        if info.len() > max_info && max_info > 0 {
            let hidden = info.len() - max_info + 1;
            info.truncate(max_info - 1);
            info.push(Line::styled(
                format!("… {hidden} more lines: make the terminal taller"),
                ctx.theme.dim,
            ));
        }
        let info_h = u16::try_from(info.len())
            .unwrap_or(u16::MAX)
            .min(area.height);
        let rest = area.height - info_h;
        let rule_h = rest.min(1);
        let corpus_h = rest - rule_h;
        WbLayout {
            info: Rect::new(area.x, area.y, area.width, info_h),
            rule: Rect::new(area.x, area.y + info_h, area.width, rule_h),
            corpus: Rect::new(area.x, area.y + info_h + rule_h, area.width, corpus_h),
            info_lines: info,
        }
    }

    /// Where the terminal cursor goes while editing: in the focused field.
    pub fn cursor_position(&self, layout: &WbLayout) -> Option<Position> {
        if !self.editing {
            return None;
        }
        let row = match self.focus {
            Field::Contains => 0,
            Field::Matches => 1,
        };
        if row >= layout.info.height {
            return None;
        }
        let (_, col) = field_view(self.input(self.focus), field_width(layout.info.width), true);
        let x = layout.info.x + u16::try_from(LABEL_WIDTH + col).ok()?;
        (x < layout.info.right()).then_some(Position::new(x, layout.info.y + row))
    }

    fn info_lines(&self, ctx: &Ctx<'_>, width: u16) -> Vec<Line<'static>> {
        let theme = ctx.theme;
        let width = usize::from(width).max(1);
        let mut out = vec![
            self.field_line(Field::Contains, width, theme),
            self.field_line(Field::Matches, width, theme),
        ];
        let text = |out: &mut Vec<Line<'static>>, s: &str, style: Style| {
            for piece in wrap(s, width) {
                out.push(Line::styled(piece.to_string(), style));
            }
        };
        let pin = self.pin();
        let set = pin.contains.is_some() || pin.matches.is_some();
        // While a search runs, the previous result stays, marked as checking.
        let eval = self.evaluation.as_deref().filter(|_| set);
        if !set {
            text(
                &mut out,
                "Enter or i edits a field: contains is a literal, matches a regex (Tab switches \
                 while editing). ktstr requires every set field to match the scheduler log + \
                 sched_ext dump shown below.",
                theme.dim,
            );
        } else if let Some(e) = eval {
            out.extend(self.verdict_lines(e, width, theme));
            for d in &e.validation.diagnostics {
                let style = match d.severity {
                    Severity::Error => theme.error,
                    Severity::Warning => theme.warning,
                    Severity::Info => theme.dim,
                };
                let mut first = true;
                for line in d.message.lines() {
                    if line.starts_with("    ") {
                        // The caret must stay under the pattern: cut, never wrap.
                        out.push(Line::raw(line.to_string()));
                    } else if first {
                        let head = format!("{}: {line}", d.severity.label());
                        text(&mut out, &head, style);
                    } else {
                        text(&mut out, line, style);
                    }
                    first = false;
                }
                if let Some(s) = &d.suggestion {
                    text(
                        &mut out,
                        &format!("  fix (f): {} = {}", short(s.field), s.pattern),
                        theme.key,
                    );
                }
            }
            if !self.pending() {
                self.hint_lines(e, &mut out, width, theme);
                self.control_lines(&mut out, width, theme);
            }
        } else {
            text(&mut out, "checking…", theme.dim);
        }
        self.suggestion_lines(&mut out, width, theme);
        out
    }

    fn field_line(&self, field: Field, width: usize, theme: &Theme) -> Line<'static> {
        let focused = self.focus == field;
        let marker = match (focused, self.editing) {
            (true, true) => "✎ ",
            (true, false) => "▸ ",
            _ => "  ",
        };
        let label = format!("{marker}{:<w$}", short(field), w = LABEL_WIDTH - 2);
        let input = self.input(field);
        let fw = field_width(u16::try_from(width).unwrap_or(u16::MAX));
        let editing = focused && self.editing;
        let mut spans = vec![Span::styled(
            label,
            if focused { theme.key } else { theme.label },
        )];
        if input.text().is_empty() && !editing {
            let placeholder = match field {
                Field::Contains => "(not set: a literal substring)",
                Field::Matches => "(not set: a regex, regex crate syntax)",
            };
            let p: String = placeholder.chars().take(fw).collect();
            let n = p.chars().count();
            spans.push(Span::styled(p, theme.dim));
            spans.push(Span::raw(" ".repeat(fw.saturating_sub(n))));
        } else {
            let (shown, col) = field_view(input, fw, editing);
            let chars: Vec<char> = shown.chars().collect();
            if editing {
                // Split around the cursor cell so it can be drawn reversed.
                let mut before = String::new();
                let mut at = None;
                let mut after = String::new();
                let mut c = 0;
                for ch in chars {
                    if c < col {
                        before.push(ch);
                    } else if at.is_none() {
                        at = Some(ch.to_string());
                    } else {
                        after.push(ch);
                    }
                    c += ch.width().unwrap_or(0);
                }
                // At the end of the text the cursor sits on a blank cell.
                let at = at.unwrap_or_else(|| " ".to_string());
                let used = col + Line::raw(at.as_str()).width() + Line::raw(after.as_str()).width();
                spans.push(Span::raw(before));
                spans.push(Span::styled(at, theme.cursor));
                spans.push(Span::raw(after));
                spans.push(Span::raw(" ".repeat(fw.saturating_sub(used))));
            } else {
                let used = Line::raw(shown.as_str()).width();
                spans.push(Span::raw(shown));
                spans.push(Span::raw(" ".repeat(fw.saturating_sub(used))));
            }
        }
        let (count, style) = self.count_label(field, theme);
        spans.push(Span::styled(
            format!(" {count:>w$}", w = COUNT_WIDTH - 1),
            style,
        ));
        Line::from(spans)
    }

    fn count_label(&self, field: Field, theme: &Theme) -> (String, Style) {
        if self.input(field).text().is_empty() {
            return (String::new(), theme.dim);
        }
        let Some(e) = self.evaluation.as_deref() else {
            return ("…".into(), theme.dim);
        };
        let stale = self.pending();
        let (label, style) = match e.outcome(field) {
            Some(o) => match o.total {
                0 => ("no match".to_string(), theme.error),
                1 => ("1 match".to_string(), theme.ok),
                n => (format!("{n} matches"), theme.ok),
            },
            None if e
                .validation
                .diagnostics
                .iter()
                .any(|d| d.severity == Severity::Error && d.field == Some(field)) =>
            {
                ("invalid".to_string(), theme.error)
            }
            None => (String::new(), theme.dim),
        };
        if stale {
            (format!("{label}…"), theme.dim)
        } else {
            (label, style)
        }
    }

    fn verdict_lines(&self, e: &Evaluation, width: usize, theme: &Theme) -> Vec<Line<'static>> {
        let both = self.pin().contains.is_some() && self.pin().matches.is_some();
        // The verdict and its wording are the CLI's; the pane adds a style
        // and what the fields make of it.
        let verdict = Verdict::of(e, self.control.as_ref());
        let word = verdict.label();
        let style = match verdict {
            Verdict::Pass => theme.ok,
            Verdict::TooBroad => theme.warning,
            Verdict::Fail | Verdict::Invalid => theme.error,
        };
        let rest = match verdict {
            Verdict::Invalid => format!(
                "{}; through #[ktstr_test] it would silently check nothing",
                verdict.reason()
            ),
            Verdict::Fail if both => format!("{} (both fields must match)", verdict.reason()),
            _ => verdict.reason().to_string(),
        };
        let pending = if self.pending() { " (checking…)" } else { "" };
        let full = format!("{word}  {rest}{pending}");
        wrap(&full, width)
            .into_iter()
            .enumerate()
            .map(|(i, piece)| {
                if i == 0 && piece.starts_with(word) {
                    Line::from(vec![
                        Span::styled(word.to_string(), style),
                        Span::raw(piece[word.len()..].to_string()),
                    ])
                } else {
                    Line::raw(piece.to_string())
                }
            })
            .collect()
    }

    fn hint_lines(
        &self,
        e: &Evaluation,
        out: &mut Vec<Line<'static>>,
        width: usize,
        theme: &Theme,
    ) {
        for field in [Field::Contains, Field::Matches] {
            if e.outcome(field).is_none_or(|o| o.total != 0) {
                continue;
            }
            let name = short(field);
            let text = match self.hints.iter().find(|(f, _)| *f == field) {
                None => {
                    format!("{name}: no match; looking for the longest leading part that matches…")
                }
                Some((_, None)) => {
                    format!("{name}: no match, and no leading part of the pattern matches anywhere")
                }
                Some((_, Some(h))) => format!(
                    "{name}: no match; the longest leading part that matches is \"{}\", first at \
                     line {}, column {} ({}):",
                    h.prefix,
                    h.at.line,
                    h.at.column,
                    h.at.region.label()
                ),
            };
            for piece in wrap(&text, width) {
                out.push(Line::styled(piece.to_string(), theme.warning));
            }
            if let Some((_, Some(h))) = self.hints.iter().find(|(f, _)| *f == field) {
                out.push(Line::styled(
                    format!("    {}", h.at.line_text.trim_end()),
                    theme.dim,
                ));
            }
        }
    }

    fn control_lines(&self, out: &mut Vec<Line<'static>>, width: usize, theme: &Theme) {
        if self.clean.is_empty() {
            return;
        }
        let Some(control) = &self.control else {
            if self
                .evaluation()
                .is_some_and(|e| e.validation.pin.is_some())
            {
                out.push(Line::styled(
                    format!("checking {} clean corpora…", self.clean.len()),
                    theme.dim,
                ));
            }
            return;
        };
        for r in &control.results {
            let (text, style) = if r.too_broad {
                let at = r
                    .hits
                    .iter()
                    .map(|h| format!("{} at line {}", short(h.field), h.at.line))
                    .collect::<Vec<_>>()
                    .join(", ");
                (
                    format!("too broad: the pin also passes on clean {} ({at})", r.name),
                    theme.warning,
                )
            } else if r.hits.is_empty() {
                (format!("clean {}: no hits (good)", r.name), theme.ok)
            } else {
                (
                    format!(
                        "clean {}: only part of the pin hits; ktstr's AND still rejects it",
                        r.name
                    ),
                    theme.dim,
                )
            };
            for piece in wrap(&text, width) {
                out.push(Line::styled(piece.to_string(), style));
            }
        }
    }

    fn suggestion_lines(&self, out: &mut Vec<Line<'static>>, width: usize, theme: &Theme) {
        let Some(result) = &self.suggestion else {
            if self.suggest_requested {
                out.push(Line::styled(
                    format!("suggesting from {}…", self.suggestion_from),
                    theme.dim,
                ));
            }
            return;
        };
        match result {
            Err(e) => {
                for piece in wrap(&format!("no suggestion: {e}"), width) {
                    out.push(Line::styled(piece.to_string(), theme.dim));
                }
            }
            Ok(s) => {
                let accepted = s.as_pin() == self.pin();
                let head = if accepted {
                    format!("suggested from {} (accepted):", self.suggestion_from)
                } else {
                    format!("suggested from {} (a accepts):", self.suggestion_from)
                };
                out.push(Line::styled(head, theme.label));
                for (field, value) in [(Field::Contains, &s.contains), (Field::Matches, &s.matches)]
                {
                    let Some(v) = value else { continue };
                    let shown = match field {
                        Field::Contains => format!("{v:?}"),
                        Field::Matches => v.clone(),
                    };
                    let line = format!("  {:<9}{shown}", short(field));
                    out.push(Line::from(cut(&line, width)));
                }
                if s.contains.is_none() && s.matches.is_none() {
                    for n in &s.notes {
                        for piece in wrap(&format!("  {n}"), width) {
                            out.push(Line::styled(piece.to_string(), theme.dim));
                        }
                    }
                }
            }
        }
    }

    fn render_rule(&self, view: &CorpusView, area: Rect, buf: &mut Buffer, theme: &Theme) {
        if area.is_empty() {
            return;
        }
        let mut label = format!(
            "── corpus: scheduler log + sched_ext dump, {} lines, {} bytes ",
            view.line_count(),
            view.corpus.len()
        );
        if let Some(m) = &self.current {
            label.push_str(&format!("── match at line {} ", view.line_of(m.start) + 1));
        }
        if self.kept_truncated {
            label.push_str("── highlights capped ");
        }
        rule(label, area, buf, theme);
    }

    fn render_corpus(
        &self,
        view: &CorpusView,
        area: Rect,
        top: usize,
        buf: &mut Buffer,
        theme: &Theme,
    ) {
        let total = view.line_count();
        if area.is_empty() || total == 0 {
            return;
        }
        let rows = usize::from(area.height);
        let first = top.min(total - 1);
        let last = (first + rows).min(total);
        let visible = view.bytes_of_lines(first, last);
        // Every kept match touching the screen, the current one marked.
        let mut marks: Vec<(Range<usize>, Style)> = self
            .kept
            .iter()
            .flat_map(|(_, v)| v.iter())
            .filter(|m| !m.is_empty() && m.start < visible.end && m.end > visible.start)
            .map(|m| {
                let style = if self.current.as_ref() == Some(m) {
                    theme.current_match
                } else {
                    theme.matched
                };
                (m.clone(), style)
            })
            .collect();
        // Where a missing pattern's longest leading part matches.
        marks.extend(
            self.hints
                .iter()
                .filter_map(|(_, h)| h.as_ref())
                .map(|h| h.matched.clone())
                .filter(|m| !m.is_empty() && m.start < visible.end && m.end > visible.start)
                .map(|m| (m, theme.warning)),
        );
        marks.sort_by_key(|(m, _)| m.start);
        let current_line = self.current.as_ref().map(|m| view.line_of(m.start));
        let digits = text_line::gutter_digits(total, area.width);
        let text_width = usize::from(area.width) - digits.map_or(0, |d| d + 1);
        // The first mark covering a byte wins: later marks patch earlier ones.
        marks.reverse();
        for (row, i) in area.rows().zip(first..last) {
            let mut spans = Vec::new();
            if let Some(digits) = digits {
                spans.extend(text_line::gutter(i, digits, current_line == Some(i), theme));
            }
            spans.extend(corpus_line(
                view.line(i),
                view.line_start(i),
                &marks,
                text_width,
                theme,
            ));
            buf.set_line(row.x, row.y, &Line::from(spans), row.width);
        }
    }
}

/// The parts of the workbench pane.
pub struct WbLayout {
    pub info: Rect,
    pub rule: Rect,
    pub corpus: Rect,
    info_lines: Vec<Line<'static>>,
}

/// `contains` / `matches`.
fn short(field: Field) -> &'static str {
    match field {
        Field::Contains => "contains",
        Field::Matches => "matches",
    }
}

fn field_width(width: u16) -> usize {
    usize::from(width)
        .saturating_sub(LABEL_WIDTH + COUNT_WIDTH)
        .max(1)
}

/// A field's text as shown in `width` columns (controls in a visible form)
/// and the cursor's column. While editing, the text scrolls so the cursor
/// stays visible; otherwise it is cut with `…`.
fn field_view(input: &LineInput, width: usize, editing: bool) -> (String, usize) {
    let shown =
        |c: char| -> String { text_line::shown(c).map_or_else(|| c.to_string(), Cow::into_owned) };
    let cells: Vec<(String, usize, usize)> = input
        .text()
        .char_indices()
        .map(|(i, c)| {
            let s = shown(c);
            let w = Line::raw(s.as_str()).width();
            (s, i, w)
        })
        .collect();
    let cursor_col: usize = cells
        .iter()
        .take_while(|(_, i, _)| *i < input.cursor())
        .map(|(_, _, w)| w)
        .sum();
    // Leave one column for the cursor cell at the end.
    let room = if editing {
        width.saturating_sub(1)
    } else {
        width
    };
    let mut skip_cols = 0;
    if editing && cursor_col > room {
        skip_cols = cursor_col - room;
    }
    let mut out = String::new();
    let mut col = 0;
    let mut skipped = 0;
    let mut cut = false;
    for (s, _, w) in &cells {
        if skipped < skip_cols {
            skipped += w;
            continue;
        }
        if col + w > width {
            cut = true;
            break;
        }
        out.push_str(s);
        col += w;
    }
    if cut && !editing {
        // Make room for the cut mark.
        while Line::raw(out.as_str()).width() + 1 > width {
            out.pop();
        }
        out.push('…');
    }
    (out, cursor_col - skipped.min(cursor_col))
}

/// The line above the corpus: `label`, then `─` to the edge.
fn rule(mut label: String, area: Rect, buf: &mut Buffer, theme: &Theme) {
    if area.is_empty() {
        return;
    }
    let w = usize::from(area.width);
    let used = Line::raw(label.as_str()).width();
    label.push_str(&"─".repeat(w.saturating_sub(used)));
    buf.set_line(
        area.x,
        area.y,
        &Line::from(cut(&label, w)).style(theme.dim),
        area.width,
    );
}

/// `s` cut to `width` columns, with `…` when something was left out.
fn cut(s: &str, width: usize) -> String {
    if Line::raw(s).width() <= width {
        return s.to_string();
    }
    let mut out = String::new();
    let mut col = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if col + w + 1 > width {
            break;
        }
        out.push(c);
        col += w;
    }
    out.push('…');
    out
}

/// One corpus line in `width` columns (see [`text_line::fit`]). A cut line
/// ends in `…`, in the match style when a match goes on past the cut.
fn corpus_line(
    line: &str,
    line_start: usize,
    marks: &[(Range<usize>, Style)],
    width: usize,
    theme: &Theme,
) -> Vec<Span<'static>> {
    let fitted = text_line::fit(line, line_start, width, marks);
    let mut spans = fitted.spans;
    if let Some(end) = fitted.cut_at {
        let hidden_match = marks
            .iter()
            .any(|(m, _)| m.end > line_start + end && m.start < line_start + line.len());
        spans.push(Span::styled(
            "…",
            if hidden_match {
                theme.matched
            } else {
                theme.dim
            },
        ));
    }
    spans
}

/// The tab for the workbench; its state lives in [`Ctx::workbench`].
pub struct WorkbenchPane;

impl Pane for WorkbenchPane {
    fn title(&self, _ctx: &Ctx<'_>) -> String {
        "Workbench".into()
    }

    fn role(&self) -> Option<super::Role> {
        Some(super::Role::Workbench)
    }

    fn line_count(&self, ctx: &Ctx<'_>, _width: u16) -> usize {
        ctx.workbench
            .and_then(Workbench::view_if_ready)
            .map_or(0, CorpusView::line_count)
    }

    fn viewport_rows(&self, ctx: &Ctx<'_>, body: Rect) -> usize {
        ctx.workbench
            .map_or(0, |wb| usize::from(wb.layout(ctx, body).corpus.height))
    }

    /// The workbench keeps its own scroll (`scroll` is not used): its
    /// searches follow the corpus view.
    fn render(&self, ctx: &Ctx<'_>, area: Rect, _scroll: usize, buf: &mut Buffer) {
        let Some(wb) = ctx.workbench else {
            return;
        };
        let layout = wb.layout(ctx, area);
        for (row, line) in layout.info.rows().zip(&layout.info_lines) {
            let line = super::cut_line(line.clone(), usize::from(row.width), ctx.theme.dim);
            buf.set_line(row.x, row.y, &line, row.width);
        }
        match wb.view_if_ready() {
            Some(view) => {
                wb.render_rule(view, layout.rule, buf, ctx.theme);
                let (top, _) = wb.viewport(usize::from(layout.corpus.height));
                wb.render_corpus(view, layout.corpus, top, buf, ctx.theme);
            }
            None => rule(
                "── corpus: scheduler log + sched_ext dump, loading… ".into(),
                layout.rule,
                buf,
                ctx.theme,
            ),
        }
    }
}

/// The pane list's entry: always last (`w` and the app rely on it).
pub fn panes(_report: &scxray::report::Report) -> Vec<Box<dyn Pane>> {
    vec![Box::new(WorkbenchPane)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_view_scrolls_to_the_cursor() {
        let mut i = LineInput::default();
        i.set("0123456789");
        assert_eq!(field_view(&i, 6, true), ("56789".to_string(), 5));
        assert_eq!(field_view(&i, 6, false), ("01234…".to_string(), 10));
        i.home();
        assert_eq!(field_view(&i, 6, true), ("012345".to_string(), 0));
        i.set("a\u{1b}");
        assert_eq!(field_view(&i, 10, false).0, "a^[");
    }

    #[test]
    fn corpus_line_marks_matches_and_cuts() {
        let theme = Theme::dark();
        let marks = [(2..4, theme.matched), (8..12, theme.matched)];
        let spans = corpus_line("a\tbc d", 0, &marks[..1], 20, &theme);
        let text: Vec<(&str, Style)> = spans
            .iter()
            .map(|s| (s.content.as_ref(), s.style))
            .collect();
        assert_eq!(
            text,
            [
                ("a       ", Style::default()),
                ("bc", theme.matched),
                (" d", Style::default())
            ]
        );
        // A match past the cut colours the cut mark.
        let spans = corpus_line("0123456789abc", 0, &marks[1..], 6, &theme);
        let last = spans.last().expect("mark");
        assert_eq!((last.content.as_ref(), last.style), ("…", theme.matched));
    }
}
