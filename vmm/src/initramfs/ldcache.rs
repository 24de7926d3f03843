//! Reader for glibc's `/etc/ld.so.cache` ("glibc-ld.so.cache1.1"), the table
//! ldconfig writes and ld.so consults after RPATH/RUNPATH: soname → path.
//!
//! Layout (glibc `dl-cache.h`): a 48-byte header (magic, version, entry
//! count, string table length, endianness flag, extension offset), then
//! 24-byte entries {flags i32, key u32, value u32, osversion u32, hwcap u64}
//! whose key/value are offsets of NUL-terminated strings counted from the
//! start of that header. Pre-2.32 files put the old "ld.so-1.7.0" table first
//! and the new header after it, 8-byte aligned.

use std::io;
use std::path::{Path, PathBuf};

pub const DEFAULT_PATH: &str = "/etc/ld.so.cache";

const NEW_MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
const OLD_MAGIC: &[u8] = b"ld.so-1.7.0";
const NEW_HEADER_LEN: usize = 48;
const NEW_ENTRY_LEN: usize = 24;
const OLD_HEADER_LEN: usize = 16;
const OLD_ENTRY_LEN: usize = 12;

/// `flags & FLAG_TYPE_MASK`: an ELF library (1) or a glibc one (3).
const FLAG_TYPE_MASK: i32 = 0x00ff;
const FLAG_ELF: i32 = 0x0001;
const FLAG_ELF_LIBC6: i32 = 0x0003;
/// `flags & FLAG_REQUIRED_MASK`: the ABI the library was built for.
const FLAG_REQUIRED_MASK: i32 = 0xff00;
/// hwcap bit marking a library from a glibc-hwcaps subdirectory.
const HWCAP_EXTENSION: u64 = 1 << 62;

