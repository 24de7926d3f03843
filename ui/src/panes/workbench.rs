//! The matcher workbench: draft an `expect_scx_bpf_error_*` pin against the
//! exact corpus ktstr matches, and see on every keystroke whether ktstr would
//! accept it, how often each field matches, every diagnostic, where a
//! missing match stops matching, and whether clean runs match too.
//!
//! [`Workbench`] is the state (the two fields, the latest results, the
//! engine that runs searches); the app owns it and hands it to
//! [`WorkbenchPane`] through [`Ctx`] for drawing. Results arrive as
//! [`Reply`]s tagged with a generation; anything older than the current
//! pin is dropped.

use std::cell::OnceCell;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use scxray::matcher::export::suggest_test_name;
use scxray::matcher::pin::scheduler_const;
use scxray::matcher::{
    ControlReport, Corpus, Evaluation, ExportSpec, Field, NamedCorpus, Pin, PinSuggestion,
    PrefixHint, Severity,
};
use scxray::report::{Report, SectionKind, Text};
use unicode_width::UnicodeWidthChar;

use super::text::{caret, LineIndex, TAB_WIDTH};
use super::{wrap, Ctx, Pane};
use crate::theme::Theme;
use crate::worker::{Engine, Job, JobCorpus, Reply, Request, SuggestFrom};

/// Rows the corpus view keeps (plus its rule) before info lines are cut.
const MIN_CORPUS_ROWS: u16 = 3;
/// Label column of the two fields.
const LABEL_WIDTH: usize = 11;
/// Room for the match count right of a field.
const COUNT_WIDTH: usize = 14;

/// One editable line of text with a cursor (a byte offset on a char boundary).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineInput {
    text: String,
    cursor: usize,
}

impl LineInput {
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Replaces the text; the cursor goes to the end.
    pub fn set(&mut self, text: &str) {
        self.text = text.to_string();
        self.cursor = self.text.len();
    }

    pub fn insert(&mut self, c: char) {
        self.text.insert(self.cursor, c);
        self.cursor += c.len_utf8();
    }

    fn prev(&self) -> Option<usize> {
        self.text[..self.cursor]
            .char_indices()
            .last()
            .map(|(i, _)| i)
    }

    fn next(&self) -> Option<usize> {
        self.text[self.cursor..]
            .chars()
            .next()
            .map(|c| self.cursor + c.len_utf8())
    }

    /// Each edit returns whether the text changed (and a search is due).
    pub fn backspace(&mut self) -> bool {
        let Some(p) = self.prev() else { return false };
        self.text.replace_range(p..self.cursor, "");
        self.cursor = p;
        true
    }

    pub fn delete(&mut self) -> bool {
        let Some(n) = self.next() else { return false };
        self.text.replace_range(self.cursor..n, "");
        true
    }

    pub fn left(&mut self) {
        self.cursor = self.prev().unwrap_or(0);
    }

    pub fn right(&mut self) {
        self.cursor = self.next().unwrap_or(self.text.len());
    }

    pub fn home(&mut self) {
        self.cursor = 0;
    }

    pub fn end(&mut self) {
        self.cursor = self.text.len();
    }

    /// Ctrl-U: delete from the start to the cursor.
    pub fn delete_to_start(&mut self) -> bool {
        let changed = self.cursor > 0;
        self.text.replace_range(..self.cursor, "");
        self.cursor = 0;
        changed
    }

    /// Ctrl-W: delete the spaces before the cursor, then the word before them.
    pub fn delete_word(&mut self) -> bool {
        let before = &self.text[..self.cursor];
        let trimmed = before.trim_end_matches(char::is_whitespace);
        let start = trimmed
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_whitespace())
            .map_or(0, |(i, c)| i + c.len_utf8());
        let changed = start < self.cursor;
        self.text.replace_range(start..self.cursor, "");
        self.cursor = start;
        changed
    }
}

/// The corpus and where its lines start, built once on first use: a 100 MB
/// report costs one copy and one memchr pass only if the workbench is opened.
/// See [`LazyView`] for which thread pays for them.
pub struct CorpusView {
    pub corpus: Corpus,
    lines: LineIndex,
}

