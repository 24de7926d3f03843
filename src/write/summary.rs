//! The few lines a user reads first: what crashed, how, where.

use std::fmt::Write;

use crate::report::{Crash, FrameClass, Report};

/// A human summary of the selected crash (or of the absence of one).
pub fn summary(report: &Report) -> String {
    let mut out = String::new();
    let h = &report.header;
    if let Some(name) = &h.test_name {
        let _ = write!(out, "test:      {name}");
        if let Some(t) = &h.topology {
            let _ = write!(out, " [topo={t}]");
        }
        out.push('\n');
    }
    let Some(c) = report.crash() else {
        out.push_str("verdict:   no crash found\n");
        for n in &report.notes {
            let _ = writeln!(out, "note:      {}", n.text);
        }
        return out;
    };
    let verdict = if c.kernel_exit {
        "scheduler crashed"
    } else {
        "not a kernel exit: the scheduler never ran or gave up in userspace"
    };
    let _ = writeln!(out, "verdict:   {verdict}");
    if report.crashes.len() > 1 {
        let _ = writeln!(
            out,
            "crashes:   {} found, showing #{} (newest)",
            report.crashes.len(),
            report.selected.map_or(0, |i| i + 1)
        );
    }
    crash_lines(&mut out, c);
    for n in &report.notes {
        let _ = writeln!(out, "note:      {}", n.text);
    }
    out
}

fn crash_lines(out: &mut String, c: &Crash) {
    if let Some(s) = &c.scheduler {
        let _ = writeln!(out, "scheduler: {s}");
    }
    let _ = writeln!(out, "exit:      {}", c.kind.label());
    if let Some(r) = &c.reason {
        let _ = writeln!(out, "reason:    {r}");
    }
    if let Some(m) = &c.message {
        let _ = writeln!(out, "message:   {m}");
    }
    if let Some(t) = &c.task {
        let _ = write!(out, "task:      {t}");
        if let Some(cpu) = c.cpu {
            let _ = write!(out, " on CPU {cpu}");
        }
        out.push('\n');
    }
    if let Some(f) = c.top_frame() {
        let _ = writeln!(out, "where:     {}", f.function);
    }
    let formats: Vec<&str> = c.formats.iter().map(|f| f.label()).collect();
    let _ = writeln!(out, "from:      {}", formats.join(", "));
    if !c.backtrace.is_empty() {
        out.push_str("backtrace:\n");
        for f in &c.backtrace {
            let mark = match f.class {
                FrameClass::BpfProg { .. } => "bpf ",
                FrameClass::Trampoline => "tramp",
                FrameClass::Generic => "  .  ",
                FrameClass::Kernel => "kern ",
            };
            let _ = write!(out, "  {mark} {}", f.function);
            if let (Some(o), Some(s)) = (f.offset, f.size) {
                let _ = write!(out, "+{o:#x}/{s:#x}");
            }
            out.push('\n');
        }
    }
}
