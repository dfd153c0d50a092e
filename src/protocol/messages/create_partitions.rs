//! CreatePartitions (key 37): grow topics to a new total partition count, optionally placing the
//! new partitions by hand; `validate_only` checks without changing anything.
//!
//! Sans-IO declarations only; decoded on the connection's shard. The fields are the same in
//! every version: v1 differs from v0 only in throttling behaviour, v2 is the first flexible
//! version, v3 may answer THROTTLING_QUOTA_EXCEEDED (KIP-599).
//!
//! ```text
//! request:  [topics:[name count:i32 [assignments:[[broker_ids:i32]]]?]] timeout_ms:i32
//!           validate_only:bool                                (v2+: compact, tagged fields)
//! response: throttle_time_ms:i32 [results:[name error_code:i16 error_message?]]
//! ```
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::StrBytes;
use crate::{kafka_message, kafka_struct};

kafka_struct! {
    /// The replicas of one new partition, in the order of the new partitions.
    pub struct CreatePartitionsAssignment {
        broker_ids: Vec<i32> => 0..,
    }
}

kafka_struct! {
    /// `count` is the new total; `assignments` is null for automatic placement.
    pub struct CreatePartitionsTopic {
        name: StrBytes => 0..,
        count: i32 => 0..,
        assignments: Option<Vec<CreatePartitionsAssignment>> => 0..,
    }
}

kafka_struct! {
    pub struct CreatePartitionsRequest {
        topics: Vec<CreatePartitionsTopic> => 0..,
        timeout_ms: i32 => 0..,
        validate_only: bool => 0..,
    }
}
kafka_message!(CreatePartitionsRequest, ApiKey::CreatePartitions);

kafka_struct! {
    pub struct CreatePartitionsTopicResult {
        name: StrBytes => 0..,
        error_code: ErrorCode => 0..,
        error_message: Option<StrBytes> => 0.. ; default None,
    }
}

kafka_struct! {
    pub struct CreatePartitionsResponse {
        throttle_time_ms: i32 => 0..,
        results: Vec<CreatePartitionsTopicResult> => 0..,
    }
}
kafka_message!(CreatePartitionsResponse, ApiKey::CreatePartitions);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::BytesMut;

    /// Every field exists in every version; `version` only varies the values.
    fn request(version: i16) -> CreatePartitionsRequest {
        CreatePartitionsRequest {
            topics: vec![
                CreatePartitionsTopic {
                    name: "orders".into(),
                    count: 6 + i32::from(version),
                    assignments: Some(vec![
                        CreatePartitionsAssignment {
                            broker_ids: vec![1, 2],
                        },
                        CreatePartitionsAssignment {
                            broker_ids: vec![2, 3],
                        },
                    ]),
                },
                CreatePartitionsTopic {
                    name: "payments".into(),
                    count: 2,
                    assignments: None,
                },
            ],
            timeout_ms: 10_000,
            validate_only: true,
        }
    }

    fn response(version: i16) -> CreatePartitionsResponse {
        CreatePartitionsResponse {
            throttle_time_ms: i32::from(version) + 1,
            results: vec![
                CreatePartitionsTopicResult {
                    name: "orders".into(),
                    error_code: ErrorCode::InvalidPartitions,
                    error_message: Some("fewer".into()),
                },
                CreatePartitionsTopicResult {
                    name: "payments".into(),
                    error_code: ErrorCode::None,
                    error_message: None,
                },
            ],
        }
    }

    #[test]
    fn round_trip_every_version() {
        let range = CreatePartitionsRequest::VERSION_MIN..=CreatePartitionsRequest::VERSION_MAX;
        for version in range {
            assert_round_trip(&request(version), version);
            assert_truncations_fail(&request(version), version);
            assert_round_trip(&response(version), version);
            assert_truncations_fail(&response(version), version);
        }
    }

    fn small_request() -> CreatePartitionsRequest {
        CreatePartitionsRequest {
            topics: vec![CreatePartitionsTopic {
                name: "t".into(),
                count: 2,
                assignments: Some(vec![CreatePartitionsAssignment {
                    broker_ids: vec![5],
                }]),
            }],
            timeout_ms: 1,
            validate_only: false,
        }
    }

    #[test]
    fn request_v1_byte_layout() {
        let mut buffer = BytesMut::new();
        small_request().encode_body(&mut buffer, 1);
        #[rustfmt::skip]
        let expected = [
            0, 0, 0, 1,             // topics: 1
            0, 1, b't',             // name
            0, 0, 0, 2,             // count
            0, 0, 0, 1,             // assignments: 1
            0, 0, 0, 1, 0, 0, 0, 5, // broker_ids: [5]
            0, 0, 0, 1,             // timeout_ms
            0,                      // validate_only
        ];
        assert_eq!(&buffer[..], &expected);
    }

    #[test]
    fn request_v2_byte_layout() {
        let mut buffer = BytesMut::new();
        small_request().encode_body(&mut buffer, 2);
        #[rustfmt::skip]
        let expected = [
            2,                      // topics: compact 1
            2, b't',                // name
            0, 0, 0, 2,             // count
            2,                      // assignments: compact 1
            2, 0, 0, 0, 5, 0,       // broker_ids: compact [5], assignment tags
            0,                      // topic tags
            0, 0, 0, 1,             // timeout_ms
            0,                      // validate_only
            0,                      // tags
        ];
        assert_eq!(&buffer[..], &expected);
    }

    #[test]
    fn response_v0_byte_layout() {
        let mut buffer = BytesMut::new();
        let response = CreatePartitionsResponse {
            throttle_time_ms: 0,
            results: vec![CreatePartitionsTopicResult {
                name: "t".into(),
                error_code: ErrorCode::InvalidPartitions,
                error_message: None,
            }],
        };
        response.encode_body(&mut buffer, 0);
        let expected = [0, 0, 0, 0, 0, 0, 0, 1, 0, 1, b't', 0, 37, 0xff, 0xff];
        assert_eq!(&buffer[..], &expected);
    }
}
