//! A one-line text field with a cursor: the workbench's two pin fields and
//! the search/filter prompt. Edits work on char boundaries, so any UTF-8
//! typed or pasted is safe.

use crate::keymap::Action;

/// One editable line of text with a cursor (a byte offset on a char boundary).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineInput {
    text: String,
    cursor: usize,
}

impl LineInput {
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Replaces the text; the cursor goes to the end.
    pub fn set(&mut self, text: &str) {
        self.text = text.to_string();
        self.cursor = self.text.len();
    }

    pub fn insert(&mut self, c: char) {
        self.text.insert(self.cursor, c);
        self.cursor += c.len_utf8();
    }

    fn prev(&self) -> Option<usize> {
        self.text[..self.cursor]
            .char_indices()
            .last()
            .map(|(i, _)| i)
    }

    fn next(&self) -> Option<usize> {
        self.text[self.cursor..]
            .chars()
            .next()
            .map(|c| self.cursor + c.len_utf8())
    }

    /// Each edit returns whether the text changed (and a search is due).
    pub fn backspace(&mut self) -> bool {
        let Some(p) = self.prev() else { return false };
        self.text.replace_range(p..self.cursor, "");
        self.cursor = p;
        true
    }

    pub fn delete(&mut self) -> bool {
        let Some(n) = self.next() else { return false };
        self.text.replace_range(self.cursor..n, "");
        true
    }

    pub fn left(&mut self) {
        self.cursor = self.prev().unwrap_or(0);
    }

    pub fn right(&mut self) {
        self.cursor = self.next().unwrap_or(self.text.len());
    }

    pub fn home(&mut self) {
        self.cursor = 0;
    }

    pub fn end(&mut self) {
        self.cursor = self.text.len();
    }

    /// Ctrl-U: delete from the start to the cursor.
    pub fn delete_to_start(&mut self) -> bool {
        let changed = self.cursor > 0;
        self.text.replace_range(..self.cursor, "");
        self.cursor = 0;
        changed
    }

    /// Ctrl-W: delete the spaces before the cursor, then the word before them.
    pub fn delete_word(&mut self) -> bool {
        let before = &self.text[..self.cursor];
        let trimmed = before.trim_end_matches(char::is_whitespace);
        let start = trimmed
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_whitespace())
            .map_or(0, |(i, c)| i + c.len_utf8());
        let changed = start < self.cursor;
        self.text.replace_range(start..self.cursor, "");
        self.cursor = start;
        changed
    }
}

/// What [`LineInput::apply`] did with an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    /// The text changed: whatever follows it (a search) is due.
    Changed,
    /// Only the cursor moved, or an edit found nothing to delete.
    Unchanged,
    /// Not an editing action; the caller handles it.
    NotEdit,
}

impl LineInput {
    /// Applies an editing action: the one dispatch the workbench fields and
    /// the search prompt share.
    pub fn apply(&mut self, action: Action) -> Edit {
        let changed = match action {
            Action::CursorLeft => {
                self.left();
                false
            }
            Action::CursorRight => {
                self.right();
                false
            }
            Action::CursorHome => {
                self.home();
                false
            }
            Action::CursorEnd => {
                self.end();
                false
            }
            Action::DeleteBack => self.backspace(),
            Action::DeleteForward => self.delete(),
            Action::DeleteToStart => self.delete_to_start(),
            Action::DeleteWord => self.delete_word(),
            Action::Type(c) => {
                self.insert(c);
                true
            }
            _ => return Edit::NotEdit,
        };
        if changed {
            Edit::Changed
        } else {
            Edit::Unchanged
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_input_edits_on_char_boundaries() {
        let mut i = LineInput::default();
        for c in "héllo".chars() {
            i.insert(c);
        }
        assert_eq!((i.text(), i.cursor()), ("héllo", 6));
        i.left();
        i.left();
        i.left();
        assert_eq!(i.cursor(), 3, "just after the 2-byte é");
        assert!(i.backspace());
        assert_eq!(i.text(), "hllo");
        assert!(i.delete());
        assert_eq!(i.text(), "hlo");
        i.home();
        assert!(!i.backspace(), "nothing before the start");
        i.end();
        assert!(!i.delete(), "nothing after the end");
        i.set("scx_bpf_error  (x");
        assert!(i.delete_word());
        assert_eq!(i.text(), "scx_bpf_error  ");
        assert!(i.delete_word());
        assert_eq!(i.text(), "");
        i.set("abc");
        i.left();
        assert!(i.delete_to_start());
        assert_eq!((i.text(), i.cursor()), ("c", 0));
    }

    #[test]
    fn apply_reports_changes_moves_and_other_actions() {
        let mut i = LineInput::default();
        assert_eq!(i.apply(Action::Type('x')), Edit::Changed);
        assert_eq!(i.apply(Action::CursorLeft), Edit::Unchanged);
        assert_eq!(i.apply(Action::DeleteBack), Edit::Unchanged);
        assert_eq!(i.apply(Action::DeleteForward), Edit::Changed);
        assert_eq!(i.apply(Action::Quit), Edit::NotEdit);
        assert_eq!(i.text(), "");
    }
}
