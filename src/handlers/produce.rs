//! Produce (key 0): appends record batches to partition logs. Runs on the connection's shard;
//! the appends run on each partition's owning shard (one mesh message per owning shard).
//!
//! Order: pipelined Produce requests on one connection reach each partition's log pump in
//! request order. Each request takes a ticket from the connection's `Turns` as it starts and
//! spawns its calls to the owning shards only on its turn (handlers/turns.rs); tasks start in spawn
//! order. When every topic exists and nothing ahead waits, the turn is immediate and the calls
//! are spawned before the handler's first suspension. A request that auto-creates a topic
//! awaits the creation while holding its ticket, so later requests wait behind it instead of
//! overtaking it.
//!
//! Validation runs here, on the connection's shard, where the bytes were just received: every
//! batch's length, magic, CRC-32C and record count (`CheckedBatch`), so a bad batch is answered
//! without a cross-shard hop and owning shards only write. Batches stay slices of the request
//! frame all the way into the segment write: no copy in user space.
//!
//! acks: 0 sends no response, 1 answers after the leader's append (strict flush topics after
//! their fdatasync), -1 (all) on a replicated partition after the high watermark passed the
//! batch — every ISR member has it — or with NOT_ENOUGH_REPLICAS (ISR below
//! `min.insync.replicas`, nothing appended), NOT_ENOUGH_REPLICAS_AFTER_APPEND or
//! REQUEST_TIMED_OUT (the request's `timeout_ms`), as Kafka answers (the owning shard's
//! replica manager decides, `replication::manager`). A partition with one replica is its own
//! ISR: -1 answers as 1. Other values get INVALID_REQUIRED_ACKS for every partition.
//!
//! Only the partition's leader appends (`common::serve_partition`): elsewhere the answer is
//! NOT_LEADER_OR_FOLLOWER, with (v10+, KIP-951) the leader and its epoch as this broker knows
//! them in `current_leader` and the leaders' endpoints in `node_endpoints`, so the client
//! goes there without a Metadata round trip. Appends carry the partition's leader epoch.
use super::common::{
    ClientBroker, NO_CURRENT_LEADER_EPOCH, NotServed, leader_endpoints, owner, resolve_topic_by_id,
    resolve_topic_by_name, serve_partition, storage_error_code,
};
use super::{HandlerError, RequestContext};
use crate::broker::Shard;
use crate::cluster::acls::AclOperation;
use crate::cluster::controller;
use crate::cluster::{ClusterMetadata, TopicMetadata};
use crate::limits;
use crate::protocol::StrBytes;
use crate::protocol::messages::produce::{
    LeaderIdAndEpoch, NodeEndpoint, PartitionProduceData, PartitionProduceResponse, ProduceRequest,
    ProduceResponse, TopicProduceData, TopicProduceResponse,
};
use crate::protocol::record_batch::{BatchError, BatchSplitter};
use crate::protocol::{ApiKey, ErrorCode};
use crate::replication::AppendFailure;
use crate::shard::MeshError;
use crate::storage::PartitionKey;
use crate::storage::{AppendInfo, AppendRequest, CheckedBatch, StorageError};
use bytes::Bytes;
use compio::runtime::JoinHandle;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

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
    /// Not served here (unknown partition, not the leader), with the leader as known here.
    Refused(NotServed),
    /// A batch failed validation here (CORRUPT_MESSAGE / INVALID_RECORD), with why.
    Invalid(StorageError),
    /// Waiting for the owning shard's result (index into that shard's reply).
    Pending { shard: usize, position: usize },
}

/// The topic `topic_data` names (by id from v13), if the principal may WRITE to it; a topic
/// by name that does not exist is auto-created when allowed (CREATE), and `metadata` is then
/// the snapshot with it, so its partitions resolve.
async fn resolve_writable(
    ctx: &RequestContext,
    topic_data: &TopicProduceData,
    metadata: &mut Arc<ClusterMetadata>,
) -> Result<Arc<TopicMetadata>, ErrorCode> {
    if ctx.api_version >= 13 {
        let topic = resolve_topic_by_id(&ctx.shard, topic_data.topic_id)?;
        return ctx
            .authorize_topic(AclOperation::Write, &topic.name)
            .map(|()| topic);
    }
    ctx.authorize_topic(AclOperation::Write, &topic_data.name)?;
    if let Some(topic) = metadata.topic(&topic_data.name) {
        return Ok(Arc::clone(topic));
    }
    let create = ctx.may_create_topic(&topic_data.name);
    let created = resolve_topic_by_name(&ctx.shard, &topic_data.name, create).await;
    *metadata = controller::metadata(&ctx.shard);
    created
}

