//! Search and filter over a text pane's body, without copying it.
//!
//! A query is a plain substring ([`FindMode::Text`], the default) or a regex
//! ([`FindMode::Regex`], `Ctrl-R` in the prompt). Smart case in both: a
//! query with no upper-case letter ignores case, one with any matches
//! exactly. Text queries fold ASCII letters; case-sensitive ones use
//! `memmem`, folded ones look for the first byte in both cases with
//! `memchr2` and compare the rest, so both run at memchr speed on a 100 MB
//! body. A regex's upper-case letters are its literal characters: `\S`,
//! `\W` or `\p{Lu}` do not make `\Serror` case-sensitive; folding follows
//! Unicode (`échec` finds `ÉCHEC`).
//!
//! A regex is matched line by line, as grep and lnav do: a match never spans
//! a newline, `^` and `$` are the start and end of a line (a `\r` before the
//! newline is a line end too), `.` and classes such as `\s` or `[^x]` never
//! match the newline, and `\n` in a pattern never matches. This is regex's
//! "multi-line off" applied to each line. It is done without splitting the
//! body: the pattern is compiled with `\n` removed from everything it can
//! match, so one `regex::bytes::Regex` runs over the whole body from a byte
//! offset (`find_at`), match by match, and its literal prefilter skips the
//! lines without a candidate at memchr speed.
//!
//! A search must land on something to highlight, so a regex that can match
//! the empty string (`a*`, `^`, `x?`, `\b`) is refused with a message naming
//! the fix (`a+`), rather than silently skipping its empty matches or
//! stepping through every position. A filter keeps the lines a regex matches,
//! as grep does, so there `^$` (empty lines) or `\bfoo` are fine. An invalid
//! regex is an error message, never a panic: the caller keeps its previous
//! state.
//!
//! Going backwards a regex cannot run in reverse: [`Needle::rfind_where`]
//! scans forward over a window of whole lines before the offset, doubling
//! the window until it finds a match, so a jump costs about the distance
//! jumped.
//!
//! A filter is computed once per change: the sorted indices of the lines
//! holding the filter text, one scan of the body that jumps to the next line
//! after each hit. Counting matches stops at [`MAX_COUNT`].

use std::ops::Range;

use memchr::memmem;
use regex::bytes::{Regex, RegexBuilder};
use regex_syntax::ast::{self, Ast, ClassSetItem};
use regex_syntax::hir::{
    self, Class, ClassBytes, ClassBytesRange, ClassUnicode, ClassUnicodeRange, Hir, HirKind,
};

use crate::line_index::LineIndex;

/// Matches counted for "match k of n"; past this the count reads "n+".
pub const MAX_COUNT: usize = 100_000;

/// Bytes before the offset the first backward regex scan looks at.
const RFIND_WINDOW: usize = 16 * 1024;

/// Why a query cannot be used. The message is one line, for the status bar;
/// the pattern is kept for whoever reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FindError {
    /// The regex does not parse or compile: the regex crate's reason.
    #[error("{reason}")]
    InvalidRegex { pattern: String, reason: String },
    /// A search regex that can match empty text: nothing would be shown.
    #[error(
        "it matches empty text, nothing to show: use + rather than * or ?; ^ or $ alone work \
         in a & filter"
    )]
    MatchesEmpty { pattern: String },
}

/// How a query is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FindMode {
    /// A plain substring.
    #[default]
    Text,
    /// A regex, matched line by line.
    Regex,
}

impl FindMode {
    pub fn toggled(self) -> FindMode {
        match self {
            FindMode::Text => FindMode::Regex,
            FindMode::Regex => FindMode::Text,
        }
    }

    pub fn is_regex(self) -> bool {
        self == FindMode::Regex
    }

    /// A query as messages show it: `"text"` or `/regex/`.
    pub fn quote(self, query: &str) -> String {
        match self {
            FindMode::Text => format!("\"{query}\""),
            FindMode::Regex => format!("/{query}/"),
        }
    }
}

/// A search or filter query, ready to scan with.
pub struct Needle {
    kind: Kind,
}

enum Kind {
    /// Boxed: memmem's finders are large.
    Text(Box<Plain>),
    Regex(Pattern),
}

