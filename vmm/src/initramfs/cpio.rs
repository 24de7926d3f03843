//! The "newc" cpio format (`070701`), the one the kernel unpacks into its
//! initial rootfs: a writer that streams entries to any [`Write`], and a small
//! strict reader used by tests and by anyone checking what an archive holds.
//!
//! Everything written is reproducible: uid/gid 0, mtime 0, inode numbers
//! assigned in order, no host metadata beyond what the caller passes.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// File type bits of `st_mode`, as newc stores them.
pub const S_IFMT: u32 = 0o170_000;
pub const S_IFDIR: u32 = 0o040_000;
pub const S_IFREG: u32 = 0o100_000;
pub const S_IFLNK: u32 = 0o120_000;
pub const S_IFCHR: u32 = 0o020_000;
pub const S_IFBLK: u32 = 0o060_000;

const MAGIC: &[u8; 6] = b"070701";
const HEADER_LEN: usize = 110;
const TRAILER: &str = "TRAILER!!!";
/// The kernel copies names into a PATH_MAX buffer.
const MAX_NAME: usize = 4095;

#[derive(Debug, thiserror::Error)]
pub enum CpioError {
    #[error("cpio entry name {name:?} is invalid: {why}")]
    InvalidName { name: String, why: &'static str },
    #[error("{name}: {size} bytes is over the newc limit of 4 GiB - 1")]
    TooLarge { name: String, size: u64 },
    #[error("{}: changed while it was archived ({expected} bytes expected, {actual} read)", path.display())]
    SizeMismatch {
        path: PathBuf,
        expected: u64,
        actual: u64,
    },
    #[error("reading {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("writing the cpio archive: {0}")]
    Write(#[source] io::Error),
    #[error("malformed cpio archive at byte {offset}: {why}")]
    Malformed { offset: usize, why: String },
}

/// Streams a newc archive. Call [`CpioWriter::finish`] to write the trailer;
/// dropping the writer without it leaves an archive the kernel rejects.
pub struct CpioWriter<W: Write> {
    out: W,
    next_ino: u32,
    written: u64,
    entries: u64,
}

impl<W: Write> CpioWriter<W> {
    pub fn new(out: W) -> Self {
        Self::with_first_inode(out, 1)
    }

    /// Starts inode numbers at `first`. A later segment appended to an
    /// earlier one uses a distinct range so no two entries share an inode.
    pub fn with_first_inode(out: W, first: u32) -> Self {
        CpioWriter {
            out,
            next_ino: first.max(1),
            written: 0,
            entries: 0,
        }
    }

    /// Bytes written so far, padding included.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Entries written so far, the trailer excluded.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    pub fn dir(&mut self, name: &str, perm: u32) -> Result<(), CpioError> {
        self.header(name, S_IFDIR | (perm & 0o7777), 2, 0, (0, 0))
    }

    pub fn file(&mut self, name: &str, perm: u32, data: &[u8]) -> Result<(), CpioError> {
        let size = data.len() as u64;
        self.header(name, S_IFREG | (perm & 0o7777), 1, size, (0, 0))?;
        self.raw(data)?;
        self.pad()
    }

    /// A regular file whose `size` bytes come from `reader`; fails if the
    /// reader yields a different amount (`path` names it in the error).
    pub fn file_from_reader(
        &mut self,
        name: &str,
        perm: u32,
        size: u64,
        reader: &mut dyn Read,
        path: &Path,
    ) -> Result<(), CpioError> {
        self.header(name, S_IFREG | (perm & 0o7777), 1, size, (0, 0))?;
        // One byte more than announced is enough to tell a grown file.
        let mut limited = reader.take(size + 1);
        let mut buf = vec![0u8; 64 * 1024];
        let mut copied = 0u64;
        loop {
            let n = match limited.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(CpioError::Read {
                        path: path.to_owned(),
                        source,
                    })
                }
            };
            if copied + n as u64 > size {
                return Err(CpioError::SizeMismatch {
                    path: path.to_owned(),
                    expected: size,
                    actual: copied + n as u64,
                });
            }
            self.raw(&buf[..n])?;
            copied += n as u64;
        }
        if copied != size {
            return Err(CpioError::SizeMismatch {
                path: path.to_owned(),
                expected: size,
                actual: copied,
            });
        }
        self.pad()
    }

    /// A regular file streamed from the host file `path`, which must still
    /// have `size` bytes (the size the caller planned with).
    pub fn file_from_host(
        &mut self,
        name: &str,
        perm: u32,
        path: &Path,
        size: u64,
    ) -> Result<(), CpioError> {
        let mut f = File::open(path).map_err(|source| CpioError::Read {
            path: path.to_owned(),
            source,
        })?;
        self.file_from_reader(name, perm, size, &mut f, path)
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> Result<(), CpioError> {
        if target.is_empty() || target.contains('\0') {
            return Err(CpioError::InvalidName {
                name: name.to_owned(),
                why: "symlink target is empty or holds a NUL",
            });
        }
        let data = target.as_bytes();
        self.header(name, S_IFLNK | 0o777, 1, data.len() as u64, (0, 0))?;
        self.raw(data)?;
        self.pad()
    }

    pub fn char_device(
        &mut self,
        name: &str,
        perm: u32,
        major: u32,
        minor: u32,
    ) -> Result<(), CpioError> {
        self.header(name, S_IFCHR | (perm & 0o7777), 1, 0, (major, minor))
    }

    pub fn block_device(
        &mut self,
        name: &str,
        perm: u32,
        major: u32,
        minor: u32,
    ) -> Result<(), CpioError> {
        self.header(name, S_IFBLK | (perm & 0o7777), 1, 0, (major, minor))
    }

    /// Writes `TRAILER!!!` and flushes; the archive ends 4-byte aligned, so
    /// another archive can be appended right after it.
    pub fn finish(mut self) -> Result<W, CpioError> {
        let name = TRAILER;
        self.write_header(name, 0, 0, 1, 0, (0, 0))?;
        self.out.flush().map_err(CpioError::Write)?;
        Ok(self.out)
    }

    fn header(
        &mut self,
        name: &str,
        mode: u32,
        nlink: u32,
        size: u64,
        rdev: (u32, u32),
    ) -> Result<(), CpioError> {
        let name = check_name(name)?;
        let ino = self.next_ino;
        self.next_ino = self.next_ino.wrapping_add(1).max(1);
        self.entries += 1;
        self.write_header(name, ino, mode, nlink, size, rdev)
    }

    fn write_header(
        &mut self,
        name: &str,
        ino: u32,
        mode: u32,
        nlink: u32,
        size: u64,
        rdev: (u32, u32),
    ) -> Result<(), CpioError> {
        let size32 = u32::try_from(size).map_err(|_| CpioError::TooLarge {
            name: name.to_owned(),
            size,
        })?;
        let namesize = name.len() as u32 + 1;
        let fields = [
            ino, mode, 0, // uid
            0, // gid
            nlink, 0, // mtime: fixed, so archives are reproducible
            size32, 0, // devmajor
            0, // devminor
            rdev.0, rdev.1, namesize, 0, // check: unused by newc
        ];
        let mut hdr = Vec::with_capacity(HEADER_LEN + name.len() + 4);
        hdr.extend_from_slice(MAGIC);
        for f in fields {
            hdr.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        hdr.extend_from_slice(name.as_bytes());
        hdr.push(0);
        self.raw(&hdr)?;
        self.pad()
    }

    fn raw(&mut self, data: &[u8]) -> Result<(), CpioError> {
        self.out.write_all(data).map_err(CpioError::Write)?;
        self.written += data.len() as u64;
        Ok(())
    }

    /// newc aligns both the header+name and the data to 4 bytes.
    fn pad(&mut self) -> Result<(), CpioError> {
        let n = (4 - (self.written % 4) as usize) % 4;
        self.raw(&[0u8; 3][..n])
    }
}

/// Names are stored relative ("bin/sh"): the kernel accepts either form and
/// this is what `find . | cpio -o` produces without the "./".
fn check_name(name: &str) -> Result<&str, CpioError> {
    let bad = |why| CpioError::InvalidName {
        name: name.to_owned(),
        why,
    };
    let rel = name.trim_start_matches('/');
    if rel.is_empty() {
        return Err(bad("empty (the root directory needs no entry)"));
    }
    if rel.len() > MAX_NAME {
        return Err(bad("longer than PATH_MAX"));
    }
    if rel.contains('\0') {
        return Err(bad("holds a NUL byte"));
    }
    if rel == TRAILER {
        return Err(bad("is the end-of-archive marker"));
    }
    if rel
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err(bad("has an empty, '.' or '..' component"));
    }
    Ok(rel)
}

