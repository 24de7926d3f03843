//! Just enough of the tar format (ustar, GNU long names, pax `path`/`size`
//! records) to copy one member out of a tar stream as it goes by, such as
//! `dpkg-deb --fsys-tarfile`'s output: the 2 GB tree of a `-dbg` package is
//! never unpacked, and reading stops once the member is copied.

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use crate::cancel::Cancel;

const BLOCK: usize = 512;
const CHUNK: usize = 1 << 20;
/// Stream bytes between two progress reports.
const PROGRESS_STEP: u64 = 8 << 20;

/// Errors reading a tar stream; each names the archive it came from.
#[derive(Debug, thiserror::Error)]
pub enum TarError {
    #[error("cannot read the tar stream of {archive}: {source}")]
    Read {
        archive: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the tar stream of {archive} is corrupt at byte {offset}: {why}")]
    Corrupt {
        archive: PathBuf,
        offset: u64,
        why: String,
    },
    #[error("the tar stream of {archive} ends inside `{member}`")]
    Truncated { archive: PathBuf, member: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cancelled (Ctrl-C)")]
    Cancelled,
}

/// The member [`copy_member`] copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// Its path in the archive, without a leading `./`.
    pub member: String,
    pub bytes: u64,
}

/// An archive path as a relative path without `.`, `..` or empty parts.
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// Counts what the parser consumed, for progress and error offsets.
struct Counting<R> {
    inner: R,
    pos: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// The header fields the reader needs.
struct Header {
    name: String,
    link: String,
    kind: u8,
    size: u64,
}

/// A numeric header field: octal text, or GNU base-256 when the high bit
/// of the first byte is set (sizes of 8 GiB and more).
fn number(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut n: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            n = n.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(n);
    }
    let text = std::str::from_utf8(field).ok()?;
    let text = text.trim_matches(|c: char| c == '\0' || c == ' ');
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(text, 8).ok()
}

/// Text up to the first NUL.
fn cstr(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// Parses one header block; `Err` says what is wrong with it.
fn parse_header(block: &[u8; BLOCK]) -> Result<Header, String> {
    let stored = number(&block[148..156]).ok_or("unreadable checksum")?;
    // The checksum is over the block with its own field read as spaces;
    // old tars summed signed bytes.
    let unsigned: u64 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u64::from(b)
            }
        })
        .sum();
    let signed: i64 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                i64::from(b as i8)
            }
        })
        .sum();
    if stored != unsigned && stored as i64 != signed {
        return Err(format!(
            "header checksum {stored:o} does not match {unsigned:o}"
        ));
    }
    let size = number(&block[124..136]).ok_or("unreadable size")?;
    let mut name = cstr(&block[..100]);
    // POSIX ustar splits long names into prefix/name; GNU tar ("ustar  ")
    // uses those bytes for other things.
    if &block[257..263] == b"ustar\0" {
        let prefix = cstr(&block[345..500]);
        if !prefix.is_empty() {
            name = format!("{prefix}/{name}");
        }
    }
    Ok(Header {
        name,
        link: cstr(&block[157..257]),
        kind: block[156],
        size,
    })
}

/// The `path`, `linkpath` and `size` records of a pax extended header
/// (`<len> <key>=<value>\n` each).
fn pax_records(data: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let Some(space) = rest.iter().position(|&b| b == b' ') else {
            break;
        };
        let Some(len) = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|l| l.parse::<usize>().ok())
            .filter(|&l| l > space && l <= rest.len())
        else {
            break;
        };
        let record = &rest[space + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(eq) = record.iter().position(|&b| b == b'=') {
            out.push((
                String::from_utf8_lossy(&record[..eq]).into_owned(),
                String::from_utf8_lossy(&record[eq + 1..]).into_owned(),
            ));
        }
        rest = &rest[len..];
    }
    out
}

/// The reader's state between headers.
struct Reader<'a, R: Read> {
    input: BufReader<Counting<R>>,
    archive: &'a Path,
    cancel: &'a Cancel,
    progress: &'a mut dyn FnMut(u64),
    reported: u64,
    buf: Vec<u8>,
}

