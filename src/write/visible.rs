//! Text from an input made safe to show on a terminal.
//!
//! A report is untrusted text: a scheduler log can hold escape sequences
//! (an OSC that retitles the window or writes the clipboard, `ESC [2J` that
//! clears the screen, cursor moves, BEL) and bidi overrides that reorder what
//! a reader sees. Everything scxray shows a person goes through here, and
//! each such character is replaced by a visible, plain-ASCII form:
//!
//! | characters | shown as |
//! |---|---|
//! | C0 controls U+0000–U+001F except tab and newline | caret notation, `^@`..`^_` (`^[` for ESC, `^G` for BEL, `^M` for CR) |
//! | DEL U+007F | `^?` |
//! | C1 controls U+0080–U+009F (8-bit CSI, OSC, ...) | `<U+009B>` |
//! | bidi embeddings, overrides and isolates U+202A–U+202E, U+2066–U+2069 | `<U+202E>` |
//!
//! Tab and newline are layout, not hazards, and stay. The forms are what
//! `cat -v` and the TUI's text panes have always shown for C0, so a log reads
//! the same on the command line and in the TUI. Each hazard becomes one
//! fixed string that depends only on the character, so a caller that needs
//! offsets (search highlights, columns) can map character by character.
//!
//! Byte-exact output (`scxray report --ktstr` into a file or a pipe, `--json`,
//! which escapes them itself) does not come here.

use std::borrow::Cow;
use std::fmt;
use std::io;

/// Whether `c` must not reach a terminal as it is.
pub fn is_hazard(c: char) -> bool {
    matches!(c,
        '\0'..='\x08' | '\x0b'..='\x1f' | '\x7f'..='\u{9f}'
        | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `c`'s visible form, or `None` when it is shown as it is. All forms are
/// ASCII, so their width in columns is their length.
pub fn escape(c: char) -> Option<Cow<'static, str>> {
    const CARET: [&str; 32] = [
        "^@", "^A", "^B", "^C", "^D", "^E", "^F", "^G", "^H", "^I", "^J", "^K", "^L", "^M", "^N",
        "^O", "^P", "^Q", "^R", "^S", "^T", "^U", "^V", "^W", "^X", "^Y", "^Z", "^[", "^\\", "^]",
        "^^", "^_",
    ];
    if !is_hazard(c) {
        return None;
    }
    Some(match c as u32 {
        n @ 0..=0x1f => Cow::Borrowed(CARET[n as usize]),
        0x7f => Cow::Borrowed("^?"),
        n => Cow::Owned(format!("<U+{n:04X}>")),
    })
}

/// `text` with every hazard in its visible form; borrowed when it has none
/// (the common case costs one scan).
pub fn visible(text: &str) -> Cow<'_, str> {
    let Some(first) = text.find(is_hazard) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 16);
    out.push_str(&text[..first]);
    for c in text[first..].chars() {
        match escape(c) {
            Some(e) => out.push_str(&e),
            None => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// [`visible`] as an owned `String`.
pub fn visible_string(text: impl Into<String> + AsRef<str>) -> String {
    match visible(text.as_ref()) {
        Cow::Borrowed(_) => text.into(),
        Cow::Owned(s) => s,
    }
}

/// Shows its text through [`visible`]: `format!("{}", Visible(&msg))`.
pub struct Visible<'a>(pub &'a str);

impl fmt::Display for Visible<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&visible(self.0))
    }
}

/// An `io::Write` that passes text through in its [`visible`] form, so a
/// report streamed to a terminal (`scxray report`) is made safe without a
/// second copy of its bodies. Writes may split a character anywhere: the
/// start of a multi-byte hazard at the end of one write waits for the next.
/// Bytes that are not UTF-8 pass unchanged.
pub struct VisibleWriter<W: io::Write> {
    inner: W,
    /// The undecided start of a multi-byte sequence from the last write.
    carry: Vec<u8>,
}

impl<W: io::Write> VisibleWriter<W> {
    pub fn new(inner: W) -> Self {
        VisibleWriter {
            inner,
            carry: Vec::new(),
        }
    }

    /// The inner writer, after writing out any carried bytes.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.release_carry()?;
        Ok(self.inner)
    }

    fn release_carry(&mut self) -> io::Result<()> {
        if !self.carry.is_empty() {
            let carry = std::mem::take(&mut self.carry);
            self.inner.write_all(&carry)?;
        }
        Ok(())
    }

    /// Writes `buf`, keeping an unfinished hazard prefix at its end.
    fn put(&mut self, buf: &[u8]) -> io::Result<()> {
        let mut start = 0; // first byte not yet written
        let mut i = 0;
        while i < buf.len() {
            let b = buf[i];
            // Only these bytes can start a hazard (see `hazard_len`).
            if !(b < 0x20 || b == 0x7f || b == 0xc2 || b == 0xe2) {
                i += 1;
                continue;
            }
            match hazard_at(&buf[i..]) {
                Hazard::No => i += 1,
                Hazard::Yes(c, len) => {
                    self.inner.write_all(&buf[start..i])?;
                    if let Some(e) = escape(c) {
                        self.inner.write_all(e.as_bytes())?;
                    }
                    i += len;
                    start = i;
                }
                Hazard::Unfinished => {
                    self.inner.write_all(&buf[start..i])?;
                    self.carry.extend_from_slice(&buf[i..]);
                    return Ok(());
                }
            }
        }
        self.inner.write_all(&buf[start..])
    }
}

enum Hazard {
    No,
    /// The hazard and its length in bytes.
    Yes(char, usize),
    /// The bytes could start a hazard but stop before it is decided.
    Unfinished,
}

