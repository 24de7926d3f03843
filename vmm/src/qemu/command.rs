//! QEMU's command line, built from plain values (no I/O, unit-tested).
//!
//! The machine is a q35 with nothing but what the guest needs:
//! `-nodefaults` (no NIC, VGA, floppy...), the kernel console on the first
//! serial port (QEMU's stdout), the record stream on the second one (a unix
//! socket scxray listens on), optionally guest RAM in a shared file.

use std::ffi::{OsStr, OsString};
use std::path::Path;

use crate::backend::{Accel, MemoryInfo};
use crate::qemu::files::node_mib;
use scxray::run::topology::Topology;

/// Options every guest gets before the spec's own: the console on ttyS0
/// (KASLR stays on: the host-side monitor finds the kernel's layout in
/// guest memory, see `monitor::discover`; [`NOKASLR`] turns it off); an
/// immediate reboot on panic, which `-no-reboot` turns into QEMU exiting;
/// `quiet` because every console line costs boot time under TCG;
/// `schedstats=enable` and `kernel.bpf_stats_enabled=1` so that the
/// runqueues' schedstat and the BPF programs' call statistics the monitor
/// samples are counted (ktstr sets both).
pub const BASE_CMDLINE: &str =
    "console=ttyS0 panic=-1 quiet schedstats=enable sysctl.kernel.bpf_stats_enabled=1";

/// The option `--nokaslr` adds: the kernel image where it was linked and
/// the direct map at its default base.
pub const NOKASLR: &str = "nokaslr";

/// The machine type. Its RAM layout is what
/// [`layout::low_mem_end`](crate::layout::low_mem_end) models.
pub const MACHINE: &str = "q35";

/// QEMU's id of the guest RAM backend object.
const RAM_ID: &str = "scxray-ram";

/// How TCG uses host threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcgThreads {
    /// One host thread per vCPU: faster, but under QEMU 7.2 an early-boot
    /// int3 oops about once in 60 boots (retried).
    Multi,
    /// One host thread for all vCPUs: about 20% slower, no such oops.
    Single,
}

/// One QEMU invocation.
#[derive(Debug, Clone)]
pub struct Launch<'a> {
    pub accel: Accel,
    pub tcg_threads: TcgThreads,
    pub topology: Topology,
    pub memory_mib: u32,
    pub kernel: &'a Path,
    pub initrd: &'a Path,
    /// The whole kernel command line (see [`kernel_cmdline`]).
    pub cmdline: &'a str,
    /// The unix socket QEMU connects the second serial port to; `None`
    /// discards what the guest writes there.
    pub record_socket: Option<&'a Path>,
    /// Files to back guest RAM with, shared with the host: one per NUMA
    /// node, each as long as its node's RAM.
    pub memory: Option<&'a MemoryInfo>,
    /// A unix socket for QEMU's gdbstub (it listens; the guest runs
    /// without waiting for a debugger).
    pub gdb_socket: Option<&'a Path>,
}

/// `-smp` for `t`: a NUMA node is a socket, an LLC a die (QEMU shares the
/// L3 cache it describes among a die's CPUs), then cores and threads.
fn smp(t: &Topology) -> String {
    format!(
        "{},sockets={},dies={},cores={},threads={}",
        t.cpus(),
        t.numa_nodes,
        t.llcs_per_node(),
        t.cores_per_llc,
        t.threads_per_core
    )
}

/// A memory backend and a `-numa node` per NUMA node: its RAM file when
/// RAM is shared (the files' lengths give the nodes' sizes), else
/// anonymous RAM split as [`node_mib`] splits it; then the CPUs, a
/// contiguous range per node.
fn memory_nodes(l: &Launch<'_>, a: &mut Vec<OsString>) {
    let t = &l.topology;
    let sizes: Vec<u64> = match l.memory {
        Some(m) => m.files.iter().map(|f| f.len >> 20).collect(),
        None => node_mib(l.memory_mib, t.numa_nodes)
            .into_iter()
            .map(u64::from)
            .collect(),
    };
    for (node, mib) in sizes.iter().enumerate() {
        let id = format!("{RAM_ID}-node{node}");
        let obj = match l.memory.and_then(|m| m.files.get(node)) {
            Some(f) => {
                let mut o = OsString::from(format!(
                    "memory-backend-file,id={id},size={mib}M,share=on,mem-path="
                ));
                o.push(escape_option(f.path.as_os_str()));
                o
            }
            None => OsString::from(format!("memory-backend-ram,id={id},size={mib}M")),
        };
        let cpus = t.node_cpus(node as u32);
        a.extend([
            "-object".into(),
            obj,
            "-numa".into(),
            format!(
                "node,nodeid={node},cpus={}-{},memdev={id}",
                cpus.start,
                cpus.end - 1
            )
            .into(),
        ]);
    }
}

