//! The user's key file: `$XDG_CONFIG_HOME/scxray/keys.toml`.
//!
//! ```toml
//! [normal]
//! quit = ["q", "C-c"]     # replaces every default key of `quit` in this mode
//! next_pane = "Tab"       # one key may be written without the list
//! cycle_theme = []        # unbinds
//! ```
//!
//! Tables are modes (`normal`, `help`, ...), keys are actions in snake_case
//! (`scroll_down`, `go_to_pane_3`), values are key names: a character (`q`,
//! `G`, `?`), `C-`/`M-` (Ctrl, Alt) and `S-` (Shift) prefixes, or `Tab`,
//! `S-Tab`, `Esc`, `Enter`, `Space`, `Up`, `Down`, `Left`, `Right`, `PgUp`,
//! `PgDn`, `Home`, `End`, `Backspace`, `Del`, `Ins`, `F1`..`F24`; the arrows
//! the help overlay shows (`↑`) are accepted too. The result must still bind
//! no key twice in one mode.
//!
//! Mode and action names come from the defaults table itself, so a mode or
//! action added there is configurable without touching this file.

use std::path::{Path, PathBuf};

use crossterm::event::{KeyCode, KeyModifiers};

use super::{Action, Binding, Key, Keymap, Mode, DEFAULT_BINDINGS};

/// Why the key file was rejected. Each names the file and the offending entry.
#[derive(Debug, thiserror::Error)]
pub enum KeymapError {
    #[error("{}: cannot read the key file: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: invalid key file: {message}", .path.display())]
    Syntax { path: PathBuf, message: String },
    #[error("{}: [{mode}] is not a key mode; modes: {}", .path.display(), .known.join(", "))]
    UnknownMode {
        path: PathBuf,
        mode: String,
        known: Vec<String>,
    },
    #[error("{}: `{key}` is outside any [mode] table: put it under [normal] (or another mode)", .path.display())]
    OutsideMode { path: PathBuf, key: String },
    #[error("{}: [{mode}] {action}: no such action; actions: {}", .path.display(), .known.join(", "))]
    UnknownAction {
        path: PathBuf,
        mode: String,
        action: String,
        known: Vec<String>,
    },
    #[error("{}: [{mode}] {action} = {value}: expected a key name or a list of key names", .path.display())]
    BadValue {
        path: PathBuf,
        mode: String,
        action: String,
        value: String,
    },
    #[error(
        "{}: [{mode}] {action} = {key:?}: not a key name (examples: q, G, C-c, M-x, Tab, S-Tab, Esc, Enter, Space, Up, PgDn, F1)",
        .path.display()
    )]
    BadKey {
        path: PathBuf,
        mode: String,
        action: String,
        key: String,
    },
    #[error("{}: {}", .path.display(), .conflicts.join("; "))]
    Conflicts {
        path: PathBuf,
        /// `[normal] j is bound to both scroll_down and quit`, one per clash.
        conflicts: Vec<String>,
    },
}

impl Keymap {
    /// The defaults patched by the user's `keys.toml`, if there is one.
    pub fn load_user() -> Result<Keymap, KeymapError> {
        Keymap::load_from(crate::theme::config_dir().as_deref())
    }

    /// [`Keymap::load_user`] with scxray's config directory given (`None`:
    /// the defaults).
    pub fn load_from(config_dir: Option<&Path>) -> Result<Keymap, KeymapError> {
        let Some(path) = config_dir.map(|d| d.join("keys.toml")) else {
            return Ok(Keymap::default());
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Keymap::from_toml(&text, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Keymap::default()),
            Err(source) => Err(KeymapError::Read { path, source }),
        }
    }

