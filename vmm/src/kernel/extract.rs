//! `vmlinux` out of a zstd-compressed boot image, the raw `.BTF` section
//! out of `vmlinux`, and whether a vmlinux carries DWARF ([`elf_debug`]).
//!
//! Like the kernel's own extract-vmlinux: every zstd frame magic in the image
//! is tried until one decompresses to an ELF file. The frame is decoded on
//! its own, so whatever follows it in the image is ignored.

use std::io::Read;
use std::path::{Path, PathBuf};

use object::read::elf::{FileHeader, SectionHeader};
use object::{Object, ObjectSection};

use crate::cancel::Cancel;

/// The magic number that starts a zstd frame.
pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
/// The BTF header magic (0xeB9F, little endian).
pub const BTF_MAGIC: [u8; 2] = [0x9f, 0xeb];
/// A decompressed vmlinux larger than this is refused (a 7.3 cloud kernel is 62 MB).
pub const MAX_VMLINUX: u64 = 2 << 30;
/// The largest zstd window accepted (kernel images use at most 128 MiB).
const MAX_WINDOW: u64 = 512 << 20;
const CHUNK: usize = 1 << 20;
/// Compressed bytes between two progress reports.
const PROGRESS_STEP: usize = 256 << 10;

/// Errors extracting vmlinux or BTF; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} holds no zstd-compressed vmlinux (no zstd frame decompresses to an ELF file); \
         scxray extracts vmlinux from CONFIG_KERNEL_ZSTD images only: pass a build tree \
         (with its vmlinux) to --kernel instead"
    )]
    NoZstdPayload { path: PathBuf },
    #[error("{path}: the zstd frame at offset {offset} is corrupt: {message}")]
    Decompress {
        path: PathBuf,
        offset: usize,
        message: String,
    },
    #[error("{path}: the vmlinux in it is larger than {limit} bytes; refusing")]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{path} is not a readable ELF file: {message}")]
    NotElf { path: PathBuf, message: String },
    #[error("{path} has no .BTF section (a kernel built without CONFIG_DEBUG_INFO_BTF=y)")]
    NoBtf { path: PathBuf },
    #[error("cancelled (Ctrl-C)")]
    Cancelled,
}

/// Decompresses the vmlinux inside a boot image. `path` names the image in
/// errors. `progress` gets (compressed bytes consumed, compressed bytes
/// available) as decoding goes: with the large windows of kernel images the
/// decoder yields output only at the end of the frame, so input is what moves.
pub fn vmlinux_from_image(
    image: &[u8],
    path: &Path,
    cancel: &Cancel,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Vec<u8>, ExtractError> {
    for offset in memchr::memmem::find_iter(image, &ZSTD_MAGIC) {
        if let Some(vmlinux) = decode_frame_at(image, offset, path, cancel, progress)? {
            return Ok(vmlinux);
        }
    }
    Err(ExtractError::NoZstdPayload {
        path: path.to_path_buf(),
    })
}

/// The compressed input, reporting how much the decoder consumed and
/// failing its reads once cancelled.
struct Watched<'a> {
    data: &'a [u8],
    pos: usize,
    reported: usize,
    cancel: &'a Cancel,
    progress: &'a mut dyn FnMut(u64, u64),
}

impl Read for Watched<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.cancel.is_cancelled() {
            return Err(std::io::Error::other("cancelled"));
        }
        let n = buf.len().min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        if self.pos - self.reported >= PROGRESS_STEP {
            self.reported = self.pos;
            (self.progress)(self.pos as u64, self.data.len() as u64);
        }
        Ok(n)
    }
}

