//! Themes as TOML files.
//!
//! The built-in themes live in the repository's `themes/` and are compiled in,
//! so an installed binary needs no files. A user's
//! `$XDG_CONFIG_HOME/scxray/themes/<name>.toml` replaces the built-in theme of
//! that name (starting from it, so it may set only a few roles) or adds a new
//! one (starting from its `extends`, default `dark`). See `themes/dark.toml`
//! for the format.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

use super::Theme;

/// The built-in themes, in cycling order; the first is the default.
const BUILTIN: [(&str, &str); 3] = [
    ("dark", include_str!("../../../themes/dark.toml")),
    ("light", include_str!("../../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../../themes/high-contrast.toml"),
    ),
];

/// The themes syntect ships (`ThemeSet::load_defaults`); only these can be
/// named, since no other theme files are loaded.
pub const SYNTECT_THEMES: [&str; 7] = [
    "base16-ocean.dark",
    "base16-eighties.dark",
    "base16-mocha.dark",
    "base16-ocean.light",
    "InspiredGitHub",
    "Solarized (dark)",
    "Solarized (light)",
];

const MODIFIERS: [(&str, Modifier); 9] = [
    ("bold", Modifier::BOLD),
    ("dim", Modifier::DIM),
    ("italic", Modifier::ITALIC),
    ("underlined", Modifier::UNDERLINED),
    ("slow_blink", Modifier::SLOW_BLINK),
    ("rapid_blink", Modifier::RAPID_BLINK),
    ("reversed", Modifier::REVERSED),
    ("hidden", Modifier::HIDDEN),
    ("crossed_out", Modifier::CROSSED_OUT),
];

/// Why a theme could not be loaded. Each names the file and what in it is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error("unknown theme `{name}`; available themes: {}", .available.join(", "))]
    Unknown {
        name: String,
        available: Vec<String>,
    },
    #[error("{}: cannot read the theme file: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not TOML, or a key the format does not have (toml's message says which
    /// line and key).
    #[error("{}: invalid theme file: {message}", .path.display())]
    Syntax { path: PathBuf, message: String },
    #[error("{}: {key} = {value}: {problem}", .path.display())]
    Value {
        path: PathBuf,
        /// Dotted path to the setting: `styles.error.fg`.
        key: String,
        /// The offending value as written.
        value: String,
        problem: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    /// What the theme is for; documentation only.
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    extends: Option<String>,
    syntect: Option<String>,
    #[serde(default)]
    styles: BTreeMap<String, StyleSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StyleSpec {
    fg: Option<String>,
    bg: Option<String>,
    #[serde(default)]
    modifiers: Vec<String>,
}

/// scxray's config directory: `$XDG_CONFIG_HOME/scxray`, or
/// `$HOME/.config/scxray`. Themes and `keys.toml` live there.
pub fn config_dir() -> Option<PathBuf> {
    config_dir_from(
        std::env::var_os("XDG_CONFIG_HOME"),
        std::env::var_os("HOME"),
    )
}

/// [`config_dir`] from given variable values. The XDG spec says a relative
/// `XDG_CONFIG_HOME` is invalid and must be ignored.
pub fn config_dir_from(
    xdg_config_home: Option<OsString>,
    home: Option<OsString>,
) -> Option<PathBuf> {
    let xdg = xdg_config_home
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let base = xdg.or_else(|| {
        home.filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(".config"))
    })?;
    Some(base.join("scxray"))
}

impl Theme {
    /// The theme called `name`: the user's file if there is one, else the
    /// built-in one.
    pub fn by_name(name: &str) -> Result<Theme, ThemeError> {
        Theme::load(config_dir().as_deref(), name)
    }

    /// Every theme name: the built-in ones in cycling order, then the user's.
    pub fn names() -> Vec<String> {
        Theme::names_in(config_dir().as_deref())
    }

    /// [`Theme::by_name`], then `NO_COLOR` wins: the name is still checked, so
    /// a typo fails the same with or without colours.
    pub fn by_name_from_env(name: &str) -> Result<Theme, ThemeError> {
        let theme = Theme::by_name(name)?;
        Ok(match std::env::var_os("NO_COLOR") {
            Some(v) if !v.is_empty() => Theme::plain(),
            _ => theme,
        })
    }

    /// The theme after this one in [`Theme::names`] order, with its name.
    /// Themes whose file fails to load are skipped. A theme not in the list
    /// (the plain one `NO_COLOR` asks for) stays as it is.
    pub fn next_named(&self) -> (String, Theme) {
        self.next_in(config_dir().as_deref())
    }

    /// The theme after this one: the cycle key's action.
    pub fn next(&self) -> Theme {
        self.next_named().1
    }

