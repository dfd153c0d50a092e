//! SaslHandshake (key 17): the client names a mechanism; the broker answers with the ones
//! this listener offers and, when it offers the named one, starts that exchange in the
//! connection's session (`security::sasl`). Runs on the connection's shard.
//!
//! Offered: the configured mechanisms (`--sasl-mechanisms`), without PLAIN on a listener
//! without TLS unless `--sasl-plain-on-plaintext true`. A mechanism not offered gets
//! UNSUPPORTED_SASL_MECHANISM with the list; a listener that does not use SASL gets
//! ILLEGAL_SASL_STATE, as Kafka answers on a PLAINTEXT/SSL listener. v0 and v1 are served, as
//! Kafka 4.x does (KIP-896 kept v0 for kafka-python): after a v1 handshake the tokens come in
//! SaslAuthenticate requests; after a v0 one they come as bare size-prefixed frames without a
//! request header (KIP-152's legacy path), which the connection loop hands to
//! `handlers::raw_sasl_token` until the exchange ends.
//!
//! A handshake on an authenticated connection starts a re-authentication (KIP-368); the
//! session stays authenticated until SaslAuthenticate ends it.
use super::{HandlerError, RequestContext};
use crate::protocol::messages::sasl_handshake::{SaslHandshakeRequest, SaslHandshakeResponse};
use crate::protocol::{ApiKey, ErrorCode, StrBytes};
use crate::security::sasl::{SaslMechanism, SaslState};

pub const API_KEY: ApiKey = ApiKey::SaslHandshake;
pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 1;

/// # Errors
/// None of its own.
/// # Panics
/// When dispatched for another API key (a registry error).
#[allow(clippy::unused_async)] // the registry awaits every handler
pub async fn handle(
    ctx: &mut RequestContext,
    request: SaslHandshakeRequest,
) -> Result<SaslHandshakeResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    let offered = offered_mechanisms(ctx);
    let names = offered.iter().map(|m| StrBytes::from(m.name())).collect();
    if !ctx.session.protocol().uses_sasl() {
        return Ok(SaslHandshakeResponse {
            error_code: ErrorCode::IllegalSaslState,
            mechanisms: Vec::new(),
        });
    }
    let requested = SaslMechanism::parse(&request.mechanism);
    let Some(mechanism) = requested.filter(|mechanism| offered.contains(mechanism)) else {
        tracing::debug!(peer = %ctx.peer, mechanism = %&*request.mechanism, "mechanism refused");
        ctx.session.set_sasl_state(SaslState::Idle);
        return Ok(SaslHandshakeResponse {
            error_code: ErrorCode::UnsupportedSaslMechanism,
            mechanisms: names,
        });
    };
    ctx.session.set_sasl_state(SaslState::Started(mechanism));
    ctx.session.set_raw_tokens(ctx.api_version == 0);
    Ok(SaslHandshakeResponse {
        error_code: ErrorCode::None,
        mechanisms: names,
    })
}

/// The mechanisms this connection's listener offers, in configured order.
fn offered_mechanisms(ctx: &RequestContext) -> Vec<SaslMechanism> {
    let sasl = &ctx.shard.config().sasl;
    let plain_allowed = ctx.session.protocol().uses_tls() || sasl.plain_on_plaintext;
    sasl.mechanisms
        .iter()
        .filter_map(|name| SaslMechanism::parse(name))
        .filter(|mechanism| *mechanism != SaslMechanism::Plain || plain_allowed)
        .collect()
}
