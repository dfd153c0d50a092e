//! `StorageError`: every way a partition log operation can fail, and the coarse
//! [`StorageErrorKind`] the broker maps to a Kafka error code without storage importing wire
//! types.
//!
//! Runs on the shard that owns the partition.
use std::io;
use std::path::PathBuf;

use super::producer_state::ProducerError;
use crate::protocol::record_batch::BatchError;

/// What went wrong, coarsely, so the broker can pick the Kafka error code.
///
/// ```text
/// CorruptMessage    → CORRUPT_MESSAGE (2)
/// InvalidRecord     → INVALID_RECORD (87)
/// MessageTooLarge   → MESSAGE_TOO_LARGE (10)
/// InvalidTimestamp  → INVALID_TIMESTAMP (32)
/// OffsetOutOfRange  → OFFSET_OUT_OF_RANGE (1)
/// UnknownPartition  → UNKNOWN_TOPIC_OR_PARTITION (3)
/// Storage           → KAFKA_STORAGE_ERROR (56)
/// OutOfOrderSequence   → OUT_OF_ORDER_SEQUENCE_NUMBER (45)
/// InvalidProducerEpoch → INVALID_PRODUCER_EPOCH (47)
/// Replication          → UNKNOWN_SERVER_ERROR (−1): a follower's append or epoch that does
///                        not fit its log; the replica fetcher acts on the error itself
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StorageErrorKind {
    CorruptMessage,
    InvalidRecord,
    MessageTooLarge,
    InvalidTimestamp,
    OffsetOutOfRange,
    UnknownPartition,
    Storage,
    OutOfOrderSequence,
    InvalidProducerEpoch,
    Replication,
}

/// One partition log's error. Numbers, not strings (STYLE §5).
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A produced batch failed its framing or CRC checks (batch index within the append).
    #[error("batch {batch_index} is corrupt: {reason}")]
    CorruptMessage {
        batch_index: usize,
        reason: BatchError,
    },
    /// A produced batch is well framed but its contents are inconsistent.
    #[error("batch {batch_index} is invalid: {reason}")]
    InvalidRecord {
        batch_index: usize,
        reason: BatchError,
    },
    /// An append with no batches: nothing to assign offsets to.
    #[error("append holds no batches")]
    EmptyAppend,
    /// An append with more batches than one write may carry.
    #[error("append holds {count} batches, more than {count_max}")]
    TooManyBatches { count: usize, count_max: usize },
    /// The partition already has the most segments we allow; retention must catch up.
    #[error("partition holds {count} segments, the limit")]
    SegmentLimit { count: usize },
    /// `ShardLogs` was asked about a partition it does not own.
    #[error("partition is not open on this shard")]
    UnknownPartition,
    /// A batch (or a whole append) exceeds `max_message_bytes` or the segment size.
    #[error("batch of {size} bytes exceeds the limit of {size_max} bytes")]
    MessageTooLarge { size: u64, size_max: u64 },
    /// A CreateTime batch's timestamp is too far from the broker's clock.
    #[error("timestamp {timestamp_ms} is outside the accepted window around {now_ms}")]
    InvalidTimestamp { timestamp_ms: i64, now_ms: i64 },
    /// A read or a DeleteRecords below the log start or above the log end.
    #[error("offset {offset} is outside [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start_offset: i64,
        log_end_offset: i64,
    },
    /// A file operation failed.
    #[error("{operation} {path}: {source}")]
    Io {
        operation: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// A partition directory's `partition.metadata` names another topic than the one its log
    /// is opened for (Kafka's InconsistentTopicIdException): a topic of that name was deleted
    /// and created again; the old data is never served as the new topic's.
    #[error("{path} holds topic {found:?}, not {expected:?}")]
    InconsistentTopicId {
        path: PathBuf,
        expected: crate::protocol::Uuid,
        found: crate::protocol::Uuid,
    },
    /// A file of ours (control file, leader-epoch checkpoint) does not parse.
    #[error("{path} is malformed at line {line}")]
    MalformedFile { path: PathBuf, line: usize },
    /// Bytes already in a segment failed their checks after recovery (disk went bad underneath).
    #[error("segment {path} is corrupt at position {position}")]
    CorruptSegment { path: PathBuf, position: u64 },
    /// An earlier write failed and could not be undone; the log refuses further work until it
    /// is reopened (Kafka takes the log directory offline in the same case).
    #[error("log {path} is offline after an earlier I/O failure")]
    Offline { path: PathBuf },
    /// An idempotent producer's batch failed its epoch or sequence check (nothing written).
    #[error(transparent)]
    Producer(#[from] ProducerError),
    /// A follower's verbatim append whose batch does not continue the log: its base offset is
    /// `found` where `expected` (the log end, or the previous batch's last offset + 1) was due.
    #[error("replicated batch starts at offset {found}, expected {expected}")]
    NonContiguousReplication { expected: i64, found: i64 },
    /// A leader epoch assigned at an offset before the start of the latest epoch.
    #[error(
        "epoch {epoch} at offset {start_offset} precedes epoch {latest_epoch} at \
         {latest_start_offset}"
    )]
    EpochOutOfOrder {
        epoch: i32,
        start_offset: i64,
        latest_epoch: i32,
        latest_start_offset: i64,
    },
}

