//! Key bindings as data.
//!
//! One table of (mode, key, action, hint) drives the key handler, the
//! status-bar hints and the `?` help overlay, so the three can never disagree.
//! The user's `keys.toml` patches a [`Keymap`] built from the defaults
//! ([`Keymap::load_user`]).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::panes::Role;

mod user;

pub use user::KeymapError;

/// Which table applies: the panes, the matcher workbench (its own keys over
/// the panes' keys), a workbench field being edited, or an overlay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    Normal,
    /// The workbench pane is focused and no field is being edited. Keys not
    /// bound here fall back to [`Mode::Normal`].
    Workbench,
    /// Typing into a workbench field: unbound printable keys are typed, so
    /// `q` is a character here, not quit.
    Edit,
    /// Typing a search (`/`) or filter (`&`) query in a text pane: unbound
    /// printable keys are typed, as in [`Mode::Edit`].
    Search,
    /// The exported `#[ktstr_test]` overlay.
    Export,
    Help,
}

impl Mode {
    /// The table consulted for keys this mode does not bind.
    pub fn parent(self) -> Option<Mode> {
        match self {
            Mode::Workbench => Some(Mode::Normal),
            _ => None,
        }
    }
}

/// What a key asks for. The mode decides what it applies to (scrolling in help
/// scrolls the help).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Quit,
    NextPane,
    PrevPane,
    /// 1-based, as typed.
    GoToPane(usize),
    ScrollDown,
    ScrollUp,
    PageDown,
    PageUp,
    Top,
    Bottom,
    NextCrash,
    OpenHelp,
    CloseHelp,
    /// Focus the pane showing this (a letter key each: `l` scheduler log).
    GoToRole(Role),
    /// Show the selected backtrace frame's source.
    OpenFrame,
    /// Focus the matcher workbench.
    GoToWorkbench,
    /// Start editing the focused workbench field.
    EditField,
    /// Stop editing (the pin stays as typed).
    LeaveEdit,
    /// Edit the other field (contains ↔ matches).
    NextField,
    CursorLeft,
    CursorRight,
    CursorHome,
    CursorEnd,
    DeleteBack,
    DeleteForward,
    /// Delete from the cursor to the start of the field (Ctrl-U).
    DeleteToStart,
    /// Delete the word before the cursor (Ctrl-W).
    DeleteWord,
    /// A character typed into a field: never in the table (every printable
    /// key unbound in [`Mode::Edit`] means this).
    Type(char),
    NextMatch,
    PrevMatch,
    /// Fill the fields with the suggested pin.
    AcceptSuggestion,
    /// Apply the first diagnostic's suggested fix.
    ApplyFix,
    /// Suggest a pin from the line of the current match (or the top line).
    SuggestFromLine,
    OpenExport,
    CloseExport,
    /// Copy the exported test to the clipboard (OSC 52).
    CopyExport,
    /// Write the exported test to `./<test_name>.rs`.
    WriteExport,
    /// Switch to the next theme (built-in ones, then the user's).
    CycleTheme,
    /// Open the search prompt of the focused text pane.
    StartSearch,
    /// Open the filter prompt of the focused text pane.
    StartFilter,
    /// Keep the typed search or filter.
    AcceptPrompt,
    /// Close the prompt and restore the search or filter as it was.
    CancelPrompt,
    /// Read the search or filter query as a regex, or as plain text again.
    ToggleRegex,
    /// Show the focused pane full screen, or go back.
    ToggleZoom,
    /// Show or hide the ftrace prefix of `sched_ext_dump:` lines.
    ToggleTracePrefix,
    /// Switch the focused pane to its other view (Failure dump: the
    /// auto-repro VM's dump and back).
    ToggleAlternate,
    /// An unbound key.
    None,
}

impl Action {
    /// The top line after this scroll action (line, page, top or bottom;
    /// anything else goes to the bottom) from `pos`, for `total` lines shown
    /// `rows` at a time: never past the last screenful.
    pub fn scrolled(self, pos: usize, total: usize, rows: usize) -> usize {
        let max = total.saturating_sub(rows);
        let pos = pos.min(max);
        let page = rows.max(1);
        match self {
            Action::ScrollDown => pos + 1,
            Action::ScrollUp => pos.saturating_sub(1),
            Action::PageDown => pos + page,
            Action::PageUp => pos.saturating_sub(page),
            Action::Top => 0,
            _ => max,
        }
        .min(max)
    }
}

