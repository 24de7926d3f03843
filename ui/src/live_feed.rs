//! A live run's report, built off the UI thread.
//!
//! The run thread feeds every event to this thread, which folds it into the
//! [`LiveRun`] and hands the UI a new [`LiveFrame`] (the report and the
//! title) at most every [`REBUILD_INTERVAL`] while the guest streams, and at
//! once when the stage changes or the run ends. Building the report writes
//! and parses it whole (about 66 ms at 32 MB of logs); here that costs the UI
//! nothing, and the UI's share of a frame (panes kept and grown, a draw) is
//! about 8 ms at 32 MB (`cargo bench -p scxray-ui --bench render --
//! live_rebuild`).

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use scxray::report::Report;
use scxray::run::live::{Event, LiveRun};

/// Longest a streaming run goes without a new frame.
pub const REBUILD_INTERVAL: Duration = Duration::from_millis(250);
/// How often the title's clock moves while the guest says nothing (a boot
/// is silent for seconds): a title alone, no report rebuilt.
pub const CLOCK_TICK: Duration = Duration::from_secs(1);

/// What the run thread feeds.
pub enum Feed {
    Event(Event, u64),
    /// The run ended; how, in words. The last frame goes out before it.
    Done(String),
    /// A question about the run as folded so far (auto-repro asks for the
    /// crash chain once the test run ended); answered in order.
    Ask(Box<dyn FnOnce(&LiveRun) + Send>),
}

/// What the UI is handed.
#[derive(Debug)]
pub enum Update {
    Frame(Box<LiveFrame>),
    /// The title with the clock moved on: the report is unchanged.
    Title(String),
    Done(String),
}

/// The run as of now, for the panes.
#[derive(Debug)]
pub struct LiveFrame {
    /// `test · stage · 12.3s`, for the title bar.
    pub title: String,
    pub report: Report,
}

impl LiveFrame {
    pub fn of(live: &LiveRun, clock_ms: u64) -> LiveFrame {
        LiveFrame {
            title: LiveFrame::title(live, clock_ms),
            report: live.report(),
        }
    }

    /// `test · stage · 12.3s`.
    pub fn title(live: &LiveRun, clock_ms: u64) -> String {
        format!(
            "{} · {} · {:.1}s",
            live.meta.test_name,
            live.stage.label(),
            clock_ms as f64 / 1000.0
        )
    }
}

/// When the next frame is due.
#[derive(Debug, Clone)]
pub struct Throttle {
    interval: Duration,
    last: Option<Instant>,
    /// Events folded since the last frame.
    dirty: bool,
    /// A stage change or the end: the next frame is due at once.
    urgent: bool,
}

impl Throttle {
    pub fn new(interval: Duration) -> Throttle {
        Throttle {
            interval,
            last: None,
            dirty: false,
            urgent: false,
        }
    }

    /// Events were folded; `urgent` when they changed the stage.
    pub fn folded(&mut self, urgent: bool) {
        self.dirty = true;
        self.urgent |= urgent;
    }

    /// When a frame is due, if one is pending (now, for the first frame and
    /// an urgent one).
    pub fn deadline(&self) -> Option<Instant> {
        if !self.dirty {
            return None;
        }
        match self.last {
            Some(last) if !self.urgent => Some(last + self.interval),
            _ => Some(Instant::now()),
        }
    }

    pub fn due(&self, now: Instant) -> bool {
        self.dirty && (self.urgent || self.last.is_none_or(|last| now >= last + self.interval))
    }

    /// A frame went out at `now`.
    pub fn sent(&mut self, now: Instant) {
        self.last = Some(now);
        self.dirty = false;
        self.urgent = false;
    }
}

/// The thread's state: the run, when the next frame is due, the UI.
struct Folder<F> {
    live: LiveRun,
    throttle: Throttle,
    clock_ms: u64,
    /// When `clock_ms` was last set: the clock moves on from there.
    clock_set: Instant,
    /// When the title last went out (frame or tick).
    shown: Instant,
    /// The run ended: the clock stops.
    done: bool,
    /// False once the UI is gone: the run is still folded, for saving.
    ui: bool,
    send: F,
}

