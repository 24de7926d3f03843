//! The frame around the panes: title bar, tab bar (with each pane's letter
//! key underlined), pane borders with their position, and the status bar
//! with the prompt and key hints. Drawing goes through `&App` and cannot
//! change state. Text from the input (the file name, section names, messages
//! quoting it) is drawn in its visible form, and the finished frame is
//! scrubbed of any control character (see [`crate::widgets::visible`]).

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Widget};

use super::layout::{tab_layout, Areas, TabSpan};
use super::App;
use crate::keymap::Mode;
use crate::panes::{help, render_lines, summary, Ctx};
use crate::widgets::visible;

impl App {
    pub(super) fn render_title(&self, ctx: &Ctx<'_>, area: Rect, buf: &mut Buffer) {
        buf.set_style(area, self.theme.header);
        let (left, right) = summary::title_bar(ctx, &self.title);
        visible::line(left).render(area, buf);
        if let Some(right) = right {
            visible::line(right).right_aligned().render(area, buf);
        }
    }

    /// `[1 Summary]  2 Backtrace ...`: brackets mark focus without colour. When
    /// the labels overflow, the bar starts late enough to show the focused one.
    pub(super) fn render_tabs(&self, ctx: &Ctx<'_>, area: Rect, single: bool, buf: &mut Buffer) {
        if area.is_empty() {
            return;
        }
        if single {
            // `‹4/7 scheduler log›`: where Tab goes, in one line.
            let text = format!(
                "‹{}/{} {}›",
                self.focus + 1,
                self.panes.len(),
                self.pane_title(ctx, self.focus)
            );
            buf.set_stringn(
                area.x,
                area.y,
                text,
                usize::from(area.width),
                self.theme.selected,
            );
            return;
        }
        let right = area.right();
        let layout = self.tabs(ctx, area);
        if layout.first().is_some_and(|t| t.pane > 0) {
            buf.set_string(area.x, area.y, "‹", self.theme.dim);
        }
        for TabSpan { pane: i, x0, x1 } in layout {
            let style = if i == self.focus {
                self.theme.selected
            } else {
                Style::new()
            };
            let label = self.tab_label(ctx, i);
            buf.set_stringn(x0, area.y, &label, usize::from(x1 - x0), style);
            self.underline_key(ctx, i, x0, x1, area.y, buf);
            if usize::from(x1 - x0) < Line::raw(label.as_str()).width() {
                buf.set_string(right - 1, area.y, "›", self.theme.dim);
            }
        }
    }

    /// Underlines the letter key of tab `i` (drawn in columns `x0..x1`) in
    /// its title: the first occurrence, either case for a lower-case key.
    pub(super) fn underline_key(
        &self,
        ctx: &Ctx<'_>,
        i: usize,
        x0: u16,
        x1: u16,
        y: u16,
        buf: &mut Buffer,
    ) {
        let Some(key) = self.role_key(i) else {
            return;
        };
        let label = self.tab_label(ctx, i);
        let title = self.pane_title(ctx, i);
        let Some(start) = label.find(&title) else {
            return;
        };
        let hit = title.char_indices().find(|&(_, c)| {
            c == key || (key.is_ascii_lowercase() && c == key.to_ascii_uppercase())
        });
        let Some((at, _)) = hit else {
            return;
        };
        let col = Line::raw(&label[..start + at]).width();
        let x = x0.saturating_add(u16::try_from(col).unwrap_or(u16::MAX));
        if x < x1 {
            if let Some(cell) = buf.cell_mut((x, y)) {
                cell.modifier.insert(Modifier::UNDERLINED);
            }
        }
    }

    /// The tab bar's layout for the current labels.
    pub(super) fn tabs(&self, ctx: &Ctx<'_>, area: Rect) -> Vec<TabSpan> {
        let widths: Vec<usize> = (0..self.panes.len())
            .map(|i| Line::raw(self.tab_label(ctx, i)).width())
            .collect();
        tab_layout(&widths, self.focus, area)
    }

    /// `[1 Summary]` when focused, ` 2 Backtrace ` otherwise.
    pub(super) fn tab_label(&self, ctx: &Ctx<'_>, i: usize) -> String {
        // `0` reaches the tenth pane; the rest by Tab or a click.
        let num = match i {
            0..=8 => format!("{} ", i + 1),
            9 => "0 ".to_string(),
            _ => String::new(),
        };
        let title = self.pane_title(ctx, i);
        if i == self.focus {
            format!("[{num}{title}]")
        } else {
            format!(" {num}{title} ")
        }
    }

