//! Styles named by the role they play on screen.
//!
//! Drawing code asks for `theme.error` or `theme.focused_border`, never for a
//! colour, so a palette can change (the `themes/*.toml` files, built in, and
//! the user's) without touching any pane. Nothing on screen may rely on style
//! alone: focus and truncation also show in the text, because `NO_COLOR`
//! users and snapshot tests see no styles at all.

use ratatui::style::{Modifier, Style};

mod file;

pub use file::{config_dir, config_dir_from, ThemeError, SYNTECT_THEMES};

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
    /// A verdict that holds (the pin would pass).
    pub ok: Style,
    /// The text cursor in an input field. Reverse video, not colour, so it
    /// also shows under `NO_COLOR`.
    pub cursor: Style,
    /// The current match (n/N) among the `matched` ones.
    pub current_match: Style,
    /// syntect theme for highlighted source (the export overlay), chosen to
    /// sit on this palette's background; `None` draws source unstyled.
    pub syntax_theme: Option<&'static str>,
}

impl Theme {
    /// The default palette, for dark terminals: `themes/dark.toml`.
    pub fn dark() -> Theme {
        Theme::builtin("dark")
    }

    /// Every role unstyled, except the cursor (reverse video is not colour).
    pub fn plain() -> Theme {
        let none = Style::new();
        Theme {
            header: none,
            label: none,
            error: none,
            warning: none,
            // NO_COLOR forbids colour, not attributes: matches stay visible.
            matched: Style::new().add_modifier(Modifier::UNDERLINED),
            selected: none,
            border: none,
            focused_border: none,
            dim: none,
            line_number: none,
            bpf_frame: none,
            trampoline_frame: none,
            key: none,
            ok: none,
            cursor: Style::new().add_modifier(Modifier::REVERSED),
            current_match: Style::new().add_modifier(Modifier::REVERSED),
            syntax_theme: None,
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