impl<F: FnMut(Update) -> bool> Folder<F> {
    fn run(&mut self, rx: &mpsc::Receiver<Feed>) {
        loop {
            let tick = (!self.done).then(|| self.shown + CLOCK_TICK);
            let next = match self.throttle.deadline().into_iter().chain(tick).min() {
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(at) => rx.recv_timeout(at.saturating_duration_since(Instant::now())),
            };
            match next {
                Ok(first) => {
                    let stage = self.live.stage.clone();
                    // Whatever else is queued goes into the same frame.
                    let mut done = None;
                    for feed in
                        std::iter::once(first).chain(std::iter::from_fn(|| rx.try_recv().ok()))
                    {
                        match feed {
                            Feed::Event(event, at) => {
                                self.live.apply(event, at);
                                self.clock_ms = at;
                                self.clock_set = Instant::now();
                            }
                            Feed::Done(message) => {
                                done = Some(message);
                                break;
                            }
                            Feed::Ask(question) => question(&self.live),
                        }
                    }
                    self.throttle.folded(self.live.stage != stage);
                    if let Some(message) = done {
                        self.frame();
                        self.done = true;
                        self.send(Update::Done(message));
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            let now = Instant::now();
            if self.throttle.due(now) {
                self.frame();
            } else if !self.done && now >= self.shown + CLOCK_TICK {
                let clock = self.clock_ms + self.clock_set.elapsed().as_millis() as u64;
                let title = LiveFrame::title(&self.live, clock);
                self.send(Update::Title(title));
                self.shown = now;
            }
        }
    }

    fn send(&mut self, update: Update) {
        if self.ui {
            self.ui = (self.send)(update);
        }
    }

    fn frame(&mut self) {
        let frame = LiveFrame::of(&self.live, self.clock_ms);
        self.send(Update::Frame(Box::new(frame)));
        self.throttle.sent(Instant::now());
        self.shown = Instant::now();
    }
}

/// The thread that owns a live run while it streams.
pub struct LiveFeed {
    tx: Sender<Feed>,
    handle: JoinHandle<LiveRun>,
}

impl LiveFeed {
    /// Starts the thread on `live`; `send` hands each update to the UI
    /// (false when the UI is gone: the thread then only folds).
    pub fn spawn(
        live: LiveRun,
        interval: Duration,
        send: impl FnMut(Update) -> bool + Send + 'static,
    ) -> std::io::Result<LiveFeed> {
        let (tx, rx) = mpsc::channel::<Feed>();
        let handle = thread::Builder::new()
            .name("scxray-live".into())
            .spawn(move || {
                let mut feed = Folder {
                    live,
                    throttle: Throttle::new(interval),
                    clock_ms: 0,
                    clock_set: Instant::now(),
                    shown: Instant::now(),
                    done: false,
                    ui: true,
                    send,
                };
                feed.run(&rx);
                feed.live
            })?;
        Ok(LiveFeed { tx, handle })
    }

    /// Where the run thread sends its events.
    pub fn sender(&self) -> Sender<Feed> {
        self.tx.clone()
    }

    /// Waits for the run's last events and returns the run, for saving.
    /// Every other sender must be gone (the run thread joined).
    pub fn finish(self) -> anyhow::Result<LiveRun> {
        drop(self.tx);
        self.handle
            .join()
            .map_err(|_| anyhow::anyhow!("the live report thread panicked"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scxray::report::SectionKind;
    use scxray::run::live::{RunMeta, Stage};

    fn console(report: &Report) -> String {
        report
            .section(&SectionKind::Console)
            .map_or_else(String::new, |s| s.body.to_string())
    }

    #[test]
    fn the_throttle_waits_for_the_interval_unless_urgent() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut t = Throttle::new(Duration::from_millis(250));
        assert_eq!(t.deadline(), None, "nothing folded");
        t.folded(false);
        assert!(t.due(ms(0)), "the first frame goes out at once");
        t.sent(ms(0));
        t.folded(false);
        assert!(!t.due(ms(249)));
        assert!(t.due(ms(250)));
        t.sent(ms(250));
        t.folded(true);
        assert!(t.due(ms(251)), "a stage change does not wait");
    }

    #[test]
    fn the_clock_moves_while_the_guest_is_silent() {
        let (tx, rx) = mpsc::channel();
        let feed = LiveFeed::spawn(
            LiveRun::new(RunMeta::default()),
            REBUILD_INTERVAL,
            move |u| tx.send(u).is_ok(),
        )
        .expect("spawn");
        let input = feed.sender();
        input
            .send(Feed::Event(Event::Stage(Stage::Booting), 100))
            .expect("send");
        // A boot says nothing for seconds: titles with a later clock come,
        // no report is rebuilt for them.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut titles = Vec::new();
        while titles.len() < 2 && Instant::now() < deadline {
            if let Ok(Update::Title(t)) = rx.recv_timeout(Duration::from_millis(100)) {
                titles.push(t);
            }
        }
        assert_eq!(titles.len(), 2, "{titles:?}");
        assert!(titles[0].contains("booting"), "{titles:?}");
        let secs = |t: &str| -> f64 {
            t.rsplit(" · ")
                .next()
                .unwrap()
                .trim_end_matches('s')
                .parse()
                .unwrap()
        };
        assert!(
            secs(&titles[0]) >= 1.0 && secs(&titles[1]) > secs(&titles[0]),
            "{titles:?}"
        );
        input.send(Feed::Done("finished".into())).expect("send");
        drop(input);
        feed.finish().expect("finish");
        // Once done, the clock stops.
        let after: Vec<Update> = rx.try_iter().collect();
        assert!(matches!(after.last(), Some(Update::Done(_))), "{after:?}");
    }

    #[test]
    fn a_flood_becomes_few_frames_and_the_last_one_has_everything() {
        let (tx, rx) = mpsc::channel();
        let feed = LiveFeed::spawn(
            LiveRun::new(RunMeta::default()),
            REBUILD_INTERVAL,
            move |u| tx.send(u).is_ok(),
        )
        .expect("spawn");
        let input = feed.sender();
        for i in 0..10_000 {
            input
                .send(Feed::Event(Event::Console(format!("flood line {i}")), i))
                .expect("send");
        }
        input.send(Feed::Done("finished".into())).expect("send");
        drop(input);
        let live = feed.finish().expect("finish");
        let updates: Vec<Update> = rx.try_iter().collect();
        let frames: Vec<&Box<LiveFrame>> = updates
            .iter()
            .filter_map(|u| match u {
                Update::Frame(f) => Some(f),
                Update::Title(_) | Update::Done(_) => None,
            })
            .collect();
        // The first events at once, the rest in one or two more frames.
        assert!((1..=4).contains(&frames.len()), "{} frames", frames.len());
        let last = frames.last().expect("a frame");
        assert!(console(&last.report).ends_with("flood line 9999"));
        assert!(matches!(updates.last(), Some(Update::Done(m)) if m == "finished"));
        assert!(console(&live.report()).ends_with("flood line 9999"));
    }

    #[test]
    fn a_stage_change_is_shown_without_waiting_for_the_interval() {
        let (tx, rx) = mpsc::channel();
        let hour = Duration::from_secs(3600);
        let feed = LiveFeed::spawn(LiveRun::new(RunMeta::default()), hour, move |u| {
            tx.send(u).is_ok()
        })
        .expect("spawn");
        let input = feed.sender();
        let next = || match rx.recv_timeout(Duration::from_secs(30)).expect("an update") {
            Update::Frame(f) => f,
            Update::Title(t) => panic!("a title before any frame: {t}"),
            Update::Done(m) => panic!("done too early: {m}"),
        };
        input
            .send(Feed::Event(Event::Console("one".into()), 1))
            .expect("send");
        assert!(console(&next().report).ends_with("one"), "the first frame");
        input
            .send(Feed::Event(Event::Console("two".into()), 2))
            .expect("send");
        input
            .send(Feed::Event(Event::Stage(Stage::LoadingScheduler), 3))
            .expect("send");
        // With an hour's interval only the stage change can have sent it.
        let frame = next();
        assert!(console(&frame.report).ends_with("two"));
        assert!(frame.title.contains("loading scheduler"), "{}", frame.title);
        drop(input);
        feed.finish().expect("finish");
    }
}
