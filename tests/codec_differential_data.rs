//! Differential test of the data-path messages against the `kafka-protocol` crate.
//!
//! For every message and every version both codecs support: build a populated kafka-protocol
//! value (every field present in the version set to a non-default value, tagged ones included),
//! encode it with kafka-protocol, decode the bytes with ours, re-encode with ours and require
//! the same bytes, then decode our bytes with kafka-protocol and require the original value.
//! Byte equality after our decode + encode shows we neither dropped nor invented a field, and
//! kafka-protocol refuses to encode a field outside its versions, which checks the builders.
//!
//! Runs on no shard: an integration test of the sans-IO codec.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages as kp;
use kafka_protocol::protocol::{Decodable, Encodable, Message as KpMessage, StrBytes};
use ringbroker::protocol::Message;
use ringbroker::protocol::messages::{
    delete_records, fetch, init_producer_id, list_offsets, metadata, offset_for_leader_epoch,
    produce,
};
use std::fmt::Debug;
use std::ops::RangeInclusive;

/// Versions both `Ours` and `Theirs` support.
fn shared_versions<Ours: Message, Theirs: KpMessage>() -> RangeInclusive<i16> {
    let min = Ours::VERSION_MIN.max(Theirs::VERSIONS.min);
    let max = Ours::VERSION_MAX.min(Theirs::VERSIONS.max);
    assert!(min <= max, "{:?}: no shared version", Ours::API_KEY);
    min..=max
}

/// kafka-protocol encodes, we decode and re-encode the same bytes, kafka-protocol decodes ours
/// back to the original.
fn assert_differential<Ours, Theirs>(original: &Theirs, version: i16)
where
    Ours: Message + Debug,
    Theirs: Encodable + Decodable + PartialEq + Debug,
{
    let mut theirs = BytesMut::new();
    original
        .encode(&mut theirs, version)
        .unwrap_or_else(|error| {
            panic!(
                "{:?} v{version}: kafka-protocol encode: {error}",
                Ours::API_KEY
            )
        });
    let theirs = theirs.freeze();
    let ours = Ours::decode_body(theirs.clone(), version)
        .unwrap_or_else(|error| panic!("{:?} v{version}: our decode: {error}", Ours::API_KEY));
    let mut our_bytes = BytesMut::new();
    ours.encode_body(&mut our_bytes, version);
    assert_eq!(
        &our_bytes[..],
        &theirs[..],
        "{:?} v{version}: our re-encoding differs; decoded {ours:?}",
        Ours::API_KEY
    );
    let back = Theirs::decode(&mut our_bytes.freeze(), version).unwrap_or_else(|error| {
        panic!(
            "{:?} v{version}: kafka-protocol decode: {error}",
            Ours::API_KEY
        )
    });
    assert_eq!(&back, original, "{:?} v{version}", Ours::API_KEY);
}

fn s(text: &'static str) -> StrBytes {
    StrBytes::from_static_str(text)
}

fn topic(text: &'static str) -> kp::TopicName {
    kp::TopicName(s(text))
}

fn broker(id: i32) -> kp::BrokerId {
    kp::BrokerId(id)
}

/// A value holding a kafka-protocol uuid of sixteen `byte`s in `topic_id`: the crate does not
/// re-export its uuid type, so the uuid comes out of kafka-protocol's own decoder.
fn uuid_in(byte: u8) -> kp::fetch_request::ForgottenTopic {
    let mut wire = vec![byte; 16];
    wire.extend_from_slice(&[1, 0]); // partitions: empty compact array; no tagged fields
    kp::fetch_request::ForgottenTopic::decode(&mut Bytes::from(wire), 13).unwrap()
}

fn produce_request() -> kp::ProduceRequest {
    let partitions = vec![
        kp::produce_request::PartitionProduceData::default()
            .with_index(3)
            .with_records(Some(Bytes::from_static(&[0xaa, 0xbb, 0xcc]))),
        kp::produce_request::PartitionProduceData::default().with_index(4),
    ];
    let topic_data = kp::produce_request::TopicProduceData::default()
        .with_name(topic("orders"))
        .with_partition_data(partitions);
    kp::ProduceRequest::default()
        .with_transactional_id(Some(kp::TransactionalId(s("txn-1"))))
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![topic_data])
}

