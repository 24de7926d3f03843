//! A guest's CPU topology in ktstr's terms: NUMA nodes, last-level caches
//! (LLCs, spread evenly over the nodes), cores per LLC and threads per
//! core, written `{nodes}n{llcs}l{cores}c{threads}t` as ktstr prints it
//! (`1n2l4c1t`: one node, two LLCs of four single-thread cores). CPUs are
//! numbered thread-first: the threads of a core, the cores of an LLC, the
//! LLCs of a node. Both backends build the guest from it, and what the
//! guest then reports from sysfs ([`Seen`]) is checked against it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Topology {
    pub numa_nodes: u32,
    /// LLCs in all, `numa_nodes` dividing it.
    pub llcs: u32,
    pub cores_per_llc: u32,
    pub threads_per_core: u32,
}

/// Where one CPU sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub node: u32,
    /// The LLC's index over the whole guest.
    pub llc: u32,
    /// The core's index within its LLC.
    pub core: u32,
    pub thread: u32,
}

/// Why a topology was refused; carries the text or numbers given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    #[error("topology `{0}` is not of the form <nodes>n<llcs>l<cores>c<threads>t, e.g. 1n2l4c1t")]
    Syntax(String),
    #[error("topology {0}: every count must be at least 1")]
    Zero(String),
    #[error("topology {topology}: {llcs} LLCs cannot be spread evenly over {nodes} NUMA nodes")]
    Uneven {
        topology: String,
        llcs: u32,
        nodes: u32,
    },
    #[error("topology {topology} has {cpus} CPUs; at most {max} are supported")]
    TooMany {
        topology: String,
        cpus: u64,
        max: u32,
    },
}

impl Topology {
    /// One node, one LLC, `cpus` single-thread cores: what `--cpus N` means.
    pub fn flat(cpus: u32) -> Topology {
        Topology {
            numa_nodes: 1,
            llcs: 1,
            cores_per_llc: cpus,
            threads_per_core: 1,
        }
    }

    pub fn cpus(&self) -> u32 {
        self.llcs * self.cores_per_llc * self.threads_per_core
    }

    pub fn llcs_per_node(&self) -> u32 {
        self.llcs / self.numa_nodes.max(1)
    }

    pub fn cpus_per_llc(&self) -> u32 {
        self.cores_per_llc * self.threads_per_core
    }

    pub fn cpus_per_node(&self) -> u32 {
        self.llcs_per_node() * self.cpus_per_llc()
    }

    /// Where CPU `cpu` sits (thread-first numbering).
    pub fn place(&self, cpu: u32) -> Place {
        let thread = cpu % self.threads_per_core;
        let core = cpu / self.threads_per_core % self.cores_per_llc;
        let llc = cpu / self.cpus_per_llc();
        Place {
            node: llc / self.llcs_per_node().max(1),
            llc,
            core,
            thread,
        }
    }

    /// The CPUs of NUMA node `node`, a contiguous range.
    pub fn node_cpus(&self, node: u32) -> std::ops::Range<u32> {
        let n = self.cpus_per_node();
        node * n..(node + 1) * n
    }

    /// Whether the counts are usable, with `max_cpus` CPUs at most.
    pub fn check(&self, max_cpus: u32) -> Result<(), TopologyError> {
        let t = self.to_string();
        if [
            self.numa_nodes,
            self.llcs,
            self.cores_per_llc,
            self.threads_per_core,
        ]
        .contains(&0)
        {
            return Err(TopologyError::Zero(t));
        }
        if !self.llcs.is_multiple_of(self.numa_nodes) {
            return Err(TopologyError::Uneven {
                topology: t,
                llcs: self.llcs,
                nodes: self.numa_nodes,
            });
        }
        let cpus = self.llcs as u64 * self.cores_per_llc as u64 * self.threads_per_core as u64;
        if cpus > max_cpus as u64 {
            return Err(TopologyError::TooMany {
                topology: t,
                cpus,
                max: max_cpus,
            });
        }
        Ok(())
    }
}

impl fmt::Display for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}n{}l{}c{}t",
            self.numa_nodes, self.llcs, self.cores_per_llc, self.threads_per_core
        )
    }
}

impl FromStr for Topology {
    type Err = TopologyError;

    /// `1n2l4c1t`; the counts only, [`Topology::check`] judges them.
    fn from_str(s: &str) -> Result<Topology, TopologyError> {
        let syntax = || TopologyError::Syntax(s.to_string());
        let mut counts = [0u32; 4];
        let mut rest = s.trim();
        for (count, unit) in counts.iter_mut().zip(['n', 'l', 'c', 't']) {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || !rest[digits..].starts_with(unit) {
                return Err(syntax());
            }
            *count = rest[..digits].parse().map_err(|_| syntax())?;
            rest = &rest[digits + 1..];
        }
        if !rest.is_empty() {
            return Err(syntax());
        }
        let [numa_nodes, llcs, cores_per_llc, threads_per_core] = counts;
        Ok(Topology {
            numa_nodes,
            llcs,
            cores_per_llc,
            threads_per_core,
        })
    }
}

/// The topology as the guest kernel reports it in sysfs: CPU lists of each
/// NUMA node, each LLC (the highest cache level's `shared_cpu_list`) and
/// each core (`thread_siblings_list`), as the guest agent read them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub cpus: u32,
    pub nodes: Vec<Vec<u32>>,
    pub llcs: Vec<Vec<u32>>,
    pub cores: Vec<Vec<u32>>,
}

