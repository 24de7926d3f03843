//! What the host's CPU says about where KVM itself runs, for the one quirk
//! the own VMM works around: KVM nested inside QEMU's TCG (an emulated AMD
//! CPU with SVM, the way this project tests the own VMM on machines whose
//! KVM cannot run Linux).
//!
//! There, QEMU 7.2's emulated SVM does not exit to KVM on the guest's
//! XSETBV, so KVM never learns the guest's XCR0 and keeps answering CPUID
//! 0xD with the size of the x87/SSE state alone; Linux then finds "XSAVE
//! consistency problem" and dies in `fpstate_reset`. Booting the guest
//! with `noxsave` (FXSAVE only) avoids XSETBV altogether.

/// The hypervisor CPUID leaf's vendor signature of QEMU's TCG.
const TCG_SIGNATURE: &[u8; 12] = b"TCGTCGTCGTCG";

/// The host's hypervisor vendor signature (CPUID 0x40000000 EBX, ECX,
/// EDX), when the host CPU says it runs under one.
pub fn hypervisor_signature() -> Option<[u8; 12]> {
    let leaf1 = std::arch::x86_64::__cpuid(1);
    if leaf1.ecx & (1 << 31) == 0 {
        return None;
    }
    // Leaf 0x40000000 and up are the hypervisor's.
    let l = std::arch::x86_64::__cpuid(0x4000_0000);
    let mut sig = [0u8; 12];
    sig[..4].copy_from_slice(&l.ebx.to_le_bytes());
    sig[4..8].copy_from_slice(&l.ecx.to_le_bytes());
    sig[8..].copy_from_slice(&l.edx.to_le_bytes());
    Some(sig)
}

/// How the own VMM adapts to a host whose KVM runs inside QEMU's TCG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NestedInTcg {
    /// Added to the guest's command line.
    pub cmdline: &'static str,
    /// Every guest step runs this many times slower than under QEMU's TCG
    /// alone (a boot to the agent takes about 35 s instead of 3.5 s): the
    /// hello timeout and the deadline stretch by it.
    pub slowdown: u32,
    /// The note for the run's diagnostics.
    pub why: String,
}

/// What a host with `signature` needs; `None` for every host but QEMU's TCG.
pub fn nested_in_tcg(signature: Option<[u8; 12]>) -> Option<NestedInTcg> {
    (signature.as_ref() == Some(TCG_SIGNATURE)).then(|| NestedInTcg {
        cmdline: "noxsave",
        slowdown: 10,
        why: "KVM here runs inside QEMU's TCG, whose emulated SVM hides the guest's XSETBV \
              from KVM: the guest boots with noxsave (FXSAVE only), and its hello timeout and \
              deadline are 10 times longer"
            .to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tcg_needs_noxsave_and_time() {
        let q = nested_in_tcg(Some(*b"TCGTCGTCGTCG")).unwrap();
        assert_eq!(q.cmdline, "noxsave");
        assert!(q.slowdown > 1);
        assert!(
            q.why.contains("TCG") && q.why.contains("XSETBV"),
            "{}",
            q.why
        );
        assert_eq!(nested_in_tcg(Some(*b"KVMKVMKVM\0\0\0")), None);
        assert_eq!(nested_in_tcg(Some(*b"Microsoft Hv")), None);
        assert_eq!(nested_in_tcg(None), None);
    }

    #[test]
    fn this_host_signature_reads_without_faulting() {
        // Whatever it is: a signature, or none on bare metal.
        let _ = hypervisor_signature();
    }
}
