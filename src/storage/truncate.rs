//! Cutting a log from its end: `truncate_to` drops a suffix (a Raft follower whose tail
//! conflicts with the leader's; later, a partition follower whose tail diverged from its
//! leader's epoch), and `reset_to` empties the log and restarts it at an offset (a follower that
//! installed a snapshot past its own log end, Kafka's `truncateFullyAndStartAt`).
//!
//! Both are rare and not on the append path, so they take the simple, obviously correct route:
//! the segment that keeps a prefix is cut on disk, fdatasynced, and rescanned from its file
//! (rebuilding its indexes and leader epochs exactly as recovery would), and the producer table
//! is rebuilt from snapshots and batch headers. Does not own: deciding where to cut (Raft or
//! replication does), prefix deletion (retention.rs, `delete_records_before`).
//!
//! Runs on the shard that owns the partition.
use super::log::truncate_file;
use super::segment::Segment;
use super::{PartitionLog, StorageError};

impl PartitionLog {
    /// Removes every batch at or after `offset`; when `offset` falls inside a batch, that whole
    /// batch goes too (storage never splits a batch). Durable before it returns: the cut file is
    /// fdatasynced and later segments are unlinked. Returns the new log end offset (≤ `offset`).
    /// The high watermark and recovery point are lowered to it when above.
    ///
    /// # Errors
    /// `OffsetOutOfRange` for an offset below the log start or above the log end; `Offline`;
    /// `Io` (the log goes offline: the cut may be half done).
    pub async fn truncate_to(&mut self, offset: i64) -> Result<i64, StorageError> {
        self.ensure_online()?;
        let log_end = self.log_end_offset();
        if offset < self.log_start_offset || offset > log_end {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: log_end,
            });
        }
        if offset == log_end {
            // No batch to cut, but an epoch that starts at the log end holds no record (a
            // leader that wrote nothing in it): it goes, as Kafka's truncateFromEnd drops
            // every entry starting at or after the cut. Kept, it would be this follower's
            // LastFetchedEpoch, which its new leader never knew, and every fetch would get
            // the same DivergingEpoch back.
            if self.epochs.truncate_from_end(offset) {
                self.write_epoch_checkpoint(&self.epochs.clone()).await?;
            }
            return Ok(log_end);
        }
        self.settle_pending_flush(true).await?;
        let result = self.truncate_to_unchecked(offset).await;
        if result.is_err() {
            self.offline = true;
        }
        let new_end = result?;
        assert!(new_end <= offset, "truncation kept offset {offset}");
        assert!(
            new_end >= self.log_start_offset,
            "truncation below the log start"
        );
        Ok(new_end)
    }

    async fn truncate_to_unchecked(&mut self, offset: i64) -> Result<i64, StorageError> {
        // Whole segments at or after the cut go first; the first segment always stays.
        // Loop bound: one pass per segment.
        while self.segments.len() > 1
            && self
                .segments
                .back()
                .is_some_and(|s| s.base_offset >= offset)
        {
            if let Some(segment) = self.segments.pop_back() {
                segment.delete_files(&self.directory).await?;
            }
        }
        let boundary = self.locate(offset).await?;
        assert_eq!(
            boundary.segment_index,
            self.segments.len() - 1,
            "the cut lies in the last segment"
        );
        let Some(cut) = self.segments.pop_back() else {
            unreachable!("segments is never empty");
        };
        let base_offset = cut.base_offset;
        truncate_file(&cut, u64::from(boundary.position)).await?;
        cut.log
            .file()
            .sync_data()
            .await
            .map_err(|e| StorageError::io("fdatasync", cut.log.path(), e))?;
        drop(cut);
        let (mut segment, file_size) = Segment::open(&self.directory, base_offset).await?;
        self.epochs.truncate_from_end(base_offset);
        let interval = self.config.index_interval_effective();
        let valid = segment
            .recover(file_size, interval, &mut self.epochs)
            .await?;
        assert_eq!(valid, file_size, "a cut segment rescans whole");
        self.segments.push_back(segment);
        self.settle_after_cut().await
    }

    /// Empties the log and restarts it at `offset` (which may lie past the current log end):
    /// every segment is unlinked and one empty segment is created at `offset`, which becomes
    /// the log start, high watermark and recovery point.
    ///
    /// # Errors
    /// `OffsetOutOfRange` for a negative offset; `Offline`; `Io` (the log goes offline).
    pub async fn reset_to(&mut self, offset: i64) -> Result<(), StorageError> {
        self.ensure_online()?;
        if offset < 0 {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: self.log_end_offset(),
            });
        }
        self.settle_pending_flush(true).await?;
        let result = self.reset_to_unchecked(offset).await;
        if result.is_err() {
            self.offline = true;
        }
        result?;
        assert_eq!(self.log_start_offset, offset, "log start after reset");
        assert_eq!(self.log_end_offset(), offset, "log end after reset");
        Ok(())
    }

    async fn reset_to_unchecked(&mut self, offset: i64) -> Result<(), StorageError> {
        // Control file first: a crash mid-way reopens with a log start at `offset`, and open
        // drops whatever segments lie below it.
        self.log_start_offset = offset;
        self.high_watermark = offset;
        self.recovery_point = offset;
        self.write_control(false).await?;
        // Loop bound: one pass per segment.
        while let Some(segment) = self.segments.pop_front() {
            segment.delete_files(&self.directory).await?;
        }
        let (segment, _) = Segment::open(&self.directory, offset).await?;
        truncate_file(&segment, 0).await?;
        self.segments.push_back(segment);
        self.epochs.truncate_from_end(offset);
        self.epochs.truncate_from_start(offset);
        self.settle_after_cut().await.map(|_| ())
    }

    /// Lowers the offsets to the new log end and persists the epochs, the control file and
    /// the producer table.
    async fn settle_after_cut(&mut self) -> Result<i64, StorageError> {
        let new_end = self.log_end_offset();
        self.high_watermark = self.high_watermark.min(new_end);
        self.recovery_point = self.recovery_point.min(new_end);
        self.epochs.truncate_from_end(new_end);
        // The rescan of the cut segment re-learned epochs from its first batch on, which may
        // lie below a log start inside that segment (DeleteRecords): the cache starts there.
        self.epochs.truncate_from_start(self.log_start_offset);
        self.write_epoch_checkpoint(&self.epochs.clone()).await?;
        self.write_control(false).await?;
        self.rebuild_producer_state().await?;
        self.check_invariants();
        Ok(new_end)
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use crate::storage::testing::build_batch_sized;
    use crate::storage::{Clock, LogConfig, ManualClock, PartitionLog};

    async fn open(path: &std::path::Path, segment_bytes: u64) -> PartitionLog {
        let clock: Rc<dyn Clock> = Rc::new(ManualClock::new(1_000_000));
        let config = LogConfig {
            segment_bytes,
            ..LogConfig::default()
        };
        PartitionLog::open(path.to_path_buf(), config, clock)
            .await
            .unwrap()
    }

    #[compio::test]
    async fn truncate_cuts_segments_and_survives_reopen() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("t-0");
        let mut log = open(&path, 200).await;
        for seed in 0..6 {
            let epoch = if seed < 3 { 1 } else { 2 };
            log.append(vec![build_batch_sized(1, 1_000_000, 39, seed)], epoch)
                .await
                .unwrap();
        }
        assert_eq!(log.segment_base_offsets(), vec![0, 2, 4]);
        assert_eq!(log.truncate_to(3).await.unwrap(), 3);
        assert_eq!(log.log_end_offset(), 3);
        assert_eq!(log.high_watermark(), 3);
        assert_eq!(log.segment_base_offsets(), vec![0, 2]);
        assert_eq!(log.latest_epoch(), Some(1));
        log.verify_against_scan().await.unwrap();
        // Appends continue at the cut, with the new epoch.
        let info = log
            .append(vec![build_batch_sized(1, 1_000_000, 39, 9)], 3)
            .await
            .unwrap();
        assert_eq!(info.base_offset, 3);
        log.close().await.unwrap();
        let log = open(&path, 200).await;
        assert_eq!(log.log_end_offset(), 4);
        assert_eq!(log.latest_epoch(), Some(3));
        log.verify_against_scan().await.unwrap();
    }

    #[compio::test]
    async fn truncate_refuses_offsets_outside_the_log() {
        let directory = tempfile::tempdir().unwrap();
        let mut log = open(&directory.path().join("t-0"), 1 << 20).await;
        log.append(vec![build_batch_sized(2, 1_000_000, 39, 1)], 0)
            .await
            .unwrap();
        assert!(log.truncate_to(5).await.is_err());
        // Inside a batch of two records: the whole batch goes.
        assert_eq!(log.truncate_to(1).await.unwrap(), 0);
        assert_eq!(log.truncate_to(0).await.unwrap(), 0);
    }

    #[compio::test]
    async fn truncating_inside_the_first_segment_keeps_epochs_from_the_log_start() {
        let directory = tempfile::tempdir().unwrap();
        let mut log = open(&directory.path().join("t-0"), 1 << 20).await;
        for (seed, epoch) in [(0, 1), (1, 2), (2, 2), (3, 3)] {
            log.append(vec![build_batch_sized(1, 1_000_000, 39, seed)], epoch)
                .await
                .unwrap();
        }
        assert_eq!(log.delete_records_before(2).await.unwrap(), 2);
        assert_eq!(log.truncate_to(3).await.unwrap(), 3);
        let entries = log.epoch_entries();
        assert_eq!(entries.len(), 1, "{entries:?}");
        assert_eq!((entries[0].epoch, entries[0].start_offset), (2, 2));
    }

    #[compio::test]
    async fn truncating_at_the_log_end_drops_an_epoch_without_records() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("t-0");
        let mut log = open(&path, 1 << 20).await;
        log.append(vec![build_batch_sized(1, 1_000_000, 39, 0)], 4)
            .await
            .unwrap();
        // A leader in epoch 5 that wrote nothing, then a follower told to cut at its end.
        log.assign_epoch(5, 1).await.unwrap();
        assert_eq!(log.latest_epoch(), Some(5));
        assert_eq!(log.truncate_to(1).await.unwrap(), 1);
        assert_eq!(log.latest_epoch(), Some(4), "the empty epoch is gone");
        log.close().await.unwrap();
        let log = open(&path, 1 << 20).await;
        assert_eq!(log.latest_epoch(), Some(4), "and stays gone after a reopen");
    }

    #[compio::test]
    async fn reset_restarts_the_log_past_its_end() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("t-0");
        let mut log = open(&path, 200).await;
        for seed in 0..3 {
            log.append(vec![build_batch_sized(1, 1_000_000, 39, seed)], 1)
                .await
                .unwrap();
        }
        log.reset_to(10).await.unwrap();
        assert_eq!(log.log_start_offset(), 10);
        assert_eq!(log.segment_base_offsets(), vec![10]);
        let info = log
            .append(vec![build_batch_sized(1, 1_000_000, 39, 7)], 2)
            .await
            .unwrap();
        assert_eq!(info.base_offset, 10);
        log.close().await.unwrap();
        let log = open(&path, 200).await;
        assert_eq!(log.log_start_offset(), 10);
        assert_eq!(log.log_end_offset(), 11);
    }
}
