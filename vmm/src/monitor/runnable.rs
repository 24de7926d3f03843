//! How long runnable tasks have waited: each CPU's `rq->scx.runnable_list`
//! (the list sched_ext's watchdog walks) with each task's
//! `scx.runnable_at`, against `jiffies_64` and the scheduler's
//! `watchdog_timeout`. A task past half the timeout is a stall on its way,
//! seen from the host before the kernel's watchdog ends the scheduler
//! (ktstr's early-snapshot point). Offsets come from the kernel's BTF.

use scxray::btf::Btf;
use scxray::host_monitor::sample::RunnableWait;

use super::events::Translate;
use super::memory::GuestRam;

/// Tasks looked at per CPU at most: a longer list is taken for corrupt.
const MAX_LIST: usize = 4096;

/// Walks of one CPU's list before it is called broken.
const WALK_TRIES: usize = 3;

/// Where the reader finds what it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunnableLayout {
    /// `rq.scx.runnable_list`.
    pub rq_list: u64,
    /// `task_struct.scx.runnable_node`, `.scx.runnable_at`, `.pid`.
    pub node: u64,
    pub runnable_at: u64,
    pub pid: u64,
    /// `scx_sched.watchdog_timeout` (7.x; older kernels keep a global).
    pub watchdog_timeout: Option<u64>,
}

impl RunnableLayout {
    pub fn from_btf(btf: &Btf) -> Result<RunnableLayout, String> {
        let off = |s: &str, p: &[&str]| {
            btf.member_offset(s, p)
                .map_err(|e| format!("{s}.{}: {e}", p.join(".")))
        };
        Ok(RunnableLayout {
            rq_list: off("rq", &["scx", "runnable_list"])?,
            node: off("task_struct", &["scx", "runnable_node"])?,
            runnable_at: off("task_struct", &["scx", "runnable_at"])?,
            pid: off("task_struct", &["pid"])?,
            watchdog_timeout: off("scx_sched", &["watchdog_timeout"]).ok(),
        })
    }
}

/// Reads the longest wait every sample.
pub struct RunnableReader {
    layout: RunnableLayout,
    /// Each CPU's `struct rq`, virtual.
    rqs: Vec<u64>,
    jiffies_va: u64,
    scx_root_va: Option<u64>,
    xlate: Translate,
}

impl RunnableReader {
    pub fn new(
        layout: RunnableLayout,
        rqs: Vec<u64>,
        jiffies_64: Option<u64>,
        scx_root: Option<u64>,
        xlate: Translate,
    ) -> Result<RunnableReader, String> {
        Ok(RunnableReader {
            layout,
            rqs,
            jiffies_va: jiffies_64.ok_or(
                "kernel symbol jiffies_64 not found (neither in guest memory nor by the agent)",
            )?,
            scx_root_va: scx_root,
            xlate,
        })
    }

    fn u64_at(&self, ram: &GuestRam, va: u64) -> Result<u64, String> {
        let pa = self.xlate.pa(ram, va)?;
        ram.read_u64(pa)
            .ok_or_else(|| format!("{va:#x} (guest physical {pa:#x}) is outside guest RAM"))
    }

    /// The longest-waiting runnable task over all CPUs, if any is queued.
    pub fn read(&self, ram: &GuestRam) -> Result<Option<RunnableWait>, String> {
        let now = self.u64_at(ram, self.jiffies_va)?;
        let mut worst: Option<RunnableWait> = None;
        for (cpu, &rq) in self.rqs.iter().enumerate() {
            // The list is read while the guest runs: a task leaving it
            // mid-walk (`list_del_init` points its node at itself) reads as
            // a loop. Walked again before it is called broken.
            let mut tries = 0;
            let w = loop {
                match self.walk(ram, cpu, rq, now) {
                    Ok(w) => break w,
                    Err(why) if tries + 1 >= WALK_TRIES => return Err(why),
                    Err(_) => tries += 1,
                }
            };
            if let Some(w) = w {
                if worst.is_none_or(|o| w.waited_jiffies > o.waited_jiffies) {
                    worst = Some(w);
                }
            }
        }
        let l = &self.layout;
        if let (Some(w), Some(root), Some(off)) = (&mut worst, self.scx_root_va, l.watchdog_timeout)
        {
            let sched = self.u64_at(ram, root)?;
            if sched != 0 {
                w.timeout_jiffies = Some(self.u64_at(ram, sched + off)?);
            }
        }
        Ok(worst)
    }

    /// One CPU's longest-waiting task.
    fn walk(
        &self,
        ram: &GuestRam,
        cpu: usize,
        rq: u64,
        now: u64,
    ) -> Result<Option<RunnableWait>, String> {
        let l = &self.layout;
        let head = rq + l.rq_list;
        let mut node = self.u64_at(ram, head)?;
        let mut worst: Option<RunnableWait> = None;
        let mut n = 0;
        while node != head {
            n += 1;
            if node == 0 || n > MAX_LIST {
                return Err(format!("CPU {cpu}'s runnable list is broken"));
            }
            let task = node.wrapping_sub(l.node);
            let at = self.u64_at(ram, task + l.runnable_at)?;
            let waited = now.saturating_sub(at);
            if worst.is_none_or(|w| waited > w.waited_jiffies) {
                let pid = self.u64_at(ram, task + l.pid)? as u32 as i32;
                worst = Some(RunnableWait {
                    cpu: cpu as u32,
                    pid,
                    waited_jiffies: waited,
                    timeout_jiffies: None,
                });
            }
            let next = self.u64_at(ram, node)?;
            if next == node {
                return Err(format!(
                    "CPU {cpu}'s runnable list is broken (a node points at itself)"
                ));
            }
            node = next;
        }
        Ok(worst)
    }
}
