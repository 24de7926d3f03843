//! One line of a large text drawn into a fixed number of columns: what the
//! text panes and the workbench's corpus view both draw, so a log line looks
//! the same in either.
//!
//! Tabs expand to [`TAB_WIDTH`] stops, control characters and bidi overrides
//! are shown in a visible form (caret notation, `^[` for ESC; `<U+202E>`: see
//! [`scxray::write::visible`](mod@scxray::write::visible)) so escape sequences
//! in a log cannot move the cursor or retitle the terminal, and a line that
//! does not fit is cut one column short so the caller can draw its `…` mark.
//! Only about `width` characters are read, however long the line. Each input
//! character maps to one piece of text, and marks (search matches) are byte
//! ranges of the input line, so a highlighted control highlights its whole
//! visible form.

use std::borrow::Cow;
use std::ops::Range;

use ratatui::style::Style;
use ratatui::text::Span;
use unicode_width::UnicodeWidthChar;

use crate::theme::Theme;

/// Columns between tab stops.
pub const TAB_WIDTH: usize = 8;

/// How `c` is drawn when it is not drawn as it is: the visible form of a
/// control or bidi override (`^[`, `^?`, `<U+009B>`), all ASCII, so its
/// width in columns is its length. A newline (never inside a line) is `^J`.
pub fn shown(c: char) -> Option<Cow<'static, str>> {
    match c {
        '\n' => Some(Cow::Borrowed("^J")),
        c => scxray::write::visible::escape(c),
    }
}

/// A line fitted to its columns.
pub struct Fitted {
    pub spans: Vec<Span<'static>>,
    /// Where the line was cut (a byte offset into it), or `None` when all of
    /// it is shown. A cut line leaves one column free for the mark.
    pub cut_at: Option<usize>,
}

/// `line` in `width` columns. Each character takes the styles of the `marks`
/// holding it, later marks patching earlier ones; marks are byte ranges
/// counted from `base` (0 for offsets within the line, the line's start for
/// offsets into a whole corpus).
pub fn fit(line: &str, base: usize, width: usize, marks: &[(Range<usize>, Style)]) -> Fitted {
    // (text, columns, style) per character, to back off for the cut mark.
    let mut pieces: Vec<(usize, String, usize, Style)> = Vec::with_capacity(width.min(line.len()));
    let mut cols = 0;
    let mut cut_at = None;
    for (at, c) in line.char_indices() {
        let (text, w) = match c {
            '\t' => {
                let n = TAB_WIDTH - cols % TAB_WIDTH;
                (" ".repeat(n), n)
            }
            c => match shown(c) {
                Some(form) => {
                    let w = form.len();
                    (form.into_owned(), w)
                }
                None => (c.to_string(), c.width().unwrap_or(0)),
            },
        };
        if cols + w > width {
            let mut end = at;
            while cols + 1 > width {
                let Some((start, _, w, _)) = pieces.pop() else {
                    break;
                };
                cols -= w;
                end = start;
            }
            cut_at = (width > 0).then_some(end);
            break;
        }
        let abs = base + at;
        let style = marks
            .iter()
            .filter(|(r, _)| r.contains(&abs))
            .fold(Style::new(), |s, (_, m)| s.patch(*m));
        cols += w;
        pieces.push((at, text, w, style));
    }
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut text = String::new();
    let mut style = None;
    for (_, t, _, s) in pieces {
        if style.is_some_and(|st| st != s) {
            spans.push(Span::styled(
                std::mem::take(&mut text),
                style.unwrap_or_default(),
            ));
        }
        style = Some(s);
        text.push_str(&t);
    }
    if !text.is_empty() {
        spans.push(Span::styled(text, style.unwrap_or_default()));
    }
    Fitted { spans, cut_at }
}

