//! The replication throttle (`--replication-throttle-bytes-per-sec`): three brokers, one shard
//! each, every follower limited to 5 MiB/s. ~20 MiB produced to the leader with acks=1 cannot
//! reach both followers, and so the high watermark (the lowest log end in the ISR), in less
//! than (20 MiB − the bucket's burst − one batch of overshoot) / 5 MiB/s ≈ 3.7 s; the test
//! asserts the lower bound 3 s, never a speed. `replica.lag.time.max.ms` is 30 s here so the
//! slow followers stay in the ISR and hold the high watermark back. The leader's trace also
//! shows the followers fetching through incremental sessions. Every wait is bounded.
mod common;

use common::RawClient;
use common::cluster::Cluster;
use ringbroker::protocol::messages::list_offsets::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsResponse, ListOffsetsTopic,
};
use ringbroker::protocol::messages::produce::{
    PartitionProduceData, ProduceRequest, ProduceResponse, TopicProduceData,
};
use ringbroker::protocol::{ErrorCode, StrBytes};
use ringbroker::storage::testing::build_batch_sized;
use std::time::{Duration, Instant};

const TOPIC: &str = "throttled";
const RATE: u64 = 5 * 1024 * 1024;
const BATCH_SIZE: usize = 256 * 1024;
const BATCHES: i64 = 80;
const CONVERGE: Duration = Duration::from_secs(60);

/// Three voters of one shard each (the harness's scaled timeouts), followers throttled to
/// [`RATE`], a replica lag long enough that slow followers stay in the ISR, and the fetch
/// handler's trace on.
fn start_cluster() -> Cluster {
    let rate = RATE.to_string();
    Cluster::start_tuned(
        3,
        1,
        &[
            "--replica-lag-time-max-ms",
            "30000",
            "--replication-throttle-bytes-per-sec",
            &rate,
            "--log-level",
            "info,ringbroker::handlers::fetch=trace",
        ],
    )
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
    let cluster = start_cluster();
    cluster.create_topic(TOPIC, 1, 3, &[("min.insync.replicas", "2")]);
    let Some(ready) = cluster.wait_isr_full(TOPIC, CONVERGE) else {
        panic!("ISR never held every replica:\n{}", cluster.views(TOPIC));
    };
    let leader_broker = cluster.broker(ready[0].leader);
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
    let after = cluster.partitions(TOPIC).expect("metadata");
    assert!(after[0].isr_is_full(), "ISR shrank: {after:?}");
    // The followers fetched through incremental sessions (the leader traces each answer).
    assert!(
        leader_broker.log().contains("incremental fetch answered"),
        "the followers never fetched incrementally"
    );
}
