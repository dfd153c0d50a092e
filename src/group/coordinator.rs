//! The per-shard group coordinator: the groups whose `__consumer_offsets` partition this
//! shard owns, their committed offsets, the JoinGroup/SyncGroup requests parked until a
//! rebalance completes, one timer task, and persistence into the partition logs.
//!
//! Runs on the coordinator shard of its groups (handlers route to it and reach it with
//! `invoke_on`; routing is theirs, see `handlers/group_routing.rs`). A per-shard service: it
//! holds what it needs (the shard's `LogPump`, the group config, the shard's draining signal)
//! and knows nothing of the shard context. State is in one `RefCell`, borrowed only between
//! awaits; every operation re-reads the group after an await (a group may be deleted while a
//! write is in flight).
//!
//! Order of effects: the state machine decides; records are appended to the log; then parked
//! requests are answered. A leader's SyncGroup is persisted *before* the followers learn their
//! assignments (Kafka's `storeGroup` then `setAndPropagateAssignment`), so an acknowledged
//! assignment survives a restart.
//!
//! Bounds: groups per shard (`GROUPS_PER_SHARD_MAX`), members per group (config), offsets
//! per group (`GROUP_OFFSETS_MAX`), parked requests (one per member: a second join of the
//! same member replaces the first), one timer task per shard ticking every
//! `GROUP_TIMER_TICK_MS` and stopping when the shard drains. A parked request waits inside
//! its mesh job on this shard (so its wake-up is local), at most its rebalance timeout plus
//! [`PARK_SLACK_MS`].
use super::log::{self, LogRecord};
use super::offsets::{ExpiryContext, GroupOffsets};
use super::state::{Group, GroupRules, GroupState, JoinOutcome, Reply, SyncOutcome};
use crate::cluster::ClusterMetadata;
use crate::config::GroupConfig;
use crate::limits;
use crate::protocol::error_code::ErrorCode;
use crate::replication::{AppendFailure, ReplicaManager};
use crate::shard::Signal;
use crate::storage::{
    AppendRequest, CheckedBatch, LogPump, PartitionKey, ReadArgs, ReadUpto, StorageError,
};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

/// How much longer than its rebalance timeout a parked request waits before giving up (the
/// timer completes the rebalance at the timeout; this only guards against a lost reply).
pub const PARK_SLACK_MS: u64 = 5_000;

/// Where a group's coordinator lives: its `__consumer_offsets` partition and owning shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub key: PartitionKey,
    pub shard: usize,
}

/// A group and its offsets.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) group: Group,
    pub(super) offsets: GroupOffsets,
    /// The `__consumer_offsets` partition it is written to.
    pub(super) key: PartitionKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Load {
    Loading,
    Loaded,
}

#[derive(Debug, Default)]
pub(super) struct Inner {
    partitions: HashMap<PartitionKey, Load>,
    pub(super) groups: HashMap<String, Entry>,
    pub(super) join_waiters: HashMap<(String, String), flume::Sender<JoinOutcome>>,
    pub(super) sync_waiters: HashMap<(String, String), flume::Sender<SyncOutcome>>,
}

/// This shard's coordinator (`broker::Services::groups`).
#[derive(Debug)]
pub struct Coordinator {
    pub(super) inner: RefCell<Inner>,
    timer_started: Cell<bool>,
    /// When offsets were last checked for expiry (wall-clock ms).
    expiry_checked_ms: Cell<i64>,
    /// Where the groups' records are read from: this shard's `__consumer_offsets` partitions.
    logs: LogPump,
    /// Where they are written: through the shard's replicas, so writes replicate.
    replicas: Rc<ReplicaManager>,
    config: GroupConfig,
    /// The shard's draining signal: the timer stops when it fires.
    draining: Signal,
}

/// Wall-clock milliseconds (Kafka's `time.milliseconds()`); commit timestamps and group state
/// timestamps are persisted, so monotonic time would not survive a restart.
#[must_use]
pub fn now_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

fn rules(config: &GroupConfig) -> GroupRules {
    GroupRules {
        initial_rebalance_delay_ms: i64::try_from(config.initial_rebalance_delay_ms)
            .unwrap_or(i64::MAX),
        session_timeout_ms_min: config.session_timeout_ms_min,
        session_timeout_ms_max: config.session_timeout_ms_max,
        members_max: config.members_max,
    }
}

