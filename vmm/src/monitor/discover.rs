//! The kernel's layout from guest memory alone, KASLR on or off: no
//! `nokaslr`, no System.map, no help from the guest.
//!
//! 1. **VMCOREINFO** (`CONFIG_CRASH_DUMP`): the kernel writes it, as text,
//!    at the start of a page of its own (`vmcoreinfo_data`, and a copy
//!    inside the ELF note `vmcoreinfo_note`, 24 bytes into its page) at
//!    boot. It names `KERNELOFFSET` (runtime − link-time address of the
//!    image), `NUMBER(phys_base)` (signed decimal: where the image was
//!    loaded physically, minus where it was linked), `SYMBOL(init_top_pgt)`,
//!    `NUMBER(pgtable_l5_enabled)` and where the kallsyms tables are.
//!    Only page starts are looked at, so a scan of all of RAM is a few
//!    hundred thousand short reads.
//! 2. **kallsyms, decoded from guest RAM** with the tables VMCOREINFO
//!    points at (7.x: `kallsyms_offsets[i]` is PC-relative; older kernels
//!    add it to `kallsyms_relative_base`, or keep `kallsyms_addresses`).
//!    The addresses it gives are the running kernel's.
//! 3. Without kallsyms, a vmlinux's `.symtab` (link-time addresses) plus
//!    `KERNELOFFSET`.
//!
//! With both, a kernel-image address translates as
//! `pa = va − __START_KERNEL_map + phys_base`. What is found is checked:
//! kallsyms must agree with VMCOREINFO on `init_top_pgt` and must find
//! `linux_banner` reading `Linux version` where it says.

use std::path::Path;

use scxray::run::record::KernelSymbol;

use super::memory::GuestRam;
use crate::layout::START_KERNEL_MAP;

/// VMCOREINFO's size limit (`VMCOREINFO_BYTES`, one page).
const VMCOREINFO_BYTES: u64 = 4096;
/// Where the text starts in the ELF note: 12-byte header, "VMCOREINFO\0"
/// padded to 12.
const NOTE_TEXT: u64 = 24;
/// More symbols than any kernel has: a count above this is garbage.
const MAX_SYMS: u32 = 4 << 20;
/// The most bytes read for `kallsyms_names`.
const MAX_NAMES: u64 = 32 << 20;

/// The VMCOREINFO text, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmcoreInfo {
    pub osrelease: String,
    /// Runtime − link-time address of the kernel image (0 under `nokaslr`).
    pub kernel_offset: u64,
    /// Physical load address − link address (two's complement: it can be
    /// negative).
    pub phys_base: u64,
    /// `NUMBER(pgtable_l5_enabled)`, where the kernel says.
    pub l5: Option<bool>,
    entries: Vec<(String, String)>,
}

impl VmcoreInfo {
    /// Parses the `KEY=value` lines. `KERNELOFFSET` and `NUMBER(phys_base)`
    /// are required.
    pub fn parse(text: &str) -> Result<VmcoreInfo, String> {
        let entries: Vec<(String, String)> = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let get = |k: &str| entries.iter().find(|(key, _)| key == k).map(|(_, v)| v);
        let osrelease = get("OSRELEASE")
            .cloned()
            .ok_or("VMCOREINFO has no OSRELEASE")?;
        let kernel_offset = get("KERNELOFFSET")
            .and_then(|v| u64::from_str_radix(v, 16).ok())
            .ok_or("VMCOREINFO has no KERNELOFFSET (not an x86-64 kernel?)")?;
        let phys_base = get("NUMBER(phys_base)")
            .and_then(|v| parse_number(v))
            .ok_or("VMCOREINFO has no NUMBER(phys_base)")? as u64;
        let l5 = get("NUMBER(pgtable_l5_enabled)")
            .and_then(|v| parse_number(v))
            .map(|n| n != 0);
        Ok(VmcoreInfo {
            osrelease,
            kernel_offset,
            phys_base,
            l5,
            entries,
        })
    }

