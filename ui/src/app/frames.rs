//! Backtrace frames: selecting one with j/k/g/G, a click or Enter, and
//! asking where its function is defined (see `source_lookup.rs`).

use std::path::PathBuf;

use super::App;
use crate::keymap::Action;
use crate::panes;
use crate::source_lookup::{SourceReply, Wanted};

impl App {
    /// Directories where a clicked frame's function is looked up by name,
    /// on the caller's thread until [`App::start_source_lookup`] moves the
    /// lookups to a thread of their own.
    pub fn with_source_roots(mut self, roots: Vec<PathBuf>) -> App {
        self.source.set_roots(roots);
        self.refresh_frame_source();
        self
    }

    /// Sets the `--source` directories without looking anything up yet: the
    /// first lookup waits for [`App::start_source_lookup`], so opening a
    /// report never walks a tree on the UI thread.
    pub fn set_source_roots(&mut self, roots: Vec<PathBuf>) {
        self.source.set_roots(roots);
        self.source.defer();
    }

    /// Looks sources up on a thread that answers through `send` (the event
    /// loop then passes each reply to [`App::on_source`]).
    pub fn start_source_lookup(
        &mut self,
        send: impl FnMut(SourceReply) -> bool + Send + 'static,
    ) -> std::io::Result<()> {
        self.source.spawn(send)?;
        self.refresh_frame_source();
        Ok(())
    }

    /// A lookup finished; true when the screen changed.
    pub fn on_source(&mut self, reply: SourceReply) -> bool {
        self.source.on_reply(reply)
    }

    /// Asks where the shown frame's function (the selected frame, or the
    /// first one worth reading) is defined. Only a new name is looked up; a
    /// live report's crash gains its backtrace late, so this runs on every
    /// report change too.
    pub(super) fn refresh_frame_source(&mut self) {
        if let Some(wanted) = self.probe.and_then(|i| self.probe_wanted(i)) {
            self.source.want(Some(wanted));
            return;
        }
        let wanted = self
            .crash
            .and_then(|i| self.report.crashes.get(i))
            .and_then(|crash| {
                let frame = self
                    .frame
                    .filter(|&i| i < crash.backtrace.len())
                    .or_else(|| crash.top_frame_index())?;
                frame_wanted(crash, frame)
            });
        self.source.want(wanted);
    }

    /// What auto-repro function `i` wants looked up: its printed location,
    /// else its name.
    fn probe_wanted(&self, i: usize) -> Option<Wanted> {
        let model = scxray::sections::auto_repro(&self.report)?;
        let f = *panes::auto_repro::functions(&model).get(i)?;
        Some(match &f.location {
            Some(l) => Wanted::At {
                file: l.file.clone(),
                line: l.line as usize,
            },
            None => Wanted::Name(f.name.clone()),
        })
    }

    /// Selects backtrace frame `i` and looks its source up.
    pub(super) fn select_frame(&mut self, i: usize) {
        self.frame = Some(i);
        self.probe = None;
        self.refresh_frame_source();
    }

    /// Selects auto-repro function `i` and looks its source up.
    pub(super) fn select_probe(&mut self, i: usize) {
        self.probe = Some(i);
        self.refresh_frame_source();
    }

    /// j/k/g/G over a pane's items (the auto-repro pane's functions): the
    /// first move lands on the first item; the item is kept on screen.
    /// False when the pane has no items or the action is not a move.
    pub(super) fn move_item(&mut self, action: Action) -> bool {
        let lines = self.panes[self.focus].item_lines(&self.ctx());
        let n = lines.len();
        if n == 0 {
            return false;
        }
        let next = match (action, self.probe.filter(|&i| i < n)) {
            (Action::ScrollDown | Action::ScrollUp, None) | (Action::Top, _) => 0,
            (Action::ScrollDown, Some(i)) => (i + 1).min(n - 1),
            (Action::ScrollUp, Some(i)) => i.saturating_sub(1),
            (Action::Bottom, _) => n - 1,
            _ => return false,
        };
        self.select_probe(next);
        self.keep_visible(lines[next]);
        true
    }

    /// Scrolls the focused pane the least that shows content line `line`.
    fn keep_visible(&mut self, line: usize) {
        let (pos, _, height) = self.pane_scroll_state();
        let height = height.max(1);
        if line < pos {
            self.scroll[self.focus] = line;
        } else if line >= pos + height {
            self.scroll[self.focus] = line + 1 - height;
        }
    }

    /// j/k/g/G in the backtrace move the frame selection (the first move
    /// lands on the frame worth reading) and keep it on screen. False when
    /// the action is not a frame move (page keys scroll).
    pub(super) fn move_frame(&mut self, action: Action) -> bool {
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

    /// The backtrace frame clicked last.
    pub fn selected_frame(&self) -> Option<usize> {
        self.frame
    }
}

/// What frame `frame` of `crash` wants looked up: the line its error
/// message names ([`panes::source::message_location`]), else its function by
/// name.
fn frame_wanted(crash: &scxray::report::Crash, frame: usize) -> Option<Wanted> {
    if let Some((file, line)) = panes::source::message_location(crash, frame) {
        return Some(Wanted::At { file, line });
    }
    panes::source::source_name(crash, frame).map(|n| Wanted::Name(n.to_string()))
}
