//! Auto-repro with real VMs: after the demo scheduler crashes, a second VM
//! reruns it with BPF probes on the crash chain, and the report gets a
//! `--- auto-repro ---` section in ktstr's layout that parses back into the
//! structured model. Needs what `tests/vm.rs` needs; skips (or fails under
//! SCXRAY_REQUIRE_VM / CI) the same way.

#[path = "common/guest.rs"]
mod guest;
#[path = "../../tests/support/require.rs"]
mod require;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Instant;

use scxray::host_monitor::summary::Thresholds;
use scxray::repro::ChainError;
use scxray::run::live::{LiveRun, RunMeta};
use scxray::run::scenario::Scenario;
use scxray::run::topology::Topology;
use scxray_ui::live_run::{self, ReproOptions, RunRequest};
use scxray_vmm::backend::{Backend, GuestEvent, GuestExit, GuestSpec, VmError};
use scxray_vmm::cancel::Cancel;
use scxray_vmm::choose::BackendChoice;
use scxray_vmm::qemu::{QemuBackend, TcgThreads};
use scxray_vmm::session::RunPlan;

use scxray::parse::parse_str;
use scxray::report::{ExitKind, Report, SectionKind};
use scxray::sections::auto_repro::{Arg, AutoRepro, FunctionKind, StageInfo, StatusKind};

fn ready(test: &str) -> bool {
    require::require_vm(test, guest::missing())
}

/// `scxray ARGS` (headless): exit code, the printed report, stderr.
fn run(args: &[&str], state: &Path) -> (i32, Report, String) {
    let _vm = guest::one_at_a_time();
    let started = Instant::now();
    let o = guest::scxray(args, state);
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    eprintln!(
        "scxray {}: {:.1}s\n{stderr}",
        args.join(" "),
        started.elapsed().as_secs_f64()
    );
    (o.status.code().unwrap_or(-1), parse_str(&stdout), stderr)
}

fn demo(crash: &str, extra: &[&str], state: &Path) -> (i32, Report, String) {
    let mut args = vec!["demo", "--headless", "--crash", crash, "--phase-ms", "1200"];
    args.extend_from_slice(extra);
    run(&args, state)
}

fn auto_repro(r: &Report) -> AutoRepro {
    let model = scxray::sections::auto_repro(r).expect("an --- auto-repro --- section");
    // scxray's own section is in ktstr's layout: nothing left unparsed, and
    // it writes back byte for byte.
    assert_eq!(model.skipped, 0, "{model:#?}");
    let body = scxray::sections::section_body(r, &SectionKind::AutoRepro).unwrap();
    assert_eq!(model.write(), body);
    model
}

fn stage<'a>(m: &'a AutoRepro, label: &str) -> &'a StageInfo {
    &m.pipeline()
        .expect("a probe pipeline block")
        .stage(label)
        .unwrap_or_else(|| panic!("no `{label}:` stage"))
        .info
}

/// The repro VM's own crash message, from its scheduler log tail.
fn repro_message(m: &AutoRepro) -> String {
    m.tail(scxray::sections::auto_repro::TailKind::SchedulerLog)
        .and_then(|t| {
            t.lines
                .iter()
                .rev()
                .find(|l| l.starts_with("EXIT:"))
                .cloned()
        })
        .expect("the repro VM's EXIT line")
}

