//! The replication side of [`PartitionLog`] (issue 16): the mode switch (the high watermark
//! follows the log end, or replication sets it), the follower's verbatim append of its
//! leader's batches, the leader's epoch assignment, the follower's log start following the
//! leader's, and the periodic high-watermark checkpoint.
//!
//! A follower's copy must be byte-identical to its leader's, so [`PartitionLog::append_replicated`]
//! patches nothing: each batch's base offset, leader epoch and timestamps are the leader's,
//! and they must continue the log exactly (the first batch at the log end, each next one right
//! after the previous). It learns what the leader's append path learned: the leader-epoch
//! cache from each batch's partition leader epoch, the producer table from each idempotent
//! batch (no sequence checks: the leader made them; Kafka's REPLICATION origin), so a follower
//! that becomes leader deduplicates a producer's retry. It checks what Kafka checks on a
//! follower: framing and CRC (the batches are [`CheckedBatch`]es), the segment size, offsets —
//! not `max.message.bytes` nor timestamps, which are the leader's to enforce.
//!
//! Does not own: what to fetch, when to truncate, which high watermark (src/replication/).
//! Runs on the shard that owns the partition.
use bytes::{Bytes, BytesMut};

use super::batch::CheckedBatch;
use super::epoch::{EpochEntry, LeaderEpochCache};
use super::producer_state::ProducerBatch;
use super::{AppendInfo, PartitionLog, StorageError};
use crate::limits::{APPEND_BATCHES_MAX, APPEND_SIZE_MAX, HIGH_WATERMARK_CHECKPOINT_INTERVAL_MS};
use crate::protocol::record_batch::HEADER_SIZE;

/// What the checks of one replicated append found, before anything is written.
struct ReplicatedPlan {
    size: u64,
    record_count: i64,
    base_offset: i64,
    /// The log end once written.
    next_offset: i64,
    /// A copy of the epoch cache with the batches' newer epochs, when there are any.
    epochs: Option<LeaderEpochCache>,
}

impl PartitionLog {
    /// Whether replication sets the high watermark (it no longer follows the log end).
    #[must_use]
    pub fn is_replicated(&self) -> bool {
        !self.high_watermark_follows_log_end
    }

    /// Switches an open log between single-node and replicated mode. Into replicated mode the
    /// high watermark stays where it is (the log end: everything was committed on one node);
    /// back to single-node it follows the log end again.
    pub fn set_replicated(&mut self, replicated: bool) {
        self.set_high_watermark_follows_log_end(!replicated);
        assert_eq!(self.is_replicated(), replicated, "mode switch");
    }

    /// The leader-epoch cache, oldest first.
    #[must_use]
    pub fn epoch_entries(&self) -> &[EpochEntry] {
        self.epochs.entries()
    }

    /// Replication's high watermark, clamped into `[log start, log end]` (a value computed
    /// before a truncation or a retention may lie outside; that is a race, not a bug). May
    /// lower it (a follower takes its leader's). Single-node mode: changes nothing (the high
    /// watermark is the log end there). Returns the high watermark now in force.
    pub fn move_high_watermark(&mut self, high_watermark: i64) -> i64 {
        if self.is_replicated() {
            let clamped = high_watermark.clamp(self.log_start_offset, self.log_end_offset());
            self.set_high_watermark(clamped);
        }
        assert!(
            self.high_watermark >= self.log_start_offset,
            "hw below log start"
        );
        self.high_watermark
    }

    /// Writes the control file when this replicated log's high watermark moved since it was
    /// last written and `HIGH_WATERMARK_CHECKPOINT_INTERVAL_MS` has passed (housekeeping).
    /// Returns whether it wrote.
    ///
    /// # Errors
    /// `Io`.
    pub async fn maybe_persist_high_watermark(&mut self) -> Result<bool, StorageError> {
        let moved = self.high_watermark != self.high_watermark_persisted.get();
        let elapsed = self
            .clock
            .now_ms()
            .saturating_sub(self.high_watermark_persisted_at_ms.get());
        let due = elapsed >= i64::try_from(HIGH_WATERMARK_CHECKPOINT_INTERVAL_MS).unwrap_or(0);
        if !self.is_replicated() || !moved || !due || self.offline {
            return Ok(false);
        }
        self.write_control(false).await?;
        assert_eq!(self.high_watermark_persisted.get(), self.high_watermark);
        Ok(true)
    }

