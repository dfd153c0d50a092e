//! Which partitions each connection serves. A pure function, so it is unit-tested alone.
//!
//! A connection talks to one broker, so partitions are grouped by leader first; connections
//! are dealt to the leaders in turn, and each leader's partitions are dealt to its connections.
//! Every partition is served by at least one connection: with fewer connections than leaders
//! each leader still gets one. With more connections than a leader's partitions, several
//! connections share a partition (several producers writing to one partition, as in Kafka).
//! Runs on the main thread.
use super::cluster::PartitionLeader;
use std::collections::BTreeMap;

/// One connection's share: the broker and the partitions it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    pub leader_id: i32,
    pub partitions: Vec<i32>,
}

/// Deals `partitions` over `connections` connections (see the module doc).
///
/// # Panics
/// When `connections` is 0 (the CLI forbids it).
pub fn assign(partitions: &[PartitionLeader], connections: usize) -> Vec<Share> {
    assert!(connections >= 1, "at least one connection");
    let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for partition in partitions {
        by_leader
            .entry(partition.leader_id)
            .or_default()
            .push(partition.partition);
    }
    let leaders = by_leader.len();
    let mut shares = Vec::new();
    for (group_index, (leader_id, group)) in by_leader.into_iter().enumerate() {
        // Connections i with i % leaders == group_index belong to this leader.
        let dealt = connections
            .saturating_sub(group_index)
            .div_ceil(leaders.max(1));
        let count = dealt.max(1);
        if count <= group.len() {
            for slot in 0..count {
                let mine = group.iter().skip(slot).step_by(count).copied().collect();
                shares.push(Share {
                    leader_id,
                    partitions: mine,
                });
            }
        } else {
            for slot in 0..count {
                let partition = group.get(slot % group.len()).copied();
                shares.extend(partition.map(|partition| Share {
                    leader_id,
                    partitions: vec![partition],
                }));
            }
        }
    }
    debug_assert!(
        partitions
            .iter()
            .all(|p| shares.iter().any(|s| s.partitions.contains(&p.partition))),
        "every partition is served"
    );
    shares
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaders(spec: &[(i32, i32)]) -> Vec<PartitionLeader> {
        spec.iter()
            .map(|&(partition, leader_id)| PartitionLeader {
                partition,
                leader_id,
            })
            .collect()
    }

    #[test]
    fn one_leader_fewer_connections_than_partitions() {
        let shares = assign(&leaders(&[(0, 1), (1, 1), (2, 1), (3, 1), (4, 1)]), 2);
        assert_eq!(shares.len(), 2);
        assert_eq!(shares[0].partitions, vec![0, 2, 4]);
        assert_eq!(shares[1].partitions, vec![1, 3]);
    }

    #[test]
    fn more_connections_than_partitions_share_them() {
        let shares = assign(&leaders(&[(0, 7), (1, 7)]), 5);
        let served: Vec<i32> = shares.iter().map(|s| s.partitions[0]).collect();
        assert_eq!(served, vec![0, 1, 0, 1, 0]);
        assert!(shares.iter().all(|s| s.leader_id == 7));
    }

    #[test]
    fn every_leader_gets_a_connection() {
        let shares = assign(&leaders(&[(0, 1), (1, 2), (2, 3)]), 1);
        assert_eq!(shares.len(), 3);
        let mut ids: Vec<i32> = shares.iter().map(|s| s.leader_id).collect();
        ids.sort_unstable();
        assert_eq!(ids, vec![1, 2, 3]);
    }

    #[test]
    fn connections_split_across_leaders() {
        let shares = assign(&leaders(&[(0, 1), (1, 2), (2, 1), (3, 2)]), 4);
        assert_eq!(shares.len(), 4);
        for share in &shares {
            assert_eq!(share.partitions.len(), 1);
        }
    }
}
