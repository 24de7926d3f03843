//! Probes on the running guest (experimental `--probe`): a kprobe and a
//! kretprobe on each kernel function asked for (one kprobe.multi link each,
//! or one link per function where that fails), an fentry and an fexit on
//! each function of a loaded BPF program (found by name among the loaded
//! programs and their subprograms), and a `sched_ext_exit` trigger, all
//! from `src/bpf/probe.bpf.c`. Every probe reports attached or the error
//! that stopped it (a return probe that fails leaves its entry probe be);
//! hits come through one ring buffer. Each attached target also gets a
//! [`Record::ProbeLayout`] ([`super::layout`]): its parameters, the struct
//! fields its hits carry, and a BPF function's source lines.
//!
//! Nothing here depends on how the guest was started: [`ProbeSet::start`]
//! works before any scheduler runs, [`ProbeSet::attach_bpf`] once the
//! programs it names are loaded, and [`ProbeSet::finish`] hands back the
//! hits as records. To bound what crosses the serial port, only the last
//! hits of each target before the exit and the first ones after it are kept
//! ([`Limits`]); every hit is counted.

use std::collections::{HashMap, HashSet, VecDeque};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use libbpf_rs::btf::types::{Func, FuncProto, Typedef};
use libbpf_rs::btf::{Btf, ReferencesType};
use libbpf_rs::query::{ProgInfoIter, ProgInfoQueryOptions, ProgramInfo};
use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{
    KprobeMultiOpts, KprobeOpts, Link, MapCore, MapFlags, OpenProgramMut, Program, ProgramMut,
    ProgramType, RingBufferBuilder,
};
use scxray::repro::fields::MAX_FIELDS;
use scxray::run::record::{
    ProbeAttach, ProbeCount, ProbeHit, ProbeKind, ProbeLayout, ProbeStats, Record,
};
use scxray::run::scenario::{check_probe_target, ProbeScope};

use super::layout::{self, Resolved};
use crate::probe_skel::{OpenProbeProgs, ProbeProgs, ProbeSkel, ProbeSkelBuilder};

/// fentry (and fexit) programs in one object (`fentry_0`..`fentry_7`,
/// `fexit_0`..`fexit_7` in probe.bpf.c).
pub const NR_FENTRY: usize = 8;
/// Entries of the `field_specs` map (`PROBE_MAX_TARGETS`): target ids above
/// it get no fields.
const MAX_TARGETS: usize = 128;
/// Cookie bit of the exit fallback kprobe (`EXIT_FALLBACK` in probe.bpf.c).
const EXIT_FALLBACK: u64 = 0x8000_0000;
/// The exit trigger's name in records.
pub const EXIT_TARGET: &str = "sched_ext_exit";
/// The kernel's exit path, for the fallback when the tracepoint is missing.
const FALLBACK_EXIT_FUNCS: [&str; 4] = [
    "scx_exit_bstr",
    "scx_vexit",
    "scx_ops_exit_kind",
    "scx_ops_error_kind",
];
const FILTER_FUNCTIONS: &str = "/sys/kernel/tracing/available_filter_functions";

/// How many hits of each target are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The last ones before the exit trigger fired.
    pub before_exit: usize,
    /// The first ones after it (the kernel's disable path).
    pub after_exit: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            before_exit: 32,
            after_exit: 8,
        }
    }
}

// ---- the ring buffer's events (struct probe_event in probe.bpf.c) ----------

const NARGS: usize = layout::NARGS;
const EVENT_SIZE: usize = 256;

/// One `struct probe_event`, as the BPF side wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvent {
    pub t_ns: u64,
    pub ip: u64,
    pub task: u64,
    pub args: [u64; NARGS],
    pub target: u32,
    pub kind: u32,
    pub pid: u32,
    pub tgid: u32,
    pub cpu: u32,
    pub nr_args: u32,
    pub exit_kind: u32,
    pub nr_fields: u32,
    pub comm: [u8; 16],
    pub ret: u64,
    pub fields: [u64; MAX_FIELDS],
}

/// Reads one event; `None` when the record is shorter than the layout.
pub fn parse_event(b: &[u8]) -> Option<RawEvent> {
    if b.len() < EVENT_SIZE {
        return None;
    }
    let u64_at = |o: usize| u64::from_ne_bytes(b[o..o + 8].try_into().unwrap_or_default());
    let u32_at = |o: usize| u32::from_ne_bytes(b[o..o + 4].try_into().unwrap_or_default());
    let mut args = [0; NARGS];
    for (i, a) in args.iter_mut().enumerate() {
        *a = u64_at(24 + 8 * i);
    }
    let mut comm = [0; 16];
    comm.copy_from_slice(&b[104..120]);
    let mut fields = [0; MAX_FIELDS];
    for (i, f) in fields.iter_mut().enumerate() {
        *f = u64_at(128 + 8 * i);
    }
    Some(RawEvent {
        t_ns: u64_at(0),
        ip: u64_at(8),
        task: u64_at(16),
        args,
        target: u32_at(72),
        kind: u32_at(76),
        pid: u32_at(80),
        tgid: u32_at(84),
        cpu: u32_at(88),
        nr_args: u32_at(92),
        exit_kind: u32_at(96),
        nr_fields: u32_at(100),
        comm,
        ret: u64_at(120),
        fields,
    })
}

impl RawEvent {
    /// The record for this event of target `name`; `None` for a kind this
    /// agent does not know.
    pub fn to_hit(&self, name: &str) -> Option<ProbeHit> {
        let kind = match self.kind {
            1 => ProbeKind::Kprobe,
            2 => ProbeKind::Fentry,
            3 => ProbeKind::FentryCtx,
            4 => ProbeKind::Exit,
            5 => ProbeKind::ExitKprobe,
            6 => ProbeKind::Kretprobe,
            7 => ProbeKind::Fexit,
            8 => ProbeKind::FexitCtx,
            _ => return None,
        };
        let n = (self.nr_args as usize).min(NARGS);
        let nf = (self.nr_fields as usize).min(MAX_FIELDS);
        let end = self.comm.iter().position(|&c| c == 0).unwrap_or(16);
        Some(ProbeHit {
            target: name.to_string(),
            kind,
            t_ns: self.t_ns,
            cpu: self.cpu,
            pid: self.pid,
            comm: String::from_utf8_lossy(&self.comm[..end]).into_owned(),
            task: self.task,
            ip: self.ip,
            args: self.args[..n].to_vec(),
            exit_kind: (kind == ProbeKind::Exit).then_some(self.exit_kind),
            fields: self.fields[..nf].to_vec(),
            ret: kind.is_return().then_some(self.ret),
        })
    }
}

