//! The timeline pane on ktstr fixtures, and the themes: full screens at
//! 80x24 and 160x48, one styled screen per theme (plain snapshots carry no
//! colour, so those list each cell's style), the cycle key, and sizes down to
//! nothing.

mod common;

use common::{render, screen};
use std::collections::HashMap;
use std::path::Path;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier, Style};
use scxray::report::Report;
use scxray_ui::theme::Theme;
use scxray_ui::{handle_key, App};

const MONITOR_FAILED: &str = "ktstr-bpfland-monitor-failed.txt";
const STALL: &str = "ktstr-cosmos-timed-out-stall.txt";

fn fixture(name: &str) -> Report {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/variants")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    scxray::parse::parse_str(&text)
}

/// The app on `name` with the timeline pane focused.
fn app(name: &str, theme: Theme) -> App {
    let mut app = App::new(fixture(name), name).with_theme(theme);
    let at = app
        .pane_titles()
        .iter()
        .position(|t| t == "Timeline")
        .expect("a Timeline pane");
    app.focus_pane(at);
    app
}

/// The text, then the same grid with one letter per distinct style (`.` for
/// none), then what each letter is.
fn styled(buf: &Buffer) -> String {
    let area = buf.area;
    let mut ids: Vec<Style> = Vec::new();
    let mut text = String::new();
    let mut grid = String::new();
    for y in area.top()..area.bottom() {
        for x in area.left()..area.right() {
            let cell = &buf[(x, y)];
            text.push_str(cell.symbol());
            let style = Style::new()
                .fg(cell.fg)
                .bg(cell.bg)
                .add_modifier(cell.modifier);
            if style == Style::new().fg(Color::Reset).bg(Color::Reset) {
                grid.push('.');
                continue;
            }
            let id = ids.iter().position(|s| *s == style).unwrap_or_else(|| {
                ids.push(style);
                ids.len() - 1
            });
            grid.push(char::from(
                b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[id % 52],
            ));
        }
        text.push('\n');
        grid.push('\n');
    }
    let mut legend = String::new();
    for (i, s) in ids.iter().enumerate() {
        let id = char::from(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[i % 52]);
        let mods = if s.add_modifier == Modifier::empty() {
            String::new()
        } else {
            format!(" {:?}", s.add_modifier)
        };
        legend.push_str(&format!(
            "{id}: fg={:?} bg={:?}{mods}\n",
            s.fg.unwrap_or(Color::Reset),
            s.bg.unwrap_or(Color::Reset)
        ));
    }
    format!("{text}\n{grid}\n{legend}")
}