fn storage_error_code(error: &StorageError) -> ErrorCode {
    // Kafka maps a failed offsets-log write to COORDINATOR_NOT_AVAILABLE so clients retry.
    tracing::warn!(%error, "group coordinator: offsets log write failed");
    ErrorCode::CoordinatorNotAvailable
}

/// What a failed offsets-log write answers, as Kafka's group coordinator maps it: lost
/// leadership is NOT_COORDINATOR (the client looks the coordinator up again); too few
/// replicas or a write that did not replicate in time is COORDINATOR_NOT_AVAILABLE (retry).
fn append_error_code(failure: &AppendFailure) -> ErrorCode {
    match failure {
        AppendFailure::Storage(error) => storage_error_code(error),
        AppendFailure::Code(ErrorCode::NotLeaderOrFollower) => ErrorCode::NotCoordinator,
        AppendFailure::Code(code) => {
            tracing::info!(?code, "group coordinator: offsets log write not replicated");
            ErrorCode::CoordinatorNotAvailable
        }
    }
}

/// Appends `records` to `key` in batches of at most `GROUP_RECORDS_PER_BATCH_MAX`, as an
/// acks=all produce (Kafka's coordinator writes with required acks -1): on a replicated
/// offsets partition it returns once every in-sync replica has the records.
pub(super) async fn append(
    appender: &ReplicaManager,
    key: PartitionKey,
    records: &[LogRecord],
) -> Result<(), ErrorCode> {
    if records.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    let mut batches = Vec::new();
    for chunk in records.chunks(limits::GROUP_RECORDS_PER_BATCH_MAX) {
        let batch = log::encode_batch(chunk, now).map_err(|error| {
            tracing::warn!(%error, "group coordinator: cannot encode records");
            ErrorCode::UnknownServerError
        })?;
        let batch = CheckedBatch::new(batch.freeze()).map_err(|error| {
            tracing::warn!(%error, "group coordinator: encoded an invalid batch");
            ErrorCode::UnknownServerError
        })?;
        batches.push(batch);
    }
    let request = AppendRequest {
        batches,
        leader_epoch: 0,
    };
    let timeout = Duration::from_millis(limits::GROUP_COMMIT_TIMEOUT_MS);
    let results = appender.append(vec![(key, request)], -1, timeout).await;
    for result in results {
        result.map_err(|failure| append_error_code(&failure))?;
    }
    Ok(())
}

/// Abandons a replay that did not finish when dropped (after `install`, a no-op).
struct AbandonLoad<'a> {
    coordinator: &'a Coordinator,
    key: PartitionKey,
}

impl Drop for AbandonLoad<'_> {
    fn drop(&mut self) {
        self.coordinator.abandon_load(self.key);
    }
}

/// Everything one `__consumer_offsets` partition holds, replayed.
#[derive(Debug, Default)]
pub struct LoadedPartition {
    groups: HashMap<String, (Option<super::state::GroupRecord>, GroupOffsets)>,
}

impl LoadedPartition {
    /// Drops committed offsets of topics `exists` does not know: a topic deleted while its
    /// tombstones could not be written (a crash in between) stays forgotten after a restart.
    pub fn forget_missing_topics(&mut self, exists: impl Fn(&str) -> bool) {
        for (_, offsets) in self.groups.values_mut() {
            let missing: Vec<String> = offsets
                .iter()
                .map(|((topic, _), _)| topic)
                .filter(|topic| !exists(topic))
                .cloned()
                .collect();
            for topic in missing {
                let _partitions = offsets.remove_topic(&topic);
            }
        }
    }
}

/// Replays partition `key` from its log start to its log end: the coordinator is the
/// partition's leader, whose whole log becomes committed (its followers truncate to it), so
/// a new leader replays what its predecessor wrote even before the high watermark has
/// caught up, as Kafka's coordinator loads to the log end.
///
/// # Errors
/// Storage errors from the pump.
pub async fn load_partition(
    logs: &LogPump,
    key: PartitionKey,
) -> Result<LoadedPartition, StorageError> {
    let offsets = logs.offsets(key).await?;
    let mut loaded = LoadedPartition::default();
    let mut position = offsets.log_start_offset;
    let mut skipped = 0_u64;
    // Bounded: every read that returns a batch advances `position` by at least one record,
    // and a read that advances nothing ends the loop.
    while position < offsets.log_end_offset {
        let read = ReadArgs {
            key,
            offset: position,
            max_bytes: limits::GROUP_LOAD_READ_SIZE,
            min_one_batch: true,
            upto: ReadUpto::LogEnd,
        };
        let data = logs.read_with(read).await?;
        let replayed = log::replay(data.bytes, |record| apply_loaded(&mut loaded, record));
        skipped += replayed.skipped;
        if replayed.next_offset <= position {
            break;
        }
        position = replayed.next_offset;
    }
    if skipped > 0 {
        tracing::warn!(
            partition = key.partition,
            skipped,
            "unreadable offsets-log records skipped"
        );
    }
    Ok(loaded)
}

