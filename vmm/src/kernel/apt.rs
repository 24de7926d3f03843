//! The temporary apt setup of `scxray kernel fetch`: the Debian mirror read
//! from the machine's own apt configuration, a one-suite source for
//! `trixie-backports` on it, and an apt config that keeps every piece of apt
//! state (lists, caches) in scxray's work directory. Nothing under /etc or
//! /var is written, and nothing is installed.

use std::path::{Path, PathBuf};

use super::version::compare_releases;

/// The suite whose cloud kernel `scxray kernel fetch` gets.
pub const BACKPORTS_SUITE: &str = "trixie-backports";
/// The kernel flavour: small, boots fast under QEMU, has sched_ext.
pub const CLOUD_FLAVOUR: &str = "cloud-amd64";
/// The Debian architecture of the guest kernel.
pub const GUEST_ARCH: &str = "amd64";
/// Package name prefixes: the boot image, and the config that goes with it.
pub const BINARY_PREFIX: &str = "linux-binary-";
pub const BASE_PREFIX: &str = "linux-base-";

/// Errors of the apt setup; each names the files looked at.
#[derive(Debug, thiserror::Error)]
pub enum AptError {
    #[error(
        "no Debian mirror in the apt configuration (looked for a `deb` source whose URI ends in \
         /debian in {}); `scxray kernel fetch` adds {BACKPORTS_SUITE} from that mirror. Set \
         SCXRAY_DEBIAN_MIRROR=URI, or build a kernel with CONFIG_SCHED_CLASS_EXT=y and pass \
         --kernel PATH",
        .searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NoDebianSource { searched: Vec<PathBuf> },
    #[error("cannot use {path} in an apt config: it contains a double quote or a newline")]
    UnquotablePath { path: PathBuf },
}

/// A Debian mirror from the machine's apt configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptSource {
    /// The archive URI, e.g. the `URIs:` value.
    pub uri: String,
    /// `Signed-By:` (a keyring path, or an inline key of several lines).
    pub signed_by: Option<String>,
    /// The file it was read from (empty for an override).
    pub origin: PathBuf,
}

/// Whether `uri` is a Debian archive (not debian-security, not a PPA):
/// its last path segment is `debian`, or for apt's `mirror+file:` scheme,
/// the mirror list is `debian.list`.
fn is_debian_archive(uri: &str) -> bool {
    let last = uri.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    if uri.starts_with("mirror+file:") {
        return last == "debian.list";
    }
    last == "debian"
}

/// The first enabled `deb` stanza of a deb822 `.sources` text with a Debian
/// archive URI.
pub fn debian_source_in_deb822(text: &str, origin: &Path) -> Option<AptSource> {
    for stanza in deb822_stanzas(text) {
        let field = |name: &str| {
            stanza
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let is_deb = field("Types").is_some_and(|t| t.split_whitespace().any(|t| t == "deb"));
        let enabled = field("Enabled").is_none_or(|e| !e.trim().eq_ignore_ascii_case("no"));
        if !is_deb || !enabled {
            continue;
        }
        let Some(uri) = field("URIs")
            .into_iter()
            .flat_map(str::split_whitespace)
            .find(|u| is_debian_archive(u))
        else {
            continue;
        };
        return Some(AptSource {
            uri: uri.to_string(),
            signed_by: field("Signed-By")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            origin: origin.to_path_buf(),
        });
    }
    None
}

/// Splits deb822 text into stanzas of (field, value) pairs. Continuation
/// lines (leading blank) are joined with newlines; ` .` stands for an empty line.
fn deb822_stanzas(text: &str) -> Vec<Vec<(String, String)>> {
    let mut stanzas = Vec::new();
    let mut current: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                stanzas.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = current.last_mut() {
                let cont = line.trim();
                if !value.is_empty() {
                    value.push('\n');
                }
                value.push_str(if cont == "." { "" } else { cont });
            }
            continue;
        }
        if let Some((key, value)) = line.split_once(':') {
            current.push((key.trim().to_string(), value.trim().to_string()));
        }
    }
    if !current.is_empty() {
        stanzas.push(current);
    }
    stanzas
}

