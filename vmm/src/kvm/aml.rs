//! The DSDT's AML (ACPI 6.5, chapter 20), hand-encoded: the `\_S5_` sleep
//! type Linux powers off with, and the two UARTs as `PNP0501` devices with
//! their ports and ISA IRQs.
//!
//! Why the UARTs must be described: the platform is hardware-reduced
//! ([`super::acpi`]), so Linux runs without a legacy PIC and maps no ISA
//! IRQ by itself. The 8250 driver's built-in ports at 0x3f8/0x2f8 then
//! name IRQs 4 and 3 that nothing set up: opening the tty fails to get its
//! interrupt, and as root the open still succeeds but every write returns
//! EIO (a guest's `/init` dies writing its first line). Described in the
//! DSDT, the ports come through PNP ACPI, which maps each IRQ through the
//! IOAPIC. QEMU's microvm machine does the same.

use super::layout::{COM1_IRQ, COM1_PORT, COM2_IRQ, COM2_PORT, UART_PORTS};
use super::power;

const NAME_OP: u8 = 0x08;
const BYTE_PREFIX: u8 = 0x0a;
const DWORD_PREFIX: u8 = 0x0c;
const ZERO_OP: u8 = 0x00;
const ONE_OP: u8 = 0x01;
const SCOPE_OP: u8 = 0x10;
const BUFFER_OP: u8 = 0x11;
const PACKAGE_OP: u8 = 0x12;
const EXT_OP_PREFIX: u8 = 0x5b;
const DEVICE_OP: u8 = 0x82;
const ROOT_CHAR: u8 = b'\\';

/// Small resource descriptors (ACPI 6.5, 6.4.2): tag byte = type << 3 | length.
const RES_IRQ_NO_FLAGS: u8 = 0x22;
const RES_IO: u8 = 0x47;
const RES_END: u8 = 0x79;
/// I/O descriptor information: decodes 16 address bits.
const IO_DECODE_16: u8 = 1;

/// `_STA`: present, enabled, shown in the UI, functioning.
const STA_PRESENT: u8 = 0x0f;

/// A PkgLength (20.2.4) for `body_len` bytes that follow it: the encoding
/// counts its own bytes.
pub fn pkg_length(body_len: usize) -> Vec<u8> {
    // One byte holds up to 63; then a lead byte with the low nibble and
    // its count of following bytes, each 8 more bits.
    if body_len + 1 < 64 {
        return vec![(body_len + 1) as u8];
    }
    for extra in 1..=3usize {
        let total = body_len + 1 + extra;
        if total < 1 << (4 + 8 * extra) {
            let mut out = vec![((extra as u8) << 6) | (total & 0xf) as u8];
            out.extend((0..extra).map(|i| (total >> (4 + 8 * i)) as u8));
            return out;
        }
    }
    panic!("AML package of {body_len} bytes is over PkgLength's 256 MiB")
}

/// `op PkgLength body`.
fn package(op: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = op.to_vec();
    out.extend(pkg_length(body.len()));
    out.extend(body);
    out
}

/// An integer in its shortest fitting encoding up to a DWord.
fn integer(v: u32) -> Vec<u8> {
    match v {
        0 => vec![ZERO_OP],
        1 => vec![ONE_OP],
        2..=0xff => vec![BYTE_PREFIX, v as u8],
        _ => {
            let mut out = vec![DWORD_PREFIX];
            out.extend(v.to_le_bytes());
            out
        }
    }
}

/// `Name (seg, data)`.
fn name(seg: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = vec![NAME_OP];
    out.extend(seg);
    out.extend(data);
    out
}

/// `EisaId ("PNPxxxx")`'s 32-bit value: three letters in five bits each,
/// then four hex digits, stored big-endian.
pub fn eisa_id(id: &str) -> u32 {
    let b = id.as_bytes();
    assert!(
        b.len() == 7 && b[..3].iter().all(u8::is_ascii_uppercase),
        "EISA ID {id}"
    );
    let letters = b[..3]
        .iter()
        .fold(0u32, |acc, &c| (acc << 5) | u32::from(c - 0x40));
    let product = u32::from_str_radix(&id[3..], 16).unwrap_or_else(|_| panic!("EISA ID {id}"));
    ((letters << 16) | product).swap_bytes()
}

/// `ResourceTemplate () { IO (Decode16, port, port, 0, len) IRQNoFlags () {irq} }`.
fn uart_resources(port: u16, irq: u32) -> Vec<u8> {
    let mut r = vec![RES_IO, IO_DECODE_16];
    r.extend(port.to_le_bytes());
    r.extend(port.to_le_bytes());
    r.extend([0, UART_PORTS as u8]);
    r.push(RES_IRQ_NO_FLAGS);
    r.extend((1u16 << irq).to_le_bytes());
    // Checksum 0: "the descriptor list is treated as correct".
    r.extend([RES_END, 0]);
    r
}

/// `Device (seg) { _HID PNP0501, _UID uid, _STA, _CRS }`: a 16550 UART.
fn uart_device(seg: &[u8; 4], uid: u32, port: u16, irq: u32) -> Vec<u8> {
    let mut hid = vec![DWORD_PREFIX];
    hid.extend(eisa_id("PNP0501").to_le_bytes());
    let crs = uart_resources(port, irq);
    let mut buffer = integer(crs.len() as u32);
    buffer.extend(&crs);
    let mut body = seg.to_vec();
    body.extend(name(b"_HID", &hid));
    body.extend(name(b"_UID", &integer(uid)));
    body.extend(name(b"_STA", &[BYTE_PREFIX, STA_PRESENT]));
    body.extend(name(b"_CRS", &package(&[BUFFER_OP], &buffer)));
    package(&[EXT_OP_PREFIX, DEVICE_OP], &body)
}

