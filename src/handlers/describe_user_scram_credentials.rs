//! DescribeUserScramCredentials (key 50, KIP-554): each user's SCRAM mechanisms and iteration
//! counts from this shard's metadata snapshot (salts and keys are never sent). Runs on the
//! connection's shard.
//!
//! As Kafka's controller answers: `users` null lists every user with a credential; a named
//! user without one gets RESOURCE_NOT_FOUND, a user named twice DUPLICATE_RESOURCE (once).
//! Authorization (DESCRIBE on the cluster) is the authorizer's, not this handler's.
use super::{HandlerError, RequestContext};
use crate::cluster::controller;
use crate::cluster::metadata::{ClusterMetadata, ScramCredential, ScramMechanism};
use crate::protocol::messages::describe_user_scram_credentials::{
    CredentialInfo, DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
    DescribeUserScramCredentialsResult,
};
use crate::protocol::{ApiKey, ErrorCode, StrBytes};
use std::collections::BTreeMap;

pub const API_KEY: ApiKey = ApiKey::DescribeUserScramCredentials;
pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 0;

/// # Errors
/// None of its own.
/// # Panics
/// When dispatched for another API key (a registry error).
#[allow(clippy::unused_async)] // the registry awaits every handler
pub async fn handle(
    ctx: &mut RequestContext,
    request: DescribeUserScramCredentialsRequest,
) -> Result<DescribeUserScramCredentialsResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    let metadata = controller::metadata(&ctx.shard);
    let results = match request.users {
        None => metadata
            .scram_users()
            .map(|(user, credentials)| described(user, credentials))
            .collect(),
        Some(users) => {
            let names: Vec<&str> = users.iter().map(|user| &*user.name).collect();
            named_users(&metadata, &names)
        }
    };
    Ok(DescribeUserScramCredentialsResponse {
        throttle_time_ms: 0,
        error_code: ErrorCode::None,
        error_message: None,
        results,
    })
}

/// One result per distinct name, in request order.
fn named_users(
    metadata: &ClusterMetadata,
    names: &[&str],
) -> Vec<DescribeUserScramCredentialsResult> {
    let mut results = Vec::new();
    for (index, name) in names.iter().enumerate() {
        if names.iter().take(index).any(|earlier| earlier == name) {
            continue;
        }
        let repeated = names.iter().skip(index + 1).any(|later| later == name);
        let credentials = metadata.scram_users().find(|(user, _)| user == name);
        results.push(match (repeated, credentials) {
            (true, _) => failure(
                name,
                ErrorCode::DuplicateResource,
                "Cannot describe the same user twice",
            ),
            (false, None) => failure(
                name,
                ErrorCode::ResourceNotFound,
                "Attempt to describe a user credential that does not exist",
            ),
            (false, Some((user, credentials))) => described(user, credentials),
        });
    }
    results
}

fn described(
    user: &str,
    credentials: &BTreeMap<ScramMechanism, ScramCredential>,
) -> DescribeUserScramCredentialsResult {
    DescribeUserScramCredentialsResult {
        user: StrBytes::from(user),
        error_code: ErrorCode::None,
        error_message: None,
        credential_infos: credentials
            .iter()
            .map(|(mechanism, credential)| CredentialInfo {
                mechanism: mechanism.type_id(),
                iterations: credential.iterations,
            })
            .collect(),
    }
}

fn failure(user: &str, code: ErrorCode, message: &str) -> DescribeUserScramCredentialsResult {
    DescribeUserScramCredentialsResult {
        user: StrBytes::from(user),
        error_code: code,
        error_message: Some(StrBytes::from(message)),
        credential_infos: Vec::new(),
    }
}
