//! Tests of broker registration, heartbeats, fencing, controlled shutdown and unregistration.
use super::*;
use crate::cluster::metadata::NO_LEADER;
use crate::cluster::policy::placement::{self, PlacedTopic};

const TIMEOUT: Duration = Duration::from_secs(3);

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

fn request(node_id: i32, incarnation: u8, shard_count: i32) -> RegistrationRequest {
    RegistrationRequest {
        cluster_id: "c".into(),
        node_id,
        incarnation: Uuid([incarnation; 16]),
        listeners: vec![Listener {
            name: "CLIENT".into(),
            host: "127.0.0.1".into(),
            port: 9092,
        }],
        shard_count,
        rack: None,
        previous_broker_epoch: None,
    }
}

fn heartbeat(metadata: &ClusterMetadata, node_id: i32) -> Heartbeat {
    Heartbeat {
        node_id,
        broker_epoch: metadata.broker(node_id).unwrap().broker_epoch,
        applied_offset: metadata.version,
        wants_fence: false,
        wants_shutdown: false,
    }
}

struct Cluster {
    metadata: ClusterMetadata,
    sessions: BrokerSessions,
}

impl Cluster {
    fn new() -> Self {
        Self {
            metadata: ClusterMetadata::empty("c".into()),
            sessions: BrokerSessions::new(TIMEOUT, ElectionPolicy::default()),
        }
    }

    fn apply(&mut self, records: &[MetadataRecord]) {
        self.metadata = self.metadata.apply_all(records).unwrap();
    }

    fn register(&mut self, node_id: i32, incarnation: u8, now: Duration) -> i64 {
        let decided = self
            .sessions
            .register(&self.metadata, request(node_id, incarnation, 2), now)
            .unwrap();
        self.apply(&decided.records);
        decided.outcome
    }

    fn beat(&mut self, hb: Heartbeat, now: Duration) -> HeartbeatReply {
        let decided = self.sessions.heartbeat(&self.metadata, hb, now).unwrap();
        self.apply(&decided.records);
        decided.outcome
    }

    /// Expires sessions at `now` and applies the records; returns how many there were.
    fn expire(&mut self, now: Duration) -> usize {
        let records = self.sessions.expire(&self.metadata, now).unwrap();
        self.apply(&records);
        records.len()
    }

    /// Registers and unfences brokers `1..=count` at time 0.
    fn with_brokers(count: i32) -> Self {
        let mut cluster = Self::new();
        for node_id in 1..=count {
            cluster.register(node_id, 1, ms(0));
        }
        for node_id in 1..=count {
            let hb = heartbeat(&cluster.metadata, node_id);
            assert!(!cluster.beat(hb, ms(0)).is_fenced);
        }
        cluster
    }

    fn create_topic(&mut self, partition_count: i32, replication_factor: i16) -> Uuid {
        let topic = PlacedTopic {
            name: "t".into(),
            topic_id: Uuid([9; 16]),
            partition_count,
            replication_factor,
            assignments: Vec::new(),
            configs: BTreeMap::new(),
        };
        let records = placement::create_topic(&self.metadata, &topic, 1, 0, None).unwrap();
        // Every replica of a new partition is in its ISR.
        self.apply(&records);
        topic.topic_id
    }

    fn leaders(&self, topic_id: Uuid) -> Vec<i32> {
        let partitions = self.metadata.recorded_partitions(topic_id);
        partitions
            .iter()
            .map(|partition| partition.leader)
            .collect()
    }
}

#[test]
fn a_broker_registers_fenced_at_its_record_offset_and_is_unfenced_when_caught_up() {
    let mut cluster = Cluster::new();
    cluster.apply(&[MetadataRecord::BrokerConfigsSet {
        configs: BTreeMap::new(),
    }]);
    let epoch = cluster.register(1, 1, ms(0));
    assert_eq!(epoch, 1, "the record's offset");
    assert!(cluster.metadata.broker(1).unwrap().fenced);
    let behind = Heartbeat {
        applied_offset: 1,
        ..heartbeat(&cluster.metadata, 1)
    };
    let reply = cluster.beat(behind, ms(100));
    assert!(!reply.is_caught_up && reply.is_fenced);
    let wants_fence = Heartbeat {
        wants_fence: true,
        ..heartbeat(&cluster.metadata, 1)
    };
    assert!(cluster.beat(wants_fence, ms(200)).is_fenced);
    let reply = cluster.beat(heartbeat(&cluster.metadata, 1), ms(300));
    assert!(reply.is_caught_up && !reply.is_fenced);
    assert!(!cluster.metadata.broker(1).unwrap().fenced);
    let stale = Heartbeat {
        broker_epoch: 0,
        ..heartbeat(&cluster.metadata, 1)
    };
    assert!(matches!(
        cluster
            .sessions
            .heartbeat(&cluster.metadata, stale, ms(400)),
        Err(MetadataError::Cluster(
            ClusterError::StaleBrokerEpoch { .. }
        ))
    ));
}

