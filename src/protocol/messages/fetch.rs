//! Fetch (key 1): consumers and followers read record batches from partition offsets.
//!
//! Owns the wire declarations only; resolving offsets to file ranges is `handlers/fetch` and
//! `storage/`. Sans-IO: decoded on the connection's shard.
//!
//! Versions (Kafka's `FetchRequest.json` / `FetchResponse.json`):
//! ```text
//! v4       isolation_level, last_stable_offset, aborted_transactions; RecordBatch v2 only
//! v5       log_start_offset          v7   fetch sessions, forgotten topics, top error_code
//! v9       current_leader_epoch      v11  rack_id, preferred_read_replica
//! v12      flexible; last_fetched_epoch; tagged cluster_id, diverging_epoch, current_leader,
//!          snapshot_id
//! v13      topics addressed by `topic_id` (uuid) instead of name (KIP-516)
//! v15      replica_id moves into the tagged replica_state (KIP-903)
//! v16      tagged node_endpoints in the response (KIP-951)
//! v17      tagged replica_directory_id per partition (KIP-853)
//! ```
//! The response's records are nullable bytes: on the broker they are built from file ranges
//! (zero-copy), so this declaration is what tests, ringbench and followers decode.
pub use super::produce::{LeaderIdAndEpoch, NodeEndpoint};
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::{StrBytes, Uuid};
use crate::{kafka_message, kafka_struct};
use bytes::Bytes;

kafka_struct! {
    pub struct FetchRequest {
        /// -1 for consumers; from v15 the follower's id is in `replica_state`.
        replica_id: i32 => 0..=14 ; default -1,
        max_wait_ms: i32 => 0..,
        min_bytes: i32 => 0..,
        max_bytes: i32 => 3.. ; default 0x7fff_ffff,
        /// 0 = READ_UNCOMMITTED, 1 = READ_COMMITTED.
        isolation_level: i8 => 4..,
        session_id: i32 => 7..,
        session_epoch: i32 => 7.. ; default -1,
        topics: Vec<FetchTopic> => 0..,
        forgotten_topics_data: Vec<ForgottenTopic> => 7..,
        rack_id: StrBytes => 11..,
    }
    tagged {
        cluster_id: Option<StrBytes> => tag 0, 12..,
        replica_state: ReplicaState => tag 1, 15..,
    }
}
kafka_message!(FetchRequest, ApiKey::Fetch);

kafka_struct! {
    pub struct ReplicaState {
        replica_id: i32 => 15.. ; default -1,
        replica_epoch: i64 => 15.. ; default -1,
    }
}

kafka_struct! {
    pub struct FetchTopic {
        topic: StrBytes => 0..=12,
        topic_id: Uuid => 13..,
        partitions: Vec<FetchPartition> => 0..,
    }
}

kafka_struct! {
    pub struct FetchPartition {
        partition: i32 => 0..,
        current_leader_epoch: i32 => 9.. ; default -1,
        fetch_offset: i64 => 0..,
        last_fetched_epoch: i32 => 12.. ; default -1,
        /// Only meaningful from followers.
        log_start_offset: i64 => 5.. ; default -1,
        partition_max_bytes: i32 => 0..,
    }
    tagged {
        replica_directory_id: Uuid => tag 0, 17..,
    }
}

kafka_struct! {
    pub struct ForgottenTopic {
        topic: StrBytes => 7..=12,
        topic_id: Uuid => 13..,
        partitions: Vec<i32> => 7..,
    }
}

kafka_struct! {
    pub struct FetchResponse {
        throttle_time_ms: i32 => 1..,
        error_code: ErrorCode => 7..,
        session_id: i32 => 7..,
        responses: Vec<FetchableTopicResponse> => 0..,
    }
    tagged {
        /// Endpoints of the leaders named in `current_leader` of NOT_LEADER_OR_FOLLOWER and
        /// FENCED_LEADER_EPOCH answers.
        node_endpoints: Vec<NodeEndpoint> => tag 0, 16..,
    }
}
kafka_message!(FetchResponse, ApiKey::Fetch);

kafka_struct! {
    pub struct FetchableTopicResponse {
        topic: StrBytes => 0..=12,
        topic_id: Uuid => 13..,
        partitions: Vec<PartitionData> => 0..,
    }
}

kafka_struct! {
    pub struct PartitionData {
        partition_index: i32 => 0..,
        error_code: ErrorCode => 0..,
        high_watermark: i64 => 0..,
        last_stable_offset: i64 => 4.. ; default -1,
        log_start_offset: i64 => 5.. ; default -1,
        /// Null unless READ_COMMITTED and the range holds aborted transactions.
        aborted_transactions: Option<Vec<AbortedTransaction>> => 4..,
        preferred_read_replica: i32 => 11.. ; default -1,
        records: Option<Bytes> => 0..,
    }
    tagged {
        diverging_epoch: EpochEndOffset => tag 0, 12..,
        current_leader: LeaderIdAndEpoch => tag 1, 12..,
        snapshot_id: SnapshotId => tag 2, 12..,
    }
}

