//! The real `scxray kernel fetch` path: Debian trixie-backports' cloud kernel
//! through a temporary apt source, into a kernel cache.
//!
//! It needs root, apt-get/apt-cache/dpkg-deb and the Debian mirror; without
//! them it prints `skipped: <test>: <reason>` and passes, or fails under
//! `SCXRAY_REQUIRE_VM`/`CI` (`tests/support/require.rs`). Not to download 15 MB on every run, it uses a
//! persistent cache outside the repository: `$SCXRAY_TEST_CACHE`, else
//! `~/.cache/scxray-test`. A kernel already there is reused (the fetch still
//! updates the index to learn the newest release). `SCXRAY_TEST_FETCH_FRESH=1`
//! fetches into a temporary cache instead.

use std::path::{Path, PathBuf};
use std::time::Instant;

use scxray_vmm::cancel::Cancel;
use scxray_vmm::kernel::apt::AptError;
use scxray_vmm::kernel::extract::BTF_MAGIC;
use scxray_vmm::kernel::image::{probe_image, ImageKind};
use scxray_vmm::kernel::{
    fetch, FetchError, FetchOptions, KernelCache, KernelSource, Resolver, Stage,
};

#[path = "../../tests/support/require.rs"]
mod require;

const TEST: &str = "fetches_the_cloud_kernel_and_reuses_it";

fn skip(reason: &str) {
    require::skip(TEST, reason);
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

fn persistent_cache_root() -> Option<PathBuf> {
    let set = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    set("SCXRAY_TEST_CACHE")
        .map(PathBuf::from)
        .or_else(|| set("HOME").map(|h| Path::new(&h).join(".cache/scxray-test")))
}

#[test]
fn fetches_the_cloud_kernel_and_reuses_it() {
    if !is_root() {
        return skip("not root (apt's downloads run as root here)");
    }
    for tool in ["apt-get", "apt-cache", "dpkg-deb"] {
        if !on_path(tool) {
            return skip(&format!("`{tool}` is not installed (not a Debian system)"));
        }
    }
    let fresh = std::env::var_os("SCXRAY_TEST_FETCH_FRESH").is_some_and(|v| v == "1");
    let temp = tempfile::tempdir().unwrap();
    let root = if fresh {
        temp.path().to_path_buf()
    } else {
        match persistent_cache_root() {
            Some(r) => r,
            None => return skip("neither SCXRAY_TEST_CACHE nor HOME is set"),
        }
    };
    let cache = KernelCache::new(&root);
    let was_cached = cache.list().map(|l| !l.is_empty()).unwrap_or(false);

    let start = Instant::now();
    let mut stages = Vec::new();
    let mut max_download = 0;
    let result = fetch(&cache, &FetchOptions::default(), &Cancel::new(), &mut |p| {
        if stages.last() != Some(&p.stage) {
            eprintln!(
                "[{:5.2}s] {:?} {}",
                start.elapsed().as_secs_f64(),
                p.stage,
                p.detail
            );
            stages.push(p.stage);
        }
        if p.stage == Stage::Download {
            max_download = max_download.max(p.done);
        }
    });
    let fetched = match result {
        Ok(f) => f,
        Err(e) if e.is_network() => return skip(&format!("the mirror is not reachable: {e}")),
        Err(FetchError::Apt(e @ AptError::NoDebianSource { .. })) => {
            return skip(&format!("no Debian mirror configured: {e}"))
        }
        Err(e) => panic!("kernel fetch failed: {e}"),
    };
    eprintln!(
        "fetched {} into {} in {:.2}s (already cached: {}, downloaded {} bytes)",
        fetched.kernel.release,
        fetched.kernel.dir.display(),
        start.elapsed().as_secs_f64(),
        fetched.already_cached,
        fetched.downloaded_bytes
    );
    assert!(stages.contains(&Stage::Index), "{stages:?}");
    assert_eq!(stages.last(), Some(&Stage::Done));
    if !fetched.already_cached {
        assert!(stages.contains(&Stage::Decompress), "{stages:?}");
        assert!(fetched.downloaded_bytes > 1_000_000);
        assert_eq!(max_download, fetched.downloaded_bytes);
        assert_eq!(fetched.packages.len(), 2, "{:?}", fetched.packages);
    } else {
        assert!(was_cached);
    }

    let k = &fetched.kernel;
    let f = k.features;
    assert!(f.sched_ext && f.btf && f.kprobes && f.fprobe, "{f:?}");
    assert_eq!(
        probe_image(&k.image).unwrap(),
        ImageKind::BzImage {
            release: Some(k.release.clone())
        }
    );
    let vmlinux = std::fs::read(k.vmlinux.as_ref().expect("vmlinux")).unwrap();
    assert!(vmlinux.starts_with(b"\x7fELF"));
    assert!(vmlinux.len() > 20_000_000, "{}", vmlinux.len());
    let btf = std::fs::read(k.btf.as_ref().expect("btf")).unwrap();
    assert!(btf.starts_with(&BTF_MAGIC));
    assert!(btf.len() > 1_000_000, "{}", btf.len());
    assert!(k.meta.as_ref().is_some_and(|m| m.release == k.release));

    // No work directory of this process is left.
    let ours = format!("work-{}-", std::process::id());
    if let Ok(rd) = std::fs::read_dir(root.join("tmp")) {
        for e in rd.flatten() {
            assert!(
                !e.file_name().to_string_lossy().starts_with(&ours),
                "left behind: {}",
                e.path().display()
            );
        }
    }

    // The cache rule of resolution picks it.
    let resolved = Resolver {
        flag: None,
        env: None,
        cache: Some(cache.clone()),
        boot_dir: temp.path().join("no-boot"),
        host_release: None,
    }
    .resolve()
    .unwrap();
    assert_eq!(resolved.source, KernelSource::Cache);
    assert_eq!(resolved.version, cache.list().unwrap()[0].release);
}
