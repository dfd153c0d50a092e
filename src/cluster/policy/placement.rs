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
//! as in Kafka. Manual assignments (CreateTopics' `assignments`, CreatePartitions') are checked
//! with Kafka's rules and messages (INVALID_REPLICA_ASSIGNMENT) and led by their first active
//! replica. When no broker is registered at all (a single node before its registration lands),
//! the controller's own node is the one broker.
//!
//! A new partition's ISR is every assigned replica that is live (Kafka's
//! `ReplicationControlManager.createTopic`): an empty partition is in sync everywhere. Automatic
//! placement uses live brokers only, so there the ISR is the whole assignment; a manual one may
//! name a fenced broker, which stays out of the ISR until its leader proposes it (AlterPartition).
//! The leader is the first ISR member in assignment order ([`initial_state`]).
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

/// A CreateTopics request with its replication factor or manual assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedTopic {
    pub name: String,
    /// Drawn by the caller (a random v4 UUID).
    pub topic_id: Uuid,
    pub partition_count: i32,
    /// −1 for the default.
    pub replication_factor: i16,
    /// Manual replica lists by partition index (CreateTopics' `assignments`); empty for
    /// automatic placement. With them, `replication_factor` is −1 and `partition_count` their
    /// number (INVALID_REQUEST otherwise, as Kafka).
    pub assignments: Vec<Vec<i32>>,
    pub configs: BTreeMap<String, String>,
}

/// The records creating a topic with placed partitions: `TopicCreated`, then one `Partition`
/// per partition (ISR = the live replicas, epochs 0: see [`initial_state`]). With no broker
/// registered, `stand_in` (the controller's node) is the one broker ([`placement_brokers`]).
///
/// # Errors
/// As `decisions::check_create_topic`, and `Cluster(InvalidReplicationFactor |
/// InvalidReplicaAssignment | InvalidPlacementRequest | TooManyPartitions)`, `RecordTooLarge`.
pub fn create_topic(
    metadata: &ClusterMetadata,
    topic: &PlacedTopic,
    default_replication_factor: i16,
    random_start: u64,
    stand_in: Option<i32>,
) -> Result<Vec<MetadataRecord>, MetadataError> {
    check_manual_request(topic)?;
    decisions::check_create_topic(metadata, &topic.name, topic.partition_count, &topic.configs)?;
    let count = usize::try_from(topic.partition_count).unwrap_or(0);
    check_cluster_partitions(metadata, count)?;
    let states = if topic.assignments.is_empty() {
        let rf = resolve_replication_factor(topic.replication_factor, default_replication_factor);
        let brokers = placement_brokers(metadata, stand_in);
        automatic_states(place(&brokers, count, rf, random_start)?)
    } else {
        manual_states(metadata, &topic.assignments, 0, None, stand_in)?
    };
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
    push_partitions(&mut batch, topic.topic_id, 0, states)?;
    Ok(batch.into_records())
}

/// A manual assignment comes with replication factor −1 and one list per partition (Kafka's
/// messages; the handler checks the request the same way first).
fn check_manual_request(topic: &PlacedTopic) -> Result<(), ClusterError> {
    if topic.assignments.is_empty() {
        return Ok(());
    }
    let refuse = |what: &str| ClusterError::InvalidPlacementRequest {
        reason: format!(
            "A manual partition assignment was specified, but {what} was not set to -1."
        ),
    };
    if topic.replication_factor != -1 {
        return Err(refuse("replication factor"));
    }
    if usize::try_from(topic.partition_count).ok() != Some(topic.assignments.len()) {
        return Err(refuse("numPartitions"));
    }
    Ok(())
}