    /// The defaults patched by a key file's text; `path` names it in errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<Keymap, KeymapError> {
        let table: toml::Table = toml::from_str(text).map_err(|e| KeymapError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let mut keymap = Keymap::default();
        let modes = known_modes();
        for (mode_name, actions) in &table {
            let Some(actions) = actions.as_table() else {
                return Err(KeymapError::OutsideMode {
                    path: path.to_path_buf(),
                    key: mode_name.clone(),
                });
            };
            let Some(&mode) = modes
                .iter()
                .find(|m| snake(&format!("{m:?}")) == *mode_name)
            else {
                return Err(KeymapError::UnknownMode {
                    path: path.to_path_buf(),
                    mode: mode_name.clone(),
                    known: modes.iter().map(|m| snake(&format!("{m:?}"))).collect(),
                });
            };
            for (action_name, value) in actions {
                let Some(action) = action_by_name(action_name) else {
                    return Err(KeymapError::UnknownAction {
                        path: path.to_path_buf(),
                        mode: mode_name.clone(),
                        action: action_name.clone(),
                        known: known_actions().iter().map(|a| action_name_of(*a)).collect(),
                    });
                };
                let bad_value = || KeymapError::BadValue {
                    path: path.to_path_buf(),
                    mode: mode_name.clone(),
                    action: action_name.clone(),
                    value: value.to_string(),
                };
                let names: Vec<&str> = match value {
                    toml::Value::String(s) => vec![s.as_str()],
                    toml::Value::Array(items) => items
                        .iter()
                        .map(|v| v.as_str().ok_or_else(bad_value))
                        .collect::<Result<_, _>>()?,
                    _ => return Err(bad_value()),
                };
                let mut keys: Vec<Key> = Vec::new();
                for name in names {
                    let key = Key::parse(name).ok_or_else(|| KeymapError::BadKey {
                        path: path.to_path_buf(),
                        mode: mode_name.clone(),
                        action: action_name.clone(),
                        key: name.to_string(),
                    })?;
                    if !keys.contains(&key) {
                        keys.push(key);
                    }
                }
                keymap.rebind(mode, action, &keys);
            }
        }
        let conflicts: Vec<String> = keymap
            .conflicts()
            .into_iter()
            .map(|(mode, key, first, second)| {
                format!(
                    "[{}] {} is bound to both {} and {}",
                    snake(&format!("{mode:?}")),
                    key.label(),
                    action_name_of(first),
                    action_name_of(second)
                )
            })
            .collect();
        if !conflicts.is_empty() {
            return Err(KeymapError::Conflicts {
                path: path.to_path_buf(),
                conflicts,
            });
        }
        Ok(keymap)
    }

    /// Replaces every key of `action` in `mode` with `keys`, where the first
    /// old one was, so help keeps its order; the first key inherits the
    /// status-bar label.
    fn rebind(&mut self, mode: Mode, action: Action, keys: &[Key]) {
        let old: Vec<usize> = (0..self.bindings.len())
            .filter(|&i| self.bindings[i].mode == mode && self.bindings[i].action == action)
            .collect();
        let hint = old
            .first()
            .map(|&i| self.bindings[i].hint)
            .or_else(|| default_hint(action))
            .unwrap_or("");
        let bar = old.iter().find_map(|&i| self.bindings[i].bar);
        let at = match old.first() {
            Some(&i) => i,
            None => self
                .bindings
                .iter()
                .rposition(|b| b.mode == mode)
                .map_or(self.bindings.len(), |i| i + 1),
        };
        for &i in old.iter().rev() {
            self.bindings.remove(i);
        }
        for (n, &key) in keys.iter().enumerate() {
            let binding = Binding {
                mode,
                key,
                action,
                hint,
                bar: if n == 0 { bar } else { None },
            };
            self.bindings.insert(at + n, binding);
        }
    }
}

