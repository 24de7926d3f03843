//! Renders a report in ktstr's failure layout, so that
//! `parse(to_ktstr(r)) == r` for every report the parser produces.

use std::fmt::{self, Write};
use std::io;

use crate::report::{Outcome, Report};

/// The report as ktstr prints it: header block, then `--- name ---` sections
/// separated by blank lines.
pub fn to_ktstr(report: &Report) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = render(report, &mut out);
    out
}

/// [`to_ktstr`] streamed into `out`: section bodies go straight from the
/// mapped input to the writer, so printing a 100 MB log costs no second copy.
pub fn write_ktstr(report: &Report, out: impl io::Write) -> io::Result<()> {
    let mut sink = IoSink {
        inner: out,
        error: None,
    };
    match render(report, &mut sink) {
        Ok(()) => Ok(()),
        Err(fmt::Error) => Err(sink
            .error
            .unwrap_or_else(|| io::Error::other("formatting the ktstr layout failed"))),
    }
}

/// `fmt::Write` over an `io::Write` that keeps the I/O error `fmt::Error` drops.
struct IoSink<W> {
    inner: W,
    error: Option<io::Error>,
}

impl<W: io::Write> Write for IoSink<W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.inner.write_all(s.as_bytes()).map_err(|e| {
            self.error = Some(e);
            fmt::Error
        })
    }
}

fn render(report: &Report, out: &mut impl Write) -> fmt::Result {
    let h = &report.header;
    // Whether anything precedes the first section (it is then set off by a blank line).
    let mut wrote = false;
    for l in &h.preamble {
        writeln!(out, "{l}")?;
    }
    if !h.preamble.is_empty() {
        out.write_char('\n')?;
        wrote = true;
    }
    if let Some(name) = &h.test_name {
        if let Some(fp) = &h.fingerprint {
            writeln!(out, "{fp}")?;
        }
        if let Some(b) = &h.bug_summary {
            writeln!(out, "BUG SUMMARY: {b}")?;
        }
        write!(out, "ktstr_test '{name}'")?;
        if let Some(s) = &h.scheduler {
            write!(out, " [sched={s}]")?;
        }
        if let Some(t) = &h.topology {
            write!(out, " [topo={t}]")?;
        }
        match &h.outcome {
            Outcome::Unknown => {}
            Outcome::Failed => out.write_str(" failed:")?,
            Outcome::Inconclusive => out.write_str(" inconclusive:")?,
            Outcome::MonitorFailed => out.write_str(" passed scenario but monitor failed:")?,
            Outcome::TimedOut => out.write_str(" timed out (no result in SHM or COM2)")?,
            Outcome::Other(text) => write!(out, " {text}")?,
        }
        out.write_char('\n')?;
        for d in &h.details {
            writeln!(out, "  {d}")?;
        }
        wrote = true;
    }
    for (i, s) in report.sections.iter().enumerate() {
        if i > 0 || wrote {
            out.write_char('\n')?;
        }
        writeln!(out, "--- {} ---", s.kind.name())?;
        if !s.body.is_empty() {
            out.write_str(&s.body)?;
            out.write_char('\n')?;
        }
    }
    Ok(())
}
