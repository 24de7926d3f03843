//! sched_ext event counters read out of guest memory (ktstr-notes-2 §2.2):
//! one `struct scx_event_stats` per CPU, summed. Where they live depends on
//! the kernel, and the kernel's BTF says which layout it has:
//!
//! | kernel | path |
//! |---|---|
//! | 6.18+, 6.17.7+, 7.x | `*scx_root` → `scx_sched.pcpu` (percpu) → `scx_sched_pcpu.event_stats` |
//! | 6.16 – 6.17.6 | `*scx_root` → `scx_sched.event_stats_cpu` (percpu) |
//! | 6.15 | the static per-CPU `event_stats_cpu` |
//!
//! A per-CPU address is the percpu address plus `__per_cpu_offset[cpu]`.
//! Static per-CPU data and the first percpu chunk are in the direct map;
//! later chunks (`alloc_percpu` once the first is full) are vmalloc'd, and
//! are read through a walk of the kernel's page tables ([`PageTables`]).
//! The counters are the fields of `struct scx_event_stats`, by name, as BTF
//! lists them; none is hard-coded.

use scxray::btf::Btf;
use scxray::host_monitor::events::Shared;

use super::memory::GuestRam;
use super::pagewalk::PageTables;
use crate::layout::{direct_map_pa, image_pa, START_KERNEL_MAP};

/// Where a kernel keeps its per-CPU `struct scx_event_stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// 6.18+: `scx_sched.pcpu` at `pcpu` points to per-CPU
    /// `struct scx_sched_pcpu`, whose `event_stats` is at `event_stats`
    /// and whose back-pointer to the scheduler (`sch`), when the kernel has
    /// one, at `sch`.
    SchedPcpu {
        pcpu: u64,
        event_stats: u64,
        sch: Option<u64>,
    },
    /// 6.16 – 6.17.6: `scx_sched.event_stats_cpu` at this offset points to
    /// per-CPU `struct scx_event_stats`.
    SchedEventStatsCpu { event_stats_cpu: u64 },
    /// 6.15: the static per-CPU symbol `event_stats_cpu`.
    Static,
}

impl Location {
    /// The path, for notes.
    pub fn describe(&self) -> &'static str {
        match self {
            Location::SchedPcpu { .. } => "scx_root → scx_sched.pcpu → scx_sched_pcpu.event_stats",
            Location::SchedEventStatsCpu { .. } => "scx_root → scx_sched.event_stats_cpu",
            Location::Static => "the per-CPU event_stats_cpu",
        }
    }
}

/// The counters of this kernel and where they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLayout {
    pub location: Location,
    /// Field names of `struct scx_event_stats`, in BTF order.
    pub names: Shared<[String]>,
    /// Byte offset of each in `struct scx_event_stats`.
    pub offsets: Vec<u64>,
}

impl EventLayout {
    /// The layout out of the kernel's BTF, or what BTF lacks.
    pub fn from_btf(btf: &Btf) -> Result<EventLayout, String> {
        const STATS: &str = "scx_event_stats";
        if !btf.has_struct(STATS) {
            return Err(format!(
                "struct {STATS} is not in this kernel's BTF (a kernel before 6.15 has no event counters)"
            ));
        }
        let fields = btf.member_names(STATS).map_err(|e| e.to_string())?;
        let mut offsets = Vec::with_capacity(fields.len());
        for f in &fields {
            let size = btf.member_size(STATS, &[f]).map_err(|e| e.to_string())?;
            if size != 8 {
                return Err(format!(
                    "{STATS}.{f} is {size} bytes in this kernel's BTF, expected an 8-byte s64"
                ));
            }
            offsets.push(btf.member_offset(STATS, &[f]).map_err(|e| e.to_string())?);
        }
        if fields.is_empty() {
            return Err(format!("struct {STATS} has no fields in this kernel's BTF"));
        }
        let off = |s: &str, m: &str| btf.member_offset(s, &[m]).ok();
        let location = match (
            off("scx_sched", "pcpu"),
            off("scx_sched_pcpu", "event_stats"),
            off("scx_sched", "event_stats_cpu"),
        ) {
            (Some(pcpu), Some(event_stats), _) => Location::SchedPcpu {
                pcpu,
                event_stats,
                sch: off("scx_sched_pcpu", "sch")
                    .filter(|_| btf.member_size("scx_sched_pcpu", &["sch"]).ok() == Some(8)),
            },
            (_, _, Some(event_stats_cpu)) => Location::SchedEventStatsCpu { event_stats_cpu },
            _ => Location::Static,
        };
        Ok(EventLayout {
            location,
            names: Shared(fields.into()),
            offsets,
        })
    }
}

