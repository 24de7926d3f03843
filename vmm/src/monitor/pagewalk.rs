//! x86-64 page-table walk over guest physical memory, 4- and 5-level, with
//! 1 GiB and 2 MiB pages: what turns a kernel virtual address that is in
//! neither the kernel image nor the direct map (a vmalloc-backed per-CPU
//! chunk, such as `alloc_percpu`'s `scx_sched.pcpu`) into a guest physical
//! address. The root is the kernel's own page table, `init_top_pgt`
//! (physical = its address − `__START_KERNEL_map` + `phys_base`), which maps
//! every kernel address the same way in every process.

/// Reads 8 bytes of guest physical memory.
pub trait PhysRead {
    fn read_phys_u64(&self, pa: u64) -> Option<u64>;
}

impl PhysRead for super::memory::GuestRam {
    fn read_phys_u64(&self, pa: u64) -> Option<u64> {
        self.read_u64(pa)
    }
}

/// Present bit of a page-table entry.
const PRESENT: u64 = 1;
/// Page-size bit: the entry maps a 1 GiB (level 3) or 2 MiB (level 2) page.
const PAGE_SIZE: u64 = 1 << 7;
/// Physical address bits of an entry (51..12); bit 63 is NX, 62..52 are
/// software/protection-key bits.
pub(crate) const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/// Why an address does not translate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalkError {
    #[error("page-table level {level} entry for {va:#x} at guest physical {entry_pa:#x} is outside guest RAM")]
    Unreadable { va: u64, level: u8, entry_pa: u64 },
    #[error("{va:#x} is not mapped (level {level} entry {entry:#x} not present)")]
    NotPresent { va: u64, level: u8, entry: u64 },
    #[error("{va:#x} is not a canonical {levels}-level address")]
    NotCanonical { va: u64, levels: u8 },
}

/// The kernel's page tables: the physical address of the top level and
/// how many levels there are (4, or 5 with LA57).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageTables {
    pub root_pa: u64,
    pub levels: u8,
}

impl PageTables {
    /// Guest physical address of `va`.
    pub fn translate(&self, mem: &impl PhysRead, va: u64) -> Result<u64, WalkError> {
        let levels = if self.levels == 5 { 5 } else { 4 };
        let va_bits = 12 + 9 * u32::from(levels);
        // Bits above the top index must all equal the top index's high bit.
        let high = va >> (va_bits - 1);
        if high != 0 && high != (u64::MAX >> (va_bits - 1)) {
            return Err(WalkError::NotCanonical { va, levels });
        }
        let mut table = self.root_pa & ADDR_MASK;
        for level in (1..=levels).rev() {
            let shift = 12 + 9 * u32::from(level - 1);
            let index = (va >> shift) & 0x1ff;
            let entry_pa = table + 8 * index;
            let entry = mem.read_phys_u64(entry_pa).ok_or(WalkError::Unreadable {
                va,
                level,
                entry_pa,
            })?;
            if entry & PRESENT == 0 {
                return Err(WalkError::NotPresent { va, level, entry });
            }
            if (level == 2 || level == 3) && entry & PAGE_SIZE != 0 {
                let page_mask = (1u64 << shift) - 1;
                return Ok((entry & ADDR_MASK & !page_mask) | (va & page_mask));
            }
            table = entry & ADDR_MASK;
        }
        Ok(table | (va & 0xfff))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::testkit::Sparse;

    const VMALLOC: u64 = 0xffff_c900_0012_3000;

    #[test]
    fn four_level_4k_pages() {
        let mut m = Sparse::default();
        let mut next = 0x10_0000;
        m.map(4, 0x1000, VMALLOC, 0x7654_3000, &mut next);
        let pt = PageTables {
            root_pa: 0x1000,
            levels: 4,
        };
        assert_eq!(pt.translate(&m, VMALLOC + 0x5a8), Ok(0x7654_35a8));
        match pt.translate(&m, VMALLOC + 0x1000) {
            Err(WalkError::NotPresent { level: 1, .. }) => {}
            Err(WalkError::Unreadable { level: 1, .. }) => {}
            other => panic!("{other:?}"),
        }
        // The top-level slot of another region is empty.
        assert!(matches!(
            pt.translate(&m, 0xffff_8880_0000_0000),
            Err(WalkError::Unreadable { level: 4, .. })
        ));
        assert!(matches!(
            pt.translate(&m, 0x0000_9000_0000_0000),
            Err(WalkError::NotCanonical { levels: 4, .. })
        ));
    }

    #[test]
    fn five_level() {
        let mut m = Sparse::default();
        let mut next = 0x10_0000;
        // A 5-level direct-map address (page_offset_base 0xff11000000000000).
        let va = 0xff11_0000_0123_4000;
        m.map(5, 0x2000, va, 0x1_2345_6000, &mut next);
        let pt = PageTables {
            root_pa: 0x2000,
            levels: 5,
        };
        assert_eq!(pt.translate(&m, va + 8), Ok(0x1_2345_6008));
        // Canonical for 5 levels, not for 4.
        let four = PageTables { levels: 4, ..pt };
        assert!(matches!(
            four.translate(&m, va),
            Err(WalkError::NotCanonical { .. })
        ));
    }

    #[test]
    fn huge_pages() {
        let mut m = Sparse::default();
        let root = 0x1000u64;
        let va_2m = 0xffff_8880_0040_0000u64 + 0x1_2345;
        let va_1g = 0xffff_8881_4000_0000u64 + 0x2345_6789;
        // PML4 slot for both (same 512 GiB), one PUD table at 0x3000.
        let pml4 = root + 8 * ((va_2m >> 39) & 0x1ff);
        m.0.insert(pml4, 0x3000 | 0x63);
        // 2 MiB: PUD → PMD table at 0x4000 → PS entry (bit 12 is PAT, masked).
        m.0.insert(0x3000 + 8 * ((va_2m >> 30) & 0x1ff), 0x4000 | 0x63);
        m.0.insert(
            0x4000 + 8 * ((va_2m >> 21) & 0x1ff),
            0x0060_0000 | (1 << 12) | PAGE_SIZE | 0x63,
        );
        // 1 GiB: PS entry in the PUD.
        m.0.insert(
            0x3000 + 8 * ((va_1g >> 30) & 0x1ff),
            0x8000_0000 | PAGE_SIZE | 0x63,
        );
        let pt = PageTables {
            root_pa: root,
            levels: 4,
        };
        assert_eq!(pt.translate(&m, va_2m), Ok(0x0060_0000 + 0x1_2345));
        assert_eq!(pt.translate(&m, va_1g), Ok(0x8000_0000 + 0x2345_6789));
    }
}
