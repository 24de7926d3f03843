//! The host monitor as it stands: the newest samples of every CPU (runnable
//! and local DSQ depth, as numbers and sparklines), CPUs stuck now, the
//! verdict so far, and the rates of the SCX event counters, the struct_ops
//! programs and schedstat over the last second. Built from the report's
//! `--- monitor samples ---`, so it follows a live run frame by frame and
//! shows the same for a saved report (its end).

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use scxray::host_monitor::bpf::BpfProgs;
use scxray::host_monitor::events::{key, Events};
use scxray::host_monitor::sample::{stuck_cpus, Sample, Schedstats};
use scxray::host_monitor::samples_text::parse_samples;
use scxray::host_monitor::summary::{Summary, Thresholds};
use scxray::report::{Report, SectionKind};

use super::{monitor_chart, Ctx, Pane};
use crate::theme::Theme;

/// Rates are taken over this much of the newest samples.
const RATE_WINDOW_MS: u64 = 1000;

/// What the monitor says at its newest sample.
pub struct LiveState {
    pub samples: usize,
    pub last_ms: u64,
    pub verdict: String,
    pub failed: bool,
    /// CPUs whose clock did not move between the two newest samples.
    pub stuck_now: Vec<usize>,
}

impl LiveState {
    /// The state at the newest of `samples`; the verdict is the report's
    /// `--- monitor ---` one (held to the run's `--monitor-*` thresholds),
    /// else ktstr's default thresholds applied here.
    pub fn of(samples: &[Sample], report: &Report) -> Option<LiveState> {
        let last = samples.last()?;
        let summary = report
            .section(&SectionKind::Monitor)
            .and_then(|s| Summary::parse_section(&s.body))
            .unwrap_or_else(|| Summary::from_run(samples, &Thresholds::default()));
        let stuck_now = match samples {
            [.., prev, cur] => stuck_cpus(prev, cur),
            _ => Vec::new(),
        };
        Some(LiveState {
            samples: samples.len(),
            last_ms: last.at_ms,
            verdict: summary.verdict.text(),
            failed: summary.verdict.failed(),
            stuck_now,
        })
    }

    /// One line: samples, the verdict (so far, while `running`), stuck CPUs.
    pub fn line(&self, theme: &Theme, running: bool) -> Line<'static> {
        let so_far = if running { " so far" } else { "" };
        let mut spans = vec![
            Span::styled("monitor ", theme.label),
            Span::styled(
                format!(
                    "{} samples to {:.1}s · ",
                    self.samples,
                    self.last_ms as f64 / 1000.0
                ),
                theme.dim,
            ),
            Span::styled(
                format!("verdict{so_far}: {}", self.verdict),
                if self.failed {
                    theme.error
                } else {
                    Style::new()
                },
            ),
        ];
        if self.stuck_now.is_empty() {
            spans.push(Span::styled(" · no CPU stuck", theme.dim));
        } else {
            spans.push(Span::styled(
                format!(" · stuck now: {}", cpu_list(&self.stuck_now)),
                theme.error,
            ));
        }
        Line::from(spans)
    }
}

fn cpu_list(cpus: &[usize]) -> String {
    let names: Vec<String> = cpus.iter().map(|c| format!("CPU {c}")).collect();
    names.join(", ")
}

/// The samples of a report's `--- monitor samples ---`, oldest first.
pub fn samples_of(report: &Report) -> Vec<Sample> {
    report
        .section(&SectionKind::MonitorSamples)
        .map(|s| parse_samples(&s.body))
        .unwrap_or_default()
}

/// The newest sample at or after `RATE_WINDOW_MS` before `last` that
/// `has` accepts, paired with `last`; `None` without two such samples.
fn window_pair(samples: &[Sample], has: impl Fn(&Sample) -> bool) -> Option<(&Sample, &Sample)> {
    let last = samples.iter().rev().find(|s| has(s))?;
    let from = last.at_ms.saturating_sub(RATE_WINDOW_MS);
    let first = samples
        .iter()
        .find(|s| s.at_ms >= from && s.at_ms < last.at_ms && has(s))?;
    Some((first, last))
}

