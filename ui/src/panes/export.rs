//! The export overlay: the pin rendered as a `#[ktstr_test]` block, syntax
//! highlighted with syntect, ready to copy (OSC 52) or write to a file.

use std::sync::LazyLock;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Widget};
use scxray::matcher::{render_test, ExportSpec};
use syntect::easy::HighlightLines;
use syntect::highlighting::{FontStyle, ThemeSet};
use syntect::parsing::SyntaxSet;
use syntect::util::LinesWithEndings;

use super::render_lines;
use crate::theme::Theme;

/// Loading syntect's bundled syntaxes and themes takes a few milliseconds:
/// done once, on the first export.
static SYNTAXES: LazyLock<SyntaxSet> = LazyLock::new(SyntaxSet::load_defaults_newlines);
static THEMES: LazyLock<ThemeSet> = LazyLock::new(ThemeSet::load_defaults);

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
            Ok(src) => highlight_rust(src, theme.syntax_theme),
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

/// Rust source as styled lines. With no syntect theme (or one not bundled)
/// the lines are plain, as `NO_COLOR` asks.
pub fn highlight_rust(src: &str, theme_name: Option<&str>) -> Vec<Line<'static>> {
    let plain = || src.lines().map(|l| Line::raw(l.to_string())).collect();
    let Some(theme) = theme_name.and_then(|n| THEMES.themes.get(n)) else {
        return plain();
    };
    let Some(syntax) = SYNTAXES.find_syntax_by_extension("rs") else {
        return plain();
    };
    let mut h = HighlightLines::new(syntax, theme);
    let mut out = Vec::new();
    for line in LinesWithEndings::from(src) {
        let Ok(regions) = h.highlight_line(line, &SYNTAXES) else {
            return plain();
        };
        let spans: Vec<Span<'static>> = regions
            .into_iter()
            .map(|(style, text)| {
                Span::styled(
                    text.trim_end_matches(['\n', '\r']).to_string(),
                    to_ratatui(style),
                )
            })
            .filter(|s| !s.content.is_empty())
            .collect();
        out.push(Line::from(spans));
    }
    out
}

/// Foreground and font style only: the overlay keeps the UI's background
/// so the block sits on the same palette as the rest of the screen.
fn to_ratatui(s: syntect::highlighting::Style) -> Style {
    let c = s.foreground;
    let mut style = Style::new().fg(Color::Rgb(c.r, c.g, c.b));
    for (font, modifier) in [
        (FontStyle::BOLD, Modifier::BOLD),
        (FontStyle::ITALIC, Modifier::ITALIC),
        (FontStyle::UNDERLINE, Modifier::UNDERLINED),
    ] {
        if s.font_style.contains(font) {
            style = style.add_modifier(modifier);
        }
    }
    style
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlighting_keeps_the_text_and_colours_it() {
        let src = "const P: &str = r#\"a\"#;\nfn t() {}\n";
        let lines = highlight_rust(src, Theme::dark().syntax_theme);
        let text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        assert_eq!(text, ["const P: &str = r#\"a\"#;", "fn t() {}"]);
        let colours: std::collections::HashSet<_> = lines
            .iter()
            .flat_map(|l| l.spans.iter().filter_map(|s| s.style.fg))
            .collect();
        assert!(
            colours.len() > 2,
            "keywords, strings and names differ: {colours:?}"
        );
        let plain = highlight_rust(src, None);
        assert!(plain
            .iter()
            .all(|l| l.spans.iter().all(|s| s.style == Style::new())));
    }

    #[test]
    fn the_dark_syntax_theme_is_bundled() {
        let name = Theme::dark().syntax_theme.expect("dark has one");
        assert!(THEMES.themes.contains_key(name), "{name}");
    }
}
