//! Turning a crash line into pin candidates.
//!
//! A pin must survive the next run: pids, addresses, BPF program tags, source
//! line numbers and durations change, the function names and fixed words of
//! the message do not. The literal keeps the longest stable run; the regex
//! keeps the whole line with volatile parts replaced by classes. Nothing is
//! offered that does not match the corpus or fails validation.

use std::sync::LazyLock;

use regex::Regex;

use super::corpus::Corpus;
use super::gate::Pin;
use super::validate::{validate, Severity};
use crate::report::{Crash, Report};

/// Volatile tokens, leftmost-first: the first alternative that matches at a
/// position wins, so the specific forms come before bare numbers.
static VOLATILE: LazyLock<Regex> = LazyLock::new(|| {
    // A constant pattern: compiling it cannot fail at run time once tests pass.
    #[allow(clippy::unwrap_used)]
    Regex::new(concat!(
        // `__FILE__:__LINE__` (upstream's scx_bpf_error() prefix): the
        // directory is where it was built, the line moves with every edit.
        r"(?P<src>(?:[^\s():\[\]]*/)?(?P<file>[\w.+-]+\.[ch]):\d+\b)",
        r"|(?P<task>[^\s\[\]()]+\[\d+\])",
        r"|(?P<prog>bpf_prog_[0-9a-f]{16}_)",
        r"|(?P<hex>\b0x[0-9a-fA-F]+\b)",
        r"|(?P<errno>-E[A-Z]{2,}\b)",
        r"|(?P<dur>\b\d+(?:\.\d+)?(?P<unit>ms|us|ns|s)\b)",
        r"|(?i:\bcpu)(?P<cpu>\d+)\b",
        r"|(?P<num>\b\d+\b)",
    ))
    .unwrap()
});

/// What a volatile token is replaced with in the regex.
fn generalise(caps: &regex::Captures<'_>) -> String {
    if let Some(file) = caps.name("file") {
        // Any directory or none: the same bug built elsewhere must match.
        format!(r"(?:\S*/)?{}:\d+", regex::escape(file.as_str()))
    } else if caps.name("task").is_some() {
        r"\S+\[\d+\]".into()
    } else if caps.name("prog").is_some() {
        "bpf_prog_[0-9a-f]+_".into()
    } else if let Some(h) = caps.name("hex") {
        if h.as_str()[2..].bytes().any(|b| b.is_ascii_uppercase()) {
            "0x[0-9a-fA-F]+".into()
        } else {
            "0x[0-9a-f]+".into()
        }
    } else if caps.name("errno").is_some() {
        "-E[A-Z]+".into()
    } else if let Some(unit) = caps.name("unit") {
        match unit.as_str() {
            "s" | "ms" => r"[\d.]+m?s".into(),
            _ => r"[\d.]+[mun]?s".into(),
        }
    } else if let Some(cpu) = caps.name("cpu") {
        // Keep the word as written (`cpu`, `CPU`), generalise its number.
        let whole = &caps[0];
        format!(r"{}\d+", regex::escape(&whole[..whole.len() - cpu.len()]))
    } else {
        r"\d+".into()
    }
}

/// Pin candidates for one line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PinSuggestion {
    /// The line they were made from (trimmed).
    pub line: String,
    /// For `expect_scx_bpf_error_contains`: the longest stable run.
    pub contains: Option<String>,
    /// For `expect_scx_bpf_error_matches`: the line with volatile parts generalised.
    pub matches: Option<String>,
    /// Why something was not offered, or what to keep in mind.
    pub notes: Vec<String>,
}

impl PinSuggestion {
    pub fn as_pin(&self) -> Pin {
        Pin::new(self.contains.as_deref(), self.matches.as_deref())
    }
}

/// Shortest stable run worth pinning on.
const MIN_STABLE_CHARS: usize = 3;

/// Candidates from one line (a crash message or any line the user selected).
pub fn suggest_for_line(line: &str, corpus: &Corpus) -> PinSuggestion {
    let line = line.trim();
    let mut out = PinSuggestion {
        line: line.to_string(),
        ..PinSuggestion::default()
    };
    let mut stable = Vec::new();
    let mut regex = String::new();
    let mut last = 0;
    for caps in VOLATILE.captures_iter(line) {
        let Some(m) = caps.get(0) else { continue };
        stable.push(&line[last..m.start()]);
        regex.push_str(&regex::escape(&line[last..m.start()]));
        regex.push_str(&generalise(&caps));
        last = m.end();
    }
    stable.push(&line[last..]);
    regex.push_str(&regex::escape(&line[last..]));

    let usable =
        |s: &&str| s.chars().count() >= MIN_STABLE_CHARS && s.chars().any(char::is_alphabetic);
    let mut runs: Vec<&str> = stable.iter().map(|s| tidy(s)).filter(usable).collect();
    // Longest first; on ties the earlier run (usually the function name).
    runs.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.contains = runs
        .iter()
        .find(|run| passes(&Pin::contains(run), corpus))
        .map(|s| s.to_string());
    if out.contains.is_none() {
        out.notes.push(format!(
            "no stable run of at least {MIN_STABLE_CHARS} characters with a letter in \"{line}\" \
             matches the corpus cleanly"
        ));
    }
    if runs.is_empty() {
        out.notes
            .push("no regex offered: the line has no stable words to anchor it".into());
    } else if passes(&Pin::matches(&regex), corpus) {
        out.matches = Some(regex);
    } else {
        out.notes.push(format!(
            "the generalised regex \"{regex}\" does not match the corpus cleanly (is the line \
             from this corpus?)"
        ));
    }
    out
}

