//! scxray's own KVM VMM (issue 12), the foundation: not yet a
//! [`Backend`](crate::backend::Backend), and no Linux boot has been seen
//! working (this project's machines have a nested KVM that cannot run one).
//! What runs and is tested here: tiny real-mode guests on several vCPUs,
//! with serial output and input, halts, shutdowns and a deadline; a tiny
//! 64-bit guest entered through the boot GDT, identity page tables and
//! long-mode registers a kernel would get; a cached bzImage loaded (not run).
//!
//! | module | holds |
//! |---|---|
//! | [`layout`] | every guest physical address, size, port and IRQ the VMM uses |
//! | [`memory`] | guest RAM: a memfd mapped shared through vm-memory, split around the MMIO hole |
//! | [`loader`] | a bzImage (linux-loader) at 1 MiB and its 64-bit entry; the initramfs placed high |
//! | [`boot`] | the 64-bit boot protocol's zero page, page tables, GDT, vCPU registers; the MP table |
//! | [`serial`] | one 16550A UART (vm-superio) writing into a channel, with an input queue |
//! | [`bus`] | port I/O dispatch to COM1/COM2, the i8042 reset, unclaimed ports |
//! | [`cpuid`] | per-vCPU CPUID: APIC IDs, processor count, hypervisor bit |
//! | [`vcpu`] | exits as owned values, the exit handler, run states, the vCPU loop and its kick |
//! | [`vm`] | [`MicroVm`]: /dev/kvm, VM, RAM, vCPU threads, deadline, errors |
//! | [`probe`] | whether /dev/kvm can run a real-mode guest at all |

pub mod boot;
pub mod bus;
pub mod cpuid;
pub mod layout;
pub mod loader;
pub mod memory;
pub mod probe;
pub mod serial;
pub mod vcpu;
pub mod vm;

pub use probe::can_run_real_mode_guests;
pub use vm::{MicroVm, MicroVmConfig, RunReport, VmEnd, VmmError};
