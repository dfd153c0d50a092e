//! IncrementalAlterConfigs (key 44): changes single configs of topics and of the broker,
//! leaving the others alone. Runs on the connection's shard; each altered resource is one
//! controller change on shard 0 (persisted, then applied to every shard's logs).
//!
//! Operations as Kafka's `AlterConfigOp.OpType`: SET (0) sets a value; DELETE (1) removes an
//! override so the next level applies again; APPEND (2) and SUBTRACT (3) exist only for LIST
//! configs, and none of ours is a list, so they get INVALID_CONFIG as Kafka answers for a
//! non-list config (KRaft's `ConfigurationControlManager`). As Kafka's broker-side
//! `ConfigAdminManager.preprocess`: a resource named twice in one request (both copies), a
//! config named twice in one resource, and a null value for anything but DELETE get
//! INVALID_REQUEST; so do any other operation and an unknown resource type.
//!
//! Resources: a topic (type 2; must exist) or the broker (type 4), named by our node id or ""
//! (the cluster default). With a single node both broker names reach the same broker-level
//! overrides, keyed by broker config name (`log.retention.ms`, ...). The read-only broker
//! configs cannot be changed (INVALID_REQUEST "Cannot update these configs dynamically", as
//! Kafka). `validate_only` runs every check against the current snapshot, changes nothing.
//!
//! The legacy AlterConfigs (`alter_configs.rs`) shares everything after the request shape:
//! resource naming ([`target_of`]), the read-only refusal, and [`commit`], which runs the
//! config table's one validator through the same metadata checks the controller applies.
//!
//! The merge reads this shard's snapshot and the controller replaces the whole override set:
//! two concurrent alters of one resource can lose one of them. Admin changes are rare; a
//! compare-and-set in the controller would close this window.
use super::create_topics::{Refusal, refusal_of};
use super::describe_configs::{RESOURCE_TYPE_BROKER, RESOURCE_TYPE_TOPIC};
use super::{HandlerError, RequestContext};
use crate::cluster::acls::AclOperation;
use crate::cluster::configs::BROKER_READ_ONLY;
use crate::cluster::{ClusterMetadata, controller, topic_name};
use crate::protocol::messages::incremental_alter_configs::{
    AlterConfigsResource, AlterConfigsResourceResponse, AlterableConfig,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use crate::protocol::{ApiKey, ErrorCode, StrBytes};
use std::collections::{BTreeMap, HashSet};

pub const API_KEY: ApiKey = ApiKey::IncrementalAlterConfigs;
pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 1;

const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;

/// Which override set a resource changes (shared with the legacy AlterConfigs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    Topic(String),
    Broker,
}

/// # Errors
/// None of its own: every problem is a per-resource error code.
/// # Panics
/// When dispatched for another API key (a registry error).
pub async fn handle(
    ctx: &mut RequestContext,
    request: IncrementalAlterConfigsRequest,
) -> Result<IncrementalAlterConfigsResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    let repeated = repeated_resources(
        request
            .resources
            .iter()
            .map(|resource| (resource.resource_type, resource.resource_name.as_str())),
    );
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in &request.resources {
        let key = (resource.resource_type, resource.resource_name.as_str());
        let outcome = if repeated.contains(&key) {
            Err(repeated_resource())
        } else if let Err(denied) = ctx.authorize_config(AclOperation::AlterConfigs, key.0, key.1) {
            Err(denied)
        } else {
            alter(ctx, resource, request.validate_only).await
        };
        let (error_code, error_message) = outcome_codes(outcome);
        responses.push(AlterConfigsResourceResponse {
            error_code,
            error_message,
            resource_type: resource.resource_type,
            resource_name: resource.resource_name.clone(),
        });
    }
    assert_eq!(responses.len(), request.resources.len());
    Ok(IncrementalAlterConfigsResponse {
        throttle_time_ms: 0,
        responses,
    })
}

async fn alter(
    ctx: &RequestContext,
    resource: &AlterConfigsResource,
    validate_only: bool,
) -> Result<(), Refusal> {
    let target = target_of(
        resource.resource_type,
        resource.resource_name.as_str(),
        ctx.node_id(),
    )?;
    let metadata = controller::metadata(&ctx.shard);
    let current = current_overrides(&metadata, &target)?;
    let next = merge(current, &resource.configs, &target)?;
    commit(ctx, &metadata, &target, next, validate_only).await
}

/// The resources (type, name) named more than once in a request: Kafka refuses every copy with
/// INVALID_REQUEST, since which one should win is undefined.
pub(super) fn repeated_resources<'a>(
    keys: impl Iterator<Item = (i8, &'a str)>,
) -> HashSet<(i8, &'a str)> {
    let mut seen = HashSet::new();
    let mut repeated = HashSet::new();
    for key in keys {
        if !seen.insert(key) {
            repeated.insert(key);
        }
    }
    repeated
}

