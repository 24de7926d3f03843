//! Running the apt and dpkg tools: output to log files (no pipe to fill),
//! a tick while they run (progress), and a kill when cancelled.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::cancel::Cancel;

/// How often a running tool is polled.
const POLL: Duration = Duration::from_millis(50);
/// How much of a failed tool's output an error carries.
const TAIL: usize = 1500;

/// Errors running a tool; each names the command line.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("`{program}` is not installed (or not in PATH); {hint}")]
    Missing { program: String, hint: &'static str },
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}):\n{output}")]
    Failed {
        command: String,
        status: String,
        /// The end of its stderr (or stdout when stderr is empty).
        output: String,
    },
    #[error("cancelled (Ctrl-C) while `{command}` ran")]
    Cancelled { command: String },
}

/// What a finished tool printed.
#[derive(Debug, Clone, Default)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
}

/// The command line, for messages.
pub fn display(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

/// Starts `cmd` with stderr in `logs/<label>.stderr` and stdout to `stdout`;
/// also returns the command line and the stderr log's path.
fn spawn(
    cmd: &mut Command,
    logs: &Path,
    label: &str,
    hint: &'static str,
    stdout: Stdio,
) -> Result<(Child, String, PathBuf), CommandError> {
    let command = display(cmd);
    let err_path = logs.join(format!("{label}.stderr"));
    let stderr = std::fs::File::create(&err_path).map_err(|source| CommandError::Spawn {
        command: command.clone(),
        source,
    })?;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                CommandError::Missing {
                    program: cmd.get_program().to_string_lossy().into_owned(),
                    hint,
                }
            } else {
                CommandError::Spawn {
                    command: command.clone(),
                    source,
                }
            }
        })?;
    Ok((child, command, err_path))
}

/// Waits for `child`, calling `tick` meanwhile; kills it when `cancel` is set.
fn wait(
    child: &mut Child,
    command: &str,
    cancel: &Cancel,
    tick: &mut dyn FnMut(),
) -> Result<ExitStatus, CommandError> {
    loop {
        if cancel.is_cancelled() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(CommandError::Cancelled {
                command: command.to_string(),
            });
        }
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) => {
                tick();
                std::thread::sleep(POLL);
            }
            Err(source) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(CommandError::Spawn {
                    command: command.to_string(),
                    source,
                });
            }
        }
    }
}

/// `Failed` with the end of `text` for a tool that exited unsuccessfully.
fn check_status(command: String, status: ExitStatus, text: &str) -> Result<(), CommandError> {
    if status.success() {
        return Ok(());
    }
    Err(CommandError::Failed {
        command,
        status: status.to_string(),
        output: tail(text, TAIL),
    })
}

fn read_log(p: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned()
}

/// Runs `cmd` to completion with stdout/stderr in `logs/<label>.{stdout,stderr}`,
/// calling `tick` while it runs; kills it when `cancel` is set.
pub fn run(
    cmd: &mut Command,
    logs: &Path,
    label: &str,
    hint: &'static str,
    cancel: &Cancel,
    tick: &mut dyn FnMut(),
) -> Result<Output, CommandError> {
    let out_path = logs.join(format!("{label}.stdout"));
    let stdout = std::fs::File::create(&out_path).map_err(|source| CommandError::Spawn {
        command: display(cmd),
        source,
    })?;
    let (mut child, command, err_path) = spawn(cmd, logs, label, hint, stdout.into())?;
    let status = wait(&mut child, &command, cancel, tick)?;
    let output = Output {
        stdout: read_log(&out_path),
        stderr: read_log(&err_path),
    };
    if cancel.is_cancelled() {
        // A terminal's Ctrl-C reaches the tool too; it may have died of it.
        return Err(CommandError::Cancelled { command });
    }
    let text = if output.stderr.trim().is_empty() {
        &output.stdout
    } else {
        &output.stderr
    };
    check_status(command, status, text)?;
    Ok(output)
}

/// A running tool whose stdout is read as it comes (a stream too large for
/// a log file, such as `dpkg-deb --fsys-tarfile`); stderr goes to
/// `logs/<label>.stderr`. Dropped before [`Piped::finish`], it kills the tool:
/// that is how a reader that has what it wants stops it.
#[derive(Debug)]
pub struct Piped {
    child: Child,
    stdout: Option<ChildStdout>,
    command: String,
    err_path: PathBuf,
    finished: bool,
}

