//! Fetch in both `fetch_mode`s: spliced responses are byte-exact against what was produced (raw
//! client, non-flexible and flexible versions, several partitions per response, 1 MiB batches
//! and many small ones), librdkafka consumes them, and a leased range survives retention
//! deleting its segment.
mod common;

use bytes::Bytes;
use rdkafka::ClientConfig;
use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use ringbroker::net::splice::SplicePipe;
use ringbroker::protocol::ErrorCode;
use ringbroker::protocol::messages::fetch::{
    FetchPartition, FetchRequest, FetchResponse, FetchTopic,
};
use ringbroker::protocol::messages::produce::{
    PartitionProduceData, ProduceRequest, ProduceResponse, TopicProduceData,
};
use ringbroker::protocol::primitives::StrBytes;
use ringbroker::protocol::record_batch::BatchSplitter;
use ringbroker::shard::logs::lease_ranges;
use ringbroker::storage::testing::build_batch_sized;
use ringbroker::storage::{Clock, LogConfig, ManualClock, PartitionLog};
use std::rc::Rc;
use std::time::{Duration, Instant};

const TOPIC: &str = "spliced";
const LARGE_PAYLOAD: usize = 1024 * 1024 - 100;
const LARGE_COUNT: usize = 3;
const SMALL_COUNT: usize = 300;

fn start(mode: &str) -> common::Broker {
    common::Broker::start_with(common::BrokerOptions {
        config_toml: Some(format!(
            "fetch_mode = \"{mode}\"\nauto_create_partitions = 3\n"
        )),
        ..common::BrokerOptions::default()
    })
}

