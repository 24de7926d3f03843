//! App state and the pure key handler.
//!
//! [`App`] holds what the user changed (focused pane, per-pane scroll, help
//! overlay, selected crash, the workbench) and the screen size;
//! [`handle_key`] turns a key into an [`Action`] and `apply` dispatches it to
//! the part that owns what it changes. Nothing here blocks: slow work (the
//! workbench's searches, source lookups) is handed to threads whose replies
//! come back through [`App::on_reply`] and [`App::on_source`], and I/O a key
//! asks for (the clipboard, writing a file) is queued as an [`Effect`] for
//! the event loop. Drawing goes through `impl Widget for &App` and cannot
//! change state.
//!
//! | file | holds |
//! |---|---|
//! | `layout.rs` | the screen split and the tab bar, as pure functions |
//! | `chrome.rs` | title, tabs, borders, status bar; `impl Widget` |
//! | `prompt.rs` | the search/filter prompt of text panes |
//! | `mouse.rs` | clicks and the wheel |
//! | `frames.rs` | backtrace frame selection and its source lookup |
//! | `live.rs` | live frames: a newer report that keeps the panes |
//! | `workbench.rs` | the app's side of the workbench component |

use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::Rect;
use scxray::matcher::NamedCorpus;
use scxray::report::Report;

use crate::keymap::{Action, Key, Keymap, Mode};
use crate::matcher_worker::Engine;
use crate::panes::export::ExportView;
use crate::panes::{self, help, Ctx, Pane, Role};
use crate::source_lookup::SourceLookup;
use crate::theme::Theme;
use crate::widgets::line_input::Edit;
use crate::workbench::Workbench;

mod chrome;
mod frames;
mod layout;
mod live;
mod mouse;
mod prompt;
mod stall;
mod workbench;

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

pub struct App {
    report: Report,
    /// The title bar's text: the input's name, or where a live run is.
    title: String,
    panes: Vec<Box<dyn Pane>>,
    focus: usize,
    /// Top line per pane (the workbench keeps its own). May exceed the
    /// content after a resize; every use clamps it, so a later grow shows
    /// the same place again.
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
    /// Live frames shown so far.
    live_frames: u64,
    prompt: Option<prompt::Prompt>,
    /// The focused pane full screen.
    zoom: bool,
    /// The backtrace frame selected.
    frame: Option<usize>,
    /// The auto-repro function selected: the Source pane shows it rather
    /// than the frame until a frame is selected again.
    probe: Option<usize>,
    /// Where the shown frame's function is defined (`--source`).
    source: SourceLookup,
}

