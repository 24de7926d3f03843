//! The guest agent: PID 1 of the test guest. It prepares the guest, starts
//! the scheduler, runs the workload phases, watches for the scheduler's exit
//! and streams everything to the host as framed records on the second serial
//! port, then powers the guest off.
//!
//! It is one binary with two roles: `/init` (the agent) and, re-executed by
//! the agent, a workload worker (`/init --worker ...`) that moves itself into
//! its cgroup before it starts working.

pub mod channel;
pub mod kallsyms;
pub mod kmsg;
pub mod layout;
pub mod mounts;
pub mod probe;
pub mod run;
pub mod scheduler;
pub mod topology;
pub mod trace;
pub mod worker;

use std::time::Instant;

/// Milliseconds since the kernel booted (CLOCK_BOOTTIME), the clock the
/// console timestamps use, so host and guest timelines line up.
pub fn uptime_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// The agent's own name for `comm`: PID 1 would otherwise read `init` in
/// dumps and traces, as would every thread it starts.
pub const AGENT_COMM: &str = "scxray-agent";

/// Names the calling thread (its `comm`, 15 bytes at most). A process forked
/// from this thread starts with this name, before its first enqueue.
pub fn set_thread_name(name: &str) {
    let mut bytes: Vec<u8> = name.bytes().filter(|b| *b != 0).take(15).collect();
    bytes.push(0);
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, bytes.as_ptr()) };
}

/// Prints a progress line on the console (fd 1 of PID 1 is /dev/console).
pub fn say(msg: &str) {
    println!("scxray-agent: {msg}");
}

/// Powers the guest off; never returns.
pub fn power_off() -> ! {
    // SAFETY: plain syscalls; we are PID 1 and about to stop the machine.
    unsafe {
        libc::sync();
        libc::reboot(libc::RB_POWER_OFF);
    }
    // reboot() only returns on failure: keep PID 1 alive so the kernel does
    // not panic; the host's watchdog ends the VM.
    loop {
        std::thread::sleep(std::time::Duration::from_secs(60));
    }
}

/// A deadline helper for polling loops.
pub struct Deadline(Instant);

impl Deadline {
    pub fn after_ms(ms: u64) -> Deadline {
        Deadline(Instant::now() + std::time::Duration::from_millis(ms))
    }

    pub fn passed(&self) -> bool {
        Instant::now() >= self.0
    }
}