/// A key with the modifiers that matter (Ctrl, Alt). Shift is folded into the
/// key itself: `G`, BackTab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl Key {
    pub const fn plain(code: KeyCode) -> Key {
        Key {
            code,
            mods: KeyModifiers::NONE,
        }
    }

    pub const fn ch(c: char) -> Key {
        Key::plain(KeyCode::Char(c))
    }

    pub const fn ctrl(c: char) -> Key {
        Key {
            code: KeyCode::Char(c),
            mods: KeyModifiers::CONTROL,
        }
    }

    /// Terminals disagree on Shift: some send `G` with SHIFT, some Shift-Tab as
    /// Tab+SHIFT. Normalise so one table entry matches all of them.
    pub fn from_event(ev: &KeyEvent) -> Key {
        let mods = ev.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
        let code = match ev.code {
            KeyCode::Tab if ev.modifiers.contains(KeyModifiers::SHIFT) => KeyCode::BackTab,
            code => code,
        };
        Key { code, mods }
    }

    /// How the key is written in hints and help.
    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Tab => "Tab".to_string(),
            KeyCode::BackTab => "S-Tab".to_string(),
            KeyCode::Esc => "Esc".to_string(),
            KeyCode::Enter => "Enter".to_string(),
            KeyCode::Up => "↑".to_string(),
            KeyCode::Down => "↓".to_string(),
            KeyCode::Left => "←".to_string(),
            KeyCode::Right => "→".to_string(),
            KeyCode::PageUp => "PgUp".to_string(),
            KeyCode::PageDown => "PgDn".to_string(),
            KeyCode::Home => "Home".to_string(),
            KeyCode::End => "End".to_string(),
            KeyCode::Backspace => "BkSp".to_string(),
            KeyCode::Delete => "Del".to_string(),
            KeyCode::Insert => "Ins".to_string(),
            KeyCode::F(n) => format!("F{n}"),
            other => format!("{other:?}"),
        };
        let mut out = String::new();
        if self.mods.contains(KeyModifiers::CONTROL) {
            out.push_str("C-");
        }
        if self.mods.contains(KeyModifiers::ALT) {
            out.push_str("M-");
        }
        out.push_str(&base);
        out
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    pub mode: Mode,
    pub key: Key,
    pub action: Action,
    /// Help text; rows with the same hint are shown together.
    pub hint: &'static str,
    /// Short label in the status bar; `None` keeps the key out of the bar.
    pub bar: Option<&'static str>,
}

const fn bind(
    mode: Mode,
    key: Key,
    action: Action,
    hint: &'static str,
    bar: Option<&'static str>,
) -> Binding {
    Binding {
        mode,
        key,
        action,
        hint,
        bar,
    }
}

use Mode::{Edit as E, Export as X, Help as H, Normal as N, Search as S, Workbench as W};

