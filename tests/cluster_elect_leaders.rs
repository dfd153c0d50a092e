//! The controller's side of replication against real broker processes (issue 16): a topic with
//! replication factor 3 starts with every replica in sync; a broker killed with SIGKILL leaves
//! every ISR once its session expires and its leaderships move to in-sync replicas; ElectLeaders
//! answers each partition with Kafka's code meanwhile; restarted, the broker is proposed back
//! into the ISRs by their leaders (AlterPartition, once it caught up) and the leader balancer
//! (checking every 200 ms) gives it back the partitions it is preferred for. A partition whose
//! in-sync replicas all died comes back only through an unclean election. `__consumer_offsets`
//! is created with three in-sync replicas (`offsets.topic.replication.factor`). Timeouts are scaled
//! down by flags (heartbeats every 100 ms, sessions of 1 s); every wait is a bounded poll of
//! what clients see.
mod common;

use common::{Broker, BrokerOptions, RawClient};
use ringbroker::protocol::messages::create_topics::{
    CreatableTopic, CreateTopicsRequest, CreateTopicsResponse,
};
use ringbroker::protocol::messages::elect_leaders::{
    ELECTION_TYPE_PREFERRED, ELECTION_TYPE_UNCLEAN, ElectLeadersRequest, ElectLeadersResponse,
    ElectLeadersTopicPartitions,
};
use ringbroker::protocol::messages::metadata::{
    MetadataRequest, MetadataRequestTopic, MetadataResponse, MetadataResponsePartition,
};
use ringbroker::protocol::{ErrorCode, StrBytes};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Long enough for an election plus a session timeout on a loaded 2-core machine.
const CONVERGE: Duration = Duration::from_secs(30);
const TOPIC: &str = "replicated";
const PARTITIONS: i32 = 6;

/// Three voters of the metadata quorum, each a broker, and `observers` more brokers (ids 4..).
fn start_cluster(observers: i32) -> Vec<Broker> {
    let voters: Vec<String> = (1..=3)
        .map(|id| format!("{id}@{}", common::free_address()))
        .collect();
    let voters = voters.join(",");
    let mut brokers: Vec<Broker> = (1..=3 + observers)
        .map(|id: i32| {
            let args = [
                "--node-id",
                &id.to_string(),
                "--quorum-voters",
                &voters,
                "--broker-heartbeat-interval-ms",
                "100",
                "--broker-session-timeout-ms",
                "1000",
                "--auto-create-partitions",
                "0",
                "--leader-imbalance-check-interval-ms",
                "200",
            ];
            Broker::spawn(BrokerOptions {
                extra_args: args.iter().map(|s| (*s).to_owned()).collect(),
                // A small `__consumer_offsets`: its replicas are what is checked, not its size.
                config_toml: Some("[groups]\noffsets_topic_partitions = 2\n".to_owned()),
                ..BrokerOptions::default()
            })
        })
        .collect();
    // All at once: each voter waits for a quorum before it serves.
    for broker in &mut brokers {
        broker.wait_ready();
    }
    brokers
}

fn metadata(broker: &Broker, topic: &str) -> std::io::Result<MetadataResponse> {
    let mut client = RawClient::try_connect(broker.address)?;
    let request = MetadataRequest {
        topics: Some(vec![MetadataRequestTopic {
            name: Some(StrBytes::from(topic)),
            ..MetadataRequestTopic::default()
        }]),
        allow_auto_topic_creation: false,
        ..MetadataRequest::default()
    };
    client.try_call(12, &request)
}

/// The topic's partitions as `broker` reports them (empty when it cannot answer yet).
fn partitions(broker: &Broker) -> Vec<MetadataResponsePartition> {
    partitions_of(broker, TOPIC)
}

fn partitions_of(broker: &Broker, topic: &str) -> Vec<MetadataResponsePartition> {
    metadata(broker, topic)
        .ok()
        .and_then(|response| response.topics.into_iter().next())
        .filter(|topic| topic.error_code == ErrorCode::None)
        .map(|topic| topic.partitions)
        .unwrap_or_default()
}

