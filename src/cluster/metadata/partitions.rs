//! Per-partition state (replicas, ISR, ELR, leader, epochs) and the rules every state obeys,
//! applied from `Partition` and `PartitionChange` records.
//!
//! A topic's partitions are created in index order, each by one `Partition` record, and changed
//! by `PartitionChange` records that carry only the changed fields plus the new epochs. A
//! partition with no record yet (topics created by a single-node broker before partition
//! records existed, or by today's controller, which writes none) has the single-node default
//! ([`PartitionState::single_node`]): replicas and ISR `[node]`, leader `node`, epochs 0, where
//! `node` is the reading broker's own id. So old snapshots load unchanged.
//!
//! Structure, checked before any change (a refused record changes nothing):
//! - `replicas` is non-empty, at most `REPLICAS_PER_PARTITION_MAX`, without duplicates, node
//!   ids ≥ 0; `isr`, `elr`, `adding`, `removing` are duplicate-free subsets of `replicas`;
//! - `isr` and `elr` are disjoint (KIP-966: the ELR holds replicas that left the ISR);
//! - `leader` is `NO_LEADER` (-1) or a member of the ISR;
//! - `adding` and `removing` are disjoint (KIP-455 reassignment);
//! - epochs are ≥ 0 and never go back: a change raises the partition epoch, and raises the
//!   leader epoch whenever the leader changes (it may also raise it without a new leader).
//!
//! Not owned here: who should lead or be in the ISR (`cluster::policy::election`).
//! Pure code; runs wherever records are applied (shard 0 today).
use super::{ClusterError, ClusterMetadata};
use crate::limits::{PARTITIONS_PER_CLUSTER_MAX, REPLICAS_PER_PARTITION_MAX};
use crate::protocol::Uuid;
use std::sync::Arc;

/// `leader` when no replica leads (Kafka's `LeaderConstants.NO_LEADER`).
pub const NO_LEADER: i32 = -1;

/// One partition's replica set and leadership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    /// The assignment, in preference order: the first is the preferred leader.
    pub replicas: Vec<i32>,
    /// In-sync replicas.
    pub isr: Vec<i32>,
    /// Eligible leader replicas (KIP-966): left the ISR while it was below min ISR, so they
    /// hold every committed record.
    pub elr: Vec<i32>,
    /// Replicas being added by a reassignment (KIP-455); empty otherwise.
    pub adding: Vec<i32>,
    /// Replicas being removed by a reassignment; empty otherwise.
    pub removing: Vec<i32>,
    /// The leader's node id, or [`NO_LEADER`].
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
}

/// The fields a `PartitionChange` record sets; `None` leaves a field as it is. Epochs are
/// always given (the new values), so a record says what it leads to, and `apply` can check
/// that they never go back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionDelta {
    pub leader: Option<i32>,
    pub isr: Option<Vec<i32>>,
    pub elr: Option<Vec<i32>>,
    pub replicas: Option<Vec<i32>>,
    pub adding: Option<Vec<i32>>,
    pub removing: Option<Vec<i32>>,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
}

