//! Partition reassignment (KIP-455) as sans-IO steps on one partition's state: start (or
//! replace) a reassignment, cancel it, complete it. Kafka's `ReplicationControlManager`
//! (`changePartitionReassignment`, `cancelPartitionReassignment`), `PartitionChangeBuilder`
//! (`completeReassignmentIfNeeded`, the elections) and `PartitionReassignmentReplicas` /
//! `PartitionReassignmentRevert` are the reference.
//!
//! A reassignment lives in the partition's state, so the metadata log holds every step and a
//! new controller resumes from what it replays:
//! - start: `replicas` = target, then the current replicas not in the target (Kafka's order:
//!   the target's first replica is preferred from now on); `adding` = target − current,
//!   `removing` = current − target. The ISR is unchanged. New replicas open a log and fetch from
//!   the leader (its log start) like any follower; the leader proposes them for the ISR when
//!   they catch up (AlterPartition).
//! - elections while it is in flight (`election`, `isr`) go down `replicas`, target replicas
//!   first, as Kafka's: a replica being removed leads only when no target replica can (it is
//!   the only live one in sync), rather than leaving the partition offline.
//! - complete, once the ISR without the removing replicas is not empty and holds every target
//!   replica (Kafka's rule), and a live target replica in the ISR can lead (or the leader
//!   stays): `replicas` = target, ISR and ELR ∩ target, `adding`/`removing` cleared; a leader
//!   being removed hands over to the first live target replica in the ISR in the same change
//!   (new leader epoch). Checked on every ISR change, in the same `PartitionChange`
//!   (`decisions`, as Kafka's builder), and on the controller's timer (`active`), which is also
//!   how a new controller resumes reassignments it inherits.
//! - cancel: back to the replicas before the reassignment (`replicas` − `adding`), ISR and
//!   ELR ∩ those; a leader that was being added hands over to the first live original replica
//!   in the ISR. When no original replica is in the ISR (only adding replicas are in sync),
//!   Kafka's revert is an unclean election: refused unless the topic allows unclean leader
//!   election; if it does, the first original replica becomes the whole ISR (or, when it is
//!   not live, the first live original replica does), the ELR is cleared, and records only
//!   the adding replicas held are lost.
//!
//! A target equal to the replicas before the reassignment cancels it; a target without new
//! replicas (a shrink) completes in the same decision when the ISR allows.
//!
//! Epochs (Kafka's `PartitionChangeBuilder`): every change raises the partition epoch by one;
//! the leader epoch rises by one when the leader changes or when the replica list loses a
//! member (a completion drops the removing replicas, a cancellation or a replacement the
//! adding ones), even when the leader stays, so a dropped replica still fetching in the old
//! epoch is fenced (FENCED_LEADER_EPOCH). A start only adds replicas: same leader epoch. An
//! ISR shrink alone does not raise it (Kafka bumps on a shrink only for metadata versions
//! before 3.6, KAFKA-15021).
//!
//! Not owned here: how many reassignments may be in flight (`decisions`, `limits.rs`), broker
//! liveness (`isr::Liveness`), deleting a removed replica's data (the broker's reconcile drops
//! logs it no longer hosts: `cluster::partition_logs`).
//!
//! Pure functions; run on the active controller's shard 0.
use super::isr::Liveness;
use crate::cluster::metadata::{ClusterError, NO_LEADER, PartitionDelta, PartitionState};
use crate::limits::REPLICAS_PER_PARTITION_MAX;

/// Whether `state` is being reassigned.
#[must_use]
pub fn in_progress(state: &PartitionState) -> bool {
    !state.adding.is_empty() || !state.removing.is_empty()
}

/// The replicas before the reassignment: `replicas` − `adding`, in assignment order.
#[must_use]
pub fn original_replicas(state: &PartitionState) -> Vec<i32> {
    without(&state.replicas, &state.adding)
}

/// The replicas after the reassignment: `replicas` − `removing`, in assignment order.
#[must_use]
pub fn target_replicas(state: &PartitionState) -> Vec<i32> {
    without(&state.replicas, &state.removing)
}

