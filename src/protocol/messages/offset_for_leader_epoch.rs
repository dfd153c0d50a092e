//! OffsetForLeaderEpoch (key 23): the end offset of a leader epoch, for log truncation after a
//! leader change (followers) and for detecting divergence (consumers, KIP-320).
//!
//! Owns the wire declarations only; the lookup in the leader-epoch checkpoint is
//! `handlers/offset_for_leader_epoch` on the owning shard. Sans-IO: decoded on the connection's
//! shard.
//!
//! Versions (Kafka's `OffsetForLeaderEpochRequest.json` / `...Response.json`; Kafka 4.0 removed
//! v0–v1):
//! ```text
//! v2       current_leader_epoch (fencing), throttle_time_ms
//! v3       replica_id (default -2: a "debug" consumer allowed past the high watermark)
//! v4       flexible
//! ```
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::StrBytes;
use crate::{kafka_message, kafka_struct};

kafka_struct! {
    pub struct OffsetForLeaderEpochRequest {
        /// A follower's broker id, -1 for consumers, -2 (the default) for debugging tools.
        replica_id: i32 => 3.. ; default -2,
        topics: Vec<OffsetForLeaderTopic> => 0..,
    }
}
kafka_message!(OffsetForLeaderEpochRequest, ApiKey::OffsetForLeaderEpoch);

kafka_struct! {
    pub struct OffsetForLeaderTopic {
        topic: StrBytes => 0..,
        partitions: Vec<OffsetForLeaderPartition> => 0..,
    }
}

kafka_struct! {
    pub struct OffsetForLeaderPartition {
        partition: i32 => 0..,
        current_leader_epoch: i32 => 2.. ; default -1,
        /// The epoch whose end offset is asked for.
        leader_epoch: i32 => 0..,
    }
}

kafka_struct! {
    pub struct OffsetForLeaderEpochResponse {
        throttle_time_ms: i32 => 2..,
        topics: Vec<OffsetForLeaderTopicResult> => 0..,
    }
}
kafka_message!(OffsetForLeaderEpochResponse, ApiKey::OffsetForLeaderEpoch);

kafka_struct! {
    pub struct OffsetForLeaderTopicResult {
        topic: StrBytes => 0..,
        partitions: Vec<EpochEndOffset> => 0..,
    }
}

kafka_struct! {
    pub struct EpochEndOffset {
        error_code: ErrorCode => 0..,
        partition: i32 => 0..,
        leader_epoch: i32 => 1.. ; default -1,
        end_offset: i64 => 0.. ; default -1,
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
    fn request(version: i16) -> OffsetForLeaderEpochRequest {
        let mut request = OffsetForLeaderEpochRequest {
            topics: vec![OffsetForLeaderTopic {
                topic: "orders".into(),
                partitions: vec![OffsetForLeaderPartition {
                    partition: 1,
                    current_leader_epoch: 6,
                    leader_epoch: 5,
                }],
            }],
            ..Default::default()
        };
        if version >= 3 {
            request.replica_id = 2;
        }
        request
    }

    /// A response with every field of `version` set to a non-default value.
    fn response() -> OffsetForLeaderEpochResponse {
        OffsetForLeaderEpochResponse {
            throttle_time_ms: 3,
            topics: vec![OffsetForLeaderTopicResult {
                topic: "orders".into(),
                partitions: vec![EpochEndOffset {
                    error_code: ErrorCode::FencedLeaderEpoch,
                    partition: 1,
                    leader_epoch: 5,
                    end_offset: 900,
                }],
            }],
        }
    }

    #[test]
    fn round_trip_every_version() {
        let range =
            OffsetForLeaderEpochRequest::VERSION_MIN..=OffsetForLeaderEpochRequest::VERSION_MAX;
        for version in range {
            assert_round_trip(&request(version), version);
            assert_truncations_fail(&request(version), version);
            assert_round_trip(&response(), version);
            assert_truncations_fail(&response(), version);
        }
    }

    #[test]
    fn absent_replica_id_decodes_to_debug_consumer() {
        let mut buffer = BytesMut::new();
        request(2).encode_body(&mut buffer, 2);
        let decoded = OffsetForLeaderEpochRequest::decode_body(buffer.freeze(), 2).unwrap();
        assert_eq!(decoded.replica_id, -2);
    }

    fn small_request() -> OffsetForLeaderEpochRequest {
        let mut request = request(4);
        request.topics[0].topic = "t".into();
        request
    }

    #[test]
    fn request_v3_byte_layout() {
        let mut buffer = BytesMut::new();
        small_request().encode_body(&mut buffer, 3);
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0, 0, 0, 2,                 // replica_id
            0, 0, 0, 1,                 // topics: 1
            0, 1, b't',                 //   topic
            0, 0, 0, 1,                 //   partitions: 1
            0, 0, 0, 1,                 //     partition
            0, 0, 0, 6,                 //     current_leader_epoch
            0, 0, 0, 5,                 //     leader_epoch
        ];
        assert_eq!(&buffer[..], expected);
    }

    #[test]
    fn request_v4_byte_layout() {
        let mut buffer = BytesMut::new();
        small_request().encode_body(&mut buffer, 4);
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0, 0, 0, 2,                 // replica_id
            2,                          // topics: 1
            2, b't',                    //   topic
            2,                          //   partitions: 1
            0, 0, 0, 1,                 //     partition
            0, 0, 0, 6,                 //     current_leader_epoch
            0, 0, 0, 5,                 //     leader_epoch
            0,                          //     partition tagged fields
            0,                          //   topic tagged fields
            0,                          // tagged fields
        ];
        assert_eq!(&buffer[..], expected);
    }
}
