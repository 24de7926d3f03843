//! Reading an input. A file that is valid UTF-8 with `\n` line ends is
//! memory-mapped and never copied. Anything else (invalid UTF-8, CRLF, stdin,
//! a pipe) is streamed through [`Repair`] into one string, so the peak is one
//! copy of the text, not the raw bytes plus their repaired copy.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use crate::report::{Buffer, Text};

use super::ParseError;

/// What is sniffed for binary data, and the size of each streamed read.
const HEAD: usize = 64 * 1024;

/// A readable input and what was done to make it text.
pub struct Input {
    pub text: Text,
    /// Repairs worth telling the user about (invalid UTF-8 replaced, ...).
    pub notes: Vec<String>,
}

/// Opens `path` (`-` = stdin).
pub fn read(path: &Path) -> Result<Input, ParseError> {
    if path == Path::new("-") {
        return read_stream(std::io::stdin().lock(), path, 0);
    }
    let meta = std::fs::metadata(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => ParseError::NotFound { path: path.into() },
        _ => io_error(path, source),
    })?;
    if meta.is_dir() {
        return Err(ParseError::IsDirectory { path: path.into() });
    }
    let file = File::open(path).map_err(|source| io_error(path, source))?;
    if meta.len() == 0 || !meta.is_file() {
        // Pipes and character devices cannot be mapped; empty files need no mapping.
        return read_stream(&file, path, 0);
    }
    // SAFETY: the mapping is read-only; a file truncated by another process
    // while we read it would fault, which is the same risk every mmap-based
    // reader (ripgrep included) accepts.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|source| io_error(path, source))?;
    check_head(&map[..map.len().min(HEAD)], path)?;
    if !has_line_end_cr(&map) {
        if let Ok(buf) = Buffer::mapped(map) {
            return Ok(Input {
                text: Text::whole(Arc::new(buf)),
                notes: Vec::new(),
            });
        }
    }
    // The repaired copy is read from the file, not from the mapping (dropped
    // by now): the mapped pages and the copy are never resident together.
    // Mapping does not move the file's offset, so this reads from the start.
    read_stream(&file, path, meta.len())
}

fn io_error(path: &Path, source: std::io::Error) -> ParseError {
    ParseError::Io {
        path: path.into(),
        source,
    }
}

/// A `\r` that ends a line, which [`Repair`] drops.
pub(super) fn has_line_end_cr(bytes: &[u8]) -> bool {
    memchr::memmem::find(bytes, b"\r\n").is_some() || bytes.ends_with(b"\r")
}

/// Drops every run of `\r` that ends a line (also on the last line), so that
/// normalising twice changes nothing: [`Repair`]'s rule for text already in memory.
pub(super) fn strip_line_end_cr(s: &str) -> String {
    let mut r = Repair::with_capacity(s.len());
    r.push_str(s);
    r.finish().0
}

