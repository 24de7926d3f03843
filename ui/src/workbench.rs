//! The matcher workbench as one component: the pin being typed, the
//! latest results from the matcher worker, the corpus of the current report
//! and the corpus view's scroll position. The app forwards keys and
//! replies; the pane (`panes/workbench.rs`) only draws this state.
//!
//! Every edit bumps a generation and cancels the running search; replies of
//! older generations are dropped. A newer report ([`Workbench::set_report`],
//! every live rebuild) replaces the corpus and evaluates the pin again, so
//! the verdict shown is always about the report on screen.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use scxray::cancel::Cancel;
use scxray::matcher::export::suggest_test_name;
use scxray::matcher::pin::scheduler_const;
use scxray::matcher::{
    ControlReport, Evaluation, ExportSpec, Field, NamedCorpus, Pin, PinSuggestion, PrefixHint,
    SuggestError,
};
use scxray::report::Report;

use crate::corpus_view::{CorpusView, LazyView};
use crate::keymap::Action;
use crate::matcher_worker::{Engine, Job, JobCorpus, Reply, Request, SuggestFrom};
use crate::widgets::line_input::LineInput;

/// The workbench's state: the pin being typed and what is known about it.
pub struct Workbench {
    /// The corpus of the report last given to [`Workbench::set_report`].
    pub(crate) view: Arc<LazyView>,
    /// Top line of the corpus view: the workbench scrolls itself.
    pub(crate) scroll: usize,
    pub(crate) contains: LineInput,
    pub(crate) matches: LineInput,
    pub(crate) focus: Field,
    pub(crate) editing: bool,
    pub(crate) clean: Arc<[NamedCorpus]>,
    pub(crate) engine: Engine,
    /// Bumped on every pin change; replies of older generations are dropped.
    pub(crate) gen: u64,
    pub(crate) cancel: Cancel,
    /// The latest evaluation and the generation it belongs to (older than
    /// `gen` while a search is running: it stays on screen until replaced).
    pub(crate) evaluation: Option<Arc<Evaluation>>,
    pub(crate) evaluated_gen: u64,
    pub(crate) took: Option<Duration>,
    /// Match positions near the viewport, per field, and the window they cover.
    pub(crate) kept: Vec<(Field, Vec<Range<usize>>)>,
    pub(crate) kept_window: Range<usize>,
    pub(crate) kept_truncated: bool,
    pub(crate) hints: Vec<(Field, Option<PrefixHint>)>,
    pub(crate) control: Option<ControlReport>,
    /// The n/N position.
    pub(crate) current: Option<Range<usize>>,
    pub(crate) suggestion: Option<Result<PinSuggestion, SuggestError>>,
    /// Where the suggestion comes from, for its label.
    pub(crate) suggestion_from: String,
    pub(crate) suggest_gen: u64,
    pub(crate) suggest_requested: bool,
}

impl Default for Workbench {
    fn default() -> Workbench {
        Workbench::new(Vec::new())
    }
}

/// What a reply changed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Applied {
    /// Older generation: nothing changed, no redraw.
    Stale,
    Changed,
    /// A new evaluation: the app may scroll to its first match.
    Evaluated,
    Jumped {
        target: Option<Range<usize>>,
        wrapped: bool,
    },
    /// Where the longest matching prefix of a missing pattern matches.
    Hint(Range<usize>),
    /// The worker thread is gone.
    Died,
}

impl Workbench {
    /// `clean` holds corpora of runs where the bug did not fire (negative control).
    pub fn new(clean: Vec<NamedCorpus>) -> Workbench {
        Workbench {
            view: Arc::new(LazyView::empty()),
            scroll: 0,
            contains: LineInput::default(),
            matches: LineInput::default(),
            focus: Field::Contains,
            editing: false,
            clean: clean.into(),
            engine: Engine::default(),
            gen: 0,
            cancel: Cancel::new(),
            evaluation: None,
            evaluated_gen: 0,
            took: None,
            kept: Vec::new(),
            kept_window: 0..0,
            kept_truncated: false,
            hints: Vec::new(),
            control: None,
            current: None,
            suggestion: None,
            suggestion_from: String::new(),
            suggest_gen: 0,
            suggest_requested: false,
        }
    }

