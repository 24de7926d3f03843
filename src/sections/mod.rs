//! Typed views of ktstr's sections: the numeric `--- stats ---`,
//! `--- timeline ---` and `--- monitor ---`, and the structured
//! `--- auto-repro ---` (which also writes back, see [`mod@auto_repro`]).
//!
//! The report keeps every section verbatim; these parsers read a body on
//! demand for views that need numbers (the timeline pane). They are lenient:
//! ktstr's formats changed between versions, so a line that is not understood
//! is kept in an `unknown` list, a number that does not parse becomes `None`,
//! and nothing here can fail or panic.

use crate::report::{Report, SectionKind};

pub mod auto_repro;
pub mod monitor;
pub mod stats;
pub mod timeline;

pub use auto_repro::AutoRepro;
pub use monitor::{
    BpfProg, Counter, MonitorAvg, MonitorSection, SectionVerdict, Stall, VerdictStatus,
};
pub use stats::{CgroupStats, Stats, StatsTotals};
pub use timeline::{Change, Direction, Phase, PhaseEvent, PhaseMetrics, Timeline, TimelineHeader};

/// The body of the first section of `kind`, if the report has one.
pub fn section_body<'a>(report: &'a Report, kind: &SectionKind) -> Option<&'a str> {
    report
        .sections
        .iter()
        .find(|s| &s.kind == kind)
        .map(|s| &*s.body)
}

/// The report's `--- timeline ---` section, parsed.
pub fn timeline(report: &Report) -> Option<Timeline> {
    section_body(report, &SectionKind::Timeline).map(Timeline::parse)
}

/// The report's `--- monitor ---` section, parsed.
pub fn monitor(report: &Report) -> Option<MonitorSection> {
    section_body(report, &SectionKind::Monitor).map(MonitorSection::parse)
}

/// The report's `--- auto-repro ---` section, parsed.
pub fn auto_repro(report: &Report) -> Option<AutoRepro> {
    section_body(report, &SectionKind::AutoRepro).map(auto_repro::parse)
}

/// The report's `--- stats ---` section, parsed.
pub fn stats(report: &Report) -> Option<Stats> {
    section_body(report, &SectionKind::Stats).map(Stats::parse)
}

/// `key=value` tokens of a whitespace-separated line, in order. Tokens without
/// `=` are skipped by the caller's choice: they come back with an empty key.
pub(crate) fn tokens(line: &str) -> impl Iterator<Item = (&str, &str)> {
    line.split_whitespace()
        .map(|t| t.split_once('=').unwrap_or(("", t)))
}

/// A number with an optional unit suffix: `12ms`, `41.2%`, `80.3/s`.
pub(crate) fn num_with<T: std::str::FromStr>(value: &str, suffix: &str) -> Option<T> {
    value.trim().strip_suffix(suffix)?.trim().parse().ok()
}

/// A bare number.
pub(crate) fn num<T: std::str::FromStr>(value: &str) -> Option<T> {
    value.trim().parse().ok()
}

/// Non-empty lines with their indentation removed. Bodies can carry a
/// uniform indent (nextest) that means nothing here.
pub(crate) fn content_lines(body: &str) -> impl Iterator<Item = &str> {
    body.lines().map(str::trim).filter(|l| !l.is_empty())
}
