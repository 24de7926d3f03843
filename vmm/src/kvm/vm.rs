//! [`MicroVm`]: /dev/kvm opened, a VM with guest RAM ([`GuestRam`]), the
//! two UARTs and N vCPUs; [`MicroVm::run`] runs one thread per vCPU under a
//! deadline and collects what the guest wrote. Everything is released when
//! the `MicroVm` drops (fds, mappings); `run` joins every vCPU thread it
//! started before returning.

use std::collections::BTreeMap;
use std::fmt;
use std::os::unix::thread::JoinHandleExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use kvm_bindings::{
    kvm_pit_config, kvm_userspace_memory_region, KVM_MAX_CPUID_ENTRIES, KVM_PIT_SPEAKER_DUMMY,
};
use kvm_ioctls::{Kvm, VcpuFd, VmFd};
use vm_memory::{
    Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion,
    MemoryRegionAddress,
};
use vmm_sys_util::eventfd::EventFd;

use super::boot::{self, BootError};
use super::bus::Devices;
use super::cpuid;
use super::layout;
use super::memory::{GuestRam, MemoryError};
use super::serial::IrqLine;
use super::vcpu::{self, VcpuState};

/// The KVM device.
pub const KVM_PATH: &str = "/dev/kvm";
/// How often a stopping VM re-sends the kick to vCPUs still in `KVM_RUN`.
const KICK_INTERVAL: Duration = Duration::from_millis(5);
/// How long kicked vCPUs get to leave before `run` gives up on them.
const KICK_GIVE_UP: Duration = Duration::from_secs(5);

/// Why a VM could not be made or run. Each names what it was given or
/// which ioctl failed, and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum VmmError {
    #[error("{path}: {source}{}", open_hint(source))]
    OpenKvm {
        path: &'static str,
        source: kvm_ioctls::Error,
    },
    #[error("{ioctl} failed: {source}{}", ioctl_hint(ioctl, source))]
    Ioctl {
        ioctl: &'static str,
        source: kvm_ioctls::Error,
    },
    #[error("invalid micro VM config: {field} {why}")]
    Config { field: &'static str, why: String },
    #[error(transparent)]
    Memory(#[from] MemoryError),
    #[error(transparent)]
    Boot(#[from] BootError),
    #[error("loading {len} bytes at guest address {addr:#x}: {source} (outside guest RAM?)")]
    Load {
        addr: u64,
        len: usize,
        source: vm_memory::GuestMemoryError,
    },
    #[error("vCPU {index}: there is no such vCPU, or it already ran")]
    NoVcpu { index: usize },
    #[error("installing the vCPU kick signal handler (SIGRTMIN): {0}")]
    KickHandler(#[source] std::io::Error),
    #[error("starting the thread for vCPU {index}: {source}")]
    Thread {
        index: usize,
        source: std::io::Error,
    },
    #[error("vCPUs {stuck:?} did not leave KVM_RUN within {KICK_GIVE_UP:?} of being kicked; their threads were left behind")]
    Stuck { stuck: Vec<usize> },
}

fn open_hint(e: &kvm_ioctls::Error) -> &'static str {
    match e.errno() {
        libc::ENOENT => ": no KVM here: enable virtualization in the firmware and load kvm_intel or kvm_amd, or use the QEMU backend",
        libc::EACCES | libc::EPERM => ": permission denied: add yourself to the kvm group (`sudo usermod -aG kvm $USER`, then log in again)",
        _ => "",
    }
}

fn ioctl_hint(ioctl: &str, e: &kvm_ioctls::Error) -> &'static str {
    match (ioctl, e.errno()) {
        (_, libc::ENOMEM) => ": the host is out of memory for guest structures",
        ("KVM_CREATE_VCPU", libc::EINVAL) => {
            ": more vCPUs than this host's KVM allows (see KVM_CAP_MAX_VCPUS)"
        }
        ("KVM_SET_USER_MEMORY_REGION", _) => {
            ": guest RAM layout refused (overlapping slots or too many)"
        }
        _ => "",
    }
}

fn ioctl(ioctl: &'static str) -> impl FnOnce(kvm_ioctls::Error) -> VmmError {
    move |source| VmmError::Ioctl { ioctl, source }
}

/// What VM to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MicroVmConfig {
    pub vcpus: u32,
    /// Guest RAM, a multiple of 4 KiB, at least 1 MiB.
    pub ram_bytes: u64,
    /// In-kernel IOAPIC/PIC/LAPICs and PIT, with the UARTs' interrupts as
    /// irqfds: what Linux needs. Without it `hlt` exits to the VMM and
    /// ends that vCPU, which is what the tiny real-mode guests rely on.
    pub irqchip: bool,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VmEnd {
    /// Every vCPU halted.
    Halted,
    /// The guest ended itself (shutdown, reset, triple fault) on `vcpu`.
    Stopped { vcpu: usize, why: String },
    /// The VMM could not go on with the guest on `vcpu`.
    Failed { vcpu: usize, error: String },
    /// The deadline passed with these vCPUs still running.
    DeadlinePassed {
        deadline: Duration,
        running: Vec<usize>,
    },
}

impl fmt::Display for VmEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VmEnd::Halted => write!(f, "all vCPUs halted"),
            VmEnd::Stopped { vcpu, why } => write!(f, "guest stopped on vCPU {vcpu}: {why}"),
            VmEnd::Failed { vcpu, error } => write!(f, "guest failed on vCPU {vcpu}: {error}"),
            VmEnd::DeadlinePassed { deadline, running } => write!(
                f,
                "guest did not halt within {deadline:?}: vCPUs {running:?} were still running and were stopped"
            ),
        }
    }
}