/// The records growing a topic to `partition_count` partitions: placed with the replication
/// factor of its first partition, or as `assignments` (one list per new partition) when given.
/// Partitions of the topic that have no record yet (created by a single-node broker) are
/// recorded first with the single-node default on `stand_in` (the controller's node), in the
/// same batch; without a stand-in such a topic cannot grow (`UnknownPartition`).
///
/// # Errors
/// As `decisions::check_partitions`, and `Cluster(InvalidReplicationFactor |
/// InvalidReplicaAssignment | TooManyPartitions)`, `RecordTooLarge`.
pub fn create_partitions(
    metadata: &ClusterMetadata,
    grow: &GrowTopic,
    random_start: u64,
    stand_in: Option<i32>,
) -> Result<Vec<MetadataRecord>, MetadataError> {
    decisions::check_partitions(metadata, &grow.name, grow.partition_count)?;
    let topic = metadata
        .topic(&grow.name)
        .ok_or_else(|| MetadataError::UnknownTopic {
            name: grow.name.clone(),
        })?;
    let topic_id = topic.topic_id;
    let current = topic.partition_count;
    let mut batch = RecordBatch::new(metadata);
    if let Some(node_id) = stand_in {
        adopt_topic(&mut batch, topic_id, current, node_id)?;
    }
    let first = batch
        .state()
        .partition(topic_id, 0)
        .ok_or(ClusterError::UnknownPartition {
            topic_id,
            partition: 0,
        })?;
    let rf = first.replicas.len();
    let added = usize::try_from(grow.partition_count - current).unwrap_or(0);
    check_cluster_partitions(batch.state(), added)?;
    let states = if grow.assignments.is_empty() {
        let rf = i16::try_from(rf).unwrap_or(i16::MAX);
        let brokers = placement_brokers(metadata, stand_in);
        automatic_states(place(&brokers, added, rf, random_start)?)
    } else {
        if grow.assignments.len() != added {
            return Err(ClusterError::InvalidReplicaAssignment {
                reason: format!(
                    "Attempted to add {added} additional partition(s), but only {} \
                     assignment(s) were specified.",
                    grow.assignments.len()
                ),
            }
            .into());
        }
        manual_states(metadata, &grow.assignments, current, Some(rf), stand_in)?
    };
    push_checked(
        &mut batch,
        MetadataRecord::PartitionsAdded {
            topic_id,
            partition_count: grow.partition_count,
        },
    )?;
    push_partitions(&mut batch, topic_id, current, states)?;
    Ok(batch.into_records())
}

/// A CreatePartitions request: the new total and optional manual lists for the new partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrowTopic {
    pub name: String,
    pub partition_count: i32,
    /// One replica list per new partition, or empty for automatic placement.
    pub assignments: Vec<Vec<i32>>,
}

/// The brokers placement may use: [`usable_brokers`]; when no broker is registered at all (a
/// single node before its registration lands), `stand_in` (the controller's node) alone.
#[must_use]
pub fn placement_brokers(
    metadata: &ClusterMetadata,
    stand_in: Option<i32>,
) -> Vec<PlacementBroker> {
    match single_node(metadata, stand_in) {
        Some(node_id) => vec![PlacementBroker {
            node_id,
            rack: None,
        }],
        None => usable_brokers(metadata),
    }
}

/// The stand-in, when no broker is registered.
fn single_node(metadata: &ClusterMetadata, stand_in: Option<i32>) -> Option<i32> {
    stand_in.filter(|_| metadata.brokers().next().is_none())
}

/// The first state of a new partition: `replicas` as placed, the ISR those of them `is_live`
/// says are live (in assignment order), the first of them leading, epochs 0. An empty
/// partition holds the same (no) records on every replica, so every live one is in sync.
/// `None` when no replica is live.
#[must_use]
pub fn initial_state(replicas: Vec<i32>, is_live: impl Fn(i32) -> bool) -> Option<PartitionState> {
    let isr: Vec<i32> = replicas
        .iter()
        .copied()
        .filter(|node| is_live(*node))
        .collect();
    let leader = *isr.first()?;
    Some(PartitionState {
        replicas,
        isr,
        elr: Vec::new(),
        adding: Vec::new(),
        removing: Vec::new(),
        leader,
        leader_epoch: 0,
        partition_epoch: 0,
    })
}

/// Automatic placement uses live brokers only: every replica is in the ISR.
fn automatic_states(placed: Vec<Vec<i32>>) -> Vec<PartitionState> {
    placed
        .into_iter()
        .filter_map(|replicas| initial_state(replicas, |_| true))
        .collect()
}

/// Manual replica lists checked as Kafka's `validateManualPartitionAssignment` (with its
/// messages), each with its active replicas in the ISR, led by the first of them. `expected`
/// is the replica count every list must have (CreatePartitions: the topic's; CreateTopics:
/// the first list's).
///
/// # Errors
/// `InvalidReplicaAssignment`.
pub fn manual_states(
    metadata: &ClusterMetadata,
    assignments: &[Vec<i32>],
    first_partition: i32,
    mut expected: Option<usize>,
    stand_in: Option<i32>,
) -> Result<Vec<PartitionState>, ClusterError> {
    let single = single_node(metadata, stand_in);
    let registered = |node: i32| match single {
        Some(single) => node == single,
        None => metadata.broker(node).is_some(),
    };
    let active = |node: i32| match single {
        Some(single) => node == single,
        None => metadata.broker(node).is_some_and(|broker| !broker.fenced),
    };
    let mut states = Vec::with_capacity(assignments.len());
    for (partition, replicas) in (first_partition..).zip(assignments) {
        check_replica_list(replicas, expected, registered)?;
        expected = Some(replicas.len());
        let state = initial_state(replicas.clone(), active).ok_or_else(|| {
            ClusterError::InvalidReplicaAssignment {
                reason: format!(
                    "All brokers specified in the manual partition assignment for partition \
                     {partition} are fenced or in controlled shutdown."
                ),
            }
        })?;
        states.push(state);
    }
    Ok(states)
}

