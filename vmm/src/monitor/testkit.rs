//! Synthetic guests for the monitor's tests and benchmarks: a RAM file
//! laid out like a booted x86-64 kernel with N CPUs (runqueues,
//! `__per_cpu_offset`, 4-level page tables, an attached sched_ext
//! scheduler with per-CPU event counters, struct_ops BPF programs with
//! per-CPU statistics, schedstat fields), and a [`Monitor`] set up for it
//! with the layouts its BTF would give. The monitor code that samples it is
//! the real one; only the kernel is made up.
//!
//! Guest physical layout (the kernel image at 0, `__START_KERNEL_map`):
//! variables in the first pages, the scheduler and the programs below
//! [`PGT_PA`], the page tables from there, and from [`CPU_BASE_PA`] one
//! [`CPU_STRIDE`] slot per CPU: its `struct rq`, then (+0x1000) the page
//! its vmalloc'd per-CPU data is mapped to.

use std::collections::HashMap;
use std::path::Path;

use scxray::host_monitor::bpf::ProgSample;
use scxray::host_monitor::events::Shared;
use scxray::run::record::KernelSymbol;

use super::pagewalk::{PhysRead, ADDR_MASK};
use super::rq::Field;
use super::{
    BpfLayout, EventLayout, Location, Monitor, RqLayout, SchedstatLayout, DEFAULT_PAGE_OFFSET,
};
use crate::backend::MemoryInfo;
use crate::layout::START_KERNEL_MAP;

pub const PAGE_OFFSET: u64 = DEFAULT_PAGE_OFFSET;
/// Where the fake kernel image keeps its variables.
pub const PAGE_OFFSET_BASE_PA: u64 = 0x1100;
pub const SCX_ROOT_PA: u64 = 0x1200;
pub const PHYS_BASE_PA: u64 = 0x1300;
/// `prog_idr` (empty until [`Guest::load_programs`]).
pub const PROG_IDR_PA: u64 = 0x1400;
/// `jiffies_64`.
pub const JIFFIES_PA: u64 = 0x1500;
/// `rq.scx.runnable_list` in each runqueue (empty: pointing at itself).
pub const RQ_RUNNABLE_LIST: u64 = 0x200;
/// `runqueues`: a per-CPU symbol, never read at its own address.
pub const RUNQUEUES: u64 = START_KERNEL_MAP + 0x2000;
/// `__per_cpu_offset[]`: room for [`MAX_CPUS`].
pub const PER_CPU_OFFSET_PA: u64 = 0x3000;
pub const MAX_CPUS: u32 = 512;
/// The scheduler, direct-mapped; its `pcpu` pointer is at +0x40.
pub const SCHED_PA: u64 = 0x8000;
/// `prog_idr`'s xarray node and the programs' `bpf_prog_aux`.
pub const XA_NODE_PA: u64 = 0x9000;
pub const AUX_PA: [u64; 2] = [0xa000, 0xa100];
/// A vmalloc'd struct_ops program (id 7), a socket filter, and a
/// direct-mapped struct_ops program (id 9).
pub const PROG_VA: u64 = VMALLOC + 0x4000_0000;
pub const PROG_PA: u64 = 0x12000;
pub const FILTER_PA: u64 = 0x13000;
pub const DIRECT_PROG_PA: u64 = 0x13800;
/// Offsets of the two programs' per-CPU `bpf_prog_stats` from `runqueues`
/// (so each CPU's copy is inside its runqueue's slot).
pub const PROG_STATS: [u64; 2] = [0xa00, 0xa40];
/// The kernel's top-level page table, `init_top_pgt`; the lower tables are
/// allocated after it.
pub const PGT_PA: u64 = 0x20000;
/// The first CPU's slot, and the size of each.
pub const CPU_BASE_PA: u64 = 0x40000;
pub const CPU_STRIDE: u64 = 0x2000;
/// Where vmalloc'd per-CPU data is: the scheduler's `pcpu` plus CPU c's
/// `__per_cpu_offset` is `VMALLOC + rq_pa(c)`, mapped to `pcpu_pa(c)`.
pub const VMALLOC: u64 = 0xffff_c900_0000_0000;

