//! The idempotent-producer side of [`PartitionLog`]: the per-request producer checks the append
//! path runs before writing, snapshots at segment roll and clean shutdown, and the rebuild on
//! open (newest snapshot at or below the recovery point, then the batch headers after it). The
//! table and its rules are in `producer_state.rs`.
//!
//! Runs on the shard that owns the partition.
use std::path::Path;

use compio::BufResult;
use compio::buf::{IntoInner, IoBuf};
use compio::io::AsyncReadAtExt;

use super::producer_state::{
    Decision, ProducerBatch, ProducerError, ProducerStateTable, SNAPSHOT_SIZE_MAX, StagedUpdates,
    Staging, parse_snapshot_file_name, snapshot_file_name,
};
use crate::limits::{PRODUCER_EXPIRY_CHECK_INTERVAL_MS, PRODUCER_SNAPSHOTS_RETAINED};
use crate::protocol::record_batch::BatchHeader;
use crate::storage::config::duration_ms;
use crate::storage::control;
use crate::storage::segment::HeaderWalker;
use crate::storage::{AppendInfo, AppendRequest, PartitionLog, StorageError, TimestampType};

/// What the producer checks decided for one append request.
pub(in crate::storage) enum RequestCheck {
    /// Write it; commit these updates after the write.
    Append(StagedUpdates),
    /// A retry: answer with the original offsets, write nothing.
    Duplicate(AppendInfo),
}

impl PartitionLog {
    /// The idempotent-producer table (tests, metrics).
    #[must_use]
    pub fn producer_state(&self) -> &ProducerStateTable {
        &self.producers
    }

    /// Checks every batch of `request`, to be written from `first_offset`, against the
    /// table plus `earlier` (accepted requests of the same append). A duplicate batch makes
    /// the whole request a duplicate (Kafka answers a request with its first duplicate).
    pub(in crate::storage) fn check_producers(
        &self,
        request: &AppendRequest,
        first_offset: i64,
        now_ms: i64,
        earlier: &StagedUpdates,
    ) -> Result<RequestCheck, ProducerError> {
        let log_append_time = self.config.message_timestamp_type == TimestampType::LogAppendTime;
        let mut staging = Staging::after(&self.producers, earlier);
        let mut offset = first_offset;
        for batch in &request.batches {
            // Validated by `check_request` before: it parses.
            let Ok(header) = BatchHeader::parse(batch) else {
                unreachable!("validated batch does not parse");
            };
            let offset_count = i64::from(header.last_offset_delta()) + 1;
            if let Some(producer) = ProducerBatch::from_header(&header) {
                let timestamp_ms = if log_append_time {
                    now_ms
                } else {
                    producer.max_timestamp
                };
                match staging.check_and_stage(&producer, offset, timestamp_ms)? {
                    Decision::Append => {}
                    Decision::Duplicate {
                        base_offset,
                        last_offset,
                        timestamp_ms,
                    } => {
                        return Ok(RequestCheck::Duplicate(AppendInfo {
                            base_offset,
                            last_offset,
                            log_append_time_ms: if log_append_time { timestamp_ms } else { -1 },
                            record_count: 0,
                            duplicate: true,
                            log_start_offset: self.log_start_offset,
                        }));
                    }
                }
            }
            offset += offset_count;
        }
        Ok(RequestCheck::Append(staging.finish()))
    }

    /// Forgets idle producers, at most once per `PRODUCER_EXPIRY_CHECK_INTERVAL_MS`
    /// (Kafka's `producer.id.expiration.check.interval.ms`): a scan of the table per append
    /// would cost O(producers).
    pub(in crate::storage) fn maybe_expire_producers(&mut self, now_ms: i64) {
        // Never less often than the expiration itself, so a short one (tests, operators who
        // want idle producers gone fast) is honoured within about its own length.
        let interval = PRODUCER_EXPIRY_CHECK_INTERVAL_MS
            .min(duration_ms(self.config.producer_id_expiration).max(1));
        if now_ms.saturating_sub(self.producers_expired_at_ms) >= interval {
            self.producers.remove_expired(now_ms);
            self.producers_expired_at_ms = now_ms;
        }
    }

    /// Writes the table as of the log end to `<log end>.snapshot` and deletes the oldest
    /// snapshots beyond `PRODUCER_SNAPSHOTS_RETAINED` (segment roll and clean shutdown).
    ///
    /// # Errors
    /// `Io`.
    pub(in crate::storage) async fn write_producer_snapshot(&mut self) -> Result<(), StorageError> {
        let offset = self.log_end_offset();
        self.producers.remove_expired(self.clock.now_ms());
        let bytes = self.producers.encode_snapshot(offset);
        let name = snapshot_file_name(offset);
        control::write_atomically(&self.directory, &name, bytes).await?;
        self.producer_snapshots.retain(|kept| *kept != offset);
        self.producer_snapshots.push_back(offset);
        // Loop bound: one file per pass, ≤ the snapshots listed at open plus one per roll.
        while self.producer_snapshots.len() > PRODUCER_SNAPSHOTS_RETAINED {
            if let Some(old) = self.producer_snapshots.pop_front() {
                remove_snapshot(&self.directory, old).await?;
            }
        }
        Ok(())
    }