fn apply_loaded(loaded: &mut LoadedPartition, record: LogRecord) {
    match record {
        LogRecord::Offset {
            group_id,
            topic,
            partition,
            value,
        } => {
            let (_, offsets) = loaded.groups.entry(group_id).or_default();
            match value {
                Some(value) => offsets.insert(&topic, partition, value),
                None => {
                    offsets.remove(&topic, partition);
                }
            }
        }
        LogRecord::Group { group_id, value } => {
            loaded.groups.entry(group_id).or_default().0 = value;
        }
    }
}

impl Inner {
    pub(super) fn is_loading(&self) -> bool {
        self.partitions.values().any(|load| *load == Load::Loading)
    }
}

impl Coordinator {
    /// The coordinator of one shard, with no group yet (see `group::load_owned`).
    #[must_use]
    pub fn new(
        logs: LogPump,
        replicas: Rc<ReplicaManager>,
        config: GroupConfig,
        draining: Signal,
    ) -> Rc<Self> {
        Rc::new(Self {
            inner: RefCell::default(),
            timer_started: Cell::new(false),
            expiry_checked_ms: Cell::new(0),
            logs,
            replicas,
            config,
            draining,
        })
    }

    /// The state machine's rules from the group config.
    pub(super) fn rules(&self) -> GroupRules {
        rules(&self.config)
    }

    /// The shard's log pump (where the offsets partitions are).
    #[must_use]
    pub fn logs(&self) -> &LogPump {
        &self.logs
    }

    /// Where the groups' records are written.
    #[must_use]
    pub fn appender(&self) -> &ReplicaManager {
        &self.replicas
    }

    /// Installs a replayed partition: its groups become live (members' sessions start now).
    /// Whether it was installed: a replay whose partition was unloaded meanwhile (leadership
    /// moved away during the replay, [`Self::follow_leadership`]) is dropped, so a broker
    /// never keeps groups of a partition it stopped leading.
    pub fn install(&self, key: PartitionKey, loaded: LoadedPartition) -> bool {
        let now = now_ms();
        let mut inner = self.inner.borrow_mut();
        if inner.partitions.get(&key) != Some(&Load::Loading) {
            tracing::debug!(
                partition = key.partition,
                "replay dropped: unloaded meanwhile"
            );
            return false;
        }
        // One line per election of this broker as a coordinator: rare, and what a lost
        // commit's investigation starts from.
        tracing::info!(
            partition = key.partition,
            groups = loaded.groups.len(),
            "offsets partition loaded"
        );
        for (group_id, (record, offsets)) in loaded.groups {
            let group = match record {
                Some(record) => Group::from_record(&group_id, record, now),
                None if offsets.is_empty() => continue,
                None => Group::new(&group_id, now),
            };
            inner.groups.insert(
                group_id,
                Entry {
                    group,
                    offsets,
                    key,
                },
            );
        }
        inner.partitions.insert(key, Load::Loaded);
        true
    }

    /// Marks `key` as loading unless it is loaded or loading already; whether it was marked
    /// (the caller then replays it and calls [`Self::install`] or [`Self::abandon_load`]).
    pub fn begin_load(&self, key: PartitionKey) -> bool {
        let mut inner = self.inner.borrow_mut();
        if inner.partitions.contains_key(&key) {
            return false;
        }
        inner.partitions.insert(key, Load::Loading);
        true
    }

    /// A replay begun with [`Self::begin_load`] failed: the next request retries it.
    pub fn abandon_load(&self, key: PartitionKey) {
        let mut inner = self.inner.borrow_mut();
        if inner.partitions.get(&key) == Some(&Load::Loading) {
            inner.partitions.remove(&key);
        }
    }

