//! The openraft type configuration of the metadata quorum and the payload of one entry. Every
//! openraft type the quorum uses is named here or in a sibling file; nothing outside
//! `cluster/quorum/` sees them.
//!
//! Ids: Kafka node ids are non-negative `i32`s; openraft's node id is the same number as `u64`.
//! Terms are openraft's `u64` terms, written into the log as the partition leader epoch (`i32`):
//! a term past `i32::MAX` is refused when appending. The leader id is openraft's "standard"
//! mode (one leader per term, a committed leader id is just the term), as in Kafka's KRaft.
//!
//! Runs wherever the quorum runs (shard 0 later); plain data.
use serde::{Deserialize, Serialize};

openraft::declare_raft_types!(
    /// The quorum's openraft type configuration.
    pub TypeConfig:
        D = Proposal,
        R = (),
        NodeId = u64,
        Node = openraft::BasicNode,
        LeaderId = openraft::impls::leader_id_std::LeaderId<u64, u64>,
        AsyncRuntime = openraft_rt_compio::CompioRuntime,
);

pub type Entry = openraft::type_config::alias::EntryOf<TypeConfig>;
pub type LogId = openraft::type_config::alias::LogIdOf<TypeConfig>;
pub type Vote = openraft::type_config::alias::VoteOf<TypeConfig>;
pub type SnapshotMeta = openraft::type_config::alias::SnapshotMetaOf<TypeConfig>;
pub type StoredMembership = openraft::type_config::alias::StoredMembershipOf<TypeConfig>;
pub type Snapshot = openraft::type_config::alias::SnapshotOf<TypeConfig, Vec<u8>>;

/// One proposal: a batch of opaque records (metadata records encoded by the caller), committed
/// atomically as one Raft entry at one offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Proposal {
    pub records: Vec<Vec<u8>>,
}

impl std::fmt::Display for Proposal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Proposal({} records)", self.records.len())
    }
}

/// A log id's offset in the metadata partition (offset = Raft index).
#[must_use]
pub fn offset_of(log_id: &LogId) -> i64 {
    i64::try_from(log_id.index).unwrap_or(i64::MAX)
}

/// A log id's term.
#[must_use]
pub fn term_of(log_id: &LogId) -> u64 {
    log_id.leader_id.term
}

/// Our node id (Kafka's `i32`) as openraft's.
///
/// # Panics
/// On a negative id (config validation refuses them first).
#[must_use]
pub fn raft_id(node_id: i32) -> u64 {
    let id = u64::try_from(node_id);
    assert!(id.is_ok(), "negative node id {node_id}");
    id.unwrap_or(0)
}

/// openraft's node id as ours; ids only ever come from our config, so they fit.
#[must_use]
pub fn kafka_id(node_id: u64) -> i32 {
    i32::try_from(node_id).unwrap_or(i32::MAX)
}
