//! Boot to the guest agent's hello, own VMM against QEMU on KVM, same
//! kernel and initramfs (the test guest as /init, which says hello, sends
//! Done and powers off), measured in one run. Goals (issue 12): the own VMM
//! reaches hello in ≤ 300 ms for a 7.x kernel and ≥ 3× faster than QEMU
//! with KVM.
//!
//! Needs a KVM that runs Linux (QEMU's KVM probe boot of this kernel says
//! so, cached) and a cached sched_ext kernel (`scxray kernel fetch`); where
//! either is missing it says why and measures nothing. The figure is each
//! boot's time to hello (`GuestExit::to_hello`), not the whole call: the
//! teardown differs (QEMU exits, the own VMM joins threads).

use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use scxray_vmm::backend::{Accel, Backend, ExitHow, GuestSpec};
use scxray_vmm::cancel::Cancel;
use scxray_vmm::initramfs::InitramfsBuilder;
use scxray_vmm::kernel::KernelCache;
use scxray_vmm::kvm::KvmBackend;
use scxray_vmm::qemu::{AccelChoice, QemuBackend};

fn kernel() -> Result<PathBuf, String> {
    let cache = KernelCache::from_env().map_err(|e| e.to_string())?;
    match cache.newest_sched_ext() {
        Ok(Some(k)) => Ok(k.image),
        Ok(None) => Err("no sched_ext kernel cached: run `scxray kernel fetch`".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// Time to hello of one boot; panics on any other end than a power-off.
fn hello(b: &dyn Backend, spec: &GuestSpec) -> Duration {
    let exit = b.boot(spec, &mut |_| {}, &Cancel::new()).unwrap();
    assert_eq!(exit.how, ExitHow::PoweredOff, "{}", exit.how);
    exit.to_hello.expect("hello")
}

fn bench(c: &mut Criterion) {
    let kernel = match kernel() {
        Ok(k) => k,
        Err(why) => return eprintln!("kvm_boot: nothing measured: {why}"),
    };
    let qemu = QemuBackend::from_env()
        .unwrap()
        .accel(AccelChoice::Auto, "the benchmark");
    match qemu.resolve_accel(&kernel, &Cancel::new()) {
        Ok(d) if d.accel == Accel::Kvm => {}
        Ok(d) => {
            return eprintln!(
                "kvm_boot: nothing measured: KVM cannot run Linux here ({})",
                d.why
            )
        }
        Err(e) => return eprintln!("kvm_boot: nothing measured: {e}"),
    }
    let dir = tempfile::tempdir().unwrap();
    let initrd = dir.path().join("initrd.cpio");
    InitramfsBuilder::new()
        .init(env!("CARGO_BIN_EXE_scxray-test-guest"))
        .build_file(&initrd)
        .unwrap();
    let mut spec = GuestSpec::new(&kernel, &initrd);
    spec.cmdline = "scxray_test=hello".into();
    spec.memory_mib = 512;
    spec.deadline = Duration::from_secs(60);
    spec.share_memory = false;
    let own = KvmBackend::new();
    let mut g = c.benchmark_group("boot_to_hello");
    g.sample_size(10);
    for (name, backend) in [
        ("own_vmm", &own as &dyn Backend),
        ("qemu_kvm", &qemu as &dyn Backend),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| hello(backend, &spec)).sum())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
