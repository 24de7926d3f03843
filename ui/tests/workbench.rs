//! The matcher workbench through the public API: edit-mode keys, verdicts,
//! n/N, suggestions, export effects, stale results, the threaded worker,
//! and screen snapshots.

mod common;

use common::screen;

use std::collections::VecDeque;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use scxray::cancel::Cancel;
use scxray::matcher::{evaluate, Corpus, Field, NamedCorpus, Pin};
use scxray_ui::keymap::Mode;
use scxray_ui::matcher_worker::Engine;
use scxray_ui::theme::Theme;
use scxray_ui::{handle_key, perform, Action, App, AppEvent, Effect, EffectOutcome, Reply};

fn app() -> App {
    let mut app = App::new(common::sample_report(), "lavd.txt").with_theme(Theme::plain());
    app.resize(80, 24);
    app
}

fn press(app: &mut App, code: KeyCode) -> Action {
    handle_key(app, KeyEvent::new(code, KeyModifiers::NONE))
}

fn ctrl(app: &mut App, c: char) -> Action {
    handle_key(app, KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

fn ch(app: &mut App, c: char) -> Action {
    press(app, KeyCode::Char(c))
}

fn type_str(app: &mut App, s: &str) {
    for c in s.chars() {
        assert_eq!(ch(app, c), Action::Type(c), "{c:?} is typed");
    }
}

fn text(app: &App, field: Field) -> &str {
    app.workbench().input(field).text()
}

/// Opens the workbench and types `contains` and `matches` (either may be empty).
fn with_pin(contains: &str, matches: &str) -> App {
    let mut app = app();
    ch(&mut app, 'w');
    press(&mut app, KeyCode::Enter);
    type_str(&mut app, contains);
    press(&mut app, KeyCode::Tab);
    type_str(&mut app, matches);
    press(&mut app, KeyCode::Esc);
    app
}

// --- keys ---

#[test]
fn w_opens_the_workbench_and_enter_edits() {
    let mut app = app();
    assert_eq!(app.mode(), Mode::Normal);
    assert_eq!(ch(&mut app, 'w'), Action::GoToWorkbench);
    assert_eq!(app.pane_titles()[app.focused()], "Workbench");
    assert_eq!(app.mode(), Mode::Workbench);
    assert_eq!(press(&mut app, KeyCode::Enter), Action::EditField);
    assert_eq!(app.mode(), Mode::Edit);
    assert_eq!(press(&mut app, KeyCode::Esc), Action::LeaveEdit);
    assert_eq!(ch(&mut app, 'i'), Action::EditField);
    assert_eq!(app.mode(), Mode::Edit);
}

#[test]
fn typing_q_and_digits_in_a_field_types_them() {
    let mut app = app();
    ch(&mut app, 'w');
    ch(&mut app, 'i');
    type_str(&mut app, "q?1w jkG");
    assert_eq!(text(&app, Field::Contains), "q?1w jkG");
    assert_eq!(app.mode(), Mode::Edit, "still editing");
    // Shifted letters arrive with SHIFT on some terminals.
    handle_key(
        &mut app,
        KeyEvent::new(KeyCode::Char('Q'), KeyModifiers::SHIFT),
    );
    assert_eq!(text(&app, Field::Contains), "q?1w jkGQ");
    assert_eq!(ctrl(&mut app, 'c'), Action::Quit, "Ctrl-C still quits");
}

#[test]
fn backspace_delete_cursor_keys_and_ctrl_u() {
    let mut app = app();
    ch(&mut app, 'w');
    ch(&mut app, 'i');
    type_str(&mut app, "scx_bpf_errorr");
    assert_eq!(press(&mut app, KeyCode::Backspace), Action::DeleteBack);
    assert_eq!(text(&app, Field::Contains), "scx_bpf_error");
    press(&mut app, KeyCode::Home);
    press(&mut app, KeyCode::Delete);
    assert_eq!(text(&app, Field::Contains), "cx_bpf_error");
    ch(&mut app, 's');
    press(&mut app, KeyCode::End);
    press(&mut app, KeyCode::Left);
    press(&mut app, KeyCode::Left);
    press(&mut app, KeyCode::Right);
    type_str(&mut app, "_");
    assert_eq!(text(&app, Field::Contains), "scx_bpf_erro_r");
    assert_eq!(app.workbench().input(Field::Contains).cursor(), 13);
    assert_eq!(ctrl(&mut app, 'u'), Action::DeleteToStart);
    assert_eq!(text(&app, Field::Contains), "r");
    type_str(&mut app, "dsq ");
    ctrl(&mut app, 'w');
    assert_eq!(text(&app, Field::Contains), "r");
    press(&mut app, KeyCode::Backspace);
    press(&mut app, KeyCode::Delete);
    press(&mut app, KeyCode::Backspace);
    assert_eq!(text(&app, Field::Contains), "");
}

#[test]
fn tab_switches_fields_and_esc_leaves_without_quitting() {
    let mut app = app();
    ch(&mut app, 'w');
    press(&mut app, KeyCode::Enter);
    type_str(&mut app, "abc");
    assert_eq!(press(&mut app, KeyCode::Tab), Action::NextField);
    assert_eq!(app.workbench().focus(), Field::Matches);
    type_str(&mut app, "d+");
    press(&mut app, KeyCode::BackTab);
    assert_eq!(app.workbench().focus(), Field::Contains);
    assert_eq!(text(&app, Field::Contains), "abc");
    assert_eq!(text(&app, Field::Matches), "d+");
    assert_eq!(press(&mut app, KeyCode::Esc), Action::LeaveEdit);
    assert_eq!(app.mode(), Mode::Workbench);
    assert_eq!(
        press(&mut app, KeyCode::Esc),
        Action::None,
        "a second Esc does not quit"
    );
    assert_eq!(app.mode(), Mode::Workbench);
    // Tab outside a field still moves between panes.
    assert_eq!(press(&mut app, KeyCode::Tab), Action::NextPane);
    assert_eq!(app.focused(), 0);
    assert_eq!(ch(&mut app, 'w'), Action::GoToWorkbench);
    assert_eq!(ch(&mut app, 'q'), Action::Quit, "q quits outside a field");
}

// --- verdicts ---

#[test]
fn matching_pin_passes_with_counts() {
    let app = with_pin("dsq_id 0x8000000000000002 not found", "");
    let e = app.workbench().evaluation().expect("evaluated inline");
    assert_eq!(e.satisfied(), Some(true));
    // The scheduler log's EXIT line and the dump's reason line.
    let n = e.contains.as_ref().unwrap().total;
    assert!(n >= 2, "{n}");
}

#[test]
fn and_of_both_fields_fails_when_one_misses() {
    let mut app = with_pin("lavd_dispatch", r"not found on CPU \d+ again");
    let e = app.workbench().evaluation().unwrap();
    assert_eq!(e.satisfied(), Some(false));
    let s = screen(&mut app, 120, 30);
    assert!(s.contains("FAIL"), "{s}");
    assert!(s.contains("both fields must match"), "{s}");
}

#[test]
fn invalid_regex_shows_the_caret() {
    let mut app = with_pin("", "lavd_dispatch: (dsq");
    assert_eq!(app.workbench().evaluation().unwrap().satisfied(), None);
    let s = screen(&mut app, 80, 24);
    assert!(s.contains("INVALID"), "{s}");
    assert!(s.contains("unclosed group"), "{s}");
    let lines: Vec<&str> = s.lines().collect();
    let pat = lines
        .iter()
        .position(|l| l.contains("    lavd_dispatch: (dsq"))
        .expect("pattern line");
    let caret_col = lines[pat + 1].find('^').expect("caret line");
    assert_eq!(&lines[pat][caret_col..caret_col + 1], "(");
}

#[test]
fn empty_matching_regex_is_an_error_not_a_pass() {
    let app = with_pin("", "a?");
    let e = app.workbench().evaluation().unwrap();
    assert_eq!(e.satisfied(), None);
}

#[test]
fn no_match_shows_the_longest_matching_prefix() {
    let mut app = with_pin("lavd_dispatch: dsq_id 0x9", "");
    let s = screen(&mut app, 160, 30);
    assert!(s.contains("no match"), "{s}");
    assert!(
        s.contains("longest leading part that matches is \"lavd_dispatch: dsq_id 0x\""),
        "{s}"
    );
}

#[test]
fn negative_control_flags_a_too_broad_pin() {
    let clean = vec![NamedCorpus::new(
        "clean.log",
        Corpus::new(Some("scx_lavd: scheduler initialized"), None),
    )];
    let mut app = App::new(common::sample_report(), "lavd.txt")
        .with_theme(Theme::plain())
        .with_clean(clean);
    app.resize(80, 24);
    ch(&mut app, 'w');
    ch(&mut app, 'i');
    type_str(&mut app, "scheduler initialized");
    let s = screen(&mut app, 100, 30);
    assert!(s.contains("TOO BROAD"), "{s}");
    assert!(s.contains("clean.log"), "{s}");
    press(&mut app, KeyCode::Home);
    for _ in 0.."scheduler ".len() {
        press(&mut app, KeyCode::Delete);
    }
    type_str(&mut app, "lavd_dispatch: ");
    press(&mut app, KeyCode::Esc);
    // "lavd_dispatch: initialized": no match at all now.
    let s = screen(&mut app, 100, 30);
    assert!(s.contains("FAIL"), "{s}");
    press(&mut app, KeyCode::Enter);
    ctrl(&mut app, 'u');
    press(&mut app, KeyCode::End);
    ctrl(&mut app, 'u');
    type_str(&mut app, "lavd_dispatch");
    let s = screen(&mut app, 100, 30);
    assert!(s.contains("PASS"), "{s}");
    assert!(s.contains("clean clean.log: no hits (good)"), "{s}");
}

// --- navigation, suggestions, fixes ---

#[test]
fn n_and_shift_n_jump_between_matches_and_scroll() {
    // 40 sys_stat lines, from line 3 on; the first ones are on screen.
    let mut app = with_pin("", r"nr_active=\d+");
    ch(&mut app, 'g');
    assert_eq!(app.workbench().current_match(), None);
    assert_eq!(ch(&mut app, 'n'), Action::NextMatch);
    let first = app.workbench().current_match().expect("first match");
    let view_line = |app: &App, m: &std::ops::Range<usize>| {
        Corpus::from_report(app.report()).as_str()[..m.start]
            .matches('\n')
            .count()
            + 1
    };
    assert_eq!(view_line(&app, &first), 3);
    ch(&mut app, 'n');
    let second = app.workbench().current_match().unwrap();
    assert_eq!(view_line(&app, &second), 4);
    for _ in 0..38 {
        ch(&mut app, 'n');
    }
    let last = app.workbench().current_match().unwrap();
    assert_eq!(view_line(&app, &last), 42);
    assert!(app.scroll() > 20, "scrolled down to it: {}", app.scroll());
    ch(&mut app, 'n');
    assert_eq!(app.workbench().current_match(), Some(first.clone()));
    assert!(app.status_message().unwrap().contains("wrapped"));
    assert_eq!(app.scroll(), 0, "back at the top");
    assert_eq!(ch(&mut app, 'N'), Action::PrevMatch);
    assert_eq!(app.workbench().current_match(), Some(last));
    let s = screen(&mut app, 80, 24);
    assert!(
        s.contains("42▌"),
        "the current match's line is marked:\n{s}"
    );
    assert!(s.contains("match at line 42"), "{s}");
}

#[test]
fn a_accepts_the_suggestion_for_the_crash_message() {
    let mut app = app();
    ch(&mut app, 'w');
    let s = app
        .workbench()
        .suggestion()
        .cloned()
        .expect("suggested inline");
    assert_eq!(ch(&mut app, 'a'), Action::AcceptSuggestion);
    assert_eq!(
        text(&app, Field::Contains),
        s.contains.as_deref().unwrap_or("")
    );
    assert_eq!(
        text(&app, Field::Matches),
        s.matches.as_deref().unwrap_or("")
    );
    assert!(s.contains.is_some() || s.matches.is_some());
    let e = app.workbench().evaluation().unwrap();
    assert_eq!(e.satisfied(), Some(true), "a suggestion is validated");
    assert!(screen(&mut app, 80, 24).contains("(accepted)"));
}

#[test]
fn s_suggests_from_the_current_line() {
    let mut app = with_pin("thr_perf_cri", "");
    ch(&mut app, 's');
    let s = app.workbench().suggestion().expect("suggestion");
    assert!(s.line.contains("sys_stat"), "{}", s.line);
}

#[test]
fn f_applies_the_suggested_fix() {
    // Whole-text `^` does not match mid-corpus; the fix adds (?m).
    let mut app = with_pin("", "^12:00:08.014 ERROR");
    let fix = app.workbench().fix().expect("a fix is offered");
    assert_eq!(fix.0, Field::Matches);
    assert_eq!(ch(&mut app, 'f'), Action::ApplyFix);
    assert_eq!(text(&app, Field::Matches), fix.1);
    assert_eq!(
        app.workbench().evaluation().unwrap().satisfied(),
        Some(true)
    );
}

// --- export ---

#[test]
fn e_opens_the_export_and_y_w_queue_effects() {
    let mut app = with_pin("lavd_dispatch", r"dsq_id 0x[0-9a-f]+ not found");
    assert_eq!(ch(&mut app, 'e'), Action::OpenExport);
    assert_eq!(app.mode(), Mode::Export);
    let s = screen(&mut app, 100, 30);
    assert!(s.contains("#[ktstr_test("), "{s}");
    assert!(
        s.contains("expect_scx_bpf_error_contains = \"lavd_dispatch\""),
        "{s}"
    );
    assert_eq!(ch(&mut app, 'y'), Action::CopyExport);
    let effects = app.take_effects();
    let [Effect::Copy { name, text }] = &effects[..] else {
        panic!("{effects:?}")
    };
    assert!(name.ends_with("_regression.rs"), "{name}");
    assert!(
        text.contains(r#"r"dsq_id 0x[0-9a-f]+ not found""#) || text.contains("r#\""),
        "{text}"
    );

    assert_eq!(ch(&mut app, 'w'), Action::WriteExport);
    let effects = app.take_effects();
    let [Effect::Write {
        path,
        overwrite: false,
        ..
    }] = &effects[..]
    else {
        panic!("{effects:?}")
    };
    assert_eq!(path.parent().unwrap(), std::path::Path::new("."));
    app.effect_done(EffectOutcome::Exists(path.clone()));
    assert!(app.status_message().unwrap().contains("press w again"));
    ch(&mut app, 'w');
    let effects = app.take_effects();
    assert!(
        matches!(
            &effects[..],
            [Effect::Write {
                overwrite: true,
                ..
            }]
        ),
        "the second w overwrites: {effects:?}"
    );
    assert_eq!(press(&mut app, KeyCode::Esc), Action::CloseExport);
    assert_eq!(app.mode(), Mode::Workbench);
}

#[test]
fn y_on_the_workbench_copies_and_an_invalid_pin_is_refused() {
    let mut app = with_pin("lavd_dispatch", "");
    ch(&mut app, 'y');
    assert!(matches!(&app.take_effects()[..], [Effect::Copy { .. }]));
    let mut app = with_pin("", "(");
    ch(&mut app, 'y');
    assert!(app.take_effects().is_empty());
    assert!(app.status_message().unwrap().contains("cannot export"));
}

#[test]
fn perform_sends_osc52_and_never_overwrites_silently() {
    let mut out = Vec::new();
    let r = perform(
        Effect::Copy {
            name: "t.rs".into(),
            text: "fn t() {}\n".into(),
        },
        &mut out,
    );
    assert_eq!(
        r,
        EffectOutcome::Copied {
            name: "t.rs".into(),
            bytes: 10
        }
    );
    assert_eq!(out, b"\x1b]52;c;Zm4gdCgpIHt9Cg==\x07");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.rs");
    let write = |overwrite, contents: &str| {
        perform(
            Effect::Write {
                path: path.clone(),
                contents: contents.into(),
                overwrite,
            },
            &mut Vec::new(),
        )
    };
    assert_eq!(write(false, "one"), EffectOutcome::Written(path.clone()));
    assert_eq!(write(false, "two"), EffectOutcome::Exists(path.clone()));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "one");
    assert_eq!(write(true, "two"), EffectOutcome::Written(path.clone()));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
}

// --- results off the UI thread ---

#[test]
fn stale_results_are_dropped() {
    let mut app = with_pin("lavd_dispatch", "");
    let gen = app.workbench().generation();
    let corpus = Corpus::from_report(app.report());
    let old = evaluate(&Pin::contains("zzz"), &corpus, 0..10, 10, &Cancel::new()).unwrap();
    let stale = Reply::Evaluated {
        gen: gen - 1,
        window: 0..10,
        evaluation: Arc::new(old),
        took: Duration::ZERO,
    };
    assert!(!app.on_reply(stale), "no redraw for a stale result");
    assert_eq!(
        app.workbench().evaluation().unwrap().satisfied(),
        Some(true),
        "the current result stays"
    );
}

#[test]
fn threaded_worker_results_reach_the_app() {
    let mut app = app();
    let (tx, rx) = mpsc::channel();
    app.set_engine(Engine::spawn(move |r| tx.send(r).is_ok()).unwrap());
    ch(&mut app, 'w');
    ch(&mut app, 'i');
    type_str(&mut app, "lavd_dispatch: dsq");
    assert!(
        app.workbench().pending(),
        "typing does not wait for the search"
    );
    // Replies for every generation arrive; only the last one's sticks.
    while app.workbench().pending() || app.workbench().suggestion().is_none() {
        let reply = rx.recv_timeout(Duration::from_secs(20)).expect("reply");
        app.on_reply(reply);
    }
    let e = app.workbench().evaluation().unwrap();
    assert_eq!(e.satisfied(), Some(true));
    assert!(e.contains.as_ref().unwrap().total >= 2);
}

#[test]
fn event_loop_wakes_on_worker_replies() {
    let mut app = app();
    let (tx, rx) = mpsc::channel::<AppEvent>();
    let worker_tx = tx.clone();
    app.set_engine(Engine::spawn(move |r| worker_tx.send(AppEvent::Worker(r)).is_ok()).unwrap());
    let key = |code| AppEvent::Term(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)));
    for c in "wilavd".chars() {
        tx.send(key(KeyCode::Char(c))).unwrap();
    }
    // Quit right after the loop has handled the last pin's result: events
    // are handled in order, so the frame before `q` shows it.
    let mut tail: VecDeque<AppEvent> = VecDeque::new();
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    scxray_ui::run_with_app_events(&mut terminal, &mut app, || {
        if let Some(ev) = tail.pop_front() {
            return Ok(ev);
        }
        let ev = rx.recv_timeout(Duration::from_secs(20))?;
        if let AppEvent::Worker(Reply::Evaluated { evaluation, .. }) = &ev {
            if evaluation
                .contains
                .as_ref()
                .is_some_and(|o| o.searcher().pattern() == "lavd")
            {
                tail.extend([key(KeyCode::Esc), key(KeyCode::Char('q'))]);
            }
        }
        Ok(ev)
    })
    .unwrap();
    let e = app.workbench().evaluation().expect("evaluated");
    assert_eq!(e.satisfied(), Some(true));
    assert!(terminal.backend().to_string().contains("PASS"));
}

