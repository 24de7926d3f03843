//! Parser time on a log of 100k crashes (issue 15, item 6): a machine that
//! crashed its scheduler over and over, its console holding every exit. The
//! time must grow with the number of crashes, not with its square (merging
//! the views of one exit compared every crash with every other one, and took
//! 85 s for 70k crashes). The log is built with `format!` in well under a
//! second: each exit is a kernel record with its backtrace, the scheduler's
//! `DEBUG DUMP` of it and its `EXIT:` line (merged into one crash), then a
//! userspace exit of the restarted scheduler and two stats lines.

#[path = "../tests/support/stats_line.rs"]
mod stats_line;

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use scxray::parse::parse_text;
use scxray::report::Text;
use stats_line::stats_line;

/// Crashes found per [`unit`].
const CRASHES_PER_UNIT: usize = 2;

/// One round of the log: two crashes, numbered `i` so that no two records
/// are the same (identical kernel records are read as one).
fn unit(out: &mut String, i: usize) {
    let t = 100 + i;
    let pid = 1000 + i % 30_000;
    let _ = write!(
        out,
        "[{t}.000100] sched_ext: BPF scheduler \"scx_bench\" disabled (scx_bpf_error)\n\
         [{t}.000110] sched_ext: scx_bench: task_ctx lookup failed for pid {pid} (round {i})\n\
         [{t}.000120]    scx_exit_bstr+0xdd/0x110\n\
         [{t}.000130]    scx_bpf_error_bstr+0x60/0xa0\n\
         [{t}.000140]    bpf_prog_0123456789abcdef_bench_enqueue+0x48/0x8c\n\
         [{t}.000150]    bpf__sched_ext_ops_enqueue+0x4b/0x8d\n\
         DEBUG DUMP\n\
         ================================================================================\n\
         \n\
         kworker/1:2[{pid}] triggered exit kind 1025 on CPU 1:\n  \
         scx_bpf_error (task_ctx lookup failed for pid {pid} (round {i}))\n\
         \n\
         Backtrace:\n  \
         scx_exit_bstr+0xdd/0x110\n  \
         scx_bpf_error_bstr+0x60/0xa0\n  \
         bpf_prog_0123456789abcdef_bench_enqueue+0x48/0x8c\n\
         \n\
         CPU states\n\
         ----------\n\
         \n\
         CPU 1   : nr_run=1 flags=0x1 cpu_rel=0 ksync=1\n          \
         curr=kworker/1:2[{pid}] class=ext_sched_class\n\
         \n\
         Event counters\n\
         --------------\n   \
         SCX_EV_SELECT_CPU_FALLBACK: {i}\n\
         \n\
         ================================================================================\n\
         \n\
         EXIT: scx_bpf_error (task_ctx lookup failed for pid {pid} (round {i}))\n\
         {}\n\
         Error: scx_bench exited: dispatch queue {i} is full\n\
         {}\n",
        stats_line(i as u64),
        stats_line(i as u64 + 1),
    );
}

/// A console log holding `crashes` crashes.
pub fn many_crashes(crashes: usize) -> String {
    let units = crashes / CRASHES_PER_UNIT;
    let mut s = String::with_capacity(units * 1300);
    for i in 0..units {
        unit(&mut s, i);
    }
    s
}

fn bench(c: &mut Criterion) {
    let log = Text::from(many_crashes(100_000));
    let found = parse_text(log.clone()).crashes.len();
    assert_eq!(found, 100_000, "every generated crash is found once");
    let mut g = c.benchmark_group("parse");
    g.sample_size(10);
    g.measurement_time(std::time::Duration::from_secs(15));
    g.throughput(Throughput::Elements(found as u64));
    g.bench_function("console_100k_crashes", |b| {
        b.iter(|| parse_text(black_box(log.clone())))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
