//! DescribeLogDirs (key 35): the log directories and each partition's size on disk.
//!
//! Owns the wire declarations only; sizes are gathered by `handlers/describe_log_dirs` on the
//! owning shards. Sans-IO: decoded on the connection's shard.
//!
//! Versions (Kafka's `DescribeLogDirsRequest.json` / `DescribeLogDirsResponse.json`):
//! ```text
//! v0       deprecated (KIP-896), not in the codec
//! v1       same as v0 (throttling before the response)
//! v2       flexible
//! v3       response: top-level error_code
//! v4       response: total_bytes / usable_bytes per log dir (default -1)
//! ```
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::StrBytes;
use crate::{kafka_message, kafka_struct};

kafka_struct! {
    pub struct DescribeLogDirsRequest {
        /// `None` asks for every topic.
        topics: Option<Vec<DescribableLogDirTopic>> => 1..,
    }
}
kafka_message!(DescribeLogDirsRequest, ApiKey::DescribeLogDirs);

kafka_struct! {
    pub struct DescribableLogDirTopic {
        topic: StrBytes => 1..,
        partitions: Vec<i32> => 1..,
    }
}

kafka_struct! {
    pub struct DescribeLogDirsResponse {
        throttle_time_ms: i32 => 1..,
        error_code: ErrorCode => 3..,
        results: Vec<DescribeLogDirsResult> => 1..,
    }
}
kafka_message!(DescribeLogDirsResponse, ApiKey::DescribeLogDirs);

kafka_struct! {
    pub struct DescribeLogDirsResult {
        error_code: ErrorCode => 1..,
        /// Absolute path of the log directory.
        log_dir: StrBytes => 1..,
        topics: Vec<DescribeLogDirsTopic> => 1..,
        /// Size of the volume holding the directory, -1 when unknown.
        total_bytes: i64 => 4.. ; default -1,
        /// Bytes available to the broker on that volume, -1 when unknown.
        usable_bytes: i64 => 4.. ; default -1,
    }
}

kafka_struct! {
    pub struct DescribeLogDirsTopic {
        name: StrBytes => 1..,
        partitions: Vec<DescribeLogDirsPartition> => 1..,
    }
}

kafka_struct! {
    pub struct DescribeLogDirsPartition {
        partition_index: i32 => 1..,
        /// Bytes of the partition's log segments.
        partition_size: i64 => 1..,
        offset_lag: i64 => 1..,
        is_future_key: bool => 1..,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::BytesMut;

    fn request() -> DescribeLogDirsRequest {
        DescribeLogDirsRequest {
            topics: Some(vec![DescribableLogDirTopic {
                topic: "t".into(),
                partitions: vec![0, 2],
            }]),
        }
    }

    /// Fields of `version`'s schema only, so the round trip compares like with like.
    fn response(version: i16) -> DescribeLogDirsResponse {
        let v4 = version >= 4;
        DescribeLogDirsResponse {
            throttle_time_ms: 1,
            error_code: if version >= 3 {
                ErrorCode::ClusterAuthorizationFailed
            } else {
                ErrorCode::None
            },
            results: vec![DescribeLogDirsResult {
                error_code: ErrorCode::None,
                log_dir: "/d".into(),
                topics: vec![DescribeLogDirsTopic {
                    name: "t".into(),
                    partitions: vec![DescribeLogDirsPartition {
                        partition_index: 2,
                        partition_size: 300,
                        offset_lag: 0,
                        is_future_key: true,
                    }],
                }],
                total_bytes: if v4 { 1000 } else { -1 },
                usable_bytes: if v4 { 500 } else { -1 },
            }],
        }
    }

    #[test]
    fn round_trip_every_version() {
        for version in DescribeLogDirsRequest::VERSION_MIN..=DescribeLogDirsRequest::VERSION_MAX {
            assert_round_trip(&request(), version);
            assert_truncations_fail(&request(), version);
            assert_round_trip(&DescribeLogDirsRequest { topics: None }, version);
            assert_round_trip(&response(version), version);
            assert_truncations_fail(&response(version), version);
        }
    }

    #[test]
    fn versions_are_one_to_four() {
        assert_eq!(DescribeLogDirsRequest::VERSION_MIN, 1);
        assert_eq!(DescribeLogDirsRequest::VERSION_MAX, 4);
    }

    #[test]
    fn request_null_topics_v1_byte_layout() {
        let mut buffer = BytesMut::new();
        DescribeLogDirsRequest { topics: None }.encode_body(&mut buffer, 1);
        assert_eq!(&buffer[..], &[0xff, 0xff, 0xff, 0xff]);
    }

    #[test]
    fn response_v4_byte_layout() {
        let mut buffer = BytesMut::new();
        response(4).encode_body(&mut buffer, 4);
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0, 0, 0, 1,                   // throttle_time_ms
            0, 31,                        // error_code CLUSTER_AUTHORIZATION_FAILED
            2,                            // results: 1
            0, 0,                         //   error_code
            3, b'/', b'd',                //   log_dir
            2,                            //   topics: 1
            2, b't',                      //     name
            2,                            //     partitions: 1
            0, 0, 0, 2,                   //       partition_index
            0, 0, 0, 0, 0, 0, 0x01, 0x2c, //       partition_size 300
            0, 0, 0, 0, 0, 0, 0, 0,       //       offset_lag
            1,                            //       is_future_key
            0,                            //       partition tagged fields
            0,                            //     topic tagged fields
            0, 0, 0, 0, 0, 0, 0x03, 0xe8, //   total_bytes 1000
            0, 0, 0, 0, 0, 0, 0x01, 0xf4, //   usable_bytes 500
            0,                            //   result tagged fields
            0,                            // tagged fields
        ];
        assert_eq!(&buffer[..], expected);
    }
}
