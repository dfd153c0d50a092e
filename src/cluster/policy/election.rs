//! Leader election and ISR removal for one partition (CLUSTER.md, "Partition state and
//! elections"; Kafka's `PartitionChangeBuilder` is the reference for behaviour).
//!
//! When a replica goes away (fenced, shutting down), it leaves the ISR. If the ISR is then
//! smaller than `min.insync.replicas`, the replica joins the ELR (KIP-966): the high watermark
//! cannot advance below min ISR, so it still holds every committed record. If it led, or no
//! one leads, a new leader is chosen in this order:
//! 1. the first live ISR member in assignment order (the assignment is the preference order);
//! 2. else the first live ELR member in assignment order; it becomes the whole ISR;
//! 3. else, when the topic allows unclean election, the first live replica in assignment
//!    order; it becomes the whole ISR and the ELR is cleared (committed records may be lost,
//!    which is what "unclean" means);
//! 4. else no leader ([`NO_LEADER`]): the partition is offline until a clean candidate is live.
//!
//! The ISR may become empty (then no one leads), as with KIP-966: a leader is always a member
//! of the ISR, so an empty ISR with a leader never exists. A replica back from an unclean
//! shutdown leaves both the ISR and the ELR ([`remove_unclean_replica`]) while another replica
//! is in either: an ELR member must still hold every committed record, which a crash may have
//! cost it.
//!
//! During a reassignment the assignment order is Kafka's: the target replicas first, then the
//! ones being removed (`reassign`). So every step above, and moving leadership before a
//! controlled shutdown, prefers a target replica; a replica being removed leads only when no
//! target replica is a candidate, as Kafka's `PartitionChangeBuilder` (which walks the same
//! list) keeps such a partition online rather than offline.
//!
//! Epochs: the partition epoch rises by one on every change; the leader epoch rises by one
//! when the leader changes. No change, no delta (`None`).
//!
//! Pure functions; run on the active controller's shard 0.
use crate::cluster::metadata::{
    ClusterMetadata, NO_LEADER, PartitionDelta, PartitionState, TopicMetadata,
};

/// The topic settings elections follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElectionPolicy {
    /// `min.insync.replicas`: below this ISR size, replicas leaving the ISR join the ELR.
    pub min_insync_replicas: i32,
    /// `unclean.leader.election.enable`.
    pub unclean_allowed: bool,
}

impl Default for ElectionPolicy {
    /// Kafka's defaults: min ISR 1, no unclean election.
    fn default() -> Self {
        Self {
            min_insync_replicas: 1,
            unclean_allowed: false,
        }
    }
}

impl ElectionPolicy {
    /// The policy of `topic`: its `min.insync.replicas` and `unclean.leader.election.enable`
    /// overrides, else the broker-level ones, else `defaults`'.
    #[must_use]
    pub fn for_topic(metadata: &ClusterMetadata, topic: &TopicMetadata, defaults: Self) -> Self {
        let value = |name: &str| {
            topic
                .configs
                .get(name)
                .or_else(|| metadata.broker_configs.get(name))
        };
        let min_insync_replicas = value("min.insync.replicas")
            .and_then(|value| value.parse::<i32>().ok())
            .filter(|value| *value >= 1)
            .unwrap_or(defaults.min_insync_replicas);
        let unclean_allowed =
            value("unclean.leader.election.enable").map_or(defaults.unclean_allowed, |value| {
                // Kafka's booleans are case-insensitive (the config table checked the value).
                value.eq_ignore_ascii_case("true")
            });
        Self {
            min_insync_replicas,
            unclean_allowed,
        }
    }
}

/// Where a new leader came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Candidate {
    Isr(i32),
    Elr(i32),
    Unclean(i32),
}

/// The change that takes `node` out of the partition's ISR (into the ELR when the ISR falls
/// below min ISR) and, when it led or no one leads, elects a new leader. `None` when `node`
/// is neither in the ISR nor leading and a leader is in place.
#[must_use]
pub fn remove_replica(
    current: &PartitionState,
    node: i32,
    is_live: &dyn Fn(i32) -> bool,
    policy: ElectionPolicy,
) -> Option<PartitionDelta> {
    let mut next = current.clone();
    if next.isr.contains(&node) {
        next.isr.retain(|member| *member != node);
        let below_min =
            i32::try_from(next.isr.len()).is_ok_and(|size| size < policy.min_insync_replicas);
        if below_min && !next.elr.contains(&node) {
            next.elr.push(node);
            next.elr
                .sort_by_key(|member| assignment_index(current, *member));
        }
    }
    reelect_without(&mut next, node, is_live, policy);
    delta_between(current, &next)
}