    pub fn set_engine(&mut self, engine: Engine) {
        self.engine = engine;
    }

    pub fn set_clean(&mut self, clean: Vec<NamedCorpus>) {
        self.clean = clean.into();
    }

    /// Takes a newer report (a live run's rebuild, another file): the corpus
    /// is rebuilt lazily from its sections, and a pin being shown is
    /// evaluated again against it, so the verdict is never about an older
    /// report.
    pub fn set_report(&mut self, report: &Report, rows: usize) {
        let view = LazyView::new(report);
        if view.same_sections(&self.view) {
            return;
        }
        self.view = Arc::new(view);
        self.kept.clear();
        self.kept_window = 0..0;
        if self.evaluation.is_some() || self.pending() {
            self.edited(rows);
        }
    }

    /// The corpus view, built now if no thread has built it yet.
    pub fn view(&self) -> &CorpusView {
        self.view.get()
    }

    /// The corpus view for drawing: `None` while the worker thread builds
    /// it (its `Reply::CorpusReady` asks for a redraw). An inline engine
    /// (tests) has it built now.
    pub fn view_if_ready(&self) -> Option<&CorpusView> {
        match self.engine {
            Engine::Inline { .. } => Some(self.view.get()),
            Engine::Thread { .. } => self.view.ready(),
        }
    }

    pub fn input(&self, field: Field) -> &LineInput {
        match field {
            Field::Contains => &self.contains,
            Field::Matches => &self.matches,
        }
    }

    pub fn input_mut(&mut self) -> &mut LineInput {
        match self.focus {
            Field::Contains => &mut self.contains,
            Field::Matches => &mut self.matches,
        }
    }

    pub fn focus(&self) -> Field {
        self.focus
    }

    pub fn switch_field(&mut self) {
        self.focus = match self.focus {
            Field::Contains => Field::Matches,
            Field::Matches => Field::Contains,
        };
    }

    pub fn editing(&self) -> bool {
        self.editing
    }

    pub fn set_editing(&mut self, editing: bool) {
        self.editing = editing;
    }

    /// The pin as typed: an empty field is not set.
    pub fn pin(&self) -> Pin {
        let get = |i: &LineInput| Some(i.text().to_string()).filter(|t| !t.is_empty());
        Pin {
            contains: get(&self.contains),
            matches: get(&self.matches),
        }
    }

    pub fn generation(&self) -> u64 {
        self.gen
    }

    /// The evaluation of the pin as typed, once it has arrived.
    pub fn evaluation(&self) -> Option<&Evaluation> {
        self.evaluation
            .as_deref()
            .filter(|_| self.evaluated_gen == self.gen)
    }

    /// How long the last evaluation took on the worker.
    pub fn last_took(&self) -> Option<Duration> {
        self.took
    }

    pub fn pending(&self) -> bool {
        self.evaluated_gen != self.gen
    }

    pub fn current_match(&self) -> Option<Range<usize>> {
        self.current.clone()
    }

    pub fn set_current_match(&mut self, m: Option<Range<usize>>) {
        self.current = m;
    }

    pub fn kept_window(&self) -> Range<usize> {
        self.kept_window.clone()
    }

    pub fn suggestion(&self) -> Option<&PinSuggestion> {
        self.suggestion.as_ref()?.as_ref().ok()
    }

    pub fn suggest_requested(&self) -> bool {
        self.suggest_requested
    }

    /// The fix of the first diagnostic that offers one, if it differs from
    /// the field already.
    pub fn fix(&self) -> Option<(Field, String)> {
        self.evaluation()?
            .validation
            .diagnostics
            .iter()
            .filter_map(|d| d.suggestion.as_ref())
            .find(|s| self.input(s.field).text() != s.pattern)
            .map(|s| (s.field, s.pattern.clone()))
    }

    pub fn has_matches(&self) -> bool {
        self.evaluation().is_some_and(|e| {
            [Field::Contains, Field::Matches]
                .iter()
                .any(|&f| e.outcome(f).is_some_and(|o| o.total > 0))
        })
    }

    fn job(&self, gen: u64, cancel: Cancel, request: Request) -> Job {
        Job {
            gen,
            cancel,
            corpus: JobCorpus::Lazy(Arc::clone(&self.view)),
            request,
        }
    }