/// What a run left behind.
#[derive(Debug)]
pub struct RunReport {
    pub end: VmEnd,
    /// Each vCPU's final state, by index.
    pub vcpus: Vec<VcpuState>,
    /// `KVM_RUN` returns handled (exits and signal interruptions), all
    /// vCPUs together.
    pub exits: u64,
    /// Everything written to COM1 (console) and COM2 (records).
    pub console: Vec<u8>,
    pub record: Vec<u8>,
    /// Accesses to ports no device claims, by port.
    pub unclaimed_ports: BTreeMap<u16, u64>,
    pub elapsed: Duration,
}

pub struct MicroVm {
    config: MicroVmConfig,
    // Kept open for the VM's life (later: CPUID, MSR lists).
    _kvm: Kvm,
    vm: VmFd,
    ram: GuestRam,
    vcpus: Vec<Option<VcpuFd>>,
    devices: Arc<Mutex<Devices>>,
    console: Receiver<Vec<u8>>,
    record: Receiver<Vec<u8>>,
}

impl MicroVm {
    pub fn new(config: MicroVmConfig) -> Result<MicroVm, VmmError> {
        if !(1..=layout::MAX_VCPUS).contains(&config.vcpus) {
            return Err(VmmError::Config {
                field: "vcpus",
                why: format!("{} is outside 1..={}", config.vcpus, layout::MAX_VCPUS),
            });
        }
        if config.ram_bytes < layout::HIGH_MEMORY_START {
            return Err(VmmError::Config {
                field: "ram_bytes",
                why: format!("{} is below 1 MiB", config.ram_bytes),
            });
        }
        vcpu::install_kick_handler().map_err(VmmError::KickHandler)?;
        let kvm = Kvm::new().map_err(|source| VmmError::OpenKvm {
            path: KVM_PATH,
            source,
        })?;
        let vm = kvm.create_vm().map_err(ioctl("KVM_CREATE_VM"))?;
        vm.set_tss_address(layout::KVM_TSS_ADDR as usize)
            .map_err(ioctl("KVM_SET_TSS_ADDR"))?;
        let (mut com1_irq, mut com2_irq) = (IrqLine::default(), IrqLine::default());
        if config.irqchip {
            vm.create_irq_chip().map_err(ioctl("KVM_CREATE_IRQCHIP"))?;
            let pit = kvm_pit_config {
                flags: KVM_PIT_SPEAKER_DUMMY,
                ..Default::default()
            };
            vm.create_pit2(pit).map_err(ioctl("KVM_CREATE_PIT2"))?;
            com1_irq = irq_line(&vm, layout::COM1_IRQ)?;
            com2_irq = irq_line(&vm, layout::COM2_IRQ)?;
        }
        let ram = GuestRam::new(config.ram_bytes)?;
        for (slot, region) in ram.memory().iter().enumerate() {
            let host = region
                .get_host_address(MemoryRegionAddress(0))
                .map_err(|e| VmmError::Load {
                    addr: region.start_addr().0,
                    len: 0,
                    source: e,
                })?;
            let mapping = kvm_userspace_memory_region {
                slot: slot as u32,
                flags: 0,
                guest_phys_addr: region.start_addr().0,
                memory_size: region.len(),
                userspace_addr: host as u64,
            };
            // SAFETY: the mapping is `region.len()` bytes at `host`, owned by
            // `ram`, which lives as long as `vm` (both fields of MicroVm,
            // and vCPU threads are joined in `run` before it returns).
            unsafe { vm.set_user_memory_region(mapping) }
                .map_err(ioctl("KVM_SET_USER_MEMORY_REGION"))?;
        }
        let supported = kvm
            .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
            .map_err(ioctl("KVM_GET_SUPPORTED_CPUID"))?;
        let mut vcpus = Vec::new();
        for id in 0..config.vcpus {
            let vcpu = vm
                .create_vcpu(u64::from(id))
                .map_err(ioctl("KVM_CREATE_VCPU"))?;
            let mut leaves = supported.clone();
            cpuid::patch_for_vcpu(leaves.as_mut_slice(), id, config.vcpus);
            vcpu.set_cpuid2(&leaves).map_err(ioctl("KVM_SET_CPUID2"))?;
            vcpus.push(Some(vcpu));
        }
        let (console_tx, console) = channel();
        let (record_tx, record) = channel();
        let devices = Devices::new(console_tx, com1_irq, record_tx, com2_irq);
        Ok(MicroVm {
            config,
            _kvm: kvm,
            vm,
            ram,
            vcpus,
            devices: Arc::new(Mutex::new(devices)),
            console,
            record,
        })
    }

