//! The replica manager: one per shard, it runs the sans-IO replica state machines
//! ([`LeaderReplica`], [`FollowerReplica`]) of the replicated partitions the shard hosts, and
//! does their I/O through the shard's log pump.
//!
//! - Roles follow the committed metadata ([`ReplicaManager::reconcile`], on every installed
//!   snapshot): a partition with more than one replica whose leader is this broker gets a
//!   `LeaderReplica` (its epoch recorded at its log end, as Kafka's makeLeader); one led
//!   elsewhere gets a `FollowerReplica`, fetched by the shard's fetcher for that leader and
//!   its [`FetchStream`] (`Moving` while this broker is one of the partition's adding replicas;
//!   `fetcher.rs`). A partition with one replica has no role here: its log's high watermark
//!   follows its log end, as on a single node.
//! - Produce ([`ReplicaManager::append`]): acks=all is refused before the append when the ISR
//!   is below `min.insync.replicas`; after it, the leader learns its new log end and the
//!   request waits for the high watermark (or its timeout, or the loss of leadership).
//! - Follower fetches reaching this leader ([`ReplicaManager::follower_fetch`]) move the
//!   follower's offset, the high watermark and the ISR proposals.
//! - Effects: a new high watermark goes to storage through one task per shard (so two
//!   updates never reach the pump out of order); an ISR proposal goes to the controller
//!   (AlterPartition) through the proposer the broker installs; acks=all answers go to the
//!   waiting produce requests.
//!
//! Runs on its own shard; `!Send`. No `RefCell` borrow is held across an `.await`.
use super::epochs::{EpochEntry, LeaderEpochCache};
use super::link::Dialer;
use super::throttle::ReplicationThrottle;
use super::{
    AckAnswer, AckOutcome, AckRegistration, FetchAnswer, FetchError, FollowerFetch,
    FollowerReplica, IsrProposal, LeaderEffects, LeaderReplica, ReplicaConfig,
};
use crate::cluster::ClusterMetadata;
use crate::cluster::configs::{effective, topic_config};
use crate::cluster::metadata::{NO_LEADER, PartitionState};
use crate::limits::{ACK_WAITERS_PER_PARTITION_MAX, ISR_PROPOSAL_BACKOFF_MS, REPLICA_TICK_MS};
use crate::protocol::ErrorCode;
use crate::shard::placement::shard_for;
use crate::storage::{AppendInfo, AppendRequest, LogPump, PartitionKey, StorageError};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a shard's replication needs from the broker's configuration.
#[derive(Debug, Clone)]
pub struct ReplicationSettings {
    pub node_id: i32,
    pub shard_index: usize,
    pub shard_count: usize,
    /// `replica.lag.time.max.ms`.
    pub replica_lag_time_max: Duration,
    pub replication_throttle_bytes_per_sec: u64, // 0 = off; fetcher.rs's throttle
    /// The broker's one replication throttle, the same for every shard (`throttle.rs`).
    pub replication_throttle: Arc<ReplicationThrottle>,
}

/// An ISR change to send to the controller (AlterPartition), with what it is based on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsrChange {
    pub key: PartitionKey,
    pub leader_id: i32,
    pub proposal: IsrProposal,
}

/// Sends an ISR change to the controller; resolves to the refusal's code, if refused.
pub type Proposer = Rc<dyn Fn(IsrChange) -> Pin<Box<dyn Future<Output = Option<ErrorCode>>>>>;

/// Why an append on a replicated partition failed, as the Produce response says it.
#[derive(Debug)]
pub enum AppendFailure {
    Storage(StorageError),
    Code(ErrorCode),
}

/// A replicated partition's role on this broker.
#[derive(Debug)]
pub(super) enum Role {
    Leader(Leading),
    Follower(Following),
}

#[derive(Debug)]
pub(super) struct Leading {
    pub(super) replica: LeaderReplica,
    /// The leader's leader-epoch cache, its own epoch included (DivergingEpoch answers).
    pub(super) epochs: LeaderEpochCache,
}

#[derive(Debug)]
pub(super) struct Following {
    pub(super) replica: FollowerReplica,
    pub(super) epochs: LeaderEpochCache,
    /// Not fetched before this instant (the leader refused it; metadata may move it).
    pub(super) retry_at: Option<Instant>,
    /// Which of the leader's fetch streams fetches it: `Moving` while this broker is one of
    /// the partition's adding replicas (a reassignment copying it here), else `InSync`.
    pub(super) stream: FetchStream,
}

