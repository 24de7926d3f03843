//! Every guest physical address, size and port scxray's own KVM VMM uses, in
//! one file. The boot structures ([`super::boot`]), guest RAM
//! ([`super::memory`]), the UARTs ([`super::serial`]) and a later host
//! monitor all take their numbers from here, so an overlap is caught by the
//! tests at the bottom instead of by a guest that dies early in boot.
//!
//! Low memory follows the PC layout Linux expects from a BIOS, without a
//! BIOS: the boot structures sit in the first 640 KiB ("base memory"), the
//! MP table and ACPI tables in the BIOS area 0xe0000..0x100000 where Linux
//! scans for them, the kernel at 1 MiB. RAM is split around a 1 GiB hole
//! below 4 GiB for the IOAPIC, the local APIC and later MMIO devices.
//! (QEMU's q35 splits differently; its numbers stay in [`crate::layout`].)

/// A half-open range `[start, start + size)` of guest physical addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub name: &'static str,
    pub start: u64,
    pub size: u64,
}

impl Region {
    pub const fn end(&self) -> u64 {
        self.start + self.size
    }

    pub const fn overlaps(&self, other: &Region) -> bool {
        self.start < other.end() && other.start < self.end()
    }

    pub const fn contains(&self, addr: u64) -> bool {
        self.start <= addr && addr < self.end()
    }
}

// --- base memory (below 640 KiB): the 64-bit entry's structures ---

/// The GDT for the 64-bit entry: null, code, data, TSS descriptors (4 × 8
/// bytes). Above the real-mode IVT (0..0x400) and BIOS data area
/// (0x400..0x500), which Linux reads (EBDA pointer at 0x40e) and finds zero.
pub const GDT: Region = Region {
    name: "GDT",
    start: 0x500,
    size: 4 * 8,
};
/// An empty IDT (limit 0): Linux installs its own before enabling
/// interrupts; until then any exception is a triple fault, which the VMM
/// reports as a shutdown rather than hanging.
pub const IDT: Region = Region {
    name: "IDT",
    start: 0x520,
    size: 8,
};
/// Where tiny real-mode test guests are loaded (CS = 0, IP = this). Above
/// the GDT/IDT, below the zero page; never used by a Linux boot.
pub const REAL_MODE_CODE: Region = Region {
    name: "real-mode code",
    start: 0x1000,
    size: 0x1000,
};
/// The zero page (`struct boot_params`, 4 KiB) the 64-bit boot protocol
/// passes in RSI. 0x7000 as in Firecracker and ktstr.
pub const ZERO_PAGE: Region = Region {
    name: "zero page",
    start: 0x7000,
    size: 0x1000,
};
/// The boot stack: RSP starts at [`BOOT_STACK_POINTER`], growing down into
/// this page. Linux switches to its own stack in `startup_64` at once.
pub const BOOT_STACK: Region = Region {
    name: "boot stack",
    start: 0x8000,
    size: 0x1000,
};
/// Initial RSP/RBP: 16 bytes below the top of [`BOOT_STACK`], 16-aligned.
pub const BOOT_STACK_POINTER: u64 = 0x8ff0;
/// Identity-map page tables for the 64-bit entry: PML4, PDPT and one PD of
/// 2 MiB pages, a page each. The 64-bit protocol needs the kernel, zero page
/// and command line identity mapped; one PD maps the first 1 GiB, which
/// holds them all ([`IDENTITY_MAPPED`]).
pub const PML4: Region = Region {
    name: "PML4",
    start: 0x9000,
    size: 0x1000,
};
pub const PDPT: Region = Region {
    name: "PDPT",
    start: 0xa000,
    size: 0x1000,
};
pub const PD: Region = Region {
    name: "PD",
    start: 0xb000,
    size: 0x1000,
};
/// What the boot page tables identity-map: 512 × 2 MiB.
pub const IDENTITY_MAPPED: u64 = 1 << 30;
/// The kernel command line, NUL-terminated; `boot_params.hdr.cmd_line_ptr`
/// points here. 64 KiB leaves room for any `COMMAND_LINE_SIZE` (2 KiB on
/// x86 today); the kernel's own limit is checked against its setup header.
pub const CMDLINE: Region = Region {
    name: "command line",
    start: 0x20000,
    size: 0x10000,
};
/// End of usable base memory: 639 KiB, where a PC's EBDA would start.
/// Everything from here to 1 MiB is left out of the E820 RAM entries
/// (legacy VGA and ROM space, then the tables below).
pub const BASE_MEMORY_END: u64 = 0x9fc00;