    /// Rebuilds the table on open: the newest readable snapshot at or below the recovery
    /// point, then every batch header from its offset to the log end. Snapshots past the
    /// log end (the log was cut) are deleted; damaged ones are skipped. Lists the directory
    /// with `std::fs::read_dir` (blocking, once per partition at open, as segments do).
    ///
    /// # Errors
    /// `Io`; `CorruptSegment` if a recovered segment no longer reads back.
    pub(in crate::storage) async fn rebuild_producer_state(&mut self) -> Result<(), StorageError> {
        let expiration_ms = duration_ms(self.config.producer_id_expiration).max(1);
        let log_end = self.log_end_offset();
        let mut offsets = list_snapshots(&self.directory)?;
        for &offset in offsets.iter().filter(|offset| **offset > log_end) {
            remove_snapshot(&self.directory, offset).await?;
        }
        offsets.retain(|offset| *offset <= log_end);
        let mut loaded = None;
        for &offset in offsets.iter().rev().filter(|o| **o <= self.recovery_point) {
            let path = self.directory.join(snapshot_file_name(offset));
            let bytes = read_snapshot(&path).await?;
            match ProducerStateTable::decode_snapshot(&bytes, expiration_ms) {
                Ok((table, stored)) if stored == offset => {
                    loaded = Some((table, offset));
                    break;
                }
                Ok((_, stored)) => {
                    tracing::warn!(?path, stored, "producer snapshot names another offset");
                }
                Err(error) => tracing::warn!(?path, %error, "producer snapshot skipped"),
            }
        }
        let (mut table, from) = loaded.unwrap_or_else(|| {
            (
                ProducerStateTable::new(expiration_ms),
                self.log_start_offset,
            )
        });
        self.replay_producers(&mut table, from).await?;
        table.remove_expired(self.clock.now_ms());
        self.producers = table;
        self.producer_snapshots = offsets.into_iter().collect();
        self.producers_expired_at_ms = self.clock.now_ms();
        Ok(())
    }

    /// Applies every producer batch at or after `from` to `table`, unchecked (the log is
    /// the truth; Kafka replays the same way).
    async fn replay_producers(
        &self,
        table: &mut ProducerStateTable,
        from: i64,
    ) -> Result<(), StorageError> {
        for segment in self.segments.iter().filter(|s| s.next_offset > from) {
            let end = u64::from(segment.size);
            let mut walker = HeaderWalker::new(&segment.log);
            let mut position = 0u64;
            // Loop bound: each pass moves past one whole batch (size ≥ header) of a
            // segment of at most `end` bytes.
            while position < end {
                let (meta, producer) = walker
                    .header_with(position, end, ProducerBatch::from_header)
                    .await?;
                if let Some(producer) = producer
                    && meta.base_offset >= from
                {
                    table.update(&producer, meta.base_offset, meta.max_timestamp);
                }
                position = meta.end();
            }
        }
        Ok(())
    }
}

/// Offsets of the `.snapshot` files, sorted.
fn list_snapshots(directory: &Path) -> Result<Vec<i64>, StorageError> {
    let entries =
        std::fs::read_dir(directory).map_err(|e| StorageError::io("list", directory, e))?;
    let mut offsets = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StorageError::io("list", directory, e))?;
        let name = entry.file_name();
        if let Some(offset) = name.to_str().and_then(parse_snapshot_file_name) {
            offsets.push(offset);
        }
    }
    offsets.sort_unstable();
    Ok(offsets)
}

async fn remove_snapshot(directory: &Path, offset: i64) -> Result<(), StorageError> {
    let path = directory.join(snapshot_file_name(offset));
    match compio::fs::remove_file(&path).await {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(StorageError::io("unlink", &path, error)),
    }
}

/// A snapshot's bytes; an oversized file reads as empty (so it decodes as damaged).
async fn read_snapshot(path: &Path) -> Result<Vec<u8>, StorageError> {
    let file = compio::fs::File::open(path)
        .await
        .map_err(|e| StorageError::io("open", path, e))?;
    let size = file
        .metadata()
        .await
        .map_err(|e| StorageError::io("stat", path, e))?
        .len();
    let Ok(size) = usize::try_from(size) else {
        return Ok(Vec::new());
    };
    if size > SNAPSHOT_SIZE_MAX {
        return Ok(Vec::new());
    }
    let buffer = Vec::with_capacity(size).slice(..size);
    let BufResult(result, buffer) = file.read_exact_at(buffer, 0).await;
    result.map_err(|e| StorageError::io("read", path, e))?;
    Ok(buffer.into_inner())
}
