//! ktstr's gate applied to a whole pin, plus the warnings ktstr does not give.
//!
//! The gate itself is in [`gate`](super::gate). A passing pin is checked with
//! `str::contains` / `Regex::is_match` on the whole corpus, both ANDed. The
//! `#[ktstr_test]` attribute skips the gate, so a bad pin silently checks
//! nothing: catching it here is the point. Warnings cover pins that pass the
//! gate but do not do what their author meant (bare `\b`, whole-text `^`/`$`,
//! `.` not crossing lines, stray whitespace, regex metacharacters in a
//! literal).

use std::fmt;

use regex::Regex;

use super::corpus::Corpus;
use super::gate::{gate_contains, gate_matches, ktstr_accepts, Field, Pin, PinError};
use super::search::Searcher;

/// A pin that passed ktstr's gate, ready to evaluate.
#[derive(Debug, Clone)]
pub struct CompiledPin {
    pub contains: Option<String>,
    pub matches: Option<Regex>,
}

impl CompiledPin {
    /// Applies ktstr's gate to both fields; the first error wins (contains first).
    pub fn new(pin: &Pin) -> Result<CompiledPin, PinError> {
        if pin.contains.is_none() && pin.matches.is_none() {
            return Err(PinError::NoMatcher);
        }
        if let Some(lit) = &pin.contains {
            gate_contains(lit)?;
        }
        let matches = pin.matches.as_deref().map(gate_matches).transpose()?;
        Ok(CompiledPin {
            contains: pin.contains.clone(),
            matches,
        })
    }

    /// ktstr's verdict on `corpus` ([`ktstr_accepts`]).
    pub fn is_satisfied_by(&self, corpus: &str) -> bool {
        ktstr_accepts(
            self.contains
                .as_deref()
                .map(|lit| move || contains_bytes(corpus, lit)),
            self.matches
                .as_ref()
                .map(|re| move || regex_hits(re, corpus)),
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// ktstr rejects the pin (or, through the attribute, silently ignores it).
    Error,
    /// Passes ktstr's gate but probably does not do what was meant.
    Warning,
    /// Worth knowing; the pin is fine.
    Info,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "note",
        }
    }
}

/// What a diagnostic is about, for code that reacts to specific ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiagnosticKind {
    /// ktstr's gate fails.
    Invalid(PinError),
    /// The regex can match an empty position inside ordinary text (bare `\b`).
    ZeroWidth,
    /// Matches unrelated filler text, or a literal too short to mean anything.
    TooBroad,
    /// Only matches with `(?m)`: `^`/`$` are whole-corpus anchors.
    NeedsMultiLine,
    /// Only matches with `(?s)`: `.` does not cross `\n`.
    NeedsDotAll,
    /// Uses `^`/`$` without `(?m)` and matches; anchors differ from grep/rg.
    WholeTextAnchors,
    /// Leading or trailing whitespace, matched byte for byte.
    Whitespace,
    /// A regex that looks like a literal with unescaped metacharacters.
    RegexMetaInLiteral,
    /// A `contains` literal that only matches when read as a regex.
    RegexInLiteral,
}

/// A suggested replacement for a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    pub field: Field,
    pub pattern: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub field: Option<Field>,
    pub severity: Severity,
    pub kind: DiagnosticKind,
    pub message: String,
    pub suggestion: Option<Suggestion>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.severity.label(), self.message)?;
        if let Some(s) = &self.suggestion {
            write!(f, "\n  try {} = {}", s.field, s.pattern)?;
        }
        Ok(())
    }
}

/// Everything known about a pin: the gate's verdict and the
/// diagnostics, errors first.
#[derive(Debug, Clone)]
pub struct Validation {
    /// `Some` when ktstr's gate passes.
    pub pin: Option<CompiledPin>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Validation {
    pub fn is_valid(&self) -> bool {
        self.pin.is_some()
    }

    pub fn errors(&self) -> impl Iterator<Item = &PinError> {
        self.diagnostics.iter().filter_map(|d| match &d.kind {
            DiagnosticKind::Invalid(e) => Some(e),
            _ => None,
        })
    }

    /// Diagnostics of one severity.
    pub fn with_severity(&self, severity: Severity) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics
            .iter()
            .filter(move |d| d.severity == severity)
    }

    pub fn has(&self, kind: &DiagnosticKind) -> bool {
        self.diagnostics.iter().any(|d| &d.kind == kind)
    }
}

