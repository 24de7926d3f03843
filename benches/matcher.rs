//! Matcher workbench benchmarks (filled in below).
fn main() {}
