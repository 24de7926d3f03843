//! The matcher workbench core: ktstr's `expect_scx_bpf_error_contains` /
//! `_matches` pins, checked, searched, suggested and exported.
//!
//! - [`corpus`]: the exact text ktstr matches against.
//! - [`gate`]: the pin vocabulary ([`Pin`], [`Field`]), ktstr's gate and its AND rule.
//! - [`validate`](mod@validate): the gate on a whole pin, plus warnings for pins that pass it
//!   but mislead.
//! - [`search`]: bounded, cancellable match counting and n/N navigation.
//! - [`suggest`]: pin candidates from a crash line.
//! - [`control`]: negative control against clean runs.
//! - [`export`]: the `#[ktstr_test]` source for a pin.
//! - [`workbench`]: one keystroke: search each field, then validate.
//! - [`pin`]: the library side of `scxray pin check` / `pin suggest`, and the one
//!   [`Verdict`] (PASS / FAIL / TOO BROAD / INVALID) the CLI and the TUI show.

pub mod control;
pub mod corpus;
pub mod export;
pub mod gate;
pub mod pin;
pub mod search;
pub mod suggest;
pub mod validate;
pub mod workbench;

pub use control::{negative_control, CleanHit, CleanResult, ControlReport, NamedCorpus};
pub use corpus::{Corpus, Location, Region, DUMP_HEADER};
pub use export::{render_test, report_topology, ExportError, ExportSpec};
pub use gate::{gate_contains, gate_matches, ktstr_accepts, Field, InvalidRegex, Pin, PinError};
pub use pin::{check_pin, suggest_pin, FieldResult, PinCheck, SuggestReport, Verdict};
pub use search::{
    regex_prefix_hint, Cancelled, HintBudget, HintCost, PrefixHint, RegexHint, SearchOutcome,
    Searcher, DEFAULT_MAX_KEPT, HINT_TIME_BUDGET, MAX_HINT_COMPILES,
};
pub use suggest::{suggest_for_line, suggest_for_report, PinSuggestion, SuggestError};
pub use validate::{
    validate, validate_known, CompiledPin, Diagnostic, DiagnosticKind, KnownHits, Severity,
    Suggestion, Validation,
};
pub use workbench::{evaluate, Evaluation};
