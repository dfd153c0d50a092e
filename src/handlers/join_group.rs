//! JoinGroup (key 11): a member joins or rejoins a group; the answer waits until the
//! rebalance completes (long poll, bounded by the member's rebalance timeout). Runs on the
//! connection's shard and waits on the group's coordinator shard (`group::api`).
//!
//! v4+ members without an id first get MEMBER_ID_REQUIRED with one (KIP-394); v5+ carry a
//! `group.instance.id` (static membership, KIP-345); v9 leaders may skip assignment (KIP-814).
//! Assignment stays client-side: protocol metadata is relayed, never parsed.
use super::{HandlerError, RequestContext, group_routing};
use crate::cluster::acls::AclOperation;
use crate::group::{self, state::JoinInput};
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::join_group::{
    JoinGroupRequest, JoinGroupResponse, JoinGroupResponseMember,
};
use crate::protocol::primitives::StrBytes;

pub const API_KEY: ApiKey = ApiKey::JoinGroup;
pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 9;

/// # Errors
/// `Mesh` when the coordinator shard stopped.
///
/// # Panics
/// When called for another API (dispatch routes by key).
pub async fn handle(
    ctx: &mut RequestContext,
    request: JoinGroupRequest,
) -> Result<JoinGroupResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    let version = ctx.api_version;
    if let Err(denied) = ctx.authorize_group(AclOperation::Read, &request.group_id) {
        return Ok(error_response(version, &request.member_id, denied));
    }
    if request.group_id.is_empty() {
        return Ok(error_response(
            version,
            &request.member_id,
            ErrorCode::InvalidGroupId,
        ));
    }
    let group_id = request.group_id.to_string();
    let input = join_input(ctx, &request);
    let outcome = group_routing::on_coordinator(
        &ctx.shard,
        group_id,
        move |shard, route, group_id| async move {
            shard.state.groups.join(route, group_id, input).await
        },
    )
    .await?;
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(error) => return Ok(error_response(version, &request.member_id, error)),
    };
    // Below v7 the protocol name is not nullable: Kafka sends "" for none.
    let protocol_name = match outcome.protocol_name {
        Some(name) => Some(StrBytes::from(name)),
        None if version < 7 => Some(StrBytes::default()),
        None => None,
    };
    Ok(JoinGroupResponse {
        error_code: outcome.error,
        generation_id: outcome.generation_id,
        protocol_type: outcome.protocol_type.map(StrBytes::from),
        protocol_name,
        leader: outcome.leader_id.into(),
        skip_assignment: outcome.skip_assignment,
        member_id: outcome.member_id.into(),
        members: outcome
            .members
            .into_iter()
            .map(|member| JoinGroupResponseMember {
                member_id: member.member_id.into(),
                group_instance_id: member.group_instance_id.map(StrBytes::from),
                metadata: member.metadata,
            })
            .collect(),
        ..JoinGroupResponse::default()
    })
}

fn join_input(ctx: &RequestContext, request: &JoinGroupRequest) -> JoinInput {
    let client_id = ctx
        .client_id
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    let instance = request.group_instance_id.as_ref().map(ToString::to_string);
    // Kafka prefixes a new id with the instance id (static) or the client id.
    let prefix = instance.clone().unwrap_or_else(|| client_id.clone());
    JoinInput {
        member_id: request.member_id.to_string(),
        group_instance_id: instance,
        client_id,
        client_host: format!("/{}", ctx.peer.ip()),
        session_timeout_ms: request.session_timeout_ms,
        // v0 has no rebalance timeout: the session timeout bounds the rebalance.
        rebalance_timeout_ms: if ctx.api_version == 0 {
            request.session_timeout_ms
        } else {
            request.rebalance_timeout_ms
        },
        protocol_type: request.protocol_type.to_string(),
        protocols: request
            .protocols
            .iter()
            .map(|protocol| (protocol.name.to_string(), protocol.metadata.clone()))
            .collect(),
        require_known_member_id: ctx.api_version >= 4,
        supports_skip_assignment: ctx.api_version >= 9,
        fresh_member_id: group::fresh_member_id(&prefix),
    }
}

fn error_response(version: i16, member_id: &StrBytes, error: ErrorCode) -> JoinGroupResponse {
    JoinGroupResponse {
        error_code: error,
        member_id: member_id.clone(),
        protocol_name: (version < 7).then(StrBytes::default),
        ..JoinGroupResponse::default()
    }
}
