//! Roll by age, retention by time and size, and DeleteRecords for [`PartitionLog`].
//!
//! Only whole, non-active segments wholly below the high watermark are deleted, oldest first,
//! and the log start moves to the first remaining segment (or further, for DeleteRecords). The
//! control file is written before any file is unlinked, so a crash in between leaves segments
//! below the log start, which the next open deletes. Deleting unlinks the names; fetch ranges
//! still holding the `Rc<SegmentFile>` keep reading the open fd.
//! Runs on the shard that owns the partition.
use super::config::duration_ms;
use super::{PartitionLog, StorageError};

impl PartitionLog {
    /// Rolls the active segment when it is older than `segment.ms` (the broker calls this from
    /// a timer; appends check it too).
    ///
    /// # Errors
    /// `Offline`, `Io`, `SegmentLimit`.
    pub async fn maybe_roll(&mut self) -> Result<(), StorageError> {
        self.ensure_online()?;
        let now_ms = self.clock.now_ms();
        if !self.active().is_empty() && self.segment_expired(now_ms) {
            self.roll().await?;
        }
        Ok(())
    }

    /// Deletes the oldest non-active segments whose largest timestamp (the file's mtime for a
    /// segment without timestamps, as Kafka) is older than `retention.ms`, or while the log
    /// exceeds `retention.bytes`. Returns how many.
    ///
    /// # Errors
    /// `Offline`, `Io`.
    pub async fn enforce_retention(&mut self) -> Result<usize, StorageError> {
        self.ensure_online()?;
        let now_ms = self.clock.now_ms();
        let candidates = self.deletable_prefix();
        let mut by_time = 0;
        if let Some(retention) = self.config.retention_ms {
            // Kafka's rule: now − largest timestamp > retention.ms.
            let cutoff = now_ms.saturating_sub(duration_ms(retention));
            for segment in self.segments.iter().take(candidates) {
                if segment.largest_timestamp().await? >= cutoff {
                    break;
                }
                by_time += 1;
            }
        }
        let by_size = self.config.retention_bytes.map_or(0, |retention| {
            let mut excess = self.size_bytes().saturating_sub(retention);
            self.segments
                .iter()
                .take(candidates)
                .take_while(|s| {
                    let fits = u64::from(s.size) <= excess;
                    excess = excess.saturating_sub(u64::from(s.size));
                    fits
                })
                .count()
        });
        let count = by_time.max(by_size);
        if count > 0 {
            let new_start = self.segments.get(count).map_or(0, |s| s.base_offset);
            self.delete_segments_below(new_start).await?;
        }
        Ok(count)
    }

    /// DeleteRecords: moves the log start to `offset` (≤ high watermark) and deletes segments
    /// wholly below it. Returns the new log start.
    ///
    /// # Errors
    /// `OffsetOutOfRange` for a negative offset or one above the high watermark; `Offline`,
    /// `Io`.
    pub async fn delete_records_before(&mut self, offset: i64) -> Result<i64, StorageError> {
        self.ensure_online()?;
        if offset < 0 || offset > self.high_watermark {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: self.log_end_offset(),
            });
        }
        if offset > self.log_start_offset {
            self.delete_segments_below(offset).await?;
        }
        Ok(self.log_start_offset)
    }

    /// How many leading segments retention may consider: not the active one, and only those
    /// wholly below the high watermark (a follower may still need the rest).
    fn deletable_prefix(&self) -> usize {
        let inactive = self.segments.len() - 1;
        self.segments
            .iter()
            .take(inactive)
            .take_while(|s| s.next_offset <= self.high_watermark)
            .count()
    }

    /// Sets the log start to `new_start` and deletes the segments wholly below it.
    async fn delete_segments_below(&mut self, new_start: i64) -> Result<(), StorageError> {
        assert!(
            new_start <= self.high_watermark,
            "log start past high watermark"
        );
        assert!(
            new_start >= self.log_start_offset,
            "log start moves forward only"
        );
        // The rolled segment's background flush writes its index files: let it finish before
        // its files are unlinked (rare: only a retention small enough to take that segment).
        if self
            .pending_flush
            .as_ref()
            .is_some_and(|pending| pending.segment_base < new_start)
        {
            self.settle_pending_flush(true).await?;
        }
        self.log_start_offset = new_start;
        self.recovery_point = self.recovery_point.max(new_start);
        if self.epochs.truncate_from_start(new_start) {
            self.write_epoch_checkpoint(&self.epochs.clone()).await?;
        }
        self.write_control(false).await?;
        let deleted = self.pop_segments_below(new_start);
        self.check_invariants();
        for segment in deleted {
            segment.delete_files(&self.directory).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::rc::Rc;
    use std::time::Duration;

    use crate::storage::testing::build_batch_sized;
    use crate::storage::{Clock, LogConfig, ManualClock, PartitionLog};

    /// A log of 200-byte segments (two 100-byte batches each) with `retention`.
    async fn open_small_segments(
        directory: &Path,
        clock: &Rc<ManualClock>,
        retention: Duration,
    ) -> PartitionLog {
        let config = LogConfig {
            segment_bytes: 200,
            retention_ms: Some(retention),
            ..LogConfig::default()
        };
        let clock: Rc<dyn Clock> = clock.clone();
        let path = directory.join("t-0");
        PartitionLog::open(path, config, clock).await.unwrap()
    }

    #[compio::test]
    async fn retention_keeps_segments_a_follower_may_still_need() {
        let directory = tempfile::tempdir().unwrap();
        let clock = Rc::new(ManualClock::new(1_000_000));
        let retention = Duration::from_secs(1);
        let mut log = open_small_segments(directory.path(), &clock, retention).await;
        log.set_high_watermark_follows_log_end(false);
        for seed in 0..6 {
            let batch = build_batch_sized(1, 1_000_000, 39, seed);
            log.append(vec![batch], 0).await.unwrap();
        }
        assert_eq!(log.segment_base_offsets(), vec![0, 2, 4]);
        clock.advance(Duration::from_secs(10));
        log.set_high_watermark(3);
        // Only [0, 2) is wholly below the high watermark.
        assert_eq!(log.enforce_retention().await.unwrap(), 1);
        assert_eq!(log.log_start_offset(), 2);
        log.set_high_watermark(6);
        assert_eq!(log.enforce_retention().await.unwrap(), 1);
        assert_eq!(log.segment_base_offsets(), vec![4]);
    }

    #[compio::test]
    async fn a_segment_without_timestamps_expires_by_its_files_mtime() {
        let directory = tempfile::tempdir().unwrap();
        let wall = crate::storage::SystemClock.now_ms();
        let clock = Rc::new(ManualClock::new(wall));
        let retention = Duration::from_secs(3600);
        let mut log = open_small_segments(directory.path(), &clock, retention).await;
        // Kafka's NO_TIMESTAMP (-1): the segment's largest timestamp is its mtime (now).
        for seed in 0..3 {
            let batch = build_batch_sized(1, -1, 39, seed);
            log.append(vec![batch], 0).await.unwrap();
        }
        assert_eq!(log.segment_base_offsets(), vec![0, 2]);
        assert_eq!(log.enforce_retention().await.unwrap(), 0);
        clock.advance(Duration::from_secs(7200));
        assert_eq!(log.enforce_retention().await.unwrap(), 1);
        assert_eq!(log.segment_base_offsets(), vec![2]);
    }
}