    pub fn config(&self) -> MicroVmConfig {
        self.config
    }

    pub fn memory(&self) -> &GuestMemoryMmap {
        self.ram.memory()
    }

    pub fn ram(&self) -> &GuestRam {
        &self.ram
    }

    pub fn vm_fd(&self) -> &VmFd {
        &self.vm
    }

    /// Copies `bytes` into guest RAM at `addr`.
    pub fn load(&self, addr: u64, bytes: &[u8]) -> Result<(), VmmError> {
        self.memory()
            .write_slice(bytes, GuestAddress(addr))
            .map_err(|source| VmmError::Load {
                addr,
                len: bytes.len(),
                source,
            })
    }

    /// Points vCPU `index` at real-mode code: CS base `cs_base` (a multiple
    /// of 16), IP `ip`.
    pub fn set_real_mode_entry(
        &mut self,
        index: usize,
        cs_base: u64,
        ip: u16,
    ) -> Result<(), VmmError> {
        let vcpu = self.vcpu(index)?;
        let sregs = vcpu.get_sregs().map_err(ioctl("KVM_GET_SREGS"))?;
        vcpu.set_sregs(&boot::real_mode_sregs(sregs, cs_base))
            .map_err(ioctl("KVM_SET_SREGS"))?;
        vcpu.set_regs(&boot::real_mode_regs(ip))
            .map_err(ioctl("KVM_SET_REGS"))
    }

    /// Points vCPU `index` at 64-bit code at `entry` the way the Linux
    /// 64-bit boot protocol enters a kernel: writes the boot GDT, IDT and
    /// identity page tables, then long-mode sregs and registers (RSI = zero
    /// page). The zero page itself is the caller's ([`boot::boot_params`]).
    pub fn set_long_mode_entry(&mut self, index: usize, entry: u64) -> Result<(), VmmError> {
        boot::write_gdt_idt(self.memory())?;
        boot::write_page_tables(self.memory())?;
        let vcpu = self.vcpu(index)?;
        let sregs = vcpu.get_sregs().map_err(ioctl("KVM_GET_SREGS"))?;
        vcpu.set_sregs(&boot::long_mode_sregs(sregs))
            .map_err(ioctl("KVM_SET_SREGS"))?;
        vcpu.set_regs(&boot::long_mode_regs(entry))
            .map_err(ioctl("KVM_SET_REGS"))
    }