struct Plain {
    /// Lower-cased when `fold`.
    bytes: Vec<u8>,
    fold: bool,
    finder: memmem::Finder<'static>,
    rfinder: memmem::FinderRev<'static>,
}

struct Pattern {
    /// Never matches `\n` (see the module comment).
    re: Regex,
    fold: bool,
    /// Some match can be empty (the shortest is).
    matches_empty: bool,
}

impl Needle {
    /// A plain-text needle; `None` for an empty query.
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
            kind: Kind::Text(Box::new(Plain {
                finder: memmem::Finder::new(&bytes).into_owned(),
                rfinder: memmem::FinderRev::new(&bytes).into_owned(),
                bytes,
                fold,
            })),
        })
    }

    /// A regex needle; `Ok(None)` for an empty pattern, `Err` with a one-line
    /// message for an invalid one. Any valid regex: see [`Needle::for_search`].
    pub fn regex(pattern: &str) -> Result<Option<Needle>, FindError> {
        if pattern.is_empty() {
            return Ok(None);
        }
        let invalid = |reason: String| FindError::InvalidRegex {
            pattern: pattern.to_string(),
            reason,
        };
        let ast = ast::parse::Parser::new()
            .parse(pattern)
            .map_err(|e| invalid(e.kind().to_string()))?;
        let fold = ast::visit(&ast, UpperCase).is_ok();
        let hir = hir::translate::TranslatorBuilder::new()
            .case_insensitive(fold)
            .multi_line(true)
            .crlf(true)
            .utf8(false)
            .build()
            .translate(pattern, &ast)
            .map_err(|e| invalid(e.kind().to_string()))?;
        let hir = without_newline(hir);
        let matches_empty = can_be_empty(&hir);
        // The printed HIR spells out its flags and folded classes, so it
        // compiles with the builder's defaults.
        let re = RegexBuilder::new(&hir.to_string())
            .build()
            .map_err(|e| invalid(first_line(&e.to_string())))?;
        Ok(Some(Needle {
            kind: Kind::Regex(Pattern {
                re,
                fold,
                matches_empty,
            }),
        }))
    }

    /// A needle for `/`: a regex that can match the empty string is refused,
    /// there would be nothing to show.
    pub fn for_search(query: &str, mode: FindMode) -> Result<Option<Needle>, FindError> {
        match mode {
            FindMode::Text => Ok(Needle::new(query)),
            FindMode::Regex => {
                let needle = Needle::regex(query)?;
                if needle.as_ref().is_some_and(Needle::matches_empty) {
                    return Err(FindError::MatchesEmpty {
                        pattern: query.to_string(),
                    });
                }
                Ok(needle)
            }
        }
    }

    /// A needle for `&`: lines with a match are kept, even an empty one.
    pub fn for_filter(query: &str, mode: FindMode) -> Result<Option<Needle>, FindError> {
        match mode {
            FindMode::Text => Ok(Needle::new(query)),
            FindMode::Regex => Needle::regex(query),
        }
    }

    pub fn mode(&self) -> FindMode {
        match self.kind {
            Kind::Text(_) => FindMode::Text,
            Kind::Regex(_) => FindMode::Regex,
        }
    }

    /// True when the query ignores case (it has no upper-case letter).
    pub fn folds_case(&self) -> bool {
        match &self.kind {
            Kind::Text(p) => p.fold,
            Kind::Regex(p) => p.fold,
        }
    }

    /// True for a regex with an empty match (`a*`, `^`).
    pub fn matches_empty(&self) -> bool {
        matches!(&self.kind, Kind::Regex(p) if p.matches_empty)
    }

    /// The first non-empty match starting at or after `from` and ending by
    /// `end` (a line end or the end of `hay`).
    fn find_match(&self, hay: &[u8], from: usize, end: usize) -> Option<Range<usize>> {
        let end = end.min(hay.len());
        if from > end {
            return None;
        }
        match &self.kind {
            Kind::Text(p) => {
                let at = p.find(&hay[..end], from)?;
                Some(at..at + p.bytes.len())
            }
            Kind::Regex(p) => {
                let hay = &hay[..end];
                let mut pos = from;
                // A regex with empty matches only reaches here from filters'
                // callers misusing it; skip them rather than loop.
                while pos <= end {
                    let m = p.re.find_at(hay, pos)?;
                    if !m.is_empty() {
                        return Some(m.range());
                    }
                    pos = next_char(hay, m.end());
                }
                None
            }
        }
    }

    /// Start of the first match at or after `from`.
    pub fn find(&self, hay: &[u8], from: usize) -> Option<usize> {
        self.find_match(hay, from, hay.len()).map(|m| m.start)
    }

    /// Start of the last match that starts before `before`.
    pub fn rfind(&self, hay: &[u8], before: usize) -> Option<usize> {
        self.rfind_where(hay, before, |_| true)
    }

    /// Start of the last match that starts before `before` and that
    /// `accept` takes (a match on a line the filter hides is skipped).
    pub fn rfind_where(
        &self,
        hay: &[u8],
        before: usize,
        mut accept: impl FnMut(usize) -> bool,
    ) -> Option<usize> {
        match &self.kind {
            Kind::Text(p) => {
                let mut before = before;
                loop {
                    let at = p.rfind(hay, before)?;
                    if accept(at) {
                        return Some(at);
                    }
                    before = at;
                }
            }
            Kind::Regex(_) => self.rfind_regex(hay, before, accept),
        }
    }

    /// Windows of whole lines before `before`, each scanned forward; the
    /// first one holding an accepted match gives its last one.
    fn rfind_regex(
        &self,
        hay: &[u8],
        before: usize,
        mut accept: impl FnMut(usize) -> bool,
    ) -> Option<usize> {
        let mut end = before.min(hay.len());
        if end == 0 {
            return None;
        }
        // A match starting before `end` ends by the end of that line.
        let mut limit = memchr::memchr(b'\n', &hay[end - 1..]).map_or(hay.len(), |i| end - 1 + i);
        let mut width = RFIND_WINDOW;
        loop {
            let start = line_start(hay, end.saturating_sub(width));
            let mut last = None;
            let mut pos = start;
            while let Some(m) = self.find_match(hay, pos, limit) {
                if m.start >= end {
                    break;
                }
                if accept(m.start) {
                    last = Some(m.start);
                }
                pos = m.end;
            }
            if last.is_some() || start == 0 {
                return last;
            }
            // `start` follows a newline: no match crosses it.
            end = start;
            limit = start;
            width = width.saturating_mul(2);
        }
    }

    /// Where "next match" searches from when the current one starts at
    /// `at`: past it for a regex (`a+` on `aaa` is one match, as counted),
    /// the next byte for text (overlapping text matches are visited).
    pub fn after(&self, hay: &[u8], at: usize) -> usize {
        match &self.kind {
            Kind::Text(_) => at + 1,
            Kind::Regex(_) => match self.find_match(hay, at, line_end(hay, at)) {
                Some(m) if m.start == at => m.end,
                _ => at + 1,
            },
        }
    }

    /// Non-overlapping match starts in `hay`.
    pub fn find_all<'h>(&'h self, hay: &'h [u8]) -> impl Iterator<Item = usize> + 'h {
        self.matches(hay, 0..hay.len()).map(|m| m.start)
    }

    /// Non-overlapping matches starting in `range` and ending by its end
    /// (a line's range gives the line's matches).
    pub fn matches<'h>(
        &'h self,
        hay: &'h [u8],
        range: Range<usize>,
    ) -> impl Iterator<Item = Range<usize>> + 'h {
        let mut pos = range.start;
        std::iter::from_fn(move || {
            let m = self.find_match(hay, pos, range.end)?;
            pos = m.end.max(m.start + 1);
            Some(m)
        })
    }

    /// Start of the first match at or after `from`, empty ones included (a
    /// filter keeps the line of `^$`).
    fn find_any(&self, hay: &[u8], from: usize) -> Option<usize> {
        match &self.kind {
            Kind::Text(_) => self.find(hay, from),
            Kind::Regex(p) => {
                if from > hay.len() {
                    return None;
                }
                let at = p.re.find_at(hay, from)?.start();
                // Past a final newline is no line.
                let past_end = at == hay.len() && (hay.is_empty() || hay.ends_with(b"\n"));
                (!past_end).then_some(at)
            }
        }
    }
}

