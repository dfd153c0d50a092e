//! CreatePartitions (key 37): grows topics to a new total partition count through the
//! controller (shard 0), or only checks (`validate_only`). Runs on the connection's shard; the
//! new partitions' logs are open on their owning shards before we answer.
//!
//! As Kafka's KRaft controller (`ReplicationControlManager.createPartitions`): a name given twice
//! gets INVALID_REQUEST "Duplicate topic name." (once; neither copy applies), an unknown topic
//! UNKNOWN_TOPIC_OR_PARTITION, a count that is not an increase INVALID_PARTITIONS with Kafka's
//! message, and manual assignments must give one replica list per new partition, each exactly
//! our node (INVALID_REPLICA_ASSIGNMENT otherwise: no other broker exists).
use super::create_topics::{Refusal, check_replicas, refusal_of};
use super::{HandlerError, RequestContext};
use crate::cluster::controller;
use crate::protocol::messages::create_partitions::{
    CreatePartitionsAssignment, CreatePartitionsRequest, CreatePartitionsResponse,
    CreatePartitionsTopic, CreatePartitionsTopicResult,
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
    let metadata = controller::metadata(&ctx.shard);
    metadata
        .check_partitions(name, topic.count)
        .map_err(|error| refusal_of(&error))?;
    let current = metadata
        .topic(name)
        .map_or(0, |found| found.partition_count);
    if let Some(assignments) = &topic.assignments {
        check_assignments(assignments, topic.count, current, ctx.node_id())?;
    }
    if validate_only {
        return Ok(());
    }
    controller::create_partitions(&ctx.shard, name, topic.count)
        .await
        .map_err(|error| refusal_of(&error))
}

/// One replica list per new partition, each exactly our node.
fn check_assignments(
    assignments: &[CreatePartitionsAssignment],
    count: i32,
    current: i32,
    node_id: i32,
) -> Result<(), Refusal> {
    let invalid = |message: String| (ErrorCode::InvalidReplicaAssignment, message);
    let added = count.saturating_sub(current);
    if i32::try_from(assignments.len()).ok() != Some(added) {
        return Err(invalid(format!(
            "Attempted to add {added} additional partition(s), but only {} assignment(s) were \
             specified.",
            assignments.len()
        )));
    }
    for assignment in assignments {
        check_replicas(&assignment.broker_ids, node_id).map_err(invalid)?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may unwrap
mod tests {
    use super::*;
    use crate::cluster::MetadataError;

    fn assignment(broker_ids: &[i32]) -> CreatePartitionsAssignment {
        CreatePartitionsAssignment {
            broker_ids: broker_ids.to_vec(),
        }
    }

    #[test]
    fn assignments_must_cover_new_partitions_with_our_node() {
        assert!(check_assignments(&[assignment(&[1]), assignment(&[1])], 4, 2, 1).is_ok());
        let code = |result: Result<(), Refusal>| result.unwrap_err().0;
        let invalid = ErrorCode::InvalidReplicaAssignment;
        assert_eq!(
            code(check_assignments(&[assignment(&[1])], 4, 2, 1)),
            invalid
        );
        assert_eq!(
            code(check_assignments(&[assignment(&[2])], 3, 2, 1)),
            invalid
        );
        assert_eq!(
            code(check_assignments(&[assignment(&[1, 1])], 3, 2, 1)),
            invalid
        );
        assert_eq!(
            code(check_assignments(&[assignment(&[])], 3, 2, 1)),
            invalid
        );
    }

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
