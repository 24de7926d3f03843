//! Cooperative cancellation: a flag that long operations (kernel fetch, later
//! VM runs) check between steps, so that Ctrl-C unwinds through their guards
//! and every temporary file and child process is cleaned up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A cloneable cancellation flag. Cancelling is sticky.
#[derive(Clone, Debug, Default)]
pub struct Cancel(Arc<AtomicBool>);

/// Returned by [`Cancel::check`] once the flag is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cancelled (Ctrl-C)")]
pub struct Cancelled;

impl Cancel {
    /// A flag that is not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// A flag set by the first SIGINT (or SIGTERM). A second one exits the
    /// process at once with status 130, for a user who does not want to wait
    /// for the cleanup.
    pub fn on_interrupt() -> std::io::Result<Self> {
        let cancel = Self::new();
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            // Registered first, so that it sees the flag as it was before this
            // signal: the first signal only sets it, the second one exits.
            signal_hook::flag::register_conditional_shutdown(signal, 130, Arc::clone(&cancel.0))?;
            signal_hook::flag::register(signal, Arc::clone(&cancel.0))?;
        }
        Ok(cancel)
    }

    /// Sets the flag.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether the flag is set.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// `Err(Cancelled)` once the flag is set.
    pub fn check(&self) -> Result<(), Cancelled> {
        if self.is_cancelled() {
            Err(Cancelled)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_flag() {
        let a = Cancel::new();
        let b = a.clone();
        assert!(a.check().is_ok());
        b.cancel();
        assert!(a.is_cancelled());
        assert_eq!(a.check(), Err(Cancelled));
    }
}
