//! The search (`/`) and filter (`&`) prompt of a text pane: incremental
//! search from the top line on screen, a filter applied on Enter, Esc
//! restoring what was there, n/N between matches.

use super::App;
use crate::find::{FindMode, Needle};
use crate::keymap::Action;
use crate::widgets::line_input::{Edit, LineInput};

/// The open prompt.
pub(super) struct Prompt {
    pub filter: bool,
    pub input: LineInput,
    /// Text or regex (Ctrl-R).
    pub mode: FindMode,
    /// Why the typed regex cannot be used; Enter then keeps the prompt open.
    pub error: Option<String>,
    /// The pane's query, its mode, current match and scroll before the
    /// prompt opened, for Esc.
    saved_query: String,
    saved_mode: FindMode,
    saved_current: Option<usize>,
    saved_scroll: usize,
    /// Byte offset incremental search starts from: the top line on screen.
    origin: usize,
}

impl App {
    pub(super) fn start_prompt(&mut self, filter: bool) {
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
    pub(super) fn prompt_key(&mut self, action: Action) -> bool {
        let Some(prompt) = &mut self.prompt else {
            return false;
        };
        let changed = match prompt.input.apply(action) {
            Edit::Changed => true,
            Edit::Unchanged => false,
            Edit::NotEdit => match action {
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
            },
        };
        if changed && !prompt.filter {
            self.search_typed();
        } else if changed {
            self.filter_typed();
        }
        true
    }

    /// A regex filter is checked as it is typed (it applies on Enter).
    pub(super) fn filter_typed(&mut self) {
        let Some(p) = &mut self.prompt else { return };
        p.error = Needle::for_filter(p.input.text(), p.mode)
            .err()
            .map(|e| e.to_string());
        if let Some(e) = &p.error {
            self.status = Some(format!("regex error: {e}"));
        }
    }

    /// Incremental search: the first match from the top line on screen when
    /// the prompt opened, wrapping around.
    /// An invalid regex highlights nothing and leaves the view where it was.
    pub(super) fn search_typed(&mut self) {
        let Some(p) = &mut self.prompt else { return };
        let (query, mode) = (p.input.text().to_string(), p.mode);
        let (origin, saved) = (p.origin, p.saved_scroll);
        let Some(t) = self.panes[self.focus].text_mut() else {
            return;
        };
        let result = t.set_search(&query, mode);
        p.error = result.as_ref().err().map(ToString::to_string);
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

    pub(super) fn accept_prompt(&mut self) {
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

    pub(super) fn cancel_prompt(&mut self) {
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
    pub(super) fn text_jump(&mut self, forward: bool) {
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
    pub(super) fn show_row(&mut self, row: usize) {
        let (_, _, height) = self.pane_scroll_state();
        let top = self.scroll();
        if row < top || row >= top + height.max(1) {
            self.scroll[self.focus] = row.saturating_sub(height / 3);
        }
    }

    // --- workbench ---
}
