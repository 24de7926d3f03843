//! The host-side monitor: per-CPU runqueue state (and schedstat), the
//! sched_ext event counters and the struct_ops BPF programs' statistics,
//! read straight out of a running guest's RAM every 100 ms, with no help
//! from the guest: the kernel's layout (KASLR offset, `phys_base`, the
//! page-table root) comes from the VMCOREINFO note in guest RAM and the
//! symbols from kallsyms decoded there ([`discover`]); Debian ships no
//! System.map. The symbols the agent reads from `/proc/kallsyms` are a
//! cross-check (and the fallback on a kernel without VMCOREINFO).
//!
//! [`Monitor`] is driven from the run's event loop: [`Monitor::started`]
//! when the VM's RAM file appears, [`Monitor::poll`] on every event (it
//! looks for the layout in guest memory every second until found, then
//! samples when one is due), [`Monitor::symbols`] when the agent's record
//! arrives, [`Monitor::stopped`] for a last sample of the dead guest. Anything
//! missing for the runqueues (no BTF, no shared RAM, a layout that does not
//! check out) turns the monitor off with one note saying why; the run goes
//! on. Event counters, schedstat or BPF statistics that cannot be read (a
//! kernel without them, a missing symbol, an address that does not
//! translate) are noted once and marked unavailable on every sample; the
//! rest is still sampled.

mod bpf;
pub mod discover;
mod events;
mod memory;
pub mod pagewalk;
mod rq;
mod runnable;
// Public, hidden: benches and tests build synthetic guests with it.
#[doc(hidden)]
pub mod testkit;
mod vcpu;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use scxray::btf::{Btf, BtfError};
use scxray::host_monitor::events::{Events, Shared};
use scxray::host_monitor::sample::{CpuSample, Sample, Schedstat, Schedstats};
use scxray::run::record::KernelSymbol;

use crate::backend::MemoryInfo;
use crate::kernel::extract::{btf_section, ExtractError};
use crate::layout::{direct_map_pa, image_pa, DEFAULT_PAGE_OFFSET};
use bpf::BpfReader;
use events::{EventReader, Translate};
use memory::GuestRam;
use pagewalk::PageTables;
use scxray::host_monitor::bpf::BpfProgs;

pub use bpf::BpfLayout;
pub use events::{EventLayout, Location};
pub use rq::{wanted_symbols, RqLayout, SchedstatLayout, Symbols};

/// How often a sample is taken (ktstr's monitor: 100 ms).
pub const INTERVAL: Duration = Duration::from_millis(100);

/// Why the monitor is off.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("no BTF for this kernel (a cache entry has one; a build tree's vmlinux carries it)")]
    NoBtf,
    #[error("cannot read BTF {path}: {source}")]
    BtfFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The vmlinux holds no `.BTF` section, or is no ELF file (the error
    /// names the file).
    #[error(transparent)]
    BtfSection(#[from] ExtractError),
    #[error("kernel BTF {path}: {source}")]
    Btf {
        path: PathBuf,
        #[source]
        source: BtfError,
    },
    #[error("{field} is {got} bytes in this kernel's BTF, expected {expected}")]
    FieldSize {
        field: String,
        expected: u64,
        got: u64,
    },
    #[error("guest RAM is not shared with the host (the backend gave no RAM file)")]
    NoSharedRam,
    #[error("cannot map guest RAM {path}: {source}")]
    Ram {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("kernel symbol {name} not found (neither in guest memory nor by the agent)")]
    MissingSymbol { name: &'static str },
    #[error("{what} at guest address {addr:#x} is outside guest RAM")]
    Unreadable { what: String, addr: u64 },
    #[error("page_offset_base reads {value:#x}, which is not a kernel address")]
    PageOffset { value: u64 },
    #[error(
        "the runqueue of CPU {cpu} says it is CPU {read}: the layout does not match this kernel"
    )]
    LayoutMismatch { cpu: u32, read: u32 },
}

/// The monitor of one run.
pub struct Monitor {
    layout: Result<RqLayout, MonitorError>,
    /// The event counters' layout, or what the kernel's BTF lacks.
    event_layout: Result<EventLayout, String>,
    /// Once the symbols came: the counters' reader, or why there is none.
    events: Option<Result<EventReader, Shared<str>>>,
    /// The last reason a read of the counters failed (noted once).
    event_error: Option<Shared<str>>,
    /// The runqueues' schedstat fields, or what the kernel's BTF lacks.
    schedstat_layout: Result<SchedstatLayout, Shared<str>>,
    /// Where the BPF programs' statistics are, or what BTF lacks.
    bpf_layout: Result<BpfLayout, String>,
    /// Once the symbols came: their reader, or why there is none.
    bpf: Option<Result<BpfReader, Shared<str>>>,
    /// The last reason a read of them failed (noted once).
    bpf_error: Option<Shared<str>>,
    /// Whether struct_ops programs were found (noted once).
    bpf_found: bool,
    /// The most programs `prog_idr` held in a sample.
    bpf_most: usize,
    cpus: u32,
    /// The RAM file, mapped once the guest runs: QEMU sizes the file after
    /// it starts, so a mapping taken at start could be empty.
    memory: Option<MemoryInfo>,
    ram: Option<GuestRam>,
    /// Guest physical address of each CPU's `struct rq`, once resolved.
    rqs: Vec<u64>,
    last_ms: Option<u64>,
    /// Notes for the run (why the monitor is off, what it cannot read),
    /// until taken by [`Monitor::take_note`].
    notes: VecDeque<String>,
    /// Samples taken and the host time they took.
    cost: (u64, Duration),
    off: bool,
    /// The vmlinux, for its `.symtab` where kallsyms cannot be decoded.
    vmlinux: Option<PathBuf>,
    /// Whether the layout is looked for in guest memory (else only the
    /// agent's symbols are used).
    from_memory: bool,
    /// What guest memory said about the kernel, once found.
    found: Option<discover::Found>,
    /// The agent's symbols, once sent: a cross-check.
    agent: Option<Vec<KernelSymbol>>,
    /// Whether the two were compared (said once).
    cross_checked: bool,
    /// Why the last look into guest memory found no usable layout.
    discover_error: Option<String>,
    /// When the next look is due.
    next_try_ms: u64,
    /// The QEMU process, for its vCPU threads.
    qemu_pid: Option<u32>,
    /// The vCPU threads, when the VMM named them (the own VMM).
    vcpu_tids: Option<Vec<u32>>,
    /// Its vCPU threads once looked for, or why they cannot be told apart.
    vcpus: Option<Result<vcpu::VcpuThreads, String>>,
    /// Once resolved: the symbols, each CPU's `__per_cpu_offset` and how
    /// addresses translate, for the failure dump's walk.
    resolved: Option<(rq::Symbols, Vec<u64>, Option<Translate>)>,
    /// Where runnable tasks' waits are, or what BTF lacks.
    runnable_layout: Result<runnable::RunnableLayout, String>,
    /// Once the symbols came: their reader, or why there is none.
    runnable: Option<Result<runnable::RunnableReader, Shared<str>>>,
    /// The last reason a read of them failed (noted once).
    runnable_error: Option<Shared<str>>,
    /// Samples in a row whose runnable lists could not be walked.
    runnable_failures: u32,
    /// Whether a coming stall was noted (once a run).
    stall_noted: bool,
}