// ---- what is kept ----------------------------------------------------------

#[derive(Debug)]
struct Slot {
    name: String,
    hits: u64,
    before: VecDeque<ProbeHit>,
    after: Vec<ProbeHit>,
}

/// The hits kept per target: a rolling tail until the exit trigger fires,
/// then the first few after it.
#[derive(Debug)]
pub struct Collector {
    slots: Vec<Slot>,
    exited: bool,
    limits: Limits,
    /// Events with an unknown target id or kind.
    pub unknown: u64,
}

impl Collector {
    /// `names[id]` is the target of id `id`.
    pub fn new(names: Vec<String>, limits: Limits) -> Collector {
        Collector {
            slots: names
                .into_iter()
                .map(|name| Slot {
                    name,
                    hits: 0,
                    before: VecDeque::new(),
                    after: Vec::new(),
                })
                .collect(),
            exited: false,
            limits,
            unknown: 0,
        }
    }

    pub fn push(&mut self, raw: &RawEvent) {
        let Some(slot) = self.slots.get_mut(raw.target as usize) else {
            self.unknown += 1;
            return;
        };
        let Some(hit) = raw.to_hit(&slot.name) else {
            self.unknown += 1;
            return;
        };
        slot.hits += 1;
        if self.exited {
            if slot.after.len() < self.limits.after_exit {
                slot.after.push(hit);
            }
            return;
        }
        let exit = hit.kind.is_exit();
        slot.before.push_back(hit);
        if slot.before.len() > self.limits.before_exit.max(1) {
            slot.before.pop_front();
        }
        self.exited |= exit;
    }

    /// The kept hits in time order, and every target's counts.
    pub fn drain(&mut self) -> (Vec<ProbeHit>, Vec<ProbeCount>) {
        let mut hits = Vec::new();
        let mut counts = Vec::new();
        for s in &mut self.slots {
            let kept = s.before.len() + s.after.len();
            hits.extend(s.before.drain(..));
            hits.append(&mut s.after);
            counts.push(ProbeCount {
                target: s.name.clone(),
                hits: s.hits,
                kept: kept as u64,
            });
        }
        hits.sort_by_key(|h| h.t_ns);
        (hits, counts)
    }
}

/// Which of some names the kernel has as functions, and the list that said
/// so (for error messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelFunctions {
    pub found: HashSet<String>,
    pub source: &'static str,
}

impl KernelFunctions {
    /// Looks `names` up in `/proc/kallsyms` text the agent already read
    /// (text symbols: `t`/`T`), else in `available_filter_functions`;
    /// `None` when neither can be read.
    pub fn lookup(kallsyms: Option<&str>, names: &[&str]) -> Option<KernelFunctions> {
        if let Some(text) = kallsyms {
            return Some(KernelFunctions {
                found: in_kallsyms(text, names),
                source: "/proc/kallsyms",
            });
        }
        let text = std::fs::read_to_string(FILTER_FUNCTIONS).ok()?;
        Some(KernelFunctions {
            found: in_filter_functions(&text, names),
            source: "available_filter_functions",
        })
    }

    pub fn contains(&self, name: &str) -> bool {
        self.found.contains(name)
    }
}

/// The `names` that are text symbols in `/proc/kallsyms` text
/// (`addr type name[\t[module]]` per line). A search per name, not a parse
/// of the ~200k lines: this runs in the guest, often a debug build under TCG.
pub fn in_kallsyms(text: &str, names: &[&str]) -> HashSet<String> {
    find_whole(
        text,
        names,
        |b, at| at >= 3 && matches!(&b[at - 3..at], b" t " | b" T "),
        b"\t",
    )
}

/// The `names` in `available_filter_functions` text (`name` or
/// `name [module]` per line).
pub fn in_filter_functions(text: &str, names: &[&str]) -> HashSet<String> {
    find_whole(text, names, |b, at| at == 0 || b[at - 1] == b'\n', b" ")
}

/// The names found in `text` where `starts(text, at)` holds before them and
/// a newline, the end or one of `ends` follows.
fn find_whole(
    text: &str,
    names: &[&str],
    starts: impl Fn(&[u8], usize) -> bool,
    ends: &[u8],
) -> HashSet<String> {
    let b = text.as_bytes();
    names
        .iter()
        .filter(|n| !n.is_empty())
        .filter(|n| {
            memchr::memmem::find_iter(b, n.as_bytes()).any(|at| {
                let end = at + n.len();
                starts(b, at) && b.get(end).is_none_or(|c| *c == b'\n' || ends.contains(c))
            })
        })
        .map(|n| n.to_string())
        .collect()
}

// ---- attaching -------------------------------------------------------------

/// Why the probe object or one target could not be set up; the text goes to
/// the host in [`ProbeAttach::error`] or a [`Record::Error`].
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot open the probe object: {0}")]
    Open(#[source] libbpf_rs::Error),
    #[error("the probe object has no .rodata")]
    NoRodata,
    #[error("cannot load the probe object: {0:#}")]
    Load(#[source] libbpf_rs::Error),
    #[error("cannot read the probe ring buffer: {0}")]
    Ring(String),
    #[error("cannot attach `{target}` ({probe}): {source:#}{hint}")]
    Attach {
        target: String,
        probe: &'static str,
        /// Why the name may be wrong, when the kernel's lists say so.
        hint: String,
        #[source]
        source: libbpf_rs::Error,
    },
    #[error("`{target}`: neither a kernel function (not in {list}) nor a function of a loaded BPF program")]
    NowhereToBeFound {
        target: String,
        /// The list of kernel functions it was not in.
        list: &'static str,
    },
    #[error("`{target}`: no loaded BPF program has a function of that name")]
    NoBpfFunction { target: String },
    #[error("`{target}`: BPF program id {id} is gone: {source}")]
    ProgramGone {
        target: String,
        id: u32,
        #[source]
        source: libbpf_rs::Error,
    },
    #[error("`{target}`: cannot target it in BPF program id {id}: {source:#}")]
    Target {
        target: String,
        id: u32,
        #[source]
        source: libbpf_rs::Error,
    },
    #[error("cannot share the ring buffer and maps with a copy of the probe object: {0}")]
    ShareRing(#[source] libbpf_rs::Error),
    #[error("cannot load an {probe} program for {targets:?}: {source:#}")]
    TraceLoad {
        probe: &'static str,
        targets: Vec<String>,
        #[source]
        source: libbpf_rs::Error,
    },
    #[error("`{target}`: target id {id} has no field spec slot (there are {MAX_TARGETS})")]
    NoSpecSlot { target: String, id: usize },
    #[error("`{target}`: cannot write its field specs (target id {id}): {source:#}")]
    FieldSpecs {
        target: String,
        id: usize,
        #[source]
        source: libbpf_rs::Error,
    },
    #[error(
        "no sched_ext_exit tracepoint in this kernel and no kprobe on its exit path ({tried})"
    )]
    NoExitTrigger { tried: String },
}

