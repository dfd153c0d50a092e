//! OffsetCommit (key 8): stores a group's consumed positions. Runs on the connection's shard
//! (topic checks against its metadata snapshot); the commit runs on the group's coordinator
//! shard and is acknowledged once its records are in `__consumer_offsets`.
//!
//! A partition of an unknown topic gets UNKNOWN_TOPIC_OR_PARTITION (Kafka checks its metadata
//! cache the same way); the rest of the request still commits.
use super::{HandlerError, RequestContext, group_routing};
use crate::cluster::acls::AclOperation;
use crate::cluster::{ClusterMetadata, controller};
use crate::group::api::{CommitInput, CommitPartition};
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::offset_commit::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetCommitResponsePartition,
    OffsetCommitResponseTopic,
};

pub const API_KEY: ApiKey = ApiKey::OffsetCommit;
pub const VERSION_MIN: i16 = 2;
pub const VERSION_MAX: i16 = 9;

/// # Errors
/// `Mesh` when the coordinator shard stopped.
///
/// # Panics
/// When called for another API (dispatch routes by key).
pub async fn handle(
    ctx: &mut RequestContext,
    request: OffsetCommitRequest,
) -> Result<OffsetCommitResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    let metadata = controller::metadata(&ctx.shard);
    // READ on the group, then READ on each topic (Kafka's order).
    let group_denied = ctx
        .authorize_group(AclOperation::Read, &request.group_id)
        .err();
    let refusal =
        |topic: &str| group_denied.or_else(|| ctx.authorize_topic(AclOperation::Read, topic).err());
    let (errors, partitions) = known_partitions(&metadata, &request, &refusal);
    let committed = if partitions.is_empty() {
        Vec::new()
    } else {
        let input = CommitInput {
            member_id: request.member_id.to_string(),
            group_instance_id: request.group_instance_id.as_ref().map(ToString::to_string),
            generation_id: request.generation_id_or_member_epoch,
            partitions,
        };
        let count = input.partitions.len();
        let group_id = request.group_id.to_string();
        group_routing::on_coordinator(
            &ctx.shard,
            group_id,
            move |shard, route, group_id| async move {
                shard.state.groups.commit(route, group_id, input).await
            },
        )
        .await?
        .unwrap_or_else(|error| vec![error; count])
    };
    let mut committed = committed.into_iter();
    let mut errors = errors.into_iter();
    let topics = request
        .topics
        .into_iter()
        .map(|topic| OffsetCommitResponseTopic {
            partitions: topic
                .partitions
                .iter()
                .map(|partition| {
                    let error_code = match errors.next().flatten() {
                        Some(error) => error,
                        None => committed.next().unwrap_or(ErrorCode::UnknownServerError),
                    };
                    OffsetCommitResponsePartition {
                        partition_index: partition.partition_index,
                        error_code,
                    }
                })
                .collect(),
            name: topic.name,
        })
        .collect();
    Ok(OffsetCommitResponse {
        topics,
        ..OffsetCommitResponse::default()
    })
}

/// Every partition's error in request order (`None`: to be committed), and the partitions to
/// commit.
fn known_partitions(
    metadata: &ClusterMetadata,
    request: &OffsetCommitRequest,
    refusal: &dyn Fn(&str) -> Option<ErrorCode>,
) -> (Vec<Option<ErrorCode>>, Vec<CommitPartition>) {
    let mut errors = Vec::new();
    let mut partitions = Vec::new();
    for topic in &request.topics {
        let refused = refusal(topic.name.as_str());
        for partition in &topic.partitions {
            if refused.is_some() {
                errors.push(refused);
                continue;
            }
            if !exists(metadata, topic.name.as_str(), partition.partition_index) {
                errors.push(Some(ErrorCode::UnknownTopicOrPartition));
                continue;
            }
            errors.push(None);
            partitions.push(CommitPartition {
                topic: topic.name.to_string(),
                partition: partition.partition_index,
                offset: partition.committed_offset,
                leader_epoch: partition.committed_leader_epoch,
                metadata: partition
                    .committed_metadata
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
            });
        }
    }
    (errors, partitions)
}

/// Whether `partition` of `topic` exists in `metadata`.
#[must_use]
pub fn exists(metadata: &ClusterMetadata, topic: &str, partition: i32) -> bool {
    metadata
        .topic(topic)
        .is_some_and(|topic| (0..topic.partition_count).contains(&partition))
}