impl App {
    /// Opens `report`, showing its selected crash (the newest when the parser
    /// chose none). `title` names the input in the title bar.
    pub fn new(report: Report, title: &str) -> App {
        let n = report.crashes.len();
        let crash = report.selected.filter(|&i| i < n).or(n.checked_sub(1));
        let panes = panes::build(&report);
        let mut app = App {
            scroll: vec![0; panes.len()],
            wb_pane: panes.len() - 1,
            panes,
            report,
            title: title.to_string(),
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
            live_frames: 0,
            prompt: None,
            zoom: false,
            frame: None,
            probe: None,
            source: SourceLookup::default(),
        };
        let rows = app.wb_rows();
        app.workbench.set_report(&app.report, rows);
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

    /// The role of pane `i`.
    pub(super) fn pane_role(&self, i: usize) -> Option<Role> {
        self.panes
            .get(i)
            .and_then(|p| panes::role_of(p.as_ref(), &self.report))
    }

    /// The first pane with `role`.
    pub(super) fn role_index(&self, role: Role) -> Option<usize> {
        (0..self.panes.len()).find(|&i| self.pane_role(i) == Some(role))
    }

    /// The letter key that reaches pane `i`, for its tab.
    pub(super) fn role_key(&self, i: usize) -> Option<char> {
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

    /// The title bar's text (live mode: where the run is).
    pub fn set_title(&mut self, title: String) {
        self.title = title;
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
            let rows = self.wb_rows();
            self.workbench.sync_window(rows);
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

    pub(super) fn ctx(&self) -> Ctx<'_> {
        Ctx {
            report: &self.report,
            crash: self
                .crash
                .and_then(|i| self.report.crashes.get(i).map(|c| (i, c))),
            theme: &self.theme,
            workbench: Some(&self.workbench),
            frame: self.frame,
            probe: self.probe,
            source: self.source.state(),
        }
    }

    /// Selects a crash: panes that show it start from the top, and the text
    /// pane holding it scrolls to where it was found.
    pub(super) fn select_crash(&mut self, crash: Option<usize>) {
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

    /// Whether the focused pane selects items with j/k (the auto-repro
    /// pane's functions).
    pub(super) fn on_item_pane(&self) -> bool {
        !self.panes[self.focus].item_lines(&self.ctx()).is_empty()
    }

    /// Whether an action can do anything now; the status bar hides the rest.
    pub(super) fn available(&self, action: Action) -> bool {
        let wb = &self.workbench;
        match action {
            Action::NextCrash => self.report.crashes.len() > 1,
            Action::GoToWorkbench => self.focus != self.wb_pane,
            Action::GoToRole(role) => self.role_index(role).is_some(),
            Action::OpenFrame => {
                self.pane_role(self.focus) == Some(Role::Backtrace)
                    || self.on_item_pane()
                    || (self.pane_role(self.focus) == Some(Role::Summary)
                        && self.stalled_task().is_some())
            }
            Action::ToggleTracePrefix => self.panes[self.focus]
                .text()
                .is_some_and(|t| t.has_trace_prefix()),
            Action::ToggleAlternate => self.panes[self.focus].has_alternate(),
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

    pub(super) fn apply(&mut self, action: Action) {
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
        let item_move = matches!(
            action,
            Action::ScrollDown | Action::ScrollUp | Action::Top | Action::Bottom
        ) && !self.help
            && self.export.is_none()
            && self.on_item_pane();
        if item_move && self.move_item(action) {
            return;
        }
        let on_item_pane = self.on_item_pane();
        let on_summary = self.pane_role(self.focus) == Some(Role::Summary);
        let rows = self.wb_rows();
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
            Action::OpenFrame if on_item_pane => {
                if self.probe.is_none() {
                    self.select_probe(0);
                }
                if let Some(i) = self.role_index(Role::Source) {
                    self.focus_pane(i);
                }
            }
            Action::OpenFrame if on_summary => {
                self.open_stalled_task();
            }
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
            | Action::Bottom => self.scroll_by(action),
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
            Action::CursorLeft
            | Action::CursorRight
            | Action::CursorHome
            | Action::CursorEnd
            | Action::DeleteBack
            | Action::DeleteForward
            | Action::DeleteToStart
            | Action::DeleteWord
            | Action::Type(_) => {
                if wb.input_mut().apply(action) == Edit::Changed {
                    wb.edited(rows);
                }
            }
            Action::NextMatch | Action::PrevMatch if self.focus != self.wb_pane => {
                self.text_jump(action == Action::NextMatch);
            }
            Action::NextMatch | Action::PrevMatch => {
                if let Some(msg) = wb.jump(action == Action::NextMatch, rows) {
                    self.status = Some(msg);
                }
            }
            Action::StartSearch => self.start_prompt(false),
            Action::StartFilter => self.start_prompt(true),
            // Handled by `prompt_key` while a prompt is open.
            Action::AcceptPrompt | Action::CancelPrompt | Action::ToggleRegex => {}
            Action::ToggleTracePrefix => {
                self.status = Some(match self.panes[self.focus].text_mut() {
                    Some(t) if t.has_trace_prefix() => {
                        if t.toggle_trace_prefix() {
                            "trace prefixes shown: p hides them".into()
                        } else {
                            "trace prefixes hidden: p shows them".into()
                        }
                    }
                    _ => "no sched_ext_dump trace lines in this pane".into(),
                });
            }
            Action::ToggleAlternate => match self.panes[self.focus].toggle_alternate() {
                Some(now) => {
                    // Another dump: its own top, not the other's position.
                    if let Some(s) = self.scroll.get_mut(self.focus) {
                        *s = 0;
                    }
                    self.status = Some(format!("showing {now}"));
                }
                None => {
                    self.status =
                        Some("no other view here: R switches the Failure dump pane's dumps".into());
                }
            },
            Action::ToggleZoom => {
                self.zoom = !self.zoom;
                if self.zoom {
                    self.status = Some("zoomed: z shows the other panes again".into());
                }
            }
            Action::AcceptSuggestion => {
                if wb.accept_suggestion() {
                    wb.edited(rows);
                    self.status = Some("accepted the suggested pin".into());
                } else {
                    self.status = Some("no suggestion to accept".into());
                }
            }
            Action::ApplyFix => {
                if wb.apply_fix() {
                    wb.edited(rows);
                    self.status = Some("applied the suggested fix".into());
                } else {
                    self.status = Some("no fix to apply".into());
                }
            }
            Action::SuggestFromLine => wb.suggest_for_line(rows),
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

    /// Pane `i`'s stored top line (the workbench keeps its own).
    pub(super) fn scroll_of(&self, i: usize) -> usize {
        if i == self.wb_pane {
            self.workbench.scroll
        } else {
            self.scroll.get(i).copied().unwrap_or(0)
        }
    }

    /// (stored position, content lines, visible rows) of the focused pane.
    pub(super) fn pane_scroll_state(&self) -> (usize, usize, usize) {
        let body = self.areas(self.screen).body;
        let ctx = self.ctx();
        let pane = &self.panes[self.focus];
        let total = pane.line_count(&ctx, body.width);
        (
            self.scroll_of(self.focus),
            total,
            pane.viewport_rows(&ctx, body),
        )
    }

    pub(super) fn scroll_by(&mut self, action: Action) {
        if self.focus == self.wb_pane && !self.help && self.export.is_none() {
            let rows = self.wb_rows();
            self.workbench.scroll_by(action, rows);
            return;
        }
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
        let new = action.scrolled(pos, total, height);
        if let Some(x) = &mut self.export {
            x.scroll = new;
        } else if self.help {
            self.help_scroll = new;
        } else {
            self.scroll[self.focus] = new;
        }
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
