//! Idempotent-producer state of one partition: per producer id its epoch, the sequence and
//! offset ranges of its last 5 batches, and when it was last active; the checks an append runs
//! per batch before anything is written, and the snapshot file that carries the table across
//! restarts.
//!
//! Rules (Kafka's `ProducerAppendInfo` / `ProducerStateEntry` / `UnifiedLog`, Kafka ≥ 2.7):
//! ```text
//! producer_id < 0                       no idempotence: bypasses the table
//! epoch = entry epoch, (first, last) sequence equal to one of the 5 kept batches
//!                                       Duplicate: answer with its offsets, write nothing
//! epoch < entry epoch                   INVALID_PRODUCER_EPOCH (47)
//! epoch > entry epoch, sequence ≠ 0     OUT_OF_ORDER_SEQUENCE_NUMBER (45)
//! epoch > entry epoch, sequence = 0     accepted; the new epoch starts with an empty window
//! same epoch, first ≠ last + 1          OUT_OF_ORDER_SEQUENCE_NUMBER (45); i32::MAX → 0 wraps
//! unknown producer (no entry)           accepted at any sequence (KIP-360, Kafka 2.5+: the
//!                                       broker no longer answers UNKNOWN_PRODUCER_ID (59) to
//!                                       Produce; it forgets producers only by expiry, and a
//!                                       client whose state expired must be able to go on)
//! ```
//! The duplicate check looks at the committed table only (as Kafka's does); the sequence check
//! of a batch also sees the batches before it in the same append ([`Staging`]).
//!
//! Expiry: a producer whose last batch timestamp is `producer.id.expiration.ms` or more behind
//! the clock is forgotten. Like Kafka, "last activity" is the batch's max timestamp (the broker's
//! clock for LogAppendTime), because that is what a replay of the log can reproduce.
//!
//! Snapshot file `<20-digit offset>.snapshot`: the table as of that offset (batches below it).
//! ```text
//! [magic "RBPS"][version:u16 = 1][crc32c:u32 of everything after it]
//! [offset:i64][producer_count:u32]
//! per producer: [producer_id:i64][epoch:i16][last_timestamp_ms:i64][batch_count:u8]
//!   per batch:  [first_sequence:i32][last_sequence:i32][first_offset:i64][last_offset:i64]
//!               [timestamp_ms:i64]
//! ```
//! all big-endian. Invariants: at most [`PRODUCERS_PER_PARTITION_MAX`] producers and
//! [`BATCHES_RETAINED`] batches each, batches in append order with rising offsets.
//!
//! Runs on the shard that owns the partition; `!Send` only through its owner.
use std::collections::{HashMap, VecDeque};

use crate::limits::PRODUCERS_PER_PARTITION_MAX;
use crate::protocol::record_batch::BatchHeader;

/// Batches remembered per producer: the most a client keeps in flight
/// (`max.in.flight.requests.per.connection` ≤ 5 with idempotence), Kafka's
/// `NUM_BATCHES_TO_RETAIN`.
pub const BATCHES_RETAINED: usize = 5;

/// Kafka's default `producer.id.expiration.ms`: one day.
pub const PRODUCER_ID_EXPIRATION_MS_DEFAULT: i64 = 86_400_000;
// The same fact as the broker setting's default (config.rs), in the table's i64 milliseconds.
#[allow(clippy::cast_sign_loss)] // a positive constant
const _: () = assert!(
    PRODUCER_ID_EXPIRATION_MS_DEFAULT as u64 == crate::limits::PRODUCER_ID_EXPIRATION_MS_DEFAULT
);

const SNAPSHOT_MAGIC: &[u8; 4] = b"RBPS";
const SNAPSHOT_VERSION: u16 = 1;
const SNAPSHOT_PREFIX_SIZE: usize = 4 + 2 + 4;
const SNAPSHOT_PRODUCER_SIZE: usize = 8 + 2 + 8 + 1;
const SNAPSHOT_BATCH_SIZE: usize = 4 + 4 + 8 + 8 + 8;

/// Largest snapshot we write or read: every producer with a full window.
pub const SNAPSHOT_SIZE_MAX: usize = SNAPSHOT_PREFIX_SIZE
    + 8
    + 4
    + PRODUCERS_PER_PARTITION_MAX
        * (SNAPSHOT_PRODUCER_SIZE + BATCHES_RETAINED * SNAPSHOT_BATCH_SIZE);

