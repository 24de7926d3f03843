//! Cheaply clonable text that may borrow from a memory-mapped file.
//!
//! A 100 MB scheduler log must not be copied once per section: section bodies
//! are ranges into one shared buffer, which is the mmap itself when the file
//! is valid UTF-8.

use std::fmt;
use std::ops::{Deref, Range};
use std::sync::Arc;

use serde::{Serialize, Serializer};

/// The storage behind [`Text`]s.
pub enum Buffer {
    /// A validated-UTF-8 read-only mapping.
    Mapped(memmap2::Mmap),
    Owned(String),
}

impl Buffer {
    fn as_str(&self) -> &str {
        match self {
            // SAFETY: `Buffer::mapped` only builds this variant after
            // `std::str::from_utf8` accepted the bytes; the mapping is read-only.
            Buffer::Mapped(m) => unsafe { std::str::from_utf8_unchecked(m) },
            Buffer::Owned(s) => s,
        }
    }

    /// Wraps a mapping if it is UTF-8; otherwise returns it back.
    pub fn mapped(map: memmap2::Mmap) -> Result<Buffer, memmap2::Mmap> {
        if std::str::from_utf8(&map).is_ok() {
            Ok(Buffer::Mapped(map))
        } else {
            Err(map)
        }
    }
}

/// An immutable string slice of a shared [`Buffer`].
#[derive(Clone)]
pub struct Text {
    buf: Arc<Buffer>,
    range: Range<usize>,
}

impl Text {
    /// The whole buffer.
    pub fn whole(buf: Arc<Buffer>) -> Text {
        let len = buf.as_str().len();
        Text { buf, range: 0..len }
    }

    /// A sub-slice; `range` is relative to this text and must fall on char boundaries.
    pub fn slice(&self, range: Range<usize>) -> Text {
        let s = self.deref();
        assert!(s.is_char_boundary(range.start) && s.is_char_boundary(range.end));
        Text {
            buf: Arc::clone(&self.buf),
            range: self.range.start + range.start..self.range.start + range.end,
        }
    }

    /// Slices by a `&str` that points into this text; copies when it does not.
    pub fn sub(&self, part: &str) -> Text {
        let base = self.deref().as_ptr() as usize;
        let p = part.as_ptr() as usize;
        if p >= base && p + part.len() <= base + self.range.len() {
            self.slice(p - base..p - base + part.len())
        } else {
            Text::from(part.to_string())
        }
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text::whole(Arc::new(Buffer::Owned(s)))
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text::from(s.to_string())
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.buf.as_str()[self.range.clone()]
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        **self == **other
    }
}

impl Eq for Text {}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self)
    }
}