/// A follower fetch stream: each (leader, stream) has its own fetcher task, connection and
/// fetch session, so the throttle of moving data (`follower.replication.throttled.rate`)
/// waits only the `Moving` one and in-sync followers keep fetching at full speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FetchStream {
    InSync,
    Moving,
}

impl FetchStream {
    /// The stream `node_id` fetches `state`'s partition in: `Moving` while it is being added.
    #[must_use]
    pub fn of(state: &PartitionState, node_id: i32) -> Self {
        if state.adding.contains(&node_id) {
            Self::Moving
        } else {
            Self::InSync
        }
    }
}

/// One shard's replication figures (metrics; Kafka's ReplicaManager gauges and meters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplicationStats {
    /// Partitions this shard leads / follows.
    pub leaders: u64,
    pub followers: u64,
    /// Led partitions whose ISR is smaller than their replica set.
    pub under_replicated: u64,
    /// Led partitions whose ISR is below `min.insync.replicas` (acks=all refused).
    pub under_min_isr: u64,
    /// Committed ISR shrinks and expands of led partitions since start.
    pub isr_shrinks: u64,
    pub isr_expands: u64,
    /// The largest number of records a follower is behind its leader here (a follower that
    /// has not fetched since the leader took over counts as the whole log).
    pub follower_lag_max: i64,
}

/// The counters behind [`ReplicationStats`].
#[derive(Debug, Default)]
struct Counters {
    isr_shrinks: Cell<u64>,
    isr_expands: Cell<u64>,
}

/// One shard's replicas.
pub struct ReplicaManager {
    pub(super) settings: ReplicationSettings,
    pub(super) logs: LogPump,
    origin: Instant,
    pub(super) roles: RefCell<HashMap<PartitionKey, Role>>,
    /// The snapshot the roles follow.
    pub(super) metadata: RefCell<Arc<ClusterMetadata>>,
    /// acks=all requests waiting, by partition and ticket.
    acks: RefCell<HashMap<(PartitionKey, u64), flume::Sender<AckOutcome>>>,
    /// High watermarks to hand to storage (the latest per partition), and the flusher's bell.
    high_watermarks: RefCell<HashMap<PartitionKey, i64>>,
    bell: flume::Sender<()>,
    bell_inbox: RefCell<Option<flume::Receiver<()>>>,
    proposer: RefCell<Option<Proposer>>,
    /// How fetchers reach leaders (TLS, SASL); plain TCP while none is installed.
    pub(super) dialer: RefCell<Option<Dialer>>,
    /// The (leader, stream) pairs whose fetcher task runs on this shard.
    pub(super) fetchers: RefCell<BTreeMap<(i32, FetchStream), ()>>,
    /// One reconcile at a time (they await the log pump): a bounded(1) channel as a lock.
    reconciling: (flume::Sender<()>, flume::Receiver<()>),
    pub(super) stopping: Cell<bool>,
    stats: Counters,
    this: RefCell<Weak<ReplicaManager>>,
}

impl std::fmt::Debug for ReplicaManager {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ReplicaManager")
            .field("shard", &self.settings.shard_index)
            .field("replicas", &self.roles.borrow().len())
            .finish_non_exhaustive()
    }
}

impl ReplicaManager {
    #[must_use]
    pub fn new(
        settings: ReplicationSettings,
        logs: LogPump,
        metadata: Arc<ClusterMetadata>,
    ) -> Rc<Self> {
        let (bell, bell_inbox) = flume::bounded(1);
        let manager = Rc::new(Self {
            settings,
            logs,
            origin: Instant::now(),
            roles: RefCell::default(),
            metadata: RefCell::new(metadata),
            acks: RefCell::default(),
            high_watermarks: RefCell::default(),
            bell,
            bell_inbox: RefCell::new(Some(bell_inbox)),
            proposer: RefCell::new(None),
            dialer: RefCell::new(None),
            fetchers: RefCell::default(),
            reconciling: flume::bounded(1),
            stopping: Cell::new(false),
            stats: Counters::default(),
            this: RefCell::new(Weak::new()),
        });
        *manager.this.borrow_mut() = Rc::downgrade(&manager);
        manager
    }

    /// Installs how this shard's fetchers connect to leaders (the inter-broker listener's TLS
    /// and SASL); before any fetcher starts.
    pub fn set_dialer(&self, dialer: Dialer) {
        *self.dialer.borrow_mut() = Some(dialer);
    }