/// Where a target goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Kernel,
    /// Looked for among the loaded BPF programs; `kernel_miss` names the
    /// list of kernel functions it was not found in, for the error.
    Bpf {
        kernel_miss: Option<&'static str>,
    },
    Invalid,
}

/// A BPF function found among the loaded programs.
#[derive(Debug, Clone)]
struct BpfFunc {
    prog_id: u32,
    /// The function is the program itself (a struct_ops callback), not a
    /// subprogram: its one argument is its context array.
    main: bool,
    /// Its layout, tag and source lines.
    resolved: Resolved,
}

/// Which end of a call a trace program sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// fentry, kprobe.
    Entry,
    /// fexit, kretprobe.
    Return,
}

type Skel = ProbeSkel<'static>;

/// Probes attached to this guest, and the thread reading their events.
pub struct ProbeSet {
    names: Vec<String>,
    classes: Vec<Class>,
    /// The running kernel's BTF, for the layouts: kept for the BPF
    /// targets, dropped once they are attached (megabytes of guest memory).
    vmlinux: Option<Btf<'static>>,
    first: &'static Skel,
    others: Vec<&'static Skel>,
    links: Vec<Link>,
    collector: Arc<Mutex<Collector>>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
}

fn attach_record(target: &str, probe: &str, error: Option<String>) -> Record {
    Record::ProbeAttach(ProbeAttach {
        target: target.to_string(),
        probe: probe.to_string(),
        error,
    })
}

/// Opens a fresh copy of the probe object. Leaked: a probe set lives until
/// the guest powers off, and libbpf-rs ties the skeleton to its storage.
fn open() -> Result<crate::probe_skel::OpenProbeSkel<'static>, ProbeError> {
    let storage = Box::leak(Box::new(MaybeUninit::uninit()));
    let mut open = ProbeSkelBuilder::default()
        .open(storage)
        .map_err(ProbeError::Open)?;
    for slot in 0..NR_FENTRY {
        trace_open(&mut open.progs, slot, End::Entry).set_autoload(false);
        trace_open(&mut open.progs, slot, End::Return).set_autoload(false);
    }
    open.progs.on_exit1.set_autoload(false);
    open.progs.on_exit2.set_autoload(false);
    open.progs.probe_kprobe.set_autoload(false);
    open.progs.probe_kmulti.set_autoload(false);
    open.progs.probe_kretprobe.set_autoload(false);
    open.progs.probe_kretmulti.set_autoload(false);
    Ok(open)
}

/// `fentry_<slot>` or `fexit_<slot>`.
fn trace_open<'a, 'obj>(
    progs: &'a mut OpenProbeProgs<'obj>,
    slot: usize,
    end: End,
) -> &'a mut OpenProgramMut<'obj> {
    match (end, slot) {
        (End::Entry, 0) => &mut progs.fentry_0,
        (End::Entry, 1) => &mut progs.fentry_1,
        (End::Entry, 2) => &mut progs.fentry_2,
        (End::Entry, 3) => &mut progs.fentry_3,
        (End::Entry, 4) => &mut progs.fentry_4,
        (End::Entry, 5) => &mut progs.fentry_5,
        (End::Entry, 6) => &mut progs.fentry_6,
        (End::Entry, _) => &mut progs.fentry_7,
        (End::Return, 0) => &mut progs.fexit_0,
        (End::Return, 1) => &mut progs.fexit_1,
        (End::Return, 2) => &mut progs.fexit_2,
        (End::Return, 3) => &mut progs.fexit_3,
        (End::Return, 4) => &mut progs.fexit_4,
        (End::Return, 5) => &mut progs.fexit_5,
        (End::Return, 6) => &mut progs.fexit_6,
        (End::Return, _) => &mut progs.fexit_7,
    }
}

fn trace_loaded<'a, 'obj>(
    progs: &'a ProbeProgs<'obj>,
    slot: usize,
    end: End,
) -> &'a ProgramMut<'obj> {
    match (end, slot) {
        (End::Entry, 0) => &progs.fentry_0,
        (End::Entry, 1) => &progs.fentry_1,
        (End::Entry, 2) => &progs.fentry_2,
        (End::Entry, 3) => &progs.fentry_3,
        (End::Entry, 4) => &progs.fentry_4,
        (End::Entry, 5) => &progs.fentry_5,
        (End::Entry, 6) => &progs.fentry_6,
        (End::Entry, _) => &progs.fentry_7,
        (End::Return, 0) => &progs.fexit_0,
        (End::Return, 1) => &progs.fexit_1,
        (End::Return, 2) => &progs.fexit_2,
        (End::Return, 3) => &progs.fexit_3,
        (End::Return, 4) => &progs.fexit_4,
        (End::Return, 5) => &progs.fexit_5,
        (End::Return, 6) => &progs.fexit_6,
        (End::Return, _) => &progs.fexit_7,
    }
}

/// The number of arguments of the `sched_ext_exit` tracepoint in the
/// running kernel's BTF (2 upstream: `sch, kind`; 1 in older kernels:
/// `kind`); `None` when the kernel has no such tracepoint.
fn exit_tracepoint_args(btf: &Btf<'_>) -> Option<usize> {
    let typedef: Typedef<'_> = btf.type_by_name("btf_trace_sched_ext_exit")?;
    let proto = FuncProto::try_from(typedef.referenced_type().next_type()?).ok()?;
    // The first parameter is the tracepoint's `void *__data`.
    Some(proto.len().saturating_sub(1))
}

/// Finds `names` among the functions (programs and subprograms) of the
/// loaded BPF programs that fentry can trace, with their layouts.
fn find_bpf_funcs(names: &[&str], vmlinux: Option<&Btf<'_>>) -> HashMap<String, BpfFunc> {
    let mut found = HashMap::new();
    let opts = ProgInfoQueryOptions::default()
        .include_func_info(true)
        .include_line_info(true)
        .include_jited_line_info(true)
        .include_jited_ksyms(true)
        .include_jited_func_lens(true)
        .include_prog_tags(true);
    for info in ProgInfoIter::with_query_opts(opts) {
        if found.len() == names.len() {
            break;
        }
        if matches!(info.ty, ProgramType::Tracing | ProgramType::Ext) || info.btf_id == 0 {
            continue;
        }
        let Ok(btf) = Btf::from_prog_id(info.id) else {
            continue;
        };
        for name in names {
            if found.contains_key(*name) {
                continue;
            }
            let Some(func) = btf.type_by_name::<Func<'_>>(name) else {
                continue;
            };
            let id: u32 = func.type_id().into();
            if let Some(pos) = info.func_info.iter().position(|f| f.type_id == id) {
                found.insert(
                    (*name).to_string(),
                    BpfFunc {
                        prog_id: info.id,
                        main: pos == 0,
                        resolved: bpf_resolved(vmlinux, &btf, &info, name, pos),
                    },
                );
            }
        }
    }
    found
}

