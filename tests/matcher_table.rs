//! Table of pins against hand-built corpora: ktstr's verdict, the gate's
//! errors and the workbench's warnings, one row per rule.

use scxray::cancel::Cancel;
use scxray::matcher::{
    check_pin, Corpus, DiagnosticKind as D, NamedCorpus, Pin, PinError, Verdict,
};

/// A diagnostic kind without its payload, so rows stay short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum K {
    NoMatcher,
    EmptyLiteral,
    EmptyRegex,
    Invalid,
    Everywhere,
    OnlyEmpty,
    ZeroWidth,
    TooBroad,
    NeedsM,
    NeedsS,
    Anchors,
    Ws,
    Meta,
    RegexInLit,
}

fn k(d: &D) -> K {
    match d {
        D::Invalid(PinError::NoMatcher) => K::NoMatcher,
        D::Invalid(PinError::EmptyLiteral) => K::EmptyLiteral,
        D::Invalid(PinError::EmptyRegex) => K::EmptyRegex,
        D::Invalid(PinError::InvalidRegex(_)) => K::Invalid,
        D::Invalid(PinError::MatchesEverywhere { .. }) => K::Everywhere,
        D::Invalid(PinError::MatchesOnlyEmpty { .. }) => K::OnlyEmpty,
        D::ZeroWidth => K::ZeroWidth,
        D::TooBroad => K::TooBroad,
        D::NeedsMultiLine => K::NeedsM,
        D::NeedsDotAll => K::NeedsS,
        D::WholeTextAnchors => K::Anchors,
        D::Whitespace => K::Ws,
        D::RegexMetaInLiteral => K::Meta,
        D::RegexInLiteral => K::RegexInLit,
    }
}

struct Case {
    name: &'static str,
    contains: Option<&'static str>,
    matches: Option<&'static str>,
    log: &'static str,
    dump: Option<&'static str>,
    verdict: Verdict,
    kinds: Vec<K>,
    /// Some diagnostic suggests exactly this pattern.
    suggest: Option<&'static str>,
    /// The caret line under an invalid regex.
    caret: Option<&'static str>,
    /// Some diagnostic's message contains this.
    msg: Option<&'static str>,
    clean: Option<&'static str>,
}

const LOG: &str = "sched up\nrcub/0[19] triggered exit kind 1025:\n  scx_bpf_error (run_time_ns is negative: 0x577 - 0x578)\nmain.bpf.c:424 state=état ☃\nbye";
const DUMP: &str = "CPU 0   : nr_run=1\n  R task[28815] +0ms";

fn row(
    name: &'static str,
    contains: Option<&'static str>,
    matches: Option<&'static str>,
    verdict: Verdict,
    kinds: &[K],
) -> Case {
    Case {
        name,
        contains,
        matches,
        log: LOG,
        dump: Some(DUMP),
        verdict,
        kinds: kinds.to_vec(),
        suggest: None,
        caret: None,
        msg: None,
        clean: None,
    }
}

impl Case {
    fn log(mut self, log: &'static str, dump: Option<&'static str>) -> Case {
        self.log = log;
        self.dump = dump;
        self
    }
    fn suggest(mut self, s: &'static str) -> Case {
        self.suggest = Some(s);
        self
    }
    fn caret(mut self, s: &'static str) -> Case {
        self.caret = Some(s);
        self
    }
    fn msg(mut self, s: &'static str) -> Case {
        self.msg = Some(s);
        self
    }
    fn clean(mut self, s: &'static str) -> Case {
        self.clean = Some(s);
        self
    }
}

use Verdict::{Fail, Invalid, Pass, TooBroad};

fn c(name: &'static str, lit: &'static str, verdict: Verdict, kinds: &[K]) -> Case {
    row(name, Some(lit), None, verdict, kinds)
}

fn m(name: &'static str, re: &'static str, verdict: Verdict, kinds: &[K]) -> Case {
    row(name, None, Some(re), verdict, kinds)
}

