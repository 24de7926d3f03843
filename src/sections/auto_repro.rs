//! `--- auto-repro ---`: what ktstr's second ("repro") VM saw when it re-ran a
//! failed test with probes on the crash path, as a model.
//!
//! This module owns the structure of the section body (ktstr's
//! `format_repro_output`), in ktstr's order: the `--- probe pipeline ---`
//! block, the `=== AUTO-PROBE: scx_exit fired ===` call chain (each function
//! with its kind, `file:line`, arguments and entry → exit changes, then the
//! trigger's kernel stack), the repro VM's status line, `repro VM duration:`
//! and the `--- repro VM ... ---` tails (kept verbatim). The report keeps the
//! body verbatim; [`parse`] reads it for views and the JSON export, and
//! [`write()`] prints a model in ktstr's layout (the VM side will build one from
//! probe data, see [`AutoProbe::lay_out`]).
//!
//! ```text
//! --- probe pipeline ---
//!   extracted:   9 functions from crash backtrace
//!   trigger:     fired (tp_btf)
//!   events:      125 captured, 8 after stitch
//!
//! === AUTO-PROBE: scx_exit fired ===
//!
//!   do_enqueue_task                                               kernel/sched/ext.c:1344
//!     rq *rq
//!       cpu         1
//!     task_struct *p
//!       dsq_id      SCX_DSQ_INVALID  →  SCX_DSQ_LOCAL
//!
//! repro VM duration: 16.9s
//! ```
//!
//! Values stay as ktstr printed them (already decoded: `SCX_DSQ_LOCAL`,
//! `0xf(0-3)`); decoding raw numbers belongs to the crash-chain decoders in
//! `src/repro/`. [`value_number`] only reads back a number that was printed.
//!
//! Exactness: `write(&parse(x)) == x` for every string `x`. A line is read
//! leniently (any indentation, a uniform nextest indent); when ktstr's layout
//! would print the parsed element differently (odd spacing), the original
//! line is kept in the element's `verbatim` and written back as is. Lines that
//! are not understood are kept in `Unknown` entries, in place, and counted in
//! [`AutoRepro::skipped`]. Nothing here fails or panics.

use serde::Serialize;

use crate::parse::frame::parse_frame;
use crate::report::Frame;

/// The pipeline block's header line.
pub const PIPELINE_HEADER: &str = "--- probe pipeline ---";
/// The arrow between a field's entry and exit values.
const ARROW: char = '→';

/// A parsed `--- auto-repro ---` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AutoRepro {
    /// Whitespace in front of every non-empty line (nextest indents the
    /// whole report); removed before parsing, written back by [`write()`].
    pub indent: String,
    /// The body's parts, in order.
    pub blocks: Vec<Block>,
    /// Whether the body ended with a newline.
    pub final_newline: bool,
    /// Lines kept verbatim because they were not understood (the `Unknown`
    /// entries at every level; tail lines are verbatim by design, not skipped).
    pub skipped: usize,
}

/// One part of the body.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "block", rename_all = "snake_case")]
pub enum Block {
    /// `--- probe pipeline ---` and its stage lines.
    Pipeline(Pipeline),
    /// `=== AUTO-PROBE: scx_exit fired ===` and the call chain.
    AutoProbe(AutoProbe),
    /// A `repro VM: ...` verdict, or another status ktstr prints instead of probe data.
    Status(Status),
    /// `repro VM duration: <s>s`.
    Duration(Duration),
    /// `--- repro VM <name> ---` and its lines.
    Tail(Tail),
    /// An empty line between parts.
    Blank,
    /// A line not understood, verbatim.
    Unknown { text: String },
}

/// The `--- probe pipeline ---` block: what the guest's probe setup did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Pipeline {
    /// Whether the header line was there (false for a block cut at its top).
    pub header: bool,
    /// The header line as read, when it is not ktstr's exact header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header_verbatim: Option<String>,
    pub stages: Vec<Stage>,
}

/// One `  <label>: <value>` line of the pipeline block.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stage {
    /// `extracted`, `traceable`, `bpf_discover`, ..., `ERROR`.
    pub label: String,
    /// The text after the label, verbatim.
    pub value: String,
    /// The value read, for the labels ktstr prints.
    pub info: StageInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verbatim: Option<String>,
}

/// A pipeline stage's value, read.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum StageInfo {
    /// `<n> functions from crash backtrace`.
    Extracted { functions: u64 },
    /// `<n> passed filter` or `<n> passed, <k> dropped: a, b`.
    Traceable {
        passed: u64,
        dropped: u64,
        dropped_names: Vec<String>,
    },
    /// `<n> programs found`.
    BpfDiscover { programs: u64 },
    /// `<n> total probe targets`.
    AfterExpand { targets: u64 },
    /// `kprobes:`/`fentry:`: `<n> attached[, <k> failed: name (err), ...]`.
    Attached {
        attached: u64,
        failed: u64,
        /// The text after `failed: `, verbatim (errors may hold commas).
        failures: Option<String>,
    },
    /// `<k> unresolved: a, b`.
    KprobeMiss { unresolved: u64, names: Vec<String> },
    /// `fired (<type>)`, `not fired (<type>)`, `attach failed (<err>)`.
    Trigger {
        state: TriggerState,
        /// The text in the parentheses: the trigger type, or the attach error.
        detail: String,
    },
    /// `ERROR: probe-collection thread panicked: <msg>`.
    Error { message: String },
    /// `<n> keys, <n> unmatched IPs`.
    ProbeData { keys: u64, unmatched_ips: u64 },
    /// `<n> captured, <m> after stitch[ — <cause>]`.
    Events {
        captured: u64,
        after_stitch: u64,
        /// Why nothing survived stitching, or the best-effort grouping note.
        cause: Option<String>,
    },
    /// `<n> kprobe fires, <n> trigger fires, <n> meta misses`.
    BpfCounts {
        kprobe_fires: u64,
        trigger_fires: u64,
        meta_misses: u64,
    },
    /// `0x<ip>, 0x<ip>`.
    MissIps { ips: Vec<String> },
    /// A label this parser does not know, or a value not in the known form.
    Other,
}

/// Whether ktstr's `tp_btf/sched_ext_exit` trigger fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerState {
    Fired,
    NotFired,
    AttachFailed,
}

