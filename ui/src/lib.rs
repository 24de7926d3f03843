//! scxray's terminal UI: shows a parsed crash [`Report`] in panes.
//!
//! - [`app`]: state, the pure key handler, layout and drawing of the screen.
//! - [`keymap`]: the key table that also generates hints and help.
//! - [`panes`]: one file per pane (summary, backtrace, CPU states, section text,
//!   notes, the matcher workbench) plus the help and export overlays.
//! - [`worker`]: the workbench's searches, on a thread of their own.
//! - [`theme`]: styles by role; [`terminal`]: raw mode, alternate screen and
//!   the panic hook that restores them.
//!
//! [`run_open`] is what the binary calls: an input thread and the matcher
//! worker both send into one channel, and the loop blocks on it, so it wakes
//! for a key or a search result and an idle UI uses no CPU. [`run`] is the
//! same loop over any backend and a synchronous event source, with searches
//! run inline, for tests.

use std::io::{self, Write};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::Engine as _;
use crossterm::event::Event;
use ratatui::backend::Backend;
use ratatui::Terminal;
use scxray::matcher::NamedCorpus;
use scxray::report::Report;

pub mod app;
pub mod keymap;
pub mod panes;
pub mod runner;
pub mod syntax;
pub mod terminal;
pub mod theme;
pub mod worker;

pub use app::{handle_key, App, Effect, EffectOutcome};
pub use keymap::Action;
pub use worker::Reply;

/// What wakes the event loop.
#[derive(Debug)]
pub enum AppEvent {
    Term(Event),
    Worker(Reply),
    /// Reading the terminal failed; the loop stops with this error.
    InputFailed(io::Error),
    /// A live run's event, with its host time (ms since the run started).
    Run(scxray::run::live::Event, u64),
    /// The live run's thread ended; how, in words.
    RunDone(String),
}

/// Options of `scxray open`.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Clean runs' corpora for the workbench's negative control.
    pub clean: Vec<NamedCorpus>,
    /// `--theme` (`None`: dark, or plain under `NO_COLOR`).
    pub theme: Option<theme::Theme>,
    /// The user's keys (`None`: the defaults).
    pub keymap: Option<keymap::Keymap>,
    /// Directories where a clicked backtrace frame's function is looked up.
    pub source_roots: Vec<std::path::PathBuf>,
}

/// Opens `report` in the terminal until the user quits. `source` is the input's
/// name for the title bar.
pub fn run_open(report: Report, source: &str) -> anyhow::Result<()> {
    run_open_with(report, source, OpenOptions::default())
}

/// [`run_open`] with options.
pub fn run_open_with(report: Report, source: &str, options: OpenOptions) -> anyhow::Result<()> {
    let mut app = App::new(report, source)
        .with_clean(options.clean)
        .with_source_roots(options.source_roots);
    if let Some(theme) = options.theme {
        app = app.with_theme(theme);
    }
    if let Some(keymap) = options.keymap {
        app = app.with_keymap(keymap);
    }
    run_app(app, |_| Ok(())).map(|_| ())
}

/// Runs `app` in the terminal until the user quits and returns it. `start`
/// gets a sender for extra events (a live run's thread) before the loop starts.
pub fn run_app(
    mut app: App,
    start: impl FnOnce(mpsc::Sender<AppEvent>) -> anyhow::Result<()>,
) -> anyhow::Result<App> {
    let (tx, rx) = mpsc::channel();
    let worker_tx = tx.clone();
    app.set_engine(
        worker::Engine::spawn(move |reply| worker_tx.send(AppEvent::Worker(reply)).is_ok())
            .context("cannot start the matcher worker thread")?,
    );
    start(tx.clone())?;
    let mut tui = terminal::Tui::enter()?;
    thread::Builder::new()
        .name("scxray-input".into())
        .spawn(move || loop {
            let (event, stop) = match crossterm::event::read() {
                Ok(e) => (AppEvent::Term(e), false),
                Err(e) => (AppEvent::InputFailed(e), true),
            };
            if tx.send(event).is_err() || stop {
                break;
            }
        })
        .context("cannot start the input thread")?;
    event_loop(
        tui.terminal(),
        &mut app,
        || rx.recv().context("all event sources stopped"),
        || rx.try_recv().ok(),
        |app| {
            for effect in app.take_effects() {
                let outcome = perform(effect, &mut io::stdout().lock());
                app.effect_done(outcome);
            }
        },
    )?;
    Ok(app)
}

