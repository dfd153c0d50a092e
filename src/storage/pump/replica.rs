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
    /// The log's flush policy applies as for a leader's append (Strict: synced before the
    /// answer); the partition's long polls are woken.
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::protocol::Uuid;
    use crate::protocol::record_batch::BatchSplitter;
    use crate::storage::testing::build_batch_sized;
    use crate::storage::{
        AppendRequest, CheckedBatch, EpochEntry, LogConfig, LogPump, LogSpec, PartitionKey,
        ReadArgs, ReadUpto, StorageError, WantedLogs,
    };

    const KEY: PartitionKey = PartitionKey {
        topic_id: Uuid([7; 16]),
        partition: 0,
    };

    fn wanted(directory: &Path, replicated: bool) -> WantedLogs {
        let spec = LogSpec {
            directory: directory.join("t-0"),
            config: Some(LogConfig::default()),
            replicated,
        };
        WantedLogs::from([(KEY, spec)])
    }

    fn batch(records: i32, seed: u64) -> CheckedBatch {
        CheckedBatch::new(build_batch_sized(records, 1_000, 30, seed).freeze()).unwrap()
    }

    /// A leader's produce: `records` records in one batch at `epoch`.
    async fn produce(pump: &LogPump, records: i32, epoch: i32) {
        let request = AppendRequest {
            batches: vec![batch(records, u64::try_from(records).unwrap())],
            leader_epoch: epoch,
        };
        let mut results = pump.append_all(vec![(KEY, request)]).await;
        results.pop().unwrap().unwrap();
    }

    fn read(offset: i64, upto: ReadUpto) -> ReadArgs {
        ReadArgs {
            key: KEY,
            offset,
            max_bytes: 1 << 20,
            min_one_batch: true,
            upto,
        }
    }

    fn waiter(pump: &LogPump) -> flume::Receiver<()> {
        let (waker, wake) = flume::bounded(1);
        assert!(pump.register_waiter(&[KEY], &waker));
        wake
    }

    #[compio::test]
    async fn a_replicated_leader_serves_consumers_up_to_the_hw_and_followers_to_the_end() {
        let directory = tempfile::tempdir().unwrap();
        let pump = LogPump::spawn(0);
        pump.reconcile(wanted(directory.path(), true)).await;
        let wake = waiter(&pump);
        produce(&pump, 3, 1).await;
        // The append wakes long polls (followers wait for it)…
        assert!(wake.try_recv().is_ok());
        let state = pump.replica_state(KEY).await.unwrap();
        assert_eq!((state.high_watermark, state.log_end_offset), (0, 3));
        // …but consumers read nothing past the high watermark; followers read to the end.
        let consumer = pump
            .read_with(read(0, ReadUpto::HighWatermark))
            .await
            .unwrap();
        assert!(consumer.bytes.is_empty());
        let follower = pump.read_with(read(0, ReadUpto::LogEnd)).await.unwrap();
        assert_eq!(BatchSplitter::new(follower.bytes.clone()).count(), 1);
        assert_eq!(
            follower.high_watermark, 0,
            "the high watermark, not the end"
        );
        let leased = pump.read_leased(read(0, ReadUpto::LogEnd)).await.unwrap();
        assert_eq!(leased.size_bytes(), follower.bytes.len() as u64);
        assert!(
            pump.read_leased(read(0, ReadUpto::default()))
                .await
                .unwrap()
                .ranges
                .is_empty()
        );
        // The high watermark grows (clamped to the log end) and wakes the consumers.
        let wake = waiter(&pump);
        assert_eq!(pump.set_high_watermark(KEY, 10).await.unwrap(), 3);
        assert!(wake.try_recv().is_ok());
        let consumer = pump.read(KEY, 0, 1 << 20, true).await.unwrap();
        assert_eq!(consumer.bytes, follower.bytes);
        // Lowering it (a racing value) wakes nobody.
        let wake = waiter(&pump);
        assert_eq!(pump.set_high_watermark(KEY, -5).await.unwrap(), 0);
        assert!(wake.try_recv().is_err());
        let unknown = PartitionKey {
            partition: 9,
            ..KEY
        };
        assert!(matches!(
            pump.set_high_watermark(unknown, 1).await,
            Err(StorageError::UnknownPartition)
        ));
        pump.shutdown().await;
    }

    #[compio::test]
    async fn a_follower_replicates_truncates_and_resets_through_the_pump() {
        let directory = tempfile::tempdir().unwrap();
        let pump = LogPump::spawn(0);
        pump.reconcile(wanted(directory.path(), true)).await;
        pump.assign_epoch(KEY, 3, 0).await.unwrap();
        let wake = waiter(&pump);
        let batches = vec![batch(2, 1), batch(1, 2)];
        // Verbatim: the batches must carry their offsets (the test builds them at 0).
        let error = pump.append_replicated(KEY, batches).await.unwrap_err();
        assert!(matches!(
            error,
            StorageError::NonContiguousReplication {
                expected: 2,
                found: 0
            }
        ));
        assert!(wake.try_recv().is_err());
        // A leader log to copy from: produce there, fetch to the end, append here.
        let leader = LogPump::spawn(1);
        leader
            .reconcile(wanted(&directory.path().join("leader"), true))
            .await;
        produce(&leader, 2, 3).await;
        produce(&leader, 1, 5).await;
        let fetched = leader.read_with(read(0, ReadUpto::LogEnd)).await.unwrap();
        let batches: Vec<CheckedBatch> = BatchSplitter::new(fetched.bytes)
            .map(|bytes| CheckedBatch::new(bytes).unwrap())
            .collect();
        let info = pump.append_replicated(KEY, batches).await.unwrap();
        assert_eq!((info.base_offset, info.last_offset), (0, 2));
        assert!(
            wake.try_recv().is_ok(),
            "a follower's append wakes long polls"
        );
        let state = pump.replica_state(KEY).await.unwrap();
        let epochs = [
            EpochEntry {
                epoch: 3,
                start_offset: 0,
            },
            EpochEntry {
                epoch: 5,
                start_offset: 2,
            },
        ];
        assert_eq!(state.epochs, epochs);
        assert_eq!(
            state.epochs,
            leader.replica_state(KEY).await.unwrap().epochs
        );
        // Truncation cuts the epoch cache from the end.
        assert_eq!(pump.truncate_to(KEY, 2).await.unwrap(), 2);
        let state = pump.replica_state(KEY).await.unwrap();
        assert_eq!(state.epochs, epochs[..1]);
        assert_eq!(state.log_end_offset, 2);
        assert_eq!(pump.set_high_watermark(KEY, 2).await.unwrap(), 2);
        assert_eq!(pump.advance_log_start(KEY, 7).await.unwrap(), 2);
        pump.reset_to(KEY, 50).await.unwrap();
        let state = pump.replica_state(KEY).await.unwrap();
        assert_eq!(
            (
                state.log_start_offset,
                state.high_watermark,
                state.log_end_offset
            ),
            (50, 50, 50)
        );
        assert!(state.epochs.is_empty());
        leader.shutdown().await;
        pump.shutdown().await;
    }

    #[compio::test]
    async fn reconcile_switches_modes_and_reopens_at_the_persisted_high_watermark() {
        let directory = tempfile::tempdir().unwrap();
        let pump = LogPump::spawn(0);
        pump.reconcile(wanted(directory.path(), false)).await;
        produce(&pump, 2, 1).await;
        // Single node: the high watermark is the log end, and cannot be set.
        assert_eq!(pump.set_high_watermark(KEY, 0).await.unwrap(), 2);
        pump.reconcile(wanted(directory.path(), true)).await;
        produce(&pump, 3, 1).await;
        assert_eq!(pump.offsets(KEY).await.unwrap().high_watermark, 2);
        assert_eq!(pump.set_high_watermark(KEY, 4).await.unwrap(), 4);
        // A clean shutdown persists it; the reopened replicated log starts there.
        pump.shutdown().await;
        let pump = LogPump::spawn(0);
        pump.reconcile(wanted(directory.path(), true)).await;
        let offsets = pump.offsets(KEY).await.unwrap();
        assert_eq!((offsets.high_watermark, offsets.log_end_offset), (4, 5));
        // Back to one replica: the high watermark follows the log end again, waking waiters.
        let wake = waiter(&pump);
        pump.reconcile(wanted(directory.path(), false)).await;
        assert!(wake.try_recv().is_ok());
        assert_eq!(pump.offsets(KEY).await.unwrap().high_watermark, 5);
        pump.shutdown().await;
    }
}
