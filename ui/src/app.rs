//! App state, the pure key handler and the screen layout.
//!
//! [`App`] holds what the user changed (focused pane, per-pane scroll, help
//! overlay, selected crash, the workbench's pin) and the screen size;
//! [`handle_key`] turns a key into an [`Action`] and applies it, with no I/O,
//! so tests drive it directly. What needs I/O (the clipboard, writing a file)
//! is queued as an [`Effect`] for the event loop to perform. Search results
//! come back through [`App::on_reply`]. Drawing goes through
//! `impl Widget for &App` and cannot change state.

use std::ops::Range;
use std::path::PathBuf;

use crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Widget};
use scxray::matcher::{render_test, NamedCorpus};
use scxray::report::Report;
use scxray::run::live::{Event as RunEvent, LiveRun};

use crate::keymap::{Action, Key, Keymap, Mode};
use crate::panes::export::ExportView;
use crate::panes::workbench::{Applied, LineInput, Workbench};
use crate::panes::{self, help, render_lines, summary, Ctx, Pane, Role};
use crate::theme::Theme;
use crate::worker::{Engine, Reply, SuggestFrom};

/// I/O a key asked for, performed by the event loop (see `lib.rs`), which
/// reports back through [`App::effect_done`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Put text on the clipboard through OSC 52.
    Copy { name: String, text: String },
    /// Write the exported test; an existing file only with `overwrite`.
    Write {
        path: PathBuf,
        contents: String,
        overwrite: bool,
    },
}

/// How an [`Effect`] went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EffectOutcome {
    Copied {
        name: String,
        bytes: usize,
    },
    Written(PathBuf),
    /// Not written: the file exists and overwriting was not confirmed.
    Exists(PathBuf),
    Failed(String),
}

/// Rows the main pane keeps (border included) before header lines are dropped.
const MIN_MAIN_HEIGHT: u16 = 5;

/// Below this size the answer lines shrink to the verdict line.
const COMPACT: (u16, u16) = (80, 24);
/// Below this size only the focused pane is shown, with a one-line tab
/// indicator instead of the title, answer and tab bars.
const SINGLE: (u16, u16) = (40, 12);
/// From this size on a companion pane sits beside the focused one: the
/// backtrace next to a log, the source next to the backtrace.
const WIDE: (u16, u16) = (160, 40);
/// The timeline gets a companion only from this width on.
const WIDE_TIMELINE: u16 = 220;

/// The search (`/`) or filter (`&`) prompt of a text pane.
struct Prompt {
    filter: bool,
    input: LineInput,
    /// Text or regex (Ctrl-R).
    mode: panes::find::FindMode,
    /// Why the typed regex cannot be used; Enter then keeps the prompt open.
    error: Option<String>,
    /// The pane's query, its mode, current match and scroll before the
    /// prompt opened, for Esc.
    saved_query: String,
    saved_mode: panes::find::FindMode,
    saved_current: Option<usize>,
    saved_scroll: usize,
    /// Byte offset incremental search starts from: the top line on screen.
    origin: usize,
}

pub struct App {
    report: Report,
    source: String,
    panes: Vec<Box<dyn Pane>>,
    focus: usize,
    /// Top line per pane. May exceed the content after a resize; every use
    /// clamps it, so a later grow shows the same place again.
    scroll: Vec<usize>,
    crash: Option<usize>,
    help: bool,
    help_scroll: usize,
    /// Last known terminal size: page keys and scroll bounds depend on it.
    screen: Rect,
    theme: Theme,
    keymap: Keymap,
    workbench: Workbench,
    /// Index of the workbench in `panes` (always the last one).
    wb_pane: usize,
    export: Option<ExportView>,
    /// A one-off message for the status bar, until the next key.
    status: Option<String>,
    effects: Vec<Effect>,
    /// A path `w` found existing: the next `w` overwrites it.
    confirm_overwrite: Option<PathBuf>,
    /// The run being shown live, if any.
    live: Option<LiveRun>,
    live_clock_ms: u64,
    /// Reports rebuilt from the live run so far.
    live_refreshes: u64,
    prompt: Option<Prompt>,
    /// The focused pane full screen.
    zoom: bool,
    /// The backtrace frame clicked.
    frame: Option<usize>,
    /// Directories searched for a clicked frame's source (`--source`).
    source_roots: Vec<PathBuf>,
    frame_source: Option<scxray::source::SourceHit>,
    /// The function name `frame_source` was looked up for: a lookup walks
    /// directories, so it runs again only when the shown frame changes.
    frame_source_for: Option<String>,
}

/// Where each part of the screen goes.
struct Areas {
    title: Rect,
    answer: Rect,
    tabs: Rect,
    main: Rect,
    /// `main` inside its border: where the focused pane draws.
    body: Rect,
    /// The companion pane on wide screens: its index, its bordered area
    /// and the inside of that.
    side: Option<(usize, Rect, Rect)>,
    status: Rect,
    /// Tiny screen: `tabs` is a one-line indicator of the focused pane.
    single: bool,
}

impl App {
    /// Opens `report`, showing its selected crash (the newest when the parser
    /// chose none). `source` names the input in the title bar.
    pub fn new(report: Report, source: &str) -> App {
        let n = report.crashes.len();
        let crash = report.selected.filter(|&i| i < n).or(n.checked_sub(1));
        let panes = panes::build(&report);
        let mut app = App {
            scroll: vec![0; panes.len()],
            wb_pane: panes.len() - 1,
            panes,
            report,
            source: source.to_string(),
            focus: 0,
            crash: None,
            help: false,
            help_scroll: 0,
            screen: Rect::default(),
            theme: Theme::from_env(),
            keymap: Keymap::default(),
            workbench: Workbench::default(),
            export: None,
            status: None,
            effects: Vec::new(),
            confirm_overwrite: None,
            live: None,
            live_clock_ms: 0,
            live_refreshes: 0,
            prompt: None,
            zoom: false,
            frame: None,
            source_roots: Vec::new(),
            frame_source: None,
            frame_source_for: None,
        };
        app.select_crash(crash);
        app
    }

    pub fn with_theme(mut self, theme: Theme) -> App {
        self.theme = theme;
        self
    }

    /// Uses `keymap` (the defaults patched by the user's `keys.toml`).
    pub fn with_keymap(mut self, keymap: Keymap) -> App {
        self.keymap = keymap;
        self
    }

    /// Directories where a clicked frame's function is looked up by name.
    pub fn with_source_roots(mut self, roots: Vec<PathBuf>) -> App {
        self.source_roots = roots;
        self.frame_source_for = None;
        self.refresh_frame_source();
        self
    }

