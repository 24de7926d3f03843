//! The x86-64 `g` packet: QEMU's register order for `i386:x86-64`.

/// Names of the 16 general-purpose registers in `g` order (not the
/// hardware encoding order: gdb puts rbx before rcx).
pub const GPR_NAMES: [&str; 16] = [
    "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13",
    "r14", "r15",
];

/// The registers scxray needs from one vCPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct X86Regs {
    /// In [`GPR_NAMES`] order.
    pub gprs: [u64; 16],
    pub rip: u64,
    pub rflags: u64,
    /// Selectors cs, ss, ds, es, fs, gs when the stub sent them.
    pub segments: Option<[u32; 6]>,
}

/// Bytes up to and including eflags: the least a usable `g` reply holds.
const MIN_LEN: usize = 16 * 8 + 8 + 4;

impl X86Regs {
    /// Parses the decoded bytes of a `g` reply (little-endian per register).
    /// `None` if it is too short to hold the GPRs, rip and eflags.
    pub fn from_g_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < MIN_LEN {
            return None;
        }
        let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap());
        let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
        let gprs = std::array::from_fn(|n| u64_at(n * 8));
        let segments =
            (bytes.len() >= MIN_LEN + 24).then(|| std::array::from_fn(|n| u32_at(MIN_LEN + n * 4)));
        Some(Self {
            gprs,
            rip: u64_at(128),
            rflags: u64::from(u32_at(136)),
            segments,
        })
    }

    /// A GPR by name (`"rsp"`, `"r12"`); `None` for an unknown name.
    pub fn gpr(&self, name: &str) -> Option<u64> {
        GPR_NAMES
            .iter()
            .position(|&n| n == name)
            .map(|i| self.gprs[i])
    }

    pub fn rsp(&self) -> u64 {
        self.gprs[7]
    }

    pub fn rbp(&self) -> u64 {
        self.gprs[6]
    }

    /// The code segment selector, if the stub sent segments.
    pub fn cs(&self) -> Option<u32> {
        self.segments.map(|s| s[0])
    }

    /// `(name, value)` for every GPR, in [`GPR_NAMES`] order.
    pub fn named_gprs(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        GPR_NAMES.iter().copied().zip(self.gprs.iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::super::packet::from_hex;
    use super::*;

    #[test]
    fn parses_qemu_reset_state() {
        // QEMU 7.2's `g` at reset under -S (first 160 bytes of 608): rdx
        // holds the CPUID signature, rip 0xfff0, eflags 0x2, cs 0xf000.
        let mut hex = String::new();
        hex += &"00".repeat(24);
        hex += "b10f060000000000"; // rdx
        hex += &"00".repeat(8 * 12);
        hex += "f0ff000000000000"; // rip
        hex += "02000000"; // eflags
        hex += "00f00000"; // cs
        hex += &"00".repeat(20);
        let regs = X86Regs::from_g_bytes(&from_hex(hex.as_bytes()).unwrap()).unwrap();
        assert_eq!(regs.rip, 0xfff0);
        assert_eq!(regs.rflags, 2);
        assert_eq!(regs.gpr("rdx"), Some(0x60fb1));
        assert_eq!(regs.cs(), Some(0xf000));
        assert_eq!(regs.rsp(), 0);
        assert_eq!(regs.named_gprs().count(), 16);
        assert_eq!(regs.gpr("eax"), None);
    }

    #[test]
    fn short_reply_is_none_and_no_segments_is_fine() {
        assert_eq!(X86Regs::from_g_bytes(&[0; MIN_LEN - 1]), None);
        let mut bytes = vec![0u8; MIN_LEN];
        bytes[7 * 8] = 0x10; // rsp
        let regs = X86Regs::from_g_bytes(&bytes).unwrap();
        assert_eq!(regs.rsp(), 0x10);
        assert_eq!(regs.segments, None);
    }
}