impl CorpusView {
    fn new(corpus: Corpus) -> CorpusView {
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

/// The workbench's state: the pin being typed and what is known about it.
pub struct Workbench {
    view: OnceCell<Arc<LazyView>>,
    contains: LineInput,
    matches: LineInput,
    focus: Field,
    editing: bool,
    clean: Arc<[NamedCorpus]>,
    engine: Engine,
    /// Bumped on every pin change; replies of older generations are dropped.
    gen: u64,
    cancel: Arc<AtomicBool>,
    /// The latest evaluation and the generation it belongs to (older than
    /// `gen` while a search is running: it stays on screen until replaced).
    evaluation: Option<Arc<Evaluation>>,
    evaluated_gen: u64,
    took: Option<Duration>,
    /// Match positions near the viewport, per field, and the window they cover.
    kept: Vec<(Field, Vec<Range<usize>>)>,
    kept_window: Range<usize>,
    kept_truncated: bool,
    hints: Vec<(Field, Option<PrefixHint>)>,
    control: Option<ControlReport>,
    /// The n/N position.
    current: Option<Range<usize>>,
    suggestion: Option<Result<PinSuggestion, String>>,
    /// Where the suggestion comes from, for its label.
    suggestion_from: String,
    suggest_gen: u64,
    suggest_requested: bool,
}

impl Default for Workbench {
    fn default() -> Workbench {
        Workbench::new(Vec::new())
    }
}

/// What a reply changed, for the app to react to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
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
            view: OnceCell::new(),
            contains: LineInput::default(),
            matches: LineInput::default(),
            focus: Field::Contains,
            editing: false,
            clean: clean.into(),
            engine: Engine::default(),
            gen: 0,
            cancel: Arc::new(AtomicBool::new(false)),
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

    /// The corpus view, built now if no thread has built it yet.
    pub fn view(&self, report: &Report) -> &CorpusView {
        self.lazy_view(report).get()
    }

    fn lazy_view(&self, report: &Report) -> &Arc<LazyView> {
        self.view.get_or_init(|| Arc::new(LazyView::new(report)))
    }

    /// The corpus view for drawing: `None` while the worker thread builds
    /// it (its `Reply::CorpusReady` asks for a redraw). An inline engine
    /// (tests) has it built now.
    pub fn view_if_ready(&self, report: &Report) -> Option<&CorpusView> {
        let lazy = self.lazy_view(report);
        match self.engine {
            Engine::Inline { .. } => Some(lazy.get()),
            Engine::Thread { .. } => lazy.ready(),
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

    fn job(&self, report: &Report, gen: u64, cancel: Arc<AtomicBool>, request: Request) -> Job {
        Job {
            gen,
            cancel,
            corpus: JobCorpus::Lazy(Arc::clone(self.lazy_view(report))),
            request,
        }
    }

    /// Starts a new generation for the pin as now typed: cancels the running
    /// search and asks for an evaluation with positions kept in `window`.
    pub fn pin_changed(&mut self, report: &Report, window: Range<usize>) {
        self.gen += 1;
        self.cancel.store(true, Ordering::Relaxed);
        self.cancel = Arc::new(AtomicBool::new(false));
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
        let job = self.job(report, self.gen, Arc::clone(&self.cancel), request);
        self.engine.submit(job);
    }

    /// Asks for the positions in another window (after scrolling).
    pub fn request_window(&mut self, report: &Report, window: Range<usize>) {
        if self.evaluation().is_none() {
            return;
        }
        // Asked once per window: until the reply, scrolling inside it asks nothing.
        self.kept_window = window.clone();
        let job = self.job(
            report,
            self.gen,
            Arc::clone(&self.cancel),
            Request::Window { window },
        );
        self.engine.submit(job);
    }

    pub fn request_jump(&mut self, report: &Report, from: usize, inclusive: bool, forward: bool) {
        let job = self.job(
            report,
            self.gen,
            Arc::clone(&self.cancel),
            Request::Jump {
                from,
                inclusive,
                forward,
            },
        );
        self.engine.submit(job);
    }

    /// Suggestions for the report's (selected) crash, or for one line.
    pub fn request_suggestion(&mut self, report: &Report, from: SuggestFrom, label: String) {
        self.suggest_requested = true;
        self.suggest_gen += 1;
        self.suggestion = None;
        self.suggestion_from = label;
        // Typing must not cancel a suggestion: it gets a flag nobody sets.
        let job = self.job(
            report,
            self.suggest_gen,
            Arc::new(AtomicBool::new(false)),
            Request::Suggest(from),
        );
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

    /// A reply produced by an inline engine, if any is waiting.
    pub fn take_inline_reply(&mut self) -> Option<Reply> {
        self.engine.take_inline()
    }

    pub fn apply_reply(&mut self, reply: Reply) -> Applied {
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
        }
    }

    // --- drawing ---

    /// Splits the pane: info lines on top (cut to leave the corpus
    /// [`MIN_CORPUS_ROWS`]), a rule, then the corpus.
    pub fn layout(&self, ctx: &Ctx<'_>, area: Rect) -> WbLayout {
        let mut info = self.info_lines(ctx, area.width);
        let max_info = if area.height > MIN_CORPUS_ROWS + 3 {
            area.height - MIN_CORPUS_ROWS - 1
        } else {
            area.height
        };
        let max_info = usize::from(max_info);
        if info.len() > max_info && max_info > 0 {
            let hidden = info.len() - max_info + 1;
            info.truncate(max_info - 1);
            info.push(Line::styled(
                format!("… {hidden} more lines: make the terminal taller"),
                ctx.theme.dim,
            ));
        }
        let info_h = u16::try_from(info.len())
            .unwrap_or(u16::MAX)
            .min(area.height);
        let rest = area.height - info_h;
        let rule_h = rest.min(1);
        let corpus_h = rest - rule_h;
        WbLayout {
            info: Rect::new(area.x, area.y, area.width, info_h),
            rule: Rect::new(area.x, area.y + info_h, area.width, rule_h),
            corpus: Rect::new(area.x, area.y + info_h + rule_h, area.width, corpus_h),
            info_lines: info,
        }
    }

    /// Where the terminal cursor goes while editing: in the focused field.
    pub fn cursor_position(&self, layout: &WbLayout) -> Option<Position> {
        if !self.editing {
            return None;
        }
        let row = match self.focus {
            Field::Contains => 0,
            Field::Matches => 1,
        };
        if row >= layout.info.height {
            return None;
        }
        let (_, col) = field_view(self.input(self.focus), field_width(layout.info.width), true);
        let x = layout.info.x + u16::try_from(LABEL_WIDTH + col).ok()?;
        (x < layout.info.right()).then_some(Position::new(x, layout.info.y + row))
    }

    fn info_lines(&self, ctx: &Ctx<'_>, width: u16) -> Vec<Line<'static>> {
        let theme = ctx.theme;
        let width = usize::from(width).max(1);
        let mut out = vec![
            self.field_line(Field::Contains, width, theme),
            self.field_line(Field::Matches, width, theme),
        ];
        let text = |out: &mut Vec<Line<'static>>, s: &str, style: Style| {
            for piece in wrap(s, width) {
                out.push(Line::styled(piece.to_string(), style));
            }
        };
        let pin = self.pin();
        let set = pin.contains.is_some() || pin.matches.is_some();
        // While a search runs, the previous result stays, marked as checking.
        let eval = self.evaluation.as_deref().filter(|_| set);
        if !set {
            text(
                &mut out,
                "Enter or i edits a field: contains is a literal, matches a regex (Tab switches \
                 while editing). ktstr requires every set field to match the scheduler log + \
                 sched_ext dump shown below.",
                theme.dim,
            );
        } else if let Some(e) = eval {
            out.extend(self.verdict_lines(e, width, theme));
            for d in &e.validation.diagnostics {
                let style = match d.severity {
                    Severity::Error => theme.error,
                    Severity::Warning => theme.warning,
                    Severity::Info => theme.dim,
                };
                let mut first = true;
                for line in d.message.lines() {
                    if line.starts_with("    ") {
                        // The caret must stay under the pattern: cut, never wrap.
                        out.push(Line::raw(line.to_string()));
                    } else if first {
                        let head = format!("{}: {line}", d.severity.label());
                        text(&mut out, &head, style);
                    } else {
                        text(&mut out, line, style);
                    }
                    first = false;
                }
                if let Some(s) = &d.suggestion {
                    text(
                        &mut out,
                        &format!("  fix (f): {} = {}", short(s.field), s.pattern),
                        theme.key,
                    );
                }
            }
            if !self.pending() {
                self.hint_lines(e, &mut out, width, theme);
                self.control_lines(&mut out, width, theme);
            }
        } else {
            text(&mut out, "checking…", theme.dim);
        }
        self.suggestion_lines(&mut out, width, theme);
        out
    }

    fn field_line(&self, field: Field, width: usize, theme: &Theme) -> Line<'static> {
        let focused = self.focus == field;
        let marker = match (focused, self.editing) {
            (true, true) => "✎ ",
            (true, false) => "▸ ",
            _ => "  ",
        };
        let label = format!("{marker}{:<w$}", short(field), w = LABEL_WIDTH - 2);
        let input = self.input(field);
        let fw = field_width(u16::try_from(width).unwrap_or(u16::MAX));
        let editing = focused && self.editing;
        let mut spans = vec![Span::styled(
            label,
            if focused { theme.key } else { theme.label },
        )];
        if input.text().is_empty() && !editing {
            let placeholder = match field {
                Field::Contains => "(not set: a literal substring)",
                Field::Matches => "(not set: a regex, regex crate syntax)",
            };
            let p: String = placeholder.chars().take(fw).collect();
            let n = p.chars().count();
            spans.push(Span::styled(p, theme.dim));
            spans.push(Span::raw(" ".repeat(fw.saturating_sub(n))));
        } else {
            let (shown, col) = field_view(input, fw, editing);
            let chars: Vec<char> = shown.chars().collect();
            if editing {
                // Split around the cursor cell so it can be drawn reversed.
                let mut before = String::new();
                let mut at = None;
                let mut after = String::new();
                let mut c = 0;
                for ch in chars {
                    if c < col {
                        before.push(ch);
                    } else if at.is_none() {
                        at = Some(ch.to_string());
                    } else {
                        after.push(ch);
                    }
                    c += ch.width().unwrap_or(0);
                }
                // At the end of the text the cursor sits on a blank cell.
                let at = at.unwrap_or_else(|| " ".to_string());
                let used = col + Line::raw(at.as_str()).width() + Line::raw(after.as_str()).width();
                spans.push(Span::raw(before));
                spans.push(Span::styled(at, theme.cursor));
                spans.push(Span::raw(after));
                spans.push(Span::raw(" ".repeat(fw.saturating_sub(used))));
            } else {
                let used = Line::raw(shown.as_str()).width();
                spans.push(Span::raw(shown));
                spans.push(Span::raw(" ".repeat(fw.saturating_sub(used))));
            }
        }
        let (count, style) = self.count_label(field, theme);
        spans.push(Span::styled(
            format!(" {count:>w$}", w = COUNT_WIDTH - 1),
            style,
        ));
        Line::from(spans)
    }

    fn count_label(&self, field: Field, theme: &Theme) -> (String, Style) {
        if self.input(field).text().is_empty() {
            return (String::new(), theme.dim);
        }
        let Some(e) = self.evaluation.as_deref() else {
            return ("…".into(), theme.dim);
        };
        let stale = self.pending();
        let (label, style) = match e.outcome(field) {
            Some(o) => match o.total {
                0 => ("no match".to_string(), theme.error),
                1 => ("1 match".to_string(), theme.ok),
                n => (format!("{n} matches"), theme.ok),
            },
            None if e
                .validation
                .diagnostics
                .iter()
                .any(|d| d.severity == Severity::Error && d.field == Some(field)) =>
            {
                ("invalid".to_string(), theme.error)
            }
            None => (String::new(), theme.dim),
        };
        if stale {
            (format!("{label}…"), theme.dim)
        } else {
            (label, style)
        }
    }

    fn verdict_lines(&self, e: &Evaluation, width: usize, theme: &Theme) -> Vec<Line<'static>> {
        let both = self.pin().contains.is_some() && self.pin().matches.is_some();
        let too_broad = self.control.as_ref().is_some_and(ControlReport::too_broad);
        let (word, style, rest) = match e.satisfied() {
            None => (
                "INVALID",
                theme.error,
                "ktstr's pin check rejects this pin; through #[ktstr_test] it would \
                 silently check nothing"
                    .to_string(),
            ),
            Some(true) if too_broad => (
                "TOO BROAD",
                theme.warning,
                "ktstr would accept this failure, but also a clean run".to_string(),
            ),
            Some(true) => (
                "PASS",
                theme.ok,
                "ktstr would accept this failure as the pinned bug".to_string(),
            ),
            Some(false) => (
                "FAIL",
                theme.error,
                format!(
                    "ktstr would reject this failure: the pinned bug did not fire{}",
                    if both {
                        " (both fields must match)"
                    } else {
                        ""
                    }
                ),
            ),
        };
        let pending = if self.pending() { " (checking…)" } else { "" };
        let full = format!("{word}  {rest}{pending}");
        wrap(&full, width)
            .into_iter()
            .enumerate()
            .map(|(i, piece)| {
                if i == 0 && piece.starts_with(word) {
                    Line::from(vec![
                        Span::styled(word.to_string(), style),
                        Span::raw(piece[word.len()..].to_string()),
                    ])
                } else {
                    Line::raw(piece.to_string())
                }
            })
            .collect()
    }

    fn hint_lines(
        &self,
        e: &Evaluation,
        out: &mut Vec<Line<'static>>,
        width: usize,
        theme: &Theme,
    ) {
        for field in [Field::Contains, Field::Matches] {
            if e.outcome(field).is_none_or(|o| o.total != 0) {
                continue;
            }
            let name = short(field);
            let text = match self.hints.iter().find(|(f, _)| *f == field) {
                None => {
                    format!("{name}: no match; looking for the longest leading part that matches…")
                }
                Some((_, None)) => {
                    format!("{name}: no match, and no leading part of the pattern matches anywhere")
                }
                Some((_, Some(h))) => format!(
                    "{name}: no match; the longest leading part that matches is \"{}\", first at \
                     line {}, column {} ({}):",
                    h.prefix,
                    h.at.line,
                    h.at.column,
                    h.at.region.label()
                ),
            };
            for piece in wrap(&text, width) {
                out.push(Line::styled(piece.to_string(), theme.warning));
            }
            if let Some((_, Some(h))) = self.hints.iter().find(|(f, _)| *f == field) {
                out.push(Line::styled(
                    format!("    {}", h.at.line_text.trim_end()),
                    theme.dim,
                ));
            }
        }
    }

    fn control_lines(&self, out: &mut Vec<Line<'static>>, width: usize, theme: &Theme) {
        if self.clean.is_empty() {
            return;
        }
        let Some(control) = &self.control else {
            if self
                .evaluation()
                .is_some_and(|e| e.validation.pin.is_some())
            {
                out.push(Line::styled(
                    format!("checking {} clean corpora…", self.clean.len()),
                    theme.dim,
                ));
            }
            return;
        };
        for r in &control.results {
            let (text, style) = if r.too_broad {
                let at = r
                    .hits
                    .iter()
                    .map(|h| format!("{} at line {}", short(h.field), h.at.line))
                    .collect::<Vec<_>>()
                    .join(", ");
                (
                    format!("too broad: the pin also passes on clean {} ({at})", r.name),
                    theme.warning,
                )
            } else if r.hits.is_empty() {
                (format!("clean {}: no hits (good)", r.name), theme.ok)
            } else {
                (
                    format!(
                        "clean {}: only part of the pin hits; ktstr's AND still rejects it",
                        r.name
                    ),
                    theme.dim,
                )
            };
            for piece in wrap(&text, width) {
                out.push(Line::styled(piece.to_string(), style));
            }
        }
    }

    fn suggestion_lines(&self, out: &mut Vec<Line<'static>>, width: usize, theme: &Theme) {
        let Some(result) = &self.suggestion else {
            if self.suggest_requested {
                out.push(Line::styled(
                    format!("suggesting from {}…", self.suggestion_from),
                    theme.dim,
                ));
            }
            return;
        };
        match result {
            Err(e) => {
                for piece in wrap(&format!("no suggestion: {e}"), width) {
                    out.push(Line::styled(piece.to_string(), theme.dim));
                }
            }
            Ok(s) => {
                let accepted = s.as_pin() == self.pin();
                let head = if accepted {
                    format!("suggested from {} (accepted):", self.suggestion_from)
                } else {
                    format!("suggested from {} (a accepts):", self.suggestion_from)
                };
                out.push(Line::styled(head, theme.label));
                for (field, value) in [(Field::Contains, &s.contains), (Field::Matches, &s.matches)]
                {
                    let Some(v) = value else { continue };
                    let shown = match field {
                        Field::Contains => format!("{v:?}"),
                        Field::Matches => v.clone(),
                    };
                    let line = format!("  {:<9}{shown}", short(field));
                    out.push(Line::from(cut(&line, width)));
                }
                if s.contains.is_none() && s.matches.is_none() {
                    for n in &s.notes {
                        for piece in wrap(&format!("  {n}"), width) {
                            out.push(Line::styled(piece.to_string(), theme.dim));
                        }
                    }
                }
            }
        }
    }

    fn render_rule(&self, view: &CorpusView, area: Rect, buf: &mut Buffer, theme: &Theme) {
        if area.is_empty() {
            return;
        }
        let mut label = format!(
            "── corpus: scheduler log + sched_ext dump, {} lines, {} bytes ",
            view.line_count(),
            view.corpus.len()
        );
        if let Some(m) = &self.current {
            label.push_str(&format!("── match at line {} ", view.line_of(m.start) + 1));
        }
        if self.kept_truncated {
            label.push_str("── highlights capped ");
        }
        rule(label, area, buf, theme);
    }

    fn render_corpus(
        &self,
        view: &CorpusView,
        area: Rect,
        top: usize,
        buf: &mut Buffer,
        theme: &Theme,
    ) {
        let total = view.line_count();
        if area.is_empty() || total == 0 {
            return;
        }
        let rows = usize::from(area.height);
        let first = top.min(total - 1);
        let last = (first + rows).min(total);
        let visible = view.bytes_of_lines(first, last);
        // Every kept match touching the screen, the current one marked.
        let mut marks: Vec<(Range<usize>, Style)> = self
            .kept
            .iter()
            .flat_map(|(_, v)| v.iter())
            .filter(|m| !m.is_empty() && m.start < visible.end && m.end > visible.start)
            .map(|m| {
                let style = if self.current.as_ref() == Some(m) {
                    theme.current_match
                } else {
                    theme.matched
                };
                (m.clone(), style)
            })
            .collect();
        // Where a missing pattern's longest leading part matches.
        marks.extend(
            self.hints
                .iter()
                .filter_map(|(_, h)| h.as_ref())
                .map(|h| h.matched.clone())
                .filter(|m| !m.is_empty() && m.start < visible.end && m.end > visible.start)
                .map(|m| (m, theme.warning)),
        );
        marks.sort_by_key(|(m, _)| m.start);
        let current_line = self.current.as_ref().map(|m| view.line_of(m.start));
        let digits = total.to_string().len();
        let gutter = usize::from(area.width) >= digits + 8;
        let text_width = usize::from(area.width) - if gutter { digits + 1 } else { 0 };
        for (row, i) in area.rows().zip(first..last) {
            let mut spans = Vec::new();
            if gutter {
                let here = current_line == Some(i);
                spans.push(Span::styled(
                    format!("{:>digits$}", i + 1),
                    if here {
                        theme.warning
                    } else {
                        theme.line_number
                    },
                ));
                spans.push(Span::styled(
                    if here { "▌" } else { "│" },
                    if here { theme.warning } else { theme.dim },
                ));
            }
            spans.extend(styled_line(
                view.line(i),
                view.line_start(i),
                &marks,
                text_width,
                theme,
            ));
            buf.set_line(row.x, row.y, &Line::from(spans), row.width);
        }
    }
}

/// The parts of the workbench pane.
pub struct WbLayout {
    pub info: Rect,
    pub rule: Rect,
    pub corpus: Rect,
    info_lines: Vec<Line<'static>>,
}

/// `contains` / `matches`.
fn short(field: Field) -> &'static str {
    match field {
        Field::Contains => "contains",
        Field::Matches => "matches",
    }
}

