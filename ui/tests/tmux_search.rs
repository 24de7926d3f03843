//! Search, filter, zoom and tiny sizes in the real binary in tmux: open the
//! bundled crash, search the scheduler log and read "match 1 of N", filter
//! it, zoom, shrink the window to 20x5 and back, quit, and check that the
//! terminal (raw mode, alternate screen, mouse reporting) is restored.

#[path = "../../tests/support/require.rs"]
mod require;
#[path = "common/tmux.rs"]
mod tmux;

use std::thread::sleep;
use std::time::Duration;

use tmux::Tmux;

#[test]
fn search_filter_zoom_resize_quit() {
    let Some(t) = Tmux::open_example(120, 40) else {
        return;
    };
    t.wait_for("scx_bpf_error (1025)");
    assert_eq!(t.display("#{mouse_sgr_flag}"), "1", "mouse reporting is on");

    // The log opens where the crash was found: search from the top.
    t.keys(&["5", "g"]);
    t.wait_for("[5 scheduler log]");

    // Smart case: lower case matches `scxload-rs` and `SCXLOAD` alike.
    t.keys(&["/"]);
    t.type_text("scxload");
    t.keys(&["Enter"]);
    let s = t.wait_for("match 1 of ");
    let n: usize = s
        .split("match 1 of ")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("no count:\n{s}"));
    assert!(n >= 10, "{n} matches:\n{s}");
    t.keys(&["n"]);
    t.wait_for("match 2 of ");
    t.keys(&["N", "N"]);
    t.wait_for(&format!("match {n} of {n} (wrapped around)"));

    // Filter: only lines holding `state`, with their own line numbers.
    t.keys(&["&"]);
    t.type_text("state");
    t.keys(&["Enter"]);
    let s = t.wait_for("filter: state (");
    assert!(s.contains("SCHEDULER_LOADED state=enabled"), "{s}");
    assert!(s.contains("sched_ext state -> disabling"), "{s}");
    assert!(
        !s.contains("object loaded in"),
        "a filtered-out line shows:\n{s}"
    );

    // Zoom: no tab bar, the pane and its filter stay.
    t.keys(&["z"]);
    let s = t.wait_until("zoomed", |s| !s.contains("[5 scheduler log]"));
    assert!(s.contains("filter: state ("), "{s}");
    t.keys(&["z"]);
    t.wait_for("[5 scheduler log]");

    t.resize(20, 5);
    sleep(Duration::from_millis(300));
    let s = t.wait_for("‹5/");
    assert!(!s.contains("EXITED"), "{s}");
    t.resize(120, 40);
    t.wait_for("[5 scheduler log]");
    t.wait_for("filter: state (");

    // `&` and Enter with nothing typed clears the filter.
    t.keys(&["&", "Enter"]);
    t.wait_for("filter cleared");

    // Regex search: Ctrl-R in the prompt.
    t.keys(&["/", "C-r"]);
    t.type_text("enqueue #[0-9]+");
    t.keys(&["Enter"]);
    t.wait_for("match 1 of ");

    // Letter keys by role; j walks the backtrace, Enter opens the source.
    t.keys(&["b"]);
    t.wait_for("[2 Backtrace]");
    t.keys(&["j"]);
    t.wait_for("» bpf_prog_3a0600fe7b4b0a35_apply_cell_config");
    t.keys(&["Enter"]);
    let s = t.wait_for("[7 Source]");
    assert!(s.contains("No source found for apply_cell_config"), "{s}");
    t.keys(&["l"]);
    t.wait_for("[5 scheduler log]");

    t.keys(&["q"]);
    t.assert_restored("scheduler log");
    assert_eq!(
        t.display("#{mouse_sgr_flag}"),
        "0",
        "mouse reporting left on"
    );
}
