//! Stopping every vCPU, reading, resuming: what a gdbstub's interrupt and
//! continue give the failure dump under QEMU, done by the VMM itself. The
//! VMM raises the gate and kicks the vCPU threads out of `KVM_RUN`; each
//! parks at the gate before its next entry, leaving its registers there,
//! and waits until the gate is lowered. Guest RAM does not change while
//! every vCPU is parked (no device here writes guest RAM).

use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicU64, Ordering};

use kvm_bindings::kvm_regs;
use kvm_ioctls::VcpuFd;

use super::vcpu;
use super::watchpoint::{self, Watch, WatchError};

#[derive(Debug, Default)]
struct State {
    paused: bool,
    /// vCPUs parked at the gate now.
    parked: usize,
    /// vCPU threads that have ended for good (halted, stopped, failed).
    ended: usize,
    /// Each vCPU's registers as it parked, by index.
    regs: Vec<Option<kvm_regs>>,
}

/// The gate every vCPU thread passes before entering the guest.
#[derive(Debug)]
pub struct PauseGate {
    state: Mutex<State>,
    changed: Condvar,
    vcpus: usize,
}

impl PauseGate {
    pub fn new(vcpus: usize) -> PauseGate {
        PauseGate {
            state: Mutex::new(State {
                regs: vec![None; vcpus],
                ..State::default()
            }),
            changed: Condvar::new(),
            vcpus,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A vCPU thread that panicked holding the lock left plain counters.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Raises the gate: vCPUs park at their next entry. The caller kicks
    /// them out of `KVM_RUN`.
    pub fn raise(&self) {
        let mut s = self.lock();
        s.paused = true;
        s.regs.iter_mut().for_each(|r| *r = None);
    }

    /// Whether every vCPU still running is parked; waits up to `timeout`.
    pub fn wait_parked(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        let mut s = self.lock();
        loop {
            if s.parked + s.ended >= self.vcpus {
                return true;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            s = self
                .changed
                .wait_timeout(s, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The registers parked vCPUs left, by index (`None`: not parked).
    pub fn regs(&self) -> Vec<Option<kvm_regs>> {
        self.lock().regs.clone()
    }

    /// Lowers the gate: parked vCPUs go on.
    pub fn lower(&self) {
        self.lock().paused = false;
        self.changed.notify_all();
    }

    pub fn is_raised(&self) -> bool {
        self.lock().paused
    }

    /// Called by vCPU `index` before each entry: parks while the gate is
    /// up (reading its registers with `regs` once) or until `stopping`
    /// says the VM is going away.
    pub fn pass(
        &self,
        index: usize,
        regs: impl FnOnce() -> Option<kvm_regs>,
        stopping: impl Fn() -> bool,
    ) {
        let mut s = self.lock();
        if !s.paused {
            return;
        }
        drop(s);
        let r = regs();
        s = self.lock();
        if let Some(slot) = s.regs.get_mut(index) {
            *slot = r;
        }
        s.parked += 1;
        self.changed.notify_all();
        // Woken by `lower`; polled for `stopping`, which is an atomic the
        // stopper sets without this lock.
        while s.paused && !stopping() {
            s = self
                .changed
                .wait_timeout(s, Duration::from_millis(5))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        s.parked -= 1;
    }

    /// A vCPU thread ended for good: it no longer counts toward parking.
    pub fn ended(&self) {
        self.lock().ended += 1;
        self.changed.notify_all();
    }
}

/// Pauses and resumes a running VM from any thread (the failure dump runs
/// on the event sink's): the gate, and the vCPU threads to kick. The
/// threads are listed only while they are joinable; once the VM joins
/// them, pausing says the guest is gone instead of signalling a dead
/// thread.
#[derive(Clone)]
pub struct PauseHandle {
    inner: Arc<Pausable>,
}

struct Pausable {
    gate: PauseGate,
    threads: Mutex<Option<Vec<libc::pthread_t>>>,
    /// The watchpoint every vCPU should have, and the first hit.
    watch: Mutex<WatchState>,
    /// Bumped on each change of `watch.want`: a vCPU whose last applied
    /// generation differs applies it before its next entry.
    generation: AtomicU64,
}

#[derive(Debug, Default)]
struct WatchState {
    want: Option<Watch>,
    hit: Option<WatchHit>,
    /// The last error a vCPU met applying `want`.
    error: Option<String>,
}

/// The watchpoint fired: on `vcpu`, the instruction after the write at
/// `rip` (data breakpoints trap after it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchHit {
    pub vcpu: usize,
    pub rip: u64,
}

impl fmt::Debug for PauseHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PauseHandle")
            .field("paused", &self.inner.gate.is_raised())
            .finish()
    }
}

impl PartialEq for PauseHandle {
    fn eq(&self, other: &PauseHandle) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

/// How often a pausing VM re-sends the kick (a signal that lands just
/// before `KVM_RUN` is entered is lost).
const KICK_EVERY: Duration = Duration::from_millis(5);

impl PauseHandle {
    pub fn new(vcpus: usize) -> PauseHandle {
        PauseHandle {
            inner: Arc::new(Pausable {
                gate: PauseGate::new(vcpus),
                threads: Mutex::new(Some(Vec::new())),
                watch: Mutex::new(WatchState::default()),
                generation: AtomicU64::new(0),
            }),
        }
    }

    pub fn gate(&self) -> &PauseGate {
        &self.inner.gate
    }

    fn threads(&self) -> MutexGuard<'_, Option<Vec<libc::pthread_t>>> {
        self.inner.threads.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A vCPU thread started (its `pthread_t`, valid until joined).
    pub fn add_thread(&self, thread: libc::pthread_t) {
        if let Some(t) = self.threads().as_mut() {
            t.push(thread);
        }
    }

    /// Signals every vCPU thread out of `KVM_RUN`; `false` once they have
    /// been joined (the VM is gone).
    pub fn kick(&self) -> bool {
        let threads = self.threads();
        let Some(list) = threads.as_ref() else {
            return false;
        };
        for &t in list {
            // SAFETY: listed threads are not joined yet (`forget_threads`
            // takes this lock before the VM joins them), so each pthread_t
            // is valid; the signal's handler does nothing.
            unsafe { libc::pthread_kill(t, vcpu::kick_signal()) };
        }
        true
    }

    /// Called before the VM joins its vCPU threads.
    pub fn forget_threads(&self) {
        *self.threads() = None;
    }

    /// Stops every vCPU at its next entry and waits up to `timeout` until
    /// all have parked; their registers by index. Guest RAM holds still
    /// until [`resume`](Self::resume). On a timeout the guest is let go.
    pub fn pause(&self, timeout: Duration) -> Result<Vec<Option<kvm_regs>>, PauseError> {
        let gate = &self.inner.gate;
        gate.raise();
        let until = Instant::now() + timeout;
        loop {
            if !self.kick() {
                gate.lower();
                return Err(PauseError::Gone);
            }
            if gate.wait_parked(KICK_EVERY) {
                return Ok(gate.regs());
            }
            if Instant::now() >= until {
                let parked = gate.regs().iter().filter(|r| r.is_some()).count();
                gate.lower();
                return Err(PauseError::Timeout {
                    timeout,
                    parked,
                    vcpus: gate.vcpus,
                });
            }
        }
    }

    /// Lets paused vCPUs go on.
    pub fn resume(&self) {
        self.inner.gate.lower();
    }

    fn watch_state(&self) -> MutexGuard<'_, WatchState> {
        self.inner.watch.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Watches `watch` for writes on every vCPU (`None`: no watchpoint),
    /// clearing a hit. Each vCPU applies it before its next entry: a
    /// running guest is paused and resumed so that all have when this
    /// returns; a paused one applies it as it resumes.
    pub fn set_watch(&self, watch: Option<Watch>, timeout: Duration) -> Result<(), PauseError> {
        if let Some(w) = watch {
            watchpoint::dr7_write(w.addr, w.len).map_err(PauseError::Watch)?;
        }
        {
            let mut s = self.watch_state();
            s.want = watch;
            s.hit = None;
            s.error = None;
        }
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        if self.inner.gate.is_raised() {
            return Ok(());
        }
        self.pause(timeout)?;
        self.resume();
        match self.watch_state().error.take() {
            Some(e) => Err(PauseError::Debug(e)),
            None => Ok(()),
        }
    }

    /// The watchpoint's hit, once: the gate is up and the vCPUs are
    /// parking (wait with [`PauseGate::wait_parked`] before reading).
    pub fn take_hit(&self) -> Option<WatchHit> {
        self.watch_state().hit.take()
    }

    /// vCPU `index` met the watchpoint at `rip`: raise the gate and kick
    /// the others (the first hit wins; the vCPU parks at its next entry).
    pub fn hit(&self, index: usize, rip: u64) {
        {
            let mut s = self.watch_state();
            if s.hit.is_none() {
                s.hit = Some(WatchHit { vcpu: index, rip });
            }
        }
        self.inner.gate.raise();
        self.kick();
    }

    /// Applies a changed watchpoint to `vcpu` (its thread's own fd) when
    /// the generation moved past `applied`.
    pub fn apply_watch(&self, vcpu: &VcpuFd, applied: &mut u64) {
        let now = self.inner.generation.load(Ordering::Acquire);
        if now == *applied {
            return;
        }
        *applied = now;
        let want = self.watch_state().want;
        let result = watchpoint::guest_debug(want)
            .map_err(|e| e.to_string())
            .and_then(|d| {
                vcpu.set_guest_debug(&d)
                    .map_err(|e| format!("KVM_SET_GUEST_DEBUG: {e}"))
            });
        if let Err(e) = result {
            self.watch_state().error = Some(e);
        }
    }
}

/// Why the guest could not be paused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PauseError {
    #[error("the guest is gone (its vCPU threads were joined)")]
    Gone,
    #[error(transparent)]
    Watch(WatchError),
    #[error("setting the watchpoint: {0}")]
    Debug(String),
    #[error("{parked} of {vcpus} vCPUs parked within {timeout:?} of being kicked; the guest was let go on")]
    Timeout {
        timeout: Duration,
        parked: usize,
        vcpus: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    /// Two "vCPU" threads looping through the gate: raised, both park and
    /// leave their registers; lowered, both go on; a third that ended
    /// does not hold up the wait.
    #[test]
    fn raise_parks_every_vcpu_and_lower_releases_them() {
        let gate = Arc::new(PauseGate::new(3));
        let stop = Arc::new(AtomicBool::new(false));
        let entries = Arc::new(std::sync::atomic::AtomicU64::new(0));
        gate.ended();
        let threads: Vec<_> = (0..2)
            .map(|i| {
                let (gate, stop, entries) = (gate.clone(), stop.clone(), entries.clone());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Acquire) {
                        gate.pass(
                            i,
                            || {
                                Some(kvm_regs {
                                    rip: 0x1000 + i as u64,
                                    ..Default::default()
                                })
                            },
                            || stop.load(Ordering::Acquire),
                        );
                        entries.fetch_add(1, Ordering::Relaxed);
                        std::thread::sleep(Duration::from_micros(100));
                    }
                })
            })
            .collect();
        gate.raise();
        assert!(gate.wait_parked(Duration::from_secs(5)));
        let rips: Vec<_> = gate.regs().iter().map(|r| r.map(|r| r.rip)).collect();
        assert_eq!(rips, vec![Some(0x1000), Some(0x1001), None]);
        let before = entries.load(Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(entries.load(Ordering::Relaxed), before, "parked");
        gate.lower();
        let t = Instant::now();
        while entries.load(Ordering::Relaxed) == before && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(entries.load(Ordering::Relaxed) > before, "released");
        // Raised again, a stop releases the parked threads too.
        gate.raise();
        assert!(gate.wait_parked(Duration::from_secs(5)));
        stop.store(true, Ordering::Release);
        for t in threads {
            t.join().unwrap();
        }
    }

    #[test]
    fn a_handle_whose_threads_were_joined_says_the_guest_is_gone() {
        let h = PauseHandle::new(1);
        h.forget_threads();
        assert_eq!(h.pause(Duration::from_secs(1)), Err(PauseError::Gone));
        assert!(!h.gate().is_raised(), "lowered again");
        let timeout = PauseHandle::new(1).pause(Duration::from_millis(10));
        assert!(
            matches!(
                timeout,
                Err(PauseError::Timeout {
                    parked: 0,
                    vcpus: 1,
                    ..
                })
            ),
            "{timeout:?}"
        );
    }

    #[test]
    fn waiting_for_a_vcpu_that_never_parks_times_out() {
        let gate = PauseGate::new(1);
        gate.raise();
        assert!(!gate.wait_parked(Duration::from_millis(10)));
        gate.ended();
        assert!(gate.wait_parked(Duration::from_millis(10)));
    }
}
