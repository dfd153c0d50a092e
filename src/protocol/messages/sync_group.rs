//! SyncGroup (key 14): after JoinGroup, the leader sends every member's assignment and each
//! member receives its own.
//!
//! Declarations only; sans-IO, decoded and encoded on the connection's shard. Assignments are
//! opaque `Bytes` slices of the frame: the coordinator stores and forwards them unparsed. From v5
//! (KIP-559) both sides name the protocol type and name so the broker can reject a mismatch.
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::StrBytes;
use crate::{kafka_message, kafka_struct};
use bytes::Bytes;

kafka_struct! {
    /// The leader's assignment for one member.
    pub struct SyncGroupRequestAssignment {
        member_id: StrBytes => 0..,
        assignment: Bytes => 0..,
    }
}

kafka_struct! {
    pub struct SyncGroupRequest {
        group_id: StrBytes => 0..,
        generation_id: i32 => 0..,
        member_id: StrBytes => 0..,
        group_instance_id: Option<StrBytes> => 3..,
        protocol_type: Option<StrBytes> => 5..,
        protocol_name: Option<StrBytes> => 5..,
        assignments: Vec<SyncGroupRequestAssignment> => 0..,
    }
}
kafka_message!(SyncGroupRequest, ApiKey::SyncGroup);

kafka_struct! {
    pub struct SyncGroupResponse {
        throttle_time_ms: i32 => 1..,
        error_code: ErrorCode => 0..,
        protocol_type: Option<StrBytes> => 5..,
        protocol_name: Option<StrBytes> => 5..,
        assignment: Bytes => 0..,
    }
}
kafka_message!(SyncGroupResponse, ApiKey::SyncGroup);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may panic on bad input
mod tests {
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::BytesMut;

    /// Every field present at `version` holds a non-default value.
    fn request(version: i16) -> SyncGroupRequest {
        let mut request = SyncGroupRequest {
            group_id: "g".into(),
            generation_id: 3,
            member_id: "m".into(),
            assignments: vec![SyncGroupRequestAssignment {
                member_id: "m".into(),
                assignment: Bytes::from_static(&[1, 2]),
            }],
            ..Default::default()
        };
        if version >= 3 {
            request.group_instance_id = Some("i".into());
        }
        if version >= 5 {
            request.protocol_type = Some("consumer".into());
            request.protocol_name = Some("range".into());
        }
        request
    }

    fn response(version: i16) -> SyncGroupResponse {
        let mut response = SyncGroupResponse {
            error_code: ErrorCode::RebalanceInProgress,
            assignment: Bytes::from_static(&[7]),
            ..Default::default()
        };
        if version >= 1 {
            response.throttle_time_ms = 2;
        }
        if version >= 5 {
            response.protocol_type = Some("c".into());
            response.protocol_name = Some("r".into());
        }
        response
    }

    #[test]
    fn round_trip_every_version() {
        for version in SyncGroupRequest::VERSION_MIN..=SyncGroupRequest::VERSION_MAX {
            assert_round_trip(&request(version), version);
            assert_truncations_fail(&request(version), version);
            assert_round_trip(&response(version), version);
            assert_truncations_fail(&response(version), version);
        }
    }

    #[test]
    fn request_v0_byte_layout() {
        let mut buffer = BytesMut::new();
        request(0).encode_body(&mut buffer, 0);
        #[rustfmt::skip]
        let expected = [
            0, 1, b'g',          // group_id
            0, 0, 0, 3,          // generation_id
            0, 1, b'm',          // member_id
            0, 0, 0, 1,          // assignments: i32 count
            0, 1, b'm',          //   member_id
            0, 0, 0, 2, 1, 2,    //   assignment: i32 length + bytes
        ];
        assert_eq!(&buffer[..], &expected);
    }

    #[test]
    fn response_v5_byte_layout() {
        let mut buffer = BytesMut::new();
        response(5).encode_body(&mut buffer, 5);
        #[rustfmt::skip]
        let expected = [
            0, 0, 0, 2,          // throttle_time_ms
            0, 27,               // error_code REBALANCE_IN_PROGRESS
            2, b'c',             // protocol_type
            2, b'r',             // protocol_name
            2, 7,                // assignment: compact bytes
            0,                   // tagged fields
        ];
        assert_eq!(&buffer[..], &expected);
    }
}
