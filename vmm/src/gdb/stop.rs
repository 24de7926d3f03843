//! Stop replies (`T`/`S`/`W`/`X`) and thread ids (`p01.02` or `02`).

use std::fmt;

use super::packet::parse_hex_u64;

/// A thread as the stub names it. In QEMU a thread is a vCPU (1-based);
/// `pid` is present when multiprocess ids were negotiated (`p1.2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ThreadId {
    pub pid: Option<u64>,
    pub tid: u64,
}

impl ThreadId {
    /// `p<pid>.<tid>` or `<tid>`, hex. `None` for the special `-1`/`0` ids
    /// and anything malformed.
    pub fn parse(text: &[u8]) -> Option<Self> {
        let (pid, tid) = match text.strip_prefix(b"p") {
            Some(rest) => {
                let dot = rest.iter().position(|&b| b == b'.')?;
                (Some(parse_hex_u64(&rest[..dot])?), &rest[dot + 1..])
            }
            None => (None, text),
        };
        let tid = parse_hex_u64(tid)?;
        (tid != 0 && pid != Some(0)).then_some(Self { pid, tid })
    }
}

impl fmt::Display for ThreadId {
    /// The form the stub accepts back in `Hg`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "p{pid:x}.{:x}", self.tid),
            None => write!(f, "{:x}", self.tid),
        }
    }
}

/// Which access a watchpoint stop reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchKind {
    /// `watch`: a write (`Z2`).
    Write,
    /// `rwatch`: a read (`Z3`).
    Read,
    /// `awatch`: any access (`Z4`).
    Access,
}

/// The watchpoint that caused a stop: the address as the stub reports it
/// (the address given to `Z2`, not necessarily the byte written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchHit {
    pub kind: WatchKind,
    pub addr: u64,
}

/// Why the target stopped. QEMU's stub is all-stop: every vCPU is stopped
/// when one of these arrives (except after `Exited`/`Killed`: no target).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// `T`/`S`: stopped with a signal (5 = SIGTRAP for a watchpoint or
    /// breakpoint, 2 = SIGINT for an interrupt).
    Signal {
        signal: u8,
        thread: Option<ThreadId>,
        watch: Option<WatchHit>,
    },
    /// `W`: the process exited with this status.
    Exited { status: u8, pid: Option<u64> },
    /// `X`: the process was terminated by this signal.
    Killed { signal: u8, pid: Option<u64> },
}

impl Stop {
    /// Whether a packet is a stop reply rather than a command's answer:
    /// a letter then two hex digits (`OK`, `E14`, hex data never match).
    pub fn looks_like(packet: &[u8]) -> bool {
        matches!(packet.first(), Some(b'T' | b'S' | b'W' | b'X'))
            && packet.len() >= 3
            && packet[1..3].iter().all(u8::is_ascii_hexdigit)
    }

    /// Parses a stop reply; `None` if it is not one. Unknown `T` fields
    /// (registers, `swbreak`, `core`) are ignored, as the protocol asks.
    pub fn parse(packet: &[u8]) -> Option<Self> {
        if !Self::looks_like(packet) {
            return None;
        }
        let code = u8::try_from(parse_hex_u64(&packet[1..3])?).ok()?;
        let rest = &packet[3..];
        match packet[0] {
            b'S' => rest.is_empty().then_some(Self::Signal {
                signal: code,
                thread: None,
                watch: None,
            }),
            b'T' => {
                let (mut thread, mut watch) = (None, None);
                for field in rest.split(|&b| b == b';').filter(|f| !f.is_empty()) {
                    let colon = field.iter().position(|&b| b == b':')?;
                    let (key, value) = (&field[..colon], &field[colon + 1..]);
                    let kind = match key {
                        b"thread" => {
                            thread = ThreadId::parse(value);
                            continue;
                        }
                        b"watch" => WatchKind::Write,
                        b"rwatch" => WatchKind::Read,
                        b"awatch" => WatchKind::Access,
                        _ => continue,
                    };
                    let addr = parse_hex_u64(value)?;
                    watch = Some(WatchHit { kind, addr });
                }
                Some(Self::Signal {
                    signal: code,
                    thread,
                    watch,
                })
            }
            kind => {
                let pid = match rest {
                    [] => None,
                    _ => Some(parse_hex_u64(rest.strip_prefix(b";process:")?)?),
                };
                Some(if kind == b'W' {
                    Self::Exited { status: code, pid }
                } else {
                    Self::Killed { signal: code, pid }
                })
            }
        }
    }

    /// The watchpoint hit, if this stop is one.
    pub fn watch(&self) -> Option<WatchHit> {
        match self {
            Self::Signal { watch, .. } => *watch,
            _ => None,
        }
    }

    /// The thread (vCPU) that stopped, if the stub said.
    pub fn thread(&self) -> Option<ThreadId> {
        match self {
            Self::Signal { thread, .. } => *thread,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_qemu_watchpoint_stop() {
        // Seen from QEMU 7.2 on this machine after `Z2,400,2` and `c`.
        let stop = Stop::parse(b"T05thread:p01.01;watch:0000000000000400;").unwrap();
        assert_eq!(
            stop,
            Stop::Signal {
                signal: 5,
                thread: Some(ThreadId {
                    pid: Some(1),
                    tid: 1
                }),
                watch: Some(WatchHit {
                    kind: WatchKind::Write,
                    addr: 0x400
                }),
            }
        );
    }

    #[test]
    fn parses_other_stops() {
        let int = Stop::parse(b"T02thread:01;").unwrap();
        assert_eq!(int.thread(), Some(ThreadId { pid: None, tid: 1 }));
        assert_eq!(int.watch(), None);
        assert_eq!(
            Stop::parse(b"T05awatch:ff;10:0000;hwbreak:;")
                .unwrap()
                .watch(),
            Some(WatchHit {
                kind: WatchKind::Access,
                addr: 0xff
            })
        );
        assert_eq!(
            Stop::parse(b"S05"),
            Some(Stop::Signal {
                signal: 5,
                thread: None,
                watch: None
            })
        );
        assert_eq!(
            Stop::parse(b"W00"),
            Some(Stop::Exited {
                status: 0,
                pid: None
            })
        );
        assert_eq!(
            Stop::parse(b"X09;process:1"),
            Some(Stop::Killed {
                signal: 9,
                pid: Some(1)
            })
        );
    }

    #[test]
    fn rejects_non_stops_and_garbage() {
        for p in [
            &b"OK"[..],
            b"E14",
            b"",
            b"T",
            b"T0",
            b"Tzz",
            b"T05watch:zz;",
            b"T05junk",
            b"S05x",
            b"W00;pid:1",
            b"0000",
        ] {
            assert_eq!(Stop::parse(p), None, "{}", String::from_utf8_lossy(p));
        }
    }

    #[test]
    fn thread_ids_both_forms() {
        let mp = ThreadId::parse(b"p01.02").unwrap();
        assert_eq!(
            mp,
            ThreadId {
                pid: Some(1),
                tid: 2
            }
        );
        assert_eq!(mp.to_string(), "p1.2");
        assert_eq!(ThreadId::parse(b"0a").unwrap().to_string(), "a");
        for bad in [&b"-1"[..], b"0", b"p1", b"p1.", b"p.1", b"p0.1", b"x"] {
            assert_eq!(ThreadId::parse(bad), None);
        }
    }
}
