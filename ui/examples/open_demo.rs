//! Opens a hand-built scx_lavd crash report in the TUI, for trying keys and
//! layout by hand: `cargo run -p scxray-ui --example open_demo [two|none|big]`.

#[path = "../tests/common/mod.rs"]
mod common;

use scxray::report::{Section, SectionKind, Text};

fn main() -> anyhow::Result<()> {
    let report = match std::env::args().nth(1).as_deref() {
        Some("two") => common::two_crash_report(),
        Some("none") => common::no_crash_report(),
        Some("big") => {
            // A million-line console section, to feel scrolling speed.
            let mut report = common::sample_report();
            let body: String = (0..1_000_000)
                .map(|i| format!("[{:>10.6}] sched_ext: line {i}\n", f64::from(i) / 1000.0))
                .collect();
            report.sections.push(Section {
                kind: SectionKind::Console,
                body: Text::from(body),
            });
            report
        }
        _ => common::sample_report(),
    };
    scxray_ui::run_open(report, "open_demo (hand-built report)")
}
