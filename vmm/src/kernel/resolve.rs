//! Which kernel a run boots. In order, the first rule that applies wins:
//!
//! 1. `--kernel PATH`: a bzImage/vmlinuz file, a kernel build tree (with
//!    `arch/x86/boot/bzImage`, `vmlinux`, `.config`) or a cache entry directory;
//! 2. `$SCXRAY_KERNEL`, the same forms;
//! 3. the newest kernel with sched_ext in scxray's cache;
//! 4. the host's `/boot/vmlinuz-$(uname -r)`, when `/boot/config-$(uname -r)`
//!    has `CONFIG_SCHED_CLASS_EXT=y`.
//!
//! A kernel named by 1 or 2 is used or refused, never skipped: a config
//! without sched_ext is an error that names the option and the way out.

use std::fmt;
use std::path::{Path, PathBuf};

use super::cache::{
    CacheError, CachedKernel, KernelCache, KernelMeta, BTF_FILE, CONFIG_FILE, DEBUG_VMLINUX_FILE,
    IMAGE_FILE, META_FILE, VMLINUX_FILE,
};
use super::config::{config_candidates, ConfigError, KernelConfig, KernelFeatures, SCHED_EXT_FIX};
use super::extract::elf_debug;
use super::image::{probe_image, ImageKind};
use super::integrity::{check_boot_image, check_entry, Depth, MANIFEST_FILE};

/// Names a kernel to boot (rule 2).
pub const KERNEL_ENV: &str = "SCXRAY_KERNEL";

/// The rule that picked a kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelSource {
    /// `--kernel PATH`.
    Flag,
    /// `$SCXRAY_KERNEL`.
    Env,
    /// scxray's kernel cache.
    Cache,
    /// The host's `/boot`.
    Host,
}

impl fmt::Display for KernelSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KernelSource::Flag => "--kernel",
            KernelSource::Env => "$SCXRAY_KERNEL",
            KernelSource::Cache => "scxray's kernel cache",
            KernelSource::Host => "the host's /boot",
        })
    }
}

/// A kernel to boot, with what is known beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedKernel {
    /// The boot image (bzImage/vmlinuz).
    pub image: PathBuf,
    /// The matching ELF vmlinux, when one is at hand.
    pub vmlinux: Option<PathBuf>,
    /// Its raw BTF (cache entries have one).
    pub btf: Option<PathBuf>,
    /// An ELF vmlinux with DWARF, for source lines of kernel functions: a
    /// cache entry's `vmlinux.debug`, or a build tree's own `vmlinux` when it
    /// has a `.debug_info` section.
    pub debug_vmlinux: Option<PathBuf>,
    /// Its config, when one was found.
    pub config: Option<PathBuf>,
    /// What the config says; `None` without a config (then only the booted
    /// guest can tell whether sched_ext is there).
    pub features: Option<KernelFeatures>,
    /// The release (`uname -r`): from the image header, else the file or
    /// directory name, else `unknown`.
    pub version: String,
    /// Which rule picked it.
    pub source: KernelSource,
}

/// Errors of resolution; each names the path at fault.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("{by} names {path}, which does not exist")]
    NotFound { path: PathBuf, by: KernelSource },
    #[error(
        "{path} is an ELF vmlinux, not a boot image: pass the bzImage \
         (arch/x86/boot/bzImage in a build tree) or a vmlinuz"
    )]
    IsVmlinux { path: PathBuf },
    #[error("{path} is not an x86 boot image (no bzImage header)")]
    NotABootImage { path: PathBuf },
    #[error("{path} is a damaged x86 boot image ({what})")]
    BrokenImage { path: PathBuf, what: String },
    #[error(
        "{dir} is neither a kernel build tree (no arch/x86/boot/bzImage) nor a cache entry \
         (no vmlinuz)"
    )]
    NoImageInDir { dir: PathBuf },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A cached kernel (picked from the cache or named by its entry
    /// directory) is not what was stored: [`CacheError::Damaged`].
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error("no kernel with sched_ext found ({}); {SCHED_EXT_FIX}", .tried.join("; "))]
    NoKernel {
        /// What each rule found.
        tried: Vec<String>,
    },
}

