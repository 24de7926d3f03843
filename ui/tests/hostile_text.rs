//! Hostile text (issue 15, item 7): escape sequences, C0/C1 controls and
//! bidi overrides in a report must not reach the terminal. What a person
//! reads (`report`, `report --section`, `pin check`, `pin suggest`, the TUI)
//! shows them in a visible form (`^[`, `^G`, `<U+202E>`); `report --ktstr`
//! stays byte for byte into a pipe (it is the report written back) and is
//! visible on a terminal; `--json` escapes C0 controls itself, as before.

mod common;
#[path = "../../tests/support/require.rs"]
mod require;
#[path = "common/tmux.rs"]
mod tmux;

use std::path::Path;
use std::process::{Command, Output};

use scxray::write::visible::is_hazard;
use tmux::Tmux;

/// Retitles the window, writes the clipboard, clears the screen, homes the
/// cursor, rings the bell; then an 8-bit CSI and bidi overrides.
const IN_MESSAGE: &str =
    "\x1b]0;pwned\x07\x1b]52;c;cHduZWQ=\x07\x1b[2J\x1b[H\x07\u{9b}31m\u{202e}evil\u{2066}";
/// In the scheduler log: a title change, a clear, a CR that would overwrite
/// the line, a vertical tab.
const IN_LOG: &str = "\x1b]2;PWNED\x07\x1b[2J\r\x0b";
const LOG_SHOWN: &str = "crash_after=400 ^[]2;PWNED^G^[[2J^M^K";

/// The bundled example with hostile text in its crash message and its log.
fn hostile_text() -> String {
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/reports/crashfifo-7.3-ktstr.txt");
    let text = std::fs::read_to_string(example).unwrap();
    let text = text.replace(
        "apply_cell_config returned -EINVAL",
        &format!("apply_cell_config{IN_MESSAGE} returned -EINVAL"),
    );
    text.replace("crash_after=400", &format!("crash_after=400 {IN_LOG}"))
}

/// The hostile report in a file of this test's own (tests run in parallel),
/// removed when the returned path is dropped.
fn hostile_file(name: &str) -> tempfile::TempPath {
    let mut f = tempfile::Builder::new()
        .prefix(&format!("scxray-hostile-{name}-"))
        .suffix(".txt")
        .tempfile()
        .unwrap();
    std::io::Write::write_all(&mut f, hostile_text().as_bytes()).unwrap();
    f.into_temp_path()
}

fn scxray(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scxray"))
        .args(args)
        .output()
        .expect("run scxray")
}

