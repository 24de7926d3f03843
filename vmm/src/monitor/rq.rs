//! What locates and shapes the runqueues the monitor reads: the kernel
//! symbols the agent is asked for, and the `struct rq` fields taken from the
//! kernel's BTF. The addresses themselves, and how a kernel virtual address
//! becomes a guest physical one, are in [`crate::layout`].

use std::path::Path;

use scxray::btf::Btf;
use scxray::run::record::KernelSymbol;

use super::MonitorError;

/// `struct rq` of every CPU: `runqueues + __per_cpu_offset[cpu]`.
pub const SYM_RUNQUEUES: &str = "runqueues";
pub const SYM_PER_CPU_OFFSET: &str = "__per_cpu_offset";
pub const SYM_PAGE_OFFSET_BASE: &str = "page_offset_base";

/// The active `struct scx_sched *` (6.16+; 0 while no scheduler is attached).
pub const SYM_SCX_ROOT: &str = "scx_root";
/// 6.15's static per-CPU `struct scx_event_stats`.
pub const SYM_EVENT_STATS_CPU: &str = "event_stats_cpu";
/// The kernel's top-level page table (`swapper_pg_dir`).
pub const SYM_INIT_TOP_PGT: &str = "init_top_pgt";
/// Where the kernel image was loaded, physically, minus where it was linked.
pub const SYM_PHYS_BASE: &str = "phys_base";
/// Non-zero under 5-level paging (kernels before 6.17 keep it).
pub const SYM_PGTABLE_L5_ENABLED: &str = "__pgtable_l5_enabled";
/// Every loaded BPF program, by id (an xarray).
pub const SYM_PROG_IDR: &str = "prog_idr";
/// Every task sched_ext knows (a `list_head`; the failure dump walks it).
pub const SYM_SCX_TASKS: &str = "scx_tasks";
/// The tick count, to age `scx.runnable_at` in the failure dump.
pub const SYM_JIFFIES_64: &str = "jiffies_64";

/// The symbols the monitor looks up in kallsyms decoded from guest RAM
/// (and asks the guest agent for, as a cross-check). Only the first two
/// are needed; without the others the monitor says what it cannot read.
pub fn wanted_symbols() -> Vec<String> {
    [
        SYM_RUNQUEUES,
        SYM_PER_CPU_OFFSET,
        SYM_PAGE_OFFSET_BASE,
        SYM_SCX_ROOT,
        SYM_EVENT_STATS_CPU,
        SYM_INIT_TOP_PGT,
        SYM_PHYS_BASE,
        SYM_PGTABLE_L5_ENABLED,
        SYM_PROG_IDR,
        SYM_SCX_TASKS,
        SYM_JIFFIES_64,
    ]
    .map(String::from)
    .to_vec()
}

/// The symbol addresses the agent sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Symbols {
    pub runqueues: u64,
    pub per_cpu_offset: u64,
    /// Missing on kernels that do not randomise the direct map.
    pub page_offset_base: Option<u64>,
    pub scx_root: Option<u64>,
    pub event_stats_cpu: Option<u64>,
    pub init_top_pgt: Option<u64>,
    pub phys_base: Option<u64>,
    pub pgtable_l5_enabled: Option<u64>,
    pub prog_idr: Option<u64>,
    pub scx_tasks: Option<u64>,
    pub jiffies_64: Option<u64>,
}

impl Symbols {
    pub fn from_record(symbols: &[KernelSymbol]) -> Result<Symbols, MonitorError> {
        let find = |name: &str| symbols.iter().find(|s| s.name == name).map(|s| s.addr);
        let need = |name: &'static str| find(name).ok_or(MonitorError::MissingSymbol { name });
        Ok(Symbols {
            runqueues: need(SYM_RUNQUEUES)?,
            per_cpu_offset: need(SYM_PER_CPU_OFFSET)?,
            page_offset_base: find(SYM_PAGE_OFFSET_BASE),
            scx_root: find(SYM_SCX_ROOT),
            event_stats_cpu: find(SYM_EVENT_STATS_CPU),
            init_top_pgt: find(SYM_INIT_TOP_PGT),
            phys_base: find(SYM_PHYS_BASE),
            pgtable_l5_enabled: find(SYM_PGTABLE_L5_ENABLED),
            prog_idr: find(SYM_PROG_IDR),
            scx_tasks: find(SYM_SCX_TASKS),
            jiffies_64: find(SYM_JIFFIES_64),
        })
    }
}

