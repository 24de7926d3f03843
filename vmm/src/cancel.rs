//! Ctrl-C as a cancellation: long operations (kernel fetch, VM runs) check the
//! core crate's [`Cancel`] between steps, so that Ctrl-C unwinds through their
//! guards and every temporary file and child process is cleaned up.
//!
//! The token itself is [`scxray::cancel::Cancel`], the one the matcher uses
//! too; this module only adds the signal handlers, which need `signal-hook`
//! and so stay out of the core crate.

use std::sync::Arc;

pub use scxray::cancel::{Cancel, Cancelled};

/// A token cancelled by the first SIGINT (or SIGTERM). A second one exits the
/// process at once with status 130, for a user who does not want to wait for
/// the cleanup.
pub fn on_interrupt() -> std::io::Result<Cancel> {
    let cancel = Cancel::new();
    let flag = cancel.signal_flag();
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Registered first, so that it sees the flag as it was before this
        // signal: the first signal only sets it, the second one exits.
        signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(flag))?;
        signal_hook::flag::register(signal, Arc::clone(flag))?;
    }
    Ok(cancel)
}
