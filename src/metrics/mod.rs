//! Broker metrics in the Prometheus text format, served on their own listener
//! (`--metrics-listen`, off unless set).
//!
//! ```text
//! mod.rs    per-shard counters (thread-local Cells) and the hooks that bump them
//! scrape.rs gathers counters, partition offsets and group commits from every shard, encodes
//! http.rs   the minimal HTTP/1.1 responder for GET /metrics, on shard 0 (a `shard::Server`
//!           that main.rs composes beside net/'s Kafka listener)
//! ```
//!
//! Invariant: a counter is written only by its own shard's thread (thread-local `Cell`s, so no
//! atomic or cache-line traffic on the request path); a scrape reads each shard's counters by
//! running a job on that shard. Counters only grow; the process lifetime is their epoch.
//!
//! Which shard counts what: requests, latency, connections and fetch bytes on the connection's
//! shard; produce bytes and records on the shard that owns (and wrote) the partition.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

pub mod http;
pub mod scrape;

use crate::protocol::ApiKey;
use crate::storage::{AppendInfo, AppendRequest};
use crate::storage::{LeasedRange, PartitionKey};
use bytes::Bytes;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::time::Duration;

/// Upper bounds (seconds) of the request latency histogram's buckets; `+Inf` is implied.
/// From 100 µs (an in-memory request) to 10 s (a long-polling Fetch waits up to its max).
pub const LATENCY_BUCKETS_SECONDS: [f64; 16] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// One API's counters on one shard.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApiStats {
    pub requests: u64,
    /// Requests whose handler returned an error (the connection was closed).
    pub errors: u64,
    pub latency_sum_seconds: f64,
    /// Per-bucket (not cumulative) counts, one per [`LATENCY_BUCKETS_SECONDS`] entry plus the
    /// last for `+Inf`.
    pub latency_buckets: [u64; LATENCY_BUCKETS_SECONDS.len() + 1],
}

/// One shard's counters: the plain values a scrape carries back across threads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    /// Keyed by API key; only registered APIs reach here, so the map is bounded by the
    /// registry's length.
    pub apis: BTreeMap<i16, ApiStats>,
    pub produce_bytes: u64,
    pub produce_records: u64,
    pub fetch_bytes: u64,
    pub connections_accepted: u64,
    pub connections_closed: u64,
    pub connections_refused: u64,
    /// Partitions of follower fetches this shard served that another shard owns (each
    /// crossed the mesh: the connection was not steered to its shard).
    pub follower_fetch_off_shard_partitions: u64,
}

/// The live, thread-local form of [`Counters`]. `RefCell` borrows never span an `.await`.
#[derive(Debug, Default)]
struct Local {
    apis: RefCell<BTreeMap<i16, ApiStats>>,
    produce_bytes: Cell<u64>,
    produce_records: Cell<u64>,
    fetch_bytes: Cell<u64>,
    connections_accepted: Cell<u64>,
    connections_closed: Cell<u64>,
    connections_refused: Cell<u64>,
    follower_fetch_off_shard_partitions: Cell<u64>,
}

thread_local! {
    // One per shard thread (a shard never migrates threads), so counting is a plain add.
    static LOCAL: Local = Local::default();
}

fn bump(cell: &Cell<u64>, by: u64) {
    cell.set(cell.get().saturating_add(by));
}

/// Counts one request of `api_key` that took `elapsed`; `failed` when the handler errored.
pub fn record_request(api_key: ApiKey, elapsed: Duration, failed: bool) {
    let seconds = elapsed.as_secs_f64();
    let bucket = LATENCY_BUCKETS_SECONDS
        .iter()
        .position(|&bound| seconds <= bound)
        .unwrap_or(LATENCY_BUCKETS_SECONDS.len());
    LOCAL.with(|local| {
        let mut apis = local.apis.borrow_mut();
        let stats = apis.entry(api_key as i16).or_default();
        stats.requests = stats.requests.saturating_add(1);
        if failed {
            stats.errors = stats.errors.saturating_add(1);
        }
        stats.latency_sum_seconds += seconds;
        if let Some(count) = stats.latency_buckets.get_mut(bucket) {
            *count = count.saturating_add(1);
        }
    });
}

