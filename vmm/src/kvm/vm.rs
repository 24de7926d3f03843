//! [`MicroVm`]: /dev/kvm opened, a VM with guest RAM ([`GuestRam`]), the
//! two UARTs and N vCPUs; [`MicroVm::load_linux`] puts a kernel in it.
//! [`MicroVm::start`] runs one thread per vCPU and returns [`Running`],
//! which borrows the VM (guest RAM outlives the threads), pauses and
//! resumes them, and stops and joins them when joined or dropped;
//! [`MicroVm::run`] does that under a deadline and collects what the guest
//! wrote (the tiny test guests). Everything is released when the `MicroVm`
//! drops (fds, mappings).

use std::collections::BTreeMap;
use std::fmt;
use std::os::unix::thread::JoinHandleExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use kvm_bindings::{
    kvm_pit_config, kvm_regs, kvm_userspace_memory_region, KVM_MAX_CPUID_ENTRIES,
    KVM_PIT_SPEAKER_DUMMY,
};
use kvm_ioctls::{Kvm, VcpuFd, VmFd};
use vm_memory::{
    Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion,
    MemoryRegionAddress,
};
use vmm_sys_util::eventfd::EventFd;

use super::acpi::{self, AcpiError};
use super::boot::{self, BootError, BootInfo};
use super::bus::Devices;
use super::cpuid;
use super::layout;
use super::loader::{self, LoadError};
use super::memory::{GuestRam, MemoryError};
use super::pause::{PauseError, PauseHandle};
use super::serial::IrqLine;
use super::topology::CpuLayout;
use super::vcpu::{self, VcpuState};
use super::{lapic, msr};
use scxray::run::topology::Topology;

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
    #[error(transparent)]
    Kernel(#[from] LoadError),
    #[error(transparent)]
    Acpi(#[from] AcpiError),
    #[error("loading {len} bytes at guest address {addr:#x}: {source} (outside guest RAM?)")]
    Load {
        addr: u64,
        len: usize,
        source: vm_memory::GuestMemoryError,
    },
    #[error("KVM refused boot MSR {index:#x} (KVM_SET_MSRS set fewer than asked)")]
    Msr { index: u32 },
    #[error("vCPU {index}: there is no such vCPU, or it already ran")]
    NoVcpu { index: usize },
    #[error("installing the vCPU kick signal handler (SIGRTMIN): {0}")]
    KickHandler(#[source] std::io::Error),
    #[error("starting the thread for vCPU {index}: {source}")]
    Thread {
        index: usize,
        source: std::io::Error,
    },
    #[error("pausing the guest: {0}")]
    Pause(#[source] PauseError),
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
    /// How the vCPUs are laid out (APIC IDs, CPUID, SRAT); `None`: one
    /// node, one LLC, single-thread cores.
    pub topology: Option<Topology>,
    /// Guest RAM, a multiple of 4 KiB, at least 1 MiB.
    pub ram_bytes: u64,
    /// In-kernel IOAPIC/PIC/LAPICs and PIT, with the UARTs' interrupts as
    /// irqfds: what Linux needs. Without it `hlt` exits to the VMM and
    /// ends that vCPU, which is what the tiny real-mode guests rely on.
    pub irqchip: bool,
}

impl MicroVmConfig {
    /// The vCPUs' layout: the topology asked, else flat.
    pub fn cpu_layout(&self) -> CpuLayout {
        CpuLayout::new(self.topology.unwrap_or(Topology::flat(self.vcpus)))
    }
}

/// Where [`MicroVm::load_linux`] put things.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinuxBoot {
    /// RIP of vCPU 0: the kernel's 64-bit entry.
    pub entry: u64,
    /// First byte past the kernel's decompression area.
    pub kernel_end: u64,
    /// `(address, size)` of the initramfs.
    pub initramfs: (u64, u64),
    /// The ACPI RSDP.
    pub rsdp: u64,
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
    /// The VMM stopped these vCPUs while they ran (the caller's decision,
    /// e.g. its own deadline or Ctrl-C); the others had halted.
    Kicked { running: Vec<usize> },
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
            VmEnd::Kicked { running } => write!(f, "the VMM stopped vCPUs {running:?}"),
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
    /// Taken by [`MicroVm::start`], which moves each to its thread.
    vcpus: Mutex<Vec<Option<VcpuFd>>>,
    devices: Arc<Mutex<Devices>>,
    /// What COM1 and COM2 wrote, until [`MicroVm::take_output`].
    console: Option<Receiver<Vec<u8>>>,
    record: Option<Receiver<Vec<u8>>>,
    /// vCPU threads run at nice 10.
    background: bool,
}

impl MicroVm {
    pub fn new(config: MicroVmConfig) -> Result<MicroVm, VmmError> {
        if !(1..=layout::MAX_VCPUS).contains(&config.vcpus) {
            return Err(VmmError::Config {
                field: "vcpus",
                why: format!("{} is outside 1..={}", config.vcpus, layout::MAX_VCPUS),
            });
        }
        if let Some(t) = config.topology {
            if t.cpus() != config.vcpus || t.check(layout::MAX_VCPUS).is_err() {
                return Err(VmmError::Config {
                    field: "topology",
                    why: format!("{t} does not make {} vCPUs", config.vcpus),
                });
            }
            let max = CpuLayout::new(t).max_apic_id();
            if max >= u32::from(layout::IOAPIC_ID) {
                return Err(VmmError::Config {
                    field: "topology",
                    why: format!("{t} needs APIC ID {max}, past xAPIC's 8 bits"),
                });
            }
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
        let cpus = config.cpu_layout();
        let mut vcpus = Vec::new();
        for index in 0..config.vcpus {
            // KVM takes the vCPU id as the initial APIC ID.
            let vcpu = vm
                .create_vcpu(u64::from(cpus.apic_id(index)))
                .map_err(ioctl("KVM_CREATE_VCPU"))?;
            let mut leaves = supported.clone();
            cpuid::patch_for_vcpu(leaves.as_mut_slice(), index, &cpus);
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
            vcpus: Mutex::new(vcpus),
            devices: Arc::new(Mutex::new(devices)),
            console: Some(console),
            record: Some(record),
            background: false,
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

    /// Puts Linux in guest RAM the way the 64-bit boot protocol wants it
    /// (bzImage at 1 MiB, the initramfs high, command line, zero page with
    /// E820 map and RSDP, MP table and ACPI tables for every vCPU) and
    /// points vCPU 0 at its 64-bit entry; every vCPU gets the boot MSRs
    /// and, with the irqchip, ExtINT/NMI on LINT0/LINT1. The other vCPUs
    /// wait for the kernel's INIT/SIPI, which KVM's in-kernel LAPIC takes.
    pub fn load_linux(
        &mut self,
        kernel: &Path,
        initramfs: &Path,
        cmdline: &str,
    ) -> Result<LinuxBoot, VmmError> {
        let (ram_bytes, vcpus) = (self.config.ram_bytes, self.config.vcpus);
        let mem = self.ram.memory();
        let k = loader::load_bzimage(mem, kernel)?;
        let initrd = loader::load_initramfs(mem, ram_bytes, &k, initramfs)?;
        boot::write_cmdline(mem, cmdline, k.header.cmdline_size)?;
        let cpus = self.config.cpu_layout();
        boot::write_mp_table(mem, &cpus.apic_ids())?;
        let ram: Vec<(u64, u64)> = layout::e820_map(ram_bytes)
            .into_iter()
            .filter(|e| e.kind == layout::E820_RAM)
            .map(|e| (e.addr, e.size))
            .collect();
        let rsdp = acpi::write_tables(mem, &cpus, &ram)?;
        let params = boot::boot_params(
            k.header,
            &BootInfo {
                ram_bytes,
                cmdline_len: cmdline.len(),
                initramfs: Some(initrd),
                acpi_rsdp: Some(rsdp),
            },
        )?;
        boot::write_boot_params(mem, &params)?;
        self.set_long_mode_entry(0, k.entry)?;
        let msrs = kvm_bindings::Msrs::from_entries(&msr::boot_msr_entries()).map_err(|e| {
            VmmError::Config {
                field: "boot MSRs",
                why: format!("{e:?}"),
            }
        })?;
        let irqchip = self.config.irqchip;
        for index in 0..vcpus as usize {
            let vcpu = self.vcpu(index)?;
            let set = vcpu.set_msrs(&msrs).map_err(ioctl("KVM_SET_MSRS"))?;
            if set != msrs.as_slice().len() {
                let index = msrs.as_slice()[set].index;
                return Err(VmmError::Msr { index });
            }
            if irqchip {
                let mut state = vcpu.get_lapic().map_err(ioctl("KVM_GET_LAPIC"))?;
                lapic::set_lint_modes(&mut state.regs);
                vcpu.set_lapic(&state).map_err(ioctl("KVM_SET_LAPIC"))?;
            }
        }
        Ok(LinuxBoot {
            entry: k.entry,
            kernel_end: k.end,
            initramfs: initrd,
            rsdp,
        })
    }

    fn vcpu(&mut self, index: usize) -> Result<&mut VcpuFd, VmmError> {
        self.vcpus
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(index)
            .and_then(Option::as_mut)
            .ok_or(VmmError::NoVcpu { index })
    }

    /// Queues bytes for the guest on COM2 (the record channel).
    pub fn send_record(&self, bytes: &[u8]) {
        self.record_input().send(bytes);
    }

    /// A handle that queues bytes for the guest on COM2, for another thread.
    pub fn record_input(&self) -> RecordInput {
        RecordInput(self.devices.clone())
    }

    /// The receivers of what COM1 (console) and COM2 (records) write, to
    /// stream them while the guest runs; `run` then reports none.
    pub fn take_output(&mut self) -> Option<UartOutput> {
        Some(UartOutput {
            console: self.console.take()?,
            record: self.record.take()?,
        })
    }

    /// Runs the vCPU threads at nice 10: a guest booted ahead of need must
    /// not slow the one being watched.
    pub fn set_background(&mut self, background: bool) {
        self.background = background;
    }

    /// Ports no device claimed so far, with their access counts.
    pub fn unclaimed_ports(&self) -> BTreeMap<u16, u64> {
        self.devices
            .lock()
            .map(|d| d.unclaimed.clone())
            .unwrap_or_default()
    }

    /// Starts one thread per vCPU. The guest runs until every vCPU halts,
    /// one stops the guest or fails, or the [`Running`] is stopped or
    /// dropped (which kicks and joins the threads). Only once per VM.
    pub fn start(&self) -> Result<Running<'_>, VmmError> {
        let mut fds = self.vcpus.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(index) = fds.iter().position(Option::is_none) {
            return Err(VmmError::NoVcpu { index });
        }
        let count = fds.len();
        let background = self.background;
        let (tid_tx, tid_rx) = channel::<(usize, u32)>();
        let (done_tx, done) = channel::<(usize, VcpuState, u64)>();
        let mut running = Running {
            threads: Vec::with_capacity(count),
            finished: Vec::new(),
            done,
            stop: Arc::new(AtomicBool::new(false)),
            pause: PauseHandle::new(count),
            tids: None,
            states: vec![VcpuState::Running; count],
            order: Vec::new(),
            exits: 0,
            started: Instant::now(),
            _vm: std::marker::PhantomData,
        };
        for (index, slot) in fds.iter_mut().enumerate() {
            let Some(mut fd) = slot.take() else {
                return Err(VmmError::NoVcpu { index });
            };
            let (devices, stop, gate, done, tid) = (
                self.devices.clone(),
                running.stop.clone(),
                running.pause.clone(),
                done_tx.clone(),
                tid_tx.clone(),
            );
            let spawned = thread::Builder::new()
                .name(format!("vcpu{index}"))
                .spawn(move || {
                    // SAFETY: gettid has no preconditions.
                    let _ = tid.send((index, unsafe { libc::gettid() } as u32));
                    if background {
                        // Best effort. SAFETY: 0 is this thread on Linux.
                        unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 10) };
                    }
                    let (state, exits) = vcpu::run_vcpu(&mut fd, index, &devices, &stop, &gate);
                    let _ = done.send((index, state, exits));
                });
            match spawned {
                Ok(handle) => {
                    running.pause.add_thread(handle.as_pthread_t());
                    running.threads.push(Some(handle));
                }
                // Dropping `running` stops and joins those started.
                Err(source) => return Err(VmmError::Thread { index, source }),
            }
        }
        drop(tid_tx);
        // Each thread says its id first thing; the host monitor reads its
        // run-queue waits. A thread that never does (it died) leaves none.
        let mut tids = vec![None; count];
        while let Ok((index, tid)) = tid_rx.recv_timeout(Duration::from_secs(1)) {
            tids[index] = Some(tid);
            if tids.iter().all(Option::is_some) {
                break;
            }
        }
        running.tids = tids.into_iter().collect();
        Ok(running)
    }

    /// Runs every vCPU on its own thread until all halt, the guest stops or
    /// fails, or `deadline` passes; then kicks and joins the rest. Only
    /// once per VM.
    pub fn run(&mut self, deadline: Duration) -> Result<RunReport, VmmError> {
        let mut running = self.start()?;
        let end_at = running.started + deadline;
        let mut deadline_hit = false;
        while !running.poll(end_at.saturating_duration_since(Instant::now())) {
            if Instant::now() >= end_at {
                deadline_hit = true;
                break;
            }
        }
        let ran = running.join()?;
        let end = match deadline_hit {
            true => VmEnd::DeadlinePassed {
                deadline,
                running: ran.kicked(),
            },
            false => ran.end(),
        };
        let outputs = |rx: &Option<Receiver<Vec<u8>>>| -> Vec<u8> {
            rx.iter().flat_map(|r| r.try_iter()).flatten().collect()
        };
        Ok(RunReport {
            end,
            vcpus: ran.states,
            exits: ran.exits,
            console: outputs(&self.console),
            record: outputs(&self.record),
            unclaimed_ports: self.unclaimed_ports(),
            elapsed: ran.elapsed,
        })
    }
}

/// What the guest writes to its UARTs, a message per write.
pub struct UartOutput {
    pub console: Receiver<Vec<u8>>,
    pub record: Receiver<Vec<u8>>,
}

/// Queues bytes for the guest's COM2 from any thread.
#[derive(Clone)]
pub struct RecordInput(Arc<Mutex<Devices>>);

impl RecordInput {
    pub fn send(&self, bytes: &[u8]) {
        if let Ok(mut d) = self.0.lock() {
            d.com2.queue_input(bytes);
        }
    }
}

/// The vCPU threads of a started [`MicroVm`], which it borrows: guest RAM
/// outlives them. Dropping it stops and joins them.
pub struct Running<'vm> {
    /// Threads still running, by vCPU index.
    threads: Vec<Option<JoinHandle<()>>>,
    /// Threads that reported their end, joined in [`Running::join`].
    finished: Vec<JoinHandle<()>>,
    done: Receiver<(usize, VcpuState, u64)>,
    stop: Arc<AtomicBool>,
    pause: PauseHandle,
    /// Each vCPU thread's id, by index, once all reported.
    tids: Option<Vec<u32>>,
    states: Vec<VcpuState>,
    order: Vec<usize>,
    exits: u64,
    started: Instant,
    _vm: std::marker::PhantomData<&'vm MicroVm>,
}

/// What the vCPU threads ended as.
#[derive(Debug)]
pub struct Ran {
    /// Each vCPU's final state, by index.
    pub states: Vec<VcpuState>,
    /// The order they ended in.
    pub order: Vec<usize>,
    pub exits: u64,
    pub elapsed: Duration,
}

impl Ran {
    /// How the run ended, from the first vCPU to fail, else to stop the
    /// guest, else every vCPU halted.
    pub fn end(&self) -> VmEnd {
        let first = |pick: fn(&VcpuState) -> bool| {
            self.order.iter().copied().find(|&i| pick(&self.states[i]))
        };
        if let Some(i) = first(|s| matches!(s, VcpuState::Failed { .. })) {
            if let VcpuState::Failed { error } = &self.states[i] {
                return VmEnd::Failed {
                    vcpu: i,
                    error: error.clone(),
                };
            }
        }
        if let Some(i) = first(|s| matches!(s, VcpuState::Stopped { .. })) {
            if let VcpuState::Stopped { why } = &self.states[i] {
                return VmEnd::Stopped {
                    vcpu: i,
                    why: why.clone(),
                };
            }
        }
        if self.states.iter().all(|s| *s == VcpuState::Halted) {
            VmEnd::Halted
        } else {
            VmEnd::Kicked {
                running: self.kicked(),
            }
        }
    }

    /// The vCPUs the VMM stopped while they ran.
    pub fn kicked(&self) -> Vec<usize> {
        (0..self.states.len())
            .filter(|&i| self.states[i] == VcpuState::Kicked)
            .collect()
    }
}

impl Running<'_> {
    /// Takes in vCPUs that ended, waiting up to `timeout` for one; `true`
    /// once the VM is over: every vCPU ended, or one stopped the guest or
    /// failed (the others are then being stopped).
    pub fn poll(&mut self, timeout: Duration) -> bool {
        if self.threads.iter().all(Option::is_none) {
            return true;
        }
        match self.done.recv_timeout(timeout) {
            Ok(msg) => self.ended(msg),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => self.reap_panicked(),
        }
        while let Ok(msg) = self.done.try_recv() {
            self.ended(msg);
        }
        self.stop.load(Ordering::Acquire) || self.threads.iter().all(Option::is_none)
    }

    /// A vCPU thread reported its end. Joined only in [`Self::join`]: a
    /// [`PauseHandle`] may still signal it until then.
    fn ended(&mut self, (index, state, n): (usize, VcpuState, u64)) {
        if let Some(slot) = self.threads.get_mut(index) {
            if let Some(handle) = slot.take() {
                self.finished.push(handle);
            }
        }
        if let Some(slot) = self.states.get_mut(index) {
            *slot = state;
        }
        self.order.push(index);
        self.exits += n;
    }

    /// Every sender is gone but some threads never reported: they panicked.
    fn reap_panicked(&mut self) {
        for (i, t) in self.threads.iter_mut().enumerate() {
            if let Some(handle) = t.take() {
                self.finished.push(handle);
                self.states[i] = VcpuState::Failed {
                    error: "vCPU thread panicked".into(),
                };
                self.order.push(i);
            }
        }
    }

    /// The vCPU threads' ids (`gettid`), by vCPU index.
    pub fn vcpu_tids(&self) -> Option<Vec<u32>> {
        self.tids.clone()
    }

    /// When the vCPU threads started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Pauses and resumes this VM from any thread (the failure dump's).
    pub fn pause_handle(&self) -> PauseHandle {
        self.pause.clone()
    }

    /// Stops every vCPU at its next entry (see [`PauseHandle::pause`]).
    pub fn pause(&self, timeout: Duration) -> Result<Vec<Option<kvm_regs>>, VmmError> {
        self.pause.pause(timeout).map_err(VmmError::Pause)
    }

    /// Lets paused vCPUs go on.
    pub fn resume(&self) {
        self.pause.resume();
    }

    /// Stops every vCPU still running (kicking them every
    /// [`KICK_INTERVAL`]) and joins their threads.
    pub fn join(mut self) -> Result<Ran, VmmError> {
        self.stop_all()?;
        Ok(Ran {
            states: std::mem::take(&mut self.states),
            order: std::mem::take(&mut self.order),
            exits: self.exits,
            elapsed: self.started.elapsed(),
        })
    }

    fn stop_all(&mut self) -> Result<(), VmmError> {
        self.stop.store(true, Ordering::Release);
        self.pause.resume();
        let kicked_at = Instant::now();
        while self.threads.iter().any(Option::is_some) {
            if kicked_at.elapsed() > KICK_GIVE_UP {
                let stuck = (0..self.threads.len())
                    .filter(|&i| self.threads[i].is_some())
                    .collect();
                // Left detached: joining would hang. Their fds stay open.
                self.pause.forget_threads();
                self.threads.iter_mut().for_each(|t| drop(t.take()));
                return Err(VmmError::Stuck { stuck });
            }
            self.pause.kick();
            match self.done.recv_timeout(KICK_INTERVAL) {
                Ok(msg) => self.ended(msg),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => self.reap_panicked(),
            }
        }
        self.pause.forget_threads();
        for handle in self.finished.drain(..) {
            let _ = handle.join();
        }
        Ok(())
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let _ = self.stop_all();
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
            topology: None,
            ram_bytes,
            irqchip: false,
        };
        for (c, field) in [
            (config(0, 2 << 20), "vcpus"),
            (config(255, 2 << 20), "vcpus"),
            (config(1, 4096), "ram_bytes"),
            (
                MicroVmConfig {
                    topology: Some("1n2l2c1t".parse().unwrap()),
                    ..config(2, 2 << 20)
                },
                "topology",
            ),
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
