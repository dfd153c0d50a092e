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
//! Fetch sessions (KIP-227, `fetch_session.rs`, on the connection's shard): a full fetch with
//! epoch 0 creates one (its id in the answer); an incremental fetch is served as the full
//! fetch of its whole session and its answer keeps only the partitions with something new.
//! isolation_level: without transactions the last stable offset equals the high watermark, so
//! both levels read up to it.
//!
//! Sending (`fetch_mode`, ARCHITECTURE §4): in copy mode the owning shard reads the ranges into
//! memory and the response is encoded whole. In splice mode the owning shard hands back leased
//! file ranges (a duplicated fd each, see `storage/pump/`), and the response is encoded in
//! memory around them ([`encode_spliced`]): the connection writes the memory parts and splices
//! the ranges in between, so record bytes never enter user space.
//!
//! Only the partition's leader is read (`common::serve_partition`): the client's
//! `current_leader_epoch` (v9+) is checked against the partition's (FENCED_LEADER_EPOCH /
//! UNKNOWN_LEADER_EPOCH), and a broker that does not lead answers NOT_LEADER_OR_FOLLOWER; both
//! name the leader as this broker knows it in `current_leader` (v12+, KIP-951) and its
//! endpoint in `node_endpoints` (v16+). Consumers read only from the leader (no fetch from
//! followers, KIP-392, yet).
//!
//! A fetch from a follower broker (ReplicaState.ReplicaId ≥ 0; `replica_id` before v15) is
//! first validated by the leader's replica state machine (`replica_fetch.rs`): its offsets move
//! the follower's position and the high watermark, a diverged log gets a DivergingEpoch and no
//! records, and it reads up to the log end instead of the high watermark.
use super::common::{
    ClientBroker, NotServed, leader_endpoints, owner, resolve_topic_by_id, serve_partition,
    storage_error_code,
};
use super::fetch_session::{Answer, Begun};
use super::{
    HandlerError, HandlerOutcome, IntoOutcome, RequestContext, ResponsePart, SplicedResponse,
    encode_frame, encode_response,
};
use super::{replica_fetch, throttle};
use crate::broker::Shard;
use crate::cluster::acls::AclOperation;
use crate::cluster::controller;
use crate::config::FetchMode;
use crate::limits;
use crate::protocol::StrBytes;
use crate::protocol::messages::fetch::{
    EpochEndOffset as FetchEpochEndOffset, FetchRequest, FetchResponse, FetchableTopicResponse,
    LeaderIdAndEpoch, NodeEndpoint, PartitionData,
};
use crate::protocol::primitives::{Writer, length_i32, length_u32};
use crate::protocol::{ApiKey, ErrorCode, Message, frame};
use crate::replication::EpochEndOffset;
use crate::storage::StorageError;
use crate::storage::{LeasedRange, LogPump, PartitionKey, ReadArgs, ReadUpto};
use bytes::{BufMut, Bytes, BytesMut};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;
use std::time::{Duration, Instant};

pub const API_KEY: ApiKey = ApiKey::Fetch;
pub const VERSION_MIN: i16 = 4;
pub const VERSION_MAX: i16 = 17;

/// One partition of the request, resolved.
pub(super) struct Wanted {
    topic_index: usize,
    partition_index: i32,
    pub(super) target: Result<(PartitionKey, i64, u32), NotServed>,
    /// The request's epochs for this partition: current leader epoch, last fetched epoch.
    pub(super) epochs: (i32, i32),
    /// A follower's fetch whose log diverges from this leader's: the DivergingEpoch and the
    /// HW to answer with, and no records (KIP-320).
    pub(super) diverging: Option<(EpochEndOffset, i64)>,
    /// A follower fetch refused OFFSET_OUT_OF_RANGE: the leader's log start and HW.
    pub(super) offsets_hint: Option<(i64, i64)>,
}

/// One partition's record bytes as read: in memory (copy mode) or leased ranges (splice).
#[derive(Debug)]
enum Records {
    Copied(Bytes),
    Leased(Vec<LeasedRange>),
}

