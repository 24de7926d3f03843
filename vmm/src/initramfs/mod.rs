//! The guest's initramfs: a newc cpio archive written in-process, holding the
//! guest agent as `/init`, the scheduler and workload tools, included files,
//! and the shared-library closure of every ELF among them.
//!
//! ```no_run
//! use scxray_vmm::initramfs::InitramfsBuilder;
//! # fn main() -> Result<(), scxray_vmm::initramfs::InitramfsError> {
//! let report = InitramfsBuilder::new()
//!     .init("/usr/libexec/scxray/scxray-agent")
//!     .binary("target/release/scx_demo", "/bin/scheduler")
//!     .bytes("/etc/scxray/args", "--crash-after 400\n", 0o644)
//!     .cache_dir("/home/me/.cache/scxray")
//!     .build_file(std::path::Path::new("/tmp/initramfs.cpio"))?;
//! println!("{} bytes, base {:?}", report.total_bytes(), report.cache);
//! # Ok(()) }
//! ```
//!
//! Modules: [`cpio`] writes (and reads back) the format, [`ldcache`] reads
//! glibc's `/etc/ld.so.cache`, [`elf`] finds what an ELF needs like ld.so
//! does, `builder` plans the guest tree and writes it as a cached base
//! segment plus a per-run suffix (`cache`).

mod builder;
mod cache;
pub mod cpio;
pub mod elf;
mod error;
pub mod ldcache;
mod tree;

pub use builder::{BuildReport, CacheUse, InitramfsBuilder, Plan};
pub use cache::KEEP as CACHE_KEEP;
pub use elf::{
    Dependency, ElfError, ElfInfo, FoundVia, LibraryResolver, SymbolVersions, VersionGap,
};
pub use error::InitramfsError;
