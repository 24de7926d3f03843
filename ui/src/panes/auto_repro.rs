//! Auto-repro, structured: what the repro VM's probes saw on the crash path.
//!
//! ktstr's `--- auto-repro ---` section (and, later, scxray's own repro VM)
//! is read into `scxray::sections::auto_repro` and shown as the reader wants
//! it: the verdict first (did the crash reproduce?), the probe pipeline in
//! one line per stage, then the call chain, each function with its location
//! and its arguments' fields, a field that changed between entry and exit
//! highlighted with both values. The tails stay in the section's text pane
//! (Tab to it); here they are counted. j/k select a function and Enter
//! shows its source at the printed `file:line` (looked up in `--source`).
//! Listed only when the report has the section.

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use scxray::report::Report;
use scxray::sections;
use scxray::sections::auto_repro::{
    Arg, AutoRepro, Block, Field, Function, FunctionKind, ProbeEntry, StageInfo, StatusKind,
    TriggerState,
};

use super::{Ctx, Pane, Role};
use crate::theme::Theme;

pub struct AutoReproPane {
    model: AutoRepro,
}

/// The pane list's entry: when the report holds an auto-repro section.
pub fn panes(report: &Report) -> Vec<Box<dyn Pane>> {
    sections::auto_repro(report)
        .map(|model| Box::new(AutoReproPane { model }) as Box<dyn Pane>)
        .into_iter()
        .collect()
}

impl Pane for AutoReproPane {
    fn title(&self, _ctx: &Ctx<'_>) -> String {
        "Auto-repro".to_string()
    }

    fn role(&self) -> Option<Role> {
        Some(Role::AutoRepro)
    }

    fn lines<'a>(&'a self, ctx: &Ctx<'a>, _width: u16) -> Vec<Line<'a>> {
        self.layout(ctx).0
    }

    fn item_lines(&self, ctx: &Ctx<'_>) -> Vec<usize> {
        self.layout(ctx).1
    }
}

/// The functions of every AUTO-PROBE block, in order: what j/k select.
pub fn functions(model: &AutoRepro) -> Vec<&Function> {
    model
        .blocks
        .iter()
        .filter_map(|b| match b {
            Block::AutoProbe(p) => Some(p.functions()),
            _ => None,
        })
        .flatten()
        .collect()
}

impl AutoReproPane {
    /// The lines, and the line each function's name is on.
    fn layout(&self, ctx: &Ctx<'_>) -> (Vec<Line<'static>>, Vec<usize>) {
        let theme = ctx.theme;
        let mut out = Vec::new();
        let mut items = Vec::new();
        let blocks = &self.model.blocks;
        // The verdict first: whether the crash reproduced decides how far
        // the probe data can be trusted.
        for block in blocks {
            if let Block::Status(s) = block {
                out.push(Line::styled(
                    s.text.clone(),
                    status_style(&s.verdict, theme),
                ));
            }
        }
        for block in blocks {
            if let Block::Duration(d) = block {
                out.push(Line::styled(
                    format!("repro VM duration: {}", d.value),
                    theme.dim,
                ));
            }
        }
        for block in blocks {
            if let Block::Pipeline(p) = block {
                if !out.is_empty() {
                    out.push(Line::raw(""));
                }
                out.push(Line::styled("Probe pipeline", theme.label));
                for stage in &p.stages {
                    out.push(Line::from(vec![
                        Span::styled(format!("  {:<14}", stage.label), theme.dim),
                        Span::styled(stage.value.clone(), stage_style(&stage.info, theme)),
                    ]));
                }
            }
        }
        for block in blocks {
            if let Block::AutoProbe(probe) = block {
                out.push(Line::raw(""));
                out.push(Line::styled(
                    format!("Call chain ({})", probe.title),
                    theme.label,
                ));
                chain_lines(&probe.entries, ctx.probe, theme, &mut out, &mut items);
            }
        }
        let tails: Vec<String> = blocks
            .iter()
            .filter_map(|b| match b {
                Block::Tail(t) => Some(format!("{} ({} lines)", t.name, t.lines.len())),
                _ => None,
            })
            .collect();
        if !tails.is_empty() {
            out.push(Line::raw(""));
            out.push(Line::styled(
                format!(
                    "Tails of the repro VM: {}; Tab to the auto-repro section to read them.",
                    tails.join(", ")
                ),
                theme.dim,
            ));
        }
        if self.model.skipped > 0 {
            out.push(Line::styled(
                format!(
                    "{} line(s) not understood are shown verbatim in the section.",
                    self.model.skipped
                ),
                theme.warning,
            ));
        }
        if out.is_empty() {
            out.push(Line::styled(
                "The auto-repro section holds no status, pipeline or probe data.",
                theme.warning,
            ));
        }
        (out, items)
    }
}

