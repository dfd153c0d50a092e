//! CreateTopics (key 19): creates topics through the controller (shard 0), or only checks them
//! (`validate_only`). Runs on the connection's shard; each creation is one controller change
//! that every shard has applied before we answer, so the topic can be produced to at once.
//!
//! Checks in the order of Kafka's KRaft controller (`ReplicationControlManager.createTopic`),
//! with its error codes and messages, so admin tools print what they would print for Kafka:
//! 1. a name given twice in one request: INVALID_REQUEST "Duplicate topic name." (once per name,
//!    as `ControllerApis` does; neither copy is created);
//! 2. the name (INVALID_TOPIC_EXCEPTION), null config values (INVALID_CONFIG);
//! 3. a manual assignment needs `num_partitions` and `replication_factor` of -1
//!    (INVALID_REQUEST), partitions 0..n each once (INVALID_REPLICA_ASSIGNMENT);
//! 4. otherwise `replication_factor` -1 (`default.replication.factor`) or positive (0 or < -1
//!    are INVALID_REPLICATION_FACTOR) and `num_partitions` -1 (the broker default: the
//!    auto-create partition count, or 1 when auto-creation is off) or positive
//!    (INVALID_PARTITIONS);
//! 5. the controller's own checks (`cluster::decisions`, `policy::placement`): existing topic
//!    (TOPIC_ALREADY_EXISTS), '.'/'_' collision (INVALID_TOPIC_EXCEPTION), partition limit
//!    (INVALID_PARTITIONS), configs (INVALID_CONFIG), a replication factor above the unfenced
//!    brokers (INVALID_REPLICATION_FACTOR), replica lists naming unknown brokers, a broker
//!    twice, differing lengths or only fenced brokers (INVALID_REPLICA_ASSIGNMENT). Before this
//!    node's registration lands, it is the one broker. `validate_only` runs the same decision
//!    on this shard's copy of the metadata and commits nothing.
//!
//! v5+ results carry the partition count, the replication factor the partitions got (the
//! default resolved) and the topic's effective configs
//! exactly as DescribeConfigs reports them; v7 adds the topic id. A validate-only result has the
//! zero id: Kafka makes up a random id that names nothing, and the zero id says so honestly.
//!
//! `timeout_ms` bounds nothing here: a creation is one local controller step that completes
//! (or fails) before we answer, so there is no pending state to wait for. A KRaft broker answers
//! REQUEST_TIMED_OUT to a timeout of 0; we create the topic instead, which is what the client
//! asked for.
use super::common::metadata_error_code;
use super::describe_configs::topic_entries;
use super::{HandlerError, RequestContext};
use crate::cluster::configs::ConfigError;
use crate::cluster::controller::{CreatedTopic, TopicRequest};
use crate::cluster::{ClusterMetadata, MetadataError, TopicMetadata, controller, topic_name};
use crate::limits::PARTITIONS_PER_TOPIC_MAX;
use crate::protocol::messages::create_topics::{
    CreatableTopic, CreatableTopicConfigs, CreatableTopicResult, CreateTopicsRequest,
    CreateTopicsResponse,
};
use crate::protocol::{ApiKey, ErrorCode, StrBytes, Uuid};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

pub const API_KEY: ApiKey = ApiKey::CreateTopics;
pub const VERSION_MIN: i16 = 2;
pub const VERSION_MAX: i16 = 7;

/// A topic that passed the request-level checks: what to ask the controller for.
type Plan = TopicRequest;

/// A per-topic refusal: the code and Kafka's message.
pub(super) type Refusal = (ErrorCode, String);

/// # Errors
/// None of its own: every problem is a per-topic error code.
/// # Panics
/// When dispatched for another API key (a registry error).
pub async fn handle(
    ctx: &mut RequestContext,
    request: CreateTopicsRequest,
) -> Result<CreateTopicsResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    let duplicates = duplicate_names(&request.topics);
    let mut reported = HashSet::new();
    let mut results = Vec::with_capacity(request.topics.len());
    let node_id = ctx.node_id();
    let default_partitions = ctx.shard.config().auto_create_partitions.max(1);
    for topic in &request.topics {
        let name = topic.name.as_str();
        if duplicates.contains(name) {
            if reported.insert(name) {
                let refusal = (
                    ErrorCode::InvalidRequest,
                    "Duplicate topic name.".to_owned(),
                );
                results.push(refused(&topic.name, refusal));
            }
            continue;
        }
        // CREATE on the cluster or on the topic (Kafka's rule).
        if !ctx.may_create_topic(name) {
            let refusal = (
                ErrorCode::TopicAuthorizationFailed,
                "Authorization failed.".to_owned(),
            );
            results.push(refused(&topic.name, refusal));
            continue;
        }
        let plan = match plan(topic, default_partitions) {
            Ok(plan) => plan,
            Err(refusal) => {
                results.push(refused(&topic.name, refusal));
                continue;
            }
        };
        let outcome = if request.validate_only {
            validated(&controller::metadata(&ctx.shard), name, &plan, node_id)
        } else {
            controller::create_topic(&ctx.shard, name, &plan).await
        };
        results.push(match outcome {
            Ok(created) => {
                let broker = controller::metadata(&ctx.shard).broker_configs.clone();
                success(&created, &broker)
            }
            Err(error) => refused(&topic.name, refusal_of(&error)),
        });
    }
    assert!(results.len() <= request.topics.len());
    Ok(CreateTopicsResponse {
        throttle_time_ms: 0,
        topics: results,
    })
}