/// The change after `node` came back from an unclean shutdown (KIP-966): its log may miss
/// records it had acknowledged as a follower, so it leaves the ISR and the ELR (it rejoins the
/// ISR once caught up) and, when it led or no one leads, a leader is elected without it.
/// `None` when it is in neither, does not lead, and a leader is in place — and when no other
/// replica is in the ISR or ELR: then it is the last copy that can lead (a single broker after
/// kill -9, the last in-sync replica of a partition), and taking it out would only leave the
/// partition offline with nothing better to wait for. It keeps its place, as Kafka's "last
/// known leader" recovery elects it; what it lost since its last flush is lost either way.
#[must_use]
pub fn remove_unclean_replica(
    current: &PartitionState,
    node: i32,
    is_live: &dyn Fn(i32) -> bool,
    policy: ElectionPolicy,
) -> Option<PartitionDelta> {
    let mut next = current.clone();
    next.isr.retain(|member| *member != node);
    next.elr.retain(|member| *member != node);
    if next.isr.is_empty() && next.elr.is_empty() {
        return None;
    }
    reelect_without(&mut next, node, is_live, policy);
    delta_between(current, &next)
}

/// The change that elects a leader for a partition no one leads, when a candidate is live.
#[must_use]
pub fn elect_if_leaderless(
    current: &PartitionState,
    is_live: &dyn Fn(i32) -> bool,
    policy: ElectionPolicy,
) -> Option<PartitionDelta> {
    if current.leader != NO_LEADER {
        return None;
    }
    let mut next = current.clone();
    elect(&mut next, is_live, policy);
    delta_between(current, &next)
}

/// The change that moves leadership off `node` to another live ISR member, keeping `node` in
/// the ISR (used before a controlled shutdown removes it). `None` when `node` does not lead or
/// no other ISR member is live.
#[must_use]
pub fn move_leadership(
    current: &PartitionState,
    node: i32,
    is_live: &dyn Fn(i32) -> bool,
) -> Option<PartitionDelta> {
    if current.leader != node {
        return None;
    }
    let leader = first_in_assignment(current, &current.isr, &|member| {
        member != node && is_live(member)
    })?;
    let next = PartitionState {
        leader,
        ..current.clone()
    };
    delta_between(current, &next)
}

/// When `node` leads `next` or no one does: a new leader by the module docs' order, never
/// `node`.
fn reelect_without(
    next: &mut PartitionState,
    node: i32,
    is_live: &dyn Fn(i32) -> bool,
    policy: ElectionPolicy,
) {
    if next.leader == node || next.leader == NO_LEADER {
        next.leader = NO_LEADER;
        elect(next, &|member| member != node && is_live(member), policy);
    }
}

/// Sets `next.leader` (which is `NO_LEADER`) by the order in the module docs.
fn elect(next: &mut PartitionState, is_live: &dyn Fn(i32) -> bool, policy: ElectionPolicy) {
    assert_eq!(next.leader, NO_LEADER, "elect only a leaderless partition");
    #[cfg(feature = "sim-bugs")]
    if crate::planted_bugs::active(crate::planted_bugs::PlantedBug::LeaderOutsideIsr)
        && let Some(leader) = first_in_assignment(next, &next.replicas.clone(), is_live)
    {
        next.leader = leader;
        if !next.isr.contains(&leader) {
            next.isr.push(leader);
        }
        return;
    }
    let candidate = first_in_assignment(next, &next.isr, is_live)
        .map(Candidate::Isr)
        .or_else(|| first_in_assignment(next, &next.elr, is_live).map(Candidate::Elr))
        .or_else(|| {
            policy
                .unclean_allowed
                .then(|| first_in_assignment(next, &next.replicas, is_live))
                .flatten()
                .map(Candidate::Unclean)
        });
    match candidate {
        None => {}
        Some(Candidate::Isr(leader)) => next.leader = leader,
        Some(Candidate::Elr(leader)) => {
            next.elr.retain(|member| *member != leader);
            next.isr = vec![leader];
            next.leader = leader;
        }
        Some(Candidate::Unclean(leader)) => {
            next.elr.clear();
            next.isr = vec![leader];
            next.leader = leader;
        }
    }
    assert!(
        next.leader == NO_LEADER || next.isr.contains(&next.leader),
        "elected {} outside the ISR {:?}",
        next.leader,
        next.isr
    );
}