// --- snapshots ---

#[test]
fn snapshot_matching_pin() {
    for (w, h) in [(80, 24), (160, 48)] {
        let mut app = with_pin("dsq_id 0x8000000000000002 not found", "");
        insta::assert_snapshot!(format!("matching_pin_{w}x{h}"), screen(&mut app, w, h));
    }
}

#[test]
fn snapshot_invalid_regex() {
    for (w, h) in [(80, 24), (160, 48)] {
        let mut app = with_pin("", "lavd_dispatch: (dsq_id");
        insta::assert_snapshot!(format!("invalid_regex_{w}x{h}"), screen(&mut app, w, h));
    }
}

#[test]
fn snapshot_no_match_with_prefix_hint() {
    for (w, h) in [(80, 24), (160, 48)] {
        let mut app = with_pin("", r"lavd_dispatch: dsq_id 0x9\d+");
        insta::assert_snapshot!(format!("no_match_hint_{w}x{h}"), screen(&mut app, w, h));
    }
}

#[test]
fn snapshot_editing_and_export() {
    let mut app = app();
    ch(&mut app, 'w');
    ch(&mut app, 'i');
    type_str(&mut app, "lavd_dispatch");
    insta::assert_snapshot!("editing_80x24", screen(&mut app, 80, 24));
    press(&mut app, KeyCode::Esc);
    ch(&mut app, 'e');
    insta::assert_snapshot!("export_80x24", screen(&mut app, 80, 24));
}

