//! scxray's own `--- auto-repro ---` section: what the repro run's probes
//! saw, in ktstr's layout (`format_repro_output`), so that the section reads
//! and parses like ktstr's ([`crate::sections::auto_repro`] reads it back).
//!
//! In order: the `--- probe pipeline ---` block (what was extracted,
//! attached, fired, captured and stitched), the `=== AUTO-PROBE ===` block
//! with each stitched call and its decoded arguments, the repro VM's status
//! line, `repro VM duration:`, and the four tails.
//!
//! Deliberate differences from ktstr, so nothing is hidden:
//! - the status line is printed also with probe data when the crash did not
//!   reproduce (ktstr prints it only without probe data);
//! - with `--repro-runs N`, a `repro VM: reproduced k/N with the same
//!   signature (...)` line follows;
//! - the BPF function the crash happened in shows the line of the faulting
//!   call (from the backtrace's offset through the JIT line table) instead of
//!   the function's first line;
//! - return probes that failed get a `returns:` pipeline line.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::chain::{Chain, ChainError, Target};
use super::decode::{cpumask, dsq_id, raw_arg, FieldDecoder, RenderHint};
use super::signature::Signature;
use super::stitch::{stitch, Call};
use crate::report::{Crash, FrameClass, Report, SectionKind};
use crate::run::probe_text::ProbeLog;
use crate::run::record::{ProbeAttach, ProbeField, ProbeHit, ProbeLayout, ProbeParam};
use crate::sections::auto_repro::{
    self, Arg, AutoProbe, AutoRepro, Block, Field, Function, FunctionKind, Location, ProbeEntry,
    StructArg, PIPELINE_HEADER,
};
use crate::sections::section_body;

/// Lines per tail, as ktstr.
const TAIL_LINES: usize = 40;
const DUMP_MARKER: &str = "sched_ext_dump:";

/// How one repro run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The scheduler crashed again; `signature` is its crash's.
    Crashed {
        signature: Option<Signature>,
        /// `exited with non-zero status (1)`, `killed by signal (9)`, ...
        clause: String,
    },
    RanNormally,
    TimedOut,
    NotAttached {
        reason: String,
    },
    /// The guest failed (kernel panic, QEMU died) or was cancelled.
    Abnormal {
        detail: String,
    },
}

impl Verdict {
    /// ktstr's status line (`classify_repro_vm_status`).
    pub fn status_line(&self) -> String {
        match self {
            Verdict::Crashed { clause, .. } => format!("repro VM: scheduler crashed — {clause}"),
            Verdict::RanNormally => {
                "repro VM: scheduler ran normally (crash did not reproduce)".into()
            }
            Verdict::TimedOut => "repro VM: timed out".into(),
            Verdict::NotAttached { reason } => {
                format!("repro VM: scheduler did not attach ({reason})")
            }
            Verdict::Abnormal { detail } => format!("repro VM: exited abnormally ({detail})"),
        }
    }

    pub fn reproduced(&self) -> bool {
        matches!(self, Verdict::Crashed { .. })
    }
}

/// One finished repro run, as the section needs it.
#[derive(Debug, Clone)]
pub struct ReproRun {
    /// The repro VM's own report (its crash, logs, dump, console).
    pub report: Report,
    pub probes: ProbeLog,
    pub duration_ms: Option<u64>,
    pub verdict: Verdict,
}

/// What the section is built from.
pub struct Inputs<'a> {
    /// The crash of the run being reproduced.
    pub primary: &'a Crash,
    /// Its chain, or why it has none (a stall: no probes).
    pub chain: &'a Result<Chain, ChainError>,
    pub runs: &'a [ReproRun],
    pub decoder: &'a FieldDecoder,
    /// The guest's CPU count (cpumasks are cut to it).
    pub nr_cpus: Option<u32>,
    /// Kernel functions' source lines by symbol (from DWARF, when the
    /// kernel's debug info is at hand).
    pub kernel_lines: &'a HashMap<String, Location>,
}

/// The run whose probe data the section shows: the first that reproduced
/// with stitched calls, else the first that reproduced, else the first.
pub fn shown(runs: &[ReproRun]) -> Option<&ReproRun> {
    runs.iter()
        .find(|r| r.verdict.reproduced() && !stitch(&r.probes.events).calls.is_empty())
        .or_else(|| runs.iter().find(|r| r.verdict.reproduced()))
        .or_else(|| runs.first())
}

