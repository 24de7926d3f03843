//! The failure dump: freeze the guest the instant the kernel claims an
//! error exit, walk its sched_ext state from the host, resume it.
//!
//! Through QEMU's gdbstub (a private unix socket) a write watchpoint is set
//! on the live scheduler's `scx_sched.exit_kind`, found from `scx_root`
//! with the monitor's symbols and BTF, and moved when another scheduler
//! attaches. The stub is all-stop: when the watchpoint fires every vCPU is
//! stopped, at the `cmpxchg` in `scx_claim_exit()`, before the kernel
//! formats its message or dumps anything. An error-class kind (1024 and up)
//! is walked ([`walk`]); a clean unregister just lets the guest go on. The
//! watchpoint is removed and the stub detached before the guest resumes, so
//! the kernel's own dump and exit happen as without scxray.
//!
//! Where no watchpoint can be set (no `exit_kind` in the kernel's BTF, a
//! stub that refuses), the guest is stopped from the host at the first sign
//! of the exit instead, and the dump says how late that was. The own VMM
//! has no gdbstub: it sets the same watchpoint in the vCPUs' debug
//! registers and stops them itself ([`PauseHandle`]), late stop included.
//!
//! [`Freezer`] is driven from the run's event loop like the monitor:
//! [`Freezer::started`], [`Freezer::poll`] on every event, and
//! [`Freezer::exit_seen`] when the guest reports the scheduler gone.

mod layout;
mod maps;
pub mod walk;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use scxray::btf::Btf;
use scxray::failure_dump::{FailureDump, Trigger, VcpuRegs};

use kvm_bindings::kvm_regs;

use crate::gdb::{GdbClient, Stop};
use crate::kvm::pause::{PauseHandle, WatchHit};
use crate::kvm::watchpoint::Watch;
use crate::monitor::{GuestView, Monitor};
pub use layout::WalkLayout;
use walk::{GuestMem, Limits, Roots};

/// `SCX_EXIT_ERROR` and above are errors; below, a clean exit.
const ERROR_CLASS: u32 = 1024;
/// `SCX_EXIT_NONE`: what a scheduler being set up writes; no exit at all.
const SCX_EXIT_NONE: u32 = 0;
/// How long the walk may keep the guest frozen.
const WALK_BUDGET: Duration = Duration::from_millis(150);
/// How long a connect or a stop may take before freezing is given up.
const GDB_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the own VMM's vCPUs get to park.
const PAUSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Set to `off` to never set the watchpoint (the late stop is used): for
/// tests of that path, and a way out should a watchpoint misbehave.
pub const WATCH_ENV: &str = "SCXRAY_FREEZE_WATCH";

/// What the freezer is doing.
enum State {
    /// Not used in this run, or given up: said once in the notes.
    Off,
    /// Waiting for the gdbstub and a scheduler to watch.
    Idle,
    /// The watchpoint is on `sched`'s `exit_kind` at `addr`.
    Armed { sched: u64, addr: u64 },
    /// A dump was taken: nothing more in this guest.
    Done,
}

/// The failure dump of one guest.
pub struct Freezer {
    state: State,
    layout: Result<WalkLayout, String>,
    /// The kernel's BTF and `struct sched_ext_entity`'s id in it.
    btf: Option<(Btf, u32)>,
    /// Whether the watchpoint may be used (else only the late stop).
    watch: bool,
    socket: Option<PathBuf>,
    client: Option<GdbClient>,
    /// The own VMM's pause, for a guest without a gdbstub.
    pause: Option<PauseHandle>,
    /// A scheduler that exited cleanly: not watched again.
    exited: Option<u64>,
    /// The kind of that clean exit, until another scheduler is watched:
    /// the guest then reporting the scheduler gone is no error to dump.
    clean_exit: Option<u32>,
    notes: VecDeque<String>,
}

impl Freezer {
    /// A freezer for a guest whose kernel's BTF is `btf` (or inside
    /// `vmlinux`); `enabled` false (`--no-freeze`) turns it off.
    pub fn new(btf: Option<&Path>, vmlinux: Option<&Path>, enabled: bool) -> Freezer {
        let loaded = match enabled {
            true => crate::monitor::load_btf(btf, vmlinux)
                .map(|(b, _)| b)
                .map_err(|e| e.to_string()),
            false => Err(String::new()),
        };
        Freezer::with_btf(loaded, enabled)
    }

