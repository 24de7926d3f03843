//! A write watchpoint in the guest's debug registers, set by the VMM
//! (`KVM_SET_GUEST_DEBUG` with hardware breakpoints): what QEMU's gdbstub
//! `Z2` gives the failure dump, for the own VMM. The guest does not see
//! these registers; KVM exits with `KVM_EXIT_DEBUG` after the write (a data
//! breakpoint traps after the instruction). Pure values here, tested
//! without KVM; [`super::pause::PauseHandle::set_watch`] installs them on
//! every vCPU.

use kvm_bindings::{kvm_guest_debug, KVM_GUESTDBG_ENABLE, KVM_GUESTDBG_USE_HW_BP};

/// DR7: local enable of breakpoint 0.
const DR7_L0: u64 = 1;
/// DR7 R/W0 = 01: break on data writes.
const DR7_RW0_WRITE: u64 = 0b01 << 16;
/// DR7 LEN0 field, bits 18..20: 00 = 1, 01 = 2, 11 = 4, 10 = 8 bytes.
const DR7_LEN0_SHIFT: u64 = 18;
/// DR6 B0: breakpoint 0 fired.
pub const DR6_B0: u64 = 1;

/// Why a watchpoint cannot be set as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WatchError {
    #[error("a hardware watchpoint covers 1, 2, 4 or 8 bytes, not {0}")]
    Len(u64),
    #[error("watchpoint address {addr:#x} is not aligned to its {len} bytes")]
    Unaligned { addr: u64, len: u64 },
}

/// The DR7 value watching `len` bytes at `addr` for writes.
pub fn dr7_write(addr: u64, len: u64) -> Result<u64, WatchError> {
    let code = match len {
        1 => 0b00,
        2 => 0b01,
        4 => 0b11,
        8 => 0b10,
        _ => return Err(WatchError::Len(len)),
    };
    if !addr.is_multiple_of(len) {
        return Err(WatchError::Unaligned { addr, len });
    }
    Ok(DR7_L0 | DR7_RW0_WRITE | (code << DR7_LEN0_SHIFT))
}

/// A watched range: guest virtual (linear) address and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watch {
    pub addr: u64,
    pub len: u64,
}

/// `KVM_SET_GUEST_DEBUG`'s argument for `watch`, or debugging off.
pub fn guest_debug(watch: Option<Watch>) -> Result<kvm_guest_debug, WatchError> {
    let mut d = kvm_guest_debug::default();
    if let Some(w) = watch {
        d.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP;
        d.arch.debugreg[0] = w.addr;
        d.arch.debugreg[7] = dr7_write(w.addr, w.len)?;
    }
    Ok(d)
}

/// Whether a debug exit's DR6 says the watchpoint fired.
pub fn fired(dr6: u64) -> bool {
    dr6 & DR6_B0 != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dr7_watches_writes_of_the_length_asked() {
        assert_eq!(dr7_write(0x1000, 4).unwrap(), 0x000d_0001);
        assert_eq!(dr7_write(0x1000, 8).unwrap(), 0x0009_0001);
        assert_eq!(dr7_write(0x1001, 1).unwrap(), 0x0001_0001);
        assert_eq!(dr7_write(0x1000, 3), Err(WatchError::Len(3)));
        assert_eq!(
            dr7_write(0x1002, 4),
            Err(WatchError::Unaligned {
                addr: 0x1002,
                len: 4
            })
        );
    }

    #[test]
    fn guest_debug_on_and_off() {
        let on = guest_debug(Some(Watch {
            addr: 0xffff_8880_0000_1000,
            len: 4,
        }))
        .unwrap();
        assert_eq!(on.control, KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP);
        assert_eq!(on.arch.debugreg[0], 0xffff_8880_0000_1000);
        assert_eq!(on.arch.debugreg[7], 0x000d_0001);
        let off = guest_debug(None).unwrap();
        assert_eq!(off.control, 0);
        assert_eq!(off.arch.debugreg, [0; 8]);
        assert!(fired(0xffff_0ff1) && !fired(0xffff_0ff0));
    }
}
