//! Produce (key 0): appends record batches to partition logs. Runs on the connection's shard;
//! the appends run on each partition's owning shard (one mesh message per owning shard).
//!
//! Order: the calls to owning shards are spawned before this handler's first `.await` whenever
//! every topic already exists, and tasks start in spawn order, so two pipelined Produce requests
//! on one connection reach each partition's log pump in request order. A request that first
//! auto-creates a topic awaits the creation before spawning; a later request on the same
//! connection could then overtake it (clients create topics through Metadata before producing,
//! so this is the rare first-produce-to-a-new-topic case).
//!
//! acks: 0 sends no response, 1 and -1 answer after the append (a single node is the whole ISR,
//! so -1 means the same as 1 here; strict flush topics answer after their fdatasync). Other
//! values get INVALID_REQUIRED_ACKS for every partition.
use super::common::{
    LEADER_EPOCH, has_partition, owner, resolve_topic_by_id, resolve_topic_by_name,
    storage_error_code,
};
use super::{HandlerError, RequestContext};
use crate::cluster::controller;
use crate::protocol::messages::produce::{
    PartitionProduceResponse, ProduceRequest, ProduceResponse, TopicProduceResponse,
};
use crate::protocol::record_batch::BatchSplitter;
use crate::protocol::{ApiKey, ErrorCode};
use crate::shard::logs::PartitionKey;
use crate::storage::{AppendInfo, AppendRequest, StorageError};
use bytes::{Bytes, BytesMut};
use std::collections::BTreeMap;

pub const API_KEY: ApiKey = ApiKey::Produce;
pub const VERSION_MIN: i16 = 3;
pub const VERSION_MAX: i16 = 13;

/// One partition's place in the response and what to do with it.
struct Slot {
    topic_index: usize,
    partition_index: i32,
    outcome: Outcome,
}

enum Outcome {
    /// Answered without touching storage.
    Error(ErrorCode),
    /// Waiting for the owning shard's result (index into that shard's reply).
    Pending { shard: usize, position: usize },
}

/// # Errors
/// Only when an owning shard stopped (shutdown).
pub async fn handle(
    ctx: &mut RequestContext,
    request: ProduceRequest,
) -> Result<Option<ProduceResponse>, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    let acks = request.acks;
    let mut responses = Vec::with_capacity(request.topic_data.len());
    let mut slots = Vec::new();
    let mut per_shard: BTreeMap<usize, Vec<(PartitionKey, AppendRequest)>> = BTreeMap::new();
    let metadata = controller::metadata(&ctx.shard);
    for (topic_index, topic_data) in request.topic_data.into_iter().enumerate() {
        responses.push(TopicProduceResponse {
            name: topic_data.name.clone(),
            topic_id: topic_data.topic_id,
            partition_responses: Vec::with_capacity(topic_data.partition_data.len()),
        });
        let topic = if ctx.api_version >= 13 {
            resolve_topic_by_id(&ctx.shard, topic_data.topic_id)
        } else if let Some(topic) = metadata.topic(&topic_data.name) {
            Ok(std::sync::Arc::clone(topic))
        } else {
            resolve_topic_by_name(&ctx.shard, &topic_data.name, true).await
        };
        for partition in topic_data.partition_data {
            let outcome = if !matches!(acks, -1..=1) {
                Outcome::Error(ErrorCode::InvalidRequiredAcks)
            } else {
                match &topic {
                    Err(code) => Outcome::Error(*code),
                    Ok(topic) if !has_partition(topic, partition.index) => {
                        Outcome::Error(ErrorCode::UnknownTopicOrPartition)
                    }
                    Ok(topic) => match split_batches(partition.records) {
                        Err(code) => Outcome::Error(code),
                        Ok(batches) => {
                            let key = PartitionKey {
                                topic_id: topic.topic_id,
                                partition: partition.index,
                            };
                            let shard = owner(&ctx.shard, key);
                            let queue = per_shard.entry(shard).or_default();
                            queue.push((
                                key,
                                AppendRequest {
                                    batches,
                                    leader_epoch: LEADER_EPOCH,
                                },
                            ));
                            Outcome::Pending {
                                shard,
                                position: queue.len() - 1,
                            }
                        }
                    },
                }
            };
            slots.push(Slot {
                topic_index,
                partition_index: partition.index,
                outcome,
            });
        }
    }
    // Spawn every owning shard's call before awaiting any (see the module docs on order).
    let calls: Vec<(usize, compio::runtime::JoinHandle<_>)> = per_shard
        .into_iter()
        .map(|(target, appends)| {
            let shard = std::rc::Rc::clone(&ctx.shard);
            let call = compio::runtime::spawn(async move {
                shard
                    .invoke_on(target, move |owner| async move {
                        let sizes = crate::metrics::append_sizes(&appends);
                        let results = owner.state.logs.append_all(appends).await;
                        crate::metrics::record_produce(&sizes, &results);
                        results
                    })
                    .await
            });
            (target, call)
        })
        .collect();
    let mut results: BTreeMap<usize, Vec<Result<AppendInfo, StorageError>>> = BTreeMap::new();
    for (target, call) in calls {
        let reply = call
            .await
            .unwrap_or_else(|error| std::panic::resume_unwind(Box::new(error.to_string())));
        results.insert(target, reply?);
    }
    #[cfg(feature = "failpoints")]
    crate::failpoints::after_produce_append(
        &ctx.shard.config().data_dir,
        results.values().flatten(),
    )?;
    if acks == 0 {
        return Ok(None);
    }
    for slot in slots {
        let response = partition_response(slot.partition_index, &slot.outcome, &results);
        if let Some(topic) = responses.get_mut(slot.topic_index) {
            topic.partition_responses.push(response);
        }
    }
    Ok(Some(ProduceResponse {
        responses,
        throttle_time_ms: 0,
        ..ProduceResponse::default()
    }))
}

