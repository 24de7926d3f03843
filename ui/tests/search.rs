//! Search (`/`, n/N), filter (`&`), zoom (`z`) and the layouts for small
//! screens, through the public API.

mod common;

use common::{render, screen};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::buffer::Buffer;
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

fn draw(app: &mut App, width: u16, height: u16) -> Buffer {
    render(app, width, height).backend().buffer().clone()
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

/// A console of a million lines, one in a thousand an error; focused.
/// (Search and filter speed is measured in `cargo bench`.)
fn million_line_console() -> App {
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
    app
}

#[test]
fn filtering_a_million_lines_once() {
    let mut app = million_line_console();
    typed(&mut app, "&errored");
    press(&mut app, KeyCode::Enter);
    assert_eq!(status(&app), "filter \"errored\": 1000 lines");
    let s = screen(&mut app, 120, 40);
    assert!(s.contains("      8│sched_ext: BPF scheduler"), "{s}");
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
    assert!(s.contains("‹4/8 scheduler log›"), "{s}");
    assert!(!s.contains("scxray ·"), "{s}");
    let s = screen(&mut app, 20, 5);
    assert!(s.contains("‹4/8 schedul"), "{s}");
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
    assert!(
        s.contains("main.bpf.c:3 (found by name) · Enter or v shows it"),
        "{s}"
    );
    assert_eq!(app.selected_frame(), Some(2));
    // The Source pane shows the clicked frame's function.
    handle_key(&mut app, KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    let s = screen(&mut app, 100, 40);
    assert!(s.contains("┌ Source"), "{s}");
    assert!(s.contains("3 ▶ void BPF_STRUCT_OPS(lavd_dispatch"), "{s}");
}

// --- regex mode (Ctrl-R in the prompt) ---

fn ctrl(app: &mut App, c: char) -> Action {
    handle_key(app, KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

fn focus(app: &mut App, title: &str) {
    let i = app.pane_titles().iter().position(|t| t == title).unwrap();
    app.focus_pane(i);
}

/// The status bar (the last row) as text.
fn status_row(app: &mut App) -> String {
    let s = screen(app, 80, 24);
    s.lines().last().unwrap_or_default().to_string()
}

#[test]
fn regex_search_counts_and_jumps() {
    let mut app = app();
    // As text the pattern is just characters: nothing has them.
    typed(&mut app, "/dsq_id 0x[0-9a-f]+");
    press(&mut app, KeyCode::Enter);
    assert_eq!(status(&app), "no match for \"dsq_id 0x[0-9a-f]+\"");

    press(&mut app, KeyCode::Char('/'));
    assert_eq!(ctrl(&mut app, 'r'), Action::ToggleRegex);
    assert_eq!(app.mode(), Mode::Search);
    typed(&mut app, "dsq_id 0x[0-9a-f]+");
    let bar = status_row(&mut app);
    assert!(bar.contains("/dsq_id 0x[0-9a-f]+  search (regex)"), "{bar}");
    assert!(bar.contains("C-r regex"), "{bar}");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.find_state().unwrap().0, "dsq_id 0x[0-9a-f]+");
    // Once in the scheduler log: the EXIT line.
    assert_eq!(status(&app), "match 1 of 1");

    // Four in the dump: `dsq_id 0x..` and `dsq_id=0x..`; n and N move.
    focus(&mut app, "sched_ext dump");
    press(&mut app, KeyCode::Char('/'));
    ctrl(&mut app, 'r');
    typed(&mut app, r"DSQ_ID[ =]0x[0-9a-f]+");
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        status(&app),
        "no match for /DSQ_ID[ =]0x[0-9a-f]+/",
        "smart case"
    );
    // The prompt reopens in regex mode, remembered by the pane.
    press(&mut app, KeyCode::Char('/'));
    assert!(status_row(&mut app).contains("search (regex)"));
    typed(&mut app, r"dsq_id[ =]0x[0-9a-f]+");
    press(&mut app, KeyCode::Enter);
    assert_eq!(status(&app), "match 1 of 4");
    let first = app.scroll();
    press(&mut app, KeyCode::Char('n'));
    assert_eq!(status(&app), "match 2 of 4");
    press(&mut app, KeyCode::Char('n'));
    press(&mut app, KeyCode::Char('n'));
    assert_eq!(status(&app), "match 4 of 4");
    assert!(app.scroll() > first, "the pane scrolled to the match");
    press(&mut app, KeyCode::Char('n'));
    assert_eq!(status(&app), "match 1 of 4 (wrapped around)");
    press(&mut app, KeyCode::Char('N'));
    assert_eq!(status(&app), "match 4 of 4 (wrapped around)");
    press(&mut app, KeyCode::Char('N'));
    assert_eq!(status(&app), "match 3 of 4");

    // Ctrl-R again goes back to text.
    press(&mut app, KeyCode::Char('/'));
    ctrl(&mut app, 'r');
    let bar = status_row(&mut app);
    assert!(bar.contains("/  search "), "{bar}");
    assert!(!bar.contains("(regex)"), "{bar}");
}

#[test]
fn regex_matches_are_highlighted_whole() {
    let mut app = app().with_theme(Theme::dark());
    let theme = Theme::dark();
    press(&mut app, KeyCode::Char('/'));
    ctrl(&mut app, 'r');
    typed(&mut app, r"nr_active=[35] avg_lat_cri=\d+");
    press(&mut app, KeyCode::Enter);
    assert_eq!(status(&app), "match 1 of 20");
    let buf = draw(&mut app, 80, 24);
    let styled = |style: ratatui::style::Style| {
        buf.content
            .iter()
            .filter(|c| c.fg == style.fg.unwrap() && c.bg == style.bg.unwrap())
            .count()
    };
    // "nr_active=3 avg_lat_cri=400".
    assert_eq!(styled(theme.current_match), 27);
    assert!(styled(theme.matched) >= 27, "other matches on screen");
}

#[test]
fn invalid_regex_shows_the_error_and_keeps_the_pane() {
    let mut app = app();
    typed(&mut app, "/WARN");
    press(&mut app, KeyCode::Enter);
    let at = app.scroll();
    assert!(at > 0);

    press(&mut app, KeyCode::Char('/'));
    ctrl(&mut app, 'r');
    typed(&mut app, "dsq_id 0x");
    let at = app.scroll();
    typed(&mut app, "[");
    assert_eq!(status(&app), "regex error: unclosed character class");
    assert_eq!(app.scroll(), at, "the view stays");
    assert_eq!(app.find_state().unwrap().0, "", "nothing highlighted");
    let bar = status_row(&mut app);
    assert!(
        bar.contains("regex error: unclosed character class"),
        "{bar}"
    );
    // The error stays in the prompt after a key that changes nothing.
    press(&mut app, KeyCode::Left);
    assert!(status_row(&mut app).contains("regex error: unclosed"));
    press(&mut app, KeyCode::Right);
    // Enter keeps the prompt open to fix it.
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.mode(), Mode::Search);
    assert_eq!(status(&app), "regex error: unclosed character class");
    typed(&mut app, "0-9a-f]+");
    assert_eq!(status(&app), "");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.mode(), Mode::Normal);
    assert_eq!(status(&app), "match 1 of 1");

    // A regex matching empty text is refused with the fix; Esc restores
    // the previous search, in its mode.
    press(&mut app, KeyCode::Char('/'));
    typed(&mut app, "a*");
    assert!(
        status(&app).starts_with("regex error: it matches empty text"),
        "{}",
        status(&app)
    );
    assert!(status(&app).contains("use +"), "{}", status(&app));
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.mode(), Mode::Normal);
    assert_eq!(app.find_state().unwrap().0, "dsq_id 0x[0-9a-f]+");
    press(&mut app, KeyCode::Char('n'));
    assert_eq!(status(&app), "match 1 of 1 (wrapped around)");
    for p in ["(", "a{2,1}", r"\p{Nope}", r"\", "*"] {
        press(&mut app, KeyCode::Char('/'));
        typed(&mut app, p);
        assert!(status(&app).starts_with("regex error: "), "{p}");
        assert!(!status(&app).contains('\n'), "{p}");
        screen(&mut app, 80, 24);
        press(&mut app, KeyCode::Esc);
    }
}

