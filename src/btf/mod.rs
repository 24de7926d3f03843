//! A minimal reader of raw kernel BTF (`/sys/kernel/btf/vmlinux`, or the
//! `btf` file of a cached kernel): just enough to find the byte offset and size
//! of a nested struct member such as `rq.scx.local_dsq.nr`, and the values of
//! an enum such as sched_ext's `scx_ent_flags` (whose layout changed in 7.1).
//!
//! Format (kernel `Documentation/bpf/btf.rst`): a header (magic `0xeB9F`,
//! version 1, flags, `hdr_len`, then the type and string sections as
//! `offset, length` pairs counted from the end of the header), a type section
//! of variable-length `btf_type` records (ids from 1; 0 is `void`), and a
//! string section of NUL-terminated names. Both byte orders are accepted (the
//! magic tells which). Split BTF (kernel modules) is not supported.
//!
//! Every read is bounds-checked: garbage or truncated input gives a
//! [`BtfError`], never a panic.

use std::collections::HashMap;

mod value;

const MAGIC: u16 = 0xeb9f;
const HEADER_MIN: usize = 24;
/// `btf_type` without its kind-specific tail.
const TYPE_HEADER: usize = 12;
/// Limit on typedef/modifier chains and anonymous-member nesting: guards
/// against reference cycles in malformed input.
const MAX_DEPTH: usize = 64;

const KIND_INT: u8 = 1;
const KIND_PTR: u8 = 2;
const KIND_ARRAY: u8 = 3;
const KIND_STRUCT: u8 = 4;
const KIND_UNION: u8 = 5;
const KIND_ENUM: u8 = 6;
const KIND_FWD: u8 = 7;
const KIND_TYPEDEF: u8 = 8;
const KIND_VOLATILE: u8 = 9;
const KIND_CONST: u8 = 10;
const KIND_RESTRICT: u8 = 11;
const KIND_FUNC: u8 = 12;
const KIND_FUNC_PROTO: u8 = 13;
const KIND_VAR: u8 = 14;
const KIND_DATASEC: u8 = 15;
const KIND_FLOAT: u8 = 16;
const KIND_DECL_TAG: u8 = 17;
const KIND_TYPE_TAG: u8 = 18;
const KIND_ENUM64: u8 = 19;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BtfError {
    #[error("BTF truncated: {what} at byte {offset} runs past the end ({len} bytes)")]
    Truncated {
        what: &'static str,
        offset: usize,
        len: usize,
    },
    #[error("not BTF: magic {0:#06x}, expected 0xeb9f")]
    BadMagic(u16),
    #[error("unsupported BTF version {0} (only 1 is known)")]
    BadVersion(u8),
    #[error("bad BTF header: {0}")]
    BadHeader(String),
    #[error("BTF type [{id}] has unknown kind {kind}")]
    UnknownKind { id: u32, kind: u8 },
    #[error("BTF type id {id} out of range (last is {max})")]
    BadTypeId { id: u32, max: u32 },
    #[error("BTF name offset {0} is outside the string section or not NUL-terminated")]
    BadString(u32),
    #[error("BTF has no struct named '{0}' with members")]
    StructNotFound(String),
    #[error("empty member path for struct '{0}'")]
    EmptyPath(String),
    #[error("{path}: no member '{member}'")]
    MemberNotFound { path: String, member: String },
    #[error("{path}: is a {kind}, not a struct or union, so it has no member '{member}'")]
    NotComposite {
        path: String,
        kind: &'static str,
        member: String,
    },
    #[error("{path}: is a bitfield ({bits} bits at bit offset {bit_offset}); only whole integers can be read")]
    Bitfield {
        path: String,
        bits: u32,
        bit_offset: u64,
    },
    #[error("{path}: bit offset {bit_offset} is not byte-aligned")]
    Unaligned { path: String, bit_offset: u64 },
    #[error("{path}: type has no size ({reason})")]
    NoSize { path: String, reason: &'static str },
    #[error("{path}: type chain longer than {MAX_DEPTH} (reference cycle?)")]
    TooDeep { path: String },
    #[error("BTF has no enum named '{0}' with enumerators")]
    EnumNotFound(String),
    #[error("BTF enum '{enum_name}': enumerator name at offset {name_off} is not UTF-8")]
    BadEnumeratorName { enum_name: String, name_off: u32 },
}

/// One `btf_type` record, decoded as far as the lookups need.
#[derive(Debug, Clone, Copy)]
struct TypeRec {
    name_off: u32,
    kind: u8,
    kind_flag: bool,
    vlen: u16,
    /// `size` or `type`, depending on the kind.
    size_or_type: u32,
    /// Byte offset of the kind-specific tail in the type section.
    tail: usize,
}

/// Parsed raw BTF. Holds a copy of the type and string sections.
#[derive(Debug, Clone)]
pub struct Btf {
    types_sec: Vec<u8>,
    strings: Vec<u8>,
    big_endian: bool,
    /// Index `id - 1`.
    types: Vec<TypeRec>,
    /// First STRUCT with members, by name.
    structs: HashMap<String, u32>,
}

/// A resolved member: where it is and what its type is.
#[derive(Debug, Clone, Copy)]
struct Found {
    bit_offset: u64,
    type_id: u32,
}

fn read_u32(buf: &[u8], at: usize, big_endian: bool, what: &'static str) -> Result<u32, BtfError> {
    let bytes: [u8; 4] = at
        .checked_add(4)
        .and_then(|end| buf.get(at..end))
        .and_then(|s| s.try_into().ok())
        .ok_or(BtfError::Truncated {
            what,
            offset: at,
            len: buf.len(),
        })?;
    Ok(if big_endian {
        u32::from_be_bytes(bytes)
    } else {
        u32::from_le_bytes(bytes)
    })
}

fn kind_name(kind: u8) -> &'static str {
    match kind {
        0 => "void",
        KIND_INT => "int",
        KIND_PTR => "pointer",
        KIND_ARRAY => "array",
        KIND_STRUCT => "struct",
        KIND_UNION => "union",
        KIND_ENUM => "enum",
        KIND_FWD => "forward declaration",
        KIND_TYPEDEF => "typedef",
        KIND_VOLATILE => "volatile",
        KIND_CONST => "const",
        KIND_RESTRICT => "restrict",
        KIND_FUNC => "function",
        KIND_FUNC_PROTO => "function prototype",
        KIND_VAR => "variable",
        KIND_DATASEC => "data section",
        KIND_FLOAT => "float",
        KIND_DECL_TAG => "decl tag",
        KIND_TYPE_TAG => "type tag",
        KIND_ENUM64 => "enum64",
        _ => "unknown kind",
    }
}