/// Applies ktstr's gate and every warning rule to `pin` over `corpus`.
pub fn validate(pin: &Pin, corpus: &Corpus) -> Validation {
    validate_known(pin, corpus, KnownHits::default())
}

/// Whether each field matches the corpus, when a search already found out.
/// Saves a full scan per field: a regex whose literal prefilter is weak
/// costs ~20 ms per 10 MB scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KnownHits {
    pub contains: Option<bool>,
    pub matches: Option<bool>,
}

/// [`validate`], reusing hits a search already computed.
pub fn validate_known(pin: &Pin, corpus: &Corpus, known: KnownHits) -> Validation {
    let text = corpus.as_str();
    let mut out = Vec::new();
    if pin.contains.is_none() && pin.matches.is_none() {
        out.push(error(PinError::NoMatcher));
    }
    if let Some(lit) = &pin.contains {
        check_contains(lit, text, known.contains, &mut out);
    }
    if let Some(p) = &pin.matches {
        check_matches(p, text, known.matches, &mut out);
    }
    out.sort_by_key(|d| d.severity);
    let has_errors = out.iter().any(|d| d.severity == Severity::Error);
    let pin = if has_errors {
        None
    } else {
        CompiledPin::new(pin).ok()
    };
    Validation {
        pin,
        diagnostics: out,
    }
}

fn error(e: PinError) -> Diagnostic {
    Diagnostic {
        field: e.field(),
        severity: Severity::Error,
        message: e.to_string(),
        kind: DiagnosticKind::Invalid(e),
        suggestion: None,
    }
}

fn diag(
    field: Field,
    severity: Severity,
    kind: DiagnosticKind,
    message: String,
    suggestion: Option<(Field, String)>,
) -> Diagnostic {
    Diagnostic {
        field: Some(field),
        severity,
        kind,
        message,
        suggestion: suggestion.map(|(field, pattern)| Suggestion { field, pattern }),
    }
}

/// `re.is_match(text)`, through the search's line prefilter (same answer,
/// up to 40x faster on patterns the regex crate prefilters poorly).
fn regex_hits(re: &Regex, text: &str) -> bool {
    Searcher::regex(re.clone()).is_match(text)
}

fn contains_bytes(hay: &str, needle: &str) -> bool {
    memchr::memmem::find(hay.as_bytes(), needle.as_bytes()).is_some()
}

/// A log and dump with no crash in them: any corpus has lines like these, so
/// a pin matching here matches nearly any run. Includes ktstr's dump header,
/// which every corpus with a dump holds.
const BROAD_PROBE: &str = "Jan 01 00:00:00 host kernel: [    0.000000] Linux version \
    6.12.0-1-amd64 (gcc) #1 SMP\nsystemd[1]: Started Session 1 of User root.\n\n\n\
    --- sched_ext dump ---\nCPU 0   : nr_run=1 flags=0x1 cpu_rel=0 ops_qseq=0 pnt_seq=0\n\
    \x20         curr=swapper/0[0] class=idle_sched_class\n";

/// A literal this short occurs in nearly any log.
const MIN_LITERAL_CHARS: usize = 3;

fn check_contains(lit: &str, text: &str, known: Option<bool>, out: &mut Vec<Diagnostic>) {
    if let Err(e) = gate_contains(lit) {
        out.push(error(e));
        return;
    }
    let found = known.unwrap_or_else(|| contains_bytes(text, lit));
    whitespace(Field::Contains, lit, text, found, out);
    let short = lit.trim().chars().count() < MIN_LITERAL_CHARS;
    if !lit.trim().is_empty() && (short || contains_bytes(BROAD_PROBE, lit)) {
        let why = if short {
            "is so short it occurs"
        } else {
            "occurs in ordinary log or dump text, so it occurs"
        };
        out.push(diag(
            Field::Contains,
            Severity::Warning,
            DiagnosticKind::TooBroad,
            format!(
                "expect_scx_bpf_error_contains: \"{lit}\" {why} in nearly any run; pin on the \
                 error's own words"
            ),
            None,
        ));
    }
    if !found && regex::escape(lit) != lit {
        if let Ok(re) = gate_matches(lit) {
            if regex_hits(&re, text) {
                out.push(diag(
                    Field::Contains,
                    Severity::Warning,
                    DiagnosticKind::RegexInLiteral,
                    format!(
                        "expect_scx_bpf_error_contains: \"{lit}\" is matched as a plain substring \
                         and does not occur, but read as a regex it matches; move it to \
                         expect_scx_bpf_error_matches"
                    ),
                    Some((Field::Matches, lit.to_string())),
                ));
            }
        }
    }
}