fn produce_response(version: i16) -> kp::ProduceResponse {
    use kp::produce_response::{
        BatchIndexAndErrorMessage, LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse,
        TopicProduceResponse,
    };
    let mut partition = PartitionProduceResponse::default()
        .with_index(3)
        .with_error_code(6)
        .with_base_offset(1_000)
        .with_log_append_time_ms(1_700_000_000_000);
    if version >= 5 {
        partition.log_start_offset = 10;
    }
    if version >= 8 {
        partition.record_errors = vec![
            BatchIndexAndErrorMessage::default()
                .with_batch_index(2)
                .with_batch_index_error_message(Some(s("bad record"))),
        ];
        partition.error_message = Some(s("batch dropped"));
    }
    let mut response = kp::ProduceResponse::default().with_throttle_time_ms(5);
    if version >= 10 {
        partition.current_leader = LeaderIdAndEpoch::default()
            .with_leader_id(broker(2))
            .with_leader_epoch(9);
        response.node_endpoints = vec![
            NodeEndpoint::default()
                .with_node_id(broker(2))
                .with_host(s("b2"))
                .with_port(9092)
                .with_rack(Some(s("r1"))),
        ];
    }
    response.with_responses(vec![
        TopicProduceResponse::default()
            .with_name(topic("orders"))
            .with_partition_responses(vec![partition]),
    ])
}

#[test]
fn produce() {
    for version in shared_versions::<produce::ProduceRequest, kp::ProduceRequest>() {
        assert_differential::<produce::ProduceRequest, _>(&produce_request(), version);
        assert_differential::<produce::ProduceResponse, _>(&produce_response(version), version);
    }
}

fn fetch_request(version: i16) -> kp::FetchRequest {
    use kp::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic, ReplicaState};
    let mut partition = FetchPartition::default()
        .with_partition(1)
        .with_fetch_offset(100)
        .with_partition_max_bytes(1 << 20);
    if version >= 5 {
        partition.log_start_offset = 3;
    }
    if version >= 9 {
        partition.current_leader_epoch = 4;
    }
    let mut fetch_topic = FetchTopic::default();
    let mut request = kp::FetchRequest::default()
        .with_max_wait_ms(500)
        .with_min_bytes(1)
        .with_max_bytes(52_428_800)
        .with_isolation_level(1);
    if version <= 14 {
        request.replica_id = broker(2);
    } else {
        request.replica_state = ReplicaState::default()
            .with_replica_id(broker(2))
            .with_replica_epoch(11);
    }
    if version >= 7 {
        request.session_id = 77;
        request.session_epoch = 3;
        let mut forgotten = ForgottenTopic::default().with_partitions(vec![0, 5]);
        if version >= 13 {
            forgotten.topic_id = uuid_in(8).topic_id;
        } else {
            forgotten.topic = topic("gone");
        }
        request.forgotten_topics_data = vec![forgotten];
    }
    if version >= 11 {
        request.rack_id = s("rack-a");
    }
    if version >= 12 {
        request.cluster_id = Some(s("cluster-1"));
        partition.last_fetched_epoch = 2;
    }
    if version >= 13 {
        fetch_topic.topic_id = uuid_in(9).topic_id;
    } else {
        fetch_topic.topic = topic("orders");
    }
    if version >= 17 {
        partition.replica_directory_id = uuid_in(5).topic_id;
    }
    fetch_topic.partitions = vec![partition];
    request.with_topics(vec![fetch_topic])
}

fn fetch_response(version: i16) -> kp::FetchResponse {
    use kp::fetch_response::{
        AbortedTransaction, EpochEndOffset, FetchableTopicResponse, LeaderIdAndEpoch, NodeEndpoint,
        PartitionData, SnapshotId,
    };
    let mut partition = PartitionData::default()
        .with_partition_index(1)
        .with_error_code(74)
        .with_high_watermark(200)
        .with_last_stable_offset(190)
        .with_aborted_transactions(Some(vec![
            AbortedTransaction::default()
                .with_producer_id(kp::ProducerId(1234))
                .with_first_offset(150),
        ]))
        .with_records(Some(Bytes::from_static(&[1, 2, 3, 4])));
    if version >= 5 {
        partition.log_start_offset = 10;
    }
    if version >= 11 {
        partition.preferred_read_replica = broker(3);
    }
    if version >= 12 {
        partition.diverging_epoch = EpochEndOffset::default().with_epoch(5).with_end_offset(180);
        partition.current_leader = LeaderIdAndEpoch::default()
            .with_leader_id(broker(3))
            .with_leader_epoch(6);
        partition.snapshot_id = SnapshotId::default().with_end_offset(50).with_epoch(4);
    }
    let mut fetch_topic = FetchableTopicResponse::default().with_partitions(vec![partition]);
    if version >= 13 {
        fetch_topic.topic_id = uuid_in(9).topic_id;
    } else {
        fetch_topic.topic = topic("orders");
    }
    let mut response = kp::FetchResponse::default()
        .with_throttle_time_ms(7)
        .with_responses(vec![fetch_topic]);
    if version >= 7 {
        response.error_code = 70;
        response.session_id = 77;
    }
    if version >= 16 {
        response.node_endpoints = vec![
            NodeEndpoint::default()
                .with_node_id(broker(3))
                .with_host(s("b3"))
                .with_port(9093),
        ];
    }
    response
}

