//! Counting and locating matches of one matcher over a (possibly 100 MB) corpus.
//!
//! A search visits every match to count it but keeps positions only inside
//! the caller's viewport, so memory stays bounded. It records a sparse list
//! of match starts ("checkpoints") so that n/N jumps and viewport changes can
//! resume the exact same non-overlapping match sequence near the target
//! instead of rescanning from the start. A newer keystroke cancels an older
//! search through a [`Cancel`]: a literal search checks it between 1 MiB
//! chunks (overlapping by the needle's length, so no match is lost or
//! counted twice); a regex search never cuts the text, since matches may
//! span lines and `^`/`$` see the whole text, and checks it between matches
//! (or between candidate lines, see [`Searcher::regex`]).

use std::ops::Range;

use memchr::memmem::Finder;
use regex::Regex;
use regex_syntax::hir::{Class, Hir, HirKind, Look};

use super::corpus::{Corpus, Location};
use super::gate::{gate_contains, gate_matches, Field, PinError};
use crate::cancel::Cancel;

/// Most positions a search keeps by default.
pub const DEFAULT_MAX_KEPT: usize = 10_000;

/// A literal search checks for cancellation between chunks this big.
const LITERAL_CHUNK: usize = 1 << 20;

/// One checkpoint at most per this many bytes of corpus.
const CHECKPOINT_SPACING: usize = 64 << 10;

/// The search was cancelled by a newer one. Names the pattern, unlike the
/// token's own [`crate::cancel::Cancelled`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("search for \"{pattern}\" cancelled")]
pub struct Cancelled {
    pub pattern: String,
}

#[derive(Debug, Clone)]
enum Kind {
    // Boxed: a Finder is several times the size of a Regex handle.
    Literal(Box<Finder<'static>>),
    Regex(Regex, Option<Box<Finder<'static>>>),
}

/// A compiled matcher: a literal (memmem) or a regex.
#[derive(Debug, Clone)]
pub struct Searcher {
    kind: Kind,
    pattern: String,
}

impl Searcher {
    /// A matcher for one field, after ktstr's gate (a pin ktstr would reject
    /// is not worth highlighting: `a?` would "match" 100 million times).
    pub fn new(field: Field, pattern: &str) -> Result<Searcher, PinError> {
        match field {
            Field::Contains => {
                gate_contains(pattern)?;
                Ok(Searcher::literal(pattern))
            }
            Field::Matches => Ok(Searcher::regex(gate_matches(pattern)?)),
        }
    }

    /// A substring matcher. The empty literal matches nothing.
    pub fn literal(literal: &str) -> Searcher {
        Searcher {
            kind: Kind::Literal(Box::new(Finder::new(literal).into_owned())),
            pattern: literal.to_string(),
        }
    }

    /// A regex matcher. When every match lies within one line and holds a
    /// literal of a few bytes, the search looks for that literal and runs
    /// the regex only on the lines holding it: the regex crate's own
    /// prefilter can pick a poor literal (`\S+\[\d+\] kind \d+:` scans at
    /// 0.5 GB/s), memmem runs at over 10 GB/s.
    pub fn regex(re: Regex) -> Searcher {
        let prefilter =
            line_literal(re.as_str()).map(|lit| Box::new(Finder::new(&lit).into_owned()));
        Searcher {
            pattern: re.as_str().to_string(),
            kind: Kind::Regex(re, prefilter),
        }
    }

    /// Whether the line-literal prefilter is in use (for tests and benches).
    pub fn has_line_prefilter(&self) -> bool {
        matches!(self.kind, Kind::Regex(_, Some(_)))
    }

    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    pub fn field(&self) -> Field {
        match self.kind {
            Kind::Literal(_) => Field::Contains,
            Kind::Regex(..) => Field::Matches,
        }
    }

    /// Whether the matcher matches anywhere (ktstr's check for this field).
    pub fn is_match(&self, text: &str) -> bool {
        match &self.kind {
            // `is_match` may stop before it knows where a match ends.
            Kind::Regex(re, None) => re.is_match(text),
            _ => self.iter_from(text, 0).next().is_some(),
        }
    }

    /// Counts every match of `text` and keeps at most `max_kept` of those
    /// overlapping `window`. Fails only when `cancel` is set meanwhile.
    pub fn search(
        &self,
        text: &str,
        window: Range<usize>,
        max_kept: usize,
        cancel: &Cancel,
    ) -> Result<SearchOutcome, Cancelled> {
        let mut out = SearchOutcome {
            searcher: self.clone(),
            total: 0,
            first: None,
            last: None,
            window: window.clone(),
            kept: Vec::new(),
            kept_truncated: false,
            checkpoints: Vec::new(),
        };
        let cancelled = || Cancelled {
            pattern: self.pattern.clone(),
        };
        if cancel.is_cancelled() {
            return Err(cancelled());
        }
        match &self.kind {
            Kind::Literal(finder) => {
                let n = finder.needle().len();
                if n == 0 {
                    return Ok(out);
                }
                let bytes = text.as_bytes();
                let mut pos = 0;
                while pos < bytes.len() {
                    if cancel.is_cancelled() {
                        return Err(cancelled());
                    }
                    // Overlap the next chunk by n-1 bytes so a match straddling
                    // the boundary is found once, by the chunk it starts in.
                    let chunk_end = (pos + LITERAL_CHUNK).min(bytes.len());
                    let hay_end = (chunk_end + n - 1).min(bytes.len());
                    let mut p = pos;
                    while let Some(i) = finder.find(&bytes[p..hay_end]) {
                        let start = p + i;
                        if start >= chunk_end {
                            break;
                        }
                        out.push(start..start + n, max_kept);
                        p = start + n;
                    }
                    pos = chunk_end.max(p);
                }
            }
            Kind::Regex(re, _) => {
                // The regex crate's own scan (with its literal prefilter) is
                // fastest here: 80 ms for a million matches in 100 MB, where
                // a per-line scan takes 215 ms. Matches may span lines and
                // `^`/`$` see the whole text, so the text is never cut;
                // cancellation is checked between matches (a scan without
                // matches takes under 10 ms per 100 MB).
                for (i, m) in re.find_iter(text).enumerate() {
                    if i % 1024 == 0 && cancel.is_cancelled() {
                        return Err(cancelled());
                    }
                    out.push(m.range(), max_kept);
                }
            }
        }
        Ok(out)
    }

    /// Matches in order starting at or after `start`, continuing the same
    /// non-overlapping sequence as a scan from 0 when `start` is 0 or the
    /// start of a match of that scan.
    pub fn iter_from<'a>(
        &'a self,
        text: &'a str,
        start: usize,
    ) -> Box<dyn Iterator<Item = Range<usize>> + 'a> {
        match &self.kind {
            Kind::Literal(finder) => {
                let n = finder.needle().len();
                let bytes = text.as_bytes();
                let mut pos = start;
                Box::new(std::iter::from_fn(move || {
                    if n == 0 || pos > bytes.len() {
                        return None;
                    }
                    let s = pos + finder.find(&bytes[pos..])?;
                    pos = s + n;
                    Some(s..s + n)
                }))
            }
            Kind::Regex(re, None) => Box::new(RegexFrom {
                re,
                text,
                pos: start,
                last_end: None,
            }),
            Kind::Regex(re, Some(finder)) => Box::new(LineScan::new(re, finder, text, start, None)),
        }
    }

