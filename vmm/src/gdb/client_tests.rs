//! GdbClient against a scripted fake stub on a socketpair: the edge cases
//! real QEMU does not produce on demand.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::*;
use crate::gdb::packet::{encode, Decoder, Frame};
use crate::gdb::{WatchHit, WatchKind};

const T: Duration = Duration::from_secs(2);

/// The stub's side: reads packets, acks them, answers as scripted.
struct Fake {
    s: UnixStream,
    d: Decoder,
    acks: bool,
}

impl Fake {
    fn frame(&mut self) -> Frame {
        loop {
            if let Some(f) = self.d.next_frame() {
                return f;
            }
            let mut buf = [0u8; 512];
            let n = self.s.read(&mut buf).expect("fake read");
            assert!(n > 0, "client closed");
            self.d.feed(&buf[..n]);
        }
    }

    /// The next packet from the client (acked), asserting its text.
    fn expect(&mut self, want: &str) {
        loop {
            match self.frame() {
                Frame::Packet(p) => {
                    assert_eq!(String::from_utf8_lossy(&p), want);
                    if self.acks {
                        self.s.write_all(b"+").unwrap();
                    }
                    return;
                }
                Frame::Ack => {}
                other => panic!("fake wanted `{want}`, got {other:?}"),
            }
        }
    }

    fn reply(&mut self, body: &str) {
        self.s.write_all(&encode(body.as_bytes())).unwrap();
        if self.acks {
            assert_eq!(self.frame(), Frame::Ack, "client did not ack `{body}`");
        }
    }

    /// The usual QEMU 7.2 handshake, under -S.
    fn handshake(&mut self) {
        self.expect("qSupported:multiprocess+;swbreak+;hwbreak+;vContSupported+");
        self.reply("PacketSize=1000;qXfer:features:read+;vContSupported+;multiprocess+");
        self.expect("?");
        self.reply("T05thread:p01.01;");
    }
}

fn fake(script: impl FnOnce(&mut Fake) + Send + 'static) -> (UnixStream, JoinHandle<()>) {
    let (client, server) = UnixStream::pair().unwrap();
    let handle = thread::spawn(move || {
        let mut f = Fake {
            s: server,
            d: Decoder::new(),
            acks: true,
        };
        script(&mut f);
    });
    (client, handle)
}

fn client(stream: UnixStream) -> GdbClient {
    GdbClient::handshake(stream, "fake.sock".into(), T).unwrap()
}

#[test]
fn skips_qemus_attach_stop_and_detaches_with_pid_on_drop() {
    let (s, h) = fake(|f| {
        // Without -S QEMU announces the pause before answering qSupported.
        f.s.write_all(&encode(b"T02thread:01;")).unwrap();
        f.expect("qSupported:multiprocess+;swbreak+;hwbreak+;vContSupported+");
        assert_eq!(f.frame(), Frame::Ack); // the client acks the T02
        f.reply("PacketSize=1000;multiprocess+");
        f.expect("?");
        f.reply("T02thread:p01.01;");
        f.expect("D;1");
        f.reply("OK");
    });
    let c = client(s);
    assert!(c.supports("multiprocess+"));
    assert!(!c.is_running());
    let stop = c.last_stop().unwrap();
    assert_eq!(
        stop.thread(),
        Some(ThreadId {
            pid: Some(1),
            tid: 1
        })
    );
    drop(c);
    h.join().unwrap();
}

#[test]
fn no_ack_mode_when_offered() {
    let (s, h) = fake(|f| {
        f.expect("qSupported:multiprocess+;swbreak+;hwbreak+;vContSupported+");
        f.reply("PacketSize=4000;QStartNoAckMode+");
        f.expect("QStartNoAckMode");
        f.reply("OK");
        f.acks = false;
        f.expect("?");
        f.reply("S05");
        f.expect("D");
        f.reply("OK");
        // No stray `+` may follow in no-ack mode.
        let mut rest = Vec::new();
        f.s.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"");
    });
    let c = client(s);
    c.detach().unwrap();
    h.join().unwrap();
}

