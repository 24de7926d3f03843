//! The own VMM booting Linux on a real KVM where /dev/kvm cannot run Linux
//! (this project's machines): QEMU's TCG boots the sched_ext kernel on an
//! emulated AMD CPU with SVM, the test guest loads that kernel's own KVM
//! modules (`scxray kernel fetch --kvm-modules`) and runs this very test
//! binary's [`inner_linux_boot_on_the_own_vmm`] in there, which boots the
//! same kernel on the own VMM and checks its agent's hello and ACPI
//! power-off. About 40 s of the inner boot on this machine: KVM inside TCG
//! is about ten times slower than TCG alone.
//!
//! Skips (failing under `SCXRAY_REQUIRE_VM`/`CI`) without QEMU, a cached
//! kernel or its KVM modules.

use std::path::{Path, PathBuf};
use std::time::Duration;

use scxray::run::record::Record;
use scxray_vmm::backend::{Backend, ExitHow, GuestEvent, GuestSpec};
use scxray_vmm::cancel::Cancel;
use scxray_vmm::initramfs::InitramfsBuilder;
use scxray_vmm::kernel::kvm_modules::KvmModules;
use scxray_vmm::kvm::KvmBackend;

#[path = "common/kernel.rs"]
mod kernel;
#[path = "../../tests/support/kvm_host.rs"]
mod kvm_host;
#[path = "../../tests/support/require.rs"]
mod require;

/// Where the outer guest finds the kernel the inner test boots.
const KERNEL_ENV: &str = "SCXRAY_NESTED_KERNEL";
/// The line the inner test prints when Linux said hello on the own VMM.
const BOOTED: &str = "own VMM on nested KVM: Linux said hello after";

const TEST_GUEST: &str = env!("CARGO_BIN_EXE_scxray-test-guest");

/// The outer guest's initramfs: the test guest as /init in `kvm-host`
/// mode, this test binary, the kernel, the KVM modules, and the test
/// guest again at its host path (the inner test builds its own initramfs
/// from it, with the libraries the resolver finds through ld.so.cache).
fn outer_initramfs(kernel: &Path, modules: &KvmModules, out: &Path) {
    let me = std::env::current_exe().unwrap();
    let b = InitramfsBuilder::new()
        .init(TEST_GUEST)
        .binary(&me, "/kvm-host/test")
        .binary(TEST_GUEST, TEST_GUEST)
        .file(kernel, "/kvm-host/vmlinuz")
        .file("/etc/ld.so.cache", "/etc/ld.so.cache");
    let b = kvm_host::modules(b, modules);
    let argv = [
        "/kvm-host/test",
        "--exact",
        "inner_linux_boot_on_the_own_vmm",
        "--ignored",
        "--nocapture",
    ];
    let env = [(KERNEL_ENV, "/kvm-host/vmlinuz"), ("RUST_BACKTRACE", "1")];
    kvm_host::command(b, &argv, &env).build_file(out).unwrap();
}

#[test]
fn the_own_vmm_boots_linux_on_kvm_nested_in_qemu_tcg() {
    const TEST: &str = "the_own_vmm_boots_linux_on_kvm_nested_in_qemu_tcg";
    let Some(kernel) = kernel::find_kernel() else {
        require::require_vm(
            TEST,
            Some("no sched_ext kernel: run `scxray kernel fetch --kvm-modules`".into()),
        );
        return;
    };
    let Some(modules) = kernel.parent().and_then(KvmModules::in_entry) else {
        require::require_vm(
            TEST,
            Some(format!(
                "no KVM modules beside {}: run `scxray kernel fetch --kvm-modules`",
                kernel.display()
            )),
        );
        return;
    };
    let qemu = match kvm_host::qemu("the nested-KVM test") {
        Ok(q) => q,
        Err(why) => {
            require::require_vm(TEST, Some(why));
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let initrd = dir.path().join("outer.cpio");
    outer_initramfs(&kernel, &modules, &initrd);
    let outer = kvm_host::boot(
        &qemu,
        &kernel,
        &initrd,
        kvm_host::OUTER_CPUS,
        Duration::from_secs(600),
        Duration::from_secs(300),
    );
    let summary = outer.summary();
    assert!(
        !outer.stalled,
        "the outer guest hung: nothing from the inner test for 5 minutes\n{summary}"
    );
    assert_eq!(outer.exit.how, ExitHow::PoweredOff, "{summary}");
    assert_eq!(outer.passed, Some(true), "the inner test failed\n{summary}");
    assert!(
        outer.stdout.contains(BOOTED),
        "no boot line from the inner test\n{}\n{summary}",
        outer.stdout
    );
    eprintln!("{}", outer.stdout);
}

/// Runs only inside the outer guest (where [`KERNEL_ENV`] names the
/// kernel): Linux on the own VMM, on that guest's KVM, says hello through
/// the agent's UART and powers off through ACPI S5.
#[test]
#[ignore = "runs inside the nested-KVM test's guest"]
fn inner_linux_boot_on_the_own_vmm() {
    let Some(kernel) = std::env::var_os(KERNEL_ENV).map(PathBuf::from) else {
        eprintln!("skipped: inner_linux_boot_on_the_own_vmm: only inside the nested-KVM guest");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let initrd = dir.path().join("initrd.cpio");
    InitramfsBuilder::new()
        .init(TEST_GUEST)
        .build_file(&initrd)
        .unwrap();
    let mut spec = GuestSpec::new(&kernel, &initrd);
    spec.cmdline = "scxray_test=hello".into();
    spec.cpus = 2;
    spec.memory_mib = 512;
    // Stretched tenfold by the VMM itself on a TCG host.
    spec.deadline = Duration::from_secs(30);
    let runs = dir.path().join("runs");
    std::fs::create_dir(&runs).unwrap();
    let mut hello = false;
    let mut console = Vec::new();
    let exit = KvmBackend::new()
        .run_dir_parent(&runs)
        .boot(
            &spec,
            &mut |e| match e {
                GuestEvent::Record(Record::Hello { .. }) => hello = true,
                GuestEvent::Console(l) => console.push(l),
                _ => {}
            },
            &Cancel::new(),
        )
        .unwrap();
    for w in &exit.warnings {
        println!("own VMM warning: {w}");
    }
    let tail = console[console.len().saturating_sub(30)..].join("\n");
    assert_eq!(exit.how, ExitHow::PoweredOff, "console tail:\n{tail}");
    assert!(hello, "no hello; console tail:\n{tail}");
    println!("{BOOTED} {:?} ({:?} in all)", exit.to_hello, exit.wall);
    assert!(
        std::fs::read_dir(&runs).unwrap().next().is_none(),
        "run directory left"
    );
}