    /// "Why no match": the longest leading part of the pattern that matches
    /// somewhere, and where. For a literal, the longest prefix (found by
    /// bisection: occurrence is monotone in prefix length). For a regex, the
    /// longest prefix that is itself a usable regex (compiles, does not
    /// match `""`), found by galloping and bisection over the pattern's
    /// top-level pieces:
    /// see [`regex_prefix_hint`]. Each try is one compile and one scan,
    /// within [`HintBudget::DEFAULT`] (at most [`MAX_HINT_COMPILES`] tries,
    /// none started after [`HINT_TIME_BUDGET`]), and `cancel` is checked
    /// between tries. `None` when no prefix matches.
    pub fn longest_matching_prefix(
        &self,
        corpus: &Corpus,
        cancel: &Cancel,
    ) -> Result<Option<PrefixHint>, Cancelled> {
        let text = corpus.as_str();
        let cancelled = || Cancelled {
            pattern: self.pattern.clone(),
        };
        let p = &self.pattern;
        let hint = |len: usize, m: Range<usize>| PrefixHint {
            prefix: p[..len].to_string(),
            at: corpus.locate(m.start),
            matched: m,
        };
        match &self.kind {
            Kind::Literal(_) => {
                let mut ends: Vec<usize> = p.char_indices().map(|(i, _)| i).skip(1).collect();
                ends.push(p.len());
                let find = |len: usize| memchr::memmem::find(text.as_bytes(), &p.as_bytes()[..len]);
                // Largest index into `ends` whose prefix occurs.
                let (mut lo, mut hi) = (0usize, ends.len());
                let mut best = None;
                while lo < hi {
                    if cancel.is_cancelled() {
                        return Err(cancelled());
                    }
                    let mid = (lo + hi) / 2;
                    match find(ends[mid]) {
                        Some(at) => {
                            best = Some((ends[mid], at));
                            lo = mid + 1;
                        }
                        None => hi = mid,
                    }
                }
                Ok(best.map(|(len, at)| hint(len, at..at + len)))
            }
            Kind::Regex(re, _) => {
                // The whole pattern first: no compile needed.
                if !re.is_match("") {
                    if let Some(m) = self.iter_from(text, 0).next() {
                        return Ok(Some(hint(p.len(), m)));
                    }
                }
                let (found, _) = regex_prefix_hint(re, text, HintBudget::DEFAULT, cancel)
                    .map_err(|_| cancelled())?;
                Ok(found.map(|(len, m)| hint(len, m)))
            }
        }
    }
}

/// Most prefixes the regex "why no match" hint compiles (and scans the corpus
/// with). Galloping and bisection take about twice log2 of the matching
/// part's pieces (11 for 31 pieces in a 100k-character pattern); the rest
/// is for the pieces' insides and for alternatives.
pub const MAX_HINT_COMPILES: usize = 40;

/// No hint try starts after this long: a pattern of many alternatives (each
/// tried on its own) or pieces that compile slowly answers in bounded time.
pub const HINT_TIME_BUDGET: std::time::Duration = std::time::Duration::from_millis(80);

/// Tries always allowed before the time budget applies, so that a short
/// pattern's hint (a handful of tries) does not depend on the machine's load.
pub const HINT_MIN_TRIES: usize = 8;