/// The first `deb` line of a one-line `sources.list` text with a Debian
/// archive URI: `deb [signed-by=/k.gpg arch=amd64] URI SUITE COMPONENTS`.
pub fn debian_source_in_one_line(text: &str, origin: &Path) -> Option<AptSource> {
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(rest) = line
            .strip_prefix("deb")
            .filter(|r| r.starts_with([' ', '\t']))
        else {
            continue;
        };
        let rest = rest.trim_start();
        let (options, rest) = match rest.strip_prefix('[') {
            Some(r) => match r.split_once(']') {
                Some((opts, rest)) => (opts, rest),
                None => continue,
            },
            None => ("", rest),
        };
        let Some(uri) = rest.split_whitespace().next() else {
            continue;
        };
        if !is_debian_archive(uri) {
            continue;
        }
        let signed_by = options
            .split_whitespace()
            .find_map(|o| o.strip_prefix("signed-by="))
            .map(str::to_string);
        return Some(AptSource {
            uri: uri.to_string(),
            signed_by,
            origin: origin.to_path_buf(),
        });
    }
    None
}

/// Finds the Debian mirror in the apt configuration under `etc_apt`
/// (normally `/etc/apt`): `sources.list.d/*.sources` first, then the one-line
/// `sources.list`, then `sources.list.d/*.list`.
pub fn find_debian_source(etc_apt: &Path) -> Result<AptSource, AptError> {
    let parts = etc_apt.join("sources.list.d");
    let in_parts = |ext: &str| -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&parts)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == ext))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    };
    let mut searched = Vec::new();
    let deb822 = in_parts("sources");
    let mut one_line = vec![etc_apt.join("sources.list")];
    one_line.extend(in_parts("list"));
    for path in deb822 {
        if let Ok(text) = std::fs::read_to_string(&path) {
            if let Some(src) = debian_source_in_deb822(&text, &path) {
                return Ok(src);
            }
        }
        searched.push(path);
    }
    for path in one_line {
        if let Ok(text) = std::fs::read_to_string(&path) {
            if let Some(src) = debian_source_in_one_line(&text, &path) {
                return Ok(src);
            }
        }
        searched.push(path);
    }
    Err(AptError::NoDebianSource { searched })
}

/// The deb822 text of the temporary source: `suite` from `src`'s mirror,
/// component main, architecture [`GUEST_ARCH`] only, same `Signed-By`.
pub fn temporary_source(src: &AptSource, suite: &str) -> String {
    let mut text = format!(
        "# Written by `scxray kernel fetch` from {}; removed when it ends.\n\
         Types: deb\nURIs: {}\nSuites: {suite}\nComponents: main\nArchitectures: {GUEST_ARCH}\n",
        if src.origin.as_os_str().is_empty() {
            "an override".to_string()
        } else {
            src.origin.display().to_string()
        },
        src.uri
    );
    match src.signed_by.as_deref() {
        Some(key) if key.contains('\n') => {
            text.push_str("Signed-By:\n");
            for line in key.lines() {
                text.push(' ');
                text.push_str(if line.trim().is_empty() { "." } else { line });
                text.push('\n');
            }
        }
        Some(keyring) => text.push_str(&format!("Signed-By: {keyring}\n")),
        None => {}
    }
    text
}

/// Paths of the private apt state inside a work directory.
#[derive(Debug, Clone)]
pub struct AptPaths {
    /// The apt config passed with `-c`.
    pub conf: PathBuf,
    /// The deb822 source file (`.sources`, so apt reads it as deb822).
    pub source: PathBuf,
    pub lists: PathBuf,
    pub cache: PathBuf,
    /// An empty directory, for the source and preference parts.
    pub empty: PathBuf,
}

impl AptPaths {
    /// The layout under `dir`.
    pub fn under(dir: &Path) -> Self {
        Self {
            conf: dir.join("apt.conf"),
            source: dir.join("scxray-fetch.sources"),
            lists: dir.join("lists"),
            cache: dir.join("cache"),
            empty: dir.join("empty"),
        }
    }

    /// Creates the directories apt expects.
    pub fn create_dirs(&self) -> std::io::Result<()> {
        for d in [
            self.lists.join("partial"),
            self.cache.join("archives").join("partial"),
            self.empty.clone(),
        ] {
            std::fs::create_dir_all(d)?;
        }
        Ok(())
    }

