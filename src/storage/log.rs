//! `PartitionLog`: one partition's directory of segments, its offsets, and open/recovery,
//! flush and close. Appends are in `append.rs`, reads in `read.rs`, roll/retention/DeleteRecords
//! in `retention.rs`.
//!
//! Offsets: `log_start_offset ≤ high_watermark ≤ log_end_offset`, checked by
//! [`PartitionLog::check_invariants`] after every change. On a single node the high watermark
//! follows the log end; [`PartitionLog::set_high_watermark_follows_log_end`] turns that off for
//! replication, which then sets it with [`PartitionLog::set_high_watermark`] — the one place to
//! change.
//!
//! The high watermark is persisted in the control file whenever that is written (open, roll
//! flush, log start moves, truncation, close) and, for a replicated log whose high watermark
//! moved, every `HIGH_WATERMARK_CHECKPOINT_INTERVAL_MS` from housekeeping. A log opened as
//! replicated ([`PartitionLog::open_in_mode`]) starts at the persisted value clamped into
//! `[log start, log end]`, or at the log start when none was ever persisted: Kafka does the
//! same with its `replication-offset-checkpoint` (a partition missing from it starts at 0,
//! raised to the log start). Too low is safe — consumers wait a moment longer, the leader
//! raises it as followers report in — too high would expose records no quorum holds.
//!
//! Recovery on open: segments at or after the recovery point (and always the active one) are
//! scanned batch by batch (length, CRC-32C, record count, offset continuity), the file is cut
//! at the first bad batch, later segments are dropped, and indexes are rebuilt. Older segments
//! keep their index files after a sanity check, or are scanned when those are missing or
//! damaged. Opening lists the directory with `std::fs::read_dir` (rare, documented blocking).
//! Then the idempotent-producer table is rebuilt: the newest snapshot at or below the recovery
//! point, plus the batch headers after it (producer_state.rs).
//!
//! Runs on the shard that owns the partition; `!Send` (holds `Rc`s). Callers must not hold a
//! `RefCell` borrow of it across an `.await`.
use std::cell::Cell;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::control::{self, CONTROL_FILE_NAME, ControlState};
use super::epoch::LeaderEpochCache;
use super::producer_state::ProducerStateTable;
use super::segment::{Segment, parse_log_file_name, remove_segment_files};
use super::{Clock, FlushPolicy, LogConfig, StorageError};
use crate::limits::SEGMENTS_PER_PARTITION_MAX;

pub const LEADER_EPOCH_CHECKPOINT_NAME: &str = "leader-epoch-checkpoint";

/// One partition's log. See the module docs.
pub struct PartitionLog {
    pub(super) directory: PathBuf,
    pub(super) config: LogConfig,
    pub(super) clock: Rc<dyn Clock>,
    /// Never empty; the last one is the active segment.
    pub(super) segments: VecDeque<Segment>,
    pub(super) log_start_offset: i64,
    pub(super) high_watermark: i64,
    pub(super) high_watermark_follows_log_end: bool,
    /// The high watermark last written to the control file, and when (replicated logs
    /// persist it from housekeeping when it moved, at most every
    /// `HIGH_WATERMARK_CHECKPOINT_INTERVAL_MS`).
    pub(super) high_watermark_persisted: Cell<i64>,
    pub(super) high_watermark_persisted_at_ms: Cell<i64>,
    /// Offsets below this are fdatasynced (in memory; persisted on roll, retention and close).
    pub(super) recovery_point: i64,
    pub(super) epochs: LeaderEpochCache,
    pub(super) unflushed_records: u64,
    pub(super) last_flush_ms: i64,
    /// Set when a failed write could not be undone or an fdatasync failed: the page cache
    /// may have dropped data, so nothing more is served or accepted until reopened.
    pub(super) offline: bool,
    /// Idempotent producers (producer_state.rs); rebuilt on open, snapshotted on roll/close.
    pub(super) producers: ProducerStateTable,
    /// Offsets of the producer snapshot files on disk, oldest first.
    pub(super) producer_snapshots: VecDeque<i64>,
    pub(super) producers_expired_at_ms: i64,
    /// The fdatasync (and index files) of the last rolled segment, running in the background;
    /// at most one. See [`PendingFlush`].
    pub(super) pending_flush: Option<PendingFlush>,
}

