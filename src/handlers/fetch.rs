//! Fetch (key 1): reads whole batches from partition logs, with long poll. Runs on the
//! connection's shard; reads run on each partition's owning shard (one mesh message per owning
//! shard per pass).
//!
//! Limits as Kafka (KIP-74): each partition returns at most `partition_max_bytes` and the
//! response at most `max_bytes`, except that the first batch of the first partition with data
//! is returned whole even when larger, so a consumer never stalls on a big batch.
//! Long poll: while fewer than `min_bytes` are available and `max_wait_ms` has not passed, the
//! request waits for an append to any of its partitions (registered with each owning shard's
//! log pump *before* each read pass, so an append between the read and the wait still wakes
//! it), never polling on a timer.
//! Fetch sessions (KIP-227) are declined: responses carry session id 0, which tells clients to
//! keep sending full fetches; an incremental fetch of a session we never created gets
//! FETCH_SESSION_ID_NOT_FOUND.
//! isolation_level: without transactions the last stable offset equals the high watermark, so
//! both levels read up to it.
use super::common::{has_partition, owner, resolve_topic_by_id, storage_error_code};
use super::{HandlerError, RequestContext};
use crate::cluster::controller;
use crate::limits;
use crate::protocol::messages::fetch::{
    FetchRequest, FetchResponse, FetchableTopicResponse, PartitionData,
};
use crate::protocol::{ApiKey, ErrorCode};
use crate::shard::Shard;
use crate::shard::logs::{PartitionKey, ReadData};
use crate::storage::StorageError;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

pub const API_KEY: ApiKey = ApiKey::Fetch;
pub const VERSION_MIN: i16 = 4;
pub const VERSION_MAX: i16 = 17;

/// One partition of the request, resolved.
struct Wanted {
    topic_index: usize,
    partition_index: i32,
    target: Result<(PartitionKey, i64, u32), ErrorCode>,
}

type ReadResult = Result<ReadData, StorageError>;

/// # Errors
/// Only when an owning shard stopped (shutdown).
pub async fn handle(
    ctx: &mut RequestContext,
    request: FetchRequest,
) -> Result<FetchResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    if request.session_id != 0 {
        return Ok(FetchResponse {
            error_code: ErrorCode::FetchSessionIdNotFound,
            session_id: 0,
            ..FetchResponse::default()
        });
    }
    let (mut responses, wanted) = resolve(ctx, &request);
    let max_wait = Duration::from_millis(
        u64::try_from(request.max_wait_ms)
            .unwrap_or(0)
            .min(limits::FETCH_MAX_WAIT_MS_MAX),
    );
    let deadline = Instant::now() + max_wait;
    let min_bytes = usize::try_from(request.min_bytes).unwrap_or(0);
    let max_bytes = usize::try_from(request.max_bytes)
        .unwrap_or(0)
        .min(limits::FETCH_RESPONSE_SIZE_MAX);
    // Loop bound: each pass either returns or waits for an append or the deadline, and the
    // deadline is at most FETCH_MAX_WAIT_MS_MAX away.
    let results = loop {
        let waiting = min_bytes > 0 && Instant::now() < deadline;
        let wake = if waiting {
            Some(register_waiters(&ctx.shard, &wanted).await?)
        } else {
            None
        };
        let results = read_all(&ctx.shard, &wanted).await?;
        let available: usize = results
            .iter()
            .flatten()
            .flatten()
            .map(|data| data.bytes.len())
            .sum();
        let errors = results.iter().flatten().any(Result::is_err);
        let Some(wake) = wake else { break results };
        if available >= min_bytes || errors || Instant::now() >= deadline {
            break results;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        // Either an append woke us (read again) or the deadline passed (read once more, then
        // answer with whatever there is).
        let _ = compio::time::timeout(left, wake.recv_async()).await;
        if Instant::now() >= deadline {
            break read_all(&ctx.shard, &wanted).await?;
        }
    };
    let mut budget = max_bytes;
    let mut first_data_seen = false;
    for (want, result) in wanted.iter().zip(&results) {
        let data = partition_data(want, result.as_ref(), &mut budget, &mut first_data_seen);
        if let Some(topic) = responses.get_mut(want.topic_index) {
            topic.partitions.push(data);
        }
    }
    Ok(FetchResponse {
        throttle_time_ms: 0,
        error_code: ErrorCode::None,
        session_id: 0,
        responses,
        ..FetchResponse::default()
    })
}