// --- BIOS area (0xe0000..0x100000): tables Linux scans for ---

/// ACPI tables (RSDP first, `boot_params.acpi_rsdp_addr` points at it; Linux
/// also scans 0xe0000..0x100000 for "RSD PTR "). Reserved in E820.
pub const ACPI_TABLES: Region = Region {
    name: "ACPI tables",
    start: 0xe0000,
    size: 0x10000,
};
/// The MP floating pointer (16 bytes, at its start) and the MP
/// configuration table right after it. Linux looks for "_MP_" in
/// 0xf0000..0x100000; 64 KiB holds a table for [`MAX_VCPUS`] processors.
/// Reserved in E820.
pub const MP_TABLE: Region = Region {
    name: "MP table",
    start: 0xf0000,
    size: 0x10000,
};

// --- RAM above 1 MiB ---

/// Where the protected-mode kernel of a bzImage is loaded (its
/// `code32_start`, 1 MiB): the first address after the BIOS area.
pub const KERNEL_LOAD_ADDR: u64 = 0x10_0000;
/// Start of RAM above the legacy area (same as the kernel's).
pub const HIGH_MEMORY_START: u64 = KERNEL_LOAD_ADDR;
/// Alignment of the initramfs: a page, as the boot protocol asks.
pub const INITRAMFS_ALIGN: u64 = 0x1000;

/// Where the initramfs goes: as high as possible in RAM below both the MMIO
/// hole and the kernel's `initrd_addr_max` (from its setup header), page
/// aligned, and above `kernel_end` (the boot protocol's advice: loading it
/// high keeps it clear of the kernel's decompression). `None` when it does
/// not fit.
pub fn initramfs_addr(
    ram_bytes: u64,
    kernel_end: u64,
    initrd_addr_max: u64,
    size: u64,
) -> Option<u64> {
    let top = low_ram_end(ram_bytes).min(initrd_addr_max.saturating_add(1));
    let start = top.checked_sub(size)? & !(INITRAMFS_ALIGN - 1);
    (start >= kernel_end).then_some(start)
}

// --- the 32-bit MMIO hole ---

/// Start of the hole below 4 GiB that is never RAM: IOAPIC, local APIC,
/// KVM's TSS pages and (later) MMIO devices live here. Guests with more RAM
/// get the rest from [`HIGH_RAM_START`].
pub const MMIO_HOLE_START: u64 = 0xc000_0000;
/// Where RAM continues above the hole.
pub const HIGH_RAM_START: u64 = 1 << 32;
pub const MMIO_HOLE: Region = Region {
    name: "32-bit MMIO hole",
    start: MMIO_HOLE_START,
    size: HIGH_RAM_START - MMIO_HOLE_START,
};
/// The IOAPIC's MMIO page (the architectural default, named in the MP table
/// and MADT).
pub const IOAPIC_ADDR: u64 = 0xfec0_0000;
/// The local APIC's MMIO page (architectural default).
pub const LAPIC_ADDR: u64 = 0xfee0_0000;
/// Three pages KVM needs for the real-mode TSS on Intel
/// (`KVM_SET_TSS_ADDR`), inside the hole so they never shadow RAM
/// (Firecracker's address).
pub const KVM_TSS_ADDR: u64 = 0xfffb_d000;

