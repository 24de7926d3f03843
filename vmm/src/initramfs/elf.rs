//! What an ELF needs at run time, and where ld.so would find it.
//!
//! [`ElfInfo::read`] reads PT_INTERP and the dynamic section (DT_NEEDED,
//! DT_RPATH, DT_RUNPATH, DT_SONAME) through the program headers, as the
//! loader does, so stripped section headers do not matter; only the headers
//! and the few ranges they point at are read, not the whole file.
//! [`LibraryResolver::closure`] then walks DT_NEEDED breadth-first with
//! glibc's search order: RPATH (of the object and its loaders, unless the
//! object has RUNPATH), extra dirs (like LD_LIBRARY_PATH), RUNPATH,
//! `/etc/ld.so.cache`, the default directories.

use std::collections::{HashSet, VecDeque};
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use object::elf;
use object::read::elf::{Dyn, FileHeader, ProgramHeader};
use object::{FileKind, ReadCache, ReadRef};

use super::ldcache::{self, LdCache, LdCacheError};

#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    #[error("reading {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{} is a malformed ELF file: {why}", path.display())]
    Malformed { path: PathBuf, why: String },
    #[error(
        "{} needs the shared library {library}, which was not found (searched: {}); \
         install the package that provides it, or pass its directory with --lib-dir",
        elf.display(),
        searched_list(searched)
    )]
    MissingLibrary {
        elf: PathBuf,
        library: String,
        searched: Vec<PathBuf>,
    },
    #[error(
        "{} asks for the program interpreter {}, which does not exist on this machine; \
         install the matching libc (or link the program statically)",
        elf.display(),
        interp.display()
    )]
    MissingInterpreter { elf: PathBuf, interp: PathBuf },
    #[error(
        "{} needs version {} of {}, but {} (the one found, via {}) does not provide it \
         (it has: {}); pass the directory of a newer {} with --lib-dir or \
         LD_LIBRARY_PATH, or rebuild against this one",
        .0.elf.display(),
        .0.version,
        .0.library,
        .0.found.display(),
        .0.via,
        provided_list(&.0.provides),
        .0.library
    )]
    MissingVersion(Box<VersionGap>),
    #[error("{}: symlink loop or more than 40 symlinks", path.display())]
    SymlinkLoop { path: PathBuf },
    #[error("{}: path is not valid UTF-8, which guest paths must be", path.display())]
    NonUtf8Path { path: PathBuf },
    #[error(transparent)]
    LdCache(#[from] LdCacheError),
}

fn searched_list(dirs: &[PathBuf]) -> String {
    if dirs.is_empty() {
        return "nothing".into();
    }
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A library that lacks a symbol version its user needs.
#[derive(Debug)]
pub struct VersionGap {
    pub elf: PathBuf,
    /// The DT_NEEDED name.
    pub library: String,
    pub version: String,
    pub found: PathBuf,
    pub via: FoundVia,
    pub provides: Vec<String>,
}

fn provided_list(versions: &[String]) -> String {
    if versions.is_empty() {
        return "no versions".into();
    }
    versions.join(", ")
}

/// The run-time needs of one ELF file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfInfo {
    pub is_64: bool,
    pub machine: u16,
    /// ET_EXEC, ET_DYN, ET_REL...
    pub e_type: u16,
    pub interp: Option<PathBuf>,
    pub needed: Vec<String>,
    pub rpath: Vec<String>,
    pub runpath: Vec<String>,
    pub soname: Option<String>,
}

impl ElfInfo {
    /// `Ok(None)` for a file that is not ELF at all (a script, data).
    pub fn read(path: &Path) -> Result<Option<Self>, ElfError> {
        let file = File::open(path).map_err(|source| ElfError::Io {
            path: path.to_owned(),
            source,
        })?;
        let data = ReadCache::new(file);
        let malformed = |why: &str| ElfError::Malformed {
            path: path.to_owned(),
            why: why.to_owned(),
        };
        match FileKind::parse(&data) {
            Ok(FileKind::Elf32) => parse::<elf::FileHeader32<object::Endianness>, _>(&data)
                .map(Some)
                .map_err(malformed),
            Ok(FileKind::Elf64) => parse::<elf::FileHeader64<object::Endianness>, _>(&data)
                .map(Some)
                .map_err(malformed),
            Ok(_) => Ok(None),
            // Too short to identify, or an unknown magic: not ELF.
            Err(_) => {
                let magic = data.read_bytes_at(0, 4).unwrap_or(&[]);
                if magic == elf::ELFMAG {
                    Err(malformed("unsupported ELF identification"))
                } else {
                    Ok(None)
                }
            }
        }
    }