/// A read that failed for `why`: noted (`what: why; still`) only when the
/// reason changed since the last failure, kept in `last` for the samples.
fn note_once(
    notes: &mut VecDeque<String>,
    last: &mut Option<Shared<str>>,
    why: String,
    what: &str,
    still: &str,
) -> Shared<str> {
    match last {
        Some(e) if *e.0 == *why => e.clone(),
        _ => {
            notes.push_back(format!("host monitor: {what}: {why}; {still}"));
            let shared = Shared(Arc::from(why));
            *last = Some(shared.clone());
            shared
        }
    }
}

/// Samples in a row with a runnable list that cannot be walked before it
/// is noted.
const RUNNABLE_FAILURES_NOTED: u32 = 5;

/// How often guest memory is searched for the kernel's layout until found.
const DISCOVER_EVERY_MS: u64 = 1000;

/// What [`Monitor::resolve`] found.
struct Resolved {
    syms: rq::Symbols,
    rqs: Vec<u64>,
    per_cpu: Vec<u64>,
    page_offset: u64,
    /// CPU 0's runqueue, virtual, to check a page walk against.
    rq0_va: u64,
}

impl Monitor {
    /// A monitor for a guest with `cpus` CPUs whose kernel's BTF is `btf`
    /// (raw BTF) or inside `vmlinux`.
    pub fn new(btf: Option<&Path>, vmlinux: Option<&Path>, cpus: u32) -> Monitor {
        Monitor::with_btf(load_btf(btf, vmlinux), vmlinux, cpus).0
    }

    /// [`Monitor::new`] on BTF already loaded ([`load_btf`]), handing the
    /// BTF back (or why there is none) for the failure dump: one guest's
    /// BTF, 5 MB for a distribution kernel, is parsed once, before boot.
    pub fn with_btf(
        loaded: Result<(Btf, PathBuf), MonitorError>,
        vmlinux: Option<&Path>,
        cpus: u32,
    ) -> (Monitor, Result<Btf, String>) {
        let (layout, event_layout, schedstat_layout, bpf_layout, runnable_layout, btf) =
            match loaded {
                Ok((btf, path)) => (
                    RqLayout::from_btf(&btf, &path),
                    EventLayout::from_btf(&btf),
                    SchedstatLayout::from_btf(&btf).map_err(|why| Shared(Arc::from(why))),
                    BpfLayout::from_btf(&btf),
                    runnable::RunnableLayout::from_btf(&btf),
                    Ok(btf),
                ),
                Err(e) => {
                    let why = e.to_string();
                    (
                        Err(e),
                        Err(why.clone()),
                        Err(Shared(Arc::from(why.clone()))),
                        Err(why.clone()),
                        Err(why.clone()),
                        Err(why),
                    )
                }
            };
        let monitor = Monitor {
            layout,
            event_layout,
            events: None,
            event_error: None,
            schedstat_layout,
            bpf_layout,
            bpf: None,
            bpf_error: None,
            bpf_found: false,
            bpf_most: 0,
            cpus,
            memory: None,
            ram: None,
            rqs: Vec::new(),
            last_ms: None,
            notes: VecDeque::new(),
            cost: (0, Duration::ZERO),
            off: false,
            vmlinux: vmlinux.map(Path::to_path_buf),
            from_memory: true,
            found: None,
            agent: None,
            cross_checked: false,
            discover_error: None,
            next_try_ms: 0,
            qemu_pid: None,
            vcpu_tids: None,
            vcpus: None,
            resolved: None,
            runnable_layout,
            runnable: None,
            runnable_error: None,
            runnable_failures: 0,
            stall_noted: false,
        };
        (monitor, btf)
    }

    /// QEMU runs as `pid`: its vCPU threads are looked up at the first
    /// sample (they exist once the guest runs).
    pub fn qemu_started(&mut self, pid: u32) {
        self.qemu_pid = Some(pid);
        self.vcpu_tids = None;
        self.vcpus = None;
    }

    /// The own VMM's vCPU threads `tids` (by guest CPU) in process `pid`.
    pub fn vcpu_threads(&mut self, pid: u32, tids: Vec<u32>) {
        self.qemu_pid = Some(pid);
        self.vcpu_tids = Some(tids);
        self.vcpus = None;
    }

    /// Each vCPU thread's host wait so far; the first call finds the
    /// threads and notes when they cannot be told apart.
    fn vcpu_waits(&mut self) -> Option<Vec<u64>> {
        if self.vcpus.is_none() {
            let pid = self.qemu_pid?;
            let found = match &self.vcpu_tids {
                Some(tids) => vcpu::VcpuThreads::of(pid, tids.clone()),
                None => vcpu::VcpuThreads::find(pid, self.rqs.len()),
            };
            if let Err(why) = &found {
                self.notes.push_back(format!(
                    "host monitor: host preemption of vCPUs not tracked ({why}); a preempted vCPU can show as a stuck CPU"
                ));
            }
            self.vcpus = Some(found);
        }
        self.vcpus.as_ref()?.as_ref().ok()?.waits_ns()
    }

    /// The VM started; `memory` is its RAM file, if shared.
    pub fn started(&mut self, memory: Option<&MemoryInfo>) {
        self.ram = None;
        self.rqs.clear();
        self.found = None;
        self.agent = None;
        self.cross_checked = false;
        self.discover_error = None;
        self.next_try_ms = 0;
        if let Err(e) = &self.layout {
            let why = e.to_string();
            return self.turn_off(why);
        }
        match memory {
            Some(m) => self.memory = Some(m.clone()),
            None => self.turn_off(MonitorError::NoSharedRam.to_string()),
        }
    }

    /// The agent sent the symbol addresses (the guest is up, its RAM file
    /// full size). Where the layout was found in guest memory they are a
    /// cross-check; else memory is searched once more, and only if that
    /// fails are they used: map the RAM, find every CPU's runqueue and
    /// check the layout against what the guest holds there.
    pub fn symbols(&mut self, symbols: &[KernelSymbol]) {
        self.agent = Some(symbols.to_vec());
        if self.off || self.memory.is_none() {
            return;
        }
        if self.running() {
            return self.cross_check();
        }
        if self.from_memory {
            if self.try_memory() {
                return;
            }
            let why = self
                .discover_error
                .clone()
                .unwrap_or_else(|| "not searched".into());
            self.notes.push_back(format!(
                "host monitor: kernel layout not found in guest memory ({why}); using the guest agent's /proc/kallsyms"
            ));
        }
        let Some(memory) = &self.memory else {
            return;
        };
        match GuestRam::open(memory) {
            Ok(ram) => self.ram = Some(ram),
            Err(e) => return self.turn_off(e.to_string()),
        }
        if let Err(e) = self.install(symbols, None) {
            self.turn_off(e.to_string());
        }
    }

