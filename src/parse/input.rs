//! Reading an input: a file is memory-mapped (never copied when it is valid
//! UTF-8), stdin is streamed into memory.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use crate::report::{Buffer, Text};

use super::ParseError;

/// A readable input and what was done to make it text.
pub struct Input {
    pub text: Text,
    /// Repairs worth telling the user about (invalid UTF-8 replaced, ...).
    pub notes: Vec<String>,
}

/// Opens `path` (`-` = stdin).
pub fn read(path: &Path) -> Result<Input, ParseError> {
    let bytes_or_map = if path == Path::new("-") {
        Err(read_all(std::io::stdin().lock(), path)?)
    } else {
        let meta = std::fs::metadata(path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => ParseError::NotFound { path: path.into() },
            _ => ParseError::Io {
                path: path.into(),
                source,
            },
        })?;
        if meta.is_dir() {
            return Err(ParseError::IsDirectory { path: path.into() });
        }
        let file = File::open(path).map_err(|source| ParseError::Io {
            path: path.into(),
            source,
        })?;
        if meta.len() == 0 || !meta.is_file() {
            // Pipes and character devices cannot be mapped; empty files need no mapping.
            Err(read_all(&file, path)?)
        } else {
            // SAFETY: the mapping is read-only; a file truncated by another
            // process while we read it would fault, which is the same risk
            // every mmap-based reader (ripgrep included) accepts.
            let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|source| ParseError::Io {
                path: path.into(),
                source,
            })?;
            Ok(map)
        }
    };
    let head: &[u8] = match &bytes_or_map {
        Ok(m) => &m[..m.len().min(65536)],
        Err(v) => &v[..v.len().min(65536)],
    };
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
    Ok(match bytes_or_map {
        Ok(map) => match Buffer::mapped(map) {
            Ok(buf) => Input {
                text: Text::whole(Arc::new(buf)),
                notes: Vec::new(),
            },
            Err(map) => lossy(&map),
        },
        Err(bytes) => match String::from_utf8(bytes) {
            Ok(s) => Input {
                text: Text::from(s),
                notes: Vec::new(),
            },
            Err(e) => lossy(e.as_bytes()),
        },
    })
}

/// Streams a reader that cannot be mapped into memory.
fn read_all(mut r: impl Read, path: &Path) -> Result<Vec<u8>, ParseError> {
    let mut buf = Vec::new();
    r.read_to_end(&mut buf).map_err(|source| ParseError::Io {
        path: path.into(),
        source,
    })?;
    Ok(buf)
}

/// Text from bytes that are not valid UTF-8, with a note saying how much was replaced.
pub fn lossy(bytes: &[u8]) -> Input {
    let s = String::from_utf8_lossy(bytes).into_owned();
    let bad = s.matches('\u{FFFD}').count();
    Input {
        text: Text::from(s),
        notes: vec![format!(
            "input is not valid UTF-8: {bad} invalid byte sequence(s) shown as U+FFFD"
        )],
    }
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
