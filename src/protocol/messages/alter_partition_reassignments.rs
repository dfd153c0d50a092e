//! AlterPartitionReassignments (key 45): start, replace or cancel partition reassignments
//! (KIP-455; `kafka-reassign-partitions.sh --execute/--cancel`,
//! `Admin.alterPartitionReassignments`).
//!
//! Owns the wire declarations only; the reassignment is `handlers/alter_partition_reassignments`
//! through the active controller. Sans-IO: decoded on the connection's shard.
//!
//! Versions (Kafka's `AlterPartitionReassignmentsRequest.json` / `…Response.json`):
//! ```text
//! v0       flexible
//! v1       allow_replication_factor_change in request and response (KIP-860)
//! ```
//!
//! ```text
//! request:  timeout_ms:i32 allow_replication_factor_change:bool (v1+)
//!           [topics:[name [partitions:[partition_index:i32 replicas:[i32]? tags]] tags]] tags
//! response: throttle_time_ms:i32 allow_replication_factor_change:bool (v1+) error_code:i16
//!           error_message? [responses:[name [partitions:[partition_index:i32 error_code:i16
//!           error_message? tags]] tags]] tags
//! ```
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::StrBytes;
use crate::{kafka_message, kafka_struct};

kafka_struct! {
    pub struct AlterPartitionReassignmentsRequest {
        timeout_ms: i32 => 0.. ; default 60_000,
        /// v0 has no field: any replication factor change is allowed.
        allow_replication_factor_change: bool => 1.. ; default true,
        topics: Vec<ReassignableTopic> => 0..,
    }
}
kafka_message!(
    AlterPartitionReassignmentsRequest,
    ApiKey::AlterPartitionReassignments
);

kafka_struct! {
    pub struct ReassignableTopic {
        name: StrBytes => 0..,
        partitions: Vec<ReassignablePartition> => 0..,
    }
}

kafka_struct! {
    pub struct ReassignablePartition {
        partition_index: i32 => 0..,
        /// The target replicas; `None` cancels the partition's ongoing reassignment.
        replicas: Option<Vec<i32>> => 0..,
    }
}

kafka_struct! {
    pub struct AlterPartitionReassignmentsResponse {
        throttle_time_ms: i32 => 0..,
        allow_replication_factor_change: bool => 1.. ; default true,
        error_code: ErrorCode => 0..,
        error_message: Option<StrBytes> => 0..,
        responses: Vec<ReassignableTopicResponse> => 0..,
    }
}
kafka_message!(
    AlterPartitionReassignmentsResponse,
    ApiKey::AlterPartitionReassignments
);

kafka_struct! {
    pub struct ReassignableTopicResponse {
        name: StrBytes => 0..,
        partitions: Vec<ReassignablePartitionResponse> => 0..,
    }
}

kafka_struct! {
    pub struct ReassignablePartitionResponse {
        partition_index: i32 => 0..,
        error_code: ErrorCode => 0..,
        error_message: Option<StrBytes> => 0..,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::BytesMut;

    fn request(version: i16) -> AlterPartitionReassignmentsRequest {
        AlterPartitionReassignmentsRequest {
            timeout_ms: 1000,
            allow_replication_factor_change: version == 0,
            topics: vec![ReassignableTopic {
                name: "t".into(),
                partitions: vec![
                    ReassignablePartition {
                        partition_index: 1,
                        replicas: Some(vec![4, 2]),
                    },
                    ReassignablePartition {
                        partition_index: 2,
                        replicas: None,
                    },
                ],
            }],
        }
    }

    fn response(version: i16) -> AlterPartitionReassignmentsResponse {
        AlterPartitionReassignmentsResponse {
            throttle_time_ms: 0,
            allow_replication_factor_change: version == 0,
            error_code: ErrorCode::None,
            error_message: None,
            responses: vec![ReassignableTopicResponse {
                name: "t".into(),
                partitions: vec![ReassignablePartitionResponse {
                    partition_index: 2,
                    error_code: ErrorCode::NoReassignmentInProgress,
                    error_message: Some("no".into()),
                }],
            }],
        }
    }

    #[test]
    fn round_trip_every_version() {
        let versions = AlterPartitionReassignmentsRequest::VERSION_MIN
            ..=AlterPartitionReassignmentsRequest::VERSION_MAX;
        for version in versions {
            assert_round_trip(&request(version), version);
            assert_truncations_fail(&request(version), version);
            assert_round_trip(&response(version), version);
            assert_truncations_fail(&response(version), version);
        }
    }

    #[test]
    fn request_v0_byte_layout() {
        let mut buffer = BytesMut::new();
        request(0).encode_body(&mut buffer, 0);
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0, 0, 0x03, 0xe8,   // timeout_ms 1000
            2,                  // topics: 1
            2, b't',            //   name
            3,                  //   partitions: 2
            0, 0, 0, 1,         //     partition_index
            3, 0, 0, 0, 4, 0, 0, 0, 2, // replicas [4, 2]
            0,                  //     tags
            0, 0, 0, 2,         //     partition_index
            0,                  //     replicas: null
            0,                  //     tags
            0,                  //   tags
            0,                  // tags
        ];
        assert_eq!(&buffer[..], expected);
    }

    #[test]
    fn response_v1_byte_layout() {
        let mut buffer = BytesMut::new();
        response(1).encode_body(&mut buffer, 1);
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0, 0, 0, 0,         // throttle_time_ms
            0,                  // allow_replication_factor_change false
            0, 0,               // error_code
            0,                  // error_message: null
            2,                  // responses: 1
            2, b't',            //   name
            2,                  //   partitions: 1
            0, 0, 0, 2,         //     partition_index
            0, 85,              //     error_code NO_REASSIGNMENT_IN_PROGRESS
            3, b'n', b'o',      //     error_message
            0,                  //     tags
            0,                  //   tags
            0,                  // tags
        ];
        assert_eq!(&buffer[..], expected);
    }
}
