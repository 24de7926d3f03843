//! Putting a kernel and its initramfs into guest RAM: a bzImage through
//! linux-loader at [`layout::KERNEL_LOAD_ADDR`], entered at its 64-bit
//! entry; the initramfs as high as [`layout::initramfs_addr`] allows.
//! Loading is tested here against a real bzImage when one is cached;
//! booting it has not been seen (no KVM here runs Linux).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use linux_loader::loader::bootparam::setup_header;
use linux_loader::loader::{BzImage, KernelLoader};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use super::layout;

/// `xloadflags` bit: the kernel has the 64-bit entry point.
const XLF_KERNEL_64: u16 = 1;
/// The 64-bit entry's offset from the protected-mode kernel's start
/// (`startup_64`, fixed by the boot protocol).
pub const STARTUP_64_OFFSET: u64 = 0x200;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{}: {source}", path.display())]
    Open { path: PathBuf, source: io::Error },
    #[error("{}: not a loadable bzImage ({source}); pass a vmlinuz/bzImage, not a vmlinux ELF", path.display())]
    BzImage {
        path: PathBuf,
        source: linux_loader::loader::Error,
    },
    #[error("{}: boot protocol {version:#x} has no 64-bit entry (xloadflags {xloadflags:#x}); a 64-bit kernel with protocol 2.12+ is needed", path.display())]
    No64BitEntry {
        path: PathBuf,
        version: u16,
        xloadflags: u16,
    },
    #[error("{}: initramfs of {size} bytes does not fit in {ram_bytes} bytes of guest RAM above the kernel (ends at {kernel_end:#x}); give the guest more memory", path.display())]
    InitramfsTooBig {
        path: PathBuf,
        size: u64,
        ram_bytes: u64,
        kernel_end: u64,
    },
    #[error("{}: writing {size} bytes at {addr:#x} into guest RAM: {source}", path.display())]
    Write {
        path: PathBuf,
        addr: u64,
        size: u64,
        source: vm_memory::GuestMemoryError,
    },
}

/// A kernel in guest RAM.
#[derive(Debug, Clone, Copy)]
pub struct LoadedKernel {
    /// Where its protected-mode code starts.
    pub load_addr: u64,
    /// RIP for the 64-bit entry.
    pub entry: u64,
    /// First byte past what the kernel needs in place: its image or,
    /// larger, the `init_size` it decompresses into.
    pub end: u64,
    /// Its setup header, the start of the zero page's `hdr`.
    pub header: setup_header,
}

fn open(path: &Path) -> Result<File, LoadError> {
    File::open(path).map_err(|source| LoadError::Open {
        path: path.into(),
        source,
    })
}

/// Loads the bzImage at `path` at [`layout::KERNEL_LOAD_ADDR`].
pub fn load_bzimage(mem: &GuestMemoryMmap, path: &Path) -> Result<LoadedKernel, LoadError> {
    let mut file = open(path)?;
    let start = GuestAddress(layout::KERNEL_LOAD_ADDR);
    let loaded = BzImage::load(mem, Some(start), &mut file, Some(start)).map_err(|source| {
        LoadError::BzImage {
            path: path.into(),
            source,
        }
    })?;
    let Some(header) = loaded.setup_header else {
        return Err(LoadError::BzImage {
            path: path.into(),
            source: linux_loader::loader::Error::Bzimage(
                linux_loader::loader::bzimage::Error::InvalidBzImage,
            ),
        });
    };
    let (version, xloadflags) = (header.version, header.xloadflags);
    if version < 0x20c || xloadflags & XLF_KERNEL_64 == 0 {
        return Err(LoadError::No64BitEntry {
            path: path.into(),
            version,
            xloadflags,
        });
    }
    let load_addr = loaded.kernel_load.0;
    let end = loaded
        .kernel_end
        .max(load_addr + u64::from(header.init_size));
    Ok(LoadedKernel {
        load_addr,
        entry: load_addr + STARTUP_64_OFFSET,
        end,
        header,
    })
}

