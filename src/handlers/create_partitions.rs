//! CreatePartitions (key 37): grows topics to a new total partition count through the
//! controller (shard 0), or only checks (`validate_only`). Runs on the connection's shard; the
//! new partitions' logs are open on their owning shards before we answer.
//!
//! As Kafka's KRaft controller (`ReplicationControlManager.createPartitions`): a name given twice
//! gets INVALID_REQUEST "Duplicate topic name." (once; neither copy applies), an unknown topic
//! UNKNOWN_TOPIC_OR_PARTITION, a count that is not an increase INVALID_PARTITIONS with Kafka's
//! message. New partitions are placed by the controller (`policy::placement`) with the topic's
//! replication factor, or as the manual assignments say: one replica list per new partition, of
//! registered brokers, each once, of the topic's replica count, at least one unfenced
//! (INVALID_REPLICA_ASSIGNMENT with Kafka's messages otherwise). `validate_only` runs the same
//! decision on this shard's copy of the metadata.
use super::create_topics::{Refusal, refusal_of};
use super::{HandlerError, RequestContext};
use crate::cluster::acls::AclOperation;
use crate::cluster::{MetadataChange, controller};
use crate::protocol::messages::create_partitions::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreatePartitionsTopic,
    CreatePartitionsTopicResult,
};
use crate::protocol::{ApiKey, ErrorCode, StrBytes};
use std::collections::HashSet;

pub const API_KEY: ApiKey = ApiKey::CreatePartitions;
pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 3;

/// # Errors
/// None of its own: every problem is a per-topic error code.
/// # Panics
/// When dispatched for another API key (a registry error).
pub async fn handle(
    ctx: &mut RequestContext,
    request: CreatePartitionsRequest,
) -> Result<CreatePartitionsResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    let mut seen = HashSet::with_capacity(request.topics.len());
    let duplicates: HashSet<&str> = request
        .topics
        .iter()
        .map(|topic| topic.name.as_str())
        .filter(|name| !seen.insert(*name))
        .collect();
    let mut reported = HashSet::new();
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let name = topic.name.as_str();
        let outcome = if duplicates.contains(name) {
            if !reported.insert(name) {
                continue;
            }
            Err((
                ErrorCode::InvalidRequest,
                "Duplicate topic name.".to_owned(),
            ))
        } else if ctx.authorize_topic(AclOperation::Alter, name).is_err() {
            let message = "Authorization failed.".to_owned();
            Err((ErrorCode::TopicAuthorizationFailed, message))
        } else {
            grow(ctx, topic, request.validate_only).await
        };
        let (error_code, error_message) = match outcome {
            Ok(()) => (ErrorCode::None, None),
            Err((code, message)) => (code, Some(StrBytes::from(message))),
        };
        results.push(CreatePartitionsTopicResult {
            name: topic.name.clone(),
            error_code,
            error_message,
        });
    }
    assert!(results.len() <= request.topics.len());
    Ok(CreatePartitionsResponse {
        throttle_time_ms: 0,
        results,
    })
}

async fn grow(
    ctx: &RequestContext,
    topic: &CreatePartitionsTopic,
    validate_only: bool,
) -> Result<(), Refusal> {
    let name = topic.name.as_str();
    let assignments: Vec<Vec<i32>> = topic
        .assignments
        .iter()
        .flatten()
        .map(|assignment| assignment.broker_ids.clone())
        .collect();
    if validate_only {
        let change = MetadataChange::CreatePartitions {
            name: name.to_owned(),
            partition_count: topic.count,
            assignments,
            random_start: controller::random_start(),
        };
        return controller::metadata(&ctx.shard)
            .with_change(&change, ctx.node_id())
            .map(drop)
            .map_err(|error| refusal_of(&error));
    }
    controller::create_partitions(&ctx.shard, name, topic.count, assignments)
        .await
        .map_err(|error| refusal_of(&error))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may unwrap
mod tests {
    use super::*;
    use crate::cluster::MetadataError;

    #[test]
    fn shrinking_messages_match_kafka() {
        let shrink = |requested| MetadataError::PartitionsCannotShrink {
            name: "t".into(),
            current: 6,
            requested,
        };
        let (code, message) = refusal_of(&shrink(3));
        assert_eq!(code, ErrorCode::InvalidPartitions);
        assert!(message.contains("would not be an increase"), "{message}");
        let (_, message) = refusal_of(&shrink(6));
        assert_eq!(message, "Topic already has 6 partition(s).");
    }
}
