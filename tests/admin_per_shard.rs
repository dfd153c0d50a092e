//! ListOffsets, OffsetForLeaderEpoch and DeleteRecords for many partitions spread over both
//! shards of a real broker (`--shards 2`), in one request per API: the handlers send one mesh
//! message per owning shard, and every partition must still get its own answer, in request
//! order, with the unknown ones answered in place.
//!
//! Topic "spread" has [`PARTITIONS`] partitions; partition `p` holds `p + 1` records with
//! timestamps `base_ms() + i * 1000` (`i` = the record's offset). Requests list the partitions
//! in reverse order with unknown ones mixed in, so the answer order cannot come from grouping.
mod common;

use bytes::BytesMut;
use common::{Broker, BrokerOptions, RawClient};
use ringbroker::protocol::messages::create_topics::{
    CreatableTopic, CreateTopicsRequest, CreateTopicsResponse,
};
use ringbroker::protocol::messages::delete_records::{
    DeleteRecordsPartition, DeleteRecordsRequest, DeleteRecordsResponse, DeleteRecordsTopic,
};
use ringbroker::protocol::messages::list_offsets::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsResponse, ListOffsetsTopic,
};
use ringbroker::protocol::messages::metadata::{
    MetadataRequest, MetadataRequestTopic, MetadataResponse,
};
use ringbroker::protocol::messages::offset_for_leader_epoch::{
    OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, OffsetForLeaderPartition,
    OffsetForLeaderTopic,
};
use ringbroker::protocol::messages::produce::{
    PartitionProduceData, ProduceRequest, ProduceResponse, TopicProduceData,
};
use ringbroker::protocol::records::{BatchBuilder, BatchOptions, NewRecord};
use ringbroker::protocol::{ErrorCode, StrBytes};
use ringbroker::shard::shard_for;

const TOPIC: &str = "spread";
const PARTITIONS: i32 = 12;
const SHARDS: usize = 2;
/// The first record's timestamp: the test's start, rounded down to a second. Not a fixed date:
/// records older than `retention.ms` (7 days) are deleted by the broker's retention check (every
/// second), which a loaded machine may run before the test reads them back.
fn base_ms() -> i64 {
    static BASE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| common::now_ms() / 1000 * 1000)
}
/// A partition index the topic does not have, asked for between the real ones.
const MISSING: i32 = 99;

/// One raw request/response exchange.
fn call<Q, R>(client: &mut RawClient, version: i16, request: &Q) -> R
where
    Q: ringbroker::protocol::Message,
    R: ringbroker::protocol::Message,
{
    client.send(version, 7, request);
    let (correlation_id, response) = client.receive::<R>(version);
    assert_eq!(correlation_id, 7);
    response
}

/// `count` records with timestamps `base_ms() + offset * 1000`.
fn batch(count: i32) -> bytes::Bytes {
    let mut output = BytesMut::new();
    let mut scratch = BytesMut::new();
    let mut builder = BatchBuilder::new(&mut output, &mut scratch, BatchOptions::default());
    for index in 0..count {
        let value = format!("value-{index}");
        builder
            .append(&NewRecord {
                timestamp: base_ms() + i64::from(index) * 1000,
                key: None,
                value: Some(value.as_bytes()),
                headers: &[],
            })
            .unwrap();
    }
    builder.finish().unwrap();
    output.freeze()
}

