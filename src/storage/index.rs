//! Sparse offset and time indexes of one segment, in memory, with Kafka's file formats.
//!
//! ```text
//! .index      [relative_offset:i32 BE][position:i32 BE]        8 bytes per entry
//! .timeindex  [timestamp:i64 BE][relative_offset:i32 BE]        12 bytes per entry
//! ```
//! One offset entry per `index_interval_bytes` of batches: the batch that crosses the interval
//! gets an entry (its *base* offset relative to the segment, and its position). Kafka records the
//! batch's last offset instead; either works for lookups because a lookup returns a batch start
//! at or before the target and the caller walks forward. A time entry
//! (max timestamp so far, relative base offset of the batch that set it) is added alongside
//! when the max timestamp grew, and once more when the segment is rolled, so the last time entry
//! of a rolled segment is its largest timestamp.
//!
//! Invariants: both relative offsets and positions strictly increase; timestamps strictly
//! increase. Indexes are kept in memory (Kafka mmaps them); a rolled 1 GiB segment at the
//! default interval costs ≤ 5 MiB. Files are written at roll and recovery only: the active
//! segment is always rescanned on open, so its indexes never need to be on disk.
//!
//! Runs on the shard that owns the partition.

/// One `.index` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetEntry {
    pub relative_offset: u32,
    pub position: u32,
}

/// One `.timeindex` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeEntry {
    pub timestamp: i64,
    pub relative_offset: u32,
}

pub const OFFSET_ENTRY_SIZE: usize = 8;
pub const TIME_ENTRY_SIZE: usize = 12;

/// Why an index file on disk cannot be trusted (the caller rebuilds it by scanning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexDamage {
    PartialEntry,
    NotIncreasing,
    BeyondSegment,
}

#[derive(Debug, Clone, Default)]
pub struct OffsetIndex {
    entries: Vec<OffsetEntry>,
}

impl OffsetIndex {
    #[must_use]
    pub fn entries(&self) -> &[OffsetEntry] {
        &self.entries
    }

    /// Appends an entry; callers only add entries past the last one.
    ///
    /// # Panics
    /// When the entry does not increase both fields (a programmer error).
    pub fn push(&mut self, entry: OffsetEntry) {
        if let Some(last) = self.entries.last() {
            assert!(
                entry.relative_offset > last.relative_offset,
                "index offset {} after {}",
                entry.relative_offset,
                last.relative_offset
            );
            assert!(
                entry.position > last.position,
                "index position not increasing"
            );
        }
        self.entries.push(entry);
    }

    /// The entry with the largest relative offset ≤ `relative_offset`, if any.
    #[must_use]
    pub fn lookup_offset(&self, relative_offset: u32) -> Option<OffsetEntry> {
        let count = self
            .entries
            .partition_point(|entry| entry.relative_offset <= relative_offset);
        count
            .checked_sub(1)
            .and_then(|i| self.entries.get(i).copied())
    }

    /// The entry with the largest position ≤ `position`, if any.
    #[must_use]
    pub fn lookup_position(&self, position: u32) -> Option<OffsetEntry> {
        let count = self
            .entries
            .partition_point(|entry| entry.position <= position);
        count
            .checked_sub(1)
            .and_then(|i| self.entries.get(i).copied())
    }

    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * OFFSET_ENTRY_SIZE);
        for entry in &self.entries {
            out.extend_from_slice(&entry.relative_offset.to_be_bytes());
            out.extend_from_slice(&entry.position.to_be_bytes());
        }
        out
    }

    /// Parses a `.index` file and checks it against the segment's size.
    ///
    /// # Errors
    /// The kind of damage; the caller rebuilds the index.
    pub fn decode(bytes: &[u8], segment_size: u32) -> Result<Self, IndexDamage> {
        if !bytes.len().is_multiple_of(OFFSET_ENTRY_SIZE) {
            return Err(IndexDamage::PartialEntry);
        }
        let mut index = Self {
            entries: Vec::with_capacity(bytes.len() / OFFSET_ENTRY_SIZE),
        };
        for chunk in bytes.chunks_exact(OFFSET_ENTRY_SIZE) {
            let (offset, position) = chunk.split_at(4);
            let entry = OffsetEntry {
                relative_offset: u32::from_be_bytes(offset.try_into().unwrap_or_default()),
                position: u32::from_be_bytes(position.try_into().unwrap_or_default()),
            };
            if entry.position >= segment_size || entry.relative_offset > i32::MAX as u32 {
                return Err(IndexDamage::BeyondSegment);
            }
            if let Some(last) = index.entries.last()
                && (entry.relative_offset <= last.relative_offset
                    || entry.position <= last.position)
            {
                return Err(IndexDamage::NotIncreasing);
            }
            index.entries.push(entry);
        }
        Ok(index)
    }
}

#[derive(Debug, Clone, Default)]
pub struct TimeIndex {
    entries: Vec<TimeEntry>,
}

impl TimeIndex {
    #[must_use]
    pub fn entries(&self) -> &[TimeEntry] {
        &self.entries
    }

    #[must_use]
    pub fn last(&self) -> Option<TimeEntry> {
        self.entries.last().copied()
    }

