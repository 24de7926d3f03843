//! Mouse: a click on a tab focuses it, the wheel scrolls what is under it
//! (an overlay, the focused pane or the companion), a click on a backtrace
//! frame selects it.

use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Position;

use super::layout::{Side, TabSpan};
use super::App;
use crate::keymap::Action;

impl App {
    /// A click or wheel event; true when the screen changed. A click on a
    /// tab focuses it, the wheel scrolls what is under it (the overlay, or
    /// the pane), a click on a backtrace frame selects it.
    pub fn mouse(&mut self, event: MouseEvent) -> bool {
        let at = Position::new(event.column, event.row);
        let areas = self.areas(self.screen);
        match event.kind {
            MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
                let overlay = self.help || self.export.is_some();
                if let (false, Some(side)) = (overlay, areas.side) {
                    if side.area.contains(at) {
                        let down = event.kind == MouseEventKind::ScrollDown;
                        self.scroll_side(side, if down { 3 } else { -3 });
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
                        .tabs(&ctx, areas.tabs)
                        .into_iter()
                        .find(|t| (t.x0..t.x1).contains(&at.x));
                    return match hit {
                        Some(TabSpan { pane: i, .. }) => {
                            self.status = None;
                            self.focus_pane(i);
                            true
                        }
                        None => false,
                    };
                }
                let (pane, top, body) = match areas.side {
                    Some(side) if side.body.contains(at) => {
                        (side.pane, self.side_scroll(side), side.body)
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

    /// The companion pane's top line as shown: clamped to its content.
    pub(super) fn side_scroll(&self, side: Side) -> usize {
        let ctx = self.ctx();
        let pane = &self.panes[side.pane];
        let total = pane.line_count(&ctx, side.body.width);
        let rows = pane.viewport_rows(&ctx, side.body);
        self.scroll[side.pane].min(total.saturating_sub(rows))
    }

    /// Scrolls the companion pane by `delta` lines (the wheel over it).
    fn scroll_side(&mut self, side: Side, delta: isize) {
        let ctx = self.ctx();
        let pane = &self.panes[side.pane];
        let max = pane
            .line_count(&ctx, side.body.width)
            .saturating_sub(pane.viewport_rows(&ctx, side.body));
        let pos = self.side_scroll(side);
        self.scroll[side.pane] = pos.saturating_add_signed(delta).min(max);
    }
}
