//! What a VM backend is to the rest of scxray: boot a guest from a
//! [`GuestSpec`], stream what it says as [`GuestEvent`]s, and end with a
//! [`GuestExit`] saying how it ended. QEMU ([`crate::qemu`]) and scxray's
//! own KVM VMM ([`crate::kvm`]) implement it; [`crate::choose`] picks one.

use std::collections::VecDeque;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::kvm::pause::PauseHandle;

use scxray::run::record::{DecodeStats, Record};
use scxray::run::topology::Topology;

use crate::cancel::Cancel;

/// A VM backend. `boot` blocks until the guest is gone and every process
/// and file of the run is cleaned up, whatever the outcome.
pub trait Backend {
    /// Short name for logs and reports (`qemu`).
    fn name(&self) -> &'static str;

    /// Boots `spec`, calling `sink` on the calling thread for every event as
    /// it happens. Setting `cancel` (Ctrl-C) kills the guest and returns
    /// [`ExitHow::Cancelled`]. `Err` only when the guest could not be run at
    /// all (missing QEMU, unreadable kernel, QEMU refusing its arguments);
    /// everything that happens to a running guest is a [`GuestExit`].
    fn boot(
        &self,
        spec: &GuestSpec,
        sink: &mut dyn FnMut(GuestEvent),
        cancel: &Cancel,
    ) -> Result<GuestExit, VmError>;
}

/// What to boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestSpec {
    /// The boot image (bzImage/vmlinuz).
    pub kernel: PathBuf,
    /// Initramfs archives, unpacked by the kernel in this order (several
    /// cpio archives are concatenated into one initrd).
    pub initramfs: Vec<PathBuf>,
    /// Appended to the backend's default command line (`console=ttyS0
    /// panic=-1 quiet ...`, [`crate::qemu::BASE_CMDLINE`]); a later
    /// option overrides an earlier one, e.g. `loglevel=7` for a verbose boot.
    pub cmdline: String,
    pub cpus: u32,
    /// How the `cpus` are laid out (NUMA nodes, LLCs, cores, threads);
    /// `None`: one node, one LLC, `cpus` single-thread cores.
    pub topology: Option<Topology>,
    pub memory_mib: u32,
    /// Longest a guest may run (boot included) before the watchdog kills it
    /// and reports where it hung: scenario length plus a margin. Applies to
    /// each boot attempt.
    pub deadline: Duration,
    /// Back guest RAM with a shared file the host can read while the guest
    /// runs (see [`MemoryInfo`]).
    pub share_memory: bool,
    /// Bytes for the guest's record port, written as they come (a parked
    /// guest agent waits there for its orders).
    pub input: Option<GuestInput>,
    /// Run at a lower CPU priority (nice 10): a guest booted ahead of need
    /// must not slow the one being watched.
    pub background: bool,
    /// Open a gdbstub on a private unix socket (never a TCP port), named
    /// in [`GuestEvent::Started`]: the failure dump freezes the guest
    /// through it.
    pub gdb_stub: bool,
}

/// Host → guest bytes on the record port: a queue the caller fills and the
/// backend drains into the port once the guest side is connected. Clones
/// share the queue.
#[derive(Debug, Clone, Default)]
pub struct GuestInput {
    queue: Arc<(Mutex<VecDeque<Vec<u8>>>, Condvar)>,
}

impl GuestInput {
    pub fn new() -> GuestInput {
        GuestInput::default()
    }

    /// Queues `bytes` for the guest.
    pub fn send(&self, bytes: Vec<u8>) {
        let (q, ready) = &*self.queue;
        if let Ok(mut q) = q.lock() {
            q.push_back(bytes);
            ready.notify_all();
        }
    }

    /// The next bytes, waiting up to `timeout`.
    pub fn next(&self, timeout: Duration) -> Option<Vec<u8>> {
        let (q, ready) = &*self.queue;
        let q = q.lock().ok()?;
        let (mut q, _) = ready
            .wait_timeout_while(q, timeout, |q| q.is_empty())
            .ok()?;
        q.pop_front()
    }
}

