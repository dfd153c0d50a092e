//! A scrape: every shard's counters, the offsets of the partitions it owns and the committed
//! offsets of the groups it coordinates, gathered with `invoke_on_all`, then encoded in the
//! Prometheus text format by `prometheus-client` (group lag is computed at encoding).
//!
//! Runs on the scraping shard (0); the gathering job runs on every shard at once.
//! Bounded: at most `METRICS_PARTITIONS_PER_SHARD_MAX` partitions and
//! `METRICS_GROUP_OFFSETS_PER_SHARD_MAX` committed offsets per shard per scrape.
use super::{ApiStats, Counters, LATENCY_BUCKETS_SECONDS, counters};
use crate::broker::Shard;
use crate::cluster::controller;
use crate::cluster::metadata::NO_LEADER;
use crate::group::route_in;
use crate::limits;
use crate::protocol::ApiKey;
use crate::replication::ReplicationStats;
use crate::shard::MeshError;
use crate::shard::placement::shard_for;
use crate::storage::PartitionKey;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

/// One partition's offsets and size, as its owning shard sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionStats {
    pub topic: String,
    pub partition: i32,
    pub log_start_offset: i64,
    pub high_watermark: i64,
    pub log_end_offset: i64,
    pub size_bytes: u64,
}

/// A consumer group's committed offset of one partition, from the group's coordinator shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCommit {
    pub group: String,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// What one shard reports to a scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardSnapshot {
    pub shard: usize,
    pub counters: Counters,
    pub partitions: Vec<PartitionStats>,
    /// Committed offsets of the groups this shard coordinates.
    pub commits: Vec<GroupCommit>,
    /// This shard's replicas: leaders, ISR health, follower lag.
    pub replication: ReplicationStats,
    /// Partitions without a leader in the whole cluster (reported by shard 0 only, from its
    /// metadata, as Kafka's controller gauge; 0 elsewhere).
    pub offline_partitions: u64,
    /// Quota throttles this shard gave: (user, client id) → (responses, total ms)
    /// (`security::quota`, bounded by `QUOTA_THROTTLE_METRIC_CLIENTS_MAX` + 1).
    pub throttles: BTreeMap<(String, String), (u64, u64)>,
}

/// Gathers a snapshot from every shard.
///
/// # Errors
/// A shard stopped before answering (shutdown).
pub async fn gather(shard: &Rc<Shard>) -> Result<Vec<ShardSnapshot>, MeshError> {
    shard
        .invoke_on_all(|shard| async move { snapshot(&shard).await })
        .await
}

/// This shard's counters and its partitions' offsets (runs on that shard).
async fn snapshot(shard: &Rc<Shard>) -> ShardSnapshot {
    let counters = counters();
    // Cloned out so no borrow is held across the offsets calls below.
    let metadata = controller::metadata(shard);
    let mut partitions = Vec::new();
    'topics: for topic in metadata.topics.values() {
        for partition in 0..topic.partition_count {
            if shard_for(topic.topic_id, partition, shard.count()) != shard.index() {
                continue;
            }
            if partitions.len() >= limits::METRICS_PARTITIONS_PER_SHARD_MAX {
                break 'topics;
            }
            let key = PartitionKey {
                topic_id: topic.topic_id,
                partition,
            };
            // A partition being deleted or not yet recovered is skipped, not an error.
            if let Ok(offsets) = shard.state.logs.offsets(key).await {
                partitions.push(PartitionStats {
                    topic: topic.name.clone(),
                    partition,
                    log_start_offset: offsets.log_start_offset,
                    high_watermark: offsets.high_watermark,
                    log_end_offset: offsets.log_end_offset,
                    size_bytes: offsets.size_bytes,
                });
            }
        }
    }
    let offline_partitions = if shard.index() == 0 {
        offline_partitions(&metadata)
    } else {
        0
    };
    ShardSnapshot {
        shard: shard.index(),
        counters,
        partitions,
        commits: group_commits(shard).await,
        replication: shard.state.replicas.stats(),
        offline_partitions,
        throttles: crate::security::quota::throttle_totals(),
    }
}

/// Partitions whose record names no leader.
fn offline_partitions(metadata: &crate::cluster::ClusterMetadata) -> u64 {
    let offline = metadata
        .all_partitions()
        .filter(|(_, _, state)| state.leader == NO_LEADER)
        .count();
    u64::try_from(offline).unwrap_or(u64::MAX)
}

