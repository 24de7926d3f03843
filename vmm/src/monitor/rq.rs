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

/// The symbols the guest agent is asked to look up.
pub fn wanted_symbols() -> Vec<String> {
    [SYM_RUNQUEUES, SYM_PER_CPU_OFFSET, SYM_PAGE_OFFSET_BASE]
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