/// Whether the bytes at the start of `s` encode a hazard. The multi-byte
/// ones are C1 (`C2 80`..`C2 9F`) and the bidi controls (`E2 80 AA`..`AE`,
/// `E2 81 A6`..`A9`).
fn hazard_at(s: &[u8]) -> Hazard {
    let b = s[0];
    if b < 0x80 {
        let c = char::from(b);
        return if is_hazard(c) {
            Hazard::Yes(c, 1)
        } else {
            Hazard::No
        };
    }
    let need = if b == 0xc2 { 2 } else { 3 };
    let have = &s[..s.len().min(need)];
    // Decided as soon as a byte rules the hazards out.
    let possible = match have {
        [0xc2] | [0xe2] | [0xe2, 0x80] | [0xe2, 0x81] => true,
        [0xc2, x] => (0x80..=0x9f).contains(x),
        [0xe2, 0x80, x] => (0xaa..=0xae).contains(x),
        [0xe2, 0x81, x] => (0xa6..=0xa9).contains(x),
        _ => false,
    };
    if !possible {
        return Hazard::No;
    }
    if have.len() < need {
        return Hazard::Unfinished;
    }
    match std::str::from_utf8(have)
        .ok()
        .and_then(|t| t.chars().next())
    {
        Some(c) => Hazard::Yes(c, need),
        None => Hazard::No,
    }
}

impl<W: io::Write> io::Write for VisibleWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        if self.carry.is_empty() {
            return self.put(buf);
        }
        // Finish the carried sequence with the first bytes of `buf`: at most
        // 3 bytes, so the copy is small.
        let mut head = std::mem::take(&mut self.carry);
        let take = buf.len().min(3);
        head.extend_from_slice(&buf[..take]);
        let used_before = head.len() - take;
        match hazard_at(&head) {
            Hazard::Yes(c, len) => {
                if let Some(e) = escape(c) {
                    self.inner.write_all(e.as_bytes())?;
                }
                self.put(&buf[len - used_before..])
            }
            Hazard::Unfinished => {
                // `buf` was shorter than the rest of the sequence.
                self.carry = head;
                Ok(())
            }
            Hazard::No => {
                // Not a hazard: its first byte goes out as it is, and the
                // rest is scanned again (it may start a hazard itself).
                self.inner.write_all(&head[..1])?;
                let rest = head[1..used_before].to_vec();
                self.put(&rest)?;
                if self.carry.is_empty() {
                    self.put(buf)
                } else {
                    self.write_all(buf)
                }
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        // A flush ends the text so far: an unfinished prefix is no hazard.
        self.release_carry()?;
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const HOSTILE: &str = "a\x1b]0;pwned\x07b\x1b[2J\x1b[H\x1b]52;c;aGk=\x07\tc\r\u{9b}31m\u{202e}txt.exe\u{2066}\x7f\n";
    const SHOWN: &str =
        "a^[]0;pwned^Gb^[[2J^[[H^[]52;c;aGk=^G\tc^M<U+009B>31m<U+202E>txt.exe<U+2066>^?\n";

    #[test]
    fn hazards_become_visible_and_layout_stays() {
        assert_eq!(visible(HOSTILE), SHOWN);
        assert!(!visible(HOSTILE).contains(|c: char| c.is_control() && c != '\t' && c != '\n'));
        assert!(matches!(
            visible("plain ü 漢 → text\tok\n"),
            Cow::Borrowed(_)
        ));
        assert_eq!(visible("\0\x1f"), "^@^_");
        // Neighbours of the bidi ranges and of C1 are not touched.
        for c in [
            '\u{a0}', 'é', '\u{2029}', '\u{202f}', '\u{2065}', '\u{206a}', '\u{200e}',
        ] {
            assert!(!is_hazard(c), "{c:?}");
        }
        for c in [
            '\u{80}', '\u{9f}', '\u{202a}', '\u{2069}', '\x7f', '\r', '\x0b',
        ] {
            assert!(is_hazard(c), "{c:?}");
        }
    }

    #[test]
    fn every_hazard_has_an_ascii_form_without_hazards() {
        for c in (0..=0x3000u32).filter_map(char::from_u32) {
            match escape(c) {
                Some(e) => {
                    assert!(is_hazard(c));
                    assert!(e.is_ascii() && !e.contains(is_hazard), "{c:?} -> {e}");
                }
                None => assert!(!is_hazard(c)),
            }
        }
    }

    fn through_writer(chunks: &[&[u8]]) -> Vec<u8> {
        let mut w = VisibleWriter::new(Vec::new());
        for c in chunks {
            w.write_all(c).unwrap();
        }
        w.flush().unwrap();
        w.into_inner().unwrap()
    }

    #[test]
    fn writer_matches_visible_however_the_text_is_split() {
        let text = format!("{HOSTILE}é\u{2028}\u{2069}x\u{80}\u{c2}\u{e2}\u{2013}");
        let bytes = text.as_bytes();
        let want = visible(&text).into_owned();
        assert_eq!(through_writer(&[bytes]), want.as_bytes());
        // Every split into two and into single bytes.
        for at in 0..=bytes.len() {
            let got = through_writer(&[&bytes[..at], &bytes[at..]]);
            assert_eq!(String::from_utf8(got).unwrap(), want, "split at {at}");
        }
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(String::from_utf8(through_writer(&singles)).unwrap(), want);
    }

    #[test]
    fn writer_passes_other_bytes_unchanged() {
        // Not UTF-8, and prefixes of hazards that turn out not to be ones.
        let raw: &[u8] = b"\xc2\xa0\xe2\x80\x94\xe2\x81\xa0\xff\xfe\xe2";
        assert_eq!(through_writer(&[raw]), raw);
        assert_eq!(through_writer(&[&raw[..1], &raw[1..]]), raw);
    }
}
