//! ListOffsets (key 2): the offset for a timestamp (or earliest/latest) of each partition.
//!
//! Owns the wire declarations only; the lookup is `handlers/list_offsets` on the owning shard.
//! Sans-IO: decoded on the connection's shard.
//!
//! Versions (Kafka's `ListOffsetsRequest.json` / `ListOffsetsResponse.json`):
//! ```text
//! v0       max_num_offsets / old_style_offsets (removed in Kafka 4.0; declared for completeness)
//! v1       one offset + its timestamp per partition
//! v2       isolation_level, throttle_time_ms     v4  current_leader_epoch, leader_epoch
//! v6       flexible                              v7–v9 new timestamp sentinels only
//! v10      timeout_ms (KIP-1075)
//! ```
//! Timestamps -1 (latest), -2 (earliest), -3 (max timestamp), -4 (local log start), -5 (last
//! tiered) are request values, not layout, so they live in the handler.
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::StrBytes;
use crate::{kafka_message, kafka_struct};

kafka_struct! {
    pub struct ListOffsetsRequest {
        /// -1 for consumers.
        replica_id: i32 => 0..,
        isolation_level: i8 => 2..,
        topics: Vec<ListOffsetsTopic> => 0..,
        timeout_ms: i32 => 10..,
    }
}
kafka_message!(ListOffsetsRequest, ApiKey::ListOffsets);

kafka_struct! {
    pub struct ListOffsetsTopic {
        name: StrBytes => 0..,
        partitions: Vec<ListOffsetsPartition> => 0..,
    }
}

kafka_struct! {
    pub struct ListOffsetsPartition {
        partition_index: i32 => 0..,
        current_leader_epoch: i32 => 4.. ; default -1,
        timestamp: i64 => 0..,
        max_num_offsets: i32 => 0..=0 ; default 1,
    }
}

kafka_struct! {
    pub struct ListOffsetsResponse {
        throttle_time_ms: i32 => 2..,
        topics: Vec<ListOffsetsTopicResponse> => 0..,
    }
}
kafka_message!(ListOffsetsResponse, ApiKey::ListOffsets);

kafka_struct! {
    pub struct ListOffsetsTopicResponse {
        name: StrBytes => 0..,
        partitions: Vec<ListOffsetsPartitionResponse> => 0..,
    }
}

kafka_struct! {
    pub struct ListOffsetsPartitionResponse {
        partition_index: i32 => 0..,
        error_code: ErrorCode => 0..,
        old_style_offsets: Vec<i64> => 0..=0,
        timestamp: i64 => 1.. ; default -1,
        offset: i64 => 1.. ; default -1,
        leader_epoch: i32 => 4.. ; default -1,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::BytesMut;

    /// A request with every field of `version` set to a non-default value.
    fn request(version: i16) -> ListOffsetsRequest {
        let mut partition = ListOffsetsPartition {
            partition_index: 2,
            timestamp: -2,
            ..Default::default()
        };
        if version >= 4 {
            partition.current_leader_epoch = 8;
        }
        let mut request = ListOffsetsRequest {
            replica_id: -1,
            topics: vec![ListOffsetsTopic {
                name: "orders".into(),
                partitions: vec![partition],
            }],
            ..Default::default()
        };
        if version >= 2 {
            request.isolation_level = 1;
        }
        if version >= 10 {
            request.timeout_ms = 15_000;
        }
        request
    }

    /// A response with every field of `version` set to a non-default value.
    fn response(version: i16) -> ListOffsetsResponse {
        let mut partition = ListOffsetsPartitionResponse {
            partition_index: 2,
            error_code: ErrorCode::OffsetNotAvailable,
            timestamp: 1_700_000_000_000,
            offset: 42,
            ..Default::default()
        };
        if version >= 4 {
            partition.leader_epoch = 3;
        }
        let mut response = ListOffsetsResponse {
            topics: vec![ListOffsetsTopicResponse {
                name: "orders".into(),
                partitions: vec![partition],
            }],
            ..Default::default()
        };
        if version >= 2 {
            response.throttle_time_ms = 9;
        }
        response
    }

    #[test]
    fn round_trip_every_version() {
        for version in ListOffsetsRequest::VERSION_MIN..=ListOffsetsRequest::VERSION_MAX {
            assert_round_trip(&request(version), version);
            assert_truncations_fail(&request(version), version);
            assert_round_trip(&response(version), version);
            assert_truncations_fail(&response(version), version);
        }
    }

    #[test]
    fn absent_fields_decode_to_kafka_defaults() {
        let mut buffer = BytesMut::new();
        response(1).encode_body(&mut buffer, 1);
        let decoded = ListOffsetsResponse::decode_body(buffer.freeze(), 1).unwrap();
        assert_eq!(decoded.topics[0].partitions[0].leader_epoch, -1);
        assert_eq!(decoded.throttle_time_ms, 0);
    }

    #[test]
    fn request_v1_byte_layout() {
        let mut buffer = BytesMut::new();
        let mut request = request(1);
        request.topics[0].name = "t".into();
        request.encode_body(&mut buffer, 1);
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0xff, 0xff, 0xff, 0xff,     // replica_id -1
            0, 0, 0, 1,                 // topics: 1
            0, 1, b't',                 //   name
            0, 0, 0, 1,                 //   partitions: 1
            0, 0, 0, 2,                 //     partition_index
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, // timestamp -2 (earliest)
        ];
        assert_eq!(&buffer[..], expected);
    }

    #[test]
    fn response_v10_byte_layout() {
        let mut buffer = BytesMut::new();
        let mut response = response(10);
        response.topics[0].name = "t".into();
        response.encode_body(&mut buffer, 10);
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0, 0, 0, 9,                 // throttle_time_ms
            2,                          // topics: 1
            2, b't',                    //   name
            2,                          //   partitions: 1
            0, 0, 0, 2,                 //     partition_index
            0, 78,                      //     error_code OFFSET_NOT_AVAILABLE
            0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, // timestamp 1_700_000_000_000
            0, 0, 0, 0, 0, 0, 0, 42,    //     offset
            0, 0, 0, 3,                 //     leader_epoch
            0,                          //     partition tagged fields
            0,                          //   topic tagged fields
            0,                          // tagged fields
        ];
        assert_eq!(&buffer[..], expected);
    }
}
