//! Replication's commands (issue 16): the [`LogPump`] methods the replica manager calls, and
//! the pump's side of them. All but [`LogPump::replica_state`] are mutations: they run alone,
//! in arrival order, after the tick's appends. The log side is `storage/replica.rs`.
//!
//! Waiters: a follower's append signals the partition's waiters as a leader's does (a follower
//! of this follower, after a leader change, long-polls for the log end); a high watermark that
//! grows signals them too (consumers of a replicated partition wait for it).
//!
//! Runs on the pump's shard; the handle methods on any task of that shard.
use super::task::Pump;
use super::{LogPump, Mutation, PartitionKey, Query, ReplicaLogState, ReplicaMutation, stopped};
use crate::storage::{AppendInfo, CheckedBatch, PartitionLog, StorageError};

impl LogPump {
    /// A follower appends its leader's `batches` verbatim: the first must start at the log
    /// end, each next one right after the previous (see `PartitionLog::append_replicated`).
    ///
    /// # Errors
    /// `NonContiguousReplication`; `UnknownPartition`; `EmptyAppend`, `TooManyBatches`,
    /// `MessageTooLarge`; `Offline`, `Io`, `SegmentLimit`.
    pub async fn append_replicated(
        &self,
        key: PartitionKey,
        batches: Vec<CheckedBatch>,
    ) -> Result<AppendInfo, StorageError> {
        self.mutate(|reply| {
            Mutation::Replica(ReplicaMutation::AppendReplicated {
                key,
                batches,
                reply,
            })
        })
        .await
        .unwrap_or_else(|| Err(stopped()))
    }

    /// Sets a replicated log's high watermark, clamped into `[log start, log end]` (a value
    /// computed before a truncation may lie outside), and wakes the partition's long polls when
    /// it grew. A single-node log (not `replicated` in its spec) changes nothing: its high
    /// watermark is the log end. Returns the high watermark now in force.
    ///
    /// # Errors
    /// `UnknownPartition`.
    pub async fn set_high_watermark(
        &self,
        key: PartitionKey,
        high_watermark: i64,
    ) -> Result<i64, StorageError> {
        self.mutate(|reply| {
            Mutation::Replica(ReplicaMutation::SetHighWatermark {
                key,
                high_watermark,
                reply,
            })
        })
        .await
        .unwrap_or_else(|| Err(stopped()))
    }

    /// Removes every batch at or after `offset` (a whole batch when `offset` lies inside it);
    /// the epoch cache is cut from the end and the producer table rebuilt. At or past the log
    /// end: nothing happens. Below the log start: the log is emptied and restarts at `offset`
    /// (as [`Self::reset_to`]). Returns the new log end (≤ `offset` unless nothing happened).
    ///
    /// # Errors
    /// `UnknownPartition`; `OffsetOutOfRange` for a negative offset; `Offline`, `Io`.
    pub async fn truncate_to(&self, key: PartitionKey, offset: i64) -> Result<i64, StorageError> {
        self.mutate(|reply| Mutation::Replica(ReplicaMutation::TruncateTo { key, offset, reply }))
            .await
            .unwrap_or_else(|| Err(stopped()))
    }

    /// Empties the log and restarts it at `offset` (a follower behind its leader's log start;
    /// Kafka's `truncateFullyAndStartAt`): log start = high watermark = log end = `offset`.
    ///
    /// # Errors
    /// `UnknownPartition`; `OffsetOutOfRange` for a negative offset; `Offline`, `Io`.
    pub async fn reset_to(&self, key: PartitionKey, offset: i64) -> Result<(), StorageError> {
        self.mutate(|reply| Mutation::Replica(ReplicaMutation::ResetTo { key, offset, reply }))
            .await
            .unwrap_or_else(|| Err(stopped()))
    }

