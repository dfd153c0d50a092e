//! OffsetFetch (key 9): a consumer reads its group's committed positions.
//!
//! Declarations only; sans-IO, decoded and encoded on the connection's shard. Up to v7 a request
//! names one group (`group_id`, `topics`) and the response answers in `topics` plus a top-level
//! `error_code` (v2+); from v8 (KIP-709) requests batch `groups` and responses answer per group in
//! `groups`. A null topic list (v2+ top level, every v8+ group) means "every topic the group has
//! committed"; below v2 Kafka's readers reject null, so v1 requests must carry `Some`. v10 (topic
//! ids) was unstable in Kafka 4.1 and is not declared (see `versions.rs`).
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::StrBytes;
use crate::{kafka_message, kafka_struct};

kafka_struct! {
    /// A topic of the single group of a v0–v7 request.
    pub struct OffsetFetchRequestTopic {
        name: StrBytes => 0..=7,
        partition_indexes: Vec<i32> => 0..=7,
    }
}

kafka_struct! {
    /// A topic of one group of a v8+ request.
    pub struct OffsetFetchRequestTopics {
        name: StrBytes => 8..,
        partition_indexes: Vec<i32> => 8..,
    }
}

kafka_struct! {
    /// One group of a v8+ request. `member_id`/`member_epoch` (v9+) are set by KIP-848
    /// consumers and validated by the coordinator.
    pub struct OffsetFetchRequestGroup {
        group_id: StrBytes => 8..,
        member_id: Option<StrBytes> => 9..,
        member_epoch: i32 => 9.. ; default -1,
        topics: Option<Vec<OffsetFetchRequestTopics>> => 8.. ; default Some(Vec::new()),
    }
}

kafka_struct! {
    pub struct OffsetFetchRequest {
        group_id: StrBytes => 0..=7,
        /// Nullable from v2 only (see the module doc).
        topics: Option<Vec<OffsetFetchRequestTopic>> => 0..=7 ; default Some(Vec::new()),
        groups: Vec<OffsetFetchRequestGroup> => 8..,
        require_stable: bool => 7..,
    }
}
kafka_message!(OffsetFetchRequest, ApiKey::OffsetFetch);

kafka_struct! {
    pub struct OffsetFetchResponsePartition {
        partition_index: i32 => 0..=7,
        committed_offset: i64 => 0..=7,
        committed_leader_epoch: i32 => 5..=7 ; default -1,
        metadata: Option<StrBytes> => 0..=7 ; default Some(StrBytes::default()),
        error_code: ErrorCode => 0..=7,
    }
}

kafka_struct! {
    pub struct OffsetFetchResponseTopic {
        name: StrBytes => 0..=7,
        partitions: Vec<OffsetFetchResponsePartition> => 0..=7,
    }
}

kafka_struct! {
    pub struct OffsetFetchResponsePartitions {
        partition_index: i32 => 8..,
        committed_offset: i64 => 8..,
        committed_leader_epoch: i32 => 8.. ; default -1,
        metadata: Option<StrBytes> => 8.. ; default Some(StrBytes::default()),
        error_code: ErrorCode => 8..,
    }
}

kafka_struct! {
    pub struct OffsetFetchResponseTopics {
        name: StrBytes => 8..,
        partitions: Vec<OffsetFetchResponsePartitions> => 8..,
    }
}

kafka_struct! {
    pub struct OffsetFetchResponseGroup {
        group_id: StrBytes => 8..,
        topics: Vec<OffsetFetchResponseTopics> => 8..,
        error_code: ErrorCode => 8..,
    }
}

kafka_struct! {
    pub struct OffsetFetchResponse {
        throttle_time_ms: i32 => 3..,
        topics: Vec<OffsetFetchResponseTopic> => 0..=7,
        error_code: ErrorCode => 2..=7,
        groups: Vec<OffsetFetchResponseGroup> => 8..,
    }
}
kafka_message!(OffsetFetchResponse, ApiKey::OffsetFetch);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may panic on bad input
mod tests {
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::BytesMut;

    /// Every field present at `version` holds a non-default value.
    fn request(version: i16) -> OffsetFetchRequest {
        let mut request = OffsetFetchRequest::default();
        if version <= 7 {
            request.group_id = "g".into();
            request.topics = Some(vec![OffsetFetchRequestTopic {
                name: "t".into(),
                partition_indexes: vec![0, 2],
            }]);
        } else {
            let group = OffsetFetchRequestGroup {
                group_id: "g".into(),
                topics: Some(vec![OffsetFetchRequestTopics {
                    name: "t".into(),
                    partition_indexes: vec![0, 2],
                }]),
                ..Default::default()
            };
            let every_topic = OffsetFetchRequestGroup {
                group_id: "h".into(),
                topics: None,
                ..Default::default()
            };
            request.groups = vec![group, every_topic];
        }
        if version >= 7 {
            request.require_stable = true;
        }
        if version >= 9 {
            request.groups[0].member_id = Some("m".into());
            request.groups[0].member_epoch = 6;
        }
        request
    }