    /// Looks for the kernel's layout in guest memory and, when found and
    /// it checks out, starts sampling with it. False (and why in
    /// `discover_error`) when not, to be tried again.
    fn try_memory(&mut self) -> bool {
        let Some(memory) = &self.memory else {
            return false;
        };
        let ram = match GuestRam::open(memory) {
            Ok(ram) => ram,
            Err(e) => {
                self.discover_error = Some(e.to_string());
                return false;
            }
        };
        let found = match discover::discover(&ram, self.vmlinux.as_deref(), &wanted_symbols()) {
            Ok(found) => found,
            Err(why) => {
                self.discover_error = Some(why);
                return false;
            }
        };
        self.ram = Some(ram);
        let symbols = found.symbols.clone();
        match self.install(&symbols, Some(&found)) {
            Ok(page_offset) => {
                let i = &found.info;
                self.notes.push_back(format!(
                    "host monitor: kernel layout from guest memory: {} KERNELOFFSET={:#x} phys_base={} page_offset_base={page_offset:#x}{} (VMCOREINFO at guest physical {:#x}); {} symbols from {}{}",
                    i.osrelease,
                    i.kernel_offset,
                    signed_hex(i.phys_base),
                    match i.l5 {
                        Some(true) => ", 5-level paging",
                        Some(false) => ", 4-level paging",
                        None => "",
                    },
                    found.info_pa,
                    symbols.len(),
                    found.source,
                    if self.agent.is_none() {
                        ", before the guest agent sent any"
                    } else {
                        ""
                    }
                ));
                self.found = Some(found);
                self.discover_error = None;
                self.cross_check();
                true
            }
            Err(e) => {
                self.ram = None;
                self.discover_error = Some(format!(
                    "{e} (with the symbols of {} and VMCOREINFO)",
                    found.source
                ));
                false
            }
        }
    }

    /// Compares the agent's symbols with those found in guest memory, once
    /// both are there: a note either way.
    fn cross_check(&mut self) {
        let (Some(found), Some(agent)) = (&self.found, &self.agent) else {
            return;
        };
        if self.cross_checked {
            return;
        }
        self.cross_checked = true;
        let mut same = 0;
        let mut differ = Vec::new();
        for a in agent {
            match found.symbols.iter().find(|s| s.name == a.name) {
                Some(m) if m.addr == a.addr => same += 1,
                Some(m) => differ.push(format!(
                    "{} {:#x} in guest memory, {:#x} by the agent",
                    a.name, m.addr, a.addr
                )),
                None => {}
            }
        }
        self.notes.push_back(if differ.is_empty() {
            format!("host monitor: the guest agent's /proc/kallsyms agrees with guest memory on {same} symbols")
        } else {
            format!(
                "host monitor: the guest agent's /proc/kallsyms disagrees with guest memory: {} (guest memory's are used)",
                differ.join(", ")
            )
        });
    }

    /// Finds the runqueues with `symbols` (and the layout `found` in guest
    /// memory, if any) and sets the readers up; `page_offset_base` back.
    fn install(
        &mut self,
        symbols: &[KernelSymbol],
        found: Option<&discover::Found>,
    ) -> Result<u64, MonitorError> {
        let syms = rq::Symbols::from_record(symbols)?;
        let phys_base = match found {
            Some(f) => Ok(f.info.phys_base),
            None => self.agent_phys_base(&syms),
        };
        let r = self.resolve(syms, *phys_base.as_ref().unwrap_or(&0))?;
        let page_offset = r.page_offset;
        {
            {
                self.rqs = r.rqs.clone();
                let xlate =
                    phys_base.and_then(|pb| self.translator(&r, pb, found.and_then(|f| f.info.l5)));
                self.resolved = Some((r.syms, r.per_cpu.clone(), xlate.clone().ok()));
                let rq_vas = r.per_cpu.iter().map(|o| r.syms.runqueues.wrapping_add(*o));
                let runnable = xlate.clone().and_then(|x| {
                    runnable::RunnableReader::new(
                        self.runnable_layout.clone()?,
                        rq_vas.collect(),
                        r.syms.jiffies_64,
                        r.syms.scx_root,
                        x,
                    )
                });
                self.runnable = Some(runnable.map_err(|why| {
                    self.notes.push_back(format!(
                        "host monitor: runnable tasks' waits not read: {why}; a coming stall is not flagged early"
                    ));
                    Shared(Arc::<str>::from(why))
                }));
                let bpf = xlate.clone().and_then(|x| {
                    let layout = self.bpf_layout.clone()?;
                    BpfReader::new(layout, r.syms.prog_idr, r.per_cpu.clone(), x)
                });
                self.bpf = Some(bpf.map_err(|why| {
                    self.notes.push_back(format!(
                        "host monitor: BPF program statistics not read: {why}; the other fields are sampled"
                    ));
                    Shared(Arc::<str>::from(why))
                }));
                let reader = xlate.and_then(|x| self.event_reader(&r, x)).map_err(|why| {
                    self.notes.push_back(format!(
                        "host monitor: SCX event counters not read: {why}; runqueue fields are still sampled"
                    ));
                    Shared(Arc::<str>::from(why))
                });
                self.events = Some(reader);
                if let Err(why) = &self.schedstat_layout {
                    self.notes.push_back(format!(
                        "host monitor: schedstat not read: {}; the other fields are sampled",
                        why.0
                    ));
                }
            }
        }
        Ok(page_offset)
    }

    /// The event counters' reader for the resolved symbols.
    fn event_reader(&mut self, r: &Resolved, xlate: Translate) -> Result<EventReader, String> {
        let layout = self.event_layout.clone()?;
        EventReader::new(
            layout,
            r.syms.scx_root,
            r.syms.event_stats_cpu,
            r.per_cpu.clone(),
            xlate,
        )
    }

    /// Kernel virtual → guest physical beyond the image and the direct
    /// map: `phys_base`, and the page tables when they check out.
    /// `phys_base` from the agent's symbol alone: with nokaslr it is 0,
    /// where it is read from; a relocated kernel's must hold its own value
    /// at the shifted address.
    fn agent_phys_base(&self, syms: &rq::Symbols) -> Result<u64, String> {
        let ram = self.ram.as_ref().ok_or("guest RAM is not mapped")?;
        let image_u64 = |va: u64, phys_base: u64| {
            image_pa(va).and_then(|pa| ram.read_u64(pa.wrapping_add(phys_base)))
        };
        match syms.phys_base.and_then(|va| Some((va, image_u64(va, 0)?))) {
            Some((va, pb)) if pb != 0 && image_u64(va, pb) != Some(pb) => {
                Err(format!("phys_base reads {pb:#x}, which does not check out"))
            }
            Some((_, pb)) => Ok(pb),
            None => Ok(0),
        }
    }

    fn translator(
        &mut self,
        r: &Resolved,
        phys_base: u64,
        l5_known: Option<bool>,
    ) -> Result<Translate, String> {
        let ram = self.ram.as_ref().ok_or("guest RAM is not mapped")?;
        let tables = match r.syms.init_top_pgt {
            None => None,
            Some(va) => {
                let l5 = match (l5_known, r.syms.pgtable_l5_enabled) {
                    (Some(l5), _) => Some(l5),
                    (None, Some(sym)) => image_pa(sym)
                        .and_then(|pa| ram.read_u32(pa.wrapping_add(phys_base)))
                        .map(|v| v != 0),
                    // Kernels without the variable: the direct map's start
                    // says (0xffff888000000000 under 4 levels,
                    // 0xff11000000000000 under 5).
                    (None, None) => Some(r.page_offset < 0xffff_8000_0000_0000),
                };
                let tables = image_pa(va).zip(l5).map(|(pa, l5)| PageTables {
                    root_pa: pa.wrapping_add(phys_base),
                    levels: if l5 { 5 } else { 4 },
                });
                // The walk must find CPU 0's runqueue where the direct map has it.
                match tables.map(|t| (t, t.translate(ram, r.rq0_va))) {
                    Some((t, Ok(pa))) if Some(&pa) == r.rqs.first() => Some(t),
                    Some((t, got)) => {
                        self.notes.push_back(format!(
                            "host monitor: the {}-level page-table walk from init_top_pgt does not find CPU 0's runqueue ({got:?}): per-CPU data outside the direct map cannot be read",
                            t.levels
                        ));
                        None
                    }
                    None => None,
                }
            }
        };
        Ok(Translate {
            page_offset: r.page_offset,
            phys_base,
            tables,
        })
    }