    /// [`Freezer::new`] on BTF already loaded (the monitor's: see
    /// [`crate::monitor::Monitor::with_btf`]), or why there is none.
    pub fn with_btf(loaded: Result<Btf, String>, enabled: bool) -> Freezer {
        let loaded = match enabled {
            true => loaded,
            false => Err("off (--no-freeze)".into()),
        };
        let layout = loaded.as_ref().map_err(Clone::clone).and_then(|b| {
            WalkLayout::from_btf(b).map_err(|why| format!("this kernel's BTF lacks {why}"))
        });
        let btf = loaded.ok().and_then(|b| {
            let id = b.struct_id("sched_ext_entity").ok()?;
            Some((b, id))
        });
        let mut f = Freezer {
            state: State::Off,
            layout,
            btf,
            watch: std::env::var(WATCH_ENV).as_deref() != Ok("off"),
            socket: None,
            client: None,
            pause: None,
            exited: None,
            clean_exit: None,
            notes: VecDeque::new(),
        };
        if let Err(why) = &f.layout {
            if enabled {
                f.notes.push_back(format!(
                    "failure dump off: {why}; the run goes on without it"
                ));
            }
        }
        f
    }

    /// Whether the guest needs a gdbstub for this freezer.
    pub fn wants_stub(&self) -> bool {
        self.layout.is_ok()
    }

    /// A guest started with its gdbstub at `socket`, or (the own VMM)
    /// with a `pause` for the late stop; neither: no freeze.
    pub fn started(&mut self, socket: Option<&Path>, pause: Option<PauseHandle>) {
        self.client = None;
        self.exited = None;
        self.clean_exit = None;
        self.socket = socket.map(Path::to_path_buf);
        let stoppable = socket.is_some() || pause.is_some();
        self.pause = pause;
        self.state = match (&self.layout, stoppable) {
            (Ok(_), true) => State::Idle,
            _ => State::Off,
        };
    }

    /// The next note for the run's diagnostics.
    pub fn take_note(&mut self) -> Option<String> {
        self.notes.pop_front()
    }

    fn give_up(&mut self, why: String) {
        self.notes.push_back(format!(
            "failure dump off: {why}; the run goes on without it"
        ));
        // Dropping the client detaches: the guest runs on.
        self.client = None;
        if let Some(p) = self.vmm_pause() {
            let _ = p.set_watch(None, PAUSE_TIMEOUT);
            p.resume();
        }
        self.state = State::Off;
    }

    /// Connects to the stub (which stops the guest) and leaves it stopped.
    fn connect(&mut self) -> Result<&mut GdbClient, String> {
        if self.client.is_none() {
            let path = self.socket.clone().ok_or("no gdbstub")?;
            let c = GdbClient::connect(&path, GDB_TIMEOUT).map_err(|e| e.to_string())?;
            self.client = Some(c);
        }
        let c = self.client.as_mut().ok_or("no gdbstub")?;
        if c.is_running() {
            c.interrupt(GDB_TIMEOUT).map_err(|e| e.to_string())?;
        }
        Ok(c)
    }

    /// Watches the live scheduler's `exit_kind`, moving the watchpoint
    /// when `scx_root` changes.
    fn arm(&mut self, view: &GuestView<'_>) {
        let Ok(layout) = &self.layout else { return };
        let Some(root) = view.syms.scx_root else {
            return self.give_up("kernel symbol scx_root not found".into());
        };
        let sched = match view.u64(root) {
            Ok(s) => s,
            Err(e) => return self.give_up(format!("scx_root cannot be read: {e}")),
        };
        let armed = match self.state {
            State::Armed { sched, .. } => Some(sched),
            _ => None,
        };
        if armed == Some(sched) || (armed.is_none() && (sched == 0 || self.exited == Some(sched))) {
            return;
        }
        let addr = sched.wrapping_add(layout.exit_kind);
        let old = match self.state {
            State::Armed { addr, .. } => Some(addr),
            _ => None,
        };
        let watch_new = sched != 0 && self.exited != Some(sched);
        let vmm = self.vmm_pause();
        let result = if let Some(p) = &vmm {
            let watch = watch_new.then_some(Watch { addr, len: 4 });
            p.set_watch(watch, PAUSE_TIMEOUT)
                .map_err(|e| format!("the own VMM could not set the watchpoint: {e}"))
        } else {
            self.gdb_watch(old, watch_new.then_some(addr))
        };
        match result {
            Ok(()) if watch_new => {
                self.state = State::Armed { sched, addr };
                self.clean_exit = None;
                let how = match vmm {
                    Some(_) => "the own VMM's debug registers",
                    None => "QEMU's gdbstub",
                };
                self.notes.push_back(format!(
                    "failure dump: watching scx_sched.exit_kind at {addr:#x} (write watchpoint through {how})"
                ));
            }
            Ok(()) => self.state = State::Idle,
            // Connected but no watchpoint: the guest is stopped late, when
            // the exit is seen, as without one.
            Err(why) if self.client.is_some() || vmm.is_some() => self.no_watch(why),
            Err(why) => self.give_up(why),
        }
    }

