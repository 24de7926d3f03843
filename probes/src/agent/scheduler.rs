//! The scheduler under test: started with its arguments, its output streamed
//! line by line, its sched_ext state watched.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};

use scxray::run::record::{Record, Stream};

use super::channel::Channel;

const STATE: &str = "/sys/kernel/sched_ext/state";

/// `/sys/kernel/sched_ext/state`: `enabled`, `disabled`, ... or `absent` on a
/// kernel without sched_ext.
pub fn state() -> String {
    std::fs::read_to_string(STATE).map_or_else(|_| "absent".to_string(), |s| s.trim().to_string())
}

/// Starts the scheduler and forwards its stdout and stderr. `library_path`:
/// directories for its LD_LIBRARY_PATH (none: the variable is not set).
pub fn start(
    path: &str,
    args: &[String],
    library_path: &[String],
    channel: &Channel,
) -> std::io::Result<Child> {
    let mut cmd = Command::new(path);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("RUST_BACKTRACE", "1");
    if !library_path.is_empty() {
        cmd.env("LD_LIBRARY_PATH", library_path.join(":"));
    }
    // Forked from a thread of its name: the scheduler is never enqueued as
    // the agent.
    let name = path.rsplit('/').next().unwrap_or(path);
    super::set_thread_name(name);
    let spawned = cmd.spawn();
    super::set_thread_name(super::AGENT_COMM);
    let mut child = spawned?;
    if let Some(out) = child.stdout.take() {
        forward(out, Stream::Stdout, channel.clone());
    }
    if let Some(err) = child.stderr.take() {
        forward(err, Stream::Stderr, channel.clone());
    }
    Ok(child)
}

fn forward(r: impl Read + Send + 'static, stream: Stream, channel: Channel) {
    let name = match stream {
        Stream::Stdout => "sched-stdout",
        Stream::Stderr => "sched-stderr",
    };
    let spawned = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            for line in BufReader::new(r).lines().map_while(Result::ok) {
                channel.send(Record::SchedLine { stream, line });
            }
        });
    if let Err(e) = spawned {
        super::say(&format!("cannot forward the scheduler's {name}: {e}"));
    }
}