#[test]
fn a_second_live_incarnation_is_refused_until_the_first_is_fenced_or_silent() {
    let mut cluster = Cluster::with_brokers(1);
    let duplicate = cluster
        .sessions
        .register(&cluster.metadata, request(1, 2, 2), ms(1000));
    assert!(matches!(
        duplicate,
        Err(MetadataError::Cluster(
            ClusterError::DuplicateBrokerRegistration { node_id: 1 }
        ))
    ));
    // The same incarnation retrying is a re-registration with a new epoch.
    let old_epoch = cluster.metadata.broker(1).unwrap().broker_epoch;
    let epoch = cluster.register(1, 1, ms(1000));
    assert!(epoch > old_epoch);
    let hb = heartbeat(&cluster.metadata, 1);
    cluster.beat(hb, ms(1000));
    // Silent past the session timeout: a restart registers at once, fencing the old epoch.
    let epoch_before = cluster.metadata.broker(1).unwrap().broker_epoch;
    let decided = cluster
        .sessions
        .register(
            &cluster.metadata,
            request(1, 2, 2),
            ms(1000) + TIMEOUT + ms(1),
        )
        .unwrap();
    assert_eq!(
        decided.records.first(),
        Some(&MetadataRecord::FenceBroker {
            node_id: 1,
            broker_epoch: epoch_before
        })
    );
    cluster.apply(&decided.records);
    assert_eq!(
        cluster.metadata.broker(1).unwrap().incarnation,
        Uuid([2; 16])
    );
}

#[test]
fn another_shard_count_is_refused_with_a_message_saying_so() {
    let mut cluster = Cluster::with_brokers(1);
    let error = cluster
        .sessions
        .register(&cluster.metadata, request(2, 1, 4), ms(0))
        .unwrap_err();
    assert!(matches!(
        error,
        MetadataError::Cluster(ClusterError::ShardCountMismatch {
            shard_count: 4,
            cluster_shard_count: 2,
            ..
        })
    ));
    assert!(error.to_string().contains("same shard count"), "{error}");
    let foreign = RegistrationRequest {
        cluster_id: "other".into(),
        ..request(2, 1, 2)
    };
    let error = cluster
        .sessions
        .register(&cluster.metadata, foreign, ms(0))
        .unwrap_err();
    assert!(matches!(
        error,
        MetadataError::Cluster(ClusterError::InconsistentClusterId { node_id: 2, .. })
    ));
    // The only broker may come back with another count: no other broker disagrees.
    let decided = cluster
        .sessions
        .register(&cluster.metadata, request(1, 1, 4), ms(0));
    assert!(decided.is_ok());
    cluster.apply(&decided.unwrap().records);
}

#[test]
fn a_silent_broker_is_fenced_after_the_session_timeout_and_loses_its_leaderships() {
    let mut cluster = Cluster::with_brokers(3);
    let topic_id = cluster.create_topic(6, 3);
    let led_by_1 = cluster
        .leaders(topic_id)
        .iter()
        .filter(|l| **l == 1)
        .count();
    assert_eq!(led_by_1, 2);
    for now in [ms(1000), ms(2000), ms(3000)] {
        for node_id in [2, 3] {
            let hb = heartbeat(&cluster.metadata, node_id);
            cluster.beat(hb, now);
        }
        let records = cluster.sessions.expire(&cluster.metadata, now).unwrap();
        assert!(
            records.is_empty(),
            "nobody silent for more than 3 s at {now:?}"
        );
    }
    let records = cluster
        .sessions
        .expire(&cluster.metadata, ms(3001))
        .unwrap();
    cluster.apply(&records);
    assert!(cluster.metadata.broker(1).unwrap().fenced);
    assert!(!cluster.leaders(topic_id).contains(&1));
    for partition in cluster.metadata.recorded_partitions(topic_id) {
        assert!(!partition.isr.contains(&1), "{partition:?}");
        assert!(partition.leader != NO_LEADER);
    }
    // It comes back: unfenced, still out of the ISRs (it must catch up first).
    let hb = heartbeat(&cluster.metadata, 1);
    assert!(!cluster.beat(hb, ms(4000)).is_fenced);
    assert!(!cluster.leaders(topic_id).contains(&1));
    for partition in cluster.metadata.recorded_partitions(topic_id) {
        assert!(
            !partition.isr.contains(&1),
            "its leader proposes it back: {partition:?}"
        );
    }
}