/// The number after `pid ` in a message.
fn pid_in(message: &str) -> i128 {
    let at = message.find("pid ").expect("a pid in the message") + 4;
    message[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

/// The line of `needle` in the demo scheduler's BPF source.
fn demo_source_line(needle: &str) -> u32 {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../probes/src/bpf/demo.bpf.c");
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().position(|l| l.contains(needle)).expect(needle) as u32 + 1
}

#[test]
fn scx_bpf_error_is_reproduced_with_decoded_arguments() {
    if !ready("scx_bpf_error_is_reproduced_with_decoded_arguments") {
        return;
    }
    let state = guest::state_dir();
    let (code, r, stderr) = demo("scx-bpf-error", &[], state.path());
    assert_eq!(code, 1, "the test run's crash decides the exit code");
    assert!(stderr.contains("auto-repro: booting"), "{stderr}");
    // The report's crash is the test run's, not the repro's.
    assert_eq!(r.crash().unwrap().kind, ExitKind::ScxBpfError);
    let m = auto_repro(&r);
    assert!(
        matches!(stage(&m, "trigger"), StageInfo::Trigger { detail, .. } if detail == "tp_btf"),
        "{:?}",
        stage(&m, "trigger")
    );
    let pid = pid_in(&repro_message(&m));
    let probe = m.probe().expect("an AUTO-PROBE block");
    let functions: Vec<_> = probe.functions().collect();
    let names: Vec<&str> = functions.iter().map(|f| f.name.as_str()).collect();
    for name in ["validate_cell", "apply_policy"] {
        let f = functions
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("{name} not in {names:?}"));
        assert_eq!(f.kind, FunctionKind::Bpf);
        let p = f.struct_arg("p").expect("a task_struct *p argument");
        assert_eq!(p.type_name, "task_struct");
        assert_eq!(
            p.field("pid").and_then(|x| x.number()),
            Some(pid),
            "{name}: the task of the error message"
        );
    }
    // Innermost last, outermost first.
    let at = |n: &str| names.iter().position(|x| *x == n).unwrap();
    assert!(at("apply_policy") < at("validate_cell"), "{names:?}");
    let validate = functions
        .iter()
        .find(|f| f.name == "validate_cell")
        .unwrap();
    let loc = validate
        .location
        .as_ref()
        .expect("validate_cell's source line");
    assert_eq!(loc.file, "demo.bpf.c");
    assert_eq!(
        loc.line,
        demo_source_line("scx_bpf_error_bstr(fmt"),
        "the faulting call's line"
    );
    // Kernel functions at the line of the call that led on, from DWARF.
    if guest::kernel_debug_info() {
        let kernel: Vec<_> = functions
            .iter()
            .filter(|f| f.kind == FunctionKind::Kernel)
            .collect();
        assert!(
            !kernel.is_empty(),
            "no kernel function with a line: {names:?}"
        );
        for f in kernel {
            let loc = f.location.as_ref().unwrap();
            // Kernel-tree relative: kernel/sched/ext/ext.c, fs/pipe.c.
            assert!(!loc.file.starts_with('/') && loc.line > 0, "{loc:?}");
        }
    } else {
        require::skip(
            "scx_bpf_error_is_reproduced_with_decoded_arguments (kernel lines)",
            "no vmlinux.debug cached: run `scxray kernel fetch --debug-info`",
        );
    }
    // The repro VM froze at its error too: its dump, beside the test
    // run's, has the repro's own task of the error message.
    let dump = |kind: SectionKind| guest::failure_dump(&r, kind);
    let (first, again) = (
        dump(SectionKind::FailureDump),
        dump(SectionKind::ReproFailureDump),
    );
    for d in [&first, &again] {
        assert!(
            matches!(d.trigger, scxray::failure_dump::Trigger::Watchpoint { .. }),
            "{:?}",
            d.trigger
        );
        assert_eq!(d.exit_kind, Some(1025));
    }
    assert!(
        again.task(pid as i32).is_some(),
        "task {pid} not in the repro's dump"
    );
    // The raw events stay in the report, and the saved copy says the same.
    assert!(r.section(&SectionKind::ReproProbeEvents).is_some());
    let saved = guest::saved_reports(state.path());
    assert_eq!(saved.len(), 1, "{saved:?}");
    let text = std::fs::read_to_string(&saved[0]).unwrap();
    assert_eq!(auto_repro(&parse_str(&text)), m);
}

/// A runtime error raised by the kernel: its chain has kernel functions,
/// which get kprobes.
fn kernel_function_probed(crash: &str) {
    let state = guest::state_dir();
    let (code, r, _) = demo(crash, &[], state.path());
    assert_eq!(code, 1);
    assert_eq!(r.crash().unwrap().kind, ExitKind::RuntimeError);
    let m = auto_repro(&r);
    assert!(
        matches!(stage(&m, "kprobes"), StageInfo::Attached { attached, .. } if *attached > 0),
        "{:?}",
        stage(&m, "kprobes")
    );
    let probe = m.probe().expect("an AUTO-PROBE block");
    // Without DWARF a kernel function prints no location, so the parsed
    // kind is unknown: the backtrace says which are the kernel's.
    let frames: Vec<&str> = r
        .crash()
        .unwrap()
        .backtrace
        .iter()
        .filter(|f| f.class == scxray::report::FrameClass::Kernel)
        .map(|f| f.function.as_str())
        .collect();
    let kernel: Vec<_> = probe
        .functions()
        .filter(|f| frames.contains(&f.name.as_str()))
        .collect();
    assert!(!kernel.is_empty(), "{probe:#?}");
    // Decoded through BTF: a struct argument with its curated fields, or
    // parameters by their names (which path the repro's crash takes into
    // the chain varies: a wakeup through ksys_write has only scalars).
    assert!(
        kernel.iter().any(|f| f.args.iter().any(|a| match a {
            Arg::Struct(s) => !s.fields.is_empty(),
            Arg::Scalar(x) => !x.name.starts_with("arg"),
            Arg::Unknown { .. } => false,
        })),
        "{kernel:#?}"
    );
}

#[test]
fn bad_dsq_probes_a_kernel_function() {
    if !ready("bad_dsq_probes_a_kernel_function") {
        return;
    }
    kernel_function_probed("bad-dsq");
}

#[test]
fn bad_cpu_probes_a_kernel_function() {
    if !ready("bad_cpu_probes_a_kernel_function") {
        return;
    }
    kernel_function_probed("bad-cpu");
}

#[test]
fn a_stall_gets_a_status_line_and_tails_only() {
    if !ready("a_stall_gets_a_status_line_and_tails_only") {
        return;
    }
    let state = guest::state_dir();
    // Long phases: the watchdog must fire before the workload ends.
    let mut args = vec![
        "demo",
        "--headless",
        "--crash",
        "stall",
        "--phase-ms",
        "4000",
    ];
    args.push("--workers");
    args.push("1");
    let (code, r, _) = run(&args, state.path());
    assert_eq!(code, 1);
    let m = auto_repro(&r);
    assert!(m.pipeline().is_none() && m.probe().is_none(), "{m:#?}");
    let status: Vec<_> = m.statuses().collect();
    assert!(
        matches!(status[0].verdict, StatusKind::SchedulerCrashed { .. }),
        "{status:?}"
    );
    assert!(m.duration_s().is_some());
    assert!(m.tails().count() >= 2, "{m:#?}");
}

#[test]
fn three_repro_runs_of_a_deterministic_crash_reproduce_three_times() {
    if !ready("three_repro_runs_of_a_deterministic_crash_reproduce_three_times") {
        return;
    }
    let state = guest::state_dir();
    let (code, r, stderr) = demo("scx-bpf-error", &["--repro-runs", "3"], state.path());
    assert_eq!(code, 1);
    assert!(stderr.contains("auto-repro 3/3:"), "{stderr}");
    let m = auto_repro(&r);
    let rate = m
        .statuses()
        .find(|s| s.text.contains("reproduced"))
        .expect("the repro rate line");
    assert!(
        rate.text
            .starts_with("repro VM: reproduced 3/3 with the same signature"),
        "{}\n\nnotes: {:#?}\n\n{}",
        rate.text,
        r.notes,
        scxray::sections::section_body(&r, &SectionKind::AutoRepro).unwrap_or_default()
    );
}

/// A backend whose first boot of a kind (`breaks`) dies before the guest
/// agent starts (a real kernel panic: `rdinit=` names no file, and there is
/// no root to mount); every other boot goes as asked. The TCG boot failure
/// CI once met, made certain.
struct FirstBootPanics {
    qemu: QemuBackend,
    breaks: fn(&GuestSpec) -> bool,
    broken: AtomicBool,
    boots: AtomicU32,
}

impl FirstBootPanics {
    fn new(breaks: fn(&GuestSpec) -> bool) -> FirstBootPanics {
        FirstBootPanics {
            qemu: QemuBackend::from_env()
                .unwrap()
                .tcg_threads(TcgThreads::Single),
            breaks,
            broken: AtomicBool::new(false),
            boots: AtomicU32::new(0),
        }
    }
}

impl Backend for FirstBootPanics {
    fn name(&self) -> &'static str {
        "qemu"
    }

    fn boot(
        &self,
        spec: &GuestSpec,
        sink: &mut dyn FnMut(GuestEvent),
        cancel: &Cancel,
    ) -> Result<GuestExit, VmError> {
        self.boots.fetch_add(1, Ordering::SeqCst);
        if !(self.breaks)(spec) || self.broken.swap(true, Ordering::SeqCst) {
            return self.qemu.boot(spec, sink, cancel);
        }
        let mut broken = spec.clone();
        broken.cmdline.push_str(" rdinit=/scxray-no-such-init");
        self.qemu.boot(&broken, sink, cancel)
    }
}