pub fn run<B>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    mut next_event: impl FnMut() -> io::Result<Event>,
) -> anyhow::Result<()>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
{
    run_events(terminal, app, || {
        next_event()
            .map(AppEvent::Term)
            .context("cannot read terminal input")
    })
}

/// [`run`] over [`AppEvent`]s: terminal events and worker replies in the
/// order a test chooses.
pub fn run_events<B>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    next_event: impl FnMut() -> anyhow::Result<AppEvent>,
) -> anyhow::Result<()>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
{
    event_loop(terminal, app, next_event, || None, |_| {})
}

/// Most run events folded into one report rebuild.
const RUN_BATCH_EVENTS: usize = 100_000;
/// Longest time spent folding one batch, so a guest that floods faster than
/// the UI reads still gets the screen redrawn.
const RUN_BATCH_TIME: Duration = Duration::from_millis(8);

/// Folds `first` and the run events already queued behind it (`try_next`,
/// bounded by [`RUN_BATCH_EVENTS`] and [`RUN_BATCH_TIME`]) into the app with
/// one report rebuild. Returns the first other event taken off the queue, to
/// be handled next, before anything still queued.
fn fold_run_events(
    app: &mut App,
    first: (scxray::run::live::Event, u64),
    try_next: &mut impl FnMut() -> Option<AppEvent>,
) -> Option<AppEvent> {
    let start = Instant::now();
    let mut taken = 1;
    let mut other = None;
    let queued = std::iter::from_fn(|| {
        if other.is_some() || taken >= RUN_BATCH_EVENTS || start.elapsed() >= RUN_BATCH_TIME {
            return None;
        }
        match try_next()? {
            AppEvent::Run(event, at) => {
                taken += 1;
                Some((event, at))
            }
            e => {
                other = Some(e);
                None
            }
        }
    });
    app.live_events(std::iter::once(first).chain(queued));
    other
}

fn event_loop<B>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    mut next_event: impl FnMut() -> anyhow::Result<AppEvent>,
    mut try_next_event: impl FnMut() -> Option<AppEvent>,
    mut perform_effects: impl FnMut(&mut App),
) -> anyhow::Result<()>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
{
    let size = terminal.size().context("cannot read the terminal size")?;
    app.resize(size.width, size.height);
    // An event taken off the queue while batching run events: the next one.
    let mut pending: Option<AppEvent> = None;
    loop {
        terminal
            .draw(|frame| {
                frame.render_widget(&*app, frame.area());
                if let Some(p) = app.cursor_position(frame.area()) {
                    frame.set_cursor_position(p);
                }
            })
            .context("cannot draw")?;
        loop {
            let event = match pending.take() {
                Some(e) => e,
                None => next_event()?,
            };
            match event {
                AppEvent::Term(Event::Key(key)) => match handle_key(app, key) {
                    Action::Quit => return Ok(()),
                    Action::None => continue,
                    _ => {
                        perform_effects(app);
                        break;
                    }
                },
                AppEvent::Term(Event::Resize(width, height)) => {
                    app.resize(width, height);
                    break;
                }
                AppEvent::Term(Event::Mouse(mouse)) => {
                    if app.mouse(mouse) {
                        break;
                    }
                }
                // Focus and paste events are not used.
                AppEvent::Term(_) => continue,
                AppEvent::Worker(Reply::Died) => bail!("the matcher worker thread stopped"),
                AppEvent::Worker(reply) => {
                    if app.on_reply(reply) {
                        break;
                    }
                }
                AppEvent::InputFailed(e) => {
                    return Err(e).context("cannot read terminal input");
                }
                AppEvent::Run(event, at) => {
                    // Everything already queued, one rebuild, one draw.
                    pending = fold_run_events(app, (event, at), &mut try_next_event);
                    break;
                }
                AppEvent::RunDone(message) => {
                    app.live_finished(message);
                    break;
                }
            }
        }
    }
}