/// The response skeleton (one entry per requested topic) and every requested partition.
fn resolve(
    ctx: &RequestContext,
    request: &FetchRequest,
) -> (Vec<FetchableTopicResponse>, Vec<Wanted>) {
    let metadata = controller::metadata(&ctx.shard);
    let mut responses = Vec::with_capacity(request.topics.len());
    let mut wanted = Vec::new();
    for (topic_index, topic) in request.topics.iter().enumerate() {
        responses.push(FetchableTopicResponse {
            topic: topic.topic.clone(),
            topic_id: topic.topic_id,
            partitions: Vec::with_capacity(topic.partitions.len()),
        });
        let resolved = if ctx.api_version >= 13 {
            resolve_topic_by_id(&ctx.shard, topic.topic_id)
        } else {
            metadata
                .topic(&topic.topic)
                .cloned()
                .ok_or(ErrorCode::UnknownTopicOrPartition)
        };
        for partition in &topic.partitions {
            let target = match &resolved {
                Err(code) => Err(*code),
                Ok(found) if !has_partition(found, partition.partition) => {
                    Err(ErrorCode::UnknownTopicOrPartition)
                }
                Ok(found) => Ok((
                    PartitionKey {
                        topic_id: found.topic_id,
                        partition: partition.partition,
                    },
                    partition.fetch_offset,
                    u32::try_from(partition.partition_max_bytes).unwrap_or(0),
                )),
            };
            wanted.push(Wanted {
                topic_index,
                partition_index: partition.partition,
                target,
            });
        }
    }
    (responses, wanted)
}

/// One result per entry of `wanted`, in the same order (`None` where nothing was read).
type Results = Vec<Option<ReadResult>>;

async fn read_all(shard: &Rc<Shard>, wanted: &[Wanted]) -> Result<Results, HandlerError> {
    let mut per_shard: BTreeMap<usize, Vec<(usize, PartitionKey, i64, u32)>> = BTreeMap::new();
    for (index, want) in wanted.iter().enumerate() {
        if let Ok((key, offset, max)) = want.target {
            per_shard
                .entry(owner(shard, key))
                .or_default()
                .push((index, key, offset, max));
        }
    }
    let calls: Vec<_> = per_shard
        .into_values()
        .map(|reads| {
            let shard = Rc::clone(shard);
            let target = reads.first().map_or(0, |(_, key, ..)| owner(&shard, *key));
            compio::runtime::spawn(async move {
                shard
                    .invoke_on(target, move |owner| async move {
                        let mut results = Vec::with_capacity(reads.len());
                        for (index, key, offset, max) in reads {
                            // Every partition may return its first batch whole (KIP-74); the
                            // response budget is applied afterwards, in request order.
                            let result = owner.state.logs.read(key, offset, max, true).await;
                            results.push((index, result));
                        }
                        results
                    })
                    .await
            })
        })
        .collect();
    let mut results: Results = wanted.iter().map(|_| None).collect();
    for call in calls {
        let reply = call
            .await
            .unwrap_or_else(|error| std::panic::resume_unwind(Box::new(error.to_string())));
        for (index, result) in reply? {
            if let Some(slot) = results.get_mut(index) {
                *slot = Some(result);
            }
        }
    }
    Ok(results)
}

async fn register_waiters(
    shard: &Rc<Shard>,
    wanted: &[Wanted],
) -> Result<flume::Receiver<()>, HandlerError> {
    let (waker, wake) = flume::bounded(1);
    let mut per_shard: BTreeMap<usize, Vec<PartitionKey>> = BTreeMap::new();
    for want in wanted {
        if let Ok((key, ..)) = want.target {
            per_shard.entry(owner(shard, key)).or_default().push(key);
        }
    }
    for (target, keys) in per_shard {
        let waker = waker.clone();
        shard
            .invoke_on(target, move |owner| async move {
                let _ = owner.state.logs.register_waiter(&keys, &waker);
            })
            .await?;
    }
    Ok(wake)
}

fn partition_data(
    want: &Wanted,
    result: Option<&ReadResult>,
    budget: &mut usize,
    first_data_seen: &mut bool,
) -> PartitionData {
    let empty = |error_code: ErrorCode| PartitionData {
        partition_index: want.partition_index,
        error_code,
        high_watermark: -1,
        last_stable_offset: -1,
        log_start_offset: -1,
        records: Some(Bytes::new()),
        ..PartitionData::default()
    };
    let result = match (&want.target, result) {
        (Err(code), _) => return empty(*code),
        (Ok(_), None) => return empty(ErrorCode::UnknownServerError),
        (Ok(_), Some(result)) => result,
    };
    match result {
        Err(error) => empty(storage_error_code(error)),
        Ok(data) => {
            let size = data.bytes.len();
            let records = if size <= *budget || (!*first_data_seen && size > 0) {
                *budget = budget.saturating_sub(size);
                data.bytes.clone()
            } else {
                Bytes::new()
            };
            *first_data_seen |= !records.is_empty();
            PartitionData {
                partition_index: want.partition_index,
                error_code: ErrorCode::None,
                high_watermark: data.high_watermark,
                last_stable_offset: data.high_watermark,
                log_start_offset: data.log_start_offset,
                aborted_transactions: None,
                records: Some(records),
                ..PartitionData::default()
            }
        }
    }
}
