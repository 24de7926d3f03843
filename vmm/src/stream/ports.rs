//! The threads reading what a guest says: the kernel console (QEMU's
//! stdout, or the own VMM's COM1), the record port (the unix socket QEMU
//! connects the guest's second serial port to, or the own VMM's COM2) and
//! QEMU's own stderr. Each turns bytes into
//! [`Incoming`] items on the bounded [`Queue`] and ends with an end marker.

use std::io::{self, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::backend::GuestInput;

use scxray::run::record::Decoder;

use super::console::LineSplitter;
use super::queue::{Incoming, Queue};

const CHUNK: usize = 16 * 1024;

fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(body)
}

/// Reads until end of stream (or an error, which ends it the same way).
fn pump(mut input: impl Read, mut each: impl FnMut(&[u8])) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        match input.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => each(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// Kernel console lines.
pub fn console(input: impl Read + Send + 'static, queue: Arc<Queue>) -> io::Result<JoinHandle<()>> {
    spawn("qemu-console", move || {
        let mut lines = LineSplitter::new();
        pump(input, |b| {
            lines.push(b, &mut |l| queue.push(Incoming::Console(l)))
        });
        if let Some(l) = lines.finish() {
            queue.push(Incoming::Console(l));
        }
        queue.push(Incoming::ConsoleEnd);
    })
}

/// QEMU's stderr lines.
pub fn stderr(input: impl Read + Send + 'static, queue: Arc<Queue>) -> io::Result<JoinHandle<()>> {
    spawn("qemu-stderr", move || {
        let mut lines = LineSplitter::new();
        pump(input, |b| {
            lines.push(b, &mut |l| queue.push(Incoming::Stderr(l)))
        });
        if let Some(l) = lines.finish() {
            queue.push(Incoming::Stderr(l));
        }
        queue.push(Incoming::StderrEnd);
    })
}

/// Records decoded from the record port; garbage is skipped and counted by
/// the decoder, whose counters travel with the end marker.
pub fn records(
    stream: impl Read + Send + 'static,
    queue: Arc<Queue>,
) -> io::Result<JoinHandle<()>> {
    spawn("qemu-records", move || {
        let mut decoder = Decoder::new();
        pump(stream, |b| {
            for r in decoder.push(b) {
                queue.push(Incoming::Record(r));
            }
        });
        queue.push(Incoming::RecordEnd(decoder.stats));
    })
}

/// Writes what `input` holds to the record port until `stop` is set (the
/// guest agent reads it from its side of the port).
pub fn writer(
    mut stream: UnixStream,
    input: GuestInput,
    stop: Arc<AtomicBool>,
) -> io::Result<JoinHandle<()>> {
    spawn("qemu-input", move || {
        while !stop.load(Ordering::Relaxed) {
            if let Some(bytes) = input.next(Duration::from_millis(100)) {
                if stream.write_all(&bytes).is_err() {
                    return;
                }
            }
        }
    })
}

/// The unix socket QEMU connects to. Non-blocking, so that waiting for
/// QEMU can be interleaved with watching it (it may die before connecting).
pub fn listen(path: &std::path::Path) -> io::Result<UnixListener> {
    let l = UnixListener::bind(path)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// QEMU's connection, if it has connected yet.
pub fn try_accept(listener: &UnixListener) -> io::Result<Option<UnixStream>> {
    match listener.accept() {
        Ok((s, _)) => {
            s.set_nonblocking(false)?;
            Ok(Some(s))
        }
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scxray::run::record::{encode, Record};
    use std::io::Write;
    use std::time::Duration;

    fn drain(q: &Queue) -> Vec<Incoming> {
        let mut v = Vec::new();
        while let Some(i) = q.pop(Duration::from_millis(200)) {
            v.push(i);
        }
        v
    }

    #[test]
    fn console_lines_then_end() {
        let q = Arc::new(Queue::new(1 << 20));
        console(&b"a\r\nb\npartial"[..], Arc::clone(&q))
            .unwrap()
            .join()
            .unwrap();
        let got: Vec<String> = drain(&q)
            .into_iter()
            .map(|i| match i {
                Incoming::Console(l) => l,
                Incoming::ConsoleEnd => "<end>".into(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(got, ["a", "b", "partial", "<end>"]);
    }

    #[test]
    fn records_over_a_socket_with_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let l = listen(&path).unwrap();
        assert!(try_accept(&l).unwrap().is_none());
        let mut client = UnixStream::connect(&path).unwrap();
        let server = loop {
            if let Some(s) = try_accept(&l).unwrap() {
                break s;
            }
        };
        let q = Arc::new(Queue::new(1 << 20));
        let t = records(server, Arc::clone(&q)).unwrap();
        let hello = Record::Hello {
            agent: "t".into(),
            uptime_ms: 1,
        };
        client.write_all(b"junk SXR\x09").unwrap();
        client.write_all(&encode(&hello).unwrap()).unwrap();
        drop(client);
        t.join().unwrap();
        let got = drain(&q);
        assert!(matches!(&got[0], Incoming::Record(r) if *r == hello));
        match &got[1] {
            Incoming::RecordEnd(stats) => {
                assert_eq!(stats.records, 1);
                assert!(stats.skipped_bytes >= 5);
            }
            other => panic!("{other:?}"),
        }
    }
}
