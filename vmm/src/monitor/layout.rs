//! Every guest address the monitor uses, and how kernel virtual addresses
//! become guest physical ones. Nothing else in the monitor knows an address.
//!
//! Guests boot with `nokaslr`, so the kernel image sits where it was linked
//! (`phys_base` 0: physical = virtual − `__START_KERNEL_map`) and the direct
//! map starts at `page_offset_base`, read from the guest. Per-CPU data of the
//! first chunk (the runqueues) lives in the direct map, so no page-table walk
//! is needed for what is read here.

use scxray::monitor::btf::Btf;
use scxray::run::record::KernelSymbol;

use super::MonitorError;

/// Where x86-64 links the kernel image.
pub const START_KERNEL_MAP: u64 = 0xffff_ffff_8000_0000;
/// The direct map's start without KASLR; the guest's `page_offset_base`
/// says for sure and is read when available.
pub const DEFAULT_PAGE_OFFSET: u64 = 0xffff_8880_0000_0000;
/// `struct rq` of every CPU: `runqueues + __per_cpu_offset[cpu]`.
pub const SYM_RUNQUEUES: &str = "runqueues";
pub const SYM_PER_CPU_OFFSET: &str = "__per_cpu_offset";
pub const SYM_PAGE_OFFSET_BASE: &str = "page_offset_base";

/// The symbols the guest agent is asked to look up.
pub fn wanted_symbols() -> Vec<String> {
    [SYM_RUNQUEUES, SYM_PER_CPU_OFFSET, SYM_PAGE_OFFSET_BASE]
        .map(String::from)
        .to_vec()
}

/// Physical address of a kernel-image (text, data, bss) virtual address.
pub fn image_pa(va: u64) -> Option<u64> {
    va.checked_sub(START_KERNEL_MAP)
}

/// The direct map covers at most 64 TiB with 4-level paging.
const DIRECT_MAP_SIZE: u64 = 1 << 46;

/// Physical address of a direct-map virtual address.
pub fn direct_map_pa(va: u64, page_offset: u64) -> Option<u64> {
    va.checked_sub(page_offset)
        .filter(|&pa| pa < DIRECT_MAP_SIZE)
}

/// The symbol addresses the agent sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Symbols {
    pub runqueues: u64,
    pub per_cpu_offset: u64,
    /// Missing on kernels that do not randomise the direct map.
    pub page_offset_base: Option<u64>,
}

impl Symbols {
    pub fn from_record(symbols: &[KernelSymbol]) -> Result<Symbols, MonitorError> {
        let find = |name: &str| symbols.iter().find(|s| s.name == name).map(|s| s.addr);
        let need = |name: &'static str| find(name).ok_or(MonitorError::MissingSymbol { name });
        Ok(Symbols {
            runqueues: need(SYM_RUNQUEUES)?,
            per_cpu_offset: need(SYM_PER_CPU_OFFSET)?,
            page_offset_base: find(SYM_PAGE_OFFSET_BASE),
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
    pub fn from_btf(btf: &Btf) -> Result<RqLayout, MonitorError> {
        let field = |path: &[&str], size: u64| -> Result<Field, MonitorError> {
            let name = path.join(".");
            let offset = btf
                .member_offset("rq", path)
                .map_err(|e| MonitorError::Btf(e.to_string()))?;
            let got = btf
                .member_size("rq", path)
                .map_err(|e| MonitorError::Btf(e.to_string()))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_translate_as_the_feasibility_run_measured() {
        // 7.3.4 under nokaslr: linux_banner and CPU 1's runqueue.
        assert_eq!(image_pa(0xffff_ffff_8239_f680), Some(0x239_f680));
        assert_eq!(image_pa(0x1000), None);
        let rq1 = 0xffff_ffff_83cf_65c0_u64.wrapping_add(0xffff_8880_bac3_c000);
        assert_eq!(direct_map_pa(rq1, DEFAULT_PAGE_OFFSET), Some(0x3e93_25c0));
        assert_eq!(direct_map_pa(0x1000, DEFAULT_PAGE_OFFSET), None);
    }

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
