//! Follower fetchers: per shard, one task per leader broker this shard follows partitions of
//! and per fetch stream ([`FetchStream`]: in-sync followers, and the moving replicas a
//! reassignment is adding here). Each keeps one connection to the leader's CLIENT listener and
//! sends Fetch v16 requests as a follower (ReplicaState: this broker's id and broker epoch)
//! naming every partition of its stream this shard follows there (at most
//! `REPLICA_FETCH_PARTITIONS_MAX` per request, in turns). The
//! leader's shards answer from the same shard index, so replication runs shard i → shard i.
//!
//! Per partition of an answer, through the [`FollowerReplica`](super::FollowerReplica) state
//! machine: records are validated (CRC) and appended verbatim, so the replicas are
//! byte-identical; a DivergingEpoch truncates the log first (KIP-320); the high watermark and
//! log start follow the leader's. The partitions that append (or only move offsets) go to the
//! log pump together, one `LogPump::follow_leader` per answer (append → HW → log start per
//! partition, the log's new state back), after the others (refusals, DivergingEpoch, out of
//! range) are handled one by one. An answer for a partition whose role or position changed
//! meanwhile is dropped; a refusal (not the leader, epoch mismatch) or a failed append pauses
//! that partition for `REPLICA_FETCH_BACKOFF_MS` until the metadata moves it.
//!
//! Fetch sessions (KIP-227, Kafka's FetchSessionHandler; [`ClientSession`]): the first
//! request is a full fetch (epoch 0) that creates a session at the leader; later requests are
//! incremental and name only partitions whose fetch position changed or that were added,
//! plus the ones no longer followed (`forgotten_topics_data`). The leader's answer then holds
//! only partitions with news, and a partition left out simply has nothing new. A refused
//! session (FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH, a failed exchange)
//! starts over with a full fetch. A shard following more than `REPLICA_FETCH_PARTITIONS_MAX`
//! partitions of one leader fetches sessionless, in turns.
//!
//! Replication throttle (`--replication-throttle-bytes-per-sec`, Kafka's
//! `follower.replication.throttled.rate` applied to every replica; `throttle.rs`): it limits
//! the follower side, the record bytes this broker's fetchers pull, all shards together
//! drawing from one broker-wide token bucket (as Kafka's one quota per broker). A fetcher
//! whose broker overdrew waits (bounded waits, re-checked) before its next request, and each
//! request's `max_bytes` shrinks to what is left of the budget. Leaders are not throttled.
//!
//! Throttle of moving data (issue 18; Kafka's dynamic broker config
//! `follower.replication.throttled.rate`, default Long.MAX_VALUE = off): while this broker is
//! one of a partition's `adding` replicas (KIP-455), the partition is fetched in the leader's
//! `Moving` stream — its own task, connection and fetch session — whose requests also draw from
//! a second broker-wide bucket at that committed rate. In-sync
//! followers' stream never waits it, so acks=all produce is not slowed by a move. When the new
//! replica joins the ISR the reassignment completes, the partition leaves `adding`, and the
//! next reconcile moves it to the in-sync stream: the moving session forgets it (or its task
//! ends with nothing left) and the in-sync session adds it. Differences from Kafka: the rate is
//! one cluster-wide broker config here (Kafka's tool sets it on each broker, and every broker
//! may differ); it applies to exactly the replicas a broker is adding, which is what Kafka's
//! reassign tool lists in `follower.replication.throttled.replicas` — the per-topic
//! `leader/follower.replication.throttled.replicas` lists are not implemented, and neither is
//! the leader-side `leader.replication.throttled.rate`.
//!
//! Runs on its manager's shard; every exchange is bounded by a timeout, every loop by the
//! manager's life and the presence of partitions to fetch.
use super::epochs::EpochEndOffset;
use super::link::{Dialer, Link, Steer, connect_plain};
use super::manager::{FetchStream, Following, ReplicaManager, Role, epoch_cache};
use super::throttle::{Draw, Rates};
use super::{FetchAnswer, FetchPosition, FollowerAction, FollowerReplica};
use crate::cluster::configs::follower_throttled_rate;
use crate::cluster::metadata::{CLIENT_LISTENER, NO_LEADER};
use crate::limits::{
    FETCH_RESPONSE_SIZE_MAX, REPLICA_FETCH_BACKOFF_MS, REPLICA_FETCH_CONNECT_TIMEOUT_MS,
    REPLICA_FETCH_EXCHANGE_TIMEOUT_MS, REPLICA_FETCH_PARTITION_BYTES, REPLICA_FETCH_PARTITIONS_MAX,
    REPLICA_FETCH_RESPONSE_BYTES, REPLICA_FETCH_WAIT_MS,
};
use crate::protocol::ErrorCode;
use crate::protocol::exchange::{decode_response, encode_request};
use crate::protocol::frame::peek_size;
use crate::protocol::messages::fetch::{
    FetchPartition, FetchRequest, FetchResponse, FetchTopic, ForgottenTopic, PartitionData,
    ReplicaState,
};
use crate::protocol::record_batch::BatchSplitter;
use crate::storage::{
    CheckedBatch, FollowerOutcome, FollowerUpdate, PartitionKey, ReplicaLogState,
};
use bytes::{Bytes, BytesMut};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::io;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

