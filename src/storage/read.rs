//! The read side of [`PartitionLog`]: fetch ranges (whole batches, ending at the high
//! watermark, cut at `max_bytes` on a batch boundary) and timestamp lookups.
//!
//! A read locates its start with the sparse index and walks batch headers forward (at most one
//! index interval plus one batch), and finds its end the same way from the other side. It never
//! copies record bytes: it returns file ranges holding an `Rc` lease on the segment file, so
//! retention can unlink the file while the fd stays valid for splice. Runs on the shard that
//! owns the partition; the ranges may be sent from the connection's shard only as raw fds
//! while the owning shard keeps the lease alive.
use std::os::fd::RawFd;
use std::rc::Rc;

use bytes::Bytes;

use super::segment::{HeaderWalker, Segment, SegmentFile, read_exact_at};
use super::{PartitionLog, StorageError};
use crate::protocol::record_batch::{self, BatchSplitter};

/// A byte range of one segment file holding whole batches. Holding it keeps the file open.
#[derive(Debug, Clone)]
pub struct FileRange {
    pub file: Rc<SegmentFile>,
    pub position: u64,
    pub length: u32,
}

impl FileRange {
    /// Copies the range into memory and checks every batch's CRC again (the TLS / test path;
    /// plain fetches splice from [`Self::raw_fd`] instead).
    ///
    /// # Errors
    /// `Io`; `CorruptSegment` if a batch no longer passes its checks.
    pub async fn read_to_bytes(&self) -> Result<Bytes, StorageError> {
        let length = self.length as usize;
        let bytes = Bytes::from(read_exact_at(&self.file, self.position, length).await?);
        let mut splitter = BatchSplitter::new(bytes.clone());
        let mut offset = 0u64;
        for batch in splitter.by_ref() {
            if record_batch::validate(&batch).is_err() {
                return Err(self.corrupt(offset));
            }
            offset += batch.len() as u64;
        }
        if !splitter.remainder().is_empty() {
            return Err(self.corrupt(offset));
        }
        Ok(bytes)
    }

    #[must_use]
    pub fn raw_fd(&self) -> RawFd {
        self.file.raw_fd()
    }

    fn corrupt(&self, offset: u64) -> StorageError {
        StorageError::CorruptSegment {
            path: self.file.path().to_path_buf(),
            position: self.position + offset,
        }
    }
}

/// What a fetch gets for one partition.
#[derive(Debug, Clone)]
pub struct ReadSlice {
    pub ranges: Vec<FileRange>,
    pub high_watermark: i64,
    pub log_start_offset: i64,
}

impl ReadSlice {
    #[must_use]
    pub fn size_bytes(&self) -> u64 {
        self.ranges.iter().map(|r| u64::from(r.length)).sum()
    }
}

/// A batch boundary: segment index in the deque and byte position in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Boundary {
    pub(super) segment_index: usize,
    pub(super) position: u32,
}

impl PartitionLog {
    /// Whole batches from the one containing `offset` up to the high watermark, at most
    /// `max_bytes` — except that the first batch is returned whole when `min_one_batch`.
    ///
    /// # Errors
    /// `OffsetOutOfRange` below the log start or above the log end; `Offline`; `Io`;
    /// `CorruptSegment` when a header on disk no longer parses.
    pub async fn read(
        &self,
        offset: i64,
        max_bytes: u32,
        min_one_batch: bool,
    ) -> Result<ReadSlice, StorageError> {
        self.read_until(offset, max_bytes, min_one_batch, self.high_watermark)
            .await
    }

