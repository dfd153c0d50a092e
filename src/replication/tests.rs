//! Unit tests of the replica state machine, one per rule, and a seeded model test that runs a
//! leader and followers through random steps checking `invariants.rs` after each.
use std::time::Duration;

use super::*;
use crate::cluster::metadata::PartitionState;

mod model;

const LAG: Duration = Duration::from_secs(10);

fn config(replica_id: ReplicaId, min_insync_replicas: usize) -> ReplicaConfig {
    ReplicaConfig {
        replica_id,
        min_insync_replicas,
        replica_lag_time_max: LAG,
        ack_waiters_max: 4,
    }
}

fn state(leader: ReplicaId, isr: &[ReplicaId], epochs: (i32, i32)) -> PartitionState {
    PartitionState {
        replicas: vec![0, 1, 2],
        isr: isr.to_vec(),
        elr: Vec::new(),
        adding: Vec::new(),
        removing: Vec::new(),
        leader,
        leader_epoch: epochs.0,
        partition_epoch: epochs.1,
    }
}

fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

/// Leader 0 of replicas 0, 1, 2 at leader epoch 1, partition epoch 1, log at 10, HW 0.
fn leader(isr: &[ReplicaId], min_insync_replicas: usize) -> LeaderReplica {
    LeaderReplica::new(
        config(0, min_insync_replicas),
        &state(0, isr, (1, 1)),
        10,
        0,
        secs(0),
    )
}

fn epochs() -> LeaderEpochCache {
    LeaderEpochCache::from_entries(vec![EpochEntry {
        epoch: 1,
        start_offset: 0,
    }])
    .unwrap()
}

fn fetch(replica_id: ReplicaId, fetch_offset: i64) -> FollowerFetch {
    FollowerFetch {
        replica_id,
        broker_epoch: 7,
        current_leader_epoch: 1,
        fetch_offset,
        last_fetched_epoch: 1,
    }
}

fn fetch_at(
    leader: &mut LeaderReplica,
    replica_id: ReplicaId,
    offset: i64,
    now: Duration,
) -> (FetchAnswer, LeaderEffects) {
    leader
        .follower_fetch(&fetch(replica_id, offset), &epochs(), now)
        .unwrap()
}

#[test]
fn high_watermark_is_the_lowest_isr_log_end_offset() {
    let mut leader = leader(&[0, 1, 2], 1);
    // Follower 2 has not fetched: its LEO is unknown, the HW waits.
    let (answer, effects) = fetch_at(&mut leader, 1, 10, secs(1));
    assert_eq!((answer.high_watermark, effects.high_watermark), (0, None));
    assert!(answer.caught_up);
    let (answer, effects) = fetch_at(&mut leader, 2, 6, secs(1));
    assert_eq!(
        (answer.high_watermark, effects.high_watermark),
        (6, Some(6))
    );
    assert!(!answer.caught_up);
    fetch_at(&mut leader, 2, 10, secs(2));
    assert_eq!(leader.high_watermark(), 10);
    // A follower fetching lower again (a restart) never moves the HW back.
    fetch_at(&mut leader, 2, 3, secs(3));
    assert_eq!(leader.high_watermark(), 10);
}

#[test]
fn high_watermark_waits_while_isr_is_below_min() {
    let mut leader = leader(&[0], 2);
    let effects = leader.append(12);
    assert_eq!((effects.high_watermark, leader.high_watermark()), (None, 0));
    // Follower 1 catches up: proposed in, but the committed ISR is still {0}.
    let (_, effects) = fetch_at(&mut leader, 1, 12, secs(1));
    assert_eq!(leader.high_watermark(), 0);
    assert_eq!(effects.proposal.unwrap().new_isr, vec![0, 1]);
    let effects = leader.apply_committed(&state(0, &[0, 1], (1, 2)), secs(2));
    assert_eq!(
        (effects.high_watermark, leader.proposal()),
        (Some(12), None)
    );
}

#[test]
fn single_replica_isr_advances_on_append() {
    let mut leader = leader(&[0], 1);
    assert_eq!(leader.append(15).high_watermark, Some(15));
}

