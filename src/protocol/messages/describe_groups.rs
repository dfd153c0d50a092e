//! DescribeGroups (key 15): state, protocol and members of classic-protocol groups.
//!
//! Declarations only; sans-IO, decoded and encoded on the connection's shard. Member metadata and
//! assignments are opaque `Bytes`. v6 (KIP-1043, Kafka 4.0) answers an unknown group with
//! GROUP_ID_NOT_FOUND and adds `error_message`. `authorized_operations` defaults to `i32::MIN`,
//! Kafka's "not requested".
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::StrBytes;
use crate::{kafka_message, kafka_struct};
use bytes::Bytes;

kafka_struct! {
    pub struct DescribeGroupsRequest {
        groups: Vec<StrBytes> => 0..,
        include_authorized_operations: bool => 3..,
    }
}
kafka_message!(DescribeGroupsRequest, ApiKey::DescribeGroups);

kafka_struct! {
    pub struct DescribedGroupMember {
        member_id: StrBytes => 0..,
        group_instance_id: Option<StrBytes> => 4..,
        client_id: StrBytes => 0..,
        client_host: StrBytes => 0..,
        member_metadata: Bytes => 0..,
        member_assignment: Bytes => 0..,
    }
}

kafka_struct! {
    pub struct DescribedGroup {
        error_code: ErrorCode => 0..,
        error_message: Option<StrBytes> => 6..,
        group_id: StrBytes => 0..,
        group_state: StrBytes => 0..,
        protocol_type: StrBytes => 0..,
        protocol_data: StrBytes => 0..,
        members: Vec<DescribedGroupMember> => 0..,
        authorized_operations: i32 => 3.. ; default i32::MIN,
    }
}

kafka_struct! {
    pub struct DescribeGroupsResponse {
        throttle_time_ms: i32 => 1..,
        groups: Vec<DescribedGroup> => 0..,
    }
}
kafka_message!(DescribeGroupsResponse, ApiKey::DescribeGroups);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may panic on bad input
mod tests {
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::BytesMut;

    /// Every field present at `version` holds a non-default value.
    fn request(version: i16) -> DescribeGroupsRequest {
        DescribeGroupsRequest {
            groups: vec!["g".into(), "h".into()],
            include_authorized_operations: version >= 3,
        }
    }

    fn response(version: i16) -> DescribeGroupsResponse {
        let mut member = DescribedGroupMember {
            member_id: "m".into(),
            group_instance_id: None,
            client_id: "c".into(),
            client_host: "/h".into(),
            member_metadata: Bytes::from_static(&[1]),
            member_assignment: Bytes::from_static(&[2, 3]),
        };
        if version >= 4 {
            member.group_instance_id = Some("i".into());
        }
        let mut group = DescribedGroup {
            error_code: ErrorCode::None,
            group_id: "g".into(),
            group_state: "Stable".into(),
            protocol_type: "consumer".into(),
            protocol_data: "range".into(),
            members: vec![member],
            ..Default::default()
        };
        if version >= 3 {
            group.authorized_operations = 0x0f;
        }
        let mut missing = DescribedGroup {
            error_code: ErrorCode::GroupIdNotFound,
            group_id: "h".into(),
            group_state: "Dead".into(),
            ..Default::default()
        };
        if version >= 6 {
            missing.error_message = Some("e".into());
        }
        DescribeGroupsResponse {
            throttle_time_ms: if version >= 1 { 6 } else { 0 },
            groups: vec![group, missing],
        }
    }

    #[test]
    fn round_trip_every_version() {
        for version in DescribeGroupsRequest::VERSION_MIN..=DescribeGroupsRequest::VERSION_MAX {
            assert_round_trip(&request(version), version);
            assert_truncations_fail(&request(version), version);
            assert_round_trip(&response(version), version);
            assert_truncations_fail(&response(version), version);
        }
    }

    #[test]
    fn request_v3_and_v5_byte_layout() {
        let mut buffer = BytesMut::new();
        request(3).encode_body(&mut buffer, 3);
        assert_eq!(&buffer[..], &[0, 0, 0, 2, 0, 1, b'g', 0, 1, b'h', 1]);
        let mut buffer = BytesMut::new();
        request(5).encode_body(&mut buffer, 5);
        assert_eq!(&buffer[..], &[3, 2, b'g', 2, b'h', 1, 0]);
    }

    #[test]
    fn response_v6_byte_layout() {
        let mut response = response(6);
        response.groups.remove(0);
        let mut buffer = BytesMut::new();
        response.encode_body(&mut buffer, 6);
        #[rustfmt::skip]
        let expected = [
            0, 0, 0, 6,                          // throttle_time_ms
            2,                                   // groups: compact array of 1
            0, 69,                               //   error_code GROUP_ID_NOT_FOUND
            2, b'e',                             //   error_message
            2, b'h',                             //   group_id
            5, b'D', b'e', b'a', b'd',           //   group_state
            1,                                   //   protocol_type ""
            1,                                   //   protocol_data ""
            1,                                   //   members: empty
            0x80, 0, 0, 0,                       //   authorized_operations i32::MIN
            0,                                   //   group's tagged fields
            0,                                   // response's tagged fields
        ];
        assert_eq!(&buffer[..], &expected);
    }

    #[test]
    fn response_v0_byte_layout() {
        let mut response = response(0);
        response.groups.truncate(1);
        response.groups[0].protocol_type = "c".into();
        response.groups[0].group_state = "S".into();
        response.groups[0].protocol_data = "r".into();
        let mut buffer = BytesMut::new();
        response.encode_body(&mut buffer, 0);
        #[rustfmt::skip]
        let expected = [
            0, 0, 0, 1,                          // groups
            0, 0,                                //   error_code
            0, 1, b'g',                          //   group_id
            0, 1, b'S',                          //   group_state
            0, 1, b'c',                          //   protocol_type
            0, 1, b'r',                          //   protocol_data
            0, 0, 0, 1,                          //   members
            0, 1, b'm',                          //     member_id
            0, 1, b'c',                          //     client_id
            0, 2, b'/', b'h',                    //     client_host
            0, 0, 0, 1, 1,                       //     member_metadata
            0, 0, 0, 2, 2, 3,                    //     member_assignment
        ];
        assert_eq!(&buffer[..], &expected);
    }
}