impl<R: Read> Reader<'_, R> {
    fn pos(&self) -> u64 {
        // What the parser consumed, not what the buffer has read ahead.
        self.input.get_ref().pos - self.input.buffer().len() as u64
    }

    fn tick(&mut self) -> Result<(), TarError> {
        if self.cancel.is_cancelled() {
            return Err(TarError::Cancelled);
        }
        let pos = self.pos();
        if pos >= self.reported + PROGRESS_STEP {
            self.reported = pos;
            (self.progress)(pos);
        }
        Ok(())
    }

    /// Reads `size` bytes (and the padding to the next block) into `out`,
    /// or drops them without `out`. `member` names them when the stream ends
    /// early.
    fn data(
        &mut self,
        size: u64,
        member: &str,
        mut out: Option<(&mut dyn Write, &Path)>,
    ) -> Result<(), TarError> {
        let padded = size.next_multiple_of(BLOCK as u64);
        let mut left = padded;
        while left > 0 {
            self.tick()?;
            let want = left.min(CHUNK as u64) as usize;
            let n = self
                .input
                .read(&mut self.buf[..want])
                .map_err(|source| TarError::Read {
                    archive: self.archive.to_path_buf(),
                    source,
                })?;
            if n == 0 {
                // The padding after the last member's data may be cut off.
                if left <= padded - size {
                    break;
                }
                return Err(TarError::Truncated {
                    archive: self.archive.to_path_buf(),
                    member: member.to_string(),
                });
            }
            let done = padded - left;
            let useful = (size.saturating_sub(done)).min(n as u64) as usize;
            if let Some((w, path)) = out.as_mut() {
                w.write_all(&self.buf[..useful])
                    .map_err(|source| TarError::Write {
                        path: path.to_path_buf(),
                        source,
                    })?;
            }
            left -= n as u64;
        }
        Ok(())
    }

    /// A GNU long name or pax header's data (small; capped at 1 MiB).
    fn small_data(&mut self, size: u64, at: u64) -> Result<Vec<u8>, TarError> {
        if size > CHUNK as u64 {
            return Err(TarError::Corrupt {
                archive: self.archive.to_path_buf(),
                offset: at,
                why: format!("a {size}-byte extended header"),
            });
        }
        let mut data = Vec::with_capacity(size as usize);
        self.data(
            size,
            "an extended header",
            Some((&mut data, Path::new("memory"))),
        )?;
        Ok(data)
    }
}

