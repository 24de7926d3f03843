//! [`GdbClient`]: one connection to QEMU's gdbstub over a unix socket.
//!
//! What QEMU 7.2 does (checked on this machine, see tests/gdbstub_qemu.rs):
//! - Attaching pauses the guest. If it was running (no `-S`), QEMU sends an
//!   unsolicited `T02thread:01;` before answering anything; under `-S` it
//!   sends nothing. Either way [`GdbClient::connect`] returns with every
//!   vCPU stopped and [`GdbClient::last_stop`] set from `?`.
//! - It does not offer `QStartNoAckMode`, so every packet is acked.
//! - While the guest runs, *any* byte it receives stops the guest, so
//!   nothing but 0x03 is written between `c` and the stop reply.
//! - With multiprocess ids negotiated, a bare `D` is refused (`E22`): detach
//!   is `D;<pid>`, after which QEMU removes watchpoints and resumes.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::packet::{encode, from_hex, Decoder, Frame};
use super::regs::X86Regs;
use super::stop::{Stop, ThreadId};
use super::GdbError;

type Result<T> = std::result::Result<T, GdbError>;

/// NAKs of one packet before giving up on the link.
const MAX_NAKS: u32 = 5;
/// Bytes per `m` request: QEMU's PacketSize is 0x1000 and hex doubles.
const MEMORY_CHUNK: usize = 1024;
/// How long Drop waits for the stub while detaching.
const DROP_TIMEOUT: Duration = Duration::from_secs(1);
/// What a new client waits for each reply; TCG can keep the stub busy.
const DEFAULT_REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection to QEMU's gdbstub. Dropping it detaches (best effort), so
/// the guest keeps running without the watchpoints.
#[derive(Debug)]
pub struct GdbClient {
    stream: UnixStream,
    path: PathBuf,
    decoder: Decoder,
    /// Packets that arrived while an ack was awaited (QEMU's attach stop).
    inbox: VecDeque<Vec<u8>>,
    acks: bool,
    multiprocess: bool,
    features: Vec<String>,
    running: bool,
    last_stop: Option<Stop>,
    reply_timeout: Duration,
    detached: bool,
}

