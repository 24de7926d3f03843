//! Rendering a pin as a `#[ktstr_test]` regression test.
//!
//! The regex goes into a `const` raw string with enough `#`s that no pattern
//! can end it early; the literal goes into the attribute as an escaped string
//! that keeps non-ASCII text readable. A pattern that does not survive
//! `rustc` byte for byte would pin something else, so both forms are tested
//! by compiling them (tests/export_compiles.rs).

use std::fmt::Write as _;

use super::gate::{Pin, PinError};
use super::validate::CompiledPin;
use crate::report::Report;
use crate::run::topology::Topology;

/// What to export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSpec {
    /// The test function's name.
    pub test_name: String,
    /// The `scheduler = ...` value: a path to the test's scheduler const.
    pub scheduler: String,
    pub contains: Option<String>,
    pub matches: Option<String>,
    /// Name of the regex const; `None` derives it from the test name.
    pub matches_const: Option<String>,
    /// The crashed run's topology (`[topo=…]`), written as ktstr's
    /// `numa_nodes`/`llcs`/`cores`/`threads` so the test boots the guest
    /// the error came from rather than the scheduler's default one.
    pub topology: Option<Topology>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    #[error("test name {name:?} is not a Rust identifier")]
    BadTestName { name: String },
    #[error("const name {name:?} is not a Rust identifier")]
    BadConstName { name: String },
    #[error("scheduler {path:?} is not a Rust path (like `MITOSIS` or `crate::scheds::LAVD`)")]
    BadScheduler { path: String },
    /// ktstr's attribute does not validate, so an invalid pin would be a
    /// test that silently checks nothing: refuse to write it.
    #[error("refusing to export an invalid pin: {0}")]
    InvalidPin(#[from] PinError),
}

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "try", "typeof", "unsized", "virtual", "yield",
];

/// An ASCII identifier that is not a keyword (nor `_`).
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    let head_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    head_ok
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s != "_"
        && !KEYWORDS.contains(&s)
}

fn is_path(s: &str) -> bool {
    let mut segments = s.split("::").enumerate();
    segments
        .all(|(i, seg)| is_identifier(seg) || (i == 0 && matches!(seg, "crate" | "self" | "super")))
        && !s.ends_with("::")
}

/// The topology of the report's error line (`[topo=1n2l4c1t]`), when it
/// is one a guest can have; a test pinned without it boots the scheduler's
/// default topology, which may not crash the same way.
pub fn report_topology(report: &Report) -> Option<Topology> {
    let t: Topology = report.header.topology.as_deref()?.parse().ok()?;
    t.check(u32::MAX).is_ok().then_some(t)
}

/// Renders the const (when a regex is set), the attribute and a test skeleton.
pub fn render_test(spec: &ExportSpec) -> Result<String, ExportError> {
    if !is_identifier(&spec.test_name) {
        return Err(ExportError::BadTestName {
            name: spec.test_name.clone(),
        });
    }
    if !is_path(&spec.scheduler) {
        return Err(ExportError::BadScheduler {
            path: spec.scheduler.clone(),
        });
    }
    let const_name = match &spec.matches_const {
        Some(name) => name.clone(),
        None => format!("{}_PATTERN", spec.test_name.to_ascii_uppercase()),
    };
    if spec.matches.is_some() && !is_identifier(&const_name) {
        return Err(ExportError::BadConstName { name: const_name });
    }
    CompiledPin::new(&Pin::new(spec.contains.as_deref(), spec.matches.as_deref()))?;

    let mut out = String::new();
    if let Some(p) = &spec.matches {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "const {const_name}: &str = {};\n", str_literal(p));
    }
    out.push_str("#[ktstr_test(\n");
    let _ = writeln!(out, "    scheduler = {},", spec.scheduler);
    if let Some(t) = &spec.topology {
        // ktstr's `llcs` counts every LLC, not those of one node, as ours.
        let _ = writeln!(
            out,
            "    numa_nodes = {},\n    llcs = {},\n    cores = {},\n    threads = {},",
            t.numa_nodes, t.llcs, t.cores_per_llc, t.threads_per_core
        );
    }
    out.push_str("    expect_err = true,\n");
    if let Some(lit) = &spec.contains {
        let _ = writeln!(
            out,
            "    expect_scx_bpf_error_contains = {},",
            escaped_literal(lit)
        );
    }
    if spec.matches.is_some() {
        let _ = writeln!(out, "    expect_scx_bpf_error_matches = {const_name},");
    }
    out.push_str(")]\n");
    let _ = writeln!(
        out,
        "fn {}(ctx: &Ctx) -> Result<AssertResult> {{",
        spec.test_name
    );
    out.push_str(
        "    // Set up the conditions that trigger the bug (workload, topology,\n    \
         // bpf_map_write, ...). With expect_err = true the test passes only if the\n    \
         // scheduler fails with an error the matchers above accept.\n    \
         Ok(AssertResult::pass())\n}\n",
    );
    Ok(out)
}