/// Copies the first regular file named in `wanted` (archive paths, compared
/// after [`normalize`]) from the tar stream `input` to `out`, and stops
/// reading. A wanted symlink or hard link adds its target to `wanted`: in
/// Debian's `-dbg` packages, `usr/lib/debug/boot/vmlinux-<release>` links to
/// the real file. `Ok(None)` when the archive ends without one. `archive`
/// and `out_path` name input and output in errors; `progress` gets the
/// stream bytes read so far, every 8 MiB.
pub fn copy_member(
    input: impl Read,
    archive: &Path,
    wanted: &[String],
    out: &mut dyn Write,
    out_path: &Path,
    cancel: &Cancel,
    progress: &mut dyn FnMut(u64),
) -> Result<Option<Copied>, TarError> {
    let mut wanted: Vec<String> = wanted.iter().map(|w| normalize(w)).collect();
    let mut r = Reader {
        input: BufReader::with_capacity(
            CHUNK,
            Counting {
                inner: input,
                pos: 0,
            },
        ),
        archive,
        cancel,
        progress,
        reported: 0,
        buf: vec![0u8; CHUNK],
    };
    // Names and sizes that extended headers give the next member.
    let mut long_name: Option<String> = None;
    let mut long_link: Option<String> = None;
    let mut pax_size: Option<u64> = None;
    loop {
        r.tick()?;
        let at = r.pos();
        let mut block = [0u8; BLOCK];
        let mut filled = 0;
        while filled < BLOCK {
            let n = r
                .input
                .read(&mut block[filled..])
                .map_err(|source| TarError::Read {
                    archive: archive.to_path_buf(),
                    source,
                })?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled == 0 {
            return Ok(None); // The end, without the two zero blocks.
        }
        if filled < BLOCK {
            return Err(TarError::Corrupt {
                archive: archive.to_path_buf(),
                offset: at,
                why: "a partial header block".into(),
            });
        }
        if block.iter().all(|&b| b == 0) {
            return Ok(None); // The end-of-archive marker.
        }
        let header = parse_header(&block).map_err(|why| TarError::Corrupt {
            archive: archive.to_path_buf(),
            offset: at,
            why,
        })?;
        match header.kind {
            b'L' | b'K' => {
                let data = r.small_data(header.size, at)?;
                let text = cstr(&data);
                if header.kind == b'L' {
                    long_name = Some(text);
                } else {
                    long_link = Some(text);
                }
                continue;
            }
            b'x' => {
                for (key, value) in pax_records(&r.small_data(header.size, at)?) {
                    match key.as_str() {
                        "path" => long_name = Some(value),
                        "linkpath" => long_link = Some(value),
                        "size" => pax_size = value.parse().ok(),
                        _ => {}
                    }
                }
                continue;
            }
            _ => {}
        }
        let name = normalize(&long_name.take().unwrap_or(header.name));
        let link = long_link.take().unwrap_or(header.link);
        let size = pax_size.take().unwrap_or(header.size);
        let is_wanted = wanted.contains(&name);
        match header.kind {
            b'0' | b'\0' | b'7' if is_wanted => {
                r.data(size, &name, Some((out, out_path)))?;
                let pos = r.pos();
                (r.progress)(pos);
                return Ok(Some(Copied {
                    member: name,
                    bytes: size,
                }));
            }
            b'2' if is_wanted => {
                // Relative to the link's directory, unless absolute.
                let target = if link.starts_with('/') {
                    normalize(&link)
                } else {
                    let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
                    normalize(&format!("{dir}/{link}"))
                };
                wanted.push(target);
            }
            b'1' if is_wanted => wanted.push(normalize(&link)),
            // Directories, links and devices have no data; a global pax
            // header ('g') and anything else is skipped by its size.
            b'1' | b'2' | b'3' | b'4' | b'5' | b'6' => {}
            _ => r.data(size, &name, None)?,
        }
    }
}

#[cfg(test)]
pub(crate) mod testdata {
    use super::BLOCK;

    /// One ustar header block (GNU magic unless `posix`).
    pub fn header(name: &str, kind: u8, size: u64, link: &str, posix: bool) -> [u8; BLOCK] {
        let mut h = [0u8; BLOCK];
        let (prefix, name) = match name.len() > 100 && posix {
            true => name.rsplit_once('/').unwrap(),
            false => ("", name),
        };
        let name = &name.as_bytes()[..name.len().min(100)];
        h[..name.len()].copy_from_slice(name);
        h[100..108].copy_from_slice(b"0000644\0");
        h[108..116].copy_from_slice(b"0000000\0");
        h[116..124].copy_from_slice(b"0000000\0");
        h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
        h[136..148].copy_from_slice(b"00000000000\0");
        h[156] = kind;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        if posix {
            h[257..265].copy_from_slice(b"ustar\x0000");
            h[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
        } else {
            h[257..265].copy_from_slice(b"ustar  \0");
        }
        h[148..156].copy_from_slice(b"        ");
        let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        h
    }

    /// A tar archive builder.
    #[derive(Default)]
    pub struct Tar(pub Vec<u8>);

    impl Tar {
        fn padded(&mut self, data: &[u8]) {
            self.0.extend_from_slice(data);
            self.0.resize(self.0.len().next_multiple_of(BLOCK), 0);
        }
        pub fn file(mut self, name: &str, data: &[u8]) -> Self {
            self.0
                .extend_from_slice(&header(name, b'0', data.len() as u64, "", false));
            self.padded(data);
            self
        }
        pub fn posix_file(mut self, name: &str, data: &[u8]) -> Self {
            self.0
                .extend_from_slice(&header(name, b'0', data.len() as u64, "", true));
            self.padded(data);
            self
        }
        pub fn gnu_long_file(mut self, name: &str, data: &[u8]) -> Self {
            let mut long = name.as_bytes().to_vec();
            long.push(0);
            self.0
                .extend_from_slice(&header("././@LongLink", b'L', long.len() as u64, "", false));
            self.padded(&long);
            self.file("truncated-name", data)
        }
        pub fn pax_file(mut self, name: &str, data: &[u8]) -> Self {
            let record = |k: &str, v: &str| {
                let body = format!(" {k}={v}\n");
                let mut len = body.len() + 1;
                while format!("{len}{body}").len() != len {
                    len += 1;
                }
                format!("{len}{body}")
            };
            let pax = record("path", name) + &record("mtime", "1.5");
            self.0
                .extend_from_slice(&header("PaxHeader", b'x', pax.len() as u64, "", true));
            self.padded(pax.as_bytes());
            self.posix_file("pax-truncated", data)
        }
        pub fn dir(mut self, name: &str) -> Self {
            self.0.extend_from_slice(&header(name, b'5', 0, "", false));
            self
        }
        pub fn symlink(mut self, name: &str, target: &str) -> Self {
            self.0
                .extend_from_slice(&header(name, b'2', 0, target, false));
            self
        }
        pub fn end(mut self) -> Vec<u8> {
            self.0.extend_from_slice(&[0u8; 2 * BLOCK]);
            self.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testdata::Tar;
    use super::*;

    fn copy(tar: &[u8], wanted: &[&str]) -> Result<Option<(Copied, Vec<u8>)>, TarError> {
        let wanted: Vec<String> = wanted.iter().map(|s| s.to_string()).collect();
        let mut out = Vec::new();
        let got = copy_member(
            tar,
            Path::new("t.deb"),
            &wanted,
            &mut out,
            Path::new("out"),
            &Cancel::new(),
            &mut |_| {},
        )?;
        Ok(got.map(|c| (c, out)))
    }

    fn big(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn copies_the_member_and_skips_the_rest() {
        let payload = big(3 * CHUNK + 77);
        let tar = Tar::default()
            .dir("./usr/")
            .file("./usr/lib/debug/other.ko", &big(CHUNK + 5))
            .file("./usr/lib/debug/lib/modules/7.3/vmlinux", &payload)
            .file("./after", b"x")
            .end();
        let (c, out) = copy(&tar, &["usr/lib/debug/lib/modules/7.3/vmlinux"])
            .unwrap()
            .unwrap();
        assert_eq!(c.member, "usr/lib/debug/lib/modules/7.3/vmlinux");
        assert_eq!(c.bytes, payload.len() as u64);
        assert!(out == payload);
        assert_eq!(copy(&tar, &["./nope"]).unwrap(), None);
    }

    #[test]
    fn follows_a_wanted_symlink_to_a_later_file() {
        let tar = Tar::default()
            .symlink(
                "./usr/lib/debug/boot/vmlinux-7.3",
                "../lib/modules/7.3/vmlinux",
            )
            .file("./usr/lib/debug/lib/modules/7.3/vmlinux", b"\x7fELF dwarf")
            .end();
        let (c, out) = copy(&tar, &["./usr/lib/debug/boot/vmlinux-7.3"])
            .unwrap()
            .unwrap();
        assert_eq!(c.member, "usr/lib/debug/lib/modules/7.3/vmlinux");
        assert_eq!(out, b"\x7fELF dwarf");
    }

    #[test]
    fn long_names_gnu_posix_and_pax() {
        let long = format!("usr/lib/debug/{}/vmlinux", "d".repeat(120));
        for tar in [
            Tar::default().gnu_long_file(&long, b"gnu").end(),
            Tar::default().posix_file(&long, b"gnu").end(),
            Tar::default().pax_file(&long, b"gnu").end(),
        ] {
            let (c, out) = copy(&tar, &[&long]).unwrap().unwrap();
            assert_eq!(c.member, long);
            assert_eq!(out, b"gnu");
        }
    }

    #[test]
    fn corrupt_truncated_and_cancelled() {
        let mut tar = Tar::default().file("./a", b"aaaa").end();
        tar[10] ^= 1;
        let err = copy(&tar, &["a"]).unwrap_err();
        assert!(matches!(err, TarError::Corrupt { offset: 0, .. }), "{err}");
        assert!(err.to_string().contains("t.deb"), "{err}");

        let tar = Tar::default().file("./a", &big(5000)).end();
        let err = copy(&tar[..2000], &["a"]).unwrap_err();
        assert!(matches!(err, TarError::Truncated { .. }), "{err}");

        let cancel = Cancel::new();
        cancel.cancel();
        let err = copy_member(
            &tar[..],
            Path::new("t"),
            &["a".into()],
            &mut Vec::new(),
            Path::new("o"),
            &cancel,
            &mut |_| {},
        )
        .unwrap_err();
        assert!(matches!(err, TarError::Cancelled), "{err}");
    }

    #[test]
    fn numbers_and_paths() {
        assert_eq!(number(b"00000001750\0"), Some(1000));
        assert_eq!(number(b"\0\0\0\0"), Some(0));
        let mut b256 = [0u8; 12];
        b256[0] = 0x80;
        b256[7] = 2; // 2 << 32
        assert_eq!(number(&b256), Some(2 << 32));
        assert_eq!(number(b"9x"), None);
        assert_eq!(normalize("./usr/lib/../lib//x"), "usr/lib/x");
        assert_eq!(normalize("/boot/./v"), "boot/v");
    }
}
