//! DeleteTopics (key 20): delete topics by name (v1-5) or by name or topic id (v6+).
//!
//! Sans-IO declarations only; decoded on the connection's shard. v6 replaces the `topic_names`
//! array with `topics`, whose entries carry a nullable name and a topic id (one of the two is
//! set), and results echo the id and may have a null name. v5 adds a per-topic error message.
//!
//! ```text
//! request  v1-3: [topic_names:string] timeout_ms:i32       (v4+: compact, tagged fields)
//!          v6+:  [topics:[name? topic_id:uuid]] timeout_ms:i32
//! response v1-4: throttle_time_ms:i32 [responses:[name error_code:i16]]
//!          v5:   … error_message?   v6+: [responses:[name? topic_id error_code error_message?]]
//! ```
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::{StrBytes, Uuid};
use crate::{kafka_message, kafka_struct};

kafka_struct! {
    /// A topic to delete, by name or id (v6+).
    pub struct DeleteTopicState {
        name: Option<StrBytes> => 6.. ; default None,
        topic_id: Uuid => 6..,
    }
}

kafka_struct! {
    pub struct DeleteTopicsRequest {
        topics: Vec<DeleteTopicState> => 6..,
        topic_names: Vec<StrBytes> => 0..=5,
        timeout_ms: i32 => 0..,
    }
}
kafka_message!(DeleteTopicsRequest, ApiKey::DeleteTopics);

kafka_struct! {
    /// The outcome for one topic. `name` is nullable only from v6 (a topic named by id that
    /// does not exist); earlier versions always carry a name.
    pub struct DeletableTopicResult {
        name: Option<StrBytes> => 0..,
        topic_id: Uuid => 6..,
        error_code: ErrorCode => 0..,
        error_message: Option<StrBytes> => 5.. ; default None,
    }
}

kafka_struct! {
    pub struct DeleteTopicsResponse {
        throttle_time_ms: i32 => 1..,
        responses: Vec<DeletableTopicResult> => 0..,
    }
}
kafka_message!(DeleteTopicsResponse, ApiKey::DeleteTopics);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::BytesMut;

    fn request(version: i16) -> DeleteTopicsRequest {
        let mut request = DeleteTopicsRequest {
            timeout_ms: 30_000,
            ..Default::default()
        };
        if version >= 6 {
            request.topics = vec![
                DeleteTopicState {
                    name: Some("orders".into()),
                    topic_id: Uuid::ZERO,
                },
                DeleteTopicState {
                    name: None,
                    topic_id: Uuid([9; 16]),
                },
            ];
        } else {
            request.topic_names = vec!["orders".into(), "payments".into()];
        }
        request
    }

    fn response(version: i16) -> DeleteTopicsResponse {
        let mut result = DeletableTopicResult {
            name: Some("orders".into()),
            error_code: ErrorCode::TopicDeletionDisabled,
            ..Default::default()
        };
        if version >= 5 {
            result.error_message = Some("disabled".into());
        }
        let mut results = vec![result];
        if version >= 6 {
            results.push(DeletableTopicResult {
                name: None,
                topic_id: Uuid([9; 16]),
                error_code: ErrorCode::UnknownTopicId,
                error_message: None,
            });
        }
        DeleteTopicsResponse {
            throttle_time_ms: 3,
            responses: results,
        }
    }

    #[test]
    fn round_trip_every_version() {
        for version in DeleteTopicsRequest::VERSION_MIN..=DeleteTopicsRequest::VERSION_MAX {
            assert_round_trip(&request(version), version);
            assert_truncations_fail(&request(version), version);
            assert_round_trip(&response(version), version);
            assert_truncations_fail(&response(version), version);
        }
    }

    #[test]
    fn request_v3_byte_layout() {
        let mut buffer = BytesMut::new();
        let request = DeleteTopicsRequest {
            topic_names: vec!["ab".into()],
            timeout_ms: 256,
            ..Default::default()
        };
        request.encode_body(&mut buffer, 3);
        assert_eq!(&buffer[..], &[0, 0, 0, 1, 0, 2, b'a', b'b', 0, 0, 1, 0]);
    }

    #[test]
    fn request_v6_byte_layout() {
        let mut buffer = BytesMut::new();
        let request = DeleteTopicsRequest {
            topics: vec![DeleteTopicState {
                name: None,
                topic_id: Uuid([0xab; 16]),
            }],
            timeout_ms: 256,
            ..Default::default()
        };
        request.encode_body(&mut buffer, 6);
        // topics: compact 1, name null, uuid, element tags, timeout, tags.
        let mut expected = vec![2, 0];
        expected.extend_from_slice(&[0xab; 16]);
        expected.extend_from_slice(&[0, 0, 0, 1, 0, 0]);
        assert_eq!(&buffer[..], &expected[..]);
    }

    #[test]
    fn response_v5_byte_layout() {
        let mut buffer = BytesMut::new();
        let response = DeleteTopicsResponse {
            throttle_time_ms: 1,
            responses: vec![DeletableTopicResult {
                name: Some("t".into()),
                topic_id: Uuid::ZERO,
                error_code: ErrorCode::TopicDeletionDisabled,
                error_message: Some("no".into()),
            }],
        };
        response.encode_body(&mut buffer, 5);
        #[rustfmt::skip]
        let expected = [
            0, 0, 0, 1,      // throttle_time_ms
            2,               // responses: compact 1
            2, b't',         // name
            0, 73,           // TOPIC_DELETION_DISABLED
            3, b'n', b'o',   // error_message
            0,               // element tags
            0,               // tags
        ];
        assert_eq!(&buffer[..], &expected);
    }
}
