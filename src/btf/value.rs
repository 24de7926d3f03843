//! Bytes shown through their BTF type: a BPF map's value (a `.bss`
//! section, a struct, an array of counters) as `{ field = value, … }`.
//!
//! The bytes come from a guest's memory and the BTF from the same guest, so
//! neither is trusted: every slice is bounds-checked, nesting and output are
//! bounded, and what cannot be shown is marked in the text rather than
//! failing the whole value.

use super::{read_u32, Btf, BtfError, KIND_ARRAY, KIND_DATASEC, KIND_ENUM, KIND_ENUM64};
use super::{KIND_FLOAT, KIND_INT, KIND_PTR, KIND_STRUCT, KIND_UNION, KIND_VAR, MAX_DEPTH};

/// Characters of output at most; the rest is cut with `…`.
const MAX_OUT: usize = 4096;
/// Array elements shown at most.
const MAX_ELEMS: usize = 32;

impl Btf {
    /// `bytes` as a value of type `type_id`: integers in decimal (pointers
    /// in hex), enums by name, `char` arrays as strings, structs and data
    /// sections as `{ name = value, … }`.
    pub fn format_value(&self, type_id: u32, bytes: &[u8]) -> Result<String, BtfError> {
        let mut out = String::new();
        self.fmt_value(type_id, bytes, 0, &mut out)?;
        Ok(out)
    }