    /// The own VMM's pause, for a guest without a gdbstub.
    fn vmm_pause(&self) -> Option<PauseHandle> {
        self.pause.clone().filter(|_| self.socket.is_none())
    }

    /// Through the gdbstub: the watchpoint off `old`, on `new`, the guest
    /// resumed.
    fn gdb_watch(&mut self, old: Option<u64>, new: Option<u64>) -> Result<(), String> {
        (|| -> Result<(), String> {
            let c = self.connect()?;
            if let Some(old) = old {
                c.remove_write_watchpoint(old, 4)
                    .map_err(|e| e.to_string())?;
            }
            if let Some(addr) = new {
                c.set_write_watchpoint(addr, 4)
                    .map_err(|e| format!("the gdbstub refused the watchpoint: {e}"))?;
            }
            c.resume().map_err(|e| e.to_string())
        })()
    }

    /// Goes on without the watchpoint: the late stop stays.
    fn no_watch(&mut self, why: String) {
        self.notes.push_back(format!(
            "failure dump: no watchpoint ({why}); the guest will be stopped when the exit is seen, later than the error"
        ));
        self.watch = false;
        self.state = State::Idle;
        if let Some(c) = self.client.as_mut() {
            if !c.is_running() && c.resume().is_err() {
                self.give_up("the gdbstub cannot resume the guest".into());
            }
        }
    }

    /// Checks for a stop, and (re)arms when the scheduler changed. A dump
    /// when the watchpoint caught an error exit.
    pub fn poll(&mut self, monitor: &Monitor, at_ms: u64) -> Option<FailureDump> {
        // The watchpoint needs a gdbstub; the own VMM's guests get the late
        // stop only.
        if matches!(self.state, State::Off | State::Done) || !self.watch {
            return None;
        }
        let view = monitor.view()?;
        if let (State::Armed { sched, addr }, Some(p)) = (&self.state, self.vmm_pause()) {
            let (sched, addr) = (*sched, *addr);
            if let Some(hit) = p.take_hit() {
                let mut d = self.stopped_vmm(&view, &p, hit, sched, addr, at_ms)?;
                symbolize(monitor, &mut d);
                return Some(d);
            }
        } else if let State::Armed { sched, addr } = self.state {
            let stop = match self.client.as_mut().map(GdbClient::try_stop) {
                Some(Ok(s)) => s,
                Some(Err(e)) => {
                    self.give_up(format!("the gdbstub failed: {e}"));
                    return None;
                }
                None => None,
            };
            if let Some(stop) = stop {
                let mut d = self.stopped(&view, stop, sched, addr, at_ms)?;
                symbolize(monitor, &mut d);
                return Some(d);
            }
        }
        self.arm(&view);
        None
    }