/// RAM below the hole for a guest of `ram_bytes`.
pub fn low_ram_end(ram_bytes: u64) -> u64 {
    ram_bytes.min(MMIO_HOLE_START)
}

/// The guest-physical RAM ranges `(start, size)` for `ram_bytes`, in the
/// order they sit in the RAM file (low part at offset 0, high part right
/// after).
pub fn ram_ranges(ram_bytes: u64) -> Vec<(u64, u64)> {
    let low = low_ram_end(ram_bytes);
    let mut ranges = vec![(0, low)];
    if ram_bytes > low {
        ranges.push((HIGH_RAM_START, ram_bytes - low));
    }
    ranges
}

/// Offset in the RAM file of guest physical address `gpa`; `None` where
/// `gpa` is not RAM.
pub fn ram_file_offset(gpa: u64, ram_bytes: u64) -> Option<u64> {
    let mut offset = 0;
    for (start, size) in ram_ranges(ram_bytes) {
        if gpa >= start && gpa - start < size {
            return Some(offset + gpa - start);
        }
        offset += size;
    }
    None
}

// --- E820 ---

/// E820 entry types (ACPI spec): usable RAM, reserved.
pub const E820_RAM: u32 = 1;
pub const E820_RESERVED: u32 = 2;

/// One E820 entry as the zero page holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct E820Entry {
    pub addr: u64,
    pub size: u64,
    pub kind: u32,
}

/// The memory map given to the guest: base memory, the reserved table
/// area (so Linux keeps the MP/ACPI tables), RAM from 1 MiB to the hole,
/// and RAM above 4 GiB when there is any. `ram_bytes` must exceed 1 MiB.
pub fn e820_map(ram_bytes: u64) -> Vec<E820Entry> {
    let ram = |addr, end: u64| E820Entry {
        addr,
        size: end - addr,
        kind: E820_RAM,
    };
    let mut map = vec![
        ram(0, BASE_MEMORY_END),
        E820Entry {
            addr: ACPI_TABLES.start,
            size: MP_TABLE.end() - ACPI_TABLES.start,
            kind: E820_RESERVED,
        },
        ram(HIGH_MEMORY_START, low_ram_end(ram_bytes)),
    ];
    if ram_bytes > MMIO_HOLE_START {
        map.push(ram(
            HIGH_RAM_START,
            HIGH_RAM_START + ram_bytes - MMIO_HOLE_START,
        ));
    }
    map
}

/// Smallest guest: 1 MiB of legacy area plus room for a kernel.
pub const MIN_RAM: u64 = 16 << 20;

// --- SMP ---

/// Most vCPUs: xAPIC IDs are 8 bits and 0xff is broadcast; more needs
/// x2APIC and the MADT's type-9 entries (not done yet).
pub const MAX_VCPUS: u32 = 254;
/// The IOAPIC's ID in the MP table: right after the last possible CPU's
/// APIC ID so the two never clash.
pub const IOAPIC_ID: u8 = MAX_VCPUS as u8;
/// IOAPIC input pins (the in-kernel IOAPIC has 24).
pub const IOAPIC_PINS: u8 = 24;

// --- port I/O ---