    fn fmt_value(
        &self,
        id: u32,
        bytes: &[u8],
        depth: usize,
        out: &mut String,
    ) -> Result<(), BtfError> {
        if depth > MAX_DEPTH {
            return Err(BtfError::TooDeep {
                path: "value".into(),
            });
        }
        if out.len() > MAX_OUT {
            out.push('…');
            return Ok(());
        }
        let (id, rec) = self.resolve(id, "value")?;
        let word = |at: usize| read_u32(&self.types_sec, at, self.big_endian, "value type");
        match rec.kind {
            KIND_INT => {
                let enc = word(rec.tail)?;
                let size = rec.size_or_type as usize;
                let Some(v) = le(bytes, size) else {
                    return cut(out);
                };
                let (signed, boolean) = ((enc >> 24) & 1 != 0, (enc >> 24) & 4 != 0);
                if boolean {
                    out.push_str(if v != 0 { "true" } else { "false" });
                } else if signed && size < 16 {
                    let shift = 128 - 8 * size as u32;
                    out.push_str(&(((v << shift) as i128) >> shift).to_string());
                } else {
                    out.push_str(&v.to_string());
                }
            }
            KIND_PTR => match le(bytes, 8) {
                Some(v) => out.push_str(&format!("{v:#x}")),
                None => return cut(out),
            },
            KIND_ENUM | KIND_ENUM64 => {
                let size = (rec.size_or_type as usize).min(8);
                let Some(v) = le(bytes, size) else {
                    return cut(out);
                };
                let entry = if rec.kind == KIND_ENUM64 { 12 } else { 8 };
                let mut named = None;
                for i in 0..usize::from(rec.vlen) {
                    let at = rec.tail + i * entry;
                    let mut ev = u128::from(word(at + 4)?);
                    if rec.kind == KIND_ENUM64 {
                        ev |= u128::from(word(at + 8)?) << 32;
                    }
                    if ev == v {
                        named = Some(word(at)?);
                        break;
                    }
                }
                match named.and_then(|off| self.name(off).ok()) {
                    Some(n) => out.push_str(&String::from_utf8_lossy(n)),
                    None => out.push_str(&v.to_string()),
                }
            }
            KIND_FLOAT => match rec.size_or_type {
                4 => match le(bytes, 4) {
                    Some(v) => out.push_str(&f32::from_bits(v as u32).to_string()),
                    None => return cut(out),
                },
                8 => match le(bytes, 8) {
                    Some(v) => out.push_str(&f64::from_bits(v as u64).to_string()),
                    None => return cut(out),
                },
                _ => out.push_str(&hex(bytes)),
            },
            KIND_ARRAY => {
                let elem = word(rec.tail)?;
                let n = word(rec.tail + 8)? as usize;
                let size = self.type_size(elem, "value", depth + 1)? as usize;
                let (_, erec) = self.resolve(elem, "value")?;
                if erec.kind == KIND_INT && size == 1 {
                    if let Some(s) = text(bytes.get(..n.min(bytes.len())).unwrap_or_default()) {
                        out.push_str(&s);
                        return Ok(());
                    }
                }
                out.push('[');
                for i in 0..n.min(MAX_ELEMS) {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    match bytes.get(i * size..(i + 1) * size) {
                        Some(b) => self.fmt_value(elem, b, depth + 1, out)?,
                        None => return cut(out),
                    }
                }
                if n > MAX_ELEMS {
                    out.push_str(&format!(", … {} more", n - MAX_ELEMS));
                }
                out.push(']');
            }
            KIND_STRUCT | KIND_UNION => {
                out.push_str("{ ");
                // A union shows its first member: which one is live is
                // not known.
                let shown = if rec.kind == KIND_UNION { 1 } else { rec.vlen };
                for m in 0..usize::from(shown) {
                    let at = rec.tail + 12 * m;
                    let (name, ty, off) = (word(at)?, word(at + 4)?, word(at + 8)?);
                    let (bit, bits) = if rec.kind_flag {
                        (off & 0x00ff_ffff, off >> 24)
                    } else {
                        (off, 0)
                    };
                    if m > 0 {
                        out.push_str(", ");
                    }
                    let name = self.name(name).unwrap_or_default();
                    if !name.is_empty() {
                        out.push_str(&String::from_utf8_lossy(name));
                        out.push_str(" = ");
                    }
                    if bits > 0 || bit % 8 != 0 {
                        let width = if bits > 0 {
                            bits
                        } else {
                            8 * self.type_size(ty, "value", depth + 1)? as u32
                        };
                        match bitfield(bytes, bit as usize, width) {
                            Some(v) => out.push_str(&v.to_string()),
                            None => cut(out)?,
                        }
                        continue;
                    }
                    let size = self.type_size(ty, "value", depth + 1).unwrap_or(0) as usize;
                    let start = bit as usize / 8;
                    match bytes.get(start..start.saturating_add(size)) {
                        Some(b) => self.fmt_value(ty, b, depth + 1, out)?,
                        None => cut(out)?,
                    }
                }
                if rec.kind == KIND_UNION && rec.vlen > 1 {
                    out.push_str(", …");
                }
                out.push_str(" }");
            }
            KIND_DATASEC => {
                out.push_str("{ ");
                for v in 0..usize::from(rec.vlen) {
                    let at = rec.tail + 12 * v;
                    let (var, off, size) =
                        (word(at)?, word(at + 4)? as usize, word(at + 8)? as usize);
                    if v > 0 {
                        out.push_str(", ");
                    }
                    let vrec = self.rec(var)?;
                    out.push_str(&String::from_utf8_lossy(
                        self.name(vrec.name_off).unwrap_or_default(),
                    ));
                    out.push_str(" = ");
                    match bytes.get(off..off.saturating_add(size)) {
                        Some(b) => self.fmt_value(var, b, depth + 1, out)?,
                        None => cut(out)?,
                    }
                }
                out.push_str(" }");
            }
            KIND_VAR => self.fmt_value(rec.size_or_type, bytes, depth + 1, out)?,
            _ => out.push_str(&hex(bytes)),
        }
        let _ = id;
        Ok(())
    }
}

/// Marks a value the bytes do not cover.
fn cut(out: &mut String) -> Result<(), BtfError> {
    out.push_str("<cut>");
    Ok(())
}

/// `size` (≤ 16) little-endian bytes at the start of `bytes`.
fn le(bytes: &[u8], size: usize) -> Option<u128> {
    if size == 0 || size > 16 {
        return None;
    }
    let b = bytes.get(..size)?;
    Some(b.iter().rev().fold(0u128, |v, &x| (v << 8) | u128::from(x)))
}

