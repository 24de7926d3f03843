//! scxray's terminal UI: shows a parsed crash [`Report`] in panes.
//!
//! - [`app`]: state, the pure key handler, layout and drawing of the screen.
//! - [`keymap`]: the key table that also generates hints and help.
//! - [`panes`]: one file per pane (summary, backtrace, CPU states, section text,
//!   notes) plus the help overlay.
//! - [`theme`]: styles by role; [`terminal`]: raw mode, alternate screen and
//!   the panic hook that restores them.
//!
//! [`run_open`] is what the binary calls; [`run`] is the same loop over any
//! backend and event source, for tests.

use std::io;

use anyhow::Context;
use crossterm::event::Event;
use ratatui::backend::Backend;
use ratatui::Terminal;
use scxray::report::Report;

pub mod app;
pub mod keymap;
pub mod panes;
pub mod terminal;
pub mod theme;

pub use app::{handle_key, App};
pub use keymap::Action;

/// Opens `report` in the terminal until the user quits. `source` is the input's
/// name for the title bar.
pub fn run_open(report: Report, source: &str) -> anyhow::Result<()> {
    let mut app = App::new(report, source);
    let mut tui = terminal::Tui::enter()?;
    run(tui.terminal(), &mut app, crossterm::event::read)
}

/// Draws, then blocks on `next_event` and redraws only after something
/// changed, so an idle UI uses no CPU. Returns when a key asks to quit.
pub fn run<B>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    mut next_event: impl FnMut() -> io::Result<Event>,
) -> anyhow::Result<()>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
{
    let size = terminal.size().context("cannot read the terminal size")?;
    app.resize(size.width, size.height);
    loop {
        terminal
            .draw(|frame| frame.render_widget(&*app, frame.area()))
            .context("cannot draw")?;
        loop {
            match next_event().context("cannot read terminal input")? {
                Event::Key(key) => match handle_key(app, key) {
                    Action::Quit => return Ok(()),
                    Action::None => continue,
                    _ => break,
                },
                Event::Resize(width, height) => {
                    app.resize(width, height);
                    break;
                }
                // Mouse, focus and paste events are not used yet.
                _ => continue,
            }
        }
    }
}
