//! sched_ext debug dumps: `comm[pid] triggered exit kind N[ on CPU c]:`, the
//! reason line, `Backtrace:`, the scheduler's `ops.dump` lines, `CPU states`
//! (older kernels: `Runqueue states`) and `Event counters`.
//!
//! Works on lines already stripped of log prefixes; indentation (spaces or
//! tabs) and blank lines are optional, since schedulers re-indent dumps.

use std::borrow::Cow;

use crate::report::{CpuState, Crash, EventCounter, ExitKind, TaskRef, TaskState};

use super::frame::parse_frame;

/// The dump header: `comm[pid] triggered exit kind N[ on CPU c]:`.
pub struct DumpHeader {
    pub task: Option<TaskRef>,
    pub kind: u64,
    pub cpu: Option<u32>,
}

/// Parses a `triggered exit kind` line.
pub fn parse_header(line: &str) -> Option<DumpHeader> {
    let t = line.trim();
    let at = t.find(" triggered exit kind ")?;
    let task = parse_task_ref(&t[..at]);
    let rest = t[at + " triggered exit kind ".len()..].trim_end_matches(':');
    let (kind, cpu) = match rest.split_once(" on CPU ") {
        Some((k, c)) => (k, c.trim().parse().ok()),
        None => (rest, None),
    };
    Some(DumpHeader {
        task,
        kind: kind.trim().parse().ok()?,
        cpu,
    })
}

/// `comm[pid]`; comm may contain spaces and brackets, the pid is the last `[n]`.
pub fn parse_task_ref(s: &str) -> Option<TaskRef> {
    let s = s.trim();
    let body = s.strip_suffix(']')?;
    let open = body.rfind('[')?;
    let pid = body[open + 1..].parse().ok()?;
    let comm = &body[..open];
    (!comm.is_empty()).then(|| TaskRef {
        comm: comm.to_string(),
        pid,
    })
}

/// `reason (message)` → (reason, message). Nested parentheses stay in the message.
pub fn split_reason(line: &str) -> (String, Option<String>) {
    let t = line.trim();
    match t.find(" (") {
        Some(i) if t.ends_with(')') => {
            (t[..i].to_string(), Some(t[i + 2..t.len() - 1].to_string()))
        }
        _ => (t.to_string(), None),
    }
}

fn is_fields_line(t: &str) -> bool {
    !t.is_empty()
        && t.split_whitespace()
            .all(|tok| tok.contains('=') && !tok.starts_with('='))
}

fn push_fields(into: &mut Vec<(String, String)>, t: &str) {
    for tok in t.split_whitespace() {
        if let Some((k, v)) = tok.split_once('=') {
            into.push((k.to_string(), v.to_string()));
        }
    }
}

/// `CPU 3   : nr_run=2 ...` → (3, rest).
fn parse_cpu_line(t: &str) -> Option<(u32, &str)> {
    let rest = t.strip_prefix("CPU")?;
    let (num, rest) = rest.trim_start().split_once(':')?;
    Some((num.trim().parse().ok()?, rest.trim()))
}