/// Why a producer's batch is refused. Kafka codes in the variant docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProducerError {
    /// OUT_OF_ORDER_SEQUENCE_NUMBER (45): a gap, a reordering, a retry older than the window,
    /// or a new epoch not starting at sequence 0.
    #[error(
        "producer {producer_id} epoch {epoch}: sequence {first_sequence} does not follow \
         {last_sequence}"
    )]
    OutOfOrderSequence {
        producer_id: i64,
        epoch: i16,
        first_sequence: i32,
        /// The last sequence seen for this epoch, or −1 for a new epoch.
        last_sequence: i32,
    },
    /// INVALID_PRODUCER_EPOCH (47): the batch's epoch is older than the producer's (a zombie
    /// or a producer that was bumped; Kafka ≥ 2.7 answers this instead of PRODUCER_FENCED so
    /// the client may bump and retry).
    #[error("producer {producer_id}: epoch {epoch} is older than {current_epoch}")]
    InvalidProducerEpoch {
        producer_id: i64,
        epoch: i16,
        current_epoch: i16,
    },
}

/// What to do with a batch that passed the checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// New: write it.
    Append,
    /// A retry of a batch already in the log: answer with its offsets, write nothing.
    Duplicate {
        base_offset: i64,
        last_offset: i64,
        /// The original batch's timestamp as remembered (its max timestamp).
        timestamp_ms: i64,
    },
}

/// The producer fields of one batch header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerBatch {
    pub producer_id: i64,
    pub epoch: i16,
    pub first_sequence: i32,
    pub last_sequence: i32,
    /// Number of offsets the batch takes (last offset delta + 1).
    pub offset_count: i64,
    pub max_timestamp: i64,
}

impl ProducerBatch {
    /// `None` for batches without a producer id (they bypass the table) and for control
    /// batches (transaction markers; not produced by clients, and we run no transactions).
    #[must_use]
    pub fn from_header(header: &BatchHeader<'_>) -> Option<Self> {
        if header.producer_id() < 0 || header.is_control() {
            return None;
        }
        let delta = header.last_offset_delta();
        Some(Self {
            producer_id: header.producer_id(),
            epoch: header.producer_epoch(),
            first_sequence: header.base_sequence(),
            last_sequence: increment_sequence(header.base_sequence(), delta),
            offset_count: i64::from(delta) + 1,
            max_timestamp: header.max_timestamp(),
        })
    }
}

/// `sequence + increment`, wrapping from `i32::MAX` to 0 as Kafka's sequences do.
#[must_use]
pub fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    assert!(increment >= 0, "negative sequence increment");
    if sequence > i32::MAX - increment {
        increment - (i32::MAX - sequence) - 1
    } else {
        sequence + increment
    }
}

fn in_sequence(last_sequence: i32, next_sequence: i32) -> bool {
    i64::from(next_sequence) == i64::from(last_sequence) + 1
        || (next_sequence == 0 && last_sequence == i32::MAX)
}

/// One remembered batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchRecord {
    pub first_sequence: i32,
    pub last_sequence: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub timestamp_ms: i64,
}

/// One producer's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerEntry {
    pub epoch: i16,
    /// Oldest first; at most [`BATCHES_RETAINED`].
    pub batches: VecDeque<BatchRecord>,
    pub last_timestamp_ms: i64,
}

impl ProducerEntry {
    fn last_sequence(&self) -> Option<i32> {
        self.batches.back().map(|b| b.last_sequence)
    }

    /// Kafka's `addBatch`: a new epoch clears the window; the window keeps the newest 5.
    fn add_batch(&mut self, epoch: i16, batch: BatchRecord) {
        if self.epoch != epoch {
            self.batches.clear();
            self.epoch = epoch;
        }
        if self.batches.len() >= BATCHES_RETAINED {
            self.batches.pop_front();
        }
        self.batches.push_back(batch);
        self.last_timestamp_ms = batch.timestamp_ms;
        assert!(self.batches.len() <= BATCHES_RETAINED, "window overflow");
    }

    fn find_duplicate(&self, batch: &ProducerBatch) -> Option<&BatchRecord> {
        if batch.epoch != self.epoch {
            return None;
        }
        self.batches.iter().find(|record| {
            record.first_sequence == batch.first_sequence
                && record.last_sequence == batch.last_sequence
        })
    }
}

