//! Replica placement for CreateTopics and CreatePartitions: which brokers hold each new
//! partition, and which of them is its preferred leader.
//!
//! Shape (Kafka's `StripedReplicaPlacer` is the reference; this is simpler and states its
//! guarantees):
//! 1. The unfenced brokers form a ring. With racks, the ring interleaves them: the first
//!    broker of each rack (racks by name), then the second of each, … — brokers without a rack
//!    form one rack of their own. Adjacent ring positions are then on different racks as long
//!    as racks have equal sizes.
//! 2. Starting at a random ring position (an input, so callers seed it and tests fix it), the
//!    partitions take consecutive windows of `replication_factor` positions: partition `i`
//!    gets positions `start + i·rf … start + i·rf + rf − 1`. A window never wraps onto itself
//!    (rf ≤ brokers), so no partition has two replicas on one broker; replicas are dealt out
//!    round-robin, so over one call every broker holds ⌊n·rf/b⌋ or ⌈n·rf/b⌉ of them
//!    (max − min ≤ 1), and with equal racks and rf ≤ racks a partition's replicas are on
//!    distinct racks.
//! 3. The preferred leader (first replica) is the window's position `o = ⌊i/p⌋ mod g`, where
//!    `g = gcd(rf, b)` and `p = b/g` is the period after which windows start where they began:
//!    within one period windows start at every `g`-th position, so shifting by one position per
//!    period gives every broker one leadership per `g` periods: leaders also differ by ≤ 1.
//!    The other replicas follow in ring order.
//!
//! The replication factor −1 means `default.replication.factor`; a factor below 1, above
//! `REPLICAS_PER_PARTITION_MAX` or above the unfenced brokers is INVALID_REPLICATION_FACTOR,
//! as in Kafka.
//!
//! Pure; runs on the active controller's shard 0.
use super::RecordBatch;
use crate::cluster::decisions;
use crate::cluster::metadata::{
    ClusterError, ClusterMetadata, MetadataError, MetadataRecord, PartitionState,
};
use crate::limits::{
    METADATA_RECORD_SIZE_MAX, PARTITIONS_PER_CLUSTER_MAX, REPLICAS_PER_PARTITION_MAX,
};
use crate::protocol::Uuid;
use std::collections::BTreeMap;

/// A broker placement may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacementBroker {
    pub node_id: i32,
    pub rack: Option<String>,
}

/// The replication factor a request means: −1 → `default_replication_factor`.
#[must_use]
pub fn resolve_replication_factor(requested: i16, default_replication_factor: i16) -> i16 {
    if requested == -1 {
        default_replication_factor
    } else {
        requested
    }
}

/// The brokers placement may use: the unfenced ones, by node id.
#[must_use]
pub fn usable_brokers(metadata: &ClusterMetadata) -> Vec<PlacementBroker> {
    metadata
        .unfenced_brokers()
        .map(|broker| PlacementBroker {
            node_id: broker.node_id,
            rack: broker.rack.clone(),
        })
        .collect()
}

/// Replica lists for `partition_count` new partitions, preferred leader first.
///
/// # Errors
/// `InvalidReplicationFactor` (see the module docs).
pub fn place(
    brokers: &[PlacementBroker],
    partition_count: usize,
    replication_factor: i16,
    random_start: u64,
) -> Result<Vec<Vec<i32>>, ClusterError> {
    let invalid = ClusterError::InvalidReplicationFactor {
        replication_factor: i32::from(replication_factor),
        brokers: brokers.len(),
    };
    let rf = usize::try_from(replication_factor).map_err(|_| invalid.clone())?;
    if rf == 0 || rf > REPLICAS_PER_PARTITION_MAX || rf > brokers.len() {
        return Err(invalid);
    }
    let ring = rack_interleaved(brokers);
    let size = ring.len();
    let start = usize::try_from(random_start % size as u64).unwrap_or(0);
    let group = gcd(rf, size);
    let period = size / group;
    let mut placed = Vec::with_capacity(partition_count);
    for index in 0..partition_count {
        let window = start + (index % period) * rf;
        let leader_offset = (index / period) % group;
        let replicas: Vec<i32> = (0..rf)
            .map(|k| ring[(window + (leader_offset + k) % rf) % size])
            .collect();
        assert_eq!(replicas.len(), rf);
        debug_assert!(
            replicas
                .iter()
                .enumerate()
                .all(|(at, node)| !replicas[..at].contains(node)),
            "two replicas on one broker: {replicas:?}"
        );
        placed.push(replicas);
    }
    Ok(placed)
}

/// The node ids in ring order (module docs, step 1).
fn rack_interleaved(brokers: &[PlacementBroker]) -> Vec<i32> {
    let mut racks: BTreeMap<Option<&str>, Vec<i32>> = BTreeMap::new();
    for broker in brokers {
        racks
            .entry(broker.rack.as_deref())
            .or_default()
            .push(broker.node_id);
    }
    for members in racks.values_mut() {
        members.sort_unstable();
    }
    let depth = racks.values().map(Vec::len).max().unwrap_or(0);
    let ring: Vec<i32> = (0..depth)
        .flat_map(|level| {
            racks
                .values()
                .filter_map(move |members| members.get(level).copied())
        })
        .collect();
    assert_eq!(ring.len(), brokers.len(), "every broker once on the ring");
    ring
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// A CreateTopics request with its replication factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedTopic {
    pub name: String,
    /// Drawn by the caller (a random v4 UUID).
    pub topic_id: Uuid,
    pub partition_count: i32,
    /// −1 for the default.
    pub replication_factor: i16,
    pub configs: BTreeMap<String, String>,
}