    /// A built-in theme. They are checked by tests, so this cannot fail.
    pub(super) fn builtin(name: &str) -> Theme {
        let (_, text) = BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or(&BUILTIN[0]);
        Theme::parse(text, &builtin_path(name), Theme::plain())
            .unwrap_or_else(|e| panic!("built-in theme: {e}"))
    }

    /// [`Theme::by_name`] with the config directory given (`None`: built-in
    /// themes only).
    pub fn load(config_dir: Option<&Path>, name: &str) -> Result<Theme, ThemeError> {
        let user = user_file(config_dir, name).filter(|p| p.is_file());
        if let Some(path) = user {
            let text = std::fs::read_to_string(&path).map_err(|source| ThemeError::Read {
                path: path.clone(),
                source,
            })?;
            let base = if BUILTIN.iter().any(|(n, _)| *n == name) {
                Theme::builtin(name)
            } else {
                Theme::builtin(BUILTIN[0].0)
            };
            return Theme::parse(&text, &path, base);
        }
        if BUILTIN.iter().any(|(n, _)| *n == name) {
            return Ok(Theme::builtin(name));
        }
        Err(ThemeError::Unknown {
            name: name.to_string(),
            available: Theme::names_in(config_dir),
        })
    }

    /// [`Theme::names`] with the config directory given.
    pub fn names_in(config_dir: Option<&Path>) -> Vec<String> {
        let mut names: Vec<String> = BUILTIN.iter().map(|(n, _)| n.to_string()).collect();
        let mut user: Vec<String> = config_dir
            .and_then(|d| std::fs::read_dir(d.join("themes")).ok())
            .into_iter()
            .flatten()
            .filter_map(|e| {
                let path = e.ok()?.path();
                if path.extension()? != "toml" {
                    return None;
                }
                let stem = path.file_stem()?.to_str()?.to_string();
                valid_name(&stem).then_some(stem)
            })
            .filter(|n| !names.contains(n))
            .collect();
        user.sort();
        names.append(&mut user);
        names
    }

    /// [`Theme::next_named`] with the config directory given.
    pub fn next_in(&self, config_dir: Option<&Path>) -> (String, Theme) {
        let names = Theme::names_in(config_dir);
        let loaded: Vec<Option<Theme>> = names
            .iter()
            .map(|n| Theme::load(config_dir, n).ok())
            .collect();
        let Some(at) = loaded.iter().position(|t| t.as_ref() == Some(self)) else {
            return ("none (NO_COLOR is set)".to_string(), self.clone());
        };
        (1..=names.len())
            .map(|step| (at + step) % names.len())
            .find_map(|i| Some((names[i].clone(), loaded[i].clone()?)))
            .unwrap_or_else(|| (names[at].clone(), self.clone()))
    }

