//! The agent's run: prepare, load the scheduler, run the phases, collect.

use std::collections::BTreeSet;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use scxray::run::record::{CgroupStats, Record};
use scxray::run::scenario::{
    HostOrder, PhaseSpec, RunConfig, Work, MAX_ORDER_LINE, RUN_CONFIG_PATH,
};

use super::channel::Channel;
use super::probe::{Limits, ProbeSet};
use super::topology;
use super::worker::WorkerResult;
use super::{kallsyms, kmsg, mounts, power_off, say, scheduler, trace, uptime_ms, Deadline};

const RECORD_PORT: &str = "/dev/ttyS1";
const CGROUP_ROOT: &str = "/sys/fs/cgroup/scxray";

/// PID 1's main: never returns.
pub fn agent_main() -> ! {
    super::set_thread_name(super::AGENT_COMM);
    std::panic::set_hook(Box::new(|info| {
        say(&format!("panicked: {info}"));
        if let Ok(c) = Channel::open(RECORD_PORT) {
            c.send(Record::Error {
                message: format!("guest agent panicked: {info}"),
            });
            c.drain();
        }
        power_off();
    }));
    let failed_mounts = mounts::mount_all();
    let channel = match Channel::open(RECORD_PORT) {
        Ok(c) => c,
        Err(e) => {
            say(&format!(
                "cannot open {RECORD_PORT}: {e}; is the second serial port missing?"
            ));
            power_off();
        }
    };
    channel.send(Record::Hello {
        agent: format!("scxray-agent {}", env!("CARGO_PKG_VERSION")),
        uptime_ms: uptime_ms(),
    });
    say("userspace reached");
    match topology::read() {
        Ok(seen) => channel.send(Record::Topology(Box::new(seen))),
        Err(e) => channel.send(Record::Error {
            message: format!("cannot read the CPU topology from sysfs: {e}"),
        }),
    }
    for m in failed_mounts {
        channel.send(Record::Error {
            message: format!("mount failed: {m}"),
        });
    }
    let mut probes = None;
    let passed = match std::fs::read(RUN_CONFIG_PATH)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice::<RunConfig>(&b).map_err(|e| e.to_string()))
    {
        Ok(cfg) => run(&cfg, &channel, &mut probes),
        Err(e) => {
            channel.send(Record::Error {
                message: format!("cannot read {RUN_CONFIG_PATH}: {e}"),
            });
            false
        }
    };
    if let Some(p) = probes.take() {
        for r in p.finish() {
            channel.send(r);
        }
    }
    collect(&channel);
    channel.send(Record::Done {
        passed,
        uptime_ms: uptime_ms(),
    });
    channel.drain();
    say("powering off");
    power_off();
}

fn stage(channel: &Channel, name: &str) {
    say(name);
    channel.send(Record::Stage {
        name: name.to_string(),
        uptime_ms: uptime_ms(),
    });
}

