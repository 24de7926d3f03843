//! Reaching panes by role, walking the backtrace with the keyboard, the
//! Source pane, and the companion pane of wide screens.

mod common;

use common::screen;

use std::path::Path;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use scxray::report::Report;
use scxray_ui::theme::Theme;
use scxray_ui::{handle_key, Action, App};

/// The scheduler source `--source` would point at: lavd_dispatch, the
/// sample crash's BPF frame, defined as a struct_ops callback.
const LAVD_SRC: &str = "\
#include \"vmlinux.h\"

/* Pick the next task for this CPU. */
void BPF_STRUCT_OPS(lavd_dispatch, s32 cpu, struct task_struct *prev)
{
\tu64 dsq_id = cpu_dsq(cpu);

\tif (!scx_bpf_dsq_move_to_local(dsq_id))
\t\tscx_bpf_error(\"dsq_id %llx not found on CPU %d\", dsq_id, cpu);
}

s32 BPF_STRUCT_OPS(lavd_init)
{
\treturn 0;
}
";

fn app(report: Report) -> App {
    App::new(report, "lavd-mixed-load.txt").with_theme(Theme::plain())
}

/// The app with `--source` pointing at a directory holding `LAVD_SRC`.
fn app_with_source(dir: &Path) -> App {
    std::fs::write(dir.join("lavd.bpf.c"), LAVD_SRC).unwrap();
    app(common::sample_report()).with_source_roots(vec![dir.to_path_buf()])
}

/// The screen with the temporary source directory written as `<src>`.
fn redacted(app: &mut App, dir: &Path, width: u16, height: u16) -> String {
    screen(app, width, height).replace(&dir.display().to_string(), "<src>")
}

fn press(app: &mut App, code: KeyCode) -> Action {
    handle_key(app, KeyEvent::new(code, KeyModifiers::NONE))
}

fn ch(app: &mut App, c: char) -> Action {
    press(app, KeyCode::Char(c))
}

fn focused_title(app: &App) -> String {
    app.pane_titles()[app.focused()].clone()
}

fn click(app: &mut App, column: u16, row: u16) -> bool {
    app.mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column,
        row,
        modifiers: KeyModifiers::NONE,
    })
}

#[test]
fn letter_keys_reach_panes_by_role_wherever_they_sit() {
    let mut app = app(common::sample_report());
    app.resize(80, 24);
    for (c, title) in [
        ('l', "scheduler log"),
        ('d', "sched_ext dump"),
        ('b', "Backtrace"),
        ('v', "Source"),
        ('w', "Workbench"),
    ] {
        ch(&mut app, c);
        assert_eq!(focused_title(&app), title, "key {c}");
    }
    // A role the report has no pane for says why, and focus stays.
    ch(&mut app, 'b');
    assert_eq!(
        ch(&mut app, 'm'),
        Action::GoToRole(scxray_ui::panes::Role::Monitor)
    );
    assert_eq!(focused_title(&app), "Backtrace");
    assert!(
        app.status_message().unwrap().contains("no monitor section"),
        "{:?}",
        app.status_message()
    );
    ch(&mut app, 'r');
    assert!(app.status_message().unwrap().contains("auto-repro"));
}

#[test]
fn tabs_underline_the_letter_key() {
    let mut app = App::new(common::sample_report(), "x").with_theme(Theme::dark());
    let terminal = common::render(&mut app, 120, 30);
    let buf = terminal.backend().buffer();
    let tabs = 6;
    let row: String = (0..120)
        .map(|x| buf[(x, tabs)].symbol().to_string())
        .collect();
    let underlined: String = (0..120)
        .filter(|&x| {
            buf[(x, tabs)]
                .modifier
                .contains(ratatui::style::Modifier::UNDERLINED)
        })
        .map(|x| buf[(x, tabs)].symbol().to_string())
        .collect();
    assert!(row.contains("Backtrace"), "{row}");
    // Backtrace, scheduler log, sched_ext dump, Workbench; Source's key
    // (v) is not in its title.
    assert_eq!(underlined, "BldW", "{row}");
}

