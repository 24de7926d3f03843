//! The record channel to the host: the second serial port in raw mode.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::{Arc, Mutex};

use scxray::run::record::{encode, Record, MAX_PAYLOAD};

/// Shared, thread-safe record writer.
#[derive(Clone)]
pub struct Channel {
    port: Arc<Mutex<File>>,
}

impl Channel {
    /// Opens `path` (e.g. `/dev/ttyS1`) and switches it to raw mode: the tty
    /// layer must not turn `\n` into `\r\n` inside binary frames.
    pub fn open(path: &str) -> std::io::Result<Channel> {
        let port = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(path)?;
        let fd = port.as_raw_fd();
        // SAFETY: termios calls on a descriptor we own; the struct is plain data.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut t) == 0 {
                libc::cfmakeraw(&mut t);
                libc::cfsetspeed(&mut t, libc::B115200);
                libc::tcsetattr(fd, libc::TCSANOW, &t);
            }
        }
        Ok(Channel {
            port: Arc::new(Mutex::new(port)),
        })
    }

    /// Sends one record; a line too long for a frame is cut (and says so).
    pub fn send(&self, record: Record) {
        let frame = match encode(&record) {
            Ok(f) => f,
            Err(_) => match shorten(record) {
                Some(r) => match encode(&r) {
                    Ok(f) => f,
                    Err(_) => return,
                },
                None => return,
            },
        };
        if let Ok(mut port) = self.port.lock() {
            let _ = port.write_all(&frame);
        }
    }

    /// Reads one line the host wrote to the port (without its newline);
    /// blocks until it is complete. More than `max` bytes is an error.
    pub fn read_line(&self, max: usize) -> std::io::Result<Vec<u8>> {
        let mut port = self
            .port
            .lock()
            .map_err(|_| std::io::Error::other("the record port's lock is poisoned"))?
            .try_clone()?;
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            match std::io::Read::read(&mut port, &mut byte) {
                Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(_) if byte[0] == b'\n' => return Ok(line),
                Ok(_) if line.len() >= max => {
                    return Err(std::io::Error::other(format!(
                        "a line of more than {max} bytes"
                    )))
                }
                Ok(_) => line.push(byte[0]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits until the port has sent everything (before power-off).
    pub fn drain(&self) {
        if let Ok(port) = self.port.lock() {
            // SAFETY: tcdrain on a descriptor we own.
            unsafe { libc::tcdrain(port.as_raw_fd()) };
        }
    }
}

/// Cuts the text of a line record so it fits a frame.
fn shorten(record: Record) -> Option<Record> {
    let cut = |s: String| {
        let mut end = MAX_PAYLOAD / 2;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{} [scxray: line cut at {end} bytes]", &s[..end])
    };
    Some(match record {
        Record::SchedLine { stream, line } => Record::SchedLine {
            stream,
            line: cut(line),
        },
        Record::Trace { line } => Record::Trace { line: cut(line) },
        Record::Kmsg { line } => Record::Kmsg { line: cut(line) },
        Record::Error { message } => Record::Error {
            message: cut(message),
        },
        _ => return None,
    })
}
