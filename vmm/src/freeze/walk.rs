//! Walks a frozen guest's sched_ext state out of its memory: each CPU's
//! runqueue and local DSQ, every task on `scx_tasks`, the DSQs those tasks
//! sit on, and the scheduler's BPF maps.
//!
//! Guest memory may hold anything (a half-updated list, a freed object, a
//! layout that does not match): every list walk is bounded, every read can
//! fail and says where, and the deadline stops the walk with a note of what
//! it skipped. Nothing here panics on what it reads.

use std::collections::BTreeMap;
use std::time::Instant;

use scxray::failure_dump::{CpuDump, DsqDump, FailureDump, MapDump, TaskDump, TaskRef};

use scxray::btf::Btf;

use super::layout::{MapFields, WalkLayout};
use super::maps;

/// Reads kernel virtual memory of the frozen guest.
pub trait GuestMem {
    fn read(&self, va: u64, buf: &mut [u8]) -> Result<(), String>;

    fn u64(&self, va: u64) -> Result<u64, String> {
        let mut b = [0u8; 8];
        self.read(va, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn u32(&self, va: u64) -> Result<u32, String> {
        let mut b = [0u8; 4];
        self.read(va, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }
}

impl GuestMem for crate::monitor::GuestView<'_> {
    fn read(&self, va: u64, buf: &mut [u8]) -> Result<(), String> {
        crate::monitor::GuestView::read(self, va, buf)
    }
}

/// Bounds of one walk.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Tasks read off `scx_tasks` (the rest are counted only).
    pub tasks: usize,
    /// Tasks listed per DSQ.
    pub per_dsq: usize,
    /// Entries shown per map.
    pub map_entries: usize,
    /// Bytes of a typed value read (a bigger one is cut with a note).
    pub value_bytes: usize,
    /// When the walk gives up and says what it skipped.
    pub deadline: Instant,
}

/// The kernel's BTF and the type id of `struct sched_ext_entity`, to show
/// a task's whole `scx`.
pub type ScxType<'a> = Option<(&'a Btf, u32)>;

/// Where the walk starts: addresses the monitor resolved.
pub struct Roots {
    /// Each CPU's `struct rq`, virtual.
    pub rqs: Vec<u64>,
    /// Each CPU's `__per_cpu_offset`.
    pub per_cpu: Vec<u64>,
    /// `scx_tasks` and `jiffies_64`, when kallsyms had them.
    pub scx_tasks: Option<u64>,
    pub jiffies_64: Option<u64>,
    /// The struct_ops programs' `bpf_prog_aux`, or why there are none.
    pub prog_aux: Result<Vec<u64>, String>,
}

/// A list longer than this is taken for a corrupt one.
const MAX_LIST: usize = 100_000;

/// The `list_head`s linked after `head`, at most `max`; an error when a
/// link cannot be read or the list does not come back to `head`.
fn list<M: GuestMem>(mem: &M, head: u64, max: usize) -> Result<(Vec<u64>, bool), String> {
    let mut out = Vec::new();
    let mut node = mem
        .u64(head)
        .map_err(|e| format!("list at {head:#x}: {e}"))?;
    while node != head {
        if node == 0 {
            return Err(format!("list at {head:#x} has a null link"));
        }
        if out.len() >= max {
            return Ok((out, true));
        }
        out.push(node);
        node = mem
            .u64(node)
            .map_err(|e| format!("list at {head:#x}: {e}"))?;
    }
    Ok((out, false))
}

/// `task_struct.comm` up to its NUL.
fn comm<M: GuestMem>(mem: &M, l: &WalkLayout, task: u64) -> Result<String, String> {
    let mut b = [0u8; 16];
    mem.read(task + l.task.comm, &mut b)?;
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    Ok(String::from_utf8_lossy(&b[..end]).into_owned())
}

