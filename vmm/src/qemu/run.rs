//! One boot attempt: start QEMU, pass on what the guest says, watch for
//! the things that end a guest (power-off, panic, boot oops, deadline,
//! Ctrl-C), then tear everything down and say how it ended.

use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use scxray::run::record::{DecodeStats, Record};

use crate::backend::{Accel, DropStats, GuestEvent, GuestSpec, VmError};
use crate::cancel::Cancel;

use super::command::{self, Launch, TcgThreads};
use super::console::{trouble, OopsText, Tail, Trouble};
use super::files::{RunDir, ShmFile};
use super::ports;
use super::process::{describe, QemuProcess};
use super::queue::{Incoming, Queue};

/// After a boot oops, how long to keep reading the oops text before
/// killing the guest (a panic usually ends QEMU well before).
const OOPS_GRACE: Duration = Duration::from_secs(3);
/// After a panic line, how long QEMU gets to exit by itself (`panic=-1`).
const PANIC_GRACE: Duration = Duration::from_secs(5);
/// After QEMU has gone, how long the readers get to deliver the rest.
const DRAIN: Duration = Duration::from_secs(2);
const TICK: Duration = Duration::from_millis(20);
/// How often a quiet guest still gives the sink a [`GuestEvent::Tick`].
const QUIET_TICK: Duration = Duration::from_millis(50);
const STDERR_LINES: usize = 20;

/// The stage before the agent says anything.
pub const BOOTING: &str = "booting";

pub(crate) struct Params<'a> {
    pub qemu: &'a Path,
    pub accel: Accel,
    pub tcg_threads: TcgThreads,
    pub spec: &'a GuestSpec,
    pub initrd: &'a Path,
    pub cmdline: &'a str,
    pub run_dir: &'a RunDir,
    pub attempt: u32,
    pub tail_lines: usize,
    pub queue_cap: usize,
    pub poweroff_grace: Duration,
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum End {
    PoweredOff,
    Watchdog {
        stage: String,
    },
    Panicked {
        stage: String,
        message: String,
    },
    /// Oops or panic before the agent's hello: the oops text, and whether
    /// a kernel fault (`Oops:`, `BUG:`) was among it. TCG's boot race shows
    /// as such a fault; a bare panic (`No working init found`) is
    /// deterministic and not worth a retry.
    BootOops {
        text: String,
        fault: bool,
    },
    Cancelled {
        stage: String,
    },
    QemuDied {
        stage: String,
        status: String,
    },
}

pub(crate) struct Attempt {
    pub end: End,
    pub to_first_record: Option<Duration>,
    pub to_hello: Option<Duration>,
    pub console_tail: Vec<String>,
    pub decode: DecodeStats,
    pub dropped: DropStats,
    pub stderr: String,
    pub warnings: Vec<String>,
}

/// Why the host stopped the guest (rather than the guest ending itself).
enum Stop {
    Cancel,
    Deadline,
    OopsCollected,
    PanicNoExit,
    DoneNoPowerOff,
    KvmError(String),
}

/// What has been seen so far.
struct Watch {
    started: Instant,
    stage: String,
    hello: Option<Duration>,
    first_record: Option<Duration>,
    done: Option<Instant>,
    oops: OopsText,
    oops_at: Option<Instant>,
    /// An `Oops:`/`BUG:` line came before the agent's hello.
    early_fault: bool,
    panic: Option<(String, Instant)>,
    tail: Tail,
    stderr: Tail,
    kvm_error: Option<String>,
    console_seen: bool,
    decode: DecodeStats,
    console_open: bool,
    stderr_open: bool,
    records_open: bool,
    connected: bool,
}

