//! KVM or TCG. `/dev/kvm` existing is not enough: nested or paravirtual
//! KVM (Firecracker hosts) accepts a VM and then fails on the first
//! instruction it cannot emulate, or QEMU aborts setting an MSR. So `auto`
//! boots the kernel once under KVM with a tiny initramfs whose `/init`
//! prints a marker and powers off, and caches the answer per host, QEMU
//! binary and kernel (`accel-probe.json` in scxray's cache directory).
//!
//! `SCXRAY_ACCEL=kvm|tcg|auto` (or `--accel`) overrides the choice.

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::backend::{Accel, VmError};
use crate::cancel::Cancel;
use crate::initramfs::cpio::CpioWriter;

use super::command::{self, kernel_cmdline, Launch, TcgThreads};
use super::files::RunDir;
use super::process::{describe, QemuProcess};
use crate::stream::ports;
use crate::stream::queue::{Incoming, Queue};

/// Names the accelerator: `auto`, `kvm` or `tcg`.
pub const ACCEL_ENV: &str = "SCXRAY_ACCEL";
/// What the probe's `/init` prints once it runs.
pub const PROBE_MARKER: &str = "scxray-kvm-probe: userspace reached";
/// A KVM boot to userspace takes about a second; one that has not got
/// there in this time is not worth using.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);
const CACHE_FILE: &str = "accel-probe.json";
const CACHE_KEEP: usize = 16;

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AccelChoice {
    /// KVM when a probe boot works on this host, else TCG.
    #[default]
    Auto,
    Kvm,
    Tcg,
}

impl FromStr for AccelChoice {
    type Err = VmError;

    fn from_str(s: &str) -> Result<Self, VmError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(AccelChoice::Auto),
            "kvm" => Ok(AccelChoice::Kvm),
            "tcg" => Ok(AccelChoice::Tcg),
            _ => Err(VmError::BadAccel {
                var: ACCEL_ENV,
                value: s.to_owned(),
            }),
        }
    }
}

impl AccelChoice {
    /// `$SCXRAY_ACCEL`, `Auto` when unset.
    pub fn from_env() -> Result<Self, VmError> {
        match std::env::var(ACCEL_ENV) {
            Ok(v) => v.parse(),
            Err(std::env::VarError::NotPresent) => Ok(AccelChoice::Auto),
            Err(std::env::VarError::NotUnicode(v)) => Err(VmError::BadAccel {
                var: ACCEL_ENV,
                value: v.to_string_lossy().into_owned(),
            }),
        }
    }
}

/// The accelerator to use and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccelDecision {
    pub accel: Accel,
    pub why: String,
}

/// What one probe boot found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// The guest reached userspace.
    pub usable: bool,
    /// What happened, in words (`reached userspace in 0.9 s`, `KVM
    /// internal error...`).
    pub detail: String,
}

/// Picks the accelerator for `kernel`. `asked_by` names where `choice`
/// came from, for messages (`SCXRAY_ACCEL=kvm`, `--accel kvm`).
pub fn decide(
    choice: AccelChoice,
    asked_by: &str,
    qemu: &Path,
    kernel: &Path,
    cache_dir: Option<&Path>,
    run_parent: &Path,
    cancel: &Cancel,
) -> Result<AccelDecision, VmError> {
    match choice {
        AccelChoice::Tcg => Ok(AccelDecision {
            accel: Accel::Tcg,
            why: format!("TCG ({asked_by})"),
        }),
        AccelChoice::Kvm => match kvm_device() {
            Ok(()) => Ok(AccelDecision {
                accel: Accel::Kvm,
                why: format!("KVM ({asked_by})"),
            }),
            Err(why) => Err(VmError::KvmUnavailable {
                asked_by: asked_by.to_owned(),
                why,
            }),
        },
        AccelChoice::Auto => {
            if let Err(why) = kvm_device() {
                return Ok(AccelDecision {
                    accel: Accel::Tcg,
                    why: format!("TCG: {why}"),
                });
            }
            let key = probe_key(qemu, kernel);
            let cache_path = cache_dir.map(|d| d.join(CACHE_FILE));
            let cached = cache_path
                .as_deref()
                .and_then(|p| ProbeCache::load(p).get(&key));
            let (result, how) = match cached {
                Some(r) => (r, "cached probe"),
                None => {
                    let r = probe(qemu, kernel, Accel::Kvm, run_parent, cancel)?;
                    if let Some(p) = &cache_path {
                        // A cache that cannot be written only costs a probe next time.
                        let _ = ProbeCache::load(p).insert(key, r.clone()).save(p);
                    }
                    (r, "probe")
                }
            };
            Ok(if result.usable {
                AccelDecision {
                    accel: Accel::Kvm,
                    why: format!("KVM ({how}: {})", result.detail),
                }
            } else {
                AccelDecision {
                    accel: Accel::Tcg,
                    why: format!(
                        "TCG: KVM cannot run this kernel here ({how}: {})",
                        result.detail
                    ),
                }
            })
        }
    }
}