/// A test name from a scheduler name and the pinned text:
/// `mitosis` + `apply_cell_config returned` → `mitosis_apply_cell_config_returned_regression`.
pub fn suggest_test_name(scheduler: &str, text: &str) -> String {
    let words: Vec<String> = format!("{scheduler} {text}")
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .take(8)
        .collect();
    let mut name = words.join("_");
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert_str(0, "pin_");
    }
    name.push_str("_regression");
    name
}

/// Chars that would be invisible or reorder text in a source file. rustc
/// denies the bidi ones in literals, and a raw string cannot escape them.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{AD}' | '\u{34F}' | '\u{61C}' | '\u{180E}'
        | '\u{200B}'..='\u{200F}'
        | '\u{2028}'..='\u{202E}'
        | '\u{2060}'..='\u{2069}'
        | '\u{FEFF}'
        | '\u{FFF9}'..='\u{FFFB}')
}

/// A normal string literal: quotes, backslashes and control or invisible
/// chars escaped, everything else (non-ASCII text included) as is.
pub fn escaped_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c if c.is_control() || is_invisible(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// rustc refuses more `#`s than this on a raw string.
const MAX_RAW_HASHES: usize = 255;

/// A raw string literal holding `s` exactly, or `None` when none can: a
/// raw string cannot hold `\r` (rustc rejects a bare CR and turns CRLF into
/// LF), nor escape invisible or control chars.
pub fn raw_literal(s: &str) -> Option<String> {
    if s.chars()
        .any(|c| (c.is_control() && c != '\n' && c != '\t') || is_invisible(c))
    {
        return None;
    }
    // The literal ends at `"` plus as many `#` as it opened with, so open with
    // one more than the longest `"#...` run inside.
    let longest = s
        .match_indices('"')
        .map(|(i, _)| s[i + 1..].bytes().take_while(|&b| b == b'#').count())
        .max()
        .unwrap_or(0);
    let hashes = longest + 1;
    if hashes > MAX_RAW_HASHES {
        return None;
    }
    let h = "#".repeat(hashes);
    Some(format!("r{h}\"{s}\"{h}"))
}

/// The literal a pattern is best written as: raw when possible (no doubled
/// backslashes), escaped otherwise.
pub fn str_literal(s: &str) -> String {
    raw_literal(s).unwrap_or_else(|| escaped_literal(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(contains: Option<&str>, matches: Option<&str>) -> ExportSpec {
        ExportSpec {
            test_name: "mitosis_einval_regression".into(),
            scheduler: "MITOSIS".into(),
            contains: contains.map(Into::into),
            matches: matches.map(Into::into),
            matches_const: None,
            topology: None,
        }
    }

    #[test]
    fn raw_literal_hash_counting() {
        assert_eq!(raw_literal(r"\d+").as_deref(), Some(r##"r#"\d+"#"##));
        assert_eq!(
            raw_literal(r##"a"#b"##).as_deref(),
            Some(r###"r##"a"#b"##"###)
        );
        assert_eq!(
            raw_literal(r###"x"##y"#"###).as_deref(),
            Some(r####"r###"x"##y"#"###"####)
        );
        assert_eq!(
            raw_literal("ends with \"").as_deref(),
            Some("r#\"ends with \"\"#")
        );
        assert_eq!(raw_literal("a\rb"), None);
        assert_eq!(raw_literal("bidi \u{202E}"), None);
        let too_many = format!("\"{}", "#".repeat(300));
        assert_eq!(raw_literal(&too_many), None);
        assert!(str_literal(&too_many).starts_with('"'));
    }

    #[test]
    fn escaped_literal_keeps_unicode_readable() {
        assert_eq!(escaped_literal("é ☃ 日本"), "\"é ☃ 日本\"");
        assert_eq!(escaped_literal("a\"b\\c\nd\te\0"), r#""a\"b\\c\nd\te\0""#);
        assert_eq!(
            escaped_literal("\u{1b}[0m\u{200b}"),
            r#""\u{1b}[0m\u{200b}""#
        );
    }

    #[test]
    fn renders_only_the_set_attributes() {
        let both = render_test(&spec(Some("apply_cell_config"), Some(r"returned -E[A-Z]+")))
            .expect("export");
        assert!(both.starts_with(
            "const MITOSIS_EINVAL_REGRESSION_PATTERN: &str = r#\"returned -E[A-Z]+\"#;\n"
        ));
        assert!(both.contains("    expect_scx_bpf_error_contains = \"apply_cell_config\",\n"));
        assert!(both
            .contains("    expect_scx_bpf_error_matches = MITOSIS_EINVAL_REGRESSION_PATTERN,\n"));
        assert!(both.contains("fn mitosis_einval_regression(ctx: &Ctx) -> Result<AssertResult> {"));

        let lit = render_test(&spec(Some("x y z"), None)).expect("export");
        assert!(!lit.contains("const "));
        assert!(!lit.contains("expect_scx_bpf_error_matches"));

        let re = render_test(&spec(None, Some("abc"))).expect("export");
        assert!(!re.contains("expect_scx_bpf_error_contains"));
        assert!(!re.contains("llcs"), "no topology asked, none written");
    }

    #[test]
    fn the_crashed_runs_topology_is_pinned_in_ktstr_terms() {
        let mut s = spec(Some("abc"), None);
        s.topology = Some("2n4l3c2t".parse().unwrap());
        let text = render_test(&s).expect("export");
        assert!(
            text.contains(
                "    scheduler = MITOSIS,\n    numa_nodes = 2,\n    llcs = 4,\n    cores = 3,\n    threads = 2,\n    expect_err = true,\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_report_topology_is_taken_only_when_a_guest_can_have_it() {
        let topo = |t: Option<&str>| {
            let mut r = crate::parse::parse_str("");
            r.header.topology = t.map(Into::into);
            report_topology(&r).map(|t| t.to_string())
        };
        assert_eq!(topo(Some("1n2l4c1t")).as_deref(), Some("1n2l4c1t"));
        assert_eq!(topo(None), None);
        assert_eq!(topo(Some("2n3l1c1t")), None, "LLCs must spread evenly");
        assert_eq!(topo(Some("1n0l1c1t")), None);
        assert_eq!(topo(Some("garbage")), None);
    }

    #[test]
    fn rejects_bad_names_and_invalid_pins() {
        let mut s = spec(Some("abc"), None);
        s.test_name = "fn".into();
        assert!(matches!(
            render_test(&s),
            Err(ExportError::BadTestName { .. })
        ));
        let mut s = spec(Some("abc"), None);
        s.scheduler = "a b".into();
        assert!(matches!(
            render_test(&s),
            Err(ExportError::BadScheduler { .. })
        ));
        let mut s = spec(None, Some("abc"));
        s.matches_const = Some("1X".into());
        assert!(matches!(
            render_test(&s),
            Err(ExportError::BadConstName { .. })
        ));
        assert!(matches!(
            render_test(&spec(None, Some("a?"))),
            Err(ExportError::InvalidPin(PinError::MatchesEverywhere { .. }))
        ));
        assert!(matches!(
            render_test(&spec(None, None)),
            Err(ExportError::InvalidPin(PinError::NoMatcher))
        ));
        assert!(is_path("crate::scheds::LAVD"));
        assert!(!is_path("LAVD::"));
    }

    #[test]
    fn test_name_suggestion_is_an_identifier() {
        let n = suggest_test_name("mitosis", "apply_cell_config returned -EINVAL");
        assert_eq!(n, "mitosis_apply_cell_config_returned_einval_regression");
        assert!(is_identifier(&n));
        assert!(is_identifier(&suggest_test_name("", "42 é")));
    }
}
