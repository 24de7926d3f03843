//! The guest agent binary: `/init` of scxray's test guests, and its own
//! workload worker when re-executed with `--worker`.

use scxray::run::scenario::Work;
use scxray_probes::agent;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--worker") {
        std::process::exit(worker(&args[2..]));
    }
    if std::process::id() != 1 {
        eprintln!("scxray-agent: runs as /init inside scxray's test guest (or with --worker); nothing to do here");
        std::process::exit(2);
    }
    agent::run::agent_main();
}

/// `--worker <spin|sleep-wake|fork> --cgroup <dir> --duration-ms <n>`.
fn worker(args: &[String]) -> i32 {
    let kind = match args.first().map(String::as_str) {
        Some("spin") => Work::Spin,
        Some("sleep-wake") => Work::SleepWake,
        Some("fork") => Work::Fork,
        other => {
            eprintln!("scxray-agent --worker: unknown work {other:?}");
            return 2;
        }
    };
    let get = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
    };
    let (Some(cgroup), Some(ms)) = (
        get("--cgroup"),
        get("--duration-ms").and_then(|v| v.parse().ok()),
    ) else {
        eprintln!("scxray-agent --worker: needs --cgroup DIR --duration-ms N");
        return 2;
    };
    agent::worker::main(kind, cgroup, ms)
}
