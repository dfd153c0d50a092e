//! OffsetForLeaderEpoch (key 23): the end offset of a leader epoch per partition, which clients
//! use after a leader change to detect log divergence (KIP-320). Runs on the connection's shard;
//! each lookup runs on the partition's owning shard, in its leader-epoch cache, one mesh message
//! per owning shard carrying all of its partitions (the shards concurrently, each shard's
//! partitions in request order).
//!
//! As Kafka's `Partition.lastOffsetForLeaderEpoch` on a leader:
//! - `current_leader_epoch` -1 skips fencing; below the partition's leader epoch (its record's,
//!   0 for a partition without record) is FENCED_LEADER_EPOCH, above it UNKNOWN_LEADER_EPOCH;
//!   then a broker that does not lead the partition answers NOT_LEADER_OR_FOLLOWER
//!   (`common::serve_partition`).
//! - the answer for `leader_epoch` is the largest epoch ≤ it and the offset where the next
//!   epoch starts, or the log end offset for the latest epoch; an epoch the cache cannot answer
//!   (empty log, negative, or older than any kept) is UNDEFINED_EPOCH -1 with offset -1 and no
//!   error, as Kafka answers.
//! - an unknown topic or partition is UNKNOWN_TOPIC_OR_PARTITION.
//!
//! `replica_id` (v3+) changes nothing here: with no followers, consumers and debugging tools
//! (-1, -2) read the same end offsets a follower would.
use super::common::{per_owning_shard, served_key, storage_error_code};
use super::{HandlerError, RequestContext, throttle};
use crate::cluster::acls::{AclOperation, ResourceType};
use crate::cluster::controller;
use crate::protocol::messages::offset_for_leader_epoch::{
    EpochEndOffset, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse,
    OffsetForLeaderTopicResult,
};
use crate::protocol::{ApiKey, ErrorCode};
use crate::storage::StorageError;

pub const API_KEY: ApiKey = ApiKey::OffsetForLeaderEpoch;
pub const VERSION_MIN: i16 = 2;
pub const VERSION_MAX: i16 = 4;

/// Kafka's UNDEFINED_EPOCH and UNDEFINED_EPOCH_OFFSET.
const UNDEFINED_EPOCH: i32 = -1;
const UNDEFINED_EPOCH_OFFSET: i64 = -1;

/// # Errors
/// Only when an owning shard stopped (shutdown).
/// # Panics
/// When dispatched for another API key (a registry error).
/// A follower (replica id ≥ 0) needs CLUSTER_ACTION, a client DESCRIBE on the topic; Kafka
/// answers both with TOPIC_AUTHORIZATION_FAILED per partition.
fn denied_by_acl(ctx: &RequestContext, replica_id: i32, topic: &str) -> Option<ErrorCode> {
    let allowed = if replica_id >= 0 {
        ctx.authorize_cluster(AclOperation::ClusterAction)
    } else {
        ctx.authorize(AclOperation::Describe, ResourceType::Topic, topic)
    };
    (!allowed).then_some(ErrorCode::TopicAuthorizationFailed)
}

pub async fn handle(
    ctx: &mut RequestContext,
    request: OffsetForLeaderEpochRequest,
) -> Result<OffsetForLeaderEpochResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    if request.replica_id >= 0 {
        // A follower's request: inter-broker, exempt from client quotas with CLUSTER_ACTION.
        throttle::exempt_inter_broker(ctx);
    }
    let metadata = controller::metadata(&ctx.shard);
    // Each partition is answered here (`Some(error)`) or by its owning shard (`None`, then the
    // next entry of `lookups`): every owning shard gets one message with all of its partitions.
    let mut lookups = Vec::new();
    let mut plan = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let found = metadata.topic(&topic.topic).cloned();
        let denied = denied_by_acl(ctx, request.replica_id, &topic.topic);
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for partition in topic.partitions {
            let index = partition.partition;
            let epoch = partition.current_leader_epoch;
            let served = match denied {
                Some(code) => Err(code),
                None => served_key(&metadata, found.as_deref(), index, ctx.node_id(), epoch),
            };
            let answered = match served {
                Ok(key) => {
                    lookups.push((key, partition.leader_epoch));
                    None
                }
                Err(error_code) => Some(error_code),
            };
            partitions.push((index, answered));
        }
        plan.push((topic.topic, partitions));
    }
    let answers = per_owning_shard(&ctx.shard, lookups, |owner, key, epoch| async move {
        owner.state.logs.end_offset_for_epoch(key, epoch).await
    })
    .await?;
    let mut answers = answers.into_iter();
    let topics = plan
        .into_iter()
        .map(|(topic, partitions)| OffsetForLeaderTopicResult {
            topic,
            partitions: partitions
                .into_iter()
                .map(|(index, answered)| match answered {
                    Some(error_code) => failed(index, error_code),
                    None => epoch_end_offset(index, answers.next()),
                })
                .collect(),
        })
        .collect();
    assert!(
        answers.next().is_none(),
        "an owning shard's answer was left over"
    );
    Ok(OffsetForLeaderEpochResponse {
        throttle_time_ms: 0,
        topics,
    })
}

/// The response entry of a partition its owning shard answered.
fn epoch_end_offset(
    partition: i32,
    answer: Option<Result<Option<(i32, i64)>, StorageError>>,
) -> EpochEndOffset {
    match answer {
        Some(Ok(Some((leader_epoch, end_offset)))) => EpochEndOffset {
            error_code: ErrorCode::None,
            partition,
            leader_epoch,
            end_offset,
        },
        Some(Ok(None)) => EpochEndOffset {
            error_code: ErrorCode::None,
            partition,
            leader_epoch: UNDEFINED_EPOCH,
            end_offset: UNDEFINED_EPOCH_OFFSET,
        },
        Some(Err(error)) => failed(partition, storage_error_code(&error)),
        // `per_owning_shard` answers every partition it was given; never reached.
        None => failed(partition, ErrorCode::UnknownServerError),
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
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::super::common::serve_partition;
    use super::super::common::testing::{TOPIC_ID, cluster, state};
    use super::*;

    #[test]
    fn fencing_compares_with_the_partition_epoch() {
        let metadata = cluster(&[1, 2], &[1, 2], 1, &[state(&[1, 2], &[1, 2], 2, 3)]);
        let code = |node, current| {
            serve_partition(&metadata, TOPIC_ID, 0, node, current)
                .err()
                .map(|refused| refused.error_code)
        };
        assert_eq!(code(2, -1), None);
        assert_eq!(code(2, 3), None);
        assert_eq!(code(2, 4), Some(ErrorCode::UnknownLeaderEpoch));
        assert_eq!(code(2, 0), Some(ErrorCode::FencedLeaderEpoch));
        assert_eq!(code(1, 3), Some(ErrorCode::NotLeaderOrFollower));
        // The single-node default is epoch 0, as before partition records.
        let single = cluster(&[], &[], 1, &[]);
        assert_eq!(serve_partition(&single, TOPIC_ID, 0, 1, 0), Ok(0));
        assert_eq!(
            serve_partition(&single, TOPIC_ID, 0, 1, 1)
                .unwrap_err()
                .error_code,
            ErrorCode::UnknownLeaderEpoch
        );
    }
}