/// The Fetch version followers send (v15+ carries ReplicaState; v16 is what our handler
/// answers with KIP-951 hints).
const FETCH_VERSION: i16 = 16;
/// The client id follower fetches carry (in the leader's logs).
const CLIENT_ID: &str = "ringbroker-replica-fetcher";

/// Starts a fetcher for every (leader, stream) this shard follows partitions in and has none
/// for yet.
pub(super) fn ensure_fetchers(manager: &Rc<ReplicaManager>) {
    if manager.stopping.get() {
        return;
    }
    let streams: BTreeSet<(i32, FetchStream)> = manager
        .roles
        .borrow()
        .values()
        .filter_map(|role| match role {
            Role::Follower(following) => Some((following.replica.leader_id(), following.stream)),
            Role::Leader(_) => None,
        })
        .filter(|&(leader, _)| leader != NO_LEADER)
        .collect();
    for (leader_id, stream) in streams {
        let key = (leader_id, stream);
        if manager.fetchers.borrow_mut().insert(key, ()).is_none() {
            compio::runtime::spawn(run(Rc::downgrade(manager), leader_id, stream)).detach();
        }
    }
}

/// One partition of a request, as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Planned {
    key: PartitionKey,
    position: FetchPosition,
}

/// One fetcher: fetches `stream`'s partitions from `leader_id` until this shard follows none
/// of them there.
async fn run(manager: Weak<ReplicaManager>, leader_id: i32, stream: FetchStream) {
    let mut connection: Option<(String, Link)> = None;
    let mut session = ClientSession::default();
    let mut correlation_id = 0i32;
    let mut turn = 0usize;
    // Bounded by the manager's life and the partitions it follows on this leader.
    loop {
        let Some(manager) = manager.upgrade() else {
            break;
        };
        let plan = if manager.stopping.get() {
            None
        } else {
            manager.fetch_plan(leader_id, stream, &mut turn)
        };
        let Some((plan, sessionless)) = plan else {
            manager.fetchers.borrow_mut().remove(&(leader_id, stream));
            break;
        };
        let address = manager.broker_address(leader_id);
        let (Some(address), false) = (address, plan.is_empty()) else {
            drop(manager);
            backoff().await;
            continue;
        };
        let rates = manager.throttle_rates(stream);
        let wait = rates.wait(Instant::now());
        if !wait.is_zero() {
            drop(manager);
            compio::time::sleep(wait).await;
            continue;
        }
        let max_bytes = rates.budget(Instant::now());
        correlation_id = correlation_id.wrapping_add(1);
        let sent = session.next(&plan, sessionless);
        let request = manager.fetch_request(&sent, max_bytes);
        let dialer = manager.dialer.borrow().clone();
        let steer = Steer {
            shard: manager.settings.shard_index,
            shards: manager.settings.shard_count,
        };
        match exchange(
            &mut connection,
            (&address, dialer, steer),
            &request,
            correlation_id,
        )
        .await
        {
            Ok(response) => {
                rates.spent(record_bytes(&response));
                session.answered(&sent, response.error_code, response.session_id);
                manager.on_response(&plan, response).await;
            }
            Err(error) => {
                tracing::debug!(leader_id, %address, %error, "follower fetch failed");
                connection = None;
                session.failed();
                drop(manager);
                backoff().await;
            }
        }
    }
}

async fn backoff() {
    compio::time::sleep(Duration::from_millis(REPLICA_FETCH_BACKOFF_MS)).await;
}

/// Sends `request` and reads its answer, on the open connection or a new one (through the
/// broker's dialer when it installed one: TLS, SASL), all bounded.
async fn exchange(
    connection: &mut Option<(String, Link)>,
    (address, dialer, steer): (&str, Option<Dialer>, Steer),
    request: &FetchRequest,
    correlation_id: i32,
) -> io::Result<FetchResponse> {
    if connection
        .as_ref()
        .is_none_or(|(connected, _)| connected != address)
    {
        let timeout = Duration::from_millis(REPLICA_FETCH_CONNECT_TIMEOUT_MS);
        let link = async {
            match dialer {
                Some(dial) => dial(address.to_owned(), Some(steer)).await,
                None => connect_plain(address, Some(steer)).await.map(Link::Plain),
            }
        };
        let link = compio::time::timeout(timeout, link)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        *connection = Some((address.to_owned(), link));
    }
    let Some((_, link)) = connection.as_mut() else {
        return Err(io::Error::other("no connection"));
    };
    let mut frame = BytesMut::new();
    encode_request(
        &mut frame,
        FETCH_VERSION,
        correlation_id,
        CLIENT_ID,
        request,
    );
    let timeout = Duration::from_millis(REPLICA_FETCH_EXCHANGE_TIMEOUT_MS);
    let payload = compio::time::timeout(timeout, async {
        link.write_all(frame.to_vec()).await?;
        read_frame(link).await
    })
    .await
    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer in time"))??;
    decode_response::<FetchResponse>(payload, FETCH_VERSION, correlation_id)
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))
}

/// One response frame's payload; its size is checked before the buffer exists.
async fn read_frame(link: &mut Link) -> io::Result<Bytes> {
    let prefix = link.read_exact(4).await?;
    // A response is at most the request's max bytes plus its headers.
    let size_max = FETCH_RESPONSE_SIZE_MAX + (1 << 20);
    let size = peek_size(&prefix, size_max)
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?
        .unwrap_or(0);
    Ok(Bytes::from(link.read_exact(size).await?))
}