impl Records {
    fn size(&self) -> usize {
        match self {
            Self::Copied(bytes) => bytes.len(),
            Self::Leased(ranges) => ranges.iter().map(|range| range.length as usize).sum(),
        }
    }
}

#[derive(Debug)]
struct PartitionRead {
    records: Records,
    high_watermark: i64,
    log_start_offset: i64,
}

type ReadResult = Result<PartitionRead, StorageError>;

/// A Fetch response plus, in splice mode, the leased ranges of the partitions whose records
/// are to be spliced: `(topic index, partition index in that topic, ranges)`, in encode order.
#[derive(Debug)]
pub struct FetchReply {
    pub response: FetchResponse,
    leased: Vec<(usize, usize, Vec<LeasedRange>)>,
}

impl From<FetchResponse> for FetchReply {
    fn from(response: FetchResponse) -> Self {
        Self {
            response,
            leased: Vec::new(),
        }
    }
}

impl IntoOutcome for FetchReply {
    fn into_outcome(mut self, ctx: &RequestContext) -> HandlerOutcome {
        throttle::answer(ctx, &mut self.response);
        if self.leased.is_empty() {
            HandlerOutcome::Response(encode_response(ctx, &self.response))
        } else {
            HandlerOutcome::Spliced(encode_spliced(ctx, &self.response, self.leased))
        }
    }
}

/// # Errors
/// Only when an owning shard stopped (shutdown).
pub async fn handle(
    ctx: &mut RequestContext,
    request: FetchRequest,
) -> Result<FetchReply, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    let follower = replica_fetch::follower(ctx.api_version, &request);
    if follower.is_some() {
        throttle::exempt_inter_broker(ctx);
    }
    let begun =
        ctx.fetch_sessions
            .cache()
            .borrow_mut()
            .begin(Instant::now(), ctx.api_version, &request);
    match begun {
        Err(code) => Ok(session_refused(code)),
        Ok(Begun::Sessionless) => serve(ctx, &request, follower).await,
        Ok(Begun::Full) => {
            let mut reply = serve(ctx, &request, follower).await?;
            reply.response.session_id = create_session(ctx, &request, follower.is_some(), &reply);
            Ok(reply)
        }
        Ok(Begun::Incremental { id, epoch, request }) => {
            let reply = serve(ctx, &request, follower).await?;
            Ok(incremental_reply(ctx, id, epoch, reply))
        }
    }
}

/// A refused session: the top-level error alone (Kafka's answer), session id 0.
fn session_refused(error_code: ErrorCode) -> FetchReply {
    FetchReply::from(FetchResponse {
        error_code,
        session_id: 0,
        ..FetchResponse::default()
    })
}

/// What each partition of `reply` says, in request order, for the session cache.
fn answers(reply: &FetchReply) -> Vec<Answer> {
    let leased: HashSet<(usize, usize)> = reply
        .leased
        .iter()
        .map(|(topic, partition, _)| (*topic, *partition))
        .collect();
    let mut answers = Vec::new();
    for (topic_index, topic) in reply.response.responses.iter().enumerate() {
        for (partition_index, data) in topic.partitions.iter().enumerate() {
            let spliced = leased.contains(&(topic_index, partition_index));
            answers.push(Answer::of(data, spliced));
        }
    }
    answers
}

/// A full fetch asking for a session: its id (0 when the cache has no room for it).
fn create_session(
    ctx: &RequestContext,
    request: &FetchRequest,
    privileged: bool,
    reply: &FetchReply,
) -> i32 {
    let answers = answers(reply);
    let mut cache = ctx.fetch_sessions.cache().borrow_mut();
    let id = cache.create(
        Instant::now(),
        ctx.api_version,
        privileged,
        request,
        &answers,
    );
    if id != 0 {
        ctx.fetch_sessions.created(&cache, id);
    }
    id
}

