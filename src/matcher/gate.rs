//! ktstr's pin vocabulary and its gate, with no warning rules.
//!
//! ktstr's gate (the `Assert` builder): a `contains` literal must be non-empty;
//! a `matches` pattern must be non-empty, compile with `regex::Regex::new`, and
//! not match `""`. A pin that passes is ktstr-accepted when every configured
//! matcher matches ([`ktstr_accepts`]). Kept apart from
//! [`validate`](mod@super::validate) so that the search engine can use the gate
//! without depending on the warning rules, which themselves use the search.

use std::fmt;
use std::ops::Range;

use regex::Regex;

/// Which `#[ktstr_test]` attribute a value belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// `expect_scx_bpf_error_contains`: substring.
    Contains,
    /// `expect_scx_bpf_error_matches`: regex.
    Matches,
}

impl Field {
    pub fn attribute(self) -> &'static str {
        match self {
            Field::Contains => "expect_scx_bpf_error_contains",
            Field::Matches => "expect_scx_bpf_error_matches",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.attribute())
    }
}

/// A pin as the user typed it: either or both matchers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pin {
    pub contains: Option<String>,
    pub matches: Option<String>,
}

impl Pin {
    pub fn new(contains: Option<&str>, matches: Option<&str>) -> Pin {
        Pin {
            contains: contains.map(str::to_string),
            matches: matches.map(str::to_string),
        }
    }

    pub fn contains(literal: &str) -> Pin {
        Pin::new(Some(literal), None)
    }

    pub fn matches(pattern: &str) -> Pin {
        Pin::new(None, Some(pattern))
    }

    pub fn get(&self, field: Field) -> Option<&str> {
        match field {
            Field::Contains => self.contains.as_deref(),
            Field::Matches => self.matches.as_deref(),
        }
    }
}

/// Why ktstr would reject a pin (or, through the attribute, silently ignore it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    #[error(
        "no matcher set: give expect_scx_bpf_error_contains and/or expect_scx_bpf_error_matches"
    )]
    NoMatcher,
    #[error("expect_scx_bpf_error_contains: literal must be non-empty")]
    EmptyLiteral,
    #[error("expect_scx_bpf_error_matches: pattern must be non-empty")]
    EmptyRegex,
    #[error("{0}")]
    InvalidRegex(Box<InvalidRegex>),
    #[error(
        "expect_scx_bpf_error_matches: pattern \"{pattern}\" matches the empty string at every \
         position (like `a?`, `.*`, `(?:)`), so it would pass on any corpus"
    )]
    MatchesEverywhere { pattern: String },
    #[error(
        "expect_scx_bpf_error_matches: pattern \"{pattern}\" matches only the empty string (like \
         `^$`, `\\A\\z`), so it would fail on every real, non-empty corpus"
    )]
    MatchesOnlyEmpty { pattern: String },
}

impl PinError {
    pub fn field(&self) -> Option<Field> {
        match self {
            PinError::NoMatcher => None,
            PinError::EmptyLiteral => Some(Field::Contains),
            _ => Some(Field::Matches),
        }
    }
}

/// A pattern the `regex` crate refuses, with where it went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRegex {
    pub pattern: String,
    /// What is wrong, without the pattern echo (`unclosed group`, ...).
    pub reason: String,
    /// The `regex` crate's full error text, exactly as ktstr would print it.
    pub regex_message: String,
    /// Offending byte range in `pattern`, when the parser reports one (a
    /// pattern that parses but compiles too big has none).
    pub span: Option<Range<usize>>,
}

impl InvalidRegex {
    /// The pattern line holding the error and a `^^^` line under the span,
    /// aligned in chars (tabs kept so the caret lines up in a terminal).
    pub fn caret(&self) -> Option<(String, String)> {
        let span = self.span.clone()?;
        let p = &self.pattern;
        let start = span.start.min(p.len());
        let line_start = p[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = p[start..].find('\n').map_or(p.len(), |i| start + i);
        let pad: String = p[line_start..start]
            .chars()
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let end = span.end.clamp(start, line_end);
        let width = p[start..end].chars().count().max(1);
        Some((
            p[line_start..line_end].to_string(),
            format!("{pad}{}", "^".repeat(width)),
        ))
    }
}

impl fmt::Display for InvalidRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "expect_scx_bpf_error_matches: pattern \"{}\" is not valid regex: {}",
            self.pattern, self.reason
        )?;
        if let Some((line, caret)) = self.caret() {
            write!(f, "\n    {line}\n    {caret}")?;
        }
        Ok(())
    }
}

