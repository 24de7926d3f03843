//! The initramfs builder against this machine's real binaries and libraries,
//! plus synthetic ELF files for the search-order corner cases.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use scxray_vmm::initramfs::cpio::{self, CpioEntry, S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};
use scxray_vmm::initramfs::{
    CacheUse, ElfError, ElfInfo, FoundVia, InitramfsBuilder, InitramfsError, LibraryResolver,
};

#[path = "../../tests/support/require.rs"]
mod require;
#[path = "../../tests/support/versioned_lib.rs"]
mod versioned_lib;
use versioned_lib::{cc, versioned_lib};

const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;

/// A minimal ELF64 little-endian file: one PT_LOAD over the whole file, an
/// optional PT_INTERP and a PT_DYNAMIC with the given string entries.
#[derive(Default)]
struct Synth<'a> {
    machine: u16,
    interp: Option<&'a str>,
    needed: &'a [&'a str],
    runpath: Option<&'a str>,
    rpath: Option<&'a str>,
    soname: Option<&'a str>,
}

impl Synth<'_> {
    fn write(&self, path: &Path) {
        const BASE: u64 = 0x10000;
        let dynamic = !self.needed.is_empty()
            || self.runpath.is_some()
            || self.rpath.is_some()
            || self.soname.is_some();
        let phnum = 1 + self.interp.is_some() as u64 + dynamic as u64;
        let mut tail = Vec::new(); // everything after the program headers
        let tail_at = 64 + 56 * phnum;
        let interp_off = tail_at + tail.len() as u64;
        if let Some(i) = self.interp {
            tail.extend_from_slice(i.as_bytes());
            tail.push(0);
        }
        let strtab_off = tail_at + tail.len() as u64;
        let mut strtab = vec![0u8];
        let mut dyns: Vec<(i64, u64)> = Vec::new();
        let mut add = |tag: i64, s: &str, strtab: &mut Vec<u8>| {
            dyns.push((tag, strtab.len() as u64));
            strtab.extend_from_slice(s.as_bytes());
            strtab.push(0);
        };
        for n in self.needed {
            add(1, n, &mut strtab);
        }
        if let Some(r) = self.rpath {
            add(15, r, &mut strtab);
        }
        if let Some(r) = self.runpath {
            add(29, r, &mut strtab);
        }
        if let Some(s) = self.soname {
            add(14, s, &mut strtab);
        }
        dyns.push((5, BASE + strtab_off)); // DT_STRTAB
        dyns.push((10, strtab.len() as u64)); // DT_STRSZ
        dyns.push((0, 0));
        tail.extend_from_slice(&strtab);
        while !(tail_at + tail.len() as u64).is_multiple_of(8) {
            tail.push(0);
        }
        let dyn_off = tail_at + tail.len() as u64;
        for (t, v) in &dyns {
            tail.extend(t.to_le_bytes());
            tail.extend(v.to_le_bytes());
        }
        let total = tail_at + tail.len() as u64;
        let mut out = Vec::new();
        out.extend(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
        out.extend(3u16.to_le_bytes()); // ET_DYN
        out.extend(self.machine.to_le_bytes());
        out.extend(1u32.to_le_bytes());
        out.extend(0u64.to_le_bytes()); // entry
        out.extend(64u64.to_le_bytes()); // phoff
        out.extend(0u64.to_le_bytes()); // shoff
        out.extend(0u32.to_le_bytes());
        for v in [64u16, 56, phnum as u16, 64, 0, 0] {
            out.extend(v.to_le_bytes());
        }
        let mut ph = |ty: u32, off: u64, size: u64| {
            out.extend(ty.to_le_bytes());
            out.extend(4u32.to_le_bytes());
            for v in [off, BASE + off, BASE + off, size, size, 8] {
                out.extend(v.to_le_bytes());
            }
        };
        ph(1, 0, total);
        if let Some(i) = self.interp {
            ph(3, interp_off, i.len() as u64 + 1);
        }
        if dynamic {
            ph(2, dyn_off, dyns.len() as u64 * 16);
        }
        out.extend(tail);
        assert_eq!(out.len() as u64, total);
        fs::write(path, out).unwrap();
    }
}

