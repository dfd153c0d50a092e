//! DescribeGroups (key 15): state, protocol and members of each named group. Runs on the
//! connection's shard; each group is read on its coordinator shard. Member metadata and
//! assignments are shown only while the group is Stable (Kafka's `summary`).
//!
//! A group that does not exist is "Dead" with no error before v6 and GROUP_ID_NOT_FOUND from
//! v6 (KIP-1043).
use super::{HandlerError, RequestContext, group_routing};
use crate::cluster::acls::AclOperation;
use crate::group::api::GroupDescription;
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::describe_groups::{
    DescribeGroupsRequest, DescribeGroupsResponse, DescribedGroup, DescribedGroupMember,
};
use crate::protocol::primitives::StrBytes;

pub const API_KEY: ApiKey = ApiKey::DescribeGroups;
pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 6;

/// # Errors
/// `Mesh` when a coordinator shard stopped.
///
/// # Panics
/// When called for another API (dispatch routes by key).
pub async fn handle(
    ctx: &mut RequestContext,
    request: DescribeGroupsRequest,
) -> Result<DescribeGroupsResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    let mut groups = Vec::with_capacity(request.groups.len());
    for group_id in request.groups {
        let key = group_id.to_string();
        let result = if let Err(denied) = ctx.authorize_group(AclOperation::Describe, &key) {
            Err(denied)
        } else {
            group_routing::on_coordinator(&ctx.shard, key, move |shard, route, key| async move {
                shard.state.groups.describe(route, key).await
            })
            .await?
            .and_then(|result| result)
        };
        groups.push(described(ctx.api_version, group_id, result));
    }
    Ok(DescribeGroupsResponse {
        groups,
        ..DescribeGroupsResponse::default()
    })
}

fn described(
    version: i16,
    group_id: StrBytes,
    result: Result<Option<GroupDescription>, ErrorCode>,
) -> DescribedGroup {
    match result {
        Ok(Some(description)) => DescribedGroup {
            group_id,
            group_state: description.state.name().into(),
            protocol_type: description.protocol_type.into(),
            protocol_data: description.protocol_data.into(),
            members: description
                .members
                .into_iter()
                .map(|member| DescribedGroupMember {
                    member_id: member.member_id.into(),
                    group_instance_id: member.group_instance_id.map(StrBytes::from),
                    client_id: member.client_id.into(),
                    client_host: member.client_host.into(),
                    member_metadata: member.metadata,
                    member_assignment: member.assignment,
                })
                .collect(),
            ..DescribedGroup::default()
        },
        Ok(None) if version >= 6 => DescribedGroup {
            error_code: ErrorCode::GroupIdNotFound,
            error_message: Some(format!("Group {group_id} not found.").into()),
            group_id,
            group_state: "Dead".into(),
            ..DescribedGroup::default()
        },
        Ok(None) => DescribedGroup {
            group_id,
            group_state: "Dead".into(),
            ..DescribedGroup::default()
        },
        Err(error_code) => DescribedGroup {
            error_code,
            group_id,
            ..DescribedGroup::default()
        },
    }
}