    /// The apt config read after the machine's own (`apt-get -c FILE`): the
    /// machine's proxy and other settings stay, but sources, preferences,
    /// lists and caches are the private ones, only [`GUEST_ARCH`] is
    /// considered, and the machine's update hooks do not run.
    pub fn conf_text(&self) -> Result<String, AptError> {
        let q = |p: &Path| -> Result<String, AptError> {
            let s = p.to_string_lossy();
            if s.contains(['"', '\n']) {
                return Err(AptError::UnquotablePath {
                    path: p.to_path_buf(),
                });
            }
            Ok(format!("\"{s}\""))
        };
        Ok(format!(
            "// Written by `scxray kernel fetch`; removed when it ends.\n\
             Dir::Etc::SourceList {};\n\
             Dir::Etc::SourceParts {};\n\
             Dir::Etc::Preferences {};\n\
             Dir::Etc::PreferencesParts {};\n\
             Dir::State::Lists {};\n\
             Dir::Cache {};\n\
             Acquire::Languages \"none\";\n\
             APT::Architecture \"{GUEST_ARCH}\";\n\
             #clear APT::Architectures;\n\
             APT::Architectures {{ \"{GUEST_ARCH}\"; }};\n\
             APT::Get::List-Cleanup \"false\";\n\
             #clear APT::Update::Pre-Invoke;\n\
             #clear APT::Update::Post-Invoke;\n\
             #clear APT::Update::Post-Invoke-Success;\n",
            q(&self.source)?,
            q(&self.empty)?,
            q(&self.empty.join("preferences"))?,
            q(&self.empty)?,
            q(&self.lists)?,
            q(&self.cache)?,
        ))
    }

    /// Whether `apt-get update` left a package index in the lists directory.
    pub fn has_package_index(&self) -> bool {
        std::fs::read_dir(&self.lists).is_ok_and(|rd| {
            rd.flatten()
                .any(|e| e.file_name().to_string_lossy().contains("_Packages"))
        })
    }
}

/// The kernel ABIs (`7.3.4+deb13`) of the `linux-binary-<abi>-<flavour>`
/// names in `pkgnames` (the output of `apt-cache pkgnames linux-binary-`),
/// newest first. With `wanted`, only the matching ones: the ABI itself, the
/// release (`7.3.4+deb13-cloud-amd64`), the package name, or a version prefix
/// (`7.3`, `7.3.4`).
pub fn kernel_abis(pkgnames: &str, flavour: &str, wanted: Option<&str>) -> Vec<String> {
    let suffix = format!("-{flavour}");
    let mut abis: Vec<String> = pkgnames
        .lines()
        .filter_map(|l| l.trim().strip_prefix(BINARY_PREFIX)?.strip_suffix(&suffix))
        .filter(|abi| abi.starts_with(|c: char| c.is_ascii_digit()))
        .filter(|abi| wanted.is_none_or(|w| abi_matches(abi, &suffix, w)))
        .map(str::to_string)
        .collect();
    abis.sort_by(|a, b| compare_releases(b, a));
    abis.dedup();
    abis
}

fn abi_matches(abi: &str, suffix: &str, wanted: &str) -> bool {
    let wanted = wanted.trim();
    let wanted = wanted.strip_prefix(BINARY_PREFIX).unwrap_or(wanted);
    let wanted = wanted.strip_suffix(suffix).unwrap_or(wanted);
    abi == wanted
        || abi
            .strip_prefix(wanted)
            .is_some_and(|rest| rest.starts_with(['.', '+', '-']))
}

/// One record of `apt-cache show`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageInfo {
    pub name: String,
    pub version: String,
    /// The `.deb`'s size in bytes.
    pub size: Option<u64>,
    /// The unpacked size in bytes (`Installed-Size` is in KiB), about the
    /// size of its data tarball.
    pub installed_size: Option<u64>,
}