impl Key {
    /// A key from its name in a key file (see the module docs), or `None`.
    pub fn parse(name: &str) -> Option<Key> {
        let mut mods = KeyModifiers::NONE;
        let mut shift = false;
        let mut rest = name.trim();
        // `C--` is Ctrl and `-`: a prefix needs something after it.
        while let Some((prefix, after)) = rest.split_at_checked(2).filter(|(_, a)| !a.is_empty()) {
            match prefix {
                "C-" | "c-" => mods |= KeyModifiers::CONTROL,
                "M-" | "m-" | "A-" | "a-" => mods |= KeyModifiers::ALT,
                "S-" | "s-" => shift = true,
                _ => break,
            }
            rest = after;
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(c), None) => {
                let c = if shift { c.to_ascii_uppercase() } else { c };
                // Terminals send Ctrl-letters lowercase, with or without Shift.
                let c = if mods.contains(KeyModifiers::CONTROL) {
                    c.to_ascii_lowercase()
                } else {
                    c
                };
                return match c {
                    '↑' => Some(KeyCode::Up),
                    '↓' => Some(KeyCode::Down),
                    '←' => Some(KeyCode::Left),
                    '→' => Some(KeyCode::Right),
                    c => Some(KeyCode::Char(c)),
                }
                .map(|code| Key { code, mods });
            }
            (None, _) => return None,
            _ => rest.to_ascii_lowercase(),
        };
        let code = match code.as_str() {
            "tab" if shift => KeyCode::BackTab,
            "backtab" => KeyCode::BackTab,
            // Shift is folded into the key: only Tab and characters carry it.
            _ if shift => return None,
            "tab" => KeyCode::Tab,
            "esc" | "escape" => KeyCode::Esc,
            "enter" | "return" | "ret" => KeyCode::Enter,
            "space" | "spc" => KeyCode::Char(' '),
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pgup" | "pageup" => KeyCode::PageUp,
            "pgdn" | "pgdown" | "pagedown" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "backspace" | "bksp" | "bs" => KeyCode::Backspace,
            "del" | "delete" => KeyCode::Delete,
            "ins" | "insert" => KeyCode::Insert,
            f => match f.strip_prefix('f').and_then(|n| n.parse::<u8>().ok()) {
                Some(n @ 1..=24) => KeyCode::F(n),
                _ => return None,
            },
        };
        Some(Key { code, mods })
    }
}

/// `NextPane` → `next_pane`, `GoToPane(3)` → `go_to_pane_3`.
fn snake(debug: &str) -> String {
    let mut out = String::new();
    for c in debug.chars() {
        match c {
            'A'..='Z' => {
                if !out.is_empty() && !out.ends_with('_') {
                    out.push('_');
                }
                out.push(c.to_ascii_lowercase());
            }
            '(' => out.push('_'),
            ')' | '\'' | '"' => {}
            c => out.push(c),
        }
    }
    out
}

/// An action's name in key files.
pub(super) fn action_name_of(action: Action) -> String {
    snake(&format!("{action:?}"))
}

/// Modes the defaults bind keys in, in table order.
fn known_modes() -> Vec<Mode> {
    let mut modes = Vec::new();
    for b in DEFAULT_BINDINGS {
        if !modes.contains(&b.mode) {
            modes.push(b.mode);
        }
    }
    modes
}

/// Actions the defaults bind, in table order: the ones a key can ask for.
fn known_actions() -> Vec<Action> {
    let mut actions = Vec::new();
    for b in DEFAULT_BINDINGS {
        if b.action != Action::None && !actions.contains(&b.action) {
            actions.push(b.action);
        }
    }
    actions
}

fn action_by_name(name: &str) -> Option<Action> {
    if let Some(n) = name.strip_prefix("go_to_pane_") {
        // Panes past 9 have no default key but may get one.
        return n.parse().ok().filter(|&n| n >= 1).map(Action::GoToPane);
    }
    known_actions()
        .into_iter()
        .find(|&a| action_name_of(a) == name)
}

