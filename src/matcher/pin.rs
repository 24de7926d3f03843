//! `scxray pin check` and `scxray pin suggest`, minus the argument parsing.
//!
//! `check_pin` answers what ktstr would do with a pin on this corpus and why:
//! exit code 0 when ktstr would accept the run as the pinned bug, 1 when it
//! would not (or when the pin also passes on a clean run), 2 when ktstr's
//! gate rejects the pin. Mismatch text follows ktstr's own wording so the
//! output can be compared with a failing CI log.
//!
//! [`Verdict`] is the one place that turns an [`Evaluation`] (plus an optional
//! negative control) into PASS / FAIL / TOO BROAD / INVALID and words it, so
//! the CLI and the TUI cannot drift apart.

use std::fmt;

use super::control::{negative_control, ControlReport, NamedCorpus};
use super::corpus::{floor_char_boundary, Corpus, Location};
use super::export::{render_test, report_topology, suggest_test_name, ExportSpec};
use super::gate::{Field, Pin};
use super::search::{Cancelled, PrefixHint};
use super::suggest::{pinned_crash, suggest_for_report, PinSuggestion, SuggestError};
use super::validate::{Severity, Validation};
use super::workbench::{evaluate, Evaluation};
use crate::cancel::Cancel;
use crate::report::Report;

/// How many corpus bytes ktstr prints after a mismatch.
pub const MISMATCH_HEAD_BYTES: usize = 400;

/// Most bytes of a match quoted in the explanation.
const QUOTED: usize = 200;

/// What ktstr would make of a pin on a corpus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every matcher matches: ktstr accepts the failure as the pinned bug.
    Pass,
    /// A matcher misses: ktstr fails the test ("fired the wrong bug").
    Fail,
    /// Passes here but also on a clean corpus: the pin checks nothing.
    TooBroad,
    /// ktstr's gate rejects the pin.
    Invalid,
}

impl Verdict {
    /// The verdict for `eval`, with `control` (the pin on clean corpora) when
    /// there is one: a pin that passes here and on a clean run is too broad.
    pub fn of(eval: &Evaluation, control: Option<&ControlReport>) -> Verdict {
        match eval.satisfied() {
            None => Verdict::Invalid,
            Some(false) => Verdict::Fail,
            Some(true) if control.is_some_and(ControlReport::too_broad) => Verdict::TooBroad,
            Some(true) => Verdict::Pass,
        }
    }

    /// The verdict in one or two words: `PASS`, `FAIL`, `TOO BROAD`, `INVALID`.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::TooBroad => "TOO BROAD",
            Verdict::Invalid => "INVALID",
        }
    }

    /// What the verdict means for the test, to show after the [`label`](Verdict::label).
    pub fn reason(self) -> &'static str {
        match self {
            Verdict::Pass => "ktstr would accept this failure as the pinned bug",
            Verdict::Fail => "ktstr would reject this failure: the pinned bug did not fire",
            Verdict::TooBroad => "ktstr would accept this failure, but also a clean run",
            Verdict::Invalid => "ktstr's pin check rejects this pin",
        }
    }

    /// `LABEL: reason`, the first line of `scxray pin check`.
    pub fn headline(self) -> String {
        format!("{}: {}", self.label(), self.reason())
    }

    /// `scxray pin check`'s exit status: 0 pass, 1 fail or too broad, 2 invalid.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Pass => 0,
            Verdict::Fail | Verdict::TooBroad => 1,
            Verdict::Invalid => 2,
        }
    }
}

/// One matcher's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldResult {
    pub field: Field,
    pub pattern: String,
    /// Non-overlapping matches in the corpus.
    pub count: usize,
    /// First match: where, and the matched text (quoted, cut).
    pub first: Option<(Location, String)>,
    /// For a miss: the longest leading part of the pattern that matches.
    pub hint: Option<PrefixHint>,
}

/// The outcome of `scxray pin check`.
#[derive(Debug, Clone)]
pub struct PinCheck {
    pub verdict: Verdict,
    pub validation: Validation,
    /// Contains first, then matches; empty when the pin is invalid.
    pub fields: Vec<FieldResult>,
    /// Present when clean corpora were given and the pin is valid.
    pub control: Option<ControlReport>,
    pub corpus_len: usize,
    /// The corpus head ktstr prints on a mismatch.
    pub corpus_head: String,
}