/// An incremental fetch's answer: only the partitions the session says to send (and only
/// topics with any), the spliced ranges renumbered to match.
fn incremental_reply(ctx: &RequestContext, id: i32, epoch: i32, reply: FetchReply) -> FetchReply {
    let answers = answers(&reply);
    let send = ctx
        .fetch_sessions
        .cache()
        .borrow_mut()
        .answer(id, epoch, &answers);
    let send = match send {
        Ok(send) => send,
        Err(code) => return session_refused(code),
    };
    let FetchReply {
        mut response,
        leased,
    } = reply;
    let mut leased: HashMap<(usize, usize), Vec<LeasedRange>> = leased
        .into_iter()
        .map(|(topic, partition, ranges)| ((topic, partition), ranges))
        .collect();
    let mut kept_leased = Vec::new();
    let mut send = send.into_iter();
    let mut topics = Vec::new();
    for (topic_index, mut topic) in std::mem::take(&mut response.responses)
        .into_iter()
        .enumerate()
    {
        let partitions = std::mem::take(&mut topic.partitions);
        for (partition_index, data) in partitions.into_iter().enumerate() {
            if !send.next().unwrap_or(true) {
                continue;
            }
            if let Some(ranges) = leased.remove(&(topic_index, partition_index)) {
                kept_leased.push((topics.len(), topic.partitions.len(), ranges));
            }
            topic.partitions.push(data);
        }
        if !topic.partitions.is_empty() {
            topics.push(topic);
        }
    }
    // A spliced partition has records, and a partition with records is always sent.
    assert!(leased.is_empty(), "spliced ranges of unsent partitions");
    response.responses = topics;
    response.session_id = id;
    tracing::trace!(
        id,
        epoch,
        topics = response.responses.len(),
        "incremental fetch answered"
    );
    FetchReply {
        response,
        leased: kept_leased,
    }
}

/// Serves `request` in full: every partition it names is read and answered.
async fn serve(
    ctx: &RequestContext,
    request: &FetchRequest,
    follower: Option<replica_fetch::Follower>,
) -> Result<FetchReply, HandlerError> {
    let (mut responses, mut wanted) = resolve(ctx, request, follower.is_some());
    if let Some(follower) = follower {
        replica_fetch::validate(&ctx.shard, follower, &mut wanted).await?;
    }
    let upto = if follower.is_some() {
        ReadUpto::LogEnd
    } else {
        ReadUpto::HighWatermark
    };
    let max_wait = Duration::from_millis(
        u64::try_from(request.max_wait_ms)
            .unwrap_or(0)
            .min(limits::FETCH_MAX_WAIT_MS_MAX),
    );
    let deadline = Instant::now() + max_wait;
    let min_bytes = min_bytes(request, &wanted);
    let max_bytes = usize::try_from(request.max_bytes)
        .unwrap_or(0)
        .min(limits::FETCH_RESPONSE_SIZE_MAX);
    let results = read_waiting(&ctx.shard, &wanted, upto, min_bytes, deadline).await?;
    let mut budget = max_bytes;
    let mut first_data_seen = false;
    let mut leased = Vec::new();
    for (want, result) in wanted.iter().zip(results) {
        let (data, ranges) = partition_data(want, result, &mut budget, &mut first_data_seen);
        let records = data.records.as_ref();
        crate::metrics::record_fetch(crate::metrics::fetch_bytes(records, ranges.as_deref()));
        if let Some(topic) = responses.get_mut(want.topic_index) {
            if let Some(ranges) = ranges {
                leased.push((want.topic_index, topic.partitions.len(), ranges));
            }
            topic.partitions.push(data);
        }
    }
    Ok(FetchReply {
        response: FetchResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::None,
            session_id: 0,
            responses,
            node_endpoints: node_endpoints(ctx, &wanted),
        },
        leased,
    })
}

