//! GDB Remote Serial Protocol framing: `$body#xx` with a modulo-256
//! checksum, `}` escapes, `*` run-length encoding and `+`/`-` acks. Pure
//! functions over bytes, so garbage from the socket never panics here; the
//! client turns [`Frame::Corrupt`] into a NAK.

use std::fmt;

/// Bytes that must be escaped inside a packet body (`}` then byte ^ 0x20).
const ESCAPED: [u8; 4] = [b'$', b'#', b'}', b'*'];

/// A body that cannot be decoded: reported in a NAK, never a panic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// `}` as the last byte: nothing to unescape.
    DanglingEscape,
    /// `*` with no byte before it to repeat, or with no count after it.
    RunWithoutByte,
    /// A run count byte below 29 (`' ' + 3 - 6`): GDB never sends it.
    BadRunCount(u8),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DanglingEscape => write!(f, "`}}` escape at the end of the packet"),
            Self::RunWithoutByte => write!(f, "`*` run with nothing to repeat or no count"),
            Self::BadRunCount(c) => write!(f, "`*` run count byte {c:#04x} is below 29"),
        }
    }
}

/// Modulo-256 sum of the bytes between `$` and `#`, as sent (escaped).
pub fn checksum(raw_body: &[u8]) -> u8 {
    raw_body.iter().fold(0u8, |sum, &b| sum.wrapping_add(b))
}

/// Frames `data` as `$data#xx`, escaping the bytes the protocol reserves.
pub fn encode(data: &[u8]) -> Vec<u8> {
    let mut raw = Vec::with_capacity(data.len() + 4);
    for &b in data {
        if ESCAPED.contains(&b) {
            raw.push(b'}');
            raw.push(b ^ 0x20);
        } else {
            raw.push(b);
        }
    }
    let sum = checksum(&raw);
    let mut out = Vec::with_capacity(raw.len() + 4);
    out.push(b'$');
    out.extend_from_slice(&raw);
    out.push(b'#');
    out.extend_from_slice(format!("{sum:02x}").as_bytes());
    out
}

/// Undoes `}` escapes and expands `X*n` runs (n - 29 more copies of X), in
/// one pass as GDB does: a run repeats the last *decoded* byte.
pub fn decode_body(raw: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'}' => {
                let b = *raw.get(i + 1).ok_or(DecodeError::DanglingEscape)?;
                out.push(b ^ 0x20);
                i += 2;
            }
            b'*' => {
                let prev = *out.last().ok_or(DecodeError::RunWithoutByte)?;
                let n = *raw.get(i + 1).ok_or(DecodeError::RunWithoutByte)?;
                let extra = n.checked_sub(29).ok_or(DecodeError::BadRunCount(n))?;
                out.extend(std::iter::repeat_n(prev, usize::from(extra)));
                i += 2;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// One thing read off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// `+`: the peer got our last packet.
    Ack,
    /// `-`: the peer wants our last packet again.
    Nak,
    /// A packet whose checksum matched, decoded.
    Packet(Vec<u8>),
    /// A complete `$…#xx` whose checksum or body was bad: answer with `-`.
    Corrupt { raw: Vec<u8>, why: String },
}

/// Incremental frame reader: bytes go in as they arrive (split anywhere),
/// frames come out once complete, so a short read timeout loses nothing.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

/// A frame longer than this without its `#` is garbage, not a packet
/// (QEMU's PacketSize is 4 KiB; its largest reply, `g`, is ~1.2 KiB).
const MAX_FRAME: usize = 1 << 20;

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held back waiting for the rest of a frame.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame, or `None` until more bytes arrive. Bytes
    /// between frames that are not `$`, `+` or `-` are dropped.
    pub fn next_frame(&mut self) -> Option<Frame> {
        loop {
            let start = self
                .buf
                .iter()
                .position(|b| matches!(b, b'$' | b'+' | b'-'));
            let Some(start) = start else {
                self.buf.clear();
                return None;
            };
            self.buf.drain(..start);
            match self.buf[0] {
                b'+' => {
                    self.buf.drain(..1);
                    return Some(Frame::Ack);
                }
                b'-' => {
                    self.buf.drain(..1);
                    return Some(Frame::Nak);
                }
                _ => {}
            }
            let Some(hash) = self.buf.iter().position(|&b| b == b'#') else {
                if self.buf.len() > MAX_FRAME {
                    // Never terminated: drop the `$` and rescan the rest.
                    self.buf.drain(..1);
                    continue;
                }
                return None;
            };
            if self.buf.len() < hash + 3 {
                return None;
            }
            // A `$` inside the body means the first frame was cut short and
            // a new one began: resynchronise on the later `$`.
            if let Some(restart) = self.buf[1..hash].iter().rposition(|&b| b == b'$') {
                self.buf.drain(..=restart);
                continue;
            }
            let frame: Vec<u8> = self.buf.drain(..hash + 3).collect();
            return Some(check_frame(frame));
        }
    }
}