/// A 2-shard broker with "spread" created and filled; checks that its partitions really live
/// on both shards (otherwise the test would not test the fan-out).
fn spread_broker() -> (Broker, RawClient) {
    let broker = Broker::start_with(BrokerOptions {
        shards: SHARDS,
        ..BrokerOptions::default()
    });
    let mut client = broker.client();
    let create = CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: StrBytes::from(TOPIC),
            num_partitions: PARTITIONS,
            replication_factor: 1,
            ..CreatableTopic::default()
        }],
        timeout_ms: 10_000,
        validate_only: false,
    };
    let created: CreateTopicsResponse = call(&mut client, 5, &create);
    assert_eq!(created.topics[0].error_code, ErrorCode::None);
    let metadata: MetadataResponse = call(
        &mut client,
        12,
        &MetadataRequest {
            topics: Some(vec![MetadataRequestTopic {
                name: Some(StrBytes::from(TOPIC)),
                ..MetadataRequestTopic::default()
            }]),
            ..MetadataRequest::default()
        },
    );
    let topic_id = metadata.topics[0].topic_id;
    let mut owners: Vec<usize> = (0..PARTITIONS)
        .map(|partition| shard_for(topic_id, partition, SHARDS))
        .collect();
    owners.sort_unstable();
    owners.dedup();
    assert_eq!(owners, [0, 1], "the partitions must span both shards");
    let produce = ProduceRequest {
        acks: 1,
        timeout_ms: 10_000,
        topic_data: vec![TopicProduceData {
            name: StrBytes::from(TOPIC),
            partition_data: (0..PARTITIONS)
                .map(|partition| PartitionProduceData {
                    index: partition,
                    records: Some(batch(partition + 1)),
                })
                .collect(),
            ..TopicProduceData::default()
        }],
        ..ProduceRequest::default()
    };
    let produced: ProduceResponse = call(&mut client, 9, &produce);
    let answers = &produced.responses[0].partition_responses;
    assert_eq!(answers.len(), usize::try_from(PARTITIONS).unwrap());
    assert!(answers.iter().all(|p| p.error_code == ErrorCode::None));
    (broker, client)
}

/// The partitions in reverse order with [`MISSING`] after the first real one.
fn asked() -> Vec<i32> {
    let mut partitions: Vec<i32> = (0..PARTITIONS).rev().collect();
    partitions.insert(1, MISSING);
    partitions
}

/// The timestamp ListOffsets asks partition `p` for, and the (offset, timestamp) it expects:
/// latest, earliest, or the first record at or after a time, by `p % 3`.
fn list_offsets_case(partition: i32) -> (i64, (i64, i64)) {
    match partition % 3 {
        0 => (-1, (i64::from(partition) + 1, -1)),
        1 => (-2, (0, -1)),
        _ => (base_ms() + 500, (1, base_ms() + 1000)),
    }
}

fn list_offsets(client: &mut RawClient, partitions: &[(i32, i64)]) -> ListOffsetsResponse {
    let request = ListOffsetsRequest {
        replica_id: -1,
        isolation_level: 0,
        topics: vec![
            ListOffsetsTopic {
                name: StrBytes::from(TOPIC),
                partitions: partitions
                    .iter()
                    .map(|(partition_index, timestamp)| ListOffsetsPartition {
                        partition_index: *partition_index,
                        timestamp: *timestamp,
                        ..ListOffsetsPartition::default()
                    })
                    .collect(),
            },
            ListOffsetsTopic {
                name: StrBytes::from("no-such-topic"),
                partitions: vec![ListOffsetsPartition {
                    partition_index: 0,
                    timestamp: -1,
                    ..ListOffsetsPartition::default()
                }],
            },
        ],
        timeout_ms: 10_000,
    };
    call(client, 7, &request)
}

#[test]
fn list_offsets_answers_every_partition_of_both_shards_in_order() {
    let (_broker, mut client) = spread_broker();
    let partitions: Vec<(i32, i64)> = asked()
        .into_iter()
        .map(|partition| (partition, list_offsets_case(partition).0))
        .collect();
    let response = list_offsets(&mut client, &partitions);
    assert_eq!(response.topics.len(), 2);
    assert_eq!(response.topics[0].name.as_str(), TOPIC);
    let answers = &response.topics[0].partitions;
    assert_eq!(answers.len(), partitions.len());
    for (answer, (partition, _)) in answers.iter().zip(&partitions) {
        assert_eq!(answer.partition_index, *partition, "request order");
        if *partition == MISSING {
            assert_eq!(answer.error_code, ErrorCode::UnknownTopicOrPartition);
            continue;
        }
        assert_eq!(answer.error_code, ErrorCode::None, "partition {partition}");
        let expected = list_offsets_case(*partition).1;
        assert_eq!(
            (answer.offset, answer.timestamp),
            expected,
            "partition {partition}"
        );
    }
    let unknown = &response.topics[1];
    assert_eq!(unknown.name.as_str(), "no-such-topic");
    assert_eq!(
        unknown.partitions[0].error_code,
        ErrorCode::UnknownTopicOrPartition
    );
}