/// The base options followed by the spec's extra ones.
pub fn kernel_cmdline(extra: &str) -> String {
    let extra = extra.trim();
    if extra.is_empty() {
        BASE_CMDLINE.to_owned()
    } else {
        format!("{BASE_CMDLINE} {extra}")
    }
}

/// QEMU's arguments (the program name excluded).
pub fn args(l: &Launch<'_>) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::with_capacity(40);
    let mut push = |parts: &[&str]| a.extend(parts.iter().map(OsString::from));
    push(&[
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
    ]);
    // vCPU threads named `CPU <n>/KVM`: the host monitor reads how long the
    // host kept each one waiting (a preempted vCPU is not a stuck CPU).
    push(&["-name", "scxray,debug-threads=on"]);
    let numa = l.topology.numa_nodes > 1;
    match l.memory {
        // NUMA nodes bring their own memory backends instead.
        Some(_) if !numa => push(&["-machine", &format!("{MACHINE},memory-backend={RAM_ID}")]),
        _ => push(&["-machine", MACHINE]),
    }
    match l.accel {
        Accel::Kvm => push(&["-accel", "kvm", "-cpu", "host"]),
        Accel::Tcg => {
            let thread = match l.tcg_threads {
                TcgThreads::Multi => "multi",
                TcgThreads::Single => "single",
            };
            // TCG's `max` says AuthenticAMD, for which QEMU 7.2 describes
            // one L3 for the whole socket; with GenuineIntel its leaf 4
            // gives each die (an LLC here) its own. Flat guests keep `max`.
            let cpu = if l.topology == Topology::flat(l.topology.cpus()) {
                "max"
            } else {
                "max,vendor=GenuineIntel"
            };
            push(&["-accel", &format!("tcg,thread={thread}"), "-cpu", cpu]);
        }
    }
    push(&[
        "-smp",
        &smp(&l.topology),
        "-m",
        &format!("{}M", l.memory_mib),
    ]);
    if numa {
        memory_nodes(l, &mut a);
    } else if let Some(file) = l.memory.and_then(|m| m.files.first()) {
        let mut obj = OsString::from(format!(
            "memory-backend-file,id={RAM_ID},size={}M,share=on,mem-path=",
            l.memory_mib
        ));
        obj.push(escape_option(file.path.as_os_str()));
        a.push("-object".into());
        a.push(obj);
    }
    a.push("-kernel".into());
    a.push(l.kernel.into());
    a.push("-initrd".into());
    a.push(l.initrd.into());
    a.push("-append".into());
    a.push(l.cmdline.into());
    // stdin is /dev/null: QEMU makes its stdin non-blocking, which must not
    // leak into scxray's terminal. signal=off: no Ctrl-C handling by QEMU.
    for s in [
        "-chardev",
        "stdio,id=console,signal=off",
        "-serial",
        "chardev:console",
    ] {
        a.push(s.into());
    }
    if let Some(sock) = l.gdb_socket {
        let mut dev = OsString::from("unix:");
        dev.push(escape_option(sock.as_os_str()));
        dev.push(",server=on,wait=off");
        a.push("-gdb".into());
        a.push(dev);
    }
    match l.record_socket {
        Some(sock) => {
            let mut chardev = OsString::from("socket,id=records,path=");
            chardev.push(escape_option(sock.as_os_str()));
            for s in [
                OsString::from("-chardev"),
                chardev,
                "-serial".into(),
                "chardev:records".into(),
            ] {
                a.push(s);
            }
        }
        None => {
            a.push("-serial".into());
            a.push("null".into());
        }
    }
    a
}

