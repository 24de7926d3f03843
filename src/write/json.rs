//! The JSON export. Its schema is versioned: consumers check `schema` and
//! `version`; fields are only added within a version, never renamed or removed.
//! README.md ("JSON export") documents every field.

use serde::Serialize;

use crate::report::Report;

pub const JSON_SCHEMA_NAME: &str = "scxray-report";
pub const JSON_SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Envelope<'a> {
    schema: &'static str,
    version: u32,
    source: &'a str,
    #[serde(flatten)]
    report: &'a Report,
}

/// Pretty-printed JSON for `report`, read from `source` (a path or `-`).
pub fn to_json(report: &Report, source: &str) -> String {
    let env = Envelope {
        schema: JSON_SCHEMA_NAME,
        version: JSON_SCHEMA_VERSION,
        source,
        report,
    };
    // The model holds only strings, numbers and plain enums: serialization cannot fail.
    serde_json::to_string_pretty(&env).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
