//! The guest's CPU topology as its kernel reports it in sysfs (ktstr takes
//! sysfs as the ground truth too): the host checks it against the topology
//! it asked the backend for.

use std::collections::BTreeSet;
use std::path::Path;

use scxray::run::topology::{parse_cpu_list, Seen};

const CPUS: &str = "/sys/devices/system/cpu";
const NODES: &str = "/sys/devices/system/node";

/// Reads the online CPUs' nodes, LLCs and cores; `Err` names what could
/// not be read.
pub fn read() -> Result<Seen, String> {
    read_from(Path::new(CPUS), Path::new(NODES))
}

fn read_from(cpus_dir: &Path, nodes_dir: &Path) -> Result<Seen, String> {
    let online = list(&cpus_dir.join("online"))?;
    let mut seen = Seen {
        cpus: online.len() as u32,
        ..Seen::default()
    };
    // A kernel without NUMA has no node directory: one node of every CPU.
    let mut nodes: Vec<(u32, Vec<u32>)> = match std::fs::read_dir(nodes_dir) {
        Ok(dir) => dir
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                let n: u32 = name.strip_prefix("node")?.parse().ok()?;
                Some((n, list(&nodes_dir.join(&name).join("cpulist")).ok()?))
            })
            .filter(|(_, cpus)| !cpus.is_empty())
            .collect(),
        Err(_) => vec![(0, online.clone())],
    };
    nodes.sort();
    seen.nodes = nodes.into_iter().map(|(_, c)| c).collect();
    let mut llcs = BTreeSet::new();
    let mut cores = BTreeSet::new();
    for cpu in &online {
        let dir = cpus_dir.join(format!("cpu{cpu}"));
        cores.insert(list(&dir.join("topology/thread_siblings_list"))?);
        llcs.insert(last_level_cache(&dir.join("cache"))?);
    }
    seen.llcs = llcs.into_iter().collect();
    seen.cores = cores.into_iter().collect();
    Ok(seen)
}

/// The `shared_cpu_list` of the highest-level cache (`index<N>/level`).
fn last_level_cache(cache: &Path) -> Result<Vec<u32>, String> {
    let dir = std::fs::read_dir(cache).map_err(|e| format!("{}: {e}", cache.display()))?;
    let mut best: Option<(u32, std::path::PathBuf)> = None;
    for e in dir.flatten() {
        let p = e.path();
        if !e.file_name().to_string_lossy().starts_with("index") {
            continue;
        }
        let Ok(level) = std::fs::read_to_string(p.join("level")) else {
            continue;
        };
        let Ok(level) = level.trim().parse::<u32>() else {
            continue;
        };
        if best.as_ref().is_none_or(|(l, _)| level > *l) {
            best = Some((level, p));
        }
    }
    let (_, index) = best.ok_or_else(|| format!("{}: no cache levels", cache.display()))?;
    list(&index.join("shared_cpu_list"))
}

fn list(path: &Path) -> Result<Vec<u32>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_cpu_list(&text).ok_or_else(|| format!("{}: not a CPU list: {text:?}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn reads_a_two_llc_guest_from_sysfs_files() {
        let root = tempfile::tempdir().unwrap();
        let (cpus, nodes) = (root.path().join("cpu"), root.path().join("node"));
        write(&cpus, "online", "0-3\n");
        write(&nodes, "node0/cpulist", "0-3\n");
        write(&nodes, "has_cpu", "0\n");
        for cpu in 0..4 {
            let d = format!("cpu{cpu}");
            write(
                &cpus,
                &format!("{d}/topology/thread_siblings_list"),
                &format!("{cpu}\n"),
            );
            write(&cpus, &format!("{d}/cache/index0/level"), "1\n");
            write(
                &cpus,
                &format!("{d}/cache/index0/shared_cpu_list"),
                &format!("{cpu}\n"),
            );
            let llc = if cpu < 2 { "0-1" } else { "2-3" };
            write(&cpus, &format!("{d}/cache/index3/level"), "3\n");
            write(&cpus, &format!("{d}/cache/index3/shared_cpu_list"), llc);
        }
        let seen = read_from(&cpus, &nodes).unwrap();
        assert_eq!(seen.topology().unwrap().to_string(), "1n2l2c1t");
        std::fs::remove_dir_all(cpus.join("cpu3/cache")).unwrap();
        let e = read_from(&cpus, &nodes).unwrap_err();
        assert!(e.contains("cpu3/cache"), "{e}");
    }
}
