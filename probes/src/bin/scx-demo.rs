//! `scx-demo`: loads scxray's demo sched_ext scheduler (`src/bpf/demo.bpf.c`),
//! optionally armed to fail, waits for it to exit and prints its exit info the
//! way scx schedulers do (`DEBUG DUMP` ... `EXIT: <reason> (<message>)`).
//!
//! Exit status: 0 when the scheduler was unregistered (Ctrl-C, SIGTERM) or
//! exited cleanly, 1 for an error exit (scx_bpf_error, runtime error, stall)
//! or when it could not be loaded.

use std::mem::MaybeUninit;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::Link;
use scxray_probes::demo::{types, DemoSkelBuilder};

const SCHED_EXT_STATE: &str = "/sys/kernel/sched_ext/state";
/// `enum scx_exit_kind`: kinds from here on are errors.
const SCX_EXIT_ERROR: i32 = 1024;
/// Enqueue / select_cpu number at which `--bad-dsq` / `--bad-cpu` fire when
/// given without a value: late enough that the scheduler is fully enabled.
const DEFAULT_FAULT_AT: &str = "200";

#[derive(Parser, Debug)]
#[command(
    name = "scx-demo",
    about = "scxray's demo sched_ext scheduler: a global FIFO that fails on demand"
)]
struct Args {
    /// Call scx_bpf_error() at the Nth enqueue, from validate_cell() called by
    /// apply_policy() called by demo_enqueue().
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    crash_after: Option<u64>,
    /// The error message for --crash-after (at most 127 bytes).
    #[arg(long, value_name = "TEXT", requires = "crash_after")]
    message: Option<String>,
    /// That many seconds after load, hold one user task in a DSQ that is never
    /// dispatched, so the watchdog reports a runnable task stall.
    #[arg(long, value_name = "SECS")]
    stall_after: Option<f64>,
    /// Insert the Nth enqueued task into a DSQ that does not exist (runtime error).
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = DEFAULT_FAULT_AT,
          value_parser = clap::value_parser!(u64).range(1..))]
    bad_dsq: Option<u64>,
    /// Return an out-of-range CPU from the Nth select_cpu call (runtime error).
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = DEFAULT_FAULT_AT,
          value_parser = clap::value_parser!(u64).range(1..))]
    bad_cpu: Option<u64>,
    /// The sched_ext watchdog timeout (ops.timeout_ms).
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    timeout_ms: u32,
    /// Seconds between two counter lines (0: none).
    #[arg(long, value_name = "SECS", default_value_t = 1.0)]
    stats_interval: f64,
}

/// On stderr, like the exit info: one stream keeps the order the host sees
/// (two pipes read apart could put `scheduler exited` between the debug
/// dump's header and its reason line).
fn say(msg: &str) {
    eprintln!("scx-demo: {msg}");
}

