//! ListPartitionReassignments (key 46): the partitions being reassigned (KIP-455;
//! `kafka-reassign-partitions.sh --verify`). Runs on the connection's shard and answers from
//! its copy of the metadata, which the metadata log keeps current: a reassignment is in its
//! partition's state (`adding`/`removing`), so every broker can answer.
//!
//! As Kafka: a null topic list means every partition being reassigned; named partitions that
//! do not exist or are not being reassigned are left out of the answer.
use super::{HandlerError, RequestContext};
use crate::cluster::policy::reassign;
use crate::cluster::{ClusterMetadata, controller};
use crate::protocol::messages::list_partition_reassignments::{
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use crate::protocol::{ApiKey, ErrorCode, StrBytes};

pub const API_KEY: ApiKey = ApiKey::ListPartitionReassignments;
pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 0;

/// # Errors
/// None of its own.
/// # Panics
/// When dispatched for another API key (a registry error).
pub async fn handle(
    ctx: &mut RequestContext,
    request: ListPartitionReassignmentsRequest,
) -> Result<ListPartitionReassignmentsResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    let state = controller::metadata(&ctx.shard);
    let topics = match &request.topics {
        None => state
            .topics
            .values()
            .filter_map(|topic| {
                let every: Vec<i32> = (0..topic.partition_count).collect();
                ongoing(&state, &topic.name, &every)
            })
            .collect(),
        Some(topics) => topics
            .iter()
            .filter_map(|topic| ongoing(&state, topic.name.as_str(), &topic.partition_indexes))
            .collect(),
    };
    Ok(ListPartitionReassignmentsResponse {
        throttle_time_ms: 0,
        error_code: ErrorCode::None,
        error_message: None,
        topics,
    })
}

/// The reassignments in flight among `partitions` of topic `name`; `None` when there is none.
fn ongoing(
    state: &ClusterMetadata,
    name: &str,
    partitions: &[i32],
) -> Option<OngoingTopicReassignment> {
    let topic_id = state.topic(name)?.topic_id;
    let partitions: Vec<OngoingPartitionReassignment> = partitions
        .iter()
        .filter_map(|index| {
            let current = state.partition(topic_id, *index)?;
            reassign::in_progress(current).then(|| OngoingPartitionReassignment {
                partition_index: *index,
                replicas: current.replicas.clone(),
                adding_replicas: current.adding.clone(),
                removing_replicas: current.removing.clone(),
            })
        })
        .collect();
    (!partitions.is_empty()).then(|| OngoingTopicReassignment {
        name: StrBytes::from(name),
        partitions,
    })
}
