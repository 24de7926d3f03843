//! Driving the real binary in a real terminal: a private tmux server per
//! test, keys in, screen text out. Included with `#[path]` by the tests that
//! need it (not through `common/mod.rs`, which benches include too).

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

static NEXT: AtomicUsize = AtomicUsize::new(0);

pub struct Tmux {
    pub socket: String,
}

impl Tmux {
    /// Starts `shell_cmd` in a detached `cols`x`rows` session; `None` (and a
    /// note) when tmux is not installed.
    pub fn start(cols: u16, rows: u16, shell_cmd: &str) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            eprintln!("skipping: tmux is not installed (scripts/deps.sh test installs it)");
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
        let deadline = Instant::now() + Duration::from_secs(20);
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