fn task_ref<M: GuestMem>(mem: &M, l: &WalkLayout, task: u64) -> Result<TaskRef, String> {
    Ok(TaskRef {
        pid: mem.u32(task + l.task.pid)? as i32,
        comm: comm(mem, l, task)?,
    })
}

/// The walk's state: what it found and what it had to skip.
struct Walk<'a, M> {
    mem: &'a M,
    l: &'a WalkLayout,
    limits: Limits,
    skipped: Vec<String>,
    timed_out: bool,
    scx_type: ScxType<'a>,
    /// The pids running on a CPU at the freeze.
    running: Vec<i32>,
}

impl<M: GuestMem> Walk<'_, M> {
    fn out_of_time(&mut self, what: &str) -> bool {
        if Instant::now() >= self.limits.deadline {
            if !self.timed_out {
                self.timed_out = true;
                self.skipped.push(format!(
                    "deadline crossed: {what} and what follows not read"
                ));
            }
            return true;
        }
        false
    }

    /// The tasks on a DSQ's FIFO, at most the limit.
    fn dsq_tasks(&mut self, dsq: u64) -> Result<Vec<TaskRef>, String> {
        let (nodes, more) = list(self.mem, dsq + self.l.dsq.list, self.limits.per_dsq)?;
        let mut out = Vec::new();
        for node in nodes {
            out.push(task_ref(self.mem, self.l, node - self.l.task.dsq_node)?);
        }
        if more {
            self.skipped.push(format!(
                "DSQ at {dsq:#x}: only its first {} tasks listed",
                self.limits.per_dsq
            ));
        }
        Ok(out)
    }

    fn cpu(&mut self, cpu: u32, rq: u64) -> Result<CpuDump, String> {
        let (m, l) = (self.mem, &self.l.rq);
        let curr = m.u64(rq + l.curr)?;
        let local = rq + l.local_dsq;
        Ok(CpuDump {
            cpu,
            curr: if curr == 0 {
                None
            } else {
                Some(task_ref(m, self.l, curr)?)
            },
            nr_running: m.u32(rq + l.nr_running)?,
            scx_nr_running: m.u32(rq + l.scx_nr_running)?,
            scx_flags: m.u32(rq + l.scx_flags)?,
            local_dsq_nr: m.u32(local + self.l.dsq.nr)?,
            local_dsq: self.dsq_tasks(local)?,
        })
    }

    fn task(&self, task: u64, jiffies: Option<u64>) -> Result<(TaskDump, u64), String> {
        let (m, t) = (self.mem, &self.l.task);
        let flags = m.u32(task + t.flags)?;
        let dsq_ptr = m.u64(task + t.dsq)?;
        let dsq = if dsq_ptr == 0 {
            None
        } else {
            Some(m.u64(dsq_ptr + self.l.dsq.id)?)
        };
        let runnable_at = m.u64(task + t.runnable_at)?;
        let r = task_ref(m, self.l, task)?;
        // The tasks the scheduler was handling get their whole entity.
        let handled = flags & self.l.task_flags.flag_bit("QUEUED").unwrap_or(0) as u32 != 0
            || dsq_ptr != 0
            || self.running.contains(&r.pid);
        let scx = match self.scx_type {
            Some((btf, id)) if handled => {
                let mut raw = vec![0u8; t.scx_size.min(4096) as usize];
                m.read(task + t.scx, &mut raw)?;
                Some(
                    btf.format_value(id, &raw)
                        .unwrap_or_else(|e| format!("not decoded: {e}")),
                )
            }
            _ => None,
        };
        Ok((
            TaskDump {
                pid: r.pid,
                comm: r.comm,
                cpu: m.u32(task + t.cpu)?,
                flags,
                state: self.l.task_flags.state_of(u64::from(flags)),
                flag_names: self.l.task_flags.flag_names(u64::from(flags)),
                weight: m.u32(task + t.weight)?,
                slice: m.u64(task + t.slice)?,
                dsq_vtime: m.u64(task + t.dsq_vtime)?,
                dsq,
                sticky_cpu: m.u32(task + t.sticky_cpu)? as i32,
                holding_cpu: m.u32(task + t.holding_cpu)? as i32,
                runnable_at,
                // Only a queued task's clock means something.
                runnable_for_jiffies: jiffies
                    .filter(|_| dsq.is_some() && runnable_at != 0)
                    .and_then(|j| j.checked_sub(runnable_at)),
                scx,
            },
            dsq_ptr,
        ))
    }
}

