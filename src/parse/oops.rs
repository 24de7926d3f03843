//! Kernel oopses and lockdep splats that happened with a sched_ext scheduler
//! loaded: the oops prints `Sched_ext: <name> (<state>), task: ...` lines.
//! Not a sched_ext exit, but the scheduler is the suspect.

use std::borrow::Cow;

use crate::report::{Crash, Frame, MessageFormat, TaskRef};

use super::frame::parse_frame;

/// Words that open an oops report, most telling first.
const OOPS_HEADS: &[&str] = &[
    "BUG: ",
    "WARNING: ",
    "kernel BUG at",
    "general protection fault",
    "possible circular locking dependency",
    "possible recursive locking",
    "inconsistent lock state",
    "INFO: task ",
    "watchdog: BUG: soft lockup",
    "Kernel panic - not syncing",
    "Oops: ",
];

/// Is this the first line of an oops?
pub fn is_oops_head(t: &str) -> bool {
    OOPS_HEADS.iter().any(|h| t.contains(h))
}

/// What the lines before the `Sched_ext:` line say.
#[derive(Default)]
pub struct Before {
    /// The line that opened the oops (`BUG: ...` preferred over `Oops: ...`).
    pub head: Option<String>,
    pub task: Option<TaskRef>,
    pub cpu: Option<u32>,
}

/// Reads the oops preamble backwards from the `Sched_ext:` line (nearest first).
pub fn read_before<'a>(lines: impl Iterator<Item = Cow<'a, str>>) -> Before {
    let mut b = Before::default();
    for l in lines.take(80) {
        let t = l.trim();
        if t.starts_with("---[ end trace") {
            break;
        }
        if t.starts_with("CPU: ") && b.cpu.is_none() {
            let (task, cpu) = parse_cpu_line(t);
            b.task = task;
            b.cpu = cpu;
        }
        if is_oops_head(t) {
            let better = match &b.head {
                None => true,
                // A `BUG:`/`WARNING:` line above `Oops:` says what happened.
                Some(h) => h.contains("Oops: ") && !t.contains("Oops: "),
            };
            if better {
                b.head = Some(t.to_string());
            }
            if !t.contains("Oops: ") {
                break;
            }
        }
    }
    b
}

/// `CPU: 6 UID: 1000 PID: 48213 Comm: cc1plus Not tainted ...`
fn parse_cpu_line(t: &str) -> (Option<TaskRef>, Option<u32>) {
    let toks: Vec<&str> = t.split_whitespace().collect();
    let after = |key: &str| {
        toks.iter()
            .position(|&x| x == key)
            .and_then(|i| toks.get(i + 1).copied())
    };
    let cpu = after("CPU:").and_then(|v| v.parse().ok());
    let pid = after("PID:").and_then(|v| v.parse().ok());
    let task = match (after("Comm:"), pid) {
        (Some(comm), Some(pid)) => Some(TaskRef {
            comm: comm.to_string(),
            pid,
        }),
        _ => None,
    };
    (task, cpu)
}

/// Builds a crash from the `Sched_ext:` line, what came before it, and the
/// `RIP:` and `Call Trace:` lines after it. `? ` frames are unreliable guesses
/// of the unwinder and are left out.
pub fn parse<'a>(
    sched_line: &str,
    before: Before,
    after: impl Iterator<Item = (usize, Cow<'a, str>)>,
) -> (Crash, Option<usize>) {
    let info = sched_line
        .split_once("Sched_ext: ")
        .map_or("", |(_, r)| r)
        .trim();
    let scheduler = info
        .split([' ', ','])
        .next()
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let mut crash = Crash {
        reason: Some("kernel oops".to_string()),
        message: before.head,
        scheduler,
        task: before.task,
        cpu: before.cpu,
        formats: vec![MessageFormat::KernelOops],
        kernel_exit: false,
        ops_dump: vec![format!("Sched_ext: {info}")],
        ..Crash::default()
    };
    let mut last = None;
    let mut in_trace = false;
    for (tag, content) in after.take(400) {
        let t = content.trim();
        if let Some(rip) = t.strip_prefix("RIP: ") {
            // `RIP: 0010:func+0x1/0x2`; user-space RIPs (`0033:0x7f..`) end the trace.
            let sym = rip.split_once(':').map_or(rip, |(_, s)| s);
            match parse_frame(sym) {
                Some(f) if !in_trace => crash.backtrace.insert(0, f),
                Some(_) => {}
                None if in_trace => break,
                None => {}
            }
        } else if t == "Call Trace:" {
            in_trace = true;
        } else if in_trace {
            if t.starts_with("? ") {
                // unreliable frame
            } else if let Some(f) = parse_frame(t) {
                crash.backtrace.push(f);
            } else if !(t.starts_with('<') && t.ends_with('>')) {
                break;
            }
        } else if is_oops_head(t) || t.starts_with("---[ end trace") {
            break;
        }
        last = Some(tag);
    }
    (crash, last)
}