/// Counts the appends that wrote: `sizes[i]` is the batch bytes of the append whose outcome
/// is `results[i]`. Duplicates (nothing written) and failures are not counted.
pub fn record_produce<E>(sizes: &[u64], results: &[Result<AppendInfo, E>]) {
    let (mut bytes, mut records) = (0_u64, 0_u64);
    for (size, result) in sizes.iter().zip(results) {
        if let Ok(info) = result
            && !info.duplicate
        {
            bytes = bytes.saturating_add(*size);
            records = records.saturating_add(u64::try_from(info.record_count).unwrap_or(0));
        }
    }
    LOCAL.with(|local| {
        bump(&local.produce_bytes, bytes);
        bump(&local.produce_records, records);
    });
}

/// Batch bytes of each append, in order (what [`record_produce`] takes as `sizes`).
#[must_use]
pub fn append_sizes(appends: &[(PartitionKey, AppendRequest)]) -> Vec<u64> {
    appends
        .iter()
        .map(|(_, request)| request.batches.iter().map(|batch| batch.len() as u64).sum())
        .collect()
}

/// Record bytes of one Fetch partition entry: its in-memory records, or its spliced ranges.
#[must_use]
pub fn fetch_bytes(records: Option<&Bytes>, ranges: Option<&[LeasedRange]>) -> u64 {
    let memory = records.map_or(0, |bytes| bytes.len() as u64);
    let spliced: u64 = ranges
        .unwrap_or_default()
        .iter()
        .map(|range| u64::from(range.length))
        .sum();
    memory.saturating_add(spliced)
}

/// Counts record bytes a Fetch response carries.
pub fn record_fetch(bytes: u64) {
    LOCAL.with(|local| bump(&local.fetch_bytes, bytes));
}

/// Counts a connection admitted by this shard.
pub fn connection_accepted() {
    LOCAL.with(|local| bump(&local.connections_accepted, 1));
}

/// Counts a connection of this shard that ended.
pub fn connection_closed() {
    LOCAL.with(|local| bump(&local.connections_closed, 1));
}

/// Counts a connection refused by admission (over a cap).
pub fn connection_refused() {
    LOCAL.with(|local| bump(&local.connections_refused, 1));
}

/// Counts partitions of a follower fetch that this (the connection's) shard does not own.
pub fn follower_fetch_off_shard(partitions: u64) {
    LOCAL.with(|local| bump(&local.follower_fetch_off_shard_partitions, partitions));
}

/// This thread's (shard's) counters now.
#[must_use]
pub fn counters() -> Counters {
    LOCAL.with(|local| Counters {
        apis: local.apis.borrow().clone(),
        produce_bytes: local.produce_bytes.get(),
        produce_records: local.produce_records.get(),
        fetch_bytes: local.fetch_bytes.get(),
        connections_accepted: local.connections_accepted.get(),
        connections_closed: local.connections_closed.get(),
        connections_refused: local.connections_refused.get(),
        follower_fetch_off_shard_partitions: local.follower_fetch_off_shard_partitions.get(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn request_lands_in_its_bucket_and_counts() {
        let before = counters();
        record_request(ApiKey::Metadata, Duration::from_millis(3), false);
        record_request(ApiKey::Metadata, Duration::from_secs(60), true);
        let after = counters();
        let stats = &after.apis[&(ApiKey::Metadata as i16)];
        let old = before.apis.get(&(ApiKey::Metadata as i16)).cloned();
        let old = old.unwrap_or_default();
        assert_eq!(stats.requests, old.requests + 2);
        assert_eq!(stats.errors, old.errors + 1);
        // 3 ms falls in the 5 ms bucket (index 5); 60 s in +Inf (the last).
        assert_eq!(stats.latency_buckets[5], old.latency_buckets[5] + 1);
        assert_eq!(stats.latency_buckets[16], old.latency_buckets[16] + 1);
    }

    #[test]
    fn produce_counts_only_written_appends() {
        let before = counters();
        let written = AppendInfo {
            base_offset: 0,
            last_offset: 2,
            log_append_time_ms: -1,
            record_count: 3,
            duplicate: false,
            log_start_offset: 0,
        };
        let duplicate = AppendInfo {
            duplicate: true,
            ..written
        };
        record_produce::<()>(&[100, 50], &[Ok(written), Ok(duplicate)]);
        let after = counters();
        assert_eq!(after.produce_bytes, before.produce_bytes + 100);
        assert_eq!(after.produce_records, before.produce_records + 3);
    }
}
