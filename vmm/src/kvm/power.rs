//! The ACPI sleep control and status registers of a hardware-reduced ACPI
//! platform (FADT `SLEEP_CONTROL_REG` / `SLEEP_STATUS_REG`, one byte each at
//! [`layout::ACPI_SLEEP_CONTROL_PORT`] and [`layout::ACPI_SLEEP_STATUS_PORT`]):
//! how a guest powers off.
//!
//! Linux's `poweroff` ends in ACPICA's `acpi_hw_extended_sleep`: it clears
//! WAK_STS by writing it to the status register, then writes
//! `((SLP_TYP << 2) & 0x1c) | SLP_EN` to the control register, where SLP_TYP
//! is the first value of the DSDT's `\_S5_` package ([`SLP_TYP_S5`], which
//! [`super::acpi`] writes there). For any other state it then polls the
//! status register until WAK_STS is set, so the status register reads
//! WAK_STS always: a sleep the VMM does not support returns at once instead
//! of hanging the guest.

use super::layout;

/// The sleep type the DSDT's `\_S5_` names and the control register
/// decodes as "soft off". Any 3-bit value would do; 5 matches the state's
/// number, as QEMU and cloud-hypervisor use.
pub const SLP_TYP_S5: u8 = 5;
/// SLP_TYP's place in the control register (ACPI 6.x sleep control register).
pub const SLP_TYP_SHIFT: u8 = 2;
pub const SLP_TYP_MASK: u8 = 0x1c;
/// SLP_EN: the write that starts the transition.
pub const SLP_EN: u8 = 0x20;
/// WAK_STS in the status register: the platform is awake.
pub const WAK_STS: u8 = 0x80;

const _: () = assert!((SLP_TYP_S5 << SLP_TYP_SHIFT) & SLP_TYP_MASK == SLP_TYP_S5 << SLP_TYP_SHIFT);

/// What a byte written to the sleep control register asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SleepControl {
    /// SLP_EN clear: nothing happens (ACPI ignores SLP_TYP alone).
    Ignored,
    /// SLP_EN with the S5 type: soft off.
    PowerOff,
    /// SLP_EN with another type: a sleep state the VMM does not have
    /// (the DSDT names only `\_S5_`, so Linux should never ask).
    Unsupported { slp_typ: u8 },
}

/// The byte Linux writes to enter the state of type `slp_typ`.
pub const fn control_value(slp_typ: u8) -> u8 {
    ((slp_typ << SLP_TYP_SHIFT) & SLP_TYP_MASK) | SLP_EN
}

/// Decodes a write of `value` to the sleep control register.
pub const fn decode_control(value: u8) -> SleepControl {
    if value & SLP_EN == 0 {
        return SleepControl::Ignored;
    }
    let slp_typ = (value & SLP_TYP_MASK) >> SLP_TYP_SHIFT;
    if slp_typ == SLP_TYP_S5 {
        SleepControl::PowerOff
    } else {
        SleepControl::Unsupported { slp_typ }
    }
}

/// What a read of the control register sees: SLP_EN and SLP_TYP are
/// write-only, the rest reserved.
pub const CONTROL_READ: u8 = 0;
/// What a read of the status register sees: always awake. Writes to it
/// (write-1-to-clear WAK_STS) change nothing.
pub const STATUS_READ: u8 = WAK_STS;

/// Which of the two registers `port` is, if either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SleepRegister {
    Control,
    Status,
}

pub const fn register_at(port: u16) -> Option<SleepRegister> {
    match port {
        layout::ACPI_SLEEP_CONTROL_PORT => Some(SleepRegister::Control),
        layout::ACPI_SLEEP_STATUS_PORT => Some(SleepRegister::Status),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_s5_write_powers_off() {
        // acpi_hw_extended_sleep: ((5 << 2) & 0x1c) | 0x20.
        assert_eq!(control_value(SLP_TYP_S5), 0x34);
        assert_eq!(decode_control(0x34), SleepControl::PowerOff);
        // Reserved bits around the fields do not change the meaning.
        assert_eq!(decode_control(0x34 | 0x03 | 0x40), SleepControl::PowerOff);
    }

    #[test]
    fn other_sleep_types_are_unsupported() {
        for slp_typ in (0..8).filter(|&t| t != SLP_TYP_S5) {
            assert_eq!(
                decode_control(control_value(slp_typ)),
                SleepControl::Unsupported { slp_typ }
            );
        }
    }

    #[test]
    fn writes_without_slp_en_are_ignored() {
        for value in [0u8, 0x14, SLP_TYP_S5 << SLP_TYP_SHIFT, WAK_STS, 0xdf] {
            assert_eq!(decode_control(value), SleepControl::Ignored, "{value:#x}");
        }
    }

    #[test]
    fn status_reads_awake_so_a_sleep_returns() {
        // ACPICA polls the status register until WAK_STS (bit 7) is set.
        assert_ne!(STATUS_READ & 0x80, 0);
        assert_eq!(CONTROL_READ & SLP_EN, 0);
    }

    #[test]
    fn registers_sit_at_the_layout_ports() {
        assert_eq!(register_at(0x3c0), Some(SleepRegister::Control));
        assert_eq!(register_at(0x3c1), Some(SleepRegister::Status));
        assert_eq!(register_at(0x3c2), None);
        assert_eq!(register_at(layout::COM1_PORT), None);
    }
}
