//! Cluster metadata for a single node (Raft and replication come later): topics with their ids,
//! partition counts and configs, persisted in the node metadata file, plus topic-name rules and
//! the config table. The controller that applies changes runs on shard 0; every shard reads an
//! immutable snapshot.
pub mod configs;
pub mod controller;
pub mod metadata;
pub mod partition_logs;
pub mod producer_ids;
pub mod topic_name;
pub mod view;

pub use metadata::{ClusterMetadata, MetadataError, MetadataStore, TopicMetadata};
pub use view::{MetadataHost, MetadataView};