    /// Whether a loader would accept `other` as a dependency of `self`.
    pub fn compatible(&self, other: &ElfInfo) -> bool {
        self.is_64 == other.is_64 && self.machine == other.machine
    }

    fn is_dynamic(&self) -> bool {
        self.interp.is_some() || !self.needed.is_empty()
    }

    /// Multiarch triplet of Debian-style library directories.
    fn triplet(&self) -> Option<&'static str> {
        match (self.is_64, self.machine) {
            (true, elf::EM_X86_64) => Some("x86_64-linux-gnu"),
            (false, elf::EM_X86_64) => Some("x86_64-linux-gnux32"),
            (false, elf::EM_386) => Some("i386-linux-gnu"),
            (true, elf::EM_AARCH64) => Some("aarch64-linux-gnu"),
            (false, elf::EM_ARM) => Some("arm-linux-gnueabihf"),
            (true, elf::EM_RISCV) => Some("riscv64-linux-gnu"),
            (true, elf::EM_PPC64) => Some("powerpc64le-linux-gnu"),
            (true, elf::EM_S390) => Some("s390x-linux-gnu"),
            _ => None,
        }
    }

    /// The directories that glibc's ld.so searches by itself everywhere
    /// (Fedora's also has /lib64 and /usr/lib64; flagging those for
    /// LD_LIBRARY_PATH costs nothing, missing one breaks the guest).
    fn loader_default_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        if let Some(t) = self.triplet() {
            dirs.push(PathBuf::from(format!("/lib/{t}")));
            dirs.push(PathBuf::from(format!("/usr/lib/{t}")));
        }
        dirs.push("/lib".into());
        dirs.push("/usr/lib".into());
        dirs
    }

    /// The directories searched last here, most specific first: glibc's
    /// defaults of Debian-like and Fedora-like systems together.
    pub fn default_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        if let Some(t) = self.triplet() {
            dirs.push(PathBuf::from(format!("/lib/{t}")));
            dirs.push(PathBuf::from(format!("/usr/lib/{t}")));
        }
        if self.is_64 {
            dirs.push("/lib64".into());
            dirs.push("/usr/lib64".into());
        }
        dirs.push("/lib".into());
        dirs.push("/usr/lib".into());
        dirs
    }
}

