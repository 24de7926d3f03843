//! Backtrace lines: `func+0xOFF/0xSIZE [module]`, classified.

use crate::report::{Frame, FrameClass};

/// Parses one backtrace line (already stripped of log prefixes and indent).
///
/// Accepts the `? ` marker of unreliable oops frames and a trailing `[module]`.
pub fn parse_frame(line: &str) -> Option<Frame> {
    let mut s = line.trim();
    if let Some(rest) = s.strip_prefix("? ") {
        s = rest.trim_start();
    }
    let (sym, module) = match s.find(" [") {
        Some(i) if s.ends_with(']') => (&s[..i], Some(s[i + 2..s.len() - 1].to_string())),
        _ => (s, None),
    };
    if sym.contains(char::is_whitespace) {
        return None;
    }
    let plus = sym.rfind("+0x")?;
    let function = &sym[..plus];
    if function.is_empty()
        || !function
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.$".contains(c))
    {
        return None;
    }
    let (off, size) = match sym[plus + 3..].split_once("/0x") {
        Some((o, z)) => (o, Some(z)),
        None => (&sym[plus + 3..], None),
    };
    let offset = u64::from_str_radix(off, 16).ok()?;
    let size = match size {
        Some(z) => Some(u64::from_str_radix(z, 16).ok()?),
        None => None,
    };
    Some(Frame {
        function: function.to_string(),
        offset: Some(offset),
        size,
        module,
        class: classify(function),
    })
}

/// Kernel plumbing present in every sched_ext exit: never the answer.
const GENERIC_EXACT: &[&str] = &[
    "scx_exit",
    "__scx_exit",
    "scx_vexit",
    "scx_exit_bstr",
    "scx_bpf_error_bstr",
    "scx_bpf_exit_bstr",
    "scx_exit_reason",
    "scx_error_irq_workfn",
    "scx_ops_error_irq_workfn",
    "scx_disable_irq_workfn",
    "scx_disable_workfn",
    "scx_dump_state",
    "scx_dump_task",
    "scx_dump_cpu",
    "dump_stack",
    "dump_stack_lvl",
    "show_stack",
    "kthread",
    "worker_thread",
    "process_one_work",
    "process_scheduled_works",
    "do_syscall_64",
    "schedule",
    "__schedule",
    "schedule_idle",
    "cpu_startup_entry",
    "do_idle",
    "start_secondary",
    "common_startup_64",
];

const GENERIC_PREFIX: &[&str] = &[
    "ret_from_fork",
    "asm_",
    "entry_SYSCALL",
    "__sysvec_",
    "sysvec_",
    "irq_work_",
    "stack_trace_",
    "_raw_spin_",
    "__bpf_prog_enter",
    "__bpf_prog_exit",
];

/// Classifies a symbol name.
pub fn classify(function: &str) -> FrameClass {
    if let Some(rest) = function.strip_prefix("bpf_prog_") {
        let (tag, name) = match rest.split_once('_') {
            Some((t, n)) => (t, n),
            None => (rest, ""),
        };
        if !tag.is_empty() && tag.bytes().all(|b| b.is_ascii_hexdigit()) {
            return FrameClass::BpfProg {
                tag: tag.to_string(),
                name: name.to_string(),
            };
        }
    }
    if function.starts_with("bpf_trampoline_") || function.starts_with("bpf__sched_ext_ops_") {
        return FrameClass::Trampoline;
    }
    // `.llvm.123`, `.constprop.0`, `.cold` suffixes do not change what a function is.
    let base = function.split('.').next().unwrap_or(function);
    if GENERIC_EXACT.contains(&base) || GENERIC_PREFIX.iter().any(|p| base.starts_with(p)) {
        return FrameClass::Generic;
    }
    FrameClass::Kernel
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kernel_frame() {
        let f = parse_frame("  scx_dispatch_from_dsq+0x1a/0x30").unwrap();
        assert_eq!(f.function, "scx_dispatch_from_dsq");
        assert_eq!((f.offset, f.size), (Some(0x1a), Some(0x30)));
        assert_eq!(f.class, FrameClass::Kernel);
    }

    #[test]
    fn parses_bpf_prog_and_module() {
        let f = parse_frame("bpf_prog_24288482c3037da4_lavd_stopping+0x214/0x248").unwrap();
        assert_eq!(
            f.class,
            FrameClass::BpfProg {
                tag: "24288482c3037da4".into(),
                name: "lavd_stopping".into()
            }
        );
        let f = parse_frame("? foo_bar+0x10/0x20 [kvm]").unwrap();
        assert_eq!(f.module.as_deref(), Some("kvm"));
    }

    #[test]
    fn classifies_plumbing() {
        assert_eq!(classify("scx_bpf_error_bstr"), FrameClass::Generic);
        assert_eq!(
            classify("dequeue_task_scx.llvm.15304548555706679011"),
            FrameClass::Kernel
        );
        assert_eq!(
            classify("bpf__sched_ext_ops_enqueue"),
            FrameClass::Trampoline
        );
        assert_eq!(
            classify("asm_sysvec_apic_timer_interrupt"),
            FrameClass::Generic
        );
    }

    #[test]
    fn rejects_non_frames() {
        for s in [
            "Backtrace:",
            "CPU 0   : nr_run=1",
            "foo +0x1/0x2",
            "+0x1/0x2",
            "a+0xzz/0x1",
            "",
        ] {
            assert!(parse_frame(s).is_none(), "{s}");
        }
    }
}