#[test]
fn regex_filter() {
    let mut app = app();
    press(&mut app, KeyCode::Char('&'));
    ctrl(&mut app, 'r');
    typed(&mut app, r"nr_active=[35]\b");
    assert!(status_row(&mut app).contains("filter (regex)"));
    press(&mut app, KeyCode::Enter);
    assert_eq!(status(&app), r"filter /nr_active=[35]\b/: 20 lines");
    let s = screen(&mut app, 80, 24);
    assert!(
        s.contains(r"filter: /nr_active=[35]\b/ (20 of 44 lines)"),
        "{s}"
    );
    assert!(
        s.contains(" 5│12:00:02.274 INFO  scx_lavd: sys_stat: nr_active=5"),
        "{s}"
    );

    // An invalid one is reported and changes nothing, even on Enter.
    press(&mut app, KeyCode::Char('&'));
    assert!(status_row(&mut app).contains("filter (regex)"), "mode kept");
    typed(&mut app, "[");
    assert_eq!(status(&app), "regex error: unclosed character class");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.mode(), Mode::Search);
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.find_state().unwrap().1, r"nr_active=[35]\b");

    // Empty matches are fine in a filter (grep's ^$): no line is empty here.
    typed(&mut app, "&^$");
    press(&mut app, KeyCode::Enter);
    assert_eq!(status(&app), "filter /^$/: 0 lines");
    let s = screen(&mut app, 80, 24);
    assert!(
        s.contains("(no line matches /^$/; & then Enter clears"),
        "{s}"
    );
    typed(&mut app, "&^12:00:0[78]");
    press(&mut app, KeyCode::Enter);
    assert_eq!(status(&app), "filter /^12:00:0[78]/: 2 lines");
}

#[test]
fn regex_search_over_a_million_lines() {
    let mut app = million_line_console();
    // Incremental: each key counts again over the 38 MB.
    press(&mut app, KeyCode::Char('/'));
    ctrl(&mut app, 'r');
    typed(&mut app, r#""\w+" errored$"#);
    press(&mut app, KeyCode::Enter);
    assert_eq!(status(&app), "match 1 of 1000");
    press(&mut app, KeyCode::Char('N'));
    assert_eq!(status(&app), "match 1000 of 1000 (wrapped around)");
    press(&mut app, KeyCode::Char('N'));
    assert_eq!(status(&app), "match 999 of 1000");
    typed(&mut app, "&INFO");
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char('N'));
    assert_eq!(
        status(&app),
        "no match for /\"\\w+\" errored$/ in the filtered lines"
    );
}
