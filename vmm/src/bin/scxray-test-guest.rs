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

mod kvm_host {
    //! The `kvm-host` mode: this guest (QEMU's TCG, an emulated AMD CPU
    //! with SVM) loads its kernel's KVM modules and runs the command in
    //! [`ARGV`] with the environment in [`ENV`], so that the own VMM can
    //! boot Linux on a real, if slow, KVM. Each line the command writes is
    //! sent as a scheduler-log record, stdout or stderr as it came.

    use std::fs::File;
    use std::io::{BufRead, BufReader, Read};
    use std::os::fd::AsRawFd;
    use std::process::{Command, Stdio};
    use std::sync::{Arc, Mutex};

    use scxray::run::record::{Record, Stream};

    /// The modules to load, one path per line, in order.
    pub const MODULES: &str = "/kvm-host/modules";
    /// The command, one argument per line.
    pub const ARGV: &str = "/kvm-host/argv";
    /// `NAME=value` lines added to the command's environment.
    pub const ENV: &str = "/kvm-host/env";
    /// `finit_module` flag: the file is compressed; the kernel unpacks it.
    const MODULE_INIT_COMPRESSED_FILE: libc::c_uint = 4;

    fn lines(path: &str) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    fn load_module(path: &str) -> Result<(), String> {
        let f = File::open(path).map_err(|e| format!("{path}: {e}"))?;
        let none = c"";
        // SAFETY: a descriptor we own and a NUL-terminated empty string.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_finit_module,
                f.as_raw_fd(),
                none.as_ptr(),
                MODULE_INIT_COMPRESSED_FILE,
            )
        };
        match rc {
            0 => Ok(()),
            _ => Err(format!(
                "loading {path}: {}",
                std::io::Error::last_os_error()
            )),
        }
    }

    /// Sends `line` as the command's own output.
    fn say(port: &Mutex<File>, stream: Stream, line: String) {
        if let Ok(mut p) = port.lock() {
            super::send(&mut p, &Record::SchedLine { stream, line });
        }
    }

    fn pump(
        out: impl Read + Send + 'static,
        port: Arc<Mutex<File>>,
        stream: Stream,
    ) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                say(&port, stream, line);
            }
        })
    }

    /// Whether the command ran and succeeded; what went wrong is sent as a
    /// stderr line.
    pub fn run(port: &mut File) -> bool {
        super::mount("proc", "/proc", "proc");
        super::mount("sysfs", "/sys", "sysfs");
        // /dev/kvm appears there once kvm loads (the record port stays open).
        super::mount("devtmpfs", "/dev", "devtmpfs");
        // Not /tmp: the initramfs may hold files there (a checkout under
        // /tmp), and its root is writable already.
        super::mount("tmpfs", "/dev/shm", "tmpfs");
        let port = match port.try_clone() {
            Ok(p) => Arc::new(Mutex::new(p)),
            Err(e) => super::fail(&format!("cannot share the record port: {e}")),
        };
        for m in lines(MODULES) {
            if let Err(e) = load_module(&m) {
                say(&port, Stream::Stderr, format!("kvm-host: {e}"));
                return false;
            }
        }
        let argv = lines(ARGV);
        let Some((program, args)) = argv.split_first() else {
            say(
                &port,
                Stream::Stderr,
                format!("kvm-host: {ARGV} names no command"),
            );
            return false;
        };
        let mut cmd = Command::new(program);
        cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.env("HOME", "/root").env("PATH", "/usr/bin:/bin");
        for kv in lines(ENV) {
            if let Some((k, v)) = kv.split_once('=') {
                cmd.env(k, v);
            }
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                say(
                    &port,
                    Stream::Stderr,
                    format!("kvm-host: cannot run {program}: {e}"),
                );
                return false;
            }
        };
        let mut pumps = Vec::new();
        if let Some(out) = child.stdout.take() {
            pumps.push(pump(out, port.clone(), Stream::Stdout));
        }
        if let Some(err) = child.stderr.take() {
            pumps.push(pump(err, port.clone(), Stream::Stderr));
        }
        let status = child.wait();
        for p in pumps {
            let _ = p.join();
        }
        match status {
            Ok(s) => {
                say(
                    &port,
                    Stream::Stderr,
                    format!("kvm-host: {program} ended: {s}"),
                );
                s.success()
            }
            Err(e) => {
                say(
                    &port,
                    Stream::Stderr,
                    format!("kvm-host: waiting for {program}: {e}"),
                );
                false
            }
        }
    }
}

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
