//! Fetch's follower half: a fetch sent by a follower broker (ReplicaState.ReplicaId ≥ 0, or
//! the top-level `replica_id` before v15) is checked by each partition's leader replica on
//! its owning shard before anything is read: the follower's fetch offset becomes its log end
//! offset at the leader, which may move the high watermark and the ISR; a log that diverged
//! gets a DivergingEpoch (KIP-320) instead of records; a refusal (not the leader, epochs,
//! unknown replica, stale broker epoch, offset range) becomes the partition's error code.
//!
//! Runs on the connection's shard (the request) and on each owning shard (the validation).
use super::HandlerError;
use super::common::{NotServed, owner};
use super::fetch::Wanted;
use crate::broker::Shard;
use crate::protocol::ErrorCode;
use crate::protocol::messages::fetch::FetchRequest;
use crate::replication::{FetchError, FollowerFetch};
use crate::storage::{PartitionKey, PartitionOffsets};
use std::collections::BTreeMap;
use std::rc::Rc;

/// The fetching follower: its node id and broker epoch.
#[derive(Debug, Clone, Copy)]
pub struct Follower {
    pub replica_id: i32,
    pub broker_epoch: i64,
}

/// The follower that sent `request`, or `None` for a consumer.
#[must_use]
pub(super) fn follower(api_version: i16, request: &FetchRequest) -> Option<Follower> {
    let (replica_id, broker_epoch) = if api_version >= 15 {
        let state = &request.replica_state;
        (state.replica_id, state.replica_epoch)
    } else {
        (request.replica_id, -1)
    };
    (replica_id >= 0).then_some(Follower {
        replica_id,
        broker_epoch,
    })
}

/// Offsets of a partition whose log could not be read.
const UNKNOWN_OFFSETS: PartitionOffsets = PartitionOffsets {
    log_start_offset: -1,
    high_watermark: -1,
    log_end_offset: -1,
    size_bytes: 0,
};

/// The partition's error code for a refused follower fetch.
fn error_code(error: FetchError) -> ErrorCode {
    match error {
        FetchError::NotLeader | FetchError::UnknownReplica { .. } => ErrorCode::NotLeaderOrFollower,
        FetchError::FencedLeaderEpoch { .. } => ErrorCode::FencedLeaderEpoch,
        FetchError::UnknownLeaderEpoch { .. } => ErrorCode::UnknownLeaderEpoch,
        FetchError::StaleBrokerEpoch { .. } => ErrorCode::StaleBrokerEpoch,
        FetchError::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
    }
}

/// Validates every served partition of a follower's fetch with its leader replica (one mesh
/// message per owning shard); refused partitions get their code, diverged ones their
/// DivergingEpoch.
///
/// # Errors
/// Only when an owning shard stopped (shutdown).
pub(super) async fn validate(
    shard: &Rc<Shard>,
    follower: Follower,
    wanted: &mut [Wanted],
) -> Result<(), HandlerError> {
    let mut per_shard: BTreeMap<usize, Vec<(usize, PartitionKey, FollowerFetch)>> = BTreeMap::new();
    for (index, want) in wanted.iter().enumerate() {
        let Ok((key, fetch_offset, _)) = want.target else {
            continue;
        };
        let (current_leader_epoch, last_fetched_epoch) = want.epochs;
        let fetch = FollowerFetch {
            replica_id: follower.replica_id,
            broker_epoch: follower.broker_epoch,
            current_leader_epoch,
            fetch_offset,
            last_fetched_epoch,
        };
        per_shard
            .entry(owner(shard, key))
            .or_default()
            .push((index, key, fetch));
    }
    for (target, fetches) in per_shard {
        if target != shard.index() {
            crate::metrics::follower_fetch_off_shard(fetches.len() as u64);
        }
        let answers = shard
            .invoke_on(target, move |owner| async move {
                let mut answers = Vec::with_capacity(fetches.len());
                for (index, key, fetch) in fetches {
                    let answer = match owner.state.logs.offsets(key).await {
                        Ok(offsets) => owner
                            .state
                            .replicas
                            .follower_fetch(key, &fetch, offsets.log_end_offset)
                            .map_err(|error| (error, offsets)),
                        Err(_) => Err((FetchError::NotLeader, UNKNOWN_OFFSETS)),
                    };
                    answers.push((index, answer));
                }
                answers
            })
            .await?;
        for (index, answer) in answers {
            let Some(want) = wanted.get_mut(index) else {
                continue;
            };
            match answer {
                Err((error, offsets)) => {
                    want.target = Err(NotServed::code(error_code(error)));
                    // Not in Kafka's answer (its follower asks ListOffsets): where the
                    // leader's log starts and is committed, so an out-of-range follower
                    // knows where to restart.
                    if matches!(error, FetchError::OffsetOutOfRange { .. }) {
                        want.offsets_hint =
                            Some((offsets.log_start_offset, offsets.high_watermark));
                    }
                }
                Ok(answer) => {
                    want.diverging = answer
                        .diverging_epoch
                        .map(|diverging| (diverging, answer.high_watermark));
                }
            }
        }
    }
    Ok(())
}