/// A stable run without the `: ` left by a `file:line: ` before it and
/// without the kernel's closing parenthesis: the message itself is pinned.
fn tidy(run: &str) -> &str {
    let run = run.trim().trim_start_matches(':').trim_start();
    match run.strip_suffix(')') {
        Some(inner) if !run.contains('(') => inner,
        _ => run,
    }
}

/// Matches the corpus, passes ktstr's gate and draws no warning.
fn passes(pin: &Pin, corpus: &Corpus) -> bool {
    let v = validate(pin, corpus);
    v.with_severity(Severity::Warning).next().is_none()
        && v.pin.is_some_and(|p| p.is_satisfied_by(corpus.as_str()))
}

/// Why no suggestion could be made from a report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SuggestError {
    #[error("the report holds no crash to pin")]
    NoCrash,
    #[error(
        "no crash in the report is a sched_ext kernel exit (found: {formats}); \
         expect_scx_bpf_error_* pins only see scx_bpf_error/exit text, so pin this failure another way"
    )]
    NoKernelExit { formats: String },
    #[error("the crash text \"{text}\" is not in the scheduler log + sched_ext dump corpus")]
    NotInCorpus { text: String },
}

/// Candidates for the report's crash: the corpus line holding its message.
pub fn suggest_for_report(report: &Report, corpus: &Corpus) -> Result<PinSuggestion, SuggestError> {
    let crash = pinned_crash(report)?;
    // The kernel's own wording (`scx_bpf_error (<message>)`, as the dump and
    // the EXIT line print it) first: a loader's echo of the message is the
    // scheduler's wording and may change with it.
    let exit_line = match (crash.reason.as_deref(), crash.message.as_deref()) {
        (Some(r), Some(m)) => Some(format!("{r} ({m})")),
        _ => None,
    };
    let needles: Vec<&str> = [
        exit_line.as_deref(),
        crash.message.as_deref(),
        crash.reason.as_deref(),
    ]
    .into_iter()
    .flatten()
    .filter(|s| !s.trim().is_empty())
    .collect();
    let text = corpus.as_str();
    for (i, needle) in needles.iter().enumerate() {
        if let Some(at) = memchr::memmem::find(text.as_bytes(), needle.as_bytes()) {
            let range = corpus.line_range(at);
            // Without the log or ftrace prefix (timestamps, `comm-pid [cpu]
            // flags`): it changes from run to run. The kernel's exit line is
            // taken from the reason on.
            let line = if i == 0 && exit_line.is_some() {
                &text[at..range.end]
            } else {
                let whole = &text[range.clone()];
                let content = crate::parse::prefix::strip(whole).content;
                let content = content.trim();
                whole
                    .find(content)
                    .map_or(whole, |p| &whole[p..p + content.len()])
            };
            return Ok(suggest_for_line(line, corpus));
        }
    }
    Err(SuggestError::NotInCorpus {
        text: needles.first().map_or_else(String::new, |s| s.to_string()),
    })
}

/// The crash a pin is made for: the selected one if it is a kernel exit,
/// else the newest kernel exit.
pub fn pinned_crash(report: &Report) -> Result<&Crash, SuggestError> {
    if report.crashes.is_empty() {
        return Err(SuggestError::NoCrash);
    }
    report
        .crash()
        .filter(|c| c.kernel_exit)
        .or_else(|| report.crashes.iter().rev().find(|c| c.kernel_exit))
        .ok_or_else(|| SuggestError::NoKernelExit {
            formats: formats(&report.crashes),
        })
}

