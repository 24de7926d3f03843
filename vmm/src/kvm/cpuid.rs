//! Per-vCPU CPUID: the host's KVM-supported leaves, made to describe the
//! guest's own topology ([`CpuLayout`]: NUMA node = package, LLC = die,
//! then cores and threads) rather than the host's, with the APIC IDs the MP
//! table, MADT and SRAT use. Where the guest reads that: leaf 1 (APIC ID,
//! logical processors per package), leaves 0xB/0x1F (x2APIC topology
//! levels; 0x1F adds the die), leaf 4 (Intel caches: cores per package,
//! who shares each cache: L1/L2 a core's threads, L3 an LLC),
//! 0x80000008/0x8000001D/0x8000001E (AMD: core count, cache sharing, core
//! and node IDs). Also the hypervisor bit and TSC-deadline. A pure function
//! over the entries, tested without KVM.

use kvm_bindings::kvm_cpuid_entry2;

use super::topology::CpuLayout;

/// Leaf 1 ECX bit 31: running under a hypervisor.
const ECX_HYPERVISOR: u32 = 1 << 31;
/// Leaf 1 EDX bit 28: EBX[23:16] (logical processor count) is valid.
const EDX_HTT: u32 = 1 << 28;
/// Leaf 1 ECX bit 24: the LAPIC timer has TSC-deadline mode. KVM's
/// in-kernel LAPIC has it (KVM_CAP_TSC_DEADLINE_TIMER) but
/// `KVM_GET_SUPPORTED_CPUID` does not say so; under hardware-reduced ACPI
/// Linux has no PIT to calibrate the LAPIC timer against and needs it.
const ECX_TSC_DEADLINE: u32 = 1 << 24;

/// Leaf 0xB/0x1F level types (ECX[15:8]).
const LEVEL_SMT: u32 = 1;
const LEVEL_CORE: u32 = 2;
const LEVEL_DIE: u32 = 5;

/// Cache level of a leaf 4 / 0x8000001D sub-leaf (EAX[7:5]).
fn cache_level(eax: u32) -> u32 {
    (eax >> 5) & 0x7
}

/// Patches `entries` (from `KVM_GET_SUPPORTED_CPUID`) for CPU `cpu` of
/// `layout`. Leaves the host does not list are not added.
pub fn patch_for_vcpu(entries: &mut [kvm_cpuid_entry2], cpu: u32, layout: &CpuLayout) {
    let t = &layout.topology;
    let apic_id = layout.apic_id(cpu);
    let place = t.place(cpu);
    let per_package = layout.ids_per_package();
    let per_node = t.cpus_per_node();
    let threads = t.threads_per_core;
    for e in entries {
        match e.function {
            1 => {
                e.ebx =
                    (e.ebx & 0x0000_ffff) | ((apic_id & 0xff) << 24) | (per_package.min(255) << 16);
                e.ecx |= ECX_HYPERVISOR | ECX_TSC_DEADLINE;
                if per_package > 1 {
                    e.edx |= EDX_HTT;
                } else {
                    e.edx &= !EDX_HTT;
                }
            }
            // Deterministic cache parameters (Intel): core IDs per package
            // in EAX[31:26]; who shares the cache in EAX[25:14].
            4 if cache_level(e.eax) != 0 => {
                let cores = per_package >> layout.thread_bits();
                e.eax =
                    (e.eax & 0x3fff) | ((cores - 1).min(63) << 26) | (sharing(e.eax, layout) << 14);
            }
            // Extended topology: SMT, core (up to the package in 0xB, up to
            // the die in 0x1F), die (0x1F only), then the end; EDX the
            // x2APIC ID everywhere.
            0xb | 0x1f => {
                let die_level = e.function == 0x1f;
                let (eax, ebx, level) = match e.index {
                    0 => (layout.thread_bits(), threads, LEVEL_SMT),
                    1 if die_level => (layout.llc_shift(), t.cpus_per_llc(), LEVEL_CORE),
                    1 => (layout.package_shift(), per_node, LEVEL_CORE),
                    2 if die_level => (layout.package_shift(), per_node, LEVEL_DIE),
                    _ => (0, 0, 0),
                };
                e.eax = eax;
                e.ebx = ebx;
                e.ecx = (level << 8) | e.index;
                e.edx = apic_id;
            }
            // AMD: NC (logical processors per package - 1) and the APIC ID
            // bits that number them.
            0x8000_0008 => {
                e.ecx =
                    (e.ecx & !0xf0ff) | (layout.package_shift() << 12) | (per_node - 1).min(255);
            }
            // AMD cache topology: who shares each cache.
            0x8000_001d if cache_level(e.eax) != 0 => {
                e.eax = (e.eax & !(0xfff << 14)) | (sharing(e.eax, layout) << 14);
            }
            // AMD: extended APIC ID; core ID and threads per core - 1;
            // node ID, one node per package.
            0x8000_001e => {
                e.eax = apic_id;
                e.ebx = ((apic_id >> layout.thread_bits()) & 0xff) | ((threads - 1) << 8);
                e.ecx = place.node & 0xff;
            }
            _ => {}
        }
    }
}

