//! The crash-report model: what every input (ktstr output, raw dump, dmesg,
//! journal, trace, live VM) is turned into.
//!
//! A [`Report`] is ktstr's failure layout: a header and named sections. The
//! structured [`Crash`]es are derived from the section bodies, so writing a
//! report back to text and parsing it again yields the same crashes.

use serde::Serialize;

use super::text::Text;

/// One parsed input.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub header: Header,
    /// Sections in input order. Unknown sections are kept verbatim.
    pub sections: Vec<Section>,
    /// Every crash found, oldest first.
    pub crashes: Vec<Crash>,
    /// Index into `crashes` of the one shown by default (the newest).
    pub selected: Option<usize>,
    /// What the parser skipped or could not understand, so nothing is dropped silently.
    pub notes: Vec<Note>,
}

/// The lines before the first section: ktstr's error line and its details.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Header {
    /// Lines before the report proper (nextest/libtest noise), verbatim
    /// (colour codes included: cleaning them could turn a line into a header).
    /// Slices of the input: a long log in front of the report is not copied.
    pub preamble: Vec<Text>,
    /// Last scheduler-log line, printed by ktstr above the error line.
    pub fingerprint: Option<String>,
    /// NEWER ktstr's `BUG SUMMARY: <text>` line.
    pub bug_summary: Option<String>,
    pub test_name: Option<String>,
    /// `[sched=<name>]`; `None` for EEVDF.
    pub scheduler: Option<String>,
    /// `[topo=1n1l4c1t]`.
    pub topology: Option<String>,
    pub outcome: Outcome,
    /// Indented detail lines under `failed:` (without the two-space indent).
    pub details: Vec<String>,
}

/// How the test ended, as the error line says it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "text", rename_all = "snake_case")]
pub enum Outcome {
    /// No ktstr error line (a raw dump, dmesg, ...).
    #[default]
    Unknown,
    /// `failed:` followed by detail lines.
    Failed,
    /// NEWER `inconclusive:`.
    Inconclusive,
    /// `passed scenario but monitor failed:`.
    MonitorFailed,
    /// `timed out (no result in SHM or COM2)`.
    TimedOut,
    /// Any other verdict text after the topology (e.g. `guest crashed: ...`), verbatim.
    Other(String),
}

/// A `--- name ---` section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Section {
    pub kind: SectionKind,
    /// Body text without the header line and without trailing newlines.
    pub body: Text,
}

/// The section names scxray knows. Anything else is [`SectionKind::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SectionKind {
    Info,
    Stats,
    Diagnostics,
    Timeline,
    PeriodicSamples,
    TemporalAssertions,
    SchedulerLog,
    Monitor,
    /// scxray's own: the host monitor's raw samples, one line per 100 ms
    /// (`scxray::host_monitor::samples_text`), so a saved report keeps them.
    MonitorSamples,
    SchedExtDump,
    AutoRepro,
    /// scxray's own: what the guest's probes reported, raw
    /// (`scxray::run::probe_text`).
    ProbeEvents,
    /// scxray's own: the raw probe log of the auto-repro run the
    /// `--- auto-repro ---` section shows (`scxray::run::probe_text`).
    ReproProbeEvents,
    /// scxray's own: the guest's scheduler state frozen at the error exit
    /// (`scxray::failure_dump::text`).
    FailureDump,
    /// scxray's own: the same dump of the auto-repro VM, to compare with
    /// the first.
    ReproFailureDump,
    /// scxray's own: kernel console / dmesg / journal text.
    Console,
    /// scxray's own: the guest's `/dev/kmsg`, which a live run writes after
    /// the console. Known, so that it ends the free-text console when a
    /// saved report is read back instead of folding into it.
    Dmesg,
    Other(String),
}