/// Bytes of kind-specific data that follow a `btf_type` of `kind`.
fn tail_len(kind: u8, vlen: u16) -> Option<usize> {
    let vlen = usize::from(vlen);
    Some(match kind {
        KIND_INT | KIND_VAR | KIND_DECL_TAG => 4,
        KIND_ARRAY => 12,
        KIND_STRUCT | KIND_UNION | KIND_DATASEC | KIND_ENUM64 => 12 * vlen,
        KIND_ENUM | KIND_FUNC_PROTO => 8 * vlen,
        KIND_PTR | KIND_FWD | KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT
        | KIND_FUNC | KIND_FLOAT | KIND_TYPE_TAG => 0,
        _ => return None,
    })
}

/// `"rq.scx.local_dsq"` for error messages.
fn join_path(struct_name: &str, path: &[&str]) -> String {
    let mut s = struct_name.to_string();
    for p in path {
        s.push('.');
        s.push_str(p);
    }
    s
}

impl Btf {
    /// Parses raw BTF bytes (the whole file).
    pub fn parse(bytes: &[u8]) -> Result<Btf, BtfError> {
        if bytes.len() < HEADER_MIN {
            return Err(BtfError::Truncated {
                what: "header",
                offset: 0,
                len: bytes.len(),
            });
        }
        let magic_le = u16::from_le_bytes([bytes[0], bytes[1]]);
        let big_endian = match magic_le {
            MAGIC => false,
            m if m == MAGIC.swap_bytes() => true,
            m => return Err(BtfError::BadMagic(m)),
        };
        if bytes[2] != 1 {
            return Err(BtfError::BadVersion(bytes[2]));
        }
        let u32_at = |at: usize| read_u32(bytes, at, big_endian, "header");
        let hdr_len = u32_at(4)? as usize;
        if hdr_len < HEADER_MIN || hdr_len > bytes.len() {
            return Err(BtfError::BadHeader(format!(
                "hdr_len {hdr_len} (file has {} bytes)",
                bytes.len()
            )));
        }
        let section = |off_at: usize, name: &str| -> Result<&[u8], BtfError> {
            let off = u32_at(off_at)? as usize;
            let len = u32_at(off_at + 4)? as usize;
            hdr_len
                .checked_add(off)
                .and_then(|start| Some(start..start.checked_add(len)?))
                .and_then(|range| bytes.get(range))
                .ok_or_else(|| {
                    BtfError::BadHeader(format!(
                        "{name} section {off}+{len} past the end of {} bytes after a {hdr_len}-byte header",
                        bytes.len()
                    ))
                })
        };
        let types_sec = section(8, "type")?.to_vec();
        let strings = section(16, "string")?.to_vec();

        let mut types = Vec::new();
        let mut at = 0;
        while at < types_sec.len() {
            let id = u32::try_from(types.len() + 1).unwrap_or(u32::MAX);
            let word = |i: usize| read_u32(&types_sec, at + 4 * i, big_endian, "type record");
            let name_off = word(0)?;
            let info = word(1)?;
            let size_or_type = word(2)?;
            let kind = ((info >> 24) & 0x1f) as u8;
            let vlen = (info & 0xffff) as u16;
            let tail = at + TYPE_HEADER;
            let len = tail_len(kind, vlen).ok_or(BtfError::UnknownKind { id, kind })?;
            let end = tail
                .checked_add(len)
                .filter(|&e| e <= types_sec.len())
                .ok_or(BtfError::Truncated {
                    what: "type record",
                    offset: at,
                    len: types_sec.len(),
                })?;
            types.push(TypeRec {
                name_off,
                kind,
                kind_flag: info >> 31 == 1,
                vlen,
                size_or_type,
                tail,
            });
            at = end;
        }

        let mut btf = Btf {
            types_sec,
            strings,
            big_endian,
            types,
            structs: HashMap::new(),
        };
        let mut structs = HashMap::new();
        for (i, t) in btf.types.iter().enumerate() {
            if t.kind != KIND_STRUCT || t.vlen == 0 || t.name_off == 0 {
                continue;
            }
            if let Ok(name) = btf.name(t.name_off) {
                if let Ok(name) = std::str::from_utf8(name) {
                    structs.entry(name.to_string()).or_insert(i as u32 + 1);
                }
            }
        }
        btf.structs = structs;
        Ok(btf)
    }

