//! The metadata quorum: a Raft log of opaque metadata entries replicated across the voters of
//! `--quorum-voters` (KRaft's role). openraft (pinned alpha) does the consensus; this module
//! hides it behind one trait of ours, [`MetadataQuorum`], so the alpha can be upgraded or
//! swapped here alone. No openraft type leaves `cluster/quorum/`.
//!
//! ```text
//! caller ── propose(records) ──▶ RaftQuorum ── openraft ── network.rs ◀──TCP──▶ peers
//!                                   │ transport.rs: plain TCP or the broker's mutual TLS
//!                                   │ log_store.rs: __cluster_metadata-0 (storage/ segments)
//!                                   │ state_machine.rs: MetadataApplier (caller's) + snapshots
//! ```
//! Owns: the Raft node, its log partition, vote file, snapshots and RPC listener. Does not own:
//! what the records mean (cluster/metadata's record codec and image), broker registration,
//! forwarding of admin requests, the CLI — those sit above and reach the quorum through
//! [`MetadataQuorum`] and [`MetadataApplier`].
//!
//! Offsets: a proposal commits as one Raft entry whose offset in the metadata partition is its
//! Raft index; blank and membership entries take offsets too (readers skip them).
//!
//! Runs on one compio runtime (shard 0's in the broker later; a thread of its own per voter in
//! tests); everything here is `!Send`.
mod error;
mod log_store;
mod network;
mod node;
mod state_machine;
#[cfg(test)]
mod tests;
mod transport;
mod types;

pub use error::QuorumError;
pub use log_store::{METADATA_PARTITION_DIRECTORY, QUORUM_STATE_FILE_NAME};
pub use network::{
    AppHandler, ControllerConnection, app_call_blocking, app_exchange_blocking, connect_blocking,
    connect_refused,
};
pub use node::{QuorumConfig, QuorumWatch, RaftQuorum, Voter, parse_voters, replay_local};
pub use state_machine::{MetadataApplier, SnapshotRejected};
pub use transport::{ControllerTransport, Opening, Plaintext, Transport, connect_tcp};

/// A committed proposal read back from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedEntry {
    pub offset: i64,
    pub records: Vec<Vec<u8>>,
}

/// One voter (or observer) as this node sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VoterProgress {
    pub node_id: i32,
    /// Last offset known replicated to it; known on the leader only (DescribeQuorum's
    /// `log_end_offset` of a voter).
    pub matched_offset: Option<i64>,
}

/// The quorum as this node sees it (DescribeQuorum, `cluster status`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QuorumStatus {
    pub node_id: i32,
    pub leader: Option<i32>,
    /// Current term (Kafka's leader epoch of the metadata partition).
    pub term: i64,
    pub committed_offset: Option<i64>,
    pub applied_offset: Option<i64>,
    pub voters: Vec<VoterProgress>,
    /// Non-voting members (openraft learners: observer brokers), with their progress when
    /// this node leads.
    pub observers: Vec<VoterProgress>,
}

/// The metadata quorum as the rest of the broker uses it.
///
/// Futures are `!Send` on purpose: the quorum lives on one shard's runtime.
#[allow(async_fn_in_trait)]
pub trait MetadataQuorum {
    /// Proposes `records` as one entry and waits until it commits (and is applied here).
    /// Returns its offset.
    ///
    /// # Errors
    /// `NotLeader` (with the leader when known), `LeaderChanged`, `Timeout` — all retriable;
    /// `ProposalTooLarge`; `ShutDown`.
    async fn propose(&self, records: Vec<Vec<u8>>) -> Result<i64, QuorumError>;

    /// Committed proposals from `from_offset` on, at most `entries_max` of them (an empty
    /// answer means none committed yet past `from_offset`).
    ///
    /// # Errors
    /// `SnapshotRequired` below the log start; `LogRead`.
    async fn read_committed(
        &self,
        from_offset: i64,
        entries_max: usize,
    ) -> Result<Vec<CommittedEntry>, QuorumError>;

    /// Leader, term, commit and voters as this node knows them now.
    fn status(&self) -> QuorumStatus;

    /// Stops the Raft node and the RPC listener.
    ///
    /// # Errors
    /// `Raft` when openraft's tasks ended abnormally.
    async fn shutdown(&self) -> Result<(), QuorumError>;
}