/// Kernel virtual → guest physical for what the counters need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Translate {
    pub page_offset: u64,
    pub phys_base: u64,
    /// `None` when `init_top_pgt` was not reported or did not check out:
    /// then only the image and the direct map translate.
    pub tables: Option<PageTables>,
}

impl Translate {
    pub fn pa(&self, ram: &GuestRam, va: u64) -> Result<u64, String> {
        if va >= START_KERNEL_MAP {
            return image_pa(va)
                .map(|pa| pa.wrapping_add(self.phys_base))
                .ok_or_else(|| format!("{va:#x} is not in the kernel image"));
        }
        if let Some(pa) = direct_map_pa(va, self.page_offset) {
            return Ok(pa);
        }
        match &self.tables {
            Some(t) => t.translate(ram, va).map_err(|e| e.to_string()),
            None => Err(format!(
                "{va:#x} is outside the direct map and the page tables cannot be walked (no usable init_top_pgt)"
            )),
        }
    }
}

/// Reads and sums the counters every sample.
pub struct EventReader {
    layout: EventLayout,
    /// `__per_cpu_offset[cpu]` of every sampled CPU.
    per_cpu: Vec<u64>,
    xlate: Translate,
    /// Physical address of `scx_root` (the two `scx_sched` layouts).
    scx_root_pa: Option<u64>,
    /// 6.15's `event_stats_cpu` (the static layout).
    static_sym: Option<u64>,
    /// Per CPU, the physical address of every counter, for the scheduler
    /// `(scx_root, percpu pointer)` they were resolved for (`(0, 0)` for
    /// the static layout).
    cache: Option<(Scheduler, Vec<Vec<u64>>)>,
    /// Said once, when the counters were first found: where, and how.
    found: Option<String>,
    found_said: bool,
}

/// A scheduler instance: `scx_root`'s value and its percpu pointer.
type Scheduler = (u64, u64);

impl EventReader {
    /// A reader, or why there can be none (a missing symbol).
    pub fn new(
        layout: EventLayout,
        scx_root: Option<u64>,
        event_stats_cpu: Option<u64>,
        per_cpu: Vec<u64>,
        xlate: Translate,
    ) -> Result<EventReader, String> {
        let mut reader = EventReader {
            layout,
            per_cpu,
            xlate,
            scx_root_pa: None,
            static_sym: None,
            cache: None,
            found: None,
            found_said: false,
        };
        match reader.layout.location {
            Location::Static => {
                let sym = event_stats_cpu.ok_or_else(|| {
                    "kernel symbol event_stats_cpu (6.15's per-CPU event counters) not found (neither in guest memory nor by the agent)"
                        .to_string()
                })?;
                reader.static_sym = Some(sym);
            }
            _ => {
                let sym = scx_root
                    .ok_or_else(|| "kernel symbol scx_root not found (neither in guest memory nor by the agent)".to_string())?;
                reader.scx_root_pa = Some(
                    image_pa(sym)
                        .map(|pa| pa.wrapping_add(xlate.phys_base))
                        .ok_or_else(|| {
                            format!("scx_root at {sym:#x} is not in the kernel image")
                        })?,
                );
            }
        }
        Ok(reader)
    }

    /// The counters' names.
    pub fn names(&self) -> &Shared<[String]> {
        &self.layout.names
    }