/// The section body (no trailing newline).
pub fn build(inputs: &Inputs<'_>) -> String {
    let Some(run) = shown(inputs.runs) else {
        return String::new();
    };
    let mut parts: Vec<String> = Vec::new();
    let probed = inputs.chain.is_ok() && !run.probes.is_empty();
    if probed {
        let stitched = stitch(&run.probes.events);
        let mut probe = pipeline(inputs, &run.probes, stitched.calls.len());
        if !stitched.calls.is_empty() {
            let block = auto_probe(inputs, &run.probes, &stitched.calls);
            probe.push_str("\n\n");
            probe.push_str(&block);
        }
        parts.push(probe);
    }
    let mut status = Vec::new();
    if !probed || !run.verdict.reproduced() {
        status.push(run.verdict.status_line());
    }
    if inputs.runs.len() > 1 {
        let expected = Signature::of(inputs.primary);
        let of = inputs.runs.len();
        let mut same = 0;
        // Each run that did not count says what it did instead.
        for (i, r) in inputs.runs.iter().enumerate() {
            let what = match &r.verdict {
                Verdict::Crashed {
                    signature: Some(s), ..
                } if *s == expected => {
                    same += 1;
                    continue;
                }
                Verdict::Crashed {
                    signature: Some(s),
                    clause,
                } => format!("scheduler crashed — {clause}, with another signature ({s})"),
                Verdict::Crashed { clause, .. } => {
                    format!("scheduler crashed — {clause}, with no crash message to compare")
                }
                v => v.status_line().trim_start_matches("repro VM: ").to_string(),
            };
            status.push(format!("repro VM: run {}/{of}: {what}", i + 1));
        }
        status.push(format!(
            "repro VM: reproduced {same}/{of} with the same signature ({expected})"
        ));
    }
    let mut tail = status.join("\n");
    if let Some(ms) = run.duration_ms {
        if !tail.is_empty() {
            tail.push('\n');
        }
        let _ = write!(tail, "repro VM duration: {:.1}s", ms as f64 / 1000.0);
    }
    if !tail.is_empty() {
        parts.push(tail);
    }
    let mut out = parts.join("\n\n");
    for (name, lines) in tails(&run.report) {
        out.push_str("\n\n--- repro VM ");
        out.push_str(name);
        out.push_str(" ---");
        for l in lines {
            out.push('\n');
            out.push_str(&l);
        }
    }
    out.trim_start_matches('\n').to_string()
}

/// The structured model of [`build`]'s body.
pub fn model(inputs: &Inputs<'_>) -> AutoRepro {
    auto_repro::parse(&build(inputs))
}

fn label(label: &str, value: &str) -> String {
    format!("  {:<12} {value}", format!("{label}:"))
}

fn attached_line(attaches: &[&ProbeAttach]) -> String {
    let ok = attaches.iter().filter(|a| a.error.is_none()).count();
    // Targets that failed for the same reason share it: `a, b (err)`.
    let mut groups: Vec<(Vec<&str>, &str)> = Vec::new();
    for a in attaches {
        let Some(e) = a.error.as_deref() else {
            continue;
        };
        match groups.last_mut() {
            Some((names, err)) if *err == e => names.push(&a.target),
            _ => groups.push((vec![&a.target], e)),
        }
    }
    if groups.is_empty() {
        return format!("{ok} attached");
    }
    let failed: usize = groups.iter().map(|(n, _)| n.len()).sum();
    let text: Vec<String> = groups
        .iter()
        .map(|(names, e)| format!("{} ({e})", names.join(", ")))
        .collect();
    format!("{ok} attached, {failed} failed: {}", text.join(", "))
}

