//! Owning the terminal: raw mode and the alternate screen, and giving them
//! back on every way out.
//!
//! A TUI that dies with the terminal in raw mode leaves the user's shell
//! unusable and the panic message garbled. So restoring happens in three
//! places: [`Tui`]'s `Drop` (normal exit and `?` error paths), and a panic
//! hook that restores *before* the default hook prints the panic. A flag makes
//! restoring idempotent and keeps the hook silent when no TUI is active.
//!
//! Mouse reporting is on while the TUI runs: clicks and the wheel only
//! (modes 1000 and 1006, SGR coordinates), not motion, so moving the mouse
//! does not wake the event loop. Most terminals still select text with
//! Shift held.

use std::io::Write;

use std::io::{self, IsTerminal, Stdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

use anyhow::{bail, Context};
use crossterm::cursor::{Hide, Show};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

/// Report button presses, releases and the wheel, in SGR encoding.
const MOUSE_ON: &[u8] = b"\x1b[?1000h\x1b[?1006h";
const MOUSE_OFF: &[u8] = b"\x1b[?1006l\x1b[?1000l";

/// True between entering raw mode and restoring.
static ACTIVE: AtomicBool = AtomicBool::new(false);
static HOOK: Once = Once::new();

/// The terminal in TUI mode; dropping it restores the terminal.
pub struct Tui {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl Tui {
    /// Installs the panic hook, enters raw mode and the alternate screen.
    pub fn enter() -> anyhow::Result<Tui> {
        // Keys are read from /dev/tty by crossterm, so only stdout must be a
        // terminal (`scxray - < report.txt` works).
        if !io::stdout().is_terminal() {
            bail!("the terminal UI needs stdout to be a terminal");
        }
        install_panic_hook();
        enable_raw_mode().context("cannot switch the terminal to raw mode")?;
        ACTIVE.store(true, Ordering::SeqCst);
        // From here on, an early return drops nothing that restores, so do it by hand.
        let entered = execute!(io::stdout(), EnterAlternateScreen, Hide)
            .and_then(|()| {
                let mut out = io::stdout();
                out.write_all(MOUSE_ON)?;
                out.flush()
            })
            .context("cannot enter the alternate screen")
            .and_then(|()| {
                Terminal::new(CrosstermBackend::new(io::stdout()))
                    .context("cannot set up the terminal")
            });
        match entered {
            Ok(terminal) => Ok(Tui { terminal }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }

    pub fn terminal(&mut self) -> &mut Terminal<CrosstermBackend<Stdout>> {
        &mut self.terminal
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        restore();
    }
}

/// Leaves the alternate screen and raw mode, once; errors are ignored because
/// this runs while exiting or panicking, where nothing better can be done.
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = io::stdout().write_all(MOUSE_OFF);
        let _ = execute!(io::stdout(), LeaveAlternateScreen, Show);
        let _ = disable_raw_mode();
    }
}

/// Chains a restore in front of the existing hook, once per process.
fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_without_tui_does_nothing_and_is_repeatable() {
        // Must not write escape codes or touch termios when nothing was entered.
        restore();
        restore();
        assert!(!ACTIVE.load(Ordering::SeqCst));
    }
}