/// Why a partition state or change breaks the rules in the module docs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartitionStateError {
    #[error("{count} replicas (must be 1..={REPLICAS_PER_PARTITION_MAX})")]
    ReplicaCount { count: usize },
    #[error("node id {node_id} is negative")]
    NegativeNodeId { node_id: i32 },
    #[error("node {node_id} is listed twice in {list}")]
    Duplicate { list: &'static str, node_id: i32 },
    #[error("{list} member {node_id} is not a replica")]
    NotAReplica { list: &'static str, node_id: i32 },
    #[error("node {node_id} is in both the ISR and the ELR")]
    IsrAndElr { node_id: i32 },
    #[error("node {node_id} is both being added and removed")]
    AddingAndRemoving { node_id: i32 },
    #[error("leader {leader} is not in the ISR")]
    LeaderNotInIsr { leader: i32 },
    #[error("negative epoch (leader epoch {leader_epoch}, partition epoch {partition_epoch})")]
    NegativeEpoch {
        leader_epoch: i32,
        partition_epoch: i32,
    },
    #[error("partition epoch {requested} is not above {current}")]
    PartitionEpochNotRaised { current: i32, requested: i32 },
    #[error("leader epoch {requested} is below {current}")]
    LeaderEpochWentBack { current: i32, requested: i32 },
    #[error("leader changes from {from} to {to} without a new leader epoch")]
    LeaderChangedInSameEpoch { from: i32, to: i32 },
}

impl PartitionState {
    /// The state of a partition on a one-broker cluster, and of every partition without a
    /// record: `node` is the only replica, in sync and leading, at epoch 0.
    #[must_use]
    pub fn single_node(node: i32) -> Self {
        assert!(node >= 0, "node id {node} is negative");
        Self {
            replicas: vec![node],
            isr: vec![node],
            elr: Vec::new(),
            adding: Vec::new(),
            removing: Vec::new(),
            leader: node,
            leader_epoch: 0,
            partition_epoch: 0,
        }
    }

    /// A newly placed partition: all `replicas` in sync, the first leading, epochs 0.
    ///
    /// # Panics
    /// When `replicas` is empty.
    #[must_use]
    pub fn placed(replicas: Vec<i32>) -> Self {
        let leader = *replicas.first().expect("a placed partition has a replica");
        Self {
            isr: replicas.clone(),
            replicas,
            elr: Vec::new(),
            adding: Vec::new(),
            removing: Vec::new(),
            leader,
            leader_epoch: 0,
            partition_epoch: 0,
        }
    }

    /// Checks the structural rules of the module docs.
    ///
    /// # Errors
    /// The first rule broken.
    pub fn check(&self) -> Result<(), PartitionStateError> {
        let count = self.replicas.len();
        if count == 0 || count > REPLICAS_PER_PARTITION_MAX {
            return Err(PartitionStateError::ReplicaCount { count });
        }
        if let Some(&node_id) = self.replicas.iter().find(|&&node| node < 0) {
            return Err(PartitionStateError::NegativeNodeId { node_id });
        }
        check_unique("replicas", &self.replicas)?;
        for (list, members) in [
            ("isr", &self.isr),
            ("elr", &self.elr),
            ("adding", &self.adding),
            ("removing", &self.removing),
        ] {
            check_unique(list, members)?;
            if let Some(&node_id) = members.iter().find(|node| !self.replicas.contains(node)) {
                return Err(PartitionStateError::NotAReplica { list, node_id });
            }
        }
        if let Some(&node_id) = self.isr.iter().find(|node| self.elr.contains(node)) {
            return Err(PartitionStateError::IsrAndElr { node_id });
        }
        if let Some(&node_id) = self.adding.iter().find(|node| self.removing.contains(node)) {
            return Err(PartitionStateError::AddingAndRemoving { node_id });
        }
        if self.leader != NO_LEADER && !self.isr.contains(&self.leader) {
            return Err(PartitionStateError::LeaderNotInIsr {
                leader: self.leader,
            });
        }
        if self.leader_epoch < 0 || self.partition_epoch < 0 {
            return Err(PartitionStateError::NegativeEpoch {
                leader_epoch: self.leader_epoch,
                partition_epoch: self.partition_epoch,
            });
        }
        Ok(())
    }

    /// The state after `delta`.
    ///
    /// # Errors
    /// The epochs go back or the result breaks a structural rule; `self` is unchanged.
    pub fn with_delta(&self, delta: &PartitionDelta) -> Result<Self, PartitionStateError> {
        if delta.partition_epoch <= self.partition_epoch {
            return Err(PartitionStateError::PartitionEpochNotRaised {
                current: self.partition_epoch,
                requested: delta.partition_epoch,
            });
        }
        if delta.leader_epoch < self.leader_epoch {
            return Err(PartitionStateError::LeaderEpochWentBack {
                current: self.leader_epoch,
                requested: delta.leader_epoch,
            });
        }
        let leader = delta.leader.unwrap_or(self.leader);
        if leader != self.leader && delta.leader_epoch == self.leader_epoch {
            return Err(PartitionStateError::LeaderChangedInSameEpoch {
                from: self.leader,
                to: leader,
            });
        }
        let pick = |field: &Option<Vec<i32>>, current: &Vec<i32>| {
            field.clone().unwrap_or_else(|| current.clone())
        };
        let next = Self {
            replicas: pick(&delta.replicas, &self.replicas),
            isr: pick(&delta.isr, &self.isr),
            elr: pick(&delta.elr, &self.elr),
            adding: pick(&delta.adding, &self.adding),
            removing: pick(&delta.removing, &self.removing),
            leader,
            leader_epoch: delta.leader_epoch,
            partition_epoch: delta.partition_epoch,
        };
        next.check()?;
        Ok(next)
    }
}

fn check_unique(list: &'static str, members: &[i32]) -> Result<(), PartitionStateError> {
    // Replica lists are at most REPLICAS_PER_PARTITION_MAX long: quadratic is cheapest.
    for (index, node_id) in members.iter().enumerate() {
        if members
            .get(..index)
            .is_some_and(|before| before.contains(node_id))
        {
            return Err(PartitionStateError::Duplicate {
                list,
                node_id: *node_id,
            });
        }
    }
    Ok(())
}

impl ClusterMetadata {
    /// The recorded state of partition `partition` of the topic with `topic_id`; `None` when
    /// the topic or partition does not exist or has no record (see
    /// [`Self::partition_or_single_node`]).
    #[must_use]
    pub fn partition(&self, topic_id: Uuid, partition: i32) -> Option<&PartitionState> {
        let index = usize::try_from(partition).ok()?;
        self.partitions.get(&topic_id)?.get(index)
    }

    /// The partition's state, or the single-node default with `node` for a partition of an
    /// existing topic that has no record; `None` when the partition does not exist.
    #[must_use]
    pub fn partition_or_single_node(
        &self,
        topic_id: Uuid,
        partition: i32,
        node: i32,
    ) -> Option<PartitionState> {
        let topic = self.topic_by_id(topic_id)?;
        if !(0..topic.partition_count).contains(&partition) {
            return None;
        }
        Some(
            self.partition(topic_id, partition)
                .cloned()
                .unwrap_or_else(|| PartitionState::single_node(node)),
        )
    }

    /// The replicas of `state` on brokers that are not registered or fenced: Metadata's
    /// `offline_replicas`.
    #[must_use]
    pub fn offline_replicas(&self, state: &PartitionState) -> Vec<i32> {
        let offline: Vec<i32> = state
            .replicas
            .iter()
            .copied()
            .filter(|node| self.broker(*node).is_none_or(|broker| broker.fenced))
            .collect();
        assert!(offline.len() <= state.replicas.len());
        offline
    }

    /// The recorded partitions of a topic, in index order (a prefix of its partitions).
    #[must_use]
    pub fn recorded_partitions(&self, topic_id: Uuid) -> &[PartitionState] {
        self.partitions
            .get(&topic_id)
            .map_or(&[], |partitions| partitions.as_slice())
    }

    /// Every recorded partition: (topic id, partition index, state).
    pub fn all_partitions(&self) -> impl Iterator<Item = (Uuid, i32, &PartitionState)> {
        self.partitions.iter().flat_map(|(topic_id, partitions)| {
            partitions.iter().enumerate().map(move |(index, state)| {
                let index = i32::try_from(index).unwrap_or(i32::MAX);
                (*topic_id, index, state)
            })
        })
    }

    /// Applies a `Partition` record: the next partition of the topic gets its first state.
    pub(super) fn create_partition(
        &mut self,
        topic_id: Uuid,
        partition: i32,
        state: &PartitionState,
    ) -> Result<(), ClusterError> {
        let topic = self
            .topic_by_id(topic_id)
            .ok_or(ClusterError::UnknownPartition {
                topic_id,
                partition,
            })?;
        if !(0..topic.partition_count).contains(&partition) {
            return Err(ClusterError::UnknownPartition {
                topic_id,
                partition,
            });
        }
        let recorded = self.recorded_partitions(topic_id).len();
        if usize::try_from(partition).ok() != Some(recorded) {
            return Err(ClusterError::PartitionOutOfOrder {
                topic_id,
                partition,
                expected: i32::try_from(recorded).unwrap_or(i32::MAX),
            });
        }
        state
            .check()
            .map_err(|source| ClusterError::InvalidPartition {
                topic_id,
                partition,
                source,
            })?;
        if self.recorded_partition_total >= PARTITIONS_PER_CLUSTER_MAX {
            return Err(ClusterError::TooManyPartitions {
                count_max: PARTITIONS_PER_CLUSTER_MAX,
            });
        }
        Arc::make_mut(self.partitions.entry(topic_id).or_default()).push(state.clone());
        self.recorded_partition_total += 1;
        Ok(())
    }

    /// Applies a `PartitionChange` record to a recorded partition.
    pub(super) fn change_partition(
        &mut self,
        topic_id: Uuid,
        partition: i32,
        delta: &PartitionDelta,
    ) -> Result<(), ClusterError> {
        let unknown = ClusterError::UnknownPartition {
            topic_id,
            partition,
        };
        let current = self.partition(topic_id, partition).ok_or(unknown.clone())?;
        let next = current
            .with_delta(delta)
            .map_err(|source| ClusterError::InvalidPartition {
                topic_id,
                partition,
                source,
            })?;
        let slot = self
            .partitions
            .get_mut(&topic_id)
            .map(Arc::make_mut)
            .and_then(|partitions| partitions.get_mut(usize::try_from(partition).ok()?));
        *slot.ok_or(unknown)? = next;
        Ok(())
    }

    /// Recorded partitions must belong to existing topics and be within their counts; every
    /// state obeys the structural rules. O(partitions): called from `check_invariants`.
    pub(super) fn check_partition_invariants(&self) {
        let mut total = 0usize;
        for (topic_id, partitions) in &self.partitions {
            let topic = self.topic_by_id(*topic_id);
            assert!(topic.is_some(), "partitions of unknown topic {topic_id:?}");
            let count = topic.map_or(0, |topic| topic.partition_count);
            assert!(
                i32::try_from(partitions.len()).is_ok_and(|recorded| recorded <= count),
                "{} partitions recorded for a topic of {count}",
                partitions.len()
            );
            for (index, state) in partitions.iter().enumerate() {
                assert_eq!(state.check(), Ok(()), "partition {index} of {topic_id:?}");
            }
            total += partitions.len();
        }
        assert_eq!(
            total, self.recorded_partition_total,
            "partition count out of step"
        );
        assert!(total <= PARTITIONS_PER_CLUSTER_MAX, "{total} partitions");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(replicas: &[i32], isr: &[i32], leader: i32) -> PartitionState {
        PartitionState {
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            elr: Vec::new(),
            adding: Vec::new(),
            removing: Vec::new(),
            leader,
            leader_epoch: 0,
            partition_epoch: 0,
        }
    }

    #[test]
    fn structural_rules() {
        assert_eq!(state(&[1, 2, 3], &[1, 2], 1).check(), Ok(()));
        assert_eq!(state(&[1], &[], NO_LEADER).check(), Ok(()));
        let refusals = [
            (state(&[], &[], NO_LEADER), "ReplicaCount"),
            (state(&[1, 1], &[1], 1), "Duplicate"),
            (state(&[1, 2], &[3], 3), "NotAReplica"),
            (state(&[1, 2], &[2], 1), "LeaderNotInIsr"),
            (state(&[-2], &[], NO_LEADER), "NegativeNodeId"),
        ];
        for (bad, expected) in refusals {
            let error = bad.check().unwrap_err();
            assert!(
                format!("{error:?}").starts_with(expected),
                "{bad:?}: {error:?}"
            );
        }
        let mut both = state(&[1, 2], &[1, 2], 1);
        both.elr = vec![2];
        assert_eq!(
            both.check(),
            Err(PartitionStateError::IsrAndElr { node_id: 2 })
        );
    }

    #[test]
    fn deltas_raise_epochs_and_move_leaders_only_with_a_new_leader_epoch() {
        let current = state(&[1, 2, 3], &[1, 2, 3], 1);
        let shrink = PartitionDelta {
            isr: Some(vec![1, 2]),
            leader_epoch: 0,
            partition_epoch: 1,
            ..PartitionDelta::default()
        };
        let next = current.with_delta(&shrink).unwrap();
        assert_eq!(
            (next.isr.as_slice(), next.partition_epoch),
            (&[1, 2][..], 1)
        );
        assert!(matches!(
            next.with_delta(&shrink),
            Err(PartitionStateError::PartitionEpochNotRaised { .. })
        ));
        let move_leader = PartitionDelta {
            leader: Some(2),
            leader_epoch: 0,
            partition_epoch: 2,
            ..PartitionDelta::default()
        };
        assert!(matches!(
            next.with_delta(&move_leader),
            Err(PartitionStateError::LeaderChangedInSameEpoch { from: 1, to: 2 })
        ));
        let moved = next
            .with_delta(&PartitionDelta {
                leader_epoch: 1,
                ..move_leader
            })
            .unwrap();
        assert_eq!((moved.leader, moved.leader_epoch), (2, 1));
        let outside = PartitionDelta {
            leader: Some(3),
            isr: Some(vec![2]),
            leader_epoch: 2,
            partition_epoch: 3,
            ..PartitionDelta::default()
        };
        assert!(matches!(
            moved.with_delta(&outside),
            Err(PartitionStateError::LeaderNotInIsr { leader: 3 })
        ));
    }
}