/// Returns true when the scheduler survived the whole scenario. `probes`
/// gets the probe set when the run asked for one.
fn run(cfg: &RunConfig, channel: &Channel, probes: &mut Option<ProbeSet>) -> bool {
    // Kept for the probes, which look their kernel functions up in it.
    let mut kallsyms_text = None;
    if !cfg.kallsyms.is_empty() {
        match std::fs::read_to_string("/proc/kallsyms") {
            Ok(text) => {
                channel.send(Record::Symbols {
                    symbols: kallsyms::find(&text, &cfg.kallsyms),
                });
                kallsyms_text = Some(text);
            }
            Err(e) => channel.send(Record::Error {
                message: format!("cannot read /proc/kallsyms for the host monitor: {e}"),
            }),
        }
    }
    stage(channel, "arming tracepoints");
    let missing = trace::enable();
    if !missing.is_empty() {
        channel.send(Record::Error {
            message: format!(
                "cannot enable tracepoints {missing:?}: the exit dump will only be on the console"
            ),
        });
    }
    trace::forward(channel.clone());
    if scheduler::state() == "absent" {
        channel.send(Record::Error {
            message: "this kernel has no sched_ext (/sys/kernel/sched_ext is missing): use a kernel with CONFIG_SCHED_CLASS_EXT=y".into(),
        });
        return false;
    }

    let mut targets = cfg.probes.clone();
    if cfg.park {
        // Booted ahead of need: the host says what to probe once it knows.
        stage(channel, "parked");
        let order = channel
            .read_line(MAX_ORDER_LINE)
            .map_err(|e| e.to_string())
            .and_then(|l| serde_json::from_slice::<HostOrder>(&l).map_err(|e| e.to_string()));
        match order {
            Ok(HostOrder::Run { probes }) => targets = probes,
            Err(e) => {
                channel.send(Record::Error {
                    message: format!("parked, but the host's order could not be read: {e}"),
                });
                return false;
            }
        }
    }
    if !targets.is_empty() {
        // Kernel functions and the exit trigger now, before anything can crash.
        say(&format!("attaching {} probe targets", targets.len()));
        let (set, records) = ProbeSet::start(&targets, Limits::default(), kallsyms_text.as_deref());
        records.into_iter().for_each(|r| channel.send(r));
        *probes = set;
    }

    stage(channel, "loading scheduler");
    let mut sched = match scheduler::start(&cfg.scheduler, &cfg.args, &cfg.library_path, channel) {
        Ok(c) => c,
        Err(e) => {
            channel.send(Record::Error {
                message: format!("cannot start scheduler {}: {e}", cfg.scheduler),
            });
            return false;
        }
    };
    let attached = wait_attached(&mut sched, cfg.attach_timeout_ms, channel);
    // The scheduler's BPF functions exist now (or never will: say so).
    if let Some(p) = probes.as_mut() {
        p.attach_bpf().into_iter().for_each(|r| channel.send(r));
    }
    if !attached {
        stop(&mut sched, channel, Duration::from_millis(500));
        return false;
    }
    channel.send(Record::ScxState {
        state: "enabled".into(),
        uptime_ms: uptime_ms(),
    });

    setup_cgroups();
    let total = cfg.scenario.phases.len() as u32;
    let mut crashed = false;
    for (i, phase) in cfg.scenario.phases.iter().enumerate() {
        let index = i as u32 + 1;
        say(&format!("phase {index}/{total}: {}", phase.name));
        channel.send(Record::Phase {
            index,
            total,
            name: phase.name.clone(),
            uptime_ms: uptime_ms(),
        });
        let (stats, crash_seen) = run_phase(index, phase, &mut sched, channel);
        channel.send(Record::Stats {
            phase: index,
            cgroups: stats,
            uptime_ms: uptime_ms(),
        });
        if crash_seen {
            crashed = true;
            break;
        }
    }
    if crashed {
        stage(channel, "crashed");
        // Give the scheduler time to print its exit info before it is stopped.
        stop(&mut sched, channel, Duration::from_secs(3));
    } else {
        // The kernel's own count, while the scheduler is still attached
        // (the directory goes with it).
        if let Ok(text) = std::fs::read_to_string("/sys/kernel/sched_ext/root/events") {
            channel.send(Record::ScxEvents {
                text,
                uptime_ms: uptime_ms(),
            });
        }
        stage(channel, "passed");
        // SAFETY: signalling our own child.
        unsafe { libc::kill(sched.id() as i32, libc::SIGINT) };
        stop(&mut sched, channel, Duration::from_secs(2));
    }
    !crashed
}

