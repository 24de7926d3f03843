//! The Linux x86-64 64-bit boot protocol, written into guest memory: the
//! zero page (`boot_params` with E820 map, command line and initramfs),
//! identity-mapped page tables, a GDT, and the vCPU registers for the
//! 64-bit entry; plus the MP table that tells the kernel about every vCPU.
//!
//! Register and descriptor values are computed by free functions into plain
//! `kvm_bindings` structs, so they are tested without KVM; only
//! [`super::vcpu`] hands them to a vCPU. Real-mode values for the tiny test
//! guests live here too.

use kvm_bindings::{kvm_regs, kvm_segment, kvm_sregs};
use linux_loader::loader::bootparam::{boot_params, setup_header, E820_MAX_ENTRIES_ZEROPAGE};
use vm_memory::{ByteValued, Bytes, GuestAddress, GuestMemoryMmap};

use super::layout::{self, E820Entry};

/// Why a boot structure could not be written.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("kernel command line is {len} bytes; at most {max} fit (kernel's cmdline_size or the VMM's area)")]
    CmdlineTooLong { len: usize, max: usize },
    #[error("kernel command line holds a NUL byte at {at}")]
    CmdlineNul { at: usize },
    #[error("{what} at {addr:#x} does not fit below 4 GiB; the 64-bit boot protocol fields are 32-bit here")]
    Above4G { what: &'static str, addr: u64 },
    #[error("E820 map has {0} entries; the zero page holds {E820_MAX_ENTRIES_ZEROPAGE}")]
    TooManyE820(usize),
    #[error("{0} vCPUs: the MP table takes 1..={max}", max = layout::MAX_VCPUS)]
    VcpuCount(u32),
    #[error("APIC ID {0} clashes with the IOAPIC's or is past xAPIC's 8 bits")]
    ApicId(u32),
    #[error("MP table of {len} bytes overflows its {max}-byte area")]
    MpTableTooBig { len: usize, max: u64 },
    #[error("writing the {what} at {addr:#x} into guest RAM: {source}")]
    Write {
        what: &'static str,
        addr: u64,
        source: vm_memory::GuestMemoryError,
    },
}

fn write(
    mem: &GuestMemoryMmap,
    what: &'static str,
    addr: u64,
    bytes: &[u8],
) -> Result<(), BootError> {
    mem.write_slice(bytes, GuestAddress(addr))
        .map_err(|source| BootError::Write { what, addr, source })
}

// --- zero page ---

/// `boot_params` as vm-memory bytes.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct ZeroPage(pub boot_params);

// SAFETY: `boot_params` is `repr(C, packed)` plain old data (integers and
// arrays of them): every bit pattern is valid and there is no padding.
unsafe impl ByteValued for ZeroPage {}

/// `hdr.boot_flag` and `hdr.header`: the magic numbers of a setup header.
pub const BOOT_FLAG_MAGIC: u16 = 0xaa55;
pub const HDR_MAGIC: u32 = 0x5372_6448; // "HdrS"
/// `hdr.type_of_loader`: "undefined" boot loader (0xff), as other VMMs use.
pub const LOADER_TYPE_UNDEFINED: u8 = 0xff;

/// What the zero page says beyond the kernel's own setup header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootInfo {
    pub ram_bytes: u64,
    /// Bytes of command line, without its NUL.
    pub cmdline_len: usize,
    /// `(address, size)` of the initramfs, if any.
    pub initramfs: Option<(u64, u64)>,
    /// Where the ACPI RSDP is, if the VMM wrote ACPI tables.
    pub acpi_rsdp: Option<u64>,
}