/// A rolled segment being made durable off the append path: fdatasync of its `.log`, then its
/// index files written and synced. Kafka does the same (the roll schedules an asynchronous
/// flush): syncing a 1 GiB segment inline stalled every append of the partition for up to a
/// second (bench/RESULTS.md, "produce: roll stalls"). The recovery point moves to `up_to` only
/// when the task has finished, so a crash before that rescans the segment on open.
pub(super) struct PendingFlush {
    /// The rolled segment's base offset (retention waits before deleting it).
    pub(super) segment_base: i64,
    /// Everything below this is durable once the task succeeds.
    pub(super) up_to: i64,
    pub(super) task: compio::runtime::JoinHandle<Result<(), StorageError>>,
}

impl std::fmt::Debug for PartitionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionLog")
            .field("directory", &self.directory)
            .field("log_start_offset", &self.log_start_offset)
            .field("high_watermark", &self.high_watermark)
            .field("log_end_offset", &self.log_end_offset())
            .field("segments", &self.segments.len())
            .finish_non_exhaustive()
    }
}

impl PartitionLog {
    /// Creates the directory and an empty log, or recovers the existing one; single-node mode
    /// (the high watermark follows the log end).
    ///
    /// # Errors
    /// `Io`; `MalformedFile` for an unreadable control file or leader-epoch checkpoint;
    /// `SegmentLimit` for a directory with more segments than we allow.
    pub async fn open(
        directory: PathBuf,
        config: LogConfig,
        clock: Rc<dyn Clock>,
    ) -> Result<Self, StorageError> {
        Self::open_in_mode(directory, config, clock, false).await
    }

    /// [`Self::open`], replicated when `replicated`: the high watermark then starts at the
    /// persisted one clamped into `[log start, log end]` (the log start when none was
    /// persisted) and no longer follows the log end (module docs).
    ///
    /// # Errors
    /// As [`Self::open`].
    pub async fn open_in_mode(
        directory: PathBuf,
        config: LogConfig,
        clock: Rc<dyn Clock>,
        replicated: bool,
    ) -> Result<Self, StorageError> {
        compio::fs::create_dir_all(&directory)
            .await
            .map_err(|e| StorageError::io("mkdir", &directory, e))?;
        let control = read_control(&directory).await?;
        let mut epochs = read_epochs(&directory).await?;
        let epochs_on_disk = epochs.encode();
        let mut bases = list_segments(&directory)?;
        if bases.is_empty() {
            bases.push(control.log_start_offset);
        }
        let segments = load_segments(&directory, &config, &control, &bases, &mut epochs).await?;
        let now_ms = clock.now_ms();
        let expiration_ms = super::config::duration_ms(config.producer_id_expiration).max(1);
        let mut log = Self {
            directory,
            config,
            clock,
            segments,
            log_start_offset: 0,
            high_watermark: 0,
            high_watermark_follows_log_end: !replicated,
            high_watermark_persisted: Cell::new(-1),
            high_watermark_persisted_at_ms: Cell::new(now_ms),
            recovery_point: 0,
            epochs,
            unflushed_records: 0,
            last_flush_ms: now_ms,
            offline: false,
            producers: ProducerStateTable::new(expiration_ms),
            producer_snapshots: VecDeque::new(),
            producers_expired_at_ms: now_ms,
            pending_flush: None,
        };
        log.settle_after_open(control, &epochs_on_disk).await?;
        log.rebuild_producer_state().await?;
        log.check_invariants();
        Ok(log)
    }