    /// A follower's append of its leader's `batches`, verbatim (module docs), then the flush
    /// policy as for any append. All or nothing: a refused append leaves the log untouched.
    ///
    /// # Errors
    /// `NonContiguousReplication` when the batches do not continue the log; `EmptyAppend`,
    /// `TooManyBatches`, `MessageTooLarge` (a batch larger than a segment, or more than one
    /// append's bytes); `Offline`, `Io`, `SegmentLimit`.
    pub async fn append_replicated(
        &mut self,
        batches: Vec<CheckedBatch>,
    ) -> Result<AppendInfo, StorageError> {
        // A failed background flush takes the log offline; `ensure_online` below reports it.
        if let Err(error) = self.settle_pending_flush(false).await {
            tracing::error!(%error, "background flush of a rolled segment failed");
        }
        self.ensure_online()?;
        let plan = self.check_replicated(&batches)?;
        let now_ms = self.clock.now_ms();
        self.maybe_expire_producers(now_ms);
        let offset_count = plan.next_offset - plan.base_offset;
        self.maybe_roll_for(plan.size, offset_count, now_ms).await?;
        // Re-check after the await: a roll leaves the log end where it was.
        assert_eq!(self.log_end_offset(), plan.base_offset, "log end moved");
        if let Some(epochs) = &plan.epochs {
            // Before the data, as the leader's append path does (append.rs).
            self.write_epoch_checkpoint(epochs).await?;
        }
        let mut heads = BytesMut::with_capacity(batches.len() * HEADER_SIZE);
        let mut parts: Vec<Bytes> = Vec::with_capacity(batches.len());
        for batch in &batches {
            heads.extend_from_slice(batch.get(..HEADER_SIZE).unwrap_or_default());
            parts.push(batch.bytes().clone());
        }
        let position = self.active().size;
        self.write_parts(parts, position).await?;
        self.index_written(&heads);
        assert_eq!(
            self.log_end_offset(),
            plan.next_offset,
            "log end after append"
        );
        let info = self.append_replicated_complete(&batches, plan);
        // As `append`: a failed flush fails the append (the log went offline), though the
        // bytes are written; the follower refetches after the log is reopened.
        self.apply_flush_policy().await?;
        Ok(info)
    }

    /// After the write of [`Self::append_replicated`]: the epoch cache and the producer table
    /// learn the batches, and the accounting moves.
    fn append_replicated_complete(
        &mut self,
        batches: &[CheckedBatch],
        plan: ReplicatedPlan,
    ) -> AppendInfo {
        if let Some(epochs) = plan.epochs {
            self.epochs = epochs;
        }
        for batch in batches {
            let header = batch.header();
            if let Some(producer) = ProducerBatch::from_header(&header) {
                // The leader's timestamp: its max timestamp, LogAppendTime already patched in.
                self.producers
                    .update(&producer, header.base_offset(), header.max_timestamp());
            }
        }
        self.unflushed_records = self
            .unflushed_records
            .saturating_add(u64::try_from(plan.record_count).unwrap_or(0));
        self.advance_high_watermark();
        self.check_invariants();
        AppendInfo {
            base_offset: plan.base_offset,
            last_offset: plan.next_offset - 1,
            log_append_time_ms: -1,
            record_count: plan.record_count,
            duplicate: false,
            log_start_offset: self.log_start_offset,
        }
    }

