//! Consumer groups (classic protocol) and committed offsets.
//!
//! ```text
//! mod.rs          routing: group id → `__consumer_offsets` partition (Kafka's hash)
//! state.rs        one group's membership state machine (pure, clock passed in)
//! offsets.rs      one group's committed offsets and their expiry (pure)
//! log.rs          Kafka's __consumer_offsets key/value records: encode, decode, replay
//! coordinator.rs  per-shard coordinator: groups of the partitions this shard owns, parked
//!                 JoinGroup/SyncGroup requests, the timer, persistence, replay
//! api.rs          the coordinator's operations, one per group API, called by handlers/
//! ```
//! Timer: one per shard, started at start-up when replay loaded any group, else by the
//! shard's first group request. Known limits: a parked JoinGroup/SyncGroup occupies one of the
//! coordinator shard's mesh job slots (`MESH_JOBS_INFLIGHT_MAX`) while it waits.
//! The coordinator of group G lives on the shard owning partition
//! `abs(javaHashCode(G)) % partitions` of `__consumer_offsets`, exactly as Kafka picks it, so a
//! group's state and its records live together and survive restarts with the log.
//!
//! Routing a request to its coordinator shard is the handlers' job (`handlers/group_routing.rs`,
//! with the pure [`route_in`] from here); group/ never names the shard context. The coordinator
//! is a per-shard service composed above (`broker::Services::groups`).
//!
//! Runs on the coordinator shard of each group; the routing helpers are pure and run anywhere.
pub mod api;
pub mod coordinator;
pub mod log;
pub mod offsets;
pub mod state;

pub use coordinator::{Coordinator, Route};

use crate::cluster::ClusterMetadata;
use crate::shard::shard_for;
use crate::storage::{PartitionKey, StorageErrorKind};
use std::fmt::Write as _;