#[test]
fn fetch() {
    for version in shared_versions::<fetch::FetchRequest, kp::FetchRequest>() {
        assert_differential::<fetch::FetchRequest, _>(&fetch_request(version), version);
        assert_differential::<fetch::FetchResponse, _>(&fetch_response(version), version);
    }
}

fn list_offsets_request(version: i16) -> kp::ListOffsetsRequest {
    use kp::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    let mut partition = ListOffsetsPartition::default()
        .with_partition_index(2)
        .with_timestamp(-2);
    if version >= 4 {
        partition.current_leader_epoch = 8;
    }
    let mut request = kp::ListOffsetsRequest::default()
        .with_replica_id(broker(-1))
        .with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(topic("orders"))
                .with_partitions(vec![partition]),
        ]);
    if version >= 2 {
        request.isolation_level = 1;
    }
    request
}

fn list_offsets_response(version: i16) -> kp::ListOffsetsResponse {
    use kp::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
    let mut partition = ListOffsetsPartitionResponse::default()
        .with_partition_index(2)
        .with_error_code(78)
        .with_timestamp(1_700_000_000_000)
        .with_offset(42);
    if version >= 4 {
        partition.leader_epoch = 3;
    }
    let mut response = kp::ListOffsetsResponse::default().with_topics(vec![
        ListOffsetsTopicResponse::default()
            .with_name(topic("orders"))
            .with_partitions(vec![partition]),
    ]);
    if version >= 2 {
        response.throttle_time_ms = 9;
    }
    response
}

#[test]
fn list_offsets() {
    type Request = list_offsets::ListOffsetsRequest;
    for version in shared_versions::<Request, kp::ListOffsetsRequest>() {
        assert_differential::<Request, _>(&list_offsets_request(version), version);
        assert_differential::<list_offsets::ListOffsetsResponse, _>(
            &list_offsets_response(version),
            version,
        );
    }
}

fn metadata_request(version: i16) -> kp::MetadataRequest {
    let mut request_topic =
        kp::metadata_request::MetadataRequestTopic::default().with_name(Some(topic("orders")));
    if version >= 10 {
        request_topic.topic_id = uuid_in(3).topic_id;
    }
    let mut request = kp::MetadataRequest::default().with_topics(Some(vec![request_topic]));
    if version >= 4 {
        request.allow_auto_topic_creation = false;
    }
    if (8..=10).contains(&version) {
        request.include_cluster_authorized_operations = true;
    }
    if version >= 8 {
        request.include_topic_authorized_operations = true;
    }
    request
}

fn metadata_response(version: i16) -> kp::MetadataResponse {
    use kp::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    let mut partition = MetadataResponsePartition::default()
        .with_error_code(5)
        .with_partition_index(1)
        .with_leader_id(broker(2))
        .with_replica_nodes(vec![broker(1), broker(2)])
        .with_isr_nodes(vec![broker(2)]);
    if version >= 5 {
        partition.offline_replicas = vec![broker(1)];
    }
    if version >= 7 {
        partition.leader_epoch = 4;
    }
    let mut response_topic = MetadataResponseTopic::default()
        .with_name(Some(topic("orders")))
        .with_partitions(vec![partition]);
    let mut response_broker = MetadataResponseBroker::default()
        .with_node_id(broker(2))
        .with_host(s("broker-2"))
        .with_port(9092);
    let mut response = kp::MetadataResponse::default();
    if version >= 1 {
        response_topic.is_internal = true;
        response_broker.rack = Some(s("rack-b"));
        response.controller_id = broker(1);
    }
    if version >= 2 {
        response.cluster_id = Some(s("cluster-1"));
    }
    if version >= 3 {
        response.throttle_time_ms = 4;
    }
    if version >= 8 {
        response_topic.topic_authorized_operations = 0x0ff8;
    }
    if (8..=10).contains(&version) {
        response.cluster_authorized_operations = 0x0ff0;
    }
    if version >= 10 {
        response_topic.topic_id = uuid_in(3).topic_id;
    }
    response
        .with_brokers(vec![response_broker])
        .with_topics(vec![response_topic])
}