    /// Looks up where the shown frame's function (the selected frame, or
    /// the first one worth reading) is defined, unless that name was the
    /// last one looked up. A live report's crash gains its backtrace late,
    /// so this runs on every report change too.
    fn refresh_frame_source(&mut self) {
        let name = self
            .crash
            .and_then(|i| self.report.crashes.get(i))
            .and_then(|crash| {
                let frame = self
                    .frame
                    .filter(|&i| i < crash.backtrace.len())
                    .or_else(|| crash.top_frame_index())?;
                panes::source::source_name(crash, frame).map(str::to_string)
            });
        if name == self.frame_source_for {
            return;
        }
        self.frame_source = match &name {
            Some(n) if !self.source_roots.is_empty() => {
                scxray::source::find_definition(&self.source_roots, n)
            }
            _ => None,
        };
        self.frame_source_for = name;
    }

    /// Selects backtrace frame `i` and looks its source up.
    fn select_frame(&mut self, i: usize) {
        self.frame = Some(i);
        self.refresh_frame_source();
    }

    /// j/k/g/G in the backtrace move the frame selection (the first move
    /// lands on the frame worth reading) and keep it on screen. False when
    /// the action is not a frame move (page keys scroll).
    fn move_frame(&mut self, action: Action) -> bool {
        let Some(crash) = self.crash.and_then(|i| self.report.crashes.get(i)) else {
            return false;
        };
        let n = crash.backtrace.len();
        if n == 0 {
            return false;
        }
        let next = match (action, self.frame.filter(|&i| i < n)) {
            (Action::ScrollDown | Action::ScrollUp, None) => crash.top_frame_index().unwrap_or(0),
            (Action::ScrollDown, Some(i)) => (i + 1).min(n - 1),
            (Action::ScrollUp, Some(i)) => i.saturating_sub(1),
            (Action::Top, _) => 0,
            (Action::Bottom, _) => n - 1,
            _ => return false,
        };
        self.select_frame(next);
        // Line 0 is the legend; frame i is on line i + 1.
        let line = next + 1;
        let (pos, _, height) = self.pane_scroll_state();
        let height = height.max(1);
        let pos = if next == 0 {
            0
        } else if line < pos {
            line
        } else if line >= pos + height {
            line + 1 - height
        } else {
            pos
        };
        self.scroll[self.focus] = pos;
        true
    }

    /// The role of pane `i`.
    fn pane_role(&self, i: usize) -> Option<Role> {
        self.panes
            .get(i)
            .and_then(|p| panes::role_of(p.as_ref(), &self.report))
    }

    /// The first pane with `role`.
    fn role_index(&self, role: Role) -> Option<usize> {
        (0..self.panes.len()).find(|&i| self.pane_role(i) == Some(role))
    }

    /// The letter key that reaches pane `i`, for its tab.
    fn role_key(&self, i: usize) -> Option<char> {
        let role = self.pane_role(i)?;
        self.keymap.bindings().iter().find_map(|b| {
            let reaches = match b.action {
                Action::GoToRole(r) => r == role,
                Action::GoToWorkbench => role == Role::Workbench,
                _ => false,
            };
            match b.key.code {
                KeyCode::Char(c) if reaches && b.mode == Mode::Normal && b.key.mods.is_empty() => {
                    Some(c)
                }
                _ => None,
            }
        })
    }

    /// The pane shown beside the focused one on a wide screen, if any.
    fn companion(&self, area: Rect) -> Option<usize> {
        if self.zoom || area.width < WIDE.0 || area.height < WIDE.1 || self.focus == self.wb_pane {
            return None;
        }
        let crash = self.crash.and_then(|i| self.report.crashes.get(i))?;
        if crash.backtrace.is_empty() {
            return None;
        }
        let want = match self.pane_role(self.focus) {
            Some(Role::Backtrace) => Role::Source,
            // The timeline puts the monitor beside itself; it needs the room.
            Some(Role::Timeline) if area.width < WIDE_TIMELINE => return None,
            _ => Role::Backtrace,
        };
        self.role_index(want)
    }

    /// Live mode: the title shows where the run is.
    pub fn set_source(&mut self, source: String) {
        self.source = source;
    }

    /// Starts live mode on `live` (`scxray demo`, `scxray run`).
    pub fn with_live(mut self, live: LiveRun) -> App {
        self.live = Some(live);
        self.refresh_live();
        self
    }

    /// Folds one run event in and shows the new state.
    pub fn live_event(&mut self, event: RunEvent, at_ms: u64) {
        self.live_events([(event, at_ms)]);
    }

    /// Folds run events (with their host times) in, then rebuilds the report
    /// once: a guest flooding the console costs one rebuild per batch, not
    /// one per line.
    pub fn live_events(&mut self, events: impl IntoIterator<Item = (RunEvent, u64)>) {
        let mut folded = false;
        for (event, at_ms) in events {
            if let Some(live) = &mut self.live {
                live.apply(event, at_ms);
                self.live_clock_ms = at_ms;
                folded = true;
            }
        }
        if folded {
            self.refresh_live();
        }
    }

    /// How many times the live run's report was rebuilt.
    pub fn live_refreshes(&self) -> u64 {
        self.live_refreshes
    }

    /// The run thread ended; `message` says how (kept in the status bar).
    pub fn live_finished(&mut self, message: String) {
        self.status = Some(message);
    }

    /// The run's state, for saving its report.
    pub fn take_live(&mut self) -> Option<LiveRun> {
        self.live.take()
    }

    fn refresh_live(&mut self) {
        if let Some(live) = &self.live {
            let title = format!(
                "{} · {} · {:.1}s",
                live.meta.test_name,
                live.stage.label(),
                self.live_clock_ms as f64 / 1000.0
            );
            let report = live.report();
            self.live_refreshes += 1;
            self.set_source(title);
            self.replace_report(report);
        }
    }

    /// Swaps in a newer report of the same run (live mode). Panes keep their
    /// place; a log pane scrolled to its end, or not looked at yet, follows
    /// new lines (scroll positions are clamped when used).
    pub fn replace_report(&mut self, report: Report) {
        let body = self.areas(self.screen).body;
        let old: Vec<(String, usize, bool)> = {
            let ctx = self.ctx();
            self.panes
                .iter()
                .zip(&self.scroll)
                .map(|(p, &s)| {
                    let total = p.line_count(&ctx, body.width);
                    let rows = p.viewport_rows(&ctx, body);
                    (p.title(&ctx), s, s >= total.saturating_sub(rows))
                })
                .collect()
        };
        let focused = old.get(self.focus).map(|o| o.0.clone());
        let had_crash = self.crash.is_some();
        let finds: Vec<(String, panes::text::FindState)> = {
            let ctx = self.ctx();
            self.panes
                .iter()
                .filter_map(|p| Some((p.title(&ctx), p.text()?.find_state())))
                .filter(|(_, state)| *state != panes::text::FindState::default())
                .collect()
        };
        self.report = report;
        self.panes = panes::build(&self.report);
        for (title, state) in finds {
            let ctx = self.ctx();
            let Some(i) = self.panes.iter().position(|p| p.title(&ctx) == title) else {
                continue;
            };
            if let Some(t) = self.panes[i].text_mut() {
                t.restore_find_state(&state);
            }
        }
        self.wb_pane = self.panes.len() - 1;
        let titles: Vec<String> = {
            let ctx = self.ctx();
            self.panes.iter().map(|p| p.title(&ctx)).collect()
        };
        self.scroll = titles
            .iter()
            .zip(&self.panes)
            .map(|(t, p)| {
                let follow = p.section().is_some();
                match old.iter().find(|o| &o.0 == t) {
                    Some((_, s, at_end)) if !(follow && *at_end) => *s,
                    _ if follow => usize::MAX,
                    _ => 0,
                }
            })
            .collect();
        self.focus = focused
            .and_then(|f| titles.iter().position(|t| *t == f))
            .unwrap_or(0);
        let n = self.report.crashes.len();
        let selected = self.report.selected.filter(|&i| i < n);
        if had_crash {
            self.crash = selected.or(self.crash.filter(|&i| i < n));
        } else if selected.is_some() {
            // The crash just appeared: show it, as `scxray open` would.
            self.select_crash(selected);
        }
        self.refresh_frame_source();
    }