/// Reads every wanted partition, waiting (long poll) while fewer than `min_bytes` are there
/// and the deadline has not passed.
async fn read_waiting(
    shard: &Rc<Shard>,
    wanted: &[Wanted],
    upto: ReadUpto,
    min_bytes: usize,
    deadline: Instant,
) -> Result<Results, HandlerError> {
    // Loop bound: each pass either returns or waits for an append or the deadline, and the
    // deadline is at most FETCH_MAX_WAIT_MS_MAX away.
    let results = loop {
        let waiting = min_bytes > 0 && Instant::now() < deadline;
        let wake = if waiting {
            Some(register_waiters(shard, wanted).await?)
        } else {
            None
        };
        let results = read_all(shard, wanted, upto).await?;
        let available: usize = results
            .iter()
            .flatten()
            .flatten()
            .map(|data| data.records.size())
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
            break read_all(shard, wanted, upto).await?;
        }
    };
    Ok(results)
}

/// The bytes to wait for: the request's `min_bytes`, or 0 when a partition is refused here
/// (unknown, led elsewhere, fenced epoch), so the client hears of it at once, as Kafka answers
/// a fetch with partition errors without waiting.
fn min_bytes(request: &FetchRequest, wanted: &[Wanted]) -> usize {
    if wanted
        .iter()
        .any(|want| want.target.is_err() || want.diverging.is_some())
    {
        return 0;
    }
    usize::try_from(request.min_bytes).unwrap_or(0)
}

/// KIP-951's `node_endpoints`: the leaders named in refusals' `current_leader` (v16+; the
/// codec leaves it out of older versions).
fn node_endpoints(ctx: &RequestContext, wanted: &[Wanted]) -> Vec<NodeEndpoint> {
    let this = ClientBroker::from_config(ctx.shard.config());
    let refusals = wanted.iter().filter_map(|want| want.target.err());
    leader_endpoints(&controller::metadata(&ctx.shard), &this, refusals)
        .into_iter()
        .map(|broker| NodeEndpoint {
            node_id: broker.node_id,
            host: StrBytes::from(broker.host.as_str()),
            port: i32::from(broker.port),
            rack: broker.rack.as_deref().map(StrBytes::from),
        })
        .collect()
}

/// The response skeleton (one entry per requested topic) and every requested partition.
fn resolve(
    ctx: &RequestContext,
    request: &FetchRequest,
    follower: bool,
) -> (Vec<FetchableTopicResponse>, Vec<Wanted>) {
    let metadata = controller::metadata(&ctx.shard);
    // A follower needs CLUSTER_ACTION (CVE-2018-1288: a client posing as a follower); a
    // consumer READ on each topic. Kafka answers both per partition.
    let follower_denied = follower && !ctx.authorize_cluster(AclOperation::ClusterAction);
    let authorize = |name: &str| {
        if follower_denied {
            return Err(ErrorCode::TopicAuthorizationFailed);
        }
        if follower {
            return Ok(());
        }
        ctx.authorize_topic(AclOperation::Read, name)
    };
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
                .and_then(|found| authorize(&found.name).map(|()| found))
        } else {
            authorize(&topic.topic).and_then(|()| {
                metadata
                    .topic(&topic.topic)
                    .cloned()
                    .ok_or(ErrorCode::UnknownTopicOrPartition)
            })
        };
        for partition in &topic.partitions {
            let target = resolved
                .as_ref()
                .map_err(|code| NotServed::code(*code))
                .and_then(|found| {
                    let (index, epoch) = (partition.partition, partition.current_leader_epoch);
                    serve_partition(&metadata, found.topic_id, index, ctx.node_id(), epoch)?;
                    Ok((
                        PartitionKey {
                            topic_id: found.topic_id,
                            partition: index,
                        },
                        partition.fetch_offset,
                        u32::try_from(partition.partition_max_bytes).unwrap_or(0),
                    ))
                });
            wanted.push(Wanted {
                topic_index,
                partition_index: partition.partition,
                target,
                epochs: (partition.current_leader_epoch, partition.last_fetched_epoch),
                diverging: None,
                offsets_hint: None,
            });
        }
    }
    (responses, wanted)
}