#[test]
fn diverging_epoch_when_last_fetched_epoch_does_not_match() {
    let mut leader = leader(&[0, 1, 2], 1);
    let epochs = LeaderEpochCache::from_entries(vec![
        EpochEntry {
            epoch: 0,
            start_offset: 0,
        },
        EpochEntry {
            epoch: 1,
            start_offset: 4,
        },
    ])
    .unwrap();
    let mut stale = fetch(1, 8);
    stale.last_fetched_epoch = 0; // epoch 0 ended at 4 in the leader's log
    let (answer, effects) = leader.follower_fetch(&stale, &epochs, secs(1)).unwrap();
    let expected = EpochEndOffset {
        epoch: 0,
        end_offset: 4,
    };
    assert_eq!(answer.diverging_epoch, Some(expected));
    assert_eq!(effects, LeaderEffects::default());
    assert_eq!(
        leader.replica_log_end_offset(1),
        None,
        "a diverging fetch records nothing"
    );
    stale.fetch_offset = 4;
    let (answer, _) = leader.follower_fetch(&stale, &epochs, secs(1)).unwrap();
    assert_eq!(answer.diverging_epoch, None);
    stale.last_fetched_epoch = 3; // newer than the leader knows
    let (answer, _) = leader.follower_fetch(&stale, &epochs, secs(1)).unwrap();
    assert_eq!(answer.diverging_epoch, Some(EpochEndOffset::UNDEFINED));
}

#[test]
fn fetch_errors_change_nothing() {
    let mut leader = leader(&[0, 1, 2], 1);
    let mut bad = fetch(1, 5);
    bad.current_leader_epoch = 0;
    let fenced = FetchError::FencedLeaderEpoch {
        requested: 0,
        current: 1,
    };
    assert_eq!(leader.follower_fetch(&bad, &epochs(), secs(1)), Err(fenced));
    bad.current_leader_epoch = 2;
    let unknown = FetchError::UnknownLeaderEpoch {
        requested: 2,
        current: 1,
    };
    assert_eq!(
        leader.follower_fetch(&bad, &epochs(), secs(1)),
        Err(unknown)
    );
    let outsider = FetchError::UnknownReplica { replica_id: 9 };
    assert_eq!(
        leader.follower_fetch(&fetch(9, 5), &epochs(), secs(1)),
        Err(outsider)
    );
    let self_fetch = FetchError::UnknownReplica { replica_id: 0 };
    assert_eq!(
        leader.follower_fetch(&fetch(0, 5), &epochs(), secs(1)),
        Err(self_fetch)
    );
    // Past the leader's end: diverging with a last fetched epoch, out of range without one.
    let (answer, _) = fetch_at(&mut leader, 1, 11, secs(1));
    let expected = EpochEndOffset {
        epoch: 1,
        end_offset: 10,
    };
    assert_eq!(answer.diverging_epoch, Some(expected));
    let mut ahead = fetch(1, 11);
    ahead.last_fetched_epoch = -1;
    let range = FetchError::OffsetOutOfRange {
        fetch_offset: 11,
        log_end_offset: 10,
    };
    assert_eq!(
        leader.follower_fetch(&ahead, &epochs(), secs(1)),
        Err(range)
    );
    fetch_at(&mut leader, 1, 5, secs(1));
    let mut old = fetch(1, 6);
    old.broker_epoch = 6;
    let stale = FetchError::StaleBrokerEpoch {
        replica_id: 1,
        requested: 6,
        seen: 7,
    };
    assert_eq!(leader.follower_fetch(&old, &epochs(), secs(1)), Err(stale));
    assert_eq!(leader.replica_log_end_offset(1), Some(5));
}

