//! ListOffsets (key 2): offsets by time. Runs on the connection's shard; lookups run on each
//! partition's owning shard, one mesh message per owning shard carrying all of its partitions
//! (the shards concurrently, each shard's partitions in request order).
//!
//! Special timestamps as Kafka: -1 latest (the high watermark: what a consumer can read up to),
//! -2 earliest (log start), -3 max timestamp (v7+: the record with the largest timestamp),
//! -4 earliest local (v8+: the log start, as there is no tiered storage), -5 earliest pending
//! upload (v9+: none, so offset -1). A positive timestamp gives the first record whose timestamp
//! is at or after it, or offset -1 and timestamp -1 when there is none. Storage answers at batch
//! granularity; the record within the batch is found here by reading that batch.
//!
//! A new leader of a replicated partition whose high watermark has not reached the start of
//! its leader epoch answers every lookup but the earliest ones OFFSET_NOT_AVAILABLE, as Kafka
//! does, until its followers caught up (`replication::ReplicaManager::offsets_pending`).
//!
//! Only the partition's leader answers (`common::serve_partition`): NOT_LEADER_OR_FOLLOWER
//! elsewhere, and the client's `current_leader_epoch` (v4+) is checked against the partition's
//! (FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH); answers carry the partition's leader epoch.
use super::common::{per_owning_shard, serve_partition, storage_error_code};
use super::{HandlerError, RequestContext};
use crate::cluster::acls::AclOperation;
use crate::cluster::controller;
use crate::cluster::{ClusterMetadata, TopicMetadata};
use crate::protocol::messages::list_offsets::{
    ListOffsetsPartitionResponse, ListOffsetsRequest, ListOffsetsResponse, ListOffsetsTopicResponse,
};
use crate::protocol::record_batch::BatchSplitter;
use crate::protocol::records::Records;
use crate::protocol::{ApiKey, ErrorCode};
use crate::storage::StorageError;
use crate::storage::{LogPump, PartitionKey};
use std::sync::Arc;

pub const API_KEY: ApiKey = ApiKey::ListOffsets;
pub const VERSION_MIN: i16 = 1;
pub const VERSION_MAX: i16 = 10;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const EARLIEST_PENDING_UPLOAD: i64 = -5;

/// Bytes read to find a record inside the batch a timestamp lookup landed in: one batch, which
/// `read` returns whole even when larger.
const TIMESTAMP_BATCH_READ_SIZE: u32 = 1;

/// # Errors
/// Only when an owning shard stopped (shutdown).
/// The topic named `name`, if the principal may DESCRIBE it (checked first, as Kafka does).
fn described_topic(
    ctx: &RequestContext,
    metadata: &ClusterMetadata,
    name: &str,
) -> Result<Arc<TopicMetadata>, ErrorCode> {
    ctx.authorize_topic(AclOperation::Describe, name)?;
    metadata
        .topic(name)
        .cloned()
        .ok_or(ErrorCode::UnknownTopicOrPartition)
}

pub async fn handle(
    ctx: &mut RequestContext,
    request: ListOffsetsRequest,
) -> Result<ListOffsetsResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    let metadata = controller::metadata(&ctx.shard);
    // Each partition is answered here (`Err(error)`) or by its owning shard (`Ok(leader
    // epoch)`, then the next entry of `lookups`): every owning shard gets one message with all
    // of its partitions.
    let mut lookups = Vec::new();
    let mut plan = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let found = described_topic(ctx, &metadata, &topic.name);
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for partition in topic.partitions {
            let index = partition.partition_index;
            let served = found.as_ref().map_err(|code| *code).and_then(|found| {
                let epoch = partition.current_leader_epoch;
                serve_partition(&metadata, found.topic_id, index, ctx.node_id(), epoch)
                    .map(|leader_epoch| (found.topic_id, leader_epoch))
                    .map_err(|refused| refused.error_code)
            });
            let answered = served.map(|(topic_id, leader_epoch)| {
                let key = PartitionKey {
                    topic_id,
                    partition: index,
                };
                lookups.push((key, partition.timestamp));
                leader_epoch
            });
            partitions.push((index, answered));
        }
        plan.push((topic.name, partitions));
    }
    let answers = per_owning_shard(&ctx.shard, lookups, |owner, key, timestamp| async move {
        let earliest = matches!(
            timestamp,
            EARLIEST | EARLIEST_LOCAL | EARLIEST_PENDING_UPLOAD
        );
        if !earliest && owner.state.replicas.offsets_pending(key) {
            return Err(ErrorCode::OffsetNotAvailable);
        }
        lookup_on_owner(&owner.state.logs, key, timestamp)
            .await
            .map_err(|error| storage_error_code(&error))
    })
    .await?;
    let mut answers = answers.into_iter();
    let topics = plan
        .into_iter()
        .map(|(name, partitions)| ListOffsetsTopicResponse {
            name,
            partitions: partitions
                .into_iter()
                .map(|(index, answered)| {
                    let outcome = answered.and_then(|leader_epoch| {
                        // `per_owning_shard` answers every partition it was given.
                        let found = answers.next().unwrap_or(Err(ErrorCode::UnknownServerError));
                        found.map(|found| (found, leader_epoch))
                    });
                    partition_response(index, outcome)
                })
                .collect(),
        })
        .collect();
    assert!(
        answers.next().is_none(),
        "an owning shard's answer was left over"
    );
    Ok(ListOffsetsResponse {
        throttle_time_ms: 0,
        topics,
    })
}

