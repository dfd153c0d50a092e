//! Produce (key 0): record batches from a producer, and per-partition offsets back.
//!
//! Owns the wire declarations only; validating batches and appending them is `handlers/produce`.
//! Sans-IO: decoded on the connection's shard, which then splits the request by owning shard.
//!
//! Versions (Kafka's `ProduceRequest.json` / `ProduceResponse.json`):
//! ```text
//! v3       transactional_id; RecordBatch v2 (magic 2) only from here on
//! v4–v8    same layout (new error codes; v8 adds record_errors + error_message to the response)
//! v9       flexible: compact strings/arrays, tagged fields
//! v10      response tagged fields current_leader (partition, tag 0), node_endpoints (tag 0)
//! v11–v12  same layout (new error codes, KIP-890 transactions v2)
//! v13      topics addressed by `topic_id` (uuid) instead of `name` (KIP-516)
//! ```
//! Records are nullable bytes handed through verbatim (a `Bytes` slice of the frame); the batch
//! itself is parsed by `record_batch.rs`.
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::{StrBytes, Uuid};
use crate::{kafka_message, kafka_struct};
use bytes::Bytes;

kafka_struct! {
    pub struct ProduceRequest {
        /// Null unless the producer is transactional.
        transactional_id: Option<StrBytes> => 3..,
        /// 0 = no acknowledgement, 1 = leader only, -1 = full ISR.
        acks: i16 => 0..,
        timeout_ms: i32 => 0..,
        topic_data: Vec<TopicProduceData> => 0..,
    }
}
kafka_message!(ProduceRequest, ApiKey::Produce);

kafka_struct! {
    pub struct TopicProduceData {
        name: StrBytes => 0..=12,
        topic_id: Uuid => 13..,
        partition_data: Vec<PartitionProduceData> => 0..,
    }
}

kafka_struct! {
    pub struct PartitionProduceData {
        index: i32 => 0..,
        /// The record batches, verbatim.
        records: Option<Bytes> => 0..,
    }
}

kafka_struct! {
    pub struct ProduceResponse {
        responses: Vec<TopicProduceResponse> => 0..,
        throttle_time_ms: i32 => 1..,
    }
    tagged {
        /// Endpoints of the leaders named in `current_leader` of NOT_LEADER_OR_FOLLOWER answers.
        node_endpoints: Vec<NodeEndpoint> => tag 0, 10..,
    }
}
kafka_message!(ProduceResponse, ApiKey::Produce);

kafka_struct! {
    pub struct TopicProduceResponse {
        name: StrBytes => 0..=12,
        topic_id: Uuid => 13..,
        partition_responses: Vec<PartitionProduceResponse> => 0..,
    }
}

kafka_struct! {
    pub struct PartitionProduceResponse {
        index: i32 => 0..,
        error_code: ErrorCode => 0..,
        base_offset: i64 => 0..,
        /// -1 unless the topic uses LogAppendTime.
        log_append_time_ms: i64 => 2.. ; default -1,
        log_start_offset: i64 => 5.. ; default -1,
        record_errors: Vec<BatchIndexAndErrorMessage> => 8..,
        error_message: Option<StrBytes> => 8..,
    }
    tagged {
        current_leader: LeaderIdAndEpoch => tag 0, 10..,
    }
}

kafka_struct! {
    pub struct BatchIndexAndErrorMessage {
        batch_index: i32 => 8..,
        batch_index_error_message: Option<StrBytes> => 8..,
    }
}

kafka_struct! {
    /// A partition's leader as the broker knows it. Only ever inside a tagged field (Produce
    /// v10+, Fetch v12+), whose own range gates it, so its fields are declared for every version
    /// and Fetch reuses it.
    pub struct LeaderIdAndEpoch {
        leader_id: i32 => 0.. ; default -1,
        leader_epoch: i32 => 0.. ; default -1,
    }
}