fn lib(dir: &Path, soname: &str, needed: &[&str], runpath: Option<&str>) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let p = dir.join(soname);
    Synth {
        machine: EM_X86_64,
        needed,
        runpath,
        soname: Some(soname),
        ..Default::default()
    }
    .write(&p);
    p
}

fn names(deps: &[scxray_vmm::initramfs::Dependency]) -> Vec<&str> {
    deps.iter().map(|d| d.name.as_str()).collect()
}

fn archive(buf: &[u8]) -> BTreeMap<String, CpioEntry> {
    let entries = cpio::read_archives(buf).expect("archive parses back");
    let mut map = BTreeMap::new();
    for e in entries {
        // Later segments may repeat a directory; nothing else may repeat.
        if let Some(prev) = map.insert(e.name.clone(), e.clone()) {
            assert_eq!(prev.mode & S_IFMT, S_IFDIR, "{} written twice", e.name);
        }
    }
    map
}

#[test]
fn synthetic_elf_is_parsed() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("x");
    Synth {
        machine: EM_X86_64,
        interp: Some("/lib64/ld-linux-x86-64.so.2"),
        needed: &["liba.so.1", "libb.so.2"],
        runpath: Some("$ORIGIN/../lib:/opt/x"),
        soname: Some("x.so"),
        ..Default::default()
    }
    .write(&p);
    let info = ElfInfo::read(&p).unwrap().unwrap();
    assert!(info.is_64);
    assert_eq!(info.machine, EM_X86_64);
    assert_eq!(
        info.interp.as_deref(),
        Some(Path::new("/lib64/ld-linux-x86-64.so.2"))
    );
    assert_eq!(info.needed, ["liba.so.1", "libb.so.2"]);
    assert_eq!(info.runpath, ["$ORIGIN/../lib", "/opt/x"]);
    assert!(info.rpath.is_empty());
    assert_eq!(info.soname.as_deref(), Some("x.so"));
}

#[test]
fn runpath_origin_recursion_and_dedup() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let libdir = root.join("opt/lib");
    lib(&libdir, "liba.so.1", &["libc2.so"], Some("$ORIGIN/sub"));
    lib(&libdir.join("sub"), "libc2.so", &[], None);
    lib(&libdir, "libb.so.2", &["liba.so.1"], Some("$ORIGIN"));
    let exe = root.join("opt/bin/tool");
    fs::create_dir_all(exe.parent().unwrap()).unwrap();
    Synth {
        machine: EM_X86_64,
        needed: &["liba.so.1", "libb.so.2"],
        runpath: Some("$ORIGIN/../lib"),
        ..Default::default()
    }
    .write(&exe);

    let r = LibraryResolver::isolated();
    // Placed at its host path, every library stays at its host path.
    let deps = r.closure(&exe, exe.to_str().unwrap()).unwrap();
    assert_eq!(names(&deps), ["liba.so.1", "libb.so.2", "libc2.so"]);
    assert!(deps.iter().all(|d| d.via == FoundVia::Runpath));
    assert!(deps.iter().all(|d| d.at_host_path()), "{deps:#?}");
    assert_eq!(deps[2].host, libdir.join("sub/libc2.so"));
    assert_eq!(deps[2].needed_by, libdir.join("liba.so.1"));

    // Moved to /usr/local/bin in the guest, $ORIGIN follows it there.
    let deps = r.closure(&exe, "/usr/local/bin/tool").unwrap();
    let guests: Vec<_> = deps.iter().map(|d| d.guest.as_str()).collect();
    assert_eq!(
        guests,
        [
            "/usr/local/lib/liba.so.1",
            "/usr/local/lib/libb.so.2",
            "/usr/local/lib/sub/libc2.so"
        ]
    );
}

