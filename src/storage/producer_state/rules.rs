//! The checks one idempotent batch passes before it is written (the table in the module docs of
//! `producer_state/mod.rs`): the producer fields of a batch header, sequence arithmetic, and the
//! epoch/sequence comparison against a producer's current entry. Pure functions and types; no
//! state of their own. Runs on the shard that owns the partition.
use super::table::ProducerEntry;
use crate::protocol::record_batch::BatchHeader;

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

/// Epoch and sequence checks of `batch` against the producer's current `entry`.
pub(super) fn check_entry(
    entry: &ProducerEntry,
    batch: &ProducerBatch,
) -> Result<(), ProducerError> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
