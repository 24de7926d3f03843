//! Hand-built ACPI tables for a hardware-reduced ACPI platform, placed in
//! [`layout::ACPI_TABLES`]: RSDP (revision 2) at the region's start, then
//! XSDT, FADT (revision 6), DSDT and MADT, and with more than one NUMA node
//! SRAT and SLIT, each 16-aligned.
//!
//! What they tell Linux, beyond the MP table: the vCPUs and the IOAPIC
//! (MADT), which node each CPU and each stretch of RAM is in (SRAT) and
//! how far the nodes are from each other (SLIT), and how to power off (FADT sleep registers at
//! [`layout::ACPI_SLEEP_CONTROL_PORT`], the DSDT's `\_S5_` naming
//! [`power::SLP_TYP_S5`]; the UARTs, see [`aml`]). HW_REDUCED_ACPI because there are no PM1 event,
//! control or timer blocks, no GPEs and no SCI to emulate.
//!
//! One node gets no SRAT: Linux assumes one node without it.
//! No FACS: optional when hardware-reduced (no global lock, no waking
//! vector). No reset register: reboot goes through the i8042
//! ([`layout::I8042_COMMAND_PORT`]), which Linux tries after ACPI reset.
//!
//! [`tables`] builds bytes and addresses without guest memory, so every
//! field is tested here; [`write_tables`] copies them into the guest.

use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use super::boot::checksum;
use super::topology::{split_ram, CpuLayout, NodeRange};
use super::{aml, layout};

/// Why the ACPI tables could not be built or written.
#[derive(Debug, thiserror::Error)]
pub enum AcpiError {
    #[error("{0} vCPUs: the MADT takes 1..={max}", max = layout::MAX_VCPUS)]
    VcpuCount(u32),
    #[error("ACPI tables need {len} bytes; the area at {start:#x} holds {max}")]
    TooBig { len: u64, start: u64, max: u64 },
    #[error("writing the ACPI {what} at {addr:#x} into guest RAM: {source}")]
    Write {
        what: String,
        addr: u64,
        source: vm_memory::GuestMemoryError,
    },
}

/// The OEM ID every table carries.
pub const OEM_ID: [u8; 6] = *b"SCXRAY";
/// FADT `HYPERVISOR_VENDOR_IDENTITY`.
pub const HYPERVISOR_VENDOR_ID: [u8; 8] = *b"SCXRAY  ";
const OEM_REVISION: u32 = 1;
const CREATOR_ID: [u8; 4] = *b"SCXR";
const CREATOR_REVISION: u32 = 1;

/// Size of the common table header (signature .. creator revision).
pub const HEADER_LEN: usize = 36;
/// Size of a revision-2 RSDP.
pub const RSDP_LEN: usize = 36;
/// Size of a revision-6 FADT (through HYPERVISOR_VENDOR_IDENTITY).
pub const FADT_LEN: usize = 276;
/// Tables start on 16-byte boundaries (the RSDP must be; the rest for
/// tidiness).
const ALIGN: u64 = 16;

// --- FADT (ACPI 6.5, 5.2.9) ---

/// FADT flags: no fixed power or sleep button (HW-reduced has none), and
/// HW_REDUCED_ACPI.
pub const FADT_PWR_BUTTON: u32 = 1 << 4;
pub const FADT_SLP_BUTTON: u32 = 1 << 5;
pub const FADT_HW_REDUCED_ACPI: u32 = 1 << 20;
/// IAPC_BOOT_ARCH bits. LEGACY_DEVICES (0) and 8042 (1) are not claimed:
/// the VMM's i8042 only answers the reset command, and claiming it would
/// make Linux probe a keyboard controller that is not there.
pub const IAPC_8042: u16 = 1 << 1;
pub const IAPC_VGA_NOT_PRESENT: u16 = 1 << 2;
pub const IAPC_MSI_NOT_PRESENT: u16 = 1 << 3;
/// No CMOS RTC at 0x70/0x71 (those ports float): keeps Linux from
/// registering an RTC that reads all ones; wall time comes from kvmclock.
pub const IAPC_CMOS_RTC_NOT_PRESENT: u16 = 1 << 5;
const FADT_MAJOR: u8 = 6;
/// ACPI 6.5.
const FADT_MINOR: u8 = 5;
// Field offsets used more than once (builder and tests).
pub const FADT_IAPC_BOOT_ARCH: usize = 109;
pub const FADT_FLAGS: usize = 112;
pub const FADT_MINOR_VERSION: usize = 131;
pub const FADT_DSDT: usize = 40;
pub const FADT_X_DSDT: usize = 140;
pub const FADT_SLEEP_CONTROL_REG: usize = 244;
pub const FADT_SLEEP_STATUS_REG: usize = 256;
pub const FADT_HYPERVISOR_VENDOR_ID: usize = 268;

