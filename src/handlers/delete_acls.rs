//! DeleteAcls (key 31): removes the ACLs matching each filter through the controller. Runs on
//! the connection's shard.
//!
//! As Kafka's `AclControlManager`: the caller needs ALTER on the cluster (else every filter
//! result is CLUSTER_AUTHORIZATION_FAILED); a filter with an unknown code is INVALID_REQUEST;
//! the valid filters are one metadata change, and each filter's result lists the ACLs it
//! matched that the change removed. A failed commit is every valid filter's error.
use super::authorize::{WireFilter, filter_from_wire};
use super::{HandlerError, RequestContext};
use crate::cluster::acls::{AclBinding, AclFilter, AclOperation};
use crate::cluster::{ClusterMetadata, controller};
use crate::limits::ACL_DELETE_FILTERS_PER_REQUEST_MAX;
use crate::protocol::messages::delete_acls::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl, DeleteAclsRequest, DeleteAclsResponse,
};
use crate::protocol::{ApiKey, ErrorCode};

pub const API_KEY: ApiKey = ApiKey::DeleteAcls;
pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 3;

/// # Errors
/// None of its own: every problem is a per-filter error code.
/// # Panics
/// When dispatched for another API key (a registry error).
pub async fn handle(
    ctx: &mut RequestContext,
    request: DeleteAclsRequest,
) -> Result<DeleteAclsResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    let count = request.filters.len();
    let refuse_all = |code: ErrorCode, message: Option<String>| DeleteAclsResponse {
        throttle_time_ms: 0,
        filter_results: (0..count)
            .map(|_| filter_result(code, message.clone(), Vec::new()))
            .collect(),
    };
    if !ctx.authorize_cluster(AclOperation::Alter) {
        return Ok(refuse_all(ErrorCode::ClusterAuthorizationFailed, None));
    }
    if count > ACL_DELETE_FILTERS_PER_REQUEST_MAX {
        let message = format!("at most {ACL_DELETE_FILTERS_PER_REQUEST_MAX} filters per request");
        return Ok(refuse_all(ErrorCode::InvalidRequest, Some(message)));
    }
    let parsed: Vec<Result<AclFilter, (ErrorCode, String)>> = request
        .filters
        .iter()
        .map(|filter| {
            let wire = WireFilter {
                codes: [
                    filter.resource_type_filter,
                    filter.pattern_type_filter,
                    filter.operation,
                    filter.permission_type,
                ],
                resource_name: filter.resource_name_filter.as_ref(),
                principal: filter.principal_filter.as_ref(),
                host: filter.host_filter.as_ref(),
            };
            filter_from_wire(&wire).map_err(|error| (error.error_code(), error.to_string()))
        })
        .collect();
    let valid: Vec<AclFilter> = parsed.iter().filter_map(|p| p.clone().ok()).collect();
    let committed = if valid.is_empty() {
        Err((ErrorCode::None, String::new()))
    } else {
        controller::delete_acls(&ctx.shard, valid)
            .await
            .map_err(|error| (error.error_code(), error.to_string()))
    };
    let filter_results: Vec<DeleteAclsFilterResult> = parsed
        .into_iter()
        .map(|parsed| match (parsed, &committed) {
            (Err((code, message)), _) => filter_result(code, Some(message), Vec::new()),
            (Ok(_), Err((code, message))) => {
                filter_result(*code, Some(message.clone()), Vec::new())
            }
            (Ok(filter), Ok((before, after))) => {
                filter_result(ErrorCode::None, None, removed(&filter, before, after))
            }
        })
        .collect();
    assert_eq!(filter_results.len(), count);
    Ok(DeleteAclsResponse {
        throttle_time_ms: 0,
        filter_results,
    })
}

/// The ACLs `filter` matches in `before` that `after` no longer holds.
fn removed(
    filter: &AclFilter,
    before: &ClusterMetadata,
    after: &ClusterMetadata,
) -> Vec<DeleteAclsMatchingAcl> {
    before
        .acls()
        .iter()
        .filter(|(acl_id, binding)| filter.matches(binding) && !after.acls().contains_id(*acl_id))
        .map(|(_, binding)| matching(binding))
        .collect()
}

fn matching(binding: &AclBinding) -> DeleteAclsMatchingAcl {
    DeleteAclsMatchingAcl {
        error_code: ErrorCode::None,
        error_message: None,
        resource_type: binding.pattern.resource_type.code(),
        resource_name: binding.pattern.name.clone().into(),
        pattern_type: binding.pattern.pattern_type.code(),
        principal: binding.entry.principal.clone().into(),
        host: binding.entry.host.clone().into(),
        operation: binding.entry.operation.code(),
        permission_type: binding.entry.permission.code(),
    }
}

fn filter_result(
    error_code: ErrorCode,
    message: Option<String>,
    matching_acls: Vec<DeleteAclsMatchingAcl>,
) -> DeleteAclsFilterResult {
    DeleteAclsFilterResult {
        error_code,
        error_message: message.map(Into::into),
        matching_acls,
    }
}