/// The records creating a topic with placed partitions: `TopicCreated`, then one `Partition`
/// per partition (all replicas in sync, the first leading, epochs 0).
///
/// # Errors
/// As `decisions::check_create_topic`, and `Cluster(InvalidReplicationFactor |
/// TooManyPartitions)`, `RecordTooLarge`.
pub fn create_topic(
    metadata: &ClusterMetadata,
    topic: &PlacedTopic,
    default_replication_factor: i16,
    random_start: u64,
) -> Result<Vec<MetadataRecord>, MetadataError> {
    decisions::check_create_topic(metadata, &topic.name, topic.partition_count, &topic.configs)?;
    let count = usize::try_from(topic.partition_count).unwrap_or(0);
    check_cluster_partitions(metadata, count)?;
    let rf = resolve_replication_factor(topic.replication_factor, default_replication_factor);
    let assignments = place(&usable_brokers(metadata), count, rf, random_start)?;
    let mut batch = RecordBatch::new(metadata);
    push_checked(
        &mut batch,
        MetadataRecord::TopicCreated {
            topic_id: topic.topic_id,
            name: topic.name.clone(),
            partition_count: topic.partition_count,
            configs: topic.configs.clone(),
        },
    )?;
    push_partitions(&mut batch, topic.topic_id, 0, assignments)?;
    Ok(batch.into_records())
}

/// The records growing a topic to `partition_count` partitions, placed with the replication
/// factor of its first partition. A topic whose partitions have no records yet (created by a
/// single-node broker) must be adopted first ([`adopt_single_node_partitions`]).
///
/// # Errors
/// As `decisions::check_partitions`, and `Cluster(UnknownPartition |
/// InvalidReplicationFactor | TooManyPartitions)`.
pub fn create_partitions(
    metadata: &ClusterMetadata,
    name: &str,
    partition_count: i32,
    random_start: u64,
) -> Result<Vec<MetadataRecord>, MetadataError> {
    decisions::check_partitions(metadata, name, partition_count)?;
    let topic = metadata
        .topic(name)
        .ok_or_else(|| MetadataError::UnknownTopic {
            name: name.to_owned(),
        })?;
    let topic_id = topic.topic_id;
    let current = topic.partition_count;
    let first = metadata
        .partition(topic_id, 0)
        .ok_or(ClusterError::UnknownPartition {
            topic_id,
            partition: 0,
        })?;
    let rf = i16::try_from(first.replicas.len()).unwrap_or(i16::MAX);
    let added = usize::try_from(partition_count - current).unwrap_or(0);
    check_cluster_partitions(metadata, added)?;
    let assignments = place(&usable_brokers(metadata), added, rf, random_start)?;
    let mut batch = RecordBatch::new(metadata);
    push_checked(
        &mut batch,
        MetadataRecord::PartitionsAdded {
            topic_id,
            partition_count,
        },
    )?;
    push_partitions(&mut batch, topic_id, current, assignments)?;
    Ok(batch.into_records())
}

/// `Partition` records giving every unrecorded partition of every topic the single-node
/// default with `node_id`: the first decision of a cluster controller on a data dir written
/// by a single-node broker, so later changes have a recorded state to change.
///
/// # Errors
/// `Cluster(TooManyPartitions)`.
pub fn adopt_single_node_partitions(
    metadata: &ClusterMetadata,
    node_id: i32,
) -> Result<Vec<MetadataRecord>, MetadataError> {
    let mut batch = RecordBatch::new(metadata);
    for topic in metadata.topics.values() {
        let recorded = metadata.recorded_partitions(topic.topic_id).len();
        let first = i32::try_from(recorded).unwrap_or(i32::MAX);
        let missing = (first..topic.partition_count)
            .map(|_| vec![node_id])
            .collect();
        push_partitions(&mut batch, topic.topic_id, first, missing)?;
    }
    Ok(batch.into_records())
}

fn push_partitions(
    batch: &mut RecordBatch,
    topic_id: Uuid,
    first: i32,
    assignments: Vec<Vec<i32>>,
) -> Result<(), MetadataError> {
    for (partition, replicas) in (first..).zip(assignments) {
        let state = PartitionState::placed(replicas);
        push_checked(
            batch,
            MetadataRecord::Partition {
                topic_id,
                partition,
                state,
            },
        )?;
    }
    Ok(())
}

fn push_checked(batch: &mut RecordBatch, record: MetadataRecord) -> Result<(), MetadataError> {
    let size = record.encoded_size();
    if size > METADATA_RECORD_SIZE_MAX {
        return Err(MetadataError::RecordTooLarge {
            size,
            size_max: METADATA_RECORD_SIZE_MAX,
        });
    }
    batch.push(record)
}

fn check_cluster_partitions(metadata: &ClusterMetadata, added: usize) -> Result<(), ClusterError> {
    if metadata.recorded_partition_count() + added > PARTITIONS_PER_CLUSTER_MAX {
        return Err(ClusterError::TooManyPartitions {
            count_max: PARTITIONS_PER_CLUSTER_MAX,
        });
    }
    Ok(())
}