/// Fails when `out` holds a control (other than tab and newline) or a bidi override.
fn assert_no_hazard(what: &str, out: &str) {
    if let Some((at, c)) = out.char_indices().find(|&(_, c)| is_hazard(c)) {
        let from = out[..at].rfind('\n').map_or(0, |i| i + 1);
        panic!("{what}: {c:?} reaches the terminal in {:?}", &out[from..]);
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("UTF-8 output")
}

#[test]
fn report_and_section_show_controls_visibly_into_a_pipe_too() {
    let file = hostile_file("report");
    let file = file.to_str().unwrap();
    let o = scxray(&["report", file]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert_no_hazard("report", &out);
    assert!(out.contains(LOG_SHOWN), "{out}");
    assert!(out.contains("^G<U+009B>31m<U+202E>evil<U+2066>"), "{out}");

    let o = scxray(&["report", "--section", "scheduler-log", file]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert_no_hazard("--section", &out);
    assert!(out.contains(LOG_SHOWN), "{out}");

    let o = scxray(&["report", "--section", "crash", file]);
    let out = stdout(&o);
    assert_no_hazard("--section crash", &out);
    assert!(out.contains("<U+202E>evil"), "{out}");
}

#[test]
fn ktstr_into_a_pipe_is_the_report_byte_for_byte() {
    let file = hostile_file("ktstr");
    let o = scxray(&["report", "--ktstr", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    // Written back exactly: it parses to the same report, controls and all.
    assert_eq!(stdout(&o), hostile_text());
}

#[test]
fn json_escapes_controls_as_before() {
    let file = hostile_file("json");
    let o = scxray(&["report", "--json", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    // JSON escapes C0 controls; C1 and bidi characters are valid JSON text
    // and stay as they are (the output is for programs, not terminals).
    assert!(
        !out.contains(|c: char| c < ' ' && c != '\n'),
        "a raw control in --json"
    );
    assert!(
        out.contains(r"crash_after=400 \u001b]2;PWNED\u0007"),
        "{out}"
    );
    assert!(!out.contains('^'), "JSON is not made visible twice:\n{out}");
}

#[test]
fn pin_check_and_suggest_show_controls_visibly() {
    let file = hostile_file("pin");
    let file = file.to_str().unwrap();
    let o = scxray(&["pin", "check", "--contains", "crash_after", file]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let out = stdout(&o);
    assert_no_hazard("pin check", &out);
    assert!(out.contains(LOG_SHOWN), "{out}");

    let o = scxray(&["pin", "suggest", file]);
    let out = stdout(&o);
    assert_no_hazard("pin suggest", &out);
}

/// The TUI's frame, every pane in turn: no hazard in any cell, and the
/// controls of the crash message and of the file name are shown.
#[test]
fn no_cell_of_any_pane_holds_a_control() {
    let report = scxray::parse::parse_str(&hostile_text());
    let mut app = scxray_ui::App::new(report, "hostile\x1b]0;t\x07\u{202e}.txt");
    let panes = app.pane_titles().len();
    let mut summary = String::new();
    for i in 0..panes {
        app.focus_pane(i);
        for (w, h) in [(160, 48), (80, 24)] {
            let term = common::render(&mut app, w, h);
            let cells: String = term
                .backend()
                .buffer()
                .content
                .iter()
                .map(|c| c.symbol())
                .collect();
            assert_no_hazard(&format!("pane {i} at {w}x{h}"), &cells);
            if i == 0 && w == 160 {
                summary = term.backend().to_string();
            }
        }
    }
    assert!(summary.contains("hostile^[]0;t^G<U+202E>.txt"), "{summary}");
    assert!(summary.contains("^G<U+009B>31m<U+202E>evil"), "{summary}");
}

/// The real terminal: the window title stays, the screen is not cleared,
/// and the sequences are seen for what they are.
#[test]
fn tui_leaves_the_terminal_title_and_screen_alone() {
    let file = hostile_file("tui");
    let bin = env!("CARGO_BIN_EXE_scxray");
    let cmd = format!(
        "printf '\\033]2;BEFORE\\007'; TERM=xterm-256color {bin} open {}; echo EXITED rc=$?; sleep 30",
        file.display()
    );
    let Some(t) = Tmux::start(160, 40, &cmd) else {
        return;
    };
    let s = t.wait_for("scx_bpf_error (1025)");
    assert!(s.contains("^G<U+009B>31m<U+202E>evil"), "{s}");
    assert_no_hazard("summary screen", &s);
    // The scheduler log, where the title change and the clear are (it
    // opens at the crash: `g` goes to its top).
    t.keys(&["l", "g"]);
    let s = t.wait_for(LOG_SHOWN);
    assert_no_hazard("log screen", &s);
    assert!(s.contains("scxray ·"), "the screen was cleared:\n{s}");
    assert_eq!(t.display("#{pane_title}"), "BEFORE");
    t.keys(&["q"]);
    t.wait_for("EXITED rc=0");
    assert_eq!(t.display("#{pane_title}"), "BEFORE");
}

/// `report --ktstr` and `report` straight to a terminal: visible, the
/// title unchanged, the screen not cleared.
#[test]
fn printing_to_a_terminal_shows_controls_visibly() {
    let file = hostile_file("tty");
    let bin = env!("CARGO_BIN_EXE_scxray");
    for args in ["report --ktstr", "report"] {
        let cmd = format!(
            "printf '\\033]2;BEFORE\\007'; {bin} {args} {}; echo PRINTED; sleep 30",
            file.display()
        );
        let Some(t) = Tmux::start(250, 300, &cmd) else {
            return;
        };
        let s = t.wait_for("PRINTED");
        assert_no_hazard(args, &s);
        assert!(s.contains(LOG_SHOWN), "{args}:\n{s}");
        assert!(
            s.contains("ktstr_test 'crashfifo_enqueue_error'"),
            "{args}: cleared:\n{s}"
        );
        assert_eq!(t.display("#{pane_title}"), "BEFORE", "{args}");
    }
}