#[test]
fn never_panics_at_any_size() {
    for (c, m) in [("", ""), ("lavd", r"\d+"), ("x", "("), ("", "\t^$")] {
        let mut app = with_pin(c, m);
        for (w, h) in [(0, 0), (1, 1), (5, 3), (20, 5), (40, 10), (80, 24), (3, 80)] {
            if w > 0 {
                screen(&mut app, w, h);
            }
            ch(&mut app, 'G');
            ch(&mut app, 'n');
            ch(&mut app, 'N');
            ch(&mut app, 'i');
            type_str(&mut app, "é");
            press(&mut app, KeyCode::Esc);
            if w > 0 {
                screen(&mut app, w, h);
            }
        }
    }
}

#[test]
fn matches_on_screen_are_drawn_in_the_matched_style() {
    let theme = Theme::dark();
    let mut app = App::new(common::sample_report(), "lavd.txt").with_theme(theme.clone());
    app.resize(120, 40);
    ch(&mut app, 'w');
    ch(&mut app, 'i');
    type_str(&mut app, "lavd_dispatch");
    press(&mut app, KeyCode::Esc);
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    terminal
        .draw(|frame| frame.render_widget(&app, frame.area()))
        .unwrap();
    let buf = terminal.backend().buffer();
    let row = (0..40)
        .find(|&y| {
            let line: String = (0..120).map(|x| buf[(x, y)].symbol()).collect();
            line.contains("│12:00:08.014 ERROR EXIT")
        })
        .expect("the EXIT line is on screen");
    let line: String = (0..120).map(|x| buf[(x, row)].symbol()).collect();
    let start = line.find("lavd_dispatch").unwrap();
    // Columns, not bytes: the gutter's `│` is 3 bytes in the string.
    let col = line[..start].chars().count() as u16;
    for x in col..col + "lavd_dispatch".len() as u16 {
        let cell = &buf[(x, row)];
        assert_eq!(cell.bg, theme.matched.bg.unwrap(), "column {x}");
    }
    let before = &buf[(col - 1, row)];
    assert_ne!(before.bg, theme.matched.bg.unwrap());
}

