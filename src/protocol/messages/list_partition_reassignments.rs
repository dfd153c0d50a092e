//! ListPartitionReassignments (key 46): the partitions being reassigned, with their replicas
//! and the ones being added and removed (KIP-455; `kafka-reassign-partitions.sh --verify`,
//! `Admin.listPartitionReassignments`).
//!
//! Owns the wire declarations only; the answer is `handlers/list_partition_reassignments`,
//! read from the broker's copy of the metadata. Sans-IO: decoded on the connection's shard.
//!
//! Versions (Kafka's `ListPartitionReassignmentsRequest.json` / `…Response.json`):
//! ```text
//! v0       flexible
//! ```
//!
//! ```text
//! request:  timeout_ms:i32 [topics:[name [partition_indexes:i32] tags]]? tags
//! response: throttle_time_ms:i32 error_code:i16 error_message?
//!           [topics:[name [partitions:[partition_index:i32 [replicas:i32]
//!             [adding_replicas:i32] [removing_replicas:i32] tags]] tags]] tags
//! ```
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::StrBytes;
use crate::{kafka_message, kafka_struct};

kafka_struct! {
    pub struct ListPartitionReassignmentsRequest {
        timeout_ms: i32 => 0.. ; default 60_000,
        /// `None`: every partition being reassigned.
        topics: Option<Vec<ListPartitionReassignmentsTopics>> => 0..,
    }
}
kafka_message!(
    ListPartitionReassignmentsRequest,
    ApiKey::ListPartitionReassignments
);

kafka_struct! {
    pub struct ListPartitionReassignmentsTopics {
        name: StrBytes => 0..,
        partition_indexes: Vec<i32> => 0..,
    }
}

kafka_struct! {
    pub struct ListPartitionReassignmentsResponse {
        throttle_time_ms: i32 => 0..,
        error_code: ErrorCode => 0..,
        error_message: Option<StrBytes> => 0..,
        topics: Vec<OngoingTopicReassignment> => 0..,
    }
}
kafka_message!(
    ListPartitionReassignmentsResponse,
    ApiKey::ListPartitionReassignments
);

kafka_struct! {
    pub struct OngoingTopicReassignment {
        name: StrBytes => 0..,
        partitions: Vec<OngoingPartitionReassignment> => 0..,
    }
}

kafka_struct! {
    pub struct OngoingPartitionReassignment {
        partition_index: i32 => 0..,
        /// Every replica: the target's, then those being removed.
        replicas: Vec<i32> => 0..,
        adding_replicas: Vec<i32> => 0..,
        removing_replicas: Vec<i32> => 0..,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::BytesMut;

    fn request() -> ListPartitionReassignmentsRequest {
        ListPartitionReassignmentsRequest {
            timeout_ms: 1000,
            topics: Some(vec![ListPartitionReassignmentsTopics {
                name: "t".into(),
                partition_indexes: vec![0, 3],
            }]),
        }
    }

    fn response() -> ListPartitionReassignmentsResponse {
        ListPartitionReassignmentsResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::None,
            error_message: None,
            topics: vec![OngoingTopicReassignment {
                name: "t".into(),
                partitions: vec![OngoingPartitionReassignment {
                    partition_index: 3,
                    replicas: vec![4, 1],
                    adding_replicas: vec![4],
                    removing_replicas: vec![1],
                }],
            }],
        }
    }

    #[test]
    fn round_trip_every_version() {
        let versions = ListPartitionReassignmentsRequest::VERSION_MIN
            ..=ListPartitionReassignmentsRequest::VERSION_MAX;
        for version in versions {
            assert_round_trip(&request(), version);
            assert_truncations_fail(&request(), version);
            let every = ListPartitionReassignmentsRequest {
                topics: None,
                ..request()
            };
            assert_round_trip(&every, version);
            assert_round_trip(&response(), version);
            assert_truncations_fail(&response(), version);
        }
    }

    #[test]
    fn response_v0_byte_layout() {
        let mut buffer = BytesMut::new();
        response().encode_body(&mut buffer, 0);
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0, 0, 0, 0,         // throttle_time_ms
            0, 0,               // error_code
            0,                  // error_message: null
            2,                  // topics: 1
            2, b't',            //   name
            2,                  //   partitions: 1
            0, 0, 0, 3,         //     partition_index
            3, 0, 0, 0, 4, 0, 0, 0, 1, // replicas [4, 1]
            2, 0, 0, 0, 4,      //     adding_replicas [4]
            2, 0, 0, 0, 1,      //     removing_replicas [1]
            0,                  //     tags
            0,                  //   tags
            0,                  // tags
        ];
        assert_eq!(&buffer[..], expected);
    }
}
