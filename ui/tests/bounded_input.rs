//! Issue 15, item 5: what is read into memory is bounded. Endless input
//! (`yes |`, a device) stops at `--max-input` with a message naming the limit
//! and the flag; NUL bytes are refused as binary; `scxray open` on a FIFO that
//! sends nothing shows "waiting for input" and `q` quits it.

#[path = "../../tests/support/require.rs"]
mod require;
#[path = "common/tmux.rs"]
mod tmux;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tmux::Tmux;

/// Waits for `child` at most `limit`; kills it (and fails) past that.
fn wait_or_kill(mut child: Child, limit: Duration) -> (Option<i32>, String) {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            return (status.code(), err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("scxray still ran after {limit:?} on endless input");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `yes | scxray ARGS`: stdin never ends; the writer stops when scxray is gone.
fn endless_stdin(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scxray"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn scxray");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let chunk = b"y\n".repeat(32 * 1024);
        // Ends with EPIPE once scxray has stopped reading.
        while stdin.write_all(&chunk).is_ok() {}
    });
    let out = wait_or_kill(child, Duration::from_secs(60));
    writer.join().unwrap();
    out
}

#[test]
fn endless_stdin_stops_at_max_input_with_the_limit_and_the_flag() {
    for args in [
        &["report", "--max-input", "1M", "-"][..],
        &["report", "--json", "-", "--max-input", "1M"],
        &["pin", "check", "--contains", "y", "--max-input", "1M", "-"],
        &["pin", "suggest", "--max-input", "1M", "-"],
    ] {
        let (code, err) = endless_stdin(args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(
            err.contains("-: more input than the 1 MiB scxray reads into memory"),
            "{args:?}: {err}"
        );
        assert!(
            err.contains("--max-input SIZE raises the limit"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn the_default_limit_and_the_flag_are_in_help() {
    let o = Command::new(env!("CARGO_BIN_EXE_scxray"))
        .args(["report", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.contains("--max-input <SIZE>"), "{help}");
    assert!(help.contains("(default 1G)"), "{help}");
    let o = Command::new(env!("CARGO_BIN_EXE_scxray"))
        .args(["report", "--max-input", "lots", "-"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("`lots` is not a size"));
}

#[test]
fn a_file_that_must_be_copied_is_refused_by_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("crlf.log");
    std::fs::write(&p, "EXIT: runtime error (x)\r\n".repeat(100_000)).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_scxray"))
        .args(["report", "--max-input", "1M", p.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("2.4 MiB to copy into memory"), "{err}");
    assert!(err.contains("--max-input 4M"), "{err}");
    // Raised, it reads.
    let o = Command::new(env!("CARGO_BIN_EXE_scxray"))
        .args(["report", "--max-input", "4M", "--section", "crash"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn dev_zero_is_refused_at_once_as_binary() {
    for args in [
        &["report", "/dev/zero"][..],
        &["pin", "check", "--contains", "x", "/dev/zero"],
    ] {
        let child = Command::new(env!("CARGO_BIN_EXE_scxray"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (code, err) = wait_or_kill(child, Duration::from_secs(30));
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains("/dev/zero: binary data"), "{args:?}: {err}");
        assert!(err.contains("100% NUL"), "{args:?}: {err}");
    }
}

/// `scxray open FIFO` with no writer yet: the waiting screen, then `q`
/// quits with the terminal restored. A second run gets its report through
/// the FIFO while waiting and shows it.
#[test]
fn open_on_a_silent_fifo_waits_and_q_quits() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("report.fifo");
    let ok = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mkfifo");
    let bin = env!("CARGO_BIN_EXE_scxray");
    let cmd = format!(
        "TERM=xterm-256color {bin} open {}; echo EXITED rc=$?; stty -a | tr ' ' '\\n' | grep -x -- '-\\?icanon'; sleep 30",
        fifo.display()
    );
    let Some(t) = Tmux::start(100, 20, &cmd) else {
        return;
    };
    let s = t.wait_for("waiting for input on");
    assert!(s.contains("report.fifo"), "{s}");
    assert!(s.contains("q quits"), "{s}");
    t.keys(&["q"]);
    t.assert_restored("waiting for input");
    drop(t);

    let Some(t) = Tmux::start(100, 30, &cmd) else {
        return;
    };
    t.wait_for("waiting for input on");
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/reports/crashfifo-7.3-ktstr.txt");
    let report = std::fs::read(example).unwrap();
    // Opening the FIFO for writing is what the reader was blocked on.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&fifo)
        .unwrap()
        .write_all(&report)
        .unwrap();
    t.wait_for("scx_bpf_error (1025)");
    t.keys(&["q"]);
    t.assert_restored("scx_bpf_error (1025)");
}
