//! Whole-screen snapshots and key handling, through the public API only.

mod common;

#[path = "../../tests/support/require.rs"]
mod require;

use common::screen;

use std::collections::VecDeque;
use std::io;

use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use scxray::report::{Report, Section, SectionKind, Text};
use scxray_ui::theme::Theme;
use scxray_ui::{handle_key, Action, App};

const SOURCE: &str = "lavd-mixed-load.txt";

fn app(report: Report) -> App {
    App::new(report, SOURCE).with_theme(Theme::plain())
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn press(app: &mut App, code: KeyCode) -> Action {
    handle_key(app, key(code))
}

fn ch(app: &mut App, c: char) -> Action {
    press(app, KeyCode::Char(c))
}

fn pane_index(app: &App, title: &str) -> usize {
    app.pane_titles().iter().position(|t| t == title).unwrap()
}

// --- snapshots ---

#[test]
fn summary_80x24() {
    insta::assert_snapshot!(screen(&mut app(common::sample_report()), 80, 24));
}

#[test]
fn summary_160x48() {
    insta::assert_snapshot!(screen(&mut app(common::sample_report()), 160, 48));
}

#[test]
fn each_pane_80x24() {
    let mut app = app(common::sample_report());
    for (i, title) in app.pane_titles().into_iter().enumerate() {
        app.focus_pane(i);
        let name = format!(
            "pane_{}_80x24",
            title.to_lowercase().replace([' ', '(', ')'], "_")
        );
        insta::assert_snapshot!(name, screen(&mut app, 80, 24));
    }
}

#[test]
fn backtrace_and_cpu_states_160x48() {
    let mut app = app(common::sample_report());
    ch(&mut app, '2');
    insta::assert_snapshot!("backtrace_160x48", screen(&mut app, 160, 48));
    ch(&mut app, '3');
    insta::assert_snapshot!("cpu_states_160x48", screen(&mut app, 160, 48));
}

#[test]
fn help_overlay_80x24() {
    let mut app = app(common::sample_report());
    ch(&mut app, '?');
    insta::assert_snapshot!(screen(&mut app, 80, 24));
}

#[test]
fn no_crash_80x24() {
    insta::assert_snapshot!(screen(&mut app(common::no_crash_report()), 80, 24));
}

#[test]
fn no_crash_160x48() {
    insta::assert_snapshot!(screen(&mut app(common::no_crash_report()), 160, 48));
}

#[test]
fn two_crashes_80x24() {
    insta::assert_snapshot!(screen(&mut app(common::two_crash_report()), 80, 24));
}

#[test]
fn narrow_60x20_keeps_focused_tab_visible() {
    let mut app = app(common::sample_report());
    ch(&mut app, '5');
    let s = screen(&mut app, 60, 20);
    insta::assert_snapshot!(s);
    assert!(s.contains("[5 sched_ext dump]"));
}

// --- content checks ---

#[test]
fn userspace_bail_says_it_is_not_a_kernel_exit() {
    let s = screen(&mut app(common::bail_report()), 120, 30);
    assert!(
        s.contains("not a kernel exit (userspace bail/verifier)"),
        "{s}"
    );
}

#[test]
fn never_panics_at_any_size() {
    let reports = [
        common::sample_report(),
        common::no_crash_report(),
        common::two_crash_report(),
    ];
    let sizes = [
        (0, 0),
        (1, 1),
        (2, 2),
        (20, 5),
        (5, 20),
        (80, 3),
        (3, 80),
        (12, 7),
        (80, 24),
        (160, 48),
    ];
    for report in reports {
        let mut app = app(report);
        for pane in 0..app.pane_titles().len() {
            app.focus_pane(pane);
            for &(w, h) in &sizes {
                screen(&mut app, w, h);
                ch(&mut app, 'G');
                screen(&mut app, w, h);
                ch(&mut app, '?');
                ch(&mut app, 'G');
                screen(&mut app, w, h);
                press(&mut app, KeyCode::Esc);
            }
        }
    }
}

// --- keys ---

#[test]
fn tab_digits_and_backtab_switch_panes() {
    let mut app = app(common::sample_report());
    let n = app.pane_titles().len();
    assert_eq!(
        app.pane_titles(),
        [
            "Summary",
            "Backtrace",
            "CPU states",
            "scheduler log",
            "sched_ext dump",
            "Source",
            "Notes (1)",
            "Workbench"
        ]
    );
    assert_eq!(app.focused(), 0);
    assert_eq!(press(&mut app, KeyCode::Tab), Action::NextPane);
    assert_eq!(app.focused(), 1);
    press(&mut app, KeyCode::BackTab);
    press(&mut app, KeyCode::BackTab);
    assert_eq!(app.focused(), n - 1, "Shift-Tab wraps to the last pane");
    handle_key(&mut app, KeyEvent::new(KeyCode::Tab, KeyModifiers::SHIFT));
    assert_eq!(app.focused(), n - 2, "Tab with SHIFT is Shift-Tab");
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.focused(), 0, "Tab wraps to the first pane");
    assert_eq!(ch(&mut app, '4'), Action::GoToPane(4));
    assert_eq!(app.focused(), 3);
    ch(&mut app, '9');
    assert_eq!(app.focused(), 3, "a digit past the last pane does nothing");
}

