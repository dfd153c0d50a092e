//! CreateAcls (key 30): an admin creates ACLs; each creation gets one result, in order.
//!
//! Declarations only; sans-IO, decoded and encoded on the connection's shard. Kafka's schema:
//! v1 adds the pattern type (v0: LITERAL), v2 is flexible, v3 (Kafka 3.x) changes nothing on
//! the wire (USER resources, which we refuse). Kafka 4 dropped v0 (KIP-896); librdkafka still
//! asks for v0–v1, so the codec keeps them. Codes are Kafka's (`cluster::acls`).
//!
//! ```text
//! request:  [creations:[resource_type:i8 resource_name pattern_type:i8 (v1+) principal host
//!           operation:i8 permission_type:i8]]
//! response: throttle_time_ms:i32 [results:[error_code:i16 error_message?]]
//! ```
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::StrBytes;
use crate::{kafka_message, kafka_struct};

/// Kafka's LITERAL pattern type: the default for versions without the field.
pub const PATTERN_TYPE_LITERAL: i8 = 3;

kafka_struct! {
    pub struct AclCreation {
        resource_type: i8 => 0..,
        resource_name: StrBytes => 0..,
        resource_pattern_type: i8 => 1.. ; default PATTERN_TYPE_LITERAL,
        principal: StrBytes => 0..,
        host: StrBytes => 0..,
        operation: i8 => 0..,
        permission_type: i8 => 0..,
    }
}

kafka_struct! {
    pub struct CreateAclsRequest {
        creations: Vec<AclCreation> => 0..,
    }
}
kafka_message!(CreateAclsRequest, ApiKey::CreateAcls);

kafka_struct! {
    pub struct AclCreationResult {
        error_code: ErrorCode => 0..,
        error_message: Option<StrBytes> => 0..,
    }
}

kafka_struct! {
    pub struct CreateAclsResponse {
        throttle_time_ms: i32 => 0..,
        results: Vec<AclCreationResult> => 0..,
    }
}
kafka_message!(CreateAclsResponse, ApiKey::CreateAcls);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may panic on bad input
mod tests {
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};
    use bytes::BytesMut;

    fn request(version: i16) -> CreateAclsRequest {
        CreateAclsRequest {
            creations: vec![AclCreation {
                resource_type: 2,
                resource_name: "t".into(),
                resource_pattern_type: if version >= 1 { 4 } else { 3 },
                principal: "User:a".into(),
                host: "*".into(),
                operation: 3,
                permission_type: 3,
            }],
        }
    }

    fn response() -> CreateAclsResponse {
        CreateAclsResponse {
            throttle_time_ms: 1,
            results: vec![AclCreationResult {
                error_code: ErrorCode::InvalidRequest,
                error_message: Some("bad".into()),
            }],
        }
    }

    #[test]
    fn round_trip_every_version() {
        for version in CreateAclsRequest::VERSION_MIN..=CreateAclsRequest::VERSION_MAX {
            assert_round_trip(&request(version), version);
            assert_truncations_fail(&request(version), version);
            assert_round_trip(&response(), version);
            assert_truncations_fail(&response(), version);
        }
    }

    #[test]
    fn request_v1_and_v2_byte_layout() {
        let mut buffer = BytesMut::new();
        request(1).encode_body(&mut buffer, 1);
        #[rustfmt::skip]
        let expected = [
            0, 0, 0, 1,                       // creations
            2, 0, 1, b't', 4,                 // TOPIC, "t", PREFIXED
            0, 6, b'U', b's', b'e', b'r', b':', b'a',
            0, 1, b'*', 3, 3,                 // host, READ, ALLOW
        ];
        assert_eq!(&buffer[..], &expected);
        let mut buffer = BytesMut::new();
        request(2).encode_body(&mut buffer, 2);
        #[rustfmt::skip]
        let expected = [
            2,                                // creations: compact array of 1
            2, 2, b't', 4,
            7, b'U', b's', b'e', b'r', b':', b'a',
            2, b'*', 3, 3, 0,                 // host, READ, ALLOW, tagged fields
            0,
        ];
        assert_eq!(&buffer[..], &expected);
    }
}
