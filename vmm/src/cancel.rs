//! Ctrl-C as a cancellation: long operations (kernel fetch, VM runs) check the
//! core crate's [`Cancel`] between steps, so that Ctrl-C unwinds through their
//! guards and every temporary file and child process is cleaned up.
//!
//! The token itself is [`scxray::cancel::Cancel`], the one the matcher uses
//! too; this module only adds the signal handlers, which need `signal-hook`
//! and so stay out of the core crate.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

pub use scxray::cancel::{Cancel, Cancelled};

/// The signals that end a run the way Ctrl-C does: from the keyboard, a
/// supervisor (`kill`, a CI job's timeout) or a closed terminal.
pub const STOP_SIGNALS: [i32; 3] = [SIGINT, SIGTERM, SIGHUP];

/// How many stop signals end the process at once, cleanup or not: the
/// second one must not skip the cleanup (it takes a second or two), a
/// third means the user really wants out.
pub const FORCE_AFTER: usize = 3;

/// A token cancelled by the first SIGINT, SIGTERM or SIGHUP. Further signals
/// leave the cleanup running; the [`FORCE_AFTER`]th exits at once with 130.
pub fn on_interrupt() -> std::io::Result<Cancel> {
    let cancel = Cancel::new();
    force_exit_after(FORCE_AFTER)?;
    for signal in STOP_SIGNALS {
        signal_hook::flag::register(signal, Arc::clone(cancel.signal_flag()))?;
    }
    Ok(cancel)
}

/// Hands each stop signal's number to `on_signal` on a thread of its own,
/// until it returns false: the TUI quits on it as on `q`, so the terminal is
/// restored and the run torn down and saved.
pub fn forward_signals(
    mut on_signal: impl FnMut(i32) -> bool + Send + 'static,
) -> std::io::Result<()> {
    force_exit_after(FORCE_AFTER)?;
    let mut signals = signal_hook::iterator::Signals::new(STOP_SIGNALS)?;
    std::thread::Builder::new()
        .name("scxray-signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if !on_signal(signal) {
                    break;
                }
            }
        })?;
    Ok(())
}

/// Counts stop signals in the handler itself, so that the escape works even
/// when every thread is busy.
fn force_exit_after(n: usize) -> std::io::Result<()> {
    let count = Arc::new(AtomicUsize::new(0));
    for signal in STOP_SIGNALS {
        let count = Arc::clone(&count);
        // SAFETY: the action only does an atomic add and `_exit`, both
        // async-signal-safe.
        unsafe {
            signal_hook::low_level::register(signal, move || {
                if count.fetch_add(1, Ordering::SeqCst) + 1 >= n {
                    signal_hook::low_level::exit(130);
                }
            })?;
        }
    }
    Ok(())
}
