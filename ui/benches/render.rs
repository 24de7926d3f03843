//! Frame cost with huge sections: a full 200x60 frame over a 1,000,000-line
//! body, and the time to the first frame for a 100 MB body (with the Summary
//! focused, as `run_open` starts, and with the big section focused, which
//! includes building its line index); the matcher workbench's keystroke
//! to frame on 10 MB and 100 MB; and a live run with 32 MB of console and
//! scheduler log: what the live feed thread pays per batch and per frame,
//! and what the UI thread pays to show a frame.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use scxray::report::{Report, Section, SectionKind, Text};
use scxray_ui::theme::Theme;
use scxray_ui::{handle_key, App};

const LINES: usize = 1_000_000;

/// ~100 bytes a line, so a million lines make ~100 MB.
fn big_report() -> Report {
    let mut body = String::with_capacity(LINES * 101);
    for i in 0..LINES {
        body.push_str(&format!(
            "[{:>12.6}] 12:00:{:02}.{:03} INFO scx_lavd: sys_stat: nr_active={} avg_lat_cri={} thr_perf_cri=80 seq={i:>8}\n",
            i as f64 / 1000.0,
            i / 1000 % 60,
            i % 1000,
            i % 7,
            400 + i % 97,
        ));
    }
    let mut report = common::sample_report();
    report.sections.push(Section {
        kind: SectionKind::Console,
        body: Text::from(body),
    });
    report
}

fn draw(terminal: &mut Terminal<TestBackend>, app: &App) {
    terminal
        .draw(|frame| frame.render_widget(app, frame.area()))
        .unwrap();
}

