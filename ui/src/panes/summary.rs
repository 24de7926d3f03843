//! The answer first: the header above the tabs and the Summary pane.
//!
//! The header is a few lines that stay on screen whatever pane is focused:
//! which scheduler died, how, with what message, on which task and CPU, and
//! the first frame worth reading. The Summary pane spells out every field of
//! the selected crash and of ktstr's header, wrapped rather than cut.

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use scxray::report::stall::{stall_of, Stall, StallKind};
use scxray::report::{Crash, ExitKind, Header, Outcome, Report, SectionKind, TaskRef};

use super::backtrace::{frame_style, frame_text};
use super::{wrap, Ctx, Pane};
use crate::theme::Theme;

/// Width of the label column in the Summary pane.
const LABEL_WIDTH: usize = 13;

const NOT_KERNEL_EXIT: &str = "not a kernel exit (userspace bail/verifier)";

/// The title bar: the source on the left, `crash k of n` on the right when
/// there is more than one.
pub fn title_bar<'a>(ctx: &Ctx<'a>, source: &'a str) -> (Line<'a>, Option<Line<'a>>) {
    let left = Line::from(format!(" scxray · {source}"));
    let n = ctx.report.crashes.len();
    let right = match ctx.crash {
        Some((k, _)) if n > 1 => Some(Line::from(format!("crash {} of {n} ", k + 1))),
        _ => None,
    };
    (left, right)
}

/// The header lines under the title bar, most important first; the app shows
/// as many as fit.
/// A live run still going (its report's outcome says so).
pub(super) fn running(header: &Header) -> bool {
    matches!(&header.outcome, Outcome::Other(o) if o.starts_with(scxray::run::live::IN_PROGRESS))
}

pub fn answer_lines<'a>(ctx: &Ctx<'a>) -> Vec<Line<'a>> {
    let theme = ctx.theme;
    let header = &ctx.report.header;
    let mut lines = Vec::new();
    // ktstr's one-line cause leads only when there is no crash to describe:
    // with one, the crash lines below say the same in more detail.
    if let (None, Some(bug)) = (ctx.crash, &header.bug_summary) {
        lines.push(Line::from(vec![
            Span::styled("BUG SUMMARY ", theme.label),
            Span::styled(bug.as_str(), theme.error),
        ]));
    }
    match ctx.crash {
        Some((_, crash)) => crash_answer(ctx.report, crash, theme, &mut lines),
        None if running(header) => {
            lines.push(Line::styled("no crash so far", theme.dim));
            // The run's state instead of the input's: what the monitor sees.
            let samples = super::monitor_live::samples_of(ctx.report);
            if let Some(state) = super::monitor_live::LiveState::of(&samples, ctx.report) {
                lines.push(state.line(theme, true));
            }
        }
        None => {
            let mut spans = vec![Span::styled("no crash found", theme.warning)];
            spans.push(Span::styled(
                format!(
                    " · {} sections · {} parser notes",
                    ctx.report.sections.len(),
                    ctx.report.notes.len()
                ),
                theme.dim,
            ));
            lines.push(Line::from(spans));
        }
    }
    if let Some(line) = ktstr_line(header, theme) {
        lines.push(line);
    }
    if ctx.crash.is_none() {
        if let Some(detail) = header.details.first() {
            lines.push(Line::raw(detail.as_str()));
        }
    }
    lines
}

fn crash_answer<'a>(
    report: &'a Report,
    crash: &'a Crash,
    theme: &Theme,
    lines: &mut Vec<Line<'a>>,
) {
    let mut what = vec![
        Span::styled(scheduler(report, crash), theme.label),
        Span::raw(" · "),
        Span::styled(crash.kind.label(), theme.error),
    ];
    if let Some(reason) = crash
        .reason
        .as_deref()
        .filter(|r| !reason_implied(crash.kind, r))
    {
        what.push(Span::raw(format!(" · {reason}")));
    }
    if !crash.kernel_exit {
        what.push(Span::raw(" · "));
        what.push(Span::styled(NOT_KERNEL_EXIT, theme.warning));
    }
    lines.push(Line::from(what));

    lines.push(match &crash.message {
        Some(m) => Line::styled(m.as_str(), theme.error),
        None => Line::styled("(no message in the input)", theme.dim),
    });

    let mut where_ = Vec::new();
    let stall = stall_of(crash);
    let stalled = stall.as_ref().and_then(|s| s.task.as_ref());
    if let Some(task) = stalled {
        where_.push(Span::styled("stalled task ", theme.dim));
        where_.push(Span::styled(task.to_string(), theme.error));
    }
    match &crash.task {
        Some(task) if stalled.is_some_and(|s| s != task) => {
            where_.push(Span::styled(" · reported by ", theme.dim));
            where_.push(Span::raw(task.to_string()));
        }
        Some(task) if stalled.is_none() => {
            where_.push(Span::styled("task ", theme.dim));
            where_.push(Span::raw(task.to_string()));
        }
        _ => {}
    }
    if let Some(cpu) = crash.cpu {
        where_.push(Span::styled(
            if where_.is_empty() {
                "CPU "
            } else {
                " on CPU "
            },
            theme.dim,
        ));
        where_.push(Span::raw(cpu.to_string()));
    }
    if let Some(frame) = crash.top_frame() {
        if !where_.is_empty() {
            where_.push(Span::raw(" · "));
        }
        where_.push(Span::styled("top frame ", theme.dim));
        where_.push(Span::styled(
            frame_text(frame),
            frame_style(&frame.class, theme),
        ));
    }
    if !where_.is_empty() {
        lines.push(Line::from(where_));
    }

    let mut from = Vec::new();
    if !crash.formats.is_empty() {
        from.push(Span::styled("read from ", theme.dim));
        from.push(Span::raw(formats(crash)));
        from.push(Span::raw(" · "));
    } else {
        from.push(Span::styled("found in ", theme.dim));
    }
    from.push(Span::raw(origin(report, crash)));
    lines.push(Line::from(from));
}

