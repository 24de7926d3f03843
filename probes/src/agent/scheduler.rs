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

/// Starts the scheduler and forwards its stdout and stderr.
pub fn start(path: &str, args: &[String], channel: &Channel) -> std::io::Result<Child> {
    let mut child = Command::new(path)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("RUST_BACKTRACE", "1")
        .spawn()?;
    if let Some(out) = child.stdout.take() {
        forward(out, Stream::Stdout, channel.clone());
    }
    if let Some(err) = child.stderr.take() {
        forward(err, Stream::Stderr, channel.clone());
    }
    Ok(child)
}

fn forward(r: impl Read + Send + 'static, stream: Stream, channel: Channel) {
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            channel.send(Record::SchedLine { stream, line });
        }
    });
}
