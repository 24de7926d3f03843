//! The Summary pane: a live run speaks of the run, not of "this input" and
//! "parser notes", until it ends; a loader's error chain is listed.

mod common;

use common::screen;
use scxray::run::live::{Event, GuestEnd, LiveRun, RunMeta, Stage};
use scxray::run::record::Record;
use scxray_ui::live_feed::LiveFrame;
use scxray_ui::App;

#[test]
fn a_running_live_report_says_no_crash_so_far() {
    let mut live = LiveRun::new(RunMeta {
        test_name: "demo".into(),
        ..RunMeta::default()
    });
    live.apply(Event::Stage(Stage::Booting), 0);
    let mut app = App::new(live.report(), "live");
    app.show_live_frame(LiveFrame::of(&live, 1500));
    let s = screen(&mut app, 120, 30);
    assert!(s.contains("no sched_ext crash so far"), "{s}");
    assert!(s.contains("demo · booting · 1.5s"), "{s}");
    for stale in ["this input", "parser notes"] {
        assert!(!s.contains(stale), "{stale}:\n{s}");
    }
    // Ended without a crash: the usual words again.
    live.apply(
        Event::Record(Record::Done {
            passed: true,
            uptime_ms: 8000,
        }),
        8900,
    );
    live.apply(Event::End(GuestEnd::PoweredOff), 9000);
    app.show_live_frame(LiveFrame::of(&live, 9000));
    let s = screen(&mut app, 120, 30);
    assert!(s.contains("no crash found"), "{s}");
}

#[test]
fn a_loaders_error_chain_is_listed() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/variants/bail-rust-anyhow-load-enotsupp.txt");
    let report = scxray::parse::parse_path(&path).unwrap();
    let causes = report.crash().expect("a crash").causes.clone();
    assert!(!causes.is_empty());
    let mut app = App::new(report, "bail");
    let s = screen(&mut app, 140, 50);
    assert!(s.contains("Caused by"), "{s}");
    assert!(s.contains(causes[0].as_str()), "{}:\n{s}", causes[0]);
}