/// The zero page for `info`, starting from the kernel's setup header `hdr`
/// (from the bzImage; `setup_header::default()` for tests).
pub fn boot_params(hdr: setup_header, info: &BootInfo) -> Result<ZeroPage, BootError> {
    let mut params = ZeroPage(boot_params::default());
    params.0.hdr = hdr;
    params.0.hdr.boot_flag = BOOT_FLAG_MAGIC;
    params.0.hdr.header = HDR_MAGIC;
    params.0.hdr.type_of_loader = LOADER_TYPE_UNDEFINED;
    params.0.hdr.cmd_line_ptr = layout::CMDLINE.start as u32;
    params.0.hdr.cmdline_size = info.cmdline_len as u32;
    if let Some((addr, size)) = info.initramfs {
        params.0.hdr.ramdisk_image = u32::try_from(addr).map_err(|_| BootError::Above4G {
            what: "initramfs",
            addr,
        })?;
        params.0.hdr.ramdisk_size = u32::try_from(size).map_err(|_| BootError::Above4G {
            what: "initramfs end",
            addr: addr + size,
        })?;
    }
    if let Some(rsdp) = info.acpi_rsdp {
        params.0.acpi_rsdp_addr = rsdp;
    }
    let map = layout::e820_map(info.ram_bytes);
    if map.len() > E820_MAX_ENTRIES_ZEROPAGE {
        return Err(BootError::TooManyE820(map.len()));
    }
    for (slot, e) in params.0.e820_table.iter_mut().zip(&map) {
        slot.addr = e.addr;
        slot.size = e.size;
        slot.r#type = e.kind;
    }
    params.0.e820_entries = map.len() as u8;
    Ok(params)
}

/// The E820 entries a zero page holds.
pub fn e820_of(params: &ZeroPage) -> Vec<E820Entry> {
    let table = params.0.e820_table;
    table[..usize::from(params.0.e820_entries).min(table.len())]
        .iter()
        .map(|e| E820Entry {
            addr: e.addr,
            size: e.size,
            kind: e.r#type,
        })
        .collect()
}

pub fn write_boot_params(mem: &GuestMemoryMmap, params: &ZeroPage) -> Result<(), BootError> {
    write(mem, "zero page", layout::ZERO_PAGE.start, params.as_slice())
}

/// Writes `cmdline` with its NUL at [`layout::CMDLINE`]; `kernel_max` is the
/// kernel's `cmdline_size` from its setup header (0 when unknown).
pub fn write_cmdline(
    mem: &GuestMemoryMmap,
    cmdline: &str,
    kernel_max: u32,
) -> Result<(), BootError> {
    if let Some(at) = cmdline.bytes().position(|b| b == 0) {
        return Err(BootError::CmdlineNul { at });
    }
    let mut max = layout::CMDLINE.size as usize - 1;
    if kernel_max > 0 {
        max = max.min(kernel_max as usize);
    }
    if cmdline.len() > max {
        return Err(BootError::CmdlineTooLong {
            len: cmdline.len(),
            max,
        });
    }
    let mut bytes = cmdline.as_bytes().to_vec();
    bytes.push(0);
    write(mem, "command line", layout::CMDLINE.start, &bytes)
}

// --- page tables ---

const PTE_PRESENT: u64 = 1;
const PTE_WRITABLE: u64 = 1 << 1;
const PTE_HUGE: u64 = 1 << 7;

/// The boot page tables as `(address, entry)` pairs: PML4[0] → PDPT,
/// PDPT[0] → PD, PD[i] → 2 MiB page i, identity-mapping
/// [`layout::IDENTITY_MAPPED`].
pub fn page_table_entries() -> Vec<(u64, u64)> {
    let mut entries = vec![
        (
            layout::PML4.start,
            layout::PDPT.start | PTE_PRESENT | PTE_WRITABLE,
        ),
        (
            layout::PDPT.start,
            layout::PD.start | PTE_PRESENT | PTE_WRITABLE,
        ),
    ];
    let pages = layout::IDENTITY_MAPPED >> 21;
    for i in 0..pages {
        entries.push((
            layout::PD.start + i * 8,
            (i << 21) | PTE_PRESENT | PTE_WRITABLE | PTE_HUGE,
        ));
    }
    entries
}

pub fn write_page_tables(mem: &GuestMemoryMmap) -> Result<(), BootError> {
    for (addr, entry) in page_table_entries() {
        write(mem, "page tables", addr, &entry.to_le_bytes())?;
    }
    Ok(())
}

// --- GDT and segments ---