    /// Physical addresses of every counter of every CPU, for percpu address
    /// `base` plus `extra` bytes to the `struct scx_event_stats`.
    fn resolve(&mut self, ram: &GuestRam, base: u64, extra: u64) -> Result<Vec<Vec<u64>>, String> {
        let mut out = Vec::with_capacity(self.per_cpu.len());
        let mut walked = 0;
        for (cpu, &offset) in self.per_cpu.iter().enumerate() {
            let stats = base.wrapping_add(offset).wrapping_add(extra);
            if stats < START_KERNEL_MAP && direct_map_pa(stats, self.xlate.page_offset).is_none() {
                walked += 1;
            }
            let mut pas = Vec::with_capacity(self.layout.offsets.len());
            for (name, &field) in self.layout.names.0.iter().zip(&self.layout.offsets) {
                let va = stats.wrapping_add(field);
                let pa = self.xlate.pa(ram, va).map_err(|e| {
                    format!(
                        "CPU {cpu}'s {name} ({}): {e}",
                        self.layout.location.describe()
                    )
                })?;
                pas.push(pa);
            }
            out.push(pas);
        }
        if !self.found_said {
            let how = if walked > 0 {
                format!(
                    "{walked} of {} CPUs' in vmalloc'd per-CPU memory, through the page tables",
                    self.per_cpu.len()
                )
            } else {
                "in the direct map".to_string()
            };
            self.found = Some(format!(
                "{} counters of struct scx_event_stats via {} ({how}), summed over {} CPUs",
                self.layout.names.0.len(),
                self.layout.location.describe(),
                self.per_cpu.len()
            ));
        }
        Ok(out)
    }

    /// Once, after the counters were first read: where they were found.
    pub fn take_found(&mut self) -> Option<String> {
        if self.found_said {
            return None;
        }
        let found = self.found.take();
        self.found_said = found.is_some();
        found
    }

    /// The counters summed over CPUs; `Ok(None)` while no scheduler is
    /// attached (`scx_root` is 0); `Err` says what could not be read.
    pub fn read(&mut self, ram: &GuestRam) -> Result<Option<Vec<i64>>, String> {
        let key = match self.layout.location {
            Location::Static => (0, 0),
            Location::SchedPcpu { pcpu: field, .. }
            | Location::SchedEventStatsCpu {
                event_stats_cpu: field,
            } => {
                let root_pa = self.scx_root_pa.unwrap_or_default();
                let root = ram.read_u64(root_pa).ok_or_else(|| {
                    format!("scx_root at guest physical {root_pa:#x} is outside guest RAM")
                })?;
                if root == 0 {
                    return Ok(None);
                }
                let sched_pa = self
                    .xlate
                    .pa(ram, root.wrapping_add(field))
                    .map_err(|e| format!("struct scx_sched at {root:#x}: {e}"))?;
                let pcpu = ram
                    .read_u64(sched_pa)
                    .ok_or_else(|| format!("struct scx_sched at {root:#x} is outside guest RAM"))?;
                if pcpu == 0 {
                    // Being set up or torn down.
                    return Ok(None);
                }
                (root, pcpu)
            }
        };
        let stale = self.cache.as_ref().is_none_or(|(k, _)| *k != key);
        if stale {
            self.cache = None;
            let pas = match self.layout.location {
                Location::Static => self.resolve(ram, self.static_sym.unwrap_or_default(), 0)?,
                Location::SchedEventStatsCpu { .. } => self.resolve(ram, key.1, 0)?,
                Location::SchedPcpu {
                    event_stats, sch, ..
                } => {
                    if let Some(sch) = sch {
                        self.check_back_pointers(ram, key, sch)?;
                    }
                    self.resolve(ram, key.1, event_stats)?
                }
            };
            self.cache = Some((key, pas));
        }
        let Some((_, pas)) = &self.cache else {
            return Ok(None);
        };
        let mut sums = vec![0i64; self.layout.offsets.len()];
        for cpu in pas {
            for (sum, &pa) in sums.iter_mut().zip(cpu) {
                let v = ram.read_u64(pa).ok_or_else(|| {
                    format!("event counter at guest physical {pa:#x} is outside guest RAM")
                })?;
                *sum = sum.wrapping_add(v as i64);
            }
        }
        if let Some(i) = sums.iter().position(|&v| v < 0) {
            self.cache = None;
            return Err(format!(
                "{} summed to {} ({}): the layout does not match this kernel",
                self.layout.names.0[i],
                sums[i],
                self.layout.location.describe()
            ));
        }
        Ok(Some(sums))
    }

