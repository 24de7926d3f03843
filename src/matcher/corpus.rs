//! The text ktstr runs `expect_scx_bpf_error_*` matchers over.
//!
//! ktstr builds it as `<scheduler log>` + `"\n"` + (when a dump exists)
//! `"\n\n--- sched_ext dump ---\n"` + the dump lines. The header text is part
//! of the corpus, so a pin can (accidentally) match it; the workbench must use
//! the very same bytes or its verdicts would differ from ktstr's.

use std::ops::Range;
use std::sync::Arc;

use crate::report::Report;

/// What ktstr puts between the scheduler log and the dump lines.
pub const DUMP_HEADER: &str = "\n\n--- sched_ext dump ---\n";

/// The matcher corpus. Cheap to clone (shared text) so a background search
/// thread can hold it while the UI keeps its own handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corpus {
    text: Arc<str>,
    /// Byte offset where the dump lines start, when a dump exists.
    dump_start: Option<usize>,
    /// Length of the scheduler-log part (before its trailing `\n`).
    log_len: usize,
}

/// Which part of the corpus a byte offset falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    SchedulerLog,
    /// The `\n` after the log and, with a dump, ktstr's dump header.
    Separator,
    SchedExtDump,
}

impl Region {
    pub fn label(self) -> &'static str {
        match self {
            Region::SchedulerLog => "scheduler log",
            Region::Separator => "dump header",
            Region::SchedExtDump => "sched_ext dump",
        }
    }
}

/// A byte offset resolved to a line, for messages and jumps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub offset: usize,
    /// 1-based line number in the corpus.
    pub line: usize,
    /// 1-based column, in chars.
    pub column: usize,
    /// The whole line holding `offset`, without its `\n`.
    pub line_text: String,
    pub region: Region,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "byte {} (line {}, column {}, {})",
            self.offset,
            self.line,
            self.column,
            self.region.label()
        )
    }
}

impl Corpus {
    /// Builds the corpus as ktstr does. A missing log counts as an empty one;
    /// a missing or empty dump adds nothing (ktstr adds the header only when
    /// there are dump lines).
    pub fn new(log: Option<&str>, dump: Option<&str>) -> Corpus {
        let log = log.unwrap_or("");
        let dump = dump.filter(|d| !d.is_empty());
        let mut text =
            String::with_capacity(log.len() + 1 + dump.map_or(0, |d| DUMP_HEADER.len() + d.len()));
        text.push_str(log);
        text.push('\n');
        let dump_start = dump.map(|d| {
            text.push_str(DUMP_HEADER);
            let start = text.len();
            text.push_str(d);
            start
        });
        Corpus {
            text: text.into(),
            dump_start,
            log_len: log.len(),
        }
    }

    /// The corpus of a parsed report: its `scheduler log` and `sched_ext dump`
    /// section bodies. ktstr uses the whole raw scheduler-log stream; a report
    /// only holds what was printed, which is the same text for ktstr output.
    pub fn from_report(report: &Report) -> Corpus {
        Corpus::new(report.scheduler_log(), report.sched_ext_dump())
    }