/// The DSDT's AML: `Name (\_S5_, Package () { SLP_TYP_S5, 0, 0, 0 })` (type
/// a, type b, two reserved), then `Scope (\_SB) { COM1, COM2 }`.
pub fn dsdt_aml() -> Vec<u8> {
    let mut s5 = vec![4]; // NumElements
    s5.extend([BYTE_PREFIX, power::SLP_TYP_S5, ZERO_OP, ZERO_OP, ZERO_OP]);
    let mut aml = vec![NAME_OP, ROOT_CHAR];
    aml.extend(b"_S5_");
    aml.extend(package(&[PACKAGE_OP], &s5));
    let mut sb = vec![ROOT_CHAR];
    sb.extend(b"_SB_");
    sb.extend(uart_device(b"COM1", 1, COM1_PORT, COM1_IRQ));
    sb.extend(uart_device(b"COM2", 2, COM2_PORT, COM2_IRQ));
    aml.extend(package(&[SCOPE_OP], &sb));
    aml
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes a PkgLength at the start of `b`: (value, bytes it took).
    fn read_pkg_length(b: &[u8]) -> (usize, usize) {
        let extra = (b[0] >> 6) as usize;
        if extra == 0 {
            return ((b[0] & 0x3f) as usize, 1);
        }
        let mut v = (b[0] & 0xf) as usize;
        for i in 0..extra {
            v |= (b[1 + i] as usize) << (4 + 8 * i);
        }
        (v, 1 + extra)
    }

    #[test]
    fn pkg_length_counts_itself_in_every_width() {
        for body in [0, 1, 62, 63, 64, 300, 4094, 4095, 5000, 1 << 20] {
            let enc = pkg_length(body);
            let (v, n) = read_pkg_length(&enc);
            assert_eq!(n, enc.len(), "body {body}");
            assert_eq!(v, body + n, "body {body}: {enc:02x?}");
        }
        assert_eq!(pkg_length(7), [8]);
        assert_eq!(pkg_length(62), [63]);
        assert_eq!(pkg_length(63).len(), 2);
    }

    #[test]
    fn eisa_ids_match_their_well_known_values() {
        assert_eq!(eisa_id("PNP0501"), 0x0105_d041);
        assert_eq!(eisa_id("PNP0A03"), 0x030a_d041);
    }

    #[test]
    fn s5_comes_first_unchanged() {
        let aml = dsdt_aml();
        assert_eq!(
            aml[..14],
            [0x08, b'\\', b'_', b'S', b'5', b'_', 0x12, 0x07, 0x04, 0x0a, 5, 0, 0, 0]
        );
    }

    /// Walks the scope as an AML interpreter would and reads back each
    /// device's name, IDs, ports and IRQ.
    #[test]
    fn each_uart_is_a_pnp0501_device_with_its_port_and_irq() {
        let aml = dsdt_aml();
        let sb = &aml[14..];
        assert_eq!(sb[0], SCOPE_OP);
        let (len, n) = read_pkg_length(&sb[1..]);
        assert_eq!(1 + len, sb.len(), "the scope's PkgLength covers the rest");
        let mut at = 1 + n;
        assert_eq!(&sb[at..at + 5], b"\\_SB_");
        at += 5;
        let mut seen = Vec::new();
        while at < sb.len() {
            assert_eq!(sb[at..at + 2], [EXT_OP_PREFIX, DEVICE_OP]);
            let (len, n) = read_pkg_length(&sb[at + 2..]);
            let dev = &sb[at + 2 + n..at + 2 + len];
            let seg = std::str::from_utf8(&dev[..4]).unwrap().to_owned();
            let hid_at = 4 + 5;
            assert_eq!(&dev[4..9], b"\x08_HID");
            assert_eq!(dev[hid_at], DWORD_PREFIX);
            let hid = u32::from_le_bytes(dev[hid_at + 1..hid_at + 5].try_into().unwrap());
            assert_eq!(hid, eisa_id("PNP0501"));
            let crs = dev.windows(5).position(|w| w == b"\x08_CRS").unwrap() + 5;
            assert_eq!(dev[crs], BUFFER_OP);
            let (blen, bn) = read_pkg_length(&dev[crs + 1..]);
            assert_eq!(crs + 1 + blen, dev.len(), "_CRS ends the device");
            let buf = &dev[crs + 1 + bn..];
            assert_eq!(buf[..2], [BYTE_PREFIX, 13], "BufferSize");
            let r = &buf[2..];
            assert_eq!(r[0], RES_IO);
            let port = u16::from_le_bytes([r[2], r[3]]);
            assert_eq!(u16::from_le_bytes([r[4], r[5]]), port, "fixed range");
            assert_eq!(r[7], 8, "eight registers");
            assert_eq!(r[8], RES_IRQ_NO_FLAGS);
            let mask = u16::from_le_bytes([r[9], r[10]]);
            assert_eq!(mask.count_ones(), 1);
            assert_eq!(r[11..13], [RES_END, 0]);
            seen.push((seg, port, mask.trailing_zeros()));
            at += 2 + len;
        }
        assert_eq!(
            seen,
            [
                ("COM1".to_owned(), COM1_PORT, COM1_IRQ),
                ("COM2".to_owned(), COM2_PORT, COM2_IRQ)
            ]
        );
    }
}