/// The NUL-terminated C string at the start of `buf`.
fn c_str(buf: &[i8]) -> String {
    let bytes: Vec<u8> = buf
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Copies `text` into a C string buffer, cut on a character boundary.
fn set_c_str(buf: &mut [i8], text: &str) {
    let mut end = text.len().min(buf.len() - 1);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    buf.fill(0);
    for (dst, &src) in buf.iter_mut().zip(&text.as_bytes()[..end]) {
        *dst = src as i8;
    }
}

fn sched_ext_state() -> Option<String> {
    std::fs::read_to_string(SCHED_EXT_STATE)
        .ok()
        .map(|s| s.trim().to_owned())
}

/// A snapshot of the scheduler's .bss, read field by field with volatile
/// loads because the kernel writes it concurrently through the mmap.
struct Bss(*const types::bss);

macro_rules! vol {
    ($bss:expr, $($field:tt)+) => {
        // SAFETY: the pointer is the skeleton's mmap of .bss, alive as long
        // as the skeleton; the field is plain data.
        unsafe { std::ptr::read_volatile(std::ptr::addr_of!((*$bss.0).$($field)+)) }
    };
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("scx-demo: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<ExitCode> {
    match sched_ext_state().as_deref() {
        None => bail!(
            "{SCHED_EXT_STATE} not found: this kernel has no sched_ext (CONFIG_SCHED_CLASS_EXT=y)"
        ),
        Some("disabled") => {}
        Some(other) => bail!("sched_ext is {other}: another BPF scheduler is loaded"),
    }
    let stall_after_ns = match args.stall_after {
        None => 0,
        Some(s) if s.is_finite() && s > 0.0 => ((s * 1e9) as u64).max(1),
        Some(s) => bail!("--stall-after must be a positive number of seconds, got {s}"),
    };

    let term = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&term))
            .context("installing signal handlers")?;
    }

    say("opening the BPF skeleton");
    let mut object = MaybeUninit::uninit();
    let mut open = DemoSkelBuilder::default()
        .open(&mut object)
        .context("opening the demo BPF object")?;
    let rodata = open
        .maps
        .rodata_data
        .as_deref_mut()
        .context("no .rodata in the BPF object")?;
    rodata.crash_after = args.crash_after.unwrap_or(0);
    if let Some(msg) = &args.message {
        set_c_str(&mut rodata.crash_msg, msg);
    }
    rodata.stall_after_ns = stall_after_ns;
    rodata.bad_dsq = args.bad_dsq.unwrap_or(0);
    rodata.bad_cpu = args.bad_cpu.unwrap_or(0);
    say(&format!(
        "knobs: crash_after={} message={:?} stall_after_ns={} bad_dsq={} bad_cpu={} timeout_ms={}",
        rodata.crash_after,
        c_str(&rodata.crash_msg),
        rodata.stall_after_ns,
        rodata.bad_dsq,
        rodata.bad_cpu,
        args.timeout_ms
    ));
    open.struct_ops.demo_ops_mut().timeout_ms = args.timeout_ms;

    let t = Instant::now();
    let mut skel = open
        .load()
        .context("loading the demo BPF object (verifier log above)")?;
    say(&format!("loaded in {:.3} s", t.elapsed().as_secs_f64()));
    let link: Link = skel
        .maps
        .demo_ops
        .attach_struct_ops()
        .context("attaching the struct_ops scheduler")?;
    say(&format!(
        "scheduler scxray_demo attached, sched_ext state={}",
        sched_ext_state().unwrap_or_else(|| "?".into())
    ));

    let bss = Bss(skel
        .maps
        .bss_data
        .as_deref()
        .context("no .bss in the BPF object")? as *const _);
    let interval = Duration::from_secs_f64(args.stats_interval.max(0.0));
    let mut next_stats = Instant::now() + interval;
    let mut held_reported = false;
    let mut link = Some(link);
    loop {
        if vol!(bss, uei.kind) != 0 {
            break;
        }
        // ops.exit() runs before the unregistration returns, so this only
        // guards against waiting forever on a kernel that skipped it.
        if link.is_none() && sched_ext_state().as_deref() == Some("disabled") {
            break;
        }
        if term.load(Ordering::Relaxed) && link.is_some() {
            say("signal received, unregistering");
            // Destroying the link disables the scheduler; ops.exit() has run
            // by the time this returns.
            link = None;
            continue;
        }
        if !held_reported && vol!(bss, held_pid) != 0 {
            held_reported = true;
            say(&format!(
                "stall: holding {}[{}] in a DSQ that is never dispatched",
                c_str(&vol!(bss, held_comm)),
                vol!(bss, held_pid)
            ));
        }
        if !interval.is_zero() && Instant::now() >= next_stats {
            next_stats += interval;
            say(&format!(
                "select={} direct={} enqueued={} dispatched={}",
                vol!(bss, nr_select),
                vol!(bss, nr_direct),
                vol!(bss, nr_enqueued),
                vol!(bss, nr_dispatched)
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    let kind = vol!(bss, uei.kind);
    let reason = c_str(&vol!(bss, uei.reason));
    let msg = c_str(&vol!(bss, uei.msg));
    let dump = c_str(&vol!(bss, uei.dump));
    say(&format!(
        "scheduler exited: kind={kind} exit_code={} enqueued={} dispatched={}",
        vol!(bss, uei.exit_code),
        vol!(bss, nr_enqueued),
        vol!(bss, nr_dispatched)
    ));
    drop(link);

    let rule = "=".repeat(80);
    if !dump.is_empty() {
        eprintln!("\nDEBUG DUMP\n{rule}\n\n{}\n{rule}\n", dump.trim_end());
    }
    if reason.is_empty() {
        eprintln!("EXIT: unknown (the scheduler left no exit info)");
    } else if msg.is_empty() {
        eprintln!("EXIT: {reason}");
    } else {
        eprintln!("EXIT: {reason} ({msg})");
    }
    Ok(if kind >= SCX_EXIT_ERROR {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_strings_round_trip_and_truncate_on_char_boundaries() {
        let mut buf = [1i8; 8];
        set_c_str(&mut buf, "abc");
        assert_eq!(c_str(&buf), "abc");
        set_c_str(&mut buf, "ééééé"); // 10 bytes, room for 7: cut to 3 chars
        assert_eq!(c_str(&buf), "ééé");
        assert_eq!(buf[7], 0);
    }

    #[test]
    fn fault_flags_take_an_optional_count() {
        let a = Args::try_parse_from(["scx-demo", "--bad-dsq", "--bad-cpu=7"]).unwrap();
        assert_eq!(a.bad_dsq, Some(200));
        assert_eq!(a.bad_cpu, Some(7));
        assert!(Args::try_parse_from(["scx-demo", "--message", "x"]).is_err());
        assert!(Args::try_parse_from(["scx-demo", "--crash-after", "0"]).is_err());
    }
}
