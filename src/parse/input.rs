//! Reading an input. A file that is valid UTF-8 with `\n` line ends is
//! memory-mapped and never copied. Anything else (invalid UTF-8, CRLF, stdin,
//! a pipe) is streamed through [`Repair`] into one string, so the peak is one
//! copy of the text, not the raw bytes plus their repaired copy.
//!
//! What is copied into memory is capped ([`DEFAULT_MAX_INPUT`], raised with
//! `--max-input`): a device such as `/dev/zero`, `yes |` or a file that never
//! ends would otherwise grow until the kernel kills the process. A mapped file
//! is not copied and has no cap.

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

/// The most bytes read into memory by default: 1 GiB.
pub const DEFAULT_MAX_INPUT: u64 = 1 << 30;

/// Opens `path` (`-` = stdin); at most `max` bytes are copied into memory.
pub fn read(path: &Path, max: u64) -> Result<Input, ParseError> {
    if path == Path::new("-") {
        return read_stream(std::io::stdin().lock(), path, 0, max);
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
        return read_stream(&file, path, 0, max);
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
    if meta.len() > max {
        return Err(too_large(path, max, Some(meta.len())));
    }
    read_stream(&file, path, meta.len(), max)
}

/// The input is over the cap `max`; `size` when known (a file).
fn too_large(path: &Path, max: u64, size: Option<u64>) -> ParseError {
    let what = match size {
        Some(size) => format!(
            "{} to copy into memory (it has CRLF line ends or invalid UTF-8), more than",
            human_size(size)
        ),
        None => "more input than".to_string(),
    };
    ParseError::TooLarge {
        path: path.into(),
        what,
        limit: human_size(max),
        suggest: suggested_limit(max.max(size.unwrap_or(0))),
    }
}

/// `1 GiB`, `512 MiB`, `1.5 GiB`, `100 bytes`.
pub fn human_size(n: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("TiB", 1 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ];
    for (unit, size) in UNITS {
        if n >= size {
            return if n.is_multiple_of(size) {
                format!("{} {unit}", n / size)
            } else {
                format!("{:.1} {unit}", n as f64 / size as f64)
            };
        }
    }
    format!("{n} bytes")
}

/// A `--max-input` value above `n`: the next power of two, written as the
/// flag takes it (`4G`).
fn suggested_limit(n: u64) -> String {
    let next = n
        .saturating_add(1)
        .checked_next_power_of_two()
        .unwrap_or(u64::MAX);
    for (suffix, size) in [
        ("T", 1u64 << 40),
        ("G", 1 << 30),
        ("M", 1 << 20),
        ("K", 1 << 10),
    ] {
        if next >= size && next.is_multiple_of(size) {
            return format!("{}{suffix}", next / size);
        }
    }
    next.to_string()
}

/// Parses a size as `--max-input` takes it: bytes, or a number with a
/// binary suffix `K`, `M`, `G`, `T` (`KiB`, `MB`, ... also accepted).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let n: u64 = num.parse().map_err(|_| {
        format!("`{s}` is not a size: give bytes or a number with K, M, G or T (1G, 512M)")
    })?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        other => {
            return Err(format!(
                "`{s}`: unknown unit `{other}`; use K, M, G or T (1G, 512M)"
            ))
        }
    };
    n.checked_mul(1u64 << shift)
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("`{s}` is not a usable size (zero or too large)"))
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
/// reserves the text at once instead of growing it by doubling. More than
/// `max` bytes is an error: the input is dropped, not truncated.
fn read_stream(
    mut r: impl Read,
    path: &Path,
    size_hint: u64,
    max: u64,
) -> Result<Input, ParseError> {
    let mut repair = Repair::with_capacity(usize::try_from(size_hint.min(max)).unwrap_or(0));
    let mut buf = vec![0u8; HEAD];
    // Bytes of an incomplete UTF-8 sequence carried over to the next read.
    let mut kept = 0;
    let mut first = true;
    let mut total: u64 = 0;
    loop {
        let got = fill(&mut r, &mut buf[kept..]).map_err(|e| io_error(path, e))?;
        total += got as u64;
        if total > max {
            return Err(too_large(path, max, None));
        }
        let end = kept + got;
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
    fn finish(mut self) -> (String, usize) {
        // A stream's text grew by doubling: up to half of it is room.
        self.out.shrink_to_fit();
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

    /// An endless text source, as `yes` or a device that never ends.
    struct Endless;

    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            for (i, b) in buf.iter_mut().enumerate() {
                *b = if i % 2 == 0 { b'y' } else { b'\n' };
            }
            Ok(buf.len())
        }
    }

    #[test]
    fn an_endless_stream_stops_at_the_limit_with_the_flag_in_the_message() {
        let err = read_stream(Endless, Path::new("-"), 0, 1 << 20)
            .err()
            .expect("an endless input is refused");
        let msg = err.to_string();
        assert!(matches!(err, ParseError::TooLarge { .. }), "{msg}");
        assert!(msg.starts_with("-: more input than the 1 MiB"), "{msg}");
        assert!(msg.contains("--max-input SIZE"), "{msg}");
        assert!(msg.contains("--max-input 2M"), "{msg}");
    }

    #[test]
    fn a_stream_within_the_limit_is_read_whole() {
        let input = read_stream(&b"line\n"[..], Path::new("-"), 0, 5).expect("5 bytes fit 5");
        assert_eq!(&*input.text, "line\n");
        let err = read_stream(&b"line\n"[..], Path::new("-"), 0, 4).err();
        assert!(matches!(err, Some(ParseError::TooLarge { .. })));
    }

    #[test]
    fn a_file_to_copy_is_refused_by_its_size_and_a_mapped_one_is_not_limited() {
        let dir = tempfile::tempdir().expect("tempdir");
        let crlf = dir.path().join("crlf.log");
        std::fs::write(&crlf, "a\r\n".repeat(1000)).expect("write");
        let err = read(&crlf, 1024)
            .err()
            .expect("4000 bytes to copy, 1 KiB allowed");
        let msg = err.to_string();
        assert!(msg.contains("2.9 KiB to copy into memory"), "{msg}");
        assert!(msg.contains("the 1 KiB scxray reads"), "{msg}");
        assert!(msg.contains("--max-input 4K"), "{msg}");
        let lf = dir.path().join("lf.log");
        std::fs::write(&lf, "a\n".repeat(1000)).expect("write");
        assert_eq!(read(&lf, 1024).expect("mapped").text.len(), 2000);
    }

    #[test]
    fn nul_bytes_from_a_device_are_binary_not_a_panic() {
        let err = read_stream(std::io::repeat(0), Path::new("/dev/zero"), 0, 1 << 30)
            .err()
            .expect("NULs are no report");
        assert!(matches!(err, ParseError::Binary { .. }), "{err}");
        assert!(err.to_string().contains("100% NUL"), "{err}");
    }

    #[test]
    fn sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("1T"), Ok(1 << 40));
        for bad in ["", "G", "1X", "0", "-1", "1.5G", "99999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
        assert_eq!(human_size(1 << 30), "1 GiB");
        assert_eq!(human_size(3 << 29), "1.5 GiB");
        assert_eq!(human_size(100), "100 bytes");
        assert_eq!(suggested_limit(1 << 30), "2G");
        assert_eq!(suggested_limit(3 << 29), "2G");
    }

    #[test]
    fn replacements_are_counted_not_literal_replacement_characters() {
        let (_, n) = repaired("\u{FFFD} ok\n".as_bytes(), 3);
        assert_eq!(n, 0, "a valid U+FFFD is no repair");
        let (_, n) = repaired(b"\xff x \xe2\x82", 2);
        assert_eq!(n, 2);
    }
}