/// CPU `cpu`'s `struct rq`, guest physical.
pub const fn rq_pa(cpu: u32) -> u64 {
    CPU_BASE_PA + CPU_STRIDE * cpu as u64
}

/// What CPU `cpu`'s vmalloc'd per-CPU data is mapped to.
pub const fn pcpu_pa(cpu: u32) -> u64 {
    rq_pa(cpu) + 0x1000
}

/// Tasks on CPU `cpu`'s runqueue (`rq.nr_running`).
pub const fn nr_running(cpu: u32) -> u32 {
    3 + 2 * cpu
}

/// Sparse guest physical memory, 8 bytes a slot: page tables being built.
#[derive(Default)]
pub struct Sparse(pub HashMap<u64, u64>);

impl PhysRead for Sparse {
    fn read_phys_u64(&self, pa: u64) -> Option<u64> {
        self.0.get(&pa).copied()
    }
}

impl Sparse {
    /// Maps `va` → `pa` with 4 KiB pages under the table at `root`,
    /// allocating tables from `*next` (4 KiB apart).
    pub fn map(&mut self, levels: u8, root: u64, va: u64, pa: u64, next: &mut u64) {
        let mut table = root;
        for level in (2..=levels).rev() {
            let shift = 12 + 9 * u32::from(level - 1);
            let slot = table + 8 * ((va >> shift) & 0x1ff);
            let entry = *self.0.entry(slot).or_insert_with(|| {
                let t = *next;
                *next += 0x1000;
                t | 0x63 // present, rw, accessed, dirty
            });
            table = entry & ADDR_MASK;
        }
        let slot = table + 8 * ((va >> 12) & 0x1ff);
        // NX and a protection key set: the walk must mask them off.
        self.0
            .insert(slot, (pa & ADDR_MASK) | (1 << 63) | (3 << 59) | 0x63);
    }
}

/// `struct rq`'s sampled fields.
pub fn layout() -> RqLayout {
    let f = |offset, size| Field { offset, size };
    RqLayout {
        cpu: f(0x10, 4),
        nr_running: f(0, 4),
        clock: f(0x20, 8),
        scx_nr_running: f(0x30, 4),
        local_dsq_nr: f(0x34, 4),
    }
}

/// `struct scx_sched_pcpu { sch; ...; event_stats at 0x10 }`, two counters.
pub fn event_layout() -> EventLayout {
    EventLayout {
        location: Location::SchedPcpu {
            pcpu: 0x40,
            event_stats: 0x10,
            sch: Some(0),
        },
        names: Shared(vec!["SCX_EV_SELECT_CPU_FALLBACK".into(), "SCX_EV_X".into()].into()),
        offsets: vec![0, 8],
    }
}

/// `struct rq`'s schedstat fields at 0x100.. (run_delay, pcount: u64).
pub fn schedstat_layout() -> SchedstatLayout {
    let f = |offset, size| Field { offset, size };
    SchedstatLayout {
        fields: [
            f(0x100, 8),
            f(0x108, 8),
            f(0x110, 4),
            f(0x114, 4),
            f(0x118, 4),
            f(0x11c, 4),
            f(0x120, 4),
        ],
    }
}

pub fn bpf_layout() -> BpfLayout {
    BpfLayout {
        xa_head: 8,
        node_shift: 0,
        node_slots: 0x28,
        nr_slots: 64,
        prog_type: 4,
        prog_aux: 0x18,
        prog_stats: 0x10,
        aux_id: 0,
        aux_name: 0x10,
        stats_cnt: 0,
        stats_nsecs: 8,
        struct_ops: 27,
    }
}

