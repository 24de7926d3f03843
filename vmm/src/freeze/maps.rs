//! The scheduler's BPF maps in a frozen guest: what each is, and its first
//! entries, decoded through the map's own BTF (the program's, read out of
//! guest memory) or shown as hex when it has none.
//!
//! Arrays, per-CPU arrays and hash maps (plain, LRU, per-CPU: their
//! buckets' `hlist_nulls` chains) are read; other kinds are named with a
//! note.

use scxray::btf::Btf;
use scxray::failure_dump::{MapDump, MapEntry};

use super::layout::MapFields;
use super::walk::{hex, GuestMem, Limits};

/// A program's BTF bigger than this is not read (the demo's is ~10 KiB).
const MAX_BTF: u32 = 4 << 20;
/// Bytes of a value shown in hex when it has no type.
const HEX_BYTES: usize = 256;

/// One map: its header fields and, for arrays, its first entries.
pub fn read_map<M: GuestMem>(
    mem: &M,
    f: &MapFields,
    map: u64,
    per_cpu: &[u64],
    limits: Limits,
) -> Result<MapDump, String> {
    let mut name = [0u8; 16];
    mem.read(map + f.name, &mut name)?;
    let end = name.iter().position(|&c| c == 0).unwrap_or(name.len());
    let map_type = mem.u32(map + f.map_type)?;
    let type_name = f.type_name(map_type);
    let mut d = MapDump {
        id: mem.u32(map + f.id)?,
        name: String::from_utf8_lossy(&name[..end]).into_owned(),
        map_type: type_name.clone(),
        key_size: mem.u32(map + f.key_size)?,
        value_size: mem.u32(map + f.value_size)?,
        max_entries: mem.u32(map + f.max_entries)?,
        entries: Vec::new(),
        note: None,
    };
    let mut notes = Vec::new();
    let btf = match program_btf(mem, f, map) {
        Ok(b) => b,
        Err(why) => {
            notes.push(format!("values in hex: {why}"));
            None
        }
    };
    let key_type = mem.u32(map + f.btf_key_type_id).unwrap_or(0);
    let format_key = |bytes: &[u8]| -> String {
        match &btf {
            Some(b) if key_type != 0 => b
                .format_value(key_type, bytes)
                .unwrap_or_else(|_| hex(bytes)),
            _ => hex(bytes),
        }
    };
    let value_type = mem.u32(map + f.btf_value_type_id).unwrap_or(0);
    let decoded = btf.is_some() && value_type != 0;
    // A typed value is read whole (the formatter bounds what it prints);
    // hex is cut short, past that it tells a reader nothing.
    let shown = (d.value_size as usize).min(if decoded {
        limits.value_bytes
    } else {
        HEX_BYTES
    });
    let format = |bytes: &[u8]| -> String {
        match &btf {
            Some(b) if decoded => b
                .format_value(value_type, bytes)
                .unwrap_or_else(|e| format!("{} ({e})", hex(&bytes[..bytes.len().min(HEX_BYTES)]))),
            _ => hex(bytes),
        }
    };
    let n = (d.max_entries as usize).min(limits.map_entries);
    match type_name.as_str() {
        "array" => {
            let elem = u64::from(mem.u32(map + f.array_elem_size)?);
            for i in 0..n as u64 {
                let mut v = vec![0u8; shown];
                mem.read(map + f.array_value + i * elem, &mut v)?;
                d.entries.push(MapEntry {
                    key: i.to_string(),
                    value: format(&v),
                });
            }
        }
        "percpu_array" => {
            for i in 0..n as u64 {
                let pptr = mem.u64(map + f.array_value + 8 * i)?;
                for (cpu, &off) in per_cpu.iter().enumerate() {
                    let mut v = vec![0u8; shown];
                    mem.read(pptr.wrapping_add(off), &mut v)?;
                    d.entries.push(MapEntry {
                        key: format!("{i}@{cpu}"),
                        value: format(&v),
                    });
                }
            }
        }
        "hash" | "lru_hash" | "percpu_hash" | "lru_percpu_hash" => {
            let Some(h) = &f.htab else {
                notes.push(
                    "hash map entries not read: this kernel's BTF lacks struct bpf_htab's fields"
                        .into(),
                );
                d.note = Some(notes.join("; "));
                return Ok(d);
            };
            let percpu = type_name.contains("percpu");
            let key_len = d.key_size.min(512) as usize;
            // The value follows the key, rounded up to 8 bytes.
            let value_at = h.elem_key + u64::from(d.key_size).div_ceil(8) * 8;
            let elems = hash_elems(mem, h, map, limits.map_entries, limits.deadline)?;
            for elem in &elems.found {
                let mut key = vec![0u8; key_len];
                mem.read(elem + h.elem_key, &mut key)?;
                let key = format_key(&key);
                if percpu {
                    let pptr = mem.u64(elem + value_at)?;
                    for (cpu, &off) in per_cpu.iter().enumerate() {
                        let mut v = vec![0u8; shown];
                        mem.read(pptr.wrapping_add(off), &mut v)?;
                        d.entries.push(MapEntry {
                            key: format!("{key}@{cpu}"),
                            value: format(&v),
                        });
                    }
                } else {
                    let mut v = vec![0u8; shown];
                    mem.read(elem + value_at, &mut v)?;
                    d.entries.push(MapEntry {
                        key,
                        value: format(&v),
                    });
                }
            }
            if let Some(why) = elems.stopped {
                notes.push(why);
            }
        }
        _ => {
            notes.push(format!(
                "entries of {type_name} maps are not read (arrays, per-CPU arrays and hash maps are)"
            ));
            d.note = Some(notes.join("; "));
            return Ok(d);
        }
    }
    if shown < d.value_size as usize {
        notes.push(format!(
            "values cut to their first {shown} of {} bytes",
            d.value_size
        ));
    }
    if type_name.ends_with("array") && n < d.max_entries as usize {
        notes.push(format!("first {n} of {} entries", d.max_entries));
    }
    if !notes.is_empty() {
        d.note = Some(notes.join("; "));
    }
    Ok(d)
}

