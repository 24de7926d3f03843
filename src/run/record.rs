//! The guest→host record stream: framed, versioned, length-limited and
//! checksummed, because the guest is untrusted (a crashing kernel can
//! scribble on the port, a buggy agent can flood it).
//!
//! Frame: `b"SXR"`, version byte, kind byte, payload length (u32 LE),
//! CRC-32 of kind + length + payload (u32 LE), then the payload: JSON of the
//! [`Record`]. A decoder resynchronises on the magic after garbage and counts
//! what it skipped.

use serde::{Deserialize, Serialize};

/// Frame magic and the protocol version it carries.
pub const MAGIC: [u8; 3] = *b"SXR";
pub const VERSION: u8 = 1;
/// Largest payload accepted: a scheduler log line is far shorter; anything
/// longer is garbage or an attack.
pub const MAX_PAYLOAD: usize = 64 * 1024;
const HEADER: usize = 3 + 1 + 1 + 4 + 4;

/// Which output stream of the scheduler a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Per-cgroup worker statistics, as ktstr's `--- stats ---` reports them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CgroupStats {
    pub name: String,
    pub workers: u32,
    /// Distinct CPUs the workers ran on.
    pub cpus: u32,
    /// Spread of per-worker runtime share, percent; `None` when nothing ran.
    pub spread_pct: Option<f64>,
    /// Longest time a worker went without running, ms.
    pub gap_ms: u64,
    pub migrations: u64,
    pub iterations: u64,
}

/// A kernel symbol's address, as `/proc/kallsyms` shows it to root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelSymbol {
    pub name: String,
    pub addr: u64,
}

/// What kind of probe produced a [`ProbeHit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeKind {
    /// A kprobe (single or multi) on a kernel function: `args` are the six
    /// argument registers.
    Kprobe,
    /// fentry on a BPF function with its own arguments (a subprogram):
    /// `args` are its arguments, as many as the kernel counts.
    Fentry,
    /// fentry on a struct_ops callback: `args` are the callback's context
    /// array (its arguments, then whatever follows them).
    FentryCtx,
    /// The `sched_ext_exit` tracepoint fired: `exit_kind` says why.
    Exit,
    /// The exit fallback, a kprobe on the kernel's exit path (no
    /// tracepoint): no exit kind, `args` are registers.
    ExitKprobe,
    /// The return of a kprobed kernel function: `args` and `task` are the
    /// entry's, `fields` are read again at return, `ret` is the return value.
    Kretprobe,
    /// fexit on a BPF subprogram: like [`ProbeKind::Fentry`], at return.
    Fexit,
    /// fexit on a struct_ops callback: like [`ProbeKind::FentryCtx`], at return.
    FexitCtx,
}

impl ProbeKind {
    /// The name in records and in `--- probe events ---`.
    pub fn name(self) -> &'static str {
        match self {
            ProbeKind::Kprobe => "kprobe",
            ProbeKind::Fentry => "fentry",
            ProbeKind::FentryCtx => "fentry_ctx",
            ProbeKind::Exit => "exit",
            ProbeKind::ExitKprobe => "exit_kprobe",
            ProbeKind::Kretprobe => "kretprobe",
            ProbeKind::Fexit => "fexit",
            ProbeKind::FexitCtx => "fexit_ctx",
        }
    }

    /// Every kind.
    pub const ALL: [ProbeKind; 8] = [
        ProbeKind::Kprobe,
        ProbeKind::Fentry,
        ProbeKind::FentryCtx,
        ProbeKind::Exit,
        ProbeKind::ExitKprobe,
        ProbeKind::Kretprobe,
        ProbeKind::Fexit,
        ProbeKind::FexitCtx,
    ];

    /// The kind for a [`name`](Self::name).
    pub fn from_name(name: &str) -> Option<ProbeKind> {
        ProbeKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// True for the exit trigger (tracepoint or fallback).
    pub fn is_exit(self) -> bool {
        matches!(self, ProbeKind::Exit | ProbeKind::ExitKprobe)
    }

    /// True for a function's return (kretprobe, fexit).
    pub fn is_return(self) -> bool {
        matches!(
            self,
            ProbeKind::Kretprobe | ProbeKind::Fexit | ProbeKind::FexitCtx
        )
    }
}

/// Whether one probe target attached in the guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeAttach {
    /// The target as asked (`scx_bpf_error_bstr`, `validate_cell`), or
    /// `sched_ext_exit` for the exit trigger.
    pub target: String,
    /// How it was (or would have been) attached: `kprobe.multi`, `kprobe`,
    /// `fentry`, `tp_btf`, ...; `none` when no way was found.
    pub probe: String,
    /// Why it did not attach; `None` when it did.
    pub error: Option<String>,
}

