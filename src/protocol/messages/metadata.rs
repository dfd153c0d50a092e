//! Metadata (key 3): brokers, topics (names and ids), partitions and their leaders.
//!
//! Owns the wire declarations only; the answer is built by `handlers/metadata` from the shard's
//! read-only metadata copy. Sans-IO: decoded on the connection's shard.
//!
//! Versions (Kafka's `MetadataRequest.json` / `MetadataResponse.json`):
//! ```text
//! v0       topics; an empty array means "all topics" (v1+: null means all, empty means none)
//! v1       rack, controller_id, is_internal          v2  cluster_id
//! v3       throttle_time_ms                          v4  allow_auto_topic_creation
//! v5       offline_replicas                          v7  leader_epoch
//! v8       authorized operations (cluster ones only up to v10, then DescribeCluster)
//! v9       flexible                                  v10 topic_id (request and response)
//! v12      request topics by id: name nullable in the response too
//! v13      top-level error_code in the response (KIP-1102, Kafka 4.0)
//! ```
//! Nullability the macro does not express per version: `topics` of the request is nullable
//! only from v1 and topic names only from v10 (request) / v12 (response). They are declared as
//! `Option` for every version, so a peer's null in an older version decodes instead of failing;
//! the handler treats such a value as Kafka would (an empty v0 array means all topics).
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::{StrBytes, Uuid};
use crate::{kafka_message, kafka_struct};

/// Kafka's "authorized operations not requested" sentinel (`INT32_MIN`).
pub const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

kafka_struct! {
    pub struct MetadataRequest {
        /// Null (v1+) asks for every topic.
        topics: Option<Vec<MetadataRequestTopic>> => 0..,
        allow_auto_topic_creation: bool => 4.. ; default true,
        include_cluster_authorized_operations: bool => 8..=10,
        include_topic_authorized_operations: bool => 8..,
    }
}
kafka_message!(MetadataRequest, ApiKey::Metadata);

kafka_struct! {
    pub struct MetadataRequestTopic {
        topic_id: Uuid => 10..,
        /// Null (v10+) when the topic is asked for by id.
        name: Option<StrBytes> => 0..,
    }
}

kafka_struct! {
    pub struct MetadataResponse {
        throttle_time_ms: i32 => 3..,
        brokers: Vec<MetadataResponseBroker> => 0..,
        cluster_id: Option<StrBytes> => 2..,
        controller_id: i32 => 1.. ; default -1,
        topics: Vec<MetadataResponseTopic> => 0..,
        cluster_authorized_operations: i32 => 8..=10 ; default AUTHORIZED_OPERATIONS_OMITTED,
        /// Top-level error, e.g. REBOOTSTRAP_REQUIRED.
        error_code: ErrorCode => 13..,
    }
}
kafka_message!(MetadataResponse, ApiKey::Metadata);

kafka_struct! {
    pub struct MetadataResponseBroker {
        node_id: i32 => 0..,
        host: StrBytes => 0..,
        port: i32 => 0..,
        rack: Option<StrBytes> => 1..,
    }
}

kafka_struct! {
    pub struct MetadataResponseTopic {
        error_code: ErrorCode => 0..,
        /// Null (v12+) only for an unknown topic asked for by id.
        name: Option<StrBytes> => 0..,
        topic_id: Uuid => 10..,
        is_internal: bool => 1..,
        partitions: Vec<MetadataResponsePartition> => 0..,
        topic_authorized_operations: i32 => 8.. ; default AUTHORIZED_OPERATIONS_OMITTED,
    }
}