    /// Fixes the offsets after segments are loaded, drops segments below the log start, and
    /// writes the control file with the clean-shutdown marker cleared. A file that already says
    /// what would be written (after a crash, mostly) is not rewritten: that saves two
    /// fdatasyncs per file, most of a reopen's cost.
    async fn settle_after_open(
        &mut self,
        control: ControlState,
        epochs_on_disk: &str,
    ) -> Result<(), StorageError> {
        let first_base = self.segments.front().map_or(0, |s| s.base_offset);
        let mut log_start = control.log_start_offset.max(first_base);
        let log_end = self.log_end_offset();
        if log_start > log_end {
            // Recovery cut the log below its start: keep nothing, restart empty at the start.
            for segment in self.segments.drain(..) {
                segment.delete_files(&self.directory).await?;
            }
            let (segment, _) = Segment::open(&self.directory, log_start).await?;
            truncate_file(&segment, 0).await?;
            self.segments.push_back(segment);
        }
        for segment in self.pop_segments_below(log_start) {
            segment.delete_files(&self.directory).await?;
        }
        log_start = log_start.max(self.segments.front().map_or(0, |s| s.base_offset));
        self.log_start_offset = log_start;
        let log_end = self.log_end_offset();
        self.high_watermark = if self.high_watermark_follows_log_end {
            log_end
        } else {
            control
                .high_watermark
                .map_or(log_start, |persisted| persisted.clamp(log_start, log_end))
        };
        self.recovery_point = control.recovery_point.clamp(log_start, log_end);
        self.epochs.truncate_from_end(log_end);
        self.epochs.truncate_from_start(log_start);
        if self.epochs.encode() != epochs_on_disk {
            self.write_epoch_checkpoint(&self.epochs.clone()).await?;
        }
        if self.control_state(false) == control {
            self.high_watermark_persisted.set(self.high_watermark);
            return Ok(());
        }
        self.write_control(false).await
    }

    #[must_use]
    pub fn directory(&self) -> &Path {
        &self.directory
    }