    /// Corpora of clean runs for the workbench's negative control.
    pub fn with_clean(mut self, clean: Vec<NamedCorpus>) -> App {
        self.workbench.set_clean(clean);
        self
    }

    /// Runs the workbench's searches on `engine` (a worker thread in the
    /// real UI; inline, the default, in tests).
    pub fn set_engine(&mut self, engine: Engine) {
        self.workbench.set_engine(engine);
    }

    pub fn workbench(&self) -> &Workbench {
        &self.workbench
    }

    /// The status-bar message left by the last key, if any.
    pub fn status_message(&self) -> Option<&str> {
        self.status.as_deref()
    }

    pub fn export_visible(&self) -> bool {
        self.export.is_some()
    }

    /// The I/O asked for since the last call, oldest first.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    /// Reports how an effect went, in the status bar.
    pub fn effect_done(&mut self, outcome: EffectOutcome) {
        self.confirm_overwrite = None;
        self.status = Some(match outcome {
            EffectOutcome::Copied { name, bytes } => format!(
                "copied {name} ({bytes} bytes) through OSC 52; the terminal must allow clipboard \
                 writes"
            ),
            EffectOutcome::Written(path) => format!("wrote {}", path.display()),
            EffectOutcome::Exists(path) => {
                let msg = format!(
                    "{} exists and was not overwritten: press w again to overwrite it",
                    path.display()
                );
                self.confirm_overwrite = Some(path);
                msg
            }
            EffectOutcome::Failed(e) => e,
        });
    }

    /// Records the terminal size; call on start and on every resize event.
    pub fn resize(&mut self, width: u16, height: u16) {
        self.screen = Rect::new(0, 0, width, height);
        if self.focus == self.wb_pane {
            // A taller screen shows corpus lines the last search window
            // may not have covered.
            self.sync_window();
            self.drain_inline();
        }
    }

    pub fn mode(&self) -> Mode {
        if self.help {
            Mode::Help
        } else if self.export.is_some() {
            Mode::Export
        } else if self.prompt.is_some() {
            Mode::Search
        } else if self.focus == self.wb_pane {
            if self.workbench.editing() {
                Mode::Edit
            } else {
                Mode::Workbench
            }
        } else {
            Mode::Normal
        }
    }

    pub fn report(&self) -> &Report {
        &self.report
    }

    /// Tab labels, in tab order.
    pub fn pane_titles(&self) -> Vec<String> {
        let ctx = self.ctx();
        self.panes.iter().map(|p| p.title(&ctx)).collect()
    }

    pub fn focused(&self) -> usize {
        self.focus
    }

    /// Focuses pane `index` (0-based); false if there is none.
    pub fn focus_pane(&mut self, index: usize) -> bool {
        let ok = index < self.panes.len();
        if ok {
            self.focus = index;
            if index == self.wb_pane {
                self.workbench_focused();
            }
        }
        ok
    }

    /// The focused pane's top line as shown: clamped to the content.
    pub fn scroll(&self) -> usize {
        let (pos, total, height) = self.pane_scroll_state();
        pos.min(total.saturating_sub(height))
    }

    /// Whether the focused pane is shown full screen.
    pub fn zoomed(&self) -> bool {
        self.zoom
    }

    /// The focused text pane's search query and filter, if it is one.
    pub fn find_state(&self) -> Option<(String, String)> {
        self.panes[self.focus].text().map(|t| {
            let state = t.find_state();
            (state.query, state.filter)
        })
    }

    pub fn help_visible(&self) -> bool {
        self.help
    }

    pub fn help_scroll(&self) -> usize {
        self.help_scroll
    }