/// The demo's `scx-bpf-error` run, planned as `scxray demo` plans it.
fn demo_plan() -> (RunPlan, RunMeta) {
    let req = RunRequest {
        kernel: None,
        scheduler: None,
        args: vec!["--crash-after".into(), "400".into()],
        includes: Vec::new(),
        lib_dirs: Vec::new(),
        thresholds: Thresholds::default(),
        scenario: Scenario::standard(1200, 2),
        scenario_name: "standard".into(),
        topology: Topology::flat(2),
        memory_mib: 768,
        test_name: "demo".into(),
        probes: Vec::new(),
        repro: ReproOptions::default(),
        nokaslr: false,
        freeze: false,
        backend: BackendChoice::Qemu,
        backend_asked_by: "the test".into(),
    };
    live_run::plan(&req, &mut |_| {}).expect("a run plan")
}

/// The note on the test run and the restarted repro run's own state.
fn assert_booted_again(live: &LiveRun, of: u32) {
    let head = format!("auto-repro run 1/{of}: the guest failed before its agent started");
    let note = live
        .notes()
        .iter()
        .find(|n| n.starts_with(&head))
        .unwrap_or_else(|| panic!("a note on the failed boot: {:#?}", live.notes()));
    assert!(
        note.contains("panic") && note.ends_with("booting it again"),
        "{note}"
    );
    let repro = &live.repros()[0];
    assert!(repro.verdict().reproduced(), "{:?}", repro.verdict());
    assert!(
        repro
            .notes()
            .iter()
            .any(|n| n.starts_with("an earlier boot failed (")),
        "{:#?}",
        repro.notes()
    );
    assert!(
        !repro.console_text().contains("Kernel panic"),
        "the failed boot's console is dropped"
    );
}

