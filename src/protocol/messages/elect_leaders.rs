//! ElectLeaders (key 43): preferred or unclean leader elections for some partitions, or all
//! (`kafka-leader-election.sh`, `Admin.electLeaders`; KIP-183, KIP-460).
//!
//! Owns the wire declarations only; the elections are `handlers/elect_leaders` through the
//! active controller. Sans-IO: decoded on the connection's shard.
//!
//! Versions (Kafka's `ElectLeadersRequest.json` / `ElectLeadersResponse.json`):
//! ```text
//! v0       topic_partitions (null = every partition), timeout_ms; per-partition results
//! v1       request: election_type (0 preferred, 1 unclean; KIP-460); response: error_code
//! v2       flexible
//! ```
//!
//! ```text
//! request:  election_type:i8 (v1+) [topic_partitions:[topic [partitions:i32] tags]]?
//!           timeout_ms:i32 tags
//! response: throttle_time_ms:i32 error_code:i16 (v1+)
//!           [replica_election_results:[topic [partition_result:[partition_id:i32
//!             error_code:i16 error_message?] tags] tags]] tags
//! ```
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::StrBytes;
use crate::{kafka_message, kafka_struct};

/// `election_type` 0: the preferred (first assigned) replica.
pub const ELECTION_TYPE_PREFERRED: i8 = 0;
/// `election_type` 1: any live replica of a leaderless partition.
pub const ELECTION_TYPE_UNCLEAN: i8 = 1;

kafka_struct! {
    pub struct ElectLeadersRequest {
        /// v0 has no field: preferred.
        election_type: i8 => 1.. ; default ELECTION_TYPE_PREFERRED,
        /// `None`: every partition of the cluster.
        topic_partitions: Option<Vec<ElectLeadersTopicPartitions>> => 0..,
        timeout_ms: i32 => 0.. ; default 60_000,
    }
}
kafka_message!(ElectLeadersRequest, ApiKey::ElectLeaders);

kafka_struct! {
    pub struct ElectLeadersTopicPartitions {
        topic: StrBytes => 0..,
        partitions: Vec<i32> => 0..,
    }
}

kafka_struct! {
    pub struct ElectLeadersResponse {
        throttle_time_ms: i32 => 0..,
        error_code: ErrorCode => 1..,
        replica_election_results: Vec<ReplicaElectionResult> => 0..,
    }
}
kafka_message!(ElectLeadersResponse, ApiKey::ElectLeaders);

kafka_struct! {
    pub struct ReplicaElectionResult {
        topic: StrBytes => 0..,
        partition_result: Vec<ElectLeadersPartitionResult> => 0..,
    }
}

kafka_struct! {
    pub struct ElectLeadersPartitionResult {
        partition_id: i32 => 0..,
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

    fn request(version: i16) -> ElectLeadersRequest {
        ElectLeadersRequest {
            election_type: if version >= 1 {
                ELECTION_TYPE_UNCLEAN
            } else {
                0
            },
            topic_partitions: Some(vec![ElectLeadersTopicPartitions {
                topic: "t".into(),
                partitions: vec![0, 2],
            }]),
            timeout_ms: 2000,
        }
    }

    fn response() -> ElectLeadersResponse {
        ElectLeadersResponse {
            throttle_time_ms: 1,
            error_code: ErrorCode::None,
            replica_election_results: vec![ReplicaElectionResult {
                topic: "t".into(),
                partition_result: vec![ElectLeadersPartitionResult {
                    partition_id: 2,
                    error_code: ErrorCode::ElectionNotNeeded,
                    error_message: Some("no".into()),
                }],
            }],
        }
    }

    #[test]
    fn round_trip_every_version() {
        for version in ElectLeadersRequest::VERSION_MIN..=ElectLeadersRequest::VERSION_MAX {
            assert_round_trip(&request(version), version);
            assert_truncations_fail(&request(version), version);
            let all = ElectLeadersRequest {
                topic_partitions: None,
                ..request(version)
            };
            assert_round_trip(&all, version);
            let mut response = response();
            if version == 0 {
                response.error_code = ErrorCode::None;
            }
            assert_round_trip(&response, version);
            assert_truncations_fail(&response, version);
        }
    }

    #[test]
    fn request_v1_byte_layout() {
        let mut buffer = BytesMut::new();
        let all = ElectLeadersRequest {
            topic_partitions: None,
            ..request(1)
        };
        all.encode_body(&mut buffer, 1);
        #[rustfmt::skip]
        let expected: &[u8] = &[
            1,                  // election_type UNCLEAN
            0xff, 0xff, 0xff, 0xff, // topic_partitions: null
            0, 0, 0x07, 0xd0,   // timeout_ms 2000
        ];
        assert_eq!(&buffer[..], expected);
    }

    #[test]
    fn response_v2_byte_layout() {
        let mut buffer = BytesMut::new();
        response().encode_body(&mut buffer, 2);
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0, 0, 0, 1,         // throttle_time_ms
            0, 0,               // error_code
            2,                  // replica_election_results: 1
            2, b't',            //   topic
            2,                  //   partition_result: 1
            0, 0, 0, 2,         //     partition_id
            0, 84,              //     error_code ELECTION_NOT_NEEDED
            3, b'n', b'o',      //     error_message
            0,                  //     tags
            0,                  //   tags
            0,                  // tags
        ];
        assert_eq!(&buffer[..], expected);
    }
}
