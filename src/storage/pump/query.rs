//! The pump's read-only commands: each [`Query`] becomes a future borrowing the shard's logs
//! that sends its own reply; the pump runs a tick's queries concurrently. Also the two read
//! modes of Fetch: copy (bytes in memory) and zero-copy (leased file ranges for a splice).
//!
//! Runs on the pump's shard, inside the pump task.
use super::{
    LeasedData, LeasedRange, PartitionKey, PartitionOffsets, Query, ReadArgs, ReadData, ReadUpto,
    ReplicaLogState,
};
use crate::storage::{PartitionLog, ReadSlice, SegmentFile, ShardLogs, StorageError};
use bytes::{Bytes, BytesMut};
use std::os::fd::{AsFd, OwnedFd};
use std::rc::Rc;
use std::sync::Arc;

/// Answers one query against `logs`.
pub(super) async fn query(logs: &ShardLogs<PartitionKey>, command: Query) {
    match command {
        Query::Read { read, reply } => {
            let result = match logs.get(&read.key) {
                Some(log) => read_bytes(log, read).await,
                None => unknown(),
            };
            let _ = reply.send(result);
        }
        Query::ReadLeased { read, reply } => {
            let result = match logs.get(&read.key) {
                Some(log) => read_leased(log, read).await,
                None => unknown(),
            };
            let _ = reply.send(result);
        }
        Query::Offsets { key, reply } => {
            let result = logs.get(&key).map_or_else(unknown, |log| {
                Ok(PartitionOffsets {
                    log_start_offset: log.log_start_offset(),
                    high_watermark: log.high_watermark(),
                    log_end_offset: log.log_end_offset(),
                    size_bytes: log.size_bytes(),
                })
            });
            let _ = reply.send(result);
        }
        Query::OffsetForTimestamp {
            key,
            timestamp_ms,
            reply,
        } => {
            let result = match logs.get(&key) {
                Some(log) => log.offset_for_timestamp(timestamp_ms).await,
                None => unknown(),
            };
            let _ = reply.send(result);
        }
        Query::MaxTimestamp { key, reply } => {
            let result = logs
                .get(&key)
                .map_or_else(unknown, |log| Ok(log.max_timestamp()));
            let _ = reply.send(result);
        }
        Query::EndOffsetForEpoch { key, epoch, reply } => {
            let result = logs
                .get(&key)
                .map_or_else(unknown, |log| Ok(log.end_offset_for_epoch(epoch)));
            let _ = reply.send(result);
        }
        Query::ReplicaState { key, reply } => {
            let result = logs
                .get(&key)
                .map_or_else(unknown, |log| Ok(replica_log_state(log)));
            let _ = reply.send(result);
        }
    }
}

/// What the replica manager needs of `log` (a query's answer, and a follower's after its
/// append).
pub(super) fn replica_log_state(log: &PartitionLog) -> ReplicaLogState {
    ReplicaLogState {
        log_start_offset: log.log_start_offset(),
        high_watermark: log.high_watermark(),
        log_end_offset: log.log_end_offset(),
        epochs: log.epoch_entries().to_vec(),
    }
}

/// The answer for a partition this shard does not have.
fn unknown<T>() -> Result<T, StorageError> {
    Err(StorageError::UnknownPartition)
}

/// Where `read` stops in `log`.
fn read_until(log: &PartitionLog, read: &ReadArgs) -> i64 {
    match read.upto {
        ReadUpto::HighWatermark => log.high_watermark(),
        ReadUpto::LogEnd => log.log_end_offset(),
    }
}

/// Copy-mode read: the file ranges' bytes, concatenated.
async fn read_bytes(log: &PartitionLog, read: ReadArgs) -> Result<ReadData, StorageError> {
    let until = read_until(log, &read);
    let slice = log
        .read_until(read.offset, read.max_bytes, read.min_one_batch, until)
        .await?;
    let bytes = match slice.ranges.as_slice() {
        [] => Bytes::new(),
        [only] => only.read_to_bytes().await?,
        ranges => {
            let total = usize::try_from(slice.size_bytes()).unwrap_or(usize::MAX);
            let mut joined = BytesMut::with_capacity(total);
            for range in ranges {
                joined.extend_from_slice(&range.read_to_bytes().await?);
            }
            joined.freeze()
        }
    };
    Ok(ReadData {
        bytes,
        high_watermark: slice.high_watermark,
        log_start_offset: slice.log_start_offset,
    })
}

/// Splice-mode read: the file ranges, each with a duplicated fd as its lease.
async fn read_leased(log: &PartitionLog, read: ReadArgs) -> Result<LeasedData, StorageError> {
    let until = read_until(log, &read);
    let slice = log
        .read_until(read.offset, read.max_bytes, read.min_one_batch, until)
        .await?;
    let ranges = lease_ranges(&slice)?;
    Ok(LeasedData {
        ranges,
        high_watermark: slice.high_watermark,
        log_start_offset: slice.log_start_offset,
    })
}

/// Leases every range of `slice`: one `dup` per distinct segment file (consecutive ranges of
/// one file share it). A `dup` is a cheap syscall that never blocks.
///
/// # Errors
/// `Io` when the process is out of fds.
pub fn lease_ranges(slice: &ReadSlice) -> Result<Vec<LeasedRange>, StorageError> {
    let mut leased: Vec<LeasedRange> = Vec::with_capacity(slice.ranges.len());
    let mut previous: Option<(&Rc<SegmentFile>, Arc<OwnedFd>)> = None;
    for range in &slice.ranges {
        let file = match previous {
            Some((segment, ref fd)) if Rc::ptr_eq(segment, &range.file) => Arc::clone(fd),
            _ => {
                let duplicate = range.file.file().as_fd().try_clone_to_owned();
                Arc::new(duplicate.map_err(|error| {
                    StorageError::io("dup segment fd", range.file.path(), error)
                })?)
            }
        };
        previous = Some((&range.file, Arc::clone(&file)));
        leased.push(LeasedRange {
            file,
            position: range.position,
            length: range.length,
        });
    }
    assert_eq!(leased.len(), slice.ranges.len());
    Ok(leased)
}