/// The built-in keys, in the order help and the status bar list them.
// One row per binding: it reads as the table it is.
#[rustfmt::skip]
const DEFAULT_BINDINGS: &[Binding] = &[
    bind(N, Key::ch('q'), Action::Quit, "quit", Some("quit")),
    bind(N, Key::plain(KeyCode::Esc), Action::Quit, "quit", None),
    bind(N, Key::ctrl('c'), Action::Quit, "quit", None),
    bind(N, Key::ch('?'), Action::OpenHelp, "help", Some("help")),
    bind(N, Key::plain(KeyCode::Tab), Action::NextPane, "next pane", Some("pane")),
    bind(N, Key::plain(KeyCode::BackTab), Action::PrevPane, "previous pane", Some("pane")),
    bind(N, Key::ch('1'), Action::GoToPane(1), "go to pane N", None),
    bind(N, Key::ch('2'), Action::GoToPane(2), "go to pane N", None),
    bind(N, Key::ch('3'), Action::GoToPane(3), "go to pane N", None),
    bind(N, Key::ch('4'), Action::GoToPane(4), "go to pane N", None),
    bind(N, Key::ch('5'), Action::GoToPane(5), "go to pane N", None),
    bind(N, Key::ch('6'), Action::GoToPane(6), "go to pane N", None),
    bind(N, Key::ch('7'), Action::GoToPane(7), "go to pane N", None),
    bind(N, Key::ch('8'), Action::GoToPane(8), "go to pane N", None),
    bind(N, Key::ch('9'), Action::GoToPane(9), "go to pane N", None),
    bind(N, Key::ch('0'), Action::GoToPane(10), "go to pane 10", None),
    bind(N, Key::ch('b'), Action::GoToRole(Role::Backtrace), "go to backtrace", None),
    bind(N, Key::ch('v'), Action::GoToRole(Role::Source), "go to the selected frame's source", None),
    bind(N, Key::ch('t'), Action::GoToRole(Role::Timeline), "go to timeline", None),
    bind(N, Key::ch('S'), Action::GoToRole(Role::Stats), "go to stats", None),
    bind(N, Key::ch('x'), Action::GoToRole(Role::Diagnostics), "go to diagnostics", None),
    bind(N, Key::ch('l'), Action::GoToRole(Role::SchedulerLog), "go to scheduler log", None),
    bind(N, Key::ch('m'), Action::GoToRole(Role::Monitor), "go to monitor", None),
    bind(N, Key::ch('d'), Action::GoToRole(Role::SchedExtDump), "go to sched_ext dump", None),
    bind(N, Key::ch('r'), Action::GoToRole(Role::AutoRepro), "go to auto-repro", None),
    bind(N, Key::ch('o'), Action::GoToRole(Role::Console), "go to console", None),
    bind(N, Key::ch('F'), Action::GoToRole(Role::FailureDump), "go to failure dump", None),
    bind(N, Key::plain(KeyCode::Enter), Action::OpenFrame, "show the selected frame's source (Summary: the stalled task)", None),
    bind(N, Key::ch('j'), Action::ScrollDown, "scroll down (Backtrace: next frame)", Some("scroll")),
    bind(N, Key::plain(KeyCode::Down), Action::ScrollDown, "scroll down (Backtrace: next frame)", None),
    bind(N, Key::ch('k'), Action::ScrollUp, "scroll up (Backtrace: previous frame)", Some("scroll")),
    bind(N, Key::plain(KeyCode::Up), Action::ScrollUp, "scroll up (Backtrace: previous frame)", None),
    bind(N, Key::plain(KeyCode::PageDown), Action::PageDown, "page down", None),
    bind(N, Key::plain(KeyCode::PageUp), Action::PageUp, "page up", None),
    bind(N, Key::ch('g'), Action::Top, "top", Some("top/end")),
    bind(N, Key::plain(KeyCode::Home), Action::Top, "top", None),
    bind(N, Key::ch('G'), Action::Bottom, "bottom", Some("top/end")),
    bind(N, Key::plain(KeyCode::End), Action::Bottom, "bottom", None),
    bind(N, Key::ch('c'), Action::NextCrash, "next crash", Some("next crash")),
    bind(N, Key::ch('T'), Action::CycleTheme, "cycle theme", None),
    bind(N, Key::ch('w'), Action::GoToWorkbench, "matcher workbench", Some("workbench")),
    bind(N, Key::ch('/'), Action::StartSearch, "search (smart case)", Some("search")),
    bind(N, Key::ch('n'), Action::NextMatch, "next match", Some("match")),
    bind(N, Key::ch('N'), Action::PrevMatch, "previous match", Some("match")),
    bind(N, Key::ch('&'), Action::StartFilter, "filter lines (empty clears)", Some("filter")),
    bind(N, Key::ch('z'), Action::ToggleZoom, "zoom the pane", Some("zoom")),
    bind(N, Key::ch('p'), Action::ToggleTracePrefix, "show/hide trace prefixes (sched_ext_dump lines)", Some("prefix")),
    bind(N, Key::ch('R'), Action::ToggleAlternate, "Failure dump: the test run's / the repro VM's", Some("repro dump")),
    bind(W, Key::ch('i'), Action::EditField, "edit the pin field", Some("edit")),
    bind(W, Key::plain(KeyCode::Enter), Action::EditField, "edit the pin field", Some("edit")),
    bind(W, Key::ch('n'), Action::NextMatch, "next match", Some("match")),
    bind(W, Key::ch('N'), Action::PrevMatch, "previous match", Some("match")),
    bind(W, Key::ch('a'), Action::AcceptSuggestion, "accept the suggested pin", Some("accept")),
    bind(W, Key::ch('f'), Action::ApplyFix, "apply the suggested fix", Some("fix")),
    bind(W, Key::ch('s'), Action::SuggestFromLine, "suggest from the match's line", None),
    bind(W, Key::ch('e'), Action::OpenExport, "export as #[ktstr_test]", Some("export")),
    bind(W, Key::ch('y'), Action::CopyExport, "copy the export (OSC 52)", Some("copy")),
    // Leaving a field with Esc twice must not lose the pin by quitting.
    bind(W, Key::plain(KeyCode::Esc), Action::None, "no quit on Esc here (q quits)", None),
    bind(E, Key::plain(KeyCode::Esc), Action::LeaveEdit, "stop editing", Some("done")),
    bind(E, Key::plain(KeyCode::Enter), Action::LeaveEdit, "stop editing", Some("done")),
    bind(E, Key::plain(KeyCode::Tab), Action::NextField, "other field", Some("field")),
    bind(E, Key::plain(KeyCode::BackTab), Action::NextField, "other field", None),
    bind(E, Key::plain(KeyCode::Left), Action::CursorLeft, "cursor left", None),
    bind(E, Key::plain(KeyCode::Right), Action::CursorRight, "cursor right", None),
    bind(E, Key::plain(KeyCode::Home), Action::CursorHome, "start of field", None),
    bind(E, Key::ctrl('a'), Action::CursorHome, "start of field", None),
    bind(E, Key::plain(KeyCode::End), Action::CursorEnd, "end of field", None),
    bind(E, Key::ctrl('e'), Action::CursorEnd, "end of field", None),
    bind(E, Key::plain(KeyCode::Backspace), Action::DeleteBack, "delete before the cursor", None),
    bind(E, Key::plain(KeyCode::Delete), Action::DeleteForward, "delete under the cursor", None),
    bind(E, Key::ctrl('u'), Action::DeleteToStart, "delete to the start", Some("clear")),
    bind(E, Key::ctrl('w'), Action::DeleteWord, "delete the word before", None),
    bind(E, Key::ctrl('c'), Action::Quit, "quit", Some("quit")),
    bind(S, Key::plain(KeyCode::Enter), Action::AcceptPrompt, "keep the query", Some("keep")),
    bind(S, Key::plain(KeyCode::Esc), Action::CancelPrompt, "cancel", Some("cancel")),
    bind(S, Key::ctrl('r'), Action::ToggleRegex, "toggle regex / text", Some("regex")),
    bind(S, Key::plain(KeyCode::Left), Action::CursorLeft, "cursor left", None),
    bind(S, Key::plain(KeyCode::Right), Action::CursorRight, "cursor right", None),
    bind(S, Key::plain(KeyCode::Home), Action::CursorHome, "start of query", None),
    bind(S, Key::ctrl('a'), Action::CursorHome, "start of query", None),
    bind(S, Key::plain(KeyCode::End), Action::CursorEnd, "end of query", None),
    bind(S, Key::ctrl('e'), Action::CursorEnd, "end of query", None),
    bind(S, Key::plain(KeyCode::Backspace), Action::DeleteBack, "delete before the cursor", None),
    bind(S, Key::plain(KeyCode::Delete), Action::DeleteForward, "delete under the cursor", None),
    bind(S, Key::ctrl('u'), Action::DeleteToStart, "delete to the start", None),
    bind(S, Key::ctrl('w'), Action::DeleteWord, "delete the word before", None),
    bind(S, Key::ctrl('c'), Action::Quit, "quit", None),
    bind(X, Key::ch('y'), Action::CopyExport, "copy (OSC 52)", Some("copy")),
    bind(X, Key::ch('w'), Action::WriteExport, "write ./<test_name>.rs", Some("write")),
    bind(X, Key::plain(KeyCode::Esc), Action::CloseExport, "close", Some("close")),
    bind(X, Key::ch('e'), Action::CloseExport, "close", None),
    bind(X, Key::ch('q'), Action::Quit, "quit", Some("quit")),
    bind(X, Key::ctrl('c'), Action::Quit, "quit", None),
    bind(X, Key::ch('j'), Action::ScrollDown, "scroll down", Some("scroll")),
    bind(X, Key::plain(KeyCode::Down), Action::ScrollDown, "scroll down", None),
    bind(X, Key::ch('k'), Action::ScrollUp, "scroll up", Some("scroll")),
    bind(X, Key::plain(KeyCode::Up), Action::ScrollUp, "scroll up", None),
    bind(X, Key::plain(KeyCode::PageDown), Action::PageDown, "page down", None),
    bind(X, Key::plain(KeyCode::PageUp), Action::PageUp, "page up", None),
    bind(X, Key::ch('g'), Action::Top, "top", None),
    bind(X, Key::ch('G'), Action::Bottom, "bottom", None),
    bind(H, Key::ch('?'), Action::CloseHelp, "close help", Some("close")),
    bind(H, Key::plain(KeyCode::Esc), Action::CloseHelp, "close help", Some("close")),
    bind(H, Key::ch('q'), Action::Quit, "quit", Some("quit")),
    bind(H, Key::ctrl('c'), Action::Quit, "quit", None),
    bind(H, Key::ch('j'), Action::ScrollDown, "scroll down", Some("scroll")),
    bind(H, Key::plain(KeyCode::Down), Action::ScrollDown, "scroll down", None),
    bind(H, Key::ch('k'), Action::ScrollUp, "scroll up", Some("scroll")),
    bind(H, Key::plain(KeyCode::Up), Action::ScrollUp, "scroll up", None),
    bind(H, Key::plain(KeyCode::PageDown), Action::PageDown, "page down", None),
    bind(H, Key::plain(KeyCode::PageUp), Action::PageUp, "page up", None),
    bind(H, Key::ch('g'), Action::Top, "top", None),
    bind(H, Key::ch('G'), Action::Bottom, "bottom", None),
];

