//! Property tests over random sequences of registrations, heartbeats, time advances, session
//! expiries, topic creations and producer-id allocations, checking after every step what must
//! never happen: a leader outside the ISR or fenced, an epoch going back, a second incarnation
//! registered while the first is alive; and at the end that replaying the records (whole, or
//! as snapshot + tail) gives the same state.
use super::election::ElectionPolicy;
use super::lifecycle::{BrokerSessions, Heartbeat, RegistrationRequest};
use super::placement::{self, PlacedTopic};
use super::producer_id_blocks;
use crate::cluster::metadata::{
    ClusterMetadata, Listener, MetadataError, MetadataRecord, NO_LEADER, PartitionState,
};
use crate::protocol::Uuid;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_millis(3000);

#[derive(Debug, Clone)]
enum Op {
    Register {
        node_id: i32,
        incarnation: u8,
        shard_count: i32,
    },
    Heartbeat {
        node_id: i32,
        behind: bool,
        wants_fence: bool,
        wants_shutdown: bool,
    },
    Advance {
        millis: u64,
    },
    Expire,
    CreateTopic {
        partition_count: i32,
        replication_factor: i16,
        random_start: u64,
    },
    CreatePartitions {
        topic_index: usize,
        added: i32,
        random_start: u64,
    },
    AllocateProducerIds {
        node_id: i32,
        size: i32,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let node = 1i32..5;
    prop_oneof![
        2 => (node.clone(), 0u8..3, prop_oneof![4 => Just(2), 1 => Just(3)]).prop_map(
            |(node_id, incarnation, shard_count)| Op::Register { node_id, incarnation, shard_count }
        ),
        6 => (node.clone(), any::<bool>(), prop::bool::weighted(0.1), prop::bool::weighted(0.1))
            .prop_map(|(node_id, behind, wants_fence, wants_shutdown)| Op::Heartbeat {
                node_id, behind, wants_fence, wants_shutdown,
            }),
        3 => (0u64..2500).prop_map(|millis| Op::Advance { millis }),
        2 => Just(Op::Expire),
        2 => (1i32..6, -1i16..4, any::<u64>()).prop_map(
            |(partition_count, replication_factor, random_start)| Op::CreateTopic {
                partition_count, replication_factor, random_start,
            }
        ),
        1 => (0usize..4, 1i32..3, any::<u64>()).prop_map(|(topic_index, added, random_start)| {
            Op::CreatePartitions { topic_index, added, random_start }
        }),
        1 => (node, 1i32..2000)
            .prop_map(|(node_id, size)| Op::AllocateProducerIds { node_id, size }),
    ]
}

/// The model the checks compare against, kept independently of `BrokerSessions`.
struct Sim {
    metadata: ClusterMetadata,
    sessions: BrokerSessions,
    log: Vec<MetadataRecord>,
    now: Duration,
    /// When each node's registered incarnation was last heard from (register or heartbeat).
    last_heard: BTreeMap<i32, Duration>,
    topics_created: u8,
}

impl Sim {
    fn new() -> Self {
        let policy = ElectionPolicy {
            min_insync_replicas: 2,
            unclean_allowed: false,
        };
        Self {
            metadata: ClusterMetadata::empty("sim".into()),
            sessions: BrokerSessions::new(TIMEOUT, policy),
            log: Vec::new(),
            now: Duration::ZERO,
            last_heard: BTreeMap::new(),
            topics_created: 0,
        }
    }

    /// Applies a decision's records: every record the policy makes must apply.
    fn accept(&mut self, records: Vec<MetadataRecord>) {
        let next = self.metadata.apply_all(&records);
        let next = next.unwrap_or_else(|error| panic!("decided records refused: {error}"));
        check_step(&self.metadata, &next);
        self.metadata = next;
        self.log.extend(records);
    }

    fn alive(&self, node_id: i32) -> bool {
        let unfenced = self
            .metadata
            .broker(node_id)
            .is_some_and(|broker| !broker.fenced);
        let heard = self.last_heard.get(&node_id);
        unfenced && heard.is_some_and(|at| self.now.saturating_sub(*at) <= TIMEOUT)
    }

    fn run(&mut self, op: Op) {
        match op {
            Op::Register {
                node_id,
                incarnation,
                shard_count,
            } => {
                self.register(node_id, incarnation, shard_count);
            }
            Op::Heartbeat {
                node_id,
                behind,
                wants_fence,
                wants_shutdown,
            } => {
                let Some(broker) = self.metadata.broker(node_id) else {
                    return;
                };
                let heartbeat = Heartbeat {
                    node_id,
                    broker_epoch: broker.broker_epoch,
                    applied_offset: if behind { 0 } else { self.metadata.version },
                    wants_fence,
                    wants_shutdown,
                };
                let decided = self.sessions.heartbeat(&self.metadata, heartbeat, self.now);
                let decided = decided.expect("a heartbeat of the registered epoch is accepted");
                self.last_heard.insert(node_id, self.now);
                self.accept(decided.records);
            }
            Op::Advance { millis } => self.now += Duration::from_millis(millis),
            Op::Expire => {
                let records = self.sessions.expire(&self.metadata, self.now).unwrap();
                self.accept(records);
            }
            Op::CreateTopic {
                partition_count,
                replication_factor,
                random_start,
            } => {
                self.create_topic(partition_count, replication_factor, random_start);
            }
            Op::CreatePartitions {
                topic_index,
                added,
                random_start,
            } => {
                let Some(topic) = self.metadata.topics.values().nth(topic_index) else {
                    return;
                };
                let grow = placement::GrowTopic {
                    name: topic.name.clone(),
                    partition_count: topic.partition_count + added,
                    assignments: Vec::new(),
                };
                if let Ok(records) =
                    placement::create_partitions(&self.metadata, &grow, random_start, None)
                {
                    self.accept(records);
                }
            }
            Op::AllocateProducerIds { node_id, size } => {
                let Some(broker) = self.metadata.broker(node_id) else {
                    return;
                };
                let epoch = broker.broker_epoch;
                let record = producer_id_blocks::allocate(&self.metadata, node_id, epoch, size);
                self.accept(vec![record.unwrap()]);
            }
        }
    }