    /// Starts a new generation for the pin as now typed: cancels the running
    /// search and asks for an evaluation with positions kept in `window`.
    fn pin_changed(&mut self, window: Range<usize>) {
        self.gen += 1;
        self.cancel.cancel();
        self.cancel = Cancel::new();
        self.current = None;
        self.hints.clear();
        self.control = None;
        let pin = self.pin();
        if pin.contains.is_none() && pin.matches.is_none() {
            self.evaluation = None;
            self.evaluated_gen = self.gen;
            self.kept.clear();
            return;
        }
        let request = Request::Evaluate {
            pin,
            window,
            clean: Arc::clone(&self.clean),
        };
        let job = self.job(self.gen, self.cancel.clone(), request);
        self.engine.submit(job);
    }

    /// Asks for the positions in another window (after scrolling).
    fn request_window(&mut self, window: Range<usize>) {
        if self.evaluation().is_none() {
            return;
        }
        // Asked once per window: until the reply, scrolling inside it asks nothing.
        self.kept_window = window.clone();
        let job = self.job(self.gen, self.cancel.clone(), Request::Window { window });
        self.engine.submit(job);
    }

    fn request_jump(&mut self, from: usize, inclusive: bool, forward: bool) {
        let job = self.job(
            self.gen,
            self.cancel.clone(),
            Request::Jump {
                from,
                inclusive,
                forward,
            },
        );
        self.engine.submit(job);
    }

    /// Suggestions for the report's (selected) crash, or for one line.
    pub fn request_suggestion(&mut self, from: SuggestFrom, label: String) {
        self.suggest_requested = true;
        self.suggest_gen += 1;
        self.suggestion = None;
        self.suggestion_from = label;
        // Typing must not cancel a suggestion: it gets a flag nobody sets.
        let job = self.job(self.suggest_gen, Cancel::new(), Request::Suggest(from));
        self.engine.submit(job);
    }

    /// Fills the fields with the suggestion; false when there is none.
    pub fn accept_suggestion(&mut self) -> bool {
        let Some(s) = self.suggestion().cloned() else {
            return false;
        };
        self.contains.set(s.contains.as_deref().unwrap_or(""));
        self.matches.set(s.matches.as_deref().unwrap_or(""));
        true
    }

    pub fn apply_fix(&mut self) -> bool {
        let Some((field, pattern)) = self.fix() else {
            return false;
        };
        match field {
            Field::Contains => self.contains.set(&pattern),
            Field::Matches => self.matches.set(&pattern),
        }
        self.focus = field;
        true
    }

    /// Takes a reply into the state; what changed, for [`Workbench::on_reply`].
    fn absorb(&mut self, reply: Reply) -> Applied {
        match reply {
            Reply::Evaluated {
                gen,
                window,
                evaluation,
                took,
            } => {
                if gen != self.gen {
                    return Applied::Stale;
                }
                self.kept = [Field::Contains, Field::Matches]
                    .into_iter()
                    .filter_map(|f| evaluation.outcome(f).map(|o| (f, o.kept.clone())))
                    .collect();
                self.kept_truncated = [Field::Contains, Field::Matches]
                    .iter()
                    .any(|&f| evaluation.outcome(f).is_some_and(|o| o.kept_truncated));
                self.kept_window = window;
                self.evaluation = Some(evaluation);
                self.evaluated_gen = gen;
                self.took = Some(took);
                Applied::Evaluated
            }
            Reply::Hint { gen, field, hint } if gen == self.gen => {
                let at = hint.as_ref().map(|h| h.matched.clone());
                self.hints.push((field, hint));
                match at {
                    Some(m) => Applied::Hint(m),
                    None => Applied::Changed,
                }
            }
            Reply::Control { gen, report } if gen == self.gen => {
                self.control = Some(report);
                Applied::Changed
            }
            Reply::Window {
                gen,
                window,
                kept,
                truncated,
            } if gen == self.gen => {
                self.kept = kept;
                self.kept_window = window;
                self.kept_truncated = truncated;
                Applied::Changed
            }
            Reply::Jumped {
                gen,
                target,
                wrapped,
            } if gen == self.gen => {
                if target.is_some() {
                    self.current = target.clone();
                }
                Applied::Jumped { target, wrapped }
            }
            Reply::Suggested { gen, result } if gen == self.suggest_gen => {
                self.suggestion = Some(result);
                Applied::Changed
            }
            Reply::CorpusReady => Applied::Changed,
            Reply::Died => Applied::Died,
            _ => Applied::Stale,
        }
    }