    /// [`Self::read`] up to `until` (clamped to `[high watermark, log end]`) instead of the high
    /// watermark: a follower's fetch reads up to the log end (Kafka's `FetchLogEnd`). The slice
    /// still reports the high watermark. A batch holding `until` is left out whole.
    ///
    /// # Errors
    /// As [`Self::read`].
    pub async fn read_until(
        &self,
        offset: i64,
        max_bytes: u32,
        min_one_batch: bool,
        until: i64,
    ) -> Result<ReadSlice, StorageError> {
        self.ensure_online()?;
        let log_end = self.log_end_offset();
        if offset < self.log_start_offset || offset > log_end {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: log_end,
            });
        }
        let mut slice = ReadSlice {
            ranges: Vec::new(),
            high_watermark: self.high_watermark,
            log_start_offset: self.log_start_offset,
        };
        let until = until.clamp(self.high_watermark, log_end);
        if offset >= until {
            return Ok(slice);
        }
        let start = self.locate(offset).await?;
        let end = self.locate(until).await?;
        let mut remaining = u64::from(max_bytes);
        let mut position = start.position;
        // Loop bound: one pass per segment from the start's to the end's.
        for segment_index in start.segment_index..=end.segment_index {
            let Some(segment) = self.segments.get(segment_index) else {
                break;
            };
            let segment_end = if segment_index == end.segment_index {
                end.position
            } else {
                segment.size
            };
            if position < segment_end {
                let available = u64::from(segment_end - position);
                if available <= remaining {
                    slice
                        .ranges
                        .push(range(segment, position, segment_end - position));
                    remaining -= available;
                } else {
                    let limit = u64::from(position) + remaining;
                    let cut = boundary_at_most(segment, position, limit, segment_end).await?;
                    if cut > position {
                        slice.ranges.push(range(segment, position, cut - position));
                    } else if slice.ranges.is_empty() && min_one_batch {
                        let mut walker = HeaderWalker::new(&segment.log);
                        let first = walker
                            .header_at(u64::from(position), u64::from(segment_end))
                            .await?;
                        slice.ranges.push(range(segment, position, first.size));
                    }
                    break;
                }
            }
            position = 0;
        }
        Ok(slice)
    }

    /// The first batch whose max timestamp is ≥ `timestamp_ms`, below the high watermark:
    /// (its base offset, or the log start if later; its max timestamp). Batch granularity:
    /// storage does not parse records, so the broker refines within the batch if it must.
    ///
    /// # Errors
    /// `Offline`, `Io`, `CorruptSegment`.
    pub async fn offset_for_timestamp(
        &self,
        timestamp_ms: i64,
    ) -> Result<Option<(i64, i64)>, StorageError> {
        self.ensure_online()?;
        for segment in &self.segments {
            if segment.next_offset <= self.log_start_offset || segment.max_timestamp < timestamp_ms
            {
                continue;
            }
            let start = segment
                .time_index
                .last_below(timestamp_ms)
                .and_then(|entry| segment.index.lookup_offset(entry.relative_offset))
                .map_or(0, |entry| entry.position);
            let mut walker = HeaderWalker::new(&segment.log);
            let mut position = u64::from(start);
            let end = u64::from(segment.size);
            // Loop bound: each header advances ≥ 61 bytes toward `end`.
            while position < end {
                let batch = walker.header_at(position, end).await?;
                if batch.base_offset >= self.high_watermark {
                    return Ok(None);
                }
                if batch.max_timestamp >= timestamp_ms && batch.last_offset >= self.log_start_offset
                {
                    let offset = batch.base_offset.max(self.log_start_offset);
                    return Ok(Some((offset, batch.max_timestamp)));
                }
                position = batch.end();
            }
        }
        Ok(None)
    }

    /// Where the batch containing `offset` starts; the log end maps to the active segment's
    /// end.
    pub(super) async fn locate(&self, offset: i64) -> Result<Boundary, StorageError> {
        let last_index = self.segments.len() - 1;
        if offset >= self.log_end_offset() {
            return Ok(Boundary {
                segment_index: last_index,
                position: self.active().size,
            });
        }
        let segment_index = self
            .segments
            .partition_point(|s| s.base_offset <= offset)
            .saturating_sub(1);
        let Some(segment) = self.segments.get(segment_index) else {
            unreachable!("segment index within the deque");
        };
        assert!(
            offset < segment.next_offset,
            "offset {offset} beyond its segment"
        );
        let relative = segment.relative(offset.max(segment.base_offset));
        let mut position = segment
            .index
            .lookup_offset(relative)
            .map_or(0, |entry| u64::from(entry.position));
        let end = u64::from(segment.size);
        let mut walker = HeaderWalker::new(&segment.log);
        // Loop bound: each header advances ≥ 61 bytes toward `end`.
        while position < end {
            let batch = walker.header_at(position, end).await?;
            if batch.last_offset >= offset {
                return Ok(Boundary {
                    segment_index,
                    position: batch.position,
                });
            }
            position = batch.end();
        }
        Err(StorageError::CorruptSegment {
            path: segment.log.path().to_path_buf(),
            position,
        })
    }
}

fn range(segment: &Segment, position: u32, length: u32) -> FileRange {
    assert!(length > 0, "empty range");
    assert!(position + length <= segment.size, "range past segment end");
    FileRange {
        file: Rc::clone(&segment.log),
        position: u64::from(position),
        length,
    }
}

/// The largest batch boundary in `[from, limit]`, starting the walk at the index entry nearest
/// below `limit` so it covers at most one index interval plus one batch.
async fn boundary_at_most(
    segment: &Segment,
    from: u32,
    limit: u64,
    end: u32,
) -> Result<u32, StorageError> {
    let limit_u32 = u32::try_from(limit).unwrap_or(u32::MAX);
    let mut position = segment
        .index
        .lookup_position(limit_u32)
        .map_or(from, |entry| entry.position.max(from));
    let mut walker = HeaderWalker::new(&segment.log);
    // Loop bound: each header advances ≥ 61 bytes toward `end`.
    while position < end {
        let batch = walker
            .header_at(u64::from(position), u64::from(end))
            .await?;
        if batch.end() > limit {
            break;
        }
        position = u32::try_from(batch.end()).unwrap_or(end);
    }
    Ok(position)
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use crate::storage::testing::build_batch;
    use crate::storage::{Clock, LogConfig, ManualClock, PartitionLog, StorageErrorKind};

    #[compio::test]
    async fn read_to_bytes_refuses_bytes_that_went_bad_on_disk() {
        let directory = tempfile::tempdir().unwrap();
        let clock: Rc<dyn Clock> = Rc::new(ManualClock::new(1_000));
        let path = directory.path().join("t-0");
        let mut log = PartitionLog::open(path.clone(), LogConfig::default(), clock)
            .await
            .unwrap();
        log.append(vec![build_batch(1, 1_000, b"hello")], 0)
            .await
            .unwrap();
        let slice = log.read(0, 1024, true).await.unwrap();
        assert_eq!(slice.ranges[0].read_to_bytes().await.unwrap().len(), 66);
        let file = path.join("00000000000000000000.log");
        let mut bytes = std::fs::read(&file).unwrap();
        bytes[64] ^= 0x40;
        std::fs::write(&file, &bytes).unwrap();
        let error = slice.ranges[0].read_to_bytes().await.unwrap_err();
        assert_eq!(error.kind(), StorageErrorKind::Storage);
        assert!(slice.ranges[0].raw_fd() >= 0);
    }
}