    /// Starts the shard's replication tasks (the tick and the high-watermark flusher) and
    /// installs how ISR changes reach the controller. Called once the shard runs.
    pub fn start(self: &Rc<Self>, proposer: Proposer) {
        *self.proposer.borrow_mut() = Some(proposer);
        if let Some(inbox) = self.bell_inbox.borrow_mut().take() {
            compio::runtime::spawn(flush_high_watermarks(Rc::downgrade(self), inbox)).detach();
        }
        compio::runtime::spawn(tick(Rc::downgrade(self))).detach();
        super::fetcher::ensure_fetchers(self);
    }

    /// Stops the tasks: fetchers end at their next turn, waiters are answered.
    pub fn stop(&self) {
        self.stopping.set(true);
        let keys: Vec<PartitionKey> = self.roles.borrow().keys().copied().collect();
        for key in keys {
            self.resign(key);
        }
    }

    pub(super) fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    pub(super) fn rc(&self) -> Option<Rc<Self>> {
        self.this.borrow().upgrade()
    }

    /// Whether this shard runs a role for `key` (a replicated partition hosted here).
    #[must_use]
    pub fn is_replicated(&self, key: PartitionKey) -> bool {
        self.roles.borrow().contains_key(&key)
    }

    /// The high watermark of a partition this broker leads, as its leader computes it.
    #[must_use]
    pub fn leader_high_watermark(&self, key: PartitionKey) -> Option<i64> {
        match self.roles.borrow().get(&key) {
            Some(Role::Leader(leading)) => Some(leading.replica.high_watermark()),
            _ => None,
        }
    }

    /// Whether a new leader of `key` has not yet committed up to the start of its epoch: its
    /// high watermark is still catching up, so it answers offset lookups OFFSET_NOT_AVAILABLE
    /// (Kafka's rule) rather than an offset below what an earlier leader already exposed.
    #[must_use]
    pub fn offsets_pending(&self, key: PartitionKey) -> bool {
        match self.roles.borrow().get(&key) {
            Some(Role::Leader(leading)) => {
                leading.replica.high_watermark() < leading.replica.leader_epoch_start_offset()
            }
            _ => false,
        }
    }

    /// Brings the roles in line with `metadata` (a newer snapshot; older ones are ignored).
    pub async fn reconcile(&self, metadata: Arc<ClusterMetadata>) {
        // The lock: a second reconcile waits here until the first is done.
        if self.reconciling.0.send_async(()).await.is_err() {
            return;
        }
        // Released on drop, so a reconcile whose caller is cancelled midway (an install
        // running inline in a handler whose connection closed) does not keep every later
        // snapshot waiting forever.
        let _locked = Unlock(&self.reconciling.1);
        self.reconcile_locked(metadata).await;
    }

    async fn reconcile_locked(&self, metadata: Arc<ClusterMetadata>) {
        if metadata.version < self.metadata.borrow().version {
            return;
        }
        *self.metadata.borrow_mut() = Arc::clone(&metadata);
        let wanted = self.wanted(&metadata);
        let gone: Vec<PartitionKey> = self
            .roles
            .borrow()
            .keys()
            .filter(|key| !wanted.contains_key(key))
            .copied()
            .collect();
        for key in gone {
            self.resign(key);
            self.roles.borrow_mut().remove(&key);
        }
        for (key, (state, min_insync_replicas)) in wanted {
            self.reconcile_partition(key, &state, min_insync_replicas)
                .await;
        }
        if let Some(manager) = self.rc() {
            super::fetcher::ensure_fetchers(&manager);
        }
    }

    /// The replicated partitions this shard hosts, with their state and min ISR.
    fn wanted(&self, metadata: &ClusterMetadata) -> HashMap<PartitionKey, (PartitionState, usize)> {
        let ReplicationSettings {
            node_id,
            shard_index,
            shard_count,
            ..
        } = self.settings;
        let mut wanted = HashMap::new();
        let min_isr_def = topic_config("min.insync.replicas");
        for topic in metadata.topics.values() {
            let min_insync_replicas = min_isr_def
                .map(|def| effective(def, &topic.configs, &metadata.broker_configs).value)
                .and_then(|value| value.parse::<usize>().ok())
                .unwrap_or(1)
                .max(1);
            for (partition, state) in metadata
                .recorded_partitions(topic.topic_id)
                .iter()
                .enumerate()
            {
                let Ok(partition) = i32::try_from(partition) else {
                    break;
                };
                let hosted = state.replicas.len() > 1 && state.replicas.contains(&node_id);
                if !hosted || shard_for(topic.topic_id, partition, shard_count) != shard_index {
                    continue;
                }
                let key = PartitionKey {
                    topic_id: topic.topic_id,
                    partition,
                };
                wanted.insert(key, (state.clone(), min_insync_replicas));
            }
        }
        wanted
    }

