//! Search (`/`, n/N), filter (`&`), zoom (`z`) and the layouts for small
//! screens, through the public API.

mod common;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::Terminal;
use scxray::report::{Section, SectionKind, Text};
use scxray_ui::keymap::Mode;
use scxray_ui::theme::Theme;
use scxray_ui::{handle_key, Action, App};

fn app() -> App {
    let mut app =
        App::new(common::sample_report(), "lavd-mixed-load.txt").with_theme(Theme::plain());
    app.resize(80, 24);
    let log = app
        .pane_titles()
        .iter()
        .position(|t| t == "scheduler log")
        .unwrap();
    app.focus_pane(log);
    app
}

fn render(app: &mut App, width: u16, height: u16) -> Terminal<TestBackend> {
    app.resize(width, height);
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| frame.render_widget(&*app, frame.area()))
        .unwrap();
    terminal
}

fn draw(app: &mut App, width: u16, height: u16) -> Buffer {
    render(app, width, height).backend().buffer().clone()
}

fn screen(app: &mut App, width: u16, height: u16) -> String {
    let terminal = render(app, width, height);
    if width == 0 {
        // TestBackend's Display divides the buffer into rows of `width` cells.
        return String::new();
    }
    terminal.backend().to_string()
}

fn press(app: &mut App, code: KeyCode) -> Action {
    handle_key(app, KeyEvent::new(code, KeyModifiers::NONE))
}

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

fn status(app: &App) -> String {
    app.status_message().unwrap_or_default().to_string()
}

#[test]
fn search_counts_jumps_and_wraps() {
    let mut app = app();
    assert_eq!(press(&mut app, KeyCode::Char('/')), Action::StartSearch);
    assert_eq!(app.mode(), Mode::Search);
    // Typed keys go into the query, even pane keys.
    typed(&mut app, "nr_active=5 q");
    assert_eq!(app.mode(), Mode::Search);
    press(&mut app, KeyCode::Backspace);
    press(&mut app, KeyCode::Backspace);
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.mode(), Mode::Normal);
    assert_eq!(app.find_state().unwrap().0, "nr_active=5");
    // 40 sys_stat lines, nr_active = 3 + i % 4.
    assert_eq!(status(&app), "match 1 of 10");
    for _ in 0..9 {
        press(&mut app, KeyCode::Char('n'));
    }
    assert_eq!(status(&app), "match 10 of 10");
    assert!(app.scroll() > 0, "the pane scrolled to the match");
    press(&mut app, KeyCode::Char('n'));
    assert_eq!(status(&app), "match 1 of 10 (wrapped around)");
    press(&mut app, KeyCode::Char('N'));
    assert_eq!(status(&app), "match 10 of 10 (wrapped around)");
    press(&mut app, KeyCode::Char('N'));
    assert_eq!(status(&app), "match 9 of 10");
}

#[test]
fn smart_case_and_no_match() {
    let mut app = app();
    typed(&mut app, "/info");
    press(&mut app, KeyCode::Enter);
    assert_eq!(status(&app), "match 1 of 42");
    typed(&mut app, "/Info");
    press(&mut app, KeyCode::Enter);
    assert_eq!(status(&app), "no match for \"Info\"");
    press(&mut app, KeyCode::Char('n'));
    assert_eq!(status(&app), "no match for \"Info\"");
}

#[test]
fn esc_restores_the_search_and_the_place() {
    let mut app = app();
    typed(&mut app, "/WARN");
    press(&mut app, KeyCode::Enter);
    let at = app.scroll();
    assert!(at > 0);
    press(&mut app, KeyCode::Char('g'));
    typed(&mut app, "/EXIT");
    assert!(app.scroll() > 0, "incremental: scrolled while typing");
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.mode(), Mode::Normal);
    assert_eq!(app.scroll(), 0);
    assert_eq!(app.find_state().unwrap().0, "WARN");
    // An empty search clears it.
    press(&mut app, KeyCode::Char('/'));
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.find_state().unwrap().0, "");
    assert_eq!(status(&app), "search cleared");
    press(&mut app, KeyCode::Char('n'));
    assert_eq!(status(&app), "no search: / starts one");
}

#[test]
fn search_only_in_text_panes() {
    let mut app = app();
    app.focus_pane(0);
    press(&mut app, KeyCode::Char('/'));
    assert_eq!(app.mode(), Mode::Normal);
    assert!(status(&app).contains("text panes"), "{}", status(&app));
}