/// A field of `struct rq`: byte offset and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub offset: u64,
    pub size: u64,
}

/// The fields of `struct rq` the monitor samples, from the kernel's BTF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RqLayout {
    pub cpu: Field,
    pub nr_running: Field,
    pub clock: Field,
    pub scx_nr_running: Field,
    pub local_dsq_nr: Field,
}

impl RqLayout {
    /// The fields out of `btf`, read from the file `path` (named in errors).
    pub fn from_btf(btf: &Btf, path: &Path) -> Result<RqLayout, MonitorError> {
        let btf_error = |source| MonitorError::Btf {
            path: path.to_path_buf(),
            source,
        };
        let field = |member: &[&str], size: u64| -> Result<Field, MonitorError> {
            let name = member.join(".");
            let offset = btf.member_offset("rq", member).map_err(btf_error)?;
            let got = btf.member_size("rq", member).map_err(btf_error)?;
            if got != size {
                return Err(MonitorError::FieldSize {
                    field: format!("rq.{name}"),
                    expected: size,
                    got,
                });
            }
            Ok(Field { offset, size })
        };
        Ok(RqLayout {
            cpu: field(&["cpu"], 4)?,
            nr_running: field(&["nr_running"], 4)?,
            clock: field(&["clock"], 8)?,
            scx_nr_running: field(&["scx", "nr_running"], 4)?,
            local_dsq_nr: field(&["scx", "local_dsq", "nr"], 4)?,
        })
    }
}

/// The schedstat counters of `struct rq` (only with `CONFIG_SCHEDSTATS`),
/// in [`Schedstat::from_values`](scxray::host_monitor::sample::Schedstat::from_values) order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedstatLayout {
    pub fields: [Field; 7],
}

impl SchedstatLayout {
    pub const PATHS: [&'static [&'static str]; 7] = [
        &["rq_sched_info", "run_delay"],
        &["rq_sched_info", "pcount"],
        &["yld_count"],
        &["sched_count"],
        &["sched_goidle"],
        &["ttwu_count"],
        &["ttwu_local"],
    ];

    /// The fields out of `btf`, or the first one it lacks.
    pub fn from_btf(btf: &Btf) -> Result<SchedstatLayout, String> {
        let mut fields = [Field { offset: 0, size: 0 }; 7];
        for (slot, path) in fields.iter_mut().zip(Self::PATHS) {
            let name = path.join(".");
            let offset = btf.member_offset("rq", path).map_err(|_| {
                format!(
                    "rq.{name} is not in this kernel's BTF (a kernel without CONFIG_SCHEDSTATS)"
                )
            })?;
            let size = btf.member_size("rq", path).map_err(|e| e.to_string())?;
            if size != 4 && size != 8 {
                return Err(format!(
                    "rq.{name} is {size} bytes in this kernel's BTF, expected 4 or 8"
                ));
            }
            *slot = Field { offset, size };
        }
        Ok(SchedstatLayout { fields })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_need_runqueues_and_per_cpu_offsets() {
        let s = |name: &str, addr| KernelSymbol {
            name: name.into(),
            addr,
        };
        let got = Symbols::from_record(&[s("runqueues", 1), s("__per_cpu_offset", 2)]).unwrap();
        assert_eq!(got.page_offset_base, None);
        let err = Symbols::from_record(&[s("runqueues", 1)]).unwrap_err();
        assert!(err.to_string().contains("__per_cpu_offset"), "{err}");
    }
}