impl Watch {
    fn handle(&mut self, item: Incoming, sink: &mut dyn FnMut(GuestEvent)) {
        match item {
            Incoming::Console(line) => {
                self.console_seen = true;
                self.tail.push(&line);
                if let Some(kind) = trouble(&line) {
                    if self.oops_at.is_none() {
                        self.oops_at = Some(Instant::now());
                    }
                    if kind == Trouble::Oops && self.hello.is_none() {
                        self.early_fault = true;
                    }
                    if kind == Trouble::Panic && self.panic.is_none() {
                        self.panic = Some((
                            super::console::strip_timestamp(&line).to_owned(),
                            Instant::now(),
                        ));
                    }
                }
                if self.oops_at.is_some() {
                    self.oops.push(&line);
                }
                sink(GuestEvent::Console(line));
            }
            Incoming::Record(r) => {
                let at = self.started.elapsed();
                self.first_record.get_or_insert(at);
                let stage = match &r {
                    Record::Hello { .. } => {
                        self.hello.get_or_insert(at);
                        Some("agent started".to_owned())
                    }
                    Record::Stage { name, .. } => Some(name.clone()),
                    Record::Phase {
                        index, total, name, ..
                    } => Some(format!("phase {index}/{total} ({name})")),
                    Record::Done { .. } => {
                        self.done.get_or_insert_with(Instant::now);
                        Some("powering off".to_owned())
                    }
                    _ => None,
                };
                sink(GuestEvent::Record(r));
                if let Some(s) = stage.filter(|s| *s != self.stage) {
                    self.stage = s.clone();
                    sink(GuestEvent::Stage(s));
                }
            }
            Incoming::Stderr(line) => {
                // QEMU pauses a KVM guest on an internal error instead of
                // exiting: it would sit there until the deadline.
                if line.contains("KVM internal error") && self.kvm_error.is_none() {
                    self.kvm_error = Some(line.trim().to_owned());
                }
                self.stderr.push(&line);
            }
            Incoming::ConsoleEnd => self.console_open = false,
            Incoming::StderrEnd => self.stderr_open = false,
            Incoming::RecordEnd(stats) => {
                self.decode = stats;
                self.records_open = false;
            }
        }
    }

    fn open_streams(&self) -> bool {
        self.console_open || self.stderr_open || self.records_open
    }

    /// Whether the host must stop the guest now, and why.
    fn stop_reason(&self, cancel: &Cancel, p: &Params<'_>) -> Option<Stop> {
        if cancel.is_cancelled() {
            return Some(Stop::Cancel);
        }
        if let Some(e) = &self.kvm_error {
            return Some(Stop::KvmError(e.clone()));
        }
        if self.started.elapsed() >= p.spec.deadline {
            return Some(Stop::Deadline);
        }
        if let Some((_, at)) = &self.panic {
            if at.elapsed() >= PANIC_GRACE {
                return Some(Stop::PanicNoExit);
            }
        }
        if let Some(at) = self.oops_at {
            if self.hello.is_none() && at.elapsed() >= OOPS_GRACE {
                return Some(Stop::OopsCollected);
            }
        }
        if self.done.is_some_and(|at| at.elapsed() >= p.poweroff_grace) {
            return Some(Stop::DoneNoPowerOff);
        }
        None
    }

    /// An oops or panic before hello is a boot failure, after it a result.
    fn trouble_end(&self) -> Option<End> {
        if self.hello.is_none() && self.oops_at.is_some() {
            return Some(End::BootOops {
                text: self.oops.text(),
                fault: self.early_fault,
            });
        }
        self.panic.as_ref().map(|(message, _)| End::Panicked {
            stage: self.stage.clone(),
            message: message.clone(),
        })
    }
}