/// Generic Address Structure address space: system I/O.
pub const GAS_SYSTEM_IO: u8 = 1;
/// GAS access size: byte.
const GAS_ACCESS_BYTE: u8 = 1;

/// A 12-byte Generic Address Structure for a one-byte I/O port register.
pub fn gas_io_byte(port: u16) -> [u8; 12] {
    let mut g = [0u8; 12];
    g[0] = GAS_SYSTEM_IO;
    g[1] = 8; // register bit width
    g[2] = 0; // bit offset
    g[3] = GAS_ACCESS_BYTE;
    g[4..12].copy_from_slice(&u64::from(port).to_le_bytes());
    g
}

// --- MADT (ACPI 6.5, 5.2.12) ---

/// MADT revision 5 (ACPI 6.3+).
const MADT_REVISION: u8 = 5;
/// MADT flags: PCAT_COMPAT, the dual 8259 KVM's in-kernel irqchip has.
pub const MADT_PCAT_COMPAT: u32 = 1;
pub const MADT_LOCAL_APIC: u8 = 0;
pub const MADT_IO_APIC: u8 = 1;
pub const MADT_INT_SRC_OVERRIDE: u8 = 2;
pub const MADT_LOCAL_APIC_NMI: u8 = 4;
const LOCAL_APIC_ENABLED: u32 = 1;
/// Processor UID meaning "all processors" in a Local APIC NMI entry.
const ALL_PROCESSORS: u8 = 0xff;
/// The local APIC input NMI is wired to.
const NMI_LINT: u8 = 1;

const SRAT_REVISION: u8 = 3;
/// SRAT structure types: processor local APIC affinity, memory affinity.
pub const SRAT_CPU_APIC: u8 = 0;
pub const SRAT_MEMORY: u8 = 1;
const SRAT_ENABLED: u32 = 1;
const SLIT_REVISION: u8 = 1;
pub const LOCAL_DISTANCE: u8 = 10;
pub const REMOTE_DISTANCE: u8 = 20;

// --- DSDT ---

const DSDT_REVISION: u8 = 2; // 64-bit AML integers

// --- tables ---

/// One table as placed in guest memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// "RSD PTR " for the RSDP, the 4-byte signature otherwise.
    pub signature: &'static str,
    pub addr: u64,
    pub bytes: Vec<u8>,
}

/// All tables, RSDP first, with their addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcpiTables {
    /// Where the RSDP is: `boot_params.acpi_rsdp_addr`.
    pub rsdp_addr: u64,
    pub tables: Vec<Table>,
}

impl AcpiTables {
    /// The table with `signature`, if built.
    pub fn get(&self, signature: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.signature == signature)
    }

    /// Bytes from the region's start to the end of the last table.
    pub fn span(&self) -> u64 {
        self.tables
            .iter()
            .map(|t| t.addr + t.bytes.len() as u64)
            .max()
            .unwrap_or(self.rsdp_addr)
            - layout::ACPI_TABLES.start
    }
}

/// A table: the common header for `signature` followed by `body`, length
/// and checksum filled in.
fn sdt(signature: &[u8; 4], revision: u8, table_id: &[u8; 8], body: &[u8]) -> Vec<u8> {
    let len = HEADER_LEN + body.len();
    let mut t = Vec::with_capacity(len);
    t.extend(signature);
    t.extend((len as u32).to_le_bytes());
    t.extend([revision, 0]); // checksum patched below
    t.extend(OEM_ID);
    t.extend(table_id);
    t.extend(OEM_REVISION.to_le_bytes());
    t.extend(CREATOR_ID);
    t.extend(CREATOR_REVISION.to_le_bytes());
    debug_assert_eq!(t.len(), HEADER_LEN);
    t.extend(body);
    t[9] = 0u8.wrapping_sub(checksum(&t));
    t
}

