//! DeleteGroups (key 42): removes empty groups and their committed offsets (tombstones in
//! `__consumer_offsets`). A group with members gets NON_EMPTY_GROUP, an unknown one
//! GROUP_ID_NOT_FOUND. Runs on the connection's shard; each deletion on its coordinator shard.
use super::{HandlerError, RequestContext, group_routing};
use crate::cluster::acls::AclOperation;
use crate::protocol::ApiKey;
use crate::protocol::messages::delete_groups::{
    DeletableGroupResult, DeleteGroupsRequest, DeleteGroupsResponse,
};

pub const API_KEY: ApiKey = ApiKey::DeleteGroups;
pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 2;

/// # Errors
/// `Mesh` when a coordinator shard stopped.
///
/// # Panics
/// When called for another API (dispatch routes by key).
pub async fn handle(
    ctx: &mut RequestContext,
    request: DeleteGroupsRequest,
) -> Result<DeleteGroupsResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    let mut results = Vec::with_capacity(request.groups_names.len());
    for group_id in request.groups_names {
        let key = group_id.to_string();
        let error_code = if let Err(denied) = ctx.authorize_group(AclOperation::Delete, &key) {
            denied
        } else {
            group_routing::on_coordinator(&ctx.shard, key, move |shard, route, key| async move {
                shard.state.groups.delete(route, key).await
            })
            .await?
            .unwrap_or_else(|error| error)
        };
        results.push(DeletableGroupResult {
            group_id,
            error_code,
        });
    }
    Ok(DeleteGroupsResponse {
        results,
        ..DeleteGroupsResponse::default()
    })
}