fn check_matches(p: &str, text: &str, known: Option<bool>, out: &mut Vec<Diagnostic>) {
    let is_literal_in_text = looks_like_literal(p) && contains_bytes(text, p);
    let re = match gate_matches(p) {
        Ok(re) => re,
        Err(e) => {
            if matches!(e, PinError::InvalidRegex(_)) && is_literal_in_text {
                out.push(meta_in_literal(p, Severity::Warning, "does not compile"));
            }
            out.push(error(e));
            return;
        }
    };
    let matched = known.unwrap_or_else(|| regex_hits(&re, text));
    whitespace(Field::Matches, p, text, matched, out);

    if re.find_iter(BROAD_PROBE).any(|m| m.is_empty()) {
        out.push(diag(
            Field::Matches,
            Severity::Warning,
            DiagnosticKind::ZeroWidth,
            format!(
                "expect_scx_bpf_error_matches: \"{p}\" can match an empty position inside any \
                 word (a bare `\\b` passes ktstr's empty-string check but matches every real \
                 log); pin on words of the error text instead"
            ),
            None,
        ));
    } else if let Some(m) = re.find(BROAD_PROBE) {
        out.push(diag(
            Field::Matches,
            Severity::Warning,
            DiagnosticKind::TooBroad,
            format!(
                "expect_scx_bpf_error_matches: \"{p}\" also matches {:?} in ordinary log or \
                 dump text, so it matches nearly any run; pin on words of the error text",
                m.as_str()
            ),
            None,
        ));
    }

    let anchors = flag_changes(p, |b| {
        b.multi_line(true);
    });
    let dot = flag_changes(p, |b| {
        b.dot_matches_new_line(true);
    });
    if !matched {
        let mut fixes = Vec::new();
        if anchors {
            fixes.push(("(?m)", DiagnosticKind::NeedsMultiLine));
        }
        if dot {
            fixes.push(("(?s)", DiagnosticKind::NeedsDotAll));
        }
        if anchors && dot {
            fixes.push(("(?ms)", DiagnosticKind::NeedsMultiLine));
        }
        let fix = fixes.into_iter().find_map(|(flag, kind)| {
            let fixed = format!("{flag}{p}");
            let ok = gate_matches(&fixed).is_ok_and(|r| regex_hits(&r, text));
            ok.then_some((flag, kind, fixed))
        });
        if let Some((flag, kind, fixed)) = fix {
            out.push(diag(
                Field::Matches,
                Severity::Warning,
                kind,
                flag_message(p, flag, text),
                Some((Field::Matches, fixed)),
            ));
        }
    } else if anchors {
        out.push(diag(
            Field::Matches,
            Severity::Info,
            DiagnosticKind::WholeTextAnchors,
            format!(
                "expect_scx_bpf_error_matches: in \"{p}\" `^`/`$` anchor to the start/end of the \
                 whole corpus, not of each line (grep and rg anchor per line); add `(?m)` for \
                 line anchors"
            ),
            None,
        ));
    }

    if is_literal_in_text {
        if matched {
            out.push(meta_in_literal(p, Severity::Info, "matches"));
        } else {
            out.push(meta_in_literal(p, Severity::Warning, "does not match"));
        }
    }
}

fn flag_message(p: &str, flag: &str, text: &str) -> String {
    match flag {
        "(?s)" => format!(
            "expect_scx_bpf_error_matches: \"{p}\" does not match: `.` does not cross line \
             breaks by default; it matches with `(?s)`"
        ),
        _ if only_misses_final_newline(p, text) => format!(
            "expect_scx_bpf_error_matches: \"{p}\" does not match: `$` matches only at the very \
             end of the corpus, and the corpus ends with a newline (Rust's `$` does not match \
             before a final `\\n`); with `{flag}` `$` matches at each line end"
        ),
        _ => format!(
            "expect_scx_bpf_error_matches: \"{p}\" does not match: `^`/`$` anchor to the whole \
             corpus by default; it matches with `{flag}` (line anchors)"
        ),
    }
}

/// Long enough, with a word in it, and some metacharacter: text pasted from
/// a log rather than a pattern of symbols.
fn looks_like_literal(p: &str) -> bool {
    p.chars().count() >= MIN_LITERAL_CHARS
        && p.chars().any(char::is_alphanumeric)
        && regex::escape(p) != p
}