/// The DivergingEpoch of an answer, when the leader set one.
fn diverging(data: &PartitionData) -> Option<EpochEndOffset> {
    let epoch = &data.diverging_epoch;
    (epoch.epoch >= 0 || epoch.end_offset >= 0).then_some(EpochEndOffset {
        epoch: epoch.epoch,
        end_offset: epoch.end_offset,
    })
}

/// What the follower state machine takes of a partition's answer to `planned`.
fn fetch_answer(planned: &Planned, data: &PartitionData) -> FetchAnswer {
    FetchAnswer {
        leader_epoch: planned.position.current_leader_epoch,
        high_watermark: data.high_watermark,
        diverging_epoch: diverging(data),
        caught_up: false,
    }
}

/// Whole batches of an answer's records, each checked (CRC, structure); a partial batch at
/// the end (a leader may cut one, KIP-74) is left for the next fetch.
fn checked_batches(records: Option<Bytes>) -> Result<Vec<CheckedBatch>, String> {
    let Some(records) = records else {
        return Ok(Vec::new());
    };
    let mut batches = Vec::new();
    for (index, batch) in BatchSplitter::new(records).enumerate() {
        let checked =
            CheckedBatch::new(batch).map_err(|reason| format!("batch {index}: {reason}"))?;
        batches.push(checked);
    }
    Ok(batches)
}

/// The partitions of `roles` followed from `leader_id` in `stream`, at their positions, but
/// those waiting out a refusal at `now`; `None` when none is followed there at all.
fn followed_in(
    roles: &HashMap<PartitionKey, Role>,
    leader_id: i32,
    stream: FetchStream,
    now: Instant,
) -> Option<Vec<Planned>> {
    let mut any = false;
    let mut followed = Vec::new();
    for (key, role) in roles {
        let Role::Follower(following) = role else {
            continue;
        };
        if following.replica.leader_id() != leader_id || following.stream != stream {
            continue;
        }
        any = true;
        if following.retry_at.is_none_or(|at| at <= now) {
            followed.push(Planned {
                key: *key,
                position: following.replica.fetch_position(&following.epochs),
            });
        }
    }
    assert!(followed.len() <= roles.len());
    any.then_some(followed)
}

impl ReplicaManager {
    /// What `stream` fetches from `leader_id` now, and whether without a session (more
    /// partitions than one request names, fetched in turns): `None` when this shard follows
    /// nothing in that stream there, empty when every such partition waits out a refusal.
    fn fetch_plan(
        &self,
        leader_id: i32,
        stream: FetchStream,
        turn: &mut usize,
    ) -> Option<(Vec<Planned>, bool)> {
        let mut followed = followed_in(&self.roles.borrow(), leader_id, stream, Instant::now())?;
        let sessionless = followed.len() > REPLICA_FETCH_PARTITIONS_MAX;
        if sessionless {
            followed.sort_by_key(|planned| (planned.key.topic_id, planned.key.partition));
            let start = *turn % followed.len();
            followed.rotate_left(start);
            followed.truncate(REPLICA_FETCH_PARTITIONS_MAX);
            *turn = turn.wrapping_add(REPLICA_FETCH_PARTITIONS_MAX);
        }
        Some((followed, sessionless))
    }

    /// What `stream`'s fetches draw from the broker's throttle (shared by every shard): every
    /// fetch from `--replication-throttle-bytes-per-sec`; moving data also from the committed
    /// `follower.replication.throttled.rate`.
    fn throttle_rates(&self, stream: FetchStream) -> Draw {
        let moving = match stream {
            FetchStream::InSync => 0,
            FetchStream::Moving => {
                follower_throttled_rate(&self.metadata.borrow().broker_configs).unwrap_or(0)
            }
        };
        self.settings.replication_throttle.draw(Rates {
            all: self.settings.replication_throttle_bytes_per_sec,
            moving,
        })
    }

    /// `node_id`'s CLIENT listener, from the metadata.
    fn broker_address(&self, node_id: i32) -> Option<String> {
        let metadata = self.metadata.borrow();
        let broker = metadata.broker(node_id)?;
        let listener = broker
            .listeners
            .iter()
            .find(|listener| listener.name == CLIENT_LISTENER)?;
        Some(format!("{}:{}", listener.host, listener.port))
    }

    /// The Fetch request for `sent` (its session fields, partitions and forgotten ones);
    /// `max_bytes` is the throttle's budget.
    fn fetch_request(&self, sent: &SessionRequest, max_bytes: i32) -> FetchRequest {
        let node_id = self.settings.node_id;
        let broker_epoch = self
            .metadata
            .borrow()
            .broker(node_id)
            .map_or(-1, |broker| broker.broker_epoch);
        let mut topics: Vec<FetchTopic> = Vec::new();
        for planned in &sent.partitions {
            let partition = FetchPartition {
                partition: planned.key.partition,
                current_leader_epoch: planned.position.current_leader_epoch,
                fetch_offset: planned.position.fetch_offset,
                last_fetched_epoch: planned.position.last_fetched_epoch,
                log_start_offset: -1,
                partition_max_bytes: REPLICA_FETCH_PARTITION_BYTES,
                ..FetchPartition::default()
            };
            match topics.last_mut() {
                Some(topic) if topic.topic_id == planned.key.topic_id => {
                    topic.partitions.push(partition);
                }
                _ => topics.push(FetchTopic {
                    topic_id: planned.key.topic_id,
                    partitions: vec![partition],
                    ..FetchTopic::default()
                }),
            }
        }
        FetchRequest {
            replica_state: ReplicaState {
                replica_id: node_id,
                replica_epoch: broker_epoch,
            },
            max_wait_ms: REPLICA_FETCH_WAIT_MS,
            min_bytes: 1,
            max_bytes: max_bytes.clamp(1, REPLICA_FETCH_RESPONSE_BYTES),
            isolation_level: 0,
            session_id: sent.session_id,
            session_epoch: sent.session_epoch,
            topics,
            forgotten_topics_data: forgotten_topics(&sent.forgotten),
            ..FetchRequest::default()
        }
    }