#[test]
fn a_repro_vm_that_dies_while_booting_is_booted_again() {
    if !ready("a_repro_vm_that_dies_while_booting_is_booted_again") {
        return;
    }
    let _vm = guest::one_at_a_time();
    let (plan, meta) = demo_plan();
    let backend = FirstBootPanics::new(|_| true);
    // No chain (as for a stall): no probes, the run's verdict is the point.
    let chain = Err(ChainError::Stall {
        reason: "not probed in this test".into(),
    });
    let mut live = LiveRun::new(meta);
    live_run::repro_runs(
        &plan,
        &chain,
        1,
        1,
        &backend,
        &Cancel::new(),
        &mut |e, at| live.apply(e, at),
    );
    assert_eq!(
        backend.boots.load(Ordering::SeqCst),
        2,
        "booted once more, and only once"
    );
    assert_booted_again(&live, 1);
}

/// The repro VM booted ahead of the crash (parked) dies while booting: it
/// boots again once the crash is known, and still reproduces it.
#[test]
fn a_parked_repro_vm_that_dies_while_booting_is_booted_after_the_crash() {
    if !ready("a_parked_repro_vm_that_dies_while_booting_is_booted_after_the_crash") {
        return;
    }
    let _vm = guest::one_at_a_time();
    let (plan, meta) = demo_plan();
    // The parked guest is the one run in the background.
    let backend = FirstBootPanics::new(|spec| spec.background);
    let live = RefCell::new(LiveRun::new(meta));
    let result = live_run::execute_on(
        &plan,
        &backend,
        ReproOptions::default(),
        &Cancel::new(),
        &mut |e, at| live.borrow_mut().apply(e, at),
        &mut || scxray::repro::plan(&live.borrow().report()),
    );
    result.expect("the test run ran");
    assert_eq!(
        backend.boots.load(Ordering::SeqCst),
        3,
        "test run, parked run, run 1 again"
    );
    let live = live.into_inner();
    assert!(live.crashed(), "the test run crashed");
    assert_booted_again(&live, 1);
}