/// The active bindings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    bindings: Vec<Binding>,
}

impl Default for Keymap {
    fn default() -> Keymap {
        Keymap {
            bindings: DEFAULT_BINDINGS.to_vec(),
        }
    }
}

impl Keymap {
    pub fn bindings(&self) -> &[Binding] {
        &self.bindings
    }

    /// The action bound to `key` in `mode` (or in its parent when `mode`
    /// does not bind it), or [`Action::None`].
    pub fn action(&self, mode: Mode, key: Key) -> Action {
        let mut m = Some(mode);
        while let Some(mode) = m {
            if let Some(b) = self
                .bindings
                .iter()
                .find(|b| b.mode == mode && b.key == key)
            {
                return b.action;
            }
            m = mode.parent();
        }
        Action::None
    }

    fn binds(&self, mode: Mode, key: Key) -> bool {
        self.bindings.iter().any(|b| b.mode == mode && b.key == key)
    }

    /// Help rows for `mode`: all keys sharing a hint, then the hint.
    pub fn help_rows(&self, mode: Mode) -> Vec<(String, &'static str)> {
        group(
            self.bindings
                .iter()
                .filter(|b| b.mode == mode)
                .map(|b| (b.hint, b.key)),
        )
        .into_iter()
        .map(|(hint, keys)| (keys_label(&keys, " "), hint))
        .collect()
    }