/// A value inside a QEMU `key=value,...` option: a comma is written twice.
fn escape_option(value: &OsStr) -> OsString {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let mut out = Vec::with_capacity(value.len());
    for &b in value.as_bytes() {
        out.push(b);
        if b == b',' {
            out.push(b',');
        }
    }
    OsString::from_vec(out)
}

/// The command as a shell line, for error messages and logs.
pub fn display(program: &Path, args: &[OsString]) -> String {
    let quote = |s: &OsStr| {
        let s = s.to_string_lossy();
        if !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./=,:+@%".contains(&b))
        {
            s.into_owned()
        } else {
            format!("'{}'", s.replace('\'', r"'\''"))
        }
    };
    std::iter::once(quote(program.as_os_str()))
        .chain(args.iter().map(|a| quote(a)))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::RamFile;

    fn launch<'a>(accel: Accel, sock: Option<&'a Path>, mem: Option<&'a MemoryInfo>) -> Launch<'a> {
        Launch {
            accel,
            tcg_threads: TcgThreads::Multi,
            topology: Topology::flat(2),
            memory_mib: 512,
            kernel: Path::new("/k/vmlinuz"),
            initrd: Path::new("/r/initrd"),
            cmdline: "console=ttyS0 x=1",
            record_socket: sock,
            memory: mem,
            gdb_socket: None,
        }
    }

    fn shm(path: &str) -> MemoryInfo {
        MemoryInfo::one_file(path.into(), 512 << 20, 512 << 20)
    }

    /// Two nodes: a RAM file and a `-numa node` each, no machine-wide
    /// memory backend; without shared RAM, anonymous node memory.
    #[test]
    fn numa_nodes_get_their_own_memory_and_cpus() {
        let mem = MemoryInfo {
            files: vec![
                RamFile {
                    path: "/s/n0".into(),
                    len: 256 << 20,
                },
                RamFile {
                    path: "/s/n1".into(),
                    len: 256 << 20,
                },
            ],
            size: 512 << 20,
            low_end: 512 << 20,
        };
        let mut l = launch(Accel::Tcg, None, Some(&mem));
        l.topology = "2n2l2c1t".parse().unwrap();
        let a = strs(&args(&l));
        assert_eq!(after(&a, "-machine"), ["q35"]);
        assert_eq!(
            after(&a, "-object"),
            [
                "memory-backend-file,id=scxray-ram-node0,size=256M,share=on,mem-path=/s/n0",
                "memory-backend-file,id=scxray-ram-node1,size=256M,share=on,mem-path=/s/n1"
            ]
        );
        assert_eq!(
            after(&a, "-numa"),
            [
                "node,nodeid=0,cpus=0-1,memdev=scxray-ram-node0",
                "node,nodeid=1,cpus=2-3,memdev=scxray-ram-node1"
            ]
        );
        l.memory = None;
        let a = strs(&args(&l));
        assert_eq!(
            after(&a, "-object"),
            [
                "memory-backend-ram,id=scxray-ram-node0,size=256M",
                "memory-backend-ram,id=scxray-ram-node1,size=256M"
            ]
        );
    }

    #[test]
    fn topologies_become_sockets_dies_cores_and_threads() {
        let mut l = launch(Accel::Tcg, None, None);
        l.topology = "1n2l2c2t".parse().unwrap();
        let a = strs(&args(&l));
        assert_eq!(after(&a, "-smp"), ["8,sockets=1,dies=2,cores=2,threads=2"]);
        assert_eq!(after(&a, "-cpu"), ["max,vendor=GenuineIntel"]);
        l.accel = Accel::Kvm;
        assert_eq!(after(&strs(&args(&l)), "-cpu"), ["host"]);
    }

    #[test]
    fn gdbstub_on_a_unix_socket_only_when_asked() {
        let mut l = launch(Accel::Tcg, None, None);
        assert!(after(&strs(&args(&l)), "-gdb").is_empty());
        l.gdb_socket = Some(Path::new("/t/a,b/gdb.sock"));
        assert_eq!(
            after(&strs(&args(&l)), "-gdb"),
            ["unix:/t/a,,b/gdb.sock,server=on,wait=off"]
        );
    }

    fn strs(a: &[OsString]) -> Vec<String> {
        a.iter().map(|s| s.to_string_lossy().into_owned()).collect()
    }

    fn after<'a>(a: &'a [String], flag: &str) -> Vec<&'a str> {
        a.windows(2)
            .filter(|w| w[0] == flag)
            .map(|w| w[1].as_str())
            .collect()
    }

    #[test]
    fn tcg_guest_with_shared_memory_and_record_socket() {
        let mem = shm("/dev/shm/scxray-1-0");
        let a = strs(&args(&launch(
            Accel::Tcg,
            Some(Path::new("/t/rec.sock")),
            Some(&mem),
        )));
        assert_eq!(
            &a[..6],
            [
                "-nodefaults",
                "-no-user-config",
                "-display",
                "none",
                "-no-reboot",
                "-name"
            ]
        );
        assert_eq!(after(&a, "-name"), ["scxray,debug-threads=on"]);
        assert_eq!(after(&a, "-machine"), ["q35,memory-backend=scxray-ram"]);
        assert_eq!(after(&a, "-accel"), ["tcg,thread=multi"]);
        assert_eq!(after(&a, "-cpu"), ["max"]);
        assert_eq!(after(&a, "-smp"), ["2,sockets=1,dies=1,cores=2,threads=1"]);
        assert_eq!(after(&a, "-m"), ["512M"]);
        assert_eq!(
            after(&a, "-object"),
            ["memory-backend-file,id=scxray-ram,size=512M,share=on,mem-path=/dev/shm/scxray-1-0"]
        );
        assert_eq!(after(&a, "-kernel"), ["/k/vmlinuz"]);
        assert_eq!(after(&a, "-initrd"), ["/r/initrd"]);
        assert_eq!(after(&a, "-append"), ["console=ttyS0 x=1"]);
        // ttyS0 then ttyS1: the order of -serial decides the port.
        assert_eq!(after(&a, "-serial"), ["chardev:console", "chardev:records"]);
        assert_eq!(
            after(&a, "-chardev"),
            [
                "stdio,id=console,signal=off",
                "socket,id=records,path=/t/rec.sock"
            ]
        );
    }

    #[test]
    fn kvm_guest_without_extras() {
        let a = strs(&args(&launch(Accel::Kvm, None, None)));
        assert_eq!(after(&a, "-machine"), ["q35"]);
        assert_eq!(after(&a, "-accel"), ["kvm"]);
        assert_eq!(after(&a, "-cpu"), ["host"]);
        assert!(after(&a, "-object").is_empty());
        assert_eq!(after(&a, "-serial"), ["chardev:console", "null"]);
    }

    #[test]
    fn single_threaded_tcg() {
        let mut l = launch(Accel::Tcg, None, None);
        l.tcg_threads = TcgThreads::Single;
        assert_eq!(after(&strs(&args(&l)), "-accel"), ["tcg,thread=single"]);
    }

    #[test]
    fn commas_in_paths_are_escaped_inside_options_only() {
        let mem = shm("/m,1");
        let a = strs(&args(&launch(
            Accel::Tcg,
            Some(Path::new("/a,b/s")),
            Some(&mem),
        )));
        assert_eq!(after(&a, "-chardev")[1], "socket,id=records,path=/a,,b/s");
        assert!(after(&a, "-object")[0].ends_with("mem-path=/m,,1"));
    }

    #[test]
    fn cmdline_appends_extras() {
        assert_eq!(kernel_cmdline(""), BASE_CMDLINE);
        assert_eq!(
            kernel_cmdline("  loglevel=7 "),
            format!("{BASE_CMDLINE} loglevel=7")
        );
        assert!(!BASE_CMDLINE.contains(NOKASLR) && BASE_CMDLINE.contains("panic=-1"));
        assert_eq!(
            kernel_cmdline(NOKASLR),
            format!("{BASE_CMDLINE} nokaslr"),
            "--nokaslr"
        );
    }

    #[test]
    fn display_quotes_what_needs_it() {
        let d = display(
            Path::new("qemu"),
            &["-append".into(), "a b".into(), "it's".into()],
        );
        assert_eq!(d, r"qemu -append 'a b' 'it'\''s'");
    }
}
