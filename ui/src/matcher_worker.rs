//! The matcher workbench's searches, off the UI thread.
//!
//! Every edit of a pin bumps a generation number, sets the previous
//! generation's cancel flag and sends a [`Job`]; the worker answers with
//! [`Reply`]s tagged with that generation, and the app drops any reply whose
//! generation is no longer current. Viewport moves and n/N jumps are jobs too:
//! on a 100 MB corpus with sparse matches even "the next match" can be a long
//! scan, and the UI must never wait on one.
//!
//! [`Engine::Inline`] runs the very same [`WorkerState::process`] on the
//! caller's thread, so tests and benches see deterministic results right
//! after each key.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use scxray::cancel::Cancel;
use scxray::matcher::{
    evaluate, negative_control, suggest_for_line, suggest_for_report, ControlReport, Corpus,
    Evaluation, Field, NamedCorpus, Pin, PinSuggestion, PrefixHint, SuggestError, DEFAULT_MAX_KEPT,
};
use scxray::report::Report;

use crate::corpus_view::LazyView;

/// Most match positions kept per field for one viewport window.
pub const MAX_KEPT: usize = DEFAULT_MAX_KEPT;

/// One request to the worker.
pub struct Job {
    /// The pin generation this job belongs to.
    pub gen: u64,
    /// Set when a newer generation supersedes this job.
    pub cancel: Cancel,
    pub corpus: JobCorpus,
    pub request: Request,
}

/// The corpus a job searches.
#[derive(Clone)]
pub enum JobCorpus {
    Ready(Corpus),
    /// Built by the first job that needs it: the copy of a 100 MB report
    /// happens here, not on the UI thread. The worker sends
    /// [`Reply::CorpusReady`] when it built it.
    Lazy(Arc<LazyView>),
}

impl From<Corpus> for JobCorpus {
    fn from(corpus: Corpus) -> JobCorpus {
        JobCorpus::Ready(corpus)
    }
}

pub enum Request {
    /// A new pin: evaluate it (counts, kept positions in `window`,
    /// diagnostics), then the prefix hint of each field that matches
    /// nothing, then the negative control.
    Evaluate {
        pin: Pin,
        window: Range<usize>,
        clean: Arc<[NamedCorpus]>,
    },
    /// The kept positions for another viewport, from the last evaluation.
    Window { window: Range<usize> },
    /// The nearest match after (`forward`) or before `from`, over both
    /// fields, wrapping around the corpus. `inclusive` also accepts a match
    /// starting at `from` (for the first jump from a viewport's top).
    Jump {
        from: usize,
        inclusive: bool,
        forward: bool,
    },
    /// Pin candidates from the report's crash or from one line.
    Suggest(SuggestFrom),
}

pub enum SuggestFrom {
    /// The report with the crash to pin selected.
    Report(Box<Report>),
    Line(String),
}

#[derive(Debug, Clone)]
pub enum Reply {
    Evaluated {
        gen: u64,
        window: Range<usize>,
        evaluation: Arc<Evaluation>,
        /// Time spent in `evaluate`, shown in the pane.
        took: Duration,
    },
    Hint {
        gen: u64,
        field: Field,
        hint: Option<PrefixHint>,
    },
    Control {
        gen: u64,
        report: ControlReport,
    },
    Window {
        gen: u64,
        window: Range<usize>,
        kept: Vec<(Field, Vec<Range<usize>>)>,
        truncated: bool,
    },
    Jumped {
        gen: u64,
        target: Option<Range<usize>>,
        wrapped: bool,
    },
    Suggested {
        /// Suggestions have their own counter: typing does not cancel them.
        gen: u64,
        result: Result<PinSuggestion, SuggestError>,
    },
    /// The worker built the workbench's corpus view: it can be drawn.
    CorpusReady,
    /// The worker thread panicked; the app cannot go on without it.
    Died,
}

/// What the worker remembers between jobs: the last evaluation, which
/// window and jump requests are answered from.
#[derive(Default)]
pub struct WorkerState {
    last: Option<(u64, Arc<Evaluation>)>,
}

