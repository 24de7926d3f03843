use scxray::run::live::{LiveRun, RunMeta};
use scxray::run::scenario::Scenario;
use scxray_vmm::session::{run, RunPlan};
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let plan = RunPlan {
        kernel_image: "/root/.cache/scxray/kernels/7.3.4+deb13-cloud-amd64/vmlinuz".into(),
        agent: "target/debug/scxray-agent".into(),
        scheduler: "target/debug/scx-demo".into(),
        args,
        includes: vec![],
        scenario: Scenario::standard(1500, 2),
        cpus: 2,
        memory_mib: 512,
        attach_timeout: Duration::from_secs(20),
        cache_dir: "/tmp/scxray-try".into(),
        cmdline: String::new(),
    };
    let backend = scxray_vmm::qemu::QemuBackend::from_env().unwrap();
    let cancel = scxray_vmm::cancel::Cancel::new();
    let mut live = LiveRun::new(RunMeta {
        test_name: "try".into(),
        scheduler: "scx-demo".into(),
        cpus: 2,
        ..Default::default()
    });
    let res = run(&plan, &backend, &cancel, &mut |ev, at| {
        if let scxray::run::live::Event::Record(r) = &ev {
            eprintln!("[{at:>6}] {r:?}");
        }
        live.apply(ev, at);
    })
    .unwrap();
    eprintln!("exit: {:?} to_hello={:?}", res.exit.how, res.exit.to_hello);
    print!("{}", scxray::write::to_ktstr(&live.report()));
}