    /// Whether any kept match overlaps `bytes`.
    pub fn kept_overlaps(&self, bytes: &Range<usize>) -> bool {
        self.kept
            .iter()
            .flat_map(|(_, v)| v)
            .any(|m| m.start < bytes.end && m.end > bytes.start)
    }

    /// The first kept match starting inside `bytes`.
    pub fn first_kept_in(&self, bytes: &Range<usize>) -> Option<Range<usize>> {
        self.kept
            .iter()
            .flat_map(|(_, v)| v)
            .filter(|m| bytes.contains(&m.start))
            .min_by_key(|m| m.start)
            .cloned()
    }

    /// The earliest first match over both fields.
    pub fn first_match(&self) -> Option<Range<usize>> {
        let e = self.evaluation()?;
        [Field::Contains, Field::Matches]
            .iter()
            .filter_map(|&f| e.outcome(f)?.first.clone())
            .min_by_key(|m| m.start)
    }

    /// What `e`, `y` and `w` export: the pin as a `#[ktstr_test]`.
    pub fn export_spec(&self, report: &Report, crash_scheduler: Option<&str>) -> ExportSpec {
        let pin = self.pin();
        let sched = report
            .header
            .scheduler
            .as_deref()
            .or(crash_scheduler)
            .unwrap_or("sched");
        let words = pin
            .contains
            .as_deref()
            .or(pin.matches.as_deref())
            .unwrap_or("pin");
        ExportSpec {
            test_name: suggest_test_name(sched, words),
            scheduler: scheduler_const(sched),
            contains: pin.contains,
            matches: pin.matches,
            matches_const: None,
            topology: scxray::matcher::report_topology(report),
        }
    }

    // --- the corpus viewport: `rows` is how many corpus lines the pane shows ---

    /// (top line, rows) of the corpus view, the top clamped to the content.
    pub fn viewport(&self, rows: usize) -> (usize, usize) {
        let rows = rows.max(1);
        let total = self.view_if_ready().map_or(0, CorpusView::line_count);
        (self.scroll.min(total.saturating_sub(rows)), rows)
    }

    fn visible_bytes(&self, rows: usize) -> Range<usize> {
        let (top, rows) = self.viewport(rows);
        self.view().bytes_of_lines(top, top + rows)
    }

    /// The window searched for positions: the screen and half a screen
    /// around it, so short scrolls need no new search.
    fn search_window(&self, rows: usize) -> Range<usize> {
        let (top, rows) = self.viewport(rows);
        self.view()
            .bytes_of_lines(top.saturating_sub(rows / 2), top + rows + rows / 2)
    }

    /// The pin was edited: evaluate it again.
    pub fn edited(&mut self, rows: usize) {
        let window = self.search_window(rows);
        self.pin_changed(window);
    }

    /// Asks for positions when the screen shows corpus the last window did
    /// not cover (after a scroll or a resize).
    pub fn sync_window(&mut self, rows: usize) {
        if self.evaluation().is_none() {
            return;
        }
        let visible = self.visible_bytes(rows);
        let kept = self.kept_window();
        if !(kept.start <= visible.start && visible.end <= kept.end) {
            let window = self.search_window(rows);
            self.request_window(window);
        }
    }

    /// Scrolls by lines or pages, then fetches positions for the new place.
    pub fn scroll_by(&mut self, action: Action, rows: usize) {
        let total = self.view_if_ready().map_or(0, CorpusView::line_count);
        self.scroll = action.scrolled(self.scroll, total, rows);
        self.sync_window(rows);
    }

    /// Scrolls so the line holding `offset` is visible, a third down the
    /// view when it has to move.
    fn scroll_to_offset(&mut self, offset: usize, rows: usize) {
        let line = self.view().line_of(offset);
        let (top, rows) = self.viewport(rows);
        if line < top || line >= top + rows {
            self.scroll = line.saturating_sub(rows / 3);
        }
        self.sync_window(rows);
    }

