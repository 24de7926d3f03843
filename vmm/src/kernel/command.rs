//! Running the apt and dpkg tools: output to log files (no pipe to fill),
//! a tick while they run (progress), and a kill when cancelled.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
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
    let command = display(cmd);
    let out_path = logs.join(format!("{label}.stdout"));
    let err_path = logs.join(format!("{label}.stderr"));
    let spawn_err = |source| CommandError::Spawn {
        command: command.clone(),
        source,
    };
    let stdout = std::fs::File::create(&out_path).map_err(spawn_err)?;
    let stderr = std::fs::File::create(&err_path).map_err(spawn_err)?;
    let mut child = cmd
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
                spawn_err(source)
            }
        })?;
    let status = loop {
        if cancel.is_cancelled() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(CommandError::Cancelled { command });
        }
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {
                tick();
                std::thread::sleep(POLL);
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(spawn_err(e));
            }
        }
    };
    let read =
        |p: &PathBuf| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    let output = Output {
        stdout: read(&out_path),
        stderr: read(&err_path),
    };
    if cancel.is_cancelled() {
        // A terminal's Ctrl-C reaches the tool too; it may have died of it.
        return Err(CommandError::Cancelled { command });
    }
    if !status.success() {
        let text = if output.stderr.trim().is_empty() {
            &output.stdout
        } else {
            &output.stderr
        };
        return Err(CommandError::Failed {
            command,
            status: status.to_string(),
            output: tail(text, TAIL),
        });
    }
    Ok(output)
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
    fn tail_cuts_at_a_line() {
        assert_eq!(tail("short\n", 100), "short");
        let long = "aaaa\nbbbb\ncccc\n";
        assert_eq!(tail(long, 7), "...\ncccc");
    }
}