    /// Index of the selected crash in `report().crashes`.
    pub fn crash_index(&self) -> Option<usize> {
        self.crash
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            report: &self.report,
            crash: self
                .crash
                .and_then(|i| self.report.crashes.get(i).map(|c| (i, c))),
            theme: &self.theme,
            workbench: Some(&self.workbench),
            frame: self.frame,
            frame_source: self.frame_source.as_ref(),
        }
    }

    /// Selects a crash: panes that show it start from the top, and the text
    /// pane holding it scrolls to where it was found.
    fn select_crash(&mut self, crash: Option<usize>) {
        self.crash = crash;
        self.frame = None;
        self.refresh_frame_source();
        for (pane, scroll) in self.panes.iter().zip(&mut self.scroll) {
            if pane.follows_crash() {
                *scroll = 0;
            }
        }
        let Some(origin) = crash
            .and_then(|i| self.report.crashes.get(i))
            .map(|c| &c.origin)
        else {
            return;
        };
        for (pane, scroll) in self.panes.iter().zip(&mut self.scroll) {
            if pane.section() == Some(origin.section) {
                *scroll = pane
                    .text()
                    .map_or(origin.first_line, |t| t.row_of_line(origin.first_line));
            }
        }
        if self.workbench.suggest_requested() {
            self.suggest_for_crash();
        }
    }

    /// Whether an action can do anything now; the status bar hides the rest.
    fn available(&self, action: Action) -> bool {
        let wb = &self.workbench;
        match action {
            Action::NextCrash => self.report.crashes.len() > 1,
            Action::GoToWorkbench => self.focus != self.wb_pane,
            Action::GoToRole(role) => self.role_index(role).is_some(),
            Action::OpenFrame => self.pane_role(self.focus) == Some(Role::Backtrace),
            Action::NextMatch | Action::PrevMatch if self.focus == self.wb_pane => wb.has_matches(),
            Action::NextMatch | Action::PrevMatch => self.panes[self.focus]
                .text()
                .is_some_and(|t| !t.query().is_empty()),
            Action::StartSearch | Action::StartFilter | Action::ToggleZoom => {
                self.panes[self.focus].text().is_some()
            }
            Action::AcceptSuggestion => wb.suggestion().is_some_and(|s| s.as_pin() != wb.pin()),
            Action::ApplyFix => wb.fix().is_some(),
            _ => true,
        }
    }

    fn apply(&mut self, action: Action) {
        let n = self.panes.len();
        if action != Action::None {
            self.status = None;
        }
        if action != Action::WriteExport {
            self.confirm_overwrite = None;
        }
        if self.prompt.is_some() && self.prompt_key(action) {
            return;
        }
        let frame_move = matches!(
            action,
            Action::ScrollDown | Action::ScrollUp | Action::Top | Action::Bottom
        ) && !self.help
            && self.export.is_none()
            && self.pane_role(self.focus) == Some(Role::Backtrace);
        if frame_move && self.move_frame(action) {
            return;
        }
        let wb = &mut self.workbench;
        match action {
            Action::Quit | Action::None => {}
            Action::NextPane => {
                self.focus_pane((self.focus + 1) % n);
            }
            Action::PrevPane => {
                self.focus_pane((self.focus + n - 1) % n);
            }
            Action::GoToPane(k) => {
                if k >= 1 {
                    self.focus_pane(k - 1);
                }
            }
            Action::GoToWorkbench => {
                self.focus_pane(self.wb_pane);
            }
            Action::GoToRole(role) => match self.role_index(role) {
                Some(i) => {
                    self.focus_pane(i);
                }
                None => self.status = Some(role.absent_reason().to_string()),
            },
            Action::OpenFrame => {
                if self.pane_role(self.focus) == Some(Role::Backtrace) {
                    if self.frame.is_none() {
                        if let Some(top) = self.ctx().crash.and_then(|(_, c)| c.top_frame_index()) {
                            self.select_frame(top);
                        }
                    }
                    if let Some(i) = self.role_index(Role::Source) {
                        self.focus_pane(i);
                    }
                }
            }
            Action::ScrollDown
            | Action::ScrollUp
            | Action::PageDown
            | Action::PageUp
            | Action::Top
            | Action::Bottom => {
                self.scroll_by(action);
                if self.focus == self.wb_pane && !self.help && self.export.is_none() {
                    self.sync_window();
                }
            }
            Action::NextCrash => {
                let count = self.report.crashes.len();
                if count > 1 {
                    let next = self.crash.map_or(0, |i| (i + 1) % count);
                    self.select_crash(Some(next));
                }
            }
            Action::OpenHelp => {
                self.help = true;
                self.help_scroll = 0;
            }
            Action::CloseHelp => self.help = false,
            Action::CycleTheme => {
                let (name, theme) = self.theme.next_named();
                self.theme = theme;
                self.status = Some(format!("theme: {name}"));
            }
            Action::EditField => wb.set_editing(true),
            Action::LeaveEdit => wb.set_editing(false),
            Action::NextField => wb.switch_field(),
            Action::CursorLeft => wb.input_mut().left(),
            Action::CursorRight => wb.input_mut().right(),
            Action::CursorHome => wb.input_mut().home(),
            Action::CursorEnd => wb.input_mut().end(),
            Action::DeleteBack
            | Action::DeleteForward
            | Action::DeleteToStart
            | Action::DeleteWord
            | Action::Type(_) => {
                let input = wb.input_mut();
                let changed = match action {
                    Action::DeleteBack => input.backspace(),
                    Action::DeleteForward => input.delete(),
                    Action::DeleteToStart => input.delete_to_start(),
                    Action::DeleteWord => input.delete_word(),
                    Action::Type(c) => {
                        input.insert(c);
                        true
                    }
                    _ => false,
                };
                if changed {
                    self.pin_changed();
                }
            }
            Action::NextMatch | Action::PrevMatch if self.focus != self.wb_pane => {
                self.text_jump(action == Action::NextMatch);
            }
            Action::NextMatch => self.jump(true),
            Action::PrevMatch => self.jump(false),
            Action::StartSearch => self.start_prompt(false),
            Action::StartFilter => self.start_prompt(true),
            // Handled by `prompt_key` while a prompt is open.
            Action::AcceptPrompt | Action::CancelPrompt | Action::ToggleRegex => {}
            Action::ToggleZoom => {
                self.zoom = !self.zoom;
                if self.zoom {
                    self.status = Some("zoomed: z shows the other panes again".into());
                }
            }
            Action::AcceptSuggestion => {
                if wb.accept_suggestion() {
                    self.pin_changed();
                    self.status = Some("accepted the suggested pin".into());
                } else {
                    self.status = Some("no suggestion to accept".into());
                }
            }
            Action::ApplyFix => {
                if wb.apply_fix() {
                    self.pin_changed();
                    self.status = Some("applied the suggested fix".into());
                } else {
                    self.status = Some("no fix to apply".into());
                }
            }
            Action::SuggestFromLine => self.suggest_for_line(),
            Action::OpenExport => {
                let spec = self.export_spec();
                self.export = Some(ExportView::new(&spec, &self.theme));
            }
            Action::CloseExport => self.export = None,
            Action::CopyExport => match self.export_text() {
                Ok((name, text)) => self.effects.push(Effect::Copy { name, text }),
                Err(e) => self.status = Some(e),
            },
            Action::WriteExport => match self.export_text() {
                Ok((name, contents)) => {
                    let path = PathBuf::from(".").join(name);
                    let overwrite = self.confirm_overwrite.as_ref() == Some(&path);
                    self.effects.push(Effect::Write {
                        path,
                        contents,
                        overwrite,
                    });
                }
                Err(e) => self.status = Some(e),
            },
        }
        self.drain_inline();
    }

    // --- mouse ---

    /// The backtrace frame clicked last.
    pub fn selected_frame(&self) -> Option<usize> {
        self.frame
    }

    /// A click or wheel event; true when the screen changed. A click on a
    /// tab focuses it, the wheel scrolls what is under it (the overlay, or
    /// the pane), a click on a backtrace frame selects it.
    pub fn mouse(&mut self, event: MouseEvent) -> bool {
        let at = Position::new(event.column, event.row);
        let areas = self.areas(self.screen);
        match event.kind {
            MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
                let overlay = self.help || self.export.is_some();
                if let (false, Some((i, side, _))) = (overlay, areas.side) {
                    if side.contains(at) {
                        let down = event.kind == MouseEventKind::ScrollDown;
                        self.scroll_side(i, &areas, if down { 3 } else { -3 });
                        return true;
                    }
                }
                if !overlay && !areas.main.contains(at) {
                    return false;
                }
                let action = if event.kind == MouseEventKind::ScrollDown {
                    Action::ScrollDown
                } else {
                    Action::ScrollUp
                };
                for _ in 0..3 {
                    self.scroll_by(action);
                }
                if self.focus == self.wb_pane && !overlay {
                    self.sync_window();
                    self.drain_inline();
                }
                true
            }
            MouseEventKind::Down(MouseButton::Left) => {
                if self.help || self.export.is_some() || self.prompt.is_some() {
                    return false;
                }
                if areas.tabs.contains(at) && !areas.single {
                    let ctx = self.ctx();
                    let hit = self
                        .tab_layout(&ctx, areas.tabs)
                        .into_iter()
                        .find(|&(_, x0, x1)| (x0..x1).contains(&at.x));
                    return match hit {
                        Some((i, _, _)) => {
                            self.status = None;
                            self.focus_pane(i);
                            true
                        }
                        None => false,
                    };
                }
                let (pane, top, body) = match areas.side {
                    Some((i, _, body)) if body.contains(at) => {
                        (i, self.side_scroll(i, &areas), body)
                    }
                    _ => (self.focus, self.scroll(), areas.body),
                };
                if body.contains(at) {
                    let line = top + usize::from(at.y - body.y);
                    if let Some(frame) = self.panes[pane].frame_at_line(&self.ctx(), line) {
                        self.select_frame(frame);
                        return true;
                    }
                }
                false
            }
            _ => false,
        }
    }

    // --- search and filter in text panes ---

    fn start_prompt(&mut self, filter: bool) {
        let top = self.scroll();
        let Some(t) = self.panes[self.focus].text() else {
            self.status =
                Some("search and filter work in the text panes (logs, dump, console...)".into());
            return;
        };
        self.prompt = Some(Prompt {
            filter,
            input: LineInput::default(),
            mode: if filter {
                t.filter_mode()
            } else {
                t.search_mode()
            },
            error: None,
            saved_query: t.query().to_string(),
            saved_mode: t.search_mode(),
            saved_current: t.current_match(),
            saved_scroll: top,
            origin: t.offset_of_row(top),
        });
    }

    /// Applies `action` to the open prompt; false when it is not a prompt
    /// key (quit, for one).
    fn prompt_key(&mut self, action: Action) -> bool {
        let Some(prompt) = &mut self.prompt else {
            return false;
        };
        let input = &mut prompt.input;
        let changed = match action {
            Action::CursorLeft => {
                input.left();
                false
            }
            Action::CursorRight => {
                input.right();
                false
            }
            Action::CursorHome => {
                input.home();
                false
            }
            Action::CursorEnd => {
                input.end();
                false
            }
            Action::DeleteBack => input.backspace(),
            Action::DeleteForward => input.delete(),
            Action::DeleteToStart => input.delete_to_start(),
            Action::DeleteWord => input.delete_word(),
            Action::Type(c) => {
                input.insert(c);
                true
            }
            Action::ToggleRegex => {
                prompt.mode = prompt.mode.toggled();
                true
            }
            Action::AcceptPrompt => {
                self.accept_prompt();
                return true;
            }
            Action::CancelPrompt => {
                self.cancel_prompt();
                return true;
            }
            _ => return false,
        };
        if changed && !prompt.filter {
            self.search_typed();
        } else if changed {
            self.filter_typed();
        }
        true
    }

    /// A regex filter is checked as it is typed (it applies on Enter).
    fn filter_typed(&mut self) {
        let Some(p) = &mut self.prompt else { return };
        p.error = panes::find::Needle::for_filter(p.input.text(), p.mode).err();
        if let Some(e) = &p.error {
            self.status = Some(format!("regex error: {e}"));
        }
    }

    /// Incremental search: the first match from the top line on screen when
    /// the prompt opened, wrapping around.
    /// An invalid regex highlights nothing and leaves the view where it was.
    fn search_typed(&mut self) {
        let Some(p) = &mut self.prompt else { return };
        let (query, mode) = (p.input.text().to_string(), p.mode);
        let (origin, saved) = (p.origin, p.saved_scroll);
        let Some(t) = self.panes[self.focus].text_mut() else {
            return;
        };
        let result = t.set_search(&query, mode);
        p.error = result.as_ref().err().cloned();
        if let Err(e) = result {
            self.status = Some(format!("regex error: {e}"));
            return;
        }
        let jump = t.jump_from(origin, true, true);
        self.scroll[self.focus] = saved;
        if let Some(j) = jump {
            self.show_row(j.row);
        }
    }

    fn accept_prompt(&mut self) {
        let Some(p) = self.prompt.take() else { return };
        if let Some(e) = &p.error {
            // Keep the prompt to fix the regex; the pane is as it was.
            self.status = Some(format!("regex error: {e}"));
            self.prompt = Some(p);
            return;
        }
        let top = self.scroll();
        let text = p.input.text().to_string();
        let Some(t) = self.panes[self.focus].text_mut() else {
            return;
        };
        if p.filter {
            let top_line = t.line_at_row(top);
            let was = !t.filter_text().is_empty();
            let shown = match t.apply_filter(&text, p.mode) {
                Ok(shown) => shown,
                Err(e) => {
                    self.status = Some(format!("regex error: {e}"));
                    self.prompt = Some(p);
                    return;
                }
            };
            let row = t.row_of_line(top_line);
            self.status = Some(if text.is_empty() {
                if was { "filter cleared" } else { "no filter" }.to_string()
            } else {
                format!("filter {}: {shown} lines", p.mode.quote(&text))
            });
            self.scroll[self.focus] = row;
        } else if text.is_empty() {
            let _ = t.set_search("", p.mode);
            self.scroll[self.focus] = p.saved_scroll;
            self.status = Some("search cleared".into());
        } else {
            self.status = Some(t.match_status());
        }
    }

    fn cancel_prompt(&mut self) {
        let Some(p) = self.prompt.take() else { return };
        if p.filter {
            return;
        }
        if let Some(t) = self.panes[self.focus].text_mut() {
            // It was valid when the prompt opened.
            let _ = t.set_search(&p.saved_query, p.saved_mode);
            t.set_current(p.saved_current);
        }
        self.scroll[self.focus] = p.saved_scroll;
    }

    /// n/N in a text pane: from the current match, or from the screen.
    fn text_jump(&mut self, forward: bool) {
        let top = self.scroll();
        let Some(t) = self.panes[self.focus].text_mut() else {
            return;
        };
        if t.query().is_empty() {
            self.status = Some("no search: / starts one".into());
            return;
        }
        let (from, inclusive) = match t.current_match() {
            Some(c) => (c, false),
            None => (t.offset_of_row(top), forward),
        };
        let jump = t.jump_from(from, inclusive, forward);
        let status = t.match_status();
        match jump {
            Some(j) => {
                self.status = Some(if j.wrapped {
                    format!("{status} (wrapped around)")
                } else {
                    status
                });
                self.show_row(j.row);
            }
            None => self.status = Some(status),
        }
    }

    /// Scrolls the focused pane so `row` is visible, a third down the view
    /// when it has to move.
    fn show_row(&mut self, row: usize) {
        let (_, _, height) = self.pane_scroll_state();
        let top = self.scroll();
        if row < top || row >= top + height.max(1) {
            self.scroll[self.focus] = row.saturating_sub(height / 3);
        }
    }

    // --- workbench ---

    /// Applies a search result; true when the screen changed.
    pub fn on_reply(&mut self, reply: Reply) -> bool {
        let changed = self.apply_reply(reply);
        self.drain_inline() || changed
    }

    fn apply_reply(&mut self, reply: Reply) -> bool {
        match self.workbench.apply_reply(reply) {
            Applied::Stale => false,
            Applied::Changed | Applied::Died => true,
            Applied::Evaluated => {
                // Like incremental search: show the first match when none
                // is on screen.
                let visible = self.visible_bytes();
                if self.workbench.has_matches() && !self.workbench.kept_overlaps(&visible) {
                    if let Some(first) = self.workbench.first_match() {
                        self.workbench.set_current_match(Some(first.clone()));
                        self.scroll_to_offset(first.start);
                    }
                } else {
                    self.sync_window();
                }
                true
            }
            Applied::Hint(at) => {
                if !self.workbench.has_matches() {
                    self.scroll_to_offset(at.start);
                }
                true
            }
            Applied::Jumped { target, wrapped } => {
                match target {
                    Some(t) => {
                        self.scroll_to_offset(t.start);
                        let line = self.workbench.view(&self.report).line_of(t.start) + 1;
                        self.status = Some(if wrapped {
                            format!("match at line {line} (wrapped around)")
                        } else {
                            format!("match at line {line}")
                        });
                    }
                    None => self.status = Some("no match to jump to".into()),
                }
                true
            }
        }
    }

    /// Applies what an inline engine computed; true if anything changed.
    fn drain_inline(&mut self) -> bool {
        let mut changed = false;
        while let Some(reply) = self.workbench.take_inline_reply() {
            changed |= self.apply_reply(reply);
        }
        changed
    }

    fn workbench_focused(&mut self) {
        if !self.workbench.suggest_requested() {
            self.suggest_for_crash();
        }
        self.sync_window();
        // `focus_pane` is also called directly, outside `apply`.
        self.drain_inline();
    }

    /// Preselects pin candidates from the selected crash's message.
    fn suggest_for_crash(&mut self) {
        let mut report = self.report.clone();
        report.selected = self.crash;
        self.workbench.request_suggestion(
            &self.report,
            SuggestFrom::Report(Box::new(report)),
            "the crash message".into(),
        );
    }

    /// `s`: candidates from the current match's line, else the first
    /// match on screen, else the top line.
    fn suggest_for_line(&mut self) {
        let (top, _) = self.viewport();
        let visible = self.visible_bytes();
        let view = self.workbench.view(&self.report);
        let i = self
            .workbench
            .current_match()
            .or_else(|| self.workbench.first_kept_in(&visible))
            .map_or(top, |m| view.line_of(m.start));
        if i >= view.line_count() {
            return;
        }
        let line = view.line(i).to_string();
        self.workbench.request_suggestion(
            &self.report,
            SuggestFrom::Line(line),
            format!("line {}", i + 1),
        );
    }

    /// (top line, rows) of the workbench's corpus view.
    fn viewport(&self) -> (usize, usize) {
        let body = self.areas(self.screen).body;
        let ctx = self.ctx();
        let pane = &self.panes[self.wb_pane];
        let rows = pane.viewport_rows(&ctx, body).max(1);
        let total = pane.line_count(&ctx, body.width);
        (
            self.scroll[self.wb_pane].min(total.saturating_sub(rows)),
            rows,
        )
    }

    fn visible_bytes(&self) -> Range<usize> {
        let (top, rows) = self.viewport();
        self.workbench
            .view(&self.report)
            .bytes_of_lines(top, top + rows)
    }

    /// The window searched for positions: the screen and half a screen
    /// around it, so short scrolls need no new search.
    fn search_window(&self) -> Range<usize> {
        let (top, rows) = self.viewport();
        self.workbench
            .view(&self.report)
            .bytes_of_lines(top.saturating_sub(rows / 2), top + rows + rows / 2)
    }

    fn pin_changed(&mut self) {
        let window = self.search_window();
        self.workbench.pin_changed(&self.report, window);
    }

    /// Asks for positions when the screen shows corpus the last window did
    /// not cover.
    fn sync_window(&mut self) {
        if self.workbench.evaluation().is_none() {
            return;
        }
        let visible = self.visible_bytes();
        let kept = self.workbench.kept_window();
        if !(kept.start <= visible.start && visible.end <= kept.end) {
            let window = self.search_window();
            self.workbench.request_window(&self.report, window);
        }
    }

    /// Scrolls the corpus view so the line holding `offset` is visible, a
    /// third down the view when it has to move.
    fn scroll_to_offset(&mut self, offset: usize) {
        let line = self.workbench.view(&self.report).line_of(offset);
        let (top, rows) = self.viewport();
        if line < top || line >= top + rows {
            self.scroll[self.wb_pane] = line.saturating_sub(rows / 3);
        }
        self.sync_window();
    }

    fn jump(&mut self, forward: bool) {
        if !self.workbench.has_matches() {
            self.status = Some("no matches".into());
            return;
        }
        let visible = self.visible_bytes();
        let (from, inclusive) = match self.workbench.current_match() {
            Some(m) => (m.start, false),
            None if forward => (visible.start, true),
            None => (visible.end, false),
        };
        self.workbench
            .request_jump(&self.report, from, inclusive, forward);
    }

    fn export_spec(&self) -> scxray::matcher::ExportSpec {
        let crash_sched = self
            .crash
            .and_then(|i| self.report.crashes.get(i))
            .and_then(|c| c.scheduler.as_deref());
        self.workbench.export_spec(&self.report, crash_sched)
    }

    /// (file name, rendered test) for `y` and `w`, or why not.
    fn export_text(&self) -> Result<(String, String), String> {
        if let Some(x) = &self.export {
            return x.text.clone().map(|t| (x.file_name.clone(), t));
        }
        let spec = self.export_spec();
        render_test(&spec)
            .map(|t| (format!("{}.rs", spec.test_name), t))
            .map_err(|e| format!("cannot export: {e}"))
    }

    /// Where the terminal cursor goes: in the field being edited.
    pub fn cursor_position(&self, area: Rect) -> Option<Position> {
        if let (Some(p), Mode::Search) = (&self.prompt, self.mode()) {
            let status = self.areas(area).status;
            if status.is_empty() {
                return None;
            }
            let before = &p.input.text()[..p.input.cursor()];
            let col = 2 + Line::raw(before).width();
            let x = status.x + u16::try_from(col).unwrap_or(u16::MAX).min(status.width - 1);
            return Some(Position::new(x, status.y));
        }
        if self.mode() != Mode::Edit {
            return None;
        }
        let body = self.areas(area).body;
        let layout = self.workbench.layout(&self.ctx(), body);
        self.workbench.cursor_position(&layout)
    }

    /// (stored position, content lines, visible rows) of the focused pane.
    fn pane_scroll_state(&self) -> (usize, usize, usize) {
        let body = self.areas(self.screen).body;
        let ctx = self.ctx();
        let pane = &self.panes[self.focus];
        let total = pane.line_count(&ctx, body.width);
        (
            self.scroll[self.focus],
            total,
            pane.viewport_rows(&ctx, body),
        )
    }

    fn scroll_by(&mut self, action: Action) {
        let (pos, total, height) = if let Some(x) = &self.export {
            (x.scroll, x.line_count(), x.visible_rows(self.screen))
        } else if self.help {
            let lines = help::lines(&self.keymap, &self.theme).len();
            (
                self.help_scroll,
                lines,
                help::visible_rows(self.screen, lines),
            )
        } else {
            self.pane_scroll_state()
        };
        let max = total.saturating_sub(height);
        let pos = pos.min(max);
        let page = height.max(1);
        let new = match action {
            Action::ScrollDown => pos + 1,
            Action::ScrollUp => pos.saturating_sub(1),
            Action::PageDown => pos + page,
            Action::PageUp => pos.saturating_sub(page),
            Action::Top => 0,
            _ => max,
        }
        .min(max);
        if let Some(x) = &mut self.export {
            x.scroll = new;
        } else if self.help {
            self.help_scroll = new;
        } else {
            self.scroll[self.focus] = new;
        }
    }

    /// The companion pane's top line as shown: clamped to its content.
    fn side_scroll(&self, i: usize, areas: &Areas) -> usize {
        let Some((_, _, body)) = areas.side else {
            return 0;
        };
        let ctx = self.ctx();
        let total = self.panes[i].line_count(&ctx, body.width);
        let rows = self.panes[i].viewport_rows(&ctx, body);
        self.scroll[i].min(total.saturating_sub(rows))
    }

    /// Scrolls the companion pane by `delta` lines (the wheel over it).
    fn scroll_side(&mut self, i: usize, areas: &Areas, delta: isize) {
        let Some((_, _, body)) = areas.side else {
            return;
        };
        let ctx = self.ctx();
        let max = self.panes[i]
            .line_count(&ctx, body.width)
            .saturating_sub(self.panes[i].viewport_rows(&ctx, body));
        let pos = self.side_scroll(i, areas);
        self.scroll[i] = pos.saturating_add_signed(delta).min(max);
    }

    /// Splits the screen: title, answer lines, tabs, the focused pane and the
    /// status bar. Shrinks from the answer lines first and never panics on a
    /// tiny screen.
    fn areas(&self, area: Rect) -> Areas {
        // The workbench needs the rows for its corpus; the crash message is
        // in its corpus view and suggestion anyway.
        let answers = if self.focus == self.wb_pane {
            0
        } else {
            summary::answer_lines(&self.ctx()).len()
        };
        let single = area.width < SINGLE.0 || area.height < SINGLE.1;
        let compact = area.width < COMPACT.0 || area.height < COMPACT.1;
        let answers = if compact { answers.min(1) } else { answers };
        let mut rest = area.height;
        let status = rest.min(1);
        rest -= status;
        let (title, tabs, answer);
        if self.zoom || single {
            title = 0;
            tabs = u16::from(single && !self.zoom && rest >= 2);
            answer = 0;
        } else {
            title = rest.min(1);
            tabs = u16::from(rest - title >= 2);
            answer = u16::try_from(answers)
                .unwrap_or(u16::MAX)
                .min((rest - title - tabs).saturating_sub(MIN_MAIN_HEIGHT));
        }
        rest -= title + tabs + answer;
        let main = rest;

        let mut y = area.y;
        let mut take = |h: u16| {
            let r = Rect::new(area.x, y, area.width, h);
            y += h;
            r
        };
        let (title, answer, tabs, mut main, status) = (
            take(title),
            take(answer),
            take(tabs),
            take(main),
            take(status),
        );
        let side = self.companion(area).map(|i| {
            let width = (main.width * 2 / 5).clamp(60, 110);
            main.width -= width;
            let side = Rect::new(main.right(), main.y, width, main.height);
            (i, side, Block::bordered().inner(side))
        });
        Areas {
            title,
            answer,
            tabs,
            main,
            body: Block::bordered().inner(main),
            side,
            status,
            single: single && !self.zoom,
        }
    }

    fn render_title(&self, ctx: &Ctx<'_>, area: Rect, buf: &mut Buffer) {
        buf.set_style(area, self.theme.header);
        let (left, right) = summary::title_bar(ctx, &self.source);
        left.render(area, buf);
        if let Some(right) = right {
            right.right_aligned().render(area, buf);
        }
    }

    /// `[1 Summary]  2 Backtrace ...`: brackets mark focus without colour. When
    /// the labels overflow, the bar starts late enough to show the focused one.
    fn render_tabs(&self, ctx: &Ctx<'_>, area: Rect, single: bool, buf: &mut Buffer) {
        if area.is_empty() {
            return;
        }
        if single {
            // `‹4/7 scheduler log›`: where Tab goes, in one line.
            let text = format!(
                "‹{}/{} {}›",
                self.focus + 1,
                self.panes.len(),
                self.panes[self.focus].title(ctx)
            );
            buf.set_stringn(
                area.x,
                area.y,
                text,
                usize::from(area.width),
                self.theme.selected,
            );
            return;
        }
        let right = area.right();
        let layout = self.tab_layout(ctx, area);
        if layout.first().is_some_and(|&(i, _, _)| i > 0) {
            buf.set_string(area.x, area.y, "‹", self.theme.dim);
        }
        for (i, x0, x1) in layout {
            let style = if i == self.focus {
                self.theme.selected
            } else {
                Style::new()
            };
            let label = self.tab_label(ctx, i);
            buf.set_stringn(x0, area.y, &label, usize::from(x1 - x0), style);
            self.underline_key(ctx, i, x0, x1, area.y, buf);
            if usize::from(x1 - x0) < Line::raw(label.as_str()).width() {
                buf.set_string(right - 1, area.y, "›", self.theme.dim);
            }
        }
    }

    /// Underlines the letter key of tab `i` (drawn in columns `x0..x1`) in
    /// its title: the first occurrence, either case for a lower-case key.
    fn underline_key(&self, ctx: &Ctx<'_>, i: usize, x0: u16, x1: u16, y: u16, buf: &mut Buffer) {
        let Some(key) = self.role_key(i) else {
            return;
        };
        let label = self.tab_label(ctx, i);
        let title = self.panes[i].title(ctx);
        let Some(start) = label.find(&title) else {
            return;
        };
        let hit = title.char_indices().find(|&(_, c)| {
            c == key || (key.is_ascii_lowercase() && c == key.to_ascii_uppercase())
        });
        let Some((at, _)) = hit else {
            return;
        };
        let col = Line::raw(&label[..start + at]).width();
        let x = x0.saturating_add(u16::try_from(col).unwrap_or(u16::MAX));
        if x < x1 {
            if let Some(cell) = buf.cell_mut((x, y)) {
                cell.modifier.insert(Modifier::UNDERLINED);
            }
        }
    }

    /// `[1 Summary]` when focused, ` 2 Backtrace ` otherwise.
    fn tab_label(&self, ctx: &Ctx<'_>, i: usize) -> String {
        // `0` reaches the tenth pane; the rest by Tab or a click.
        let num = match i {
            0..=8 => format!("{} ", i + 1),
            9 => "0 ".to_string(),
            _ => String::new(),
        };
        let title = self.panes[i].title(ctx);
        if i == self.focus {
            format!("[{num}{title}]")
        } else {
            format!(" {num}{title} ")
        }
    }

    /// (pane, first column, column past the end) of each tab drawn in the
    /// bar. When the labels overflow, the bar starts late enough to show the
    /// focused one; the last one drawn may be cut.
    fn tab_layout(&self, ctx: &Ctx<'_>, area: Rect) -> Vec<(usize, u16, u16)> {
        let widths: Vec<usize> = (0..self.panes.len())
            .map(|i| Line::raw(self.tab_label(ctx, i)).width())
            .collect();
        let avail = usize::from(area.width);
        let mut start = 0;
        while start < self.focus
            && usize::from(start > 0) + widths[start..=self.focus].iter().sum::<usize>() > avail
        {
            start += 1;
        }
        let right = area.right();
        let mut x = area.x + u16::from(start > 0);
        let mut out = Vec::new();
        for (i, &w) in widths.iter().enumerate().skip(start) {
            if x >= right {
                // No room left: an empty entry draws the overflow mark.
                out.push((i, right - 1, right - 1));
                break;
            }
            let room = usize::from(right - x);
            if w > room {
                out.push((i, x, right - 1));
                break;
            }
            let end = x + w as u16;
            out.push((i, x, end));
            x = end;
        }
        out
    }

    fn render_main(&self, ctx: &Ctx<'_>, areas: &Areas, buf: &mut Buffer) {
        self.render_pane(ctx, self.focus, areas.main, areas.body, true, buf);
        if let Some((i, side, body)) = areas.side {
            self.render_pane(ctx, i, side, body, false, buf);
        }
    }

    /// Pane `i` in its bordered `area`; the focused one has the focused
    /// border and a bold title, so focus shows without colour.
    fn render_pane(
        &self,
        ctx: &Ctx<'_>,
        i: usize,
        area: Rect,
        body: Rect,
        focused: bool,
        buf: &mut Buffer,
    ) {
        let pane = &self.panes[i];
        let total = pane.line_count(ctx, body.width);
        let height = pane.viewport_rows(ctx, body);
        let top = self.scroll[i].min(total.saturating_sub(height));
        let (border, title) = if focused {
            (self.theme.focused_border, format!(" {} ", pane.title(ctx)))
        } else {
            (
                self.theme.border,
                format!(" {} · {} ", pane.title(ctx), self.companion_hint(i)),
            )
        };
        let mut block = Block::bordered()
            .border_style(border)
            .title(Line::styled(title, self.theme.label));
        if let Some(note) = pane.border_note() {
            block = block.title(Line::styled(format!(" {note} "), self.theme.warning));
        }
        if total > 0 && height > 0 {
            let last = (top + height).min(total);
            block =
                block.title(Line::raw(format!(" {}-{last} of {total} ", top + 1)).right_aligned());
        }
        block.render(area, buf);
        pane.render(ctx, body, top, buf);
    }

    /// How to reach the companion pane, for its border.
    fn companion_hint(&self, i: usize) -> String {
        match self.role_key(i) {
            Some(k) => format!("{k} focuses it"),
            None => "Tab to reach it".to_string(),
        }
    }

    fn render_status(&self, area: Rect, buf: &mut Buffer) {
        let mut spans = vec![Span::raw(" ")];
        if let (Some(p), Mode::Search) = (&self.prompt, self.mode()) {
            spans.push(Span::styled(
                if p.filter { "&" } else { "/" },
                self.theme.key,
            ));
            spans.push(Span::raw(p.input.text().to_string()));
            let what = match (p.filter, p.mode.is_regex()) {
                (true, false) => "  filter: lines holding this (Enter applies, empty clears)  ",
                (true, true) => {
                    "  filter (regex): lines matching this (Enter applies, empty clears)  "
                }
                (false, false) => "  search  ",
                (false, true) => "  search (regex)  ",
            };
            spans.push(Span::styled(what, self.theme.dim));
            // The status message says it until the next key; this stays.
            if let (Some(e), None) = (&p.error, &self.status) {
                spans.push(Span::styled(
                    format!("regex error: {e}  "),
                    self.theme.error,
                ));
            }
        }
        if let Some(msg) = &self.status {
            spans.push(Span::styled(format!("{msg}  "), self.theme.label));
        }
        for (keys, label) in self.keymap.bar_hints(self.mode(), |a| self.available(a)) {
            spans.push(Span::styled(keys, self.theme.key));
            spans.push(Span::styled(format!(" {label}  "), self.theme.dim));
        }
        Line::from(spans).render(area, buf);
    }
}

