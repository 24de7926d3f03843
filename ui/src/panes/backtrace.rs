//! The selected crash's backtrace, coloured by what each frame is.
//!
//! BPF programs are usually where a scheduler bug lives, so they stand out;
//! exit helpers and IRQ entry appear in every crash, so they are dimmed. The
//! first frame worth reading (`Crash::top_frame`) is marked.

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use scxray::report::{Frame, FrameClass, Report, SectionKind};
use unicode_width::UnicodeWidthStr;

use super::{Ctx, Pane};
use crate::source_lookup::SourceState;
use crate::theme::Theme;

/// Frame text wider than this is not padded to align the class column.
const MAX_ALIGN: usize = 64;

/// Columns before a frame's text: `#12 ` and the `▸ ` mark.
const FRAME_INDENT: usize = 6;

pub struct BacktracePane;

impl Pane for BacktracePane {
    fn title(&self, _ctx: &Ctx<'_>) -> String {
        "Backtrace".to_string()
    }

    fn role(&self) -> Option<super::Role> {
        Some(super::Role::Backtrace)
    }

    fn follows_crash(&self) -> bool {
        true
    }

    fn frame_at_line(&self, ctx: &Ctx<'_>, line: usize) -> Option<usize> {
        let (_, crash) = ctx.crash?;
        // Line 0 is the legend.
        line.checked_sub(1).filter(|&i| i < crash.backtrace.len())
    }

    fn lines<'a>(&'a self, ctx: &Ctx<'a>, width: u16) -> Vec<Line<'a>> {
        let theme = ctx.theme;
        let Some((_, crash)) = ctx.crash else {
            return vec![Line::styled(
                "No crash was found, so there is no backtrace.",
                theme.warning,
            )];
        };
        if crash.backtrace.is_empty() {
            return vec![Line::styled(
                "This crash has no backtrace: the input did not include one.",
                theme.warning,
            )];
        }
        let top = crash.top_frame();
        let texts: Vec<String> = crash.backtrace.iter().map(frame_text).collect();
        let widest_tag = crash
            .backtrace
            .iter()
            .map(|f| class_tag(&f.class).width())
            .max()
            .unwrap_or(0);
        // The class column sits after the longest frame, or further left
        // where that would push the widest tag past the edge: frames longer
        // than the column then have their tag after them, cut with a mark
        // if it does not fit.
        let fits = usize::from(width).saturating_sub(FRAME_INDENT + 2 + widest_tag);
        let align = texts
            .iter()
            .map(|t| t.width())
            .filter(|&w| w <= MAX_ALIGN)
            .max()
            .unwrap_or(0)
            .min(fits);
        // One line (clicks count frames from line 1): the short form where
        // the long one would be cut.
        let n = crash.backtrace.len();
        let mut legend = format!(
            "{n} frames, innermost first · ▸ first frame worth reading · generic plumbing dimmed"
        );
        if legend.width() > usize::from(width) {
            legend = format!("{n} frames, innermost first · ▸ worth reading · plumbing dimmed");
        }
        let mut lines = vec![Line::styled(legend, theme.dim)];
        for (i, (frame, text)) in crash.backtrace.iter().zip(texts).enumerate() {
            let is_top = top.is_some_and(|t| std::ptr::eq(t, frame));
            let pad = align.saturating_sub(text.width());
            let clicked = ctx.frame == Some(i);
            let mut spans = vec![
                Span::styled(
                    format!("#{i:<3}"),
                    if clicked {
                        theme.selected
                    } else {
                        theme.line_number
                    },
                ),
                Span::raw(match (clicked, is_top) {
                    (true, _) => "» ",
                    (false, true) => "▸ ",
                    (false, false) => "  ",
                }),
                Span::styled(text, frame_style(&frame.class, theme)),
            ];
            let tag = class_tag(&frame.class);
            if !tag.is_empty() {
                spans.push(Span::raw(" ".repeat(pad + 2)));
                spans.push(Span::styled(tag, theme.dim));
            }
            lines.push(Line::from(spans));
        }
        if ctx.report.section(&SectionKind::FailureDump).is_some() {
            lines.push(Line::styled(
                "F: the failure dump (the guest frozen at this exit: runqueues, tasks, maps)",
                theme.dim,
            ));
        }
        if let Some(frame) = ctx
            .frame
            .and_then(|i| crash.backtrace.get(i).map(|f| (i, f)))
        {
            let source = match ctx.source {
                SourceState::Found(hit) => Some(hit),
                _ => None,
            };
            lines.extend(frame_details(frame, source, theme));
        }
        lines
    }
}

