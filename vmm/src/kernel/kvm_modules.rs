//! `scxray kernel fetch --kvm-modules`: the kernel's own KVM modules
//! (`irqbypass`, `kvm`, `kvm-amd`, `kvm-intel`), so that this very kernel
//! can play a KVM host inside a QEMU guest. That is how the own VMM boots
//! Linux on machines whose /dev/kvm cannot (this project's): QEMU's TCG
//! emulates an AMD CPU with SVM, `kvm-amd` loads on it, and the own VMM
//! runs inside that guest (`vmm/tests/kvm_nested.rs`).
//!
//! Debian ships them in `linux-modules-<release>` (23 MB), pinned here to
//! the version of the cached kernel's own packages. The package is unpacked
//! in the fetch's work directory and only the four `.ko.xz` files are kept,
//! beside the kernel in its cache entry; the kernel loads them compressed.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::apt_session::AptSession;
use super::cache::CachedKernel;
use super::debuginfo::{kernel_version, pick_version};
use super::fetch::{check, FetchError, Progress, Stage};
use crate::cancel::Cancel;
use crate::io_at::io_at;

/// The modules, in the order they load (each needs the ones before it),
/// as (path under `usr/lib/modules/<release>/`, file in the cache entry).
pub const MODULES: [(&str, &str); 4] = [
    ("kernel/virt/lib/irqbypass.ko.xz", "irqbypass.ko.xz"),
    ("kernel/arch/x86/kvm/kvm.ko.xz", "kvm.ko.xz"),
    ("kernel/arch/x86/kvm/kvm-amd.ko.xz", "kvm-amd.ko.xz"),
    ("kernel/arch/x86/kvm/kvm-intel.ko.xz", "kvm-intel.ko.xz"),
];

/// Debian's modules package of a kernel release.
pub fn package_name(release: &str) -> String {
    format!("linux-modules-{release}")
}

/// A cached kernel's KVM modules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvmModules {
    /// `irqbypass` and `kvm`, in load order.
    pub common: Vec<PathBuf>,
    /// `kvm-amd`, for an AMD (or TCG-emulated AMD) host.
    pub amd: PathBuf,
    /// `kvm-intel`.
    pub intel: PathBuf,
}

impl KvmModules {
    /// The modules in the cache entry `dir`, when all four are there.
    pub fn in_entry(dir: &Path) -> Option<KvmModules> {
        let paths: Vec<PathBuf> = MODULES.iter().map(|(_, f)| dir.join(f)).collect();
        paths.iter().all(|p| p.is_file()).then(|| KvmModules {
            common: paths[..2].to_vec(),
            amd: paths[2].clone(),
            intel: paths[3].clone(),
        })
    }
}

/// What fetching the modules did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModulesFetched {
    pub modules: KvmModules,
    /// The package they came from, as `name=version`.
    pub package: String,
    /// Bytes downloaded (the `.deb`).
    pub downloaded_bytes: u64,
}

/// Downloads the modules package of `kernel` through `session` and stores
/// its KVM modules in the kernel's cache entry, replacing any there.
pub(crate) fn fetch_in(
    session: &AptSession,
    kernel: &CachedKernel,
    cancel: &Cancel,
    progress: &mut dyn FnMut(&Progress),
) -> Result<ModulesFetched, FetchError> {
    let package = package_name(&kernel.release);
    progress(&Progress::at(Stage::Resolve, &package));
    let no_package = || FetchError::NoModulesPackage {
        package: package.clone(),
        version: kernel_version(kernel),
        suite: session.suite.clone(),
        uri: session.source.uri.clone(),
    };
    let infos = session
        .show(&[package.as_str()], false, "apt-cache-show-modules", cancel)?
        .filter(|i| !i.is_empty())
        .ok_or_else(no_package)?;
    let info = pick_version(&infos, &package, kernel_version(kernel).as_deref())
        .map_err(|_| no_package())?;
    check(cancel)?;

    let got = session.download(std::slice::from_ref(info), "modules", cancel, progress)?;
    let deb = got.debs.first().ok_or_else(|| FetchError::MissingFile {
        what: "downloaded .deb",
        tree: session.work_dir().join("modules"),
    })?;
    progress(&Progress::at(Stage::Unpack, &got.packages.join(" ")));
    let tree = session.work_dir().join("modules-root");
    std::fs::create_dir_all(&tree).map_err(io_at("create", &tree))?;
    let unpacked = session.run(
        Command::new("dpkg-deb").arg("-x").arg(deb).arg(&tree),
        "dpkg-deb-modules",
        cancel,
    );
    let _ = std::fs::remove_file(deb);
    unpacked.map_err(FetchError::from_command)?;
    let base = tree.join("usr/lib/modules").join(&kernel.release);
    for (member, file) in MODULES {
        let from = base.join(member);
        let bytes = std::fs::read(&from).map_err(|_| FetchError::MissingFile {
            what: "KVM module (usr/lib/modules/<release>/kernel/...)",
            tree: from.clone(),
        })?;
        let mut out = kernel.new_file(file)?;
        std::io::Write::write_all(out.file(), &bytes).map_err(io_at("write", out.path()))?;
        out.commit()?;
    }
    let _ = std::fs::remove_dir_all(&tree);
    let modules = KvmModules::in_entry(&kernel.dir).ok_or_else(|| FetchError::MissingFile {
        what: "KVM modules after storing them",
        tree: kernel.dir.clone(),
    })?;
    Ok(ModulesFetched {
        modules,
        package: got.packages.join(" "),
        downloaded_bytes: got.bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_load_in_dependency_order() {
        let files: Vec<&str> = MODULES.iter().map(|(_, f)| *f).collect();
        assert_eq!(
            files,
            [
                "irqbypass.ko.xz",
                "kvm.ko.xz",
                "kvm-amd.ko.xz",
                "kvm-intel.ko.xz"
            ]
        );
        assert_eq!(
            package_name("7.3.4+deb13-cloud-amd64"),
            "linux-modules-7.3.4+deb13-cloud-amd64"
        );
    }

    #[test]
    fn an_entry_has_modules_only_with_all_four() {
        let dir = tempfile::tempdir().unwrap();
        for (_, f) in &MODULES[..3] {
            std::fs::write(dir.path().join(f), b"x").unwrap();
        }
        assert_eq!(KvmModules::in_entry(dir.path()), None);
        std::fs::write(dir.path().join(MODULES[3].1), b"x").unwrap();
        let m = KvmModules::in_entry(dir.path()).unwrap();
        assert_eq!(m.common[1], dir.path().join("kvm.ko.xz"));
        assert_eq!(m.amd, dir.path().join("kvm-amd.ko.xz"));
    }
}
