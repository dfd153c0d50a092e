//! Follower fetchers: per shard, one task per leader broker this shard follows partitions of.
//! It keeps one connection to the leader's CLIENT listener and sends Fetch v16 requests as a
//! follower (ReplicaState: this broker's id and broker epoch) naming every partition of this
//! shard that leader leads (at most `REPLICA_FETCH_PARTITIONS_MAX` per request, in turns). The
//! leader's shards answer from the same shard index, so replication runs shard i → shard i.
//!
//! Per partition of an answer, through the [`FollowerReplica`](super::FollowerReplica) state
//! machine: records are validated (CRC) and appended verbatim (`append_replicated`), so the
//! replicas are byte-identical; a DivergingEpoch truncates the log first (KIP-320); the high
//! watermark and log start follow the leader's. An answer for a partition whose role or
//! position changed meanwhile is dropped; a refusal (not the leader, epoch mismatch) pauses
//! that partition for `REPLICA_FETCH_BACKOFF_MS` until the metadata moves it.
//!
//! Full fetches only: no incremental fetch sessions (KIP-227) yet, so each request names
//! every followed partition.
//!
//! Runs on its manager's shard; every exchange is bounded by a timeout, every loop by the
//! manager's life and the presence of partitions to fetch.
use super::epochs::EpochEndOffset;
use super::manager::{Following, ReplicaManager, Role, epoch_cache};
use super::{FetchAnswer, FetchPosition, FollowerAction, FollowerReplica};
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
    FetchPartition, FetchRequest, FetchResponse, FetchTopic, PartitionData, ReplicaState,
};
use crate::protocol::record_batch::BatchSplitter;
use crate::storage::{CheckedBatch, PartitionKey};
use bytes::{Bytes, BytesMut};
use compio::BufResult;
use compio::io::{AsyncReadExt, AsyncWriteExt};
use compio::net::TcpStream;
use std::collections::BTreeSet;
use std::io;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

/// The Fetch version followers send (v15+ carries ReplicaState; v16 is what our handler
/// answers with KIP-951 hints).
const FETCH_VERSION: i16 = 16;
/// The client id follower fetches carry (in the leader's logs).
const CLIENT_ID: &str = "ringbroker-replica-fetcher";

/// Starts a fetcher for every leader this shard follows and has none for yet.
pub(super) fn ensure_fetchers(manager: &Rc<ReplicaManager>) {
    if manager.stopping.get() {
        return;
    }
    let leaders: BTreeSet<i32> = manager
        .roles
        .borrow()
        .values()
        .filter_map(|role| match role {
            Role::Follower(following) => Some(following.replica.leader_id()),
            Role::Leader(_) => None,
        })
        .filter(|&leader| leader != NO_LEADER)
        .collect();
    for leader_id in leaders {
        if manager
            .fetchers
            .borrow_mut()
            .insert(leader_id, ())
            .is_none()
        {
            compio::runtime::spawn(run(Rc::downgrade(manager), leader_id)).detach();
        }
    }
}

/// One partition of a request, as sent.
#[derive(Debug, Clone, Copy)]
struct Planned {
    key: PartitionKey,
    position: FetchPosition,
}

/// One fetcher: fetches from `leader_id` until this shard follows nothing there.
async fn run(manager: Weak<ReplicaManager>, leader_id: i32) {
    let mut connection: Option<(String, TcpStream)> = None;
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
            manager.fetch_plan(leader_id, &mut turn)
        };
        let Some(plan) = plan else {
            manager.fetchers.borrow_mut().remove(&leader_id);
            break;
        };
        let address = manager.broker_address(leader_id);
        let (Some(address), false) = (address, plan.is_empty()) else {
            drop(manager);
            backoff().await;
            continue;
        };
        correlation_id = correlation_id.wrapping_add(1);
        let request = manager.fetch_request(&plan);
        match exchange(&mut connection, &address, &request, correlation_id).await {
            Ok(response) => manager.on_response(&plan, response).await,
            Err(error) => {
                tracing::debug!(leader_id, %address, %error, "follower fetch failed");
                connection = None;
                drop(manager);
                backoff().await;
            }
        }
    }
}

async fn backoff() {
    compio::time::sleep(Duration::from_millis(REPLICA_FETCH_BACKOFF_MS)).await;
}

/// Sends `request` and reads its answer, on the open connection or a new one, all bounded.
async fn exchange(
    connection: &mut Option<(String, TcpStream)>,
    address: &str,
    request: &FetchRequest,
    correlation_id: i32,
) -> io::Result<FetchResponse> {
    if connection
        .as_ref()
        .is_none_or(|(connected, _)| connected != address)
    {
        let connect = TcpStream::connect(address);
        let timeout = Duration::from_millis(REPLICA_FETCH_CONNECT_TIMEOUT_MS);
        let stream = compio::time::timeout(timeout, connect)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        let _ = stream.set_nodelay(true);
        *connection = Some((address.to_owned(), stream));
    }
    let Some((_, stream)) = connection.as_mut() else {
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
        let BufResult(result, _) = stream.write_all(frame).await;
        result?;
        read_frame(stream).await
    })
    .await
    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer in time"))??;
    decode_response::<FetchResponse>(payload, FETCH_VERSION, correlation_id)
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))
}

