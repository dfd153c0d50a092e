//! UnregisterBroker (key 64): removes a broker that left for good from the cluster metadata,
//! through the active controller (`controller::unregister_broker`, `policy::lifecycle`). Runs
//! on the connection's shard; answers once this broker applied the result.
//!
//! As Kafka's controller: an unknown broker is BROKER_ID_NOT_REGISTERED; a live broker is not
//! refused — it is fenced (its leadership moves, it leaves every ISR) and then forgotten. Its
//! partitions keep naming it until a reassignment moves them (`cluster drain` first). A broker
//! process still running registers again at its next heartbeat, as in Kafka.
use super::{HandlerError, RequestContext};
use crate::cluster::controller;
use crate::protocol::messages::unregister_broker::{
    UnregisterBrokerRequest, UnregisterBrokerResponse,
};
use crate::protocol::{ApiKey, ErrorCode, StrBytes};

pub const API_KEY: ApiKey = ApiKey::UnregisterBroker;
pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 0;

/// # Errors
/// None of its own: a refusal is the response's error code.
/// # Panics
/// When dispatched for another API key (a registry error).
pub async fn handle(
    ctx: &mut RequestContext,
    request: UnregisterBrokerRequest,
) -> Result<UnregisterBrokerResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    let (error_code, error_message) =
        match controller::unregister_broker(&ctx.shard, request.broker_id).await {
            Ok(()) => (ErrorCode::None, None),
            Err(error) => (error.error_code(), Some(StrBytes::from(error.to_string()))),
        };
    Ok(UnregisterBrokerResponse {
        throttle_time_ms: 0,
        error_code,
        error_message,
    })
}
