//! Heartbeat (key 12): keeps a member's session alive and tells it when to rejoin
//! (REBALANCE_IN_PROGRESS). Runs on the connection's shard; the check runs on the group's
//! coordinator shard.
use super::{HandlerError, RequestContext, group_routing};
use crate::cluster::acls::AclOperation;
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::heartbeat::{HeartbeatRequest, HeartbeatResponse};

pub const API_KEY: ApiKey = ApiKey::Heartbeat;
pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 4;

/// # Errors
/// `Mesh` when the coordinator shard stopped.
///
/// # Panics
/// When called for another API (dispatch routes by key).
pub async fn handle(
    ctx: &mut RequestContext,
    request: HeartbeatRequest,
) -> Result<HeartbeatResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    let error_code = if let Err(denied) = ctx.authorize_group(AclOperation::Read, &request.group_id)
    {
        denied
    } else if request.group_id.is_empty() {
        ErrorCode::InvalidGroupId
    } else {
        let group_id = request.group_id.to_string();
        let member_id = request.member_id.to_string();
        let instance = request.group_instance_id.as_ref().map(ToString::to_string);
        let generation_id = request.generation_id;
        let outcome = group_routing::on_coordinator(
            &ctx.shard,
            group_id,
            move |shard, route, group_id| async move {
                let groups = &shard.state.groups;
                groups
                    .heartbeat(route, group_id, member_id, instance, generation_id)
                    .await
            },
        )
        .await?;
        outcome.unwrap_or_else(|error| error)
    };
    Ok(HeartbeatResponse {
        error_code,
        ..HeartbeatResponse::default()
    })
}
