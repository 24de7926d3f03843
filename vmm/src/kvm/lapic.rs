//! Each vCPU's local APIC as Linux expects it from firmware: LINT0 in
//! ExtINT mode (the 8259's interrupts come through it until the IOAPIC
//! takes over) and LINT1 delivering NMIs. A pure edit of the register page
//! `KVM_GET_LAPIC` returns, tested without KVM.

use std::os::raw::c_char;

/// Register offsets in the APIC page.
pub const APIC_LVT0: usize = 0x350;
pub const APIC_LVT1: usize = 0x360;
/// LVT delivery mode field (bits 8..11) and its values.
const DELIVERY_MODE_MASK: u32 = 0x700;
pub const DELIVERY_MODE_EXTINT: u32 = 0x700;
pub const DELIVERY_MODE_NMI: u32 = 0x400;

fn get(regs: &[c_char], offset: usize) -> u32 {
    let b = |i: usize| regs[offset + i] as u8;
    u32::from_le_bytes([b(0), b(1), b(2), b(3)])
}

fn set(regs: &mut [c_char], offset: usize, value: u32) {
    for (i, byte) in value.to_le_bytes().into_iter().enumerate() {
        regs[offset + i] = byte as c_char;
    }
}

fn with_mode(value: u32, mode: u32) -> u32 {
    (value & !DELIVERY_MODE_MASK) | mode
}

/// Sets LINT0 to ExtINT and LINT1 to NMI in `regs` (the 1 KiB page of
/// `kvm_lapic_state`), keeping the other bits.
pub fn set_lint_modes(regs: &mut [c_char]) {
    let lvt0 = get(regs, APIC_LVT0);
    set(regs, APIC_LVT0, with_mode(lvt0, DELIVERY_MODE_EXTINT));
    let lvt1 = get(regs, APIC_LVT1);
    set(regs, APIC_LVT1, with_mode(lvt1, DELIVERY_MODE_NMI));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lint0_extint_lint1_nmi_other_bits_kept() {
        let mut regs = [0 as c_char; 1024];
        // Masked (bit 16), fixed mode, vector 0x30.
        set(&mut regs, APIC_LVT0, 0x1_0030);
        set(&mut regs, APIC_LVT1, 0x1_0000);
        set_lint_modes(&mut regs);
        assert_eq!(get(&regs, APIC_LVT0), 0x1_0730);
        assert_eq!(get(&regs, APIC_LVT1), 0x1_0400);
        assert_eq!(get(&regs, 0x340), 0, "neighbours untouched");
    }
}
