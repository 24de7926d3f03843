//! Why an input could not be read at all.

use std::path::PathBuf;

/// An input that is not readable as a report. Everything readable, however
/// garbled, becomes a best-effort [`crate::report::Report`] instead.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("{path}: no such file")]
    NotFound { path: PathBuf },
    #[error("{path}: is a directory; give a report file inside it")]
    IsDirectory { path: PathBuf },
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {what} the {limit} scxray reads into memory; --max-input SIZE raises the limit (e.g. --max-input {suggest})")]
    TooLarge {
        path: PathBuf,
        /// `more input than`, or the file's size and why it is copied.
        what: String,
        /// The limit in words (`1 GiB`).
        limit: String,
        /// A `--max-input` value that would do (`4G`).
        suggest: String,
    },
    #[error("{path}: empty input (0 bytes)")]
    Empty { path: PathBuf },
    #[error("{path}: {what}, not a text report ({nul_share}% NUL, control or non-UTF-8 bytes in the first 64 KiB){hint}")]
    Binary {
        path: PathBuf,
        /// `gzip-compressed data`, `an ELF file`, `binary data`.
        what: &'static str,
        nul_share: u32,
        /// How to get text out of it, when known.
        hint: &'static str,
    },
}