#[test]
fn scrolling_stays_in_bounds() {
    let mut app = app(common::sample_report());
    app.resize(80, 24);
    app.focus_pane(pane_index(&app, "scheduler log"));
    let lines = common::sched_log().lines().count();
    // 24 rows: title, 5 answer lines, tabs, status and two border rows.
    let height = 24 - 1 - 5 - 1 - 1 - 2;
    let max = lines - height;

    ch(&mut app, 'k');
    assert_eq!(app.scroll(), 0, "k at the top stays at the top");
    ch(&mut app, 'j');
    press(&mut app, KeyCode::Down);
    assert_eq!(app.scroll(), 2);
    press(&mut app, KeyCode::Up);
    assert_eq!(app.scroll(), 1);
    ch(&mut app, 'G');
    assert_eq!(app.scroll(), max);
    ch(&mut app, 'j');
    press(&mut app, KeyCode::PageDown);
    assert_eq!(app.scroll(), max, "nothing scrolls past the last line");
    press(&mut app, KeyCode::PageUp);
    assert_eq!(app.scroll(), max - height);
    ch(&mut app, 'g');
    assert_eq!(app.scroll(), 0);
    press(&mut app, KeyCode::PageDown);
    assert_eq!(app.scroll(), height);
    press(&mut app, KeyCode::End);
    press(&mut app, KeyCode::Home);
    assert_eq!(app.scroll(), 0);

    // Each pane keeps its own position.
    ch(&mut app, 'G');
    ch(&mut app, '1');
    assert_eq!(app.scroll(), 0);
    ch(&mut app, '4');
    assert_eq!(app.scroll(), max);

    // After growing the screen, the bound follows the new height.
    app.resize(80, 200);
    assert_eq!(app.scroll(), 0);
    ch(&mut app, 'j');
    assert_eq!(app.scroll(), 0);
}

#[test]
fn short_pane_does_not_scroll() {
    let mut app = app(common::no_crash_report());
    app.resize(80, 24);
    ch(&mut app, '2');
    ch(&mut app, 'j');
    ch(&mut app, 'G');
    assert_eq!(app.scroll(), 0);
}

#[test]
fn help_opens_closes_and_scrolls_itself() {
    let mut app = app(common::sample_report());
    app.resize(80, 12);
    app.focus_pane(pane_index(&app, "scheduler log"));
    assert_eq!(ch(&mut app, '?'), Action::OpenHelp);
    assert!(app.help_visible());
    ch(&mut app, 'j');
    assert_eq!(app.help_scroll(), 1, "j scrolls the help, not the pane");
    assert_eq!(app.scroll(), 0);
    assert_eq!(
        ch(&mut app, '3'),
        Action::None,
        "pane keys are off while help is open"
    );
    assert_eq!(
        press(&mut app, KeyCode::Esc),
        Action::CloseHelp,
        "Esc closes help first"
    );
    assert!(!app.help_visible());
    ch(&mut app, '?');
    assert_eq!(ch(&mut app, '?'), Action::CloseHelp);
    assert!(!app.help_visible());
    ch(&mut app, '?');
    assert_eq!(app.help_scroll(), 0, "help reopens at the top");
    assert_eq!(ch(&mut app, 'q'), Action::Quit, "q quits from help too");
}

#[test]
fn quit_keys() {
    let mut app = app(common::sample_report());
    assert_eq!(ch(&mut app, 'q'), Action::Quit);
    assert_eq!(press(&mut app, KeyCode::Esc), Action::Quit);
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(handle_key(&mut app, ctrl_c), Action::Quit);
    assert_eq!(ch(&mut app, 'Z'), Action::None);
    let release = KeyEvent::new_with_kind(
        KeyCode::Char('q'),
        KeyModifiers::NONE,
        KeyEventKind::Release,
    );
    assert_eq!(
        handle_key(&mut app, release),
        Action::None,
        "key releases are ignored"
    );
}