#[test]
fn an_unregistered_broker_is_fenced_first_and_forgotten() {
    let mut cluster = Cluster::with_brokers(2);
    let topic_id = cluster.create_topic(2, 2);
    let records = cluster.sessions.unregister(&cluster.metadata, 1).unwrap();
    assert!(matches!(
        records.first(),
        Some(MetadataRecord::FenceBroker { node_id: 1, .. })
    ));
    cluster.apply(&records);
    assert!(cluster.metadata.broker(1).is_none());
    assert_eq!(cluster.leaders(topic_id), vec![2, 2]);
    assert!(matches!(
        cluster.sessions.unregister(&cluster.metadata, 1),
        Err(MetadataError::Cluster(ClusterError::UnknownBroker {
            node_id: 1
        }))
    ));
}

#[test]
fn fencing_the_leader_of_hundreds_of_partitions_is_one_batch() {
    let mut cluster = Cluster::with_brokers(3);
    let topic_id = cluster.create_topic(600, 3);
    let hb = heartbeat(&cluster.metadata, 2);
    cluster.beat(hb, ms(3000));
    let hb = heartbeat(&cluster.metadata, 3);
    cluster.beat(hb, ms(3000));
    let records = cluster
        .sessions
        .expire(&cluster.metadata, ms(3001))
        .unwrap();
    // The fence, then one change per partition broker 1 was in the ISR of (all of them).
    assert_eq!(records.len(), 1 + 600);
    cluster.apply(&records);
    let leaders = cluster.leaders(topic_id);
    assert!(leaders.iter().all(|leader| *leader == 2 || *leader == 3));
}

#[test]
fn controlled_shutdown_moves_leadership_then_fences() {
    let mut cluster = Cluster::with_brokers(2);
    let topic_id = cluster.create_topic(4, 2);
    let leaving = Heartbeat {
        wants_shutdown: true,
        ..heartbeat(&cluster.metadata, 1)
    };
    let reply = cluster.beat(leaving, ms(10));
    assert!(reply.should_shut_down && reply.is_fenced);
    assert_eq!(cluster.leaders(topic_id), vec![2; 4]);
    // A plain heartbeat racing the shutdown does not unfence it again.
    let late = heartbeat(&cluster.metadata, 1);
    assert!(cluster.beat(late, ms(11)).is_fenced);
    let single = {
        let mut cluster = Cluster::with_brokers(1);
        let topic_id = cluster.create_topic(1, 1);
        let leaving = Heartbeat {
            wants_shutdown: true,
            ..heartbeat(&cluster.metadata, 1)
        };
        assert!(cluster.beat(leaving, ms(10)).should_shut_down);
        let partition = cluster.metadata.partition(topic_id, 0).unwrap().clone();
        // Back after a restart: the ELR member leads again.
        cluster.register(1, 2, ms(20));
        let hb = heartbeat(&cluster.metadata, 1);
        cluster.beat(hb, ms(30));
        (
            partition,
            cluster.metadata.partition(topic_id, 0).unwrap().clone(),
        )
    };
    assert_eq!(
        (single.0.leader, single.0.elr.clone()),
        (NO_LEADER, vec![1])
    );
    assert_eq!((single.1.leader, single.1.isr.clone()), (1, vec![1]));
    assert!(single.1.leader_epoch > single.0.leader_epoch);
}