pub(super) fn repeated_resource() -> Refusal {
    (
        ErrorCode::InvalidRequest,
        "Each resource must appear at most once.".to_owned(),
    )
}

/// A resource's outcome as its response's error code and message.
pub(super) fn outcome_codes(outcome: Result<(), Refusal>) -> (ErrorCode, Option<StrBytes>) {
    match outcome {
        Ok(()) => (ErrorCode::None, None),
        Err((code, message)) => {
            assert_ne!(code, ErrorCode::None, "a refusal carries an error");
            (code, Some(StrBytes::from(message)))
        }
    }
}

/// Checks `next`, the complete new override set of `target`, against `metadata` with exactly
/// the pure `with_*` checks the controller will run (one table, one validator); unless
/// `validate_only`, has the controller run them again on the latest metadata and apply it.
pub(super) async fn commit(
    ctx: &RequestContext,
    metadata: &ClusterMetadata,
    target: &Target,
    next: BTreeMap<String, String>,
    validate_only: bool,
) -> Result<(), Refusal> {
    let checked = match target {
        Target::Topic(name) => metadata.with_topic_configs(name, next.clone()).map(drop),
        Target::Broker => metadata.with_broker_configs(next.clone()).map(drop),
    };
    checked.map_err(|error| refusal_of(&error))?;
    if validate_only {
        return Ok(());
    }
    let applied = match target {
        Target::Topic(name) => controller::set_topic_configs(&ctx.shard, name, next).await,
        Target::Broker => controller::set_broker_configs(&ctx.shard, next).await,
    };
    applied.map_err(|error| refusal_of(&error))
}

pub(super) fn target_of(resource_type: i8, name: &str, node_id: i32) -> Result<Target, Refusal> {
    match resource_type {
        RESOURCE_TYPE_TOPIC => {
            topic_name::validate(name)
                .map_err(|error| (ErrorCode::InvalidTopicException, error.to_string()))?;
            Ok(Target::Topic(name.to_owned()))
        }
        RESOURCE_TYPE_BROKER if name.is_empty() || name == node_id.to_string() => {
            Ok(Target::Broker)
        }
        RESOURCE_TYPE_BROKER => Err((
            ErrorCode::InvalidRequest,
            format!(
                "Unexpected broker id, expected {node_id} or empty string, but received {name}"
            ),
        )),
        other => Err((
            ErrorCode::InvalidRequest,
            format!("Unsupported resource type {other}"),
        )),
    }
}

/// The current overrides of `target`; a topic must exist (UNKNOWN_TOPIC_OR_PARTITION).
pub(super) fn current_overrides(
    metadata: &ClusterMetadata,
    target: &Target,
) -> Result<BTreeMap<String, String>, Refusal> {
    match target {
        Target::Topic(name) => metadata
            .topic(name)
            .map(|topic| topic.configs.clone())
            .ok_or_else(|| {
                (
                    ErrorCode::UnknownTopicOrPartition,
                    format!("Topic {name} does not exist."),
                )
            }),
        Target::Broker => Ok(metadata.broker_configs.clone()),
    }
}

/// The read-only broker configs cannot be changed: Kafka wraps `DynamicBrokerConfig`'s refusal
/// in INVALID_REQUEST.
pub(super) fn refuse_read_only(name: &str, target: &Target) -> Result<(), Refusal> {
    if *target == Target::Broker && BROKER_READ_ONLY.iter().any(|(fixed, _)| *fixed == name) {
        return Err((
            ErrorCode::InvalidRequest,
            format!(
                "Invalid config value for resource ConfigResource(type=BROKER, name=''): \
                 Cannot update these configs dynamically: Set({name})"
            ),
        ));
    }
    Ok(())
}

/// The request-shape checks of Kafka's `ConfigAdminManager.preprocess`, before any config is
/// read: a name twice, or a null value for anything but DELETE, is INVALID_REQUEST.
fn check_shape(changes: &[AlterableConfig]) -> Result<(), Refusal> {
    let mut names = HashSet::with_capacity(changes.len());
    if !changes
        .iter()
        .all(|change| names.insert(change.name.as_str()))
    {
        return Err((
            ErrorCode::InvalidRequest,
            "Error due to duplicate config keys".to_owned(),
        ));
    }
    let null_updates: Vec<&str> = changes
        .iter()
        .filter(|change| change.config_operation != OP_DELETE && change.value.is_none())
        .map(|change| change.name.as_str())
        .collect();
    if null_updates.is_empty() {
        Ok(())
    } else {
        Err((
            ErrorCode::InvalidRequest,
            format!("Null value not supported for : {}", null_updates.join(", ")),
        ))
    }
}

