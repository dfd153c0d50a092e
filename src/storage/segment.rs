//! One segment: a `.log` file of whole batches plus its in-memory indexes, the header walker
//! reads use, and the recovery scan.
//!
//! ```text
//! <dir>/00000000000000001200.log         batches verbatim, base offsets 1200…
//! <dir>/00000000000000001200.index       sparse offset → position (see index.rs)
//! <dir>/00000000000000001200.timeindex   sparse timestamp → offset
//! ```
//! Invariants: `size` is the end of the last whole, CRC-checked batch; batches are contiguous
//! in offsets starting at `base_offset`; `next_offset - base_offset ≤ i32::MAX` (relative
//! offsets are i32 in the index format). The `.log` file is shared through `Rc<SegmentFile>` with
//! every outstanding fetch range: deleting a segment unlinks its name, and the descriptor closes
//! when the last range drops. Runs on the shard that owns the partition.
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use compio::BufResult;
use compio::buf::{IntoInner, IoBuf};
use compio::io::{AsyncReadAtExt, AsyncWriteAtExt};

use super::StorageError;
use super::epoch::LeaderEpochCache;
use super::index::{OffsetEntry, OffsetIndex, TimeEntry, TimeIndex};
use crate::limits::{BATCH_SIZE_MAX, HEADER_SCAN_CHUNK_SIZE, SEGMENT_SCAN_CHUNK_SIZE};
use crate::protocol::record_batch::{self, BatchHeader, HEADER_SIZE, LOG_OVERHEAD};

/// The open `.log` file of a segment. Fetch ranges hold it through an `Rc` (the lease).
#[derive(Debug)]
pub struct SegmentFile {
    file: compio::fs::File,
    path: PathBuf,
}

impl SegmentFile {
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    #[must_use]
    pub fn file(&self) -> &compio::fs::File {
        &self.file
    }

    /// The descriptor, for splice(2) on the fetch path. Valid while this `SegmentFile` lives.
    #[must_use]
    pub fn raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

/// `<20-digit base offset>.<extension>` inside `directory`.
#[must_use]
pub fn segment_path(directory: &Path, base_offset: i64, extension: &str) -> PathBuf {
    directory.join(format!("{base_offset:020}.{extension}"))
}

/// The base offset of a `<20 digits>.log` file name.
#[must_use]
pub fn parse_log_file_name(name: &str) -> Option<i64> {
    parse_offset_file_name(name, ".log")
}

/// The offset of a `<20 digits><suffix>` file name (segments, producer snapshots).
#[must_use]
pub fn parse_offset_file_name(name: &str, suffix: &str) -> Option<i64> {
    let digits = name.strip_suffix(suffix)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// What the log needs to know about one batch: from its header plus where it sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMeta {
    pub position: u32,
    pub size: u32,
    pub base_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
    pub leader_epoch: i32,
}

impl BatchMeta {
    /// `None` when the header's length does not fit a u32.
    #[must_use]
    pub fn from_header(header: &BatchHeader<'_>, position: u32) -> Option<Self> {
        let size = u32::try_from(header.total_size()?).ok()?;
        Some(Self {
            position,
            size,
            base_offset: header.base_offset(),
            last_offset: header.last_offset(),
            max_timestamp: header.max_timestamp(),
            leader_epoch: header.partition_leader_epoch(),
        })
    }

