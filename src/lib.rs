//! ringbroker: a Kafka-wire-compatible message broker, thread-per-core on io_uring.
//!
//! Architecture map (dependencies point down; see ../shared/ARCHITECTURE.md and README.md):
//! ```text
//! main.rs      parse config → place shards → join
//! net/         listeners (SO_REUSEPORT per shard), connection loop, framing, backpressure
//! handlers/    one file per Kafka API; mod.rs is the registry that also builds ApiVersions
//! group/       consumer group coordinator and committed offsets
//! cluster/     topic metadata, node metadata file (later: Raft quorum, replication)
//! shard/       one pinned compio runtime per core, partition → shard map, bounded mesh
//! storage/     partition logs: segments, indexes, recovery, retention, flush, zero-copy reads
//! protocol/    sans-IO Kafka codec (imports nothing from the crate)
//! limits.rs    every bound, with its arithmetic
//! ```
pub mod broker;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod config;
#[cfg(feature = "failpoints")]
pub mod failpoints;
pub mod group;
pub mod handlers;
pub mod limits;
pub mod metrics;
pub mod net;
pub mod protocol;
pub mod shard;
pub mod storage;