/// # Errors
/// Only when an owning shard stopped (shutdown).
pub async fn handle(
    ctx: &mut RequestContext,
    request: ProduceRequest,
) -> Result<Option<ProduceResponse>, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    // Taken before any `.await`, so tickets follow the connection's request order.
    let ticket = ctx.produce_turns.ticket();
    let acks = request.acks;
    let request_timeout_ms = request.timeout_ms;
    let mut responses = Vec::with_capacity(request.topic_data.len());
    let mut slots = Vec::new();
    let mut per_shard = PerShard::new();
    let mut metadata = controller::metadata(&ctx.shard);
    for (topic_index, topic_data) in request.topic_data.into_iter().enumerate() {
        responses.push(TopicProduceResponse {
            name: topic_data.name.clone(),
            topic_id: topic_data.topic_id,
            partition_responses: Vec::with_capacity(topic_data.partition_data.len()),
        });
        let topic = resolve_writable(ctx, &topic_data, &mut metadata).await;
        for partition in topic_data.partition_data {
            let partition_index = partition.index;
            let outcome = plan_partition(
                &ctx.shard,
                &metadata,
                acks,
                &topic,
                partition,
                &mut per_shard,
            );
            slots.push(Slot {
                topic_index,
                partition_index,
                outcome,
            });
        }
    }
    // Spawn every owning shard's call on this request's turn, before awaiting any of them
    // (see the module docs on order); then let the next request have its turn.
    ticket.turn().await;
    let calls = spawn_appends(&ctx.shard, per_shard, acks, ack_timeout(request_timeout_ms));
    drop(ticket);
    let results = collect_appends(calls).await?;
    #[cfg(feature = "failpoints")]
    crate::failpoints::after_produce_append(
        &ctx.shard.config().data_dir,
        results.values().flatten(),
    )?;
    if acks == 0 {
        return Ok(None);
    }
    let this = ClientBroker::from_config(ctx.shard.config());
    let node_endpoints = node_endpoints(&metadata, &this, &slots);
    for slot in slots {
        let response = partition_response(slot.partition_index, &slot.outcome, &results);
        if let Some(topic) = responses.get_mut(slot.topic_index) {
            topic.partition_responses.push(response);
        }
    }
    Ok(Some(ProduceResponse {
        responses,
        throttle_time_ms: 0,
        node_endpoints,
    }))
}

/// KIP-951's `node_endpoints`: the leaders named in refusals' `current_leader` (v10+; the
/// codec leaves it out of older versions).
fn node_endpoints(
    metadata: &ClusterMetadata,
    this: &ClientBroker,
    slots: &[Slot],
) -> Vec<NodeEndpoint> {
    let refusals = slots.iter().filter_map(|slot| match slot.outcome {
        Outcome::Refused(refused) => Some(refused),
        _ => None,
    });
    leader_endpoints(metadata, this, refusals)
        .into_iter()
        .map(|broker| NodeEndpoint {
            node_id: broker.node_id,
            host: StrBytes::from(broker.host.as_str()),
            port: i32::from(broker.port),
            rack: broker.rack.as_deref().map(StrBytes::from),
        })
        .collect()
}

