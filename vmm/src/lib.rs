//! Guests for scxray: boots a sched_ext kernel with an initramfs holding the
//! scheduler, a workload and scxray's guest agent; feeds it; reads its memory;
//! tears it down leaving no process or file behind.
//!
//! Planned layout (later issues): a `Backend` trait with a QEMU backend (TCG
//! or KVM) and scxray's own KVM VMM; one file per VM device; the initramfs
//! builder; guest RAM exposed as a shared mapping for the host-side monitor;
//! and one `layout` file holding every guest address.
//!
//! Implemented so far: [`kernel`] (which kernel to boot, scxray's kernel
//! cache, `scxray kernel fetch` of Debian's sched_ext cloud kernel with its
//! vmlinux and BTF), [`initramfs`], and [`cancel`] (the Ctrl-C flag that long
//! operations check so their cleanup guards run).

pub mod backend;
pub mod cancel;
pub mod initramfs;
pub mod kernel;
pub mod qemu;
pub mod session;
