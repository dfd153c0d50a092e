//! A cluster of real broker processes on loopback: three voters of the metadata quorum and a
//! fourth broker that observes it (issue 15, "How it is shown to work"). Timeouts are scaled
//! down by config (heartbeats every 100 ms, sessions of 1 s), never by sleeps: every wait is
//! a bounded poll of what clients see.
mod common;

use common::{Broker, BrokerOptions, RawClient};
use ringbroker::protocol::messages::create_topics::{
    CreatableTopic, CreateTopicsRequest, CreateTopicsResponse,
};
use ringbroker::protocol::messages::describe_cluster::{
    DescribeClusterRequest, DescribeClusterResponse,
};
use ringbroker::protocol::messages::describe_quorum::{
    DescribeQuorumPartitionRequest, DescribeQuorumRequest, DescribeQuorumResponse,
    DescribeQuorumTopicRequest, ReplicaState,
};
use ringbroker::protocol::messages::metadata::{MetadataRequest, MetadataResponse};
use ringbroker::protocol::{ErrorCode, StrBytes};
use std::collections::BTreeSet;
use std::time::Duration;

/// Long enough for an election plus a session timeout on a loaded 2-core machine.
const CONVERGE: Duration = Duration::from_secs(30);

/// Brokers by node id: 1–3 vote, 4 observes.
struct Cluster {
    brokers: Vec<Broker>,
    voters: String,
}

/// A member's flags: heartbeats every 100 ms, the given session timeout, no auto-creation.
fn member_options(node_id: i32, voters: &str, session_ms: u64) -> BrokerOptions {
    BrokerOptions {
        extra_args: [
            "--node-id",
            &node_id.to_string(),
            "--quorum-voters",
            voters,
            "--broker-heartbeat-interval-ms",
            "100",
            "--broker-session-timeout-ms",
            &session_ms.to_string(),
            "--auto-create-partitions",
            "0",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect(),
        ..BrokerOptions::default()
    }
}

impl Cluster {
    fn start() -> Self {
        Self::start_with_session_ms(1000)
    }

    fn start_with_session_ms(session_ms: u64) -> Self {
        Self::start_with(session_ms, &[])
    }

    fn start_with(session_ms: u64, extra_args: &[&str]) -> Self {
        let voters: Vec<String> = (1..=3)
            .map(|id| format!("{id}@{}", common::free_address()))
            .collect();
        let voters = voters.join(",");
        // All at once: each voter waits for a quorum before it serves.
        let mut brokers: Vec<Broker> = (1..=4)
            .map(|id| {
                let mut options = member_options(id, &voters, session_ms);
                options
                    .extra_args
                    .extend(extra_args.iter().map(|s| (*s).to_owned()));
                Broker::spawn(options)
            })
            .collect();
        for broker in &mut brokers {
            broker.wait_ready();
        }
        Self { brokers, voters }
    }

    fn broker(&mut self, node_id: i32) -> &mut Broker {
        &mut self.brokers[usize::try_from(node_id - 1).unwrap()]
    }

    /// The controller id every running broker in `asking` reports, once they agree.
    fn agreed_controller(&mut self, asking: &[i32]) -> i32 {
        let mut agreed = None;
        let settled = common::eventually(CONVERGE, || {
            let ids: BTreeSet<i32> = asking
                .iter()
                .filter_map(|id| metadata(&self.brokers[index(*id)], &[]).ok())
                .map(|response| response.controller_id)
                .collect();
            agreed = ids.first().copied();
            ids.len() == 1 && asking.contains(&ids.first().copied().unwrap_or(-1))
        });
        assert!(settled, "brokers {asking:?} never agreed on a controller");
        agreed.unwrap()
    }
}

fn index(node_id: i32) -> usize {
    usize::try_from(node_id - 1).unwrap()
}

fn metadata(broker: &Broker, topics: &[&str]) -> std::io::Result<MetadataResponse> {
    let mut client = RawClient::try_connect(broker.address)?;
    let request = MetadataRequest {
        topics: if topics.is_empty() {
            None
        } else {
            Some(
                topics
                    .iter()
                    .map(
                        |name| ringbroker::protocol::messages::metadata::MetadataRequestTopic {
                            name: Some(StrBytes::from(*name)),
                            ..Default::default()
                        },
                    )
                    .collect(),
            )
        },
        allow_auto_topic_creation: false,
        ..MetadataRequest::default()
    };
    client.try_call(12, &request)
}

/// The node ids a broker lists.
fn listed_brokers(broker: &Broker) -> BTreeSet<i32> {
    metadata(broker, &[]).map_or_else(
        |_| BTreeSet::new(),
        |response| response.brokers.iter().map(|b| b.node_id).collect(),
    )
}

fn create_topic(broker: &Broker, name: &str, partitions: i32) -> std::io::Result<ErrorCode> {
    let mut client = RawClient::try_connect(broker.address)?;
    let request = CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: StrBytes::from(name),
            num_partitions: partitions,
            replication_factor: -1,
            ..CreatableTopic::default()
        }],
        timeout_ms: 10_000,
        validate_only: false,
    };
    let response: CreateTopicsResponse = client.try_call(5, &request)?;
    Ok(response.topics[0].error_code)
}