/// The table of one partition. See the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerStateTable {
    producers: HashMap<i64, ProducerEntry>,
    expiration_ms: i64,
}

impl ProducerStateTable {
    /// An empty table forgetting producers idle for `expiration_ms`.
    ///
    /// # Panics
    /// When `expiration_ms` is not positive (configs are validated before).
    #[must_use]
    pub fn new(expiration_ms: i64) -> Self {
        assert!(
            expiration_ms > 0,
            "producer.id.expiration.ms must be positive"
        );
        Self {
            producers: HashMap::new(),
            expiration_ms,
        }
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    #[must_use]
    pub fn get(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    pub fn set_expiration_ms(&mut self, expiration_ms: i64) {
        assert!(
            expiration_ms > 0,
            "producer.id.expiration.ms must be positive"
        );
        self.expiration_ms = expiration_ms;
    }

    /// Checks one batch against the committed table alone (see [`Staging`] for several).
    ///
    /// # Errors
    /// [`ProducerError`] as in the module docs.
    pub fn check(&self, batch: &ProducerBatch) -> Result<Decision, ProducerError> {
        let mut staging = Staging::new(self);
        staging.check_and_stage(batch, 0, 0)
    }

    /// Records an appended (or replayed) batch at `first_offset..` with `timestamp_ms`,
    /// without checks: replay trusts the log, and appends were checked before writing.
    pub fn update(&mut self, batch: &ProducerBatch, first_offset: i64, timestamp_ms: i64) {
        assert!(
            batch.producer_id >= 0,
            "a batch without producer id has no state"
        );
        assert!(batch.offset_count >= 1, "a batch takes at least one offset");
        let record = BatchRecord {
            first_sequence: batch.first_sequence,
            last_sequence: batch.last_sequence,
            first_offset,
            last_offset: first_offset + batch.offset_count - 1,
            timestamp_ms,
        };
        if !self.producers.contains_key(&batch.producer_id) {
            self.make_room();
        }
        let entry = self
            .producers
            .entry(batch.producer_id)
            .or_insert_with(|| ProducerEntry {
                epoch: batch.epoch,
                batches: VecDeque::new(),
                last_timestamp_ms: timestamp_ms,
            });
        entry.add_batch(batch.epoch, record);
        self.check_invariants();
    }

    /// Takes in what a [`Staging`] accepted, after its batches were written.
    pub fn commit(&mut self, staged: StagedUpdates) {
        for (producer_id, entry) in staged.updated {
            if !self.producers.contains_key(&producer_id) {
                self.make_room();
            }
            self.producers.insert(producer_id, entry);
        }
        self.check_invariants();
    }

    /// Forgets producers whose last batch is `producer.id.expiration.ms` or more before
    /// `now_ms`. Returns how many.
    pub fn remove_expired(&mut self, now_ms: i64) -> usize {
        let before = self.producers.len();
        let expiration_ms = self.expiration_ms;
        self.producers
            .retain(|_, entry| now_ms.saturating_sub(entry.last_timestamp_ms) < expiration_ms);
        before - self.producers.len()
    }

    /// At the limit, forgets the least recently active producer: its next batch is then
    /// accepted as an unknown producer's, the same as after expiry. (Kafka keeps no limit and
    /// can run out of heap instead, KIP-936.)
    fn make_room(&mut self) {
        if self.producers.len() < PRODUCERS_PER_PARTITION_MAX {
            return;
        }
        let oldest = self
            .producers
            .iter()
            .min_by_key(|(_, entry)| entry.last_timestamp_ms)
            .map(|(producer_id, _)| *producer_id);
        if let Some(producer_id) = oldest {
            self.producers.remove(&producer_id);
        }
        assert!(self.producers.len() < PRODUCERS_PER_PARTITION_MAX);
    }

    /// # Panics
    /// When a producer's window is too long or its offsets do not rise.
    pub fn check_invariants(&self) {
        assert!(
            self.producers.len() <= PRODUCERS_PER_PARTITION_MAX,
            "too many producers: {}",
            self.producers.len()
        );
        for entry in self.producers.values() {
            assert!(entry.batches.len() <= BATCHES_RETAINED, "window too long");
            if cfg!(debug_assertions) {
                for (older, newer) in entry.batches.iter().zip(entry.batches.iter().skip(1)) {
                    assert!(
                        older.last_offset < newer.first_offset,
                        "window offsets fall"
                    );
                }
            }
        }
    }

    /// The snapshot bytes of this table as of `offset` (format in the module docs).
    #[must_use]
    pub fn encode_snapshot(&self, offset: i64) -> Vec<u8> {
        let mut body = Vec::with_capacity(12 + self.producers.len() * SNAPSHOT_PRODUCER_SIZE);
        body.extend_from_slice(&offset.to_be_bytes());
        let count = u32::try_from(self.producers.len()).unwrap_or(u32::MAX);
        body.extend_from_slice(&count.to_be_bytes());
        let mut ids: Vec<i64> = self.producers.keys().copied().collect();
        ids.sort_unstable();
        for producer_id in ids {
            let Some(entry) = self.producers.get(&producer_id) else {
                continue;
            };
            body.extend_from_slice(&producer_id.to_be_bytes());
            body.extend_from_slice(&entry.epoch.to_be_bytes());
            body.extend_from_slice(&entry.last_timestamp_ms.to_be_bytes());
            let batch_count = u8::try_from(entry.batches.len()).unwrap_or(u8::MAX);
            body.push(batch_count);
            for batch in &entry.batches {
                body.extend_from_slice(&batch.first_sequence.to_be_bytes());
                body.extend_from_slice(&batch.last_sequence.to_be_bytes());
                body.extend_from_slice(&batch.first_offset.to_be_bytes());
                body.extend_from_slice(&batch.last_offset.to_be_bytes());
                body.extend_from_slice(&batch.timestamp_ms.to_be_bytes());
            }
        }
        let mut bytes = Vec::with_capacity(SNAPSHOT_PREFIX_SIZE + body.len());
        bytes.extend_from_slice(SNAPSHOT_MAGIC);
        bytes.extend_from_slice(&SNAPSHOT_VERSION.to_be_bytes());
        bytes.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
        bytes.extend_from_slice(&body);
        assert!(bytes.len() <= SNAPSHOT_SIZE_MAX, "snapshot over its bound");
        bytes
    }

    /// Decodes a snapshot; returns the table (expiring after `expiration_ms`; the caller
    /// removes the already expired) and the offset it was taken at.
    ///
    /// # Errors
    /// [`SnapshotError`] for any byte that does not fit the format.
    pub fn decode_snapshot(bytes: &[u8], expiration_ms: i64) -> Result<(Self, i64), SnapshotError> {
        let mut reader = Reader { bytes, position: 0 };
        if reader.take(4)? != SNAPSHOT_MAGIC {
            return Err(SnapshotError::BadMagic);
        }
        let version = reader.u16()?;
        if version != SNAPSHOT_VERSION {
            return Err(SnapshotError::UnknownVersion { version });
        }
        let stored = reader.u32()?;
        let computed = crc32c::crc32c(bytes.get(SNAPSHOT_PREFIX_SIZE..).unwrap_or_default());
        if stored != computed {
            return Err(SnapshotError::CrcMismatch { stored, computed });
        }
        let offset = reader.i64()?;
        let count = reader.u32()? as usize;
        if count > PRODUCERS_PER_PARTITION_MAX {
            return Err(SnapshotError::TooManyProducers { count });
        }
        let mut table = Self::new(expiration_ms);
        for _ in 0..count {
            let producer_id = reader.i64()?;
            let epoch = reader.i16()?;
            let last_timestamp_ms = reader.i64()?;
            let batch_count = usize::from(reader.u8()?);
            if producer_id < 0 || batch_count > BATCHES_RETAINED {
                return Err(SnapshotError::Malformed {
                    position: reader.position,
                });
            }
            let mut batches = VecDeque::with_capacity(batch_count);
            for _ in 0..batch_count {
                let batch = BatchRecord {
                    first_sequence: reader.i32()?,
                    last_sequence: reader.i32()?,
                    first_offset: reader.i64()?,
                    last_offset: reader.i64()?,
                    timestamp_ms: reader.i64()?,
                };
                let rising = batches
                    .back()
                    .is_none_or(|older: &BatchRecord| older.last_offset < batch.first_offset);
                if batch.first_offset > batch.last_offset || batch.last_offset >= offset || !rising
                {
                    return Err(SnapshotError::Malformed {
                        position: reader.position,
                    });
                }
                batches.push_back(batch);
            }
            let entry = ProducerEntry {
                epoch,
                batches,
                last_timestamp_ms,
            };
            if table.producers.insert(producer_id, entry).is_some() {
                return Err(SnapshotError::Malformed {
                    position: reader.position,
                });
            }
        }
        if reader.position != bytes.len() {
            return Err(SnapshotError::Malformed {
                position: reader.position,
            });
        }
        table.check_invariants();
        Ok((table, offset))
    }
}

/// Why a snapshot file was not usable (the log then rebuilds from an older one or the start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("not a producer snapshot")]
    BadMagic,
    #[error("snapshot version {version} is not ours")]
    UnknownVersion { version: u16 },
    #[error("snapshot CRC {stored:#x} does not match {computed:#x}")]
    CrcMismatch { stored: u32, computed: u32 },
    #[error("snapshot ends early at byte {position}")]
    Truncated { position: usize },
    #[error("snapshot holds {count} producers, more than we keep")]
    TooManyProducers { count: usize },
    #[error("snapshot is malformed at byte {position}")]
    Malformed { position: usize },
}

/// Big-endian reads that fail instead of panicking past the end.
struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl Reader<'_> {
    fn take(&mut self, length: usize) -> Result<&[u8], SnapshotError> {
        let end = self.position.saturating_add(length);
        let slice = self
            .bytes
            .get(self.position..end)
            .ok_or(SnapshotError::Truncated {
                position: self.position,
            })?;
        self.position = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        let position = self.position;
        self.take(N)?
            .try_into()
            .map_err(|_| SnapshotError::Truncated { position })
    }

    fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    fn u16(&mut self) -> Result<u16, SnapshotError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn i16(&mut self) -> Result<i16, SnapshotError> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, SnapshotError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn i32(&mut self) -> Result<i32, SnapshotError> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64, SnapshotError> {
        Ok(i64::from_be_bytes(self.array()?))
    }
}

/// Producer entries changed by batches checked but not yet written (Kafka's
/// `updatedProducers`); committed with [`ProducerStateTable::commit`] after the write.
#[derive(Debug, Default)]
pub struct StagedUpdates {
    updated: HashMap<i64, ProducerEntry>,
}

impl StagedUpdates {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.updated.is_empty()
    }

    /// Takes in a later group of updates (a later request of the same append), which wins.
    pub fn merge(&mut self, later: StagedUpdates) {
        self.updated.extend(later.updated);
    }
}

/// Checks a sequence of batches against the table plus the batches staged before them.
#[derive(Debug)]
pub struct Staging<'a> {
    table: &'a ProducerStateTable,
    /// Updates from earlier requests of this append (already accepted).
    earlier: Option<&'a StagedUpdates>,
    staged: StagedUpdates,
}

impl<'a> Staging<'a> {
    #[must_use]
    pub fn new(table: &'a ProducerStateTable) -> Self {
        Self {
            table,
            earlier: None,
            staged: StagedUpdates::default(),
        }
    }

