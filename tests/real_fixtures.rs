//! The real failure texts in `../shared/fixtures` (eight public reports and the
//! captures of real crashing runs) against what a human reads in them.
//!
//! The fixtures are read at run time; without `../shared` the tests print why
//! they skip and pass. Every mismatching file is reported, not just the first.
//! The first line of each public fixture (`# source: <url>`) was added when
//! the text was collected; it is removed before parsing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

#[path = "fixtures/variants/support/expect.rs"]
mod expect;

/// Expectations, `file` relative to `../shared/fixtures`. Same fields as
/// `tests/fixtures/variants/expectations.json`.
const EXPECTATIONS: &str = r##"
{
  "files": [
    {
      "file": "public/01-lavd-scx_bpf_error-run_time_ns-negative.txt",
      "covers": "scx_lavd log with a 6.12 DEBUG DUMP, trampoline frame in a task stack, file ends after the first CPU block",
      "crash_found": true,
      "n_crashes": 1,
      "kind": 1025,
      "reason": "scx_bpf_error",
      "message": "run_time_ns is negative: 0x5772484607211 - 0x5772484608241",
      "task": "rcub/0[19]",
      "top_frame": "lavd_stopping",
      "bpf_frames": ["lavd_stopping"],
      "n_cpu_states": 1,
      "n_events": 0,
      "kernel_exit": true,
      "formats": ["debug_dump"]
    },
    {
      "file": "public/07-rustland-dmesg-errored-invalid-dsq-id-old-format.txt",
      "covers": "old `errored, disabling` + `sched_ext: runtime error (msg)` format; the kfunc that caught the bad DSQ id is the top frame",
      "crash_found": true,
      "n_crashes": 1,
      "kind": 1024,
      "reason": "runtime error",
      "message": "invalid DSQ ID 0x000000000000000a",
      "scheduler": "rustland",
      "top_frame": "scx_bpf_consume",
      "bpf_frames": ["rustland_dispatch"],
      "n_cpu_states": 0,
      "kernel_exit": true,
      "formats": ["kernel_errored"]
    },
    {
      "file": "public/13-bpfland-dmesg-disabled-runnable-task-stall.txt",
      "covers": "two stalls of the same scheduler, each followed by a re-enable; the newer one is selected",
      "crash_found": true,
      "n_crashes": 2,
      "kind": 1026,
      "reason": "runnable task stall",
      "message": "clang++[13478] failed to run for 6.673s",
      "scheduler": "bpfland",
      "bpf_frames": [],
      "kernel_exit": true,
      "formats": ["kernel_disabled"],
      "other_crashes": [{"kind": 1026, "message": "ld.lld[8779] failed to run for 5.344s"}]
    },
    {
      "file": "public/24-qmap-full-debug-dump-with-ops-dump-and-EXIT-line.txt",
      "covers": "scx_qmap dump quoted with 2 spaces and tab-mangled lines: stall, QMAP ops.dump lines, four CPU blocks, EXIT line (same exit)",
      "crash_found": true,
      "n_crashes": 1,
      "kind": 1026,
      "reason": "runnable task stall",
      "message": "stress[1530] failed to run for 6.841s",
      "task": "kworker/u32:12[320]",
      "bpf_frames": [],
      "n_cpu_states": 4,
      "n_events": 0,
      "ops_dump_contains": ["QMAP FIFO[2]: 1436"],
      "kernel_exit": true,
      "formats": ["debug_dump", "uei_exit"]
    },
    {
      "file": "public/28-dummy-verifier-reg-type-unsupported-prog-load-log.txt",
      "covers": "libbpf PROG LOAD LOG cut before its end: the verifier error is the first log line here, there is no `processed N insns`",
      "crash_found": true,
      "n_crashes": 1,
      "kind": null,
      "message_contains": "reg type unsupported for arg#0 function dummy_enqueue#22",
      "kernel_exit": false,
      "formats": ["verifier_reject"]
    },
    {
      "file": "public/35-ktstr-throughput-gate-failure-stats-timeline.txt",
      "covers": "ktstr throughput gate failure inside nextest output (4-space indented block after `stderr ───` and an elision line); no crash",
      "crash_found": false,
      "ktstr": {
        "test_name": "throughput_gate",
        "scheduler": "scx-ktstr",
        "topology": "1n1l2c1t",
        "outcome": "failed",
        "details": ["worker 71 iteration rate 41903.3/s below floor 50000000.0/s", "worker 73 iteration rate 37834.5/s below floor 50000000.0/s"],
        "sections": ["stats", "timeline"]
      }
    },
    {
      "file": "public/37-ktstr-bpf-crash-bug-summary-stats-diagnostics.txt",
      "covers": "NEWER header with `BUG SUMMARY:` but no scheduler log / dump section: the crash is read from the BUG SUMMARY line alone",
      "crash_found": true,
      "n_crashes": 1,
      "kind": 1025,
      "reason": "scx_bpf_error",
      "message": "src/bpf/main.bpf.c:424: ktstr: host-triggered crash",
      "n_cpu_states": 0,
      "ktstr": {
        "test_name": "bpf_crash_auto_repro_e2e",
        "scheduler": "scx-ktstr",
        "topology": "1n1l4c1t",
        "outcome": "failed",
        "fingerprint": null,
        "bug_summary": "scx_bpf_error (src/bpf/main.bpf.c:424: ktstr: host-triggered crash)",
        "details": ["scheduler process died unexpectedly during workload (2.2s into test)"],
        "sections": ["stats", "diagnostics"]
      }
    },
    {
      "file": "public/40-ktstr-mitosis-auto-probe-function-args.txt",
      "covers": "fragment of an auto-repro probe listing (indented, no header, no dump): function arguments only, no crash report",
      "crash_found": false
    },
    {
      "file": "real-runs/bpftool-register/dmesg.txt",
      "covers": "whole boot dmesg; 7.3 `disabled (scx_bpf_error)` + message + frames (no task/CPU in this format)",
      "crash_found": true,
      "n_crashes": 1,
      "kind": 1025,
      "reason": "scx_bpf_error",
      "message": "apply_cell_config returned -EINVAL (enqueue #400, pid 133, comm sh)",
      "scheduler": "crashfifo",
      "kernel_exit": true,
      "top_frame": "apply_cell_config",
      "bpf_frames": ["apply_cell_config", "fifo_enqueue"],
      "n_cpu_states": 0,
      "n_events": 0,
      "formats": ["kernel_disabled"]
    },
    {
      "file": "real-runs/bpftool-register/trace.txt",
      "covers": "tracefs `trace` with header: sched_ext_event noise, sched_ext_exit and the 7.3 dump as sched_ext_dump lines (one exit)",
      "crash_found": true,
      "n_crashes": 1,
      "kind": 1025,
      "reason": "scx_bpf_error",
      "message": "apply_cell_config returned -EINVAL (enqueue #400, pid 133, comm sh)",
      "scheduler": "crashfifo",
      "kernel_exit": true,
      "task": "sh[134]",
      "cpu": 1,
      "top_frame": "apply_cell_config",
      "bpf_frames": ["apply_cell_config", "fifo_enqueue"],
      "n_cpu_states": 2,
      "n_events": 21,
      "formats": ["trace_dump", "trace_exit"]
    },
    {
      "file": "real-runs/bpftool-register/console.host-timestamped.log",
      "covers": "host-timestamped console: a 7.3 verifier rejection (with the Verification failed block) of one load attempt, then a kernel exit (no frames on the quiet console): two crashes, the kernel exit is newer",
      "crash_found": true,
      "n_crashes": 2,
      "kind": 1025,
      "reason": "scx_bpf_error",
      "message": "apply_cell_config returned -EINVAL (enqueue #400, pid 133, comm sh)",
      "scheduler": "crashfifo",
      "top_frame": null,
      "bpf_frames": [],
      "n_cpu_states": 0,
      "kernel_exit": true,
      "formats": ["kernel_disabled"],
      "other_crashes": [{"kernel_exit": false, "formats": ["verifier_reject"], "message_contains": "sleepable kfunc scx_bpf_create_dsq"}]
    },
    {
      "file": "real-runs/c-loader/dmesg.txt",
      "covers": "whole boot dmesg; 7.3 `disabled (scx_bpf_error)` + message + frames (no task/CPU in this format)",
      "crash_found": true,
      "n_crashes": 1,
      "kind": 1025,
      "reason": "scx_bpf_error",
      "message": "apply_cell_config returned -EINVAL (enqueue #400, pid 52, comm kdamond.0)",
      "scheduler": "crashfifo",
      "kernel_exit": true,
      "top_frame": "apply_cell_config",
      "bpf_frames": ["apply_cell_config", "fifo_enqueue"],
      "n_cpu_states": 0,
      "n_events": 0,
      "formats": ["kernel_disabled"]
    },
    {
      "file": "real-runs/c-loader/trace.txt",
      "covers": "tracefs `trace` with header: sched_ext_event noise, sched_ext_exit and the 7.3 dump as sched_ext_dump lines (one exit)",
      "crash_found": true,
      "n_crashes": 1,
      "kind": 1025,
      "reason": "scx_bpf_error",
      "message": "apply_cell_config returned -EINVAL (enqueue #400, pid 52, comm kdamond.0)",
      "scheduler": "crashfifo",
      "kernel_exit": true,
      "task": "sh[132]",
      "cpu": 0,
      "top_frame": "apply_cell_config",
      "bpf_frames": ["apply_cell_config", "fifo_enqueue"],
      "n_cpu_states": 2,
      "n_events": 21,
      "formats": ["trace_dump", "trace_exit"]
    },
    {
      "file": "real-runs/c-loader/loader.stdout",
      "covers": "loader output: [ts]-prefixed loader lines and the ops.exit dump copy between custom markers (no DEBUG DUMP banner)",
      "crash_found": true,
      "n_crashes": 1,
      "kind": 1025,
      "reason": "scx_bpf_error",
      "message": "apply_cell_config returned -EINVAL (enqueue #400, pid 52, comm kdamond.0)",
      "scheduler": "crashfifo",
      "kernel_exit": true,
      "task": "sh[132]",
      "cpu": 0,
      "top_frame": "apply_cell_config",
      "bpf_frames": ["apply_cell_config", "fifo_enqueue"],
      "n_cpu_states": 2,
      "n_events": 21,
      "formats": ["debug_dump"]
    },
    {
      "file": "real-runs/c-loader/console.host-timestamped.log",
      "covers": "host-timestamped console: kernel `disabled` record (no frames under quiet) and the loader's dump copy of the same exit",
      "crash_found": true,
      "n_crashes": 1,
      "kind": 1025,
      "reason": "scx_bpf_error",
      "message": "apply_cell_config returned -EINVAL (enqueue #400, pid 52, comm kdamond.0)",
      "scheduler": "crashfifo",
      "kernel_exit": true,
      "task": "sh[132]",
      "cpu": 0,
      "top_frame": "apply_cell_config",
      "bpf_frames": ["apply_cell_config", "fifo_enqueue"],
      "n_cpu_states": 2,
      "n_events": 21,
      "formats": ["debug_dump", "kernel_disabled"]
    },
    {
      "file": "real-runs/mem-kaslr/dmesg.txt",
      "covers": "whole boot dmesg; 7.3 `disabled (scx_bpf_error)` + message + frames (no task/CPU in this format)",
      "crash_found": true,
      "n_crashes": 1,
      "kind": 1025,
      "reason": "scx_bpf_error",
      "message": "apply_cell_config returned -EINVAL (enqueue #400, pid 15, comm rcu_preempt)",
      "scheduler": "crashfifo",
      "kernel_exit": true,
      "top_frame": "apply_cell_config",
      "bpf_frames": ["apply_cell_config", "fifo_enqueue"],
      "n_cpu_states": 0,
      "n_events": 0,
      "formats": ["kernel_disabled"]
    },
    {
      "file": "real-runs/mem-kaslr/trace.txt",
      "covers": "tracefs `trace` with header: sched_ext_event noise, sched_ext_exit and the 7.3 dump as sched_ext_dump lines (one exit)",
      "crash_found": true,
      "n_crashes": 1,
      "kind": 1025,
      "reason": "scx_bpf_error",
      "message": "apply_cell_config returned -EINVAL (enqueue #400, pid 15, comm rcu_preempt)",
      "scheduler": "crashfifo",
      "kernel_exit": true,
      "task": "sh[132]",
      "cpu": 0,
      "top_frame": "apply_cell_config",
      "bpf_frames": ["apply_cell_config", "fifo_enqueue"],
      "n_cpu_states": 2,
      "n_events": 21,
      "formats": ["trace_dump", "trace_exit"]
    },
    {
      "file": "real-runs/mem-kaslr/loader.stdout",
      "covers": "loader output: [ts]-prefixed loader lines and the ops.exit dump copy between custom markers (no DEBUG DUMP banner)",
      "crash_found": true,
      "n_crashes": 1,
      "kind": 1025,
      "reason": "scx_bpf_error",
      "message": "apply_cell_config returned -EINVAL (enqueue #400, pid 15, comm rcu_preempt)",
      "scheduler": "crashfifo",
      "kernel_exit": true,
      "task": "sh[132]",
      "cpu": 0,
      "top_frame": "apply_cell_config",
      "bpf_frames": ["apply_cell_config", "fifo_enqueue"],
      "n_cpu_states": 2,
      "n_events": 21,
      "formats": ["debug_dump"]
    },
    {
      "file": "real-runs/mem-kaslr/console.host-timestamped.log",
      "covers": "host-timestamped console: kernel `disabled` record (no frames under quiet) and the loader's dump copy of the same exit",
      "crash_found": true,
      "n_crashes": 1,
      "kind": 1025,
      "reason": "scx_bpf_error",
      "message": "apply_cell_config returned -EINVAL (enqueue #400, pid 15, comm rcu_preempt)",
      "scheduler": "crashfifo",
      "kernel_exit": true,
      "task": "sh[132]",
      "cpu": 0,
      "top_frame": "apply_cell_config",
      "bpf_frames": ["apply_cell_config", "fifo_enqueue"],
      "n_cpu_states": 2,
      "n_events": 21,
      "formats": ["debug_dump", "kernel_disabled"]
    },
    {
      "file": "real-runs/mem-nokaslr/dmesg.txt",
      "covers": "whole boot dmesg; 7.3 `disabled (scx_bpf_error)` + message + frames (no task/CPU in this format)",
      "crash_found": true,
      "n_crashes": 1,
      "kind": 1025,
      "reason": "scx_bpf_error",
      "message": "apply_cell_config returned -EINVAL (enqueue #400, pid 316, comm usleep)",
      "scheduler": "crashfifo",
      "kernel_exit": true,
      "top_frame": "apply_cell_config",
      "bpf_frames": ["apply_cell_config", "fifo_enqueue"],
      "n_cpu_states": 0,
      "n_events": 0,
      "formats": ["kernel_disabled"]
    },
    {
      "file": "real-runs/mem-nokaslr/trace.txt",
      "covers": "tracefs `trace` with header: sched_ext_event noise, sched_ext_exit and the 7.3 dump as sched_ext_dump lines (one exit)",
      "crash_found": true,
      "n_crashes": 1,
      "kind": 1025,
      "reason": "scx_bpf_error",
      "message": "apply_cell_config returned -EINVAL (enqueue #400, pid 316, comm usleep)",
      "scheduler": "crashfifo",
      "kernel_exit": true,
      "task": "sh[132]",
      "cpu": 0,
      "top_frame": "apply_cell_config",
      "bpf_frames": ["apply_cell_config", "fifo_enqueue"],
      "n_cpu_states": 2,
      "n_events": 21,
      "formats": ["trace_dump", "trace_exit"]
    },
    {
      "file": "real-runs/mem-nokaslr/loader.stdout",
      "covers": "loader output: [ts]-prefixed loader lines and the ops.exit dump copy between custom markers (no DEBUG DUMP banner)",
      "crash_found": true,
      "n_crashes": 1,
      "kind": 1025,
      "reason": "scx_bpf_error",
      "message": "apply_cell_config returned -EINVAL (enqueue #400, pid 316, comm usleep)",
      "scheduler": "crashfifo",
      "kernel_exit": true,
      "task": "sh[132]",
      "cpu": 0,
      "top_frame": "apply_cell_config",
      "bpf_frames": ["apply_cell_config", "fifo_enqueue"],
      "n_cpu_states": 2,
      "n_events": 21,
      "formats": ["debug_dump"]
    },
    {
      "file": "real-runs/mem-nokaslr/console.host-timestamped.log",
      "covers": "host-timestamped console: kernel `disabled` record (no frames under quiet) and the loader's dump copy of the same exit",
      "crash_found": true,
      "n_crashes": 1,
      "kind": 1025,
      "reason": "scx_bpf_error",
      "message": "apply_cell_config returned -EINVAL (enqueue #400, pid 316, comm usleep)",
      "scheduler": "crashfifo",
      "kernel_exit": true,
      "task": "sh[132]",
      "cpu": 0,
      "top_frame": "apply_cell_config",
      "bpf_frames": ["apply_cell_config", "fifo_enqueue"],
      "n_cpu_states": 2,
      "n_events": 21,
      "formats": ["debug_dump", "kernel_disabled"]
    },
    {
      "file": "real-runs/probes/dmesg.txt",
      "covers": "whole boot dmesg; 7.3 `disabled (scx_bpf_error)` + message + frames (no task/CPU in this format)",
      "crash_found": true,
      "n_crashes": 1,
      "kind": 1025,
      "reason": "scx_bpf_error",
      "message": "apply_cell_config returned -EINVAL (enqueue #4000, pid 132, comm sh)",
      "scheduler": "crashfifo",
      "kernel_exit": true,
      "top_frame": "apply_cell_config",
      "bpf_frames": ["apply_cell_config", "fifo_enqueue"],
      "n_cpu_states": 0,
      "n_events": 0,
      "formats": ["kernel_disabled"]
    },
    {
      "file": "real-runs/probes/trace.txt",
      "covers": "tracefs `trace` with header: sched_ext_event noise, sched_ext_exit and the 7.3 dump as sched_ext_dump lines (one exit)",
      "crash_found": true,
      "n_crashes": 1,
      "kind": 1025,
      "reason": "scx_bpf_error",
      "message": "apply_cell_config returned -EINVAL (enqueue #4000, pid 132, comm sh)",
      "scheduler": "crashfifo",
      "kernel_exit": true,
      "task": "sh[134]",
      "cpu": 0,
      "top_frame": "apply_cell_config",
      "bpf_frames": ["apply_cell_config", "fifo_enqueue"],
      "n_cpu_states": 2,
      "n_events": 21,
      "formats": ["trace_dump", "trace_exit"]
    },
    {
      "file": "real-runs/probes/loader.stdout",
      "covers": "loader output: [ts]-prefixed loader lines and the ops.exit dump copy between custom markers (no DEBUG DUMP banner)",
      "crash_found": true,
      "n_crashes": 1,
      "kind": 1025,
      "reason": "scx_bpf_error",
      "message": "apply_cell_config returned -EINVAL (enqueue #4000, pid 132, comm sh)",
      "scheduler": "crashfifo",
      "kernel_exit": true,
      "task": "sh[134]",
      "cpu": 0,
      "top_frame": "apply_cell_config",
      "bpf_frames": ["apply_cell_config", "fifo_enqueue"],
      "n_cpu_states": 2,
      "n_events": 21,
      "formats": ["debug_dump"]
    },
    {
      "file": "real-runs/probes/console.host-timestamped.log",
      "covers": "host-timestamped console: kernel `disabled` record (no frames under quiet) and the loader's dump copy of the same exit",
      "crash_found": true,
      "n_crashes": 1,
      "kind": 1025,
      "reason": "scx_bpf_error",
      "message": "apply_cell_config returned -EINVAL (enqueue #4000, pid 132, comm sh)",
      "scheduler": "crashfifo",
      "kernel_exit": true,
      "task": "sh[134]",
      "cpu": 0,
      "top_frame": "apply_cell_config",
      "bpf_frames": ["apply_cell_config", "fifo_enqueue"],
      "n_cpu_states": 2,
      "n_events": 21,
      "formats": ["debug_dump", "kernel_disabled"]
    },
    {
      "file": "real-runs/rust-loader/dmesg.txt",
      "covers": "whole boot dmesg; 7.3 `disabled (scx_bpf_error)` + message + frames (no task/CPU in this format)",
      "crash_found": true,
      "n_crashes": 1,
      "kind": 1025,
      "reason": "scx_bpf_error",
      "message": "apply_cell_config returned -EINVAL (enqueue #400, pid 139, comm scxload-rs)",
      "scheduler": "crashfifo",
      "kernel_exit": true,
      "top_frame": "apply_cell_config",
      "bpf_frames": ["apply_cell_config", "fifo_enqueue"],
      "n_cpu_states": 0,
      "n_events": 0,
      "formats": ["kernel_disabled"]
    },
    {
      "file": "real-runs/rust-loader/trace.txt",
      "covers": "tracefs `trace` with header: sched_ext_event noise, sched_ext_exit and the 7.3 dump as sched_ext_dump lines (one exit)",
      "crash_found": true,
      "n_crashes": 1,
      "kind": 1025,
      "reason": "scx_bpf_error",
      "message": "apply_cell_config returned -EINVAL (enqueue #400, pid 139, comm scxload-rs)",
      "scheduler": "crashfifo",
      "kernel_exit": true,
      "task": "sh[131]",
      "cpu": 1,
      "top_frame": "apply_cell_config",
      "bpf_frames": ["apply_cell_config", "fifo_enqueue"],
      "n_cpu_states": 2,
      "n_events": 21,
      "formats": ["trace_dump", "trace_exit"]
    },
    {
      "file": "real-runs/rust-loader/loader.stdout",
      "covers": "loader output: [ts]-prefixed loader lines and the ops.exit dump copy between custom markers (no DEBUG DUMP banner)",
      "crash_found": true,
      "n_crashes": 1,
      "kind": 1025,
      "reason": "scx_bpf_error",
      "message": "apply_cell_config returned -EINVAL (enqueue #400, pid 139, comm scxload-rs)",
      "scheduler": "crashfifo",
      "kernel_exit": true,
      "task": "sh[131]",
      "cpu": 1,
      "top_frame": "apply_cell_config",
      "bpf_frames": ["apply_cell_config", "fifo_enqueue"],
      "n_cpu_states": 2,
      "n_events": 21,
      "formats": ["debug_dump"]
    },
    {
      "file": "real-runs/rust-loader/console.host-timestamped.log",
      "covers": "host-timestamped console: kernel `disabled` record (no frames under quiet) and the loader's dump copy of the same exit",
      "crash_found": true,
      "n_crashes": 1,
      "kind": 1025,
      "reason": "scx_bpf_error",
      "message": "apply_cell_config returned -EINVAL (enqueue #400, pid 139, comm scxload-rs)",
      "scheduler": "crashfifo",
      "kernel_exit": true,
      "task": "sh[131]",
      "cpu": 1,
      "top_frame": "apply_cell_config",
      "bpf_frames": ["apply_cell_config", "fifo_enqueue"],
      "n_cpu_states": 2,
      "n_events": 21,
      "formats": ["debug_dump", "kernel_disabled"]
    },
    {
      "file": "real-runs/boot-flakiness/int3-oops-boot-failure.console.log",
      "covers": "boot-time int3 oops and panic under TCG, no sched_ext scheduler involved (no Sched_ext line): not a sched_ext crash",
      "crash_found": false
    }
  ]
}
"##;