    async fn reconcile_partition(
        &self,
        key: PartitionKey,
        state: &PartitionState,
        min_insync_replicas: usize,
    ) {
        let node_id = self.settings.node_id;
        let now = self.now();
        // A leader named again in a newer epoch (a reassignment dropped a replica) stays the
        // leader: Kafka's makeLeader keeps serving and starts the epoch at its log end.
        let same_leader = matches!(
            self.roles.borrow().get(&key),
            Some(Role::Leader(leading)) if leading.replica.leader_epoch() <= state.leader_epoch
                && !leading.replica.is_fenced()
        );
        if state.leader == node_id && same_leader {
            self.reconcile_leading(key, state, now).await;
            return;
        }
        if state.leader == node_id {
            self.resign(key);
            self.become_leader(key, state, min_insync_replicas).await;
            return;
        }
        let following = match self.roles.borrow_mut().get_mut(&key) {
            Some(Role::Follower(following)) => {
                following.replica.follow(state.leader, state.leader_epoch);
                following.retry_at = None;
                following.stream = FetchStream::of(state, node_id);
                true
            }
            _ => false,
        };
        if !following {
            self.resign(key);
            self.become_follower(key, state).await;
        }
    }

    /// Applies `state` to the leader `key` already has; a new leader epoch is recorded in its
    /// epoch cache and in the log's, at the log end where it starts.
    async fn reconcile_leading(&self, key: PartitionKey, state: &PartitionState, now: Duration) {
        let (effects, before, started) = match self.roles.borrow_mut().get_mut(&key) {
            Some(Role::Leader(leading)) => {
                let before = leading.replica.isr().to_vec();
                let epoch = leading.replica.leader_epoch();
                let effects = leading.replica.apply_committed(state, now);
                let start = leading.replica.leader_epoch_start_offset();
                let started = (leading.replica.leader_epoch() > epoch).then(|| {
                    leading.epochs.assign(state.leader_epoch, start);
                    start
                });
                (effects, before, started)
            }
            _ => (LeaderEffects::default(), state.isr.clone(), None),
        };
        self.count_isr_change(&before, &state.isr);
        self.handle_effects(key, effects);
        if let Some(start) = started {
            tracing::info!(
                ?key,
                leader_epoch = state.leader_epoch,
                start,
                "new leader epoch"
            );
            if let Err(error) = self.logs.assign_epoch(key, state.leader_epoch, start).await {
                tracing::warn!(?key, %error, "cannot record the new leader epoch");
            }
        }
    }

    async fn become_leader(&self, key: PartitionKey, state: &PartitionState, min_isr: usize) {
        // The old role goes before the first await, as Kafka's makeLeaders removes the
        // partition's fetcher first: a follower role left in place while the log end is read
        // and the new epoch recorded let the fetcher take one more answer of the old leader and
        // append it after the epoch's start (old-epoch batches past it: every follower then
        // fetched DivergingEpoch, truncated and fetched them again, and the ISR never held).
        // Until the leader role is in, appends are refused as for a role not set up yet, and
        // what the fetcher had already sent reaches the pump before the log end is read.
        self.roles.borrow_mut().remove(&key);
        let log = match self.logs.replica_state(key).await {
            Ok(log) => log,
            Err(error) => {
                tracing::warn!(?key, %error, "cannot lead: the log is not readable");
                return;
            }
        };
        let leo = log.log_end_offset;
        if let Err(error) = self.logs.assign_epoch(key, state.leader_epoch, leo).await {
            tracing::warn!(?key, %error, "cannot record the new leader epoch");
        }
        let mut epochs = epoch_cache(&log.epochs);
        epochs.assign(state.leader_epoch, leo);
        let config = ReplicaConfig {
            replica_id: self.settings.node_id,
            min_insync_replicas: min_isr,
            replica_lag_time_max: self.settings.replica_lag_time_max,
            ack_waiters_max: ACK_WAITERS_PER_PARTITION_MAX,
        };
        let high_watermark = log.high_watermark.clamp(0, leo);
        let replica = LeaderReplica::new(config, state, leo, high_watermark, self.now());
        tracing::info!(
            ?key,
            leader_epoch = state.leader_epoch,
            log_end_offset = leo,
            high_watermark,
            "leading"
        );
        let leading = Leading { replica, epochs };
        self.roles.borrow_mut().insert(key, Role::Leader(leading));
        // A follower that is already caught up lets the HW move at its next fetch; an ISR of
        // one (or a min ISR of one) may move it now.
        let effects = match self.roles.borrow_mut().get_mut(&key) {
            Some(Role::Leader(leading)) => leading.replica.append(leo),
            _ => LeaderEffects::default(),
        };
        self.handle_effects(key, effects);
    }

