//! `scxray kernel fetch --debug-info`: the kernel's vmlinux with DWARF, for
//! source file:line of kernel functions (BTF has none). Debian ships it in
//! `linux-image-<release>-dbg`: a 350 MB `.deb` that unpacks to 2 GB of
//! module debug files, of which only the vmlinux (400 MB) is kept.
//!
//! The package comes through the fetch's apt session, pinned to the version
//! of the cached kernel's own packages. Its data tarball is streamed out of
//! `dpkg-deb --fsys-tarfile` and only the vmlinux member is written
//! ([`super::tar`]), straight into a hidden temporary file of the cache entry
//! that is renamed to `vmlinux.debug` once it proved to have `.debug_info`
//! and the cached vmlinux's build ID. The `.deb` is deleted at once.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::apt::{PackageInfo, BINARY_PREFIX};
use super::apt_session::{AptSession, APT_HINT};
use super::cache::{CachedKernel, DEBUG_VMLINUX_FILE};
use super::command;
use super::extract::elf_debug;
use super::fetch::{check, FetchError, Progress, Stage};
use super::tar::{self, TarError};
use super::version::compare_debian_versions;
use crate::cancel::Cancel;
use crate::io_at::io_at;

/// What fetching the debug info did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebugFetched {
    /// The stored `vmlinux.debug`.
    pub path: PathBuf,
    /// The package it came from, as `name=version`.
    pub package: String,
    /// Bytes downloaded (the `.deb`).
    pub downloaded_bytes: u64,
    /// Size of `vmlinux.debug`.
    pub bytes: u64,
}

/// Debian's debug package of a kernel release.
pub fn package_name(release: &str) -> String {
    format!("linux-image-{release}-dbg")
}

/// Where the package may hold the vmlinux: Debian's 7.x packages have the
/// file under `lib/modules` and symlinks at the other two places; older ones
/// had the file at `boot/vmlinux-<release>`.
pub fn members(release: &str) -> Vec<String> {
    vec![
        format!("usr/lib/debug/lib/modules/{release}/vmlinux"),
        format!("usr/lib/debug/boot/vmlinux-{release}"),
        format!("usr/lib/debug/vmlinux-{release}"),
    ]
}

/// The version of the cached kernel's own binary package (from
/// `meta.json`): its debug package of the same build has the same version.
pub(crate) fn kernel_version(kernel: &CachedKernel) -> Option<String> {
    let prefix = format!("{BINARY_PREFIX}{}=", kernel.release);
    kernel
        .meta
        .as_ref()?
        .packages
        .iter()
        .find_map(|p| p.strip_prefix(&prefix).map(str::to_string))
}

/// The record of `wanted` among `infos` (every version apt knows of
/// `package`), else with no `wanted` the newest; `Err` lists what there is.
pub(crate) fn pick_version<'a>(
    infos: &'a [PackageInfo],
    package: &str,
    wanted: Option<&str>,
) -> Result<&'a PackageInfo, Vec<String>> {
    let of_package = infos.iter().filter(|i| i.name == package);
    let found = match wanted {
        Some(v) => of_package.clone().find(|i| i.version == v),
        None => of_package
            .clone()
            .max_by(|a, b| compare_debian_versions(&a.version, &b.version)),
    };
    found.ok_or_else(|| of_package.map(|i| i.version.clone()).collect())
}

