//! End-to-end tests of the `scxray` binary: exit codes, output forms, bad input.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

#[path = "../../tests/support/require.rs"]
mod require;
#[path = "../../tests/support/stats_line.rs"]
mod stats_line;
use stats_line::stats_line;

fn scxray(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scxray"))
        .args(args)
        .output()
        .expect("run scxray")
}

fn scxray_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scxray"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn scxray");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/reports/crashfifo-7.3-ktstr.txt")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn bundled_example_reports_crash() {
    let o = scxray(&["report", example().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("exit:      scx_bpf_error (1025)"), "{out}");
    assert!(out.contains("apply_cell_config"), "{out}");
    assert!(out.contains("--- scheduler log ---"), "{out}");
}

#[test]
fn public_fixtures_exit_codes() {
    let Some(fixtures) = require::require_shared_fixtures("cli::public_fixtures_exit_codes") else {
        return;
    };
    let dir = fixtures.join("public");
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let o = scxray(&["report", e.path().to_str().unwrap()]);
        // 35 is a throughput failure, 40 an auto-probe excerpt: readable, no crash.
        let want = if name.starts_with("35-") || name.starts_with("40-") {
            1
        } else {
            0
        };
        assert_eq!(
            o.status.code(),
            Some(want),
            "{name}: {}{}",
            stdout(&o),
            stderr(&o)
        );
    }
}