fn partition_response(
    partition_index: i32,
    outcome: Result<((i64, i64), i32), ErrorCode>,
) -> ListOffsetsPartitionResponse {
    match outcome {
        Ok(((offset, timestamp), leader_epoch)) => ListOffsetsPartitionResponse {
            partition_index,
            error_code: ErrorCode::None,
            timestamp,
            offset,
            leader_epoch,
            ..ListOffsetsPartitionResponse::default()
        },
        Err(error_code) => ListOffsetsPartitionResponse {
            partition_index,
            error_code,
            ..ListOffsetsPartitionResponse::default()
        },
    }
}

/// (offset, timestamp) for one partition, on its owning shard.
async fn lookup_on_owner(
    logs: &LogPump,
    key: PartitionKey,
    timestamp: i64,
) -> Result<(i64, i64), StorageError> {
    match timestamp {
        LATEST => Ok((logs.offsets(key).await?.high_watermark, -1)),
        EARLIEST | EARLIEST_LOCAL => Ok((logs.offsets(key).await?.log_start_offset, -1)),
        EARLIEST_PENDING_UPLOAD => Ok((-1, -1)),
        MAX_TIMESTAMP => Ok(match logs.max_timestamp(key).await? {
            Some((offset, max)) => (exact_offset(logs, key, offset, max).await?, max),
            None => (-1, -1),
        }),
        _ => Ok(match logs.offset_for_timestamp(key, timestamp).await? {
            Some((batch_offset, _)) => {
                let offset = exact_offset(logs, key, batch_offset, timestamp).await?;
                (
                    offset,
                    record_timestamp(logs, key, offset)
                        .await?
                        .unwrap_or(timestamp),
                )
            }
            None => (-1, -1),
        }),
    }
}

/// The first record at or after `batch_offset` whose timestamp is ≥ `timestamp`, reading the
/// batch that contains `batch_offset`.
async fn exact_offset(
    logs: &LogPump,
    key: PartitionKey,
    batch_offset: i64,
    timestamp: i64,
) -> Result<i64, StorageError> {
    let data = logs
        .read(key, batch_offset, TIMESTAMP_BATCH_READ_SIZE, true)
        .await?;
    for batch in BatchSplitter::new(data.bytes) {
        let Ok(records) = Records::new(batch) else {
            break;
        };
        for record in records.flatten() {
            if record.offset >= batch_offset && record.timestamp >= timestamp {
                return Ok(record.offset);
            }
        }
    }
    Ok(batch_offset)
}

/// The timestamp of the record at `offset`.
async fn record_timestamp(
    logs: &LogPump,
    key: PartitionKey,
    offset: i64,
) -> Result<Option<i64>, StorageError> {
    let data = logs
        .read(key, offset, TIMESTAMP_BATCH_READ_SIZE, true)
        .await?;
    for batch in BatchSplitter::new(data.bytes) {
        let Ok(records) = Records::new(batch) else {
            break;
        };
        if let Some(record) = records.flatten().find(|record| record.offset == offset) {
            return Ok(Some(record.timestamp));
        }
    }
    Ok(None)
}