/// Applies `changes` to `current`. Values are checked later by the controller's table (unknown
/// names, bad values); here only what the operation itself decides.
fn merge(
    mut current: BTreeMap<String, String>,
    changes: &[AlterableConfig],
    target: &Target,
) -> Result<BTreeMap<String, String>, Refusal> {
    check_shape(changes)?;
    for change in changes {
        let name = change.name.as_str();
        refuse_read_only(name, target)?;
        match (change.config_operation, &change.value) {
            (OP_SET, Some(value)) => {
                current.insert(name.to_owned(), value.as_str().to_owned());
            }
            (OP_DELETE, _) => {
                current.remove(name);
                check_known(name, target)?;
            }
            (OP_APPEND | OP_SUBTRACT, _) => {
                let verb = if change.config_operation == OP_APPEND {
                    "APPEND"
                } else {
                    "SUBTRACT"
                };
                return Err((
                    ErrorCode::InvalidConfig,
                    format!("Can't {verb} to key {name} because its type is not LIST."),
                ));
            }
            (other, _) => {
                return Err((
                    ErrorCode::InvalidRequest,
                    format!("Unknown alter configs operation type {other}"),
                ));
            }
        }
    }
    Ok(current)
}

/// A DELETE of a name the table does not know is refused too (Kafka validates every altered
/// name, not only the ones set), so a typo is never silently accepted.
fn check_known(name: &str, target: &Target) -> Result<(), Refusal> {
    let known = match target {
        Target::Topic(_) => crate::cluster::configs::topic_config(name).is_some(),
        Target::Broker => crate::cluster::configs::topic_config_by_broker_name(name).is_some(),
    };
    if known {
        Ok(())
    } else {
        Err((
            ErrorCode::InvalidConfig,
            format!("Unknown config name: {name}"),
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may unwrap
mod tests {
    use super::*;

    fn change(name: &str, config_operation: i8, value: Option<&str>) -> AlterableConfig {
        AlterableConfig {
            name: StrBytes::from(name),
            config_operation,
            value: value.map(StrBytes::from),
        }
    }

    #[test]
    fn set_and_delete_merge_into_overrides() {
        let mut current = BTreeMap::new();
        current.insert("retention.ms".to_owned(), "5".to_owned());
        current.insert("segment.bytes".to_owned(), "8192".to_owned());
        let topic = Target::Topic("t".into());
        let changes = [
            change("retention.ms", OP_DELETE, None),
            change("flush.strict", OP_SET, Some("true")),
        ];
        let next = merge(current, &changes, &topic).unwrap();
        assert_eq!(next.len(), 2);
        assert_eq!(next.get("flush.strict").map(String::as_str), Some("true"));
    }

    #[test]
    fn lists_operations_and_duplicates_are_refused() {
        let topic = Target::Topic("t".into());
        let code = |changes: &[AlterableConfig], target: &Target| {
            merge(BTreeMap::new(), changes, target).unwrap_err().0
        };
        let append = [change("retention.ms", OP_APPEND, Some("1"))];
        assert_eq!(code(&append, &topic), ErrorCode::InvalidConfig);
        let subtract = [change("retention.ms", OP_SUBTRACT, Some("1"))];
        assert_eq!(code(&subtract, &topic), ErrorCode::InvalidConfig);
        let unknown_op = [change("retention.ms", 9, Some("1"))];
        assert_eq!(code(&unknown_op, &topic), ErrorCode::InvalidRequest);
        let twice = [
            change("retention.ms", OP_SET, Some("1")),
            change("retention.ms", OP_DELETE, None),
        ];
        assert_eq!(code(&twice, &topic), ErrorCode::InvalidRequest);
        let typo = [change("retention.msx", OP_DELETE, None)];
        assert_eq!(code(&typo, &topic), ErrorCode::InvalidConfig);
        let fixed = [change("listeners", OP_SET, Some("x"))];
        assert_eq!(code(&fixed, &Target::Broker), ErrorCode::InvalidRequest);
        let null = [change("retention.ms", OP_SET, None)];
        assert_eq!(code(&null, &topic), ErrorCode::InvalidRequest);
    }

    #[test]
    fn broker_names_are_ours_or_empty() {
        assert_eq!(target_of(4, "", 1), Ok(Target::Broker));
        assert_eq!(target_of(4, "1", 1), Ok(Target::Broker));
        assert_eq!(
            target_of(4, "2", 1).unwrap_err().0,
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            target_of(8, "1", 1).unwrap_err().0,
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            target_of(2, "bad/name", 1).unwrap_err().0,
            ErrorCode::InvalidTopicException
        );
    }

    #[test]
    fn repeated_resources_are_each_copy() {
        let keys = [(2, "a"), (2, "b"), (2, "a"), (4, "a"), (2, "a")];
        let repeated = repeated_resources(keys.into_iter());
        assert_eq!(repeated.len(), 1);
        assert!(repeated.contains(&(2, "a")));
    }
}