fn rsdp(xsdt_addr: u64) -> Vec<u8> {
    let mut r = Vec::with_capacity(RSDP_LEN);
    r.extend(b"RSD PTR ");
    r.push(0); // checksum of the first 20 bytes, patched below
    r.extend(OEM_ID);
    r.push(2); // revision: ACPI 2.0+, XSDT
    r.extend(0u32.to_le_bytes()); // no RSDT
    r.extend((RSDP_LEN as u32).to_le_bytes());
    r.extend(xsdt_addr.to_le_bytes());
    r.extend([0u8; 4]); // extended checksum, reserved
    debug_assert_eq!(r.len(), RSDP_LEN);
    r[8] = 0u8.wrapping_sub(checksum(&r[..20]));
    r[32] = 0u8.wrapping_sub(checksum(&r));
    r
}

fn xsdt(entries: &[u64]) -> Vec<u8> {
    let body: Vec<u8> = entries.iter().flat_map(|a| a.to_le_bytes()).collect();
    sdt(b"XSDT", 1, b"SCXRXSDT", &body)
}

fn fadt(dsdt_addr: u64) -> Vec<u8> {
    let mut body = vec![0u8; FADT_LEN - HEADER_LEN];
    let mut put = |at: usize, bytes: &[u8]| {
        body[at - HEADER_LEN..at - HEADER_LEN + bytes.len()].copy_from_slice(bytes)
    };
    // FIRMWARE_CTRL, DSDT (32-bit: must be 0 when X_DSDT is set), SCI_INT
    // and the PM blocks stay 0: ignored when hardware-reduced.
    let iapc = IAPC_VGA_NOT_PRESENT | IAPC_MSI_NOT_PRESENT | IAPC_CMOS_RTC_NOT_PRESENT;
    put(FADT_IAPC_BOOT_ARCH, &iapc.to_le_bytes());
    let flags = FADT_HW_REDUCED_ACPI | FADT_PWR_BUTTON | FADT_SLP_BUTTON;
    put(FADT_FLAGS, &flags.to_le_bytes());
    put(FADT_MINOR_VERSION, &[FADT_MINOR]);
    put(FADT_X_DSDT, &dsdt_addr.to_le_bytes());
    put(
        FADT_SLEEP_CONTROL_REG,
        &gas_io_byte(layout::ACPI_SLEEP_CONTROL_PORT),
    );
    put(
        FADT_SLEEP_STATUS_REG,
        &gas_io_byte(layout::ACPI_SLEEP_STATUS_PORT),
    );
    put(FADT_HYPERVISOR_VENDOR_ID, &HYPERVISOR_VENDOR_ID);
    sdt(b"FACP", FADT_MAJOR, b"SCXRFACP", &body)
}

fn dsdt() -> Vec<u8> {
    sdt(b"DSDT", DSDT_REVISION, b"SCXRDSDT", &aml::dsdt_aml())
}

/// The MADT: a local APIC per vCPU (the APIC IDs the MP table and CPUID
/// say; processor UID = vCPU index), the IOAPIC with GSIs from 0, and NMI
/// on LINT1 of every processor.
///
/// No interrupt source override for ISA IRQ 0: QEMU's 0 → GSI 2 matches
/// its own KVM GSI routing, but this VMM keeps KVM's default routing, in
/// which the PIT's GSI 0 reaches IOAPIC pin 0 (and ISA IRQ n pin n, as the
/// MP table says); identity is what Linux assumes without overrides.
/// Firecracker lists none either.
fn madt(apic_ids: &[u32]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend((layout::LAPIC_ADDR as u32).to_le_bytes());
    body.extend(MADT_PCAT_COMPAT.to_le_bytes());
    for (uid, &id) in apic_ids.iter().enumerate() {
        body.extend([MADT_LOCAL_APIC, 8, uid as u8, id as u8]);
        body.extend(LOCAL_APIC_ENABLED.to_le_bytes());
    }
    body.extend([MADT_IO_APIC, 12, layout::IOAPIC_ID, 0]);
    body.extend((layout::IOAPIC_ADDR as u32).to_le_bytes());
    let gsi_base = 0u32;
    body.extend(gsi_base.to_le_bytes());
    // Flags 0: conforming polarity and trigger.
    body.extend([MADT_LOCAL_APIC_NMI, 6, ALL_PROCESSORS, 0, 0, NMI_LINT]);
    sdt(b"APIC", MADT_REVISION, b"SCXRAPIC", &body)
}