/// Kafka's internal topic holding group metadata and committed offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Java's `String.hashCode`: `s[0]*31^(n-1) + … + s[n-1]` over UTF-16 code units, wrapping.
#[must_use]
pub fn java_string_hash(text: &str) -> i32 {
    text.encode_utf16().fold(0_i32, |hash, unit| {
        hash.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// The `__consumer_offsets` partition of `group_id` (Kafka's
/// `Utils.abs(groupId.hashCode) % groupMetadataTopicPartitionCount`, where `Utils.abs` maps
/// `i32::MIN` to 0).
///
/// # Panics
/// When `partition_count` is not positive (config validation guarantees it is).
#[must_use]
pub fn coordinator_partition(group_id: &str, partition_count: i32) -> i32 {
    assert!(partition_count > 0, "partition count {partition_count}");
    let hash = java_string_hash(group_id);
    let positive = if hash == i32::MIN { 0 } else { hash.abs() };
    let partition = positive % partition_count;
    assert!((0..partition_count).contains(&partition));
    partition
}

/// The coordinator of `group_id` in `metadata`, or `None` while `__consumer_offsets` does not
/// exist yet (FindCoordinator creates it).
#[must_use]
pub fn route_in(metadata: &ClusterMetadata, group_id: &str, shard_count: usize) -> Option<Route> {
    let topic = metadata.topic(OFFSETS_TOPIC)?;
    let partition = coordinator_partition(group_id, topic.partition_count);
    let key = PartitionKey {
        topic_id: topic.topic_id,
        partition,
    };
    Some(Route {
        key,
        shard: shard_for(topic.topic_id, partition, shard_count),
    })
}

/// A fresh member id, Kafka's shape: `<client id or instance id>-<UUID>`.
#[must_use]
pub fn fresh_member_id(prefix: &str) -> String {
    let uuid = crate::cluster::metadata::random_uuid();
    let hex = uuid
        .0
        .iter()
        .fold(String::with_capacity(32), |mut hex, byte| {
            // Writing to a String cannot fail.
            let _ = write!(hex, "{byte:02x}");
            hex
        });
    let part = |range: std::ops::Range<usize>| hex.get(range).unwrap_or_default().to_owned();
    format!(
        "{prefix}-{}-{}-{}-{}-{}",
        part(0..8),
        part(8..12),
        part(12..16),
        part(16..20),
        part(20..32)
    )
}

/// The leader epoch of `key` in `metadata` when `node_id` leads it.
fn led_epoch(metadata: &ClusterMetadata, key: PartitionKey, node_id: i32) -> Option<i32> {
    metadata
        .partition_or_single_node(key.topic_id, key.partition, node_id)
        .filter(|state| state.leader == node_id)
        .map(|state| state.leader_epoch)
}

/// Whether `node_id` leads `key` in `current` and did not lead it in another leader epoch in
/// `previous`: what a coordinator holds in memory for `key` stays valid.
fn leads_in_same_epoch(
    previous: &ClusterMetadata,
    current: &ClusterMetadata,
    key: PartitionKey,
    node_id: i32,
) -> bool {
    let Some(now) = led_epoch(current, key, node_id) else {
        return false;
    };
    led_epoch(previous, key, node_id).is_none_or(|before| before == now)
}

/// Whether `node_id` leads `key` in `current` and was elected since `previous` (`None`: at
/// start-up): it did not lead it in `previous`, or led it in another leader epoch. A
/// partition of a topic new since `previous` is left to its first request.
fn elected_here(
    previous: Option<&ClusterMetadata>,
    current: &ClusterMetadata,
    key: PartitionKey,
    node_id: i32,
) -> bool {
    let now = led_epoch(current, key, node_id);
    now.is_some()
        && previous.is_none_or(|previous| {
            previous.topic_by_id(key.topic_id).is_some() && led_epoch(previous, key, node_id) != now
        })
}

/// Replays every `__consumer_offsets` partition that shard `index` of `count` owns and this
/// broker (`node_id`) leads, and that is not loaded or loading yet, into `coordinator`: at
/// start-up (`previous` is `None`), and after a metadata snapshot for the partitions whose
/// leadership moved here since `previous` (as Kafka's coordinator loads on election; a
/// partition of a topic new since `previous` is left to its first request, which loads it).
/// A partition that cannot be read is left unloaded: its first request retries the replay.
pub async fn load_owned(
    coordinator: &Coordinator,
    metadata: &ClusterMetadata,
    previous: Option<&ClusterMetadata>,
    (index, count): (usize, usize),
    node_id: i32,
) {
    let logs = coordinator.logs();
    let Some(topic) = metadata.topic(OFFSETS_TOPIC) else {
        return;
    };
    for partition in 0..topic.partition_count {
        if shard_for(topic.topic_id, partition, count) != index {
            continue;
        }
        let key = PartitionKey {
            topic_id: topic.topic_id,
            partition,
        };
        // A follower's replica is served by the leader's coordinator.
        if !elected_here(previous, metadata, key, node_id) || !coordinator.begin_load(key) {
            continue;
        }
        match coordinator::load_partition(logs, key).await {
            Ok(mut loaded) => {
                loaded.forget_missing_topics(|name| metadata.topic(name).is_some());
                let _installed = coordinator.install(key, loaded);
            }
            // Not hosted here: the partition's replicas are on other brokers
            // (`cluster::partition_logs`), whose coordinators load it.
            Err(error) if error.kind() == StorageErrorKind::UnknownPartition => {
                coordinator.abandon_load(key);
                tracing::debug!(partition, "offsets partition not hosted here");
            }
            Err(error) => {
                coordinator.abandon_load(key);
                tracing::warn!(partition, %error, "offsets partition not loaded");
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use crate::cluster::MetadataRecord;
    use crate::cluster::metadata::PartitionState;
    use crate::protocol::Uuid;

    const OFFSETS_ID: Uuid = Uuid([4; 16]);
    const KEY: PartitionKey = PartitionKey {
        topic_id: OFFSETS_ID,
        partition: 0,
    };

    /// `__consumer_offsets` with one partition on brokers 1..=3, led by `leader` in `epoch`.
    fn led_by(leader: i32, epoch: i32) -> ClusterMetadata {
        let records = [
            MetadataRecord::TopicCreated {
                topic_id: OFFSETS_ID,
                name: OFFSETS_TOPIC.into(),
                partition_count: 1,
                configs: std::collections::BTreeMap::new(),
            },
            MetadataRecord::Partition {
                topic_id: OFFSETS_ID,
                partition: 0,
                state: PartitionState {
                    isr: vec![1, 2, 3],
                    leader,
                    leader_epoch: epoch,
                    ..PartitionState::placed(vec![1, 2, 3])
                },
            },
        ];
        ClusterMetadata::empty("c".into())
            .apply_all(&records)
            .unwrap()
    }

    #[test]
    fn a_coordinator_loads_when_elected_and_reloads_in_a_newer_epoch() {
        let (first, moved, back) = (led_by(1, 3), led_by(2, 4), led_by(1, 5));
        // Start-up, and an election here, load; a follower never does.
        assert!(elected_here(None, &first, KEY, 1));
        assert!(!elected_here(None, &first, KEY, 2));
        assert!(elected_here(Some(&first), &moved, KEY, 2));
        // The same leadership seen again loads nothing.
        assert!(!elected_here(Some(&first), &first, KEY, 1));
        // Led here again with the snapshot in between unseen (1 at 3, then 1 at 5): broker 2
        // may have written commits at epoch 4, so the memory of epoch 3 is dropped and the
        // partition replayed.
        assert!(elected_here(Some(&first), &back, KEY, 1));
        assert!(!leads_in_same_epoch(&first, &back, KEY, 1));
        assert!(leads_in_same_epoch(&first, &first, KEY, 1));
        // Leadership gone: dropped; newly led (was a follower): kept if it was loaded early.
        assert!(!leads_in_same_epoch(&first, &moved, KEY, 1));
        assert!(leads_in_same_epoch(&first, &moved, KEY, 2));
    }

    #[test]
    fn java_hash_matches_java() {
        // Values from Java: "".hashCode() = 0, "a" = 97, "hello" = 99162322,
        // "console-consumer-12345" wraps negative.
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("hello"), 99_162_322);
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        // Non-BMP characters count as two UTF-16 units, as in Java.
        assert_eq!(java_string_hash("😀"), 0xD83D * 31 + 0xDE00);
    }

    #[test]
    fn fresh_member_ids_have_kafkas_shape() {
        let id = fresh_member_id("rdkafka");
        let (prefix, uuid) = id.split_at("rdkafka-".len());
        assert_eq!(prefix, "rdkafka-");
        assert_eq!(uuid.len(), 36);
        assert_eq!(uuid.matches('-').count(), 4);
        assert_ne!(fresh_member_id("a"), fresh_member_id("a"));
    }

    #[test]
    fn partition_is_kafkas() {
        assert_eq!(coordinator_partition("hello", 50), 99_162_322 % 50);
        // Utils.abs(Integer.MIN_VALUE) is 0 in Kafka.
        assert_eq!(coordinator_partition("polygenelubricants", 50), 0);
        for group in ["g", "group-1", "my.consumer", "x".repeat(300).as_str()] {
            let partition = coordinator_partition(group, 7);
            assert!((0..7).contains(&partition));
        }
    }
}