#[test]
fn json_has_versioned_schema() {
    let o = scxray(&["report", "--json", example().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    assert_eq!(v["schema"], "scxray-report");
    assert_eq!(v["version"], 1);
    let sel = v["selected"].as_u64().unwrap() as usize;
    let crash = &v["crashes"][sel];
    assert_eq!(crash["kind"]["name"], "scx_bpf_error");
    assert_eq!(crash["reason"], "scx_bpf_error");
    assert!(crash["backtrace"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["class"]["class"] == "bpf_prog"));
}

#[test]
fn ktstr_output_round_trips_through_the_binary() {
    let o = scxray(&["report", "--ktstr", example().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    let again = scxray_stdin(&["report", "--ktstr", "-"], &o.stdout);
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(stdout(&again), stdout(&o));
}

#[test]
fn one_section_by_name() {
    let o = scxray(&[
        "report",
        "--section",
        "sched_ext dump",
        example().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("sched_ext_dump: "));
    let o = scxray(&[
        "report",
        "--section",
        "frobnicate",
        example().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no section `frobnicate`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn dmesg_is_a_section_of_its_own() {
    // What a live run writes: the console, then the guest's /dev/kmsg.
    let input =
        b"--- console ---\n[ 1.0] on the serial console\n\n--- dmesg ---\n[ 1.0] from kmsg\n";
    let o = scxray_stdin(&["report", "--section", "dmesg", "-"], input);
    assert_eq!(stdout(&o).trim(), "[ 1.0] from kmsg");
    let o = scxray_stdin(&["report", "--section", "console", "-"], input);
    assert_eq!(stdout(&o).trim(), "[ 1.0] on the serial console");
    let o = scxray_stdin(&["report", "--json", "-"], input);
    assert!(stdout(&o).contains("\"kind\": \"dmesg\""), "{}", stdout(&o));
}

#[test]
fn stdin_dash() {
    let o = scxray_stdin(&["report", "--section", "crash", "-"], b"[ 5.6] sched_ext: BPF scheduler \"x\" disabled (runtime error)\n[ 5.6] sched_ext: x: invalid CPU -1 from ops.select_cpu()\n");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("message:   invalid CPU -1 from ops.select_cpu()"));
}

fn temp_file(name: &str, bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    (dir, p)
}

/// Bad input gets a one-line message and exit 2, or a best-effort report;
/// never a panic (101).
#[test]
fn bad_input_is_explained() {
    let cases: Vec<(&str, Vec<u8>, i32, &str)> = vec![
        ("empty", vec![], 2, "empty input"),
        ("garbage", (0..4096u32).map(|i| (i * 7 % 256) as u8).collect(), 2, "not a text report"),
        ("gz", vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, b'a', b'b'], 2, "zcat"),
        ("nul", b"hello\0\0world\nEXIT: scx_bpf_error (boom)\n".to_vec(), 0, ""),
        ("utf8", b"\xff\xfe\xfd\nsched_ext: BPF scheduler \"x\" disabled (scx_bpf_error)\n".to_vec(), 0, ""),
        ("crlf", b"sh[1] triggered exit kind 1025:\r\n  scx_bpf_error (crlf msg)\r\n\r\nBacktrace:\r\n  scx_exit+0x1/0x2\r\n".to_vec(), 0, ""),
        ("truncated", b"ktstr_test 'x' [sched=s] [topo=1n1l1c1t] failed:\n  boom\n\n--- scheduler log ---\nDEBUG DUMP\n=====\n\nsh[1] triggered exit kind 1026:\n  runnable task st".to_vec(), 0, ""),
        ("plain", b"just some text\nnothing to see\n".to_vec(), 1, ""),
    ];
    for (name, bytes, code, needle) in cases {
        let (_d, p) = temp_file(name, &bytes);
        let o = scxray(&["report", p.to_str().unwrap()]);
        assert_eq!(
            o.status.code(),
            Some(code),
            "{name}: {}{}",
            stdout(&o),
            stderr(&o)
        );
        if code == 2 {
            let err = stderr(&o);
            assert_eq!(err.trim().lines().count(), 1, "{name}: one line: {err}");
            assert!(err.contains(needle), "{name}: {err}");
        }
    }
    let o = scxray(&["report", "/nonexistent/report.txt"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no such file"));
    let dir = tempfile::tempdir().unwrap();
    let o = scxray(&["report", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("is a directory"));
}

#[test]
fn truncated_dump_is_reported_with_a_note() {
    let (_d, p) = temp_file("t", b"sh[1] triggered exit kind 1026:\n");
    let o = scxray(&["report", "--section", "crash", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("truncated"), "{}", stdout(&o));
}

/// Input that needs repair (CRLF, invalid UTF-8) reads the same from a file
/// (mapped, found wanting, then streamed) as from a pipe (always streamed).
#[test]
fn repaired_input_reads_the_same_from_a_file_and_from_stdin() {
    let bytes = b"sh[1] triggered exit kind 1025:\r\n  scx_bpf_error (bad \xff byte)\r\n\r\nBacktrace:\r\n  scx_exit+0x1/0x2\r\n";
    let (_d, p) = temp_file("repair", bytes);
    let from_file = scxray(&["report", p.to_str().unwrap()]);
    let from_stdin = scxray_stdin(&["report", "-"], bytes);
    assert_eq!(from_file.status.code(), Some(0), "{}", stderr(&from_file));
    assert_eq!(stdout(&from_file), stdout(&from_stdin));
    let out = stdout(&from_file);
    assert!(out.contains("1 invalid byte sequence(s)"), "{out}");
    assert!(!out.contains('\r'), "{out:?}");
}

/// Runs `scxray args` with stdout into `stdout` and returns its exit code,
/// its peak resident set in bytes, and its stderr. The child is reaped with
/// `wait4`, which reports that child's own peak: `RUSAGE_CHILDREN` would give
/// the largest of every child this test binary reaped, other tests' included.
fn run_measured(args: &[&str], stdout: Stdio) -> (Option<i32>, u64, String) {
    // Reaped below by `wait4`, which clippy cannot see.
    #[allow(clippy::zombie_processes)]
    let mut child = Command::new(env!("CARGO_BIN_EXE_scxray"))
        .args(args)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn scxray");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: plain C structs filled by the kernel; `pid` is our child, and
    // nothing else waits for it (std only reaps in `wait`, never on drop).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        assert_eq!(e.kind(), std::io::ErrorKind::Interrupted, "wait4: {e}");
    }
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    let mut err = String::new();
    // Small enough to sit in the pipe until the child is gone.
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (code, usage.ru_maxrss as u64 * 1024, err)
}

/// Writes the bundled ktstr report with `size` bytes of periodic scheduler
/// stats inserted at the top of its scheduler log (ahead of the dump), with
/// `\r\n` line ends when `crlf`. Returns the file's size.
fn big_report(path: &Path, size: u64, crlf: bool) -> u64 {
    let example = std::fs::read_to_string(example()).unwrap();
    let (head, tail) = example
        .split_once("--- scheduler log ---\n")
        .expect("the example has a scheduler log");
    let eol = if crlf { "\r\n" } else { "\n" };
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let put = |f: &mut std::io::BufWriter<std::fs::File>, text: &str| {
        for line in text.lines() {
            write!(f, "{line}{eol}").unwrap();
        }
    };
    put(&mut f, head);
    put(&mut f, "--- scheduler log ---");
    let mut chunk = String::new();
    for i in 0..10_000u64 {
        chunk.push_str(&stats_line(i));
        chunk.push_str(eol);
    }
    let mut written = 0u64;
    while written < size {
        f.write_all(chunk.as_bytes()).unwrap();
        written += chunk.len() as u64;
    }
    put(&mut f, tail);
    f.into_inner().unwrap().sync_all().unwrap();
    std::fs::metadata(path).unwrap().len()
}

/// The memory goal: `report` peaks at no more than twice the input's size in
/// every output form. The mapped input counts once (its pages are resident);
/// the printed report is streamed from it, not built as a second copy (which
/// peaked at 3x), and a CRLF log is repaired while it is read (no raw bytes
/// plus repaired copy).
#[test]
fn report_peaks_at_most_twice_the_input_size() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [("lf", false, "ktstr.txt"), ("crlf", true, "crlf.txt")];
    for (what, crlf, name) in cases {
        let input = dir.path().join(name);
        let size = big_report(&input, 192 << 20, crlf);
        let forms: &[&[&str]] = if crlf {
            &[&[]]
        } else {
            &[&[], &["--json"], &["--ktstr"]]
        };
        for form in forms {
            let out = dir.path().join("out");
            let args: Vec<&str> = ["report"]
                .iter()
                .chain(form.iter())
                .copied()
                .chain([input.to_str().unwrap()])
                .collect();
            let file = std::fs::File::create(&out).unwrap();
            let (code, peak, err) = run_measured(&args, Stdio::from(file));
            assert_eq!(code, Some(0), "{what} {form:?}: {err}");
            // The whole log was printed, so the bound covers the writer too.
            let printed = std::fs::metadata(&out).unwrap().len();
            assert!(
                printed > size * 9 / 10,
                "{what} {form:?}: printed {printed} of {size} bytes"
            );
            let mb = |b: u64| b >> 20;
            assert!(
                peak <= 2 * size,
                "{what} {form:?}: peak RSS {} MiB for a {} MiB input (goal: at most 2x)",
                mb(peak),
                mb(size)
            );
            std::fs::remove_file(&out).unwrap();
        }
        std::fs::remove_file(&input).unwrap();
    }
}

/// A gigabyte log is mapped, not read into memory: the crash at its end is
/// found and the process stays below twice the file size.
#[test]
fn gigabyte_log() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("huge.log");
    let line = b"12:00:00 [INFO] layered: layer=batch tasks=12 util=0.93 load=13.2 migrations=5\n";
    let chunk: Vec<u8> = line
        .iter()
        .copied()
        .cycle()
        .take(line.len() * 100_000)
        .collect();
    let target: u64 = 1 << 30;
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
        let mut written = 0u64;
        while written < target {
            f.write_all(&chunk).unwrap();
            written += chunk.len() as u64;
        }
        f.write_all(b"EXIT: scx_bpf_error (layer 3 has no cpus)\n")
            .unwrap();
    }
    let out = dir.path().join("out");
    let (code, peak, err) = run_measured(
        &["report", "--section", "crash", p.to_str().unwrap()],
        Stdio::from(std::fs::File::create(&out).unwrap()),
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .contains("layer 3 has no cpus"));
    // File pages are mapped, not copied: RSS may reach the file size but never twice it.
    assert!(
        peak <= 2 * target,
        "max RSS {} kB for a 1 GiB file",
        peak >> 10
    );
}
