//! The `scxray` command line: the binary edge, where errors become messages
//! and exit codes.
//!
//! Exit codes of `report`: 0 = a crash was found, 1 = readable but no crash,
//! 2 = unreadable input or bad usage. `pin`: see `cli_pin.rs`; `demo` and
//! `run`: see `cli_run.rs`.

mod cli_monitor;
mod cli_pin;
mod cli_repro;
mod cli_run;

use std::borrow::Cow;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use scxray::parse::{parse_path_limited, ParseError};
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
    /// The most input read into memory from a pipe, a device, stdin, or a
    /// file that needs repair (CRLF, invalid UTF-8): bytes, or K, M, G, T
    /// (default 1G). A larger input stops with a message; a plain file is
    /// memory-mapped and has no limit.
    #[arg(long, global = true, value_name = "SIZE", value_parser = scxray::parse::parse_size)]
    max_input: Option<u64>,
}

/// `--max-input`, for every input a command reads.
static MAX_INPUT: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(scxray::parse::DEFAULT_MAX_INPUT);

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
        /// Print only the report in ktstr's text layout (no summary): byte for
        /// byte into a file or a pipe; on a terminal, control characters of
        /// the input are shown visibly (`^[`), as in every other output.
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
        /// Also get the kernel's KVM modules (irqbypass, kvm, kvm-amd, kvm-intel)
        /// from linux-modules-<release>: a 23 MB download, 0.8 MB kept. They let
        /// this kernel host KVM inside a QEMU guest, which is how the own VMM
        /// is tested where /dev/kvm cannot run Linux (README: "own VMM").
        #[arg(long)]
        kvm_modules: bool,
    },
    /// List the cached kernels and whether each has sched_ext, BTF, kprobes
    /// and debug info.
    List,
    /// Write the vmlinux.h of a cached kernel (from its BTF, with bpftool),
    /// to build a scheduler's BPF code for the test kernel.
    #[command(name = "vmlinux-h")]
    VmlinuxH {
        /// A cached release or a prefix of one (`7.3`); default: the newest
        /// sched_ext kernel.
        version: Option<String>,
        /// Where to write it (default: standard output).
        #[arg(short, long, value_name = "FILE")]
        output: Option<std::path::PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            // An error can quote the input (a line, a section name): shown visibly.
            let text = scxray_ui::error_text::chain(e.as_ref());
            eprintln!("scxray: error: {}", write::visible(&text));
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Some(max) = cli.max_input {
        MAX_INPUT.store(max, std::sync::atomic::Ordering::Relaxed);
    }
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
            if file == std::path::Path::new("-") && std::io::stdin().is_terminal() {
                anyhow::bail!(
                    "-: standard input is the terminal; pipe a report in (`scxray open - < report.txt`) or give its file"
                );
            }
            let options = scxray_ui::OpenOptions {
                clean: cli_pin::load_clean(&clean)?,
                theme: Some(theme),
                keymap: Some(keymap),
                source_roots: source,
            };
            let name = file.display().to_string();
            // A FIFO or stdin that sends nothing shows "waiting for input" (`q` quits).
            scxray_ui::run_open_loading(move || load(&file), &name, options)?;
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
            // Hostile text: what a person reads (the summary, a section) shows
            // escape sequences and other controls of the input in a visible
            // form (`^[`, see `scxray::write::visible`), wherever it goes.
            // `--ktstr` is the report written back for tools, byte for byte,
            // into a file or a pipe, and made visible only on a terminal;
            // `--json` escapes controls itself.
            let mut out = if json {
                stdout_writer(true)
            } else if ktstr {
                ktstr_stdout()
            } else {
                stdout_writer(false)
            };
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
            kvm_modules,
        } => {
            // Ctrl-C stops apt/dpkg and removes the work directory; a second one exits at once.
            let cancel =
                scxray_vmm::cancel::on_interrupt().context("installing the Ctrl-C handler")?;
            let opts = fetch::FetchOptions {
                version,
                force,
                debug_info,
                kvm_modules,
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
                // With --debug-info or --kvm-modules, --force is for those only.
                let hint = if debug_info || kvm_modules {
                    ""
                } else {
                    " (--force fetches it again)"
                };
                eprintln!("scxray: {} is already cached{hint}", fetched.kernel.release);
            } else {
                let extra = fetched.debug.as_ref().map_or(0, |d| d.downloaded_bytes)
                    + fetched
                        .kvm_modules
                        .as_ref()
                        .map_or(0, |m| m.downloaded_bytes);
                eprintln!(
                    "scxray: fetched {} ({} downloaded)",
                    fetched.kernel.release,
                    fetch::mb(fetched.downloaded_bytes - extra)
                );
            }
            if let Some(m) = &fetched.kvm_modules {
                eprintln!(
                    "scxray: fetched the KVM modules of {} ({}, {} downloaded)",
                    fetched.kernel.release,
                    m.package,
                    fetch::mb(m.downloaded_bytes)
                );
            } else if kvm_modules {
                eprintln!(
                    "scxray: the KVM modules of {} are already cached",
                    fetched.kernel.release
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
        KernelCommand::VmlinuxH { version, output } => {
            use scxray_vmm::kernel::vmlinux_h;
            let list = kernels.list_verified()?;
            let Some(kernel) = vmlinux_h::pick(&list, version.as_deref()) else {
                let have: Vec<&str> = list.iter().map(|k| k.release.as_str()).collect();
                anyhow::bail!(
                    "no cached kernel matches {}; cached: {}; run `scxray kernel fetch{}`",
                    version.as_deref().unwrap_or("(a sched_ext kernel)"),
                    if have.is_empty() {
                        "none".to_string()
                    } else {
                        have.join(", ")
                    },
                    version
                        .as_deref()
                        .map(|v| format!(" --version {v}"))
                        .unwrap_or_default()
                );
            };
            if let Some(damage) = kernel.damage_error() {
                return Err(damage.into());
            }
            let text = vmlinux_h::generate(&kernel)?;
            match output {
                Some(path) => {
                    vmlinux_h::write_file(&path, &text)?;
                    eprintln!(
                        "scxray: wrote {} ({} KiB) for {}",
                        path.display(),
                        text.len() / 1024,
                        kernel.release
                    );
                }
                None => {
                    use std::io::Write;
                    let mut out = std::io::stdout().lock();
                    if let Err(e) = out.write_all(&text).and_then(|()| out.flush()) {
                        // A closed pipe (`| head`) is the reader's choice.
                        if e.kind() != std::io::ErrorKind::BrokenPipe {
                            return Err(e).context("cannot write vmlinux.h to standard output");
                        }
                    }
                }
            }
        }
        KernelCommand::List => {
            // Each boot image hashed: a damaged entry says so, with the fix.
            let list = kernels.list_verified()?;
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

/// Buffered standard output: `exact` passes bytes through as they are,
/// otherwise input text is shown visibly (see `scxray::write::visible`).
fn stdout_writer(exact: bool) -> Box<dyn Write> {
    let out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    if exact {
        Box::new(out)
    } else {
        Box::new(write::VisibleWriter::new(out))
    }
}

/// Where a report in ktstr's layout goes (`report --ktstr`, the headless
/// report of `demo`/`run`/`repro`): byte for byte into a file or a pipe, so
/// it parses back to the same report; visible on a terminal, where an escape
/// sequence of the input would act on the terminal.
pub(crate) fn ktstr_stdout() -> Box<dyn Write> {
    stdout_writer(!std::io::stdout().is_terminal())
}

fn load(file: &std::path::Path) -> anyhow::Result<Report> {
    // The typed error already names the file, the cause and the fix.
    let max = MAX_INPUT.load(std::sync::atomic::Ordering::Relaxed);
    parse_path_limited(file, max).map_err(|e: ParseError| anyhow::anyhow!(e))
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