impl PinCheck {
    pub fn exit_code(&self) -> u8 {
        self.verdict.exit_code()
    }
}

/// Evaluates `pin` on `corpus` as ktstr would, then on each clean corpus.
/// Fails only when `cancel` is cancelled meanwhile.
pub fn check_pin(
    pin: &Pin,
    corpus: &Corpus,
    clean: &[NamedCorpus],
    cancel: &Cancel,
) -> Result<PinCheck, Cancelled> {
    let text = corpus.as_str();
    let eval = evaluate(pin, corpus, 0..0, 0, cancel)?;
    let mut check = PinCheck {
        verdict: Verdict::Invalid,
        fields: Vec::new(),
        control: None,
        corpus_len: corpus.len(),
        corpus_head: corpus.head(MISMATCH_HEAD_BYTES).to_string(),
        validation: eval.validation.clone(),
    };
    let Some(compiled) = check.validation.pin.clone() else {
        return Ok(check);
    };
    for outcome in [&eval.contains, &eval.matches].into_iter().flatten() {
        let s = outcome.searcher();
        let first = outcome.first.clone().map(|m| {
            let end = floor_char_boundary(text, m.end.min(m.start + QUOTED)).max(m.start);
            (corpus.locate(m.start), text[m.start..end].to_string())
        });
        let hint = if first.is_none() {
            s.longest_matching_prefix(corpus, cancel)?
        } else {
            None
        };
        check.fields.push(FieldResult {
            field: s.field(),
            pattern: s.pattern().to_string(),
            count: outcome.total,
            first,
            hint,
        });
    }
    if !clean.is_empty() {
        check.control = Some(negative_control(&compiled, clean));
    }
    check.verdict = Verdict::of(&eval, check.control.as_ref());
    Ok(check)
}

impl fmt::Display for PinCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} (exit {})", self.verdict.headline(), self.exit_code())?;
        if self.verdict == Verdict::Invalid {
            for d in self.validation.with_severity(Severity::Error) {
                writeln!(f, "{d}")?;
            }
            writeln!(
                f,
                "note: through the #[ktstr_test] attribute this pin is not checked at build time: \
                 an empty or empty-matching pattern silently checks nothing, invalid syntax fails \
                 at evaluation"
            )?;
        }
        for r in &self.fields {
            write_field(f, r, self)?;
        }
        if self.fields.len() == 2 && self.verdict == Verdict::Fail {
            writeln!(
                f,
                "note: both matchers are set, and ktstr requires BOTH to match (AND)"
            )?;
        }
        if let Some(control) = &self.control {
            write!(f, "{control}")?;
        }
        for d in self
            .validation
            .diagnostics
            .iter()
            .filter(|d| d.severity != Severity::Error)
        {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

fn write_field(f: &mut fmt::Formatter<'_>, r: &FieldResult, check: &PinCheck) -> fmt::Result {
    let name = r.field.attribute();
    match &r.first {
        Some((at, matched)) => {
            let times = if r.count == 1 { "time" } else { "times" };
            writeln!(
                f,
                "{name}(\"{}\"): matched {} {times}; first {matched:?} at {at}:",
                r.pattern, r.count
            )?;
            writeln!(f, "    {}", at.line_text)?;
        }
        None => {
            let what = match r.field {
                Field::Contains => "substring not found in",
                Field::Matches => "regex did not match",
            };
            writeln!(
                f,
                "{name}(\"{}\"): {what} the scheduler log + sched_ext dump corpus (the expected \
                 bug did not fire, or its message text changed). Captured corpus {} bytes; up to \
                 {MISMATCH_HEAD_BYTES} bytes follow:\n{}",
                r.pattern, check.corpus_len, check.corpus_head
            )?;
            match &r.hint {
                Some(h) => {
                    writeln!(
                        f,
                        "why: the longest leading part that matches is \"{}\" (of \"{}\"), first at {}:",
                        h.prefix, r.pattern, h.at
                    )?;
                    writeln!(f, "    {}", h.at.line_text)?;
                }
                None => writeln!(f, "why: no leading part of the pattern matches anywhere")?,
            }
        }
    }
    Ok(())
}

/// The outcome of `scxray pin suggest`.
#[derive(Debug, Clone)]
pub struct SuggestReport {
    pub suggestion: PinSuggestion,
    /// The suggested pin's negative control, when clean corpora were given.
    pub control: Option<ControlReport>,
    /// A `#[ktstr_test]` skeleton for the suggestion.
    pub export: Option<String>,
}

/// Suggests a pin for the report's crash, checks it against clean corpora
/// and renders it as a test.
pub fn suggest_pin(report: &Report, clean: &[NamedCorpus]) -> Result<SuggestReport, SuggestError> {
    let corpus = Corpus::from_report(report);
    let suggestion = suggest_for_report(report, &corpus)?;
    let pin = suggestion.as_pin();
    let compiled = super::validate::CompiledPin::new(&pin).ok();
    let control = compiled
        .as_ref()
        .filter(|_| !clean.is_empty())
        .map(|p| negative_control(p, clean));
    // A raw log has no ktstr header: the crash itself may name the scheduler.
    let sched = report
        .header
        .scheduler
        .as_deref()
        .or_else(|| pinned_crash(report).ok()?.scheduler.as_deref())
        .unwrap_or("sched");
    let export = compiled.and_then(|_| {
        let words = suggestion
            .contains
            .as_deref()
            .unwrap_or(suggestion.line.as_str());
        render_test(&ExportSpec {
            test_name: suggest_test_name(sched, words),
            scheduler: scheduler_const(sched),
            contains: suggestion.contains.clone(),
            matches: suggestion.matches.clone(),
            matches_const: None,
            topology: report_topology(report),
        })
        .ok()
    });
    Ok(SuggestReport {
        suggestion,
        control,
        export,
    })
}

/// `scx_lavd` → `SCX_LAVD`: the usual name of a scheduler const.
pub fn scheduler_const(sched: &str) -> String {
    let mut s: String = sched
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
        s.insert_str(0, "SCHED_");
    }
    s
}