impl PartialEq for GuestInput {
    fn eq(&self, other: &GuestInput) -> bool {
        Arc::ptr_eq(&self.queue, &other.queue)
    }
}

impl Eq for GuestInput {}

impl GuestSpec {
    /// 2 CPUs, 1 GiB, a 60 s deadline, shared memory, no extra cmdline.
    pub fn new(kernel: impl Into<PathBuf>, initramfs: impl Into<PathBuf>) -> Self {
        GuestSpec {
            kernel: kernel.into(),
            initramfs: vec![initramfs.into()],
            cmdline: String::new(),
            cpus: 2,
            topology: None,
            memory_mib: 1024,
            deadline: Duration::from_secs(60),
            share_memory: true,
            gdb_stub: false,
            input: None,
            background: false,
        }
    }

    /// The topology to build: the one asked, or `cpus` flat.
    pub fn topology(&self) -> Topology {
        self.topology.unwrap_or(Topology::flat(self.cpus))
    }

    /// Refuses values no guest can boot with, naming the field.
    pub fn validate(&self) -> Result<(), VmError> {
        let bad = |field: &'static str, why: String| Err(VmError::InvalidSpec { field, why });
        if !(1..=MAX_CPUS).contains(&self.cpus) {
            return bad("cpus", format!("{} is outside 1..={MAX_CPUS}", self.cpus));
        }
        if let Some(t) = &self.topology {
            t.check(MAX_CPUS).map_err(VmError::BadTopology)?;
            if self.memory_mib / t.numa_nodes < MIN_NODE_MIB {
                return bad(
                    "memory_mib",
                    format!(
                        "{} MiB is too little for {t}: each of its {} NUMA nodes needs {MIN_NODE_MIB} MiB",
                        self.memory_mib, t.numa_nodes
                    ),
                );
            }
            if t.cpus() != self.cpus {
                return bad(
                    "topology",
                    format!("{t} has {} CPUs, not the {} asked", t.cpus(), self.cpus),
                );
            }
        }
        if !(MIN_MEMORY_MIB..=MAX_MEMORY_MIB).contains(&self.memory_mib) {
            return bad(
                "memory_mib",
                format!(
                    "{} MiB is outside {MIN_MEMORY_MIB}..={MAX_MEMORY_MIB} MiB",
                    self.memory_mib
                ),
            );
        }
        if self.deadline.is_zero() {
            return bad("deadline", "is zero".into());
        }
        if self.initramfs.is_empty() {
            return bad("initramfs", "is empty: the guest needs an /init".into());
        }
        if self.cmdline.contains(['\0', '\n']) {
            return bad(
                "cmdline",
                format!("{:?} holds a NUL or newline", self.cmdline),
            );
        }
        Ok(())
    }
}

/// Bounds of [`GuestSpec`] values.
pub const MAX_CPUS: u32 = 64;
pub const MIN_MEMORY_MIB: u32 = 128;
/// Least RAM per NUMA node.
pub const MIN_NODE_MIB: u32 = 64;
pub const MAX_MEMORY_MIB: u32 = 64 * 1024;

/// The accelerator a guest runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualisation.
    Kvm,
    /// QEMU's emulator: slower, works everywhere.
    Tcg,
}

impl fmt::Display for Accel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        })
    }
}

/// Where guest RAM lives on the host while the guest runs. The files hold
/// RAM as the guest sees it: guest physical address `gpa` is at RAM offset
/// `gpa` below [`low_end`](Self::low_end), and at `gpa - 4 GiB + low_end`
/// above 4 GiB (the machine puts the rest of RAM there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryInfo {
    /// The files guest RAM is in, in RAM order: RAM offset 0 is the first
    /// file's first byte, and each file goes on where the one before ended
    /// (QEMU: one per NUMA node; the own VMM: its one memfd).
    pub files: Vec<RamFile>,
    pub size: u64,
    /// Bytes of RAM below the 4 GiB PCI hole.
    pub low_end: u64,
}

