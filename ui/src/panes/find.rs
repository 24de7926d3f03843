//! Search and filter over a text pane's body, without copying it.
//!
//! A query is a plain substring. Smart case: a query with no upper-case
//! letter matches ASCII letters of either case, one with any matches exactly.
//! Case-sensitive queries use `memmem`; folded ones look for the first byte
//! in both cases with `memchr2` and compare the rest, so both run at memchr
//! speed on a 100 MB body.
//!
//! A filter is computed once per change: the sorted indices of the lines
//! holding the filter text, one scan of the body that jumps to the next line
//! after each hit. Counting matches stops at [`MAX_COUNT`].

use memchr::memmem;

use super::text::LineIndex;

/// Matches counted for "match k of n"; past this the count reads "n+".
pub const MAX_COUNT: usize = 100_000;

/// A search or filter query, ready to scan with.
pub struct Needle {
    /// Lower-cased when `fold`.
    bytes: Vec<u8>,
    fold: bool,
    finder: memmem::Finder<'static>,
    rfinder: memmem::FinderRev<'static>,
}

impl Needle {
    /// `None` for an empty query.
    pub fn new(query: &str) -> Option<Needle> {
        if query.is_empty() {
            return None;
        }
        let fold = !query.chars().any(char::is_uppercase);
        let bytes = if fold {
            query.to_ascii_lowercase().into_bytes()
        } else {
            query.as_bytes().to_vec()
        };
        Some(Needle {
            finder: memmem::Finder::new(&bytes).into_owned(),
            rfinder: memmem::FinderRev::new(&bytes).into_owned(),
            bytes,
            fold,
        })
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// True when the query ignores case (it has no upper-case letter).
    pub fn folds_case(&self) -> bool {
        self.fold
    }

    fn matches_at(&self, hay: &[u8], at: usize) -> bool {
        hay.get(at..at + self.bytes.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(&self.bytes))
    }

    fn first_cases(&self) -> (u8, u8) {
        let b = self.bytes[0];
        (b.to_ascii_lowercase(), b.to_ascii_uppercase())
    }

    /// Start of the first match at or after `from`.
    pub fn find(&self, hay: &[u8], from: usize) -> Option<usize> {
        if from > hay.len() {
            return None;
        }
        if !self.fold {
            return self.finder.find(&hay[from..]).map(|i| from + i);
        }
        let (lo, up) = self.first_cases();
        let mut pos = from;
        while let Some(i) = memchr::memchr2(lo, up, &hay[pos..]) {
            let at = pos + i;
            if self.matches_at(hay, at) {
                return Some(at);
            }
            pos = at + 1;
        }
        None
    }

    /// Start of the last match that starts before `before`.
    pub fn rfind(&self, hay: &[u8], before: usize) -> Option<usize> {
        let end = (before + self.bytes.len()).saturating_sub(1).min(hay.len());
        if !self.fold {
            return self.rfinder.rfind(&hay[..end]);
        }
        let (lo, up) = self.first_cases();
        let mut end = before.min(hay.len());
        while let Some(at) = memchr::memrchr2(lo, up, &hay[..end]) {
            if self.matches_at(hay, at) {
                return Some(at);
            }
            end = at;
        }
        None
    }

    /// Non-overlapping matches in `hay`, as byte ranges.
    pub fn find_all<'h>(&'h self, hay: &'h [u8]) -> impl Iterator<Item = usize> + 'h {
        let mut pos = 0;
        std::iter::from_fn(move || {
            let at = self.find(hay, pos)?;
            pos = at + self.bytes.len().max(1);
            Some(at)
        })
    }
}

/// Indices of the lines holding `needle`, ascending.
pub(crate) fn filter_lines(body: &str, index: &LineIndex, needle: &Needle) -> Vec<u32> {
    let hay = body.as_bytes();
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(at) = needle.find(hay, pos) {
        let line = index.line_of(at);
        out.push(u32::try_from(line).unwrap_or(u32::MAX));
        if line + 1 >= index.len() {
            break;
        }
        pos = index.start(line + 1);
    }
    out
}

/// Match starts in `body`, only on lines `keep` accepts, at most
/// [`MAX_COUNT`]; true when the count stopped there.
pub(crate) fn count(
    body: &str,
    index: &LineIndex,
    needle: &Needle,
    keep: impl Fn(usize) -> bool,
) -> (Vec<usize>, bool) {
    let mut out = Vec::new();
    for at in needle.find_all(body.as_bytes()) {
        if keep(index.line_of(at)) {
            if out.len() == MAX_COUNT {
                return (out, true);
            }
            out.push(at);
        }
    }
    (out, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(q: &str, hay: &str) -> Vec<usize> {
        Needle::new(q).unwrap().find_all(hay.as_bytes()).collect()
    }

    #[test]
    fn smart_case() {
        assert_eq!(all("err", "Err err ERR eRr"), [0, 4, 8, 12]);
        assert_eq!(all("Err", "Err err ERR eRr"), [0]);
        assert!(Needle::new("").is_none());
        assert!(Needle::new("abc").unwrap().folds_case());
        assert!(!Needle::new("aBc").unwrap().folds_case());
    }

    #[test]
    fn find_and_rfind_around_a_position() {
        for q in ["ab", "AB"] {
            let hay = if q == "ab" {
                "xxabxxABxab"
            } else {
                "xxABxxABxAB"
            };
            let n = Needle::new(q).unwrap();
            let h = hay.as_bytes();
            assert_eq!(n.find(h, 0), Some(2), "{q}");
            assert_eq!(n.find(h, 3), Some(6), "{q}");
            assert_eq!(n.find(h, 10), None, "{q}");
            assert_eq!(n.find(h, 99), None, "{q}");
            assert_eq!(n.rfind(h, 9), Some(6), "{q}");
            assert_eq!(n.rfind(h, 10), Some(9), "{q}");
            assert_eq!(n.rfind(h, 99), Some(9), "{q}");
            assert_eq!(n.rfind(h, 2), None, "{q}");
        }
    }

    #[test]
    fn filter_lists_each_line_once() {
        let body = "a foo foo\nbar\nFOO\n\nfoo";
        let idx = LineIndex::build(body);
        let n = Needle::new("foo").unwrap();
        assert_eq!(filter_lines(body, &idx, &n), [0, 2, 4]);
        let n = Needle::new("Foo").unwrap();
        assert!(filter_lines(body, &idx, &n).is_empty());
        let (starts, capped) = count(body, &idx, &Needle::new("foo").unwrap(), |l| l != 2);
        assert_eq!(starts, [2, 6, 19]);
        assert!(!capped);
    }

    #[test]
    fn count_stops_at_the_cap() {
        let body = "x".repeat(MAX_COUNT + 5);
        let idx = LineIndex::build(&body);
        let (starts, capped) = count(&body, &idx, &Needle::new("x").unwrap(), |_| true);
        assert_eq!(starts.len(), MAX_COUNT);
        assert!(capped);
    }

    /// One filter over a million lines (~60 MB) must not freeze the UI;
    /// memchr is built optimised in debug too (workspace profile).
    #[test]
    fn filtering_a_million_lines_is_fast() {
        let body: String = (0..1_000_000)
            .map(|i| {
                let level = if i % 1000 == 0 { "ERROR" } else { "INFO" };
                format!("[{i:>10}] {level} scx_lavd: sys_stat nr_active={}\n", i % 7)
            })
            .collect();
        let idx = LineIndex::build(&body);
        let start = std::time::Instant::now();
        let lines = filter_lines(&body, &idx, &Needle::new("ERROR").unwrap());
        let folded = filter_lines(&body, &idx, &Needle::new("error").unwrap());
        let took = start.elapsed();
        assert_eq!(lines.len(), 1000);
        assert_eq!(folded, lines);
        assert_eq!(lines[1], 1000);
        assert!(took.as_millis() < 1000, "filtering took {took:?}");
    }
}
