//! The failure dump: the scheduler's state in guest memory at the instant
//! the kernel claimed the error exit (scxray's own `--- failure dump ---`),
//! read from a frozen guest. The CPUs side by side, the DSQs, every
//! sched_ext task, the scheduler's maps and the vCPU registers; the task
//! the error message names is highlighted wherever it appears. With an
//! auto-repro dump, a key switches to the repro VM's.

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use scxray::failure_dump::text::{self as dump_text, ParseError};
use scxray::failure_dump::{dsq_name, FailureDump, TaskDump, TaskRef, Trigger};
use scxray::report::{Report, SectionKind};
use unicode_width::UnicodeWidthStr;

use super::{Ctx, Pane};
use crate::theme::Theme;

/// Narrowest and widest a CPU column gets, and the gap between two.
const CPU_COL_MIN: usize = 16;
const CPU_COL_MAX: usize = 30;
const CPU_GAP: usize = 2;

/// One section's dump as read.
enum Parsed {
    Dump(Box<FailureDump>),
    /// The body did not parse: shown raw under the error.
    Broken {
        error: ParseError,
        raw: String,
    },
}

impl Parsed {
    fn of(report: &Report, kind: &SectionKind) -> Option<Parsed> {
        let body = &report.section(kind)?.body;
        Some(match dump_text::parse(body) {
            Ok(d) => Parsed::Dump(Box::new(d)),
            Err(error) => Parsed::Broken {
                error,
                raw: body.to_string(),
            },
        })
    }
}

/// At least one of the two dumps is there.
pub struct FailureDumpPane {
    test: Option<Parsed>,
    repro: Option<Parsed>,
    /// Showing the repro VM's dump (always, when it is the only one).
    show_repro: bool,
}

impl FailureDumpPane {
    fn shown(&self) -> Option<&Parsed> {
        if self.show_repro {
            self.repro.as_ref()
        } else {
            self.test.as_ref()
        }
    }
}

impl Pane for FailureDumpPane {
    fn title(&self, _ctx: &Ctx<'_>) -> String {
        if self.show_repro {
            "Failure dump (repro)".to_string()
        } else {
            "Failure dump".to_string()
        }
    }

    fn role(&self) -> Option<super::Role> {
        Some(super::Role::FailureDump)
    }

    // The highlighted task comes from the selected crash.
    fn follows_crash(&self) -> bool {
        true
    }

    fn toggle_alternate(&mut self) -> Option<String> {
        if !self.has_alternate() {
            return None;
        }
        self.show_repro = !self.show_repro;
        Some(if self.show_repro {
            "the auto-repro VM's failure dump".into()
        } else {
            "the test run's failure dump".into()
        })
    }

    fn has_alternate(&self) -> bool {
        self.test.is_some() && self.repro.is_some()
    }

    fn lines<'a>(&'a self, ctx: &Ctx<'a>, width: u16) -> Vec<Line<'a>> {
        let theme = ctx.theme;
        let mut out = Vec::new();
        if self.has_alternate() {
            let which = if self.show_repro {
                "auto-repro VM's dump (R: the test run's)"
            } else {
                "test run's dump (R: the auto-repro VM's)"
            };
            out.push(Line::styled(format!("Showing the {which}"), theme.dim));
        }
        match self.shown() {
            None => {}
            Some(Parsed::Broken { error, raw }) => {
                out.push(Line::styled(
                    format!("This dump did not parse: {error}"),
                    theme.warning,
                ));
                out.push(Line::raw(""));
                out.extend(raw.lines().map(|l| Line::raw(l.to_string())));
            }
            Some(Parsed::Dump(d)) => {
                let named = named_task(ctx, d);
                dump_lines(d, named, usize::from(width), theme, &mut out);
            }
        }
        out
    }
}

/// The task the selected crash names and the dump saw: its `comm[pid]`
/// (the stall's task, the message's, then the one that triggered the exit).
fn named_task(ctx: &Ctx<'_>, d: &FailureDump) -> Option<i32> {
    let (_, crash) = ctx.crash?;
    let stalled = scxray::report::stall::stall_of(crash)
        .and_then(|s| s.task)
        .and_then(|t| i32::try_from(t.pid).ok())
        .filter(|&p| d.task(p).is_some());
    stalled
        .or_else(|| crash.message.as_deref().and_then(|m| d.task_named_in(m)))
        .or_else(|| {
            crash
                .task
                .as_ref()
                .and_then(|t| i32::try_from(t.pid).ok())
                .filter(|&p| d.task(p).is_some())
        })
}

