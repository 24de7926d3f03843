//! The cost of one host-monitor sample (`Monitor::poll` when one is due)
//! of a synthetic guest's RAM file, for 2 and 64 vCPUs, so the per-vCPU
//! cost can be extrapolated. Goal: sampling at 100 Hz costs ≤ 2 % of one
//! host core for 2 vCPUs, i.e. ≤ 200 µs per sample.
//!
//! `sample_*`: runqueues, SCX event counters (through a page walk, cached),
//! schedstat and two struct_ops programs' per-CPU statistics.
//! `sample_vcpu_threads_*`: that plus each vCPU thread's host wait read
//! from `/proc` (threads of this process named as QEMU's are).
//! `runqueues_*`: the runqueues alone (a kernel without the rest).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use scxray_vmm::monitor::testkit::{sampling, Reads, VcpuThreads};
use scxray_vmm::monitor::INTERVAL;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("monitor");
    for (name, reads, threads) in [
        ("sample", Reads::All, false),
        ("sample_vcpu_threads", Reads::All, true),
        ("runqueues", Reads::Runqueues, false),
    ] {
        for cpus in [2u32, 64] {
            let dir = tempfile::tempdir().unwrap();
            let (_guest, mut m) = sampling(dir.path(), cpus, reads);
            let _threads = threads.then(|| {
                let t = VcpuThreads::spawn(cpus);
                m.qemu_started(std::process::id());
                t
            });
            let step = INTERVAL.as_millis() as u64;
            let mut at_ms = 0;
            // Per vCPU: criterion's element rate.
            g.throughput(Throughput::Elements(u64::from(cpus)));
            g.bench_function(format!("{name}_{cpus}_vcpus"), |b| {
                b.iter(|| {
                    // One interval on: `poll` takes a real sample.
                    at_ms += step;
                    let s = m.poll(black_box(at_ms)).expect("a sample is due");
                    assert_eq!(s.cpus.len(), cpus as usize);
                    assert_eq!(s.vcpu_wait_ns.is_some(), threads);
                    s
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