/// One probe hit, raw: decoding is the host's job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeHit {
    pub target: String,
    pub kind: ProbeKind,
    /// Guest CLOCK_BOOTTIME in ns (the console timestamps' clock).
    pub t_ns: u64,
    pub cpu: u32,
    /// The current task's kernel pid (thread id) and comm.
    pub pid: u32,
    pub comm: String,
    /// The current `task_struct *`.
    pub task: u64,
    /// The probed function's address, as BPF saw it (0 for the tracepoint).
    pub ip: u64,
    pub args: Vec<u64>,
    /// For [`ProbeKind::Exit`]: `enum scx_exit_kind`.
    #[serde(default)]
    pub exit_kind: Option<u32>,
    /// The struct fields of the target's [`ProbeLayout::fields`], in that
    /// order, read at this hit (entry, or return for a return kind).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<u64>,
    /// The return value, for a return kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ret: Option<u64>,
}

/// One parameter of a probed function, from BTF.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeParam {
    /// `p`, `enq_flags`; `arg<i>` when BTF has no name.
    pub name: String,
    /// The C type as BTF spells it: `struct task_struct *`, `u64`, `s32`.
    pub type_name: String,
    /// For a pointer to a struct: the struct's name (`task_struct`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointee: Option<String>,
}

/// One struct field a target's hits carry, read through a parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeField {
    /// Index of the parameter (a struct pointer) it is read through.
    pub param: u32,
    /// The struct it belongs to (`task_struct`).
    pub struct_name: String,
    /// ktstr's key (`pid`, `dsq_id`, `cpumask_0`, `scx_flags`); see
    /// [`crate::repro::fields::CURATED`].
    pub name: String,
    /// Bytes read (1, 2, 4 or 8).
    pub size: u32,
    /// Whether the C type is signed (sign-extend `size` bytes).
    pub signed: bool,
}

/// A source line of a BPF function: the JITed code at `offset` bytes from
/// the function's start came from `file:line`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JitLine {
    pub offset: u32,
    /// As the program's BTF line info has it (often an absolute path).
    pub file: String,
    pub line: u32,
    pub col: u32,
}

/// What the agent learned about one probe target: its signature, the fields
/// its hits carry and, for a BPF function, its source lines. Sent once, when
/// the target is attached and before its first hit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeLayout {
    pub target: String,
    pub params: Vec<ProbeParam>,
    pub fields: Vec<ProbeField>,
    /// A BPF function's program tag (the 16 hex digits of
    /// `bpf_prog_<tag>_<name>`): its JIT offsets are valid for that tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// A BPF function's JITed length in bytes (the `/0x94` of a backtrace
    /// frame): another load's offsets apply when the code is as long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jit_len: Option<u32>,
    /// A BPF function's line table, by increasing offset.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<JitLine>,
}

/// Hits of one target over the whole run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeCount {
    pub target: String,
    /// Every hit the agent read from the ring buffer.
    pub hits: u64,
    /// The hits it sent (the last ones before the exit and the first after).
    pub kept: u64,
}

/// The probes' totals, sent after the last [`Record::ProbeEvent`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeStats {
    pub counts: Vec<ProbeCount>,
    /// Hits lost because the ring buffer was full.
    pub lost: u64,
    /// Hits the kernel skipped: a probe fired while another of ours ran on
    /// that CPU (an interrupt's wakeup inside a kprobe), the programs'
    /// `recursion_misses`. Absent from older agents' records.
    #[serde(default)]
    pub missed: u64,
}

