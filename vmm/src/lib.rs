//! Guests for scxray: boots a sched_ext kernel with an initramfs holding the
//! scheduler, a workload and scxray's guest agent; feeds it; reads its memory;
//! tears it down leaving no process or file behind.
//!
//! | module | holds |
//! |---|---|
//! | [`session`] | one scheduler run: checks its inputs, builds the initramfs, boots it on a backend, turns what the guest says into the core crate's live events |
//! | [`kernel`] | which kernel to boot, scxray's kernel cache, `scxray kernel fetch` of Debian's sched_ext cloud kernel with its vmlinux and BTF |
//! | [`initramfs`] | the guest's cpio archives: agent, scheduler, workload and their libraries |
//! | [`backend`] | what any VM backend is: [`GuestSpec`](backend::GuestSpec) in, [`GuestEvent`](backend::GuestEvent)s and a [`GuestExit`](backend::GuestExit) out |
//! | [`qemu`] | the QEMU backend: QEMU on KVM or TCG (its own module table) |
//! | [`kvm`] | scxray's own KVM VMM and its backend (its own module table) |
//! | [`choose`] | `--backend kvm`, `qemu` or `auto`: which backend boots a guest, and why |
//! | [`stream`] | reading what a running guest says: console lines, records, the bounded queue (both backends) |
//! | [`watch`] | deciding, from what a running guest says and the time, when it has ended and how |
//! | [`layout`] | every guest address: q35's RAM split around the PCI hole, the kernel's image and direct map |
//! | [`monitor`] | the host-side sampler reading the guest's runqueues out of its RAM |
//! | [`io_at`] | the error for an I/O failure on a named path, shared by the kernel cache and fetch |
//! | [`cancel`] | Ctrl-C and SIGTERM cancelling the core crate's `Cancel` token, which long operations check so their cleanup guards run |
//!
//! Both backends sit behind the same [`Backend`](backend::Backend) trait;
//! [`choose`] picks one.
//!
//! # Running a guest
//!
//! ```no_run
//! use std::time::Duration;
//! use scxray_vmm::backend::{Backend, ExitHow, GuestEvent, GuestSpec};
//! use scxray_vmm::qemu::QemuBackend;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let backend = QemuBackend::from_env()?; // $SCXRAY_QEMU, $SCXRAY_ACCEL
//! let mut spec = GuestSpec::new("/path/vmlinuz", "/path/initramfs.cpio");
//! spec.cmdline = "loglevel=7".into(); // after qemu::BASE_CMDLINE (`console=ttyS0 panic=-1 ...`)
//! spec.deadline = Duration::from_secs(30); // scenario length + margin
//! let cancel = scxray_vmm::cancel::on_interrupt()?;
//! let exit = backend.boot(&spec, &mut |event| match event {
//!     GuestEvent::Console(line) => println!("console: {line}"),
//!     GuestEvent::Record(record) => println!("agent: {record:?}"),
//!     GuestEvent::Stage(stage) => println!("stage: {stage}"),
//!     GuestEvent::Started { memory: Some(ram), .. } => println!("RAM in {}", ram.path().display()),
//!     _ => {}
//! }, &cancel)?;
//! if let ExitHow::Watchdog { .. } = exit.how {
//!     eprintln!("{}\n{}", exit.how, exit.console_tail.join("\n"));
//! }
//! # Ok(()) }
//! ```
//!
//! - [`Backend::boot`](backend::Backend::boot) blocks until the guest is gone
//!   and cleaned up; events reach the sink on the calling thread as they
//!   happen (run it on a worker thread and forward them to a UI).
//! - The guest's channels: the kernel console on ttyS0
//!   ([`GuestEvent::Console`](backend::GuestEvent::Console) lines) and the
//!   agent's framed records (`scxray::run::record`) on ttyS1
//!   ([`GuestEvent::Record`](backend::GuestEvent::Record)); both bounded, with
//!   drops and decoder skips counted in the [`GuestExit`](backend::GuestExit).
//! - How it ended is [`ExitHow`](backend::ExitHow): powered off, watchdog
//!   (`guest hung at <stage>` + console tail), panic after the agent's hello,
//!   boot oops (TCG faults retried twice), cancelled, QEMU died. `Err` only
//!   when nothing could be run (no QEMU: install `qemu-system-x86`).
//! - Guest RAM is a file in /dev/shm while the guest runs
//!   ([`MemoryInfo`](backend::MemoryInfo), in `Started`), still readable
//!   during the `Stopped` event, removed right after. The host-side
//!   [`monitor`] samples the guest's runqueues out of it every 100 ms, on the
//!   sink's thread ([`GuestEvent::Tick`](backend::GuestEvent::Tick) gives it a
//!   turn while the guest is quiet).
//! - KVM is used only where a probe boot shows it runs this kernel (cached in
//!   scxray's cache dir); else TCG. `SCXRAY_ACCEL=kvm|tcg|auto` overrides.
//! - Teardown: QEMU runs in its own process group with a parent-death signal
//!   and is killed on every path out (Ctrl-C via `cancel`, watchdog, drop); if
//!   scxray is SIGKILLed, the files it leaves are removed by the next run
//!   ([`qemu::sweep_stale`]).

pub mod backend;
pub mod cancel;
pub mod choose;
pub mod freeze;
pub mod gdb;
pub mod initramfs;
pub mod io_at;
pub mod kernel;
pub mod kvm;
pub mod layout;
pub mod monitor;
pub mod qemu;
pub mod session;
pub mod stream;
pub mod watch;
