//! One cooperative cancellation token for every long job in scxray: a matcher
//! search superseded by a newer keystroke, a kernel fetch or a VM run stopped
//! by Ctrl-C.
//!
//! Polling is one atomic load, cheap enough for a search to check between
//! matches. Poll loops that wait (for a child process, a file, a deadline)
//! sleep through [`Cancel::sleep_or_cancel`], which [`Cancel::cancel`] wakes
//! at once instead of after a fixed tick. A signal handler may only store to an
//! atomic, so it sets [`Cancel::signal_flag`] directly; a sleeper notices that
//! within [`SIGNAL_POLL`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Longest a [`Cancel::sleep_or_cancel`] sleeps between looks at the flag, for
/// a flag set behind [`Cancel::cancel`]'s back (by a signal handler).
pub const SIGNAL_POLL: Duration = Duration::from_millis(20);

/// A cloneable cancellation token. Clones share one flag; cancelling is
/// sticky.
#[derive(Clone, Debug, Default)]
pub struct Cancel {
    flag: Arc<AtomicBool>,
    wake: Arc<Wake>,
}

/// Sleepers wait on the condvar; the mutex only orders a sleeper's last look
/// at the flag before it waits against [`Cancel::cancel`]'s notify.
#[derive(Debug, Default)]
struct Wake {
    lock: Mutex<()>,
    cond: Condvar,
}

/// Returned by [`Cancel::check`] once the token is cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cancelled")]
pub struct Cancelled;

impl Cancel {
    /// A token that is not cancelled.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Cancels every clone and wakes their sleepers.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
        // Taken so that a sleeper between its look at the flag and its wait
        // cannot miss the notify.
        let _guard = self
            .wake
            .lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.wake.cond.notify_all();
    }

    /// Whether the token is cancelled: one atomic load.
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    /// `Err(Cancelled)` once the token is cancelled.
    pub fn check(&self) -> Result<(), Cancelled> {
        if self.is_cancelled() {
            Err(Cancelled)
        } else {
            Ok(())
        }
    }

    /// Sleeps for `duration`, or less when the token is (or becomes)
    /// cancelled. Returns whether it is cancelled.
    pub fn sleep_or_cancel(&self, duration: Duration) -> bool {
        let deadline = Instant::now() + duration;
        let mut guard = self
            .wake
            .lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            if self.is_cancelled() {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            let slice = (deadline - now).min(SIGNAL_POLL);
            guard = self
                .wake
                .cond
                .wait_timeout(guard, slice)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// The flag itself, for a signal handler (`signal_hook::flag::register`),
    /// which may do nothing but store `true` to an atomic. Setting it is seen
    /// by [`is_cancelled`](Cancel::is_cancelled) at once and by a sleeper
    /// within [`SIGNAL_POLL`]; everything else calls [`cancel`](Cancel::cancel).
    pub fn signal_flag(&self) -> &Arc<AtomicBool> {
        &self.flag
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

    #[test]
    fn sleep_runs_its_course_when_not_cancelled() {
        let c = Cancel::new();
        let start = Instant::now();
        assert!(!c.sleep_or_cancel(Duration::from_millis(30)));
        assert!(start.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn cancel_wakes_a_long_sleep() {
        let c = Cancel::new();
        let sleeper = c.clone();
        let start = Instant::now();
        let t = std::thread::spawn(move || sleeper.sleep_or_cancel(Duration::from_secs(60)));
        std::thread::sleep(Duration::from_millis(20));
        c.cancel();
        assert!(t.join().expect("sleeper"));
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_signal_flag_store_ends_a_sleep() {
        let c = Cancel::new();
        let sleeper = c.clone();
        let t = std::thread::spawn(move || sleeper.sleep_or_cancel(Duration::from_secs(60)));
        std::thread::sleep(Duration::from_millis(20));
        c.signal_flag().store(true, Ordering::SeqCst);
        assert!(t.join().expect("sleeper"));
    }

    #[test]
    fn a_cancelled_token_does_not_sleep() {
        let c = Cancel::new();
        c.cancel();
        let start = Instant::now();
        assert!(c.sleep_or_cancel(Duration::from_secs(60)));
        assert!(start.elapsed() < Duration::from_secs(1));
    }
}