#[test]
fn metadata() {
    for version in shared_versions::<metadata::MetadataRequest, kp::MetadataRequest>() {
        assert_differential::<metadata::MetadataRequest, _>(&metadata_request(version), version);
        assert_differential::<metadata::MetadataResponse, _>(&metadata_response(version), version);
    }
    // Null topics (all topics, v1+) and null names (by id, v12) take the other encoding paths.
    let all = kp::MetadataRequest::default().with_topics(None);
    assert_differential::<metadata::MetadataRequest, _>(&all, 1);
    assert_differential::<metadata::MetadataRequest, _>(&all, 12);
    let by_id = kp::MetadataRequest::default().with_topics(Some(vec![
        kp::metadata_request::MetadataRequestTopic::default().with_topic_id(uuid_in(4).topic_id),
    ]));
    assert_differential::<metadata::MetadataRequest, _>(&by_id, 12);
}

fn offset_for_leader_epoch_request(version: i16) -> kp::OffsetForLeaderEpochRequest {
    use kp::offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};
    let partition = OffsetForLeaderPartition::default()
        .with_partition(1)
        .with_current_leader_epoch(6)
        .with_leader_epoch(5);
    let mut request = kp::OffsetForLeaderEpochRequest::default().with_topics(vec![
        OffsetForLeaderTopic::default()
            .with_topic(topic("orders"))
            .with_partitions(vec![partition]),
    ]);
    if version >= 3 {
        request.replica_id = broker(2);
    }
    request
}

fn offset_for_leader_epoch_response() -> kp::OffsetForLeaderEpochResponse {
    use kp::offset_for_leader_epoch_response::{EpochEndOffset, OffsetForLeaderTopicResult};
    let partition = EpochEndOffset::default()
        .with_error_code(74)
        .with_partition(1)
        .with_leader_epoch(5)
        .with_end_offset(900);
    kp::OffsetForLeaderEpochResponse::default()
        .with_throttle_time_ms(3)
        .with_topics(vec![
            OffsetForLeaderTopicResult::default()
                .with_topic(topic("orders"))
                .with_partitions(vec![partition]),
        ])
}

#[test]
fn offset_for_leader_epoch() {
    type Request = offset_for_leader_epoch::OffsetForLeaderEpochRequest;
    type Response = offset_for_leader_epoch::OffsetForLeaderEpochResponse;
    for version in shared_versions::<Request, kp::OffsetForLeaderEpochRequest>() {
        assert_differential::<Request, _>(&offset_for_leader_epoch_request(version), version);
        assert_differential::<Response, _>(&offset_for_leader_epoch_response(), version);
    }
}

#[test]
fn delete_records() {
    use kp::delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
    use kp::delete_records_response::{DeleteRecordsPartitionResult, DeleteRecordsTopicResult};
    let request = kp::DeleteRecordsRequest::default()
        .with_timeout_ms(2000)
        .with_topics(vec![
            DeleteRecordsTopic::default()
                .with_name(topic("t"))
                .with_partitions(vec![
                    DeleteRecordsPartition::default()
                        .with_partition_index(1)
                        .with_offset(300),
                ]),
        ]);
    let response = kp::DeleteRecordsResponse::default()
        .with_throttle_time_ms(1)
        .with_topics(vec![
            DeleteRecordsTopicResult::default()
                .with_name(topic("t"))
                .with_partitions(vec![
                    DeleteRecordsPartitionResult::default()
                        .with_partition_index(1)
                        .with_low_watermark(300)
                        .with_error_code(1),
                ]),
        ]);
    type Request = delete_records::DeleteRecordsRequest;
    for version in shared_versions::<Request, kp::DeleteRecordsRequest>() {
        assert_differential::<Request, _>(&request, version);
        assert_differential::<delete_records::DeleteRecordsResponse, _>(&response, version);
    }
}

#[test]
fn init_producer_id() {
    type Request = init_producer_id::InitProducerIdRequest;
    for version in shared_versions::<Request, kp::InitProducerIdRequest>() {
        let mut request = kp::InitProducerIdRequest::default()
            .with_transactional_id(Some(kp::TransactionalId(s("txn"))))
            .with_transaction_timeout_ms(60_000);
        if version >= 3 {
            request.producer_id = kp::ProducerId(4000);
            request.producer_epoch = 2;
        }
        let response = kp::InitProducerIdResponse::default()
            .with_throttle_time_ms(1)
            .with_error_code(90)
            .with_producer_id(kp::ProducerId(4000))
            .with_producer_epoch(3);
        assert_differential::<Request, _>(&request, version);
        assert_differential::<init_producer_id::InitProducerIdResponse, _>(&response, version);
    }
}
