//! ktstr's `--- auto-repro ---` body: the test vectors of the reference notes
//! (`tests/fixtures/auto-repro/`), the real AUTO-PROBE block of shared
//! fixture 40 and the variant reports parse into the expected structure, and
//! `write(parse(x)) == x` byte for byte, `parse(write(m)) == m`.

#[path = "support/require.rs"]
mod require;

use std::path::Path;

use proptest::prelude::*;
use scxray::report::FrameClass;
use scxray::sections;
use scxray::sections::auto_repro::{
    self, Arg, AutoProbe, AutoRepro, Block, Function, FunctionKind, Pipeline, StageInfo,
    StatusKind, TailKind, TriggerState,
};

fn vector(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/auto-repro")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The section body: the file without its `--- auto-repro ---` line.
fn body(text: &str) -> &str {
    text.strip_prefix("--- auto-repro ---\n").unwrap_or(text)
}

/// The model, after checking both round trips.
fn parse_checked(body: &str) -> AutoRepro {
    let m = auto_repro::parse(body);
    assert_eq!(auto_repro::write(&m), body, "write(parse(x)) != x");
    assert_eq!(
        auto_repro::parse(&auto_repro::write(&m)),
        m,
        "parse(write(m)) != m"
    );
    m
}

/// Every line was in ktstr's exact layout: nothing kept as read.
fn canonical(m: &AutoRepro) -> bool {
    !serde_json::to_string(m).unwrap().contains("verbatim")
}

fn probe(m: &AutoRepro) -> &AutoProbe {
    m.probe().expect("an AUTO-PROBE block")
}

fn pipeline(m: &AutoRepro) -> &Pipeline {
    m.pipeline().expect("a pipeline block")
}

fn functions(m: &AutoRepro) -> Vec<&Function> {
    probe(m).functions().collect()
}

fn block_kinds(m: &AutoRepro) -> Vec<&'static str> {
    m.blocks
        .iter()
        .map(|b| match b {
            Block::Pipeline(_) => "pipeline",
            Block::AutoProbe(_) => "auto_probe",
            Block::Status(_) => "status",
            Block::Duration(_) => "duration",
            Block::Tail(_) => "tail",
            Block::Blank => "blank",
            Block::Unknown { .. } => "unknown",
        })
        .collect()
}

/// (name, entry value, exit value) of a struct argument's fields.
fn fields<'a>(f: &'a Function, arg: &str) -> Vec<(&'a str, &'a str, Option<&'a str>)> {
    f.struct_arg(arg)
        .unwrap_or_else(|| panic!("{}: no `{arg}` argument", f.name))
        .fields
        .iter()
        .map(|x| (x.name.as_str(), x.value.as_str(), x.exit_value.as_deref()))
        .collect()
}

fn location(f: &Function) -> String {
    f.location
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default()
}

#[test]
fn vector_a_call_chain() {
    let text = vector("vector-a.txt");
    let m = parse_checked(body(&text));
    assert!(canonical(&m));
    assert_eq!(m.skipped, 0);
    assert_eq!(m.indent, "");
    assert_eq!(block_kinds(&m), ["auto_probe"]);
    let p = probe(&m);
    assert_eq!(p.title, "scx_exit fired");
    assert!(p.blank_after_header);
    assert_eq!(p.field_width, 10);
    let f = functions(&m);
    assert_eq!(
        f.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(),
        ["ktstr_enqueue", "do_enqueue_task"]
    );
    assert_eq!(f[0].kind, FunctionKind::Bpf);
    assert_eq!(location(f[0]), "main.bpf.c:21");
    assert_eq!(f[1].kind, FunctionKind::Kernel);
    let loc = f[1].location.as_ref().unwrap();
    assert_eq!((loc.file.as_str(), loc.line), ("kernel/sched/ext.c", 1344));
    assert_eq!(
        fields(f[0], "p"),
        [
            ("pid", "97", None),
            ("cpus_ptr", "0xf(0-3)", None),
            ("dsq_id", "SCX_DSQ_INVALID", None),
            ("enq_flags", "NONE", None),
            ("slice", "0", None),
            ("sticky_cpu", "-1", None),
            ("scx_flags", "QUEUED|ENABLED", None),
        ]
    );
    assert_eq!(f[0].struct_arg("p").unwrap().type_name, "task_struct");
    assert_eq!(fields(f[1], "rq"), [("cpu", "1", None)]);
    assert_eq!(f[1].struct_arg("rq").unwrap().type_name, "rq");
    assert_eq!(
        fields(f[1], "p"),
        [
            ("dsq_id", "SCX_DSQ_INVALID", Some("SCX_DSQ_LOCAL")),
            ("scx_flags", "QUEUED|DEQD_FOR_SLEEP", Some("QUEUED")),
        ]
    );
    assert_eq!(
        f[0].fields().find(|x| x.name == "pid").unwrap().number(),
        Some(97)
    );
    assert_eq!(
        f[0].fields()
            .find(|x| x.name == "cpus_ptr")
            .unwrap()
            .number(),
        Some(0xf)
    );
    assert_eq!(m.statuses().count() + m.tails().count(), 0);
    assert_eq!(m.duration_s(), None);
}

