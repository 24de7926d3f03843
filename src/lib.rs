//! scxray's domain: what a sched_ext crash report says, and whether a ktstr
//! test's pin would accept it.
//!
//! This crate reads a failure (ktstr's test output, a scheduler log, dmesg, a
//! journal, a trace) into one [`Report`](report::Report) model, writes it back
//! in ktstr's layout or as JSON, and checks `expect_scx_bpf_error_*` pins
//! against it exactly as ktstr would. It depends on no UI, VM or BPF crate:
//! the terminal app (`ui/`), the guest runner (`vmm/`) and the BPF side
//! (`probes/`) build on it, so all of this is testable without a terminal or a
//! kernel.
//!
//! # Where each concept lives
//!
//! | concept | start at | module |
//! |---|---|---|
//! | a parsed failure: header, sections, crashes, notes | [`Report`](report::Report), [`Crash`](report::Crash) | [`report`] |
//! | reading input of any supported layout | [`parse_path`](parse::parse_path), [`parse_text`](parse::parse_text), [`parse_str`](parse::parse_str) | [`parse`] |
//! | writing ktstr's layout, JSON, a short summary | [`to_ktstr`](write::to_ktstr), [`to_json`](write::to_json), [`summary`](write::summary) | [`write`](mod@write) |
//! | input text shown on a terminal: controls and bidi overrides in a visible form | [`visible`](write::visible::visible), [`VisibleWriter`](write::VisibleWriter) | [`write::visible`](mod@write::visible) |
//! | ktstr's numeric sections (`stats`, `timeline`, `monitor`) | [`Timeline`](sections::Timeline), [`MonitorSection`](sections::MonitorSection), [`Stats`](sections::Stats) | [`sections`] |
//! | ktstr's `--- auto-repro ---` body (probe pipeline, call chain, status, tails), read and written back exactly | [`AutoRepro`](sections::AutoRepro), [`parse`](sections::auto_repro::parse), [`write`](sections::auto_repro::write) | [`sections::auto_repro`](mod@sections::auto_repro) |
//! | the text a pin is matched against | [`Corpus`](matcher::Corpus) | [`matcher::corpus`] |
//! | a pin, ktstr's gate and its AND rule | [`Pin`](matcher::Pin), [`Field`](matcher::Field), [`ktstr_accepts`](matcher::ktstr_accepts) | [`matcher::gate`] |
//! | pin warnings, search, suggestions, negative control, export | [`validate`](matcher::validate()), [`Searcher`](matcher::Searcher), [`suggest_for_report`](matcher::suggest_for_report), [`negative_control`](matcher::negative_control), [`render_test`](matcher::render_test) | [`matcher`] |
//! | PASS / FAIL / TOO BROAD / INVALID, for the CLI and the TUI | [`Verdict`](matcher::Verdict), [`check_pin`](matcher::check_pin) | [`matcher::pin`] |
//! | a run as it happens, becoming a report | [`LiveRun`](run::live::LiveRun), [`Event`](run::live::Event) | [`run`] |
//! | the guest agent's record stream | [`Record`](run::record::Record) | [`run::record`] |
//! | what the guest's probes saw (experimental `--probe`), as `--- probe events ---` | [`ProbeLog`](run::probe_text::ProbeLog), [`ProbeHit`](run::record::ProbeHit) | [`run::probe_text`] |
//! | host-side monitor samples and ktstr's summary of them | [`Sample`](host_monitor::Sample), [`Summary`](host_monitor::Summary), [`MonitorVerdict`](host_monitor::MonitorVerdict) | [`host_monitor`] |
//! | runqueue field offsets and enum values from kernel BTF | [`Btf`](btf::Btf) | [`btf`] |
//! | auto-repro: a crash's probe targets, ktstr's probe value decoders | [`Chain`](repro::Chain), [`FieldDecoder`](repro::FieldDecoder), [`ScxTaskFlags`](repro::ScxTaskFlags) | [`repro`] |
//! | stopping a long job (a search, a fetch, a VM run) | [`Cancel`](cancel::Cancel) | [`cancel`] |
//! | a backtrace frame's function found in a source tree | [`find_definition`](source::find_definition) | [`source`] |
//!
//! # Example
//!
//! ```
//! use scxray::cancel::Cancel;
//! use scxray::matcher::{check_pin, Corpus, Pin, Verdict};
//!
//! let corpus = Corpus::new(Some("sched_ext: scx_bpf_error (dispatch: bad dsq 7)"), None);
//! let pin = Pin::contains("bad dsq");
//! let check = check_pin(&pin, &corpus, &[], &Cancel::new())?;
//! assert_eq!(check.verdict, Verdict::Pass);
//! assert_eq!(check.verdict.headline(), "PASS: ktstr would accept this failure as the pinned bug");
//! # Ok::<(), scxray::matcher::Cancelled>(())
//! ```
//!
//! A report read from a file gives its corpus with
//! [`Corpus::from_report`](matcher::Corpus::from_report): ktstr's scheduler log
//! followed by its sched_ext dump.

// Failures are typed errors; only tests may unwrap.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod btf;
pub mod cancel;
pub mod failure_dump;
pub mod host_monitor;
pub mod matcher;
pub mod parse;
pub mod report;
pub mod repro;
pub mod run;
pub mod sections;
pub mod source;
pub mod symbolize;
pub mod write;
