//! AlterClientQuotas (key 49, KIP-546): sets and removes quota values through the controller.
//! Runs on the connection's shard.
//!
//! As Kafka's `ClientQuotaControlManager`: the caller needs ALTER_CONFIGS on the cluster (else
//! every entry is CLUSTER_AUTHORIZATION_FAILED). Each entry is checked on its own: an empty
//! entity, an entity type named twice or not `user` / `client-id`, an unknown key, a key named
//! twice, a negative or non-finite value, a fraction in a byte rate get INVALID_REQUEST with a
//! message. `remove: true` drops the key whatever the value says. With `validate_only` nothing
//! is written; otherwise the valid entries are committed together in one metadata change, and
//! a failed commit is the error of each of them.
use super::describe_client_quotas::entity_data;
use super::{HandlerError, RequestContext};
use crate::cluster::acls::AclOperation;
use crate::cluster::controller;
use crate::cluster::quotas::{
    QuotaEntity, QuotaError, QuotaKey, QuotaValue, entity_from_wire, validate_value,
};
use crate::limits::CLIENT_QUOTA_ALTERATIONS_PER_REQUEST_MAX;
use crate::protocol::messages::alter_client_quotas::{
    AlterClientQuotasRequest, AlterClientQuotasResponse, AlterQuotaEntity, AlterQuotaEntry,
    AlterQuotaResult,
};
use crate::protocol::{ApiKey, ErrorCode};

pub const API_KEY: ApiKey = ApiKey::AlterClientQuotas;
pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 1;

/// One entry's alterations, or why it is refused.
type Parsed = Result<Vec<(QuotaEntity, QuotaKey, Option<QuotaValue>)>, (ErrorCode, String)>;

/// # Errors
/// None of its own: every problem is a per-entry error code.
/// # Panics
/// When dispatched for another API key (a registry error).
pub async fn handle(
    ctx: &mut RequestContext,
    request: AlterClientQuotasRequest,
) -> Result<AlterClientQuotasResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    let count = request.entries.len();
    let refusal = if !ctx.authorize_cluster(AclOperation::AlterConfigs) {
        let code = ErrorCode::ClusterAuthorizationFailed;
        Some((code, code.name().to_owned()))
    } else if count > CLIENT_QUOTA_ALTERATIONS_PER_REQUEST_MAX {
        let message = format!("at most {CLIENT_QUOTA_ALTERATIONS_PER_REQUEST_MAX} entries");
        Some((ErrorCode::InvalidRequest, message))
    } else {
        None
    };
    if let Some(refusal) = refusal {
        let results = request
            .entries
            .iter()
            .map(|entry| result(Some(refusal.clone()), entry.entity.clone()))
            .collect();
        return Ok(response(results));
    }
    let parsed: Vec<Parsed> = request.entries.iter().map(parse_entry).collect();
    let valid: Vec<_> = parsed.iter().flatten().flatten().cloned().collect();
    let committed = if valid.is_empty() || request.validate_only {
        Ok(())
    } else {
        controller::alter_client_quotas(&ctx.shard, valid)
            .await
            .map_err(|error| (error.error_code(), error.to_string()))
    };
    let results: Vec<AlterQuotaResult> = parsed
        .into_iter()
        .zip(request.entries)
        .map(|(parsed, entry)| {
            let error = parsed.err().or_else(|| committed.clone().err());
            result(error, entry.entity)
        })
        .collect();
    assert_eq!(results.len(), count);
    Ok(response(results))
}

/// The alterations of one entry, each checked.
fn parse_entry(entry: &AlterQuotaEntry) -> Parsed {
    let invalid = |error: QuotaError| (error.error_code(), error.to_string());
    let components = entry.entity.iter().map(|component| {
        (
            component.entity_type.as_str(),
            component.entity_name.as_deref(),
        )
    });
    let entity = entity_from_wire(components).map_err(invalid)?;
    let mut alterations: Vec<(QuotaEntity, QuotaKey, Option<QuotaValue>)> = Vec::new();
    for op in &entry.ops {
        let key = QuotaKey::parse(op.key.as_str()).ok_or_else(|| {
            invalid(QuotaError::UnknownKey {
                key: op.key.as_str().to_owned(),
            })
        })?;
        if alterations.iter().any(|(_, seen, _)| *seen == key) {
            let message = format!("Duplicate quota key {}", key.name());
            return Err((ErrorCode::InvalidRequest, message));
        }
        let value = if op.remove {
            None
        } else {
            validate_value(key, op.value).map_err(invalid)?;
            Some(QuotaValue(op.value))
        };
        alterations.push((entity.clone(), key, value));
    }
    assert!(alterations.len() <= QuotaKey::ALL.len());
    Ok(alterations)
}

fn result(error: Option<(ErrorCode, String)>, entity: Vec<AlterQuotaEntity>) -> AlterQuotaResult {
    let (error_code, error_message) = match error {
        Some((code, message)) => (code, Some(message.into())),
        None => (ErrorCode::None, None),
    };
    AlterQuotaResult {
        error_code,
        error_message,
        entity,
    }
}

fn response(entries: Vec<AlterQuotaResult>) -> AlterClientQuotasResponse {
    AlterClientQuotasResponse {
        throttle_time_ms: 0,
        entries,
    }
}

/// The wire entity of `entity` (for callers that build requests, e.g. the CLI).
#[must_use]
pub fn wire_entity(entity: &QuotaEntity) -> Vec<AlterQuotaEntity> {
    entity_data(entity)
        .into_iter()
        .map(|data| AlterQuotaEntity {
            entity_type: data.entity_type,
            entity_name: data.entity_name,
        })
        .collect()
}
