//! The `?` overlay: every key, generated from the keymap so it cannot go stale.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Widget};

use super::render_lines;
use crate::keymap::{Keymap, Mode};
use crate::theme::Theme;

/// Widest the overlay gets; keys and hints are short.
const MAX_WIDTH: u16 = 46;
const KEY_COLUMN: usize = 12;

pub fn lines(keymap: &Keymap, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let row = |keys: &str, hint: &'static str| {
        Line::from(vec![
            Span::styled(format!("  {keys:<KEY_COLUMN$}"), theme.key),
            Span::raw(hint),
        ])
    };
    for (mode, heading) in [
        (Mode::Normal, "In panes"),
        (Mode::Search, "Typing a search (/) or filter (&)"),
        (Mode::Workbench, "On the workbench"),
        (Mode::Edit, "Editing a pin field"),
        (Mode::Export, "In the export"),
        (Mode::Help, "In this help"),
    ] {
        if !lines.is_empty() {
            lines.push(Line::raw(""));
        }
        lines.push(Line::styled(heading, theme.label));
        for (keys, hint) in keymap.help_rows(mode) {
            lines.push(row(&keys, hint));
        }
        if mode == Mode::Edit {
            // Typing is every unbound key, so it has no row of its own.
            lines.push(row("other keys", "typed into the field"));
        }
        if mode == Mode::Search {
            lines.push(row("other keys", "typed; lower case ignores case"));
        }
    }
    lines
}

/// Where the help overlay goes on a screen of this size.
pub fn popup_area(screen: Rect, line_count: usize) -> Rect {
    super::centred_popup(screen, line_count, MAX_WIDTH)
}

/// Rows of help visible at once on a screen of this size.
pub fn visible_rows(screen: Rect, line_count: usize) -> usize {
    usize::from(popup_area(screen, line_count).height.saturating_sub(2))
}

pub fn render(keymap: &Keymap, theme: &Theme, scroll: usize, screen: Rect, buf: &mut Buffer) {
    let lines = lines(keymap, theme);
    let area = popup_area(screen, lines.len());
    Clear.render(area, buf);
    let mut block = Block::bordered()
        .border_style(theme.focused_border)
        .title(" Keys ");
    let inner = block.inner(area);
    let (total, height) = (lines.len(), usize::from(inner.height));
    let top = scroll.min(total.saturating_sub(height));
    if total > height && height > 0 {
        let last = top + height;
        block = block
            .title_bottom(Line::raw(format!(" {}-{last} of {total} ", top + 1)).right_aligned());
    }
    block.render(area, buf);
    render_lines(lines, inner, top, buf);
}