/// The batches of one partition's `records`, each its own buffer for the log to patch in place.
/// A missing or partial batch is CORRUPT_MESSAGE (the log validates CRCs and counts itself).
///
/// Allocation: the log patches base offsets in place, so it needs unique (`BytesMut`) buffers,
/// while `records` shares the request frame. The records are taken over without a copy when
/// nothing else shares the frame, else copied once per partition (one allocation and one
/// memcpy, not one per batch as before: the profile of small-batch produce showed the
/// per-batch `malloc` + copy), then split into batches, which shares that one allocation.
fn split_batches(records: Option<Bytes>) -> Result<Vec<BytesMut>, ErrorCode> {
    let Some(records) = records else {
        return Err(ErrorCode::InvalidRecord);
    };
    let mut splitter = BatchSplitter::new(records.clone());
    // The splitter yields whole batches only; each is at least a header long, so the count is
    // bounded by the frame size / 61.
    let sizes: Vec<usize> = splitter.by_ref().map(|batch| batch.len()).collect();
    if sizes.is_empty() || !splitter.remainder().is_empty() {
        return Err(ErrorCode::CorruptMessage);
    }
    drop(splitter);
    let mut owned = records
        .try_into_mut()
        .unwrap_or_else(|shared| BytesMut::from(shared.as_ref()));
    let mut batches = Vec::with_capacity(sizes.len());
    for size in sizes {
        if size > owned.len() {
            return Err(ErrorCode::CorruptMessage); // unreachable: sizes came from these bytes
        }
        batches.push(owned.split_to(size));
    }
    assert!(
        owned.is_empty(),
        "{} bytes after the last batch",
        owned.len()
    );
    Ok(batches)
}

fn partition_response(
    index: i32,
    outcome: &Outcome,
    results: &BTreeMap<usize, Vec<Result<AppendInfo, StorageError>>>,
) -> PartitionProduceResponse {
    let failed = |error_code: ErrorCode| PartitionProduceResponse {
        index,
        error_code,
        base_offset: -1,
        log_append_time_ms: -1,
        log_start_offset: -1,
        ..PartitionProduceResponse::default()
    };
    match outcome {
        Outcome::Error(code) => failed(*code),
        Outcome::Pending { shard, position } => {
            match results
                .get(shard)
                .and_then(|replies| replies.get(*position))
            {
                Some(Ok(info)) => PartitionProduceResponse {
                    index,
                    error_code: ErrorCode::None,
                    base_offset: info.base_offset,
                    log_append_time_ms: info.log_append_time_ms,
                    log_start_offset: info.log_start_offset,
                    ..PartitionProduceResponse::default()
                },
                Some(Err(error)) => {
                    let mut response = failed(storage_error_code(error));
                    response.error_message = Some(error.to_string().as_str().into());
                    response
                }
                None => failed(ErrorCode::UnknownServerError),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may unwrap
mod tests {
    use super::*;
    use crate::storage::testing::build_batch_sized;

    #[test]
    fn split_batches_keeps_each_batch_and_refuses_partial_ones() {
        let batches: Vec<BytesMut> = (0..3u64)
            .map(|seed| build_batch_sized(1, 1_000, 50 + usize::try_from(seed).unwrap(), seed))
            .collect();
        let records = Bytes::from(batches.concat());
        // Shared with another handle (as the request frame is): copied once, split by batch.
        let split = split_batches(Some(records.clone())).unwrap();
        assert_eq!(split, batches);
        // Unique: taken over without a copy.
        let pointer = records.as_ptr();
        let split = split_batches(Some(records.clone())).unwrap();
        assert_eq!(split, batches);
        drop(split);
        let split = split_batches(Some(records)).unwrap();
        assert_eq!(split[0].as_ptr(), pointer);
        let partial = Bytes::from(batches.concat()).slice(..100);
        assert_eq!(split_batches(Some(partial)), Err(ErrorCode::CorruptMessage));
        assert_eq!(split_batches(None), Err(ErrorCode::InvalidRecord));
    }
}
