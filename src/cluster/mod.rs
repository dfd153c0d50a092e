//! Cluster metadata for a single node (Raft and replication come later): topics with their ids,
//! partition counts and configs as a state machine over metadata records, persisted as a
//! snapshot in the data dir, plus topic-name rules and the config table.
//!
//! - `metadata/`: the state, its records, the pure `apply`, the snapshot file.
//! - `decisions`: the controller's policy, current state + request → records.
//! - `controller`: runs a change on shard 0 (decide → persist → apply → install → publish).
//! - `policy`: the cluster controller's sans-IO decisions about brokers and partitions
//!   (registration, heartbeats and fencing, elections, placement, producer-id blocks); not
//!   wired into the running broker yet.
//!
//! - `stream`: a connection between two nodes (plain or TLS), for the quorum and the fetcher.
//!
//! The controller runs on shard 0; every shard reads an immutable snapshot.
pub mod acls;
pub mod active;
pub mod clean_shutdown;
pub mod configs;
pub mod controller;
pub mod decisions;
pub mod membership;
pub mod metadata;
pub mod partition_logs;
pub mod policy;
pub mod producer_ids;
pub mod quorum;
pub mod quotas;
pub mod rpc;
pub mod stream;
pub mod topic_name;
pub mod view;

pub use decisions::MetadataChange;
pub use metadata::{ClusterMetadata, MetadataError, MetadataRecord, MetadataStore, TopicMetadata};
pub use policy::isr::{AlterPartitionRequest, ElectionType};
pub use view::{ControllerLink, MetadataHost, MetadataView};
