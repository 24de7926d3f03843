//! Test-only guest `/init` for `vmm/tests/qemu.rs` (not the guest agent,
//! which lives in scxray-probes). It speaks the record protocol on
//! /dev/ttyS1 and then powers off; the kernel command line option
//! `scxray_test=<mode>` (passed to init as an environment variable) picks
//! what it does:
//!
//! - `hello`: Hello, a Stage, Done, power off;
//! - `hang`: Hello, Stage `sleeping forever`, then never ends;
//! - `junk`: garbage and a corrupt frame around valid Hello and Done;
//! - `flood`: Hello, 5000 scheduler lines of 200 bytes, Done;
//! - `panic`: Hello, Stage `panicking`, then a kernel panic (sysrq c);
//! - `boot-panic`: a kernel panic before any record;
//! - `boot-oops`: the same after an `Oops:` line written to the kernel log
//!   (standing in for TCG's early-boot int3 oops);
//! - `kvm-host`: plays a KVM host for `vmm/tests/kvm_nested.rs` (see
//!   [`kvm_host`]): loads the KVM modules, runs one command, sends its
//!   output lines and whether it succeeded, powers off.
//!
//! It refuses to run unless it is PID 1: it calls reboot(2).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

use scxray::run::record::{encode, Record};

mod kvm_host;

fn uptime_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime fills the timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

fn mount(source: &str, target: &str, fstype: &str) {
    let c = |s: &str| std::ffi::CString::new(s).unwrap_or_default();
    let (s, t, f) = (c(source), c(target), c(fstype));
    let _ = std::fs::create_dir_all(target);
    // SAFETY: NUL-terminated strings that outlive the call.
    unsafe { libc::mount(s.as_ptr(), t.as_ptr(), f.as_ptr(), 0, std::ptr::null()) };
}

/// The record port in raw mode: the tty layer must not rewrite `\n`.
fn open_port() -> File {
    let open = || {
        OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open("/dev/ttyS1")
    };
    let port = match open() {
        Ok(p) => p,
        Err(_) => {
            mount("devtmpfs", "/dev", "devtmpfs");
            match open() {
                Ok(p) => p,
                Err(e) => fail(&format!("cannot open /dev/ttyS1: {e}")),
            }
        }
    };
    // SAFETY: termios calls on a descriptor we own.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(port.as_raw_fd(), &mut t) == 0 {
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(port.as_raw_fd(), libc::TCSANOW, &t);
        }
    }
    port
}

fn send(port: &mut File, r: &Record) {
    match encode(r) {
        Ok(frame) => {
            let _ = port.write_all(&frame);
        }
        Err(e) => fail(&format!("cannot encode {r:?}: {e}")),
    }
}

fn power_off(port: &File) -> ! {
    // SAFETY: plain syscalls; we are PID 1 in a throwaway guest.
    unsafe {
        libc::tcdrain(port.as_raw_fd());
        libc::sync();
        libc::reboot(libc::RB_POWER_OFF);
    }
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn kernel_panic() -> ! {
    mount("proc", "/proc", "proc");
    // Writing to sysrq-trigger works whatever kernel.sysrq says.
    if let Ok(mut f) = OpenOptions::new().write(true).open("/proc/sysrq-trigger") {
        let _ = f.write_all(b"c");
    }
    fail("sysrq c did not panic the kernel")
}

fn fail(msg: &str) -> ! {
    eprintln!("scxray-test-guest: {msg}");
    // Returning from PID 1 panics the kernel: the test sees that.
    std::process::exit(1)
}

fn main() {
    if std::process::id() != 1 {
        eprintln!(
            "scxray-test-guest: a test guest's /init; refusing to run outside a VM (not PID 1)"
        );
        std::process::exit(2);
    }
    let mode = std::env::var("scxray_test").unwrap_or_else(|_| "hello".into());
    println!("scxray-test-guest: mode {mode}");
    if mode == "boot-oops" {
        // <2>: KERN_CRIT, shown on the console even under `quiet`.
        if let Ok(mut kmsg) = OpenOptions::new().write(true).open("/dev/kmsg") {
            let _ = kmsg.write_all(
                b"<2>Oops: int3: 0000 [#1] SMP NOPTI (simulated by scxray-test-guest)\n",
            );
        }
    }
    if mode.starts_with("boot-") {
        kernel_panic();
    }
    let mut port = open_port();
    let hello = Record::Hello {
        agent: "scxray-test-guest".into(),
        uptime_ms: uptime_ms(),
    };
    match mode.as_str() {
        "hello" => {
            send(&mut port, &hello);
            send(
                &mut port,
                &Record::Stage {
                    name: "testing".into(),
                    uptime_ms: uptime_ms(),
                },
            );
        }
        "junk" => {
            let _ = port.write_all(b"\x00\xff line noise SX SXR\x07\x01\x02");
            send(&mut port, &hello);
            let mut bad = encode(&Record::Stage {
                name: "corrupt".into(),
                uptime_ms: 0,
            })
            .unwrap_or_default();
            if let Some(last) = bad.last_mut() {
                *last ^= 0x55;
            }
            let _ = port.write_all(&bad);
            let _ = port.write_all(&[0xa5; 300]);
        }
        "flood" => {
            send(&mut port, &hello);
            let line = "x".repeat(200);
            for _ in 0..5000 {
                let r = Record::SchedLine {
                    stream: scxray::run::record::Stream::Stdout,
                    line: line.clone(),
                };
                send(&mut port, &r);
            }
        }
        "hang" => {
            send(&mut port, &hello);
            send(
                &mut port,
                &Record::Stage {
                    name: "sleeping forever".into(),
                    uptime_ms: uptime_ms(),
                },
            );
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        "panic" => {
            send(&mut port, &hello);
            send(
                &mut port,
                &Record::Stage {
                    name: "panicking".into(),
                    uptime_ms: uptime_ms(),
                },
            );
            // SAFETY: tcdrain on our descriptor: the records must be out first.
            unsafe { libc::tcdrain(port.as_raw_fd()) };
            kernel_panic();
        }
        "kvm-host" => {
            send(&mut port, &hello);
            let passed = kvm_host::run(&mut port);
            send(
                &mut port,
                &Record::Done {
                    passed,
                    uptime_ms: uptime_ms(),
                },
            );
            power_off(&port);
        }
        other => fail(&format!("unknown mode {other:?}")),
    }
    send(
        &mut port,
        &Record::Done {
            passed: true,
            uptime_ms: uptime_ms(),
        },
    );
    power_off(&port);
}