    async fn on_response(&self, plan: &[Planned], response: FetchResponse) {
        if is_session_error(response.error_code) {
            // The session starts over with a full fetch at once; the partitions are fine.
            tracing::debug!(code = ?response.error_code, "follower fetch session refused");
            return;
        }
        if response.error_code != ErrorCode::None {
            tracing::debug!(code = ?response.error_code, "follower fetch refused");
            for planned in plan {
                self.pause(planned.key);
            }
            return;
        }
        let mut appends = Vec::new();
        let mut seen = HashSet::new();
        for topic in response.responses {
            for data in topic.partitions {
                let key = PartitionKey {
                    topic_id: topic.topic_id,
                    partition: data.partition_index,
                };
                let Some(planned) = plan.iter().find(|planned| planned.key == key) else {
                    continue;
                };
                // A partition answered twice (a leader's mistake): the first answer only.
                if !seen.insert(key) {
                    continue;
                }
                if data.error_code == ErrorCode::None && diverging(&data).is_none() {
                    appends.push((*planned, data));
                } else {
                    self.on_partition(*planned, data).await;
                }
            }
        }
        self.on_appends(appends).await;
    }

    /// The answers without error or DivergingEpoch: each taken by its follower state machine
    /// (no await between that and the command, as on the one-by-one path), then all applied
    /// with one pump command.
    async fn on_appends(&self, answers: Vec<(Planned, PartitionData)>) {
        let updates: Vec<FollowerUpdate> = answers
            .into_iter()
            .filter_map(|(planned, data)| self.take_answer(planned, data))
            .collect();
        if updates.is_empty() {
            return;
        }
        let keys: Vec<PartitionKey> = updates.iter().map(|update| update.key).collect();
        let outcomes = self.logs.follow_leader(updates).await;
        assert_eq!(outcomes.len(), keys.len(), "one outcome per partition");
        for (key, outcome) in keys.into_iter().zip(outcomes) {
            self.on_followed(key, outcome);
        }
    }

    /// What the pump is to do for one answer that appends; `None` when it is dropped (the
    /// partition is no longer followed from there, or is paused).
    fn take_answer(&self, planned: Planned, data: PartitionData) -> Option<FollowerUpdate> {
        if !self.still_at(&planned) {
            return None;
        }
        let key = planned.key;
        let answer = fetch_answer(&planned, &data);
        let taken = match self.roles.borrow_mut().get_mut(&key) {
            Some(Role::Follower(following)) => following
                .replica
                .on_answer(&answer, &following.epochs)
                .map(|action| (action, following.replica.leader_high_watermark())),
            _ => return None,
        };
        let leader_high_watermark = match taken {
            Ok((FollowerAction::Append, leader_high_watermark)) => leader_high_watermark,
            // A truncation comes only with a DivergingEpoch, which `on_answer` handles.
            refused => {
                tracing::debug!(?key, ?refused, "answer dropped");
                self.pause(key);
                return None;
            }
        };
        let batches = match checked_batches(data.records) {
            Ok(batches) => batches,
            Err(reason) => {
                tracing::warn!(?key, reason, "leader sent a bad batch");
                self.pause(key);
                return None;
            }
        };
        Some(FollowerUpdate {
            key,
            batches,
            leader_high_watermark,
            leader_log_start_offset: data.log_start_offset,
        })
    }

    /// The pump applied one partition's answer: the follower learns its log's new end and
    /// epochs; a failed append pauses the partition.
    fn on_followed(&self, key: PartitionKey, outcome: FollowerOutcome) {
        match outcome.appended {
            Some(Ok(log)) => self.refreshed(key, &log),
            Some(Err(error)) => {
                tracing::warn!(?key, %error, "follower append failed");
                self.pause(key);
            }
            None => {}
        }
        if let Err(error) = outcome.high_watermark {
            tracing::debug!(?key, %error, "follower HW not stored");
        }
        if let Some(Err(error)) = outcome.log_start_offset {
            tracing::debug!(?key, %error, "follower log start not moved");
        }
    }

    /// A refused partition waits before it is fetched again.
    fn pause(&self, key: PartitionKey) {
        if let Some(Role::Follower(following)) = self.roles.borrow_mut().get_mut(&key) {
            let backoff = Duration::from_millis(REPLICA_FETCH_BACKOFF_MS);
            following.retry_at = Some(Instant::now() + backoff);
        }
    }

    /// Whether `key` is still followed at the position `planned` was sent from.
    fn still_at(&self, planned: &Planned) -> bool {
        matches!(
            self.roles.borrow().get(&planned.key),
            Some(Role::Follower(following))
                if following.replica.fetch_position(&following.epochs) == planned.position
        )
    }

