//! DescribeClientQuotas (key 48, KIP-546): the quota values of every entity the filter
//! matches, read from this shard's published metadata. Runs on the connection's shard.
//!
//! As Kafka: the caller needs DESCRIBE_CONFIGS on the cluster (else
//! CLUSTER_AUTHORIZATION_FAILED); a component with an unknown entity or match type, an entity
//! type named twice, EXACT without a name or DEFAULT with one is INVALID_REQUEST (the whole
//! response, `entries` null). A component matches an entity's component of its type: EXACT
//! by name, DEFAULT the `<default>`, SPECIFIED any (named or default). Without `strict`, an
//! entity may have components the filter does not name; with it, it may not. Entities come
//! out in a fixed order (users, then client ids, `<default>` first), values by key.
use super::{HandlerError, RequestContext};
use crate::cluster::acls::AclOperation;
use crate::cluster::controller;
use crate::cluster::quotas::{ENTITY_CLIENT_ID, ENTITY_USER, EntityName, QuotaEntity};
use crate::protocol::messages::describe_client_quotas::{
    DescribeClientQuotasRequest, DescribeClientQuotasResponse, MATCH_DEFAULT, MATCH_EXACT,
    MATCH_SPECIFIED, QuotaEntityData, QuotaEntryData, QuotaValueData,
};
use crate::protocol::{ApiKey, ErrorCode};

pub const API_KEY: ApiKey = ApiKey::DescribeClientQuotas;
pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 1;

/// What one filter component asks of an entity component.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Match {
    /// Not named in the filter: anything (absent included) unless strict.
    Unconstrained,
    Exact(String),
    Default,
    Specified,
}

impl Match {
    fn accepts(&self, component: Option<&EntityName>, strict: bool) -> bool {
        match (self, component) {
            (Self::Unconstrained, None) => true,
            (Self::Unconstrained, Some(_)) => !strict,
            (_, None) => false,
            (Self::Exact(wanted), Some(EntityName::Named(name))) => wanted == name,
            (Self::Default, Some(EntityName::Default)) | (Self::Specified, Some(_)) => true,
            (Self::Exact(_) | Self::Default, Some(_)) => false,
        }
    }
}

/// # Errors
/// None of its own: a refusal is the response's error code.
/// # Panics
/// When dispatched for another API key (a registry error).
pub async fn handle(
    ctx: &mut RequestContext,
    request: DescribeClientQuotasRequest,
) -> Result<DescribeClientQuotasResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    if !ctx.authorize_cluster(AclOperation::DescribeConfigs) {
        let code = ErrorCode::ClusterAuthorizationFailed;
        return Ok(refused(code, code.name().to_owned()));
    }
    let (user_match, client_match) = match parse_filter(&request) {
        Ok(matches) => matches,
        Err(message) => return Ok(refused(ErrorCode::InvalidRequest, message)),
    };
    let metadata = controller::metadata(&ctx.shard);
    let entries = metadata
        .client_quotas()
        .iter()
        .filter(|(entity, _)| {
            user_match.accepts(entity.user.as_ref(), request.strict)
                && client_match.accepts(entity.client_id.as_ref(), request.strict)
        })
        .map(|(entity, values)| QuotaEntryData {
            entity: entity_data(entity),
            values: values
                .iter()
                .map(|(key, value)| QuotaValueData {
                    key: key.name().into(),
                    value: value.0,
                })
                .collect(),
        })
        .collect();
    Ok(DescribeClientQuotasResponse {
        throttle_time_ms: 0,
        error_code: ErrorCode::None,
        error_message: None,
        entries: Some(entries),
    })
}

/// The filter's match for users and for client ids.
///
/// # Errors
/// Kafka's INVALID_REQUEST message for the first bad component.
fn parse_filter(request: &DescribeClientQuotasRequest) -> Result<(Match, Match), String> {
    let mut user = Match::Unconstrained;
    let mut client_id = Match::Unconstrained;
    for component in &request.components {
        let slot = match component.entity_type.as_str() {
            ENTITY_USER => &mut user,
            ENTITY_CLIENT_ID => &mut client_id,
            other => return Err(format!("Custom entity type '{other}' not supported")),
        };
        if *slot != Match::Unconstrained {
            let entity_type = component.entity_type.as_str();
            return Err(format!(
                "Duplicate {entity_type} filter component entity type"
            ));
        }
        *slot = match (component.match_type, &component.r#match) {
            (MATCH_EXACT, Some(name)) => Match::Exact(name.as_str().to_owned()),
            (MATCH_DEFAULT, None) => Match::Default,
            (MATCH_SPECIFIED, None) => Match::Specified,
            (MATCH_EXACT, None) => return Err("EXACT match requires a name".to_owned()),
            (MATCH_DEFAULT | MATCH_SPECIFIED, Some(_)) => {
                return Err("DEFAULT and SPECIFIED matches take no name".to_owned());
            }
            (other, _) => return Err(format!("Unknown match type {other}")),
        };
    }
    Ok((user, client_id))
}

/// The wire form of an entity: its components, user first.
pub fn entity_data(entity: &QuotaEntity) -> Vec<QuotaEntityData> {
    let components = [
        (ENTITY_USER, entity.user.as_ref()),
        (ENTITY_CLIENT_ID, entity.client_id.as_ref()),
    ];
    components
        .into_iter()
        .filter_map(|(entity_type, name)| {
            name.map(|name| QuotaEntityData {
                entity_type: entity_type.into(),
                entity_name: name.to_wire().map(Into::into),
            })
        })
        .collect()
}

fn refused(error_code: ErrorCode, message: String) -> DescribeClientQuotasResponse {
    DescribeClientQuotasResponse {
        throttle_time_ms: 0,
        error_code,
        error_message: Some(message.into()),
        entries: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_follow_strictness() {
        let alice = EntityName::Named("alice".to_owned());
        let exact = Match::Exact("alice".to_owned());
        assert!(exact.accepts(Some(&alice), false));
        assert!(!exact.accepts(Some(&EntityName::Default), false));
        assert!(!exact.accepts(None, false));
        assert!(Match::Default.accepts(Some(&EntityName::Default), true));
        assert!(!Match::Default.accepts(Some(&alice), true));
        assert!(Match::Specified.accepts(Some(&alice), true));
        assert!(Match::Specified.accepts(Some(&EntityName::Default), true));
        assert!(Match::Unconstrained.accepts(Some(&alice), false));
        assert!(!Match::Unconstrained.accepts(Some(&alice), true));
        assert!(Match::Unconstrained.accepts(None, true));
    }
}