    /// Number of types (ids `1..=len`).
    pub fn type_count(&self) -> usize {
        self.types.len()
    }

    /// Byte offset of `struct_name.path[0].path[1]...` from the start of the
    /// struct. Typedefs and modifiers are looked through, and a name is also
    /// searched for inside anonymous struct/union members. Bitfields and
    /// members not on a byte boundary are rejected.
    pub fn member_offset(&self, struct_name: &str, path: &[&str]) -> Result<u64, BtfError> {
        Ok(self.find(struct_name, path)?.bit_offset / 8)
    }

    /// Size in bytes of the member's type (typedefs and modifiers resolved),
    /// so callers can check that they read a `u32` or a `u64`.
    pub fn member_size(&self, struct_name: &str, path: &[&str]) -> Result<u64, BtfError> {
        let found = self.find(struct_name, path)?;
        self.type_size(found.type_id, &join_path(struct_name, path), 0)
    }

    /// The enumerators of `enum enum_name` (`BTF_KIND_ENUM` or `ENUM64`; the
    /// first one with enumerators), in declaration order. Each value is the
    /// enumerator's bit pattern in the enum's size: a signed 4-byte enum's
    /// `-2147483648` is `0x8000_0000`, which is what a flags word holds.
    /// Kernel constants that are `enum`s (sched_ext's `scx_ent_flags`,
    /// `scx_enq_flags`, ...) can be read from the guest's BTF this way; `#define`s
    /// (`TASK_RUNNING`, ...) never reach BTF.
    pub fn enum_values(&self, enum_name: &str) -> Result<Vec<(String, u64)>, BtfError> {
        let rec = self
            .types
            .iter()
            .find(|t| {
                (t.kind == KIND_ENUM || t.kind == KIND_ENUM64)
                    && t.vlen > 0
                    && t.name_off != 0
                    && self.name(t.name_off).ok() == Some(enum_name.as_bytes())
            })
            .copied()
            .ok_or_else(|| BtfError::EnumNotFound(enum_name.to_string()))?;
        let size = rec.size_or_type.min(8);
        let size_mask = if size >= 8 {
            u64::MAX
        } else {
            (1u64 << (8 * size)) - 1
        };
        let word = |at: usize| read_u32(&self.types_sec, at, self.big_endian, "enumerator");
        let entry = if rec.kind == KIND_ENUM64 { 12 } else { 8 };
        let mut out = Vec::with_capacity(usize::from(rec.vlen));
        for i in 0..usize::from(rec.vlen) {
            let at = rec.tail + i * entry;
            let name_off = word(at)?;
            let lo = word(at + 4)?;
            let value = if rec.kind == KIND_ENUM64 {
                (u64::from(word(at + 8)?) << 32) | u64::from(lo)
            } else if rec.kind_flag {
                // Signed: sign-extend, then cut to the enum's size.
                lo as i32 as i64 as u64
            } else {
                u64::from(lo)
            };
            let name = std::str::from_utf8(self.name(name_off)?).map_err(|_| {
                BtfError::BadEnumeratorName {
                    enum_name: enum_name.to_string(),
                    name_off,
                }
            })?;
            out.push((name.to_string(), value & size_mask));
        }
        Ok(out)
    }

    /// The type id of `struct struct_name` (the first with members), for
    /// [`Btf::format_value`].
    pub fn struct_id(&self, struct_name: &str) -> Result<u32, BtfError> {
        self.structs
            .get(struct_name)
            .copied()
            .ok_or_else(|| BtfError::StructNotFound(struct_name.to_string()))
    }

    /// `sizeof(struct struct_name)`.
    pub fn struct_size(&self, struct_name: &str) -> Result<u64, BtfError> {
        let id = self.struct_id(struct_name)?;
        self.type_size(id, struct_name, 0)
    }

    /// Whether BTF has `struct struct_name` with members.
    pub fn has_struct(&self, struct_name: &str) -> bool {
        self.structs.contains_key(struct_name)
    }