fn listed_brokers(broker: &Broker) -> BTreeSet<i32> {
    metadata(broker, TOPIC).map_or_else(
        |_| BTreeSet::new(),
        |response| response.brokers.iter().map(|b| b.node_id).collect(),
    )
}

fn create_topic(broker: &Broker) -> ErrorCode {
    let mut client = broker.client();
    let request = CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: StrBytes::from(TOPIC),
            num_partitions: PARTITIONS,
            replication_factor: 3,
            ..CreatableTopic::default()
        }],
        timeout_ms: 10_000,
        validate_only: false,
    };
    let response: CreateTopicsResponse = client.try_call(5, &request).unwrap();
    response.topics[0].error_code
}

fn elect(broker: &Broker, version: i16, request: &ElectLeadersRequest) -> ElectLeadersResponse {
    broker.client().try_call(version, request).unwrap()
}

fn asking(election_type: i8, topics: Option<Vec<(&str, Vec<i32>)>>) -> ElectLeadersRequest {
    ElectLeadersRequest {
        election_type,
        topic_partitions: topics.map(|topics| {
            topics
                .into_iter()
                .map(|(topic, partitions)| ElectLeadersTopicPartitions {
                    topic: StrBytes::from(topic),
                    partitions,
                })
                .collect()
        }),
        timeout_ms: 10_000,
    }
}

/// (topic, partition) → error code of every result.
fn codes(response: &ElectLeadersResponse) -> BTreeMap<(String, i32), ErrorCode> {
    response
        .replica_election_results
        .iter()
        .flat_map(|topic| {
            topic.partition_result.iter().map(|result| {
                let key = (topic.topic.as_str().to_owned(), result.partition_id);
                (key, result.error_code)
            })
        })
        .collect()
}

/// Every broker lists all three, and a topic of factor 3 starts with every replica in sync,
/// led by its first (preferred) replica.
fn created_in_sync(brokers: &[Broker]) {
    let all = BTreeSet::from([1, 2, 3]);
    for broker in brokers {
        let listed = common::eventually(CONVERGE, || listed_brokers(broker) == all);
        assert!(listed, "{:?}", listed_brokers(broker));
    }
    assert_eq!(create_topic(&brokers[1]), ErrorCode::None);
    for broker in brokers {
        let created = common::eventually(CONVERGE, || partitions(broker).len() == 6);
        assert!(created, "the topic never reached {}", broker.address);
        for partition in partitions(broker) {
            assert_eq!(partition.replica_nodes.len(), 3, "{partition:?}");
            assert_eq!(
                partition.isr_nodes, partition.replica_nodes,
                "{partition:?}"
            );
            assert_eq!(partition.leader_id, partition.replica_nodes[0]);
            assert!(partition.offline_replicas.is_empty());
        }
    }
}

#[test]
fn a_killed_broker_leaves_the_isrs_and_after_restart_rejoins_them_and_its_leaderships() {
    let mut brokers = start_cluster(0);
    created_in_sync(&brokers);
    let before = partitions(&brokers[0]);
    let victim = before[0].leader_id;
    let index = |node: i32| usize::try_from(node - 1).unwrap();
    let preferred_by_victim: BTreeSet<i32> = before
        .iter()
        .filter(|partition| partition.replica_nodes[0] == victim)
        .map(|partition| partition.partition_index)
        .collect();
    assert!(preferred_by_victim.contains(&0));
    brokers[index(victim)].kill9();
    let (survivor, other) = match victim {
        1 => (1, 2),
        2 => (0, 2),
        _ => (0, 1),
    };
    let moved = common::eventually(CONVERGE, || {
        let now = partitions(&brokers[survivor]);
        now.len() == 6
            && now.iter().all(|partition| {
                !partition.isr_nodes.contains(&victim)
                    && partition.leader_id != victim
                    && partition.isr_nodes.contains(&partition.leader_id)
                    && partition.offline_replicas == [victim]
            })
    });
    let now = partitions(&brokers[survivor]);
    assert!(moved, "{victim} still in an ISR: {now:?}");
    elections_say_why(&brokers[survivor], &brokers[other], &preferred_by_victim);

    // Back: its leaders propose it into their ISRs once it caught up, and the balancer moves
    // the leadership of the partitions it is preferred for back to it.
    brokers[index(victim)].start_again();
    let healed = common::eventually(CONVERGE, || {
        let now = partitions(&brokers[survivor]);
        now.len() == 6
            && now.iter().all(|partition| {
                partition.isr_nodes.len() == 3 && partition.leader_id == partition.replica_nodes[0]
            })
    });
    let now = partitions(&brokers[survivor]);
    assert!(healed, "{victim} not back in the ISRs and leading: {now:?}");
    let request = asking(ELECTION_TYPE_PREFERRED, None);
    let response = elect(&brokers[index(victim)], 2, &request);
    assert!(
        codes(&response).is_empty(),
        "all need nothing: {response:?}"
    );
}

