//! DeleteAcls (key 31): an admin removes every ACL matching each filter; each filter's result
//! lists the ACLs it removed.
//!
//! Declarations only; sans-IO, decoded and encoded on the connection's shard. v1 adds the
//! pattern type (filter and result; v0: LITERAL), v2 is flexible, v3 changes nothing on the
//! wire. Filter codes as in DescribeAcls.
//!
//! ```text
//! request:  [filters:[resource_type_filter:i8 resource_name_filter? pattern_type_filter:i8
//!           (v1+) principal_filter? host_filter? operation:i8 permission_type:i8]]
//! response: throttle_time_ms:i32 [filter_results:[error_code:i16 error_message?
//!           [matching_acls:[error_code:i16 error_message? resource_type:i8 resource_name
//!           pattern_type:i8 (v1+) principal host operation:i8 permission_type:i8]]]]
//! ```
use super::create_acls::PATTERN_TYPE_LITERAL;
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::StrBytes;
use crate::{kafka_message, kafka_struct};

kafka_struct! {
    pub struct DeleteAclsFilter {
        resource_type_filter: i8 => 0..,
        resource_name_filter: Option<StrBytes> => 0..,
        pattern_type_filter: i8 => 1.. ; default PATTERN_TYPE_LITERAL,
        principal_filter: Option<StrBytes> => 0..,
        host_filter: Option<StrBytes> => 0..,
        operation: i8 => 0..,
        permission_type: i8 => 0..,
    }
}

kafka_struct! {
    pub struct DeleteAclsRequest {
        filters: Vec<DeleteAclsFilter> => 0..,
    }
}
kafka_message!(DeleteAclsRequest, ApiKey::DeleteAcls);

kafka_struct! {
    pub struct DeleteAclsMatchingAcl {
        error_code: ErrorCode => 0..,
        error_message: Option<StrBytes> => 0..,
        resource_type: i8 => 0..,
        resource_name: StrBytes => 0..,
        pattern_type: i8 => 1.. ; default PATTERN_TYPE_LITERAL,
        principal: StrBytes => 0..,
        host: StrBytes => 0..,
        operation: i8 => 0..,
        permission_type: i8 => 0..,
    }
}

kafka_struct! {
    pub struct DeleteAclsFilterResult {
        error_code: ErrorCode => 0..,
        error_message: Option<StrBytes> => 0..,
        matching_acls: Vec<DeleteAclsMatchingAcl> => 0..,
    }
}

kafka_struct! {
    pub struct DeleteAclsResponse {
        throttle_time_ms: i32 => 0..,
        filter_results: Vec<DeleteAclsFilterResult> => 0..,
    }
}
kafka_message!(DeleteAclsResponse, ApiKey::DeleteAcls);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may panic on bad input
mod tests {
    use super::*;
    use crate::protocol::Message;
    use crate::protocol::testing::{assert_round_trip, assert_truncations_fail};

    fn request(version: i16) -> DeleteAclsRequest {
        DeleteAclsRequest {
            filters: vec![DeleteAclsFilter {
                resource_type_filter: 1,
                resource_name_filter: None,
                pattern_type_filter: if version >= 1 { 1 } else { 3 },
                principal_filter: Some("User:a".into()),
                host_filter: None,
                operation: 3,
                permission_type: 1,
            }],
        }
    }

    fn response(version: i16) -> DeleteAclsResponse {
        DeleteAclsResponse {
            throttle_time_ms: 0,
            filter_results: vec![DeleteAclsFilterResult {
                error_code: ErrorCode::None,
                error_message: None,
                matching_acls: vec![DeleteAclsMatchingAcl {
                    error_code: ErrorCode::None,
                    error_message: None,
                    resource_type: 3,
                    resource_name: "g".into(),
                    pattern_type: if version >= 1 { 4 } else { 3 },
                    principal: "User:a".into(),
                    host: "*".into(),
                    operation: 3,
                    permission_type: 3,
                }],
            }],
        }
    }

    #[test]
    fn round_trip_every_version() {
        for version in DeleteAclsRequest::VERSION_MIN..=DeleteAclsRequest::VERSION_MAX {
            assert_round_trip(&request(version), version);
            assert_truncations_fail(&request(version), version);
            assert_round_trip(&response(version), version);
            assert_truncations_fail(&response(version), version);
        }
    }
}