/// Names that occur more than once in the request.
fn duplicate_names(topics: &[CreatableTopic]) -> HashSet<&str> {
    let mut seen = HashSet::with_capacity(topics.len());
    topics
        .iter()
        .map(|topic| topic.name.as_str())
        .filter(|name| !seen.insert(*name))
        .collect()
}

/// The request-level checks (steps 2–4 of the module docs).
fn plan(topic: &CreatableTopic, default_partitions: i32) -> Result<Plan, Refusal> {
    if let Err(error) = topic_name::validate(&topic.name) {
        return Err((ErrorCode::InvalidTopicException, error.to_string()));
    }
    let null_configs: Vec<&str> = topic
        .configs
        .iter()
        .filter(|config| config.value.is_none())
        .map(|config| config.name.as_str())
        .collect();
    if !null_configs.is_empty() {
        return Err((
            ErrorCode::InvalidConfig,
            format!(
                "Null value not supported for topic configs: {}",
                null_configs.join(",")
            ),
        ));
    }
    let configs: BTreeMap<String, String> = topic
        .configs
        .iter()
        .filter_map(|config| {
            let value = config.value.as_ref()?;
            Some((config.name.as_str().to_owned(), value.as_str().to_owned()))
        })
        .collect();
    let (partition_count, assignments) = if topic.assignments.is_empty() {
        (
            automatic_partition_count(topic, default_partitions)?,
            Vec::new(),
        )
    } else {
        let assignments = manual_assignments(topic)?;
        let count = i32::try_from(assignments.len()).unwrap_or(i32::MAX);
        (count, assignments)
    };
    assert!(partition_count > 0, "checked above");
    Ok(Plan {
        partition_count,
        replication_factor: topic.replication_factor,
        assignments,
        configs,
    })
}

fn automatic_partition_count(
    topic: &CreatableTopic,
    default_partitions: i32,
) -> Result<i32, Refusal> {
    let factor = topic.replication_factor;
    if factor < -1 || factor == 0 {
        return Err((
            ErrorCode::InvalidReplicationFactor,
            "Replication factor must be larger than 0, or -1 to use the default value.".to_owned(),
        ));
    }
    if topic.num_partitions < -1 || topic.num_partitions == 0 {
        return Err((
            ErrorCode::InvalidPartitions,
            "Number of partitions was set to an invalid non-positive value.".to_owned(),
        ));
    }
    Ok(if topic.num_partitions == -1 {
        default_partitions
    } else {
        topic.num_partitions
    })
}

/// The manual replica lists in partition order, once each from 0 (the brokers they name are
/// the controller's to check).
fn manual_assignments(topic: &CreatableTopic) -> Result<Vec<Vec<i32>>, Refusal> {
    let assignment_error = |message: String| (ErrorCode::InvalidReplicaAssignment, message);
    if topic.replication_factor != -1 {
        return Err((
            ErrorCode::InvalidRequest,
            "A manual partition assignment was specified, but replication factor was not set \
             to -1."
                .to_owned(),
        ));
    }
    if topic.num_partitions != -1 {
        return Err((
            ErrorCode::InvalidRequest,
            "A manual partition assignment was specified, but numPartitions was not set to -1."
                .to_owned(),
        ));
    }
    let count = topic.assignments.len();
    if count > usize::try_from(PARTITIONS_PER_TOPIC_MAX).unwrap_or(usize::MAX) {
        return Err((
            ErrorCode::InvalidPartitions,
            format!("{count} partitions exceed the limit of {PARTITIONS_PER_TOPIC_MAX}"),
        ));
    }
    let mut by_index: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for assignment in &topic.assignments {
        let index = assignment.partition_index;
        if by_index
            .insert(index, assignment.broker_ids.clone())
            .is_some()
        {
            return Err(assignment_error(format!(
                "Found multiple manual partition assignments for partition {index}"
            )));
        }
    }
    let expected = 0..i32::try_from(count).unwrap_or(i32::MAX);
    if !by_index.keys().copied().eq(expected) {
        return Err(assignment_error(
            "partitions should be a consecutive 0-based integer sequence".to_owned(),
        ));
    }
    Ok(by_index.into_values().collect())
}