    /// Adds an entry if its timestamp is larger than the last one's (else it adds nothing).
    pub fn maybe_push(&mut self, entry: TimeEntry) {
        match self.entries.last() {
            Some(last) if entry.timestamp <= last.timestamp => {}
            Some(last) => {
                assert!(
                    entry.relative_offset >= last.relative_offset,
                    "time index offset went back"
                );
                self.entries.push(entry);
            }
            None => self.entries.push(entry),
        }
    }

    /// The entry with the largest timestamp strictly below `timestamp`: every batch up to and
    /// including its offset has a max timestamp below the target.
    #[must_use]
    pub fn last_below(&self, timestamp: i64) -> Option<TimeEntry> {
        let count = self
            .entries
            .partition_point(|entry| entry.timestamp < timestamp);
        count
            .checked_sub(1)
            .and_then(|i| self.entries.get(i).copied())
    }

    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * TIME_ENTRY_SIZE);
        for entry in &self.entries {
            out.extend_from_slice(&entry.timestamp.to_be_bytes());
            out.extend_from_slice(&entry.relative_offset.to_be_bytes());
        }
        out
    }

    /// Parses a `.timeindex` file; relative offsets must stay below `next_relative_offset`.
    ///
    /// # Errors
    /// The kind of damage; the caller rebuilds the index.
    pub fn decode(bytes: &[u8], next_relative_offset: u64) -> Result<Self, IndexDamage> {
        if !bytes.len().is_multiple_of(TIME_ENTRY_SIZE) {
            return Err(IndexDamage::PartialEntry);
        }
        let mut index = Self {
            entries: Vec::with_capacity(bytes.len() / TIME_ENTRY_SIZE),
        };
        for chunk in bytes.chunks_exact(TIME_ENTRY_SIZE) {
            let (timestamp, offset) = chunk.split_at(8);
            let entry = TimeEntry {
                timestamp: i64::from_be_bytes(timestamp.try_into().unwrap_or_default()),
                relative_offset: u32::from_be_bytes(offset.try_into().unwrap_or_default()),
            };
            if u64::from(entry.relative_offset) >= next_relative_offset {
                return Err(IndexDamage::BeyondSegment);
            }
            if let Some(last) = index.entries.last()
                && (entry.timestamp <= last.timestamp
                    || entry.relative_offset < last.relative_offset)
            {
                return Err(IndexDamage::NotIncreasing);
            }
            index.entries.push(entry);
        }
        Ok(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> OffsetIndex {
        let mut index = OffsetIndex::default();
        for (offset, position) in [(3, 100), (9, 5000), (20, 9000)] {
            index.push(OffsetEntry {
                relative_offset: offset,
                position,
            });
        }
        index
    }

    #[test]
    fn offset_lookup_finds_floor_entry() {
        let index = sample();
        assert_eq!(index.lookup_offset(2), None);
        assert_eq!(index.lookup_offset(3).map(|e| e.position), Some(100));
        assert_eq!(index.lookup_offset(19).map(|e| e.position), Some(5000));
        assert_eq!(
            index.lookup_offset(u32::MAX).map(|e| e.position),
            Some(9000)
        );
        assert_eq!(
            index.lookup_position(8999).map(|e| e.relative_offset),
            Some(9)
        );
    }

    #[test]
    fn offset_index_round_trips_and_rejects_damage() {
        let index = sample();
        let bytes = index.encode();
        assert_eq!(bytes.len(), 24);
        let back = OffsetIndex::decode(&bytes, 10_000).unwrap();
        assert_eq!(back.entries(), index.entries());
        let partial = bytes.get(..23).unwrap();
        assert_eq!(
            OffsetIndex::decode(partial, 10_000).unwrap_err(),
            IndexDamage::PartialEntry
        );
        assert_eq!(
            OffsetIndex::decode(&bytes, 9000).unwrap_err(),
            IndexDamage::BeyondSegment
        );
        let mut swapped = bytes.clone();
        swapped.rotate_left(8);
        assert_eq!(
            OffsetIndex::decode(&swapped, 10_000).unwrap_err(),
            IndexDamage::NotIncreasing
        );
    }

    #[test]
    fn time_index_keeps_only_growing_timestamps() {
        let mut index = TimeIndex::default();
        index.maybe_push(TimeEntry {
            timestamp: 10,
            relative_offset: 0,
        });
        index.maybe_push(TimeEntry {
            timestamp: 5,
            relative_offset: 4,
        });
        index.maybe_push(TimeEntry {
            timestamp: 30,
            relative_offset: 7,
        });
        assert_eq!(index.entries().len(), 2);
        assert_eq!(index.last_below(10), None);
        assert_eq!(index.last_below(11).map(|e| e.relative_offset), Some(0));
        assert_eq!(index.last_below(99).map(|e| e.relative_offset), Some(7));
        let back = TimeIndex::decode(&index.encode(), 8).unwrap();
        assert_eq!(back.entries(), index.entries());
        assert_eq!(
            TimeIndex::decode(&index.encode(), 7).unwrap_err(),
            IndexDamage::BeyondSegment
        );
    }
}