    /// Staging that sees `earlier` (accepted requests of the same append) as well.
    #[must_use]
    pub fn after(table: &'a ProducerStateTable, earlier: &'a StagedUpdates) -> Self {
        Self {
            table,
            earlier: Some(earlier),
            staged: StagedUpdates::default(),
        }
    }

    fn current(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.staged
            .updated
            .get(&producer_id)
            .or_else(|| {
                self.earlier
                    .and_then(|earlier| earlier.updated.get(&producer_id))
            })
            .or_else(|| self.table.producers.get(&producer_id))
    }

    /// Checks `batch`, to be written at `first_offset` with `timestamp_ms`, and on `Append`
    /// stages its update so later batches of the append are checked against it.
    ///
    /// # Errors
    /// [`ProducerError`] as in the module docs.
    pub fn check_and_stage(
        &mut self,
        batch: &ProducerBatch,
        first_offset: i64,
        timestamp_ms: i64,
    ) -> Result<Decision, ProducerError> {
        assert!(
            batch.producer_id >= 0,
            "batches without producer id bypass the table"
        );
        let committed = self.table.producers.get(&batch.producer_id);
        if let Some(duplicate) = committed.and_then(|entry| entry.find_duplicate(batch)) {
            return Ok(Decision::Duplicate {
                base_offset: duplicate.first_offset,
                last_offset: duplicate.last_offset,
                timestamp_ms: duplicate.timestamp_ms,
            });
        }
        let current = self.current(batch.producer_id);
        if let Some(entry) = current {
            check_entry(entry, batch)?;
        }
        let mut entry = current.cloned().unwrap_or_else(|| ProducerEntry {
            epoch: batch.epoch,
            batches: VecDeque::new(),
            last_timestamp_ms: timestamp_ms,
        });
        entry.add_batch(
            batch.epoch,
            BatchRecord {
                first_sequence: batch.first_sequence,
                last_sequence: batch.last_sequence,
                first_offset,
                last_offset: first_offset + batch.offset_count - 1,
                timestamp_ms,
            },
        );
        self.staged.updated.insert(batch.producer_id, entry);
        Ok(Decision::Append)
    }