/// The `=== AUTO-PROBE: <title> ===` block: the functions on the crash path,
/// as the probes saw them for the task that triggered the exit.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AutoProbe {
    /// `scx_exit fired`.
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header_verbatim: Option<String>,
    /// ktstr prints an empty line after the header.
    pub blank_after_header: bool,
    /// ktstr's `W`: field names are padded to it (`max(8, longest name)`).
    pub field_width: usize,
    /// Functions in call order, then the trigger's kernel stack.
    pub entries: Vec<ProbeEntry>,
}

/// One line group of the AUTO-PROBE block.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "entry", rename_all = "snake_case")]
pub enum ProbeEntry {
    Function(Function),
    /// A kernel stack line printed after the events (`func+0xOFF/0xSIZE`).
    Frame(StackLine),
    Unknown {
        text: String,
    },
}

/// A probed function and its arguments.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Function {
    /// `do_enqueue_task`, `ktstr_enqueue` (BPF programs by their short name);
    /// `unknown` when ktstr salvaged a cut payload.
    pub name: String,
    pub kind: FunctionKind,
    pub location: Option<Location>,
    /// Column (in characters, after the body's indent) where the location
    /// starts: ktstr pads the name to it. 0 without a location.
    pub location_column: usize,
    /// Width the entry value of a changed field is padded to before `  →  `.
    pub arrow_column: usize,
    pub args: Vec<Arg>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verbatim: Option<String>,
}

/// Where a function lives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FunctionKind {
    /// A kernel function: its location is a kernel-tree path.
    Kernel,
    /// A BPF program: its location is a source file's basename.
    Bpf,
    /// No location printed.
    #[default]
    Unknown,
}

/// `file:line`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// `kernel/sched/ext.c` (kernel-tree relative) or `main.bpf.c` (BPF basename).
    pub file: String,
    pub line: u32,
}

/// One argument of a function, in print order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "arg", rename_all = "snake_case")]
pub enum Arg {
    /// A struct parameter: the `<struct> *<param>` header and its fields.
    Struct(StructArg),
    /// A scalar parameter (no header), or an argument of a function without
    /// field specs (`prev (task_struct *)`, `arg1`).
    Scalar(Field),
    Unknown {
        text: String,
    },
}

/// `task_struct *p` and its fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StructArg {
    /// `task_struct`, `rq`.
    pub type_name: String,
    /// `p`, `rq`.
    pub name: String,
    pub fields: Vec<Field>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verbatim: Option<String>,
}

/// One field line: a name and the value at entry, and at exit when fexit saw
/// it change.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Field {
    /// `pid`, `dsq_id`, `cpus_ptr`, `msg`, `prev`, `arg0`.
    pub name: String,
    /// The BTF type printed after an argument's name: `prev (task_struct *)`.
    pub type_name: Option<String>,
    /// The value as printed (already decoded by ktstr): `SCX_DSQ_INVALID`,
    /// `0xf(0-3)`, `97`, `ptr:1a2b`, `"message"`.
    pub value: String,
    /// The value at exit, when it differs from the entry value.
    pub exit_value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verbatim: Option<String>,
}

/// A kernel stack line of the AUTO-PROBE block.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackLine {
    /// The line without its indent.
    pub text: String,
    pub frame: Option<Frame>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verbatim: Option<String>,
}

/// A status line (ktstr's `classify_repro_vm_status` and friends).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// The line, verbatim (without indent).
    pub text: String,
    pub verdict: StatusKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verbatim: Option<String>,
}

/// What a status line says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StatusKind {
    /// `repro VM: timed out`.
    TimedOut,
    /// `repro VM: scheduler did not attach (<reason>) (exit code <n>)`.
    NotAttached {
        reason: String,
        exit_code: Option<i64>,
    },
    /// `repro VM: scheduler crashed — <clause>`: the crash reproduced.
    SchedulerCrashed {
        clause: String,
        /// `killed by signal (<n>)`.
        signal: Option<i64>,
        /// `exited with non-zero status (<n>)`; 0 for `exited cleanly`.
        exit_status: Option<i64>,
    },
    /// `repro VM: exited abnormally (exit code <n>)`.
    ExitedAbnormally { exit_code: Option<i64> },
    /// `repro VM: scheduler ran normally (crash did not reproduce)`.
    RanNormally,
    /// Another `repro VM: ...` line.
    OtherVerdict,
    /// `PRIMARY DID NOT REACH WORKLOAD — ...`: the repro is not load-bearing;
    /// the verdict follows on the next line.
    PrimaryDidNotReachWorkload { detail: String },
    /// ktstr's fixed `auto-repro: no probe data — ...` paragraph.
    NoProbeData,
}

/// `repro VM duration: <value>`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Duration {
    /// `16.9s`, verbatim.
    pub value: String,
    pub seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verbatim: Option<String>,
}

/// `--- repro VM <name> ---` and its lines, verbatim.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tail {
    /// `scheduler log`, `sched_ext dump`, `failure dump`, `dmesg`.
    pub name: String,
    pub kind: TailKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header_verbatim: Option<String>,
    /// The lines (without the body's indent), up to the next tail; the empty
    /// lines that separate it from the next part are [`Block::Blank`]s.
    pub lines: Vec<String>,
}

/// Which tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TailKind {
    /// Last 40 lines of the repro VM's scheduler log, cycle-collapsed.
    SchedulerLog,
    /// Last 40 `sched_ext_dump` lines.
    SchedExtDump,
    /// The repro VM's failure dump (newer ktstr).
    FailureDump,
    /// The console without the `sched_ext_dump` lines.
    Dmesg,
    Other,
}