/// What [`regex_prefix_hint`] may spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HintBudget {
    /// Most prefixes compiled (and scanned for).
    pub compiles: usize,
    /// No try past the first [`HINT_MIN_TRIES`] starts after this long;
    /// `None`: no time limit (tests).
    pub time: Option<std::time::Duration>,
}

impl HintBudget {
    pub const DEFAULT: HintBudget = HintBudget {
        compiles: MAX_HINT_COMPILES,
        time: Some(HINT_TIME_BUDGET),
    };
}

/// A regex hint: the length of the pattern's leading part and its first
/// match; `None` when no leading part matches.
pub type RegexHint = Option<(usize, Range<usize>)>;

/// What [`regex_prefix_hint`] spent (for tests and benches).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HintCost {
    /// Prefixes compiled (each also scanned the corpus once).
    pub compiles: usize,
    /// The budget ran out before the search finished: the hint may be
    /// shorter than the longest matching prefix, or missing.
    pub exhausted: bool,
}

/// The result of one try: the prefix's first match and whether it is
/// vacuous (matches `""`, so ktstr's gate would reject it); `None` when it
/// does not compile or matches nowhere.
type Try = Option<(Range<usize>, bool)>;

/// The longest prefix of the regex `re` (`p`) that compiles, does not match `""`
/// and matches somewhere in `text`, with its first match, when `p` itself
/// does not match; with what the search cost.
///
/// Compiling every prefix, longest first, costs a compile and a scan per
/// character: quadratic in the pattern's length (an 8k-character pattern
/// took 11 s on 10 MB). Instead the pattern is parsed once and cut only
/// after its top-level pieces (each literal character, class, group,
/// repetition; within the alternatives of a top-level `|`). For a
/// concatenation `A B`, a match of `A B` holds a match of `A` at the same
/// start, and `A B` matching `""` means `A` does too, so along the cuts
/// "matches somewhere" holds for a leading run and "matches `""`" for a
/// leading run: the longest usable prefix is found by galloping (1, 2, 4...
/// pieces) then bisecting, then the next piece's inside is tried (the `\d`
/// of `\d+`, the greedy form of a lazy repetition). Alternatives are tried
/// last first (the whole pattern does not match, so no full alternative
/// does either). At most `budget.compiles` compiles, none past the first
/// [`HINT_MIN_TRIES`] started after `budget.time`; past that the best
/// prefix found so far is the answer.
///
/// Differs from the exhaustive search only for a pattern whose every
/// top-level piece up to the last matching one matches `""` (`q*zz` gives
/// no hint rather than `q`), or when the budget runs out.
pub fn regex_prefix_hint(
    re: &Regex,
    text: &str,
    budget: HintBudget,
    cancel: &Cancel,
) -> Result<(RegexHint, HintCost), crate::cancel::Cancelled> {
    let mut hint = PrefixSearch {
        p: re.as_str(),
        alone: !re.is_match(""),
        text,
        cancel,
        tried: std::collections::HashMap::new(),
        cost: HintCost::default(),
        budget,
        deadline: budget.time.map(|t| std::time::Instant::now() + t),
        base: None,
    };
    let found = hint.run()?;
    Ok((found, hint.cost))
}

struct PrefixSearch<'a> {
    p: &'a str,
    text: &'a str,
    cancel: &'a Cancel,
    tried: std::collections::HashMap<usize, Try>,
    cost: HintCost,
    budget: HintBudget,
    deadline: Option<std::time::Instant>,
    /// The whole pattern does not match `""` (it passed the gate).
    alone: bool,
    /// While in an alternative after the first: the earlier alternatives'
    /// flags, and where this one starts (see [`PrefixSearch::run`]).
    base: Option<(String, usize)>,
}

/// A top-level piece of the pattern: its end, and shorter cuts inside it
/// that may compile (longest first).
struct Piece {
    end: usize,
    inner: Vec<usize>,
}

