//! OffsetFetch (key 9): a group's committed offsets. v1–7 ask for one group, v8+ for several
//! (KIP-709); a null topic list means every committed partition. Runs on the connection's
//! shard; each group's lookup runs on its coordinator shard.
//!
//! A partition without a commit answers offset −1, metadata "" and no error, as Kafka does.
use super::{HandlerError, RequestContext, group_routing};
use crate::cluster::acls::{AclOperation, ResourceType};
use crate::group::{self, api::TopicOffsets};
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::offset_fetch::{
    OffsetFetchRequest, OffsetFetchResponse, OffsetFetchResponseGroup,
    OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use crate::protocol::primitives::StrBytes;

pub const API_KEY: ApiKey = ApiKey::OffsetFetch;
pub const VERSION_MIN: i16 = 1;
pub const VERSION_MAX: i16 = 9;

/// # Errors
/// `Mesh` when a coordinator shard stopped.
///
/// # Panics
/// When called for another API (dispatch routes by key).
pub async fn handle(
    ctx: &mut RequestContext,
    request: OffsetFetchRequest,
) -> Result<OffsetFetchResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    if ctx.api_version < 8 {
        let topics = request.topics.map(|topics| {
            topics
                .into_iter()
                .map(|topic| (topic.name.to_string(), topic.partition_indexes))
                .collect()
        });
        let result = fetch(ctx, request.group_id.to_string(), topics).await?;
        return Ok(match result {
            Ok(offsets) => OffsetFetchResponse {
                topics: offsets.into_iter().map(old_topic).collect(),
                ..OffsetFetchResponse::default()
            },
            Err(error_code) => OffsetFetchResponse {
                error_code,
                ..OffsetFetchResponse::default()
            },
        });
    }
    let mut groups = Vec::with_capacity(request.groups.len());
    for group in request.groups {
        let topics = group.topics.map(|topics| {
            topics
                .into_iter()
                .map(|topic| (topic.name.to_string(), topic.partition_indexes))
                .collect()
        });
        let result = fetch(ctx, group.group_id.to_string(), topics).await?;
        let (topics, error_code) = match result {
            Ok(offsets) => (
                offsets.into_iter().map(new_topic).collect(),
                ErrorCode::None,
            ),
            Err(error) => (Vec::new(), error),
        };
        groups.push(OffsetFetchResponseGroup {
            group_id: group.group_id,
            topics,
            error_code,
        });
    }
    Ok(OffsetFetchResponse {
        groups,
        ..OffsetFetchResponse::default()
    })
}

/// A topic's offsets and the error each of its partitions carries.
type Answered = (TopicOffsets, ErrorCode);

/// The group's committed offsets: DESCRIBE on the group first (else
/// GROUP_AUTHORIZATION_FAILED); topics the principal may not describe are left out of an
/// all-topics fetch and answered TOPIC_AUTHORIZATION_FAILED, without offsets, when named.
async fn fetch(
    ctx: &RequestContext,
    group_id: String,
    topics: Option<Vec<(String, Vec<i32>)>>,
) -> Result<Result<Vec<Answered>, ErrorCode>, HandlerError> {
    if let Err(denied) = ctx.authorize_group(AclOperation::Describe, &group_id) {
        return Ok(Err(denied));
    }
    let all_topics = topics.is_none();
    let result = fetch_from_coordinator(ctx, group_id, topics).await?;
    Ok(result.map(|offsets| {
        offsets
            .into_iter()
            .filter_map(|(name, partitions)| {
                if ctx.authorize(AclOperation::Describe, ResourceType::Topic, &name) {
                    Some(((name, partitions), ErrorCode::None))
                } else if all_topics {
                    None
                } else {
                    let hidden = partitions.into_iter().map(|(index, _)| (index, None));
                    Some((
                        (name, hidden.collect()),
                        ErrorCode::TopicAuthorizationFailed,
                    ))
                }
            })
            .collect()
    }))
}

async fn fetch_from_coordinator(
    ctx: &RequestContext,
    group_id: String,
    topics: Option<Vec<(String, Vec<i32>)>>,
) -> Result<Result<Vec<TopicOffsets>, ErrorCode>, HandlerError> {
    let result = group_routing::on_coordinator(
        &ctx.shard,
        group_id,
        move |shard, route, group_id| async move {
            shard
                .state
                .groups
                .fetch_offsets(route, group_id, topics)
                .await
        },
    )
    .await?;
    Ok(result.and_then(|result| result))
}

fn old_topic(((name, partitions), error_code): Answered) -> OffsetFetchResponseTopic {
    OffsetFetchResponseTopic {
        name: name.into(),
        partitions: partitions
            .into_iter()
            .map(|(partition_index, value)| {
                let (offset, epoch, metadata) = values(value);
                OffsetFetchResponsePartition {
                    partition_index,
                    committed_offset: offset,
                    committed_leader_epoch: epoch,
                    metadata: Some(metadata),
                    error_code,
                }
            })
            .collect(),
    }
}

fn new_topic(((name, partitions), error_code): Answered) -> OffsetFetchResponseTopics {
    OffsetFetchResponseTopics {
        name: name.into(),
        partitions: partitions
            .into_iter()
            .map(|(partition_index, value)| {
                let (offset, epoch, metadata) = values(value);
                OffsetFetchResponsePartitions {
                    partition_index,
                    committed_offset: offset,
                    committed_leader_epoch: epoch,
                    metadata: Some(metadata),
                    error_code,
                }
            })
            .collect(),
    }
}

fn values(value: Option<group::log::OffsetValue>) -> (i64, i32, StrBytes) {
    match value {
        Some(value) => (value.offset, value.leader_epoch, value.metadata.into()),
        None => (-1, -1, StrBytes::default()),
    }
}