impl TailKind {
    fn from_name(name: &str) -> TailKind {
        match name {
            "scheduler log" => TailKind::SchedulerLog,
            "sched_ext dump" => TailKind::SchedExtDump,
            "failure dump" => TailKind::FailureDump,
            "dmesg" => TailKind::Dmesg,
            _ => TailKind::Other,
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

impl AutoRepro {
    /// [`parse`].
    pub fn parse(body: &str) -> AutoRepro {
        parse(body)
    }

    /// [`write()`].
    pub fn write(&self) -> String {
        write(self)
    }

    /// The pipeline block, if ktstr printed one.
    pub fn pipeline(&self) -> Option<&Pipeline> {
        self.blocks.iter().find_map(|b| match b {
            Block::Pipeline(p) => Some(p),
            _ => None,
        })
    }

    /// The AUTO-PROBE block, if any event survived.
    pub fn probe(&self) -> Option<&AutoProbe> {
        self.blocks.iter().find_map(|b| match b {
            Block::AutoProbe(p) => Some(p),
            _ => None,
        })
    }

    /// The status lines, in order.
    pub fn statuses(&self) -> impl Iterator<Item = &Status> {
        self.blocks.iter().filter_map(|b| match b {
            Block::Status(s) => Some(s),
            _ => None,
        })
    }

    /// `repro VM duration`, in seconds.
    pub fn duration_s(&self) -> Option<f64> {
        self.blocks.iter().find_map(|b| match b {
            Block::Duration(d) => d.seconds,
            _ => None,
        })
    }

    /// The tails, in order.
    pub fn tails(&self) -> impl Iterator<Item = &Tail> {
        self.blocks.iter().filter_map(|b| match b {
            Block::Tail(t) => Some(t),
            _ => None,
        })
    }

    /// The first tail of `kind`.
    pub fn tail(&self, kind: TailKind) -> Option<&Tail> {
        self.tails().find(|t| t.kind == kind)
    }
}

impl Pipeline {
    /// The first stage with `label`.
    pub fn stage(&self, label: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.label == label)
    }
}

impl AutoProbe {
    /// The functions, in call order.
    pub fn functions(&self) -> impl Iterator<Item = &Function> {
        self.entries.iter().filter_map(|e| match e {
            ProbeEntry::Function(f) => Some(f),
            _ => None,
        })
    }

    /// The trigger's kernel stack lines.
    pub fn stack(&self) -> impl Iterator<Item = &StackLine> {
        self.entries.iter().filter_map(|e| match e {
            ProbeEntry::Frame(f) => Some(f),
            _ => None,
        })
    }

    /// Sets the columns as ktstr computes them from the content (for a model
    /// built from probe data rather than parsed) and drops every `verbatim`:
    /// `W = max(8, longest field name)`, the location column
    /// `2 + max(6 + W + 2 + longest value, max(20, longest name) + 4) + 4`,
    /// and per function the longest entry value among its changed fields.
    pub fn lay_out(&mut self) {
        let mut longest_field = 0;
        let mut longest_value = 0;
        let mut longest_name = 0;
        for f in self.functions() {
            longest_name = longest_name.max(width(&f.name));
            for field in f.fields() {
                longest_field = longest_field.max(width(&field.display_name()));
                longest_value = longest_value.max(width(&field.value));
            }
        }
        let w = longest_field.max(8);
        let loc_col = (6 + w + 2 + longest_value).max(longest_name.max(20) + 4) + 4;
        self.field_width = w;
        self.header_verbatim = None;
        for entry in &mut self.entries {
            match entry {
                ProbeEntry::Function(f) => {
                    f.verbatim = None;
                    f.location_column = if f.location.is_some() { 2 + loc_col } else { 0 };
                    f.arrow_column = f
                        .fields()
                        .filter(|x| x.exit_value.is_some())
                        .map(|x| width(&x.value))
                        .max()
                        .unwrap_or(0);
                    for arg in &mut f.args {
                        match arg {
                            Arg::Struct(s) => {
                                s.verbatim = None;
                                s.fields.iter_mut().for_each(|x| x.verbatim = None);
                            }
                            Arg::Scalar(x) => x.verbatim = None,
                            Arg::Unknown { .. } => {}
                        }
                    }
                }
                ProbeEntry::Frame(s) => s.verbatim = None,
                ProbeEntry::Unknown { .. } => {}
            }
        }
    }
}

impl Function {
    /// Every field: those of struct arguments and the scalars, in print order.
    pub fn fields(&self) -> impl Iterator<Item = &Field> {
        self.args.iter().flat_map(|a| match a {
            Arg::Struct(s) => s.fields.iter().collect::<Vec<_>>(),
            Arg::Scalar(f) => vec![f],
            Arg::Unknown { .. } => Vec::new(),
        })
    }

    /// The struct argument named `name` (`p`, `rq`).
    pub fn struct_arg(&self, name: &str) -> Option<&StructArg> {
        self.args.iter().find_map(|a| match a {
            Arg::Struct(s) if s.name == name => Some(s),
            _ => None,
        })
    }
}

impl StructArg {
    /// The field named `name`.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

impl Field {
    /// Whether fexit saw a different value.
    pub fn changed(&self) -> bool {
        self.exit_value.is_some()
    }

    /// The name as printed: `prev (task_struct *)` for a typed argument.
    pub fn display_name(&self) -> String {
        match &self.type_name {
            Some(t) => format!("{} ({t})", self.name),
            None => self.name.clone(),
        }
    }

    /// [`value_number`] of the entry value.
    pub fn number(&self) -> Option<i128> {
        value_number(&self.value)
    }
}

/// The number a printed value carries, when ktstr printed one: decimal
/// (`97`, `-1`), hex (`0x2a`), a cpumask (`0xf(0-3)`, `0x..._...(..)`), a raw
/// argument (`int:5`, `hex:0x10`, `mask:0x3(0-1)`, `ptr:1a2b`, the low 16 bits
/// only), a DSQ id (`DSQ(0x2a)`, `BUILTIN(3)`, `dsq:DSQ(0x2a)`). `None` for
/// symbolic values (`SCX_DSQ_LOCAL`, `QUEUED|ENABLED`, `NONE`, `true`).
pub fn value_number(value: &str) -> Option<i128> {
    let v = value.trim();
    if let Some(r) = v.strip_prefix("int:") {
        return decimal(r);
    }
    if let Some(r) = v.strip_prefix("ptr:") {
        return hex(r);
    }
    if let Some(r) = v
        .strip_prefix("hex:")
        .or_else(|| v.strip_prefix("mask:"))
        .or_else(|| v.strip_prefix("dsq:"))
    {
        return value_number(r);
    }
    if let Some(r) = v.strip_prefix("DSQ(").and_then(|r| r.strip_suffix(')')) {
        return value_number(r);
    }
    if let Some(r) = v.strip_prefix("BUILTIN(").and_then(|r| r.strip_suffix(')')) {
        return value_number(r);
    }
    if let Some(r) = v.strip_prefix("0x") {
        // A cpumask carries its CPU list in parentheses.
        let digits = r.split_once('(').map_or(r, |(h, _)| h);
        return hex(&digits.replace('_', ""));
    }
    decimal(v)
}

fn decimal(s: &str) -> Option<i128> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn hex(s: &str) -> Option<i128> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    i128::from_str_radix(s, 16).ok()
}

/// Columns of a line's leading whitespace (tabs to the next multiple of 8).
fn lead_width(line: &str) -> usize {
    line.chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .fold(0, |w, c| if c == '\t' { (w / 8 + 1) * 8 } else { w + 1 })
}

/// Width in characters, as Rust's `{:<w$}` pads.
fn width(s: &str) -> usize {
    s.chars().count()
}

// ---------------------------------------------------------------------------
// Parsing

/// Parses an auto-repro body (the section body, without its
/// `--- auto-repro ---` header). Never fails: what is not understood is kept.
pub fn parse(body: &str) -> AutoRepro {
    let (content, final_newline) = match body.strip_suffix('\n') {
        Some(c) => (c, true),
        None => (body, false),
    };
    let lines: Vec<&str> = if body.is_empty() {
        Vec::new()
    } else {
        content.split('\n').collect()
    };
    let indent = common_indent(&lines);
    let model = parse_lines(&lines, indent, final_newline);
    if write(&model) == body {
        return model;
    }
    // A whitespace-only line the uniform indent cannot give back: read the
    // lines as they are. Every line then round-trips on its own.
    let model = parse_lines(&lines, "", final_newline);
    if write(&model) == body {
        return model;
    }
    // Not reachable; kept so that the round trip holds whatever happens.
    let blocks: Vec<Block> = lines
        .iter()
        .map(|l| match *l {
            "" => Block::Blank,
            l => Block::Unknown {
                text: l.to_string(),
            },
        })
        .collect();
    AutoRepro {
        indent: String::new(),
        skipped: blocks
            .iter()
            .filter(|b| matches!(b, Block::Unknown { .. }))
            .count(),
        blocks,
        final_newline,
    }
}

/// The longest run of spaces and tabs that starts every non-empty line.
fn common_indent<'a>(lines: &[&'a str]) -> &'a str {
    let mut common: Option<&'a str> = None;
    for l in lines.iter().filter(|l| !l.is_empty()) {
        let lead = &l[..l.len() - l.trim_start_matches([' ', '\t']).len()];
        common = Some(match common {
            None => lead,
            Some(c) => {
                let n = c
                    .bytes()
                    .zip(lead.bytes())
                    .take_while(|(a, b)| a == b)
                    .count();
                // Both are ASCII: any byte index is a character boundary.
                &c[..n]
            }
        });
    }
    common.unwrap_or("")
}

