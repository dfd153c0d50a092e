//! The controller's decisions: the current metadata and a requested change in, the records
//! that carry it out (or the reason it is refused) out. Pure functions, so every rule is tested
//! without a runtime, and the same code decides on the Raft leader later.
//!
//! This is where policy lives: existing and colliding names, partition growth, config names
//! and values (`cluster::configs`), record size; replica placement (`policy::placement`) and
//! producer-id blocks (`policy::producer_id_blocks`) are decided here through those modules.
//! `ClusterMetadata::apply` checks only that a record fits the state, so records written under
//! older rules still replay.
//!
//! A new partition's ISR is every live assigned replica (Kafka's rule; `policy::placement`).
//! ISR changes a leader proposes (AlterPartition) and ElectLeaders are decided by
//! `policy::isr` against the state and the controller's knowledge of which brokers are
//! shutting down ([`decide_with`]).
//!
//! A decision reads one state; the controller (`cluster::controller`, shard 0) runs it under
//! the store's one-change-at-a-time gate against the latest state, so two changes never decide
//! against the same state. Validate-only requests run the same checks on their shard's copy.
//! Will move into `cluster/controller/` when that becomes a directory (CLUSTER.md).
use super::acls::{AclBinding, AclError, AclFilter};
use super::configs::{self, ConfigError};
use super::metadata::{ClusterError, ClusterMetadata, MetadataError, MetadataRecord};
use super::metadata::{ScramCredential, ScramMechanism};
use super::policy::election::ElectionPolicy;
use super::policy::isr::{self, AlterPartitionRequest, ElectionType, Liveness};
use super::policy::lifecycle::BrokerSessions;
use super::policy::{RecordBatch, placement, producer_id_blocks, reassign};
use super::quotas::{QuotaEntity, QuotaKey, QuotaValue};
use super::topic_name;
use crate::limits::{
    ACLS_MAX, BROKER_SESSION_TIMEOUT_MS_DEFAULT, ELECTIONS_PER_REQUEST_MAX,
    METADATA_RECORD_SIZE_MAX, PARTITIONS_PER_TOPIC_MAX, PRODUCER_ID_BLOCK_SIZE,
    PRODUCER_ID_BLOCK_SIZE_MAX, REASSIGNMENTS_IN_FLIGHT_MAX,
};
use crate::protocol::Uuid;
use std::collections::BTreeMap;

/// A change a client asked for, before the controller checked it. Serializable: a broker
/// that is not the active controller forwards it there (KIP-590's role), so every field is
/// plain data.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MetadataChange {
    /// `topic_id` and `random_start` (where placement starts on the broker ring) are drawn by
    /// the caller, so the decision stays pure; a clashing id is refused by `apply`.
    CreateTopic {
        name: String,
        topic_id: Uuid,
        partition_count: i32,
        /// −1: `default.replication.factor`. With `assignments`: −1.
        replication_factor: i16,
        /// Manual replica lists by partition index (CreateTopics' `assignments`); empty:
        /// automatic placement. With them, `partition_count` is their number.
        assignments: Vec<Vec<i32>>,
        configs: BTreeMap<String, String>,
        random_start: u64,
    },
    DeleteTopic {
        name: String,
    },
    /// Grow the topic to `partition_count` partitions.
    CreatePartitions {
        name: String,
        partition_count: i32,
        /// One replica list per new partition, or empty for automatic placement.
        assignments: Vec<Vec<i32>>,
        random_start: u64,
    },
    /// Replace the topic's overrides (callers merge incremental changes first).
    SetTopicConfigs {
        name: String,
        configs: BTreeMap<String, String>,
    },
    /// Replace the broker-level overrides (keyed by broker synonym names).
    SetBrokerConfigs {
        configs: BTreeMap<String, String>,
    },
    /// The next producer-id block for `node_id` (InitProducerId, KIP-730's
    /// AllocateProducerIds). `floor`: the block starts at or above it (the end of the node's
    /// pre-cluster `producer-ids` file, so no id is handed out twice across the upgrade).
    AllocateProducerIds {
        node_id: i32,
        floor: i64,
    },
    /// A partition leader's ISR proposal (AlterPartition, KIP-497).
    AlterPartition(AlterPartitionRequest),
    /// ElectLeaders: an election of `election_type` for each of `partitions` (topic id,
    /// partition) that needs and allows one; `None`: every partition. Partitions that do not
    /// exist or need no election are skipped (the caller reports them); at most
    /// `ELECTIONS_PER_REQUEST_MAX` are elected.
    ElectLeaders {
        election_type: ElectionType,
        partitions: Option<Vec<(Uuid, i32)>>,
    },
    /// CreateAcls: each binding (validated by the caller) under the id drawn for it. A binding
    /// the cluster already holds, or named twice, is created once (Kafka: a no-op success).
    CreateAcls {
        acls: Vec<(Uuid, AclBinding)>,
    },
    /// DeleteAcls: every ACL that matches any of `filters` is removed.
    DeleteAcls {
        filters: Vec<AclFilter>,
    },
    /// AlterUserScramCredentials (KIP-554): set (`Some`) or delete (`None`) each user's
    /// credential for a mechanism, all or nothing. The handler checked each alteration and
    /// derived the keys (`security::scram`); `apply` refuses a deletion of nothing.
    AlterScramCredentials {
        alterations: Vec<(String, ScramMechanism, Option<ScramCredential>)>,
    },
    /// AlterClientQuotas (KIP-546): set (`Some`) or remove (`None`) each (entity, key), all
    /// or nothing. The handler checked entities, keys and values; removing a key that is not
    /// set and setting the value it has write nothing (Kafka's no-op successes).
    AlterClientQuotas {
        alterations: Vec<(QuotaEntity, QuotaKey, Option<QuotaValue>)>,
    },
    /// AlterPartitionReassignments (KIP-455): start, replace or cancel (`target` `None`) each
    /// partition's reassignment (`policy::reassign`). Refused whole at the first partition
    /// that cannot be (the handler checks each on its copy first, so it answers per
    /// partition), or when more than `REASSIGNMENTS_IN_FLIGHT_MAX` would be in flight.
    AlterPartitionReassignments {
        reassignments: Vec<PartitionReassignment>,
    },
    /// Completes every in-flight reassignment whose target replicas are in sync (the controller's
    /// timer; also how a new controller resumes the ones it inherits).
    CompleteReassignments,
    /// UnregisterBroker (API 64): forget a broker that left for good, fencing it first (with
    /// elections) when it is not fenced yet, as Kafka does — Kafka does not refuse a live one,
    /// and neither do we (`policy::lifecycle::BrokerSessions::unregister`).
    UnregisterBroker {
        node_id: i32,
    },
}