    /// Every CPU's `scx_sched_pcpu.sch` must point back at the scheduler.
    fn check_back_pointers(
        &self,
        ram: &GuestRam,
        (root, pcpu): Scheduler,
        sch: u64,
    ) -> Result<(), String> {
        for (cpu, &offset) in self.per_cpu.iter().enumerate() {
            let va = pcpu.wrapping_add(offset).wrapping_add(sch);
            let pa = self
                .xlate
                .pa(ram, va)
                .map_err(|e| format!("CPU {cpu}'s struct scx_sched_pcpu: {e}"))?;
            let read = ram
                .read_u64(pa)
                .ok_or_else(|| format!("CPU {cpu}'s struct scx_sched_pcpu at guest physical {pa:#x} is outside guest RAM"))?;
            if read != root {
                return Err(format!(
                    "CPU {cpu}'s scx_sched_pcpu.sch is {read:#x}, not scx_root {root:#x}: the layout does not match this kernel"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "../../../tests/support/kernel_cache.rs"]
mod kernel_cache;

#[cfg(test)]
mod tests {
    use super::*;

    /// The layout from every cached kernel's real BTF; 7.3 (the test
    /// kernel) keeps its counters in `scx_sched_pcpu`, with the back-pointer,
    /// and has the counters its sysfs `events` file lists, in that order.
    #[test]
    fn layout_from_real_btf() {
        let files = kernel_cache::cached_kernel_files("btf");
        if files.is_empty() {
            println!("skipped: no kernels/*/btf under $SCXRAY_CACHE_DIR or ~/.cache/scxray");
            return;
        }
        for file in files {
            let btf = Btf::parse(&std::fs::read(&file).unwrap()).unwrap();
            let layout =
                EventLayout::from_btf(&btf).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            println!(
                "{}: {} ({:?}), {} counters: {:?}",
                file.display(),
                layout.location.describe(),
                layout.location,
                layout.names.0.len(),
                layout.names.0
            );
            assert_eq!(layout.names.0[0], "SCX_EV_SELECT_CPU_FALLBACK");
            let ss = super::super::SchedstatLayout::from_btf(&btf);
            println!("{}: schedstat {ss:?}", file.display());
            let bpf = super::super::BpfLayout::from_btf(&btf);
            println!("{}: bpf {bpf:?}", file.display());
            assert!(layout.offsets.windows(2).all(|w| w[1] == w[0] + 8));
            let release = file
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy();
            if release.starts_with("7.3.") {
                assert!(
                    matches!(layout.location, Location::SchedPcpu { sch: Some(0), .. }),
                    "{:?}",
                    layout.location
                );
                // /sys/kernel/sched_ext/root/events of a real 7.3.4 guest
                // (shared fixture mem-nokaslr).
                let sysfs = [
                    "SELECT_CPU_FALLBACK",
                    "DISPATCH_LOCAL_DSQ_OFFLINE",
                    "DISPATCH_KEEP_LAST",
                    "ENQ_SKIP_EXITING",
                    "ENQ_SKIP_MIGRATION_DISABLED",
                    "REENQ_IMMED",
                    "REENQ_REPEAT",
                    "REFILL_SLICE_DFL",
                    "SLICE_CLAMPED",
                    "SLICE_DENIED",
                    "BYPASS_DURATION",
                    "BYPASS_DISPATCH",
                    "BYPASS_ACTIVATE",
                    "INSERT_NOT_OWNED",
                    "SUB_BYPASS_DISPATCH",
                    "SUB_FORCED_ADMIT",
                    "SUB_PREEMPT_DENIED",
                    "SUB_KICK_DENIED",
                    "SUB_REENQ_DENIED",
                    "SUB_CIDPERF_DENIED",
                    "SUB_RESCUE",
                ]
                .map(|n| format!("SCX_EV_{n}"));
                assert_eq!(&layout.names.0[..], &sysfs[..]);
                // Debian's config has CONFIG_SCHEDSTATS=y.
                let ss = ss.unwrap();
                assert_eq!(ss.fields[0].size, 8, "run_delay");
                assert_eq!(ss.fields[3].size, 4, "sched_count");
                let bpf = bpf.unwrap();
                assert_eq!((bpf.struct_ops, bpf.nr_slots), (27, 64));
            }
        }
    }

    #[test]
    fn a_btf_without_sched_ext_says_so() {
        // The smallest valid BTF: a header and an empty string section.
        let mut raw = vec![0x9f, 0xeb, 1, 0];
        for w in [24u32, 0, 0, 0, 1] {
            raw.extend_from_slice(&w.to_le_bytes());
        }
        raw.push(0);
        let btf = Btf::parse(&raw).unwrap();
        let err = EventLayout::from_btf(&btf).unwrap_err();
        assert!(
            err.contains("struct scx_event_stats is not in this kernel's BTF"),
            "{err}"
        );
    }
}