    async fn on_partition(&self, planned: Planned, data: PartitionData) {
        if !self.still_at(&planned) {
            return;
        }
        match data.error_code {
            ErrorCode::None => self.on_answer(planned, data).await,
            ErrorCode::OffsetOutOfRange => self.on_out_of_range(planned, &data).await,
            code => {
                tracing::debug!(key = ?planned.key, ?code, "leader refused a follower fetch");
                self.pause(planned.key);
            }
        }
    }

    /// An answer without error on the one-by-one path: one with a DivergingEpoch truncates
    /// (any other is applied as `on_appends` applies it).
    async fn on_answer(&self, planned: Planned, data: PartitionData) {
        let key = planned.key;
        let answer = fetch_answer(&planned, &data);
        if answer.diverging_epoch.is_none() {
            self.on_appends(vec![(planned, data)]).await;
            return;
        }
        let action = match self.roles.borrow_mut().get_mut(&key) {
            Some(Role::Follower(following)) => {
                following.replica.on_answer(&answer, &following.epochs)
            }
            _ => return,
        };
        match action {
            Err(error) => {
                tracing::debug!(?key, %error, "answer dropped");
                self.pause(key);
            }
            Ok(FollowerAction::Truncate { offset }) => self.truncate(key, offset).await,
            Ok(FollowerAction::Append) => {
                // With a DivergingEpoch the state machine truncates or refuses.
                tracing::debug!(?key, "answer dropped: DivergingEpoch without truncation");
                self.pause(key);
            }
        }
    }

    /// The follower's log end, epochs and HW from its log (after a truncation).
    async fn refresh_follower(&self, key: PartitionKey) {
        let Ok(log) = self.logs.replica_state(key).await else {
            self.pause(key);
            return;
        };
        self.refreshed(key, &log);
    }

    /// The follower learns its log's end and epochs (after an append or truncation).
    fn refreshed(&self, key: PartitionKey, log: &ReplicaLogState) {
        if let Some(Role::Follower(following)) = self.roles.borrow_mut().get_mut(&key) {
            let leo = log.log_end_offset;
            if leo >= following.replica.log_end_offset() {
                following.replica.appended(leo);
            } else {
                following.replica.truncated(leo);
            }
            following.epochs = epoch_cache(&log.epochs);
        }
    }

    async fn truncate(&self, key: PartitionKey, offset: i64) {
        match self.logs.truncate_to(key, offset).await {
            Ok(_) => self.refresh_follower(key).await,
            Err(error) => {
                tracing::warn!(?key, offset, %error, "follower truncation failed");
                self.pause(key);
            }
        }
    }

    /// OFFSET_OUT_OF_RANGE: below the leader's log start, the log restarts there (Kafka's
    /// truncateFullyAndStartAt); past its end, it is cut to the leader's HW.
    async fn on_out_of_range(&self, planned: Planned, data: &PartitionData) {
        let key = planned.key;
        let fetch_offset = planned.position.fetch_offset;
        if data.log_start_offset > fetch_offset {
            if let Err(error) = self.logs.reset_to(key, data.log_start_offset).await {
                tracing::warn!(?key, %error, "follower reset failed");
                self.pause(key);
                return;
            }
            let start = data.log_start_offset;
            if let Some(Role::Follower(following)) = self.roles.borrow_mut().get_mut(&key) {
                let leader = (
                    following.replica.leader_id(),
                    following.replica.leader_epoch(),
                );
                *following = Following {
                    replica: FollowerReplica::new(self.settings.node_id, leader, start, start),
                    epochs: super::LeaderEpochCache::new(),
                    retry_at: None,
                    stream: following.stream,
                };
            }
        } else if data.high_watermark >= 0 && data.high_watermark < fetch_offset {
            self.truncate(key, data.high_watermark).await;
        } else {
            self.pause(key);
        }
    }
}

/// Top-level errors that refuse a fetch session, not the partitions.
fn is_session_error(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::FetchSessionIdNotFound
            | ErrorCode::InvalidFetchSessionEpoch
            | ErrorCode::FetchSessionTopicIdError
    )
}

/// `forgotten_topics_data` naming `keys` (by topic id), one entry per run of one topic.
fn forgotten_topics(keys: &[PartitionKey]) -> Vec<ForgottenTopic> {
    let mut topics: Vec<ForgottenTopic> = Vec::new();
    for key in keys {
        match topics.last_mut() {
            Some(topic) if topic.topic_id == key.topic_id => topic.partitions.push(key.partition),
            _ => topics.push(ForgottenTopic {
                topic_id: key.topic_id,
                partitions: vec![key.partition],
                ..ForgottenTopic::default()
            }),
        }
    }
    topics
}

/// Record bytes in an answer (what the throttle counts).
fn record_bytes(response: &FetchResponse) -> u64 {
    response
        .responses
        .iter()
        .flat_map(|topic| &topic.partitions)
        .filter_map(|data| data.records.as_ref())
        .map(|records| records.len() as u64)
        .sum()
}

/// The session fields and partitions of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SessionRequest {
    session_id: i32,
    session_epoch: i32,
    /// The partitions named (all of them in a full fetch, the changed ones otherwise).
    partitions: Vec<Planned>,
    /// Partitions the session drops (incremental only).
    forgotten: Vec<PartitionKey>,
    /// Every partition of the session after this request, at the position sent.
    after: HashMap<PartitionKey, FetchPosition>,
}

