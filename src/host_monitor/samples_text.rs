//! `--- monitor samples ---`: scxray's own section with the raw samples, kept
//! next to ktstr's sections so a saved report can be re-summarized.
//!
//! ```text
//! # t=<ms> then per CPU: nr_running/scx_nr_running/local_dsq/clock
//! t=0 2/2/1/1000 1/1/0/2000
//! t=100 2/2/1/1100 1/1/0/2100
//! ```

use std::fmt::Write as _;

use super::sample::{CpuSample, Sample};

const LEGEND: &str = "# t=<ms> then per CPU: nr_running/scx_nr_running/local_dsq/clock";

/// The section body: the legend, then one line per sample. No trailing
/// newline.
pub fn write_samples(samples: &[Sample]) -> String {
    let mut out = String::from(LEGEND);
    for s in samples {
        let _ = write!(out, "\nt={}", s.at_ms);
        for c in &s.cpus {
            let _ = write!(
                out,
                " {}/{}/{}/{}",
                c.nr_running, c.scx_nr_running, c.local_dsq, c.clock
            );
        }
    }
    out
}

/// Reads a body written by [`write_samples`], in order. Lenient: `#` lines,
/// blank lines and lines that do not parse whole are skipped.
pub fn parse_samples(text: &str) -> Vec<Sample> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let mut tokens = line.split_whitespace();
    let at_ms = tokens.next()?.strip_prefix("t=")?.parse().ok()?;
    let cpus = tokens.map(parse_cpu).collect::<Option<Vec<_>>>()?;
    Some(Sample { at_ms, cpus })
}

fn parse_cpu(token: &str) -> Option<CpuSample> {
    let mut parts = token.split('/');
    let mut next = || parts.next();
    let cpu = CpuSample {
        nr_running: next()?.parse().ok()?,
        scx_nr_running: next()?.parse().ok()?,
        local_dsq: next()?.parse().ok()?,
        clock: next()?.parse().ok()?,
    };
    next().is_none().then_some(cpu)
}

/// The comment line that records when the scheduler crashed (host ms since
/// the run started), so the timeline can mark it among the samples.
pub fn crash_line(at_ms: u64) -> String {
    format!("# crash t={at_ms}\n")
}

/// The crash time written by [`crash_line`], if the body has one.
pub fn parse_crash_ms(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("# crash t="))
        .and_then(|t| t.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cpu(a: u32, b: u32, c: u32, d: u64) -> CpuSample {
        CpuSample {
            nr_running: a,
            scx_nr_running: b,
            local_dsq: c,
            clock: d,
        }
    }

    #[test]
    fn format() {
        let samples = vec![
            Sample {
                at_ms: 0,
                cpus: vec![cpu(2, 1, 0, 1000), cpu(0, 0, 3, u64::MAX)],
            },
            Sample {
                at_ms: 100,
                cpus: vec![],
            },
        ];
        let text = write_samples(&samples);
        assert_eq!(
            text,
            format!("{LEGEND}\nt=0 2/1/0/1000 0/0/3/18446744073709551615\nt=100")
        );
        assert_eq!(parse_samples(&text), samples);
        assert_eq!(write_samples(&[]), LEGEND);
        assert_eq!(parse_samples(LEGEND), []);
    }

    #[test]
    fn lenient() {
        let text = "\
# legend
  t=5 1/1/0/9   \n\
\n\
t=6 1/1/0\n\
t=7 1/1/0/9/1\n\
t=8 1/x/0/9\n\
x=9 1/1/0/9\n\
t=-1 1/1/0/9\n\
t=10 4294967296/0/0/0\n\
t= 1/1/1/1\n\
t=11 1/1/0/99999999999999999999\n\
garbage\n\
/ / // t=\n\
t=12 3/2/1/0 0/0/0/1\n";
        assert_eq!(
            parse_samples(text),
            [
                Sample {
                    at_ms: 5,
                    cpus: vec![cpu(1, 1, 0, 9)]
                },
                Sample {
                    at_ms: 12,
                    cpus: vec![cpu(3, 2, 1, 0), cpu(0, 0, 0, 1)]
                },
            ]
        );
    }

    fn arb_sample() -> impl Strategy<Value = Sample> {
        (
            any::<u64>(),
            prop::collection::vec(
                (any::<u32>(), any::<u32>(), any::<u32>(), any::<u64>())
                    .prop_map(|(a, b, c, d)| cpu(a, b, c, d)),
                0..6,
            ),
        )
            .prop_map(|(at_ms, cpus)| Sample { at_ms, cpus })
    }

    proptest! {
        #[test]
        fn round_trip(samples in prop::collection::vec(arb_sample(), 0..20)) {
            prop_assert_eq!(parse_samples(&write_samples(&samples)), samples);
        }

        #[test]
        fn never_panics(text in "\\PC*") {
            let _ = parse_samples(&text);
        }

        #[test]
        fn never_panics_near_format(text in "[t=0-9/ #\\n-]{0,80}") {
            let _ = parse_samples(&text);
        }
    }
}