/// Kills both replicas of a one-partition RF 2 topic, the follower first, then brings the
/// follower back: the partition stays offline (the follower is neither in the ISR nor the ELR)
/// unless the topic allows unclean election. Returns the cluster then, the topic, the follower.
fn offline_partition(unclean: bool) -> (Cluster, Uuid, i32) {
    let mut cluster = Cluster::with_brokers(2);
    let topic_id = cluster.create_topic(1, 2);
    if unclean {
        let configs = BTreeMap::from([(
            "unclean.leader.election.enable".to_owned(),
            "true".to_owned(),
        )]);
        cluster.apply(&[MetadataRecord::TopicConfigsSet { topic_id, configs }]);
    }
    let leader = cluster.leaders(topic_id)[0];
    let follower = 3 - leader;
    let hb = heartbeat(&cluster.metadata, leader);
    cluster.beat(hb, ms(3000));
    let records = cluster
        .sessions
        .expire(&cluster.metadata, ms(3001))
        .unwrap();
    cluster.apply(&records);
    let partition = &cluster.metadata.recorded_partitions(topic_id)[0];
    assert_eq!(
        (partition.leader, partition.isr.clone()),
        (leader, vec![leader])
    );
    assert!(partition.elr.is_empty(), "the ISR is still at min ISR 1");
    let records = cluster
        .sessions
        .expire(&cluster.metadata, ms(6001))
        .unwrap();
    cluster.apply(&records);
    let partition = &cluster.metadata.recorded_partitions(topic_id)[0];
    assert_eq!(partition.leader, NO_LEADER);
    assert!(partition.isr.is_empty());
    assert_eq!(
        partition.elr,
        vec![leader],
        "the last in-sync replica is eligible"
    );
    let hb = heartbeat(&cluster.metadata, follower);
    assert!(!cluster.beat(hb, ms(7000)).is_fenced);
    (cluster, topic_id, follower)
}

#[test]
fn an_offline_partition_waits_for_its_eligible_replica_unless_unclean_is_allowed() {
    let (mut cluster, topic_id, _) = offline_partition(false);
    let partition = cluster.metadata.recorded_partitions(topic_id)[0].clone();
    assert_eq!(partition.leader, NO_LEADER, "the follower is out of sync");
    assert!(
        partition.isr.is_empty(),
        "unfencing never puts a broker in an ISR"
    );
    let eligible = partition.elr[0];
    let hb = heartbeat(&cluster.metadata, eligible);
    assert!(!cluster.beat(hb, ms(8000)).is_fenced);
    let partition = &cluster.metadata.recorded_partitions(topic_id)[0];
    assert_eq!(
        (partition.leader, partition.isr.clone()),
        (eligible, vec![eligible])
    );
    assert!(partition.elr.is_empty());

    let (cluster, topic_id, follower) = offline_partition(true);
    let partition = &cluster.metadata.recorded_partitions(topic_id)[0];
    assert_eq!(
        (partition.leader, partition.isr.clone()),
        (follower, vec![follower]),
        "unclean election: the live out-of-sync replica leads"
    );
    assert!(partition.elr.is_empty(), "unclean election clears the ELR");
}

/// Three brokers, one partition with RF 3 and min ISR 3; brokers 1 and 2 go silent one
/// after the other and join the ELR (broker 3 still leads); then broker 1 restarts (a new
/// incarnation) and registers with `previous_broker_epoch` its clean marker would give.
/// Returns the partition then.
fn first_eligible_restarts(clean: bool) -> PartitionState {
    let mut cluster = Cluster::with_brokers(3);
    let topic_id = cluster.create_topic(1, 3);
    let configs = BTreeMap::from([("min.insync.replicas".to_owned(), "3".to_owned())]);
    cluster.apply(&[MetadataRecord::TopicConfigsSet { topic_id, configs }]);
    for (silent, at) in [(1, 3000), (2, 6000)] {
        for node in (silent + 1)..=3 {
            let hb = heartbeat(&cluster.metadata, node);
            cluster.beat(hb, ms(at));
        }
        let records = cluster
            .sessions
            .expire(&cluster.metadata, ms(at + 1))
            .unwrap();
        cluster.apply(&records);
    }
    let partition = &cluster.metadata.recorded_partitions(topic_id)[0];
    assert_eq!(
        (
            partition.leader,
            partition.isr.clone(),
            partition.elr.clone()
        ),
        (3, vec![3], vec![1, 2])
    );
    let registered = cluster.metadata.broker(1).unwrap().broker_epoch;
    let restart = RegistrationRequest {
        previous_broker_epoch: clean.then_some(registered),
        ..request(1, 2, 2)
    };
    let decided = cluster
        .sessions
        .register(&cluster.metadata, restart, ms(6500))
        .unwrap();
    cluster.apply(&decided.records);
    cluster.metadata.recorded_partitions(topic_id)[0].clone()
}

#[test]
fn a_replica_back_from_an_unclean_shutdown_leaves_the_elr() {
    let partition = first_eligible_restarts(false);
    assert_eq!(
        (
            partition.leader,
            partition.isr.clone(),
            partition.elr.clone()
        ),
        (3, vec![3], vec![2]),
        "a crash may have cost broker 1 committed records"
    );
}

