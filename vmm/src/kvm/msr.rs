//! The MSRs each vCPU starts Linux with, as firecracker and ktstr set them:
//! syscall and sysenter MSRs cleared, the TSC at 0, fast strings on, and
//! the MTRRs' default type write-back. Without that last one every access
//! counts as uncached and the guest crawls.

use kvm_bindings::kvm_msr_entry;

pub const MSR_IA32_SYSENTER_CS: u32 = 0x174;
pub const MSR_IA32_SYSENTER_ESP: u32 = 0x175;
pub const MSR_IA32_SYSENTER_EIP: u32 = 0x176;
pub const MSR_STAR: u32 = 0xc000_0081;
pub const MSR_LSTAR: u32 = 0xc000_0082;
pub const MSR_CSTAR: u32 = 0xc000_0083;
pub const MSR_SYSCALL_MASK: u32 = 0xc000_0084;
pub const MSR_KERNEL_GS_BASE: u32 = 0xc000_0102;
pub const MSR_IA32_TSC: u32 = 0x10;
pub const MSR_IA32_MISC_ENABLE: u32 = 0x1a0;
pub const MSR_MTRR_DEF_TYPE: u32 = 0x2ff;

/// `IA32_MISC_ENABLE` bit 0: fast-string operations.
pub const MISC_ENABLE_FAST_STRING: u64 = 1;
/// `MTRRdefType`: MTRRs enabled (bit 11), default memory type WB (6).
pub const MTRR_ENABLE_DEFAULT_WB: u64 = (1 << 11) | 6;

/// `(index, value)` of every boot MSR.
pub fn boot_msrs() -> Vec<(u32, u64)> {
    vec![
        (MSR_IA32_SYSENTER_CS, 0),
        (MSR_IA32_SYSENTER_ESP, 0),
        (MSR_IA32_SYSENTER_EIP, 0),
        (MSR_STAR, 0),
        (MSR_CSTAR, 0),
        (MSR_KERNEL_GS_BASE, 0),
        (MSR_SYSCALL_MASK, 0),
        (MSR_LSTAR, 0),
        (MSR_IA32_TSC, 0),
        (MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING),
        (MSR_MTRR_DEF_TYPE, MTRR_ENABLE_DEFAULT_WB),
    ]
}

/// [`boot_msrs`] as KVM entries.
pub fn boot_msr_entries() -> Vec<kvm_msr_entry> {
    boot_msrs()
        .into_iter()
        .map(|(index, data)| kvm_msr_entry {
            index,
            data,
            ..Default::default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_back_mtrrs_and_fast_strings() {
        let msrs = boot_msrs();
        let get = |i| msrs.iter().find(|(n, _)| *n == i).map(|(_, v)| *v);
        assert_eq!(get(MSR_MTRR_DEF_TYPE), Some(0x806));
        assert_eq!(get(MSR_IA32_MISC_ENABLE), Some(1));
        assert_eq!(get(MSR_LSTAR), Some(0));
        let mut indices: Vec<u32> = msrs.iter().map(|(i, _)| *i).collect();
        indices.sort_unstable();
        indices.dedup();
        assert_eq!(indices.len(), msrs.len(), "each MSR once");
        assert_eq!(boot_msr_entries().len(), msrs.len());
    }
}