/// The follower's half of a fetch session with one leader (Kafka's FetchSessionHandler).
#[derive(Debug, Default)]
struct ClientSession {
    /// The leader's id for the session (0: none).
    id: i32,
    /// The next request's epoch: 0 = a full fetch creating a session (and closing `id`).
    epoch: i32,
    /// The partitions the leader's session holds, at the positions last sent.
    partitions: HashMap<PartitionKey, FetchPosition>,
}

impl ClientSession {
    /// The next request for `plan` (every partition to follow now, at its position).
    fn next(&self, plan: &[Planned], sessionless: bool) -> SessionRequest {
        let after: HashMap<PartitionKey, FetchPosition> = plan
            .iter()
            .map(|planned| (planned.key, planned.position))
            .collect();
        if sessionless || self.epoch == INITIAL_EPOCH {
            let session_epoch = if sessionless {
                FINAL_EPOCH
            } else {
                INITIAL_EPOCH
            };
            return SessionRequest {
                session_id: self.id,
                session_epoch,
                partitions: plan.to_vec(),
                forgotten: Vec::new(),
                after,
            };
        }
        let partitions: Vec<Planned> = plan
            .iter()
            .filter(|planned| self.partitions.get(&planned.key) != Some(&planned.position))
            .copied()
            .collect();
        let mut forgotten: Vec<PartitionKey> = self
            .partitions
            .keys()
            .filter(|key| !after.contains_key(key))
            .copied()
            .collect();
        forgotten.sort_by_key(|key| (key.topic_id, key.partition));
        SessionRequest {
            session_id: self.id,
            session_epoch: self.epoch,
            partitions,
            forgotten,
            after,
        }
    }

    /// The leader answered `sent` with `error_code` and `session_id`.
    fn answered(&mut self, sent: &SessionRequest, error_code: ErrorCode, session_id: i32) {
        let full = sent.session_epoch == INITIAL_EPOCH;
        match error_code {
            ErrorCode::None if sent.session_epoch == FINAL_EPOCH => *self = Self::default(),
            ErrorCode::None if full && session_id != 0 => {
                self.id = session_id;
                self.epoch = next_epoch(INITIAL_EPOCH);
                self.partitions.clone_from(&sent.after);
            }
            // No slot at the leader: full fetches until one frees (as Kafka's client).
            ErrorCode::None if full => *self = Self::default(),
            ErrorCode::None if session_id == self.id => {
                self.epoch = next_epoch(self.epoch);
                self.partitions.clone_from(&sent.after);
            }
            ErrorCode::FetchSessionIdNotFound => *self = Self::default(),
            // A wrong epoch or id, or the fetch failed as a whole: close the session and
            // make a new one with the next (full) request.
            _ => self.failed(),
        }
        assert!(self.epoch >= 0, "epoch {}", self.epoch);
    }

    /// The exchange failed: the next request is a full fetch replacing the session.
    fn failed(&mut self) {
        self.epoch = INITIAL_EPOCH;
        self.partitions.clear();
    }
}

/// The epoch after `epoch` (KIP-227: from i32::MAX back to 1).
fn next_epoch(epoch: i32) -> i32 {
    if epoch == i32::MAX || epoch < 0 {
        1
    } else {
        epoch + 1
    }
}

