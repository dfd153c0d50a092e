//! Replication's commands (issue 16): the [`LogPump`] methods the replica manager calls, and
//! the pump's side of them. All but [`LogPump::replica_state`] are mutations: they run alone,
//! in arrival order, after the tick's appends. The log side is `storage/replica.rs`.
//!
//! A follower's fetch answer is one mutation, [`LogPump::follow_leader`], whatever the number
//! of partitions in it: per partition, in order, append → high watermark → log start, each
//! step's result reported on its own (module docs of `pump/mod.rs` say why).
//!
//! Waiters: a follower's append signals the partition's waiters as a leader's does (a follower
//! of this follower, after a leader change, long-polls for the log end); a high watermark that
//! grows signals them too (consumers of a replicated partition wait for it).
//!
//! Runs on the pump's shard; the handle methods on any task of that shard.
use super::query::replica_log_state;
use super::task::Pump;
use super::{
    FollowerOutcome, FollowerUpdate, LogPump, Mutation, PartitionKey, Query, ReplicaLogState,
    ReplicaMutation, stopped,
};
use crate::limits::REPLICA_FETCH_PARTITIONS_MAX;
use crate::storage::{PartitionLog, StorageError};

impl LogPump {
    /// A follower applies its leader's answer, all its partitions in one command. Per
    /// partition, in order (each step runs whether the one before failed or not):
    /// 1. the batches appended verbatim: the first must start at the log end, each next one
    ///    right after the previous (see `PartitionLog::append_replicated`); the log's flush
    ///    policy applies as for a leader's append (Strict: synced before the answer);
    /// 2. the high watermark set to `min(leader's, log end)` — the log end before the append
    ///    when the append failed — clamped into `[log start, log end]`;
    /// 3. the log start moved up to the leader's (at most to the high watermark) when that is
    ///    positive.
    ///
    /// The partition's long polls are woken when it grew or its high watermark did. Returns
    /// one outcome per update, in order.
    ///
    /// # Errors
    /// Per partition, in its outcome: `UnknownPartition` for every step; the append's
    /// `NonContiguousReplication`, `EmptyAppend`, `TooManyBatches`, `MessageTooLarge`,
    /// `Offline`, `Io`, `SegmentLimit`; the log start's `Offline`, `Io`.
    ///
    /// # Panics
    /// With more than `REPLICA_FETCH_PARTITIONS_MAX` updates (more than a fetch names).
    pub async fn follow_leader(&self, updates: Vec<FollowerUpdate>) -> Vec<FollowerOutcome> {
        let count = updates.len();
        assert!(
            count <= REPLICA_FETCH_PARTITIONS_MAX,
            "{count} partitions in one answer"
        );
        // Kept to answer for a pump that is gone (the updates travel with the command).
        let steps: Vec<FollowerSteps> = updates.iter().map(FollowerSteps::of).collect();
        let outcomes = self
            .mutate(|reply| Mutation::Replica(ReplicaMutation::FollowLeader { updates, reply }))
            .await;
        let outcomes = outcomes.unwrap_or_else(|| {
            let failed = |steps: &FollowerSteps| steps.failed(stopped);
            steps.iter().map(failed).collect()
        });
        assert_eq!(outcomes.len(), count, "one outcome per partition");
        outcomes
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
}

/// Which steps of [`LogPump::follow_leader`] an update asks for besides the high watermark.
#[derive(Debug, Clone, Copy)]
struct FollowerSteps {
    append: bool,
    log_start: bool,
}

impl FollowerSteps {
    fn of(update: &FollowerUpdate) -> Self {
        Self {
            append: !update.batches.is_empty(),
            log_start: update.leader_log_start_offset > 0,
        }
    }