/// Streams `r` through [`Repair`]; `size_hint` (the file's size, or 0)
/// reserves the text at once instead of growing it by doubling.
fn read_stream(mut r: impl Read, path: &Path, size_hint: u64) -> Result<Input, ParseError> {
    let mut repair = Repair::with_capacity(usize::try_from(size_hint).unwrap_or(0));
    let mut buf = vec![0u8; HEAD];
    // Bytes of an incomplete UTF-8 sequence carried over to the next read.
    let mut kept = 0;
    let mut first = true;
    loop {
        let end = kept + fill(&mut r, &mut buf[kept..]).map_err(|e| io_error(path, e))?;
        if first {
            check_head(&buf[..end], path)?;
            first = false;
        }
        let eof = end < buf.len();
        let used = repair.push(&buf[..end], eof);
        if eof {
            break;
        }
        buf.copy_within(used..end, 0);
        kept = end - used;
    }
    let (text, replaced) = repair.finish();
    let notes = if replaced > 0 {
        vec![format!(
            "input is not valid UTF-8: {replaced} invalid byte sequence(s) shown as U+FFFD"
        )]
    } else {
        Vec::new()
    };
    Ok(Input {
        text: Text::from(text),
        notes,
    })
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn fill(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Bytes to parser-ready text, one read at a time: invalid UTF-8 becomes
/// U+FFFD exactly as `String::from_utf8_lossy` does, and every run of `\r`
/// before a `\n` or at the end of the input is dropped.
struct Repair {
    out: String,
    /// `\r`s seen but not written: dropped if a `\n` or the end follows.
    pending_cr: usize,
    /// Invalid sequences replaced so far.
    replaced: usize,
}

impl Repair {
    fn with_capacity(capacity: usize) -> Repair {
        Repair {
            out: String::with_capacity(capacity),
            pending_cr: 0,
            replaced: 0,
        }
    }

    /// Appends `bytes` and returns how many were used: an incomplete UTF-8
    /// sequence at the end waits for the next read, unless this is the last.
    fn push(&mut self, bytes: &[u8], last: bool) -> usize {
        let mut used = 0;
        for chunk in bytes.utf8_chunks() {
            self.push_str(chunk.valid());
            used += chunk.valid().len();
            let bad = chunk.invalid();
            if bad.is_empty() {
                continue;
            }
            let cut_short = used + bad.len() == bytes.len()
                && std::str::from_utf8(bad).is_err_and(|e| e.error_len().is_none());
            if cut_short && !last {
                return used;
            }
            self.push_str("\u{FFFD}");
            self.replaced += 1;
            used += bad.len();
        }
        used
    }

    fn push_str(&mut self, mut s: &str) {
        loop {
            let rest = s.trim_start_matches('\r');
            self.pending_cr += s.len() - rest.len();
            s = rest;
            if s.is_empty() {
                return;
            }
            if !s.starts_with('\n') {
                self.out.extend(std::iter::repeat_n('\r', self.pending_cr));
            }
            self.pending_cr = 0;
            let next = memchr::memchr(b'\r', s.as_bytes()).unwrap_or(s.len());
            self.out.push_str(&s[..next]);
            s = &s[next..];
        }
    }

    /// The text (trailing `\r`s dropped) and the number of replacements.
    fn finish(self) -> (String, usize) {
        (self.out, self.replaced)
    }
}

/// Rejects an input whose first bytes (`head`) are empty or binary.
fn check_head(head: &[u8], path: &Path) -> Result<(), ParseError> {
    if head.is_empty() {
        return Err(ParseError::Empty { path: path.into() });
    }
    let share = binary_share(head);
    let (what, hint) = sniff(head);
    if share > 10 || !hint.is_empty() {
        return Err(ParseError::Binary {
            path: path.into(),
            what,
            nul_share: share,
            hint,
        });
    }
    Ok(())
}

/// Names common binary formats by their magic bytes, with a way out.
fn sniff(head: &[u8]) -> (&'static str, &'static str) {
    match head {
        [0x1f, 0x8b, ..] => (
            "gzip-compressed data",
            "; decompress it first: zcat FILE | scxray report -",
        ),
        [0xfd, b'7', b'z', b'X', b'Z', ..] => (
            "xz-compressed data",
            "; decompress it first: xzcat FILE | scxray report -",
        ),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => (
            "zstd-compressed data",
            "; decompress it first: zstdcat FILE | scxray report -",
        ),
        [0x7f, b'E', b'L', b'F', ..] => (
            "an ELF file",
            "; give the scheduler's log or the kernel's dmesg instead",
        ),
        _ => ("binary data", ""),
    }
}

/// Percent of bytes that are NUL, control characters no text log contains,
/// or parts of invalid UTF-8 sequences.
fn binary_share(head: &[u8]) -> u32 {
    let control = head
        .iter()
        .filter(|&&b| {
            b == 0 || (b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t' | 0x1b | 0x0c | 0x08))
        })
        .count();
    let invalid = String::from_utf8_lossy(head).matches('\u{FFFD}').count();
    ((control + invalid) * 100 / head.len()) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `bytes` to [`Repair`] in reads of `step` bytes, as `read_stream` does.
    fn repaired(bytes: &[u8], step: usize) -> (String, usize) {
        let mut r = Repair::with_capacity(0);
        let mut pending: Vec<u8> = Vec::new();
        let mut chunks = bytes.chunks(step).peekable();
        while let Some(c) = chunks.next() {
            pending.extend_from_slice(c);
            let used = r.push(&pending, chunks.peek().is_none());
            pending.drain(..used);
        }
        if !pending.is_empty() || bytes.is_empty() {
            let used = r.push(&pending, true);
            assert_eq!(used, pending.len());
        }
        r.finish()
    }

    /// The reference: `from_utf8_lossy`, then every line's trailing `\r`s trimmed.
    fn expected(bytes: &[u8]) -> String {
        let s = String::from_utf8_lossy(bytes);
        let lines: Vec<&str> = s.split('\n').map(|l| l.trim_end_matches('\r')).collect();
        lines.join("\n")
    }

    #[test]
    fn streamed_repair_matches_lossy_decoding_and_crlf_stripping_at_every_read_size() {
        let cases: &[&[u8]] = &[
            b"",
            b"plain\nlines\n",
            b"crlf\r\nlines\r\n",
            b"runs\r\r\n\rmid\rline\r",
            b"\r",
            "euro \u{20ac} and \u{1f600}\r\n".as_bytes(),
            b"bad \xff\xfe here\r\n\xe2\x82 cut \xf0\x9f\x98",
            b"\xe2\x82\xac\xe2\x82",
            "\u{FFFD} literal\n".as_bytes(),
        ];
        for bytes in cases {
            for step in 1..=bytes.len().max(1) {
                let (text, _) = repaired(bytes, step);
                assert_eq!(text, expected(bytes), "{bytes:?} in reads of {step}");
            }
        }
    }

    #[test]
    fn replacements_are_counted_not_literal_replacement_characters() {
        let (_, n) = repaired("\u{FFFD} ok\n".as_bytes(), 3);
        assert_eq!(n, 0, "a valid U+FFFD is no repair");
        let (_, n) = repaired(b"\xff x \xe2\x82", 2);
        assert_eq!(n, 2);
    }
}
