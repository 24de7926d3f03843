//! The filler of the large generated logs that benchmarks and memory tests
//! read: scx_rusty-style stats lines, one per second of a day. Included by
//! path (`#[path = ".../tests/support/stats_line.rs"]`) so the parser bench
//! and the memory test read the same text.

/// Stats line `i`, without its line end.
pub fn stats_line(i: u64) -> String {
    format!(
        "{:02}:{:02}:{:02} [INFO] rusty: tasks={} load={:.2} imbal={} migrations={} cpu_busy={:.1}%",
        (i / 3600) % 24,
        (i / 60) % 60,
        i % 60,
        i % 977,
        (i % 1000) as f64 / 7.0,
        i % 13,
        i % 101,
        (i % 1000) as f64 / 10.0
    )
}
