//! What the leader and follower halves of the replica state machine share: the per-partition
//! configuration, the inputs and answers of a follower's fetch, and the errors.
//!
//! Pure data; runs on the partition's shard. The leader half is in `leader.rs`, the follower
//! half in `follower.rs`, the acks=all waiters in `acks.rs`.
use std::time::Duration;

use super::epochs::EpochEndOffset;
use crate::limits::ACK_WAITERS_PER_PARTITION_MAX;

/// A broker's node id, as Kafka's `ReplicaId`.
pub type ReplicaId = i32;

/// The knobs of one partition's replication, from the topic and broker configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaConfig {
    /// This broker's node id.
    pub replica_id: ReplicaId,
    /// `min.insync.replicas`: the high watermark advances only while the committed ISR has at
    /// least this many members (KIP-966), and acks=all produce is refused below it.
    pub min_insync_replicas: usize,
    /// `replica.lag.time.max.ms`.
    pub replica_lag_time_max: Duration,
    /// acks=all waiters parked at once; at most `ACK_WAITERS_PER_PARTITION_MAX`.
    pub ack_waiters_max: usize,
}

impl ReplicaConfig {
    /// # Panics
    /// When `min_insync_replicas` is 0 or `ack_waiters_max` is out of `1..=limit`: config
    /// validation rejects those before a replica is built.
    pub fn check(&self) {
        assert!(self.min_insync_replicas >= 1, "min.insync.replicas is 0");
        assert!(self.ack_waiters_max >= 1, "ack waiters max is 0");
        assert!(
            self.ack_waiters_max <= ACK_WAITERS_PER_PARTITION_MAX,
            "ack waiters max {} over {ACK_WAITERS_PER_PARTITION_MAX}",
            self.ack_waiters_max
        );
    }
}

/// One partition of a follower's Fetch request (v15+ form), as the leader sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerFetch {
    /// ReplicaState.ReplicaId.
    pub replica_id: ReplicaId,
    /// ReplicaState.ReplicaEpoch: the follower's broker epoch.
    pub broker_epoch: i64,
    /// CurrentLeaderEpoch: the leader epoch the follower believes in.
    pub current_leader_epoch: i32,
    /// FetchOffset: the follower's log end offset.
    pub fetch_offset: i64,
    /// LastFetchedEpoch: the epoch of the follower's last record (its newest checkpoint entry).
    pub last_fetched_epoch: i32,
}

/// The leader's answer to one partition of a follower's fetch, before records are attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchAnswer {
    /// The leader epoch the answer is given in.
    pub leader_epoch: i32,
    /// HighWatermark, after this fetch moved it.
    pub high_watermark: i64,
    /// DivergingEpoch: set when the follower's log does not match the leader's at its fetch
    /// position; the follower truncates before fetching on, and no records are sent.
    pub diverging_epoch: Option<EpochEndOffset>,
    /// Whether the follower's fetch offset reached the leader's log end offset.
    pub caught_up: bool,
}

/// Why a leader refuses a follower's fetch (one partition's error code in the response).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// This replica is no longer the leader (fenced): NOT_LEADER_OR_FOLLOWER.
    #[error("not the leader any more")]
    NotLeader,
    /// The follower's leader epoch is older than ours: FENCED_LEADER_EPOCH.
    #[error("follower's leader epoch {requested} is older than {current}")]
    FencedLeaderEpoch { requested: i32, current: i32 },
    /// The follower's leader epoch is newer than ours: UNKNOWN_LEADER_EPOCH.
    #[error("follower's leader epoch {requested} is newer than {current}")]
    UnknownLeaderEpoch { requested: i32, current: i32 },
    /// The fetching broker is not an assigned replica: NOT_LEADER_OR_FOLLOWER in Kafka.
    #[error("broker {replica_id} is not a replica of this partition")]
    UnknownReplica { replica_id: ReplicaId },
    /// The broker epoch is older than one already seen from that broker: STALE_BROKER_EPOCH.
    #[error("broker {replica_id} fetched with epoch {requested}, older than {seen}")]
    StaleBrokerEpoch {
        replica_id: ReplicaId,
        requested: i64,
        seen: i64,
    },
    /// The fetch offset is past the leader's log end offset or negative: OFFSET_OUT_OF_RANGE.
    #[error("fetch offset {fetch_offset} outside 0..={log_end_offset}")]
    OffsetOutOfRange {
        fetch_offset: i64,
        log_end_offset: i64,
    },
}

/// An ISR change the leader asks the controller for (AlterPartition, KIP-497): applied only if
/// the partition is still at both epochs when the controller sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsrProposal {
    /// The whole new ISR, the leader first.
    pub new_isr: Vec<ReplicaId>,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
}
