//! Real VMs under QEMU (TCG here, KVM where it works): the demo scheduler's
//! failure knobs, a clean run, a kernel without sched_ext, Ctrl-C during
//! boot. They need qemu-system-x86_64, a cached sched_ext kernel (`scxray
//! kernel fetch`) and the probes binaries (`cargo build -p scxray-probes`);
//! without them each test prints one `skipped:` line, unless
//! SCXRAY_REQUIRE_VM or CI (set by scripts/test.sh and CI) turns the skip
//! into a failure (`tests/support/require.rs`).

#[path = "common/guest.rs"]
mod guest;
#[path = "../../tests/support/require.rs"]
mod require;
#[path = "common/tmux.rs"]
mod tmux;
#[path = "../../tests/support/versioned_lib.rs"]
mod versioned_lib;
use versioned_lib::{cc, versioned_lib};

use guest::{bin, failure_dump, missing, scxray, state_dir};

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use scxray::parse::parse_str;
use scxray::report::{ExitKind, FrameClass, Report, SectionKind};

fn ready(test: &str) -> bool {
    require::require_vm(test, missing())
}

/// `scxray demo --headless --crash KIND`: exit code and the printed report.
fn demo(crash: &str) -> (i32, Report, String) {
    demo_with(crash, &[])
}

/// [`demo`] with more options.
fn demo_with(crash: &str, extra: &[&str]) -> (i32, Report, String) {
    demo_env(crash, extra, &[])
}

/// [`demo_with`] with environment variables for scxray.
fn demo_env(crash: &str, extra: &[&str], env: &[(&str, &str)]) -> (i32, Report, String) {
    let (code, stdout, stderr) = demo_raw(crash, extra, env);
    (code, parse_str(&stdout), stderr)
}

