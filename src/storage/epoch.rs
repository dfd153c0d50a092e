//! Leader-epoch cache: (epoch, start offset) pairs, and Kafka's `leader-epoch-checkpoint` text
//! format.
//!
//! ```text
//! 0            version
//! 2            entry count
//! 0 0          epoch start_offset
//! 3 1200
//! ```
//! Invariants: epochs and start offsets strictly increase. The cache is rebuilt from batch
//! headers during recovery scans (an epoch newer than the checkpoint's last is added), truncated
//! from the end when recovery cuts the log, and from the start when the log start moves.
//! Runs on the shard that owns the partition.
use crate::limits::LEADER_EPOCHS_MAX;

pub const CHECKPOINT_VERSION: i32 = 0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    pub epoch: i32,
    pub start_offset: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderEpochCache {
    entries: Vec<EpochEntry>,
}

impl LeaderEpochCache {
    #[must_use]
    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    #[must_use]
    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|entry| entry.epoch)
    }

    /// Records that `epoch` starts at `start_offset` if it is newer than the latest epoch.
    /// Returns whether the cache changed (the caller then rewrites the checkpoint).
    ///
    /// # Panics
    /// When a newer epoch would start before the latest one (callers truncate from the end
    /// before re-adding epochs, so offsets only grow).
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 {
            return false;
        }
        if let Some(last) = self.entries.last() {
            if epoch <= last.epoch {
                return false;
            }
            assert!(
                start_offset >= last.start_offset,
                "epoch {epoch} starts at {start_offset} before {}",
                last.start_offset
            );
            if start_offset == last.start_offset {
                // The older epoch never got a batch: the newer one replaces it (Kafka does the
                // same, keeping offsets strictly increasing).
                self.entries.pop();
            }
        }
        if self.entries.len() >= LEADER_EPOCHS_MAX {
            self.entries.remove(0);
        }
        self.entries.push(EpochEntry {
            epoch,
            start_offset,
        });
        true
    }

    /// Removes epochs starting at or after `end_offset` (the log was cut there).
    pub fn truncate_from_end(&mut self, end_offset: i64) -> bool {
        let keep = self
            .entries
            .partition_point(|entry| entry.start_offset < end_offset);
        let changed = keep < self.entries.len();
        self.entries.truncate(keep);
        changed
    }

    /// Drops epochs wholly below `start_offset`; the newest of them is kept, moved up to
    /// `start_offset`, because it still covers the offsets from there on.
    pub fn truncate_from_start(&mut self, start_offset: i64) -> bool {
        let below = self
            .entries
            .partition_point(|entry| entry.start_offset <= start_offset);
        let Some(last_below) = below.checked_sub(1) else {
            return false;
        };
        let changed = last_below > 0
            || self
                .entries
                .first()
                .is_some_and(|entry| entry.start_offset != start_offset);
        self.entries.drain(..last_below);
        if let Some(first) = self.entries.first_mut() {
            first.start_offset = start_offset;
        }
        changed
    }

    /// Kafka's `OffsetForLeaderEpoch` answer: the largest epoch ≤ `epoch` and the offset where
    /// the next epoch starts (or the log end for the latest epoch). `None` = undefined.
    #[must_use]
    pub fn end_offset_for(&self, epoch: i32, log_end_offset: i64) -> Option<(i32, i64)> {
        if epoch < 0 {
            return None;
        }
        if self.latest_epoch() == Some(epoch) {
            return Some((epoch, log_end_offset));
        }
        let higher = self.entries.partition_point(|entry| entry.epoch <= epoch);
        let next = self.entries.get(higher)?;
        match higher.checked_sub(1).and_then(|i| self.entries.get(i)) {
            Some(floor) => Some((floor.epoch, next.start_offset)),
            None => Some((epoch, next.start_offset)),
        }
    }

    #[must_use]
    pub fn encode(&self) -> String {
        use std::fmt::Write as _;
        let mut out = format!("{CHECKPOINT_VERSION}\n{}\n", self.entries.len());
        for entry in &self.entries {
            let _ = writeln!(out, "{} {}", entry.epoch, entry.start_offset);
        }
        out
    }

    /// Parses a checkpoint file.
    ///
    /// # Errors
    /// The 1-based line number that does not parse.
    pub fn decode(text: &str) -> Result<Self, usize> {
        let mut lines = text.lines();
        let version: i32 = lines
            .next()
            .and_then(|l| l.trim().parse().ok())
            .ok_or(1usize)?;
        if version != CHECKPOINT_VERSION {
            return Err(1);
        }
        let count: usize = lines
            .next()
            .and_then(|l| l.trim().parse().ok())
            .ok_or(2usize)?;
        if count > LEADER_EPOCHS_MAX {
            return Err(2);
        }
        let mut cache = Self::default();
        for index in 0..count {
            let line_number = index + 3;
            let line = lines.next().ok_or(line_number)?;
            let mut fields = line.split_whitespace();
            let epoch: i32 = fields
                .next()
                .and_then(|f| f.parse().ok())
                .ok_or(line_number)?;
            let start: i64 = fields
                .next()
                .and_then(|f| f.parse().ok())
                .ok_or(line_number)?;
            let increasing = cache
                .entries
                .last()
                .is_none_or(|last| epoch > last.epoch && start > last.start_offset);
            if fields.next().is_some() || epoch < 0 || start < 0 || !increasing {
                return Err(line_number);
            }
            cache.entries.push(EpochEntry {
                epoch,
                start_offset: start,
            });
        }
        Ok(cache)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> LeaderEpochCache {
        let mut cache = LeaderEpochCache::default();
        assert!(cache.assign(1, 0));
        assert!(cache.assign(3, 100));
        assert!(!cache.assign(3, 150));
        assert!(cache.assign(5, 200));
        cache
    }

    #[test]
    fn end_offset_for_follows_kafka() {
        let cache = cache();
        assert_eq!(cache.end_offset_for(5, 250), Some((5, 250)));
        assert_eq!(cache.end_offset_for(3, 250), Some((3, 200)));
        assert_eq!(cache.end_offset_for(4, 250), Some((3, 200)));
        assert_eq!(cache.end_offset_for(0, 250), Some((0, 0)));
        assert_eq!(cache.end_offset_for(6, 250), None);
        assert_eq!(cache.end_offset_for(-1, 250), None);
    }

    #[test]
    fn truncation_keeps_covering_epoch() {
        let mut cache = cache();
        assert!(cache.truncate_from_start(150));
        assert_eq!(
            cache.entries(),
            &[
                EpochEntry {
                    epoch: 3,
                    start_offset: 150
                },
                EpochEntry {
                    epoch: 5,
                    start_offset: 200
                }
            ]
        );
        assert!(cache.truncate_from_end(200));
        assert_eq!(cache.latest_epoch(), Some(3));
        assert!(!cache.truncate_from_end(200));
    }

    #[test]
    fn checkpoint_round_trips_and_rejects_garbage() {
        let cache = cache();
        let text = cache.encode();
        assert_eq!(text, "0\n3\n1 0\n3 100\n5 200\n");
        assert_eq!(LeaderEpochCache::decode(&text).unwrap(), cache);
        assert_eq!(LeaderEpochCache::decode("0\n2\n1 0\n"), Err(4));
        assert_eq!(LeaderEpochCache::decode("0\n2\n1 0\n1 5\n"), Err(4));
        assert_eq!(LeaderEpochCache::decode("7\n0\n"), Err(1));
        assert_eq!(LeaderEpochCache::decode(""), Err(1));
    }
}
