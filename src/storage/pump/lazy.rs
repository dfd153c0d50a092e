//! Lazy recovery (issue 20): the logs a shard owns need not all be open.
//!
//! A wanted log is *open* (recovered, in `ShardLogs`) or *dormant* (only its [`LogSpec`]; its
//! files untouched since the last close or crash). Start-up leaves every log dormant, so the
//! shard listens without per-partition I/O. A dormant log is opened — recovered as
//! `PartitionLog::open` always does: the segments past the recovery point (and the active one)
//! scanned, a torn tail cut — before the first command of the tick that names it, so nothing
//! it holds is served or appended to unvalidated. While the pump's queue is empty and fewer
//! than `OPEN_LOGS_PER_SHARD_MAX` logs are open, the logs not opened since start-up are
//! recovered in the background, `BACKGROUND_OPENS_PER_BATCH` at a time.
//!
//! Past `OPEN_LOGS_PER_SHARD_MAX` open logs or `OPEN_SEGMENT_FILES_PER_SHARD_MAX` segment files,
//! the least recently used logs are closed (flush, producer snapshot, clean-shutdown marker —
//! as at shutdown) down to 7/8 of the limits and become dormant: the fds stay bounded whatever
//! the partition count (the pump's [`super::PumpLimits`] carry these bounds; tests lower
//! them). Eviction runs after a tick that opened logs and after housekeeping, never while a
//! command holds a log.
//!
//! Housekeeping reaches dormant logs too (housekeeping.rs): each pass probes a bounded number
//! of them round-robin, from their files only, and opens those retention has something to
//! delete from; they are marked unused, so eviction closes them first. A dormant log's active
//! segment is not rolled by `segment.ms`: Kafka rolls on the next append, which opens the log.
//!
//! Every open checks and records the directory's topic id first (`open_for_topic`).
//!
//! Runs on the pump's shard.
use super::task::Pump;
use super::{LogSpec, Mutation, PartitionKey, Query, ReplicaMutation};
use crate::limits::BACKGROUND_OPENS_PER_BATCH;
use crate::storage::{PartitionLog, join_all, partition_metadata};
use std::rc::Rc;

/// Opens (or creates) `key`'s log in `spec`'s directory when the directory holds `key`'s
/// topic or no recorded topic yet, and records the topic id before the log is used
/// (`storage::partition_metadata`): a directory left by a deleted topic of the same name is
/// refused, never served as the new topic's.
async fn open_for_topic(
    key: PartitionKey,
    spec: &LogSpec,
    config: crate::storage::LogConfig,
    clock: Rc<dyn crate::storage::Clock>,
) -> Result<PartitionLog, crate::storage::StorageError> {
    let directory = spec.directory.clone();
    partition_metadata::check(&directory, key.topic_id).await?;
    let log = PartitionLog::open_in_mode(directory, config, clock, spec.replicated).await?;
    partition_metadata::record(log.directory(), key.topic_id).await?;
    Ok(log)
}

impl Pump {
    /// Opens the dormant logs among `keys` and marks every open one used now. Returns whether
    /// it opened any.
    pub(super) async fn wake(&mut self, keys: Vec<PartitionKey>) -> bool {
        self.tick_count += 1;
        let mut opening = Vec::new();
        for key in keys {
            if let Some(spec) = self.dormant.remove(&key) {
                opening.push((key, spec));
            } else if self.logs.get(&key).is_some() {
                self.last_used.insert(key, self.tick_count);
            }
        }
        let opened = !opening.is_empty();
        self.open_all(opening).await;
        opened
    }

    /// Opens `logs`, `BACKGROUND_OPENS_PER_BATCH` at a time; one that fails is logged and left
    /// closed (the next reconcile tries again), as before lazy recovery.
    pub(super) async fn open_all(&mut self, logs: Vec<(PartitionKey, LogSpec)>) {
        let mut logs = logs.into_iter().peekable();
        while logs.peek().is_some() {
            let chunk: Vec<(PartitionKey, LogSpec)> =
                logs.by_ref().take(BACKGROUND_OPENS_PER_BATCH).collect();
            let clock = &self.clock;
            let opens = chunk.iter().filter_map(|(key, spec)| {
                let config = spec.config.clone()?;
                let clock = Rc::clone(clock);
                Some(open_for_topic(*key, spec, config, clock))
            });
            let results = join_all(opens.collect()).await;
            for ((key, spec), result) in chunk.into_iter().zip(results) {
                match result {
                    Ok(log) => {
                        self.logs.insert(key, log);
                        self.last_used.insert(key, self.tick_count);
                    }
                    Err(error) => {
                        let directory = spec.directory;
                        tracing::error!(%error, ?directory, "cannot open partition log");
                    }
                }
            }
        }
    }

