//! Parser throughput on a 100 MB scheduler log holding one dump (goal:
//! ≥ 500 MB/s), and on the real 7.3-kernel trace.

#[path = "../tests/support/stats_line.rs"]
mod stats_line;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use scxray::parse::parse_text;
use scxray::report::Text;
use stats_line::stats_line;

/// A scheduler log of `size` bytes: periodic stats lines, one dump near the end.
pub fn big_log(size: usize) -> String {
    let mut s = String::with_capacity(size + 4096);
    let mut i = 0u64;
    while s.len() < size {
        s.push_str(&stats_line(i));
        s.push('\n');
        i += 1;
    }
    s.push_str(
        "\nDEBUG DUMP\n================================================================================\n\n\
         kworker/1:2[88] triggered exit kind 1025 on CPU 1:\n  scx_bpf_error (task_ctx lookup failed for pid 4242)\n\n\
         Backtrace:\n  scx_exit_bstr+0xdd/0x110\n  scx_bpf_error_bstr+0x60/0xa0\n  bpf_prog_0123456789abcdef_rusty_enqueue+0x48/0x8c\n\n\
         CPU states\n----------\n\nCPU 1   : nr_run=1 flags=0x1 cpu_rel=0 ksync=1\n          curr=kworker/1:2[88] class=ext_sched_class\n\n\
         Event counters\n--------------\n   SCX_EV_SELECT_CPU_FALLBACK: 0\n\n\
         ================================================================================\n\nEXIT: scx_bpf_error (task_ctx lookup failed for pid 4242)\n",
    );
    s
}

fn bench(c: &mut Criterion) {
    let log = Text::from(big_log(100 << 20));
    let mut g = c.benchmark_group("parse");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(log.len() as u64));
    g.bench_function("scheduler_log_100MB_one_dump", |b| {
        b.iter(|| {
            let r = parse_text(black_box(log.clone()));
            assert!(r.crash().is_some());
            r
        })
    });
    let trace = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/real-runs/rust-loader/trace.txt");
    if let Ok(t) = std::fs::read_to_string(trace) {
        let t = Text::from(t);
        g.sample_size(50);
        g.throughput(Throughput::Bytes(t.len() as u64));
        g.bench_function("real_trace_7.3", |b| {
            b.iter(|| parse_text(black_box(t.clone())))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