#[test]
fn no_auto_repro_skips_the_second_vm() {
    if !ready("no_auto_repro_skips_the_second_vm") {
        return;
    }
    let state = guest::state_dir();
    let (code, r, stderr) = demo("bad-cpu", &["--no-auto-repro"], state.path());
    assert_eq!(code, 1);
    assert!(!stderr.contains("auto-repro"), "{stderr}");
    assert!(r.section(&SectionKind::AutoRepro).is_none());
}

/// `scxray repro` on a saved run whose description was changed: the
/// scheduler no longer crashes, and an unknown function is on the chain.
#[test]
fn repro_of_a_saved_run_says_what_did_not_attach_and_did_not_reproduce() {
    if !ready("repro_of_a_saved_run_says_what_did_not_attach_and_did_not_reproduce") {
        return;
    }
    let state = guest::state_dir();
    let (code, _, _) = demo("scx-bpf-error", &["--no-auto-repro"], state.path());
    assert_eq!(code, 1);
    let report = guest::saved_reports(state.path()).pop().unwrap();
    let side = report.with_extension("run.json");
    // No crash this time.
    let mut saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&side).unwrap()).unwrap();
    saved["args"] = serde_json::json!([]);
    std::fs::write(&side, serde_json::to_vec(&saved).unwrap()).unwrap();
    // A frame no kernel has, on the crash chain.
    let text = std::fs::read_to_string(&report).unwrap();
    let frame = "  scx_bpf_error_bstr+";
    assert!(text.contains(frame));
    let edited = text.replace(
        frame,
        "  scxray_no_such_function+0x10/0x20\n  scx_bpf_error_bstr+",
    );
    std::fs::write(&report, edited).unwrap();

    let (code, r, stderr) = run(
        &["repro", "--headless", report.to_str().unwrap()],
        state.path(),
    );
    assert_eq!(code, 1, "not reproduced: {stderr}");
    assert!(stderr.contains("reproduced 0/1"), "{stderr}");
    let m = auto_repro(&r);
    match stage(&m, "traceable") {
        StageInfo::Traceable { dropped_names, .. } => assert!(
            dropped_names.iter().any(|n| n == "scxray_no_such_function"),
            "{dropped_names:?}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(
        m.statuses().any(|s| s.verdict == StatusKind::RanNormally),
        "{m:#?}"
    );
    // The repro was saved as a report of its own, next to the original.
    assert_eq!(guest::saved_reports(state.path()).len(), 2);
}

#[test]
fn repro_without_a_run_description_says_how_to_get_one() {
    let state = guest::state_dir();
    let report = state.path().join("ktstr.txt");
    std::fs::write(
        &report,
        "EXIT: scx_bpf_error (boom)\n\n--- scheduler log ---\nsched_ext: BPF scheduler \"x\" disabled (scx_bpf_error)\n",
    )
    .unwrap();
    let o = guest::scxray(
        &["repro", "--headless", report.to_str().unwrap()],
        state.path(),
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("ktstr.run.json"), "{stderr}");
    assert!(stderr.contains("scxray run"), "{stderr}");
}