fn cases() -> Vec<Case> {
    vec![
        // --- contains: substring semantics and corpus layout
        c("plain literal", "scx_bpf_error", Pass, &[]),
        c(
            "literal with parens",
            "scx_bpf_error (run_time_ns is negative:",
            Pass,
            &[],
        ),
        c("literal missing", "not there", Fail, &[]),
        c("literal is case sensitive", "SCX_BPF_ERROR", Fail, &[]),
        c("empty literal", "", Invalid, &[K::EmptyLiteral]),
        c(
            "literal leading space still found",
            " scx_bpf_error",
            Pass,
            &[K::Ws],
        )
        .suggest("scx_bpf_error"),
        c(
            "literal trailing newline misses",
            "scx_bpf_error\n",
            Fail,
            &[K::Ws],
        )
        .suggest("scx_bpf_error")
        .msg("without it the pin matches"),
        c("literal whitespace only", "\t", Fail, &[K::Ws]),
        c(
            "dump header is in the corpus",
            "--- sched_ext dump ---",
            Pass,
            &[K::TooBroad],
        ),
        c(
            "no dump, no header",
            "--- sched_ext dump ---",
            Fail,
            &[K::TooBroad],
        )
        .log(LOG, None),
        c(
            "empty dump adds no header",
            "--- sched_ext dump ---",
            Fail,
            &[K::TooBroad],
        )
        .log(LOG, Some("")),
        c(
            "log, newline, then header",
            "bye\n\n\n--- sched_ext dump ---\nCPU 0",
            Pass,
            &[],
        ),
        c("ktstr's newline after the log", "bye\n", Pass, &[K::Ws]).log(LOG, None),
        c("literal in dump", "R task[28815]", Pass, &[]),
        c("unicode literal", "état ☃", Pass, &[]),
        c("unicode near miss", "etat", Fail, &[]),
        c("short literal is too broad", "up", Pass, &[K::TooBroad]),
        c(
            "ordinary words are too broad",
            "Started",
            Pass,
            &[K::TooBroad],
        )
        .log("systemd[1]: Started x", None),
        c(
            "dump header alone is too broad",
            "sched_ext dump",
            Pass,
            &[K::TooBroad],
        ),
        m(
            "task ref alone is too broad",
            r"\S+\[\d+\]",
            Pass,
            &[K::TooBroad],
        ),
        c(
            "regex typed as literal",
            "kind \\d+:",
            Fail,
            &[K::RegexInLit],
        )
        .suggest("kind \\d+:"),
        c("literal spanning lines", "1025:\n  scx", Pass, &[]),
        // --- matches: ktstr's gate
        m("plain regex", r"scx_bpf_error \(run_time_ns", Pass, &[]),
        m(
            "hex classes",
            r"negative: 0x[0-9a-f]+ - 0x[0-9a-f]+",
            Pass,
            &[],
        ),
        m("empty regex", "", Invalid, &[K::EmptyRegex]),
        m("a? matches everywhere", "a?", Invalid, &[K::Everywhere]),
        m(".* matches everywhere", ".*", Invalid, &[K::Everywhere]),
        m("(?:) matches everywhere", "(?:)", Invalid, &[K::Everywhere]),
        m("$ alone matches everywhere", "$", Invalid, &[K::Everywhere]),
        m(r"\B matches everywhere", r"\B", Invalid, &[K::Everywhere]),
        m("^$ matches only empty", "^$", Invalid, &[K::OnlyEmpty]).msg("only the empty string"),
        m(
            r"\A\z matches only empty",
            r"\A\z",
            Invalid,
            &[K::OnlyEmpty],
        ),
        m("(?m)^$ rejected too", "(?m)^$", Invalid, &[K::OnlyEmpty]),
        m("unclosed group", "ab(cd", Invalid, &[K::Invalid]).caret("  ^"),
        m("unopened group", "ab)", Invalid, &[K::Invalid]).caret("  ^"),
        m(
            "look-ahead unsupported",
            "foo(?=bar)",
            Invalid,
            &[K::Invalid],
        )
        .caret("   ^^^"),
        m("bad repetition range", "x{2,1}", Invalid, &[K::Invalid]).caret(" ^^^^^"),
        m("bad class range", "[z-a]", Invalid, &[K::Invalid]).caret(" ^^^"),
        m("unknown unicode class", r"\p{Foo}", Invalid, &[K::Invalid]).caret("^^^^^^^"),
        m(
            "backreference unsupported",
            r"(a)\1",
            Invalid,
            &[K::Invalid],
        )
        .caret("   ^^"),
        m(
            "caret counts chars not bytes",
            "é☃(",
            Invalid,
            &[K::Invalid],
        )
        .caret("  ^"),
        // --- matches: zero-width and broad patterns
        m(r"bare \b passes the gate", r"\b", Pass, &[K::ZeroWidth]).msg("bare `\\b`"),
        m(
            r"alternative with bare \b",
            r"nothere|\b",
            Pass,
            &[K::ZeroWidth],
        ),
        m(r"\b around words is fine", r"\bkind\b", Pass, &[]),
        m("single char too broad", "x", Pass, &[K::TooBroad]),
        m(r"\d too broad", r"\d", Pass, &[K::TooBroad]),
        m("dot too broad", ".", Pass, &[K::TooBroad]),
        // --- matches: anchors and (?m)
        m("^ at corpus start", "^sched up", Pass, &[K::Anchors]),
        m("^ is whole-text", "^rcub", Fail, &[K::NeedsM]).suggest("(?m)^rcub"),
        m("(?m)^ per line", "(?m)^rcub", Pass, &[]),
        m("^x$ on multi-line", "^x$", Fail, &[K::NeedsM])
            .log("a\nx\nb", None)
            .suggest("(?m)^x$")
            .msg("anchor to the whole corpus"),
        m("(?m)^x$ on multi-line", "(?m)^x$", Pass, &[]).log("a\nx\nb", None),
        m(
            "$ before ktstr's trailing newline",
            "bye$",
            Fail,
            &[K::NeedsM],
        )
        .log(LOG, None)
        .suggest("(?m)bye$")
        .msg("ends with a newline"),
        m("$ at the end with a dump", "\\+0ms$", Pass, &[K::Anchors]),
        m("explicit newline before $", "bye\\n$", Pass, &[K::Anchors]).log(LOG, None),
        m(
            "mid-corpus $ is not the newline case",
            "sched up$",
            Fail,
            &[K::NeedsM],
        )
        .msg("anchor to the whole corpus"),
        m(r"\z is not fixed by (?m)", r"bye\z", Fail, &[]).log(LOG, None),
        m(r"\A never per line", r"\Arcub", Fail, &[]),
        m("scoped (?-m) is respected", "(?-m:^)rcub", Fail, &[]),
        m("unicode $ before newline", "☃+$", Fail, &[K::NeedsM]).log("☃☃", None),
        // --- matches: dot and (?s)
        m(
            ". does not cross lines",
            "1025:.*scx_bpf_error",
            Fail,
            &[K::NeedsS],
        )
        .suggest("(?s)1025:.*scx_bpf_error"),
        m("(?s) crosses lines", "(?s)1025:.*scx_bpf_error", Pass, &[]),
        m(r"\s crosses lines", r"1025:\s+scx_bpf_error", Pass, &[]),
        m("needs both (?ms)", "^rcub.*scx_bpf", Fail, &[K::NeedsM]).suggest("(?ms)^rcub.*scx_bpf"),
        m(
            "(?m) enough with explicit newline",
            r"^rcub.*\n.*scx_bpf",
            Fail,
            &[K::NeedsM],
        )
        .suggest(r"(?m)^rcub.*\n.*scx_bpf"),
        // --- matches: whitespace and literal-looking regexes
        m("regex leading space", " scx_bpf_error", Pass, &[K::Ws]).suggest("scx_bpf_error"),
        m("regex trailing space", "scx_bpf_error ", Pass, &[K::Ws]),
        m(
            "regex trailing newline misses",
            "kind 1025:\n\n",
            Fail,
            &[K::Ws],
        ),
        m(
            "parens as a group",
            "error (run_time_ns is negative: 0x577 - 0x578)",
            Fail,
            &[K::Meta],
        )
        .suggest(r"error \(run_time_ns is negative: 0x577 \- 0x578\)"),
        m("dots still match", "main.bpf.c", Pass, &[K::Meta]).suggest(r"main\.bpf\.c"),
        m(
            "unbalanced literal",
            "0x577 - 0x578)",
            Invalid,
            &[K::Invalid, K::Meta],
        )
        .suggest(r"0x577 \- 0x578\)"),
        m("case-insensitive flag", "(?i)SCX_BPF_ERROR", Pass, &[]),
        m("unicode regex", r"état\s☃", Pass, &[]),
        m("pattern in dump", r"R task\[\d+\]", Pass, &[]),
        m(
            "generalised pin",
            r"\S+\[\d+\] triggered exit kind \d+:",
            Pass,
            &[],
        ),
        // --- both set: AND
        row(
            "both match",
            Some("scx_bpf_error"),
            Some(r"kind \d+"),
            Pass,
            &[],
        ),
        row(
            "regex misses",
            Some("scx_bpf_error"),
            Some("kind [a-z]+:"),
            Fail,
            &[],
        ),
        row("literal misses", Some("nope"), Some(r"kind \d+"), Fail, &[]),
        row("both miss", Some("nope"), Some("nada"), Fail, &[]),
        row(
            "both invalid",
            Some(""),
            Some("a?"),
            Invalid,
            &[K::EmptyLiteral, K::Everywhere],
        ),
        row(
            "invalid regex, literal warns",
            Some(" scx"),
            Some("("),
            Invalid,
            &[K::Invalid, K::Ws],
        ),
        row("neither set", None, None, Invalid, &[K::NoMatcher]),
        // --- negative control
        c("banner pin is too broad", "sched up", TooBroad, &[]).clean("boot\nsched up\nok"),
        c(
            "specific pin survives control",
            "run_time_ns is negative",
            Pass,
            &[],
        )
        .clean("boot\nsched up\nok"),
        row(
            "AND saves a partly broad pin",
            Some("sched up"),
            Some("run_time_ns"),
            Pass,
            &[],
        )
        .clean("sched up"),
    ]
}