/// `ktstr <test> · topo <topo> · <outcome>`, when the input had ktstr's header.
fn ktstr_line<'a>(header: &'a Header, theme: &Theme) -> Option<Line<'a>> {
    let outcome = outcome_label(&header.outcome);
    if header.test_name.is_none() && header.topology.is_none() && outcome.is_none() {
        return None;
    }
    let mut spans = vec![Span::styled("ktstr", theme.dim)];
    if let Some(test) = &header.test_name {
        spans.push(Span::raw(format!(" {test}")));
    }
    if let Some(topo) = &header.topology {
        spans.push(Span::styled(" · topo ", theme.dim));
        spans.push(Span::raw(topo.as_str()));
    }
    if let Some(outcome) = outcome {
        spans.push(Span::raw(" · "));
        spans.push(Span::styled(outcome, theme.warning));
    }
    Some(Line::from(spans))
}

pub struct SummaryPane;

impl Pane for SummaryPane {
    fn title(&self, _ctx: &Ctx<'_>) -> String {
        "Summary".to_string()
    }

    fn role(&self) -> Option<super::Role> {
        Some(super::Role::Summary)
    }

    fn follows_crash(&self) -> bool {
        true
    }

    fn lines<'a>(&'a self, ctx: &Ctx<'a>, width: u16) -> Vec<Line<'a>> {
        let theme = ctx.theme;
        let report = ctx.report;
        let value_width = usize::from(width).saturating_sub(LABEL_WIDTH);
        let mut rows = Rows {
            lines: Vec::new(),
            theme,
            value_width,
        };
        match ctx.crash {
            Some((k, crash)) => crash_rows(report, k, crash, &mut rows),
            None if running(&report.header) => {
                rows.lines.push(Line::styled(
                    "The run goes on: no sched_ext crash so far.",
                    theme.dim,
                ));
                rows.lines.push(Line::styled(
                    "The console, the scheduler log and the monitor fill in their tabs as it runs.",
                    theme.dim,
                ));
            }
            None => {
                rows.lines.push(Line::styled(
                    "No sched_ext crash was found in this input.",
                    theme.warning,
                ));
                rows.lines.push(Line::styled(
                    if report.notes.is_empty() {
                        "Its sections are in the other tabs."
                    } else {
                        "Its sections are in the other tabs; Notes says what the parser skipped."
                    },
                    theme.dim,
                ));
            }
        }
        header_rows(&report.header, &mut rows);
        if report.crashes.len() > 1 {
            all_crashes(ctx, &mut rows);
        }
        rows.lines
    }
}

