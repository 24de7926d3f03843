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
