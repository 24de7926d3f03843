//! `scxray open`'s settings: `--theme`, user theme files and `keys.toml`.
//! Each run gets its own XDG_CONFIG_HOME; all of these fail before the TUI
//! starts, so no terminal is needed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/reports/crashfifo-7.3-ktstr.txt")
}

fn open(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scxray"))
        .arg("open")
        .args(args)
        .arg(example())
        .env("XDG_CONFIG_HOME", config)
        .env_remove("NO_COLOR")
        .output()
        .expect("run scxray")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn unknown_theme_lists_the_available_ones() {
    let config = tempfile::tempdir().unwrap();
    let themes = config.path().join("scxray/themes");
    std::fs::create_dir_all(&themes).unwrap();
    std::fs::write(themes.join("mine.toml"), "extends = \"light\"\n").unwrap();
    let o = open(config.path(), &["--theme", "solarised"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        "scxray: error: unknown theme `solarised`; available themes: dark, light, high-contrast, mine\n"
    );
}

#[test]
fn bad_theme_file_names_the_file_and_the_key() {
    let config = tempfile::tempdir().unwrap();
    let themes = config.path().join("scxray/themes");
    std::fs::create_dir_all(&themes).unwrap();
    std::fs::write(
        themes.join("mine.toml"),
        "[styles]\nerror = { fg = \"redish\" }\n",
    )
    .unwrap();
    let o = open(config.path(), &["--theme", "mine"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains(&themes.join("mine.toml").display().to_string()),
        "{e}"
    );
    assert!(
        e.contains("styles.error.fg = \"redish\": not a colour"),
        "{e}"
    );
}

#[test]
fn conflicting_key_file_names_the_file_the_key_and_both_actions() {
    let config = tempfile::tempdir().unwrap();
    let dir = config.path().join("scxray");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("keys.toml"), "[normal]\ncycle_theme = [\"q\"]\n").unwrap();
    let o = open(config.path(), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        format!(
            "scxray: error: {}: [normal] q is bound to both quit and cycle_theme\n",
            dir.join("keys.toml").display()
        )
    );
}
