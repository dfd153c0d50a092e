//! OffsetDelete (key 47, KIP-496): removes a group's committed offsets for partitions of
//! topics its members do not subscribe to (GROUP_SUBSCRIBED_TO_TOPIC otherwise). Runs on the
//! connection's shard; the deletion on the group's coordinator shard.
use super::offset_commit::exists;
use super::{HandlerError, RequestContext, group_routing};
use crate::cluster::acls::{AclOperation, ResourceType};
use crate::cluster::controller;
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::offset_delete::{
    OffsetDeleteRequest, OffsetDeleteResponse, OffsetDeleteResponsePartition,
    OffsetDeleteResponseTopic,
};
use std::collections::HashMap;

pub const API_KEY: ApiKey = ApiKey::OffsetDelete;
pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 0;

/// # Errors
/// `Mesh` when the coordinator shard stopped.
///
/// # Panics
/// When called for another API (dispatch routes by key).
/// Whether the principal may READ each topic the request names (Kafka's check per topic).
fn readable_topics(ctx: &RequestContext, request: &OffsetDeleteRequest) -> HashMap<String, bool> {
    request
        .topics
        .iter()
        .map(|topic| {
            let name = topic.name.to_string();
            let allowed = ctx.authorize(AclOperation::Read, ResourceType::Topic, &name);
            (name, allowed)
        })
        .collect()
}

pub async fn handle(
    ctx: &mut RequestContext,
    request: OffsetDeleteRequest,
) -> Result<OffsetDeleteResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    if let Err(error_code) = ctx.authorize_group(AclOperation::Delete, &request.group_id) {
        return Ok(OffsetDeleteResponse {
            error_code,
            ..OffsetDeleteResponse::default()
        });
    }
    let metadata = controller::metadata(&ctx.shard);
    let readable = readable_topics(ctx, &request);
    let may_read = |name: &str| readable.get(name).copied().unwrap_or(false);
    let mut known = Vec::new();
    for topic in request.topics.iter().filter(|t| may_read(t.name.as_str())) {
        for partition in &topic.partitions {
            if exists(&metadata, topic.name.as_str(), partition.partition_index) {
                known.push((topic.name.to_string(), partition.partition_index));
            }
        }
    }
    let group_id = request.group_id.to_string();
    let result = group_routing::on_coordinator(
        &ctx.shard,
        group_id,
        move |shard, route, group_id| async move {
            shard
                .state
                .groups
                .delete_offsets(route, group_id, known)
                .await
        },
    )
    .await?
    .and_then(|result| result);
    let mut deleted = match result {
        Ok(errors) => errors.into_iter(),
        Err(error_code) => {
            return Ok(OffsetDeleteResponse {
                error_code,
                ..OffsetDeleteResponse::default()
            });
        }
    };
    let topics = request
        .topics
        .into_iter()
        .map(|topic| OffsetDeleteResponseTopic {
            partitions: topic
                .partitions
                .iter()
                .map(|partition| OffsetDeleteResponsePartition {
                    partition_index: partition.partition_index,
                    error_code: if !may_read(topic.name.as_str()) {
                        ErrorCode::TopicAuthorizationFailed
                    } else if exists(&metadata, topic.name.as_str(), partition.partition_index) {
                        deleted.next().unwrap_or(ErrorCode::UnknownServerError)
                    } else {
                        ErrorCode::UnknownTopicOrPartition
                    },
                })
                .collect(),
            name: topic.name,
        })
        .collect();
    Ok(OffsetDeleteResponse {
        topics,
        ..OffsetDeleteResponse::default()
    })
}