/// Applies `key` to the app and returns what it meant. Key releases (sent by
/// some terminals) and unbound keys give [`Action::None`] and change nothing.
pub fn handle_key(app: &mut App, key: KeyEvent) -> Action {
    if key.kind == KeyEventKind::Release {
        return Action::None;
    }
    let mode = app.mode();
    let k = Key::from_event(&key);
    let mut action = app.keymap.action(mode, k);
    if action == Action::None && matches!(mode, Mode::Edit | Mode::Search) {
        // AltGr arrives as Ctrl+Alt on some terminals: still a character.
        let typed = k.mods.is_empty() || k.mods == KeyModifiers::CONTROL | KeyModifiers::ALT;
        if let (KeyCode::Char(c), true) = (k.code, typed) {
            action = Action::Type(c);
        }
    }
    app.apply(action);
    action
}

impl Widget for &App {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let ctx = self.ctx();
        let areas = self.areas(area);
        self.render_title(&ctx, areas.title, buf);
        render_lines(summary::answer_lines(&ctx), areas.answer, 0, buf);
        self.render_tabs(&ctx, areas.tabs, areas.single, buf);
        self.render_main(&ctx, &areas, buf);
        self.render_status(areas.status, buf);
        if let Some(x) = &self.export {
            x.render(&self.theme, area, buf);
        }
        if self.help {
            help::render(&self.keymap, &self.theme, self.help_scroll, area, buf);
        }
    }
}