/// Downloads the debug package of `kernel` through `session` and stores its
/// vmlinux as the entry's `vmlinux.debug`, replacing one already there.
pub(crate) fn fetch_in(
    session: &AptSession,
    kernel: &CachedKernel,
    cancel: &Cancel,
    progress: &mut dyn FnMut(&Progress),
) -> Result<DebugFetched, FetchError> {
    let package = package_name(&kernel.release);
    progress(&Progress::at(Stage::Resolve, &package));
    let infos = session
        .show(&[package.as_str()], false, "apt-cache-show-dbg", cancel)?
        .filter(|i| !i.is_empty())
        .ok_or_else(|| FetchError::NoDebugPackage {
            package: package.clone(),
            suite: session.suite.clone(),
            uri: session.source.uri.clone(),
        })?;
    let wanted = kernel_version(kernel);
    let info =
        pick_version(&infos, &package, wanted.as_deref()).map_err(|available| {
            match wanted.clone() {
                Some(version) => FetchError::NoDebugVersion {
                    package: package.clone(),
                    version,
                    available,
                    suite: session.suite.clone(),
                    uri: session.source.uri.clone(),
                },
                None => FetchError::NoDebugPackage {
                    package: package.clone(),
                    suite: session.suite.clone(),
                    uri: session.source.uri.clone(),
                },
            }
        })?;
    check(cancel)?;

    let got = session.download(std::slice::from_ref(info), "debug", cancel, progress)?;
    let deb = got.debs.first().ok_or_else(|| FetchError::MissingFile {
        what: "downloaded .deb",
        tree: session.work_dir().join("debug"),
    })?;
    let stored = store_from_deb(
        kernel,
        deb,
        info.installed_size,
        session.logs(),
        cancel,
        progress,
    );
    // 350 MB: gone now, not only when the work directory goes.
    let _ = std::fs::remove_file(deb);
    let path = stored?;
    let bytes = std::fs::metadata(&path)
        .map_err(io_at("read", &path))?
        .len();
    Ok(DebugFetched {
        path,
        package: got.packages.join(" "),
        downloaded_bytes: got.bytes,
        bytes,
    })
}