#[test]
fn lagging_follower_is_proposed_out_after_lag_time() {
    let mut leader = leader(&[0, 1, 2], 1);
    fetch_at(&mut leader, 1, 10, secs(0));
    fetch_at(&mut leader, 2, 10, secs(0));
    leader.append(20);
    // Follower 2 keeps fetching but never reaches the LEO the leader had at its last fetch.
    fetch_at(&mut leader, 1, 20, secs(5));
    fetch_at(&mut leader, 2, 11, secs(5));
    assert_eq!(leader.tick(secs(10)).proposal, None, "within the lag time");
    fetch_at(&mut leader, 1, 20, secs(10));
    let proposal = leader.tick(secs(11)).proposal.unwrap();
    assert_eq!(proposal.new_isr, vec![0, 1]);
    assert_eq!((proposal.leader_epoch, proposal.partition_epoch), (1, 1));
    // Only one in flight: nothing new while it is pending.
    assert_eq!(leader.tick(secs(30)).proposal, None);
    leader.proposal_failed();
    assert!(
        leader.tick(secs(30)).proposal.is_some(),
        "retried after a failure"
    );
}

#[test]
fn fetch_reaching_the_previous_leader_end_counts_as_caught_up_then() {
    let mut leader = leader(&[0, 1], 1);
    fetch_at(&mut leader, 1, 10, secs(0));
    leader.append(20);
    fetch_at(&mut leader, 1, 10, secs(8)); // leader LEO 20 at this fetch
    leader.append(30);
    // At 17 s it reaches 20, the LEO of its 8 s fetch: it was caught up as of 8 s.
    fetch_at(&mut leader, 1, 20, secs(17));
    assert_eq!(leader.tick(secs(18)).proposal, None);
    assert!(
        leader.tick(secs(19)).proposal.is_some(),
        "8 s + 10 s lag passed"
    );
}

#[test]
fn follower_reaching_high_watermark_is_proposed_in() {
    let mut leader = leader(&[0, 1], 1);
    fetch_at(&mut leader, 1, 10, secs(0));
    assert_eq!(leader.high_watermark(), 10);
    // Below the HW: not yet. At the HW (and the epoch's start offset 10): proposed.
    assert_eq!(fetch_at(&mut leader, 2, 9, secs(1)).1.proposal, None);
    let proposal = fetch_at(&mut leader, 2, 10, secs(1)).1.proposal.unwrap();
    assert_eq!(proposal.new_isr, vec![0, 1, 2]);
    // The HW already counts the joining replica (maximal ISR).
    leader.append(15);
    fetch_at(&mut leader, 1, 15, secs(2));
    assert_eq!(leader.high_watermark(), 10);
    // Stale or same-epoch committed states do not clear it; the committed change does.
    leader.apply_committed(&state(0, &[0, 1], (1, 1)), secs(2));
    assert!(leader.proposal().is_some());
    leader.apply_committed(&state(0, &[0, 1, 2], (1, 2)), secs(2));
    assert_eq!((leader.proposal(), leader.isr()), (None, &[0, 1, 2][..]));
}

#[test]
fn a_replica_joins_only_on_its_own_fetch_not_on_remembered_progress() {
    let mut leader = leader(&[0, 1, 2], 1);
    fetch_at(&mut leader, 1, 10, secs(0));
    fetch_at(&mut leader, 2, 10, secs(0));
    assert_eq!(leader.high_watermark(), 10);
    // Replica 2 leaves the ISR, is removed and is re-added, all in one metadata batch seen
    // here as one committed state: its log was deleted and restarted meanwhile, so the LEO
    // remembered here (10) is stale. Neither that change nor a tick proposes it in; its own
    // fetch, from 0, does not either; a fetch that caught up does.
    let effects = leader.apply_committed(&state(0, &[0, 1], (1, 4)), secs(1));
    assert_eq!(effects.proposal, None);
    assert_eq!(leader.tick(secs(2)).proposal, None);
    assert_eq!(fetch_at(&mut leader, 2, 0, secs(3)).1.proposal, None);
    let proposal = fetch_at(&mut leader, 2, 10, secs(4)).1.proposal.unwrap();
    assert_eq!(proposal.new_isr, vec![0, 1, 2]);
}