    /// The guest stopped while the watchpoint was on `sched`.
    fn stopped(
        &mut self,
        view: &GuestView<'_>,
        stop: Stop,
        sched: u64,
        addr: u64,
        at_ms: u64,
    ) -> Option<FailureDump> {
        let frozen = Instant::now();
        let kind = view.u32(addr).ok();
        let c = self.client.as_mut()?;
        match &stop {
            Stop::Exited { .. } | Stop::Killed { .. } => {
                self.give_up("the guest ended under the gdbstub".into());
                return None;
            }
            // A stop that is not the watchpoint's: go on watching.
            Stop::Signal { watch: None, .. } => {
                if let Err(e) = c.resume() {
                    self.give_up(format!("the gdbstub failed: {e}"));
                }
                return None;
            }
            Stop::Signal { .. } => {}
        }
        if kind == Some(SCX_EXIT_NONE) {
            // Not an exit: a write of SCX_EXIT_NONE (the scheduler being
            // set up). Watch on for the real one; say where, should an
            // exit ever be missed this way.
            let rip = match &stop {
                Stop::Signal {
                    thread: Some(t), ..
                } => c.registers(*t).ok().map(|r| r.rip),
                _ => None,
            };
            self.notes.push_back(format!(
                "failure dump: the watchpoint saw exit_kind written as SCX_EXIT_NONE{}, not an exit; watching on",
                rip.map(|r| format!(" at rip {r:#x}")).unwrap_or_default()
            ));
            let c = self.client.as_mut()?;
            if let Err(e) = c.resume() {
                self.give_up(format!("the gdbstub failed: {e}"));
            }
            return None;
        }
        if kind.is_none_or(|k| k < ERROR_CLASS) {
            // A clean exit: the scheduler is leaving and its memory will
            // be freed; stop watching it.
            let r = c.remove_write_watchpoint(addr, 4).and_then(|_| c.resume());
            self.left_cleanly(
                sched,
                kind,
                r.map_err(|e| format!("the gdbstub failed: {e}")),
            );
            return None;
        }
        let mut d = self.take_dump(view, frozen, at_ms);
        let rip = stop_rip(&d, &stop);
        self.caught(&mut d, addr, rip, kind);
        // Off the watchpoint, detached: the kernel goes on with its exit.
        let resumed = self
            .client
            .take()
            .map(|mut c| c.remove_write_watchpoint(addr, 4).and_then(|_| c.detach()));
        d.frozen_us = frozen.elapsed().as_micros() as u64;
        if let Some(Err(e)) = resumed {
            d.skipped.push(format!("resuming through the gdbstub: {e}"));
        }
        self.state = State::Done;
        Some(d)
    }

    /// The watchpoint saw `sched` exit cleanly (`kind`) and the guest was
    /// let go (`resumed`): stop watching it; its memory will be freed.
    fn left_cleanly(&mut self, sched: u64, kind: Option<u32>, resumed: Result<(), String>) {
        self.exited = Some(sched);
        self.clean_exit = kind;
        self.state = State::Idle;
        if let Err(why) = resumed {
            self.give_up(why);
        }
    }

    /// `d` was taken at the watchpoint on `addr`, hit at `rip`, with the
    /// error `kind`.
    fn caught(&self, d: &mut FailureDump, addr: u64, rip: Option<u64>, kind: Option<u32>) {
        d.trigger = Trigger::Watchpoint {
            address: addr,
            rip,
            rip_symbol: None,
        };
        d.exit_kind = kind;
        if let (Some(k), Ok(l)) = (kind, &self.layout) {
            d.exit_kind_name = l.exit_kind_name(k);
        }
    }

    /// The own VMM stopped every vCPU at the watchpoint on `sched`.
    fn stopped_vmm(
        &mut self,
        view: &GuestView<'_>,
        p: &PauseHandle,
        hit: WatchHit,
        sched: u64,
        addr: u64,
        at_ms: u64,
    ) -> Option<FailureDump> {
        let frozen = Instant::now();
        if !p.gate().wait_parked(PAUSE_TIMEOUT) {
            p.resume();
            self.give_up("the own VMM's vCPUs did not all stop at the watchpoint".into());
            return None;
        }
        let kind = view.u32(addr).ok();
        if kind == Some(SCX_EXIT_NONE) {
            // Not an exit (see `stopped`): watch on.
            p.resume();
            return None;
        }
        if kind.is_none_or(|k| k < ERROR_CLASS) {
            // A clean exit: stop watching this scheduler, go on.
            let r = p.set_watch(None, PAUSE_TIMEOUT);
            p.resume();
            self.left_cleanly(
                sched,
                kind,
                r.map_err(|e| format!("the own VMM could not remove the watchpoint: {e}")),
            );
            return None;
        }
        let mut d = self.take_dump(view, frozen, at_ms);
        d.vcpus = paused_vcpus(&p.gate().regs());
        self.caught(&mut d, addr, Some(hit.rip), kind);
        // Off the watchpoint (applied as the vCPUs resume): the kernel goes
        // on with its exit.
        if let Err(e) = p.set_watch(None, PAUSE_TIMEOUT) {
            d.skipped.push(format!("removing the watchpoint: {e}"));
        }
        p.resume();
        d.frozen_us = frozen.elapsed().as_micros() as u64;
        self.state = State::Done;
        Some(d)
    }