/// The SRAT: each vCPU's APIC ID in its node's proximity domain, and the
/// node of each stretch of guest RAM (`ram`, see [`split_ram`]).
fn srat(layout: &CpuLayout, ram: &[NodeRange]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend(1u32.to_le_bytes()); // reserved, 1 for compatibility
    body.extend(0u64.to_le_bytes());
    for (cpu, id) in layout.apic_ids().into_iter().enumerate() {
        let domain = layout.topology.place(cpu as u32).node;
        body.extend([SRAT_CPU_APIC, 16, domain as u8, id as u8]);
        body.extend(SRAT_ENABLED.to_le_bytes());
        body.push(0); // local SAPIC EID
        body.extend(&domain.to_le_bytes()[1..]); // proximity domain 8..31
        body.extend(0u32.to_le_bytes()); // clock domain
    }
    for r in ram {
        body.extend([SRAT_MEMORY, 40]);
        body.extend(r.node.to_le_bytes());
        body.extend(0u16.to_le_bytes());
        body.extend(r.gpa.to_le_bytes());
        body.extend(r.len.to_le_bytes());
        body.extend(0u32.to_le_bytes());
        body.extend(SRAT_ENABLED.to_le_bytes());
        body.extend(0u64.to_le_bytes());
    }
    sdt(b"SRAT", SRAT_REVISION, b"SCXRSRAT", &body)
}

/// The SLIT: distance 10 within a node, 20 between nodes (Linux's defaults
/// without one; said outright so the guest sees what was meant).
fn slit(nodes: u32) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend(u64::from(nodes).to_le_bytes());
    for i in 0..nodes {
        for j in 0..nodes {
            body.push(if i == j {
                LOCAL_DISTANCE
            } else {
                REMOTE_DISTANCE
            });
        }
    }
    sdt(b"SLIT", SLIT_REVISION, b"SCXRSLIT", &body)
}

/// Addresses for tables of `lens` bytes placed one after the other from
/// `start`, each [`ALIGN`]ed; `TooBig` when they run past `start + max`.
fn place(lens: &[usize], start: u64, max: u64) -> Result<Vec<u64>, AcpiError> {
    let mut at = start;
    let mut addrs = Vec::with_capacity(lens.len());
    for &len in lens {
        at = at.next_multiple_of(ALIGN);
        addrs.push(at);
        at += len as u64;
    }
    if at - start > max {
        return Err(AcpiError::TooBig {
            len: at - start,
            start,
            max,
        });
    }
    Ok(addrs)
}

