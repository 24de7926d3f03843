//! Matcher workbench cost per keystroke: validate the pin, count every match
//! and keep the viewport's positions, on a 10 MB and a 100 MB corpus
//! (goal: ≤ 16 ms and ≤ 100 ms for a typical literal and regex).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use scxray::cancel::Cancel;
use scxray::matcher::{evaluate, Corpus, Field, Pin, Searcher, DEFAULT_MAX_KEPT};

/// A scheduler log of about `size` bytes (periodic stats, task and kernel
/// lines with varying numbers), with a crash near the end, plus a dump.
fn corpus(size: usize) -> Corpus {
    let mut log = String::with_capacity(size + 4096);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        // xorshift: cheap, deterministic variety.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut i = 0u64;
    while log.len() < size {
        let r = next();
        let line = match i % 4 {
            0 => format!(
                "{:02}:{:02}:{:02} [INFO] lavd: sys_util={:.1}% cpus={}/16 nr_queued={} nr_sched={}\n",
                (i / 3600) % 24,
                (i / 60) % 60,
                i % 60,
                (r % 1000) as f64 / 10.0,
                r % 16,
                r % 300,
                r % 1_000_000
            ),
            1 => format!(
                "[{:5}.{:06}] sched_ext: task kworker/u{}:{}[{}] migrated cpu{} -> cpu{} after {}ms\n",
                i / 100,
                r % 1_000_000,
                r % 8,
                r % 5,
                r % 40_000,
                r % 16,
                (r >> 8) % 16,
                r % 50
            ),
            2 => format!(
                "  dsq_id=0x{:x} dsq_vtime={} slice={} ops_state/qseq=0/{}\n",
                r % 0x10000,
                r % 10_000_000_000,
                5_000_000,
                r % 1000
            ),
            _ => format!(
                "{:02}:{:02}:{:02} [DEBUG] lavd: greedy ratio {} lat_cri {} perf_cri {}\n",
                (i / 3600) % 24,
                (i / 60) % 60,
                i % 60,
                r % 2000,
                r % 100,
                (r >> 16) % 100
            ),
        };
        log.push_str(&line);
        i += 1;
    }
    log.push_str(
        "\nDEBUG DUMP\n==========\n\nrcub/0[19] triggered exit kind 1025:\n  \
         scx_bpf_error (run_time_ns is negative: 0x5772484607211 - 0x5772484608241)\n\n\
         Backtrace:\n  scx_bpf_error_bstr+0x65/0x80\n  \
         bpf_prog_24288482c3037da4_lavd_stopping+0x214/0x248\n",
    );
    let dump =
        "CPU 0   : nr_run=1 flags=0x9 cpu_rel=1 ops_qseq=4930858 pnt_seq=15980341\n          \
                curr=rcub/0[19] class=rt_sched_class\n\n  R redDispatcher6[28815] +0ms\n      \
                scx_state/flags=3/0x9 dsq_flags=0x1 ops_state/qseq=0/0";
    Corpus::new(Some(&log), Some(dump))
}

/// What the workbench does per keystroke: count, keep the viewport, validate.
fn keystroke(corpus: &Corpus, field: Field, pattern: &str) -> usize {
    let pin = match field {
        Field::Contains => Pin::contains(pattern),
        Field::Matches => Pin::matches(pattern),
    };
    let mid = corpus.len() / 2;
    let never = Cancel::new();
    let e =
        evaluate(&pin, corpus, mid..mid + 8192, DEFAULT_MAX_KEPT, &never).expect("not cancelled");
    let out = e.outcome(field).expect("valid bench pattern");
    e.validation.diagnostics.len() + out.total + out.kept.len()
}

const PINS: &[(&str, Field, &str)] = &[
    ("literal", Field::Contains, "run_time_ns is negative"),
    (
        "regex",
        Field::Matches,
        r"run_time_ns is negative: 0x[0-9a-f]+ - 0x[0-9a-f]+",
    ),
    // What `suggest` makes of the exit line. The regex crate's literal
    // prefilter is weak on `\[\d+\] ... \d+:`, so this scans at ~0.5 GB/s.
    (
        "regex_suggested",
        Field::Matches,
        r"\S+\[\d+\] triggered exit kind \d+:",
    ),
    (
        "regex_multiline",
        Field::Matches,
        r"(?m)^\S+\[\d+\] triggered exit kind \d+:$",
    ),
    // A typo: no match, so validation also tries the (?m)/(?s) fixes.
    (
        "regex_no_match",
        Field::Matches,
        r"run_time_ns is positive: 0x[0-9a-f]+",
    ),
    // Not typical: one match per line, shows the per-match cost.
    ("dense_literal", Field::Contains, "nr_queued="),
];

fn bench(c: &mut Criterion) {
    for (label, size) in [("10MB", 10usize << 20), ("100MB", 100 << 20)] {
        let corpus = corpus(size);
        let mut group = c.benchmark_group(format!("keystroke_{label}"));
        group.sample_size(10);
        group.throughput(Throughput::Bytes(corpus.len() as u64));
        for (name, field, pattern) in PINS {
            group.bench_with_input(BenchmarkId::from_parameter(name), pattern, |b, p| {
                b.iter(|| black_box(keystroke(&corpus, *field, p)))
            });
        }
        group.finish();
    }
    // "Why no match" runs once, on demand, not per keystroke.
    let corpus = corpus(10 << 20);
    let never = Cancel::new();
    let mut group = c.benchmark_group("why_no_match_10MB");
    group.sample_size(10);
    for (name, field, pattern) in [
        ("literal", Field::Contains, "run_time_ns is positive"),
        (
            "regex",
            Field::Matches,
            r"run_time_ns is positive: 0x[0-9a-f]+",
        ),
    ] {
        let searcher = Searcher::new(field, pattern).expect("valid bench pattern");
        group.bench_function(name, |b| {
            b.iter(|| black_box(searcher.longest_matching_prefix(&corpus, &never)))
        });
    }
    // A 100k-character pattern (pasted text after a regex head): the hint
    // bisects over its pieces instead of compiling every prefix (goal:
    // ≤ 100 ms; compiling every prefix took over a minute).
    let head = r"run_time_ns is positive: 0x[0-9a-f]+ - ";
    let tail: String = "abcdefghijklmnopqrstuvwxyz "
        .chars()
        .cycle()
        .take(100_000 - head.len())
        .collect();
    let long = Searcher::new(Field::Matches, &format!("{head}{tail}")).expect("valid");
    group.bench_function("regex_100k_chars", |b| {
        b.iter(|| black_box(long.longest_matching_prefix(&corpus, &never)))
    });
    // 100k characters of alternatives (`zq0|zq1|...`), none matching: each
    // alternative is tried on its own, so the compile and time budgets stop it.
    let alts: Vec<String> = (0..20_000).map(|i| format!("zq{i}")).collect();
    let alts = Searcher::new(Field::Matches, &alts.join("|")).expect("valid");
    group.bench_function("regex_100k_chars_alternatives", |b| {
        b.iter(|| black_box(alts.longest_matching_prefix(&corpus, &never)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