#[test]
fn search_highlights_80x24() {
    let mut app = app();
    typed(&mut app, "/nr_active=5");
    press(&mut app, KeyCode::Enter);
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("match 1 of 10"), "{s}");
    insta::assert_snapshot!(s);

    // The matches carry the theme's roles, the current one its own.
    let theme = Theme::dark();
    let mut app = app.with_theme(theme.clone());
    let buf = draw(&mut app, 80, 24);
    let styled = |style: ratatui::style::Style| {
        buf.content
            .iter()
            .filter(|c| c.fg == style.fg.unwrap() && c.bg == style.bg.unwrap())
            .count()
    };
    let q = "nr_active=5".len();
    assert_eq!(styled(theme.current_match), q);
    assert!(styled(theme.matched) >= q, "other matches on screen");
}

#[test]
fn filter_80x24() {
    let mut app = app();
    assert_eq!(press(&mut app, KeyCode::Char('&')), Action::StartFilter);
    typed(&mut app, "nr_active=3");
    press(&mut app, KeyCode::Enter);
    assert_eq!(status(&app), "filter \"nr_active=3\": 10 lines");
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("filter: nr_active=3 (10 of 44 lines)"), "{s}");
    // Original line numbers: the first sys_stat line is line 3.
    assert!(
        s.contains(" 3│12:00:02.000 INFO  scx_lavd: sys_stat: nr_active=3"),
        "{s}"
    );
    insta::assert_snapshot!(s);

    // Search inside the filter counts only the lines shown.
    typed(&mut app, "/sys_stat");
    press(&mut app, KeyCode::Enter);
    assert_eq!(status(&app), "match 1 of 10");

    // `&` with nothing typed clears the filter.
    press(&mut app, KeyCode::Char('&'));
    press(&mut app, KeyCode::Enter);
    assert_eq!(status(&app), "filter cleared");
    assert!(screen(&mut app, 80, 24).contains("of 44 "));
    // Esc leaves the filter as it was.
    typed(&mut app, "&zzz");
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.find_state().unwrap().1, "");
}

#[test]
fn filter_with_no_line_says_how_to_clear() {
    let mut app = app();
    typed(&mut app, "&no such text");
    press(&mut app, KeyCode::Enter);
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("(no line contains \"no such text\""), "{s}");
    for k in ['j', 'G', 'n', 'N', 'k', 'g'] {
        press(&mut app, KeyCode::Char(k));
        screen(&mut app, 80, 24);
    }
}

#[test]
fn filtering_a_million_lines_once() {
    let body: String = (0..1_000_000)
        .map(|i| {
            if i % 1000 == 7 {
                "sched_ext: BPF scheduler \"lavd\" errored\n"
            } else {
                "[ 1.000000] INFO nothing to see here\n"
            }
        })
        .collect();
    let mut report = common::no_crash_report();
    report.sections = vec![Section {
        kind: SectionKind::Console,
        body: Text::from(body),
    }];
    let mut app = App::new(report, "big").with_theme(Theme::plain());
    app.resize(120, 40);
    app.focus_pane(
        app.pane_titles()
            .iter()
            .position(|t| t == "console")
            .unwrap(),
    );
    screen(&mut app, 120, 40);
    let start = std::time::Instant::now();
    typed(&mut app, "&errored");
    press(&mut app, KeyCode::Enter);
    let took = start.elapsed();
    assert_eq!(status(&app), "filter \"errored\": 1000 lines");
    let s = screen(&mut app, 120, 40);
    assert!(s.contains("      8│sched_ext: BPF scheduler"), "{s}");
    assert!(took.as_millis() < 1500, "filter took {took:?}");
}

#[test]
fn zoom_hides_the_header_and_tabs() {
    let mut app = app();
    assert_eq!(press(&mut app, KeyCode::Char('z')), Action::ToggleZoom);
    assert!(app.zoomed());
    let s = screen(&mut app, 80, 24);
    assert!(!s.contains("[4 scheduler log]"), "{s}");
    assert!(s.starts_with("\"┌ scheduler log"), "{s}");
    press(&mut app, KeyCode::Char('z'));
    assert!(screen(&mut app, 80, 24).contains("[4 scheduler log]"));
}

#[test]
fn tiny_screens_show_one_pane_with_an_indicator() {
    let mut app = app();
    let s = screen(&mut app, 39, 11);
    assert!(s.contains("‹4/7 scheduler log›"), "{s}");
    assert!(!s.contains("scxray ·"), "{s}");
    let s = screen(&mut app, 20, 5);
    assert!(s.contains("‹4/7 schedul"), "{s}");
    insta::assert_snapshot!("tiny_20x5", s);
}

