//! DeleteGroups (key 42): an admin deletes empty groups and their committed offsets.
//!
//! Declarations only; sans-IO, decoded and encoded on the connection's shard. A group with
//! members is answered NON_EMPTY_GROUP; each requested group gets one result.
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::StrBytes;
use crate::{kafka_message, kafka_struct};

kafka_struct! {
    pub struct DeleteGroupsRequest {
        /// Kafka's own (odd) plural: `GroupsNames`.
        groups_names: Vec<StrBytes> => 0..,
    }
}
kafka_message!(DeleteGroupsRequest, ApiKey::DeleteGroups);

kafka_struct! {
    pub struct DeletableGroupResult {
        group_id: StrBytes => 0..,
        error_code: ErrorCode => 0..,
    }
}

kafka_struct! {
    pub struct DeleteGroupsResponse {
        throttle_time_ms: i32 => 0..,
        results: Vec<DeletableGroupResult> => 0..,
    }
}
kafka_message!(DeleteGroupsResponse, ApiKey::DeleteGroups);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may panic on bad input
mod tests {
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::BytesMut;

    /// Every field holds a non-default value (all fields exist in every version).
    fn request() -> DeleteGroupsRequest {
        DeleteGroupsRequest {
            groups_names: vec!["g".into(), "h".into()],
        }
    }

    fn response() -> DeleteGroupsResponse {
        DeleteGroupsResponse {
            throttle_time_ms: 2,
            results: vec![
                DeletableGroupResult {
                    group_id: "g".into(),
                    error_code: ErrorCode::None,
                },
                DeletableGroupResult {
                    group_id: "h".into(),
                    error_code: ErrorCode::NonEmptyGroup,
                },
            ],
        }
    }

    #[test]
    fn round_trip_every_version() {
        for version in DeleteGroupsRequest::VERSION_MIN..=DeleteGroupsRequest::VERSION_MAX {
            assert_round_trip(&request(), version);
            assert_truncations_fail(&request(), version);
            assert_round_trip(&response(), version);
            assert_truncations_fail(&response(), version);
        }
    }

    #[test]
    fn request_v1_and_v2_byte_layout() {
        let mut buffer = BytesMut::new();
        request().encode_body(&mut buffer, 1);
        assert_eq!(&buffer[..], &[0, 0, 0, 2, 0, 1, b'g', 0, 1, b'h']);
        let mut buffer = BytesMut::new();
        request().encode_body(&mut buffer, 2);
        assert_eq!(&buffer[..], &[3, 2, b'g', 2, b'h', 0]);
    }

    #[test]
    fn response_v1_and_v2_byte_layout() {
        let mut buffer = BytesMut::new();
        response().encode_body(&mut buffer, 1);
        #[rustfmt::skip]
        let expected = [
            0, 0, 0, 2,          // throttle_time_ms
            0, 0, 0, 2,          // results
            0, 1, b'g', 0, 0,    //   group_id, error_code NONE
            0, 1, b'h', 0, 68,   //   group_id, error_code NON_EMPTY_GROUP
        ];
        assert_eq!(&buffer[..], &expected);
        let mut buffer = BytesMut::new();
        response().encode_body(&mut buffer, 2);
        #[rustfmt::skip]
        let expected = [
            0, 0, 0, 2,          // throttle_time_ms
            3,                   // results: compact array of 2
            2, b'g', 0, 0, 0,    //   group_id, error_code, tagged fields
            2, b'h', 0, 68, 0,   //   group_id, error_code, tagged fields
            0,                   // tagged fields
        ];
        assert_eq!(&buffer[..], &expected);
    }
}