impl GdbClient {
    /// Connects to the stub at `path`, retrying until the socket accepts or
    /// `timeout` passes (QEMU creates it a moment after it starts), then
    /// handshakes. The guest is stopped when this returns.
    pub fn connect(path: impl AsRef<Path>, timeout: Duration) -> Result<Self> {
        let path = path.as_ref();
        let start = Instant::now();
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(stream) => break stream,
                Err(e)
                    if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused)
                        && start.elapsed() < timeout =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(source) => {
                    return Err(GdbError::Connect {
                        path: path.to_path_buf(),
                        waited: start.elapsed(),
                        source,
                    })
                }
            }
        };
        Self::handshake(stream, path.to_path_buf(), timeout)
    }

    /// Handshakes over an already connected stream; `label` names it in
    /// errors. `timeout` bounds each handshake reply.
    pub fn handshake(stream: UnixStream, label: PathBuf, timeout: Duration) -> Result<Self> {
        let mut client = Self {
            stream,
            path: label,
            decoder: Decoder::new(),
            inbox: VecDeque::new(),
            acks: true,
            multiprocess: false,
            features: Vec::new(),
            running: false,
            last_stop: None,
            reply_timeout: timeout,
            detached: false,
        };
        let reply = client.request("qSupported:multiprocess+;swbreak+;hwbreak+;vContSupported+")?;
        client.features = String::from_utf8_lossy(&reply)
            .split(';')
            .map(str::to_owned)
            .collect();
        client.multiprocess = client.supports("multiprocess+");
        if client.supports("QStartNoAckMode+") {
            client.request_ok("QStartNoAckMode")?;
            client.acks = false;
        }
        let reply = client.request("?")?;
        let stop = Stop::parse(&reply).ok_or_else(|| bad_reply("?", &reply, "not a stop reply"))?;
        client.last_stop = Some(stop);
        client.reply_timeout = DEFAULT_REPLY_TIMEOUT;
        Ok(client)
    }

    /// How long each command waits for its reply (default 5 s).
    pub fn set_reply_timeout(&mut self, timeout: Duration) {
        self.reply_timeout = timeout;
    }

    /// Whether the stub's `qSupported` reply lists `feature` verbatim
    /// (`"multiprocess+"`, `"PacketSize=1000"`).
    pub fn supports(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }

    /// Whether `c` was sent and no stop has been seen since.
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// The most recent stop seen (from `?` at connect, or a later stop).
    pub fn last_stop(&self) -> Option<&Stop> {
        self.last_stop.as_ref()
    }

    /// Stops a running guest (0x03) and returns the stop it reports. If the
    /// guest stopped on its own meanwhile, that stop (e.g. a watchpoint) is
    /// returned instead: nothing is lost.
    pub fn interrupt(&mut self, timeout: Duration) -> Result<Stop> {
        if !self.running {
            return Err(GdbError::NotRunning {
                action: "interrupt",
            });
        }
        self.write_raw(&[0x03], "send the interrupt byte")?;
        self.wait_stop(timeout)?.ok_or(GdbError::Timeout {
            packet: "0x03 (interrupt)".into(),
            waited: timeout,
        })
    }

    /// Sets a write watchpoint (`Z2`) on `len` bytes at guest virtual `addr`.
    pub fn set_write_watchpoint(&mut self, addr: u64, len: u64) -> Result<()> {
        self.request_ok(&format!("Z2,{addr:x},{len:x}"))
    }

    /// Removes a watchpoint set by [`set_write_watchpoint`](Self::set_write_watchpoint).
    pub fn remove_write_watchpoint(&mut self, addr: u64, len: u64) -> Result<()> {
        self.request_ok(&format!("z2,{addr:x},{len:x}"))
    }

    /// Resumes every vCPU (`c`); returns once the stub has the packet.
    pub fn resume(&mut self) -> Result<()> {
        if self.running {
            return Err(GdbError::NotStopped { action: "resume" });
        }
        let deadline = Instant::now() + self.reply_timeout;
        self.send("c", deadline)?;
        self.running = true;
        Ok(())
    }

    /// A stop the stub already sent, without waiting: for a caller that
    /// looks on every event of a busy loop, where even 1 ms each would add
    /// up. `None` when the guest still runs.
    pub fn try_stop(&mut self) -> Result<Option<Stop>> {
        if !self.running {
            return Err(GdbError::NotRunning { action: "try_stop" });
        }
        self.stream
            .set_nonblocking(true)
            .map_err(|e| self.io("make the socket non-blocking", e))?;
        let mut buf = [0u8; 4096];
        let read = loop {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    break Err(GdbError::Closed {
                        path: self.path.clone(),
                    })
                }
                Ok(n) => self.decoder.feed(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => break Err(self.io("read", e)),
            }
        };
        self.stream
            .set_nonblocking(false)
            .map_err(|e| self.io("make the socket blocking", e))?;
        read?;
        // Only what is buffered now: a zero timeout reads nothing more.
        self.wait_stop(Duration::ZERO)
    }

    /// Waits up to `timeout` for the running guest to stop; `None` if it did
    /// not. Partial packets are kept between calls, so a poll loop with a
    /// short timeout (20 ms) is fine.
    pub fn wait_stop(&mut self, timeout: Duration) -> Result<Option<Stop>> {
        if !self.running {
            return Err(GdbError::NotRunning {
                action: "wait_stop",
            });
        }
        let deadline = Instant::now() + timeout;
        loop {
            let Some(packet) = self.recv(deadline)? else {
                return Ok(None);
            };
            if let Some(stop) = Stop::parse(&packet) {
                self.running = false;
                self.last_stop = Some(stop.clone());
                return Ok(Some(stop));
            }
            // `O` is console output from a gdbserver; QEMU sends none.
            if packet.first() != Some(&b'O') {
                return Err(bad_reply("c", &packet, "expected a stop reply"));
            }
        }
    }

    /// The vCPUs, as thread ids (`qfThreadInfo`/`qsThreadInfo`).
    pub fn threads(&mut self) -> Result<Vec<ThreadId>> {
        let mut threads = Vec::new();
        let mut packet = "qfThreadInfo";
        // Bounded: a stub that never says `l` is broken, not busy.
        for _ in 0..4096 {
            let reply = self.request(packet)?;
            match reply.split_first() {
                Some((b'l', _)) => return Ok(threads),
                Some((b'm', ids)) => {
                    for id in ids.split(|&b| b == b',') {
                        threads.push(
                            ThreadId::parse(id)
                                .ok_or_else(|| bad_reply(packet, &reply, "bad thread id"))?,
                        );
                    }
                }
                _ => return Err(bad_reply(packet, &reply, "expected `m<ids>` or `l`")),
            }
            packet = "qsThreadInfo";
        }
        Err(bad_reply(packet, b"", "thread list never ended"))
    }

    /// Registers of one vCPU (`Hg<thread>` then `g`).
    pub fn registers(&mut self, thread: ThreadId) -> Result<X86Regs> {
        self.request_ok(&format!("Hg{thread}"))?;
        let reply = self.request("g")?;
        let bytes = self.hex_reply("g", &reply)?;
        X86Regs::from_g_bytes(&bytes)
            .ok_or_else(|| bad_reply("g", &reply, "too short for x86-64 registers"))
    }

    /// `len` bytes of guest memory at virtual `addr`, as the current thread
    /// (last `Hg`) sees it. QEMU refuses (`E14`) unmapped addresses.
    pub fn read_memory(&mut self, addr: u64, len: usize) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let at = addr.wrapping_add(out.len() as u64);
            let want = (len - out.len()).min(MEMORY_CHUNK);
            let packet = format!("m{at:x},{want:x}");
            let reply = self.request(&packet)?;
            let bytes = self.hex_reply(&packet, &reply)?;
            if bytes.len() > want {
                return Err(bad_reply(&packet, &reply, "more bytes than asked for"));
            }
            out.extend_from_slice(&bytes);
        }
        Ok(out)
    }

    /// Detaches: QEMU drops the watchpoints and the guest runs on. A running
    /// guest is interrupted first (the stub reads only 0x03 then).
    pub fn detach(mut self) -> Result<()> {
        self.detach_inner()
    }

    fn detach_inner(&mut self) -> Result<()> {
        if self.detached {
            return Ok(());
        }
        self.detached = true;
        if self.running {
            self.interrupt(self.reply_timeout)?;
        }
        if self.multiprocess {
            let pid = self
                .last_stop
                .as_ref()
                .and_then(Stop::thread)
                .and_then(|t| t.pid);
            self.request_ok(&format!("D;{:x}", pid.unwrap_or(1)))
        } else {
            self.request_ok("D")
        }
    }

    /// `OK`, or the typed reason it was not.
    fn request_ok(&mut self, packet: &str) -> Result<()> {
        let reply = self.request(packet)?;
        match &reply[..] {
            b"OK" => Ok(()),
            _ => {
                Err(refusal(packet, &reply)
                    .unwrap_or_else(|| bad_reply(packet, &reply, "expected OK")))
            }
        }
    }

    /// Decodes a hex reply (`g`, `m`), turning `E..`/empty into errors.
    fn hex_reply(&self, packet: &str, reply: &[u8]) -> Result<Vec<u8>> {
        if let Some(e) = refusal(packet, reply) {
            return Err(e);
        }
        from_hex(reply).ok_or_else(|| bad_reply(packet, reply, "not hex"))
    }

    /// Sends a command to the stopped stub and returns its reply. A stop
    /// reply arriving instead (QEMU's attach notice) is recorded and skipped.
    fn request(&mut self, packet: &str) -> Result<Vec<u8>> {
        if self.running {
            return Err(GdbError::NotStopped {
                action: "a gdb command",
            });
        }
        let deadline = Instant::now() + self.reply_timeout;
        self.send(packet, deadline)?;
        loop {
            let reply = self.recv(deadline)?.ok_or_else(|| GdbError::Timeout {
                packet: packet.to_owned(),
                waited: self.reply_timeout,
            })?;
            if packet != "?" && Stop::looks_like(&reply) {
                self.last_stop = Stop::parse(&reply).or(self.last_stop.take());
                continue;
            }
            return Ok(reply);
        }
    }

    /// Writes one packet and, in ack mode, waits for its `+`, resending on
    /// `-`. Packets that arrive meanwhile are acked and queued.
    fn send(&mut self, packet: &str, deadline: Instant) -> Result<()> {
        let framed = encode(packet.as_bytes());
        self.write_raw(&framed, "send a packet")?;
        if !self.acks {
            return Ok(());
        }
        let mut naks = 0;
        loop {
            match self.next_frame(deadline)? {
                Some(Frame::Ack) => return Ok(()),
                Some(Frame::Nak) => {
                    naks += 1;
                    if naks > MAX_NAKS {
                        return Err(GdbError::Naks {
                            packet: packet.to_owned(),
                            naks,
                        });
                    }
                    self.write_raw(&framed, "resend a packet")?;
                }
                Some(Frame::Packet(p)) => {
                    self.write_raw(b"+", "ack a packet")?;
                    self.inbox.push_back(p);
                }
                Some(Frame::Corrupt { .. }) => self.write_raw(b"-", "NAK a packet")?,
                None => {
                    return Err(GdbError::Timeout {
                        packet: format!("{packet} (waiting for its ack)"),
                        waited: self.reply_timeout,
                    })
                }
            }
        }
    }

    /// The next good packet before `deadline`, acked; corrupt ones are
    /// NAKed so the stub resends them.
    fn recv(&mut self, deadline: Instant) -> Result<Option<Vec<u8>>> {
        if let Some(p) = self.inbox.pop_front() {
            return Ok(Some(p));
        }
        loop {
            match self.next_frame(deadline)? {
                None => return Ok(None),
                Some(Frame::Packet(p)) => {
                    if self.acks {
                        self.write_raw(b"+", "ack a packet")?;
                    }
                    return Ok(Some(p));
                }
                Some(Frame::Corrupt { .. }) if self.acks => self.write_raw(b"-", "NAK a packet")?,
                // Stray acks, or corruption nobody will resend without acks.
                Some(_) => {}
            }
        }
    }

    fn next_frame(&mut self, deadline: Instant) -> Result<Option<Frame>> {
        loop {
            if let Some(frame) = self.decoder.next_frame() {
                return Ok(Some(frame));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            // A zero read timeout means "block forever": keep at least 1 ms.
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .map_err(|e| self.io("set a read timeout", e))?;
            let mut buf = [0u8; 4096];
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    return Err(GdbError::Closed {
                        path: self.path.clone(),
                    })
                }
                Ok(n) => self.decoder.feed(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io("read", e)),
            }
        }
    }

    fn write_raw(&mut self, bytes: &[u8], action: &'static str) -> Result<()> {
        self.stream.write_all(bytes).map_err(|e| self.io(action, e))
    }

    fn io(&self, action: &'static str, source: std::io::Error) -> GdbError {
        if matches!(
            source.kind(),
            ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
        ) {
            return GdbError::Closed {
                path: self.path.clone(),
            };
        }
        GdbError::Io {
            path: self.path.clone(),
            action,
            source,
        }
    }
}

impl Drop for GdbClient {
    fn drop(&mut self) {
        // Best effort: a dead stub or socket is nothing to report here.
        self.reply_timeout = self.reply_timeout.min(DROP_TIMEOUT);
        let _ = self.detach_inner();
    }
}

/// `E..` → Refused, empty → Unsupported, else `None`.
fn refusal(packet: &str, reply: &[u8]) -> Option<GdbError> {
    match reply {
        [] => Some(GdbError::Unsupported {
            packet: packet.to_owned(),
        }),
        [b'E', rest @ ..] if rest.len() == 2 && rest.iter().all(u8::is_ascii_hexdigit) => {
            Some(GdbError::Refused {
                packet: packet.to_owned(),
                reply: String::from_utf8_lossy(reply).into_owned(),
            })
        }
        _ => None,
    }
}

fn bad_reply(packet: &str, reply: &[u8], why: &'static str) -> GdbError {
    GdbError::BadReply {
        packet: packet.to_owned(),
        reply: String::from_utf8_lossy(reply).into_owned(),
        why,
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
