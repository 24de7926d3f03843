//! The QEMU process: spawned in its own process group with a parent-death
//! signal, killed (the whole group) and reaped on every path out.
//!
//! - Drop, cancel and the watchdog kill the group with SIGKILL and wait for
//!   QEMU, so no process outlives [`QemuProcess`].
//! - If scxray itself dies (even by SIGKILL), the kernel sends QEMU SIGKILL
//!   (`PR_SET_PDEATHSIG`). The signal follows the *thread* that spawned
//!   QEMU, which is the thread blocked in `Backend::boot` for the whole run.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};

use crate::backend::VmError;

/// A running QEMU; the group is killed and QEMU reaped on drop.
#[derive(Debug)]
pub struct QemuProcess {
    child: Child,
    status: Option<ExitStatus>,
}

impl QemuProcess {
    /// Starts `program args` with stdin from /dev/null and stdout/stderr
    /// piped (take them with [`take_pipes`](Self::take_pipes)).
    pub fn spawn(program: &Path, args: &[OsString]) -> Result<QemuProcess, VmError> {
        let parent = std::process::id();
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        // SAFETY: the closure runs between fork and exec and makes only
        // async-signal-safe calls (prctl, getppid) and allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGKILL as libc::c_ulong,
                    0,
                    0,
                    0,
                ) != 0
                {
                    return Err(io::Error::last_os_error());
                }
                // The parent may have died before prctl: then nobody would
                // ever kill this child, so do not become QEMU at all.
                if libc::getppid() as u32 != parent {
                    return Err(io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => VmError::QemuNotFound {
                program: program.to_path_buf(),
            },
            _ => VmError::Spawn {
                program: program.to_path_buf(),
                source,
            },
        })?;
        Ok(QemuProcess {
            child,
            status: None,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn take_pipes(&mut self) -> (Option<ChildStdout>, Option<ChildStderr>) {
        (self.child.stdout.take(), self.child.stderr.take())
    }

    /// QEMU's exit status once it has ended by itself (not blocking).
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Kills the group (QEMU and anything it started) and reaps QEMU.
    pub fn kill(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            // The group id is QEMU's pid, valid until QEMU is reaped below,
            // so this cannot hit a reused id.
            if let Ok(pgid) = libc::pid_t::try_from(self.child.id()) {
                // SAFETY: plain syscall on our own child's group.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
            }
            self.status = self.child.wait().ok();
        }
        self.status
    }
}

impl Drop for QemuProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An exit status in words: `exit status 1`, `killed by signal 6 (SIGABRT)`.
pub fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => {
            let name = match sig {
                libc::SIGABRT => " (SIGABRT)",
                libc::SIGKILL => " (SIGKILL)",
                libc::SIGSEGV => " (SIGSEGV)",
                libc::SIGTERM => " (SIGTERM)",
                _ => "",
            };
            format!("killed by signal {sig}{name}")
        }
        _ => status.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::time::{Duration, Instant};

    /// (state, pgrp) from /proc/<pid>/stat.
    fn stat(pid: u32) -> Option<(String, u32)> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the parenthesised comm: state ppid pgrp ...
        let mut f = stat.rsplit_once(')')?.1.split_whitespace();
        let state = f.next()?.to_owned();
        Some((state, f.nth(1)?.parse().ok()?))
    }

    fn group_of(pid: u32) -> Option<u32> {
        stat(pid).map(|s| s.1)
    }

    /// Gone, or a zombie waiting for a reaper that may not reap.
    fn dead(pid: u32) -> bool {
        stat(pid).is_none_or(|(state, _)| state == "Z")
    }

    #[test]
    fn own_group_and_killed_with_its_children_on_drop() {
        // A shell that starts a grandchild: both must go with the group.
        let args: Vec<OsString> = ["-c", "sleep 300 & echo $!; wait"]
            .iter()
            .map(OsString::from)
            .collect();
        let mut p = QemuProcess::spawn(Path::new("/bin/sh"), &args).unwrap();
        let pid = p.pid();
        assert_eq!(group_of(pid), Some(pid));
        let (out, _) = p.take_pipes();
        let mut out = out.unwrap();
        let mut buf = [0u8; 32];
        let n = out.read(&mut buf).unwrap();
        let grandchild: u32 = std::str::from_utf8(&buf[..n])
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(group_of(grandchild), Some(pid));
        drop(p);
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
        // The grandchild is reaped by init; give it a moment.
        let t = Instant::now();
        while !dead(grandchild) && t.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(dead(grandchild), "grandchild survived");
    }

    #[test]
    fn missing_program_is_qemu_not_found() {
        let e = QemuProcess::spawn(Path::new("/nonexistent/qemu-system-x86_64"), &[]).unwrap_err();
        assert!(matches!(e, VmError::QemuNotFound { .. }), "{e}");
    }

    #[test]
    fn exit_status_in_words() {
        let mut p =
            QemuProcess::spawn(Path::new("/bin/sh"), &["-c".into(), "exit 3".into()]).unwrap();
        let t = Instant::now();
        let status = loop {
            if let Some(s) = p.try_wait() {
                break s;
            }
            assert!(t.elapsed() < Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(describe(status), "exit status 3");
        assert_eq!(
            describe(ExitStatus::from_raw(libc::SIGABRT)),
            "killed by signal 6 (SIGABRT)"
        );
    }
}