#[test]
fn never_panics_at_any_size_with_search_filter_and_zoom() {
    let mut app = app();
    typed(&mut app, "&INFO");
    press(&mut app, KeyCode::Enter);
    typed(&mut app, "/nr_active");
    press(&mut app, KeyCode::Enter);
    let sizes = [
        (0, 0),
        (1, 1),
        (20, 5),
        (39, 11),
        (40, 12),
        (79, 23),
        (80, 24),
        (250, 80),
        (5, 20),
        (3, 80),
    ];
    for pane in 0..app.pane_titles().len() {
        app.focus_pane(pane);
        for zoom in [false, true] {
            if app.zoomed() != zoom {
                press(&mut app, KeyCode::Char('z'));
            }
            for &(w, h) in &sizes {
                screen(&mut app, w, h);
                press(&mut app, KeyCode::Char('n'));
                press(&mut app, KeyCode::Char('G'));
                screen(&mut app, w, h);
                press(&mut app, KeyCode::Char('/'));
                typed(&mut app, "x");
                screen(&mut app, w, h);
                press(&mut app, KeyCode::Esc);
            }
        }
    }
}

fn mouse(app: &mut App, kind: MouseEventKind, column: u16, row: u16) -> bool {
    app.mouse(MouseEvent {
        kind,
        column,
        row,
        modifiers: KeyModifiers::NONE,
    })
}

#[test]
fn mouse_focuses_tabs_scrolls_and_selects_frames() {
    let mut app = app();
    let s = screen(&mut app, 80, 24);
    let rows: Vec<&str> = s.lines().collect();
    let tab_row = rows.iter().position(|l| l.contains("2 Backtrace")).unwrap();
    let col = rows[tab_row].find("2 Backtrace").unwrap() - 1; // the opening quote
                                                              // Wheel over the pane scrolls it, three lines a notch.
    let down = MouseEventKind::ScrollDown;
    assert!(mouse(&mut app, down, 10, tab_row as u16 + 3));
    assert_eq!(app.scroll(), 3);
    assert!(
        !mouse(&mut app, down, 10, 0),
        "the title bar does not scroll"
    );
    // Clicking a tab focuses it.
    let left = MouseEventKind::Down(MouseButton::Left);
    assert!(mouse(&mut app, left, col as u16 + 2, tab_row as u16));
    assert_eq!(app.focused(), 1);
    // Frame #1 is two rows under the pane's top border (legend first).
    let top = tab_row as u16 + 1;
    assert!(mouse(&mut app, left, 5, top + 3));
    assert_eq!(app.selected_frame(), Some(1));
    let s = screen(&mut app, 80, 40);
    assert!(s.contains("» scx_bpf_error_bstr"), "{s}");
    assert!(s.contains("Frame #1: scx_bpf_error_bstr+0x72/0xa0"), "{s}");
    assert!(s.contains("not available yet"), "{s}");
    // The legend line selects nothing.
    assert!(!mouse(&mut app, left, 5, top + 1));
}

#[test]
fn clicked_bpf_frame_shows_its_source_found_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("main.bpf.c");
    std::fs::write(
        &src,
        "#include \"vmlinux.h\"\n\nvoid BPF_STRUCT_OPS(lavd_dispatch, s32 cpu, struct task_struct *prev)\n{\n\tconsume_task(cpu);\n}\n",
    )
    .unwrap();
    let mut app = App::new(common::sample_report(), "lavd.txt")
        .with_theme(Theme::plain())
        .with_source_roots(vec![dir.path().to_path_buf()]);
    app.resize(100, 40);
    let s = screen(&mut app, 100, 40);
    let rows: Vec<&str> = s.lines().collect();
    let tab_row = rows.iter().position(|l| l.contains("2 Backtrace")).unwrap();
    let col = rows[tab_row].find("2 Backtrace").unwrap();
    let left = MouseEventKind::Down(MouseButton::Left);
    assert!(mouse(&mut app, left, col as u16 + 1, tab_row as u16));
    let s = screen(&mut app, 100, 40);
    // The last one: the header above the panes names the top frame too.
    let lines: Vec<&str> = s.lines().collect();
    let frame_row = lines
        .iter()
        .rposition(|l| l.contains("lavd_dispatch+"))
        .expect("frame on screen");
    assert!(mouse(&mut app, left, 8, frame_row as u16));
    let s = screen(&mut app, 100, 40);
    assert!(s.contains("main.bpf.c:3 (found by name"), "{s}");
    assert!(s.contains("BPF_STRUCT_OPS(lavd_dispatch"), "{s}");
}
