//! What the parser skipped or could not understand (`Report::notes`), so a
//! missing field on another pane has a visible reason. Listed only when there
//! are notes.

use ratatui::text::{Line, Span};

use scxray::report::Report;

use super::{wrap, Ctx, Pane};

pub struct NotesPane;

impl Pane for NotesPane {
    fn title(&self, ctx: &Ctx<'_>) -> String {
        format!("Notes ({})", ctx.report.notes.len())
    }

    fn lines<'a>(&'a self, ctx: &Ctx<'a>, width: u16) -> Vec<Line<'a>> {
        let theme = ctx.theme;
        let mut lines = vec![Line::styled(
            "What the parser skipped or could not understand:",
            theme.dim,
        )];
        for note in &ctx.report.notes {
            let place = note
                .section
                .map(|i| {
                    let name = ctx.report.sections.get(i).map_or("?", |s| s.kind.name());
                    format!("[{name}] ")
                })
                .unwrap_or_default();
            let text = format!("{place}{}", note.text);
            for (i, piece) in wrap(&text, usize::from(width).saturating_sub(2))
                .into_iter()
                .enumerate()
            {
                lines.push(Line::from(vec![
                    Span::styled(if i == 0 { "• " } else { "  " }, theme.warning),
                    Span::raw(piece.to_string()),
                ]));
            }
        }
        lines
    }
}

/// The pane list's entry: only when something was skipped or repaired.
pub fn panes(report: &Report) -> Vec<Box<dyn Pane>> {
    if report.notes.is_empty() {
        return Vec::new();
    }
    vec![Box::new(NotesPane)]
}