/// Types `text` into the app, then Enter.
fn type_and_enter(app: &mut App, text: &str) {
    for c in text.chars() {
        handle_key(app, KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }
    handle_key(app, KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
}

fn new_app(report: &Report) -> App {
    // Cloning a report shares section bodies; no text is copied.
    let mut app = App::new(report.clone(), "big.txt").with_theme(Theme::dark());
    app.resize(200, 60);
    app
}

fn console_pane(app: &App) -> usize {
    app.pane_titles()
        .iter()
        .position(|t| t == "console")
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let report = big_report();
    eprintln!(
        "console body: {} lines, {} MB",
        LINES,
        report.sections.last().unwrap().body.len() / 1_000_000
    );

    c.bench_function("frame_200x60_1M_lines", |b| {
        let mut app = new_app(&report);
        app.focus_pane(console_pane(&app));
        let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
        // Start mid-file; each iteration scrolls a page so every frame differs.
        for _ in 0..(LINES / 2 / 50) {
            handle_key(
                &mut app,
                KeyEvent::new(KeyCode::PageDown, KeyModifiers::NONE),
            );
        }
        draw(&mut terminal, &app);
        let mut down = true;
        b.iter(|| {
            let key = if down {
                KeyCode::PageDown
            } else {
                KeyCode::PageUp
            };
            down = !down;
            handle_key(&mut app, KeyEvent::new(key, KeyModifiers::NONE));
            draw(&mut terminal, black_box(&app));
        });
    });

    // The same frame with a search on: every visible line is searched and
    // its matches highlighted.
    c.bench_function("frame_200x60_1M_lines_search", |b| {
        let mut app = new_app(&report);
        app.focus_pane(console_pane(&app));
        let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
        type_and_enter(&mut app, "/nr_active");
        let mut down = true;
        b.iter(|| {
            let key = if down {
                KeyCode::PageDown
            } else {
                KeyCode::PageUp
            };
            down = !down;
            handle_key(&mut app, KeyEvent::new(key, KeyModifiers::NONE));
            draw(&mut terminal, black_box(&app));
        });
    });

    // `&` filter over the 1,000,000-line (100 MB) body: the one scan per
    // filter change, matching one line in 7, then the next frame.
    let mut filter = c.benchmark_group("filter_1M_lines");
    filter.sample_size(10);
    filter.bench_function("filter_and_draw", |b| {
        let mut app = new_app(&report);
        app.focus_pane(console_pane(&app));
        let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
        draw(&mut terminal, &app);
        b.iter(|| {
            type_and_enter(&mut app, "&nr_active=3 ");
            draw(&mut terminal, black_box(&app));
        });
    });
    // The same filter as a regex (Ctrl-R in the prompt): one regex scan.
    filter.bench_function("regex_filter_and_draw", |b| {
        let mut app = new_app(&report);
        app.focus_pane(console_pane(&app));
        let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
        draw(&mut terminal, &app);
        b.iter(|| {
            handle_key(
                &mut app,
                KeyEvent::new(KeyCode::Char('&'), KeyModifiers::NONE),
            );
            handle_key(
                &mut app,
                KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL),
            );
            type_and_enter(&mut app, "nr_active=[0-3] ");
            draw(&mut terminal, black_box(&app));
        });
    });
    filter.finish();

    let mut first = c.benchmark_group("first_frame_100MB");
    first
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    first.bench_function("summary_focused", |b| {
        b.iter_batched(
            || Terminal::new(TestBackend::new(200, 60)).unwrap(),
            |mut terminal| {
                let app = new_app(&report);
                draw(&mut terminal, &app);
                app
            },
            BatchSize::PerIteration,
        );
    });
    first.bench_function("console_focused", |b| {
        b.iter_batched(
            || Terminal::new(TestBackend::new(200, 60)).unwrap(),
            |mut terminal| {
                let mut app = new_app(&report);
                app.focus_pane(console_pane(&app));
                draw(&mut terminal, &app);
                app
            },
            BatchSize::PerIteration,
        );
    });
    // What `scxray open FILE` does before the first frame: map and parse
    // the file, build the app, draw.
    let dir = std::env::temp_dir().join(format!("scxray-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("big.log");
    let mut text = report.sections.last().unwrap().body.to_string();
    text.push_str("[ 9999.000001] sched_ext: BPF scheduler \"lavd\" disabled (scx_bpf_error)\n[ 9999.000002] sched_ext: lavd: boom\n");
    std::fs::write(&file, text).unwrap();
    first.bench_function("open_file_parse_and_draw", |b| {
        b.iter_batched(
            || Terminal::new(TestBackend::new(200, 60)).unwrap(),
            |mut terminal| {
                let report = scxray::parse::parse_path(&file).unwrap();
                assert!(report.crash().is_some());
                let app = new_app(&report);
                draw(&mut terminal, &app);
                app
            },
            BatchSize::PerIteration,
        );
    });
    first.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The matcher workbench: one keystroke (type or delete a character in a
/// field), evaluated inline (the same code the worker thread runs), then one
/// frame, on a 10 MB and a 100 MB scheduler log. Goal: ≤ 16 ms and ≤ 100 ms.
fn bench_workbench(c: &mut Criterion) {
    let console = big_report().sections.pop().unwrap().body;
    let mut group = c.benchmark_group("workbench_keystroke");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    let key = |code| KeyEvent::new(code, KeyModifiers::NONE);
    for mb in [10usize, 100] {
        let cut = console[..(mb * 1_000_000).min(console.len())]
            .rfind('\n')
            .unwrap()
            + 1;
        let mut log = console[..cut].to_string();
        log.push_str(&format!(
            "12:00:59.999 ERROR EXIT: scx_bpf_error ({})\n",
            common::MESSAGE
        ));
        let mut report = common::sample_report();
        for s in &mut report.sections {
            if s.kind == SectionKind::SchedulerLog {
                s.body = Text::from(log.clone());
            }
        }
        let mut app = App::new(report, "big.txt").with_theme(Theme::dark());
        app.resize(200, 60);
        let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
        // Opening the workbench copies the corpus, indexes its lines and
        // suggests a pin: once per report.
        let t = std::time::Instant::now();
        handle_key(&mut app, key(KeyCode::Char('w')));
        draw(&mut terminal, &app);
        eprintln!("workbench first open, {mb} MB: {:?}", t.elapsed());
        handle_key(&mut app, key(KeyCode::Char('i')));
        // (name, in the regex field, pattern, the character toggled at its
        // end). `regex_every_line` is the stress case: with the character
        // deleted it matches all of the log's lines, and every match is
        // counted.
        for (name, to_matches, pattern, last) in [
            (
                "literal_rare",
                false,
                "dsq_id 0x8000000000000002 not foun",
                'd',
            ),
            (
                "regex_rare",
                true,
                r"dsq_id 0x[0-9a-f]+ not found on CPU \d",
                '+',
            ),
            (
                "regex_every_line",
                true,
                r"nr_active=\d+ avg_lat_cri=4",
                '0',
            ),
        ] {
            if to_matches {
                // Clear the field in use, then move to (or stay in) matches.
                handle_key(
                    &mut app,
                    KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL),
                );
                if app.workbench().focus() == scxray::matcher::Field::Contains {
                    handle_key(&mut app, key(KeyCode::Tab));
                }
            }
            for ch in pattern.chars() {
                handle_key(&mut app, key(KeyCode::Char(ch)));
            }
            let t = std::time::Instant::now();
            handle_key(&mut app, key(KeyCode::Char(last)));
            draw(&mut terminal, &app);
            eprintln!(
                "{name}, {mb} MB: one keystroke to frame {:?} (evaluate {:?})",
                t.elapsed(),
                app.workbench().last_took().unwrap_or_default()
            );
            assert_eq!(
                app.workbench().evaluation().and_then(|e| e.satisfied()),
                Some(true)
            );
            // Alternate deleting and retyping the last character: every
            // iteration is a new pin that matches.
            let mut add = false;
            group.bench_function(format!("{name}_{mb}MB"), |b| {
                b.iter(|| {
                    let k = if add {
                        key(KeyCode::Char(last))
                    } else {
                        key(KeyCode::Backspace)
                    };
                    add = !add;
                    handle_key(&mut app, k);
                    draw(&mut terminal, black_box(&app));
                });
            });
        }
    }
    group.finish();
}

/// A run that already holds `mb` MB of console and scheduler log.
fn flooded_run(mb: usize) -> scxray::run::live::LiveRun {
    use scxray::run::live::{Event, LiveRun, RunMeta};
    use scxray::run::record::{Record, Stream};
    let mut live = LiveRun::new(RunMeta {
        test_name: "flood".into(),
        ..RunMeta::default()
    });
    let line = "[  12.345678] scx_lavd: sys_stat: nr_active=3 avg_lat_cri=400 thr_perf_cri=80";
    let lines = mb * (1 << 20) / 2 / (line.len() + 1);
    for i in 0..lines {
        live.apply(Event::Console(line.to_string()), i as u64);
        live.apply(
            Event::Record(Record::SchedLine {
                stream: Stream::Stdout,
                line: line.to_string(),
            }),
            i as u64,
        );
    }
    live
}

/// The console searched: a pane whose section only grows.
fn search_console(app: &mut App) {
    app.resize(200, 60);
    handle_key(app, KeyEvent::new(KeyCode::Char('o'), KeyModifiers::NONE));
    handle_key(app, KeyEvent::new(KeyCode::Char('/'), KeyModifiers::NONE));
    type_and_enter(app, "lavd");
}

/// 100 console lines, as one batch of the event loop folds them.
fn batch(at: u64) -> impl Iterator<Item = (scxray::run::live::Event, u64)> {
    (0..100).map(move |i| {
        (
            scxray::run::live::Event::Console(format!("new line {i}")),
            at + i,
        )
    })
}

fn bench_live(c: &mut Criterion) {
    use scxray_ui::live_feed::LiveFrame;
    let mut group = c.benchmark_group("live_rebuild_32MB");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    let mut terminal = Terminal::new(TestBackend::new(200, 60)).unwrap();
    let mut live = flooded_run(32);
    let mut at = 1 << 30;
    // The feed thread, while streaming: a batch folded, no frame due.
    group.bench_function("feed_fold_batch", |b| {
        b.iter(|| {
            at += 100;
            for (event, t) in batch(at) {
                live.apply(event, t);
            }
        })
    });
    // The feed thread, once per interval: the report written and parsed.
    group.bench_function("feed_build_frame", |b| {
        b.iter(|| black_box(LiveFrame::of(&live, at)))
    });
    // The UI thread, once per interval: the frame shown (panes kept and
    // grown, the console's search extended) and drawn. Between frames the
    // UI does no live work at all.
    let mut app = App::new(live.report(), "live").with_theme(Theme::dark());
    search_console(&mut app);
    group.bench_function("ui_show_frame", |b| {
        b.iter_batched(
            || {
                at += 100;
                for (event, t) in batch(at) {
                    live.apply(event, t);
                }
                LiveFrame::of(&live, at)
            },
            |frame| {
                app.show_live_frame(frame);
                draw(&mut terminal, &app);
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench, bench_workbench, bench_live);
criterion_main!(benches);
