//! DescribeQuorum (key 55): the metadata quorum's leader, epoch, high watermark, and how far each
//! voter and observer has replicated (KIP-595, `kafka-metadata-quorum.sh describe`).
//!
//! Sans-IO declarations only; decoded on the connection's shard, answered by
//! `handlers/describe_quorum` from shard 0's quorum. Every version is flexible.
//!
//! Versions (Kafka's `DescribeQuorumRequest.json` / `DescribeQuorumResponse.json`):
//! ```text
//! v0       topics → partitions; per partition leader, epoch, HW, voters and observers
//! v1       replica state: last_fetch_timestamp, last_caught_up_timestamp (KIP-836)
//! v2       replica state: replica_directory_id; error_message at the top and per partition;
//!          nodes with their listeners (KIP-853)
//! ```
//!
//! ```text
//! request:  [topics:[topic_name [partitions:[partition_index:i32 tags]] tags]] tags
//! response: error_code:i16 error_message? (v2+)
//!           [topics:[topic_name [partitions:[partition_index:i32 error_code:i16
//!             error_message? (v2+) leader_id:i32 leader_epoch:i32 high_watermark:i64
//!             [current_voters:replica] [observers:replica] tags]] tags]]
//!           [nodes:[node_id:i32 [listeners:[name host port:u16 tags]] tags]] (v2+) tags
//! replica:  replica_id:i32 replica_directory_id:uuid (v2+) log_end_offset:i64
//!           last_fetch_timestamp:i64 (v1+) last_caught_up_timestamp:i64 (v1+) tags
//! ```
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::{StrBytes, Uuid};
use crate::{kafka_message, kafka_struct};

kafka_struct! {
    pub struct DescribeQuorumRequest {
        topics: Vec<DescribeQuorumTopicRequest> => 0..,
    }
}
kafka_message!(DescribeQuorumRequest, ApiKey::DescribeQuorum);

kafka_struct! {
    pub struct DescribeQuorumTopicRequest {
        topic_name: StrBytes => 0..,
        partitions: Vec<DescribeQuorumPartitionRequest> => 0..,
    }
}

kafka_struct! {
    pub struct DescribeQuorumPartitionRequest {
        partition_index: i32 => 0..,
    }
}

kafka_struct! {
    pub struct DescribeQuorumResponse {
        error_code: ErrorCode => 0..,
        error_message: Option<StrBytes> => 2.. ; default None,
        topics: Vec<DescribeQuorumTopicData> => 0..,
        nodes: Vec<DescribeQuorumNode> => 2..,
    }
}
kafka_message!(DescribeQuorumResponse, ApiKey::DescribeQuorum);

kafka_struct! {
    pub struct DescribeQuorumTopicData {
        topic_name: StrBytes => 0..,
        partitions: Vec<DescribeQuorumPartitionData> => 0..,
    }
}

kafka_struct! {
    pub struct DescribeQuorumPartitionData {
        partition_index: i32 => 0..,
        error_code: ErrorCode => 0..,
        error_message: Option<StrBytes> => 2.. ; default None,
        /// -1 when the leader is unknown.
        leader_id: i32 => 0.. ; default -1,
        leader_epoch: i32 => 0.. ; default -1,
        high_watermark: i64 => 0.. ; default -1,
        current_voters: Vec<ReplicaState> => 0..,
        observers: Vec<ReplicaState> => 0..,
    }
}

kafka_struct! {
    /// One voter's or observer's replication progress, as the leader sees it.
    pub struct ReplicaState {
        replica_id: i32 => 0..,
        replica_directory_id: Uuid => 2..,
        /// -1 when unknown.
        log_end_offset: i64 => 0.. ; default -1,
        /// Leader wall clock (ms) of the replica's last fetch; -1 for the leader or unknown.
        last_fetch_timestamp: i64 => 1.. ; default -1,
        /// Leader wall clock (ms) when the replica last caught up; -1 when unknown.
        last_caught_up_timestamp: i64 => 1.. ; default -1,
    }
}

kafka_struct! {
    pub struct DescribeQuorumNode {
        node_id: i32 => 2..,
        listeners: Vec<DescribeQuorumListener> => 2..,
    }
}