/// Checks a requested target replica list as Kafka's `validateManualPartitionAssignment`:
/// non-empty, at most `REPLICAS_PER_PARTITION_MAX`, no duplicates, every broker registered
/// (a fenced one may be named: it catches up when it is back).
///
/// # Errors
/// `InvalidReplicaAssignment` with the reason.
pub fn check_target(liveness: &Liveness<'_>, target: &[i32]) -> Result<(), ClusterError> {
    let invalid = |reason: String| Err(ClusterError::InvalidReplicaAssignment { reason });
    if target.is_empty() {
        return invalid("The manual partition assignment includes an empty replica list.".into());
    }
    if target.len() > REPLICAS_PER_PARTITION_MAX {
        let count = target.len();
        return invalid(format!(
            "The manual partition assignment has {count} replicas, above the supported maximum \
             of {REPLICAS_PER_PARTITION_MAX}."
        ));
    }
    for (index, node) in target.iter().enumerate() {
        if target
            .get(..index)
            .is_some_and(|before| before.contains(node))
        {
            return invalid(format!(
                "The manual partition assignment includes the broker {node} more than once."
            ));
        }
        if liveness.metadata.broker(*node).is_none() {
            return invalid(format!(
                "The manual partition assignment includes broker {node}, but no such broker is \
                 registered."
            ));
        }
    }
    Ok(())
}

/// The changes that reassign `state` to `target` (checked with [`check_target`] first): none
/// when it is there already and nothing is in flight; the start, followed by the completion
/// when the target adds no replica and the ISR allows; a cancellation when `target` is the
/// replicas before an ongoing reassignment.
///
/// `unclean_allowed` is the topic's `unclean.leader.election.enable`, for a cancellation.
///
/// # Errors
/// `InvalidReplicaAssignment` when no replica that stays is in the ISR (nothing could lead);
/// a cancellation's refusals ([`cancel`]).
pub fn start(
    liveness: &Liveness<'_>,
    state: &PartitionState,
    target: &[i32],
    unclean_allowed: bool,
) -> Result<Vec<PartitionDelta>, ClusterError> {
    assert!(!target.is_empty(), "an unchecked target");
    let original = original_replicas(state);
    if in_progress(state) && target == original.as_slice() {
        return Ok(cancel(liveness, state, unclean_allowed)?
            .into_iter()
            .collect());
    }
    if !in_progress(state) && target == state.replicas.as_slice() {
        return Ok(Vec::new());
    }
    let mut replicas = target.to_vec();
    replicas.extend(without(&original, target));
    let lists = Lists {
        adding: without(target, &original),
        removing: without(&original, target),
        replicas,
    };
    let first = settle(liveness, state, lists)?;
    let started = apply(state, &first);
    let mut deltas = vec![first];
    deltas.extend(complete(liveness, &started));
    assert!(deltas.len() <= 2);
    Ok(deltas)
}

/// The change that cancels `state`'s reassignment (Kafka's revert). `unclean_allowed` is the
/// topic's `unclean.leader.election.enable`: without it, a revert that needs an unclean
/// election (no original replica in the ISR) is refused, as Kafka refuses it.
///
/// # Errors
/// `NoReassignmentInProgress`; `InvalidReplicaAssignment` when no original replica is in the
/// ISR and unclean election is not allowed.
pub fn cancel(
    liveness: &Liveness<'_>,
    state: &PartitionState,
    unclean_allowed: bool,
) -> Result<Option<PartitionDelta>, ClusterError> {
    if !in_progress(state) {
        return Err(ClusterError::NoReassignmentInProgress);
    }
    #[allow(unused_mut)]
    let mut replicas = original_replicas(state);
    #[cfg(feature = "sim-bugs")]
    if crate::planted_bugs::active(crate::planted_bugs::PlantedBug::CancelToTarget) {
        replicas = target_replicas(state);
    }
    let lists = Lists {
        replicas,
        adding: Vec::new(),
        removing: Vec::new(),
    };
    if !state.isr.iter().any(|node| lists.replicas.contains(node)) {
        if !unclean_allowed {
            return Err(ClusterError::InvalidReplicaAssignment {
                reason: format!(
                    "Unable to revert the partition's assignment to {:?}: none of those replicas \
                     is in sync (ISR {:?}), so it would require an unclean leader election.",
                    lists.replicas, state.isr
                ),
            });
        }
        return Ok(Some(revert_unclean(liveness, state, lists)));
    }
    settle(liveness, state, lists).map(Some)
}