    #[must_use]
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    #[must_use]
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    #[must_use]
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }

    #[must_use]
    pub fn log_end_offset(&self) -> i64 {
        self.active().next_offset
    }

    /// Offsets below this are known to be fdatasynced.
    #[must_use]
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point
    }

    #[must_use]
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Base offsets of the segments, oldest first.
    #[must_use]
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.segments.iter().map(|s| s.base_offset).collect()
    }

    /// Bytes of all segments.
    #[must_use]
    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(|s| u64::from(s.size)).sum()
    }

    pub fn update_config(&mut self, config: LogConfig) {
        let expiration_ms = super::config::duration_ms(config.producer_id_expiration).max(1);
        self.producers.set_expiration_ms(expiration_ms);
        self.config = config;
    }

    /// Single node: the high watermark is the log end (the default). Replication turns this off
    /// and moves it with [`Self::set_high_watermark`].
    pub fn set_high_watermark_follows_log_end(&mut self, follows: bool) {
        self.high_watermark_follows_log_end = follows;
        self.advance_high_watermark();
        self.check_invariants();
    }

    /// Sets the high watermark (replication: the minimum of the in-sync replicas' offsets).
    ///
    /// # Panics
    /// When `high_watermark` is outside `[log_start_offset, log_end_offset]`, or differs from
    /// the log end while the high watermark follows it (programmer errors).
    pub fn set_high_watermark(&mut self, high_watermark: i64) {
        assert!(
            high_watermark >= self.log_start_offset,
            "high watermark below log start"
        );
        assert!(
            high_watermark <= self.log_end_offset(),
            "high watermark above log end"
        );
        if self.high_watermark_follows_log_end {
            assert_eq!(
                high_watermark,
                self.log_end_offset(),
                "single node: hw is log end"
            );
        }
        self.high_watermark = high_watermark;
        self.check_invariants();
    }

    /// Largest timestamp in the log and the base offset of the batch carrying it
    /// (ListOffsets −3). Batch granularity: storage does not parse records.
    #[must_use]
    pub fn max_timestamp(&self) -> Option<(i64, i64)> {
        let mut best: Option<(i64, i64)> = None;
        for segment in &self.segments {
            if segment.max_timestamp >= 0 && best.is_none_or(|(_, ts)| segment.max_timestamp > ts) {
                let offset = segment.offset_of_max_timestamp.max(self.log_start_offset);
                best = Some((offset, segment.max_timestamp));
            }
        }
        best
    }

    /// OffsetForLeaderEpoch: the largest epoch ≤ `epoch` and where the next one starts (or the
    /// log end for the latest). `None` = UNDEFINED (−1, −1) on the wire.
    #[must_use]
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, i64)> {
        self.epochs.end_offset_for(epoch, self.log_end_offset())
    }

    #[must_use]
    pub fn latest_epoch(&self) -> Option<i32> {
        self.epochs.latest_epoch()
    }

    /// fdatasyncs the active segment (after waiting for the rolled one's background flush, so
    /// older segments are synced too) and moves the recovery point to the log end.
    ///
    /// # Errors
    /// `Offline`; `Io` (which also takes the log offline: after a failed fdatasync the kernel
    /// may have dropped the dirty pages, so the bytes can no longer be trusted).
    pub async fn flush(&mut self) -> Result<(), StorageError> {
        self.ensure_online()?;
        self.settle_pending_flush(true).await?;
        let log_end = self.log_end_offset();
        let file = Rc::clone(&self.active().log);
        if let Err(error) = file.file().sync_data().await {
            self.offline = true;
            return Err(StorageError::io("fdatasync", file.path(), error));
        }
        // Re-check after the await: an append may have run meanwhile; only what was written
        // before the sync started is known durable.
        self.recovery_point = self.recovery_point.max(log_end);
        if self.log_end_offset() == log_end {
            self.unflushed_records = 0;
        }
        self.last_flush_ms = self.clock.now_ms();
        self.check_invariants();
        Ok(())
    }

    /// Applies `flush.messages` / `flush.ms`; the broker calls it from a timer for `flush.ms`.
    ///
    /// # Errors
    /// As [`Self::flush`].
    pub async fn maybe_flush(&mut self) -> Result<(), StorageError> {
        self.settle_pending_flush(false).await?;
        let due = match self.config.flush {
            FlushPolicy::None => false,
            FlushPolicy::Strict => self.recovery_point < self.log_end_offset(),
            FlushPolicy::Messages(count) => self.unflushed_records >= count.max(1),
            FlushPolicy::Interval(interval) => {
                let elapsed = self.clock.now_ms().saturating_sub(self.last_flush_ms);
                self.unflushed_records > 0 && elapsed >= super::config::duration_ms(interval)
            }
        };
        if due {
            self.flush().await?;
        }
        Ok(())
    }

    /// Collects the rolled segment's background flush: when it has finished (or at once if
    /// `wait`), moves the recovery point to what it made durable and persists it. Cheap when
    /// nothing is pending or the task still runs and `wait` is false.
    ///
    /// # Errors
    /// `Io` from the flush (the log goes offline, as after any failed fdatasync) or from
    /// writing the control file.
    pub async fn settle_pending_flush(&mut self, wait: bool) -> Result<(), StorageError> {
        let ready = self
            .pending_flush
            .as_ref()
            .is_some_and(|pending| wait || pending.task.is_finished());
        if !ready {
            return Ok(());
        }
        let Some(pending) = self.pending_flush.take() else {
            return Ok(());
        };
        let outcome = match pending.task.await {
            Ok(outcome) => outcome,
            Err(join_error) => Err(StorageError::io(
                "fdatasync",
                &self.directory,
                std::io::Error::other(join_error.to_string()),
            )),
        };
        if let Err(error) = outcome {
            self.offline = true;
            return Err(error);
        }
        if pending.up_to > self.recovery_point {
            self.recovery_point = pending.up_to.min(self.log_end_offset());
            self.write_control(false).await?;
        }
        self.check_invariants();
        Ok(())
    }

    /// Flushes, snapshots the producer state and writes the clean-shutdown marker.
    /// Outstanding fetch ranges keep their segment files open until dropped.
    ///
    /// # Errors
    /// As [`Self::flush`], and `Io` writing the producer snapshot or the control file.
    pub async fn close(mut self) -> Result<(), StorageError> {
        self.flush().await?;
        self.write_producer_snapshot().await?;
        self.write_control(true).await
    }

    /// Asserts the offset and segment invariants (programmer errors crash, STYLE §4).
    ///
    /// # Panics
    /// When an invariant is broken.
    pub fn check_invariants(&self) {
        let log_end = self.log_end_offset();
        assert!(
            !self.segments.is_empty(),
            "a log always has an active segment"
        );
        assert!(
            self.log_start_offset <= self.high_watermark,
            "log start {} > high watermark {}",
            self.log_start_offset,
            self.high_watermark
        );
        assert!(
            self.high_watermark <= log_end,
            "high watermark {} > log end {log_end}",
            self.high_watermark
        );
        assert!(
            self.recovery_point <= log_end,
            "recovery point past log end"
        );
        let first = self.segments.front().map_or(0, |s| s.base_offset);
        assert!(
            first <= self.log_start_offset,
            "log start below first segment"
        );
        assert!(
            self.segments.len() <= SEGMENTS_PER_PARTITION_MAX,
            "too many segments"
        );
        if cfg!(debug_assertions) {
            for (older, newer) in self.segments.iter().zip(self.segments.iter().skip(1)) {
                assert_eq!(
                    older.next_offset, newer.base_offset,
                    "segments not contiguous"
                );
            }
        }
    }

    /// Re-scans every segment from its file and compares size, offsets, max timestamp and both
    /// indexes with the in-memory state (tests and `ringbroker` self-checks; O(log size)).
    ///
    /// # Errors
    /// `Io`; `CorruptSegment` naming the first segment that disagrees.
    pub async fn verify_against_scan(&self) -> Result<(), StorageError> {
        let interval = self.config.index_interval_effective();
        let last_index = self.segments.len() - 1;
        for (index, segment) in self.segments.iter().enumerate() {
            let (mut scanned, file_size) =
                Segment::open(&self.directory, segment.base_offset).await?;
            let mut epochs = LeaderEpochCache::default();
            let valid = scanned.recover(file_size, interval, &mut epochs).await?;
            if index != last_index {
                scanned.finish_time_index();
            }
            let agrees = valid == file_size
                && scanned.size == segment.size
                && scanned.next_offset == segment.next_offset
                && scanned.max_timestamp == segment.max_timestamp
                && scanned.index.entries() == segment.index.entries()
                && scanned.time_index.entries() == segment.time_index.entries();
            if !agrees {
                return Err(StorageError::CorruptSegment {
                    path: segment.log.path().to_path_buf(),
                    position: valid,
                });
            }
        }
        Ok(())
    }

    /// Takes the non-active segments wholly below `offset` out of the log (the caller unlinks
    /// their files).
    pub(super) fn pop_segments_below(&mut self, offset: i64) -> Vec<Segment> {
        let mut taken = Vec::new();
        while self.segments.len() > 1
            && self
                .segments
                .front()
                .is_some_and(|s| s.next_offset <= offset)
        {
            if let Some(segment) = self.segments.pop_front() {
                taken.push(segment);
            }
        }
        taken
    }

    pub(super) fn active(&self) -> &Segment {
        self.segments
            .back()
            .unwrap_or_else(|| unreachable!("segments is never empty"))
    }

    pub(super) fn active_mut(&mut self) -> &mut Segment {
        self.segments
            .back_mut()
            .unwrap_or_else(|| unreachable!("segments is never empty"))
    }

    pub(super) fn ensure_online(&self) -> Result<(), StorageError> {
        if self.offline {
            return Err(StorageError::Offline {
                path: self.directory.clone(),
            });
        }
        Ok(())
    }

    /// The one place the high watermark moves on its own: on a single node it is the log end.
    pub(super) fn advance_high_watermark(&mut self) {
        if self.high_watermark_follows_log_end {
            self.high_watermark = self.log_end_offset();
        }
    }

    fn control_state(&self, clean_shutdown: bool) -> ControlState {
        ControlState {
            log_start_offset: self.log_start_offset,
            recovery_point: self.recovery_point,
            clean_shutdown,
            high_watermark: Some(self.high_watermark),
        }
    }

    pub(super) async fn write_control(&self, clean_shutdown: bool) -> Result<(), StorageError> {
        let state = self.control_state(clean_shutdown);
        control::write_atomically(&self.directory, CONTROL_FILE_NAME, state.encode()).await?;
        // Only once written: a failed write leaves the old value as the persisted one.
        self.high_watermark_persisted
            .set(state.high_watermark.unwrap_or(-1));
        self.high_watermark_persisted_at_ms.set(self.clock.now_ms());
        Ok(())
    }

    pub(super) async fn write_epoch_checkpoint(
        &self,
        epochs: &LeaderEpochCache,
    ) -> Result<(), StorageError> {
        let name = LEADER_EPOCH_CHECKPOINT_NAME;
        control::write_atomically(&self.directory, name, epochs.encode()).await
    }
}