fn heading<'a>(text: String, theme: &Theme, out: &mut Vec<Line<'a>>) {
    out.push(Line::raw(""));
    out.push(Line::styled(text, theme.label));
}

fn ms(us: u64) -> String {
    format!("{:.1} ms", us as f64 / 1000.0)
}

fn dump_lines(
    d: &FailureDump,
    named: Option<i32>,
    width: usize,
    theme: &Theme,
    out: &mut Vec<Line<'_>>,
) {
    let hl = |pid: i32| named == Some(pid);
    let task_style = |pid: i32| if hl(pid) { theme.matched } else { Style::new() };
    // The named task carries the table's mark too: the style alone is lost
    // without colour.
    let shown = |t: &TaskRef| {
        if hl(t.pid) {
            format!("▶{}", task_ref(t))
        } else {
            task_ref(t)
        }
    };

    // Header: when, how, what.
    let how = match &d.trigger {
        Trigger::Watchpoint {
            rip, rip_symbol, ..
        } => {
            let mut s = "by the watchpoint on exit_kind".to_string();
            match (rip_symbol, rip) {
                (Some(sym), _) => s.push_str(&format!(", at {sym}")),
                (None, Some(r)) => s.push_str(&format!(", at {r:#x}")),
                (None, None) => {}
            }
            s
        }
        Trigger::Late { why, late_ms } => format!("{late_ms} ms after the error: {why}"),
        Trigger::Unknown => "(trigger unknown)".to_string(),
    };
    out.push(Line::from(vec![
        Span::styled("Frozen at ", theme.label),
        Span::raw(format!("{:.3} s ", d.at_ms as f64 / 1000.0)),
        Span::styled(
            how,
            if matches!(d.trigger, Trigger::Watchpoint { .. }) {
                Style::new()
            } else {
                theme.warning
            },
        ),
    ]));
    let kind = match (d.exit_kind, &d.exit_kind_name) {
        (Some(k), Some(n)) => format!("{n} ({k})"),
        (Some(k), None) => k.to_string(),
        (None, Some(n)) => n.clone(),
        (None, None) => "not read".to_string(),
    };
    out.push(Line::from(vec![
        Span::styled("Exit kind ", theme.label),
        Span::styled(kind, theme.error),
        Span::styled(
            format!(
                " · guest stopped {} (walk {})",
                ms(d.frozen_us),
                ms(d.walk_us)
            ),
            theme.dim,
        ),
    ]));
    if let Some(pid) = named {
        let comm = d.task(pid).map_or_else(String::new, |t| t.comm.clone());
        out.push(Line::from(vec![
            Span::styled("▶ ", theme.matched),
            Span::styled(format!("{comm}[{pid}]"), theme.matched),
            Span::styled(" is the task the error names, marked below", theme.dim),
        ]));
    }

    if !d.cpus.is_empty() {
        heading(format!("CPUs ({})", d.cpus.len()), theme, out);
        cpu_columns(d, width, &shown, &task_style, theme, out);
    }

    if !d.dsqs.is_empty() {
        heading(format!("DSQs ({})", d.dsqs.len()), theme, out);
        let w = d
            .dsqs
            .iter()
            .map(|q| dsq_name(q.id).width())
            .max()
            .unwrap_or(0);
        for q in &d.dsqs {
            let name = dsq_name(q.id);
            let mut spans = vec![
                Span::raw(format!("  {name:<w$}")),
                Span::styled(format!("  nr={}", q.nr), theme.dim),
            ];
            for t in &q.tasks {
                spans.push(Span::raw(" "));
                spans.push(Span::styled(shown(t), task_style(t.pid)));
            }
            out.push(Line::from(spans));
        }
    }

    heading(
        {
            let mut s = format!("Tasks ({} of {})", d.tasks.len(), d.tasks_total);
            let states: Vec<String> = d
                .task_states
                .iter()
                .map(|(name, n)| format!("{name}={n}"))
                .collect();
            if !states.is_empty() {
                s.push_str(&format!(" · {}", states.join(" ")));
            }
            s
        },
        theme,
        out,
    );
    task_table(d, named, width, theme, out);

    for m in &d.maps {
        heading(
            format!(
                "Map {} {} · {} · key {} B, value {} B, max {}",
                m.id, m.name, m.map_type, m.key_size, m.value_size, m.max_entries
            ),
            theme,
            out,
        );
        let kw = m
            .entries
            .iter()
            .map(|e| e.key.width())
            .max()
            .unwrap_or(0)
            .clamp(3, 24);
        if !m.entries.is_empty() {
            out.push(Line::styled(format!("  {:<kw$} │ VALUE", "KEY"), theme.dim));
        }
        // A decoded value reads field by field: wrapped at its commas
        // under the VALUE column, not cut at the pane's edge.
        let vw = width.saturating_sub(kw + 5);
        for e in &m.entries {
            for (i, part) in wrap_at_commas(&e.value, vw).into_iter().enumerate() {
                let key = if i == 0 { e.key.as_str() } else { "" };
                out.push(Line::from(vec![
                    Span::raw(format!("  {key:<kw$}")),
                    Span::styled(" │ ", theme.dim),
                    Span::raw(part),
                ]));
            }
        }
        if let Some(note) = &m.note {
            out.push(Line::styled(format!("  {note}"), theme.warning));
        } else if m.entries.is_empty() {
            out.push(Line::styled("  (no entries)", theme.dim));
        }
    }

    if !d.vcpus.is_empty() {
        heading("vCPU registers".into(), theme, out);
        for v in &d.vcpus {
            let mut head = vec![
                Span::styled(format!("  vCPU {:<3}", v.cpu), theme.label),
                Span::raw(format!(" rip {:#x}", v.rip)),
            ];
            if let Some(sym) = &v.rip_symbol {
                head.push(Span::styled(format!(" {sym}"), theme.bpf_frame));
            }
            head.push(Span::raw(format!(
                "  rsp {:#x}  rflags {:#x}",
                v.rsp, v.rflags
            )));
            out.push(Line::from(head));
            // The other registers packed to the width, aligned under rip.
            let mut line = String::new();
            for (name, value) in &v.gprs {
                let pair = format!("{name} {value:#x}");
                if !line.is_empty() && 12 + line.width() + 2 + pair.width() > width {
                    out.push(Line::raw(format!("{:12}{line}", "")));
                    line.clear();
                }
                if !line.is_empty() {
                    line.push_str("  ");
                }
                line.push_str(&pair);
            }
            if !line.is_empty() {
                out.push(Line::raw(format!("{:12}{line}", "")));
            }
        }
    }

    if !d.skipped.is_empty() {
        heading("Not read".into(), theme, out);
        for s in &d.skipped {
            out.push(Line::styled(format!("  {s}"), theme.warning));
        }
    }
}