/// COM1, the kernel console (`console=ttyS0`): 8 ports from here, IRQ 4.
pub const COM1_PORT: u16 = 0x3f8;
pub const COM1_IRQ: u32 = 4;
/// COM2, the agent's record channel (ttyS1): 8 ports from here, IRQ 3.
pub const COM2_PORT: u16 = 0x2f8;
pub const COM2_IRQ: u32 = 3;
/// Registers per 16550 UART.
pub const UART_PORTS: u16 = 8;
/// The i8042 command port: Linux resets through it with `reboot=k`
/// (command [`I8042_RESET`]), which the VMM treats as the guest ending.
pub const I8042_COMMAND_PORT: u16 = 0x64;
pub const I8042_RESET: u8 = 0xfe;
/// What a read of the i8042 status port answers: output and input buffers
/// empty, so a command may be written.
pub const I8042_STATUS_IDLE: u8 = 0;
/// The hardware-reduced ACPI sleep control register (FADT
/// `SLEEP_CONTROL_REG`, one byte): Linux powers off by writing S5's
/// SLP_TYP with SLP_EN here ([`super::power`]). 0x3c0 as in
/// cloud-hypervisor; it is in the VGA range, which the FADT and zero page
/// say is absent.
pub const ACPI_SLEEP_CONTROL_PORT: u16 = 0x3c0;
/// The sleep status register (FADT `SLEEP_STATUS_REG`, one byte), next to
/// the control register.
pub const ACPI_SLEEP_STATUS_PORT: u16 = 0x3c1;

/// The fixed regions of low memory, for overlap checks and reports.
pub const LOW_REGIONS: [Region; 10] = [
    GDT,
    IDT,
    REAL_MODE_CODE,
    ZERO_PAGE,
    BOOT_STACK,
    PML4,
    PDPT,
    PD,
    CMDLINE,
    MP_TABLE,
];

#[cfg(test)]
mod tests {
    use super::*;

    fn all_regions() -> Vec<Region> {
        let mut all = LOW_REGIONS.to_vec();
        all.push(ACPI_TABLES);
        all
    }