/// The OSC 52 sequence that asks the terminal to put `text` on the
/// clipboard (`c`). tmux and most terminals accept it; over ssh it is the
/// only way to reach the local clipboard.
pub fn osc52(text: &str) -> String {
    format!(
        "\x1b]52;c;{}\x07",
        base64::engine::general_purpose::STANDARD.encode(text)
    )
}

/// Performs one effect: the clipboard sequence goes to `terminal`, files go
/// to disk (never over an existing file unless the effect says so).
pub fn perform(effect: Effect, terminal: &mut impl Write) -> EffectOutcome {
    match effect {
        Effect::Copy { name, text } => {
            match terminal
                .write_all(osc52(&text).as_bytes())
                .and_then(|()| terminal.flush())
            {
                Ok(()) => EffectOutcome::Copied {
                    name,
                    bytes: text.len(),
                },
                Err(e) => EffectOutcome::Failed(format!("cannot write to the terminal: {e}")),
            }
        }
        Effect::Write {
            path,
            contents,
            overwrite,
        } => {
            let mut options = std::fs::OpenOptions::new();
            options.write(true);
            if overwrite {
                options.create(true).truncate(true);
            } else {
                // Atomic check: no window between "does it exist" and writing.
                options.create_new(true);
            }
            match options
                .open(&path)
                .and_then(|mut f| f.write_all(contents.as_bytes()))
            {
                Ok(()) => EffectOutcome::Written(path),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => EffectOutcome::Exists(path),
                Err(e) => EffectOutcome::Failed(format!("cannot write {}: {e}", path.display())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyCode, KeyEvent};
    use ratatui::backend::TestBackend;
    use scxray::report::SectionKind;
    use scxray::run::live::{Event as RunEvent, LiveRun, RunMeta};

    fn live_app() -> App {
        let live = LiveRun::new(RunMeta {
            test_name: "flood".into(),
            ..RunMeta::default()
        });
        App::new(live.report(), "test").with_live(live)
    }

    fn console(i: u64) -> AppEvent {
        AppEvent::Run(RunEvent::Console(format!("flood line {i}")), i)
    }

    fn console_body(app: &App) -> String {
        app.report()
            .section(&SectionKind::Console)
            .map_or_else(String::new, |s| s.body.to_string())
    }

    fn quit() -> AppEvent {
        AppEvent::Term(Event::Key(KeyEvent::from(KeyCode::Char('q'))))
    }

    fn run_queue(app: &mut App, rx: &mpsc::Receiver<AppEvent>) {
        let mut terminal = Terminal::new(TestBackend::new(100, 30)).expect("terminal");
        event_loop(
            &mut terminal,
            app,
            || rx.recv().context("all event sources stopped"),
            || rx.try_recv().ok(),
            |_| {},
        )
        .expect("event loop");
    }

    #[test]
    fn live_events_rebuild_the_report_once() {
        let mut app = live_app();
        let before = app.live_refreshes();
        app.live_events((0..10_000).map(|i| (RunEvent::Console(format!("flood line {i}")), i)));
        assert_eq!(app.live_refreshes(), before + 1);
        assert!(console_body(&app).ends_with("flood line 9999"));
    }

    #[test]
    fn queued_run_events_share_one_rebuild() {
        let (tx, rx) = mpsc::channel();
        for i in 0..10_000 {
            tx.send(console(i)).expect("send");
        }
        tx.send(quit()).expect("send");
        let mut app = live_app();
        let before = app.live_refreshes();
        run_queue(&mut app, &rx);
        let rebuilds = app.live_refreshes() - before;
        // One batch, or a few where the time bound cut it.
        assert!((1..=20).contains(&rebuilds), "{rebuilds} rebuilds");
        assert!(console_body(&app).ends_with("flood line 9999"));
    }

    #[test]
    fn a_key_behind_run_events_is_handled_before_later_ones() {
        let (tx, rx) = mpsc::channel();
        for i in 0..100 {
            tx.send(console(i)).expect("send");
        }
        tx.send(quit()).expect("send");
        for i in 100..200 {
            tx.send(console(i)).expect("send");
        }
        let mut app = live_app();
        run_queue(&mut app, &rx);
        assert!(console_body(&app).ends_with("flood line 99"));
        assert_eq!(
            rx.try_iter().count(),
            100,
            "events after the quit key stay queued"
        );
    }
}