/// A GDT descriptor from `flags` (access byte in bits 0..8, flags nibble in
/// 12..16, as Firecracker's `gdt_entry`), `base` and `limit`.
pub const fn gdt_entry(flags: u16, base: u32, limit: u32) -> u64 {
    ((base as u64 & 0xff00_0000) << 32)
        | ((base as u64 & 0x00ff_ffff) << 16)
        | (limit as u64 & 0x0000_ffff)
        | ((limit as u64 & 0x000f_0000) << 32)
        | ((flags as u64 & 0xf0ff) << 40)
}

/// The boot GDT: null, 64-bit code (selector 0x08), data (0x10), TSS (0x18).
pub const GDT_ENTRIES: [u64; 4] = [
    0,
    gdt_entry(0xa09b, 0, 0xfffff),
    gdt_entry(0xc093, 0, 0xfffff),
    gdt_entry(0x808b, 0, 0xfffff),
];

/// The `kvm_segment` the CPU would cache after loading GDT entry `index`.
pub fn segment_of(entry: u64, index: u16) -> kvm_segment {
    let base = ((entry >> 16) & 0x00ff_ffff) | ((entry >> 32) & 0xff00_0000);
    let limit = ((entry & 0xffff) | ((entry >> 32) & 0x000f_0000)) as u32;
    let g = ((entry >> 55) & 1) as u8;
    kvm_segment {
        base,
        // With 4 KiB granularity the CPU scales the limit up.
        limit: if g == 1 { (limit << 12) | 0xfff } else { limit },
        selector: index * 8,
        type_: ((entry >> 40) & 0xf) as u8,
        s: ((entry >> 44) & 1) as u8,
        dpl: ((entry >> 45) & 3) as u8,
        present: ((entry >> 47) & 1) as u8,
        avl: ((entry >> 52) & 1) as u8,
        l: ((entry >> 53) & 1) as u8,
        db: ((entry >> 54) & 1) as u8,
        g,
        unusable: if (entry >> 47) & 1 == 1 { 0 } else { 1 },
        padding: 0,
    }
}

pub fn write_gdt_idt(mem: &GuestMemoryMmap) -> Result<(), BootError> {
    let gdt: Vec<u8> = GDT_ENTRIES.iter().flat_map(|e| e.to_le_bytes()).collect();
    write(mem, "GDT", layout::GDT.start, &gdt)?;
    write(mem, "IDT", layout::IDT.start, &0u64.to_le_bytes())
}

const CR0_PE: u64 = 1;
const CR0_PG: u64 = 1 << 31;
const CR4_PAE: u64 = 1 << 5;
const EFER_LME: u64 = 1 << 8;
const EFER_LMA: u64 = 1 << 10;

/// `sregs` (as KVM reported them for a new vCPU) changed for the 64-bit
/// entry: GDT/IDT, flat long-mode segments, paging on with the identity
/// map, EFER.LME|LMA.
pub fn long_mode_sregs(mut sregs: kvm_sregs) -> kvm_sregs {
    sregs.gdt.base = layout::GDT.start;
    sregs.gdt.limit = (layout::GDT.size - 1) as u16;
    sregs.idt.base = layout::IDT.start;
    sregs.idt.limit = (layout::IDT.size - 1) as u16;
    let data = segment_of(GDT_ENTRIES[2], 2);
    sregs.cs = segment_of(GDT_ENTRIES[1], 1);
    sregs.ds = data;
    sregs.es = data;
    sregs.fs = data;
    sregs.gs = data;
    sregs.ss = data;
    sregs.tr = segment_of(GDT_ENTRIES[3], 3);
    sregs.cr0 |= CR0_PE | CR0_PG;
    sregs.cr3 = layout::PML4.start;
    sregs.cr4 |= CR4_PAE;
    sregs.efer |= EFER_LME | EFER_LMA;
    sregs
}

/// General registers for the 64-bit entry at `entry`: RSI points at the
/// zero page (the protocol's one argument), a small boot stack, only the
/// reserved RFLAGS bit set (interrupts off).
pub fn long_mode_regs(entry: u64) -> kvm_regs {
    kvm_regs {
        rip: entry,
        rsp: layout::BOOT_STACK_POINTER,
        rbp: layout::BOOT_STACK_POINTER,
        rsi: layout::ZERO_PAGE.start,
        rflags: 0x2,
        ..Default::default()
    }
}

