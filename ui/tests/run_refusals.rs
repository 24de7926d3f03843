//! What `scxray run`/`demo` refuse before anything boots (issue 15): a guest
//! larger than the machine can give. Needs no VM.

use std::process::Command;

#[test]
fn memory_beyond_the_host_is_refused_with_what_it_has() {
    let o = Command::new(env!("CARGO_BIN_EXE_scxray"))
        .args(["demo", "--headless", "--memory", "65536"])
        .env(
            "XDG_STATE_HOME",
            std::env::temp_dir().join("scxray-refusal-test"),
        )
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    let avail_mib = std::fs::read_to_string("/proc/meminfo")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap()
        / 1024;
    if avail_mib >= 65536 {
        eprintln!("skipped: this machine has {avail_mib} MiB available; 64 GiB fits");
        return;
    }
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--memory 65536 MiB is more than this machine can give")
            && err.contains("MiB available now"),
        "{err}"
    );
    // Refused before building or booting anything.
    assert!(!err.contains("booting") && !err.contains("QEMU"), "{err}");
}