impl PrefixSearch<'_> {
    fn run(&mut self) -> Result<RegexHint, crate::cancel::Cancelled> {
        use regex_syntax::ast::Ast;
        let Ok(ast) = regex_syntax::ast::parse::Parser::new().parse(self.p) else {
            return Ok(None);
        };
        let branches: Vec<&Ast> = match &ast {
            Ast::Alternation(a) => a.asts.iter().collect(),
            other => vec![other],
        };
        // A prefix ending in alternative k is `A1|...|Ak-1|P`. No whole
        // alternative matches (the pattern does not) nor matches `""` (the
        // gate), so it matches where `P` does, and matches `""` when `P`
        // does: `P` alone is compiled, after the `(?flags)` of the earlier
        // alternatives (they reach across `|`). Compiling 100k characters
        // of alternatives per try would take most of a second.
        // `flags[..upto[k]]`: the flags set before alternative k.
        let mut flags = String::new();
        let mut upto = Vec::with_capacity(branches.len());
        for b in &branches {
            upto.push(flags.len());
            let items = match b {
                Ast::Concat(c) => c.asts.iter().collect(),
                other => vec![*other],
            };
            for a in items.into_iter().filter(|a| matches!(a, Ast::Flags(_))) {
                flags.push_str(&self.p[a.span().start.offset..a.span().end.offset]);
            }
        }
        for (k, branch) in branches.iter().enumerate().rev() {
            self.base = (k > 0 && self.alone)
                .then(|| (flags[..upto[k]].to_string(), branch.span().start.offset));
            let pieces = pieces(branch);
            if let Some(found) = self.in_branch(&pieces)? {
                return Ok(Some(found));
            }
            if self.cost.exhausted {
                break;
            }
        }
        Ok(None)
    }

    /// The longest usable prefix ending inside one alternative (whose
    /// top-level pieces are `pieces`).
    fn in_branch(&mut self, pieces: &[Piece]) -> Result<RegexHint, crate::cancel::Cancelled> {
        // Largest piece index whose prefix matches somewhere (`""` allowed):
        // pieces before `lo` match, from `hi` on they do not. Galloping from
        // the front (1, 2, 4, 8... pieces), then bisecting: the matching
        // part is usually short, short prefixes compile fast, and a budget
        // that runs out leaves the longest usable prefix seen.
        let (mut lo, mut hi) = (0usize, pieces.len());
        let mut best: Option<usize> = None;
        let mut fallback: Option<(usize, Range<usize>)> = None;
        let mut galloping = true;
        let mut step = 1usize;
        while lo < hi {
            let i = if galloping {
                (lo + step - 1).min(hi - 1)
            } else {
                lo + (hi - lo) / 2
            };
            let Some(t) = self.try_prefix(pieces[i].end)? else {
                if self.cost.exhausted {
                    return Ok(fallback);
                }
                hi = i;
                galloping = false;
                continue;
            };
            if let (m, false) = t {
                fallback = Some((pieces[i].end, m));
            }
            best = Some(i);
            lo = i + 1;
            step *= 2;
        }
        // The inside of the first piece that does not match, longest first.
        let next = best.map_or(0, |b| b + 1);
        if let Some(piece) = pieces.get(next) {
            for &cut in &piece.inner {
                if let Some((m, false)) = self.try_prefix(cut)? {
                    return Ok(Some((cut, m)));
                }
                if self.cost.exhausted {
                    return Ok(fallback);
                }
            }
        }
        // The longest matching cut, unless it matches `""`: then so does
        // every shorter one.
        Ok(fallback)
    }

    /// Compiles `p[..len]` (in a later alternative: the earlier flags and
    /// this alternative's part of it) and finds its first match, noting
    /// whether it matches `""` (ktstr's gate). Counts against the budget;
    /// remembered.
    fn try_prefix(&mut self, len: usize) -> Result<Try, crate::cancel::Cancelled> {
        if let Some(t) = self.tried.get(&len) {
            return Ok(t.clone());
        }
        self.cancel.check()?;
        let late = self.cost.compiles >= HINT_MIN_TRIES
            && self
                .deadline
                .is_some_and(|d| std::time::Instant::now() >= d);
        if self.cost.compiles >= self.budget.compiles || late {
            self.cost.exhausted = true;
            return Ok(None);
        }
        self.cost.compiles += 1;
        let prefix = match &self.base {
            Some((flags, start)) if len > *start => format!("{flags}{}", &self.p[*start..len]),
            Some(_) => String::new(),
            None => self.p[..len].to_string(),
        };
        let t = if prefix.is_empty() {
            None
        } else {
            regex::Regex::new(&prefix).ok().and_then(|re| {
                let vacuous = re.is_match("");
                let m = Searcher::regex(re).iter_from(self.text, 0).next()?;
                Some((m, vacuous))
            })
        };
        self.tried.insert(len, t.clone());
        Ok(t)
    }
}

/// The top-level pieces of one alternative, in order.
fn pieces(ast: &regex_syntax::ast::Ast) -> Vec<Piece> {
    use regex_syntax::ast::Ast;
    let piece = |a: &Ast| {
        let mut inner = Vec::new();
        if let Ast::Repetition(r) = a {
            if !r.greedy {
                // `a+?` → `a+`: the lazy marker is the last character.
                inner.push(r.span.end.offset - 1);
            }
            inner.push(r.ast.span().end.offset);
        }
        Piece {
            end: a.span().end.offset,
            inner,
        }
    };
    match ast {
        Ast::Concat(c) => c.asts.iter().map(piece).collect(),
        Ast::Empty(_) => Vec::new(),
        other => vec![piece(other)],
    }
}

/// `Regex::find_iter` resumable at any position: same rules for empty matches
/// (one directly after the previous match is skipped; never inside a char).
struct RegexFrom<'a> {
    re: &'a Regex,
    text: &'a str,
    pos: usize,
    last_end: Option<usize>,
}

impl Iterator for RegexFrom<'_> {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        loop {
            if self.pos > self.text.len() {
                return None;
            }
            let m = self.re.find_at(self.text, self.pos)?;
            if m.is_empty() && Some(m.end()) == self.last_end {
                let step = self.text[m.end()..]
                    .chars()
                    .next()
                    .map_or(1, char::len_utf8);
                self.pos = m.end() + step;
                continue;
            }
            self.pos = m.end();
            self.last_end = Some(m.end());
            return Some(m.range());
        }
    }
}

/// Shortest literal worth prefiltering on: a shorter one occurs on too many
/// lines to win over the regex crate's own search.
const MIN_LINE_LITERAL: usize = 3;

/// The literal every match of `pattern` contains, when every match also lies
/// within one line and the regex's meaning does not change when the text is
/// cut at a line end (no whole-text `$`/`\z`). `None` otherwise.
fn line_literal(pattern: &str) -> Option<Vec<u8>> {
    let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
    if can_match_newline(&hir) || looks_at_text_end(&hir) {
        return None;
    }
    required_literal(&hir).filter(|l| l.len() >= MIN_LINE_LITERAL)
}

