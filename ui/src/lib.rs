//! scxray's terminal UI: shows a parsed crash [`Report`] in panes.
//!
//! scxray's terminal UI: shows a parsed crash [`Report`] in panes, live or
//! from a file.
//!
//! | module | holds |
//! |---|---|
//! | [`app`] | state and the pure key handler; layout, chrome, prompt, mouse, live mode (one file each) |
//! | [`panes`] | one file per pane (the pane list is in `panes/mod.rs`) and the help and export overlays |
//! | [`workbench`] | the matcher workbench component: pin, results, corpus, its scroll |
//! | [`matcher_worker`] | the workbench's searches, on a thread of their own |
//! | [`corpus_view`] | the workbench's corpus with its line index, shared by both |
//! | [`source_lookup`] | where a frame's function is defined, on a thread of its own |
//! | [`find`] | search and filter in text panes (plain or regex, smart case) |
//! | [`line_index`], [`widgets`] | line starts of a large text; a fitted styled line, a text field |
//! | [`live_run`], [`live_feed`] | `scxray demo`/`run`: planning, the run thread, headless mode, saving; the live report built off the UI thread |
//! | [`keymap`], [`theme`], [`syntax`], [`terminal`] | keys as data, styles by role, syntect, raw mode and the panic hook |
//!
//! [`run_open`] is what the binary calls: the input thread, the matcher
//! worker, the source lookup and a live run's thread all send into one
//! channel, and the loop blocks on it, so it wakes for a key or a result and
//! an idle UI uses no CPU. [`run_with_events`] is the same loop over any backend and a
//! synchronous event source, with everything run inline, for tests.

use std::io::{self, Write};
use std::sync::mpsc;
use std::thread;

use anyhow::{bail, Context};
use base64::Engine as _;
use crossterm::event::Event;
use ratatui::backend::Backend;
use ratatui::Terminal;
use scxray::matcher::NamedCorpus;
use scxray::report::Report;

pub mod app;
pub mod corpus_view;
pub mod find;
pub mod keymap;
pub mod line_index;
pub mod live_feed;
pub mod live_run;
pub mod matcher_worker;
pub mod panes;
pub mod source_lookup;
pub mod syntax;
pub mod terminal;
pub mod theme;
pub mod widgets;
pub mod workbench;

pub use app::{handle_key, App, Effect, EffectOutcome};
pub use keymap::Action;
pub use matcher_worker::Reply;

/// What wakes the event loop.
#[derive(Debug)]
pub enum AppEvent {
    Term(Event),
    Worker(Reply),
    /// Reading the terminal failed; the loop stops with this error.
    InputFailed(io::Error),
    /// A new frame of a live run (built on the live feed thread).
    LiveFrame(Box<live_feed::LiveFrame>),
    /// The live run's title with its clock moved on (nothing else changed).
    LiveTitle(String),
    /// The live run ended; how, in words.
    RunDone(String),
    /// A source lookup finished.
    Source(source_lookup::SourceReply),
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
    let mut app = App::new(report, source).with_clean(options.clean);
    app.set_source_roots(options.source_roots);
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
        matcher_worker::Engine::spawn(move |reply| worker_tx.send(AppEvent::Worker(reply)).is_ok())
            .context("cannot start the matcher worker thread")?,
    );
    let source_tx = tx.clone();
    app.start_source_lookup(move |reply| source_tx.send(AppEvent::Source(reply)).is_ok())
        .context("cannot start the source lookup thread")?;
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

/// The event loop over any backend, fed terminal events by `next_event`,
/// with searches and lookups run inline: what tests and benches drive.
pub fn run_with_events<B>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    mut next_event: impl FnMut() -> io::Result<Event>,
) -> anyhow::Result<()>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
{
    run_with_app_events(terminal, app, || {
        next_event()
            .map(AppEvent::Term)
            .context("cannot read terminal input")
    })
}

/// [`run_with_events`] over [`AppEvent`]s: terminal events, worker replies
/// and run events in the order a test chooses.
pub fn run_with_app_events<B>(
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

/// Takes `first` and any newer frames queued right behind it (`try_next`):
/// only the newest is worth showing. Returns the newest frame and the first
/// other event taken off the queue, to be handled next.
fn newest_frame(
    first: Box<live_feed::LiveFrame>,
    try_next: &mut impl FnMut() -> Option<AppEvent>,
) -> (Box<live_feed::LiveFrame>, Option<AppEvent>) {
    let mut newest = first;
    loop {
        match try_next() {
            Some(AppEvent::LiveFrame(frame)) => newest = frame,
            other => return (newest, other),
        }
    }
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
    // An event taken off the queue while skipping stale frames: the next one.
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
                AppEvent::LiveFrame(frame) => {
                    let (newest, next) = newest_frame(frame, &mut try_next_event);
                    pending = next;
                    app.show_live_frame(*newest);
                    break;
                }
                AppEvent::LiveTitle(title) => {
                    app.set_title(title);
                    break;
                }
                AppEvent::RunDone(message) => {
                    app.live_finished(message);
                    break;
                }
                AppEvent::Source(reply) => {
                    if app.on_source(reply) {
                        break;
                    }
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

    fn frame(live: &LiveRun) -> AppEvent {
        AppEvent::LiveFrame(Box::new(live_feed::LiveFrame::of(live, 0)))
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
    fn queued_frames_show_only_the_newest_and_keys_behind_them_come_next() {
        let (tx, rx) = mpsc::channel();
        let mut live = LiveRun::new(RunMeta::default());
        for i in 0..10 {
            live.apply(RunEvent::Console(format!("flood line {i}")), i);
            tx.send(frame(&live)).expect("send");
        }
        tx.send(quit()).expect("send");
        live.apply(RunEvent::Console("after quit".into()), 11);
        tx.send(frame(&live)).expect("send");
        let mut app = App::new(LiveRun::new(RunMeta::default()).report(), "test");
        run_queue(&mut app, &rx);
        assert_eq!(app.live_frames(), 1, "one frame drawn for ten queued");
        assert!(console_body(&app).ends_with("flood line 9"));
        assert_eq!(
            rx.try_iter().count(),
            1,
            "the frame after the quit key stays queued"
        );
    }

    #[test]
    fn a_live_log_pane_keeps_its_search_as_lines_arrive() {
        let mut live = LiveRun::new(RunMeta::default());
        live.apply(RunEvent::Console("flood line 0".into()), 0);
        let mut app = App::new(live.report(), "test");
        app.resize(100, 30);
        let key = |app: &mut App, code| {
            handle_key(app, KeyEvent::from(code));
        };
        key(&mut app, KeyCode::Char('o'));
        key(&mut app, KeyCode::Char('/'));
        for c in "flood".chars() {
            key(&mut app, KeyCode::Char(c));
        }
        key(&mut app, KeyCode::Enter);
        for i in 1..5 {
            live.apply(RunEvent::Console(format!("flood line {i}")), i);
        }
        app.show_live_frame(live_feed::LiveFrame::of(&live, 5));
        assert_eq!(app.find_state().map(|f| f.0).as_deref(), Some("flood"));
        key(&mut app, KeyCode::Char('n'));
        let status = app.status_message().unwrap_or_default().to_string();
        assert!(status.ends_with("of 5"), "{status}");
    }
}
