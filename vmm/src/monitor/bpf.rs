//! Statistics of the scheduler's BPF programs read out of guest memory
//! (ktstr-notes-2 §2.4): walk the kernel's `prog_idr` (an xarray), keep the
//! `BPF_PROG_TYPE_STRUCT_OPS` programs, and sum each one's per-CPU
//! `struct bpf_prog_stats` (`cnt`, `nsecs`). Every offset, and the program
//! type's value, comes from the kernel's BTF. Programs are vmalloc'd, so
//! reading them needs the page-table walk.

use scxray::btf::Btf;
use scxray::host_monitor::bpf::ProgSample;

use super::events::Translate;
use super::memory::GuestRam;
use crate::layout::image_pa;

/// Entries walked at most (ktstr caps ids at 65536).
const MAX_ENTRIES: usize = 65_536;
/// xarray levels at most (64-bit indices, 6 bits a level).
const MAX_DEPTH: u32 = 11;

/// Where the walk finds what it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BpfLayout {
    /// `idr.idr_rt.xa_head`.
    pub xa_head: u64,
    /// `xa_node.shift` (one byte) and `xa_node.slots`, with its length.
    pub node_shift: u64,
    pub node_slots: u64,
    pub nr_slots: u64,
    /// `bpf_prog.type` (4 bytes), `.aux`, `.stats` (percpu).
    pub prog_type: u64,
    pub prog_aux: u64,
    pub prog_stats: u64,
    /// `bpf_prog_aux.id` (4 bytes) and `.name` (16 bytes).
    pub aux_id: u64,
    pub aux_name: u64,
    /// `bpf_prog_stats.cnt` and `.nsecs` (8 bytes each).
    pub stats_cnt: u64,
    pub stats_nsecs: u64,
    /// `BPF_PROG_TYPE_STRUCT_OPS` in `enum bpf_prog_type`.
    pub struct_ops: u32,
}

impl BpfLayout {
    /// The layout out of the kernel's BTF, or the first thing it lacks.
    pub fn from_btf(btf: &Btf) -> Result<BpfLayout, String> {
        let field = |s: &str, path: &[&str], sizes: &[u64]| -> Result<u64, String> {
            let name = format!("{s}.{}", path.join("."));
            let off = btf
                .member_offset(s, path)
                .map_err(|e| format!("{name}: {e}"))?;
            let size = btf
                .member_size(s, path)
                .map_err(|e| format!("{name}: {e}"))?;
            if !sizes.is_empty() && !sizes.contains(&size) {
                return Err(format!(
                    "{name} is {size} bytes in this kernel's BTF, expected {sizes:?}"
                ));
            }
            Ok(off)
        };
        let slots_size = btf
            .member_size("xa_node", &["slots"])
            .map_err(|e| format!("xa_node.slots: {e}"))?;
        let struct_ops = btf
            .enum_values("bpf_prog_type")
            .map_err(|e| e.to_string())?
            .into_iter()
            .find(|(n, _)| n == "BPF_PROG_TYPE_STRUCT_OPS")
            .map(|(_, v)| v as u32)
            .ok_or("enum bpf_prog_type has no BPF_PROG_TYPE_STRUCT_OPS in this kernel's BTF")?;
        Ok(BpfLayout {
            xa_head: field("idr", &["idr_rt", "xa_head"], &[8])?,
            node_shift: field("xa_node", &["shift"], &[1])?,
            node_slots: field("xa_node", &["slots"], &[])?,
            nr_slots: slots_size / 8,
            prog_type: field("bpf_prog", &["type"], &[4])?,
            prog_aux: field("bpf_prog", &["aux"], &[8])?,
            prog_stats: field("bpf_prog", &["stats"], &[8])?,
            aux_id: field("bpf_prog_aux", &["id"], &[4])?,
            aux_name: field("bpf_prog_aux", &["name"], &[16])?,
            stats_cnt: field("bpf_prog_stats", &["cnt"], &[8])?,
            stats_nsecs: field("bpf_prog_stats", &["nsecs"], &[8])?,
            struct_ops,
        })
    }
}

/// Reads the struct_ops programs' statistics every sample.
pub struct BpfReader {
    layout: BpfLayout,
    /// Guest physical address of `prog_idr`.
    idr_pa: u64,
    per_cpu: Vec<u64>,
    xlate: Translate,
}

impl BpfReader {
    pub fn new(
        layout: BpfLayout,
        prog_idr: Option<u64>,
        per_cpu: Vec<u64>,
        xlate: Translate,
    ) -> Result<BpfReader, String> {
        let sym = prog_idr
            .ok_or("kernel symbol prog_idr not found (neither in guest memory nor by the agent)")?;
        let idr_pa = image_pa(sym)
            .map(|pa| pa.wrapping_add(xlate.phys_base))
            .ok_or_else(|| format!("prog_idr at {sym:#x} is not in the kernel image"))?;
        Ok(BpfReader {
            layout,
            idr_pa,
            per_cpu,
            xlate,
        })
    }