/// Captures of real runs that must have expectations (where present).
const RUN_CAPTURES: [&str; 4] = [
    "dmesg.txt",
    "trace.txt",
    "loader.stdout",
    "console.host-timestamped.log",
];

fn shared_fixtures() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "skipping: {} not found (the shared fixtures are not checked out here)",
            dir.display()
        );
        None
    }
}

fn expectations() -> Vec<expect::FileExpect> {
    expect::load(EXPECTATIONS)
        .unwrap_or_else(|e| panic!("EXPECTATIONS in tests/real_fixtures.rs:\n{e}"))
}

/// Drops the collector's `# source: ...` first line.
fn strip_source_line(text: &str) -> &str {
    if text.starts_with("# source:") {
        text.split_once('\n').map_or("", |(_, rest)| rest)
    } else {
        text
    }
}

fn listed() -> BTreeSet<String> {
    expectations().into_iter().map(|e| e.file).collect()
}

#[test]
fn expectations_are_well_formed() {
    let expects = expectations();
    let dups = expect::duplicates(&expects);
    assert!(dups.is_empty(), "listed twice: {dups:?}");
}

#[test]
fn every_public_fixture_has_expectations() {
    let Some(root) = shared_fixtures() else {
        return;
    };
    let listed = listed();
    let dir = root.join("public");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let name = entry
            .expect("directory entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        let rel = format!("public/{name}");
        if !listed.contains(&rel) {
            missing.push(rel);
        }
    }
    assert!(
        missing.is_empty(),
        "public fixtures without expectations: {missing:?}"
    );
}