/// Copies the initramfs at `path` high into RAM (below the MMIO hole and
/// the kernel's `initrd_addr_max`, above `kernel`); returns `(address,
/// size)` for the zero page.
pub fn load_initramfs(
    mem: &GuestMemoryMmap,
    ram_bytes: u64,
    kernel: &LoadedKernel,
    path: &Path,
) -> Result<(u64, u64), LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Open {
        path: path.into(),
        source,
    })?;
    let size = bytes.len() as u64;
    let max = match kernel.header.initrd_addr_max {
        0 => 0x37ff_ffff, // the protocol's default before 2.03
        m => u64::from(m),
    };
    let addr = layout::initramfs_addr(ram_bytes, kernel.end, max, size).ok_or_else(|| {
        LoadError::InitramfsTooBig {
            path: path.into(),
            size,
            ram_bytes,
            kernel_end: kernel.end,
        }
    })?;
    mem.write_slice(&bytes, GuestAddress(addr))
        .map_err(|source| LoadError::Write {
            path: path.into(),
            addr,
            size,
            source,
        })?;
    Ok((addr, size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kvm::memory::GuestRam;
    use std::io::Write;

    /// A cached Debian bzImage (`scxray kernel fetch`), or
    /// `$SCXRAY_TEST_BZIMAGE`.
    fn cached_bzimage() -> Option<PathBuf> {
        if let Some(p) = std::env::var_os("SCXRAY_TEST_BZIMAGE") {
            return Some(p.into());
        }
        let home = std::env::var_os("HOME")?;
        let kernels = Path::new(&home).join(".cache/scxray/kernels");
        std::fs::read_dir(kernels)
            .ok()?
            .flatten()
            .map(|e| e.path().join("vmlinuz"))
            .find(|p| p.is_file())
    }

    #[test]
    fn a_real_bzimage_loads_at_1_mib_with_its_64_bit_entry() {
        let Some(path) = cached_bzimage() else {
            eprintln!("skipping: no cached bzImage (run `scxray kernel fetch` or set SCXRAY_TEST_BZIMAGE)");
            return;
        };
        let ram = GuestRam::new(256 << 20).unwrap();
        let k = load_bzimage(ram.memory(), &path).unwrap();
        assert_eq!(k.load_addr, 0x10_0000);
        assert_eq!(k.entry, 0x10_0200);
        assert!(k.end > k.load_addr + (1 << 20), "{k:?}");
        assert_eq!({ k.header.boot_flag }, 0xaa55);
        // The loaded bytes are the image's protected-mode part.
        let image = std::fs::read(&path).unwrap();
        let setup_sects = match image[0x1f1] {
            0 => 4,
            n => n as usize,
        };
        let pm = &image[(setup_sects + 1) * 512..][..64];
        let mut got = [0u8; 64];
        ram.memory()
            .read_slice(&mut got, GuestAddress(0x10_0000))
            .unwrap();
        assert_eq!(&got[..], pm);

        let mut initrd = tempfile::NamedTempFile::new().unwrap();
        initrd.write_all(&[0x5a; 10_000]).unwrap();
        let (at, size) = load_initramfs(ram.memory(), 256 << 20, &k, initrd.path()).unwrap();
        assert_eq!(size, 10_000);
        assert!(at >= k.end && at + size <= 256 << 20 && at % 4096 == 0);
        assert_eq!(
            ram.memory()
                .read_obj::<u8>(GuestAddress(at + 9_999))
                .unwrap(),
            0x5a
        );
    }

    #[test]
    fn a_file_that_is_not_a_bzimage_is_refused_by_name() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"\x7fELF not a bzImage").unwrap();
        let ram = GuestRam::new(16 << 20).unwrap();
        let e = load_bzimage(ram.memory(), f.path()).unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with(&f.path().display().to_string()), "{text}");
        assert!(text.contains("not a vmlinux ELF"), "{text}");
        let missing = load_bzimage(ram.memory(), Path::new("/nonexistent/vmlinuz")).unwrap_err();
        assert!(missing.to_string().starts_with("/nonexistent/vmlinuz: "));
    }
}