/// [`demo_env`] with the report as printed: exit code, stdout, stderr.
fn demo_raw(crash: &str, extra: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let _vm = guest::one_at_a_time();
    let state = state_dir();
    let started = Instant::now();
    // The test run alone: tests/auto_repro_vm.rs covers auto-repro. A
    // stall needs phases longer than the watchdog's timeout, else the
    // workload can end first.
    let phase_ms = if crash == "stall" { "4000" } else { "1200" };
    let mut args = vec![
        "demo",
        "--headless",
        "--no-auto-repro",
        "--crash",
        crash,
        "--phase-ms",
        phase_ms,
    ];
    args.extend_from_slice(extra);
    let o = Command::new(bin())
        .args(&args)
        .env("XDG_STATE_HOME", state.path())
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    eprintln!(
        "demo --crash {crash}: {:.1}s\n{stderr}",
        started.elapsed().as_secs_f64()
    );
    assert!(stderr.contains("report written to"), "{stderr}");
    let code = o.status.code().unwrap_or(-1);
    if code == 3 {
        // The guest itself failed: show why before the assertion fails.
        eprintln!(
            "guest failure; report tail:\n{}",
            stdout
                .lines()
                .rev()
                .take(60)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    (code, stdout, stderr)
}

fn bpf_names(r: &Report) -> Vec<String> {
    r.crash()
        .map(|c| {
            c.backtrace
                .iter()
                .filter_map(|f| match &f.class {
                    FrameClass::BpfProg { name, .. } => Some(name.clone()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn demo_scx_bpf_error_from_nested_function() {
    if !ready("demo_scx_bpf_error_from_nested_function") {
        return;
    }
    let (code, r, stderr) = demo("scx-bpf-error");
    assert_eq!(code, 1, "a crash exits 1");
    // `auto` says which backend and why: QEMU here, whose KVM probe fails.
    assert!(
        stderr.contains("scxray: backend: QEMU (auto: ")
            || stderr.contains("scxray: backend: own KVM VMM (auto: "),
        "{stderr}"
    );
    let c = r.crash().expect("a crash in the report");
    assert_eq!(c.kind, ExitKind::ScxBpfError);
    assert_eq!(c.reason.as_deref(), Some("scx_bpf_error"));
    assert!(
        c.message
            .as_deref()
            .unwrap_or("")
            .contains("cell 0 has no usable CPU left"),
        "{:?}",
        c.message
    );
    let names = bpf_names(&r);
    for f in ["validate_cell", "apply_policy", "demo_enqueue"] {
        assert!(
            names.iter().any(|n| n == f),
            "{f} not in backtrace {names:?}"
        );
    }
    assert!(!c.cpu_states.is_empty() && !c.events.is_empty());
    let timeline = r.section(&SectionKind::Timeline).expect("timeline");
    for part in [
        "boot -> userspace",
        "scheduler load",
        "load -> crash",
        "collection",
        "teardown",
    ] {
        assert!(timeline.body.contains(part), "{part}: {}", &*timeline.body);
    }
    host_monitor_saw_the_scheduler(&r);
    failure_dump_caught_the_error(&r);
}

/// `--topology 2n2l1c1t`: QEMU builds two NUMA nodes (each with its own
/// RAM file) and two LLCs, the guest's sysfs agrees, the report says the
/// topology, and the host monitor and the failure dump read guest memory
/// across both nodes' files.
#[test]
fn demo_on_a_two_node_topology() {
    if !ready("demo_on_a_two_node_topology") {
        return;
    }
    let (code, r, stderr) = demo_with("scx-bpf-error", &["--topology", "2n2l1c1t"]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(r.header.topology.as_deref(), Some("2n2l1c1t"));
    let diag = r.section(&SectionKind::Diagnostics).expect("diagnostics");
    assert!(
        diag.body
            .contains("note: the guest sees topology 2n2l1c1t, as asked"),
        "{}",
        &*diag.body
    );
    assert!(!diag.body.contains("error: topology"), "{}", &*diag.body);
    let timeline = r.section(&SectionKind::Timeline).expect("timeline");
    assert!(
        timeline.body.contains("topology: 2n2l1c1t (2 cpus)"),
        "{}",
        &*timeline.body
    );
    host_monitor_saw_the_scheduler(&r);
    let d = failure_dump(&r, SectionKind::FailureDump);
    assert_eq!(d.cpus.len(), 2, "{d:?}");
}

/// A topology QEMU cannot be asked for is refused before anything boots,
/// naming the fault.
#[test]
fn a_bad_topology_is_refused_with_the_reason() {
    let o = Command::new(bin())
        .args(["demo", "--headless", "--topology", "2n3l1c1t"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("3 LLCs cannot be spread evenly over 2 NUMA nodes"),
        "{stderr}"
    );
    let o = Command::new(bin())
        .args([
            "demo",
            "--headless",
            "--topology",
            "1n2l1c1t",
            "--cpus",
            "4",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("cannot be used with"), "{stderr}");
    let o = Command::new(bin())
        .args([
            "demo",
            "--headless",
            "--topology",
            "8n8l1c1t",
            "--memory",
            "256",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("--memory 256 is too little for --topology 8n8l1c1t: each of its 8 NUMA nodes needs 64 MiB; pass --memory 512 or more"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("booting"),
        "refused before anything boots: {stderr}"
    );
}

/// The watchpoint froze the guest in `scx_claim_exit()` with an error
/// kind; the dump has both CPUs, the task the error names (same pid,
/// queued), the demo's user DSQ and its maps decoded through their BTF;
/// freeze, walk and resume took at most 200 ms.
fn failure_dump_caught_the_error(r: &Report) {
    use scxray::failure_dump::Trigger;
    let d = failure_dump(r, SectionKind::FailureDump);
    eprintln!(
        "failure dump: frozen {} µs, walk {} µs, {} tasks, {} maps, skipped {:?}",
        d.frozen_us,
        d.walk_us,
        d.tasks.len(),
        d.maps.len(),
        d.skipped
    );
    match &d.trigger {
        Trigger::Watchpoint { rip_symbol, .. } => assert!(
            rip_symbol
                .as_deref()
                .is_some_and(|s| s.starts_with("scx_claim_exit+")),
            "{:?}",
            d.trigger
        ),
        other => panic!("not frozen by the watchpoint: {other:?}"),
    }
    assert!(d.exit_kind.is_some_and(|k| k >= 1024), "{:?}", d.exit_kind);
    assert_eq!(d.cpus.len(), 2);
    assert_eq!(d.vcpus.len(), 2);
    assert!(d.frozen_us <= 200_000, "{} µs", d.frozen_us);
    // `… (enqueue #400, pid 116)`: that task is in the dump, queued.
    let msg = r
        .crash()
        .and_then(|c| c.message.clone())
        .unwrap_or_default();
    let pid: i32 = msg
        .rsplit_once("pid ")
        .and_then(|(_, p)| p.trim_end_matches(')').parse().ok())
        .unwrap_or_else(|| panic!("no pid in {msg:?}"));
    let t = d
        .task(pid)
        .unwrap_or_else(|| panic!("task {pid} not in the dump"));
    // Which task makes enqueue #400 is timing: mostly the workload's
    // scx-sleepwake, on a loaded host a kthread such as rcu_preempt.
    assert!(!t.comm.is_empty(), "{t:?}");
    assert_eq!(t.state, "ENABLED", "{t:?}");
    // Queued: its whole `task_struct->scx`, decoded by the kernel's BTF.
    assert!(
        t.scx
            .as_deref()
            .is_some_and(|s| s.contains("dsq_list = { node = { next = ")),
        "{t:?}"
    );
    assert!(d.dsqs.iter().any(|q| q.id == 0x4445_4d4f), "{:?}", d.dsqs);
    let bss = d
        .maps
        .iter()
        .find(|m| m.name.ends_with(".bss"))
        .unwrap_or_else(|| panic!("no .bss map: {:?}", d.maps));
    assert!(
        bss.entries
            .first()
            .is_some_and(|e| e.value.contains("nr_enqueued = ")),
        "{bss:?}"
    );
}

/// The host monitor read the guest's runqueues from its RAM: samples every
/// ~100 ms, sched_ext tasks on the runqueues while the demo ran and none once
/// it crashed (the kernel moved them back to the fair class), the crash time
/// recorded with them, and ktstr's monitor summary.
fn host_monitor_saw_the_scheduler(r: &Report) {
    use scxray::host_monitor::samples_text::{parse_crash_ms, parse_samples};
    let raw = r
        .section(&SectionKind::MonitorSamples)
        .expect("a monitor samples section (is the monitor off? see diagnostics)");
    let samples = parse_samples(&raw.body);
    let crash = parse_crash_ms(&raw.body).expect("the crash time");
    assert!(samples.len() >= 10, "{} samples", samples.len());
    assert!(samples.iter().all(|s| s.cpus.len() == 2));
    let scx_before = samples
        .iter()
        .filter(|s| s.at_ms < crash)
        .any(|s| s.cpus.iter().any(|c| c.scx_nr_running > 0));
    assert!(
        scx_before,
        "no sched_ext task seen before the crash: {}",
        &*raw.body
    );
    let last = samples.last().unwrap();
    assert!(last.at_ms > crash);
    assert!(
        last.cpus.iter().all(|c| c.scx_nr_running == 0),
        "sched_ext tasks after the crash: {}",
        &*raw.body
    );
    // Runqueue clocks advance between samples of a live guest.
    assert!(samples
        .windows(2)
        .any(|w| w[1].cpus[0].clock > w[0].cpus[0].clock));
    let monitor = r.section(&SectionKind::Monitor).expect("monitor section");
    assert!(monitor.body.starts_with("samples="), "{}", &*monitor.body);
    assert!(monitor.body.contains("verdict: "), "{}", &*monitor.body);
}

/// The experimental probe layer on the test VM itself: kprobes on kernel
/// functions of the demo's crash (kprobe.multi), fentry on a struct_ops
/// callback and on the nested subprogram that calls scx_bpf_error, the
/// sched_ext_exit trigger, and a named error for a function that does not
/// exist. The exit trigger fires once with SCX_EXIT_ERROR_BPF, on the task
/// the dump says triggered the exit, and the kernel probes saw that task.
#[test]
fn demo_probes_see_the_crash() {
    use scxray::run::probe_text::parse_probe_log;
    use scxray::run::record::ProbeKind;
    if !ready("demo_probes_see_the_crash") {
        return;
    }
    let targets = [
        "scx_bpf_error_bstr",
        "enqueue_task_scx",
        "validate_cell",
        "demo_enqueue",
        "no_such_fn",
    ];
    let mut extra = Vec::new();
    for t in targets {
        extra.extend(["--probe", t]);
    }
    let (code, r, stderr) = demo_with("scx-bpf-error", &extra);
    assert_eq!(code, 1, "{stderr}");
    let c = r.crash().expect("a crash in the report");
    assert_eq!(c.kind, ExitKind::ScxBpfError);
    let section = r
        .section(&SectionKind::ProbeEvents)
        .expect("a probe events section");
    eprintln!("--- probe events ---\n{}", &*section.body);
    let log = parse_probe_log(&section.body);

    let attach = |t: &str| {
        log.attaches
            .iter()
            .find(|a| a.target == t)
            .unwrap_or_else(|| panic!("no attach result for {t}: {:?}", log.attaches))
    };
    for (t, probe) in [
        ("scx_bpf_error_bstr", "kprobe.multi"),
        ("enqueue_task_scx", "kprobe.multi"),
        ("validate_cell", "fentry"),
        ("demo_enqueue", "fentry_ctx"),
        ("sched_ext_exit", "tp_btf"),
    ] {
        let a = attach(t);
        assert_eq!((a.probe.as_str(), &a.error), (probe, &None), "{t}");
    }
    let bogus = attach("no_such_fn");
    let error = bogus.error.as_deref().unwrap_or("");
    assert!(
        error.contains("neither a kernel function")
            && error.contains("nor a function of a loaded BPF program"),
        "{bogus:?}"
    );

    let exits: Vec<_> = log
        .events
        .iter()
        .filter(|e| e.kind == ProbeKind::Exit)
        .collect();
    assert_eq!(exits.len(), 1, "{exits:?}");
    let exit = exits[0];
    assert_eq!(exit.exit_kind, Some(1025), "SCX_EXIT_ERROR_BPF");
    // The exit fires in the task that called scx_bpf_error (the dump's
    // "triggered exit" line names the task its irq_work interrupted, which
    // can be another one).
    eprintln!(
        "exit trigger: {exit:?}; the dump says {:?} on CPU {:?}",
        c.task, c.cpu
    );

    let events = &log.events;
    let of = |t: &'static str| events.iter().filter(move |e| e.target == t);
    // A probe that fires inside another of ours on the same CPU (an
    // interrupt's wakeup inside a kprobe) is not run, only counted: a hit
    // of the crash may be missing only when the kernel says it skipped one.
    let missed = log.missed;
    let skipped = |what: String| {
        assert!(missed > 0, "{what} (and the kernel skipped no hit)");
        eprintln!("{what}: one of the {missed} hits the kernel skipped");
    };
    // The entry's hit (its return comes after the exit trigger).
    match of("scx_bpf_error_bstr").rfind(|e| !e.kind.is_return()) {
        Some(error_hit) => {
            assert_eq!(error_hit.kind, ProbeKind::Kprobe);
            assert_eq!((error_hit.pid, error_hit.cpu), (exit.pid, exit.cpu));
            assert!(error_hit.t_ns <= exit.t_ns);
        }
        None => skipped("the kprobe on scx_bpf_error_bstr did not fire".into()),
    }
    if !of("enqueue_task_scx").any(|e| e.pid == exit.pid && e.t_ns <= exit.t_ns) {
        skipped(format!(
            "no enqueue_task_scx hit by the crashing task {}",
            exit.pid
        ));
    }
    // validate_cell(p, seq): the crashing call is enqueue #400
    // (`--crash-after 400`); its task (the one in the error message) is the
    // one enqueue_task_scx(rq, p, flags) and demo_enqueue(p, flags) got.
    let Some(cell) =
        of("validate_cell").find(|e| e.kind == ProbeKind::Fentry && e.args.get(1) == Some(&400))
    else {
        skipped("no validate_cell hit with seq 400".into());
        return;
    };
    let p = cell.args[0];
    assert_eq!(cell.pid, exit.pid);
    if !of("enqueue_task_scx").any(|e| e.args.get(1) == Some(&p)) {
        skipped(format!("no enqueue_task_scx of task {p:#x}"));
    }
    assert!(
        of("demo_enqueue").any(|e| e.kind == ProbeKind::FentryCtx && e.args.first() == Some(&p))
            || missed > 0,
        "no demo_enqueue of task {p:#x} (and the kernel skipped no hit)"
    );
    for t in [
        "scx_bpf_error_bstr",
        "enqueue_task_scx",
        "validate_cell",
        "demo_enqueue",
    ] {
        let n = log
            .counts
            .iter()
            .find(|c| c.target == t)
            .map_or(0, |c| c.hits);
        assert!(n > 0, "{t}: no hits counted: {:?}", log.counts);
    }
    probes_carry_layouts(&log, c, cell);
}

/// The auto-repro half of the probes: return probes beside the entry ones,
/// each target's layout (parameters and struct fields from BTF), the fields
/// read at every hit, and a BPF function's JIT line table, which maps the
/// crash backtrace's `validate_cell+0x8c` to its `scx_bpf_error` call.
fn probes_carry_layouts(
    log: &scxray::run::probe_text::ProbeLog,
    c: &scxray::report::Crash,
    cell: &scxray::run::record::ProbeHit,
) {
    use scxray::run::record::ProbeKind;
    for (t, probe) in [
        ("scx_bpf_error_bstr", "kretprobe.multi"),
        ("enqueue_task_scx", "kretprobe.multi"),
        ("validate_cell", "fexit"),
        ("demo_enqueue", "fexit_ctx"),
    ] {
        assert!(
            log.attaches
                .iter()
                .any(|a| a.target == t && a.probe == probe && a.error.is_none()),
            "{t}: no {probe}: {:?}",
            log.attaches
        );
    }
    let layout = |t: &str| {
        log.layouts
            .iter()
            .find(|l| l.target == t)
            .unwrap_or_else(|| panic!("no layout for {t}: {:?}", log.layouts))
    };
    let vc = layout("validate_cell");
    let p = &vc.params[0];
    assert_eq!(
        (p.name.as_str(), p.type_name.as_str(), p.pointee.as_deref()),
        ("p", "struct task_struct *", Some("task_struct")),
        "{vc:?}"
    );
    let pid = vc
        .fields
        .iter()
        .position(|f| f.param == 0 && f.name == "pid")
        .unwrap_or_else(|| panic!("no pid field: {vc:?}"));
    // The crashing call's task is the one the error message names.
    assert_eq!(cell.fields.len(), vc.fields.len(), "{cell:?}");
    let message = c.message.as_deref().unwrap_or("");
    let named: u64 = message
        .split_once("pid ")
        .and_then(|(_, rest)| rest.split(|ch: char| !ch.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {message:?}"));
    assert_eq!(cell.fields[pid], named, "{cell:?}");
    // Its return: -EINVAL, after the exit trigger fired (unless the kernel
    // skipped that hit, nested in another probe).
    let ret = log.events.iter().find(|e| {
        e.target == "validate_cell" && e.kind == ProbeKind::Fexit && e.args.get(1) == Some(&400)
    });
    match ret {
        Some(ret) => {
            assert_eq!(ret.ret.map(|r| r as u32 as i32), Some(-22), "{ret:?}");
            assert_eq!(ret.fields.len(), vc.fields.len());
        }
        None => assert!(log.missed > 0, "no fexit of validate_cell #400"),
    }
    assert!(
        log.events.iter().any(|e| e.target == "enqueue_task_scx"
            && e.kind == ProbeKind::Kretprobe
            && !e.fields.is_empty()),
        "no kretprobe hit of enqueue_task_scx with fields"
    );
    let ops = layout("demo_enqueue");
    let names: Vec<&str> = ops.params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["p", "enq_flags"], "{ops:?}");

    // The backtrace's frames: same tags, and the call's line.
    let frame = |name: &str| {
        c.backtrace
            .iter()
            .find_map(|f| match &f.class {
                FrameClass::BpfProg { tag, name: n } if n == name => Some((tag.clone(), f.offset)),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no {name} frame"))
    };
    let (tag, offset) = frame("validate_cell");
    assert_eq!(vc.tag.as_deref(), Some(tag.as_str()), "validate_cell");
    assert_eq!(
        layout("demo_enqueue").tag.as_deref(),
        Some(frame("demo_enqueue").0.as_str()),
        "demo_enqueue"
    );
    // The frame's return address, minus one: inside the call.
    let at = offset.expect("a frame offset") as u32 - 1;
    let line = vc
        .lines
        .iter()
        .rfind(|l| l.offset <= at)
        .unwrap_or_else(|| panic!("no line at {at:#x}: {:?}", vc.lines));
    let source = include_str!("../../probes/src/bpf/demo.bpf.c");
    let call = source
        .lines()
        .position(|l| l.contains("scx_bpf_error_bstr(fmt"))
        .expect("the scx_bpf_error call in demo.bpf.c") as u32
        + 1;
    assert_eq!(line.line, call, "{at:#x} -> {line:?}");
    assert!(line.file.ends_with("demo.bpf.c"), "{line:?}");
}

#[test]
fn demo_stall() {
    if !ready("demo_stall") {
        return;
    }
    let (code, r, _) = demo("stall");
    assert_eq!(code, 1);
    let c = r.crash().expect("a crash");
    assert_eq!(c.kind, ExitKind::Stall);
    stall_flagged_before_the_watchdog(&r);
    assert_eq!(c.reason.as_deref(), Some("runnable task stall"));
    assert!(
        c.message
            .as_deref()
            .unwrap_or("")
            .contains("failed to run for"),
        "{:?}",
        c.message
    );
}

/// The host monitor sees the stall before the kernel's watchdog ends the
/// scheduler: some CPU's runqueue clock stood still while it had runnable
/// tasks in a sample before the crash.
fn stall_flagged_before_the_watchdog(r: &Report) {
    use scxray::host_monitor::sample::stuck_cpus;
    use scxray::host_monitor::samples_text::{parse_crash_ms, parse_samples};
    let raw = r
        .section(&SectionKind::MonitorSamples)
        .expect("monitor samples");
    let samples = parse_samples(&raw.body);
    let crash_ms = parse_crash_ms(&raw.body).expect("the crash time in the samples");
    let before: Vec<_> = samples.iter().filter(|s| s.at_ms < crash_ms).collect();
    let stuck: Vec<u64> = before
        .windows(2)
        .filter(|w| !stuck_cpus(w[0], w[1]).is_empty())
        .map(|w| w[1].at_ms)
        .collect();
    // Seen in most runs (stuck CPUs 1–2 s before the crash), not all: under
    // TCG the stalled CPU's clock does not always stand still for a whole
    // sample, so this is reported, not required.
    eprintln!("stall: crash at {crash_ms} ms, stuck CPUs at {stuck:?} ms");
    assert!(
        !before.is_empty(),
        "no monitor sample before the crash:\n{}",
        &*raw.body
    );
    // What is required: the held task's wait on its CPU's runnable list,
    // past half the watchdog's timeout, in a sample before the crash, and
    // the diagnostics' note of the coming stall.
    let early = before
        .iter()
        .find(|s| s.runnable_wait.is_some_and(|w| w.stalling()))
        .unwrap_or_else(|| {
            panic!(
                "no sample before the crash at {crash_ms} ms saw a task past half the watchdog timeout:\n{}",
                &*raw.body
            )
        });
    eprintln!(
        "stall flagged at {} ms ({} ms before the watchdog's crash): {:?}",
        early.at_ms,
        crash_ms - early.at_ms,
        early.runnable_wait
    );
    let diag = r.section(&SectionKind::Diagnostics).expect("diagnostics");
    assert!(
        diag.body.contains("host monitor: a stall is coming: task "),
        "{}",
        &*diag.body
    );
}

#[test]
fn demo_bad_dsq() {
    if !ready("demo_bad_dsq") {
        return;
    }
    let (code, r, _) = demo("bad-dsq");
    assert_eq!(code, 1);
    let c = r.crash().expect("a crash");
    assert_eq!(c.kind, ExitKind::RuntimeError);
    assert!(
        c.message.as_deref().unwrap_or("").contains("DSQ"),
        "{:?}",
        c.message
    );
    // The DSQ state at the error: the demo's user DSQ with the tasks on
    // it when ops.dispatch() named a DSQ that does not exist; the error's
    // kind is SCX_EXIT_ERROR.
    let d = failure_dump(&r, SectionKind::FailureDump);
    assert_eq!(d.exit_kind_name.as_deref(), Some("SCX_EXIT_ERROR"), "{d:?}");
    let demo_dsq = d
        .dsqs
        .iter()
        .find(|q| q.id == 0x4445_4d4f)
        .unwrap_or_else(|| panic!("no DEMO DSQ: {:?}", d.dsqs));
    assert_eq!(demo_dsq.nr as usize, demo_dsq.tasks.len(), "{demo_dsq:?}");
    for t in &demo_dsq.tasks {
        let task = d.task(t.pid).expect("a queued task is on scx_tasks");
        assert_eq!(task.dsq, Some(0x4445_4d4f), "{task:?}");
        assert!(task.flag_names.iter().any(|f| f == "QUEUED"), "{task:?}");
    }
    assert_eq!(d.cpus.len(), 2);
}

/// Without the watchpoint the guest is stopped late, when the agent reports
/// the scheduler gone; the dump says so. `--no-freeze` leaves it out.
#[test]
fn failure_dump_late_without_the_watchpoint_and_off_on_request() {
    if !ready("failure_dump_late_without_the_watchpoint_and_off_on_request") {
        return;
    }
    use scxray::failure_dump::Trigger;
    let (code, r, _) = demo_env("scx-bpf-error", &[], &[("SCXRAY_FREEZE_WATCH", "off")]);
    assert_eq!(code, 1);
    let d = failure_dump(&r, SectionKind::FailureDump);
    match &d.trigger {
        Trigger::Late { why, .. } => assert!(
            why.contains("the guest reported sched_ext") && why.contains("the watchpoint was off"),
            "{why}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(d.cpus.len(), 2);
    let (code, r, _) = demo_with("scx-bpf-error", &["--no-freeze"]);
    assert_eq!(code, 1);
    assert!(r.section(&SectionKind::FailureDump).is_none());
    let diag = r.section(&SectionKind::Diagnostics).expect("diagnostics");
    assert!(!diag.body.contains("failure dump"), "{}", &*diag.body);
}

#[test]
fn demo_bad_cpu() {
    if !ready("demo_bad_cpu") {
        return;
    }
    let (code, r, _) = demo("bad-cpu");
    assert_eq!(code, 1);
    let c = r.crash().expect("a crash");
    assert_eq!(c.kind, ExitKind::RuntimeError);
    assert!(
        c.message.as_deref().unwrap_or("").contains("invalid CPU"),
        "{:?}",
        c.message
    );
}

#[test]
fn demo_without_knobs_survives() {
    if !ready("demo_without_knobs_survives") {
        return;
    }
    // Thresholds no healthy run on 2 CPUs meets: the verdict follows the
    // flags (report-only: the run still passes).
    let flags = ["--monitor-max-imbalance", "1", "--monitor-sustained", "1"];
    let (code, r, stderr) = demo_with("none", &flags);
    assert_eq!(code, 0, "{stderr}");
    assert!(r.crash().is_none(), "{:?}", r.crash());
    let monitor = r.section(&SectionKind::Monitor).expect("monitor section");
    let verdict = monitor.body.lines().find(|l| l.starts_with("verdict: "));
    assert!(
        verdict.is_some_and(|v| v.starts_with("verdict: monitor FAILED: ")
            && v.contains("imbalance ratio")
            && v.contains("exceeded threshold 1.0 for ")),
        "{}",
        &*monitor.body
    );
    let stats = r.section(&SectionKind::Stats).expect("stats");
    assert!(stats.body.contains("cg0: workers=2"), "{}", &*stats.body);
    let timeline = r.section(&SectionKind::Timeline).expect("timeline");
    assert!(
        timeline.body.contains("Phase 3: fork"),
        "{}",
        &*timeline.body
    );
    // KASLR on (the default): the layout came from guest memory.
    let diag = r.section(&SectionKind::Diagnostics).expect("diagnostics");
    assert!(
        diag.body.contains("kernel layout from guest memory: "),
        "{}",
        &*diag.body
    );
    host_monitor_read_the_event_counters(&r);
}

/// With a thread per vCPU (multi-threaded TCG here, KVM on users' machines)
/// every sample carries how long the host kept each vCPU waiting, which
/// exempts a preempted vCPU from "stuck"; single-threaded TCG says it
/// cannot tell (tests above run that way).
#[test]
fn vcpu_host_waits_are_sampled_with_a_thread_per_vcpu() {
    if !ready("vcpu_host_waits_are_sampled_with_a_thread_per_vcpu") {
        return;
    }
    let _vm = guest::one_at_a_time();
    let state = state_dir();
    let o = Command::new(bin())
        .args([
            "demo",
            "--headless",
            "--no-auto-repro",
            "--crash",
            "none",
            "--phase-ms",
            "800",
        ])
        .env("XDG_STATE_HOME", state.path())
        .env("SCXRAY_TCG_THREADS", "multi")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let r = parse_str(&out);
    let raw = r
        .section(&SectionKind::MonitorSamples)
        .expect("monitor samples");
    let samples = scxray::host_monitor::samples_text::parse_samples(&raw.body);
    assert!(samples.len() >= 10, "{}", &*raw.body);
    // Samples taken as the guest stops (its vCPU threads gone) have none.
    let live: Vec<_> = samples
        .iter()
        .filter(|s| s.vcpu_wait_ns.is_some())
        .collect();
    assert!(
        live.len() * 10 >= samples.len() * 8,
        "{} of {} samples carry vCPU waits",
        live.len(),
        samples.len()
    );
    for s in &live {
        assert_eq!(s.vcpu_wait_ns.as_ref().unwrap().len(), s.cpus.len());
    }
    // Cumulative: never down.
    for w in live.windows(2) {
        let (a, b) = (
            w[0].vcpu_wait_ns.as_ref().unwrap(),
            w[1].vcpu_wait_ns.as_ref().unwrap(),
        );
        assert!(a.iter().zip(b).all(|(x, y)| y >= x), "{a:?} -> {b:?}");
    }
    assert!(
        !out.contains("host preemption of vCPUs not tracked"),
        "{out}"
    );
}

/// With `--nokaslr` the kernel sits at its link address: the monitor finds
/// it in guest memory the same way (KERNELOFFSET 0) and reads everything.
#[test]
fn nokaslr_keeps_the_monitor_whole() {
    if !ready("nokaslr_keeps_the_monitor_whole") {
        return;
    }
    let (code, r, stderr) = demo_with("none", &["--nokaslr"]);
    assert_eq!(code, 0, "{stderr}");
    let diag = r.section(&SectionKind::Diagnostics).expect("diagnostics");
    assert!(
        diag.body.contains("kernel layout from guest memory: ")
            && diag.body.contains("KERNELOFFSET=0x0 "),
        "{}",
        &*diag.body
    );
    host_monitor_read_the_event_counters(&r);
}

/// The host monitor read the sched_ext event counters out of the guest's
/// RAM (7.x: `scx_root` → `scx_sched.pcpu` → per-CPU `event_stats`, summed):
/// the names are the kernel's, every value is a count (never negative),
/// no counter goes down while the one scheduler runs, and ktstr's
/// `events:` line is in the summary with the counts the samples give.
fn host_monitor_read_the_event_counters(r: &Report) {
    use scxray::host_monitor::events::Events;
    use scxray::host_monitor::samples_text::parse_samples;
    use scxray::sections::monitor::MonitorSection;
    let raw = r
        .section(&SectionKind::MonitorSamples)
        .expect("a monitor samples section (is the monitor off? see diagnostics)");
    let samples = parse_samples(&raw.body);
    let read: Vec<(&[String], &[i64])> = samples
        .iter()
        .filter_map(|s| match &s.events {
            Some(Events::Read { names, values }) => Some((&names.0[..], &values[..])),
            _ => None,
        })
        .collect();
    assert!(
        read.len() >= 10,
        "{} samples with event counters:\n{}",
        read.len(),
        &*raw.body
    );
    let (names, last) = *read.last().unwrap();
    assert_eq!(names[0], "SCX_EV_SELECT_CPU_FALLBACK", "{names:?}");
    assert!(names.iter().any(|n| n == "SCX_EV_DISPATCH_KEEP_LAST"));
    assert!(read.iter().all(|(_, v)| v.iter().all(|&x| x >= 0)));
    for w in read.windows(2) {
        for (a, b) in w[0].1.iter().zip(w[1].1) {
            assert!(b >= a, "a counter went down: {:?} -> {:?}", w[0].1, w[1].1);
        }
    }
    eprintln!(
        "event counters at the end: {:?}",
        names.iter().zip(last).collect::<Vec<_>>()
    );
    if let Some(diag) = r.section(&SectionKind::Diagnostics) {
        for l in diag.body.lines().filter(|l| l.contains("host monitor")) {
            eprintln!("{l}");
        }
    }
    let monitor = r.section(&SectionKind::Monitor).expect("monitor section");
    let m = MonitorSection::parse(&monitor.body);
    let events: Vec<&str> = m.events.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        events,
        ["fallback", "keep_last", "offline"],
        "{}",
        &*monitor.body
    );
    assert!(
        m.events.iter().all(|c| c.count.is_some()),
        "{}",
        &*monitor.body
    );
    assert!(
        m.unknown.iter().all(|l| !l.contains("not read")),
        "{}",
        &*monitor.body
    );
    // Schedstat (the guest boots with schedstats=enable): the CPUs switched
    // tasks and woke some while the workload ran.
    let csw = m.schedstat.iter().find(|c| c.name == "csw");
    assert!(
        csw.and_then(|c| c.count).is_some_and(|n| n > 0),
        "{}",
        &*monitor.body
    );
    // The demo's struct_ops programs ran (the guest boots with
    // kernel.bpf_stats_enabled=1): a `bpf:` line each, with calls counted.
    assert!(
        m.bpf
            .iter()
            .any(|p| p.name.starts_with("demo_") && p.count.is_some_and(|n| n > 0)),
        "{}",
        &*monitor.body
    );
    assert!(
        m.bpf
            .iter()
            .all(|p| p.ns_per_call.is_some_and(|ns| ns > 0.0)),
        "{}",
        &*monitor.body
    );
    eprintln!("--- monitor ---\n{}", &*monitor.body);
    // The diagnostics say where the counters were found and what sampling
    // cost; no part of the monitor was turned off.
    let diag = r.section(&SectionKind::Diagnostics).expect("diagnostics");
    let notes: Vec<&str> = diag
        .body
        .lines()
        .filter(|l| l.contains("host monitor"))
        .collect();
    eprintln!("{}", notes.join("\n"));
    assert!(
        notes.iter().any(|l| l.contains("SCX event counters: ")),
        "{}",
        &*diag.body
    );
    assert!(
        notes.iter().all(|l| !l.contains("not read")
            && !l.contains("cannot be read")
            && !l.contains("monitor off")),
        "{}",
        &*diag.body
    );
    counters_agree_with_the_guests_sysfs(&samples, &diag.body);
    runqueues_agree_with_the_guests_sched_debug(&diag.body);
}

/// The guest's own `nr_running` per CPU (debugfs `sched/debug`, read by the
/// agent twice a second during the phases) agrees with the host's samples
/// taken within 250 ms of it: the total lies within the host totals' range
/// ±1 (the reading agent itself runs). Half of them, not all: the fork
/// phase's tasks live for milliseconds and a worker may start or end
/// between the two reads under TCG's coarse timing (seen: 7, 8 and 8 of 9
/// on a quiet host, 5 of 8 with a build running beside it). A monitor
/// reading the wrong field disagrees in most readings, not a few.
fn runqueues_agree_with_the_guests_sched_debug(diag: &str) {
    use scxray::host_monitor::guest_rq::{parse_agreement, NOTE};
    let note = diag
        .lines()
        .find_map(|l| l.strip_prefix("note: ").filter(|n| n.starts_with(NOTE)))
        .unwrap_or_else(|| panic!("no sched/debug note:\n{diag}"));
    eprintln!("{note}");
    let (agreed, compared) = parse_agreement(note).expect("the note's counts");
    assert!(compared >= 5, "{note}");
    assert!(agreed * 2 >= compared, "{note}");
}

/// The guest's own `/sys/kernel/sched_ext/root/events`, read by the agent
/// at the scenario's end while the scheduler was attached, agrees with the
/// host's reading of guest memory: some sample has every counter within
/// 2 + 2 % of the kernel's value (the sysfs read comes up to one sampling
/// interval after the nearest sample, and the counters keep moving).
fn counters_agree_with_the_guests_sysfs(
    samples: &[scxray::host_monitor::sample::Sample],
    diag: &str,
) {
    use scxray::host_monitor::events::{Events, SYSFS_NOTE};
    let note = diag
        .lines()
        .find_map(|l| l.strip_prefix("note: ")?.strip_prefix(SYSFS_NOTE))
        .unwrap_or_else(|| panic!("no sysfs events note:\n{diag}"));
    let sysfs: Vec<(&str, i64)> = note
        .split_whitespace()
        .filter_map(|t| {
            let (n, v) = t.split_once('=')?;
            Some((n, v.parse().ok()?))
        })
        .collect();
    let within = |host: i64, guest: i64| (host - guest).abs() <= 2 + guest.abs() / 50;
    let best = samples
        .iter()
        .filter_map(|s| match &s.events {
            Some(Events::Read { names, values }) => Some((s.at_ms, &names.0, values)),
            _ => None,
        })
        .find(|(_, names, values)| {
            names.iter().zip(values.iter()).all(|(n, &v)| {
                let guest = sysfs.iter().find(|(g, _)| g == n).map_or(0, |&(_, g)| g);
                within(v, guest)
            })
        });
    eprintln!("guest sysfs: {note}");
    assert!(
        best.is_some(),
        "no sample agrees with the guest's sysfs counters ({note}); last samples: {:?}",
        samples
            .iter()
            .rev()
            .take(3)
            .map(|s| &s.events)
            .collect::<Vec<_>>()
    );
}

/// Debian bookworm's 6.1 cloud kernel (no sched_ext), cached outside the repo.
fn debian_61_kernel() -> Option<PathBuf> {
    let cache = std::env::var_os("SCXRAY_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/scxray-test")
        })
        .join("debian-6.1");
    let find = |dir: &Path| -> Option<PathBuf> {
        std::fs::read_dir(dir.join("boot"))
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
            })
    };
    if let Some(k) = find(&cache) {
        return Some(k);
    }
    let deps = Command::new("apt-cache")
        .args(["depends", "linux-image-cloud-amd64"])
        .output()
        .ok()?;
    let pkg = String::from_utf8_lossy(&deps.stdout)
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Depends: ")
                .filter(|p| p.starts_with("linux-image-6.1"))
                .map(str::to_string)
        })?;
    let dl = tempfile::tempdir().ok()?;
    let ok = Command::new("apt-get")
        .args(["download", &pkg])
        .current_dir(dl.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?
        .success();
    if !ok {
        return None;
    }
    let deb = std::fs::read_dir(dl.path())
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))?;
    let tmp = cache.with_extension("partial");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).ok()?;
    Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(&tmp)
        .status()
        .ok()?
        .success()
        .then_some(())?;
    std::fs::rename(&tmp, &cache).ok()?;
    find(&cache)
}

/// `--backend kvm`: scxray's own VMM boots the demo. Where KVM runs Linux
/// the crash is caught as under QEMU; on a KVM that cannot (this
/// project's nested one) the run ends by itself as a guest failure naming
/// KVM's error, where the guest was, and the way out, with nothing left
/// behind.
#[test]
fn demo_on_the_own_vmm() {
    if !ready("demo_on_the_own_vmm") {
        return;
    }
    let (code, text, stderr) = demo_raw("scx-bpf-error", &["--backend", "kvm"], &[]);
    assert!(
        stderr.contains("scxray: backend: own KVM VMM (--backend kvm)"),
        "{stderr}"
    );
    assert!(text.contains("backend: kvm"), "{text}");
    if code == 1 {
        let r = parse_str(&text);
        let c = r.crash().expect("a crash in the report");
        assert_eq!(c.kind, ExitKind::ScxBpfError);
        return;
    }
    assert_eq!(code, 3, "a guest failure exits 3\n{stderr}\n{text}");
    assert!(text.contains("the VMM stopped the guest"), "{text}");
    assert!(text.contains("KVM internal error"), "{text}");
    assert!(text.contains(" at rip 0x"), "{text}");
    assert!(text.contains("--backend auto or qemu"), "{text}");
}

#[test]
fn kernel_without_sched_ext_is_refused() {
    if !ready("kernel_without_sched_ext_is_refused") {
        return;
    }
    let Some(kernel) = debian_61_kernel() else {
        require::skip(
            "kernel_without_sched_ext_is_refused",
            "cannot download Debian's 6.1 cloud kernel with apt-get",
        );
        return;
    };
    let state = state_dir();
    let demo = bin().parent().unwrap().join("scx-demo");
    let o = scxray(
        &[
            "run",
            "--headless",
            "--kernel",
            kernel.to_str().unwrap(),
            "--scheduler",
            demo.to_str().unwrap(),
        ],
        state.path(),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("CONFIG_SCHED_CLASS_EXT"), "{err}");
    assert!(err.contains("scxray kernel fetch"), "{err}");
}

/// Processes whose command line mentions `needle` (QEMU's run files carry scxray's pid).

#[test]
fn ctrl_c_during_boot_leaves_nothing_behind() {
    if !ready("ctrl_c_during_boot_leaves_nothing_behind") {
        return;
    }
    let _vm = guest::one_at_a_time();
    let state = state_dir();
    let child = Command::new(bin())
        .args(["demo", "--headless"])
        .env("XDG_STATE_HOME", state.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let needle = format!("scxray-{pid}-");
    // Wait until QEMU runs, then interrupt.
    let deadline = Instant::now() + Duration::from_secs(30);
    while guest::qemu_of(pid).is_empty() {
        assert!(Instant::now() < deadline, "QEMU never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: signalling the child we spawned.
    unsafe { libc::kill(pid as i32, libc::SIGINT) };
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(guest::qemu_of(pid).is_empty(), "QEMU left running");
    let leftovers: Vec<_> = std::fs::read_dir("/dev/shm")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&needle))
        .collect();
    assert!(leftovers.is_empty(), "shared memory left: {leftovers:?}");
}

#[test]
fn scheduler_that_never_attaches_is_reported() {
    if !ready("scheduler_that_never_attaches_is_reported") {
        return;
    }
    let _vm = guest::one_at_a_time();
    let state = state_dir();
    let o = scxray(
        &[
            "run",
            "--headless",
            "--scheduler",
            "/bin/true",
            "--phase-ms",
            "500",
        ],
        state.path(),
    );
    let out = String::from_utf8_lossy(&o.stdout);
    // 4, not 2: the scheduler's fault, not scxray's.
    assert_eq!(o.status.code(), Some(4), "{out}");
    let r = parse_str(&out);
    assert!(r.crash().is_none());
    assert!(
        r.header
            .details
            .iter()
            .any(|d| d.contains("scheduler exited before attaching")),
        "{:?}",
        r.header.details
    );
    // How long it waited; `/bin/true` prints nothing, so there is no first
    // error line to show, and no last line to stand in for one.
    assert!(
        r.header.details[0].starts_with("scheduler did not attach after "),
        "{:?}",
        r.header.details
    );
    assert_eq!(r.header.fingerprint, None, "{out}");
}

/// The scheduler runs under its own file name in the guest (issue 14): its
/// usage text names it, as on the user's machine, not an internal path.
#[test]
fn scheduler_runs_under_its_own_name() {
    if !ready("scheduler_runs_under_its_own_name") {
        return;
    }
    let _vm = guest::one_at_a_time();
    let state = state_dir();
    let demo = bin().with_file_name("scx-demo");
    let mine = state.path().join("scx_mine");
    std::fs::copy(&demo, &mine).unwrap();
    let o = scxray(
        &[
            "run",
            "--headless",
            "--scheduler",
            mine.to_str().unwrap(),
            "--phase-ms",
            "500",
            "--",
            "--bogus",
        ],
        state.path(),
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(4), "{out}");
    assert!(out.contains("Usage: scx_mine"), "{out}");
    assert!(!out.contains("/scxray/scheduler"), "{out}");
    let r = parse_str(&out);
    assert!(
        r.header.details[0].contains("unexpected argument '--bogus'"),
        "{:?}",
        r.header.details
    );
}

/// A wrapper script given as the scheduler is refused before booting, by
/// its own name (the guest has no shell to run it).
#[test]
fn script_scheduler_is_refused_before_boot() {
    if !ready("script_scheduler_is_refused_before_boot") {
        return;
    }
    let state = state_dir();
    let script = state.path().join("run_mine.sh");
    std::fs::write(&script, "#!/bin/sh\nexec ./scx_mine --slice 5\n").unwrap();
    let o = scxray(
        &["run", "--headless", "--scheduler", script.to_str().unwrap()],
        state.path(),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("run_mine.sh is a script (#!/bin/sh)") && !err.contains("/scxray/"),
        "{err}"
    );
    assert!(!err.contains("booting"), "{err}");
}

/// Libraries from `--lib-dir` (issue 14): a library lacking a symbol version
/// the scheduler needs is refused before booting, naming it; the right one
/// is packed and found by the guest's loader through LD_LIBRARY_PATH.
#[test]
fn lib_dir_is_checked_before_boot_and_used_in_the_guest() {
    if !ready("lib_dir_is_checked_before_boot_and_used_in_the_guest") {
        return;
    }
    let state = state_dir();
    let (old, new) = (state.path().join("old"), state.path().join("new"));
    versioned_lib(&old, &["SCXVER_1.0"]).unwrap();
    versioned_lib(&new, &["SCXVER_1.0", "SCXVER_1.5"]).unwrap();
    std::fs::write(
        state.path().join("main.c"),
        "#include <stdio.h>\nint f1(void);\n\
         int main(void) { fprintf(stderr, \"libscxver loaded: f1=%d\\n\", f1()); return 1; }\n",
    )
    .unwrap();
    let new_dir = new.to_str().unwrap();
    cc(
        state.path(),
        &[
            "-o",
            "scx_versioned",
            "main.c",
            &format!("-L{new_dir}"),
            "-l:libscxver.so.1",
        ],
    )
    .unwrap();
    let sched = state.path().join("scx_versioned");
    let run = |lib_dir: &Path| {
        scxray(
            &[
                "run",
                "--headless",
                "--no-auto-repro",
                "--phase-ms",
                "300",
                "--scheduler",
                sched.to_str().unwrap(),
                "--lib-dir",
                lib_dir.to_str().unwrap(),
            ],
            state.path(),
        )
    };
    let o = run(&old);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("needs version SCXVER_1.5 of libscxver.so.1")
            && stderr.contains(old.join("libscxver.so.1").to_str().unwrap())
            && stderr.contains("--lib-dir"),
        "{stderr}"
    );
    assert!(!stderr.contains("booting"), "{stderr}");

    let _vm = guest::one_at_a_time();
    let o = run(&new);
    let out = String::from_utf8_lossy(&o.stdout);
    // Not a scheduler: it never attaches (4), but it ran, with its library.
    assert_eq!(o.status.code(), Some(4), "{out}");
    assert!(out.contains("libscxver loaded: f1=1"), "{out}");
}

/// The live TUI end to end: `scxray demo` in a real terminal shows the run's
/// stages as frames arrive from the live feed thread, stays on the crashed
/// report, and its workbench pins against that final report (issue 13: it
/// pinned against the first, empty one). `q` tears everything down.
#[test]
fn live_demo_tui_shows_the_crash_and_pins_against_the_final_report() {
    if !ready("live_demo_tui_shows_the_crash_and_pins_against_the_final_report") {
        return;
    }
    let _vm = guest::one_at_a_time();
    let state = state_dir();
    let cmd = format!(
        "XDG_STATE_HOME={} TERM=xterm-256color {} demo --crash scx-bpf-error --phase-ms 1200; \
         echo EXITED rc=$?; sleep 30",
        state.path().display(),
        bin().display()
    );
    let Some(t) = tmux::Tmux::start(160, 48, &cmd) else {
        return;
    };
    // The title follows the run into auto-repro's VM, and the TUI stays
    // usable meanwhile: the scheduler log pane opens on `l`.
    let s = t.wait_until_within(Duration::from_secs(240), "the repro's stages", |s| {
        s.contains("cell 0 has no usable CPU left") && s.contains("auto-repro:")
    });
    assert!(!s.contains("run finished"), "{s}");
    t.keys(&["l"]);
    // Focused and drawn: which lines it shows depends on how far the repro
    // VM has got (its live log's tail, or the test run's crash lines).
    t.wait_until("the scheduler log pane", |s| {
        s.contains("[scheduler log]") && s.contains("┌ scheduler log")
    });
    let s = t.wait_until_within(Duration::from_secs(240), "the final report", |s| {
        s.contains("run finished")
    });
    assert!(s.contains("scx_bpf_error"), "{s}");
    // What the repro's probes saw, structured.
    t.keys(&["r"]);
    t.wait_until("the auto-repro pane", |s| s.contains("Call chain"));
    // The innermost function is last.
    t.keys(&["G"]);
    t.wait_until("validate_cell's line", |s| s.contains("demo.bpf.c:"));
    t.keys(&["w", "i"]);
    t.type_text("has no usable CPU left");
    let s = t.wait_until("a verdict", |s| {
        s.contains("PASS  ") || s.contains("FAIL  ")
    });
    assert!(
        s.contains("PASS  ktstr would accept"),
        "pinned against an old report:\n{s}"
    );
    t.keys(&["Escape", "q"]);
    let s = t.wait_for("EXITED rc=");
    assert!(s.contains("EXITED rc=1"), "a crash exits 1:\n{s}");
    let saved: Vec<String> = std::fs::read_dir(state.path().join("scxray/runs"))
        .map(|d| {
            d.filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        saved.len(),
        2,
        "the report and its run description: {saved:?}"
    );
    assert!(saved.iter().any(|n| n.ends_with(".run.json")), "{saved:?}");
}