#[test]
fn c_cycles_crashes_and_scrolls_to_where_each_was_found() {
    let mut app = app(common::two_crash_report());
    app.resize(80, 24);
    assert_eq!(
        app.crash_index(),
        Some(1),
        "the parser's selection is shown first"
    );
    assert!(screen(&mut app, 80, 24).contains("crash 2 of 2"));
    assert_eq!(ch(&mut app, 'c'), Action::NextCrash);
    assert_eq!(app.crash_index(), Some(0));
    let s = screen(&mut app, 80, 24);
    assert!(
        s.contains("crash 1 of 2") && s.contains("stall (1026)"),
        "{s}"
    );
    app.focus_pane(pane_index(&app, "scheduler log"));
    assert_eq!(app.scroll(), 20, "the stall's log line is at the top");
    ch(&mut app, 'c');
    assert_eq!(app.crash_index(), Some(1));

    let mut single = self::app(common::sample_report());
    ch(&mut single, 'c');
    assert_eq!(single.crash_index(), Some(0));
    assert!(
        !screen(&mut single, 80, 24).contains("next crash"),
        "no hint for one crash"
    );
}

#[test]
fn event_loop_redraws_on_resize_and_stops_on_quit() {
    let mut app = app(common::sample_report());
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    let mut events: VecDeque<Event> = [
        Event::Key(key(KeyCode::Char('2'))),
        Event::Resize(100, 30),
        Event::FocusGained,
        Event::Key(key(KeyCode::Char('x'))),
        Event::Key(key(KeyCode::Char('q'))),
        Event::Key(key(KeyCode::Char('3'))),
    ]
    .into();
    scxray_ui::run_with_events(&mut terminal, &mut app, || {
        events
            .pop_front()
            .ok_or_else(|| io::Error::other("ran out of events"))
    })
    .unwrap();
    assert_eq!(app.focused(), 1, "keys after q are not read");
    assert_eq!(events.len(), 1);
    assert!(terminal.backend().to_string().contains("[2 Backtrace]"));
}

#[test]
fn big_section_shows_its_last_lines() {
    let body: String = (1..=200_000).map(|i| format!("line {i}\n")).collect();
    let mut report = common::no_crash_report();
    report.sections = vec![Section {
        kind: SectionKind::Console,
        body: Text::from(body),
    }];
    let mut app = app(report);
    app.resize(80, 24);
    ch(&mut app, '4');
    ch(&mut app, 'G');
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("200000│line 200000"), "{s}");
    assert!(s.contains("of 200000"), "{s}");
}

// --- real inputs ---

/// Every public fixture, parsed by the real parser, renders on every pane at
/// common and tiny sizes. Skipped when the shared corpus is not checked out.
#[test]
fn public_fixtures_render_at_any_size() {
    let Some(shared) = require::require_shared_fixtures("public_fixtures_render_at_any_size")
    else {
        return;
    };
    let entries = std::fs::read_dir(shared.join("public")).expect("shared/fixtures/public");
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let report = scxray::parse::parse_path(&path).unwrap();
        let mut app = app(report);
        for pane in 0..app.pane_titles().len() {
            app.focus_pane(pane);
            for (w, h) in [(80, 24), (160, 48), (20, 5), (1, 1)] {
                screen(&mut app, w, h);
                ch(&mut app, 'G');
                screen(&mut app, w, h);
            }
        }
    }
}

// --- stalls and trace dumps (issue 14: 10, 11, 15) ---

/// The sample dump as `trace_pipe` shows it: each line behind its ftrace
/// prefix, as a tracefs capture or ktstr's trace section has it.
fn trace_dump(dump: &str) -> String {
    dump.lines()
        .enumerate()
        .map(|(i, line)| {
            format!(
                "     kworker/u16:3-2417    [001] d..1.    36.{:06}: sched_ext_dump: {line}\n",
                188_310 + 7 * i
            )
        })
        .collect()
}

const STALL_MESSAGE: &str = "stress-ng[3051] failed to run for 30.012s";

