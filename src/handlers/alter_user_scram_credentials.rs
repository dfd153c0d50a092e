//! AlterUserScramCredentials (key 51, KIP-554): deletes and upserts SCRAM credentials through
//! the controller (the metadata log), one result per user. Runs on the connection's shard;
//! the change runs on the active controller (`controller::alter_scram_credentials`).
//!
//! Checked here first, as Kafka's controller checks them, each failing only its user (all of
//! that user's alterations are then dropped): a (user, mechanism) altered twice →
//! DUPLICATE_RESOURCE; an unknown mechanism → UNSUPPORTED_SASL_MECHANISM; an empty user name,
//! iterations outside 4096..=16384, an empty salt or a salted password of the wrong size →
//! UNACCEPTABLE_CREDENTIAL; deleting a credential this shard's snapshot does not have →
//! RESOURCE_NOT_FOUND. The rest is committed as one change: if it fails (a concurrent
//! deletion, the controller gone), every user in it gets that change's error code.
//!
//! The keys are derived here from the salted password (`security::scram`); the password is
//! never seen. Authorization (ALTER on the cluster) is the authorizer's.
use super::{HandlerError, RequestContext};
use crate::cluster::controller;
use crate::cluster::metadata::{
    ClusterMetadata, CredentialError, ScramCredential, ScramMechanism, validate_credential,
};
use crate::protocol::messages::alter_user_scram_credentials::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
    AlterUserScramCredentialsResult, ScramCredentialUpsertion,
};
use crate::protocol::{ApiKey, ErrorCode, StrBytes};
use crate::security::scram;

pub const API_KEY: ApiKey = ApiKey::AlterUserScramCredentials;
pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 0;

/// One requested alteration: `None` deletes.
type Alteration = (String, ScramMechanism, Option<ScramCredential>);

/// A user's outcome so far: `None` while every alteration of theirs is acceptable.
type Refusal = Option<(ErrorCode, &'static str)>;

/// # Errors
/// A shard stopped (shutdown).
/// # Panics
/// When dispatched for another API key (a registry error).
pub async fn handle(
    ctx: &mut RequestContext,
    request: AlterUserScramCredentialsRequest,
) -> Result<AlterUserScramCredentialsResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    let (users, alterations) = check(ctx, &request);
    let accepted: Vec<Alteration> = alterations
        .into_iter()
        .filter(|(user, _, _)| {
            users
                .iter()
                .any(|(name, refusal)| name == user && refusal.is_none())
        })
        .collect();
    let outcome = if accepted.is_empty() {
        Ok(())
    } else {
        controller::alter_scram_credentials(&ctx.shard, accepted).await
    };
    let change_code = outcome
        .as_ref()
        .err()
        .map(|error| (error.error_code(), error.to_string()));
    let results = users
        .into_iter()
        .map(|(user, refusal)| {
            let (error_code, error_message) = match (refusal, &change_code) {
                (Some((code, message)), _) => (code, Some(StrBytes::from(message))),
                (None, Some((code, message))) => (*code, Some(StrBytes::from(message.as_str()))),
                (None, None) => (ErrorCode::None, None),
            };
            AlterUserScramCredentialsResult {
                user: StrBytes::from(user),
                error_code,
                error_message,
            }
        })
        .collect();
    Ok(AlterUserScramCredentialsResponse {
        throttle_time_ms: 0,
        results,
    })
}

/// Every user named (in request order) with their refusal, and every alteration that parsed.
fn check(
    ctx: &RequestContext,
    request: &AlterUserScramCredentialsRequest,
) -> (Vec<(String, Refusal)>, Vec<Alteration>) {
    let metadata = controller::metadata(&ctx.shard);
    let mut users: Vec<(String, Refusal)> = Vec::new();
    let mut alterations: Vec<Alteration> = Vec::new();
    let mut seen: Vec<(String, i8)> = Vec::new();
    let deletions = request
        .deletions
        .iter()
        .map(|d| (&d.name, d.mechanism, None));
    let upsertions = request
        .upsertions
        .iter()
        .map(|u| (&u.name, u.mechanism, Some(u)));
    for (name, mechanism_id, upsertion) in deletions.chain(upsertions) {
        let user = name.to_string();
        let key = (user.clone(), mechanism_id);
        let parsed = if seen.contains(&key) {
            Err(DUPLICATE)
        } else {
            parse(&metadata, &user, mechanism_id, upsertion)
        };
        seen.push(key);
        if !users.iter().any(|(name, _)| *name == user) {
            users.push((user.clone(), None));
        }
        match parsed {
            Ok(alteration) => alterations.push(alteration),
            Err(refusal) => {
                let slot = users.iter_mut().find(|(name, _)| *name == user);
                if let Some((_, refusal_slot)) = slot {
                    refusal_slot.get_or_insert(refusal);
                }
            }
        }
    }
    assert!(alterations.len() <= seen.len());
    (users, alterations)
}

const DUPLICATE: (ErrorCode, &str) = (
    ErrorCode::DuplicateResource,
    "A user credential cannot be altered twice in the same request",
);

/// One deletion (`upsertion` None) or upsertion, checked.
fn parse(
    metadata: &ClusterMetadata,
    user: &str,
    mechanism_id: i8,
    upsertion: Option<&ScramCredentialUpsertion>,
) -> Result<Alteration, (ErrorCode, &'static str)> {
    let Some(mechanism) = ScramMechanism::from_type_id(mechanism_id) else {
        return Err((
            ErrorCode::UnsupportedSaslMechanism,
            "Unknown SCRAM mechanism",
        ));
    };
    let Some(upsertion) = upsertion else {
        if metadata.scram_credential(user, mechanism).is_none() {
            return Err((
                ErrorCode::ResourceNotFound,
                "Attempt to delete a user credential that does not exist",
            ));
        }
        return Ok((user.to_owned(), mechanism, None));
    };
    let credential = upserted(user, mechanism, upsertion)?;
    Ok((user.to_owned(), mechanism, Some(credential)))
}

/// The credential an upsertion stands for, or why it is unacceptable.
fn upserted(
    user: &str,
    mechanism: ScramMechanism,
    upsertion: &ScramCredentialUpsertion,
) -> Result<ScramCredential, (ErrorCode, &'static str)> {
    let (iterations, salt) = (upsertion.iterations, &upsertion.salt[..]);
    let salted_password = &upsertion.salted_password[..];
    let unacceptable = |message| (ErrorCode::UnacceptableCredential, message);
    if user.is_empty() {
        return Err(unacceptable("Username must not be empty"));
    }
    if salted_password.len() != mechanism.key_size() {
        return Err(unacceptable(
            "The salted password has the wrong size for the mechanism",
        ));
    }
    // Checked before deriving: the derivation trusts its inputs.
    let probe = ScramCredential {
        salt: salt.to_vec(),
        iterations,
        stored_key: vec![0; mechanism.key_size()],
        server_key: vec![0; mechanism.key_size()],
    };
    if let Err(error) = validate_credential(user, mechanism, &probe) {
        return Err(unacceptable(match error {
            CredentialError::InvalidIterations { .. } => "Iterations outside 4096..=16384",
            _ => "Invalid user name or salt",
        }));
    }
    Ok(scram::credential_from_salted_password(
        mechanism,
        salted_password,
        salt,
        iterations,
    ))
}