    /// The checks of [`Self::append_replicated`]; writes nothing.
    fn check_replicated(&self, batches: &[CheckedBatch]) -> Result<ReplicatedPlan, StorageError> {
        let count = batches.len();
        if count == 0 {
            return Err(StorageError::EmptyAppend);
        }
        if count > APPEND_BATCHES_MAX {
            return Err(StorageError::TooManyBatches {
                count,
                count_max: APPEND_BATCHES_MAX,
            });
        }
        let size_max = self.config.segment_size_effective();
        let base_offset = self.log_end_offset();
        let mut plan = ReplicatedPlan {
            size: 0,
            record_count: 0,
            base_offset,
            next_offset: base_offset,
            epochs: None,
        };
        let mut latest_epoch = self.epochs.latest_epoch().unwrap_or(-1);
        for batch in batches {
            let header = batch.header();
            if header.base_offset() != plan.next_offset {
                return Err(StorageError::NonContiguousReplication {
                    expected: plan.next_offset,
                    found: header.base_offset(),
                });
            }
            let size = batch.len() as u64;
            if size > size_max {
                return Err(StorageError::MessageTooLarge { size, size_max });
            }
            let epoch = header.partition_leader_epoch();
            if epoch > latest_epoch {
                let epochs = plan.epochs.get_or_insert_with(|| self.epochs.clone());
                epochs.assign(epoch, plan.next_offset);
                latest_epoch = epoch;
            }
            plan.size += size;
            plan.record_count += i64::from(header.records_count());
            plan.next_offset = header.last_offset() + 1;
        }
        if plan.size > APPEND_SIZE_MAX {
            return Err(StorageError::MessageTooLarge {
                size: plan.size,
                size_max: APPEND_SIZE_MAX,
            });
        }
        assert!(plan.next_offset > plan.base_offset, "offsets grow");
        Ok(plan)
    }

    /// A new leader records that `epoch` starts at `start_offset` (its log end; Kafka's
    /// `makeLeader`), persisting the checkpoint. An epoch not newer than the latest changes
    /// nothing.
    ///
    /// # Errors
    /// `OffsetOutOfRange` when `start_offset` lies outside `[log start, log end]`;
    /// `EpochOutOfOrder` when it lies before the latest epoch's start; `Offline`, `Io`.
    pub async fn assign_epoch(
        &mut self,
        epoch: i32,
        start_offset: i64,
    ) -> Result<(), StorageError> {
        self.ensure_online()?;
        let log_end = self.log_end_offset();
        if start_offset < self.log_start_offset || start_offset > log_end {
            return Err(StorageError::OffsetOutOfRange {
                offset: start_offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: log_end,
            });
        }
        let latest = self.epochs.entries().last().copied();
        if latest.is_some_and(|latest| epoch <= latest.epoch) || epoch < 0 {
            return Ok(());
        }
        if let Some(latest) = latest
            && start_offset < latest.start_offset
        {
            return Err(StorageError::EpochOutOfOrder {
                epoch,
                start_offset,
                latest_epoch: latest.epoch,
                latest_start_offset: latest.start_offset,
            });
        }
        let mut epochs = self.epochs.clone();
        let changed = epochs.assign(epoch, start_offset);
        assert!(changed, "a newer epoch is assigned");
        self.write_epoch_checkpoint(&epochs).await?;
        self.epochs = epochs;
        assert_eq!(self.latest_epoch(), Some(epoch), "epoch assigned");
        Ok(())
    }

    /// A follower follows its leader's log start (retention, DeleteRecords): moves its own to
    /// `offset` capped at its high watermark, when that is higher, deleting whole segments
    /// below as retention does. Returns the log start now in force.
    ///
    /// # Errors
    /// `Offline`, `Io`.
    pub async fn advance_log_start(&mut self, offset: i64) -> Result<i64, StorageError> {
        self.ensure_online()?;
        let target = offset.min(self.high_watermark);
        if target > self.log_start_offset {
            self.delete_records_before(target).await?;
        }
        assert!(
            self.log_start_offset <= self.high_watermark,
            "log start past hw"
        );
        Ok(self.log_start_offset)
    }