/// The symbols the guest agent would send.
pub fn symbols() -> Vec<KernelSymbol> {
    let s = |name: &str, addr| KernelSymbol {
        name: name.into(),
        addr,
    };
    vec![
        s("runqueues", RUNQUEUES),
        s("__per_cpu_offset", START_KERNEL_MAP + PER_CPU_OFFSET_PA),
        s("page_offset_base", START_KERNEL_MAP + PAGE_OFFSET_BASE_PA),
        s("scx_root", START_KERNEL_MAP + SCX_ROOT_PA),
        s("init_top_pgt", START_KERNEL_MAP + PGT_PA),
        s("phys_base", START_KERNEL_MAP + PHYS_BASE_PA),
        s("prog_idr", START_KERNEL_MAP + PROG_IDR_PA),
        s("jiffies_64", START_KERNEL_MAP + JIFFIES_PA),
    ]
}

/// `task_struct.scx.runnable_node` at 0x40, `.scx.runnable_at` at 0x48,
/// `pid` at 0x10; the scheduler's `watchdog_timeout` at 0x60.
pub fn runnable_layout() -> super::runnable::RunnableLayout {
    super::runnable::RunnableLayout {
        rq_list: RQ_RUNNABLE_LIST,
        node: 0x40,
        runnable_at: 0x48,
        pid: 0x10,
        watchdog_timeout: Some(0x60),
    }
}

/// A monitor of `cpus` CPUs with every layout this kit's kernel has, not
/// started. These guests hold no VMCOREINFO: the agent's symbols are used.
pub fn monitor(cpus: u32) -> Monitor {
    let mut m = Monitor::new(None, None, cpus);
    m.layout = Ok(layout());
    m.event_layout = Ok(event_layout());
    m.schedstat_layout = Ok(schedstat_layout());
    m.bpf_layout = Ok(bpf_layout());
    m.runnable_layout = Ok(runnable_layout());
    m.from_memory = false;
    m
}

/// A synthetic guest's RAM file.
pub struct Guest {
    pub memory: MemoryInfo,
    pub cpus: u32,
}

impl Guest {
    /// `cpus` CPUs, each runqueue saying it is its own CPU.
    pub fn new(dir: &Path, cpus: u32) -> Guest {
        Guest::with_ids(dir, &(0..cpus).collect::<Vec<_>>())
    }

    /// One CPU per entry of `ids`, whose runqueue says it is CPU `ids[c]`,
    /// with [`nr_running`] tasks, `1 + c` of them sched_ext's, clock 1234;
    /// no scheduler attached, no programs, schedstat zero. The page tables
    /// map CPU 0's runqueue, every CPU's vmalloc'd per-CPU data and
    /// [`PROG_VA`].
    pub fn with_ids(dir: &Path, ids: &[u32]) -> Guest {
        let cpus = ids.len() as u32;
        assert!((1..=MAX_CPUS).contains(&cpus), "{cpus} CPUs");
        let mut ram = vec![0u8; rq_pa(cpus).max(256 << 10) as usize];
        let mut tables = Sparse::default();
        let mut next = PGT_PA + 0x1000;
        tables.map(4, PGT_PA, PAGE_OFFSET + rq_pa(0), rq_pa(0), &mut next);
        for cpu in 0..cpus {
            tables.map(4, PGT_PA, VMALLOC + rq_pa(cpu), pcpu_pa(cpu), &mut next);
        }
        tables.map(4, PGT_PA, PROG_VA, PROG_PA, &mut next);
        assert!(
            next <= CPU_BASE_PA,
            "page tables overflow into the runqueues"
        );
        let mut put = |pa: u64, bytes: &[u8]| {
            ram[pa as usize..pa as usize + bytes.len()].copy_from_slice(bytes);
        };
        for (&pa, &entry) in &tables.0 {
            put(pa, &entry.to_le_bytes());
        }
        put(PAGE_OFFSET_BASE_PA, &PAGE_OFFSET.to_le_bytes());
        for (cpu, &id) in (0..cpus).zip(ids) {
            let pa = rq_pa(cpu);
            // runqueues + __per_cpu_offset[cpu] = the runqueue's direct-map address.
            let offset = (PAGE_OFFSET + pa).wrapping_sub(RUNQUEUES);
            put(
                PER_CPU_OFFSET_PA + 8 * u64::from(cpu),
                &offset.to_le_bytes(),
            );
            put(pa + 0x10, &id.to_le_bytes());
            let list = PAGE_OFFSET + pa + RQ_RUNNABLE_LIST;
            put(pa + RQ_RUNNABLE_LIST, &list.to_le_bytes());
            put(pa, &nr_running(cpu).to_le_bytes());
            put(pa + 0x20, &1234u64.to_le_bytes());
            put(pa + 0x30, &(1 + cpu).to_le_bytes());
        }
        let path = dir.join("ram");
        std::fs::write(&path, &ram).unwrap();
        Guest {
            memory: MemoryInfo::one_file(path, ram.len() as u64, ram.len() as u64),
            cpus,
        }
    }