/// One result per entry of `wanted`, in the same order (`None` where nothing was read).
type Results = Vec<Option<ReadResult>>;

async fn read_all(
    shard: &Rc<Shard>,
    wanted: &[Wanted],
    upto: ReadUpto,
) -> Result<Results, HandlerError> {
    let mut per_shard: BTreeMap<usize, Vec<(usize, PartitionKey, i64, u32)>> = BTreeMap::new();
    for (index, want) in wanted.iter().enumerate() {
        if let (Ok((key, offset, max)), None) = (want.target, want.diverging) {
            per_shard
                .entry(owner(shard, key))
                .or_default()
                .push((index, key, offset, max));
        }
    }
    let mode = shard.config().fetch_mode;
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
                            let read = ReadArgs {
                                key,
                                offset,
                                max_bytes: max,
                                min_one_batch: true,
                                upto,
                            };
                            let result = read_partition(&owner.state.logs, mode, read).await;
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

/// One partition's read on its owning shard, in the connection's `fetch_mode`.
async fn read_partition(logs: &LogPump, mode: FetchMode, read: ReadArgs) -> ReadResult {
    match mode {
        FetchMode::Copy => {
            let data = logs.read_with(read).await?;
            Ok(PartitionRead {
                records: Records::Copied(data.bytes),
                high_watermark: data.high_watermark,
                log_start_offset: data.log_start_offset,
            })
        }
        FetchMode::Splice => {
            let data = logs.read_leased(read).await?;
            Ok(PartitionRead {
                records: Records::Leased(data.ranges),
                high_watermark: data.high_watermark,
                log_start_offset: data.log_start_offset,
            })
        }
    }
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

/// The response entry of one partition and, for leased records within the budget, the ranges
/// to splice in place of its (then empty) `records`.
fn partition_data(
    want: &Wanted,
    result: Option<ReadResult>,
    budget: &mut usize,
    first_data_seen: &mut bool,
) -> (PartitionData, Option<Vec<LeasedRange>>) {
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
        (Err(refused), _) => {
            let mut data = empty(refused.error_code);
            if let Some((log_start_offset, high_watermark)) = want.offsets_hint {
                data.log_start_offset = log_start_offset;
                data.high_watermark = high_watermark;
            }
            if let Some(leader) = refused.current_leader() {
                data.current_leader = LeaderIdAndEpoch {
                    leader_id: leader.leader_id,
                    leader_epoch: leader.leader_epoch,
                };
            }
            return (data, None);
        }
        (Ok(_), None) => {
            let Some((diverging, high_watermark)) = want.diverging else {
                return (empty(ErrorCode::UnknownServerError), None);
            };
            let mut data = empty(ErrorCode::None);
            data.high_watermark = high_watermark;
            data.diverging_epoch = FetchEpochEndOffset {
                epoch: diverging.epoch,
                end_offset: diverging.end_offset,
            };
            return (data, None);
        }
        (Ok(_), Some(result)) => result,
    };
    let data = match result {
        Err(error) => return (empty(storage_error_code(&error)), None),
        Ok(data) => data,
    };
    let size = data.records.size();
    let fits = size > 0 && (size <= *budget || !*first_data_seen);
    let (records, ranges) = match data.records {
        Records::Copied(bytes) if fits => (bytes, None),
        Records::Leased(ranges) if fits => (Bytes::new(), Some(ranges)),
        Records::Copied(_) | Records::Leased(_) => (Bytes::new(), None),
    };
    if fits {
        *budget = budget.saturating_sub(size);
        *first_data_seen = true;
    }
    let data = PartitionData {
        partition_index: want.partition_index,
        error_code: ErrorCode::None,
        high_watermark: data.high_watermark,
        last_stable_offset: data.high_watermark,
        log_start_offset: data.log_start_offset,
        aborted_transactions: None,
        records: Some(records),
        ..PartitionData::default()
    };
    (data, ranges)
}

/// Encodes `response` with the records of each `leased` partition left out of memory: the
/// frame is split around those records fields, their length prefixes written for the ranges'
/// sizes, and the ranges become file parts between the memory parts.
///
/// How the fields are found without a second hand-written encoder: the response is encoded
/// twice, once with those partitions' records empty and once null. The two encodings are the
/// same length and differ exactly at the records fields (empty `00000000` vs null `ffffffff`;
/// compact: `01` vs `00`), in encode order. Everything else is the one generated encoder.
///
/// # Panics
/// When the two encodings do not differ exactly at the leased fields (a programmer error: the
/// codec changed how nullable bytes are written).
fn encode_spliced(
    ctx: &RequestContext,
    response: &FetchResponse,
    mut leased: Vec<(usize, usize, Vec<LeasedRange>)>,
) -> SplicedResponse {
    assert_eq!(ctx.api_key, API_KEY);
    leased.sort_by_key(|(topic, partition, _)| (*topic, *partition));
    let mut nulled = response.clone();
    for (topic, partition, _) in &leased {
        let slot = nulled
            .responses
            .get_mut(*topic)
            .and_then(|topic| topic.partitions.get_mut(*partition));
        assert!(
            slot.is_some(),
            "leased partition {topic}/{partition} not in the response"
        );
        if let Some(data) = slot {
            assert_eq!(data.records.as_ref().map(Bytes::len), Some(0));
            data.records = None;
        }
    }
    let empty = encode_frame(response, ctx.correlation_id, ctx.api_version);
    let null = encode_frame(&nulled, ctx.correlation_id, ctx.api_version);
    assert_eq!(
        empty.len(),
        null.len(),
        "empty and null records differ in size"
    );
    let flexible = ctx.api_version >= FetchResponse::FLEXIBLE_MIN;
    let field_size = if flexible { 1 } else { 4 };
    let mut head = BytesMut::with_capacity(empty.len() + leased.len() * 4);
    let mut cuts = Vec::with_capacity(leased.len());
    let mut extra = 0usize;
    let mut cursor = 0;
    for (_, _, ranges) in &leased {
        let field = first_difference(&empty, &null, cursor);
        assert!(field.is_some(), "no records field for a leased partition");
        let field = field.unwrap_or(cursor);
        let (before, empty_field) = (
            empty.get(cursor..field),
            empty.get(field..field + field_size),
        );
        assert_eq!(
            empty_field,
            Some(if flexible { &[1u8][..] } else { &[0u8; 4][..] })
        );
        head.extend_from_slice(before.unwrap_or_default());
        let size: usize = ranges.iter().map(|range| range.length as usize).sum();
        if flexible {
            head.put_unsigned_varint(length_u32(size) + 1);
        } else {
            head.put_i32(length_i32(size));
        }
        cuts.push(head.len());
        extra += size;
        cursor = field + field_size;
    }
    assert!(
        first_difference(&empty, &null, cursor).is_none(),
        "more records fields than leases"
    );
    head.extend_from_slice(empty.get(cursor..).unwrap_or_default());
    frame::finish_frame(&mut head, 0, extra);
    let mut parts = Vec::with_capacity(leased.len() * 2 + 1);
    let mut consumed = 0;
    for (cut, (_, _, ranges)) in cuts.into_iter().zip(leased) {
        parts.push(ResponsePart::Memory(head.split_to(cut - consumed).freeze()));
        consumed = cut;
        parts.extend(ranges.into_iter().map(ResponsePart::File));
    }
    parts.push(ResponsePart::Memory(head.freeze()));
    SplicedResponse { parts }
}

/// The first index at or after `from` where `left` and `right` differ.
fn first_difference(left: &[u8], right: &[u8], from: usize) -> Option<usize> {
    let left = left.get(from..)?;
    let right = right.get(from..)?;
    left.iter()
        .zip(right)
        .position(|(a, b)| a != b)
        .map(|index| from + index)
}