#[test]
fn acks_all_answered_when_high_watermark_passes() {
    let mut leader = leader(&[0, 1], 2);
    assert_eq!(leader.check_append_acks_all(), Ok(()));
    leader.append(13);
    let AckRegistration::Parked(ticket) = leader.register_ack(12, secs(30)).unwrap() else {
        panic!("parked expected");
    };
    let (_, effects) = fetch_at(&mut leader, 1, 12, secs(1));
    assert!(effects.acks.is_empty(), "offset 12 is not below HW 12");
    let (_, effects) = fetch_at(&mut leader, 1, 13, secs(1));
    let ok = AckAnswer {
        ticket,
        last_offset: 12,
        outcome: AckOutcome::Ok,
    };
    assert_eq!(effects.acks, vec![ok]);
    assert_eq!(leader.register_ack(5, secs(30)), Ok(AckRegistration::Done));
}

#[test]
fn acks_all_refused_or_timed_out_as_kafka_does() {
    let mut leader = leader(&[0, 1], 2);
    leader.append(11);
    leader.register_ack(10, secs(5)).unwrap();
    assert_eq!(leader.tick(secs(4)).acks, vec![]);
    assert_eq!(
        leader.tick(secs(5)).acks[0].outcome,
        AckOutcome::RequestTimedOut
    );
    leader.register_ack(10, secs(20)).unwrap();
    // The ISR shrinks below min while it waits.
    leader.apply_committed(&state(0, &[0], (1, 2)), secs(6));
    let refused = ProduceError::NotEnoughReplicas {
        isr_count: 1,
        min_insync_replicas: 2,
    };
    assert_eq!(leader.check_append_acks_all(), Err(refused));
    assert_eq!(
        refused.error_code(false),
        crate::protocol::ErrorCode::NotEnoughReplicas
    );
    let answer = leader.tick(secs(20)).acks[0];
    assert_eq!(answer.outcome, AckOutcome::NotEnoughReplicasAfterAppend);
    assert_eq!(answer.outcome.error_code().code(), 20);
}

#[test]
fn ack_waiters_registered_out_of_order_are_released_in_offset_order() {
    let mut leader = leader(&[0, 1], 1);
    leader.append(20);
    let Ok(AckRegistration::Parked(late)) = leader.register_ack(15, secs(30)) else {
        panic!()
    };
    let Ok(AckRegistration::Parked(early)) = leader.register_ack(11, secs(30)) else {
        panic!()
    };
    let (_, effects) = fetch_at(&mut leader, 1, 12, secs(1));
    let released: Vec<AckTicket> = effects.acks.iter().map(|answer| answer.ticket).collect();
    assert_eq!(released, vec![early]);
    let (_, effects) = fetch_at(&mut leader, 1, 16, secs(1));
    assert_eq!(effects.acks[0].ticket, late);
}

#[test]
fn ack_waiters_are_bounded() {
    let mut leader = leader(&[0, 1], 1);
    leader.append(20);
    for offset in 10..14 {
        leader.register_ack(offset, secs(30)).unwrap();
    }
    let full = ProduceError::TooManyWaiters { count: 4 };
    assert_eq!(leader.check_append_acks_all(), Err(full));
    assert_eq!(leader.register_ack(15, secs(30)), Err(full));
    assert_eq!(full.error_code(true).code(), 20);
}

#[test]
fn fenced_leader_answers_waiters_and_acknowledges_nothing() {
    let mut leader = leader(&[0, 1], 1);
    leader.append(20);
    leader.register_ack(12, secs(30)).unwrap();
    leader.register_ack(15, secs(30)).unwrap();
    let effects = leader.apply_committed(&state(1, &[0, 1], (2, 2)), secs(1));
    assert_eq!(effects.acks.len(), 2);
    assert!(
        effects
            .acks
            .iter()
            .all(|a| a.outcome == AckOutcome::NotLeaderOrFollower)
    );
    assert!(leader.is_fenced());
    assert_eq!(
        leader.follower_fetch(&fetch(1, 20), &epochs(), secs(2)),
        Err(FetchError::NotLeader)
    );
    assert_eq!(leader.append(25).high_watermark, None);
    assert_eq!(
        leader.register_ack(21, secs(30)),
        Err(ProduceError::NotLeader)
    );
    assert_eq!(leader.check_append_acks_all(), Err(ProduceError::NotLeader));
    assert_eq!(leader.high_watermark(), 0);
    assert_eq!(leader.resign(), LeaderEffects::default());
}