kafka_struct! {
    pub struct MetadataResponsePartition {
        error_code: ErrorCode => 0..,
        partition_index: i32 => 0..,
        leader_id: i32 => 0..,
        leader_epoch: i32 => 7.. ; default -1,
        replica_nodes: Vec<i32> => 0..,
        isr_nodes: Vec<i32> => 0..,
        offline_replicas: Vec<i32> => 5..,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::primitives::Writer;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::{BufMut, Bytes, BytesMut};

    const TOPIC_ID: Uuid = Uuid([3; 16]);

    /// A request with every field of `version` set to a non-default value.
    fn request(version: i16) -> MetadataRequest {
        let mut topic = MetadataRequestTopic {
            name: Some("orders".into()),
            ..Default::default()
        };
        if version >= 10 {
            topic.topic_id = TOPIC_ID;
        }
        let mut request = MetadataRequest {
            topics: Some(vec![topic]),
            ..Default::default()
        };
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

    /// A response with every field of `version` set to a non-default value.
    fn response(version: i16) -> MetadataResponse {
        let mut partition = MetadataResponsePartition {
            error_code: ErrorCode::LeaderNotAvailable,
            partition_index: 1,
            leader_id: 2,
            replica_nodes: vec![1, 2],
            isr_nodes: vec![2],
            ..Default::default()
        };
        if version >= 5 {
            partition.offline_replicas = vec![1];
        }
        if version >= 7 {
            partition.leader_epoch = 4;
        }
        let mut topic = MetadataResponseTopic {
            error_code: ErrorCode::None,
            name: Some("orders".into()),
            partitions: vec![partition],
            ..Default::default()
        };
        if version >= 1 {
            topic.is_internal = true;
        }
        if version >= 8 {
            topic.topic_authorized_operations = 0x0ff8;
        }
        if version >= 10 {
            topic.topic_id = TOPIC_ID;
        }
        let mut broker = MetadataResponseBroker {
            node_id: 2,
            host: "broker-2".into(),
            port: 9092,
            rack: None,
        };
        let mut response = MetadataResponse {
            topics: vec![topic],
            ..Default::default()
        };
        if version >= 1 {
            broker.rack = Some("rack-b".into());
            response.controller_id = 1;
        }
        if version >= 2 {
            response.cluster_id = Some("cluster-1".into());
        }
        if version >= 3 {
            response.throttle_time_ms = 4;
        }
        if (8..=10).contains(&version) {
            response.cluster_authorized_operations = 0x0ff0;
        }
        if version >= 13 {
            response.error_code = ErrorCode::RebootstrapRequired;
        }
        response.brokers = vec![broker];
        response
    }

    #[test]
    fn round_trip_every_version() {
        for version in MetadataRequest::VERSION_MIN..=MetadataRequest::VERSION_MAX {
            assert_round_trip(&request(version), version);
            assert_truncations_fail(&request(version), version);
            assert_round_trip(&response(version), version);
            assert_truncations_fail(&response(version), version);
        }
    }

    #[test]
    fn null_topics_and_names_round_trip_where_kafka_allows_them() {
        let all_topics = MetadataRequest {
            topics: None,
            ..Default::default()
        };
        assert_round_trip(&all_topics, 1);
        assert_round_trip(&all_topics, 12);
        let by_id = MetadataRequest {
            topics: Some(vec![MetadataRequestTopic {
                topic_id: TOPIC_ID,
                name: None,
            }]),
            ..Default::default()
        };
        assert_round_trip(&by_id, 12);
        let mut unknown_id = response(12);
        unknown_id.topics[0].name = None;
        unknown_id.topics[0].error_code = ErrorCode::UnknownTopicId;
        assert_round_trip(&unknown_id, 12);
    }

    #[test]
    fn absent_fields_decode_to_kafka_defaults() {
        let mut buffer = BytesMut::new();
        request(0).encode_body(&mut buffer, 0);
        let decoded = MetadataRequest::decode_body(buffer.freeze(), 0).unwrap();
        assert!(decoded.allow_auto_topic_creation);
        let mut buffer = BytesMut::new();
        response(0).encode_body(&mut buffer, 0);
        let decoded = MetadataResponse::decode_body(buffer.freeze(), 0).unwrap();
        assert_eq!(decoded.controller_id, -1);
        assert_eq!(
            decoded.topics[0].topic_authorized_operations,
            AUTHORIZED_OPERATIONS_OMITTED
        );
    }

    #[test]
    fn request_v1_byte_layout() {
        let mut buffer = BytesMut::new();
        let mut request = request(1);
        request.topics = Some(vec![MetadataRequestTopic {
            name: Some("t".into()),
            ..Default::default()
        }]);
        request.encode_body(&mut buffer, 1);
        // topics: 1, name "t"; nothing else exists before v4.
        assert_eq!(&buffer[..], &[0, 0, 0, 1, 0, 1, b't']);
        let mut buffer = BytesMut::new();
        MetadataRequest::default().encode_body(&mut buffer, 1);
        assert_eq!(&buffer[..], &[0xff, 0xff, 0xff, 0xff], "null = all topics");
    }

    /// The body of `version` with `topics` written as `count` (classic i32, or the compact
    /// uvarint count + 1 when flexible; `None` is null) and every other field zero.
    fn body_with_topics_count(version: i16, count: Option<u32>) -> Bytes {
        let flexible = MetadataRequest::version(version).unwrap().flexible;
        let mut buffer = BytesMut::new();
        buffer.put_array_count(count.map(|count| count as usize), flexible);
        if version >= 4 {
            buffer.put_u8(0); // allow_auto_topic_creation
        }
        if (8..=10).contains(&version) {
            buffer.put_u8(0); // include_cluster_authorized_operations
        }
        if version >= 8 {
            buffer.put_u8(0); // include_topic_authorized_operations
        }
        if flexible {
            buffer.put_u8(0); // tagged fields
        }
        buffer.freeze()
    }

    #[test]
    fn null_and_empty_topics_decode_apart_at_every_version() {
        for version in MetadataRequest::VERSION_MIN..=MetadataRequest::VERSION_MAX {
            let null = MetadataRequest::decode_body(body_with_topics_count(version, None), version)
                .unwrap();
            assert_eq!(null.topics, None, "v{version} null");
            let empty =
                MetadataRequest::decode_body(body_with_topics_count(version, Some(0)), version)
                    .unwrap();
            assert_eq!(empty.topics, Some(Vec::new()), "v{version} empty");
        }
        // Classic: -1 is null, and so is any other negative count (Kafka tests `< 0`).
        for count in [-1_i32, -2, i32::MIN] {
            let mut body = BytesMut::new();
            body.put_i32(count);
            let decoded = MetadataRequest::decode_body(body.freeze(), 1).unwrap();
            assert_eq!(decoded.topics, None, "count {count}");
        }
    }

    /// issue 14: librdkafka (2.1 and later, 2.16 captured here) asks for all topics at v9+ with
    /// a 4-byte zero where the 1-byte compact count belongs. Kafka reads that as null topics,
    /// allow_auto_topic_creation and include_topic_authorized_operations false, no tags, and
    /// skips the 3 bytes left; so must we.
    #[test]
    fn librdkafka_all_topics_metadata_v12_decodes_as_kafka_does() {
        let frame = Bytes::from(
            crate::protocol::testing::hex("0003000c00000003000772646b61666b610000000000010000")
                .unwrap(),
        );
        let mut reader = crate::protocol::Reader::new(frame);
        let header = crate::protocol::header::RequestHeader::decode(&mut reader).unwrap();
        assert_eq!((header.api_key, header.api_version), (3, 12));
        assert_eq!(header.correlation_id, 3);
        assert_eq!(header.client_id.as_deref(), Some("rdkafka"));
        let body = reader.rest();
        assert_eq!(&body[..], &[0, 0, 0, 0, 1, 0, 0]);
        let (request, tolerated) = MetadataRequest::decode_request_body(body.clone(), 12).unwrap();
        assert_eq!(request.topics, None, "all topics");
        assert!(!request.allow_auto_topic_creation);
        assert!(!request.include_topic_authorized_operations);
        assert_eq!(tolerated.trailing_bytes, 3);
        assert!(tolerated.is_irregular());
        let strict = MetadataRequest::decode_body(body, 12).unwrap_err();
        assert_eq!(
            strict.kind,
            crate::protocol::DecodeErrorKind::TrailingBytes { count: 3 }
        );
    }

    /// The same librdkafka form at v9 and v10, which also carry
    /// include_cluster_authorized_operations. Kafka reads null topics and three false
    /// booleans from the 4 zero bytes, then librdkafka's allow_auto_topic_creation (1) as a
    /// tag count: one tag, number 0, size 0, unknown and skipped; 1 byte is left over.
    #[test]
    fn librdkafka_all_topics_metadata_v9_v10_read_a_tag_from_the_booleans() {
        for version in [9, 10] {
            // 4-byte zero count, allow_auto 1, cluster ops 0, topic ops 0, no tags.
            let body = Bytes::from_static(&[0, 0, 0, 0, 1, 0, 0, 0]);
            let (request, tolerated) = MetadataRequest::decode_request_body(body, version).unwrap();
            assert_eq!(request.topics, None, "v{version}");
            assert!(!request.allow_auto_topic_creation, "v{version}");
            assert!(!request.include_cluster_authorized_operations, "v{version}");
            assert_eq!(tolerated.unknown_tags, 1, "v{version}");
            assert_eq!(tolerated.trailing_bytes, 1, "v{version}");
        }
    }

    #[test]
    fn a_body_missing_fields_is_still_refused() {
        // Null topics, then nothing: allow_auto_topic_creation cannot be read.
        let error = MetadataRequest::decode_request_body(Bytes::from_static(&[0]), 12).unwrap_err();
        assert!(matches!(
            error.kind,
            crate::protocol::DecodeErrorKind::UnexpectedEof { .. }
        ));
    }

    #[test]
    fn response_v13_byte_layout() {
        let response = MetadataResponse {
            throttle_time_ms: 0,
            brokers: vec![MetadataResponseBroker {
                node_id: 1,
                host: "h".into(),
                port: 9092,
                rack: None,
            }],
            cluster_id: Some("c".into()),
            controller_id: 1,
            topics: vec![MetadataResponseTopic {
                error_code: ErrorCode::None,
                name: Some("t".into()),
                topic_id: Uuid([2; 16]),
                is_internal: false,
                partitions: vec![MetadataResponsePartition {
                    error_code: ErrorCode::None,
                    partition_index: 0,
                    leader_id: 1,
                    leader_epoch: 0,
                    replica_nodes: vec![1],
                    isr_nodes: vec![1],
                    offline_replicas: Vec::new(),
                }],
                topic_authorized_operations: AUTHORIZED_OPERATIONS_OMITTED,
            }],
            cluster_authorized_operations: AUTHORIZED_OPERATIONS_OMITTED,
            error_code: ErrorCode::None,
        };
        let mut buffer = BytesMut::new();
        response.encode_body(&mut buffer, 13);
        #[rustfmt::skip]
        let mut expected = vec![
            0, 0, 0, 0,                 // throttle_time_ms
            2,                          // brokers: 1
            0, 0, 0, 1,                 //   node_id
            2, b'h',                    //   host
            0, 0, 0x23, 0x84,           //   port 9092
            0,                          //   rack: null
            0,                          //   broker tagged fields
            2, b'c',                    // cluster_id
            0, 0, 0, 1,                 // controller_id
            2,                          // topics: 1
            0, 0,                       //   error_code
            2, b't',                    //   name
        ];
        expected.extend_from_slice(&[2; 16]); // topic_id
        #[rustfmt::skip]
        expected.extend_from_slice(&[
            0,                          //   is_internal
            2,                          //   partitions: 1
            0, 0,                       //     error_code
            0, 0, 0, 0,                 //     partition_index
            0, 0, 0, 1,                 //     leader_id
            0, 0, 0, 0,                 //     leader_epoch
            2, 0, 0, 0, 1,              //     replica_nodes [1]
            2, 0, 0, 0, 1,              //     isr_nodes [1]
            1,                          //     offline_replicas []
            0,                          //     partition tagged fields
            0x80, 0, 0, 0,              //   topic_authorized_operations omitted
            0,                          //   topic tagged fields
            0, 0,                       // error_code (v13); no cluster operations after v10
            0,                          // tagged fields
        ]);
        assert_eq!(&buffer[..], &expected[..]);
    }
}