    /// A text that already is a corpus (e.g. read back from a file), used as is.
    pub fn from_raw(text: impl Into<Arc<str>>) -> Corpus {
        let text: Arc<str> = text.into();
        let log_len = text.len();
        Corpus {
            text,
            dump_start: None,
            log_len,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// A shared handle on the text, for threads.
    pub fn shared(&self) -> Arc<str> {
        Arc::clone(&self.text)
    }

    pub fn len(&self) -> usize {
        self.text.len()
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Byte range of the dump lines, when a dump exists.
    pub fn dump_range(&self) -> Option<Range<usize>> {
        self.dump_start.map(|s| s..self.text.len())
    }

    pub fn region(&self, offset: usize) -> Region {
        if offset < self.log_len {
            return Region::SchedulerLog;
        }
        match self.dump_start {
            Some(s) if offset >= s => Region::SchedExtDump,
            _ => Region::Separator,
        }
    }

    /// 1-based line number of `offset` (clamped to the text). Counting with
    /// memchr is fast enough (GB/s) that no line index is kept.
    pub fn line_of(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        memchr::memchr_iter(b'\n', &self.text.as_bytes()[..offset]).count() + 1
    }

    /// Byte range of the line holding `offset`, without its `\n`.
    pub fn line_range(&self, offset: usize) -> Range<usize> {
        let bytes = self.text.as_bytes();
        let offset = offset.min(bytes.len());
        let start = memchr::memrchr(b'\n', &bytes[..offset]).map_or(0, |i| i + 1);
        let end = memchr::memchr(b'\n', &bytes[offset..]).map_or(bytes.len(), |i| offset + i);
        start..end
    }

    /// Resolves `offset` (clamped, moved back to a char boundary) to a location.
    pub fn locate(&self, offset: usize) -> Location {
        let offset = floor_char_boundary(&self.text, offset);
        let line = self.line_range(offset);
        Location {
            offset,
            line: self.line_of(offset),
            column: self.text[line.start..offset].chars().count() + 1,
            line_text: self.text[line].to_string(),
            region: self.region(offset),
        }
    }

    /// At most `max` bytes from the start, cut back to a UTF-8 boundary (as
    /// ktstr does for its mismatch message).
    pub fn head(&self, max: usize) -> &str {
        &self.text[..floor_char_boundary(&self.text, max)]
    }
}

/// The largest char boundary `<= i` (clamped to the text length).
pub(crate) fn floor_char_boundary(s: &str, i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    let mut i = i;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Header, Section, SectionKind, Text};

    #[test]
    fn layout_without_dump() {
        let c = Corpus::new(Some("a\nb"), None);
        assert_eq!(c.as_str(), "a\nb\n");
        assert_eq!(c.dump_range(), None);
        assert_eq!(c.region(0), Region::SchedulerLog);
        assert_eq!(c.region(3), Region::Separator);
    }

    #[test]
    fn layout_with_dump() {
        let c = Corpus::new(Some("log"), Some("d1\nd2"));
        assert_eq!(c.as_str(), "log\n\n\n--- sched_ext dump ---\nd1\nd2");
        let r = c.dump_range().expect("dump");
        assert_eq!(&c.as_str()[r.clone()], "d1\nd2");
        assert_eq!(c.region(r.start), Region::SchedExtDump);
        assert_eq!(c.region(5), Region::Separator);
    }

    #[test]
    fn missing_log_and_empty_dump() {
        assert_eq!(Corpus::new(None, None).as_str(), "\n");
        assert_eq!(Corpus::new(None, Some("")).as_str(), "\n");
        assert_eq!(
            Corpus::new(None, Some("x")).as_str(),
            "\n\n\n--- sched_ext dump ---\nx"
        );
    }

    #[test]
    fn locate_lines_and_columns() {
        let c = Corpus::new(Some("ab\nçd\nlast"), None);
        let l = c.locate(5); // 'd' after the 2-byte 'ç'
        assert_eq!((l.line, l.column), (2, 2));
        assert_eq!(l.line_text, "çd");
        // Inside 'ç' moves back to its start.
        assert_eq!(c.locate(4).offset, 3);
        assert_eq!(c.locate(999).line, 4);
        assert_eq!(c.line_range(0), 0..2);
    }

    #[test]
    fn head_cuts_at_char_boundary() {
        let c = Corpus::from_raw("aé");
        assert_eq!(c.head(2), "a");
        assert_eq!(c.head(3), "aé");
        assert_eq!(c.head(400), "aé");
    }

    #[test]
    fn from_report_uses_both_sections() {
        let section = |kind, body: &str| Section {
            kind,
            body: Text::from(body.to_string()),
        };
        let report = Report {
            header: Header::default(),
            sections: vec![
                section(SectionKind::Stats, "ignored"),
                section(SectionKind::SchedulerLog, "l1\nl2"),
                section(SectionKind::SchedExtDump, "dump"),
            ],
            crashes: vec![],
            selected: None,
            notes: vec![],
        };
        assert_eq!(
            Corpus::from_report(&report).as_str(),
            "l1\nl2\n\n\n--- sched_ext dump ---\ndump"
        );
    }
}
