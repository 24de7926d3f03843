//! Where each line of a body starts, for the panes that scroll a large text
//! (logs, dump, the workbench's corpus) and for the find engine: built once
//! with memchr, then a line's bytes and a byte's line are binary searches.

/// Byte offsets where each line starts. `u32` halves the index for the
/// common case of bodies under 4 GiB.
pub enum LineIndex {
    Narrow(Vec<u32>),
    Wide(Vec<usize>),
}

impl LineIndex {
    pub fn build(body: &str) -> LineIndex {
        let bytes = body.as_bytes();
        let starts = std::iter::once(0)
            .chain(memchr::memchr_iter(b'\n', bytes).map(|nl| nl + 1))
            // A final newline ends the last line; it does not start an empty one.
            .filter(|&start| start < bytes.len());
        if u32::try_from(bytes.len()).is_ok() {
            // Every start is below the length, so it fits too.
            LineIndex::Narrow(starts.map(|s| s as u32).collect())
        } else {
            LineIndex::Wide(starts.collect())
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn len(&self) -> usize {
        match self {
            LineIndex::Narrow(v) => v.len(),
            LineIndex::Wide(v) => v.len(),
        }
    }

    /// 0-based line holding byte `offset` (the last line past the end).
    pub fn line_of(&self, offset: usize) -> usize {
        let after = match self {
            LineIndex::Narrow(v) => v.partition_point(|&s| s as usize <= offset),
            LineIndex::Wide(v) => v.partition_point(|&s| s <= offset),
        };
        after.saturating_sub(1)
    }

    pub fn start(&self, i: usize) -> usize {
        match self {
            LineIndex::Narrow(v) => v[i] as usize,
            LineIndex::Wide(v) => v[i],
        }
    }

    /// Line `i` (< len) without its newline or a trailing CR.
    pub fn line<'s>(&self, body: &'s str, i: usize) -> &'s str {
        let start = self.start(i);
        let end = if i + 1 < self.len() {
            self.start(i + 1) - 1
        } else {
            body.len()
        };
        let line = &body[start..end];
        line.strip_suffix('\n')
            .unwrap_or(line)
            .trim_end_matches('\r')
    }

    /// The index of `body` given this one indexes `body[..old_len]` (live
    /// mode: a section that only grew). Scans the new bytes only.
    pub fn extend(self, body: &str, old_len: usize) -> LineIndex {
        let bytes = body.as_bytes();
        if old_len == 0 || old_len > bytes.len() {
            return LineIndex::build(body);
        }
        // A newline ending the old body starts a line only now.
        let new = memchr::memchr_iter(b'\n', &bytes[old_len - 1..])
            .map(|nl| old_len - 1 + nl + 1)
            .filter(|&start| start < bytes.len());
        match self {
            LineIndex::Narrow(mut v) if u32::try_from(bytes.len()).is_ok() => {
                v.extend(new.map(|s| s as u32));
                LineIndex::Narrow(v)
            }
            LineIndex::Wide(mut v) => {
                v.extend(new);
                LineIndex::Wide(v)
            }
            LineIndex::Narrow(_) => LineIndex::build(body),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starts(index: &LineIndex) -> Vec<usize> {
        (0..index.len()).map(|i| index.start(i)).collect()
    }

    fn lines_of(body: &str) -> Vec<String> {
        let idx = LineIndex::build(body);
        (0..idx.len())
            .map(|i| idx.line(body, i).to_string())
            .collect()
    }

    #[test]
    fn index_splits_lines_like_str_lines() {
        for body in ["", "a", "a\n", "a\nb", "a\r\nb\r\n", "\n\nx", "a\n\n"] {
            let want: Vec<String> = body.lines().map(str::to_string).collect();
            assert_eq!(lines_of(body), want, "body {body:?}");
        }
    }

    #[test]
    fn extending_equals_building_anew() {
        let bodies = ["", "a", "a\n", "a\nb", "a\r\nb\r\n", "\n\nx", "a\n\n"];
        for old in bodies {
            for tail in ["", "x", "\n", "y\nz", "\n\n", "w\n"] {
                let body = format!("{old}{tail}");
                let grown = LineIndex::build(old).extend(&body, old.len());
                assert_eq!(
                    starts(&grown),
                    starts(&LineIndex::build(&body)),
                    "{old:?} + {tail:?}"
                );
            }
        }
    }
}
