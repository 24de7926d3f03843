//! A scrolling view of one section body, with line numbers.
//!
//! Bodies can be 100 MB slices of an mmap. The pane never copies the body and
//! never splits it into `String`s: the first time it is measured or drawn it
//! records where each line starts (one memchr pass, tens of milliseconds per
//! 100 MB), and each frame then formats only the rows on screen, reading each
//! line no further than the width it is cut to.

use std::cell::OnceCell;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use scxray::report::{Section, Text};
use unicode_width::UnicodeWidthChar;

use super::{Ctx, Pane};

/// Tab stops in section text, as terminals and kernel logs assume.
pub(crate) const TAB_WIDTH: usize = 8;

pub struct TextPane {
    title: String,
    section: Option<usize>,
    /// Shares the report's buffer; cloning a `Text` copies no bytes.
    body: Text,
    index: OnceCell<LineIndex>,
}

impl TextPane {
    pub fn for_section(index: usize, section: &Section) -> TextPane {
        TextPane::new(
            section.kind.name().to_string(),
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
        }
    }

    fn index(&self) -> &LineIndex {
        self.index.get_or_init(|| LineIndex::build(&self.body))
    }
}

impl Pane for TextPane {
    fn title(&self, _ctx: &Ctx<'_>) -> String {
        self.title.clone()
    }

    fn section(&self) -> Option<usize> {
        self.section
    }

    fn line_count(&self, _ctx: &Ctx<'_>, _width: u16) -> usize {
        self.index().len()
    }

    fn render(&self, ctx: &Ctx<'_>, area: Rect, scroll: usize, buf: &mut Buffer) {
        let theme = ctx.theme;
        let index = self.index();
        let total = index.len();
        if total == 0 {
            let line = Line::styled("(empty section)", theme.dim);
            buf.set_line(area.x, area.y, &line, area.width);
            return;
        }
        // Lines of the selected crash get a heavier gutter mark.
        let crash_lines = ctx
            .crash
            .map(|(_, c)| &c.origin)
            .filter(|o| Some(o.section) == self.section)
            .map(|o| o.first_line..=o.last_line);

        let digits = total.to_string().len();
        // Below this width the gutter would leave no room for text.
        let gutter = usize::from(area.width) >= digits + 8;
        let text_width = usize::from(area.width) - if gutter { digits + 1 } else { 0 };
        let first = scroll.min(total - 1);
        for (row, i) in area.rows().zip(first..total) {
            let (text, cut) = fit_line(index.line(&self.body, i), text_width);
            let mut spans = Vec::with_capacity(4);
            if gutter {
                let in_crash = crash_lines.as_ref().is_some_and(|r| r.contains(&i));
                spans.push(Span::styled(
                    format!("{:>digits$}", i + 1),
                    if in_crash {
                        theme.warning
                    } else {
                        theme.line_number
                    },
                ));
                spans.push(Span::styled(
                    if in_crash { "▌" } else { "│" },
                    if in_crash { theme.warning } else { theme.dim },
                ));
            }
            spans.push(Span::raw(text));
            if cut {
                spans.push(Span::styled("…", theme.dim));
            }
            buf.set_line(row.x, row.y, &Line::from(spans), row.width);
        }
    }
}

/// Byte offsets where each line starts. `u32` halves the index for the
/// common case of bodies under 4 GiB.
pub(crate) enum LineIndex {
    Narrow(Vec<u32>),
    Wide(Vec<usize>),
}

impl LineIndex {
    pub(crate) fn build(body: &str) -> LineIndex {
        let bytes = body.as_bytes();
        let starts = std::iter::once(0)
            .chain(memchr::memchr_iter(b'\n', bytes).map(|nl| nl + 1))
            // A final newline ends the last line; it does not start an empty one.
            .filter(|&start| start < bytes.len());
        if u32::try_from(bytes.len()).is_ok() {
            // Every start is below the length, so it fits too.
            LineIndex::Narrow(starts.map(|s| s as u32).collect())
        } else {
            LineIndex::Wide(starts.collect())
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            LineIndex::Narrow(v) => v.len(),
            LineIndex::Wide(v) => v.len(),
        }
    }