fn pipeline(inputs: &Inputs<'_>, log: &ProbeLog, after_stitch: usize) -> String {
    let chain = inputs.chain.as_ref().ok();
    let targets = chain.map_or(0, |c| c.targets.len());
    let exit = crate::run::record::ProbeKind::is_exit;
    let is_exit_target = |a: &&ProbeAttach| a.target == "sched_ext_exit";
    let entry: Vec<&ProbeAttach> = log
        .attaches
        .iter()
        .filter(|a| !is_exit_target(a) && !is_return_probe(&a.probe))
        .collect();
    // Not found in the kernel's function list nor among the programs; other
    // failures (the object did not load) count against their probe kind.
    let dropped: Vec<&str> = entry
        .iter()
        .filter(|a| a.error.as_deref().is_some_and(not_found))
        .map(|a| a.target.as_str())
        .collect();
    let is_bpf = |a: &ProbeAttach| {
        a.probe.starts_with("fentry")
            || (a.probe == "none" && chain.is_some_and(|c| c.bpf_programs().any(|n| n == a.target)))
    };
    let (fentry, kprobes): (Vec<&ProbeAttach>, Vec<&ProbeAttach>) = entry
        .iter()
        .copied()
        .filter(|a| !dropped.contains(&a.target.as_str()))
        .partition(|a| is_bpf(a));
    let returns: Vec<&ProbeAttach> = log
        .attaches
        .iter()
        .filter(|a| is_return_probe(&a.probe))
        .collect();
    let bpf_wanted = chain.map_or(0, |c| c.targets.iter().filter(|t| t.is_bpf()).count());
    let mut lines = vec![PIPELINE_HEADER.to_string()];
    lines.push(label(
        "extracted",
        &format!("{targets} functions from crash backtrace"),
    ));
    lines.push(label(
        "traceable",
        &if dropped.is_empty() {
            format!("{} passed filter", entry.len())
        } else {
            format!(
                "{} passed, {} dropped: {}",
                entry.len() - dropped.len(),
                dropped.len(),
                dropped.join(", ")
            )
        },
    ));
    let discovered = fentry
        .iter()
        .filter(|a| a.probe.starts_with("fentry"))
        .count();
    lines.push(label(
        "bpf_discover",
        &format!("{discovered} programs found"),
    ));
    lines.push(label(
        "after_expand",
        &format!("{} total probe targets", kprobes.len() + fentry.len()),
    ));
    lines.push(label("kprobes", &attached_line(&kprobes)));
    if bpf_wanted > 0 || !fentry.is_empty() {
        lines.push(label("fentry", &attached_line(&fentry)));
    }
    if returns.iter().any(|a| a.error.is_some()) {
        lines.push(label("returns", &attached_line(&returns)));
    }
    let trigger_attach = log.attaches.iter().find(is_exit_target);
    let fired = log.events.iter().any(|e| exit(e.kind));
    let trigger = match trigger_attach {
        Some(ProbeAttach { error: Some(e), .. }) => format!("attach failed ({e})"),
        Some(a) => format!(
            "{} ({})",
            if fired { "fired" } else { "not fired" },
            a.probe
        ),
        None => format!(
            "attach failed ({})",
            log.attaches
                .iter()
                .find_map(|a| a.error.as_deref())
                .unwrap_or("the guest set up no trigger")
        ),
    };
    lines.push(label("trigger", &trigger));
    let keys = {
        let mut t: Vec<&str> = log
            .events
            .iter()
            .filter(|e| !exit(e.kind))
            .map(|e| e.target.as_str())
            .collect();
        t.sort_unstable();
        t.dedup();
        t.len()
    };
    lines.push(label(
        "probe_data",
        &format!("{keys} keys, 0 unmatched IPs"),
    ));
    let captured = log.events.iter().filter(|e| !exit(e.kind)).count();
    let mut events = format!("{captured} captured, {after_stitch} after stitch");
    if captured > 0 && after_stitch == 0 {
        if let Some(cause) = stitch(&log.events).cause {
            let _ = write!(events, " — {cause}");
        }
    }
    lines.push(label("events", &events));
    if log.lost > 0 || log.dropped > 0 || log.missed > 0 {
        lines.push(label(
            "lost",
            &format!(
                "{} hits (ring buffer full), {} dropped by the host, {} skipped by the kernel \
                 (a probe inside another on the same CPU)",
                log.lost, log.dropped, log.missed
            ),
        ));
    }
    lines.join("\n")
}

/// The agent's errors for a name that is neither a kernel function nor a
/// function of a loaded BPF program (`ProbeError` in probes/src/agent).
fn not_found(error: &str) -> bool {
    error.contains("neither a kernel function")
        || error.contains("no loaded BPF program has")
        || error.contains("(not in /proc/kallsyms)")
        || error.contains("(not in available_filter_functions)")
}

fn is_return_probe(probe: &str) -> bool {
    probe.starts_with("kretprobe") || probe.starts_with("fexit")
}