/// One partition's requested reassignment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartitionReassignment {
    pub topic_id: Uuid,
    pub partition: i32,
    /// The target replicas; `None` cancels the ongoing reassignment.
    pub target: Option<Vec<i32>>,
}

/// The records that carry out `change` on `current`; none when it changes nothing.
/// `controller_node` is the deciding controller's node id: while no broker is registered (a
/// single node before its registration lands) placement and producer-id blocks use it alone.
///
/// Partitions are placed by `policy::placement` with ISR = the leader alone (until partition
/// replication exists): a follower that holds no data must never be electable.
///
/// # Errors
/// Why the change is refused: `TopicAlreadyExists`, `TopicCollision`, `InvalidTopicName`,
/// `InvalidPartitionCount`, `PartitionsCannotShrink`, `UnknownTopic`, `InvalidConfig`,
/// `RecordTooLarge`, `Cluster(InvalidReplicationFactor | InvalidReplicaAssignment |
/// InvalidPlacementRequest | TooManyPartitions | UnknownBroker | ProducerIdsExhausted)`.
pub fn decide(
    current: &ClusterMetadata,
    change: &MetadataChange,
    controller_node: i32,
) -> Result<Vec<MetadataRecord>, MetadataError> {
    decide_with(current, change, controller_node, &|_| false)
}

/// [`decide`], knowing which brokers are in controlled shutdown (`shutting_down`: the active
/// controller's sessions), which may neither join an ISR nor be elected.
///
/// # Errors
/// As [`decide`], and AlterPartition's refusals (`policy::isr`).
pub fn decide_with(
    current: &ClusterMetadata,
    change: &MetadataChange,
    controller_node: i32,
    shutting_down: &dyn Fn(i32) -> bool,
) -> Result<Vec<MetadataRecord>, MetadataError> {
    let liveness = Liveness {
        metadata: current,
        shutting_down,
    };
    let record = match change {
        MetadataChange::AlterPartition(request) => return alter_partition(&liveness, request),
        MetadataChange::CreateAcls { acls } => return create_acls(current, acls),
        MetadataChange::DeleteAcls { filters } => return Ok(delete_acls(current, filters)),
        MetadataChange::AlterClientQuotas { alterations } => {
            return client_quota_records(current, alterations);
        }
        MetadataChange::ElectLeaders {
            election_type,
            partitions,
        } => {
            return Ok(elect_leaders(
                &liveness,
                *election_type,
                partitions.as_deref(),
            ));
        }
        MetadataChange::AlterPartitionReassignments { .. }
        | MetadataChange::CompleteReassignments
        | MetadataChange::UnregisterBroker { .. } => return scale_out(&liveness, change),
        MetadataChange::AlterScramCredentials { alterations } => {
            return scram_credential_records(alterations);
        }
        MetadataChange::CreateTopic { .. } | MetadataChange::CreatePartitions { .. } => {
            return placed(current, change, controller_node);
        }
        MetadataChange::DeleteTopic { name } => MetadataRecord::TopicRemoved {
            topic_id: topic_id_of(current, name)?,
        },
        MetadataChange::SetTopicConfigs { .. } | MetadataChange::SetBrokerConfigs { .. } => {
            match configs_record(current, change)? {
                Some(record) => record,
                None => return Ok(Vec::new()),
            }
        }
        MetadataChange::AllocateProducerIds { node_id, floor } => {
            let size = i32::try_from(PRODUCER_ID_BLOCK_SIZE).unwrap_or(PRODUCER_ID_BLOCK_SIZE_MAX);
            producer_id_blocks::allocate_for(current, *node_id, size, *floor, controller_node)?
        }
    };
    check_record_size(&record)?;
    Ok(vec![record])
}

/// The records of a CreateTopic or CreatePartitions (`policy::placement`).
fn placed(
    current: &ClusterMetadata,
    change: &MetadataChange,
    controller_node: i32,
) -> Result<Vec<MetadataRecord>, MetadataError> {
    match change {
        MetadataChange::CreateTopic {
            name,
            topic_id,
            partition_count,
            replication_factor,
            assignments,
            configs,
            random_start,
        } => {
            let topic = placement::PlacedTopic {
                name: name.clone(),
                topic_id: *topic_id,
                partition_count: *partition_count,
                replication_factor: *replication_factor,
                assignments: assignments.clone(),
                configs: configs.clone(),
            };
            let default = configs::default_replication_factor(&current.broker_configs);
            let stand_in = Some(controller_node);
            placement::create_topic(current, &topic, default, *random_start, stand_in)
        }
        MetadataChange::CreatePartitions {
            name,
            partition_count,
            assignments,
            random_start,
        } => {
            let grow = placement::GrowTopic {
                name: name.clone(),
                partition_count: *partition_count,
                assignments: assignments.clone(),
            };
            let stand_in = Some(controller_node);
            placement::create_partitions(current, &grow, *random_start, stand_in)
        }
        // `decide_with` routes only the two changes above here.
        _ => Ok(Vec::new()),
    }
}

/// One `ScramCredential` record per alteration, each within the record size limit.
fn scram_credential_records(
    alterations: &[(String, ScramMechanism, Option<ScramCredential>)],
) -> Result<Vec<MetadataRecord>, MetadataError> {
    let mut records = Vec::with_capacity(alterations.len());
    for (user, mechanism, credential) in alterations {
        let record = MetadataRecord::ScramCredential {
            user: user.clone(),
            mechanism: *mechanism,
            credential: credential.clone(),
        };
        check_record_size(&record)?;
        records.push(record);
    }
    assert_eq!(records.len(), alterations.len());
    Ok(records)
}