fn task_ref(t: &TaskRef) -> String {
    format!("{}[{}]", t.comm, t.pid)
}

/// The CPUs as columns, as many side by side as the width holds.
fn cpu_columns(
    d: &FailureDump,
    width: usize,
    shown: &dyn Fn(&TaskRef) -> String,
    task_style: &dyn Fn(i32) -> Style,
    theme: &Theme,
    out: &mut Vec<Line<'_>>,
) {
    // Each column: cells of (text, style).
    let columns: Vec<Vec<(String, Style)>> = d
        .cpus
        .iter()
        .map(|c| {
            let mut cells = vec![(format!("CPU {}", c.cpu), theme.label)];
            cells.push(match &c.curr {
                Some(t) => (format!("curr {}", shown(t)), task_style(t.pid)),
                None => ("curr -".to_string(), theme.dim),
            });
            cells.push((
                format!("nr_running {} (scx {})", c.nr_running, c.scx_nr_running),
                Style::new(),
            ));
            cells.push((format!("scx.flags {:#x}", c.scx_flags), Style::new()));
            cells.push((format!("local DSQ {}", c.local_dsq_nr), theme.dim));
            for t in &c.local_dsq {
                cells.push((format!(" {}", shown(t)), task_style(t.pid)));
            }
            cells
        })
        .collect();
    let col = columns
        .iter()
        .flatten()
        .map(|(s, _)| s.width())
        .max()
        .unwrap_or(0)
        .clamp(CPU_COL_MIN, CPU_COL_MAX);
    let per_row = ((width.saturating_sub(2) + CPU_GAP) / (col + CPU_GAP)).max(1);
    for (g, group) in columns.chunks(per_row).enumerate() {
        if g > 0 {
            out.push(Line::raw(""));
        }
        let rows = group.iter().map(Vec::len).max().unwrap_or(0);
        for r in 0..rows {
            let mut spans = vec![Span::raw("  ")];
            for (i, cells) in group.iter().enumerate() {
                let (text, style) = cells
                    .get(r)
                    .cloned()
                    .unwrap_or_else(|| (String::new(), Style::new()));
                let text = fit(&text, col);
                let pad = if i + 1 < group.len() {
                    col - text.width() + CPU_GAP
                } else {
                    0
                };
                spans.push(Span::styled(text, style));
                if pad > 0 {
                    spans.push(Span::raw(" ".repeat(pad)));
                }
            }
            out.push(Line::from(spans));
        }
    }
}