    /// The scheduler is gone (the guest said so) with no watchpoint stop:
    /// stop the guest now, late, and dump what is left.
    pub fn exit_seen(&mut self, monitor: &Monitor, at_ms: u64, why: &str) -> Option<FailureDump> {
        if !matches!(self.state, State::Idle | State::Armed { .. }) {
            return None;
        }
        // A watchpoint stop may be waiting: that one is the dump.
        if matches!(self.state, State::Armed { .. }) && self.watch {
            if let Some(d) = self.poll(monitor, at_ms) {
                return Some(d);
            }
        }
        // The watchpoint saw the scheduler leave cleanly (it ended or was
        // unregistered without an error): nothing to freeze for.
        if let Some(kind) = self.clean_exit {
            let name = self
                .layout
                .as_ref()
                .ok()
                .and_then(|l| l.exit_kind_name(kind))
                .unwrap_or_default();
            self.notes.push_back(format!(
                "failure dump: none taken: the scheduler's exit kind was {kind} {name}, a clean exit, not an error"
            ));
            self.state = State::Done;
            return None;
        }
        let Some(view) = monitor.view() else {
            self.notes.push_back(format!(
                "failure dump: none taken ({why}): guest memory could not be read then (the host monitor was not running)"
            ));
            self.state = State::Done;
            return None;
        };
        let seen = Instant::now();
        let pause = self.pause.clone().filter(|_| self.socket.is_none());
        let paused_regs = match &pause {
            Some(p) => match p.pause(PAUSE_TIMEOUT) {
                Ok(regs) => Some(regs),
                Err(e) => {
                    self.give_up(format!("cannot pause the guest: {e}"));
                    return None;
                }
            },
            None => {
                if let Err(e) = self.connect() {
                    self.give_up(format!("cannot stop the guest: {e}"));
                    return None;
                }
                None
            }
        };
        let frozen = Instant::now();
        let mut d = self.take_dump(&view, frozen, at_ms);
        if let Some(regs) = paused_regs {
            d.vcpus = paused_vcpus(&regs);
        }
        d.trigger = Trigger::Late {
            why: if pause.is_some() {
                format!("{why}; paused by the own VMM, no watchpoint caught it")
            } else if self.watch {
                format!("{why}; no watchpoint caught it")
            } else {
                format!("{why}; the watchpoint was off ({WATCH_ENV}=off)")
            },
            late_ms: seen.elapsed().as_millis() as u64,
        };
        if let Some(p) = &pause {
            // A watchpoint left on a freed scheduler could fire later and
            // park the guest with nobody to resume it.
            if let Err(e) = p.set_watch(None, PAUSE_TIMEOUT) {
                d.skipped.push(format!("removing the watchpoint: {e}"));
            }
            p.resume();
        }
        if let Some(c) = self.client.take() {
            if let Err(e) = c.detach() {
                d.skipped.push(format!("resuming through the gdbstub: {e}"));
            }
        }
        d.frozen_us = frozen.elapsed().as_micros() as u64;
        self.state = State::Done;
        symbolize(monitor, &mut d);
        Some(d)
    }

    /// Registers and the walk of the stopped guest.
    fn take_dump(&mut self, view: &GuestView<'_>, frozen: Instant, at_ms: u64) -> FailureDump {
        let Ok(layout) = &self.layout else {
            return FailureDump::default();
        };
        let mut vcpus = Vec::new();
        let mut skipped = Vec::new();
        if let Some(c) = self.client.as_mut() {
            match c.threads() {
                Ok(threads) => {
                    for (cpu, t) in threads.into_iter().enumerate() {
                        match c.registers(t) {
                            Ok(r) => vcpus.push(VcpuRegs {
                                cpu: cpu as u32,
                                rip: r.rip,
                                rip_symbol: None,
                                rsp: r.rsp(),
                                rflags: r.rflags,
                                gprs: r
                                    .named_gprs()
                                    .filter(|(n, _)| *n != "rsp")
                                    .map(|(n, v)| (n.to_string(), v))
                                    .collect(),
                            }),
                            Err(e) => skipped.push(format!("vCPU {cpu}'s registers: {e}")),
                        }
                    }
                }
                Err(e) => skipped.push(format!("vCPU registers: {e}")),
            }
        }
        let roots = Roots {
            rqs: view
                .per_cpu
                .iter()
                .map(|off| view.syms.runqueues.wrapping_add(*off))
                .collect(),
            per_cpu: view.per_cpu.to_vec(),
            scx_tasks: view.syms.scx_tasks,
            jiffies_64: view.syms.jiffies_64,
            prog_aux: view.struct_ops_aux(),
        };
        let started = Instant::now();
        let limits = Limits {
            tasks: 512,
            per_dsq: 64,
            map_entries: 16,
            value_bytes: 64 << 10,
            deadline: frozen + WALK_BUDGET,
        };
        let scx_type = self.btf.as_ref().map(|(b, id)| (b, *id));
        let mut d = walk::walk(view, layout, &roots, limits, scx_type);
        d.walk_us = started.elapsed().as_micros() as u64;
        d.at_ms = at_ms;
        d.vcpus = vcpus;
        skipped.append(&mut d.skipped);
        d.skipped = skipped;
        d
    }
}