    /// The names of `struct struct_name`'s named members, in declaration
    /// order (anonymous members are not descended into). Counter structs
    /// such as sched_ext's `scx_event_stats` are read field by field this
    /// way, so a kernel that adds or renames a counter needs no code change.
    pub fn member_names(&self, struct_name: &str) -> Result<Vec<String>, BtfError> {
        let &id = self
            .structs
            .get(struct_name)
            .ok_or_else(|| BtfError::StructNotFound(struct_name.to_string()))?;
        let rec = self.rec(id)?;
        let mut out = Vec::with_capacity(usize::from(rec.vlen));
        for m in 0..usize::from(rec.vlen) {
            let at = rec.tail + 12 * m;
            let name_off = read_u32(&self.types_sec, at, self.big_endian, "member")?;
            if name_off == 0 {
                continue;
            }
            let name = self.name(name_off)?;
            if name.is_empty() {
                continue;
            }
            out.push(String::from_utf8_lossy(name).into_owned());
        }
        Ok(out)
    }

    fn find(&self, struct_name: &str, path: &[&str]) -> Result<Found, BtfError> {
        let &id = self
            .structs
            .get(struct_name)
            .ok_or_else(|| BtfError::StructNotFound(struct_name.to_string()))?;
        if path.is_empty() {
            return Err(BtfError::EmptyPath(struct_name.to_string()));
        }
        let mut cur = Found {
            bit_offset: 0,
            type_id: id,
        };
        for (i, member) in path.iter().enumerate() {
            let here = join_path(struct_name, &path[..i]);
            let (cid, rec) = self.resolve(cur.type_id, &here)?;
            if rec.kind != KIND_STRUCT && rec.kind != KIND_UNION {
                return Err(BtfError::NotComposite {
                    path: here,
                    kind: kind_name(rec.kind),
                    member: member.to_string(),
                });
            }
            let full = join_path(struct_name, &path[..=i]);
            let inner = self.lookup_member(cid, member, &full, 0)?.ok_or_else(|| {
                BtfError::MemberNotFound {
                    path: here,
                    member: member.to_string(),
                }
            })?;
            cur = Found {
                bit_offset: cur.bit_offset.saturating_add(inner.bit_offset),
                type_id: inner.type_id,
            };
        }
        Ok(cur)
    }

    /// Searches the members of composite `id` for `name`, descending into
    /// anonymous struct/union members. Checks the found member is a whole,
    /// byte-aligned value.
    fn lookup_member(
        &self,
        id: u32,
        name: &str,
        path: &str,
        depth: usize,
    ) -> Result<Option<Found>, BtfError> {
        if depth > MAX_DEPTH {
            return Err(BtfError::TooDeep {
                path: path.to_string(),
            });
        }
        let rec = self.rec(id)?;
        for m in 0..usize::from(rec.vlen) {
            let at = rec.tail + 12 * m;
            let word = |i: usize| read_u32(&self.types_sec, at + 4 * i, self.big_endian, "member");
            let (m_name, m_type, m_off) = (word(0)?, word(1)?, word(2)?);
            let (bit_offset, bitfield_bits) = if rec.kind_flag {
                (u64::from(m_off & 0x00ff_ffff), m_off >> 24)
            } else {
                (u64::from(m_off), 0)
            };
            let m_name_bytes = if m_name == 0 {
                &[][..]
            } else {
                self.name(m_name)?
            };
            if m_name_bytes.is_empty() {
                let (cid, crec) = self.resolve(m_type, path)?;
                if crec.kind == KIND_STRUCT || crec.kind == KIND_UNION {
                    if let Some(inner) = self.lookup_member(cid, name, path, depth + 1)? {
                        return Ok(Some(Found {
                            bit_offset: bit_offset.saturating_add(inner.bit_offset),
                            type_id: inner.type_id,
                        }));
                    }
                }
                continue;
            }
            if m_name_bytes != name.as_bytes() {
                continue;
            }
            if bitfield_bits != 0 {
                return Err(BtfError::Bitfield {
                    path: path.to_string(),
                    bits: bitfield_bits,
                    bit_offset,
                });
            }
            // Without kind_flag, a bitfield is an INT whose bit size or bit
            // offset does not cover its whole byte size.
            let (_, trec) = self.resolve(m_type, path)?;
            if trec.kind == KIND_INT {
                let enc = read_u32(&self.types_sec, trec.tail, self.big_endian, "int")?;
                let (bits, int_off) = (enc & 0xff, (enc >> 16) & 0xff);
                if int_off != 0 || u64::from(bits) != u64::from(trec.size_or_type) * 8 {
                    return Err(BtfError::Bitfield {
                        path: path.to_string(),
                        bits,
                        bit_offset: bit_offset + u64::from(int_off),
                    });
                }
            }
            if bit_offset % 8 != 0 {
                return Err(BtfError::Unaligned {
                    path: path.to_string(),
                    bit_offset,
                });
            }
            return Ok(Some(Found {
                bit_offset,
                type_id: m_type,
            }));
        }
        Ok(None)
    }

