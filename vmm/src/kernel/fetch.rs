//! `scxray kernel fetch`: Debian trixie-backports' cloud kernel into the cache.
//!
//! 1. an apt session ([`super::apt_session`]): a private apt setup in a work
//!    directory under the cache, from the machine's own Debian mirror, and
//!    `apt-get update` of that one suite;
//! 2. the newest `linux-binary-<abi>-cloud-amd64` by `apt-cache pkgnames`;
//! 3. `apt-get download` of `linux-binary-*` (vmlinuz) and `linux-base-*`
//!    (config), `dpkg-deb -x` of both;
//! 4. the config must have `CONFIG_SCHED_CLASS_EXT=y`; vmlinux is
//!    decompressed from vmlinuz and its `.BTF` section cut out;
//! 5. everything lands in the cache through a staging directory;
//! 6. with `--debug-info`, in the same session, `vmlinux.debug` out of
//!    `linux-image-<release>-dbg` ([`super::debuginfo`]).
//!
//! Nothing is installed and nothing outside the cache is written. The work
//! directory is removed on every exit path (it is a drop guard), and apt and
//! dpkg are killed when the [`Cancel`] flag is set (Ctrl-C).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::apt::{self, AptError};
use super::apt_session::AptSession;
use super::cache::{
    CacheError, CachedKernel, KernelCache, KernelMeta, BTF_FILE, CONFIG_FILE, IMAGE_FILE,
    META_FILE, VMLINUX_FILE,
};
use super::command::CommandError;
use super::config::{ConfigError, KernelConfig};
use super::debuginfo::{self, DebugFetched};
use super::extract::{self, ExtractError};
use super::image::{probe_image, ImageKind};
use super::integrity::Manifest;
use super::kvm_modules::{self, KvmModules, ModulesFetched};
use super::tar::TarError;
use crate::cancel::Cancel;
use crate::io_at::{io_at, IoAt};

/// Overrides the Debian mirror read from the apt configuration.
pub const MIRROR_ENV: &str = "SCXRAY_DEBIAN_MIRROR";

/// What to fetch, and from where.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// A version to fetch instead of the newest: an ABI (`7.3.4+deb13`), a
    /// release (`7.3.4+deb13-cloud-amd64`) or a prefix (`7.3`).
    pub version: Option<String>,
    /// Fetch again even when cached: the kernel, or with `debug_info` only
    /// its debug info (a kernel already cached is kept, and so is the old
    /// debug info until the new one is complete).
    pub force: bool,
    /// Also fetch the kernel's vmlinux with DWARF (`vmlinux.debug`).
    pub debug_info: bool,
    /// Also fetch the kernel's KVM modules ([`super::kvm_modules`]).
    pub kvm_modules: bool,
    /// The apt configuration directory the mirror is read from.
    pub etc_apt: PathBuf,
    /// A mirror URI to use instead of the one in the apt configuration.
    pub mirror: Option<String>,
    pub suite: String,
    pub flavour: String,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            version: None,
            force: false,
            debug_info: false,
            kvm_modules: false,
            etc_apt: PathBuf::from("/etc/apt"),
            mirror: std::env::var(MIRROR_ENV).ok().filter(|m| !m.is_empty()),
            suite: apt::BACKPORTS_SUITE.into(),
            flavour: apt::CLOUD_FLAVOUR.into(),
        }
    }
}

/// The steps of a fetch, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// Reading the apt configuration, writing the private one.
    Source,
    /// `apt-get update` of the one suite.
    Index,
    /// Picking the package.
    Resolve,
    /// `apt-get download`; bytes downloaded of the packages' size.
    Download,
    /// `dpkg-deb -x`.
    Unpack,
    /// Checking the config for sched_ext.
    Check,
    /// vmlinux out of vmlinuz; compressed bytes consumed of those in the image.
    Decompress,
    /// The `.BTF` section out of vmlinux.
    Btf,
    /// The debug vmlinux out of the `-dbg` package; bytes of its data tarball
    /// read of the package's installed size.
    Extract,
    /// Writing the cache entry.
    Store,
    /// Finished; `detail` is the cache path.
    Done,
}