fn default_hint(action: Action) -> Option<&'static str> {
    DEFAULT_BINDINGS
        .iter()
        .find(|b| {
            b.action == action
                || matches!(
                    (b.action, action),
                    (Action::GoToPane(_), Action::GoToPane(_))
                )
        })
        .map(|b| b.hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path() -> PathBuf {
        PathBuf::from("/cfg/scxray/keys.toml")
    }

    fn load(text: &str) -> Result<Keymap, String> {
        Keymap::from_toml(text, &path()).map_err(|e| e.to_string())
    }

    #[test]
    fn key_names() {
        let k = |s| Key::parse(s);
        assert_eq!(k("q"), Some(Key::ch('q')));
        assert_eq!(k("G"), Some(Key::ch('G')));
        assert_eq!(k("S-g"), Some(Key::ch('G')));
        assert_eq!(k("-"), Some(Key::ch('-')));
        assert_eq!(k("C--"), Some(Key::ctrl('-')));
        assert_eq!(k("C-c"), Some(Key::ctrl('c')));
        assert_eq!(k("C-C"), Some(Key::ctrl('c')));
        assert_eq!(
            k("M-x"),
            Some(Key {
                code: KeyCode::Char('x'),
                mods: KeyModifiers::ALT
            })
        );
        assert_eq!(
            k("C-M-x").map(|k| k.mods),
            Some(KeyModifiers::CONTROL | KeyModifiers::ALT)
        );
        assert_eq!(k("Tab"), Some(Key::plain(KeyCode::Tab)));
        assert_eq!(k("S-Tab"), Some(Key::plain(KeyCode::BackTab)));
        assert_eq!(k("esc"), Some(Key::plain(KeyCode::Esc)));
        assert_eq!(k("PgDn"), Some(Key::plain(KeyCode::PageDown)));
        assert_eq!(k("PageUp"), Some(Key::plain(KeyCode::PageUp)));
        assert_eq!(k("F1"), Some(Key::plain(KeyCode::F(1))));
        assert_eq!(k("F12"), Some(Key::plain(KeyCode::F(12))));
        assert_eq!(k("Space"), Some(Key::ch(' ')));
        assert_eq!(k("↓"), Some(Key::plain(KeyCode::Down)));
        for bad in ["", "C-", "F0", "F25", "S-Up", "Hyper-x", "qq", "Ctrl+c"] {
            assert_eq!(k(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn every_default_key_label_parses_back() {
        for b in DEFAULT_BINDINGS {
            assert_eq!(Key::parse(&b.key.label()), Some(b.key), "{}", b.key.label());
        }
        assert_eq!(
            Key::parse(&Key::plain(KeyCode::F(7)).label()),
            Some(Key::plain(KeyCode::F(7)))
        );
    }

    #[test]
    fn action_and_mode_names() {
        assert_eq!(action_name_of(Action::NextPane), "next_pane");
        assert_eq!(action_name_of(Action::GoToPane(3)), "go_to_pane_3");
        assert_eq!(action_by_name("cycle_theme"), Some(Action::CycleTheme));
        assert_eq!(action_by_name("toggle_regex"), Some(Action::ToggleRegex));
        assert_eq!(action_by_name("go_to_pane_12"), Some(Action::GoToPane(12)));
        assert_eq!(action_by_name("go_to_pane_0"), None);
        assert_eq!(action_by_name("none"), None);
        assert_eq!(snake("Normal"), "normal");
        // Every defaults action round-trips through its name.
        for a in known_actions() {
            assert_eq!(action_by_name(&action_name_of(a)), Some(a));
        }
    }

    #[test]
    fn overrides_replace_an_actions_keys_in_place() {
        let km = load("[normal]\nquit = [\"Z\", \"C-c\"]\nnext_pane = \"O\"\n").unwrap();
        assert_eq!(km.action(Mode::Normal, Key::ch('Z')), Action::Quit);
        assert_eq!(km.action(Mode::Normal, Key::ch('q')), Action::None);
        assert_eq!(
            km.action(Mode::Normal, Key::plain(KeyCode::Esc)),
            Action::None
        );
        assert_eq!(km.action(Mode::Normal, Key::ctrl('c')), Action::Quit);
        assert_eq!(km.action(Mode::Normal, Key::ch('O')), Action::NextPane);
        assert_eq!(
            km.action(Mode::Normal, Key::plain(KeyCode::Tab)),
            Action::None
        );
        // Help mode keeps its own quit key.
        assert_eq!(km.action(Mode::Help, Key::ch('q')), Action::Quit);
        // Hints and the bar follow: the first new key takes the bar label, in place.
        let bar = km.bar_hints(Mode::Normal, |_| true);
        assert_eq!(bar[0], ("Z".to_string(), "quit"));
        assert!(km
            .help_rows(Mode::Normal)
            .contains(&("Z C-c".to_string(), "quit")));
        assert!(km.conflicts().is_empty());
    }

    #[test]
    fn unbind_and_bind_in_another_mode() {
        let km = load(
            "[normal]\ncycle_theme = []\n[help]\ncycle_theme = [\"F2\"]\ngo_to_pane_10 = \"0\"\n",
        )
        .unwrap();
        assert_eq!(km.action(Mode::Normal, Key::ch('T')), Action::None);
        assert_eq!(
            km.action(Mode::Help, Key::plain(KeyCode::F(2))),
            Action::CycleTheme
        );
        assert!(km
            .help_rows(Mode::Help)
            .contains(&("F2".to_string(), "cycle theme")));
        assert_eq!(km.action(Mode::Help, Key::ch('0')), Action::GoToPane(10));
    }

    #[test]
    fn a_conflict_names_the_file_the_key_and_both_actions() {
        let e = load("[normal]\nquit = [\"j\"]\n").unwrap_err();
        assert_eq!(
            e,
            "/cfg/scxray/keys.toml: [normal] j is bound to both quit and scroll_down"
        );
    }

    #[test]
    fn invalid_files_are_clear_errors() {
        let cases = [
            (
                "[normall]\nquit = \"q\"\n",
                "/cfg/scxray/keys.toml: [normall] is not a key mode; modes: normal,",
            ),
            (
                "[normal]\nquitt = \"q\"\n",
                "/cfg/scxray/keys.toml: [normal] quitt: no such action; actions: quit, open_help,",
            ),
            (
                "[normal]\nquit = \"Ctrl+q\"\n",
                "/cfg/scxray/keys.toml: [normal] quit = \"Ctrl+q\": not a key name",
            ),
            (
                "[normal]\nquit = 3\n",
                "/cfg/scxray/keys.toml: [normal] quit = 3: expected a key name",
            ),
            (
                "[normal]\nquit = [\"q\", 3]\n",
                "[normal] quit = [\"q\", 3]: expected a key name",
            ),
            (
                "quit = \"q\"\n",
                "/cfg/scxray/keys.toml: `quit` is outside any [mode] table",
            ),
            ("[normal\n", "/cfg/scxray/keys.toml: invalid key file: "),
        ];
        for (text, want) in cases {
            let e = load(text).unwrap_err();
            assert!(e.contains(want), "{text:?}:\n{e}\nwant: {want}");
        }
    }

    #[test]
    fn load_from_a_config_dir() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            Keymap::load_from(Some(dir.path())).unwrap(),
            Keymap::default()
        );
        assert_eq!(Keymap::load_from(None).unwrap(), Keymap::default());
        std::fs::write(dir.path().join("keys.toml"), "[normal]\nquit = \"Z\"\n").unwrap();
        let km = Keymap::load_from(Some(dir.path())).unwrap();
        assert_eq!(km.action(Mode::Normal, Key::ch('Z')), Action::Quit);
        std::fs::write(dir.path().join("keys.toml"), "[normal]\nquit = \"k\"\n").unwrap();
        let e = Keymap::load_from(Some(dir.path())).unwrap_err().to_string();
        assert!(
            e.starts_with(&dir.path().join("keys.toml").display().to_string()),
            "{e}"
        );
        assert!(e.contains("k is bound to both"), "{e}");
    }
}
