//! Every guest address scxray relies on, in one file (firecracker's
//! habit): where the q35 machine puts guest RAM around the 32-bit PCI hole,
//! and where an x86-64 kernel booted with `nokaslr` keeps its image and
//! direct map. The QEMU command line, the guest RAM file and the host-side
//! monitor all take their numbers from here.
//!
//! Under `nokaslr` the kernel image sits where it was linked (`phys_base`
//! 0: physical = virtual − [`START_KERNEL_MAP`]) and the direct map starts
//! at [`DEFAULT_PAGE_OFFSET`]. With KASLR (the default) both move: physical
//! = virtual − [`START_KERNEL_MAP`] + `phys_base`, and `page_offset_base` is
//! randomized; the monitor reads both from guest memory
//! (`monitor::discover`). Per-CPU data of the first chunk (the runqueues)
//! lives in the direct map, so no page-table walk is needed for them.

// --- guest physical: q35 RAM ---

/// From this much RAM up, q35 splits it: [`Q35_LOW`] below the PCI hole,
/// the rest from [`HIGH_RAM_START`].
pub const Q35_SPLIT_ABOVE: u64 = 0xb000_0000;
/// RAM below the PCI hole once q35 splits it (2 GiB).
pub const Q35_LOW: u64 = 0x8000_0000;
/// Where RAM above the PCI hole starts (4 GiB).
pub const HIGH_RAM_START: u64 = 1 << 32;

/// Guest RAM below 4 GiB on q35: all of it up to 2.75 GiB, else 2 GiB (the
/// rest is mapped from 4 GiB up).
pub fn low_mem_end(memory_bytes: u64) -> u64 {
    if memory_bytes >= Q35_SPLIT_ABOVE {
        Q35_LOW
    } else {
        memory_bytes
    }
}

/// Offset in a RAM file of `size` bytes (RAM in guest order, `low_end`
/// bytes of it below the hole) of guest physical address `gpa`; `None`
/// where `gpa` is not RAM.
pub fn ram_offset(gpa: u64, size: u64, low_end: u64) -> Option<u64> {
    if gpa < low_end {
        Some(gpa)
    } else if gpa >= HIGH_RAM_START && gpa - HIGH_RAM_START < size - low_end {
        Some(gpa - HIGH_RAM_START + low_end)
    } else {
        None
    }
}

/// One contiguous piece of guest RAM: `len` bytes at guest physical `gpa`,
/// stored from `offset` in the RAM file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RamRegion {
    pub gpa: u64,
    pub offset: u64,
    pub len: u64,
}

/// The pieces of a RAM file of `size` bytes with `low_end` of them below
/// the hole (`low_end <= size`), in guest physical order: the low part at
/// offset 0, and the rest (if any) from [`HIGH_RAM_START`] at offset
/// `low_end`. The region form of [`ram_offset`]: an address is in one of
/// them exactly when `ram_offset` maps it, to the same offset.
pub fn ram_regions(size: u64, low_end: u64) -> impl Iterator<Item = RamRegion> {
    let low = low_end.min(size);
    let high = size - low;
    [
        RamRegion {
            gpa: 0,
            offset: 0,
            len: low,
        },
        RamRegion {
            gpa: HIGH_RAM_START,
            offset: low,
            len: high,
        },
    ]
    .into_iter()
    .filter(|r| r.len > 0)
}

// --- kernel virtual ---

/// Where x86-64 links the kernel image.
pub const START_KERNEL_MAP: u64 = 0xffff_ffff_8000_0000;
/// The direct map's start without KASLR; the guest's `page_offset_base`
/// says for sure and is read when available.
pub const DEFAULT_PAGE_OFFSET: u64 = 0xffff_8880_0000_0000;
/// The direct map covers at most 64 TiB with 4-level paging.
const DIRECT_MAP_SIZE: u64 = 1 << 46;

/// Physical address of a kernel-image (text, data, bss) virtual address.
pub fn image_pa(va: u64) -> Option<u64> {
    va.checked_sub(START_KERNEL_MAP)
}

/// Physical address of a direct-map virtual address.
pub fn direct_map_pa(va: u64, page_offset: u64) -> Option<u64> {
    va.checked_sub(page_offset)
        .filter(|&pa| pa < DIRECT_MAP_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q35_low_memory() {
        assert_eq!(low_mem_end(1 << 30), 1 << 30);
        assert_eq!(low_mem_end(0xafff_ffff), 0xafff_ffff);
        assert_eq!(low_mem_end(0xb000_0000), 0x8000_0000);
        assert_eq!(low_mem_end(8 << 30), 0x8000_0000);
    }

    #[test]
    fn ram_regions_agree_with_ram_offset() {
        const MIB: u64 = 1 << 20;
        for (size, low_end) in [
            (3 * MIB, 2 * MIB),
            (8192, 8192),
            (1 << 30, low_mem_end(1 << 30)),
            (8 << 30, low_mem_end(8 << 30)),
        ] {
            let regions: Vec<_> = ram_regions(size, low_end).collect();
            assert_eq!(regions.iter().map(|r| r.len).sum::<u64>(), size);
            assert_eq!(regions.len(), if size > low_end { 2 } else { 1 });
            for r in &regions {
                for gpa in [r.gpa, r.gpa + 1, r.gpa + r.len / 2, r.gpa + r.len - 1] {
                    let off = gpa - r.gpa + r.offset;
                    assert_eq!(ram_offset(gpa, size, low_end), Some(off), "{gpa:#x}");
                }
                // Just past each region is not RAM (the hole, or the end).
                assert_eq!(ram_offset(r.gpa + r.len, size, low_end), None);
            }
            // Somewhere in the hole, when there is one.
            if size > low_end {
                assert_eq!(ram_offset(HIGH_RAM_START - 1, size, low_end), None);
            }
        }
    }

    #[test]
    fn addresses_translate_as_the_feasibility_run_measured() {
        // 7.3.4 under nokaslr: linux_banner and CPU 1's runqueue.
        assert_eq!(image_pa(0xffff_ffff_8239_f680), Some(0x239_f680));
        assert_eq!(image_pa(0x1000), None);
        let rq1 = 0xffff_ffff_83cf_65c0_u64.wrapping_add(0xffff_8880_bac3_c000);
        assert_eq!(direct_map_pa(rq1, DEFAULT_PAGE_OFFSET), Some(0x3e93_25c0));
        assert_eq!(direct_map_pa(0x1000, DEFAULT_PAGE_OFFSET), None);
    }
}
