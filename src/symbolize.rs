//! Kernel source lines from DWARF: a kernel function, or a backtrace frame
//! (`scx_do_enqueue_task+0x310`), to `kernel/sched/ext.c:1344`.
//!
//! The DWARF comes from a vmlinux with debug info: Debian's `-dbg` package
//! (`scxray kernel fetch --debug-info` caches its vmlinux) or a build tree's
//! `vmlinux`. Frames and functions are looked up by name and offset, so a
//! guest's KASLR offset does not matter. A frame's offset is a return
//! address: the call is the byte before it, which is the line shown.
//!
//! Paths are cut to the kernel tree, as ktstr prints them (its
//! `make_relative`): everything before the first `/kernel/`, `/fs/`,
//! `/arch/`, ... goes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use object::{Object, ObjectSymbol, SymbolKind};

use crate::sections::auto_repro::Location;

/// Kernel-tree directories a path is cut at (ktstr's list).
const TREE_ROOTS: [&str; 13] = [
    "/kernel/",
    "/fs/",
    "/arch/",
    "/mm/",
    "/net/",
    "/drivers/",
    "/include/",
    "/block/",
    "/lib/",
    "/security/",
    "/ipc/",
    "/init/",
    "/scx/scheds/",
];

/// Why a vmlinux cannot give lines.
#[derive(Debug, thiserror::Error)]
pub enum SymbolizeError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not an ELF file the symbolizer can read: {why}")]
    NotElf { path: PathBuf, why: String },
    #[error("{path} has no DWARF (.debug_info): use Debian's -dbg vmlinux (`scxray kernel fetch --debug-info`) or a build tree's vmlinux with CONFIG_DEBUG_INFO")]
    NoDwarf { path: PathBuf },
}

/// An open vmlinux with DWARF.
pub struct KernelLines {
    lines: addr2line::Loader,
    /// Function symbols: name → address.
    symbols: HashMap<String, u64>,
}

impl std::fmt::Debug for KernelLines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KernelLines")
            .field("symbols", &self.symbols.len())
            .finish_non_exhaustive()
    }
}

impl KernelLines {
    /// Opens `path`; its DWARF is parsed lazily, by lookup.
    pub fn open(path: &Path) -> Result<KernelLines, SymbolizeError> {
        let file = std::fs::File::open(path).map_err(|source| SymbolizeError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        // SAFETY: a read-only map of a cache file nobody writes in place
        // (entries are renamed into the cache whole).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|source| SymbolizeError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let elf = object::File::parse(&*map).map_err(|e| SymbolizeError::NotElf {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
        if elf.section_by_name(".debug_info").is_none() {
            return Err(SymbolizeError::NoDwarf {
                path: path.to_path_buf(),
            });
        }
        let symbols = elf
            .symbols()
            .filter(|s| s.kind() == SymbolKind::Text && s.address() != 0)
            .filter_map(|s| Some((s.name().ok()?.to_string(), s.address())))
            .collect();
        let lines = addr2line::Loader::new(path).map_err(|e| SymbolizeError::NotElf {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
        Ok(KernelLines { lines, symbols })
    }

    /// The line of `function+offset` (a return address), or of the
    /// function's entry without an offset. `None` for a name the symbol
    /// table lacks or code without line info.
    pub fn line(&self, function: &str, offset: Option<u64>) -> Option<Location> {
        let start = *self.symbols.get(function)?;
        let addr = match offset {
            Some(o) if o > 0 => start + o - 1,
            _ => start,
        };
        let loc = self.lines.find_location(addr).ok()??;
        Some(Location {
            file: kernel_relative(loc.file?).to_string(),
            line: loc.line?,
        })
    }
}

/// `path` from its kernel-tree directory on (`/build/linux-7.3/kernel/sched/ext.c`
/// → `kernel/sched/ext.c`); unchanged when no such directory is in it.
pub fn kernel_relative(path: &str) -> &str {
    TREE_ROOTS
        .iter()
        .filter_map(|root| path.find(root))
        .min()
        .map_or(path, |at| &path[at + 1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cut_at_the_kernel_tree() {
        assert_eq!(
            kernel_relative("/build/linux-abc/kernel/sched/ext.c"),
            "kernel/sched/ext.c"
        );
        assert_eq!(
            kernel_relative("/usr/src/linux/include/linux/sched.h"),
            "include/linux/sched.h"
        );
        // The first root wins: a tree under a directory named lib/.
        assert_eq!(
            kernel_relative("/home/u/lib/src/fs/read_write.c"),
            "lib/src/fs/read_write.c"
        );
        assert_eq!(kernel_relative("./kernel/fork.c"), "kernel/fork.c");
        assert_eq!(kernel_relative("ext.c"), "ext.c");
    }

    #[test]
    fn files_without_dwarf_say_how_to_get_it() {
        let err = KernelLines::open(Path::new("/nonexistent/vmlinux")).unwrap_err();
        assert!(matches!(err, SymbolizeError::Read { .. }), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("vmlinux");
        std::fs::write(&junk, b"not an elf").unwrap();
        let err = KernelLines::open(&junk).unwrap_err();
        assert!(matches!(err, SymbolizeError::NotElf { .. }), "{err}");
    }
}