/// `s` in lines of at most `w` columns, broken after a `, ` where it can
/// (a decoded struct reads field by field), else anywhere.
fn wrap_at_commas(s: &str, w: usize) -> Vec<String> {
    let w = w.max(8);
    let mut lines = Vec::new();
    let mut cur = String::new();
    for piece in s.split_inclusive(", ") {
        if !cur.is_empty() && (cur.clone() + piece).trim_end().width() > w {
            lines.push(std::mem::take(&mut cur).trim_end().to_string());
        }
        cur.push_str(piece);
        while cur.width() > w {
            let cut: String = cur.chars().scan(0, |n, c| {
                *n += unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
                (*n <= w).then_some(c)
            }).collect();
            let rest = cur[cut.len()..].to_string();
            lines.push(cut);
            cur = rest;
        }
    }
    if !cur.trim().is_empty() {
        lines.push(cur.trim_end().to_string());
    }
    lines
}

/// `s` cut to `w` columns with a `…` when longer.
fn fit(s: &str, w: usize) -> String {
    if s.width() <= w {
        return s.to_string();
    }
    let mut out = String::new();
    for c in s.chars() {
        let next = format!("{out}{c}");
        if next.width() + 1 > w {
            break;
        }
        out = next;
    }
    out.push('…');
    out
}

/// The task table: the named task first, marked; the others in dump order.
fn task_table(
    d: &FailureDump,
    named: Option<i32>,
    width: usize,
    theme: &Theme,
    out: &mut Vec<Line<'_>>,
) {
    if d.tasks.is_empty() {
        out.push(Line::styled("  (no tasks read)", theme.dim));
        return;
    }
    let mut tasks: Vec<&TaskDump> = d.tasks.iter().collect();
    if let Some(i) = tasks.iter().position(|t| Some(t.pid) == named) {
        let t = tasks.remove(i);
        tasks.insert(0, t);
    }
    let flags = |t: &TaskDump| {
        if t.flag_names.is_empty() {
            format!("{:#x}", t.flags)
        } else {
            format!("{:#x} {}", t.flags, t.flag_names.join("|"))
        }
    };
    let dsq = |t: &TaskDump| t.dsq.map_or_else(|| "-".to_string(), dsq_name);
    let waited = |t: &TaskDump| {
        t.runnable_for_jiffies
            .map_or_else(|| "-".to_string(), |j| format!("{j}j"))
    };
    let w = |f: &dyn Fn(&TaskDump) -> String, head: &str, max: usize| {
        tasks
            .iter()
            .map(|t| f(t).width())
            .chain([head.width()])
            .max()
            .unwrap_or(0)
            .min(max)
    };
    let pid_w = w(&|t| t.pid.to_string(), "PID", 12);
    let comm_w = w(&|t| t.comm.clone(), "COMM", 16);
    let state_w = w(&|t| t.state.clone(), "STATE", 12);
    let flags_w = w(&flags, "FLAGS", 28);
    let dsq_w = w(&dsq, "DSQ", 20);
    let row = |mark: &str, cells: [String; 10]| {
        let [pid, comm, cpu, state, fl, weight, slice, vtime, dq, wait] = cells;
        format!(
            "{mark}{pid:>pid_w$} {comm:<comm_w$} {cpu:>3} {state:<state_w$} {fl:<flags_w$} {weight:>6} {slice:>10} {vtime:>10} {dq:<dsq_w$} {wait:>6}",
            comm = fit(&comm, comm_w),
            fl = fit(&fl, flags_w),
            dq = fit(&dq, dsq_w),
        )
    };
    out.push(Line::styled(
        row(
            "  ",
            [
                "PID", "COMM", "CPU", "STATE", "FLAGS", "WEIGHT", "SLICE", "VTIME", "DSQ", "WAITED",
            ]
            .map(String::from),
        ),
        theme.dim,
    ));
    for t in tasks {
        let is_named = Some(t.pid) == named;
        let text = row(
            if is_named { "▶ " } else { "  " },
            [
                t.pid.to_string(),
                t.comm.clone(),
                t.cpu.to_string(),
                t.state.clone(),
                flags(t),
                t.weight.to_string(),
                t.slice.to_string(),
                t.dsq_vtime.to_string(),
                dsq(t),
                waited(t),
            ],
        );
        out.push(Line::styled(
            text,
            if is_named {
                theme.matched
            } else {
                Style::new()
            },
        ));
        // Under the named task, its whole entity as the kernel's BTF
        // decodes it.
        if let (true, Some(scx)) = (is_named, &t.scx) {
            out.push(Line::styled("    task_struct->scx:", theme.label));
            out.extend(
                wrap_at_commas(scx, width.saturating_sub(6))
                    .into_iter()
                    .map(|l| Line::styled(format!("      {l}"), theme.dim)),
            );
        }
    }
}