#[test]
fn rpath_is_inherited_unless_runpath_is_set() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let rdir = root.join("rp");
    let udir = root.join("ru");
    // liba (found via the exe's RPATH) needs libz: without its own RUNPATH
    // it inherits the exe's RPATH; libq has a RUNPATH and so does not.
    lib(&rdir, "liba.so", &["libz.so"], None);
    lib(&rdir, "libz.so", &[], None);
    lib(&rdir, "libq.so", &["libw.so"], Some(udir.to_str().unwrap()));
    lib(&rdir, "libw.so", &[], None);
    lib(&udir, "libw.so", &[], None);
    let exe = root.join("exe");
    Synth {
        machine: EM_X86_64,
        needed: &["liba.so", "libq.so"],
        rpath: Some(rdir.to_str().unwrap()),
        ..Default::default()
    }
    .write(&exe);
    let deps = LibraryResolver::isolated().closure(&exe, "/exe").unwrap();
    assert_eq!(names(&deps), ["liba.so", "libq.so", "libz.so", "libw.so"]);
    assert_eq!(deps[2].via, FoundVia::Rpath);
    assert_eq!(deps[3].host, udir.join("libw.so"));
    assert_eq!(deps[3].via, FoundVia::Runpath);
}

#[test]
fn incompatible_library_is_skipped_and_missing_one_is_named() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let first = root.join("first");
    let second = root.join("second");
    fs::create_dir_all(&first).unwrap();
    Synth {
        machine: EM_AARCH64,
        soname: Some("libm1.so"),
        ..Default::default()
    }
    .write(&first.join("libm1.so"));
    lib(&second, "libm1.so", &[], None);
    let exe = root.join("exe");
    let runpath = format!("{}:{}", first.display(), second.display());
    Synth {
        machine: EM_X86_64,
        needed: &["libm1.so"],
        runpath: Some(&runpath),
        ..Default::default()
    }
    .write(&exe);
    let deps = LibraryResolver::isolated().closure(&exe, "/exe").unwrap();
    assert_eq!(deps[0].host, second.join("libm1.so"));

    let exe2 = root.join("exe2");
    Synth {
        machine: EM_X86_64,
        needed: &["libscxray-test-absent.so.7"],
        runpath: Some(&runpath),
        ..Default::default()
    }
    .write(&exe2);
    let r = LibraryResolver::from_host().unwrap();
    let err = r.closure(&exe2, "/exe2").unwrap_err();
    let ElfError::MissingLibrary {
        elf,
        library,
        searched,
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!(elf, &exe2);
    assert_eq!(library, "libscxray-test-absent.so.7");
    assert!(searched.contains(&first));
    let msg = err.to_string();
    assert!(
        msg.contains("libscxray-test-absent.so.7") && msg.contains("exe2"),
        "{msg}"
    );
    assert!(
        msg.contains("install the package") && msg.contains("--lib-dir"),
        "{msg}"
    );

    // Through the builder the same error surfaces, typed.
    let err = InitramfsBuilder::new()
        .init("/bin/sh")
        .binary(&exe2, "/bin/x")
        .plan()
        .unwrap_err();
    assert!(matches!(
        err,
        InitramfsError::Elf(ElfError::MissingLibrary { .. })
    ));
}

#[test]
fn missing_interpreter_is_reported() {
    let d = tempfile::tempdir().unwrap();
    let exe = d.path().join("exe");
    Synth {
        machine: EM_X86_64,
        interp: Some("/lib/ld-scxray-nonexistent.so.1"),
        ..Default::default()
    }
    .write(&exe);
    let err = LibraryResolver::isolated().closure(&exe, "/e").unwrap_err();
    assert!(
        matches!(&err, ElfError::MissingInterpreter { interp, .. } if interp == Path::new("/lib/ld-scxray-nonexistent.so.1")),
        "{err}"
    );
}

/// `ldd` names of a binary, without the vDSO.
fn ldd_names(bin: &str) -> Option<Vec<String>> {
    let out = Command::new("ldd").arg(bin).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| !n.starts_with("linux-vdso") && !n.starts_with("linux-gate"))
        .map(|n| n.rsplit('/').next().unwrap_or(n).to_owned())
        .collect();
    v.sort();
    Some(v)
}