impl SectionKind {
    /// All named kinds, in ktstr's check-failure order (console last, then
    /// scxray's dmesg).
    pub const KNOWN: [SectionKind; 17] = [
        SectionKind::Info,
        SectionKind::Stats,
        SectionKind::Diagnostics,
        SectionKind::Timeline,
        SectionKind::PeriodicSamples,
        SectionKind::TemporalAssertions,
        SectionKind::SchedulerLog,
        SectionKind::Monitor,
        SectionKind::MonitorSamples,
        SectionKind::SchedExtDump,
        SectionKind::AutoRepro,
        SectionKind::ProbeEvents,
        SectionKind::ReproProbeEvents,
        SectionKind::FailureDump,
        SectionKind::ReproFailureDump,
        SectionKind::Console,
        SectionKind::Dmesg,
    ];

    /// The name between `--- ` and ` ---`.
    pub fn name(&self) -> &str {
        match self {
            SectionKind::Info => "info",
            SectionKind::Stats => "stats",
            SectionKind::Diagnostics => "diagnostics",
            SectionKind::Timeline => "timeline",
            SectionKind::PeriodicSamples => "periodic samples",
            SectionKind::TemporalAssertions => "temporal assertions",
            SectionKind::SchedulerLog => "scheduler log",
            SectionKind::Monitor => "monitor",
            SectionKind::MonitorSamples => "monitor samples",
            SectionKind::SchedExtDump => "sched_ext dump",
            SectionKind::AutoRepro => "auto-repro",
            SectionKind::ProbeEvents => "probe events",
            SectionKind::ReproProbeEvents => "repro probe events",
            SectionKind::FailureDump => "failure dump",
            SectionKind::ReproFailureDump => "repro failure dump",
            SectionKind::Console => "console",
            SectionKind::Dmesg => "dmesg",
            SectionKind::Other(name) => name,
        }
    }

    /// The kind for a known section name; `None` for anything else.
    pub fn from_known_name(name: &str) -> Option<SectionKind> {
        Self::KNOWN.iter().find(|k| k.name() == name).cloned()
    }
}

/// One sched_ext exit (or a failure that is not one, see [`Crash::kernel_exit`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Crash {
    pub kind: ExitKind,
    /// `scx_bpf_error`, `runtime error`, `runnable task stall`, ...
    pub reason: Option<String>,
    /// The text in parentheses after the reason, or the scheduler's message line.
    pub message: Option<String>,
    pub scheduler: Option<String>,
    /// The task that triggered the exit, `comm[pid]`.
    pub task: Option<TaskRef>,
    pub cpu: Option<u32>,
    pub backtrace: Vec<Frame>,
    pub cpu_states: Vec<CpuState>,
    pub events: Vec<EventCounter>,
    /// Scheduler-provided `ops.dump` lines outside the CPU states.
    pub ops_dump: Vec<String>,
    /// The loader's error chain, outermost first, without anyhow's indices:
    /// a bail's `Caused by:` entries; after a verifier rejection, also the
    /// `Error:` line that reported it.
    pub causes: Vec<String>,
    /// The `__FILE__:__LINE__: ` that upstream's `scx_bpf_error()` puts in
    /// front of the message, path as written.
    pub source: Option<(String, u32)>,
    /// Formats this crash was read from; the first is the richest.
    pub formats: Vec<MessageFormat>,
    /// False for userspace bails and verifier rejections: no kernel exit happened,
    /// so an `expect_scx_bpf_error_*` pin must not be based on them.
    pub kernel_exit: bool,
    /// Where it was found.
    pub origin: Origin,
}

/// sched_ext exit kinds (`enum scx_exit_kind`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "name", content = "code", rename_all = "snake_case")]
pub enum ExitKind {
    /// The input never said.
    #[default]
    Unknown,
    /// 1024: `runtime error` (the kernel caught the scheduler misbehaving).
    RuntimeError,
    /// 1025: `scx_bpf_error` called by the BPF program.
    ScxBpfError,
    /// 1026: `runnable task stall` (watchdog).
    Stall,
    /// Any other number, kept as is (64 unregistered, 67 sysrq, ...).
    Other(u64),
}