kafka_struct! {
    /// Largest epoch and its end offset below which the follower's log agrees with the leader.
    pub struct EpochEndOffset {
        epoch: i32 => 12.. ; default -1,
        end_offset: i64 => 12.. ; default -1,
    }
}

kafka_struct! {
    /// Where a fetcher below the log start offset should load a snapshot from (KRaft).
    pub struct SnapshotId {
        end_offset: i64 => 0.. ; default -1,
        epoch: i32 => 0.. ; default -1,
    }
}

kafka_struct! {
    pub struct AbortedTransaction {
        producer_id: i64 => 4..,
        first_offset: i64 => 4..,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::BytesMut;

    const TOPIC_ID: Uuid = Uuid([9; 16]);

    fn partition(version: i16) -> FetchPartition {
        let mut partition = FetchPartition {
            partition: 1,
            fetch_offset: 100,
            partition_max_bytes: 1 << 20,
            ..Default::default()
        };
        if version >= 5 {
            partition.log_start_offset = 3;
        }
        if version >= 9 {
            partition.current_leader_epoch = 4;
        }
        if version >= 12 {
            partition.last_fetched_epoch = 2;
        }
        if version >= 17 {
            partition.replica_directory_id = Uuid([5; 16]);
        }
        partition
    }

    /// A request with every field of `version` set to a non-default value.
    fn request(version: i16) -> FetchRequest {
        let mut topic = FetchTopic {
            partitions: vec![partition(version)],
            ..Default::default()
        };
        let mut request = FetchRequest {
            max_wait_ms: 500,
            min_bytes: 1,
            ..Default::default()
        };
        if version <= 14 {
            request.replica_id = 2;
        } else {
            request.replica_state = ReplicaState {
                replica_id: 2,
                replica_epoch: 11,
            };
        }
        request.max_bytes = 52_428_800;
        request.isolation_level = 1;
        if version >= 7 {
            request.session_id = 77;
            request.session_epoch = 3;
            let mut forgotten = ForgottenTopic {
                partitions: vec![0, 5],
                ..Default::default()
            };
            if version >= 13 {
                forgotten.topic_id = Uuid([8; 16]);
            } else {
                forgotten.topic = "gone".into();
            }
            request.forgotten_topics_data = vec![forgotten];
        }
        if version >= 11 {
            request.rack_id = "rack-a".into();
        }
        if version >= 12 {
            request.cluster_id = Some("cluster-1".into());
        }
        if version >= 13 {
            topic.topic_id = TOPIC_ID;
        } else {
            topic.topic = "orders".into();
        }
        request.topics = vec![topic];
        request
    }

    fn partition_data(version: i16) -> PartitionData {
        let mut partition = PartitionData {
            partition_index: 1,
            error_code: ErrorCode::FencedLeaderEpoch,
            high_watermark: 200,
            last_stable_offset: 190,
            aborted_transactions: Some(vec![AbortedTransaction {
                producer_id: 1234,
                first_offset: 150,
            }]),
            records: Some(Bytes::from_static(&[1, 2, 3, 4])),
            ..Default::default()
        };
        if version >= 5 {
            partition.log_start_offset = 10;
        }
        if version >= 11 {
            partition.preferred_read_replica = 3;
        }
        if version >= 12 {
            partition.diverging_epoch = EpochEndOffset {
                epoch: 5,
                end_offset: 180,
            };
            partition.current_leader = LeaderIdAndEpoch {
                leader_id: 3,
                leader_epoch: 6,
            };
            partition.snapshot_id = SnapshotId {
                end_offset: 50,
                epoch: 4,
            };
        }
        partition
    }

    /// A response with every field of `version` set to a non-default value.
    fn response(version: i16) -> FetchResponse {
        let mut topic = FetchableTopicResponse {
            partitions: vec![partition_data(version)],
            ..Default::default()
        };
        if version >= 13 {
            topic.topic_id = TOPIC_ID;
        } else {
            topic.topic = "orders".into();
        }
        let mut response = FetchResponse {
            throttle_time_ms: 7,
            responses: vec![topic],
            ..Default::default()
        };
        if version >= 7 {
            response.error_code = ErrorCode::FetchSessionIdNotFound;
            response.session_id = 77;
        }
        if version >= 16 {
            response.node_endpoints = vec![NodeEndpoint {
                node_id: 3,
                host: "b3".into(),
                port: 9093,
                rack: None,
            }];
        }
        response
    }

    #[test]
    fn round_trip_every_version() {
        for version in FetchRequest::VERSION_MIN..=FetchRequest::VERSION_MAX {
            assert_round_trip(&request(version), version);
            assert_truncations_fail(&request(version), version);
            assert_round_trip(&response(version), version);
            assert_truncations_fail(&response(version), version);
        }
    }

    #[test]
    fn absent_fields_decode_to_kafka_defaults() {
        let mut buffer = BytesMut::new();
        request(15).encode_body(&mut buffer, 15);
        let decoded = FetchRequest::decode_body(buffer.freeze(), 15).unwrap();
        assert_eq!(decoded.replica_id, -1, "replica_id is gone from v15");
        assert_eq!(decoded.replica_state.replica_id, 2);

        let mut buffer = BytesMut::new();
        request(4).encode_body(&mut buffer, 4);
        let decoded = FetchRequest::decode_body(buffer.freeze(), 4).unwrap();
        assert_eq!(decoded.session_epoch, -1);
        assert_eq!(decoded.topics[0].partitions[0].current_leader_epoch, -1);
        assert_eq!(decoded.topics[0].partitions[0].last_fetched_epoch, -1);
    }

    #[test]
    fn request_v4_byte_layout() {
        let request = FetchRequest {
            replica_id: -1,
            max_wait_ms: 500,
            min_bytes: 1,
            max_bytes: 1024,
            isolation_level: 1,
            topics: vec![FetchTopic {
                topic: "t".into(),
                partitions: vec![FetchPartition {
                    partition: 0,
                    fetch_offset: 5,
                    partition_max_bytes: 256,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut buffer = BytesMut::new();
        request.encode_body(&mut buffer, 4);
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0xff, 0xff, 0xff, 0xff,     // replica_id -1
            0, 0, 0x01, 0xf4,           // max_wait_ms 500
            0, 0, 0, 1,                 // min_bytes
            0, 0, 0x04, 0,              // max_bytes 1024
            1,                          // isolation_level READ_COMMITTED
            0, 0, 0, 1,                 // topics: 1
            0, 1, b't',                 //   topic
            0, 0, 0, 1,                 //   partitions: 1
            0, 0, 0, 0,                 //     partition
            0, 0, 0, 0, 0, 0, 0, 5,     //     fetch_offset
            0, 0, 1, 0,                 //     partition_max_bytes 256
        ];
        assert_eq!(&buffer[..], expected);
    }

    #[test]
    fn response_v16_byte_layout_with_tagged_fields() {
        let response = FetchResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::None,
            session_id: 0,
            responses: vec![FetchableTopicResponse {
                topic_id: Uuid([1; 16]),
                partitions: vec![PartitionData {
                    partition_index: 0,
                    error_code: ErrorCode::None,
                    high_watermark: 1,
                    last_stable_offset: 1,
                    log_start_offset: 0,
                    aborted_transactions: None,
                    preferred_read_replica: -1,
                    records: Some(Bytes::from_static(&[0xee])),
                    current_leader: LeaderIdAndEpoch {
                        leader_id: 1,
                        leader_epoch: 2,
                    },
                    ..Default::default()
                }],
                ..Default::default()
            }],
            node_endpoints: Vec::new(),
        };
        let mut buffer = BytesMut::new();
        response.encode_body(&mut buffer, 16);
        let mut expected = vec![
            0, 0, 0, 0, // throttle_time_ms
            0, 0, // error_code
            0, 0, 0, 0, // session_id
            2, // responses: 1
        ];
        expected.extend_from_slice(&[1; 16]); // topic_id
        #[rustfmt::skip]
        expected.extend_from_slice(&[
            2,                          // partitions: 1
            0, 0, 0, 0,                 //   partition_index
            0, 0,                       //   error_code
            0, 0, 0, 0, 0, 0, 0, 1,     //   high_watermark
            0, 0, 0, 0, 0, 0, 0, 1,     //   last_stable_offset
            0, 0, 0, 0, 0, 0, 0, 0,     //   log_start_offset
            0,                          //   aborted_transactions: null
            0xff, 0xff, 0xff, 0xff,     //   preferred_read_replica -1
            2, 0xee,                    //   records: 1 byte
            1,                          //   tagged fields: 1 (only the non-default one)
            1, 9,                       //     tag 1 (current_leader), 9 bytes
            0, 0, 0, 1, 0, 0, 0, 2, 0,  //     leader 1, epoch 2, no tags
            0,                          // topic tagged fields
            0,                          // response tagged fields: node_endpoints empty
        ]);
        assert_eq!(&buffer[..], &expected[..]);
    }
}
