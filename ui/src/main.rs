//! The `scxray` command line: the binary edge, where errors become messages
//! and exit codes.
//!
//! Exit codes of `report`: 0 = a crash was found, 1 = readable but no crash,
//! 2 = unreadable input or bad usage. `pin`: see `cli_pin.rs`; `demo` and
//! `run`: see `cli_run.rs`.

mod cli_pin;
mod cli_repro;
mod cli_run;

use std::borrow::Cow;
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
        /// A clean run for the workbench's negative control: a pin that also
        /// matches it is flagged as too broad. Repeatable.
        #[arg(long, value_name = "FILE")]
        clean: Vec<PathBuf>,
        /// Colour theme: dark, light, high-contrast, or one of yours in
        /// ~/.config/scxray/themes/NAME.toml. `T` cycles; NO_COLOR turns colour off.
        #[arg(long, value_name = "NAME", default_value = "dark")]
        theme: String,
        /// A source directory (the scheduler's, a kernel tree): clicking a
        /// backtrace frame shows its function's definition, found by name. Repeatable.
        #[arg(long, value_name = "DIR")]
        source: Vec<PathBuf>,
    },
    /// Check or suggest an expect_scx_bpf_error_contains/_matches pin, as ktstr evaluates it.
    Pin {
        #[command(subcommand)]
        command: cli_pin::PinCommand,
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
    /// Boot a sched_ext kernel in a VM, crash the bundled demo scheduler, show it live.
    #[command(after_help = cli_run::EXIT_CODES)]
    Demo(cli_run::DemoArgs),
    /// Run your scheduler in a test VM under a workload and show it live.
    #[command(after_help = cli_run::EXIT_CODES)]
    Run(cli_run::RunArgs),
    /// Rerun a saved run's crash in a fresh VM with probes on its crash chain
    /// (auto-repro for a report of `scxray run`/`scxray demo`).
    Repro(cli_repro::ReproArgs),
    /// Guest kernels: fetch Debian's sched_ext kernel, list the cached ones.
    Kernel {
        #[command(subcommand)]
        command: KernelCommand,
    },
}