    /// Whether logs wait for background recovery and there is room to open them.
    pub(super) fn background_due(&self) -> bool {
        !self.to_recover.is_empty() && self.logs.len() < self.limits.open_logs_max
    }

    /// Recovers one batch of the logs not opened since start-up.
    pub(super) async fn open_in_background(&mut self) {
        let room = self.limits.open_logs_max.saturating_sub(self.logs.len());
        let mut opening = Vec::new();
        while opening.len() < room.min(BACKGROUND_OPENS_PER_BATCH) {
            let Some(key) = self.to_recover.pop() else {
                break;
            };
            // Gone, or opened on first use since.
            if let Some(spec) = self.dormant.remove(&key) {
                opening.push((key, spec));
            }
        }
        self.open_unused(opening).await;
        if self.to_recover.is_empty() {
            self.to_recover.shrink_to_fit();
        }
        self.close_least_used_if_over().await;
    }

    /// [`Self::open_all`], marked unused: the first to close again when room is needed.
    pub(super) async fn open_unused(&mut self, logs: Vec<(PartitionKey, LogSpec)>) {
        let used_at = self.tick_count;
        self.tick_count = 0;
        self.open_all(logs).await;
        self.tick_count = used_at;
    }

    /// Closes the least recently used logs while more than the limits are open (module docs).
    pub(super) async fn close_least_used_if_over(&mut self) {
        let mut open = self.logs.len();
        let mut files: usize = self.logs.values().map(PartitionLog::segment_count).sum();
        let open_max = self.limits.open_logs_max;
        let files_max = self.limits.open_segment_files_max;
        if open <= open_max && files <= files_max {
            return;
        }
        let open_target = open_max - open_max / 8;
        let files_target = files_max - files_max / 8;
        let mut by_age: Vec<(u64, PartitionKey)> = self
            .logs
            .keys()
            .map(|key| (self.last_used.get(key).copied().unwrap_or(0), *key))
            .collect();
        by_age.sort_unstable_by_key(|(used, _)| *used);
        let mut closing = Vec::new();
        for (_, key) in by_age {
            if open <= open_target && files <= files_target {
                break;
            }
            if let Some(log) = self.logs.remove(&key) {
                open -= 1;
                files = files.saturating_sub(log.segment_count());
                self.last_used.remove(&key);
                closing.push((key, log));
            }
        }
        while !closing.is_empty() {
            let rest = closing.split_off(closing.len().min(BACKGROUND_OPENS_PER_BATCH));
            let chunk = std::mem::replace(&mut closing, rest);
            self.close_to_dormant(chunk).await;
        }
    }

    /// Closes `logs` concurrently; each becomes dormant, closed cleanly or not (a failed close
    /// is logged, and the next open recovers it as after a crash).
    async fn close_to_dormant(&mut self, logs: Vec<(PartitionKey, PartitionLog)>) {
        let mut specs = Vec::with_capacity(logs.len());
        let mut closes = Vec::with_capacity(logs.len());
        for (key, log) in logs {
            specs.push((
                key,
                LogSpec {
                    directory: log.directory().to_path_buf(),
                    config: Some(log.config().clone()),
                    replicated: log.is_replicated(),
                },
            ));
            closes.push(log.close());
        }
        for ((key, spec), result) in specs.into_iter().zip(join_all(closes).await) {
            if let Err(error) = result {
                let directory = &spec.directory;
                tracing::warn!(%error, ?directory, "closing a least recently used log failed");
            }
            self.dormant.insert(key, spec);
        }
    }
}

impl Query {
    /// The partition the query reads.
    pub(super) fn key(&self) -> PartitionKey {
        match self {
            Self::Read { read, .. } | Self::ReadLeased { read, .. } => read.key,
            Self::Offsets { key, .. }
            | Self::OffsetForTimestamp { key, .. }
            | Self::MaxTimestamp { key, .. }
            | Self::EndOffsetForEpoch { key, .. }
            | Self::ReplicaState { key, .. } => *key,
        }
    }
}

impl Mutation {
    /// Adds the partitions the mutation changes to `keys` (none for those about the whole
    /// shard).
    pub(super) fn push_keys(&self, keys: &mut Vec<PartitionKey>) {
        match self {
            Self::DeleteRecords { key, .. } => keys.push(*key),
            Self::Replica(replica) => replica.push_keys(keys),
            Self::Reconcile { .. } | Self::Housekeeping { .. } | Self::Shutdown { .. } => {}
        }
    }
}

impl ReplicaMutation {
    fn push_keys(&self, keys: &mut Vec<PartitionKey>) {
        match self {
            Self::FollowLeader { updates, .. } => {
                keys.extend(updates.iter().map(|update| update.key));
            }
            Self::SetHighWatermark { key, .. }
            | Self::TruncateTo { key, .. }
            | Self::ResetTo { key, .. }
            | Self::AssignEpoch { key, .. } => keys.push(*key),
        }
    }
}