/// What is known about the selected frame: its kind and, when `--source`
/// directories hold it, where its function is defined (found by name; the
/// Source pane shows the code). Probe data comes with auto-repro.
fn frame_details<'a>(
    (i, frame): (usize, &Frame),
    source: Option<&scxray::source::SourceHit>,
    theme: &Theme,
) -> Vec<Line<'a>> {
    let mut lines = vec![
        Line::raw(""),
        Line::styled(format!("Frame #{i}: {}", frame_text(frame)), theme.label),
    ];
    let what = match &frame.class {
        FrameClass::BpfProg { tag, name } => format!("BPF program {name} (tag {tag})"),
        FrameClass::Trampoline => "BPF trampoline".to_string(),
        FrameClass::Generic => "generic kernel plumbing".to_string(),
        FrameClass::Kernel => "kernel function".to_string(),
    };
    lines.push(Line::raw(format!("  {what}")));
    lines.push(match source {
        Some(hit) => Line::styled(
            format!(
                "  source: {}:{} (found by name) · Enter or v shows it",
                hit.path.display(),
                hit.line
            ),
            theme.label,
        ),
        None => Line::styled(
            "  source: not found (scxray open --source DIR looks functions up by name)",
            theme.dim,
        ),
    });
    lines.push(Line::styled(
        "  probe data: not available yet (auto-repro)",
        theme.dim,
    ));
    lines
}

/// `function+0xOFF/0xSIZE [module]`, as the kernel prints it.
pub(crate) fn frame_text(frame: &Frame) -> String {
    let mut s = frame.function.clone();
    if let Some(off) = frame.offset {
        s.push_str(&format!("+{off:#x}"));
        if let Some(size) = frame.size {
            s.push_str(&format!("/{size:#x}"));
        }
    }
    if let Some(module) = &frame.module {
        s.push_str(&format!(" [{module}]"));
    }
    s
}

pub(crate) fn frame_style(class: &FrameClass, theme: &Theme) -> Style {
    match class {
        FrameClass::BpfProg { .. } => theme.bpf_frame,
        FrameClass::Trampoline => theme.trampoline_frame,
        FrameClass::Generic => theme.dim,
        FrameClass::Kernel => Style::new(),
    }
}

/// What the class column says; kernel frames need no tag.
pub(crate) fn class_tag(class: &FrameClass) -> &'static str {
    match class {
        FrameClass::BpfProg { .. } => "BPF program",
        FrameClass::Trampoline => "BPF trampoline",
        FrameClass::Generic => "generic",
        FrameClass::Kernel => "",
    }
}

/// The pane list's entry: always there, it says when there is no crash.
pub fn panes(_report: &Report) -> Vec<Box<dyn Pane>> {
    vec![Box::new(BacktracePane)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_text_follows_kernel_format() {
        let f = Frame {
            function: "balance_one".into(),
            offset: Some(0x10f),
            size: Some(0x2c0),
            module: None,
            class: FrameClass::Kernel,
        };
        assert_eq!(frame_text(&f), "balance_one+0x10f/0x2c0");
        let f = Frame {
            function: "foo".into(),
            offset: None,
            size: None,
            module: Some("scx_mod".into()),
            class: FrameClass::Kernel,
        };
        assert_eq!(frame_text(&f), "foo [scx_mod]");
    }
}
