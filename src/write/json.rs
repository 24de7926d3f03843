//! The JSON export. Its schema is versioned: consumers check `schema` and
//! `version`; fields are only added within a version, never renamed or removed.
//! README.md ("JSON export") documents every field.

use std::io;

use serde::Serialize;

use crate::report::Report;
use crate::sections::{self, AutoRepro};

pub const JSON_SCHEMA_NAME: &str = "scxray-report";
pub const JSON_SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Envelope<'a> {
    schema: &'static str,
    version: u32,
    source: &'a str,
    #[serde(flatten)]
    report: &'a Report,
    /// The `--- auto-repro ---` section, structured (its body stays verbatim
    /// in `sections`); absent when the report has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    auto_repro: Option<AutoRepro>,
}

impl<'a> Envelope<'a> {
    fn new(report: &'a Report, source: &'a str) -> Self {
        Envelope {
            schema: JSON_SCHEMA_NAME,
            version: JSON_SCHEMA_VERSION,
            source,
            report,
            auto_repro: sections::auto_repro(report),
        }
    }
}

/// Pretty-printed JSON for `report`, read from `source` (a path or `-`).
pub fn to_json(report: &Report, source: &str) -> String {
    // The model holds only strings, numbers and plain enums: serialization cannot fail.
    serde_json::to_string_pretty(&Envelope::new(report, source))
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// [`to_json`] streamed into `out` (no trailing newline): the section bodies
/// are escaped on the way out instead of into a second whole-report string.
pub fn write_json(report: &Report, source: &str, out: impl io::Write) -> io::Result<()> {
    // Only the writer can fail (see `to_json`); its error is handed back as is.
    serde_json::to_writer_pretty(out, &Envelope::new(report, source)).map_err(io::Error::from)
}