/// The longest literal that every match must contain.
fn required_literal(hir: &Hir) -> Option<Vec<u8>> {
    match hir.kind() {
        HirKind::Literal(l) => Some(l.0.to_vec()),
        HirKind::Capture(c) => required_literal(&c.sub),
        HirKind::Repetition(r) if r.min >= 1 => required_literal(&r.sub),
        HirKind::Concat(subs) => subs
            .iter()
            .filter_map(required_literal)
            .max_by_key(Vec::len),
        _ => None,
    }
}

fn can_match_newline(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => false,
        HirKind::Literal(l) => l.0.contains(&b'\n'),
        HirKind::Class(Class::Unicode(c)) => c
            .ranges()
            .iter()
            .any(|r| r.start() <= '\n' && '\n' <= r.end()),
        HirKind::Class(Class::Bytes(c)) => c
            .ranges()
            .iter()
            .any(|r| r.start() <= b'\n' && b'\n' <= r.end()),
        HirKind::Repetition(r) => r.max != Some(0) && can_match_newline(&r.sub),
        HirKind::Capture(c) => can_match_newline(&c.sub),
        HirKind::Concat(subs) | HirKind::Alternation(subs) => subs.iter().any(can_match_newline),
    }
}

/// Whole-text end anchors (and CRLF-aware ones) would match at a cut line end.
fn looks_at_text_end(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Look(l) => matches!(l, Look::End | Look::EndCRLF | Look::StartCRLF),
        HirKind::Repetition(r) => looks_at_text_end(&r.sub),
        HirKind::Capture(c) => looks_at_text_end(&c.sub),
        HirKind::Concat(subs) | HirKind::Alternation(subs) => subs.iter().any(looks_at_text_end),
        _ => false,
    }
}

/// The matches of a single-line regex: find the required literal, then run
/// the regex over that line only, the text cut at the line's end. Exact:
/// no match crosses a `\n`, each holds the literal on its own line, and
/// with no whole-text end anchor a cut at `\n` changes no assertion
/// (word boundaries see a non-word char either way). Matches are never
/// empty (they hold the literal), so no empty-match rules apply.
struct LineScan<'a> {
    re: &'a Regex,
    finder: &'a Finder<'static>,
    text: &'a str,
    pos: usize,
    /// End of the line being searched, while inside one.
    line_end: Option<usize>,
    cancel: Option<&'a Cancel>,
    cancelled: bool,
}

impl<'a> LineScan<'a> {
    fn new(
        re: &'a Regex,
        finder: &'a Finder<'static>,
        text: &'a str,
        start: usize,
        cancel: Option<&'a Cancel>,
    ) -> LineScan<'a> {
        LineScan {
            re,
            finder,
            text,
            pos: start,
            line_end: None,
            cancel,
            cancelled: false,
        }
    }
}

impl Iterator for LineScan<'_> {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        let bytes = self.text.as_bytes();
        loop {
            if let Some(end) = self.line_end {
                if let Some(m) = self.re.find_at(&self.text[..end], self.pos) {
                    self.pos = m.end();
                    return Some(m.range());
                }
                self.line_end = None;
                self.pos = end + 1;
            }
            if self.pos > bytes.len() {
                return None;
            }
            if self.cancel.is_some_and(Cancel::is_cancelled) {
                self.cancelled = true;
                return None;
            }
            let at = self.pos + self.finder.find(&bytes[self.pos..])?;
            let start = memchr::memrchr(b'\n', &bytes[..at]).map_or(0, |i| i + 1);
            let end = memchr::memchr(b'\n', &bytes[at..]).map_or(bytes.len(), |i| at + i);
            self.pos = self.pos.max(start);
            self.line_end = Some(end);
        }
    }
}

/// Whether match `m` is shown in `window`. Empty matches count when they sit
/// inside it.
fn overlaps(m: &Range<usize>, window: &Range<usize>) -> bool {
    if m.is_empty() {
        m.start >= window.start && m.start < window.end
    } else {
        m.start < window.end && m.end > window.start
    }
}

/// The result of [`Searcher::search`].
#[derive(Debug, Clone)]
pub struct SearchOutcome {
    searcher: Searcher,
    /// Every match in the corpus (non-overlapping).
    pub total: usize,
    pub first: Option<Range<usize>>,
    pub last: Option<Range<usize>>,
    /// The viewport the matches in `kept` were collected for.
    pub window: Range<usize>,
    /// Matches overlapping `window`, in order.
    pub kept: Vec<Range<usize>>,
    /// More matches overlap `window` than were kept.
    pub kept_truncated: bool,
    /// Starts of matches of the scan, at least CHECKPOINT_SPACING apart.
    checkpoints: Vec<usize>,
}

impl SearchOutcome {
    fn push(&mut self, m: Range<usize>, max_kept: usize) {
        if self
            .checkpoints
            .last()
            .is_none_or(|&c| m.start >= c + CHECKPOINT_SPACING)
        {
            self.checkpoints.push(m.start);
        }
        if overlaps(&m, &self.window) {
            if self.kept.len() < max_kept {
                self.kept.push(m.clone());
            } else {
                self.kept_truncated = true;
            }
        }
        self.total += 1;
        if self.first.is_none() {
            self.first = Some(m.clone());
        }
        self.last = Some(m);
    }

    pub fn searcher(&self) -> &Searcher {
        &self.searcher
    }