/// Epoch of a full fetch creating a session.
const INITIAL_EPOCH: i32 = 0;
/// Epoch of a full fetch without a session.
const FINAL_EPOCH: i32 = -1;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::cluster::metadata::PartitionState;
    use crate::cluster::{ClusterMetadata, MetadataRecord};
    use crate::protocol::Uuid;
    use crate::protocol::messages::fetch::FetchableTopicResponse;
    use crate::replication::ReplicationSettings;
    use crate::storage::testing::build_batch;
    use crate::storage::{
        AppendRequest, LogConfig, LogPump, LogSpec, ReadArgs, ReadUpto, WantedLogs,
    };
    use std::collections::BTreeMap;
    use std::future::Future;
    use std::path::Path;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::Poll;

    fn planned(partition: i32, fetch_offset: i64) -> Planned {
        Planned {
            key: PartitionKey {
                topic_id: Uuid([3; 16]),
                partition,
            },
            position: FetchPosition {
                fetch_offset,
                last_fetched_epoch: 1,
                current_leader_epoch: 1,
            },
        }
    }

    fn named(request: &SessionRequest) -> Vec<(i32, i64)> {
        let mut named: Vec<_> = request
            .partitions
            .iter()
            .map(|p| (p.key.partition, p.position.fetch_offset))
            .collect();
        named.sort_unstable();
        named
    }

    #[test]
    fn a_session_starts_full_then_names_only_changes() {
        let mut session = ClientSession::default();
        let plan = [planned(0, 10), planned(1, 20)];
        let first = session.next(&plan, false);
        assert_eq!((first.session_id, first.session_epoch), (0, 0));
        assert_eq!(named(&first), vec![(0, 10), (1, 20)]);
        session.answered(&first, ErrorCode::None, 77);
        // Partition 1 moved; partition 0 did not.
        let plan = [planned(0, 10), planned(1, 25)];
        let second = session.next(&plan, false);
        assert_eq!((second.session_id, second.session_epoch), (77, 1));
        assert_eq!(named(&second), vec![(1, 25)]);
        assert!(second.forgotten.is_empty());
        session.answered(&second, ErrorCode::None, 77);
        // Partition 0 no longer followed; partition 2 added.
        let plan = [planned(1, 25), planned(2, 0)];
        let third = session.next(&plan, false);
        assert_eq!(third.session_epoch, 2);
        assert_eq!(named(&third), vec![(2, 0)]);
        assert_eq!(third.forgotten, vec![planned(0, 0).key]);
        session.answered(&third, ErrorCode::None, 77);
        let quiet = session.next(&plan, false);
        assert!(quiet.partitions.is_empty() && quiet.forgotten.is_empty());
        assert_eq!(quiet.session_epoch, 3);
    }

    #[test]
    fn refusals_start_over_with_a_full_fetch() {
        let plan = [planned(0, 10)];
        let mut session = ClientSession::default();
        let first = session.next(&plan, false);
        session.answered(&first, ErrorCode::None, 77);
        let second = session.next(&plan, false);
        session.answered(&second, ErrorCode::FetchSessionIdNotFound, 0);
        let again = session.next(&plan, false);
        assert_eq!((again.session_id, again.session_epoch), (0, 0));
        session.answered(&again, ErrorCode::None, 78);
        let next = session.next(&plan, false);
        session.answered(&next, ErrorCode::InvalidFetchSessionEpoch, 0);
        // Closes 78 and asks for a new one, naming everything.
        let replace = session.next(&plan, false);
        assert_eq!((replace.session_id, replace.session_epoch), (78, 0));
        assert_eq!(named(&replace), vec![(0, 10)]);
        session.failed();
        assert_eq!(session.next(&plan, false).session_epoch, 0);
    }

    #[test]
    fn no_slot_and_sessionless_fetches_stay_full() {
        let plan = [planned(0, 10)];
        let mut session = ClientSession::default();
        let first = session.next(&plan, false);
        session.answered(&first, ErrorCode::None, 0);
        assert_eq!(session.next(&plan, false).session_epoch, 0);
        let sessionless = session.next(&plan, true);
        assert_eq!(sessionless.session_epoch, FINAL_EPOCH);
        assert_eq!(named(&sessionless), vec![(0, 10)]);
        session.answered(&sessionless, ErrorCode::None, 0);
        assert_eq!(session.id, 0);
    }

    #[test]
    fn epochs_wrap_to_one() {
        assert_eq!(next_epoch(0), 1);
        assert_eq!(next_epoch(i32::MAX), 1);
    }

    fn following(leader_id: i32, stream: FetchStream) -> Role {
        Role::Follower(Following {
            replica: FollowerReplica::new(2, (leader_id, 1), 0, 0),
            epochs: crate::replication::LeaderEpochCache::new(),
            retry_at: None,
            stream,
        })
    }

    #[test]
    fn partitions_being_added_go_to_the_moving_stream() {
        let mut state = crate::cluster::metadata::PartitionState {
            replicas: vec![1, 2, 3],
            isr: vec![1, 3],
            adding: vec![2],
            removing: vec![3],
            elr: Vec::new(),
            leader: 1,
            leader_epoch: 1,
            partition_epoch: 1,
        };
        assert_eq!(FetchStream::of(&state, 2), FetchStream::Moving);
        assert_eq!(FetchStream::of(&state, 3), FetchStream::InSync, "removing");
        // The move completed: the replica joined the ISR and left `adding`.
        state.adding.clear();
        assert_eq!(FetchStream::of(&state, 2), FetchStream::InSync);

        let key = |partition| planned(partition, 0).key;
        let mut roles = HashMap::new();
        roles.insert(key(0), following(1, FetchStream::InSync));
        roles.insert(key(1), following(1, FetchStream::Moving));
        roles.insert(key(2), following(5, FetchStream::Moving));
        let now = Instant::now();
        let partitions = |roles: &HashMap<PartitionKey, Role>, leader, stream| {
            followed_in(roles, leader, stream, now).map(|plan| {
                let mut partitions: Vec<i32> = plan.iter().map(|p| p.key.partition).collect();
                partitions.sort_unstable();
                partitions
            })
        };
        assert_eq!(partitions(&roles, 1, FetchStream::InSync), Some(vec![0]));
        assert_eq!(partitions(&roles, 1, FetchStream::Moving), Some(vec![1]));
        assert_eq!(partitions(&roles, 5, FetchStream::Moving), Some(vec![2]));
        assert_eq!(
            partitions(&roles, 5, FetchStream::InSync),
            None,
            "no fetcher needed"
        );
        // Partition 1 completes its move: the moving session forgets it, the in-sync one
        // adds it.
        if let Some(Role::Follower(f)) = roles.get_mut(&key(1)) {
            f.stream = FetchStream::InSync;
        }
        assert_eq!(partitions(&roles, 1, FetchStream::InSync), Some(vec![0, 1]));
        assert_eq!(
            partitions(&roles, 1, FetchStream::Moving),
            None,
            "its fetcher ends"
        );
        let mut session = ClientSession::default();
        let moving_before = [planned(1, 0)];
        let first = session.next(&moving_before, false);
        session.answered(&first, ErrorCode::None, 9);
        let after = session.next(&[], false);
        assert_eq!(after.forgotten, vec![key(1)]);
    }

    /// Polls `future` once from the test's task (it is woken as any future of the task).
    async fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
        std::future::poll_fn(|context| Poll::Ready(Pin::new(&mut *future).poll(context))).await
    }

    /// A snapshot where `key`'s replicas are brokers 1 and 2, led by `leader` in `epoch`.
    fn led_by(key: PartitionKey, leader: i32, epoch: i32) -> Arc<ClusterMetadata> {
        let state = PartitionState {
            leader,
            leader_epoch: epoch,
            partition_epoch: epoch,
            ..PartitionState::placed(vec![1, 2])
        };
        let records = [
            MetadataRecord::TopicCreated {
                topic_id: key.topic_id,
                name: "t".to_owned(),
                partition_count: 1,
                configs: BTreeMap::new(),
            },
            MetadataRecord::Partition {
                topic_id: key.topic_id,
                partition: key.partition,
                state,
            },
        ];
        Arc::new(ClusterMetadata::new_cluster().apply_all(&records).unwrap())
    }

    /// A pump holding `key`'s replicated log in `directory`.
    async fn replicated_log(directory: &Path, key: PartitionKey) -> LogPump {
        let pump = LogPump::spawn(0);
        let spec = LogSpec {
            directory: directory.to_path_buf(),
            config: Some(LogConfig::default()),
            replicated: true,
        };
        pump.reconcile(WantedLogs::from([(key, spec)])).await;
        pump
    }

    /// What a fetch from offset 0 gets of an old leader that wrote 3 records in epoch 0.
    async fn old_leader_answer(directory: &Path, key: PartitionKey) -> FetchResponse {
        let old_leader = replicated_log(directory, key).await;
        let batch = CheckedBatch::new(build_batch(3, 1_000, b"abc").freeze()).unwrap();
        let request = AppendRequest {
            batches: vec![batch],
            leader_epoch: 0,
        };
        let mut appended = old_leader.append_all(vec![(key, request)]).await;
        appended.pop().unwrap().unwrap();
        let read = ReadArgs {
            key,
            offset: 0,
            max_bytes: 1 << 20,
            min_one_batch: true,
            upto: ReadUpto::LogEnd,
        };
        let records = old_leader.read_with(read).await.unwrap().bytes;
        old_leader.shutdown().await;
        let partition = PartitionData {
            partition_index: key.partition,
            high_watermark: 3,
            log_start_offset: 0,
            records: Some(records),
            ..PartitionData::default()
        };
        FetchResponse {
            responses: vec![FetchableTopicResponse {
                topic_id: key.topic_id,
                partitions: vec![partition],
                ..FetchableTopicResponse::default()
            }],
            ..FetchResponse::default()
        }
    }

    /// The scale_out drain stall: a follower made leader read its log end, and while it
    /// recorded its epoch there the fetcher applied one more answer of the old leader, so
    /// epoch-0 batches sat past epoch 1's start; every follower then got DivergingEpoch,
    /// truncated, fetched them again, and never stayed in the ISR.
    #[compio::test]
    async fn a_follower_made_leader_applies_no_more_answers_of_the_old_leader() {
        let directory = tempfile::tempdir().unwrap();
        let key = planned(0, 0).key;
        let answer = old_leader_answer(&directory.path().join("old"), key).await;
        let logs = replicated_log(&directory.path().join("new"), key).await;
        let settings = ReplicationSettings {
            node_id: 2,
            shard_index: 0,
            shard_count: 1,
            replica_lag_time_max: Duration::from_secs(30),
            replication_throttle_bytes_per_sec: 0,
            replication_throttle: Arc::default(),
        };
        let manager = ReplicaManager::new(settings, logs.clone(), led_by(key, 1, 0));
        manager.reconcile(led_by(key, 1, 0)).await;
        let position = match manager.roles.borrow().get(&key) {
            Some(Role::Follower(following)) => following.replica.fetch_position(&following.epochs),
            _ => panic!("broker 2 follows"),
        };
        // Broker 2 is made leader in epoch 1: the reconcile asks the pump for the log end...
        let mut reconcile = Box::pin(manager.reconcile(led_by(key, 2, 1)));
        assert!(poll_once(&mut reconcile).await.is_pending());
        // ...which has answered once a query sent after it is answered; the reconcile then
        // sends the epoch record and waits for it.
        logs.replica_state(key).await.unwrap();
        assert!(poll_once(&mut reconcile).await.is_pending());
        // The old leader's answer to the fetch sent before comes in now.
        manager
            .on_response(&[Planned { key, position }], answer)
            .await;
        reconcile.await;
        let log = logs.replica_state(key).await.unwrap();
        assert_eq!(
            log.log_end_offset, 0,
            "nothing appended past epoch 1's start"
        );
        let last = log
            .epochs
            .last()
            .map(|entry| (entry.epoch, entry.start_offset));
        assert_eq!(last, Some((1, 0)));
        assert!(matches!(
            manager.roles.borrow().get(&key),
            Some(Role::Leader(leading)) if leading.replica.log_end_offset() == 0
        ));
        logs.shutdown().await;
    }

    #[test]
    fn forgotten_topics_group_runs_of_one_topic() {
        let keys = [planned(0, 0).key, planned(3, 0).key];
        let topics = forgotten_topics(&keys);
        assert_eq!(topics.len(), 1);
        assert_eq!(topics[0].partitions, vec![0, 3]);
    }
}
