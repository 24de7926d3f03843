//! Parsers: detect the input's layout and build a [`Report`].
//!
//! Entry points: [`parse_str`] for text in memory, [`parse_path`] for a file
//! (memory-mapped) or `-` for stdin.

use std::path::Path;

use crate::report::Report;

mod error;
pub use error::ParseError;

/// Parses any supported input held in memory.
pub fn parse_str(text: &str) -> Report {
    parse_text(crate::report::Text::from(text))
}

/// Parses a shared text without copying it.
pub fn parse_text(text: crate::report::Text) -> Report {
    let _ = text;
    todo!("parser")
}

/// Reads and parses a file (`-` = stdin).
pub fn parse_path(path: &Path) -> Result<Report, ParseError> {
    let _ = path;
    todo!("parser")
}