impl StorageError {
    /// The coarse kind the broker maps to a Kafka error code.
    #[must_use]
    pub fn kind(&self) -> StorageErrorKind {
        match self {
            Self::CorruptMessage { .. } => StorageErrorKind::CorruptMessage,
            Self::InvalidRecord { .. } | Self::EmptyAppend | Self::TooManyBatches { .. } => {
                StorageErrorKind::InvalidRecord
            }
            Self::UnknownPartition => StorageErrorKind::UnknownPartition,
            Self::MessageTooLarge { .. } => StorageErrorKind::MessageTooLarge,
            Self::InvalidTimestamp { .. } => StorageErrorKind::InvalidTimestamp,
            Self::OffsetOutOfRange { .. } => StorageErrorKind::OffsetOutOfRange,
            Self::Io { .. }
            | Self::MalformedFile { .. }
            | Self::InconsistentTopicId { .. }
            | Self::CorruptSegment { .. }
            | Self::SegmentLimit { .. }
            | Self::Offline { .. } => StorageErrorKind::Storage,
            Self::Producer(ProducerError::OutOfOrderSequence { .. }) => {
                StorageErrorKind::OutOfOrderSequence
            }
            Self::Producer(ProducerError::InvalidProducerEpoch { .. }) => {
                StorageErrorKind::InvalidProducerEpoch
            }
            Self::NonContiguousReplication { .. } | Self::EpochOutOfOrder { .. } => {
                StorageErrorKind::Replication
            }
        }
    }

    /// Sorts a produced batch's [`BatchError`] into corrupt (framing, CRC) or invalid (content).
    #[must_use]
    pub fn from_batch_error(batch_index: usize, reason: BatchError) -> Self {
        match reason {
            BatchError::TooShort { .. }
            | BatchError::LengthMismatch { .. }
            | BatchError::UnsupportedMagic { .. }
            | BatchError::CrcMismatch { .. } => Self::CorruptMessage {
                batch_index,
                reason,
            },
            BatchError::CountMismatch { .. } | BatchError::UnknownCodec { .. } => {
                Self::InvalidRecord {
                    batch_index,
                    reason,
                }
            }
        }
    }

    /// A copy for fanning one failure out to several requests (`io::Error` is not `Clone`;
    /// the copy keeps its kind and message).
    #[must_use]
    pub fn duplicate(&self) -> Self {
        match *self {
            Self::CorruptMessage {
                batch_index,
                reason,
            } => Self::CorruptMessage {
                batch_index,
                reason,
            },
            Self::InvalidRecord {
                batch_index,
                reason,
            } => Self::InvalidRecord {
                batch_index,
                reason,
            },
            Self::EmptyAppend => Self::EmptyAppend,
            Self::TooManyBatches { count, count_max } => Self::TooManyBatches { count, count_max },
            Self::SegmentLimit { count } => Self::SegmentLimit { count },
            Self::UnknownPartition => Self::UnknownPartition,
            Self::MessageTooLarge { size, size_max } => Self::MessageTooLarge { size, size_max },
            Self::InvalidTimestamp {
                timestamp_ms,
                now_ms,
            } => Self::InvalidTimestamp {
                timestamp_ms,
                now_ms,
            },
            Self::OffsetOutOfRange {
                offset,
                log_start_offset,
                log_end_offset,
            } => Self::OffsetOutOfRange {
                offset,
                log_start_offset,
                log_end_offset,
            },
            Self::InconsistentTopicId { .. }
            | Self::Io { .. }
            | Self::MalformedFile { .. }
            | Self::CorruptSegment { .. }
            | Self::Offline { .. } => self.duplicate_file_error(),
            Self::Producer(error) => Self::Producer(error),
            Self::NonContiguousReplication { expected, found } => {
                Self::NonContiguousReplication { expected, found }
            }
            Self::EpochOutOfOrder {
                epoch,
                start_offset,
                latest_epoch,
                latest_start_offset,
            } => Self::EpochOutOfOrder {
                epoch,
                start_offset,
                latest_epoch,
                latest_start_offset,
            },
        }
    }

    /// [`Self::duplicate`] of the errors about a file or directory.
    fn duplicate_file_error(&self) -> Self {
        match *self {
            Self::InconsistentTopicId {
                ref path,
                expected,
                found,
            } => Self::InconsistentTopicId {
                path: path.clone(),
                expected,
                found,
            },
            Self::Io {
                operation,
                ref path,
                ref source,
            } => Self::Io {
                operation,
                path: path.clone(),
                source: io::Error::new(source.kind(), source.to_string()),
            },
            Self::MalformedFile { ref path, line } => Self::MalformedFile {
                path: path.clone(),
                line,
            },
            Self::CorruptSegment { ref path, position } => Self::CorruptSegment {
                path: path.clone(),
                position,
            },
            Self::Offline { ref path } => Self::Offline { path: path.clone() },
            ref other => unreachable!("not a file error: {other:?}"),
        }
    }

    pub(crate) fn io(operation: &'static str, path: &std::path::Path, source: io::Error) -> Self {
        Self::Io {
            operation,
            path: path.to_path_buf(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_errors_sort_into_corrupt_and_invalid() {
        let crc = BatchError::CrcMismatch {
            stored: 1,
            computed: 2,
        };
        assert_eq!(
            StorageError::from_batch_error(0, crc).kind(),
            StorageErrorKind::CorruptMessage
        );
        let count = BatchError::CountMismatch {
            records_count: 2,
            last_offset_delta: 5,
        };
        assert_eq!(
            StorageError::from_batch_error(3, count).kind(),
            StorageErrorKind::InvalidRecord
        );
        let io = StorageError::io("open", std::path::Path::new("/x"), io::Error::other("boom"));
        assert_eq!(io.kind(), StorageErrorKind::Storage);
    }
}