#[test]
fn naks_corrupt_replies_and_resends_naked_packets() {
    let (s, h) = fake(|f| {
        f.handshake();
        // Our NAK: the client must resend `g`.
        assert!(matches!(f.frame(), Frame::Packet(p) if p == b"g"));
        f.s.write_all(b"-").unwrap();
        f.expect("g");
        // A corrupt reply first, then the good one after the client's `-`.
        f.s.write_all(b"$0011#00").unwrap();
        assert_eq!(f.frame(), Frame::Nak);
        // GPRs, rip 0xfff0, eflags 2, run-length encoded: `0*~` is '0'
        // and 126 - 29 = 97 more.
        let regs = format!("{}f0ff000000000000{}", "0".repeat(256), "02000000");
        let rle = regs.replacen(&"0".repeat(98), "0*~", 1);
        // Raw: encode() would escape the `*`.
        let sum = crate::gdb::packet::checksum(rle.as_bytes());
        f.s.write_all(format!("${rle}#{sum:02x}").as_bytes())
            .unwrap();
        assert_eq!(f.frame(), Frame::Ack);
        f.expect("D;1");
        f.reply("OK");
    });
    let mut c = client(s);
    // `g` alone (no Hg) through the private request path.
    let reply = c.request("g").unwrap();
    let regs = X86Regs::from_g_bytes(&from_hex(&reply).unwrap()).unwrap();
    assert_eq!(regs.rip, 0xfff0);
    assert_eq!(regs.rflags, 2);
    drop(c);
    h.join().unwrap();
}

#[test]
fn partial_stop_packet_survives_short_polls() {
    let (s, h) = fake(|f| {
        f.handshake();
        f.expect("Z2,ffffffff83007a00,8");
        f.reply("OK");
        f.expect("c");
        let whole = encode(b"T05thread:p01.02;watch:ffffffff83007a00;");
        f.s.write_all(&whole[..9]).unwrap();
        thread::sleep(Duration::from_millis(80));
        f.s.write_all(&whole[9..]).unwrap();
        assert_eq!(f.frame(), Frame::Ack);
        f.expect("D;1");
        f.reply("OK");
    });
    let mut c = client(s);
    c.set_write_watchpoint(0xffff_ffff_8300_7a00, 8).unwrap();
    c.resume().unwrap();
    assert!(matches!(
        c.registers(ThreadId { pid: None, tid: 1 }),
        Err(GdbError::NotStopped { .. })
    ));
    let start = Instant::now();
    let mut polls = 0;
    let stop = loop {
        polls += 1;
        if let Some(stop) = c.wait_stop(Duration::from_millis(20)).unwrap() {
            break stop;
        }
        assert!(start.elapsed() < T, "no stop");
    };
    assert!(polls > 1, "the split should have needed several polls");
    assert_eq!(
        stop.watch(),
        Some(WatchHit {
            kind: WatchKind::Write,
            addr: 0xffff_ffff_8300_7a00
        })
    );
    assert_eq!(
        stop.thread(),
        Some(ThreadId {
            pid: Some(1),
            tid: 2
        })
    );
    assert!(!c.is_running());
    c.detach().unwrap();
    h.join().unwrap();
}

#[test]
fn refused_and_unsupported_watchpoints_are_typed() {
    let (s, h) = fake(|f| {
        f.handshake();
        f.expect("Z2,400,2");
        f.reply("E22");
        f.expect("Z2,400,2");
        f.reply("");
        f.expect("z2,400,2");
        f.reply("bogus");
        f.expect("D;1");
        f.reply("OK");
    });
    let mut c = client(s);
    let e = c.set_write_watchpoint(0x400, 2).unwrap_err();
    assert!(
        matches!(&e, GdbError::Refused { packet, reply } if packet == "Z2,400,2" && reply == "E22"),
        "{e}"
    );
    let e = c.set_write_watchpoint(0x400, 2).unwrap_err();
    assert!(
        matches!(&e, GdbError::Unsupported { packet } if packet == "Z2,400,2"),
        "{e}"
    );
    let e = c.remove_write_watchpoint(0x400, 2).unwrap_err();
    assert!(
        matches!(&e, GdbError::BadReply { reply, .. } if reply == "bogus"),
        "{e}"
    );
    drop(c);
    h.join().unwrap();
}