impl Stage {
    /// A few words for a progress line.
    pub fn describe(self) -> &'static str {
        match self {
            Stage::Source => "preparing a temporary apt source",
            Stage::Index => "updating the package index",
            Stage::Resolve => "picking the kernel package",
            Stage::Download => "downloading",
            Stage::Unpack => "unpacking",
            Stage::Check => "checking the kernel config",
            Stage::Decompress => "decompressing vmlinux",
            Stage::Btf => "extracting BTF",
            Stage::Extract => "extracting the debug vmlinux",
            Stage::Store => "storing in the cache",
            Stage::Done => "done",
        }
    }
}

/// One progress report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub stage: Stage,
    /// Bytes done in this stage (0 where the stage has no byte count).
    pub done: u64,
    /// Bytes expected, when known.
    pub total: Option<u64>,
    /// What the stage works on (package names, a path).
    pub detail: String,
}

impl Progress {
    /// A report without a byte count.
    pub fn at(stage: Stage, detail: &str) -> Self {
        Self {
            stage,
            done: 0,
            total: None,
            detail: detail.to_string(),
        }
    }
}

/// What a fetch did.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub kernel: CachedKernel,
    /// True when the release was already cached and no kernel was downloaded.
    pub already_cached: bool,
    /// Packages downloaded, as `name=version`.
    pub packages: Vec<String>,
    /// Bytes downloaded.
    pub downloaded_bytes: u64,
    /// The debug info, when this fetch got it (`kernel.debug_vmlinux` also
    /// names one that was cached before).
    pub debug: Option<DebugFetched>,
    /// The KVM modules, when this fetch got them.
    pub kvm_modules: Option<ModulesFetched>,
}

impl Fetched {
    fn cached(kernel: CachedKernel) -> Self {
        Self {
            kernel,
            already_cached: true,
            packages: Vec::new(),
            downloaded_bytes: 0,
            debug: None,
            kvm_modules: None,
        }
    }
}

/// Errors of a fetch.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Apt(#[from] AptError),
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error(
        "apt-get update got no package index for {suite} from {uri} (offline, or the mirror \
         lacks {suite}?):\n{log}"
    )]
    NoIndex {
        suite: String,
        uri: String,
        log: String,
    },
    #[error(
        "no linux-binary-*-{flavour} package{} in {suite} at {uri}",
        .wanted.as_ref().map(|w| format!(" matching `{w}`")).unwrap_or_default()
    )]
    NoPackage {
        suite: String,
        flavour: String,
        uri: String,
        wanted: Option<String>,
    },
    #[error("the unpacked packages in {tree} hold no {what}")]
    MissingFile { what: &'static str, tree: PathBuf },
    #[error(
        "no package {package} (the kernel's debug info) in {suite} at {uri}; Debian drops old \
         kernels: `scxray kernel fetch --debug-info` without --version gets the newest kernel \
         with its debug info"
    )]
    NoDebugPackage {
        package: String,
        suite: String,
        uri: String,
    },
    #[error(
        "{package} {version} (the build of the cached kernel) is not in {suite} at {uri} \
         (it has {}); `scxray kernel fetch --force` replaces the kernel with the archive's \
         build, then `scxray kernel fetch --debug-info` gets its debug info",
        .available.join(", ")
    )]
    NoDebugVersion {
        package: String,
        version: String,
        available: Vec<String>,
        suite: String,
        uri: String,
    },
    #[error(
        "no package {package}{} (the kernel's KVM modules) in {suite} at {uri}; Debian drops \
         old kernels: `scxray kernel fetch --force` replaces the kernel with the archive's \
         build, then `scxray kernel fetch --kvm-modules` gets its modules",
        .version.as_deref().map(|v| format!(" {v}")).unwrap_or_default()
    )]
    NoModulesPackage {
        package: String,
        version: Option<String>,
        suite: String,
        uri: String,
    },
    #[error("{deb} holds none of {}", .members.join(", "))]
    NoDebugVmlinux { deb: PathBuf, members: Vec<String> },
    #[error("{member} in {deb} has no .debug_info section (no DWARF)")]
    NoDwarf { deb: PathBuf, member: String },
    #[error(
        "the vmlinux in {deb} has build ID {debug_id} but the cached {vmlinux} has {kernel_id}: \
         not the same build; nothing was stored"
    )]
    BuildIdMismatch {
        deb: PathBuf,
        vmlinux: PathBuf,
        debug_id: String,
        kernel_id: String,
    },
    #[error(transparent)]
    Tar(TarError),
    #[error(transparent)]
    Io(#[from] IoAt),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Extract(#[from] ExtractError),
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error("kernel fetch cancelled (Ctrl-C); nothing was left behind")]
    Cancelled,
}

