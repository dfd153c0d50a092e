//! JoinGroup (key 11): a classic-protocol member joins (or rejoins) a group, offering the
//! assignment protocols it supports; the coordinator answers once the rebalance completes, and the
//! leader's answer carries every member's subscription metadata.
//!
//! Declarations only; sans-IO, decoded and encoded on the connection's shard. Protocol metadata
//! and member metadata are opaque `Bytes` slices of the frame: the broker never parses them.
//!
//! `JoinGroupResponse::protocol_name` is nullable only from v7. Below v7 Kafka's readers reject
//! null, so a response encoded for v0–v6 must carry `Some` (the default is `Some("")`, Kafka's).
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::StrBytes;
use crate::{kafka_message, kafka_struct};
use bytes::Bytes;

kafka_struct! {
    /// One assignment protocol the member supports, with its subscription metadata.
    pub struct JoinGroupRequestProtocol {
        name: StrBytes => 0..,
        metadata: Bytes => 0..,
    }
}

kafka_struct! {
    pub struct JoinGroupRequest {
        group_id: StrBytes => 0..,
        session_timeout_ms: i32 => 0..,
        /// Absent in v0, where the session timeout also bounds the rebalance.
        rebalance_timeout_ms: i32 => 1.. ; default -1,
        member_id: StrBytes => 0..,
        group_instance_id: Option<StrBytes> => 5..,
        protocol_type: StrBytes => 0..,
        protocols: Vec<JoinGroupRequestProtocol> => 0..,
        reason: Option<StrBytes> => 8..,
    }
}
kafka_message!(JoinGroupRequest, ApiKey::JoinGroup);

kafka_struct! {
    /// A member of the group, as sent to the leader.
    pub struct JoinGroupResponseMember {
        member_id: StrBytes => 0..,
        group_instance_id: Option<StrBytes> => 5..,
        metadata: Bytes => 0..,
    }
}

kafka_struct! {
    pub struct JoinGroupResponse {
        throttle_time_ms: i32 => 2..,
        error_code: ErrorCode => 0..,
        generation_id: i32 => 0.. ; default -1,
        protocol_type: Option<StrBytes> => 7..,
        /// Nullable from v7 only (see the module doc).
        protocol_name: Option<StrBytes> => 0.. ; default Some(StrBytes::default()),
        leader: StrBytes => 0..,
        skip_assignment: bool => 9..,
        member_id: StrBytes => 0..,
        members: Vec<JoinGroupResponseMember> => 0..,
    }
}
kafka_message!(JoinGroupResponse, ApiKey::JoinGroup);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may panic on bad input
mod tests {
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::BytesMut;

    /// Every field present at `version` holds a non-default value.
    fn request(version: i16) -> JoinGroupRequest {
        let mut request = JoinGroupRequest {
            group_id: "g".into(),
            session_timeout_ms: 10,
            member_id: "m".into(),
            protocol_type: "consumer".into(),
            protocols: vec![
                JoinGroupRequestProtocol {
                    name: "range".into(),
                    metadata: Bytes::from_static(&[0, 1, 2]),
                },
                JoinGroupRequestProtocol {
                    name: "roundrobin".into(),
                    metadata: Bytes::new(),
                },
            ],
            ..Default::default()
        };
        if version >= 1 {
            request.rebalance_timeout_ms = 20;
        }
        if version >= 5 {
            request.group_instance_id = Some("i".into());
        }
        if version >= 8 {
            request.reason = Some("r".into());
        }
        request
    }

    fn response(version: i16) -> JoinGroupResponse {
        let mut response = JoinGroupResponse {
            error_code: ErrorCode::MemberIdRequired,
            generation_id: 4,
            protocol_name: Some("range".into()),
            leader: "l".into(),
            member_id: "m".into(),
            members: vec![JoinGroupResponseMember {
                member_id: "l".into(),
                group_instance_id: None,
                metadata: Bytes::from_static(&[9, 8]),
            }],
            ..Default::default()
        };
        if version >= 2 {
            response.throttle_time_ms = 1;
        }
        if version >= 5 {
            response.members[0].group_instance_id = Some("i".into());
        }
        if version >= 7 {
            response.protocol_type = Some("consumer".into());
        }
        if version >= 9 {
            response.skip_assignment = true;
        }
        response
    }

    #[test]
    fn round_trip_every_version() {
        for version in JoinGroupRequest::VERSION_MIN..=JoinGroupRequest::VERSION_MAX {
            assert_round_trip(&request(version), version);
            assert_truncations_fail(&request(version), version);
            assert_round_trip(&response(version), version);
            assert_truncations_fail(&response(version), version);
        }
    }

    #[test]
    fn absent_fields_decode_to_kafka_defaults() {
        let decoded =
            JoinGroupRequest::decode_body(assert_round_trip(&request(0), 0).freeze(), 0).unwrap();
        assert_eq!(decoded.rebalance_timeout_ms, -1);
        assert_eq!(decoded.group_instance_id, None);
        assert_eq!(JoinGroupResponse::default().generation_id, -1);
    }

    #[test]
    fn request_v5_byte_layout() {
        let mut request = request(5);
        request.protocols.truncate(1);
        let mut buffer = BytesMut::new();
        request.encode_body(&mut buffer, 5);
        #[rustfmt::skip]
        let expected = [
            0, 1, b'g',                          // group_id
            0, 0, 0, 10,                         // session_timeout_ms
            0, 0, 0, 20,                         // rebalance_timeout_ms
            0, 1, b'm',                          // member_id
            0, 1, b'i',                          // group_instance_id
            0, 8, b'c', b'o', b'n', b's', b'u', b'm', b'e', b'r', // protocol_type
            0, 0, 0, 1,                          // protocols: i32 count
            0, 5, b'r', b'a', b'n', b'g', b'e',  //   name
            0, 0, 0, 3, 0, 1, 2,                 //   metadata: i32 length + bytes
        ];
        assert_eq!(&buffer[..], &expected);
    }

    #[test]
    fn response_v9_byte_layout() {
        let mut buffer = BytesMut::new();
        response(9).encode_body(&mut buffer, 9);
        #[rustfmt::skip]
        let expected = [
            0, 0, 0, 1,                          // throttle_time_ms
            0, 79,                               // error_code MEMBER_ID_REQUIRED
            0, 0, 0, 4,                          // generation_id
            9, b'c', b'o', b'n', b's', b'u', b'm', b'e', b'r', // protocol_type
            6, b'r', b'a', b'n', b'g', b'e',     // protocol_name
            2, b'l',                             // leader
            1,                                   // skip_assignment
            2, b'm',                             // member_id
            2,                                   // members: compact array of 1
            2, b'l',                             //   member_id
            2, b'i',                             //   group_instance_id
            3, 9, 8,                             //   metadata: compact bytes
            0,                                   //   member's tagged fields
            0,                                   // response's tagged fields
        ];
        assert_eq!(&buffer[..], &expected);
    }
}