    /// Writes `bytes` at guest physical `pa`, as the guest would while the
    /// monitor has its RAM mapped.
    pub fn poke(&self, pa: u64, bytes: &[u8]) {
        poke(&self.memory, pa, bytes);
    }

    /// Attaches a scheduler: `scx_root` → the scheduler, whose per-CPU part
    /// points back at it and holds counters `[cpu + 1, 10 * (cpu + 1)]`.
    pub fn attach(&self) {
        let sched = PAGE_OFFSET + SCHED_PA;
        self.poke(SCX_ROOT_PA, &sched.to_le_bytes());
        let pcpu = RUNQUEUES.wrapping_add(VMALLOC - PAGE_OFFSET);
        self.poke(SCHED_PA + 0x40, &pcpu.to_le_bytes());
        for cpu in 0..self.cpus {
            let (pa, n) = (pcpu_pa(cpu), u64::from(cpu) + 1);
            self.poke(pa, &sched.to_le_bytes());
            self.poke(pa + 0x10, &n.to_le_bytes());
            self.poke(pa + 0x18, &(10 * n).to_le_bytes());
        }
    }

    /// Three programs under one xarray node: a vmalloc'd struct_ops one
    /// (id 7, `[100, 3400] * (cpu + 1)` per CPU), a socket filter, a value
    /// entry, and a direct-mapped struct_ops one (id 9, `[1, 50]` per CPU).
    pub fn load_programs(&self) {
        self.poke(
            PROG_IDR_PA + 8,
            &((PAGE_OFFSET + XA_NODE_PA) | 2).to_le_bytes(),
        );
        self.poke(XA_NODE_PA, &[0u8]);
        let slot = |i: u64| XA_NODE_PA + 0x28 + 8 * i;
        self.poke(slot(0), &PROG_VA.to_le_bytes());
        self.poke(slot(1), &(PAGE_OFFSET + FILTER_PA).to_le_bytes());
        self.poke(slot(3), &0x11u64.to_le_bytes());
        self.poke(slot(5), &(PAGE_OFFSET + DIRECT_PROG_PA).to_le_bytes());
        self.poke(FILTER_PA + 4, &2u32.to_le_bytes());
        for (i, (prog_pa, id, name)) in [
            (PROG_PA, 7u32, &b"demo_enqueue\0"[..]),
            (DIRECT_PROG_PA, 9, &b"demo_dispatch\0"[..]),
        ]
        .into_iter()
        .enumerate()
        {
            let (aux_pa, stats) = (AUX_PA[i], PROG_STATS[i]);
            self.poke(prog_pa + 4, &27u32.to_le_bytes());
            self.poke(prog_pa + 0x10, &(RUNQUEUES + stats).to_le_bytes());
            self.poke(prog_pa + 0x18, &(PAGE_OFFSET + aux_pa).to_le_bytes());
            self.poke(aux_pa, &id.to_le_bytes());
            self.poke(aux_pa + 0x10, name);
            for cpu in 0..self.cpus {
                let n = u64::from(cpu) + 1;
                let (cnt, ns) = if id == 7 {
                    (100 * n, 3400 * n)
                } else {
                    (1, 50)
                };
                self.poke(rq_pa(cpu) + stats, &cnt.to_le_bytes());
                self.poke(rq_pa(cpu) + stats + 8, &ns.to_le_bytes());
            }
        }
    }

