//! OffsetForLeaderEpoch (key 23): the end offset of a leader epoch per partition, which clients
//! use after a leader change to detect log divergence (KIP-320). Runs on the connection's shard;
//! each lookup runs on the partition's owning shard, in its leader-epoch cache.
//!
//! As Kafka's `Partition.lastOffsetForLeaderEpoch` on a leader:
//! - `current_leader_epoch` -1 skips fencing; below our epoch is FENCED_LEADER_EPOCH, above it
//!   UNKNOWN_LEADER_EPOCH. Our epoch is always [`LEADER_EPOCH`] (0): a single node never
//!   changes leaders.
//! - the answer for `leader_epoch` is the largest epoch ≤ it and the offset where the next
//!   epoch starts, or the log end offset for the latest epoch; an epoch the cache cannot answer
//!   (empty log, negative, or older than any kept) is UNDEFINED_EPOCH -1 with offset -1 and no
//!   error, as Kafka answers.
//! - an unknown topic or partition is UNKNOWN_TOPIC_OR_PARTITION.
//!
//! `replica_id` (v3+) changes nothing here: with no followers, consumers and debugging tools
//! (-1, -2) read the same end offsets a follower would.
use super::common::{LEADER_EPOCH, has_partition, owner, storage_error_code};
use super::{HandlerError, RequestContext};
use crate::cluster::controller;
use crate::protocol::messages::offset_for_leader_epoch::{
    EpochEndOffset, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse,
    OffsetForLeaderTopicResult,
};
use crate::protocol::{ApiKey, ErrorCode};
use crate::storage::PartitionKey;

pub const API_KEY: ApiKey = ApiKey::OffsetForLeaderEpoch;
pub const VERSION_MIN: i16 = 2;
pub const VERSION_MAX: i16 = 4;

/// `current_leader_epoch` that asks for no fencing check (Kafka's NO_PARTITION_LEADER_EPOCH).
const NO_CURRENT_LEADER_EPOCH: i32 = -1;
/// Kafka's UNDEFINED_EPOCH and UNDEFINED_EPOCH_OFFSET.
const UNDEFINED_EPOCH: i32 = -1;
const UNDEFINED_EPOCH_OFFSET: i64 = -1;

/// # Errors
/// Only when an owning shard stopped (shutdown).
/// # Panics
/// When dispatched for another API key (a registry error).
pub async fn handle(
    ctx: &mut RequestContext,
    request: OffsetForLeaderEpochRequest,
) -> Result<OffsetForLeaderEpochResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    let metadata = controller::metadata(&ctx.shard);
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let found = metadata.topic(&topic.topic).cloned();
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for partition in topic.partitions {
            let index = partition.partition;
            let key = match &found {
                Some(found) if has_partition(found, index) => PartitionKey {
                    topic_id: found.topic_id,
                    partition: index,
                },
                _ => {
                    partitions.push(failed(index, ErrorCode::UnknownTopicOrPartition));
                    continue;
                }
            };
            if let Some(error_code) = fencing(partition.current_leader_epoch) {
                partitions.push(failed(index, error_code));
                continue;
            }
            let epoch = partition.leader_epoch;
            let target = owner(&ctx.shard, key);
            let answer = ctx
                .shard
                .invoke_on(target, move |shard| async move {
                    shard.state.logs.end_offset_for_epoch(key, epoch).await
                })
                .await?;
            partitions.push(match answer {
                Ok(Some((leader_epoch, end_offset))) => EpochEndOffset {
                    error_code: ErrorCode::None,
                    partition: index,
                    leader_epoch,
                    end_offset,
                },
                Ok(None) => EpochEndOffset {
                    error_code: ErrorCode::None,
                    partition: index,
                    leader_epoch: UNDEFINED_EPOCH,
                    end_offset: UNDEFINED_EPOCH_OFFSET,
                },
                Err(error) => failed(index, storage_error_code(&error)),
            });
        }
        topics.push(OffsetForLeaderTopicResult {
            topic: topic.topic,
            partitions,
        });
    }
    Ok(OffsetForLeaderEpochResponse {
        throttle_time_ms: 0,
        topics,
    })
}

/// The fencing error for a client that believes the leader epoch is `current`, if any.
fn fencing(current: i32) -> Option<ErrorCode> {
    match current {
        NO_CURRENT_LEADER_EPOCH | LEADER_EPOCH => None,
        older if older < LEADER_EPOCH => Some(ErrorCode::FencedLeaderEpoch),
        _ => Some(ErrorCode::UnknownLeaderEpoch),
    }
}

fn failed(partition: i32, error_code: ErrorCode) -> EpochEndOffset {
    assert_ne!(error_code, ErrorCode::None);
    EpochEndOffset {
        error_code,
        partition,
        leader_epoch: UNDEFINED_EPOCH,
        end_offset: UNDEFINED_EPOCH_OFFSET,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fencing_compares_with_our_epoch() {
        assert_eq!(fencing(-1), None);
        assert_eq!(fencing(0), None);
        assert_eq!(fencing(1), Some(ErrorCode::UnknownLeaderEpoch));
        assert_eq!(fencing(-5), Some(ErrorCode::FencedLeaderEpoch));
    }
}