#[test]
fn vector_b_pipeline_listing_and_stack() {
    let text = vector("vector-b.txt");
    let m = parse_checked(body(&text));
    // The `  ...` of the abridged docs is the one line not understood.
    assert_eq!(m.skipped, 1);
    assert!(canonical(&m));
    assert_eq!(block_kinds(&m), ["pipeline", "blank", "auto_probe"]);
    let pl = pipeline(&m);
    assert!(pl.header);
    assert_eq!(
        pl.stages
            .iter()
            .map(|s| s.label.as_str())
            .collect::<Vec<_>>(),
        ["extracted", "kprobes", "fentry", "trigger", "events"]
    );
    assert_eq!(
        pl.stage("extracted").unwrap().info,
        StageInfo::Extracted { functions: 9 }
    );
    assert_eq!(
        pl.stage("fentry").unwrap().info,
        StageInfo::Attached {
            attached: 11,
            failed: 0,
            failures: None
        }
    );
    assert_eq!(
        pl.stage("trigger").unwrap().info,
        StageInfo::Trigger {
            state: TriggerState::Fired,
            detail: "tp_btf".into()
        }
    );
    assert_eq!(
        pl.stage("events").unwrap().info,
        StageInfo::Events {
            captured: 125,
            after_stitch: 8,
            cause: None
        }
    );
    let p = probe(&m);
    assert_eq!(p.field_width, 18);
    let f = functions(&m);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].name, "ktstr_select_cpu");
    assert_eq!(f[0].kind, FunctionKind::Bpf);
    assert_eq!(location(f[0]), "main.bpf.c:380");
    assert_eq!(
        fields(f[0], "p"),
        [
            ("pid", "40", None),
            ("dsq_id", "SCX_DSQ_INVALID", Some("SCX_DSQ_LOCAL")),
            ("slice", "19982063", Some("20000000")),
            (
                "scx_flags",
                "RESET_RUNNABLE_AT|DEQD_FOR_SLEEP|ENABLED",
                None
            ),
        ]
    );
    assert!(matches!(
        p.entries.get(1),
        Some(auto_repro::ProbeEntry::Unknown { text }) if text == "  ..."
    ));
    let stack: Vec<_> = p.stack().collect();
    assert_eq!(stack.len(), 2);
    assert_eq!(stack[0].text, "scx_bpf_error_bstr+0x8a/0xd0");
    let frame = stack[1].frame.as_ref().unwrap();
    assert!(matches!(&frame.class, FrameClass::BpfProg { name, .. } if name == "ktstr_dispatch"));
    assert_eq!((frame.offset, frame.size), (Some(0x57), Some(0x1db)));
}

