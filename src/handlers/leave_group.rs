//! LeaveGroup (key 13): members leave at once instead of waiting for their session to expire;
//! v3+ batch members and identify static ones by `group.instance.id` (KIP-345). Runs on the
//! connection's shard; the removal runs on the group's coordinator shard.
//!
//! v0–2 name one member and report its error at top level; v3+ report per member.
use super::{HandlerError, RequestContext, group_routing};
use crate::cluster::acls::AclOperation;
use crate::group::state::LeaveInput;
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::leave_group::{
    LeaveGroupRequest, LeaveGroupResponse, MemberResponse,
};

pub const API_KEY: ApiKey = ApiKey::LeaveGroup;
pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 5;

/// # Errors
/// `Mesh` when the coordinator shard stopped.
///
/// # Panics
/// When called for another API (dispatch routes by key).
pub async fn handle(
    ctx: &mut RequestContext,
    request: LeaveGroupRequest,
) -> Result<LeaveGroupResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    let leaving: Vec<LeaveInput> = if ctx.api_version < 3 {
        vec![LeaveInput {
            member_id: request.member_id.to_string(),
            group_instance_id: None,
        }]
    } else {
        request
            .members
            .iter()
            .map(|member| LeaveInput {
                member_id: member.member_id.to_string(),
                group_instance_id: member.group_instance_id.as_ref().map(ToString::to_string),
            })
            .collect()
    };
    let result = if let Err(denied) = ctx.authorize_group(AclOperation::Read, &request.group_id) {
        Err(denied)
    } else if request.group_id.is_empty() {
        Err(ErrorCode::InvalidGroupId)
    } else {
        let group_id = request.group_id.to_string();
        let input = leaving.clone();
        group_routing::on_coordinator(
            &ctx.shard,
            group_id,
            move |shard, route, group_id| async move {
                shard.state.groups.leave(route, group_id, input).await
            },
        )
        .await?
        .and_then(|result| result)
    };
    let errors = match result {
        Ok(errors) => errors,
        Err(error) => {
            return Ok(LeaveGroupResponse {
                error_code: error,
                ..LeaveGroupResponse::default()
            });
        }
    };
    if ctx.api_version < 3 {
        let error_code = errors.first().copied().unwrap_or(ErrorCode::None);
        return Ok(LeaveGroupResponse {
            error_code,
            ..LeaveGroupResponse::default()
        });
    }
    let members = request
        .members
        .into_iter()
        .zip(errors)
        .map(|(member, error_code)| MemberResponse {
            member_id: member.member_id,
            group_instance_id: member.group_instance_id,
            error_code,
        })
        .collect();
    Ok(LeaveGroupResponse {
        members,
        ..LeaveGroupResponse::default()
    })
}
