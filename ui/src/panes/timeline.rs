//! ktstr's timeline on a time axis, with the monitor's summary beside it.
//!
//! A bar per phase, as wide as its share of the run, then each phase's
//! metrics and events below; phases ktstr flagged (DEGRADATION, stalls) are
//! drawn in the warning style, and the selected crash (or a failed monitor
//! verdict) is marked where the run ended. Phases alternate between two fill
//! characters so their borders show without colour too. The monitor summary
//! and verdict sit to the right on wide panes and below on narrow ones.
//!
//! Listed only for reports with a timeline or monitor section; both are
//! parsed once, when the pane is built.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use scxray::host_monitor::sample::Sample;
use scxray::host_monitor::samples_text::{parse_crash_ms, parse_samples};
use scxray::report::{Report, SectionKind};
use scxray::sections::{
    self, Direction, MonitorSection, Phase, PhaseEvent, Stall, Timeline, VerdictStatus,
};
use unicode_width::UnicodeWidthStr;

use super::{monitor_chart, render_lines_marked, wrap, Ctx, Pane};
use crate::theme::Theme;

/// Below this width the monitor goes under the timeline.
const SIDE_BY_SIDE_MIN: u16 = 100;
/// Column of values in the monitor's `key value` rows.
const KEY_WIDTH: usize = 15;
/// Fill characters of alternating phases.
const FILLS: [&str; 2] = ["█", "▒"];

pub struct TimelinePane {
    timeline: Option<Timeline>,
    monitor: Option<MonitorSection>,
    /// The host monitor's raw samples (scxray's `monitor samples` section)
    /// and the crash time recorded with them.
    samples: Vec<Sample>,
    crash_ms: Option<u64>,
}

impl TimelinePane {
    /// The pane, when the report has something for it.
    pub fn for_report(report: &Report) -> Option<TimelinePane> {
        let raw = report
            .section(&SectionKind::MonitorSamples)
            .map(|s| &*s.body);
        let pane = TimelinePane {
            timeline: sections::timeline(report),
            monitor: sections::monitor(report),
            samples: raw.map(parse_samples).unwrap_or_default(),
            crash_ms: raw.and_then(parse_crash_ms),
        };
        (pane.timeline.is_some() || pane.monitor.is_some() || !pane.samples.is_empty())
            .then_some(pane)
    }

    /// (left lines, right lines, left width): right is empty when stacked.
    fn layout(&self, ctx: &Ctx<'_>, width: u16) -> (Vec<Line<'static>>, Vec<Line<'static>>, u16) {
        let side = width >= SIDE_BY_SIDE_MIN && self.timeline.is_some() && self.monitor.is_some();
        if side {
            let right = u16::try_from((u32::from(width) * 2 / 5).clamp(36, 64)).unwrap_or(64);
            let left = width - right - 1;
            (
                self.timeline_lines(ctx, usize::from(left)),
                self.monitor_lines(ctx.theme, usize::from(right)),
                left,
            )
        } else {
            let w = usize::from(width);
            let mut lines = self.timeline_lines(ctx, w);
            if self.monitor.is_some() {
                if !lines.is_empty() {
                    lines.push(Line::default());
                }
                lines.extend(self.monitor_lines(ctx.theme, w));
            }
            (lines, Vec::new(), width)
        }
    }