/// One file of guest RAM: the next `len` bytes of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RamFile {
    pub path: PathBuf,
    pub len: u64,
}

impl MemoryInfo {
    /// RAM of `size` bytes in one file.
    pub fn one_file(path: PathBuf, size: u64, low_end: u64) -> MemoryInfo {
        MemoryInfo {
            files: vec![RamFile { path, len: size }],
            size,
            low_end,
        }
    }

    /// The first file (where a single-file guest's RAM is).
    pub fn path(&self) -> &Path {
        self.files
            .first()
            .map_or(Path::new(""), |f| f.path.as_path())
    }

    /// RAM offset of guest physical address `gpa`, if it is RAM (see
    /// [`layout::ram_offset`](crate::layout::ram_offset)).
    pub fn offset_of(&self, gpa: u64) -> Option<u64> {
        crate::layout::ram_offset(gpa, self.size, self.low_end)
    }

    /// Which file (its index) RAM offset `offset` is in, the offset within
    /// that file, and the bytes of the file from there on.
    pub fn locate(&self, offset: u64) -> Option<(usize, u64, u64)> {
        let mut start = 0u64;
        for (i, f) in self.files.iter().enumerate() {
            if offset < start + f.len {
                let within = offset - start;
                return Some((i, within, f.len - within));
            }
            start += f.len;
        }
        None
    }
}

/// Something the guest (or the VM around it) did.
#[derive(Debug, Clone, PartialEq)]
pub enum GuestEvent {
    /// A VM process started: `attempt` 1, or the next one after a boot oops.
    /// `memory` is readable until the matching [`GuestEvent::Stopped`] returns.
    Started {
        attempt: u32,
        accel: Accel,
        pid: u32,
        memory: Option<MemoryInfo>,
        /// The gdbstub's unix socket, when [`GuestSpec::gdb_stub`] asked.
        gdb: Option<PathBuf>,
        /// Stops and resumes every vCPU from the host (the own VMM; QEMU's
        /// guests are stopped through `gdb`).
        pause: Option<PauseHandle>,
        /// The vCPU threads' ids in process `pid`, by guest CPU, when the
        /// VMM knows them (the own VMM); else the monitor finds QEMU's by
        /// name.
        vcpu_tids: Option<Vec<u32>>,
    },
    /// One line of the kernel console (first serial port), without its
    /// line ending. Overlong lines arrive in pieces.
    Console(String),
    /// One record from the guest agent (second serial port).
    Record(Record),
    /// The stage the watchdog would name changed (`booting`, `agent
    /// started`, a `Record::Stage` name, `phase 2/3 (spin)`...).
    Stage(String),
    /// Nothing happened for a while (at most every 50 ms while the guest
    /// is quiet): a chance for periodic work such as the host monitor's
    /// sampling, which runs on the sink's thread.
    Tick,
    /// The boot oopsed before the agent said hello under TCG: the guest is
    /// booted again as `attempt`.
    Retrying { attempt: u32, oops: String },
    /// The VM process is gone. Guest RAM (`memory`) is still in its file
    /// until this call of the sink returns: a post-mortem reader reads it
    /// here.
    Stopped {
        attempt: u32,
        memory: Option<MemoryInfo>,
    },
}

