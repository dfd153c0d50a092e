//! The follower half of one partition's replica state machine: where to fetch from, what
//! to truncate when the leader answers DivergingEpoch (KIP-320), and the high watermark it
//! learns from the leader.
//!
//! Rules:
//! - Fetch position: FetchOffset = the follower's LEO, LastFetchedEpoch = its newest
//!   leader-epoch cache entry, CurrentLeaderEpoch = the epoch it follows in.
//! - DivergingEpoch (epoch E, end offset X): truncate to min(X, own end offset of E, own LEO)
//!   when the follower knows E; when it does not, to min(own end offset of the largest epoch
//!   below E, own LEO), and the next fetch validates again (Kafka's intermediate truncation);
//!   when the leader knows no epoch at all (UNDEFINED), to min(own HW, own LEO).
//! - HW = min(leader's HW, own LEO), recomputed after every answer and append; it may go back
//!   only when the follower starts following a new leader or truncates.
//! - An answer in an older leader epoch than the one followed is refused (stale leader);
//!   a newer one waits for the metadata that names it.
//!
//! Sans-IO: the caller appends and truncates the log (and its leader-epoch cache) and reports
//! back. Driven by the shard's follower fetcher in the broker and by the simulator.
use super::epochs::{EpochEndOffset, LeaderEpochCache, UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET};
use super::replica::{FetchAnswer, ReplicaId};

/// What the follower puts in its next Fetch request for this partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchPosition {
    pub fetch_offset: i64,
    pub last_fetched_epoch: i32,
    pub current_leader_epoch: i32,
}

/// What the caller does with an accepted answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowerAction {
    /// Append the answer's records verbatim, then call [`FollowerReplica::appended`].
    Append,
    /// Truncate the log (and its leader-epoch cache) to `offset`, then call
    /// [`FollowerReplica::truncated`]; the answer's records (none) are dropped.
    Truncate { offset: i64 },
}

/// Why a follower refuses a leader's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FollowerError {
    #[error("answer in leader epoch {answered}, older than the followed {current}")]
    StaleLeaderEpoch { answered: i32, current: i32 },
    #[error("answer in leader epoch {answered}, newer than the followed {current}")]
    UnknownLeaderEpoch { answered: i32, current: i32 },
}

/// The follower side of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowerReplica {
    replica_id: ReplicaId,
    leader_id: ReplicaId,
    leader_epoch: i32,
    log_end_offset: i64,
    high_watermark: i64,
    leader_high_watermark: i64,
}

impl FollowerReplica {
    /// A replica starting to follow `leader_id` in `leader_epoch`, its log at
    /// `log_end_offset` and `high_watermark`.
    ///
    /// # Panics
    /// When the offsets are negative or out of order.
    #[must_use]
    pub fn new(
        replica_id: ReplicaId,
        leader: (ReplicaId, i32),
        log_end_offset: i64,
        high_watermark: i64,
    ) -> Self {
        assert!(0 <= high_watermark, "negative HW {high_watermark}");
        assert!(
            high_watermark <= log_end_offset,
            "HW {high_watermark} > LEO {log_end_offset}"
        );
        let (leader_id, leader_epoch) = leader;
        assert_ne!(replica_id, leader_id, "a replica does not follow itself");
        let follower = FollowerReplica {
            replica_id,
            leader_id,
            leader_epoch,
            log_end_offset,
            high_watermark,
            leader_high_watermark: high_watermark,
        };
        follower.check_invariants();
        follower
    }

