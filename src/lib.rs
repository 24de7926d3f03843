//! scxray's domain: the crash-report model, parsers for every failure format,
//! the ktstr-format writer, JSON export and the matcher workbench core.
//!
//! This crate depends on no UI, VM or BPF crate: the terminal app (`ui/`), the
//! guest runner (`vmm/`) and the BPF side (`probes/`) build on it.

pub mod matcher;
pub mod monitor;
pub mod parse;
pub mod report;
pub mod run;
pub mod sections;
pub mod source;
pub mod write;