    /// A follower's truncation (its tail diverged from its leader's): an offset at or past the
    /// log end changes nothing; one below the log start empties the log and restarts it there
    /// (Kafka's `truncateFullyAndStartAt` for a target below the first segment); otherwise
    /// [`Self::truncate_to`]. Returns the log end now.
    ///
    /// # Errors
    /// `OffsetOutOfRange` for a negative offset; `Offline`, `Io`.
    pub async fn truncate_replica_to(&mut self, offset: i64) -> Result<i64, StorageError> {
        self.ensure_online()?;
        if offset >= self.log_end_offset() {
            // Nothing to cut, but epochs starting at the log end (a former leader's epoch
            // without records) go: see `truncate_to`.
            return self.truncate_to(self.log_end_offset()).await;
        }
        if offset < self.log_start_offset {
            self.reset_to(offset).await?;
            return Ok(self.log_end_offset());
        }
        self.truncate_to(offset).await
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::rc::Rc;
    use std::time::Duration;

    use bytes::{Bytes, BytesMut};

    use crate::protocol::record_batch::BatchSplitter;
    use crate::storage::control::CONTROL_FILE_NAME;
    use crate::storage::testing::{ProducerFields, build_batch_sized, build_producer_batch};
    use crate::storage::{
        CheckedBatch, Clock, EpochEntry, FlushPolicy, LogConfig, ManualClock, PartitionLog,
        StorageError, TimestampType,
    };

    const NOW: i64 = 1_700_000_000_000;

    fn config(segment_bytes: u64) -> LogConfig {
        LogConfig {
            segment_bytes,
            ..LogConfig::default()
        }
    }

    async fn open(path: &Path, config: LogConfig, replicated: bool) -> PartitionLog {
        let clock: Rc<dyn Clock> = Rc::new(ManualClock::new(NOW));
        PartitionLog::open_in_mode(path.to_path_buf(), config, clock, replicated)
            .await
            .unwrap()
    }

    /// The leader's batches from `offset` to its log end, as a follower's fetch gets them.
    async fn fetch(leader: &PartitionLog, offset: i64, max_bytes: u32) -> Vec<CheckedBatch> {
        let slice = leader
            .read_until(offset, max_bytes, true, leader.log_end_offset())
            .await
            .unwrap();
        let mut batches = Vec::new();
        for range in &slice.ranges {
            let bytes = range.read_to_bytes().await.unwrap();
            for batch in BatchSplitter::new(bytes) {
                batches.push(CheckedBatch::new(batch).unwrap());
            }
        }
        batches
    }

    /// Every segment's bytes, concatenated in offset order.
    fn log_bytes(path: &Path) -> Vec<u8> {
        let mut names: Vec<_> = std::fs::read_dir(path)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.ends_with(".log"))
            .collect();
        names.sort();
        names
            .iter()
            .flat_map(|name| std::fs::read(path.join(name)).unwrap())
            .collect()
    }

    fn producer_batch(producer_id: i64, base_sequence: i32, records: i32) -> BytesMut {
        let producer = ProducerFields {
            producer_id,
            epoch: 0,
            base_sequence,
        };
        build_producer_batch(producer, records, NOW)
    }

    #[compio::test]
    async fn a_follower_copy_is_byte_identical_to_its_leader() {
        let directory = tempfile::tempdir().unwrap();
        let (leader_path, follower_path) = (directory.path().join("l"), directory.path().join("f"));
        // LogAppendTime on the leader patches timestamps; the follower (CreateTime) must not.
        let leader_config = LogConfig {
            message_timestamp_type: TimestampType::LogAppendTime,
            ..config(400)
        };
        let mut leader = open(&leader_path, leader_config, true).await;
        let mut follower = open(&follower_path, config(400), true).await;
        let mut sequence = 0;
        for seed in 0..12u64 {
            let epoch = i32::try_from(seed / 4).unwrap() + 1;
            let batch = if seed % 3 == 0 {
                sequence += 1;
                producer_batch(9, sequence - 1, 1)
            } else {
                build_batch_sized(2, NOW, 40, seed)
            };
            leader.append(vec![batch], epoch).await.unwrap();
        }
        assert!(leader.segment_count() > 2, "the leader rolled");
        // Fetch in small pieces, as a follower's fetches come.
        while follower.log_end_offset() < leader.log_end_offset() {
            let batches = fetch(&leader, follower.log_end_offset(), 250).await;
            let info = follower.append_replicated(batches).await.unwrap();
            assert!(!info.duplicate);
            assert_eq!(info.last_offset + 1, follower.log_end_offset());
        }
        assert_eq!(log_bytes(&follower_path), log_bytes(&leader_path));
        assert_eq!(follower.epoch_entries(), leader.epoch_entries());
        assert_eq!(follower.producer_state(), leader.producer_state());
        assert!(follower.segment_count() > 2, "the follower rolled too");
        follower.verify_against_scan().await.unwrap();
        // The epochs survive a reopen (the checkpoint was written).
        let epochs = follower.epoch_entries().to_vec();
        follower.close().await.unwrap();
        let follower = open(&follower_path, config(400), true).await;
        assert_eq!(follower.epoch_entries(), epochs.as_slice());
        assert_eq!(epochs.len(), 3);
    }