#[test]
fn closure_of_real_dynamic_binary_matches_ldd() {
    let ls = "/bin/ls";
    if !Path::new(ls).exists() {
        require::skip(
            "closure_of_real_dynamic_binary_matches_ldd",
            &format!("no {ls} on this machine"),
        );
        return;
    }
    let r = LibraryResolver::from_host().unwrap();
    let deps = r.closure(Path::new(ls), ls).unwrap();
    assert_eq!(deps[0].via, FoundVia::Interpreter);
    let mut ours: Vec<String> = deps
        .iter()
        .map(|d| d.host.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    ours.sort();
    assert!(ours.iter().any(|n| n == "libc.so.6"), "{ours:?}");
    assert!(ours.iter().any(|n| n.starts_with("ld-linux")), "{ours:?}");
    for d in &deps {
        assert!(d.host.is_file(), "{d:?}");
    }
    match ldd_names(ls) {
        Some(theirs) => assert_eq!(ours, theirs),
        None => eprintln!("ldd not usable here: compared only the essentials"),
    }
}

#[test]
fn static_binary_has_no_closure() {
    let candidates = ["/bin/busybox", "/sbin/ldconfig", "/usr/sbin/ldconfig"];
    let r = LibraryResolver::from_host().unwrap();
    let mut checked = false;
    for c in candidates {
        let p = Path::new(c);
        let Ok(Some(info)) = ElfInfo::read(p) else {
            continue;
        };
        if info.interp.is_some() || !info.needed.is_empty() {
            continue; // a dynamic build of it
        }
        assert!(r.closure(p, c).unwrap().is_empty(), "{c}");
        checked = true;
    }
    if !checked {
        eprintln!("skipped the real static binary: none of {candidates:?} is static here");
    }
    // And a synthetic one, always.
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("static");
    Synth {
        machine: EM_X86_64,
        ..Default::default()
    }
    .write(&p);
    assert!(r.closure(&p, "/s").unwrap().is_empty());
}

fn sh_builder() -> InitramfsBuilder {
    InitramfsBuilder::new()
        .init("/bin/sh")
        .binary("/bin/ls", "/bin/ls")
        .bytes("/etc/scxray/args", "--crash-after 3\n", 0o644)
}

#[test]
fn archive_of_sh_holds_its_closure() {
    if !Path::new("/bin/sh").exists() || !Path::new("/bin/ls").exists() {
        require::skip("archive_of_sh_holds_its_closure", "no /bin/sh or /bin/ls");
        return;
    }
    let t = Instant::now();
    let mut buf = Vec::new();
    let report = sh_builder().write_to(&mut buf).unwrap();
    eprintln!(
        "/bin/sh + /bin/ls: base {} B, suffix {} B, {} entries, {:?} (debug build)",
        report.base_bytes,
        report.suffix_bytes,
        report.entries,
        t.elapsed()
    );
    assert_eq!(report.total_bytes(), buf.len() as u64);
    assert_eq!(report.cache, CacheUse::Disabled);
    assert_eq!(buf.len() % 4, 0);
    let a = archive(&buf);

    let init = &a["init"];
    assert_eq!(init.mode, S_IFREG | 0o755);
    assert_eq!(init.data, fs::read("/bin/sh").unwrap());
    assert_eq!(a["dev/console"].mode, S_IFCHR | 0o600);
    assert_eq!(
        (a["dev/console"].rdev_major, a["dev/console"].rdev_minor),
        (5, 1)
    );
    assert_eq!(a["dev/null"].mode & S_IFMT, S_IFCHR);
    assert_eq!(a["tmp"].mode, S_IFDIR | 0o1777);
    for d in ["proc", "sys", "sys/kernel/debug", "sys/fs/cgroup", "run"] {
        assert_eq!(a[d].mode & S_IFMT, S_IFDIR, "{d}");
    }
    assert_eq!(a["etc/scxray/args"].data, b"--crash-after 3\n");
    for e in a.values() {
        assert_eq!((e.uid, e.gid, e.mtime), (0, 0, 0), "{}", e.name);
    }

    // Every dependency resolves in the archive the way it does on the host.
    for d in &report.dependencies {
        let guest = resolve(&a, &d.guest).unwrap_or_else(|| panic!("{} not in archive", d.guest));
        assert_eq!(
            guest.data.len() as u64,
            fs::metadata(&d.host).unwrap().len(),
            "{}",
            d.guest
        );
    }
    // The interpreter path of a merged-/usr Debian goes through two symlinks.
    if fs::symlink_metadata("/lib64").is_ok_and(|m| m.file_type().is_symlink()) {
        assert_eq!(a["lib64"].mode & S_IFMT, S_IFLNK);
    }

    // Entries are written after the directories that hold them.
    let order: Vec<String> = cpio::read_archives(&buf)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    for (i, name) in order.iter().enumerate() {
        if let Some((parent, _)) = name.rsplit_once('/') {
            let pos = order.iter().position(|n| n == parent);
            assert!(pos.is_some_and(|p| p < i), "{name} before its parent");
        }
    }
    // GNU cpio stops at the first trailer: list each segment on its own.
    let (base, suffix) = buf.split_at(report.base_bytes as usize);
    if let (Some(mut a), Some(b)) = (cpio_list(base), cpio_list(suffix)) {
        a.extend(b);
        assert_eq!(a, order);
    }
}

/// Follows symlinks inside the parsed archive like the guest kernel would.
fn resolve<'a>(a: &'a BTreeMap<String, CpioEntry>, path: &str) -> Option<&'a CpioEntry> {
    let mut parts: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .rev()
        .map(String::from)
        .collect();
    let mut cur: Vec<String> = Vec::new();
    for _ in 0..200 {
        let Some(c) = parts.pop() else {
            return a.get(&cur.join("/"));
        };
        if c == ".." {
            cur.pop();
            continue;
        }
        cur.push(c);
        let e = a.get(&cur.join("/"))?;
        if e.mode & S_IFMT == S_IFLNK {
            cur.pop();
            let target = std::str::from_utf8(&e.data).ok()?;
            if target.starts_with('/') {
                cur.clear();
            }
            parts.extend(
                target
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .rev()
                    .map(String::from),
            );
        }
    }
    None
}

