//! Per-vCPU CPUID: the host's KVM-supported leaves, with each vCPU's APIC
//! ID where the guest reads it (leaf 1 EBX[31:24], leaves 0xB/0x1F EDX),
//! the logical-processor count, the hypervisor bit and TSC-deadline. A pure function
//! over the entries, so it is tested without KVM. Cache and core topology
//! (leaves 4, 0xB levels, AMD 0x8000001E) are not modelled yet.

use kvm_bindings::kvm_cpuid_entry2;

/// Leaf 1 ECX bit 31: running under a hypervisor.
const ECX_HYPERVISOR: u32 = 1 << 31;
/// Leaf 1 EDX bit 28: EBX[23:16] (logical processor count) is valid.
const EDX_HTT: u32 = 1 << 28;
/// Leaf 1 ECX bit 24: the LAPIC timer has TSC-deadline mode. KVM's
/// in-kernel LAPIC has it (KVM_CAP_TSC_DEADLINE_TIMER) but
/// `KVM_GET_SUPPORTED_CPUID` does not say so; under hardware-reduced ACPI
/// Linux has no PIT to calibrate the LAPIC timer against and needs it.
const ECX_TSC_DEADLINE: u32 = 1 << 24;

/// Patches `entries` (from `KVM_GET_SUPPORTED_CPUID`) for vCPU `index` of
/// `vcpus`. The APIC ID is the vCPU index, matching the MP table.
pub fn patch_for_vcpu(entries: &mut [kvm_cpuid_entry2], index: u32, vcpus: u32) {
    for e in entries {
        match e.function {
            1 => {
                e.ebx = (e.ebx & 0x0000_ffff) | ((index & 0xff) << 24) | ((vcpus.min(255)) << 16);
                e.ecx |= ECX_HYPERVISOR | ECX_TSC_DEADLINE;
                if vcpus > 1 {
                    e.edx |= EDX_HTT;
                }
            }
            // Extended topology: every sub-leaf reports the x2APIC ID.
            0xb | 0x1f => e.edx = index,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(function: u32, index: u32) -> kvm_cpuid_entry2 {
        kvm_cpuid_entry2 {
            function,
            index,
            ebx: 0xdead_0800,
            edx: 0x5,
            ..Default::default()
        }
    }

    #[test]
    fn apic_ids_and_counts_per_vcpu() {
        let mut e = vec![entry(0, 0), entry(1, 0), entry(0xb, 0), entry(0xb, 1)];
        patch_for_vcpu(&mut e, 3, 4);
        assert_eq!(e[0], entry(0, 0), "other leaves untouched");
        assert_eq!(e[1].ebx >> 24, 3);
        assert_eq!((e[1].ebx >> 16) & 0xff, 4);
        assert_eq!(e[1].ebx & 0xffff, 0x0800, "CLFLUSH size and brand kept");
        assert_ne!(e[1].ecx & ECX_HYPERVISOR, 0);
        assert_ne!(e[1].ecx & ECX_TSC_DEADLINE, 0);
        assert_ne!(e[1].edx & EDX_HTT, 0);
        assert_eq!((e[2].edx, e[3].edx), (3, 3));
        let mut one = vec![entry(1, 0)];
        patch_for_vcpu(&mut one, 0, 1);
        assert_eq!(one[0].edx & EDX_HTT, 0);
    }
}