    /// `SYMBOL(name)=<hex>`: a runtime address.
    pub fn symbol(&self, name: &str) -> Option<u64> {
        let key = format!("SYMBOL({name})");
        self.entries
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| u64::from_str_radix(v, 16).ok())
    }

    /// Guest physical address of a kernel-image virtual address.
    pub fn image_pa(&self, va: u64) -> Option<u64> {
        va.checked_sub(START_KERNEL_MAP)
            .map(|off| off.wrapping_add(self.phys_base))
    }
}

/// `NUMBER(...)` values: signed decimal, or `0x` hex.
fn parse_number(v: &str) -> Option<i64> {
    match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok().map(|n| n as i64),
        None => v.parse().ok(),
    }
}

/// Finds VMCOREINFO at the start of a page of guest RAM (or 24 bytes into
/// one, the ELF note's copy). The first copy that parses wins.
pub fn find_vmcoreinfo(ram: &GuestRam) -> Result<(u64, VmcoreInfo), String> {
    let mut last_error = None;
    for page in ram.pages() {
        for at in [page, page + NOTE_TEXT] {
            if ram.read_array::<10>(at).as_ref() != Some(b"OSRELEASE=") {
                continue;
            }
            let Some(bytes) = ram.read_bytes(at, VMCOREINFO_BYTES - (at - page)) else {
                continue;
            };
            let end = memchr::memchr(0, &bytes).unwrap_or(bytes.len());
            match VmcoreInfo::parse(&String::from_utf8_lossy(&bytes[..end])) {
                Ok(info) => return Ok((at, info)),
                Err(e) => last_error = Some(e),
            }
        }
    }
    Err(last_error.unwrap_or_else(|| {
        "no VMCOREINFO in guest RAM (a kernel without CONFIG_CRASH_DUMP, or not booted yet)".into()
    }))
}

/// The addresses of `wanted` out of the kallsyms tables in guest RAM
/// (`None` for a name kallsyms lacks). Errors say which table is missing
/// or unreadable.
pub fn kallsyms_lookup(
    ram: &GuestRam,
    info: &VmcoreInfo,
    wanted: &[&str],
) -> Result<Vec<Option<u64>>, String> {
    let mut found = vec![None; wanted.len()];
    let mut left = wanted.len();
    kallsyms_walk(ram, info, &mut |_, sym_name, addr| {
        for (slot, w) in found.iter_mut().zip(wanted) {
            if slot.is_none() && w.as_bytes() == sym_name {
                *slot = addr;
                left -= 1;
            }
        }
        left > 0
    })?;
    Ok(found)
}

/// The text symbol each of `addrs` is in, as `name+0xoff` (`None` when
/// no text symbol starts at or below it).
pub fn kallsyms_symbolize(
    ram: &GuestRam,
    info: &VmcoreInfo,
    addrs: &[u64],
) -> Result<Vec<Option<String>>, String> {
    let mut best: Vec<Option<(u64, String)>> = vec![None; addrs.len()];
    kallsyms_walk(ram, info, &mut |kind, name, addr| {
        let Some(addr) = addr else { return true };
        if !matches!(kind, b'T' | b't') {
            return true;
        }
        for (slot, &want) in best.iter_mut().zip(addrs) {
            if addr <= want && slot.as_ref().is_none_or(|(a, _)| *a < addr) {
                *slot = Some((addr, String::from_utf8_lossy(name).into_owned()));
            }
        }
        true
    })?;
    Ok(best
        .into_iter()
        .zip(addrs)
        .map(|(b, &want)| b.map(|(a, n)| format!("{n}+{:#x}", want - a)))
        .collect())
}

/// What [`kallsyms_walk`] calls for each symbol: its type letter, name
/// and address; false stops the walk.
type Visit<'a> = dyn FnMut(u8, &[u8], Option<u64>) -> bool + 'a;

