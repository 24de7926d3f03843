//! A small client for QEMU's gdbstub (the GDB Remote Serial Protocol), so
//! scxray can freeze a guest the instant the kernel writes a variable: a
//! write watchpoint (`Z2`) on a kernel address fires under TCG, and QEMU's
//! stub is all-stop, so every vCPU is frozen when the stop arrives.
//!
//! | module | holds |
//! |---|---|
//! | [`packet`] | framing, checksums, escapes, run-length decoding, hex |
//! | [`stop`] | stop replies and thread (vCPU) ids |
//! | [`regs`] | the x86-64 `g` register layout |
//! | [`client`] | [`GdbClient`] over a unix socket |
//!
//! ```no_run
//! use std::time::Duration;
//! use scxray_vmm::gdb::GdbClient;
//! # fn main() -> Result<(), scxray_vmm::gdb::GdbError> {
//! // QEMU runs with `-gdb unix:/run/x/gdb.sock,server=on,wait=off`.
//! let mut gdb = GdbClient::connect("/run/x/gdb.sock", Duration::from_secs(5))?;
//! gdb.set_write_watchpoint(0xffff_ffff_8300_7a00, 8)?; // the guest is stopped here
//! gdb.resume()?;
//! let stop = loop {
//!     if let Some(stop) = gdb.wait_stop(Duration::from_millis(20))? {
//!         break stop;
//!     }
//!     // ... poll the UI, check for cancel ...
//! };
//! let regs = gdb.registers(stop.thread().expect("QEMU names the vCPU"))?;
//! println!("written at rip {:#x}", regs.rip);
//! gdb.detach()?; // watchpoints go, the guest runs on
//! # Ok(()) }
//! ```

pub mod client;
mod error;
pub mod packet;
pub mod regs;
pub mod stop;

pub use client::GdbClient;
pub use error::GdbError;
pub use regs::X86Regs;
pub use stop::{Stop, ThreadId, WatchHit, WatchKind};