    fn register(&mut self, node_id: i32, incarnation: u8, shard_count: i32) {
        let request = RegistrationRequest {
            cluster_id: "sim".into(),
            node_id,
            incarnation: Uuid([incarnation; 16]),
            listeners: vec![Listener {
                name: "CLIENT".into(),
                host: "h".into(),
                port: 1,
            }],
            shard_count,
            rack: None,
            previous_broker_epoch: None,
        };
        let existing = self
            .metadata
            .broker(node_id)
            .map(|broker| broker.incarnation);
        let was_alive = self.alive(node_id);
        let other_counts = self
            .metadata
            .brokers()
            .any(|broker| broker.node_id != node_id && broker.shard_count != shard_count);
        match self.sessions.register(&self.metadata, request, self.now) {
            Ok(decided) => {
                let replaced_other = existing.is_some_and(|old| old != Uuid([incarnation; 16]));
                assert!(
                    !(replaced_other && was_alive),
                    "node {node_id}: a second incarnation registered while the first is alive"
                );
                assert!(
                    !other_counts,
                    "a broker with another shard count registered"
                );
                self.last_heard.insert(node_id, self.now);
                self.accept(decided.records);
                assert_eq!(self.metadata.broker(node_id).map(|b| b.fenced), Some(true));
            }
            Err(MetadataError::Cluster(error)) => {
                let expected_refusal =
                    other_counts || (was_alive && existing != Some(Uuid([incarnation; 16])));
                assert!(expected_refusal, "refused without reason: {error}");
            }
            Err(other) => panic!("unexpected refusal {other}"),
        }
    }

    fn create_topic(&mut self, partition_count: i32, replication_factor: i16, random_start: u64) {
        self.topics_created += 1;
        let topic = PlacedTopic {
            name: format!("t{}", self.topics_created),
            topic_id: Uuid([self.topics_created; 16]),
            partition_count,
            replication_factor,
            assignments: Vec::new(),
            configs: BTreeMap::new(),
        };
        let unfenced = self.metadata.unfenced_brokers().count();
        match placement::create_topic(&self.metadata, &topic, 1, random_start, None) {
            Ok(records) => self.accept(records),
            Err(error) => {
                let rf = placement::resolve_replication_factor(replication_factor, 1);
                let wanted = usize::try_from(rf).unwrap_or(0);
                assert!(
                    wanted == 0 || wanted > unfenced,
                    "refused {error} with {unfenced}"
                );
            }
        }
    }
}

/// What must hold between two consecutive states.
fn check_step(before: &ClusterMetadata, after: &ClusterMetadata) {
    after.check_invariants();
    for (topic_id, index, partition) in after.all_partitions() {
        assert_partition_sane(after, partition);
        let Some(old) = before.partition(topic_id, index) else {
            continue;
        };
        assert!(
            partition.partition_epoch >= old.partition_epoch,
            "partition epoch went back"
        );
        assert!(
            partition.leader_epoch >= old.leader_epoch,
            "leader epoch went back"
        );
        if partition.leader != old.leader {
            assert!(
                partition.leader_epoch > old.leader_epoch,
                "new leader, same epoch"
            );
        }
    }
    for broker in before.brokers() {
        if let Some(now) = after.broker(broker.node_id) {
            assert!(
                now.broker_epoch >= broker.broker_epoch,
                "broker epoch went back"
            );
        }
    }
}

fn assert_partition_sane(metadata: &ClusterMetadata, partition: &PartitionState) {
    if partition.leader != NO_LEADER {
        assert!(
            partition.isr.contains(&partition.leader),
            "leader outside the ISR"
        );
        let broker = metadata.broker(partition.leader);
        assert!(
            broker.is_some_and(|b| !b.fenced),
            "fenced leader {partition:?}"
        );
    }
    for member in &partition.isr {
        assert!(
            partition.replicas.contains(member),
            "ISR member not a replica"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_lifecycles_keep_the_invariants_and_replay(
        ops in proptest::collection::vec(op(), 0..120),
        split in any::<prop::sample::Index>(),
    ) {
        let mut sim = Sim::new();
        for op in ops {
            sim.run(op);
        }
        let replayed = ClusterMetadata::empty("sim".into()).apply_all(&sim.log).unwrap();
        prop_assert_eq!(&replayed, &sim.metadata);
        let at = split.index(sim.log.len() + 1);
        let head = ClusterMetadata::empty("sim".into()).apply_all(&sim.log[..at]).unwrap();
        let restored =
            ClusterMetadata::restore("sim".into(), head.version, &head.snapshot_records()).unwrap();
        prop_assert_eq!(&restored, &head);
        prop_assert_eq!(restored.apply_all(&sim.log[at..]).unwrap(), replayed);
    }
}
