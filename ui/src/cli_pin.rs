//! `scxray pin check` and `scxray pin suggest`, and the `--clean` corpora
//! they and `scxray open` share. The binary's own module: the logic is
//! `scxray::matcher::{check_pin, suggest_pin}`.
//!
//! Exit codes of `pin check`: 0 = ktstr would accept this failure as the
//! pinned bug, 1 = it would not (or the pin also passes on a clean run),
//! 2 = the pin is invalid, or a file cannot be read.
//! `pin suggest`: 0 = a pin was suggested, 1 = none could be made,
//! 2 = a file cannot be read.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use scxray::cancel::Cancel;
use scxray::matcher::{check_pin, suggest_pin, Corpus, NamedCorpus, Pin};

#[derive(Subcommand)]
pub enum PinCommand {
    /// Would ktstr accept this report's failure as the pinned bug? Prints why.
    /// Exit 0 = yes, 1 = no (or too broad: also passes on a --clean run), 2 = invalid pin.
    Check {
        /// expect_scx_bpf_error_contains: a literal substring.
        #[arg(long, value_name = "S", allow_hyphen_values = true)]
        contains: Option<String>,
        /// expect_scx_bpf_error_matches: a regex (regex crate syntax, ktstr's flags).
        #[arg(long, value_name = "R", allow_hyphen_values = true)]
        matches: Option<String>,
        /// A clean run (report or plain scheduler log) the pin must NOT match; repeatable.
        #[arg(long, value_name = "FILE")]
        clean: Vec<PathBuf>,
        /// The report with the failure; `-` reads stdin.
        report: PathBuf,
    },
    /// Suggest validated pins for the report's crash, with a #[ktstr_test] block.
    Suggest {
        /// The report with the failure; `-` reads stdin.
        report: PathBuf,
        /// A clean run the suggested pin must NOT match; repeatable.
        #[arg(long, value_name = "FILE")]
        clean: Vec<PathBuf>,
    },
}

pub fn run(command: PinCommand) -> anyhow::Result<ExitCode> {
    match command {
        PinCommand::Check {
            contains,
            matches,
            clean,
            report,
        } => {
            let corpus = Corpus::from_report(&crate::load(&report)?);
            let clean = load_clean(&clean)?;
            // Nothing cancels a one-shot check: Ctrl-C ends the process.
            let check = check_pin(&Pin { contains, matches }, &corpus, &clean, &Cancel::new())?;
            print(&check.to_string())?;
            Ok(ExitCode::from(check.exit_code()))
        }
        PinCommand::Suggest { report, clean } => {
            let report = crate::load(&report)?;
            let clean = load_clean(&clean)?;
            match suggest_pin(&report, &clean) {
                Ok(s) => {
                    print(&s.to_string())?;
                    let offered = s.suggestion.contains.is_some() || s.suggestion.matches.is_some();
                    Ok(ExitCode::from(if offered { 0 } else { 1 }))
                }
                Err(e) => {
                    print(&format!("no pin suggested: {e}\n"))?;
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}

/// The corpora of `--clean` files. A ktstr report gives ktstr's corpus
/// (scheduler log + dump); a file with neither section, such as a plain
/// scheduler log, is used whole: that is what the scheduler printed.
pub fn load_clean(paths: &[PathBuf]) -> anyhow::Result<Vec<NamedCorpus>> {
    paths.iter().map(|p| clean_corpus(p)).collect()
}

fn clean_corpus(path: &Path) -> anyhow::Result<NamedCorpus> {
    let report = crate::load(path).with_context(|| format!("--clean {}", path.display()))?;
    let corpus = if report.scheduler_log().is_some() || report.sched_ext_dump().is_some() {
        Corpus::from_report(&report)
    } else {
        let text: String = report
            .sections
            .iter()
            .map(|s| &*s.body)
            .collect::<Vec<_>>()
            .join("\n");
        Corpus::from_raw(text)
    };
    Ok(NamedCorpus::new(path.display().to_string(), corpus))
}

/// Prints a verdict or a suggestion: text for a person, quoting the report
/// (its crash message, corpus lines), so escape sequences and other controls
/// of the input are always shown in a visible form (`^[`, see
/// `scxray::write::visible`), on a terminal or not.
fn print(text: &str) -> anyhow::Result<()> {
    let text = scxray::write::visible(text);
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth a message.
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(()),
    }
}