    #[compio::test]
    async fn a_non_contiguous_replicated_append_is_refused_whole() {
        let directory = tempfile::tempdir().unwrap();
        let mut leader = open(&directory.path().join("l"), config(1 << 20), true).await;
        for seed in 0..4 {
            let batch = build_batch_sized(2, NOW, 30, seed);
            leader.append(vec![batch], 1).await.unwrap();
        }
        let batches = fetch(&leader, 0, 1 << 20).await;
        assert_eq!(batches.len(), 4);
        let mut follower = open(&directory.path().join("f"), config(1 << 20), true).await;
        // Starting past the log end.
        let error = follower
            .append_replicated(batches[1..].to_vec())
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                StorageError::NonContiguousReplication {
                    expected: 0,
                    found: 2
                }
            ),
            "{error}"
        );
        // A gap inside the append: nothing of it is written.
        let gap = vec![batches[0].clone(), batches[2].clone()];
        let error = follower.append_replicated(gap).await.unwrap_err();
        assert!(
            matches!(
                error,
                StorageError::NonContiguousReplication {
                    expected: 2,
                    found: 4
                }
            ),
            "{error}"
        );
        assert_eq!(follower.log_end_offset(), 0);
        assert_eq!(follower.size_bytes(), 0);
        assert!(follower.append_replicated(Vec::new()).await.is_err());
        // A repeat of what it has is refused too (a fetch answered twice).
        follower
            .append_replicated(batches[..2].to_vec())
            .await
            .unwrap();
        let error = follower
            .append_replicated(batches[1..].to_vec())
            .await
            .unwrap_err();
        assert!(matches!(
            error,
            StorageError::NonContiguousReplication {
                expected: 4,
                found: 2
            }
        ));
        assert_eq!(follower.log_end_offset(), 4);
    }

    #[compio::test]
    async fn a_follower_that_becomes_leader_deduplicates_a_retry() {
        let directory = tempfile::tempdir().unwrap();
        let mut leader = open(&directory.path().join("l"), config(1 << 20), true).await;
        for sequence in 0..3 {
            let batch = producer_batch(42, sequence * 2, 2);
            leader.append(vec![batch], 1).await.unwrap();
        }
        let mut follower = open(&directory.path().join("f"), config(1 << 20), true).await;
        let batches = fetch(&leader, 0, 1 << 20).await;
        follower.append_replicated(batches).await.unwrap();
        // The leader dies before answering the last produce; the producer retries on the new
        // leader, which must answer with the original offsets and write nothing.
        follower
            .assign_epoch(2, follower.log_end_offset())
            .await
            .unwrap();
        let retry = follower
            .append(vec![producer_batch(42, 4, 2)], 2)
            .await
            .unwrap();
        assert!(retry.duplicate);
        assert_eq!((retry.base_offset, retry.last_offset), (4, 5));
        assert_eq!(follower.log_end_offset(), 6);
        // The next sequence is in order; a gap is refused.
        let next = follower
            .append(vec![producer_batch(42, 6, 1)], 2)
            .await
            .unwrap();
        assert_eq!(next.base_offset, 6);
        let gap = follower.append(vec![producer_batch(42, 9, 1)], 2).await;
        assert!(matches!(gap, Err(StorageError::Producer(_))));
        assert_eq!(follower.latest_epoch(), Some(2));
    }

    #[compio::test]
    async fn the_high_watermark_survives_close_and_crash_as_far_as_it_was_written() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("t-0");
        let clock = Rc::new(ManualClock::new(NOW));
        let dyn_clock: Rc<dyn Clock> = clock.clone();
        let mut log = PartitionLog::open_in_mode(path.clone(), config(1 << 20), dyn_clock, true)
            .await
            .unwrap();
        for seed in 0..5 {
            log.append(vec![build_batch_sized(1, NOW, 30, seed)], 1)
                .await
                .unwrap();
        }
        // Replicated: the high watermark stays until replication moves it.
        assert_eq!(log.high_watermark(), 0);
        assert_eq!(log.move_high_watermark(3), 3);
        assert!(
            !log.maybe_persist_high_watermark().await.unwrap(),
            "not due"
        );
        clock.advance(Duration::from_secs(6));
        assert!(log.maybe_persist_high_watermark().await.unwrap());
        assert!(
            !log.maybe_persist_high_watermark().await.unwrap(),
            "unchanged"
        );
        assert_eq!(log.move_high_watermark(5), 5);
        // A crash: no close, so 5 was never written.
        drop(log);
        let mut log = open(&path, config(1 << 20), true).await;
        assert_eq!(log.high_watermark(), 3);
        assert_eq!(log.log_end_offset(), 5);
        assert_eq!(log.move_high_watermark(5), 5);
        log.close().await.unwrap();
        let log = open(&path, config(1 << 20), true).await;
        assert_eq!(log.high_watermark(), 5);
        log.close().await.unwrap();
        // Single-node mode ignores it: the high watermark is the log end.
        let log = open(&path, config(1 << 20), false).await;
        assert_eq!(log.high_watermark(), 5);
        assert!(!log.is_replicated());
        log.close().await.unwrap();
        // Cut the last batch off the file: the persisted 5 is clamped to the new log end.
        let file = path.join("00000000000000000000.log");
        let bytes = std::fs::read(&file).unwrap();
        std::fs::write(&file, &bytes[..bytes.len() - 10]).unwrap();
        let log = open(&path, config(1 << 20), true).await;
        assert_eq!(log.log_end_offset(), 4);
        assert_eq!(log.high_watermark(), 4);
        log.close().await.unwrap();
        // A control file from before replication: the log start (conservative).
        let control = path.join(CONTROL_FILE_NAME);
        let text = std::fs::read_to_string(&control).unwrap();
        let old: String = text
            .lines()
            .take(4)
            .map(|line| format!("{line}\n"))
            .collect();
        std::fs::write(&control, old).unwrap();
        let log = open(&path, config(1 << 20), true).await;
        assert_eq!(log.high_watermark(), log.log_start_offset());
        log.close().await.unwrap();
        std::fs::write(
            &control,
            text.lines().take(4).collect::<Vec<_>>().join("\n"),
        )
        .unwrap();
        let log = open(&path, config(1 << 20), false).await;
        assert_eq!(log.high_watermark(), 4, "single node: the log end");
    }

    #[compio::test]
    async fn high_watermark_moves_clamp_and_single_node_ignores_them() {
        let directory = tempfile::tempdir().unwrap();
        let mut log = open(&directory.path().join("t-0"), config(1 << 20), false).await;
        log.append(vec![build_batch_sized(3, NOW, 30, 1)], 1)
            .await
            .unwrap();
        assert_eq!(log.move_high_watermark(1), 3, "single node: log end");
        log.set_replicated(true);
        assert_eq!(
            log.high_watermark(),
            3,
            "committed on one node stays committed"
        );
        log.append(vec![build_batch_sized(2, NOW, 30, 2)], 1)
            .await
            .unwrap();
        assert_eq!(log.high_watermark(), 3);
        assert_eq!(log.move_high_watermark(99), 5);
        assert_eq!(log.move_high_watermark(-7), 0);
        log.set_replicated(false);
        assert_eq!(log.high_watermark(), 5);
    }

    #[compio::test]
    async fn epochs_are_assigned_at_the_log_end_and_persisted() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("t-0");
        let mut log = open(&path, config(1 << 20), true).await;
        log.append(vec![build_batch_sized(2, NOW, 30, 1)], 1)
            .await
            .unwrap();
        log.assign_epoch(4, 2).await.unwrap();
        log.assign_epoch(3, 2).await.unwrap();
        assert!(matches!(
            log.assign_epoch(5, 3).await,
            Err(StorageError::OffsetOutOfRange { .. })
        ));
        assert!(matches!(
            log.assign_epoch(5, 1).await,
            Err(StorageError::EpochOutOfOrder { .. })
        ));
        let checkpoint = std::fs::read_to_string(path.join("leader-epoch-checkpoint")).unwrap();
        assert_eq!(checkpoint, "0\n2\n1 0\n4 2\n");
        // An epoch holding no batch yet is dropped by a reopen (as any epoch past the log end
        // after a crash); the leader assigns it again when it learns its leadership again.
        log.append(vec![build_batch_sized(1, NOW, 30, 2)], 4)
            .await
            .unwrap();
        drop(log);
        let log = open(&path, config(1 << 20), true).await;
        let expected = [
            EpochEntry {
                epoch: 1,
                start_offset: 0,
            },
            EpochEntry {
                epoch: 4,
                start_offset: 2,
            },
        ];
        assert_eq!(log.epoch_entries(), expected.as_slice());
        assert_eq!(log.end_offset_for_epoch(1), Some((1, 2)));
    }

    #[compio::test]
    async fn a_follower_truncates_resets_and_follows_the_log_start() {
        let directory = tempfile::tempdir().unwrap();
        let mut log = open(&directory.path().join("t-0"), config(200), true).await;
        for seed in 0..6 {
            let epoch = if seed < 3 { 1 } else { 2 };
            let batch = build_batch_sized(1, NOW, 39, seed);
            log.append(vec![batch], epoch).await.unwrap();
        }
        assert_eq!(log.segment_base_offsets(), vec![0, 2, 4]);
        log.move_high_watermark(5);
        assert_eq!(log.truncate_replica_to(9).await.unwrap(), 6, "past the end");
        assert_eq!(log.truncate_replica_to(3).await.unwrap(), 3);
        assert_eq!(log.high_watermark(), 3);
        assert_eq!(log.latest_epoch(), Some(1));
        // The log start follows the leader's, capped at the high watermark.
        assert_eq!(log.advance_log_start(10).await.unwrap(), 3);
        assert_eq!(log.segment_base_offsets(), vec![2]);
        assert_eq!(log.advance_log_start(1).await.unwrap(), 3, "never back");
        // Below the log start: emptied and restarted there.
        assert_eq!(log.truncate_replica_to(1).await.unwrap(), 1);
        assert_eq!(
            (
                log.log_start_offset(),
                log.high_watermark(),
                log.log_end_offset()
            ),
            (1, 1, 1)
        );
        log.reset_to(40).await.unwrap();
        assert_eq!(log.log_start_offset(), 40);
        assert!(log.epoch_entries().is_empty());
        log.verify_against_scan().await.unwrap();
    }

    #[compio::test]
    async fn a_replicated_append_follows_the_flush_policy_and_skips_the_message_size_limit() {
        let directory = tempfile::tempdir().unwrap();
        let mut leader = open(&directory.path().join("l"), config(1 << 20), true).await;
        leader
            .append(vec![build_batch_sized(1, NOW, 500, 1)], 1)
            .await
            .unwrap();
        let strict = LogConfig {
            flush: FlushPolicy::Strict,
            // The leader's limit, not the follower's (Kafka skips it for followers).
            max_message_bytes: 100,
            ..config(1 << 20)
        };
        let mut follower = open(&directory.path().join("f"), strict, true).await;
        let batches = fetch(&leader, 0, 1 << 20).await;
        follower.append_replicated(batches).await.unwrap();
        assert_eq!(
            follower.recovery_point(),
            1,
            "strict: synced before the answer"
        );
        // A batch larger than a whole segment cannot be held at all.
        let mut small = open(&directory.path().join("s"), config(200), true).await;
        let batches = fetch(&leader, 0, 1 << 20).await;
        assert!(matches!(
            small.append_replicated(batches).await,
            Err(StorageError::MessageTooLarge { .. })
        ));
    }

    #[test]
    fn fetched_bytes_split_back_into_the_written_batches() {
        let batch = build_batch_sized(2, NOW, 30, 3).freeze();
        let both = Bytes::from([batch.as_ref(), batch.as_ref()].concat());
        assert_eq!(BatchSplitter::new(both).count(), 2);
    }
}