#[test]
fn a_replica_back_from_a_clean_shutdown_keeps_its_elr_place() {
    let partition = first_eligible_restarts(true);
    assert_eq!(partition.elr, vec![1, 2], "its logs were synced and closed");
}

const PROBE_AFTER: Duration = Duration::from_millis(500);

#[test]
fn a_silent_broker_whose_listener_refuses_is_fenced_at_once_and_loses_its_leaderships() {
    let mut cluster = Cluster::with_brokers(3);
    let topic_id = cluster.create_topic(6, 3);
    let due = (cluster.sessions).due_probes(&cluster.metadata, ms(500), PROBE_AFTER, 2);
    assert!(
        due.is_empty(),
        "nobody silent for more than 500 ms: {due:?}"
    );
    for node_id in [2, 3] {
        let hb = heartbeat(&cluster.metadata, node_id);
        cluster.beat(hb, ms(400));
    }
    let due = (cluster.sessions).due_probes(&cluster.metadata, ms(600), PROBE_AFTER, 2);
    let epoch = cluster.metadata.broker(1).unwrap().broker_epoch;
    assert_eq!(
        due,
        vec![(1, epoch)],
        "only 1 is silent; 2 is the controller"
    );
    let again = (cluster.sessions).due_probes(&cluster.metadata, ms(700), PROBE_AFTER, 2);
    assert!(again.is_empty(), "probed at most once per interval");
    let records = (cluster.sessions)
        .fence_unreachable(&cluster.metadata, (1, epoch), ms(700), PROBE_AFTER)
        .unwrap();
    cluster.apply(&records);
    assert!(
        cluster.metadata.broker(1).unwrap().fenced,
        "long before 3 s"
    );
    for partition in cluster.metadata.recorded_partitions(topic_id) {
        assert!(!partition.isr.contains(&1), "{partition:?}");
        assert!(partition.leader != NO_LEADER && partition.leader != 1);
    }
}

#[test]
fn a_heartbeat_or_a_new_registration_after_the_probe_keeps_the_broker() {
    let mut cluster = Cluster::with_brokers(3);
    let due = (cluster.sessions).due_probes(&cluster.metadata, ms(600), PROBE_AFTER, 3);
    assert_eq!(due.len(), 2, "1 and 2 are silent");
    let probed = due[0];
    assert_eq!(probed.0, 1);
    // It heartbeated while the probe ran (the refusal was not its process's).
    let hb = heartbeat(&cluster.metadata, 1);
    cluster.beat(hb, ms(650));
    let records = (cluster.sessions)
        .fence_unreachable(&cluster.metadata, probed, ms(700), PROBE_AFTER)
        .unwrap();
    assert!(records.is_empty(), "{records:?}");
    // Another incarnation registered meanwhile: the probe was about the old epoch.
    cluster.sessions.end_session(1);
    cluster.register(1, 2, ms(800));
    let records = (cluster.sessions)
        .fence_unreachable(&cluster.metadata, probed, ms(2000), PROBE_AFTER)
        .unwrap();
    assert!(records.is_empty(), "{records:?}");
}

#[test]
fn a_new_controller_probes_every_broker_at_once_but_fences_only_after_the_timeout() {
    let mut cluster = Cluster::with_brokers(3);
    cluster.sessions.activate(&cluster.metadata, ms(10_000));
    let due = (cluster.sessions).due_probes(&cluster.metadata, ms(10_000), PROBE_AFTER, 2);
    let probed: Vec<i32> = due.iter().map(|(node_id, _)| *node_id).collect();
    assert_eq!(probed, vec![1, 3], "not heard from in this term");
    let hb = heartbeat(&cluster.metadata, 3);
    cluster.beat(hb, ms(10_100));
    let due = (cluster.sessions).due_probes(&cluster.metadata, ms(10_600), PROBE_AFTER, 2);
    assert_eq!(due.len(), 1, "3 was heard: {due:?}");
    // Probes that connect fence nobody; the sessions still run their full timeout.
    assert_eq!(cluster.expire(ms(12_900)), 0, "within the session");
    assert!(cluster.expire(ms(13_001)) > 0, "past the session");
    assert!(cluster.metadata.broker(1).unwrap().fenced);
    assert!(!cluster.metadata.broker(3).unwrap().fenced);
}