/// Kafka's unclean revert: the first original replica is the whole ISR, or, when it is not
/// live, the first live original replica is (and leads); the ELR is cleared. With no original
/// replica live, the first one is the ISR and no one leads until it is back.
fn revert_unclean(liveness: &Liveness<'_>, state: &PartitionState, lists: Lists) -> PartitionDelta {
    let first = *lists.replicas.first().expect("a partition keeps a replica");
    let live = lists
        .replicas
        .iter()
        .copied()
        .find(|node| liveness.is_live(*node));
    let (isr, leader) = match live {
        Some(leader) => (vec![leader], leader),
        None => (vec![first], NO_LEADER),
    };
    moved(state, lists, leader, isr, Vec::new())
}

/// The change that completes `state`'s reassignment, when it can: the ISR without the
/// removing replicas is not empty and holds every target replica (Kafka's
/// `maybeCompleteReassignment`), and a live target replica in the ISR can lead (or the leader
/// stays).
#[must_use]
pub fn complete(liveness: &Liveness<'_>, state: &PartitionState) -> Option<PartitionDelta> {
    let target = target_replicas(state);
    if !in_progress(state) || target.iter().any(|node| !state.isr.contains(node)) {
        return None;
    }
    let lists = Lists {
        replicas: target,
        adding: Vec::new(),
        removing: Vec::new(),
    };
    let delta = settle(liveness, state, lists).ok()?;
    // Waits for a leader rather than completing into a leaderless partition.
    let leader = delta.leader.unwrap_or(state.leader);
    (leader != NO_LEADER).then_some(delta)
}

/// `change` (an ISR change on `current`) extended to complete the reassignment when the ISR it
/// leads to allows it: one change, as Kafka's `PartitionChangeBuilder` completes a
/// reassignment in the record of the ISR change that allows it (one partition epoch; a new
/// leader epoch when a removed leader hands over).
#[must_use]
pub fn with_completion(
    liveness: &Liveness<'_>,
    current: &PartitionState,
    change: PartitionDelta,
) -> PartitionDelta {
    let next = apply(current, &change);
    let Some(completion) = complete(liveness, &next) else {
        return change;
    };
    let done = apply(&next, &completion);
    let differs = |after: &Vec<i32>, before: &Vec<i32>| (after != before).then(|| after.clone());
    let merged = PartitionDelta {
        leader: (done.leader != current.leader).then_some(done.leader),
        isr: differs(&done.isr, &current.isr),
        elr: differs(&done.elr, &current.elr),
        replicas: differs(&done.replicas, &current.replicas),
        adding: differs(&done.adding, &current.adding),
        removing: differs(&done.removing, &current.removing),
        leader_epoch: done.leader_epoch,
        partition_epoch: change.partition_epoch,
    };
    assert_eq!(
        current.with_delta(&merged).as_ref(),
        Ok(&PartitionState {
            partition_epoch: change.partition_epoch,
            ..done
        })
    );
    merged
}

/// A partition's next replica lists.
struct Lists {
    replicas: Vec<i32>,
    adding: Vec<i32>,
    removing: Vec<i32>,
}

/// The delta moving `state` to `lists`: ISR and ELR cut to the new replicas; the leader kept
/// when it stays in the ISR, else the first new replica that is live and in the new ISR (new
/// leader epoch).
fn settle(
    liveness: &Liveness<'_>,
    state: &PartitionState,
    lists: Lists,
) -> Result<PartitionDelta, ClusterError> {
    // The ISR keeps its order (a start changes no membership); a new leader is picked in the
    // new assignment order, so the target's first replica leads when it can.
    let isr = in_order(&state.isr, &lists.replicas);
    if isr.is_empty() {
        return Err(ClusterError::InvalidReplicaAssignment {
            reason: format!(
                "None of the replicas {:?} is in sync (ISR {:?}): the partition could not have \
                 a leader.",
                lists.replicas, state.isr
            ),
        });
    }
    let leader = if isr.contains(&state.leader) {
        state.leader
    } else {
        lists
            .replicas
            .iter()
            .copied()
            .find(|node| isr.contains(node) && liveness.is_live(*node))
            .unwrap_or(NO_LEADER)
    };
    let elr = in_order(&state.elr, &lists.replicas);
    Ok(moved(state, lists, leader, isr, elr))
}