/// What `cpio -it` lists, when GNU cpio is installed.
fn cpio_list(segment: &[u8]) -> Option<Vec<String>> {
    use std::io::Write;
    use std::process::Stdio;
    let Ok(mut child) = Command::new("cpio")
        .args(["-it", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        require::skip(
            "archive_of_sh_holds_its_closure",
            "its `cpio -it` cross-check: no cpio binary (apt-get install cpio)",
        );
        return None;
    };
    let mut stdin = child.stdin.take().unwrap();
    // cpio may exit once it has read the trailer, before the padding.
    match stdin.write_all(segment) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("feeding cpio: {e}"),
        _ => {}
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(String::from)
            .collect(),
    )
}

#[test]
fn extracted_archive_runs_in_a_chroot() {
    let root_ok = Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .is_some_and(|o| o.stdout.starts_with(b"0\n"));
    if !root_ok || !Path::new("/usr/sbin/chroot").exists() {
        require::skip(
            "extracted_archive_runs_in_a_chroot",
            "needs root and chroot(8) to run the closure",
        );
        return;
    }
    let mut buf = Vec::new();
    sh_builder().write_to(&mut buf).unwrap();
    let d = tempfile::tempdir().unwrap();
    extract(&cpio::read_archives(&buf).unwrap(), d.path());
    let out = Command::new("/usr/sbin/chroot")
        .arg(d.path())
        .args(["/init", "-c", "/bin/ls -d /etc/scxray && echo from-guest"])
        .env_clear()
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("Operation not permitted") {
        require::not_on_this_machine(
            "extracted_archive_runs_in_a_chroot",
            &format!(
                "chroot is not permitted in this container ({})",
                stderr.trim()
            ),
        );
        return;
    }
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "/etc/scxray\nfrom-guest\n"
    );
}

/// Unpacks like the kernel, minus device nodes (mknod needs no test).
fn extract(entries: &[CpioEntry], root: &Path) {
    use std::os::unix::fs::{symlink, PermissionsExt};
    for e in entries {
        let p = root.join(&e.name);
        match e.mode & S_IFMT {
            S_IFDIR => {
                fs::create_dir_all(&p).unwrap();
            }
            S_IFREG => {
                fs::write(&p, &e.data).unwrap();
                fs::set_permissions(&p, fs::Permissions::from_mode(e.mode & 0o7777)).unwrap();
            }
            S_IFLNK => symlink(std::str::from_utf8(&e.data).unwrap(), &p).unwrap(),
            _ => {}
        }
    }
}

