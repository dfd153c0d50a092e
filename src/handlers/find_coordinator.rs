//! FindCoordinator (key 10): names this broker as the coordinator of each group key. Runs on
//! the connection's shard; the first call creates `__consumer_offsets` (through the
//! controller, with `[groups] offsets_topic_partitions` partitions), as Kafka creates it on
//! first use. v0–3 ask for one key and answer at top level; v4+ batch keys (KIP-699).
//!
//! Single node: every group's coordinator is this broker; which shard inside it coordinates a
//! group is internal (handlers route there). Transaction coordinators (key type 1) are not
//! offered yet: COORDINATOR_NOT_AVAILABLE, as a broker without one answers.
use super::{HandlerError, RequestContext};
use crate::cluster::controller;
use crate::group::OFFSETS_TOPIC;
use crate::protocol::ApiKey;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::find_coordinator::{
    Coordinator, FindCoordinatorRequest, FindCoordinatorResponse,
};
use crate::protocol::primitives::StrBytes;

pub const API_KEY: ApiKey = ApiKey::FindCoordinator;
pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 6;

const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

/// # Errors
/// None: every outcome is a response.
///
/// # Panics
/// When called for another API (dispatch routes by key).
pub async fn handle(
    ctx: &mut RequestContext,
    request: FindCoordinatorRequest,
) -> Result<FindCoordinatorResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    let error = match request.key_type {
        KEY_TYPE_GROUP => ensure_offsets_topic(ctx).await,
        KEY_TYPE_TRANSACTION => ErrorCode::CoordinatorNotAvailable,
        _ => ErrorCode::InvalidRequest,
    };
    let config = ctx.shard.config();
    let (node_id, host, port) = if error == ErrorCode::None {
        let host = StrBytes::from(config.advertise.host.as_str());
        (config.node_id, host, i32::from(config.advertise.port))
    } else {
        (-1, StrBytes::default(), -1)
    };
    if ctx.api_version < 4 {
        return Ok(FindCoordinatorResponse {
            error_code: error,
            error_message: (error != ErrorCode::None).then(|| StrBytes::from(error.name())),
            node_id,
            host,
            port,
            ..FindCoordinatorResponse::default()
        });
    }
    let coordinators = request
        .coordinator_keys
        .into_iter()
        .map(|key| Coordinator {
            key,
            node_id,
            host: host.clone(),
            port,
            error_code: error,
            error_message: (error != ErrorCode::None).then(|| StrBytes::from(error.name())),
        })
        .collect();
    Ok(FindCoordinatorResponse {
        coordinators,
        ..FindCoordinatorResponse::default()
    })
}

/// Creates `__consumer_offsets` if it does not exist yet.
async fn ensure_offsets_topic(ctx: &RequestContext) -> ErrorCode {
    let partitions = ctx.shard.config().groups.offsets_topic_partitions;
    match controller::get_or_create_topic(&ctx.shard, OFFSETS_TOPIC, partitions).await {
        Ok(_) => ErrorCode::None,
        Err(error) => {
            tracing::warn!(%error, "cannot create {OFFSETS_TOPIC}");
            ErrorCode::CoordinatorNotAvailable
        }
    }
}
