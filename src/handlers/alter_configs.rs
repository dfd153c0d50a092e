//! AlterConfigs (key 33), the legacy replace-all form: each resource names the complete set of
//! overrides it should have afterwards, and every config it does not name goes back to its
//! default (Kafka's `ConfigurationControlManager.legacyAlterConfigs` deletes the others). Runs on
//! the connection's shard; each altered resource is one controller change on shard 0.
//!
//! As Kafka's broker-side `ConfigAdminManager.preprocess` for this API: a resource named twice
//! (both copies), a config named twice in one resource, and a null value get INVALID_REQUEST, as
//! do an unknown resource type and another broker's id. Then, as the controller: a topic must
//! exist (UNKNOWN_TOPIC_OR_PARTITION); an unknown config or a bad value is INVALID_CONFIG; the
//! read-only broker configs are INVALID_REQUEST. `validate_only` runs every check against this
//! shard's snapshot and changes nothing.
//!
//! Everything after the request shape is shared with IncrementalAlterConfigs (resource naming,
//! the read-only refusal, and `commit`: one config table, one validator, the controller's own
//! checks), so the two APIs cannot disagree on what a value means.
use super::create_topics::Refusal;
use super::incremental_alter_configs::{
    commit, current_overrides, outcome_codes, refuse_read_only, repeated_resource,
    repeated_resources, target_of,
};
use super::{HandlerError, RequestContext};
use crate::cluster::acls::AclOperation;
use crate::cluster::controller;
use crate::protocol::messages::alter_configs::{
    AlterConfigsRequest, AlterConfigsResource, AlterConfigsResourceResponse, AlterConfigsResponse,
    AlterableConfig,
};
use crate::protocol::{ApiKey, ErrorCode};
use std::collections::BTreeMap;

pub const API_KEY: ApiKey = ApiKey::AlterConfigs;
pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 2;

/// # Errors
/// None of its own: every problem is a per-resource error code.
/// # Panics
/// When dispatched for another API key (a registry error).
pub async fn handle(
    ctx: &mut RequestContext,
    request: AlterConfigsRequest,
) -> Result<AlterConfigsResponse, HandlerError> {
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
            replace(ctx, resource, request.validate_only).await
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
    Ok(AlterConfigsResponse {
        throttle_time_ms: 0,
        responses,
    })
}

/// Replaces one resource's overrides with exactly the configs it names.
async fn replace(
    ctx: &RequestContext,
    resource: &AlterConfigsResource,
    validate_only: bool,
) -> Result<(), Refusal> {
    let next = overrides_of(&resource.configs)?;
    let target = target_of(
        resource.resource_type,
        resource.resource_name.as_str(),
        ctx.node_id(),
    )?;
    for name in next.keys() {
        refuse_read_only(name, &target)?;
    }
    let metadata = controller::metadata(&ctx.shard);
    // Only whether the resource exists matters: the old overrides are all replaced.
    current_overrides(&metadata, &target)?;
    commit(ctx, &metadata, &target, next, validate_only).await
}

/// The request's configs as the new override set, after the shape checks of Kafka's
/// `ConfigAdminManager.preprocess`: no name twice, no null value.
fn overrides_of(configs: &[AlterableConfig]) -> Result<BTreeMap<String, String>, Refusal> {
    let mut next = BTreeMap::new();
    let mut null_values = Vec::new();
    for config in configs {
        let name = config.name.as_str().to_owned();
        let value = config.value.as_ref().map(|value| value.as_str().to_owned());
        if next.contains_key(&name) || null_values.contains(&name) {
            return Err((
                ErrorCode::InvalidRequest,
                "Error due to duplicate config keys".to_owned(),
            ));
        }
        match value {
            Some(value) => {
                next.insert(name, value);
            }
            None => null_values.push(name),
        }
    }
    if null_values.is_empty() {
        Ok(next)
    } else {
        Err((
            ErrorCode::InvalidRequest,
            format!("Null value not supported for : {}", null_values.join(", ")),
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use crate::protocol::StrBytes;

    fn config(name: &str, value: Option<&str>) -> AlterableConfig {
        AlterableConfig {
            name: StrBytes::from(name),
            value: value.map(StrBytes::from),
        }
    }

    #[test]
    fn the_request_is_the_whole_new_set() {
        let next = overrides_of(&[
            config("retention.ms", Some("5")),
            config("segment.bytes", Some("8192")),
        ])
        .unwrap();
        assert_eq!(next.len(), 2);
        assert_eq!(next.get("retention.ms").map(String::as_str), Some("5"));
        assert!(overrides_of(&[]).unwrap().is_empty());
    }

    #[test]
    fn duplicates_and_nulls_are_invalid_requests() {
        let twice = [
            config("retention.ms", Some("5")),
            config("retention.ms", Some("6")),
        ];
        let error = overrides_of(&twice).unwrap_err();
        assert_eq!(error.0, ErrorCode::InvalidRequest);
        assert_eq!(error.1, "Error due to duplicate config keys");
        let null_twice = [config("a", None), config("a", None)];
        assert_eq!(
            overrides_of(&null_twice).unwrap_err().0,
            ErrorCode::InvalidRequest
        );
        let nulls = [config("a", None), config("b", Some("1")), config("c", None)];
        let error = overrides_of(&nulls).unwrap_err();
        assert_eq!(error.0, ErrorCode::InvalidRequest);
        assert_eq!(error.1, "Null value not supported for : a, c");
    }
}