fn produce(client: &mut common::RawClient, partition: i32, records: Bytes) {
    let request = ProduceRequest {
        acks: -1,
        timeout_ms: 10_000,
        topic_data: vec![TopicProduceData {
            name: StrBytes::from_static(TOPIC),
            partition_data: vec![PartitionProduceData {
                index: partition,
                records: Some(records),
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

/// What each partition was sent: partition 0 large batches, 1 nothing, 2 small batches.
fn produce_all(client: &mut common::RawClient) -> [Vec<Bytes>; 3] {
    let mut large = Vec::new();
    for seed in 0..LARGE_COUNT as u64 {
        let batch = build_batch_sized(1, 1_000, LARGE_PAYLOAD, seed + 1).freeze();
        produce(client, 0, batch.clone());
        large.push(batch);
    }
    let small: Vec<Bytes> = (0..SMALL_COUNT as u64)
        .map(|seed| build_batch_sized(2, 1_000, 40 + (seed as usize % 70), seed + 100).freeze())
        .collect();
    // All small batches in one request: one records blob of many batches.
    produce(client, 2, small.concat().into());
    [large, Vec::new(), small]
}

fn fetch(client: &mut common::RawClient, version: i16, partition_max_bytes: i32) -> FetchResponse {
    let request = FetchRequest {
        max_wait_ms: 0,
        min_bytes: 0,
        max_bytes: 64 << 20,
        topics: vec![FetchTopic {
            topic: StrBytes::from_static(TOPIC),
            partitions: (0..3)
                .map(|partition| FetchPartition {
                    partition,
                    fetch_offset: 0,
                    partition_max_bytes,
                    ..FetchPartition::default()
                })
                .collect(),
            ..FetchTopic::default()
        }],
        ..FetchRequest::default()
    };
    client.send(version, 7, &request);
    let (correlation_id, response) = client.receive::<FetchResponse>(version);
    assert_eq!(correlation_id, 7);
    response
}

/// Every batch of `records` equals the one sent, except the base offset and leader epoch the
/// log assigned (bytes 0..8 and 12..16; the CRC covers neither).
fn assert_batches(records: &Bytes, sent: &[Bytes], version: i16, partition: usize) {
    let mut splitter = BatchSplitter::new(records.clone());
    let received: Vec<Bytes> = splitter.by_ref().collect();
    assert!(
        splitter.remainder().is_empty(),
        "v{version} p{partition}: partial batch"
    );
    assert_eq!(
        received.len(),
        sent.len(),
        "v{version} p{partition}: batch count"
    );
    let mut next_offset = 0i64;
    for (index, (got, want)) in received.iter().zip(sent).enumerate() {
        assert_eq!(
            got.len(),
            want.len(),
            "v{version} p{partition} batch {index}"
        );
        assert_eq!(got[8..12], want[8..12]);
        assert!(
            got[16..] == want[16..],
            "v{version} p{partition} batch {index} differs"
        );
        let base_offset = i64::from_be_bytes(got[..8].try_into().unwrap());
        assert_eq!(base_offset, next_offset);
        next_offset += i64::from(i32::from_be_bytes(want[57..61].try_into().unwrap()));
    }
}

fn raw_round_trip(mode: &str) {
    let broker = start(mode);
    let mut client = broker.client();
    let sent = produce_all(&mut client);
    let pipes_before = pipe_count(&broker);
    // v4 and v11: i32 lengths; v12: compact lengths and tagged fields.
    for version in [4, 11, 12] {
        let response = fetch(&mut client, version, 8 << 20);
        assert_eq!(response.responses.len(), 1);
        let partitions = &response.responses[0].partitions;
        assert_eq!(partitions.len(), 3);
        for (index, data) in partitions.iter().enumerate() {
            assert_eq!(data.error_code, ErrorCode::None, "v{version} p{index}");
            assert_eq!(data.partition_index, i32::try_from(index).unwrap());
            let records = data.records.clone().unwrap();
            assert_batches(&records, &sent[index], version, index);
        }
        // KIP-74: a partition limit below one batch still returns the first batch whole.
        let response = fetch(&mut client, version, 1000);
        let partitions = &response.responses[0].partitions;
        let first = partitions[0].records.clone().unwrap();
        assert_batches(&first, &sent[0][..1], version, 0);
        let small = partitions[2].records.clone().unwrap();
        assert!(
            !small.is_empty() && small.len() <= 1000,
            "{} bytes",
            small.len()
        );
    }
    // The connection is still in step after the spliced responses.
    let response = fetch(&mut client, 12, 1 << 20);
    assert_eq!(response.responses[0].partitions.len(), 3);
    // Splice mode sent through one pipe (two fds) for the connection, copy mode through none.
    let expected = pipes_before + 2 * usize::from(mode == "splice");
    assert_eq!(pipe_count(&broker), expected, "{mode}: pipes of the broker");
}

/// Pipes the broker process holds open.
fn pipe_count(broker: &common::Broker) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", broker.pid()))
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("pipe:"))
        .count()
}

#[test]
fn splice_mode_is_byte_exact() {
    raw_round_trip("splice");
}

#[test]
fn copy_mode_is_byte_exact() {
    raw_round_trip("copy");
}

/// librdkafka: ~1 MiB batches (8 records of 120 KiB lingered together) and many small records.
fn rdkafka_round_trip(mode: &str) {
    let broker = start(mode);
    let bootstrap = broker.address.to_string();
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("linger.ms", "20")
        .set("batch.size", "1000000")
        .set("message.timeout.ms", "30000")
        .create()
        .expect("producer");
    let large: Vec<Vec<u8>> = (0..16u8).map(|seed| vec![seed; 120 * 1024]).collect();
    let small: Vec<String> = (0..5_000).map(|index| format!("small-{index}")).collect();
    let values: Vec<&[u8]> = large
        .iter()
        .map(Vec::as_slice)
        .chain(small.iter().map(String::as_bytes))
        .collect();
    for value in &values {
        let mut record = BaseRecord::<(), [u8]>::to(TOPIC)
            .payload(*value)
            .partition(0);
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Err((error, returned)) = producer.send(record) {
            assert!(Instant::now() < deadline, "queue stayed full: {error}");
            record = returned;
            producer.poll(Duration::from_millis(10));
        }
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "unused-manual-assignment")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(TOPIC, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).expect("assign");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut next = 0usize;
    while next < values.len() {
        assert!(
            Instant::now() < deadline,
            "only {next} of {} consumed",
            values.len()
        );
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message.expect("consume error");
        assert_eq!(message.offset(), i64::try_from(next).unwrap());
        assert!(
            message.payload() == Some(values[next]),
            "record {next} differs"
        );
        next += 1;
    }
}

#[test]
fn rdkafka_consumes_spliced_batches() {
    rdkafka_round_trip("splice");
}

#[test]
fn rdkafka_consumes_copied_batches() {
    rdkafka_round_trip("copy");
}

/// A fetch resolved before retention deletes its segment still sends the segment's bytes: the
/// duplicated fd is the lease.
#[compio::test]
async fn a_leased_range_outlives_retention() {
    let directory = tempfile::tempdir().unwrap();
    let clock: Rc<dyn Clock> = Rc::new(ManualClock::new(1_000));
    let config = LogConfig {
        segment_bytes: 3000,
        ..LogConfig::default()
    };
    let path = directory.path().join("t-0");
    let mut log = PartitionLog::open(path.clone(), config, clock)
        .await
        .unwrap();
    let batches: Vec<Bytes> = (0..3u64)
        .map(|seed| build_batch_sized(1, 1_000, 2000, seed).freeze())
        .collect();
    for batch in &batches {
        log.append(vec![batch.as_ref().into()], 0).await.unwrap();
    }
    assert_eq!(log.segment_count(), 3);
    let slice = log.read(0, 1000, true).await.unwrap();
    let leased = lease_ranges(&slice).unwrap();
    drop(slice);
    assert_eq!(leased.len(), 1);
    let first_segment = path.join("00000000000000000000.log");
    assert!(first_segment.exists());
    log.delete_records_before(1).await.unwrap();
    log.enforce_retention().await.unwrap();
    assert!(
        !first_segment.exists(),
        "retention deleted the first segment"
    );
    // Splice the leased range through a pipe into a loopback connection.
    let listener = compio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut received = vec![0u8; 2061];
        stream.read_exact(&mut received).unwrap();
        received
    });
    let (socket, _) = listener.accept().await.unwrap();
    let pipe = SplicePipe::new().unwrap();
    assert!(pipe.capacity() > 0);
    pipe.send(&socket, &leased[0], false).await.unwrap();
    let received = reader.join().unwrap();
    assert_eq!(received.len(), batches[0].len());
    assert!(received[16..] == batches[0][16..], "leased bytes differ");
}
