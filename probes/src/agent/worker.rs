//! Workload workers. The agent re-executes itself as
//! `/init --worker <work> --cgroup <dir> --duration-ms <n>`; the worker moves
//! into its cgroup, works, and prints one JSON line of results.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use scxray::run::scenario::Work;
use serde::{Deserialize, Serialize};

/// What one worker measured.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct WorkerResult {
    pub iterations: u64,
    pub migrations: u64,
    pub cpus: BTreeSet<i32>,
    /// Longest stretch without progress, ms (time the worker did not run).
    pub max_gap_ms: u64,
    /// CPU time this worker got, ms.
    pub cpu_ms: u64,
    pub wall_ms: u64,
}

struct Tracker {
    res: WorkerResult,
    last_cpu: i32,
    last_seen: Instant,
}

impl Tracker {
    fn new() -> Tracker {
        Tracker {
            res: WorkerResult::default(),
            last_cpu: -1,
            last_seen: Instant::now(),
        }
    }

    /// Called every few iterations: records CPU changes and gaps.
    fn tick(&mut self) {
        // SAFETY: sched_getcpu has no preconditions.
        let cpu = unsafe { libc::sched_getcpu() };
        if cpu >= 0 {
            if self.last_cpu >= 0 && cpu != self.last_cpu {
                self.res.migrations += 1;
            }
            self.last_cpu = cpu;
            self.res.cpus.insert(cpu);
        }
        let now = Instant::now();
        let gap = now.duration_since(self.last_seen).as_millis() as u64;
        self.res.max_gap_ms = self.res.max_gap_ms.max(gap);
        self.last_seen = now;
    }
}

fn cpu_time_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes into our timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// Set by [`STOP_SIGNAL`]: the agent ends a phase early when the scheduler
/// died, so the run goes on to collecting at once instead of idling out the
/// phase (the workers still report what they did until then).
static STOP: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// The signal that ends a worker's work early.
pub const STOP_SIGNAL: i32 = libc::SIGUSR1;

fn stop_flag() -> &'static Arc<AtomicBool> {
    STOP.get_or_init(|| Arc::new(AtomicBool::new(false)))
}

/// Runs one worker in this process until `duration` passed or the stop
/// signal came; returns its measurements.
pub fn work(kind: Work, duration: Duration) -> WorkerResult {
    work_until(kind, duration, stop_flag())
}

/// [`work`], stopping early when `stop` is set.
fn work_until(kind: Work, duration: Duration, stop: &AtomicBool) -> WorkerResult {
    let start = Instant::now();
    let going = |start: Instant, duration: Duration| {
        start.elapsed() < duration && !stop.load(Ordering::Relaxed)
    };
    let mut t = Tracker::new();
    match kind {
        Work::Spin => {
            while going(start, duration) {
                for _ in 0..4096 {
                    t.res.iterations = std::hint::black_box(t.res.iterations + 1);
                }
                t.tick();
            }
        }
        Work::SleepWake => sleep_wake(&mut t, || going(start, duration)),
        Work::Fork => {
            while going(start, duration) {
                // SAFETY: the child only calls _exit.
                match unsafe { libc::fork() } {
                    0 => unsafe { libc::_exit(0) },
                    pid if pid > 0 => {
                        let mut status = 0;
                        // SAFETY: waiting for the child we just forked.
                        unsafe { libc::waitpid(pid, &mut status, 0) };
                        t.res.iterations += 1;
                    }
                    _ => std::thread::sleep(Duration::from_millis(1)),
                }
                t.tick();
            }
        }
    }
    t.res.cpu_ms = cpu_time_ms();
    t.res.wall_ms = start.elapsed().as_millis() as u64;
    t.res
}