    /// Reads a theme file's text over `base`: roles it sets replace the base's.
    pub fn parse(text: &str, path: &Path, base: Theme) -> Result<Theme, ThemeError> {
        let file: ThemeFile = toml::from_str(text).map_err(|e| ThemeError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let value_error = |key: String, value: &str, problem: String| ThemeError::Value {
            path: path.to_path_buf(),
            key,
            value: format!("{value:?}"),
            problem,
        };
        let mut theme = match &file.extends {
            None => base,
            Some(name) if BUILTIN.iter().any(|(n, _)| n == name) => Theme::builtin(name),
            Some(name) => {
                let builtins: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
                return Err(value_error(
                    "extends".into(),
                    name,
                    format!("not a built-in theme ({})", builtins.join(", ")),
                ));
            }
        };
        if let Some(name) = &file.syntect {
            theme.syntax_theme = if name == "none" {
                None
            } else {
                let found = SYNTECT_THEMES.iter().find(|t| *t == name).ok_or_else(|| {
                    value_error(
                        "syntect".into(),
                        name,
                        format!(
                            "not a syntect theme; one of: {}, or \"none\"",
                            SYNTECT_THEMES.join(", ")
                        ),
                    )
                })?;
                Some(*found)
            };
        }
        for (role, spec) in &file.styles {
            let style = spec.to_style(|field, value, problem| {
                value_error(format!("styles.{role}.{field}"), value, problem)
            })?;
            let Some(slot) = theme.role_mut(role) else {
                let roles: Vec<&str> = theme.roles().iter().map(|(n, _)| *n).collect();
                return Err(value_error(
                    format!("styles.{role}"),
                    "{...}",
                    format!("not a role; roles: {}", roles.join(", ")),
                ));
            };
            *slot = style;
        }
        Ok(theme)
    }

    /// Every role with its name in theme files. Destructured without `..` so
    /// that a new role fails to compile until it is named here.
    pub fn roles(&self) -> Vec<(&'static str, Style)> {
        let Theme {
            header,
            label,
            error,
            warning,
            matched,
            selected,
            border,
            focused_border,
            dim,
            line_number,
            bpf_frame,
            trampoline_frame,
            key,
            ok,
            cursor,
            current_match,
            syntax_theme: _,
        } = *self;
        vec![
            ("header", header),
            ("label", label),
            ("error", error),
            ("warning", warning),
            ("matched", matched),
            ("selected", selected),
            ("border", border),
            ("focused_border", focused_border),
            ("dim", dim),
            ("line_number", line_number),
            ("bpf_frame", bpf_frame),
            ("trampoline_frame", trampoline_frame),
            ("key", key),
            ("ok", ok),
            ("cursor", cursor),
            ("current_match", current_match),
        ]
    }

    fn role_mut(&mut self, role: &str) -> Option<&mut Style> {
        Some(match role {
            "header" => &mut self.header,
            "label" => &mut self.label,
            "error" => &mut self.error,
            "warning" => &mut self.warning,
            "matched" => &mut self.matched,
            "selected" => &mut self.selected,
            "border" => &mut self.border,
            "focused_border" => &mut self.focused_border,
            "dim" => &mut self.dim,
            "line_number" => &mut self.line_number,
            "bpf_frame" => &mut self.bpf_frame,
            "trampoline_frame" => &mut self.trampoline_frame,
            "key" => &mut self.key,
            "ok" => &mut self.ok,
            "cursor" => &mut self.cursor,
            "current_match" => &mut self.current_match,
            _ => return None,
        })
    }
}

impl StyleSpec {
    fn to_style<E>(&self, err: impl Fn(&str, &str, String) -> E) -> Result<Style, E> {
        let colour = |field: &str, value: &Option<String>| -> Result<Option<Color>, E> {
            value
                .as_deref()
                .map(|v| {
                    Color::from_str(v).map_err(|_| {
                        err(
                            field,
                            v,
                            "not a colour (a name such as \"light-red\", \"0\"..\"255\" or \"#rrggbb\")"
                                .into(),
                        )
                    })
                })
                .transpose()
        };
        let mut style = Style::new();
        if let Some(fg) = colour("fg", &self.fg)? {
            style = style.fg(fg);
        }
        if let Some(bg) = colour("bg", &self.bg)? {
            style = style.bg(bg);
        }
        for m in &self.modifiers {
            let want = m.to_ascii_lowercase();
            let Some((_, bits)) = MODIFIERS.iter().find(|(n, _)| *n == want) else {
                let names: Vec<&str> = MODIFIERS.iter().map(|(n, _)| *n).collect();
                return Err(err(
                    "modifiers",
                    m,
                    format!("not a modifier; one of: {}", names.join(", ")),
                ));
            };
            style = style.add_modifier(*bits);
        }
        Ok(style)
    }
}

fn builtin_path(name: &str) -> PathBuf {
    PathBuf::from(format!("themes/{name}.toml (built in)"))
}

/// A theme name must be a plain file name: `--theme ../x` reads nothing.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn user_file(config_dir: Option<&Path>, name: &str) -> Option<PathBuf> {
    valid_name(name).then(|| config_dir.map(|d| d.join("themes").join(format!("{name}.toml"))))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        let themes = dir.join("themes");
        std::fs::create_dir_all(&themes).unwrap();
        std::fs::write(themes.join(format!("{name}.toml")), text).unwrap();
    }

    #[test]
    fn builtin_files_set_every_role_and_parse() {
        let roles: Vec<&str> = Theme::plain().roles().iter().map(|(n, _)| *n).collect();
        for (name, text) in BUILTIN {
            let file: ThemeFile = toml::from_str(text).unwrap();
            let set: Vec<&str> = file.styles.keys().map(String::as_str).collect();
            let mut want = roles.clone();
            want.sort_unstable();
            assert_eq!(set, want, "{name}.toml must set every role");
            assert!(
                file.syntect.is_some(),
                "{name}.toml must name a syntect theme"
            );
            let theme = Theme::builtin(name);
            assert!(theme.syntax_theme.is_some());
            assert_ne!(theme.error, theme.warning, "{name}");
            assert_ne!(theme.focused_border, theme.border, "{name}");
            assert_ne!(theme.bpf_frame, theme.dim, "{name}");
            // The timeline tells flagged phases from the rest by these two.
            assert_ne!(theme.warning, theme.focused_border, "{name}");
        }
        assert_ne!(Theme::builtin("dark"), Theme::builtin("light"));
        assert_ne!(Theme::builtin("dark"), Theme::builtin("high-contrast"));
    }

    #[test]
    fn every_role_is_settable_by_its_name() {
        let mut t = Theme::plain();
        let odd = Style::new().fg(Color::Indexed(99));
        for (name, _) in Theme::plain().roles() {
            *t.role_mut(name).unwrap_or_else(|| panic!("{name}")) = odd;
        }
        assert!(t.roles().iter().all(|(_, s)| *s == odd));
    }

    #[test]
    fn syntect_list_is_what_syntect_ships() {
        let set = syntect::highlighting::ThemeSet::load_defaults();
        let mut shipped: Vec<&str> = set.themes.keys().map(String::as_str).collect();
        let mut ours = SYNTECT_THEMES.to_vec();
        shipped.sort_unstable();
        ours.sort_unstable();
        assert_eq!(ours, shipped);
    }

    #[test]
    fn names_and_unknown_name() {
        assert_eq!(Theme::names_in(None), ["dark", "light", "high-contrast"]);
        let e = Theme::load(None, "solarised").unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown theme `solarised`; available themes: dark, light, high-contrast"
        );
        assert!(Theme::load(None, "../dark").is_err());
    }

    #[test]
    fn user_file_overrides_a_builtin_and_adds_a_theme() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "light",
            "[styles]\nerror = { fg = \"#ff0000\" }\n",
        );
        write(
            dir.path(),
            "mine",
            "extends = \"high-contrast\"\nsyntect = \"none\"\n[styles]\ndim = { fg = \"244\", modifiers = [\"ITALIC\"] }\n",
        );
        std::fs::write(dir.path().join("themes/notes.txt"), "not a theme").unwrap();
        let d = Some(dir.path());
        assert_eq!(
            Theme::names_in(d),
            ["dark", "light", "high-contrast", "mine"]
        );
        let light = Theme::load(d, "light").unwrap();
        assert_eq!(light.error, Style::new().fg(Color::Rgb(255, 0, 0)));
        assert_eq!(light.header, Theme::builtin("light").header);
        let mine = Theme::load(d, "mine").unwrap();
        assert_eq!(
            mine.dim,
            Style::new()
                .fg(Color::Indexed(244))
                .add_modifier(Modifier::ITALIC)
        );
        assert_eq!(mine.key, Theme::builtin("high-contrast").key);
        assert_eq!(mine.syntax_theme, None);
    }

    #[test]
    fn bad_files_name_the_file_and_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let d = Some(dir.path());
        let path = dir.path().join("themes/bad.toml");
        let cases = [
            (
                "[styles]\nerror = { fg = \"lightredd\" }\n",
                "styles.error.fg = \"lightredd\": not a colour",
            ),
            (
                "[styles]\nerorr = { fg = \"red\" }\n",
                "styles.erorr = \"{...}\": not a role; roles: header, label",
            ),
            (
                "[styles]\nerror = { modifiers = [\"blink\"] }\n",
                "styles.error.modifiers = \"blink\": not a modifier",
            ),
            (
                "syntect = \"monokai\"\n",
                "syntect = \"monokai\": not a syntect theme",
            ),
            (
                "extends = \"mine\"\n",
                "extends = \"mine\": not a built-in theme",
            ),
            (
                "[styles]\nerror = { colour = \"red\" }\n",
                "unknown field `colour`",
            ),
            ("[styles\n", "invalid theme file"),
        ];
        for (text, want) in cases {
            write(dir.path(), "bad", text);
            let e = Theme::load(d, "bad").unwrap_err().to_string();
            assert!(e.starts_with(&format!("{}: ", path.display())), "{e}");
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn next_cycles_and_skips_broken_files() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "zz-broken", "[styles\n");
        write(dir.path(), "mine", "[styles]\nerror = { fg = \"green\" }\n");
        let d = Some(dir.path());
        let mut t = Theme::builtin("dark");
        let mut seen = Vec::new();
        for _ in 0..5 {
            let (name, next) = t.next_in(d);
            seen.push(name);
            t = next;
        }
        assert_eq!(seen, ["light", "high-contrast", "mine", "dark", "light"]);
        assert_eq!(
            Theme::plain().next_in(d).1,
            Theme::plain(),
            "NO_COLOR stays plain"
        );
    }

    #[test]
    fn config_dir_follows_xdg_then_home() {
        let dir = |x: Option<&str>, h: Option<&str>| {
            config_dir_from(x.map(OsString::from), h.map(OsString::from))
        };
        assert_eq!(
            dir(Some("/x"), Some("/h")),
            Some(PathBuf::from("/x/scxray"))
        );
        assert_eq!(
            dir(Some("rel"), Some("/h")),
            Some(PathBuf::from("/h/.config/scxray"))
        );
        assert_eq!(
            dir(None, Some("/h")),
            Some(PathBuf::from("/h/.config/scxray"))
        );
        assert_eq!(dir(Some(""), None), None);
    }
}
