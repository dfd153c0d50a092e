//! The Raft log on disk: openraft's `RaftLogStorage` + `RaftLogReader` over a Kafka-layout
//! partition, so our segment code's recovery, CRC checks and torn-tail handling apply to it.
//!
//! ```text
//! <data>/__cluster_metadata-0/
//!   00000000000000000000.log .index .timeindex   segments (storage/): one batch per entry
//!   leader-epoch-checkpoint  ringbroker-log       as every partition (epoch = Raft term)
//!   quorum-state                                  vote + last purged log id (this file)
//!   quorum-committed                              last committed log id known here
//!   <end offset:020>-<term:010>.checkpoint        applied-state snapshot (state_machine.rs)
//! ```
//! Each Raft entry is one RecordBatch v2 at base offset = Raft index, partition leader epoch =
//! term, holding one record whose value is the entry (log id + payload) encoded with postcard.
//! Blank and membership entries take offsets like proposals, so offsets are exactly Raft indexes.
//!
//! Durability: an append is reported to openraft through `IOFlushed` only after fdatasync; the
//! vote is written to `quorum-state` atomically (write, fsync, rename, fsync dir) before
//! `save_vote` returns, so before any vote is answered. Truncation (a conflicting suffix) and
//! purge (below a snapshot) are durable before they return: storage's `truncate_to`,
//! `delete_records_before` and `reset_to`.
//!
//! Concurrency: openraft calls the storage methods one at a time, while replication tasks read
//! through clones of the reader. The `PartitionLog` sits behind an async mutex (held across
//! its awaits, never a `RefCell` borrow); the vote and ids are plain cells read without awaits.
//! Runs on the quorum's runtime (shard 0's later); `!Send`.
use std::cell::RefCell;
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use bytes::{Bytes, BytesMut};
use openraft::storage::{IOFlushed, RaftLogStorage};
use openraft::{LogState, RaftLogReader};
use openraft_rt_compio::futures::lock::Mutex;
use serde::{Deserialize, Serialize};

use super::QuorumError;
use super::types::{Entry, LogId, TypeConfig, Vote, offset_of, term_of};
use crate::limits::{QUORUM_ENTRY_SIZE_MAX, QUORUM_READ_CHUNK_SIZE, QUORUM_SEGMENT_SIZE};
use crate::protocol::record_batch::BatchSplitter;
use crate::protocol::records::{BatchBuilder, BatchOptions, NewRecord, Records};
use crate::storage::{
    AppendRequest, CheckedBatch, Clock, FlushPolicy, LogConfig, PartitionLog, SystemClock,
    read_small_file, write_atomically,
};

/// The metadata partition's directory under the data dir (Kafka's name).
pub const METADATA_PARTITION_DIRECTORY: &str = "__cluster_metadata-0";
/// Vote and purge point; see the module docs.
pub const QUORUM_STATE_FILE_NAME: &str = "quorum-state";
const QUORUM_STATE_HEADER: &str = "ringbroker-quorum-state 1";
/// The last committed log id this node knew (openraft's optional `save_committed`): a
/// restarted node applies its log up to it at once, before it hears from a leader. A file of
/// its own so `quorum-state`'s format stays as it was.
pub const QUORUM_COMMITTED_FILE_NAME: &str = "quorum-committed";
const QUORUM_COMMITTED_HEADER: &str = "ringbroker-quorum-committed 1";

/// What `quorum-state` holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct PersistedState {
    vote: Option<Vote>,
    purged: Option<LogId>,
}

struct LogShared {
    log: Mutex<PartitionLog>,
    directory: PathBuf,
    state: RefCell<PersistedState>,
    /// The last entry's id, or the purged id when the log holds no entry.
    last_log_id: RefCell<Option<LogId>>,
}

/// openraft's log store and (as clones) its readers.
#[derive(Clone)]
pub struct LogStore {
    shared: Rc<LogShared>,
}

