//! The failure dump: the scheduler's state in guest memory at the instant
//! the kernel claimed an error exit, read from the host while every vCPU
//! was stopped (scxray's own `--- failure dump ---` section).
//!
//! The model is filled by `scxray-vmm`'s freeze walker and written as text
//! by [`text`]; the text parses back into the same model, so a saved report
//! shows the same dump as the live run did. Every value is what guest
//! memory held; what could not be read is said in [`FailureDump::skipped`]
//! with the reason, never shown as zero.

pub mod text;

use serde::{Deserialize, Serialize};

/// Everything read from one frozen guest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureDump {
    /// Host time since the run started when the guest was frozen.
    pub at_ms: u64,
    /// What froze the guest and when relative to the error.
    pub trigger: Trigger,
    /// `scx_sched.exit_kind` at the freeze (1024 and up: an error class),
    /// with the kernel's name for it when BTF has one (`SCX_EXIT_ERROR`).
    pub exit_kind: Option<u32>,
    pub exit_kind_name: Option<String>,
    /// Microseconds from the freeze to the resume, and of that the walk.
    pub frozen_us: u64,
    pub walk_us: u64,
    /// One entry per CPU, in CPU order.
    pub cpus: Vec<CpuDump>,
    /// Every DSQ that held a task at the freeze (global, user and local),
    /// as the tasks' `scx.dsq` pointers name them.
    pub dsqs: Vec<DsqDump>,
    /// The tasks sched_ext knows (`scx_tasks`), at most the walker's limit;
    /// [`FailureDump::tasks_total`] counts them all.
    pub tasks: Vec<TaskDump>,
    pub tasks_total: u32,
    /// `scx_tasks` counted by state (`SCX_TASK_ENABLED` …), in the
    /// kernel's order.
    pub task_states: Vec<(String, u32)>,
    /// The scheduler's BPF maps (those its struct_ops programs use).
    pub maps: Vec<MapDump>,
    /// Each vCPU's registers at the freeze.
    pub vcpus: Vec<VcpuRegs>,
    /// What the walk did not read and why: a missing symbol or BTF type,
    /// unreadable memory, the deadline.
    pub skipped: Vec<String>,
}

/// What stopped the guest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "how", rename_all = "snake_case")]
pub enum Trigger {
    /// A write watchpoint on `exit_kind` fired: the guest stopped at the
    /// instruction that claimed the exit, before the kernel's own dump.
    Watchpoint {
        /// Guest virtual address watched.
        address: u64,
        /// Guest instruction pointer when it fired, and its symbol.
        rip: Option<u64>,
        rip_symbol: Option<String>,
    },
    /// The guest was stopped from the host after the exit was seen
    /// (no watchpoint could be set): `late_ms` after the first sign.
    Late { why: String, late_ms: u64 },
    #[default]
    Unknown,
}

/// One CPU's runqueue at the freeze.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuDump {
    pub cpu: u32,
    /// `rq->curr`.
    pub curr: Option<TaskRef>,
    /// `rq->nr_running`, `rq->scx.nr_running`, `rq->scx.flags`.
    pub nr_running: u32,
    pub scx_nr_running: u32,
    pub scx_flags: u32,
    /// `rq->scx.local_dsq.nr` and the tasks on its list, in order.
    pub local_dsq_nr: u32,
    pub local_dsq: Vec<TaskRef>,
}

/// A task named by pid and comm.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRef {
    pub pid: i32,
    pub comm: String,
}

/// A dispatch queue and the tasks queued on it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DsqDump {
    /// `scx_dispatch_q.id`; see [`dsq_name`].
    pub id: u64,
    /// `scx_dispatch_q.nr`.
    pub nr: u32,
    pub tasks: Vec<TaskRef>,
}

/// One task's `task_struct->scx`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskDump {
    pub pid: i32,
    pub comm: String,
    /// The CPU the task is on or queued for (`task_cpu()`).
    pub cpu: u32,
    /// `scx.flags` raw, and its state and flag names (from BTF).
    pub flags: u32,
    pub state: String,
    pub flag_names: Vec<String>,
    pub weight: u32,
    pub slice: u64,
    pub dsq_vtime: u64,
    /// `scx.dsq->id`, when the task is queued.
    pub dsq: Option<u64>,
    /// `scx.sticky_cpu`, `scx.holding_cpu` (−1: none).
    pub sticky_cpu: i32,
    pub holding_cpu: i32,
    /// `scx.runnable_at` in jiffies, and how many jiffies before the
    /// freeze that was (how long it has waited to run).
    pub runnable_at: u64,
    pub runnable_for_jiffies: Option<u64>,
    /// The whole `task_struct->scx` (`struct sched_ext_entity`) decoded
    /// through the kernel's BTF, for the tasks the scheduler was handling
    /// (queued, on a DSQ, or running on a CPU) at the freeze.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scx: Option<String>,
}