    fn vcpu(&mut self, index: usize) -> Result<&mut VcpuFd, VmmError> {
        self.vcpus
            .get_mut(index)
            .and_then(Option::as_mut)
            .ok_or(VmmError::NoVcpu { index })
    }

    /// Queues bytes for the guest on COM2 (the record channel).
    pub fn send_record(&self, bytes: &[u8]) {
        if let Ok(mut d) = self.devices.lock() {
            d.com2.queue_input(bytes);
        }
    }

    /// Runs every vCPU on its own thread until all halt, the guest stops or
    /// fails, or `deadline` passes; then kicks and joins the rest. Only
    /// once per VM.
    pub fn run(&mut self, deadline: Duration) -> Result<RunReport, VmmError> {
        let started = Instant::now();
        let count = self.vcpus.len();
        let stop = Arc::new(AtomicBool::new(false));
        let (done_tx, done_rx) = channel::<(usize, VcpuState, u64)>();
        if let Some(index) = self.vcpus.iter().position(Option::is_none) {
            return Err(VmmError::NoVcpu { index });
        }
        let mut threads: Vec<Option<JoinHandle<()>>> = Vec::with_capacity(count);
        for index in 0..count {
            let Some(mut fd) = self.vcpus[index].take() else {
                return Err(VmmError::NoVcpu { index });
            };
            let (devices, stop_flag, done) = (self.devices.clone(), stop.clone(), done_tx.clone());
            let spawned = thread::Builder::new()
                .name(format!("vcpu{index}"))
                .spawn(move || {
                    let (state, exits) = vcpu::run_vcpu(&mut fd, &devices, &stop_flag);
                    let _ = done.send((index, state, exits));
                });
            match spawned {
                Ok(handle) => threads.push(Some(handle)),
                Err(source) => {
                    stop.store(true, Ordering::Release);
                    let _ = collect(&mut threads, &done_rx, &stop, Instant::now(), None);
                    return Err(VmmError::Thread { index, source });
                }
            }
        }
        drop(done_tx);
        let (states, order, exits, deadline_hit) = collect(
            &mut threads,
            &done_rx,
            &stop,
            started + deadline,
            Some(deadline),
        )?;

        let first =
            |pick: fn(&VcpuState) -> bool| order.iter().copied().find(|&i| pick(&states[i]));
        let end = if deadline_hit {
            VmEnd::DeadlinePassed {
                deadline,
                running: (0..count)
                    .filter(|&i| states[i] == VcpuState::Kicked)
                    .collect(),
            }
        } else if let Some(i) = first(|s| matches!(s, VcpuState::Failed { .. })) {
            let VcpuState::Failed { error } = &states[i] else {
                unreachable!()
            };
            VmEnd::Failed {
                vcpu: i,
                error: error.clone(),
            }
        } else if let Some(i) = first(|s| matches!(s, VcpuState::Stopped { .. })) {
            let VcpuState::Stopped { why } = &states[i] else {
                unreachable!()
            };
            VmEnd::Stopped {
                vcpu: i,
                why: why.clone(),
            }
        } else {
            VmEnd::Halted
        };
        let unclaimed_ports = self
            .devices
            .lock()
            .map(|d| d.unclaimed.clone())
            .unwrap_or_default();
        Ok(RunReport {
            end,
            vcpus: states,
            exits,
            console: self.console.try_iter().flatten().collect(),
            record: self.record.try_iter().flatten().collect(),
            unclaimed_ports,
            elapsed: started.elapsed(),
        })
    }
}

fn irq_line(vm: &VmFd, irq: u32) -> Result<IrqLine, VmmError> {
    let fd = EventFd::new(libc::EFD_NONBLOCK).map_err(|e| VmmError::Ioctl {
        ioctl: "eventfd",
        source: e.into(),
    })?;
    vm.register_irqfd(&fd, irq).map_err(ioctl("KVM_IRQFD"))?;
    Ok(IrqLine(Some(fd)))
}