fn parse<'data, Elf, R>(data: R) -> Result<ElfInfo, &'static str>
where
    Elf: FileHeader<Endian = object::Endianness>,
    R: ReadRef<'data>,
{
    let header = Elf::parse(data).map_err(|_| "bad ELF header")?;
    let endian = header.endian().map_err(|_| "bad ELF byte order")?;
    let phdrs = header
        .program_headers(endian, data)
        .map_err(|_| "program headers out of bounds")?;
    let mut info = ElfInfo {
        is_64: header.is_type_64(),
        machine: header.e_machine(endian),
        e_type: header.e_type(endian),
        interp: None,
        needed: Vec::new(),
        rpath: Vec::new(),
        runpath: Vec::new(),
        soname: None,
    };
    let mut dynamic = None;
    for ph in phdrs {
        if let Some(interp) = ph
            .interpreter(endian, data)
            .map_err(|_| "PT_INTERP out of bounds or not NUL-terminated")?
        {
            let s = std::str::from_utf8(interp).map_err(|_| "PT_INTERP is not UTF-8")?;
            info.interp = Some(PathBuf::from(s));
        }
        if let Some(d) = ph
            .dynamic(endian, data)
            .map_err(|_| "PT_DYNAMIC out of bounds")?
        {
            dynamic = Some(d);
        }
    }
    let Some(dynamic) = dynamic else {
        return Ok(info);
    };
    let (mut strtab, mut strsz) = (None, None);
    for d in dynamic {
        match d.tag(endian) {
            elf::DT_NULL => break,
            elf::DT_STRTAB => strtab = Some(d.val(endian)),
            elf::DT_STRSZ => strsz = Some(d.val(endian)),
            _ => {}
        }
    }
    let has_strings = dynamic.iter().any(|d| {
        matches!(
            d.tag(endian),
            elf::DT_NEEDED | elf::DT_RPATH | elf::DT_RUNPATH | elf::DT_SONAME
        )
    });
    if !has_strings {
        return Ok(info);
    }
    let (Some(addr), Some(size)) = (strtab, strsz) else {
        return Err("DT_NEEDED without DT_STRTAB/DT_STRSZ");
    };
    // DT_STRTAB is a virtual address: find the PT_LOAD holding it.
    let strings = phdrs
        .iter()
        .filter(|ph| ph.p_type(endian) == elf::PT_LOAD)
        .find_map(|ph| ph.data_range(endian, data, addr, size).ok().flatten())
        .ok_or("DT_STRTAB is not inside a loaded segment")?;
    let string = |off: u64| -> Result<String, &'static str> {
        let s = usize::try_from(off)
            .ok()
            .and_then(|o| strings.get(o..))
            .ok_or("dynamic string offset out of bounds")?;
        let end = s
            .iter()
            .position(|&b| b == 0)
            .ok_or("dynamic string not NUL-terminated")?;
        std::str::from_utf8(&s[..end])
            .map(str::to_owned)
            .map_err(|_| "dynamic string is not UTF-8")
    };
    let split = |s: String| -> Vec<String> {
        s.split(':')
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect()
    };
    for d in dynamic {
        match d.tag(endian) {
            elf::DT_NULL => break,
            elf::DT_NEEDED => info.needed.push(string(d.val(endian))?),
            elf::DT_RPATH => info.rpath.extend(split(string(d.val(endian))?)),
            elf::DT_RUNPATH => info.runpath.extend(split(string(d.val(endian))?)),
            elf::DT_SONAME => info.soname = Some(string(d.val(endian))?),
            _ => {}
        }
    }
    Ok(info)
}

/// How a dependency was found; decides whether the guest can find it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoundVia {
    Interpreter,
    /// The DT_NEEDED name held a '/'.
    Path,
    Rpath,
    ExtraDir,
    Runpath,
    LdCache,
    DefaultDir,
}

impl std::fmt::Display for FoundVia {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FoundVia::Interpreter => "PT_INTERP",
            FoundVia::Path => "its path",
            FoundVia::Rpath => "RPATH",
            FoundVia::ExtraDir => "--lib-dir/LD_LIBRARY_PATH",
            FoundVia::Runpath => "RUNPATH",
            FoundVia::LdCache => "ld.so.cache",
            FoundVia::DefaultDir => "a default directory",
        })
    }
}

/// The symbol versions an object asks of each library (`.gnu.version_r`)
/// and those it defines (`.gnu.version_d`), read through the section
/// headers: ld.so refuses to start a program whose library lacks a version
/// it needs (`version 'LIBBPF_1.5.0' not found`), which in a guest shows only
/// in the scheduler log, so the host checks before booting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SymbolVersions {
    /// (library name as in DT_NEEDED, versions needed from it).
    pub needs: Vec<(String, Vec<String>)>,
    pub defines: Vec<String>,
}

impl SymbolVersions {
    /// Empty for non-ELF files and objects without section headers (the
    /// check is then skipped, never guessed).
    pub fn read(path: &Path) -> Result<Self, ElfError> {
        let file = File::open(path).map_err(|source| ElfError::Io {
            path: path.to_owned(),
            source,
        })?;
        let data = ReadCache::new(file);
        let parsed = match FileKind::parse(&data) {
            Ok(FileKind::Elf32) => versions::<elf::FileHeader32<object::Endianness>, _>(&data),
            Ok(FileKind::Elf64) => versions::<elf::FileHeader64<object::Endianness>, _>(&data),
            _ => return Ok(Self::default()),
        };
        parsed.map_err(|e| ElfError::Malformed {
            path: path.to_owned(),
            why: format!("symbol versions: {e}"),
        })
    }

    /// The versions needed from `library`.
    pub fn needed_from(&self, library: &str) -> &[String] {
        self.needs
            .iter()
            .find(|(l, _)| l == library)
            .map_or(&[], |(_, v)| v.as_slice())
    }
}