#[test]
fn vector_c_pipeline_without_trigger() {
    let text = vector("vector-c.txt");
    let m = parse_checked(body(&text));
    assert_eq!(m.skipped, 0);
    assert!(canonical(&m));
    assert_eq!(block_kinds(&m), ["pipeline", "blank", "duration"]);
    assert!(m.probe().is_none());
    let pl = pipeline(&m);
    let info = |label: &str| pl.stage(label).unwrap().info.clone();
    assert_eq!(
        info("traceable"),
        StageInfo::Traceable {
            passed: 7,
            dropped: 3,
            dropped_names: vec![
                "bpf_prog_1fed99378f3a8055_ktstr_dispatch".into(),
                "bpf__sched_ext_ops_dispatch".into(),
                "ret_from_fork_asm".into()
            ]
        }
    );
    assert_eq!(info("bpf_discover"), StageInfo::BpfDiscover { programs: 0 });
    assert_eq!(info("after_expand"), StageInfo::AfterExpand { targets: 7 });
    assert_eq!(
        info("kprobes"),
        StageInfo::Attached {
            attached: 0,
            failed: 0,
            failures: None
        }
    );
    assert!(pl.stage("fentry").is_none());
    assert_eq!(
        info("trigger"),
        StageInfo::Trigger {
            state: TriggerState::AttachFailed,
            detail: "skeleton load (retry): No such process (os error 3); original error before retry: No such process (os error 3)".into()
        }
    );
    assert_eq!(
        info("probe_data"),
        StageInfo::ProbeData {
            keys: 0,
            unmatched_ips: 0
        }
    );
    assert_eq!(
        info("events"),
        StageInfo::Events {
            captured: 0,
            after_stitch: 0,
            cause: None
        }
    );
    assert_eq!(m.duration_s(), Some(16.9));
}

#[test]
fn vector_d_status_duration_dmesg_tail() {
    let text = vector("vector-d.txt");
    let m = parse_checked(body(&text));
    assert_eq!(m.skipped, 0);
    assert!(canonical(&m));
    assert_eq!(block_kinds(&m), ["status", "duration", "blank", "tail"]);
    let status: Vec<_> = m.statuses().collect();
    assert_eq!(
        status[0].verdict,
        StatusKind::SchedulerCrashed {
            clause: "exited with non-zero status (1)".into(),
            signal: None,
            exit_status: Some(1)
        }
    );
    assert_eq!(m.duration_s(), Some(12.4));
    let tail = m.tail(TailKind::Dmesg).unwrap();
    assert_eq!(tail.name, "dmesg");
    assert_eq!(
        tail.lines,
        ["(no kernel printk other than sched_ext_dump — full dump in section above)"]
    );
}

