//! The matcher workbench core: ktstr's `expect_scx_bpf_error_contains` /
//! `_matches` pins, checked, searched, suggested and exported.
//!
//! - [`corpus`]: the exact text ktstr matches against.
//! - [`validate`](mod@validate): ktstr's gate plus warnings for pins that pass it but mislead.
//! - [`search`]: bounded, cancellable match counting and n/N navigation.
//! - [`suggest`]: pin candidates from a crash line.
//! - [`control`]: negative control against clean runs.
//! - [`export`]: the `#[ktstr_test]` source for a pin.
//! - [`workbench`]: one keystroke: search each field, then validate.
//! - [`pin`]: the library side of `scxray pin check` / `pin suggest`.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod control;
pub mod corpus;
pub mod export;
pub mod pin;
pub mod search;
pub mod suggest;
pub mod validate;
pub mod workbench;

pub use control::{negative_control, CleanHit, CleanResult, ControlReport, NamedCorpus};
pub use corpus::{Corpus, Location, Region, DUMP_HEADER};
pub use export::{render_test, ExportError, ExportSpec};
pub use pin::{check_pin, suggest_pin, FieldResult, PinCheck, SuggestReport, Verdict};
pub use search::{Cancelled, PrefixHint, SearchOutcome, Searcher, DEFAULT_MAX_KEPT};
pub use suggest::{suggest_for_line, suggest_for_report, PinSuggestion, SuggestError};
pub use validate::{
    gate_contains, gate_matches, validate, validate_known, CompiledPin, Diagnostic, DiagnosticKind,
    Field, InvalidRegex, KnownHits, Pin, PinError, Severity, Suggestion, Validation,
};
pub use workbench::{evaluate, Evaluation};