/// Digits of the line-number gutter for `total` lines in `width` columns, or
/// `None` when a gutter would leave no room for the text.
pub fn gutter_digits(total: usize, width: u16) -> Option<usize> {
    let digits = total.to_string().len();
    (usize::from(width) >= digits + 8).then_some(digits)
}

/// The gutter of 0-based line `i`: its number and a bar, both in the warning
/// style when the line is `marked` (the crash's lines, the current match).
pub fn gutter(i: usize, digits: usize, marked: bool, theme: &Theme) -> [Span<'static>; 2] {
    let (number, bar) = if marked {
        (theme.warning, theme.warning)
    } else {
        (theme.line_number, theme.dim)
    };
    [
        Span::styled(format!("{:>digits$}", i + 1), number),
        Span::styled(if marked { "▌" } else { "│" }, bar),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::style::Color;

    fn plain(line: &str, width: usize) -> (String, bool) {
        let f = fit(line, 0, width, &[]);
        let text = f.spans.iter().map(|s| s.content.as_ref()).collect();
        (text, f.cut_at.is_some())
    }

    #[test]
    fn cuts_at_width_with_room_for_the_mark() {
        assert_eq!(plain("hello", 5), ("hello".to_string(), false));
        assert_eq!(plain("hello!", 5), ("hell".to_string(), true));
        assert_eq!(plain("a\tb", 20), ("a       b".to_string(), false));
        assert_eq!(plain("\x1b[31mred", 20), ("^[[31mred".to_string(), false));
        assert_eq!(
            plain("\x1b]0;t\x07\u{9b}2J\u{202e}x\r", 40),
            ("^[]0;t^G<U+009B>2J<U+202E>x^M".to_string(), false)
        );
        // A visible form that does not fit is not split.
        assert_eq!(plain("ab\u{202e}", 8), ("ab".to_string(), true));
        assert_eq!(plain("漢字漢字", 5), ("漢字".to_string(), true));
        assert_eq!(plain("abcd漢", 5), ("abcd".to_string(), true));
        assert_eq!(plain("abc", 0), (String::new(), false));
        assert_eq!(plain("", 0), (String::new(), false));
    }

    #[test]
    fn cut_at_is_the_first_byte_not_shown() {
        assert_eq!(fit("hello!", 0, 5, &[]).cut_at, Some(4));
        assert_eq!(fit("漢字漢字", 0, 5, &[]).cut_at, Some(6));
    }

    #[test]
    fn marks_count_from_the_base_and_later_ones_patch_earlier_ones() {
        let red = Style::new().fg(Color::Red);
        let blue_bg = Style::new().bg(Color::Blue);
        // The line starts at byte 100 of a corpus; "bc" is 101..103.
        let f = fit("abcd", 100, 10, &[(101..103, red), (102..104, blue_bg)]);
        let got: Vec<(&str, Style)> = f
            .spans
            .iter()
            .map(|s| (s.content.as_ref(), s.style))
            .collect();
        assert_eq!(
            got,
            [
                ("a", Style::new()),
                ("b", red),
                ("c", red.patch(blue_bg)),
                ("d", blue_bg),
            ]
        );
    }

    #[test]
    fn a_mark_on_a_control_covers_its_whole_visible_form() {
        let red = Style::new().fg(Color::Red);
        // "a ESC b": the match is the ESC alone, bytes 1..2.
        let f = fit("a\x1bb\u{202e}c", 0, 20, &[(1..2, red), (3..6, red)]);
        let got: Vec<(&str, Style)> = f
            .spans
            .iter()
            .map(|s| (s.content.as_ref(), s.style))
            .collect();
        assert_eq!(
            got,
            [
                ("a", Style::new()),
                ("^[", red),
                ("b", Style::new()),
                ("<U+202E>", red),
                ("c", Style::new()),
            ]
        );
    }

    #[test]
    fn gutter_needs_room_for_text() {
        assert_eq!(gutter_digits(999, 11), Some(3));
        assert_eq!(gutter_digits(999, 10), None);
    }
}