fn field_width(width: u16) -> usize {
    usize::from(width)
        .saturating_sub(LABEL_WIDTH + COUNT_WIDTH)
        .max(1)
}

/// A field's text as shown in `width` columns (controls in caret notation)
/// and the cursor's column. While editing, the text scrolls so the cursor
/// stays visible; otherwise it is cut with `…`.
fn field_view(input: &LineInput, width: usize, editing: bool) -> (String, usize) {
    let shown = |c: char| -> String {
        if c.is_control() {
            format!("^{}", caret(c))
        } else {
            c.to_string()
        }
    };
    let cells: Vec<(String, usize, usize)> = input
        .text()
        .char_indices()
        .map(|(i, c)| {
            let s = shown(c);
            let w = Line::raw(s.as_str()).width();
            (s, i, w)
        })
        .collect();
    let cursor_col: usize = cells
        .iter()
        .take_while(|(_, i, _)| *i < input.cursor())
        .map(|(_, _, w)| w)
        .sum();
    // Leave one column for the cursor cell at the end.
    let room = if editing {
        width.saturating_sub(1)
    } else {
        width
    };
    let mut skip_cols = 0;
    if editing && cursor_col > room {
        skip_cols = cursor_col - room;
    }
    let mut out = String::new();
    let mut col = 0;
    let mut skipped = 0;
    let mut cut = false;
    for (s, _, w) in &cells {
        if skipped < skip_cols {
            skipped += w;
            continue;
        }
        if col + w > width {
            cut = true;
            break;
        }
        out.push_str(s);
        col += w;
    }
    if cut && !editing {
        // Make room for the cut mark.
        while Line::raw(out.as_str()).width() + 1 > width {
            out.pop();
        }
        out.push('…');
    }
    (out, cursor_col - skipped.min(cursor_col))
}