    /// The first match starting after `offset` (for `n`). `text` must be the
    /// text searched.
    pub fn next_after(&self, text: &str, offset: usize) -> Option<Range<usize>> {
        let i = self.checkpoints.partition_point(|&c| c <= offset);
        let from = self.checkpoints.get(i.saturating_sub(1)).copied()?;
        self.searcher
            .iter_from(text, from)
            .find(|m| m.start > offset)
    }

    /// The last match starting before `offset` (for `N`).
    pub fn prev_before(&self, text: &str, offset: usize) -> Option<Range<usize>> {
        let i = self.checkpoints.partition_point(|&c| c < offset);
        let from = *self.checkpoints.get(i.checked_sub(1)?)?;
        self.searcher
            .iter_from(text, from)
            .take_while(|m| m.start < offset)
            .last()
    }

    /// Matches overlapping another viewport, without a full rescan (for
    /// scrolling): at most `max_kept`, and whether more were left out.
    pub fn in_window(
        &self,
        text: &str,
        window: Range<usize>,
        max_kept: usize,
    ) -> (Vec<Range<usize>>, bool) {
        let i = self.checkpoints.partition_point(|&c| c <= window.start);
        let Some(&from) = self.checkpoints.get(i.saturating_sub(1)) else {
            return (Vec::new(), false);
        };
        let mut kept = Vec::new();
        for m in self.searcher.iter_from(text, from) {
            if m.start >= window.end {
                break;
            }
            if overlaps(&m, &window) {
                if kept.len() == max_kept {
                    return (kept, true);
                }
                kept.push(m);
            }
        }
        (kept, false)
    }
}

