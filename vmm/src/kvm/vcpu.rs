//! vCPUs: an owned [`Exit`] for each reason `KVM_RUN` returned, the exit
//! handler [`handle_exit`] as a free function over it (tested with
//! synthetic exits, no KVM needed), the run states, and the loop one vCPU
//! thread runs until it halts, the guest stops, or the VMM kicks it.
//!
//! Kicking: the VMM sets the shared stop flag and sends [`kick_signal`] to
//! the vCPU's thread; its no-op handler makes a blocked `KVM_RUN` return
//! `EINTR`, the loop sees the flag and ends. The kick is repeated until the
//! thread reports, which covers a signal landing just before `KVM_RUN`.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, Once};

use kvm_bindings::{KVM_SYSTEM_EVENT_CRASH, KVM_SYSTEM_EVENT_RESET, KVM_SYSTEM_EVENT_SHUTDOWN};
use kvm_ioctls::{VcpuExit, VcpuFd};

use super::bus::{Devices, PortWrite};
use super::pause::PauseHandle;
use super::watchpoint;

/// A vCPU exit, owning its data so it outlives the `kvm_run` page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// `out`: one access of `data.len()` bytes (1, 2 or 4) at `port`.
    IoOut {
        port: u16,
        data: Vec<u8>,
    },
    /// `in`: the guest waits for `len` bytes from `port`.
    IoIn {
        port: u16,
        len: usize,
    },
    MmioRead {
        addr: u64,
        len: usize,
    },
    MmioWrite {
        addr: u64,
        data: Vec<u8>,
    },
    /// `hlt` with no in-kernel irqchip to wait for an interrupt.
    Hlt,
    /// Triple fault (or INIT in some setups): the CPU cannot go on.
    Shutdown,
    /// The hardware refused to enter the guest (bad register state).
    FailEntry {
        reason: u64,
        cpu: u32,
    },
    /// KVM could not go on: `suberror` is `KVM_INTERNAL_ERROR_*` (1
    /// emulation failure, 2 simultaneous exceptions such as a fault while
    /// delivering a fault, 3 event delivery, 4 unexpected exit).
    InternalError {
        suberror: u32,
    },
    /// A PSCI-style or KVM-raised shutdown / reset / crash.
    SystemEvent {
        kind: u32,
    },
    /// A debug exit (`KVM_EXIT_DEBUG`): the VMM's watchpoint, when DR6
    /// says breakpoint 0 fired; `pc` is the instruction after the write.
    Debug {
        pc: u64,
        dr6: u64,
    },
    /// `KVM_RUN` returned EINTR/EAGAIN: a kick or a stray signal.
    Interrupted,
    /// Any other exit, by its `KVM_EXIT_*` number.
    Unknown(u32),
}

/// What the vCPU loop does after an exit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Continue,
    /// Continue after handing the guest these bytes (an `in` or MMIO read).
    Respond(Vec<u8>),
    /// This vCPU is done: halted with nothing to wake it.
    Halt,
    /// The guest ended itself (reset, shutdown, triple fault): stop the VM.
    Stop {
        why: String,
    },
    /// The VMM cannot go on with this guest: stop the VM and report.
    Fail {
        error: String,
    },
    /// The watchpoint fired at `rip`: pause every vCPU for the reader.
    WatchHit {
        rip: u64,
    },
}

/// Why a vCPU stopped on `KVM_EXIT_SHUTDOWN`; the vCPU loop adds where.
const SHUTDOWN_WHY: &str = "guest shut down (triple fault or reset): KVM_EXIT_SHUTDOWN";
/// RIP of a vCPU after reset (CS base 0xffff0000 + 0xfff0).
const RESET_RIP: u64 = 0xfff0;