/// `Ok(None)` when the frame at `offset` is not a vmlinux (a false magic
/// match, or another payload): the caller tries the next one.
fn decode_frame_at(
    image: &[u8],
    offset: usize,
    path: &Path,
    cancel: &Cancel,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Option<Vec<u8>>, ExtractError> {
    let mut source = Watched {
        data: &image[offset..],
        pos: 0,
        reported: 0,
        cancel,
        progress,
    };
    let Ok(mut decoder) =
        ruzstd::decoding::StreamingDecoder::new_with_max_window_size(&mut source, MAX_WINDOW)
    else {
        if cancel.is_cancelled() {
            return Err(ExtractError::Cancelled);
        }
        return Ok(None);
    };
    let mut out: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; CHUNK];
    let mut checked_elf = false;
    loop {
        let read = decoder.read(&mut buf);
        if cancel.is_cancelled() {
            return Err(ExtractError::Cancelled);
        }
        let n = match read {
            Ok(0) => break,
            Ok(n) => n,
            Err(_) if !checked_elf => return Ok(None),
            Err(e) => {
                return Err(ExtractError::Decompress {
                    path: path.to_path_buf(),
                    offset,
                    message: e.to_string(),
                })
            }
        };
        out.extend_from_slice(&buf[..n]);
        if !checked_elf && out.len() >= 4 {
            if !out.starts_with(b"\x7fELF") {
                return Ok(None);
            }
            checked_elf = true;
        }
        if out.len() as u64 > MAX_VMLINUX {
            return Err(ExtractError::TooLarge {
                path: path.to_path_buf(),
                limit: MAX_VMLINUX,
            });
        }
    }
    if !checked_elf {
        return Ok(None);
    }
    let total = (image.len() - offset) as u64;
    progress(total, total);
    Ok(Some(out))
}

