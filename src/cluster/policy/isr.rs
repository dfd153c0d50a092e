//! ISR changes a partition leader proposes (AlterPartition, KIP-497) and the elections a user
//! or the controller's balancer asks for (ElectLeaders, automatic preferred-leader
//! rebalancing). Kafka's `ReplicationControlManager` (AlterPartition validation,
//! `electLeader`, `maybeBalancePartitionLeaders`) and `PartitionChangeBuilder` are the
//! reference for behaviour.
//!
//! AlterPartition is checked in Kafka's order, each refusal with Kafka's code:
//! 1. the leader's broker epoch is its registered one (else STALE_BROKER_EPOCH; an
//!    unregistered leader too, as Kafka's `checkBrokerEpoch` answers);
//! 2. the partition exists and has a record (else UNKNOWN_TOPIC_OR_PARTITION);
//! 3. neither epoch is ahead of the controller's (else NOT_CONTROLLER: the proposer saw a
//!    newer state, so this controller is likely stale);
//! 4. the leader epoch is current (else FENCED_LEADER_EPOCH);
//! 5. the proposer leads the partition (else INVALID_REQUEST, as Kafka);
//! 6. the partition epoch is current (else INVALID_UPDATE_VERSION);
//! 7. the new ISR is a duplicate-free subset of the replicas and holds the leader (else
//!    INVALID_REQUEST);
//! 8. every member of the new ISR is registered, unfenced and not shutting down (else
//!    INELIGIBLE_REPLICA).
//!
//! The new ISR is kept in assignment order. KIP-966's ELR follows it: members leaving an ISR
//! that ends below `min.insync.replicas` join the ELR; members joining the ISR leave it; an ISR
//! at or above min ISR clears it (the high watermark can advance again, past what an ELR
//! member holds). A proposal equal (as a set) to the current ISR changes nothing.
//!
//! Preferred election: leadership moves to the first replica of the assignment when it is
//! live and in the ISR. Unclean election: a leaderless partition gets a leader from the ISR,
//! then the ELR, then any live replica (`election::elect_if_leaderless` with unclean
//! allowed). Both raise the leader epoch (`election`'s deltas).
//!
//! Pure functions; run on the active controller's shard 0.
use super::election::{self, ElectionPolicy};
use crate::cluster::metadata::{
    ClusterError, ClusterMetadata, NO_LEADER, PartitionDelta, PartitionState,
};
use crate::protocol::Uuid;
use std::collections::BTreeMap;

/// A partition leader's proposal of a new ISR (AlterPartition), with the state it was based on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AlterPartitionRequest {
    pub topic_id: Uuid,
    pub partition: i32,
    /// The proposing broker: must lead the partition.
    pub leader_id: i32,
    /// The proposing broker's registered epoch.
    pub leader_broker_epoch: i64,
    /// The leader epoch and partition epoch the proposal was made against.
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub new_isr: Vec<i32>,
}

/// ElectLeaders' election type (Kafka's `ElectionType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ElectionType {
    /// 0: move leadership to the preferred (first assigned) replica.
    Preferred,
    /// 1: elect a leader for a leaderless partition, from any live replica if need be.
    Unclean,
}

impl ElectionType {
    /// The wire value's type; `None` for an unknown byte.
    #[must_use]
    pub fn from_wire(value: i8) -> Option<Self> {
        match value {
            0 => Some(Self::Preferred),
            1 => Some(Self::Unclean),
            _ => None,
        }
    }
}

/// Which brokers may be in an ISR or lead: registered, unfenced, not shutting down.
pub struct Liveness<'a> {
    pub metadata: &'a ClusterMetadata,
    /// Brokers in controlled shutdown (the controller's session state).
    pub shutting_down: &'a dyn Fn(i32) -> bool,
}

impl Liveness<'_> {
    #[must_use]
    pub fn is_live(&self, node_id: i32) -> bool {
        self.metadata
            .broker(node_id)
            .is_some_and(|broker| !broker.fenced)
            && !(self.shutting_down)(node_id)
    }
}