/// The committed offsets of the groups this shard coordinates, at most
/// `METRICS_GROUP_OFFSETS_PER_SHARD_MAX` of them. A group still loading is skipped.
async fn group_commits(shard: &Rc<Shard>) -> Vec<GroupCommit> {
    let mut commits = Vec::new();
    let Ok(groups) = shard.state.groups.list() else {
        return commits;
    };
    let metadata = controller::metadata(shard);
    'groups: for listing in groups {
        let Some(route) = route_in(&metadata, &listing.group_id, shard.count()) else {
            continue;
        };
        let group = listing.group_id;
        let fetched = shard.state.groups.fetch_offsets(route, group.clone(), None);
        let Ok(topics) = fetched.await else {
            continue;
        };
        for (topic, partitions) in topics {
            for (partition, value) in partitions {
                if commits.len() >= limits::METRICS_GROUP_OFFSETS_PER_SHARD_MAX {
                    break 'groups;
                }
                if let Some(value) = value {
                    commits.push(GroupCommit {
                        group: group.clone(),
                        topic: topic.clone(),
                        partition,
                        offset: value.offset,
                    });
                }
            }
        }
    }
    commits
}

/// Encodes `snapshots` as a Prometheus text exposition.
///
/// # Errors
/// Only a formatter error, which writing to a `String` does not produce.
pub fn encode(snapshots: Vec<ShardSnapshot>) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::with_prefix("ringbroker");
    registry.register_collector(Box::new(Exposition(snapshots)));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)?;
    Ok(text)
}

/// The gathered values, encoded on demand by the registry.
#[derive(Debug)]
struct Exposition(Vec<ShardSnapshot>);

fn api_name(api_key: i16) -> String {
    ApiKey::from_i16(api_key).map_or_else(|| api_key.to_string(), |key| format!("{key:?}"))
}

type Field = fn(&Counters) -> u64;

/// Per-shard counters: (name without `_total`, help, field).
const SHARD_COUNTERS: [(&str, &str, Field); 7] = [
    (
        "produce_bytes",
        "Record batch bytes appended, by owning shard",
        |c| c.produce_bytes,
    ),
    (
        "produce_records",
        "Records appended, by owning shard",
        |c| c.produce_records,
    ),
    (
        "fetch_bytes",
        "Record bytes sent in Fetch responses, by connection shard",
        |c| c.fetch_bytes,
    ),
    ("connections_accepted", "Connections admitted", |c| {
        c.connections_accepted
    }),
    ("connections_closed", "Connections ended", |c| {
        c.connections_closed
    }),
    (
        "connections_refused",
        "Connections refused by admission caps",
        |c| c.connections_refused,
    ),
    (
        "follower_fetch_off_shard_partitions",
        "Follower fetch partitions owned by another shard than the connection's (not steered)",
        |c| c.follower_fetch_off_shard_partitions,
    ),
];

type PartitionField = fn(&PartitionStats) -> i64;

const PARTITION_GAUGES: [(&str, &str, PartitionField); 4] = [
    (
        "partition_log_end_offset",
        "Next offset to be written",
        |p| p.log_end_offset,
    ),
    (
        "partition_log_start_offset",
        "First offset still in the log",
        |p| p.log_start_offset,
    ),
    (
        "partition_high_watermark",
        "Last committed offset + 1",
        |p| p.high_watermark,
    ),
    (
        "partition_size_bytes",
        "Bytes of the partition's segments",
        |p| i64::try_from(p.size_bytes).unwrap_or(i64::MAX),
    ),
];

type ReplicationField = fn(&ReplicationStats) -> i64;

/// Per-shard replication gauges (Kafka's ReplicaManager gauges), then counters.
const REPLICATION_GAUGES: [(&str, &str, ReplicationField); 5] = [
    (
        "leader_partitions",
        "Replicated partitions this shard leads",
        |r| saturating(r.leaders),
    ),
    (
        "follower_partitions",
        "Replicated partitions this shard follows",
        |r| saturating(r.followers),
    ),
    (
        "under_replicated_partitions",
        "Led partitions whose ISR is smaller than their replica set",
        |r| saturating(r.under_replicated),
    ),
    (
        "under_min_isr_partitions",
        "Led partitions whose ISR is below min.insync.replicas",
        |r| saturating(r.under_min_isr),
    ),
    (
        "follower_lag_max_records",
        "Most records a follower of a led partition is behind",
        |r| r.follower_lag_max,
    ),
];
const REPLICATION_COUNTERS: [(&str, &str, ReplicationField); 2] = [
    (
        "isr_shrinks",
        "Committed ISR shrinks of led partitions",
        |r| saturating(r.isr_shrinks),
    ),
    (
        "isr_expands",
        "Committed ISR expands of led partitions",
        |r| saturating(r.isr_expands),
    ),
];