    fn u64_at(&self, ram: &GuestRam, va: u64, what: &str) -> Result<u64, String> {
        let pa = self.xlate.pa(ram, va).map_err(|e| format!("{what}: {e}"))?;
        ram.read_u64(pa)
            .ok_or_else(|| format!("{what} at guest physical {pa:#x} is outside guest RAM"))
    }

    fn u32_at(&self, ram: &GuestRam, va: u64, what: &str) -> Result<u32, String> {
        let pa = self.xlate.pa(ram, va).map_err(|e| format!("{what}: {e}"))?;
        ram.read_u32(pa)
            .ok_or_else(|| format!("{what} at guest physical {pa:#x} is outside guest RAM"))
    }

    /// Every struct_ops program, in `prog_idr` order, and how many
    /// programs of any type `prog_idr` holds.
    pub fn read(&self, ram: &GuestRam) -> Result<(Vec<ProgSample>, usize), String> {
        let l = &self.layout;
        let progs = self.programs(ram)?;
        let mut out = Vec::new();
        for &prog in &progs {
            if self.u32_at(ram, prog + l.prog_type, "bpf_prog.type")? != l.struct_ops {
                continue;
            }
            let aux = self.u64_at(ram, prog + l.prog_aux, "bpf_prog.aux")?;
            let id = self.u32_at(ram, aux + l.aux_id, "bpf_prog_aux.id")?;
            let name_pa = self
                .xlate
                .pa(ram, aux + l.aux_name)
                .map_err(|e| format!("bpf_prog_aux.name: {e}"))?;
            let name: [u8; 16] = ram
                .read_array(name_pa)
                .ok_or_else(|| format!("bpf_prog_aux.name at {name_pa:#x} is outside guest RAM"))?;
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            let stats = self.u64_at(ram, prog + l.prog_stats, "bpf_prog.stats")?;
            let (mut cnt, mut nsecs) = (0u64, 0u64);
            for (cpu, &offset) in self.per_cpu.iter().enumerate() {
                if cpu > 0 && offset == 0 {
                    continue;
                }
                let at = stats.wrapping_add(offset);
                cnt =
                    cnt.saturating_add(self.u64_at(ram, at + l.stats_cnt, "bpf_prog_stats.cnt")?);
                nsecs = nsecs.saturating_add(self.u64_at(
                    ram,
                    at + l.stats_nsecs,
                    "bpf_prog_stats.nsecs",
                )?);
            }
            out.push(ProgSample {
                id,
                name: String::from_utf8_lossy(&name[..end]).into_owned(),
                cnt,
                nsecs,
            });
        }
        Ok((out, progs.len()))
    }

    /// The `bpf_prog_aux` of every struct_ops program (the scheduler's),
    /// for the failure dump to find the maps they use.
    pub fn struct_ops_aux(&self, ram: &GuestRam) -> Result<Vec<u64>, String> {
        let l = &self.layout;
        let mut out = Vec::new();
        for prog in self.programs(ram)? {
            if self.u32_at(ram, prog + l.prog_type, "bpf_prog.type")? == l.struct_ops {
                out.push(self.u64_at(ram, prog + l.prog_aux, "bpf_prog.aux")?);
            }
        }
        Ok(out)
    }

    /// Every program in `prog_idr`, in index order.
    fn programs(&self, ram: &GuestRam) -> Result<Vec<u64>, String> {
        let head_pa = self.idr_pa + self.layout.xa_head;
        let head = ram.read_u64(head_pa).ok_or_else(|| {
            format!("prog_idr at guest physical {head_pa:#x} is outside guest RAM")
        })?;
        let mut progs = Vec::new();
        self.walk(ram, head, 0, &mut progs)?;
        Ok(progs)
    }

    /// The program pointers under xarray entry `entry`, in index order.
    fn walk(
        &self,
        ram: &GuestRam,
        entry: u64,
        depth: u32,
        out: &mut Vec<u64>,
    ) -> Result<(), String> {
        if entry == 0 || out.len() >= MAX_ENTRIES {
            return Ok(());
        }
        match entry & 3 {
            // An internal entry: a node (a pointer, + 2), or a retry or
            // sibling marker (small values), which hold no program.
            2 if entry > 4096 => {
                if depth >= MAX_DEPTH {
                    return Err(
                        "prog_idr is deeper than an xarray can be: the layout does not match"
                            .into(),
                    );
                }
                let l = &self.layout;
                let node = entry - 2;
                let pa = self
                    .xlate
                    .pa(ram, node + l.node_shift)
                    .map_err(|e| format!("xa_node: {e}"))?;
                let [shift]: [u8; 1] = ram
                    .read_array(pa)
                    .ok_or_else(|| format!("xa_node at {pa:#x} is outside guest RAM"))?;
                if shift % 6 != 0 || shift > 60 {
                    return Err(format!(
                        "xa_node.shift reads {shift}: the layout does not match"
                    ));
                }
                for i in 0..l.nr_slots {
                    let slot = self.u64_at(ram, node + l.node_slots + 8 * i, "xa_node.slots")?;
                    self.walk(ram, slot, depth + 1, out)?;
                }
                Ok(())
            }
            0 => {
                out.push(entry);
                Ok(())
            }
            // Value entries and internal markers.
            _ => Ok(()),
        }
    }
}
