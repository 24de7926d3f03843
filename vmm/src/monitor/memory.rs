//! Guest RAM, read from the host through vm-memory: the file QEMU backs RAM
//! with (or the own VMM's memfd) mapped as a [`GuestMemoryMmap`] whose
//! regions sit at their guest physical addresses, around the PCI hole
//! ([`layout::ram_regions`](crate::layout::ram_regions)). One reader for
//! both backends.
//!
//! The guest writes this memory while we read it, so every read is a
//! volatile load through vm-memory's [`VolatileRef`](vm_memory::VolatileRef)
//! and [`VolatileArrayRef`](vm_memory::VolatileArrayRef) (never a `&[u8]`,
//! which would promise the bytes do not change, nor `Bytes::read_slice`,
//! which copies with a plain `memcpy`), bounds-checked by vm-memory against
//! the region it lands in: a read that leaves its region (crosses the end of
//! RAM or into the hole) is `None`.

use std::fs::File;
use std::io;
use std::sync::Arc;

use vm_memory::mmap::MmapRegionBuilder;
use vm_memory::{
    Address, FileOffset, GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion,
    GuestRegionMmap, MmapRegion, VolatileMemory, VolatileSlice,
};

use crate::backend::MemoryInfo;
use crate::layout;

use super::MonitorError;

pub struct GuestRam {
    memory: GuestMemoryMmap,
}

impl GuestRam {
    /// Maps the RAM file read-only and shared (reads see the guest's
    /// writes), each part of RAM at its guest physical address. Only what
    /// the file holds is mapped: a shorter file reads as less RAM, never a
    /// `SIGBUS`. `info.low_end` must be a multiple of the page size when
    /// RAM goes on above the hole (the high part is mapped from there).
    pub fn open(info: &MemoryInfo) -> Result<GuestRam, MonitorError> {
        let mut files = Vec::with_capacity(info.files.len());
        for f in &info.files {
            let err = |source| MonitorError::Ram {
                path: f.path.clone(),
                source,
            };
            let file = Arc::new(File::open(&f.path).map_err(err)?);
            let len = file.metadata().map_err(err)?.len();
            files.push((file, len));
        }
        let mut regions = Vec::new();
        for r in layout::ram_regions(info.size, info.low_end) {
            // A region may span files (a NUMA node's file ends inside it):
            // one mapping per piece.
            let mut done = 0;
            while done < r.len {
                let Some((index, within, left)) = info.locate(r.offset + done) else {
                    break;
                };
                let (f, (file, file_len)) = (&info.files[index], &files[index]);
                let want = (r.len - done).min(left);
                let len = want.min(file_len.saturating_sub(within));
                let err = |source| MonitorError::Ram {
                    path: f.path.clone(),
                    source,
                };
                if len > 0 {
                    let size = usize::try_from(len).map_err(|_| {
                        err(io::Error::other("larger than this host's address space"))
                    })?;
                    let map = MmapRegionBuilder::<()>::new(size)
                        .with_file_offset(FileOffset::from_arc(file.clone(), within))
                        .with_mmap_prot(libc::PROT_READ)
                        .with_mmap_flags(libc::MAP_SHARED)
                        .build()
                        .map_err(|e| {
                            err(match e {
                                vm_memory::mmap::MmapRegionError::Mmap(e) => e,
                                e => io::Error::other(e),
                            })
                        })?;
                    let region = GuestRegionMmap::new(map, GuestAddress(r.gpa + done))
                        .ok_or_else(|| err(io::Error::other("guest addresses overflow")))?;
                    regions.push(region);
                }
                // A short file reads as less RAM: skip to the next file.
                done += want;
            }
        }
        let memory = if regions.is_empty() {
            GuestMemoryMmap::default()
        } else {
            GuestMemoryMmap::from_regions(regions).map_err(|e| MonitorError::Ram {
                path: info.path().to_path_buf(),
                source: io::Error::other(e),
            })?
        };
        Ok(GuestRam { memory })
    }

    /// Reads guest RAM someone else already mapped (the own VMM's
    /// [`GuestMemoryMmap`], regions at guest physical addresses). The
    /// regions are shared, not copied.
    pub fn from_memory(memory: GuestMemoryMmap) -> GuestRam {
        GuestRam { memory }
    }