#[test]
fn offset_for_leader_epoch_answers_every_partition_of_both_shards_in_order() {
    let (_broker, mut client) = spread_broker();
    // Partition 5 believes in a newer leader epoch: fenced here, without a shard call.
    let partitions: Vec<OffsetForLeaderPartition> = asked()
        .into_iter()
        .map(|partition| OffsetForLeaderPartition {
            partition,
            current_leader_epoch: if partition == 5 { 1 } else { 0 },
            leader_epoch: 0,
        })
        .collect();
    let request = OffsetForLeaderEpochRequest {
        replica_id: -1,
        topics: vec![OffsetForLeaderTopic {
            topic: StrBytes::from(TOPIC),
            partitions,
        }],
    };
    let response: OffsetForLeaderEpochResponse = call(&mut client, 4, &request);
    let answers = &response.topics[0].partitions;
    let asked = asked();
    assert_eq!(answers.len(), asked.len());
    for (answer, partition) in answers.iter().zip(asked) {
        assert_eq!(answer.partition, partition, "request order");
        let expected = match partition {
            MISSING => (ErrorCode::UnknownTopicOrPartition, -1, -1),
            5 => (ErrorCode::UnknownLeaderEpoch, -1, -1),
            _ => (ErrorCode::None, 0, i64::from(partition) + 1),
        };
        assert_eq!(
            (answer.error_code, answer.leader_epoch, answer.end_offset),
            expected,
            "partition {partition}"
        );
    }
}

/// The offset DeleteRecords asks partition `p` to delete before, and the (error, low watermark)
/// it expects: the high watermark (-1), offset 1, or one past the end, by `p % 3`.
fn delete_records_case(partition: i32) -> (i64, (ErrorCode, i64)) {
    let end = i64::from(partition) + 1;
    match partition % 3 {
        0 => (-1, (ErrorCode::None, end)),
        1 => (1, (ErrorCode::None, 1)),
        _ => (end + 1, (ErrorCode::OffsetOutOfRange, -1)),
    }
}

#[test]
fn delete_records_answers_every_partition_of_both_shards_in_order() {
    let (_broker, mut client) = spread_broker();
    let asked = asked();
    let request = DeleteRecordsRequest {
        topics: vec![DeleteRecordsTopic {
            name: StrBytes::from(TOPIC),
            partitions: asked
                .iter()
                .map(|partition| DeleteRecordsPartition {
                    partition_index: *partition,
                    offset: delete_records_case(*partition).0,
                })
                .collect(),
        }],
        timeout_ms: 10_000,
    };
    let response: DeleteRecordsResponse = call(&mut client, 2, &request);
    let answers = &response.topics[0].partitions;
    assert_eq!(answers.len(), asked.len());
    for (answer, partition) in answers.iter().zip(&asked) {
        assert_eq!(answer.partition_index, *partition, "request order");
        let expected = if *partition == MISSING {
            (ErrorCode::UnknownTopicOrPartition, -1)
        } else {
            delete_records_case(*partition).1
        };
        assert_eq!(
            (answer.error_code, answer.low_watermark),
            expected,
            "partition {partition}"
        );
    }
    // The log starts really moved: ask each partition's earliest offset.
    let earliest: Vec<(i32, i64)> = (0..PARTITIONS).map(|p| (p, -2)).collect();
    let response = list_offsets(&mut client, &earliest);
    for (answer, partition) in response.topics[0].partitions.iter().zip(0..PARTITIONS) {
        let (error_code, low_watermark) = delete_records_case(partition).1;
        let start = if error_code == ErrorCode::None {
            low_watermark
        } else {
            0
        };
        assert_eq!(
            (answer.error_code, answer.offset),
            (ErrorCode::None, start),
            "log start of partition {partition}"
        );
    }
}