/// What one partition of the request becomes: an answer now, or an append queued for its
/// owning shard in `per_shard`.
/// Only the partition's leader appends, in the partition's leader epoch (Produce carries no
/// `current_leader_epoch`, so none is checked).
fn plan_partition(
    shard: &Shard,
    metadata: &ClusterMetadata,
    acks: i16,
    topic: &Result<Arc<TopicMetadata>, ErrorCode>,
    partition: PartitionProduceData,
    per_shard: &mut PerShard,
) -> Outcome {
    if !matches!(acks, -1..=1) {
        return Outcome::Error(ErrorCode::InvalidRequiredAcks);
    }
    let served = topic
        .as_ref()
        .map_err(|code| NotServed::code(*code))
        .and_then(|topic| {
            let node_id = shard.config().node_id;
            serve_partition(
                metadata,
                topic.topic_id,
                partition.index,
                node_id,
                NO_CURRENT_LEADER_EPOCH,
            )
            .map(|leader_epoch| (topic, leader_epoch))
        });
    let (topic, leader_epoch) = match served {
        Err(refused) => return Outcome::Refused(refused),
        Ok(served) => served,
    };
    let batches = match split_batches(partition.records) {
        Err(Invalid::Code(code)) => return Outcome::Error(code),
        Err(Invalid::Batch(error)) => return Outcome::Invalid(error),
        Ok(batches) => batches,
    };
    let key = PartitionKey {
        topic_id: topic.topic_id,
        partition: partition.index,
    };
    let target = owner(shard, key);
    let queue = per_shard.entry(target).or_default();
    let request = AppendRequest {
        batches,
        leader_epoch,
    };
    queue.push((key, request));
    Outcome::Pending {
        shard: target,
        position: queue.len() - 1,
    }
}

/// How long an acks=all answer may wait: the request's `timeout_ms`, bounded.
fn ack_timeout(timeout_ms: i32) -> Duration {
    let timeout_ms = u64::try_from(timeout_ms).unwrap_or(0);
    Duration::from_millis(timeout_ms.min(limits::PRODUCE_TIMEOUT_MS_MAX))
}

/// The appends of one request, by owning shard.
type PerShard = BTreeMap<usize, Vec<(PartitionKey, AppendRequest)>>;

/// One owning shard's answer: a result per append, in the order sent.
type AppendResults = Vec<Result<AppendInfo, AppendFailure>>;

/// Spawns one call per owning shard, without suspending (tasks start in spawn order, which
/// keeps the connection's request order; see the module docs).
fn spawn_appends(
    shard: &Rc<Shard>,
    per_shard: PerShard,
    acks: i16,
    timeout: Duration,
) -> Vec<(usize, JoinHandle<Result<AppendResults, MeshError>>)> {
    per_shard
        .into_iter()
        .map(|(target, appends)| {
            let shard = Rc::clone(shard);
            let call = compio::runtime::spawn(async move {
                shard
                    .invoke_on(target, move |owner| async move {
                        let sizes = crate::metrics::append_sizes(&appends);
                        let replicas = &owner.state.replicas;
                        let results = replicas.append(appends, acks, timeout).await;
                        crate::metrics::record_produce(&sizes, &results);
                        results
                    })
                    .await
            });
            (target, call)
        })
        .collect()
}

/// Awaits every owning shard's answer.
async fn collect_appends(
    calls: Vec<(usize, JoinHandle<Result<AppendResults, MeshError>>)>,
) -> Result<BTreeMap<usize, AppendResults>, HandlerError> {
    let mut results = BTreeMap::new();
    for (target, call) in calls {
        // A join error means the spawned call panicked: a bug, so propagate the panic.
        let reply = call
            .await
            .unwrap_or_else(|error| std::panic::resume_unwind(Box::new(error.to_string())));
        results.insert(target, reply?);
    }
    Ok(results)
}

/// Why a partition's `records` were refused before reaching storage.
#[derive(Debug)]
enum Invalid {
    Code(ErrorCode),
    /// A batch failed validation; carries its index and reason for the error message.
    Batch(StorageError),
}