/// The line above the corpus: `label`, then `─` to the edge.
fn rule(mut label: String, area: Rect, buf: &mut Buffer, theme: &Theme) {
    if area.is_empty() {
        return;
    }
    let w = usize::from(area.width);
    let used = Line::raw(label.as_str()).width();
    label.push_str(&"─".repeat(w.saturating_sub(used)));
    buf.set_line(
        area.x,
        area.y,
        &Line::from(cut(&label, w)).style(theme.dim),
        area.width,
    );
}

/// `s` cut to `width` columns, with `…` when something was left out.
fn cut(s: &str, width: usize) -> String {
    if Line::raw(s).width() <= width {
        return s.to_string();
    }
    let mut out = String::new();
    let mut col = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if col + w + 1 > width {
            break;
        }
        out.push(c);
        col += w;
    }
    out.push('…');
    out
}

/// One corpus line in `width` columns, tabs expanded and controls in caret
/// notation, with every byte inside a mark drawn in the mark's style. A cut
/// line ends in `…`, in the match style when a match goes on past the cut.
fn styled_line(
    line: &str,
    line_start: usize,
    marks: &[(Range<usize>, Style)],
    width: usize,
    theme: &Theme,
) -> Vec<Span<'static>> {
    let char_width = |c: char, col: usize| match c {
        '\t' => TAB_WIDTH - col % TAB_WIDTH,
        c if c.is_control() => 2,
        c => c.width().unwrap_or(0),
    };
    // Where the line is cut: the whole line when it fits, else leave a
    // column for the mark.
    let fits = |limit: usize| {
        let mut col = 0;
        for (i, c) in line.char_indices() {
            let w = char_width(c, col);
            if col + w > limit {
                return (i, true);
            }
            col += w;
        }
        (line.len(), false)
    };
    let (mut end, mut is_cut) = fits(width);
    if is_cut {
        (end, is_cut) = (fits(width.saturating_sub(1)).0, width > 0);
    }
    let style_at = |abs: usize| {
        marks
            .iter()
            .find(|(m, _)| m.start <= abs && abs < m.end)
            .map(|(_, s)| *s)
    };
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut piece = String::new();
    let mut piece_style: Option<Style> = None;
    let mut col = 0;
    for (i, c) in line[..end].char_indices() {
        let style = style_at(line_start + i);
        if style != piece_style && !piece.is_empty() {
            spans.push(Span::styled(
                std::mem::take(&mut piece),
                piece_style.unwrap_or_default(),
            ));
        }
        piece_style = style;
        let w = char_width(c, col);
        match c {
            '\t' => piece.extend(std::iter::repeat_n(' ', w)),
            c if c.is_control() => {
                piece.push('^');
                piece.push(caret(c));
            }
            c => piece.push(c),
        }
        col += w;
    }
    if !piece.is_empty() {
        spans.push(Span::styled(piece, piece_style.unwrap_or_default()));
    }
    if is_cut {
        let hidden_match = marks
            .iter()
            .any(|(m, _)| m.end > line_start + end && m.start < line_start + line.len());
        spans.push(Span::styled(
            "…",
            if hidden_match {
                theme.matched
            } else {
                theme.dim
            },
        ));
    }
    spans
}