#[test]
fn every_real_run_capture_has_expectations() {
    let Some(root) = shared_fixtures() else {
        return;
    };
    let listed = listed();
    let dir = root.join("real-runs");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let entry = entry.expect("directory entry");
        if !entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            continue;
        }
        let run = entry.file_name().to_string_lossy().into_owned();
        for capture in RUN_CAPTURES {
            let rel = format!("real-runs/{run}/{capture}");
            if root.join(&rel).is_file() && !listed.contains(&rel) {
                missing.push(rel);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "real-run captures without expectations: {missing:?}"
    );
}

#[test]
fn real_fixtures_match_expectations() {
    let Some(root) = shared_fixtures() else {
        return;
    };
    let expects = expectations();
    let mut failures = Vec::new();
    let mut checked = 0;
    for e in &expects {
        let path = root.join(&e.file);
        if !path.is_file() {
            eprintln!("skipping {}: not present in ../shared/fixtures", e.file);
            continue;
        }
        checked += 1;
        let text = match std::fs::read(&path).map(String::from_utf8) {
            Ok(Ok(t)) => t,
            Ok(Err(err)) => {
                failures.push(format!("{}: not UTF-8: {err}", e.file));
                continue;
            }
            Err(err) => {
                failures.push(format!("{}: cannot read: {err}", e.file));
                continue;
            }
        };
        if let Some(f) = expect::check_text(strip_source_line(&text), e) {
            failures.push(f);
        }
    }
    assert!(
        checked > 0,
        "none of the listed fixtures exists under {}",
        root.display()
    );
    expect::assert_all("real fixtures", checked, &failures);
}
