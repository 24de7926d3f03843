//! Live mode (`scxray demo`, `scxray run`): frames of the run come from the
//! live feed thread (`live_feed.rs`), which builds each report off the UI
//! thread. Showing one keeps each pane's place; a text pane whose section
//! only grew keeps its search and filter and scans only the new lines.

use scxray::report::Report;

use super::App;
use crate::live_feed::LiveFrame;
use crate::panes::{self, Pane, Role};

/// What identifies a pane across rebuilds: its role and its section's kind
/// (section indices shift when a new section appears before it).
#[derive(Debug, Clone, PartialEq, Eq)]
struct PaneKey {
    role: Option<Role>,
    section: Option<String>,
}

fn key(pane: &dyn Pane, report: &Report) -> PaneKey {
    PaneKey {
        role: panes::role_of(pane, report),
        section: pane
            .section()
            .and_then(|i| report.sections.get(i))
            .map(|s| s.kind.name().to_string()),
    }
}

/// A pane of the old report: its key, scroll, whether it sat at its end.
struct Kept {
    key: PaneKey,
    scroll: usize,
    at_end: bool,
}

impl App {
    /// Shows a new frame of the live run.
    pub fn show_live_frame(&mut self, frame: LiveFrame) {
        self.live_frames += 1;
        self.set_title(frame.title);
        self.replace_report(frame.report);
    }

    /// Frames of a live run shown so far.
    pub fn live_frames(&self) -> u64 {
        self.live_frames
    }

    /// The run ended; `message` says how (kept in the status bar).
    pub fn live_finished(&mut self, message: String) {
        self.status = Some(message);
    }

    /// Swaps in a newer report of the same run (live mode). Panes keep their
    /// place; a log pane scrolled to its end, or not looked at yet, follows
    /// new lines (scroll positions are clamped when used); a text pane whose
    /// section only grew is kept, search and filter included.
    pub fn replace_report(&mut self, report: Report) {
        let body = self.areas(self.screen).body;
        let old: Vec<Kept> = {
            let ctx = self.ctx();
            self.panes
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let total = p.line_count(&ctx, body.width);
                    let rows = p.viewport_rows(&ctx, body);
                    let scroll = self.scroll_of(i);
                    Kept {
                        key: key(p.as_ref(), &self.report),
                        scroll,
                        at_end: scroll >= total.saturating_sub(rows),
                    }
                })
                .collect()
        };
        let focused = old.get(self.focus).map(|o| o.key.clone());
        let had_crash = self.crash.is_some();
        let mut old_panes: Vec<Option<Box<dyn Pane>>> = std::mem::take(&mut self.panes)
            .into_iter()
            .map(Some)
            .collect();
        let mut panes = panes::build(&report);
        for pane in &mut panes {
            let new_key = key(pane.as_ref(), &report);
            let Some(j) = old.iter().position(|o| o.key == new_key) else {
                continue;
            };
            let (Some(section), Some(old_pane)) = (pane.section(), old_panes[j].as_mut()) else {
                continue;
            };
            let Some(t) = old_pane.text_mut() else {
                continue;
            };
            let grown = report.sections[section].body.clone();
            if t.grow(grown) {
                t.set_section(section);
                if let Some(old_pane) = old_panes[j].take() {
                    *pane = old_pane;
                }
            } else if let Some(new_text) = pane.text_mut() {
                // Not an append (a log that rolled over its budget): the
                // search and filter are carried over and run again.
                new_text.restore_find_state(&t.find_state());
                if new_text.trace_prefix_shown() != t.trace_prefix_shown() {
                    new_text.toggle_trace_prefix();
                }
            }
        }
        self.report = report;
        self.panes = panes;
        self.wb_pane = self.panes.len() - 1;
        let keys: Vec<PaneKey> = self
            .panes
            .iter()
            .map(|p| key(p.as_ref(), &self.report))
            .collect();
        self.scroll = keys
            .iter()
            .zip(&self.panes)
            .map(|(k, p)| {
                let follow = p.section().is_some();
                match old.iter().find(|o| &o.key == k) {
                    Some(o) if !(follow && o.at_end) => o.scroll,
                    _ if follow => usize::MAX,
                    _ => 0,
                }
            })
            .collect();
        self.focus = focused
            .and_then(|f| keys.iter().position(|k| *k == f))
            .unwrap_or(0);
        let rows = self.wb_rows();
        self.workbench.set_report(&self.report, rows);
        self.drain_inline();
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
}