#[test]
fn threads_both_forms_and_registers_memory() {
    let (s, h) = fake(|f| {
        f.handshake();
        f.expect("qfThreadInfo");
        f.reply("mp01.01");
        f.expect("qsThreadInfo");
        f.reply("m2,3");
        f.expect("qsThreadInfo");
        f.reply("l");
        f.expect("Hgp1.1");
        f.reply("OK");
        f.expect("g");
        let mut g = "00".repeat(128);
        g += "0010000000000000"; // rip 0x1000
        g += "46020000";
        f.reply(&g);
        f.expect("m400,4");
        f.reply("0102");
        f.expect("m402,2");
        f.reply("0304");
        f.expect("mfffffff0,10");
        f.reply("E14");
        f.expect("D;1");
        f.reply("OK");
    });
    let mut c = client(s);
    let threads = c.threads().unwrap();
    assert_eq!(threads.len(), 3);
    assert_eq!(threads[1], ThreadId { pid: None, tid: 2 });
    let regs = c.registers(threads[0]).unwrap();
    assert_eq!(
        (regs.rip, regs.rflags, regs.segments),
        (0x1000, 0x246, None)
    );
    // A short `m` reply continues from where it stopped.
    assert_eq!(c.read_memory(0x400, 4).unwrap(), [1, 2, 3, 4]);
    let e = c.read_memory(0xffff_fff0, 16).unwrap_err();
    assert!(
        matches!(&e, GdbError::Refused { reply, .. } if reply == "E14"),
        "{e}"
    );
    drop(c);
    h.join().unwrap();
}

#[test]
fn silent_stub_times_out_and_closed_stub_is_closed() {
    let (s, h) = fake(|f| {
        f.handshake();
        f.expect("g");
        // Never answer; wait for the client to give up, then hang up.
        thread::sleep(Duration::from_millis(300));
    });
    let mut c = client(s);
    c.set_reply_timeout(Duration::from_millis(100));
    let start = Instant::now();
    let e = c.request("g").unwrap_err();
    assert!(
        matches!(&e, GdbError::Timeout { packet, .. } if packet == "g"),
        "{e}"
    );
    assert!(start.elapsed() < Duration::from_secs(1));
    h.join().unwrap();
    let e = c.request("g").unwrap_err();
    assert!(matches!(e, GdbError::Closed { .. }), "{e}");
}

#[test]
fn interrupt_sends_0x03_and_returns_the_stop() {
    let (s, h) = fake(|f| {
        f.handshake();
        f.expect("c");
        let mut b = [0u8; 1];
        f.s.read_exact(&mut b).unwrap();
        assert_eq!(b[0], 0x03);
        f.reply("T02thread:p01.01;");
        f.expect("D;1");
        f.reply("OK");
    });
    let mut c = client(s);
    assert!(matches!(c.interrupt(T), Err(GdbError::NotRunning { .. })));
    c.resume().unwrap();
    let stop = c.interrupt(T).unwrap();
    assert!(matches!(
        stop,
        Stop::Signal {
            signal: 2,
            watch: None,
            ..
        }
    ));
    drop(c);
    h.join().unwrap();
}

#[test]
fn connect_waits_for_the_socket_then_reports_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gdb.sock");
    let e = GdbClient::connect(&path, Duration::from_millis(100)).unwrap_err();
    assert!(e.to_string().contains("gdb.sock"), "{e}");
    assert!(matches!(e, GdbError::Connect { waited, .. } if waited >= Duration::from_millis(100)));

    let listen_path = path.clone();
    let h = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        let l = std::os::unix::net::UnixListener::bind(&listen_path).unwrap();
        let (s, _) = l.accept().unwrap();
        let mut f = Fake {
            s,
            d: Decoder::new(),
            acks: true,
        };
        f.handshake();
        f.expect("D;1");
        f.reply("OK");
    });
    let c = GdbClient::connect(&path, T).unwrap();
    drop(c);
    h.join().unwrap();
}

#[test]
fn try_stop_never_waits_and_keeps_a_split_packet() {
    let (s, h) = fake(|f| {
        f.handshake();
        f.expect("c");
        let whole = encode(b"T05thread:p01.01;watch:ffffffff83007a00;");
        f.s.write_all(&whole[..9]).unwrap();
        thread::sleep(Duration::from_millis(80));
        f.s.write_all(&whole[9..]).unwrap();
        assert_eq!(f.frame(), Frame::Ack);
        f.expect("D;1");
        f.reply("OK");
    });
    let mut c = client(s);
    c.resume().unwrap();
    let start = Instant::now();
    let mut polls = 0u32;
    let stop = loop {
        let t = Instant::now();
        let got = c.try_stop().unwrap();
        assert!(t.elapsed() < Duration::from_millis(5), "try_stop waited");
        polls += 1;
        if let Some(stop) = got {
            break stop;
        }
        assert!(start.elapsed() < T, "no stop");
        thread::sleep(Duration::from_millis(2));
    };
    assert!(polls > 1, "the split should have needed several polls");
    assert_eq!(stop.watch().map(|w| w.addr), Some(0xffff_ffff_8300_7a00));
    assert!(!c.is_running());
    c.detach().unwrap();
    h.join().unwrap();
}