/// The `ClientQuota` records of an AlterClientQuotas: one per (entity, key) that changes.
///
/// # Errors
/// `Quota(TooManyEntities)` when new entities would exceed `CLIENT_QUOTA_ENTITIES_MAX`;
/// `Quota(InvalidValue)`; `RecordTooLarge`. Nothing is written then.
fn client_quota_records(
    current: &ClusterMetadata,
    alterations: &[(QuotaEntity, QuotaKey, Option<QuotaValue>)],
) -> Result<Vec<MetadataRecord>, MetadataError> {
    let mut quotas = current.client_quotas().clone();
    let mut records = Vec::with_capacity(alterations.len());
    for (entity, key, value) in alterations {
        let now = quotas.get(entity, *key);
        let wanted = value.map(|value| value.0);
        let unchanged = match (now, wanted) {
            (None, None) => true,
            (Some(now), Some(wanted)) => now.to_bits() == wanted.to_bits(),
            _ => false,
        };
        if unchanged {
            continue;
        }
        // Applied to a copy as it goes, so the entity bound counts this request's entities.
        quotas.set(entity, *key, wanted)?;
        let record = MetadataRecord::ClientQuota {
            entity: entity.clone(),
            key: *key,
            value: *value,
        };
        check_record_size(&record)?;
        records.push(record);
    }
    assert!(records.len() <= alterations.len());
    Ok(records)
}

/// The `AclCreated` records of a CreateAcls: one per binding not yet held.
///
/// # Errors
/// `Acl(TooManyAcls)` when the new ACLs would exceed `ACLS_MAX` (nothing is created);
/// `Acl(IdTaken)` for an id already in use (`apply` would refuse it too).
fn create_acls(
    current: &ClusterMetadata,
    acls: &[(Uuid, AclBinding)],
) -> Result<Vec<MetadataRecord>, MetadataError> {
    let table = current.acls();
    let mut records = Vec::with_capacity(acls.len());
    let mut seen = std::collections::BTreeSet::new();
    for (acl_id, binding) in acls {
        if table.id_of(binding).is_some() || !seen.insert(binding) {
            continue;
        }
        if acl_id.is_zero() || table.contains_id(*acl_id) {
            return Err(AclError::IdTaken { id: *acl_id }.into());
        }
        records.push(MetadataRecord::AclCreated {
            acl_id: *acl_id,
            binding: binding.clone(),
        });
    }
    if table.len() + records.len() > ACLS_MAX {
        return Err(AclError::TooManyAcls.into());
    }
    for record in &records {
        check_record_size(record)?;
    }
    assert!(records.len() <= acls.len());
    Ok(records)
}

/// The `AclRemoved` records of a DeleteAcls: every held ACL that any filter matches, once,
/// in id order (at most `ACLS_MAX`, one proposal).
fn delete_acls(current: &ClusterMetadata, filters: &[AclFilter]) -> Vec<MetadataRecord> {
    let records: Vec<MetadataRecord> = current
        .acls()
        .iter()
        .filter(|(_, binding)| filters.iter().any(|filter| filter.matches(binding)))
        .map(|(acl_id, _)| MetadataRecord::AclRemoved { acl_id })
        .collect();
    assert!(records.len() <= ACLS_MAX);
    records
}

/// The `PartitionChange` AlterPartition `request` makes, if any; when the new ISR lets the
/// partition's reassignment complete, the same record completes it (Kafka's builder does both
/// in one record).
fn alter_partition(
    liveness: &Liveness<'_>,
    request: &AlterPartitionRequest,
) -> Result<Vec<MetadataRecord>, MetadataError> {
    let policy = election_policy(liveness.metadata, request.topic_id);
    let Some(delta) = isr::alter_partition(liveness, request, policy)? else {
        return Ok(Vec::new());
    };
    let (topic_id, partition) = (request.topic_id, request.partition);
    let delta = match liveness.metadata.partition(topic_id, partition) {
        Some(current) => reassign::with_completion(liveness, current, delta),
        None => delta,
    };
    Ok(vec![MetadataRecord::PartitionChange {
        topic_id,
        partition,
        delta,
    }])
}

/// The scale-out changes: reassignments and unregistering a broker.
fn scale_out(
    liveness: &Liveness<'_>,
    change: &MetadataChange,
) -> Result<Vec<MetadataRecord>, MetadataError> {
    match change {
        MetadataChange::AlterPartitionReassignments { reassignments } => {
            reassign_partitions(liveness, reassignments)
        }
        MetadataChange::CompleteReassignments => Ok(complete_reassignments(liveness)),
        MetadataChange::UnregisterBroker { node_id } => {
            unregister_broker(liveness.metadata, *node_id)
        }
        _ => Ok(Vec::new()),
    }
}

/// UnregisterBroker decided without the controller's sessions (validate-only, tests): with
/// fresh ones. The active controller decides with its own (`active::ActiveController::change`).
fn unregister_broker(
    current: &ClusterMetadata,
    node_id: i32,
) -> Result<Vec<MetadataRecord>, MetadataError> {
    let timeout = std::time::Duration::from_millis(BROKER_SESSION_TIMEOUT_MS_DEFAULT);
    let mut sessions = BrokerSessions::new(timeout, ElectionPolicy::default());
    sessions.unregister(current, node_id)
}

/// The records of AlterPartitionReassignments (see
/// [`MetadataChange::AlterPartitionReassignments`]).
fn reassign_partitions(
    liveness: &Liveness<'_>,
    reassignments: &[PartitionReassignment],
) -> Result<Vec<MetadataRecord>, MetadataError> {
    let current = liveness.metadata;
    let mut batch = RecordBatch::new(current);
    for request in reassignments {
        let (topic_id, partition) = (request.topic_id, request.partition);
        // Read from the batch: a partition asked for twice sees its first change.
        let state = batch
            .state()
            .partition(topic_id, partition)
            .cloned()
            .ok_or(ClusterError::UnknownPartition {
                topic_id,
                partition,
            })?;
        let scratch = Liveness {
            metadata: batch.state(),
            shutting_down: liveness.shutting_down,
        };
        let unclean = election_policy(batch.state(), topic_id).unclean_allowed;
        let deltas = match &request.target {
            Some(target) => {
                reassign::check_target(&scratch, target)?;
                reassign::start(&scratch, &state, target, unclean)?
            }
            None => reassign::cancel(&scratch, &state, unclean)?
                .into_iter()
                .collect(),
        };
        for delta in deltas {
            batch.push(MetadataRecord::PartitionChange {
                topic_id,
                partition,
                delta,
            })?;
        }
    }
    let in_flight = batch
        .state()
        .all_partitions()
        .filter(|(_, _, state)| reassign::in_progress(state))
        .count();
    if in_flight > REASSIGNMENTS_IN_FLIGHT_MAX {
        let count_max = REASSIGNMENTS_IN_FLIGHT_MAX;
        return Err(ClusterError::TooManyReassignments {
            in_flight,
            count_max,
        }
        .into());
    }
    Ok(batch.into_records())
}

