//! The `scxray` command line: the binary edge, where errors become messages
//! and exit codes.
//!
//! Exit codes of `report`: 0 = a crash was found, 1 = readable but no crash,
//! 2 = unreadable input or bad usage.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use scxray::parse::{parse_path, ParseError};
use scxray::report::{Report, SectionKind};
use scxray::write;

#[derive(Parser)]
#[command(
    name = "scxray",
    version,
    about = "Investigate crashes of sched_ext (BPF) schedulers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Open a saved report (ktstr output, scheduler log, dump, dmesg, journal, trace) in the TUI.
    Open {
        /// The report file; `-` reads stdin.
        file: PathBuf,
    },
    /// Print a saved report: summary and ktstr layout, one section, or JSON.
    Report {
        /// The report file; `-` reads stdin.
        file: PathBuf,
        /// Print only this section's body (`stats`, `scheduler log`, `sched_ext dump`, ...),
        /// or `crash` for the crash summary alone.
        #[arg(long, value_name = "NAME", conflicts_with_all = ["json", "ktstr"])]
        section: Option<String>,
        /// Print the report as versioned JSON (schema `scxray-report`, see README).
        #[arg(long, conflicts_with = "ktstr")]
        json: bool,
        /// Print only the report in ktstr's text layout (no summary).
        #[arg(long)]
        ktstr: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("scxray: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Open { file } => {
            let report = load(&file)?;
            scxray_ui::run_open(report, &file.display().to_string())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Report {
            file,
            section,
            json,
            ktstr,
        } => {
            let report = load(&file)?;
            let text = if json {
                write::to_json(&report, &file.display().to_string()) + "\n"
            } else if ktstr {
                write::to_ktstr(&report)
            } else if let Some(name) = section {
                section_text(&report, &name)?
            } else {
                format!("{}\n{}", write::summary(&report), write::to_ktstr(&report))
            };
            let mut out = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth a message.
            if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    return Err(e).context("writing to stdout");
                }
            }
            Ok(if report.crash().is_some() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

fn load(file: &std::path::Path) -> anyhow::Result<Report> {
    // The typed error already names the file, the cause and the fix.
    parse_path(file).map_err(|e: ParseError| anyhow::anyhow!(e))
}

/// One section's body by name; names are matched loosely (`scheduler-log`, `dump`).
fn section_text(report: &Report, name: &str) -> anyhow::Result<String> {
    let want = name.trim().to_ascii_lowercase().replace(['-', '_'], " ");
    if want == "crash" || want == "summary" {
        return Ok(write::summary(report));
    }
    let alias = match want.as_str() {
        "dump" | "sched ext dump" => "sched_ext dump",
        "log" | "sched log" => "scheduler log",
        "repro" | "auto repro" => "auto-repro",
        other => other,
    };
    let found = report
        .sections
        .iter()
        .find(|s| s.kind.name().replace(['-', '_'], " ") == alias.replace(['-', '_'], " "));
    match found {
        Some(s) => Ok(format!("{}\n", &*s.body)),
        None => {
            let have: Vec<&str> = report.sections.iter().map(|s| s.kind.name()).collect();
            let known: Vec<&str> = SectionKind::KNOWN.iter().map(SectionKind::name).collect();
            anyhow::bail!(
                "no section `{name}` in this report; it has: {} (known names: {}, crash)",
                if have.is_empty() {
                    "none".to_string()
                } else {
                    have.join(", ")
                },
                known.join(", ")
            )
        }
    }
}