fn per_second(delta: i128, ms: u64) -> f64 {
    delta as f64 * 1000.0 / ms.max(1) as f64
}

/// Event counters: each non-zero one's total and its rate over the window.
fn event_lines(samples: &[Sample], theme: &Theme, out: &mut Vec<Line<'static>>) {
    let Some(newest) = samples.iter().rev().find_map(|s| s.events.as_ref()) else {
        out.push(Line::styled(
            "SCX event counters: none in the samples (no scheduler attached, or an older \
             scxray wrote this report)",
            theme.dim,
        ));
        return;
    };
    let (names, values) = match newest {
        Events::Read { names, values } => (names, values),
        Events::Unavailable(why) => {
            out.push(Line::styled(
                format!("SCX event counters: not read: {}", &*why.0),
                theme.warning,
            ));
            return;
        }
    };
    let pair = window_pair(samples, |s| matches!(s.events, Some(Events::Read { .. })));
    out.push(Line::styled(
        "SCX event counters (non-zero; rate over the last second)",
        theme.label,
    ));
    let mut any = false;
    for (i, name) in names.0.iter().enumerate() {
        let total = values.get(i).copied().unwrap_or(0);
        if total == 0 {
            continue;
        }
        any = true;
        let rate = pair.and_then(|(a, b)| {
            let (x, y) = (a.events.as_ref()?.get(name)?, b.events.as_ref()?.get(name)?);
            Some(per_second(i128::from(y) - i128::from(x), b.at_ms - a.at_ms))
        });
        let rate = rate.map_or_else(|| "-".to_string(), |r| format!("{r:.1}/s"));
        out.push(Line::from(vec![
            Span::raw(format!("  {:<28}", key(name))),
            Span::raw(format!("{total:>12}  ")),
            Span::styled(rate, theme.dim),
        ]));
    }
    if !any {
        out.push(Line::styled("  all zero", theme.dim));
    }
}

/// struct_ops programs: calls per second and ns per call over the window.
fn bpf_lines(samples: &[Sample], theme: &Theme, out: &mut Vec<Line<'static>>) {
    match samples.iter().rev().find_map(|s| s.bpf.as_ref()) {
        None => return,
        Some(BpfProgs::Unavailable(why)) => {
            out.push(Line::styled(
                format!("BPF programs: not read: {}", &*why.0),
                theme.warning,
            ));
            return;
        }
        Some(BpfProgs::Read(_)) => {}
    }
    let Some((a, b)) = window_pair(samples, |s| matches!(s.bpf, Some(BpfProgs::Read(_)))) else {
        return;
    };
    let (Some(BpfProgs::Read(old)), Some(BpfProgs::Read(new))) = (&a.bpf, &b.bpf) else {
        return;
    };
    out.push(Line::styled(
        "struct_ops programs (over the last second)",
        theme.label,
    ));
    let ms = b.at_ms - a.at_ms;
    for p in new {
        let before = old.iter().find(|q| q.id == p.id);
        let (calls, ns) = match before {
            Some(q) if p.cnt >= q.cnt => (p.cnt - q.cnt, p.nsecs.saturating_sub(q.nsecs)),
            _ => (p.cnt, p.nsecs),
        };
        let per_call = if calls > 0 {
            format!("{:.0} ns/call", ns as f64 / calls as f64)
        } else {
            "idle".to_string()
        };
        out.push(Line::from(vec![
            Span::raw(format!("  {:<16}", p.name)),
            Span::raw(format!(
                "{:>10.0} calls/s  ",
                per_second(i128::from(calls), ms)
            )),
            Span::styled(per_call, theme.dim),
        ]));
    }
}