/// The exit handler: routes port I/O to `devices` and turns the rest into
/// what the vCPU loop and the VM do next. MMIO has no devices yet: reads
/// see all ones, writes are dropped.
pub fn handle_exit(exit: Exit, devices: &mut Devices) -> Action {
    match exit {
        Exit::IoOut { port, data } => match devices.io_out(port, &data) {
            // An unsupported sleep is counted by the bus; the guest reads
            // WAK_STS and carries on.
            PortWrite::Handled | PortWrite::Unclaimed | PortWrite::SleepUnsupported { .. } => {
                Action::Continue
            }
            PortWrite::ResetRequested => Action::Stop {
                why: "guest reset through the i8042 (reboot)".into(),
            },
            PortWrite::PowerOff => Action::Stop {
                why: "guest powered off (ACPI S5)".into(),
            },
        },
        Exit::IoIn { port, len } => Action::Respond(devices.io_in(port, len)),
        Exit::MmioRead { len, .. } => Action::Respond(vec![0xff; len]),
        Exit::MmioWrite { .. } | Exit::Interrupted => Action::Continue,
        Exit::Hlt => Action::Halt,
        Exit::Debug { pc, dr6 } if watchpoint::fired(dr6) => Action::WatchHit { rip: pc },
        // No other debug feature is on: go on.
        Exit::Debug { .. } => Action::Continue,
        Exit::Shutdown => Action::Stop {
            why: SHUTDOWN_WHY.into(),
        },
        Exit::SystemEvent { kind } => match kind {
            KVM_SYSTEM_EVENT_SHUTDOWN => Action::Stop {
                why: "guest powered off (system event shutdown)".into(),
            },
            KVM_SYSTEM_EVENT_RESET => Action::Stop {
                why: "guest reset (system event reset)".into(),
            },
            KVM_SYSTEM_EVENT_CRASH => Action::Stop {
                why: "guest crashed (system event crash)".into(),
            },
            other => Action::Stop {
                why: format!("guest system event {other}"),
            },
        },
        Exit::FailEntry { reason, cpu } => Action::Fail {
            error: format!(
                "KVM could not enter the guest on host CPU {cpu}: hardware entry failure reason {reason:#x} (invalid vCPU register state)"
            ),
        },
        Exit::InternalError { suberror } => Action::Fail {
            error: format!("KVM internal error {suberror} ({})", internal_error_name(suberror)),
        },
        Exit::Unknown(code) => Action::Fail {
            error: format!("unhandled KVM exit reason {code}"),
        },
    }
}

fn internal_error_name(suberror: u32) -> &'static str {
    match suberror {
        1 => "could not emulate a guest instruction",
        2 => "exception while delivering an exception: the guest faulted with no usable IDT",
        3 => "could not deliver an event to the guest",
        4 => "unexpected VM exit",
        _ => "unknown suberror",
    }
}

/// Where one vCPU is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VcpuState {
    /// Registers set, not started.
    Ready,
    Running,
    /// Executed `hlt` with nothing to wake it (tiny guests; no irqchip).
    Halted,
    /// The guest ended itself; `why` says how.
    Stopped {
        why: String,
    },
    /// An error the VMM could not handle.
    Failed {
        error: String,
    },
    /// The VMM stopped it (deadline, another vCPU stopping, teardown).
    Kicked,
}

impl VcpuState {
    pub fn is_final(&self) -> bool {
        !matches!(self, VcpuState::Ready | VcpuState::Running)
    }

    /// The state after `action`, `None` while it keeps running.
    pub fn after(action: &Action) -> Option<VcpuState> {
        match action {
            Action::Continue | Action::Respond(_) | Action::WatchHit { .. } => None,
            Action::Halt => Some(VcpuState::Halted),
            Action::Stop { why } => Some(VcpuState::Stopped { why: why.clone() }),
            Action::Fail { error } => Some(VcpuState::Failed {
                error: error.clone(),
            }),
        }
    }
}

/// The signal that kicks a vCPU thread out of `KVM_RUN`.
pub fn kick_signal() -> libc::c_int {
    libc::SIGRTMIN()
}

extern "C" fn on_kick(_: libc::c_int) {}

/// Installs the no-op kick handler once per process. No `SA_RESTART`, so
/// the blocked ioctl returns `EINTR`.
pub fn install_kick_handler() -> std::io::Result<()> {
    static ONCE: Once = Once::new();
    static ERRNO: AtomicI32 = AtomicI32::new(0);
    ONCE.call_once(|| {
        // SAFETY: a zeroed sigaction is valid; the handler is async-signal
        // safe (it does nothing).
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_kick as *const () as usize;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(kick_signal(), &action, std::ptr::null_mut())
        };
        if rc != 0 {
            let errno = std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EINVAL);
            ERRNO.store(errno, Ordering::Release);
        }
    });
    match ERRNO.load(Ordering::Acquire) {
        0 => Ok(()),
        errno => Err(std::io::Error::from_raw_os_error(errno)),
    }
}