fn follower_epochs(pairs: &[(i32, i64)]) -> LeaderEpochCache {
    let entries = pairs.iter().map(|&(epoch, start_offset)| EpochEntry {
        epoch,
        start_offset,
    });
    LeaderEpochCache::from_entries(entries.collect()).unwrap()
}

fn answer(leader_epoch: i32, high_watermark: i64, diverging: Option<(i32, i64)>) -> FetchAnswer {
    FetchAnswer {
        leader_epoch,
        high_watermark,
        diverging_epoch: diverging.map(|(epoch, end_offset)| EpochEndOffset { epoch, end_offset }),
        caught_up: false,
    }
}

#[test]
fn follower_fetch_position_and_high_watermark() {
    let mut follower = FollowerReplica::new(1, (0, 3), 8, 2);
    let epochs = follower_epochs(&[(1, 0), (2, 5)]);
    let position = follower.fetch_position(&epochs);
    let expected = FetchPosition {
        fetch_offset: 8,
        last_fetched_epoch: 2,
        current_leader_epoch: 3,
    };
    assert_eq!(position, expected);
    assert_eq!(
        follower.on_answer(&answer(3, 20, None), &epochs),
        Ok(FollowerAction::Append)
    );
    assert_eq!(follower.high_watermark(), 8, "capped at its own LEO");
    follower.appended(15);
    assert_eq!(follower.high_watermark(), 15);
    let stale = FollowerError::StaleLeaderEpoch {
        answered: 2,
        current: 3,
    };
    assert_eq!(
        follower.on_answer(&answer(2, 30, None), &epochs),
        Err(stale)
    );
    let unknown = FollowerError::UnknownLeaderEpoch {
        answered: 4,
        current: 3,
    };
    assert_eq!(
        follower.on_answer(&answer(4, 30, None), &epochs),
        Err(unknown)
    );
    assert_eq!(follower.high_watermark(), 15);
}

#[test]
fn follower_truncates_as_kip_320_says() {
    let epochs = follower_epochs(&[(1, 0), (2, 5), (4, 9)]);
    let mut follower = FollowerReplica::new(1, (0, 5), 12, 3);
    let truncate = |follower: &mut FollowerReplica, diverging| match follower
        .on_answer(&answer(5, 3, Some(diverging)), &epochs)
    {
        Ok(FollowerAction::Truncate { offset }) => offset,
        other => panic!("{other:?}"),
    };
    // Both know epoch 2: min(leader's end 7, own end 9).
    assert_eq!(truncate(&mut follower, (2, 7)), 7);
    assert_eq!(truncate(&mut follower, (2, 11)), 9);
    // Epoch 3 is unknown here: to the end of own epoch 2 (9), then validate again.
    assert_eq!(truncate(&mut follower, (3, 6)), 9);
    // The leader knows no epoch: to the HW.
    assert_eq!(truncate(&mut follower, (-1, -1)), 3);
    // Older than every epoch here: to min(leader's end, own first start).
    assert_eq!(truncate(&mut follower, (0, 4)), 0);
    follower.truncated(7);
    assert_eq!(
        (follower.log_end_offset(), follower.high_watermark()),
        (7, 3)
    );
    follower.follow(2, 6);
    assert_eq!((follower.leader_id(), follower.leader_epoch()), (2, 6));
    follower.follow(0, 5);
    assert_eq!(follower.leader_id(), 2, "an older epoch is ignored");
}

