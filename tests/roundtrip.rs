//! `parse(write(r)) == r`: writing any parsed report back to ktstr's layout
//! and parsing it again gives the same report.

#[path = "support/require.rs"]
mod require;

use proptest::prelude::*;
use scxray::parse::parse_str;
use scxray::write::to_ktstr;

/// Realistic lines of every format the parser reads, plus noise.
const POOL: &[&str] = &[
    "DEBUG DUMP",
    "================================================================================",
    "kworker/u32:12[320] triggered exit kind 1026:",
    "sh[131] triggered exit kind 1025 on CPU 1:",
    "  scx_bpf_error (apply_cell_config returned -EINVAL (enqueue #400))",
    "  runnable task stall (stress[1530] failed to run for 6.841s)",
    "Backtrace:",
    "  scx_exit_bstr+0xdd/0x110",
    "  bpf_prog_3a0600fe7b4b0a35_apply_cell_config+0x7a/0x82",
    "CPU states",
    "----------",
    "CPU 1   : nr_run=3 flags=0x101 cpu_rel=0 ksync=461",
    "          curr=sh[131] class=ext_sched_class",
    " *R sh[131] *root -4ms",
    "      scx_state/flags=4/0x5 dsq_flags=0x0 ops_state/qseq=0/0",
    "Event counters",
    "      SCX_EV_SELECT_CPU_FALLBACK:                0",
    "EXIT: runnable task stall (stress[1530] failed to run for 6.841s)",
    "[    5.621706] sched_ext: BPF scheduler \"crashfifo\" disabled (scx_bpf_error)",
    "[    5.621772] sched_ext: crashfifo: apply_cell_config returned -EINVAL",
    "[    5.621839]    scx_exit_bstr+0xdd/0x110",
    "Nov 27 07:00:01 box kernel: sched_ext: BPF scheduler \"lavd\" disabled (runtime error)",
    "  sh-131 [001] d.h1.  5.576264: sched_ext_dump:   scx_bpf_error (x)",
    "  sh-131 [001] d.h41  5.573702: sched_ext_exit: sched crashfifo level 0 kind 1025",
    "libbpf: prog 'x_enqueue': -- BEGIN PROG LOAD LOG --",
    "R1 invalid mem access 'scalar'",
    "processed 12 insns (limit 1000000)",
    "libbpf: prog 'x_enqueue': -- END PROG LOAD LOG --",
    "Error: failed to attach struct_ops",
    "Caused by:",
    "    0: Device or resource busy (os error 16)",
    "--- 5x of the following 3 lines ---",
    "--- probe pipeline ---",
    "--- diagnosthcs ---",
    "--- stats --- ",
    "\u{1b}--- timeline ---",
    "[35951ktstr_test 'mid' failed:",
    "--- repro VM scheduler log ---",
    "  cg0: workers=1 cpus=2 spread=0.0% gap=10ms migrations=1 iter=209600",
    "18:15:22 [INFO] scx_lavd scheduler starts running.",
    "",
    "   ",
    "\tindented\twith tabs",
    "\u{1b} lone escape",
    "\u{1b}[1;31mred\u{1b}[0m",
    "stray\rcarriage return",
    "runs of CR\r\r\r\r",
];

fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(POOL).prop_map(str::to_string),
        1 => "[ -~]{0,40}",
        1 => "\\PC{0,20}",
    ]
}

fn body() -> impl Strategy<Value = String> {
    prop::collection::vec(line(), 0..30).prop_map(|v| v.join("\n"))
}

const SECTIONS: &[&str] = &[
    "stats",
    "diagnostics",
    "timeline",
    "scheduler log",
    "monitor",
    "sched_ext dump",
    "auto-repro",
    "info",
    "console",
    "frobnicate",
];

fn ktstr_text() -> impl Strategy<Value = String> {
    let header = (
        prop::option::of("[a-z_]{1,20}"),
        prop::option::of("[A-Za-z ]{1,30}"),
        prop::option::of(prop::sample::select(&["scx-ktstr", "scx_lavd"][..])),
        prop::sample::select(
            &[
                "failed:",
                "inconclusive:",
                "timed out (no result in SHM or COM2)",
                "guest crashed: boom",
                "",
            ][..],
        ),
        prop::collection::vec("[a-z0-9 ]{1,30}", 0..3),
    );
    let sections = prop::collection::vec((prop::sample::select(SECTIONS), body()), 0..6);
    (header, sections, prop::bool::ANY).prop_map(
        |((fp, bug, sched, verdict, details), sections, preamble)| {
            let mut s = String::new();
            if preamble {
                s.push_str("  TRY 1 FAIL [  31.810s] ktstr/x\n  stderr ───\n\n");
            }
            if let Some(fp) = fp {
                s += &format!("{fp}\n");
            }
            if let Some(b) = bug {
                s += &format!("BUG SUMMARY: {b}\n");
            }
            s += "ktstr_test 'case'";
            if let Some(sc) = sched {
                s += &format!(" [sched={sc}]");
            }
            s += &format!(" [topo=1n1l2c1t] {verdict}\n");
            for d in details {
                s += &format!("  {d}\n");
            }
            for (name, body) in sections {
                s += &format!("\n--- {name} ---\n{body}\n");
            }
            s
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn ktstr_reports_round_trip(text in ktstr_text()) {
        let r = parse_str(&text);
        let again = parse_str(&to_ktstr(&r));
        prop_assert_eq!(again, r);
    }

    #[test]
    fn raw_inputs_round_trip(text in body()) {
        let r = parse_str(&text);
        let again = parse_str(&to_ktstr(&r));
        prop_assert_eq!(again, r);
    }
}

#[test]
fn real_fixtures_round_trip() {
    let Some(shared) = require::require_shared_fixtures("real_fixtures_round_trip") else {
        return;
    };
    let entries = std::fs::read_dir(shared.join("public")).expect("shared/fixtures/public");
    for e in entries.flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap();
        let r = parse_str(&text);
        assert_eq!(parse_str(&to_ktstr(&r)), r, "{}", e.path().display());
    }
}