/// `$body#xx` → a packet, or why it is corrupt.
fn check_frame(frame: Vec<u8>) -> Frame {
    let hash = frame.len() - 3;
    let raw = &frame[1..hash];
    let sum_text = &frame[hash + 1..];
    let sent = std::str::from_utf8(sum_text)
        .ok()
        .and_then(|s| u8::from_str_radix(s, 16).ok());
    let why = match sent {
        None => format!(
            "checksum `{}` is not hex",
            String::from_utf8_lossy(sum_text)
        ),
        Some(sent) if sent != checksum(raw) => {
            format!(
                "checksum {sent:02x} but the body sums to {:02x}",
                checksum(raw)
            )
        }
        Some(_) => match decode_body(raw) {
            Ok(body) => return Frame::Packet(body),
            Err(e) => e.to_string(),
        },
    };
    Frame::Corrupt { raw: frame, why }
}

/// Lower-case hex of `bytes`, two digits each.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex pairs → bytes; `None` on an odd length or a non-hex digit.
pub fn from_hex(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.chunks_exact(2)
        .map(|pair| Some((hex_digit(pair[0])? << 4) | hex_digit(pair[1])?))
        .collect()
}

/// A big-endian hex number as the protocol writes addresses and ids
/// (`0000000000000400`, `p01.02`'s `01`); `None` if empty, not hex, or
/// wider than 64 bits.
pub fn parse_hex_u64(text: &[u8]) -> Option<u64> {
    let digits = match text.iter().position(|&b| b != b'0') {
        Some(first) => &text[first..],
        None if !text.is_empty() => return Some(0),
        None => return None,
    };
    if digits.len() > 16 {
        return None;
    }
    digits
        .iter()
        .try_fold(0u64, |acc, &b| Some((acc << 4) | u64::from(hex_digit(b)?)))
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(bytes: &[u8]) -> Vec<Frame> {
        let mut d = Decoder::new();
        d.feed(bytes);
        std::iter::from_fn(|| d.next_frame()).collect()
    }

    #[test]
    fn encodes_with_checksum_like_qemu() {
        // Real QEMU 7.2 replies seen on this machine.
        assert_eq!(encode(b"OK"), b"$OK#9a");
        assert_eq!(encode(b""), b"$#00");
        assert_eq!(encode(b"E22"), b"$E22#a9");
    }

    #[test]
    fn escapes_reserved_bytes_and_round_trips() {
        let data = b"a$b#c}d*e";
        let framed = encode(data);
        assert!(
            framed.starts_with(b"$a}\x04b}\x03c}]d}\x0ae#"),
            "{framed:?}"
        );
        assert_eq!(frames(&framed), vec![Frame::Packet(data.to_vec())]);
    }

    #[test]
    fn decodes_acks_packets_and_skips_garbage() {
        let got = frames(b"junk+$OK#9a\x00-$T05thread:p01.01;#06");
        assert_eq!(
            got,
            vec![
                Frame::Ack,
                Frame::Packet(b"OK".to_vec()),
                Frame::Nak,
                Frame::Packet(b"T05thread:p01.01;".to_vec()),
            ]
        );
    }

    #[test]
    fn holds_partial_frames_across_feeds() {
        let whole = b"$mp01.02#ce";
        for split in 0..whole.len() {
            let mut d = Decoder::new();
            d.feed(&whole[..split]);
            assert_eq!(d.next_frame(), None, "split at {split}");
            d.feed(&whole[split..]);
            assert_eq!(d.next_frame(), Some(Frame::Packet(b"mp01.02".to_vec())));
            assert_eq!(d.pending(), 0);
        }
    }

    #[test]
    fn bad_checksum_is_corrupt_not_a_packet() {
        let got = frames(b"$OK#00$OK#zz");
        assert!(matches!(&got[0], Frame::Corrupt { why, .. } if why.contains("sums to 9a")));
        assert!(matches!(&got[1], Frame::Corrupt { why, .. } if why.contains("not hex")));
    }

    #[test]
    fn truncated_frame_resyncs_on_next_dollar() {
        assert_eq!(frames(b"$OK$OK#9a"), vec![Frame::Packet(b"OK".to_vec())]);
    }

    #[test]
    fn expands_runs_and_rejects_bad_ones() {
        // `0*"` is '0' plus 34-29 = 5 more.
        assert_eq!(decode_body(b"0* ").unwrap(), b"0000");
        assert_eq!(decode_body(b"0*\"").unwrap(), b"000000");
        assert_eq!(decode_body(b"}]*!").unwrap(), b"}}}}}");
        assert_eq!(decode_body(b"*!"), Err(DecodeError::RunWithoutByte));
        assert_eq!(decode_body(b"0*"), Err(DecodeError::RunWithoutByte));
        assert_eq!(decode_body(b"0*\x01"), Err(DecodeError::BadRunCount(1)));
        assert_eq!(decode_body(b"ab}"), Err(DecodeError::DanglingEscape));
        let raw = b"0* ";
        let mut framed = vec![b'$'];
        framed.extend_from_slice(raw);
        framed.extend_from_slice(format!("#{:02x}", checksum(raw)).as_bytes());
        assert_eq!(frames(&framed), vec![Frame::Packet(b"0000".to_vec())]);
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        // A cheap deterministic fuzz: every prefix of a noisy stream.
        let noise: Vec<u8> = (0u32..2000)
            .map(|i| {
                let x = i.wrapping_mul(2_654_435_761) >> 13;
                b"$#}*+-0a9fOK\x03\xff"[(x % 14) as usize]
            })
            .collect();
        for end in 0..noise.len() {
            let mut d = Decoder::new();
            d.feed(&noise[..end]);
            while d.next_frame().is_some() {}
            let _ = decode_body(&noise[..end]);
            let _ = from_hex(&noise[..end]);
            let _ = parse_hex_u64(&noise[..end.min(40)]);
        }
    }

    #[test]
    fn hex_helpers() {
        assert_eq!(to_hex(&[0, 0xab, 0x10]), "00ab10");
        assert_eq!(from_hex(b"00aB10"), Some(vec![0, 0xab, 0x10]));
        assert_eq!(from_hex(b"0"), None);
        assert_eq!(from_hex(b"0g"), None);
        assert_eq!(parse_hex_u64(b"0000000000000400"), Some(0x400));
        assert_eq!(
            parse_hex_u64(b"ffffffff83007a00"),
            Some(0xffff_ffff_8300_7a00)
        );
        assert_eq!(parse_hex_u64(b"000"), Some(0));
        assert_eq!(parse_hex_u64(b""), None);
        assert_eq!(parse_hex_u64(b"1ffffffffffffffff"), None);
        assert_eq!(parse_hex_u64(b"-1"), None);
    }
}