/// `sregs` changed for real mode at `cs_base` (a multiple of 16): CS
/// selector `cs_base >> 4`, all data segments 0. A new vCPU starts at the
/// reset vector (CS base 0xffff0000); tiny guests start in RAM instead.
pub fn real_mode_sregs(mut sregs: kvm_sregs, cs_base: u64) -> kvm_sregs {
    sregs.cs.base = cs_base;
    sregs.cs.selector = (cs_base >> 4) as u16;
    for seg in [
        &mut sregs.ds,
        &mut sregs.es,
        &mut sregs.fs,
        &mut sregs.gs,
        &mut sregs.ss,
    ] {
        seg.base = 0;
        seg.selector = 0;
    }
    sregs.cr0 &= !(CR0_PE | CR0_PG);
    sregs
}

/// Registers for real mode at offset `ip` into CS, interrupts off.
pub fn real_mode_regs(ip: u16) -> kvm_regs {
    kvm_regs {
        rip: u64::from(ip),
        rsp: 0xfff0,
        rflags: 0x2,
        ..Default::default()
    }
}

// --- MP table (Intel MultiProcessor Specification 1.4) ---

/// Size of the MP floating pointer; the configuration table follows it.
pub const MP_FLOATING_SIZE: usize = 16;
const MP_HEADER_SIZE: usize = 44;
const MP_PROCESSOR_SIZE: usize = 20;
const MP_OTHER_ENTRY_SIZE: usize = 8;
const MP_SPEC_REV: u8 = 4;
/// Local APIC version reported for each CPU (integrated APIC).
pub const LAPIC_VERSION: u8 = 0x14;
/// IOAPIC version (82093AA-compatible, as KVM's).
pub const IOAPIC_VERSION: u8 = 0x11;
const CPU_ENABLED: u8 = 1;
const CPU_BOOTSTRAP: u8 = 2;
/// Family 6, with FPU and APIC: only informational for Linux.
const CPU_SIGNATURE: u32 = 0x600;
const CPU_FEATURES: u32 = 0x201;
const ENTRY_PROCESSOR: u8 = 0;
const ENTRY_BUS: u8 = 1;
const ENTRY_IOAPIC: u8 = 2;
const ENTRY_IO_INTERRUPT: u8 = 3;
const ENTRY_LOCAL_INTERRUPT: u8 = 4;
const INT_TYPE_INT: u8 = 0;
const INT_TYPE_NMI: u8 = 1;
const INT_TYPE_EXTINT: u8 = 3;
const ISA_BUS_ID: u8 = 0;

/// Sum of `bytes` mod 256: a valid MP structure sums to 0.
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |a, &b| a.wrapping_add(b))
}