/// The tables for the CPUs of `layout` and the guest RAM ranges `ram`
/// (address order), with the addresses they go to in
/// [`layout::ACPI_TABLES`]. With more than one NUMA node the XSDT also
/// lists an SRAT and a SLIT.
pub fn tables(cpus: &CpuLayout, ram: &[(u64, u64)]) -> Result<AcpiTables, AcpiError> {
    let vcpus = cpus.topology.cpus();
    if !(1..=layout::MAX_VCPUS).contains(&vcpus) {
        return Err(AcpiError::VcpuCount(vcpus));
    }
    let apic_ids = cpus.apic_ids();
    let mut rest: Vec<(&'static str, Vec<u8>)> = vec![("DSDT", dsdt()), ("APIC", madt(&apic_ids))];
    let nodes = cpus.topology.numa_nodes;
    if nodes > 1 {
        rest.push(("SRAT", srat(cpus, &split_ram(ram, nodes))));
        rest.push(("SLIT", slit(nodes)));
    }
    // The XSDT lists the FADT and every table after the DSDT (the FADT
    // points at that one): as many as `rest` holds.
    let xsdt_len = HEADER_LEN + rest.len() * 8;
    let mut lens = vec![RSDP_LEN, xsdt_len, FADT_LEN];
    lens.extend(rest.iter().map(|(_, b)| b.len()));
    let region = layout::ACPI_TABLES;
    let addrs = place(&lens, region.start, region.size)?;
    let (rsdp_at, xsdt_at, fadt_at) = (addrs[0], addrs[1], addrs[2]);
    let dsdt_at = addrs[3];
    let mut xsdt_entries = vec![fadt_at];
    xsdt_entries.extend(&addrs[4..]);
    let mut tables = vec![
        Table {
            signature: "RSD PTR ",
            addr: rsdp_at,
            bytes: rsdp(xsdt_at),
        },
        Table {
            signature: "XSDT",
            addr: xsdt_at,
            bytes: xsdt(&xsdt_entries),
        },
        Table {
            signature: "FACP",
            addr: fadt_at,
            bytes: fadt(dsdt_at),
        },
    ];
    for ((signature, bytes), &addr) in rest.into_iter().zip(&addrs[3..]) {
        tables.push(Table {
            signature,
            addr,
            bytes,
        });
    }
    for (t, len) in tables.iter().zip(lens) {
        debug_assert_eq!(t.bytes.len(), len, "{}", t.signature);
    }
    Ok(AcpiTables {
        rsdp_addr: rsdp_at,
        tables,
    })
}

/// Writes the tables for `cpus` and `ram` into guest memory; returns the
/// RSDP's address for `boot_params.acpi_rsdp_addr`.
pub fn write_tables(
    mem: &GuestMemoryMmap,
    cpus: &CpuLayout,
    ram: &[(u64, u64)],
) -> Result<u64, AcpiError> {
    let built = tables(cpus, ram)?;
    for t in &built.tables {
        mem.write_slice(&t.bytes, GuestAddress(t.addr))
            .map_err(|source| AcpiError::Write {
                what: t.signature.trim_end().to_string(),
                addr: t.addr,
                source,
            })?;
    }
    Ok(built.rsdp_addr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kvm::power;
    use scxray::run::topology::Topology;

    /// Base memory and 1 MiB..512 MiB, as a 512 MiB guest's E820 says.
    const RAM: &[(u64, u64)] = &[(0, 0x9fc00), (1 << 20, 511 << 20)];

    fn flat(cpus: u32) -> CpuLayout {
        CpuLayout::new(Topology::flat(cpus))
    }

    fn u16_at(b: &[u8], at: usize) -> u16 {
        u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
    }
    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }
    fn u64_at(b: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
    }

    /// MADT entries as (type, bytes), walking their length bytes.
    fn madt_entries(madt: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut at = HEADER_LEN + 8;
        let mut out = Vec::new();
        while at < madt.len() {
            let len = madt[at + 1] as usize;
            assert!(len >= 2, "entry at {at} has length {len}");
            out.push((madt[at], madt[at..at + len].to_vec()));
            at += len;
        }
        assert_eq!(at, madt.len(), "entries end at the table's end");
        out
    }

    #[test]
    fn rsdp_is_at_the_region_start_and_points_at_the_xsdt() {
        let t = tables(&flat(2), RAM).unwrap();
        assert_eq!(t.rsdp_addr, layout::ACPI_TABLES.start);
        assert_eq!(t.rsdp_addr % 16, 0, "Linux scans 16-byte boundaries");
        let r = &t.get("RSD PTR ").unwrap().bytes;
        assert_eq!(&r[..8], b"RSD PTR ");
        assert_eq!(checksum(&r[..20]), 0, "ACPI 1.0 checksum");
        assert_eq!(checksum(r), 0, "extended checksum");
        assert_eq!(&r[9..15], b"SCXRAY");
        assert_eq!(r[15], 2, "revision 2: XSDT");
        assert_eq!(u32_at(r, 16), 0, "no RSDT");
        assert_eq!(u32_at(r, 20), 36);
        assert_eq!(u64_at(r, 24), t.get("XSDT").unwrap().addr);
    }

    #[test]
    fn every_table_has_a_valid_header() {
        let t = tables(&flat(4), RAM).unwrap();
        assert_eq!(t.tables.len(), 5);
        for table in &t.tables[1..] {
            let b = &table.bytes;
            assert_eq!(&b[..4], table.signature.as_bytes());
            assert_eq!(u32_at(b, 4) as usize, b.len(), "{}", table.signature);
            assert_eq!(checksum(b), 0, "{}", table.signature);
            assert_eq!(&b[10..16], b"SCXRAY");
            assert_eq!(table.addr % ALIGN, 0);
        }
    }

    #[test]
    fn tables_are_disjoint_and_inside_the_region() {
        for vcpus in [1, 2, 64, layout::MAX_VCPUS] {
            let t = tables(&flat(vcpus), RAM).unwrap();
            let mut spans: Vec<_> = t
                .tables
                .iter()
                .map(|t| (t.addr, t.addr + t.bytes.len() as u64))
                .collect();
            spans.sort();
            for w in spans.windows(2) {
                assert!(w[0].1 <= w[1].0, "{w:?}");
            }
            for (start, end) in spans {
                assert!(layout::ACPI_TABLES.contains(start));
                assert!(end <= layout::ACPI_TABLES.end());
            }
            assert!(t.span() <= layout::ACPI_TABLES.size);
        }
    }

    #[test]
    fn xsdt_lists_fadt_and_madt() {
        let t = tables(&flat(1), RAM).unwrap();
        let x = &t.get("XSDT").unwrap().bytes;
        assert_eq!(x.len(), HEADER_LEN + 16);
        let listed = [u64_at(x, 36), u64_at(x, 44)];
        assert_eq!(
            listed,
            [t.get("FACP").unwrap().addr, t.get("APIC").unwrap().addr]
        );
        // The DSDT is reached through the FADT, not listed.
        assert!(!listed.contains(&t.get("DSDT").unwrap().addr));
    }

    /// Two nodes: the XSDT lists SRAT and SLIT too; each CPU's APIC ID is
    /// in its node's domain, RAM is split between the nodes, distances are
    /// 10 and 20.
    #[test]
    fn two_nodes_get_an_srat_and_a_slit() {
        let cpus = CpuLayout::new("2n2l1c2t".parse().unwrap());
        assert!(tables(&flat(2), RAM).unwrap().get("SRAT").is_none());
        let t = tables(&cpus, RAM).unwrap();
        let x = &t.get("XSDT").unwrap().bytes;
        let listed: Vec<u64> = (0..4).map(|i| u64_at(x, 36 + 8 * i)).collect();
        assert_eq!(x.len(), HEADER_LEN + 32);
        for sig in ["FACP", "APIC", "SRAT", "SLIT"] {
            let table = t.get(sig).unwrap();
            assert!(listed.contains(&table.addr), "{sig}");
            assert_eq!(checksum(&table.bytes), 0, "{sig}");
        }
        let srat = &t.get("SRAT").unwrap().bytes;
        assert_eq!(u32_at(srat, 4) as usize, srat.len());
        let mut at = HEADER_LEN + 12;
        let (mut cpus_seen, mut mem) = (Vec::new(), Vec::new());
        while at < srat.len() {
            let (kind, len) = (srat[at], srat[at + 1] as usize);
            match kind {
                SRAT_CPU_APIC => {
                    assert_eq!(len, 16);
                    assert_eq!(u32_at(srat, at + 4), 1, "enabled");
                    cpus_seen.push((srat[at + 3], srat[at + 2]));
                }
                SRAT_MEMORY => {
                    assert_eq!(len, 40);
                    assert_eq!(u32_at(srat, at + 28), 1, "enabled");
                    mem.push((
                        u32_at(srat, at + 2),
                        u64_at(srat, at + 8),
                        u64_at(srat, at + 16),
                    ));
                }
                k => panic!("SRAT structure type {k}"),
            }
            at += len;
        }
        // APIC IDs: thread bit, no core bits, no LLC bits (1 per node),
        // then the node at bit 1.
        assert_eq!(cpus_seen, [(0, 0), (1, 0), (2, 1), (3, 1)]);
        let per_node = |n| -> u64 { mem.iter().filter(|m| m.0 == n).map(|m| m.2).sum() };
        let total: u64 = RAM.iter().map(|r| r.1).sum();
        assert_eq!(per_node(0) + per_node(1), total);
        assert!(per_node(0).abs_diff(per_node(1)) <= 4 << 20);
        let slit = &t.get("SLIT").unwrap().bytes;
        assert_eq!(u64_at(slit, HEADER_LEN), 2);
        assert_eq!(&slit[HEADER_LEN + 8..], &[10, 20, 20, 10]);
        let madt = &t.get("APIC").unwrap().bytes;
        let ids: Vec<u8> = madt_entries(madt)
            .into_iter()
            .filter(|(k, _)| *k == MADT_LOCAL_APIC)
            .map(|(_, e)| e[3])
            .collect();
        assert_eq!(ids, [0, 1, 2, 3]);
    }

    #[test]
    fn fadt_is_hardware_reduced_with_sleep_registers() {
        let t = tables(&flat(1), RAM).unwrap();
        let f = &t.get("FACP").unwrap().bytes;
        assert_eq!(f.len(), 276);
        assert_eq!(f[8], 6, "FADT major version");
        assert_eq!(f[FADT_MINOR_VERSION], 5);
        let flags = u32_at(f, FADT_FLAGS);
        assert_ne!(flags & (1 << 20), 0, "HW_REDUCED_ACPI");
        assert_eq!(
            u32_at(f, FADT_DSDT),
            0,
            "32-bit DSDT is 0 when X_DSDT is set"
        );
        assert_eq!(u64_at(f, FADT_X_DSDT), t.get("DSDT").unwrap().addr);
        let iapc = u16_at(f, FADT_IAPC_BOOT_ARCH);
        assert_ne!(iapc & IAPC_VGA_NOT_PRESENT, 0);
        assert_ne!(iapc & IAPC_MSI_NOT_PRESENT, 0);
        assert_eq!(iapc & IAPC_8042, 0, "8042 presence not claimed");
        assert_eq!(iapc & 1, 0, "legacy devices not claimed");
        for (at, port) in [
            (FADT_SLEEP_CONTROL_REG, 0x3c0u64),
            (FADT_SLEEP_STATUS_REG, 0x3c1),
        ] {
            let gas = &f[at..at + 12];
            assert_eq!(gas[0], GAS_SYSTEM_IO);
            assert_eq!((gas[1], gas[2], gas[3]), (8, 0, 1), "one byte");
            assert_eq!(u64_at(gas, 4), port);
        }
        assert_eq!(
            &f[FADT_HYPERVISOR_VENDOR_ID..FADT_HYPERVISOR_VENDOR_ID + 8],
            b"SCXRAY  "
        );
        // SCI, SMI command, PM1 and GPE blocks, reset register: all unused.
        assert!(f[46..56].iter().all(|&b| b == 0));
        assert!(f[56..96].iter().all(|&b| b == 0));
        assert!(f[116..129].iter().all(|&b| b == 0));
        assert!(f[148..244].iter().all(|&b| b == 0));
    }

    #[test]
    fn dsdt_names_s5_with_the_power_devices_sleep_type() {
        let t = tables(&flat(1), RAM).unwrap();
        let d = &t.get("DSDT").unwrap().bytes;
        assert_eq!(d[8], 2, "revision 2: 64-bit integers");
        let aml = &d[HEADER_LEN..];
        assert_eq!(aml, aml::dsdt_aml(), "the AML, whole ({})", aml.len());
        // `Name (\_S5_, Package (4) { BytePrefix SLP_TYP_S5, ...`.
        assert_eq!(&aml[..9], b"\x08\\_S5_\x12\x07\x04");
        assert_eq!(&aml[9..11], [0x0a, power::SLP_TYP_S5]);
        // The value the device decodes as power-off is what Linux writes
        // for the type the DSDT names.
        assert_eq!(
            power::decode_control(power::control_value(aml[10])),
            power::SleepControl::PowerOff
        );
    }

    #[test]
    fn madt_lists_every_vcpu_the_ioapic_and_nmi() {
        let t = tables(&flat(3), RAM).unwrap();
        let m = &t.get("APIC").unwrap().bytes;
        assert_eq!(u32_at(m, 36), 0xfee0_0000);
        assert_eq!(u32_at(m, 40), MADT_PCAT_COMPAT);
        let entries = madt_entries(m);
        let cpus: Vec<_> = entries
            .iter()
            .filter(|(k, _)| *k == MADT_LOCAL_APIC)
            .collect();
        assert_eq!(cpus.len(), 3);
        for (i, (_, e)) in cpus.iter().enumerate() {
            assert_eq!(e.len(), 8);
            assert_eq!((e[2] as usize, e[3] as usize), (i, i), "UID and APIC ID");
            assert_eq!(u32_at(e, 4) & 1, 1, "enabled");
        }
        let ioapics: Vec<_> = entries.iter().filter(|(k, _)| *k == MADT_IO_APIC).collect();
        assert_eq!(ioapics.len(), 1);
        let io = &ioapics[0].1;
        assert_eq!(io.len(), 12);
        assert_eq!(io[2], layout::IOAPIC_ID);
        assert_eq!(u32_at(io, 4), 0xfec0_0000);
        assert_eq!(u32_at(io, 8), 0, "GSI base");
        let nmi: Vec<_> = entries
            .iter()
            .filter(|(k, _)| *k == MADT_LOCAL_APIC_NMI)
            .collect();
        assert_eq!(nmi.len(), 1);
        assert_eq!(nmi[0].1, [4, 6, 0xff, 0, 0, 1], "all processors, LINT1");
        // KVM's default routing is identity: no overrides.
        assert!(!entries.iter().any(|(k, _)| *k == MADT_INT_SRC_OVERRIDE));
    }

    #[test]
    fn most_vcpus_fit_and_bad_counts_are_refused() {
        let t = tables(&flat(layout::MAX_VCPUS), RAM).unwrap();
        let m = &t.get("APIC").unwrap().bytes;
        let ids: Vec<u8> = madt_entries(m)
            .iter()
            .filter(|(k, _)| *k == MADT_LOCAL_APIC)
            .map(|(_, e)| e[3])
            .collect();
        assert_eq!(ids, (0..=253).collect::<Vec<u8>>());
        assert!(!ids.contains(&layout::IOAPIC_ID));
        assert!(matches!(
            tables(&flat(0), RAM),
            Err(AcpiError::VcpuCount(0))
        ));
        assert!(matches!(
            tables(&flat(255), RAM),
            Err(AcpiError::VcpuCount(255))
        ));
    }

    #[test]
    fn placement_refuses_tables_past_the_region() {
        assert_eq!(
            place(&[36, 52, 3], 0x1000, 0x100).unwrap(),
            [0x1000, 0x1030, 0x1070]
        );
        let err = place(&[36, 300], 0x1000, 0x100).unwrap_err();
        assert!(
            matches!(
                err,
                AcpiError::TooBig {
                    len: 348,
                    start: 0x1000,
                    max: 0x100
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("348"), "{err}");
    }

    #[test]
    fn written_tables_read_back_from_guest_memory() {
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 2 << 20)]).unwrap();
        let rsdp = write_tables(&mem, &flat(2), RAM).unwrap();
        assert_eq!(rsdp, 0xe0000);
        for t in tables(&flat(2), RAM).unwrap().tables {
            let mut back = vec![0u8; t.bytes.len()];
            mem.read_slice(&mut back, GuestAddress(t.addr)).unwrap();
            assert_eq!(back, t.bytes, "{}", t.signature);
        }
        // Too little RAM for the region: the error names the table.
        let small = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x1000)]).unwrap();
        let err = write_tables(&small, &flat(1), RAM).unwrap_err();
        assert!(
            matches!(&err, AcpiError::Write { what, addr: 0xe0000, .. } if what == "RSD PTR"),
            "{err}"
        );
    }
}
