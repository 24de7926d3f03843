//! The host monitor's samples around a moment (the crash), as sparklines:
//! each CPU's runqueue depth and local DSQ depth, the imbalance ratio, and
//! the samples where a CPU was stuck. One column per sample (100 ms), the
//! moment marked, so what the scheduler was doing just before it died reads
//! left to right. Heights scale to the largest value in the window, which the
//! header states.

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use scxray::host_monitor::sample::{stuck_cpus, Sample};

use crate::theme::Theme;

/// Columns taken by the row labels (`cpu12 dsq  `).
const LABEL: usize = 11;
/// Per-CPU rows beyond this many CPUs are summed up in one line.
const MAX_CPU_ROWS: usize = 8;
const LEVELS: [&str; 8] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"];

/// The samples of `samples` (sorted by time) that fit in `width` columns
/// around `at_ms`: three quarters of the window before it. Without a moment,
/// the last ones.
fn window(samples: &[Sample], at_ms: Option<u64>, cols: usize) -> std::ops::Range<usize> {
    let n = samples.len();
    let anchor = match at_ms {
        Some(t) => samples.partition_point(|s| s.at_ms <= t).saturating_sub(1),
        None => n.saturating_sub(1),
    };
    let start = anchor
        .saturating_sub(cols * 3 / 4)
        .min(n.saturating_sub(cols));
    start..(start + cols).min(n)
}

/// One sparkline cell for `v` on a scale topping out at `max`.
fn cell(v: f64, max: f64) -> &'static str {
    if v <= 0.0 || max <= 0.0 {
        return "·";
    }
    let level = ((v / max) * (LEVELS.len() as f64)).ceil() as usize;
    LEVELS[level.clamp(1, LEVELS.len()) - 1]
}