    /// Status-bar hints for `mode`, then for the keys it inherits from its
    /// parent, keeping only actions `shown` accepts (e.g. "next crash" only
    /// when there are several).
    pub fn bar_hints(
        &self,
        mode: Mode,
        shown: impl Fn(Action) -> bool,
    ) -> Vec<(String, &'static str)> {
        let own = self.bindings.iter().filter(|b| b.mode == mode);
        let inherited = self
            .bindings
            .iter()
            .filter(|b| mode.parent() == Some(b.mode) && !self.binds(mode, b.key));
        group(own.chain(inherited).filter_map(|b| {
            let label = b.bar?;
            shown(b.action).then_some((label, b.key))
        }))
        .into_iter()
        .map(|(label, keys)| (keys_label(&keys, "/"), label))
        .collect()
    }

    /// Keys bound twice in one mode to different actions: each would shadow
    /// the other, so a key file producing any is rejected.
    pub fn conflicts(&self) -> Vec<(Mode, Key, Action, Action)> {
        let mut seen = std::collections::HashMap::new();
        let mut out = Vec::new();
        for b in &self.bindings {
            if let Some(&first) = seen.get(&(b.mode, b.key)) {
                if first != b.action {
                    out.push((b.mode, b.key, first, b.action));
                }
            } else {
                seen.insert((b.mode, b.key), b.action);
            }
        }
        out
    }
}