fn parse_lines(raw: &[&str], indent: &str, final_newline: bool) -> AutoRepro {
    let lines: Vec<&str> = raw
        .iter()
        .map(|l| l.strip_prefix(indent).unwrap_or(""))
        .collect();
    let mut p = Parser {
        lines,
        i: 0,
        skipped: 0,
    };
    let mut blocks = Vec::new();
    while let Some(line) = p.peek() {
        let t = line.trim();
        if line.is_empty() {
            p.i += 1;
            blocks.push(Block::Blank);
        } else if t == PIPELINE_HEADER {
            blocks.push(Block::Pipeline(p.pipeline(true)));
        } else if auto_probe_title(t).is_some() {
            blocks.push(Block::AutoProbe(p.auto_probe()));
        } else if tail_name(t).is_some() {
            let (tail, blanks) = p.tail();
            blocks.push(Block::Tail(tail));
            blocks.extend((0..blanks).map(|_| Block::Blank));
        } else if let Some(value) = t.strip_prefix(DURATION_PREFIX) {
            p.i += 1;
            let mut d = Duration {
                value: value.to_string(),
                seconds: value
                    .strip_suffix('s')
                    .and_then(|s| s.parse::<f64>().ok())
                    .filter(|s| s.is_finite()),
                verbatim: None,
            };
            if d.line() != line {
                d.verbatim = Some(line.to_string());
            }
            blocks.push(Block::Duration(d));
        } else if let Some(verdict) = StatusKind::classify(t) {
            p.i += 1;
            let status = Status {
                text: t.to_string(),
                verdict,
                verbatim: (t != line).then(|| line.to_string()),
            };
            blocks.push(Block::Status(status));
        } else if parse_stage(line).is_some_and(|s| KNOWN_STAGES.contains(&s.label.as_str())) {
            // A pipeline block cut above its header (a quoted excerpt).
            blocks.push(Block::Pipeline(p.pipeline(false)));
        } else {
            p.i += 1;
            p.skipped += 1;
            blocks.push(Block::Unknown {
                text: line.to_string(),
            });
        }
    }
    AutoRepro {
        indent: indent.to_string(),
        blocks,
        final_newline,
        skipped: p.skipped,
    }
}

const DURATION_PREFIX: &str = "repro VM duration: ";

/// The labels of ktstr's `format_probe_diagnostics`.
const KNOWN_STAGES: [&str; 13] = [
    "extracted",
    "traceable",
    "bpf_discover",
    "after_expand",
    "kprobes",
    "kprobe_miss",
    "fentry",
    "trigger",
    "ERROR",
    "probe_data",
    "events",
    "bpf_counts",
    "miss_ips",
];

/// A line that starts a part of the body (ends an AUTO-PROBE listing).
fn is_block_start(t: &str) -> bool {
    t == PIPELINE_HEADER
        || auto_probe_title(t).is_some()
        || tail_name(t).is_some()
        || t.starts_with(DURATION_PREFIX)
        || StatusKind::classify(t).is_some()
}

/// `=== AUTO-PROBE: <title> ===` → the title.
fn auto_probe_title(t: &str) -> Option<&str> {
    let rest = t.strip_prefix("=== AUTO-PROBE")?.strip_suffix("===")?;
    Some(rest.trim().strip_prefix(':').unwrap_or(rest.trim()).trim())
}

/// `--- repro VM <name> ---` → the name.
fn tail_name(t: &str) -> Option<&str> {
    let name = t
        .strip_prefix("--- repro VM ")?
        .strip_suffix(" ---")?
        .trim();
    (!name.is_empty()).then_some(name)
}