    fn response(version: i16) -> OffsetFetchResponse {
        let mut response = OffsetFetchResponse::default();
        if version >= 3 {
            response.throttle_time_ms = 4;
        }
        if version <= 7 {
            let partition = OffsetFetchResponsePartition {
                partition_index: 2,
                committed_offset: 50,
                committed_leader_epoch: if version >= 5 { 3 } else { -1 },
                metadata: None,
                error_code: ErrorCode::UnstableOffsetCommit,
            };
            response.topics = vec![OffsetFetchResponseTopic {
                name: "t".into(),
                partitions: vec![partition],
            }];
        }
        if (2..=7).contains(&version) {
            response.error_code = ErrorCode::NotCoordinator;
        }
        if version >= 8 {
            response.groups = vec![OffsetFetchResponseGroup {
                group_id: "g".into(),
                topics: vec![OffsetFetchResponseTopics {
                    name: "t".into(),
                    partitions: vec![OffsetFetchResponsePartitions {
                        partition_index: 2,
                        committed_offset: 50,
                        committed_leader_epoch: 3,
                        metadata: Some("x".into()),
                        error_code: ErrorCode::UnstableOffsetCommit,
                    }],
                }],
                error_code: ErrorCode::GroupIdNotFound,
            }];
        }
        response
    }

    #[test]
    fn round_trip_every_version() {
        for version in OffsetFetchRequest::VERSION_MIN..=OffsetFetchRequest::VERSION_MAX {
            assert_round_trip(&request(version), version);
            assert_truncations_fail(&request(version), version);
            assert_round_trip(&response(version), version);
            assert_truncations_fail(&response(version), version);
        }
    }

    #[test]
    fn null_topics_means_every_topic_from_v2() {
        let mut request = request(2);
        request.topics = None;
        let bytes = assert_round_trip(&request, 2);
        assert_eq!(&bytes[..], &[0, 1, b'g', 0xff, 0xff, 0xff, 0xff]);
        let bytes = assert_round_trip(&request, 6);
        assert_eq!(&bytes[..], &[2, b'g', 0, 0]);
    }

    #[test]
    fn request_v1_byte_layout() {
        let mut buffer = BytesMut::new();
        request(1).encode_body(&mut buffer, 1);
        #[rustfmt::skip]
        let expected = [
            0, 1, b'g',                  // group_id
            0, 0, 0, 1,                  // topics: i32 count
            0, 1, b't',                  //   name
            0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, // partition_indexes
        ];
        assert_eq!(&buffer[..], &expected);
    }

    #[test]
    fn request_v9_byte_layout() {
        let mut buffer = BytesMut::new();
        request(9).encode_body(&mut buffer, 9);
        #[rustfmt::skip]
        let expected = [
            3,                           // groups: compact array of 2
            2, b'g',                     //   group_id
            2, b'm',                     //   member_id
            0, 0, 0, 6,                  //   member_epoch
            2,                           //   topics: compact array of 1
            2, b't',                     //     name
            3, 0, 0, 0, 0, 0, 0, 0, 2,   //     partition_indexes: compact array of 2
            0,                           //     topic's tagged fields
            0,                           //   group's tagged fields
            2, b'h',                     //   group_id
            0,                           //   member_id: null
            0xff, 0xff, 0xff, 0xff,      //   member_epoch -1
            0,                           //   topics: null
            0,                           //   group's tagged fields
            1,                           // require_stable
            0,                           // request's tagged fields
        ];
        assert_eq!(&buffer[..], &expected);
    }

    #[test]
    fn response_v5_byte_layout() {
        let mut buffer = BytesMut::new();
        response(5).encode_body(&mut buffer, 5);
        #[rustfmt::skip]
        let expected = [
            0, 0, 0, 4,                  // throttle_time_ms
            0, 0, 0, 1,                  // topics
            0, 1, b't',                  //   name
            0, 0, 0, 1,                  //   partitions
            0, 0, 0, 2,                  //     partition_index
            0, 0, 0, 0, 0, 0, 0, 50,     //     committed_offset
            0, 0, 0, 3,                  //     committed_leader_epoch
            0xff, 0xff,                  //     metadata: null
            0, 88,                       //     error_code UNSTABLE_OFFSET_COMMIT
            0, 16,                       // error_code NOT_COORDINATOR
        ];
        assert_eq!(&buffer[..], &expected);
    }
}