/// Walks the frozen guest. Every part that cannot be read is left out with
/// the reason in `skipped`; the rest is still read.
pub fn walk<M: GuestMem>(
    mem: &M,
    l: &WalkLayout,
    roots: &Roots,
    limits: Limits,
    scx_type: ScxType<'_>,
) -> FailureDump {
    let mut w = Walk {
        mem,
        l,
        limits,
        skipped: Vec::new(),
        timed_out: false,
        scx_type,
        running: Vec::new(),
    };
    let mut d = FailureDump::default();
    let locals: Vec<u64> = roots.rqs.iter().map(|rq| rq + l.rq.local_dsq).collect();
    for (cpu, &rq) in roots.rqs.iter().enumerate() {
        if w.out_of_time(&format!("CPU {cpu}'s runqueue")) {
            break;
        }
        match w.cpu(cpu as u32, rq) {
            Ok(c) => d.cpus.push(c),
            Err(e) => w.skipped.push(format!("CPU {cpu}'s runqueue: {e}")),
        }
    }
    w.running = d
        .cpus
        .iter()
        .filter_map(|c| c.curr.as_ref().map(|t| t.pid))
        .collect();
    let jiffies = roots.jiffies_64.and_then(|va| {
        mem.u64(va)
            .map_err(|e| {
                w.skipped
                    .push(format!("jiffies_64: {e}; task waits not aged"))
            })
            .ok()
    });
    if roots.jiffies_64.is_none() {
        w.skipped
            .push("kernel symbol jiffies_64 not found: task waits not aged".into());
    }
    // Tasks, and the DSQs they point at (global and user DSQs need no walk
    // of the scheduler's hash table this way).
    let mut dsqs: BTreeMap<u64, ()> = BTreeMap::new();
    match roots.scx_tasks {
        None => w
            .skipped
            .push("kernel symbol scx_tasks not found: tasks and DSQs other than the CPUs' local ones not read".into()),
        Some(head) => match list(mem, head, MAX_LIST) {
            Err(e) => w.skipped.push(format!("scx_tasks: {e}")),
            Ok((nodes, more)) => {
                if more {
                    w.skipped
                        .push(format!("scx_tasks: longer than {MAX_LIST}; the rest not counted"));
                }
                let cursor = l.task_flags.flag_bit("CURSOR").unwrap_or(0);
                let mut states: Vec<(String, u32)> = Vec::new();
                for node in nodes {
                    if w.out_of_time("scx_tasks") {
                        break;
                    }
                    let task = node.wrapping_sub(l.task.tasks_node);
                    // An iterator's cursor sits on the list too; it is no task.
                    let flags = match mem.u32(task + l.task.flags) {
                        Ok(f) => f,
                        Err(e) => {
                            w.skipped.push(format!("a task on scx_tasks: {e}"));
                            continue;
                        }
                    };
                    if u64::from(flags) & cursor != 0 {
                        continue;
                    }
                    d.tasks_total += 1;
                    let state = l.task_flags.state_of(u64::from(flags));
                    match states.iter_mut().find(|(s, _)| *s == state) {
                        Some((_, n)) => *n += 1,
                        None => states.push((state, 1)),
                    }
                    if d.tasks.len() >= limits.tasks {
                        continue;
                    }
                    match w.task(task, jiffies) {
                        Ok((t, dsq_ptr)) => {
                            if dsq_ptr != 0 && !locals.contains(&dsq_ptr) {
                                dsqs.insert(dsq_ptr, ());
                            }
                            d.tasks.push(t);
                        }
                        Err(e) => w.skipped.push(format!("task at {task:#x}: {e}")),
                    }
                }
                if d.tasks_total as usize > d.tasks.len() && !w.timed_out {
                    w.skipped.push(format!(
                        "{} of {} tasks listed (the limit)",
                        d.tasks.len(),
                        d.tasks_total
                    ));
                }
                // The kernel's order of states, as its enum has them.
                states.sort_by_key(|(s, _)| state_rank(l, s));
                d.task_states = states;
            }
        },
    }
    for &dsq in dsqs.keys() {
        if w.out_of_time("the DSQs") {
            break;
        }
        let read = || -> Result<DsqDump, String> {
            Ok(DsqDump {
                id: mem.u64(dsq + l.dsq.id)?,
                nr: mem.u32(dsq + l.dsq.nr)?,
                tasks: Vec::new(),
            })
        };
        match read().and_then(|mut q| {
            q.tasks = w.dsq_tasks(dsq)?;
            Ok(q)
        }) {
            Ok(q) => d.dsqs.push(q),
            Err(e) => w.skipped.push(format!("DSQ at {dsq:#x}: {e}")),
        }
    }
    d.dsqs.sort_by_key(|q| q.id);
    match (&l.maps, &roots.prog_aux) {
        (Err(why), _) => w.skipped.push(format!("BPF maps not read: {why}")),
        (_, Err(why)) => w.skipped.push(format!("BPF maps not read: {why}")),
        (Ok(f), Ok(aux)) => {
            if !w.out_of_time("the BPF maps") {
                d.maps = read_maps(&mut w, f, aux, &roots.per_cpu);
            }
        }
    }
    d.skipped = w.skipped;
    d
}