/// One entry read back from an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpioEntry {
    pub name: String,
    pub ino: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub mtime: u32,
    pub rdev_major: u32,
    pub rdev_minor: u32,
    pub data: Vec<u8>,
}

impl CpioEntry {
    pub fn file_type(&self) -> u32 {
        self.mode & S_IFMT
    }
}

/// Parses one or more concatenated newc archives, each ending with its
/// trailer. Checks magic, hex fields, alignment and that every archive is
/// terminated; zero padding between archives is allowed, as the kernel does.
pub fn read_archives(buf: &[u8]) -> Result<Vec<CpioEntry>, CpioError> {
    let mut entries = Vec::new();
    let mut pos = 0usize;
    let mut in_archive = false;
    while pos < buf.len() {
        if !in_archive && buf[pos] == 0 {
            pos += 1;
            continue;
        }
        let bad = |offset: usize, why: String| CpioError::Malformed { offset, why };
        if !pos.is_multiple_of(4) {
            return Err(bad(pos, "header is not 4-byte aligned".into()));
        }
        let hdr = buf
            .get(pos..pos + HEADER_LEN)
            .ok_or_else(|| bad(pos, "truncated header".into()))?;
        if &hdr[..6] != MAGIC {
            return Err(bad(pos, format!("bad magic {:?}", &hdr[..6])));
        }
        let mut fields = [0u32; 13];
        for (i, f) in fields.iter_mut().enumerate() {
            let s = &hdr[6 + i * 8..14 + i * 8];
            let s = std::str::from_utf8(s).map_err(|_| bad(pos, "non-ASCII field".into()))?;
            *f = u32::from_str_radix(s, 16)
                .map_err(|_| bad(pos, format!("field {i} is not hex: {s:?}")))?;
        }
        let [ino, mode, uid, gid, nlink, mtime, size, _maj, _min, rmaj, rmin, namesize, _check] =
            fields;
        let name_start = pos + HEADER_LEN;
        let name_end = name_start + namesize as usize;
        let name_bytes = buf
            .get(name_start..name_end)
            .ok_or_else(|| bad(pos, "truncated name".into()))?;
        let Some((&0, name)) = name_bytes.split_last() else {
            return Err(bad(pos, "name is not NUL-terminated".into()));
        };
        let name =
            String::from_utf8(name.to_vec()).map_err(|_| bad(pos, "name is not UTF-8".into()))?;
        let data_start = align4(name_end);
        let data_end = data_start + size as usize;
        let data = buf
            .get(data_start..data_end)
            .ok_or_else(|| bad(pos, format!("truncated data of {name}")))?;
        if buf[name_end..data_start.min(buf.len())]
            .iter()
            .any(|&b| b != 0)
        {
            return Err(bad(name_end, "non-zero name padding".into()));
        }
        let next = align4(data_end);
        if buf.len() < next || buf[data_end..next].iter().any(|&b| b != 0) {
            return Err(bad(data_end, "missing or non-zero data padding".into()));
        }
        pos = next;
        if name == TRAILER {
            in_archive = false;
            continue;
        }
        in_archive = true;
        entries.push(CpioEntry {
            name,
            ino,
            mode,
            uid,
            gid,
            nlink,
            mtime,
            rdev_major: rmaj,
            rdev_minor: rmin,
            data: data.to_vec(),
        });
    }
    if in_archive {
        return Err(CpioError::Malformed {
            offset: buf.len(),
            why: "archive ends without TRAILER!!!".into(),
        });
    }
    Ok(entries)
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut w = CpioWriter::new(Vec::new());
        w.dir("/dev", 0o755).unwrap();
        w.char_device("/dev/console", 0o600, 5, 1).unwrap();
        w.dir("tmp", 0o1777).unwrap();
        w.file("/init", 0o755, b"#!/bin/sh\n").unwrap();
        w.file("empty", 0o644, b"").unwrap();
        w.symlink("/lib", "usr/lib").unwrap();
        w.block_device("dev/vda", 0o660, 254, 0).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn writes_and_reads_back() {
        let buf = sample();
        assert_eq!(buf.len() % 4, 0);
        assert!(buf.starts_with(b"070701"));
        let e = read_archives(&buf).unwrap();
        let names: Vec<_> = e.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "dev",
                "dev/console",
                "tmp",
                "init",
                "empty",
                "lib",
                "dev/vda"
            ]
        );
        assert_eq!(e[0].mode, S_IFDIR | 0o755);
        assert_eq!(e[0].nlink, 2);
        assert_eq!(e[1].mode, S_IFCHR | 0o600);
        assert_eq!((e[1].rdev_major, e[1].rdev_minor), (5, 1));
        assert_eq!(e[2].mode, S_IFDIR | 0o1777);
        assert_eq!(e[3].mode, S_IFREG | 0o755);
        assert_eq!(e[3].data, b"#!/bin/sh\n");
        assert_eq!(e[4].data, b"");
        assert_eq!(e[5].file_type(), S_IFLNK);
        assert_eq!(e[5].data, b"usr/lib");
        assert_eq!(e[6].mode, S_IFBLK | 0o660);
        for x in &e {
            assert_eq!((x.uid, x.gid, x.mtime), (0, 0, 0));
        }
        let mut inos: Vec<_> = e.iter().map(|e| e.ino).collect();
        inos.dedup();
        assert_eq!(inos, [1, 2, 3, 4, 5, 6, 7]);
        assert!(buf.windows(10).any(|w| w == b"TRAILER!!!"));
    }

    #[test]
    fn exact_header_layout() {
        let mut w = CpioWriter::new(Vec::new());
        w.file("ab", 0o644, b"xyz").unwrap();
        let buf = w.finish().unwrap();
        // 110-byte header + "ab\0" = 113 → padded to 116, then 3 data bytes + 1 pad.
        let hdr = std::str::from_utf8(&buf[..110]).unwrap();
        let fields = [
            "00000001", // ino
            "000081A4", // S_IFREG | 0644
            "00000000", "00000000", // uid, gid
            "00000001", // nlink
            "00000000", // mtime
            "00000003", // size
            "00000000", "00000000", "00000000", "00000000", // dev, rdev
            "00000003", // namesize with NUL
            "00000000", // check
        ];
        assert_eq!(hdr, format!("070701{}", fields.concat()));
        assert_eq!(&buf[110..116], b"ab\0\0\0\0");
        assert_eq!(&buf[116..120], b"xyz\0");
        assert_eq!(&buf[120..126], b"070701");
    }

    #[test]
    fn concatenated_archives_parse() {
        let mut buf = sample();
        let mut w = CpioWriter::with_first_inode(Vec::new(), 1000);
        w.file("etc/args", 0o644, b"a b").unwrap();
        buf.extend(w.finish().unwrap());
        buf.extend([0u8; 512]);
        let e = read_archives(&buf).unwrap();
        assert_eq!(e.last().unwrap().name, "etc/args");
        assert_eq!(e.last().unwrap().ino, 1000);
    }

    #[test]
    fn rejects_bad_names_and_truncation() {
        let mut w = CpioWriter::new(Vec::new());
        for bad in ["", "/", "a/../b", "a//b", "./a", "TRAILER!!!", "a\0b"] {
            assert!(
                matches!(w.dir(bad, 0o755), Err(CpioError::InvalidName { .. })),
                "{bad:?}"
            );
        }
        let buf = sample();
        assert!(read_archives(&buf[..buf.len() - 124]).is_err());
        assert!(read_archives(&buf[..50]).is_err());
    }

    #[test]
    fn reader_size_mismatch_is_reported() {
        let mut w = CpioWriter::new(Vec::new());
        let err = w
            .file_from_reader("f", 0o644, 10, &mut &b"short"[..], Path::new("/h/f"))
            .unwrap_err();
        assert!(matches!(
            err,
            CpioError::SizeMismatch {
                expected: 10,
                actual: 5,
                ..
            }
        ));
        let mut w = CpioWriter::new(Vec::new());
        let err = w
            .file_from_reader("f", 0o644, 2, &mut &b"longer"[..], Path::new("/h/f"))
            .unwrap_err();
        assert!(matches!(err, CpioError::SizeMismatch { expected: 2, .. }));
    }
}