struct Parser<'a> {
    lines: Vec<&'a str>,
    i: usize,
    skipped: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&'a str> {
        self.lines.get(self.i).copied()
    }

    fn pipeline(&mut self, header: bool) -> Pipeline {
        let mut block = Pipeline {
            header,
            ..Pipeline::default()
        };
        if header {
            if let Some(line) = self.peek() {
                self.i += 1;
                if line != PIPELINE_HEADER {
                    block.header_verbatim = Some(line.to_string());
                }
            }
        }
        while let Some(stage) = self.peek().and_then(parse_stage) {
            self.i += 1;
            block.stages.push(stage);
        }
        block
    }

    fn auto_probe(&mut self) -> AutoProbe {
        let mut block = AutoProbe {
            field_width: 8,
            ..AutoProbe::default()
        };
        if let Some(line) = self.peek() {
            self.i += 1;
            block.title = auto_probe_title(line.trim())
                .unwrap_or_default()
                .to_string();
            if block.header_line() != line {
                block.header_verbatim = Some(line.to_string());
            }
        }
        if self.peek() == Some("") {
            self.i += 1;
            block.blank_after_header = true;
        }
        let start = self.i;
        while self
            .peek()
            .is_some_and(|l| !l.is_empty() && !is_block_start(l.trim()))
        {
            self.i += 1;
        }
        let listing: Vec<&str> = self.lines[start..self.i].to_vec();
        block.field_width = field_width(&listing);
        for line in listing {
            if let Some(entry) = self.probe_line(&mut block, line) {
                block.entries.push(entry);
            }
        }
        block
    }

    /// One line of the listing: a new entry, or `None` when it joined the
    /// last function.
    fn probe_line(&mut self, block: &mut AutoProbe, line: &str) -> Option<ProbeEntry> {
        let s = line.trim_start();
        let unknown = |p: &mut Parser<'_>| {
            p.skipped += 1;
            ProbeEntry::Unknown {
                text: line.to_string(),
            }
        };
        // ktstr indents functions and stack lines by 2, struct headers by 4,
        // fields by 6; a line indented less than 4 is tried as a function first.
        if lead_width(line) < 4 {
            if let Some(f) = parse_function_line(line) {
                return Some(ProbeEntry::Function(f));
            }
            if let Some(frame) = parse_frame(s) {
                let text = s.to_string();
                let verbatim = (format!("  {text}") != line).then(|| line.to_string());
                return Some(ProbeEntry::Frame(StackLine {
                    text,
                    frame: Some(frame),
                    verbatim,
                }));
            }
        }
        let Some(ProbeEntry::Function(func)) = block.entries.last_mut() else {
            return Some(unknown(self));
        };
        if let Some((type_name, name)) = group_header(s) {
            let mut arg = StructArg {
                type_name: type_name.to_string(),
                name: name.to_string(),
                ..StructArg::default()
            };
            if arg.header_line() != line {
                arg.verbatim = Some(line.to_string());
            }
            func.args.push(Arg::Struct(arg));
            return None;
        }
        let Some(parsed) = parse_field(line) else {
            if lead_width(line) < 4 {
                // At the functions' level (`  ...` in abridged docs).
                return Some(unknown(self));
            }
            self.skipped += 1;
            func.args.push(Arg::Unknown {
                text: line.to_string(),
            });
            return None;
        };
        let ParsedField {
            mut field,
            arrow_pad,
            ..
        } = parsed;
        if let Some(pad) = arrow_pad {
            if !func.fields().any(Field::changed) {
                func.arrow_column = pad;
            }
        }
        if field.line(block.field_width, func.arrow_column) != line {
            field.verbatim = Some(line.to_string());
        }
        match func.args.last_mut() {
            Some(Arg::Struct(s)) => s.fields.push(field),
            _ => func.args.push(Arg::Scalar(field)),
        }
        None
    }

    /// A tail and the number of empty lines after it.
    fn tail(&mut self) -> (Tail, usize) {
        let mut tail = Tail {
            name: String::new(),
            kind: TailKind::Other,
            header_verbatim: None,
            lines: Vec::new(),
        };
        if let Some(line) = self.peek() {
            self.i += 1;
            tail.name = tail_name(line.trim()).unwrap_or_default().to_string();
            tail.kind = TailKind::from_name(&tail.name);
            if tail.header_line() != line {
                tail.header_verbatim = Some(line.to_string());
            }
        }
        while let Some(line) = self.peek() {
            if tail_name(line.trim()).is_some() {
                break;
            }
            self.i += 1;
            tail.lines.push(line.to_string());
        }
        let mut blanks = 0;
        while tail.lines.last().is_some_and(String::is_empty) {
            tail.lines.pop();
            blanks += 1;
        }
        (tail, blanks)
    }
}

/// `  <label>: <value>` with a one-word label.
fn parse_stage(line: &str) -> Option<Stage> {
    let s = line.trim_start();
    let (label, rest) = s.split_once(':')?;
    if label.is_empty() || !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return None;
    }
    let value = rest.trim_start();
    let mut stage = Stage {
        label: label.to_string(),
        value: value.to_string(),
        info: StageInfo::parse(label, value),
        verbatim: None,
    };
    if stage.line() != line {
        stage.verbatim = Some(line.to_string());
    }
    Some(stage)
}

/// `<n> <rest>` → (n, rest).
fn count(s: &str) -> Option<(u64, &str)> {
    let (n, rest) = s.split_once(' ')?;
    Some((n.parse().ok()?, rest))
}

/// `<n><suffix>` exactly.
fn count_then(s: &str, suffix: &str) -> Option<u64> {
    s.strip_suffix(suffix)?.parse().ok()
}

