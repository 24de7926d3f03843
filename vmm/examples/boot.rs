//! Boots one guest with a chosen backend and prints its console as it
//! comes, each line with the seconds since the call: for triaging a boot
//! (which step is slow, what the kernel said before it died) without the
//! whole product around it.
//!
//! ```text
//! cargo build -p scxray-vmm --bin scxray-test-guest --example boot
//! target/debug/examples/boot --kernel K --init target/debug/scxray-test-guest \
//!     [--backend kvm|qemu] [--cmdline "scxray_test=hello loglevel=8"] \
//!     [--cpus N] [--memory MIB] [--deadline S] [--hello-timeout S]
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use scxray_vmm::backend::{Backend, GuestEvent, GuestSpec};
use scxray_vmm::cancel::Cancel;
use scxray_vmm::initramfs::InitramfsBuilder;
use scxray_vmm::kvm::KvmBackend;
use scxray_vmm::qemu::QemuBackend;

struct Args {
    kernel: PathBuf,
    init: PathBuf,
    backend: String,
    cmdline: String,
    cpus: u32,
    memory_mib: u32,
    deadline: Duration,
    hello_timeout: Option<Duration>,
}

fn usage(why: &str) -> ! {
    eprintln!("boot: {why}");
    eprintln!(
        "usage: boot --kernel K --init BIN [--backend kvm|qemu] [--cmdline S] [--cpus N] \
         [--memory MIB] [--deadline S] [--hello-timeout S]"
    );
    std::process::exit(2)
}

fn args() -> Args {
    let mut a = Args {
        kernel: PathBuf::new(),
        init: PathBuf::new(),
        backend: "kvm".into(),
        cmdline: "scxray_test=hello".into(),
        cpus: 2,
        memory_mib: 512,
        deadline: Duration::from_secs(60),
        hello_timeout: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let Some(value) = it.next() else {
            usage(&format!("{flag} needs a value"))
        };
        let number = |v: &str| -> u64 {
            v.parse()
                .unwrap_or_else(|_| usage(&format!("{flag}: not a number: {v}")))
        };
        match flag.as_str() {
            "--kernel" => a.kernel = value.into(),
            "--init" => a.init = value.into(),
            "--backend" => a.backend = value,
            "--cmdline" => a.cmdline = value,
            "--cpus" => a.cpus = number(&value) as u32,
            "--memory" => a.memory_mib = number(&value) as u32,
            "--deadline" => a.deadline = Duration::from_secs(number(&value)),
            "--hello-timeout" => a.hello_timeout = Some(Duration::from_secs(number(&value))),
            _ => usage(&format!("unknown option {flag}")),
        }
    }
    if a.kernel.as_os_str().is_empty() || a.init.as_os_str().is_empty() {
        usage("--kernel and --init are needed");
    }
    a
}

fn main() {
    let a = args();
    let t0 = Instant::now();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let initrd = dir.path().join("initrd.cpio");
    if let Err(e) = InitramfsBuilder::new().init(&a.init).build_file(&initrd) {
        eprintln!("boot: cannot build the initramfs: {e}");
        std::process::exit(1);
    }
    let mut spec = GuestSpec::new(&a.kernel, &initrd);
    spec.cmdline = a.cmdline.clone();
    spec.cpus = a.cpus;
    spec.memory_mib = a.memory_mib;
    spec.deadline = a.deadline;
    let backend: Box<dyn Backend> = match a.backend.as_str() {
        "kvm" => {
            let mut b = KvmBackend::new();
            if let Some(t) = a.hello_timeout {
                b = b.hello_timeout(t);
            }
            Box::new(b)
        }
        "qemu" => match QemuBackend::from_env() {
            Ok(b) => Box::new(b),
            Err(e) => {
                eprintln!("boot: {e}");
                std::process::exit(1);
            }
        },
        other => usage(&format!("unknown backend {other}")),
    };
    let stamp = |t0: Instant| format!("[{:8.3}]", t0.elapsed().as_secs_f64());
    let mut sink = |e: GuestEvent| match e {
        GuestEvent::Console(line) => println!("{} console: {line}", stamp(t0)),
        GuestEvent::Record(r) => println!("{} record: {r:?}", stamp(t0)),
        GuestEvent::Stage(s) => println!("{} stage: {s}", stamp(t0)),
        GuestEvent::Started { accel, .. } => println!("{} started ({accel:?})", stamp(t0)),
        GuestEvent::Retrying { attempt, .. } => {
            println!("{} boot oops: attempt {attempt}", stamp(t0))
        }
        GuestEvent::Stopped { .. } => println!("{} stopped", stamp(t0)),
        GuestEvent::Tick => {}
    };
    match backend.boot(&spec, &mut sink, &Cancel::new()) {
        Ok(exit) => {
            println!(
                "{} exit: {} (to hello {:?}, wall {:?})",
                stamp(t0),
                exit.how,
                exit.to_hello,
                exit.wall
            );
            for w in &exit.warnings {
                println!("warning: {w}");
            }
        }
        Err(e) => {
            eprintln!("boot: {e}");
            std::process::exit(1);
        }
    }
}