    /// 0-based line holding byte `offset` (the last line past the end).
    pub(crate) fn line_of(&self, offset: usize) -> usize {
        let after = match self {
            LineIndex::Narrow(v) => v.partition_point(|&s| s as usize <= offset),
            LineIndex::Wide(v) => v.partition_point(|&s| s <= offset),
        };
        after.saturating_sub(1)
    }

    pub(crate) fn start(&self, i: usize) -> usize {
        match self {
            LineIndex::Narrow(v) => v[i] as usize,
            LineIndex::Wide(v) => v[i],
        }
    }

    /// Line `i` (< len) without its newline or a trailing CR.
    pub(crate) fn line<'s>(&self, body: &'s str, i: usize) -> &'s str {
        let start = self.start(i);
        let end = if i + 1 < self.len() {
            self.start(i + 1) - 1
        } else {
            body.len()
        };
        let line = &body[start..end];
        line.strip_suffix('\n')
            .unwrap_or(line)
            .trim_end_matches('\r')
    }
}

/// The part of `line` that fits in `width` columns, tabs expanded and control
/// characters in caret notation (`^[` for ESC) so escape sequences in logs
/// cannot move the cursor. True when the line was cut; one column is then
/// left for the mark. Reads at most about `width` characters of the line.
fn fit_line(line: &str, width: usize) -> (String, bool) {
    let mut out = String::with_capacity(width.min(line.len()));
    // (bytes pushed, columns) per character, to back off for the cut mark.
    let mut pieces: Vec<(usize, usize)> = Vec::with_capacity(width.min(line.len()));
    let mut cols = 0;
    for c in line.chars() {
        let before = out.len();
        let w = match c {
            '\t' => {
                let n = TAB_WIDTH - cols % TAB_WIDTH;
                out.extend(std::iter::repeat_n(' ', n));
                n
            }
            c if c.is_control() => {
                out.push('^');
                out.push(caret(c));
                2
            }
            c => {
                out.push(c);
                c.width().unwrap_or(0)
            }
        };
        if cols + w > width {
            out.truncate(before);
            while cols + 1 > width {
                let Some((bytes, w)) = pieces.pop() else {
                    break;
                };
                out.truncate(out.len() - bytes);
                cols -= w;
            }
            return (out, width > 0);
        }
        cols += w;
        pieces.push((out.len() - before, w));
    }
    (out, false)
}

/// `^@`..`^_` for C0 controls, `^?` for DEL and anything else.
pub(crate) fn caret(c: char) -> char {
    match c as u32 {
        n @ 0..=0x1f => char::from(b'@' + n as u8),
        _ => '?',
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::theme::Theme;
    use scxray::report::{Header, Report};

    fn lines_of(body: &str) -> Vec<String> {
        let idx = LineIndex::build(body);
        (0..idx.len())
            .map(|i| idx.line(body, i).to_string())
            .collect()
    }

    #[test]
    fn index_splits_lines_like_str_lines() {
        for body in ["", "a", "a\n", "a\nb", "a\r\nb\r\n", "\n\nx", "a\n\n"] {
            let want: Vec<String> = body.lines().map(str::to_string).collect();
            assert_eq!(lines_of(body), want, "body {body:?}");
        }
    }

    #[test]
    fn fit_line_cuts_at_width_with_room_for_the_mark() {
        assert_eq!(fit_line("hello", 5), ("hello".to_string(), false));
        assert_eq!(fit_line("hello!", 5), ("hell".to_string(), true));
        assert_eq!(fit_line("a\tb", 20), ("a       b".to_string(), false));
        assert_eq!(
            fit_line("\x1b[31mred", 20),
            ("^[[31mred".to_string(), false)
        );
        assert_eq!(fit_line("漢字漢字", 5), ("漢字".to_string(), true));
        assert_eq!(fit_line("abc", 0), (String::new(), false));
        assert_eq!(fit_line("", 0), (String::new(), false));
    }

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