impl LogStore {
    /// Opens (or creates) the metadata partition under `data_directory` and reads the vote.
    ///
    /// # Errors
    /// `Storage` from the partition; `Corrupt` for an unreadable `quorum-state` or entry.
    pub async fn open(data_directory: &Path) -> Result<Self, QuorumError> {
        let directory = data_directory.join(METADATA_PARTITION_DIRECTORY);
        let clock: Rc<dyn Clock> = Rc::new(SystemClock);
        let mut log = PartitionLog::open(directory.clone(), log_config(), clock).await?;
        let state = read_state(&directory).await?;
        if let Some(purged) = &state.purged {
            // A crash between writing the purge point and deleting the segments.
            let start = offset_of(purged) + 1;
            if start > log.log_end_offset() {
                log.reset_to(start).await?;
            } else if start > log.log_start_offset() {
                log.delete_records_before(start).await?;
            }
        }
        let last_entry = if log.log_end_offset() > log.log_start_offset() {
            let end = log.log_end_offset();
            read_entries(&log, end - 1, end)
                .await
                .map_err(|e| corrupt(&directory, &e))?
                .pop()
                .map(|entry| entry.log_id)
        } else {
            None
        };
        let last_log_id = last_entry.or(state.purged);
        let shared = LogShared {
            log: Mutex::new(log),
            directory,
            state: RefCell::new(state),
            last_log_id: RefCell::new(last_log_id),
        };
        Ok(Self {
            shared: Rc::new(shared),
        })
    }

    /// The log start offset (entries below it were purged into a snapshot).
    pub async fn log_start_offset(&self) -> i64 {
        self.shared.log.lock().await.log_start_offset()
    }

    /// Entries with offsets in `[start, end)`, clamped to the log (openraft allows a reader
    /// to return fewer entries than asked when some are purged or not yet written).
    ///
    /// # Errors
    /// `io::Error` from storage, or an entry that does not decode.
    pub async fn entries(&self, start: i64, end: i64) -> Result<Vec<Entry>, io::Error> {
        let log = self.shared.log.lock().await;
        let end = end.min(log.log_end_offset());
        let start = start.max(log.log_start_offset());
        if start >= end {
            return Ok(Vec::new());
        }
        read_entries(&log, start, end).await
    }

    async fn write_state(&self, state: PersistedState) -> Result<(), io::Error> {
        let body = postcard::to_stdvec(&state).map_err(io::Error::other)?;
        let text = format!("{QUORUM_STATE_HEADER}\n{}\n", hex_encode(&body));
        write_atomically(&self.shared.directory, QUORUM_STATE_FILE_NAME, text)
            .await
            .map_err(io::Error::other)?;
        *self.shared.state.borrow_mut() = state;
        Ok(())
    }
}