/// One BPF map of the scheduler.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapDump {
    pub id: u32,
    pub name: String,
    /// `array`, `percpu_array`, `hash`, … (the kernel's `BPF_MAP_TYPE_*`
    /// lower-cased without the prefix; `type <n>` when unknown).
    pub map_type: String,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    /// The first entries, decoded; for a per-CPU map one entry per CPU
    /// value, keyed `key@cpu`.
    pub entries: Vec<MapEntry>,
    /// Why the entries are not shown or stop early, if they do.
    pub note: Option<String>,
}

/// One map entry: the key and value as text (decoded through the map's
/// BTF as `{ field = value, … }`, else hex bytes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapEntry {
    pub key: String,
    pub value: String,
}

/// One vCPU's registers (x86-64), as the gdbstub gave them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VcpuRegs {
    pub cpu: u32,
    pub rip: u64,
    /// The kernel symbol at `rip`, `name+0xoff`.
    pub rip_symbol: Option<String>,
    pub rsp: u64,
    pub rflags: u64,
    /// The other general registers in the gdb order (`rax` … `r15`).
    pub gprs: Vec<(String, u64)>,
}

/// How the kernel names a DSQ id: the built-in ones by name
/// (`SCX_DSQ_GLOBAL`, `SCX_DSQ_LOCAL`, `SCX_DSQ_LOCAL_ON|<cpu>`), a user
/// DSQ by its number in hex.
pub fn dsq_name(id: u64) -> String {
    const BUILTIN: u64 = 1 << 63;
    const LOCAL_ON: u64 = BUILTIN | (1 << 62);
    match id {
        _ if id & LOCAL_ON == LOCAL_ON => format!("SCX_DSQ_LOCAL_ON|{}", id as u32),
        x if x == BUILTIN => "SCX_DSQ_INVALID".into(),
        x if x == BUILTIN | 1 => "SCX_DSQ_GLOBAL".into(),
        x if x == BUILTIN | 2 => "SCX_DSQ_LOCAL".into(),
        x if x == BUILTIN | 3 => "SCX_DSQ_BYPASS".into(),
        _ => format!("{id:#x}"),
    }
}

impl FailureDump {
    /// The task with `pid`, if the walk saw it.
    pub fn task(&self, pid: i32) -> Option<&TaskDump> {
        self.tasks.iter().find(|t| t.pid == pid)
    }

    /// The pid of the first `comm[pid]` (else `pid N`) in `message` that
    /// names a task the walk saw (anywhere in the dump): the task an error
    /// message is about.
    /// A pid alone is matched, since the message may quote the comm
    /// differently (cut at 15 bytes, or with a prefix).
    pub fn task_named_in(&self, message: &str) -> Option<i32> {
        let seen = |pid: i32| {
            self.task(pid).is_some()
                || self
                    .cpus
                    .iter()
                    .flat_map(|c| c.curr.iter().chain(&c.local_dsq))
                    .chain(self.dsqs.iter().flat_map(|q| &q.tasks))
                    .any(|t| t.pid == pid)
        };
        // `comm[pid]` (the kernel's form), then `pid N` (a scheduler's own
        // message, as the demo's `… (enqueue #400, pid 116)`).
        let bracketed = message
            .split('[')
            .skip(1)
            .filter_map(|s| s.split_once(']'))
            .filter_map(|(pid, _)| pid.parse::<i32>().ok());
        let worded = message.split("pid ").skip(1).filter_map(|s| {
            let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
            s[..end].parse::<i32>().ok()
        });
        bracketed.chain(worded).find(|&pid| seen(pid))
    }
}

/// The report's dump: the test run's, or with `repro` the auto-repro VM's;
/// `None` without the section.
pub fn of_report(
    report: &crate::report::Report,
    repro: bool,
) -> Option<Result<FailureDump, text::ParseError>> {
    let kind = if repro {
        crate::report::SectionKind::ReproFailureDump
    } else {
        crate::report::SectionKind::FailureDump
    };
    report.section(&kind).map(|s| text::parse(&s.body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dsq_names_follow_the_kernels_encoding() {
        assert_eq!(dsq_name(0x8000_0000_0000_0001), "SCX_DSQ_GLOBAL");
        assert_eq!(dsq_name(0x8000_0000_0000_0002), "SCX_DSQ_LOCAL");
        assert_eq!(dsq_name(0xc000_0000_0000_0001), "SCX_DSQ_LOCAL_ON|1");
        assert_eq!(dsq_name(0x100), "0x100");
    }

    #[test]
    fn the_task_a_message_names_is_one_the_walk_saw() {
        let d = FailureDump {
            cpus: vec![CpuDump {
                curr: Some(TaskRef {
                    pid: 153,
                    comm: "scx-spin".into(),
                }),
                ..CpuDump::default()
            }],
            ..FailureDump::default()
        };
        let msg = "cpu[0] busy: scx-spin[153] dispatched to bad dsq";
        assert_eq!(d.task_named_in(msg), Some(153));
        assert_eq!(d.task_named_in("kworker/0:1[7] stuck"), None);
        let demo = "cell 0 has no usable CPU left (enqueue #400, pid 153)";
        assert_eq!(d.task_named_in(demo), Some(153));
        assert_eq!(d.task_named_in("pid 7, pid x, pid"), None);
    }
}