    /// Pane `i`'s title as drawn: a section named in the input shows any
    /// control in its name visibly.
    pub(super) fn pane_title(&self, ctx: &Ctx<'_>, i: usize) -> String {
        visible::string(&self.panes[i].title(ctx))
    }

    pub(super) fn render_main(&self, ctx: &Ctx<'_>, areas: &Areas, buf: &mut Buffer) {
        self.render_pane(ctx, self.focus, areas.main, areas.body, true, buf);
        if let Some(side) = areas.side {
            self.render_pane(ctx, side.pane, side.area, side.body, false, buf);
        }
    }

    /// Pane `i` in its bordered `area`; the focused one has the focused
    /// border and a bold title, so focus shows without colour.
    pub(super) fn render_pane(
        &self,
        ctx: &Ctx<'_>,
        i: usize,
        area: Rect,
        body: Rect,
        focused: bool,
        buf: &mut Buffer,
    ) {
        let pane = &self.panes[i];
        let total = pane.line_count(ctx, body.width);
        let height = pane.viewport_rows(ctx, body);
        let top = self.scroll_of(i).min(total.saturating_sub(height));
        let (border, title) = if focused {
            (
                self.theme.focused_border,
                format!(" {} ", self.pane_title(ctx, i)),
            )
        } else {
            (
                self.theme.border,
                format!(" {} · {} ", self.pane_title(ctx, i), self.companion_hint(i)),
            )
        };
        let mut block = Block::bordered()
            .border_style(border)
            .title(Line::styled(title, self.theme.label));
        if let Some(note) = pane.border_note() {
            let note = visible::string(&note);
            block = block.title(Line::styled(format!(" {note} "), self.theme.warning));
        }
        if total > 0 && height > 0 {
            let last = (top + height).min(total);
            block =
                block.title(Line::raw(format!(" {}-{last} of {total} ", top + 1)).right_aligned());
        }
        block.render(area, buf);
        pane.render(ctx, body, top, buf);
    }

    /// How to reach the companion pane, for its border.
    pub(super) fn companion_hint(&self, i: usize) -> String {
        match self.role_key(i) {
            Some(k) => format!("{k} focuses it"),
            None => "Tab to reach it".to_string(),
        }
    }

    pub(super) fn render_status(&self, area: Rect, buf: &mut Buffer) {
        let mut spans = vec![Span::raw(" ")];
        if let (Some(p), Mode::Search) = (&self.prompt, self.mode()) {
            spans.push(Span::styled(
                if p.filter { "&" } else { "/" },
                self.theme.key,
            ));
            spans.push(Span::raw(visible::string(p.input.text())));
            let what = match (p.filter, p.mode.is_regex()) {
                (true, false) => "  filter: lines holding this (Enter applies, empty clears)  ",
                (true, true) => {
                    "  filter (regex): lines matching this (Enter applies, empty clears)  "
                }
                (false, false) => "  search  ",
                (false, true) => "  search (regex)  ",
            };
            spans.push(Span::styled(what, self.theme.dim));
            // The status message says it until the next key; this stays.
            if let (Some(e), None) = (&p.error, &self.status) {
                spans.push(Span::styled(
                    format!("regex error: {}  ", visible::string(e)),
                    self.theme.error,
                ));
            }
        }
        if let Some(msg) = &self.status {
            let msg = visible::string(msg);
            spans.push(Span::styled(format!("{msg}  "), self.theme.label));
        }
        for (keys, label) in self.keymap.bar_hints(self.mode(), |a| self.available(a)) {
            spans.push(Span::styled(keys, self.theme.key));
            spans.push(Span::styled(format!(" {label}  "), self.theme.dim));
        }
        Line::from(spans).render(area, buf);
    }
}

impl Widget for &App {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let ctx = self.ctx();
        let areas = self.areas(area);
        self.render_title(&ctx, areas.title, buf);
        render_lines(summary::answer_lines(&ctx), areas.answer, 0, buf);
        self.render_tabs(&ctx, areas.tabs, areas.single, buf);
        self.render_main(&ctx, &areas, buf);
        self.render_status(areas.status, buf);
        if let Some(x) = &self.export {
            x.render(&self.theme, area, buf);
        }
        if self.help {
            help::render(&self.keymap, &self.theme, self.help_scroll, area, buf);
        }
        // The last line of defence: whatever a widget drew, no control
        // character or bidi override of the input reaches the terminal.
        visible::scrub(buf);
    }
}