    /// Schedstat of CPU c (n = c + 1): run_delay 1e6·n, pcount 2n, then
    /// (10i + 3)·n for the five u32 counters.
    pub fn fill_schedstat(&self) {
        for cpu in 0..self.cpus {
            let (rq, n) = (rq_pa(cpu), u64::from(cpu) + 1);
            self.poke(rq + 0x100, &(1_000_000 * n).to_le_bytes());
            self.poke(rq + 0x108, &(2 * n).to_le_bytes());
            for (i, off) in [0x110u64, 0x114, 0x118, 0x11c, 0x120].iter().enumerate() {
                self.poke(rq + off, &((10 * i as u32 + 3) * n as u32).to_le_bytes());
            }
        }
    }

    /// A monitor of this guest, started and given the symbols: sampling.
    pub fn monitor(&self) -> Monitor {
        let mut m = monitor(self.cpus);
        m.started(Some(&self.memory));
        m.symbols(&symbols());
        assert!(m.running(), "{:?}", m.take_note());
        m
    }
}

/// What a [`sampling`] monitor reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    /// Only the runqueues (a kernel whose BTF has nothing else).
    Runqueues,
    /// Runqueues, event counters, schedstat and BPF program statistics.
    All,
}

/// A guest of `cpus` CPUs in `dir` with a scheduler attached, programs
/// loaded and schedstat filled, and its monitor, sampling.
pub fn sampling(dir: &Path, cpus: u32, reads: Reads) -> (Guest, Monitor) {
    let guest = Guest::new(dir, cpus);
    guest.attach();
    guest.load_programs();
    guest.fill_schedstat();
    let mut m = monitor(cpus);
    if reads == Reads::Runqueues {
        let why = "not read by this monitor";
        m.event_layout = Err(why.into());
        m.schedstat_layout = Err(Shared(why.into()));
        m.bpf_layout = Err(why.into());
    }
    m.started(Some(&guest.memory));
    m.symbols(&symbols());
    assert!(m.running(), "{:?}", m.take_note());
    // The one-off notes (what is not read, where the counters are).
    m.sample(0);
    while m.take_note().is_some() {}
    (guest, m)
}