kafka_struct! {
    /// A broker's address. Only ever inside a tagged field (Produce v10+, Fetch v16+), so, like
    /// [`LeaderIdAndEpoch`], declared for every version and reused by Fetch.
    pub struct NodeEndpoint {
        node_id: i32 => 0..,
        host: StrBytes => 0..,
        port: i32 => 0..,
        rack: Option<StrBytes> => 0..,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::BytesMut;

    const TOPIC_ID: Uuid = Uuid([7; 16]);

    /// A request with every field of `version` set to a non-default value.
    fn request(version: i16) -> ProduceRequest {
        let mut topic = TopicProduceData {
            partition_data: vec![
                PartitionProduceData {
                    index: 3,
                    records: Some(Bytes::from_static(&[0xaa, 0xbb, 0xcc])),
                },
                PartitionProduceData {
                    index: 4,
                    records: None,
                },
            ],
            ..Default::default()
        };
        if version >= 13 {
            topic.topic_id = TOPIC_ID;
        } else {
            topic.name = "orders".into();
        }
        ProduceRequest {
            transactional_id: Some("txn-1".into()),
            acks: -1,
            timeout_ms: 30_000,
            topic_data: vec![topic],
        }
    }

    /// A response with every field of `version` set to a non-default value.
    fn response(version: i16) -> ProduceResponse {
        let mut partition = PartitionProduceResponse {
            index: 3,
            error_code: ErrorCode::NotLeaderOrFollower,
            base_offset: 1_000,
            ..Default::default()
        };
        if version >= 2 {
            partition.log_append_time_ms = 1_700_000_000_000;
        }
        if version >= 5 {
            partition.log_start_offset = 10;
        }
        if version >= 8 {
            partition.record_errors = vec![BatchIndexAndErrorMessage {
                batch_index: 2,
                batch_index_error_message: Some("bad record".into()),
            }];
            partition.error_message = Some("batch dropped".into());
        }
        if version >= 10 {
            partition.current_leader = LeaderIdAndEpoch {
                leader_id: 2,
                leader_epoch: 9,
            };
        }
        let mut topic = TopicProduceResponse {
            partition_responses: vec![partition],
            ..Default::default()
        };
        if version >= 13 {
            topic.topic_id = TOPIC_ID;
        } else {
            topic.name = "orders".into();
        }
        let mut response = ProduceResponse {
            responses: vec![topic],
            throttle_time_ms: 5,
            ..Default::default()
        };
        if version >= 10 {
            response.node_endpoints = vec![NodeEndpoint {
                node_id: 2,
                host: "b2".into(),
                port: 9092,
                rack: Some("r1".into()),
            }];
        }
        response
    }

    #[test]
    fn round_trip_every_version() {
        for version in ProduceRequest::VERSION_MIN..=ProduceRequest::VERSION_MAX {
            assert_round_trip(&request(version), version);
            assert_truncations_fail(&request(version), version);
            assert_round_trip(&response(version), version);
            assert_truncations_fail(&response(version), version);
        }
    }

    #[test]
    fn absent_fields_decode_to_kafka_defaults() {
        let mut buffer = BytesMut::new();
        response(3).encode_body(&mut buffer, 3);
        let decoded = ProduceResponse::decode_body(buffer.freeze(), 3).unwrap();
        let partition = &decoded.responses[0].partition_responses[0];
        assert_eq!(partition.log_start_offset, -1);
        assert_eq!(partition.current_leader.leader_id, -1);
        assert_eq!(partition.error_message, None);
    }

    fn one_partition_request(version: i16) -> ProduceRequest {
        let mut request = request(version);
        request.transactional_id = None;
        request.acks = 1;
        request.timeout_ms = 1000;
        request.topic_data[0].name = "t".into();
        request.topic_data[0].partition_data.truncate(1);
        request.topic_data[0].partition_data[0].records = Some(Bytes::from_static(&[0xaa]));
        request
    }

    #[test]
    fn request_v3_byte_layout() {
        let mut buffer = BytesMut::new();
        one_partition_request(3).encode_body(&mut buffer, 3);
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0xff, 0xff,             // transactional_id: null string
            0, 1,                   // acks
            0, 0, 0x03, 0xe8,       // timeout_ms 1000
            0, 0, 0, 1,             // topic_data: 1
            0, 1, b't',             //   name
            0, 0, 0, 1,             //   partition_data: 1
            0, 0, 0, 3,             //     index
            0, 0, 0, 1, 0xaa,       //     records
        ];
        assert_eq!(&buffer[..], expected);
    }

    #[test]
    fn request_v13_byte_layout() {
        let mut buffer = BytesMut::new();
        one_partition_request(13).encode_body(&mut buffer, 13);
        let mut expected = vec![
            0, // transactional_id: compact null
            0, 1, // acks
            0, 0, 0x03, 0xe8, // timeout_ms
            2,    // topic_data: 1 (+1)
        ];
        expected.extend_from_slice(&[7; 16]); // topic_id instead of the name
        #[rustfmt::skip]
        expected.extend_from_slice(&[
            2,                      // partition_data: 1 (+1)
            0, 0, 0, 3,             // index
            2, 0xaa,                // records: compact bytes of 1
            0,                      // partition tagged fields
            0,                      // topic tagged fields
            0,                      // request tagged fields
        ]);
        assert_eq!(&buffer[..], &expected[..]);
    }

    #[test]
    fn response_v10_byte_layout_with_tagged_fields() {
        let response = ProduceResponse {
            responses: vec![TopicProduceResponse {
                name: "t".into(),
                partition_responses: vec![PartitionProduceResponse {
                    index: 0,
                    error_code: ErrorCode::NotLeaderOrFollower,
                    base_offset: -1,
                    current_leader: LeaderIdAndEpoch {
                        leader_id: 2,
                        leader_epoch: 1,
                    },
                    ..Default::default()
                }],
                ..Default::default()
            }],
            throttle_time_ms: 0,
            node_endpoints: vec![NodeEndpoint {
                node_id: 2,
                host: "h".into(),
                port: 9092,
                rack: None,
            }],
        };
        let mut buffer = BytesMut::new();
        response.encode_body(&mut buffer, 10);
        #[rustfmt::skip]
        let expected: &[u8] = &[
            2,                              // responses: 1
            2, b't',                        //   name
            2,                              //   partition_responses: 1
            0, 0, 0, 0,                     //     index
            0, 6,                           //     error_code NOT_LEADER_OR_FOLLOWER
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // base_offset -1
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // log_append_time_ms -1
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // log_start_offset -1
            1,                              //     record_errors: 0
            0,                              //     error_message: null
            1,                              //     tagged fields: 1
            0, 9,                           //       tag 0 (current_leader), 9 bytes
            0, 0, 0, 2, 0, 0, 0, 1, 0,      //       leader 2, epoch 1, no tags
            0,                              //   topic tagged fields
            0, 0, 0, 0,                     // throttle_time_ms
            1,                              // tagged fields: 1
            0, 13,                          //   tag 0 (node_endpoints), 13 bytes
            2, 0, 0, 0, 2, 2, b'h',         //   1 endpoint: node 2, host "h"
            0, 0, 0x23, 0x84, 0, 0,         //   port 9092, rack null, no tags
        ];
        assert_eq!(&buffer[..], expected);
    }
}