impl WorkerState {
    /// Runs one job, sending each reply as soon as it is known. Stops early
    /// when the job is cancelled or `send` reports the app is gone.
    pub fn process(&mut self, job: Job, send: &mut dyn FnMut(Reply) -> bool) {
        let Job {
            gen,
            cancel,
            corpus,
            request,
        } = job;
        let cancelled = || cancel.is_cancelled();
        if cancelled() {
            return;
        }
        let corpus = match corpus {
            JobCorpus::Ready(corpus) => corpus,
            JobCorpus::Lazy(lazy) => {
                let (view, built) = lazy.build();
                if built && !send(Reply::CorpusReady) {
                    return;
                }
                view.corpus.clone()
            }
        };
        match request {
            Request::Evaluate { pin, window, clean } => {
                let start = Instant::now();
                let Ok(evaluation) = evaluate(&pin, &corpus, window.clone(), MAX_KEPT, &cancel)
                else {
                    return;
                };
                let evaluation = Arc::new(evaluation);
                self.last = Some((gen, Arc::clone(&evaluation)));
                if !send(Reply::Evaluated {
                    gen,
                    window,
                    evaluation: Arc::clone(&evaluation),
                    took: start.elapsed(),
                }) {
                    return;
                }
                // Hints and the control come after the verdict frame: they
                // cost extra scans the user should not wait for.
                for field in [Field::Contains, Field::Matches] {
                    let Some(o) = evaluation.outcome(field).filter(|o| o.total == 0) else {
                        continue;
                    };
                    let Ok(hint) = o.searcher().longest_matching_prefix(&corpus, &cancel) else {
                        return;
                    };
                    if !send(Reply::Hint { gen, field, hint }) {
                        return;
                    }
                }
                if let Some(compiled) = &evaluation.validation.pin {
                    if !clean.is_empty() && !cancelled() {
                        let report = negative_control(compiled, &clean);
                        send(Reply::Control { gen, report });
                    }
                }
            }
            Request::Window { window } => {
                let Some(evaluation) = self.current(gen) else {
                    return;
                };
                let mut truncated = false;
                let kept = [Field::Contains, Field::Matches]
                    .into_iter()
                    .filter_map(|f| {
                        let o = evaluation.outcome(f)?;
                        let (kept, more) = o.in_window(corpus.as_str(), window.clone(), MAX_KEPT);
                        truncated |= more;
                        Some((f, kept))
                    })
                    .collect();
                send(Reply::Window {
                    gen,
                    window,
                    kept,
                    truncated,
                });
            }
            Request::Jump {
                from,
                inclusive,
                forward,
            } => {
                let Some(evaluation) = self.current(gen) else {
                    return;
                };
                let (target, wrapped) = jump(&evaluation, &corpus, from, inclusive, forward);
                send(Reply::Jumped {
                    gen,
                    target,
                    wrapped,
                });
            }
            Request::Suggest(from) => {
                let result = match from {
                    SuggestFrom::Report(report) => suggest_for_report(&report, &corpus),
                    SuggestFrom::Line(line) => Ok(suggest_for_line(&line, &corpus)),
                };
                send(Reply::Suggested { gen, result });
            }
        }
    }

    fn current(&self, gen: u64) -> Option<Arc<Evaluation>> {
        self.last
            .as_ref()
            .filter(|(g, _)| *g == gen)
            .map(|(_, e)| Arc::clone(e))
    }
}

/// The nearest match over both fields, wrapping like vi's search.
fn jump(
    e: &Evaluation,
    corpus: &Corpus,
    from: usize,
    inclusive: bool,
    forward: bool,
) -> (Option<Range<usize>>, bool) {
    let text = corpus.as_str();
    let outcomes: Vec<_> = [Field::Contains, Field::Matches]
        .into_iter()
        .filter_map(|f| e.outcome(f))
        .filter(|o| o.total > 0)
        .collect();
    let pick = |found: Vec<Range<usize>>| {
        if forward {
            found.into_iter().min_by_key(|m| m.start)
        } else {
            found.into_iter().max_by_key(|m| m.start)
        }
    };
    let near = pick(
        outcomes
            .iter()
            .filter_map(|o| {
                if forward {
                    match from.checked_sub(usize::from(inclusive)) {
                        Some(after) => o.next_after(text, after),
                        // Inclusive from 0: the scan's first match.
                        None => o.first.clone(),
                    }
                } else {
                    o.prev_before(text, from)
                }
            })
            .collect(),
    );
    if near.is_some() {
        return (near, false);
    }
    let wrapped = pick(
        outcomes
            .iter()
            .filter_map(|o| {
                if forward {
                    o.first.clone()
                } else {
                    o.last.clone()
                }
            })
            .collect(),
    );
    let did_wrap = wrapped.is_some();
    (wrapped, did_wrap)
}

/// Where the workbench's jobs run.
pub enum Engine {
    /// On the caller's thread; replies queue in `inbox` for the app to apply.
    Inline {
        state: WorkerState,
        inbox: VecDeque<Reply>,
    },
    /// On a worker thread; replies arrive through the app's event channel.
    Thread { jobs: Sender<Job> },
}

impl Default for Engine {
    fn default() -> Engine {
        Engine::Inline {
            state: WorkerState::default(),
            inbox: VecDeque::new(),
        }
    }
}

impl Engine {
    /// Starts a worker thread that hands each reply to `send`, which returns
    /// false once the app is gone. The thread ends when the engine is dropped.
    pub fn spawn(send: impl FnMut(Reply) -> bool + Send + 'static) -> std::io::Result<Engine> {
        let (jobs, rx) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name("scxray-matcher".into())
            .spawn(move || {
                let mut guard = DeathNotice { send };
                let mut state = WorkerState::default();
                // Blocks between jobs: an idle workbench costs no CPU.
                for job in rx {
                    let mut alive = true;
                    state.process(job, &mut |r| {
                        alive = (guard.send)(r);
                        alive
                    });
                    if !alive {
                        break;
                    }
                }
            })?;
        Ok(Engine::Thread { jobs })
    }

