//! `ringsim`: the deterministic cluster simulator (issue 17; CLUSTER.md, "Testing").
//!
//! One thread, one seeded PRNG, a virtual clock and an event queue drive 3–5 brokers that
//! run the same code the broker runs: the controller's decisions (`BrokerSessions`,
//! `decisions`, `policy::{election, isr, placement}`), the metadata state machine
//! (`ClusterMetadata::apply`) on every broker, and one `LeaderReplica`/`FollowerReplica` per
//! partition replica, with their leader-epoch caches (`replication::epochs`). Around them it
//! simulates what the broker gets from the outside: the network (delay, reordering, loss,
//! duplication, partitions that heal), disks (unsynced writes lost on crash, a torn last
//! write, failed fsync), crashes and restarts, clock jumps, clients (idempotent acks=all
//! producers, consumers reading below the HW and committing offsets), and an admin that
//! reassigns partitions (KIP-455, through the controller's real decisions), cancels some
//! reassignments and crashes the controller under others.
//!
//! Layout:
//! - `world.rs`: the event loop, the phases (faults, then heal and converge), fault injection;
//! - `quorum.rs`: the simulated metadata quorum (and why it is not openraft) and controller;
//! - `broker.rs`: one broker's metadata, roles and handlers around the real replica cores;
//! - `disk.rs`: a replica's log, its durability model; `network.rs`: messages and links;
//! - `workload.rs`: producers and consumers; `check.rs`: invariants and typed violations
//!   (with `replication::invariants` for each leader); `trace.rs`: the last events;
//! - `rng.rs`: splitmix64.
//!
//! A run is a pure function of its seed (and planted bug): no wall clock, no hashing with
//! random state (BTreeMap only), no threads. Not owned here: any of the cores it drives. Runs
//! on the caller's thread (the `ringsim` binary, `tests/ringsim.rs`).
pub mod broker;
pub mod check;
pub mod disk;
pub mod network;
pub mod quorum;
pub mod rng;
pub mod trace;
pub mod workload;
pub mod world;

use std::time::Duration;

use crate::protocol::Uuid;

pub use check::Violation;
pub use world::Stats;

/// A node of the simulation: brokers are 1..=n.
pub type NodeId = i32;
/// The client (every producer and consumer) as a network node.
pub const CLIENT: NodeId = 0;
/// "Whoever is the active controller when the message is sent".
pub const CONTROLLER: NodeId = -2;
/// The simulated topic.
pub const TOPIC_NAME: &str = "sim";
pub const TOPIC_ID: Uuid = Uuid([0x51; 16]);

/// The shape of one run, drawn from its seed.
#[derive(Debug, Clone, Copy)]
pub struct SimSettings {
    pub broker_count: i32,
    /// Data partitions; one more partition holds consumer offset commits.
    pub data_partitions: i32,
    pub replication_factor: i16,
    pub min_insync_replicas: usize,
    pub producers_per_partition: i32,
    pub records_per_producer: u32,
    /// Brokers down at once at most.
    pub crash_max: usize,
    pub loss_percent: u64,
    pub duplicate_percent: u64,
    pub delay_ms_max: u64,
    pub flush_failure_percent: u64,
    /// Percent of broker ticks whose flush is late (slow disk).
    pub slow_flush_percent: u64,
    /// How long faults are injected.
    pub fault_time: Duration,
    /// How long after the heal the cluster has to converge.
    pub convergence_bound: Duration,
}

impl SimSettings {
    /// The settings of `seed` (drawn from their own generator, so the run's own draws do
    /// not depend on how settings are drawn).
    #[must_use]
    pub fn for_seed(seed: u64) -> Self {
        let mut rng = rng::Rng::new(seed ^ 0x5EED_5E77_1265_0000);
        let broker_count = if rng.chance(70) { 3 } else { 5 };
        let replication_factor = 3;
        let min_insync_replicas = if rng.chance(60) { 2 } else { 1 };
        SimSettings {
            broker_count,
            data_partitions: i32::try_from(rng.between(1, 2)).unwrap_or(1),
            replication_factor,
            min_insync_replicas,
            producers_per_partition: 2,
            records_per_producer: u32::try_from(rng.between(20, 60)).unwrap_or(20),
            crash_max: if broker_count == 3 { 1 } else { 2 },
            loss_percent: rng.below(6),
            duplicate_percent: rng.below(4),
            delay_ms_max: rng.between(2, 30),
            flush_failure_percent: if rng.chance(20) { 1 } else { 0 },
            fault_time: Duration::from_secs(rng.between(8, 16)),
            convergence_bound: Duration::from_secs(30),
            slow_flush_percent: rng.below(40),
        }
    }
}

/// What one run found.
#[derive(Debug)]
pub struct Outcome {
    pub seed: u64,
    pub settings: SimSettings,
    pub violation: Option<Violation>,
    /// The last events, oldest first (`trace::TRACE_EVENTS_MAX` at most).
    pub trace: Vec<String>,
    pub stats: Stats,
    pub acknowledged: usize,
    pub committed: usize,
}

/// Runs seed `seed`. A panic inside a core (a broken `assert!`) is caught and reported as a
/// violation, with the trace up to it. Callers that run many seeds may want a quiet panic
/// hook (`std::panic::set_hook`), as `ringsim` and `tests/ringsim.rs` install.
#[must_use]
pub fn run_seed(seed: u64) -> Outcome {
    run_seed_traced(seed, trace::TRACE_EVENTS_MAX)
}

/// [`run_seed`] keeping the last `trace_events` events (`ringsim --trace-events N`, to see
/// further back before a violation).
#[must_use]
pub fn run_seed_traced(seed: u64, trace_events: usize) -> Outcome {
    let settings = SimSettings::for_seed(seed);
    let mut world = world::World::new(seed, settings);
    world.trace = trace::Trace::with_capacity(trace_events);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| world.run()));
    let violation = match result {
        Ok(Ok(())) => None,
        Ok(Err(violation)) => Some(violation),
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_string()))
                .unwrap_or_else(|| "panic".into());
            Some(Violation::Panic(message))
        }
    };
    Outcome {
        seed,
        settings,
        violation,
        trace: world.trace.lines(),
        stats: world.stats,
        acknowledged: world.checker.acked_count(),
        committed: world.checker.committed_count(),
    }
}

/// Runs `seed` with `bug` planted (`sim-bugs` builds only), then switches it off again.
#[cfg(feature = "sim-bugs")]
#[must_use]
pub fn run_seed_with_bug(
    seed: u64,
    bug: Option<crate::planted_bugs::PlantedBug>,
    trace_events: usize,
) -> Outcome {
    crate::planted_bugs::set(bug);
    let outcome = run_seed_traced(seed, trace_events);
    crate::planted_bugs::set(None);
    outcome
}