/// Sorts states by the enum's value (`NONE` first, unnamed last).
fn state_rank(l: &WalkLayout, state: &str) -> u64 {
    match state {
        "NONE" => 0,
        s => l.task_flags.state_value(s).unwrap_or(u64::MAX),
    }
}

/// The maps the struct_ops programs use, each once, in id order.
fn read_maps<M: GuestMem>(
    w: &mut Walk<'_, M>,
    f: &MapFields,
    aux: &[u64],
    per_cpu: &[u64],
) -> Vec<MapDump> {
    let mem = w.mem;
    let mut ptrs: Vec<u64> = Vec::new();
    for &a in aux {
        let read = || -> Result<Vec<u64>, String> {
            let used = mem.u64(a + f.aux_used_maps)?;
            let n = mem.u32(a + f.aux_used_map_cnt)?.min(64);
            (0..u64::from(n)).map(|i| mem.u64(used + 8 * i)).collect()
        };
        match read() {
            Ok(maps) => ptrs.extend(maps),
            Err(e) => w.skipped.push(format!("a program's maps: {e}")),
        }
    }
    ptrs.sort_unstable();
    ptrs.dedup();
    let mut out = Vec::new();
    for map in ptrs {
        if w.out_of_time("the BPF maps") {
            break;
        }
        match maps::read_map(mem, f, map, per_cpu, w.limits) {
            Ok(m) => out.push(m),
            Err(e) => w.skipped.push(format!("map at {map:#x}: {e}")),
        }
    }
    out.sort_by_key(|m| m.id);
    out
}

