//! The selected crash's `CPU states` blocks: per-CPU fields, the current task,
//! each task block with its fields and stack, and scheduler `ops.dump_cpu` /
//! `ops.dump_task` lines.

use ratatui::text::{Line, Span};
use scxray::report::stall::stall_of;
use scxray::report::{CpuState, Report, TaskRef, TaskState};
use unicode_width::UnicodeWidthStr;

use super::backtrace::{class_tag, frame_style, frame_text};
use super::{Ctx, Pane};
use crate::theme::Theme;

pub struct CpuStatesPane;

impl Pane for CpuStatesPane {
    fn title(&self, _ctx: &Ctx<'_>) -> String {
        "CPU states".to_string()
    }

    fn role(&self) -> Option<super::Role> {
        Some(super::Role::CpuStates)
    }

    fn follows_crash(&self) -> bool {
        true
    }

    fn lines<'a>(&'a self, ctx: &Ctx<'a>, width: u16) -> Vec<Line<'a>> {
        let theme = ctx.theme;
        let Some((_, crash)) = ctx.crash else {
            return vec![Line::styled(
                "No crash was found, so there are no CPU states.",
                theme.warning,
            )];
        };
        if crash.cpu_states.is_empty() {
            return vec![Line::styled(
                "This crash has no CPU states: the input had no `CPU states` block.",
                theme.warning,
            )];
        }
        let mut lines = vec![Line::styled(
            format!(
                "{} CPUs in the dump. * marks the task running on its CPU.",
                crash.cpu_states.len()
            ),
            theme.dim,
        )];
        let stall = stall_of(crash);
        let stalled = stall.as_ref().and_then(|s| {
            let task = s.task.as_ref()?;
            let how_long = s.duration_text.as_deref().unwrap_or("too long");
            Some((task, format!("  ◀ stalled: not run for {how_long}")))
        });
        for cpu in &crash.cpu_states {
            lines.push(Line::raw(""));
            cpu_lines(cpu, usize::from(width), theme, stalled.as_ref(), &mut lines);
        }
        lines
    }
}

/// The line of `task`'s entry in the CPU states pane at `width`, and its
/// CPU: where the Summary's stalled task leads.
pub fn task_line(ctx: &Ctx<'_>, task: &TaskRef, width: u16) -> Option<(usize, u32)> {
    let (_, crash) = ctx.crash?;
    let (cpu, state) = crash.cpu_states.iter().find_map(|c| {
        let t = c.tasks.iter().find(|t| t.task.as_ref() == Some(task))?;
        Some((c, t))
    })?;
    // The entry's first line, as `task_lines` writes it: only a task's
    // head starts with its marker and name.
    let head = format!("  {:>2} {task} {}", state.marker, state.summary);
    let line = CpuStatesPane
        .lines(ctx, width)
        .iter()
        .position(|l| l.to_string().starts_with(&head))?;
    Some((line, cpu.cpu))
}

fn cpu_lines<'a>(
    cpu: &'a CpuState,
    width: usize,
    theme: &Theme,
    stalled: Option<&(&TaskRef, String)>,
    out: &mut Vec<Line<'a>>,
) {
    let mut head = vec![Span::styled(format!("CPU {}", cpu.cpu), theme.label)];
    // Some dumps keep `curr=` among the fields; say it once.
    if let Some(curr) = cpu
        .curr
        .as_ref()
        .filter(|_| !cpu.fields.iter().any(|(k, _)| k == "curr"))
    {
        head.push(Span::raw(format!("  curr={curr}")));
    }
    out.push(Line::from(head));
    fields(&cpu.fields, 2, width, out);
    out.extend(cpu.extra.iter().map(|l| Line::raw(format!("  {l}"))));
    for task in &cpu.tasks {
        let mark = stalled
            .filter(|(t, _)| task.task.as_ref() == Some(*t))
            .map(|(_, m)| m.clone());
        task_lines(task, width, theme, mark, out);
    }
}

fn task_lines<'a>(
    task: &'a TaskState,
    width: usize,
    theme: &Theme,
    stalled: Option<String>,
    out: &mut Vec<Line<'a>>,
) {
    let current = task.marker.contains('*');
    let name = task
        .task
        .as_ref()
        .map_or_else(|| "?".to_string(), ToString::to_string);
    let style = if current {
        theme.label
    } else {
        Default::default()
    };
    let mut head = vec![
        Span::raw(format!("  {:>2} ", task.marker)),
        Span::styled(name, style),
        Span::raw(format!(" {}", task.summary)),
    ];
    if let Some(mark) = stalled {
        head[1].style = theme.error;
        head.push(Span::styled(mark, theme.error));
    }
    out.push(Line::from(head));
    fields(&task.fields, 7, width, out);
    out.extend(task.extra.iter().map(|l| Line::raw(format!("       {l}"))));
    if !task.stack.is_empty() {
        out.push(Line::styled("       stack:", theme.dim));
        for frame in &task.stack {
            let mut spans = vec![
                Span::raw("         "),
                Span::styled(frame_text(frame), frame_style(&frame.class, theme)),
            ];
            let tag = class_tag(&frame.class);
            if !tag.is_empty() {
                spans.push(Span::styled(format!("  {tag}"), theme.dim));
            }
            out.push(Line::from(spans));
        }
    }
}

/// `key=value` pairs packed into lines that fit `width`, so no field is cut
/// off at the edge (only a single pair wider than the pane is).
fn fields<'a>(pairs: &[(String, String)], indent: usize, width: usize, out: &mut Vec<Line<'a>>) {
    let mut line = String::new();
    for (k, v) in pairs {
        let pair = format!("{k}={v}");
        if !line.is_empty() && indent + line.width() + 2 + pair.width() > width {
            out.push(Line::raw(format!("{:indent$}{line}", "")));
            line.clear();
        }
        if !line.is_empty() {
            line.push_str("  ");
        }
        line.push_str(&pair);
    }
    if !line.is_empty() {
        out.push(Line::raw(format!("{:indent$}{line}", "")));
    }
}

/// The pane list's entry: always there, it says when the dump has none.
pub fn panes(_report: &Report) -> Vec<Box<dyn Pane>> {
    vec![Box::new(CpuStatesPane)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_pack_to_width() {
        let pairs: Vec<(String, String)> =
            [("nr_run", "2"), ("flags", "0x1"), ("ops_qseq", "1432")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        let mut out = Vec::new();
        fields(&pairs, 2, 24, &mut out);
        let text: Vec<String> = out.iter().map(ToString::to_string).collect();
        assert_eq!(text, ["  nr_run=2  flags=0x1", "  ops_qseq=1432"]);
    }
}