/// Parked vCPUs' registers, by index, as the dump shows them.
fn paused_vcpus(regs: &[Option<kvm_regs>]) -> Vec<VcpuRegs> {
    regs.iter()
        .enumerate()
        .filter_map(|(cpu, r)| Some(vcpu_regs(cpu as u32, r.as_ref()?)))
        .collect()
}

/// A paused vCPU's registers as the dump shows them (the gdbstub's
/// names and order, RSP apart).
fn vcpu_regs(cpu: u32, r: &kvm_regs) -> VcpuRegs {
    let gprs = [
        ("rax", r.rax),
        ("rbx", r.rbx),
        ("rcx", r.rcx),
        ("rdx", r.rdx),
        ("rsi", r.rsi),
        ("rdi", r.rdi),
        ("rbp", r.rbp),
        ("r8", r.r8),
        ("r9", r.r9),
        ("r10", r.r10),
        ("r11", r.r11),
        ("r12", r.r12),
        ("r13", r.r13),
        ("r14", r.r14),
        ("r15", r.r15),
    ];
    VcpuRegs {
        cpu,
        rip: r.rip,
        rip_symbol: None,
        rsp: r.rsp,
        rflags: r.rflags,
        gprs: gprs.iter().map(|(n, v)| (n.to_string(), *v)).collect(),
    }
}

/// Names the vCPUs' instruction pointers (after the guest resumed: the
/// kallsyms tables are read-only, and the decode takes milliseconds).
fn symbolize(monitor: &Monitor, d: &mut FailureDump) {
    let mut addrs: Vec<u64> = d.vcpus.iter().map(|v| v.rip).collect();
    if let Trigger::Watchpoint { rip: Some(rip), .. } = &d.trigger {
        addrs.push(*rip);
    }
    let Some(names) = monitor.symbolize(&addrs) else {
        return;
    };
    for (v, name) in d.vcpus.iter_mut().zip(&names) {
        v.rip_symbol = name.clone();
    }
    if let Trigger::Watchpoint { rip_symbol, .. } = &mut d.trigger {
        *rip_symbol = names.get(d.vcpus.len()).cloned().flatten();
    }
}