/// The completions of every in-flight reassignment that can complete, at most
/// `REASSIGNMENTS_IN_FLIGHT_MAX`.
fn complete_reassignments(liveness: &Liveness<'_>) -> Vec<MetadataRecord> {
    liveness
        .metadata
        .all_partitions()
        .filter(|(_, _, state)| reassign::in_progress(state))
        .filter_map(|(topic_id, partition, state)| {
            let delta = reassign::complete(liveness, state)?;
            Some(MetadataRecord::PartitionChange {
                topic_id,
                partition,
                delta,
            })
        })
        .take(REASSIGNMENTS_IN_FLIGHT_MAX)
        .collect()
}

/// The election policy of the topic with `topic_id` (Kafka's defaults for an unknown one).
fn election_policy(current: &ClusterMetadata, topic_id: Uuid) -> ElectionPolicy {
    current
        .topic_by_id(topic_id)
        .map_or_else(ElectionPolicy::default, |topic| {
            ElectionPolicy::for_topic(current, topic, ElectionPolicy::default())
        })
}

/// `PartitionChange` records of the elections ElectLeaders asks for (see
/// [`MetadataChange::ElectLeaders`]).
fn elect_leaders(
    liveness: &Liveness<'_>,
    election_type: ElectionType,
    partitions: Option<&[(Uuid, i32)]>,
) -> Vec<MetadataRecord> {
    let current = liveness.metadata;
    let all: Vec<(Uuid, i32)>;
    let partitions = if let Some(partitions) = partitions {
        partitions
    } else {
        all = current
            .all_partitions()
            .map(|(topic_id, partition, _)| (topic_id, partition))
            .collect();
        &all
    };
    let mut records: Vec<MetadataRecord> = Vec::new();
    // A partition asked for twice is elected once.
    let mut decided = std::collections::BTreeSet::new();
    for &(topic_id, partition) in partitions {
        if records.len() == ELECTIONS_PER_REQUEST_MAX {
            break;
        }
        let Some(state) = current.partition(topic_id, partition) else {
            continue;
        };
        if !isr::election_needed(state, election_type) || !decided.insert((topic_id, partition)) {
            continue;
        }
        let policy = election_policy(current, topic_id);
        if let Some(delta) = isr::elect(state, election_type, liveness, policy) {
            records.push(MetadataRecord::PartitionChange {
                topic_id,
                partition,
                delta,
            });
        }
    }
    records
}

/// The outcome ElectLeaders reports for one partition, from the states before and after the
/// election was committed (Kafka's codes): ELECTION_NOT_NEEDED when no election was needed
/// before, NONE when the election happened, else PREFERRED_LEADER_NOT_AVAILABLE (preferred) or
/// ELIGIBLE_LEADERS_NOT_AVAILABLE (unclean); UNKNOWN_TOPIC_OR_PARTITION for a partition
/// without a record.
#[must_use]
pub fn election_outcome(
    before: &ClusterMetadata,
    after: &ClusterMetadata,
    election_type: ElectionType,
    (topic_id, partition): (Uuid, i32),
) -> crate::protocol::ErrorCode {
    use crate::protocol::ErrorCode;
    let Some(next) = after.partition(topic_id, partition) else {
        return ErrorCode::UnknownTopicOrPartition;
    };
    let needed_before = before
        .partition(topic_id, partition)
        .is_none_or(|previous| isr::election_needed(previous, election_type));
    let leader_changed = before
        .partition(topic_id, partition)
        .is_none_or(|previous| previous.leader_epoch != next.leader_epoch);
    if !needed_before && !leader_changed {
        return ErrorCode::ElectionNotNeeded;
    }
    match election_type {
        _ if !isr::election_needed(next, election_type) => ErrorCode::None,
        ElectionType::Preferred => ErrorCode::PreferredLeaderNotAvailable,
        ElectionType::Unclean => ErrorCode::EligibleLeadersNotAvailable,
    }
}

/// The record replacing topic or broker overrides; `None` when they are already so.
fn configs_record(
    current: &ClusterMetadata,
    change: &MetadataChange,
) -> Result<Option<MetadataRecord>, MetadataError> {
    Ok(match change {
        MetadataChange::SetTopicConfigs { name, configs } => {
            let topic_id = topic_id_of(current, name)?;
            configs::check_topic_configs(configs)?;
            let unchanged = current
                .topic(name)
                .is_some_and(|topic| topic.configs == *configs);
            let configs = configs.clone();
            (!unchanged).then_some(MetadataRecord::TopicConfigsSet { topic_id, configs })
        }
        MetadataChange::SetBrokerConfigs { configs } => {
            check_broker_configs(configs)?;
            let unchanged = current.broker_configs == *configs;
            let configs = configs.clone();
            (!unchanged).then_some(MetadataRecord::BrokerConfigsSet { configs })
        }
        _ => None,
    })
}

/// Checks a would-be new topic without deciding anything (CreateTopics `validate_only`).
///
/// # Errors
/// `InvalidTopicName`, `TopicAlreadyExists`, `TopicCollision`, `InvalidPartitionCount`,
/// `InvalidConfig`.
pub fn check_create_topic(
    current: &ClusterMetadata,
    name: &str,
    partition_count: i32,
    configs: &BTreeMap<String, String>,
) -> Result<(), MetadataError> {
    topic_name::validate(name)?;
    if current.topic(name).is_some() {
        return Err(MetadataError::TopicAlreadyExists {
            name: name.to_owned(),
        });
    }
    let key = topic_name::collision_key(name);
    if let Some(existing) = current
        .topics
        .keys()
        .find(|existing| topic_name::collision_key(existing) == key)
    {
        return Err(MetadataError::TopicCollision {
            name: name.to_owned(),
            existing: existing.clone(),
        });
    }
    if !(1..=PARTITIONS_PER_TOPIC_MAX).contains(&partition_count) {
        return Err(MetadataError::InvalidPartitionCount {
            count: partition_count,
        });
    }
    configs::check_topic_configs(configs)?;
    Ok(())
}

