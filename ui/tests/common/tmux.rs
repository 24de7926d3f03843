//! Driving the real binary in a real terminal: a private tmux server per
//! test, keys in, screen text out. Included with `#[path]` by the tests that
//! need it (not through `common/mod.rs`, which benches include too).

#![allow(dead_code)] // each test binary uses a different part

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

static NEXT: AtomicUsize = AtomicUsize::new(0);

pub struct Tmux {
    pub socket: String,
}

impl Tmux {
    /// `scxray open` on the bundled crash report; after it exits the shell
    /// prints its exit code and whether the tty is canonical again.
    pub fn open_example(cols: u16, rows: u16) -> Option<Tmux> {
        let bin = env!("CARGO_BIN_EXE_scxray");
        let report = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples/reports/crashfifo-7.3-ktstr.txt");
        let cmd = format!(
            "TERM=xterm-256color {bin} open {}; echo EXITED rc=$?; stty -a | tr ' ' '\\n' | grep -x -- '-\\?icanon'; sleep 30",
            report.display()
        );
        Tmux::start(cols, rows, &cmd)
    }

    /// After a quit key: waits for a clean exit, checks raw mode was left and
    /// that `tui_text` (something only the TUI shows) is gone with the
    /// alternate screen. Returns the screen.
    pub fn assert_restored(&self, tui_text: &str) -> String {
        let s = self.wait_for("EXITED rc=0");
        assert!(
            s.lines().any(|l| l.trim() == "icanon"),
            "terminal left in raw mode:\n{s}"
        );
        assert!(!s.contains(tui_text), "alternate screen not left:\n{s}");
        s
    }

    /// Starts `shell_cmd` in a detached `cols`x`rows` session; `None` (and a
    /// note) when tmux is not installed.
    pub fn start(cols: u16, rows: u16, shell_cmd: &str) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            crate::require::skip(
                "tmux end-to-end test",
                "tmux is not installed (scripts/deps.sh test installs it)",
            );
            return None;
        }
        // Tests of one binary run in parallel: one server each.
        let socket = format!(
            "scxray-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let ok = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                &cols.to_string(),
                "-y",
                &rows.to_string(),
                shell_cmd,
            ])
            .status()
            .expect("run tmux")
            .success();
        assert!(ok, "tmux new-session failed");
        Some(Tmux { socket })
    }

    /// Sends tmux key names (`Tab`, `Escape`, `q`), pausing after each so
    /// the app draws before the next one.
    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            Command::new("tmux")
                .args(["-L", &self.socket, "send-keys", k])
                .status()
                .unwrap();
            sleep(Duration::from_millis(150));
        }
    }

    /// Types `text` literally, one key per character, as a user would.
    pub fn type_text(&self, text: &str) {
        for c in text.chars() {
            Command::new("tmux")
                .args(["-L", &self.socket, "send-keys", "-l", &c.to_string()])
                .status()
                .unwrap();
            sleep(Duration::from_millis(30));
        }
    }

    pub fn resize(&self, cols: u16, rows: u16) {
        Command::new("tmux")
            .args([
                "-L",
                &self.socket,
                "resize-window",
                "-x",
                &cols.to_string(),
                "-y",
                &rows.to_string(),
            ])
            .status()
            .unwrap();
    }

    /// A tmux format about the pane, e.g. `#{mouse_sgr_flag}`.
    // Not every includer asks.
    #[allow(dead_code)]
    pub fn display(&self, format: &str) -> String {
        let o = Command::new("tmux")
            .args(["-L", &self.socket, "display-message", "-p", format])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    pub fn screen(&self) -> String {
        let o = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Waits until the screen contains `needle` (the binary may still be starting).
    pub fn wait_for(&self, needle: &str) -> String {
        self.wait_until(needle, |s| s.contains(needle))
    }

    /// Waits until `ok` holds for the screen; `what` names it in the failure.
    pub fn wait_until(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        self.wait_until_within(Duration::from_secs(20), what, ok)
    }

    /// [`Tmux::wait_until`] with a limit of its own (a VM boots under TCG).
    pub fn wait_until_within(
        &self,
        limit: Duration,
        what: &str,
        ok: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what:?}; screen:\n{s}"
            );
            sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}