#[derive(Debug, thiserror::Error)]
pub enum LdCacheError {
    #[error("reading {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{} is not a glibc ld.so.cache: {why}", path.display())]
    Malformed { path: PathBuf, why: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdCacheEntry {
    /// The soname ("libc.so.6").
    pub name: String,
    pub path: PathBuf,
    pub flags: i32,
    pub hwcap: u64,
}

impl LdCacheEntry {
    /// Whether this entry is for a glibc-hwcaps subdirectory variant
    /// (x86-64-v3 and the like), which only some CPUs may load.
    pub fn is_hwcaps_variant(&self) -> bool {
        self.hwcap & HWCAP_EXTENSION != 0
    }
}

#[derive(Debug, Clone, Default)]
pub struct LdCache {
    entries: Vec<LdCacheEntry>,
}

impl LdCache {
    /// Reads `path`; `Ok(None)` when it does not exist (musl systems, chroots).
    pub fn load(path: &Path) -> Result<Option<Self>, LdCacheError> {
        match std::fs::read(path) {
            Ok(data) => Self::parse(&data, path).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(LdCacheError::Io {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Parses cache bytes; `path` only names the file in errors.
    pub fn parse(data: &[u8], path: &Path) -> Result<Self, LdCacheError> {
        let bad = |why: String| LdCacheError::Malformed {
            path: path.to_owned(),
            why,
        };
        let start = if data.starts_with(NEW_MAGIC) {
            0
        } else if data.starts_with(OLD_MAGIC) {
            // The old table's count is in host order; only this host's own
            // cache is ever read, so that is the order to use.
            let n = data
                .get(12..16)
                .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize)
                .ok_or_else(|| bad("truncated old-format header".into()))?;
            let off = n
                .checked_mul(OLD_ENTRY_LEN)
                .and_then(|x| x.checked_add(OLD_HEADER_LEN))
                .map(|x| (x + 7) & !7)
                .ok_or_else(|| bad("old-format entry count overflows".into()))?;
            if !data.get(off..).is_some_and(|d| d.starts_with(NEW_MAGIC)) {
                return Err(bad("old format without the new table (glibc < 2.3?)".into()));
            }
            off
        } else {
            return Err(bad("unknown magic".into()));
        };
        let new = &data[start..];
        if new.len() < NEW_HEADER_LEN {
            return Err(bad("truncated header".into()));
        }
        let big_endian = match new[28] & 3 {
            0 => cfg!(target_endian = "big"),
            2 => false,
            3 => true,
            _ => return Err(bad("invalid endianness flag".into())),
        };
        let u32_at = |off: usize| -> Option<u32> {
            let b: [u8; 4] = new.get(off..off + 4)?.try_into().ok()?;
            Some(if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            })
        };
        let u64_at = |off: usize| -> Option<u64> {
            let b: [u8; 8] = new.get(off..off + 8)?.try_into().ok()?;
            Some(if big_endian {
                u64::from_be_bytes(b)
            } else {
                u64::from_le_bytes(b)
            })
        };
        let nlibs = u32_at(20).ok_or_else(|| bad("truncated header".into()))? as usize;
        let table_end = nlibs
            .checked_mul(NEW_ENTRY_LEN)
            .and_then(|x| x.checked_add(NEW_HEADER_LEN))
            .filter(|&end| end <= new.len())
            .ok_or_else(|| bad(format!("{nlibs} entries do not fit in the file")))?;
        let string_at = |off: u32| -> Option<&str> {
            let s = new.get(off as usize..)?;
            let end = s.iter().position(|&b| b == 0)?;
            std::str::from_utf8(&s[..end]).ok()
        };
        let mut entries = Vec::with_capacity(nlibs);
        for i in 0..nlibs {
            let at = NEW_HEADER_LEN + i * NEW_ENTRY_LEN;
            debug_assert!(at + NEW_ENTRY_LEN <= table_end);
            let field = |o| u32_at(at + o).ok_or_else(|| bad(format!("entry {i} truncated")));
            let flags = field(0)? as i32;
            let (key, value) = (field(4)?, field(8)?);
            let hwcap = u64_at(at + 16).ok_or_else(|| bad(format!("entry {i} truncated")))?;
            let name = string_at(key).ok_or_else(|| bad(format!("entry {i}: bad name offset")))?;
            let lib = string_at(value).ok_or_else(|| bad(format!("entry {i}: bad path offset")))?;
            entries.push(LdCacheEntry {
                name: name.to_owned(),
                path: PathBuf::from(lib),
                flags,
                hwcap,
            });
        }
        Ok(LdCache { entries })
    }

    pub fn entries(&self) -> &[LdCacheEntry] {
        &self.entries
    }

    /// Paths recorded for `soname`, baseline builds before glibc-hwcaps
    /// variants (the guest CPU may lack what a variant needs). `abi` is the
    /// `FLAG_REQUIRED_MASK` value of the wanted ABI (see [`abi_flags`]);
    /// `None` accepts any and leaves the check to the caller.
    pub fn lookup(&self, soname: &str, abi: Option<i32>) -> Vec<&Path> {
        let matching = |e: &&LdCacheEntry| {
            let ty = e.flags & FLAG_TYPE_MASK;
            e.name == soname
                && (ty == FLAG_ELF || ty == FLAG_ELF_LIBC6)
                && abi.is_none_or(|a| e.flags & FLAG_REQUIRED_MASK == a)
        };
        let base = self
            .entries
            .iter()
            .filter(matching)
            .filter(|e| !e.is_hwcaps_variant());
        let variants = self
            .entries
            .iter()
            .filter(matching)
            .filter(|e| e.is_hwcaps_variant());
        base.chain(variants).map(|e| e.path.as_path()).collect()
    }
}

/// ldconfig's ABI flag for an ELF class and `e_machine`, where glibc defines
/// one that can be told apart; `None` for the others.
pub fn abi_flags(is_64: bool, machine: u16) -> Option<i32> {
    use object::elf::{EM_386, EM_AARCH64, EM_X86_64};
    match (is_64, machine) {
        (true, EM_X86_64) => Some(0x0300),
        (false, EM_X86_64) => Some(0x0800), // x32
        (true, EM_AARCH64) => Some(0x0a00),
        (false, EM_386) => Some(0x0000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a new-format cache from (flags, name, path, hwcap) rows.
    fn synth(rows: &[(i32, &str, &str, u64)], big: bool) -> Vec<u8> {
        let strings_at = NEW_HEADER_LEN + rows.len() * NEW_ENTRY_LEN;
        let mut strings = Vec::new();
        let mut table = Vec::new();
        let w32 = |v: u32| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        for (flags, name, path, hwcap) in rows {
            let key = (strings_at + strings.len()) as u32;
            strings.extend_from_slice(name.as_bytes());
            strings.push(0);
            let value = (strings_at + strings.len()) as u32;
            strings.extend_from_slice(path.as_bytes());
            strings.push(0);
            table.extend(w32(*flags as u32));
            table.extend(w32(key));
            table.extend(w32(value));
            table.extend(w32(0));
            table.extend(if big {
                hwcap.to_be_bytes()
            } else {
                hwcap.to_le_bytes()
            });
        }
        let mut out = NEW_MAGIC.to_vec();
        out.extend(w32(rows.len() as u32));
        out.extend(w32(strings.len() as u32));
        out.extend([if big { 3 } else { 2 }, 0, 0, 0]);
        out.extend([0u8; 16]);
        out.extend(table);
        out.extend(strings);
        out
    }

    #[test]
    fn parses_synthetic_cache_both_endians() {
        for big in [false, true] {
            let data = synth(
                &[
                    (
                        0x0303,
                        "libz.so.1",
                        "/usr/lib/x86_64-linux-gnu/glibc-hwcaps/x86-64-v3/libz.so.1",
                        HWCAP_EXTENSION | 1,
                    ),
                    (
                        0x0303,
                        "libz.so.1",
                        "/usr/lib/x86_64-linux-gnu/libz.so.1",
                        0,
                    ),
                    (0x0003, "libz.so.1", "/usr/lib/i386-linux-gnu/libz.so.1", 0),
                    (
                        0x0303,
                        "libc.so.6",
                        "/usr/lib/x86_64-linux-gnu/libc.so.6",
                        0,
                    ),
                ],
                big,
            );
            let c = LdCache::parse(&data, Path::new("t")).unwrap();
            assert_eq!(c.entries().len(), 4);
            let z = c.lookup("libz.so.1", abi_flags(true, object::elf::EM_X86_64));
            assert_eq!(
                z,
                [
                    Path::new("/usr/lib/x86_64-linux-gnu/libz.so.1"),
                    Path::new("/usr/lib/x86_64-linux-gnu/glibc-hwcaps/x86-64-v3/libz.so.1")
                ]
            );
            let z32 = c.lookup("libz.so.1", abi_flags(false, object::elf::EM_386));
            assert_eq!(z32, [Path::new("/usr/lib/i386-linux-gnu/libz.so.1")]);
            assert_eq!(c.lookup("libz.so.1", None).len(), 3);
            assert!(c.lookup("libnope.so", None).is_empty());
        }
    }

    #[test]
    fn rejects_garbage_and_truncation() {
        let p = Path::new("t");
        assert!(LdCache::parse(b"hello", p).is_err());
        let data = synth(&[(0x0303, "libc.so.6", "/lib/libc.so.6", 0)], false);
        for cut in [10, NEW_HEADER_LEN + 5, data.len() - 3] {
            assert!(LdCache::parse(&data[..cut], p).is_err(), "cut at {cut}");
        }
        let mut bad_off = data.clone();
        bad_off[NEW_HEADER_LEN + 4..NEW_HEADER_LEN + 8].copy_from_slice(&9999u32.to_le_bytes());
        assert!(LdCache::parse(&bad_off, p).is_err());
    }

    #[test]
    fn old_format_prefix_is_skipped() {
        let new = synth(&[(0x0303, "libc.so.6", "/lib/libc.so.6", 0)], false);
        let mut data = OLD_MAGIC.to_vec();
        data.push(0);
        data.extend(2u32.to_ne_bytes());
        data.extend([0u8; 2 * OLD_ENTRY_LEN]);
        data.resize((data.len() + 7) & !7, 0);
        data.extend(new);
        let c = LdCache::parse(&data, Path::new("t")).unwrap();
        assert_eq!(c.lookup("libc.so.6", None), [Path::new("/lib/libc.so.6")]);
    }

    #[test]
    fn reads_this_machines_cache() {
        let path = Path::new(DEFAULT_PATH);
        let Some(cache) = LdCache::load(path).unwrap() else {
            eprintln!("skipped: {DEFAULT_PATH} does not exist on this machine");
            return;
        };
        assert!(!cache.entries().is_empty());
        let abi = if cfg!(target_arch = "x86_64") {
            abi_flags(true, object::elf::EM_X86_64)
        } else {
            None
        };
        let libc = cache.lookup("libc.so.6", abi);
        assert!(!libc.is_empty(), "libc.so.6 not in {DEFAULT_PATH}");
        assert!(libc[0].exists(), "{} does not exist", libc[0].display());
        for e in cache.entries() {
            assert!(e.path.is_absolute(), "{e:?}");
            assert!(!e.name.contains('/'), "{e:?}");
        }
    }
}