/// The layout of function `pos` (`name`) of a loaded program, with its
/// tag and source lines; without fields when it cannot be made.
fn bpf_resolved(
    vmlinux: Option<&Btf<'_>>,
    prog: &Btf<'_>,
    info: &ProgramInfo,
    name: &str,
    pos: usize,
) -> Resolved {
    let made = vmlinux.map(|vm| {
        if pos == 0 {
            layout::struct_ops_callback(vm, name)
        } else {
            layout::bpf_subprogram(vm, prog, name)
        }
    });
    let mut r = match made {
        Some(Ok(r)) => r,
        Some(Err(e)) => {
            super::say(&format!("probes: no layout: {e}"));
            Resolved::bare(name)
        }
        None => Resolved::bare(name),
    };
    // The tag of its `bpf_prog_<tag>_<name>` symbol: the program's for the
    // main function, its own (computed over its instructions) for a
    // subprogram.
    let tag = match pos {
        0 => &info.tag,
        _ => info.prog_tags.get(pos).unwrap_or(&info.tag),
    };
    r.layout.tag = Some(layout::tag_hex(&tag.0));
    r.layout.jit_len = info.jited_func_lens.get(pos).copied();
    let starts: Vec<u32> = info.func_info.iter().map(|f| f.insn_off).collect();
    let jited: Vec<u64> = info.jited_line_info.iter().map(|p| *p as u64).collect();
    let ksyms: Vec<u64> = info.jited_ksyms.iter().map(|p| *p as u64).collect();
    r.layout.lines = layout::jit_lines(&starts, pos, &info.line_info, &jited, &ksyms, |off| {
        layout::btf_string(prog, off).unwrap_or_default()
    });
    r
}

impl ProbeSet {
    /// Attaches the kernel targets and the exit trigger; BPF targets wait
    /// for [`attach_bpf`](Self::attach_bpf). Returns the set (`None` when
    /// nothing could be loaded) and a [`Record::ProbeAttach`] per target
    /// decided so far (an [`Record::Error`] when the object did not load).
    /// `kallsyms`: `/proc/kallsyms` text if the agent has read it already
    /// (else the smaller `available_filter_functions` is read).
    pub fn start(
        targets: &[String],
        limits: Limits,
        kallsyms: Option<&str>,
    ) -> (Option<ProbeSet>, Vec<Record>) {
        let mut out = Vec::new();
        let mut clock = Clock::start();
        let mut lookup: Vec<&str> = targets
            .iter()
            .filter_map(|t| check_probe_target(t).ok())
            .filter(|(scope, _)| *scope != ProbeScope::Bpf)
            .map(|(_, n)| n)
            .collect();
        lookup.extend(FALLBACK_EXIT_FUNCS);
        let filter = KernelFunctions::lookup(kallsyms, &lookup);
        let mut names = Vec::new();
        let mut classes = Vec::new();
        for t in targets {
            let (class, name) = match check_probe_target(t) {
                Err(e) => {
                    out.push(attach_record(t, "none", Some(e.to_string())));
                    (Class::Invalid, t.as_str())
                }
                Ok((ProbeScope::Kernel, n)) => (Class::Kernel, n),
                Ok((ProbeScope::Bpf, n)) => (Class::Bpf { kernel_miss: None }, n),
                Ok((ProbeScope::Any, n)) => match &filter {
                    Some(f) if !f.contains(n) => (
                        Class::Bpf {
                            kernel_miss: Some(f.source),
                        },
                        n,
                    ),
                    _ => (Class::Kernel, n),
                },
            };
            names.push(name.to_string());
            classes.push(class);
        }
        let exit_id = names.len() as u32;
        names.push(EXIT_TARGET.to_string());

        clock.lap("kernel function lookup");
        let vmlinux = match Btf::from_vmlinux() {
            Ok(b) => Some(b),
            Err(e) => {
                super::say(&format!(
                    "probes: cannot read the kernel's BTF ({e:#}): no fields, no exit tracepoint"
                ));
                None
            }
        };
        let tp_args = vmlinux.as_ref().and_then(exit_tracepoint_args);
        clock.lap("kernel BTF");
        let loaded = (|| {
            let mut open = open()?;
            open.progs.probe_kprobe.set_autoload(true);
            open.progs.probe_kmulti.set_autoload(true);
            open.progs.probe_kretprobe.set_autoload(true);
            open.progs.probe_kretmulti.set_autoload(true);
            match tp_args {
                Some(1) => open.progs.on_exit1.set_autoload(true),
                Some(_) => open.progs.on_exit2.set_autoload(true),
                None => {}
            }
            let rodata = open
                .maps
                .rodata_data
                .as_deref_mut()
                .ok_or(ProbeError::NoRodata)?;
            rodata.exit_target = exit_id;
            open.load().map_err(ProbeError::Load)
        })();
        clock.lap("load");
        let skel: &'static Skel = match loaded {
            Ok(s) => Box::leak(Box::new(s)),
            Err(e) => {
                let message = e.to_string();
                out.push(Record::Error {
                    message: format!("probes: {message}"),
                });
                for (name, class) in names.iter().zip(&classes) {
                    if *class != Class::Invalid {
                        out.push(attach_record(name, "none", Some(message.clone())));
                    }
                }
                return (None, out);
            }
        };