impl FetchError {
    /// True for failures that mean the mirror could not be reached.
    pub fn is_network(&self) -> bool {
        matches!(self, FetchError::NoIndex { .. })
            || matches!(self, FetchError::Command(CommandError::Failed { command, .. })
                if command.contains(" update") || command.contains(" download"))
    }

    pub(crate) fn from_command(e: CommandError) -> Self {
        match e {
            CommandError::Cancelled { .. } => FetchError::Cancelled,
            other => FetchError::Command(other),
        }
    }

    pub(crate) fn from_extract(e: ExtractError) -> Self {
        match e {
            ExtractError::Cancelled => FetchError::Cancelled,
            other => FetchError::Extract(other),
        }
    }

    pub(crate) fn from_tar(e: TarError) -> Self {
        match e {
            TarError::Cancelled => FetchError::Cancelled,
            other => FetchError::Tar(other),
        }
    }
}

/// `Cancelled` once Ctrl-C was pressed.
pub(crate) fn check(cancel: &Cancel) -> Result<(), FetchError> {
    cancel.check().map_err(|_| FetchError::Cancelled)
}

/// `progress` as a function of the fields of one [`Progress`].
fn reporter<'a>(
    progress: &'a mut dyn FnMut(&Progress),
) -> impl FnMut(Stage, u64, Option<u64>, &str) + 'a {
    move |stage, done, total, detail| {
        progress(&Progress {
            stage,
            done,
            total,
            detail: detail.to_string(),
        })
    }
}

