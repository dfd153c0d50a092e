//! LeaveGroup (key 13): members leave a classic-protocol group so it rebalances at once instead
//! of waiting out their session timeouts.
//!
//! Declarations only; sans-IO, decoded and encoded on the connection's shard. Up to v2 a request
//! names one `member_id`; from v3 (KIP-345) it batches `members`, each by member id and/or static
//! `group_instance_id`, and the response answers each one in `members`.
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::StrBytes;
use crate::{kafka_message, kafka_struct};

kafka_struct! {
    /// One leaving member (v3+).
    pub struct MemberIdentity {
        member_id: StrBytes => 3..,
        group_instance_id: Option<StrBytes> => 3..,
        reason: Option<StrBytes> => 5..,
    }
}

kafka_struct! {
    pub struct LeaveGroupRequest {
        group_id: StrBytes => 0..,
        member_id: StrBytes => 0..=2,
        members: Vec<MemberIdentity> => 3..,
    }
}
kafka_message!(LeaveGroupRequest, ApiKey::LeaveGroup);

kafka_struct! {
    /// The outcome for one leaving member (v3+).
    pub struct MemberResponse {
        member_id: StrBytes => 3..,
        group_instance_id: Option<StrBytes> => 3..,
        error_code: ErrorCode => 3..,
    }
}

kafka_struct! {
    pub struct LeaveGroupResponse {
        throttle_time_ms: i32 => 1..,
        error_code: ErrorCode => 0..,
        members: Vec<MemberResponse> => 3..,
    }
}
kafka_message!(LeaveGroupResponse, ApiKey::LeaveGroup);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may panic on bad input
mod tests {
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::BytesMut;

    /// Every field present at `version` holds a non-default value.
    fn request(version: i16) -> LeaveGroupRequest {
        let mut request = LeaveGroupRequest {
            group_id: "g".into(),
            ..Default::default()
        };
        if version <= 2 {
            request.member_id = "m".into();
        } else {
            request.members = vec![
                MemberIdentity {
                    member_id: "m".into(),
                    group_instance_id: Some("i".into()),
                    reason: None,
                },
                MemberIdentity {
                    member_id: "n".into(),
                    group_instance_id: None,
                    reason: None,
                },
            ];
        }
        if version >= 5 {
            request.members[0].reason = Some("r".into());
        }
        request
    }

    fn response(version: i16) -> LeaveGroupResponse {
        let mut response = LeaveGroupResponse {
            error_code: ErrorCode::UnknownMemberId,
            ..Default::default()
        };
        if version >= 1 {
            response.throttle_time_ms = 5;
        }
        if version >= 3 {
            response.members = vec![MemberResponse {
                member_id: "m".into(),
                group_instance_id: Some("i".into()),
                error_code: ErrorCode::FencedInstanceId,
            }];
        }
        response
    }

    #[test]
    fn round_trip_every_version() {
        for version in LeaveGroupRequest::VERSION_MIN..=LeaveGroupRequest::VERSION_MAX {
            assert_round_trip(&request(version), version);
            assert_truncations_fail(&request(version), version);
            assert_round_trip(&response(version), version);
            assert_truncations_fail(&response(version), version);
        }
    }

    #[test]
    fn request_v2_and_v3_byte_layout() {
        let mut buffer = BytesMut::new();
        request(2).encode_body(&mut buffer, 2);
        assert_eq!(&buffer[..], &[0, 1, b'g', 0, 1, b'm']);
        let mut buffer = BytesMut::new();
        request(3).encode_body(&mut buffer, 3);
        #[rustfmt::skip]
        let expected = [
            0, 1, b'g',          // group_id
            0, 0, 0, 2,          // members: i32 count
            0, 1, b'm',          //   member_id
            0, 1, b'i',          //   group_instance_id
            0, 1, b'n',          //   member_id
            0xff, 0xff,          //   group_instance_id: null
        ];
        assert_eq!(&buffer[..], &expected);
    }

    #[test]
    fn request_v5_byte_layout() {
        let mut buffer = BytesMut::new();
        request(5).encode_body(&mut buffer, 5);
        #[rustfmt::skip]
        let expected = [
            2, b'g',             // group_id
            3,                   // members: compact array of 2
            2, b'm', 2, b'i',    //   member_id, group_instance_id
            2, b'r', 0,          //   reason, tagged fields
            2, b'n', 0,          //   member_id, group_instance_id: null
            0, 0,                //   reason: null, tagged fields
            0,                   // tagged fields
        ];
        assert_eq!(&buffer[..], &expected);
    }
}