    #[must_use]
    pub fn replica_id(&self) -> ReplicaId {
        self.replica_id
    }
    #[must_use]
    pub fn leader_id(&self) -> ReplicaId {
        self.leader_id
    }
    #[must_use]
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch
    }
    #[must_use]
    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset
    }
    #[must_use]
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }
    /// The high watermark the leader's last accepted answer carried (never negative).
    #[must_use]
    pub fn leader_high_watermark(&self) -> i64 {
        self.leader_high_watermark
    }

    /// The next fetch's position; `epochs` is this replica's leader-epoch cache.
    #[must_use]
    pub fn fetch_position(&self, epochs: &LeaderEpochCache) -> FetchPosition {
        FetchPosition {
            fetch_offset: self.log_end_offset,
            last_fetched_epoch: epochs.latest_epoch(),
            current_leader_epoch: self.leader_epoch,
        }
    }

    /// The leader answered a fetch; `epochs` is this replica's leader-epoch cache.
    ///
    /// # Errors
    /// A stale or unknown leader epoch: the answer is dropped.
    pub fn on_answer(
        &mut self,
        answer: &FetchAnswer,
        epochs: &LeaderEpochCache,
    ) -> Result<FollowerAction, FollowerError> {
        let (answered, current) = (answer.leader_epoch, self.leader_epoch);
        if answered < current {
            return Err(FollowerError::StaleLeaderEpoch { answered, current });
        }
        if answered > current {
            return Err(FollowerError::UnknownLeaderEpoch { answered, current });
        }
        self.leader_high_watermark = answer.high_watermark.max(0);
        if let Some(diverging) = answer.diverging_epoch {
            let offset = self.truncation_offset(diverging, epochs);
            assert!(offset <= self.log_end_offset, "truncation past LEO");
            return Ok(FollowerAction::Truncate { offset });
        }
        self.high_watermark = self.leader_high_watermark.min(self.log_end_offset);
        self.check_invariants();
        Ok(FollowerAction::Append)
    }

    /// KIP-320's truncation point for a DivergingEpoch answer.
    #[must_use]
    pub fn truncation_offset(&self, diverging: EpochEndOffset, epochs: &LeaderEpochCache) -> i64 {
        let leo = self.log_end_offset;
        #[cfg(feature = "sim-bugs")]
        if crate::planted_bugs::active(crate::planted_bugs::PlantedBug::NoTruncation) {
            return leo;
        }
        if diverging.epoch == UNDEFINED_EPOCH || diverging.end_offset == UNDEFINED_EPOCH_OFFSET {
            return self.high_watermark.min(leo);
        }
        let own = epochs.end_offset_for(diverging.epoch, leo);
        let offset = if own.end_offset == UNDEFINED_EPOCH_OFFSET {
            diverging.end_offset
        } else if own.epoch != diverging.epoch {
            own.end_offset
        } else {
            own.end_offset.min(diverging.end_offset)
        };
        offset.clamp(0, leo)
    }

    /// The caller appended the answer's records; the log now ends at `log_end_offset`.
    ///
    /// # Panics
    /// When the log end offset goes back (appends only add).
    pub fn appended(&mut self, log_end_offset: i64) {
        assert!(
            log_end_offset >= self.log_end_offset,
            "LEO back from {} to {log_end_offset}",
            self.log_end_offset
        );
        self.log_end_offset = log_end_offset;
        self.high_watermark = self.leader_high_watermark.min(log_end_offset);
        self.check_invariants();
    }

    /// The caller truncated the log (and its leader-epoch cache) to `offset`.
    ///
    /// # Panics
    /// When `offset` is past the LEO or negative.
    pub fn truncated(&mut self, offset: i64) {
        assert!(0 <= offset, "negative truncation offset {offset}");
        assert!(
            offset <= self.log_end_offset,
            "truncation {offset} past LEO"
        );
        self.log_end_offset = offset;
        self.high_watermark = self.high_watermark.min(offset);
        self.check_invariants();
    }

    /// The metadata names a new leader or leader epoch for this partition.
    pub fn follow(&mut self, leader_id: ReplicaId, leader_epoch: i32) {
        assert_ne!(
            leader_id, self.replica_id,
            "a replica does not follow itself"
        );
        if leader_epoch > self.leader_epoch {
            self.leader_id = leader_id;
            self.leader_epoch = leader_epoch;
        }
        self.check_invariants();
    }

    /// # Panics
    /// On a broken invariant (a bug here).
    pub fn check_invariants(&self) {
        assert!(0 <= self.high_watermark, "negative HW");
        assert!(
            self.high_watermark <= self.log_end_offset,
            "HW {} > LEO {}",
            self.high_watermark,
            self.log_end_offset
        );
    }
}