    #[must_use]
    pub fn end(&self) -> u64 {
        u64::from(self.position) + u64::from(self.size)
    }
}

/// A segment's `.index` and `.timeindex` contents, encoded.
#[derive(Debug)]
pub struct IndexFiles {
    base_offset: i64,
    index: Vec<u8>,
    time_index: Vec<u8>,
}

impl IndexFiles {
    /// Writes both files whole and fdatasyncs them.
    ///
    /// # Errors
    /// `Io`.
    pub async fn write(self, directory: &Path) -> Result<(), StorageError> {
        for (extension, bytes) in [("index", self.index), ("timeindex", self.time_index)] {
            let path = segment_path(directory, self.base_offset, extension);
            let file = compio::fs::File::create(&path)
                .await
                .map_err(|e| StorageError::io("create", &path, e))?;
            if !bytes.is_empty() {
                let mut writer = &file;
                let BufResult(written, _) = writer.write_all_at(bytes, 0).await;
                written.map_err(|e| StorageError::io("write", &path, e))?;
            }
            file.sync_data()
                .await
                .map_err(|e| StorageError::io("fdatasync", &path, e))?;
            file.close()
                .await
                .map_err(|e| StorageError::io("close", &path, e))?;
        }
        Ok(())
    }
}

/// A segment's state. Owned by `PartitionLog`; mutated only on its shard.
#[derive(Debug)]
pub struct Segment {
    pub base_offset: i64,
    pub log: Rc<SegmentFile>,
    pub size: u32,
    pub next_offset: i64,
    pub index: OffsetIndex,
    pub time_index: TimeIndex,
    /// Largest batch max timestamp, -1 when the segment holds no batch with a timestamp.
    pub max_timestamp: i64,
    pub offset_of_max_timestamp: i64,
    /// Max timestamp of the first batch: `segment.ms` counts from it (Kafka's rule).
    pub first_batch_timestamp: Option<i64>,
    bytes_since_index_entry: u32,
    /// Write-back of the `.log` file was started up to this position (storage/append.rs
    /// `start_writeback`); the bytes after it are dirty in the page cache only.
    pub writeback_started_to: u32,
}

impl Segment {
    /// Opens (creating if missing) the `.log` file of the segment at `base_offset`. The file
    /// keeps whatever bytes it has; the caller scans or trusts them.
    ///
    /// # Errors
    /// `Io`.
    pub async fn open(directory: &Path, base_offset: i64) -> Result<(Self, u64), StorageError> {
        let path = segment_path(directory, base_offset, "log");
        let file = compio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .open(&path)
            .await
            .map_err(|e| StorageError::io("open", &path, e))?;
        let file_size = file
            .metadata()
            .await
            .map_err(|e| StorageError::io("stat", &path, e))?
            .len();
        let segment = Self {
            base_offset,
            log: Rc::new(SegmentFile { file, path }),
            size: 0,
            next_offset: base_offset,
            index: OffsetIndex::default(),
            time_index: TimeIndex::default(),
            max_timestamp: -1,
            offset_of_max_timestamp: base_offset,
            first_batch_timestamp: None,
            bytes_since_index_entry: 0,
            writeback_started_to: 0,
        };
        Ok((segment, file_size))
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// `offset - base_offset` as the index stores it.
    ///
    /// # Panics
    /// When `offset` is outside the segment's relative range (roll prevents it).
    #[must_use]
    pub fn relative(&self, offset: i64) -> u32 {
        let relative = offset - self.base_offset;
        assert!(
            relative >= 0,
            "offset {offset} below segment {}",
            self.base_offset
        );
        let relative = u32::try_from(relative).unwrap_or(u32::MAX);
        assert!(
            i32::try_from(relative).is_ok(),
            "relative offset overflows i32"
        );
        relative
    }

    /// Accounts for a batch written (or found by a scan) at the segment's end.
    ///
    /// # Panics
    /// When the batch is not exactly at the end of the segment in bytes and offsets.
    pub fn on_batch(&mut self, batch: &BatchMeta, index_interval: u32) {
        assert_eq!(batch.position, self.size, "batch not at segment end");
        assert_eq!(
            batch.base_offset, self.next_offset,
            "batch offsets not contiguous"
        );
        assert!(
            batch.last_offset >= batch.base_offset,
            "batch offsets reversed"
        );
        if self.bytes_since_index_entry >= index_interval {
            self.index.push(OffsetEntry {
                relative_offset: self.relative(batch.base_offset),
                position: batch.position,
            });
            if self.max_timestamp >= 0 {
                self.time_index.maybe_push(TimeEntry {
                    timestamp: self.max_timestamp,
                    relative_offset: self.relative(self.offset_of_max_timestamp),
                });
            }
            self.bytes_since_index_entry = 0;
        }
        if batch.max_timestamp > self.max_timestamp {
            self.max_timestamp = batch.max_timestamp;
            self.offset_of_max_timestamp = batch.base_offset;
        }
        if self.first_batch_timestamp.is_none() {
            self.first_batch_timestamp = Some(batch.max_timestamp);
        }
        self.bytes_since_index_entry = self.bytes_since_index_entry.saturating_add(batch.size);
        self.size = self.size.saturating_add(batch.size);
        self.next_offset = batch.last_offset + 1;
        let _ = self.relative(batch.last_offset);
    }

    /// Adds the closing time index entry so the last entry is the segment's largest timestamp
    /// (read back on open as the segment's max timestamp).
    pub fn finish_time_index(&mut self) {
        if self.max_timestamp >= 0 {
            self.time_index.maybe_push(TimeEntry {
                timestamp: self.max_timestamp,
                relative_offset: self.relative(self.offset_of_max_timestamp),
            });
        }
    }

    /// Writes both index files whole and syncs them (roll and recovery only).
    ///
    /// # Errors
    /// `Io`.
    pub async fn write_indexes(&self, directory: &Path) -> Result<(), StorageError> {
        self.index_files().write(directory).await
    }

    /// The encoded index files, detached from the segment so a background task can write them
    /// (the roll's flush, see append.rs).
    #[must_use]
    pub fn index_files(&self) -> IndexFiles {
        IndexFiles {
            base_offset: self.base_offset,
            index: self.index.encode(),
            time_index: self.time_index.encode(),
        }
    }

    /// Loads trusted index files of a segment that is not rescanned. `Ok(false)` when they are
    /// missing or damaged (the caller scans instead). `next_offset` comes from the next segment.
    ///
    /// # Errors
    /// `Io` other than not-found.
    pub async fn load_indexes(
        &mut self,
        directory: &Path,
        file_size: u64,
        next_offset: i64,
    ) -> Result<bool, StorageError> {
        let Ok(size) = u32::try_from(file_size) else {
            return Ok(false);
        };
        // Relative offsets are i32 on disk and in memory: a wider gap between two segment
        // names cannot be one segment's offsets, so scan instead of trusting it.
        let Some(span) = u64::try_from(next_offset - self.base_offset)
            .ok()
            .filter(|span| *span <= u64::from(i32::MAX as u32) + 1)
        else {
            return Ok(false);
        };
        let mut loaded = Vec::with_capacity(2);
        for extension in ["index", "timeindex"] {
            let path = segment_path(directory, self.base_offset, extension);
            match compio::fs::read(&path).await {
                Ok(bytes) => loaded.push(bytes),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(false),
                Err(error) => return Err(StorageError::io("read", &path, error)),
            }
        }
        let (Some(index_bytes), Some(time_bytes)) = (loaded.first(), loaded.get(1)) else {
            return Ok(false);
        };
        let (Ok(index), Ok(time_index)) = (
            OffsetIndex::decode(index_bytes, size),
            TimeIndex::decode(time_bytes, span),
        ) else {
            return Ok(false);
        };
        let max = time_index.last();
        if size > 0 && (span == 0 || max.is_none()) || size == 0 && span != 0 {
            // A rolled non-empty segment always ends its time index with its max timestamp.
            return Ok(false);
        }
        self.index = index;
        self.time_index = time_index;
        self.size = size;
        self.next_offset = next_offset;
        if let Some(max) = max {
            self.max_timestamp = max.timestamp;
            self.offset_of_max_timestamp = self.base_offset + i64::from(max.relative_offset);
            self.first_batch_timestamp = Some(max.timestamp);
        }
        Ok(true)
    }

    /// The largest timestamp retention compares with `retention.ms`: the largest batch
    /// timestamp, or — a segment whose batches carry none — the `.log` file's mtime, as Kafka's
    /// `LogSegment.largestTimestamp` falls back to (retention_probe.rs reads the same on disk).
    ///
    /// # Errors
    /// `Io` from the stat.
    pub async fn largest_timestamp(&self) -> Result<i64, StorageError> {
        if self.max_timestamp >= 0 {
            return Ok(self.max_timestamp);
        }
        let path = self.log.path();
        let metadata = self
            .log
            .file()
            .metadata()
            .await
            .map_err(|e| StorageError::io("stat", path, e))?;
        let modified = metadata
            .modified()
            .map_err(|e| StorageError::io("stat", path, e))?;
        Ok(super::config::system_time_ms(modified))
    }

    /// Deletes the segment's files. Outstanding fetch ranges keep the `.log` descriptor open.
    ///
    /// # Errors
    /// `Io` other than not-found.
    pub async fn delete_files(&self, directory: &Path) -> Result<(), StorageError> {
        remove_segment_files(directory, self.base_offset).await
    }

    /// Rebuilds this (empty-state) segment by reading its file from the start: checks each
    /// batch's length, CRC, record count and offset continuity, builds the indexes and notes
    /// leader epochs. Returns the valid length; the caller truncates the file to it.
    ///
    /// # Errors
    /// `Io`.
    pub async fn recover(
        &mut self,
        file_size: u64,
        index_interval: u32,
        epochs: &mut LeaderEpochCache,
    ) -> Result<u64, StorageError> {
        assert!(self.is_empty(), "recover needs a fresh segment");
        let limit = file_size.min(u64::from(i32::MAX as u32));
        let mut chunk_start = 0u64;
        // Loop bound: every pass either advances `chunk_start` by ≥ one batch or returns.
        loop {
            if chunk_start >= limit {
                return Ok(u64::from(self.size));
            }
            let want = usize::try_from(limit - chunk_start)
                .unwrap_or(usize::MAX)
                .min(SEGMENT_SCAN_CHUNK_SIZE);
            let chunk = read_exact_at(&self.log, chunk_start, want).await?;
            let consumed = self.recover_chunk(&chunk, chunk_start, index_interval, epochs);
            match consumed {
                ChunkScan::Consumed(bytes) if bytes > 0 => chunk_start += bytes as u64,
                ChunkScan::Consumed(_) => {
                    // One batch larger than the chunk: read it alone.
                    let Some(total) = peek_total_size(&chunk) else {
                        return Ok(u64::from(self.size));
                    };
                    if chunk_start + total as u64 > limit {
                        return Ok(u64::from(self.size));
                    }
                    let batch = read_exact_at(&self.log, chunk_start, total).await?;
                    match self.recover_chunk(&batch, chunk_start, index_interval, epochs) {
                        ChunkScan::Consumed(bytes) if bytes == total => {
                            chunk_start += bytes as u64;
                        }
                        _ => return Ok(u64::from(self.size)),
                    }
                }
                ChunkScan::Stop => return Ok(u64::from(self.size)),
            }
        }
    }

    /// Accepts whole valid batches from the front of `chunk`.
    fn recover_chunk(
        &mut self,
        chunk: &[u8],
        chunk_start: u64,
        index_interval: u32,
        epochs: &mut LeaderEpochCache,
    ) -> ChunkScan {
        let mut cursor = 0usize;
        while let Some(rest) = chunk.get(cursor..) {
            let Some(total) = peek_total_size(rest) else {
                // Too few bytes for a length, or an impossible length.
                return if rest.len() >= LOG_OVERHEAD {
                    ChunkScan::Stop
                } else {
                    ChunkScan::Consumed(cursor)
                };
            };
            let Some(batch) = rest.get(..total) else {
                return ChunkScan::Consumed(cursor);
            };
            let Ok(header) = record_batch::validate(batch) else {
                return ChunkScan::Stop;
            };
            let position = u32::try_from(chunk_start + cursor as u64).ok();
            let meta = position.and_then(|p| BatchMeta::from_header(&header, p));
            let Some(meta) = meta else {
                return ChunkScan::Stop;
            };
            let fits = i32::try_from(meta.last_offset - self.base_offset).is_ok();
            if meta.base_offset != self.next_offset || !fits {
                return ChunkScan::Stop;
            }
            epochs.assign(meta.leader_epoch, meta.base_offset);
            self.on_batch(&meta, index_interval);
            cursor += total;
        }
        ChunkScan::Consumed(cursor)
    }
}

enum ChunkScan {
    /// Bytes of whole valid batches at the front; the rest needs another read.
    Consumed(usize),
    /// A batch failed its checks: the segment ends before it.
    Stop,
}

/// Unlinks the `.log`, `.index` and `.timeindex` of the segment at `base_offset`, if present.
///
/// # Errors
/// `Io` other than not-found.
pub async fn remove_segment_files(directory: &Path, base_offset: i64) -> Result<(), StorageError> {
    for extension in ["log", "index", "timeindex"] {
        let path = segment_path(directory, base_offset, extension);
        match compio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(StorageError::io("unlink", &path, error)),
        }
    }
    Ok(())
}

/// A batch's total size from its first 12 bytes, if plausible.
fn peek_total_size(bytes: &[u8]) -> Option<usize> {
    let length = bytes.get(8..12)?;
    let length = i32::from_be_bytes(length.try_into().ok()?);
    let total = usize::try_from(length).ok()?.checked_add(LOG_OVERHEAD)?;
    (HEADER_SIZE..=BATCH_SIZE_MAX + LOG_OVERHEAD)
        .contains(&total)
        .then_some(total)
}

/// Reads exactly `length` bytes at `position`.
///
/// # Errors
/// `Io`, including a file shorter than expected.
pub async fn read_exact_at(
    file: &SegmentFile,
    position: u64,
    length: usize,
) -> Result<Vec<u8>, StorageError> {
    let buffer = Vec::with_capacity(length).slice(..length);
    let BufResult(result, buffer) = file.file.read_exact_at(buffer, position).await;
    result.map_err(|e| StorageError::io("read", &file.path, e))?;
    let bytes = buffer.into_inner();
    assert_eq!(bytes.len(), length, "short read returned Ok");
    Ok(bytes)
}

/// Walks batch headers of already-verified bytes, reading a chunk at a time so a run of small
/// batches costs one read per `HEADER_SCAN_CHUNK_SIZE`, and a large batch costs one small read.
pub struct HeaderWalker<'a> {
    file: &'a SegmentFile,
    chunk: Vec<u8>,
    chunk_start: u64,
}