/// The answer to "why no match".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixHint {
    /// The leading part of the pattern that matches.
    pub prefix: String,
    /// Where it first matches.
    pub at: Location,
    pub matched: Range<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_cancel() -> Cancel {
        Cancel::new()
    }

    fn re(p: &str) -> Searcher {
        Searcher::regex(Regex::new(p).expect("test regex"))
    }

    #[test]
    fn literal_counts_non_overlapping_across_chunks() {
        // Matches straddle the 1 MiB chunk boundary.
        let mut text = "a".repeat(LITERAL_CHUNK - 1);
        text.push_str("bcab");
        let s = Searcher::literal("ab");
        let o = s.search(&text, 0..0, 10, &no_cancel()).expect("search");
        assert_eq!(o.total, 2);
        assert_eq!(o.first, Some(LITERAL_CHUNK - 2..LITERAL_CHUNK));

        let aaa = Searcher::literal("aa");
        let o = aaa.search("aaaaa", 0..5, 10, &no_cancel()).expect("search");
        assert_eq!(o.kept, vec![0..2, 2..4]);
    }

    #[test]
    fn literal_chunking_matches_memmem_everywhere() {
        let unit = "xx needle yy\n";
        let text = unit.repeat(3 * LITERAL_CHUNK / unit.len());
        let s = Searcher::literal("needle yy\nxx");
        let o = s.search(&text, 0..0, 0, &no_cancel()).expect("search");
        let expected = memchr::memmem::find_iter(text.as_bytes(), b"needle yy\nxx").count();
        assert_eq!(o.total, expected);
        assert_eq!(o.total, s.iter_from(&text, 0).count());
    }

    #[test]
    fn window_is_bounded() {
        let text = "ab ".repeat(100);
        let s = Searcher::literal("ab");
        let o = s.search(&text, 30..60, 5, &no_cancel()).expect("search");
        assert_eq!(o.total, 100);
        assert_eq!(o.kept.len(), 5);
        assert!(o.kept_truncated);
        assert_eq!(o.kept[0], 30..32);
        let o = s.search(&text, 1..4, 100, &no_cancel()).expect("search");
        // 0..2 overlaps 1..4 at byte 1; 3..5 overlaps at 3.
        assert_eq!(o.kept, vec![0..2, 3..5]);
    }

    #[test]
    fn cancelled_search_stops() {
        let cancel = Cancel::new();
        cancel.cancel();
        let err = re("a")
            .search("aaa", 0..3, 10, &cancel)
            .expect_err("cancelled");
        assert_eq!(err.pattern, "a");
        assert!(Searcher::literal("a")
            .search("aaa", 0..3, 10, &cancel)
            .is_err());
    }

    #[test]
    fn resumable_iterator_equals_find_iter() {
        let texts = ["", "abc", "a\nb\n\nc", "☃x☃", "Ⅰ1Ⅱ2", "foo bar\nbaz foo\n"];
        let pats = [
            r"", r"\b", r"a*", r".*?", r"(?m)^", r"(?m)$", r"\w+", r"x?", r"(?m)^$", r"foo|",
            r"\s+", r".",
        ];
        for t in texts {
            for p in pats {
                let r = Regex::new(p).expect("test regex");
                let expected: Vec<_> = r.find_iter(t).map(|m| m.range()).collect();
                let s = Searcher::regex(r);
                let got: Vec<_> = s.iter_from(t, 0).collect();
                assert_eq!(got, expected, "{p:?} on {t:?}");
                // Resuming at any match start continues the same sequence.
                for (i, m) in expected.iter().enumerate() {
                    let rest: Vec<_> = s.iter_from(t, m.start).collect();
                    assert_eq!(rest, expected[i..], "{p:?} on {t:?} from {}", m.start);
                }
            }
        }
    }

    #[test]
    fn line_prefilter_selection() {
        for p in [
            r"\S+\[\d+\] triggered exit kind \d+:",
            r"(?m)^\S+\[\d+\] triggered exit kind \d+:$",
            r"(scx_bpf_error)+ x",
            r"\bfoo\b",
        ] {
            assert!(re(p).has_line_prefilter(), "{p}");
        }
        for p in [
            r"kind \d+:$", // whole-text end: a cut line would end there
            r"foo\z",
            r"foo\s+bar", // \s crosses lines
            r"(?s)foo.bar",
            r"foo|barbaz",    // no required literal
            r"(?i)foobar",    // classes, not a literal
            r"ab\d",          // literal too short
            r"(?:foo)?bar\W", // \W matches \n
        ] {
            assert!(!re(p).has_line_prefilter(), "{p}");
        }
    }

    #[test]
    fn line_prefilter_equals_find_iter() {
        let texts = [
            "",
            "foo",
            "a foo b\nfoo\n\nxfoofoo foo\n",
            "kw/0[1] triggered exit kind 1025:\nkw/0[2] triggered exit kind 7:x\n[3] triggered exit kind 1:",
            "foo bar\nfoo\tbar foo  bar\n☃foo☃ foo_bar",
        ];
        let pats = [
            r"foo",
            r"\bfoo\b",
            r"(?m)^foo$",
            r"(?m)foo$",
            r"\S+\[\d+\] triggered exit kind \d+:",
            r"(?m)^\S+\[\d+\] triggered exit kind \d+:$",
            r"foo[ \t]*bar",
            r"\w*foo\w*",
            r"(?m)^.*foo",
            r"foo.*",
            r"[^\n]*foo",
        ];
        for t in texts {
            for p in pats {
                let r = Regex::new(p).expect("test regex");
                let expected: Vec<_> = r.find_iter(t).map(|m| m.range()).collect();
                let s = Searcher::regex(r);
                assert!(s.has_line_prefilter(), "{p}");
                let got: Vec<_> = s.iter_from(t, 0).collect();
                assert_eq!(got, expected, "{p:?} on {t:?}");
                let o = s.search(t, 0..t.len(), 100, &no_cancel()).expect("search");
                assert_eq!(o.kept, expected, "{p:?} on {t:?}");
                for (i, m) in expected.iter().enumerate() {
                    let rest: Vec<_> = s.iter_from(t, m.start).collect();
                    assert_eq!(rest, expected[i..], "{p:?} on {t:?} from {}", m.start);
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn prefiltered_search_is_exact(text in "(ab|abc|[ab \n\\[\\]1:xé])*") {
            for p in [r"abc\w*", r"\S*\[1+\]:a", r"(?m)^abc", r"(?m)abc$", r"\babc1?\b", r"(?m)^.*abc.*$"] {
                let r = Regex::new(p).expect("test regex");
                let expected: Vec<_> = r.find_iter(&text).map(|m| m.range()).collect();
                let s = Searcher::regex(r);
                proptest::prop_assert!(s.has_line_prefilter(), "{}", p);
                let got: Vec<_> = s.iter_from(&text, 0).collect();
                proptest::prop_assert_eq!(got, expected);
            }
        }
    }

    #[test]
    fn next_and_prev_follow_the_scan() {
        let line = "cpu 1 error here\n";
        let text = line.repeat(20_000); // > several checkpoints
        let s = re(r"error");
        let o = s.search(&text, 0..0, 0, &no_cancel()).expect("search");
        assert_eq!(o.total, 20_000);
        assert!(o.checkpoints.len() > 3);
        let far = line.len() * 12_345 + 3;
        let next = o.next_after(&text, far).expect("next");
        assert_eq!(next.start, line.len() * 12_345 + 6);
        let prev = o.prev_before(&text, far).expect("prev");
        assert_eq!(prev.start, line.len() * 12_344 + 6);
        assert_eq!(o.prev_before(&text, 6), None);
        assert_eq!(o.next_after(&text, 0), Some(6..11));
        assert_eq!(o.next_after(&text, text.len()), None);
        assert_eq!(o.prev_before(&text, text.len()), o.last);
        let (w, more) = o.in_window(&text, far..far + line.len() * 3, 100);
        assert_eq!(w.len(), 3);
        assert!(!more);
    }

    #[test]
    fn multi_line_match_kept_in_window() {
        let text = "a\nb\nc\nd";
        let o = re(r"b\nc").search(text, 4..5, 10, &no_cancel()).expect("s");
        assert_eq!(o.kept, vec![2..5]);
        assert_eq!(o.in_window(text, 4..5, 10).0, vec![2..5]);
    }

    #[test]
    fn prefix_hint_literal_and_regex() {
        let c = Corpus::new(Some("hello\nscx_bpf_error here"), None);
        let h = Searcher::literal("scx_bpf_errno")
            .longest_matching_prefix(&c, &no_cancel())
            .expect("not cancelled")
            .expect("hint");
        assert_eq!(h.prefix, "scx_bpf_err");
        assert_eq!(h.at.line, 2);
        assert_eq!(h.at.offset, 6);

        let h = re(r"scx_bpf_error \d+")
            .longest_matching_prefix(&c, &no_cancel())
            .expect("not cancelled")
            .expect("hint");
        // `scx_bpf_error \` is invalid and `scx_bpf_error ` matches.
        assert_eq!(h.prefix, "scx_bpf_error ");

        assert_eq!(
            re("zzz")
                .longest_matching_prefix(&c, &no_cancel())
                .expect("ok"),
            None
        );
    }

    #[test]
    fn prefix_hint_skips_vacuous_prefixes() {
        let c = Corpus::from_raw("abc");
        // `q?` would match "" and is skipped; nothing else matches.
        assert_eq!(
            re("q?zz")
                .longest_matching_prefix(&c, &no_cancel())
                .expect("ok"),
            None
        );
    }

    /// The hint as it was: every prefix, longest first (the oracle).
    fn exhaustive_hint(p: &str, text: &str) -> Option<(String, Range<usize>)> {
        let mut ends: Vec<usize> = p.char_indices().map(|(i, _)| i).skip(1).collect();
        ends.push(p.len());
        ends.iter().rev().find_map(|&len| {
            let re = gate_matches(&p[..len]).ok()?;
            let m = Searcher::regex(re).iter_from(text, 0).next()?;
            Some((p[..len].to_string(), m))
        })
    }

    #[test]
    fn prefix_hint_equals_exhaustive_search() {
        let text = "hello\nscx_bpf_error here 0x1f - 12\nrun_time_ns is negative: 0x57 - 0x58\n\
                    cpu 3 kworker/u8:1[42] dsq_id=0x8000\n";
        let c = Corpus::from_raw(text);
        for p in [
            r"scx_bpf_error \d+",
            r"scx_bpf_errno",
            r"run_time_ns is negative: 0x[0-9a-f]+ - 0x[0-9a-f]+ zz",
            r"run_time_ns is (negative|positive): 0y",
            r"(?m)^cpu \d+ kworker/u\d+:\d+\[\d+\] dsq_id=0x\d{5}",
            r"(?i)HELLO\s+SCX_bpf_x",
            r"foo|bar|scx_bpf_errq",
            r"foo|scx_bpf_error hered",
            r"(?i)FOO|SCX_bpf_errq",
            r"foo|(?i)SCX_bpf_x|zz",
            r"(?i:FOO)|SCX_bpf_errq",
            r"here|(ab|cd)|x{2}",
            r"kworker/u8:1\[\d+?\]x",
            r"dsq_id=(0x8000)+q",
            r"here \b\w+\b -x",
            r"(?x) run_time_ns \s is \szz", // (a cut never takes the ignored spaces)
            r"é?scx_bpf_error hex",
            r"zzz",
            r"\d\d\d\dQ",
        ] {
            let got = re(p)
                .longest_matching_prefix(&c, &no_cancel())
                .expect("not cancelled")
                .map(|h| (h.prefix, h.matched));
            assert_eq!(got, exhaustive_hint(p, text), "{p}");
        }
    }

    #[test]
    fn prefix_hint_compiles_a_bounded_number_of_prefixes() {
        let text =
            "x\n".repeat(1000) + "scx_bpf_error (run_time_ns is negative: 0x5772 - 0x5773)\n";
        let head = r"run_time_ns is negative: 0x[0-9a-f]+ - ";
        let tail: String = "abcdefghijklmnopqrstuvwxyz "
            .chars()
            .cycle()
            .skip(3) // `- d...` does not match `- 0x5773`
            .take(100_000 - head.len())
            .collect();
        let p = format!("{head}{tail}");
        let long = Regex::new(&p).expect("test regex");
        // No time limit: a debug build compiles slowly, the count is the point.
        let budget = HintBudget {
            time: None,
            ..HintBudget::DEFAULT
        };
        let (found, cost) = regex_prefix_hint(&long, &text, budget, &no_cancel()).expect("ok");
        assert_eq!(found.map(|(len, _)| &p[..len]), Some(head));
        // Not 100k tries: the head is 31 pieces, so galloping tries 1, 3, 7,
        // 15, 31 (all match) and 63 pieces (not), then bisection 47, 39, 35,
        // 33, 32.
        assert_eq!(cost.compiles, 11, "{cost:?}");
        assert!(!cost.exhausted);

        // Ten thousand alternatives, none matching: the budget stops it.
        let alts = vec!["zq"; 10_000].join("|");
        let (found, cost) =
            regex_prefix_hint(&Regex::new(&alts).expect("re"), &text, budget, &no_cancel())
                .expect("ok");
        assert_eq!(found, None);
        assert_eq!(cost.compiles, MAX_HINT_COMPILES);
        assert!(cost.exhausted);

        let cancel = Cancel::new();
        cancel.cancel();
        assert!(regex_prefix_hint(&long, &text, budget, &cancel).is_err());

        // A time budget stops it too (a zero one after the tries always
        // allowed), with the longest usable prefix seen so far.
        let none = HintBudget {
            time: Some(std::time::Duration::ZERO),
            ..HintBudget::DEFAULT
        };
        let (found, cost) = regex_prefix_hint(&long, &text, none, &no_cancel()).expect("ok");
        assert_eq!((cost.compiles, cost.exhausted), (HINT_MIN_TRIES, true));
        let (len, _) = found.expect("a hint");
        assert!(head.starts_with(&p[..len]) && len > 0, "{}", &p[..len]);
    }

    #[test]
    fn gate_applies() {
        assert!(Searcher::new(Field::Matches, "a?").is_err());
        assert!(Searcher::new(Field::Contains, "").is_err());
        assert_eq!(
            Searcher::new(Field::Contains, "x").expect("ok").field(),
            Field::Contains
        );
    }
}