    async fn become_follower(&self, key: PartitionKey, state: &PartitionState) {
        let log = match self.logs.replica_state(key).await {
            Ok(log) => log,
            Err(error) => {
                tracing::warn!(?key, %error, "cannot follow: the log is not readable");
                self.roles.borrow_mut().remove(&key);
                return;
            }
        };
        let leo = log.log_end_offset;
        let high_watermark = log.high_watermark.clamp(0, leo);
        let leader = (state.leader, state.leader_epoch);
        let replica = FollowerReplica::new(self.settings.node_id, leader, leo, high_watermark);
        let following = Following {
            replica,
            epochs: epoch_cache(&log.epochs),
            retry_at: None,
            stream: FetchStream::of(state, self.settings.node_id),
        };
        self.roles
            .borrow_mut()
            .insert(key, Role::Follower(following));
    }

    /// Ends leadership of `key` if this broker leads it: waiters are answered
    /// NOT_LEADER_OR_FOLLOWER.
    fn resign(&self, key: PartitionKey) {
        let effects = match self.roles.borrow_mut().get_mut(&key) {
            Some(Role::Leader(leading)) => leading.replica.resign(),
            _ => return,
        };
        self.handle_effects(key, effects);
    }

    /// Appends produce requests on this (owning) shard. Partitions without a role here take
    /// the single-node path (HW = log end); replicated ones are refused unless this broker
    /// leads them, and with acks=all wait for the high watermark until `timeout`.
    pub async fn append(
        &self,
        appends: Vec<(PartitionKey, AppendRequest)>,
        acks: i16,
        timeout: Duration,
    ) -> Vec<Result<AppendInfo, AppendFailure>> {
        let deadline = self.now() + timeout;
        let mut results: Vec<Option<Result<AppendInfo, AppendFailure>>> = Vec::new();
        let mut allowed = Vec::with_capacity(appends.len());
        for (key, mut request) in appends {
            match self.check_append(key, acks) {
                Ok(leader_epoch) => {
                    // The leader's own epoch, whoever built the request (the group
                    // coordinator does not know it).
                    request.leader_epoch = leader_epoch.unwrap_or(request.leader_epoch);
                    allowed.push((results.len(), key, request));
                    results.push(None);
                }
                Err(code) => results.push(Some(Err(AppendFailure::Code(code)))),
            }
        }
        let (positions, requests): (Vec<(usize, PartitionKey)>, Vec<_>) = allowed
            .into_iter()
            .map(|(position, key, request)| ((position, key), (key, request)))
            .unzip();
        let appended = self.logs.append_all(requests).await;
        let mut waits = Vec::new();
        for ((position, key), result) in positions.into_iter().zip(appended) {
            let outcome = match result {
                Err(error) => Err(AppendFailure::Storage(error)),
                Ok(info) => match self.appended(key, &info, acks, deadline) {
                    Ok(Some(wait)) => {
                        waits.push((position, info, wait));
                        continue;
                    }
                    Ok(None) => Ok(info),
                    Err(code) => Err(AppendFailure::Code(code)),
                },
            };
            if let Some(slot) = results.get_mut(position) {
                *slot = Some(outcome);
            }
        }
        for (position, info, wait) in waits {
            let outcome = wait_ack(&wait, timeout).await;
            let answer = match outcome.error_code() {
                ErrorCode::None => Ok(info),
                code => Err(AppendFailure::Code(code)),
            };
            if let Some(slot) = results.get_mut(position) {
                *slot = Some(answer);
            }
        }
        results
            .into_iter()
            .map(|result| result.unwrap_or(Err(AppendFailure::Code(ErrorCode::UnknownServerError))))
            .collect()
    }

