//! SaslAuthenticate (key 36): one token of the exchange SaslHandshake started, checked by
//! `security::sasl` against the SCRAM credentials in this shard's metadata snapshot. Runs on
//! the connection's shard.
//!
//! Success authenticates the session as `User:<name>` and, with `connections.max.reauth.ms`,
//! sets its expiry and answers it as `session_lifetime_ms` (v1+, KIP-368). Failure answers
//! SASL_AUTHENTICATION_FAILED with Kafka's message (ILLEGAL_SASL_STATE without a handshake),
//! writes the rate-limited audit line, and leaves the session unauthenticated, so the next
//! request other than SASL or ApiVersions closes the connection: nothing is served. A
//! re-authentication must keep the principal (Kafka: "cannot change principals during
//! re-authentication"); one that fails or changes it de-authenticates the session.
//!
//! The exchange's state is taken out of the session and put back before the handler returns,
//! with no `.await` in between, so requests spawned after this one see the new state.
use super::{HandlerError, RequestContext};
use crate::cluster::controller;
use crate::protocol::messages::sasl_authenticate::{
    SaslAuthenticateRequest, SaslAuthenticateResponse,
};
use crate::protocol::{ApiKey, ErrorCode, StrBytes};
use crate::security::Principal;
use crate::security::sasl::{self, SaslError, SaslMechanism, SaslState, Step, audit};
use bytes::Bytes;
use std::time::Instant;

pub const API_KEY: ApiKey = ApiKey::SaslAuthenticate;
pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 2;

/// # Errors
/// None of its own.
/// # Panics
/// When dispatched for another API key (a registry error).
#[allow(clippy::unused_async)] // the registry awaits every handler
pub async fn handle(
    ctx: &mut RequestContext,
    request: SaslAuthenticateRequest,
) -> Result<SaslAuthenticateResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    let state = ctx.session.take_sasl_state();
    let mechanism = mechanism_of(&state);
    let user = sasl::user_of(&state, &request.auth_bytes);
    let metadata = controller::metadata(&ctx.shard);
    let step = sasl::step(state, &request.auth_bytes, metadata.as_ref());
    match step {
        Ok((next, Step::Continue { token })) => {
            ctx.session.set_sasl_state(next);
            Ok(response(ErrorCode::None, None, token, 0))
        }
        Ok((next, Step::Authenticated { user, token })) => {
            ctx.session.set_sasl_state(next);
            Ok(authenticated(ctx, mechanism, user, token))
        }
        Err(error) => Ok(failed(ctx, mechanism, user.as_deref(), &error)),
    }
}

/// The session is `user` now, unless a re-authentication tried to change the principal.
fn authenticated(
    ctx: &RequestContext,
    mechanism: Option<SaslMechanism>,
    user: String,
    token: Vec<u8>,
) -> SaslAuthenticateResponse {
    let principal = Principal::user(&user);
    if ctx.session.is_authenticated() && *ctx.session.principal() != principal {
        let error = SaslError::AuthorizationId { authzid: user };
        return failed(ctx, mechanism, Some(principal.name.as_str()), &error);
    }
    let lifetime = ctx.shard.config().sasl.connections_max_reauth;
    let expires_at = lifetime.map(|lifetime| Instant::now() + lifetime);
    ctx.session.authenticate_until(principal, expires_at);
    tracing::debug!(peer = %ctx.peer, %user, mechanism = ?mechanism, "authenticated");
    let lifetime_ms = lifetime.map_or(0, |lifetime| {
        i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX)
    });
    assert!(ctx.session.is_authenticated());
    response(ErrorCode::None, None, token, lifetime_ms)
}

/// Audits the failure and answers it; the session is not authenticated afterwards.
fn failed(
    ctx: &RequestContext,
    mechanism: Option<SaslMechanism>,
    user: Option<&str>,
    error: &SaslError,
) -> SaslAuthenticateResponse {
    ctx.session.deauthenticate();
    audit::authentication_failed(ctx.peer, user, mechanism.map(SaslMechanism::name), error);
    let code = match error {
        SaslError::IllegalState => ErrorCode::IllegalSaslState,
        _ => ErrorCode::SaslAuthenticationFailed,
    };
    let message = error.client_message(mechanism);
    response(code, Some(StrBytes::from(message)), Vec::new(), 0)
}

fn mechanism_of(state: &SaslState) -> Option<SaslMechanism> {
    match state {
        SaslState::Idle => None,
        SaslState::Started(mechanism) => Some(*mechanism),
        SaslState::ScramFirst(exchange) => Some(SaslMechanism::Scram(exchange.mechanism())),
    }
}

fn response(
    error_code: ErrorCode,
    error_message: Option<StrBytes>,
    token: Vec<u8>,
    session_lifetime_ms: i64,
) -> SaslAuthenticateResponse {
    SaslAuthenticateResponse {
        error_code,
        error_message,
        auth_bytes: Bytes::from(token),
        session_lifetime_ms,
    }
}