impl ExitKind {
    pub fn from_code(code: u64) -> ExitKind {
        match code {
            1024 => ExitKind::RuntimeError,
            1025 => ExitKind::ScxBpfError,
            1026 => ExitKind::Stall,
            other => ExitKind::Other(other),
        }
    }

    pub fn code(self) -> Option<u64> {
        match self {
            ExitKind::Unknown => None,
            ExitKind::RuntimeError => Some(1024),
            ExitKind::ScxBpfError => Some(1025),
            ExitKind::Stall => Some(1026),
            ExitKind::Other(c) => Some(c),
        }
    }

    /// The kind a kernel reason string implies (`disabled (<reason>)`).
    pub fn from_reason(reason: &str) -> ExitKind {
        match reason {
            "runtime error" => ExitKind::RuntimeError,
            "scx_bpf_error" => ExitKind::ScxBpfError,
            "runnable task stall" => ExitKind::Stall,
            "disabled by sysrq-S" => ExitKind::Other(67),
            r if r.starts_with("unregistered from BPF") => ExitKind::Other(65),
            r if r.starts_with("unregistered from the main kernel") => ExitKind::Other(66),
            r if r.starts_with("unregistered from user space") => ExitKind::Other(64),
            _ => ExitKind::Unknown,
        }
    }

    /// Exits that are not failures: none/done, unregistered from user space
    /// (a normal shutdown), disabled by sysrq-S. A BPF-side unregister (65)
    /// or a kernel-side one (66) ejected the scheduler and counts as a crash.
    pub fn is_clean(self) -> bool {
        matches!(self, ExitKind::Other(c) if c < 65 || c == 67)
    }

    /// Short label for headers.
    pub fn label(self) -> String {
        match self {
            ExitKind::Unknown => "unknown exit".to_string(),
            ExitKind::RuntimeError => "runtime error (1024)".to_string(),
            ExitKind::ScxBpfError => "scx_bpf_error (1025)".to_string(),
            ExitKind::Stall => "stall (1026)".to_string(),
            ExitKind::Other(c) => format!("exit kind {c}"),
        }
    }
}

/// `comm[pid]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskRef {
    pub comm: String,
    pub pid: i64,
}

impl std::fmt::Display for TaskRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}[{}]", self.comm, self.pid)
    }
}

/// One backtrace line, `function+0xOFF/0xSIZE [module]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Frame {
    pub function: String,
    pub offset: Option<u64>,
    pub size: Option<u64>,
    pub module: Option<String>,
    pub class: FrameClass,
}

/// What kind of code a frame is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "class", rename_all = "snake_case")]
pub enum FrameClass {
    /// A kernel function that tells something about the crash.
    Kernel,
    /// A BPF program, `bpf_prog_<tag>_<name>`.
    BpfProg { tag: String, name: String },
    /// BPF trampolines: `bpf_trampoline_<id>`, `bpf__sched_ext_ops_<op>`.
    Trampoline,
    /// Plumbing present in every crash (exit helpers, IRQ entry, fork return).
    Generic,
}

impl FrameClass {
    /// A kernel function or a BPF program: not plumbing, not a trampoline.
    /// The Backtrace pane's first frame and auto-repro's crash chain
    /// (`repro::chain`) both keep exactly these.
    pub fn worth_reading(&self) -> bool {
        matches!(self, FrameClass::Kernel | FrameClass::BpfProg { .. })
    }
}

/// One CPU block of `CPU states` (older kernels: `Runqueue states`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CpuState {
    pub cpu: u32,
    /// `key=value` pairs of the CPU header and its continuation lines, in order.
    pub fields: Vec<(String, String)>,
    pub curr: Option<TaskRef>,
    pub tasks: Vec<TaskState>,
    /// Other lines in the block (scheduler `ops.dump_cpu` output).
    pub extra: Vec<String>,
}