    fn timeline_lines(&self, ctx: &Ctx<'_>, width: usize) -> Vec<Line<'static>> {
        let theme = ctx.theme;
        let Some(t) = &self.timeline else {
            let mut lines = vec![Line::styled(
                "No timeline section: ktstr prints one only when the monitor sampled phases.",
                theme.dim,
            )];
            lines.extend(self.chart(ctx, width));
            return lines;
        };
        let mut lines = Vec::new();
        let h = &t.header;
        let mut parts: Vec<Vec<Span<'static>>> = Vec::new();
        let mut part = |key: &str, value: Option<String>| {
            if let Some(v) = value {
                parts.push(vec![
                    Span::styled(format!("{key} "), theme.dim),
                    Span::raw(v),
                ]);
            }
        };
        part("kernel", h.kernel.clone());
        part(
            "topology",
            h.topology.as_ref().map(|t| match h.cpus {
                Some(n) => format!("{t} ({n} cpus)"),
                None => t.clone(),
            }),
        );
        part("scheduler", h.scheduler.clone());
        part("scenario", h.scenario.clone());
        part("duration", h.duration_s.map(|s| format!("{s:.1}s")));
        for (k, v) in &h.extra {
            part(k, Some(v.clone()));
        }
        lines.extend(flow(parts, width, "  ", 0));
        for u in &t.unknown {
            lines.push(Line::styled(u.clone(), theme.dim));
        }
        if t.phases.is_empty() {
            if t.unknown.is_empty() {
                lines.push(Line::styled("(no phases)", theme.dim));
            }
            lines.extend(self.chart(ctx, width));
            return lines;
        }
        lines.push(Line::default());
        lines.extend(self.bar_lines(ctx, t, width));
        lines.extend(self.around_crash(ctx, t, width));
        lines.extend(self.chart(ctx, width));
        for (i, (phase, (start, end))) in t.phases.iter().zip(t.spans()).enumerate() {
            lines.push(Line::default());
            lines.extend(phase_lines(theme, phase, i, start, end, width));
        }
        lines
    }

    /// Labels, the bar, the time axis, and the end-of-run mark.
    fn bar_lines(&self, ctx: &Ctx<'_>, t: &Timeline, width: usize) -> Vec<Line<'static>> {
        let theme = ctx.theme;
        let end_mark = self.end_mark(ctx);
        // One column after the bar for the end mark.
        let bar_w = width.saturating_sub(if end_mark.is_some() { 2 } else { 0 });
        let edges = edges(t, bar_w);
        let mut labels = Vec::new();
        let mut bar = Vec::new();
        let mut axis = String::new();
        for (i, phase) in t.phases.iter().enumerate() {
            let (from, to) = (edges[i], edges[i + 1]);
            let seg = to - from;
            if seg == 0 {
                continue;
            }
            let style = phase_style(theme, phase);
            // The full name where the segment has room for it.
            let long = long_name(phase);
            let name = if long.width() < seg {
                long
            } else {
                short_name(phase)
            };
            labels.push(Span::styled(
                pad(&cut(&name, seg.saturating_sub(1)), seg),
                style,
            ));
            bar.push(Span::styled(FILLS[i % 2].repeat(seg), style));
        }
        // Times at the phase edges, each where it fits after the previous one.
        let spans = t.spans();
        for (i, &at) in edges.iter().enumerate() {
            let ms = if i == 0 { 0 } else { spans[i - 1].1 };
            let text = seconds(ms);
            let col = if i + 1 == edges.len() {
                at.saturating_sub(text.width())
            } else {
                at
            };
            let used = axis.width();
            if col >= used + usize::from(used > 0) && col + text.width() <= width.max(1) {
                axis.push_str(&" ".repeat(col - used));
                axis.push_str(&text);
            }
        }
        let mut lines = vec![
            Line::from(labels),
            Line::from(bar),
            Line::styled(axis, theme.dim),
        ];
        if let Some((mark, text, style)) = end_mark {
            lines[1].spans.push(Span::raw(" "));
            lines[1].spans.push(Span::styled(mark, style));
            let text = cut(&text, width);
            let col = width.saturating_sub(text.width());
            lines.push(Line::from(vec![
                Span::raw(" ".repeat(col)),
                Span::styled(text, style),
            ]));
        }
        lines
    }

    /// The raw samples around the crash (or the last ones), after a blank.
    fn chart(&self, ctx: &Ctx<'_>, width: usize) -> Vec<Line<'static>> {
        let at = self.crash_ms.filter(|_| ctx.crash.is_some());
        let chart = monitor_chart::lines(&self.samples, at, "crash", width, ctx.theme);
        if chart.is_empty() {
            return chart;
        }
        let mut lines = vec![Line::default()];
        lines.extend(chart);
        lines
    }

    /// What the monitor saw around the crash: the crash ends the run, so
    /// its samples are the last phase's; each metric is shown next to the
    /// phase before, in the warning style where it got worse. Then the
    /// monitor's violations. Nothing without a crash or phase metrics.
    fn around_crash(&self, ctx: &Ctx<'_>, t: &Timeline, width: usize) -> Vec<Line<'static>> {
        let theme = ctx.theme;
        let (Some(_), Some(last)) = (ctx.crash, t.phases.last()) else {
            return Vec::new();
        };
        let Some(m) = &last.metrics else {
            return Vec::new();
        };
        let n = t.phases.len();
        let prev = n.checked_sub(2).map(|i| &t.phases[i]);
        let pm = prev.and_then(|p| p.metrics.as_ref());
        let (start, end) = t.spans()[n - 1];
        let mut lines = vec![
            Line::default(),
            Line::from(vec![
                Span::styled("Around the crash", theme.label),
                Span::styled(
                    format!(
                        "  {} · {}–{}{}",
                        long_name(last),
                        seconds(start),
                        seconds(end),
                        prev.map_or(String::new(), |p| format!(" · before: {}", long_name(p)))
                    ),
                    theme.dim,
                ),
            ]),
        ];
        // (name, before, now, worse when higher)
        let f1 = |v: Option<f64>| v.map(|v| (format!("{v:.1}"), v));
        let int = |v: Option<u64>| v.map(|v| (v.to_string(), v as f64));
        let rows = [
            (
                "imbalance max",
                f1(pm.and_then(|m| m.imbalance_max)),
                f1(m.imbalance_max),
                true,
            ),
            (
                "dsq max",
                int(pm.and_then(|m| m.dsq_max)),
                int(m.dsq_max),
                true,
            ),
            (
                "stalls",
                int(prev.and_then(|p| p.stalls.or(p.metrics.as_ref().map(|_| 0)))),
                int(last.stalls.or(Some(0))),
                true,
            ),
            (
                "fallback/s",
                f1(pm.and_then(|m| m.fallback_per_s)),
                f1(m.fallback_per_s),
                true,
            ),
            (
                "keep_last/s",
                f1(pm.and_then(|m| m.keep_last_per_s)),
                f1(m.keep_last_per_s),
                true,
            ),
            (
                "iter/s",
                f1(pm.and_then(|m| m.throughput_iter_per_s)),
                f1(m.throughput_iter_per_s),
                false,
            ),
        ];
        let mut parts = Vec::new();
        for (name, before, now, higher_is_worse) in rows {
            let Some((now_text, now_v)) = now else {
                continue;
            };
            let mut part = vec![Span::styled(format!("{name} "), theme.dim)];
            let worse = match &before {
                Some((_, b)) => {
                    if higher_is_worse {
                        now_v > *b
                    } else {
                        now_v < *b
                    }
                }
                None => false,
            };
            if let Some((b, _)) = &before {
                part.push(Span::raw(format!("{b}→")));
            }
            part.push(Span::styled(
                now_text,
                if worse { theme.warning } else { Style::new() },
            ));
            parts.push(part);
        }
        lines.extend(flow(parts, width.saturating_sub(2), "  ", 2));
        if let Some(v) = self.monitor.as_ref().and_then(|m| m.verdict.as_ref()) {
            let style = match v.status {
                VerdictStatus::Ok => theme.ok,
                VerdictStatus::Failed(_) => theme.error,
                _ => theme.warning,
            };
            let text = if v.details.is_empty() {
                v.text.clone()
            } else {
                v.details.join("; ")
            };
            lines.push(Line::from(vec![
                Span::styled("  monitor ", theme.dim),
                Span::styled(cut(&text, width.saturating_sub(10)), style),
            ]));
        }
        lines
    }

    /// The crash that ended the run, or else a failed monitor verdict.
    fn end_mark(&self, ctx: &Ctx<'_>) -> Option<(&'static str, String, Style)> {
        if let Some((_, crash)) = ctx.crash {
            let mut text = format!("crash ↑ {}", crash.kind.label());
            if let Some(who) = &crash.scheduler {
                text = format!("{text} in {who}");
            }
            return Some(("✗", text, ctx.theme.error));
        }
        self.monitor
            .as_ref()
            .filter(|m| m.failed())
            .map(|_| ("!", "monitor failed ↑".to_string(), ctx.theme.warning))
    }

    fn monitor_lines(&self, theme: &Theme, width: usize) -> Vec<Line<'static>> {
        let Some(m) = &self.monitor else {
            return Vec::new();
        };
        let mut lines = vec![Line::from(vec![
            Span::styled("Monitor", theme.label),
            Span::styled(
                m.samples
                    .map_or(String::new(), |n| format!("  {n} samples")),
                theme.dim,
            ),
        ])];
        let mut row = |key: &str, parts: Vec<Vec<Span<'static>>>| {
            if parts.is_empty() {
                return;
            }
            let mut out = flow(parts, width.saturating_sub(KEY_WIDTH), "  ", KEY_WIDTH);
            if let Some(first) = out.first_mut() {
                first
                    .spans
                    .insert(0, Span::styled(pad(key, KEY_WIDTH), theme.dim));
                // `flow` indented every line; the key replaces the first indent.
                if first.spans.len() > 1 {
                    first.spans.remove(1);
                }
            }
            lines.extend(out);
        };
        let plain = |s: String| vec![Span::raw(s)];
        row(
            "max imbalance",
            m.max_imbalance
                .map(|v| plain(format!("{v:.2}")))
                .into_iter()
                .collect(),
        );
        row(
            "max dsq depth",
            m.max_dsq_depth
                .map(|v| plain(v.to_string()))
                .into_iter()
                .collect(),
        );
        if let Some(stall) = m.stall {
            let (key, value) = match stall {
                Stall::Flag(b) => ("stall", if b { "yes" } else { "no" }.to_string()),
                Stall::Stuck(n) => ("stuck", n.to_string()),
            };
            let style = if stall.detected() {
                theme.warning
            } else {
                Style::new()
            };
            row(key, vec![vec![Span::styled(value, style)]]);
        }
        if let Some(avg) = &m.avg {
            let mut parts = Vec::new();
            for (k, v) in [
                ("imbalance", avg.imbalance.map(|v| format!("{v:.2}"))),
                (
                    "nr_running/cpu",
                    avg.nr_running_per_cpu.map(|v| format!("{v:.1}")),
                ),
                ("dsq/cpu", avg.dsq_per_cpu.map(|v| format!("{v:.1}"))),
            ] {
                if let Some(v) = v {
                    parts.push(vec![Span::styled(format!("{k} "), theme.dim), Span::raw(v)]);
                }
            }
            row("avg", parts);
        }
        for (key, counters) in [
            ("events", &m.events),
            ("events+", &m.events_plus),
            ("schedstat", &m.schedstat),
        ] {
            let parts = counters
                .iter()
                .map(|c| {
                    let mut value = c.count.map_or("?".to_string(), |n| n.to_string());
                    value.push_str(c.unit.as_deref().unwrap_or(""));
                    if let Some(r) = c.rate_per_s {
                        value.push_str(&format!(" ({r}/s)"));
                    }
                    vec![
                        Span::styled(format!("{} ", c.name), theme.dim),
                        Span::raw(value),
                    ]
                })
                .collect();
            row(key, parts);
        }
        for p in &m.bpf {
            let mut text = p.name.clone();
            if let Some(n) = p.count {
                text.push_str(&format!(" ×{n}"));
            }
            if let Some(ns) = p.ns_per_call {
                text.push_str(&format!(" {ns}ns/call"));
            }
            row("bpf", vec![plain(text)]);
        }
        for (k, v) in &m.extra {
            row(k, vec![plain(v.clone())]);
        }
        if let Some(v) = &m.verdict {
            lines.push(Line::default());
            let (mark, style) = match v.status {
                VerdictStatus::Ok => ("✓ ", theme.ok),
                VerdictStatus::Failed(_) => ("✗ ", theme.error),
                _ => ("· ", theme.warning),
            };
            // The summary up to the details, which get a line each.
            let head = v.text.split(": ").take(2).collect::<Vec<_>>().join(": ");
            let head = if v.details.is_empty() {
                v.text.clone()
            } else {
                head
            };
            for (i, piece) in wrap(&head, width.saturating_sub(2)).into_iter().enumerate() {
                lines.push(Line::from(vec![
                    Span::styled(if i == 0 { mark } else { "  " }, style),
                    Span::styled(piece.to_string(), style),
                ]));
            }
            for d in &v.details {
                for (i, piece) in wrap(d, width.saturating_sub(4)).into_iter().enumerate() {
                    lines.push(Line::from(vec![
                        Span::styled(if i == 0 { "  • " } else { "    " }, theme.warning),
                        Span::raw(piece.to_string()),
                    ]));
                }
            }
        }
        for u in &m.unknown {
            lines.push(Line::styled(u.clone(), theme.dim));
        }
        lines
    }
}

impl Pane for TimelinePane {
    fn title(&self, _ctx: &Ctx<'_>) -> String {
        "Timeline".to_string()
    }

    fn role(&self) -> Option<super::Role> {
        Some(super::Role::Timeline)
    }

    fn follows_crash(&self) -> bool {
        true
    }

    fn line_count(&self, ctx: &Ctx<'_>, width: u16) -> usize {
        let (left, right, _) = self.layout(ctx, width);
        left.len().max(right.len())
    }

    fn render(&self, ctx: &Ctx<'_>, area: Rect, scroll: usize, buf: &mut Buffer) {
        let (left, right, left_w) = self.layout(ctx, area.width);
        if right.is_empty() {
            render_lines_marked(left, area, scroll, ctx.theme.dim, buf);
            return;
        }
        let l = Rect {
            width: left_w,
            ..area
        };
        let sep_x = area.x + left_w;
        let r = Rect {
            x: sep_x + 1,
            width: area.width - left_w - 1,
            ..area
        };
        render_lines_marked(left, l, scroll, ctx.theme.dim, buf);
        for y in area.top()..area.bottom() {
            buf.set_string(sep_x, y, "│", ctx.theme.border);
        }
        render_lines_marked(right, r, scroll, ctx.theme.dim, buf);
    }
}

/// A phase's heading, metrics, stalls, events and leftovers.
fn phase_lines(
    theme: &Theme,
    phase: &Phase,
    i: usize,
    start: u64,
    end: u64,
    width: usize,
) -> Vec<Line<'static>> {
    let style = phase_style(theme, phase);
    let mut lines = Vec::new();
    let mut head = vec![
        Span::styled(format!("{} ", FILLS[i % 2]), style),
        Span::styled(long_name(phase), theme.label),
    ];
    let mut facts = Vec::new();
    if let Some(ms) = phase.duration_ms {
        facts.push(format!("{ms} ms"));
        facts.push(format!("{}–{}", seconds(start), seconds(end)));
    }
    if let Some(n) = phase.samples {
        facts.push(format!("{n} samples"));
    }
    if !facts.is_empty() {
        head.push(Span::styled(format!("  {}", facts.join(" · ")), theme.dim));
    }
    lines.push(Line::from(head));

    let degraded = |metric: &str| phase.degradations().any(|c| c.metric == metric);
    if let Some(m) = &phase.metrics {
        let mut parts = Vec::new();
        let mut metric = |name: &str, key: &str, value: Option<String>| {
            if let Some(v) = value {
                let vstyle = if degraded(key) {
                    theme.warning
                } else {
                    Style::new()
                };
                parts.push(vec![
                    Span::styled(format!("{name} "), theme.dim),
                    Span::styled(v, vstyle),
                ]);
            }
        };
        let f1 = |v: Option<f64>| v.map(|v| format!("{v:.1}"));
        let pair = |a: Option<String>, b: Option<String>| match (a, b) {
            (None, None) => None,
            (a, b) => Some(format!(
                "avg {} max {}",
                a.unwrap_or_else(|| "?".into()),
                b.unwrap_or_else(|| "?".into())
            )),
        };
        metric(
            "imbalance",
            "imbalance",
            pair(f1(m.imbalance_avg), f1(m.imbalance_max)),
        );
        metric(
            "dsq",
            "dsq_depth",
            pair(
                m.dsq_avg.map(|v| format!("{v:.0}")),
                m.dsq_max.map(|v| v.to_string()),
            ),
        );
        metric(
            "nr_run",
            "nr_run",
            m.nr_run_avg.map(|v| format!("avg {v:.1}")),
        );
        metric(
            "fallback",
            "fallback",
            m.fallback_per_s.map(|v| format!("{v:.0}/s")),
        );
        metric(
            "keep_last",
            "keep_last",
            m.keep_last_per_s.map(|v| format!("{v:.0}/s")),
        );
        metric(
            "throughput",
            "throughput",
            m.throughput_iter_per_s.map(|v| match &m.throughput_note {
                Some(note) => format!("{v:.0} iter/s ({note})"),
                None => format!("{v:.0} iter/s"),
            }),
        );
        for (k, v) in &m.extra {
            metric(k, k, Some(v.clone()));
        }
        lines.extend(flow(parts, width.saturating_sub(2), "  ", 2));
    } else if phase.no_samples {
        lines.push(Line::styled("  [no samples]", theme.dim));
    }
    if let Some(n) = phase.stalls {
        let s = if n > 0 { theme.warning } else { theme.dim };
        lines.push(Line::styled(format!("  stalls: {n}"), s));
    }
    for e in &phase.events {
        let (mark, text, style) = match e {
            PhaseEvent::Stimulus {
                label,
                op_kind,
                detail,
            } => (
                "▸",
                match detail {
                    Some(d) => format!("{label}: {op_kind} ({d})"),
                    None => format!("{label}: {op_kind}"),
                },
                theme.dim,
            ),
            PhaseEvent::Change(c) => {
                let delta = c.delta.map_or(String::new(), |d| format!(" {d:+.1}"));
                match c.direction {
                    Direction::Degradation => (
                        "▲",
                        format!("DEGRADATION {}{delta}", c.metric),
                        theme.warning,
                    ),
                    Direction::Improvement => {
                        ("▼", format!("IMPROVEMENT {}{delta}", c.metric), theme.ok)
                    }
                }
            }
            PhaseEvent::Other { text } => ("·", text.clone(), theme.dim),
        };
        for (i, piece) in wrap(&text, width.saturating_sub(4)).into_iter().enumerate() {
            lines.push(Line::from(vec![
                Span::styled(
                    if i == 0 {
                        format!("  {mark} ")
                    } else {
                        "    ".into()
                    },
                    style,
                ),
                Span::styled(piece.to_string(), style),
            ]));
        }
    }
    for row in &phase.per_cgroup {
        lines.push(Line::styled(format!("    {row}"), theme.dim));
    }
    for u in &phase.unknown {
        lines.push(Line::styled(format!("  {u}"), theme.dim));
    }
    lines
}

/// Flagged phases stand out; the rest share one style.
fn phase_style(theme: &Theme, phase: &Phase) -> Style {
    if phase.degradations().next().is_some() || phase.stalls.is_some_and(|n| n > 0) {
        theme.warning
    } else {
        theme.focused_border
    }
}

/// `BASELINE`, `Phase 1`.
fn short_name(phase: &Phase) -> String {
    match phase.index {
        None => phase.label.clone(),
        Some(i) => format!("Phase {i}"),
    }
}

/// `BASELINE settle`, `Phase 1: StepStart[1] ops=3`.
fn long_name(phase: &Phase) -> String {
    let op = phase.op_kind.as_deref().unwrap_or("");
    match phase.index {
        None if op.is_empty() => phase.label.clone(),
        None => format!("{} ({op})", phase.label),
        Some(i) => format!("Phase {i}: {} {op}", phase.label)
            .trim_end()
            .to_string(),
    }
}

/// Column where each phase starts on a bar `width` wide, plus the end:
/// proportional to the durations (equal shares when none is known), every
/// phase at least one column while columns last.
fn edges(t: &Timeline, width: usize) -> Vec<usize> {
    let n = t.phases.len();
    let spans = t.spans();
    let total = spans.last().map_or(0, |s| s.1);
    let mut edges = Vec::with_capacity(n + 1);
    edges.push(0);
    for i in 0..n {
        let proportional = if total > 0 {
            // u128: ms × columns cannot overflow.
            (u128::from(spans[i].1) * width as u128 / u128::from(total)) as usize
        } else {
            (i + 1) * width / n.max(1)
        };
        let prev = edges[i];
        edges.push(proportional.max(prev + 1).min(width));
    }
    edges
}

/// `0s`, `3.0s`, `15.0s`.
fn seconds(ms: u64) -> String {
    if ms == 0 {
        "0s".to_string()
    } else {
        format!("{:.1}s", ms as f64 / 1000.0)
    }
}

/// Packs parts (each a few spans) into lines at most `width` wide, `sep`
/// between parts, every line indented by `indent`. A part wider than a line
/// gets a line of its own, cut.
fn flow(
    parts: Vec<Vec<Span<'static>>>,
    width: usize,
    sep: &str,
    indent: usize,
) -> Vec<Line<'static>> {
    let mut lines: Vec<Line<'static>> = Vec::new();
    let mut cur: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    for part in parts {
        let w: usize = part.iter().map(|s| s.content.width()).sum();
        if used > 0 && used + sep.width() + w > width {
            lines.push(indented(std::mem::take(&mut cur), indent));
            used = 0;
        }
        if used > 0 {
            cur.push(Span::raw(sep.to_string()));
            used += sep.width();
        }
        cur.extend(part);
        used += w;
    }
    if !cur.is_empty() {
        lines.push(indented(cur, indent));
    }
    lines
}

