//! SyncGroup (key 14): the leader hands in the assignment and every member gets its own; a
//! follower's answer waits for the leader's (long poll, bounded by its rebalance timeout).
//! Runs on the connection's shard and waits on the group's coordinator shard.
use super::{HandlerError, RequestContext, group_routing};
use crate::cluster::acls::AclOperation;
use crate::group::state::SyncInput;
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::sync_group::{SyncGroupRequest, SyncGroupResponse};
use crate::protocol::primitives::StrBytes;

pub const API_KEY: ApiKey = ApiKey::SyncGroup;
pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 5;

/// # Errors
/// `Mesh` when the coordinator shard stopped.
///
/// # Panics
/// When called for another API (dispatch routes by key).
pub async fn handle(
    ctx: &mut RequestContext,
    request: SyncGroupRequest,
) -> Result<SyncGroupResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    if let Err(denied) = ctx.authorize_group(AclOperation::Read, &request.group_id) {
        return Ok(error_response(denied));
    }
    if request.group_id.is_empty() {
        return Ok(error_response(ErrorCode::InvalidGroupId));
    }
    let group_id = request.group_id.to_string();
    let input = SyncInput {
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.as_ref().map(ToString::to_string),
        generation_id: request.generation_id,
        protocol_type: request.protocol_type.as_ref().map(ToString::to_string),
        protocol_name: request.protocol_name.as_ref().map(ToString::to_string),
        assignments: request
            .assignments
            .into_iter()
            .map(|assignment| (assignment.member_id.to_string(), assignment.assignment))
            .collect(),
    };
    let outcome = group_routing::on_coordinator(
        &ctx.shard,
        group_id,
        move |shard, route, group_id| async move {
            shard.state.groups.sync(route, group_id, input).await
        },
    )
    .await?;
    Ok(match outcome {
        Ok(outcome) => SyncGroupResponse {
            error_code: outcome.error,
            protocol_type: outcome.protocol_type.map(StrBytes::from),
            protocol_name: outcome.protocol_name.map(StrBytes::from),
            assignment: outcome.assignment,
            ..SyncGroupResponse::default()
        },
        Err(error) => error_response(error),
    })
}

fn error_response(error: ErrorCode) -> SyncGroupResponse {
    SyncGroupResponse {
        error_code: error,
        ..SyncGroupResponse::default()
    }
}