/// Two threads passing a byte back and forth through pipes.
fn sleep_wake(t: &mut Tracker, going: impl Fn() -> bool) {
    let mut a = [0i32; 2];
    let mut b = [0i32; 2];
    // SAFETY: pipe() fills the arrays we own.
    if unsafe { libc::pipe(a.as_mut_ptr()) } != 0 || unsafe { libc::pipe(b.as_mut_ptr()) } != 0 {
        return;
    }
    let (a_read, a_write, b_read, b_write) = (a[0], a[1], b[0], b[1]);
    let echo = std::thread::spawn(move || {
        let mut byte = [0u8; 1];
        // SAFETY: reading/writing one byte on pipe descriptors we own.
        while unsafe { libc::read(a_read, byte.as_mut_ptr().cast(), 1) } == 1 {
            if byte[0] == 0 || unsafe { libc::write(b_write, byte.as_ptr().cast(), 1) } != 1 {
                break;
            }
        }
    });
    let mut byte = [1u8; 1];
    while going() {
        // SAFETY: as above.
        if unsafe { libc::write(a_write, byte.as_ptr().cast(), 1) } != 1
            || unsafe { libc::read(b_read, byte.as_mut_ptr().cast(), 1) } != 1
        {
            break;
        }
        t.res.iterations += 1;
        if t.res.iterations.is_multiple_of(64) {
            t.tick();
        }
    }
    byte[0] = 0;
    // SAFETY: tells the echo thread to stop, then closes our ends.
    unsafe {
        libc::write(a_write, byte.as_ptr().cast(), 1);
    }
    let _ = echo.join();
    for fd in [a_read, a_write, b_read, b_write] {
        // SAFETY: closing descriptors we own, once.
        unsafe { libc::close(fd) };
    }
}

/// A worker's `comm`: named after its work, as dumps and stall messages
/// show it.
pub fn comm(kind: Work) -> &'static str {
    match kind {
        Work::Spin => "scx-spin",
        Work::SleepWake => "scx-sleepwake",
        Work::Fork => "scx-fork",
    }
}

/// Where the agent is executed from to become a `kind` worker: a link named
/// [`comm`] to the agent (exec names the process after the path it was
/// given), or the agent itself when the link cannot be made.
pub fn program(kind: Work) -> std::path::PathBuf {
    let link = std::path::Path::new(WORKER_DIR).join(comm(kind));
    let made = link.exists()
        || std::fs::create_dir_all(WORKER_DIR)
            .and_then(|_| std::os::unix::fs::symlink("/init", &link))
            .is_ok();
    if made {
        link
    } else {
        "/proc/self/exe".into()
    }
}

const WORKER_DIR: &str = "/scxray/work";

/// Entry of the worker role: move into `cgroup`, work, print the result.
pub fn main(kind: Work, cgroup: &str, duration_ms: u64) -> i32 {
    // Already so named when run through its link; not when run as `exe`.
    super::set_thread_name(comm(kind));
    if let Err(e) = signal_hook::flag::register(STOP_SIGNAL, Arc::clone(stop_flag())) {
        eprintln!("scxray worker: cannot handle the stop signal: {e}");
    }
    // Writing 0 moves the writing process itself.
    if let Err(e) = std::fs::write(format!("{cgroup}/cgroup.procs"), "0") {
        eprintln!("scxray worker: cannot join {cgroup}: {e}");
    }
    let res = work(kind, Duration::from_millis(duration_ms));
    println!("{}", serde_json::to_string(&res).unwrap_or_default());
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_makes_progress() {
        for kind in [Work::Spin, Work::SleepWake, Work::Fork] {
            let r = work(kind, Duration::from_millis(60));
            assert!(r.iterations > 0, "{kind:?}");
            assert!(!r.cpus.is_empty(), "{kind:?}");
            assert!(r.wall_ms >= 60);
        }
    }

    #[test]
    fn the_stop_flag_ends_work_early() {
        let stop = AtomicBool::new(true);
        for kind in [Work::Spin, Work::SleepWake, Work::Fork] {
            let r = work_until(kind, Duration::from_secs(30), &stop);
            assert!(r.wall_ms < 30_000, "{kind:?}");
        }
    }
}