/// A watchdog stall: the kworker that printed the dump is not the task that
/// stalled; stress-ng[3051] waits on CPU 1's runqueue. The dump is a trace.
fn stall_report() -> Report {
    let mut report = common::sample_report();
    let dump = common::DUMP
        .replace(
            "kworker/u16:3[2417] triggered exit kind 1025:",
            "kworker/u16:3[2417] triggered exit kind 1026:",
        )
        .replace(
            "  scx_bpf_error (lavd_dispatch: dsq_id 0x8000000000000002 not found on CPU 1)",
            &format!("  runnable task stall ({STALL_MESSAGE})"),
        )
        .replace("  R stress-ng[3051] -3ms", "  R stress-ng[3051] -30012ms");
    report.sections[1].body = Text::from(trace_dump(&dump));
    let crash = &mut report.crashes[0];
    crash.kind = scxray::report::ExitKind::Stall;
    crash.reason = Some("runnable task stall".into());
    crash.message = Some(STALL_MESSAGE.into());
    crash.backtrace.clear();
    for cpu in &mut crash.cpu_states {
        for t in &mut cpu.tasks {
            if t.summary == "-3ms" {
                t.summary = "-30012ms".into();
            }
        }
    }
    report.header.bug_summary = Some(format!("scx_lavd: runnable task stall: {STALL_MESSAGE}"));
    report.header.fingerprint = None;
    report.header.details = vec!["scheduler exited: runnable task stall (1026)".into()];
    report
}

#[test]
fn trace_dump_hides_the_prefix_160x48() {
    let mut app = app(stall_report());
    ch(&mut app, 'd');
    let s = screen(&mut app, 160, 48);
    insta::assert_snapshot!("trace_dump_prefix_hidden_160x48", s);
    assert!(!s.contains("sched_ext_dump:"), "{s}");
    assert!(s.contains("trace prefix hidden"), "{s}");
    let s = screen(&mut app, 80, 24);
    insta::assert_snapshot!("trace_dump_prefix_hidden_80x24", s);
    // p shows the prefix, cut with a mark at 80 columns; p hides it again.
    assert_eq!(ch(&mut app, 'p'), Action::ToggleTracePrefix);
    assert_eq!(
        app.status_message(),
        Some("trace prefixes shown: p hides them")
    );
    let s = screen(&mut app, 80, 24);
    insta::assert_snapshot!("trace_dump_prefix_shown_80x24", s);
    assert!(!s.contains("trace prefix hidden"), "{s}");
    ch(&mut app, 'p');
    assert!(screen(&mut app, 80, 24).contains("trace prefix hidden"));
    // Elsewhere p says why it does nothing.
    ch(&mut app, 'l');
    ch(&mut app, 'p');
    assert_eq!(
        app.status_message(),
        Some("no sched_ext_dump trace lines in this pane")
    );
}

#[test]
fn trace_dump_search_and_line_numbers_follow_the_body() {
    let mut app = app(stall_report());
    app.resize(160, 48);
    ch(&mut app, 'd');
    ch(&mut app, '/');
    for c in "-30012ms".chars() {
        ch(&mut app, c);
    }
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.find_state().unwrap().0, "-30012ms");
    ch(&mut app, 'n');
    assert_eq!(app.status_message(), Some("match 1 of 1 (wrapped around)"));
    let s = screen(&mut app, 160, 48);
    // Line 30 of the body, numbered as in the file, without its prefix.
    let line = common::DUMP
        .lines()
        .position(|l| l.contains("R stress-ng[3051]"))
        .unwrap();
    assert!(
        s.contains(&format!("│{}▌  R stress-ng[3051] -30012ms ", line + 1)),
        "{s}"
    );
    // A filter on a word of the prefix keeps every trace line: the body is
    // searched, not what is drawn.
    ch(&mut app, '&');
    for c in "kworker/u16:3-2417".chars() {
        ch(&mut app, c);
    }
    press(&mut app, KeyCode::Enter);
    let n = common::DUMP.lines().count();
    assert!(
        screen(&mut app, 160, 48).contains(&format!("({n} of {n} lines) · trace prefix hidden")),
        "{}",
        screen(&mut app, 160, 48)
    );
}

#[test]
fn stall_summary_names_the_stalled_task() {
    let mut app = app(stall_report());
    let s = screen(&mut app, 80, 24);
    insta::assert_snapshot!("stall_summary_80x24", s);
    let s = screen(&mut app, 160, 48);
    insta::assert_snapshot!("stall_summary_160x48", s);
    assert!(
        s.contains("Stalled task stress-ng[3051] · not run for 30.012s"),
        "{s}"
    );
    assert!(
        s.contains(
            "Reported by  kworker/u16:3[2417] (the watchdog's report, not the stalled task)"
        ),
        "{s}"
    );
    assert!(
        s.contains("stalled task stress-ng[3051] · reported by kworker/u16:3[2417] on CPU 1"),
        "{s}"
    );
}