#[test]
fn base_cache_hit_miss_and_invalidation() {
    let d = tempfile::tempdir().unwrap();
    let cache = d.path().join("cache");
    // A private copy of /bin/sh as init, so the test can touch it.
    let init = d.path().join("agent");
    fs::copy("/bin/sh", &init).unwrap();
    let build = |args: &str| {
        let mut buf = Vec::new();
        let t = Instant::now();
        let r = InitramfsBuilder::new()
            .init(&init)
            .bytes("/etc/args", args, 0o644)
            .cache_dir(&cache)
            .write_to(&mut buf)
            .unwrap();
        (r, buf, t.elapsed())
    };
    let (r1, b1, t1) = build("a");
    assert!(matches!(&r1.cache, CacheUse::Miss(p) if p.starts_with(cache.join("initramfs"))));
    let (r2, b2, t2) = build("a");
    assert!(matches!(r2.cache, CacheUse::Hit(_)));
    assert_eq!(b1, b2);
    eprintln!(
        "base {} B: miss {t1:?}, hit {t2:?} (debug build)",
        r1.base_bytes
    );

    // Other per-run bytes: same base, different suffix.
    let (r3, b3, _) = build("b");
    assert!(matches!(r3.cache, CacheUse::Hit(_)));
    assert_eq!(r3.base_key, r1.base_key);
    assert_eq!(b3[..r1.base_bytes as usize], b1[..r1.base_bytes as usize]);
    assert_ne!(b3, b1);

    // Without a cache the bytes are the same (and reproducible).
    let mut plain = Vec::new();
    InitramfsBuilder::new()
        .init(&init)
        .bytes("/etc/args", "a", 0o644)
        .write_to(&mut plain)
        .unwrap();
    assert_eq!(plain, b1);

    // A rebuilt agent (new mtime) is a new base.
    let f = fs::OpenOptions::new().write(true).open(&init).unwrap();
    f.set_modified(SystemTime::now() + Duration::from_secs(5))
        .unwrap();
    drop(f);
    let (r4, _, _) = build("a");
    assert!(matches!(r4.cache, CacheUse::Miss(_)));
    assert_ne!(r4.base_key, r1.base_key);
}

#[test]
fn build_file_is_written_whole() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("initramfs.cpio");
    let r = sh_builder()
        .cache_dir(d.path().join("c"))
        .build_file(&out)
        .unwrap();
    assert_eq!(fs::metadata(&out).unwrap().len(), r.total_bytes());
    let a = archive(&fs::read(&out).unwrap());
    assert!(a.contains_key("bin/ls") || resolve(&a, "/bin/ls").is_some());
    // No temporary left beside it.
    let names: Vec<_> = fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn input_errors_name_the_culprit() {
    let d = tempfile::tempdir().unwrap();
    assert!(matches!(
        InitramfsBuilder::new().plan(),
        Err(InitramfsError::NoInit)
    ));
    let err = InitramfsBuilder::new()
        .init("/bin/sh")
        .file(d.path(), "/x")
        .plan()
        .unwrap_err();
    assert!(
        matches!(&err, InitramfsError::NotAFile { path } if path == d.path()),
        "{err}"
    );
    let missing = d.path().join("missing");
    let err = InitramfsBuilder::new().init(&missing).plan().unwrap_err();
    assert!(
        matches!(&err, InitramfsError::Io { path, .. } if path == &missing),
        "{err}"
    );
    let err = InitramfsBuilder::new()
        .init("/bin/sh")
        .bytes("relative/path", "x", 0o644)
        .plan()
        .unwrap_err();
    assert!(
        matches!(err, InitramfsError::InvalidGuestPath { .. }),
        "{err}"
    );
    let err = InitramfsBuilder::new()
        .init("/bin/sh")
        .bytes("/init", "x", 0o644)
        .plan()
        .unwrap_err();
    assert!(
        matches!(&err, InitramfsError::Conflict { guest, .. } if guest == "/init"),
        "{err}"
    );
}

#[test]
fn file_changed_after_planning_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    let inc = d.path().join("data");
    fs::write(&inc, "12345").unwrap();
    let plan = InitramfsBuilder::new()
        .init("/bin/sh")
        .file(&inc, "/data")
        .plan()
        .unwrap();
    fs::write(&inc, "123456789").unwrap();
    let err = plan.write_to(Vec::new()).unwrap_err();
    assert!(
        matches!(&err, InitramfsError::Cpio(cpio::CpioError::SizeMismatch { path, .. }) if path == &inc),
        "{err}"
    );
}

