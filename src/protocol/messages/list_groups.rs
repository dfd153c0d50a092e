//! ListGroups (key 16): every group a broker coordinates, optionally filtered by state (v4+,
//! KIP-518) and by type (v5+, KIP-848: "classic", "consumer", "share").
//!
//! Declarations only; sans-IO, decoded and encoded on the connection's shard. An empty filter
//! matches everything.
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::StrBytes;
use crate::{kafka_message, kafka_struct};

kafka_struct! {
    pub struct ListGroupsRequest {
        states_filter: Vec<StrBytes> => 4..,
        types_filter: Vec<StrBytes> => 5..,
    }
}
kafka_message!(ListGroupsRequest, ApiKey::ListGroups);

kafka_struct! {
    pub struct ListedGroup {
        group_id: StrBytes => 0..,
        protocol_type: StrBytes => 0..,
        group_state: StrBytes => 4..,
        group_type: StrBytes => 5..,
    }
}

kafka_struct! {
    pub struct ListGroupsResponse {
        throttle_time_ms: i32 => 1..,
        error_code: ErrorCode => 0..,
        groups: Vec<ListedGroup> => 0..,
    }
}
kafka_message!(ListGroupsResponse, ApiKey::ListGroups);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may panic on bad input
mod tests {
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::BytesMut;

    /// Every field present at `version` holds a non-default value.
    fn request(version: i16) -> ListGroupsRequest {
        let mut request = ListGroupsRequest::default();
        if version >= 4 {
            request.states_filter = vec!["Stable".into(), "Empty".into()];
        }
        if version >= 5 {
            request.types_filter = vec!["classic".into()];
        }
        request
    }

    fn response(version: i16) -> ListGroupsResponse {
        let mut group = ListedGroup {
            group_id: "g".into(),
            protocol_type: "consumer".into(),
            ..Default::default()
        };
        if version >= 4 {
            group.group_state = "Stable".into();
        }
        if version >= 5 {
            group.group_type = "classic".into();
        }
        ListGroupsResponse {
            throttle_time_ms: if version >= 1 { 1 } else { 0 },
            error_code: ErrorCode::CoordinatorNotAvailable,
            groups: vec![group.clone(), group],
        }
    }

    #[test]
    fn round_trip_every_version() {
        for version in ListGroupsRequest::VERSION_MIN..=ListGroupsRequest::VERSION_MAX {
            assert_round_trip(&request(version), version);
            assert_truncations_fail(&request(version), version);
            assert_round_trip(&response(version), version);
            assert_truncations_fail(&response(version), version);
        }
    }

    #[test]
    fn request_byte_layout() {
        let mut buffer = BytesMut::new();
        request(2).encode_body(&mut buffer, 2);
        assert!(buffer.is_empty(), "v0–v2 requests have no body");
        let mut buffer = BytesMut::new();
        request(5).encode_body(&mut buffer, 5);
        #[rustfmt::skip]
        let expected = [
            3,                                       // states_filter: compact array of 2
            7, b'S', b't', b'a', b'b', b'l', b'e',
            6, b'E', b'm', b'p', b't', b'y',
            2, 8, b'c', b'l', b'a', b's', b's', b'i', b'c', // types_filter
            0,                                       // tagged fields
        ];
        assert_eq!(&buffer[..], &expected);
    }

    #[test]
    fn response_v1_byte_layout() {
        let mut response = response(1);
        response.groups.truncate(1);
        let mut buffer = BytesMut::new();
        response.encode_body(&mut buffer, 1);
        #[rustfmt::skip]
        let expected = [
            0, 0, 0, 1,          // throttle_time_ms
            0, 15,               // error_code COORDINATOR_NOT_AVAILABLE
            0, 0, 0, 1,          // groups
            0, 1, b'g',          //   group_id
            0, 8, b'c', b'o', b'n', b's', b'u', b'm', b'e', b'r', // protocol_type
        ];
        assert_eq!(&buffer[..], &expected);
    }
}