#[test]
fn enter_on_the_summary_jumps_to_the_stalled_task() {
    let mut app = app(stall_report());
    app.resize(80, 24);
    assert_eq!(press(&mut app, KeyCode::Enter), Action::OpenFrame);
    assert_eq!(app.pane_titles()[app.focused()], "CPU states");
    assert_eq!(
        app.status_message(),
        Some("stress-ng[3051]: the stalled task, on CPU 1's runqueue in the dump")
    );
    let s = screen(&mut app, 80, 24);
    insta::assert_snapshot!("stall_enter_cpu_states_80x24", s);
    assert!(
        s.contains("R stress-ng[3051] -30012ms  ◀ stalled: not run for 30.012s"),
        "{s}"
    );

    // Not in the CPU states: Enter searches the dump for it instead.
    let mut report = stall_report();
    report.crashes[0].cpu_states.retain(|c| c.cpu != 1);
    let mut app = self::app(report);
    app.resize(160, 48);
    let s = screen(&mut app, 160, 48);
    assert!(
        s.contains("not in the CPU states: Enter searches the dump for it"),
        "{s}"
    );
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.pane_titles()[app.focused()], "sched_ext dump");
    assert_eq!(
        app.status_message(),
        Some(
            "stress-ng[3051] is not in the CPU states; searching the sched_ext dump: match 1 of 2"
        )
    );
    assert_eq!(app.find_state().unwrap().0, "stress-ng[3051]");
}

#[test]
fn watchdog_stall_names_no_task() {
    let mut report = stall_report();
    report.crashes[0].message = Some("watchdog failed to check in for 5.003s".into());
    let mut app = app(report);
    let s = screen(&mut app, 160, 48);
    assert!(
        s.contains(
            "Stall        the watchdog itself failed to check in for 5.003s: no task is named"
        ),
        "{s}"
    );
    assert!(s.contains("Task         kworker/u16:3[2417]"), "{s}");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.focused(), 0, "no task to jump to");
}

/// A real stall: ktstr's output of a cosmos run (kernel lines, the debug
/// dump in the scheduler log, trace lines), parsed by the real parser.
#[test]
fn real_stall_fixture_names_and_finds_the_stalled_task() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/variants/ktstr-cosmos-timed-out-stall.txt"
    );
    let report = scxray::parse::parse_path(std::path::Path::new(path)).unwrap();
    let mut app = app(report);
    let s = screen(&mut app, 160, 48);
    assert!(
        s.contains("Stalled task stress-ng-cpu[388] · not run for 30.512s"),
        "{s}"
    );
    assert!(!s.contains("Task         kworker/1:2[97]"), "{s}");
    press(&mut app, KeyCode::Enter);
    let title = &app.pane_titles()[app.focused()];
    assert!(
        title == "CPU states" || title == "sched_ext dump",
        "{title}: {:?}",
        app.status_message()
    );
    let s = screen(&mut app, 160, 48);
    assert!(s.contains("stress-ng-cpu[388]"), "{s}");
    // Its trace lines show the dump, not the prefix.
    ch(&mut app, 'd');
    let s = screen(&mut app, 160, 48);
    assert!(
        !s.contains("d..1.") && s.contains("trace prefix hidden"),
        "{s}"
    );
}

#[test]
fn cut_columns_end_in_a_mark() {
    let mut app = app(common::sample_report());
    ch(&mut app, 'b');
    let s = screen(&mut app, 160, 48);
    // The companion Source pane wraps its hint; the Backtrace's class
    // column moves in where the widest tag would not fit.
    assert!(
        s.contains("scxray open --source DIR looks functions up by name in"),
        "{s}"
    );
    let s = screen(&mut app, 60, 20);
    for row in s.lines().skip(8).take(8) {
        let inner = row.trim_matches('"');
        assert!(
            inner.ends_with("│") || inner.ends_with("…│") || inner.trim().is_empty(),
            "{row}"
        );
    }
}

// --- failure dump ---

/// A saved report with scxray's `--- failure dump ---`: scx-spin[153], the
/// task the scx_bpf_error message names, running on CPU 0.
fn failure_dump_report() -> Report {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/failure-dump/scx-bpf-error.txt"
    );
    scxray::parse::parse_path(std::path::Path::new(path)).unwrap()
}

