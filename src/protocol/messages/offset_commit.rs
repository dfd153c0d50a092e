//! OffsetCommit (key 8): a consumer stores its positions in a group, per topic partition.
//!
//! Declarations only; sans-IO, decoded and encoded on the connection's shard. From v9 (KIP-848)
//! `generation_id_or_member_epoch` carries the member epoch for new-protocol groups. v10 (topic
//! ids instead of names) was unstable in Kafka 4.1 and is not declared (see `versions.rs`).
//! `commit_timestamp` exists only in v1 and `retention_time_ms` only in v2–v4; both default to -1
//! ("use the broker's time / retention") when absent.
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::StrBytes;
use crate::{kafka_message, kafka_struct};

kafka_struct! {
    pub struct OffsetCommitRequestPartition {
        partition_index: i32 => 0..,
        committed_offset: i64 => 0..,
        committed_leader_epoch: i32 => 6.. ; default -1,
        commit_timestamp: i64 => 1..=1 ; default -1,
        committed_metadata: Option<StrBytes> => 0.. ; default Some(StrBytes::default()),
    }
}

kafka_struct! {
    pub struct OffsetCommitRequestTopic {
        name: StrBytes => 0..,
        partitions: Vec<OffsetCommitRequestPartition> => 0..,
    }
}

kafka_struct! {
    pub struct OffsetCommitRequest {
        group_id: StrBytes => 0..,
        generation_id_or_member_epoch: i32 => 1.. ; default -1,
        member_id: StrBytes => 1..,
        group_instance_id: Option<StrBytes> => 7..,
        retention_time_ms: i64 => 2..=4 ; default -1,
        topics: Vec<OffsetCommitRequestTopic> => 0..,
    }
}
kafka_message!(OffsetCommitRequest, ApiKey::OffsetCommit);

kafka_struct! {
    pub struct OffsetCommitResponsePartition {
        partition_index: i32 => 0..,
        error_code: ErrorCode => 0..,
    }
}

kafka_struct! {
    pub struct OffsetCommitResponseTopic {
        name: StrBytes => 0..,
        partitions: Vec<OffsetCommitResponsePartition> => 0..,
    }
}

kafka_struct! {
    pub struct OffsetCommitResponse {
        throttle_time_ms: i32 => 3..,
        topics: Vec<OffsetCommitResponseTopic> => 0..,
    }
}
kafka_message!(OffsetCommitResponse, ApiKey::OffsetCommit);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may panic on bad input
mod tests {
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::BytesMut;

    /// Every field present at `version` holds a non-default value.
    fn request(version: i16) -> OffsetCommitRequest {
        let mut partition = OffsetCommitRequestPartition {
            partition_index: 1,
            committed_offset: 100,
            committed_metadata: Some("x".into()),
            ..Default::default()
        };
        if version >= 6 {
            partition.committed_leader_epoch = 4;
        }
        if version == 1 {
            partition.commit_timestamp = 55;
        }
        let null_metadata = OffsetCommitRequestPartition {
            committed_metadata: None,
            ..partition.clone()
        };
        let mut request = OffsetCommitRequest {
            group_id: "g".into(),
            topics: vec![OffsetCommitRequestTopic {
                name: "t".into(),
                partitions: vec![partition, null_metadata],
            }],
            ..Default::default()
        };
        if version >= 1 {
            request.generation_id_or_member_epoch = 2;
            request.member_id = "m".into();
        }
        if (2..=4).contains(&version) {
            request.retention_time_ms = 60_000;
        }
        if version >= 7 {
            request.group_instance_id = Some("i".into());
        }
        request
    }

    fn response(version: i16) -> OffsetCommitResponse {
        OffsetCommitResponse {
            throttle_time_ms: if version >= 3 { 8 } else { 0 },
            topics: vec![OffsetCommitResponseTopic {
                name: "t".into(),
                partitions: vec![OffsetCommitResponsePartition {
                    partition_index: 1,
                    error_code: ErrorCode::OffsetMetadataTooLarge,
                }],
            }],
        }
    }

    #[test]
    fn round_trip_every_version() {
        for version in OffsetCommitRequest::VERSION_MIN..=OffsetCommitRequest::VERSION_MAX {
            assert_round_trip(&request(version), version);
            assert_truncations_fail(&request(version), version);
            assert_round_trip(&response(version), version);
            assert_truncations_fail(&response(version), version);
        }
    }

    #[test]
    fn absent_fields_decode_to_kafka_defaults() {
        let bytes = assert_round_trip(&request(5), 5).freeze();
        let decoded = OffsetCommitRequest::decode_body(bytes, 5).unwrap();
        assert_eq!(decoded.retention_time_ms, -1);
        let partition = &decoded.topics[0].partitions[0];
        assert_eq!(partition.committed_leader_epoch, -1);
        assert_eq!(partition.commit_timestamp, -1);
    }

    #[test]
    fn request_v2_byte_layout() {
        let mut request = request(2);
        request.topics[0].partitions.truncate(1);
        let mut buffer = BytesMut::new();
        request.encode_body(&mut buffer, 2);
        #[rustfmt::skip]
        let expected = [
            0, 1, b'g',                  // group_id
            0, 0, 0, 2,                  // generation_id_or_member_epoch
            0, 1, b'm',                  // member_id
            0, 0, 0, 0, 0, 0, 0xea, 0x60, // retention_time_ms 60000
            0, 0, 0, 1,                  // topics: i32 count
            0, 1, b't',                  //   name
            0, 0, 0, 1,                  //   partitions: i32 count
            0, 0, 0, 1,                  //     partition_index
            0, 0, 0, 0, 0, 0, 0, 100,    //     committed_offset
            0, 1, b'x',                  //     committed_metadata
        ];
        assert_eq!(&buffer[..], &expected);
    }

    #[test]
    fn request_v8_byte_layout() {
        let mut buffer = BytesMut::new();
        request(8).encode_body(&mut buffer, 8);
        #[rustfmt::skip]
        let expected = [
            2, b'g',                     // group_id
            0, 0, 0, 2,                  // generation_id_or_member_epoch
            2, b'm',                     // member_id
            2, b'i',                     // group_instance_id
            2,                           // topics: compact array of 1
            2, b't',                     //   name
            3,                           //   partitions: compact array of 2
            0, 0, 0, 1,                  //     partition_index
            0, 0, 0, 0, 0, 0, 0, 100,    //     committed_offset
            0, 0, 0, 4,                  //     committed_leader_epoch
            2, b'x', 0,                  //     committed_metadata, tagged fields
            0, 0, 0, 1,                  //     partition_index
            0, 0, 0, 0, 0, 0, 0, 100,    //     committed_offset
            0, 0, 0, 4,                  //     committed_leader_epoch
            0, 0,                        //     committed_metadata: null, tagged fields
            0,                           //   topic's tagged fields
            0,                           // request's tagged fields
        ];
        assert_eq!(&buffer[..], &expected);
    }

    #[test]
    fn response_v3_byte_layout() {
        let mut buffer = BytesMut::new();
        response(3).encode_body(&mut buffer, 3);
        #[rustfmt::skip]
        let expected = [
            0, 0, 0, 8,          // throttle_time_ms
            0, 0, 0, 1,          // topics
            0, 1, b't',          //   name
            0, 0, 0, 1,          //   partitions
            0, 0, 0, 1,          //     partition_index
            0, 12,               //     error_code OFFSET_METADATA_TOO_LARGE
        ];
        assert_eq!(&buffer[..], &expected);
    }
}