    /// n/N: the next or previous match from the current one, or from the
    /// screen. A message when there is nothing to jump to.
    pub fn jump(&mut self, forward: bool, rows: usize) -> Option<String> {
        if !self.has_matches() {
            return Some("no matches".into());
        }
        let visible = self.visible_bytes(rows);
        let (from, inclusive) = match self.current_match() {
            Some(m) => (m.start, false),
            None if forward => (visible.start, true),
            None => (visible.end, false),
        };
        self.request_jump(from, inclusive, forward);
        None
    }

    /// `s`: candidates from the current match's line, else the first match
    /// on screen, else the top line.
    pub fn suggest_for_line(&mut self, rows: usize) {
        let (top, _) = self.viewport(rows);
        let visible = self.visible_bytes(rows);
        let view = self.view();
        let i = self
            .current_match()
            .or_else(|| self.first_kept_in(&visible))
            .map_or(top, |m| view.line_of(m.start));
        if i >= view.line_count() {
            return;
        }
        let line = view.line(i).to_string();
        self.request_suggestion(SuggestFrom::Line(line), format!("line {}", i + 1));
    }

    /// Applies a reply and reacts as incremental search does (a new
    /// evaluation shows its first match when none is on screen). Whether
    /// the screen changed, and a status message.
    pub fn on_reply(&mut self, reply: Reply, rows: usize) -> (bool, Option<String>) {
        match self.absorb(reply) {
            Applied::Stale => (false, None),
            Applied::Changed | Applied::Died => (true, None),
            Applied::Evaluated => {
                let visible = self.visible_bytes(rows);
                if self.has_matches() && !self.kept_overlaps(&visible) {
                    if let Some(first) = self.first_match() {
                        self.set_current_match(Some(first.clone()));
                        self.scroll_to_offset(first.start, rows);
                    }
                } else {
                    self.sync_window(rows);
                }
                (true, None)
            }
            Applied::Hint(at) => {
                if !self.has_matches() {
                    self.scroll_to_offset(at.start, rows);
                }
                (true, None)
            }
            Applied::Jumped { target, wrapped } => {
                let Some(t) = target else {
                    return (true, Some("no match to jump to".into()));
                };
                self.scroll_to_offset(t.start, rows);
                let line = self.view().line_of(t.start) + 1;
                let status = if wrapped {
                    format!("match at line {line} (wrapped around)")
                } else {
                    format!("match at line {line}")
                };
                (true, Some(status))
            }
        }
    }

    /// Applies what an inline engine computed; whether anything changed and
    /// the last status message.
    pub fn drain_inline(&mut self, rows: usize) -> (bool, Option<String>) {
        let (mut changed, mut status) = (false, None);
        while let Some(reply) = self.engine.take_inline() {
            let (c, s) = self.on_reply(reply, rows);
            changed |= c;
            status = s.or(status);
        }
        (changed, status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scxray::matcher::Corpus;
    use scxray::report::{SectionKind, Text};

    #[test]
    fn the_worker_builds_the_corpus_view() {
        let section = |kind, body: &str| scxray::report::Section {
            kind,
            body: Text::from(body),
        };
        let report = Report {
            header: Default::default(),
            sections: vec![
                section(SectionKind::SchedulerLog, "l1\nl2"),
                section(SectionKind::SchedExtDump, "d1"),
            ],
            crashes: vec![],
            selected: None,
            notes: vec![],
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let mut wb = Workbench::default();
        wb.set_engine(Engine::spawn(move |r| tx.send(r).is_ok()).expect("spawn"));
        wb.set_report(&report, 10);
        assert!(wb.view_if_ready().is_none(), "not built for drawing");
        wb.request_suggestion(SuggestFrom::Line("l2".into()), "l2".into());
        let wait = || rx.recv_timeout(Duration::from_secs(20)).expect("reply");
        let ready = wait();
        assert!(matches!(ready, Reply::CorpusReady), "{ready:?}");
        assert_eq!(wb.on_reply(ready, 10), (true, None), "a redraw");
        let view = wb.view_if_ready().expect("built by the worker");
        assert_eq!(view.corpus, Corpus::from_report(&report));
        assert_eq!(view.line_count(), 6);
        assert!(matches!(wait(), Reply::Suggested { .. }));
    }
}
