//! DeleteRecords (key 21): move partitions' log start offsets forward.
//!
//! Owns the wire declarations only; advancing the log start offset is
//! `handlers/delete_records` on the owning shards. Sans-IO: decoded on the connection's shard.
//!
//! Versions (Kafka's `DeleteRecordsRequest.json` / `DeleteRecordsResponse.json`):
//! ```text
//! v0       topics → partitions (offset), timeout_ms; low_watermark back
//! v1       same layout (throttling before the response)
//! v2       flexible
//! ```
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::StrBytes;
use crate::{kafka_message, kafka_struct};

kafka_struct! {
    pub struct DeleteRecordsRequest {
        topics: Vec<DeleteRecordsTopic> => 0..,
        timeout_ms: i32 => 0..,
    }
}
kafka_message!(DeleteRecordsRequest, ApiKey::DeleteRecords);

kafka_struct! {
    pub struct DeleteRecordsTopic {
        name: StrBytes => 0..,
        partitions: Vec<DeleteRecordsPartition> => 0..,
    }
}

kafka_struct! {
    pub struct DeleteRecordsPartition {
        partition_index: i32 => 0..,
        /// Delete everything before this offset; -1 means the high watermark.
        offset: i64 => 0..,
    }
}

kafka_struct! {
    pub struct DeleteRecordsResponse {
        throttle_time_ms: i32 => 0..,
        topics: Vec<DeleteRecordsTopicResult> => 0..,
    }
}
kafka_message!(DeleteRecordsResponse, ApiKey::DeleteRecords);

kafka_struct! {
    pub struct DeleteRecordsTopicResult {
        name: StrBytes => 0..,
        partitions: Vec<DeleteRecordsPartitionResult> => 0..,
    }
}

kafka_struct! {
    pub struct DeleteRecordsPartitionResult {
        partition_index: i32 => 0..,
        /// The new log start offset.
        low_watermark: i64 => 0..,
        error_code: ErrorCode => 0..,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::BytesMut;

    /// Every field exists in every version, so one value serves all of them.
    fn request() -> DeleteRecordsRequest {
        DeleteRecordsRequest {
            topics: vec![DeleteRecordsTopic {
                name: "t".into(),
                partitions: vec![DeleteRecordsPartition {
                    partition_index: 1,
                    offset: 300,
                }],
            }],
            timeout_ms: 2000,
        }
    }

    fn response() -> DeleteRecordsResponse {
        DeleteRecordsResponse {
            throttle_time_ms: 1,
            topics: vec![DeleteRecordsTopicResult {
                name: "t".into(),
                partitions: vec![DeleteRecordsPartitionResult {
                    partition_index: 1,
                    low_watermark: 300,
                    error_code: ErrorCode::OffsetOutOfRange,
                }],
            }],
        }
    }

    #[test]
    fn round_trip_every_version() {
        for version in DeleteRecordsRequest::VERSION_MIN..=DeleteRecordsRequest::VERSION_MAX {
            assert_round_trip(&request(), version);
            assert_truncations_fail(&request(), version);
            assert_round_trip(&response(), version);
            assert_truncations_fail(&response(), version);
        }
    }

    #[test]
    fn request_v0_byte_layout() {
        let mut buffer = BytesMut::new();
        request().encode_body(&mut buffer, 0);
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0, 0, 0, 1,                 // topics: 1
            0, 1, b't',                 //   name
            0, 0, 0, 1,                 //   partitions: 1
            0, 0, 0, 1,                 //     partition_index
            0, 0, 0, 0, 0, 0, 0x01, 0x2c, // offset 300
            0, 0, 0x07, 0xd0,           // timeout_ms 2000
        ];
        assert_eq!(&buffer[..], expected);
    }

    #[test]
    fn response_v2_byte_layout() {
        let mut buffer = BytesMut::new();
        response().encode_body(&mut buffer, 2);
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0, 0, 0, 1,                 // throttle_time_ms
            2,                          // topics: 1
            2, b't',                    //   name
            2,                          //   partitions: 1
            0, 0, 0, 1,                 //     partition_index
            0, 0, 0, 0, 0, 0, 0x01, 0x2c, // low_watermark 300
            0, 1,                       //     error_code OFFSET_OUT_OF_RANGE
            0,                          //     partition tagged fields
            0,                          //   topic tagged fields
            0,                          // tagged fields
        ];
        assert_eq!(&buffer[..], expected);
    }
}