/// Hex bytes, space-separated in groups of 8.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2 + bytes.len() / 8);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 && i % 8 == 0 {
            s.push(' ');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use scxray::repro::ScxTaskFlags;

    use super::super::layout::{DsqFields, RqFields, TaskFields};
    use super::*;

    /// Byte-addressed fake memory: what a test pokes, nothing else.
    #[derive(Default)]
    struct Fake(HashMap<u64, u8>);

    impl Fake {
        fn put(&mut self, va: u64, bytes: &[u8]) {
            for (i, b) in bytes.iter().enumerate() {
                self.0.insert(va + i as u64, *b);
            }
        }
        fn set64(&mut self, va: u64, v: u64) {
            self.put(va, &v.to_le_bytes());
        }
        fn set32(&mut self, va: u64, v: u32) {
            self.put(va, &v.to_le_bytes());
        }
    }

    impl GuestMem for Fake {
        fn read(&self, va: u64, buf: &mut [u8]) -> Result<(), String> {
            for (i, b) in buf.iter_mut().enumerate() {
                let at = va.wrapping_add(i as u64);
                *b = *self
                    .0
                    .get(&at)
                    .ok_or_else(|| format!("{at:#x} not mapped"))?;
            }
            Ok(())
        }
    }

    pub(crate) fn layout() -> WalkLayout {
        WalkLayout {
            rq: RqFields {
                curr: 0,
                nr_running: 8,
                scx_nr_running: 0x10,
                scx_flags: 0x14,
                local_dsq: 0x100,
            },
            dsq: DsqFields {
                list: 8,
                nr: 0x18,
                id: 0x20,
            },
            task: TaskFields {
                pid: 0x10,
                comm: 0x20,
                cpu: 0x30,
                dsq: 0x40,
                dsq_node: 0x48,
                flags: 0x60,
                weight: 0x64,
                slice: 0x68,
                dsq_vtime: 0x70,
                sticky_cpu: 0x78,
                holding_cpu: 0x7c,
                runnable_at: 0x80,
                tasks_node: 0x90,
                scx: 0x40,
                scx_size: 8,
            },
            exit_kind: 0x10,
            exit_kinds: vec![(1024, "SCX_EXIT_ERROR".into())],
            task_flags: ScxTaskFlags::since_7_1(),
            maps: Err("not in this test".into()),
        }
    }

    fn limits() -> Limits {
        Limits {
            tasks: 100,
            per_dsq: 8,
            map_entries: 4,
            value_bytes: 64,
            deadline: Instant::now() + Duration::from_secs(5),
        }
    }

    const RQS: [u64; 2] = [0x1000, 0x2000];
    const USER_DSQ: u64 = 0x3000;
    const SCX_TASKS: u64 = 0x500;
    const JIFFIES: u64 = 0x600;
    const fn task(pid: u64) -> u64 {
        0x10000 + 0x200 * (pid - 100)
    }

    /// Links `nodes` into a circular list headed at `head`.
    fn link(m: &mut Fake, head: u64, nodes: &[u64]) {
        let mut prev = head;
        for &n in nodes {
            m.set64(prev, n);
            prev = n;
        }
        m.set64(prev, head);
    }

    /// Two CPUs; pids 100–104 on scx_tasks; 101 on CPU 0's local DSQ,
    /// 102 and 103 on user DSQ "DEMO", 104 running on CPU 1.
    fn guest() -> Fake {
        let l = layout();
        let mut m = Fake::default();
        let dsq = |m: &mut Fake, at: u64, id: u64, tasks: &[u64]| {
            m.set64(at + l.dsq.id, id);
            m.set32(at + l.dsq.nr, tasks.len() as u32);
            let nodes: Vec<u64> = tasks.iter().map(|&p| task(p) + l.task.dsq_node).collect();
            link(m, at + l.dsq.list, &nodes);
        };
        for pid in 100..105u64 {
            let t = task(pid);
            m.set32(t + l.task.pid, pid as u32);
            let mut comm = [0u8; 16];
            comm[..8].copy_from_slice(format!("work-{pid}").as_bytes());
            m.put(t + l.task.comm, &comm);
            m.set32(t + l.task.cpu, (pid % 2) as u32);
            // ENABLED (4 at bit 8 since 7.1), QUEUED when on a DSQ.
            let queued = matches!(pid, 101..=103);
            m.set32(t + l.task.flags, (4 << 8) | u32::from(queued));
            m.set32(t + l.task.weight, 100);
            m.set64(t + l.task.slice, 20_000_000);
            m.set64(t + l.task.dsq_vtime, 0);
            m.set32(t + l.task.sticky_cpu, -1i32 as u32);
            m.set32(t + l.task.holding_cpu, -1i32 as u32);
            m.set64(t + l.task.runnable_at, 1000);
            let on = match pid {
                101 => RQS[0] + l.rq.local_dsq,
                102 | 103 => USER_DSQ,
                _ => 0,
            };
            m.set64(t + l.task.dsq, on);
        }
        let nodes: Vec<u64> = (100..105).map(|p| task(p) + l.task.tasks_node).collect();
        link(&mut m, SCX_TASKS, &nodes);
        for (cpu, &rq) in RQS.iter().enumerate() {
            m.set64(rq + l.rq.curr, if cpu == 1 { task(104) } else { 0 });
            m.set32(rq + l.rq.nr_running, 2 + cpu as u32);
            m.set32(rq + l.rq.scx_nr_running, 1 + cpu as u32);
            m.set32(rq + l.rq.scx_flags, 1);
        }
        dsq(
            &mut m,
            RQS[0] + l.rq.local_dsq,
            0x8000_0000_0000_0002,
            &[101],
        );
        dsq(&mut m, RQS[1] + l.rq.local_dsq, 0x8000_0000_0000_0002, &[]);
        dsq(&mut m, USER_DSQ, 0x4445_4d4f, &[102, 103]);
        m.set64(JIFFIES, 1250);
        m
    }

    fn roots() -> Roots {
        Roots {
            rqs: RQS.to_vec(),
            per_cpu: vec![0, 0],
            scx_tasks: Some(SCX_TASKS),
            jiffies_64: Some(JIFFIES),
            prog_aux: Ok(Vec::new()),
        }
    }

    #[test]
    fn runqueues_dsqs_and_tasks_of_a_consistent_guest() {
        let d = walk(&guest(), &layout(), &roots(), limits(), None);
        let refs = |v: &[TaskRef]| v.iter().map(|t| t.pid).collect::<Vec<_>>();
        assert_eq!(d.cpus.len(), 2, "{:?}", d.skipped);
        assert_eq!(refs(&d.cpus[0].local_dsq), [101]);
        assert_eq!(d.cpus[0].curr, None);
        assert_eq!(d.cpus[1].curr.as_ref().map(|t| t.pid), Some(104));
        assert_eq!(d.cpus[1].nr_running, 3);
        assert_eq!(d.dsqs.len(), 1, "only the user DSQ besides the local ones");
        assert_eq!((d.dsqs[0].id, d.dsqs[0].nr), (0x4445_4d4f, 2));
        assert_eq!(refs(&d.dsqs[0].tasks), [102, 103]);
        assert_eq!(d.tasks_total, 5);
        assert_eq!(d.task_states, [("ENABLED".to_string(), 5)]);
        let t = d.task(102).unwrap();
        assert_eq!(t.comm, "work-102");
        assert_eq!(t.state, "ENABLED");
        assert_eq!(t.flag_names, ["QUEUED"]);
        assert_eq!(t.dsq, Some(0x4445_4d4f));
        assert_eq!(t.runnable_for_jiffies, Some(250));
        assert_eq!(d.task(104).unwrap().runnable_for_jiffies, None);
        assert_eq!(d.skipped, ["BPF maps not read: not in this test"]);
        assert_eq!(t.scx, None, "no BTF given");
    }

    /// A hash map used by a struct_ops program: its two elements found
    /// through the buckets' chains, keys and values in hex (no BTF).
    #[test]
    fn a_hash_maps_elements_through_its_buckets() {
        let mut l = layout();
        l.maps = Ok(super::super::layout::tests::map_fields());
        let f = l.maps.clone().unwrap();
        let h = f.htab.unwrap();
        let mut m = guest();
        let (aux, used, map, buckets) = (0x7000, 0x7800, 0x8000, 0x9000);
        m.set64(aux + f.aux_used_maps, used);
        m.set32(aux + f.aux_used_map_cnt, 1);
        m.set64(used, map);
        m.set32(map + f.map_type, 1);
        m.set32(map + f.key_size, 4);
        m.set32(map + f.value_size, 8);
        m.set32(map + f.max_entries, 16);
        m.set32(map + f.id, 9);
        m.put(map + f.name, b"task_ctx\0\0\0\0\0\0\0\0");
        m.set64(map + f.btf, 0);
        m.set32(map + f.btf_key_type_id, 0);
        m.set32(map + f.btf_value_type_id, 0);
        m.set64(map + h.buckets, buckets);
        m.set32(map + h.n_buckets, 2);
        // Bucket 0: A → B → nulls; bucket 1: empty (a nulls marker).
        let (a, b) = (0xa000u64, 0xa100u64);
        m.set64(buckets, a);
        m.set64(buckets + h.bucket_size, 3);
        m.set64(a, b);
        m.set64(b, 1);
        for (e, key, value) in [(a, 153u32, 5u64), (b, 154, 6)] {
            m.set32(e + h.elem_key, key);
            m.set64(e + h.elem_key + 8, value);
        }
        let mut r = roots();
        r.prog_aux = Ok(vec![aux]);
        let d = walk(&m, &l, &r, limits(), None);
        assert_eq!(d.maps.len(), 1, "{:?}", d.skipped);
        let map = &d.maps[0];
        assert_eq!(
            (map.id, map.name.as_str(), map.map_type.as_str()),
            (9, "task_ctx", "hash")
        );
        let entries: Vec<(&str, &str)> = map
            .entries
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str()))
            .collect();
        assert_eq!(
            entries,
            [
                ("99000000", "0500000000000000"),
                ("9a000000", "0600000000000000")
            ]
        );
        assert_eq!(
            map.note.as_deref(),
            Some("values in hex: the map has no BTF")
        );
        // A chain that loops is bounded and named.
        m.set64(b, a);
        let d = walk(&m, &l, &r, limits(), None);
        assert!(d.maps[0].entries.len() <= limits().map_entries);
    }

    /// Raw BTF of `struct sched_ext_entity { u64 dsq; }`.
    fn entity_btf() -> Btf {
        let strings = b"\0u64\0sched_ext_entity\0dsq\0";
        let mut types = Vec::new();
        for w in [1u32, 1 << 24, 8, 64] {
            types.extend_from_slice(&w.to_le_bytes()); // [1] INT u64, 64 bits
        }
        for w in [5u32, (4 << 24) | 1, 8, 22, 1, 0] {
            types.extend_from_slice(&w.to_le_bytes()); // [2] STRUCT, dsq @0
        }
        let mut b = vec![0x9f, 0xeb, 1, 0];
        let tl = types.len() as u32;
        for w in [24, 0, tl, tl, strings.len() as u32] {
            b.extend_from_slice(&u32::to_le_bytes(w));
        }
        b.extend_from_slice(&types);
        b.extend_from_slice(strings);
        Btf::parse(&b).unwrap()
    }

    /// The tasks the scheduler was handling (queued, on a DSQ, running)
    /// get their whole `scx` decoded; the others do not.
    #[test]
    fn handled_tasks_get_their_whole_entity() {
        let btf = entity_btf();
        let id = btf.struct_id("sched_ext_entity").unwrap();
        let d = walk(&guest(), &layout(), &roots(), limits(), Some((&btf, id)));
        let scx = |pid| d.task(pid).unwrap().scx.clone();
        assert_eq!(
            scx(102).as_deref(),
            Some("{ dsq = 12288 }"),
            "on DSQ 0x3000"
        );
        assert!(scx(104).is_some(), "running on CPU 1");
        assert_eq!(scx(100), None, "neither queued nor running");
    }

    #[test]
    fn a_cycle_and_a_broken_link_are_bounded_and_named() {
        let l = layout();
        let mut m = guest();
        // scx_tasks never comes back to its head: the walk stops at its
        // bound; the user DSQ's list has a hole.
        m.set64(task(104) + l.task.tasks_node, task(100) + l.task.tasks_node);
        m.0.retain(|&a, _| {
            !(a >= task(103) + l.task.dsq_node && a < task(103) + l.task.dsq_node + 8)
        });
        let mut lim = limits();
        lim.tasks = 3;
        let d = walk(&m, &l, &roots(), lim, None);
        assert_eq!(d.tasks.len(), 3);
        assert!(d.tasks_total > 1000, "{}", d.tasks_total);
        assert!(
            d.skipped.iter().any(|s| s.contains("longer than")),
            "{:?}",
            d.skipped
        );
        assert!(
            d.skipped.iter().any(|s| s.starts_with("DSQ at 0x3000: ")),
            "{:?}",
            d.skipped
        );
    }

    #[test]
    fn the_deadline_stops_the_walk_and_says_so() {
        let mut lim = limits();
        lim.deadline = Instant::now();
        let d = walk(&guest(), &layout(), &roots(), lim, None);
        assert!(d.cpus.is_empty());
        assert!(
            d.skipped[0].starts_with("deadline crossed: CPU 0's runqueue"),
            "{:?}",
            d.skipped
        );
    }

    /// A RAM file of random bytes, read through the real page-table walk:
    /// errors in `skipped`, never a panic, and done well within a second.
    #[test]
    fn garbage_memory_ends_with_errors() {
        use crate::backend::MemoryInfo;
        use crate::monitor::testkit::{with_view, PAGE_OFFSET};
        let dir = tempfile::tempdir().unwrap();
        let size = 4u64 << 20;
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut random = Vec::with_capacity(size as usize);
        while random.len() < size as usize {
            // xorshift64*: fixed seed, so a failure repeats.
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            random.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
        }
        // And memory where every word points at one direct-map address:
        // every list is an endless cycle.
        let cyclic: Vec<u8> = (0..size / 8)
            .flat_map(|_| (PAGE_OFFSET + 0x1000).to_le_bytes())
            .collect();
        for (name, bytes) in [("random", random), ("cyclic", cyclic)] {
            let path = dir.path().join(name);
            std::fs::write(&path, &bytes).unwrap();
            let mem = MemoryInfo::one_file(path, size, size);
            let syms = crate::monitor::Symbols {
                runqueues: 0xffff_ffff_8300_0000,
                per_cpu_offset: 0xffff_ffff_8200_0000,
                page_offset_base: None,
                scx_root: None,
                event_stats_cpu: None,
                init_top_pgt: None,
                phys_base: None,
                pgtable_l5_enabled: None,
                prog_idr: None,
                scx_tasks: Some(PAGE_OFFSET + 0x2000),
                jiffies_64: Some(PAGE_OFFSET + 0x3000),
            };
            let started = Instant::now();
            let d = with_view(&mem, 0x5000, syms, &[0, 0x10_0000], |view| {
                let mut r = roots();
                r.rqs = vec![PAGE_OFFSET + 0x4000, PAGE_OFFSET + 0x1_4000];
                r.scx_tasks = view.syms.scx_tasks;
                r.jiffies_64 = view.syms.jiffies_64;
                r.prog_aux = Ok(vec![PAGE_OFFSET + 0x8000]);
                let mut l = layout();
                l.maps = Ok(super::super::layout::tests::map_fields());
                walk(view, &l, &r, limits(), None)
            });
            assert!(!d.skipped.is_empty(), "{name}: {d:?}");
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "{name}: {:?}",
                started.elapsed()
            );
        }
    }
}
