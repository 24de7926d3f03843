//! One boot attempt: start QEMU, pass on what the guest says, let
//! [`Watch`] decide when it has ended or must be stopped, then tear
//! everything down and say how it ended.

use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use scxray::run::record::DecodeStats;

use crate::backend::{Accel, DropStats, GuestEvent, GuestSpec, VmError};
use crate::cancel::Cancel;
pub(crate) use crate::watch::End;
use crate::watch::{Limits, Watch, BOOTING, DRAIN, QUIET_TICK, TICK};

use super::command::{self, Launch, TcgThreads};
use super::files::{RunDir, ShmFile};
use super::process::QemuProcess;
use crate::stream::ports;
use crate::stream::queue::Queue;

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
        true => ShmFile::create(p.spec.memory_mib, p.spec.topology().numa_nodes)?
            .map_err(|why| warnings.push(why))
            .ok(),
        false => None,
    };
    let memory = shm.as_ref().map(|s| s.info().clone());
    let gdb = match p.spec.gdb_stub {
        true => Some(p.run_dir.socket_path(&format!("gdb-{}.sock", p.attempt))?),
        false => None,
    };
    let args = command::args(&Launch {
        accel: p.accel,
        tcg_threads: p.tcg_threads,
        topology: p.spec.topology(),
        memory_mib: p.spec.memory_mib,
        kernel: &p.spec.kernel,
        initrd: p.initrd,
        cmdline: p.cmdline,
        record_socket: Some(&sock),
        memory: memory.as_ref(),
        gdb_socket: gdb.as_deref(),
    });
    let mut qemu = QemuProcess::spawn(p.qemu, &args)?;
    if p.spec.background {
        // Before QEMU starts its vCPU threads, which inherit it. Best
        // effort: the guest runs either way.
        // SAFETY: setpriority on our own child's pid.
        unsafe { libc::setpriority(libc::PRIO_PROCESS, qemu.pid(), 10) };
    }
    let started = Instant::now();
    let queue = Arc::new(Queue::new(p.queue_cap));
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    let (out, err) = qemu.take_pipes();
    let reader_failed = || VmError::io("cannot start a reader thread for", p.qemu);
    let limits = Limits {
        deadline: p.spec.deadline,
        poweroff_grace: p.poweroff_grace,
        tail_lines: p.tail_lines,
    };
    let mut watch = Watch::new(started, &limits, out.is_some(), err.is_some());
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
        gdb: gdb.clone(),
        pause: None,
        vcpu_tids: None,
    });
    sink(GuestEvent::Stage(BOOTING.to_owned()));

    // QEMU connects to the record socket while it starts up; accepting
    // is polled from the loop because QEMU may die before connecting.
    let mut record_conn: Option<UnixStream> = None;
    let input_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut input_thread = None;
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
        if let (Some(input), Ok(w)) = (&p.spec.input, stream.try_clone()) {
            input_thread = ports::writer(w, input.clone(), Arc::clone(&input_stop)).ok();
        }
        if let Ok(t) = ports::records(stream, Arc::clone(&queue)) {
            threads.push(t);
            watch.records_open = true;
        }
    };

    // Watch until the guest ends or must be stopped.
    let mut last_tick = Instant::now();
    let (stop, status) = loop {
        if let Some(stop) = watch.stop_reason(Instant::now(), cancel) {
            break (Some(stop), qemu.kill());
        }
        connect(&mut watch, &mut threads);
        if let Some(status) = qemu.try_wait() {
            break (None, Some(status));
        }
        if let Some(item) = queue.pop(TICK) {
            watch.handle(Instant::now(), item, sink);
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
            watch.handle(Instant::now(), item, sink);
        }
    }
    if let Some(conn) = &record_conn {
        let _ = conn.shutdown(std::net::Shutdown::Both);
    }
    // The writer wakes within its poll interval and sees the stop.
    input_stop.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(t) = input_thread.take() {
        let _ = t.join();
    }
    while let Some(item) = queue.pop(Duration::ZERO) {
        watch.handle(Instant::now(), item, sink);
    }
    // A reader that did not reach end of stream is left detached rather
    // than joined: teardown must not hang on it.
    if !watch.open_streams() {
        for t in threads {
            let _ = t.join();
        }
    }

    let end = watch
        .end(stop, status, &mut warnings)
        .map_err(|n| VmError::QemuFailed {
            status: n.status,
            stderr: watch.stderr.to_vec().join("\n"),
            command: command::display(p.qemu, &args),
        });
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