fn list(s: &str) -> Vec<String> {
    s.split(", ")
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

impl StageInfo {
    fn parse(label: &str, value: &str) -> StageInfo {
        let v = value.trim_end();
        let info = match label {
            "extracted" => count_then(v, " functions from crash backtrace")
                .map(|functions| StageInfo::Extracted { functions }),
            "traceable" => Self::traceable(v),
            "bpf_discover" => {
                count_then(v, " programs found").map(|programs| StageInfo::BpfDiscover { programs })
            }
            "after_expand" => count_then(v, " total probe targets")
                .map(|targets| StageInfo::AfterExpand { targets }),
            "kprobes" | "fentry" => Self::attached(v),
            "kprobe_miss" => v.split_once(" unresolved").and_then(|(n, rest)| {
                Some(StageInfo::KprobeMiss {
                    unresolved: n.parse().ok()?,
                    names: list(rest.strip_prefix(':').unwrap_or(rest)),
                })
            }),
            "trigger" => Self::trigger(v),
            "ERROR" => Some(StageInfo::Error {
                message: v.to_string(),
            }),
            "probe_data" => v.split_once(", ").and_then(|(a, b)| {
                Some(StageInfo::ProbeData {
                    keys: count_then(a, " keys")?,
                    unmatched_ips: count_then(b, " unmatched IPs")?,
                })
            }),
            "events" => Self::events(v),
            "bpf_counts" => Self::bpf_counts(v),
            "miss_ips" => Some(StageInfo::MissIps { ips: list(v) }),
            _ => None,
        };
        info.unwrap_or(StageInfo::Other)
    }

    fn traceable(v: &str) -> Option<StageInfo> {
        if let Some(passed) = count_then(v, " passed filter") {
            return Some(StageInfo::Traceable {
                passed,
                dropped: 0,
                dropped_names: Vec::new(),
            });
        }
        let (passed, rest) = v.split_once(" passed, ")?;
        let (dropped, names) = rest.split_once(" dropped")?;
        Some(StageInfo::Traceable {
            passed: passed.parse().ok()?,
            dropped: dropped.parse().ok()?,
            dropped_names: list(names.strip_prefix(':').unwrap_or(names)),
        })
    }

    fn attached(v: &str) -> Option<StageInfo> {
        if let Some(attached) = count_then(v, " attached") {
            return Some(StageInfo::Attached {
                attached,
                failed: 0,
                failures: None,
            });
        }
        let (attached, rest) = v.split_once(" attached, ")?;
        let (failed, failures) = count(rest)?;
        let failures = failures.strip_prefix("failed")?;
        Some(StageInfo::Attached {
            attached: attached.parse().ok()?,
            failed,
            failures: failures
                .strip_prefix(':')
                .map(|f| f.trim().to_string())
                .filter(|f| !f.is_empty()),
        })
    }

    fn trigger(v: &str) -> Option<StageInfo> {
        let (state, rest) = [
            ("fired", TriggerState::Fired),
            ("not fired", TriggerState::NotFired),
            ("attach failed", TriggerState::AttachFailed),
        ]
        .into_iter()
        .find_map(|(word, state)| Some((state, v.strip_prefix(word)?.strip_prefix(' ')?)))?;
        let detail = rest.strip_prefix('(')?.strip_suffix(')')?;
        Some(StageInfo::Trigger {
            state,
            detail: detail.to_string(),
        })
    }

    fn bpf_counts(v: &str) -> Option<StageInfo> {
        let parts: Vec<&str> = v.split(", ").collect();
        let [a, b, c] = parts[..] else {
            return None;
        };
        Some(StageInfo::BpfCounts {
            kprobe_fires: count_then(a, " kprobe fires")?,
            trigger_fires: count_then(b, " trigger fires")?,
            meta_misses: count_then(c, " meta misses")?,
        })
    }

    fn events(v: &str) -> Option<StageInfo> {
        let (counts, cause) = match v.split_once(" — ") {
            Some((c, cause)) => (c, Some(cause.to_string())),
            None => (v, None),
        };
        let (captured, after) = counts.split_once(", ")?;
        Some(StageInfo::Events {
            captured: count_then(captured, " captured")?,
            after_stitch: count_then(after, " after stitch")?,
            cause,
        })
    }
}

impl StatusKind {
    /// The status a line states, or `None` for a line that is not a status.
    fn classify(t: &str) -> Option<StatusKind> {
        if let Some(rest) = t.strip_prefix("repro VM: ") {
            let rest = rest.trim_end();
            return Some(Self::verdict(rest).unwrap_or(StatusKind::OtherVerdict));
        }
        if let Some(rest) = t.strip_prefix("PRIMARY DID NOT REACH WORKLOAD") {
            let detail = rest.trim().strip_prefix('—').unwrap_or(rest).trim();
            return Some(StatusKind::PrimaryDidNotReachWorkload {
                detail: detail.to_string(),
            });
        }
        if t.starts_with("auto-repro: no probe data") {
            return Some(StatusKind::NoProbeData);
        }
        None
    }

    fn verdict(rest: &str) -> Option<StatusKind> {
        match rest {
            "timed out" => return Some(StatusKind::TimedOut),
            "scheduler ran normally (crash did not reproduce)" => {
                return Some(StatusKind::RanNormally)
            }
            _ => {}
        }
        if let Some(inner) = rest.strip_prefix("scheduler did not attach (") {
            let (reason, exit_code) = match inner.rsplit_once(") (exit code ") {
                Some((reason, code)) => (reason, code.strip_suffix(')')?.parse().ok()),
                None => (inner.strip_suffix(')').unwrap_or(inner), None),
            };
            return Some(StatusKind::NotAttached {
                reason: reason.to_string(),
                exit_code,
            });
        }
        if let Some(clause) = rest.strip_prefix("scheduler crashed — ") {
            let paren = |prefix: &str| -> Option<i64> {
                clause.strip_prefix(prefix)?.strip_suffix(')')?.parse().ok()
            };
            let exit_status = if clause == "exited cleanly" {
                Some(0)
            } else {
                paren("exited with non-zero status (")
            };
            return Some(StatusKind::SchedulerCrashed {
                clause: clause.to_string(),
                signal: paren("killed by signal ("),
                exit_status,
            });
        }
        let code = rest
            .strip_prefix("exited abnormally (exit code ")?
            .strip_suffix(')')?;
        Some(StatusKind::ExitedAbnormally {
            exit_code: code.parse().ok(),
        })
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.$".contains(c))
}

/// `  <name>[ <padding><file>:<line>]`.
fn parse_function_line(line: &str) -> Option<Function> {
    let s = line.trim_end();
    let mut tokens = s.split_whitespace();
    let name = tokens.next()?;
    let loc = tokens.next();
    if tokens.next().is_some() || !valid_name(name) {
        return None;
    }
    let mut f = Function {
        name: name.to_string(),
        ..Function::default()
    };
    if let Some(loc) = loc {
        let (file, n) = loc.rsplit_once(':')?;
        if file.is_empty() || n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let location = Location {
            file: file.to_string(),
            line: n.parse().ok()?,
        };
        f.kind = if location.file.contains('/') {
            FunctionKind::Kernel
        } else {
            FunctionKind::Bpf
        };
        f.location = Some(location);
        // The location is the last token of the trimmed line.
        f.location_column = width(&s[..s.len() - loc.len()]);
    }
    if f.line() != line {
        f.verbatim = Some(line.to_string());
    }
    Some(f)
}

/// ktstr's `W`, read from the first field line in ktstr's own indent (the
/// value sits two spaces after the 6-space indent and `W`); 8 without one.
fn field_width(listing: &[&str]) -> usize {
    listing
        .iter()
        .find_map(|l| {
            let rest = l.strip_prefix("      ")?;
            if rest.starts_with([' ', '\t']) || group_header(rest).is_some() {
                return None;
            }
            parse_field(l).map(|f| f.value_column.saturating_sub(8))
        })
        .unwrap_or(8)
}

/// `<struct> *<param>`.
fn group_header(s: &str) -> Option<(&str, &str)> {
    let (ty, name) = s.trim_end().rsplit_once(" *")?;
    let ty_ok = !ty.is_empty()
        && !ty.starts_with(' ')
        && !ty.contains("  ")
        && ty
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ' ');
    let name_ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    (ty_ok && name_ok).then_some((ty, name))
}

struct ParsedField {
    field: Field,
    /// Column of the value.
    value_column: usize,
    /// Width of the entry value and its padding before `  →  `.
    arrow_pad: Option<usize>,
}

/// `      <name>[ (<type>)]<padding><value>[<padding>  →  <exit>]`.
fn parse_field(line: &str) -> Option<ParsedField> {
    let s = line.trim_start();
    let first_end = s.find(char::is_whitespace)?;
    let name = &s[..first_end];
    let name_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.[]->".contains(c));
    if !name_ok {
        return None;
    }
    let mut name_end = first_end;
    let mut type_name = None;
    if let Some(r) = s[first_end..].strip_prefix(" (") {
        if let Some(close) = r.find(')') {
            let after = &r[close + 1..];
            if close > 0 && after.starts_with(char::is_whitespace) {
                type_name = Some(r[..close].to_string());
                name_end = first_end + 2 + close + 1;
            }
        }
    }
    let rest = &s[name_end..];
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let value_text = rest.trim_start();
    if value_text.is_empty() {
        return None;
    }
    let value_column = width(&line[..line.len() - value_text.len()]);
    let arrow = value_text.match_indices(ARROW).map(|(i, _)| i).find(|&i| {
        value_text[..i].ends_with(' ') && value_text[i + ARROW.len_utf8()..].starts_with(' ')
    });
    let (value, exit_value, arrow_pad) = match arrow {
        Some(i) => {
            let entry_part = &value_text[..i];
            let entry = entry_part.trim_end();
            let exit = value_text[i + ARROW.len_utf8()..].trim_start();
            if entry.is_empty() || exit.is_empty() {
                (value_text, None, None)
            } else {
                let pad = width(entry_part).saturating_sub(2);
                (entry, Some(exit.to_string()), Some(pad))
            }
        }
        None => (value_text, None, None),
    };
    Some(ParsedField {
        field: Field {
            name: name.to_string(),
            type_name,
            value: value.to_string(),
            exit_value,
            verbatim: None,
        },
        value_column,
        arrow_pad,
    })
}

// ---------------------------------------------------------------------------
// Writing

/// The body in ktstr's layout (no `--- auto-repro ---` header). Elements
/// with a `verbatim` line are written as read.
pub fn write(model: &AutoRepro) -> String {
    let mut lines = Vec::new();
    for block in &model.blocks {
        block.write_lines(&mut lines);
    }
    let mut out = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
    for (k, line) in lines.iter().enumerate() {
        if k > 0 {
            out.push('\n');
        }
        if !line.is_empty() {
            out.push_str(&model.indent);
        }
        out.push_str(line);
    }
    if model.final_newline {
        out.push('\n');
    }
    out
}

fn or_verbatim(verbatim: &Option<String>, canonical: impl FnOnce() -> String) -> String {
    verbatim.clone().unwrap_or_else(canonical)
}

impl Block {
    fn write_lines(&self, out: &mut Vec<String>) {
        match self {
            Block::Pipeline(p) => {
                if p.header {
                    out.push(or_verbatim(&p.header_verbatim, || {
                        PIPELINE_HEADER.to_string()
                    }));
                }
                out.extend(
                    p.stages
                        .iter()
                        .map(|s| or_verbatim(&s.verbatim, || s.line())),
                );
            }
            Block::AutoProbe(a) => a.write_lines(out),
            Block::Status(s) => out.push(or_verbatim(&s.verbatim, || s.text.clone())),
            Block::Duration(d) => out.push(or_verbatim(&d.verbatim, || d.line())),
            Block::Tail(t) => {
                out.push(or_verbatim(&t.header_verbatim, || t.header_line()));
                out.extend(t.lines.iter().cloned());
            }
            Block::Blank => out.push(String::new()),
            Block::Unknown { text } => out.push(text.clone()),
        }
    }
}

impl Stage {
    /// ktstr's `  {label:<12} {value}` with the colon inside the padding.
    fn line(&self) -> String {
        let label = format!("{}:", self.label);
        format!("  {label:<12} {}", self.value)
    }
}

impl Duration {
    fn line(&self) -> String {
        format!("{DURATION_PREFIX}{}", self.value)
    }
}

impl Tail {
    fn header_line(&self) -> String {
        format!("--- repro VM {} ---", self.name)
    }
}

impl AutoProbe {
    fn header_line(&self) -> String {
        format!("=== AUTO-PROBE: {} ===", self.title)
    }

    fn write_lines(&self, out: &mut Vec<String>) {
        out.push(or_verbatim(&self.header_verbatim, || self.header_line()));
        if self.blank_after_header {
            out.push(String::new());
        }
        for entry in &self.entries {
            match entry {
                ProbeEntry::Function(f) => {
                    out.push(or_verbatim(&f.verbatim, || f.line()));
                    for arg in &f.args {
                        match arg {
                            Arg::Struct(s) => {
                                out.push(or_verbatim(&s.verbatim, || s.header_line()));
                                out.extend(s.fields.iter().map(|x| {
                                    or_verbatim(&x.verbatim, || {
                                        x.line(self.field_width, f.arrow_column)
                                    })
                                }));
                            }
                            Arg::Scalar(x) => out.push(or_verbatim(&x.verbatim, || {
                                x.line(self.field_width, f.arrow_column)
                            })),
                            Arg::Unknown { text } => out.push(text.clone()),
                        }
                    }
                }
                ProbeEntry::Frame(s) => {
                    out.push(or_verbatim(&s.verbatim, || format!("  {}", s.text)))
                }
                ProbeEntry::Unknown { text } => out.push(text.clone()),
            }
        }
    }
}

impl Function {
    /// `  <name padded to the location column><file:line>`, or `  <name>`.
    fn line(&self) -> String {
        match &self.location {
            Some(loc) => format!(
                "  {:<w$}{loc}",
                self.name,
                w = self.location_column.saturating_sub(2)
            ),
            None => format!("  {}", self.name),
        }
    }
}

impl StructArg {
    fn header_line(&self) -> String {
        format!("    {} *{}", self.type_name, self.name)
    }
}

impl Field {
    /// `      <name:W>  <value>` or `      <name:W>  <entry:A>  →  <exit>`.
    fn line(&self, field_width: usize, arrow_column: usize) -> String {
        let value = match &self.exit_value {
            Some(exit) => format!("{:<arrow_column$}  {ARROW}  {exit}", self.value),
            None => self.value.clone(),
        };
        format!("      {:<field_width$}  {value}", self.display_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_newline_only_round_trip() {
        for body in ["", "\n", "\n\n", "   ", "  \n    x", "x\n  \n"] {
            assert_eq!(write(&parse(body)), body, "{body:?}");
        }
        assert_eq!(parse("").blocks, Vec::new());
    }

    #[test]
    fn status_lines_are_classified() {
        let kinds: Vec<StatusKind> = [
            "repro VM: timed out",
            "repro VM: scheduler did not attach (timeout) (exit code 1)",
            "repro VM: scheduler crashed — killed by signal (9)",
            "repro VM: scheduler crashed — exited cleanly",
            "repro VM: exited abnormally (exit code 137)",
            "repro VM: scheduler ran normally (crash did not reproduce)",
            "repro VM: something new",
        ]
        .iter()
        .map(|l| StatusKind::classify(l).unwrap())
        .collect();
        assert_eq!(kinds[0], StatusKind::TimedOut);
        assert_eq!(
            kinds[1],
            StatusKind::NotAttached {
                reason: "timeout".into(),
                exit_code: Some(1)
            }
        );
        assert!(matches!(
            kinds[2],
            StatusKind::SchedulerCrashed {
                signal: Some(9),
                exit_status: None,
                ..
            }
        ));
        assert!(matches!(
            kinds[3],
            StatusKind::SchedulerCrashed {
                exit_status: Some(0),
                ..
            }
        ));
        assert_eq!(
            kinds[4],
            StatusKind::ExitedAbnormally {
                exit_code: Some(137)
            }
        );
        assert_eq!(kinds[5], StatusKind::RanNormally);
        assert_eq!(kinds[6], StatusKind::OtherVerdict);
    }

    #[test]
    fn pipeline_stage_values() {
        let info = |label: &str, v: &str| StageInfo::parse(label, v);
        assert_eq!(
            info("kprobes", "3 attached, 2 failed: a (ENOENT), b (E2BIG, x)"),
            StageInfo::Attached {
                attached: 3,
                failed: 2,
                failures: Some("a (ENOENT), b (E2BIG, x)".into())
            }
        );
        assert_eq!(
            info("kprobe_miss", "2 unresolved: a, b"),
            StageInfo::KprobeMiss {
                unresolved: 2,
                names: vec!["a".into(), "b".into()]
            }
        );
        assert_eq!(
            info("trigger", "not fired (tp_btf)"),
            StageInfo::Trigger {
                state: TriggerState::NotFired,
                detail: "tp_btf".into()
            }
        );
        assert_eq!(
            info(
                "events",
                "146 captured, 0 after stitch — trigger never fired (timing race)"
            ),
            StageInfo::Events {
                captured: 146,
                after_stitch: 0,
                cause: Some("trigger never fired (timing race)".into())
            }
        );
        assert_eq!(
            info("miss_ips", "0xffffffff81000000, 0x10"),
            StageInfo::MissIps {
                ips: vec!["0xffffffff81000000".into(), "0x10".into()]
            }
        );
        assert_eq!(info("extracted", "many"), StageInfo::Other);
    }

    #[test]
    fn printed_numbers() {
        assert_eq!(value_number("97"), Some(97));
        assert_eq!(value_number("-1"), Some(-1));
        assert_eq!(value_number("0xf(0-3)"), Some(15));
        assert_eq!(
            value_number("0x0000000000000001_0000000000000000(64)"),
            Some(1 << 64)
        );
        assert_eq!(value_number("int:5"), Some(5));
        assert_eq!(value_number("ptr:1a2b"), Some(0x1a2b));
        assert_eq!(value_number("dsq:DSQ(0x2a)"), Some(42));
        assert_eq!(value_number("SCX_DSQ_LOCAL"), None);
        assert_eq!(value_number("QUEUED|ENABLED"), None);
        assert_eq!(value_number("-"), None);
    }

    #[test]
    fn lay_out_gives_ktstr_columns() {
        let field = |name: &str, value: &str, exit: Option<&str>| Field {
            name: name.into(),
            value: value.into(),
            exit_value: exit.map(str::to_string),
            ..Field::default()
        };
        let mut probe = AutoProbe {
            title: "scx_exit fired".into(),
            blank_after_header: true,
            entries: vec![ProbeEntry::Function(Function {
                name: "do_enqueue_task".into(),
                kind: FunctionKind::Kernel,
                location: Some(Location {
                    file: "kernel/sched/ext.c".into(),
                    line: 1344,
                }),
                args: vec![Arg::Struct(StructArg {
                    type_name: "task_struct".into(),
                    name: "p".into(),
                    fields: vec![
                        field("pid", "97", None),
                        field("dsq_id", "SCX_DSQ_INVALID", Some("SCX_DSQ_LOCAL")),
                    ],
                    verbatim: None,
                })],
                ..Function::default()
            })],
            ..AutoProbe::default()
        };
        probe.lay_out();
        let model = AutoRepro {
            blocks: vec![Block::AutoProbe(probe)],
            final_newline: true,
            ..AutoRepro::default()
        };
        let text = write(&model);
        // W = 8; values: longest 15 → loc_col = max(6+8+2+15, 24) + 4 = 35.
        let expected = "=== AUTO-PROBE: scx_exit fired ===\n\n".to_string()
            + &format!("  {:<35}kernel/sched/ext.c:1344\n", "do_enqueue_task")
            + "    task_struct *p\n"
            + "      pid       97\n"
            + "      dsq_id    SCX_DSQ_INVALID  →  SCX_DSQ_LOCAL\n";
        assert_eq!(text, expected);
        assert_eq!(parse(&text), model);
    }
}