/// Checks a partition increase without deciding anything (CreatePartitions `validate_only`).
///
/// # Errors
/// `UnknownTopic`, `PartitionsCannotShrink` (also for an equal count, as Kafka does),
/// `InvalidPartitionCount`.
pub fn check_partitions(
    current: &ClusterMetadata,
    name: &str,
    count: i32,
) -> Result<(), MetadataError> {
    let topic = current
        .topic(name)
        .ok_or_else(|| MetadataError::UnknownTopic {
            name: name.to_owned(),
        })?;
    if count <= topic.partition_count {
        return Err(MetadataError::PartitionsCannotShrink {
            name: name.to_owned(),
            current: topic.partition_count,
            requested: count,
        });
    }
    if count > PARTITIONS_PER_TOPIC_MAX {
        return Err(MetadataError::InvalidPartitionCount { count });
    }
    Ok(())
}

/// Every name must be a topic config's broker synonym with a valid value.
///
/// # Errors
/// `InvalidConfig`.
pub fn check_broker_configs(configs: &BTreeMap<String, String>) -> Result<(), MetadataError> {
    for (name, value) in configs {
        let def = configs::topic_config_by_broker_name(name)
            .ok_or_else(|| ConfigError::Unknown { name: name.clone() })?;
        configs::check_value(def, value)?;
    }
    Ok(())
}

fn topic_id_of(current: &ClusterMetadata, name: &str) -> Result<Uuid, MetadataError> {
    current
        .topic(name)
        .map(|topic| topic.topic_id)
        .ok_or_else(|| MetadataError::UnknownTopic {
            name: name.to_owned(),
        })
}

fn check_record_size(record: &MetadataRecord) -> Result<(), MetadataError> {
    let size = record.encoded_size();
    if size > METADATA_RECORD_SIZE_MAX {
        return Err(MetadataError::RecordTooLarge {
            size,
            size_max: METADATA_RECORD_SIZE_MAX,
        });
    }
    Ok(())
}

/// The decisions as methods of the state, for handlers that check (validate-only) or preview
/// a change on their shard's copy.
impl ClusterMetadata {
    /// The state `change` would lead to when `controller_node` decides it: [`decide`], then
    /// [`ClusterMetadata::apply_all`].
    ///
    /// # Errors
    /// As [`decide`] and `apply`.
    pub fn with_change(
        &self,
        change: &MetadataChange,
        controller_node: i32,
    ) -> Result<Self, MetadataError> {
        self.apply_all(&decide(self, change, controller_node)?)
    }

    /// # Errors
    /// As [`check_create_topic`].
    pub fn check_create_topic(
        &self,
        name: &str,
        partition_count: i32,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), MetadataError> {
        check_create_topic(self, name, partition_count, configs)
    }

    /// # Errors
    /// As [`check_partitions`].
    pub fn check_partitions(&self, name: &str, count: i32) -> Result<(), MetadataError> {
        check_partitions(self, name, count)
    }