/// The vectors through the report parser: the section body (dedented, no
/// trailing newline) gives the same model, and the JSON export carries it
/// beside the verbatim body.
#[test]
fn vectors_through_the_report() {
    for name in [
        "vector-a.txt",
        "vector-b.txt",
        "vector-c.txt",
        "vector-d.txt",
    ] {
        let text = vector(name);
        let b = body(&text);
        let full = format!("--- auto-repro ---\n{b}");
        let report = scxray::parse::parse_str(&full);
        let expected = parse_checked(b.trim_end_matches('\n'));
        assert_eq!(
            sections::auto_repro(&report).as_ref(),
            Some(&expected),
            "{name}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&scxray::write::to_json(&report, name)).unwrap();
        assert_eq!(
            json["auto_repro"],
            serde_json::to_value(&expected).unwrap(),
            "{name}"
        );
        assert_eq!(
            json["sections"][0]["body"],
            b.trim_end_matches('\n'),
            "{name}"
        );
    }
    let json: serde_json::Value = serde_json::from_str(&scxray::write::to_json(
        &scxray::parse::parse_str("--- stats ---\nx"),
        "-",
    ))
    .unwrap();
    assert!(json.get("auto_repro").is_none());
}

#[test]
fn json_shape() {
    let text = vector("vector-a.txt");
    let report = scxray::parse::parse_str(&text);
    let json: serde_json::Value =
        serde_json::from_str(&scxray::write::to_json(&report, "a")).unwrap();
    let block = &json["auto_repro"]["blocks"][0];
    assert_eq!(block["block"], "auto_probe");
    let f = &block["entries"][1];
    assert_eq!(f["entry"], "function");
    assert_eq!(f["name"], "do_enqueue_task");
    assert_eq!(f["kind"], "kernel");
    assert_eq!(f["location"]["file"], "kernel/sched/ext.c");
    assert_eq!(f["location"]["line"], 1344);
    assert_eq!(f["args"][1]["arg"], "struct");
    assert_eq!(f["args"][1]["type_name"], "task_struct");
    assert_eq!(f["args"][1]["fields"][0]["exit_value"], "SCX_DSQ_LOCAL");
}

/// Shared fixture 40: a real block from an scx PR (scx_mitosis), 4-space
/// indented, cut above the pipeline header and in the middle of an event.
#[test]
fn fixture_40_mitosis_function_args() {
    let test = "fixture_40_mitosis_function_args";
    let Some(dir) = require::require_shared_fixtures(test) else {
        return;
    };
    let text =
        std::fs::read_to_string(dir.join("public/40-ktstr-mitosis-auto-probe-function-args.txt"))
            .unwrap();
    let (first, rest) = text.split_once('\n').unwrap();
    assert!(first.starts_with("# source:"), "{first}");
    let m = parse_checked(rest);
    assert_eq!(m.skipped, 0);
    assert!(canonical(&m));
    assert_eq!(m.indent, "    ");
    assert_eq!(block_kinds(&m), ["pipeline", "auto_probe"]);
    let pl = pipeline(&m);
    assert!(!pl.header);
    assert_eq!(
        pl.stages[0].info,
        StageInfo::BpfCounts {
            kprobe_fires: 1603,
            trigger_fires: 1,
            meta_misses: 0
        }
    );
    let p = probe(&m);
    assert_eq!(p.field_width, 10);
    let f = functions(&m);
    assert_eq!(
        f.iter()
            .map(|f| (f.name.as_str(), f.kind, location(f)))
            .collect::<Vec<_>>(),
        [
            (
                "mitosis_select_cpu",
                FunctionKind::Bpf,
                "mitosis.bpf.c:678".to_string()
            ),
            (
                "mitosis_dispatch",
                FunctionKind::Bpf,
                "mitosis.bpf.c:892".to_string()
            ),
            (
                "do_enqueue_task",
                FunctionKind::Kernel,
                "kernel/sched/ext.c:1846".to_string()
            ),
        ]
    );
    assert!(f.iter().all(|f| f.location_column == 71));
    let select = fields(f[0], "p");
    assert_eq!(select.len(), 9);
    assert_eq!(
        select[2],
        ("dsq_id", "SCX_DSQ_INVALID", Some("SCX_DSQ_LOCAL_ON|0"))
    );
    assert_eq!(select[4], ("slice", "19084497", Some("20000000")));
    assert_eq!(select[7], ("sticky_cpu", "-1", None));
    // ops.dispatch(cpu, prev): the scalar `cpu` comes first, with no header.
    match &f[1].args[..] {
        [Arg::Scalar(cpu), Arg::Struct(p)] => {
            assert_eq!((cpu.name.as_str(), cpu.value.as_str()), ("cpu", "0"));
            assert_eq!(
                (p.type_name.as_str(), p.name.as_str()),
                ("task_struct", "p")
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fields(f[2], "rq"), [("cpu", "0", None)]);
    // Cut after `weight`: the block ends where the text does.
    let last = fields(f[2], "p");
    assert_eq!(last.last(), Some(&("weight", "100", None)));
    assert_eq!(fields(f[1], "p")[2], ("dsq_id", "SCX_DSQ_INVALID", None));
}

/// The variant reports with an auto-repro section: understood line for line.
#[test]
fn variant_reports() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/variants");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "txt") {
            continue;
        }
        let report = scxray::parse::parse_path(&path).unwrap();
        let Some(body) = sections::section_body(&report, &scxray::report::SectionKind::AutoRepro)
        else {
            continue;
        };
        seen += 1;
        let m = parse_checked(body);
        assert_eq!(m.skipped, 0, "{}: {m:#?}", path.display());
        assert!(canonical(&m), "{}", path.display());
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        match name.as_str() {
            "ktstr-cosmos-timed-out-stall.txt" => {
                assert_eq!(
                    pipeline(&m).stage("trigger").unwrap().info,
                    StageInfo::Trigger {
                        state: TriggerState::NotFired,
                        detail: "tp_btf".into()
                    }
                );
                assert!(m.probe().is_none());
                assert_eq!(m.duration_s(), Some(61.7));
                let tails: Vec<_> = m.tails().map(|t| t.kind).collect();
                assert_eq!(tails, [TailKind::SchedulerLog, TailKind::Dmesg]);
            }
            "ktstr-rusty-nextest-autorepro.txt" => {
                let f = functions(&m);
                assert_eq!(f[0].name, "rusty_enqueue");
                assert_eq!(fields(f[0], "p")[0], ("pid", "2231", None));
                assert_eq!(m.duration_s(), Some(18.4));
                assert_eq!(m.tails().count(), 3);
            }
            "ktstr-lavd-ansi-bug-summary-newer.txt" => {
                assert_eq!(block_kinds(&m), ["status"]);
                assert_eq!(
                    m.statuses().next().unwrap().verdict,
                    StatusKind::NoProbeData
                );
            }
            "ktstr-mitosis-verifier-cycle-collapse.txt" => {
                assert!(matches!(
                    m.statuses().next().unwrap().verdict,
                    StatusKind::SchedulerCrashed {
                        exit_status: Some(1),
                        ..
                    }
                ));
                assert_eq!(m.duration_s(), Some(6.2));
            }
            "ktstr-layered-guest-crashed.txt" => {
                assert_eq!(
                    m.statuses().next().unwrap().verdict,
                    StatusKind::RanNormally
                );
            }
            _ => {}
        }
    }
    assert!(seen >= 5, "{seen} variant reports with auto-repro");
}

