//! Consumer groups with librdkafka (the `rdkafka` crate): partitions are split without overlap
//! or gap and move when members join, leave or die; every record is consumed exactly once
//! across a group with synchronous commits; two groups each get every record; commits survive
//! a broker restart.
//!
//! The broker runs with a 100 ms initial rebalance delay and a 1 s minimum session timeout so
//! no test waits seconds per join.
mod common;

use bytes::{BufMut, Bytes, BytesMut};
use rdkafka::ClientConfig;
use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use ringbroker::protocol::error_code::ErrorCode;
use ringbroker::protocol::messages::find_coordinator::FindCoordinatorRequest;
use ringbroker::protocol::messages::join_group::{
    JoinGroupRequest, JoinGroupRequestProtocol, JoinGroupResponse,
};
use ringbroker::protocol::messages::sync_group::{SyncGroupRequest, SyncGroupResponse};
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

const PARTITIONS: i32 = 6;
const TOPIC: &str = "events";

fn start_broker() -> common::Broker {
    common::Broker::start_with(common::BrokerOptions {
        extra_args: vec![
            "--auto-create-partitions".into(),
            PARTITIONS.to_string(),
            "--group-initial-rebalance-delay-ms".into(),
            "100".into(),
        ],
        config_toml: Some(
            "[groups]\nsession_timeout_ms_min = 1000\noffsets_topic_partitions = 5\n".into(),
        ),
        ..common::BrokerOptions::default()
    })
}

fn produce(bootstrap: &str, count: usize, first: usize) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000")
        .create()
        .expect("producer");
    for index in first..first + count {
        let value = format!("record-{index}");
        let partition = i32::try_from(index).unwrap() % PARTITIONS;
        let record = BaseRecord::<(), _>::to(TOPIC)
            .payload(&value)
            .partition(partition);
        producer
            .send(record)
            .map_err(|(error, _)| error)
            .expect("send");
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
}

fn consumer(bootstrap: &str, group: &str) -> BaseConsumer {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "3000")
        .set("heartbeat.interval.ms", "200")
        .set("partition.assignment.strategy", "range")
        .set("topic.metadata.refresh.interval.ms", "500")
        .create()
        .expect("consumer");
    consumer.subscribe(&[TOPIC]).expect("subscribe");
    consumer
}

fn assignment(consumer: &BaseConsumer) -> BTreeSet<i32> {
    consumer
        .assignment()
        .expect("assignment")
        .elements()
        .iter()
        .map(rdkafka::topic_partition_list::TopicPartitionListElem::partition)
        .collect()
}

/// Polls every consumer until `done` holds for their assignments (bounded).
fn poll_until(
    consumers: &[&BaseConsumer],
    timeout: Duration,
    mut done: impl FnMut(&[BTreeSet<i32>]) -> bool,
) {
    let deadline = Instant::now() + timeout;
    loop {
        for consumer in consumers {
            // Messages are not the point here; offsets are not committed.
            let _ = consumer.poll(Duration::from_millis(20));
        }
        let assignments: Vec<_> = consumers
            .iter()
            .map(|consumer| assignment(consumer))
            .collect();
        if done(&assignments) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "assignments stuck at {assignments:?}"
        );
    }
}

/// Disjoint and together exactly `0..PARTITIONS`, each member holding at least one.
fn is_partition_split(assignments: &[BTreeSet<i32>]) -> bool {
    let total: usize = assignments.iter().map(BTreeSet::len).sum();
    let union: BTreeSet<i32> = assignments.iter().flatten().copied().collect();
    total == usize::try_from(PARTITIONS).unwrap()
        && union == (0..PARTITIONS).collect()
        && assignments.iter().all(|assigned| !assigned.is_empty())
}

/// Consumes with a synchronous commit after every record until `expected` records arrived in
/// total; returns (partition, offset) → how many times it was seen.
fn consume_all(consumers: &[&BaseConsumer], expected: usize) -> HashMap<(i32, i64), usize> {
    let mut seen: HashMap<(i32, i64), usize> = HashMap::new();
    let mut total = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while total < expected {
        assert!(Instant::now() < deadline, "consumed {total} of {expected}");
        for consumer in consumers {
            let Some(message) = consumer.poll(Duration::from_millis(20)) else {
                continue;
            };
            let message = message.expect("consume");
            *seen
                .entry((message.partition(), message.offset()))
                .or_default() += 1;
            total += 1;
            consumer
                .commit_message(&message, CommitMode::Sync)
                .expect("synchronous commit");
        }
    }
    // A little more polling would reveal duplicates.
    for _ in 0..20 {
        for consumer in consumers {
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(10)) {
                *seen
                    .entry((message.partition(), message.offset()))
                    .or_default() += 1;
            }
        }
    }
    seen
}