/// `Ok` when /dev/kvm can be opened for a VM.
pub fn kvm_device() -> Result<(), String> {
    match fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err("no /dev/kvm".into()),
        Err(e) => Err(format!("/dev/kvm: {e}")),
    }
}

/// Boots `kernel` on `accel` with the probe initramfs; `usable` when its
/// `/init` ran. Under TCG this checks the probe itself.
pub fn probe(
    qemu: &Path,
    kernel: &Path,
    accel: Accel,
    run_parent: &Path,
    cancel: &Cancel,
) -> Result<ProbeResult, VmError> {
    let dir = RunDir::create(run_parent)?;
    let initrd = dir.path().join("probe.cpio");
    fs::write(&initrd, probe_initramfs()).map_err(VmError::io("cannot write", &initrd))?;
    let cmdline = kernel_cmdline("");
    let args = command::args(&Launch {
        accel,
        tcg_threads: TcgThreads::Single,
        topology: scxray::run::topology::Topology::flat(1),
        memory_mib: 256,
        kernel,
        initrd: &initrd,
        cmdline: &cmdline,
        record_socket: None,
        memory: None,
        gdb_socket: None,
    });
    let start = Instant::now();
    let mut qemu_proc = QemuProcess::spawn(qemu, &args)?;
    let queue = Arc::new(Queue::new(1 << 20));
    let (out, err) = qemu_proc.take_pipes();
    let mut threads = Vec::new();
    if let Some(out) = out {
        threads.push(
            ports::console(out, Arc::clone(&queue))
                .map_err(VmError::io("cannot start a reader for", qemu))?,
        );
    }
    if let Some(err) = err {
        threads.push(
            ports::stderr(err, Arc::clone(&queue))
                .map_err(VmError::io("cannot start a reader for", qemu))?,
        );
    }
    // QEMU's first complaint says why (`failed to set MSR 0x10a`).
    let mut first_error: Option<String> = None;
    let mut seen = false;
    let mut open_streams = threads.len();
    let outcome = loop {
        if cancel.is_cancelled() {
            break Err(VmError::Cancelled);
        }
        if start.elapsed() > PROBE_TIMEOUT {
            break Ok(format!("no userspace within {} s", PROBE_TIMEOUT.as_secs()));
        }
        match queue.pop(Duration::from_millis(20)) {
            Some(Incoming::Console(l)) if l.contains(PROBE_MARKER) => seen = true,
            Some(Incoming::Stderr(l)) => {
                if l.contains("KVM internal error") {
                    // QEMU pauses the VM rather than exiting: do not wait.
                    break Ok(format!("QEMU: {}", l.trim()));
                }
                if first_error.is_none() && !l.trim().is_empty() {
                    first_error = Some(short_error(&l));
                }
            }
            Some(Incoming::ConsoleEnd | Incoming::StderrEnd) => open_streams -= 1,
            _ => {}
        }
        if seen {
            break Ok(String::new());
        }
        if open_streams == 0 {
            if let Some(status) = qemu_proc.try_wait() {
                let why = first_error.take().unwrap_or_default();
                break Ok(format!("QEMU {} before userspace: {why}", describe(status))
                    .trim_end_matches([' ', ':'])
                    .to_owned());
            }
        }
    };
    qemu_proc.kill();
    drop(queue);
    for t in threads {
        let _ = t.join();
    }
    let detail = outcome?;
    Ok(if seen {
        ProbeResult {
            usable: true,
            detail: format!(
                "reached userspace in {:.1} s",
                start.elapsed().as_secs_f64()
            ),
        }
    } else {
        ProbeResult {
            usable: false,
            detail,
        }
    })
}

