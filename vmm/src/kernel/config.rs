//! A kernel's build configuration (`config-<release>`, a build tree's
//! `.config`, `/boot/config-<release>`) and the options scxray needs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The sched_ext scheduling class; without it no BPF scheduler can load.
pub const SCHED_CLASS_EXT: &str = "CONFIG_SCHED_CLASS_EXT";
/// BTF for vmlinux: CO-RE relocations and struct_ops need it.
pub const DEBUG_INFO_BTF: &str = "CONFIG_DEBUG_INFO_BTF";
/// kprobes, for scxray's probes on scx kernel functions.
pub const KPROBES: &str = "CONFIG_KPROBES";
/// fprobe, behind kprobe.multi attachments.
pub const FPROBE: &str = "CONFIG_FPROBE";

/// How to get a kernel that scxray can use; ends every "no sched_ext" message.
pub const SCHED_EXT_FIX: &str = "run `scxray kernel fetch` (Debian trixie-backports cloud kernel) \
     or build one with CONFIG_SCHED_CLASS_EXT=y, then pass --kernel PATH";

/// What a kernel offers scxray, as its config says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct KernelFeatures {
    /// `CONFIG_SCHED_CLASS_EXT=y`.
    pub sched_ext: bool,
    /// `CONFIG_DEBUG_INFO_BTF=y`.
    pub btf: bool,
    /// `CONFIG_KPROBES=y`.
    pub kprobes: bool,
    /// `CONFIG_FPROBE=y`.
    pub fprobe: bool,
}

/// Errors reading or checking a kernel config; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read kernel config {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a kernel config: it has no CONFIG_ option lines")]
    NotAConfig { path: PathBuf },
    #[error(
        "kernel config {path} has {state} but scxray needs {SCHED_CLASS_EXT}=y \
         (sched_ext): {SCHED_EXT_FIX}"
    )]
    MissingSchedExt {
        path: PathBuf,
        /// What the config says instead, e.g. `# CONFIG_SCHED_CLASS_EXT is not set`.
        state: String,
    },
}

/// A parsed kernel config: option name to value (`y`, `m`, a number or a
/// quoted string); options marked `# CONFIG_X is not set` have the value `n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelConfig {
    path: PathBuf,
    options: BTreeMap<String, String>,
}

impl KernelConfig {
    /// Reads and parses `path`.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let config = Self::parse(path, &String::from_utf8_lossy(&bytes));
        if config.options.is_empty() {
            return Err(ConfigError::NotAConfig {
                path: path.to_path_buf(),
            });
        }
        Ok(config)
    }

    /// Parses config text; `path` is only kept for messages.
    pub fn parse(path: impl Into<PathBuf>, text: &str) -> Self {
        let mut options = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim();
            if let Some(rest) = line.strip_prefix('#') {
                if let Some(name) = rest.trim().strip_suffix(" is not set") {
                    if name.starts_with("CONFIG_") && !name.contains(char::is_whitespace) {
                        options.insert(name.to_string(), "n".to_string());
                    }
                }
            } else if let Some((name, value)) = line.split_once('=') {
                if name.starts_with("CONFIG_") && !name.contains(char::is_whitespace) {
                    options.insert(name.to_string(), value.to_string());
                }
            }
        }
        Self {
            path: path.into(),
            options,
        }
    }

    /// The file this config came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// An option's value: `None` when the config does not mention it, `n`
    /// when it says `is not set`.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.options.get(name).map(String::as_str)
    }

    /// Whether the option is built in (`=y`).
    pub fn is_builtin(&self, name: &str) -> bool {
        self.value(name) == Some("y")
    }

    /// The options scxray cares about.
    pub fn features(&self) -> KernelFeatures {
        KernelFeatures {
            sched_ext: self.is_builtin(SCHED_CLASS_EXT),
            btf: self.is_builtin(DEBUG_INFO_BTF),
            kprobes: self.is_builtin(KPROBES),
            fprobe: self.is_builtin(FPROBE),
        }
    }

    /// `Ok` when the kernel has sched_ext; otherwise an error that names the
    /// option, what the config says, and how to get a kernel that has it.
    pub fn require_sched_ext(&self) -> Result<(), ConfigError> {
        let state = match self.value(SCHED_CLASS_EXT) {
            Some("y") => return Ok(()),
            Some("n") => format!("`# {SCHED_CLASS_EXT} is not set`"),
            Some(other) => format!("`{SCHED_CLASS_EXT}={other}`"),
            None => format!("no {SCHED_CLASS_EXT} (the option predates this kernel)"),
        };
        Err(ConfigError::MissingSchedExt {
            path: self.path.clone(),
            state,
        })
    }
}

