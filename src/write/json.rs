//! The JSON export. Its schema is versioned: consumers check `schema` and
//! `version`; fields are only added within a version, never renamed or removed.
//! README.md ("JSON export") documents every field.

use std::io;

use serde::Serialize;

use crate::failure_dump::{self, FailureDump};
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
    /// The `--- failure dump ---` section parsed (body verbatim in
    /// `sections`); absent without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    failure_dump: Option<DumpJson>,
    /// The same for the auto-repro VM's `--- repro failure dump ---`.
    #[serde(skip_serializing_if = "Option::is_none")]
    repro_failure_dump: Option<DumpJson>,
}

/// A dump, or why its section did not parse (a hand-edited report).
#[derive(Serialize)]
#[serde(untagged)]
enum DumpJson {
    Dump(Box<FailureDump>),
    Error { error: String },
}

fn dump_json(report: &Report, repro: bool) -> Option<DumpJson> {
    failure_dump::of_report(report, repro).map(|r| match r {
        Ok(d) => DumpJson::Dump(Box::new(d)),
        Err(e) => DumpJson::Error {
            error: e.to_string(),
        },
    })
}

impl<'a> Envelope<'a> {
    fn new(report: &'a Report, source: &'a str) -> Self {
        Envelope {
            schema: JSON_SCHEMA_NAME,
            version: JSON_SCHEMA_VERSION,
            source,
            report,
            auto_repro: sections::auto_repro(report),
            failure_dump: dump_json(report, false),
            repro_failure_dump: dump_json(report, true),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_failure_dump_is_carried_parsed_and_only_when_present() {
        let text = include_str!("../../tests/fixtures/failure-dump/scx-bpf-error.txt");
        let report = crate::parse::parse_str(text);
        let v: serde_json::Value = serde_json::from_str(&to_json(&report, "-")).unwrap();
        let dump = &v["failure_dump"];
        assert_eq!(dump["tasks_total"], 6);
        assert_eq!(dump["trigger"]["how"], "watchpoint");
        assert_eq!(dump["cpus"][0]["curr"]["pid"], 153);
        assert!(v.get("repro_failure_dump").is_none());
        let none = crate::parse::parse_str("--- stats ---\nx");
        let v: serde_json::Value = serde_json::from_str(&to_json(&none, "-")).unwrap();
        assert!(v.get("failure_dump").is_none());

        let mut broken = report.clone();
        let i = broken
            .sections
            .iter()
            .position(|s| s.kind == crate::report::SectionKind::FailureDump)
            .unwrap();
        broken.sections[i].body = crate::report::Text::from("garbage".to_string());
        let v: serde_json::Value = serde_json::from_str(&to_json(&broken, "-")).unwrap();
        assert!(v["failure_dump"]["error"]
            .as_str()
            .unwrap()
            .contains("line 1"));
    }
}