/// The places resolution looks; [`Resolver::from_system`] fills them from the
/// environment, tests point them at temp dirs.
#[derive(Debug, Clone)]
pub struct Resolver {
    /// `--kernel PATH`.
    pub flag: Option<PathBuf>,
    /// `$SCXRAY_KERNEL`.
    pub env: Option<PathBuf>,
    /// scxray's cache; `None` when no cache directory can be named.
    pub cache: Option<KernelCache>,
    /// The host's `/boot`.
    pub boot_dir: PathBuf,
    /// The host's release (`uname -r`).
    pub host_release: Option<String>,
}

impl Resolver {
    /// The real places: `$SCXRAY_KERNEL`, the cache from the environment,
    /// `/boot` and `/proc/sys/kernel/osrelease`.
    pub fn from_system(flag: Option<PathBuf>) -> Self {
        Self {
            flag,
            env: std::env::var_os(KERNEL_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            cache: KernelCache::from_env().ok(),
            boot_dir: PathBuf::from("/boot"),
            host_release: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty()),
        }
    }

    /// Applies the rules in order.
    pub fn resolve(&self) -> Result<ResolvedKernel, ResolveError> {
        if let Some(path) = &self.flag {
            return checked(inspect(path, KernelSource::Flag, &self.boot_dir)?);
        }
        if let Some(path) = &self.env {
            return checked(inspect(path, KernelSource::Env, &self.boot_dir)?);
        }
        let mut tried = vec!["no --kernel".to_string(), format!("${KERNEL_ENV} not set")];
        match &self.cache {
            None => tried.push("no cache directory (HOME unset)".into()),
            Some(cache) => match cache.list() {
                Ok(list) => match list.iter().find(|k| k.features.sched_ext) {
                    Some(k) => {
                        let mut k = k.clone();
                        // Checked before use: a damaged kernel fails here,
                        // with the fix, not in QEMU or a silent guest.
                        k.verify()?;
                        return Ok(from_cache_entry(&k, KernelSource::Cache));
                    }
                    None if list.is_empty() => {
                        tried.push(format!("cache {} is empty", cache.kernels_dir().display()))
                    }
                    None => tried.push(format!(
                        "cache {} has no kernel with sched_ext",
                        cache.kernels_dir().display()
                    )),
                },
                Err(e) => tried.push(e.to_string()),
            },
        }
        match self.host_kernel() {
            Ok(k) => return Ok(k),
            Err(why) => tried.push(why),
        }
        Err(ResolveError::NoKernel { tried })
    }

    /// Rule 4, or why it does not apply.
    fn host_kernel(&self) -> Result<ResolvedKernel, String> {
        let Some(release) = &self.host_release else {
            return Err("host release unknown".into());
        };
        let image = self.boot_dir.join(format!("vmlinuz-{release}"));
        if !image.is_file() {
            return Err(format!("host kernel {} not found", image.display()));
        }
        let config_path = self.boot_dir.join(format!("config-{release}"));
        let config = KernelConfig::read(&config_path).map_err(|e| format!("host kernel: {e}"))?;
        if let Err(ConfigError::MissingSchedExt { state, .. }) = config.require_sched_ext() {
            return Err(format!(
                "host kernel {release}: {} has {state}",
                config_path.display()
            ));
        }
        let mut k =
            inspect(&image, KernelSource::Host, &self.boot_dir).map_err(|e| e.to_string())?;
        k.config = Some(config_path);
        k.features = Some(config.features());
        Ok(k)
    }
}

/// Resolves with the real places and `--kernel` as given.
pub fn resolve_kernel(flag: Option<&Path>) -> Result<ResolvedKernel, ResolveError> {
    Resolver::from_system(flag.map(Path::to_path_buf)).resolve()
}

/// Refuses a kernel whose config lacks sched_ext.
fn checked(k: ResolvedKernel) -> Result<ResolvedKernel, ResolveError> {
    if let Some(path) = &k.config {
        KernelConfig::read(path)?.require_sched_ext()?;
    }
    Ok(k)
}

fn from_cache_entry(k: &CachedKernel, source: KernelSource) -> ResolvedKernel {
    ResolvedKernel {
        image: k.image.clone(),
        vmlinux: k.vmlinux.clone(),
        btf: k.btf.clone(),
        debug_vmlinux: k.debug_vmlinux.clone(),
        config: k.config.clone(),
        features: Some(k.features),
        version: k.release.clone(),
        source,
    }
}