#[derive(Subcommand)]
enum KernelCommand {
    /// Download Debian trixie-backports' cloud kernel (sched_ext, BTF, kprobes) into
    /// scxray's cache, with its vmlinux and BTF; prints the cached directory
    /// (with --debug-info, the debug vmlinux).
    Fetch {
        /// A version instead of the newest: `7.3.4+deb13`, or a prefix such as `7.3`.
        #[arg(long, value_name = "V")]
        version: Option<String>,
        /// Fetch again even when that release is cached (with --debug-info:
        /// only the debug info).
        #[arg(long)]
        force: bool,
        /// Also get the kernel's vmlinux with DWARF (source lines of kernel
        /// functions) from linux-image-<release>-dbg: a 350 MB download, 400 MB
        /// kept as vmlinux.debug in the cache entry.
        #[arg(long)]
        debug_info: bool,
    },
    /// List the cached kernels and whether each has sched_ext, BTF, kprobes
    /// and debug info.
    List,
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
        Command::Open {
            file,
            clean,
            theme,
            source,
        } => {
            // Before the report: a typo in a setting fails at once.
            let theme = scxray_ui::theme::Theme::by_name_from_env(&theme)?;
            let keymap = scxray_ui::keymap::Keymap::load_user()?;
            let report = load(&file)?;
            let options = scxray_ui::OpenOptions {
                clean: cli_pin::load_clean(&clean)?,
                theme: Some(theme),
                keymap: Some(keymap),
                source_roots: source,
            };
            scxray_ui::run_open_with(report, &file.display().to_string(), options)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Pin { command } => cli_pin::run(command),
        Command::Report {
            file,
            section,
            json,
            ktstr,
        } => {
            let report = load(&file)?;
            // Before any output: an unknown section name is a usage error.
            let section = section
                .map(|name| section_text(&report, &name))
                .transpose()?;
            // Streamed, not built into one String first: the bodies are slices
            // of the mapped input, and a copy would double a big log's footprint.
            let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
            let written = if json {
                write::write_json(&report, &file.display().to_string(), &mut out)
                    .and_then(|()| out.write_all(b"\n"))
            } else if ktstr {
                write::write_ktstr(&report, &mut out)
            } else if let Some(text) = section {
                out.write_all(text.as_bytes())
                    .and_then(|()| out.write_all(b"\n"))
            } else {
                out.write_all(write::summary(&report).as_bytes())
                    .and_then(|()| out.write_all(b"\n"))
                    .and_then(|()| write::write_ktstr(&report, &mut out))
            };
            // A closed pipe (`| head`) is not an error worth a message.
            if let Err(e) = written.and_then(|()| out.flush()) {
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
        Command::Kernel { command } => kernel_command(command),
        Command::Demo(a) => cli_run::demo(a),
        Command::Run(a) => cli_run::run(a),
        Command::Repro(a) => cli_repro::repro(a),
    }
}

/// `scxray kernel ...`: progress on stderr, the answer on stdout.
fn kernel_command(command: KernelCommand) -> anyhow::Result<ExitCode> {
    use scxray_vmm::kernel::{cache, fetch};
    let kernels = scxray_vmm::kernel::KernelCache::from_env()?;
    match command {
        KernelCommand::Fetch {
            version,
            force,
            debug_info,
        } => {
            // Ctrl-C stops apt/dpkg and removes the work directory; a second one exits at once.
            let cancel =
                scxray_vmm::cancel::on_interrupt().context("installing the Ctrl-C handler")?;
            let opts = fetch::FetchOptions {
                version,
                force,
                debug_info,
                ..fetch::FetchOptions::default()
            };
            let mut lines = fetch::ProgressLines::new();
            let fetched = match fetch::fetch(&kernels, &opts, &cancel, &mut |p| {
                if let Some(line) = lines.line(p) {
                    eprintln!("scxray: {line}");
                }
            }) {
                Ok(f) => f,
                Err(e @ fetch::FetchError::Cancelled) => {
                    eprintln!("scxray: {e}");
                    return Ok(ExitCode::from(130));
                }
                Err(e) => return Err(e.into()),
            };
            if fetched.already_cached {
                // With --debug-info, --force is for the debug info only.
                let hint = if debug_info {
                    ""
                } else {
                    " (--force fetches it again)"
                };
                eprintln!("scxray: {} is already cached{hint}", fetched.kernel.release);
            } else {
                let debug_bytes = fetched.debug.as_ref().map_or(0, |d| d.downloaded_bytes);
                eprintln!(
                    "scxray: fetched {} ({} downloaded)",
                    fetched.kernel.release,
                    fetch::mb(fetched.downloaded_bytes - debug_bytes)
                );
            }
            if !debug_info {
                println!("{}", fetched.kernel.dir.display());
                return Ok(ExitCode::SUCCESS);
            }
            let path = fetched
                .kernel
                .debug_vmlinux
                .as_deref()
                .context("the fetch stored no vmlinux.debug")?;
            match &fetched.debug {
                Some(d) => eprintln!(
                    "scxray: fetched debug info of {} ({}, {} downloaded, {} kept)",
                    fetched.kernel.release,
                    d.package,
                    fetch::mb(d.downloaded_bytes),
                    fetch::mb(d.bytes)
                ),
                None => eprintln!(
                    "scxray: debug info of {} is already cached (--force fetches it again)",
                    fetched.kernel.release
                ),
            }
            println!("{}", path.display());
        }
        KernelCommand::List => {
            let list = kernels.list()?;
            if list.is_empty() {
                eprintln!(
                    "scxray: no kernels cached in {}; run `scxray kernel fetch`",
                    kernels.kernels_dir().display()
                );
            } else {
                print!("{}", cache::table(&list));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn load(file: &std::path::Path) -> anyhow::Result<Report> {
    // The typed error already names the file, the cause and the fix.
    parse_path(file).map_err(|e: ParseError| anyhow::anyhow!(e))
}

/// One section's body by name (borrowed, not copied), without its final
/// newline; names are matched loosely (`scheduler-log`, `dump`).
fn section_text<'a>(report: &'a Report, name: &str) -> anyhow::Result<Cow<'a, str>> {
    let want = name.trim().to_ascii_lowercase().replace(['-', '_'], " ");
    if want == "crash" || want == "summary" {
        let mut summary = write::summary(report);
        if summary.ends_with('\n') {
            summary.pop();
        }
        return Ok(Cow::Owned(summary));
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
        Some(s) => Ok(Cow::Borrowed(&s.body)),
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
