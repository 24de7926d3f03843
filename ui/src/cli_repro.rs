//! `scxray repro REPORT`: auto-repro for a saved run. The run's description
//! (`REPORT.run.json`, written by `scxray run`/`scxray demo`) says how to
//! boot it again; the crash chain comes from the report. The result is the
//! report with a fresh `--- auto-repro ---` section, saved as a new report.
//!
//! Exit codes: 0 = every repro run crashed again, 1 = some did not,
//! 2 = it could not run, 130 = cancelled.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use scxray::report::{Report, Section, SectionKind, Text};
use scxray::run::live::{Event, LiveRun};
use scxray_ui::live_run::{self, ReproOptions, SavedRun};

/// `scxray repro`.
#[derive(Args, Debug, Clone)]
pub struct ReproArgs {
    /// A report saved by `scxray run` or `scxray demo` (its REPORT.run.json
    /// next to it says how the run was made).
    pub report: PathBuf,
    /// Repro runs (each a fresh VM); the section says how many crashed again
    /// with the same signature.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub repro_runs: u32,
    /// Another kernel image than the run's.
    #[arg(long, value_name = "PATH")]
    pub kernel: Option<PathBuf>,
    /// Print the report on stdout instead of opening the TUI.
    #[arg(long)]
    pub headless: bool,
    /// Colour theme for the TUI.
    #[arg(long, value_name = "NAME", default_value = "dark")]
    pub theme: String,
    /// A source directory for the Source pane. Repeatable.
    #[arg(long, value_name = "DIR")]
    pub source: Vec<PathBuf>,
}

pub fn repro(a: ReproArgs) -> anyhow::Result<ExitCode> {
    let theme = scxray_ui::theme::Theme::by_name_from_env(&a.theme)?;
    let report = scxray::parse::parse_path(&a.report)
        .with_context(|| format!("cannot read {}", a.report.display()))?;
    let crash = report
        .crash()
        .cloned()
        .filter(|_| scxray::repro::plan(&report).is_some());
    let Some(crash) = crash else {
        anyhow::bail!(
            "{}: no sched_ext crash to reproduce (the run passed, or its scheduler exited cleanly)",
            a.report.display()
        );
    };
    let side = SavedRun::path_for(&a.report);
    let saved: SavedRun = match std::fs::read(&side) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a run description", side.display()))?,
        Err(e) => anyhow::bail!(
            "cannot repeat this run: {} ({e}); scxray writes it next to every report of `scxray run` and `scxray demo` (a ktstr report does not say how to boot its run)",
            side.display()
        ),
    };
    let repro = ReproOptions {
        enabled: true,
        runs: a.repro_runs,
    };
    let mut req = saved.request(repro);
    if a.kernel.is_some() {
        req.kernel = a.kernel.clone();
    }
    let (plan, meta) = live_run::plan(&req, &mut |line| eprintln!("scxray: {line}"))?;
    if meta.kernel != saved.kernel_release && !saved.kernel_release.is_empty() {
        eprintln!(
            "scxray: warning: the run was on kernel {}, this repro boots {}",
            saved.kernel_release, meta.kernel
        );
    }
    let cancel = scxray_vmm::cancel::on_interrupt().context("cannot install the Ctrl-C handler")?;
    let backend = live_run::backend(plan.backend, "the run's choice", &plan.kernel_image)?.backend;
    let mut live = LiveRun::reproducing(meta.clone(), crash.clone());
    let chain = scxray::repro::Chain::from_crash(&crash);
    let mut last = String::new();
    live_run::repro_runs(
        &plan,
        &chain,
        1,
        a.repro_runs,
        &backend,
        &cancel,
        &mut |ev: Event, at| {
            live.apply(ev, at);
            let label = live.stage.label();
            if label != last {
                eprintln!("scxray: [{:>6.2}s] {label}", at as f64 / 1000.0);
                last = label;
            }
        },
    );
    let Some((body, raw)) = live.auto_repro_sections() else {
        anyhow::bail!("the repro run did not start");
    };
    let combined = with_auto_repro(report, body, raw, live.repro_failure_dump());
    let path = live_run::save_report(&combined, &meta, &live_run::report_dir(), Some(&saved))?;
    let reproduced = live.repros().iter().filter(|r| r.crashed()).count();
    let code = if cancel.is_cancelled() {
        ExitCode::from(130)
    } else if reproduced == live.repros().len() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    };
    if a.headless {
        // Exact into a file or a pipe, visible on a terminal (as `report --ktstr`).
        let mut out = crate::ktstr_stdout();
        let written = scxray::write::write_ktstr(&combined, &mut out)
            .and_then(|()| std::io::Write::flush(&mut out));
        if let Err(e) = written {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                return Err(anyhow::Error::new(e).context("cannot write the report to stdout"));
            }
        }
    } else if !cancel.is_cancelled() {
        let options = scxray_ui::OpenOptions {
            clean: Vec::new(),
            theme: Some(theme),
            keymap: Some(scxray_ui::keymap::Keymap::load_user()?),
            source_roots: a.source.clone(),
        };
        scxray_ui::run_open_with(combined, &path.display().to_string(), options)?;
    }
    eprintln!(
        "scxray: reproduced {reproduced}/{}; report written to {}",
        live.repros().len(),
        path.display()
    );
    Ok(code)
}

/// `report` with its auto-repro sections replaced by `body`, `raw` and the
/// repro VM's failure dump, after the sched_ext dump (ktstr's place),
/// through the text layout so the model is the one a saved copy gives.
fn with_auto_repro(mut report: Report, body: String, raw: String, dump: Option<String>) -> Report {
    report.sections.retain(|s| {
        !matches!(
            s.kind,
            SectionKind::AutoRepro | SectionKind::ReproProbeEvents | SectionKind::ReproFailureDump
        )
    });
    let at = report
        .sections
        .iter()
        .position(|s| {
            matches!(
                s.kind,
                SectionKind::Console | SectionKind::Dmesg | SectionKind::ProbeEvents
            )
        })
        .unwrap_or(report.sections.len());
    let mut new = vec![Section {
        kind: SectionKind::AutoRepro,
        body: Text::from(body),
    }];
    if !raw.is_empty() {
        new.push(Section {
            kind: SectionKind::ReproProbeEvents,
            body: Text::from(raw),
        });
    }
    if let Some(dump) = dump {
        new.push(Section {
            kind: SectionKind::ReproFailureDump,
            body: Text::from(dump),
        });
    }
    report.sections.splice(at..at, new);
    scxray::parse::parse_text(Text::from(scxray::write::to_ktstr(&report)))
}