    /// The updates staged so far, for [`ProducerStateTable::commit`] after the write.
    #[must_use]
    pub fn finish(self) -> StagedUpdates {
        self.staged
    }
}

/// Epoch and sequence checks of `batch` against the producer's current `entry`.
fn check_entry(entry: &ProducerEntry, batch: &ProducerBatch) -> Result<(), ProducerError> {
    if batch.epoch < entry.epoch {
        return Err(ProducerError::InvalidProducerEpoch {
            producer_id: batch.producer_id,
            epoch: batch.epoch,
            current_epoch: entry.epoch,
        });
    }
    if batch.epoch != entry.epoch {
        // A bumped epoch restarts the sequence at 0.
        if batch.first_sequence != 0 {
            return Err(ProducerError::OutOfOrderSequence {
                producer_id: batch.producer_id,
                epoch: batch.epoch,
                first_sequence: batch.first_sequence,
                last_sequence: -1,
            });
        }
        return Ok(());
    }
    match entry.last_sequence() {
        // Same epoch but an empty window (Kafka: no sequence known): any sequence goes.
        None => Ok(()),
        Some(last) if in_sequence(last, batch.first_sequence) => Ok(()),
        Some(last) => Err(ProducerError::OutOfOrderSequence {
            producer_id: batch.producer_id,
            epoch: batch.epoch,
            first_sequence: batch.first_sequence,
            last_sequence: last,
        }),
    }
}

/// `<20-digit offset>.snapshot`, Kafka's name for producer snapshots.
#[must_use]
pub fn snapshot_file_name(offset: i64) -> String {
    format!("{offset:020}.snapshot")
}

