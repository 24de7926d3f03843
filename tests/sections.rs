//! ktstr's stats, timeline and monitor sections of the variant fixtures,
//! parsed through the report parser and then the typed section parsers.

use std::path::Path;

use scxray::report::Report;
use scxray::sections::{self, Direction, PhaseEvent, Stall, VerdictStatus};

fn fixture(name: &str) -> Report {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/variants")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    scxray::parse::parse_str(&text)
}

fn ktstr_fixtures() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/variants");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("ktstr-") && n.ends_with(".txt"))
        .collect();
    names.sort();
    names
}

/// No leftovers, except libtest's trailer (`failures:`, `test result: ...`),
/// which the report parser leaves in the last section: kept, not understood.
fn understood(unknown: &[String]) -> bool {
    unknown.is_empty() || unknown.iter().any(|u| u.starts_with("test result:"))
}

/// Every line of every fixture's stats, timeline and monitor is understood.
#[test]
fn every_fixture_section_parses_without_leftovers() {
    let mut seen = (0, 0, 0);
    for name in ktstr_fixtures() {
        let report = fixture(&name);
        if let Some(t) = sections::timeline(&report) {
            seen.0 += 1;
            assert!(t.unknown.is_empty(), "{name}: {:?}", t.unknown);
            assert!(!t.phases.is_empty(), "{name}");
            assert!(
                t.header.topology.is_some() && t.header.duration_s.is_some(),
                "{name}"
            );
            for p in &t.phases {
                assert!(understood(&p.unknown), "{name}: {:?}", p.unknown);
                assert!(p.duration_ms.is_some() && p.samples.is_some(), "{name}");
                let m = p
                    .metrics
                    .as_ref()
                    .unwrap_or_else(|| panic!("{name}: no metrics"));
                assert!(m.extra.is_empty(), "{name}: {:?}", m.extra);
                assert!(m.imbalance_avg.is_some() && m.dsq_max.is_some(), "{name}");
                assert!(
                    !p.events
                        .iter()
                        .any(|e| matches!(e, PhaseEvent::Other { .. })),
                    "{name}: {:?}",
                    p.events
                );
            }
        }
        if let Some(s) = sections::stats(&report) {
            seen.1 += 1;
            assert!(understood(&s.unknown), "{name}: {:?}", s.unknown);
            let totals = s
                .totals
                .as_ref()
                .unwrap_or_else(|| panic!("{name}: no totals"));
            assert!(totals.extra.is_empty(), "{name}: {:?}", totals.extra);
            assert!(!s.cgroups.is_empty(), "{name}");
            assert!(
                s.cgroups
                    .iter()
                    .all(|c| c.extra.is_empty() && c.iter.is_some()),
                "{name}"
            );
        }
        if let Some(m) = sections::monitor(&report) {
            seen.2 += 1;
            assert!(understood(&m.unknown), "{name}: {:?}", m.unknown);
            assert!(m.extra.is_empty(), "{name}: {:?}", m.extra);
            assert!(
                m.samples.is_some() && m.stall.is_some() && m.avg.is_some(),
                "{name}"
            );
            assert!(m.verdict.is_some(), "{name}");
        }
    }
    // The fixtures cover each section several times.
    assert!(seen.0 >= 5 && seen.1 >= 4 && seen.2 >= 5, "{seen:?}");
}