    /// Makes sure `key` was replayed (first use after its topic was created); concurrent
    /// callers during the replay get COORDINATOR_LOAD_IN_PROGRESS, as Kafka answers.
    pub(super) async fn ensure_loaded(self: &Rc<Self>, key: PartitionKey) -> Result<(), ErrorCode> {
        self.start_timer();
        let load = self.inner.borrow().partitions.get(&key).copied();
        match load {
            Some(Load::Loaded) => return Ok(()),
            Some(Load::Loading) => return Err(ErrorCode::CoordinatorLoadInProgress),
            None => {}
        }
        self.inner
            .borrow_mut()
            .partitions
            .insert(key, Load::Loading);
        // A request cancelled during the replay (its connection closed) must not leave the
        // partition marked loading for good: the guard abandons an unfinished load.
        let _abandon = AbandonLoad {
            coordinator: self,
            key,
        };
        match load_partition(&self.logs, key).await {
            Ok(loaded) => {
                if self.install(key, loaded) {
                    Ok(())
                } else {
                    // Leadership moved away during the replay.
                    Err(ErrorCode::NotCoordinator)
                }
            }
            Err(error) => {
                self.inner.borrow_mut().partitions.remove(&key);
                Err(storage_error_code(&error))
            }
        }
    }

    /// Leadership of `__consumer_offsets` partitions moved (a new metadata snapshot `current`
    /// after `previous`): the groups of partitions this broker no longer leads are dropped
    /// from memory, with their parked requests (which then answer NOT_COORDINATOR); the new
    /// leader's coordinator replays them from its replica of the log at their next request.
    /// So a group's coordinator moves with its offsets partition, as in Kafka. A partition
    /// led here again in a newer leader epoch is dropped too (and replayed by
    /// [`super::load_owned`]): another broker may have led it in between, unseen when this
    /// broker skipped the snapshots in between, and written commits this memory lacks (Kafka's
    /// coordinator reloads on every election with a newer epoch).
    pub fn follow_leadership(
        &self,
        previous: &ClusterMetadata,
        current: &ClusterMetadata,
        node_id: i32,
    ) {
        let mut inner = self.inner.borrow_mut();
        let unled: Vec<PartitionKey> = inner
            .partitions
            .keys()
            .filter(|key| !super::leads_in_same_epoch(previous, current, **key, node_id))
            .copied()
            .collect();
        for key in unled {
            inner.partitions.remove(&key);
            let gone: Vec<String> = inner
                .groups
                .iter()
                .filter(|(_, entry)| entry.key == key)
                .map(|(group_id, _)| group_id.clone())
                .collect();
            for group_id in &gone {
                inner.groups.remove(group_id);
            }
            inner
                .join_waiters
                .retain(|(group_id, _), _| !gone.contains(group_id));
            inner
                .sync_waiters
                .retain(|(group_id, _), _| !gone.contains(group_id));
            tracing::info!(
                partition = key.partition,
                groups = gone.len(),
                "groups moved away"
            );
        }
    }

    /// Start-up: starts the timer when replay installed any group, so members reloaded from
    /// the log expire and offsets are checked for expiry even if no client ever talks to this
    /// shard.
    pub fn start_timer_if_loaded(self: &Rc<Self>) {
        if !self.inner.borrow().groups.is_empty() {
            self.start_timer();
        }
    }

    fn start_timer(self: &Rc<Self>) {
        if self.timer_started.replace(true) {
            return;
        }
        let coordinator = Rc::clone(self);
        // One timer per shard, for the shard's life; it ends when the shard drains.
        compio::runtime::spawn(async move {
            while !coordinator.draining.is_fired() {
                compio::time::sleep(Duration::from_millis(limits::GROUP_TIMER_TICK_MS)).await;
                coordinator.tick().await;
            }
        })
        .detach();
    }

    /// Delivers answers to parked requests; an answer without a waiter (the request gave up
    /// or was never parked) is dropped.
    pub(super) fn deliver(&self, group_id: &str, replies: Vec<Reply>) {
        let mut inner = self.inner.borrow_mut();
        for reply in replies {
            match reply {
                Reply::Join { member_id, outcome } => {
                    let key = (group_id.to_owned(), member_id);
                    if let Some(waiter) = inner.join_waiters.remove(&key) {
                        let _ = waiter.try_send(outcome);
                    }
                }
                Reply::Sync { member_id, outcome } => {
                    let key = (group_id.to_owned(), member_id);
                    if let Some(waiter) = inner.sync_waiters.remove(&key) {
                        let _ = waiter.try_send(outcome);
                    }
                }
            }
        }
    }

