//! Whether the host let each vCPU run: QEMU names a vCPU's thread `CPU
//! <n>/KVM` (or `CPU <n>/TCG` under multi-threaded TCG) when started with
//! `-name …,debug-threads=on`, and the host kernel counts, per thread, the
//! time it waited on a runqueue (`/proc/<pid>/task/<tid>/schedstat`, its
//! second field). A guest CPU whose vCPU thread waited for the host most of
//! a sampling interval could not advance its runqueue clock: it is not
//! "stuck" (see `stuck_cpus`). Single-threaded TCG runs every vCPU on one
//! thread (`ALL CPUs/TCG`): nothing per vCPU to read there. The own VMM
//! says which threads are its vCPUs ([`VcpuThreads::of`]).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The vCPU threads of one QEMU process, by guest CPU.
#[derive(Debug)]
pub struct VcpuThreads {
    #[cfg(test)]
    tids: Vec<u32>,
    /// Each thread's `schedstat`, kept open: re-reading from offset 0
    /// regenerates it, and saves an open per vCPU per sample (most of a
    /// sample's cost otherwise).
    files: Vec<File>,
}

impl VcpuThreads {
    /// The threads of QEMU `pid` for CPUs `0..cpus`; `Err` says why not
    /// (every CPU needs its own thread).
    pub fn find(pid: u32, cpus: usize) -> Result<VcpuThreads, String> {
        Self::find_in(Path::new("/proc"), pid, cpus)
    }

    fn find_in(proc: &Path, pid: u32, cpus: usize) -> Result<VcpuThreads, String> {
        let tasks = proc.join(pid.to_string()).join("task");
        let entries = std::fs::read_dir(&tasks).map_err(|e| format!("{}: {e}", tasks.display()))?;
        let mut tids: Vec<Option<u32>> = vec![None; cpus];
        let mut names = Vec::new();
        for e in entries.flatten() {
            let Some(tid) = e.file_name().to_str().and_then(|t| t.parse::<u32>().ok()) else {
                continue;
            };
            let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
            let comm = comm.trim();
            match vcpu_of(comm) {
                Some(cpu) if cpu < cpus => tids[cpu] = Some(tid),
                _ => names.push(comm.to_string()),
            }
        }
        let tids: Option<Vec<u32>> = tids.into_iter().collect();
        match tids {
            Some(tids) => Self::open(&tasks, tids),
            None if names.iter().any(|n| n.starts_with("ALL CPUs/")) => Err(
                "QEMU runs every vCPU on one TCG thread, so host preemption of a vCPU cannot be told"
                    .into(),
            ),
            None => Err(format!(
                "QEMU {pid} has no thread per vCPU (threads: {})",
                names.join(", ")
            )),
        }
    }

    /// The threads `tids` of process `pid`, by guest CPU: the own VMM's,
    /// which knows them (its threads are not named like QEMU's, and two
    /// VMs can run in one process).
    pub fn of(pid: u32, tids: Vec<u32>) -> Result<VcpuThreads, String> {
        Self::open(&Path::new("/proc").join(pid.to_string()).join("task"), tids)
    }

    fn open(tasks: &Path, tids: Vec<u32>) -> Result<VcpuThreads, String> {
        let files = tids
            .iter()
            .map(|tid| {
                let p = tasks.join(tid.to_string()).join("schedstat");
                File::open(&p).map_err(|e| format!("{}: {e}", p.display()))
            })
            .collect::<Result<_, _>>()?;
        Ok(VcpuThreads {
            #[cfg(test)]
            tids,
            files,
        })
    }

    /// Each vCPU thread's total time waiting on a host runqueue, in ns;
    /// `None` when a thread is gone or the host keeps no schedstat.
    pub fn waits_ns(&self) -> Option<Vec<u64>> {
        let mut buf = [0u8; 128];
        self.files
            .iter()
            .map(|f| {
                let n = f.read_at(&mut buf, 0).ok()?;
                wait_ns(std::str::from_utf8(&buf[..n]).ok()?)
            })
            .collect()
    }
}

/// `CPU 3/KVM` → 3.
fn vcpu_of(comm: &str) -> Option<usize> {
    let rest = comm.strip_prefix("CPU ")?;
    let (n, accel) = rest.split_once('/')?;
    (accel == "KVM" || accel == "TCG").then_some(())?;
    n.parse().ok()
}

/// The second field of a `schedstat` line: ns spent waiting on a runqueue.
fn wait_ns(schedstat: &str) -> Option<u64> {
    schedstat.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(dir: &Path, tid: u32, comm: &str) {
        let t = dir.join("77/task").join(tid.to_string());
        std::fs::create_dir_all(&t).unwrap();
        std::fs::write(t.join("comm"), format!("{comm}\n")).unwrap();
        std::fs::write(t.join("schedstat"), format!("1 {tid}00 3\n")).unwrap();
    }

    #[test]
    fn vcpu_threads_are_found_by_name() {
        assert_eq!(vcpu_of("CPU 12/KVM"), Some(12));
        assert_eq!(vcpu_of("CPU 0/TCG"), Some(0));
        assert_eq!(vcpu_of("ALL CPUs/TCG"), None);
        assert_eq!(vcpu_of("qemu-system-x86"), None);
        assert_eq!(wait_ns("123456 7890 42\n"), Some(7890));

        let d = tempfile::tempdir().unwrap();
        task(d.path(), 77, "qemu-system-x86");
        task(d.path(), 80, "CPU 1/KVM");
        task(d.path(), 79, "CPU 0/KVM");
        let t = VcpuThreads::find_in(d.path(), 77, 2).unwrap();
        assert_eq!(t.tids, [79, 80]);
        assert_eq!(t.waits_ns(), Some(vec![7900, 8000]));
        // A missing vCPU thread: said, not guessed.
        let e = VcpuThreads::find_in(d.path(), 77, 3).unwrap_err();
        assert!(e.contains("no thread per vCPU"), "{e}");

        let d = tempfile::tempdir().unwrap();
        task(d.path(), 77, "qemu-system-x86");
        task(d.path(), 78, "ALL CPUs/TCG");
        let e = VcpuThreads::find_in(d.path(), 77, 2).unwrap_err();
        assert!(e.contains("one TCG thread"), "{e}");
    }

    #[test]
    fn the_own_vmms_threads_are_taken_as_given() {
        let me = std::process::id();
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() } as u32;
        let t = VcpuThreads::of(me, vec![tid, tid]).unwrap();
        assert_eq!(t.tids, [tid, tid]);
        assert_eq!(t.waits_ns().map(|w| w.len()), Some(2));
        let e = VcpuThreads::of(me, vec![u32::MAX]).unwrap_err();
        assert!(e.contains("schedstat"), "{e}");
    }

    #[test]
    fn this_process_threads_have_schedstat() {
        // Not a QEMU, but the file the reader parses is the kernel's.
        let me = std::process::id();
        let text = std::fs::read_to_string(format!("/proc/{me}/task/{me}/schedstat"));
        if let Ok(text) = text {
            assert!(wait_ns(&text).is_some(), "{text}");
        }
    }
}
