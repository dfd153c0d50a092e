//! The quorum's one error type: what callers of [`super::MetadataQuorum`] branch on.
use std::path::PathBuf;

use crate::storage::StorageError;

/// Why a quorum operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QuorumError {
    /// This node is not the leader; `leader` is the current one when known. Retriable there.
    #[error("not the metadata quorum leader (leader: {leader:?})")]
    NotLeader { leader: Option<i32> },
    /// The proposal's entry was dropped by a leader change: it may or may not commit later.
    /// Retriable, but the caller must deduplicate (Kafka's controller does so by record ids).
    #[error("leadership changed while proposing; outcome unknown (leader: {leader:?})")]
    LeaderChanged { leader: Option<i32> },
    /// No commit within the proposal timeout (e.g. the leader lost its quorum). Retriable.
    #[error("no commit within {timeout_ms} ms")]
    Timeout { timeout_ms: u64 },
    /// The quorum on this node has stopped (shutdown, or a fatal storage error).
    #[error("metadata quorum stopped")]
    ShutDown,
    #[error("proposal of {size} bytes / {count} records over the limit ({size_max} / {count_max})")]
    ProposalTooLarge {
        size: usize,
        count: usize,
        size_max: usize,
        count_max: usize,
    },
    /// The entries asked for were purged below a snapshot; read the snapshot first.
    #[error("offset {offset} is below the log start {log_start_offset} (snapshot needed)")]
    SnapshotRequired { offset: i64, log_start_offset: i64 },
    #[error("invalid quorum config: {reason}")]
    Config { reason: &'static str },
    #[error("bad voter list at entry {index}: expected id@host:port")]
    VoterSyntax { index: usize },
    #[error("binding the controller listener {address}: {source}")]
    Bind {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("metadata log read: {0}")]
    LogRead(#[source] std::io::Error),
    #[error("metadata log {path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    /// openraft refused to start or initialize (its message: it does not expose typed causes).
    #[error("raft: {0}")]
    Raft(String),
    /// The leader refused to add this observer (another live broker has its node id).
    #[error("the metadata quorum refused this node: {reason}")]
    JoinRefused { reason: String },
}

impl QuorumError {
    /// Whether the same request may succeed later or elsewhere (Kafka's retriable errors).
    #[must_use]
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            Self::NotLeader { .. } | Self::LeaderChanged { .. } | Self::Timeout { .. }
        )
    }
}
