//! The workbench's corpus (the scheduler log, then `--- sched_ext dump ---`
//! and the dump, as ktstr builds it) with a line index, shared by the
//! workbench state that draws it and the matcher worker that searches it.
//! It lives apart from both so neither imports the other for it.

use std::ops::Range;
use std::sync::OnceLock;

use scxray::matcher::Corpus;
use scxray::report::{Report, SectionKind, Text};

use crate::line_index::LineIndex;

/// The corpus and where its lines start, built once on first use: a 100 MB
/// report costs one copy and one memchr pass only if the workbench is opened.
/// See [`LazyView`] for which thread pays for them.
pub struct CorpusView {
    pub corpus: Corpus,
    lines: LineIndex,
}

impl CorpusView {
    pub fn new(corpus: Corpus) -> CorpusView {
        let lines = LineIndex::build(corpus.as_str());
        CorpusView { corpus, lines }
    }

    pub fn line_count(&self) -> usize {
        self.lines.len()
    }

    /// 0-based line holding byte `offset`.
    pub fn line_of(&self, offset: usize) -> usize {
        self.lines.line_of(offset)
    }

    /// Line `i` without its newline.
    pub fn line(&self, i: usize) -> &str {
        self.lines.line(self.corpus.as_str(), i)
    }

    pub fn line_start(&self, i: usize) -> usize {
        if i >= self.lines.len() {
            return self.corpus.len();
        }
        self.lines.start(i)
    }

    /// Bytes of lines `first..last` (clamped), newlines included.
    pub fn bytes_of_lines(&self, first: usize, last: usize) -> Range<usize> {
        self.line_start(first)..self.line_start(last)
    }
}

/// The [`CorpusView`] of a report, built by the first thread that needs it.
/// With a worker thread that is the worker (the first job carries this handle
/// instead of a corpus) while the pane draws a placeholder; a UI call that
/// needs the view meanwhile waits for that build instead of repeating it.
pub struct LazyView {
    /// The report's section bodies: shared slices, no copy.
    log: Option<Text>,
    dump: Option<Text>,
    view: OnceLock<CorpusView>,
}

impl LazyView {
    /// The same sections as [`Corpus::from_report`].
    pub fn new(report: &Report) -> LazyView {
        let body = |kind| report.section(&kind).map(|s| s.body.clone());
        LazyView {
            log: body(SectionKind::SchedulerLog),
            dump: body(SectionKind::SchedExtDump),
            view: OnceLock::new(),
        }
    }

    /// No corpus: the workbench before it is given a report.
    pub fn empty() -> LazyView {
        LazyView {
            log: None,
            dump: None,
            view: OnceLock::new(),
        }
    }

    /// Whether `other` was made from the same section texts (a rebuild that
    /// changed nothing the corpus holds): same bytes, usually the same buffer.
    pub fn same_sections(&self, other: &LazyView) -> bool {
        let same = |a: &Option<Text>, b: &Option<Text>| match (a, b) {
            (None, None) => true,
            (Some(a), Some(b)) => {
                a.len() == b.len() && (std::ptr::eq(a.as_ptr(), b.as_ptr()) || **a == **b)
            }
            _ => false,
        };
        same(&self.log, &other.log) && same(&self.dump, &other.dump)
    }

    /// The view, built now (or waited for) if need be; true if this call
    /// built it.
    pub fn build(&self) -> (&CorpusView, bool) {
        let mut built = false;
        let view = self.view.get_or_init(|| {
            built = true;
            CorpusView::new(Corpus::new(self.log.as_deref(), self.dump.as_deref()))
        });
        (view, built)
    }

    pub fn get(&self) -> &CorpusView {
        self.build().0
    }

    /// The view if it is built.
    pub fn ready(&self) -> Option<&CorpusView> {
        self.view.get()
    }
}