/// The first member of `members` that is live, in the partition's assignment order.
fn first_in_assignment(
    state: &PartitionState,
    members: &[i32],
    is_live: &dyn Fn(i32) -> bool,
) -> Option<i32> {
    state
        .replicas
        .iter()
        .copied()
        .find(|replica| members.contains(replica) && is_live(*replica))
}

fn assignment_index(state: &PartitionState, node: i32) -> usize {
    state
        .replicas
        .iter()
        .position(|replica| *replica == node)
        .unwrap_or(usize::MAX)
}

/// The delta from `current` to `next` (only `leader`, `isr` and `elr` change here), with the
/// epochs raised as the module docs say; `None` when nothing changed.
fn delta_between(current: &PartitionState, next: &PartitionState) -> Option<PartitionDelta> {
    let leader_changed = next.leader != current.leader;
    let isr_changed = next.isr != current.isr;
    let elr_changed = next.elr != current.elr;
    if !leader_changed && !isr_changed && !elr_changed {
        return None;
    }
    let delta = PartitionDelta {
        leader: leader_changed.then_some(next.leader),
        isr: isr_changed.then(|| next.isr.clone()),
        elr: elr_changed.then(|| next.elr.clone()),
        leader_epoch: current.leader_epoch + i32::from(leader_changed),
        partition_epoch: current.partition_epoch + 1,
        ..PartitionDelta::default()
    };
    let expected = PartitionState {
        leader_epoch: delta.leader_epoch,
        partition_epoch: delta.partition_epoch,
        ..next.clone()
    };
    debug_assert_eq!(current.with_delta(&delta), Ok(expected));
    Some(delta)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(replicas: &[i32], isr: &[i32], leader: i32) -> PartitionState {
        PartitionState {
            isr: isr.to_vec(),
            leader,
            ..PartitionState::placed(replicas.to_vec())
        }
    }

    fn live(nodes: &'static [i32]) -> impl Fn(i32) -> bool {
        move |node| nodes.contains(&node)
    }

    fn min_isr(min_insync_replicas: i32) -> ElectionPolicy {
        ElectionPolicy {
            min_insync_replicas,
            unclean_allowed: false,
        }
    }

    #[test]
    fn the_first_live_isr_member_in_assignment_order_takes_over() {
        let current = partition(&[1, 2, 3], &[3, 2, 1], 1);
        let delta = remove_replica(&current, 1, &live(&[2, 3]), min_isr(1)).unwrap();
        assert_eq!(delta.leader, Some(2), "assignment order, not ISR order");
        assert_eq!(delta.isr, Some(vec![3, 2]));
        assert_eq!((delta.leader_epoch, delta.partition_epoch), (1, 1));
        let next = current.with_delta(&delta).unwrap();
        let delta = remove_replica(&next, 2, &live(&[3]), min_isr(1)).unwrap();
        assert_eq!((delta.leader, delta.isr), (Some(3), Some(vec![3])));
    }

    #[test]
    fn an_unclean_restart_leaves_isr_and_elr_and_never_leads_from_them() {
        let offline = PartitionState {
            elr: vec![1, 2],
            ..partition(&[1, 2, 3], &[], NO_LEADER)
        };
        let delta = remove_unclean_replica(&offline, 1, &live(&[1, 2]), min_isr(2)).unwrap();
        let next = offline.with_delta(&delta).unwrap();
        assert_eq!(
            (next.leader, next.isr.clone(), next.elr.clone()),
            (2, vec![2], vec![]),
            "the other eligible replica leads, not the restarted one"
        );
        let led = partition(&[1, 2, 3], &[1, 3], 1);
        let delta = remove_unclean_replica(&led, 1, &live(&[1, 3]), min_isr(2)).unwrap();
        let next = led.with_delta(&delta).unwrap();
        assert_eq!((next.leader, next.isr.clone()), (3, vec![3]));
        assert!(next.elr.is_empty(), "never joins the ELR on the way out");
        let unrelated = partition(&[1, 2, 3], &[2, 3], 2);
        assert_eq!(
            remove_unclean_replica(&unrelated, 1, &live(&[1, 2, 3]), min_isr(2)),
            None
        );
        let last = PartitionState {
            elr: vec![1],
            ..partition(&[1, 2, 3], &[], NO_LEADER)
        };
        assert_eq!(
            remove_unclean_replica(&last, 1, &live(&[1, 2, 3]), min_isr(2)),
            None,
            "the last eligible copy keeps its place"
        );
    }

    #[test]
    fn a_follower_leaving_keeps_the_leader_and_its_epoch() {
        let current = partition(&[1, 2, 3], &[1, 2, 3], 1);
        let delta = remove_replica(&current, 3, &live(&[1, 2]), min_isr(1)).unwrap();
        assert_eq!((delta.leader, delta.leader_epoch), (None, 0));
        assert_eq!(delta.isr, Some(vec![1, 2]));
        assert_eq!(delta.elr, None, "ISR still at min ISR");
        let outside = partition(&[1, 2, 3], &[1, 2], 1);
        assert_eq!(
            remove_replica(&outside, 3, &live(&[1, 2]), min_isr(1)),
            None
        );
    }

    #[test]
    fn below_min_isr_leavers_join_the_elr_and_can_lead_again() {
        let current = partition(&[1, 2, 3], &[1, 2], 1);
        let delta = remove_replica(&current, 1, &live(&[2]), min_isr(2)).unwrap();
        let next = current.with_delta(&delta).unwrap();
        assert_eq!(
            (next.leader, next.isr.clone(), next.elr.clone()),
            (2, vec![2], vec![1])
        );
        let delta = remove_replica(&next, 2, &live(&[]), min_isr(2)).unwrap();
        let offline = next.with_delta(&delta).unwrap();
        assert_eq!(offline.leader, NO_LEADER);
        assert!(offline.isr.is_empty());
        assert_eq!(offline.elr, vec![1, 2], "ELR in assignment order");
        let delta = elect_if_leaderless(&offline, &live(&[2]), min_isr(2)).unwrap();
        let back = offline.with_delta(&delta).unwrap();
        assert_eq!((back.leader, back.isr, back.elr), (2, vec![2], vec![1]));
    }

    #[test]
    fn no_clean_candidate_means_offline_unless_unclean_is_allowed() {
        let current = partition(&[1, 2, 3], &[1], 1);
        let delta = remove_replica(&current, 1, &live(&[2, 3]), min_isr(1)).unwrap();
        let next = current.with_delta(&delta).unwrap();
        assert_eq!(next.leader, NO_LEADER, "2 and 3 are out of sync");
        assert_eq!(next.elr, vec![1]);
        assert_eq!(elect_if_leaderless(&next, &live(&[3]), min_isr(1)), None);
        let unclean = ElectionPolicy {
            min_insync_replicas: 1,
            unclean_allowed: true,
        };
        let delta = elect_if_leaderless(&next, &live(&[3]), unclean).unwrap();
        let next = next.with_delta(&delta).unwrap();
        assert_eq!((next.leader, next.isr, next.elr), (3, vec![3], vec![]));
    }

    #[test]
    fn leadership_moves_to_another_live_isr_member() {
        let current = partition(&[1, 2, 3], &[1, 3], 1);
        let delta = move_leadership(&current, 1, &live(&[1, 2, 3])).unwrap();
        assert_eq!((delta.leader, delta.isr), (Some(3), None));
        assert_eq!(move_leadership(&current, 3, &live(&[1, 2, 3])), None);
        assert_eq!(move_leadership(&current, 1, &live(&[1, 2])), None);
    }

    #[test]
    fn during_a_reassignment_target_replicas_are_elected_before_removing_ones() {
        // Moving [1, 2, 3] to [4, 5, 3]: 4 and 5 are catching up; ISR order puts 2 first.
        let moving = PartitionState {
            adding: vec![4, 5],
            removing: vec![1, 2],
            ..partition(&[4, 5, 3, 1, 2], &[2, 1, 3], 1)
        };
        let delta = remove_replica(&moving, 1, &live(&[2, 3, 4, 5]), min_isr(1)).unwrap();
        assert_eq!(delta.leader, Some(3), "the target replica in sync, not 2");
        let next = moving.with_delta(&delta).unwrap();
        // With no target replica left in sync, the removing one keeps it online (Kafka).
        let delta = move_leadership(&next, 3, &live(&[2, 3, 4, 5])).unwrap();
        assert_eq!(delta.leader, Some(2));
        // Unclean: the first live target replica, before a live removing one.
        let lost = PartitionState {
            adding: vec![4, 5],
            removing: vec![1, 2],
            ..partition(&[4, 5, 3, 1, 2], &[], NO_LEADER)
        };
        let unclean = ElectionPolicy {
            min_insync_replicas: 1,
            unclean_allowed: true,
        };
        let delta = elect_if_leaderless(&lost, &live(&[2, 5]), unclean).unwrap();
        assert_eq!((delta.leader, delta.isr), (Some(5), Some(vec![5])));
    }
}