/// The change AlterPartition `request` makes; `None` when the new ISR equals the current one.
///
/// # Errors
/// The refusals of the module docs (as `ClusterError`s carrying Kafka's codes).
pub fn alter_partition(
    liveness: &Liveness<'_>,
    request: &AlterPartitionRequest,
    policy: ElectionPolicy,
) -> Result<Option<PartitionDelta>, ClusterError> {
    let metadata = liveness.metadata;
    let leader_id = request.leader_id;
    metadata
        .check_broker_epoch(leader_id, request.leader_broker_epoch)
        .map_err(|error| match error {
            ClusterError::UnknownBroker { node_id } => ClusterError::StaleBrokerEpoch {
                node_id,
                current: -1,
                requested: request.leader_broker_epoch,
            },
            other => other,
        })?;
    let (topic_id, partition) = (request.topic_id, request.partition);
    let current =
        metadata
            .partition(topic_id, partition)
            .ok_or(ClusterError::UnknownPartition {
                topic_id,
                partition,
            })?;
    check_epochs(current, request)?;
    let new_isr = check_new_isr(current, request)?;
    if let Some((node_id, reason)) = new_isr
        .iter()
        .find_map(|node| ineligibility(liveness, *node).map(|reason| (*node, reason)))
    {
        return Err(ClusterError::IneligibleReplica { node_id, reason });
    }
    if same_members(&new_isr, &current.isr) {
        return Ok(None);
    }
    let below_min =
        i32::try_from(new_isr.len()).is_ok_and(|size| size < policy.min_insync_replicas);
    let elr = if below_min {
        let leavers = current.isr.iter().filter(|node| !new_isr.contains(node));
        let mut elr: Vec<i32> = current.elr.iter().chain(leavers).copied().collect();
        elr.retain(|node| !new_isr.contains(node));
        in_assignment_order(current, elr)
    } else {
        Vec::new()
    };
    let delta = PartitionDelta {
        isr: Some(new_isr),
        elr: (elr != current.elr).then_some(elr),
        leader_epoch: current.leader_epoch,
        partition_epoch: current.partition_epoch + 1,
        ..PartitionDelta::default()
    };
    debug_assert!(
        current.with_delta(&delta).is_ok(),
        "{delta:?} on {current:?}"
    );
    Ok(Some(delta))
}

/// Steps 3–6 of the module docs.
fn check_epochs(
    current: &PartitionState,
    request: &AlterPartitionRequest,
) -> Result<(), ClusterError> {
    if request.leader_epoch > current.leader_epoch
        || request.partition_epoch > current.partition_epoch
    {
        return Err(ClusterError::PartitionEpochsAhead {
            leader_epoch: request.leader_epoch,
            partition_epoch: request.partition_epoch,
        });
    }
    if request.leader_epoch < current.leader_epoch {
        return Err(ClusterError::FencedLeaderEpoch {
            current: current.leader_epoch,
            requested: request.leader_epoch,
        });
    }
    if request.leader_id != current.leader {
        return Err(ClusterError::InvalidIsrChange {
            reason: format!(
                "broker {} does not lead the partition (its leader is {})",
                request.leader_id, current.leader
            ),
        });
    }
    if request.partition_epoch < current.partition_epoch {
        return Err(ClusterError::InvalidUpdateVersion {
            current: current.partition_epoch,
            requested: request.partition_epoch,
        });
    }
    Ok(())
}

/// Step 7: the new ISR, in assignment order.
fn check_new_isr(
    current: &PartitionState,
    request: &AlterPartitionRequest,
) -> Result<Vec<i32>, ClusterError> {
    let invalid = |reason: String| ClusterError::InvalidIsrChange { reason };
    let isr = &request.new_isr;
    for (index, node) in isr.iter().enumerate() {
        if !current.replicas.contains(node) {
            return Err(invalid(format!("ISR member {node} is not a replica")));
        }
        if isr.get(..index).is_some_and(|before| before.contains(node)) {
            return Err(invalid(format!("ISR member {node} is listed twice")));
        }
    }
    if !isr.contains(&current.leader) {
        return Err(invalid(format!(
            "the ISR {isr:?} does not hold the leader {}",
            current.leader
        )));
    }
    Ok(in_assignment_order(current, isr.clone()))
}