fn crash_rows<'a>(report: &'a Report, k: usize, crash: &'a Crash, rows: &mut Rows<'a, '_>) {
    let theme = rows.theme;
    if report.crashes.len() > 1 {
        rows.heading(format!("Crash {} of {}", k + 1, report.crashes.len()));
    }
    rows.text("Scheduler", scheduler(report, crash), Style::new());
    rows.text("Exit kind", crash.kind.label(), theme.error);
    if let Some(reason) = &crash.reason {
        rows.text("Reason", reason.clone(), Style::new());
    }
    match &crash.message {
        Some(m) => rows.text("Message", m.clone(), theme.error),
        None => rows.text("Message", "(none in the input)".into(), theme.dim),
    }
    let stall = stall_of(crash);
    if let Some(stall) = &stall {
        let has_dump = report.section(&SectionKind::SchedExtDump).is_some();
        stall_rows(crash, stall, has_dump, rows);
    }
    let stalled = stall.as_ref().and_then(|s| s.task.as_ref());
    match &crash.task {
        // The task the dump says triggered a stall's exit is the
        // watchdog's kworker: say so, the stalled task is above.
        Some(task) if stalled.is_some_and(|s| s != task) => rows.text(
            "Reported by",
            format!("{task} (the watchdog's report, not the stalled task)"),
            Style::new(),
        ),
        Some(task) if stalled.is_none() => rows.text("Task", task.to_string(), Style::new()),
        _ => {}
    }
    if let Some(cpu) = crash.cpu {
        rows.text("CPU", cpu.to_string(), Style::new());
    }
    if let Some(frame) = crash.top_frame() {
        rows.text(
            "Top frame",
            frame_text(frame),
            frame_style(&frame.class, theme),
        );
    }
    if !crash.formats.is_empty() {
        rows.text("Read from", formats(crash), Style::new());
    }
    if crash.kernel_exit {
        rows.text("Kernel exit", "yes".into(), Style::new());
    } else {
        rows.text("Kernel exit", NOT_KERNEL_EXIT.into(), theme.warning);
    }
    rows.text("Found in", origin(report, crash), Style::new());
    if let Some(dump) = super::failure_dump::summary_line(report) {
        rows.text("Failure dump", format!("{dump} → press F"), theme.label);
    }

    // A userspace error chain (anyhow's `Caused by:`): why the load failed,
    // outermost first.
    if !crash.causes.is_empty() {
        rows.heading("Caused by".into());
        for c in &crash.causes {
            rows.lines.push(Line::raw(format!("  {c}")));
        }
    }
    // The scheduler's own words first: they are about this crash, the
    // counters are about the whole run.
    if !crash.ops_dump.is_empty() {
        rows.heading("Scheduler dump (ops.dump)".into());
        for l in &crash.ops_dump {
            rows.lines.push(Line::raw(format!("  {l}")));
        }
    }
    if !crash.events.is_empty() {
        rows.heading("Event counters".into());
        let counted: Vec<_> = crash.events.iter().filter(|e| e.value != 0).collect();
        let w = counted.iter().map(|e| e.name.len()).max().unwrap_or(0);
        for e in &counted {
            rows.lines
                .push(Line::raw(format!("  {:<w$}  {}", e.name, e.value)));
        }
        let zero = crash.events.len() - counted.len();
        if zero > 0 {
            rows.lines.push(Line::styled(
                format!("  {zero} more at 0 (all of them: the sched_ext dump tab)"),
                theme.dim,
            ));
        }
    }
}

/// The stalled task (or the watchdog that stalled), how long, and where
/// Enter leads.
fn stall_rows(crash: &Crash, stall: &Stall, has_dump: bool, rows: &mut Rows<'_, '_>) {
    let theme = rows.theme;
    let how_long = stall.duration_text.as_deref().unwrap_or("too long");
    match (&stall.task, stall.kind) {
        (Some(task), _) => {
            rows.text(
                "Stalled task",
                format!("{task} · not run for {how_long}"),
                theme.error,
            );
            rows.text("", stalled_task_link(crash, task, has_dump), theme.label);
        }
        (None, StallKind::Watchdog) => rows.text(
            "Stall",
            format!("the watchdog itself failed to check in for {how_long}: no task is named"),
            theme.error,
        ),
        (None, StallKind::Task) => rows.text(
            "Stall",
            format!("a runnable task not run for {how_long}; the message names no pid"),
            theme.error,
        ),
    }
}

/// Where Enter takes the stalled task: its CPU state, or a search of the
/// dump (of the log the crash was read from, without a dump).
fn stalled_task_link(crash: &Crash, task: &TaskRef, has_dump: bool) -> String {
    let cpu = crash
        .cpu_states
        .iter()
        .find(|c| c.tasks.iter().any(|t| t.task.as_ref() == Some(task)));
    match cpu {
        Some(c) => format!("▸ on CPU {}'s runqueue: Enter shows its CPU state", c.cpu),
        None if has_dump => "▸ not in the CPU states: Enter searches the dump for it".into(),
        None => "▸ not in the CPU states: Enter searches the log for it".into(),
    }
}