/// The delta from `state` to `lists` with `leader`, `isr` and `elr`. A new leader epoch when
/// the leader changes, and also when the new replica list drops a member of the current one
/// (a completion drops the removing replicas, a cancellation the adding ones) — Kafka's
/// `triggerLeaderEpochBumpForReplicaReassignmentIfNeeded`: a dropped replica that still
/// fetches, or a client that still holds the old epoch, is then answered FENCED_LEADER_EPOCH.
/// A start (the replica list only grows) keeps the epoch.
fn moved(
    state: &PartitionState,
    lists: Lists,
    leader: i32,
    isr: Vec<i32>,
    elr: Vec<i32>,
) -> PartitionDelta {
    let changed = leader != state.leader;
    let dropped = state
        .replicas
        .iter()
        .any(|node| !lists.replicas.contains(node));
    let bump = changed || dropped;
    let delta = PartitionDelta {
        leader: changed.then_some(leader),
        isr: (isr != state.isr).then_some(isr),
        elr: (elr != state.elr).then_some(elr),
        replicas: Some(lists.replicas),
        adding: Some(lists.adding),
        removing: Some(lists.removing),
        leader_epoch: state.leader_epoch + i32::from(bump),
        partition_epoch: state.partition_epoch + 1,
    };
    assert!(state.with_delta(&delta).is_ok(), "{delta:?} on {state:?}");
    assert!(
        !dropped || delta.leader_epoch > state.leader_epoch,
        "no fence: {delta:?}"
    );
    delta
}

/// `state` after `delta` (which [`settle`] checked).
fn apply(state: &PartitionState, delta: &PartitionDelta) -> PartitionState {
    match state.with_delta(delta) {
        Ok(next) => next,
        Err(error) => panic!("a settled delta does not apply: {error}"),
    }
}

/// The members of `list` not in `remove`, in `list`'s order.
fn without(list: &[i32], remove: &[i32]) -> Vec<i32> {
    list.iter()
        .copied()
        .filter(|node| !remove.contains(node))
        .collect()
}