/// What `path` (a boot image, a build tree, or a cache entry) holds.
pub fn inspect(
    path: &Path,
    source: KernelSource,
    boot_dir: &Path,
) -> Result<ResolvedKernel, ResolveError> {
    if !path.exists() {
        return Err(ResolveError::NotFound {
            path: path.to_path_buf(),
            by: source,
        });
    }
    let file = |p: PathBuf| Some(p).filter(|p| p.is_file());
    let features = |config: &Option<PathBuf>| -> Result<Option<KernelFeatures>, ResolveError> {
        Ok(match config {
            Some(c) => Some(KernelConfig::read(c)?.features()),
            None => None,
        })
    };
    if path.is_dir() {
        let bz = path.join("arch/x86/boot/bzImage");
        if bz.is_file() {
            let header = release_of(&bz)?;
            let config = file(path.join(".config"));
            let version = std::fs::read_to_string(path.join("include/config/kernel.release"))
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .or(header)
                .unwrap_or_else(|| "unknown".into());
            let vmlinux = file(path.join("vmlinux"));
            return Ok(ResolvedKernel {
                image: bz,
                debug_vmlinux: with_dwarf(vmlinux.as_deref()),
                vmlinux,
                btf: None,
                features: features(&config)?,
                config,
                version,
                source,
            });
        }
        let image = path.join(IMAGE_FILE);
        if image.is_file() {
            // A cache entry (it has scxray's meta.json or manifest.json) is
            // checked like one picked from the cache.
            if path.join(META_FILE).is_file() || path.join(MANIFEST_FILE).is_file() {
                if let Some(damage) = check_entry(path, Depth::ImageHash) {
                    let release = std::fs::read(path.join(META_FILE))
                        .ok()
                        .and_then(|b| serde_json::from_slice::<KernelMeta>(&b).ok())
                        .map_or_else(|| name_of(path), |m| m.release);
                    return Err(CacheError::Damaged {
                        release,
                        dir: path.to_path_buf(),
                        file: damage.file,
                        what: damage.what,
                    }
                    .into());
                }
            }
            let header = release_of(&image)?;
            let config = file(path.join(CONFIG_FILE));
            let version = header.unwrap_or_else(|| name_of(path));
            return Ok(ResolvedKernel {
                image,
                vmlinux: file(path.join(VMLINUX_FILE)),
                btf: file(path.join(BTF_FILE)),
                debug_vmlinux: file(path.join(DEBUG_VMLINUX_FILE)),
                features: features(&config)?,
                config,
                version,
                source,
            });
        }
        return Err(ResolveError::NoImageInDir {
            dir: path.to_path_buf(),
        });
    }
    let header = release_of(path)?;
    let file_name = name_of(path);
    let from_name = file_name
        .strip_prefix("vmlinuz-")
        .or_else(|| file_name.strip_prefix("bzImage-"))
        .map(str::to_string);
    let version = header
        .clone()
        .or(from_name)
        .unwrap_or_else(|| "unknown".into());
    let release = (version != "unknown").then_some(version.as_str());
    let dir = path.parent().unwrap_or(Path::new("."));
    let config = config_candidates(path, release, boot_dir)
        .into_iter()
        .find(|p| p.is_file());
    let vmlinux = release
        .and_then(|r| file(dir.join(format!("vmlinux-{r}"))))
        .or_else(|| file(dir.join(VMLINUX_FILE)));
    Ok(ResolvedKernel {
        image: path.to_path_buf(),
        debug_vmlinux: with_dwarf(vmlinux.as_deref()),
        vmlinux,
        btf: file(dir.join(BTF_FILE)),
        features: features(&config)?,
        config,
        version,
        source,
    })
}

/// `vmlinux` when its section headers list `.debug_info`; a vmlinux that
/// cannot be read as ELF has none as far as resolution is concerned.
fn with_dwarf(vmlinux: Option<&Path>) -> Option<PathBuf> {
    let v = vmlinux?;
    elf_debug(v)
        .is_ok_and(|e| e.debug_info)
        .then(|| v.to_path_buf())
}