/// A kernel warning or oops splat read on its own (no `Sched_ext:` line
/// needed): older kernels print one after a failed enable.
///
/// ```text
/// ------------[ cut here ]------------
/// WARNING: CPU: 3 PID: 1234 at kernel/sched/ext.c:3615 scx_ops_enable+0x6e1/0xd00
/// Modules linked in: ...
/// CPU: 3 PID: 1234 Comm: scx_rusty Not tainted 6.8.0-rc2 #1
/// RIP: 0010:scx_ops_enable+0x6e1/0xd00
/// Call Trace:
///  <TASK>
///  ? __warn+0x83/0x130
///  bpf_scx_reg+0x12/0x20
///  ...
///  RIP: 0033:0x7f5a4bf2a88d      (user registers: the kernel frames are over)
///  </TASK>
/// ---[ end trace 0000000000000000 ]---
/// ```
#[derive(Debug, Default)]
pub struct Splat {
    /// `WARNING: ...` / `BUG: ...`.
    pub head: String,
    /// From the `CPU:` line: the task that hit it (often the loader).
    pub task: Option<TaskRef>,
    pub cpu: Option<u32>,
    /// From a `Sched_ext: <name> (<state>)` line (6.12+).
    pub scheduler: Option<String>,
    /// The kernel `RIP:` frame, then the reliable `Call Trace:` frames.
    pub frames: Vec<Frame>,
    /// Index in the lines given of the splat's last line.
    pub last: usize,
}

/// Reads a splat that starts at `lines[0]` (its `cut here` line or its
/// head); `None` when none starts there.
pub fn read_splat(lines: &[&str]) -> Option<Splat> {
    let mut i = 0;
    if lines
        .first()?
        .trim()
        .starts_with("------------[ cut here ]")
    {
        i = 1;
    }
    let head = lines.get(i)?.trim();
    if !is_oops_head(head) {
        return None;
    }
    let mut splat = Splat {
        head: head.to_string(),
        last: i,
        ..Splat::default()
    };
    let mut in_trace = false;
    // Kernel frames end at the user-space registers of a syscall's splat.
    let mut user_regs = false;
    for (k, raw) in lines.iter().enumerate().skip(i + 1).take(300) {
        let t = raw.trim();
        if t.starts_with("---[ end trace") || t.starts_with("---[ end Kernel panic") {
            splat.last = k;
            break;
        }
        if !in_trace {
            if t.starts_with("------------[ cut here ]") || is_oops_head(t) {
                break;
            }
            if t.starts_with("CPU: ") && splat.cpu.is_none() {
                (splat.task, splat.cpu) = parse_cpu_line(t);
            } else if let Some(info) = t.strip_prefix("Sched_ext: ") {
                splat.scheduler = info
                    .split([' ', ','])
                    .next()
                    .filter(|s| !s.is_empty())
                    .map(str::to_string);
            } else if let Some(rip) = t.strip_prefix("RIP: ") {
                let sym = rip.split_once(':').map_or(rip, |(_, s)| s);
                if let Some(f) = parse_frame(sym) {
                    splat.frames.insert(0, f);
                }
            } else if t == "Call Trace:" {
                in_trace = true;
            }
            splat.last = k;
            continue;
        }
        if (t.starts_with('<') && t.ends_with('>')) || t.starts_with("? ") {
            // `<TASK>`, `<IRQ>` and the unwinder's unreliable guesses.
        } else if let Some(f) = parse_frame(t) {
            if !user_regs {
                splat.frames.push(f);
            }
        } else if t.starts_with("RIP: ") || t.starts_with("Code: ") || is_register_line(t) {
            user_regs = true;
        } else {
            break;
        }
        splat.last = k;
    }
    Some(splat)
}

/// `RSP: 002b:...`, `RAX: ... RBX: ...`, `R13: ...` lines of a register dump.
fn is_register_line(t: &str) -> bool {
    let Some((name, _)) = t.split_once(": ") else {
        return false;
    };
    name.len() <= 4
        && name.starts_with('R')
        && name[1..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splat_frames_skip_guesses_and_user_registers() {
        let text = "------------[ cut here ]------------
WARNING: CPU: 3 PID: 1234 at kernel/sched/ext.c:3615 scx_ops_enable+0x6e1/0xd00
Modules linked in: kvm
CPU: 3 PID: 1234 Comm: scx_rusty Not tainted 6.7.0 #1
RIP: 0010:scx_ops_enable+0x6e1/0xd00
RSP: 0018:ffffc90000f6fcf0 EFLAGS: 00010246
Call Trace:
 <TASK>
 ? __warn+0x81/0x130
 bpf_scx_reg+0x12/0x20
 entry_SYSCALL_64_after_hwframe+0x6e/0xd8
RIP: 0033:0x7f5a4bf2a88d
RSP: 002b:00007ffd6d0a5b78 EFLAGS: 00000246 ORIG_RAX: 0000000000000141
R13: 00007ffd6d0a5d90 R14: 0000000000000000 R15: 0000000000000000
 </TASK>
---[ end trace 0000000000000000 ]---
sched_ext: BPF scheduler \"rusty\" errored, disabling";
        let lines: Vec<&str> = text.lines().collect();
        let s = read_splat(&lines).unwrap();
        let names: Vec<&str> = s.frames.iter().map(|f| f.function.as_str()).collect();
        assert_eq!(
            names,
            [
                "scx_ops_enable",
                "bpf_scx_reg",
                "entry_SYSCALL_64_after_hwframe"
            ]
        );
        assert_eq!(s.last, 15);
        assert_eq!(s.cpu, Some(3));
        assert!(s.head.starts_with("WARNING: CPU: 3"));
        // Without the end marker the splat ends after its trace.
        let s = read_splat(&lines[1..11]).unwrap();
        assert_eq!(s.frames.len(), 3);
        assert!(read_splat(&lines[2..]).is_none());
    }
}