/// The offset of a `<20 digits>.snapshot` file name.
#[must_use]
pub fn parse_snapshot_file_name(name: &str) -> Option<i64> {
    super::segment::parse_offset_file_name(name, ".snapshot")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(producer_id: i64, epoch: i16, first_sequence: i32, count: i32) -> ProducerBatch {
        ProducerBatch {
            producer_id,
            epoch,
            first_sequence,
            last_sequence: increment_sequence(first_sequence, count - 1),
            offset_count: i64::from(count),
            max_timestamp: 1000,
        }
    }

    #[test]
    fn check_follows_kafkas_rules() {
        let mut table = ProducerStateTable::new(PRODUCER_ID_EXPIRATION_MS_DEFAULT);
        // Unknown producer (KIP-360): any sequence.
        assert_eq!(table.check(&batch(1, 2, 40, 2)), Ok(Decision::Append));
        table.update(&batch(1, 2, 40, 2), 100, 10);
        let duplicate = Decision::Duplicate {
            base_offset: 100,
            last_offset: 101,
            timestamp_ms: 10,
        };
        assert_eq!(table.check(&batch(1, 2, 40, 2)), Ok(duplicate));
        assert_eq!(table.check(&batch(1, 2, 42, 1)), Ok(Decision::Append));
        let gap = table.check(&batch(1, 2, 43, 1));
        assert!(matches!(
            gap,
            Err(ProducerError::OutOfOrderSequence {
                last_sequence: 41,
                ..
            })
        ));
        let fenced = table.check(&batch(1, 1, 42, 1));
        assert!(matches!(
            fenced,
            Err(ProducerError::InvalidProducerEpoch {
                current_epoch: 2,
                ..
            })
        ));
        let bump_mid = table.check(&batch(1, 3, 42, 1));
        assert!(matches!(
            bump_mid,
            Err(ProducerError::OutOfOrderSequence {
                last_sequence: -1,
                ..
            })
        ));
        assert_eq!(table.check(&batch(1, 3, 0, 1)), Ok(Decision::Append));
        // A staged batch is seen by the next one of the same append, not as a duplicate.
        let mut staging = Staging::new(&table);
        assert_eq!(
            staging.check_and_stage(&batch(1, 2, 42, 1), 102, 11),
            Ok(Decision::Append)
        );
        assert_eq!(
            staging.check_and_stage(&batch(1, 2, 43, 1), 103, 11),
            Ok(Decision::Append)
        );
        let staged = staging.finish();
        table.commit(staged);
        assert_eq!(table.get(1).unwrap().batches.len(), 3);
    }

    #[test]
    fn expiry_counts_from_the_last_batch_timestamp() {
        let mut table = ProducerStateTable::new(1000);
        table.update(&batch(1, 0, 0, 1), 0, 5_000);
        table.update(&batch(2, 0, 0, 1), 1, 5_500);
        assert_eq!(table.remove_expired(5_999), 0);
        assert_eq!(table.remove_expired(6_000), 1);
        assert!(table.get(1).is_none());
        assert!(table.get(2).is_some());
    }

    #[test]
    fn sequences_wrap_at_i32_max() {
        assert_eq!(increment_sequence(5, 3), 8);
        assert_eq!(increment_sequence(i32::MAX, 0), i32::MAX);
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
        assert!(in_sequence(i32::MAX, 0));
        assert!(in_sequence(-1, 0));
        assert!(!in_sequence(i32::MAX, i32::MIN));
    }

    #[test]
    fn snapshot_names_are_twenty_digits() {
        assert_eq!(snapshot_file_name(42), "00000000000000000042.snapshot");
        assert_eq!(
            parse_snapshot_file_name("00000000000000000042.snapshot"),
            Some(42)
        );
        assert_eq!(parse_snapshot_file_name("42.snapshot"), None);
        assert_eq!(parse_snapshot_file_name("00000000000000000042.log"), None);
    }

    #[test]
    fn an_entry_keeps_the_newest_five_and_a_new_epoch_clears_it() {
        let mut table = ProducerStateTable::new(PRODUCER_ID_EXPIRATION_MS_DEFAULT);
        for index in 0..7 {
            table.update(&batch(1, 0, index * 2, 2), i64::from(index) * 2, 10);
        }
        let entry = table.get(1).unwrap();
        assert_eq!(entry.batches.len(), BATCHES_RETAINED);
        assert_eq!(entry.batches.front().unwrap().first_sequence, 4);
        table.update(&batch(1, 1, 0, 1), 100, 11);
        let entry = table.get(1).unwrap();
        assert_eq!((entry.epoch, entry.batches.len()), (1, 1));
    }

    #[test]
    fn a_full_table_forgets_its_least_recently_active_producer() {
        let mut table = ProducerStateTable::new(PRODUCER_ID_EXPIRATION_MS_DEFAULT);
        let count = i64::try_from(PRODUCERS_PER_PARTITION_MAX).unwrap();
        for producer_id in 0..count {
            table.update(
                &batch(producer_id, 0, 0, 1),
                producer_id,
                1000 + producer_id,
            );
        }
        table.update(&batch(count, 0, 0, 1), count, 1000 + count);
        assert_eq!(table.len(), PRODUCERS_PER_PARTITION_MAX);
        assert!(table.get(0).is_none(), "the oldest producer goes");
        assert!(table.get(count).is_some());
    }

    #[test]
    fn snapshot_decoding_refuses_damage_without_panicking() {
        let mut table = ProducerStateTable::new(PRODUCER_ID_EXPIRATION_MS_DEFAULT);
        table.update(&batch(7, 2, 0, 3), 10, 500);
        let bytes = table.encode_snapshot(13);
        let (decoded, offset) =
            ProducerStateTable::decode_snapshot(&bytes, PRODUCER_ID_EXPIRATION_MS_DEFAULT).unwrap();
        assert_eq!((decoded, offset), (table, 13));
        for cut in 0..bytes.len() {
            let decoded = ProducerStateTable::decode_snapshot(&bytes[..cut], 1);
            assert!(decoded.is_err(), "cut at {cut}");
        }
        for index in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[index] ^= 0x40;
            assert!(
                ProducerStateTable::decode_snapshot(&damaged, 1).is_err(),
                "byte {index}"
            );
        }
    }
}
