//! The leader-epoch cache of one partition log: (leader epoch, start offset) pairs in
//! increasing order of both, as in Kafka's `leader-epoch-checkpoint` file, and the
//! `endOffsetFor` lookup that DivergingEpoch and OffsetForLeaderEpoch answer with (KIP-101,
//! KIP-279, KIP-320).
//!
//! Owns only the in-memory list; storage keeps the checkpoint file and hands a copy (or a
//! borrow) to the replica state machine. Invariants (checked by
//! [`LeaderEpochCache::check_invariants`]): epochs strictly increase, start offsets never
//! decrease, both are ≥ 0.
//! Pure code; runs on the partition's shard.

/// Kafka's `UNDEFINED_EPOCH`.
pub const UNDEFINED_EPOCH: i32 = -1;
/// Kafka's `UNDEFINED_EPOCH_OFFSET`.
pub const UNDEFINED_EPOCH_OFFSET: i64 = -1;

/// One checkpoint line: the first offset written in `epoch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
}

/// An epoch and the offset where it ended in a log (exclusive): the answer to
/// OffsetForLeaderEpoch and the payload of a Fetch response's DivergingEpoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEndOffset {
    pub epoch: i32,
    pub end_offset: i64,
}

impl EpochEndOffset {
    /// The answer when the epoch is unknown (`UNDEFINED_EPOCH`, `UNDEFINED_EPOCH_OFFSET`).
    pub const UNDEFINED: EpochEndOffset = EpochEndOffset {
        epoch: UNDEFINED_EPOCH,
        end_offset: UNDEFINED_EPOCH_OFFSET,
    };
}

/// The leader-epoch cache of one log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderEpochCache {
    entries: Vec<EpochEntry>,
}

impl LeaderEpochCache {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The cache read from a checkpoint, or `None` when the entries break the invariants
    /// (the file is corrupt; storage decides what to do with it).
    #[must_use]
    pub fn from_entries(entries: Vec<EpochEntry>) -> Option<Self> {
        let cache = Self { entries };
        cache.is_valid().then_some(cache)
    }

    #[must_use]
    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    /// The newest epoch, or `UNDEFINED_EPOCH` for an empty cache: a follower's
    /// LastFetchedEpoch.
    #[must_use]
    pub fn latest_epoch(&self) -> i32 {
        self.entries
            .last()
            .map_or(UNDEFINED_EPOCH, |entry| entry.epoch)
    }

    /// The start offset of `epoch`, if the cache holds it.
    #[must_use]
    pub fn start_offset_of(&self, epoch: i32) -> Option<i64> {
        self.entries
            .iter()
            .find(|entry| entry.epoch == epoch)
            .map(|entry| entry.start_offset)
    }