/// Calls `visit(type, name, address)` for each kallsyms entry in guest
/// RAM until it returns false.
fn kallsyms_walk(ram: &GuestRam, info: &VmcoreInfo, visit: &mut Visit<'_>) -> Result<(), String> {
    let sym = |name: &str| {
        info.symbol(name)
            .ok_or_else(|| format!("VMCOREINFO has no SYMBOL({name})"))
    };
    let pa = |what: &str, va: u64| {
        info.image_pa(va)
            .ok_or_else(|| format!("{what} at {va:#x} is not in the kernel image"))
    };
    let unreadable = |what: &str, va: u64| format!("{what} at {va:#x} is outside guest RAM");
    let num_va = sym("kallsyms_num_syms")?;
    let names_va = sym("kallsyms_names")?;
    let table_va = sym("kallsyms_token_table")?;
    let index_va = sym("kallsyms_token_index")?;
    let num = ram
        .read_u32(pa("kallsyms_num_syms", num_va)?)
        .ok_or_else(|| unreadable("kallsyms_num_syms", num_va))?;
    if num == 0 || num > MAX_SYMS {
        return Err(format!("kallsyms_num_syms reads {num}"));
    }
    // The tables follow one another: names, markers, token_table, token_index.
    let names_len = match table_va.checked_sub(names_va) {
        Some(n) if n > 0 && n <= MAX_NAMES => n,
        _ => MAX_NAMES,
    };
    let names = read_upto(ram, pa("kallsyms_names", names_va)?, names_len)
        .ok_or_else(|| unreadable("kallsyms_names", names_va))?;
    let table_len = match index_va.checked_sub(table_va) {
        Some(n) if n > 0 && n <= 1 << 16 => n,
        _ => 1 << 16,
    };
    let table = read_upto(ram, pa("kallsyms_token_table", table_va)?, table_len)
        .ok_or_else(|| unreadable("kallsyms_token_table", table_va))?;
    let index: Vec<u16> = ram
        .read_bytes(pa("kallsyms_token_index", index_va)?, 512)
        .ok_or_else(|| unreadable("kallsyms_token_index", index_va))?
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    // The address of symbol i.
    let address: Box<dyn Fn(usize) -> Option<u64>> =
        if let Some(offsets_va) = info.symbol("kallsyms_offsets") {
            let offsets = ram
                .read_bytes(pa("kallsyms_offsets", offsets_va)?, 4 * u64::from(num))
                .ok_or_else(|| unreadable("kallsyms_offsets", offsets_va))?;
            let at = move |i: usize| {
                i32::from_le_bytes(offsets[4 * i..4 * i + 4].try_into().unwrap_or([0; 4]))
            };
            match info.symbol("kallsyms_relative_base") {
                // Before 6.15: base-relative; a negative offset is an
                // absolute per-CPU address (CONFIG_KALLSYMS_ABSOLUTE_PERCPU).
                Some(base_va) => {
                    let base = ram
                        .read_u64(pa("kallsyms_relative_base", base_va)?)
                        .ok_or_else(|| unreadable("kallsyms_relative_base", base_va))?;
                    Box::new(move |i| {
                        let off = at(i);
                        Some(if off >= 0 {
                            base.wrapping_add(off as u64)
                        } else {
                            (-1 - i64::from(off)) as u64
                        })
                    })
                }
                // 6.15+: relative to the entry itself.
                None => Box::new(move |i| {
                    Some(
                        offsets_va
                            .wrapping_add(4 * i as u64)
                            .wrapping_add(at(i) as i64 as u64),
                    )
                }),
            }
        } else {
            let addrs_va = sym("kallsyms_addresses").map_err(|_| {
                "VMCOREINFO has neither SYMBOL(kallsyms_offsets) nor SYMBOL(kallsyms_addresses)"
                    .to_string()
            })?;
            let addrs = ram
                .read_bytes(pa("kallsyms_addresses", addrs_va)?, 8 * u64::from(num))
                .ok_or_else(|| unreadable("kallsyms_addresses", addrs_va))?;
            Box::new(move |i| {
                addrs
                    .get(8 * i..8 * i + 8)
                    .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
            })
        };
    let mut name = Vec::with_capacity(128);
    let mut off = 0usize;
    for i in 0..num as usize {
        let truncated = || format!("kallsyms_names ends before symbol {i} of {num}");
        let mut len = usize::from(*names.get(off).ok_or_else(truncated)?);
        off += 1;
        if len & 0x80 != 0 {
            len = (len & 0x7f) | usize::from(*names.get(off).ok_or_else(truncated)?) << 7;
            off += 1;
        }
        let tokens = names.get(off..off + len).ok_or_else(truncated)?;
        off += len;
        name.clear();
        for &t in tokens {
            let start = usize::from(index[usize::from(t)]);
            let token = table.get(start..).unwrap_or(&[]);
            let end = memchr::memchr(0, token).unwrap_or(token.len());
            name.extend_from_slice(&token[..end]);
        }
        // The first byte is the type ('T', 'D', 'b', ...).
        let (Some(&kind), Some(sym_name)) = (name.first(), name.get(1..)) else {
            continue;
        };
        if !visit(kind, sym_name, address(i)) {
            break;
        }
    }
    Ok(())
}