#[test]
fn backtrace_keys_walk_frames_and_enter_opens_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_with_source(dir.path());
    app.resize(80, 24);
    ch(&mut app, 'b');
    assert_eq!(app.selected_frame(), None);
    // The first move lands on the frame worth reading: the BPF program.
    ch(&mut app, 'j');
    assert_eq!(app.selected_frame(), Some(2));
    ch(&mut app, 'j');
    assert_eq!(app.selected_frame(), Some(3));
    press(&mut app, KeyCode::Up);
    assert_eq!(app.selected_frame(), Some(2));
    ch(&mut app, 'G');
    assert_eq!(app.selected_frame(), Some(11));
    ch(&mut app, 'g');
    assert_eq!(app.selected_frame(), Some(0));
    ch(&mut app, 'k');
    assert_eq!(app.selected_frame(), Some(0), "no frame above the first");

    ch(&mut app, 'j');
    ch(&mut app, 'j');
    assert_eq!(press(&mut app, KeyCode::Enter), Action::OpenFrame);
    assert_eq!(focused_title(&app), "Source");
    let s = redacted(&mut app, dir.path(), 80, 24);
    assert!(
        s.contains("#2 bpf_prog_5a3b8c1d2e4f6a70_lavd_dispatch"),
        "{s}"
    );
    assert!(s.contains("<src>/lavd.bpf.c:4"), "{s}");
    assert!(
        s.contains("    4 ▶ void BPF_STRUCT_OPS(lavd_dispatch"),
        "{s}"
    );
    // The function through its closing brace, not the next one.
    assert!(s.contains("scx_bpf_error(\"dsq_id"), "{s}");
    assert!(!s.contains("lavd_init"), "{s}");
    insta::assert_snapshot!("source_80x24", s);
}

#[test]
fn a_selected_frame_survives_the_backtrace_being_scrolled_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_with_source(dir.path());
    // A short screen: walking down must scroll the frame into view.
    app.resize(80, 14);
    ch(&mut app, 'b');
    for _ in 0..11 {
        ch(&mut app, 'j');
    }
    assert_eq!(app.selected_frame(), Some(11));
    let s = screen(&mut app, 80, 14);
    assert!(s.contains("» ret_from_fork_asm"), "{s}");
}

#[test]
fn source_pane_without_source_dirs_says_how_to_get_them() {
    let mut app = app(common::sample_report());
    ch(&mut app, 'v');
    let s = screen(&mut app, 100, 24);
    assert!(s.contains("first frame worth reading"), "{s}");
    assert!(s.contains("No source found for lavd_dispatch"), "{s}");
    assert!(s.contains("--source DIR"), "{s}");
}

#[test]
fn no_crash_means_no_source_pane() {
    let app = app(common::no_crash_report());
    assert!(!app.pane_titles().iter().any(|t| t == "Source"));
}

#[test]
fn wide_screens_show_a_companion_pane() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_with_source(dir.path());
    // 160x48 and up: the backtrace beside the summary...
    let s = redacted(&mut app, dir.path(), 160, 48);
    assert!(s.contains("┌ Summary"), "{s}");
    assert!(s.contains("┌ Backtrace · b focuses it"), "{s}");
    insta::assert_snapshot!("companion_summary_160x48", s);
    // ...the source beside the backtrace...
    ch(&mut app, 'b');
    let s = redacted(&mut app, dir.path(), 160, 48);
    assert!(s.contains("┌ Source · v focuses it"), "{s}");
    assert!(s.contains("void BPF_STRUCT_OPS(lavd_dispatch"), "{s}");
    insta::assert_snapshot!(
        "companion_backtrace_250x80",
        redacted(&mut app, dir.path(), 250, 80)
    );
    // ...none below 160 columns, when zoomed, or for the workbench.
    let s = screen(&mut app, 159, 48);
    assert!(!s.contains("┌ Source"), "{s}");
    ch(&mut app, 'z');
    assert!(!screen(&mut app, 200, 60).contains("┌ Source"));
    ch(&mut app, 'z');
    ch(&mut app, 'w');
    assert!(!screen(&mut app, 200, 60).contains("┌ Backtrace"));
}

#[test]
fn clicking_a_frame_in_the_companion_selects_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app_with_source(dir.path());
    ch(&mut app, 'l');
    let s = screen(&mut app, 160, 48);
    let (row, line) = s
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains("#4    balance_one"))
        .expect("the companion shows the backtrace");
    let column = line.find("#4").unwrap();
    let column = line[..column].chars().count() as u16;
    assert!(click(&mut app, column, row as u16));
    assert_eq!(app.selected_frame(), Some(4));
    assert_eq!(focused_title(&app), "scheduler log", "focus stays");
    // The wheel over the companion scrolls it, not the focused pane.
    let before = app.scroll();
    app.mouse(MouseEvent {
        kind: MouseEventKind::ScrollDown,
        column,
        row: row as u16,
        modifiers: KeyModifiers::NONE,
    });
    assert_eq!(app.scroll(), before);
}

