//! DescribeAcls (key 29): the ACLs matching a filter, grouped by resource pattern, read from
//! this shard's published metadata. Runs on the connection's shard.
//!
//! As Kafka: the caller needs DESCRIBE on the cluster (else CLUSTER_AUTHORIZATION_FAILED); a
//! filter with an unknown code is INVALID_REQUEST; patterns come out in a fixed order
//! (resource type, pattern type, name), their ACLs in the table's order.
use super::authorize::{WireFilter, filter_from_wire};
use super::{HandlerError, RequestContext};
use crate::cluster::acls::{AclBinding, AclOperation, ResourcePattern};
use crate::cluster::controller;
use crate::protocol::messages::describe_acls::{
    AclDescription, DescribeAclsRequest, DescribeAclsResource, DescribeAclsResponse,
};
use crate::protocol::{ApiKey, ErrorCode};
use std::collections::BTreeMap;

pub const API_KEY: ApiKey = ApiKey::DescribeAcls;
pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 3;

/// # Errors
/// None of its own: a refusal is the response's error code.
/// # Panics
/// When dispatched for another API key (a registry error).
pub async fn handle(
    ctx: &mut RequestContext,
    request: DescribeAclsRequest,
) -> Result<DescribeAclsResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    if !ctx.authorize_cluster(AclOperation::Describe) {
        return Ok(refused(ErrorCode::ClusterAuthorizationFailed, None));
    }
    let wire = WireFilter {
        codes: [
            request.resource_type_filter,
            request.pattern_type_filter,
            request.operation,
            request.permission_type,
        ],
        resource_name: request.resource_name_filter.as_ref(),
        principal: request.principal_filter.as_ref(),
        host: request.host_filter.as_ref(),
    };
    let filter = match filter_from_wire(&wire) {
        Ok(filter) => filter,
        Err(error) => return Ok(refused(error.error_code(), Some(error.to_string()))),
    };
    let metadata = controller::metadata(&ctx.shard);
    let mut grouped: BTreeMap<&ResourcePattern, Vec<&AclBinding>> = BTreeMap::new();
    for (_, binding) in metadata.acls().iter() {
        if filter.matches(binding) {
            grouped.entry(&binding.pattern).or_default().push(binding);
        }
    }
    let resources = grouped
        .into_iter()
        .map(|(pattern, bindings)| DescribeAclsResource {
            resource_type: pattern.resource_type.code(),
            resource_name: pattern.name.clone().into(),
            pattern_type: pattern.pattern_type.code(),
            acls: bindings
                .into_iter()
                .map(|binding| AclDescription {
                    principal: binding.entry.principal.clone().into(),
                    host: binding.entry.host.clone().into(),
                    operation: binding.entry.operation.code(),
                    permission_type: binding.entry.permission.code(),
                })
                .collect(),
        })
        .collect();
    Ok(DescribeAclsResponse {
        throttle_time_ms: 0,
        error_code: ErrorCode::None,
        error_message: None,
        resources,
    })
}

fn refused(error_code: ErrorCode, message: Option<String>) -> DescribeAclsResponse {
    DescribeAclsResponse {
        throttle_time_ms: 0,
        error_code,
        error_message: message.map(Into::into),
        resources: Vec::new(),
    }
}