/// The elements found in a hash map's buckets, and why the search stopped
/// early, if it did.
struct HashElems {
    found: Vec<u64>,
    stopped: Option<String>,
}

/// Chains longer than this are taken for corrupt ones.
const MAX_CHAIN: usize = 4096;
/// Buckets looked at most (a map of millions of buckets is mostly empty).
const MAX_BUCKETS: u32 = 1 << 20;

/// Up to `want` elements of hash map `map`, in bucket order: each bucket's
/// `hlist_nulls_head.first`, then the elements' `hash_node.next` (at the
/// element's start) until a nulls marker (low bit set).
fn hash_elems<M: GuestMem>(
    mem: &M,
    h: &super::layout::HtabFields,
    map: u64,
    want: usize,
    deadline: std::time::Instant,
) -> Result<HashElems, String> {
    let buckets = mem.u64(map + h.buckets)?;
    let n = mem.u32(map + h.n_buckets)?;
    let mut found = Vec::new();
    for b in 0..n.min(MAX_BUCKETS) {
        if found.len() >= want {
            return Ok(HashElems {
                found,
                stopped: Some(format!("the first {want} entries found (bucket order)")),
            });
        }
        if std::time::Instant::now() >= deadline {
            return Ok(HashElems {
                found,
                stopped: Some(format!("deadline crossed at bucket {b} of {n}")),
            });
        }
        let mut node = mem.u64(buckets + u64::from(b) * h.bucket_size)?;
        let mut chain = 0;
        while node & 1 == 0 && node != 0 && found.len() < want {
            chain += 1;
            if chain > MAX_CHAIN {
                return Err(format!("bucket {b}'s chain is longer than {MAX_CHAIN}"));
            }
            found.push(node);
            node = mem.u64(node)?;
        }
    }
    let stopped =
        (n > MAX_BUCKETS).then(|| format!("only the first {MAX_BUCKETS} of {n} buckets looked at"));
    Ok(HashElems { found, stopped })
}

/// The map's BTF (the BPF object's), parsed from guest memory; `None`
/// when the map has none.
fn program_btf<M: GuestMem>(mem: &M, f: &MapFields, map: u64) -> Result<Option<Btf>, String> {
    let btf = mem.u64(map + f.btf)?;
    if btf == 0 {
        return Err("the map has no BTF".into());
    }
    let data = mem.u64(btf + f.btf_data)?;
    let size = mem.u32(btf + f.btf_data_size)?;
    if size > MAX_BTF {
        return Err(format!("its BTF is {size} bytes, more than read"));
    }
    let mut raw = vec![0u8; size as usize];
    mem.read(data, &mut raw)?;
    Btf::parse(&raw)
        .map(Some)
        .map_err(|e| format!("its BTF: {e}"))
}