/// A task block inside a CPU state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TaskState {
    /// ` R`, `*R`, ...: `*` marks the current task.
    pub marker: String,
    pub task: Option<TaskRef>,
    /// The rest of the task line (`*root -4ms`, `+0ms`).
    pub summary: String,
    pub fields: Vec<(String, String)>,
    pub stack: Vec<Frame>,
    /// Other lines (scheduler `ops.dump_task` output).
    pub extra: Vec<String>,
}

/// `SCX_EV_*: value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventCounter {
    pub name: String,
    pub value: i64,
}

/// Which message format a crash was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageFormat {
    /// `DEBUG DUMP` / `... triggered exit kind N:` block as schedulers print it.
    DebugDump,
    /// The same dump as ftrace `sched_ext_dump:` lines.
    TraceDump,
    /// ftrace `sched_ext_exit:` line.
    TraceExit,
    /// Kernel: `sched_ext: BPF scheduler "x" disabled (reason)`.
    KernelDisabled,
    /// Older kernels: `sched_ext: BPF scheduler "x" errored, disabling`.
    KernelErrored,
    /// `Sched_ext:` lines inside a kernel oops or lockdep splat.
    KernelOops,
    /// Older kernels: `sched_ext: ops.init_task() failed (-12) for comm[pid] while loading`.
    KernelEnableFailed,
    /// The scheduler's user exit info: `EXIT: reason (message)`.
    UeiExit,
    /// BPF verifier rejection (libbpf PROG LOAD LOG, `failed to load`).
    VerifierReject,
    /// The scheduler's userspace gave up without a kernel exit.
    UserspaceBail,
    /// NEWER ktstr's `BUG SUMMARY:` header line.
    BugSummary,
}

impl MessageFormat {
    pub fn label(self) -> &'static str {
        match self {
            MessageFormat::DebugDump => "debug dump",
            MessageFormat::TraceDump => "sched_ext_dump trace",
            MessageFormat::TraceExit => "sched_ext_exit trace",
            MessageFormat::KernelDisabled => "kernel log (disabled)",
            MessageFormat::KernelErrored => "kernel log (errored, old format)",
            MessageFormat::KernelOops => "kernel oops",
            MessageFormat::KernelEnableFailed => "kernel log (enable failed)",
            MessageFormat::UeiExit => "EXIT line",
            MessageFormat::VerifierReject => "verifier rejection",
            MessageFormat::UserspaceBail => "userspace bail",
            MessageFormat::BugSummary => "ktstr BUG SUMMARY",
        }
    }
}

/// Where a crash was found: section index and 0-based line range in its body.
/// `section == Origin::HEADER` means the report's header (`BUG SUMMARY:`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Origin {
    pub section: usize,
    pub first_line: usize,
    pub last_line: usize,
}

/// Something the parser skipped or could not understand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    /// Section index, when the note is about one section.
    pub section: Option<usize>,
    pub text: String,
}

impl Origin {
    /// The `section` value for crashes read from the report header.
    pub const HEADER: usize = usize::MAX;
}

impl Report {
    pub fn section(&self, kind: &SectionKind) -> Option<&Section> {
        self.sections.iter().find(|s| &s.kind == kind)
    }

    /// The scheduler log body, if any.
    pub fn scheduler_log(&self) -> Option<&str> {
        self.section(&SectionKind::SchedulerLog).map(|s| &*s.body)
    }

    /// The sched_ext dump body, if any.
    pub fn sched_ext_dump(&self) -> Option<&str> {
        self.section(&SectionKind::SchedExtDump).map(|s| &*s.body)
    }

    /// The crash shown by default.
    pub fn crash(&self) -> Option<&Crash> {
        self.selected.and_then(|i| self.crashes.get(i))
    }
}

impl Crash {
    /// The first frame worth reading: not generic plumbing, not a trampoline.
    pub fn top_frame(&self) -> Option<&Frame> {
        self.top_frame_index().map(|i| &self.backtrace[i])
    }

    /// Index of [`Crash::top_frame`] in the backtrace.
    pub fn top_frame_index(&self) -> Option<usize> {
        self.backtrace.iter().position(|f| f.class.worth_reading())
    }
}
