//! Source highlighted with syntect, in the theme's syntax theme: the export
//! overlay's Rust and the Source pane's C.

use std::sync::LazyLock;

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use syntect::easy::HighlightLines;
use syntect::highlighting::{FontStyle, ThemeSet};
use syntect::parsing::SyntaxSet;
use syntect::util::LinesWithEndings;

/// Loading syntect's bundled syntaxes and themes takes a few milliseconds:
/// done once, on first use.
static SYNTAXES: LazyLock<SyntaxSet> = LazyLock::new(SyntaxSet::load_defaults_newlines);
static THEMES: LazyLock<ThemeSet> = LazyLock::new(ThemeSet::load_defaults);

/// `src` as styled lines, for the syntax of files ending in `.extension`.
/// With no syntect theme (or one not bundled) or an unknown extension the
/// lines are plain, as `NO_COLOR` asks. Tabs become four spaces: a terminal
/// cell grid has no tab stops.
pub fn highlight(extension: &str, src: &str, theme_name: Option<&str>) -> Vec<Line<'static>> {
    let plain = || {
        src.lines()
            .map(|l| Line::raw(l.replace('\t', "    ")))
            .collect()
    };
    let Some(theme) = theme_name.and_then(|n| THEMES.themes.get(n)) else {
        return plain();
    };
    let Some(syntax) = SYNTAXES.find_syntax_by_extension(extension) else {
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
                    text.trim_end_matches(['\n', '\r']).replace('\t', "    "),
                    to_ratatui(style),
                )
            })
            .filter(|s| !s.content.is_empty())
            .collect();
        out.push(Line::from(spans));
    }
    out
}

/// Foreground and font style only: highlighted code keeps the UI's
/// background so it sits on the same palette as the rest of the screen.
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
    use crate::theme::Theme;

    fn colours(lines: &[Line<'_>]) -> std::collections::HashSet<Color> {
        lines
            .iter()
            .flat_map(|l| l.spans.iter().filter_map(|s| s.style.fg))
            .collect()
    }

    #[test]
    fn highlighting_keeps_the_text_and_colours_it() {
        let src = "const P: &str = r#\"a\"#;\nfn t() {}\n";
        let lines = highlight("rs", src, Theme::dark().syntax_theme);
        let text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        assert_eq!(text, ["const P: &str = r#\"a\"#;", "fn t() {}"]);
        let found = colours(&lines);
        assert!(
            found.len() > 2,
            "keywords, strings and names differ: {found:?}"
        );
        let plain = highlight("rs", src, None);
        assert!(plain
            .iter()
            .all(|l| l.spans.iter().all(|s| s.style == Style::new())));
    }

    #[test]
    fn c_is_highlighted_and_tabs_expand() {
        let src = "static s32 f(u32 cell)\n{\n\treturn 0; /* x */\n}\n";
        let lines = highlight("c", src, Theme::dark().syntax_theme);
        assert_eq!(lines[2].to_string(), "    return 0; /* x */");
        assert!(colours(&lines).len() > 2);
        let unknown = highlight("nope", src, Theme::dark().syntax_theme);
        assert_eq!(unknown[2].to_string(), "    return 0; /* x */");
    }

    #[test]
    fn every_builtin_theme_names_a_bundled_syntax_theme() {
        for name in ["dark", "light", "high-contrast"] {
            let theme = Theme::load(None, name).unwrap();
            let syntax = theme.syntax_theme.expect("built-in themes name one");
            assert!(THEMES.themes.contains_key(syntax), "{name}: {syntax}");
        }
    }
}
