//! Reliability of real runs (issue 15): SIGTERM and SIGHUP end the TUI as
//! `q` does, a second Ctrl-C does not cut the cleanup short, a run killed
//! outright has its scratch directory swept by the next run, and two runs
//! ending together keep both reports. They boot real guests; see tests/vm.rs
//! for what they need and how they skip.

#[path = "common/guest.rs"]
mod guest;
#[path = "../../tests/support/require.rs"]
mod require;
#[path = "common/tmux.rs"]
mod tmux;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use guest::{bin, missing, qemu_of, saved_reports, scxray, state_dir};

fn ready(test: &str) -> bool {
    require::require_vm(test, missing())
}

/// scxray's scratch space for runs (`<cache>/runs`), as the binary picks it.
fn runs_dir() -> PathBuf {
    scxray_vmm::kernel::KernelCache::root_from(|n| std::env::var_os(n))
        .unwrap()
        .join("runs")
}

/// Scratch directories of the run with this pid.
fn scratch_of(pid: u32) -> Vec<String> {
    let prefix = format!("run-{pid}-");
    std::fs::read_dir(runs_dir())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

fn wait_for(what: &str, limit: Duration, ok: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn signal(pid: u32, sig: i32) {
    // SAFETY: signalling a process this test started.
    unsafe { libc::kill(pid as i32, sig) };
}

fn read_pid(file: &Path) -> u32 {
    wait_for("the pid file", Duration::from_secs(10), || {
        std::fs::read_to_string(file).is_ok_and(|s| s.trim().parse::<u32>().is_ok())
    });
    std::fs::read_to_string(file)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// `q`, SIGTERM and SIGHUP from outside all end a live TUI run the same way:
/// terminal restored, guest stopped, scratch removed, report saved as
/// cancelled, exit 130.
#[test]
fn tui_ends_on_sigterm_and_sighup_like_q() {
    if !ready("tui_ends_on_sigterm_and_sighup_like_q") {
        return;
    }
    for sig in [libc::SIGTERM, libc::SIGHUP] {
        let _vm = guest::one_at_a_time();
        let state = state_dir();
        let pid_file = state.path().join("pid");
        // exec: the pid written is scxray's.
        let cmd = format!(
            "sh -c 'echo $$ > {pid}; exec env XDG_STATE_HOME={state} TERM=xterm-256color {bin} \
             demo --crash none --phase-ms 8000'; echo EXITED rc=$?; \
             stty -a | tr ' ' '\\n' | grep -x -- '-\\?icanon'; sleep 30",
            pid = pid_file.display(),
            state = state.path().display(),
            bin = bin().display()
        );
        let Some(t) = tmux::Tmux::start(120, 40, &cmd) else {
            return;
        };
        let pid = read_pid(&pid_file);
        t.wait_until_within(Duration::from_secs(120), "a running phase", |s| {
            s.contains("running phase")
        });
        signal(pid, sig);
        // `stty` prints its line just after `EXITED`: wait for both.
        let s = t.wait_until_within(Duration::from_secs(30), "the exit", |s| {
            s.contains("EXITED rc=")
                && s.lines()
                    .any(|l| l.trim() == "icanon" || l.trim() == "-icanon")
        });
        assert!(s.contains("EXITED rc=130"), "signal {sig}:\n{s}");
        assert!(
            s.lines().any(|l| l.trim() == "icanon"),
            "signal {sig}: terminal left in raw mode:\n{s}"
        );
        assert!(
            !s.contains("no crash so far"),
            "alternate screen not left:\n{s}"
        );
        assert!(qemu_of(pid).is_empty(), "signal {sig}: QEMU left running");
        assert!(scratch_of(pid).is_empty(), "signal {sig}: scratch left");
        let saved = saved_reports(state.path());
        assert_eq!(saved.len(), 1, "signal {sig}: {saved:?}");
        let text = std::fs::read_to_string(&saved[0]).unwrap();
        assert!(
            text.lines().next().unwrap_or("").ends_with("cancelled"),
            "signal {sig}: {text}"
        );
    }
}

fn headless_demo(state: &Path) -> Child {
    Command::new(bin())
        .args([
            "demo",
            "--headless",
            "--crash",
            "none",
            "--phase-ms",
            "8000",
        ])
        .env("XDG_STATE_HOME", state)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// A second Ctrl-C right after the first (an impatient user) does not skip
/// the cleanup: the report is saved and nothing is left.
#[test]
fn a_second_ctrl_c_does_not_skip_the_cleanup() {
    if !ready("a_second_ctrl_c_does_not_skip_the_cleanup") {
        return;
    }
    let _vm = guest::one_at_a_time();
    let state = state_dir();
    let child = headless_demo(state.path());
    let pid = child.id();
    wait_for("QEMU", Duration::from_secs(60), || !qemu_of(pid).is_empty());
    std::thread::sleep(Duration::from_millis(500));
    signal(pid, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(30));
    signal(pid, libc::SIGINT);
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(err.contains("report written to"), "{err}");
    assert!(qemu_of(pid).is_empty(), "QEMU left running");
    assert!(
        scratch_of(pid).is_empty(),
        "scratch left: {:?}",
        scratch_of(pid)
    );
    assert_eq!(saved_reports(state.path()).len(), 1);
}

/// SIGKILL leaves the run's scratch directory (nothing can clean up); the
/// next run removes it.
#[test]
fn scratch_of_a_killed_run_is_swept_by_the_next() {
    if !ready("scratch_of_a_killed_run_is_swept_by_the_next") {
        return;
    }
    let _vm = guest::one_at_a_time();
    let state = state_dir();
    let mut child = headless_demo(state.path());
    let pid = child.id();
    wait_for("QEMU", Duration::from_secs(60), || !qemu_of(pid).is_empty());
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !scratch_of(pid).is_empty(),
        "the killed run left no scratch?"
    );
    let o = scxray(
        &[
            "run",
            "--headless",
            "--scheduler",
            "/bin/true",
            "--phase-ms",
            "300",
        ],
        state.path(),
    );
    assert_eq!(
        o.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        scratch_of(pid).is_empty(),
        "not swept: {:?}",
        scratch_of(pid)
    );
    // QEMU dies with its parent (PR_SET_PDEATHSIG).
    wait_for("QEMU to go", Duration::from_secs(5), || {
        qemu_of(pid).is_empty()
    });
}

/// Two runs of the same test ending together: two reports, and the path
/// each prints holds its own run (its arguments are in the run description
/// next to it).
#[test]
fn concurrent_runs_keep_their_own_reports() {
    if !ready("concurrent_runs_keep_their_own_reports") {
        return;
    }
    let _vm = guest::one_at_a_time();
    let state = state_dir();
    let start = |word: &str| {
        Command::new(bin())
            .args([
                "run",
                "--headless",
                "--no-auto-repro",
                "--scheduler",
                "/bin/true",
                "--phase-ms",
                "300",
                "--",
                word,
            ])
            .env("XDG_STATE_HOME", state.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let runs = [("alpha", start("alpha")), ("beta", start("beta"))];
    let mut printed = Vec::new();
    for (word, child) in runs {
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(4), "{err}");
        let path = err
            .lines()
            .find_map(|l| l.strip_prefix("scxray: report written to "))
            .unwrap_or_else(|| panic!("no report path: {err}"))
            .to_string();
        let side = std::fs::read_to_string(Path::new(&path).with_extension("run.json")).unwrap();
        assert!(
            side.contains(&format!("\"{word}\"")),
            "{path} is not {word}'s run: {side}"
        );
        printed.push(path);
    }
    assert_ne!(printed[0], printed[1]);
    assert_eq!(saved_reports(state.path()).len(), 2);
}
