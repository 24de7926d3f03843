//! Can this host's /dev/kvm run anything? Tests ask before running tiny
//! guests and print the answer when they skip. The probe uses kvm-ioctls
//! directly, not [`super::MicroVm`], so a bug in the VMM makes its tests
//! fail instead of skip.

use std::sync::mpsc::channel;
use std::thread;
use std::time::Duration;

use kvm_bindings::kvm_userspace_memory_region;
use kvm_ioctls::{Kvm, VcpuExit};
use vm_memory::{
    Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion,
    MemoryRegionAddress,
};

use super::boot;
use super::layout::{COM1_PORT, REAL_MODE_CODE};
use super::vm::{VmmError, KVM_PATH};

/// How long the probe guest gets to say its byte and halt.
const PROBE_DEADLINE: Duration = Duration::from_secs(5);

/// `mov dx, 0x3f8; mov al, 'k'; out dx, al; hlt`
const PROBE_CODE: [u8; 6] = [0xba, 0xf8, 0x03, 0xb0, b'k', 0xee];

/// `Ok` when /dev/kvm can run a real-mode guest that writes a byte to COM1
/// and halts; else why not, in words fit for a skip message.
pub fn can_run_real_mode_guests() -> Result<(), String> {
    if !std::path::Path::new(KVM_PATH).exists() {
        return Err(format!("{KVM_PATH} does not exist (no KVM on this host)"));
    }
    let (tx, rx) = channel();
    // On a thread: a broken KVM could block in KVM_RUN; the thread is then
    // left behind rather than hanging the caller.
    thread::Builder::new()
        .name("kvm-probe".into())
        .spawn(move || {
            let _ = tx.send(probe());
        })
        .map_err(|e| format!("starting the KVM probe thread: {e}"))?;
    rx.recv_timeout(PROBE_DEADLINE).unwrap_or_else(|_| {
        Err(format!(
            "the probe guest did not halt within {PROBE_DEADLINE:?}"
        ))
    })
}

fn probe() -> Result<(), String> {
    let kvm = Kvm::new().map_err(|source| {
        VmmError::OpenKvm {
            path: KVM_PATH,
            source,
        }
        .to_string()
    })?;
    let vm = kvm.create_vm().map_err(|e| format!("KVM_CREATE_VM: {e}"))?;
    let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 1 << 20)])
        .map_err(|e| format!("mapping probe RAM: {e}"))?;
    let mut code = PROBE_CODE.to_vec();
    code.push(0xf4); // hlt
    mem.write_slice(&code, GuestAddress(REAL_MODE_CODE.start))
        .map_err(|e| format!("writing probe code: {e}"))?;
    let region = mem.iter().next().ok_or("probe RAM has no region")?;
    let host = region
        .get_host_address(MemoryRegionAddress(0))
        .map_err(|e| format!("probe RAM address: {e}"))?;
    let mapping = kvm_userspace_memory_region {
        slot: 0,
        flags: 0,
        guest_phys_addr: 0,
        memory_size: region.len(),
        userspace_addr: host as u64,
    };
    // SAFETY: `mem` outlives `vm` and every vCPU in this function.
    unsafe { vm.set_user_memory_region(mapping) }
        .map_err(|e| format!("KVM_SET_USER_MEMORY_REGION: {e}"))?;
    let mut vcpu = vm
        .create_vcpu(0)
        .map_err(|e| format!("KVM_CREATE_VCPU: {e}"))?;
    let sregs = vcpu
        .get_sregs()
        .map_err(|e| format!("KVM_GET_SREGS: {e}"))?;
    vcpu.set_sregs(&boot::real_mode_sregs(sregs, REAL_MODE_CODE.start))
        .map_err(|e| format!("KVM_SET_SREGS: {e}"))?;
    vcpu.set_regs(&boot::real_mode_regs(0))
        .map_err(|e| format!("KVM_SET_REGS: {e}"))?;
    let mut said = false;
    for _ in 0..16 {
        match vcpu.run() {
            Ok(VcpuExit::IoOut(port, data)) if port == COM1_PORT && data == b"k" => said = true,
            Ok(VcpuExit::Hlt) if said => return Ok(()),
            Ok(other) => return Err(format!("probe guest exited unexpectedly: {other:?}")),
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => {}
            Err(e) => return Err(format!("KVM_RUN: {e}")),
        }
    }
    Err("probe guest kept exiting without halting".into())
}