#[test]
fn group_splits_partitions_consumes_exactly_once_and_pub_sub() {
    let broker = start_broker();
    let bootstrap = broker.address.to_string();
    produce(&bootstrap, 600, 0);
    let first = consumer(&bootstrap, "split");
    let second = consumer(&bootstrap, "split");
    poll_until(
        &[&first, &second],
        Duration::from_secs(30),
        is_partition_split,
    );
    let seen = consume_all(&[&first, &second], 600);
    assert_eq!(seen.len(), 600, "every record once");
    assert!(
        seen.values().all(|count| *count == 1),
        "duplicates: {seen:?}"
    );
    // Another group on the same topic gets every record too.
    let other = consumer(&bootstrap, "other");
    let seen = consume_all(&[&other], 600);
    assert_eq!(seen.len(), 600);
}

/// A consumer-protocol Subscription v0 for `topic`: `[version][topics][user_data]`.
fn subscription(topic: &str) -> Bytes {
    let mut bytes = BytesMut::new();
    bytes.put_i16(0);
    bytes.put_i32(1);
    bytes.put_i16(i16::try_from(topic.len()).unwrap());
    bytes.put_slice(topic.as_bytes());
    bytes.put_i32(-1);
    bytes.freeze()
}

/// Joins `group` as a raw-protocol member (session timeout 2 s) and syncs once; it then never
/// heartbeats, like a killed consumer.
fn join_and_die(broker: &common::Broker, group: &str) {
    let mut client = broker.client();
    client.send(
        3,
        1,
        &FindCoordinatorRequest {
            key: group.into(),
            ..Default::default()
        },
    );
    let _ = client.read_frame().expect("find coordinator");
    let mut request = JoinGroupRequest {
        group_id: group.into(),
        session_timeout_ms: 2_000,
        rebalance_timeout_ms: 10_000,
        member_id: "".into(),
        protocol_type: "consumer".into(),
        protocols: vec![JoinGroupRequestProtocol {
            name: "range".into(),
            metadata: subscription(TOPIC),
        }],
        ..Default::default()
    };
    client.send(5, 2, &request);
    let (_, response): (_, JoinGroupResponse) = client.receive(5);
    assert_eq!(response.error_code, ErrorCode::MemberIdRequired);
    request.member_id = response.member_id;
    client.send(5, 3, &request);
    let (_, joined): (_, JoinGroupResponse) = client.receive(5);
    assert_eq!(joined.error_code, ErrorCode::None, "{joined:?}");
    let sync = SyncGroupRequest {
        group_id: group.into(),
        generation_id: joined.generation_id,
        member_id: joined.member_id.clone(),
        ..Default::default()
    };
    client.send(3, 4, &sync);
    let (_, synced): (_, SyncGroupResponse) = client.receive(3);
    assert_eq!(synced.error_code, ErrorCode::None);
    assert!(
        !synced.assignment.is_empty(),
        "the leader assigned the raw member"
    );
}

#[test]
fn partitions_move_on_join_leave_and_session_expiry() {
    let broker = start_broker();
    let bootstrap = broker.address.to_string();
    produce(&bootstrap, 60, 0);
    let first = consumer(&bootstrap, "moves");
    let second = consumer(&bootstrap, "moves");
    poll_until(
        &[&first, &second],
        Duration::from_secs(30),
        is_partition_split,
    );
    // A third member joins: everyone gets two partitions.
    let third = consumer(&bootstrap, "moves");
    poll_until(
        &[&first, &second, &third],
        Duration::from_secs(30),
        |assignments| {
            is_partition_split(assignments)
                && assignments.iter().all(|assigned| assigned.len() == 2)
        },
    );
    // It leaves (LeaveGroup on close): the other two take its partitions.
    drop(third);
    poll_until(
        &[&first, &second],
        Duration::from_secs(30),
        is_partition_split,
    );
    // A member that dies (no heartbeats) holds partitions until its session expires.
    let raw = std::thread::scope(|scope| {
        let handle = scope.spawn(|| join_and_die(&broker, "moves"));
        // Keep the rdkafka members polling so they rejoin while the raw member joins.
        poll_until(&[&first, &second], Duration::from_secs(30), |assignments| {
            handle.is_finished() && assignments.iter().map(BTreeSet::len).sum::<usize>() < 6
        });
        handle.join()
    });
    raw.expect("raw member");
    // After its 2 s session the dead member is expired and the two cover all six again.
    poll_until(
        &[&first, &second],
        Duration::from_secs(30),
        is_partition_split,
    );
}

#[test]
fn commits_survive_a_broker_restart() {
    let mut broker = start_broker();
    let bootstrap = broker.address.to_string();
    produce(&bootstrap, 120, 0);
    {
        let member = consumer(&bootstrap, "durable");
        let seen = consume_all(&[&member], 120);
        assert_eq!(seen.len(), 120);
    }
    broker.restart();
    produce(&bootstrap, 30, 120);
    let member = consumer(&bootstrap, "durable");
    let seen = consume_all(&[&member], 30);
    // Only the 30 new records: the restarted consumer resumed from its committed offsets.
    assert_eq!(seen.len(), 30, "{seen:?}");
    assert!(seen.keys().all(|(_, offset)| *offset >= 20), "{seen:?}");
}