fn auto_probe(inputs: &Inputs<'_>, log: &ProbeLog, calls: &[Call<'_>]) -> String {
    let mut block = AutoProbe {
        title: "scx_exit fired".into(),
        blank_after_header: true,
        ..AutoProbe::default()
    };
    for call in calls {
        let layout = log.layouts.iter().find(|l| l.target == call.entry.target);
        block
            .entries
            .push(ProbeEntry::Function(function(inputs, call, layout)));
    }
    block.lay_out();
    let model = AutoRepro {
        blocks: vec![Block::AutoProbe(block)],
        ..AutoRepro::default()
    };
    auto_repro::write(&model)
}

/// The innermost BPF frame of the primary's backtrace.
fn crash_frame(crash: &Crash) -> Option<(&str, &str, &crate::report::Frame)> {
    crash.backtrace.iter().find_map(|f| match &f.class {
        FrameClass::BpfProg { tag, name } => Some((name.as_str(), tag.as_str(), f)),
        _ => None,
    })
}

fn function(inputs: &Inputs<'_>, call: &Call<'_>, layout: Option<&ProbeLayout>) -> Function {
    let e = call.entry;
    let bpf = e.kind.name().starts_with("fentry");
    let name = if bpf {
        e.target.clone()
    } else {
        Target::kernel(&e.target).name().to_string()
    };
    let location = if bpf {
        layout.and_then(|l| location(inputs.primary, l))
    } else {
        inputs.kernel_lines.get(&e.target).cloned()
    };
    let args = match layout {
        Some(l) if !l.params.is_empty() => typed_args(inputs, call, l),
        _ => raw_args(e),
    };
    Function {
        name,
        kind: if bpf {
            FunctionKind::Bpf
        } else {
            FunctionKind::Kernel
        },
        location,
        args,
        ..Function::default()
    }
}

/// A BPF function's line: the faulting call's for the frame the crash
/// happened in, else its first. The frame's offset is into the test run's
/// JITed code and the lines are the repro run's: they agree when the code
/// is the same, which the tag says when it matches, else the code size
/// (tags differ between loads of the same object: they hash the map
/// addresses patched into the instructions).
pub fn location(crash: &Crash, layout: &ProbeLayout) -> Option<Location> {
    let first = layout.lines.iter().min_by_key(|l| l.offset)?;
    let mut pick = first;
    if let Some((name, tag, frame)) = crash_frame(crash) {
        let same_tag = layout.tag.as_deref() == Some(tag);
        let same_size = match (frame.size, layout.jit_len) {
            (Some(size), Some(len)) => size == u64::from(len),
            _ => false,
        };
        match frame.offset {
            Some(offset) if name == layout.target && (same_tag || same_size) && offset > 0 => {
                // A return address: the call is the instruction before it.
                if let Some(l) = layout
                    .lines
                    .iter()
                    .filter(|l| u64::from(l.offset) < offset)
                    .max_by_key(|l| l.offset)
                {
                    pick = l;
                }
            }
            _ => {}
        }
    }
    let file = pick.file.rsplit('/').next().unwrap_or(&pick.file);
    Some(Location {
        file: file.to_string(),
        line: pick.line,
    })
}

/// A raw field value as its C type reads: sign-extended or masked to size.
fn sized(raw: u64, f: &ProbeField) -> u64 {
    let bits = f.size.clamp(1, 8) * 8;
    if bits == 64 {
        raw
    } else if f.signed {
        let shift = 64 - bits;
        (((raw << shift) as i64) >> shift) as u64
    } else {
        raw & ((1u64 << bits) - 1)
    }
}

fn field_hint(f: &ProbeField) -> Option<RenderHint> {
    if f.signed {
        Some(RenderHint::Signed)
    } else if f.size <= 4 {
        Some(RenderHint::Decimal)
    } else {
        None
    }
}

/// The render hint for a scalar parameter of C type `ty`.
fn type_hint(name: &str, ty: &str) -> Option<RenderHint> {
    let t = ty.trim();
    if t == "bool" || t == "_Bool" {
        Some(RenderHint::Bool)
    } else if name.contains("flags") || name.contains("mask") {
        None
    } else if t.starts_with('s') || t == "int" || t == "long" || t.starts_with("long ") {
        Some(RenderHint::Signed)
    } else {
        Some(RenderHint::Decimal)
    }
}