impl Plain {
    fn matches_at(&self, hay: &[u8], at: usize) -> bool {
        hay.get(at..at + self.bytes.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(&self.bytes))
    }

    fn first_cases(&self) -> (u8, u8) {
        let b = self.bytes[0];
        (b.to_ascii_lowercase(), b.to_ascii_uppercase())
    }

    fn find(&self, hay: &[u8], from: usize) -> Option<usize> {
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

    fn rfind(&self, hay: &[u8], before: usize) -> Option<usize> {
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
}

/// Finds a literal upper-case character in a regex's syntax tree (the
/// `Err`); escapes and class names (`\S`, `\p{Lu}`) are not literals.
struct UpperCase;

impl ast::Visitor for UpperCase {
    type Output = ();
    type Err = ();

    fn finish(self) -> Result<(), ()> {
        Ok(())
    }

    fn visit_pre(&mut self, ast: &Ast) -> Result<(), ()> {
        match ast {
            Ast::Literal(l) if l.c.is_uppercase() => Err(()),
            _ => Ok(()),
        }
    }

    fn visit_class_set_item_pre(&mut self, item: &ClassSetItem) -> Result<(), ()> {
        match item {
            ClassSetItem::Literal(l) if l.c.is_uppercase() => Err(()),
            ClassSetItem::Range(r) if r.start.c.is_uppercase() || r.end.c.is_uppercase() => Err(()),
            _ => Ok(()),
        }
    }
}

/// `hir` with `\n` taken out of every class and literal, so no match holds
/// one. Recursion is bounded by the parser's nesting limit.
fn without_newline(hir: Hir) -> Hir {
    match hir.into_kind() {
        HirKind::Empty => Hir::empty(),
        HirKind::Look(look) => Hir::look(look),
        HirKind::Literal(hir::Literal(bytes)) => {
            if bytes.contains(&b'\n') {
                Hir::fail()
            } else {
                Hir::literal(bytes)
            }
        }
        HirKind::Class(Class::Unicode(mut class)) => {
            class.difference(&ClassUnicode::new([ClassUnicodeRange::new('\n', '\n')]));
            Hir::class(Class::Unicode(class))
        }
        HirKind::Class(Class::Bytes(mut class)) => {
            class.difference(&ClassBytes::new([ClassBytesRange::new(b'\n', b'\n')]));
            Hir::class(Class::Bytes(class))
        }
        HirKind::Repetition(mut rep) => {
            rep.sub = Box::new(without_newline(*rep.sub));
            Hir::repetition(rep)
        }
        HirKind::Capture(mut cap) => {
            cap.sub = Box::new(without_newline(*cap.sub));
            Hir::capture(cap)
        }
        HirKind::Concat(subs) => Hir::concat(subs.into_iter().map(without_newline).collect()),
        HirKind::Alternation(subs) => {
            Hir::alternation(subs.into_iter().map(without_newline).collect())
        }
    }
}

/// Whether `hir` has an empty match, assertions taken as satisfiable.
/// (`minimum_len` says `None` for `(?:[a&&b])*`, which does match empty.)
fn can_be_empty(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => true,
        HirKind::Literal(_) | HirKind::Class(_) => false,
        HirKind::Repetition(rep) => rep.min == 0 || can_be_empty(&rep.sub),
        HirKind::Capture(cap) => can_be_empty(&cap.sub),
        HirKind::Concat(subs) => subs.iter().all(can_be_empty),
        HirKind::Alternation(subs) => subs.iter().any(can_be_empty),
    }
}

/// The message of an error: its `error: ...` line when it has one (regex
/// errors quote the pattern first), else its first line.
fn first_line(message: &str) -> String {
    let lines = || message.lines().map(str::trim).filter(|l| !l.is_empty());
    lines()
        .find_map(|l| l.strip_prefix("error: "))
        .or_else(|| lines().next())
        .unwrap_or("invalid regex")
        .to_string()
}

/// Start of the line holding byte `at`.
fn line_start(hay: &[u8], at: usize) -> usize {
    memchr::memrchr(b'\n', &hay[..at.min(hay.len())]).map_or(0, |i| i + 1)
}

/// End (the newline, or the end of `hay`) of the line holding byte `at`.
fn line_end(hay: &[u8], at: usize) -> usize {
    let at = at.min(hay.len());
    memchr::memchr(b'\n', &hay[at..]).map_or(hay.len(), |i| at + i)
}

/// The first character boundary after `at` (bodies are UTF-8).
fn next_char(hay: &[u8], at: usize) -> usize {
    let mut i = at + 1;
    while i < hay.len() && (hay[i] & 0xC0) == 0x80 {
        i += 1;
    }
    i
}

/// Indices of the lines holding `needle`, ascending.
pub(crate) fn filter_lines(body: &str, index: &LineIndex, needle: &Needle) -> Vec<u32> {
    filter_lines_from(body, index, needle, 0)
}

/// [`filter_lines`] over the lines from byte `from` (a line start) on: what
/// a live pane whose body grew scans.
pub(crate) fn filter_lines_from(
    body: &str,
    index: &LineIndex,
    needle: &Needle,
    from: usize,
) -> Vec<u32> {
    let hay = body.as_bytes();
    let mut out = Vec::new();
    let mut pos = from;
    while let Some(at) = needle.find_any(hay, pos) {
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
    let capped = count_into(&mut out, body, index, needle, 0, keep);
    (out, capped)
}

/// Appends to `out` the match starts from byte `from` on, only on lines
/// `keep` accepts, until `out` holds [`MAX_COUNT`]; true when it stopped
/// there.
pub(crate) fn count_into(
    out: &mut Vec<usize>,
    body: &str,
    index: &LineIndex,
    needle: &Needle,
    from: usize,
    keep: impl Fn(usize) -> bool,
) -> bool {
    let hay = body.as_bytes();
    for at in needle.matches(hay, from..hay.len()).map(|m| m.start) {
        if keep(index.line_of(at)) {
            if out.len() == MAX_COUNT {
                return true;
            }
            out.push(at);
        }
    }
    false
}

#[cfg(test)]
// Expected matches are lists of ranges, some of one.
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;

    fn all(q: &str, hay: &str) -> Vec<usize> {
        Needle::new(q).unwrap().find_all(hay.as_bytes()).collect()
    }

    fn re(pattern: &str) -> Needle {
        Needle::regex(pattern).unwrap().unwrap()
    }

    fn re_all(pattern: &str, hay: &str) -> Vec<Range<usize>> {
        re(pattern).matches(hay.as_bytes(), 0..hay.len()).collect()
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
        let (starts, capped) = count(&body, &idx, &re("x"), |_| true);
        assert_eq!(starts.len(), MAX_COUNT);
        assert!(capped);
    }

    #[test]
    fn regex_finds_next_and_previous() {
        let hay = "dsq_id 0x8 on cpu 1\nno dsq here\ndsq_id 0x1f, dsq_id 0xa\n";
        let n = re("dsq_id 0x[0-9a-f]+");
        let h = hay.as_bytes();
        assert_eq!(re_all("dsq_id 0x[0-9a-f]+", hay), [0..10, 32..43, 45..55]);
        assert_eq!(n.find(h, 0), Some(0));
        assert_eq!(n.find(h, 1), Some(32));
        assert_eq!(n.find(h, 46), None);
        assert_eq!(n.find(h, 999), None);
        assert_eq!(n.rfind(h, hay.len()), Some(45));
        assert_eq!(n.rfind(h, 45), Some(32));
        assert_eq!(n.rfind(h, 32), Some(0));
        assert_eq!(n.rfind(h, 0), None);
        // Skipping what `accept` refuses (lines a filter hides).
        assert_eq!(n.rfind_where(h, hay.len(), |at| at < 30), Some(0));
        // Next from a match goes past all of it.
        assert_eq!(n.after(h, 32), 43);
        assert_eq!(re("a+").after(b"aaa b", 0), 3);
        let (starts, capped) = count(hay, &LineIndex::build(hay), &n, |l| l != 0);
        assert_eq!((starts, capped), (vec![32, 45], false));
    }

    #[test]
    fn regex_rfind_scans_windows_back_to_the_start() {
        // Matches far apart: several doubling windows, and a match in a
        // line that starts before the first window.
        let filler = "x".repeat(100) + "\n";
        let mut hay = String::from("start ERROR 1 and a long line ");
        hay.push_str(&"y".repeat(3 * RFIND_WINDOW));
        hay.push('\n');
        for _ in 0..2000 {
            hay.push_str(&filler);
        }
        hay.push_str("ERROR 2\n");
        let n = re(r"ERROR \d");
        let h = hay.as_bytes();
        let second = hay.rfind("ERROR 2").unwrap();
        assert_eq!(n.rfind(h, h.len()), Some(second));
        assert_eq!(n.rfind(h, second), Some(6));
        assert_eq!(n.rfind(h, 6), None);
        // The same as the forward scan, from every line start.
        let text = "ab ab\nab\n\nxab";
        let n = re("ab");
        let starts: Vec<usize> = n.find_all(text.as_bytes()).collect();
        for before in 0..=text.len() {
            let want = starts.iter().rev().find(|&&s| s < before).copied();
            assert_eq!(n.rfind(text.as_bytes(), before), want, "before {before}");
        }
    }

    #[test]
    fn regex_smart_case() {
        assert!(re("dsq_id").folds_case());
        assert_eq!(re_all("error", "Error ERROR error"), [0..5, 6..11, 12..17]);
        assert!(!re("Error").folds_case());
        assert_eq!(re_all("Error", "Error ERROR error"), [0..5]);
        // Escapes and class names are not upper-case letters.
        assert!(re(r"\S+ \W \D \p{Lu} \B").folds_case());
        assert_eq!(re_all(r"e\S+", "EXIT: Err"), [0..5, 6..9]);
        // Literals in classes and ranges are.
        assert!(!re("[A-Z]x").folds_case());
        assert!(!re("[aB]").folds_case());
        // An explicit flag wins.
        assert_eq!(re_all("(?-i)err", "ERR err"), [4..7]);
    }

    #[test]
    fn regex_is_line_by_line() {
        let hay = "foo bar\nbar foo\r\n  \nfoo";
        // ^ and $ are line boundaries (a \r before the newline too).
        assert_eq!(re_all("^foo", hay), [0..3, 20..23]);
        assert_eq!(re_all("foo$", hay), [12..15, 20..23]);
        // No match spans lines: \s and [^x] stop at the newline, \n never matches.
        assert_eq!(re_all(r"bar\s+bar", hay), Vec::<Range<usize>>::new());
        assert_eq!(re_all(r"[^x]+", "ab\ncd"), [0..2, 3..5]);
        assert_eq!(re_all(r"(?s).+", "ab\ncd"), [0..2, 3..5]);
        assert_eq!(re_all("a\nb", "a\nb"), Vec::<Range<usize>>::new());
    }

    #[test]
    fn invalid_regexes_are_messages() {
        for (pattern, want) in [
            ("dsq_id 0x[", "unclosed character class"),
            ("(a", "unclosed group"),
            ("a{2,1}", "invalid repetition count range"),
            (r"\p{Nope}", "Unicode property not found"),
        ] {
            let err = Needle::regex(pattern)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains(want), "{pattern}: {err}");
            assert!(!err.contains('\n'), "{pattern}: one line: {err}");
        }
        // Too big to compile is an error too, not a panic.
        let err = Needle::regex(r"\w{50000}")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.to_lowercase().contains("size limit"), "{err}");
        assert!(matches!(Needle::regex(""), Ok(None)));
    }

    #[test]
    fn empty_matching_regexes_are_refused_for_search_but_filter() {
        for pattern in ["a*", "^", "$", "^$", "x?", r"\b", "a|", r"\n*"] {
            let err = Needle::for_search(pattern, FindMode::Regex).err();
            assert!(
                matches!(err, Some(FindError::MatchesEmpty { .. })),
                "{pattern}"
            );
        }
        assert!(Needle::for_search("a*", FindMode::Text).unwrap().is_some());
        assert!(Needle::for_search("a+", FindMode::Regex).unwrap().is_some());
        // Filters keep the lines an empty match is on, as grep does.
        let body = "a\n\nb\r\n\r\nlast\n";
        let idx = LineIndex::build(body);
        let filter = |p: &str| {
            let n = Needle::for_filter(p, FindMode::Regex).unwrap().unwrap();
            filter_lines(body, &idx, &n)
        };
        assert_eq!(filter("^$"), [1, 3]);
        assert_eq!(filter("^"), [0, 1, 2, 3, 4]);
        assert_eq!(filter("z*"), [0, 1, 2, 3, 4]);
        assert_eq!(filter(r"^\w+$"), [0, 2, 4]);
        assert_eq!(filter("^$").len(), 2, "nothing past the final newline");
    }

    #[test]
    fn regex_on_multi_byte_text() {
        let hay = "état: ÉCHEC → échec\nnaïve 漢字 ok";
        // Unicode folding, offsets in bytes on character boundaries.
        let m = re_all("échec", hay);
        assert_eq!(m, [7..13, 18..24]);
        for r in &m {
            assert!(hay.is_char_boundary(r.start) && hay.is_char_boundary(r.end));
        }
        assert_eq!(re_all("漢.", hay), [32..38]);
        assert_eq!(re_all(r"\w+ ok", hay), [32..41]);
        let n = re(r"\w");
        assert_eq!(n.rfind(hay.as_bytes(), 32), Some(30));
        assert_eq!(n.rfind(hay.as_bytes(), 29), Some(27), "ï starts at 27");
        assert_eq!(re(".").after(hay.as_bytes(), 32), 35);
        // Text mode folds ASCII only.
        assert_eq!(all("échec", hay), [18]);
    }

    #[test]
    fn filter_by_regex() {
        let body = "a foo foo\nbar\nFOO\n\nfoo\nfood";
        let idx = LineIndex::build(body);
        let filter = |p: &str| {
            let n = Needle::for_filter(p, FindMode::Regex).unwrap().unwrap();
            filter_lines(body, &idx, &n)
        };
        assert_eq!(filter(r"\bfoo\b"), [0, 2, 4]);
        assert_eq!(filter(r"^foo"), [2, 4, 5]);
        assert_eq!(filter(r"F[O]+"), [2]);
        assert_eq!(filter(r"ba|d$"), [1, 5]);
    }

    /// A million log lines (~60 MB), one ERROR per thousand.
    fn million_lines() -> String {
        (0..1_000_000)
            .map(|i| {
                let level = if i % 1000 == 0 { "ERROR" } else { "INFO" };
                format!("[{i:>10}] {level} scx_lavd: sys_stat nr_active={}\n", i % 7)
            })
            .collect()
    }

    /// A filter over a million lines (its speed is in `cargo bench`,
    /// `filter_1M_lines`).
    #[test]
    fn filtering_a_million_lines() {
        let body = million_lines();
        let idx = LineIndex::build(&body);
        let lines = filter_lines(&body, &idx, &Needle::new("ERROR").unwrap());
        let folded = filter_lines(&body, &idx, &Needle::new("error").unwrap());
        assert_eq!(lines.len(), 1000);
        assert_eq!(folded, lines);
        assert_eq!(lines[1], 1000);
    }

    /// The same body by regex: a filter, a count and a backward jump from
    /// the end, each correct over the whole body (the backward jump scans
    /// windows that double; speed in `cargo bench`).
    #[test]
    fn regex_over_a_million_lines() {
        let body = million_lines();
        let idx = LineIndex::build(&body);
        let h = body.as_bytes();
        let n = Needle::for_filter(r"error .*nr_active=[0-3]$", FindMode::Regex)
            .unwrap()
            .unwrap();
        let lines = filter_lines(&body, &idx, &n);
        let (counted, capped) = count(&body, &idx, &n, |_| true);
        let spaced = re(r"\s+nr_active=6");
        let last = spaced.rfind(h, h.len());
        // Nothing to find: the backward scan covers the whole body once.
        let none = re(r"nr_active=9\d").rfind(h, h.len());
        let want = (0..1_000_000).filter(|i| i % 1000 == 0 && i % 7 <= 3);
        assert_eq!(lines, want.map(|i| i as u32).collect::<Vec<_>>());
        assert_eq!((counted.len(), capped), (lines.len(), false));
        let want = (0..1_000_000).rev().find(|i| i % 7 == 6);
        assert_eq!(last.map(|at| idx.line_of(at)), want);
        assert_eq!(none, None);
    }
}