/// The tab for the workbench; its state lives in [`Ctx::workbench`].
pub struct WorkbenchPane;

impl Pane for WorkbenchPane {
    fn title(&self, _ctx: &Ctx<'_>) -> String {
        "Workbench".into()
    }

    fn role(&self) -> Option<super::Role> {
        Some(super::Role::Workbench)
    }

    fn line_count(&self, ctx: &Ctx<'_>, _width: u16) -> usize {
        ctx.workbench
            .and_then(|wb| wb.view_if_ready(ctx.report))
            .map_or(0, CorpusView::line_count)
    }

    fn viewport_rows(&self, ctx: &Ctx<'_>, body: Rect) -> usize {
        ctx.workbench
            .map_or(0, |wb| usize::from(wb.layout(ctx, body).corpus.height))
    }

    fn render(&self, ctx: &Ctx<'_>, area: Rect, scroll: usize, buf: &mut Buffer) {
        let Some(wb) = ctx.workbench else {
            return;
        };
        let layout = wb.layout(ctx, area);
        for (row, line) in layout.info.rows().zip(&layout.info_lines) {
            buf.set_line(row.x, row.y, line, row.width);
        }
        match wb.view_if_ready(ctx.report) {
            Some(view) => {
                wb.render_rule(view, layout.rule, buf, ctx.theme);
                wb.render_corpus(view, layout.corpus, scroll, buf, ctx.theme);
            }
            None => rule(
                "── corpus: scheduler log + sched_ext dump, loading… ".into(),
                layout.rule,
                buf,
                ctx.theme,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_input_edits_on_char_boundaries() {
        let mut i = LineInput::default();
        for c in "héllo".chars() {
            i.insert(c);
        }
        assert_eq!((i.text(), i.cursor()), ("héllo", 6));
        i.left();
        i.left();
        i.left();
        assert_eq!(i.cursor(), 3, "just after the 2-byte é");
        assert!(i.backspace());
        assert_eq!(i.text(), "hllo");
        assert!(i.delete());
        assert_eq!(i.text(), "hlo");
        i.home();
        assert!(!i.backspace(), "nothing before the start");
        i.end();
        assert!(!i.delete(), "nothing after the end");
        i.set("scx_bpf_error  (x");
        assert!(i.delete_word());
        assert_eq!(i.text(), "scx_bpf_error  ");
        assert!(i.delete_word());
        assert_eq!(i.text(), "");
        i.set("abc");
        i.left();
        assert!(i.delete_to_start());
        assert_eq!((i.text(), i.cursor()), ("c", 0));
    }

    #[test]
    fn field_view_scrolls_to_the_cursor() {
        let mut i = LineInput::default();
        i.set("0123456789");
        assert_eq!(field_view(&i, 6, true), ("56789".to_string(), 5));
        assert_eq!(field_view(&i, 6, false), ("01234…".to_string(), 10));
        i.home();
        assert_eq!(field_view(&i, 6, true), ("012345".to_string(), 0));
        i.set("a\u{1b}");
        assert_eq!(field_view(&i, 10, false).0, "a^[");
    }

    #[test]
    fn styled_line_marks_matches_and_cuts() {
        let theme = Theme::dark();
        let marks = [(2..4, theme.matched), (8..12, theme.matched)];
        let spans = styled_line("a\tbc d", 0, &marks[..1], 20, &theme);
        let text: Vec<(&str, Style)> = spans
            .iter()
            .map(|s| (s.content.as_ref(), s.style))
            .collect();
        assert_eq!(
            text,
            [
                ("a       ", Style::default()),
                ("bc", theme.matched),
                (" d", Style::default())
            ]
        );
        // A match past the cut colours the cut mark.
        let spans = styled_line("0123456789abc", 0, &marks[1..], 6, &theme);
        let last = spans.last().expect("mark");
        assert_eq!((last.content.as_ref(), last.style), ("…", theme.matched));
    }

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
        assert!(wb.view_if_ready(&report).is_none(), "not built for drawing");
        wb.request_suggestion(&report, SuggestFrom::Line("l2".into()), "l2".into());
        let wait = || rx.recv_timeout(Duration::from_secs(20)).expect("reply");
        let ready = wait();
        assert!(matches!(ready, Reply::CorpusReady), "{ready:?}");
        assert_eq!(wb.apply_reply(ready), Applied::Changed, "a redraw");
        let view = wb.view_if_ready(&report).expect("built by the worker");
        assert_eq!(view.corpus, Corpus::from_report(&report));
        assert_eq!(view.line_count(), 6);
        assert!(matches!(wait(), Reply::Suggested { .. }));
    }
}