    /// Follows typedef/const/volatile/restrict/type_tag to the real type.
    fn resolve(&self, mut id: u32, path: &str) -> Result<(u32, TypeRec), BtfError> {
        for _ in 0..MAX_DEPTH {
            if id == 0 {
                return Ok((0, VOID));
            }
            let rec = self.rec(id)?;
            match rec.kind {
                KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                    id = rec.size_or_type;
                }
                _ => return Ok((id, rec)),
            }
        }
        Err(BtfError::TooDeep {
            path: path.to_string(),
        })
    }

    fn type_size(&self, id: u32, path: &str, depth: usize) -> Result<u64, BtfError> {
        if depth > MAX_DEPTH {
            return Err(BtfError::TooDeep {
                path: path.to_string(),
            });
        }
        let (_, rec) = self.resolve(id, path)?;
        let no_size = |reason| BtfError::NoSize {
            path: path.to_string(),
            reason,
        };
        match rec.kind {
            KIND_INT | KIND_STRUCT | KIND_UNION | KIND_ENUM | KIND_ENUM64 | KIND_FLOAT => {
                Ok(u64::from(rec.size_or_type))
            }
            // BTF pointers carry no size; the kernels scxray boots are 64-bit.
            KIND_PTR => Ok(8),
            KIND_ARRAY => {
                let elem = read_u32(&self.types_sec, rec.tail, self.big_endian, "array")?;
                let n = read_u32(&self.types_sec, rec.tail + 8, self.big_endian, "array")?;
                let elem_size = self.type_size(elem, path, depth + 1)?;
                Ok(elem_size.saturating_mul(u64::from(n)))
            }
            0 => Err(no_size("void")),
            KIND_FWD => Err(no_size("forward declaration")),
            _ => Err(no_size(kind_name(rec.kind))),
        }
    }

    fn rec(&self, id: u32) -> Result<TypeRec, BtfError> {
        id.checked_sub(1)
            .and_then(|i| self.types.get(i as usize))
            .copied()
            .ok_or(BtfError::BadTypeId {
                id,
                max: self.types.len() as u32,
            })
    }

    /// The NUL-terminated name at `off` in the string section, without the NUL.
    fn name(&self, off: u32) -> Result<&[u8], BtfError> {
        let rest = self
            .strings
            .get(off as usize..)
            .ok_or(BtfError::BadString(off))?;
        let end = memchr::memchr(0, rest).ok_or(BtfError::BadString(off))?;
        Ok(&rest[..end])
    }
}

const VOID: TypeRec = TypeRec {
    name_off: 0,
    kind: 0,
    kind_flag: false,
    vlen: 0,
    size_or_type: 0,
    tail: 0,
};

