//! ringbroker: a Kafka-wire-compatible message broker, thread-per-core on io_uring.
//!
//! Architecture map, in layer order: a module imports only from layers below it, never from
//! its own layer or above (`tests/tidy.rs` enforces it, with this order; docs/ARCHITECTURE.md
//! explains it).
//! ```text
//! main.rs      the binary: parse config → compose (broker services, servers) → start shards
//! cli/         admin commands (topic, group, tune), run on main
//! client/      a small Kafka client for cli/
//! net/         Kafka listener (SO_REUSEPORT per shard), connection loop, framing, backpressure
//! handlers/    one file per Kafka API; mod.rs is the registry that also builds ApiVersions;
//!              routing to partition owners and group coordinators
//! metrics/     per-shard counters, scrape, the metrics listener    failpoints.rs (tests only)
//! broker/      composition: the per-shard services struct and its start/stop hooks
//! group/       consumer group coordinator (a per-shard service) and committed offsets
//! security/    listener protocols, principals and sessions; TLS, SASL, ACLs, quotas
//! replication/ sans-IO replica state machine: follower offsets, HW, ISR proposals, acks=all
//! cluster/     metadata snapshot and view, controller, producer ids, topic → log configs
//! storage/     partition logs and the per-shard log pump that owns them
//! shard/       runtime kernel: pinned runtimes, mesh, invoke_on, placement, Shard<S>
//! config.rs    runtime knobs, validated        protocol/   sans-IO Kafka codec
//! limits.rs    every bound, with its arithmetic
//! sim/         deterministic cluster simulator (ringsim): real cores, virtual time, faults
//! planted_bugs.rs  wrong rule variants the simulator must catch (`sim-bugs` feature only)
//! ```
//! The shard runtime is generic over the services struct (`shard::Shard<S>`); `broker/`
//! composes the subsystems' per-shard services into `broker::Services` (Seastar's `sharded<T>`
//! composed one level up), and each service holds the handles it needs.
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
#[cfg(feature = "sim-bugs")]
pub mod planted_bugs;
pub mod protocol;
pub mod replication;
pub mod security;
pub mod shard;
pub mod sim;
pub mod storage;