/// The metadata partition's log config: no time/size retention (only snapshots purge it), no
/// flush policy (every append is synced here), entries up to [`QUORUM_ENTRY_SIZE_MAX`],
/// segments of [`QUORUM_SEGMENT_SIZE`].
fn log_config() -> LogConfig {
    let batch_overhead = 256;
    LogConfig {
        segment_bytes: QUORUM_SEGMENT_SIZE,
        segment_ms: None,
        retention_ms: None,
        retention_bytes: None,
        flush: FlushPolicy::None,
        max_message_bytes: u32::try_from(QUORUM_ENTRY_SIZE_MAX + batch_overhead)
            .unwrap_or(u32::MAX),
        ..LogConfig::default()
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let start = match range.start_bound() {
            Bound::Included(&index) => index,
            Bound::Excluded(&index) => index.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&index) => index.saturating_add(1),
            Bound::Excluded(&index) => index,
            Bound::Unbounded => u64::MAX,
        };
        let start = i64::try_from(start).unwrap_or(i64::MAX);
        let end = i64::try_from(end).unwrap_or(i64::MAX);
        self.entries(start, end).await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        Ok(self.shared.state.borrow().vote)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let purged = self.shared.state.borrow().purged;
        let last = *self.shared.last_log_id.borrow();
        Ok(LogState {
            last_purged_log_id: purged,
            last_log_id: last.or(purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        let mut state = self.shared.state.borrow().clone();
        state.vote = Some(*vote);
        self.write_state(state).await
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry>,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let Some(last) = entries.last().map(|entry| entry.log_id) else {
            callback.io_completed(Ok(()));
            return Ok(());
        };
        let mut log = self.shared.log.lock().await;
        let first = entries.first().map_or(0, |entry| offset_of(&entry.log_id));
        if log.log_start_offset() == log.log_end_offset() && first > log.log_end_offset() {
            // An empty log may start anywhere (openraft's storage suite starts at index 1);
            // the partition then starts at that offset, as after a purge.
            log.reset_to(first).await.map_err(io::Error::other)?;
        }
        let requests = encode_requests(&entries, log.log_end_offset())?;
        for result in log.append_unsynced(requests).await {
            result.map_err(io::Error::other)?;
        }
        let flushed = log.flush().await;
        assert_eq!(
            log.log_end_offset(),
            offset_of(&last) + 1,
            "log end after append"
        );
        drop(log);
        match flushed {
            Ok(()) => {
                *self.shared.last_log_id.borrow_mut() = Some(last);
                callback.io_completed(Ok(()));
                Ok(())
            }
            Err(error) => {
                callback.io_completed(Err(io::Error::other(error.to_string())));
                Err(io::Error::other(error))
            }
        }
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        let body = postcard::to_stdvec(&committed).map_err(io::Error::other)?;
        let text = format!("{QUORUM_COMMITTED_HEADER}\n{}\n", hex_encode(&body));
        write_atomically(&self.shared.directory, QUORUM_COMMITTED_FILE_NAME, text)
            .await
            .map_err(io::Error::other)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        let path = self.shared.directory.join(QUORUM_COMMITTED_FILE_NAME);
        let Some(text) = read_small_file(&path).await.map_err(io::Error::other)? else {
            return Ok(None);
        };
        let mut lines = text.lines();
        let body = (lines.next() == Some(QUORUM_COMMITTED_HEADER))
            .then(|| lines.next().and_then(hex_decode))
            .flatten();
        // Only an optimisation: an unreadable file is ignored (the leader re-sends commit).
        Ok(body
            .and_then(|body| postcard::from_bytes(&body).ok())
            .flatten())
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let keep_end = last_log_id.as_ref().map_or(0, |id| offset_of(id) + 1);
        let mut log = self.shared.log.lock().await;
        if keep_end >= log.log_end_offset() {
            return Ok(()); // Nothing after it (openraft's suite asks for this no-op).
        }
        let target = keep_end.max(log.log_start_offset());
        let new_end = log.truncate_to(target).await;
        drop(log);
        let new_end = new_end.map_err(io::Error::other)?;
        assert_eq!(new_end, target, "one batch per entry: the cut is exact");
        let purged = self.shared.state.borrow().purged;
        *self.shared.last_log_id.borrow_mut() = last_log_id.or(purged);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        // The purge point first: a crash before the segments go is finished by `open`.
        let mut state = self.shared.state.borrow().clone();
        state.purged = Some(log_id);
        self.write_state(state).await?;
        let start = offset_of(&log_id) + 1;
        let mut log = self.shared.log.lock().await;
        let result = if start > log.log_end_offset() {
            log.reset_to(start).await
        } else {
            log.delete_records_before(start).await.map(|_| ())
        };
        let empty = log.log_end_offset() == log.log_start_offset();
        drop(log);
        result.map_err(io::Error::other)?;
        if empty {
            *self.shared.last_log_id.borrow_mut() = Some(log_id);
        }
        Ok(())
    }
}

/// One append request per entry: each carries its own term as the batch's leader epoch.
fn encode_requests(entries: &[Entry], log_end: i64) -> Result<Vec<AppendRequest>, io::Error> {
    let now_ms = SystemClock.now_ms();
    let mut requests = Vec::with_capacity(entries.len());
    for (position, entry) in entries.iter().enumerate() {
        let expected = log_end + i64::try_from(position).unwrap_or(i64::MAX);
        if offset_of(&entry.log_id) != expected {
            // openraft appends right after the last entry (or the purge point); anything else
            // would leave a hole in the partition.
            return Err(io::Error::other(format!(
                "append of entry {} where offset {expected} is next",
                entry.log_id
            )));
        }
        let leader_epoch = i32::try_from(term_of(&entry.log_id))
            .map_err(|_| io::Error::other("Raft term past i32::MAX (Kafka's leader epoch)"))?;
        let batch = encode_entry(entry, now_ms)?;
        let batch = CheckedBatch::new(batch.freeze()).map_err(io::Error::other)?;
        requests.push(AppendRequest {
            batches: vec![batch],
            leader_epoch,
        });
    }
    Ok(requests)
}

/// One entry as one RecordBatch v2 holding one record (value = the entry, postcard).
///
/// # Errors
/// An entry over [`QUORUM_ENTRY_SIZE_MAX`] or that the builder refuses.
pub fn encode_entry(entry: &Entry, now_ms: i64) -> Result<BytesMut, io::Error> {
    let value = postcard::to_stdvec(entry).map_err(io::Error::other)?;
    if value.len() > QUORUM_ENTRY_SIZE_MAX {
        return Err(io::Error::other(format!(
            "entry of {} bytes over {QUORUM_ENTRY_SIZE_MAX}",
            value.len()
        )));
    }
    let mut output = BytesMut::with_capacity(value.len() + 128);
    let mut scratch = BytesMut::new();
    let options = BatchOptions {
        base_offset: offset_of(&entry.log_id),
        partition_leader_epoch: i32::try_from(term_of(&entry.log_id)).unwrap_or(i32::MAX),
        ..BatchOptions::default()
    };
    let mut builder = BatchBuilder::new(&mut output, &mut scratch, options);
    let record = NewRecord {
        timestamp: now_ms,
        key: None,
        value: Some(&value),
        headers: &[],
    };
    builder.append(&record).map_err(io::Error::other)?;
    builder.finish().map_err(io::Error::other)?;
    Ok(output)
}

/// The entry in one batch read back from the log; checks it sits at the batch's offset.
///
/// # Errors
/// A batch that fails its checks, holds no record, or whose entry does not decode.
pub fn decode_entry(batch: Bytes) -> Result<Entry, io::Error> {
    let mut records = Records::new(batch).map_err(io::Error::other)?;
    let record = records
        .next()
        .ok_or_else(|| io::Error::other("metadata batch without a record"))?
        .map_err(io::Error::other)?;
    let value = record
        .value
        .ok_or_else(|| io::Error::other("metadata record without a value"))?;
    let entry: Entry = postcard::from_bytes(&value).map_err(io::Error::other)?;
    if offset_of(&entry.log_id) != record.offset {
        return Err(io::Error::other(format!(
            "entry {} stored at offset {}",
            entry.log_id, record.offset
        )));
    }
    Ok(entry)
}

/// Entries `[start, end)`; the caller clamped `end` to the log end.
async fn read_entries(log: &PartitionLog, start: i64, end: i64) -> Result<Vec<Entry>, io::Error> {
    assert!(start < end, "an empty range is answered by the caller");
    let mut entries = Vec::new();
    let mut next = start;
    // Loop bound: every pass reads at least one entry (min_one_batch) or returns.
    while next < end {
        let slice = log
            .read(next, QUORUM_READ_CHUNK_SIZE, true)
            .await
            .map_err(io::Error::other)?;
        let before = next;
        for range in &slice.ranges {
            let bytes = range.read_to_bytes().await.map_err(io::Error::other)?;
            for batch in BatchSplitter::new(bytes) {
                let entry = decode_entry(batch)?;
                let offset = offset_of(&entry.log_id);
                if offset < next {
                    continue;
                }
                if offset >= end {
                    return Ok(entries);
                }
                if offset != next {
                    return Err(io::Error::other(format!(
                        "entry {offset} where {next} was due"
                    )));
                }
                entries.push(entry);
                next += 1;
            }
        }
        if next == before {
            return Err(io::Error::other(format!("no entry at offset {next}")));
        }
    }
    Ok(entries)
}

async fn read_state(directory: &Path) -> Result<PersistedState, QuorumError> {
    let path = directory.join(QUORUM_STATE_FILE_NAME);
    let Some(text) = read_small_file(&path).await? else {
        return Ok(PersistedState::default());
    };
    let bad = |reason: &str| QuorumError::Corrupt {
        path: path.clone(),
        reason: reason.to_string(),
    };
    let mut lines = text.lines();
    if lines.next() != Some(QUORUM_STATE_HEADER) {
        return Err(bad("unknown header"));
    }
    let body = lines
        .next()
        .and_then(hex_decode)
        .ok_or_else(|| bad("body is not hex"))?;
    postcard::from_bytes(&body).map_err(|_| bad("body does not decode"))
}

fn corrupt(directory: &Path, error: &io::Error) -> QuorumError {
    QuorumError::Corrupt {
        path: directory.to_path_buf(),
        reason: error.to_string(),
    }
}

fn hex_encode(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(text, "{byte:02x}");
    }
    text
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(text.get(at..at + 2)?, 16).ok())
        .collect()
}