/// ktstr's rule for a pin that passed the gate: every configured matcher must
/// match (AND); an unset one does not count. Each `Some` is asked whether its
/// matcher hits, lazily, so a miss on `contains` skips the regex scan.
pub fn ktstr_accepts(
    contains: Option<impl FnOnce() -> bool>,
    matches: Option<impl FnOnce() -> bool>,
) -> bool {
    contains.is_none_or(|hits| hits()) && matches.is_none_or(|hits| hits())
}

/// ktstr's gate for a `contains` literal.
pub fn gate_contains(literal: &str) -> Result<(), PinError> {
    if literal.is_empty() {
        return Err(PinError::EmptyLiteral);
    }
    Ok(())
}

/// Text no real pin should match: a pattern matching it matches nearly any log.
const EMPTY_PROBE: &str = "x\nxy";

/// ktstr's gate for a `matches` pattern; returns the compiled regex.
pub fn gate_matches(pattern: &str) -> Result<Regex, PinError> {
    if pattern.is_empty() {
        return Err(PinError::EmptyRegex);
    }
    let re = Regex::new(pattern).map_err(|e| invalid_regex(pattern, &e))?;
    if re.is_match("") {
        // ktstr rejects both with one check; telling them apart says which
        // way the pin would be useless.
        return Err(if re.is_match(EMPTY_PROBE) {
            PinError::MatchesEverywhere {
                pattern: pattern.to_string(),
            }
        } else {
            PinError::MatchesOnlyEmpty {
                pattern: pattern.to_string(),
            }
        });
    }
    Ok(re)
}

fn invalid_regex(pattern: &str, err: &regex::Error) -> PinError {
    // The regex crate only gives a formatted string; regex-syntax (the same
    // parser, same defaults) gives the span and the bare reason.
    let (reason, span) = match regex_syntax::Parser::new().parse(pattern) {
        Err(regex_syntax::Error::Parse(e)) => (e.kind().to_string(), Some(*e.span())),
        Err(regex_syntax::Error::Translate(e)) => (e.kind().to_string(), Some(*e.span())),
        _ => (err.to_string(), None),
    };
    PinError::InvalidRegex(Box::new(InvalidRegex {
        pattern: pattern.to_string(),
        reason,
        regex_message: err.to_string(),
        span: span.map(|s| s.start.offset..s.end.offset),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_classifies_empty_matches() {
        for p in ["a?", ".*", "(?:)", "$", "x*|y"] {
            assert!(
                matches!(gate_matches(p), Err(PinError::MatchesEverywhere { .. })),
                "{p}"
            );
        }
        for p in ["^$", r"\A\z", "(?m)^$", r"\B"] {
            let r = gate_matches(p);
            assert!(
                matches!(
                    r,
                    Err(PinError::MatchesOnlyEmpty { .. } | PinError::MatchesEverywhere { .. })
                ),
                "{p}"
            );
        }
        assert!(matches!(
            gate_matches("^$"),
            Err(PinError::MatchesOnlyEmpty { .. })
        ));
        assert!(gate_matches(r"\b").is_ok());
    }

    #[test]
    fn invalid_regex_has_span_and_caret() {
        let Err(PinError::InvalidRegex(e)) = gate_matches("ab(cd") else {
            panic!("expected invalid")
        };
        assert_eq!(e.span, Some(2..3));
        let (line, caret) = e.caret().expect("caret");
        assert_eq!(line, "ab(cd");
        assert_eq!(caret, "  ^");
        assert!(e.regex_message.contains("unclosed group"));
        assert_eq!(e.reason, "unclosed group");
    }

    #[test]
    fn caret_on_second_line_of_pattern_and_unicode() {
        let Err(PinError::InvalidRegex(e)) = gate_matches("é\n\tx{2,1}") else {
            panic!("expected invalid")
        };
        let (line, caret) = e.caret().expect("caret");
        assert_eq!(line, "\tx{2,1}");
        assert!(caret.starts_with("\t ^"), "{caret:?}");
    }

    #[test]
    fn lookaround_is_a_translate_or_parse_error_with_span() {
        let Err(PinError::InvalidRegex(e)) = gate_matches("foo(?=bar)") else {
            panic!("expected invalid")
        };
        assert!(e.reason.contains("look-around"), "{}", e.reason);
        assert!(e.span.is_some());
    }
}