/// Regression (issue 13, bug 1): a live run's workbench pinned against the
/// first, empty report forever, even on the final report the TUI stays on.
#[test]
fn the_workbench_pins_against_the_newest_live_report() {
    use scxray::run::live::{Event as RunEvent, LiveRun, RunMeta};
    use scxray::run::record::{Record, Stream};
    use scxray_ui::live_feed::LiveFrame;

    let mut live = LiveRun::new(RunMeta::default());
    let mut app = App::new(live.report(), "live").with_theme(Theme::plain());
    screen(&mut app, 100, 30);
    // A pin typed before the line exists: no match yet.
    ch(&mut app, 'w');
    ch(&mut app, 'i');
    type_str(&mut app, "late crash text");
    assert_eq!(
        app.workbench().evaluation().unwrap().satisfied(),
        Some(false)
    );
    live.apply(
        RunEvent::Record(Record::SchedLine {
            stream: Stream::Stderr,
            line: "scx_bpf_error late crash text".into(),
        }),
        10,
    );
    app.show_live_frame(LiveFrame::of(&live, 10));
    let view = app.workbench().view();
    assert!(
        view.corpus.as_str().contains("late crash text"),
        "corpus: {:?}",
        view.corpus.as_str()
    );
    assert_eq!(
        app.workbench().evaluation().map(|e| e.satisfied()),
        Some(Some(true)),
        "the pin is evaluated again against the new report"
    );
}