#[test]
fn bpfland_monitor_failed() {
    let report = fixture("ktstr-bpfland-monitor-failed.txt");
    let t = sections::timeline(&report).unwrap();
    assert_eq!(t.header.kernel.as_deref(), Some("6.15.9"));
    assert_eq!(t.header.cpus, Some(8));
    assert_eq!(t.header.scheduler.as_deref(), Some("scx_bpfland"));
    assert_eq!(
        t.header.scenario.as_deref(),
        Some("bpfland_interactive_burst")
    );
    assert_eq!(t.header.duration_s, Some(15.0));
    assert_eq!(t.spans(), [(0, 3000), (3000, 15000)]);
    let p = &t.phases[1];
    let m = p.metrics.as_ref().unwrap();
    assert_eq!(m.throughput_iter_per_s, Some(214408.0));
    assert_eq!(m.fallback_per_s, Some(86.0));
    let changes: Vec<(&str, Option<f64>)> = p
        .degradations()
        .map(|c| (c.metric.as_str(), c.delta))
        .collect();
    assert_eq!(
        changes,
        [
            ("imbalance", Some(2.1)),
            ("dsq_depth", Some(6.0)),
            ("fallback", Some(74.0))
        ]
    );

    let m = sections::monitor(&report).unwrap();
    assert_eq!((m.samples, m.max_dsq_depth), (Some(130), Some(41)));
    assert_eq!(m.stall, Some(Stall::Flag(false)));
    assert_eq!(m.bpf.len(), 3);
    assert_eq!(m.bpf[2].name, "bpfland_dispatc");
    let v = m.verdict.unwrap();
    assert_eq!(v.status, VerdictStatus::Failed(Some(2)));
    assert_eq!(
        v.details,
        [
            "imbalance ratio 7.00 exceeded 4.00 for 14 consecutive samples (1.4s)",
            "local DSQ depth 41 on cpu5 exceeded 32"
        ]
    );
    assert!(sections::stats(&report).is_none());
}

#[test]
fn cosmos_stuck_cpu_and_stalls() {
    let report = fixture("ktstr-cosmos-timed-out-stall.txt");
    let t = sections::timeline(&report).unwrap();
    assert_eq!(t.phases[1].stalls, Some(301));
    assert_eq!(t.total_ms(), 61000);
    let m = sections::monitor(&report).unwrap();
    assert_eq!(m.stall, Some(Stall::Stuck(1)));
    assert!(m.stall.unwrap().detected());
    assert_eq!(m.verdict.unwrap().details, ["cpu1 stuck for 30400ms"]);
}

#[test]
fn lavd_newer_layout() {
    let report = fixture("ktstr-lavd-ansi-bug-summary-newer.txt");
    let t = sections::timeline(&report).unwrap();
    assert!(t.phases.iter().all(|p| !p.is_baseline()));
    let m = t.phases[1].metrics.as_ref().unwrap();
    assert_eq!(m.nr_run_avg, Some(1.6));
    assert_eq!(m.throughput_note.as_deref(), Some("stimulus-derived"));
    assert_eq!(
        t.phases[1].events[1],
        PhaseEvent::Change(scxray::sections::Change {
            direction: Direction::Degradation,
            metric: "imbalance".into(),
            delta: Some(0.8),
        })
    );
    let m = sections::monitor(&report).unwrap();
    assert_eq!(m.events_plus.len(), 3);
    assert_eq!(m.events_plus[2].unit.as_deref(), Some("ns"));
    assert_eq!(m.schedstat[1].name, "run_delay");
    assert_eq!(m.schedstat[0].rate_per_s, Some(2308.0));
    let s = sections::stats(&report).unwrap();
    assert_eq!(s.totals.unwrap().worst_spread_pct, Some(4.1));
    assert_eq!(s.cgroups[1].iter, Some(91233));
}

#[test]
fn eevdf_has_no_scheduler_and_p2dq_spread_is_na() {
    let t = sections::timeline(&fixture("ktstr-eevdf-libtest-no-sched.txt")).unwrap();
    assert_eq!(t.header.scheduler, None);
    assert_eq!(t.header.scenario.as_deref(), Some("eevdf_pinned_pair"));

    let report = fixture("ktstr-p2dq-inconclusive-libtest.txt");
    let s = sections::stats(&report).unwrap();
    let totals = s.totals.unwrap();
    assert_eq!((totals.workers, totals.worst_spread_pct), (Some(32), None));
    assert_eq!(s.cgroups[0].spread_pct, None);
    assert!(sections::timeline(&report).is_none());
    assert_eq!(
        sections::monitor(&report).unwrap().verdict.unwrap().status,
        VerdictStatus::Ok
    );
}

#[test]
fn nextest_indentation_is_ignored() {
    let report = fixture("ktstr-rusty-nextest-autorepro.txt");
    let t = sections::timeline(&report).unwrap();
    assert_eq!(t.header.kernel.as_deref(), Some("6.16.3"));
    assert_eq!(t.phases.len(), 2);
    assert_eq!(t.phases[1].label, "StepStart[1]");
    assert_eq!(sections::stats(&report).unwrap().cgroups.len(), 2);
    assert_eq!(sections::monitor(&report).unwrap().samples, Some(14));
}
