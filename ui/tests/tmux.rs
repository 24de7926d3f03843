//! Drives the real binary in a real terminal (tmux): open a report, switch
//! panes, open help, resize, quit, and check that the terminal came back in
//! cooked mode on the main screen.

use std::path::Path;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(cols: u16, rows: u16, shell_cmd: &str) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            eprintln!("skipping: tmux is not installed (scripts/deps.sh test installs it)");
            return None;
        }
        let socket = format!("scxray-test-{}-{}", std::process::id(), rows);
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

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            Command::new("tmux")
                .args(["-L", &self.socket, "send-keys", k])
                .status()
                .unwrap();
            sleep(Duration::from_millis(150));
        }
    }

    fn screen(&self) -> String {
        let o = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Waits until the screen contains `needle` (the binary may still be starting).
    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.screen();
            if s.contains(needle) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {needle:?}; screen:\n{s}"
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

#[test]
fn open_navigate_resize_quit_restores_terminal() {
    let bin = env!("CARGO_BIN_EXE_scxray");
    let report =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/reports/crashfifo-7.3-ktstr.txt");
    let cmd = format!("TERM=xterm-256color {bin} open {}; echo EXITED rc=$?; stty -a | tr ' ' '\\n' | grep -x -- '-\\?icanon'; sleep 30", report.display());
    let Some(t) = Tmux::start(100, 30, &cmd) else {
        return;
    };

    let s = t.wait_for("scx_bpf_error (1025)");
    assert!(s.contains("apply_cell_config returned -EINVAL"), "{s}");

    t.keys(&["2"]);
    let s = t.wait_for("innermost first");
    assert!(
        s.contains("bpf_prog_3a0600fe7b4b0a35_apply_cell_config"),
        "{s}"
    );

    t.keys(&["Tab"]);
    t.wait_for("CPU 1");

    t.keys(&["?"]);
    t.wait_for("quit");
    t.keys(&["Escape"]);

    t.keys(&["5", "G"]);
    t.wait_for("scheduler log");

    Command::new("tmux")
        .args(["-L", &t.socket, "resize-window", "-x", "40", "-y", "10"])
        .status()
        .unwrap();
    sleep(Duration::from_millis(300));
    Command::new("tmux")
        .args(["-L", &t.socket, "resize-window", "-x", "20", "-y", "5"])
        .status()
        .unwrap();
    sleep(Duration::from_millis(300));
    Command::new("tmux")
        .args(["-L", &t.socket, "resize-window", "-x", "120", "-y", "40"])
        .status()
        .unwrap();
    t.wait_for("scx_bpf_error (1025)");

    t.keys(&["q"]);
    let s = t.wait_for("EXITED rc=0");
    // Raw mode was left: the tty is canonical again, and the TUI's screen is gone.
    assert!(
        s.lines().any(|l| l.trim() == "icanon"),
        "terminal left in raw mode:\n{s}"
    );
    assert!(!s.contains("Tab/S-Tab"), "alternate screen not left:\n{s}");
}

#[test]
fn unreadable_file_message_in_terminal() {
    let bin = env!("CARGO_BIN_EXE_scxray");
    let cmd = format!("{bin} open /nonexistent/x.log; echo EXITED rc=$?; sleep 30");
    let Some(t) = Tmux::start(100, 10, &cmd) else {
        return;
    };
    let s = t.wait_for("EXITED rc=2");
    assert!(
        s.contains("scxray: error: /nonexistent/x.log: no such file"),
        "{s}"
    );
}