/// `report` with a `--- repro failure dump ---` of `dump`, through the text
/// layout as a saved report would be read.
fn with_repro_dump(mut report: Report, dump: &scxray::failure_dump::FailureDump) -> Report {
    report.sections.push(Section {
        kind: SectionKind::ReproFailureDump,
        body: Text::from(scxray::failure_dump::text::write(dump)),
    });
    scxray::parse::parse_text(Text::from(scxray::write::to_ktstr(&report)))
}

#[test]
fn failure_dump_120x40_and_80x24() {
    let mut app = app(failure_dump_report());
    assert_eq!(
        ch(&mut app, 'F'),
        Action::GoToRole(scxray_ui::panes::Role::FailureDump)
    );
    assert_eq!(app.pane_titles()[app.focused()], "Failure dump");
    let s = screen(&mut app, 120, 40);
    assert!(
        s.contains("▶ scx-spin[153] is the task the error names"),
        "{s}"
    );
    assert!(s.contains("▶ 153"), "the named task leads the table: {s}");
    insta::assert_snapshot!("failure_dump_120x40", s);
    insta::assert_snapshot!("failure_dump_80x24", screen(&mut app, 80, 24));
    // Scrolls like any pane, to the registers at the end.
    ch(&mut app, 'G');
    let s = screen(&mut app, 120, 40);
    assert!(
        s.contains("vCPU 1") && s.contains("pv_native_safe_halt+0xe"),
        "{s}"
    );
}

#[test]
fn failure_dump_links_from_summary_and_backtrace() {
    let mut app = app(failure_dump_report());
    let s = screen(&mut app, 160, 48);
    assert!(
        s.contains("Failure dump frozen at 2.113 s · 6 tasks · 2 maps → press F"),
        "{s}"
    );
    ch(&mut app, 'b');
    let s = screen(&mut app, 160, 48);
    assert!(s.contains("F: the failure dump"), "{s}");
    // Without a dump, F says why there is none.
    let mut plain = app_without_dump();
    ch(&mut plain, 'F');
    assert!(
        plain
            .status_message()
            .is_some_and(|m| m.contains("no failure dump")),
        "{:?}",
        plain.status_message()
    );
}

fn app_without_dump() -> App {
    app(common::sample_report())
}

#[test]
fn r_switches_to_the_repro_dump_and_back() {
    let report = failure_dump_report();
    let mut dump = scxray::failure_dump::of_report(&report, false)
        .unwrap()
        .unwrap();
    dump.at_ms = 9_870;
    dump.tasks_total = 5;
    dump.tasks.retain(|t| t.pid != 1);
    let mut app = app(with_repro_dump(report, &dump));
    // Not on the dump pane: R does nothing there.
    assert_eq!(ch(&mut app, 'R'), Action::ToggleAlternate);
    assert_eq!(app.pane_titles()[app.focused()], "Summary");
    ch(&mut app, 'F');
    let s = screen(&mut app, 120, 40);
    assert!(s.contains("Showing the test run's dump"), "{s}");
    assert!(s.contains("2.113 s"), "{s}");
    ch(&mut app, 'j');
    ch(&mut app, 'R');
    assert_eq!(app.pane_titles()[app.focused()], "Failure dump (repro)");
    assert_eq!(app.scroll(), 0);
    let s = screen(&mut app, 120, 40);
    assert!(s.contains("Showing the auto-repro VM's dump"), "{s}");
    assert!(s.contains("9.870 s") && s.contains("Tasks (5 of 5)"), "{s}");
    ch(&mut app, 'R');
    assert_eq!(app.pane_titles()[app.focused()], "Failure dump");
}

#[test]
fn a_broken_failure_dump_shows_its_text_under_the_error() {
    let mut report = failure_dump_report();
    let i = report
        .sections
        .iter()
        .position(|s| s.kind == SectionKind::FailureDump)
        .unwrap();
    report.sections[i].body = Text::from(format!("{}\nnot a dump line", report.sections[i].body));
    let mut app = app(report);
    ch(&mut app, 'F');
    ch(&mut app, 'G');
    ch(&mut app, 'g');
    let s = screen(&mut app, 120, 40);
    assert!(
        s.contains("This dump did not parse: failure dump, line 26"),
        "{s}"
    );
    assert!(s.contains("frozen at 2113 ms by the watchpoint"), "{s}");
}