/// The MP floating pointer followed by the configuration table, for
/// placement at [`layout::MP_TABLE`]: one processor entry per vCPU (its
/// APIC ID from `apic_ids`, see [`CpuLayout`](super::topology::CpuLayout);
/// the first the bootstrap processor), the ISA bus, the IOAPIC,
/// ISA IRQs 0..16 routed to IOAPIC pins (IRQ 0 as ExtINT on pin 0, as a
/// PC's 8259 cascade), LINT0 ExtINT and LINT1 NMI on every CPU.
pub fn mp_table(apic_ids: &[u32]) -> Result<Vec<u8>, BootError> {
    let vcpus = apic_ids.len() as u32;
    if !(1..=layout::MAX_VCPUS).contains(&vcpus) {
        return Err(BootError::VcpuCount(vcpus));
    }
    if let Some(&id) = apic_ids
        .iter()
        .find(|&&id| id >= u32::from(layout::IOAPIC_ID))
    {
        return Err(BootError::ApicId(id));
    }
    let base = layout::MP_TABLE.start as u32;
    let mut entries = Vec::new();
    for (i, &id) in apic_ids.iter().enumerate() {
        let mut flags = CPU_ENABLED;
        if i == 0 {
            flags |= CPU_BOOTSTRAP;
        }
        entries.extend([ENTRY_PROCESSOR, id as u8, LAPIC_VERSION, flags]);
        entries.extend(CPU_SIGNATURE.to_le_bytes());
        entries.extend(CPU_FEATURES.to_le_bytes());
        entries.extend([0u8; 8]);
    }
    entries.extend([ENTRY_BUS, ISA_BUS_ID]);
    entries.extend(*b"ISA   ");
    entries.extend([ENTRY_IOAPIC, layout::IOAPIC_ID, IOAPIC_VERSION, CPU_ENABLED]);
    entries.extend((layout::IOAPIC_ADDR as u32).to_le_bytes());
    for irq in 0..16u8 {
        let kind = if irq == 0 {
            INT_TYPE_EXTINT
        } else {
            INT_TYPE_INT
        };
        // Flags 0: conforming polarity and trigger (ISA: active high, edge).
        entries.extend([
            ENTRY_IO_INTERRUPT,
            kind,
            0,
            0,
            ISA_BUS_ID,
            irq,
            layout::IOAPIC_ID,
            irq,
        ]);
    }
    for (kind, lint) in [(INT_TYPE_EXTINT, 0u8), (INT_TYPE_NMI, 1)] {
        // Destination APIC 0xff: every local APIC.
        entries.extend([ENTRY_LOCAL_INTERRUPT, kind, 0, 0, ISA_BUS_ID, 0, 0xff, lint]);
    }
    let count = vcpus as usize + 1 + 1 + 16 + 2;
    debug_assert_eq!(
        entries.len(),
        vcpus as usize * MP_PROCESSOR_SIZE + (count - vcpus as usize) * MP_OTHER_ENTRY_SIZE
    );

    let table_len = MP_HEADER_SIZE + entries.len();
    let mut header = Vec::with_capacity(table_len);
    header.extend(*b"PCMP");
    header.extend((table_len as u16).to_le_bytes());
    header.extend([MP_SPEC_REV, 0]); // checksum patched below
    header.extend(*b"SCXRAY  "); // OEM ID, 8 bytes
    header.extend(*b"SCXRAY-KVM  "); // product ID, 12 bytes
    header.extend(0u32.to_le_bytes()); // OEM table pointer
    header.extend(0u16.to_le_bytes()); // OEM table size
    header.extend((count as u16).to_le_bytes());
    header.extend((layout::LAPIC_ADDR as u32).to_le_bytes());
    header.extend(0u16.to_le_bytes()); // extended table length
    header.extend([0u8, 0]); // extended checksum, reserved
    debug_assert_eq!(header.len(), MP_HEADER_SIZE);
    header.extend(entries);
    header[7] = 0u8.wrapping_sub(checksum(&header));

    let mut floating = Vec::with_capacity(MP_FLOATING_SIZE + table_len);
    floating.extend(*b"_MP_");
    floating.extend((base + MP_FLOATING_SIZE as u32).to_le_bytes());
    floating.extend([1, MP_SPEC_REV, 0]); // length in 16-byte units, rev, checksum
    floating.extend([0u8; 5]); // feature bytes: 0 = a configuration table is present
    floating[10] = 0u8.wrapping_sub(checksum(&floating));
    floating.extend(header);
    if floating.len() as u64 > layout::MP_TABLE.size {
        return Err(BootError::MpTableTooBig {
            len: floating.len(),
            max: layout::MP_TABLE.size,
        });
    }
    Ok(floating)
}