    /// Whether `key` may append now; `Some(leader epoch)` for a replicated partition.
    fn check_append(&self, key: PartitionKey, acks: i16) -> Result<Option<i32>, ErrorCode> {
        match self.roles.borrow().get(&key) {
            None if self.role_pending(key) => Err(ErrorCode::NotLeaderOrFollower),
            None => Ok(None),
            Some(Role::Follower(_)) => Err(ErrorCode::NotLeaderOrFollower),
            Some(Role::Leader(leading)) if leading.replica.is_fenced() => {
                Err(ErrorCode::NotLeaderOrFollower)
            }
            Some(Role::Leader(leading)) => {
                if acks == -1 {
                    leading
                        .replica
                        .check_append_acks_all()
                        .map_err(|error| error.error_code(false))?;
                }
                Ok(Some(leading.replica.leader_epoch()))
            }
        }
    }

    fn role_pending(&self, key: PartitionKey) -> bool {
        role_pending(&self.metadata.borrow(), key)
    }

    /// After a successful append: the leader's new log end, and for acks=all the waiter.
    fn appended(
        &self,
        key: PartitionKey,
        info: &AppendInfo,
        acks: i16,
        deadline: Duration,
    ) -> Result<Option<flume::Receiver<AckOutcome>>, ErrorCode> {
        let mut roles = self.roles.borrow_mut();
        let leading = match roles.get_mut(&key) {
            None => return Ok(None),
            Some(Role::Leader(leading)) => leading,
            Some(Role::Follower(_)) => return Err(ErrorCode::NotLeaderOrFollower),
        };
        let log_end_offset = (info.last_offset + 1).max(leading.replica.log_end_offset());
        let effects = leading.replica.append(log_end_offset);
        let registration = if acks == -1 {
            Some(leading.replica.register_ack(info.last_offset, deadline))
        } else {
            None
        };
        drop(roles);
        self.handle_effects(key, effects);
        match registration {
            None | Some(Ok(AckRegistration::Done)) => Ok(None),
            Some(Err(error)) => Err(error.error_code(true)),
            Some(Ok(AckRegistration::Parked(ticket))) => {
                let (sender, receiver) = flume::bounded(1);
                self.acks.borrow_mut().insert((key, ticket.0), sender);
                Ok(Some(receiver))
            }
        }
    }

    /// A follower's fetch of `key`, which this broker must lead: moves the follower's offset
    /// and the HW. `log_end_offset` is the leader's log end now (the caller read it from the
    /// pump, so it covers every append a follower can have seen).
    ///
    /// # Errors
    /// The partition's error code (not the leader, epochs, unknown replica, offset range).
    pub fn follower_fetch(
        &self,
        key: PartitionKey,
        fetch: &FollowerFetch,
        log_end_offset: i64,
    ) -> Result<FetchAnswer, FetchError> {
        let now = self.now();
        let mut roles = self.roles.borrow_mut();
        let Some(Role::Leader(leading)) = roles.get_mut(&key) else {
            return Err(FetchError::NotLeader);
        };
        let mut effects = LeaderEffects::default();
        if log_end_offset > leading.replica.log_end_offset() {
            effects = leading.replica.append(log_end_offset);
        }
        let (answer, more) = leading
            .replica
            .follower_fetch(fetch, &leading.epochs, now)?;
        drop(roles);
        self.handle_effects(key, effects);
        self.handle_effects(key, more);
        Ok(answer)
    }

    /// Acts on what a state machine asked for.
    pub(super) fn handle_effects(&self, key: PartitionKey, effects: LeaderEffects) {
        let LeaderEffects {
            acks,
            proposal,
            high_watermark,
        } = effects;
        if let Some(high_watermark) = high_watermark {
            self.high_watermarks
                .borrow_mut()
                .insert(key, high_watermark);
            let _ = self.bell.try_send(());
        }
        for answer in acks {
            self.answer_ack(key, answer);
        }
        if let Some(proposal) = proposal {
            self.propose(key, proposal);
        }
    }

    fn answer_ack(&self, key: PartitionKey, answer: AckAnswer) {
        if let Some(sender) = self.acks.borrow_mut().remove(&(key, answer.ticket.0)) {
            let _ = sender.try_send(answer.outcome);
        }
    }

