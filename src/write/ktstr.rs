//! Renders a report in ktstr's failure layout, so that
//! `parse(to_ktstr(r)) == r` for every report the parser produces.

use std::fmt::Write;

use crate::report::{Outcome, Report};

/// The report as ktstr prints it: header block, then `--- name ---` sections
/// separated by blank lines.
pub fn to_ktstr(report: &Report) -> String {
    let h = &report.header;
    let mut out = String::new();
    for l in &h.preamble {
        out.push_str(l);
        out.push('\n');
    }
    if !h.preamble.is_empty() {
        out.push('\n');
    }
    if let Some(name) = &h.test_name {
        if let Some(fp) = &h.fingerprint {
            let _ = writeln!(out, "{fp}");
        }
        if let Some(b) = &h.bug_summary {
            let _ = writeln!(out, "BUG SUMMARY: {b}");
        }
        let _ = write!(out, "ktstr_test '{name}'");
        if let Some(s) = &h.scheduler {
            let _ = write!(out, " [sched={s}]");
        }
        if let Some(t) = &h.topology {
            let _ = write!(out, " [topo={t}]");
        }
        match &h.outcome {
            Outcome::Unknown => {}
            Outcome::Failed => out.push_str(" failed:"),
            Outcome::Inconclusive => out.push_str(" inconclusive:"),
            Outcome::MonitorFailed => out.push_str(" passed scenario but monitor failed:"),
            Outcome::TimedOut => out.push_str(" timed out (no result in SHM or COM2)"),
            Outcome::Other(text) => {
                out.push(' ');
                out.push_str(text);
            }
        }
        out.push('\n');
        for d in &h.details {
            let _ = writeln!(out, "  {d}");
        }
    }
    for (i, s) in report.sections.iter().enumerate() {
        if i > 0 || !out.is_empty() {
            out.push('\n');
        }
        let _ = writeln!(out, "--- {} ---", s.kind.name());
        if !s.body.is_empty() {
            out.push_str(&s.body);
            out.push('\n');
        }
    }
    out
}
