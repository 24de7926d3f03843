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
use std::time::Duration;

use anyhow::{bail, Context};
use base64::Engine as _;
use crossterm::event::Event;
use ratatui::backend::Backend;
use ratatui::Terminal;
use scxray::matcher::NamedCorpus;
use scxray::report::Report;

pub mod app;
pub mod corpus_view;
pub mod error_text;
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
    /// SIGTERM, SIGHUP or SIGINT from outside: quit as on `q`.
    Signal(i32),
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
    run_app(open_app(report, source, options), |_| Ok(())).map(|_| ())
}

fn open_app(report: Report, source: &str, options: OpenOptions) -> App {
    let mut app = App::new(report, source).with_clean(options.clean);
    app.set_source_roots(options.source_roots);
    if let Some(theme) = options.theme {
        app = app.with_theme(theme);
    }
    if let Some(keymap) = options.keymap {
        app = app.with_keymap(keymap);
    }
    app
}

/// How long `scxray open` waits for its input before it shows the waiting
/// screen: a file that reads (or fails) at once never flashes the terminal.
const WAIT_SCREEN_AFTER: Duration = Duration::from_millis(300);

/// `scxray open` on an input that may take its time (a FIFO, stdin, a big
/// file): `load` runs on a thread of its own. If it is not done within
/// [`WAIT_SCREEN_AFTER`], the terminal shows "waiting for input on SOURCE"
/// until it is, and `q`, Esc, Ctrl-C or a stop signal quit (`Ok`, nothing
/// opened). A load error is returned with the terminal restored.
pub fn run_open_loading(
    load: impl FnOnce() -> anyhow::Result<Report> + Send + 'static,
    source: &str,
    options: OpenOptions,
) -> anyhow::Result<()> {
    let (load_tx, load_rx) = mpsc::channel();
    thread::Builder::new()
        .name("scxray-load".into())
        .spawn(move || {
            // Nobody listens once the user quit the waiting screen.
            let _ = load_tx.send(load());
        })
        .context("cannot start the input thread")?;
    match load_rx.recv_timeout(WAIT_SCREEN_AFTER) {
        Ok(report) => return run_open_with(report?, source, options),
        Err(mpsc::RecvTimeoutError::Disconnected) => bail!("the input thread stopped"),
        Err(mpsc::RecvTimeoutError::Timeout) => {}
    }
    let (tx, rx) = mpsc::channel();
    install_signal_forwarding(&tx)?;
    let mut tui = terminal::Tui::enter()?;
    let Some(report) = wait_for_input(&mut tui, source, &load_rx, &rx)? else {
        return Ok(());
    };
    let app = open_app(report?, source, options);
    run_app_on(app, tx, rx, Some(tui), |_| Ok(())).map(|_| ())
}

/// The waiting screen: redrawn on resize, polled for keys (no input thread
/// yet: the event loop's own starts once the report is here). `None`: the
/// user quit.
fn wait_for_input(
    tui: &mut terminal::Tui,
    source: &str,
    load_rx: &mpsc::Receiver<anyhow::Result<Report>>,
    events: &mpsc::Receiver<AppEvent>,
) -> anyhow::Result<Option<anyhow::Result<Report>>> {
    use crossterm::event::{KeyCode, KeyEventKind, KeyModifiers};
    let started = std::time::Instant::now();
    let mut shown_secs = u64::MAX;
    loop {
        let secs = started.elapsed().as_secs();
        if secs != shown_secs {
            shown_secs = secs;
            draw_waiting(tui, source, secs)?;
        }
        match load_rx.try_recv() {
            Ok(report) => return Ok(Some(report)),
            Err(mpsc::TryRecvError::Disconnected) => bail!("the input thread stopped"),
            Err(mpsc::TryRecvError::Empty) => {}
        }
        if let Ok(AppEvent::Signal(_)) = events.try_recv() {
            return Ok(None);
        }
        if !crossterm::event::poll(Duration::from_millis(50))
            .context("cannot read terminal input")?
        {
            continue;
        }
        match crossterm::event::read().context("cannot read terminal input")? {
            Event::Key(k) if k.kind != KeyEventKind::Release => {
                let ctrl_c =
                    k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
                if ctrl_c || matches!(k.code, KeyCode::Char('q') | KeyCode::Esc) {
                    return Ok(None);
                }
            }
            Event::Resize(..) => shown_secs = u64::MAX,
            _ => {}
        }
    }
}

fn draw_waiting(tui: &mut terminal::Tui, source: &str, secs: u64) -> anyhow::Result<()> {
    use ratatui::layout::{Constraint, Layout};
    use ratatui::text::Line;
    use ratatui::widgets::Paragraph;
    let name: String = source.chars().filter(|c| !c.is_control()).collect();
    tui.terminal()
        .draw(|frame| {
            let [_, middle, _] = Layout::vertical([
                Constraint::Fill(1),
                Constraint::Length(3),
                Constraint::Fill(1),
            ])
            .areas(frame.area());
            let text = vec![
                Line::from(format!("scxray: waiting for input on {name} ({secs} s)")),
                Line::from(""),
                Line::from("q quits"),
            ];
            frame.render_widget(Paragraph::new(text).centered(), middle);
        })
        .context("cannot draw")?;
    Ok(())
}

fn install_signal_forwarding(tx: &mpsc::Sender<AppEvent>) -> anyhow::Result<()> {
    let signal_tx = tx.clone();
    scxray_vmm::cancel::forward_signals(move |signal| {
        signal_tx.send(AppEvent::Signal(signal)).is_ok()
    })
    .context("cannot install the signal handlers")
}

/// Runs `app` in the terminal until the user quits and returns it. `start`
/// gets a sender for extra events (a live run's thread) before the loop starts.
pub fn run_app(
    app: App,
    start: impl FnOnce(mpsc::Sender<AppEvent>) -> anyhow::Result<()>,
) -> anyhow::Result<App> {
    let (tx, rx) = mpsc::channel();
    run_app_on(app, tx, rx, None, start)
}

/// [`run_app`] on a channel and, when `tui` is given, a terminal already set
/// up with the signals forwarded into `tx` (the waiting screen did both).
fn run_app_on(
    mut app: App,
    tx: mpsc::Sender<AppEvent>,
    rx: mpsc::Receiver<AppEvent>,
    tui: Option<terminal::Tui>,
    start: impl FnOnce(mpsc::Sender<AppEvent>) -> anyhow::Result<()>,
) -> anyhow::Result<App> {
    let worker_tx = tx.clone();
    app.set_engine(
        matcher_worker::Engine::spawn(move |reply| worker_tx.send(AppEvent::Worker(reply)).is_ok())
            .context("cannot start the matcher worker thread")?,
    );
    let source_tx = tx.clone();
    app.start_source_lookup(move |reply| source_tx.send(AppEvent::Source(reply)).is_ok())
        .context("cannot start the source lookup thread")?;
    start(tx.clone())?;
    let mut tui = match tui {
        Some(tui) => tui,
        None => {
            install_signal_forwarding(&tx)?;
            terminal::Tui::enter()?
        }
    };
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
                // The terminal is restored on the way out, as on `q`.
                AppEvent::Signal(_) => return Ok(()),
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
