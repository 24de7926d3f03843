//! No control character from a report reaches the terminal: input text
//! becomes spans in its visible form (`^[` for ESC, `<U+202E>` for a bidi
//! override: see [`scxray::write::visible`](mod@scxray::write::visible)), and
//! [`scrub`] removes whatever got into a cell some other way before the frame
//! is drawn.
//!
//! ratatui writes a cell's symbol to the terminal as it is. It drops graphemes
//! holding C0/C1 controls from spans, silently (the text shows `]0;pwned` for
//! `ESC ]0;pwned BEL`), but keeps zero-width format characters such as bidi
//! overrides, which it appends to the previous cell. Hence both: visible forms
//! where input text is put in a line, so a reader sees what the input held,
//! and the scrub as the last line of defence for the rest.

use std::borrow::Cow;

use ratatui::buffer::Buffer;
use ratatui::text::{Line, Span};
use scxray::write::visible::{is_hazard, visible};

/// `text` in its visible form, owned or borrowed as it came.
pub fn cow(text: Cow<'_, str>) -> Cow<'_, str> {
    if !text.contains(is_hazard) {
        return text;
    }
    Cow::Owned(visible(&text).into_owned())
}

/// A span with its text made visible, style kept.
pub fn span(span: Span<'_>) -> Span<'_> {
    Span {
        style: span.style,
        content: cow(span.content),
    }
}

/// A line with every span's text made visible; style and alignment kept.
pub fn line(mut line: Line<'_>) -> Line<'_> {
    if line.spans.iter().any(|s| s.content.contains(is_hazard)) {
        line.spans = line.spans.into_iter().map(span).collect();
    }
    line
}

/// `text` in its visible form, as an owned `String` (titles, messages).
pub fn string(text: &str) -> String {
    visible(text).into_owned()
}

/// Removes every hazard left in the buffer's cells: the frame that reaches
/// the terminal holds no escape sequence, control or bidi override, whatever
/// a widget put there. A cell left empty shows a space.
pub fn scrub(buf: &mut Buffer) {
    for cell in &mut buf.content {
        if cell.symbol().contains(is_hazard) {
            let kept: String = cell.symbol().chars().filter(|&c| !is_hazard(c)).collect();
            cell.set_symbol(if kept.is_empty() { " " } else { &kept });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::layout::Rect;
    use ratatui::style::Style;
    use ratatui::widgets::Widget;

    #[test]
    fn lines_show_controls_and_keep_styles() {
        let l = line(Line::from(vec![
            Span::styled("msg \x1b]0;pwned\x07", Style::new().red()),
            Span::raw(" ok"),
        ]));
        assert_eq!(l.spans[0].content, "msg ^[]0;pwned^G");
        assert_eq!(l.spans[0].style, Style::new().red());
        assert!(matches!(l.spans[1].content, Cow::Borrowed(" ok")));
    }

    #[test]
    fn scrub_leaves_no_hazard_in_any_cell() {
        let mut buf = Buffer::empty(Rect::new(0, 0, 20, 1));
        // A bidi override is zero-width: ratatui appends it to a cell.
        Line::raw("ab\u{202e}cd\u{2066}").render(buf.area, &mut buf);
        buf[(5, 0)].set_symbol("\x1b");
        assert!(buf.content.iter().any(|c| c.symbol().contains(is_hazard)));
        scrub(&mut buf);
        let text: String = buf.content.iter().map(|c| c.symbol()).collect();
        assert_eq!(text.trim_end(), "abcd");
        assert!(!text.contains(is_hazard));
    }
}
