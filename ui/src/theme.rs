//! Styles named by the role they play on screen.
//!
//! Drawing code asks for `theme.error` or `theme.focused_border`, never for a
//! colour, so a palette can change (user theme files later) without touching
//! any pane. Nothing on screen may rely on style alone: focus and truncation
//! also show in the text, because `NO_COLOR` users and snapshot tests see no
//! styles at all.

use ratatui::style::{Color, Modifier, Style};

/// One palette: a style per role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Theme {
    /// Title bar at the very top.
    pub header: Style,
    /// Field names in the summary (`Message`, `Task`, ...).
    pub label: Style,
    /// The crash's cause: exit kind and message.
    pub error: Style,
    /// Caveats: not a kernel exit, no crash found, parser notes.
    pub warning: Style,
    /// Search and matcher hits (used by later panes).
    pub matched: Style,
    /// The selected row or tab.
    pub selected: Style,
    pub border: Style,
    pub focused_border: Style,
    /// Secondary text: generic frames, hints, truncation marks.
    pub dim: Style,
    pub line_number: Style,
    /// BPF program frames: usually where the bug is.
    pub bpf_frame: Style,
    pub trampoline_frame: Style,
    /// Key names in the status bar and help.
    pub key: Style,
}

impl Theme {
    /// The default palette, for dark terminals.
    pub fn dark() -> Theme {
        Theme {
            header: Style::new()
                .fg(Color::Black)
                .bg(Color::Cyan)
                .add_modifier(Modifier::BOLD),
            label: Style::new().fg(Color::Gray).add_modifier(Modifier::BOLD),
            error: Style::new()
                .fg(Color::LightRed)
                .add_modifier(Modifier::BOLD),
            warning: Style::new().fg(Color::Yellow),
            matched: Style::new().fg(Color::Black).bg(Color::Yellow),
            selected: Style::new()
                .fg(Color::Cyan)
                .add_modifier(Modifier::BOLD | Modifier::REVERSED),
            border: Style::new().fg(Color::DarkGray),
            focused_border: Style::new().fg(Color::Cyan),
            dim: Style::new().fg(Color::DarkGray),
            line_number: Style::new().fg(Color::DarkGray),
            bpf_frame: Style::new()
                .fg(Color::LightMagenta)
                .add_modifier(Modifier::BOLD),
            trampoline_frame: Style::new().fg(Color::Blue),
            key: Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
        }
    }

    /// Every role unstyled.
    pub fn plain() -> Theme {
        let none = Style::new();
        Theme {
            header: none,
            label: none,
            error: none,
            warning: none,
            matched: none,
            selected: none,
            border: none,
            focused_border: none,
            dim: none,
            line_number: none,
            bpf_frame: none,
            trampoline_frame: none,
            key: none,
        }
    }

    /// The default palette, or [`Theme::plain`] when `NO_COLOR` is set.
    pub fn from_env() -> Theme {
        Theme::for_no_color(std::env::var_os("NO_COLOR").as_deref())
    }

    /// no-color.org: set and non-empty disables colour, whatever its value.
    pub fn for_no_color(no_color: Option<&std::ffi::OsStr>) -> Theme {
        match no_color {
            Some(v) if !v.is_empty() => Theme::plain(),
            _ => Theme::dark(),
        }
    }
}

impl Default for Theme {
    fn default() -> Theme {
        Theme::dark()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn no_color_set_and_non_empty_gives_plain() {
        assert_eq!(Theme::for_no_color(Some(OsStr::new("1"))), Theme::plain());
        assert_eq!(Theme::for_no_color(Some(OsStr::new(""))), Theme::dark());
        assert_eq!(Theme::for_no_color(None), Theme::dark());
    }

    #[test]
    fn dark_roles_are_distinct_where_it_matters() {
        let t = Theme::dark();
        assert_ne!(t.error, t.warning);
        assert_ne!(t.bpf_frame, t.dim);
        assert_ne!(t.focused_border, t.border);
    }
}