/// A validate-only creation: the controller's decision on this shard's copy, nothing
/// committed; the topic reported with the zero id (it does not exist).
fn validated(
    metadata: &ClusterMetadata,
    name: &str,
    plan: &Plan,
    node_id: i32,
) -> Result<CreatedTopic, MetadataError> {
    let state = metadata.with_change(&plan.change(name), node_id)?;
    let topic = state
        .topic(name)
        .ok_or_else(|| MetadataError::UnknownTopic {
            name: name.to_owned(),
        })?;
    let replication_factor = controller::replication_factor_of(&state, topic);
    let topic = Arc::new(TopicMetadata {
        topic_id: Uuid::default(),
        ..topic.as_ref().clone()
    });
    Ok(CreatedTopic {
        topic,
        replication_factor,
    })
}

/// A controller refusal as Kafka's code and message (shared by the admin handlers that change
/// metadata, so each refusal reads the same whichever API hit it).
pub(super) fn refusal_of(error: &MetadataError) -> Refusal {
    match error {
        MetadataError::TopicAlreadyExists { name } => (
            ErrorCode::TopicAlreadyExists,
            format!("Topic '{name}' already exists."),
        ),
        // Kafka answers a collision with INVALID_TOPIC_EXCEPTION, not TOPIC_ALREADY_EXISTS.
        MetadataError::TopicCollision { name, existing } => (
            ErrorCode::InvalidTopicException,
            format!("Topic '{name}' collides with existing topic: {existing}"),
        ),
        MetadataError::UnknownTopic { name } => (
            ErrorCode::UnknownTopicOrPartition,
            format!("Topic {name} does not exist."),
        ),
        MetadataError::PartitionsCannotShrink {
            name,
            current,
            requested,
        } => (
            ErrorCode::InvalidPartitions,
            if requested == current {
                format!("Topic already has {current} partition(s).")
            } else {
                format!(
                    "The topic {name} currently has {current} partition(s); {requested} would \
                     not be an increase."
                )
            },
        ),
        MetadataError::InvalidConfig(ConfigError::Unknown { name }) => (
            ErrorCode::InvalidConfig,
            format!("Unknown topic config name: {name}"),
        ),
        MetadataError::InvalidConfig(ConfigError::Invalid {
            name,
            value,
            reason,
        }) => (
            ErrorCode::InvalidConfig,
            format!("Invalid value {value} for configuration {name}: {reason}"),
        ),
        MetadataError::ControllerUnavailable { .. } => (
            ErrorCode::RequestTimedOut,
            "The controller is shutting down.".to_owned(),
        ),
        other => (metadata_error_code(other), other.to_string()),
    }
}

fn refused(name: &StrBytes, (error_code, message): Refusal) -> CreatableTopicResult {
    assert_ne!(error_code, ErrorCode::None, "a refusal carries an error");
    CreatableTopicResult {
        name: name.clone(),
        error_code,
        error_message: Some(StrBytes::from(message)),
        ..CreatableTopicResult::default()
    }
}

