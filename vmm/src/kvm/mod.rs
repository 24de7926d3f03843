//! scxray's own KVM VMM, `--backend kvm` ([`KvmBackend`], the same
//! [`Backend`](crate::backend::Backend) as QEMU's): a bzImage booted by the
//! 64-bit boot protocol with an MP table and ACPI tables, two UARTs, the
//! in-kernel irqchip, one thread per vCPU. **Linux boots on it, seen on a
//! KVM nested in QEMU's TCG** (kvm-amd on an emulated AMD CPU with SVM,
//! `vmm/tests/kvm_nested.rs`): to the agent's hello and an ACPI power-off,
//! and `scxray demo --backend kvm` end to end. Not yet seen on real KVM
//! hardware. This project's own /dev/kvm (a nested paravirtual KVM) cannot
//! run Linux at all (the kernel's decompressor meets an instruction it
//! fails to emulate); there tiny real-mode guests run and are tested: on
//! several vCPUs, with serial output and input, halts, shutdowns, a
//! deadline, pause and resume, a tiny 64-bit guest entered as a kernel
//! would be.
//!
//! | module | holds |
//! |---|---|
//! | [`layout`] | every guest physical address, size, port and IRQ the VMM uses |
//! | [`memory`] | guest RAM: a memfd mapped shared through vm-memory, split around the MMIO hole |
//! | [`loader`] | a bzImage (linux-loader) at 1 MiB and its 64-bit entry; the initramfs placed high |
//! | [`boot`] | the 64-bit boot protocol's zero page, page tables, GDT, vCPU registers; the MP table |
//! | [`acpi`] | RSDP, XSDT, hardware-reduced FADT, DSDT, MADT; SRAT and SLIT for NUMA |
//! | [`aml`] | the DSDT's AML: `_S5_`, and the UARTs as PNP0501 devices with their ports and IRQs |
//! | [`power`] | the ACPI sleep control register: S5 is power-off |
//! | [`serial`] | one 16550A UART (vm-superio) writing into a channel, with an input queue |
//! | [`bus`] | port I/O dispatch to COM1/COM2, the sleep registers, the i8042 reset, unclaimed ports |
//! | [`topology`] | APIC IDs packed from thread, core, LLC and node; guest RAM split over the nodes |
//! | [`cpuid`] | per-vCPU CPUID: APIC IDs, topology levels, cache sharing, hypervisor bit, TSC-deadline |
//! | [`msr`] | the MSRs each vCPU starts Linux with |
//! | [`lapic`] | LINT0 ExtINT and LINT1 NMI in each local APIC |
//! | [`vcpu`] | exits as owned values, the exit handler, run states, the vCPU loop and its kick |
//! | [`pause`] | the gate that parks every vCPU for the failure dump, and its handle (which also sets the watchpoint) |
//! | [`watchpoint`] | a write watchpoint in the debug registers (`KVM_SET_GUEST_DEBUG`) |
//! | [`vm`] | [`MicroVm`]: /dev/kvm, VM, RAM, Linux loaded, vCPU threads started, paused, joined |
//! | [`backend`] | [`KvmBackend`]: a boot with its streams, the shared `Watch`, the ending |
//! | [`probe`] | whether /dev/kvm can run a real-mode guest at all |
//! | [`host`] | the host CPU's hypervisor signature: KVM nested in QEMU's TCG boots guests with `noxsave` |

pub mod acpi;
pub mod aml;
pub mod backend;
pub mod boot;
pub mod bus;
pub mod cpuid;
pub mod host;
pub mod lapic;
pub mod layout;
pub mod loader;
pub mod memory;
pub mod msr;
pub mod pause;
pub mod power;
pub mod probe;
pub mod serial;
pub mod topology;
pub mod vcpu;
pub mod vm;
pub mod watchpoint;

pub use backend::KvmBackend;
pub use probe::can_run_real_mode_guests;
pub use vm::{MicroVm, MicroVmConfig, RunReport, Running, VmEnd, VmmError};