kafka_struct! {
    pub struct DescribeQuorumListener {
        name: StrBytes => 2..,
        host: StrBytes => 2..,
        port: u16 => 2..,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may unwrap
mod tests {
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::BytesMut;

    fn request() -> DescribeQuorumRequest {
        DescribeQuorumRequest {
            topics: vec![DescribeQuorumTopicRequest {
                topic_name: "__cluster_metadata".into(),
                partitions: vec![DescribeQuorumPartitionRequest { partition_index: 0 }],
            }],
        }
    }

    fn replica(version: i16, replica_id: i32, log_end_offset: i64) -> ReplicaState {
        ReplicaState {
            replica_id,
            replica_directory_id: if version >= 2 {
                Uuid([7; 16])
            } else {
                Uuid::default()
            },
            log_end_offset,
            last_fetch_timestamp: if version >= 1 { 1_700_000_000_000 } else { -1 },
            last_caught_up_timestamp: if version >= 1 { 1_700_000_000_001 } else { -1 },
        }
    }

    fn response(version: i16) -> DescribeQuorumResponse {
        let nodes = vec![DescribeQuorumNode {
            node_id: 1,
            listeners: vec![DescribeQuorumListener {
                name: "CONTROLLER".into(),
                host: "10.0.0.1".into(),
                port: 9192,
            }],
        }];
        DescribeQuorumResponse {
            error_code: ErrorCode::None,
            error_message: (version >= 2).then(|| "fine".into()),
            topics: vec![DescribeQuorumTopicData {
                topic_name: "__cluster_metadata".into(),
                partitions: vec![DescribeQuorumPartitionData {
                    partition_index: 0,
                    error_code: ErrorCode::None,
                    error_message: None,
                    leader_id: 1,
                    leader_epoch: 4,
                    high_watermark: 120,
                    current_voters: vec![replica(version, 1, 120), replica(version, 2, 118)],
                    observers: vec![replica(version, 4, -1)],
                }],
            }],
            nodes: if version >= 2 { nodes } else { Vec::new() },
        }
    }

    #[test]
    fn round_trip_every_version() {
        let range = DescribeQuorumRequest::VERSION_MIN..=DescribeQuorumRequest::VERSION_MAX;
        assert_eq!(range, 0..=2);
        for version in range {
            assert_round_trip(&request(), version);
            assert_truncations_fail(&request(), version);
            assert_round_trip(&response(version), version);
            assert_truncations_fail(&response(version), version);
        }
    }

    #[test]
    fn absent_fields_decode_to_kafka_defaults() {
        let mut buffer = BytesMut::new();
        response(2).encode_body(&mut buffer, 0);
        let decoded = DescribeQuorumResponse::decode_body(buffer.freeze(), 0).unwrap();
        let partition = &decoded.topics[0].partitions[0];
        assert_eq!(partition.current_voters[0].last_fetch_timestamp, -1);
        assert_eq!(partition.current_voters[0].last_caught_up_timestamp, -1);
        assert_eq!(
            partition.current_voters[0].replica_directory_id,
            Uuid::default()
        );
        assert!(decoded.nodes.is_empty());
        assert_eq!(decoded.error_message, None);
        assert_eq!(DescribeQuorumPartitionData::default().leader_id, -1);
    }

    #[test]
    fn request_byte_layout() {
        let request = DescribeQuorumRequest {
            topics: vec![DescribeQuorumTopicRequest {
                topic_name: "m".into(),
                partitions: vec![DescribeQuorumPartitionRequest { partition_index: 0 }],
            }],
        };
        let mut buffer = BytesMut::new();
        request.encode_body(&mut buffer, 1);
        #[rustfmt::skip]
        let expected = [
            2,              // topics: compact 1
            2, b'm',        // topic_name
            2,              // partitions: compact 1
            0, 0, 0, 0, 0,  // partition_index, partition tags
            0,              // topic tags
            0,              // tags
        ];
        assert_eq!(&buffer[..], &expected);
    }

    #[test]
    fn response_v2_byte_layout() {
        let response = DescribeQuorumResponse {
            error_code: ErrorCode::None,
            error_message: None,
            topics: vec![DescribeQuorumTopicData {
                topic_name: "m".into(),
                partitions: vec![DescribeQuorumPartitionData {
                    partition_index: 0,
                    error_code: ErrorCode::NotLeaderOrFollower,
                    error_message: None,
                    leader_id: 1,
                    leader_epoch: 2,
                    high_watermark: 3,
                    current_voters: vec![replica(1, 1, 3)],
                    observers: Vec::new(),
                }],
            }],
            nodes: vec![DescribeQuorumNode {
                node_id: 1,
                listeners: vec![DescribeQuorumListener {
                    name: "C".into(),
                    host: "h".into(),
                    port: 9192,
                }],
            }],
        };
        let mut buffer = BytesMut::new();
        response.encode_body(&mut buffer, 2);
        let ts = 1_700_000_000_000_i64.to_be_bytes();
        let caught_up = 1_700_000_000_001_i64.to_be_bytes();
        let mut expected: Vec<u8> = vec![
            0, 0, // error_code
            0, // error_message null
            2, // topics: compact 1
            2, b'm', // topic_name
            2,    // partitions: compact 1
            0, 0, 0, 0, // partition_index
            0, 6, // NOT_LEADER_OR_FOLLOWER
            0, // error_message null
            0, 0, 0, 1, // leader_id
            0, 0, 0, 2, // leader_epoch
            0, 0, 0, 0, 0, 0, 0, 3, // high_watermark
            2, // current_voters: compact 1
            0, 0, 0, 1, // replica_id
        ];
        expected.extend([0; 16]); // replica_directory_id (built for v1: nil)
        expected.extend([0, 0, 0, 0, 0, 0, 0, 3]); // log_end_offset
        expected.extend(ts);
        expected.extend(caught_up);
        expected.extend([0, 1, 0, 0]); // replica tags, observers empty, partition, topic tags
        expected.extend([2, 0, 0, 0, 1, 2, 2, b'C', 2, b'h', 0x23, 0xE8, 0, 0]); // nodes
        expected.push(0); // tags
        assert_eq!(&buffer[..], &expected[..]);
    }
}
