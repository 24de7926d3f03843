//! The guest's topology as the own VMM builds it: x86 APIC IDs packed from
//! bit fields (thread, core within its LLC, LLC within its node, node as the
//! package), the same IDs in CPUID, the MP table, the MADT and the SRAT, and
//! guest RAM split evenly over the NUMA nodes. KVM takes a vCPU's id as its
//! initial APIC ID, so vCPUs are created with these IDs.

use scxray::run::topology::Topology;

/// Bits of APIC ID that number `n` things (ceil(log2 n)).
pub fn id_bits(n: u32) -> u32 {
    n.max(1).next_power_of_two().trailing_zeros()
}

/// [`Topology`] with its APIC ID fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuLayout {
    pub topology: Topology,
}

impl CpuLayout {
    pub fn new(topology: Topology) -> CpuLayout {
        CpuLayout { topology }
    }

    /// The APIC ID bits of a thread within its core.
    pub fn thread_bits(&self) -> u32 {
        id_bits(self.topology.threads_per_core)
    }

    /// The APIC ID bits below the LLC's own: a core and its threads.
    pub fn llc_shift(&self) -> u32 {
        self.thread_bits() + id_bits(self.topology.cores_per_llc)
    }

    /// The APIC ID bits below the package's (node's) own.
    pub fn package_shift(&self) -> u32 {
        self.llc_shift() + id_bits(self.topology.llcs_per_node())
    }

    /// The APIC ID of CPU `cpu` (thread-first numbering, see [`Topology`]).
    pub fn apic_id(&self, cpu: u32) -> u32 {
        let t = &self.topology;
        let p = t.place(cpu);
        let llc_in_node = p.llc % t.llcs_per_node().max(1);
        p.thread
            | p.core << self.thread_bits()
            | llc_in_node << self.llc_shift()
            | p.node << self.package_shift()
    }

    pub fn apic_ids(&self) -> Vec<u32> {
        (0..self.topology.cpus()).map(|c| self.apic_id(c)).collect()
    }

    /// The largest APIC ID: the MP table and the MADT's xAPIC entries hold
    /// 8 bits, 0xff being the broadcast ID.
    pub fn max_apic_id(&self) -> u32 {
        self.apic_ids().into_iter().max().unwrap_or(0)
    }

    /// Logical processor IDs a package spans (a power of two).
    pub fn ids_per_package(&self) -> u32 {
        1 << self.package_shift()
    }
}

/// A stretch of guest RAM and the NUMA node it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeRange {
    pub node: u32,
    pub gpa: u64,
    pub len: u64,
}

/// `ram` (guest physical ranges, in address order) split evenly over
/// `nodes` nodes by bytes, in 2 MiB steps: node 0 first. A range that
/// straddles a node boundary is cut in two.
pub fn split_ram(ram: &[(u64, u64)], nodes: u32) -> Vec<NodeRange> {
    const STEP: u64 = 2 << 20;
    let total: u64 = ram.iter().map(|r| r.1).sum();
    let nodes = u64::from(nodes.max(1));
    let share = (total / nodes / STEP * STEP).max(STEP);
    let mut out = Vec::new();
    let mut done = 0u64;
    for &(gpa, len) in ram {
        let mut at = 0;
        while at < len {
            let node = (done / share).min(nodes - 1);
            // The last node takes whatever is left.
            let node_end = if node == nodes - 1 {
                u64::MAX
            } else {
                (node + 1) * share
            };
            let take = (len - at).min(node_end - done);
            out.push(NodeRange {
                node: node as u32,
                gpa: gpa + at,
                len: take,
            });
            at += take;
            done += take;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(s: &str) -> CpuLayout {
        CpuLayout::new(s.parse().unwrap())
    }

    #[test]
    fn flat_topologies_keep_apic_id_equal_to_the_cpu() {
        let l = layout("1n1l6c1t");
        assert_eq!(l.apic_ids(), [0, 1, 2, 3, 4, 5]);
        assert_eq!(
            (l.thread_bits(), l.llc_shift(), l.package_shift()),
            (0, 3, 3)
        );
    }

    /// 2 nodes × 2 LLCs × 3 cores × 2 threads: a thread bit, two core bits
    /// (3 cores), an LLC bit, then the node.
    #[test]
    fn apic_ids_pack_thread_core_llc_and_node() {
        let l = layout("2n4l3c2t");
        assert_eq!(
            (l.thread_bits(), l.llc_shift(), l.package_shift()),
            (1, 3, 4)
        );
        let ids = l.apic_ids();
        assert_eq!(ids.len(), 24);
        assert_eq!(&ids[..6], &[0, 1, 2, 3, 4, 5], "LLC 0");
        assert_eq!(&ids[6..12], &[8, 9, 10, 11, 12, 13], "LLC 1");
        assert_eq!(ids[12], 16, "node 1 starts a package");
        assert_eq!(l.max_apic_id(), 16 + 8 + 5);
        assert_eq!(l.ids_per_package(), 16);
        let mut sorted = ids.clone();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len(), "unique");
    }

    #[test]
    fn every_topology_of_64_cpus_or_fewer_fits_8_bit_apic_ids() {
        for n in 1..=8 {
            for l in (n..=64).step_by(n as usize) {
                for c in 1..=64 / l {
                    for t in 1..=64 / (l * c) {
                        let topo = Topology {
                            numa_nodes: n,
                            llcs: l,
                            cores_per_llc: c,
                            threads_per_core: t,
                        };
                        let max = CpuLayout::new(topo).max_apic_id();
                        assert!(max < 0xff, "{topo}: {max}");
                    }
                }
            }
        }
    }

    #[test]
    fn ram_is_split_evenly_over_nodes_across_the_hole() {
        const MIB: u64 = 1 << 20;
        // Below the hole, then above 4 GiB.
        let ram = [(0, 640 << 10), (MIB, 3071 * MIB), (4096 * MIB, 1024 * MIB)];
        let parts = split_ram(&ram, 2);
        let per_node = |n| -> u64 { parts.iter().filter(|p| p.node == n).map(|p| p.len).sum() };
        let total: u64 = ram.iter().map(|r| r.1).sum();
        assert_eq!(per_node(0) + per_node(1), total);
        assert_eq!(per_node(0), total / 2 / (2 * MIB) * (2 * MIB));
        assert_eq!(
            parts.len(),
            4,
            "the middle range is cut at the node boundary: {parts:?}"
        );
        assert_eq!(parts[1].node, 0);
        assert_eq!(parts[2].node, 1);
        assert_eq!(parts[2].gpa, parts[1].gpa + parts[1].len);
        assert_eq!(
            split_ram(&ram, 1).len(),
            3,
            "one node: the ranges as they are"
        );
    }
}