    fn resolve(&self, syms: rq::Symbols, phys_base: u64) -> Result<Resolved, MonitorError> {
        let (Some(ram), Ok(layout)) = (&self.ram, &self.layout) else {
            return Err(MonitorError::NoSharedRam);
        };
        let image_pa = |va: u64| image_pa(va).map(|pa| pa.wrapping_add(phys_base));
        let unreadable = |what: &str, addr: u64| MonitorError::Unreadable {
            what: what.to_string(),
            addr,
        };
        let page_offset = match syms.page_offset_base {
            Some(va) => image_pa(va)
                .and_then(|pa| ram.read_u64(pa))
                .ok_or_else(|| unreadable("page_offset_base", va))?,
            None => DEFAULT_PAGE_OFFSET,
        };
        // The direct map is in the kernel half (randomized under KASLR).
        if page_offset >> 63 == 0 {
            return Err(MonitorError::PageOffset { value: page_offset });
        }
        let mut rqs = Vec::new();
        let mut per_cpu = Vec::new();
        for cpu in 0..self.cpus {
            let slot = syms.per_cpu_offset + 8 * u64::from(cpu);
            let offset = image_pa(slot)
                .and_then(|pa| ram.read_u64(pa))
                .ok_or_else(|| unreadable("__per_cpu_offset", slot))?;
            let va = syms.runqueues.wrapping_add(offset);
            let pa =
                direct_map_pa(va, page_offset).ok_or_else(|| unreadable("the runqueue", va))?;
            let read = ram
                .read_u32(pa + layout.cpu.offset)
                .ok_or_else(|| unreadable("the runqueue", va))?;
            if read != cpu {
                return Err(MonitorError::LayoutMismatch { cpu, read });
            }
            rqs.push(pa);
            per_cpu.push(offset);
        }
        Ok(Resolved {
            syms,
            rqs,
            rq0_va: syms
                .runqueues
                .wrapping_add(per_cpu.first().copied().unwrap_or(0)),
            per_cpu,
            page_offset,
        })
    }

    /// A sample when one is due (every [`INTERVAL`]) and the monitor is on.
    pub fn poll(&mut self, at_ms: u64) -> Option<Sample> {
        if self.from_memory
            && !self.off
            && self.rqs.is_empty()
            && self.memory.is_some()
            && at_ms >= self.next_try_ms
        {
            self.next_try_ms = at_ms + DISCOVER_EVERY_MS;
            self.try_memory();
        }
        let due = self
            .last_ms
            .is_none_or(|last| at_ms >= last + INTERVAL.as_millis() as u64);
        if due {
            self.sample(at_ms)
        } else {
            None
        }
    }

    /// A sample now, whatever the interval says.
    pub fn sample(&mut self, at_ms: u64) -> Option<Sample> {
        let started = Instant::now();
        let sample = self.take_sample(at_ms);
        if sample.is_some() {
            self.cost.0 += 1;
            self.cost.1 += started.elapsed();
        }
        sample
    }

    fn take_sample(&mut self, at_ms: u64) -> Option<Sample> {
        let (Some(ram), Ok(layout)) = (&self.ram, &self.layout) else {
            return None;
        };
        if self.off || self.rqs.is_empty() {
            return None;
        }
        let mut cpus = Vec::with_capacity(self.rqs.len());
        for &rq in &self.rqs {
            let u32_at = |f: rq::Field| ram.read_u32(rq + f.offset);
            cpus.push(CpuSample {
                nr_running: u32_at(layout.nr_running)?,
                scx_nr_running: u32_at(layout.scx_nr_running)?,
                local_dsq: u32_at(layout.local_dsq_nr)?,
                clock: ram.read_u64(rq + layout.clock.offset)?,
            });
        }
        let events = match &mut self.events {
            Some(Ok(reader)) => match reader.read(ram) {
                Ok(Some(values)) => {
                    self.event_error = None;
                    if let Some(found) = reader.take_found() {
                        self.notes
                            .push_back(format!("host monitor: SCX event counters: {found}"));
                    }
                    Some(Events::Read {
                        names: reader.names().clone(),
                        values,
                    })
                }
                Ok(None) => None,
                Err(why) => Some(Events::Unavailable(note_once(
                    &mut self.notes,
                    &mut self.event_error,
                    why,
                    "SCX event counters not read",
                    "runqueue fields are still sampled",
                ))),
            },
            Some(Err(why)) => Some(Events::Unavailable(why.clone())),
            None => None,
        };
        let bpf = match &self.bpf {
            Some(Ok(reader)) => match reader.read(ram) {
                Ok((progs, all)) => {
                    self.bpf_error = None;
                    self.bpf_most = self.bpf_most.max(all);
                    if !progs.is_empty() && !self.bpf_found {
                        self.bpf_found = true;
                        self.notes.push_back(format!(
                            "host monitor: BPF programs: {all} in prog_idr, {} of them struct_ops ({})",
                            progs.len(),
                            progs.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
                        ));
                    }
                    Some(BpfProgs::Read(progs))
                }
                Err(why) => Some(BpfProgs::Unavailable(note_once(
                    &mut self.notes,
                    &mut self.bpf_error,
                    why,
                    "BPF program statistics not read",
                    "the other fields are sampled",
                ))),
            },
            Some(Err(why)) => Some(BpfProgs::Unavailable(why.clone())),
            None => None,
        };
        let schedstat = match &self.schedstat_layout {
            Ok(ss) => {
                let mut sums = [0u64; 7];
                for &rq in &self.rqs {
                    for (sum, f) in sums.iter_mut().zip(&ss.fields) {
                        let v = if f.size == 8 {
                            ram.read_u64(rq + f.offset)?
                        } else {
                            u64::from(ram.read_u32(rq + f.offset)?)
                        };
                        *sum = sum.wrapping_add(v);
                    }
                }
                Some(Schedstats::Read(Schedstat::from_values(sums)))
            }
            Err(why) => Some(Schedstats::Unavailable(why.clone())),
        };
        let runnable_wait = match &self.runnable {
            Some(Ok(reader)) => match reader.read(ram) {
                Ok(w) => {
                    self.runnable_error = None;
                    self.runnable_failures = 0;
                    if let Some(w) = w.filter(|w| w.stalling() && !self.stall_noted) {
                        self.stall_noted = true;
                        self.notes.push_back(format!(
                            "host monitor: a stall is coming: task {} on CPU {}'s runnable list has waited {} of the watchdog's {} jiffies at {at_ms} ms",
                            w.pid,
                            w.cpu,
                            w.waited_jiffies,
                            w.timeout_jiffies.unwrap_or(0)
                        ));
                    }
                    w
                }
                Err(why) => {
                    // One sample's walk can race the guest's own list
                    // updates; a list broken for half a second is not a race.
                    self.runnable_failures += 1;
                    if self.runnable_failures >= RUNNABLE_FAILURES_NOTED {
                        note_once(
                            &mut self.notes,
                            &mut self.runnable_error,
                            why,
                            "runnable tasks' waits not read",
                            "the other fields are sampled",
                        );
                    }
                    None
                }
            },
            _ => None,
        };
        self.last_ms = Some(at_ms);
        let vcpu_wait_ns = self.vcpu_waits();
        Some(Sample {
            at_ms,
            cpus,
            events,
            schedstat,
            bpf,
            vcpu_wait_ns,
            runnable_wait,
        })
    }