/// Up to `len` bytes at `pa`, fewer where RAM ends.
fn read_upto(ram: &GuestRam, pa: u64, len: u64) -> Option<Vec<u8>> {
    let mut len = len;
    while len > 0 {
        if let Some(b) = ram.read_bytes(pa, len) {
            return Some(b);
        }
        len /= 2;
    }
    None
}

/// Link-time addresses of `wanted` in a vmlinux's `.symtab` (`None` for a
/// name it lacks); an error when the file has no symbol table.
pub fn symtab_lookup(vmlinux: &Path, wanted: &[&str]) -> Result<Vec<Option<u64>>, String> {
    use object::{Object, ObjectSymbol};
    let bytes = std::fs::read(vmlinux).map_err(|e| format!("{}: {e}", vmlinux.display()))?;
    let file = object::File::parse(&*bytes).map_err(|e| format!("{}: {e}", vmlinux.display()))?;
    let mut found = vec![None; wanted.len()];
    let mut any = false;
    for s in file.symbols() {
        any = true;
        let Ok(name) = s.name() else { continue };
        if let Some(i) = wanted.iter().position(|w| *w == name) {
            found[i].get_or_insert(s.address());
        }
    }
    if !any {
        return Err(format!("{} has no .symtab", vmlinux.display()));
    }
    Ok(found)
}

/// What guest memory said about the kernel.
#[derive(Debug, Clone)]
pub struct Found {
    pub info: VmcoreInfo,
    /// Guest physical address of the VMCOREINFO text.
    pub info_pa: u64,
    /// Runtime addresses of the symbols found.
    pub symbols: Vec<KernelSymbol>,
    /// Where the symbols came from.
    pub source: String,
}