/// `p` ends with `$` and would match if `$` could sit before the corpus's
/// final `\n` (Perl, PCRE and Python allow that; Rust's `$` does not).
fn only_misses_final_newline(p: &str, text: &str) -> bool {
    let Some(body) = p.strip_suffix('$') else {
        return false;
    };
    let escaped = body.len() - body.trim_end_matches('\\').len();
    text.ends_with('\n')
        && escaped % 2 == 0
        && Regex::new(&format!("(?:{body})\\n\\z")).is_ok_and(|r| r.is_match(text))
}

fn meta_in_literal(p: &str, severity: Severity, outcome: &str) -> Diagnostic {
    diag(
        Field::Matches,
        severity,
        DiagnosticKind::RegexMetaInLiteral,
        format!(
            "expect_scx_bpf_error_matches: \"{p}\" occurs verbatim in the corpus but contains \
             regex metacharacters, so as a regex it {outcome}; escape it (regex::escape) or use \
             expect_scx_bpf_error_contains"
        ),
        Some((Field::Matches, regex::escape(p))),
    )
}

fn whitespace(field: Field, s: &str, text: &str, matched: bool, out: &mut Vec<Diagnostic>) {
    let trimmed = s.trim();
    if trimmed.len() == s.len() {
        return;
    }
    let which = match (
        s.starts_with(char::is_whitespace),
        s.ends_with(char::is_whitespace),
    ) {
        (true, true) => "leading and trailing",
        (true, false) => "leading",
        _ => "trailing",
    };
    let usable = !trimmed.is_empty()
        && match field {
            Field::Contains => true,
            Field::Matches => gate_matches(trimmed).is_ok(),
        };
    let would_match = usable
        && match field {
            Field::Contains => contains_bytes(text, trimmed),
            Field::Matches => Regex::new(trimmed).is_ok_and(|r| regex_hits(&r, text)),
        };
    let tail = if !matched && would_match {
        "; without it the pin matches"
    } else {
        ""
    };
    out.push(diag(
        field,
        Severity::Warning,
        DiagnosticKind::Whitespace,
        format!(
            "{field}: {which} whitespace in {s:?} is matched byte for byte (ktstr does not \
             trim){tail}"
        ),
        usable.then(|| (field, trimmed.to_string())),
    ));
}

/// Whether turning on a flag changes what `p` means, i.e. `p` has `^`/`$`
/// (multi_line) or `.` (dot_matches_new_line) outside an inline override.
fn flag_changes(p: &str, set: impl Fn(&mut regex_syntax::ParserBuilder)) -> bool {
    let plain = regex_syntax::Parser::new().parse(p);
    let mut builder = regex_syntax::ParserBuilder::new();
    set(&mut builder);
    let flagged = builder.build().parse(p);
    matches!((plain, flagged), (Ok(a), Ok(b)) if a != b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(pin: &Pin, corpus: &str) -> Vec<DiagnosticKind> {
        validate(pin, &Corpus::from_raw(corpus))
            .diagnostics
            .into_iter()
            .map(|d| d.kind)
            .collect()
    }

    #[test]
    fn no_matcher_is_an_error() {
        assert_eq!(
            kinds(&Pin::default(), "x"),
            vec![DiagnosticKind::Invalid(PinError::NoMatcher)]
        );
    }

    #[test]
    fn errors_sort_first() {
        let v = validate(&Pin::new(Some(" x "), Some("(")), &Corpus::from_raw("abc"));
        assert_eq!(v.diagnostics[0].severity, Severity::Error);
        assert!(!v.is_valid());
    }

    #[test]
    fn scoped_flag_override_is_not_a_line_anchor() {
        assert!(!flag_changes("(?-m:^)foo", |b| {
            b.multi_line(true);
        }));
        assert!(flag_changes("^foo", |b| {
            b.multi_line(true);
        }));
        assert!(!flag_changes(r"\Afoo", |b| {
            b.multi_line(true);
        }));
    }

    #[test]
    fn and_semantics() {
        let pin = CompiledPin::new(&Pin::new(Some("abc"), Some("x+"))).expect("valid");
        assert!(pin.is_satisfied_by("abc xx"));
        assert!(!pin.is_satisfied_by("abc"));
        assert!(!pin.is_satisfied_by("xx"));
    }
}
