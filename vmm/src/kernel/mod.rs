//! The guest kernel: which one to boot ([`resolve`]), scxray's cache of
//! kernels ([`cache`]), getting Debian's sched_ext cloud kernel into it
//! ([`mod@fetch`], `scxray kernel fetch`, with `--debug-info` its DWARF),
//! and what a kernel offers ([`config`]: sched_ext, BTF, kprobes).
//!
//! | module | holds |
//! |---|---|
//! | `resolve` | `--kernel` / `$SCXRAY_KERNEL` / cache / host `/boot` resolution |
//! | `config` | kernel config parsing and the sched_ext check with its fix |
//! | `cache` | the XDG cache: listing, atomic entries, stale work dir sweeping |
//! | `fetch` | the fetch pipeline with progress and cancellation |
//! | `apt` | the temporary apt source and config, package picking |
//! | `apt_session` | one apt session: that source updated, `show`, `download` |
//! | `debuginfo` | `--debug-info`: vmlinux with DWARF out of `linux-image-*-dbg` |
//! | `command` | running apt/dpkg with logs, ticks and kills, or a piped stdout |
//! | `extract` | vmlinux out of vmlinuz (zstd), `.BTF` out of vmlinux, `.debug_info`/build ID check |
//! | `tar` | one member out of a tar stream |
//! | `image` | the bzImage header (release string) |
//! | `integrity` | `manifest.json`: sizes and hashes of an entry, checked before use |
//! | `version` | dpkg version ordering |
//! | `vmlinux_h` | `scxray kernel vmlinux-h`: the header from a cached kernel's BTF |

pub mod apt;
pub mod apt_session;
pub mod cache;
pub mod command;
pub mod config;
pub mod debuginfo;
pub mod extract;
pub mod fetch;
pub mod image;
pub mod integrity;
pub mod kvm_modules;
pub mod resolve;
pub mod tar;
pub mod version;
pub mod vmlinux_h;

pub use cache::{CacheError, CachedKernel, KernelCache, KernelMeta};
pub use config::{ConfigError, KernelConfig, KernelFeatures};
pub use fetch::{fetch, FetchError, FetchOptions, Fetched, Progress, Stage};
pub use resolve::{resolve_kernel, KernelSource, ResolveError, ResolvedKernel, Resolver};