        let collector = Arc::new(Mutex::new(Collector::new(names.clone(), limits)));
        let stop = Arc::new(AtomicBool::new(false));
        let reader = spawn_reader(skel, collector.clone(), stop.clone());
        if let Err(e) = &reader {
            out.push(Record::Error {
                message: format!("probes: {e}"),
            });
        }
        let mut set = ProbeSet {
            names,
            classes,
            vmlinux,
            first: skel,
            others: Vec::new(),
            links: Vec::new(),
            collector,
            stop,
            reader: reader.ok(),
        };
        set.attach_exit(tp_args, exit_id, filter.as_ref(), &mut out);
        clock.lap("exit trigger");
        set.attach_kernel(filter.as_ref(), &mut out, &mut clock);
        if !set.classes.iter().any(|c| matches!(c, Class::Bpf { .. })) {
            set.vmlinux = None;
        }
        super::say(&format!("probes: kernel side ready ({})", clock.laps()));
        (Some(set), out)
    }

    fn attach_exit(
        &mut self,
        tp_args: Option<usize>,
        exit_id: u32,
        filter: Option<&KernelFunctions>,
        out: &mut Vec<Record>,
    ) {
        if let Some(n) = tp_args {
            let (prog, probe) = if n == 1 {
                (&self.first.progs.on_exit1, "tp_btf_1arg")
            } else {
                (&self.first.progs.on_exit2, "tp_btf")
            };
            match prog.attach_trace() {
                Ok(l) => {
                    self.links.push(l);
                    out.push(attach_record(EXIT_TARGET, probe, None));
                }
                Err(source) => {
                    let e = ProbeError::Attach {
                        target: EXIT_TARGET.into(),
                        probe,
                        hint: String::new(),
                        source,
                    };
                    out.push(attach_record(EXIT_TARGET, probe, Some(e.to_string())));
                }
            }
            return;
        }
        // No tracepoint: a kprobe on the kernel's exit path.
        let mut errors = Vec::new();
        for sym in FALLBACK_EXIT_FUNCS {
            if filter.is_some_and(|f| !f.contains(sym)) {
                continue;
            }
            let opts = KprobeOpts {
                cookie: EXIT_FALLBACK | u64::from(exit_id),
                ..Default::default()
            };
            match self
                .first
                .progs
                .probe_kprobe
                .attach_kprobe_with_opts(false, sym, opts)
            {
                Ok(l) => {
                    self.links.push(l);
                    super::say(&format!(
                        "probes: no sched_ext_exit tracepoint in this kernel; exit trigger is a kprobe on {sym}"
                    ));
                    out.push(attach_record(EXIT_TARGET, &format!("kprobe:{sym}"), None));
                    return;
                }
                Err(e) => errors.push(format!("{sym}: {e:#}")),
            }
        }
        let e = ProbeError::NoExitTrigger {
            tried: if errors.is_empty() {
                format!("none of {FALLBACK_EXIT_FUNCS:?} is traceable")
            } else {
                errors.join("; ")
            },
        };
        out.push(attach_record(EXIT_TARGET, "none", Some(e.to_string())));
    }

    /// The layout of kernel target `i`; without fields when it cannot be
    /// made.
    fn kernel_resolved(&self, i: usize) -> Resolved {
        let name = &self.names[i];
        match self
            .vmlinux
            .as_ref()
            .map(|b| layout::kernel_function(b, name))
        {
            Some(Ok(r)) => r,
            Some(Err(e)) => {
                super::say(&format!("probes: no layout: {e}"));
                Resolved::bare(name)
            }
            None => Resolved::bare(name),
        }
    }

    /// Writes target `id`'s field specs for the BPF side (before it is
    /// attached) and returns its layout; the fields are dropped from the
    /// layout when the specs could not be written (the hits carry none).
    fn install(&self, id: usize, mut r: Resolved) -> ProbeLayout {
        if !r.skipped.is_empty() {
            let why: Vec<String> = r.skipped.iter().map(ToString::to_string).collect();
            super::say(&format!(
                "probes: {}: fields not read in this kernel: {}",
                r.layout.target,
                why.join("; ")
            ));
        }
        if r.specs.is_empty() {
            return r.layout;
        }
        let target = r.layout.target.clone();
        let written = if id < MAX_TARGETS {
            self.first
                .maps
                .field_specs
                .update(&(id as u32).to_ne_bytes(), &r.spec_bytes(), MapFlags::ANY)
                .map_err(|source| ProbeError::FieldSpecs { target, id, source })
        } else {
            Err(ProbeError::NoSpecSlot { target, id })
        };
        if let Err(e) = written {
            super::say(&format!("probes: {e}"));
            r.layout.fields.clear();
        }
        r.layout
    }

    fn attach_kernel(
        &mut self,
        filter: Option<&KernelFunctions>,
        out: &mut Vec<Record>,
        clock: &mut Clock,
    ) {
        let kernel: Vec<usize> = (0..self.classes.len())
            .filter(|&i| self.classes[i] == Class::Kernel)
            .collect();
        let mut layouts: HashMap<usize, ProbeLayout> = kernel
            .iter()
            .map(|&i| (i, self.install(i, self.kernel_resolved(i))))
            .collect();
        clock.lap("kernel layouts");
        // kprobe.multi for the functions ftrace knows; one link for all.
        let multi: Vec<usize> = kernel
            .iter()
            .copied()
            .filter(|&i| filter.is_some_and(|f| f.contains(&self.names[i])))
            .collect();
        let mut single: Vec<usize> = kernel
            .iter()
            .copied()
            .filter(|i| !multi.contains(i))
            .collect();
        // The targets whose entry is probed, and whether by kprobe.multi.
        let mut entered: Vec<(usize, bool)> = Vec::new();
        if !multi.is_empty() {
            match self.attach_multi(&multi, End::Entry) {
                Ok(l) => {
                    self.links.push(l);
                    for &i in &multi {
                        out.push(attach_record(&self.names[i], "kprobe.multi", None));
                        entered.push((i, true));
                    }
                }
                Err(e) => {
                    super::say(&format!(
                        "probes: kprobe.multi failed ({e:#}); one kprobe per function instead"
                    ));
                    single.extend(multi);
                }
            }
        }
        single.sort_unstable();
        for i in single {
            let hint = match filter {
                Some(f) if !f.contains(&self.names[i]) => format!(" (not in {})", f.source),
                _ => String::new(),
            };
            if self.attach_single(i, End::Entry, hint, out) {
                entered.push((i, false));
            }
        }
        clock.lap("kprobes");
        self.attach_kernel_returns(&entered, out);
        clock.lap("kretprobes");
        entered.sort_unstable();
        for (i, _) in entered {
            if let Some(l) = layouts.remove(&i) {
                out.push(Record::ProbeLayout(l));
            }
        }
    }

    /// One kprobe.multi (or kretprobe.multi) link on `ids`, cookie = id.
    fn attach_multi(&self, ids: &[usize], end: End) -> Result<Link, libbpf_rs::Error> {
        let opts = KprobeMultiOpts {
            symbols: ids.iter().map(|&i| self.names[i].clone()).collect(),
            cookies: ids.iter().map(|&i| i as u64).collect(),
            retprobe: end == End::Return,
            ..Default::default()
        };
        let progs = &self.first.progs;
        match end {
            End::Entry => progs.probe_kmulti.attach_kprobe_multi_with_opts(opts),
            End::Return => progs.probe_kretmulti.attach_kprobe_multi_with_opts(opts),
        }
    }

    /// One kprobe (or kretprobe) link on target `i`; its record either way.
    fn attach_single(&mut self, i: usize, end: End, hint: String, out: &mut Vec<Record>) -> bool {
        let name = &self.names[i];
        let opts = KprobeOpts {
            cookie: i as u64,
            ..Default::default()
        };
        let progs = &self.first.progs;
        let (attached, probe) = match end {
            End::Entry => (
                progs
                    .probe_kprobe
                    .attach_kprobe_with_opts(false, name, opts),
                "kprobe",
            ),
            End::Return => (
                progs
                    .probe_kretprobe
                    .attach_kprobe_with_opts(true, name, opts),
                "kretprobe",
            ),
        };
        match attached {
            Ok(l) => {
                self.links.push(l);
                out.push(attach_record(name, probe, None));
                true
            }
            Err(source) => {
                let e = ProbeError::Attach {
                    target: name.clone(),
                    probe,
                    hint,
                    source,
                };
                out.push(attach_record(name, probe, Some(e.to_string())));
                false
            }
        }
    }

    /// Return probes on the kernel targets whose entry is probed:
    /// kretprobe.multi where the entry is kprobe.multi, else (or when that
    /// fails) one kretprobe each. The entry probes stay either way.
    fn attach_kernel_returns(&mut self, entered: &[(usize, bool)], out: &mut Vec<Record>) {
        let multi: Vec<usize> = entered.iter().filter(|e| e.1).map(|e| e.0).collect();
        let mut single: Vec<usize> = entered.iter().filter(|e| !e.1).map(|e| e.0).collect();
        if !multi.is_empty() {
            match self.attach_multi(&multi, End::Return) {
                Ok(l) => {
                    self.links.push(l);
                    for &i in &multi {
                        out.push(attach_record(&self.names[i], "kretprobe.multi", None));
                    }
                }
                Err(e) => {
                    super::say(&format!(
                        "probes: kretprobe.multi failed ({e:#}); one kretprobe per function instead"
                    ));
                    single.extend(multi);
                }
            }
        }
        single.sort_unstable();
        for i in single {
            self.attach_single(i, End::Return, String::new(), out);
        }
    }

    /// Attaches the BPF targets: each must be a function (a program or a
    /// subprogram) of a BPF program loaded now. One
    /// [`Record::ProbeAttach`] per BPF target and end (fentry, then fexit),
    /// and a [`Record::ProbeLayout`] per attached target. Once: a second
    /// call attaches again, without fields.
    pub fn attach_bpf(&mut self) -> Vec<Record> {
        let vmlinux = self.vmlinux.take();
        let mut out = Vec::new();
        let pending: Vec<usize> = (0..self.classes.len())
            .filter(|&i| matches!(self.classes[i], Class::Bpf { .. }))
            .collect();
        if pending.is_empty() {
            return out;
        }
        let mut clock = Clock::start();
        let wanted: Vec<&str> = pending.iter().map(|&i| self.names[i].as_str()).collect();
        let found = find_bpf_funcs(&wanted, vmlinux.as_ref());
        clock.lap("program lookup");
        let mut ready = Vec::new();
        for &i in &pending {
            let name = &self.names[i];
            match found.get(name) {
                Some(f) => ready.push((i, f.clone())),
                None => {
                    let target = name.clone();
                    let e = match self.classes[i] {
                        Class::Bpf {
                            kernel_miss: Some(source),
                        } => ProbeError::NowhereToBeFound {
                            target,
                            list: source,
                        },
                        _ => ProbeError::NoBpfFunction { target },
                    };
                    out.push(attach_record(name, "none", Some(e.to_string())));
                }
            }
        }
        let mut layouts: HashMap<usize, ProbeLayout> = ready
            .iter()
            .map(|(i, f)| (*i, self.install(*i, f.resolved.clone())))
            .collect();
        let mut entered = self.attach_traces(&ready, End::Entry, &mut out);
        clock.lap("fentry");
        // fexit in objects of their own: one that fails to load or attach
        // leaves the fentry be.
        let returns: Vec<(usize, BpfFunc)> = ready
            .iter()
            .filter(|(i, _)| entered.contains(i))
            .cloned()
            .collect();
        self.attach_traces(&returns, End::Return, &mut out);
        clock.lap("fexit");
        entered.sort_unstable();
        for i in entered {
            if let Some(l) = layouts.remove(&i) {
                out.push(Record::ProbeLayout(l));
            }
        }
        super::say(&format!("probes: BPF side ready ({})", clock.laps()));
        out
    }

    /// fentry (or fexit) programs on `ready`, [`NR_FENTRY`] to an object;
    /// returns the targets attached.
    fn attach_traces(
        &mut self,
        ready: &[(usize, BpfFunc)],
        end: End,
        out: &mut Vec<Record>,
    ) -> Vec<usize> {
        let mut attached = Vec::new();
        for chunk in ready.chunks(NR_FENTRY) {
            match self.load_trace(chunk, end) {
                Ok(skel) => self.attach_trace(skel, chunk, end, out, &mut attached),
                // One bad target fails the whole object: find which.
                Err(_) if chunk.len() > 1 => {
                    for one in chunk.chunks(1) {
                        match self.load_trace(one, end) {
                            Ok(skel) => self.attach_trace(skel, one, end, out, &mut attached),
                            Err(e) => out.push(self.trace_error(&one[0], end, &e)),
                        }
                    }
                }
                Err(e) => out.push(self.trace_error(&chunk[0], end, &e)),
            }
        }
        attached
    }

    fn trace_error(&self, (i, f): &(usize, BpfFunc), end: End, error: &ProbeError) -> Record {
        attach_record(
            &self.names[*i],
            trace_label(f, end),
            Some(error.to_string()),
        )
    }

    /// A copy of the object with one fentry (or fexit) program per target,
    /// sharing the first copy's ring buffer and maps.
    fn load_trace(
        &self,
        chunk: &[(usize, BpfFunc)],
        end: End,
    ) -> Result<&'static Skel, ProbeError> {
        let mut open = open()?;
        let maps = &self.first.maps;
        open.maps
            .events
            .reuse_fd(maps.events.as_fd())
            .and_then(|()| open.maps.field_specs.reuse_fd(maps.field_specs.as_fd()))
            .and_then(|()| open.maps.saved.reuse_fd(maps.saved.as_fd()))
            .map_err(ProbeError::ShareRing)?;
        let mut fds = Vec::new();
        for (slot, (i, f)) in chunk.iter().enumerate() {
            let rodata = open
                .maps
                .rodata_data
                .as_deref_mut()
                .ok_or(ProbeError::NoRodata)?;
            rodata.fentry_target[slot] = *i as u32;
            rodata.fentry_ctx_deref[slot] = u32::from(f.main);
            let target = &self.names[*i];
            let fd = Program::fd_from_id(f.prog_id).map_err(|source| ProbeError::ProgramGone {
                target: target.clone(),
                id: f.prog_id,
                source,
            })?;
            let prog = trace_open(&mut open.progs, slot, end);
            prog.set_autoload(true);
            prog.set_attach_target(fd.as_raw_fd(), Some(target.clone()))
                .map_err(|source| ProbeError::Target {
                    target: target.clone(),
                    id: f.prog_id,
                    source,
                })?;
            fds.push(fd);
        }
        let skel = open.load().map_err(|source| ProbeError::TraceLoad {
            probe: if end == End::Entry { "fentry" } else { "fexit" },
            targets: chunk.iter().map(|(i, _)| self.names[*i].clone()).collect(),
            source,
        })?;
        let skel: &'static Skel = Box::leak(Box::new(skel));
        Ok(skel)
    }

    fn attach_trace(
        &mut self,
        skel: &'static Skel,
        chunk: &[(usize, BpfFunc)],
        end: End,
        out: &mut Vec<Record>,
        attached: &mut Vec<usize>,
    ) {
        self.others.push(skel);
        for (slot, (i, f)) in chunk.iter().enumerate() {
            let label = trace_label(f, end);
            match trace_loaded(&skel.progs, slot, end).attach_trace() {
                Ok(l) => {
                    self.links.push(l);
                    out.push(attach_record(&self.names[*i], label, None));
                    attached.push(*i);
                }
                Err(source) => {
                    let e = ProbeError::Attach {
                        target: self.names[*i].clone(),
                        probe: label,
                        hint: String::new(),
                        source,
                    };
                    out.push(attach_record(&self.names[*i], label, Some(e.to_string())));
                }
            }
        }
    }

    /// Detaches everything, reads what is left in the ring buffer and
    /// returns the kept hits ([`Record::ProbeEvent`], in time order) and
    /// the totals ([`Record::ProbeStats`]).
    pub fn finish(mut self) -> Vec<Record> {
        self.links.clear();
        self.stop.store(true, Ordering::Relaxed);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        let lost = std::iter::once(self.first)
            .chain(self.others.iter().copied())
            .filter_map(|s| s.maps.bss_data.as_deref())
            // SAFETY: the skeleton's mmap of .bss lives as long as the
            // (leaked) skeleton; BPF updates the counter concurrently.
            .map(|bss| unsafe { std::ptr::read_volatile(std::ptr::addr_of!(bss.lost)) })
            .sum();
        let (hits, counts) = match self.collector.lock() {
            Ok(mut c) => c.drain(),
            Err(_) => (Vec::new(), Vec::new()),
        };
        let mut out: Vec<Record> = hits.into_iter().map(Record::ProbeEvent).collect();
        let missed = std::iter::once(self.first)
            .chain(self.others.iter().copied())
            .map(recursion_misses)
            .sum();
        out.push(Record::ProbeStats(ProbeStats {
            counts,
            lost,
            missed,
        }));
        out
    }
}

