//! The replication throttle (`--replication-throttle-bytes-per-sec`): three brokers, one shard
//! each, every follower limited to 5 MiB/s. ~20 MiB produced to the leader with acks=1 cannot
//! reach both followers, and so the high watermark (the lowest log end in the ISR), in less
//! than (20 MiB − the bucket's burst − one batch of overshoot) / 5 MiB/s ≈ 3.7 s; the test
//! asserts the lower bound 3 s, never a speed. `replica.lag.time.max.ms` is 30 s here so the
//! slow followers stay in the ISR and hold the high watermark back. The leader's trace also
//! shows the followers fetching through incremental sessions. Every wait is bounded.
mod common;

use common::{Broker, BrokerOptions, RawClient};
use ringbroker::protocol::messages::create_topics::{
    CreatableTopic, CreatableTopicConfig, CreateTopicsRequest, CreateTopicsResponse,
};
use ringbroker::protocol::messages::list_offsets::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsResponse, ListOffsetsTopic,
};
use ringbroker::protocol::messages::metadata::{
    MetadataRequest, MetadataRequestTopic, MetadataResponse,
};
use ringbroker::protocol::messages::produce::{
    PartitionProduceData, ProduceRequest, ProduceResponse, TopicProduceData,
};
use ringbroker::protocol::{ErrorCode, StrBytes};
use ringbroker::storage::testing::build_batch_sized;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const TOPIC: &str = "throttled";
const RATE: u64 = 5 * 1024 * 1024;
const BATCH_SIZE: usize = 256 * 1024;
const BATCHES: i64 = 80;
const CONVERGE: Duration = Duration::from_secs(60);

fn start_cluster() -> Vec<Broker> {
    let voters: Vec<String> = (1..=3)
        .map(|id| format!("{id}@{}", common::free_address()))
        .collect();
    let voters = voters.join(",");
    let rate = RATE.to_string();
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
                "30000",
                "--replication-throttle-bytes-per-sec",
                &rate,
                "--auto-create-partitions",
                "0",
                "--log-level",
                "info,ringbroker::handlers::fetch=trace",
            ];
            Broker::spawn(BrokerOptions {
                shards: 1,
                extra_args: args.iter().map(|s| (*s).to_owned()).collect(),
                ..BrokerOptions::default()
            })
        })
        .collect();
    for broker in &mut brokers {
        broker.wait_ready();
    }
    brokers
}

fn create_topic(broker: &Broker) {
    let mut client = RawClient::connect(broker.address);
    let request = CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: StrBytes::from(TOPIC),
            num_partitions: 1,
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
    assert_eq!(response.topics[0].error_code, ErrorCode::None);
}

/// (leader, ISR) of partition 0, from the first broker that answers.
fn leadership(brokers: &[Broker]) -> Option<(i32, BTreeSet<i32>)> {
    brokers.iter().find_map(|broker| {
        let mut client = RawClient::try_connect(broker.address).ok()?;
        let request = MetadataRequest {
            topics: Some(vec![MetadataRequestTopic {
                name: Some(StrBytes::from(TOPIC)),
                ..MetadataRequestTopic::default()
            }]),
            ..MetadataRequest::default()
        };
        let response: MetadataResponse = client.try_call(12, &request).ok()?;
        let partition = response.topics.first()?.partitions.first()?.clone();
        Some((
            partition.leader_id,
            partition.isr_nodes.into_iter().collect(),
        ))
    })
}

fn produce(client: &mut RawClient, seed: u64) {
    let batch = build_batch_sized(1, common::now_ms(), BATCH_SIZE, seed).freeze();
    let request = ProduceRequest {
        acks: 1,
        timeout_ms: 10_000,
        topic_data: vec![TopicProduceData {
            name: StrBytes::from_static(TOPIC),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(batch),
            }],
            ..TopicProduceData::default()
        }],
        ..ProduceRequest::default()
    };
    client.send(9, 1, &request);
    let (_, response) = client.receive::<ProduceResponse>(9);
    let result = &response.responses[0].partition_responses[0];
    assert_eq!(
        result.error_code,
        ErrorCode::None,
        "{:?}",
        result.error_message
    );
}

/// The leader's high watermark (ListOffsets latest).
fn high_watermark(client: &mut RawClient) -> i64 {
    let request = ListOffsetsRequest {
        replica_id: -1,
        topics: vec![ListOffsetsTopic {
            name: StrBytes::from_static(TOPIC),
            partitions: vec![ListOffsetsPartition {
                partition_index: 0,
                timestamp: -1,
                ..ListOffsetsPartition::default()
            }],
        }],
        ..ListOffsetsRequest::default()
    };
    let response: ListOffsetsResponse = client.try_call(5, &request).unwrap();
    let partition = &response.topics[0].partitions[0];
    assert_eq!(partition.error_code, ErrorCode::None);
    partition.offset
}

#[test]
fn throttled_followers_catch_up_no_faster_than_the_rate() {
    let brokers = start_cluster();
    create_topic(&brokers[0]);
    let all: BTreeSet<i32> = [1, 2, 3].into();
    let ready = common::eventually(CONVERGE, || {
        leadership(&brokers).is_some_and(|(leader, isr)| leader > 0 && isr == all)
    });
    assert!(
        ready,
        "ISR never held every replica: {:?}",
        leadership(&brokers)
    );
    let (leader, _) = leadership(&brokers).unwrap();
    let leader_broker = &brokers[usize::try_from(leader - 1).unwrap()];
    let mut client = RawClient::connect(leader_broker.address);
    let started = Instant::now();
    for seed in 0..BATCHES {
        produce(&mut client, u64::try_from(seed).unwrap() + 1);
    }
    let produced = started.elapsed();
    let mut caught_up = None;
    let deadline = started + CONVERGE;
    while Instant::now() < deadline {
        if high_watermark(&mut client) == BATCHES {
            caught_up = Some(started.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let Some(caught_up) = caught_up else {
        panic!(
            "the followers never caught up: HW {}",
            high_watermark(&mut client)
        );
    };
    eprintln!("produced in {produced:?}, high watermark at the end after {caught_up:?}");
    let total = BATCHES * i64::try_from(BATCH_SIZE).unwrap();
    let burst_and_overshoot = 2 * BATCH_SIZE as i64 + i64::try_from(RATE / 10).unwrap();
    let floor_ms = (total - burst_and_overshoot) * 1000 / i64::try_from(RATE).unwrap();
    assert!(floor_ms >= 3_000, "the bound below is {floor_ms} ms");
    assert!(
        caught_up >= Duration::from_secs(3),
        "20 MiB replicated in {caught_up:?} at a {RATE} B/s throttle"
    );
    // The slow followers never left the ISR (the HW waited for them).
    assert_eq!(leadership(&brokers).map(|(_, isr)| isr), Some(all));
    // The followers fetched through incremental sessions (the leader traces each answer).
    assert!(
        leader_broker.log().contains("incremental fetch answered"),
        "the followers never fetched incrementally"
    );
}