    /// Sends an ISR change to the controller on its own task; a refusal lets the leader
    /// propose again at a later tick.
    fn propose(&self, key: PartitionKey, proposal: IsrProposal) {
        let Some(proposer) = self.proposer.borrow().clone() else {
            self.proposal_failed(key, &proposal);
            return;
        };
        let change = IsrChange {
            key,
            leader_id: self.settings.node_id,
            proposal: proposal.clone(),
        };
        let manager = self.this.borrow().clone();
        compio::runtime::spawn(async move {
            let Some(code) = proposer(change).await else {
                return;
            };
            tracing::info!(?key, ?code, ?proposal, "ISR change refused");
            if awaits_newer_metadata(code) {
                // The controller holds a newer partition or leader epoch than this leader —
                // perhaps because an earlier copy of this very change committed (a retry after
                // an ambiguous answer). Dropping the proposal now could let the HW pass a
                // member the committed ISR already has; the newer metadata is on its way and
                // clears the proposal when applied (Kafka's AlterPartition error handling).
                return;
            }
            // The proposal stays in flight for a while (the HW keeps waiting for its members,
            // the safe side) so a refused change — a follower that fetches before the
            // controller unfenced it — is not proposed again at every fetch.
            compio::time::sleep(Duration::from_millis(ISR_PROPOSAL_BACKOFF_MS)).await;
            if let Some(manager) = manager.upgrade() {
                manager.proposal_failed(key, &proposal);
            }
        })
        .detach();
    }

    fn proposal_failed(&self, key: PartitionKey, proposal: &IsrProposal) {
        if let Some(Role::Leader(leading)) = self.roles.borrow_mut().get_mut(&key)
            && leading.replica.proposal() == Some(proposal)
        {
            leading.replica.proposal_failed();
        }
    }

    /// Every leader's tick: waiters past their deadline, followers that fell behind.
    fn tick_leaders(&self) {
        let now = self.now();
        let mut all = Vec::new();
        for (key, role) in self.roles.borrow_mut().iter_mut() {
            if let Role::Leader(leading) = role {
                all.push((*key, leading.replica.tick(now)));
            }
        }
        for (key, effects) in all {
            self.handle_effects(key, effects);
        }
    }

    /// The latest high watermarks to hand to storage, taken.
    fn take_high_watermarks(&self) -> HashMap<PartitionKey, i64> {
        std::mem::take(&mut *self.high_watermarks.borrow_mut())
    }

    /// Counts a committed ISR change of a partition this broker leads (Kafka's leader-side
    /// IsrShrinksPerSec / IsrExpandsPerSec).
    fn count_isr_change(&self, before: &[i32], after: &[i32]) {
        if before.iter().any(|member| !after.contains(member)) {
            self.stats.isr_shrinks.set(self.stats.isr_shrinks.get() + 1);
        }
        if after.iter().any(|member| !before.contains(member)) {
            self.stats.isr_expands.set(self.stats.isr_expands.get() + 1);
        }
    }

    /// This shard's replication figures, for metrics.
    #[must_use]
    pub fn stats(&self) -> ReplicationStats {
        let mut stats = ReplicationStats {
            isr_shrinks: self.stats.isr_shrinks.get(),
            isr_expands: self.stats.isr_expands.get(),
            ..ReplicationStats::default()
        };
        for role in self.roles.borrow().values() {
            match role {
                Role::Follower(_) => stats.followers += 1,
                Role::Leader(leading) => {
                    let replica = &leading.replica;
                    stats.leaders += 1;
                    let isr = replica.isr().len();
                    stats.under_replicated += u64::from(isr < replica.replicas().len());
                    stats.under_min_isr += u64::from(isr < replica.config().min_insync_replicas);
                    let leo = replica.log_end_offset();
                    for &id in replica.replicas() {
                        let lag = replica
                            .replica_log_end_offset(id)
                            .map_or(leo, |end| leo - end);
                        stats.follower_lag_max = stats.follower_lag_max.max(lag);
                    }
                }
            }
        }
        stats
    }

    /// A leader's ISR as its state machine holds it (committed), for metrics and tests.
    #[must_use]
    pub fn leader_isr(&self, key: PartitionKey) -> Option<Vec<i32>> {
        match self.roles.borrow().get(&key) {
            Some(Role::Leader(leading)) => Some(leading.replica.isr().to_vec()),
            _ => None,
        }
    }

    /// The leader a partition this shard follows fetches from (`NO_LEADER` when none).
    #[must_use]
    pub fn followed_leader(&self, key: PartitionKey) -> Option<i32> {
        match self.roles.borrow().get(&key) {
            Some(Role::Follower(following)) => Some(following.replica.leader_id()),
            Some(Role::Leader(_)) | None => None,
        }
        .filter(|&leader| leader != NO_LEADER)
    }
}

/// Releases the reconcile lock when dropped.
struct Unlock<'a>(&'a flume::Receiver<()>);

impl Drop for Unlock<'_> {
    fn drop(&mut self) {
        let _ = self.0.try_recv();
    }
}

