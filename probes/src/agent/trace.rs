//! sched_ext tracepoints: enabled before the scheduler loads, so the exit
//! dump (`sched_ext_dump`) and the exit record (`sched_ext_exit`) are caught.

use std::io::{BufRead, BufReader};

use scxray::run::record::Record;

use super::channel::Channel;

const EVENTS: &[&str] = &["sched_ext_dump", "sched_ext_exit"];

/// Enables the events; returns the ones that could not be enabled.
pub fn enable() -> Vec<String> {
    let mut missing = Vec::new();
    for ev in EVENTS {
        let path = format!("/sys/kernel/tracing/events/sched_ext/{ev}/enable");
        if std::fs::write(&path, "1").is_err() {
            missing.push((*ev).to_string());
        }
    }
    missing
}

/// Forwards sched_ext lines of trace_pipe to the host until the guest stops.
pub fn forward(channel: Channel) {
    let spawned = std::thread::Builder::new()
        .name("scx-trace".into())
        .spawn(move || {
            let Ok(f) = std::fs::File::open("/sys/kernel/tracing/trace_pipe") else {
                return;
            };
            for line in BufReader::new(f).lines().map_while(Result::ok) {
                if line.contains("sched_ext") {
                    channel.send(Record::Trace { line });
                }
            }
        });
    if let Err(e) = spawned {
        super::say(&format!("cannot forward sched_ext trace lines: {e}"));
    }
}