/// Context switches, wakeups and run delay per second over the window.
fn schedstat_line(samples: &[Sample], theme: &Theme, out: &mut Vec<Line<'static>>) {
    let read = |s: &Sample| match &s.schedstat {
        Some(Schedstats::Read(v)) => Some(*v),
        _ => None,
    };
    let Some((a, b)) = window_pair(samples, |s| read(s).is_some()) else {
        return;
    };
    let (Some(x), Some(y)) = (read(a), read(b)) else {
        return;
    };
    let ms = b.at_ms - a.at_ms;
    let rate = |new: u64, old: u64| per_second(i128::from(new) - i128::from(old), ms);
    out.push(Line::from(vec![
        Span::styled("schedstat  ", theme.label),
        Span::raw(format!(
            "csw {:.0}/s · ttwu {:.0}/s · run_delay {:.0} ns/s",
            rate(y.sched_count, x.sched_count),
            rate(y.ttwu_count, x.ttwu_count),
            rate(y.run_delay, x.run_delay)
        )),
    ]));
}

pub struct MonitorLivePane {
    samples: Vec<Sample>,
}

impl Pane for MonitorLivePane {
    fn title(&self, _ctx: &Ctx<'_>) -> String {
        "monitor now".into()
    }

    fn lines<'a>(&'a self, ctx: &Ctx<'a>, width: u16) -> Vec<Line<'a>> {
        let theme = ctx.theme;
        let mut out = Vec::new();
        let Some(state) = LiveState::of(&self.samples, ctx.report) else {
            return out;
        };
        out.push(state.line(theme, super::summary::running(&ctx.report.header)));
        out.push(Line::raw(""));
        if let Some(last) = self.samples.last() {
            out.push(Line::styled(
                "CPU     runnable  scx  local DSQ",
                theme.label,
            ));
            for (i, c) in last.cpus.iter().enumerate() {
                let style = if state.stuck_now.contains(&i) {
                    theme.error
                } else {
                    Style::new()
                };
                let mark = if state.stuck_now.contains(&i) {
                    "  stuck: clock did not move"
                } else {
                    ""
                };
                out.push(Line::styled(
                    format!(
                        "cpu{i:<4} {:>8} {:>4} {:>10}{mark}",
                        c.nr_running, c.scx_nr_running, c.local_dsq
                    ),
                    style,
                ));
            }
            out.push(Line::raw(""));
        }
        out.extend(monitor_chart::lines(
            &self.samples,
            None,
            "now",
            usize::from(width),
            theme,
        ));
        out.push(Line::raw(""));
        event_lines(&self.samples, theme, &mut out);
        out.push(Line::raw(""));
        bpf_lines(&self.samples, theme, &mut out);
        schedstat_line(&self.samples, theme, &mut out);
        out
    }
}

/// The pane list's entry: for a report with host monitor samples.
pub fn panes(report: &Report) -> Vec<Box<dyn Pane>> {
    let samples = samples_of(report);
    if samples.is_empty() {
        return Vec::new();
    }
    vec![Box::new(MonitorLivePane { samples })]
}

#[cfg(test)]
mod tests {
    use super::*;
    use scxray::host_monitor::sample::CpuSample;

    fn sample(at_ms: u64, clocks: [u64; 2], run: [u32; 2]) -> Sample {
        Sample {
            at_ms,
            cpus: (0..2)
                .map(|i| CpuSample {
                    nr_running: run[i],
                    scx_nr_running: run[i],
                    local_dsq: 0,
                    clock: clocks[i],
                })
                .collect(),
            ..Sample::default()
        }
    }

    #[test]
    fn a_cpu_whose_clock_stands_still_is_stuck_now() {
        let samples = vec![sample(100, [10, 20], [1, 2]), sample(200, [30, 20], [1, 2])];
        let none = scxray::parse::parse_str("");
        let state = LiveState::of(&samples, &none).unwrap();
        assert_eq!(state.stuck_now, [1]);
        assert_eq!(state.samples, 2);
        let text = state.line(&Theme::default(), true).to_string();
        assert!(text.contains("stuck now: CPU 1"), "{text}");
        assert!(text.contains("verdict so far: "), "{text}");
        assert!(LiveState::of(&[], &none).is_none());
    }

    #[test]
    fn rates_are_taken_over_the_last_second() {
        let samples: Vec<Sample> = (0..30).map(|i| sample(i * 100, [i, i], [1, 1])).collect();
        let (a, b) = window_pair(&samples, |_| true).unwrap();
        assert_eq!((a.at_ms, b.at_ms), (1900, 2900));
        assert_eq!(per_second(50, 1000), 50.0);
    }
}