    /// Log start, high watermark, log end and the leader-epoch cache, read together.
    ///
    /// # Errors
    /// `UnknownPartition`.
    pub async fn replica_state(&self, key: PartitionKey) -> Result<ReplicaLogState, StorageError> {
        self.query(|reply| Query::ReplicaState { key, reply })
            .await
            .unwrap_or_else(|| Err(stopped()))
    }

    /// A new leader records that `epoch` starts at `start_offset` (its log end; Kafka's
    /// `makeLeader`); the checkpoint is written before this returns. An epoch not newer than
    /// the latest changes nothing.
    ///
    /// # Errors
    /// `UnknownPartition`; `OffsetOutOfRange` outside `[log start, log end]`;
    /// `EpochOutOfOrder` before the latest epoch's start; `Offline`, `Io`.
    pub async fn assign_epoch(
        &self,
        key: PartitionKey,
        epoch: i32,
        start_offset: i64,
    ) -> Result<(), StorageError> {
        self.mutate(|reply| {
            Mutation::Replica(ReplicaMutation::AssignEpoch {
                key,
                epoch,
                start_offset,
                reply,
            })
        })
        .await
        .unwrap_or_else(|| Err(stopped()))
    }

    /// A follower follows its leader's log start: moves its own to `min(offset, its high
    /// watermark)` when higher, deleting whole segments below. Returns the log start now.
    ///
    /// # Errors
    /// `UnknownPartition`; `Offline`, `Io`.
    pub async fn advance_log_start(
        &self,
        key: PartitionKey,
        offset: i64,
    ) -> Result<i64, StorageError> {
        self.mutate(|reply| {
            Mutation::Replica(ReplicaMutation::AdvanceLogStart { key, offset, reply })
        })
        .await
        .unwrap_or_else(|| Err(stopped()))
    }
}

impl Pump {
    /// Runs one of replication's mutations and sends its reply.
    pub(super) async fn replica(&mut self, mutation: ReplicaMutation) {
        match mutation {
            ReplicaMutation::AppendReplicated {
                key,
                batches,
                reply,
            } => {
                let result = async { self.log_mut(key)?.append_replicated(batches).await }.await;
                if result.is_ok() {
                    self.notify(&[key]);
                }
                let _ = reply.send(result);
            }
            ReplicaMutation::SetHighWatermark {
                key,
                high_watermark,
                reply,
            } => {
                let _ = reply.send(self.set_high_watermark(key, high_watermark));
            }
            ReplicaMutation::TruncateTo { key, offset, reply } => {
                let result = async { self.log_mut(key)?.truncate_replica_to(offset).await }.await;
                let _ = reply.send(result);
            }
            ReplicaMutation::ResetTo { key, offset, reply } => {
                let result = async { self.log_mut(key)?.reset_to(offset).await }.await;
                let _ = reply.send(result);
            }
            ReplicaMutation::AssignEpoch {
                key,
                epoch,
                start_offset,
                reply,
            } => {
                let result =
                    async { self.log_mut(key)?.assign_epoch(epoch, start_offset).await }.await;
                let _ = reply.send(result);
            }
            ReplicaMutation::AdvanceLogStart { key, offset, reply } => {
                let result = async { self.log_mut(key)?.advance_log_start(offset).await }.await;
                let _ = reply.send(result);
            }
        }
    }

    fn log_mut(&mut self, key: PartitionKey) -> Result<&mut PartitionLog, StorageError> {
        self.logs
            .get_mut(&key)
            .ok_or(StorageError::UnknownPartition)
    }

    /// The high watermark step of [`Self::replica`]: set (clamped), and wake the long polls
    /// when it grew.
    fn set_high_watermark(
        &mut self,
        key: PartitionKey,
        high_watermark: i64,
    ) -> Result<i64, StorageError> {
        let log = self.log_mut(key)?;
        let before = log.high_watermark();
        let now = log.move_high_watermark(high_watermark);
        if now > before {
            self.notify(&[key]);
        }
        Ok(now)
    }
}
