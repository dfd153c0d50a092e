//! DescribeAcls (key 29): the ACLs matching one filter, grouped by resource pattern.
//!
//! Declarations only; sans-IO, decoded and encoded on the connection's shard. v1 adds the
//! pattern type filter (v0: LITERAL), v2 is flexible, v3 changes nothing on the wire. Filter
//! codes: ANY = 1 matches every value; pattern type MATCH = 2 matches every pattern that
//! covers the named resource (`cluster::acls::AclFilter`).
//!
//! ```text
//! request:  resource_type_filter:i8 resource_name_filter? pattern_type_filter:i8 (v1+)
//!           principal_filter? host_filter? operation:i8 permission_type:i8
//! response: throttle_time_ms:i32 error_code:i16 error_message?
//!           [resources:[resource_type:i8 resource_name pattern_type:i8 (v1+)
//!                       [acls:[principal host operation:i8 permission_type:i8]]]]
//! ```
use super::create_acls::PATTERN_TYPE_LITERAL;
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::StrBytes;
use crate::{kafka_message, kafka_struct};

kafka_struct! {
    pub struct DescribeAclsRequest {
        resource_type_filter: i8 => 0..,
        resource_name_filter: Option<StrBytes> => 0..,
        pattern_type_filter: i8 => 1.. ; default PATTERN_TYPE_LITERAL,
        principal_filter: Option<StrBytes> => 0..,
        host_filter: Option<StrBytes> => 0..,
        operation: i8 => 0..,
        permission_type: i8 => 0..,
    }
}
kafka_message!(DescribeAclsRequest, ApiKey::DescribeAcls);

kafka_struct! {
    pub struct AclDescription {
        principal: StrBytes => 0..,
        host: StrBytes => 0..,
        operation: i8 => 0..,
        permission_type: i8 => 0..,
    }
}

kafka_struct! {
    pub struct DescribeAclsResource {
        resource_type: i8 => 0..,
        resource_name: StrBytes => 0..,
        pattern_type: i8 => 1.. ; default PATTERN_TYPE_LITERAL,
        acls: Vec<AclDescription> => 0..,
    }
}

kafka_struct! {
    pub struct DescribeAclsResponse {
        throttle_time_ms: i32 => 0..,
        error_code: ErrorCode => 0..,
        error_message: Option<StrBytes> => 0..,
        resources: Vec<DescribeAclsResource> => 0..,
    }
}
kafka_message!(DescribeAclsResponse, ApiKey::DescribeAcls);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may panic on bad input
mod tests {
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::BytesMut;

    fn request(version: i16) -> DescribeAclsRequest {
        DescribeAclsRequest {
            resource_type_filter: 2,
            resource_name_filter: Some("t".into()),
            pattern_type_filter: if version >= 1 { 2 } else { 3 },
            principal_filter: None,
            host_filter: Some("*".into()),
            operation: 1,
            permission_type: 1,
        }
    }

    fn response(version: i16) -> DescribeAclsResponse {
        DescribeAclsResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::None,
            error_message: None,
            resources: vec![DescribeAclsResource {
                resource_type: 2,
                resource_name: "t".into(),
                pattern_type: if version >= 1 { 4 } else { 3 },
                acls: vec![AclDescription {
                    principal: "User:a".into(),
                    host: "*".into(),
                    operation: 3,
                    permission_type: 2,
                }],
            }],
        }
    }

    #[test]
    fn round_trip_every_version() {
        for version in DescribeAclsRequest::VERSION_MIN..=DescribeAclsRequest::VERSION_MAX {
            assert_round_trip(&request(version), version);
            assert_truncations_fail(&request(version), version);
            assert_round_trip(&response(version), version);
            assert_truncations_fail(&response(version), version);
        }
    }

    #[test]
    fn request_v1_byte_layout() {
        let mut buffer = BytesMut::new();
        request(1).encode_body(&mut buffer, 1);
        #[rustfmt::skip]
        let expected = [
            2, 0, 1, b't',  // TOPIC, "t"
            2,              // MATCH
            0xff, 0xff,     // principal filter: null
            0, 1, b'*',     // host filter
            1, 1,           // ANY operation, ANY permission
        ];
        assert_eq!(&buffer[..], &expected);
    }
}