/// Fetches the newest (or `opts.version`) cloud kernel into `cache`, and
/// with `opts.debug_info` its `vmlinux.debug` too. Kernel and debug info
/// share one apt session.
pub fn fetch(
    cache: &KernelCache,
    opts: &FetchOptions,
    cancel: &Cancel,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Fetched, FetchError> {
    // An exact release already cached needs no kernel download, and no
    // network at all unless its debug info or KVM modules are wanted and
    // missing.
    // With --debug-info or --kvm-modules, --force is for those only.
    let force_kernel = opts.force && !opts.debug_info && !opts.kvm_modules;
    let cached = match (&opts.version, force_kernel) {
        (Some(wanted), false) => {
            let release = if wanted.ends_with(&format!("-{}", opts.flavour)) {
                wanted.clone()
            } else {
                format!("{wanted}-{}", opts.flavour)
            };
            // A damaged entry is fetched again.
            cache
                .get(&release)
                .ok()
                .flatten()
                .and_then(|mut k| k.verify().is_ok().then_some(k))
        }
        _ => None,
    };
    let done = |fetched: &Fetched, progress: &mut dyn FnMut(&Progress)| {
        let path = match (&fetched.kernel.debug_vmlinux, opts.debug_info) {
            (Some(debug), true) => debug,
            _ => &fetched.kernel.dir,
        };
        progress(&Progress::at(Stage::Done, &path.display().to_string()));
    };
    let wants_modules = |k: &CachedKernel| {
        opts.kvm_modules && (opts.force || KvmModules::in_entry(&k.dir).is_none())
    };
    if let Some(kernel) = &cached {
        let debug_done = !opts.debug_info || (kernel.debug_vmlinux.is_some() && !opts.force);
        if debug_done && !wants_modules(kernel) {
            let fetched = Fetched::cached(kernel.clone());
            done(&fetched, progress);
            return Ok(fetched);
        }
    }

    let session = AptSession::open(cache, opts, cancel, progress)?;
    let mut fetched = match cached {
        Some(kernel) => Fetched::cached(kernel),
        // One Done, at the very end (after the debug info's stages).
        None => fetch_kernel(&session, cache, opts, force_kernel, cancel, &mut |p| {
            if p.stage != Stage::Done {
                progress(p)
            }
        })?,
    };
    if opts.debug_info && (opts.force || fetched.kernel.debug_vmlinux.is_none()) {
        let got = debuginfo::fetch_in(&session, &fetched.kernel, cancel, progress)?;
        fetched.kernel.debug_vmlinux = Some(got.path.clone());
        fetched.downloaded_bytes += got.downloaded_bytes;
        fetched.packages.push(got.package.clone());
        fetched.debug = Some(got);
    }
    if wants_modules(&fetched.kernel) {
        let got = kvm_modules::fetch_in(&session, &fetched.kernel, cancel, progress)?;
        fetched.downloaded_bytes += got.downloaded_bytes;
        fetched.packages.push(got.package.clone());
        fetched.kvm_modules = Some(got);
    }
    drop(session);
    done(&fetched, progress);
    Ok(fetched)
}

/// The kernel part of [`fetch`]: picks the newest (or `opts.version`)
/// `linux-binary-*` of the session's index, and unless that release is
/// cached (or `force`), downloads, unpacks and stores it.
fn fetch_kernel(
    session: &AptSession,
    cache: &KernelCache,
    opts: &FetchOptions,
    force: bool,
    cancel: &Cancel,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Fetched, FetchError> {
    progress(&Progress::at(Stage::Resolve, &opts.flavour));
    let names = session
        .run(
            session
                .apt("apt-cache")
                .args(["pkgnames", apt::BINARY_PREFIX]),
            "apt-cache-pkgnames",
            cancel,
        )
        .map_err(FetchError::from_command)?;
    let abis = apt::kernel_abis(&names.stdout, &opts.flavour, opts.version.as_deref());
    let no_package = || FetchError::NoPackage {
        suite: opts.suite.clone(),
        flavour: opts.flavour.clone(),
        uri: session.source.uri.clone(),
        wanted: opts.version.clone(),
    };
    // pkgnames also lists names only mentioned in dependencies; take the
    // newest ABI whose binary package has a version.
    let mut chosen = None;
    for abi in abis.iter().take(5) {
        let binary = format!("{}{abi}-{}", apt::BINARY_PREFIX, opts.flavour);
        let base = format!("{}{abi}-{}", apt::BASE_PREFIX, opts.flavour);
        // apt-cache show fails when one of the names has no version.
        let infos = match session.show(
            &[binary.as_str(), base.as_str()],
            true,
            "apt-cache-show",
            cancel,
        )? {
            Some(infos) => infos,
            None => {
                match session.show(&[binary.as_str()], true, "apt-cache-show-binary", cancel)? {
                    Some(infos) => infos,
                    None => continue,
                }
            }
        };
        if infos.iter().any(|i| i.name == binary) {
            chosen = Some((format!("{abi}-{}", opts.flavour), infos));
            break;
        }
    }
    let (release, infos) = chosen.ok_or_else(no_package)?;
    if !force {
        if let Some(mut kernel) = cache.get(&release)? {
            // A damaged entry is replaced.
            if kernel.verify().is_ok() {
                return Ok(Fetched::cached(kernel));
            }
        }
    }
    check(cancel)?;

    let got = session.download(&infos, "debs", cancel, progress)?;
    let detail = got.packages.join(" ");
    progress(&Progress::at(Stage::Unpack, &detail));
    let tree = session.work_dir().join("root");
    std::fs::create_dir_all(&tree).map_err(io_at("create", &tree))?;
    for (n, deb) in got.debs.iter().enumerate() {
        session
            .run(
                Command::new("dpkg-deb").arg("-x").arg(deb).arg(&tree),
                &format!("dpkg-deb-{n}"),
                cancel,
            )
            .map_err(FetchError::from_command)?;
    }
    let image = find_in_tree(&tree, "vmlinuz").ok_or_else(|| FetchError::MissingFile {
        what: "vmlinuz (usr/lib/modules/*/vmlinuz or boot/vmlinuz-*)",
        tree: tree.clone(),
    })?;
    let config = find_in_tree(&tree, "config").ok_or_else(|| FetchError::MissingFile {
        what: "kernel config (usr/lib/modules/*/config or boot/config-*)",
        tree: tree.clone(),
    })?;

    let origin = format!("debian {} ({})", opts.suite, session.source.uri);
    let request = StoreRequest {
        image: &image,
        config: &config,
        release: &release,
        origin: &origin,
        packages: got.packages.clone(),
    };
    let kernel = store(cache, request, cancel, progress)?;
    Ok(Fetched {
        kernel,
        already_cached: false,
        packages: got.packages,
        downloaded_bytes: got.bytes,
        debug: None,
        kvm_modules: None,
    })
}

/// What [`store`] makes a cache entry of.
#[derive(Debug, Clone)]
pub struct StoreRequest<'a> {
    /// The boot image (bzImage); copied, not moved.
    pub image: &'a Path,
    /// Its kernel config; copied, not moved.
    pub config: &'a Path,
    /// The release, for an image whose header names none (the header wins).
    pub release: &'a str,
    /// Where it came from, for `meta.json` (`debian <suite> (<mirror>)`).
    pub origin: &'a str,
    /// The packages it was unpacked from, for `meta.json`.
    pub packages: Vec<String>,
}

/// Stores a boot image and its config as a cache entry: refuses a config
/// without sched_ext, decompresses vmlinux, cuts out its BTF, writes
/// `meta.json`, and renames the entry into place.
pub fn store(
    cache: &KernelCache,
    request: StoreRequest<'_>,
    cancel: &Cancel,
    progress: &mut dyn FnMut(&Progress),
) -> Result<CachedKernel, FetchError> {
    let StoreRequest {
        image,
        config,
        release,
        origin,
        packages,
    } = request;
    let mut report = reporter(progress);
    report(Stage::Check, 0, None, &config.display().to_string());
    let parsed = KernelConfig::read(config)?;
    parsed.require_sched_ext()?;
    let release = match probe_image(image).map_err(io_at("read", image))? {
        ImageKind::BzImage {
            release: Some(header),
        } => header,
        _ => release.to_string(),
    };

    let staging = cache.stage(&release)?;
    let dir = staging.dir().to_path_buf();
    let data = std::fs::read(image).map_err(io_at("read", image))?;
    report(Stage::Decompress, 0, None, &image.display().to_string());
    let vmlinux = extract::vmlinux_from_image(&data, image, cancel, &mut |n, total| {
        report(Stage::Decompress, n, Some(total), "")
    })
    .map_err(FetchError::from_extract)?;
    cancel.check().map_err(|_| FetchError::Cancelled)?;
    let vmlinux_path = dir.join(VMLINUX_FILE);
    report(Stage::Btf, 0, None, &vmlinux_path.display().to_string());
    let btf = extract::btf_section(&vmlinux, &vmlinux_path).map_err(FetchError::from_extract)?;

    report(
        Stage::Store,
        0,
        None,
        &cache.kernels_dir().join(&release).display().to_string(),
    );
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(io_at("write", &path))
    };
    write(IMAGE_FILE, &data)?;
    std::fs::copy(config, dir.join(CONFIG_FILE)).map_err(io_at("copy", config))?;
    write(VMLINUX_FILE, &vmlinux)?;
    write(BTF_FILE, btf)?;
    // Sizes and hashes of what was written, checked before each use.
    Manifest::record(&dir)?.write(&dir)?;
    let meta = KernelMeta::new(&release, origin, packages, parsed.features());
    let meta_json = serde_json::to_vec_pretty(&meta).expect("meta serializes");
    write(META_FILE, &meta_json)?;
    cancel.check().map_err(|_| FetchError::Cancelled)?;
    let kernel = staging.commit()?;
    report(Stage::Done, 0, None, &kernel.dir.display().to_string());
    Ok(kernel)
}