fn formats(crashes: &[Crash]) -> String {
    let mut labels: Vec<&str> = crashes
        .iter()
        .flat_map(|c| c.formats.iter().map(|f| f.label()))
        .collect();
    labels.dedup();
    if labels.is_empty() {
        "unknown".into()
    } else {
        labels.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Header, MessageFormat, Section, SectionKind, Text};

    fn corpus_with(line: &str) -> Corpus {
        Corpus::new(
            Some(&format!("18:15:22 [INFO] starting\n{line}\nmore")),
            Some("dump line"),
        )
    }

    #[test]
    fn scx_bpf_error_with_hex() {
        let line = "  scx_bpf_error (run_time_ns is negative: 0x5772484607211 - 0x5772484608241)";
        let s = suggest_for_line(line, &corpus_with(line));
        assert_eq!(
            s.contains.as_deref(),
            Some("scx_bpf_error (run_time_ns is negative:")
        );
        assert_eq!(
            s.matches.as_deref(),
            Some(r"scx_bpf_error \(run_time_ns is negative: 0x[0-9a-f]+ \- 0x[0-9a-f]+\)")
        );
    }

    #[test]
    fn task_pid_errno_duration_cpu() {
        let line =
            "kworker/u8:2[123] apply_cell_config returned -EINVAL after 6.841s on cpu3, 12ms";
        let s = suggest_for_line(line, &corpus_with(line));
        assert_eq!(
            s.matches.as_deref(),
            Some(
                r"\S+\[\d+\] apply_cell_config returned -E[A-Z]+ after [\d.]+m?s on cpu\d+, [\d.]+m?s"
            )
        );
        assert_eq!(s.contains.as_deref(), Some("apply_cell_config returned"));
        let re = Regex::new(s.matches.as_deref().unwrap_or_default()).expect("valid");
        assert!(re
            .is_match("swapper/0[0] apply_cell_config returned -ENOMEM after 12.5ms on cpu17, 3s"));
    }

    #[test]
    fn bpf_prog_tag_and_source_line() {
        let line = "bpf_prog_24288482c3037da4_lavd_stopping+0x214/0x248 main.bpf.c:424";
        let s = suggest_for_line(line, &corpus_with(line));
        assert_eq!(
            s.matches.as_deref(),
            Some(
                r"bpf_prog_[0-9a-f]+_lavd_stopping\+0x[0-9a-f]+/0x[0-9a-f]+ (?:\S*/)?main\.bpf\.c:\d+"
            )
        );
        assert_eq!(s.contains.as_deref(), Some("lavd_stopping+"));
    }

    /// Upstream's `scx_bpf_error()` prefixes `__FILE__:__LINE__: `; the pin
    /// must hold for the same bug built in another directory.
    #[test]
    fn build_path_is_not_pinned() {
        let line = "scx_bpf_error (src-main/scheds/c/scx_qmap.bpf.c:212: test triggering error)";
        let s = suggest_for_line(line, &corpus_with(line));
        assert_eq!(s.contains.as_deref(), Some("test triggering error"));
        let re = s.matches.as_deref().expect("regex offered");
        assert_eq!(
            re,
            r"scx_bpf_error \((?:\S*/)?scx_qmap\.bpf\.c:\d+: test triggering error\)"
        );
        let re = Regex::new(re).expect("valid");
        for rebuilt in [
            "scx_bpf_error (/home/me/scx/scheds/c/scx_qmap.bpf.c:230: test triggering error)",
            "scx_bpf_error (scx_qmap.bpf.c:212: test triggering error)",
        ] {
            assert!(re.is_match(rebuilt), "{rebuilt}");
        }
    }

    #[test]
    fn nothing_stable_offers_nothing() {
        let line = "0x1234 42";
        let s = suggest_for_line(line, &corpus_with(line));
        assert_eq!(s.contains, None);
        assert_eq!(s.matches, None);
        assert_eq!(s.notes.len(), 2);
    }

    #[test]
    fn line_not_in_corpus_offers_no_regex() {
        let s = suggest_for_line("totally absent words 12", &corpus_with("other"));
        assert_eq!(s.matches, None);
        assert_eq!(s.contains, None);
    }

    fn report(crash: Crash, log: &str) -> Report {
        Report {
            header: Header::default(),
            sections: vec![Section {
                kind: SectionKind::SchedulerLog,
                body: Text::from(log.to_string()),
            }],
            crashes: vec![crash],
            selected: Some(0),
            notes: vec![],
        }
    }

    #[test]
    fn report_crash_message_line() {
        let log = "boot\nrcub/0[19] triggered exit kind 1025:\n  scx_bpf_error (bad dsq 0x8000)\n";
        let crash = Crash {
            message: Some("bad dsq 0x8000".into()),
            kernel_exit: true,
            ..Crash::default()
        };
        let r = report(crash, log);
        let s = suggest_for_report(&r, &Corpus::from_report(&r)).expect("suggestion");
        assert_eq!(s.line, "scx_bpf_error (bad dsq 0x8000)");
        assert_eq!(
            s.matches.as_deref(),
            Some(r"scx_bpf_error \(bad dsq 0x[0-9a-f]+\)")
        );
    }

    #[test]
    fn report_without_kernel_exit_is_refused() {
        let crash = Crash {
            message: Some("failed to load".into()),
            kernel_exit: false,
            formats: vec![MessageFormat::VerifierReject],
            ..Crash::default()
        };
        let r = report(crash, "failed to load");
        let err = suggest_for_report(&r, &Corpus::from_report(&r)).expect_err("refused");
        assert!(matches!(err, SuggestError::NoKernelExit { .. }));
        assert!(err.to_string().contains("verifier rejection"));
    }
}