/// The members of `members` that are in `order`, in `order`'s order.
fn in_order(order: &[i32], members: &[i32]) -> Vec<i32> {
    order
        .iter()
        .copied()
        .filter(|node| members.contains(node))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use crate::cluster::decisions::tests::cluster;
    use crate::cluster::metadata::ClusterMetadata;

    fn never(_: i32) -> bool {
        false
    }

    fn liveness_of(metadata: &ClusterMetadata) -> Liveness<'_> {
        Liveness {
            metadata,
            shutting_down: &never,
        }
    }

    fn steps(
        metadata: &ClusterMetadata,
        state: &PartitionState,
        target: &[i32],
    ) -> Vec<PartitionState> {
        let liveness = liveness_of(metadata);
        check_target(&liveness, target).unwrap();
        let mut current = state.clone();
        let mut states = Vec::new();
        for delta in start(&liveness, state, target, false).unwrap() {
            current = current.with_delta(&delta).unwrap();
            states.push(current.clone());
        }
        states
    }

    /// The leader's proposal adding `node` to the ISR, as AlterPartition would commit it.
    fn joins_isr(state: &PartitionState, node: i32) -> PartitionState {
        let mut isr = state.isr.clone();
        isr.push(node);
        state
            .with_delta(&PartitionDelta {
                isr: Some(in_order(&state.replicas, &isr)),
                leader_epoch: state.leader_epoch,
                partition_epoch: state.partition_epoch + 1,
                ..PartitionDelta::default()
            })
            .unwrap()
    }

    #[test]
    fn a_move_adds_waits_for_the_isr_then_removes_and_hands_over_leadership() {
        let metadata = cluster(4, &[]);
        let liveness = liveness_of(&metadata);
        let placed = PartitionState::placed(vec![1, 2, 3]);
        let started = steps(&metadata, &placed, &[4, 2, 3]);
        assert_eq!(started.len(), 1, "4 is not in sync yet");
        let moving = &started[0];
        assert_eq!(moving.replicas, [4, 2, 3, 1], "target first");
        assert_eq!(
            (moving.adding.as_slice(), moving.removing.as_slice()),
            (&[4][..], &[1][..])
        );
        assert_eq!(moving.isr, [1, 2, 3]);
        assert_eq!((moving.leader, moving.leader_epoch), (1, 0));
        assert_eq!(complete(&liveness, moving), None);
        let caught_up = joins_isr(moving, 4);
        let delta = complete(&liveness, &caught_up).unwrap();
        let done = caught_up.with_delta(&delta).unwrap();
        assert_eq!(done.replicas, [4, 2, 3]);
        assert_eq!(done.isr, [4, 2, 3]);
        assert!(done.adding.is_empty() && done.removing.is_empty());
        assert_eq!(
            (done.leader, done.leader_epoch),
            (4, 1),
            "1 was removed: 4 leads"
        );
        assert!(!in_progress(&done));
    }

    #[test]
    fn a_leader_that_stays_keeps_leading_and_a_fenced_target_cannot_take_over() {
        let metadata = cluster(4, &[3]);
        let liveness = liveness_of(&metadata);
        let placed = PartitionState::placed(vec![1, 2]);
        let moving = &steps(&metadata, &placed, &[2, 4])[0];
        let done = joins_isr(moving, 4);
        let done = done
            .with_delta(&complete(&liveness, &done).unwrap())
            .unwrap();
        assert_eq!(
            (done.leader, done.leader_epoch),
            (2, 1),
            "first live target in the ISR"
        );
        // A target whose only in-sync member is fenced waits instead of losing its leader.
        let placed = PartitionState::placed(vec![1, 3]);
        let moving = &steps(&metadata, &placed, &[3])[0];
        assert_eq!(moving.removing, [1]);
        assert_eq!(complete(&liveness, moving), None);
        // The leader stays, in a new epoch: 4 left the replicas (Kafka's bump).
        let placed = PartitionState::placed(vec![1, 2, 4]);
        let shrunk = steps(&metadata, &placed, &[1, 2]);
        assert_eq!(shrunk.len(), 2, "a shrink completes at once");
        assert_eq!(shrunk[1].replicas, [1, 2]);
        assert_eq!((shrunk[1].leader, shrunk[1].leader_epoch), (1, 1));
        assert_eq!(shrunk[1].partition_epoch, 2);
    }

    #[test]
    fn dropping_a_replica_raises_the_leader_epoch_even_when_the_leader_stays_as_kafka() {
        let metadata = cluster(5, &[]);
        let liveness = liveness_of(&metadata);
        let placed = PartitionState {
            leader_epoch: 3,
            partition_epoch: 7,
            ..PartitionState::placed(vec![1, 2, 3])
        };
        // A start only adds: the leader epoch stays, the partition epoch rises.
        let moving = &steps(&metadata, &placed, &[1, 2, 4])[0];
        assert_eq!(
            (moving.leader, moving.leader_epoch, moving.partition_epoch),
            (1, 3, 8)
        );
        // The completion drops 3 while 1 keeps leading: a new leader epoch.
        let caught_up = joins_isr(moving, 4);
        let done = caught_up
            .with_delta(&complete(&liveness, &caught_up).unwrap())
            .unwrap();
        assert_eq!(done.replicas, [1, 2, 4]);
        assert_eq!(
            (done.leader, done.leader_epoch, done.partition_epoch),
            (1, 4, 10)
        );
        // The same completion merged into the ISR change that allows it: one change, one
        // leader epoch more.
        let join = PartitionDelta {
            isr: Some(vec![1, 2, 3, 4]),
            leader_epoch: moving.leader_epoch,
            partition_epoch: moving.partition_epoch + 1,
            ..PartitionDelta::default()
        };
        let merged = moving
            .with_delta(&with_completion(&liveness, moving, join))
            .unwrap();
        assert_eq!((merged.leader_epoch, merged.partition_epoch), (4, 9));
        assert_eq!(merged.replicas, [1, 2, 4]);
        // A cancellation drops the adding replica 4: a new leader epoch too.
        let back = caught_up
            .with_delta(&cancel(&liveness, &caught_up, false).unwrap().unwrap())
            .unwrap();
        assert_eq!(back.replicas, [1, 2, 3]);
        assert_eq!((back.leader, back.leader_epoch), (1, 4));
        // A replacement from the original replicas drops the adding 4: new epoch.
        let replaced = &steps(&metadata, &caught_up, &[1, 2, 5])[0];
        assert_eq!(replaced.replicas, [1, 2, 5, 3]);
        assert_eq!((replaced.leader, replaced.leader_epoch), (1, 4));
        // Cancelling a reassignment that adds nothing (3 still out of sync, so the shrink
        // waits) keeps every replica: same leader epoch.
        let mut behind = placed.clone();
        behind.isr = vec![1, 2];
        let shrinking = &steps(&metadata, &behind, &[3])[0];
        assert_eq!(shrinking.removing, [1, 2]);
        let kept = shrinking
            .with_delta(&cancel(&liveness, shrinking, false).unwrap().unwrap())
            .unwrap();
        assert_eq!(
            kept.replicas,
            [3, 1, 2],
            "Kafka's revert keeps the started order"
        );
        assert_eq!(kept.leader_epoch, 3);
    }

    #[test]
    fn cancel_goes_back_to_the_original_replicas() {
        let metadata = cluster(5, &[]);
        let liveness = liveness_of(&metadata);
        let placed = PartitionState::placed(vec![1, 2, 3]);
        assert_eq!(
            cancel(&liveness, &placed, false),
            Err(ClusterError::NoReassignmentInProgress)
        );
        assert_eq!(
            steps(&metadata, &placed, &[1, 2, 3]),
            Vec::new(),
            "nothing to do"
        );
        let moving = joins_isr(&steps(&metadata, &placed, &[4, 5, 3])[0], 4);
        assert_eq!(moving.replicas, [4, 5, 3, 1, 2]);
        let back = moving
            .with_delta(&cancel(&liveness, &moving, false).unwrap().unwrap())
            .unwrap();
        assert_eq!(
            back.replicas,
            [3, 1, 2],
            "Kafka's revert: replicas − adding"
        );
        assert_eq!(back.isr, [3, 1, 2]);
        assert!(!in_progress(&back));
        // The original list as a target is a cancel too.
        let again = steps(&metadata, &moving, &original_replicas(&moving));
        assert_eq!(again.last().unwrap().replicas, [3, 1, 2]);
        // A new target replaces the ongoing one, from the original replicas.
        let replaced = &steps(&metadata, &moving, &[5, 2])[0];
        assert_eq!(replaced.replicas, [5, 2, 3, 1]);
        assert_eq!(
            (replaced.adding.as_slice(), replaced.removing.as_slice()),
            (&[5][..], &[3, 1][..])
        );
        assert_eq!(replaced.isr, [3, 1, 2], "4 left with its reassignment");
    }

    #[test]
    fn targets_are_checked_as_kafka_does() {
        let metadata = cluster(3, &[3]);
        let liveness = liveness_of(&metadata);
        let reason = |target: &[i32]| match check_target(&liveness, target) {
            Err(ClusterError::InvalidReplicaAssignment { reason }) => reason,
            other => panic!("{other:?}"),
        };
        assert!(reason(&[]).contains("empty replica list"));
        assert!(reason(&[1, 1]).contains("more than once"));
        assert!(reason(&[1, 7]).contains("broker 7"));
        assert!(reason(&[1; REPLICAS_PER_PARTITION_MAX + 1]).contains("maximum"));
        assert_eq!(
            check_target(&liveness, &[3, 1]),
            Ok(()),
            "fenced but registered"
        );
        // A target out of the ISR waits for it (Kafka's rule), and a replacement that leaves
        // no in-sync replica is refused.
        let mut lonely = PartitionState::placed(vec![1, 2]);
        lonely.isr = vec![1];
        let waiting = start(&liveness, &lonely, &[2], false).unwrap();
        assert_eq!(waiting.len(), 1);
        let waiting = lonely.with_delta(&waiting[0]).unwrap();
        assert_eq!((waiting.leader, waiting.removing.as_slice()), (1, &[1][..]));
        // Only the adding replica 3 is in sync (it took over in a failover).
        let adding_leads = PartitionState {
            adding: vec![3],
            removing: vec![2],
            isr: vec![3],
            leader: 3,
            ..PartitionState::placed(vec![3, 1, 2])
        };
        let error = start(&liveness, &adding_leads, &[2], false).unwrap_err();
        assert!(matches!(
            error,
            ClusterError::InvalidReplicaAssignment { .. }
        ));
    }

    #[test]
    fn completion_waits_for_every_target_replica_in_the_isr_as_kafka() {
        let metadata = cluster(4, &[]);
        let liveness = liveness_of(&metadata);
        let mut placed = PartitionState::placed(vec![1, 2, 3]);
        placed.isr = vec![1, 2];
        let moving = &steps(&metadata, &placed, &[4, 2, 3])[0];
        let caught_up = joins_isr(moving, 4);
        assert_eq!(
            complete(&liveness, &caught_up),
            None,
            "3 stays but is out of sync"
        );
        let whole = joins_isr(&caught_up, 3);
        let done = whole
            .with_delta(&complete(&liveness, &whole).unwrap())
            .unwrap();
        assert_eq!(
            (done.replicas.clone(), done.isr.clone()),
            (vec![4, 2, 3], vec![4, 2, 3])
        );
        assert_eq!((done.leader, done.leader_epoch), (4, 1));
    }

    #[test]
    fn an_isr_change_that_allows_completion_completes_in_the_same_change() {
        let metadata = cluster(4, &[]);
        let liveness = liveness_of(&metadata);
        let placed = PartitionState::placed(vec![1, 2]);
        let moving = &steps(&metadata, &placed, &[4, 2])[0];
        let join = PartitionDelta {
            isr: Some(vec![4, 2, 1]),
            leader_epoch: moving.leader_epoch,
            partition_epoch: moving.partition_epoch + 1,
            ..PartitionDelta::default()
        };
        let merged = with_completion(&liveness, moving, join);
        let done = moving.with_delta(&merged).unwrap();
        assert_eq!(
            done.partition_epoch,
            moving.partition_epoch + 1,
            "one change"
        );
        assert_eq!(
            (done.replicas.clone(), done.isr.clone()),
            (vec![4, 2], vec![4, 2])
        );
        assert_eq!(
            (done.leader, done.leader_epoch),
            (4, 1),
            "removed leader 1 handed over"
        );
        assert!(!in_progress(&done));
        // An ISR change that does not allow it stays as it was.
        let shrink = PartitionDelta {
            isr: Some(vec![1]),
            leader_epoch: moving.leader_epoch,
            partition_epoch: moving.partition_epoch + 1,
            ..PartitionDelta::default()
        };
        assert_eq!(with_completion(&liveness, moving, shrink.clone()), shrink);
    }

    #[test]
    fn a_cancel_with_only_adding_replicas_in_sync_needs_unclean_election_as_kafka() {
        let metadata = cluster(4, &[1]);
        let liveness = liveness_of(&metadata);
        // 1 and 2 left the ISR while 3 and 4 were being added; 3 leads.
        let adding_only = PartitionState {
            adding: vec![3, 4],
            removing: vec![1, 2],
            isr: vec![3, 4],
            elr: vec![2],
            leader: 3,
            leader_epoch: 4,
            partition_epoch: 9,
            ..PartitionState::placed(vec![3, 4, 1, 2])
        };
        let refused = cancel(&liveness, &adding_only, false).unwrap_err();
        assert!(
            matches!(&refused, ClusterError::InvalidReplicaAssignment { reason }
                if reason.contains("unclean leader election")),
            "{refused:?}"
        );
        // Allowed: the first original replica (1) is fenced, so 2 becomes the whole ISR.
        let delta = cancel(&liveness, &adding_only, true).unwrap().unwrap();
        let back = adding_only.with_delta(&delta).unwrap();
        assert_eq!(back.replicas, [1, 2]);
        assert_eq!((back.isr.clone(), back.elr.clone()), (vec![2], vec![]));
        assert_eq!((back.leader, back.leader_epoch), (2, 5));
        assert!(!in_progress(&back));
        // No original replica live: the first one is the ISR, no one leads until it is back.
        let metadata = cluster(4, &[1, 2]);
        let delta = cancel(&liveness_of(&metadata), &adding_only, true)
            .unwrap()
            .unwrap();
        let offline = adding_only.with_delta(&delta).unwrap();
        assert_eq!((offline.isr.clone(), offline.leader), (vec![1], NO_LEADER));
    }
}