/// Turns progress reports into the lines a command line prints: one per
/// stage, plus byte counts every quarter of a download and every 16 MiB of
/// decompression.
#[derive(Debug)]
pub struct ProgressLines {
    start: std::time::Instant,
    stage: Option<Stage>,
    /// Quarters of a known total already printed.
    quarters: u64,
    /// Bytes at the last line, where the total is unknown.
    printed: u64,
}

impl Default for ProgressLines {
    fn default() -> Self {
        Self::new()
    }
}

impl ProgressLines {
    /// Times lines from now.
    pub fn new() -> Self {
        Self {
            start: std::time::Instant::now(),
            stage: None,
            quarters: 0,
            printed: 0,
        }
    }

    /// The line for `p`, if it deserves one.
    pub fn line(&mut self, p: &Progress) -> Option<String> {
        let t = self.start.elapsed().as_secs_f64();
        let text = if self.stage != Some(p.stage) {
            self.stage = Some(p.stage);
            self.quarters = 0;
            self.printed = p.done;
            let mut text = p.stage.describe().to_string();
            if !p.detail.is_empty() {
                text = format!("{text}: {}", p.detail);
            }
            if let Some(total) = p.total.filter(|&t| t > 0) {
                text = format!("{text} ({})", mb(total));
            }
            text
        } else {
            match p.total.filter(|&t| t > 0) {
                Some(total) => {
                    let quarters = (p.done.min(total) * 4 / total).min(4);
                    if quarters <= self.quarters {
                        return None;
                    }
                    self.quarters = quarters;
                    let pct = p.done.min(total) * 100 / total;
                    format!(
                        "{}: {} of {} ({pct}%)",
                        p.stage.describe(),
                        mb(p.done),
                        mb(total)
                    )
                }
                None if p.done >= self.printed + (16 << 20) => {
                    self.printed = p.done;
                    format!("{}: {}", p.stage.describe(), mb(p.done))
                }
                None => return None,
            }
        };
        Some(format!("[{t:6.2}s] {text}"))
    }
}