fn describe_quorum(broker: &Broker) -> DescribeQuorumResponse {
    let request = DescribeQuorumRequest {
        topics: vec![DescribeQuorumTopicRequest {
            topic_name: StrBytes::from("__cluster_metadata"),
            partitions: vec![DescribeQuorumPartitionRequest { partition_index: 0 }],
        }],
    };
    let mut client = RawClient::try_connect(broker.address).unwrap();
    client.try_call(2, &request).unwrap()
}

fn topic_names(broker: &Broker) -> BTreeSet<String> {
    metadata(broker, &[]).map_or_else(
        |_| BTreeSet::new(),
        |response| {
            response
                .topics
                .iter()
                .filter_map(|t| t.name.as_ref().map(|n| n.as_str().to_owned()))
                .collect()
        },
    )
}

#[test]
fn every_broker_lists_every_broker_and_sees_a_topic_created_through_any_of_them() {
    let mut cluster = Cluster::start();
    let all = BTreeSet::from([1, 2, 3, 4]);
    for id in 1..=4 {
        let broker = &cluster.brokers[index(id)];
        assert!(
            common::eventually(CONVERGE, || listed_brokers(broker) == all),
            "broker {id} lists {:?}",
            listed_brokers(broker)
        );
    }
    let controller = cluster.agreed_controller(&[1, 2, 3, 4]);
    assert!((1..=3).contains(&controller), "a voter leads: {controller}");
    // DescribeQuorum through the observer: the leader's view (forwarded), with every voter's
    // progress and the observer among the observers.
    let quorum = describe_quorum(cluster.broker(4));
    assert_eq!(quorum.error_code, ErrorCode::None, "{quorum:?}");
    let partition = &quorum.topics[0].partitions[0];
    assert_eq!(partition.error_code, ErrorCode::None, "{quorum:?}");
    assert_eq!(partition.leader_id, controller);
    let ids = |replicas: &[ReplicaState]| -> BTreeSet<i32> {
        replicas.iter().map(|r| r.replica_id).collect()
    };
    assert_eq!(ids(&partition.current_voters), BTreeSet::from([1, 2, 3]));
    assert!(ids(&partition.observers).contains(&4), "{partition:?}");
    assert!(partition.high_watermark > 0);
    // Through the observer: forwarded to the active controller.
    assert_eq!(
        create_topic(cluster.broker(4), "made-on-4", 8).unwrap(),
        ErrorCode::None
    );
    for id in 1..=4 {
        let broker = &cluster.brokers[index(id)];
        assert!(
            common::eventually(CONVERGE, || topic_names(broker).contains("made-on-4")),
            "broker {id} does not list the topic"
        );
    }
    // Its partitions are spread over the brokers, each with a live leader.
    let response = metadata(cluster.broker(2), &["made-on-4"]).unwrap();
    let leaders: BTreeSet<i32> = response.topics[0]
        .partitions
        .iter()
        .map(|p| p.leader_id)
        .collect();
    assert!(leaders.iter().all(|l| all.contains(l)), "{leaders:?}");
    assert!(leaders.len() > 1, "8 partitions on one broker: {leaders:?}");
    // Each broker has a log only for the partitions it hosts (here: leads, RF 1).
    for id in 1..=4 {
        let hosted: BTreeSet<i32> = response.topics[0]
            .partitions
            .iter()
            .filter(|p| p.replica_nodes == [id])
            .map(|p| p.partition_index)
            .collect();
        // Eventually: a broker lists the topic as soon as it installed the metadata, and
        // opens the partitions' logs right after.
        let broker = &cluster.brokers[index(id)];
        assert!(
            common::eventually(CONVERGE, || log_dirs(broker, "made-on-4") == hosted),
            "broker {id}: {:?} instead of {hosted:?}",
            log_dirs(broker, "made-on-4")
        );
    }
}