/// The batches of one partition's `records`, each validated, each a slice of `records` (no
/// copy). A missing or partial batch is CORRUPT_MESSAGE; a batch that fails validation is
/// CORRUPT_MESSAGE or INVALID_RECORD as storage would map it.
fn split_batches(records: Option<Bytes>) -> Result<Vec<CheckedBatch>, Invalid> {
    let Some(records) = records else {
        return Err(Invalid::Code(ErrorCode::InvalidRecord));
    };
    let mut splitter = BatchSplitter::new(records);
    // The splitter yields whole batches only, each at least a header long; the list stops at
    // `APPEND_BATCHES_MAX`.
    let mut batches = Vec::new();
    for (index, batch) in splitter.by_ref().enumerate() {
        // Storage refuses more in one append anyway; stop before the list grows past it.
        if index >= limits::APPEND_BATCHES_MAX {
            return Err(Invalid::Batch(StorageError::TooManyBatches {
                count: index + 1,
                count_max: limits::APPEND_BATCHES_MAX,
            }));
        }
        let checked = CheckedBatch::new(batch).map_err(|reason: BatchError| {
            Invalid::Batch(StorageError::from_batch_error(index, reason))
        })?;
        batches.push(checked);
    }
    if batches.is_empty() || !splitter.remainder().is_empty() {
        return Err(Invalid::Code(ErrorCode::CorruptMessage));
    }
    Ok(batches)
}

fn partition_response(
    index: i32,
    outcome: &Outcome,
    results: &BTreeMap<usize, AppendResults>,
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
        Outcome::Refused(refused) => PartitionProduceResponse {
            current_leader: refused.current_leader().map_or_else(
                LeaderIdAndEpoch::default,
                |leader| LeaderIdAndEpoch {
                    leader_id: leader.leader_id,
                    leader_epoch: leader.leader_epoch,
                },
            ),
            ..failed(refused.error_code)
        },
        Outcome::Invalid(error) => {
            let mut response = failed(storage_error_code(error));
            response.error_message = Some(error.to_string().as_str().into());
            response
        }
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
                Some(Err(AppendFailure::Storage(error))) => {
                    let mut response = failed(storage_error_code(error));
                    response.error_message = Some(error.to_string().as_str().into());
                    response
                }
                Some(Err(AppendFailure::Code(code))) => failed(*code),
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
    fn split_batches_validates_each_batch_without_copying() {
        let batches: Vec<bytes::BytesMut> = (0..3u64)
            .map(|seed| build_batch_sized(1, 1_000, 50 + usize::try_from(seed).unwrap(), seed))
            .collect();
        let records = Bytes::from(batches.concat());
        let split = split_batches(Some(records.clone())).unwrap();
        let split_bytes: Vec<&[u8]> = split.iter().map(|batch| &batch[..]).collect();
        let expected: Vec<&[u8]> = batches.iter().map(|batch| &batch[..]).collect();
        assert_eq!(split_bytes, expected);
        // Slices of the request's bytes, shared with it, not copies.
        assert_eq!(split[0].as_ptr(), records.as_ptr());
        assert_eq!(split[1].as_ptr(), records[batches[0].len()..].as_ptr());
        let partial = records.slice(..100);
        assert!(matches!(
            split_batches(Some(partial)),
            Err(Invalid::Code(ErrorCode::CorruptMessage))
        ));
        assert!(matches!(
            split_batches(None),
            Err(Invalid::Code(ErrorCode::InvalidRecord))
        ));
        // A flipped record byte in the second batch: refused here, with its index.
        let mut corrupt = batches.concat();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0x40;
        let refused = split_batches(Some(Bytes::from(corrupt))).unwrap_err();
        let Invalid::Batch(error) = refused else {
            panic!("expected a batch error, got {refused:?}");
        };
        assert_eq!(storage_error_code(&error), ErrorCode::CorruptMessage);
        assert!(error.to_string().contains("batch 2"), "{error}");
        // One batch more than storage takes in an append: refused here, before the list grows.
        let one = build_batch_sized(1, 1_000, 8, 1);
        let many = Bytes::from(one.repeat(limits::APPEND_BATCHES_MAX + 1));
        let refused = split_batches(Some(many)).unwrap_err();
        let Invalid::Batch(error) = refused else {
            panic!("expected a batch error, got {refused:?}");
        };
        assert_eq!(storage_error_code(&error), ErrorCode::InvalidRecord);
        let exact = Bytes::from(one.repeat(limits::APPEND_BATCHES_MAX));
        assert_eq!(
            split_batches(Some(exact)).unwrap().len(),
            limits::APPEND_BATCHES_MAX
        );
    }
}