/// The release in a boot image's header; errors for non-images.
fn release_of(path: &Path) -> Result<Option<String>, ResolveError> {
    match probe_image(path).map_err(|source| ResolveError::Read {
        path: path.to_path_buf(),
        source,
    })? {
        ImageKind::BzImage { release } => {
            // Shorter than its header says: QEMU would boot it and the guest
            // would die without a word.
            check_boot_image(path).map_err(|what| ResolveError::BrokenImage {
                path: path.to_path_buf(),
                what,
            })?;
            Ok(release)
        }
        ImageKind::Elf => Err(ResolveError::IsVmlinux {
            path: path.to_path_buf(),
        }),
        ImageKind::Other => Err(ResolveError::NotABootImage {
            path: path.to_path_buf(),
        }),
    }
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::cache::test_put;
    use crate::kernel::extract::testdata::tiny_debug_elf;
    use crate::kernel::image::fake_bzimage_head;

    const SCX: &str = "CONFIG_SCHED_CLASS_EXT=y\nCONFIG_DEBUG_INFO_BTF=y\nCONFIG_KPROBES=y\n";
    const BOOKWORM_61: &str =
        "CONFIG_DEBUG_INFO_BTF=y\nCONFIG_KPROBES=y\n# CONFIG_SCHED_CLASS_EXT is not set\n";

    struct World {
        tmp: tempfile::TempDir,
    }

    impl World {
        fn new() -> Self {
            let w = Self {
                tmp: tempfile::tempdir().unwrap(),
            };
            std::fs::create_dir_all(w.boot()).unwrap();
            w
        }
        fn boot(&self) -> PathBuf {
            self.tmp.path().join("boot")
        }
        fn cache(&self) -> KernelCache {
            KernelCache::new(self.tmp.path().join("cache"))
        }
        fn resolver(&self) -> Resolver {
            Resolver {
                flag: None,
                env: None,
                cache: Some(self.cache()),
                boot_dir: self.boot(),
                host_release: Some("6.18.44-host".into()),
            }
        }
        /// A vmlinuz-<rel> and config-<rel> pair in `dir`.
        fn image(&self, dir: &str, release: &str, config: &str) -> PathBuf {
            let dir = self.tmp.path().join(dir);
            std::fs::create_dir_all(&dir).unwrap();
            let image = dir.join(format!("vmlinuz-{release}"));
            std::fs::write(&image, fake_bzimage_head(release)).unwrap();
            std::fs::write(dir.join(format!("config-{release}")), config).unwrap();
            image
        }
        fn host(&self, config: &str) {
            let img = self.image("boot", "6.18.44-host", config);
            assert!(img.starts_with(self.boot()));
        }
    }

    #[test]
    fn flag_file_with_config_beside_it() {
        let w = World::new();
        let image = w.image("k", "7.3.4+deb13-cloud-amd64", SCX);
        std::fs::write(
            image.with_file_name("vmlinux-7.3.4+deb13-cloud-amd64"),
            b"\x7fELF",
        )
        .unwrap();
        test_put(&w.cache(), "9.9.9", SCX); // Ignored: the flag wins.
        let r = Resolver {
            flag: Some(image.clone()),
            env: Some(w.tmp.path().join("ignored")),
            ..w.resolver()
        };
        let k = r.resolve().unwrap();
        assert_eq!(k.source, KernelSource::Flag);
        assert_eq!(k.image, image);
        assert_eq!(k.version, "7.3.4+deb13-cloud-amd64");
        assert_eq!(
            k.config.as_deref(),
            Some(&*image.with_file_name("config-7.3.4+deb13-cloud-amd64"))
        );
        assert!(k.vmlinux.is_some());
        assert!(k.features.unwrap().sched_ext);
    }

    #[test]
    fn a_damaged_cached_kernel_fails_before_boot_with_the_fix() {
        let w = World::new();
        w.host(SCX); // Not a fallback: a damaged kernel is an error.
        let k = test_put(&w.cache(), "7.3.4+deb13-cloud-amd64", SCX);
        let image = std::fs::read(&k.image).unwrap();
        std::fs::write(&k.image, &image[..100]).unwrap();
        let want = format!(
            "cached kernel 7.3.4+deb13-cloud-amd64 damaged (vmlinuz: 100 bytes, {} when stored): \
             run `scxray kernel fetch --force`",
            image.len()
        );
        let err = w.resolver().resolve().unwrap_err();
        assert!(
            matches!(err, ResolveError::Cache(CacheError::Damaged { .. })),
            "{err}"
        );
        assert_eq!(err.to_string(), want);
        // Named by its directory: the same check.
        let r = Resolver {
            flag: Some(k.dir.clone()),
            ..w.resolver()
        };
        assert_eq!(r.resolve().unwrap_err().to_string(), want);

        // Whole again: resolves.
        std::fs::write(&k.image, &image).unwrap();
        assert_eq!(w.resolver().resolve().unwrap().source, KernelSource::Cache);
        assert_eq!(r.resolve().unwrap().source, KernelSource::Flag);
    }

    #[test]
    fn flag_build_tree() {
        let w = World::new();
        let tree = w.tmp.path().join("linux");
        std::fs::create_dir_all(tree.join("arch/x86/boot")).unwrap();
        std::fs::create_dir_all(tree.join("include/config")).unwrap();
        std::fs::write(
            tree.join("arch/x86/boot/bzImage"),
            fake_bzimage_head("7.4.0-rc1"),
        )
        .unwrap();
        std::fs::write(tree.join("vmlinux"), b"\x7fELF").unwrap();
        std::fs::write(tree.join(".config"), SCX).unwrap();
        std::fs::write(
            tree.join("include/config/kernel.release"),
            "7.4.0-rc1-dirty\n",
        )
        .unwrap();
        let k = Resolver {
            flag: Some(tree.clone()),
            ..w.resolver()
        }
        .resolve()
        .unwrap();
        assert_eq!(k.image, tree.join("arch/x86/boot/bzImage"));
        assert_eq!(k.vmlinux, Some(tree.join("vmlinux")));
        assert_eq!(k.config, Some(tree.join(".config")));
        assert_eq!(k.version, "7.4.0-rc1-dirty");
        // A vmlinux without DWARF is no debug vmlinux; with it, it is.
        assert_eq!(k.debug_vmlinux, None);
        std::fs::write(tree.join("vmlinux"), tiny_debug_elf(b"\x01")).unwrap();
        let k = Resolver {
            flag: Some(tree.clone()),
            ..w.resolver()
        }
        .resolve()
        .unwrap();
        assert_eq!(k.debug_vmlinux, Some(tree.join("vmlinux")));

        // A build tree without sched_ext is refused, not skipped.
        std::fs::write(tree.join(".config"), BOOKWORM_61).unwrap();
        let err = Resolver {
            flag: Some(tree.clone()),
            ..w.resolver()
        }
        .resolve()
        .unwrap_err();
        assert!(err.to_string().contains("CONFIG_SCHED_CLASS_EXT"), "{err}");
    }

    #[test]
    fn flag_errors_name_the_path() {
        let w = World::new();
        let missing = w.tmp.path().join("nope");
        let err = Resolver {
            flag: Some(missing.clone()),
            ..w.resolver()
        }
        .resolve()
        .unwrap_err();
        assert!(matches!(
            err,
            ResolveError::NotFound {
                by: KernelSource::Flag,
                ..
            }
        ));
        assert!(err.to_string().contains("--kernel names"), "{err}");

        let elf = w.tmp.path().join("vmlinux");
        std::fs::write(&elf, b"\x7fELF\x02\x01\x01").unwrap();
        let err = inspect(&elf, KernelSource::Flag, &w.boot()).unwrap_err();
        assert!(matches!(err, ResolveError::IsVmlinux { .. }), "{err}");

        let junk = w.tmp.path().join("junk");
        std::fs::write(&junk, b"hello").unwrap();
        let err = inspect(&junk, KernelSource::Flag, &w.boot()).unwrap_err();
        assert!(matches!(err, ResolveError::NotABootImage { .. }), "{err}");

        // A header that announces more than the file holds: truncated.
        let mut head = fake_bzimage_head("7.3.4");
        head[0x1f4..0x1f8].copy_from_slice(&100_000u32.to_le_bytes());
        let cut = w.tmp.path().join("vmlinuz-7.3.4");
        std::fs::write(&cut, &head).unwrap();
        let err = inspect(&cut, KernelSource::Flag, &w.boot()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{} is a damaged x86 boot image (truncated: 4096 bytes, its boot header says \
                 1602560)",
                cut.display()
            )
        );

        let empty = w.tmp.path().join("emptydir");
        std::fs::create_dir_all(&empty).unwrap();
        let err = inspect(&empty, KernelSource::Flag, &w.boot()).unwrap_err();
        assert!(matches!(err, ResolveError::NoImageInDir { .. }), "{err}");
    }

    #[test]
    fn bookworm_61_kernel_is_refused_with_the_fix() {
        let w = World::new();
        let image = w.image("debian", "6.1.0-40-amd64", BOOKWORM_61);
        let err = Resolver {
            flag: Some(image),
            ..w.resolver()
        }
        .resolve()
        .unwrap_err();
        let msg = err.to_string();
        assert!(matches!(
            err,
            ResolveError::Config(ConfigError::MissingSchedExt { .. })
        ));
        assert!(msg.contains("config-6.1.0-40-amd64"), "{msg}");
        assert!(msg.contains("# CONFIG_SCHED_CLASS_EXT is not set"), "{msg}");
        assert!(msg.contains("run `scxray kernel fetch`"), "{msg}");
    }

    #[test]
    fn env_comes_second() {
        let w = World::new();
        let image = w.image("env", "7.2.0", SCX);
        test_put(&w.cache(), "9.9.9", SCX);
        let k = Resolver {
            env: Some(image.clone()),
            ..w.resolver()
        }
        .resolve()
        .unwrap();
        assert_eq!(k.source, KernelSource::Env);
        assert_eq!(k.image, image);
        let err = Resolver {
            env: Some(w.tmp.path().join("gone")),
            ..w.resolver()
        }
        .resolve()
        .unwrap_err();
        assert!(err.to_string().contains("$SCXRAY_KERNEL names"), "{err}");
    }

    #[test]
    fn cache_newest_with_sched_ext_comes_third() {
        let w = World::new();
        w.host(SCX);
        test_put(&w.cache(), "7.0.9", SCX);
        test_put(&w.cache(), "7.0.10", SCX);
        test_put(&w.cache(), "7.1.0-noscx", BOOKWORM_61);
        let k = w.resolver().resolve().unwrap();
        assert_eq!(k.source, KernelSource::Cache);
        assert_eq!(k.version, "7.0.10");
        assert_eq!(k.image, w.cache().kernels_dir().join("7.0.10/vmlinuz"));
        assert!(k.config.is_some() && k.vmlinux.is_some());
        assert_eq!(k.debug_vmlinux, None);

        // With `vmlinux.debug` in the entry, it is the debug vmlinux.
        let debug = w
            .cache()
            .kernels_dir()
            .join("7.0.10")
            .join(DEBUG_VMLINUX_FILE);
        std::fs::write(&debug, tiny_debug_elf(b"\x01")).unwrap();
        let k = w.resolver().resolve().unwrap();
        assert_eq!(k.debug_vmlinux, Some(debug.clone()));
        let k = inspect(debug.parent().unwrap(), KernelSource::Flag, &w.boot()).unwrap();
        assert_eq!(k.debug_vmlinux, Some(debug));

        // A cache entry directory also works as --kernel.
        let k = inspect(
            &w.cache().kernels_dir().join("7.0.9"),
            KernelSource::Flag,
            &w.boot(),
        )
        .unwrap();
        assert_eq!(k.image, w.cache().kernels_dir().join("7.0.9/vmlinuz"));
        assert!(k.features.unwrap().sched_ext);
    }

    #[test]
    fn host_kernel_comes_last_and_only_with_sched_ext() {
        let w = World::new();
        w.host(SCX);
        let k = w.resolver().resolve().unwrap();
        assert_eq!(k.source, KernelSource::Host);
        assert_eq!(k.image, w.boot().join("vmlinuz-6.18.44-host"));
        assert_eq!(k.config, Some(w.boot().join("config-6.18.44-host")));

        let w = World::new();
        w.host(BOOKWORM_61);
        let err = w.resolver().resolve().unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, ResolveError::NoKernel { .. }));
        assert!(
            msg.contains("config-6.18.44-host has `# CONFIG_SCHED_CLASS_EXT is not set`"),
            "{msg}"
        );
        assert!(msg.contains("is empty"), "{msg}");
        assert!(msg.contains("run `scxray kernel fetch`"), "{msg}");
    }

    #[test]
    fn nothing_at_all() {
        let w = World::new();
        let err = Resolver {
            cache: None,
            host_release: None,
            ..w.resolver()
        }
        .resolve()
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("no kernel with sched_ext found (no --kernel; $SCXRAY_KERNEL not set;"),
            "{msg}"
        );
        let err = w.resolver().resolve().unwrap_err();
        assert!(
            err.to_string().contains("vmlinuz-6.18.44-host not found"),
            "{err}"
        );
    }
}
