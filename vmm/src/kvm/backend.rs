//! [`KvmBackend`]: the same [`Backend`] as QEMU's, on scxray's own VMM.
//! One boot: a [`MicroVm`] with the in-kernel irqchip, Linux loaded by the
//! 64-bit boot protocol, one thread per vCPU; COM1 and COM2 streamed
//! through the same readers as QEMU's output ([`crate::stream`]) into the
//! shared [`Watch`], which decides the ending exactly as for QEMU. Guest
//! RAM is the VMM's memfd, handed to the monitor as a file like QEMU's.
//!
//! Seen booting Linux on a KVM nested in QEMU's TCG, not yet on real KVM
//! hardware (README says what was verified where).

use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::backend::{
    Accel, Backend, ExitHow, GuestEvent, GuestExit, GuestSpec, MemoryInfo, VmError,
};
use crate::cancel::Cancel;
use crate::qemu::command::kernel_cmdline;
use crate::qemu::files::RunDir;
use crate::stream::ports;
use crate::stream::queue::{self, Queue};
use crate::watch::{End, Limits, Stop, Watch, BOOTING, DRAIN, QUIET_TICK, TICK};

use super::vm::{MicroVm, MicroVmConfig, RecordInput, VmEnd, VmmError};
use super::{host, layout};

/// What the own VMM adds to the shared command line. No PCI; no i8042
/// beyond its reset line (`reboot=k` resets through it): the FADT claims
/// none and no PNP keyboard is described, so Linux's i8042 driver finds no
/// controller and does not probe one (`i8042.nopnp`, as ktstr passes, would
/// make it wait half a second for a keyboard controller that never
/// answers). No timer check (a vCPU can be descheduled during calibration).
pub const KVM_CMDLINE: &str = "reboot=k pci=off no_timer_check";

/// A kernel on KVM reaches the agent in about a second; one that has not
/// in this time is not booting.
const HELLO_TIMEOUT: Duration = Duration::from_secs(20);

/// The own-VMM backend and its settings. Cheap to clone; holds no resources.
#[derive(Debug, Clone)]
pub struct KvmBackend {
    run_parent: PathBuf,
    hello_timeout: Duration,
    tail_lines: usize,
    queue_cap: usize,
    poweroff_grace: Duration,
    why: String,
}

impl Default for KvmBackend {
    fn default() -> Self {
        KvmBackend {
            run_parent: std::env::temp_dir(),
            hello_timeout: HELLO_TIMEOUT,
            tail_lines: 40,
            queue_cap: queue::DEFAULT_CAP,
            poweroff_grace: Duration::from_secs(10),
            why: "own VMM".into(),
        }
    }
}

impl KvmBackend {
    pub fn new() -> Self {
        Self::default()
    }

    /// Why this backend was chosen (`--backend kvm`, or auto's probe), for
    /// [`GuestExit::accel_reason`].
    pub fn chosen_because(mut self, why: &str) -> Self {
        self.why = why.to_owned();
        self
    }

    /// Where the run directory (the concatenated initrd) goes.
    pub fn run_dir_parent(mut self, dir: impl Into<PathBuf>) -> Self {
        self.run_parent = dir.into();
        self
    }

    /// How long the guest agent gets to say hello before the boot counts
    /// as failed (and `auto` falls back to QEMU).
    pub fn hello_timeout(mut self, timeout: Duration) -> Self {
        self.hello_timeout = timeout;
        self
    }

    pub fn console_tail(mut self, lines: usize) -> Self {
        self.tail_lines = lines;
        self
    }
}

/// The full command line the own VMM gives the kernel.
pub fn cmdline(extra: &str) -> String {
    kernel_cmdline(&format!("{KVM_CMDLINE} {extra}"))
}