/// The hits the kernel skipped over every loaded program of `skel`: a
/// probe that fired while another BPF program of ours ran on that CPU (an
/// interrupt's wakeup inside a kprobe) is not run, only counted
/// (`recursion_misses`).
fn recursion_misses(skel: &Skel) -> u64 {
    use libbpf_rs::libbpf_sys;
    use libbpf_rs::skel::Skel as _;
    use libbpf_rs::AsRawLibbpf as _;
    skel.object()
        .progs()
        .map(|p| {
            // SAFETY: a program of the live (leaked) skeleton; negative
            // when it was not loaded.
            let fd = unsafe { libbpf_sys::bpf_program__fd(p.as_libbpf_object().as_ptr()) };
            if fd < 0 {
                return 0;
            }
            let mut info = libbpf_sys::bpf_prog_info::default();
            let mut len = std::mem::size_of_val(&info) as u32;
            // SAFETY: a program descriptor and an info struct of `len` bytes.
            let rc = unsafe { libbpf_sys::bpf_prog_get_info_by_fd(fd, &mut info, &mut len) };
            if rc == 0 {
                info.recursion_misses
            } else {
                0
            }
        })
        .sum()
}

fn trace_label(f: &BpfFunc, end: End) -> &'static str {
    match (end, f.main) {
        (End::Entry, false) => "fentry",
        (End::Entry, true) => "fentry_ctx",
        (End::Return, false) => "fexit",
        (End::Return, true) => "fexit_ctx",
    }
}