/// Why `node` may not be in an ISR; `None` when it may.
fn ineligibility(liveness: &Liveness<'_>, node: i32) -> Option<&'static str> {
    match liveness.metadata.broker(node) {
        None => Some("not registered"),
        Some(_) if (liveness.shutting_down)(node) => Some("shutting down"),
        Some(broker) if broker.fenced => Some("fenced"),
        Some(_) => None,
    }
}

fn same_members(left: &[i32], right: &[i32]) -> bool {
    left.len() == right.len() && left.iter().all(|node| right.contains(node))
}

fn in_assignment_order(state: &PartitionState, mut members: Vec<i32>) -> Vec<i32> {
    members.sort_by_key(|member| {
        state
            .replicas
            .iter()
            .position(|replica| replica == member)
            .unwrap_or(usize::MAX)
    });
    members
}

/// The change electing the preferred replica; `None` when it leads already or cannot lead
/// (not live, or not in the ISR).
#[must_use]
pub fn elect_preferred(
    current: &PartitionState,
    liveness: &Liveness<'_>,
) -> Option<PartitionDelta> {
    let preferred = *current.replicas.first()?;
    if current.leader == preferred
        || !current.isr.contains(&preferred)
        || !liveness.is_live(preferred)
    {
        return None;
    }
    Some(PartitionDelta {
        leader: Some(preferred),
        leader_epoch: current.leader_epoch + 1,
        partition_epoch: current.partition_epoch + 1,
        ..PartitionDelta::default()
    })
}

/// The change of an election of `election_type`; `None` when none is needed or possible.
#[must_use]
pub fn elect(
    current: &PartitionState,
    election_type: ElectionType,
    liveness: &Liveness<'_>,
    policy: ElectionPolicy,
) -> Option<PartitionDelta> {
    match election_type {
        ElectionType::Preferred => elect_preferred(current, liveness),
        ElectionType::Unclean => {
            let policy = ElectionPolicy {
                unclean_allowed: true,
                ..policy
            };
            election::elect_if_leaderless(current, &|node| liveness.is_live(node), policy)
        }
    }
}

/// Whether an election of `election_type` is needed: the preferred replica leads already
/// (preferred), or someone leads (unclean): Kafka's ELECTION_NOT_NEEDED.
#[must_use]
pub fn election_needed(current: &PartitionState, election_type: ElectionType) -> bool {
    match election_type {
        ElectionType::Preferred => current.replicas.first() != Some(&current.leader),
        ElectionType::Unclean => current.leader == NO_LEADER,
    }
}

/// The partitions whose leadership automatic rebalancing moves back to the preferred replica:
/// for every broker whose imbalance — the share of the partitions it is preferred for that
/// another broker leads — is above `imbalance_percentage_max` percent, its partitions it could
/// lead now (live, in the ISR). (topic id, partition) in state order.
#[must_use]
pub fn imbalanced_partitions(
    liveness: &Liveness<'_>,
    imbalance_percentage_max: u32,
) -> Vec<(Uuid, i32)> {
    // Per preferred broker: (partitions it is preferred for, those it does not lead).
    let mut counts: BTreeMap<i32, (u64, u64)> = BTreeMap::new();
    for (_, _, state) in liveness.metadata.all_partitions() {
        let Some(preferred) = state.replicas.first() else {
            continue;
        };
        let count = counts.entry(*preferred).or_default();
        count.0 += 1;
        count.1 += u64::from(state.leader != *preferred);
    }
    let imbalanced = |node: i32| {
        counts.get(&node).is_some_and(|(preferred, not_led)| {
            not_led * 100 > preferred * u64::from(imbalance_percentage_max)
        })
    };
    liveness
        .metadata
        .all_partitions()
        .filter(|(_, _, state)| state.replicas.first().is_some_and(|node| imbalanced(*node)))
        .filter(|(_, _, state)| elect_preferred(state, liveness).is_some())
        .map(|(topic_id, partition, _)| (topic_id, partition))
        .collect()
}

#[cfg(test)]
mod tests;
