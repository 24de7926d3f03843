//! A cache that checks itself (issue 15): a damaged cached kernel is listed as
//! damaged by `scxray kernel list`, and `scxray run` refuses it before any VM
//! starts, naming the file and the fix. Runs the real binary against a
//! private cache (`$SCXRAY_CACHE_DIR`); the real cache is never touched.

use std::path::Path;
use std::process::{Command, Output};

use scxray_vmm::kernel::integrity::{Manifest, MANIFEST_FILE};
use scxray_vmm::kernel::{KernelConfig, KernelMeta};

const RELEASE: &str = "7.3.4+deb13-cloud-amd64";

/// A small bzImage look-alike: `HdrS`, a release string, and a header that
/// announces exactly the file's 64 KiB.
fn fake_image() -> Vec<u8> {
    let mut img = vec![0u8; 64 * 1024];
    img[0x1f1] = 3; // setup_sects: 4 × 512 bytes of setup
    let syssize = ((img.len() - 4 * 512) / 16) as u32;
    img[0x1f4..0x1f8].copy_from_slice(&syssize.to_le_bytes());
    img[0x202..0x206].copy_from_slice(b"HdrS");
    let ptr: u16 = 0x0e00 - 0x200;
    img[0x20e..0x210].copy_from_slice(&ptr.to_le_bytes());
    let text = format!("{RELEASE} (test@scxray) #1 SMP PREEMPT_DYNAMIC\0");
    img[0x0e00..0x0e00 + text.len()].copy_from_slice(text.as_bytes());
    img
}

/// A fake entry, as `scxray kernel fetch` leaves one (with its manifest),
/// written in `template` and copied into the private cache under `root`.
fn put_entry(template: &Path, root: &Path) -> std::path::PathBuf {
    const CONFIG: &str = "CONFIG_SCHED_CLASS_EXT=y\nCONFIG_DEBUG_INFO_BTF=y\nCONFIG_KPROBES=y\n";
    std::fs::create_dir_all(template).unwrap();
    std::fs::write(template.join("vmlinuz"), fake_image()).unwrap();
    std::fs::write(template.join("config"), CONFIG).unwrap();
    std::fs::write(template.join("btf"), b"\x9f\xeb\x01\x00").unwrap();
    let features = KernelConfig::parse("config", CONFIG).features();
    let meta = KernelMeta::new(RELEASE, "test", vec![], features);
    std::fs::write(
        template.join("meta.json"),
        serde_json::to_vec(&meta).unwrap(),
    )
    .unwrap();
    Manifest::record(template).unwrap().write(template).unwrap();
    let entry = root.join("kernels").join(RELEASE);
    std::fs::create_dir_all(&entry).unwrap();
    for f in std::fs::read_dir(template).unwrap().flatten() {
        std::fs::copy(f.path(), entry.join(f.file_name())).unwrap();
    }
    entry
}

fn scxray(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scxray"))
        .args(args)
        .env("SCXRAY_CACHE_DIR", root)
        .env_remove("SCXRAY_KERNEL")
        .output()
        .expect("run scxray")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `scxray run` with the entry named by `--kernel`: resolution checks it
/// before QEMU (and without `--kernel`, a failed resolution would fetch).
fn run_on(root: &Path, entry: &Path) -> Output {
    let o = scxray(
        root,
        &[
            "run",
            "--scheduler",
            "/bin/true",
            "--kernel",
            entry.to_str().unwrap(),
            "--headless",
        ],
    );
    assert!(!o.status.success(), "{}", text(&o));
    o
}

#[test]
fn a_truncated_cached_kernel_is_listed_damaged_and_refused_before_boot() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("cache");
    let entry = put_entry(&tmp.path().join("template"), &root);

    let o = scxray(&root, &["kernel", "list"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let row = out.lines().find(|l| l.starts_with(RELEASE)).unwrap();
    assert!(row.contains(" ok "), "{out}");
    assert!(!out.contains("damaged"), "{out}");

    // Truncated, as by a full disk or a killed copy.
    let image = entry.join("vmlinuz");
    let bytes = std::fs::read(&image).unwrap();
    std::fs::write(&image, &bytes[..20_000]).unwrap();
    let want = format!(
        "cached kernel {RELEASE} damaged (vmlinuz: 20000 bytes, 65536 when stored): run \
         `scxray kernel fetch --force`"
    );

    let o = scxray(&root, &["kernel", "list"]);
    let out = text(&o);
    let row = out.lines().find(|l| l.starts_with(RELEASE)).unwrap();
    assert!(row.contains(" DAMAGED "), "{out}");
    assert!(out.contains(&want), "{out}");

    let o = run_on(&root, &entry);
    let out = text(&o);
    assert!(out.contains(&want), "{out}");
    // Refused before anything was booted.
    assert!(!out.contains("qemu") && !out.contains("QEMU"), "{out}");
}

#[test]
fn an_entry_from_before_manifests_still_needs_a_boot_image() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("cache");
    let entry = put_entry(&tmp.path().join("template"), &root);
    std::fs::remove_file(entry.join(MANIFEST_FILE)).unwrap();

    let o = scxray(&root, &["kernel", "list"]);
    assert!(!text(&o).contains("damaged"), "{}", text(&o));

    // An empty image: QEMU would say "linux kernel too old to load a ram disk".
    std::fs::write(entry.join("vmlinuz"), b"").unwrap();
    let want = format!(
        "cached kernel {RELEASE} damaged (vmlinuz: empty): run `scxray kernel fetch --force`"
    );
    let o = scxray(&root, &["kernel", "list"]);
    assert!(text(&o).contains(&want), "{}", text(&o));
    let o = run_on(&root, &entry);
    assert!(text(&o).contains(&want), "{}", text(&o));

    // Random bytes of a plausible size.
    let random: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    std::fs::write(entry.join("vmlinuz"), random).unwrap();
    let o = run_on(&root, &entry);
    assert!(
        text(&o).contains(&format!(
            "cached kernel {RELEASE} damaged (vmlinuz: no x86 boot header (`HdrS` at 0x202) in \
             its 100000 bytes)"
        )),
        "{}",
        text(&o)
    );
}
