//! CreateAcls (key 30): creates ACLs through the controller. Runs on the connection's shard.
//!
//! As Kafka's `AclControlManager`: the caller needs ALTER on the cluster (else every result is
//! CLUSTER_AUTHORIZATION_FAILED); each creation is checked on its own (an unknown code, an
//! empty or over-long string, a principal without `Type:`, a CLUSTER ACL not named
//! `kafka-cluster` get INVALID_REQUEST with a message) and the valid ones are committed
//! together in one metadata change (an ACL already held is a success). A failed commit is the
//! error of every creation that was to be part of it.
use super::authorize::binding_from_wire;
use super::{HandlerError, RequestContext};
use crate::cluster::acls::{AclBinding, AclOperation};
use crate::cluster::controller;
use crate::limits::ACL_CREATIONS_PER_REQUEST_MAX;
use crate::protocol::messages::create_acls::{
    AclCreationResult, CreateAclsRequest, CreateAclsResponse,
};
use crate::protocol::{ApiKey, ErrorCode};

pub const API_KEY: ApiKey = ApiKey::CreateAcls;
pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 3;

/// # Errors
/// None of its own: every problem is a per-creation error code.
/// # Panics
/// When dispatched for another API key (a registry error).
pub async fn handle(
    ctx: &mut RequestContext,
    request: CreateAclsRequest,
) -> Result<CreateAclsResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    let count = request.creations.len();
    if !ctx.authorize_cluster(AclOperation::Alter) {
        let results = (0..count)
            .map(|_| result(ErrorCode::ClusterAuthorizationFailed, None))
            .collect();
        return Ok(response(results));
    }
    if count > ACL_CREATIONS_PER_REQUEST_MAX {
        let message = format!("at most {ACL_CREATIONS_PER_REQUEST_MAX} ACLs per request");
        let results = (0..count)
            .map(|_| result(ErrorCode::InvalidRequest, Some(message.clone())))
            .collect();
        return Ok(response(results));
    }
    let parsed: Vec<Result<AclBinding, (ErrorCode, String)>> = request
        .creations
        .iter()
        .map(|creation| {
            let codes = [
                creation.resource_type,
                creation.resource_pattern_type,
                creation.operation,
                creation.permission_type,
            ];
            binding_from_wire(
                codes,
                &creation.resource_name,
                &creation.principal,
                &creation.host,
            )
            .map_err(|error| (error.error_code(), error.to_string()))
        })
        .collect();
    let valid: Vec<AclBinding> = parsed.iter().filter_map(|p| p.clone().ok()).collect();
    let committed = if valid.is_empty() {
        Ok(())
    } else {
        controller::create_acls(&ctx.shard, valid)
            .await
            .map_err(|error| (error.error_code(), error.to_string()))
    };
    let results: Vec<AclCreationResult> = parsed
        .into_iter()
        .map(
            |parsed| match parsed.err().or_else(|| committed.clone().err()) {
                Some((code, message)) => result(code, Some(message)),
                None => result(ErrorCode::None, None),
            },
        )
        .collect();
    assert_eq!(results.len(), count);
    Ok(response(results))
}

fn result(error_code: ErrorCode, message: Option<String>) -> AclCreationResult {
    AclCreationResult {
        error_code,
        error_message: message.map(Into::into),
    }
}

fn response(results: Vec<AclCreationResult>) -> CreateAclsResponse {
    CreateAclsResponse {
        throttle_time_ms: 0,
        results,
    }
}