#[test]
fn a_live_crash_that_gains_its_backtrace_gets_its_source() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("lavd.bpf.c"), LAVD_SRC).unwrap();
    // The EXIT line arrives first: a crash without frames.
    let mut early = common::sample_report();
    early.crashes[0].backtrace.clear();
    let mut app = app(early).with_source_roots(vec![dir.path().to_path_buf()]);
    ch(&mut app, 'v');
    assert!(screen(&mut app, 100, 30).contains("no frame to show"));
    // Then the dump, with the backtrace.
    app.replace_report(common::sample_report());
    let s = screen(&mut app, 100, 30);
    assert!(s.contains("4 ▶ void BPF_STRUCT_OPS(lavd_dispatch"), "{s}");
}

/// Regression (issue 13, bug 2): every j/k onto a new function walked the
/// `--source` tree on the UI thread (0.3–0.8 s per key on a headers tree).
/// With the lookup thread started, a key only hands the name over: the pane
/// says "looking up…" until the reply is given to the app.
#[test]
fn frame_keys_hand_source_lookups_to_a_thread() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("lavd.bpf.c"), LAVD_SRC).unwrap();
    let mut app = app(common::sample_report());
    app.set_source_roots(vec![dir.path().to_path_buf()]);
    let (tx, rx) = std::sync::mpsc::channel();
    app.start_source_lookup(move |reply| tx.send(reply).is_ok())
        .unwrap();
    let wait = || {
        rx.recv_timeout(std::time::Duration::from_secs(30))
            .expect("the lookup thread answers")
    };
    // The first frame worth reading, asked for when the thread started.
    app.on_source(wait());
    ch(&mut app, 'b');
    ch(&mut app, 'j');
    ch(&mut app, 'j');
    assert_eq!(app.selected_frame(), Some(3));
    press(&mut app, KeyCode::Enter);
    assert_eq!(focused_title(&app), "Source");
    let s = screen(&mut app, 100, 30);
    assert!(s.contains("looking up"), "{s}");
    // The answer for the newest name makes it to the pane.
    let mut shown = false;
    while !shown {
        shown = app.on_source(wait());
    }
    let s = screen(&mut app, 100, 30);
    assert!(!s.contains("looking up"), "{s}");
}

/// Upstream's `scx_bpf_error()` says where it was raised
/// (`__FILE__:__LINE__: message`): the innermost BPF frame's Source opens at
/// that line of a file of that name, whatever directory it was built in
/// (issue 14, item 12).
#[test]
fn the_error_frame_opens_at_the_messages_file_and_line() {
    let log = "\
[   10.100000] sched_ext: BPF scheduler \"qmap\" disabled (scx_bpf_error)
[   10.100001] sched_ext: qmap: /build/elsewhere/scheds/c/scx_qmap.bpf.c:6: test triggering error
[   10.100002]    scx_bpf_error_bstr+0x60/0xa0
[   10.100003]    bpf_prog_0123456789abcdef_qmap_enqueue+0x8c/0x94
[   10.100004]    bpf__sched_ext_ops_enqueue+0x50/0xad
";
    let report = scxray::parse::parse_str(log);
    let crash = report.crash().expect("a crash");
    assert_eq!(
        crash.source,
        Some(("/build/elsewhere/scheds/c/scx_qmap.bpf.c".to_string(), 6))
    );
    let dir = tempfile::tempdir().unwrap();
    let src = "\
void BPF_STRUCT_OPS(qmap_enqueue, struct task_struct *p, u64 enq_flags)
{
\tstatic u32 user_cnt;

\tif (test_error_cnt && !--test_error_cnt)
\t\tscx_bpf_error(\"test triggering error\");
\tuser_cnt++;
}
";
    std::fs::create_dir_all(dir.path().join("c")).unwrap();
    std::fs::write(dir.path().join("c/scx_qmap.bpf.c"), src).unwrap();
    let mut app = App::new(report, "qmap")
        .with_theme(Theme::plain())
        .with_source_roots(vec![dir.path().to_path_buf()]);
    ch(&mut app, 'b');
    ch(&mut app, 'j');
    press(&mut app, KeyCode::Enter);
    assert_eq!(focused_title(&app), "Source");
    let s = screen(&mut app, 110, 30);
    assert!(s.contains("scx_qmap.bpf.c:6"), "{s}");
    assert!(s.contains("at the line its error message names"), "{s}");
    assert!(
        s.contains("6 ▶         scx_bpf_error(\"test triggering error\")"),
        "{s}"
    );
}