#[test]
fn table() {
    let cases = cases();
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let corpus = Corpus::new(Some(case.log), case.dump);
        let clean: Vec<NamedCorpus> = case
            .clean
            .map(|t| NamedCorpus::new("clean", Corpus::new(Some(t), None)))
            .into_iter()
            .collect();
        let pin = Pin::new(case.contains, case.matches);
        let check = check_pin(&pin, &corpus, &clean, &Cancel::new()).expect("not cancelled");
        let mut got: Vec<K> = check
            .validation
            .diagnostics
            .iter()
            .map(|d| k(&d.kind))
            .collect();
        got.sort();
        let mut want = case.kinds.clone();
        want.sort();
        let mut problems = Vec::new();
        if check.verdict != case.verdict {
            problems.push(format!(
                "verdict {:?}, want {:?}",
                check.verdict, case.verdict
            ));
        }
        if got != want {
            problems.push(format!("diagnostics {got:?}, want {want:?}"));
        }
        if let Some(s) = case.suggest {
            let suggested: Vec<&str> = check
                .validation
                .diagnostics
                .iter()
                .filter_map(|d| d.suggestion.as_ref().map(|s| s.pattern.as_str()))
                .collect();
            if !suggested.contains(&s) {
                problems.push(format!("suggestions {suggested:?}, want {s:?}"));
            }
        }
        if let Some(want_caret) = case.caret {
            let caret = check.validation.errors().find_map(|e| match e {
                PinError::InvalidRegex(inv) => inv.caret().map(|(_, c)| c),
                _ => None,
            });
            if caret.as_deref() != Some(want_caret) {
                problems.push(format!("caret {caret:?}, want {want_caret:?}"));
            }
        }
        if let Some(msg) = case.msg {
            if !check
                .validation
                .diagnostics
                .iter()
                .any(|d| d.message.contains(msg))
            {
                problems.push(format!("no message containing {msg:?}"));
            }
        }
        // The verdict must agree with a direct evaluation of ktstr's rule.
        if let Some(p) = &check.validation.pin {
            let direct = p.is_satisfied_by(corpus.as_str());
            if direct != matches!(check.verdict, Pass | TooBroad) {
                problems.push("verdict disagrees with CompiledPin::is_satisfied_by".into());
            }
        }
        if !problems.is_empty() {
            failures.push(format!("{}: {}\n{}", case.name, problems.join("; "), check));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