pub fn write_mp_table(mem: &GuestMemoryMmap, apic_ids: &[u32]) -> Result<(), BootError> {
    write(
        mem,
        "MP table",
        layout::MP_TABLE.start,
        &mp_table(apic_ids)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_memory::GuestMemoryMmap;

    fn mem() -> GuestMemoryMmap {
        GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 2 << 20)]).unwrap()
    }

    #[test]
    fn zero_page_round_trips_through_guest_memory() {
        let m = mem();
        let info = BootInfo {
            ram_bytes: 512 << 20,
            cmdline_len: 42,
            initramfs: Some((0x1f00_0000, 0x80_0000)),
            acpi_rsdp: Some(layout::ACPI_TABLES.start),
        };
        let hdr = setup_header {
            version: 0x20f,
            initrd_addr_max: 0x7fff_ffff,
            ..Default::default()
        };
        write_boot_params(&m, &boot_params(hdr, &info).unwrap()).unwrap();
        let back: ZeroPage = m.read_obj(GuestAddress(layout::ZERO_PAGE.start)).unwrap();
        let h = back.0.hdr;
        assert_eq!({ h.boot_flag }, BOOT_FLAG_MAGIC);
        assert_eq!({ h.header }, HDR_MAGIC);
        assert_eq!({ h.version }, 0x20f, "the kernel's header is kept");
        assert_eq!({ h.type_of_loader }, 0xff);
        assert_eq!({ h.cmd_line_ptr }, 0x20000);
        assert_eq!({ h.cmdline_size }, 42);
        assert_eq!({ h.ramdisk_image }, 0x1f00_0000);
        assert_eq!({ h.ramdisk_size }, 0x80_0000);
        assert_eq!({ back.0.acpi_rsdp_addr }, 0xe0000);
        assert_eq!(e820_of(&back), layout::e820_map(512 << 20));
        // Field offsets the kernel reads: e820_entries at 0x1e8, hdr at 0x1f1.
        let mut raw = vec![0u8; 4096];
        m.read_slice(&mut raw, GuestAddress(layout::ZERO_PAGE.start))
            .unwrap();
        assert_eq!(raw[0x1e8], 3);
        assert_eq!(u16::from_le_bytes([raw[0x1fe], raw[0x1ff]]), 0xaa55);
        assert_eq!(&raw[0x202..0x206], b"HdrS");
        assert_eq!(
            u32::from_le_bytes(raw[0x228..0x22c].try_into().unwrap()),
            0x20000
        );
    }

    #[test]
    fn acpi_rsdp_reaches_the_zero_page_and_the_tables_are_not_ram() {
        let info = BootInfo {
            ram_bytes: 512 << 20,
            cmdline_len: 0,
            initramfs: None,
            acpi_rsdp: None,
        };
        let none = boot_params(setup_header::default(), &info).unwrap();
        assert_eq!({ none.0.acpi_rsdp_addr }, 0, "0: Linux scans for the RSDP");
        let one = crate::kvm::topology::CpuLayout::new(scxray::run::topology::Topology::flat(1));
        let rsdp = crate::kvm::acpi::tables(&one, &[(0, 1 << 20)])
            .unwrap()
            .rsdp_addr;
        let with = boot_params(
            setup_header::default(),
            &BootInfo {
                acpi_rsdp: Some(rsdp),
                ..info
            },
        )
        .unwrap();
        assert_eq!({ with.0.acpi_rsdp_addr }, 0xe0000);
        // The existing E820 map already reserves 0xe0000..0x100000 (ACPI
        // and MP tables): no RAM entry touches the ACPI region.
        let map = e820_of(&with);
        let acpi = layout::ACPI_TABLES;
        for e in &map {
            let overlaps = e.addr < acpi.end() && acpi.start < e.addr + e.size;
            if overlaps {
                assert_eq!(e.kind, layout::E820_RESERVED, "{e:?}");
                assert!(e.addr <= acpi.start && acpi.end() <= e.addr + e.size);
            }
        }
        assert!(map
            .iter()
            .any(|e| e.kind == layout::E820_RESERVED && e.addr == acpi.start));
    }

    #[test]
    fn initramfs_above_4g_is_refused() {
        let info = BootInfo {
            ram_bytes: 512 << 20,
            cmdline_len: 0,
            initramfs: Some((1 << 32, 10)),
            acpi_rsdp: None,
        };
        assert!(matches!(
            boot_params(setup_header::default(), &info),
            Err(BootError::Above4G { .. })
        ));
    }

    #[test]
    fn cmdline_is_nul_terminated_and_bounded() {
        let m = mem();
        write_cmdline(&m, "console=ttyS0 panic=-1", 2048).unwrap();
        let mut buf = [0xffu8; 23];
        m.read_slice(&mut buf, GuestAddress(layout::CMDLINE.start))
            .unwrap();
        assert_eq!(&buf, b"console=ttyS0 panic=-1\0");
        assert!(matches!(
            write_cmdline(&m, &"x".repeat(2049), 2048),
            Err(BootError::CmdlineTooLong {
                len: 2049,
                max: 2048
            })
        ));
        assert!(matches!(
            write_cmdline(&m, "a\0b", 0),
            Err(BootError::CmdlineNul { at: 1 })
        ));
    }

    #[test]
    fn page_tables_identity_map_the_first_gib() {
        let m = mem();
        write_page_tables(&m).unwrap();
        let pml4: u64 = m.read_obj(GuestAddress(layout::PML4.start)).unwrap();
        assert_eq!(pml4 & !0xfff, layout::PDPT.start);
        assert_eq!(pml4 & 3, 3);
        let pdpt: u64 = m.read_obj(GuestAddress(layout::PDPT.start)).unwrap();
        assert_eq!(pdpt & !0xfff, layout::PD.start);
        // Walk a few addresses: 2 MiB page n maps to n * 2 MiB.
        for va in [0u64, 0x10_0000, 0x7000, 0x3fff_ffff] {
            let pde: u64 = m
                .read_obj(GuestAddress(layout::PD.start + (va >> 21) * 8))
                .unwrap();
            assert_eq!(pde & 0x83, 0x83, "present, writable, 2 MiB");
            assert_eq!((pde & !0x1f_ffff) | (va & 0x1f_ffff), va);
        }
        let last: u64 = m
            .read_obj(GuestAddress(layout::PD.start + 511 * 8))
            .unwrap();
        assert_eq!(last & !0xfff, 511 << 21);
    }

    #[test]
    fn gdt_segments_decode_to_flat_long_mode() {
        let m = mem();
        write_gdt_idt(&m).unwrap();
        let code: u64 = m.read_obj(GuestAddress(layout::GDT.start + 8)).unwrap();
        assert_eq!(code, 0x00af_9b00_0000_ffff);
        let cs = segment_of(code, 1);
        assert_eq!(
            (cs.selector, cs.l, cs.db, cs.g, cs.present, cs.type_),
            (8, 1, 0, 1, 1, 0xb)
        );
        assert_eq!((cs.base, cs.limit), (0, 0xffff_ffff));
        let ds = segment_of(GDT_ENTRIES[2], 2);
        assert_eq!(
            (ds.selector, ds.l, ds.db, ds.type_, ds.s),
            (0x10, 0, 1, 3, 1)
        );
        let tr = segment_of(GDT_ENTRIES[3], 3);
        assert_eq!((tr.selector, tr.s, tr.type_), (0x18, 0, 0xb));
        assert_eq!(segment_of(0, 0).unusable, 1);
    }

    #[test]
    fn long_mode_registers() {
        let s = long_mode_sregs(kvm_sregs::default());
        assert_eq!(s.cr3, layout::PML4.start);
        assert_eq!(s.cr0 & (CR0_PE | CR0_PG), CR0_PE | CR0_PG);
        assert_ne!(s.cr4 & CR4_PAE, 0);
        assert_eq!(s.efer & (EFER_LME | EFER_LMA), EFER_LME | EFER_LMA);
        assert_eq!((s.gdt.base, s.gdt.limit), (0x500, 31));
        assert_eq!((s.idt.base, s.idt.limit), (0x520, 7));
        assert_eq!(s.cs.selector, 8);
        assert_eq!(s.ss.selector, 0x10);
        let r = long_mode_regs(0x100200);
        assert_eq!(
            (r.rip, r.rsi, r.rsp, r.rflags),
            (0x100200, 0x7000, 0x8ff0, 2)
        );
    }

    #[test]
    fn real_mode_registers() {
        let mut reset = kvm_sregs::default();
        reset.cs.base = 0xffff_0000;
        reset.cs.selector = 0xf000;
        reset.cr0 = 0x6000_0010;
        let s = real_mode_sregs(reset, 0x1000);
        assert_eq!((s.cs.base, s.cs.selector), (0x1000, 0x100));
        assert_eq!(s.cr0 & CR0_PE, 0);
        assert_eq!(real_mode_regs(0x10).rip, 0x10);
    }

    /// Parses an MP table back: (floating pointer, config table, entries by type).
    fn parse(bytes: &[u8]) -> (&[u8], &[u8], Vec<Vec<u8>>) {
        let fp = &bytes[..16];
        let table_len = u16::from_le_bytes([bytes[20], bytes[21]]) as usize;
        let table = &bytes[16..16 + table_len];
        let mut at = MP_HEADER_SIZE;
        let mut entries = Vec::new();
        while at < table.len() {
            let len = if table[at] == ENTRY_PROCESSOR { 20 } else { 8 };
            entries.push(table[at..at + len].to_vec());
            at += len;
        }
        (fp, table, entries)
    }

    #[test]
    fn mp_table_checksums_and_entries() {
        let m = mem();
        write_mp_table(&m, &[0, 1, 2, 4]).unwrap();
        let mut bytes = vec![0u8; 1024];
        m.read_slice(&mut bytes, GuestAddress(layout::MP_TABLE.start))
            .unwrap();
        let (fp, table, entries) = parse(&bytes);
        assert_eq!(&fp[..4], b"_MP_");
        assert_eq!(checksum(fp), 0);
        assert_eq!(u32::from_le_bytes(fp[4..8].try_into().unwrap()), 0xf0010);
        assert_eq!(&table[..4], b"PCMP");
        assert_eq!(checksum(table), 0);
        assert_eq!(
            u16::from_le_bytes([table[34], table[35]]) as usize,
            entries.len()
        );
        assert_eq!(
            u32::from_le_bytes(table[36..40].try_into().unwrap()),
            0xfee0_0000
        );
        let cpus: Vec<_> = entries.iter().filter(|e| e[0] == ENTRY_PROCESSOR).collect();
        assert_eq!(cpus.len(), 4);
        for (i, cpu) in cpus.iter().enumerate() {
            assert_eq!(cpu[1], [0, 1, 2, 4][i], "the APIC IDs given");
            assert_eq!(
                cpu[3] & CPU_BOOTSTRAP != 0,
                i == 0,
                "only vCPU 0 is the BSP"
            );
        }
        let ioapic = entries.iter().find(|e| e[0] == ENTRY_IOAPIC).unwrap();
        assert_eq!(ioapic[1], layout::IOAPIC_ID);
        assert_eq!(
            u32::from_le_bytes(ioapic[4..8].try_into().unwrap()),
            0xfec0_0000
        );
        assert!(entries
            .iter()
            .any(|e| e[0] == ENTRY_BUS && &e[2..8] == b"ISA   "));
        let irqs: Vec<_> = entries
            .iter()
            .filter(|e| e[0] == ENTRY_IO_INTERRUPT)
            .collect();
        assert_eq!(irqs.len(), 16);
        // The UARTs' IRQs reach IOAPIC pins of the same number.
        for irq in [layout::COM1_IRQ as u8, layout::COM2_IRQ as u8] {
            assert!(irqs
                .iter()
                .any(|e| e[5] == irq && e[7] == irq && e[1] == INT_TYPE_INT));
        }
        assert_eq!(
            entries
                .iter()
                .filter(|e| e[0] == ENTRY_LOCAL_INTERRUPT)
                .count(),
            2
        );
    }

    #[test]
    fn mp_table_fits_the_most_vcpus_and_refuses_bad_counts() {
        let ids = |n: u32| (0..n).collect::<Vec<u32>>();
        let max = mp_table(&ids(layout::MAX_VCPUS)).unwrap();
        assert!(max.len() as u64 <= layout::MP_TABLE.size);
        let (fp, table, entries) = parse(&max);
        assert_eq!((checksum(fp), checksum(table)), (0, 0));
        assert_eq!(entries.iter().filter(|e| e[0] == 0).count(), 254);
        assert!(matches!(mp_table(&[]), Err(BootError::VcpuCount(0))));
        assert!(matches!(
            mp_table(&ids(255)),
            Err(BootError::VcpuCount(255))
        ));
        assert!(matches!(mp_table(&[0, 254]), Err(BootError::ApicId(254))));
    }
}