/// Starts `cmd` with its stdout piped to the returned [`Piped`].
pub fn spawn_piped(
    cmd: &mut Command,
    logs: &Path,
    label: &str,
    hint: &'static str,
) -> Result<Piped, CommandError> {
    let (mut child, command, err_path) = spawn(cmd, logs, label, hint, Stdio::piped())?;
    let stdout = child.stdout.take();
    Ok(Piped {
        child,
        stdout,
        command,
        err_path,
        finished: false,
    })
}

impl Piped {
    /// The tool's stdout.
    pub fn stdout(&mut self) -> &mut dyn Read {
        self.stdout.as_mut().expect("stdout is piped until finish")
    }

    /// Reads what is left of stdout (so that the tool does not die of a
    /// closed pipe, e.g. while writing a tar stream's padding) and waits for
    /// the tool: `Failed` with the end of its stderr when it failed.
    pub fn finish(mut self, cancel: &Cancel) -> Result<(), CommandError> {
        if let Some(mut out) = self.stdout.take() {
            let mut buf = vec![0u8; 1 << 16];
            while !cancel.is_cancelled() && out.read(&mut buf).is_ok_and(|n| n > 0) {}
        }
        let status = wait(&mut self.child, &self.command, cancel, &mut || {})?;
        self.finished = true;
        check_status(self.command.clone(), status, &read_log(&self.err_path))
    }
}

impl Drop for Piped {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The last `max` bytes of `text`, cut at a line start when possible.
pub fn tail(text: &str, max: usize) -> String {
    let text = text.trim_end();
    if text.len() <= max {
        return text.to_string();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let cut = &text[start..];
    match cut.find('\n') {
        Some(nl) => format!("...\n{}", &cut[nl + 1..]),
        None => format!("...{cut}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_captures_and_fails_with_output() {
        let dir = tempfile::tempdir().unwrap();
        let mut ticks = 0;
        let out = run(
            Command::new("sh").args(["-c", "echo out; echo err >&2; sleep 0.2"]),
            dir.path(),
            "ok",
            "",
            &Cancel::new(),
            &mut || ticks += 1,
        )
        .unwrap();
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");
        assert!(ticks >= 1);

        let err = run(
            Command::new("sh").args(["-c", "echo E: no such package >&2; exit 100"]),
            dir.path(),
            "bad",
            "",
            &Cancel::new(),
            &mut || {},
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("sh -c"), "{msg}");
        assert!(msg.contains("100"), "{msg}");
        assert!(msg.contains("E: no such package"), "{msg}");

        let err = run(
            &mut Command::new("scxray-no-such-tool"),
            dir.path(),
            "missing",
            "install it",
            &Cancel::new(),
            &mut || {},
        )
        .unwrap_err();
        assert!(matches!(err, CommandError::Missing { .. }), "{err}");
        assert!(err.to_string().contains("install it"));
    }

    #[test]
    fn cancel_kills_the_tool() {
        let dir = tempfile::tempdir().unwrap();
        let cancel = Cancel::new();
        let start = std::time::Instant::now();
        let c = cancel.clone();
        let err = run(
            Command::new("sleep").arg("30"),
            dir.path(),
            "sleep",
            "",
            &cancel,
            &mut || c.cancel(),
        )
        .unwrap_err();
        assert!(matches!(err, CommandError::Cancelled { .. }), "{err}");
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn piped_streams_stdout_and_reports_failure() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = spawn_piped(
            Command::new("sh").args(["-c", "echo streamed; echo broken >&2; exit 3"]),
            dir.path(),
            "piped",
            "",
        )
        .unwrap();
        let mut out = String::new();
        p.stdout().read_to_string(&mut out).unwrap();
        assert_eq!(out, "streamed\n");
        let err = p.finish(&Cancel::new()).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, CommandError::Failed { .. }), "{msg}");
        assert!(msg.contains("broken"), "{msg}");

        // Dropped unfinished, an endless writer is killed, not waited for.
        let start = std::time::Instant::now();
        let mut p = spawn_piped(&mut Command::new("yes"), dir.path(), "yes", "").unwrap();
        let mut buf = [0u8; 4];
        p.stdout().read_exact(&mut buf).unwrap();
        drop(p);
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn tail_cuts_at_a_line() {
        assert_eq!(tail("short\n", 100), "short");
        let long = "aaaa\nbbbb\ncccc\n";
        assert_eq!(tail(long, 7), "...\ncccc");
    }
}