/// How the guest ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitHow {
    /// The guest powered itself off (the agent's normal end).
    PoweredOff,
    /// The deadline passed: the guest was killed while at `stage`.
    Watchdog { stage: String, deadline: Duration },
    /// The kernel panicked after the agent said hello.
    Panicked { stage: String, message: String },
    /// The kernel oopsed or panicked before the agent said hello. Under
    /// TCG a kernel fault (`Oops:`, `BUG:`, or the `Fatal exception` panic
    /// an oops ends in) is retried (`retries` times, see
    /// `QemuBackend::boot_retries`); a bare panic is not, it would only
    /// repeat. `oops` is the last attempt's oops text.
    BootOops { retries: u32, oops: String },
    /// `Cancel` was set (Ctrl-C).
    Cancelled { stage: String },
    /// QEMU itself failed after the guest started (crash, KVM internal
    /// error); `status` says how, [`GuestExit::qemu_stderr`] why.
    QemuDied { stage: String, status: String },
    /// The own VMM could not go on with the guest (a KVM error, an
    /// unexpected exit), or the guest reset or triple-faulted without
    /// saying why.
    VmmFailed { stage: String, error: String },
}

impl fmt::Display for ExitHow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitHow::PoweredOff => f.write_str("guest powered off"),
            ExitHow::Watchdog { stage, deadline } => write!(
                f,
                "guest hung at {stage}: still running after the {} s deadline, killed",
                deadline.as_secs_f64()
            ),
            ExitHow::Panicked { stage, message } => {
                write!(f, "guest kernel panicked at {stage}: {message}")
            }
            ExitHow::BootOops { retries, oops } => {
                let first = oops.lines().next().unwrap_or("");
                match retries {
                    0 => write!(f, "guest kernel crashed while booting: {first}"),
                    n => write!(
                        f,
                        "guest kernel crashed while booting, also on {n} retries: {first}"
                    ),
                }
            }
            ExitHow::Cancelled { stage } => write!(f, "cancelled at {stage}"),
            ExitHow::QemuDied { stage, status } => write!(f, "QEMU died at {stage}: {status}"),
            ExitHow::VmmFailed { stage, error } => {
                write!(f, "the VMM stopped the guest at {stage}: {error}")
            }
        }
    }
}

/// What fell on the floor because the guest produced faster than the host
/// consumed (the guest is untrusted: memory stays bounded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropStats {
    pub console_lines: u64,
    pub records: u64,
    pub bytes: u64,
}

/// How a boot ended, with what is worth reporting about it.
#[derive(Debug, Clone, PartialEq)]
pub struct GuestExit {
    pub how: ExitHow,
    pub accel: Accel,
    /// Why that accelerator (forced, probed, cached probe).
    pub accel_reason: String,
    /// Boots started: 1 plus the retries after boot oopses.
    pub attempts: u32,
    /// The oops text of each retried boot.
    pub retried_oopses: Vec<String>,
    /// From the first QEMU spawn to the end of teardown.
    pub wall: Duration,
    /// From the last attempt's QEMU spawn to its first record.
    pub to_first_record: Option<Duration>,
    /// From the last attempt's QEMU spawn to the agent's `Hello`.
    pub to_hello: Option<Duration>,
    /// The last console lines (40 by default).
    pub console_tail: Vec<String>,
    /// The record decoder's counters over the last attempt.
    pub decode: DecodeStats,
    pub dropped: DropStats,
    /// The end of QEMU's own stderr.
    pub qemu_stderr: String,
    /// Things that did not stop the run but are worth saying.
    pub warnings: Vec<String>,
}

/// Why a guest could not be run. Each variant carries the input at fault.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    #[error(
        "QEMU not found ({}): install the Debian package qemu-system-x86 \
         (`scripts/deps.sh test` installs it) or set SCXRAY_QEMU to the binary",
        program.display()
    )]
    QemuNotFound { program: PathBuf },
    #[error("guest spec: {field} {why}")]
    InvalidSpec { field: &'static str, why: String },
    #[error("guest spec: {0}")]
    BadTopology(scxray::run::topology::TopologyError),
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start {}: {source}", program.display())]
    Spawn {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "QEMU exited ({status}) before the guest printed anything: {stderr}\ncommand: {command}"
    )]
    QemuFailed {
        status: String,
        stderr: String,
        command: String,
    },
    #[error(
        "invalid backend {value:?} (--backend or $SCXRAY_BACKEND): expected auto, kvm or qemu"
    )]
    BadBackend { value: String },
    #[error("invalid {var}={value:?}: expected auto, kvm or tcg")]
    BadAccel { var: &'static str, value: String },
    #[error("KVM was asked for ({asked_by}) but cannot be used: {why}")]
    KvmUnavailable { asked_by: String, why: String },
    #[error(
        "the record socket path {} is too long for a unix socket ({} bytes, at most 107): \
         point TMPDIR at a shorter directory",
        path.display(), path.as_os_str().len()
    )]
    SocketPathTooLong { path: PathBuf },
    #[error("cancelled (Ctrl-C) before the guest started")]
    Cancelled,
    #[error("own VMM: {0}")]
    Vmm(#[source] Box<crate::kvm::VmmError>),
}