/// The summary line of a report's dump for the Summary pane: when it was
/// taken and what it holds; `None` without a dump.
pub fn summary_line(report: &Report) -> Option<String> {
    let parsed = Parsed::of(report, &SectionKind::FailureDump)?;
    let mut s = match parsed {
        Parsed::Dump(d) => format!(
            "frozen at {:.3} s · {} tasks · {} maps",
            d.at_ms as f64 / 1000.0,
            d.tasks_total,
            d.maps.len()
        ),
        Parsed::Broken { .. } => "present, but did not parse".to_string(),
    };
    if report.section(&SectionKind::ReproFailureDump).is_some() {
        s.push_str(" (and the repro VM's)");
    }
    Some(s)
}

/// The pane list's entry: for a report with a failure dump (the repro
/// VM's alone is shown too).
pub fn panes(report: &Report) -> Vec<Box<dyn Pane>> {
    let test = Parsed::of(report, &SectionKind::FailureDump);
    let repro = Parsed::of(report, &SectionKind::ReproFailureDump);
    if test.is_none() && repro.is_none() {
        return Vec::new();
    }
    vec![Box::new(FailureDumpPane {
        show_repro: test.is_none(),
        test,
        repro,
    })]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_cuts_with_a_mark() {
        assert_eq!(fit("scx-spin[153]", 20), "scx-spin[153]");
        assert_eq!(fit("scx-spin[153]", 6), "scx-s…");
    }

    /// Decoded values break after a comma; a piece longer than the width
    /// is split anywhere; nothing is lost and no line is wider than asked.
    #[test]
    fn wrap_at_commas_keeps_every_character_within_the_width() {
        let v = "{ a = 1, bb = 22, ccc = 333 }";
        assert_eq!(wrap_at_commas(v, 18), ["{ a = 1, bb = 22,", "ccc = 333 }"]);
        assert_eq!(wrap_at_commas(v, 200), [v]);
        let long = "x".repeat(30);
        let parts = wrap_at_commas(&long, 8);
        assert_eq!(parts.concat(), long);
        assert!(parts.iter().all(|p| p.width() <= 8), "{parts:?}");
        let wide = "漢字漢字漢字, ✓✓✓✓✓✓✓✓✓✓";
        let parts = wrap_at_commas(wide, 9);
        assert!(parts.iter().all(|p| p.width() <= 9), "{parts:?}");
        assert_eq!(parts.concat().replace(' ', ""), wide.replace(' ', ""));
        assert!(wrap_at_commas("", 10).is_empty());
    }
}