fn versions<'data, Elf, R>(data: R) -> object::read::Result<SymbolVersions>
where
    Elf: FileHeader<Endian = object::Endianness>,
    R: ReadRef<'data>,
{
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let header = Elf::parse(data)?;
    let endian = header.endian()?;
    let sections = header.sections(endian, data)?;
    let mut out = SymbolVersions::default();
    if let Some((mut needs, link)) = sections.gnu_verneed(endian, data)? {
        let strings = sections.strings(endian, data, link)?;
        while let Some((need, mut aux)) = needs.next()? {
            let mut names = Vec::new();
            while let Some(a) = aux.next()? {
                names.push(text(a.name(endian, strings)?));
            }
            out.needs.push((text(need.file(endian, strings)?), names));
        }
    }
    if let Some((mut defs, link)) = sections.gnu_verdef(endian, data)? {
        let strings = sections.strings(endian, data, link)?;
        while let Some((def, mut aux)) = defs.next()? {
            // The base definition is the soname, not a version; a
            // definition's first aux names it, the others its parents.
            if def.vd_flags.get(endian) & elf::VER_FLG_BASE != 0 {
                continue;
            }
            if let Some(a) = aux.next()? {
                out.defines.push(text(a.name(endian, strings)?));
            }
        }
    }
    Ok(out)
}

/// One object of a closure: the interpreter or a shared library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The DT_NEEDED name (or the PT_INTERP path).
    pub name: String,
    /// The object that needs it.
    pub needed_by: PathBuf,
    /// Where it is on the host, as found (symlinks not resolved, like ld.so).
    pub host: PathBuf,
    /// Where the guest loader will look for it. Equal to `host` except for
    /// libraries found through `$ORIGIN` of a binary placed elsewhere.
    pub guest: String,
    pub via: FoundVia,
    /// Found through ld.so.cache or an extra dir in a directory the guest
    /// loader does not search by default (the guest has no ld.so.cache):
    /// the guest needs its directory in LD_LIBRARY_PATH.
    pub needs_library_path: bool,
}

impl Dependency {
    /// Whether `guest` mirrors the host path, symlinks included.
    pub fn at_host_path(&self) -> bool {
        Path::new(&self.guest) == self.host
    }
}

/// Resolves shared-library closures the way glibc's ld.so would on this host.
#[derive(Debug, Clone, Default)]
pub struct LibraryResolver {
    ld_cache: Option<LdCache>,
    extra_dirs: Vec<PathBuf>,
    default_dirs: Option<Vec<PathBuf>>,
}

impl LibraryResolver {
    /// Uses this machine's `/etc/ld.so.cache` when it has one.
    pub fn from_host() -> Result<Self, ElfError> {
        Ok(LibraryResolver {
            ld_cache: LdCache::load(Path::new(ldcache::DEFAULT_PATH))?,
            ..Self::default()
        })
    }

    /// Neither ld.so.cache nor default dirs: only RPATH/RUNPATH and
    /// [`LibraryResolver::extra_dir`]. For tests and sysroots.
    pub fn isolated() -> Self {
        LibraryResolver {
            default_dirs: Some(Vec::new()),
            ..Self::default()
        }
    }

    pub fn with_ld_cache(mut self, cache: Option<LdCache>) -> Self {
        self.ld_cache = cache;
        self
    }