/// Where a kernel's config may live, most specific first: beside the image
/// (`config-<release>` next to `vmlinuz-<release>`, or `config` as in Debian's
/// `usr/lib/modules/<release>/` and scxray's cache), then `<boot>/config-<release>`.
pub fn config_candidates(image: &Path, release: Option<&str>, boot_dir: &Path) -> Vec<PathBuf> {
    let dir = image.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    let file_name = image.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if let Some(rel) = file_name
        .strip_prefix("vmlinuz-")
        .or_else(|| file_name.strip_prefix("bzImage-"))
    {
        out.push(dir.join(format!("config-{rel}")));
    }
    if let Some(rel) = release {
        out.push(dir.join(format!("config-{rel}")));
    }
    out.push(dir.join("config"));
    if let Some(rel) = release {
        out.push(boot_dir.join(format!("config-{rel}")));
    }
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN_73: &str = "\
#
# Automatically generated file; DO NOT EDIT.
# Linux/x86 7.3.4 Kernel Configuration
#
CONFIG_CC_VERSION_TEXT=\"gcc (Debian 14.2.0-19) 14.2.0\"
CONFIG_SCHED_CLASS_EXT=y
CONFIG_EXT_GROUP_SCHED=y
CONFIG_DEBUG_INFO_BTF=y
CONFIG_KPROBES=y
CONFIG_FPROBE=y
CONFIG_HZ=250
";

    /// Debian bookworm's 6.1 kernel predates sched_ext; a config that says so.
    const BOOKWORM_61: &str = "\
CONFIG_DEBUG_INFO_BTF=y
CONFIG_KPROBES=y
# CONFIG_SCHED_CLASS_EXT is not set
# CONFIG_FPROBE is not set
";

    #[test]
    fn parses_values_and_not_set() {
        let c = KernelConfig::parse("/x/config", DEBIAN_73);
        assert_eq!(c.value("CONFIG_HZ"), Some("250"));
        assert_eq!(
            c.value("CONFIG_CC_VERSION_TEXT"),
            Some("\"gcc (Debian 14.2.0-19) 14.2.0\"")
        );
        assert_eq!(c.value("CONFIG_NOPE"), None);
        assert_eq!(
            c.features(),
            KernelFeatures {
                sched_ext: true,
                btf: true,
                kprobes: true,
                fprobe: true
            }
        );
        assert!(c.require_sched_ext().is_ok());

        let old = KernelConfig::parse("/boot/config-6.1.0-40-amd64", BOOKWORM_61);
        assert_eq!(old.value(SCHED_CLASS_EXT), Some("n"));
        assert_eq!(old.value(FPROBE), Some("n"));
        let f = old.features();
        assert!(!f.sched_ext && f.btf && f.kprobes && !f.fprobe);
    }

    #[test]
    fn bookworm_61_is_refused_with_the_option_and_the_fix() {
        let old = KernelConfig::parse("/boot/config-6.1.0-40-amd64", BOOKWORM_61);
        let msg = old.require_sched_ext().unwrap_err().to_string();
        assert!(msg.contains("/boot/config-6.1.0-40-amd64"), "{msg}");
        assert!(msg.contains("# CONFIG_SCHED_CLASS_EXT is not set"), "{msg}");
        assert!(msg.contains("CONFIG_SCHED_CLASS_EXT=y"), "{msg}");
        assert!(msg.contains("run `scxray kernel fetch`"), "{msg}");
        assert!(msg.contains("then pass --kernel PATH"), "{msg}");

        let modular = KernelConfig::parse("c", "CONFIG_SCHED_CLASS_EXT=m\n");
        let msg = modular.require_sched_ext().unwrap_err().to_string();
        assert!(msg.contains("`CONFIG_SCHED_CLASS_EXT=m`"), "{msg}");
        let absent = KernelConfig::parse("c", "CONFIG_HZ=100\n");
        let msg = absent.require_sched_ext().unwrap_err().to_string();
        assert!(msg.contains("no CONFIG_SCHED_CLASS_EXT"), "{msg}");
    }

    #[test]
    fn read_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("config-none");
        let msg = KernelConfig::read(&missing).unwrap_err().to_string();
        assert!(msg.contains("config-none"), "{msg}");

        let junk = dir.path().join("config-junk");
        std::fs::write(&junk, b"\x7fELF\x02\x01 not a config").unwrap();
        let err = KernelConfig::read(&junk).unwrap_err();
        assert!(matches!(err, ConfigError::NotAConfig { .. }), "{err}");

        let good = dir.path().join("config-7.3.4");
        std::fs::write(&good, DEBIAN_73).unwrap();
        assert!(KernelConfig::read(&good).unwrap().features().sched_ext);
    }

    #[test]
    fn candidates_beside_the_image_then_boot() {
        let c = config_candidates(
            Path::new("/k/vmlinuz-7.3.4+deb13-cloud-amd64"),
            Some("7.3.4+deb13-cloud-amd64"),
            Path::new("/boot"),
        );
        assert_eq!(
            c,
            vec![
                PathBuf::from("/k/config-7.3.4+deb13-cloud-amd64"),
                PathBuf::from("/k/config"),
                PathBuf::from("/boot/config-7.3.4+deb13-cloud-amd64"),
            ]
        );
    }
}
