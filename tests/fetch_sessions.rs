//! Fetch sessions (KIP-227) against the real broker, with raw requests: a full fetch creates a
//! session, incremental fetches name only what changed and hear only partitions with news,
//! forgotten partitions leave the session, a wrong epoch / unknown id / other topic
//! addressing is refused, a final fetch closes the session, and closing the connection ends
//! it. Both fetch modes (splice keeps leased ranges in step with the filtered answer).
//!
//! librdkafka (2.12) does not use fetch sessions at all (its INTRODUCTION.md lists KIP-227 as
//! not supported; it sends session id 0, epoch -1), so the rdkafka test checks that the
//! sessionless path still reads everything in order. The broker's follower fetchers are the
//! other session client (tests/replication.rs).
mod common;

use bytes::Bytes;
use rdkafka::ClientConfig;
use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use ringbroker::protocol::ErrorCode;
use ringbroker::protocol::messages::fetch::{
    FetchPartition, FetchRequest, FetchResponse, FetchTopic, ForgottenTopic,
};
use ringbroker::protocol::messages::produce::{
    PartitionProduceData, ProduceRequest, ProduceResponse, TopicProduceData,
};
use ringbroker::protocol::primitives::StrBytes;
use ringbroker::storage::testing::build_batch_sized;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const TOPIC: &str = "sessions";
/// Fetch version of the raw tests: sessions (v7+), topics by name (≤ v12), flexible.
const VERSION: i16 = 12;

fn start(mode: &str) -> common::Broker {
    common::Broker::start_with(common::BrokerOptions {
        shards: 1,
        config_toml: Some(format!(
            "fetch_mode = \"{mode}\"\nauto_create_partitions = 3\n"
        )),
        ..common::BrokerOptions::default()
    })
}

