//! The machine's cpus and NUMA nodes, read from sysfs under a [`Root`]:
//! `/sys/devices/system/cpu/online` and `/sys/devices/system/node/node<N>/cpulist`.
//!
//! Used by `tune check` (profile against topology) and by `serve` for its placement log line
//! (shard → cpu → NUMA node). A machine without `/sys/devices/system/node` (no NUMA support
//! compiled in, some containers) is one node holding every cpu. Runs on the main thread.
use super::Root;
use crate::limits;
use std::collections::BTreeMap;

/// Largest cpu number accepted from a cpu list (Linux's `NR_CPUS` maximum is 8192).
pub const CPU_INDEX_MAX: usize = 8191;

/// Online cpus and the node of each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topology {
    pub online_cpus: Vec<usize>,
    /// node → its cpus; empty when sysfs has no node directory.
    pub nodes: BTreeMap<usize, Vec<usize>>,
}

impl Topology {
    /// Reads the topology; missing files give an empty cpu list or no nodes, never an error,
    /// because every caller can still report something useful without them.
    #[must_use]
    pub fn read(root: &Root) -> Self {
        let online_cpus = root
            .read("/sys/devices/system/cpu/online")
            .ok()
            .and_then(|text| parse_cpu_list(&text))
            .unwrap_or_default();
        let mut nodes = BTreeMap::new();
        for node in 0..limits::NUMA_NODES_MAX {
            let path = format!("/sys/devices/system/node/node{node}/cpulist");
            if let Some(cpus) = root.read(&path).ok().and_then(|text| parse_cpu_list(&text)) {
                nodes.insert(node, cpus);
            }
        }
        Self { online_cpus, nodes }
    }

    /// The node of `cpu`; 0 on a machine that reports no nodes (one memory domain).
    #[must_use]
    pub fn node_of(&self, cpu: usize) -> Option<usize> {
        if self.nodes.is_empty() {
            return Some(0);
        }
        self.nodes
            .iter()
            .find(|(_, cpus)| cpus.contains(&cpu))
            .map(|(node, _)| *node)
    }

    /// Node count (at least 1).
    #[must_use]
    pub fn node_count(&self) -> usize {
        self.nodes.len().max(1)
    }
}

/// Parses a kernel cpu list such as `0-3,8,10-11` (whitespace-trimmed). `None` when malformed
/// or past [`CPU_INDEX_MAX`].
#[must_use]
pub fn parse_cpu_list(text: &str) -> Option<Vec<usize>> {
    let text = text.trim();
    let mut cpus = Vec::new();
    if text.is_empty() {
        return Some(cpus);
    }
    for part in text.split(',') {
        let (first, last): (usize, usize) = match part.split_once('-') {
            Some((first, last)) => (first.parse().ok()?, last.parse().ok()?),
            None => {
                let cpu = part.parse().ok()?;
                (cpu, cpu)
            }
        };
        if first > last || last > CPU_INDEX_MAX {
            return None;
        }
        cpus.extend(first..=last);
    }
    Some(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse_like_the_kernel_writes_them() {
        assert_eq!(
            parse_cpu_list("0-3,8,10-11\n"),
            Some(vec![0, 1, 2, 3, 8, 10, 11])
        );
        assert_eq!(parse_cpu_list("5"), Some(vec![5]));
        assert_eq!(parse_cpu_list("\n"), Some(vec![]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("a"), None);
        assert_eq!(parse_cpu_list("0-100000"), None);
    }

    #[test]
    fn nodes_come_from_sysfs_and_default_to_one() {
        let root = tempfile::TempDir::new().unwrap();
        let fake = Root::new(root.path());
        fake.write_for_test("/sys/devices/system/cpu/online", "0-3\n");
        let flat = Topology::read(&fake);
        assert_eq!(flat.online_cpus, vec![0, 1, 2, 3]);
        assert_eq!((flat.node_count(), flat.node_of(3)), (1, Some(0)));
        fake.write_for_test("/sys/devices/system/node/node0/cpulist", "0-1\n");
        fake.write_for_test("/sys/devices/system/node/node1/cpulist", "2-3\n");
        let numa = Topology::read(&fake);
        assert_eq!(numa.node_count(), 2);
        assert_eq!(numa.node_of(2), Some(1));
        assert_eq!(numa.node_of(9), None);
    }
}