/// The call chain; the `selected` function (counted over all blocks, from
/// `items.len()`) is marked, and each function's line goes to `items`.
fn chain_lines(
    entries: &[ProbeEntry],
    selected: Option<usize>,
    theme: &Theme,
    out: &mut Vec<Line<'static>>,
    items: &mut Vec<usize>,
) {
    for entry in entries {
        match entry {
            ProbeEntry::Function(f) => {
                let here = selected == Some(items.len());
                items.push(out.len());
                let (tag, style) = match f.kind {
                    FunctionKind::Bpf => ("bpf", theme.bpf_frame),
                    FunctionKind::Kernel => ("kernel", Style::new()),
                    FunctionKind::Unknown => ("", Style::new()),
                };
                let mark = if here { "» " } else { "  " };
                let style = if here { style.patch(theme.selected) } else { style };
                let mut head = vec![Span::styled(format!("{mark}{}", f.name), style)];
                if !tag.is_empty() {
                    head.push(Span::styled(format!("  {tag}"), theme.dim));
                }
                match &f.location {
                    Some(l) => head.push(Span::styled(
                        format!("  {}:{}", l.file, l.line),
                        theme.label,
                    )),
                    // Without a location ktstr's layout cannot say kernel or
                    // BPF; a BPF function always has its line info.
                    None => head.push(Span::styled(
                        "  (no file:line: for a kernel function, `scxray kernel fetch --debug-info` gets the kernel's DWARF)",
                        theme.dim,
                    )),
                }
                out.push(Line::from(head));
                for arg in &f.args {
                    match arg {
                        Arg::Struct(s) => {
                            out.push(Line::styled(
                                format!("    {} *{}", s.type_name, s.name),
                                theme.dim,
                            ));
                            for field in &s.fields {
                                out.push(field_line(field, "      ", theme));
                            }
                        }
                        Arg::Scalar(field) => out.push(field_line(field, "    ", theme)),
                        Arg::Unknown { text } => out.push(Line::raw(format!("    {text}"))),
                    }
                }
            }
            ProbeEntry::Frame(frame) => {
                out.push(Line::styled(format!("    {}", frame.text), theme.dim));
            }
            ProbeEntry::Unknown { text } => out.push(Line::raw(format!("  {text}"))),
        }
    }
}

/// `name  value`, or `name  entry → exit` with the change highlighted.
fn field_line(field: &Field, indent: &str, theme: &Theme) -> Line<'static> {
    let name = match &field.type_name {
        Some(t) => format!("{indent}{} ({t})", field.name),
        None => format!("{indent}{}", field.name),
    };
    let mut spans = vec![
        Span::styled(format!("{name:<24}"), theme.label),
        Span::raw(field.value.clone()),
    ];
    if let Some(exit) = &field.exit_value {
        spans.push(Span::styled("  →  ", theme.dim));
        spans.push(Span::styled(exit.clone(), theme.warning));
    }
    Line::from(spans)
}

fn status_style(kind: &StatusKind, theme: &Theme) -> Style {
    match kind {
        StatusKind::SchedulerCrashed { .. } => theme.ok,
        StatusKind::RanNormally
        | StatusKind::TimedOut
        | StatusKind::NotAttached { .. }
        | StatusKind::ExitedAbnormally { .. }
        | StatusKind::PrimaryDidNotReachWorkload { .. }
        | StatusKind::NoProbeData => theme.warning,
        _ => theme.label,
    }
}

fn stage_style(info: &StageInfo, theme: &Theme) -> Style {
    match info {
        StageInfo::Trigger {
            state: TriggerState::Fired,
            ..
        } => theme.ok,
        StageInfo::Trigger { .. } | StageInfo::Error { .. } => theme.error,
        StageInfo::Attached { failed, .. } if *failed > 0 => theme.warning,
        StageInfo::KprobeMiss { unresolved, .. } if *unresolved > 0 => theme.warning,
        _ => Style::new(),
    }
}