/// `bits` bits at bit `bit` of `bytes` (little-endian), at most 64.
fn bitfield(bytes: &[u8], bit: usize, bits: u32) -> Option<u64> {
    if bits == 0 || bits > 64 {
        return None;
    }
    let first = bit / 8;
    let last = (bit + bits as usize).div_ceil(8);
    let v = le(bytes.get(first..last)?, last - first)?;
    Some(((v >> (bit % 8)) & ((1u128 << bits) - 1)) as u64)
}

/// A `char` array as a quoted string when it is printable text up to its
/// NUL (or its end).
fn text(bytes: &[u8]) -> Option<String> {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let s = &bytes[..end];
    if bytes[end..].iter().any(|&b| b != 0) || !s.iter().all(|&b| (0x20..0x7f).contains(&b)) {
        return None;
    }
    Some(format!("{:?}", String::from_utf8_lossy(s)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::super::tests::Builder;
    use super::*;

    #[test]
    fn a_bss_section_of_counters_a_struct_and_a_name() {
        let mut b = Builder::new();
        let u64t = b.int("u64", 8);
        let s32 = b.int_signed("s32", 4);
        let ch = b.int("char", 1);
        let int = b.int("int", 4);
        let name = b.array(ch, int, 8);
        let stats = b.strukt("stats", 16, &[("nr", u64t, 0), ("delta", s32, 64)]);
        let v1 = b.var("nr_enqueued", u64t);
        let v2 = b.var("last", stats);
        let v3 = b.var("tag", name);
        let sec = b.datasec(".bss", 40, &[(v1, 0, 8), (v2, 8, 16), (v3, 24, 8)]);
        let btf = Btf::parse(&b.build()).unwrap();
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&12u64.to_le_bytes());
        bytes.extend_from_slice(&7u64.to_le_bytes());
        bytes.extend_from_slice(&(-3i32).to_le_bytes());
        bytes.extend_from_slice(&[0; 4]);
        bytes.extend_from_slice(b"demo\0\0\0\0");
        assert_eq!(
            btf.format_value(sec, &bytes).unwrap(),
            r#"{ nr_enqueued = 12, last = { nr = 7, delta = -3 }, tag = "demo" }"#
        );
        // Too few bytes: what is missing is marked, the rest shown.
        assert_eq!(
            btf.format_value(sec, &bytes[..12]).unwrap(),
            "{ nr_enqueued = 12, last = <cut>, tag = <cut> }"
        );
    }

    #[test]
    fn arrays_enums_pointers_and_garbage() {
        let mut b = Builder::new();
        let u32t = b.int("u32", 4);
        let arr = b.array(u32t, u32t, 40);
        let e = b.enumeration("state", false, &[("IDLE", 0), ("BUSY", 2)]);
        let p = b.ptr(u32t);
        let btf = Btf::parse(&b.build()).unwrap();
        let bytes: Vec<u8> = (0..40u32).flat_map(|i| i.to_le_bytes()).collect();
        let s = btf.format_value(arr, &bytes).unwrap();
        assert!(s.starts_with("[0, 1, 2, "), "{s}");
        assert!(s.ends_with(", 31, … 8 more]"), "{s}");
        assert_eq!(btf.format_value(e, &2u32.to_le_bytes()).unwrap(), "BUSY");
        assert_eq!(btf.format_value(e, &5u32.to_le_bytes()).unwrap(), "5");
        assert_eq!(
            btf.format_value(p, &0xffff_8880_0000_1000u64.to_le_bytes())
                .unwrap(),
            "0xffff888000001000"
        );
        // Bad ids and random bytes: an error or marked text, never a panic.
        assert!(btf.format_value(999, &bytes).is_err());
        for id in 0..8 {
            let _ = btf.format_value(id, &[0xff; 3]);
        }
    }
}
