//! A scheduler that failed to enable: a callback the kernel runs for every
//! task (or cgroup) while loading returned an error.
//!
//! ```text
//! sched_ext: ops.prep_enable() failed (-17) for stress-ng[1234] while loading   (pr_err, early kernels)
//! sched_ext: ops.init_task() failed (-12) for kworker/3:1[88] while loading     (pr_err, up to 6.10)
//! sched_ext: rusty: ops.init_task() failed (-12) for kworker/3:1[88]            (exit message, 6.11+)
//! ```
//!
//! Older kernels print the line on its own (journald or a copy may drop the
//! `sched_ext: ` prefix), often followed by a kernel warning splat and the
//! scheduler's exit (`sched_ext: BPF scheduler "rusty" disabled (runtime error)`),
//! which [`super::scan`] reads into the same crash.

use std::sync::LazyLock;

use regex::Regex;

use crate::report::{Crash, MessageFormat, TaskRef};

/// What `Crash::reason` says for these failures.
pub const REASON: &str = "enable failure";

static LINE: LazyLock<Regex> = LazyLock::new(|| {
    // A constant pattern: the tests compile it.
    #[allow(clippy::unwrap_used)]
    Regex::new(
        r"^(?:sched_ext: )?(?:(?P<sched>[A-Za-z_][\w-]*): )?(?P<msg>ops\.(?P<op>\w+)\(\) failed \((?P<err>-?\d+)\)(?: for (?P<comm>.+?)\[(?P<pid>\d+)\])?.*)$",
    )
    .unwrap()
});

/// The task a `ops.<op>() failed (<errno>) for <comm>[<pid>]` message names.
pub fn task_of(message: &str) -> Option<TaskRef> {
    let caps = LINE.captures(message.trim())?;
    Some(TaskRef {
        comm: caps.name("comm")?.as_str().to_string(),
        pid: caps.name("pid")?.as_str().parse().ok()?,
    })
}

/// The crash an enable-failure line (log prefixes already stripped) says.
pub fn parse_line(content: &str) -> Option<Crash> {
    let caps = LINE.captures(content.trim())?;
    let message = caps.name("msg")?.as_str().trim_end().to_string();
    Some(Crash {
        reason: Some(REASON.to_string()),
        task: task_of(&message),
        message: Some(message),
        scheduler: caps.name("sched").map(|m| m.as_str().to_string()),
        formats: vec![MessageFormat::KernelEnableFailed],
        // The kernel disables the scheduler after it (SCX_EXIT_ERROR unless
        // the scheduler's own scx_bpf_error() came first): a kernel exit.
        kernel_exit: true,
        ..Crash::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kernel_form() {
        let c = parse_line(
            "sched_ext: ops.prep_enable() failed (-17) for stress-ng[1234] while loading",
        )
        .unwrap();
        assert_eq!(
            c.message.as_deref(),
            Some("ops.prep_enable() failed (-17) for stress-ng[1234] while loading")
        );
        assert_eq!(
            c.task.as_ref().map(|t| t.to_string()).as_deref(),
            Some("stress-ng[1234]")
        );
        assert_eq!(c.reason.as_deref(), Some(REASON));
        assert_eq!(c.scheduler, None);
        assert!(c.kernel_exit);

        let c = parse_line("ops.init_task() failed (-12) for kworker/u16:2[218] while loading")
            .unwrap();
        assert_eq!(c.task.unwrap().to_string(), "kworker/u16:2[218]");

        // A comm with blanks and brackets of its own.
        let c =
            parse_line("sched_ext: ops.init_task() failed (-12) for Web Content[4242]").unwrap();
        assert_eq!(c.task.unwrap().comm, "Web Content");

        let c = parse_line("sched_ext: rusty: ops.init_task() failed (-12) for cc1[77]").unwrap();
        assert_eq!(c.scheduler.as_deref(), Some("rusty"));
        assert_eq!(
            c.message.as_deref(),
            Some("ops.init_task() failed (-12) for cc1[77]")
        );

        // Per-cgroup and global callbacks name no task.
        let c = parse_line("sched_ext: ops.cgroup_init() failed (-22)").unwrap();
        assert_eq!(c.task, None);

        assert!(parse_line("bpf_map_lookup_elem() failed (-2) for cpu 3").is_none());
        assert!(parse_line("sched_ext: BPF scheduler \"x\" disabled (runtime error)").is_none());
    }
}