    /// The state with the topic's overrides replaced (validate-only preview).
    ///
    /// # Errors
    /// `UnknownTopic`, `InvalidConfig`.
    pub fn with_topic_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
    ) -> Result<Self, MetadataError> {
        let name = name.to_owned();
        // Config changes place nothing: the controller's node id does not matter.
        self.with_change(&MetadataChange::SetTopicConfigs { name, configs }, 0)
    }

    /// The state with the broker overrides replaced (validate-only preview).
    ///
    /// # Errors
    /// `InvalidConfig`.
    pub fn with_broker_configs(
        &self,
        configs: BTreeMap<String, String>,
    ) -> Result<Self, MetadataError> {
        self.with_change(&MetadataChange::SetBrokerConfigs { configs }, 0)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cluster::metadata::{ClusterError, PartitionDelta, PartitionState};
    use crate::protocol::ErrorCode;

    /// The controller's node id in these tests.
    const NODE: i32 = 7;

    fn create(name: &str, partition_count: i32, id_byte: u8) -> MetadataChange {
        create_with(name, partition_count, -1, Vec::new(), id_byte)
    }

    fn create_with(
        name: &str,
        partition_count: i32,
        replication_factor: i16,
        assignments: Vec<Vec<i32>>,
        id_byte: u8,
    ) -> MetadataChange {
        MetadataChange::CreateTopic {
            name: name.into(),
            topic_id: Uuid([id_byte; 16]),
            partition_count,
            replication_factor,
            assignments,
            configs: BTreeMap::new(),
            random_start: 0,
        }
    }

    fn one(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    fn empty() -> ClusterMetadata {
        ClusterMetadata::empty("cluster".into())
    }

    #[test]
    fn create_grow_configure_delete() {
        let state = empty().with_change(&create("orders", 3, 1), NODE).unwrap();
        let topic = state.topic("orders").unwrap();
        assert_eq!(topic.partition_count, 3);
        assert!(matches!(
            state.with_change(&create("orders", 1, 2), NODE),
            Err(MetadataError::TopicAlreadyExists { .. })
        ));
        let grow = |partition_count| MetadataChange::CreatePartitions {
            name: "orders".into(),
            partition_count,
            assignments: Vec::new(),
            random_start: 0,
        };
        assert!(matches!(
            state.with_change(&grow(2), NODE),
            Err(MetadataError::PartitionsCannotShrink { .. })
        ));
        let state = state.with_change(&grow(6), NODE).unwrap();
        assert_eq!(state.topic("orders").unwrap().partition_count, 6);
        let state = state
            .with_topic_configs("orders", one(&[("retention.ms", "1000")]))
            .unwrap();
        assert_eq!(state.topic_by_id(topic.topic_id).unwrap().name, "orders");
        let delete = MetadataChange::DeleteTopic {
            name: "orders".into(),
        };
        let records = decide(&state, &delete, NODE).unwrap();
        assert_eq!(
            records,
            vec![MetadataRecord::TopicRemoved {
                topic_id: topic.topic_id
            }]
        );
        let state = state.apply_all(&records).unwrap();
        assert!(state.topics.is_empty());
        // Creation 1 + 3 partitions, growth 1 + 3, configs 1, deletion 1.
        assert_eq!(state.version, 10, "one version per record");
        assert!(matches!(
            state.with_change(&delete, NODE),
            Err(MetadataError::UnknownTopic { .. })
        ));
    }

    #[test]
    fn refuses_collisions_bad_counts_and_bad_configs() {
        let state = empty().with_change(&create("a.b", 1, 1), NODE).unwrap();
        assert!(matches!(
            state.with_change(&create("a_b", 1, 2), NODE),
            Err(MetadataError::TopicCollision { .. })
        ));
        assert!(matches!(
            state.with_change(&create("c", 0, 2), NODE),
            Err(MetadataError::InvalidPartitionCount { count: 0 })
        ));
        assert!(matches!(
            state.with_topic_configs("a.b", one(&[("no.such.config", "1")])),
            Err(MetadataError::InvalidConfig(ConfigError::Unknown { .. }))
        ));
        assert!(matches!(
            state.with_broker_configs(one(&[("retention.ms", "1")])),
            Err(MetadataError::InvalidConfig(ConfigError::Unknown { .. })),
        ));
        let state = state
            .with_broker_configs(one(&[("log.retention.ms", "60000")]))
            .unwrap();
        assert_eq!(state.version, 3, "topic, partition, broker configs");
    }

    #[test]
    fn a_change_that_changes_nothing_writes_no_record() {
        let configs = one(&[("retention.ms", "1000")]);
        let state = empty().with_change(&create("t", 1, 1), NODE).unwrap();
        let state = state.with_topic_configs("t", configs.clone()).unwrap();
        let again = MetadataChange::SetTopicConfigs {
            name: "t".into(),
            configs,
        };
        assert_eq!(decide(&state, &again, NODE).unwrap(), Vec::new());
        let brokers = MetadataChange::SetBrokerConfigs {
            configs: BTreeMap::new(),
        };
        assert_eq!(decide(&state, &brokers, NODE).unwrap(), Vec::new());
    }

    #[test]
    fn a_clashing_topic_id_is_refused_by_apply() {
        let state = empty().with_change(&create("a", 1, 1), NODE).unwrap();
        assert!(matches!(
            state.with_change(&create("b", 1, 1), NODE),
            Err(MetadataError::TopicIdTaken { .. })
        ));
    }

    /// Brokers 1..=count registered and unfenced, then those in `fenced` fenced again.
    pub(crate) fn cluster(count: i32, fenced: &[i32]) -> ClusterMetadata {
        use crate::cluster::metadata::BrokerRegistration;
        let mut state = empty();
        for node_id in 1..=count {
            let broker_epoch = i64::try_from(state.version).unwrap();
            let registration = BrokerRegistration {
                node_id,
                incarnation: Uuid([1; 16]),
                broker_epoch,
                listeners: Vec::new(),
                shard_count: 1,
                rack: None,
                fenced: true,
            };
            let mut records = vec![
                MetadataRecord::RegisterBroker(registration),
                MetadataRecord::UnfenceBroker {
                    node_id,
                    broker_epoch,
                },
            ];
            if fenced.contains(&node_id) {
                records.push(MetadataRecord::FenceBroker {
                    node_id,
                    broker_epoch,
                });
            }
            state = state.apply_all(&records).unwrap();
        }
        state
    }

    fn partitions(state: &ClusterMetadata, name: &str) -> Vec<PartitionState> {
        let topic_id = state.topic(name).unwrap().topic_id;
        state.recorded_partitions(topic_id).to_vec()
    }

    fn cluster_error(result: Result<ClusterMetadata, MetadataError>) -> ClusterError {
        match result {
            Err(MetadataError::Cluster(error)) => error,
            other => panic!("expected a cluster error: {other:?}"),
        }
    }

    #[test]
    fn an_unregistered_single_node_places_every_partition_on_itself() {
        let records = decide(&empty(), &create("t", 3, 1), NODE).unwrap();
        assert_eq!(
            records.len(),
            4,
            "TopicCreated and one Partition record each"
        );
        let state = empty().apply_all(&records).unwrap();
        for partition in partitions(&state, "t") {
            assert_eq!(partition, PartitionState::single_node(NODE));
        }
        for factor in [1, -1] {
            let change = create_with("u", 1, factor, Vec::new(), 2);
            assert!(state.with_change(&change, NODE).is_ok(), "{factor}");
        }
        for factor in [2, 0, -2] {
            let change = create_with("u", 1, factor, Vec::new(), 2);
            assert!(
                matches!(
                    cluster_error(state.with_change(&change, NODE)),
                    ClusterError::InvalidReplicationFactor { brokers: 1, .. }
                ),
                "{factor}"
            );
        }
        let grown = MetadataChange::CreatePartitions {
            name: "t".into(),
            partition_count: 5,
            assignments: Vec::new(),
            random_start: 3,
        };
        let state = state.with_change(&grown, NODE).unwrap();
        assert_eq!(partitions(&state, "t").len(), 5);
        assert_eq!(partitions(&state, "t")[4].leader, NODE);
    }

    #[test]
    fn replicas_follow_the_factor_and_every_replica_starts_in_the_isr() {
        let state = cluster(3, &[]);
        let state = state
            .with_change(&create_with("t", 6, 3, Vec::new(), 1), NODE)
            .unwrap();
        let placed = partitions(&state, "t");
        let mut leaders = BTreeMap::new();
        for partition in &placed {
            assert_eq!(partition.replicas.len(), 3);
            assert_eq!(partition.leader, partition.replicas[0]);
            assert_eq!(
                partition.isr, partition.replicas,
                "an empty partition is in sync everywhere"
            );
            *leaders.entry(partition.leader).or_insert(0) += 1;
        }
        assert_eq!(leaders.values().copied().collect::<Vec<_>>(), vec![2, 2, 2]);
        assert!(matches!(
            cluster_error(state.with_change(&create_with("u", 1, 4, Vec::new(), 2), NODE)),
            ClusterError::InvalidReplicationFactor {
                replication_factor: 4,
                brokers: 3
            }
        ));
        // −1 is `default.replication.factor`, settable as a broker config.
        let state = state
            .with_broker_configs(one(&[("default.replication.factor", "2")]))
            .unwrap();
        let state = state.with_change(&create("d", 2, 3), NODE).unwrap();
        assert!(
            partitions(&state, "d")
                .iter()
                .all(|p| p.replicas.len() == 2)
        );
        // A fenced broker takes no new replicas.
        let fenced = cluster(3, &[2]);
        let state = fenced
            .with_change(&create_with("f", 4, 2, Vec::new(), 4), NODE)
            .unwrap();
        assert!(
            partitions(&state, "f")
                .iter()
                .all(|p| !p.replicas.contains(&2))
        );
    }

    #[test]
    fn manual_assignments_are_checked_as_kafka_does() {
        let state = cluster(3, &[3]);
        let manual = |lists: Vec<Vec<i32>>| {
            let count = i32::try_from(lists.len()).unwrap();
            create_with("m", count, -1, lists, 1)
        };
        let created = state
            .with_change(&manual(vec![vec![1, 2], vec![3, 2]]), NODE)
            .unwrap();
        let placed = partitions(&created, "m");
        assert_eq!((placed[0].leader, placed[0].isr.clone()), (1, vec![1, 2]));
        assert_eq!(placed[1].replicas, vec![3, 2]);
        assert_eq!(
            (placed[1].leader, placed[1].isr.clone()),
            (2, vec![2]),
            "3 is fenced: out of the ISR until its leader proposes it"
        );
        let reason =
            |lists: Vec<Vec<i32>>| match cluster_error(state.with_change(&manual(lists), NODE)) {
                ClusterError::InvalidReplicaAssignment { reason } => reason,
                other => panic!("{other:?}"),
            };
        assert!(reason(vec![vec![3]]).contains("are fenced or in controlled shutdown"));
        assert!(reason(vec![vec![4]]).contains("broker 4, but no such broker"));
        assert!(reason(vec![vec![1, 1]]).contains("the broker 1 more than once"));
        assert!(reason(vec![vec![]]).contains("empty replica list"));
        assert!(reason(vec![vec![1], vec![1, 2]]).contains("not consistent"));
        let both = create_with("m", 1, 2, vec![vec![1]], 1);
        let error = cluster_error(state.with_change(&both, NODE));
        assert!(matches!(
            error,
            ClusterError::InvalidPlacementRequest { .. }
        ));
        assert_eq!(
            error.error_code(),
            crate::protocol::ErrorCode::InvalidRequest
        );
        // Unregistered single node: only the controller's own node may be named.
        assert!(empty().with_change(&manual(vec![vec![NODE]]), NODE).is_ok());
        assert!(empty().with_change(&manual(vec![vec![1]]), NODE).is_err());
    }

    #[test]
    fn growing_a_topic_without_partition_records_adopts_them_first() {
        let created = MetadataRecord::TopicCreated {
            topic_id: Uuid([9; 16]),
            name: "old".into(),
            partition_count: 2,
            configs: BTreeMap::new(),
        };
        let state = cluster(2, &[]).apply(&created).unwrap();
        let grow = |assignments: Vec<Vec<i32>>| MetadataChange::CreatePartitions {
            name: "old".into(),
            partition_count: 3,
            assignments,
            random_start: 0,
        };
        let records = decide(&state, &grow(Vec::new()), NODE).unwrap();
        assert_eq!(records.len(), 4, "two adopted, PartitionsAdded, one new");
        let grown = state.apply_all(&records).unwrap();
        let placed = partitions(&grown, "old");
        assert_eq!(placed[0], PartitionState::single_node(NODE));
        assert_eq!(
            placed[2].replicas.len(),
            1,
            "the topic's replication factor"
        );
        let manual = state.with_change(&grow(vec![vec![2]]), NODE).unwrap();
        assert_eq!(partitions(&manual, "old")[2].replicas, vec![2]);
        assert!(matches!(
            cluster_error(state.with_change(&grow(vec![vec![1, 2]]), NODE)),
            ClusterError::InvalidReplicaAssignment { .. }
        ));
        assert!(matches!(
            cluster_error(state.with_change(&grow(vec![vec![1], vec![2]]), NODE)),
            ClusterError::InvalidReplicaAssignment { .. }
        ));
    }

    #[test]
    fn producer_id_blocks_start_at_the_floor_and_never_overlap() {
        let allocate = |node_id, floor| MetadataChange::AllocateProducerIds { node_id, floor };
        let state = empty().with_change(&allocate(NODE, 3_000), NODE).unwrap();
        let block = state.producer_id_block(NODE).unwrap();
        assert_eq!(block.first, 3_000);
        let state = state.with_change(&allocate(NODE, 3_000), NODE).unwrap();
        assert_eq!(state.producer_id_block(NODE).unwrap().first, block.end());
        assert!(matches!(
            cluster_error(state.with_change(&allocate(NODE + 1, 0), NODE)),
            ClusterError::UnknownBroker { .. }
        ));
        let registered = cluster(2, &[]);
        let state = registered.with_change(&allocate(2, 0), NODE).unwrap();
        assert_eq!(state.producer_id_block(2).unwrap().first, 0);
    }

    #[test]
    fn alter_partition_writes_one_change_or_none_and_refuses_with_kafkas_codes() {
        let state = cluster(3, &[]);
        let state = state
            .with_change(&create_with("t", 1, 3, Vec::new(), 1), NODE)
            .unwrap();
        let topic_id = state.topic("t").unwrap().topic_id;
        let current = partitions(&state, "t")[0].clone();
        let request = |new_isr: Vec<i32>| AlterPartitionRequest {
            topic_id,
            partition: 0,
            leader_id: current.leader,
            leader_broker_epoch: state.broker(current.leader).unwrap().broker_epoch,
            leader_epoch: current.leader_epoch,
            partition_epoch: current.partition_epoch,
            new_isr,
        };
        let same = MetadataChange::AlterPartition(request(current.isr.clone()));
        assert_eq!(decide(&state, &same, NODE).unwrap(), Vec::new());
        let shrink = MetadataChange::AlterPartition(request(vec![current.leader]));
        let records = decide(&state, &shrink, NODE).unwrap();
        assert_eq!(records.len(), 1);
        let shrunk = state.apply_all(&records).unwrap();
        let partition = &partitions(&shrunk, "t")[0];
        assert_eq!(partition.isr, vec![current.leader]);
        assert_eq!(partition.partition_epoch, current.partition_epoch + 1);
        let error = shrunk.with_change(&shrink, NODE).unwrap_err();
        assert_eq!(error.error_code(), ErrorCode::InvalidUpdateVersion);
        // A member in controlled shutdown may not rejoin.
        let follower = current.replicas[1];
        let back = MetadataChange::AlterPartition(AlterPartitionRequest {
            partition_epoch: partition.partition_epoch,
            ..request(vec![current.leader, follower])
        });
        let stopping = |node| node == follower;
        let error = decide_with(&shrunk, &back, NODE, &stopping).unwrap_err();
        assert_eq!(error.error_code(), ErrorCode::IneligibleReplica);
        assert_eq!(decide(&shrunk, &back, NODE).unwrap().len(), 1);
    }

    #[test]
    fn elect_leaders_reports_each_partitions_outcome() {
        let state = cluster(3, &[]);
        let lists = vec![vec![1, 2], vec![2, 3], vec![3, 1]];
        let state = state
            .with_change(&create_with("t", 3, -1, lists, 1), NODE)
            .unwrap();
        let topic_id = state.topic("t").unwrap().topic_id;
        // Move partition 0's leadership off its preferred replica 1, and take 3 (preferred of
        // partition 2) out of partition 2's ISR.
        let moved = state
            .apply_all(&[
                MetadataRecord::PartitionChange {
                    topic_id,
                    partition: 0,
                    delta: PartitionDelta {
                        leader: Some(2),
                        leader_epoch: 1,
                        partition_epoch: 1,
                        ..PartitionDelta::default()
                    },
                },
                MetadataRecord::PartitionChange {
                    topic_id,
                    partition: 2,
                    delta: PartitionDelta {
                        leader: Some(1),
                        isr: Some(vec![1]),
                        leader_epoch: 1,
                        partition_epoch: 1,
                        ..PartitionDelta::default()
                    },
                },
            ])
            .unwrap();
        let asked = vec![(topic_id, 0), (topic_id, 1), (topic_id, 2), (topic_id, 7)];
        let change = MetadataChange::ElectLeaders {
            election_type: ElectionType::Preferred,
            partitions: Some(asked.clone()),
        };
        let after = moved.with_change(&change, NODE).unwrap();
        assert_eq!(after.version, moved.version + 1, "one election");
        let outcomes: Vec<ErrorCode> = asked
            .iter()
            .map(|key| election_outcome(&moved, &after, ElectionType::Preferred, *key))
            .collect();
        assert_eq!(
            outcomes,
            [
                ErrorCode::None,
                ErrorCode::ElectionNotNeeded,
                ErrorCode::PreferredLeaderNotAvailable,
                ErrorCode::UnknownTopicOrPartition,
            ]
        );
        let elected = &partitions(&after, "t")[0];
        assert_eq!((elected.leader, elected.leader_epoch), (1, 2));
        // Every partition (None): the same elections.
        let all = MetadataChange::ElectLeaders {
            election_type: ElectionType::Preferred,
            partitions: None,
        };
        assert_eq!(
            decide(&moved, &all, NODE).unwrap(),
            decide(&moved, &change, NODE).unwrap()
        );
        let unclean = MetadataChange::ElectLeaders {
            election_type: ElectionType::Unclean,
            partitions: None,
        };
        assert_eq!(
            decide(&moved, &unclean, NODE).unwrap(),
            Vec::new(),
            "all have leaders"
        );
    }

    #[test]
    fn a_reassignment_completes_on_the_isr_change_that_allows_it_or_on_the_timer() {
        let state = cluster(4, &[]);
        let state = state
            .with_change(
                &create_with("t", 2, -1, vec![vec![1, 2], vec![2, 3]], 1),
                NODE,
            )
            .unwrap();
        let topic_id = state.topic("t").unwrap().topic_id;
        let reassign =
            |partition, target: Option<Vec<i32>>| MetadataChange::AlterPartitionReassignments {
                reassignments: vec![PartitionReassignment {
                    topic_id,
                    partition,
                    target,
                }],
            };
        let moving = state
            .with_change(&reassign(0, Some(vec![4, 2])), NODE)
            .unwrap();
        let partition = moving.partition(topic_id, 0).unwrap().clone();
        assert_eq!(
            (partition.adding.clone(), partition.removing.clone()),
            (vec![4], vec![1])
        );
        assert!(matches!(
            cluster_error(moving.with_change(&reassign(1, None), NODE)),
            ClusterError::NoReassignmentInProgress
        ));
        assert_eq!(
            decide(&moving, &MetadataChange::CompleteReassignments, NODE).unwrap(),
            Vec::new(),
            "4 is not in sync"
        );
        // The leader proposes 4 into the ISR: the same decision completes the move.
        let join = MetadataChange::AlterPartition(AlterPartitionRequest {
            topic_id,
            partition: 0,
            leader_id: 1,
            leader_broker_epoch: moving.broker(1).unwrap().broker_epoch,
            leader_epoch: partition.leader_epoch,
            partition_epoch: partition.partition_epoch,
            new_isr: vec![1, 2, 4],
        });
        let records = decide(&moving, &join, NODE).unwrap();
        assert_eq!(records.len(), 1, "the ISR change completes it");
        let done = moving.apply_all(&records).unwrap();
        let partition = done.partition(topic_id, 0).unwrap();
        let got = (&partition.replicas, &partition.isr, partition.leader);
        assert_eq!(got, (&vec![4, 2], &vec![4, 2], 4), "1 handed over");
        assert_eq!(partition.leader_epoch, 1);
        assert!(partition.adding.is_empty() && partition.removing.is_empty());
        // A state where the ISR already holds the adding replica (a controller failover right
        // after the ISR change): the timer's change completes it.
        let inherited = moving
            .apply_all(&[MetadataRecord::PartitionChange {
                topic_id,
                partition: 0,
                delta: PartitionDelta {
                    isr: Some(vec![1, 2, 4]),
                    leader_epoch: 0,
                    partition_epoch: partition_epoch_of(&moving, topic_id) + 1,
                    ..PartitionDelta::default()
                },
            }])
            .unwrap();
        let resumed = inherited
            .with_change(&MetadataChange::CompleteReassignments, NODE)
            .unwrap();
        assert_eq!(resumed.partition(topic_id, 0).unwrap().replicas, [4, 2]);
    }

    fn partition_epoch_of(state: &ClusterMetadata, topic_id: Uuid) -> i32 {
        state.partition(topic_id, 0).unwrap().partition_epoch
    }
}