/// The instruction pointer of the vCPU that hit the watchpoint.
fn stop_rip(d: &FailureDump, stop: &Stop) -> Option<u64> {
    let Stop::Signal {
        thread: Some(t), ..
    } = stop
    else {
        return None;
    };
    // QEMU numbers vCPU threads from 1 in CPU order.
    let cpu = usize::try_from(t.tid).ok()?.checked_sub(1)?;
    d.vcpus.get(cpu).map(|v| v.rip)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Valid BTF that holds no type at all.
    const EMPTY_BTF: [u8; 25] = [
        0x9f, 0xeb, 1, 0, 24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0,
    ];

    /// A kernel whose BTF lacks the layout, or no BTF: off, with a note
    /// naming what is missing, and no gdbstub asked of the guest;
    /// `--no-freeze`: off without one.
    #[test]
    fn without_the_layout_it_is_off_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("btf");
        std::fs::write(&path, EMPTY_BTF).unwrap();
        let mut f = Freezer::new(Some(&path), None, true);
        assert!(!f.wants_stub());
        let note = f.take_note().unwrap();
        assert!(
            note.starts_with("failure dump off: this kernel's BTF lacks task_struct.pid: ")
                && note.ends_with("; the run goes on without it"),
            "{note}"
        );
        f.started(Some(Path::new("/nonexistent/gdb.sock")), None);
        assert!(matches!(f.state, State::Off));

        let mut f = Freezer::new(Some(&path), None, false);
        assert!(!f.wants_stub());
        assert_eq!(f.take_note(), None);

        let missing = dir.path().join("missing");
        let mut f = Freezer::new(Some(&missing), None, true);
        let note = f.take_note().unwrap();
        assert!(note.contains(&*missing.to_string_lossy()), "{note}");
    }

    /// An idle freezer with the synthetic guest's layout, watchpoint on.
    fn with_layout() -> Freezer {
        Freezer {
            state: State::Off,
            layout: Ok(walk::tests::layout()),
            btf: None,
            watch: true,
            socket: None,
            client: None,
            pause: None,
            exited: None,
            clean_exit: None,
            notes: VecDeque::new(),
        }
    }

    /// The own VMM's path, without KVM: a handle whose vCPUs count as
    /// parked (none run), a monitored synthetic guest with a scheduler.
    /// Armed through the debug registers; a hit that reads SCX_EXIT_NONE
    /// watches on; a hit on a clean exit goes on watching nothing; a hit
    /// on an error is the dump, at the hit's RIP,
    /// and leaves the guest resumed with the watchpoint off.
    #[test]
    fn the_own_vmm_watches_and_dumps_at_the_hit() {
        use crate::monitor::testkit::{Guest, SCHED_PA};
        let dir = tempfile::tempdir().unwrap();
        let guest = Guest::new(dir.path(), 2);
        guest.attach();
        let monitor = guest.monitor();
        let pause = PauseHandle::new(2);
        pause.gate().ended();
        pause.gate().ended();
        let fresh = |pause: &PauseHandle| {
            let mut f = with_layout();
            f.started(None, Some(pause.clone()));
            assert!(matches!(f.state, State::Idle));
            assert_eq!(f.poll(&monitor, 100), None);
            assert!(matches!(f.state, State::Armed { .. }));
            let note = f.take_note().unwrap();
            assert!(
                note.contains("through the own VMM's debug registers"),
                "{note}"
            );
            f
        };
        let exit_kind = SCHED_PA + 0x10;

        // A write of SCX_EXIT_NONE (CI once saw a hit read 0): no exit,
        // the guest goes on and the watch stays.
        let mut f = fresh(&pause);
        guest.poke(exit_kind, &0u32.to_le_bytes());
        pause.hit(0, 0x1000);
        assert_eq!(f.poll(&monitor, 150), None, "not an exit: no dump");
        assert!(matches!(f.state, State::Armed { .. }), "still watching");
        assert!(f.exited.is_none() && f.clean_exit.is_none() && !pause.gate().is_raised());

        // SCX_EXIT_DONE: a clean exit.
        guest.poke(exit_kind, &1u32.to_le_bytes());
        pause.hit(0, 0x1000);
        assert_eq!(f.poll(&monitor, 200), None, "a clean exit: no dump");
        assert!(f.exited.is_some() && !pause.gate().is_raised());

        let mut f = fresh(&pause);
        guest.poke(exit_kind, &1025u32.to_le_bytes());
        pause.hit(1, 0xffff_ffff_8123_4567);
        let d = f.poll(&monitor, 300).expect("the dump");
        assert!(
            matches!(
                d.trigger,
                Trigger::Watchpoint {
                    rip: Some(0xffff_ffff_8123_4567),
                    ..
                }
            ),
            "{:?}",
            d.trigger
        );
        assert_eq!(d.exit_kind, Some(1025));
        assert!(matches!(f.state, State::Done));
        assert!(!pause.gate().is_raised(), "resumed");
        assert_eq!(pause.take_hit(), None);
    }

    /// The scheduler seen gone while guest memory cannot be read (the
    /// monitor never started): no dump, and the Diagnostics say why.
    #[test]
    fn an_exit_seen_without_guest_memory_says_why_there_is_no_dump() {
        let monitor = Monitor::new(None, None, 2);
        let pause = PauseHandle::new(2);
        let mut f = with_layout();
        f.started(None, Some(pause));
        assert_eq!(
            f.exit_seen(&monitor, 500, "the guest reported sched_ext disabled"),
            None
        );
        let note = f.take_note().unwrap();
        assert!(
            note.starts_with("failure dump: none taken (the guest reported sched_ext disabled): ")
                && note.contains("guest memory"),
            "{note}"
        );
        assert!(matches!(f.state, State::Done));
    }
}