    /// The outcome when every step failed with `error()` (the pump is gone, or the log is not
    /// this shard's).
    fn failed(self, error: impl Fn() -> StorageError) -> FollowerOutcome {
        FollowerOutcome {
            appended: self.append.then(|| Err(error())),
            high_watermark: Err(error()),
            log_start_offset: self.log_start.then(|| Err(error())),
        }
    }
}

impl Pump {
    /// Runs one of replication's mutations and sends its reply.
    pub(super) async fn replica(&mut self, mutation: ReplicaMutation) {
        match mutation {
            ReplicaMutation::FollowLeader { updates, reply } => {
                let mut outcomes = Vec::with_capacity(updates.len());
                for update in updates {
                    outcomes.push(self.follow_leader(update).await);
                }
                let _ = reply.send(outcomes);
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
        }
    }

    fn log_mut(&mut self, key: PartitionKey) -> Result<&mut PartitionLog, StorageError> {
        self.logs
            .get_mut(&key)
            .ok_or(StorageError::UnknownPartition)
    }

    /// One partition of [`LogPump::follow_leader`]: append, high watermark, log start.
    async fn follow_leader(&mut self, update: FollowerUpdate) -> FollowerOutcome {
        let steps = FollowerSteps::of(&update);
        let FollowerUpdate {
            key,
            batches,
            leader_high_watermark,
            leader_log_start_offset,
        } = update;
        let Ok(log) = self.log_mut(key) else {
            return steps.failed(|| StorageError::UnknownPartition);
        };
        let end_before = log.log_end_offset();
        let high_watermark_before = log.high_watermark();
        let appended = if batches.is_empty() {
            None
        } else {
            let result = log.append_replicated(batches).await;
            Some(result.map(|_| replica_log_state(log)))
        };
        // The follower's high watermark is min(leader's, own log end) (follower.rs): the log
        // end it had when the append failed.
        let end = match appended {
            Some(Err(_)) => end_before,
            _ => log.log_end_offset(),
        };
        let high_watermark = log.move_high_watermark(leader_high_watermark.min(end));
        let log_start_offset = if steps.log_start {
            Some(log.advance_log_start(leader_log_start_offset).await)
        } else {
            None
        };
        assert!(
            high_watermark <= log.log_end_offset(),
            "HW past the log end"
        );
        if matches!(appended, Some(Ok(_))) || high_watermark > high_watermark_before {
            self.notify(&[key]);
        }
        FollowerOutcome {
            appended,
            high_watermark: Ok(high_watermark),
            log_start_offset,
        }
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
        AppendRequest, CheckedBatch, EpochEntry, FollowerOutcome, FollowerUpdate, LogConfig,
        LogPump, LogSpec, PartitionKey, ReadArgs, ReadUpto, StorageError, WantedLogs,
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
        waiter_of(pump, KEY)
    }

    fn waiter_of(pump: &LogPump, key: PartitionKey) -> flume::Receiver<()> {
        let (waker, wake) = flume::bounded(1);
        assert!(pump.register_waiter(&[key], &waker));
        wake
    }

    /// A leader log to copy from, under `directory`: 2 records in `epochs[0]`, then 1 in
    /// `epochs[1]`; and every batch of it, as a follower's fetch gets them.
    async fn leader_with(directory: &Path, epochs: [i32; 2]) -> (LogPump, Vec<CheckedBatch>) {
        let leader = LogPump::spawn(1);
        leader
            .reconcile(wanted(&directory.join("leader"), true))
            .await;
        produce(&leader, 2, epochs[0]).await;
        produce(&leader, 1, epochs[1]).await;
        let fetched = leader.read_with(read(0, ReadUpto::LogEnd)).await.unwrap();
        let batches = BatchSplitter::new(fetched.bytes)
            .map(|bytes| CheckedBatch::new(bytes).unwrap())
            .collect();
        (leader, batches)
    }

    fn update(
        key: PartitionKey,
        batches: Vec<CheckedBatch>,
        leader_high_watermark: i64,
        leader_log_start_offset: i64,
    ) -> FollowerUpdate {
        FollowerUpdate {
            key,
            batches,
            leader_high_watermark,
            leader_log_start_offset,
        }
    }

    async fn follow_one(pump: &LogPump, update: FollowerUpdate) -> FollowerOutcome {
        let mut outcomes = pump.follow_leader(vec![update]).await;
        assert_eq!(outcomes.len(), 1);
        outcomes.pop().unwrap()
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
        let refused = follow_one(&pump, update(KEY, batches, 0, 0)).await;
        assert!(matches!(
            refused.appended,
            Some(Err(StorageError::NonContiguousReplication {
                expected: 2,
                found: 0
            }))
        ));
        assert!(wake.try_recv().is_err());
        // A leader log to copy from: produce there, fetch to the end, append here.
        let (leader, batches) = leader_with(directory.path(), [3, 5]).await;
        let appended = follow_one(&pump, update(KEY, batches, 0, 0)).await;
        let appended = appended.appended.unwrap().unwrap();
        assert_eq!(appended.log_end_offset, 3);
        assert!(
            wake.try_recv().is_ok(),
            "a follower's append wakes long polls"
        );
        let state = pump.replica_state(KEY).await.unwrap();
        assert_eq!(appended, state, "the state right after the append");
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
        // The log start follows the leader's only up to the high watermark.
        let followed = follow_one(&pump, update(KEY, Vec::new(), 2, 7)).await;
        assert!(followed.appended.is_none());
        assert_eq!(followed.high_watermark.unwrap(), 2);
        assert_eq!(followed.log_start_offset.unwrap().unwrap(), 2);
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

    /// One command for a whole answer: each partition's steps run in order (append → HW →
    /// log start) and fail on their own; the HW is clamped into the log.
    #[compio::test]
    async fn follow_leader_applies_each_partition_of_an_answer_on_its_own() {
        let directory = tempfile::tempdir().unwrap();
        let other = PartitionKey {
            partition: 1,
            ..KEY
        };
        let unknown = PartitionKey {
            partition: 9,
            ..KEY
        };
        let pump = LogPump::spawn(0);
        let mut logs = wanted(directory.path(), true);
        let spec = LogSpec {
            directory: directory.path().join("t-1"),
            config: Some(LogConfig::default()),
            replicated: true,
        };
        logs.insert(other, spec);
        pump.reconcile(logs).await;
        let (leader, batches) = leader_with(directory.path(), [1, 1]).await;
        assert_eq!(batches.len(), 2);
        let (wake, wake_other) = (waiter(&pump), waiter_of(&pump, other));
        let outcomes = pump
            .follow_leader(vec![
                // Appended; the HW clamped to the new log end; then the log start follows the
                // leader's, which it can only because the HW moved first.
                update(KEY, batches.clone(), 10, 2),
                // Not where the log ends (0): refused, but the HW and log start still follow
                // (the HW capped by the log end the append left).
                update(other, batches[1..].to_vec(), 3, 1),
                update(unknown, batches[..1].to_vec(), 1, 0),
            ])
            .await;
        let [appended, refused, unknown] = <[FollowerOutcome; 3]>::try_from(outcomes).unwrap();
        let state = appended.appended.unwrap().unwrap();
        assert_eq!((state.log_start_offset, state.log_end_offset), (0, 3));
        assert_eq!(state.high_watermark, 0, "the state before the HW moved");
        assert_eq!(appended.high_watermark.unwrap(), 3);
        assert_eq!(appended.log_start_offset.unwrap().unwrap(), 2);
        assert!(wake.try_recv().is_ok());
        assert!(matches!(
            refused.appended,
            Some(Err(StorageError::NonContiguousReplication {
                expected: 0,
                found: 2
            }))
        ));
        assert_eq!(refused.high_watermark.unwrap(), 0);
        assert_eq!(refused.log_start_offset.unwrap().unwrap(), 0);
        assert!(wake_other.try_recv().is_err(), "nothing grew");
        assert!(matches!(
            unknown.appended,
            Some(Err(StorageError::UnknownPartition))
        ));
        assert!(matches!(
            unknown.high_watermark,
            Err(StorageError::UnknownPartition)
        ));
        assert!(unknown.log_start_offset.is_none(), "no log start asked");
        let state = pump.replica_state(KEY).await.unwrap();
        assert_eq!(
            (
                state.log_start_offset,
                state.high_watermark,
                state.log_end_offset
            ),
            (2, 3, 3)
        );
        // A leader's HW below this log's start (a racing value) is clamped up to the start,
        // and lowering it wakes nobody.
        let wake = waiter(&pump);
        let clamped = follow_one(&pump, update(KEY, Vec::new(), 1, 0)).await;
        assert!(clamped.appended.is_none());
        assert_eq!(clamped.high_watermark.unwrap(), 2);
        assert!(clamped.log_start_offset.is_none());
        assert!(wake.try_recv().is_err());
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