async fn read_control(directory: &Path) -> Result<ControlState, StorageError> {
    let path = directory.join(CONTROL_FILE_NAME);
    match control::read_small_file(&path).await? {
        None => Ok(ControlState::default()),
        Some(text) => {
            ControlState::decode(&text).map_err(|line| StorageError::MalformedFile { path, line })
        }
    }
}

async fn read_epochs(directory: &Path) -> Result<LeaderEpochCache, StorageError> {
    let path = directory.join(LEADER_EPOCH_CHECKPOINT_NAME);
    match control::read_small_file(&path).await? {
        None => Ok(LeaderEpochCache::default()),
        Some(text) => LeaderEpochCache::decode(&text)
            .map_err(|line| StorageError::MalformedFile { path, line }),
    }
}

/// Base offsets of the `.log` files, sorted; removes leftover temp files. Blocking directory
/// read: runs once per partition at open.
fn list_segments(directory: &Path) -> Result<Vec<i64>, StorageError> {
    let entries =
        std::fs::read_dir(directory).map_err(|e| StorageError::io("list", directory, e))?;
    let mut bases = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StorageError::io("list", directory, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(base) = parse_log_file_name(name) {
            if bases.len() >= SEGMENTS_PER_PARTITION_MAX {
                return Err(StorageError::SegmentLimit { count: bases.len() });
            }
            bases.push(base);
        } else if name.ends_with(".tmp") {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|e| StorageError::io("unlink", &path, e))?;
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

/// Opens every segment, scanning those that need it; stops (deleting the rest) at the first
/// segment a scan cut short, since offsets after a hole cannot be served.
async fn load_segments(
    directory: &Path,
    config: &LogConfig,
    control: &ControlState,
    bases: &[i64],
    epochs: &mut LeaderEpochCache,
) -> Result<VecDeque<Segment>, StorageError> {
    let interval = config.index_interval_effective();
    let mut segments = VecDeque::with_capacity(bases.len());
    for (index, &base) in bases.iter().enumerate() {
        let (mut segment, file_size) = Segment::open(directory, base).await?;
        let next_base = bases.get(index + 1).copied();
        let mut scan = match next_base {
            None => true,
            Some(next) => !control.clean_shutdown && next > control.recovery_point,
        };
        if !scan && let Some(next) = next_base {
            scan = !segment.load_indexes(directory, file_size, next).await?;
        }
        if !scan {
            segments.push_back(segment);
            continue;
        }
        epochs.truncate_from_end(base);
        let valid = segment.recover(file_size, interval, epochs).await?;
        if valid < file_size {
            truncate_file(&segment, valid).await?;
        }
        let whole = valid == file_size && next_base == Some(segment.next_offset);
        if next_base.is_some() && !whole {
            for &later in bases.iter().skip(index + 1) {
                remove_segment_files(directory, later).await?;
            }
            segments.push_back(segment);
            break;
        }
        if next_base.is_some() {
            segment.finish_time_index();
            segment.write_indexes(directory).await?;
        }
        segments.push_back(segment);
    }
    Ok(segments)
}

pub(super) async fn truncate_file(segment: &Segment, length: u64) -> Result<(), StorageError> {
    let file = &segment.log;
    file.file()
        .set_len(length)
        .await
        .map_err(|e| StorageError::io("truncate", file.path(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_sorts_segments_and_clears_temp_files() {
        let directory = tempfile::tempdir().unwrap();
        for name in [
            "00000000000000000500.log",
            "00000000000000000000.log",
            "00000000000000000500.index",
            "ringbroker-log.tmp",
            "notes.txt",
        ] {
            std::fs::write(directory.path().join(name), b"").unwrap();
        }
        assert_eq!(list_segments(directory.path()).unwrap(), vec![0, 500]);
        assert!(!directory.path().join("ringbroker-log.tmp").exists());
        assert!(directory.path().join("notes.txt").exists());
    }

    #[compio::test]
    async fn a_malformed_control_file_refuses_to_open() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("t-0");
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(
            path.join(CONTROL_FILE_NAME),
            "ringbroker-log 1\nlog_start 5\n",
        )
        .unwrap();
        let clock: Rc<dyn Clock> = Rc::new(super::super::ManualClock::new(0));
        let error = PartitionLog::open(path, LogConfig::default(), clock)
            .await
            .unwrap_err();
        assert!(
            matches!(error, StorageError::MalformedFile { line: 2, .. }),
            "{error}"
        );
    }
}
