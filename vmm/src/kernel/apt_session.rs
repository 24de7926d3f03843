//! One apt session of `scxray kernel fetch`: the private apt setup of
//! [`super::apt`] in a work directory under the cache, `apt-get update` of
//! the one suite, then `apt-cache show` and `apt-get download` against it.
//! The kernel and its debug info are fetched through the same session, so
//! the index is updated once.
//!
//! The work directory (apt state, logs, downloaded `.deb`s) is a drop
//! guard: it is removed on every exit path, Ctrl-C included.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::apt::{self, AptPaths, AptSource, PackageInfo};
use super::cache::KernelCache;
use super::command::{self, CommandError, Output};
use super::fetch::{check, FetchError, FetchOptions, Progress, Stage};
use crate::cancel::Cancel;
use crate::io_at::io_at;

pub(crate) const APT_HINT: &str = "`scxray kernel fetch` needs Debian's apt and dpkg; on another \
     system build a kernel with CONFIG_SCHED_CLASS_EXT=y and pass --kernel PATH";

/// A temporary apt source with an updated package index.
#[derive(Debug)]
pub struct AptSession {
    work: tempfile::TempDir,
    paths: AptPaths,
    logs: PathBuf,
    /// The mirror the source points at.
    pub source: AptSource,
    pub suite: String,
}

/// What [`AptSession::download`] got.
#[derive(Debug, Clone)]
pub struct Downloaded {
    /// The `.deb` files, sorted.
    pub debs: Vec<PathBuf>,
    pub bytes: u64,
    /// As `name=version`.
    pub packages: Vec<String>,
}

impl AptSession {
    /// Writes the private apt setup for `opts.suite` on the machine's mirror
    /// (or `opts.mirror`) and updates its index; reports [`Stage::Source`]
    /// and [`Stage::Index`].
    pub fn open(
        cache: &KernelCache,
        opts: &FetchOptions,
        cancel: &Cancel,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<Self, FetchError> {
        progress(&Progress::at(Stage::Source, ""));
        let work = cache.work_dir()?;
        let source = match &opts.mirror {
            Some(uri) => AptSource {
                uri: uri.clone(),
                signed_by: None,
                origin: PathBuf::new(),
            },
            None => apt::find_debian_source(&opts.etc_apt)?,
        };
        let paths = AptPaths::under(&work.path().join("apt"));
        let logs = work.path().join("logs");
        std::fs::create_dir_all(&logs).map_err(io_at("create", &logs))?;
        paths.create_dirs().map_err(io_at("create", &paths.lists))?;
        let conf = paths.conf_text()?;
        std::fs::write(&paths.conf, conf).map_err(io_at("write", &paths.conf))?;
        let source_text = apt::temporary_source(&source, &opts.suite);
        std::fs::write(&paths.source, source_text).map_err(io_at("write", &paths.source))?;
        let session = Self {
            work,
            paths,
            logs,
            source,
            suite: opts.suite.clone(),
        };
        check(cancel)?;

        progress(&Progress::at(
            Stage::Index,
            &format!("{} {}", session.source.uri, session.suite),
        ));
        let no_index = |log: String| FetchError::NoIndex {
            suite: session.suite.clone(),
            uri: session.source.uri.clone(),
            log,
        };
        let update = match session.run(
            session.apt("apt-get").args(["-q", "update"]),
            "apt-get-update",
            cancel,
        ) {
            Ok(out) => out,
            Err(CommandError::Failed { output, .. }) => return Err(no_index(output)),
            Err(e) => return Err(FetchError::from_command(e)),
        };
        if !session.paths.has_package_index() {
            return Err(no_index(command::tail(
                &format!("{}{}", update.stdout, update.stderr),
                1500,
            )));
        }
        check(cancel)?;
        Ok(session)
    }

    /// The work directory (removed when the session is dropped).
    pub fn work_dir(&self) -> &Path {
        self.work.path()
    }

    /// Where the tools' output goes.
    pub fn logs(&self) -> &Path {
        &self.logs
    }

    /// An apt tool (`apt-get`, `apt-cache`) on the private configuration.
    pub fn apt(&self, tool: &str) -> Command {
        let mut c = Command::new(tool);
        c.arg("-c").arg(&self.paths.conf).env("LC_ALL", "C");
        c
    }

    /// Runs a tool with its output in the session's logs.
    pub fn run(
        &self,
        cmd: &mut Command,
        label: &str,
        cancel: &Cancel,
    ) -> Result<Output, CommandError> {
        command::run(cmd, &self.logs, label, APT_HINT, cancel, &mut || {})
    }

    /// `apt-cache show` of `names`: `Ok(None)` when apt knows no version of
    /// one of them. Every version unless `newest_only`.
    pub fn show(
        &self,
        names: &[&str],
        newest_only: bool,
        label: &str,
        cancel: &Cancel,
    ) -> Result<Option<Vec<PackageInfo>>, FetchError> {
        let mut cmd = self.apt("apt-cache");
        cmd.arg("show");
        if newest_only {
            cmd.arg("--no-all-versions");
        }
        match self.run(cmd.args(names), label, cancel) {
            Ok(out) => Ok(Some(apt::parse_show(&out.stdout))),
            Err(CommandError::Failed { .. }) => Ok(None),
            Err(e) => Err(FetchError::from_command(e)),
        }
    }

    /// `apt-get download` of exactly these package versions into a fresh
    /// directory `name` of the work directory, reporting [`Stage::Download`]
    /// as bytes arrive of the total of their sizes.
    pub fn download(
        &self,
        infos: &[PackageInfo],
        name: &str,
        cancel: &Cancel,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<Downloaded, FetchError> {
        let dir = self.work.path().join(name);
        std::fs::create_dir_all(&dir).map_err(io_at("create", &dir))?;
        let total: u64 = infos.iter().filter_map(|i| i.size).sum();
        let packages: Vec<String> = infos
            .iter()
            .map(|i| format!("{}={}", i.name, i.version))
            .collect();
        let detail = packages.join(" ");
        let mut report = |done| {
            progress(&Progress {
                stage: Stage::Download,
                done,
                total: Some(total),
                detail: detail.clone(),
            })
        };
        report(0);
        command::run(
            self.apt("apt-get")
                .args(["-q", "download"])
                .args(&packages)
                .current_dir(&dir),
            &self.logs,
            &format!("apt-get-download-{name}"),
            APT_HINT,
            cancel,
            &mut || report(dir_bytes(&dir)),
        )
        .map_err(FetchError::from_command)?;
        let bytes = dir_bytes(&dir);
        report(bytes);
        check(cancel)?;
        let mut debs: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(io_at("read", &dir))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "deb"))
            .collect();
        debs.sort();
        Ok(Downloaded {
            debs,
            bytes,
            packages,
        })
    }
}

/// Total size of the files in `dir` (one level).
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}