fn indented(mut spans: Vec<Span<'static>>, indent: usize) -> Line<'static> {
    spans.insert(0, Span::raw(" ".repeat(indent)));
    Line::from(spans)
}

/// `text` cut to `width` columns.
fn cut(text: &str, width: usize) -> String {
    let mut used = 0;
    text.chars()
        .take_while(|c| {
            used += unicode_width::UnicodeWidthChar::width(*c).unwrap_or(0);
            used <= width
        })
        .collect()
}

fn pad(text: &str, width: usize) -> String {
    format!("{text}{}", " ".repeat(width.saturating_sub(text.width())))
}

/// The pane list's entry: only when there is something to put on a time axis.
pub fn panes(report: &Report) -> Vec<Box<dyn Pane>> {
    TimelinePane::for_report(report)
        .map(|p| Box::new(p) as Box<dyn Pane>)
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeline(body: &str) -> Timeline {
        Timeline::parse(body)
    }

    #[test]
    fn edges_are_proportional_and_never_empty() {
        let t = timeline(
            "BASELINE (settle, 3000ms, 30 samples):\nPhase 1: S[1] ops=1 (12000ms, 1 samples):",
        );
        assert_eq!(edges(&t, 50), [0, 10, 50]);
        let t = timeline(
            "BASELINE (settle, 1ms, 1 samples):\nPhase 1: S[1] ops=1 (100000ms, 1 samples):",
        );
        assert_eq!(edges(&t, 10), [0, 1, 10], "a tiny phase keeps a column");
        let t = timeline("Phase 1: A x (5 samples):\nPhase 2: B y (5 samples):");
        assert_eq!(edges(&t, 9), [0, 4, 9], "no durations: equal shares");
        assert_eq!(edges(&t, 0), [0, 0, 0]);
    }

    #[test]
    fn flow_packs_parts_and_cuts_nothing_it_can_fit() {
        let parts = |v: &[&str]| v.iter().map(|s| vec![Span::raw(s.to_string())]).collect();
        let lines = flow(parts(&["aaaa", "bbb", "cc"]), 9, "  ", 1);
        let text: Vec<String> = lines.iter().map(ToString::to_string).collect();
        assert_eq!(text, [" aaaa  bbb", " cc"]);
        assert!(flow(Vec::new(), 5, " ", 0).is_empty());
    }
}
