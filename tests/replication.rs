//! Partition replication across three real broker processes (issue 16): an RF 3 topic's
//! followers copy the leader's batches byte for byte, the ISR holds every replica, acks=all
//! answers once the in-sync replicas have the batch, consumers read only committed records,
//! and a kill -9 of a leader loses nothing that was acknowledged. The fault schedules and the
//! Jepsen-style checker are in `replication_faults.rs`; this file is the plain path.
//! Timeouts are scaled down by flags (heartbeats 100 ms, sessions 1 s, replica lag 2 s);
//! every wait is a bounded poll.
mod common;

use common::{Broker, BrokerOptions, RawClient};
use ringbroker::protocol::messages::create_topics::{
    CreatableTopic, CreatableTopicConfig, CreateTopicsRequest, CreateTopicsResponse,
};
use ringbroker::protocol::messages::metadata::{
    MetadataRequest, MetadataRequestTopic, MetadataResponse,
};
use ringbroker::protocol::{ErrorCode, StrBytes};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

const CONVERGE: Duration = Duration::from_secs(30);

struct Cluster {
    brokers: Vec<Broker>,
}

impl Cluster {
    fn start() -> Self {
        let voters: Vec<String> = (1..=3)
            .map(|id| format!("{id}@{}", common::free_address()))
            .collect();
        let voters = voters.join(",");
        let mut brokers: Vec<Broker> = (1..=3)
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
                    "--replica-lag-time-max-ms",
                    "2000",
                    "--auto-create-partitions",
                    "0",
                ];
                Broker::spawn(BrokerOptions {
                    extra_args: args.iter().map(|s| (*s).to_owned()).collect(),
                    ..BrokerOptions::default()
                })
            })
            .collect();
        for broker in &mut brokers {
            broker.wait_ready();
        }
        Self { brokers }
    }

    fn broker(&mut self, node_id: i32) -> &mut Broker {
        &mut self.brokers[usize::try_from(node_id - 1).unwrap()]
    }

    fn bootstrap(&self) -> String {
        self.brokers
            .iter()
            .map(|broker| broker.address.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Metadata from the first broker that answers.
    fn metadata(&mut self, topic: &str) -> Option<MetadataResponse> {
        self.brokers.iter_mut().find_map(|broker| {
            if !broker.is_running() {
                return None;
            }
            let mut client = RawClient::try_connect(broker.address).ok()?;
            let request = MetadataRequest {
                topics: Some(vec![MetadataRequestTopic {
                    name: Some(StrBytes::from(topic)),
                    ..MetadataRequestTopic::default()
                }]),
                ..MetadataRequest::default()
            };
            client.try_call(12, &request).ok()
        })
    }

    /// (leader, ISR) by partition.
    fn leadership(&mut self, topic: &str) -> BTreeMap<i32, (i32, BTreeSet<i32>)> {
        self.metadata(topic)
            .and_then(|response| response.topics.into_iter().next())
            .map(|topic| {
                topic
                    .partitions
                    .into_iter()
                    .map(|p| {
                        let isr = p.isr_nodes.into_iter().collect();
                        (p.partition_index, (p.leader_id, isr))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until every partition has a leader and the ISR `expected`.
    fn wait_isr(&mut self, topic: &str, expected: &BTreeSet<i32>) -> bool {
        common::eventually(CONVERGE, || {
            let leadership = self.leadership(topic);
            !leadership.is_empty()
                && leadership
                    .values()
                    .all(|(leader, isr)| *leader >= 0 && isr == expected)
        })
    }
}

fn create_topic(broker: &Broker, name: &str, partitions: i32) -> ErrorCode {
    let mut client = RawClient::connect(broker.address);
    let request = CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: StrBytes::from(name),
            num_partitions: partitions,
            replication_factor: 3,
            configs: vec![CreatableTopicConfig {
                name: StrBytes::from("min.insync.replicas"),
                value: Some(StrBytes::from("2")),
            }],
            ..CreatableTopic::default()
        }],
        timeout_ms: 10_000,
        validate_only: false,
    };
    let response: CreateTopicsResponse = client.try_call(5, &request).unwrap();
    response.topics[0].error_code
}

/// Produces `values` (one record each, to `partition`) with an idempotent acks=all producer;
/// returns the offset each acknowledged value got.
fn produce(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    values: &[String],
) -> BTreeMap<String, i64> {
    use rdkafka::ClientConfig;
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "2")
        .set("message.timeout.ms", "30000")
        .create()
        .expect("producer");
    let futures: Vec<_> = values
        .iter()
        .map(|value| {
            let record = FutureRecord::<str, str>::to(topic)
                .payload(value)
                .partition(partition);
            producer
                .send_result(record)
                .map_err(|(e, _)| e)
                .expect("send")
        })
        .collect();
    let mut acknowledged = BTreeMap::new();
    for (value, future) in values.iter().zip(futures) {
        if let Ok(Ok(delivery)) = common::block(future) {
            acknowledged.insert(value.clone(), delivery.offset);
        }
    }
    acknowledged
}

/// Every record of `topic`/`partition` from the beginning, as (offset, value), read with a
/// consumer until `expected` records came or the deadline passed.
fn consume(bootstrap: &str, topic: &str, partition: i32, expected: usize) -> Vec<(i64, String)> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "replication-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let mut records = Vec::new();
    let deadline = Instant::now() + CONVERGE;
    while records.len() < expected && Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            let value = String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned();
            records.push((message.offset(), value));
        }
    }
    records
}

