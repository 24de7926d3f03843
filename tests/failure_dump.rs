//! A real run's failure dumps (`examples/reports/demo-failure-dump-7.3.txt`:
//! `scxray demo --crash scx-bpf-error` on the 7.3 kernel under TCG, with
//! auto-repro): both parse back into the model and write out byte for
//! byte, and the task the error names is in each.

use std::path::Path;

use scxray::failure_dump::{of_report, text, Trigger};
use scxray::parse::parse_path;
use scxray::report::SectionKind;

#[test]
fn a_real_runs_dumps_read_back_exactly() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/reports/demo-failure-dump-7.3.txt");
    let report = parse_path(&path).unwrap();
    let message = report
        .crash()
        .and_then(|c| c.message.clone())
        .expect("the crash's message");
    for (repro, kind) in [
        (false, SectionKind::FailureDump),
        (true, SectionKind::ReproFailureDump),
    ] {
        let d = of_report(&report, repro)
            .unwrap_or_else(|| panic!("no {} section", kind.name()))
            .unwrap();
        let body = &report.section(&kind).unwrap().body;
        assert_eq!(text::write(&d), body.trim_end(), "{}", kind.name());
        assert!(
            matches!(&d.trigger, Trigger::Watchpoint { rip_symbol: Some(s), .. } if s.starts_with("scx_claim_exit+")),
            "{:?}",
            d.trigger
        );
        assert_eq!(d.exit_kind_name.as_deref(), Some("SCX_EXIT_ERROR_BPF"));
        assert_eq!((d.cpus.len(), d.vcpus.len()), (2, 2));
        assert!(d.maps.iter().any(|m| m.name == "demo_bpf.bss"));
        // The test run's message names its task; the repro VM's task of
        // the same error has another pid, but is in its dump the same way.
        if !repro {
            let pid = d.task_named_in(&message).expect("the message's task");
            // Being enqueued: its whole entity was decoded by kernel BTF.
            let scx = d.task(pid).and_then(|t| t.scx.clone()).unwrap_or_default();
            assert!(scx.contains("ops_state = { counter = "), "{scx}");
        }
    }
}
