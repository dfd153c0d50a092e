//! CreateTopics (key 19): create topics with a partition count and replication factor or a
//! manual assignment, plus per-topic configs; `validate_only` checks without creating.
//!
//! Sans-IO declarations only; decoded on the connection's shard, the handler decides. From v5 the
//! response echoes the resulting partitions, replication factor and configs (KIP-525); from v7 it
//! carries the new topic's id. `topic_config_error_code` is the only tagged field (v5+).
//!
//! ```text
//! request  v2-4: [topics:[name num_partitions:i32 replication_factor:i16
//!                  [partition_index:i32 [broker_ids:i32]] [name value?]]] timeout_ms:i32
//!                validate_only:bool                       (v5+: compact, tagged fields)
//! response v2-4: throttle_time_ms:i32 [topics:[name error_code:i16 error_message?]]
//!          v5+:  … topic_id:uuid (v7+) … num_partitions replication_factor [configs]?
//! ```
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::{StrBytes, Uuid};
use crate::{kafka_message, kafka_struct};

kafka_struct! {
    /// A manual placement of one partition.
    pub struct CreatableReplicaAssignment {
        partition_index: i32 => 0..,
        broker_ids: Vec<i32> => 0..,
    }
}

kafka_struct! {
    /// A config to set on the new topic; a null value keeps the broker default.
    pub struct CreatableTopicConfig {
        name: StrBytes => 0..,
        value: Option<StrBytes> => 0..,
    }
}

kafka_struct! {
    /// One topic to create. `num_partitions` / `replication_factor` are -1 with a manual
    /// assignment or to use the broker defaults (v4+, KIP-464).
    pub struct CreatableTopic {
        name: StrBytes => 0..,
        num_partitions: i32 => 0..,
        replication_factor: i16 => 0..,
        assignments: Vec<CreatableReplicaAssignment> => 0..,
        configs: Vec<CreatableTopicConfig> => 0..,
    }
}

kafka_struct! {
    pub struct CreateTopicsRequest {
        topics: Vec<CreatableTopic> => 0..,
        timeout_ms: i32 => 0.. ; default 60_000,
        validate_only: bool => 1..,
    }
}
kafka_message!(CreateTopicsRequest, ApiKey::CreateTopics);

kafka_struct! {
    /// A config of the created topic as the broker resolved it (v5+).
    pub struct CreatableTopicConfigs {
        name: StrBytes => 5..,
        value: Option<StrBytes> => 5..,
        read_only: bool => 5..,
        config_source: i8 => 5.. ; default -1,
        is_sensitive: bool => 5..,
    }
}

kafka_struct! {
    pub struct CreatableTopicResult {
        name: StrBytes => 0..,
        topic_id: Uuid => 7..,
        error_code: ErrorCode => 0..,
        error_message: Option<StrBytes> => 1..,
        num_partitions: i32 => 5.. ; default -1,
        replication_factor: i16 => 5.. ; default -1,
        // Kafka's default for a nullable array without an explicit default is the empty array.
        configs: Option<Vec<CreatableTopicConfigs>> => 5.. ; default Some(Vec::new()),
    }
    tagged {
        /// Why `configs` could not be returned (e.g. not authorized to describe them).
        topic_config_error_code: ErrorCode => tag 0, 5..,
    }
}

kafka_struct! {
    pub struct CreateTopicsResponse {
        throttle_time_ms: i32 => 2..,
        topics: Vec<CreatableTopicResult> => 0..,
    }
}
kafka_message!(CreateTopicsResponse, ApiKey::CreateTopics);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may unwrap
mod tests {
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::BytesMut;