impl VmError {
    pub(crate) fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> VmError {
        let path = path.to_path_buf();
        move |source| VmError::Io { what, path, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_validation_names_the_field() {
        let mut s = GuestSpec::new("/k", "/i");
        assert!(s.validate().is_ok());
        s.cpus = 0;
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("cpus") && e.contains('0'), "{e}");
        s.cpus = 2;
        s.topology = Some("1n2l2c1t".parse().unwrap());
        let e = s.validate().unwrap_err().to_string();
        assert!(
            e.ends_with("topology 1n2l2c1t has 4 CPUs, not the 2 asked"),
            "{e}"
        );
        s.topology = Some("2n3l1c1t".parse().unwrap());
        s.cpus = 3;
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("cannot be spread evenly"), "{e}");
        s.topology = Some("1n2l1c1t".parse().unwrap());
        s.cpus = 2;
        assert!(s.validate().is_ok());
        s.topology = Some("2n2l1c1t".parse().unwrap());
        s.memory_mib = 127;
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("each of its 2 NUMA nodes needs 64 MiB"), "{e}");
        s.memory_mib = 1024;
        assert_eq!(s.topology().llcs, 2);
        s.topology = None;
        s.memory_mib = 16;
        assert!(s.validate().unwrap_err().to_string().contains("memory_mib"));
        s.memory_mib = 512;
        s.cmdline = "a\nb".into();
        assert!(s.validate().unwrap_err().to_string().contains("cmdline"));
        s.cmdline.clear();
        s.initramfs.clear();
        assert!(s.validate().unwrap_err().to_string().contains("initramfs"));
    }

    #[test]
    fn missing_qemu_names_the_package() {
        let e = VmError::QemuNotFound {
            program: "qemu-system-x86_64".into(),
        }
        .to_string();
        assert!(
            e.contains("qemu-system-x86 ") && e.contains("scripts/deps.sh test"),
            "{e}"
        );
    }

    #[test]
    fn memory_offsets_skip_the_pci_hole() {
        let small = MemoryInfo::one_file("/m".into(), 1 << 30, 1 << 30);
        assert_eq!(small.offset_of(0x1000), Some(0x1000));
        assert_eq!(small.offset_of(1 << 30), None);
        let big = MemoryInfo::one_file("/m".into(), 4 << 30, 2 << 30);
        assert_eq!(big.offset_of((2 << 30) - 1), Some((2 << 30) - 1));
        assert_eq!(big.offset_of(3 << 30), None);
        assert_eq!(big.offset_of(4 << 30), Some(2 << 30));
        assert_eq!(big.offset_of((6 << 30) - 1), Some((4 << 30) - 1));
        assert_eq!(big.offset_of(6 << 30), None);
    }

    #[test]
    fn exit_texts() {
        let w = ExitHow::Watchdog {
            stage: "loading scheduler".into(),
            deadline: Duration::from_secs(20),
        };
        assert_eq!(
            w.to_string(),
            "guest hung at loading scheduler: still running after the 20 s deadline, killed"
        );
        let b = ExitHow::BootOops {
            retries: 2,
            oops: "Oops: int3\nRIP".into(),
        };
        assert!(b.to_string().ends_with("also on 2 retries: Oops: int3"));
    }
}
