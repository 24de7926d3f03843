//! The export overlay: the pin rendered as a `#[ktstr_test]` block, syntax
//! highlighted with syntect, ready to copy (OSC 52) or write to a file.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Widget};
use scxray::matcher::{render_test, ExportSpec};

use super::render_lines;
use crate::syntax::highlight;
use crate::theme::Theme;

/// Widest the overlay gets: the rendered test is under 100 columns unless
/// the pattern is long.
const MAX_WIDTH: u16 = 110;

/// What the overlay shows.
pub struct ExportView {
    /// `<test_name>.rs`.
    pub file_name: String,
    /// The rendered test, or why there is none (an invalid pin).
    pub text: Result<String, String>,
    lines: Vec<Line<'static>>,
    pub scroll: usize,
}

impl ExportView {
    pub fn new(spec: &ExportSpec, theme: &Theme) -> ExportView {
        let text = render_test(spec).map_err(|e| e.to_string());
        let lines = match &text {
            Ok(src) => highlight("rs", src, theme.syntax_theme),
            Err(e) => vec![
                Line::styled(format!("cannot export: {e}"), theme.error),
                Line::raw(""),
                Line::styled(
                    "Fix the pin first: ktstr's #[ktstr_test] does not validate it, so the test \
                     would silently check nothing.",
                    theme.dim,
                ),
            ],
        };
        ExportView {
            file_name: format!("{}.rs", spec.test_name),
            text,
            lines,
            scroll: 0,
        }
    }

    pub fn line_count(&self) -> usize {
        self.lines.len()
    }

    /// Where the overlay goes: centred, under the title bar, above the status bar.
    pub fn area(&self, screen: Rect) -> Rect {
        super::centred_popup(screen, self.lines.len(), MAX_WIDTH)
    }

    pub fn visible_rows(&self, screen: Rect) -> usize {
        usize::from(self.area(screen).height.saturating_sub(2))
    }

    pub fn render(&self, theme: &Theme, screen: Rect, buf: &mut Buffer) {
        let area = self.area(screen);
        Clear.render(area, buf);
        let mut block = Block::bordered()
            .border_style(theme.focused_border)
            .title(Line::styled(
                format!(" Export: {} ", self.file_name),
                theme.label,
            ));
        let inner = block.inner(area);
        let (total, height) = (self.lines.len(), usize::from(inner.height));
        let top = self.scroll.min(total.saturating_sub(height));
        if total > height && height > 0 {
            block = block.title_bottom(
                Line::raw(format!(" {}-{} of {total} ", top + 1, top + height)).right_aligned(),
            );
        }
        block.render(area, buf);
        render_lines(self.lines.clone(), inner, top, buf);
    }
}