/// A QEMU stderr line without the program name, at most 160 characters.
fn short_error(line: &str) -> String {
    let l = line.trim();
    let l = l
        .split_once(": ")
        .filter(|(p, _)| p.starts_with("qemu-system"))
        .map_or(l, |(_, rest)| rest);
    match l.char_indices().nth(160) {
        Some((i, _)) => format!("{}...", &l[..i]),
        None => l.to_owned(),
    }
}

/// A static x86-64 ELF that writes [`PROBE_MARKER`] to stdout (the
/// console) and powers the machine off: no libc, no loader, 200 bytes.
/// Never run it on the host: it calls reboot(2).
pub fn probe_init_elf() -> Vec<u8> {
    const BASE: u64 = 0x40_0000;
    const HEADERS: u64 = 64 + 56;
    let msg = format!("{PROBE_MARKER}\n");
    let mut code: Vec<u8> = Vec::new();
    code.extend([0xb8, 1, 0, 0, 0]); // mov eax, 1 (write)
    code.extend([0xbf, 1, 0, 0, 0]); // mov edi, 1
    let lea = code.len();
    code.extend([0x48, 0x8d, 0x35, 0, 0, 0, 0]); // lea rsi, [rip + msg]
    code.push(0xba); // mov edx, len
    code.extend((msg.len() as u32).to_le_bytes());
    code.extend([0x0f, 0x05]); // syscall
    code.extend([0xb8, 169, 0, 0, 0]); // mov eax, 169 (reboot)
    code.push(0xbf); // mov edi, LINUX_REBOOT_MAGIC1
    code.extend(0xfee1_deadu32.to_le_bytes());
    code.push(0xbe); // mov esi, LINUX_REBOOT_MAGIC2
    code.extend(0x2812_1969u32.to_le_bytes());
    code.push(0xba); // mov edx, LINUX_REBOOT_CMD_POWER_OFF
    code.extend(0x4321_fedcu32.to_le_bytes());
    code.extend([0x0f, 0x05]); // syscall
    code.extend([0xeb, 0xfe]); // jmp . (should reboot return)
    let disp = (code.len() - (lea + 7)) as u32;
    code[lea + 3..lea + 7].copy_from_slice(&disp.to_le_bytes());
    code.extend(msg.as_bytes());
    let total = HEADERS + code.len() as u64;

    let mut elf = Vec::with_capacity(total as usize);
    elf.extend(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0"); // 64-bit, LE, SysV
    elf.extend(2u16.to_le_bytes()); // ET_EXEC
    elf.extend(62u16.to_le_bytes()); // EM_X86_64
    elf.extend(1u32.to_le_bytes());
    elf.extend((BASE + HEADERS).to_le_bytes()); // entry: the code
    elf.extend(64u64.to_le_bytes()); // program headers
    elf.extend(0u64.to_le_bytes()); // no section headers
    elf.extend(0u32.to_le_bytes());
    for v in [64u16, 56, 1, 0, 0, 0] {
        elf.extend(v.to_le_bytes());
    }
    elf.extend(1u32.to_le_bytes()); // PT_LOAD of the whole file
    elf.extend(5u32.to_le_bytes()); // R+X
    for v in [0, BASE, BASE, total, total, 0x1000] {
        elf.extend(v.to_le_bytes());
    }
    elf.extend(code);
    elf
}

/// `/init` = [`probe_init_elf`], plus the `/dev/console` the kernel opens
/// for init's stdio.
pub fn probe_initramfs() -> Vec<u8> {
    let mut w = CpioWriter::new(Vec::new());
    // Writing into a Vec cannot fail, and these names are valid.
    let _ = w.dir("/dev", 0o755);
    let _ = w.char_device("/dev/console", 0o600, 5, 1);
    let _ = w.file("/init", 0o755, &probe_init_elf());
    w.finish().unwrap_or_default()
}

/// Identifies "this kernel with this QEMU on this host": the probe's answer
/// depends on all three.
fn probe_key(qemu: &Path, kernel: &Path) -> String {
    let mut h = Sha256::new();
    let read = |p: &str| fs::read_to_string(p).unwrap_or_default();
    h.update(read("/proc/sys/kernel/hostname").trim());
    h.update([0]);
    h.update(read("/proc/sys/kernel/osrelease").trim());
    h.update([0]);
    let cpuinfo = read("/proc/cpuinfo");
    h.update(
        cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .unwrap_or(""),
    );
    for p in [qemu, kernel] {
        let p = fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        h.update([0]);
        h.update(p.as_os_str().as_encoded_bytes());
        if let Ok(m) = fs::metadata(&p) {
            h.update(format!(":{}:{}:{}", m.len(), m.mtime(), m.mtime_nsec()));
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ProbeCache {
    entries: Vec<CacheEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CacheEntry {
    key: String,
    result: ProbeResult,
    probed_at_unix: u64,
}

impl ProbeCache {
    /// An unreadable or corrupt cache is an empty one.
    fn load(path: &Path) -> ProbeCache {
        fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn get(&self, key: &str) -> Option<ProbeResult> {
        self.entries
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.result.clone())
    }

    fn insert(mut self, key: String, result: ProbeResult) -> ProbeCache {
        self.entries.retain(|e| e.key != key);
        let probed_at_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.entries.push(CacheEntry {
            key,
            result,
            probed_at_unix,
        });
        let excess = self.entries.len().saturating_sub(CACHE_KEEP);
        self.entries.drain(..excess);
        self
    }

    /// Written to a temporary file and renamed, so that a concurrent
    /// reader never sees half a file.
    fn save(&self, path: &Path) -> std::io::Result<()> {
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        fs::create_dir_all(&dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
        tmp.write_all(&serde_json::to_vec_pretty(self).unwrap_or_default())?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object::{Object, ObjectSegment};

    #[test]
    fn qemu_errors_are_shortened() {
        assert_eq!(
            short_error("qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69\n"),
            "error: failed to set MSR 0x10a to 0x69"
        );
        assert_eq!(short_error(&"x".repeat(300)).len(), 163);
    }

    #[test]
    fn choice_parses() {
        assert_eq!("KVM".parse::<AccelChoice>().unwrap(), AccelChoice::Kvm);
        assert_eq!(" tcg ".parse::<AccelChoice>().unwrap(), AccelChoice::Tcg);
        assert_eq!("".parse::<AccelChoice>().unwrap(), AccelChoice::Auto);
        let e = "hvf".parse::<AccelChoice>().unwrap_err().to_string();
        assert!(e.contains("SCXRAY_ACCEL") && e.contains("hvf"), "{e}");
    }

    #[test]
    fn probe_elf_is_a_static_x86_64_executable() {
        let elf = probe_init_elf();
        let f = object::File::parse(&*elf).unwrap();
        assert_eq!(f.architecture(), object::Architecture::X86_64);
        assert_eq!(f.kind(), object::ObjectKind::Executable);
        let seg = f.segments().next().unwrap();
        assert!(f.entry() >= seg.address() && f.entry() < seg.address() + seg.size());
        // The lea's displacement lands on the marker.
        let text = &elf[120..];
        let disp = u32::from_le_bytes(text[13..17].try_into().unwrap()) as usize;
        assert!(text[17 + disp..].starts_with(PROBE_MARKER.as_bytes()));
    }

    #[test]
    fn probe_initramfs_holds_init_and_console() {
        let entries = crate::initramfs::cpio::read_archives(&probe_initramfs()).unwrap();
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["dev", "dev/console", "init"]);
    }

    #[test]
    fn cache_round_trip_and_bound() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join(CACHE_FILE);
        let r = ProbeResult {
            usable: false,
            detail: "emulation failure".into(),
        };
        let mut c = ProbeCache::load(&path);
        for i in 0..20 {
            c = c.insert(format!("k{i}"), r.clone());
        }
        c.save(&path).unwrap();
        let back = ProbeCache::load(&path);
        assert_eq!(back.entries.len(), CACHE_KEEP);
        assert_eq!(back.get("k19"), Some(r));
        assert_eq!(back.get("k0"), None);
        fs::write(&path, b"{not json").unwrap();
        assert!(ProbeCache::load(&path).entries.is_empty());
    }

    #[test]
    fn key_depends_on_the_kernel() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::write(&a, b"1").unwrap();
        fs::write(&b, b"1").unwrap();
        let q = Path::new("/bin/sh");
        assert_eq!(probe_key(q, &a), probe_key(q, &a));
        assert_ne!(probe_key(q, &a), probe_key(q, &b));
    }

    #[test]
    fn forced_tcg_needs_no_probe() {
        let d = decide(
            AccelChoice::Tcg,
            "test",
            Path::new("/nonexistent"),
            Path::new("/nonexistent"),
            None,
            Path::new("/nonexistent"),
            &Cancel::new(),
        )
        .unwrap();
        assert_eq!(d.accel, Accel::Tcg);
        assert_eq!(d.why, "TCG (test)");
    }
}