/// The struct fields of parameter `param` read at `hit`, decoded, with the
/// four cpumask words merged into one `cpus_ptr` line.
fn struct_fields(
    inputs: &Inputs<'_>,
    layout: &ProbeLayout,
    param: usize,
    hit: &ProbeHit,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut mask_words: Vec<u64> = Vec::new();
    let mut mask_at = None;
    for (i, f) in layout.fields.iter().enumerate() {
        if f.param as usize != param {
            continue;
        }
        let Some(&raw) = hit.fields.get(i) else {
            continue;
        };
        let v = sized(raw, f);
        if f.name.starts_with("cpumask_") {
            mask_at.get_or_insert(out.len());
            mask_words.push(v);
            continue;
        }
        let text = if f.struct_name == "scx_dispatch_q" && f.name == "id" {
            dsq_id(v)
        } else {
            inputs
                .decoder
                .decode(&f.struct_name, &f.name, v, field_hint(f))
        };
        out.push((f.name.clone(), text));
    }
    if let Some(at) = mask_at {
        out.insert(
            at,
            ("cpus_ptr".into(), cpumask(&mask_words, inputs.nr_cpus)),
        );
    }
    out
}

fn pointer(v: u64) -> String {
    format!("ptr:{:04x}", v & 0xffff)
}

fn typed_args(inputs: &Inputs<'_>, call: &Call<'_>, layout: &ProbeLayout) -> Vec<Arg> {
    let e = call.entry;
    let mut args = Vec::new();
    let mut struct_values: Vec<(String, String)> = Vec::new();
    for (i, p) in layout.params.iter().enumerate() {
        let raw = e.args.get(i).copied().unwrap_or(0);
        let has_fields = layout.fields.iter().any(|f| f.param as usize == i);
        if let (Some(pointee), true) = (&p.pointee, has_fields) {
            let entry = struct_fields(inputs, layout, i, e);
            let exit = call.ret.map(|r| struct_fields(inputs, layout, i, r));
            let fields = entry
                .iter()
                .map(|(name, value)| {
                    let exit_value = exit
                        .as_ref()
                        .and_then(|x| x.iter().find(|(n, _)| n == name))
                        .map(|(_, v)| v)
                        .filter(|v| *v != value)
                        .cloned();
                    Field {
                        name: name.clone(),
                        value: value.clone(),
                        exit_value,
                        ..Field::default()
                    }
                })
                .collect();
            struct_values.extend(entry);
            args.push(Arg::Struct(StructArg {
                type_name: pointee.clone(),
                name: p.name.clone(),
                fields,
                verbatim: None,
            }));
        } else {
            args.push(Arg::Scalar(scalar(inputs, p, raw)));
        }
    }
    // ktstr drops a scalar that repeats a struct field (`cpu` and `rq->cpu`).
    args.retain(|a| match a {
        Arg::Scalar(f) => !struct_values
            .iter()
            .any(|(n, v)| *n == f.name && *v == f.value),
        _ => true,
    });
    args
}

fn scalar(inputs: &Inputs<'_>, p: &ProbeParam, raw: u64) -> Field {
    let ty = p.type_name.trim();
    if ty.ends_with('*') {
        let shown = ty
            .trim_start_matches("struct ")
            .trim_start_matches("const ");
        return Field {
            name: p.name.clone(),
            type_name: Some(shown.to_string()),
            value: pointer(raw),
            ..Field::default()
        };
    }
    Field {
        name: p.name.clone(),
        value: inputs
            .decoder
            .decode("", &p.name, raw, type_hint(&p.name, ty)),
        ..Field::default()
    }
}

/// Arguments without BTF: `arg0` always, the others when non-zero.
fn raw_args(e: &ProbeHit) -> Vec<Arg> {
    e.args
        .iter()
        .enumerate()
        .filter(|(i, v)| *i == 0 || **v != 0)
        .map(|(i, v)| {
            Arg::Scalar(Field {
                name: format!("arg{i}"),
                value: raw_arg(*v),
                ..Field::default()
            })
        })
        .collect()
}