#[cfg(test)]
#[path = "../../tests/support/kernel_cache.rs"]
mod kernel_cache;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds little-endian raw BTF for tests.
    #[derive(Default)]
    pub(crate) struct Builder {
        types: Vec<u8>,
        strings: Vec<u8>,
        next_id: u32,
    }

    impl Builder {
        pub(crate) fn new() -> Builder {
            Builder {
                types: Vec::new(),
                strings: vec![0],
                next_id: 1,
            }
        }

        fn str(&mut self, s: &str) -> u32 {
            if s.is_empty() {
                return 0;
            }
            let off = self.strings.len() as u32;
            self.strings.extend_from_slice(s.as_bytes());
            self.strings.push(0);
            off
        }

        fn push(&mut self, name: &str, kind: u8, kind_flag: bool, vlen: u16, st: u32) -> u32 {
            let name = self.str(name);
            let info = (u32::from(kind) << 24) | u32::from(vlen) | (u32::from(kind_flag) << 31);
            for w in [name, info, st] {
                self.types.extend_from_slice(&w.to_le_bytes());
            }
            self.next_id += 1;
            self.next_id - 1
        }

        fn words(&mut self, words: &[u32]) {
            for w in words {
                self.types.extend_from_slice(&w.to_le_bytes());
            }
        }

        pub(crate) fn int(&mut self, name: &str, size: u32) -> u32 {
            let id = self.push(name, KIND_INT, false, 0, size);
            self.words(&[size * 8]);
            id
        }

        /// An INT with explicit bits and bit offset (old-style bitfield).
        pub(crate) fn int_bits(&mut self, name: &str, size: u32, bits: u32, off: u32) -> u32 {
            let id = self.push(name, KIND_INT, false, 0, size);
            self.words(&[bits | (off << 16)]);
            id
        }

        /// A signed INT (`BTF_INT_SIGNED`).
        pub(crate) fn int_signed(&mut self, name: &str, size: u32) -> u32 {
            let id = self.push(name, KIND_INT, false, 0, size);
            self.words(&[(1 << 24) | (size * 8)]);
            id
        }

        /// A global `BTF_KIND_VAR` of type `ty`.
        pub(crate) fn var(&mut self, name: &str, ty: u32) -> u32 {
            let id = self.push(name, KIND_VAR, false, 0, ty);
            self.words(&[1]);
            id
        }

        /// A `BTF_KIND_DATASEC` of (var, offset, size) entries.
        pub(crate) fn datasec(&mut self, name: &str, size: u32, vars: &[(u32, u32, u32)]) -> u32 {
            let id = self.push(name, KIND_DATASEC, false, vars.len() as u16, size);
            for &(v, off, sz) in vars {
                self.words(&[v, off, sz]);
            }
            id
        }

        pub(crate) fn typedef(&mut self, name: &str, to: u32) -> u32 {
            self.push(name, KIND_TYPEDEF, false, 0, to)
        }

        pub(crate) fn modifier(&mut self, kind: u8, to: u32) -> u32 {
            self.push("", kind, false, 0, to)
        }

        pub(crate) fn ptr(&mut self, to: u32) -> u32 {
            self.push("", KIND_PTR, false, 0, to)
        }

        pub(crate) fn array(&mut self, elem: u32, index: u32, n: u32) -> u32 {
            let id = self.push("", KIND_ARRAY, false, 0, 0);
            self.words(&[elem, index, n]);
            id
        }

        pub(crate) fn fwd(&mut self, name: &str) -> u32 {
            self.push(name, KIND_FWD, false, 0, 0)
        }

        /// Members: (name, type, bit offset, bitfield bits). `kind_flag` is set
        /// when any member has bitfield bits.
        pub(crate) fn composite(
            &mut self,
            kind: u8,
            name: &str,
            size: u32,
            members: &[(&str, u32, u32, u32)],
        ) -> u32 {
            let kind_flag = members.iter().any(|m| m.3 != 0);
            let id = self.push(name, kind, kind_flag, members.len() as u16, size);
            for &(m, ty, off, bits) in members {
                let m = self.str(m);
                let off = if kind_flag { off | (bits << 24) } else { off };
                self.words(&[m, ty, off]);
            }
            id
        }

        pub(crate) fn strukt(
            &mut self,
            name: &str,
            size: u32,
            members: &[(&str, u32, u32)],
        ) -> u32 {
            let m: Vec<_> = members.iter().map(|&(n, t, o)| (n, t, o, 0)).collect();
            self.composite(KIND_STRUCT, name, size, &m)
        }

        pub(crate) fn union(&mut self, name: &str, size: u32, members: &[(&str, u32, u32)]) -> u32 {
            let m: Vec<_> = members.iter().map(|&(n, t, o)| (n, t, o, 0)).collect();
            self.composite(KIND_UNION, name, size, &m)
        }

        /// A 4-byte `BTF_KIND_ENUM`; `signed` sets the kind flag.
        pub(crate) fn enumeration(
            &mut self,
            name: &str,
            signed: bool,
            values: &[(&str, i32)],
        ) -> u32 {
            let id = self.push(name, KIND_ENUM, signed, values.len() as u16, 4);
            for &(n, v) in values {
                let n = self.str(n);
                self.words(&[n, v as u32]);
            }
            id
        }

        /// An 8-byte `BTF_KIND_ENUM64`.
        pub(crate) fn enumeration64(&mut self, name: &str, values: &[(&str, u64)]) -> u32 {
            let id = self.push(name, KIND_ENUM64, false, values.len() as u16, 8);
            for &(n, v) in values {
                let n = self.str(n);
                self.words(&[n, v as u32, (v >> 32) as u32]);
            }
            id
        }

        pub(crate) fn build(&self) -> Vec<u8> {
            let mut out = Vec::new();
            out.extend_from_slice(&MAGIC.to_le_bytes());
            out.extend_from_slice(&[1, 0]);
            let tl = self.types.len() as u32;
            for w in [24, 0, tl, tl, self.strings.len() as u32] {
                out.extend_from_slice(&u32::to_le_bytes(w));
            }
            out.extend_from_slice(&self.types);
            out.extend_from_slice(&self.strings);
            out
        }
    }

    /// A miniature `rq`: nr_running u32 @0, anonymous union { u64 clock @8 },
    /// scx: scx_rq @16 { local_dsq: dsq @0 { lock u32 @0, nr u32 @4 },
    /// nr_running u32 @8 }, cpu: const volatile int_t @64.
    fn mini_rq() -> Btf {
        let mut b = Builder::new();
        let uint = b.int("unsigned int", 4);
        let ull = b.int("long long unsigned int", 8);
        let u64t = b.typedef("u64", ull);
        let u32t = b.typedef("u32", uint);
        let int = b.int("int", 4);
        let _fwd = b.fwd("rq");
        let _empty = b.strukt("rq", 0, &[]);
        let dsq = b.strukt("scx_dispatch_q", 8, &[("lock", uint, 0), ("nr", u32t, 32)]);
        let scx_rq = b.strukt(
            "scx_rq",
            12,
            &[("local_dsq", dsq, 0), ("nr_running", u32t, 64)],
        );
        let anon = b.union("", 8, &[("clock", u64t, 0), ("clock_alias", uint, 0)]);
        let inner_anon = b.strukt("", 8, &[("", anon, 0)]);
        let int_t = b.typedef("int_t", int);
        let vol = b.modifier(KIND_VOLATILE, int_t);
        let cst = b.modifier(KIND_CONST, vol);
        let tagged = b.modifier(KIND_TYPE_TAG, cst);
        let p = b.ptr(dsq);
        let arr = b.array(ull, uint, 3);
        let scx_td = b.typedef("scx_rq_t", scx_rq);
        let bits = b.int_bits("unsigned int", 4, 3, 0);
        b.strukt(
            "rq",
            128,
            &[
                ("nr_running", uint, 0),
                ("", inner_anon, 64),
                ("scx", scx_td, 128),
                ("cpu", tagged, 512),
                ("curr", p, 576),
                ("arr", arr, 640),
                ("old_bits", bits, 832),
                ("odd", uint, 836),
            ],
        );
        b.composite(
            KIND_STRUCT,
            "flags",
            4,
            &[("a", uint, 0, 0), ("b", uint, 3, 5), ("c", uint, 32, 0)],
        );
        Btf::parse(&b.build()).unwrap()
    }

    #[test]
    fn nested_anonymous_typedef_lookups() {
        let btf = mini_rq();
        let at = |p: &[&str]| {
            (
                btf.member_offset("rq", p).unwrap(),
                btf.member_size("rq", p).unwrap(),
            )
        };
        assert_eq!(at(&["nr_running"]), (0, 4));
        assert_eq!(at(&["clock"]), (8, 8));
        assert_eq!(at(&["clock_alias"]), (8, 4));
        assert_eq!(at(&["scx"]), (16, 12));
        assert_eq!(at(&["scx", "nr_running"]), (24, 4));
        assert_eq!(at(&["scx", "local_dsq", "nr"]), (20, 4));
        assert_eq!(at(&["cpu"]), (64, 4));
        assert_eq!(at(&["curr"]), (72, 8));
        assert_eq!(at(&["arr"]), (80, 24));
        assert_eq!(btf.member_offset("flags", &["c"]), Ok(4));
    }

    #[test]
    fn struct_member_names_in_order() {
        let btf = mini_rq();
        assert!(btf.has_struct("rq") && btf.has_struct("scx_rq"));
        assert!(!btf.has_struct("scx_event_stats"));
        // The anonymous member is left out; the empty forward `rq` is not
        // the one found.
        assert_eq!(
            btf.member_names("rq").unwrap(),
            ["nr_running", "scx", "cpu", "curr", "arr", "old_bits", "odd"]
        );
        assert_eq!(
            btf.member_names("scx_rq").unwrap(),
            ["local_dsq", "nr_running"]
        );
        assert_eq!(
            btf.member_names("nope"),
            Err(BtfError::StructNotFound("nope".into()))
        );
    }

    #[test]
    fn typed_errors() {
        let btf = mini_rq();
        assert_eq!(
            btf.member_offset("nope", &["x"]),
            Err(BtfError::StructNotFound("nope".into()))
        );
        assert_eq!(
            btf.member_offset("rq", &[]),
            Err(BtfError::EmptyPath("rq".into()))
        );
        let e = btf.member_offset("rq", &["scx", "local_dsq", "missing"]);
        assert_eq!(
            e,
            Err(BtfError::MemberNotFound {
                path: "rq.scx.local_dsq".into(),
                member: "missing".into()
            })
        );
        assert_eq!(
            e.unwrap_err().to_string(),
            "rq.scx.local_dsq: no member 'missing'"
        );
        assert!(matches!(
            btf.member_offset("rq", &["nr_running", "x"]),
            Err(BtfError::NotComposite { ref path, kind: "int", .. }) if path == "rq.nr_running"
        ));
        // A pointer is not followed: the member lives elsewhere in memory.
        assert!(matches!(
            btf.member_offset("rq", &["curr", "nr"]),
            Err(BtfError::NotComposite {
                kind: "pointer",
                ..
            })
        ));
        assert!(matches!(
            btf.member_offset("flags", &["b"]),
            Err(BtfError::Bitfield { bits: 5, bit_offset: 3, ref path }) if path == "flags.b"
        ));
        assert!(matches!(
            btf.member_offset("rq", &["old_bits"]),
            Err(BtfError::Bitfield { bits: 3, .. })
        ));
        assert!(matches!(
            btf.member_offset("rq", &["odd"]),
            Err(BtfError::Unaligned {
                bit_offset: 836,
                ..
            })
        ));
        // The empty STRUCT 'rq' and the FWD are skipped: the one with members wins.
        assert_eq!(btf.member_offset("rq", &["cpu"]), Ok(64));
    }

    #[test]
    fn cycles_are_errors() {
        let mut b = Builder::new();
        // Typedef 1 -> 2 -> 1.
        b.typedef("a", 2);
        b.typedef("b", 1);
        b.strukt("s", 4, &[("x", 1, 0)]);
        let btf = Btf::parse(&b.build()).unwrap();
        assert_eq!(
            btf.member_offset("s", &["x"]),
            Err(BtfError::TooDeep { path: "s.x".into() })
        );
        // A dangling type id.
        let mut b = Builder::new();
        b.strukt("s", 4, &[("x", 99, 0)]);
        let btf = Btf::parse(&b.build()).unwrap();
        assert_eq!(
            btf.member_size("s", &["x"]),
            Err(BtfError::BadTypeId { id: 99, max: 1 })
        );
    }

    #[test]
    fn truncated_and_garbage_never_panic() {
        let mut b = Builder::new();
        let uint = b.int("unsigned int", 4);
        let anon = b.strukt("", 4, &[("x", uint, 0)]);
        b.strukt("s", 8, &[("", anon, 0), ("y", uint, 32)]);
        let good = b.build();
        assert_eq!(Btf::parse(&good).unwrap().member_offset("s", &["y"]), Ok(4));
        let probe = |bytes: &[u8]| {
            if let Ok(btf) = Btf::parse(bytes) {
                let _ = btf.member_offset("s", &["x"]);
                let _ = btf.member_size("s", &["y"]);
            }
        };
        for len in 0..good.len() {
            probe(&good[..len]);
            assert!(
                Btf::parse(&good[..len]).is_err(),
                "prefix of {len} bytes parsed"
            );
        }
        // Flip every byte; then deterministic pseudo-random garbage, with and
        // without a valid header.
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0xff;
            probe(&bad);
        }
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..2000 {
            let len = (next() % 256) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if round % 2 == 0 && len >= 24 {
                bytes[..24].copy_from_slice(&good[..24]);
            }
            if round % 3 == 0 {
                bytes = good.clone();
                let n = (next() % 8) as usize + 1;
                for _ in 0..n {
                    let i = (next() as usize) % bytes.len();
                    bytes[i] = next() as u8;
                }
            }
            probe(&bytes);
        }
        assert_eq!(
            Btf::parse(b"\x9f\xeb\x02\0").map(|_| ()),
            Err(BtfError::Truncated {
                what: "header",
                offset: 0,
                len: 4
            })
        );
        let mut v2 = good.clone();
        v2[2] = 2;
        assert_eq!(Btf::parse(&v2).map(|_| ()), Err(BtfError::BadVersion(2)));
        assert_eq!(
            Btf::parse(&[0u8; 32]).map(|_| ()),
            Err(BtfError::BadMagic(0))
        );
    }

    #[test]
    fn big_endian_is_read() {
        let mut b = Builder::new();
        let uint = b.int("unsigned int", 4);
        b.strukt("s", 8, &[("y", uint, 32)]);
        let le = b.build();
        // Byte-swap every u32 of the header and type section; strings stay.
        let mut be = le.clone();
        be[0..2].copy_from_slice(&MAGIC.to_be_bytes());
        let types_end = 24 + b.types.len();
        for chunk in be[4..types_end].chunks_exact_mut(4) {
            chunk.reverse();
        }
        let btf = Btf::parse(&be).unwrap();
        assert_eq!(btf.member_offset("s", &["y"]), Ok(4));
        assert_eq!(btf.member_size("s", &["y"]), Ok(4));
    }

    #[test]
    fn enum_values_in_order_as_bit_patterns() {
        let mut b = Builder::new();
        b.enumeration("empty", false, &[]);
        b.enumeration(
            "scx_ent_flags",
            true,
            &[("SCX_TASK_QUEUED", 1), ("SCX_TASK_CURSOR", i32::MIN)],
        );
        b.enumeration64("scx_enq_flags", &[("SCX_ENQ_PREEMPT", 1 << 32)]);
        let btf = Btf::parse(&b.build()).unwrap();
        assert_eq!(
            btf.enum_values("scx_ent_flags").unwrap(),
            vec![
                ("SCX_TASK_QUEUED".to_string(), 1),
                ("SCX_TASK_CURSOR".to_string(), 0x8000_0000)
            ]
        );
        assert_eq!(
            btf.enum_values("scx_enq_flags").unwrap(),
            vec![("SCX_ENQ_PREEMPT".to_string(), 1 << 32)]
        );
        assert_eq!(
            btf.enum_values("empty"),
            Err(BtfError::EnumNotFound("empty".into()))
        );
        assert_eq!(
            btf.enum_values("nope"),
            Err(BtfError::EnumNotFound("nope".into()))
        );
    }

    /// The kernel BTFs `scxray kernel fetch` cached.
    pub(crate) fn cached_kernel_btfs() -> Vec<std::path::PathBuf> {
        super::kernel_cache::cached_kernel_files("btf")
    }

    /// The fields the monitor samples, on every cached kernel's BTF.
    #[test]
    fn real_kernel_rq_fields() {
        let files = cached_kernel_btfs();
        if files.is_empty() {
            println!("skipped: no kernels/*/btf under $SCXRAY_CACHE_DIR or ~/.cache/scxray");
            return;
        }
        for file in files {
            let bytes = std::fs::read(&file).unwrap();
            let btf = Btf::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            for (path, size) in [
                (&["nr_running"][..], 4),
                (&["clock"][..], 8),
                (&["cpu"][..], 4),
                (&["scx", "nr_running"][..], 4),
                (&["scx", "local_dsq", "nr"][..], 4),
            ] {
                let off = btf.member_offset("rq", path).unwrap();
                assert_eq!(btf.member_size("rq", path), Ok(size), "{path:?}");
                println!(
                    "{}: rq.{} @{off} size {size}",
                    file.display(),
                    path.join(".")
                );
            }
        }
    }
}