/// ` R stress[1530] -6841ms`, `*R kworker/u32:12[320] +0ms`, `R sh[133] *root -4ms`.
fn parse_task_line(t: &str) -> Option<TaskState> {
    let (marker, rest) = t.split_once(char::is_whitespace)?;
    let m = marker.strip_prefix('*').unwrap_or(marker);
    if m.len() != 1 || !m.bytes().all(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let rest = rest.trim_start();
    // The task ref ends at the first `]` followed by a blank or the end.
    let mut end = None;
    for (i, _) in rest.match_indices(']') {
        if rest[i + 1..].is_empty() || rest[i + 1..].starts_with(' ') {
            end = Some(i + 1);
            break;
        }
    }
    let end = end?;
    let task = parse_task_ref(&rest[..end])?;
    Some(TaskState {
        marker: marker.to_string(),
        task: Some(task),
        summary: rest[end..].trim().to_string(),
        ..TaskState::default()
    })
}

/// `SCX_EV_FOO:   12`.
fn parse_event(t: &str) -> Option<EventCounter> {
    let (name, value) = t.split_once(':')?;
    let name = name.trim();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    Some(EventCounter {
        name: name.to_string(),
        value: value.trim().parse().ok()?,
    })
}

#[derive(PartialEq)]
enum Part {
    Head,
    Backtrace,
    OpsDump,
    Cpus,
    Events,
}

/// Result of parsing one dump.
pub struct ParsedDump {
    pub crash: Crash,
    /// Tag of the last input line that belongs to the dump (`None`: only the header).
    pub last_tag: Option<usize>,
    /// What looked wrong (truncation).
    pub notes: Vec<String>,
}

/// Lines of free text (ops.dump output) a dump may hold in a row before the
/// parser decides the dump ended without its closing banner.
const MAX_FREE_LINES: usize = 512;

/// Parses a dump whose header line is `header`, reading the following lines
/// (each with a caller tag, e.g. its end offset) from `rest`. Stops at the
/// closing `====` banner, an `EXIT:` line, the next dump, or after the event
/// counters; the stopping line is not consumed.
pub fn parse_dump<'a>(
    header: &str,
    rest: impl Iterator<Item = (usize, Cow<'a, str>)>,
) -> Option<ParsedDump> {
    let header = parse_header(header)?;
    let mut crash = Crash {
        kind: ExitKind::from_code(header.kind),
        task: header.task,
        cpu: header.cpu,
        kernel_exit: true,
        ..Crash::default()
    };
    let mut part = Part::Head;
    let mut saw_reason = false;
    let mut cpu: Option<CpuState> = None;
    let mut task: Option<TaskState> = None;
    let mut last_tag = None;
    let mut seen_section = false;
    let mut free_run = 0usize;

    let flush_task = |cpu: &mut Option<CpuState>, task: &mut Option<TaskState>| {
        if let (Some(c), Some(t)) = (cpu.as_mut(), task.take()) {
            c.tasks.push(t);
        }
    };

    for (tag, raw) in rest {
        let t = raw.trim();
        if t.starts_with("====") || t.starts_with("EXIT:") || parse_header(t).is_some() {
            break;
        }
        if part == Part::Events
            && !t.is_empty()
            && parse_event(t).is_none()
            && t != "--------------"
        {
            break;
        }
        if free_run >= MAX_FREE_LINES {
            break;
        }
        last_tag = Some(tag);
        let before = (crash.ops_dump.len(), extra_len(&cpu, &task));
        if t.is_empty() || t.chars().all(|c| c == '-') {
            continue;
        }
        if !saw_reason && part == Part::Head {
            let (reason, message) = split_reason(t);
            if crash.kind == ExitKind::Unknown {
                crash.kind = ExitKind::from_reason(&reason);
            }
            crash.reason = Some(reason);
            crash.message = message;
            saw_reason = true;
            continue;
        }
        match t {
            "Backtrace:" => {
                part = Part::Backtrace;
                continue;
            }
            "CPU states" | "Runqueue states" => {
                part = Part::Cpus;
                seen_section = true;
                continue;
            }
            "Event counters" => {
                flush_task(&mut cpu, &mut task);
                crash.cpu_states.extend(cpu.take());
                part = Part::Events;
                seen_section = true;
                continue;
            }
            _ => {}
        }
        match part {
            Part::Head => crash.ops_dump.push(t.to_string()),
            Part::Backtrace => match parse_frame(t) {
                Some(f) => crash.backtrace.push(f),
                None => {
                    part = Part::OpsDump;
                    crash.ops_dump.push(t.to_string());
                }
            },
            Part::OpsDump => crash.ops_dump.push(t.to_string()),
            Part::Events => crash.events.extend(parse_event(t)),
            Part::Cpus => {
                if let Some((n, rest)) = parse_cpu_line(t) {
                    flush_task(&mut cpu, &mut task);
                    crash.cpu_states.extend(cpu.take());
                    let mut c = CpuState {
                        cpu: n,
                        ..CpuState::default()
                    };
                    push_fields(&mut c.fields, rest);
                    cpu = Some(c);
                } else if let Some(ts) = parse_task_line(t) {
                    flush_task(&mut cpu, &mut task);
                    task = Some(ts);
                } else if let Some(ts) = task.as_mut() {
                    if let Some(f) = parse_frame(t) {
                        ts.stack.push(f);
                    } else if is_fields_line(t) && ts.stack.is_empty() {
                        push_fields(&mut ts.fields, t);
                    } else {
                        ts.extra.push(t.to_string());
                    }
                } else if let Some(c) = cpu.as_mut() {
                    if is_fields_line(t) && c.extra.is_empty() {
                        push_fields(&mut c.fields, t);
                    } else {
                        c.extra.push(t.to_string());
                    }
                } else {
                    crash.ops_dump.push(t.to_string());
                }
            }
        }
        if (crash.ops_dump.len(), extra_len(&cpu, &task)) != before {
            free_run += 1;
        } else {
            free_run = 0;
        }
    }
    flush_task(&mut cpu, &mut task);
    crash.cpu_states.extend(cpu.take());
    for c in &mut crash.cpu_states {
        c.curr = c
            .fields
            .iter()
            .find(|(k, _)| k == "curr")
            .and_then(|(_, v)| parse_task_ref(v));
    }
    let mut notes = Vec::new();
    if !saw_reason {
        notes.push(
            "dump ends right after its header: no reason line (input truncated?)".to_string(),
        );
    } else if crash.backtrace.is_empty() && !seen_section {
        notes.push("dump has no backtrace or CPU states (input truncated?)".to_string());
    }
    Some(ParsedDump {
        crash,
        last_tag,
        notes,
    })
}

fn extra_len(cpu: &Option<CpuState>, task: &Option<TaskState>) -> usize {
    cpu.as_ref().map_or(0, |c| c.extra.len()) + task.as_ref().map_or(0, |t| t.extra.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::FrameClass;

    const DUMP: &str = "sh[131] triggered exit kind 1025 on CPU 1:
  scx_bpf_error (apply_cell_config returned -EINVAL (enqueue #400))

Backtrace:
  scx_exit_bstr+0xdd/0x110
  bpf_prog_3a0600fe7b4b0a35_apply_cell_config+0x7a/0x82
QMAP FIFO[2]: 1436

CPU states
----------

CPU 1   : nr_run=3 flags=0x101 cpu_rel=0 ksync=461
          rescue=0 budget=0us rescuing=none[-1]
          curr=sh[131] class=ext_sched_class

  QMAP: dsp_idx=1
 *R sh[131] *root -4ms
      scx_state/flags=4/0x5 dsq_flags=0x0 ops_state/qseq=0/0
      cpus=3 no_mig=0

    scx_dump_cpu+0x5e1/0x630
  R Web Content[133] +0ms
      dsq_id=0x4649464f

Event counters
--------------
      SCX_EV_SELECT_CPU_FALLBACK:                0
         SCX_EV_BYPASS_DURATION:         34466797
after the dump";

    #[test]
    fn parses_full_dump() {
        let lines: Vec<&str> = DUMP.lines().collect();
        let rest = lines
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, l)| (i, Cow::Borrowed(*l)));
        let d = parse_dump(lines[0], rest).unwrap();
        let c = &d.crash;
        assert_eq!(c.kind, ExitKind::ScxBpfError);
        assert_eq!(c.reason.as_deref(), Some("scx_bpf_error"));
        assert_eq!(
            c.message.as_deref(),
            Some("apply_cell_config returned -EINVAL (enqueue #400)")
        );
        assert_eq!(c.task.as_ref().unwrap().to_string(), "sh[131]");
        assert_eq!(c.cpu, Some(1));
        assert_eq!(c.backtrace.len(), 2);
        assert!(matches!(c.backtrace[1].class, FrameClass::BpfProg { .. }));
        assert_eq!(c.ops_dump, vec!["QMAP FIFO[2]: 1436"]);
        assert_eq!(c.cpu_states.len(), 1);
        let cpu = &c.cpu_states[0];
        assert_eq!(cpu.curr.as_ref().unwrap().pid, 131);
        assert!(cpu
            .fields
            .iter()
            .any(|(k, v)| k == "rescuing" && v == "none[-1]"));
        assert_eq!(cpu.extra, vec!["QMAP: dsp_idx=1"]);
        assert_eq!(cpu.tasks.len(), 2);
        assert_eq!(cpu.tasks[0].marker, "*R");
        assert_eq!(cpu.tasks[0].summary, "*root -4ms");
        assert_eq!(cpu.tasks[0].stack.len(), 1);
        assert_eq!(cpu.tasks[1].task.as_ref().unwrap().comm, "Web Content");
        assert_eq!(c.events.len(), 2);
        assert_eq!(c.events[1].value, 34466797);
        assert_eq!(d.last_tag, Some(lines.len() - 2));
    }

    #[test]
    fn truncated_dump_notes() {
        let d = parse_dump("x[1] triggered exit kind 1026:", std::iter::empty()).unwrap();
        assert_eq!(d.crash.kind, ExitKind::Stall);
        assert_eq!(d.notes.len(), 1);
    }
}