    /// Records that `epoch` starts at `start_offset` (a new leader at its log end offset, or
    /// a follower appending the first batch of a newer epoch). An epoch at or below the latest
    /// is ignored, as Kafka's `assign` does; an entry at the same start offset as the latest
    /// replaces it (the older epoch wrote nothing).
    ///
    /// # Panics
    /// When `epoch` or `start_offset` is negative, or the start offset goes back: the log
    /// never hands those out.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) {
        assert!(epoch >= 0, "negative epoch {epoch}");
        assert!(start_offset >= 0, "negative start offset {start_offset}");
        if let Some(last) = self.entries.last().copied() {
            if epoch <= last.epoch {
                return;
            }
            assert!(
                start_offset >= last.start_offset,
                "epoch {epoch} starts at {start_offset}, before epoch {} at {}",
                last.epoch,
                last.start_offset
            );
            if start_offset == last.start_offset {
                self.entries.pop();
            }
        }
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
        self.check_invariants();
    }

    /// Drops every entry that starts at or after `end_offset` (the log was truncated to it).
    pub fn truncate_from_end(&mut self, end_offset: i64) {
        self.entries.retain(|entry| entry.start_offset < end_offset);
        self.check_invariants();
    }

    /// Kafka's `endOffsetFor(requestedEpoch, logEndOffset)`: the largest epoch ≤ `requested`
    /// this log knows, and the offset where it ended (the next epoch's start, or the log end
    /// offset for the latest). `UNDEFINED` when `requested` is undefined or newer than every
    /// epoch here; `(requested, start of the first epoch)` when it is older than all of them.
    #[must_use]
    pub fn end_offset_for(&self, requested: i32, log_end_offset: i64) -> EpochEndOffset {
        if requested == UNDEFINED_EPOCH {
            return EpochEndOffset::UNDEFINED;
        }
        if self.latest_epoch() == requested {
            return EpochEndOffset {
                epoch: requested,
                end_offset: log_end_offset,
            };
        }
        let Some(higher_index) = self
            .entries
            .iter()
            .position(|entry| entry.epoch > requested)
        else {
            return EpochEndOffset::UNDEFINED;
        };
        let end_offset = self
            .entries
            .get(higher_index)
            .map_or(log_end_offset, |e| e.start_offset);
        let floor = higher_index
            .checked_sub(1)
            .and_then(|index| self.entries.get(index));
        EpochEndOffset {
            epoch: floor.map_or(requested, |entry| entry.epoch),
            end_offset,
        }
    }

    fn is_valid(&self) -> bool {
        self.entries
            .iter()
            .all(|entry| entry.epoch >= 0 && entry.start_offset >= 0)
            && self.entries.windows(2).all(|pair| match pair {
                [a, b] => a.epoch < b.epoch && a.start_offset <= b.start_offset,
                _ => true,
            })
    }

    /// # Panics
    /// When the entries are out of order or negative (a programmer error: every mutation
    /// here keeps them in order).
    pub fn check_invariants(&self) {
        assert!(
            self.is_valid(),
            "leader-epoch cache out of order: {:?}",
            self.entries
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(pairs: &[(i32, i64)]) -> LeaderEpochCache {
        let entries = pairs
            .iter()
            .map(|&(epoch, start_offset)| EpochEntry {
                epoch,
                start_offset,
            })
            .collect();
        LeaderEpochCache::from_entries(entries).unwrap()
    }

    #[test]
    fn end_offset_for_follows_kafka() {
        let epochs = cache(&[(1, 0), (3, 10), (5, 20)]);
        let at = |epoch, end_offset| EpochEndOffset { epoch, end_offset };
        assert_eq!(epochs.end_offset_for(5, 30), at(5, 30));
        assert_eq!(epochs.end_offset_for(3, 30), at(3, 20));
        assert_eq!(epochs.end_offset_for(4, 30), at(3, 20));
        assert_eq!(epochs.end_offset_for(1, 30), at(1, 10));
        assert_eq!(epochs.end_offset_for(0, 30), at(0, 0));
        assert_eq!(epochs.end_offset_for(6, 30), EpochEndOffset::UNDEFINED);
        assert_eq!(
            epochs.end_offset_for(UNDEFINED_EPOCH, 30),
            EpochEndOffset::UNDEFINED
        );
        assert_eq!(
            LeaderEpochCache::new().end_offset_for(2, 0),
            EpochEndOffset::UNDEFINED
        );
    }

    #[test]
    fn assign_and_truncate_keep_order() {
        let mut epochs = cache(&[(1, 0)]);
        epochs.assign(1, 5);
        epochs.assign(0, 5);
        assert_eq!(epochs, cache(&[(1, 0)]));
        epochs.assign(2, 5);
        epochs.assign(3, 5);
        assert_eq!(epochs, cache(&[(1, 0), (3, 5)]));
        epochs.truncate_from_end(5);
        assert_eq!(epochs, cache(&[(1, 0)]));
        assert!(
            LeaderEpochCache::from_entries(vec![
                EpochEntry {
                    epoch: 2,
                    start_offset: 0
                },
                EpochEntry {
                    epoch: 1,
                    start_offset: 3
                },
            ])
            .is_none()
        );
    }
}