    /// Writes the group record if the state machine marked it changed.
    pub(super) async fn persist_if_dirty(&self, group_id: &str) -> Result<(), ErrorCode> {
        let record = {
            let mut inner = self.inner.borrow_mut();
            let Some(entry) = inner.groups.get_mut(group_id) else {
                return Ok(());
            };
            if !entry.group.take_dirty() {
                return Ok(());
            }
            let value = (entry.group.state() != GroupState::Dead).then(|| entry.group.to_record());
            (
                entry.key,
                LogRecord::Group {
                    group_id: group_id.to_owned(),
                    value,
                },
            )
        };
        append(&self.replicas, record.0, &[record.1]).await
    }

    /// The timer's step: advance every group, answer, persist, and now and then expire offsets.
    async fn tick(&self) {
        let now = now_ms();
        let rules = self.rules();
        let mut work: Vec<(String, Vec<Reply>, bool)> = Vec::new();
        {
            let mut inner = self.inner.borrow_mut();
            for (group_id, entry) in &mut inner.groups {
                let due = entry
                    .group
                    .next_deadline_ms()
                    .is_some_and(|deadline| deadline <= now);
                if !due {
                    continue;
                }
                let mut replies = Vec::new();
                entry.group.tick(&rules, now, &mut replies);
                work.push((group_id.clone(), replies, true));
            }
        }
        for (group_id, replies, _) in work {
            self.deliver(&group_id, replies);
            if let Err(error) = self.persist_if_dirty(&group_id).await {
                tracing::warn!(group_id, ?error, "group record not persisted");
            }
        }
        let interval = i64::try_from(limits::OFFSETS_EXPIRY_CHECK_MS).unwrap_or(i64::MAX);
        if now.saturating_sub(self.expiry_checked_ms.get()) >= interval {
            self.expiry_checked_ms.set(now);
            self.expire_offsets(now).await;
        }
    }

    /// Deletes expired offsets and groups left empty with none (Kafka's
    /// `cleanupGroupMetadata`).
    async fn expire_offsets(&self, now: i64) {
        let retention_minutes = self.config.offsets_retention_minutes;
        let retention_ms =
            i64::try_from(retention_minutes.saturating_mul(60_000)).unwrap_or(i64::MAX);
        let mut writes: Vec<(PartitionKey, Vec<LogRecord>)> = Vec::new();
        {
            let mut inner = self.inner.borrow_mut();
            let mut dead = Vec::new();
            for (group_id, entry) in &mut inner.groups {
                let context = ExpiryContext {
                    now_ms: now,
                    retention_ms,
                    state: entry.group.state(),
                    state_timestamp_ms: entry.group.state_timestamp_ms(),
                    has_protocol_type: entry.group.protocol_type().is_some(),
                };
                let mut records = Vec::new();
                for (topic, partition) in entry.offsets.expired(&context) {
                    entry.offsets.remove(&topic, partition);
                    records.push(offset_tombstone(group_id, &topic, partition));
                }
                if entry.group.state() == GroupState::Empty && entry.offsets.is_empty() {
                    entry.group.mark_dead(now);
                    records.push(LogRecord::Group {
                        group_id: group_id.clone(),
                        value: None,
                    });
                    dead.push(group_id.clone());
                }
                if !records.is_empty() {
                    writes.push((entry.key, records));
                }
            }
            for group_id in dead {
                inner.groups.remove(&group_id);
            }
        }
        for (key, records) in writes {
            if let Err(error) = append(&self.replicas, key, &records).await {
                tracing::warn!(?error, "offset expiry not persisted");
            }
        }
    }
}

pub(super) fn offset_tombstone(group_id: &str, topic: &str, partition: i32) -> LogRecord {
    LogRecord::Offset {
        group_id: group_id.to_owned(),
        topic: topic.to_owned(),
        partition,
        value: None,
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // tests may index
mod tests {
    use super::super::log::OffsetValue;
    use super::*;

    #[test]
    fn loading_forgets_offsets_of_topics_that_no_longer_exist() {
        let value = OffsetValue {
            offset: 5,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp_ms: 1,
        };
        let mut offsets = GroupOffsets::default();
        for (topic, partition) in [("deleted", 0), ("deleted", 1), ("live", 0)] {
            offsets.insert(topic, partition, value.clone());
        }
        let mut loaded = LoadedPartition::default();
        loaded.groups.insert("g".to_owned(), (None, offsets));
        loaded.forget_missing_topics(|topic| topic == "live");
        let (_, offsets) = &loaded.groups["g"];
        assert_eq!(offsets.len(), 1);
        assert!(offsets.contains("live", 0));
    }
}