/// The partitions of `topic` a broker reports a log directory for (DescribeLogDirs v4).
fn log_dirs(broker: &Broker, topic: &str) -> BTreeSet<i32> {
    use ringbroker::protocol::messages::describe_log_dirs::{
        DescribableLogDirTopic, DescribeLogDirsRequest, DescribeLogDirsResponse,
    };
    let request = DescribeLogDirsRequest {
        topics: Some(vec![DescribableLogDirTopic {
            topic: StrBytes::from(topic),
            partitions: (0..8).collect(),
        }]),
    };
    let mut client = RawClient::try_connect(broker.address).unwrap();
    let response: DescribeLogDirsResponse = client.try_call(4, &request).unwrap();
    response.results[0]
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.partition_index))
        .collect()
}

#[test]
fn killing_the_active_controller_elects_another_and_it_rejoins_after_restart() {
    let mut cluster = Cluster::start();
    let controller = cluster.agreed_controller(&[1, 2, 3, 4]);
    cluster.broker(controller).kill9();
    let survivors: Vec<i32> = (1..=4).filter(|id| *id != controller).collect();
    let next = cluster.agreed_controller(&survivors);
    assert_ne!(next, controller);
    let asked = survivors[0];
    let created = common::eventually(CONVERGE, || {
        create_topic(&cluster.brokers[index(asked)], "after-failover", 2)
            .is_ok_and(|code| code == ErrorCode::None || code == ErrorCode::TopicAlreadyExists)
    });
    assert!(created, "CreateTopics never succeeded after the failover");
    cluster.broker(controller).start_again();
    let restarted = &cluster.brokers[index(controller)];
    assert!(
        common::eventually(CONVERGE, || topic_names(restarted)
            .contains("after-failover")),
        "the restarted voter did not catch up"
    );
    let all = BTreeSet::from([1, 2, 3, 4]);
    assert!(
        common::eventually(CONVERGE, || listed_brokers(restarted) == all),
        "the restarted voter lists {:?}",
        listed_brokers(restarted)
    );
}