/// The four tails of the repro run, in ktstr's order.
fn tails(report: &Report) -> Vec<(&'static str, Vec<String>)> {
    let last = |text: &str, keep: &dyn Fn(&str) -> bool| -> Vec<String> {
        let lines: Vec<&str> = text.lines().filter(|l| keep(l)).collect();
        lines[lines.len().saturating_sub(TAIL_LINES)..]
            .iter()
            .map(|l| l.to_string())
            .collect()
    };
    let mut out = Vec::new();
    let body = |k: SectionKind| section_body(report, &k).unwrap_or("");
    let log = last(body(SectionKind::SchedulerLog), &|l| !l.trim().is_empty());
    if !log.is_empty() {
        out.push(("scheduler log", log));
    }
    let dump = last(body(SectionKind::SchedExtDump), &|l| !l.trim().is_empty());
    if !dump.is_empty() {
        out.push(("sched_ext dump", dump));
    }
    let console = body(SectionKind::Console);
    let mut dmesg = last(console, &|l| {
        !l.contains(DUMP_MARKER) && !l.trim().is_empty()
    });
    if dmesg.is_empty() {
        dmesg.push(if console.trim().is_empty() {
            "empty (scheduler crashed before kernel printk reached the UART buffer)".into()
        } else {
            "(no kernel printk other than sched_ext_dump — full dump in section above)".into()
        });
    }
    out.push(("dmesg", dmesg));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{ExitKind, Frame};
    use crate::repro::decode::ScxTaskFlags;
    use crate::repro::decode::TaskStates;
    use crate::run::record::{JitLine, ProbeKind};

    fn decoder() -> FieldDecoder {
        FieldDecoder {
            scx_flags: ScxTaskFlags::since_7_1(),
            task_states: TaskStates::classic(),
        }
    }

    fn crash() -> Crash {
        let frame = |function: &str, offset, class| Frame {
            function: function.into(),
            offset: Some(offset),
            size: Some(0x94),
            module: None,
            class,
        };
        Crash {
            kind: ExitKind::ScxBpfError,
            message: Some("cell 0 has no usable CPU left (enqueue #400, pid 119)".into()),
            backtrace: vec![
                frame("scx_bpf_error_bstr", 0x60, FrameClass::Generic),
                frame(
                    "bpf_prog_83b712abb9227355_validate_cell",
                    0x8c,
                    FrameClass::BpfProg {
                        tag: "83b712abb9227355".into(),
                        name: "validate_cell".into(),
                    },
                ),
                frame("scx_do_enqueue_task", 0x310, FrameClass::Kernel),
            ],
            kernel_exit: true,
            ..Crash::default()
        }
    }

    fn hit(target: &str, kind: ProbeKind, t_ns: u64, args: Vec<u64>, fields: Vec<u64>) -> ProbeHit {
        ProbeHit {
            target: target.into(),
            kind,
            t_ns,
            cpu: 0,
            pid: 114,
            comm: "exe".into(),
            task: 0xff11_0000_2dc5_0000,
            ip: 0,
            args,
            exit_kind: None,
            fields,
            ret: None,
        }
    }

    fn task_fields(param: u32) -> Vec<ProbeField> {
        let f = |name: &str, size, signed| ProbeField {
            param,
            struct_name: "task_struct".into(),
            name: name.into(),
            size,
            signed,
        };
        vec![
            f("pid", 4, true),
            f("cpumask_0", 8, false),
            f("dsq_id", 8, false),
            f("sticky_cpu", 4, true),
            f("scx_flags", 4, false),
        ]
    }

    fn log() -> ProbeLog {
        let task = ProbeParam {
            name: "p".into(),
            type_name: "struct task_struct *".into(),
            pointee: Some("task_struct".into()),
        };
        let seq = ProbeParam {
            name: "seq".into(),
            type_name: "u64".into(),
            pointee: None,
        };
        let mut exit = hit("sched_ext_exit", ProbeKind::Exit, 50, vec![], vec![]);
        exit.exit_kind = Some(1025);
        let fields = vec![119, 0x3, 1 << 63, 0xffff_ffff, 0x4 << 8];
        let mut after = fields.clone();
        after[2] = (1 << 63) | 2;
        ProbeLog {
            attaches: vec![
                ProbeAttach {
                    target: "sched_ext_exit".into(),
                    probe: "tp_btf".into(),
                    error: None,
                },
                ProbeAttach {
                    target: "scx_do_enqueue_task".into(),
                    probe: "kprobe.multi".into(),
                    error: None,
                },
                ProbeAttach {
                    target: "validate_cell".into(),
                    probe: "fentry".into(),
                    error: None,
                },
                ProbeAttach {
                    target: "gone_fn".into(),
                    probe: "none".into(),
                    error: Some("`gone_fn`: neither a kernel function (not in /proc/kallsyms) nor a function of a loaded BPF program".into()),
                },
            ],
            layouts: vec![ProbeLayout {
                target: "validate_cell".into(),
                params: vec![task, seq],
                fields: task_fields(0),
                tag: Some("83b712abb9227355".into()),
                jit_len: Some(0x94),
                lines: vec![
                    JitLine {
                        offset: 0,
                        file: "/src/probes/src/bpf/demo.bpf.c".into(),
                        line: 78,
                        col: 0,
                    },
                    JitLine {
                        offset: 0x70,
                        file: "/src/probes/src/bpf/demo.bpf.c".into(),
                        line: 96,
                        col: 3,
                    },
                    JitLine {
                        offset: 0x8c,
                        file: "/src/probes/src/bpf/demo.bpf.c".into(),
                        line: 99,
                        col: 1,
                    },
                ],
            }],
            events: vec![
                hit(
                    "scx_do_enqueue_task",
                    ProbeKind::Kprobe,
                    10,
                    vec![0xff11_0000_28c3_25c0, 0, 0, 0, 0, 0],
                    vec![],
                ),
                hit(
                    "validate_cell",
                    ProbeKind::Fentry,
                    20,
                    vec![0xff11_0000_059f_2340, 0x179],
                    fields,
                ),
                exit,
                hit(
                    "validate_cell",
                    ProbeKind::Fexit,
                    60,
                    vec![0xff11_0000_059f_2340, 0x179],
                    after,
                ),
            ],
            ..ProbeLog::default()
        }
    }

    fn run(verdict: Verdict, probes: ProbeLog) -> ReproRun {
        let text = "--- scheduler log ---\nstarting\nboom\n\n--- console ---\n[    1.0] sched_ext: disabled\n";
        ReproRun {
            report: crate::parse::parse_str(text),
            probes,
            duration_ms: Some(12_345),
            verdict,
        }
    }

    fn crashed() -> Verdict {
        Verdict::Crashed {
            signature: Some(Signature::of(&crash())),
            clause: "exited with non-zero status (1)".into(),
        }
    }

    #[test]
    fn a_reproduced_crash_in_ktstr_layout() {
        let primary = crash();
        let chain = Chain::from_crash(&primary);
        let runs = [run(crashed(), log())];
        let inputs = Inputs {
            primary: &primary,
            chain: &chain,
            runs: &runs,
            decoder: &decoder(),
            nr_cpus: Some(2),
            kernel_lines: &HashMap::new(),
        };
        let body = build(&inputs);
        let expected = "\
--- probe pipeline ---
  extracted:   2 functions from crash backtrace
  traceable:   2 passed, 1 dropped: gone_fn
  bpf_discover: 1 programs found
  after_expand: 2 total probe targets
  kprobes:     1 attached
  fentry:      1 attached
  trigger:     fired (tp_btf)
  probe_data:  2 keys, 0 unmatched IPs
  events:      3 captured, 2 after stitch

=== AUTO-PROBE: scx_exit fired ===

  scx_do_enqueue_task
      arg0        ptr:25c0
  validate_cell                        demo.bpf.c:96
    task_struct *p
      pid         119
      cpus_ptr    0x3(0-1)
      dsq_id      SCX_DSQ_INVALID  →  SCX_DSQ_LOCAL
      sticky_cpu  -1
      scx_flags   ENABLED
      seq         377

repro VM duration: 12.3s

--- repro VM scheduler log ---
starting
boom

--- repro VM dmesg ---
[    1.0] sched_ext: disabled";
        assert_eq!(body, expected, "{body}");
        let model = model(&inputs);
        assert_eq!(model.write(), body);
        assert_eq!(model.skipped, 0, "{model:#?}");
        let f: Vec<&Function> = model.probe().unwrap().functions().collect();
        assert_eq!(
            f[1].struct_arg("p").unwrap().field("pid").unwrap().value,
            "119"
        );
        assert_eq!(f[1].location.as_ref().unwrap().line, 96);
    }

    #[test]
    fn a_stall_has_a_status_line_and_tails_only() {
        let mut primary = crash();
        primary.kind = ExitKind::Stall;
        let chain = Chain::from_crash(&primary);
        assert!(chain.is_err());
        let runs = [run(crashed(), ProbeLog::default())];
        let body = build(&Inputs {
            primary: &primary,
            chain: &chain,
            runs: &runs,
            decoder: &decoder(),
            nr_cpus: None,
            kernel_lines: &HashMap::new(),
        });
        assert!(
            body.starts_with(
                "repro VM: scheduler crashed — exited with non-zero status (1)\nrepro VM duration: 12.3s\n\n--- repro VM scheduler log ---"
            ),
            "{body}"
        );
        assert!(!body.contains("AUTO-PROBE") && !body.contains("pipeline"));
    }

    #[test]
    fn not_reproduced_and_repro_rate() {
        let primary = crash();
        let chain = Chain::from_crash(&primary);
        let mut quiet = log();
        quiet.events.retain(|e| !e.kind.is_exit());
        let runs = [
            run(Verdict::RanNormally, quiet),
            run(crashed(), log()),
            run(crashed(), log()),
        ];
        let inputs = Inputs {
            primary: &primary,
            chain: &chain,
            runs: &runs,
            decoder: &decoder(),
            nr_cpus: None,
            kernel_lines: &HashMap::new(),
        };
        let body = build(&inputs);
        assert!(
            body.contains("AUTO-PROBE"),
            "the reproduced run is shown: {body}"
        );
        assert!(
            body.contains("repro VM: run 1/3: scheduler ran normally (crash did not reproduce)\nrepro VM: reproduced 2/3 with the same signature (scx_bpf_error (1025), \"cell N has no usable CPU left (enqueue #N, pid N)\", in validate_cell)"),
            "{body}"
        );
        assert!(
            !body.contains("run 2/3") && !body.contains("run 3/3"),
            "{body}"
        );
        let model = model(&inputs);
        assert_eq!(model.skipped, 0, "{model:#?}");
        assert_eq!(model.write(), body, "parsed back byte for byte");
        let only_quiet = [runs[0].clone()];
        let body = build(&Inputs {
            runs: &only_quiet,
            ..inputs
        });
        assert!(body.contains("  trigger:     not fired (tp_btf)"), "{body}");
        assert!(
            body.contains("events:      3 captured, 0 after stitch — trigger never fired"),
            "{body}"
        );
        assert!(body.contains("repro VM: scheduler ran normally (crash did not reproduce)"));
    }

    #[test]
    fn a_probe_object_that_did_not_load() {
        let primary = crash();
        let chain = Chain::from_crash(&primary);
        let error = "cannot load the probe object: Invalid argument (os error 22)";
        let failed = |t: &str| ProbeAttach {
            target: t.into(),
            probe: "none".into(),
            error: Some(error.into()),
        };
        let probes = ProbeLog {
            attaches: vec![failed("validate_cell"), failed("scx_do_enqueue_task")],
            ..ProbeLog::default()
        };
        let runs = [run(crashed(), probes)];
        let body = build(&Inputs {
            primary: &primary,
            chain: &chain,
            runs: &runs,
            decoder: &decoder(),
            nr_cpus: None,
            kernel_lines: &HashMap::new(),
        });
        assert!(body.contains("  traceable:   2 passed filter\n"), "{body}");
        assert!(
            body.contains(&format!(
                "  kprobes:     0 attached, 1 failed: scx_do_enqueue_task ({error})"
            )),
            "{body}"
        );
        assert!(
            body.contains(&format!(
                "  fentry:      0 attached, 1 failed: validate_cell ({error})"
            )),
            "{body}"
        );
        assert!(
            body.contains(&format!("  trigger:     attach failed ({error})")),
            "{body}"
        );
    }

    #[test]
    fn the_faulting_line_needs_the_same_code() {
        let mut l = log().layouts[0].clone();
        let mut c = crash();
        assert_eq!(location(&c, &l).unwrap().line, 96);
        // Another load of the same object: another tag, the same size.
        if let FrameClass::BpfProg { tag, .. } = &mut c.backtrace[1].class {
            *tag = "0000000000000000".into();
        }
        assert_eq!(location(&c, &l).unwrap().line, 96);
        // Other code: the function's first line.
        l.jit_len = Some(0x200);
        assert_eq!(location(&c, &l).unwrap().line, 78);
    }
}