    /// A directory searched like an LD_LIBRARY_PATH entry.
    pub fn extra_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.extra_dirs.push(dir.into());
        self
    }

    /// Every object `root` needs at run time, interpreter first, then
    /// libraries breadth-first in load order. `guest` is where `root` will be
    /// in the guest, for `$ORIGIN`. Empty for static binaries and non-ELF.
    pub fn closure(&self, root: &Path, guest: &str) -> Result<Vec<Dependency>, ElfError> {
        let Some(info) = ElfInfo::read(root)? else {
            return Ok(Vec::new());
        };
        if !info.is_dynamic() {
            return Ok(Vec::new());
        }
        // ld.so computes the executable's $ORIGIN from its real path.
        let real = std::fs::canonicalize(root).map_err(|source| ElfError::Io {
            path: root.to_owned(),
            source,
        })?;
        let mut out = Vec::new();
        // Names already satisfied, as ld.so matches DT_NEEDED against the
        // names and sonames of what is loaded.
        let mut loaded: HashSet<String> = HashSet::new();
        if let Some(interp) = &info.interp {
            let interp_info = match ElfInfo::read(interp) {
                Ok(Some(i)) => i,
                Ok(None) | Err(ElfError::Io { .. }) => {
                    return Err(ElfError::MissingInterpreter {
                        elf: root.to_owned(),
                        interp: interp.clone(),
                    })
                }
                Err(e) => return Err(e),
            };
            let name = utf8(interp)?.to_owned();
            if let Some(s) = interp_info.soname {
                loaded.insert(s);
            }
            if let Some(base) = interp.file_name().and_then(|n| n.to_str()) {
                loaded.insert(base.to_owned());
            }
            loaded.insert(name.clone());
            out.push(Dependency {
                guest: name.clone(),
                name,
                needed_by: root.to_owned(),
                host: interp.clone(),
                via: FoundVia::Interpreter,
                needs_library_path: false,
            });
        }
        let root_obj = Loaded {
            host: root.to_owned(),
            host_origin: parent(&real),
            guest_origin: parent(Path::new(guest)),
            info,
            loader: None,
        };
        let mut objects = vec![root_obj];
        let mut queue = VecDeque::from([0usize]);
        while let Some(idx) = queue.pop_front() {
            let needed = objects[idx].info.needed.clone();
            for name in needed {
                if loaded.contains(&name) {
                    continue;
                }
                let (found, dep_info) = self.find(&objects, idx, &name)?;
                check_versions(&objects[idx].host, &name, &found)?;
                loaded.insert(name.clone());
                if let Some(s) = &dep_info.soname {
                    loaded.insert(s.clone());
                }
                let guest_path = found.guest.clone();
                let needs_library_path = matches!(
                    found.via,
                    FoundVia::LdCache | FoundVia::ExtraDir | FoundVia::DefaultDir
                ) && !objects[idx]
                    .info
                    .loader_default_dirs()
                    .contains(&parent(&found.host));
                out.push(Dependency {
                    needs_library_path,
                    name,
                    needed_by: objects[idx].host.clone(),
                    host: found.host.clone(),
                    guest: guest_path.clone(),
                    via: found.via,
                });
                objects.push(Loaded {
                    host_origin: parent(&found.host),
                    guest_origin: parent(Path::new(&guest_path)),
                    host: found.host,
                    info: dep_info,
                    loader: Some(idx),
                });
                queue.push_back(objects.len() - 1);
            }
        }
        Ok(out)
    }

    fn find(
        &self,
        objects: &[Loaded],
        idx: usize,
        name: &str,
    ) -> Result<(Candidate, ElfInfo), ElfError> {
        let obj = &objects[idx];
        let mut tried = Vec::new();
        let mut cands: Vec<(PathBuf, PathBuf, FoundVia)> = Vec::new(); // (host dir or path, guest, via)
        if name.contains('/') {
            cands.push((name.into(), name.into(), FoundVia::Path));
        } else {
            let mut dir_cands = Vec::new();
            if obj.info.runpath.is_empty() {
                // RPATH of the object, then of each object that loaded it.
                let mut cur = Some(idx);
                while let Some(i) = cur {
                    let o = &objects[i];
                    for d in &o.info.rpath {
                        dir_cands.push((o.expand(d), FoundVia::Rpath));
                    }
                    cur = o.loader;
                }
            }
            for d in &self.extra_dirs {
                dir_cands.push(((d.clone(), d.clone()), FoundVia::ExtraDir));
            }
            for d in &obj.info.runpath {
                dir_cands.push((obj.expand(d), FoundVia::Runpath));
            }
            for ((h, g), via) in dir_cands {
                cands.push((h.join(name), g.join(name), via));
            }
            if let Some(cache) = &self.ld_cache {
                let abi = ldcache::abi_flags(obj.info.is_64, obj.info.machine);
                for p in cache.lookup(name, abi) {
                    cands.push((p.to_owned(), p.to_owned(), FoundVia::LdCache));
                }
            }
            let defaults = match &self.default_dirs {
                Some(d) => d.clone(),
                None => obj.info.default_dirs(),
            };
            for d in defaults {
                let p = d.join(name);
                cands.push((p.clone(), p, FoundVia::DefaultDir));
            }
        }
        for (host, guest, via) in cands {
            let dir = parent(&host);
            if via != FoundVia::LdCache && !tried.contains(&dir) {
                tried.push(dir);
            }
            if !host.is_file() {
                continue;
            }
            // Like ld.so, skip a library of another class or machine
            // (a 32-bit one in /usr/lib, say) and keep searching.
            match ElfInfo::read(&host) {
                Ok(Some(info)) if obj.info.compatible(&info) => {
                    let guest = utf8(&normalize(&guest))?.to_owned();
                    return Ok((Candidate { host, guest, via }, info));
                }
                Ok(_) | Err(ElfError::Io { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        if self.ld_cache.is_some() {
            tried.push(PathBuf::from(ldcache::DEFAULT_PATH));
        }
        Err(ElfError::MissingLibrary {
            elf: obj.host.clone(),
            library: name.to_owned(),
            searched: tried,
        })
    }
}

struct Candidate {
    host: PathBuf,
    guest: String,
    via: FoundVia,
}

/// Fails, as ld.so would at start, when `found` lacks a version that `elf`
/// needs from the library it knows as `name`.
fn check_versions(elf: &Path, name: &str, found: &Candidate) -> Result<(), ElfError> {
    let wanted = SymbolVersions::read(elf)?;
    let wanted = wanted.needed_from(name);
    if wanted.is_empty() {
        return Ok(());
    }
    let have = SymbolVersions::read(&found.host)?;
    // A library without version definitions only earns a warning from ld.so
    // ("no version information available"); no section headers: unknown.
    if have.defines.is_empty() {
        return Ok(());
    }
    match wanted.iter().find(|v| !have.defines.contains(v)) {
        None => Ok(()),
        Some(missing) => Err(ElfError::MissingVersion(Box::new(VersionGap {
            elf: elf.to_owned(),
            library: name.to_owned(),
            version: missing.clone(),
            found: found.host.clone(),
            via: found.via,
            provides: have.defines,
        }))),
    }
}

struct Loaded {
    host: PathBuf,
    host_origin: PathBuf,
    guest_origin: PathBuf,
    info: ElfInfo,
    loader: Option<usize>,
}

impl Loaded {
    /// Expands `$ORIGIN`, `$LIB` and `$PLATFORM` in an RPATH/RUNPATH entry,
    /// once for the host and once for the guest.
    fn expand(&self, dir: &str) -> (PathBuf, PathBuf) {
        let lib = match self.info.triplet() {
            Some(t) => format!("lib/{t}"),
            None => "lib".to_owned(),
        };
        let platform = match self.info.machine {
            elf::EM_X86_64 => "x86_64",
            elf::EM_AARCH64 => "aarch64",
            elf::EM_386 => "i686",
            _ => "",
        };
        let sub = |origin: &Path| {
            let o = origin.to_string_lossy();
            dir.replace("${ORIGIN}", &o)
                .replace("$ORIGIN", &o)
                .replace("${LIB}", &lib)
                .replace("$LIB", &lib)
                .replace("${PLATFORM}", platform)
                .replace("$PLATFORM", platform)
        };
        (
            normalize(Path::new(&sub(&self.host_origin))),
            normalize(Path::new(&sub(&self.guest_origin))),
        )
    }
}

fn parent(p: &Path) -> PathBuf {
    p.parent()
        .map(Path::to_owned)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// Lexical normalization ("a/./b/../c" → "a/c"), as ld.so does for search
/// paths; not a symlink resolution.
pub(crate) fn normalize(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            // ".." at the root stays at the root.
            Component::ParentDir => {
                if !out.pop() && !out.has_root() {
                    out.push("..");
                }
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn utf8(p: &Path) -> Result<&str, ElfError> {
    p.to_str()
        .ok_or_else(|| ElfError::NonUtf8Path { path: p.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_is_lexical() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), Path::new("/a/c"));
        assert_eq!(normalize(Path::new("/../x")), Path::new("/x"));
    }

    #[test]
    fn non_elf_and_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("s.sh");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        assert_eq!(ElfInfo::read(&script).unwrap(), None);
        let r = LibraryResolver::isolated();
        assert!(r.closure(&script, "/s.sh").unwrap().is_empty());
        let missing = dir.path().join("nope");
        assert!(matches!(
            ElfInfo::read(&missing),
            Err(ElfError::Io { path, .. }) if path == missing
        ));
        let bad = dir.path().join("bad");
        std::fs::write(&bad, b"\x7fELF\x02\x01\x01\0garbage").unwrap();
        assert!(matches!(
            ElfInfo::read(&bad),
            Err(ElfError::Malformed { .. })
        ));
    }
}
