//! The host-side monitor: per-CPU runqueue state read straight out of a
//! running guest's RAM every 100 ms, with no help from the guest beyond
//! three symbol addresses the agent looks up once (Debian ships no
//! System.map).
//!
//! [`Monitor`] is driven from the run's event loop: [`Monitor::started`]
//! when the VM's RAM file appears, [`Monitor::symbols`] when the agent's
//! record arrives, [`Monitor::poll`] on every event (it samples when one is
//! due), [`Monitor::stopped`] for a last sample of the dead guest. Anything
//! missing (no BTF, no shared RAM, a layout that does not check out) turns
//! the monitor off with one note saying why; the run goes on.

mod memory;
mod rq;

use std::path::{Path, PathBuf};
use std::time::Duration;

use scxray::btf::{Btf, BtfError};
use scxray::host_monitor::sample::{CpuSample, Sample};
use scxray::run::record::KernelSymbol;

use crate::backend::MemoryInfo;
use crate::kernel::extract::{btf_section, ExtractError};
use crate::layout::{direct_map_pa, image_pa, DEFAULT_PAGE_OFFSET};
use memory::GuestRam;

pub use rq::{wanted_symbols, RqLayout};

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
    #[error("the guest did not report kernel symbol {name}")]
    MissingSymbol { name: &'static str },
    #[error("{what} at guest address {addr:#x} is outside guest RAM")]
    Unreadable { what: String, addr: u64 },
    #[error(
        "the runqueue of CPU {cpu} says it is CPU {read}: the layout does not match this kernel"
    )]
    LayoutMismatch { cpu: u32, read: u32 },
}

/// The monitor of one run.
pub struct Monitor {
    layout: Result<RqLayout, MonitorError>,
    cpus: u32,
    /// The RAM file, mapped once the guest runs: QEMU sizes the file after
    /// it starts, so a mapping taken at start could be empty.
    memory: Option<MemoryInfo>,
    ram: Option<GuestRam>,
    /// Guest physical address of each CPU's `struct rq`, once resolved.
    rqs: Vec<u64>,
    last_ms: Option<u64>,
    /// Why the monitor is off, until taken by [`Monitor::take_note`].
    note: Option<String>,
    off: bool,
}

impl Monitor {
    /// A monitor for a guest with `cpus` CPUs whose kernel's BTF is `btf`
    /// (raw BTF) or inside `vmlinux`.
    pub fn new(btf: Option<&Path>, vmlinux: Option<&Path>, cpus: u32) -> Monitor {
        Monitor {
            layout: load_layout(btf, vmlinux),
            cpus,
            memory: None,
            ram: None,
            rqs: Vec::new(),
            last_ms: None,
            note: None,
            off: false,
        }
    }

    /// The VM started; `memory` is its RAM file, if shared.
    pub fn started(&mut self, memory: Option<&MemoryInfo>) {
        self.ram = None;
        self.rqs.clear();
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
    /// full size): map the RAM, find every CPU's runqueue and check the
    /// layout against what the guest holds there.
    pub fn symbols(&mut self, symbols: &[KernelSymbol]) {
        if self.off {
            return;
        }
        let Some(memory) = &self.memory else {
            return;
        };
        match GuestRam::open(memory) {
            Ok(ram) => self.ram = Some(ram),
            Err(e) => return self.turn_off(e.to_string()),
        }
        match self.resolve(symbols) {
            Ok(rqs) => self.rqs = rqs,
            Err(e) => self.turn_off(e.to_string()),
        }
    }

    fn resolve(&self, symbols: &[KernelSymbol]) -> Result<Vec<u64>, MonitorError> {
        let (Some(ram), Ok(layout)) = (&self.ram, &self.layout) else {
            return Err(MonitorError::NoSharedRam);
        };
        let syms = rq::Symbols::from_record(symbols)?;
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
        let mut rqs = Vec::new();
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
        }
        Ok(rqs)
    }

    /// A sample when one is due (every [`INTERVAL`]) and the monitor is on.
    pub fn poll(&mut self, at_ms: u64) -> Option<Sample> {
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
        self.last_ms = Some(at_ms);
        Some(Sample { at_ms, cpus })
    }

