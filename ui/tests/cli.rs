//! End-to-end tests of the `scxray` binary: exit codes, output forms, bad input.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

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

fn shared(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared")
        .join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipping: {} not present", p.display());
        None
    }
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
    let Some(dir) = shared("fixtures/public") else {
        return;
    };
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

/// A multi-gigabyte log is mapped, not read into memory: the crash at its end
/// is found and the process stays far below the file size.
#[test]
fn five_gigabyte_log() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("huge.log");
    let line = b"12:00:00 [INFO] layered: layer=batch tasks=12 util=0.93 load=13.2 migrations=5\n";
    let chunk: Vec<u8> = line
        .iter()
        .copied()
        .cycle()
        .take(line.len() * 100_000)
        .collect();
    let target: u64 = 5 << 30;
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
    let o = Command::new("/usr/bin/time")
        .args([
            "-f",
            "maxrss_kb=%M",
            env!("CARGO_BIN_EXE_scxray"),
            "report",
            "--section",
            "crash",
            p.to_str().unwrap(),
        ])
        .output();
    let o = match o {
        Ok(o) => o,
        Err(_) => scxray(&["report", "--section", "crash", p.to_str().unwrap()]),
    };
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("layer 3 has no cpus"));
    if let Some(kb) = stderr(&o)
        .lines()
        .find_map(|l| l.strip_prefix("maxrss_kb="))
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        // File pages are mapped, not copied: RSS may reach the file size but never twice it.
        assert!(kb * 1024 <= 2 * target, "max RSS {kb} kB for a 5 GiB file");
    }
}