fn produce(client: &mut common::RawClient, partition: i32, records: i32) {
    let batch = build_batch_sized(records, common::now_ms(), 100, 7).freeze();
    let request = ProduceRequest {
        acks: -1,
        timeout_ms: 10_000,
        topic_data: vec![TopicProduceData {
            name: StrBytes::from_static(TOPIC),
            partition_data: vec![PartitionProduceData {
                index: partition,
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

/// A fetch of `(partition, offset)` pairs with session fields and forgotten partitions.
fn request(session: (i32, i32), partitions: &[(i32, i64)], forgotten: &[i32]) -> FetchRequest {
    FetchRequest {
        max_wait_ms: 0,
        min_bytes: 0,
        max_bytes: 1 << 20,
        session_id: session.0,
        session_epoch: session.1,
        topics: if partitions.is_empty() {
            Vec::new()
        } else {
            vec![FetchTopic {
                topic: StrBytes::from_static(TOPIC),
                partitions: partitions
                    .iter()
                    .map(|&(partition, fetch_offset)| FetchPartition {
                        partition,
                        fetch_offset,
                        partition_max_bytes: 1 << 20,
                        ..FetchPartition::default()
                    })
                    .collect(),
                ..FetchTopic::default()
            }]
        },
        forgotten_topics_data: if forgotten.is_empty() {
            Vec::new()
        } else {
            vec![ForgottenTopic {
                topic: StrBytes::from_static(TOPIC),
                partitions: forgotten.to_vec(),
                ..ForgottenTopic::default()
            }]
        },
        ..FetchRequest::default()
    }
}

fn fetch(client: &mut common::RawClient, version: i16, request: &FetchRequest) -> FetchResponse {
    client.send(version, 5, request);
    let (correlation_id, response) = client.receive::<FetchResponse>(version);
    assert_eq!(correlation_id, 5);
    response
}

/// Partition → (record bytes, high watermark) of every partition in `response`.
fn answered(response: &FetchResponse) -> BTreeMap<i32, (usize, i64)> {
    assert_eq!(response.error_code, ErrorCode::None);
    let mut answered = BTreeMap::new();
    for topic in &response.responses {
        assert_eq!(topic.topic.as_str(), TOPIC);
        assert!(!topic.partitions.is_empty(), "a topic with no partitions");
        for data in &topic.partitions {
            assert_eq!(
                data.error_code,
                ErrorCode::None,
                "p{}",
                data.partition_index
            );
            let size = data.records.as_ref().map_or(0, Bytes::len);
            let previous = answered.insert(data.partition_index, (size, data.high_watermark));
            assert!(previous.is_none(), "p{} twice", data.partition_index);
        }
    }
    answered
}

fn incremental_session_round_trip(mode: &str) {
    let broker = start(mode);
    let mut client = broker.client();
    produce(&mut client, 0, 3);
    produce(&mut client, 2, 5);
    // Full fetch, epoch 0: a session with every partition, all answered.
    let full = fetch(
        &mut client,
        VERSION,
        &request((0, 0), &[(0, 0), (1, 0), (2, 0)], &[]),
    );
    let id = full.session_id;
    assert_ne!(id, 0, "{mode}: no session created");
    let all = answered(&full);
    assert_eq!(all.keys().copied().collect::<Vec<_>>(), vec![0, 1, 2]);
    assert!(all[&0].0 > 0 && all[&1].0 == 0 && all[&2].0 > 0, "{all:?}");
    assert_eq!((all[&0].1, all[&2].1), (3, 5));
    // Incremental, the two partitions that moved named at their new offsets: nothing new.
    let quiet = fetch(
        &mut client,
        VERSION,
        &request((id, 1), &[(0, 3), (2, 5)], &[]),
    );
    assert_eq!(quiet.session_id, id);
    assert!(answered(&quiet).is_empty(), "{mode}: {quiet:?}");
    // New records on partition 1 (never named since the full fetch): only it is answered.
    produce(&mut client, 1, 2);
    let news = answered(&fetch(&mut client, VERSION, &request((id, 2), &[], &[])));
    assert_eq!(news.keys().copied().collect::<Vec<_>>(), vec![1]);
    assert!(news[&1].0 > 0);
    assert_eq!(news[&1].1, 2);
    // Forget partition 1; its new records are no longer answered, partition 0's are.
    let forget = fetch(&mut client, VERSION, &request((id, 3), &[], &[1]));
    assert!(answered(&forget).is_empty(), "{mode}: {forget:?}");
    produce(&mut client, 1, 1);
    produce(&mut client, 0, 1);
    let after = answered(&fetch(&mut client, VERSION, &request((id, 4), &[], &[])));
    assert_eq!(after.keys().copied().collect::<Vec<_>>(), vec![0], "{mode}");
    // A wrong epoch is refused and leaves the session as it was.
    let stale = fetch(&mut client, VERSION, &request((id, 99), &[], &[]));
    assert_eq!(stale.error_code, ErrorCode::InvalidFetchSessionEpoch);
    assert!(stale.responses.is_empty());
    // Topics by id (v13+) in a session made by name.
    let by_id = fetch(&mut client, 13, &request((id, 5), &[], &[]));
    assert_eq!(by_id.error_code, ErrorCode::FetchSessionTopicIdError);
    // Partition 0 was answered at epoch 4 and not moved: nothing new at epoch 5.
    let next = fetch(&mut client, VERSION, &request((id, 5), &[(0, 4)], &[]));
    assert!(answered(&next).is_empty(), "{mode}: {next:?}");
    // An id this broker never gave out.
    let unknown = fetch(&mut client, VERSION, &request((id ^ 0x7f00, 1), &[], &[]));
    assert_eq!(unknown.error_code, ErrorCode::FetchSessionIdNotFound);
    // Epoch -1 closes the session: a full answer without one, then the id is gone.
    let last = fetch(&mut client, VERSION, &request((id, -1), &[(2, 0)], &[]));
    assert_eq!(last.session_id, 0);
    assert_eq!(answered(&last).keys().copied().collect::<Vec<_>>(), vec![2]);
    let gone = fetch(&mut client, VERSION, &request((id, 6), &[], &[]));
    assert_eq!(gone.error_code, ErrorCode::FetchSessionIdNotFound);
}

#[test]
fn incremental_sessions_in_splice_mode() {
    incremental_session_round_trip("splice");
}

#[test]
fn incremental_sessions_in_copy_mode() {
    incremental_session_round_trip("copy");
}

#[test]
fn a_session_ends_with_its_connection() {
    let broker = start("splice");
    let mut client = broker.client();
    produce(&mut client, 0, 1);
    let full = fetch(&mut client, VERSION, &request((0, 0), &[(0, 0)], &[]));
    let id = full.session_id;
    assert_ne!(id, 0);
    // Another connection may use the session (same shard: the broker runs one)...
    let mut other = broker.client();
    let used = fetch(&mut other, VERSION, &request((id, 1), &[(0, 1)], &[]));
    assert_eq!(used.error_code, ErrorCode::None);
    drop(other);
    // ...but it ends when the connection that created it closes.
    drop(client);
    let mut epoch = 2;
    let ended = common::eventually(Duration::from_secs(10), || {
        let mut probe = broker.client();
        let response = fetch(&mut probe, VERSION, &request((id, epoch), &[], &[]));
        if response.error_code == ErrorCode::None {
            epoch += 1;
        }
        response.error_code == ErrorCode::FetchSessionIdNotFound
    });
    assert!(ended, "session {id} outlived its connection");
}

#[test]
fn rdkafka_consumer_reads_everything_in_order() {
    let broker = start("splice");
    let bootstrap = broker.address.to_string();
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000")
        .create()
        .expect("producer");
    let count = 3_000usize;
    for index in 0..count {
        let value = format!("value-{index}");
        let partition = i32::try_from(index % 3).unwrap();
        let mut record = BaseRecord::<(), str>::to(TOPIC)
            .payload(value.as_str())
            .partition(partition);
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
        .set("fetch.message.max.bytes", "4000")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    for partition in 0..3 {
        assignment
            .add_partition_offset(TOPIC, partition, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).expect("assign");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut next = [0usize; 3];
    let mut consumed = 0;
    while consumed < count {
        assert!(
            Instant::now() < deadline,
            "only {consumed} of {count} consumed"
        );
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message.expect("consume error");
        let partition = usize::try_from(message.partition()).unwrap();
        assert_eq!(message.offset(), i64::try_from(next[partition]).unwrap());
        let expected = format!("value-{}", next[partition] * 3 + partition);
        assert_eq!(message.payload(), Some(expected.as_bytes()));
        next[partition] += 1;
        consumed += 1;
    }
}