/// The owned [`Exit`] of a kvm-ioctls exit; `None` for exits kvm-ioctls
/// does not name or the VMM does not expect (the caller reads the
/// `KVM_EXIT_*` number from `kvm_run` for [`Exit::Unknown`], and the
/// internal error's suberror).
pub fn exit_of(exit: &VcpuExit<'_>) -> Option<Exit> {
    Some(match exit {
        VcpuExit::IoOut(port, data) => Exit::IoOut {
            port: *port,
            data: data.to_vec(),
        },
        VcpuExit::IoIn(port, data) => Exit::IoIn {
            port: *port,
            len: data.len(),
        },
        VcpuExit::MmioRead(addr, data) => Exit::MmioRead {
            addr: *addr,
            len: data.len(),
        },
        VcpuExit::MmioWrite(addr, data) => Exit::MmioWrite {
            addr: *addr,
            data: data.to_vec(),
        },
        VcpuExit::Hlt => Exit::Hlt,
        VcpuExit::Shutdown => Exit::Shutdown,
        VcpuExit::FailEntry(reason, cpu) => Exit::FailEntry {
            reason: *reason,
            cpu: *cpu,
        },
        VcpuExit::InternalError => Exit::InternalError { suberror: 0 },
        VcpuExit::SystemEvent(kind, _) => Exit::SystemEvent { kind: *kind },
        VcpuExit::Debug(d) => Exit::Debug {
            pc: d.pc,
            dr6: d.dr6,
        },
        _ => return None,
    })
}

/// `handle_exit` under the device lock.
fn handle_locked(exit: Exit, devices: &Mutex<Devices>) -> Action {
    match devices.lock() {
        Ok(mut d) => handle_exit(exit, &mut d),
        Err(_) => Action::Fail {
            error: "device lock poisoned by a panicked vCPU thread".into(),
        },
    }
}

/// Copies a `Respond` action's bytes into the guest's `in`/MMIO-read buffer.
fn respond(action: &Action, data: &mut [u8]) {
    if let Action::Respond(bytes) = action {
        let n = data.len().min(bytes.len());
        data[..n].copy_from_slice(&bytes[..n]);
    }
}

