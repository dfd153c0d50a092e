//! Partition replication (issue 16), Kafka's pull model: per partition, a leader tracks its
//! followers' log end offsets, moves the high watermark, proposes ISR changes and answers
//! acks=all produce; followers fetch, truncate where their log diverges and learn the HW.
//!
//! Today this module owns only the sans-IO replica state machine (CLUSTER.md, "Replication"):
//! - `replica.rs`: configuration and the types both halves share (fetch in/out, proposals);
//! - `leader.rs`: [`LeaderReplica`], HW, ISR shrink/expand proposals, fencing;
//! - `acks.rs`: the bounded acks=all waiters a leader owns;
//! - `follower.rs`: [`FollowerReplica`], fetch position, KIP-320 truncation, HW;
//! - `epochs.rs`: the leader-epoch cache and its `endOffsetFor` lookup;
//! - `invariants.rs`: the properties a run must keep, as reusable checks;
//! - `link.rs`: the follower fetcher's connection (TCP or TLS) and the dialer the broker
//!   installs for the inter-broker listener's TLS and SASL;
//! - `throttle.rs`: the broker-wide replication throttle every shard's fetchers draw from.
//!
//! Sans-IO: no I/O, no async, no clock reads; time comes in as a `Duration` since an
//! arbitrary origin, and every call returns what the caller must do. It runs on the
//! partition's shard, driven by the broker (fetch handler, produce path, follower fetcher —
//! not wired yet) and by the deterministic simulator (issue 17). Not owned here: the log
//! (storage), the committed partition state (cluster metadata), the network.
pub mod acks;
pub mod epochs;
mod fetcher;
pub mod follower;
pub mod invariants;
pub mod leader;
pub mod link;
pub mod manager;
pub mod replica;
#[cfg(test)]
mod tests;
pub mod throttle;

pub use acks::{AckAnswer, AckOutcome, AckTicket};
pub use epochs::{EpochEndOffset, EpochEntry, LeaderEpochCache};
pub use follower::{FetchPosition, FollowerAction, FollowerError, FollowerReplica};
pub use invariants::{InvariantViolation, LeaderHistory};
pub use leader::{AckRegistration, LeaderEffects, LeaderReplica, ProduceError};
pub use manager::{
    AppendFailure, FetchStream, IsrChange, Proposer, ReplicaManager, ReplicationSettings,
    ReplicationStats,
};
pub use replica::{FetchAnswer, FetchError, FollowerFetch, IsrProposal, ReplicaConfig, ReplicaId};
pub use throttle::ReplicationThrottle;