#[test]
fn with_two_of_three_voters_down_changes_fail_retriably_and_nothing_splits() {
    let mut cluster = Cluster::start();
    cluster.agreed_controller(&[1, 2, 3, 4]);
    cluster.broker(2).kill9();
    cluster.broker(3).kill9();
    // No majority: a retriable error, never success.
    let code = create_topic(cluster.broker(1), "without-quorum", 1).unwrap();
    assert!(
        matches!(code, ErrorCode::NotController | ErrorCode::RequestTimedOut),
        "{code:?}"
    );
    let code = create_topic(cluster.broker(4), "without-quorum", 1).unwrap();
    assert!(
        matches!(code, ErrorCode::NotController | ErrorCode::RequestTimedOut),
        "{code:?}"
    );
    cluster.broker(2).start_again();
    let created = common::eventually(CONVERGE, || {
        create_topic(cluster.brokers.first().unwrap(), "with-quorum", 1)
            .is_ok_and(|code| code == ErrorCode::None)
    });
    assert!(created, "the quorum did not come back");
    // One history: every running broker converges on the same topics. (A CreateTopics that
    // timed out may still commit once the majority is back, as in Kafka, where a timeout
    // leaves the outcome for the client to look up; what must not happen is two histories.)
    let converged = common::eventually(CONVERGE, || {
        let sets: Vec<BTreeSet<String>> = [1, 2, 4]
            .iter()
            .map(|id| topic_names(&cluster.brokers[index(*id)]))
            .collect();
        sets[0].contains("with-quorum") && sets.iter().all(|set| *set == sets[0])
    });
    assert!(converged, "brokers disagree on the topics");
}

#[test]
fn a_frozen_broker_is_fenced_and_returns_when_it_resumes() {
    let mut cluster = Cluster::start();
    let all = BTreeSet::from([1, 2, 3, 4]);
    assert!(common::eventually(CONVERGE, || listed_brokers(
        &cluster.brokers[0]
    ) == all));
    cluster.broker(4).signal(libc::SIGSTOP);
    let without = BTreeSet::from([1, 2, 3]);
    let fenced = common::eventually(CONVERGE, || listed_brokers(&cluster.brokers[0]) == without);
    cluster.broker(4).signal(libc::SIGCONT);
    assert!(fenced, "the frozen broker stayed listed");
    assert!(
        common::eventually(CONVERGE, || listed_brokers(&cluster.brokers[0]) == all),
        "the resumed broker did not return"
    );
}

/// The unfenced brokers `broker` knows (DescribeCluster without fenced ones: unlike
/// Metadata, it never falls back to listing fenced brokers); empty when it does not answer.
fn unfenced_brokers(broker: &Broker) -> BTreeSet<i32> {
    let Ok(mut client) = RawClient::try_connect(broker.address) else {
        return BTreeSet::new();
    };
    let request = DescribeClusterRequest::default();
    client
        .try_call::<_, DescribeClusterResponse>(0, &request)
        .map_or_else(
            |_| BTreeSet::new(),
            |response| response.brokers.iter().map(|b| b.broker_id).collect(),
        )
}

