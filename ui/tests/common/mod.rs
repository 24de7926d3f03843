//! Hand-built reports shaped like a real scx_lavd crash, shared by the screen
//! tests, the demo example and the benchmark, and the screen helper the
//! snapshot tests use.
// Each includer uses a different subset.
#![allow(dead_code)]

use scxray::report::{
    CpuState, Crash, EventCounter, ExitKind, Frame, FrameClass, Header, MessageFormat, Note,
    Origin, Outcome, Report, Section, SectionKind, TaskRef, TaskState, Text,
};

pub const MESSAGE: &str = "lavd_dispatch: dsq_id 0x8000000000000002 not found on CPU 1";

pub const DUMP: &str = "\
DEBUG DUMP
================================================================================

kworker/u16:3[2417] triggered exit kind 1025:
  scx_bpf_error (lavd_dispatch: dsq_id 0x8000000000000002 not found on CPU 1)

Backtrace:
  scx_kf_exit+0x6e/0x90
  scx_bpf_error_bstr+0x72/0xa0
  bpf_prog_5a3b8c1d2e4f6a70_lavd_dispatch+0x1f4/0x310
  bpf__sched_ext_ops_dispatch+0x4b/0xa7
  balance_one+0x10f/0x2c0
  balance_scx+0x4e/0x100
  __schedule+0x2a3/0x12a0
  schedule+0x2c/0xe0
  worker_thread+0x1bd/0x3a0
  kthread+0xe4/0x120
  ret_from_fork+0x31/0x50
  ret_from_fork_asm+0x1a/0x30

CPU states
----------

CPU 1   : nr_run=2 flags=0x1 cpu_rel=0 ops_qseq=1432 pnt_seq=877
          curr=kworker/u16:3[2417] class=ext_sched_class

 *R kworker/u16:3[2417] +0ms
      scx_state/flags=3/0x9 dsq_flags=0x0 ops_state/qseq=0/0
      sticky/holding_cpu=-1/-1 dsq_id=0x8000000000000002 dsq_vtime=0 slice=20000000
      cpus=0f

    __schedule+0x2a3/0x12a0
    schedule+0x2c/0xe0
    worker_thread+0x1bd/0x3a0
    kthread+0xe4/0x120
    ret_from_fork+0x31/0x50

  R stress-ng[3051] -3ms
      scx_state/flags=3/0x1 dsq_flags=0x1 ops_state/qseq=2/1431
      sticky/holding_cpu=-1/-1 dsq_id=0x0 dsq_vtime=128930 slice=5000000
      cpus=0f

CPU 3   : nr_run=1 flags=0x0 cpu_rel=0 ops_qseq=988 pnt_seq=654
          curr=swapper/3[0] class=idle_sched_class

  R stress-ng[3054] +1ms
      scx_state/flags=3/0x1 dsq_flags=0x1 ops_state/qseq=2/987
      sticky/holding_cpu=-1/-1 dsq_id=0x3 dsq_vtime=130112 slice=5000000
      cpus=0f
      lavd: lat_cri=211 perf_cri=93 wait_freq=12

Event counters
--------------
  SCX_EV_SELECT_CPU_FALLBACK: 12
  SCX_EV_DISPATCH_LOCAL_DSQ_OFFLINE: 0
  SCX_EV_DISPATCH_KEEP_LAST: 57
  SCX_EV_ENQ_SKIP_EXITING: 0
  SCX_EV_ENQ_SKIP_MIGRATION_DISABLED: 3";

pub fn sched_log() -> String {
    let mut log = String::from(
        "12:00:01.002 INFO  scx_lavd: scheduler initialized (pid 3001, 4 CPUs, 1 LLC)\n\
         12:00:01.004 INFO  scx_lavd: power mode: performance\tautopilot: off\n",
    );
    for i in 0..40 {
        log.push_str(&format!(
            "12:00:{:02}.{:03} INFO  scx_lavd: sys_stat: nr_active={} avg_lat_cri={} thr_perf_cri=80\n",
            2 + i / 8,
            (i * 137) % 1000,
            3 + i % 4,
            400 + i * 3
        ));
    }
    log.push_str(&format!(
        "12:00:07.911 WARN  scx_lavd: dispatch: slow path taken for cpu 1, candidate dsqs: {}\n",
        (0..24)
            .map(|d| format!("0x{d:x}"))
            .collect::<Vec<_>>()
            .join(",")
    ));
    log.push_str(&format!(
        "12:00:08.014 ERROR EXIT: scx_bpf_error ({MESSAGE})"
    ));
    log
}

fn frame(function: &str, offset: u64, size: u64, class: FrameClass) -> Frame {
    Frame {
        function: function.to_string(),
        offset: Some(offset),
        size: Some(size),
        module: None,
        class,
    }
}