/// Runs `vcpu` until it halts, the guest stops, an error, or `stop` is
/// set (checked before every entry, as are the pause gate and a changed
/// watchpoint). A final state other than `Halted`
/// sets `stop` so the other vCPUs end too. Returns the final state and
/// the number of exits handled.
pub fn run_vcpu(
    vcpu: &mut VcpuFd,
    index: usize,
    devices: &Mutex<Devices>,
    stop: &Arc<AtomicBool>,
    pause: &PauseHandle,
) -> (VcpuState, u64) {
    let mut exits = 0u64;
    let mut watch_applied = 0u64;
    let gate = pause.gate();
    let state = loop {
        if stop.load(Ordering::Acquire) {
            break VcpuState::Kicked;
        }
        // Before parking, so that a pause returns with every vCPU on the
        // new watchpoint; and after, for one set while paused.
        pause.apply_watch(vcpu, &mut watch_applied);
        gate.pass(
            index,
            || vcpu.get_regs().ok(),
            || stop.load(Ordering::Acquire),
        );
        if stop.load(Ordering::Acquire) {
            break VcpuState::Kicked;
        }
        pause.apply_watch(vcpu, &mut watch_applied);
        let action = match vcpu.run() {
            Ok(VcpuExit::IoIn(port, data)) => {
                let len = data.len();
                let action = handle_locked(Exit::IoIn { port, len }, devices);
                respond(&action, data);
                action
            }
            Ok(VcpuExit::MmioRead(addr, data)) => {
                let len = data.len();
                let action = handle_locked(Exit::MmioRead { addr, len }, devices);
                respond(&action, data);
                action
            }
            Ok(kvm_exit) => {
                let exit = match exit_of(&kvm_exit) {
                    Some(Exit::InternalError { .. }) => {
                        // SAFETY: KVM filled the `internal` member of the
                        // union for this exit reason; it is plain integers.
                        let suberror =
                            unsafe { vcpu.get_kvm_run().__bindgen_anon_1.internal.suberror };
                        Exit::InternalError { suberror }
                    }
                    Some(exit) => exit,
                    None => Exit::Unknown(vcpu.get_kvm_run().exit_reason),
                };
                handle_locked(exit, devices)
            }
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => {
                handle_locked(Exit::Interrupted, devices)
            }
            Err(e) => Action::Fail {
                error: format!("KVM_RUN failed: {e}"),
            },
        };
        exits += 1;
        if let Action::WatchHit { rip } = action {
            pause.hit(index, rip);
        }
        if let Some(state) = VcpuState::after(&action) {
            // Where the guest was is the first thing to know of a failure.
            break match (state, vcpu.get_regs()) {
                (VcpuState::Failed { error }, Ok(regs)) => VcpuState::Failed {
                    error: format!("{error} at rip {:#x}", regs.rip),
                },
                // A triple fault: the instruction that faulted is the clue,
                // unless KVM reset the vCPU (AMD does: RIP is then the reset
                // vector's).
                (VcpuState::Stopped { why }, Ok(regs)) if why == SHUTDOWN_WHY => {
                    VcpuState::Stopped {
                        why: match regs.rip {
                            RESET_RIP => format!("{why} (the vCPU was reset: no faulting rip)"),
                            rip => format!("{why} at rip {rip:#x}"),
                        },
                    }
                }
                (state, _) => state,
            };
        }
    };
    if !matches!(state, VcpuState::Halted) {
        stop.store(true, Ordering::Release);
    }
    gate.ended();
    (state, exits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kvm::bus::tests::devices;

    #[test]
    fn serial_out_goes_to_the_console_sink() {
        let (mut d, console, record) = devices();
        for b in b"hi\n" {
            let exit = Exit::IoOut {
                port: 0x3f8,
                data: vec![*b],
            };
            assert_eq!(handle_exit(exit, &mut d), Action::Continue);
        }
        let exit = Exit::IoOut {
            port: 0x2f8,
            data: vec![b'R'],
        };
        assert_eq!(handle_exit(exit, &mut d), Action::Continue);
        assert_eq!(console.try_iter().flatten().collect::<Vec<_>>(), b"hi\n");
        assert_eq!(record.try_iter().flatten().collect::<Vec<_>>(), b"R");
    }

    #[test]
    fn unknown_port_is_ignored_and_counted() {
        let (mut d, console, _) = devices();
        let out = Exit::IoOut {
            port: 0x80,
            data: vec![0],
        };
        assert_eq!(handle_exit(out, &mut d), Action::Continue);
        let read = Exit::IoIn { port: 0x71, len: 1 };
        assert_eq!(handle_exit(read, &mut d), Action::Respond(vec![0xff]));
        assert_eq!(d.unclaimed.len(), 2);
        assert!(console.try_recv().is_err());
    }

    #[test]
    fn serial_line_status_is_read_back() {
        let (mut d, _, _) = devices();
        // LSR: transmitter empty (0x60) and no data ready.
        let lsr = handle_exit(
            Exit::IoIn {
                port: 0x3fd,
                len: 1,
            },
            &mut d,
        );
        assert_eq!(lsr, Action::Respond(vec![0x60]));
    }

    #[test]
    fn hlt_halts_this_vcpu_only() {
        let (mut d, _, _) = devices();
        let action = handle_exit(Exit::Hlt, &mut d);
        assert_eq!(action, Action::Halt);
        assert_eq!(VcpuState::after(&action), Some(VcpuState::Halted));
    }

    #[test]
    fn shutdown_and_reset_stop_with_a_reason() {
        let (mut d, _, _) = devices();
        let Action::Stop { why } = handle_exit(Exit::Shutdown, &mut d) else {
            panic!("shutdown must stop");
        };
        assert!(why.contains("triple fault"), "{why}");
        let reset = Exit::IoOut {
            port: 0x64,
            data: vec![0xfe],
        };
        let Action::Stop { why } = handle_exit(reset, &mut d) else {
            panic!("i8042 reset must stop");
        };
        assert!(why.contains("i8042"), "{why}");
        let event = Exit::SystemEvent {
            kind: KVM_SYSTEM_EVENT_SHUTDOWN,
        };
        assert!(
            matches!(handle_exit(event, &mut d), Action::Stop { why } if why.contains("powered off"))
        );
    }

    #[test]
    fn acpi_s5_stops_the_vm_as_powered_off() {
        use crate::kvm::layout::{ACPI_SLEEP_CONTROL_PORT, ACPI_SLEEP_STATUS_PORT};
        use crate::kvm::power::{control_value, SLP_TYP_S5};
        let (mut d, _, _) = devices();
        let out = |port, byte| Exit::IoOut {
            port,
            data: vec![byte],
        };
        // What Linux writes: clear WAK_STS, then SLP_TYP(S5) | SLP_EN.
        let clear = out(ACPI_SLEEP_STATUS_PORT, 0x80);
        assert_eq!(handle_exit(clear, &mut d), Action::Continue);
        let s5 = out(ACPI_SLEEP_CONTROL_PORT, control_value(SLP_TYP_S5));
        let action = handle_exit(s5, &mut d);
        assert_eq!(
            action,
            Action::Stop {
                why: "guest powered off (ACPI S5)".into()
            }
        );
        assert!(matches!(
            VcpuState::after(&action),
            Some(VcpuState::Stopped { why }) if why.contains("powered off")
        ));
        // S3 is not there: the guest goes on, the request is counted.
        let s3 = out(ACPI_SLEEP_CONTROL_PORT, control_value(3));
        assert_eq!(handle_exit(s3, &mut d), Action::Continue);
        assert_eq!(d.sleep_requests.get(&3), Some(&1));
        let status = Exit::IoIn {
            port: ACPI_SLEEP_STATUS_PORT,
            len: 1,
        };
        assert_eq!(handle_exit(status, &mut d), Action::Respond(vec![0x80]));
    }

    #[test]
    fn entry_failures_and_unknown_exits_fail_with_the_code() {
        let (mut d, _, _) = devices();
        let fail = Exit::FailEntry {
            reason: 0x21,
            cpu: 3,
        };
        let Action::Fail { error } = handle_exit(fail, &mut d) else {
            panic!("FailEntry must fail");
        };
        assert!(
            error.contains("0x21") && error.contains("host CPU 3"),
            "{error}"
        );
        let Action::Fail { error } = handle_exit(Exit::Unknown(17), &mut d) else {
            panic!("unknown exits must fail");
        };
        assert!(error.contains("17"), "{error}");
        let internal = Exit::InternalError { suberror: 2 };
        let Action::Fail { error } = handle_exit(internal, &mut d) else {
            panic!("internal errors must fail");
        };
        assert!(error.contains("no usable IDT"), "{error}");
    }

    #[test]
    fn mmio_without_devices_floats() {
        let (mut d, _, _) = devices();
        let read = Exit::MmioRead {
            addr: 0xd000_0000,
            len: 4,
        };
        assert_eq!(handle_exit(read, &mut d), Action::Respond(vec![0xff; 4]));
        let write = Exit::MmioWrite {
            addr: 0xd000_0000,
            data: vec![1],
        };
        assert_eq!(handle_exit(write, &mut d), Action::Continue);
        assert_eq!(handle_exit(Exit::Interrupted, &mut d), Action::Continue);
    }

    #[test]
    fn a_debug_exit_is_a_watch_hit_only_when_breakpoint_0_fired() {
        let (mut d, _, _) = devices();
        let hit = Exit::Debug {
            pc: 0x1234,
            dr6: 0xffff_0ff1,
        };
        assert_eq!(handle_exit(hit, &mut d), Action::WatchHit { rip: 0x1234 });
        assert_eq!(
            VcpuState::after(&Action::WatchHit { rip: 1 }),
            None,
            "runs on"
        );
        let other = Exit::Debug {
            pc: 0x1234,
            dr6: 0xffff_0ff0,
        };
        assert_eq!(handle_exit(other, &mut d), Action::Continue);
    }

    #[test]
    fn run_states() {
        assert!(!VcpuState::Ready.is_final());
        assert!(!VcpuState::Running.is_final());
        assert!(VcpuState::Kicked.is_final());
        assert_eq!(VcpuState::after(&Action::Continue), None);
        assert_eq!(VcpuState::after(&Action::Respond(vec![1])), None);
    }
}