/// Copies the vmlinux of `kernel`'s release out of the `-dbg` package `deb`
/// into `kernel`'s entry as `vmlinux.debug`, streaming: `dpkg-deb
/// --fsys-tarfile` decompresses, [`tar::copy_member`] keeps the one member.
/// `stream_total` (the installed size) is the progress total. Nothing is
/// left in the entry unless it succeeds.
pub fn store_from_deb(
    kernel: &CachedKernel,
    deb: &Path,
    stream_total: Option<u64>,
    logs: &Path,
    cancel: &Cancel,
    progress: &mut dyn FnMut(&Progress),
) -> Result<PathBuf, FetchError> {
    let wanted = members(&kernel.release);
    let mut file = kernel.new_file(DEBUG_VMLINUX_FILE)?;
    let temp = file.path().to_path_buf();
    let report = |progress: &mut dyn FnMut(&Progress), done, detail: &str| {
        progress(&Progress {
            stage: Stage::Extract,
            // The installed size is an estimate of the stream's.
            done: stream_total.map_or(done, |t| done.min(t)),
            total: stream_total,
            detail: detail.to_string(),
        })
    };
    report(progress, 0, &deb.display().to_string());
    let mut tool = command::spawn_piped(
        Command::new("dpkg-deb").arg("--fsys-tarfile").arg(deb),
        logs,
        "dpkg-deb-fsys-tarfile",
        APT_HINT,
    )
    .map_err(FetchError::from_command)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file.file());
    let copied = tar::copy_member(
        tool.stdout(),
        deb,
        &wanted,
        &mut out,
        &temp,
        cancel,
        &mut |n| report(progress, n, ""),
    )
    .and_then(|c| {
        out.flush().map_err(|source| TarError::Write {
            path: temp.clone(),
            source,
        })?;
        Ok(c)
    });
    drop(out);
    // A terminal's Ctrl-C kills dpkg-deb too: the stream's end means nothing then.
    check(cancel)?;
    let copied = match copied {
        // The rest of the stream is not needed: dropping `tool` kills dpkg-deb.
        Ok(Some(c)) => c,
        Ok(None) => {
            tool.finish(cancel).map_err(FetchError::from_command)?;
            return Err(FetchError::NoDebugVmlinux {
                deb: deb.to_path_buf(),
                members: wanted,
            });
        }
        // An early end is most likely dpkg-deb failing; its message says more.
        Err(e @ (TarError::Truncated { .. } | TarError::Read { .. })) => {
            tool.finish(cancel).map_err(FetchError::from_command)?;
            return Err(FetchError::from_tar(e));
        }
        Err(e) => return Err(FetchError::from_tar(e)),
    };
    drop(tool);

    let elf = elf_debug(&temp).map_err(FetchError::from_extract)?;
    if !elf.debug_info {
        return Err(FetchError::NoDwarf {
            deb: deb.to_path_buf(),
            member: copied.member,
        });
    }
    // Debug info of another build would give wrong lines without a word.
    let kernel_id = kernel
        .vmlinux
        .as_deref()
        .and_then(|v| elf_debug(v).ok())
        .and_then(|e| e.build_id);
    if let (Some(kernel_id), Some(debug_id)) = (kernel_id, elf.build_id) {
        if kernel_id != debug_id {
            return Err(FetchError::BuildIdMismatch {
                deb: deb.to_path_buf(),
                vmlinux: kernel.vmlinux.clone().unwrap_or_default(),
                debug_id: hex(&debug_id),
                kernel_id: hex(&kernel_id),
            });
        }
    }
    let target = kernel.dir.join(DEBUG_VMLINUX_FILE);
    progress(&Progress::at(Stage::Store, &target.display().to_string()));
    Ok(file.commit()?)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::cache::{file_names as names, test_put, KernelCache, VMLINUX_FILE};
    use crate::kernel::extract::testdata::{build_id_note, tiny_debug_elf, tiny_elf};

    const REL: &str = "7.3.4+deb13-cloud-amd64";
    const SCX: &str = "CONFIG_SCHED_CLASS_EXT=y\nCONFIG_DEBUG_INFO_BTF=y\n";

    #[test]
    fn names_for_a_release() {
        assert_eq!(package_name(REL), "linux-image-7.3.4+deb13-cloud-amd64-dbg");
        assert_eq!(
            members(REL)[..2],
            [
                "usr/lib/debug/lib/modules/7.3.4+deb13-cloud-amd64/vmlinux",
                "usr/lib/debug/boot/vmlinux-7.3.4+deb13-cloud-amd64",
            ]
        );
    }

    #[test]
    fn picks_the_kernel_build_or_the_newest() {
        let info = |name: &str, version: &str| PackageInfo {
            name: name.into(),
            version: version.into(),
            size: Some(1),
            installed_size: None,
        };
        let p = package_name(REL);
        let infos = [
            info(&p, "7.3.4-1~bpo13+1"),
            info(&p, "7.3.4-2~bpo13+1"),
            info("other", "9"),
        ];
        let got = pick_version(&infos, &p, Some("7.3.4-1~bpo13+1")).unwrap();
        assert_eq!(got.version, "7.3.4-1~bpo13+1");
        let got = pick_version(&infos, &p, None).unwrap();
        assert_eq!(got.version, "7.3.4-2~bpo13+1");
        let err = pick_version(&infos, &p, Some("7.3.4-3")).unwrap_err();
        assert_eq!(err, ["7.3.4-1~bpo13+1", "7.3.4-2~bpo13+1"]);

        let tmp = tempfile::tempdir().unwrap();
        let cache = KernelCache::new(tmp.path());
        let mut k = test_put(&cache, REL, SCX);
        assert_eq!(kernel_version(&k), None);
        k.meta.as_mut().unwrap().packages = vec![
            format!("linux-base-{REL}=1"),
            format!("linux-binary-{REL}=7.3.4-1~bpo13+1"),
        ];
        assert_eq!(kernel_version(&k).as_deref(), Some("7.3.4-1~bpo13+1"));
    }

    fn on_path(program: &str) -> bool {
        std::env::var_os("PATH").is_some_and(|paths| {
            std::env::split_paths(&paths).any(|dir| dir.join(program).is_file())
        })
    }

    /// A `-dbg` package as Debian 7.x lays it out: the file under
    /// `lib/modules`, a symlink in `boot`, plus a module's debug file.
    fn fake_deb(dir: &Path, vmlinux: &[u8], release: &str) -> PathBuf {
        let root = dir.join("pkg");
        let modules = root.join(format!("usr/lib/debug/lib/modules/{release}"));
        std::fs::create_dir_all(modules.join("kernel")).unwrap();
        std::fs::create_dir_all(root.join("usr/lib/debug/boot")).unwrap();
        std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
        std::fs::write(modules.join("kernel/a.ko"), vec![7u8; 100_000]).unwrap();
        std::fs::write(modules.join("vmlinux"), vmlinux).unwrap();
        std::os::unix::fs::symlink(
            format!("../lib/modules/{release}/vmlinux"),
            root.join(format!("usr/lib/debug/boot/vmlinux-{release}")),
        )
        .unwrap();
        std::fs::write(
            root.join("DEBIAN/control"),
            format!(
                "Package: linux-image-{release}-dbg\nVersion: 1\nArchitecture: amd64\n\
                 Maintainer: t <t@t>\nDescription: test\n"
            ),
        )
        .unwrap();
        let deb = dir.join("x.deb");
        let out = Command::new("dpkg-deb")
            .args(["--root-owner-group", "-Zgzip", "--build"])
            .arg(&root)
            .arg(&deb)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        deb
    }

    /// A cache entry whose vmlinux has `build_id`.
    fn entry(cache: &KernelCache, build_id: &[u8]) -> CachedKernel {
        let k = test_put(cache, REL, SCX);
        let vmlinux = tiny_elf(&[(".notes", 7, &build_id_note(build_id))]);
        std::fs::write(k.dir.join(VMLINUX_FILE), vmlinux).unwrap();
        cache.get(REL).unwrap().unwrap()
    }

    #[test]
    fn extracts_the_vmlinux_from_a_deb_into_the_entry() {
        if !on_path("dpkg-deb") {
            return eprintln!("skipped: extracts_the_vmlinux_from_a_deb: no dpkg-deb");
        }
        let tmp = tempfile::tempdir().unwrap();
        let cache = KernelCache::new(tmp.path().join("cache"));
        let k = entry(&cache, b"\xab\xcd");
        let before = names(&k.dir);
        let debug = tiny_debug_elf(b"\xab\xcd");
        let deb = fake_deb(tmp.path(), &debug, REL);
        let mut stages = Vec::new();
        let path = store_from_deb(
            &k,
            &deb,
            Some(200_000),
            tmp.path(),
            &Cancel::new(),
            &mut |p| stages.push(p.stage),
        )
        .unwrap();
        assert_eq!(path, k.dir.join(DEBUG_VMLINUX_FILE));
        assert_eq!(std::fs::read(&path).unwrap(), debug);
        assert_eq!(stages.first(), Some(&Stage::Extract));
        assert_eq!(stages.last(), Some(&Stage::Store));
        let mut want = before.clone();
        want.push(DEBUG_VMLINUX_FILE.into());
        want.sort();
        assert_eq!(names(&k.dir), want);
        let k = cache.get(REL).unwrap().unwrap();
        assert_eq!(k.debug_vmlinux, Some(path));

        // A package that is another build, has no DWARF, or lacks the file:
        // refused, and the entry keeps what it had.
        let cases: [(Vec<u8>, &str); 3] = [
            (tiny_debug_elf(b"\xff"), "build ID ff"),
            (
                tiny_elf(&[(".notes", 7, &build_id_note(b"\xab\xcd"))]),
                "no .debug_info",
            ),
            (debug.clone(), "holds none of"),
        ];
        let good = std::fs::read(k.dir.join(DEBUG_VMLINUX_FILE)).unwrap();
        for (i, (vmlinux, msg)) in cases.iter().enumerate() {
            let dir = tmp.path().join(format!("case{i}"));
            std::fs::create_dir_all(&dir).unwrap();
            let release = if i == 2 { "9.9.9-other" } else { REL };
            let deb = fake_deb(&dir, vmlinux, release);
            let err = store_from_deb(&k, &deb, None, &dir, &Cancel::new(), &mut |_| {})
                .unwrap_err()
                .to_string();
            assert!(err.contains(msg), "{err}");
            assert_eq!(names(&k.dir), want, "{err}");
            assert_eq!(std::fs::read(k.dir.join(DEBUG_VMLINUX_FILE)).unwrap(), good);
        }
    }

    #[test]
    fn a_broken_deb_or_ctrl_c_leaves_nothing() {
        if !on_path("dpkg-deb") {
            return eprintln!("skipped: a_broken_deb_or_ctrl_c_leaves_nothing: no dpkg-deb");
        }
        let tmp = tempfile::tempdir().unwrap();
        let cache = KernelCache::new(tmp.path().join("cache"));
        let k = entry(&cache, b"\x01");
        let before = names(&k.dir);

        let junk = tmp.path().join("junk.deb");
        std::fs::write(&junk, b"not a deb").unwrap();
        let err =
            store_from_deb(&k, &junk, None, tmp.path(), &Cancel::new(), &mut |_| {}).unwrap_err();
        assert!(matches!(err, FetchError::Command(_)), "{err}");
        assert!(err.to_string().contains("dpkg-deb"), "{err}");
        assert_eq!(names(&k.dir), before);

        let deb = fake_deb(tmp.path(), &tiny_debug_elf(b"\x01"), REL);
        let cancel = Cancel::new();
        cancel.cancel();
        let err = store_from_deb(&k, &deb, None, tmp.path(), &cancel, &mut |_| {}).unwrap_err();
        assert!(matches!(err, FetchError::Cancelled), "{err}");
        assert_eq!(names(&k.dir), before);
    }
}