/// ElectLeaders while the victim is down, through the two brokers left.
fn elections_say_why(survivor: &Broker, other: &Broker, preferred_by_victim: &BTreeSet<i32>) {
    // PREFERRED: the victim's preferred partitions cannot get it back (fenced, out of the
    // ISR), the others need nothing; unknown ones are said to be so.
    let all: Vec<i32> = (0..PARTITIONS).chain([PARTITIONS + 3]).collect();
    let request = asking(
        ELECTION_TYPE_PREFERRED,
        Some(vec![(TOPIC, all), ("absent", vec![0])]),
    );
    let response = elect(survivor, 2, &request);
    assert_eq!(response.error_code, ErrorCode::None);
    let mut expected = BTreeMap::new();
    for partition in 0..PARTITIONS {
        let code = if preferred_by_victim.contains(&partition) {
            ErrorCode::PreferredLeaderNotAvailable
        } else {
            ErrorCode::ElectionNotNeeded
        };
        expected.insert((TOPIC.to_owned(), partition), code);
    }
    expected.insert(
        (TOPIC.to_owned(), PARTITIONS + 3),
        ErrorCode::UnknownTopicOrPartition,
    );
    expected.insert(("absent".to_owned(), 0), ErrorCode::UnknownTopicOrPartition);
    assert_eq!(codes(&response), expected, "{response:?}");

    // v0, every partition (null list): the ones that needed no election are left out.
    let response = elect(other, 0, &asking(0, None));
    let left: BTreeMap<(String, i32), ErrorCode> = codes(&response);
    let wanted: BTreeMap<(String, i32), ErrorCode> = preferred_by_victim
        .iter()
        .map(|p| {
            (
                (TOPIC.to_owned(), *p),
                ErrorCode::PreferredLeaderNotAvailable,
            )
        })
        .collect();
    assert_eq!(left, wanted, "{response:?}");

    // UNCLEAN: every partition has a leader.
    let request = asking(ELECTION_TYPE_UNCLEAN, Some(vec![(TOPIC, vec![0, 1])]));
    let response = elect(survivor, 1, &request);
    assert!(
        codes(&response)
            .values()
            .all(|code| *code == ErrorCode::ElectionNotNeeded),
        "{response:?}"
    );
    // An unknown election type.
    let response = elect(survivor, 2, &asking(7, Some(vec![(TOPIC, vec![0])])));
    assert_eq!(response.error_code, ErrorCode::InvalidRequest);
    assert_eq!(
        codes(&response).values().copied().collect::<Vec<_>>(),
        [ErrorCode::InvalidRequest]
    );
}

/// The single-partition topic `fragile`, replicas `[4, follower]`.
fn create_fragile(broker: &Broker, follower: i32) -> ErrorCode {
    use ringbroker::protocol::messages::create_topics::CreatableReplicaAssignment;
    let request = CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: StrBytes::from("fragile"),
            num_partitions: -1,
            replication_factor: -1,
            assignments: vec![CreatableReplicaAssignment {
                partition_index: 0,
                broker_ids: vec![4, follower],
            }],
            ..CreatableTopic::default()
        }],
        timeout_ms: 10_000,
        validate_only: false,
    };
    let response: CreateTopicsResponse = broker.client().try_call(5, &request).unwrap();
    response.topics[0].error_code
}

