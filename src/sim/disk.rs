//! The simulated disk of one partition replica: an in-memory log of entries with leader
//! epochs, its leader-epoch cache (the real `replication::epochs`), a synced prefix and a
//! high-watermark checkpoint.
//!
//! Durability model, and why:
//! - A follower writes and syncs what it fetched before it fetches again, so the LEO it
//!   reports to the leader is durable. A leader's produce appends stay unsynced until its next
//!   flush, and only then count as its LEO towards the high watermark (`LeaderReplica::append`
//!   gets the synced end). So every record under a high watermark is on disk on every ISR
//!   member, and a crash of all replicas at once loses no acknowledged record. Kafka instead
//!   leaves fsync to the OS and counts on replication; the simulator takes the stricter rule
//!   so that a lost acknowledged record is always a bug, never bad luck.
//! - A crash loses the unsynced tail, except a random prefix of it the OS wrote back before
//!   the crash; the entry after that prefix is torn and dropped by recovery (a CRC check), so
//!   the log restarts with whole entries only.
//! - A flush may fail (fsync EIO): the broker then crashes, as a log directory that failed
//!   fsync cannot be trusted.
//!
//! Runs on the simulator's thread.
use crate::replication::LeaderEpochCache;

use super::rng::Rng;

/// One record: the leader epoch it was written in, and the producer identity and value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub epoch: i32,
    pub producer_id: i64,
    pub sequence: i32,
    pub value: i64,
}

/// One replica's log. Invariants ([`SimLog::check_invariants`]): synced ≤ len, the epoch
/// cache matches the entries' epochs, the HW checkpoint ≤ the synced end.
#[derive(Debug, Clone, Default)]
pub struct SimLog {
    entries: Vec<Entry>,
    epochs: LeaderEpochCache,
    synced: usize,
    high_watermark_checkpoint: i64,
}

fn offset_of(index: usize) -> i64 {
    i64::try_from(index).unwrap_or(i64::MAX)
}

fn index_of(offset: i64) -> usize {
    usize::try_from(offset).unwrap_or(0)
}

impl SimLog {
    #[must_use]
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }
    #[must_use]
    pub fn epochs(&self) -> &LeaderEpochCache {
        &self.epochs
    }
    #[must_use]
    pub fn end_offset(&self) -> i64 {
        offset_of(self.entries.len())
    }
    #[must_use]
    pub fn synced_end_offset(&self) -> i64 {
        offset_of(self.synced)
    }
    #[must_use]
    pub fn high_watermark_checkpoint(&self) -> i64 {
        self.high_watermark_checkpoint.min(self.synced_end_offset())
    }
    #[must_use]
    pub fn get(&self, offset: i64) -> Option<&Entry> {
        usize::try_from(offset)
            .ok()
            .and_then(|index| self.entries.get(index))
    }

    /// Entries `[from, to)`, clamped to the log.
    #[must_use]
    pub fn slice(&self, from: i64, to: i64) -> Vec<Entry> {
        let end = index_of(to).min(self.entries.len());
        let start = index_of(from).min(end);
        self.entries
            .get(start..end)
            .map(<[Entry]>::to_vec)
            .unwrap_or_default()
    }

    /// A new leader starts `epoch` at its log end (and syncs first: its whole log counts).
    pub fn start_epoch(&mut self, epoch: i32) {
        self.sync();
        self.epochs.assign(epoch, self.end_offset());
        self.check_invariants();
    }

    /// A leader's produce append: unsynced until [`SimLog::sync`].
    pub fn append_unsynced(&mut self, entry: Entry) -> i64 {
        let offset = self.end_offset();
        self.epochs.assign(entry.epoch, offset);
        self.entries.push(entry);
        self.check_invariants();
        offset
    }

    /// A follower's append of fetched entries, written and synced.
    pub fn append_durable(&mut self, entries: &[Entry]) {
        for entry in entries {
            self.epochs.assign(entry.epoch, self.end_offset());
            self.entries.push(*entry);
        }
        self.sync();
    }

    pub fn sync(&mut self) {
        self.synced = self.entries.len();
        self.check_invariants();
    }

    /// Persists the high watermark (Kafka's replication-offset-checkpoint).
    pub fn checkpoint_high_watermark(&mut self, high_watermark: i64) {
        self.high_watermark_checkpoint = high_watermark.min(self.synced_end_offset());
    }

    /// Truncates the log and its epoch cache to `offset`.
    pub fn truncate(&mut self, offset: i64) {
        let index = index_of(offset).min(self.entries.len());
        self.entries.truncate(index);
        self.epochs.truncate_from_end(offset);
        self.synced = self.synced.min(index);
        self.high_watermark_checkpoint = self.high_watermark_checkpoint.min(offset);
        self.check_invariants();
    }

    /// A crash: the unsynced tail is lost but for a random prefix written back before it;
    /// returns how many entries were lost.
    pub fn crash(&mut self, rng: &mut Rng) -> usize {
        let unsynced = self.entries.len() - self.synced;
        let kept = if unsynced == 0 {
            0
        } else {
            rng.index(unsynced + 1)
        };
        let end = self.synced + kept;
        let lost = self.entries.len() - end;
        self.truncate(offset_of(end));
        self.sync();
        lost
    }

    /// # Panics
    /// When the log and its epoch cache disagree (a bug in this file).
    pub fn check_invariants(&self) {
        assert!(self.synced <= self.entries.len(), "synced past the end");
        self.epochs.check_invariants();
        let latest = self.epochs.latest_epoch();
        if let Some(last) = self.entries.last() {
            assert!(
                last.epoch <= latest,
                "entry epoch {} over cache {latest}",
                last.epoch
            );
        }
    }
}