impl<'a> HeaderWalker<'a> {
    #[must_use]
    pub fn new(file: &'a SegmentFile) -> Self {
        Self {
            file,
            chunk: Vec::new(),
            chunk_start: 0,
        }
    }

    /// The batch whose header starts at `position`; `end` is the segment's valid size.
    ///
    /// # Errors
    /// `Io`; `CorruptSegment` when the bytes there are not a batch header fitting before `end`.
    pub async fn header_at(&mut self, position: u64, end: u64) -> Result<BatchMeta, StorageError> {
        let (meta, ()) = self.header_with(position, end, |_| ()).await?;
        Ok(meta)
    }

    /// [`Self::header_at`], also handing the parsed header to `inspect` (producer state
    /// replay needs fields `BatchMeta` does not carry).
    ///
    /// # Errors
    /// As [`Self::header_at`].
    pub async fn header_with<T>(
        &mut self,
        position: u64,
        end: u64,
        inspect: impl FnOnce(&BatchHeader<'_>) -> T,
    ) -> Result<(BatchMeta, T), StorageError> {
        let corrupt = || StorageError::CorruptSegment {
            path: self.file.path.clone(),
            position,
        };
        if position + HEADER_SIZE as u64 > end {
            return Err(corrupt());
        }
        let cached = position
            .checked_sub(self.chunk_start)
            .and_then(|offset| usize::try_from(offset).ok())
            .filter(|offset| offset + HEADER_SIZE <= self.chunk.len());
        let offset = match cached {
            Some(offset) => offset,
            None => {
                let want = usize::try_from(end - position)
                    .unwrap_or(usize::MAX)
                    .min(HEADER_SCAN_CHUNK_SIZE);
                self.chunk = read_exact_at(self.file, position, want).await?;
                self.chunk_start = position;
                0
            }
        };
        let bytes = self.chunk.get(offset..).unwrap_or_default();
        let header = BatchHeader::parse(bytes).map_err(|_| corrupt())?;
        let meta = u32::try_from(position)
            .ok()
            .and_then(|p| BatchMeta::from_header(&header, p))
            .ok_or_else(corrupt)?;
        if (meta.size as usize) < HEADER_SIZE || meta.end() > end {
            return Err(corrupt());
        }
        Ok((meta, inspect(&header)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_file_names_are_twenty_digits() {
        let path = segment_path(Path::new("/d"), 1200, "log");
        assert_eq!(path, Path::new("/d/00000000000000001200.log"));
        assert_eq!(parse_log_file_name("00000000000000001200.log"), Some(1200));
        assert_eq!(parse_log_file_name("1200.log"), None);
        assert_eq!(parse_log_file_name("00000000000000001200.index"), None);
        assert_eq!(parse_log_file_name("0000000000000000120x.log"), None);
    }

    #[test]
    fn total_size_rejects_impossible_lengths() {
        let mut prefix = [0u8; 12];
        prefix[8..12].copy_from_slice(&49i32.to_be_bytes());
        assert_eq!(peek_total_size(&prefix), Some(61));
        prefix[8..12].copy_from_slice(&48i32.to_be_bytes());
        assert_eq!(peek_total_size(&prefix), None);
        prefix[8..12].copy_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(peek_total_size(&prefix), None);
        assert_eq!(peek_total_size(&prefix[..11]), None);
    }
}
