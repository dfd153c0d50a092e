//! Batches of one append checked but not yet written: each is checked against the committed
//! table plus the batches staged before it (Kafka's `updatedProducers`), and the accepted
//! updates are committed to the table only after the write. Runs on the shard that owns the
//! partition.
use std::collections::{HashMap, VecDeque};

use super::rules::{Decision, ProducerBatch, ProducerError, check_entry};
use super::table::{BatchRecord, ProducerEntry, ProducerStateTable};

/// Producer entries changed by batches checked but not yet written (Kafka's
/// `updatedProducers`); committed with [`ProducerStateTable::commit`] after the write.
#[derive(Debug, Default)]
pub struct StagedUpdates {
    pub(super) updated: HashMap<i64, ProducerEntry>,
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
