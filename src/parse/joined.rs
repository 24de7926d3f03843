//! Kernel log records joined on one line by copy and paste
//! (`... disabled (runtime error) [2427581.5] sched_ext: p2dq: ...`): every
//! record parser reads one record per line, so the line is split at the
//! second timestamp before anything else reads it.

use super::prefix::{self, LineSource};

/// Byte offsets where a record starts in the middle of a line that itself
/// starts with a dmesg timestamp. Walks only the `[`s, not every line.
pub fn split_points(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut points = Vec::new();
    for at in memchr::memchr_iter(b'[', bytes) {
        // Mid-line and after a blank: `LAYER[1]` or `cpus[3]` are not records.
        if at == 0 || !matches!(bytes[at - 1], b' ' | b'\t') {
            continue;
        }
        let line_start = memchr::memrchr(b'\n', &bytes[..at]).map_or(0, |i| i + 1);
        if bytes[line_start..at].iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let line_end = memchr::memchr(b'\n', &bytes[at..]).map_or(bytes.len(), |i| at + i);
        let is_record = |s: &str| prefix::strip(s).source == LineSource::Dmesg;
        if is_record(&text[at..line_end]) && is_record(&text[line_start..at]) {
            points.push(at);
        }
    }
    points
}

/// `text` with a line break before each split point (the blanks before it dropped).
pub fn split(text: &str, points: &[usize]) -> String {
    let mut out = String::with_capacity(text.len() + points.len());
    let mut last = 0;
    for &at in points {
        out.push_str(text[last..at].trim_end_matches([' ', '\t']));
        out.push('\n');
        last = at;
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_the_second_timestamp_only() {
        let text = "[2427581.4] sched_ext: BPF scheduler \"p2dq\" disabled (runtime error) [2427581.5] sched_ext: p2dq: invalid CPU 64\n\
                    [2427581.6]    LAYER[1] cpus[3] [x] done\n\
                    plain words [  12.5] not a record line\n";
        let points = split_points(text);
        assert_eq!(points.len(), 1);
        let out = split(text, &points);
        assert!(out.starts_with(
            "[2427581.4] sched_ext: BPF scheduler \"p2dq\" disabled (runtime error)\n[2427581.5] sched_ext: p2dq: invalid CPU 64\n"
        ));
    }
}