    /// The VM is gone (its RAM still readable until this returns): a last
    /// sample of the dead guest, then the mapping is dropped.
    pub fn stopped(&mut self, at_ms: u64) -> Option<Sample> {
        let last = self.sample(at_ms);
        if !self.off && self.rqs.is_empty() && self.memory.is_some() {
            if let Some(why) = self.discover_error.take() {
                self.notes.push_back(format!(
                    "host monitor off: the kernel's layout was never found in guest memory: {why}"
                ));
            }
        }
        if matches!(self.bpf, Some(Ok(_))) && !self.bpf_found {
            self.notes.push_back(format!(
                "host monitor: no struct_ops BPF program seen in prog_idr (at most {} programs of other types)",
                self.bpf_most
            ));
        }
        let (n, total) = std::mem::take(&mut self.cost);
        if n > 0 {
            let us = total.as_secs_f64() * 1e6 / n as f64;
            self.notes.push_back(format!(
                "host monitor: {n} samples, {us:.0} µs of host time each ({:.1} µs per CPU)",
                us / self.rqs.len().max(1) as f64
            ));
        }
        self.ram = None;
        self.memory = None;
        self.rqs.clear();
        self.events = None;
        self.bpf = None;
        self.resolved = None;
        self.runnable = None;
        last
    }

    /// The kernel text symbol of each address (`name+0xoff`), from
    /// kallsyms in guest RAM; `None` where the layout did not come from
    /// guest memory.
    pub fn symbolize(&self, addrs: &[u64]) -> Option<Vec<Option<String>>> {
        let (ram, found) = (self.ram.as_ref()?, self.found.as_ref()?);
        discover::kallsyms_symbolize(ram, &found.info, addrs).ok()
    }

    /// What the failure dump reads the frozen guest through, once the
    /// monitor has the kernel's layout.
    pub fn view(&self) -> Option<GuestView<'_>> {
        let ram = self.ram.as_ref()?;
        let (syms, per_cpu, xlate) = self.resolved.as_ref()?;
        if !self.running() {
            return None;
        }
        Some(GuestView {
            ram,
            xlate: xlate.as_ref()?,
            syms: *syms,
            per_cpu,
            bpf: self.bpf.as_ref().and_then(|b| b.as_ref().ok()),
        })
    }

    /// The next note (why the monitor turned off, what it cannot read),
    /// each once.
    pub fn take_note(&mut self) -> Option<String> {
        self.notes.pop_front()
    }

    /// Whether samples are being taken.
    pub fn running(&self) -> bool {
        !self.off && !self.rqs.is_empty()
    }

    fn turn_off(&mut self, why: String) {
        if !self.off {
            self.off = true;
            self.ram = None;
            self.events = None;
            self.bpf = None;
            self.notes.push_back(format!("host monitor off: {why}"));
        }
    }
}

/// The guest as the monitor found it: its RAM, how kernel addresses
/// translate, the symbols and per-CPU offsets.
pub struct GuestView<'a> {
    pub(crate) ram: &'a GuestRam,
    pub(crate) xlate: &'a Translate,
    pub syms: rq::Symbols,
    pub per_cpu: &'a [u64],
    pub(crate) bpf: Option<&'a BpfReader>,
}

impl GuestView<'_> {
    /// Reads `buf.len()` bytes at kernel virtual `va`, page by page (pages
    /// outside the direct map need not be contiguous).
    pub fn read(&self, va: u64, buf: &mut [u8]) -> Result<(), String> {
        let mut done = 0usize;
        while done < buf.len() {
            let at = va.wrapping_add(done as u64);
            let in_page = (4096 - (at & 0xfff)) as usize;
            let n = in_page.min(buf.len() - done);
            let pa = self.xlate.pa(self.ram, at)?;
            let bytes = self
                .ram
                .read_bytes(pa, n as u64)
                .ok_or_else(|| format!("{at:#x} (guest physical {pa:#x}) is outside guest RAM"))?;
            buf[done..done + n].copy_from_slice(&bytes);
            done += n;
        }
        Ok(())
    }

    /// A kernel virtual address's guest physical one.
    pub fn pa(&self, va: u64) -> Result<u64, String> {
        self.xlate.pa(self.ram, va)
    }

    /// The `bpf_prog_aux` of each struct_ops program loaded.
    pub fn struct_ops_aux(&self) -> Result<Vec<u64>, String> {
        self.bpf
            .ok_or("prog_idr cannot be read")?
            .struct_ops_aux(self.ram)
    }
}

/// A two's-complement value as signed hex (`phys_base` can be negative).
fn signed_hex(v: u64) -> String {
    if (v as i64) < 0 {
        format!("-{:#x}", (v as i64).unsigned_abs())
    } else {
        format!("{v:#x}")
    }
}

#[cfg(test)]
fn load_layout(btf: Option<&Path>, vmlinux: Option<&Path>) -> Result<RqLayout, MonitorError> {
    let (btf, path) = load_btf(btf, vmlinux)?;
    RqLayout::from_btf(&btf, &path)
}

