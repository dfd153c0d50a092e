//! Topic resolution over raw frames against the real broker: auto-creation on Metadata and
//! Produce (and its off switch), Kafka's topic-name rules, topic ids in Metadata v10+,
//! Produce v13 and Fetch v13+, and per-partition error codes.
mod common;

use bytes::BytesMut;
use ringbroker::protocol::messages::fetch::{
    FetchPartition, FetchRequest, FetchResponse, FetchTopic,
};
use ringbroker::protocol::messages::metadata::{
    MetadataRequest, MetadataRequestTopic, MetadataResponse,
};
use ringbroker::protocol::messages::produce::{
    PartitionProduceData, ProduceRequest, ProduceResponse, TopicProduceData,
};
use ringbroker::protocol::records::{BatchBuilder, BatchOptions, NewRecord, Records};
use ringbroker::protocol::{ErrorCode, StrBytes, Uuid};

fn metadata(client: &mut common::RawClient, version: i16, names: &[&str]) -> MetadataResponse {
    let request = MetadataRequest {
        topics: Some(
            names
                .iter()
                .map(|name| MetadataRequestTopic {
                    name: Some(StrBytes::from(*name)),
                    ..Default::default()
                })
                .collect(),
        ),
        allow_auto_topic_creation: true,
        ..MetadataRequest::default()
    };
    client.send(version, 1, &request);
    client.receive::<MetadataResponse>(version).1
}

fn batch(values: &[&str]) -> bytes::Bytes {
    let mut output = BytesMut::new();
    let mut scratch = BytesMut::new();
    let mut builder = BatchBuilder::new(&mut output, &mut scratch, BatchOptions::default());
    for value in values {
        builder
            .append(&NewRecord {
                timestamp: common::now_ms(),
                key: None,
                value: Some(value.as_bytes()),
                headers: &[],
            })
            .unwrap();
    }
    builder.finish().unwrap();
    output.freeze()
}

fn start(auto_create: &str) -> common::Broker {
    common::Broker::start_with(common::BrokerOptions {
        extra_args: vec!["--auto-create-partitions".into(), auto_create.into()],
        ..common::BrokerOptions::default()
    })
}

#[test]
fn metadata_auto_creates_with_the_configured_partition_count() {
    let broker = start("3");
    let mut client = broker.client();
    let response = metadata(&mut client, 12, &["auto"]);
    let topic = &response.topics[0];
    assert_eq!(topic.error_code, ErrorCode::None);
    assert_eq!(topic.partitions.len(), 3);
    assert!(!topic.topic_id.is_zero());
    assert_eq!(response.brokers.len(), 1);
    assert_eq!(response.brokers[0].port, i32::from(broker.address.port()));
    // The same id on a second look, and on an old version without ids the name still resolves.
    let again = metadata(&mut client, 12, &["auto"]);
    assert_eq!(again.topics[0].topic_id, topic.topic_id);
    let v1 = metadata(&mut client, 1, &["auto"]);
    assert_eq!(v1.topics[0].partitions.len(), 3);
}

#[test]
fn auto_creation_off_and_illegal_names() {
    let broker = start("0");
    let mut client = broker.client();
    let response = metadata(&mut client, 12, &["missing", "bad/name", &"x".repeat(250)]);
    let codes: Vec<ErrorCode> = response
        .topics
        .iter()
        .map(|topic| topic.error_code)
        .collect();
    assert_eq!(
        codes,
        [
            ErrorCode::UnknownTopicOrPartition,
            ErrorCode::InvalidTopicException,
            ErrorCode::InvalidTopicException
        ]
    );
}

#[test]
fn topic_ids_address_produce_v13_fetch_v13_and_metadata_v10() {
    let broker = start("2");
    let mut client = broker.client();
    let topic_id = metadata(&mut client, 12, &["ids"]).topics[0].topic_id;

    let by_id = MetadataRequest {
        topics: Some(vec![MetadataRequestTopic {
            topic_id,
            name: None,
        }]),
        ..MetadataRequest::default()
    };
    client.send(12, 2, &by_id);
    let (_, response) = client.receive::<MetadataResponse>(12);
    assert_eq!(response.topics[0].name.as_deref(), Some("ids"));

    let produce = ProduceRequest {
        acks: -1,
        timeout_ms: 5000,
        topic_data: vec![TopicProduceData {
            topic_id,
            partition_data: vec![PartitionProduceData {
                index: 1,
                records: Some(batch(&["a", "b"])),
            }],
            ..TopicProduceData::default()
        }],
        ..ProduceRequest::default()
    };
    client.send(13, 3, &produce);
    let (_, produced) = client.receive::<ProduceResponse>(13);
    let partition = &produced.responses[0].partition_responses[0];
    assert_eq!(partition.error_code, ErrorCode::None);
    assert_eq!(partition.base_offset, 0);

    let fetch = |topic_id: Uuid| FetchRequest {
        max_wait_ms: 0,
        min_bytes: 0,
        max_bytes: 1 << 20,
        topics: vec![FetchTopic {
            topic_id,
            partitions: vec![FetchPartition {
                partition: 1,
                fetch_offset: 0,
                partition_max_bytes: 1 << 20,
                ..FetchPartition::default()
            }],
            ..FetchTopic::default()
        }],
        ..FetchRequest::default()
    };
    client.send(13, 4, &fetch(topic_id));
    let (_, fetched) = client.receive::<FetchResponse>(13);
    let data = &fetched.responses[0].partitions[0];
    assert_eq!(data.error_code, ErrorCode::None);
    assert_eq!(data.high_watermark, 2);
    let values: Vec<Vec<u8>> = Records::new(data.records.clone().unwrap())
        .unwrap()
        .map(|record| record.unwrap().value.unwrap().to_vec())
        .collect();
    assert_eq!(values, [b"a".to_vec(), b"b".to_vec()]);

    client.send(13, 5, &fetch(Uuid([7; 16])));
    let (_, unknown) = client.receive::<FetchResponse>(13);
    assert_eq!(
        unknown.responses[0].partitions[0].error_code,
        ErrorCode::UnknownTopicId
    );
}

