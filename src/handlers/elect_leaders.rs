//! ElectLeaders (key 43): preferred or unclean leader elections through the active controller
//! (`kafka-leader-election.sh`). Runs on the connection's shard; topic names are resolved on
//! its copy of the metadata, the elections are decided and committed by the controller
//! (`controller::elect_leaders`, `policy::isr`), and each partition's outcome is answered once
//! this broker applied the result.
//!
//! As Kafka's controller (`ReplicationControlManager.electLeaders`): per partition NONE (elected),
//! ELECTION_NOT_NEEDED (the preferred replica leads already / someone leads already),
//! PREFERRED_LEADER_NOT_AVAILABLE (the preferred replica is not live or not in the ISR),
//! ELIGIBLE_LEADERS_NOT_AVAILABLE (unclean: no live replica), UNKNOWN_TOPIC_OR_PARTITION. A null
//! topic list means every partition, and then partitions that needed no election are left out
//! of the answer. An unknown election type is INVALID_REQUEST for every partition (and at the
//! top, v1+). `timeout_ms` is not waited on: the controller round trip is bounded by
//! `CONTROLLER_RPC_TIMEOUT_MS`.
use super::{HandlerError, RequestContext};
use crate::cluster::acls::AclOperation;
use crate::cluster::{ClusterMetadata, ElectionType, controller};
use crate::protocol::messages::elect_leaders::{
    ElectLeadersPartitionResult, ElectLeadersRequest, ElectLeadersResponse, ReplicaElectionResult,
};
use crate::protocol::{ApiKey, ErrorCode, StrBytes, Uuid};
use std::collections::BTreeMap;

pub const API_KEY: ApiKey = ApiKey::ElectLeaders;
pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 2;

/// One asked partition: its topic's name and index, and its id when the topic exists.
struct Asked {
    topic: StrBytes,
    partition: i32,
    topic_id: Option<Uuid>,
}

/// # Errors
/// None of its own: every problem is an error code in the response.
/// # Panics
/// When dispatched for another API key (a registry error).
pub async fn handle(
    ctx: &mut RequestContext,
    request: ElectLeadersRequest,
) -> Result<ElectLeadersResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    let state = controller::metadata(&ctx.shard);
    let every = request.topic_partitions.is_none();
    let asked = asked_partitions(&state, &request);
    if !ctx.authorize_cluster(AclOperation::Alter) {
        let denied = ErrorCode::ClusterAuthorizationFailed;
        return Ok(answer(&asked, denied, None, |_| denied));
    }
    let Some(election_type) = ElectionType::from_wire(request.election_type) else {
        let message = format!("Unknown election type {}", request.election_type);
        return Ok(answer(
            &asked,
            ErrorCode::InvalidRequest,
            Some(&message),
            |_| ErrorCode::InvalidRequest,
        ));
    };
    let known: Vec<(Uuid, i32)> = asked
        .iter()
        .filter_map(|asked| asked.topic_id.map(|id| (id, asked.partition)))
        .collect();
    let outcome = controller::elect_leaders(&ctx.shard, election_type, Some(known)).await;
    Ok(match outcome {
        Ok(outcomes) => {
            let outcomes: BTreeMap<(Uuid, i32), ErrorCode> = outcomes.into_iter().collect();
            let mut response = answer(&asked, ErrorCode::None, None, |asked| {
                asked
                    .topic_id
                    .and_then(|id| outcomes.get(&(id, asked.partition)).copied())
                    .unwrap_or(ErrorCode::UnknownTopicOrPartition)
            });
            if every {
                // Kafka leaves out the partitions that needed no election.
                for topic in &mut response.replica_election_results {
                    topic
                        .partition_result
                        .retain(|result| result.error_code != ErrorCode::ElectionNotNeeded);
                }
            }
            response
        }
        Err(error) => {
            let code = error.error_code();
            let message = error.to_string();
            answer(&asked, code, Some(&message), |_| code)
        }
    })
}

/// The partitions asked for, in request order; every partition of every topic (by name) for a
/// null list.
fn asked_partitions(state: &ClusterMetadata, request: &ElectLeadersRequest) -> Vec<Asked> {
    let Some(topics) = &request.topic_partitions else {
        return state
            .topics
            .values()
            .flat_map(|topic| {
                (0..topic.partition_count).map(|partition| Asked {
                    topic: StrBytes::from(topic.name.as_str()),
                    partition,
                    topic_id: Some(topic.topic_id),
                })
            })
            .collect();
    };
    topics
        .iter()
        .flat_map(|topic| {
            let found = state
                .topic(topic.topic.as_str())
                .filter(|found| found.partition_count > 0);
            topic.partitions.iter().map(move |partition| Asked {
                topic: topic.topic.clone(),
                partition: *partition,
                topic_id: found
                    .filter(|found| (0..found.partition_count).contains(partition))
                    .map(|found| found.topic_id),
            })
        })
        .collect()
}

/// The response: `asked` grouped by topic, each partition's code from `code_of`, with
/// `message` (when given) on the failed ones; Kafka leaves the message null otherwise.
fn answer(
    asked: &[Asked],
    error_code: ErrorCode,
    message: Option<&str>,
    code_of: impl Fn(&Asked) -> ErrorCode,
) -> ElectLeadersResponse {
    let mut results: Vec<ReplicaElectionResult> = Vec::new();
    for partition in asked {
        let code = code_of(partition);
        let result = ElectLeadersPartitionResult {
            partition_id: partition.partition,
            error_code: code,
            error_message: message
                .filter(|_| code != ErrorCode::None)
                .map(StrBytes::from),
        };
        // A topic's partitions are consecutive: the request's topics are a map (Kafka's
        // `mapKey`), and the null list is built topic by topic.
        match results
            .last_mut()
            .filter(|topic| topic.topic == partition.topic)
        {
            Some(topic) => topic.partition_result.push(result),
            None => results.push(ReplicaElectionResult {
                topic: partition.topic.clone(),
                partition_result: vec![result],
            }),
        }
    }
    ElectLeadersResponse {
        throttle_time_ms: 0,
        error_code,
        replica_election_results: results,
    }
}