/// Leniency: another indent, odd spacing and tabs keep the structure, and the
/// odd lines come back as read.
#[test]
fn lenient_layout() {
    let text = vector("vector-a.txt");
    let a = parse_checked(body(&text));
    let indented: String = body(&text)
        .lines()
        .map(|l| {
            if l.is_empty() {
                "\n".to_string()
            } else {
                format!("      {l}\n")
            }
        })
        .collect();
    let m = parse_checked(&indented);
    assert_eq!(m.indent, "      ");
    assert_eq!(m.blocks, a.blocks);

    let odd = body(&text)
        .replace("      pid         97", "\tpid 97")
        .replace("    rq *rq", "  rq *rq")
        .replace("  do_enqueue_task  ", "do_enqueue_task\t  ");
    let m = parse_checked(&odd);
    assert_eq!(m.skipped, 0);
    assert_eq!(probe(&m).field_width, 10);
    let f = functions(&m);
    assert_eq!(f.len(), 2);
    assert_eq!(fields(f[0], "p")[0], ("pid", "97", None));
    assert_eq!(location(f[1]), "kernel/sched/ext.c:1344");
    assert!(f[1].verbatim.is_some());
}

/// Status lines and tails as ktstr's templates print them (no probe data: a
/// stall skips the probes, the primary may not have reached the workload).
#[test]
fn status_and_tails_table() {
    let cases: &[(&str, &[&str])] = &[
        (
            "PRIMARY DID NOT REACH WORKLOAD — auto-repro is not load-bearing (the primary VM's failure prevented the bug from being exercised, x)\nrepro VM: timed out\nrepro VM duration: 61.0s\n",
            &["status", "status", "duration"],
        ),
        (
            "repro VM: scheduler did not attach (sched_ext sysfs absent) (exit code 1)\nrepro VM duration: 3.1s",
            &["status", "duration"],
        ),
        (
            "repro VM: scheduler crashed — killed by signal (9)\nrepro VM duration: 3.0s\n\n--- repro VM scheduler log ---\n09:31:02 [INFO] started\n\n--- repro VM sched_ext dump ---\n  kworker-1 [001] 8.0: sched_ext_dump: x\n\n--- repro VM failure dump ---\nfailure dump: 1 task\n\n  detail\n\n--- repro VM dmesg ---\nempty (scheduler crashed before kernel printk reached the UART buffer)\n",
            &["status", "duration", "blank", "tail", "blank", "tail", "blank", "tail", "blank", "tail"],
        ),
    ];
    for (body, kinds) in cases {
        let m = parse_checked(body);
        assert_eq!(&block_kinds(&m), kinds, "{body}");
        assert_eq!(m.skipped, 0, "{body}");
        assert!(canonical(&m), "{body}");
    }
    let m = parse_checked(cases[0].0);
    let verdicts: Vec<_> = m.statuses().map(|s| s.verdict.clone()).collect();
    assert!(
        matches!(&verdicts[0], StatusKind::PrimaryDidNotReachWorkload { detail } if detail.starts_with("auto-repro is not load-bearing"))
    );
    assert_eq!(verdicts[1], StatusKind::TimedOut);
    let m = parse_checked(cases[1].0);
    assert_eq!(
        m.statuses().next().unwrap().verdict,
        StatusKind::NotAttached {
            reason: "sched_ext sysfs absent".into(),
            exit_code: Some(1)
        }
    );
    let m = parse_checked(cases[2].0);
    assert_eq!(
        m.tails().map(|t| t.kind).collect::<Vec<_>>(),
        [
            TailKind::SchedulerLog,
            TailKind::SchedExtDump,
            TailKind::FailureDump,
            TailKind::Dmesg
        ]
    );
    // A blank line inside a tail stays in it; the separator before the next does not.
    assert_eq!(
        m.tail(TailKind::FailureDump).unwrap().lines,
        ["failure dump: 1 task", "", "  detail"]
    );
    assert!(matches!(
        m.statuses().next().unwrap().verdict,
        StatusKind::SchedulerCrashed {
            signal: Some(9),
            ..
        }
    ));
}

