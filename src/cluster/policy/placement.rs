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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn brokers(racks: &[Option<&str>]) -> Vec<PlacementBroker> {
        (1..)
            .zip(racks)
            .map(|(node_id, rack)| PlacementBroker {
                node_id,
                rack: rack.map(str::to_owned),
            })
            .collect()
    }

    fn counts(placed: &[Vec<i32>], leaders_only: bool) -> BTreeMap<i32, usize> {
        let mut counts = BTreeMap::new();
        for replicas in placed {
            let taken = if leaders_only {
                &replicas[..1]
            } else {
                &replicas[..]
            };
            for node in taken {
                *counts.entry(*node).or_insert(0) += 1;
            }
        }
        counts
    }

    #[test]
    fn fixed_vectors() {
        let four = brokers(&[None; 4]);
        // Windows of two from position 1; leaders shift by one each period of two windows.
        assert_eq!(
            place(&four, 4, 2, 1).unwrap(),
            vec![vec![2, 3], vec![4, 1], vec![3, 2], vec![1, 4]]
        );
        let three = brokers(&[None; 3]);
        assert_eq!(
            place(&three, 3, 3, 0).unwrap(),
            vec![vec![1, 2, 3], vec![2, 3, 1], vec![3, 1, 2]]
        );
        // Racks a: 1, 3; b: 2, 4 → ring 1 2 3 4 alternates racks.
        let racked = brokers(&[Some("a"), Some("b"), Some("a"), Some("b")]);
        assert_eq!(rack_interleaved(&racked), vec![1, 2, 3, 4]);
        let racked = brokers(&[Some("a"), Some("a"), Some("b"), Some("b")]);
        assert_eq!(rack_interleaved(&racked), vec![1, 3, 2, 4]);
    }

    #[test]
    fn replication_factor_rules() {
        assert_eq!(resolve_replication_factor(-1, 3), 3);
        assert_eq!(resolve_replication_factor(2, 3), 2);
        let two = brokers(&[None; 2]);
        for bad in [0, -1, 3, i16::MAX] {
            assert!(
                matches!(
                    place(&two, 1, bad, 0),
                    Err(ClusterError::InvalidReplicationFactor { brokers: 2, .. })
                ),
                "{bad}"
            );
        }
        assert!(place(&[], 1, 1, 0).is_err());
    }

    #[test]
    fn topics_get_placed_partitions_and_grow() {
        use crate::cluster::metadata::BrokerRegistration;
        let mut metadata = ClusterMetadata::empty("c".into());
        for node_id in 1..=3 {
            let broker_epoch = i64::try_from(metadata.version).unwrap();
            let registration = BrokerRegistration {
                node_id,
                incarnation: Uuid([1; 16]),
                broker_epoch,
                listeners: Vec::new(),
                shard_count: 1,
                rack: None,
                fenced: true,
            };
            let records = [
                MetadataRecord::RegisterBroker(registration),
                MetadataRecord::UnfenceBroker {
                    node_id,
                    broker_epoch,
                },
            ];
            metadata = metadata.apply_all(&records).unwrap();
        }
        let topic = PlacedTopic {
            name: "orders".into(),
            topic_id: Uuid([5; 16]),
            partition_count: 3,
            replication_factor: -1,
            configs: BTreeMap::new(),
        };
        let records = create_topic(&metadata, &topic, 2, 7).unwrap();
        assert_eq!(records.len(), 4);
        metadata = metadata.apply_all(&records).unwrap();
        let partition = metadata.partition(topic.topic_id, 2).unwrap();
        assert_eq!(partition.replicas.len(), 2, "the default factor");
        assert_eq!(
            (partition.leader, partition.isr.clone()),
            (partition.replicas[0], partition.replicas.clone())
        );
        let too_many = PlacedTopic {
            name: "wide".into(),
            replication_factor: 4,
            ..topic.clone()
        };
        assert!(matches!(
            create_topic(&metadata, &too_many, 1, 0),
            Err(MetadataError::Cluster(
                ClusterError::InvalidReplicationFactor { .. }
            ))
        ));
        let records = create_partitions(&metadata, "orders", 5, 0).unwrap();
        metadata = metadata.apply_all(&records).unwrap();
        assert_eq!(metadata.recorded_partitions(topic.topic_id).len(), 5);
        assert_eq!(
            metadata
                .partition(topic.topic_id, 4)
                .unwrap()
                .replicas
                .len(),
            2
        );
    }

    #[test]
    fn single_node_partitions_are_adopted_before_growing() {
        let metadata = ClusterMetadata::empty("c".into());
        let created = MetadataRecord::TopicCreated {
            topic_id: Uuid([5; 16]),
            name: "old".into(),
            partition_count: 2,
            configs: BTreeMap::new(),
        };
        let metadata = metadata.apply(&created).unwrap();
        assert!(create_partitions(&metadata, "old", 3, 0).is_err());
        let records = adopt_single_node_partitions(&metadata, 4).unwrap();
        assert_eq!(records.len(), 2);
        let metadata = metadata.apply_all(&records).unwrap();
        let partition = metadata.partition(Uuid([5; 16]), 1).unwrap();
        assert_eq!(partition, &PartitionState::single_node(4));
        assert!(
            adopt_single_node_partitions(&metadata, 4)
                .unwrap()
                .is_empty()
        );
    }

    proptest! {
        #[test]
        fn replicas_and_leaders_spread_evenly_and_never_twice_on_a_broker(
            broker_count in 1usize..12,
            partition_count in 0usize..60,
            rf_pick in 1usize..12,
            random_start in any::<u64>(),
        ) {
            let rf = 1 + (rf_pick - 1) % broker_count;
            let rf = i16::try_from(rf.min(REPLICAS_PER_PARTITION_MAX)).unwrap();
            let all = brokers(&vec![None; broker_count]);
            let placed = place(&all, partition_count, rf, random_start).unwrap();
            prop_assert_eq!(placed.len(), partition_count);
            for replicas in &placed {
                let mut sorted = replicas.clone();
                sorted.sort_unstable();
                sorted.dedup();
                prop_assert_eq!(sorted.len(), replicas.len(), "{:?}", replicas);
            }
            for leaders_only in [false, true] {
                let counts = counts(&placed, leaders_only);
                let used = i32::try_from(broker_count).unwrap();
                let per_broker: Vec<usize> =
                    (1..=used).map(|node| counts.get(&node).copied().unwrap_or(0)).collect();
                let max = per_broker.iter().max().copied().unwrap_or(0);
                let min = per_broker.iter().min().copied().unwrap_or(0);
                prop_assert!(max - min <= 1, "leaders only {}: {:?}", leaders_only, per_broker);
            }
        }

        #[test]
        fn equal_racks_keep_each_partition_on_distinct_racks(
            rack_count in 1usize..5,
            per_rack in 1usize..4,
            partition_count in 1usize..30,
            random_start in any::<u64>(),
        ) {
            let names = ["a", "b", "c", "d"];
            let racks: Vec<Option<&str>> = (0..rack_count * per_rack)
                .map(|index| Some(names[index % rack_count]))
                .collect();
            let all = brokers(&racks);
            let rf = i16::try_from(rack_count).unwrap();
            let placed = place(&all, partition_count, rf, random_start).unwrap();
            for replicas in placed {
                let mut on: Vec<&str> = replicas
                    .iter()
                    .map(|node| racks[usize::try_from(*node - 1).unwrap()].unwrap())
                    .collect();
                on.sort_unstable();
                on.dedup();
                prop_assert_eq!(on.len(), rack_count, "{:?}", replicas);
            }
        }
    }
}