    fn request(version: i16) -> CreateTopicsRequest {
        CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: "orders".into(),
                num_partitions: -1,
                replication_factor: -1,
                assignments: vec![CreatableReplicaAssignment {
                    partition_index: 0,
                    broker_ids: vec![1, 2],
                }],
                configs: vec![
                    CreatableTopicConfig {
                        name: "cleanup.policy".into(),
                        value: Some("compact".into()),
                    },
                    CreatableTopicConfig {
                        name: "retention.ms".into(),
                        value: None,
                    },
                ],
            }],
            timeout_ms: 5_000,
            validate_only: version >= 1,
        }
    }

    fn response(version: i16) -> CreateTopicsResponse {
        let mut result = CreatableTopicResult {
            name: "orders".into(),
            error_code: ErrorCode::TopicAlreadyExists,
            error_message: Some("exists".into()),
            ..Default::default()
        };
        if version >= 5 {
            result.num_partitions = 3;
            result.replication_factor = 1;
            result.configs = Some(vec![CreatableTopicConfigs {
                name: "cleanup.policy".into(),
                value: Some("delete".into()),
                read_only: true,
                config_source: 5,
                is_sensitive: true,
            }]);
            result.topic_config_error_code = ErrorCode::TopicAuthorizationFailed;
        }
        if version >= 7 {
            result.topic_id = Uuid([7; 16]);
        }
        CreateTopicsResponse {
            throttle_time_ms: 12,
            topics: vec![result],
        }
    }

    #[test]
    fn round_trip_every_version() {
        for version in CreateTopicsRequest::VERSION_MIN..=CreateTopicsRequest::VERSION_MAX {
            assert_round_trip(&request(version), version);
            assert_truncations_fail(&request(version), version);
            assert_round_trip(&response(version), version);
            assert_truncations_fail(&response(version), version);
        }
    }

    #[test]
    fn absent_fields_decode_to_kafka_defaults() {
        // v4 has none of the v5+ result fields: they must come back as Kafka's defaults.
        let mut buffer = BytesMut::new();
        CreateTopicsResponse {
            throttle_time_ms: 0,
            topics: vec![CreatableTopicResult::default()],
        }
        .encode_body(&mut buffer, 4);
        let decoded = CreateTopicsResponse::decode_body(buffer.freeze(), 4).unwrap();
        let result = &decoded.topics[0];
        assert_eq!(result.num_partitions, -1);
        assert_eq!(result.replication_factor, -1);
        assert_eq!(result.configs, Some(Vec::new()));
        assert_eq!(CreateTopicsRequest::default().timeout_ms, 60_000);
    }

    fn small_request() -> CreateTopicsRequest {
        CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: "t".into(),
                num_partitions: 1,
                replication_factor: 1,
                assignments: Vec::new(),
                configs: vec![CreatableTopicConfig {
                    name: "a".into(),
                    value: None,
                }],
            }],
            timeout_ms: 1000,
            validate_only: true,
        }
    }

    #[test]
    fn request_v4_byte_layout() {
        let mut buffer = BytesMut::new();
        small_request().encode_body(&mut buffer, 4);
        #[rustfmt::skip]
        let expected = [
            0, 0, 0, 1,             // topics: 1
            0, 1, b't',             // name
            0, 0, 0, 1,             // num_partitions
            0, 1,                   // replication_factor
            0, 0, 0, 0,             // assignments: 0
            0, 0, 0, 1,             // configs: 1
            0, 1, b'a', 0xff, 0xff, // name "a", value null
            0, 0, 0x03, 0xe8,       // timeout_ms 1000
            1,                      // validate_only
        ];
        assert_eq!(&buffer[..], &expected);
    }

    #[test]
    fn request_v5_byte_layout() {
        let mut buffer = BytesMut::new();
        small_request().encode_body(&mut buffer, 5);
        #[rustfmt::skip]
        let expected = [
            2,                      // topics: compact 1
            2, b't',                // name
            0, 0, 0, 1,             // num_partitions
            0, 1,                   // replication_factor
            1,                      // assignments: compact 0
            2,                      // configs: compact 1
            2, b'a', 0, 0,          // name "a", value null, config tags
            0,                      // topic tags
            0, 0, 0x03, 0xe8,       // timeout_ms 1000
            1,                      // validate_only
            0,                      // tags
        ];
        assert_eq!(&buffer[..], &expected);
    }

    #[test]
    fn response_v7_byte_layout_with_tagged_field() {
        let response = CreateTopicsResponse {
            throttle_time_ms: 0,
            topics: vec![CreatableTopicResult {
                name: "t".into(),
                topic_id: Uuid([1; 16]),
                error_code: ErrorCode::None,
                error_message: None,
                num_partitions: 1,
                replication_factor: 1,
                configs: None,
                topic_config_error_code: ErrorCode::TopicAuthorizationFailed,
            }],
        };
        let mut buffer = BytesMut::new();
        response.encode_body(&mut buffer, 7);
        let mut expected = vec![0, 0, 0, 0, 2, 2, b't'];
        expected.extend_from_slice(&[1; 16]);
        #[rustfmt::skip]
        expected.extend_from_slice(&[
            0, 0,       // error_code
            0,          // error_message null
            0, 0, 0, 1, // num_partitions
            0, 1,       // replication_factor
            0,          // configs null
            1, 0, 2, 0, 29, // one tag: 0, size 2, TOPIC_AUTHORIZATION_FAILED
            0,          // response tags
        ]);
        assert_eq!(&buffer[..], &expected[..]);
    }
}
