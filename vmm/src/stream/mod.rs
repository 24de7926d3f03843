//! What a running guest says, turned into items for the run loop, whatever
//! runs it: reader threads over the console and the record port (QEMU's
//! stdout and socket, or the own VMM's UART channels), the bounded queue
//! between them and the loop, and the console's lines (oops and panic
//! detection, the tail kept for the report).
//!
//! | module | holds |
//! |---|---|
//! | [`ports`] | reader threads: console lines, records, QEMU's stderr; the input writer; QEMU's record socket |
//! | [`queue`] | the byte-bounded queue between readers and the run loop |
//! | [`console`] | line splitting, oops/panic detection, the tail |

pub mod console;
pub mod ports;
pub mod queue;