/// Where the time of attaching goes, for the console.
struct Clock {
    last: std::time::Instant,
    laps: Vec<String>,
}

impl Clock {
    fn start() -> Clock {
        Clock {
            last: std::time::Instant::now(),
            laps: Vec::new(),
        }
    }

    fn lap(&mut self, what: &str) {
        let now = std::time::Instant::now();
        self.laps
            .push(format!("{what} {} ms", (now - self.last).as_millis()));
        self.last = now;
    }

    fn laps(&self) -> String {
        self.laps.join(", ")
    }
}

/// Polls the ring buffer on a thread of its own until `stop`.
fn spawn_reader(
    skel: &'static Skel,
    collector: Arc<Mutex<Collector>>,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<()>, ProbeError> {
    let mut builder = RingBufferBuilder::new();
    builder
        .add(&skel.maps.events, move |data: &[u8]| {
            if let (Some(ev), Ok(mut c)) = (parse_event(data), collector.lock()) {
                c.push(&ev);
            }
            0
        })
        .map_err(|e| ProbeError::Ring(e.to_string()))?;
    let ring = builder
        .build()
        .map_err(|e| ProbeError::Ring(e.to_string()))?;
    std::thread::Builder::new()
        .name("probe-ring".into())
        .spawn(move || {
            // Hits do not wake this thread (probe.bpf.c submits them with
            // BPF_RB_NO_WAKEUP): a poll that times out has not read them,
            // so every round consumes what is there.
            while !stop.load(Ordering::Relaxed) {
                let _ = ring.poll(Duration::from_millis(50));
                let _ = ring.consume();
            }
            let _ = ring.consume();
        })
        .map_err(|e| ProbeError::Ring(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(target: u32, kind: u32, t_ns: u64) -> RawEvent {
        let mut comm = [0; 16];
        comm[..2].copy_from_slice(b"sh");
        RawEvent {
            t_ns,
            ip: 0xffff_ffff_8100_0000,
            task: 0xffff_8880_0000_1000,
            args: [1, 2, 3, 4, 5, 6],
            target,
            kind,
            pid: 132,
            tgid: 130,
            cpu: 1,
            nr_args: 6,
            exit_kind: if kind == 4 { 1025 } else { 0 },
            nr_fields: 2,
            comm,
            ret: 0xffff_ffff_ffff_ffea,
            fields: std::array::from_fn(|i| 100 + i as u64),
        }
    }

    fn bytes(e: &RawEvent) -> Vec<u8> {
        let mut b = Vec::new();
        for v in [e.t_ns, e.ip, e.task] {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        for v in e.args {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        for v in [
            e.target,
            e.kind,
            e.pid,
            e.tgid,
            e.cpu,
            e.nr_args,
            e.exit_kind,
            e.nr_fields,
        ] {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        b.extend_from_slice(&e.comm);
        b.extend_from_slice(&e.ret.to_ne_bytes());
        for v in e.fields {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        b
    }

    #[test]
    fn event_layout() {
        let e = raw(3, 4, 5_000_000_123);
        let b = bytes(&e);
        assert_eq!(b.len(), EVENT_SIZE);
        assert_eq!(parse_event(&b), Some(e.clone()));
        assert_eq!(parse_event(&b[..EVENT_SIZE - 1]), None);
        let hit = e.to_hit("sched_ext_exit").unwrap();
        assert_eq!(hit.kind, ProbeKind::Exit);
        assert_eq!(hit.exit_kind, Some(1025));
        assert_eq!(hit.comm, "sh");
        assert_eq!(hit.args, [1, 2, 3, 4, 5, 6]);
        assert_eq!(hit.ret, None);
        let mut sub = raw(0, 2, 1);
        sub.nr_args = 2;
        let hit = sub.to_hit("validate_cell").unwrap();
        assert_eq!(
            (hit.kind, hit.args.as_slice(), hit.exit_kind),
            (ProbeKind::Fentry, &[1, 2][..], None)
        );
        assert_eq!((hit.fields.as_slice(), hit.ret), (&[100, 101][..], None));
        for (kind, want) in [
            (6, ProbeKind::Kretprobe),
            (7, ProbeKind::Fexit),
            (8, ProbeKind::FexitCtx),
        ] {
            let hit = raw(0, kind, 1).to_hit("f").unwrap();
            assert_eq!((hit.kind, hit.ret), (want, Some(0xffff_ffff_ffff_ffea)));
        }
        let mut many = raw(0, 1, 1);
        many.nr_fields = 99;
        assert_eq!(many.to_hit("f").unwrap().fields.len(), MAX_FIELDS);
        assert!(raw(0, 9, 1).to_hit("f").is_none());
    }

    /// The BPF object's event is laid out as read here.
    #[test]
    fn layout_matches_the_bpf_object() {
        let obj = std::fs::read(concat!(env!("OUT_DIR"), "/probe.bpf.o")).unwrap();
        let btf = Btf::from_raw("probe", &obj).unwrap().unwrap();
        use libbpf_rs::btf::types::{MemberAttr, Struct};
        use libbpf_rs::btf::HasSize;
        let t = btf
            .type_by_name::<Struct<'_>>("probe_event")
            .expect("struct probe_event in the object's BTF");
        assert_eq!(t.size(), EVENT_SIZE);
        let offsets: Vec<(String, u32)> = (0..t.len())
            .map(|i| t.get(i).unwrap())
            .map(|m| {
                let MemberAttr::Normal { offset } = m.attr else {
                    panic!("bitfield")
                };
                (m.name.unwrap().to_string_lossy().into_owned(), offset / 8)
            })
            .collect();
        let want = [
            ("ktime_ns", 0),
            ("ip", 8),
            ("task", 16),
            ("args", 24),
            ("target", 72),
            ("kind", 76),
            ("pid", 80),
            ("tgid", 84),
            ("cpu", 88),
            ("nr_args", 92),
            ("exit_kind", 96),
            ("nr_fields", 100),
            ("comm", 104),
            ("ret", 120),
            ("fields", 128),
        ];
        let want: Vec<(String, u32)> = want.iter().map(|(n, o)| (n.to_string(), *o)).collect();
        assert_eq!(offsets, want);
    }

    #[test]
    fn keeps_the_tail_before_the_exit_and_the_head_after() {
        let limits = Limits {
            before_exit: 3,
            after_exit: 2,
        };
        let mut c = Collector::new(
            vec!["f".into(), "g".into(), "sched_ext_exit".into()],
            limits,
        );
        for t in 0..10 {
            c.push(&raw(0, 1, t));
        }
        c.push(&raw(1, 1, 10));
        c.push(&raw(2, 4, 11));
        for t in 12..20 {
            c.push(&raw(0, 1, t));
        }
        c.push(&raw(7, 1, 30));
        c.push(&raw(1, 42, 31));
        assert_eq!(c.unknown, 2);
        let (hits, counts) = c.drain();
        let times: Vec<u64> = hits.iter().map(|h| h.t_ns).collect();
        assert_eq!(times, [7, 8, 9, 10, 11, 12, 13]);
        assert_eq!(hits[4].target, "sched_ext_exit");
        assert_eq!(
            counts,
            [
                ProbeCount {
                    target: "f".into(),
                    hits: 18,
                    kept: 5
                },
                ProbeCount {
                    target: "g".into(),
                    hits: 1,
                    kept: 1
                },
                ProbeCount {
                    target: "sched_ext_exit".into(),
                    hits: 1,
                    kept: 1
                },
            ]
        );
    }

    #[test]
    fn kernel_function_lists() {
        let names = [
            "enqueue_task_scx",
            "foo",
            "runqueues",
            "validate_cell",
            "[mod]",
        ];
        let f = in_filter_functions(
            "enqueue_task_scx\nscx_bpf_error_bstr\nfoo [mod]\n\n",
            &names,
        );
        assert_eq!(f, HashSet::from(["enqueue_task_scx".into(), "foo".into()]));
        let k = in_kallsyms(
            "ffffffff813f3ae0 t enqueue_task_scx\nffffffff83cf65c0 D runqueues\nffffffffc0001000 T foo\t[mod]\nffffffffc0000da4 t bpf_prog_0123456789abcdef_validate_cell\tbpf\n",
            &names,
        );
        assert_eq!(k, HashSet::from(["enqueue_task_scx".into(), "foo".into()]));
    }
}