impl Seen {
    /// The topology these groups make, when it is a regular one (every
    /// group of a kind the same size, nested); `None` otherwise.
    pub fn topology(&self) -> Option<Topology> {
        let same_size = |groups: &[Vec<u32>]| {
            let n = groups.first()?.len() as u32;
            (n > 0 && groups.iter().all(|g| g.len() as u32 == n)).then_some(n)
        };
        let per_node = same_size(&self.nodes)?;
        let per_llc = same_size(&self.llcs)?;
        let per_core = same_size(&self.cores)?;
        if per_node % per_llc != 0 || per_llc % per_core != 0 {
            return None;
        }
        let t = Topology {
            numa_nodes: self.nodes.len() as u32,
            llcs: self.llcs.len() as u32,
            cores_per_llc: per_llc / per_core,
            threads_per_core: per_core,
        };
        (t.cpus() == self.cpus).then_some(t)
    }

    /// How the guest's view compares with `asked`, in one line.
    pub fn verdict(&self, asked: &Topology) -> String {
        match self.topology() {
            Some(t) if t == *asked => format!("the guest sees topology {t}, as asked"),
            Some(t) => format!(
                "topology {asked} was asked, but the guest sees {t} (the backend could not build it as asked)"
            ),
            None => format!(
                "topology {asked} was asked, but the guest sees an irregular one: {} CPUs, nodes {}, LLCs {}, cores {}",
                self.cpus,
                lists(&self.nodes),
                lists(&self.llcs),
                lists(&self.cores)
            ),
        }
    }
}

fn lists(groups: &[Vec<u32>]) -> String {
    let g: Vec<String> = groups
        .iter()
        .map(|g| {
            let cpus: Vec<String> = g.iter().map(u32::to_string).collect();
            format!("[{}]", cpus.join(","))
        })
        .collect();
    g.join(" ")
}

/// A sysfs CPU list (`0-3,8,10-11`) as CPU numbers; `None` when malformed.
pub fn parse_cpu_list(text: &str) -> Option<Vec<u32>> {
    let text = text.trim();
    let mut out = Vec::new();
    if text.is_empty() {
        return Some(out);
    }
    for part in text.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if b < a || b - a > 4096 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_ktstrs_form() {
        let t: Topology = "2n4l2c2t".parse().unwrap();
        assert_eq!(
            t,
            Topology {
                numa_nodes: 2,
                llcs: 4,
                cores_per_llc: 2,
                threads_per_core: 2
            }
        );
        assert_eq!(t.to_string(), "2n4l2c2t");
        assert_eq!(t.cpus(), 16);
        assert_eq!(Topology::flat(2).to_string(), "1n1l2c1t");
        for bad in [
            "",
            "1n1l2c",
            "x",
            "1n1l2c1tz",
            "1l1n2c1t",
            "99999999999n1l1c1t",
        ] {
            assert_eq!(
                bad.parse::<Topology>(),
                Err(TopologyError::Syntax(bad.to_string())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn checks_name_the_fault() {
        let t = |s: &str| s.parse::<Topology>().unwrap();
        assert_eq!(
            t("1n0l2c1t").check(64),
            Err(TopologyError::Zero("1n0l2c1t".into()))
        );
        let e = t("2n3l1c1t").check(64).unwrap_err();
        assert_eq!(
            e.to_string(),
            "topology 2n3l1c1t: 3 LLCs cannot be spread evenly over 2 NUMA nodes"
        );
        let e = t("1n8l8c2t").check(64).unwrap_err();
        assert_eq!(
            e.to_string(),
            "topology 1n8l8c2t has 128 CPUs; at most 64 are supported"
        );
        assert_eq!(t("2n4l2c2t").check(64), Ok(()));
    }

    #[test]
    fn cpus_are_numbered_thread_first() {
        let t: Topology = "2n4l2c2t".parse().unwrap();
        assert_eq!(
            t.place(0),
            Place {
                node: 0,
                llc: 0,
                core: 0,
                thread: 0
            }
        );
        assert_eq!(t.place(1).thread, 1);
        assert_eq!((t.place(2).core, t.place(2).llc), (1, 0));
        assert_eq!(
            t.place(13),
            Place {
                node: 1,
                llc: 3,
                core: 0,
                thread: 1
            }
        );
        assert_eq!(t.node_cpus(1), 8..16);
    }

    #[test]
    fn the_guests_view_is_judged_against_the_ask() {
        let seen = Seen {
            cpus: 4,
            nodes: vec![vec![0, 1], vec![2, 3]],
            llcs: vec![vec![0, 1], vec![2, 3]],
            cores: vec![vec![0], vec![1], vec![2], vec![3]],
        };
        let asked: Topology = "2n2l2c1t".parse().unwrap();
        assert_eq!(seen.topology(), Some(asked));
        assert_eq!(
            seen.verdict(&asked),
            "the guest sees topology 2n2l2c1t, as asked"
        );
        let flat = Seen {
            nodes: vec![vec![0, 1, 2, 3]],
            llcs: vec![vec![0, 1, 2, 3]],
            ..seen.clone()
        };
        assert_eq!(
            flat.verdict(&asked),
            "topology 2n2l2c1t was asked, but the guest sees 1n1l4c1t (the backend could not build it as asked)"
        );
        let odd = Seen {
            llcs: vec![vec![0, 1, 2], vec![3]],
            ..seen
        };
        assert_eq!(odd.topology(), None);
        assert!(odd
            .verdict(&asked)
            .ends_with("LLCs [0,1,2] [3], cores [0] [1] [2] [3]"));
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(
            parse_cpu_list("0-3,8,10-11\n"),
            Some(vec![0, 1, 2, 3, 8, 10, 11])
        );
        assert_eq!(parse_cpu_list(""), Some(vec![]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("a"), None);
    }
}