impl fmt::Display for SuggestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.suggestion;
        writeln!(f, "from line: {}", s.line)?;
        match &s.contains {
            Some(c) => writeln!(f, "expect_scx_bpf_error_contains = {c:?}")?,
            None => writeln!(f, "expect_scx_bpf_error_contains: none offered")?,
        }
        match &s.matches {
            Some(m) => writeln!(f, "expect_scx_bpf_error_matches = {m}")?,
            None => writeln!(f, "expect_scx_bpf_error_matches: none offered")?,
        }
        for n in &s.notes {
            writeln!(f, "note: {n}")?;
        }
        if let Some(c) = &self.control {
            write!(f, "{c}")?;
        }
        if let Some(e) = &self.export {
            writeln!(f, "\n{e}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// scx_qmap's `scx_bpf_error()` built in `src-main/`: the pin and the
    /// test's names come from the message, not from the build directory.
    #[test]
    fn suggestion_survives_a_rebuild_elsewhere() {
        let log = |dir: &str| {
            format!(
                "stats  : enq=90 dsp=90 delta=0 deq=0\n\
                 DEBUG DUMP\n\
                 ================================================================================\n\n\
                 qmap: root\n\
                 kworker/u8:1[57] triggered exit kind 1025:\n  \
                 scx_bpf_error ({dir}scheds/c/scx_qmap.bpf.c:212: test triggering error)\n\n\
                 Backtrace:\n  \
                 scx_bpf_error_bstr+0x60/0x80\n  \
                 bpf_prog_7e1b4cd0a8c5e2f1_qmap_enqueue+0x1c4/0x2a8\n\n\
                 EXIT: scx_bpf_error ({dir}scheds/c/scx_qmap.bpf.c:212: test triggering error)\n"
            )
        };
        let report = crate::parse::parse_str(&log("src-main/"));
        let s = suggest_pin(&report, &[]).expect("suggestion");
        let pin = s.suggestion.as_pin();
        assert_eq!(
            s.suggestion.contains.as_deref(),
            Some("test triggering error")
        );
        let export = s.export.expect("export");
        assert!(
            export.contains("fn qmap_test_triggering_error_regression("),
            "{export}"
        );
        assert!(
            !export.contains("src_main") && !export.contains("src-main"),
            "{export}"
        );
        let rebuilt = crate::parse::parse_str(&log("/home/me/scx/"));
        let check = check_pin(&pin, &Corpus::from_report(&rebuilt), &[], &Cancel::new())
            .expect("not cancelled");
        assert_eq!(check.exit_code(), 0, "{check}");
    }

    #[test]
    fn pass_reports_location() {
        let c = Corpus::new(Some("a\nscx_bpf_error (boom)"), None);
        let r = check_pin(&Pin::contains("boom"), &c, &[], &Cancel::new()).expect("not cancelled");
        assert_eq!(r.exit_code(), 0);
        assert_eq!(r.fields[0].count, 1);
        let text = r.to_string();
        assert!(text.starts_with("PASS"), "{text}");
        assert!(text.contains("line 2"), "{text}");
    }

    #[test]
    fn fail_prints_ktstr_mismatch_text_and_hint() {
        let c = Corpus::new(Some("scx_bpf_error (boom)"), None);
        let r = check_pin(
            &Pin::contains("scx_bpf_error (bang)"),
            &c,
            &[],
            &Cancel::new(),
        )
        .expect("not cancelled");
        assert_eq!(r.exit_code(), 1);
        let text = r.to_string();
        assert!(text.contains(
            "expect_scx_bpf_error_contains(\"scx_bpf_error (bang)\"): substring not found in the \
             scheduler log + sched_ext dump corpus (the expected bug did not fire, or its message \
             text changed). Captured corpus 21 bytes; up to 400 bytes follow:\nscx_bpf_error (boom)\n"
        ), "{text}");
        assert!(text.contains("\"scx_bpf_error (b\""), "{text}");
    }

    #[test]
    fn head_is_cut_at_400_bytes_on_a_char_boundary() {
        let log = format!("{}é tail", "a".repeat(399));
        let r = check_pin(
            &Pin::contains("zzz"),
            &Corpus::new(Some(&log), None),
            &[],
            &Cancel::new(),
        )
        .expect("not cancelled");
        assert_eq!(r.corpus_head.len(), 399);
    }

    #[test]
    fn invalid_pin_exits_2() {
        let r = check_pin(
            &Pin::matches("(?:)"),
            &Corpus::from_raw("x"),
            &[],
            &Cancel::new(),
        )
        .expect("not cancelled");
        assert_eq!(r.exit_code(), 2);
        assert!(r.to_string().contains("every position"));
    }

    #[test]
    fn too_broad_exits_1() {
        let clean = [NamedCorpus::new(
            "clean.txt",
            Corpus::new(Some("scheduler up"), None),
        )];
        let r = check_pin(
            &Pin::contains("scheduler"),
            &Corpus::from_raw("scheduler boom"),
            &clean,
            &Cancel::new(),
        )
        .expect("not cancelled");
        assert_eq!(r.verdict, Verdict::TooBroad);
        assert_eq!(r.exit_code(), 1);
        assert!(r.to_string().contains("clean.txt"));
    }

    #[test]
    fn verdict_of_each_evaluation() {
        let corpus = Corpus::from_raw("scheduler boom");
        let clean = [NamedCorpus::new(
            "clean.txt",
            Corpus::new(Some("scheduler up"), None),
        )];
        let verdict = |pin: Pin| {
            let eval = evaluate(&pin, &corpus, 0..0, 0, &Cancel::new()).expect("not cancelled");
            let control = eval
                .validation
                .pin
                .as_ref()
                .map(|p| negative_control(p, &clean));
            (
                Verdict::of(&eval, None),
                Verdict::of(&eval, control.as_ref()),
            )
        };
        use Verdict::*;
        assert_eq!(verdict(Pin::contains("boom")), (Pass, Pass));
        assert_eq!(verdict(Pin::contains("scheduler")), (Pass, TooBroad));
        // A miss stays a miss even when the clean run matches.
        assert_eq!(
            verdict(Pin::new(Some("scheduler"), Some("bang"))),
            (Fail, Fail)
        );
        assert_eq!(verdict(Pin::matches("(")), (Invalid, Invalid));
        assert_eq!(TooBroad.exit_code(), 1);
        assert_eq!(
            Fail.headline(),
            "FAIL: ktstr would reject this failure: the pinned bug did not fire"
        );
    }

    #[test]
    fn scheduler_const_names() {
        assert_eq!(scheduler_const("scx_lavd"), "SCX_LAVD");
        assert_eq!(scheduler_const("scx-ktstr"), "SCX_KTSTR");
        assert_eq!(scheduler_const("1x"), "SCHED_1X");
    }
}