fn task(comm: &str, pid: i64) -> TaskRef {
    TaskRef {
        comm: comm.to_string(),
        pid,
    }
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn backtrace() -> Vec<Frame> {
    use FrameClass::{Generic, Kernel, Trampoline};
    vec![
        frame("scx_kf_exit", 0x6e, 0x90, Generic),
        frame("scx_bpf_error_bstr", 0x72, 0xa0, Generic),
        frame(
            "bpf_prog_5a3b8c1d2e4f6a70_lavd_dispatch",
            0x1f4,
            0x310,
            FrameClass::BpfProg {
                tag: "5a3b8c1d2e4f6a70".into(),
                name: "lavd_dispatch".into(),
            },
        ),
        frame("bpf__sched_ext_ops_dispatch", 0x4b, 0xa7, Trampoline),
        frame("balance_one", 0x10f, 0x2c0, Kernel),
        frame("balance_scx", 0x4e, 0x100, Kernel),
        frame("__schedule", 0x2a3, 0x12a0, Kernel),
        frame("schedule", 0x2c, 0xe0, Kernel),
        frame("worker_thread", 0x1bd, 0x3a0, Kernel),
        frame("kthread", 0xe4, 0x120, Generic),
        frame("ret_from_fork", 0x31, 0x50, Generic),
        frame("ret_from_fork_asm", 0x1a, 0x30, Generic),
    ]
}

fn cpu_states() -> Vec<CpuState> {
    use FrameClass::{Generic, Kernel};
    vec![
        CpuState {
            cpu: 1,
            fields: pairs(&[
                ("nr_run", "2"),
                ("flags", "0x1"),
                ("cpu_rel", "0"),
                ("ops_qseq", "1432"),
                ("pnt_seq", "877"),
                ("class", "ext_sched_class"),
            ]),
            curr: Some(task("kworker/u16:3", 2417)),
            tasks: vec![
                TaskState {
                    marker: "*R".into(),
                    task: Some(task("kworker/u16:3", 2417)),
                    summary: "+0ms".into(),
                    fields: pairs(&[
                        ("scx_state/flags", "3/0x9"),
                        ("dsq_flags", "0x0"),
                        ("ops_state/qseq", "0/0"),
                        ("sticky/holding_cpu", "-1/-1"),
                        ("dsq_id", "0x8000000000000002"),
                        ("dsq_vtime", "0"),
                        ("slice", "20000000"),
                        ("cpus", "0f"),
                    ]),
                    stack: vec![
                        frame("__schedule", 0x2a3, 0x12a0, Kernel),
                        frame("schedule", 0x2c, 0xe0, Kernel),
                        frame("worker_thread", 0x1bd, 0x3a0, Kernel),
                        frame("kthread", 0xe4, 0x120, Generic),
                        frame("ret_from_fork", 0x31, 0x50, Generic),
                    ],
                    extra: Vec::new(),
                },
                TaskState {
                    marker: " R".into(),
                    task: Some(task("stress-ng", 3051)),
                    summary: "-3ms".into(),
                    fields: pairs(&[
                        ("scx_state/flags", "3/0x1"),
                        ("dsq_flags", "0x1"),
                        ("ops_state/qseq", "2/1431"),
                        ("sticky/holding_cpu", "-1/-1"),
                        ("dsq_id", "0x0"),
                        ("dsq_vtime", "128930"),
                        ("slice", "5000000"),
                        ("cpus", "0f"),
                    ]),
                    stack: Vec::new(),
                    extra: Vec::new(),
                },
            ],
            extra: Vec::new(),
        },
        CpuState {
            cpu: 3,
            fields: pairs(&[
                ("nr_run", "1"),
                ("flags", "0x0"),
                ("cpu_rel", "0"),
                ("ops_qseq", "988"),
                ("pnt_seq", "654"),
                ("class", "idle_sched_class"),
            ]),
            curr: Some(task("swapper/3", 0)),
            tasks: vec![TaskState {
                marker: " R".into(),
                task: Some(task("stress-ng", 3054)),
                summary: "+1ms".into(),
                fields: pairs(&[
                    ("scx_state/flags", "3/0x1"),
                    ("dsq_flags", "0x1"),
                    ("ops_state/qseq", "2/987"),
                    ("sticky/holding_cpu", "-1/-1"),
                    ("dsq_id", "0x3"),
                    ("dsq_vtime", "130112"),
                    ("slice", "5000000"),
                    ("cpus", "0f"),
                ]),
                stack: Vec::new(),
                extra: vec!["lavd: lat_cri=211 perf_cri=93 wait_freq=12".into()],
            }],
            extra: Vec::new(),
        },
    ]
}

fn events() -> Vec<EventCounter> {
    [
        ("SCX_EV_SELECT_CPU_FALLBACK", 12),
        ("SCX_EV_DISPATCH_LOCAL_DSQ_OFFLINE", 0),
        ("SCX_EV_DISPATCH_KEEP_LAST", 57),
        ("SCX_EV_ENQ_SKIP_EXITING", 0),
        ("SCX_EV_ENQ_SKIP_MIGRATION_DISABLED", 3),
    ]
    .iter()
    .map(|(name, value)| EventCounter {
        name: name.to_string(),
        value: *value,
    })
    .collect()
}

pub fn lavd_crash() -> Crash {
    Crash {
        kind: ExitKind::ScxBpfError,
        reason: Some("scx_bpf_error".into()),
        message: Some(MESSAGE.into()),
        scheduler: Some("scx_lavd".into()),
        task: Some(task("kworker/u16:3", 2417)),
        cpu: Some(1),
        backtrace: backtrace(),
        cpu_states: cpu_states(),
        events: events(),
        ops_dump: vec!["lavd: sys_stat: nr_active=3 avg_lat_cri=412 thr_perf_cri=80".into()],
        formats: vec![MessageFormat::DebugDump, MessageFormat::UeiExit],
        kernel_exit: true,
        origin: Origin {
            section: 1,
            first_line: 0,
            last_line: DUMP.lines().count() - 1,
        },
        ..Crash::default()
    }
}

fn ktstr_header() -> Header {
    Header {
        preamble: vec!["running 1 test".into()],
        fingerprint: Some(format!(
            "12:00:08.014 ERROR EXIT: scx_bpf_error ({MESSAGE})"
        )),
        bug_summary: Some(format!("scx_lavd: scx_bpf_error: {MESSAGE}")),
        test_name: Some("sched_lavd_mixed_load".into()),
        scheduler: Some("scx_lavd".into()),
        topology: Some("1n1l4c1t".into()),
        outcome: Outcome::Failed,
        details: vec![
            "scheduler exited: scx_bpf_error (1025)".into(),
            "workers: 8 of 8 stopped early".into(),
        ],
    }
}

/// ktstr output of a scx_lavd run that died in `scx_bpf_error`.
pub fn sample_report() -> Report {
    Report {
        header: ktstr_header(),
        sections: vec![
            Section {
                kind: SectionKind::SchedulerLog,
                body: Text::from(sched_log()),
            },
            Section {
                kind: SectionKind::SchedExtDump,
                body: Text::from(DUMP),
            },
        ],
        crashes: vec![lavd_crash()],
        selected: Some(0),
        notes: vec![Note {
            section: Some(0),
            text: "line 2: tab-separated fields kept verbatim".into(),
        }],
    }
}

/// A failed ktstr test whose scheduler did not crash.
pub fn no_crash_report() -> Report {
    Report {
        header: Header {
            bug_summary: None,
            fingerprint: None,
            outcome: Outcome::Failed,
            details: vec![
                "worker 3 starved: ran 0.0% of 5.00s (want >= 10%)".into(),
                "2 of 8 workers below the fairness floor".into(),
            ],
            ..ktstr_header()
        },
        sections: vec![
            Section {
                kind: SectionKind::Stats,
                body: Text::from("worker  cpu%  runs\n0       24.1  812\n3       0.0   0"),
            },
            Section {
                kind: SectionKind::SchedulerLog,
                body: Text::from("12:00:01.002 INFO  scx_lavd: scheduler initialized"),
            },
        ],
        crashes: Vec::new(),
        selected: None,
        notes: Vec::new(),
    }
}

/// Two crashes: an older watchdog stall and the newer `scx_bpf_error`.
pub fn two_crash_report() -> Report {
    let mut report = sample_report();
    let stall = Crash {
        kind: ExitKind::Stall,
        reason: Some("runnable task stall".into()),
        message: Some("stress-ng[3051] failed to run for 30.012s".into()),
        task: Some(task("stress-ng", 3051)),
        cpu: Some(3),
        backtrace: Vec::new(),
        cpu_states: Vec::new(),
        events: Vec::new(),
        ops_dump: Vec::new(),
        formats: vec![MessageFormat::KernelDisabled],
        origin: Origin {
            section: 0,
            first_line: 20,
            last_line: 20,
        },
        ..lavd_crash()
    };
    report.crashes.insert(0, stall);
    report.selected = Some(1);
    report
}

/// A scheduler whose userspace gave up: no kernel exit happened.
pub fn bail_report() -> Report {
    let mut report = sample_report();
    report.crashes = vec![Crash {
        kind: ExitKind::Unknown,
        reason: Some("userspace bail".into()),
        message: Some("failed to attach struct_ops: -EBUSY".into()),
        formats: vec![MessageFormat::UserspaceBail],
        kernel_exit: false,
        backtrace: Vec::new(),
        cpu_states: Vec::new(),
        events: Vec::new(),
        ops_dump: Vec::new(),
        origin: Origin {
            section: 0,
            first_line: 1,
            last_line: 1,
        },
        ..lavd_crash()
    }];
    report
}

/// `app` drawn on a `width`x`height` test terminal.
pub fn render(
    app: &mut scxray_ui::App,
    width: u16,
    height: u16,
) -> ratatui::Terminal<ratatui::backend::TestBackend> {
    app.resize(width, height);
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| frame.render_widget(&*app, frame.area()))
        .unwrap();
    terminal
}

/// [`render`], as text rows.
pub fn screen(app: &mut scxray_ui::App, width: u16, height: u16) -> String {
    if width == 0 {
        // TestBackend's Display divides the buffer into rows of `width` cells.
        render(app, width, height);
        return String::new();
    }
    render(app, width, height).backend().to_string()
}