    pub fn submit(&mut self, job: Job) {
        match self {
            Engine::Inline { state, inbox } => state.process(job, &mut |r| {
                inbox.push_back(r);
                true
            }),
            Engine::Thread { jobs } => {
                // A send fails only when the worker died, which it reports
                // through `Reply::Died` itself.
                let _ = jobs.send(job);
            }
        }
    }

    /// The next reply an inline engine produced, if any.
    pub fn take_inline(&mut self) -> Option<Reply> {
        match self {
            Engine::Inline { inbox, .. } => inbox.pop_front(),
            Engine::Thread { .. } => None,
        }
    }
}

/// Tells the app when the worker thread unwinds from a panic, so the UI
/// stops instead of waiting forever for results.
struct DeathNotice<F: FnMut(Reply) -> bool> {
    send: F,
}

impl<F: FnMut(Reply) -> bool> Drop for DeathNotice<F> {
    fn drop(&mut self) {
        if thread::panicking() {
            (self.send)(Reply::Died);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(gen: u64, cancel: &Cancel, corpus: &Corpus, request: Request) -> Job {
        Job {
            gen,
            cancel: cancel.clone(),
            corpus: corpus.clone().into(),
            request,
        }
    }

    fn eval(pin: Pin, window: Range<usize>) -> Request {
        Request::Evaluate {
            pin,
            window,
            clean: Arc::from(Vec::new()),
        }
    }

    #[test]
    fn thread_worker_answers_and_skips_cancelled_jobs() {
        let corpus = Corpus::new(Some("a boom\nb\nboom c"), None);
        let (tx, rx) = mpsc::channel();
        let mut engine = Engine::spawn(move |r| tx.send(r).is_ok()).expect("spawn");
        let old = Cancel::new();
        old.cancel();
        engine.submit(job(1, &old, &corpus, eval(Pin::contains("a"), 0..0)));
        let cur = Cancel::new();
        engine.submit(job(2, &cur, &corpus, eval(Pin::contains("boom"), 0..100)));
        engine.submit(job(
            2,
            &cur,
            &corpus,
            Request::Jump {
                from: 3,
                inclusive: false,
                forward: true,
            },
        ));
        match rx.recv().expect("reply") {
            Reply::Evaluated {
                gen, evaluation, ..
            } => {
                assert_eq!(gen, 2, "the cancelled generation never ran");
                assert_eq!(evaluation.contains.as_ref().map(|o| o.total), Some(2));
            }
            other => panic!("{other:?}"),
        }
        match rx.recv().expect("reply") {
            Reply::Jumped { target, .. } => assert_eq!(target, Some(9..13)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn jumps_wrap_both_ways() {
        let corpus = Corpus::from_raw("x1 x2 x3");
        let never = Cancel::new();
        let mut engine = Engine::default();
        engine.submit(job(1, &never, &corpus, eval(Pin::contains("x"), 0..8)));
        assert!(matches!(
            engine.take_inline(),
            Some(Reply::Evaluated { .. })
        ));
        let mut jump = |from, inclusive, forward| {
            engine.submit(job(
                1,
                &never,
                &corpus,
                Request::Jump {
                    from,
                    inclusive,
                    forward,
                },
            ));
            match engine.take_inline() {
                Some(Reply::Jumped {
                    target, wrapped, ..
                }) => (target.map(|t| t.start), wrapped),
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(jump(0, true, true), (Some(0), false));
        assert_eq!(jump(0, false, true), (Some(3), false));
        assert_eq!(jump(6, false, true), (Some(0), true));
        assert_eq!(jump(0, false, false), (Some(6), true));
        assert_eq!(jump(6, false, false), (Some(3), false));
    }

    #[test]
    fn miss_sends_a_prefix_hint_and_stale_generation_gets_no_window() {
        let corpus = Corpus::from_raw("scx_bpf_error here");
        let never = Cancel::new();
        let mut engine = Engine::default();
        engine.submit(job(
            3,
            &never,
            &corpus,
            eval(Pin::contains("scx_bpf_errno"), 0..10),
        ));
        assert!(matches!(
            engine.take_inline(),
            Some(Reply::Evaluated { .. })
        ));
        match engine.take_inline() {
            Some(Reply::Hint {
                field: Field::Contains,
                hint: Some(h),
                ..
            }) => assert_eq!(h.prefix, "scx_bpf_err"),
            other => panic!("{other:?}"),
        }
        engine.submit(job(2, &never, &corpus, Request::Window { window: 0..5 }));
        assert!(engine.take_inline().is_none());
    }
}