    /// The VM is gone (its RAM still readable until this returns): a last
    /// sample of the dead guest, then the mapping is dropped.
    pub fn stopped(&mut self, at_ms: u64) -> Option<Sample> {
        let last = self.sample(at_ms);
        self.ram = None;
        self.memory = None;
        self.rqs.clear();
        last
    }

    /// Why the monitor turned off, once.
    pub fn take_note(&mut self) -> Option<String> {
        self.note.take()
    }

    /// Whether samples are being taken.
    pub fn running(&self) -> bool {
        !self.off && !self.rqs.is_empty()
    }

    fn turn_off(&mut self, why: String) {
        if !self.off {
            self.off = true;
            self.ram = None;
            self.note = Some(format!("host monitor off: {why}"));
        }
    }
}

fn load_layout(btf: Option<&Path>, vmlinux: Option<&Path>) -> Result<RqLayout, MonitorError> {
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
    RqLayout::from_btf(&btf, path)
}

#[cfg(test)]
mod tests {
    use super::rq::Field;
    use super::*;

    use crate::layout::START_KERNEL_MAP;

    const PAGE_OFFSET: u64 = DEFAULT_PAGE_OFFSET;
    /// Where the fake kernel image keeps its variables, and the runqueues.
    const PER_CPU_OFFSET_PA: u64 = 0x1000;
    const PAGE_OFFSET_BASE_PA: u64 = 0x1100;
    const RUNQUEUES: u64 = START_KERNEL_MAP + 0x2000;
    const RQ_PA: [u64; 2] = [0x4000, 0x6000];

    fn layout() -> RqLayout {
        let f = |offset, size| Field { offset, size };
        RqLayout {
            cpu: f(0x10, 4),
            nr_running: f(0, 4),
            clock: f(0x20, 8),
            scx_nr_running: f(0x30, 4),
            local_dsq_nr: f(0x34, 4),
        }
    }

    /// A 64 KiB "guest" whose two runqueues say they are CPU `ids`, with
    /// 3 and 5 tasks.
    fn guest(dir: &Path, ids: [u32; 2]) -> MemoryInfo {
        let mut ram = vec![0u8; 64 << 10];
        let mut put = |pa: u64, bytes: &[u8]| {
            ram[pa as usize..pa as usize + bytes.len()].copy_from_slice(bytes);
        };
        put(PAGE_OFFSET_BASE_PA, &PAGE_OFFSET.to_le_bytes());
        for (cpu, &pa) in RQ_PA.iter().enumerate() {
            // runqueues + __per_cpu_offset[cpu] = the runqueue's direct-map address.
            let offset = (PAGE_OFFSET + pa).wrapping_sub(RUNQUEUES);
            put(PER_CPU_OFFSET_PA + 8 * cpu as u64, &offset.to_le_bytes());
            put(pa + 0x10, &ids[cpu].to_le_bytes());
            put(pa, &(3 + 2 * cpu as u32).to_le_bytes());
            put(pa + 0x20, &1234u64.to_le_bytes());
            put(pa + 0x30, &(1 + cpu as u32).to_le_bytes());
        }
        let path = dir.join("ram");
        std::fs::write(&path, &ram).unwrap();
        MemoryInfo {
            path,
            size: ram.len() as u64,
            low_end: ram.len() as u64,
        }
    }

    fn symbols() -> Vec<KernelSymbol> {
        let s = |name: &str, addr| KernelSymbol {
            name: name.into(),
            addr,
        };
        vec![
            s("runqueues", RUNQUEUES),
            s("__per_cpu_offset", START_KERNEL_MAP + PER_CPU_OFFSET_PA),
            s("page_offset_base", START_KERNEL_MAP + PAGE_OFFSET_BASE_PA),
        ]
    }

    fn monitor() -> Monitor {
        let mut m = Monitor::new(None, None, 2);
        m.layout = Ok(layout());
        m
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
        assert!(m.stopped(250).is_some(), "a last sample of the dead guest");
        assert_eq!(m.poll(400), None, "nothing after the guest is gone");
        assert_eq!(m.take_note(), None);
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