/// Bytes from a vCPU-fed channel as a stream, for the shared port readers.
/// Ends once `closed` is set and the channel is empty (the UARTs' senders
/// live as long as the VM, so disconnection comes too late to wait for).
struct ChannelReader {
    rx: Receiver<Vec<u8>>,
    closed: Arc<AtomicBool>,
    pending: Vec<u8>,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pending.is_empty() {
            match self.rx.recv_timeout(TICK) {
                Ok(bytes) => {
                    self.pending = bytes;
                    // Coalesce: the UART sends one byte per message.
                    while self.pending.len() < buf.len() {
                        match self.rx.try_recv() {
                            Ok(more) => self.pending.extend(more),
                            Err(_) => break,
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) if !self.closed.load(Ordering::Acquire) => {}
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

/// Feeds `input`'s bytes to COM2 until `stop`.
fn input_pump(
    input: crate::backend::GuestInput,
    com2: RecordInput,
    stop: Arc<AtomicBool>,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("kvm-input".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Some(bytes) = input.next(Duration::from_millis(100)) {
                    com2.send(&bytes);
                }
            }
        })
}

fn vmm_error(e: VmmError) -> VmError {
    VmError::Vmm(Box::new(e))
}

impl Backend for KvmBackend {
    fn name(&self) -> &'static str {
        "kvm"
    }

    fn boot(
        &self,
        spec: &GuestSpec,
        sink: &mut dyn FnMut(GuestEvent),
        cancel: &Cancel,
    ) -> Result<GuestExit, VmError> {
        let t0 = Instant::now();
        spec.validate()?;
        std::fs::File::open(&spec.kernel)
            .map_err(VmError::io("cannot read the kernel", &spec.kernel))?;
        if cancel.is_cancelled() {
            return Err(VmError::Cancelled);
        }
        let mut warnings = Vec::new();
        let mut guest_cmdline = cmdline(&spec.cmdline);
        let (mut deadline, mut hello_timeout) = (spec.deadline, self.hello_timeout);
        if let Some(q) = host::nested_in_tcg(host::hypervisor_signature()) {
            guest_cmdline = format!("{guest_cmdline} {}", q.cmdline);
            deadline *= q.slowdown;
            hello_timeout *= q.slowdown;
            warnings.push(q.why);
        }
        let run_dir = RunDir::create(&self.run_parent)?;
        let initrd = run_dir.initrd(&spec.initramfs)?;
        let ram_bytes = u64::from(spec.memory_mib) << 20;
        let mut vm = MicroVm::new(MicroVmConfig {
            vcpus: spec.cpus,
            topology: spec.topology,
            ram_bytes,
            irqchip: true,
        })
        .map_err(vmm_error)?;
        vm.load_linux(&spec.kernel, &initrd, &guest_cmdline)
            .map_err(vmm_error)?;
        let output = vm.take_output().ok_or_else(|| {
            vmm_error(VmmError::Config {
                field: "output",
                why: "already taken".into(),
            })
        })?;
        let memory = spec.share_memory.then(|| {
            MemoryInfo::one_file(
                vm.ram().path(),
                ram_bytes,
                ram_bytes.min(layout::MMIO_HOLE_START),
            )
        });
        let queue = Arc::new(Queue::new(self.queue_cap));
        let closed = Arc::new(AtomicBool::new(false));
        let reader = |rx| ChannelReader {
            rx,
            closed: closed.clone(),
            pending: Vec::new(),
        };
        let reader_failed =
            |e: io::Error| VmError::io("cannot start a reader thread for", &spec.kernel)(e);
        let mut threads = vec![
            ports::console(reader(output.console), queue.clone()).map_err(reader_failed)?,
            ports::records(reader(output.record), queue.clone()).map_err(reader_failed)?,
        ];
        let limits = Limits {
            deadline,
            poweroff_grace: self.poweroff_grace,
            tail_lines: self.tail_lines,
        };
        vm.set_background(spec.background);
        let mut running = vm.start().map_err(vmm_error)?;
        // After the start, which is the last thing that can fail: nothing
        // returns early past here, so the pump is always stopped below.
        let input_stop = Arc::new(AtomicBool::new(false));
        if let Some(input) = &spec.input {
            match input_pump(input.clone(), vm.record_input(), input_stop.clone()) {
                Ok(t) => threads.push(t),
                Err(e) => warnings.push(format!(
                    "no input for the guest agent (cannot start its thread: {e})"
                )),
            }
        }
        let mut watch = Watch::new(running.started(), &limits, true, false);
        watch.records_open = true;
        watch.connected = true;
        sink(GuestEvent::Started {
            attempt: 1,
            accel: Accel::Kvm,
            pid: std::process::id(),
            memory: memory.clone(),
            gdb: None,
            pause: Some(running.pause_handle()),
            vcpu_tids: running.vcpu_tids(),
        });
        sink(GuestEvent::Stage(BOOTING.to_owned()));

        let mut last_tick = Instant::now();
        let stop = loop {
            if let Some(stop) = watch.stop_reason(Instant::now(), cancel) {
                break Some(stop);
            }
            if watch.hello.is_none() && running.started().elapsed() >= hello_timeout {
                break Some(Stop::KvmError(format!(
                    "the guest agent did not say hello within {} s of the boot",
                    hello_timeout.as_secs()
                )));
            }
            if running.poll(Duration::ZERO) {
                break None;
            }
            if let Some(item) = queue.pop(TICK) {
                watch.handle(Instant::now(), item, sink);
            } else if last_tick.elapsed() >= QUIET_TICK {
                last_tick = Instant::now();
                sink(GuestEvent::Tick);
            }
        };
        let ran = running.join();
        input_stop.store(true, Ordering::Relaxed);
        // Every vCPU is gone: what the UARTs wrote is all in the channels.
        closed.store(true, Ordering::Release);
        let drain_until = Instant::now() + DRAIN;
        while watch.open_streams() && Instant::now() < drain_until {
            if let Some(item) = queue.pop(TICK) {
                watch.handle(Instant::now(), item, sink);
            }
        }
        while let Some(item) = queue.pop(Duration::ZERO) {
            watch.handle(Instant::now(), item, sink);
        }
        for t in threads {
            let _ = t.join();
        }
        let end = match (&stop, &ran) {
            (_, Err(e)) => End::Died {
                stage: watch.stage.clone(),
                status: e.to_string(),
            },
            (Some(_), Ok(_)) => {
                watch
                    .end(stop, None, &mut warnings)
                    .unwrap_or_else(|n| End::Died {
                        stage: watch.stage.clone(),
                        status: n.status,
                    })
            }
            (None, Ok(ran)) => vm_end(&watch, ran.end(), &mut warnings),
        };
        // Linux probes many legacy ports; worth saying only when the guest
        // died, as a clue.
        let unclaimed = vm.unclaimed_ports();
        if matches!(end, End::Died { .. }) && !unclaimed.is_empty() {
            let ports: Vec<String> = unclaimed
                .iter()
                .take(8)
                .map(|(p, n)| format!("{p:#x}×{n}"))
                .collect();
            warnings.push(format!(
                "the guest touched ports no device answers (ignored): {}",
                ports.join(" ")
            ));
        }
        sink(GuestEvent::Stopped { attempt: 1, memory });
        drop(vm);
        drop(run_dir);
        let how = match end {
            // No retry: a boot oops under KVM is not TCG's race.
            End::BootOops { text, .. } => ExitHow::BootOops {
                retries: 0,
                oops: text,
            },
            End::PoweredOff => ExitHow::PoweredOff,
            End::Watchdog { stage } => ExitHow::Watchdog { stage, deadline },
            End::Panicked { stage, message } => ExitHow::Panicked { stage, message },
            End::Cancelled { stage } => ExitHow::Cancelled { stage },
            End::Died { stage, status } => ExitHow::VmmFailed {
                stage,
                error: status,
            },
        };
        Ok(GuestExit {
            how,
            accel: Accel::Kvm,
            accel_reason: self.why.clone(),
            attempts: 1,
            retried_oopses: Vec::new(),
            wall: t0.elapsed(),
            to_first_record: watch.first_record,
            to_hello: watch.hello,
            console_tail: watch.tail.to_vec(),
            decode: watch.decode,
            dropped: queue.dropped(),
            qemu_stderr: String::new(),
            warnings,
        })
    }
}

/// How a guest that ended by itself ended: a panic or boot oops the
/// console showed first; a power-off (ACPI S5), or a reset after the
/// agent's `Done`, is the normal end; any other reset or a triple fault
/// is the guest dying; a VMM failure is named.
fn vm_end(watch: &Watch, end: VmEnd, warnings: &mut Vec<String>) -> End {
    let stage = watch.stage.clone();
    match end {
        VmEnd::Failed { vcpu, error } => {
            // Nested or paravirtual KVM fails this way before the kernel
            // prints anything; QEMU's KVM probe would have caught it.
            let hint = match watch.first_record.is_none() && error.contains("KVM internal error") {
                true => "; this host's KVM may not run Linux (nested or paravirtual): --backend auto or qemu runs the guest under QEMU",
                false => "",
            };
            End::Died {
                stage,
                status: format!("vCPU {vcpu}: {error}{hint}"),
            }
        }
        VmEnd::Stopped { why, .. } => {
            if let Some(trouble) = watch.trouble_end() {
                return trouble;
            }
            let clean = why.contains("powered off") || watch.done.is_some();
            match clean {
                true => watch
                    .end(None, Some(success()), warnings)
                    .unwrap_or(End::PoweredOff),
                false => End::Died { stage, status: why },
            }
        }
        other => End::Died {
            stage,
            status: other.to_string(),
        },
    }
}

fn success() -> std::process::ExitStatus {
    use std::os::unix::process::ExitStatusExt;
    std::process::ExitStatus::from_raw(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_adds_the_vmm_options_before_the_callers() {
        let c = cmdline("loglevel=7");
        assert!(c.starts_with("console=ttyS0 "), "{c}");
        assert!(c.contains(" reboot=k pci=off "), "{c}");
        assert!(c.ends_with(" loglevel=7"), "{c}");
    }

    /// A watch that has seen `items` (console lines or records).
    fn watch(items: Vec<crate::stream::queue::Incoming>) -> Watch {
        let limits = Limits {
            deadline: Duration::from_secs(60),
            poweroff_grace: Duration::from_secs(10),
            tail_lines: 40,
        };
        let mut w = Watch::new(Instant::now(), &limits, true, false);
        for item in items {
            w.handle(Instant::now(), item, &mut |_| {});
        }
        w
    }

    fn record(r: scxray::run::record::Record) -> crate::stream::queue::Incoming {
        crate::stream::queue::Incoming::Record(r)
    }

    fn hello() -> crate::stream::queue::Incoming {
        record(scxray::run::record::Record::Hello {
            agent: "t".into(),
            uptime_ms: 1,
        })
    }

    fn done() -> crate::stream::queue::Incoming {
        record(scxray::run::record::Record::Done {
            passed: true,
            uptime_ms: 2,
        })
    }

    fn stopped(why: &str) -> VmEnd {
        VmEnd::Stopped {
            vcpu: 0,
            why: why.into(),
        }
    }

    #[test]
    fn how_a_guest_that_ended_itself_ended() {
        let mut warnings = Vec::new();
        // ACPI power-off, and a reset once the agent said Done: normal.
        let w = watch(vec![hello(), done()]);
        assert_eq!(
            vm_end(&w, stopped("guest powered off (ACPI S5)"), &mut warnings),
            End::PoweredOff
        );
        assert_eq!(
            vm_end(
                &w,
                stopped("guest reset through the i8042 (reboot)"),
                &mut warnings
            ),
            End::PoweredOff
        );
        // A reset or triple fault out of the blue: the guest died there.
        let w = watch(vec![hello()]);
        assert_eq!(
            vm_end(
                &w,
                stopped("guest shut down (triple fault or reset): KVM_EXIT_SHUTDOWN"),
                &mut warnings
            ),
            End::Died {
                stage: "agent started".into(),
                status: "guest shut down (triple fault or reset): KVM_EXIT_SHUTDOWN".into()
            }
        );
        // A panic's reboot (`panic=-1`, `reboot=k`) is the panic.
        let w = watch(vec![
            hello(),
            crate::stream::queue::Incoming::Console(
                "[    2.1] Kernel panic - not syncing: Fatal exception".into(),
            ),
        ]);
        assert!(matches!(
            vm_end(
                &w,
                stopped("guest reset through the i8042 (reboot)"),
                &mut warnings
            ),
            End::Panicked { .. }
        ));
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn a_kvm_error_before_the_guest_spoke_points_at_qemu() {
        let failed = VmEnd::Failed {
            vcpu: 0,
            error: "KVM internal error 1 (could not emulate a guest instruction) at rip 0x4b97154"
                .into(),
        };
        let End::Died { stage, status } = vm_end(&watch(vec![]), failed.clone(), &mut Vec::new())
        else {
            panic!("a VMM failure");
        };
        assert_eq!(stage, BOOTING);
        assert!(
            status.starts_with("vCPU 0: KVM internal error 1"),
            "{status}"
        );
        assert!(
            status.ends_with("--backend auto or qemu runs the guest under QEMU"),
            "{status}"
        );
        // Once the agent spoke, Linux ran here: no such hint.
        let End::Died { status, .. } = vm_end(&watch(vec![hello()]), failed, &mut Vec::new())
        else {
            panic!("a VMM failure");
        };
        assert!(!status.contains("--backend"), "{status}");
    }

    #[test]
    fn a_channel_reads_as_a_stream_until_closed_and_empty() {
        let (tx, rx) = std::sync::mpsc::channel();
        let closed = Arc::new(AtomicBool::new(false));
        let mut r = ChannelReader {
            rx,
            closed: closed.clone(),
            pending: Vec::new(),
        };
        for b in b"hello" {
            tx.send(vec![*b]).unwrap();
        }
        let mut buf = [0u8; 3];
        assert_eq!(r.read(&mut buf).unwrap(), 3);
        assert_eq!(&buf, b"hel");
        closed.store(true, Ordering::Release);
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"lo", "what was sent before closing is read");
    }
}