/// One response frame's payload; its size is checked before the buffer exists.
async fn read_frame(stream: &mut TcpStream) -> io::Result<Bytes> {
    let BufResult(result, prefix) = stream.read_exact([0u8; 4]).await;
    result?;
    // A response is at most the request's max bytes plus its headers.
    let size_max = FETCH_RESPONSE_SIZE_MAX + (1 << 20);
    let size = peek_size(&prefix, size_max)
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?
        .unwrap_or(0);
    let BufResult(result, body) = stream.read_exact(Vec::with_capacity(size)).await;
    result?;
    Ok(Bytes::from(body))
}

/// The DivergingEpoch of an answer, when the leader set one.
fn diverging(data: &PartitionData) -> Option<EpochEndOffset> {
    let epoch = &data.diverging_epoch;
    (epoch.epoch >= 0 || epoch.end_offset >= 0).then_some(EpochEndOffset {
        epoch: epoch.epoch,
        end_offset: epoch.end_offset,
    })
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

impl ReplicaManager {
    /// What to fetch from `leader_id` now: `None` when this shard follows nothing there,
    /// empty when every such partition waits out a refusal.
    fn fetch_plan(&self, leader_id: i32, turn: &mut usize) -> Option<Vec<Planned>> {
        let now = Instant::now();
        let roles = self.roles.borrow();
        let mut followed: Vec<Planned> = roles
            .iter()
            .filter_map(|(key, role)| match role {
                Role::Follower(following) if following.replica.leader_id() == leader_id => {
                    Some((key, following))
                }
                _ => None,
            })
            .filter(|(_, following)| following.retry_at.is_none_or(|at| at <= now))
            .map(|(key, following)| Planned {
                key: *key,
                position: following.replica.fetch_position(&following.epochs),
            })
            .collect();
        let any = roles.values().any(|role| {
            matches!(role, Role::Follower(following) if following.replica.leader_id() == leader_id)
        });
        if !any {
            return None;
        }
        if followed.len() > REPLICA_FETCH_PARTITIONS_MAX {
            followed.sort_by_key(|planned| (planned.key.topic_id, planned.key.partition));
            let start = *turn % followed.len();
            followed.rotate_left(start);
            followed.truncate(REPLICA_FETCH_PARTITIONS_MAX);
            *turn = turn.wrapping_add(REPLICA_FETCH_PARTITIONS_MAX);
        }
        Some(followed)
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

    fn fetch_request(&self, plan: &[Planned]) -> FetchRequest {
        let node_id = self.settings.node_id;
        let broker_epoch = self
            .metadata
            .borrow()
            .broker(node_id)
            .map_or(-1, |broker| broker.broker_epoch);
        let mut topics: Vec<FetchTopic> = Vec::new();
        for planned in plan {
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
            max_bytes: REPLICA_FETCH_RESPONSE_BYTES,
            isolation_level: 0,
            session_id: 0,
            session_epoch: -1,
            topics,
            ..FetchRequest::default()
        }
    }

    async fn on_response(&self, plan: &[Planned], response: FetchResponse) {
        if response.error_code != ErrorCode::None {
            tracing::debug!(code = ?response.error_code, "follower fetch refused");
            for planned in plan {
                self.pause(planned.key);
            }
            return;
        }
        for topic in response.responses {
            for data in topic.partitions {
                let key = PartitionKey {
                    topic_id: topic.topic_id,
                    partition: data.partition_index,
                };
                let Some(planned) = plan.iter().find(|planned| planned.key == key) else {
                    continue;
                };
                self.on_partition(*planned, data).await;
            }
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

    async fn on_answer(&self, planned: Planned, data: PartitionData) {
        let key = planned.key;
        let answer = FetchAnswer {
            leader_epoch: planned.position.current_leader_epoch,
            high_watermark: data.high_watermark,
            diverging_epoch: diverging(&data),
            caught_up: false,
        };
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
                let batches = match checked_batches(data.records) {
                    Ok(batches) => batches,
                    Err(reason) => {
                        tracing::warn!(?key, reason, "leader sent a bad batch");
                        self.pause(key);
                        return;
                    }
                };
                if !batches.is_empty() {
                    self.append_fetched(key, batches).await;
                }
                self.follow_offsets(key, data.log_start_offset).await;
            }
        }
    }

    async fn append_fetched(&self, key: PartitionKey, batches: Vec<CheckedBatch>) {
        if let Err(error) = self.logs.append_replicated(key, batches).await {
            tracing::warn!(?key, %error, "follower append failed");
            self.pause(key);
            return;
        }
        self.refresh_follower(key).await;
    }

    /// The follower's log end, epochs and HW from its log (after an append or truncation).
    async fn refresh_follower(&self, key: PartitionKey) {
        let Ok(log) = self.logs.replica_state(key).await else {
            self.pause(key);
            return;
        };
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

    /// Storage's HW and log start follow the follower's and the leader's.
    async fn follow_offsets(&self, key: PartitionKey, leader_log_start: i64) {
        let high_watermark = match self.roles.borrow().get(&key) {
            Some(Role::Follower(following)) => following.replica.high_watermark(),
            _ => return,
        };
        if let Err(error) = self.logs.set_high_watermark(key, high_watermark).await {
            tracing::debug!(?key, %error, "follower HW not stored");
        }
        if leader_log_start > 0
            && let Err(error) = self.logs.advance_log_start(key, leader_log_start).await
        {
            tracing::debug!(?key, %error, "follower log start not moved");
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
                };
            }
        } else if data.high_watermark >= 0 && data.high_watermark < fetch_offset {
            self.truncate(key, data.high_watermark).await;
        } else {
            self.pause(key);
        }
    }
}