/// The records of `apt-cache show` output.
pub fn parse_show(text: &str) -> Vec<PackageInfo> {
    deb822_stanzas(text)
        .into_iter()
        .filter_map(|stanza| {
            let get = |k: &str| stanza.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone());
            Some(PackageInfo {
                name: get("Package")?,
                version: get("Version")?,
                size: get("Size").and_then(|s| s.parse().ok()),
                installed_size: get("Installed-Size")
                    .and_then(|s| s.parse::<u64>().ok())
                    .map(|kib| kib * 1024),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This machine's layout: the bookworm stanza, then debian-security.
    const BOOKWORM_SOURCES: &str = "\
Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
";

    #[test]
    fn deb822_picks_the_debian_stanza() {
        let src =
            debian_source_in_deb822(BOOKWORM_SOURCES, Path::new("/e/debian.sources")).unwrap();
        assert_eq!(src.uri, "http://mirror.example/debian");
        assert_eq!(
            src.signed_by.as_deref(),
            Some("/usr/share/keyrings/debian-archive-keyring.gpg")
        );
        assert_eq!(src.origin, Path::new("/e/debian.sources"));

        // Security first, a disabled stanza, deb-src only: all skipped.
        let text = "\
Types: deb
URIs: https://m.example/debian-security/
Suites: trixie-security
Components: main

Enabled: no
Types: deb
URIs: https://off.example/debian
Suites: trixie

Types: deb-src
URIs: https://src.example/debian
Suites: trixie

types: deb deb-src
uris: https://m.example/debian/
suites: trixie
components: main
";
        let src = debian_source_in_deb822(text, Path::new("x")).unwrap();
        assert_eq!(src.uri, "https://m.example/debian/");
        assert_eq!(src.signed_by, None);

        let cloud =
            "Types: deb\nURIs: mirror+file:///etc/apt/mirrors/debian.list\nSuites: bookworm\n";
        let src = debian_source_in_deb822(cloud, Path::new("x")).unwrap();
        assert_eq!(src.uri, "mirror+file:///etc/apt/mirrors/debian.list");

        let ubuntu = "Types: deb\nURIs: http://archive.example/ubuntu\nSuites: noble\n";
        assert_eq!(debian_source_in_deb822(ubuntu, Path::new("x")), None);
    }

    #[test]
    fn inline_signed_by_round_trips() {
        let text = "\
Types: deb
URIs: http://m.example/debian
Suites: bookworm
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBFxyz
 -----END PGP PUBLIC KEY BLOCK-----
";
        let src = debian_source_in_deb822(text, Path::new("x")).unwrap();
        let key = src.signed_by.clone().unwrap();
        assert_eq!(
            key,
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBFxyz\n-----END PGP PUBLIC KEY BLOCK-----"
        );
        let out = temporary_source(&src, BACKPORTS_SUITE);
        assert!(
            out.contains("Signed-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n mQINBFxyz\n"),
            "{out}"
        );
        // And apt's reading of what we wrote gives the same key back.
        let again = debian_source_in_deb822(&out, Path::new("y")).unwrap();
        assert_eq!(again.signed_by.as_deref(), Some(key.as_str()));
    }

    #[test]
    fn one_line_sources_list() {
        let text = "\
# deb http://old.example/debian buster main
deb-src http://m.example/debian bookworm main
deb http://m.example/debian-security bookworm-security main
deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://m.example/debian bookworm main contrib
deb http://other.example/debian bookworm main
";
        let src = debian_source_in_one_line(text, Path::new("/etc/apt/sources.list")).unwrap();
        assert_eq!(src.uri, "http://m.example/debian");
        assert_eq!(
            src.signed_by.as_deref(),
            Some("/usr/share/keyrings/debian-archive-keyring.gpg")
        );
        let plain = debian_source_in_one_line(
            "deb http://m.example/debian/ bookworm main\n",
            Path::new("x"),
        )
        .unwrap();
        assert_eq!(plain.uri, "http://m.example/debian/");
        assert_eq!(plain.signed_by, None);
        assert_eq!(
            debian_source_in_one_line(
                "deb http://archive.example/ubuntu noble main",
                Path::new("x")
            ),
            None
        );
    }

    #[test]
    fn temporary_source_text() {
        let src =
            debian_source_in_deb822(BOOKWORM_SOURCES, Path::new("/e/debian.sources")).unwrap();
        assert_eq!(
            temporary_source(&src, BACKPORTS_SUITE),
            "# Written by `scxray kernel fetch` from /e/debian.sources; removed when it ends.\n\
             Types: deb\n\
             URIs: http://mirror.example/debian\n\
             Suites: trixie-backports\n\
             Components: main\n\
             Architectures: amd64\n\
             Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        );
    }

    #[test]
    fn finds_sources_then_sources_list() {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path();
        std::fs::create_dir_all(etc.join("sources.list.d")).unwrap();
        std::fs::write(
            etc.join("sources.list"),
            "deb [signed-by=/k.gpg] http://one-line.example/debian bookworm main\n",
        )
        .unwrap();
        std::fs::write(
            etc.join("sources.list.d/nodesource.sources"),
            "Types: deb\nURIs: https://deb.example/node_20.x\nSuites: nodistro\n",
        )
        .unwrap();
        // Ignored: not a .sources or .list file.
        std::fs::write(
            etc.join("sources.list.d/debian.sources.disabled"),
            BOOKWORM_SOURCES,
        )
        .unwrap();
        let src = find_debian_source(etc).unwrap();
        assert_eq!(src.uri, "http://one-line.example/debian");
        assert_eq!(src.origin, etc.join("sources.list"));

        std::fs::write(etc.join("sources.list.d/debian.sources"), BOOKWORM_SOURCES).unwrap();
        let src = find_debian_source(etc).unwrap();
        assert_eq!(src.uri, "http://mirror.example/debian");

        let empty = tempfile::tempdir().unwrap();
        let err = find_debian_source(empty.path()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("sources.list"), "{msg}");
        assert!(msg.contains("--kernel PATH"), "{msg}");
    }

    #[test]
    fn apt_conf_is_private() {
        let paths = AptPaths::under(Path::new("/c/tmp/work-1-x/apt"));
        let conf = paths.conf_text().unwrap();
        assert!(conf.contains("Dir::Etc::SourceList \"/c/tmp/work-1-x/apt/scxray-fetch.sources\";"));
        assert!(conf.contains("Dir::State::Lists \"/c/tmp/work-1-x/apt/lists\";"));
        assert!(conf.contains("Dir::Cache \"/c/tmp/work-1-x/apt/cache\";"));
        assert!(conf.contains("Dir::Etc::SourceParts \"/c/tmp/work-1-x/apt/empty\";"));
        assert!(conf.contains("#clear APT::Update::Post-Invoke-Success;"));
        let bad = AptPaths::under(Path::new("/c/we\"ird"));
        assert!(matches!(
            bad.conf_text(),
            Err(AptError::UnquotablePath { .. })
        ));
    }

    #[test]
    fn picks_the_newest_cloud_abi() {
        let names = "\
linux-binary-7.0.9+deb13-cloud-amd64
linux-binary-7.0.10+deb13-cloud-amd64
linux-binary-7.3.4+deb13-amd64
linux-binary-7.3.4+deb13-cloud-amd64
linux-binary-7.3.4+deb13-rt-amd64
linux-binary-unsigned-7.9.9+deb13-cloud-amd64
linux-binary-6.19.14+deb13-cloud-amd64
linux-binary-cloud-amd64
";
        assert_eq!(
            kernel_abis(names, CLOUD_FLAVOUR, None),
            [
                "7.3.4+deb13",
                "7.0.10+deb13",
                "7.0.9+deb13",
                "6.19.14+deb13"
            ]
        );
        assert_eq!(
            kernel_abis(names, CLOUD_FLAVOUR, Some("7.0")),
            ["7.0.10+deb13", "7.0.9+deb13"]
        );
        assert_eq!(
            kernel_abis(names, CLOUD_FLAVOUR, Some("7.0.9")),
            ["7.0.9+deb13"]
        );
        for w in [
            "7.3.4+deb13",
            "7.3.4+deb13-cloud-amd64",
            "linux-binary-7.3.4+deb13-cloud-amd64",
        ] {
            assert_eq!(
                kernel_abis(names, CLOUD_FLAVOUR, Some(w)),
                ["7.3.4+deb13"],
                "{w}"
            );
        }
        assert!(kernel_abis(names, CLOUD_FLAVOUR, Some("7.3.40")).is_empty());
        assert!(kernel_abis(names, CLOUD_FLAVOUR, Some("8")).is_empty());
    }

    #[test]
    fn parses_apt_cache_show() {
        let text = "\
Package: linux-binary-7.3.4+deb13-cloud-amd64
Source: linux-signed-amd64 (7.3.4+1~bpo13+1)
Version: 7.3.4-1~bpo13+1
Depends: linux-base-7.3.4+deb13-cloud-amd64 (= 7.3.4-1~bpo13+1)
Description: Linux 7.3.4 for x86-64 cloud
 A continuation line.
Size: 13604064

Package: linux-base-7.3.4+deb13-cloud-amd64
Version: 7.3.4-1~bpo13+1
Installed-Size: 2014979
Size: 1025208
";
        let infos = parse_show(text);
        assert_eq!(infos.len(), 2);
        assert_eq!(infos[0].name, "linux-binary-7.3.4+deb13-cloud-amd64");
        assert_eq!(infos[0].version, "7.3.4-1~bpo13+1");
        assert_eq!(infos[0].size, Some(13_604_064));
        assert_eq!(infos[1].size, Some(1_025_208));
        assert_eq!(infos[0].installed_size, None);
        assert_eq!(infos[1].installed_size, Some(2_014_979 * 1024));
    }
}