/// Groups keys by label, in first-appearance order.
fn group(items: impl Iterator<Item = (&'static str, Key)>) -> Vec<(&'static str, Vec<Key>)> {
    let mut groups: Vec<(&'static str, Vec<Key>)> = Vec::new();
    for (label, key) in items {
        match groups.iter_mut().find(|(l, _)| *l == label) {
            Some((_, keys)) => keys.push(key),
            None => groups.push((label, vec![key])),
        }
    }
    groups
}

/// `j/↓`, or `1-9` for a long run such as the digits.
fn keys_label(keys: &[Key], sep: &str) -> String {
    match keys {
        [first, .., last] if keys.len() > 3 => format!("{}-{}", first.label(), last.label()),
        _ => keys.iter().map(Key::label).collect::<Vec<_>>().join(sep),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyEvent;

    #[test]
    fn no_key_is_bound_to_two_actions_in_one_mode() {
        let conflicts = Keymap::default().conflicts();
        assert!(conflicts.is_empty(), "conflicting bindings: {conflicts:?}");
    }

    #[test]
    fn conflicts_are_detected() {
        let mut km = Keymap::default();
        km.bindings
            .push(bind(N, Key::ch('j'), Action::Quit, "oops", None));
        assert_eq!(
            km.conflicts(),
            vec![(N, Key::ch('j'), Action::ScrollDown, Action::Quit)]
        );
    }

    #[test]
    fn shift_is_folded_into_the_key() {
        let g = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(Key::from_event(&g), Key::ch('G'));
        let stab = KeyEvent::new(KeyCode::Tab, KeyModifiers::SHIFT);
        assert_eq!(Key::from_event(&stab), Key::plain(KeyCode::BackTab));
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(Key::from_event(&ctrl_c), Key::ctrl('c'));
    }

    #[test]
    fn esc_quits_panes_but_closes_help() {
        let km = Keymap::default();
        let esc = Key::plain(KeyCode::Esc);
        assert_eq!(km.action(Mode::Normal, esc), Action::Quit);
        assert_eq!(km.action(Mode::Help, esc), Action::CloseHelp);
        assert_eq!(km.action(Mode::Normal, Key::ch('Z')), Action::None);
    }

    #[test]
    fn workbench_falls_back_to_pane_keys_except_its_own() {
        let km = Keymap::default();
        assert_eq!(km.action(Mode::Workbench, Key::ch('j')), Action::ScrollDown);
        assert_eq!(km.action(Mode::Workbench, Key::ch('q')), Action::Quit);
        assert_eq!(km.action(Mode::Workbench, Key::ch('n')), Action::NextMatch);
        assert_eq!(km.action(Mode::Normal, Key::ch('n')), Action::NextMatch);
        // Only Esc (no quit) and Enter (edit, not "open frame") are meant to
        // shadow a pane key with another action.
        let shadowed: Vec<Key> = km
            .bindings()
            .iter()
            .filter(|b| {
                b.mode == Mode::Workbench
                    && km.binds(Mode::Normal, b.key)
                    && km.action(Mode::Normal, b.key) != b.action
            })
            .map(|b| b.key)
            .collect();
        assert_eq!(
            shadowed,
            [Key::plain(KeyCode::Enter), Key::plain(KeyCode::Esc)]
        );
        let bar = km.bar_hints(Mode::Workbench, |_| true);
        assert_eq!(bar[0], ("i/Enter".to_string(), "edit"));
        assert!(bar.contains(&("q".to_string(), "quit")));
    }

    #[test]
    fn edit_mode_types_letters_and_has_no_fallback() {
        let km = Keymap::default();
        for c in ['q', 'j', '?', '1', 'w', 'n'] {
            assert_eq!(km.action(Mode::Edit, Key::ch(c)), Action::None, "{c}");
        }
        assert_eq!(km.action(Mode::Edit, Key::ctrl('c')), Action::Quit);
        assert_eq!(
            km.action(Mode::Edit, Key::plain(KeyCode::Esc)),
            Action::LeaveEdit
        );
    }

    #[test]
    fn help_and_bar_are_generated_from_the_table() {
        let km = Keymap::default();
        let help = km.help_rows(Mode::Normal);
        assert!(help.contains(&("1-9".to_string(), "go to pane N")));
        assert!(help.contains(&("j ↓".to_string(), "scroll down (Backtrace: next frame)")));
        assert!(help.contains(&("l".to_string(), "go to scheduler log")));
        let bar = km.bar_hints(Mode::Normal, |a| a != Action::NextCrash);
        assert_eq!(bar[0], ("q".to_string(), "quit"));
        assert!(bar.contains(&("j/k".to_string(), "scroll")));
        assert!(!bar.iter().any(|(_, l)| *l == "next crash"));
    }
}
