//! The committed producer table of one partition: per producer id its entry (epoch, the last
//! [`BATCHES_RETAINED`] batches, last activity), bounded at [`PRODUCERS_PER_PARTITION_MAX`]
//! producers, with expiry and the invariants of the module docs. It does not check batches
//! (`rules.rs`, `staging.rs`) nor own the file format (`snapshot.rs`).
//! Runs on the shard that owns the partition.
use std::collections::{HashMap, VecDeque};

use super::BATCHES_RETAINED;
use super::rules::{Decision, ProducerBatch, ProducerError};
use super::staging::{StagedUpdates, Staging};
use crate::limits::PRODUCERS_PER_PARTITION_MAX;

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
    pub(super) fn last_sequence(&self) -> Option<i32> {
        self.batches.back().map(|b| b.last_sequence)
    }

    /// Kafka's `addBatch`: a new epoch clears the window; the window keeps the newest 5.
    pub(super) fn add_batch(&mut self, epoch: i16, batch: BatchRecord) {
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

    pub(super) fn find_duplicate(&self, batch: &ProducerBatch) -> Option<&BatchRecord> {
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
    pub(super) producers: HashMap<i64, ProducerEntry>,
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::producer_state::PRODUCER_ID_EXPIRATION_MS_DEFAULT;
    use crate::storage::producer_state::rules::increment_sequence;

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
}