/// A frozen active controller holds every heartbeat sent to it. The brokers must reach its
/// successor within the session it gives them at its takeover, not wait for the frozen one
/// until their request times out (7 s): before, every live broker was fenced at once, and a
/// Metadata answer listing no broker made librdkafka drop all its connections.
#[test]
fn live_brokers_stay_unfenced_when_the_active_controller_freezes() {
    // Kafka-like proportions: heartbeats every 100 ms, sessions of 3 s.
    let mut cluster = Cluster::start_with_session_ms(3000);
    let controller = cluster.agreed_controller(&[1, 2, 3, 4]);
    let live: Vec<i32> = (1..=4).filter(|id| *id != controller).collect();
    let watcher = live[0];
    let all = BTreeSet::from([1, 2, 3, 4]);
    assert!(common::eventually(CONVERGE, || unfenced_brokers(
        &cluster.brokers[index(watcher)]
    ) == all));
    cluster.broker(controller).signal(libc::SIGSTOP);
    // Past the old request timeout, polled every 50 ms: a live broker missing from a
    // non-empty answer was fenced.
    let watch = Duration::from_secs(9);
    let start = std::time::Instant::now();
    let mut fenced = None;
    let mut frozen_fenced = false;
    while fenced.is_none() && start.elapsed() < watch {
        let unfenced = unfenced_brokers(&cluster.brokers[index(watcher)]);
        frozen_fenced |= !unfenced.is_empty() && !unfenced.contains(&controller);
        if let Some(id) = live
            .iter()
            .find(|id| !unfenced.is_empty() && !unfenced.contains(id))
        {
            fenced = Some((*id, start.elapsed(), unfenced));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cluster.broker(controller).signal(libc::SIGCONT);
    assert_eq!(
        fenced, None,
        "a live broker was fenced after the controller froze"
    );
    assert!(
        frozen_fenced,
        "the frozen controller was never fenced: no failover happened"
    );
}

/// Rounds of the observer's periodic re-join (every 20 heartbeats of 100 ms) watched while
/// the first voter is frozen.
const REJOIN_ROUNDS_WATCHED: u32 = 3;

#[test]
fn an_observer_stays_unfenced_while_the_first_listed_voter_is_frozen() {
    let mut cluster = Cluster::start();
    let all = BTreeSet::from([1, 2, 3, 4]);
    assert!(common::eventually(CONVERGE, || listed_brokers(
        &cluster.brokers[1]
    ) == all));
    // Voter 1 heads the voters list. Frozen, it still accepts connections (the kernel
    // does) but answers nothing, so a re-join that asks it first waits out its timeout.
    cluster.broker(1).signal(libc::SIGSTOP);
    let rest = BTreeSet::from([2, 3, 4]);
    let settled = common::eventually(CONVERGE, || listed_brokers(&cluster.brokers[1]) == rest);
    // Then the observer's heartbeats must never pause past its session (1 s): bounded by
    // the watch's length, polled every 50 ms.
    let watch = Duration::from_secs(2 * u64::from(REJOIN_ROUNDS_WATCHED) + 1);
    let start = std::time::Instant::now();
    let mut missing = None;
    while settled && missing.is_none() && start.elapsed() < watch {
        let listed = listed_brokers(&cluster.brokers[1]);
        if !listed.is_empty() && !listed.contains(&4) {
            missing = Some(start.elapsed());
        }
        // A fenced spell lasts the heartbeat gap less the session: far above this.
        std::thread::sleep(Duration::from_millis(50));
    }
    cluster.broker(1).signal(libc::SIGCONT);
    assert!(settled, "the cluster never settled without voter 1");
    assert_eq!(
        missing, None,
        "observer 4 was fenced while voter 1 was frozen"
    );
}

#[test]
fn restarting_every_broker_at_once_keeps_the_metadata() {
    let mut cluster = Cluster::start();
    cluster.agreed_controller(&[1, 2, 3, 4]);
    for name in ["kept-a", "kept-b"] {
        assert_eq!(
            create_topic(cluster.broker(1), name, 3).unwrap(),
            ErrorCode::None
        );
    }
    for broker in &mut cluster.brokers {
        broker.terminate();
    }
    for broker in &mut cluster.brokers {
        broker.spawn_again();
    }
    for broker in &mut cluster.brokers {
        broker.wait_ready();
    }
    for id in 1..=4 {
        let broker = &cluster.brokers[index(id)];
        assert!(
            common::eventually(CONVERGE, || {
                let names = topic_names(broker);
                names.contains("kept-a") && names.contains("kept-b")
            }),
            "broker {id} lost topics"
        );
    }
}

/// Spawns a broker that should refuse to start; returns its log once it exited (bounded).
fn refused(mut broker: Broker) -> String {
    let exited = common::eventually(CONVERGE, || !broker.is_running());
    assert!(exited, "the broker kept running:\n{}", broker.log());
    broker.log()
}

/// Partition index → leader, as `broker` reports them.
fn leaders(broker: &Broker, topic: &str) -> Vec<(i32, i32)> {
    metadata(broker, &[topic]).map_or_else(
        |_| Vec::new(),
        |response| {
            response.topics[0]
                .partitions
                .iter()
                .map(|p| (p.partition_index, p.leader_id))
                .collect()
        },
    )
}

#[test]
fn sigterm_moves_a_broker_out_before_its_session_could_expire() {
    // A session of a minute: only the controlled shutdown can fence the broker in time.
    let mut cluster = Cluster::start_with_session_ms(60_000);
    cluster.agreed_controller(&[1, 2, 3, 4]);
    assert_eq!(
        create_topic(cluster.broker(1), "spread", 8).unwrap(),
        ErrorCode::None
    );
    let on_four: Vec<i32> = leaders(cluster.broker(1), "spread")
        .into_iter()
        .filter(|(_, leader)| *leader == 4)
        .map(|(partition, _)| partition)
        .collect();
    assert!(!on_four.is_empty(), "no partition led by broker 4");
    assert!(cluster.broker(4).terminate().success());
    let first = &cluster.brokers[0];
    let moved_out = common::eventually(Duration::from_secs(10), || {
        !listed_brokers(first).contains(&4)
            && leaders(first, "spread")
                .iter()
                .all(|(partition, leader)| !on_four.contains(partition) || *leader == -1)
    });
    assert!(moved_out, "broker 4 still listed or leading after SIGTERM");
    // Back: its partitions get their leader again (it is their only replica).
    cluster.broker(4).start_again();
    let back = common::eventually(CONVERGE, || {
        leaders(&cluster.brokers[0], "spread")
            .iter()
            .all(|(partition, leader)| !on_four.contains(partition) || *leader == 4)
    });
    assert!(back, "broker 4 did not lead its partitions again");
}

#[test]
fn brokers_that_do_not_fit_the_cluster_are_refused_with_a_clear_message() {
    let cluster = Cluster::start();
    // Another shard count: partitions live on the same shard index everywhere.
    let mut other = member_options(5, &cluster.voters, 1000);
    other.shards = 1;
    let log = refused(Broker::spawn(other));
    assert!(
        log.contains("every broker must run the same shard count"),
        "{log}"
    );
    // A second live broker with node id 4.
    let log = refused(Broker::spawn(member_options(4, &cluster.voters, 1000)));
    assert!(
        log.contains("another broker is registered with node id 4 and is alive"),
        "{log}"
    );
    // The live broker 4 keeps following the metadata log.
    assert_eq!(
        create_topic(&cluster.brokers[0], "after-refusals", 1).unwrap(),
        ErrorCode::None
    );
    let fourth = &cluster.brokers[3];
    assert!(
        common::eventually(CONVERGE, || topic_names(fourth).contains("after-refusals")),
        "broker 4 stopped following the metadata log"
    );
}

#[test]
fn a_data_dir_of_another_cluster_is_refused_and_left_intact() {
    let mut cluster = Cluster::start();
    cluster.agreed_controller(&[1, 2, 3, 4]);
    // A single-node broker's data dir: its own cluster, node id 0.
    let mut single = Broker::start();
    assert_eq!(create_topic(&single, "mine", 1).unwrap(), ErrorCode::None);
    single.terminate();
    let data = single.data_dir().display().to_string();
    let mut options = member_options(0, &cluster.voters, 1000);
    options.extra_args.extend(["--data-dir".to_owned(), data]);
    let log = refused(Broker::spawn(options));
    assert!(log.contains("belongs to cluster"), "{log}");
    // Nothing of it was replaced: alone again, it still has its topic.
    single.start_again();
    assert!(topic_names(&single).contains("mine"));
}

/// librdkafka against the cluster through the observer: an idempotent acks=all producer finds
/// each partition's leader on its broker, and a consumer group (its coordinator on whichever
/// broker leads the group's offsets partition) reads every record back once, each partition
/// in order.
#[test]
fn librdkafka_produces_and_consumes_as_a_group_across_the_brokers() {
    use rdkafka::ClientConfig;
    use rdkafka::Message as _;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
    const PARTITIONS: i32 = 12;
    const RECORDS: i32 = 3_000;
    let mut cluster = Cluster::start();
    cluster.agreed_controller(&[1, 2, 3, 4]);
    let bootstrap = cluster.broker(4).address.to_string();
    assert_eq!(
        create_topic(cluster.broker(4), "across", PARTITIONS).unwrap(),
        ErrorCode::None
    );
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000")
        .create()
        .expect("producer");
    for index in 0..RECORDS {
        let key = index.to_string();
        let record = BaseRecord::to("across")
            .key(&key)
            .payload(&key)
            .partition(index % PARTITIONS);
        producer.send(record).map_err(|(e, _)| e).expect("send");
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "across-group")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&["across"]).expect("subscribe");
    let mut last_key = std::collections::BTreeMap::<i32, i32>::new();
    let mut seen = BTreeSet::new();
    let deadline = std::time::Instant::now() + CONVERGE * 2;
    while seen.len() < usize::try_from(RECORDS).unwrap() && std::time::Instant::now() < deadline {
        let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let key: i32 = std::str::from_utf8(message.key().unwrap())
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(key % PARTITIONS, message.partition());
        let previous = last_key.insert(message.partition(), key);
        assert!(
            previous.is_none_or(|p| p < key),
            "out of order in {}",
            message.partition()
        );
        assert!(seen.insert(key), "record {key} twice");
    }
    assert_eq!(
        seen.len(),
        usize::try_from(RECORDS).unwrap(),
        "not every record came back"
    );
    let leaders: BTreeSet<i32> = leaders(cluster.broker(1), "across")
        .into_iter()
        .map(|(_, leader)| leader)
        .collect();
    assert!(leaders.len() > 1, "one broker led everything: {leaders:?}");
}

/// The metadata log's high watermark as the leader reports it (through any broker).
fn metadata_offset(broker: &Broker) -> Option<i64> {
    let mut client = RawClient::try_connect(broker.address).ok()?;
    let request = DescribeQuorumRequest {
        topics: vec![DescribeQuorumTopicRequest {
            topic_name: StrBytes::from("__cluster_metadata"),
            partitions: vec![DescribeQuorumPartitionRequest { partition_index: 0 }],
        }],
    };
    let response: DescribeQuorumResponse = client.try_call(2, &request).ok()?;
    let partition = response.topics.first()?.partitions.first()?;
    (partition.error_code == ErrorCode::None).then_some(partition.high_watermark)
}

#[test]
fn rolling_restarts_keep_the_metadata_and_its_offset_only_grows() {
    // Snapshots every 16 entries: restarts recover from a snapshot plus its tail, and a
    // follower that fell behind installs the leader's snapshot.
    let mut cluster = Cluster::start_with(1000, &["--quorum-snapshot-entries", "16"]);
    cluster.agreed_controller(&[1, 2, 3, 4]);
    let mut offset = 0;
    for round in 1..=4 {
        for index in 0..6 {
            let name = format!("roll-{round}-{index}");
            let created = common::eventually(CONVERGE, || {
                create_topic(&cluster.brokers[0], &name, 1)
                    .is_ok_and(|c| c == ErrorCode::None || c == ErrorCode::TopicAlreadyExists)
            });
            assert!(created, "{name} not created");
        }
        // Restart broker `round` (three voters, then the observer), one at a time.
        cluster.broker(round).terminate();
        cluster.broker(round).start_again();
        let expected: BTreeSet<String> = (1..=round)
            .flat_map(|r| (0..6).map(move |i| format!("roll-{r}-{i}")))
            .collect();
        for id in 1..=4 {
            let broker = &cluster.brokers[index(id)];
            assert!(
                common::eventually(CONVERGE, || topic_names(broker).is_superset(&expected)),
                "round {round}: broker {id} lacks topics"
            );
        }
        // The first answer of the restarted broker already stands at or past the last one.
        let mut now = None;
        let answered = common::eventually(CONVERGE, || {
            now = metadata_offset(&cluster.brokers[index(round)]);
            now.is_some()
        });
        assert!(answered, "round {round}: no DescribeQuorum answer");
        let now = now.unwrap_or_default();
        assert!(
            now >= offset,
            "round {round}: metadata offset {now} < {offset}"
        );
        offset = now;
    }
}
