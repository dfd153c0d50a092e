//! DeleteRecords (key 21): moves partitions' log start offsets forward, deleting whole segments
//! below them. Runs on the connection's shard; each move runs on the partition's owning shard
//! as one log-pump mutation, one mesh message per owning shard carrying all of its partitions
//! (the shards concurrently, each shard's partitions in request order).
//!
//! As Kafka's `ReplicaManager.deleteRecords`: offset -1 means the high watermark; another
//! negative offset or one above the high watermark is OFFSET_OUT_OF_RANGE; an offset at or below
//! the current log start changes nothing. `low_watermark` is the log start afterwards (on a
//! single node, no replica lags behind it), -1 with an error. An unknown topic or partition is
//! UNKNOWN_TOPIC_OR_PARTITION; a partition this broker does not lead is NOT_LEADER_OR_FOLLOWER
//! (`common::serve_partition`; the request carries no leader epoch).
use super::common::{NO_CURRENT_LEADER_EPOCH, next_owner_answer, per_owning_shard, served_key};
use super::{HandlerError, RequestContext};
use crate::cluster::acls::AclOperation;
use crate::cluster::controller;
use crate::protocol::messages::delete_records::{
    DeleteRecordsPartitionResult, DeleteRecordsRequest, DeleteRecordsResponse,
    DeleteRecordsTopicResult,
};
use crate::protocol::{ApiKey, ErrorCode};
use crate::storage::StorageError;
use crate::storage::{LogPump, PartitionKey};

pub const API_KEY: ApiKey = ApiKey::DeleteRecords;
pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 2;

/// The offset that stands for the high watermark (Kafka's `DeleteRecordsRequest.HIGH_WATERMARK`).
const HIGH_WATERMARK: i64 = -1;

/// # Errors
/// Only when an owning shard stopped (shutdown).
/// # Panics
/// When dispatched for another API key (a registry error).
pub async fn handle(
    ctx: &mut RequestContext,
    request: DeleteRecordsRequest,
) -> Result<DeleteRecordsResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    let metadata = controller::metadata(&ctx.shard);
    // Each partition is answered here (`Some(error)`) or by its owning shard (`None`, then the
    // next entry of `moves`): every owning shard gets one message with all of its partitions.
    let mut moves = Vec::new();
    let mut plan = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let found = metadata.topic(&topic.name).cloned();
        let denied = ctx.authorize_topic(AclOperation::Delete, &topic.name).err();
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for partition in topic.partitions {
            let index = partition.partition_index;
            let epoch = NO_CURRENT_LEADER_EPOCH;
            let served = match denied {
                Some(code) => Err(code),
                None => served_key(&metadata, found.as_deref(), index, ctx.node_id(), epoch),
            };
            let answered = match served {
                Ok(key) => {
                    moves.push((key, partition.offset));
                    None
                }
                Err(error_code) => Some(error_code),
            };
            partitions.push((index, answered));
        }
        plan.push((topic.name, partitions));
    }
    let moved = per_owning_shard(&ctx.shard, moves, |owner, key, offset| async move {
        delete_before(&owner.state.logs, key, offset).await
    })
    .await?;
    let mut moved = moved.into_iter();
    let topics = plan
        .into_iter()
        .map(|(name, partitions)| DeleteRecordsTopicResult {
            name,
            partitions: partitions
                .into_iter()
                .map(|(index, answered)| {
                    let outcome = match answered {
                        Some(error_code) => Err(error_code),
                        None => next_owner_answer(&mut moved),
                    };
                    partition_result(index, outcome)
                })
                .collect(),
        })
        .collect();
    assert!(
        moved.next().is_none(),
        "an owning shard's answer was left over"
    );
    Ok(DeleteRecordsResponse {
        throttle_time_ms: 0,
        topics,
    })
}

fn partition_result(
    partition_index: i32,
    outcome: Result<i64, ErrorCode>,
) -> DeleteRecordsPartitionResult {
    match outcome {
        Ok(low_watermark) => DeleteRecordsPartitionResult {
            partition_index,
            low_watermark,
            error_code: ErrorCode::None,
        },
        Err(error_code) => DeleteRecordsPartitionResult {
            partition_index,
            low_watermark: -1,
            error_code,
        },
    }
}

/// On the owning shard: resolves -1 to the high watermark, then moves the log start.
async fn delete_before(
    logs: &LogPump,
    key: PartitionKey,
    offset: i64,
) -> Result<i64, StorageError> {
    let target = if offset == HIGH_WATERMARK {
        // Two pump commands: an append in between only raises the high watermark, so deleting
        // up to the value read here stays within the log.
        logs.offsets(key).await?.high_watermark
    } else {
        offset
    };
    let low_watermark = logs.delete_records(key, target).await?;
    assert!(
        low_watermark >= target,
        "the log start reached {target}: {low_watermark}"
    );
    Ok(low_watermark)
}
