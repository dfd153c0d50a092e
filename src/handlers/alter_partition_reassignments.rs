//! AlterPartitionReassignments (key 45): starts, replaces or cancels partition reassignments
//! through the active controller (KIP-455; `kafka-reassign-partitions.sh --execute/--cancel`).
//! Runs on the connection's shard: each partition is checked on its copy of the metadata and
//! answered with Kafka's code, the valid ones are decided and committed together by the
//! controller (`controller::alter_partition_reassignments`, `policy::reassign`), and the
//! answer comes once this broker applied the result. The moves complete later, as the new
//! replicas join the ISR (ListPartitionReassignments shows the ones in flight).
//!
//! Per partition, as Kafka's controller: UNKNOWN_TOPIC_OR_PARTITION, INVALID_REPLICA_ASSIGNMENT
//! (empty, duplicated or unregistered replicas), INVALID_REPLICATION_FACTOR (v1 with
//! `allow_replication_factor_change` false and a target of another size),
//! NO_REASSIGNMENT_IN_PROGRESS (a cancellation of a partition not being reassigned). A refusal
//! of the controller (too many reassignments in flight: POLICY_VIOLATION; the state changed
//! since the check) is the code of every partition that was sent. `timeout_ms` is not waited
//! on: the controller round trip is bounded by `CONTROLLER_RPC_TIMEOUT_MS`.
use super::{HandlerError, RequestContext};
use crate::cluster::decisions::PartitionReassignment;
use crate::cluster::policy::isr::Liveness;
use crate::cluster::policy::reassign;
use crate::cluster::{ClusterMetadata, controller};
use crate::protocol::messages::alter_partition_reassignments::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, ReassignablePartition,
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use crate::protocol::{ApiKey, ErrorCode, StrBytes};

pub const API_KEY: ApiKey = ApiKey::AlterPartitionReassignments;
pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 1;

/// # Errors
/// None of its own: every problem is an error code in the response.
/// # Panics
/// When dispatched for another API key (a registry error).
pub async fn handle(
    ctx: &mut RequestContext,
    request: AlterPartitionReassignmentsRequest,
) -> Result<AlterPartitionReassignmentsResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    let state = controller::metadata(&ctx.shard);
    let allow_factor_change = request.allow_replication_factor_change;
    let mut responses = Vec::with_capacity(request.topics.len());
    let mut valid = Vec::new();
    // Where each valid partition's answer goes: (topic index, partition index).
    let mut slots = Vec::new();
    for topic in &request.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for partition in &topic.partitions {
            let checked = check(&state, topic.name.as_str(), partition, allow_factor_change);
            let (error_code, error_message) = match checked {
                Ok(reassignment) => {
                    slots.push((responses.len(), partitions.len()));
                    valid.push(reassignment);
                    (ErrorCode::None, None)
                }
                Err((code, message)) => (code, Some(StrBytes::from(message))),
            };
            partitions.push(ReassignablePartitionResponse {
                partition_index: partition.partition_index,
                error_code,
                error_message,
            });
        }
        responses.push(ReassignableTopicResponse {
            name: topic.name.clone(),
            partitions,
        });
    }
    if !valid.is_empty()
        && let Err(error) = controller::alter_partition_reassignments(&ctx.shard, valid).await
    {
        let message = StrBytes::from(error.to_string());
        for (topic, partition) in slots {
            let slot = responses
                .get_mut(topic)
                .and_then(|topic| topic.partitions.get_mut(partition));
            if let Some(slot) = slot {
                slot.error_code = error.error_code();
                slot.error_message = Some(message.clone());
            }
        }
    }
    Ok(AlterPartitionReassignmentsResponse {
        throttle_time_ms: 0,
        allow_replication_factor_change: allow_factor_change,
        error_code: ErrorCode::None,
        error_message: None,
        responses,
    })
}

/// One partition's request checked against `state`: the reassignment to send, or its code
/// and Kafka's message.
fn check(
    state: &ClusterMetadata,
    topic: &str,
    partition: &ReassignablePartition,
    allow_factor_change: bool,
) -> Result<PartitionReassignment, (ErrorCode, String)> {
    let index = partition.partition_index;
    let unknown = || {
        let message = format!("Unable to find partition {topic}-{index}.");
        (ErrorCode::UnknownTopicOrPartition, message)
    };
    let topic_id = state.topic(topic).ok_or_else(unknown)?.topic_id;
    let current = state.partition(topic_id, index).ok_or_else(unknown)?;
    let liveness = Liveness {
        metadata: state,
        shutting_down: &|_| false,
    };
    let refused =
        |error: crate::cluster::metadata::ClusterError| (error.error_code(), error.to_string());
    match &partition.replicas {
        None if !reassign::in_progress(current) => Err(refused(
            crate::cluster::metadata::ClusterError::NoReassignmentInProgress,
        )),
        None => Ok(None),
        Some(target) => {
            reassign::check_target(&liveness, target).map_err(refused)?;
            let original = reassign::original_replicas(current);
            if !allow_factor_change && target.len() != original.len() {
                let message = format!(
                    "The replication factor is changed from {} to {} but \
                     allowReplicationFactorChange is false.",
                    original.len(),
                    target.len()
                );
                return Err((ErrorCode::InvalidReplicationFactor, message));
            }
            Ok(Some(target.clone()))
        }
    }
    .map(|target| PartitionReassignment {
        topic_id,
        partition: index,
        target,
    })
}
