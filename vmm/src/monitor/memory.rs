//! Guest RAM, read from the host through the file QEMU backs it with.
//!
//! The guest writes this memory while we read it, so every read is a
//! volatile load through a raw pointer (never a `&[u8]`, which would promise
//! the bytes do not change), bounds-checked against the RAM map.

use std::fs::File;

use memmap2::Mmap;

use crate::backend::MemoryInfo;

use super::MonitorError;

pub struct GuestRam {
    map: Mmap,
    info: MemoryInfo,
}

impl GuestRam {
    /// Maps the RAM file read-only and shared: reads see the guest's writes.
    pub fn open(info: &MemoryInfo) -> Result<GuestRam, MonitorError> {
        let io = |source| MonitorError::Ram {
            path: info.path.clone(),
            source,
        };
        let file = File::open(&info.path).map_err(io)?;
        // SAFETY: the mapping is read-only and only read through volatile
        // loads below, so the guest changing it underneath is fine.
        let map = unsafe { Mmap::map(&file) }.map_err(io)?;
        Ok(GuestRam {
            map,
            info: info.clone(),
        })
    }

    /// The file offset of `len` bytes at guest physical `gpa`, if they are
    /// all in the file.
    fn offset(&self, gpa: u64, len: u64) -> Option<usize> {
        let off = self.info.offset_of(gpa)?;
        let end = off.checked_add(len)?;
        (end <= self.map.len() as u64).then_some(off as usize)
    }

    pub fn read_u32(&self, gpa: u64) -> Option<u32> {
        let off = self.offset(gpa, 4)?;
        // SAFETY: `off..off + 4` is inside the mapping (checked above).
        let p = unsafe { self.map.as_ptr().add(off) };
        Some(if p.align_offset(4) == 0 {
            // SAFETY: in bounds and aligned.
            unsafe { std::ptr::read_volatile(p.cast::<u32>()) }
        } else {
            u32::from_le_bytes(self.bytes::<4>(off))
        })
    }

    pub fn read_u64(&self, gpa: u64) -> Option<u64> {
        let off = self.offset(gpa, 8)?;
        // SAFETY: `off..off + 8` is inside the mapping (checked above).
        let p = unsafe { self.map.as_ptr().add(off) };
        Some(if p.align_offset(8) == 0 {
            // SAFETY: in bounds and aligned.
            unsafe { std::ptr::read_volatile(p.cast::<u64>()) }
        } else {
            u64::from_le_bytes(self.bytes::<8>(off))
        })
    }

    /// `N` bytes at guest physical `gpa` (a name, a small array), one
    /// volatile load each.
    pub fn read_array<const N: usize>(&self, gpa: u64) -> Option<[u8; N]> {
        let off = self.offset(gpa, N as u64)?;
        Some(self.bytes::<N>(off))
    }

    /// `len` bytes at guest physical `gpa` (a table of the kernel image,
    /// which is physically contiguous), copied with volatile loads.
    pub fn read_bytes(&self, gpa: u64, len: u64) -> Option<Vec<u8>> {
        let off = self.offset(gpa, len)?;
        let mut out = Vec::with_capacity(len as usize);
        let words = len as usize / 8;
        for i in 0..words {
            // SAFETY: `off..off + len` is inside the mapping (checked above).
            let p = unsafe { self.map.as_ptr().add(off + 8 * i) };
            // SAFETY: in bounds; unaligned loads are allowed this way.
            let w = unsafe { std::ptr::read_volatile(p.cast::<[u8; 8]>()) };
            out.extend_from_slice(&w);
        }
        for i in 8 * words..len as usize {
            // SAFETY: in bounds (checked above).
            out.push(unsafe { std::ptr::read_volatile(self.map.as_ptr().add(off + i)) });
        }
        Some(out)
    }

    /// The guest physical address of every 4 KiB page in the RAM file.
    pub fn pages(&self) -> impl Iterator<Item = u64> + '_ {
        let len = (self.map.len() as u64).min(self.info.size);
        let low_end = self.info.low_end;
        (0..len / 4096).map(move |i| {
            let off = i * 4096;
            if off < low_end {
                off
            } else {
                off - low_end + crate::layout::HIGH_RAM_START
            }
        })
    }

    /// `N` bytes at file offset `off`, one volatile load each (unaligned
    /// fields only; the kernel's are aligned).
    fn bytes<const N: usize>(&self, off: usize) -> [u8; N] {
        let mut out = [0; N];
        for (i, b) in out.iter_mut().enumerate() {
            // SAFETY: callers checked `off..off + N` is in bounds.
            *b = unsafe { std::ptr::read_volatile(self.map.as_ptr().add(off + i)) };
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_another_writer_puts_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ram");
        let mut bytes = vec![0u8; 8192];
        bytes[0x100..0x104].copy_from_slice(&7u32.to_le_bytes());
        bytes[0x201..0x209].copy_from_slice(&0x1122_3344_5566_7788u64.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let info = MemoryInfo {
            path: path.clone(),
            size: 8192,
            low_end: 8192,
        };
        let ram = GuestRam::open(&info).unwrap();
        assert_eq!(ram.read_u32(0x100), Some(7));
        assert_eq!(ram.read_u64(0x201), Some(0x1122_3344_5566_7788));
        assert_eq!(ram.read_u64(8190), None, "crosses the end");
        assert_eq!(ram.read_u32(1 << 40), None, "not RAM");
        // A write after mapping shows: the map is shared.
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.write_all_at(&9u32.to_le_bytes(), 0x100).unwrap();
        assert_eq!(ram.read_u32(0x100), Some(9));
    }
}