/// Cut anywhere (a VM that died mid-print): no panic, exact round trip.
#[test]
fn truncated_vectors_round_trip() {
    for name in [
        "vector-a.txt",
        "vector-b.txt",
        "vector-c.txt",
        "vector-d.txt",
    ] {
        let text = vector(name);
        for (at, _) in text.char_indices() {
            parse_checked(&text[..at]);
        }
    }
}

/// Lines of every kind the parser reads, plus noise.
const POOL: &[&str] = &[
    "--- probe pipeline ---",
    "  extracted:   9 functions from crash backtrace",
    "  traceable:   7 passed, 3 dropped: a, b, c",
    "  bpf_discover: 0 programs found",
    "  kprobes:     5 attached, 1 failed: x (err)",
    "  trigger:     not fired (tp_btf)",
    "  events:      146 captured, 0 after stitch — trigger never fired (timing race)",
    "  bpf_counts:  1603 kprobe fires, 1 trigger fires, 0 meta misses",
    "  miss_ips:    0xffffffff81001234",
    "=== AUTO-PROBE: scx_exit fired ===",
    "  ktstr_enqueue                                                   main.bpf.c:21",
    "  do_enqueue_task                                               kernel/sched/ext.c:1344",
    "  unknown",
    "    task_struct *p",
    "    rq *rq",
    "      pid         97",
    "      cpus_ptr    0xf(0-3)",
    "      dsq_id      SCX_DSQ_INVALID          →  SCX_DSQ_LOCAL",
    "      slice               19982063         →  20000000",
    "      prev (task_struct *)  ptr:1a2b",
    "      msg         \"hello → world\"",
    "      arg0        int:0",
    "  scx_bpf_error_bstr+0x8a/0xd0",
    "  ...",
    "repro VM: timed out",
    "repro VM: scheduler did not attach (timeout) (exit code 1)",
    "repro VM: scheduler crashed — killed by signal (9)",
    "PRIMARY DID NOT REACH WORKLOAD — auto-repro is not load-bearing (x)",
    "auto-repro: no probe data — the scheduler may have exited",
    "repro VM duration: 16.9s",
    "repro VM duration: NaNs",
    "--- repro VM scheduler log ---",
    "--- repro VM sched_ext dump ---",
    "--- repro VM failure dump ---",
    "--- repro VM dmesg ---",
    "(no kernel printk other than sched_ext_dump — full dump in section above)",
    "[    8.114302] sched_ext: BPF scheduler \"rusty\" disabled (scx_bpf_error)",
    "",
    "",
    "   ",
    "\t",
    "\tindented\twith tabs",
    "stray\rcarriage return",
    "→",
    "  x  →  ",
];

fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(POOL).prop_map(str::to_string),
        1 => (prop::sample::select(POOL), " {0,3}", "[ \t]{0,2}")
            .prop_map(|(l, pre, post)| format!("{pre}{l}{post}")),
        1 => "[ -~]{0,40}",
        1 => "\\PC{0,20}",
    ]
}

const INDENTS: &[&str] = &["", "    ", "\t", "  "];

fn text() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(line(), 0..30),
        prop::sample::select(INDENTS),
        any::<bool>(),
    )
        .prop_map(|(lines, indent, nl)| {
            let mut s = lines
                .iter()
                .map(|l| {
                    if l.is_empty() {
                        String::new()
                    } else {
                        format!("{indent}{l}")
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            if nl {
                s.push('\n');
            }
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn any_text_round_trips(x in text()) {
        let m = auto_repro::parse(&x);
        prop_assert_eq!(auto_repro::write(&m), x);
        prop_assert_eq!(auto_repro::parse(&auto_repro::write(&m)), m);
    }

    #[test]
    fn arbitrary_strings_round_trip(x in "\\PC*") {
        prop_assert_eq!(auto_repro::write(&auto_repro::parse(&x)), x);
    }
}

/// A real `scxray demo` report (Debian's 7.3 kernel, TCG, the kernel's
/// DWARF cached): scxray's own section is in ktstr's exact layout, reads
/// back whole, and its crash stays out of the report's crashes.
#[test]
fn scxrays_own_section_from_a_real_demo() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/reports/demo-autorepro-7.3.txt");
    let text = std::fs::read_to_string(&path).unwrap();
    let report = scxray::parse::parse_str(&text);
    let body = scxray::sections::section_body(&report, &scxray::report::SectionKind::AutoRepro)
        .expect("an auto-repro section");
    let m = parse_checked(body);
    assert_eq!(m.skipped, 0);
    assert!(canonical(&m), "every line in ktstr's layout");
    assert!(matches!(
        pipeline(&m).stage("trigger").unwrap().info,
        StageInfo::Trigger {
            state: TriggerState::Fired,
            ..
        }
    ));
    let f = functions(&m);
    let kernel: Vec<_> = f
        .iter()
        .filter(|f| f.kind == FunctionKind::Kernel)
        .collect();
    let bpf: Vec<_> = f.iter().filter(|f| f.kind == FunctionKind::Bpf).collect();
    assert!(!kernel.is_empty() && !bpf.is_empty(), "{f:#?}");
    assert!(kernel
        .iter()
        .all(|f| f.location.as_ref().unwrap().file.starts_with("kernel/")));
    let validate = bpf.iter().find(|f| f.name == "validate_cell").unwrap();
    assert_eq!(location(validate), "demo.bpf.c:92");
    // The test run's crash is the report's; the repro's stays in its tails.
    assert_eq!(report.crashes.len(), 1, "{:#?}", report.crashes);
    // The raw events of the repro run are kept, layouts and all.
    let raw =
        scxray::sections::section_body(&report, &scxray::report::SectionKind::ReproProbeEvents)
            .expect("the repro's raw probe events");
    let log = scxray::run::probe_text::parse_probe_log(raw);
    assert!(log
        .layouts
        .iter()
        .any(|l| l.target == "validate_cell" && !l.lines.is_empty()));
    assert!(log.events.iter().any(|e| !e.fields.is_empty()));
}