#[test]
fn produce_errors_are_per_partition() {
    let broker = start("1");
    let mut client = broker.client();
    metadata(&mut client, 12, &["errs"]);
    let mut corrupt = BytesMut::from(&batch(&["x"])[..]);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    let produce = ProduceRequest {
        acks: 1,
        timeout_ms: 5000,
        topic_data: vec![TopicProduceData {
            name: StrBytes::from("errs"),
            partition_data: vec![
                PartitionProduceData {
                    index: 0,
                    records: Some(batch(&["ok"])),
                },
                PartitionProduceData {
                    index: 5,
                    records: Some(batch(&["no such partition"])),
                },
                PartitionProduceData {
                    index: 0,
                    records: Some(corrupt.freeze()),
                },
            ],
            ..TopicProduceData::default()
        }],
        ..ProduceRequest::default()
    };
    client.send(9, 1, &produce);
    let (_, response) = client.receive::<ProduceResponse>(9);
    let codes: Vec<ErrorCode> = response.responses[0]
        .partition_responses
        .iter()
        .map(|p| p.error_code)
        .collect();
    assert_eq!(
        codes,
        [
            ErrorCode::None,
            ErrorCode::UnknownTopicOrPartition,
            ErrorCode::CorruptMessage
        ]
    );
    let invalid_acks = ProduceRequest { acks: 2, ..produce };
    client.send(9, 2, &invalid_acks);
    let (_, response) = client.receive::<ProduceResponse>(9);
    assert!(
        response.responses[0]
            .partition_responses
            .iter()
            .all(|p| p.error_code == ErrorCode::InvalidRequiredAcks)
    );
}

/// A fetch waiting for data (max wait 30 s, longer than the client's 10 s read timeout) is
/// answered as soon as another connection produces: the wake-up comes from the append, not
/// from the deadline, or `receive` would fail on its timeout.
#[test]
fn long_poll_fetch_wakes_on_append() {
    let broker = start("1");
    let mut client = broker.client();
    metadata(&mut client, 12, &["poll"]);
    let fetch = FetchRequest {
        max_wait_ms: 30_000,
        min_bytes: 1,
        max_bytes: 1 << 20,
        topics: vec![FetchTopic {
            topic: StrBytes::from("poll"),
            partitions: vec![FetchPartition {
                partition: 0,
                fetch_offset: 0,
                partition_max_bytes: 1 << 20,
                ..FetchPartition::default()
            }],
            ..FetchTopic::default()
        }],
        ..FetchRequest::default()
    };
    client.send(12, 1, &fetch);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mut producer = broker.client();
    let produce = ProduceRequest {
        acks: 1,
        timeout_ms: 5000,
        topic_data: vec![TopicProduceData {
            name: StrBytes::from("poll"),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(batch(&["wake"])),
            }],
            ..TopicProduceData::default()
        }],
        ..ProduceRequest::default()
    };
    producer.send(9, 1, &produce);
    let _ = producer.receive::<ProduceResponse>(9);
    let (_, fetched) = client.receive::<FetchResponse>(12);
    let data = &fetched.responses[0].partitions[0];
    assert_eq!(data.high_watermark, 1);
    assert!(!data.records.as_ref().unwrap().is_empty());
}

/// Pipelined Produce requests on one connection land in request order even when the first
/// one has to auto-create the topic: later requests wait behind it instead of overtaking it
/// (each request's batch lands at the offset of its position in the pipeline). Repeated over
/// several fresh topics, each with requests mixing the new topic and an existing one.
#[test]
fn pipelined_produce_keeps_request_order_across_auto_creation() {
    let broker = start("1");
    let mut client = broker.client();
    metadata(&mut client, 12, &["existing"]);
    const PIPELINE: i32 = 8;
    for round in 0..5 {
        let topic = format!("fresh-{round}");
        let mut frames = Vec::new();
        for index in 0..PIPELINE {
            let value = format!("{round}-{index}");
            let mut topic_data = vec![TopicProduceData {
                name: StrBytes::from(topic.as_str()),
                partition_data: vec![PartitionProduceData {
                    index: 0,
                    records: Some(batch(&[value.as_str()])),
                }],
                ..TopicProduceData::default()
            }];
            if index % 2 == 1 {
                topic_data.insert(
                    0,
                    TopicProduceData {
                        name: StrBytes::from("existing"),
                        partition_data: vec![PartitionProduceData {
                            index: 0,
                            records: Some(batch(&[value.as_str()])),
                        }],
                        ..TopicProduceData::default()
                    },
                );
            }
            let produce = ProduceRequest {
                acks: -1,
                timeout_ms: 5000,
                topic_data,
                ..ProduceRequest::default()
            };
            frames.extend(common::encode_request(9, index, &produce));
        }
        // All requests in one write: the broker reads them back to back.
        client.send_raw(&frames).unwrap();
        for index in 0..PIPELINE {
            let (correlation_id, response) = client.receive::<ProduceResponse>(9);
            assert_eq!(correlation_id, index);
            let fresh = response
                .responses
                .iter()
                .find(|t| t.name.as_str() == topic)
                .unwrap();
            let partition = &fresh.partition_responses[0];
            assert_eq!(partition.error_code, ErrorCode::None, "round {round}");
            assert_eq!(
                partition.base_offset,
                i64::from(index),
                "round {round}: request {index} was overtaken"
            );
        }
    }
}