#[test]
fn timeline_80x24() {
    let s = screen(&mut app(MONITOR_FAILED, Theme::plain()), 80, 24);
    assert!(s.contains("Phase 1"), "{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn timeline_160x48() {
    let s = screen(&mut app(MONITOR_FAILED, Theme::plain()), 160, 48);
    // Wide: the monitor sits beside the phases.
    assert!(
        s.lines().any(|l| l.contains("BASELINE") && l.contains('│')),
        "{s}"
    );
    assert!(s.contains("DEGRADATION imbalance +2.1"), "{s}");
    assert!(s.contains("monitor FAILED: 2 violation(s)"), "{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn timeline_with_a_crash_160x48() {
    let s = screen(&mut app(STALL, Theme::plain()), 160, 48);
    assert!(s.contains("crash ↑ stall (1026)"), "{s}");
    assert!(s.contains("stalls: 301"), "{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn one_styled_screen_per_theme() {
    let mut seen = HashMap::new();
    for name in Theme::names_in(None) {
        let theme = Theme::load(None, &name).unwrap();
        let terminal = render(&mut app(MONITOR_FAILED, theme), 80, 24);
        let s = styled(terminal.backend().buffer());
        insta::assert_snapshot!(format!("theme_{name}_80x24"), s);
        // The legend differs per theme: a theme change shows in the snapshot.
        let legend = s.rsplit("\n\n").next().unwrap().to_string();
        assert!(
            seen.insert(legend, name.clone()).is_none(),
            "{name} looks like another theme"
        );
    }
}

#[test]
fn warning_style_marks_degraded_phases() {
    let theme = Theme::load(None, "dark").unwrap();
    let warning = theme.warning;
    let mut app = app(MONITOR_FAILED, theme);
    let terminal = render(&mut app, 160, 48);
    let buf = terminal.backend().buffer();
    let row = (0..48)
        .find(|&y| {
            (0..160)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
                .contains("DEGRADATION imbalance")
        })
        .expect("a DEGRADATION line");
    let x = (0..160).find(|&x| buf[(x, row)].symbol() == "D").unwrap();
    assert_eq!(buf[(x, row)].fg, warning.fg.unwrap());
}

#[test]
fn cycle_key_switches_theme_and_says_so() {
    let dark = Theme::load(None, "dark").unwrap();
    let mut app = app(MONITOR_FAILED, dark.clone());
    let before = render(&mut app, 80, 24).backend().buffer()[(0, 0)].bg;
    handle_key(
        &mut app,
        KeyEvent::new(KeyCode::Char('T'), KeyModifiers::SHIFT),
    );
    let terminal = render(&mut app, 80, 24);
    let after = terminal.backend().buffer()[(0, 0)].bg;
    assert_ne!(before, after, "the title bar changed colour");
    assert!(terminal.backend().to_string().contains("theme: light"));
}

#[test]
fn pane_is_listed_only_with_a_timeline_or_monitor() {
    let titles = App::new(fixture("dump-rusty-crlf.txt"), "x").pane_titles();
    assert!(!titles.iter().any(|t| t == "Timeline"), "{titles:?}");
    // Monitor only (no timeline): listed.
    let titles = App::new(fixture("ktstr-p2dq-inconclusive-libtest.txt"), "x").pane_titles();
    assert!(titles.iter().any(|t| t == "Timeline"), "{titles:?}");
}

#[test]
fn tabs_have_distinct_names() {
    // A live run's report: the Timeline and Auto-repro panes beside the text
    // of their sections, both monitor sections, and the dmesg it writes.
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/reports/demo-autorepro-7.3.txt");
    let report = scxray::parse::parse_str(&std::fs::read_to_string(path).unwrap());
    let titles = App::new(report, "x").pane_titles();
    assert_eq!(
        titles,
        [
            "Summary",
            "Backtrace",
            "CPU states",
            "Timeline",
            "monitor now",
            "Auto-repro",
            "stats",
            "diagnostics",
            "timeline text",
            "scheduler log",
            "monitor summary",
            "raw samples",
            "sched_ext dump",
            "auto-repro text",
            "repro probe events",
            "console",
            "dmesg",
            "Source",
            "Workbench",
        ]
    );
    let mut lower: Vec<String> = titles.iter().map(|t| t.to_lowercase()).collect();
    lower.sort();
    lower.dedup();
    assert_eq!(lower.len(), titles.len(), "{titles:?}");
}

#[test]
fn never_panics_at_any_size() {
    let files = [
        MONITOR_FAILED,
        STALL,
        "ktstr-eevdf-libtest-no-sched.txt",
        "ktstr-lavd-ansi-bug-summary-newer.txt",
        "ktstr-layered-guest-crashed.txt",
        "ktstr-p2dq-inconclusive-libtest.txt",
        "ktstr-rusty-nextest-autorepro.txt",
    ];
    let sizes = [
        (0, 0),
        (1, 1),
        (2, 2),
        (20, 5),
        (5, 20),
        (12, 7),
        (40, 10),
        (80, 24),
        (99, 30),
        (100, 30),
        (160, 48),
        (250, 80),
        (3000, 4),
    ];
    for file in files {
        for theme in [Theme::plain(), Theme::load(None, "high-contrast").unwrap()] {
            let mut app = app(file, theme);
            for &(w, h) in &sizes {
                screen(&mut app, w, h);
                handle_key(
                    &mut app,
                    KeyEvent::new(KeyCode::Char('G'), KeyModifiers::NONE),
                );
                screen(&mut app, w, h);
                handle_key(
                    &mut app,
                    KeyEvent::new(KeyCode::Char('g'), KeyModifiers::NONE),
                );
            }
        }
    }
}

/// `r` reaches the structured auto-repro pane of a ktstr report: the
/// verdict-free nextest report still shows the pipeline, the call chain with
/// locations and decoded fields, and counts the tails.
#[test]
fn auto_repro_pane_shows_the_pipeline_and_the_call_chain() {
    let name = "ktstr-rusty-nextest-autorepro.txt";
    let mut app = App::new(fixture(name), name).with_theme(Theme::plain());
    handle_key(
        &mut app,
        KeyEvent::new(KeyCode::Char('r'), KeyModifiers::NONE),
    );
    assert_eq!(app.pane_titles()[app.focused()], "Auto-repro");
    let s = screen(&mut app, 120, 48);
    for want in [
        "Probe pipeline",
        "trigger",
        "fired (tp_btf)",
        "Call chain (scx_exit fired)",
        "rusty_enqueue  bpf  main.bpf.c:1207",
        "do_enqueue_task  kernel  kernel/sched/ext.c:2068",
        "task_struct *p",
        "SCX_DSQ_INVALID",
        "repro VM duration: 18.4s",
    ] {
        assert!(s.contains(want), "{want}:\n{s}");
    }
    // The section's text is still there, one Tab away.
    assert!(app.pane_titles().iter().any(|t| t == "auto-repro text"));
}

/// j/k select a function of the call chain and Enter shows its source at the
/// `file:line` the probe printed, found by path suffix under `--source`.
#[test]
fn auto_repro_function_opens_its_source_at_the_printed_line() {
    let dir = tempfile::tempdir().unwrap();
    let bpf = dir.path().join("scx_rusty/src/bpf");
    std::fs::create_dir_all(&bpf).unwrap();
    let mut src: Vec<String> = (1..1207).map(|i| format!("/* line {i} */")).collect();
    src.extend([
        "void BPF_STRUCT_OPS(rusty_enqueue, struct task_struct *p, u64 enq_flags)".to_string(),
        "{".to_string(),
        "\tscx_bpf_error(\"task_ctx lookup failed for pid %d\", p->pid);".to_string(),
        "}".to_string(),
    ]);
    std::fs::write(bpf.join("main.bpf.c"), src.join("\n")).unwrap();
    let name = "ktstr-rusty-nextest-autorepro.txt";
    let mut app = App::new(fixture(name), name)
        .with_theme(Theme::plain())
        .with_source_roots(vec![dir.path().to_path_buf()]);
    let key = |app: &mut App, c| handle_key(app, KeyEvent::new(c, KeyModifiers::NONE));
    key(&mut app, KeyCode::Char('r'));
    key(&mut app, KeyCode::Char('j'));
    let s = screen(&mut app, 120, 40);
    assert!(s.contains("» rusty_enqueue"), "{s}");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.pane_titles()[app.focused()], "Source");
    let s = screen(&mut app, 120, 40).replace(&dir.path().display().to_string(), "<src>");
    assert!(
        s.contains("<src>/scx_rusty/src/bpf/main.bpf.c:1207 · rusty_enqueue at the location the probe printed"),
        "{s}"
    );
    assert!(
        s.contains(" 1207 ▶ void BPF_STRUCT_OPS(rusty_enqueue"),
        "{s}"
    );
    // The kernel function's file is not under --source: it says so.
    key(&mut app, KeyCode::Char('r'));
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Enter);
    let s = screen(&mut app, 120, 40);
    assert!(
        s.contains("No source found for kernel/sched/ext.c:2068"),
        "{s}"
    );
}

/// The live monitor pane: the newest samples per CPU, a CPU stuck now, the
/// verdict, and counter, program and schedstat rates over the last second.
#[test]
fn monitor_now_shows_rates_and_stuck_cpus() {
    use scxray::host_monitor::bpf::{BpfProgs, ProgSample};
    use scxray::host_monitor::events::{Events, Shared};
    use scxray::host_monitor::sample::{CpuSample, Sample, Schedstat, Schedstats};
    use scxray::host_monitor::samples_text::write_samples;

    let names: Shared<[String]> = Shared(
        ["SCX_EV_SELECT_CPU_FALLBACK", "SCX_EV_DISPATCH_KEEP_LAST"]
            .map(String::from)
            .to_vec()
            .into(),
    );
    let samples: Vec<Sample> = (0..30u64)
        .map(|i| Sample {
            at_ms: 1000 + i * 100,
            cpus: vec![
                CpuSample {
                    nr_running: 2,
                    scx_nr_running: 2,
                    local_dsq: 1,
                    clock: 5_000 + i * 100_000,
                },
                // CPU 1's clock stops at the last sample while it has work.
                CpuSample {
                    nr_running: 3,
                    scx_nr_running: 3,
                    local_dsq: 0,
                    clock: 7_000 + i.min(28) * 100_000,
                },
            ],
            events: Some(Events::Read {
                names: names.clone(),
                values: vec![0, i as i64 * 5],
            }),
            schedstat: Some(Schedstats::Read(Schedstat {
                sched_count: i * 20,
                ttwu_count: i * 10,
                run_delay: i * 1_000_000,
                ..Schedstat::default()
            })),
            bpf: Some(BpfProgs::Read(vec![ProgSample {
                id: 7,
                name: "demo_enqueue".into(),
                cnt: i * 100,
                nsecs: i * 300_000,
            }])),
            vcpu_wait_ns: None,
            runnable_wait: None,
        })
        .collect();
    let text = format!(
        "ktstr_test 'demo' [sched=scx-demo] in progress: running phase 1/1 (spin)\n\n\
         --- monitor samples ---\n{}",
        write_samples(&samples)
    );
    let mut app = App::new(scxray::parse::parse_str(&text), "live");
    let tab = app
        .pane_titles()
        .iter()
        .position(|t| t == "monitor now")
        .expect("a monitor now tab");
    for _ in 0..tab {
        handle_key(&mut app, KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE));
    }
    let s = screen(&mut app, 120, 48);
    insta::assert_snapshot!("monitor_now_120x48", s);
    for want in [
        "verdict so far: ",
        "stuck now: CPU 1",
        "keep_last",
        "50.0/s",
        "demo_enqueue",
        "1000 calls/s",
        "3000 ns/call",
        "csw 200/s",
    ] {
        assert!(s.contains(want), "{want:?} missing:\n{s}");
    }
}