#[test]
fn invariant_checks_report_violations() {
    let mut leader = leader(&[0, 1], 1);
    let mut history = LeaderHistory::new(&leader);
    fetch_at(&mut leader, 1, 10, secs(0));
    assert_eq!(history.observe(&leader), Ok(()));
    // A dishonest follower going back below the HW is caught by the checks.
    fetch_at(&mut leader, 1, 4, secs(1));
    let violation = invariants::check_leader(&leader).unwrap_err();
    assert!(matches!(
        violation,
        InvariantViolation::HighWatermarkPastIsrMember { .. }
    ));
    let bogus = AckAnswer {
        ticket: AckTicket(0),
        last_offset: 10,
        outcome: AckOutcome::Ok,
    };
    let violation = invariants::check_acknowledged(&leader, &[bogus]).unwrap_err();
    assert!(matches!(
        violation,
        InvariantViolation::AckedAtOrAboveHighWatermark { .. }
    ));
}

/// A reassignment drops replica 2 while 0 keeps leading: the controller raises the leader
/// epoch (Kafka's reassignment bump) and names 0 again. As Kafka's makeLeader for a leader
/// that stays: it keeps serving, its parked acks=all requests keep waiting (and are answered
/// OK when the HW passes them), the epoch starts at its log end, fetches in the old epoch are
/// fenced, and a follower that moves to the new epoch does not truncate.
#[test]
fn a_leader_named_again_in_a_new_epoch_keeps_leading_and_fences_the_old_epoch() {
    let mut leader = leader(&[0, 1, 2], 1);
    leader.append(20);
    fetch_at(&mut leader, 1, 20, secs(1));
    fetch_at(&mut leader, 2, 10, secs(1));
    assert_eq!(leader.high_watermark(), 10, "2 is in the ISR at 10");
    let AckRegistration::Parked(ticket) = leader.register_ack(15, secs(30)).unwrap() else {
        panic!("parked expected");
    };
    let completed = PartitionState {
        replicas: vec![0, 1],
        isr: vec![0, 1],
        ..state(0, &[0, 1], (2, 2))
    };
    let effects = leader.apply_committed(&completed, secs(2));
    assert!(!leader.is_fenced());
    assert_eq!((leader.leader_epoch(), leader.partition_epoch()), (2, 2));
    assert_eq!(
        leader.leader_epoch_start_offset(),
        20,
        "the epoch starts at the log end"
    );
    let ok = AckAnswer {
        ticket,
        last_offset: 15,
        outcome: AckOutcome::Ok,
    };
    assert_eq!(effects.acks, vec![ok], "kept, then passed by the HW");
    assert_eq!(leader.high_watermark(), 20, "the ISR is {{0, 1}} at 20");
    // The epoch cache gets the new epoch at the log end (the manager's job, checked here on
    // the cache itself): a follower at 20 in epoch 1 does not diverge.
    let mut cache = epochs();
    cache.assign(2, leader.leader_epoch_start_offset());
    let stale = fetch(1, 20);
    assert_eq!(
        leader.follower_fetch(&stale, &cache, secs(3)),
        Err(FetchError::FencedLeaderEpoch {
            requested: 1,
            current: 2
        })
    );
    let removed = fetch(2, 10);
    assert_eq!(
        leader.follower_fetch(&removed, &cache, secs(3)),
        Err(FetchError::FencedLeaderEpoch {
            requested: 1,
            current: 2
        }),
        "the dropped replica still fetching in the old epoch is fenced"
    );
    let current = FollowerFetch {
        current_leader_epoch: 2,
        ..fetch(1, 20)
    };
    let (answer, _) = leader.follower_fetch(&current, &cache, secs(3)).unwrap();
    assert_eq!((answer.leader_epoch, answer.diverging_epoch), (2, None));
    // The follower moves to the new epoch of the same leader without truncating.
    let mut follower = FollowerReplica::new(1, (0, 1), 20, 10);
    let follower_cache = follower_epochs(&[(1, 0)]);
    follower.follow(0, 2);
    let position = follower.fetch_position(&follower_cache);
    assert_eq!(
        position,
        FetchPosition {
            fetch_offset: 20,
            last_fetched_epoch: 1,
            current_leader_epoch: 2,
        }
    );
    assert_eq!(
        follower.on_answer(&answer, &follower_cache),
        Ok(FollowerAction::Append)
    );
    assert_eq!(follower.log_end_offset(), 20);
}