/// Logical processor IDs sharing a cache of the level in `eax`, minus one:
/// the last-level cache (3) spans an LLC's IDs, L1 and L2 a core's.
fn sharing(eax: u32, layout: &CpuLayout) -> u32 {
    let shift = match cache_level(eax) {
        3.. => layout.llc_shift(),
        _ => layout.thread_bits(),
    };
    ((1u32 << shift) - 1).min(0xfff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kvm::topology::id_bits;
    use scxray::run::topology::Topology;

    fn flat(cpus: u32) -> CpuLayout {
        CpuLayout::new(Topology::flat(cpus))
    }

    fn entry(function: u32, index: u32) -> kvm_cpuid_entry2 {
        kvm_cpuid_entry2 {
            function,
            index,
            ebx: 0xdead_0800,
            edx: 0x5,
            ..Default::default()
        }
    }

    /// A cache sub-leaf of `level` as the host reports it: type data (1)
    /// or unified (3), shared by 16 host threads, 32 cores per package.
    fn cache(function: u32, index: u32, level: u32) -> kvm_cpuid_entry2 {
        kvm_cpuid_entry2 {
            function,
            index,
            eax: (31 << 26) | (15 << 14) | (level << 5) | 0x100 | 3,
            ..Default::default()
        }
    }

    #[test]
    fn apic_ids_and_counts_per_vcpu() {
        let mut e = vec![entry(0, 0), entry(1, 0), entry(0xb, 0), entry(0xb, 1)];
        patch_for_vcpu(&mut e, 3, &flat(4));
        assert_eq!(e[0], entry(0, 0), "other leaves untouched");
        assert_eq!(e[1].ebx >> 24, 3);
        assert_eq!((e[1].ebx >> 16) & 0xff, 4);
        assert_eq!(e[1].ebx & 0xffff, 0x0800, "CLFLUSH size and brand kept");
        assert_ne!(e[1].ecx & ECX_HYPERVISOR, 0);
        assert_ne!(e[1].ecx & ECX_TSC_DEADLINE, 0);
        assert_ne!(e[1].edx & EDX_HTT, 0);
        assert_eq!((e[2].edx, e[3].edx), (3, 3));
        let mut one = vec![entry(1, 0)];
        patch_for_vcpu(&mut one, 0, &flat(1));
        assert_eq!(one[0].edx & EDX_HTT, 0);
    }

    /// Six vCPUs: one thread per core (SMT level 1 wide, shift 0), six
    /// cores (shift 3, the bits that number 6), then the end level.
    #[test]
    fn extended_topology_is_one_package_of_single_thread_cores() {
        let mut e = vec![entry(0xb, 0), entry(0xb, 1), entry(0xb, 2), entry(0x1f, 1)];
        patch_for_vcpu(&mut e, 5, &flat(6));
        let level = |e: &kvm_cpuid_entry2| (e.eax, e.ebx, e.ecx >> 8, e.ecx & 0xff, e.edx);
        assert_eq!(level(&e[0]), (0, 1, LEVEL_SMT, 0, 5));
        assert_eq!(level(&e[1]), (3, 6, LEVEL_CORE, 1, 5));
        assert_eq!(level(&e[2]), (0, 0, 0, 2, 5));
        assert_eq!(level(&e[3]), (3, 6, LEVEL_CORE, 1, 5), "0x1F as 0xB");
        assert_eq!(
            (id_bits(1), id_bits(2), id_bits(4), id_bits(5)),
            (0, 1, 2, 3)
        );
    }

    /// L1 and L2 per core, the L3 shared by every vCPU; Intel's cores per
    /// package; the sub-leaf that ends the list left alone.
    #[test]
    fn caches_are_private_below_the_llc_and_shared_at_it() {
        let end = kvm_cpuid_entry2 {
            function: 4,
            index: 3,
            ..Default::default()
        };
        let mut e = vec![
            cache(4, 0, 1),
            cache(4, 1, 2),
            cache(4, 2, 3),
            end,
            cache(0x8000_001d, 2, 3),
            cache(0x8000_001d, 0, 1),
        ];
        patch_for_vcpu(&mut e, 0, &flat(4));
        let shared = |e: &kvm_cpuid_entry2| ((e.eax >> 14) & 0xfff) + 1;
        let cores = |e: &kvm_cpuid_entry2| (e.eax >> 26) + 1;
        assert_eq!([shared(&e[0]), shared(&e[1]), shared(&e[2])], [1, 1, 4]);
        assert_eq!([cores(&e[0]), cores(&e[2])], [4, 4]);
        assert_eq!(
            e[0].eax & 0x3fff,
            (1 << 5) | 0x100 | 3,
            "type and level kept"
        );
        assert_eq!(e[3], end);
        assert_eq!([shared(&e[4]), shared(&e[5])], [4, 1]);
        assert_eq!(e[4].eax >> 26, 31, "AMD's upper bits kept");
    }

    #[test]
    fn amd_core_count_and_ids() {
        let mut e = vec![
            kvm_cpuid_entry2 {
                function: 0x8000_0008,
                ecx: 0x0001_703f, // perf TSC size bits kept, NC 63, 7 ID bits
                ..Default::default()
            },
            kvm_cpuid_entry2 {
                function: 0x8000_001e,
                eax: 9,
                ebx: 0x0100,
                ecx: 0x0101,
                ..Default::default()
            },
        ];
        patch_for_vcpu(&mut e, 2, &flat(3));
        assert_eq!(e[0].ecx, 0x0001_0000 | (2 << 12) | 2);
        assert_eq!((e[1].eax, e[1].ebx, e[1].ecx), (2, 2, 0));
    }

    /// CPU 21 of 2n4l3c2t: APIC ID 16 (node 1) + 8 (its second LLC) + 2
    /// (core 1) + 1 (thread 1) = 27.
    #[test]
    fn a_numa_smt_topology_per_vcpu() {
        let layout = CpuLayout::new("2n4l3c2t".parse().unwrap());
        let cpu = 21;
        assert_eq!(layout.apic_id(cpu), 27);
        let mut e = vec![
            entry(1, 0),
            entry(0xb, 0),
            entry(0xb, 1),
            entry(0xb, 2),
            entry(0x1f, 0),
            entry(0x1f, 1),
            entry(0x1f, 2),
            entry(0x1f, 3),
            cache(4, 0, 1),
            cache(4, 3, 3),
            cache(0x8000_001d, 3, 3),
            kvm_cpuid_entry2 {
                function: 0x8000_0008,
                ..Default::default()
            },
            kvm_cpuid_entry2 {
                function: 0x8000_001e,
                ..Default::default()
            },
        ];
        patch_for_vcpu(&mut e, cpu, &layout);
        assert_eq!(e[0].ebx >> 24, 27);
        assert_eq!((e[0].ebx >> 16) & 0xff, 16, "IDs per package");
        let level = |e: &kvm_cpuid_entry2| (e.eax, e.ebx, e.ecx >> 8, e.edx);
        assert_eq!(level(&e[1]), (1, 2, LEVEL_SMT, 27));
        assert_eq!(
            level(&e[2]),
            (4, 12, LEVEL_CORE, 27),
            "0xB: core up to the package"
        );
        assert_eq!(level(&e[3]), (0, 0, 0, 27));
        assert_eq!(level(&e[4]), (1, 2, LEVEL_SMT, 27));
        assert_eq!(
            level(&e[5]),
            (3, 6, LEVEL_CORE, 27),
            "0x1F: core up to the die"
        );
        assert_eq!(level(&e[6]), (4, 12, LEVEL_DIE, 27));
        assert_eq!(level(&e[7]), (0, 0, 0, 27));
        let shared = |e: &kvm_cpuid_entry2| ((e.eax >> 14) & 0xfff) + 1;
        assert_eq!(shared(&e[8]), 2, "L1: a core's two threads");
        assert_eq!(shared(&e[9]), 8, "L3: the LLC's ID span");
        assert_eq!((e[9].eax >> 26) + 1, 8, "core IDs per package");
        assert_eq!(shared(&e[10]), 8);
        assert_eq!(e[11].ecx & 0xff, 11, "12 CPUs per node");
        assert_eq!((e[11].ecx >> 12) & 0xf, 4);
        assert_eq!(
            (e[12].eax, e[12].ebx, e[12].ecx),
            (27, 13 | (1 << 8), 1),
            "core ID, 2 threads, node 1"
        );
    }
}
