//! Negative control: a pin must not also pass on runs where the bug did not
//! fire.
//!
//! A pin that matches a clean run's corpus (a scheduler banner, a generic
//! word, the dump header) checks nothing: the regression test would keep
//! passing after the bug is fixed or replaced by another one.

use std::fmt;

use super::corpus::{Corpus, Location};
use super::gate::Field;
use super::search::Searcher;
use super::validate::CompiledPin;

/// A clean run's corpus and the name to report it by (usually its path).
#[derive(Debug, Clone)]
pub struct NamedCorpus {
    pub name: String,
    pub corpus: Corpus,
}

impl NamedCorpus {
    pub fn new(name: impl Into<String>, corpus: Corpus) -> NamedCorpus {
        NamedCorpus {
            name: name.into(),
            corpus,
        }
    }
}

/// Where one matcher hit a clean corpus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanHit {
    pub field: Field,
    pub at: Location,
    pub matched: String,
}

/// How the pin fares on one clean corpus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanResult {
    pub name: String,
    /// First hit of each configured matcher, if any.
    pub hits: Vec<CleanHit>,
    /// Every configured matcher hit, so ktstr would accept this clean run as
    /// the pinned bug (AND semantics).
    pub too_broad: bool,
}

/// The negative control over all clean corpora.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ControlReport {
    pub results: Vec<CleanResult>,
}

impl ControlReport {
    /// Whether the pin passes on any clean corpus.
    pub fn too_broad(&self) -> bool {
        self.results.iter().any(|r| r.too_broad)
    }

    pub fn offenders(&self) -> impl Iterator<Item = &CleanResult> {
        self.results.iter().filter(|r| r.too_broad)
    }
}

/// Most bytes of a hit shown in messages.
const SHOWN: usize = 120;

/// Runs `pin` over each clean corpus.
pub fn negative_control(pin: &CompiledPin, clean: &[NamedCorpus]) -> ControlReport {
    let searchers: Vec<Searcher> = pin
        .contains
        .as_deref()
        .map(Searcher::literal)
        .into_iter()
        .chain(pin.matches.clone().map(Searcher::regex))
        .collect();
    let results = clean
        .iter()
        .map(|nc| {
            let text = nc.corpus.as_str();
            let hits: Vec<CleanHit> = searchers
                .iter()
                .filter_map(|s| {
                    let m = s.iter_from(text, 0).next()?;
                    let end = super::corpus::floor_char_boundary(text, m.end.min(m.start + SHOWN));
                    Some(CleanHit {
                        field: s.field(),
                        at: nc.corpus.locate(m.start),
                        matched: text[m.start..end.max(m.start)].to_string(),
                    })
                })
                .collect();
            CleanResult {
                name: nc.name.clone(),
                too_broad: !searchers.is_empty() && hits.len() == searchers.len(),
                hits,
            }
        })
        .collect();
    ControlReport { results }
}

impl fmt::Display for ControlReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.results {
            if r.too_broad {
                writeln!(
                    f,
                    "too broad: the pin also passes on clean corpus {}:",
                    r.name
                )?;
            } else if r.hits.is_empty() {
                writeln!(f, "clean corpus {}: no matcher hits (good)", r.name)?;
                continue;
            } else {
                writeln!(
                    f,
                    "clean corpus {}: only part of the pin hits, the AND still rejects it:",
                    r.name
                )?;
            }
            for h in &r.hits {
                writeln!(f, "  {} matched {:?} at {}", h.field, h.matched, h.at)?;
                writeln!(f, "    {}", h.at.line_text)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::gate::Pin;

    fn pin(c: Option<&str>, m: Option<&str>) -> CompiledPin {
        CompiledPin::new(&Pin::new(c, m)).expect("valid pin")
    }

    #[test]
    fn broad_pin_is_flagged_with_location() {
        let clean = [
            NamedCorpus::new("a.txt", Corpus::new(Some("ok\nscheduler started"), None)),
            NamedCorpus::new("b.txt", Corpus::new(Some("nothing"), None)),
        ];
        let r = negative_control(&pin(Some("started"), None), &clean);
        assert!(r.too_broad());
        let off: Vec<_> = r.offenders().collect();
        assert_eq!(off.len(), 1);
        assert_eq!(off[0].name, "a.txt");
        assert_eq!(off[0].hits[0].at.line, 2);
        assert_eq!(off[0].hits[0].at.offset, 13);
        assert!(r.to_string().contains("too broad"));
    }

    #[test]
    fn and_semantics_partial_hit_is_not_too_broad() {
        let clean = [NamedCorpus::new(
            "c",
            Corpus::new(Some("scx_bpf_error ok"), None),
        )];
        let r = negative_control(&pin(Some("scx_bpf_error"), Some(r"bad dsq \d+")), &clean);
        assert!(!r.too_broad());
        assert_eq!(r.results[0].hits.len(), 1);
    }

    #[test]
    fn dump_header_is_part_of_a_clean_corpus() {
        let clean = [NamedCorpus::new("d", Corpus::new(Some("x"), Some("CPU 0")))];
        let r = negative_control(&pin(Some("sched_ext dump"), None), &clean);
        assert!(r.too_broad());
    }
}