/// One message from the guest agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// First record: the agent is up (userspace reached).
    Hello { agent: String, uptime_ms: u64 },
    /// The agent moved to another stage (`loading scheduler`, `collecting`, ...).
    Stage { name: String, uptime_ms: u64 },
    /// A workload phase began.
    Phase {
        index: u32,
        total: u32,
        name: String,
        uptime_ms: u64,
    },
    /// Worker statistics at the end of a phase (or periodically).
    Stats {
        phase: u32,
        cgroups: Vec<CgroupStats>,
        uptime_ms: u64,
    },
    /// One line the scheduler printed.
    SchedLine { stream: Stream, line: String },
    /// One tracefs line (`sched_ext_dump:`, `sched_ext_exit:`).
    Trace { line: String },
    /// One kernel log line collected at the end.
    Kmsg { line: String },
    /// The scheduler process ended.
    SchedExit {
        code: Option<i32>,
        signal: Option<i32>,
        uptime_ms: u64,
    },
    /// `/sys/kernel/sched_ext/state` changed.
    ScxState { state: String, uptime_ms: u64 },
    /// Something the agent could not do, with the cause.
    Error { message: String },
    /// Addresses of the kernel symbols the host asked for
    /// ([`RunConfig::kallsyms`]); names not found are left out.
    ///
    /// [`RunConfig::kallsyms`]: super::scenario::RunConfig::kallsyms
    Symbols { symbols: Vec<KernelSymbol> },
    /// Last record: the agent is powering off.
    Done { passed: bool, uptime_ms: u64 },
    /// A probe target ([`RunConfig::probes`]) attached, or why not.
    ///
    /// [`RunConfig::probes`]: super::scenario::RunConfig::probes
    ProbeAttach(ProbeAttach),
    /// One probe hit.
    ProbeEvent(ProbeHit),
    /// Totals of the probes, after their last event.
    ProbeStats(ProbeStats),
    /// A probe target's signature, fields and source lines.
    ProbeLayout(ProbeLayout),
    /// The guest's own `/sys/kernel/sched_ext/root/events` (`SCX_EV_<NAME>
    /// <value>` lines) at the end of a scenario the scheduler survived: what
    /// the host monitor's counters are checked against.
    ScxEvents { text: String, uptime_ms: u64 },
    /// `nr_running` of every CPU, in CPU order, as the guest's debugfs
    /// `sched/debug` gave it during a phase: what the host monitor's
    /// runqueue reads are checked against.
    GuestRq {
        nr_running: Vec<u32>,
        uptime_ms: u64,
    },
    /// The CPU topology as the guest kernel reports it in sysfs, sent
    /// after `Hello`: what the asked topology is checked against.
    Topology(Box<crate::run::topology::Seen>),
}

impl Record {
    fn kind(&self) -> u8 {
        match self {
            Record::Hello { .. } => 1,
            Record::Stage { .. } => 2,
            Record::Phase { .. } => 3,
            Record::Stats { .. } => 4,
            Record::SchedLine { .. } => 5,
            Record::Trace { .. } => 6,
            Record::Kmsg { .. } => 7,
            Record::SchedExit { .. } => 8,
            Record::ScxState { .. } => 9,
            Record::Error { .. } => 10,
            Record::Done { .. } => 11,
            Record::Symbols { .. } => 12,
            Record::ProbeAttach(_) => 13,
            Record::ProbeEvent(_) => 14,
            Record::ProbeStats(_) => 15,
            Record::ProbeLayout(_) => 16,
            Record::ScxEvents { .. } => 17,
            Record::GuestRq { .. } => 18,
            Record::Topology(_) => 19,
        }
    }
}

/// Why a record could not be framed.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("record of {len} bytes exceeds the {MAX_PAYLOAD}-byte frame limit")]
    TooLong { len: usize },
}