/// Runs one attempt. `Err` only when QEMU could not be started, or exited
/// before the guest printed anything.
pub(crate) fn attempt(
    p: &Params<'_>,
    sink: &mut dyn FnMut(GuestEvent),
    cancel: &Cancel,
) -> Result<Attempt, VmError> {
    let mut warnings = Vec::new();
    let sock = p
        .run_dir
        .socket_path(&format!("records-{}.sock", p.attempt))?;
    let listener = ports::listen(&sock).map_err(VmError::io("cannot listen on", &sock))?;
    let shm = match p.spec.share_memory {
        true => ShmFile::create(p.spec.memory_mib)?
            .map_err(|why| warnings.push(why))
            .ok(),
        false => None,
    };
    let memory = shm.as_ref().map(|s| s.info().clone());
    let args = command::args(&Launch {
        accel: p.accel,
        tcg_threads: p.tcg_threads,
        cpus: p.spec.cpus,
        memory_mib: p.spec.memory_mib,
        kernel: &p.spec.kernel,
        initrd: p.initrd,
        cmdline: p.cmdline,
        record_socket: Some(&sock),
        memory_file: memory.as_ref().map(|m| m.path.as_path()),
    });
    let mut qemu = QemuProcess::spawn(p.qemu, &args)?;
    let started = Instant::now();
    let queue = Arc::new(Queue::new(p.queue_cap));
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    let (out, err) = qemu.take_pipes();
    let reader_failed = || VmError::io("cannot start a reader thread for", p.qemu);
    let mut watch = Watch {
        started,
        stage: BOOTING.to_owned(),
        hello: None,
        first_record: None,
        done: None,
        oops: OopsText::default(),
        oops_at: None,
        early_fault: false,
        panic: None,
        tail: Tail::new(p.tail_lines),
        stderr: Tail::new(STDERR_LINES),
        kvm_error: None,
        console_seen: false,
        decode: DecodeStats::default(),
        console_open: out.is_some(),
        stderr_open: err.is_some(),
        records_open: false,
        connected: false,
    };
    if let Some(out) = out {
        threads.push(ports::console(out, Arc::clone(&queue)).map_err(reader_failed())?);
    }
    if let Some(err) = err {
        threads.push(ports::stderr(err, Arc::clone(&queue)).map_err(reader_failed())?);
    }
    sink(GuestEvent::Started {
        attempt: p.attempt,
        accel: p.accel,
        pid: qemu.pid(),
        memory: memory.clone(),
    });
    sink(GuestEvent::Stage(BOOTING.to_owned()));

    // QEMU connects to the record socket while it starts up; accepting
    // is polled from the loop because QEMU may die before connecting.
    let mut record_conn: Option<UnixStream> = None;
    let mut connect = |watch: &mut Watch, threads: &mut Vec<JoinHandle<()>>| {
        if watch.connected {
            return;
        }
        let Ok(Some(stream)) = ports::try_accept(&listener) else {
            return;
        };
        watch.connected = true;
        // A second handle, to unblock the reader at teardown.
        record_conn = stream.try_clone().ok();
        if let Ok(t) = ports::records(stream, Arc::clone(&queue)) {
            threads.push(t);
            watch.records_open = true;
        }
    };

    // Watch until the guest ends or must be stopped.
    let mut last_tick = Instant::now();
    let (stop, status) = loop {
        if let Some(stop) = watch.stop_reason(cancel, p) {
            break (Some(stop), qemu.kill());
        }
        connect(&mut watch, &mut threads);
        if let Some(status) = qemu.try_wait() {
            break (None, Some(status));
        }
        if let Some(item) = queue.pop(TICK) {
            watch.handle(item, sink);
        } else if last_tick.elapsed() >= QUIET_TICK {
            last_tick = Instant::now();
            sink(GuestEvent::Tick);
        }
    };
    // QEMU is gone: its connection may still wait in the backlog, and
    // the readers hold what it wrote last.
    connect(&mut watch, &mut threads);
    let drain_until = Instant::now() + DRAIN;
    while watch.open_streams() && Instant::now() < drain_until {
        if let Some(item) = queue.pop(TICK) {
            watch.handle(item, sink);
        }
    }
    if let Some(conn) = &record_conn {
        let _ = conn.shutdown(std::net::Shutdown::Both);
    }
    while let Some(item) = queue.pop(Duration::ZERO) {
        watch.handle(item, sink);
    }
    // A reader that did not reach end of stream is left detached rather
    // than joined: teardown must not hang on it.
    if !watch.open_streams() {
        for t in threads {
            let _ = t.join();
        }
    }

    let stage = watch.stage.clone();
    let end: Result<End, VmError> = match stop {
        Some(Stop::Cancel) => Ok(End::Cancelled { stage }),
        Some(Stop::Deadline) => Ok(End::Watchdog { stage }),
        Some(Stop::KvmError(e)) => Ok(End::QemuDied { stage, status: e }),
        Some(Stop::OopsCollected | Stop::PanicNoExit) => {
            Ok(watch.trouble_end().unwrap_or(End::QemuDied {
                stage,
                status: "killed after a kernel oops".into(),
            }))
        }
        Some(Stop::DoneNoPowerOff) => {
            warnings.push(format!(
                "the guest sent Done but did not power off within {} s; killed",
                p.poweroff_grace.as_secs()
            ));
            Ok(End::PoweredOff)
        }
        None => match (watch.trouble_end(), status) {
            (Some(end), _) => Ok(end),
            (None, Some(s)) if s.success() => Ok(End::PoweredOff),
            (None, status) => {
                let status = status.map_or_else(|| "unknown exit status".to_owned(), describe);
                if !watch.console_seen && watch.first_record.is_none() {
                    Err(VmError::QemuFailed {
                        status,
                        stderr: watch.stderr.to_vec().join("\n"),
                        command: command::display(p.qemu, &args),
                    })
                } else {
                    Ok(End::QemuDied { stage, status })
                }
            }
        },
    };
    if watch.early_fault && watch.hello.is_some() {
        let text = watch.oops.text();
        let first = text.lines().next().unwrap_or_default();
        warnings.push(format!(
            "the kernel oopsed before the agent started, and went on: {first}"
        ));
    }
    sink(GuestEvent::Stopped {
        attempt: p.attempt,
        memory,
    });
    drop(shm);
    drop(listener);
    let _ = std::fs::remove_file(&sock);
    Ok(Attempt {
        end: end?,
        to_first_record: watch.first_record,
        to_hello: watch.hello,
        console_tail: watch.tail.to_vec(),
        decode: watch.decode,
        dropped: queue.dropped(),
        stderr: watch.stderr.to_vec().join("\n"),
        warnings,
    })
}