/// The kernel's layout and the runtime addresses of `wanted`, from guest
/// memory (kallsyms there, else `vmlinux`'s `.symtab` + `KERNELOFFSET`).
pub fn discover(
    ram: &GuestRam,
    vmlinux: Option<&Path>,
    wanted: &[String],
) -> Result<Found, String> {
    let (info_pa, info) = find_vmcoreinfo(ram)?;
    const BANNER: &str = "linux_banner";
    let mut names: Vec<&str> = wanted.iter().map(String::as_str).collect();
    names.push(BANNER);
    let (addrs, source) = match kallsyms_lookup(ram, &info, &names) {
        Ok(addrs) if addrs.iter().any(Option::is_some) => {
            (addrs, "kallsyms decoded from guest RAM".to_string())
        }
        kallsyms => {
            let why = match kallsyms {
                Err(e) => e,
                Ok(_) => "kallsyms holds none of the symbols".into(),
            };
            let Some(vmlinux) = vmlinux else {
                return Err(format!("{why}, and no vmlinux with a .symtab was given"));
            };
            let link = symtab_lookup(vmlinux, &names).map_err(|e| format!("{why}; {e}"))?;
            let addrs = link
                .into_iter()
                .map(|a| a.map(|a| a.wrapping_add(info.kernel_offset)))
                .collect();
            (
                addrs,
                format!("{}'s .symtab + KERNELOFFSET", vmlinux.display()),
            )
        }
    };
    // Check the chain: linux_banner reads "Linux version" at the address
    // the symbols and phys_base give.
    if let Some(banner) = addrs.last().copied().flatten() {
        let text = info
            .image_pa(banner)
            .and_then(|pa| ram.read_array::<13>(pa));
        if text.as_ref() != Some(b"Linux version") {
            return Err(format!(
                "linux_banner at {banner:#x} does not read \"Linux version\" with phys_base {:#x} ({source})",
                info.phys_base
            ));
        }
    }
    let mut symbols: Vec<KernelSymbol> = names
        .iter()
        .zip(&addrs)
        .take(wanted.len())
        .filter_map(|(name, addr)| {
            addr.map(|addr| KernelSymbol {
                name: name.to_string(),
                addr,
            })
        })
        .collect();
    // VMCOREINFO's own symbols: the page-table root where kallsyms lacks it,
    // and a cross-check where it has it.
    for name in ["init_top_pgt"] {
        match (
            info.symbol(name),
            symbols.iter().find(|s| s.name == name).map(|s| s.addr),
        ) {
            (Some(v), Some(k)) if v != k => {
                return Err(format!(
                    "{name} is {k:#x} by {source} but {v:#x} by VMCOREINFO"
                ))
            }
            (Some(v), None) if wanted.iter().any(|w| w == name) => symbols.push(KernelSymbol {
                name: name.into(),
                addr: v,
            }),
            _ => {}
        }
    }
    Ok(Found {
        info,
        info_pa,
        symbols,
        source,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::backend::MemoryInfo;

    /// The `.symtab` route (a vmlinux given where kallsyms cannot be
    /// decoded): link addresses by name from an ELF's symbol table; a
    /// stripped file is refused with its name.
    #[test]
    fn symtab_lookup_reads_an_elf_symbol_table() {
        let me = std::env::current_exe().unwrap();
        let found = symtab_lookup(&me, &["main", "no_such_symbol_here"]).unwrap();
        assert!(found[0].is_some_and(|a| a != 0), "{found:?}");
        assert_eq!(found[1], None);
        // Debian's binaries are stripped: no .symtab.
        let stripped = Path::new("/bin/true");
        if stripped.exists() {
            let e = symtab_lookup(stripped, &["main"]).unwrap_err();
            assert!(e.contains("has no .symtab"), "{e}");
        }
        let e = symtab_lookup(Path::new("/nonexistent/vmlinux"), &["x"]).unwrap_err();
        assert!(e.starts_with("/nonexistent/vmlinux: "), "{e}");
    }

    /// A guest RAM image built in a buffer.
    pub(crate) struct Image(pub Vec<u8>);

    impl Image {
        pub(crate) fn put(&mut self, pa: u64, bytes: &[u8]) {
            self.0[pa as usize..pa as usize + bytes.len()].copy_from_slice(bytes);
        }

        pub(crate) fn ram(&self, dir: &Path) -> GuestRam {
            let path = dir.join("ram");
            std::fs::write(&path, &self.0).unwrap();
            GuestRam::open(&MemoryInfo::one_file(
                path,
                self.0.len() as u64,
                self.0.len() as u64,
            ))
            .unwrap()
        }
    }

    pub(crate) const KASLR: u64 = 0x2d60_0000;
    /// Negative, as earlier boots measured (−0x5800000 there; scaled down).
    pub(crate) const PHYS_BASE: i64 = -0x1000_0000 + 0x0010_0000;

    /// Runtime virtual address of a kernel-image physical address.
    pub(crate) fn va_of(pa: u64) -> u64 {
        START_KERNEL_MAP
            .wrapping_add(pa)
            .wrapping_sub(PHYS_BASE as u64)
    }

    /// Writes a kallsyms table of `syms` (PC-relative offsets) at physical
    /// 0x20000.. and a VMCOREINFO text at `info_pa` naming it.
    pub(crate) fn fake_kernel(img: &mut Image, info_pa: u64, syms: &[(&str, char, u64)]) {
        let (num, names, table, index, offsets) = (0x20000u64, 0x20010, 0x24000, 0x25000, 0x26000);
        // Tokens: one per byte value that occurs (the simplest table).
        let mut tokens = Vec::new();
        let mut idx = vec![0u16; 256];
        for b in 0..=255u8 {
            idx[usize::from(b)] = tokens.len() as u16;
            tokens.push(b);
            tokens.push(0);
        }
        img.put(table, &tokens);
        let idx_bytes: Vec<u8> = idx.iter().flat_map(|i| i.to_le_bytes()).collect();
        img.put(index, &idx_bytes);
        let mut nb = Vec::new();
        for (i, (name, ty, addr)) in syms.iter().enumerate() {
            let mut s = vec![*ty as u8];
            s.extend_from_slice(name.as_bytes());
            nb.push(s.len() as u8);
            nb.extend_from_slice(&s);
            let entry_va = va_of(offsets + 4 * i as u64);
            let rel = addr.wrapping_sub(entry_va) as i64 as i32;
            img.put(offsets + 4 * i as u64, &rel.to_le_bytes());
        }
        img.put(names, &nb);
        img.put(num, &(syms.len() as u32).to_le_bytes());
        let text = format!(
            "OSRELEASE=7.3.4-test\nBUILD-ID=00\nPAGESIZE=4096\nSYMBOL(swapper_pg_dir)={pgt:x}\n\
             SYMBOL(kallsyms_names)={:x}\nSYMBOL(kallsyms_num_syms)={:x}\n\
             SYMBOL(kallsyms_token_table)={:x}\nSYMBOL(kallsyms_token_index)={:x}\n\
             SYMBOL(kallsyms_offsets)={:x}\nNUMBER(phys_base)={PHYS_BASE}\n\
             SYMBOL(init_top_pgt)={pgt:x}\nNUMBER(pgtable_l5_enabled)=0\n\
             KERNELOFFSET={KASLR:x}\nNUMBER(KERNEL_IMAGE_SIZE)=1073741824\n\0",
            va_of(names),
            va_of(num),
            va_of(table),
            va_of(index),
            va_of(offsets),
            pgt = va_of(0x30000),
        );
        img.put(info_pa, text.as_bytes());
    }

    #[test]
    fn vmcoreinfo_parses_signed_phys_base_and_hex_offset() {
        let info = VmcoreInfo::parse(
            "OSRELEASE=7.3.4+deb13-cloud-amd64\nSYMBOL(init_top_pgt)=ffffffffb062a000\n\
             NUMBER(phys_base)=-92274688\nNUMBER(pgtable_l5_enabled)=0\nKERNELOFFSET=2d600000\n",
        )
        .unwrap();
        assert_eq!(info.kernel_offset, 0x2d60_0000);
        assert_eq!(info.phys_base, (-0x580_0000i64) as u64);
        assert_eq!(info.l5, Some(false));
        assert_eq!(info.symbol("init_top_pgt"), Some(0xffff_ffff_b062_a000));
        // Virtual and physical placement are independent: with phys_base
        // negative the image sits below its link address.
        assert_eq!(
            info.image_pa(0xffff_ffff_8800_0000),
            Some(0x800_0000 - 0x580_0000)
        );
        // The captured KASLR boot: init_top_pgt → phys 0x35c2a000.
        let real = VmcoreInfo::parse(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../shared/fixtures/real-runs/mem-kaslr/guestmem-report.txt"
            ))
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .collect::<Vec<_>>()
            .join("\n"),
        );
        if let Ok(real) = real {
            assert_eq!(real.phys_base, 0x560_0000);
            assert_eq!(real.kernel_offset, 0x2d60_0000);
            let pgt = real.symbol("init_top_pgt").unwrap();
            assert_eq!(real.image_pa(pgt), Some(0x35c2_a000));
        }
        assert!(VmcoreInfo::parse("OSRELEASE=x\nNUMBER(phys_base)=0\n")
            .unwrap_err()
            .contains("KERNELOFFSET"));
    }

    #[test]
    fn finds_vmcoreinfo_and_decodes_kallsyms_with_an_offset() {
        let dir = tempfile::tempdir().unwrap();
        let mut img = Image(vec![0u8; 512 << 10]);
        // Link-time addresses, shifted by KERNELOFFSET at runtime.
        let rt = |link: u64| link + KASLR;
        let syms = [
            ("_text", 'T', rt(0xffff_ffff_8100_0000)),
            ("linux_banner", 'D', va_of(0x40000)),
            ("runqueues", 'D', rt(0xffff_ffff_83cf_65c0)),
            ("init_top_pgt", 'D', va_of(0x30000)),
            ("prog_idr", 'b', rt(0xffff_ffff_83f0_0000)),
        ];
        img.put(0x40000, b"Linux version 7.3.4-test");
        // A decoy that is not VMCOREINFO: not at a page start.
        img.put(0x7_0010, b"OSRELEASE=decoy\nKERNELOFFSET=1\n");
        // The note's copy: 24 bytes into its page.
        fake_kernel(&mut img, 0x5_0000 + NOTE_TEXT, &syms);
        let ram = img.ram(dir.path());
        let (pa, info) = find_vmcoreinfo(&ram).unwrap();
        assert_eq!(pa, 0x5_0000 + NOTE_TEXT);
        assert_eq!(info.kernel_offset, KASLR);
        assert_eq!(info.phys_base, PHYS_BASE as u64);
        let got = kallsyms_lookup(&ram, &info, &["runqueues", "prog_idr", "nope"]).unwrap();
        assert_eq!(
            got,
            [
                Some(rt(0xffff_ffff_83cf_65c0)),
                Some(rt(0xffff_ffff_83f0_0000)),
                None
            ]
        );
        let wanted = [
            "runqueues".to_string(),
            "init_top_pgt".into(),
            "scx_root".into(),
        ];
        let found = discover(&ram, None, &wanted).unwrap();
        let names: Vec<(&str, u64)> = found
            .symbols
            .iter()
            .map(|s| (s.name.as_str(), s.addr))
            .collect();
        assert_eq!(
            names,
            [
                ("runqueues", rt(0xffff_ffff_83cf_65c0)),
                ("init_top_pgt", va_of(0x30000))
            ]
        );
        assert_eq!(found.source, "kallsyms decoded from guest RAM");

        // A wrong phys_base shows: the banner does not read.
        let mut bad = Image(img.0.clone());
        let text = String::from_utf8_lossy(&img.0[0x5_0018..0x5_0400]).into_owned();
        let text = text.replace(&format!("phys_base)={PHYS_BASE}"), "phys_base)=0");
        bad.put(0x5_0018, text.as_bytes());
        let dir2 = tempfile::tempdir().unwrap();
        let err = discover(&bad.ram(dir2.path()), None, &wanted).unwrap_err();
        assert!(
            err.contains("kallsyms") || err.contains("linux_banner"),
            "{err}"
        );
    }

    #[test]
    fn no_vmcoreinfo_is_said() {
        let dir = tempfile::tempdir().unwrap();
        let ram = Image(vec![0u8; 64 << 10]).ram(dir.path());
        let err = discover(&ram, None, &["runqueues".into()]).unwrap_err();
        assert!(err.contains("no VMCOREINFO"), "{err}");
    }
}
