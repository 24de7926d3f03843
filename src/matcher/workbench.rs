//! One keystroke of the matcher workbench: search each field, then validate
//! with what the search found.
//!
//! A UI pane runs [`evaluate`] on a worker thread with a fresh [`Cancel`]
//! per keystroke (cancelling the previous one), and draws the diagnostics and
//! the viewport's matches from the result. `scxray pin check` runs the same.

use std::ops::Range;

use super::corpus::Corpus;
use super::gate::{ktstr_accepts, Field, Pin};
use super::search::{Cancelled, SearchOutcome, Searcher};
use super::validate::{validate_known, KnownHits, Validation};
use crate::cancel::Cancel;

/// Everything a keystroke computes.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub validation: Validation,
    /// Search of the contains literal, when it passes ktstr's gate (even if
    /// the other field does not, so it can still be highlighted).
    pub contains: Option<SearchOutcome>,
    pub matches: Option<SearchOutcome>,
}

impl Evaluation {
    /// ktstr's verdict on this corpus ([`ktstr_accepts`]): `None` when the
    /// pin is invalid. A valid pin has a search for each field it sets.
    pub fn satisfied(&self) -> Option<bool> {
        self.validation.pin.as_ref()?;
        let hits = |o: &SearchOutcome| o.total > 0;
        Some(ktstr_accepts(
            self.contains.as_ref().map(|o| move || hits(o)),
            self.matches.as_ref().map(|o| move || hits(o)),
        ))
    }

    pub fn outcome(&self, field: Field) -> Option<&SearchOutcome> {
        match field {
            Field::Contains => self.contains.as_ref(),
            Field::Matches => self.matches.as_ref(),
        }
    }
}

/// Searches each usable field over `corpus` (keeping at most `max_kept`
/// positions inside `window`), then validates the pin reusing the hits: one
/// scan per field in all.
pub fn evaluate(
    pin: &Pin,
    corpus: &Corpus,
    window: Range<usize>,
    max_kept: usize,
    cancel: &Cancel,
) -> Result<Evaluation, Cancelled> {
    let search = |field: Field| -> Result<Option<SearchOutcome>, Cancelled> {
        let Some(pattern) = pin.get(field) else {
            return Ok(None);
        };
        match Searcher::new(field, pattern) {
            Ok(s) => s
                .search(corpus.as_str(), window.clone(), max_kept, cancel)
                .map(Some),
            Err(_) => Ok(None),
        }
    };
    let contains = search(Field::Contains)?;
    let matches = search(Field::Matches)?;
    let known = KnownHits {
        contains: contains.as_ref().map(|o| o.total > 0),
        matches: matches.as_ref().map(|o| o.total > 0),
    };
    Ok(Evaluation {
        validation: validate_known(pin, corpus, known),
        contains,
        matches,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::validate::validate;

    #[test]
    fn same_diagnostics_as_validate() {
        let corpus = Corpus::new(Some("a\nscx_bpf_error (x)\nbye"), Some("CPU 0"));
        let pins = [
            Pin::contains("scx_bpf_error"),
            Pin::matches("^scx"),
            Pin::matches("bye$"),
            Pin::new(Some(" x"), Some("a.*scx")),
            Pin::new(Some(""), Some("scx_bpf_error \\(x\\)")),
            Pin::matches("("),
        ];
        let never = Cancel::new();
        for pin in pins {
            let e = evaluate(&pin, &corpus, 0..corpus.len(), 100, &never).expect("search");
            assert_eq!(
                e.validation.diagnostics,
                validate(&pin, &corpus).diagnostics,
                "{pin:?}"
            );
        }
    }

    #[test]
    fn valid_field_is_searched_beside_an_invalid_one() {
        let corpus = Corpus::from_raw("scx_bpf_error");
        let never = Cancel::new();
        let e = evaluate(
            &Pin::new(Some("scx"), Some("a?")),
            &corpus,
            0..5,
            10,
            &never,
        )
        .expect("search");
        assert_eq!(e.satisfied(), None);
        assert_eq!(e.contains.as_ref().map(|o| o.total), Some(1));
        assert!(e.matches.is_none());

        let e = evaluate(
            &Pin::new(Some("scx"), Some("error")),
            &corpus,
            0..5,
            10,
            &never,
        )
        .expect("search");
        assert_eq!(e.satisfied(), Some(true));
        let e = evaluate(
            &Pin::new(Some("scx"), Some("nope")),
            &corpus,
            0..5,
            10,
            &never,
        )
        .expect("search");
        assert_eq!(e.satisfied(), Some(false));
    }

    #[test]
    fn cancel_stops_evaluation() {
        let corpus = Corpus::from_raw("abc");
        let cancel = Cancel::new();
        cancel.cancel();
        assert!(evaluate(&Pin::contains("abc"), &corpus, 0..3, 10, &cancel).is_err());
    }
}