/// (leader, ISR) of `fragile`'s partition as `broker` reports it.
fn fragile(broker: &Broker) -> Option<(i32, Vec<i32>)> {
    let partition = partitions_of(broker, "fragile").into_iter().next()?;
    Some((partition.leader_id, partition.isr_nodes))
}

#[test]
fn a_partition_whose_in_sync_replicas_died_returns_only_through_an_unclean_election() {
    let mut brokers = start_cluster(1);
    let listed = common::eventually(CONVERGE, || {
        (1..=4).all(|id| listed_brokers(&brokers[0]).contains(&id))
    });
    assert!(listed, "{:?}", listed_brokers(&brokers[0]));
    offsets_topic_gets_three_replicas(&brokers[0]);
    // The follower is a voter, so killing it and the observer leaves a quorum of two.
    let follower = 2;
    assert_eq!(create_fragile(&brokers[0], follower), ErrorCode::None);
    let created = common::eventually(CONVERGE, || {
        fragile(&brokers[0]) == Some((4, vec![4, follower]))
    });
    assert!(created, "{:?}", fragile(&brokers[0]));
    brokers[3].kill9();
    let moved = common::eventually(CONVERGE, || {
        fragile(&brokers[0]) == Some((follower, vec![follower]))
    });
    assert!(moved, "{:?}", fragile(&brokers[0]));
    brokers[1].kill9();
    let offline = common::eventually(CONVERGE, || fragile(&brokers[0]) == Some((-1, vec![])));
    assert!(offline, "{:?}", fragile(&brokers[0]));
    // Broker 4 comes back, out of sync: the partition stays offline (its eligible replica is
    // the follower, still dead), and a preferred election cannot use it.
    brokers[3].start_again();
    let back = common::eventually(CONVERGE, || listed_brokers(&brokers[0]).contains(&4));
    assert!(back, "broker 4 not unfenced");
    assert_eq!(fragile(&brokers[0]), Some((-1, vec![])));
    let request = asking(ELECTION_TYPE_PREFERRED, Some(vec![("fragile", vec![0])]));
    let response = elect(&brokers[2], 2, &request);
    let code = |response: &ElectLeadersResponse| codes(response).into_values().collect::<Vec<_>>();
    assert_eq!(code(&response), [ErrorCode::PreferredLeaderNotAvailable]);
    // Unclean: broker 4 leads, alone in the ISR; a second one is not needed.
    let request = asking(ELECTION_TYPE_UNCLEAN, Some(vec![("fragile", vec![0])]));
    assert_eq!(code(&elect(&brokers[2], 2, &request)), [ErrorCode::None]);
    // Broker 3 answered after applying the election; broker 1 applies it on its own time.
    let elected = common::eventually(CONVERGE, || fragile(&brokers[0]) == Some((4, vec![4])));
    assert!(elected, "{:?}", fragile(&brokers[0]));
    assert_eq!(fragile(&brokers[2]), Some((4, vec![4])));
    assert_eq!(
        code(&elect(&brokers[0], 1, &request)),
        [ErrorCode::ElectionNotNeeded]
    );
}

/// FindCoordinator creates `__consumer_offsets` with `offsets.topic.replication.factor` (3 by
/// default) replicas, all in sync, when that many brokers are live (four are).
fn offsets_topic_gets_three_replicas(broker: &Broker) {
    use ringbroker::protocol::messages::find_coordinator::{
        FindCoordinatorRequest, FindCoordinatorResponse,
    };
    let request = FindCoordinatorRequest {
        key: StrBytes::from("group"),
        key_type: 0,
        coordinator_keys: Vec::new(),
    };
    let found = common::eventually(CONVERGE, || {
        let response: std::io::Result<FindCoordinatorResponse> =
            broker.client().try_call(3, &request);
        response.is_ok_and(|response| response.error_code == ErrorCode::None)
    });
    assert!(found, "no coordinator found");
    let replicated = common::eventually(CONVERGE, || {
        let offsets = partitions_of(broker, "__consumer_offsets");
        offsets.len() == 2
            && offsets
                .iter()
                .all(|p| p.replica_nodes.len() == 3 && p.isr_nodes.len() == 3)
    });
    let offsets = partitions_of(broker, "__consumer_offsets");
    assert!(replicated, "{offsets:?}");
}