/// Waits for `enabled`; reports why not.
fn wait_attached(sched: &mut Child, timeout_ms: u64, channel: &Channel) -> bool {
    let deadline = Deadline::after_ms(timeout_ms);
    loop {
        let state = scheduler::state();
        if state == "enabled" {
            return true;
        }
        if let Ok(Some(status)) = sched.try_wait() {
            // Not reported here: the caller's `stop` reports every way the
            // scheduler ends (it sees this same status), and reporting it
            // twice repeated the "scheduler process ended" note.
            channel.send(Record::Error { message: format!("scheduler exited before attaching ({status}); its output is in the scheduler log") });
            return false;
        }
        if deadline.passed() {
            channel.send(Record::Error {
                message: format!(
                    "scheduler did not attach within {timeout_ms} ms (sched_ext state: {state})"
                ),
            });
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn report_exit(status: std::process::ExitStatus, channel: &Channel) {
    use std::os::unix::process::ExitStatusExt;
    channel.send(Record::SchedExit {
        code: status.code(),
        signal: status.signal(),
        uptime_ms: uptime_ms(),
    });
}

/// Waits up to `grace` for the scheduler to end, then kills it.
fn stop(sched: &mut Child, channel: &Channel, grace: Duration) {
    let deadline = Deadline::after_ms(grace.as_millis() as u64);
    loop {
        if let Ok(Some(status)) = sched.try_wait() {
            report_exit(status, channel);
            return;
        }
        if deadline.passed() {
            let _ = sched.kill();
            if let Ok(status) = sched.wait() {
                report_exit(status, channel);
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn setup_cgroups() {
    let _ = std::fs::write("/sys/fs/cgroup/cgroup.subtree_control", "+cpuset +cpu");
    let _ = std::fs::create_dir_all(CGROUP_ROOT);
    let _ = std::fs::write(
        format!("{CGROUP_ROOT}/cgroup.subtree_control"),
        "+cpuset +cpu",
    );
}

/// Runs one phase to its end, or until the scheduler dies: the workers are
/// then told to stop and report what they did so far.
fn run_phase(
    index: u32,
    phase: &PhaseSpec,
    sched: &mut Child,
    channel: &Channel,
) -> (Vec<CgroupStats>, bool) {
    let mut groups: Vec<(String, Vec<Child>)> = Vec::new();
    for cg in &phase.cgroups {
        let dir = format!("{CGROUP_ROOT}/p{index}-{}", cg.name);
        let _ = std::fs::create_dir_all(&dir);
        if let Some(cpus) = &cg.cpus {
            let _ = std::fs::write(format!("{dir}/cpuset.cpus"), cpus);
        }
        let mut workers = Vec::new();
        // Forked from a thread of its name and executed through a link of
        // its name, a worker is never enqueued as `scxray-agent` or `exe`.
        super::set_thread_name(super::worker::comm(cg.work));
        let program = super::worker::program(cg.work);
        for _ in 0..cg.workers {
            let mut spawned = Command::new(&program);
            spawned
                .args([
                    "--worker",
                    work_name(cg.work),
                    "--cgroup",
                    &dir,
                    "--duration-ms",
                    &phase.duration_ms.to_string(),
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::piped());
            // Ignored until the worker installs its handler: an early stop
            // signal must not kill it before it can report.
            // SAFETY: signal() is async-signal-safe.
            let spawned = unsafe {
                spawned.pre_exec(|| {
                    libc::signal(super::worker::STOP_SIGNAL, libc::SIG_IGN);
                    Ok(())
                })
            }
            .spawn();
            match spawned {
                Ok(c) => workers.push(c),
                Err(e) => channel.send(Record::Error {
                    message: format!("cannot start a worker in {dir}: {e}"),
                }),
            }
        }
        super::set_thread_name(super::AGENT_COMM);
        groups.push((cg.name.clone(), workers));
    }
    let mut crash_seen = false;
    let deadline = Deadline::after_ms(phase.duration_ms + 10_000);
    // The guest's own runqueue counts now and then, for the host monitor
    // to be checked against; the workers need a moment to start first.
    let mut next_rq_read = Deadline::after_ms(RQ_READ_FIRST_MS);
    loop {
        if !crash_seen && next_rq_read.passed() {
            next_rq_read = Deadline::after_ms(RQ_READ_EVERY_MS);
            send_guest_rq(channel);
        }
        if !crash_seen && scheduler_gone(sched) {
            crash_seen = true;
            channel.send(Record::ScxState {
                state: settled_state(),
                uptime_ms: uptime_ms(),
            });
            // The rest of the phase would only idle the run: the workers
            // report what they did so far and end.
            for c in groups.iter().flat_map(|(_, w)| w.iter()) {
                // SAFETY: signalling our own child.
                unsafe { libc::kill(c.id() as i32, super::worker::STOP_SIGNAL) };
            }
        }
        let running = groups
            .iter_mut()
            .flat_map(|(_, w)| w.iter_mut())
            .any(|c| matches!(c.try_wait(), Ok(None)));
        if !running {
            break;
        }
        if deadline.passed() {
            for c in groups.iter_mut().flat_map(|(_, w)| w.iter_mut()) {
                let _ = c.kill();
            }
            channel.send(Record::Error {
                message: format!(
                    "phase {} workers overran by 10 s and were killed",
                    phase.name
                ),
            });
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = groups
        .into_iter()
        .map(|(name, workers)| aggregate(name, workers))
        .collect();
    (stats, crash_seen || scheduler_gone(sched))
}

/// When in a phase the guest's runqueues are first read, and how often then.
const RQ_READ_FIRST_MS: u64 = 300;
const RQ_READ_EVERY_MS: u64 = 500;

/// Sends `nr_running` of every CPU from debugfs `sched/debug`, if readable.
fn send_guest_rq(channel: &Channel) {
    let Ok(text) = std::fs::read_to_string("/sys/kernel/debug/sched/debug") else {
        return;
    };
    let nr_running = scxray::host_monitor::guest_rq::parse_sched_debug(&text);
    if !nr_running.is_empty() {
        channel.send(Record::GuestRq {
            nr_running,
            uptime_ms: uptime_ms(),
        });
    }
}

fn scheduler_gone(sched: &mut Child) -> bool {
    matches!(sched.try_wait(), Ok(Some(_))) || scheduler::state() != "enabled"
}

/// sched_ext's state once the scheduler is gone. Its process can be seen
/// ended while the kernel still reads "enabled" (a slow guest has been
/// seen doing so); the host stops the guest for the failure dump only on a
/// state other than "enabled", so wait a little for it to move.
fn settled_state() -> String {
    let deadline = Deadline::after_ms(SETTLE_MS);
    loop {
        let state = scheduler::state();
        if state != "enabled" || deadline.passed() {
            return state;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// How long [`settled_state`] waits for sched_ext to leave "enabled".
const SETTLE_MS: u64 = 2_000;

fn work_name(w: Work) -> &'static str {
    match w {
        Work::Spin => "spin",
        Work::SleepWake => "sleep-wake",
        Work::Fork => "fork",
    }
}

/// Per-cgroup numbers as ktstr reports them.
fn aggregate(name: String, workers: Vec<Child>) -> CgroupStats {
    let mut results = Vec::new();
    for mut c in workers {
        let mut out = String::new();
        if let Some(mut o) = c.stdout.take() {
            let _ = o.read_to_string(&mut out);
        }
        let _ = c.wait();
        if let Some(r) = out
            .lines()
            .last()
            .and_then(|l| serde_json::from_str::<WorkerResult>(l).ok())
        {
            results.push(r);
        }
    }
    let cpus: BTreeSet<i32> = results
        .iter()
        .flat_map(|r| r.cpus.iter().copied())
        .collect();
    let shares: Vec<f64> = results
        .iter()
        .filter(|r| r.wall_ms > 0)
        .map(|r| r.cpu_ms as f64 * 100.0 / r.wall_ms as f64)
        .collect();
    let spread = match (
        shares.iter().copied().reduce(f64::max),
        shares.iter().copied().reduce(f64::min),
    ) {
        (Some(hi), Some(lo)) if results.iter().any(|r| r.iterations > 0) => Some(hi - lo),
        _ => None,
    };
    CgroupStats {
        name,
        workers: results.len() as u32,
        cpus: cpus.len() as u32,
        spread_pct: spread,
        gap_ms: results.iter().map(|r| r.max_gap_ms).max().unwrap_or(0),
        migrations: results.iter().map(|r| r.migrations).sum(),
        iterations: results.iter().map(|r| r.iterations).sum(),
    }
}

/// The tail of the kernel log (the dump is already on its way via trace_pipe).
fn collect(channel: &Channel) {
    stage(channel, "collecting");
    // trace_pipe delivers the dump a little after the exit.
    std::thread::sleep(Duration::from_millis(300));
    for line in kmsg::read_all() {
        channel.send(Record::Kmsg { line });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scxray::run::record::Decoder;

    #[test]
    fn a_scheduler_that_exits_before_attaching_is_reported_once() {
        let path = std::env::temp_dir().join(format!("scxray-agent-run-{}", std::process::id()));
        std::fs::write(&path, b"").unwrap();
        let channel = Channel::open(path.to_str().unwrap()).unwrap();
        let mut sched = Command::new("sh").args(["-c", "exit 1"]).spawn().unwrap();
        // What `run` does when the scheduler never attaches.
        assert!(!wait_attached(&mut sched, 5_000, &channel));
        stop(&mut sched, &channel, Duration::from_millis(500));
        let bytes = std::fs::read(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let records = Decoder::new().push(&bytes);
        let exits: Vec<_> = records
            .iter()
            .filter(|r| matches!(r, Record::SchedExit { .. }))
            .collect();
        assert_eq!(exits.len(), 1, "{records:?}");
        assert!(matches!(exits[0], Record::SchedExit { code: Some(1), .. }));
    }
}