fn seconds(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

/// The chart's lines; empty without samples. `what` names the moment
/// (`crash`) drawn at `at_ms`.
pub fn lines(
    samples: &[Sample],
    at_ms: Option<u64>,
    what: &str,
    width: usize,
    theme: &Theme,
) -> Vec<Line<'static>> {
    if samples.is_empty() {
        return Vec::new();
    }
    let cols = width.saturating_sub(LABEL).max(1);
    let range = window(samples, at_ms, cols);
    let shown = &samples[range.clone()];
    let ncpu = shown.iter().map(|s| s.cpus.len()).max().unwrap_or(0);
    let max_run = shown
        .iter()
        .flat_map(|s| s.cpus.iter().map(|c| c.nr_running))
        .max()
        .unwrap_or(0);
    let max_dsq = shown
        .iter()
        .flat_map(|s| s.cpus.iter().map(|c| c.local_dsq))
        .max()
        .unwrap_or(0);
    let max_imb = shown.iter().map(Sample::imbalance).fold(0.0, f64::max);
    // The column of the moment, when it falls in the window.
    let mark_col = at_ms.and_then(|t| {
        let i = samples.partition_point(|s| s.at_ms <= t).checked_sub(1)?;
        range.contains(&i).then(|| i - range.start)
    });

    let title = match (at_ms, mark_col) {
        (Some(_), Some(_)) => format!("Monitor samples around the {what}"),
        _ => "Monitor samples, the last ones".to_string(),
    };
    let mut out = vec![
        Line::from(vec![
            Span::styled(title, theme.label),
            Span::styled(
                format!("  {} samples, 100 ms a column", shown.len()),
                theme.dim,
            ),
        ]),
        Line::styled(
            format!(
                "heights scale to the tallest: {max_run} runnable, {max_dsq} queued, imbalance {max_imb:.1}"
            ),
            theme.dim,
        ),
    ];

    // Time axis: first and last sample time, the moment under its column.
    let mut axis = vec![' '; cols];
    let first = seconds(shown[0].at_ms);
    let last = seconds(shown[shown.len() - 1].at_ms);
    for (i, c) in first.chars().enumerate().take(cols) {
        axis[i] = c;
    }
    let last_at = shown.len().saturating_sub(last.chars().count());
    if last_at > first.chars().count() {
        for (i, c) in last.chars().enumerate() {
            axis[last_at + i] = c;
        }
    }
    let mut axis_spans = vec![Span::raw(format!("{:LABEL$}", ""))];
    match mark_col {
        Some(col) => {
            axis[col] = '▼';
            let before: String = axis[..col].iter().collect();
            let after: String = axis[col + 1..].iter().collect();
            axis_spans.push(Span::styled(before, theme.dim));
            axis_spans.push(Span::styled("▼", theme.error));
            axis_spans.push(Span::styled(after, theme.dim));
            let label = format!("{what} at {}", seconds(at_ms.unwrap_or(0)));
            let pad = (LABEL + col).saturating_sub(label.chars().count() / 2);
            out.push(Line::from(axis_spans));
            out.push(Line::from(vec![
                Span::raw(" ".repeat(pad.min(width.saturating_sub(label.chars().count())))),
                Span::styled(label, theme.error),
            ]));
        }
        None => {
            axis_spans.push(Span::styled(axis.iter().collect::<String>(), theme.dim));
            out.push(Line::from(axis_spans));
        }
    }

    let row = |label: String, cells: Vec<(&'static str, Style)>| {
        let mut spans = vec![Span::styled(format!("{label:LABEL$}"), theme.dim)];
        spans.extend(cells.into_iter().map(|(s, st)| Span::styled(s, st)));
        Line::from(spans)
    };
    let style_at = |i: usize, base: Style| {
        if Some(i) == mark_col {
            theme.error
        } else {
            base
        }
    };
    for cpu in 0..ncpu.min(MAX_CPU_ROWS) {
        let series = |f: &dyn Fn(&Sample) -> Option<u32>, max: u32| {
            shown
                .iter()
                .enumerate()
                .map(|(i, s)| match f(s) {
                    Some(v) => (
                        cell(f64::from(v), f64::from(max)),
                        style_at(i, Style::new()),
                    ),
                    None => (" ", Style::new()),
                })
                .collect::<Vec<_>>()
        };
        out.push(row(
            format!("cpu{cpu} run"),
            series(&|s| s.cpus.get(cpu).map(|c| c.nr_running), max_run),
        ));
        out.push(row(
            format!("cpu{cpu} dsq"),
            series(&|s| s.cpus.get(cpu).map(|c| c.local_dsq), max_dsq),
        ));
    }
    if ncpu > MAX_CPU_ROWS {
        out.push(Line::styled(
            format!(
                "{:LABEL$}({} more CPUs: their runnable and queued tasks count in the imbalance)",
                "",
                ncpu - MAX_CPU_ROWS
            ),
            theme.dim,
        ));
    }
    out.push(row(
        "imbalance".into(),
        shown
            .iter()
            .enumerate()
            .map(|(i, s)| {
                (
                    cell(s.imbalance() - 1.0, max_imb - 1.0),
                    style_at(i, Style::new()),
                )
            })
            .collect(),
    ));
    let mut any_stuck = false;
    let stuck: Vec<(&'static str, Style)> = (0..shown.len())
        .map(|i| {
            let k = range.start + i;
            let hit = k > 0 && !stuck_cpus(&samples[k - 1], &samples[k]).is_empty();
            any_stuck |= hit;
            if hit {
                ("✗", theme.warning)
            } else {
                ("·", style_at(i, theme.dim))
            }
        })
        .collect();
    out.push(row("stuck".into(), stuck));
    if any_stuck {
        out.push(Line::styled(
            format!(
                "{:LABEL$}✗ a CPU's runqueue clock stood still while it had tasks",
                ""
            ),
            theme.dim,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use scxray::host_monitor::sample::CpuSample;

    fn sample(at_ms: u64, cpus: &[(u32, u32, u64)]) -> Sample {
        Sample {
            at_ms,
            cpus: cpus
                .iter()
                .map(|&(nr, dsq, clock)| CpuSample {
                    nr_running: nr,
                    scx_nr_running: nr,
                    local_dsq: dsq,
                    clock,
                })
                .collect(),
            ..Sample::default()
        }
    }

    fn text(lines: &[Line<'_>]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn the_window_puts_the_moment_three_quarters_in() {
        let s: Vec<Sample> = (0..100).map(|i| sample(i * 100, &[(1, 0, i)])).collect();
        assert_eq!(window(&s, Some(5000), 20), 35..55);
        assert_eq!(window(&s, Some(200), 20), 0..20, "clamped at the start");
        assert_eq!(window(&s, Some(9_900), 20), 80..100, "clamped at the end");
        assert_eq!(window(&s, None, 20), 80..100);
        assert_eq!(window(&s[..5], Some(200), 20), 0..5);
    }

    #[test]
    fn sparklines_mark_the_crash_and_stuck_cpus() {
        // CPU 1's clock stops at 300 ms while it has two tasks.
        let s: Vec<Sample> = (0..8u64)
            .map(|i| {
                sample(
                    i * 100,
                    &[(1, 0, i + 1), (2, i.min(4) as u32, 3.min(i + 1))],
                )
            })
            .collect();
        let out = text(&lines(&s, Some(500), "crash", 30, &Theme::plain()));
        assert!(
            out[0].starts_with("Monitor samples around the crash"),
            "{out:?}"
        );
        assert!(
            out[1].contains("tallest: 2 runnable, 4 queued, imbalance 2.0"),
            "{out:?}"
        );
        let axis = &out[2];
        assert_eq!(
            axis.find('▼').map(|b| axis[..b].chars().count()),
            Some(LABEL + 5),
            "{out:?}"
        );
        assert!(out[3].contains("crash at 0.5s"), "{out:?}");
        let row = |name: &str| out.iter().find(|l| l.starts_with(name)).unwrap().clone();
        assert_eq!(&row("cpu1 run")[LABEL..], "████████");
        assert_eq!(&row("cpu1 dsq")[LABEL..], "·▂▄▆████");
        assert_eq!(&row("stuck")[LABEL..], "···✗✗✗✗✗");
        assert!(out.last().unwrap().contains("clock stood still"));
    }

    #[test]
    fn empty_or_narrow_never_panics() {
        assert!(lines(&[], Some(1), "crash", 80, &Theme::plain()).is_empty());
        let s = vec![sample(0, &[]), sample(100, &[(0, 0, 0)])];
        for w in 0..20 {
            let _ = lines(&s, Some(50), "crash", w, &Theme::plain());
            let _ = lines(&s, None, "crash", w, &Theme::plain());
        }
    }
}