fn success(created: &CreatedTopic, broker: &BTreeMap<String, String>) -> CreatableTopicResult {
    let topic = created.topic.as_ref();
    let configs = topic_entries(topic, broker)
        .into_iter()
        .map(|entry| CreatableTopicConfigs {
            name: StrBytes::from(entry.name),
            value: Some(StrBytes::from(entry.value)),
            read_only: entry.read_only,
            config_source: entry.source as i8,
            is_sensitive: false,
        })
        .collect();
    CreatableTopicResult {
        name: StrBytes::from(topic.name.as_str()),
        topic_id: topic.topic_id,
        error_code: ErrorCode::None,
        error_message: None,
        num_partitions: topic.partition_count,
        replication_factor: created.replication_factor,
        configs: Some(configs),
        topic_config_error_code: ErrorCode::None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may unwrap
mod tests {
    use super::*;
    use crate::cluster::metadata::ClusterError;
    use crate::protocol::messages::create_topics::{
        CreatableReplicaAssignment, CreatableTopicConfig,
    };

    fn topic(num_partitions: i32, replication_factor: i16) -> CreatableTopic {
        CreatableTopic {
            name: StrBytes::from("t"),
            num_partitions,
            replication_factor,
            ..CreatableTopic::default()
        }
    }

    fn code(result: Result<Plan, Refusal>) -> ErrorCode {
        result.unwrap_err().0
    }

    #[test]
    fn defaults_and_counts() {
        assert_eq!(plan(&topic(-1, -1), 3).unwrap().partition_count, 3);
        assert_eq!(plan(&topic(4, 1), 3).unwrap().partition_count, 4);
        assert_eq!(code(plan(&topic(0, 1), 3)), ErrorCode::InvalidPartitions);
        assert_eq!(code(plan(&topic(-2, 1), 3)), ErrorCode::InvalidPartitions);
        for factor in [0, -2] {
            assert_eq!(
                code(plan(&topic(1, factor), 3)),
                ErrorCode::InvalidReplicationFactor,
                "factor {factor}"
            );
        }
        // Above the brokers is the controller's to refuse: it knows them.
        let plan = plan(&topic(1, 3), 3).unwrap();
        assert_eq!(plan.replication_factor, 3);
    }

    #[test]
    fn replication_factor_refusals_read_as_kafkas() {
        let refusal = |replication_factor, brokers| {
            refusal_of(&MetadataError::Cluster(
                ClusterError::InvalidReplicationFactor {
                    replication_factor,
                    brokers,
                },
            ))
        };
        let (code, message) = refusal(2, 1);
        assert_eq!(code, ErrorCode::InvalidReplicationFactor);
        assert_eq!(
            message,
            "Unable to replicate the partition 2 time(s): The target replication factor of 2 \
             cannot be reached because only 1 broker(s) are registered."
        );
        let (_, message) = refusal(0, 1);
        assert!(message.starts_with("Replication factor must be larger than 0"));
        let (code, _) = refusal(17, 20);
        assert_eq!(code, ErrorCode::InvalidReplicationFactor);
    }

    #[test]
    fn manual_assignments_come_in_partition_order() {
        let assign = |pairs: &[(i32, &[i32])]| {
            let mut topic = topic(-1, -1);
            topic.assignments = pairs
                .iter()
                .map(|(partition_index, brokers)| CreatableReplicaAssignment {
                    partition_index: *partition_index,
                    broker_ids: brokers.to_vec(),
                })
                .collect();
            plan(&topic, 1)
        };
        let planned = assign(&[(1, &[8, 7]), (0, &[7])]).unwrap();
        assert_eq!(planned.partition_count, 2);
        assert_eq!(planned.assignments, vec![vec![7], vec![8, 7]]);
        let invalid = ErrorCode::InvalidReplicaAssignment;
        assert_eq!(code(assign(&[(0, &[7]), (0, &[7])])), invalid);
        assert_eq!(code(assign(&[(1, &[7])])), invalid);
        let mut both = topic(2, -1);
        both.assignments = vec![CreatableReplicaAssignment {
            partition_index: 0,
            broker_ids: vec![7],
        }];
        assert_eq!(code(plan(&both, 1)), ErrorCode::InvalidRequest);
    }

    #[test]
    fn names_and_null_configs_are_refused() {
        let mut bad = topic(1, 1);
        bad.name = StrBytes::from("a/b");
        assert_eq!(code(plan(&bad, 1)), ErrorCode::InvalidTopicException);
        let mut null = topic(1, 1);
        null.configs = vec![CreatableTopicConfig {
            name: StrBytes::from("retention.ms"),
            value: None,
        }];
        let (error_code, message) = plan(&null, 1).unwrap_err();
        assert_eq!(error_code, ErrorCode::InvalidConfig);
        assert!(message.contains("retention.ms"), "{message}");
    }

    #[test]
    fn a_shutdown_is_retriable_and_not_a_storage_error() {
        use crate::shard::MeshError;
        let stopped = MetadataError::ControllerUnavailable {
            source: MeshError::ShardStopped { target: 0 },
        };
        let (error_code, message) = refusal_of(&stopped);
        assert_eq!(error_code, ErrorCode::RequestTimedOut);
        assert_eq!(message, "The controller is shutting down.");
        assert_eq!(metadata_error_code(&stopped), ErrorCode::RequestTimedOut);
        let disk = MetadataError::from(crate::cluster::metadata::MetadataFileError::TooLarge {
            size: 2,
            size_max: 1,
        });
        assert_eq!(refusal_of(&disk).0, ErrorCode::KafkaStorageError);
    }

    #[test]
    fn duplicates_are_found() {
        let topics = vec![topic(1, 1), topic(2, 1)];
        assert!(duplicate_names(&topics).contains("t"));
        assert!(duplicate_names(&topics[..1]).is_empty());
    }
}
