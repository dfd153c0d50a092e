//! OffsetDelete (key 47): an admin deletes a group's committed offsets for some partitions
//! (KIP-496), refused with GROUP_SUBSCRIBED_TO_TOPIC while members consume them.
//!
//! Declarations only; sans-IO, decoded and encoded on the connection's shard. Only v0 exists and
//! it is not flexible.
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::StrBytes;
use crate::{kafka_message, kafka_struct};

kafka_struct! {
    pub struct OffsetDeleteRequestPartition {
        partition_index: i32 => 0..,
    }
}

kafka_struct! {
    pub struct OffsetDeleteRequestTopic {
        name: StrBytes => 0..,
        partitions: Vec<OffsetDeleteRequestPartition> => 0..,
    }
}

kafka_struct! {
    pub struct OffsetDeleteRequest {
        group_id: StrBytes => 0..,
        topics: Vec<OffsetDeleteRequestTopic> => 0..,
    }
}
kafka_message!(OffsetDeleteRequest, ApiKey::OffsetDelete);

kafka_struct! {
    pub struct OffsetDeleteResponsePartition {
        partition_index: i32 => 0..,
        error_code: ErrorCode => 0..,
    }
}

kafka_struct! {
    pub struct OffsetDeleteResponseTopic {
        name: StrBytes => 0..,
        partitions: Vec<OffsetDeleteResponsePartition> => 0..,
    }
}

kafka_struct! {
    pub struct OffsetDeleteResponse {
        error_code: ErrorCode => 0..,
        throttle_time_ms: i32 => 0..,
        topics: Vec<OffsetDeleteResponseTopic> => 0..,
    }
}
kafka_message!(OffsetDeleteResponse, ApiKey::OffsetDelete);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may panic on bad input
mod tests {
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::BytesMut;

    /// Every field holds a non-default value (only v0 exists).
    fn request() -> OffsetDeleteRequest {
        OffsetDeleteRequest {
            group_id: "g".into(),
            topics: vec![OffsetDeleteRequestTopic {
                name: "t".into(),
                partitions: vec![
                    OffsetDeleteRequestPartition { partition_index: 1 },
                    OffsetDeleteRequestPartition { partition_index: 2 },
                ],
            }],
        }
    }

    fn response() -> OffsetDeleteResponse {
        OffsetDeleteResponse {
            error_code: ErrorCode::GroupIdNotFound,
            throttle_time_ms: 3,
            topics: vec![OffsetDeleteResponseTopic {
                name: "t".into(),
                partitions: vec![OffsetDeleteResponsePartition {
                    partition_index: 1,
                    error_code: ErrorCode::GroupSubscribedToTopic,
                }],
            }],
        }
    }

    #[test]
    fn round_trip_every_version() {
        for version in OffsetDeleteRequest::VERSION_MIN..=OffsetDeleteRequest::VERSION_MAX {
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
        let expected = [
            0, 1, b'g',                  // group_id
            0, 0, 0, 1,                  // topics
            0, 1, b't',                  //   name
            0, 0, 0, 2,                  //   partitions
            0, 0, 0, 1, 0, 0, 0, 2,      //     partition_index ×2
        ];
        assert_eq!(&buffer[..], &expected);
    }

    #[test]
    fn response_v0_byte_layout() {
        let mut buffer = BytesMut::new();
        response().encode_body(&mut buffer, 0);
        #[rustfmt::skip]
        let expected = [
            0, 69,                       // error_code GROUP_ID_NOT_FOUND
            0, 0, 0, 3,                  // throttle_time_ms
            0, 0, 0, 1,                  // topics
            0, 1, b't',                  //   name
            0, 0, 0, 1,                  //   partitions
            0, 0, 0, 1,                  //     partition_index
            0, 86,                       //     error_code GROUP_SUBSCRIBED_TO_TOPIC
        ];
        assert_eq!(&buffer[..], &expected);
    }
}