/// The raw bytes of `vmlinux`'s `.BTF` section (what the running kernel
/// exposes as `/sys/kernel/btf/vmlinux`). `path` names the file in errors.
pub fn btf_section<'a>(vmlinux: &'a [u8], path: &Path) -> Result<&'a [u8], ExtractError> {
    let file = object::File::parse(vmlinux).map_err(|e| ExtractError::NotElf {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let section = file
        .section_by_name(".BTF")
        .ok_or_else(|| ExtractError::NoBtf {
            path: path.to_path_buf(),
        })?;
    let data = section.data().map_err(|e| ExtractError::NotElf {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    if !data.starts_with(&BTF_MAGIC) {
        return Err(ExtractError::NotElf {
            path: path.to_path_buf(),
            message: "its .BTF section does not start with the BTF magic".into(),
        });
    }
    Ok(data)
}

/// What an ELF file's section headers say about its debug info.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfDebug {
    /// It has a `.debug_info` section (DWARF).
    pub debug_info: bool,
    /// Its GNU build ID, which a vmlinux and its detached debug info share.
    pub build_id: Option<Vec<u8>>,
}

/// Reads `path`'s section headers (and its notes), not the whole file: a
/// vmlinux with DWARF is hundreds of megabytes.
pub fn elf_debug(path: &Path) -> Result<ElfDebug, ExtractError> {
    let file = std::fs::File::open(path).map_err(|source| ExtractError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let data = object::ReadCache::new(file);
    let not_elf = |e: object::read::Error| ExtractError::NotElf {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    // Kernels scxray boots are x86-64: ELF64 only.
    let header = object::elf::FileHeader64::<object::Endianness>::parse(&data).map_err(not_elf)?;
    let endian = header.endian().map_err(not_elf)?;
    let sections = header.sections(endian, &data).map_err(not_elf)?;
    let debug_info = sections.section_by_name(endian, b".debug_info").is_some();
    let mut build_id = None;
    for section in sections.iter() {
        let Some(mut notes) = section.notes(endian, &data).map_err(not_elf)? else {
            continue;
        };
        while let Some(note) = notes.next().map_err(not_elf)? {
            if note.name() == object::elf::ELF_NOTE_GNU
                && note.n_type(endian) == object::elf::NT_GNU_BUILD_ID
            {
                build_id = Some(note.desc().to_vec());
            }
        }
    }
    Ok(ElfDebug {
        debug_info,
        build_id,
    })
}

/// Sizes of what [`extract_files`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extracted {
    pub vmlinux_bytes: u64,
    pub btf_bytes: u64,
}

/// Writes `vmlinux` and its raw BTF next to each other, from a boot image file.
pub fn extract_files(
    image: &Path,
    vmlinux_out: &Path,
    btf_out: &Path,
    cancel: &Cancel,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Extracted, ExtractError> {
    let data = std::fs::read(image).map_err(|source| ExtractError::Read {
        path: image.to_path_buf(),
        source,
    })?;
    let vmlinux = vmlinux_from_image(&data, image, cancel, progress)?;
    let btf = btf_section(&vmlinux, vmlinux_out)?;
    let write = |path: &Path, bytes: &[u8]| {
        std::fs::write(path, bytes).map_err(|source| ExtractError::Write {
            path: path.to_path_buf(),
            source,
        })
    };
    write(vmlinux_out, &vmlinux)?;
    write(btf_out, btf)?;
    Ok(Extracted {
        vmlinux_bytes: vmlinux.len() as u64,
        btf_bytes: btf.len() as u64,
    })
}

/// Builders of synthetic images for this crate's tests.
#[cfg(test)]
pub(crate) mod testdata {
    /// A minimal little-endian ELF64 file with one `.BTF` section holding
    /// `btf` (plus `.shstrtab`), enough for the `object` crate.
    pub fn tiny_elf_with_btf(btf: &[u8]) -> Vec<u8> {
        tiny_elf(&[(".BTF", 1, btf)])
    }

    /// A minimal little-endian ELF64 file with `sections` (name, `sh_type`,
    /// data) and a `.shstrtab`.
    pub fn tiny_elf(sections: &[(&str, u32, &[u8])]) -> Vec<u8> {
        let mut shstrtab = b"\0".to_vec();
        let mut names = Vec::new();
        for (name, _, _) in sections {
            names.push(shstrtab.len() as u32);
            shstrtab.extend_from_slice(name.as_bytes());
            shstrtab.push(0);
        }
        let shstrtab_name = shstrtab.len() as u32;
        shstrtab.extend_from_slice(b".shstrtab\0");
        let mut f = Vec::new();
        // e_ident: magic, ELFCLASS64, ELFDATA2LSB, EV_CURRENT, then padding.
        f.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
        f.extend_from_slice(&2u16.to_le_bytes()); // e_type: ET_EXEC
        f.extend_from_slice(&62u16.to_le_bytes()); // e_machine: x86-64
        f.extend_from_slice(&1u32.to_le_bytes()); // e_version
        f.extend_from_slice(&0u64.to_le_bytes()); // e_entry
        f.extend_from_slice(&0u64.to_le_bytes()); // e_phoff
        let sh_off_at = f.len();
        f.extend_from_slice(&0u64.to_le_bytes()); // e_shoff, filled in below
        f.extend_from_slice(&0u32.to_le_bytes()); // e_flags
        f.extend_from_slice(&64u16.to_le_bytes()); // e_ehsize
        f.extend_from_slice(&56u16.to_le_bytes()); // e_phentsize
        f.extend_from_slice(&0u16.to_le_bytes()); // e_phnum
        f.extend_from_slice(&64u16.to_le_bytes()); // e_shentsize
        let count = sections.len() as u16 + 2;
        f.extend_from_slice(&count.to_le_bytes()); // e_shnum
        f.extend_from_slice(&(count - 1).to_le_bytes()); // e_shstrndx
        assert_eq!(f.len(), 64);
        let mut placed = Vec::new();
        for (_, _, data) in sections {
            f.resize(f.len().next_multiple_of(8), 0);
            placed.push((f.len(), data.len()));
            f.extend_from_slice(data);
        }
        let str_off = f.len();
        f.extend_from_slice(&shstrtab);
        f.resize(f.len().next_multiple_of(8), 0);
        let sh_off = f.len();
        f[sh_off_at..sh_off_at + 8].copy_from_slice(&(sh_off as u64).to_le_bytes());
        let mut section = |name: u32, kind: u32, off: usize, size: usize| {
            f.extend_from_slice(&name.to_le_bytes());
            f.extend_from_slice(&kind.to_le_bytes());
            f.extend_from_slice(&0u64.to_le_bytes()); // sh_flags
            f.extend_from_slice(&0u64.to_le_bytes()); // sh_addr
            f.extend_from_slice(&(off as u64).to_le_bytes());
            f.extend_from_slice(&(size as u64).to_le_bytes());
            f.extend_from_slice(&0u32.to_le_bytes()); // sh_link
            f.extend_from_slice(&0u32.to_le_bytes()); // sh_info
            f.extend_from_slice(&4u64.to_le_bytes()); // sh_addralign
            f.extend_from_slice(&0u64.to_le_bytes()); // sh_entsize
        };
        section(0, 0, 0, 0);
        for (i, (_, kind, _)) in sections.iter().enumerate() {
            section(names[i], *kind, placed[i].0, placed[i].1);
        }
        section(shstrtab_name, 3, str_off, shstrtab.len()); // SHT_STRTAB
        f
    }

    /// A GNU build ID note (`.notes` in a vmlinux) with `id` as its descriptor.
    pub fn build_id_note(id: &[u8]) -> Vec<u8> {
        let mut n = Vec::new();
        n.extend_from_slice(&4u32.to_le_bytes()); // n_namesz: "GNU\0"
        n.extend_from_slice(&(id.len() as u32).to_le_bytes());
        n.extend_from_slice(&3u32.to_le_bytes()); // NT_GNU_BUILD_ID
        n.extend_from_slice(b"GNU\0");
        n.extend_from_slice(id);
        n.resize(n.len().next_multiple_of(4), 0);
        n
    }

    /// An ELF vmlinux as a `-dbg` package ships it: `.debug_info` and a
    /// build ID.
    pub fn tiny_debug_elf(build_id: &[u8]) -> Vec<u8> {
        tiny_elf(&[
            (".notes", 7, &build_id_note(build_id)),
            (".debug_info", 1, b"\x2a\0\0\0dwarf"),
        ])
    }

    /// Some BTF-looking bytes: the magic, then filler.
    pub fn fake_btf() -> Vec<u8> {
        let mut btf = super::BTF_MAGIC.to_vec();
        btf.extend((0..300u32).map(|i| (i % 251) as u8));
        btf
    }

    /// A fake boot image: `prefix` (a bzImage head), a decoy zstd magic, the
    /// zstd frame holding `vmlinux`, then trailing garbage.
    pub fn fake_vmlinuz(prefix: &[u8], vmlinux: &[u8]) -> Vec<u8> {
        let mut image = prefix.to_vec();
        // A false match: the magic followed by bytes that are no valid frame.
        image.extend_from_slice(&super::ZSTD_MAGIC);
        image.extend_from_slice(&[0xff; 16]);
        image.extend_from_slice(&ruzstd::encoding::compress_to_vec(
            vmlinux,
            ruzstd::encoding::CompressionLevel::Fastest,
        ));
        image.extend_from_slice(b"trailing garbage after the frame \x28\xb5\x2f\xfd\x00");
        image
    }
}

#[cfg(test)]
mod tests {
    use super::testdata::*;
    use super::*;

    fn big_vmlinux() -> Vec<u8> {
        // Larger than one decode chunk, so progress fires more than once.
        let mut v = tiny_elf_with_btf(&fake_btf());
        v.extend((0..3_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
        v
    }

    #[test]
    fn decompresses_past_prefix_decoy_and_trailing_bytes() {
        let vmlinux = big_vmlinux();
        let image = fake_vmlinuz(&[0x55; 5000], &vmlinux);
        let mut seen = Vec::new();
        let out = vmlinux_from_image(&image, Path::new("vmlinuz"), &Cancel::new(), &mut |n, t| {
            seen.push((n, t))
        })
        .unwrap();
        assert_eq!(out.len(), vmlinux.len());
        assert!(out == vmlinux);
        // Reports every 256 KiB of input, then the end.
        assert!(seen.len() >= 2, "{seen:?}");
        assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "{seen:?}");
        let (done, total) = *seen.last().unwrap();
        assert_eq!(done, total);
        assert_eq!(total as usize, image.len() - 5000 - 20);
        assert_eq!(btf_section(&out, Path::new("vmlinux")).unwrap(), fake_btf());
    }

    #[test]
    fn a_frame_that_is_not_elf_is_skipped() {
        let mut image = vec![0u8; 100];
        image.extend_from_slice(&ruzstd::encoding::compress_to_vec(
            &b"not an elf file at all"[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        ));
        let err = vmlinux_from_image(
            &image,
            Path::new("/k/bzImage"),
            &Cancel::new(),
            &mut |_, _| {},
        )
        .unwrap_err();
        assert!(matches!(err, ExtractError::NoZstdPayload { .. }));
        assert!(err.to_string().contains("/k/bzImage"), "{err}");
        let err = vmlinux_from_image(
            b"gzip\x1f\x8b",
            Path::new("x"),
            &Cancel::new(),
            &mut |_, _| {},
        )
        .unwrap_err();
        assert!(matches!(err, ExtractError::NoZstdPayload { .. }));
    }

    #[test]
    fn cancel_stops_decompression() {
        let image = fake_vmlinuz(&[], &big_vmlinux());
        let cancel = Cancel::new();
        cancel.cancel();
        let err = vmlinux_from_image(&image, Path::new("x"), &cancel, &mut |_, _| {}).unwrap_err();
        assert!(matches!(err, ExtractError::Cancelled));
    }

    #[test]
    fn btf_errors() {
        let err = btf_section(b"not elf", Path::new("/k/vmlinux")).unwrap_err();
        assert!(matches!(err, ExtractError::NotElf { .. }), "{err}");
        assert!(err.to_string().contains("/k/vmlinux"));
        let no_magic = tiny_elf_with_btf(b"\0\0\0\0");
        let err = btf_section(&no_magic, Path::new("v")).unwrap_err();
        assert!(err.to_string().contains("BTF magic"), "{err}");
    }

    #[test]
    fn elf_debug_reads_section_headers_and_the_build_id() {
        let dir = tempfile::tempdir().unwrap();
        let dbg = dir.path().join("vmlinux.debug");
        std::fs::write(&dbg, tiny_debug_elf(b"\x12\x34\x56")).unwrap();
        let got = elf_debug(&dbg).unwrap();
        assert!(got.debug_info);
        assert_eq!(got.build_id.as_deref(), Some(&b"\x12\x34\x56"[..]));

        let plain = dir.path().join("vmlinux");
        std::fs::write(&plain, tiny_elf_with_btf(&fake_btf())).unwrap();
        let got = elf_debug(&plain).unwrap();
        assert!(!got.debug_info);
        assert_eq!(got.build_id, None);

        std::fs::write(&plain, b"not elf").unwrap();
        let err = elf_debug(&plain).unwrap_err();
        assert!(matches!(err, ExtractError::NotElf { .. }), "{err}");
        let err = elf_debug(&dir.path().join("gone")).unwrap_err();
        assert!(matches!(err, ExtractError::Read { .. }), "{err}");
    }

    #[test]
    fn extract_files_writes_both() {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("vmlinuz");
        let vmlinux = big_vmlinux();
        std::fs::write(&image, fake_vmlinuz(b"MZ", &vmlinux)).unwrap();
        let (v, b) = (dir.path().join("vmlinux"), dir.path().join("btf"));
        let got = extract_files(&image, &v, &b, &Cancel::new(), &mut |_, _| {}).unwrap();
        assert_eq!(got.vmlinux_bytes, vmlinux.len() as u64);
        assert_eq!(std::fs::read(&b).unwrap(), fake_btf());
        assert_eq!(std::fs::metadata(&v).unwrap().len(), vmlinux.len() as u64);
    }
}
