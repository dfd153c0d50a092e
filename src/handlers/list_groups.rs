//! ListGroups (key 16): every group this broker coordinates, optionally filtered by state
//! (v4+, KIP-518, case-insensitive) and type (v5+, KIP-848: ours are all "classic"). Runs on
//! the connection's shard and asks every shard's coordinator.
use super::{HandlerError, RequestContext};
use crate::cluster::acls::{AclOperation, CLUSTER_NAME, ResourceType};
use crate::group::api::GroupListing;
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::list_groups::{ListGroupsRequest, ListGroupsResponse, ListedGroup};
use crate::protocol::primitives::StrBytes;

pub const API_KEY: ApiKey = ApiKey::ListGroups;
pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 5;

/// The group type of every group here (classic protocol).
const GROUP_TYPE: &str = "classic";

/// # Errors
/// `Mesh` when a shard stopped.
///
/// # Panics
/// When called for another API (dispatch routes by key).
pub async fn handle(
    ctx: &mut RequestContext,
    request: ListGroupsRequest,
) -> Result<ListGroupsResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    let per_shard = ctx
        .shard
        .invoke_on_all(|shard| async move { shard.state.groups.list() })
        .await?;
    let mut error_code = ErrorCode::None;
    let mut groups = Vec::new();
    // DESCRIBE on the cluster lists every group; else the groups the principal may describe.
    let all = ctx.authorize_silently(AclOperation::Describe, ResourceType::Cluster, CLUSTER_NAME);
    let describable = |group_id: &str| {
        all || ctx.authorize_silently(AclOperation::Describe, ResourceType::Group, group_id)
    };
    for result in per_shard {
        match result {
            Ok(listings) => groups.extend(listings.into_iter().filter(|listing| {
                matches(&request.states_filter, listing.state.name())
                    && matches(&request.types_filter, GROUP_TYPE)
                    && describable(&listing.group_id)
            })),
            Err(error) => error_code = error,
        }
    }
    groups.sort_by(|left, right| left.group_id.cmp(&right.group_id));
    Ok(ListGroupsResponse {
        error_code,
        groups: groups.into_iter().map(listed).collect(),
        ..ListGroupsResponse::default()
    })
}

/// An empty filter matches everything.
fn matches(filter: &[StrBytes], value: &str) -> bool {
    filter.is_empty()
        || filter
            .iter()
            .any(|wanted| wanted.eq_ignore_ascii_case(value))
}

fn listed(listing: GroupListing) -> ListedGroup {
    ListedGroup {
        group_id: listing.group_id.into(),
        protocol_type: listing.protocol_type.into(),
        group_state: listing.state.name().into(),
        group_type: GROUP_TYPE.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_filter_is_case_insensitive_and_empty_matches_all() {
        assert!(matches(&[], "Stable"));
        assert!(matches(&["stable".into()], "Stable"));
        assert!(!matches(&["Empty".into()], "Stable"));
    }
}