fn saturating(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

type ApiField = fn(&ApiStats) -> u64;

/// Per-API counters: (name without `_total`, help, field).
const API_COUNTERS: [(&str, &str, ApiField); 2] = [
    ("requests", "Requests handled", |stats| stats.requests),
    (
        "request_errors",
        "Requests whose handler failed (the connection was closed)",
        |stats| stats.errors,
    ),
];

/// Every (api, shard) series with its labels.
fn api_series(
    shards: &[ShardSnapshot],
) -> impl Iterator<Item = ([(&'static str, String); 2], &ApiStats)> {
    shards.iter().flat_map(|snapshot| {
        snapshot.counters.apis.iter().map(|(&api, stats)| {
            let labels = [
                ("api", api_name(api)),
                ("shard", snapshot.shard.to_string()),
            ];
            (labels, stats)
        })
    })
}

impl Collector for Exposition {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let shards = &self.0;
        for (name, help, field) in API_COUNTERS {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (labels, stats) in api_series(shards) {
                family
                    .encode_family(&labels)?
                    .encode_counter::<NoLabelSet, _, u64>(&field(stats), None)?;
            }
        }
        let mut latency = encoder.encode_descriptor(
            "request_latency_seconds",
            "Time from dispatch to response, by API",
            None,
            MetricType::Histogram,
        )?;
        for (labels, stats) in api_series(shards) {
            let bounds = LATENCY_BUCKETS_SECONDS.iter().copied();
            let buckets: Vec<(f64, u64)> = bounds
                .chain(std::iter::once(f64::INFINITY))
                .zip(stats.latency_buckets.iter().copied())
                .collect();
            latency
                .encode_family(&labels)?
                .encode_histogram::<NoLabelSet>(
                    stats.latency_sum_seconds,
                    stats.requests,
                    &buckets,
                    None,
                )?;
        }
        for (name, help, field) in SHARD_COUNTERS {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for snapshot in shards {
                let labels = [("shard", snapshot.shard.to_string())];
                family
                    .encode_family(&labels)?
                    .encode_counter::<NoLabelSet, _, u64>(&field(&snapshot.counters), None)?;
            }
        }
        let mut open = encoder.encode_descriptor(
            "connections_open",
            "Connections open now",
            None,
            MetricType::Gauge,
        )?;
        for snapshot in shards {
            let counters = &snapshot.counters;
            let now = counters
                .connections_accepted
                .saturating_sub(counters.connections_closed);
            let labels = [("shard", snapshot.shard.to_string())];
            open.encode_family(&labels)?.encode_gauge(&now)?;
        }
        for (name, help, field) in PARTITION_GAUGES {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for snapshot in shards {
                for partition in &snapshot.partitions {
                    let labels = [
                        ("topic", partition.topic.clone()),
                        ("partition", partition.partition.to_string()),
                    ];
                    family
                        .encode_family(&labels)?
                        .encode_gauge(&field(partition))?;
                }
            }
        }
        encode_replication(shards, &mut encoder)?;
        encode_throttles(shards, &mut encoder)?;
        encode_groups(shards, &mut encoder)
    }
}

/// Quota throttle time and throttled responses per client (Kafka's per-client
/// `throttle-time` sensor, as counters) and shard.
fn encode_throttles(
    shards: &[ShardSnapshot],
    encoder: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    type Pick = fn(&(u64, u64)) -> u64;
    let families: [(&str, &str, Pick); 2] = [
        (
            "client_throttle_time_ms",
            "Quota throttle time given to a client (ms)",
            |totals| totals.1,
        ),
        (
            "client_throttled_responses",
            "Responses that carried a quota throttle",
            |totals| totals.0,
        ),
    ];
    for (name, help, pick) in families {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        for snapshot in shards {
            for ((user, client_id), totals) in &snapshot.throttles {
                let labels = [
                    ("user", user.clone()),
                    ("client_id", client_id.clone()),
                    ("shard", snapshot.shard.to_string()),
                ];
                family
                    .encode_family(&labels)?
                    .encode_counter::<NoLabelSet, _, u64>(&pick(totals), None)?;
            }
        }
    }
    Ok(())
}

/// The replication gauges and counters by shard, and the cluster's offline partitions.
fn encode_replication(
    shards: &[ShardSnapshot],
    encoder: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    for (name, help, field) in REPLICATION_GAUGES {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for snapshot in shards {
            let labels = [("shard", snapshot.shard.to_string())];
            family
                .encode_family(&labels)?
                .encode_gauge(&field(&snapshot.replication))?;
        }
    }
    for (name, help, field) in REPLICATION_COUNTERS {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        for snapshot in shards {
            let labels = [("shard", snapshot.shard.to_string())];
            let value = u64::try_from(field(&snapshot.replication)).unwrap_or(0);
            family
                .encode_family(&labels)?
                .encode_counter::<NoLabelSet, _, u64>(&value, None)?;
        }
    }
    let offline: u64 = shards.iter().map(|s| s.offline_partitions).sum();
    let offline = saturating(offline);
    encoder
        .encode_descriptor(
            "offline_partitions",
            "Partitions without a leader in the cluster",
            None,
            MetricType::Gauge,
        )?
        .encode_gauge(&offline)?;
    Ok(())
}

/// Committed offsets and lag (high watermark − committed, never below 0) per group and
/// partition; lag is left out for a partition the scrape has no offsets for.
fn encode_groups(
    shards: &[ShardSnapshot],
    encoder: &mut DescriptorEncoder,
) -> Result<(), std::fmt::Error> {
    let ends: HashMap<(&str, i32), i64> = shards
        .iter()
        .flat_map(|snapshot| &snapshot.partitions)
        .map(|p| ((p.topic.as_str(), p.partition), p.high_watermark))
        .collect();
    let commits = || shards.iter().flat_map(|snapshot| &snapshot.commits);
    let labels = |commit: &GroupCommit| {
        [
            ("group", commit.group.clone()),
            ("topic", commit.topic.clone()),
            ("partition", commit.partition.to_string()),
        ]
    };
    let mut committed = encoder.encode_descriptor(
        "group_committed_offset",
        "Offset a consumer group committed",
        None,
        MetricType::Gauge,
    )?;
    for commit in commits() {
        let labels = labels(commit);
        committed
            .encode_family(&labels)?
            .encode_gauge(&commit.offset)?;
    }
    let mut lag = encoder.encode_descriptor(
        "group_lag",
        "Records between a group's committed offset and the high watermark",
        None,
        MetricType::Gauge,
    )?;
    for commit in commits() {
        if let Some(&end) = ends.get(&(commit.topic.as_str(), commit.partition)) {
            let behind = end.saturating_sub(commit.offset).max(0);
            lag.encode_family(&labels(commit))?.encode_gauge(&behind)?;
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn encodes_counters_histogram_and_partitions() {
        let mut counters = Counters {
            produce_bytes: 1234,
            connections_accepted: 3,
            connections_closed: 1,
            ..Counters::default()
        };
        let mut stats = ApiStats {
            requests: 2,
            latency_sum_seconds: 0.5,
            ..ApiStats::default()
        };
        stats.latency_buckets[0] = 1;
        stats.latency_buckets[16] = 1;
        counters.apis.insert(ApiKey::Produce as i16, stats);
        let text = encode(vec![ShardSnapshot {
            shard: 1,
            counters,
            partitions: vec![PartitionStats {
                topic: "t".to_owned(),
                partition: 0,
                log_start_offset: 0,
                high_watermark: 7,
                log_end_offset: 7,
                size_bytes: 99,
            }],
            commits: vec![GroupCommit {
                group: "g".to_owned(),
                topic: "t".to_owned(),
                partition: 0,
                offset: 3,
            }],
            replication: ReplicationStats {
                leaders: 3,
                under_replicated: 1,
                isr_shrinks: 2,
                follower_lag_max: 40,
                ..ReplicationStats::default()
            },
            offline_partitions: 5,
            throttles: [(("u".to_owned(), "c".to_owned()), (2, 300))].into(),
        }])
        .unwrap();
        let bucket = "ringbroker_request_latency_seconds_bucket";
        for line in [
            "ringbroker_requests_total{api=\"Produce\",shard=\"1\"} 2",
            &format!("{bucket}{{le=\"0.0001\",api=\"Produce\",shard=\"1\"}} 1"),
            &format!("{bucket}{{le=\"10.0\",api=\"Produce\",shard=\"1\"}} 1"),
            &format!("{bucket}{{le=\"+Inf\",api=\"Produce\",shard=\"1\"}} 2"),
            "ringbroker_produce_bytes_total{shard=\"1\"} 1234",
            "ringbroker_connections_open{shard=\"1\"} 2",
            "ringbroker_partition_log_end_offset{topic=\"t\",partition=\"0\"} 7",
            "ringbroker_partition_size_bytes{topic=\"t\",partition=\"0\"} 99",
            "ringbroker_group_committed_offset{group=\"g\",topic=\"t\",partition=\"0\"} 3",
            "ringbroker_group_lag{group=\"g\",topic=\"t\",partition=\"0\"} 4",
            "ringbroker_leader_partitions{shard=\"1\"} 3",
            "ringbroker_under_replicated_partitions{shard=\"1\"} 1",
            "ringbroker_follower_lag_max_records{shard=\"1\"} 40",
            "ringbroker_isr_shrinks_total{shard=\"1\"} 2",
            "ringbroker_offline_partitions 5",
            "ringbroker_client_throttle_time_ms_total{user=\"u\",client_id=\"c\",shard=\"1\"} 300",
        ] {
            assert!(
                text.lines().any(|got| got == line),
                "{line} missing in\n{text}"
            );
        }
    }
}
