//! What can go wrong talking to a gdbstub, each with what to do about it.

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum GdbError {
    #[error(
        "no gdbstub at {path} after {waited:?}: {source} (start QEMU with \
         -gdb unix:{path},server=on,wait=off, and check it is still running)"
    )]
    Connect {
        path: PathBuf,
        waited: Duration,
        #[source]
        source: std::io::Error,
    },

    #[error("gdbstub socket {path}: cannot {action}: {source} (did QEMU exit?)")]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },

    #[error("QEMU closed the gdbstub socket {path} (QEMU exited or another debugger took over)")]
    Closed { path: PathBuf },

    #[error(
        "no reply to `{packet}` within {waited:?} (the stub may be busy under TCG: \
         retry with a longer timeout)"
    )]
    Timeout { packet: String, waited: Duration },

    #[error("`{packet}` was NAKed {naks} times in a row: the link corrupts data")]
    Naks { packet: String, naks: u32 },

    #[error("QEMU does not support `{packet}` (empty reply); this QEMU cannot do it")]
    Unsupported { packet: String },

    #[error(
        "QEMU refused `{packet}` with `{reply}` (an address it cannot map, or a bad argument)"
    )]
    Refused { packet: String, reply: String },

    #[error("unexpected reply to `{packet}`: `{reply}` ({why})")]
    BadReply {
        packet: String,
        reply: String,
        why: &'static str,
    },

    #[error("{action} needs the guest stopped: call interrupt() or wait_stop() first")]
    NotStopped { action: &'static str },

    #[error("{action} needs the guest running: call resume() first")]
    NotRunning { action: &'static str },
}
