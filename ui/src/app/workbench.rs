//! The app's side of the workbench component: it measures the corpus
//! viewport (the rows depend on the screen and the info lines), forwards
//! replies, and builds the export. The workbench state itself, its scroll
//! included, is `crate::workbench`.

use scxray::matcher::render_test;

use super::App;
use crate::keymap::Mode;
use crate::matcher_worker::{Reply, SuggestFrom};
use ratatui::layout::{Position, Rect};

impl App {
    /// Applies a search result; true when the screen changed.
    pub fn on_reply(&mut self, reply: Reply) -> bool {
        let rows = self.wb_rows();
        let (changed, status) = self.workbench.on_reply(reply, rows);
        if status.is_some() {
            self.status = status;
        }
        self.drain_inline() || changed
    }

    /// Applies what an inline engine computed; true if anything changed.
    pub(super) fn drain_inline(&mut self) -> bool {
        let rows = self.wb_rows();
        let (changed, status) = self.workbench.drain_inline(rows);
        if status.is_some() {
            self.status = status;
        }
        changed
    }

    /// Corpus rows the workbench pane shows on the current screen.
    pub(super) fn wb_rows(&self) -> usize {
        let body = self.areas(self.screen).body;
        let ctx = self.ctx();
        self.panes
            .get(self.wb_pane)
            .map_or(1, |p| p.viewport_rows(&ctx, body).max(1))
    }

    pub(super) fn workbench_focused(&mut self) {
        if !self.workbench.suggest_requested() {
            self.suggest_for_crash();
        }
        let rows = self.wb_rows();
        self.workbench.sync_window(rows);
        // `focus_pane` is also called directly, outside `apply`.
        self.drain_inline();
    }

    /// Preselects pin candidates from the selected crash's message.
    pub(super) fn suggest_for_crash(&mut self) {
        let mut report = self.report.clone();
        report.selected = self.crash;
        self.workbench.request_suggestion(
            SuggestFrom::Report(Box::new(report)),
            "the crash message".into(),
        );
    }

    pub(super) fn export_spec(&self) -> scxray::matcher::ExportSpec {
        let crash_sched = self
            .crash
            .and_then(|i| self.report.crashes.get(i))
            .and_then(|c| c.scheduler.as_deref());
        self.workbench.export_spec(&self.report, crash_sched)
    }

    /// (file name, rendered test) for `y` and `w`, or why not.
    pub(super) fn export_text(&self) -> Result<(String, String), String> {
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
            let col = 2 + ratatui::text::Line::raw(before).width();
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
}