/// Waits for every started vCPU thread: until `end_at`, then (when a
/// `deadline` is given) sets `stop`; once `stop` is set, by a vCPU or
/// here, kicks the threads still running every [`KICK_INTERVAL`]. Returns
/// the states by index, the order they ended in, the exit count and
/// whether the deadline fired.
#[allow(clippy::type_complexity)]
fn collect(
    threads: &mut [Option<JoinHandle<()>>],
    done: &Receiver<(usize, VcpuState, u64)>,
    stop: &AtomicBool,
    end_at: Instant,
    deadline: Option<Duration>,
) -> Result<(Vec<VcpuState>, Vec<usize>, u64, bool), VmmError> {
    let mut states = vec![VcpuState::Running; threads.len()];
    let mut order = Vec::new();
    let mut exits = 0;
    let mut deadline_hit = false;
    let mut kicked_at: Option<Instant> = None;
    while threads.iter().any(Option::is_some) {
        if stop.load(Ordering::Acquire) {
            let since = *kicked_at.get_or_insert_with(Instant::now);
            if since.elapsed() > KICK_GIVE_UP {
                let stuck = (0..threads.len())
                    .filter(|&i| threads[i].is_some())
                    .collect();
                return Err(VmmError::Stuck { stuck });
            }
            for handle in threads.iter().flatten() {
                // SAFETY: the thread is not joined yet, so its pthread_t is
                // valid; the signal's handler does nothing.
                unsafe { libc::pthread_kill(handle.as_pthread_t(), vcpu::kick_signal()) };
            }
        }
        let wait = if stop.load(Ordering::Acquire) {
            KICK_INTERVAL
        } else {
            end_at.saturating_duration_since(Instant::now())
        };
        match done.recv_timeout(wait) {
            Ok((index, state, n)) => {
                if let Some(handle) = threads.get_mut(index).and_then(Option::take) {
                    let _ = handle.join();
                }
                if let Some(slot) = states.get_mut(index) {
                    *slot = state;
                }
                order.push(index);
                exits += n;
            }
            Err(RecvTimeoutError::Timeout) => {
                if deadline.is_some() && !stop.load(Ordering::Acquire) && Instant::now() >= end_at {
                    deadline_hit = true;
                    stop.store(true, Ordering::Release);
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                // A vCPU thread died without reporting (it panicked).
                for (i, t) in threads.iter_mut().enumerate() {
                    if let Some(handle) = t.take() {
                        let _ = handle.join();
                        states[i] = VcpuState::Failed {
                            error: "vCPU thread panicked".into(),
                        };
                        order.push(i);
                    }
                }
            }
        }
    }
    Ok((states, order, exits, deadline_hit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_what_to_do() {
        let denied = VmmError::OpenKvm {
            path: KVM_PATH,
            source: kvm_ioctls::Error::new(libc::EACCES),
        };
        let text = denied.to_string();
        assert!(text.starts_with("/dev/kvm: "), "{text}");
        assert!(text.contains("add yourself to the kvm group"), "{text}");
        let missing = VmmError::OpenKvm {
            path: KVM_PATH,
            source: kvm_ioctls::Error::new(libc::ENOENT),
        };
        assert!(missing.to_string().contains("load kvm_intel or kvm_amd"));
        let vcpu = VmmError::Ioctl {
            ioctl: "KVM_CREATE_VCPU",
            source: kvm_ioctls::Error::new(libc::EINVAL),
        };
        let text = vcpu.to_string();
        assert!(text.starts_with("KVM_CREATE_VCPU failed: "), "{text}");
        assert!(text.contains("KVM_CAP_MAX_VCPUS"), "{text}");
    }

    #[test]
    fn bad_configs_are_refused_before_touching_kvm() {
        let config = |vcpus, ram_bytes| MicroVmConfig {
            vcpus,
            ram_bytes,
            irqchip: false,
        };
        for (c, field) in [
            (config(0, 2 << 20), "vcpus"),
            (config(255, 2 << 20), "vcpus"),
            (config(1, 4096), "ram_bytes"),
        ] {
            match MicroVm::new(c) {
                Err(VmmError::Config { field: f, .. }) => assert_eq!(f, field),
                Err(other) => panic!("{c:?}: {other}"),
                Ok(_) => panic!("{c:?} accepted"),
            }
        }
    }

    #[test]
    fn deadline_message_names_the_deadline_and_the_vcpus() {
        let end = VmEnd::DeadlinePassed {
            deadline: Duration::from_millis(300),
            running: vec![0, 2],
        };
        assert_eq!(
            end.to_string(),
            "guest did not halt within 300ms: vCPUs [0, 2] were still running and were stopped"
        );
    }
}