    /// `len` bytes at guest physical `gpa`, if they are all in one region.
    #[inline]
    fn slice(&self, gpa: u64, len: usize) -> Option<VolatileSlice<'_>> {
        let (map, off) = self.region(gpa)?;
        map.get_slice(off, len).ok()
    }

    /// The mapping of the region `gpa` is in, and its offset there. A
    /// scan, not `find_region`'s binary search: there are one or two.
    #[inline]
    fn region(&self, gpa: u64) -> Option<(&MmapRegion, usize)> {
        self.memory.iter().find_map(|r| {
            let off = gpa.wrapping_sub(r.start_addr().raw_value());
            // In the region, so the offset fits its length (a usize).
            (off < r.len()).then(|| (&**r, off as usize))
        })
    }

    /// One volatile load (unaligned ones too; the kernel's fields are
    /// aligned, so a single 4-byte load).
    pub fn read_u32(&self, gpa: u64) -> Option<u32> {
        let (map, off) = self.region(gpa)?;
        Some(map.get_ref::<u32>(off).ok()?.load())
    }

    /// One volatile load, as [`read_u32`](Self::read_u32).
    pub fn read_u64(&self, gpa: u64) -> Option<u64> {
        let (map, off) = self.region(gpa)?;
        Some(map.get_ref::<u64>(off).ok()?.load())
    }

    /// `N` bytes at guest physical `gpa` (a name, a small array), one
    /// volatile load each.
    pub fn read_array<const N: usize>(&self, gpa: u64) -> Option<[u8; N]> {
        let slice = self.slice(gpa, N)?;
        let bytes = slice.get_array_ref::<u8>(0, N).ok()?;
        let mut out = [0; N];
        for (i, b) in out.iter_mut().enumerate() {
            *b = bytes.load(i);
        }
        Some(out)
    }

    /// `len` bytes at guest physical `gpa` (a table of the kernel image,
    /// which is physically contiguous), copied with volatile loads of 8
    /// bytes, then one each for the rest.
    pub fn read_bytes(&self, gpa: u64, len: u64) -> Option<Vec<u8>> {
        let len = usize::try_from(len).ok()?;
        let slice = self.slice(gpa, len)?;
        let mut out = vec![0u8; len];
        let (words, tail) = out.as_chunks_mut::<8>();
        // `VolatileArrayRef::copy_to` of 8-byte elements: a volatile load
        // each (of bytes it takes a `memcpy`, which is why not bytes).
        let n = slice
            .get_array_ref::<[u8; 8]>(0, words.len())
            .ok()?
            .copy_to(words);
        debug_assert_eq!(n, len / 8);
        let rest = slice
            .get_array_ref::<u8>(len - tail.len(), tail.len())
            .ok()?;
        for (i, b) in tail.iter_mut().enumerate() {
            *b = rest.load(i);
        }
        Some(out)
    }

    /// The guest physical address of every 4 KiB page of RAM, low to high.
    pub fn pages(&self) -> impl Iterator<Item = u64> + '_ {
        self.memory.iter().flat_map(|r| {
            let start = r.start_addr().raw_value();
            (0..r.len() / 4096).map(move |i| start + i * 4096)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    const MIB: u64 = 1 << 20;
    const HIGH: u64 = layout::HIGH_RAM_START;

    /// A RAM file for 3 MiB of RAM, 2 MiB of it below the hole, holding
    /// `file_len` bytes that differ from word to word and page to page.
    fn split_ram(dir: &std::path::Path, file_len: u64) -> (MemoryInfo, Vec<u8>) {
        let path = dir.join("ram");
        let bytes: Vec<u8> = (0..file_len).map(|i| (i * 7 + (i >> 12)) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let info = MemoryInfo::one_file(path, 3 * MIB, 2 * MIB);
        (info, bytes)
    }

    fn le64(b: &[u8], off: u64) -> u64 {
        let off = off as usize;
        u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
    }

    fn le32(b: &[u8], off: u64) -> u32 {
        let off = off as usize;
        u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
    }

    #[test]
    fn reads_what_another_writer_puts_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ram");
        let mut bytes = vec![0u8; 8192];
        bytes[0x100..0x104].copy_from_slice(&7u32.to_le_bytes());
        bytes[0x201..0x209].copy_from_slice(&0x1122_3344_5566_7788u64.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let info = MemoryInfo::one_file(path.clone(), 8192, 8192);
        let ram = GuestRam::open(&info).unwrap();
        assert_eq!(ram.read_u32(0x100), Some(7));
        assert_eq!(ram.read_u64(0x201), Some(0x1122_3344_5566_7788));
        assert_eq!(ram.read_u64(8190), None, "crosses the end");
        assert_eq!(ram.read_u32(1 << 40), None, "not RAM");
        // A write after mapping shows: the map is shared.
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.write_all_at(&9u32.to_le_bytes(), 0x100).unwrap();
        assert_eq!(ram.read_u32(0x100), Some(9));
    }

    #[test]
    fn low_and_high_ram_at_their_guest_addresses() {
        let dir = tempfile::tempdir().unwrap();
        let (info, b) = split_ram(dir.path(), 3 * MIB);
        let ram = GuestRam::open(&info).unwrap();
        let low = 2 * MIB;

        // Low RAM: file offset = guest physical.
        assert_eq!(ram.read_u64(0), Some(le64(&b, 0)));
        assert_eq!(ram.read_u64(low - 8), Some(le64(&b, low - 8)));
        assert_eq!(ram.read_u32(low - 4), Some(le32(&b, low - 4)));
        // High RAM: from 4 GiB, at file offset low_end.
        assert_eq!(ram.read_u64(HIGH), Some(le64(&b, low)));
        assert_eq!(ram.read_u32(HIGH + 0x1234), Some(le32(&b, low + 0x1234)));
        assert_eq!(ram.read_u64(HIGH + MIB - 8), Some(le64(&b, 3 * MIB - 8)));
        for gpa in [0, 0x1000, low - 0x1000, HIGH, HIGH + MIB - 0x1000] {
            let off = info.offset_of(gpa).unwrap();
            assert_eq!(ram.read_u64(gpa), Some(le64(&b, off)), "{gpa:#x}");
        }

        // Unaligned reads, in both parts.
        assert_eq!(ram.read_u64(0x201), Some(le64(&b, 0x201)));
        assert_eq!(ram.read_u32(0x3003), Some(le32(&b, 0x3003)));
        assert_eq!(ram.read_u64(HIGH + 5), Some(le64(&b, low + 5)));
        assert_eq!(ram.read_u32(HIGH + 0xfff), Some(le32(&b, low + 0xfff)));

        // Across the end of low RAM (into the hole, not into high RAM's
        // bytes that follow in the file), and in the hole.
        assert_eq!(ram.read_u64(low - 4), None);
        assert_eq!(ram.read_u32(low - 1), None);
        assert_eq!(ram.read_bytes(low - 16, 17), None);
        assert_eq!(ram.read_array::<2>(low - 1), None);
        for gpa in [low, low + 8, 3 << 30, HIGH - 8, HIGH - 1] {
            assert_eq!(ram.read_u32(gpa), None, "{gpa:#x}");
            assert_eq!(ram.read_u64(gpa), None, "{gpa:#x}");
            assert_eq!(ram.read_bytes(gpa, 1), None, "{gpa:#x}");
        }
        // Across and past the end of high RAM.
        assert_eq!(ram.read_u64(HIGH + MIB - 4), None);
        assert_eq!(ram.read_u32(HIGH + MIB - 2), None);
        assert_eq!(ram.read_u32(HIGH + MIB), None);
        assert_eq!(ram.read_bytes(HIGH + MIB - 8, 9), None);
        assert_eq!(ram.read_u64(u64::MAX - 3), None);

        // Byte runs: whole words, a tail, unaligned, up to each end.
        for (gpa, len) in [
            (0, 0),
            (0x10, 64),
            (0x11, 13),
            (0x7, 3),
            (low - 16, 16),
            (low - 13, 13),
            (HIGH, 4096),
            (HIGH + 3, 29),
            (HIGH + MIB - 21, 21),
        ] {
            let off = info.offset_of(gpa).unwrap() as usize;
            assert_eq!(
                ram.read_bytes(gpa, len).as_deref(),
                Some(&b[off..off + len as usize]),
                "{gpa:#x} + {len}"
            );
        }
        let whole_low = ram.read_bytes(0, low).unwrap();
        assert!(whole_low == b[..low as usize]);
        assert_eq!(
            ram.read_array::<10>(HIGH + 0x7f9).as_ref().map(|a| &a[..]),
            Some(&b[(low + 0x7f9) as usize..(low + 0x803) as usize])
        );
        assert_eq!(ram.read_array::<10>(HIGH + MIB - 9), None);

        // Pages: the low part's, then the high part's.
        let pages: Vec<u64> = ram.pages().collect();
        assert_eq!(pages.len(), 768);
        assert_eq!(pages[0], 0);
        assert_eq!(pages[511], low - 4096);
        assert_eq!(pages[512], HIGH);
        assert_eq!(pages[767], HIGH + MIB - 4096);
    }

    #[test]
    fn writes_after_mapping_show_in_both_parts() {
        let dir = tempfile::tempdir().unwrap();
        let (info, _) = split_ram(dir.path(), 3 * MIB);
        let ram = GuestRam::open(&info).unwrap();
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(info.path())
            .unwrap();
        f.write_all_at(&0xdead_beef_u32.to_le_bytes(), 0x40)
            .unwrap();
        f.write_all_at(&0x0102_0304_0506_0708_u64.to_le_bytes(), 2 * MIB + 0x88)
            .unwrap();
        assert_eq!(ram.read_u32(0x40), Some(0xdead_beef));
        assert_eq!(ram.read_u64(HIGH + 0x88), Some(0x0102_0304_0506_0708));
        assert_eq!(
            ram.read_bytes(HIGH + 0x88, 8),
            Some(0x0102_0304_0506_0708_u64.to_le_bytes().to_vec())
        );
    }

    #[test]
    fn a_short_file_is_less_ram() {
        // The file ends half way into high RAM: the rest reads as absent
        // (never touching the mapping past the file's end).
        let dir = tempfile::tempdir().unwrap();
        let (info, b) = split_ram(dir.path(), 2 * MIB + MIB / 2);
        let ram = GuestRam::open(&info).unwrap();
        let end = HIGH + MIB / 2;
        assert_eq!(ram.read_u64(end - 8), Some(le64(&b, 2 * MIB + MIB / 2 - 8)));
        assert_eq!(ram.read_u64(end - 4), None);
        assert_eq!(ram.read_u32(end), None);
        assert_eq!(ram.pages().count(), 512 + 128);

        // And one that ends inside low RAM has no high part at all.
        let (info, _) = split_ram(dir.path(), MIB);
        let ram = GuestRam::open(&info).unwrap();
        assert!(ram.read_u32(MIB - 4).is_some());
        assert_eq!(ram.read_u32(MIB), None);
        assert_eq!(ram.read_u32(HIGH), None);
        assert_eq!(ram.pages().count(), 256);

        // An empty file: no RAM, but it opens.
        std::fs::write(info.path(), b"").unwrap();
        let ram = GuestRam::open(&info).unwrap();
        assert_eq!(ram.read_u32(0), None);
        assert_eq!(ram.pages().count(), 0);
    }

    /// RAM in two files (two NUMA nodes under QEMU) whose boundary falls
    /// inside the part below the hole: each address reads from its file.
    #[test]
    fn ram_split_over_files_reads_from_each() {
        use crate::backend::RamFile;
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("n0"), dir.path().join("n1"));
        let fill =
            |tag: u8, len: u64| -> Vec<u8> { (0..len).map(|i| tag ^ (i >> 12) as u8).collect() };
        std::fs::write(&a, fill(0x10, MIB)).unwrap();
        std::fs::write(&b, fill(0x80, 2 * MIB)).unwrap();
        let info = MemoryInfo {
            files: vec![
                RamFile { path: a, len: MIB },
                RamFile {
                    path: b,
                    len: 2 * MIB,
                },
            ],
            size: 3 * MIB,
            low_end: 2 * MIB,
        };
        let ram = GuestRam::open(&info).unwrap();
        let byte = |gpa: u64| ram.read_u32(gpa).map(|v| v as u8);
        assert_eq!(byte(0), Some(0x10));
        assert_eq!(byte(MIB - 4096), Some(0x10 ^ 255));
        assert_eq!(byte(MIB), Some(0x80), "the second file from its start");
        assert_eq!(byte(2 * MIB - 4096), Some(0x80 ^ 255));
        assert_eq!(
            byte(HIGH),
            Some(0x80),
            "above the hole: the second file's second MiB"
        );
        assert_eq!(ram.read_u32(HIGH + MIB), None);
        assert_eq!(info.locate(MIB + 5), Some((1, 5, 2 * MIB - 5)));
        assert_eq!(info.locate(3 * MIB), None);
    }

    #[test]
    fn open_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing");
        let info = MemoryInfo::one_file(path.clone(), 4096, 4096);
        match GuestRam::open(&info) {
            Err(MonitorError::Ram { path: p, source }) => {
                assert_eq!(p, path);
                assert_eq!(source.kind(), io::ErrorKind::NotFound);
            }
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("opened a missing file"),
        }
    }

    #[test]
    fn reads_memory_mapped_elsewhere() {
        use vm_memory::Bytes;
        let memory = GuestMemoryMmap::from_ranges(&[
            (GuestAddress(0), 0x10_0000),
            (GuestAddress(HIGH), 0x1000),
        ])
        .unwrap();
        memory
            .write_obj(0x1122_3344_u32, GuestAddress(0x500))
            .unwrap();
        memory.write_obj(7u64, GuestAddress(HIGH + 8)).unwrap();
        let ram = GuestRam::from_memory(memory.clone());
        assert_eq!(ram.read_u32(0x500), Some(0x1122_3344));
        assert_eq!(ram.read_u64(HIGH + 8), Some(7));
        assert_eq!(ram.read_u32(0x10_0000), None);
        // Shared with the writer, not a copy.
        memory.write_obj(8u64, GuestAddress(HIGH + 8)).unwrap();
        assert_eq!(ram.read_u64(HIGH + 8), Some(8));
        assert_eq!(ram.pages().count(), 257);
    }
}
