//! The selected backtrace frame's source: its function's definition, found
//! by name in the `--source` directories, highlighted in the theme's syntax
//! theme.
//!
//! With no frame selected it shows the first frame worth reading, so opening
//! the pane after a crash lands on the likely culprit. The match is by name
//! (no debug info yet), and the pane says so; line-exact locations and probe
//! data come with symbolization and auto-repro.

use std::cell::RefCell;
use std::path::PathBuf;

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use scxray::report::{Crash, FrameClass, Report};
use scxray::source::SourceHit;

use super::backtrace::{class_tag, frame_style, frame_text};
use super::{wrap, Ctx, Pane, Role};
use crate::source_lookup::SourceState;
use crate::syntax::highlight;

/// Lines above the code: the frame, where it was found, a blank.
const HEADER_LINES: usize = 3;

#[derive(Default)]
pub struct SourcePane {
    /// The highlighted code of the last hit drawn, keyed by what it depends
    /// on: highlighting is far slower than drawing, and frames are redrawn
    /// on every key.
    cache: RefCell<Option<(CacheKey, Vec<Line<'static>>)>>,
}

type CacheKey = (PathBuf, usize, Option<&'static str>);

/// The frame the pane shows: the selected one, else the top frame.
pub fn shown_frame(ctx: &Ctx<'_>, crash: &Crash) -> Option<usize> {
    ctx.frame
        .filter(|&i| i < crash.backtrace.len())
        .or_else(|| crash.top_frame_index())
}

/// The name a frame's function has in its source.
pub fn source_name(crash: &Crash, frame: usize) -> Option<&str> {
    let frame = crash.backtrace.get(frame)?;
    Some(match &frame.class {
        FrameClass::BpfProg { name, .. } if !name.is_empty() => name.as_str(),
        _ => frame.function.as_str(),
    })
}

/// The `file:line` an upstream `scx_bpf_error()` message carries
/// (`__FILE__:__LINE__: ...`), for the innermost BPF frame, where the error
/// was raised: `(file name, line)`. Only the file name: the build directory
/// is another machine's.
pub fn message_location(crash: &Crash, frame: usize) -> Option<(String, usize)> {
    let (file, line) = crash.source.as_ref()?;
    let innermost_bpf = crash
        .backtrace
        .iter()
        .position(|f| matches!(f.class, FrameClass::BpfProg { .. }))?;
    (innermost_bpf == frame).then(|| {
        let name = file.rsplit('/').next().unwrap_or(file);
        (name.to_string(), *line as usize)
    })
}

impl SourcePane {
    fn code(&self, hit: &SourceHit, syntax_theme: Option<&'static str>) -> Vec<Line<'static>> {
        let key = (hit.path.clone(), hit.line, syntax_theme);
        if let Some((k, lines)) = &*self.cache.borrow() {
            if *k == key {
                return lines.clone();
            }
        }
        let src: String = hit.context.iter().map(|(_, l)| format!("{l}\n")).collect();
        let ext = hit.path.extension().and_then(|e| e.to_str()).unwrap_or("c");
        let lines = highlight(ext, &src, syntax_theme);
        *self.cache.borrow_mut() = Some((key, lines.clone()));
        lines
    }
}

impl Pane for SourcePane {
    fn title(&self, _ctx: &Ctx<'_>) -> String {
        "Source".to_string()
    }

    fn role(&self) -> Option<Role> {
        Some(Role::Source)
    }

    fn follows_crash(&self) -> bool {
        true
    }

    fn lines<'a>(&'a self, ctx: &Ctx<'a>, width: u16) -> Vec<Line<'a>> {
        let theme = ctx.theme;
        if let Some(lines) = ctx.probe.and_then(|i| self.probe_lines(ctx, i, width)) {
            return lines;
        }
        let Some((_, crash)) = ctx.crash else {
            return vec![Line::styled(
                "No crash was found, so there is no frame to show.",
                theme.warning,
            )];
        };
        let Some(i) = shown_frame(ctx, crash) else {
            return vec![Line::styled(
                "This crash has no backtrace, so there is no frame to show.",
                theme.warning,
            )];
        };
        let frame = &crash.backtrace[i];
        let mut head = vec![
            Span::styled(format!("#{i} "), theme.line_number),
            Span::styled(frame_text(frame), frame_style(&frame.class, theme)),
        ];
        let tag = class_tag(&frame.class);
        if !tag.is_empty() {
            head.push(Span::styled(format!("  {tag}"), theme.dim));
        }
        if ctx.frame.is_none() {
            head.push(Span::styled(
                "  (first frame worth reading; j/k in Backtrace picks another)",
                theme.dim,
            ));
        }
        let name = source_name(crash, i).unwrap_or_default();
        let (what, label) = match message_location(crash, i) {
            Some((file, line)) => (
                format!("{file}:{line}"),
                format!("{name} at the line its error message names"),
            ),
            None => (
                name.to_string(),
                format!("{name} found by name, not from debug info"),
            ),
        };
        self.with_code(ctx, vec![Line::from(head)], &what, &label, width)
    }
}

impl SourcePane {
    /// The selected auto-repro function: its printed `file:line`, exact.
    fn probe_lines<'a>(&'a self, ctx: &Ctx<'a>, i: usize, width: u16) -> Option<Vec<Line<'a>>> {
        let theme = ctx.theme;
        let model = scxray::sections::auto_repro(ctx.report)?;
        let f = *super::auto_repro::functions(&model).get(i)?;
        let head = Line::from(vec![
            Span::styled(f.name.clone(), theme.label),
            Span::styled(
                "  (auto-repro probe; j/k in Auto-repro picks another)",
                theme.dim,
            ),
        ]);
        let (what, label) = match &f.location {
            Some(l) => (
                format!("{}:{}", l.file, l.line),
                format!("{} at the location the probe printed", f.name),
            ),
            None => (
                f.name.clone(),
                format!("{} found by name: the probe printed no location", f.name),
            ),
        };
        Some(self.with_code(ctx, vec![head], &what, &label, width))
    }

    /// `lines` (the header), then the looked-up code of `what` with the
    /// found line marked, or why there is none (wrapped to `width`: the
    /// hint is prose, not a column to cut).
    fn with_code<'a>(
        &'a self,
        ctx: &Ctx<'a>,
        mut lines: Vec<Line<'a>>,
        what: &str,
        label: &str,
        width: u16,
    ) -> Vec<Line<'a>> {
        let theme = ctx.theme;
        let mut prose = |text: &str, style| {
            for piece in wrap(text, usize::from(width)) {
                lines.push(Line::styled(piece.to_string(), style));
            }
        };
        let hit = match ctx.source {
            SourceState::Found(hit) => hit,
            SourceState::LookingUp => {
                prose(
                    &format!("looking up {what} in the --source directories…"),
                    theme.dim,
                );
                return lines;
            }
            SourceState::Idle | SourceState::NotFound => {
                prose(&format!("No source found for {what}."), theme.warning);
                prose(
                    "scxray open --source DIR looks functions up by name in the C and BPF C files \
                     under DIR; scxray demo adds the demo scheduler's source.",
                    theme.dim,
                );
                prose("", Style::new());
                prose(
                    "Probe data (arguments, file:line) comes with auto-repro.",
                    theme.dim,
                );
                return lines;
            }
        };
        lines.push(Line::styled(
            format!("{}:{} · {label}", hit.path.display(), hit.line),
            theme.label,
        ));
        lines.push(Line::raw(""));
        debug_assert_eq!(lines.len(), HEADER_LINES);
        let code = self.code(hit, theme.syntax_theme);
        for ((n, _), code) in hit.context.iter().zip(code) {
            let here = *n == hit.line;
            let mut spans = vec![
                Span::styled(
                    format!("{n:>5}"),
                    if here {
                        theme.selected
                    } else {
                        theme.line_number
                    },
                ),
                Span::raw(if here { " ▶ " } else { "   " }),
            ];
            spans.extend(code.spans);
            lines.push(Line::from(spans));
        }
        lines
    }
}

/// The pane list's entry: a crash's frames, or auto-repro's functions, have
/// source to show.
pub fn panes(report: &Report) -> Vec<Box<dyn Pane>> {
    let probes = report
        .section(&scxray::report::SectionKind::AutoRepro)
        .is_some();
    if report.crashes.is_empty() && !probes {
        return Vec::new();
    }
    vec![Box::new(SourcePane::default())]
}
