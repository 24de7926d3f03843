//! The kernel log, read from /dev/kmsg and rendered like dmesg.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;

/// Every record in the kernel's buffer now, as `[ sec.usec] message` lines.
pub fn read_all() -> Vec<String> {
    let Ok(mut f) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/kmsg")
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut buf = vec![0u8; 8192];
    // Each read returns one record; EAGAIN marks the end of the buffer.
    while let Ok(n) = f.read(&mut buf) {
        if n == 0 {
            break;
        }
        if let Some(line) = render(&String::from_utf8_lossy(&buf[..n])) {
            out.push(line);
        }
    }
    out
}

/// `6,339,5621706,-;sched_ext: ...` → `[    5.621706] sched_ext: ...`.
pub fn render(record: &str) -> Option<String> {
    let (meta, msg) = record.split_once(';')?;
    let usec: u64 = meta.split(',').nth(2)?.parse().ok()?;
    // Continuation lines (` SUBSYSTEM=...`) follow the first line; keep the message only.
    let msg = msg.lines().next().unwrap_or("");
    Some(format!(
        "[{:>5}.{:06}] {msg}",
        usec / 1_000_000,
        usec % 1_000_000
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_like_dmesg() {
        assert_eq!(
            super::render(
                "3,339,5621706,-;sched_ext: BPF scheduler \"demo\" disabled (scx_bpf_error)\n"
            )
            .as_deref(),
            Some("[    5.621706] sched_ext: BPF scheduler \"demo\" disabled (scx_bpf_error)")
        );
        assert!(super::render("garbage").is_none());
    }
}
