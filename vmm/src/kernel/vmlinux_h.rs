//! `scxray kernel vmlinux-h`: the `vmlinux.h` a scheduler's BPF code is
//! built against, written from a cached kernel's BTF by bpftool (the header
//! must match the test kernel, not the host's).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::CachedKernel;

#[derive(Debug, thiserror::Error)]
pub enum VmlinuxHError {
    #[error(
        "bpftool not found (searched PATH, /usr/sbin, /sbin, /usr/local/sbin): install it \
         (Debian and Ubuntu: `apt install bpftool`; Fedora: `dnf install bpftool`)"
    )]
    NoBpftool,
    #[error(
        "cached kernel {release} has no BTF file: run `scxray kernel fetch --force` \
         (a kernel without CONFIG_DEBUG_INFO_BTF cannot give a vmlinux.h)"
    )]
    NoBtf { release: String },
    #[error("`{command}` failed ({status}): {stderr}")]
    Bpftool {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("cannot run {}: {source}", path.display())]
    Spawn {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// bpftool on PATH, else where distributions put it for root.
pub fn bpftool() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|d| d.join("bpftool"))
        .find(|p| p.is_file())
}

/// The header's text for `kernel`, led by a comment naming its kernel and
/// how to compile it.
pub fn generate(kernel: &CachedKernel) -> Result<Vec<u8>, VmlinuxHError> {
    let btf = kernel.btf.as_ref().ok_or_else(|| VmlinuxHError::NoBtf {
        release: kernel.release.clone(),
    })?;
    let tool = bpftool().ok_or(VmlinuxHError::NoBpftool)?;
    let out = Command::new(&tool)
        .args(["btf", "dump", "file"])
        .arg(btf)
        .args(["format", "c"])
        .output()
        .map_err(|source| VmlinuxHError::Spawn {
            path: tool.clone(),
            source,
        })?;
    if !out.status.success() || out.stdout.is_empty() {
        return Err(VmlinuxHError::Bpftool {
            command: format!(
                "{} btf dump file {} format c",
                tool.display(),
                btf.display()
            ),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let mut text = format!(
        "/* vmlinux.h of Linux {} (scxray's cached kernel), from its BTF by bpftool.\n \
         * clang needs -fms-extensions -Wno-microsoft-anon-tag for it: the kernel is\n \
         * built with -fms-extensions and its BTF keeps the anonymous tagged members. */\n",
        kernel.release
    )
    .into_bytes();
    text.extend_from_slice(&out.stdout);
    Ok(text)
}

/// Writes `data` to `path` whole or not at all (a temporary file renamed).
pub fn write_file(path: &Path, data: &[u8]) -> Result<(), VmlinuxHError> {
    let err = |source| VmlinuxHError::Write {
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".vmlinux.h.")
        .tempfile_in(dir)
        .map_err(err)?;
    tmp.write_all(data).map_err(err)?;
    // A header, not a secret: readable like any file the user writes.
    use std::os::unix::fs::PermissionsExt;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(0o644))
        .map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

/// The cached kernel `version` names: a release, or the newest whose
/// release starts with it (`7.3`); the newest sched_ext kernel for `None`.
pub fn pick(kernels: &[CachedKernel], version: Option<&str>) -> Option<CachedKernel> {
    match version {
        None => kernels.iter().find(|k| k.features.sched_ext).cloned(),
        Some(v) => kernels
            .iter()
            .find(|k| k.release == v)
            .or_else(|| kernels.iter().find(|k| k.release.starts_with(v)))
            .cloned(),
    }
}