fn check_replica_list(
    replicas: &[i32],
    expected: Option<usize>,
    registered: impl Fn(i32) -> bool,
) -> Result<(), ClusterError> {
    let invalid = |reason: String| ClusterError::InvalidReplicaAssignment { reason };
    if replicas.is_empty() {
        return Err(invalid(
            "The manual partition assignment includes an empty replica list.".to_owned(),
        ));
    }
    let mut sorted = replicas.to_vec();
    sorted.sort_unstable();
    for (at, node) in sorted.iter().enumerate() {
        if !registered(*node) {
            return Err(invalid(format!(
                "The manual partition assignment includes broker {node}, but no such broker \
                 is registered."
            )));
        }
        if at > 0 && sorted.get(at - 1) == Some(node) {
            return Err(invalid(format!(
                "The manual partition assignment includes the broker {node} more than once."
            )));
        }
    }
    if let Some(expected) = expected.filter(|expected| *expected != replicas.len()) {
        return Err(invalid(format!(
            "The manual partition assignment includes a partition with {} replica(s), but \
             this is not consistent with previous partitions, which have {expected} \
             replica(s).",
            replicas.len()
        )));
    }
    if replicas.len() > REPLICAS_PER_PARTITION_MAX {
        return Err(invalid(format!(
            "The manual partition assignment includes a partition with {} replicas; at most \
             {REPLICAS_PER_PARTITION_MAX} are supported.",
            replicas.len()
        )));
    }
    Ok(())
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
        adopt_topic(&mut batch, topic.topic_id, topic.partition_count, node_id)?;
    }
    Ok(batch.into_records())
}

/// Records the single-node default on `node_id` for the topic's partitions below `count` that
/// have no record.
fn adopt_topic(
    batch: &mut RecordBatch,
    topic_id: Uuid,
    count: i32,
    node_id: i32,
) -> Result<(), MetadataError> {
    let recorded = batch.state().recorded_partitions(topic_id).len();
    let first = i32::try_from(recorded).unwrap_or(i32::MAX);
    let missing = (first..count)
        .map(|_| PartitionState::single_node(node_id))
        .collect();
    push_partitions(batch, topic_id, first, missing)
}

fn push_partitions(
    batch: &mut RecordBatch,
    topic_id: Uuid,
    first: i32,
    states: Vec<PartitionState>,
) -> Result<(), MetadataError> {
    for (partition, state) in (first..).zip(states) {
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
            assignments: Vec::new(),
            configs: BTreeMap::new(),
        };
        let records = create_topic(&metadata, &topic, 2, 7, None).unwrap();
        assert_eq!(records.len(), 4);
        metadata = metadata.apply_all(&records).unwrap();
        let partition = metadata.partition(topic.topic_id, 2).unwrap();
        assert_eq!(partition.replicas.len(), 2, "the default factor");
        assert_eq!(
            (partition.leader, partition.isr.clone()),
            (partition.replicas[0], partition.replicas.clone()),
            "ISR = every (live) replica at creation"
        );
        let too_many = PlacedTopic {
            name: "wide".into(),
            replication_factor: 4,
            ..topic.clone()
        };
        assert!(matches!(
            create_topic(&metadata, &too_many, 1, 0, None),
            Err(MetadataError::Cluster(
                ClusterError::InvalidReplicationFactor { .. }
            ))
        ));
        let grow = GrowTopic {
            name: "orders".into(),
            partition_count: 5,
            assignments: Vec::new(),
        };
        let records = create_partitions(&metadata, &grow, 0, None).unwrap();
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
        let grow = GrowTopic {
            name: "old".into(),
            partition_count: 3,
            assignments: Vec::new(),
        };
        assert!(
            create_partitions(&metadata, &grow, 0, None).is_err(),
            "no stand-in"
        );
        // Nothing registered: the controller's node holds the adopted and the new partitions.
        let grown = metadata
            .apply_all(&create_partitions(&metadata, &grow, 0, Some(4)).unwrap())
            .unwrap();
        assert_eq!(grown.recorded_partitions(Uuid([5; 16])).len(), 3);
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