fn checksum(kind: u8, len: u32, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&[kind]);
    h.update(&len.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// Frames one record. Long lines are the caller's to split or truncate.
pub fn encode(record: &Record) -> Result<Vec<u8>, EncodeError> {
    // Serialising these plain types cannot fail.
    let payload = serde_json::to_vec(record).unwrap_or_default();
    if payload.len() > MAX_PAYLOAD {
        return Err(EncodeError::TooLong { len: payload.len() });
    }
    let len = payload.len() as u32;
    let kind = record.kind();
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(kind);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&checksum(kind, len, &payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Counters of what the decoder threw away.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Bytes skipped while looking for a frame start.
    pub skipped_bytes: u64,
    /// Frames dropped: bad checksum, oversized, unknown version, bad payload.
    pub bad_frames: u64,
    pub records: u64,
}

/// Streaming decoder. Holds at most one frame's worth of bytes.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    pub stats: DecodeStats,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Feeds bytes; returns the records completed by them.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Record> {
        let mut out = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            // Never buffer more than one maximal frame.
            let room = HEADER + MAX_PAYLOAD - self.buf.len();
            let take = rest.len().min(room.max(1));
            self.buf.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            self.drain(&mut out);
        }
        out
    }

    fn drain(&mut self, out: &mut Vec<Record>) {
        let mut pos = 0;
        loop {
            let b = &self.buf[pos..];
            let Some(start) = memchr::memmem::find(b, &MAGIC) else {
                // Keep a possible partial magic at the end.
                let keep = (1..MAGIC.len())
                    .rev()
                    .find(|&k| b.len() >= k && b.ends_with(&MAGIC[..k]))
                    .unwrap_or(0);
                self.stats.skipped_bytes += (b.len() - keep) as u64;
                pos += b.len() - keep;
                break;
            };
            self.stats.skipped_bytes += start as u64;
            pos += start;
            let b = &self.buf[pos..];
            if b.len() < HEADER {
                break;
            }
            let version = b[3];
            let kind = b[4];
            let len = u32::from_le_bytes([b[5], b[6], b[7], b[8]]);
            let crc = u32::from_le_bytes([b[9], b[10], b[11], b[12]]);
            if version != VERSION || len as usize > MAX_PAYLOAD {
                self.stats.bad_frames += 1;
                pos += 1;
                continue;
            }
            if b.len() < HEADER + len as usize {
                break;
            }
            let payload = &b[HEADER..HEADER + len as usize];
            if checksum(kind, len, payload) != crc {
                // Perhaps a magic inside garbage: resync one byte later.
                self.stats.bad_frames += 1;
                pos += 1;
                continue;
            }
            match serde_json::from_slice::<Record>(payload) {
                Ok(r) if r.kind() == kind => {
                    self.stats.records += 1;
                    out.push(r);
                }
                _ => self.stats.bad_frames += 1,
            }
            pos += HEADER + len as usize;
        }
        self.buf.drain(..pos);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &str) -> Record {
        Record::SchedLine {
            stream: Stream::Stdout,
            line: s.to_string(),
        }
    }

    #[test]
    fn round_trip_in_pieces() {
        let recs = vec![
            Record::Hello {
                agent: "scxray-agent 0.1".into(),
                uptime_ms: 2600,
            },
            line("EXIT: scx_bpf_error (boom)"),
            Record::Stats {
                phase: 1,
                cgroups: vec![CgroupStats {
                    name: "cg0".into(),
                    workers: 2,
                    cpus: 2,
                    spread_pct: None,
                    gap_ms: 3,
                    migrations: 1,
                    iterations: 99,
                }],
                uptime_ms: 5000,
            },
            Record::ProbeAttach(ProbeAttach {
                target: "no_such_fn".into(),
                probe: "none".into(),
                error: Some("not a kernel function".into()),
            }),
            Record::ProbeEvent(ProbeHit {
                target: "scx_bpf_error_bstr".into(),
                kind: ProbeKind::Kprobe,
                t_ns: 5_123_456_789,
                cpu: 1,
                pid: 132,
                comm: "sh".into(),
                task: 0xffff_8880_0312_4000,
                ip: 0xffff_ffff_8123_4560,
                args: vec![1, 2, 3, 4, 5, u64::MAX],
                exit_kind: None,
                fields: Vec::new(),
                ret: None,
            }),
            Record::ProbeStats(ProbeStats {
                counts: vec![ProbeCount {
                    target: "scx_bpf_error_bstr".into(),
                    hits: 1,
                    kept: 1,
                }],
                lost: 0,
                missed: 3,
            }),
            Record::Done {
                passed: false,
                uptime_ms: 6000,
            },
        ];
        let bytes: Vec<u8> = recs.iter().flat_map(|r| encode(r).unwrap()).collect();
        for chunk in [1, 3, 7, 64, bytes.len()] {
            let mut d = Decoder::new();
            let got: Vec<Record> = bytes.chunks(chunk).flat_map(|c| d.push(c)).collect();
            assert_eq!(got, recs, "chunk {chunk}");
            assert_eq!(d.stats.skipped_bytes, 0);
        }
    }

    #[test]
    fn garbage_is_skipped_and_counted() {
        let mut bytes = b"\x00\xffSX garbage SXR".to_vec();
        bytes.extend(encode(&line("a")).unwrap());
        let mut bad = encode(&line("b")).unwrap();
        let n = bad.len();
        bad[n - 2] ^= 0x55; // corrupt the payload
        bytes.extend(bad);
        bytes.extend(encode(&line("c")).unwrap());
        let mut d = Decoder::new();
        let got = d.push(&bytes);
        assert_eq!(got, vec![line("a"), line("c")]);
        assert!(d.stats.skipped_bytes >= 15);
        assert!(d.stats.bad_frames >= 1);
    }

    #[test]
    fn oversized_length_does_not_stall_or_grow() {
        let mut bytes = MAGIC.to_vec();
        bytes.push(VERSION);
        bytes.push(5);
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        bytes.extend_from_slice(&[0; 4]);
        bytes.extend(encode(&line("after")).unwrap());
        let mut d = Decoder::new();
        assert_eq!(d.push(&bytes), vec![line("after")]);
        assert_eq!(d.stats.bad_frames, 1);
    }

    #[test]
    fn flood_of_garbage_keeps_buffer_bounded() {
        let mut d = Decoder::new();
        let junk = vec![b'S'; 1 << 20];
        for _ in 0..8 {
            assert!(d.push(&junk).is_empty());
            assert!(d.buf.len() <= HEADER + MAX_PAYLOAD);
        }
        assert_eq!(d.push(&encode(&line("ok")).unwrap()), vec![line("ok")]);
    }

    #[test]
    fn too_long_is_refused() {
        let r = line(&"x".repeat(MAX_PAYLOAD));
        assert!(matches!(encode(&r), Err(EncodeError::TooLong { .. })));
    }
}