#[test]
fn extra_dir_libraries_are_flagged_for_ld_library_path() {
    let d = tempfile::tempdir().unwrap();
    let libs = d.path().join("libs");
    lib(&libs, "libscxtest.so.1", &[], None);
    let exe = d.path().join("exe");
    Synth {
        machine: EM_X86_64,
        needed: &["libscxtest.so.1"],
        ..Default::default()
    }
    .write(&exe);
    let mut buf = Vec::new();
    let report = InitramfsBuilder::new()
        .init("/bin/sh")
        .binary(&exe, "/usr/bin/tool")
        .dir("/var/log", 0o750)
        .symlink("/bin", "usr/bin")
        .char_device("/dev/vport0p1", 0o600, 250, 1)
        .resolver(LibraryResolver::from_host().unwrap().extra_dir(&libs))
        .write_to(&mut buf)
        .unwrap();
    let dep = report
        .dependencies
        .iter()
        .find(|x| x.name == "libscxtest.so.1")
        .unwrap();
    assert_eq!(dep.via, FoundVia::ExtraDir);
    assert!(dep.needs_library_path);
    assert_eq!(report.library_path, [libs.to_str().unwrap()]);
    let a = archive(&buf);
    assert!(resolve(&a, libs.join("libscxtest.so.1").to_str().unwrap()).is_some());
    assert_eq!(a["var/log"].mode, S_IFDIR | 0o750);
    assert_eq!(a["bin"].data, b"usr/bin");
    assert_eq!(a["dev/vport0p1"].rdev_major, 250);
    // The binary sits in the suffix, where /usr/bin/tool is reachable via /bin.
    assert_eq!(resolve(&a, "/bin/tool").unwrap().mode, S_IFREG | 0o755);
}

#[test]
fn a_library_lacking_a_needed_symbol_version_is_named_before_boot() {
    const T: &str = "a_library_lacking_a_needed_symbol_version_is_named_before_boot";
    let d = tempfile::tempdir().unwrap();
    let (old, new) = (d.path().join("old"), d.path().join("new"));
    let built = versioned_lib(&old, &["SCXVER_1.0"])
        .and_then(|()| versioned_lib(&new, &["SCXVER_1.0", "SCXVER_1.5"]));
    if let Err(why) = built {
        require::skip(T, &why);
        return;
    }
    // Built against the new library: needs SCXVER_1.5 (f1), as a scheduler
    // built against libbpf 1.5 needs LIBBPF_1.5.0.
    fs::write(
        d.path().join("main.c"),
        "int f1(void);\nint main(void) { return f1(); }\n",
    )
    .unwrap();
    let newdir = new.to_str().unwrap();
    let args = [
        "-o",
        "sched",
        "main.c",
        &format!("-L{newdir}"),
        "-l:libscxver.so.1",
    ];
    if let Err(why) = cc(d.path(), &args) {
        require::skip(T, &why);
        return;
    }
    let exe = d.path().join("sched");
    let versions = scxray_vmm::initramfs::SymbolVersions::read(&exe).unwrap();
    assert!(versions
        .needed_from("libscxver.so.1")
        .contains(&"SCXVER_1.5".to_string()));

    let plan = |dir: &Path| {
        InitramfsBuilder::new()
            .init("/bin/sh")
            .binary(&exe, "/scxray/bin/sched")
            .resolver(LibraryResolver::from_host().unwrap().extra_dir(dir))
            .plan()
    };
    let err = plan(&old).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(&err, InitramfsError::Elf(ElfError::MissingVersion(gap)) if gap.version == "SCXVER_1.5"),
        "{err:?}"
    );
    for part in [
        "needs version SCXVER_1.5 of libscxver.so.1",
        old.join("libscxver.so.1").to_str().unwrap(),
        "it has: SCXVER_1.0",
        "--lib-dir",
    ] {
        assert!(text.contains(part), "{part:?} missing in: {text}");
    }
    // The newer library, given as --lib-dir would give it, resolves and is
    // flagged for the guest's LD_LIBRARY_PATH.
    let ok = plan(&new).unwrap();
    let dep = ok
        .dependencies()
        .iter()
        .find(|x| x.name == "libscxver.so.1")
        .unwrap();
    assert_eq!(dep.host, new.join("libscxver.so.1"));
    assert_eq!(ok.library_path(), [newdir]);
}
