//! Guest RAM: one memfd, mapped `MAP_SHARED` as a vm-memory
//! [`GuestMemoryMmap`], split around the 32-bit MMIO hole
//! ([`layout::ram_ranges`]). Shared, so the host monitor can map the same
//! file (through `/proc/<pid>/fd/<n>`, or the fd itself) and read what the
//! guest writes while it runs; the low part sits at file offset 0, the high
//! part right after it ([`layout::ram_file_offset`]).

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::PathBuf;
use std::sync::Arc;

use vm_memory::mmap::FromRangesError;
use vm_memory::{FileOffset, GuestAddress, GuestMemoryMmap};

use super::layout;

/// Why guest RAM could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    #[error("guest RAM of {bytes} bytes: {why}")]
    Size { bytes: u64, why: &'static str },
    #[error("memfd_create for guest RAM: {0} (is /dev/shm or memfd usable here?)")]
    Memfd(#[source] io::Error),
    #[error("sizing the guest RAM file to {bytes} bytes: {source} (not enough memory or a memfd size limit)")]
    Resize { bytes: u64, source: io::Error },
    #[error(
        "mapping {bytes} bytes of guest RAM: {source} (check `ulimit -v` and overcommit settings)"
    )]
    Map { bytes: u64, source: FromRangesError },
}

/// Guest RAM and the file behind it.
#[derive(Debug)]
pub struct GuestRam {
    memory: GuestMemoryMmap,
    file: Arc<File>,
    bytes: u64,
}

impl GuestRam {
    /// Maps `bytes` of zeroed guest RAM (a multiple of 4 KiB).
    pub fn new(bytes: u64) -> Result<GuestRam, MemoryError> {
        if bytes == 0 || !bytes.is_multiple_of(0x1000) {
            return Err(MemoryError::Size {
                bytes,
                why: "must be a non-zero multiple of 4 KiB",
            });
        }
        if usize::try_from(bytes).is_err() {
            return Err(MemoryError::Size {
                bytes,
                why: "does not fit this host's address space",
            });
        }
        let file = Arc::new(memfd(c"scxray-guest-ram")?);
        file.set_len(bytes)
            .map_err(|source| MemoryError::Resize { bytes, source })?;
        let mut offset = 0;
        let mut ranges = Vec::new();
        for (start, size) in layout::ram_ranges(bytes) {
            // Fits: size <= bytes, checked above.
            let len = size as usize;
            ranges.push((
                GuestAddress(start),
                len,
                Some(FileOffset::from_arc(file.clone(), offset)),
            ));
            offset += size;
        }
        let memory = GuestMemoryMmap::from_ranges_with_files(ranges)
            .map_err(|source| MemoryError::Map { bytes, source })?;
        Ok(GuestRam {
            memory,
            file,
            bytes,
        })
    }

    pub fn memory(&self) -> &GuestMemoryMmap {
        &self.memory
    }

    /// The RAM file, for a reader in this process.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// A path another process (or this one) can open to map the same RAM.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            self.file.as_raw_fd()
        ))
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

fn memfd(name: &CStr) -> Result<File, MemoryError> {
    // SAFETY: `name` is NUL-terminated; the call only reads it.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(MemoryError::Memfd(io::Error::last_os_error()));
    }
    // SAFETY: `fd` was just returned to us and is owned by nothing else.
    Ok(unsafe { File::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;
    use vm_memory::{Bytes, GuestMemoryBackend, GuestMemoryRegion};

    #[test]
    fn writes_land_in_the_shared_file() {
        let ram = GuestRam::new(512 << 20).unwrap();
        let mem = ram.memory();
        mem.write_obj(0xdead_beef_u32, GuestAddress(0x7000))
            .unwrap();
        assert_eq!(
            mem.read_obj::<u32>(GuestAddress(0x7000)).unwrap(),
            0xdead_beef
        );
        let mut buf = [0u8; 4];
        ram.file().read_exact_at(&mut buf, 0x7000).unwrap();
        assert_eq!(u32::from_le_bytes(buf), 0xdead_beef);
        // And the other way: a write through the file is seen by the guest.
        std::fs::OpenOptions::new()
            .write(true)
            .open(ram.path())
            .unwrap()
            .write_all_at(b"hello", 0x10_0000)
            .unwrap();
        let mut got = [0u8; 5];
        mem.read_slice(&mut got, GuestAddress(0x10_0000)).unwrap();
        assert_eq!(&got, b"hello");
    }

    #[test]
    fn small_guest_is_one_region() {
        let ram = GuestRam::new(512 << 20).unwrap();
        let regions: Vec<_> = ram
            .memory()
            .iter()
            .map(|r| (r.start_addr().0, r.len()))
            .collect();
        assert_eq!(regions, vec![(0, 512 << 20)]);
        assert!(ram
            .memory()
            .read_obj::<u8>(GuestAddress(512 << 20))
            .is_err());
    }

    #[test]
    fn big_guest_skips_the_mmio_hole() {
        let ram = GuestRam::new(5 << 30).unwrap();
        let mem = ram.memory();
        let regions: Vec<_> = mem.iter().map(|r| (r.start_addr().0, r.len())).collect();
        assert_eq!(
            regions,
            vec![(0, 3 << 30), (layout::HIGH_RAM_START, 2 << 30)]
        );
        assert!(mem
            .read_obj::<u8>(GuestAddress(layout::MMIO_HOLE_START))
            .is_err());
        // High RAM sits right after low RAM in the file.
        mem.write_obj(0x5a_u8, GuestAddress(layout::HIGH_RAM_START + 8))
            .unwrap();
        let offset = layout::ram_file_offset(layout::HIGH_RAM_START + 8, 5 << 30).unwrap();
        let mut b = [0u8];
        ram.file().read_exact_at(&mut b, offset).unwrap();
        assert_eq!(b[0], 0x5a);
    }

    #[test]
    fn bad_sizes_are_refused() {
        assert!(matches!(GuestRam::new(0), Err(MemoryError::Size { .. })));
        assert!(matches!(GuestRam::new(4097), Err(MemoryError::Size { .. })));
    }
}