/// The kernel's BTF, from raw BTF or a vmlinux, and the file it came from.
pub fn load_btf(
    btf: Option<&Path>,
    vmlinux: Option<&Path>,
) -> Result<(Btf, PathBuf), MonitorError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| MonitorError::BtfFile {
            path: path.to_path_buf(),
            source,
        })
    };
    let (bytes, path) = match (btf, vmlinux) {
        (Some(path), _) => (read(path)?, path),
        (None, Some(path)) => (btf_section(&read(path)?, path)?.to_vec(), path),
        (None, None) => return Err(MonitorError::NoBtf),
    };
    let btf = Btf::parse(&bytes).map_err(|source| MonitorError::Btf {
        path: path.to_path_buf(),
        source,
    })?;
    Ok((btf, path.to_path_buf()))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::layout::START_KERNEL_MAP;
    use testkit::{
        event_layout, pcpu_pa, poke, rq_pa, symbols, Guest, PAGE_OFFSET, PROG_IDR_PA, RUNQUEUES,
        SCHED_PA, SCX_ROOT_PA, VMALLOC,
    };

    /// The synthetic guest's two CPUs (see [`testkit`]).
    const RQ_PA: [u64; 2] = [rq_pa(0), rq_pa(1)];
    const PCPU_PA: [u64; 2] = [pcpu_pa(0), pcpu_pa(1)];

    /// A two-CPU guest whose runqueues say they are CPU `ids`, with 3 and 5
    /// tasks, no scheduler attached.
    fn guest(dir: &Path, ids: [u32; 2]) -> MemoryInfo {
        Guest::with_ids(dir, &ids).memory
    }

    fn two_cpus(mem: &MemoryInfo) -> Guest {
        Guest {
            memory: mem.clone(),
            cpus: 2,
        }
    }

    /// Attaches a scheduler with counters `[cpu + 1, 10 * (cpu + 1)]`.
    fn attach(mem: &MemoryInfo) {
        two_cpus(mem).attach();
    }

    fn load_programs(mem: &MemoryInfo) {
        two_cpus(mem).load_programs();
    }

    fn monitor() -> Monitor {
        testkit::monitor(2)
    }

    #[test]
    fn struct_ops_programs_from_prog_idr() {
        let dir = tempfile::tempdir().unwrap();
        let mem = guest(dir.path(), [0, 1]);
        let mut m = monitor();
        m.started(Some(&mem));
        m.symbols(&symbols());
        assert_eq!(m.take_note(), None);
        assert_eq!(
            m.sample(100).unwrap().bpf,
            Some(BpfProgs::Read(vec![])),
            "none loaded"
        );
        load_programs(&mem);
        assert_eq!(
            m.sample(200).unwrap().bpf,
            Some(BpfProgs::Read(vec![
                testkit::prog_sample(7, "demo_enqueue", 300, 10_200),
                testkit::prog_sample(9, "demo_dispatch", 2, 100),
            ]))
        );
        // One program: xa_head points at it, no node.
        poke(
            &mem,
            PROG_IDR_PA + 8,
            &(PAGE_OFFSET + testkit::DIRECT_PROG_PA).to_le_bytes(),
        );
        assert_eq!(
            m.sample(300).unwrap().bpf,
            Some(BpfProgs::Read(vec![testkit::prog_sample(
                9,
                "demo_dispatch",
                2,
                100
            )]))
        );

        // Without the page tables the vmalloc'd program cannot be read: said.
        let mut m = monitor();
        m.started(Some(&mem));
        load_programs(&mem);
        let syms: Vec<_> = symbols()
            .into_iter()
            .filter(|s| s.name != "init_top_pgt")
            .collect();
        m.symbols(&syms);
        let s = m.sample(100).unwrap();
        match &s.bpf {
            Some(BpfProgs::Unavailable(why)) => {
                assert!(
                    why.0.contains("bpf_prog.type") && why.0.contains("init_top_pgt"),
                    "{}",
                    why.0
                )
            }
            other => panic!("{other:?}"),
        }
        let notes: Vec<String> = std::iter::from_fn(|| m.take_note()).collect();
        assert!(
            notes
                .iter()
                .any(|n| n.contains("BPF program statistics not read")),
            "{notes:?}"
        );

        // Without prog_idr: named at once.
        let mut m = monitor();
        m.started(Some(&mem));
        let syms: Vec<_> = symbols()
            .into_iter()
            .filter(|s| s.name != "prog_idr")
            .collect();
        m.symbols(&syms);
        assert!(m.take_note().unwrap().contains("kernel symbol prog_idr"));
        assert!(matches!(
            m.sample(100).unwrap().bpf,
            Some(BpfProgs::Unavailable(_))
        ));
    }

    #[test]
    fn schedstat_summed_over_runqueues_or_said_missing() {
        let dir = tempfile::tempdir().unwrap();
        let mem = guest(dir.path(), [0, 1]);
        two_cpus(&mem).fill_schedstat();
        let mut m = monitor();
        m.started(Some(&mem));
        m.symbols(&symbols());
        assert_eq!(m.take_note(), None);
        assert_eq!(
            m.sample(100).unwrap().schedstat,
            Some(Schedstats::Read(Schedstat {
                run_delay: 3_000_000,
                pcount: 6,
                yld_count: 9,
                sched_count: 39,
                sched_goidle: 69,
                ttwu_count: 99,
                ttwu_local: 129,
            }))
        );

        let mut m = monitor();
        m.schedstat_layout = Err(Shared(Arc::from(
            "rq.sched_count is not in this kernel's BTF (a kernel without CONFIG_SCHEDSTATS)",
        )));
        m.started(Some(&mem));
        m.symbols(&symbols());
        let note = m.take_note().unwrap();
        assert!(
            note.contains("schedstat not read: rq.sched_count"),
            "{note}"
        );
        let s = m.sample(100).unwrap();
        assert!(matches!(s.schedstat, Some(Schedstats::Unavailable(_))));
        assert_eq!(s.cpus.len(), 2);
    }

    fn counters(s: &Sample) -> Option<Vec<i64>> {
        match &s.events {
            Some(Events::Read { values, .. }) => Some(values.clone()),
            _ => None,
        }
    }

    #[test]
    fn event_counters_through_a_page_walk_once_a_scheduler_attaches() {
        let dir = tempfile::tempdir().unwrap();
        let mem = guest(dir.path(), [0, 1]);
        let mut m = monitor();
        m.started(Some(&mem));
        m.symbols(&symbols());
        assert_eq!(m.take_note(), None);
        let s = m.sample(100).unwrap();
        assert_eq!(s.events, None, "scx_root is 0: nothing attached");
        attach(&mem);
        let s = m.sample(200).unwrap();
        assert_eq!(counters(&s), Some(vec![3, 30]), "summed over both CPUs");
        assert_eq!(
            m.take_note().as_deref(),
            Some("host monitor: SCX event counters: 2 counters of struct scx_event_stats via scx_root → scx_sched.pcpu → scx_sched_pcpu.event_stats (2 of 2 CPUs' in vmalloc'd per-CPU memory, through the page tables), summed over 2 CPUs")
        );
        match &s.events {
            Some(Events::Read { names, .. }) => assert_eq!(names.0[1], "SCX_EV_X"),
            other => panic!("{other:?}"),
        }
        // The guest counts on; the monitor sees it.
        poke(&mem, PCPU_PA[1] + 0x10, &7u64.to_le_bytes());
        assert_eq!(counters(&m.sample(300).unwrap()), Some(vec![8, 30]));

        // A back-pointer that no longer matches is not re-checked while the
        // scheduler stays the same (its per-CPU addresses are cached)...
        poke(&mem, PCPU_PA[1], &0xdeadu64.to_le_bytes());
        assert_eq!(counters(&m.sample(400).unwrap()), Some(vec![8, 30]));
        // ...but a new scheduler instance is resolved again, and checked:
        // unavailable, and said once.
        let other = PAGE_OFFSET + SCHED_PA + 0x100;
        poke(
            &mem,
            SCHED_PA + 0x140,
            &(RUNQUEUES.wrapping_add(VMALLOC - PAGE_OFFSET)).to_le_bytes(),
        );
        poke(&mem, SCX_ROOT_PA, &other.to_le_bytes());
        let s = m.sample(500).unwrap();
        match &s.events {
            Some(Events::Unavailable(why)) => {
                assert!(why.0.contains("scx_sched_pcpu.sch"), "{}", why.0)
            }
            other => panic!("{other:?}"),
        }
        let note = m.take_note().unwrap();
        assert!(
            note.contains("SCX event counters not read") && note.contains("still sampled"),
            "{note}"
        );
        assert!(matches!(
            m.sample(600).unwrap().events,
            Some(Events::Unavailable(_))
        ));
        assert_eq!(m.take_note(), None, "said once");
        // Detached again: nothing, and no note.
        poke(&mem, SCX_ROOT_PA, &0u64.to_le_bytes());
        assert_eq!(m.sample(700).unwrap().events, None);
        assert!(m.running());
    }

    #[test]
    fn counters_that_cannot_be_read_are_named_and_runqueues_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let mem = guest(dir.path(), [0, 1]);
        attach(&mem);

        // No scx_root symbol.
        let mut m = monitor();
        m.started(Some(&mem));
        let syms: Vec<_> = symbols()
            .into_iter()
            .filter(|s| s.name != "scx_root")
            .collect();
        m.symbols(&syms);
        let note = m.take_note().unwrap();
        assert!(note.contains("kernel symbol scx_root not found"), "{note}");
        let s = m.sample(100).unwrap();
        assert_eq!(s.cpus.len(), 2);
        assert!(matches!(&s.events, Some(Events::Unavailable(w)) if w.0.contains("scx_root")));

        // No init_top_pgt: the vmalloc'd per-CPU data cannot be reached.
        let mut m = monitor();
        m.started(Some(&mem));
        let syms: Vec<_> = symbols()
            .into_iter()
            .filter(|s| s.name != "init_top_pgt")
            .collect();
        m.symbols(&syms);
        assert_eq!(m.take_note(), None);
        let s = m.sample(100).unwrap();
        match &s.events {
            Some(Events::Unavailable(why)) => assert!(
                why.0.contains("outside the direct map") && why.0.contains("init_top_pgt"),
                "{}",
                why.0
            ),
            other => panic!("{other:?}"),
        }
        assert!(m.take_note().is_some());

        // A kernel whose BTF has no event counters.
        let mut m = monitor();
        m.event_layout = Err("struct scx_event_stats is not in this kernel's BTF".into());
        m.started(Some(&mem));
        m.symbols(&symbols());
        assert!(m.take_note().unwrap().contains("struct scx_event_stats"));
        let s = m.sample(100).unwrap();
        assert_eq!(s.cpus[1].nr_running, 5);
        assert!(matches!(s.events, Some(Events::Unavailable(_))));
    }

    #[test]
    fn older_layouts_percpu_pointer_and_static() {
        let dir = tempfile::tempdir().unwrap();
        let mem = guest(dir.path(), [0, 1]);
        attach(&mem);
        // 6.16–6.17.6: scx_sched.event_stats_cpu points straight at the
        // per-CPU struct scx_event_stats (here the same memory, +0x10).
        let mut m = monitor();
        m.event_layout = Ok(EventLayout {
            location: Location::SchedEventStatsCpu {
                event_stats_cpu: 0x48,
            },
            ..event_layout()
        });
        poke(
            &mem,
            SCHED_PA + 0x48,
            &(RUNQUEUES.wrapping_add(VMALLOC - PAGE_OFFSET) + 0x10).to_le_bytes(),
        );
        m.started(Some(&mem));
        m.symbols(&symbols());
        assert_eq!(counters(&m.sample(100).unwrap()), Some(vec![3, 30]));

        // 6.15: the static per-CPU event_stats_cpu, in the direct map
        // (CPU c's copy at RQ_PA[c] + 0x800).
        for (cpu, &pa) in RQ_PA.iter().enumerate() {
            poke(&mem, pa + 0x800, &(cpu as u64 + 4).to_le_bytes());
            poke(&mem, pa + 0x808, &0u64.to_le_bytes());
        }
        let mut m = monitor();
        m.event_layout = Ok(EventLayout {
            location: Location::Static,
            ..event_layout()
        });
        m.started(Some(&mem));
        let mut syms = symbols();
        syms.push(KernelSymbol {
            name: "event_stats_cpu".into(),
            addr: RUNQUEUES + 0x800,
        });
        m.symbols(&syms);
        assert_eq!(counters(&m.sample(100).unwrap()), Some(vec![9, 0]));
        // Without the symbol: named.
        let mut m = monitor();
        m.event_layout = Ok(EventLayout {
            location: Location::Static,
            ..event_layout()
        });
        m.started(Some(&mem));
        m.symbols(&symbols());
        assert!(m.take_note().unwrap().contains("event_stats_cpu"));
    }

    /// A task that has waited on CPU 1's runnable list for 900 of the
    /// watchdog's 1500 jiffies: in the sample, and a stall is noted once,
    /// before the watchdog would act.
    #[test]
    fn a_task_waiting_past_half_the_watchdog_timeout_is_flagged() {
        use testkit::{rq_pa, JIFFIES_PA, RQ_RUNNABLE_LIST, SCHED_PA};
        let dir = tempfile::tempdir().unwrap();
        let guest = Guest::new(dir.path(), 2);
        guest.attach();
        let mut m = guest.monitor();
        while m.take_note().is_some() {}
        let s = m.poll(0).unwrap();
        assert_eq!(s.runnable_wait, None, "no task runnable");
        while m.take_note().is_some() {}
        let (task_pa, head_pa) = (0x15000u64, rq_pa(1) + RQ_RUNNABLE_LIST);
        let (task, head) = (PAGE_OFFSET + task_pa, PAGE_OFFSET + head_pa);
        guest.poke(head_pa, &(task + 0x40).to_le_bytes());
        guest.poke(task_pa + 0x40, &head.to_le_bytes());
        guest.poke(task_pa + 0x48, &100u64.to_le_bytes());
        guest.poke(task_pa + 0x10, &77u32.to_le_bytes());
        guest.poke(SCHED_PA + 0x60, &1500u64.to_le_bytes());
        guest.poke(JIFFIES_PA, &600u64.to_le_bytes());
        let s = m.poll(100).unwrap();
        let w = s.runnable_wait.unwrap();
        assert_eq!(
            (w.cpu, w.pid, w.waited_jiffies, w.timeout_jiffies),
            (1, 77, 500, Some(1500))
        );
        assert!(!w.stalling());
        assert_eq!(m.take_note(), None);
        guest.poke(JIFFIES_PA, &1000u64.to_le_bytes());
        assert!(m.poll(200).unwrap().runnable_wait.unwrap().stalling());
        let note = m.take_note().unwrap();
        assert!(
            note.starts_with("host monitor: a stall is coming: task 77 on CPU 1's runnable list has waited 900 of the watchdog's 1500 jiffies"),
            "{note}"
        );
        assert!(m.poll(300).is_some());
        assert_eq!(m.take_note(), None, "said once");
        // A list that loops back on itself elsewhere is named, not followed.
        // Noted only once it stays broken: a single torn walk is a race
        // with the guest.
        guest.poke(task_pa + 0x40, &(task + 0x40).to_le_bytes());
        for at in 1..RUNNABLE_FAILURES_NOTED as u64 {
            assert_eq!(m.poll(300 + 100 * at).unwrap().runnable_wait, None);
            assert_eq!(m.take_note(), None, "not yet");
        }
        assert_eq!(m.poll(900).unwrap().runnable_wait, None);
        let note = m.take_note().unwrap();
        assert!(note.contains("runnable list is broken"), "{note}");
    }

    #[test]
    fn samples_every_interval_from_the_runqueues() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = monitor();
        m.started(Some(&guest(dir.path(), [0, 1])));
        assert_eq!(m.poll(0), None, "no runqueues before the symbols");
        m.symbols(&symbols());
        assert!(m.running(), "{:?}", m.take_note());
        let s = m.poll(100).unwrap();
        assert_eq!(s.at_ms, 100);
        let got: Vec<(u32, u32, u64)> = s
            .cpus
            .iter()
            .map(|c| (c.nr_running, c.scx_nr_running, c.clock))
            .collect();
        assert_eq!(got, [(3, 1, 1234), (5, 2, 1234)]);
        assert_eq!(m.poll(150), None, "not due yet");
        assert!(m.poll(200).is_some());
        assert_eq!(m.take_note(), None);
        assert!(m.stopped(250).is_some(), "a last sample of the dead guest");
        assert_eq!(
            m.take_note().as_deref(),
            Some("host monitor: no struct_ops BPF program seen in prog_idr (at most 0 programs of other types)")
        );
        let cost = m.take_note().unwrap();
        assert!(cost.starts_with("host monitor: 3 samples, "), "{cost}");
        assert!(cost.contains("µs per CPU"), "{cost}");
        assert_eq!(m.poll(400), None, "nothing after the guest is gone");
        assert_eq!(m.take_note(), None);
    }

    /// A relocated kernel (KERNELOFFSET, a negative phys_base, a
    /// randomized direct map) with VMCOREINFO and kallsyms in its RAM: the
    /// monitor finds everything there, with no symbol from the agent; the
    /// agent's, when they come, are a cross-check.
    #[test]
    fn kaslr_layout_from_guest_memory_alone_and_the_agent_cross_checks() {
        use discover::tests::{fake_kernel, va_of, Image, KASLR, PHYS_BASE};
        let dir = tempfile::tempdir().unwrap();
        let mut img = Image(vec![0u8; 512 << 10]);
        let page_offset = 0xffff_8a0d_c000_0000u64;
        let (per_cpu_offset, page_offset_base) = (0x41000u64, 0x41100u64);
        let runqueues = va_of(0x42000);
        let rq_pa = [0x60000u64, 0x61000];
        for (cpu, &pa) in rq_pa.iter().enumerate() {
            let offset = (page_offset + pa).wrapping_sub(runqueues);
            img.put(per_cpu_offset + 8 * cpu as u64, &offset.to_le_bytes());
            img.put(pa + 0x10, &(cpu as u32).to_le_bytes());
            img.put(pa, &(3 + cpu as u32).to_le_bytes());
        }
        img.put(page_offset_base, &page_offset.to_le_bytes());
        img.put(0x40000, b"Linux version 7.3.4-test");
        let syms = [
            ("linux_banner", 'D', va_of(0x40000)),
            ("__per_cpu_offset", 'D', va_of(per_cpu_offset)),
            ("page_offset_base", 'D', va_of(page_offset_base)),
            ("runqueues", 'D', runqueues),
        ];
        let path = dir.path().join("ram");
        let mem = MemoryInfo::one_file(path.clone(), img.0.len() as u64, img.0.len() as u64);
        // Not booted yet: nothing found, nothing said, looked for again.
        std::fs::write(&path, &img.0).unwrap();
        let mut m = monitor();
        m.from_memory = true;
        m.started(Some(&mem));
        assert_eq!(m.poll(0), None);
        assert_eq!(m.take_note(), None);
        fake_kernel(&mut img, 0x5_0000, &syms);
        std::fs::write(&path, &img.0).unwrap();
        assert_eq!(m.poll(500), None, "not due yet");
        let s = m.poll(1000).expect("found and sampled");
        let nr: Vec<u32> = s.cpus.iter().map(|c| c.nr_running).collect();
        assert_eq!(nr, [3, 4]);
        let notes: Vec<String> = std::iter::from_fn(|| m.take_note()).collect();
        let layout = notes
            .iter()
            .find(|n| n.contains("kernel layout from guest memory"))
            .unwrap_or_else(|| panic!("{notes:?}"));
        assert!(
            layout.contains(&format!("KERNELOFFSET={KASLR:#x}"))
                && layout.contains(&format!("phys_base=-{:#x}", -PHYS_BASE))
                && layout.contains("page_offset_base=0xffff8a0dc0000000")
                && layout.contains("4-level paging")
                && layout.contains("kallsyms decoded from guest RAM"),
            "{layout}"
        );
        assert!(
            notes.iter().all(|n| !n.contains("monitor off")),
            "{notes:?}"
        );

        // The agent agrees...
        let sym = |name: &str, addr| KernelSymbol {
            name: name.into(),
            addr,
        };
        m.symbols(&[sym("runqueues", runqueues), sym("prog_idr", 1)]);
        assert_eq!(
            m.take_note().as_deref(),
            Some("host monitor: the guest agent's /proc/kallsyms agrees with guest memory on 1 symbols")
        );
        assert!(m.running());

        // ...or not: said, and guest memory's addresses stay in use.
        let mut m = monitor();
        m.from_memory = true;
        m.started(Some(&mem));
        m.symbols(&[
            sym("runqueues", runqueues - KASLR),
            sym("__per_cpu_offset", va_of(per_cpu_offset)),
        ]);
        let notes: Vec<String> = std::iter::from_fn(|| m.take_note()).collect();
        assert!(
            notes
                .iter()
                .any(|n| n.contains("disagrees with guest memory: runqueues")),
            "{notes:?}"
        );
        assert_eq!(m.sample(100).unwrap().cpus[1].nr_running, 4);

        // A direct-map base without bit 63 is refused.
        img.put(page_offset_base, &0x7fff_0000_0000u64.to_le_bytes());
        std::fs::write(&path, &img.0).unwrap();
        let mut m = monitor();
        m.from_memory = true;
        m.started(Some(&mem));
        assert_eq!(m.poll(0), None);
        assert!(m.stopped(100).is_none());
        let note = m.take_note().unwrap();
        assert!(
            note.contains("never found in guest memory")
                && note.contains("page_offset_base reads 0x7fff00000000"),
            "{note}"
        );
    }

    #[test]
    fn a_layout_that_does_not_match_turns_it_off_with_a_note() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = monitor();
        m.started(Some(&guest(dir.path(), [0, 7])));
        m.symbols(&symbols());
        assert!(!m.running());
        let note = m.take_note().unwrap();
        assert!(
            note.contains("runqueue of CPU 1 says it is CPU 7"),
            "{note}"
        );
        assert_eq!(m.poll(100), None);
        assert_eq!(m.take_note(), None, "said once");
    }

    #[test]
    fn missing_pieces_say_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let mem = guest(dir.path(), [0, 1]);

        let mut m = monitor();
        m.started(Some(&mem));
        m.symbols(&symbols()[..1]);
        assert!(m.take_note().unwrap().contains("__per_cpu_offset"));

        let mut m = monitor();
        m.started(None);
        assert!(m.take_note().unwrap().contains("not shared"));

        let mut m = Monitor::new(None, None, 2);
        m.started(Some(&mem));
        assert!(m.take_note().unwrap().contains("no BTF"));

        let garbage = dir.path().join("btf");
        std::fs::write(&garbage, b"not btf at all").unwrap();
        let mut m = Monitor::new(Some(&garbage), None, 2);
        m.started(Some(&mem));
        let note = m.take_note().unwrap();
        assert!(note.starts_with("host monitor off: kernel BTF"), "{note}");

        // A symbol pointing outside guest RAM.
        let mut m = monitor();
        m.started(Some(&mem));
        let mut syms = symbols();
        syms[1].addr = START_KERNEL_MAP + (1 << 30);
        m.symbols(&syms);
        assert!(m.take_note().unwrap().contains("outside guest RAM"));
    }

    #[test]
    fn btf_errors_keep_their_cause_and_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        match load_layout(Some(&missing), None) {
            Err(MonitorError::BtfFile { path, source }) => {
                assert_eq!(path, missing);
                assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
            }
            other => panic!("{other:?}"),
        }

        let garbage = dir.path().join("btf");
        std::fs::write(&garbage, b"not btf at all").unwrap();
        match load_layout(Some(&garbage), None) {
            Err(MonitorError::Btf { path, source }) => {
                assert_eq!(path, garbage);
                assert!(matches!(source, BtfError::Truncated { .. }), "{source:?}");
            }
            other => panic!("{other:?}"),
        }

        match load_layout(None, Some(&garbage)) {
            Err(e @ MonitorError::BtfSection(ExtractError::NotElf { .. })) => {
                assert!(e.to_string().contains(&*garbage.to_string_lossy()), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }
}