/// Bytes as megabytes with one decimal (`14.6 MB`).
pub fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// The `vmlinuz` or `config` of an unpacked kernel package tree:
/// `usr/lib/modules/<release>/<name>` (Debian's layout since 6.x) or
/// `boot/<name>-<release>`.
fn find_in_tree(tree: &Path, name: &str) -> Option<PathBuf> {
    let in_modules = ["usr/lib/modules", "lib/modules"]
        .iter()
        .filter_map(|m| std::fs::read_dir(tree.join(m)).ok())
        .flat_map(|rd| rd.flatten())
        .map(|e| e.path().join(name))
        .find(|p| p.is_file());
    in_modules.or_else(|| {
        std::fs::read_dir(tree.join("boot"))
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.is_file()
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(&format!("{name}-")))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::cache::DEBUG_VMLINUX_FILE;
    use crate::kernel::extract::testdata::{fake_btf, fake_vmlinuz, tiny_elf_with_btf};
    use crate::kernel::image::fake_bzimage_head;

    const SCX: &str =
        "CONFIG_SCHED_CLASS_EXT=y\nCONFIG_DEBUG_INFO_BTF=y\nCONFIG_KPROBES=y\nCONFIG_FPROBE=y\n";

    /// An unpacked package tree as Debian's 7.x packages lay it out.
    fn fake_tree(root: &Path, release: &str, config: &str) -> (PathBuf, PathBuf) {
        let dir = root.join("usr/lib/modules").join(release);
        std::fs::create_dir_all(&dir).unwrap();
        let image = dir.join("vmlinuz");
        let vmlinux = tiny_elf_with_btf(&fake_btf());
        std::fs::write(&image, fake_vmlinuz(&fake_bzimage_head(release), &vmlinux)).unwrap();
        std::fs::write(dir.join("config"), config).unwrap();
        (image, dir.join("config"))
    }

    /// A request with no origin or packages to speak of.
    fn request<'a>(image: &'a Path, config: &'a Path, release: &'a str) -> StoreRequest<'a> {
        StoreRequest {
            image,
            config,
            release,
            origin: "t",
            packages: vec![],
        }
    }

    #[test]
    fn store_writes_a_complete_entry() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = KernelCache::new(tmp.path().join("cache"));
        let tree = tmp.path().join("root");
        let (image, config) = fake_tree(&tree, "7.3.4+deb13-cloud-amd64", SCX);
        assert_eq!(find_in_tree(&tree, "vmlinuz"), Some(image.clone()));
        assert_eq!(find_in_tree(&tree, "config"), Some(config.clone()));

        let mut stages = Vec::new();
        let request = StoreRequest {
            image: &image,
            config: &config,
            release: "ignored-header-wins",
            origin: "test",
            packages: vec!["linux-binary-x=1".into()],
        };
        let k = store(&cache, request, &Cancel::new(), &mut |p| {
            if stages.last() != Some(&p.stage) {
                stages.push(p.stage)
            }
        })
        .unwrap();
        assert_eq!(
            stages,
            [
                Stage::Check,
                Stage::Decompress,
                Stage::Btf,
                Stage::Store,
                Stage::Done
            ]
        );
        assert_eq!(k.release, "7.3.4+deb13-cloud-amd64");
        assert_eq!(std::fs::read(k.btf.as_ref().unwrap()).unwrap(), fake_btf());
        assert!(std::fs::read(k.vmlinux.as_ref().unwrap())
            .unwrap()
            .starts_with(b"\x7fELF"));
        assert_eq!(
            std::fs::read(&k.image).unwrap(),
            std::fs::read(&image).unwrap()
        );
        let f = k.features;
        assert!(f.sched_ext && f.btf && f.kprobes && f.fprobe);
        let meta = k.meta.as_ref().unwrap();
        assert_eq!(meta.packages, ["linux-binary-x=1"]);
        assert_eq!(cache.list().unwrap().len(), 1);
        // The manifest records what was stored.
        let manifest = crate::kernel::integrity::Manifest::read(&k.dir)
            .unwrap()
            .unwrap();
        let names: Vec<_> = manifest.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, [IMAGE_FILE, CONFIG_FILE, VMLINUX_FILE, BTF_FILE]);
        assert_eq!(k.damage, None);
        assert!(k.clone().verify().is_ok());
    }

    #[test]
    fn store_refuses_a_kernel_without_sched_ext_and_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = KernelCache::new(tmp.path().join("cache"));
        let bookworm = "CONFIG_DEBUG_INFO_BTF=y\n# CONFIG_SCHED_CLASS_EXT is not set\n";
        let (image, config) = fake_tree(&tmp.path().join("root"), "6.1.0-40-amd64", bookworm);
        let err = store(
            &cache,
            request(&image, &config, "6.1.0-40-amd64"),
            &Cancel::new(),
            &mut |_| {},
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("CONFIG_SCHED_CLASS_EXT"), "{msg}");
        assert!(msg.contains("scxray kernel fetch"), "{msg}");
        assert!(cache.list().unwrap().is_empty());
    }

    #[test]
    fn cancelled_store_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = KernelCache::new(tmp.path().join("cache"));
        let (image, config) = fake_tree(&tmp.path().join("root"), "7.3.4", SCX);
        let cancel = Cancel::new();
        cancel.cancel();
        let err = store(
            &cache,
            request(&image, &config, "7.3.4"),
            &cancel,
            &mut |_| {},
        )
        .unwrap_err();
        assert!(matches!(err, FetchError::Cancelled), "{err}");
        let left: Vec<_> = std::fs::read_dir(cache.kernels_dir()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn fetch_without_a_debian_mirror_fails_cleanly() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = KernelCache::new(tmp.path().join("cache"));
        let opts = FetchOptions {
            etc_apt: tmp.path().join("etc-apt"),
            mirror: None,
            ..FetchOptions::default()
        };
        let err = fetch(&cache, &opts, &Cancel::new(), &mut |_| {}).unwrap_err();
        assert!(
            matches!(err, FetchError::Apt(AptError::NoDebianSource { .. })),
            "{err}"
        );
        // The work directory is gone.
        let left: Vec<_> = std::fs::read_dir(cache.root().join("tmp"))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    /// A cache holding a fake 7.3.4+deb13-cloud-amd64 kernel.
    fn cached_7_3_4() -> (tempfile::TempDir, KernelCache) {
        let tmp = tempfile::tempdir().unwrap();
        let cache = KernelCache::new(tmp.path().join("cache"));
        let (image, config) = fake_tree(&tmp.path().join("root"), "7.3.4+deb13-cloud-amd64", SCX);
        store(
            &cache,
            request(&image, &config, "x"),
            &Cancel::new(),
            &mut |_| {},
        )
        .unwrap();
        (tmp, cache)
    }

    #[test]
    fn a_cached_exact_version_needs_no_network() {
        let (tmp, cache) = cached_7_3_4();
        let opts = FetchOptions {
            version: Some("7.3.4+deb13".into()),
            // Would fail if the network path were taken.
            etc_apt: tmp.path().join("no-apt"),
            mirror: None,
            ..FetchOptions::default()
        };
        let got = fetch(&cache, &opts, &Cancel::new(), &mut |_| {}).unwrap();
        assert!(got.already_cached);
        assert_eq!(got.kernel.release, "7.3.4+deb13-cloud-amd64");

        // A damaged entry is not "already cached": it is fetched again
        // (here that takes the network path, which fails without apt).
        let image = std::fs::read(&got.kernel.image).unwrap();
        std::fs::write(&got.kernel.image, &image[..image.len() / 2]).unwrap();
        let err = fetch(&cache, &opts, &Cancel::new(), &mut |_| {}).unwrap_err();
        assert!(matches!(err, FetchError::Apt(_)), "{err}");
        std::fs::write(&got.kernel.image, &image).unwrap();

        // Its debug info is missing: that needs the network (here: no mirror).
        let debug = FetchOptions {
            debug_info: true,
            ..opts.clone()
        };
        let err = fetch(&cache, &debug, &Cancel::new(), &mut |_| {}).unwrap_err();
        assert!(
            matches!(err, FetchError::Apt(AptError::NoDebianSource { .. })),
            "{err}"
        );
        // Once cached, it does not; Done names the debug vmlinux.
        let mut f = got.kernel.new_file(DEBUG_VMLINUX_FILE).unwrap();
        std::io::Write::write_all(f.file(), b"dwarf").unwrap();
        let path = f.commit().unwrap();
        let mut last = None;
        let got = fetch(&cache, &debug, &Cancel::new(), &mut |p| {
            last = Some(p.clone())
        })
        .unwrap();
        assert!(got.already_cached && got.debug.is_none());
        assert_eq!(got.kernel.debug_vmlinux.as_ref(), Some(&path));
        let last = last.unwrap();
        assert_eq!(last.stage, Stage::Done);
        assert_eq!(last.detail, path.display().to_string());
        // --force re-fetches the debug info (the network again), not the kernel.
        let force = FetchOptions {
            force: true,
            ..debug
        };
        let err = fetch(&cache, &force, &Cancel::new(), &mut |_| {}).unwrap_err();
        assert!(matches!(err, FetchError::Apt(_)), "{err}");
        assert!(cache
            .get("7.3.4+deb13-cloud-amd64")
            .unwrap()
            .unwrap()
            .debug_vmlinux
            .is_some());
    }

    #[test]
    fn kvm_modules_need_the_network_only_until_cached() {
        let (tmp, cache) = cached_7_3_4();
        let opts = FetchOptions {
            version: Some("7.3.4+deb13".into()),
            kvm_modules: true,
            // Would fail if the network path were taken.
            etc_apt: tmp.path().join("no-apt"),
            mirror: None,
            ..FetchOptions::default()
        };
        let err = fetch(&cache, &opts, &Cancel::new(), &mut |_| {}).unwrap_err();
        assert!(
            matches!(err, FetchError::Apt(AptError::NoDebianSource { .. })),
            "{err}"
        );
        let kernel = cache.get("7.3.4+deb13-cloud-amd64").unwrap().unwrap();
        for (_, file) in kvm_modules::MODULES {
            let mut f = kernel.new_file(file).unwrap();
            std::io::Write::write_all(f.file(), b"ko").unwrap();
            f.commit().unwrap();
        }
        let got = fetch(&cache, &opts, &Cancel::new(), &mut |_| {}).unwrap();
        assert!(got.already_cached && got.kvm_modules.is_none());
        assert!(KvmModules::in_entry(&got.kernel.dir).is_some());
        // --force re-fetches the modules (the network again), not the kernel.
        let force = FetchOptions {
            force: true,
            ..opts
        };
        let err = fetch(&cache, &force, &Cancel::new(), &mut |_| {}).unwrap_err();
        assert!(matches!(err, FetchError::Apt(_)), "{err}");
        assert!(KvmModules::in_entry(&got.kernel.dir).is_some());
    }

    #[test]
    fn progress_lines_one_per_stage_and_quarters() {
        let mut lines = ProgressLines::new();
        let p = |stage, done, total: Option<u64>, detail: &str| Progress {
            stage,
            done,
            total,
            detail: detail.into(),
        };
        let mut out = Vec::new();
        let events = [
            p(
                Stage::Index,
                0,
                None,
                "http://m.example/debian trixie-backports",
            ),
            p(Stage::Download, 0, Some(1000), "pkg=1"),
            p(Stage::Download, 100, Some(1000), "pkg=1"),
            p(Stage::Download, 300, Some(1000), "pkg=1"),
            p(Stage::Download, 310, Some(1000), "pkg=1"),
            p(Stage::Download, 1000, Some(1000), "pkg=1"),
            p(Stage::Decompress, 0, None, "/x/vmlinuz"),
            p(Stage::Decompress, 1 << 20, Some(100 << 20), ""),
            p(Stage::Decompress, 60 << 20, Some(100 << 20), ""),
            p(Stage::Btf, 0, None, "/x/vmlinux"),
            p(Stage::Btf, 1 << 20, None, ""),
            p(Stage::Btf, 40 << 20, None, ""),
            p(Stage::Done, 0, None, "/c/kernels/7.3.4"),
        ];
        for e in &events {
            out.extend(lines.line(e).map(|l| l[10..].to_string()));
        }
        assert_eq!(
            out,
            [
                "updating the package index: http://m.example/debian trixie-backports",
                "downloading: pkg=1 (0.0 MB)",
                "downloading: 0.0 MB of 0.0 MB (30%)",
                "downloading: 0.0 MB of 0.0 MB (100%)",
                "decompressing vmlinux: /x/vmlinuz",
                "decompressing vmlinux: 62.9 MB of 104.9 MB (60%)",
                "extracting BTF: /x/vmlinux",
                "extracting BTF: 41.9 MB",
                "done: /c/kernels/7.3.4",
            ]
        );
    }
}