/// Waits for an acks=all answer; the tick answers at the deadline, this bounds the wait in
/// case the waiter was dropped (the partition went away).
/// Whether `key`, with no role on a shard whose manager follows `metadata`, has none only
/// because that snapshot predates the one that makes it replicated: its topic is unknown
/// there (a handler's view may be newer: the group coordinator's first commit to a new
/// `__consumer_offsets` partition came in that window), or its recorded replicas are several.
/// Appending then would acknowledge an acks=all write held by this broker alone (CI lost
/// committed offsets when that leader was killed); the writer retries instead.
fn role_pending(metadata: &ClusterMetadata, key: PartitionKey) -> bool {
    if metadata.topic_by_id(key.topic_id).is_none() {
        return true;
    }
    usize::try_from(key.partition)
        .ok()
        .and_then(|index| metadata.recorded_partitions(key.topic_id).get(index))
        .is_some_and(|state| state.replicas.len() > 1)
}

async fn wait_ack(wait: &flume::Receiver<AckOutcome>, timeout: Duration) -> AckOutcome {
    let bound = timeout + Duration::from_millis(10 * REPLICA_TICK_MS);
    match compio::time::timeout(bound, wait.recv_async()).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(_)) => AckOutcome::NotLeaderOrFollower,
        Err(_) => AckOutcome::RequestTimedOut,
    }
}

/// Storage's leader-epoch entries as the state machine's cache (a corrupt list reads empty:
/// the follower then truncates to its HW at the first DivergingEpoch, the safe side).
pub(super) fn epoch_cache(entries: &[crate::storage::EpochEntry]) -> LeaderEpochCache {
    let entries = entries
        .iter()
        .map(|entry| EpochEntry {
            epoch: entry.epoch,
            start_offset: entry.start_offset,
        })
        .collect();
    LeaderEpochCache::from_entries(entries).unwrap_or_default()
}

/// The shard's tick task: every `REPLICA_TICK_MS` until the manager stops.
async fn tick(manager: Weak<ReplicaManager>) {
    // Bounded by the manager's life.
    loop {
        compio::time::sleep(Duration::from_millis(REPLICA_TICK_MS)).await;
        let Some(manager) = manager.upgrade() else {
            break;
        };
        if manager.stopping.get() {
            break;
        }
        manager.tick_leaders();
    }
}

/// Hands new high watermarks to storage, one at a time and in order, so a later value never
/// lands before an earlier one.
async fn flush_high_watermarks(manager: Weak<ReplicaManager>, bell: flume::Receiver<()>) {
    // Bounded by the manager's life: the bell's sender lives in it.
    while bell.recv_async().await.is_ok() {
        let Some(manager) = manager.upgrade() else {
            break;
        };
        let pending = manager.take_high_watermarks();
        let logs = manager.logs.clone();
        drop(manager);
        for (key, high_watermark) in pending {
            if let Err(error) = logs.set_high_watermark(key, high_watermark).await {
                tracing::debug!(?key, %error, "high watermark not stored");
            }
        }
    }
}

/// Refusals meaning the controller's state for the partition is newer than this leader's:
/// the leader keeps its proposal until that state reaches it, instead of backing off.
fn awaits_newer_metadata(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::InvalidUpdateVersion | ErrorCode::FencedLeaderEpoch
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use crate::cluster::MetadataRecord;
    use crate::protocol::Uuid;
    use std::collections::BTreeMap;

    #[test]
    fn a_partition_is_role_pending_until_the_manager_knows_it_is_not_replicated() {
        let topic_id = Uuid([7; 16]);
        let key = |partition| PartitionKey {
            topic_id,
            partition,
        };
        let empty = ClusterMetadata::new_cluster();
        // A topic the manager has not seen yet: an append must wait for its snapshot.
        assert!(role_pending(&empty, key(0)));
        let records = [
            MetadataRecord::TopicCreated {
                topic_id,
                name: "t".to_owned(),
                partition_count: 3,
                configs: BTreeMap::new(),
            },
            MetadataRecord::Partition {
                topic_id,
                partition: 0,
                state: PartitionState::placed(vec![1, 2, 3]),
            },
            MetadataRecord::Partition {
                topic_id,
                partition: 1,
                state: PartitionState::placed(vec![1]),
            },
        ];
        let known = empty.apply_all(&records).unwrap();
        // Recorded with three replicas: replicated, so no role yet means not set up yet.
        assert!(role_pending(&known, key(0)));
        // One replica, or no record (the single-node default): the unreplicated path.
        assert!(!role_pending(&known, key(1)));
        assert!(!role_pending(&known, key(2)));
    }
}