/// The bytes of every segment file of a partition directory, in file name order.
fn segment_bytes(directory: &Path) -> Vec<u8> {
    let mut names: Vec<_> = std::fs::read_dir(directory)
        .unwrap()
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
        .collect();
    names.sort();
    names
        .iter()
        .flat_map(|path| std::fs::read(path).unwrap())
        .collect()
}

fn values(prefix: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|index| format!("{prefix}-{index}"))
        .collect()
}

#[test]
fn followers_copy_the_leader_byte_for_byte_and_acks_all_needs_the_isr() {
    let mut cluster = Cluster::start();
    assert_eq!(
        create_topic(&cluster.brokers[0], "copied", 2),
        ErrorCode::None
    );
    let all: BTreeSet<i32> = [1, 2, 3].into();
    assert!(
        cluster.wait_isr("copied", &all),
        "ISR never held every replica: {:?}",
        cluster.leadership("copied")
    );
    let bootstrap = cluster.bootstrap();
    let sent = values("v", 500);
    let acknowledged = produce(&bootstrap, "copied", 0, &sent);
    assert_eq!(acknowledged.len(), sent.len(), "acks=all refused records");
    let offsets: BTreeSet<i64> = acknowledged.values().copied().collect();
    assert_eq!(offsets, (0..500).collect(), "offsets are 0..500, each once");
    let read = consume(&bootstrap, "copied", 0, sent.len());
    let read_values: Vec<&str> = read.iter().map(|(_, value)| value.as_str()).collect();
    let sent_values: Vec<&str> = sent.iter().map(String::as_str).collect();
    assert_eq!(
        read_values, sent_values,
        "consumers read every value in order"
    );
    // Stop every broker cleanly, then compare the replicas' files.
    for broker in &mut cluster.brokers {
        broker.terminate();
    }
    let copies: Vec<Vec<u8>> = cluster
        .brokers
        .iter()
        .map(|broker| segment_bytes(&broker.data_dir().join("copied-0")))
        .collect();
    assert!(!copies[0].is_empty());
    assert!(
        copies.iter().all(|copy| *copy == copies[0]),
        "replicas differ: sizes {:?}",
        copies.iter().map(Vec::len).collect::<Vec<_>>()
    );
}

#[test]
fn killing_the_leader_loses_no_acknowledged_record() {
    let mut cluster = Cluster::start();
    assert_eq!(
        create_topic(&cluster.brokers[0], "failover", 1),
        ErrorCode::None
    );
    let all: BTreeSet<i32> = [1, 2, 3].into();
    assert!(cluster.wait_isr("failover", &all));
    let bootstrap = cluster.bootstrap();
    let before = produce(&bootstrap, "failover", 0, &values("before", 300));
    assert_eq!(before.len(), 300);
    let (leader, _) = cluster.leadership("failover")[&0].clone();
    cluster.broker(leader).kill9();
    let moved = common::eventually(CONVERGE, || {
        cluster
            .leadership("failover")
            .get(&0)
            .is_some_and(|(now, isr)| *now >= 0 && *now != leader && isr.len() == 2)
    });
    assert!(moved, "no new leader: {:?}", cluster.leadership("failover"));
    let after = produce(&bootstrap, "failover", 0, &values("after", 300));
    assert_eq!(after.len(), 300, "the two survivors take acks=all writes");
    cluster.broker(leader).start_again();
    assert!(
        cluster.wait_isr("failover", &all),
        "the restarted broker never rejoined the ISR: {:?}",
        cluster.leadership("failover")
    );
    let read = consume(&bootstrap, "failover", 0, 600);
    let by_value: BTreeMap<&str, i64> = read.iter().map(|(o, v)| (v.as_str(), *o)).collect();
    assert_eq!(by_value.len(), read.len(), "a value read twice");
    for (value, offset) in before.iter().chain(&after) {
        assert_eq!(
            by_value.get(value.as_str()),
            Some(offset),
            "acknowledged {value} not at its offset"
        );
    }
}
