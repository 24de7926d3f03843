//! Drives the real binary in a real terminal (tmux): open a report, switch
//! panes, open help, resize, use the matcher workbench, quit, and check that
//! the terminal came back in cooked mode on the main screen.

#[path = "../../tests/support/require.rs"]
mod require;
#[path = "common/tmux.rs"]
mod tmux;

use std::thread::sleep;
use std::time::Duration;

use tmux::Tmux;

#[test]
fn open_navigate_resize_quit_restores_terminal() {
    let Some(t) = Tmux::open_example(100, 30) else {
        return;
    };

    let s = t.wait_for("scx_bpf_error (1025)");
    assert!(s.contains("apply_cell_config returned -EINVAL"), "{s}");

    t.keys(&["2"]);
    let s = t.wait_for("innermost first");
    assert!(
        s.contains("bpf_prog_3a0600fe7b4b0a35_apply_cell_config"),
        "{s}"
    );

    t.keys(&["Tab"]);
    t.wait_for("CPU 1");

    t.keys(&["?"]);
    t.wait_for("quit");
    t.keys(&["Escape"]);

    t.keys(&["5", "G"]);
    t.wait_for("scheduler log");

    t.resize(40, 10);
    sleep(Duration::from_millis(300));
    t.resize(20, 5);
    sleep(Duration::from_millis(300));
    t.resize(120, 40);
    t.wait_for("scx_bpf_error (1025)");

    t.keys(&["q"]);
    t.assert_restored("Tab/S-Tab");
}

#[test]
fn unreadable_file_message_in_terminal() {
    let bin = env!("CARGO_BIN_EXE_scxray");
    let cmd = format!("{bin} open /nonexistent/x.log; echo EXITED rc=$?; sleep 30");
    let Some(t) = Tmux::start(100, 10, &cmd) else {
        return;
    };
    let s = t.wait_for("EXITED rc=2");
    assert!(
        s.contains("scxray: error: /nonexistent/x.log: no such file"),
        "{s}"
    );
}

/// The workbench live: type a literal, read the verdict and the count off
/// the screen, type an invalid regex and read the error with its caret,
/// check that `q` in a field is typed, then quit and check the terminal.
#[test]
fn workbench_verdict_and_regex_error_on_screen() {
    let Some(t) = Tmux::open_example(120, 40) else {
        return;
    };
    t.wait_for("scx_bpf_error (1025)");

    t.keys(&["w"]);
    t.wait_for("[8 Workbench]");
    // The crash message's suggestion arrives from the worker.
    t.wait_for("suggested from the crash message");

    t.keys(&["i"]);
    t.type_text("apply_cell_config returned");
    let s = t.wait_until("PASS and a count", |s| {
        s.contains("PASS  ktstr would accept") && s.contains(" matches│")
    });
    let field = s
        .lines()
        .find(|l| l.contains("contains apply_cell_config returned"))
        .unwrap_or_else(|| panic!("field line:\n{s}"));
    assert!(field.contains("3 matches"), "{field}");

    // `q` typed in a field is a character, not quit.
    t.type_text("q");
    t.wait_for("contains apply_cell_config returnedq");
    t.wait_for("FAIL  ktstr would reject");

    // Clear the literal, switch to the regex field, type an invalid regex.
    t.keys(&["C-u", "Tab"]);
    t.type_text("apply_cell_config returned (-E[A-Z]+");
    let s = t.wait_for("unclosed group");
    assert!(s.contains("INVALID"), "{s}");
    let lines: Vec<&str> = s.lines().collect();
    let pat = lines
        .iter()
        .position(|l| l.contains("    apply_cell_config returned (-E[A-Z]+"))
        .unwrap_or_else(|| panic!("pattern line:\n{s}"));
    let caret = lines[pat + 1].find('^').expect("caret under the pattern");
    assert_eq!(&lines[pat][caret..caret + 1], "(", "{s}");

    // Esc leaves the field, a second Esc does not quit, q does.
    t.keys(&["Escape", "Escape"]);
    sleep(Duration::from_millis(300));
    let s = t.screen();
    assert!(!s.contains("EXITED rc="), "Esc on the workbench quit:\n{s}");
    t.keys(&["q"]);
    t.assert_restored("Workbench");
}