fn header_rows<'a>(header: &'a Header, rows: &mut Rows<'a, '_>) {
    let theme = rows.theme;
    let outcome = outcome_label(&header.outcome);
    let any = header.test_name.is_some()
        || header.topology.is_some()
        || outcome.is_some()
        || header.bug_summary.is_some()
        || header.fingerprint.is_some()
        || !header.details.is_empty();
    if !any {
        return;
    }
    rows.heading("ktstr".into());
    if let Some(t) = &header.test_name {
        rows.text("Test", t.clone(), Style::new());
    }
    rows.text(
        "Scheduler",
        header
            .scheduler
            .clone()
            .unwrap_or_else(|| "EEVDF (none)".into()),
        Style::new(),
    );
    if let Some(t) = &header.topology {
        rows.text("Topology", t.clone(), Style::new());
    }
    if let Some(o) = outcome {
        rows.text("Outcome", o, theme.warning);
    }
    if let Some(b) = &header.bug_summary {
        rows.text("BUG SUMMARY", b.clone(), theme.error);
    }
    if let Some(f) = &header.fingerprint {
        // A live run whose scheduler never attached leads with its first
        // error line (src/run/live.rs), not its last one.
        let never_attached =
            matches!(&header.outcome, Outcome::Other(o) if o == "scheduler did not attach");
        let label = if never_attached {
            "Scheduler error"
        } else {
            "Last log"
        };
        rows.text(label, f.clone(), Style::new());
    }
    for (i, d) in header.details.iter().enumerate() {
        rows.text(if i == 0 { "Details" } else { "" }, d.clone(), Style::new());
    }
}

fn all_crashes<'a>(ctx: &Ctx<'a>, rows: &mut Rows<'a, '_>) {
    let theme = rows.theme;
    rows.heading("All crashes (oldest first)".into());
    let selected = ctx.crash.map(|(k, _)| k);
    for (i, c) in ctx.report.crashes.iter().enumerate() {
        let mark = if Some(i) == selected { "▸" } else { " " };
        let mut spans = vec![
            Span::raw(format!("{mark} {:>2}  ", i + 1)),
            Span::styled(c.kind.label(), theme.error),
            Span::raw(format!("  {}", scheduler(ctx.report, c))),
        ];
        if let Some(m) = &c.message {
            spans.push(Span::raw(format!("  {m}")));
        }
        rows.lines.push(Line::from(spans));
    }
}

/// Summary pane lines under construction: labelled rows with wrapped values.
struct Rows<'a, 't> {
    lines: Vec<Line<'a>>,
    theme: &'t Theme,
    value_width: usize,
}

impl<'a> Rows<'a, '_> {
    fn heading(&mut self, text: String) {
        if !self.lines.is_empty() {
            self.lines.push(Line::raw(""));
        }
        self.lines.push(Line::styled(text, self.theme.label));
    }

    fn text(&mut self, label: &'static str, value: String, style: Style) {
        for (i, piece) in wrap(&value, self.value_width).into_iter().enumerate() {
            let label = if i == 0 { label } else { "" };
            self.lines.push(Line::from(vec![
                Span::styled(format!("{label:<LABEL_WIDTH$}"), self.theme.label),
                Span::styled(piece.to_string(), style),
            ]));
        }
    }
}

fn scheduler(report: &Report, crash: &Crash) -> String {
    crash
        .scheduler
        .clone()
        .or_else(|| report.header.scheduler.clone())
        .unwrap_or_else(|| "unknown scheduler".to_string())
}

/// True when the reason says nothing the exit kind label does not.
fn reason_implied(kind: ExitKind, reason: &str) -> bool {
    kind != ExitKind::Unknown && ExitKind::from_reason(reason) == kind
}

fn formats(crash: &Crash) -> String {
    crash
        .formats
        .iter()
        .map(|f| f.label())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `sched_ext dump, lines 3-40` (1-based, as the text panes number them).
fn origin(report: &Report, crash: &Crash) -> String {
    let o = &crash.origin;
    let name = report
        .sections
        .get(o.section)
        .map_or("the input", |s| s.kind.name());
    if o.first_line == o.last_line {
        format!("{name}, line {}", o.first_line + 1)
    } else {
        format!("{name}, lines {}-{}", o.first_line + 1, o.last_line + 1)
    }
}

fn outcome_label(outcome: &Outcome) -> Option<String> {
    match outcome {
        Outcome::Unknown => None,
        Outcome::Failed => Some("failed".into()),
        Outcome::Inconclusive => Some("inconclusive".into()),
        Outcome::MonitorFailed => Some("passed scenario but monitor failed".into()),
        Outcome::TimedOut => Some("timed out".into()),
        Outcome::Other(text) => Some(text.clone()),
    }
}

/// The pane list's entry: every report has a summary.
pub fn panes(_report: &Report) -> Vec<Box<dyn Pane>> {
    vec![Box::new(SummaryPane)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_is_hidden_only_when_the_kind_says_it() {
        assert!(reason_implied(ExitKind::ScxBpfError, "scx_bpf_error"));
        assert!(!reason_implied(ExitKind::Unknown, "weird"));
        assert!(!reason_implied(ExitKind::Stall, "runtime error"));
    }
}