    #[test]
    fn fixed_regions_do_not_overlap() {
        let all = all_regions();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert!(!a.overlaps(b), "{a:?} overlaps {b:?}");
            }
        }
    }

    #[test]
    fn boot_structures_are_in_base_memory_and_identity_mapped() {
        for r in [
            GDT,
            IDT,
            REAL_MODE_CODE,
            ZERO_PAGE,
            BOOT_STACK,
            PML4,
            PDPT,
            PD,
            CMDLINE,
        ] {
            assert!(r.end() <= BASE_MEMORY_END, "{r:?} past base memory");
            assert!(r.end() <= IDENTITY_MAPPED);
            assert!(r.start >= 0x500, "{r:?} in the IVT or BIOS data area");
        }
        assert!(BOOT_STACK.contains(BOOT_STACK_POINTER));
        assert_eq!(BOOT_STACK_POINTER % 16, 0);
    }

    #[test]
    fn page_aligned_where_the_cpu_or_kernel_needs_it() {
        for r in [ZERO_PAGE, PML4, PDPT, PD, BOOT_STACK] {
            assert_eq!(r.start % 0x1000, 0, "{r:?}");
        }
        assert_eq!(GDT.start % 8, 0);
        assert_eq!(IDT.start % 8, 0);
        assert_eq!(
            MP_TABLE.start % 16,
            0,
            "the MP floating pointer is 16-aligned"
        );
        assert_eq!(ACPI_TABLES.start % 16, 0, "the RSDP is 16-aligned");
    }

    #[test]
    fn everything_fixed_is_below_the_hole_and_the_apics_inside_it() {
        for r in all_regions() {
            assert!(r.end() <= MMIO_HOLE_START, "{r:?}");
        }
        for addr in [
            IOAPIC_ADDR,
            LAPIC_ADDR,
            KVM_TSS_ADDR,
            KVM_TSS_ADDR + 3 * 0x1000 - 1,
        ] {
            assert!(MMIO_HOLE.contains(addr), "{addr:#x}");
        }
        assert!(MP_TABLE.end() <= HIGH_MEMORY_START);
        assert!(ACPI_TABLES.end() <= MP_TABLE.start);
    }

    #[test]
    fn ram_splits_around_the_hole() {
        assert_eq!(ram_ranges(512 << 20), vec![(0, 512 << 20)]);
        assert_eq!(ram_ranges(MMIO_HOLE_START), vec![(0, MMIO_HOLE_START)]);
        assert_eq!(
            ram_ranges(5 << 30),
            vec![(0, 3 << 30), (HIGH_RAM_START, 2 << 30)]
        );
        assert_eq!(ram_file_offset(0x1000, 5 << 30), Some(0x1000));
        assert_eq!(ram_file_offset(MMIO_HOLE_START, 5 << 30), None);
        assert_eq!(
            ram_file_offset(HIGH_RAM_START + 5, 5 << 30),
            Some((3 << 30) + 5)
        );
        assert_eq!(ram_file_offset(HIGH_RAM_START + (2 << 30), 5 << 30), None);
        assert_eq!(ram_file_offset(512 << 20, 512 << 20), None);
    }

    #[test]
    fn e820_covers_ram_and_reserves_the_tables() {
        let map = e820_map(512 << 20);
        assert_eq!(map.len(), 3);
        assert_eq!(
            map[2],
            E820Entry {
                addr: 0x10_0000,
                size: (512 << 20) - 0x10_0000,
                kind: E820_RAM
            }
        );
        let reserved = map[1];
        assert_eq!(reserved.kind, E820_RESERVED);
        for r in [MP_TABLE, ACPI_TABLES] {
            assert!(reserved.addr <= r.start && r.end() <= reserved.addr + reserved.size);
        }
        let big = e820_map(5 << 30);
        assert_eq!(big.len(), 4);
        assert_eq!(big[2].addr + big[2].size, MMIO_HOLE_START);
        assert_eq!(
            big[3],
            E820Entry {
                addr: 1 << 32,
                size: 2 << 30,
                kind: E820_RAM
            }
        );
        let total: u64 = big
            .iter()
            .filter(|e| e.kind == E820_RAM)
            .map(|e| e.size)
            .sum();
        assert_eq!(total, (5 << 30) - (HIGH_MEMORY_START - BASE_MEMORY_END));
        for w in big.windows(2) {
            assert!(
                w[0].addr + w[0].size <= w[1].addr,
                "sorted, disjoint: {w:?}"
            );
        }
    }

    #[test]
    fn initramfs_goes_high_and_aligned() {
        let at = initramfs_addr(512 << 20, 0x200_0000, 0x7fff_ffff, 10_000_001).unwrap();
        assert_eq!(at % INITRAMFS_ALIGN, 0);
        assert!(at + 10_000_001 <= 512 << 20);
        assert!(at >= (512 << 20) - 10_000_001 - INITRAMFS_ALIGN);
        // initrd_addr_max caps it below RAM's end; the hole caps it for big guests.
        let capped = initramfs_addr(8 << 30, 0x200_0000, 0x3fff_ffff, 0x1000).unwrap();
        assert_eq!(capped, 0x4000_0000 - 0x1000);
        let big = initramfs_addr(8 << 30, 0x200_0000, u32::MAX as u64, 0x1000).unwrap();
        assert_eq!(big, MMIO_HOLE_START - 0x1000);
        assert_eq!(
            initramfs_addr(64 << 20, 0x300_0000, 0x7fff_ffff, 40 << 20),
            None
        );
    }

    #[test]
    fn ports_irqs_and_ids_do_not_clash() {
        const { assert!(COM2_PORT + UART_PORTS <= COM1_PORT) };
        assert!(!(COM2_PORT..COM2_PORT + UART_PORTS).contains(&I8042_COMMAND_PORT));
        for port in [ACPI_SLEEP_CONTROL_PORT, ACPI_SLEEP_STATUS_PORT] {
            for uart in [COM1_PORT, COM2_PORT] {
                assert!(!(uart..uart + UART_PORTS).contains(&port), "{port:#x}");
            }
            assert_ne!(port, I8042_COMMAND_PORT);
        }
        assert_ne!(ACPI_SLEEP_CONTROL_PORT, ACPI_SLEEP_STATUS_PORT);
        assert_ne!(COM1_IRQ, COM2_IRQ);
        const { assert!(IOAPIC_ID as u32 >= MAX_VCPUS) };
    }
}