/// Threads of this process named as QEMU names its vCPU threads (`CPU
/// <n>/KVM`), parked until dropped: with [`Monitor::qemu_started`] given
/// this process's id, each sample reads their host wait from `/proc` as it
/// would a real QEMU's.
pub struct VcpuThreads {
    stop: Option<std::sync::mpsc::Sender<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl VcpuThreads {
    pub fn spawn(cpus: u32) -> VcpuThreads {
        let (stop, rx) = std::sync::mpsc::channel::<()>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        let (ready_tx, ready) = std::sync::mpsc::channel::<()>();
        let threads = (0..cpus)
            .map(|cpu| {
                let (rx, ready_tx) = (rx.clone(), ready_tx.clone());
                std::thread::Builder::new()
                    .name(format!("CPU {cpu}/KVM"))
                    .spawn(move || {
                        // The thread names itself as it starts: only then
                        // does /proc show the name.
                        ready_tx.send(()).unwrap();
                        // Returns once the sender is dropped.
                        while rx.lock().unwrap().recv().is_ok() {}
                    })
                    .unwrap()
            })
            .collect();
        for _ in 0..cpus {
            ready.recv().unwrap();
        }
        VcpuThreads {
            stop: Some(stop),
            threads,
        }
    }
}

impl Drop for VcpuThreads {
    fn drop(&mut self) {
        self.stop.take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Writes `bytes` at guest physical `pa` of the RAM file `mem`.
pub fn poke(mem: &MemoryInfo, pa: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(mem.path())
        .unwrap();
    f.write_all_at(bytes, pa).unwrap();
}

/// A struct_ops program's statistics as a sample holds them.
pub fn prog_sample(id: u32, name: &str, cnt: u64, nsecs: u64) -> ProgSample {
    ProgSample {
        id,
        name: name.into(),
        cnt,
        nsecs,
    }
}

/// Runs `f` with a view of the RAM file `mem` (any bytes at all) as the
/// failure dump reads a frozen guest: the direct map at [`PAGE_OFFSET`],
/// page tables rooted at `root_pa`, the given symbols and per-CPU offsets.
pub fn with_view<R>(
    mem: &MemoryInfo,
    root_pa: u64,
    syms: super::Symbols,
    per_cpu: &[u64],
    f: impl FnOnce(&super::GuestView<'_>) -> R,
) -> R {
    let ram = super::memory::GuestRam::open(mem).expect("the RAM file maps");
    let xlate = super::events::Translate {
        page_offset: PAGE_OFFSET,
        phys_base: 0,
        tables: Some(super::pagewalk::PageTables { root_pa, levels: 4 }),
    };
    f(&super::GuestView {
        ram: &ram,
        xlate: &xlate,
        syms,
        per_cpu,
        bpf: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use scxray::host_monitor::bpf::BpfProgs;
    use scxray::host_monitor::events::Events;
    use scxray::host_monitor::sample::{Schedstat, Schedstats};

    #[test]
    fn sixty_four_cpus_sample_everything() {
        let dir = tempfile::tempdir().unwrap();
        let (_guest, mut m) = sampling(dir.path(), 64, Reads::All);
        let s = m.poll(100).expect("due");
        let nr: Vec<u32> = s.cpus.iter().map(|c| c.nr_running).collect();
        assert_eq!(nr, (0..64).map(nr_running).collect::<Vec<_>>());
        assert!(s.cpus.iter().all(|c| c.clock == 1234));
        // Σ (c + 1) over 64 CPUs = 2080.
        match &s.events {
            Some(Events::Read { values, .. }) => assert_eq!(values, &[2080, 20800]),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            s.bpf,
            Some(BpfProgs::Read(vec![
                prog_sample(7, "demo_enqueue", 208_000, 3400 * 2080),
                prog_sample(9, "demo_dispatch", 64, 50 * 64),
            ]))
        );
        assert_eq!(
            s.schedstat,
            Some(Schedstats::Read(Schedstat {
                run_delay: 2_080_000_000,
                pcount: 4160,
                yld_count: 3 * 2080,
                sched_count: 13 * 2080,
                sched_goidle: 23 * 2080,
                ttwu_count: 33 * 2080,
                ttwu_local: 43 * 2080,
            }))
        );
        assert_eq!(m.take_note(), None);
        assert_eq!(m.poll(150), None, "not due yet");
    }

    #[test]
    fn vcpu_threads_of_this_process() {
        let dir = tempfile::tempdir().unwrap();
        let (_guest, mut m) = sampling(dir.path(), 3, Reads::Runqueues);
        let _threads = VcpuThreads::spawn(3);
        m.qemu_started(std::process::id());
        let s = m.poll(100).unwrap();
        assert_eq!(m.take_note(), None, "all three found");
        // None where the host keeps no schedstat.
        if let Some(waits) = s.vcpu_wait_ns {
            assert_eq!(waits.len(), 3);
        }
    }

    #[test]
    fn runqueues_only() {
        let dir = tempfile::tempdir().unwrap();
        let (_guest, mut m) = sampling(dir.path(), 3, Reads::Runqueues);
        let s = m.poll(100).unwrap();
        let got: Vec<(u32, u32)> = s
            .cpus
            .iter()
            .map(|c| (c.nr_running, c.scx_nr_running))
            .collect();
        assert_eq!(got, [(3, 1), (5, 2), (7, 3)]);
        assert!(matches!(s.events, Some(Events::Unavailable(_))));
        assert!(matches!(s.bpf, Some(BpfProgs::Unavailable(_))));
    }
}
