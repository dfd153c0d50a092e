//! FindCoordinator (key 10): names the coordinator of each group key. Runs on the
//! connection's shard; the first call creates `__consumer_offsets` (through the controller,
//! with `[groups] offsets_topic_partitions` partitions and `offsets_topic_replication_factor`
//! replicas, at most the live brokers), as Kafka creates it on first use.
//! v0–3 ask for one key and answer at top level; v4+ batch keys (KIP-699).
//!
//! A group's coordinator is the leader of its `__consumer_offsets` partition, by its `CLIENT`
//! listener (`group_routing::coordinator_of`); COORDINATOR_NOT_AVAILABLE while that partition
//! has no leader. Which shard inside the broker coordinates a group is internal (handlers route
//! there). Transaction coordinators (key type 1) are not offered yet:
//! COORDINATOR_NOT_AVAILABLE, as a broker without one answers.
use super::common::{ClientBroker, endpoint_on};
use super::group_routing::coordinator_of;
use super::{HandlerError, RequestContext};
use crate::cluster::acls::AclOperation;
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
    let ready = match request.key_type {
        KEY_TYPE_GROUP => ensure_offsets_topic(ctx).await,
        KEY_TYPE_TRANSACTION => ErrorCode::CoordinatorNotAvailable,
        _ => ErrorCode::InvalidRequest,
    };
    let this = ClientBroker::from_config(ctx.shard.config());
    let metadata = controller::metadata(&ctx.shard);
    let listener = ctx.session.listener_name();
    let find = |key: &str| {
        if request.key_type == KEY_TYPE_GROUP {
            ctx.authorize_group(AclOperation::Describe, key)?;
        }
        if ready == ErrorCode::None {
            coordinator_of(&metadata, key, &this).map(|coordinator| {
                endpoint_on(&metadata, ctx.shard.config(), coordinator, listener)
            })
        } else {
            Err(ready)
        }
    };
    if ctx.api_version < 4 {
        let (error, node_id, host, port) = answer(find(request.key.as_str()));
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
        .map(|key| {
            let (error, node_id, host, port) = answer(find(key.as_str()));
            Coordinator {
                key,
                node_id,
                host,
                port,
                error_code: error,
                error_message: (error != ErrorCode::None).then(|| StrBytes::from(error.name())),
            }
        })
        .collect();
    Ok(FindCoordinatorResponse {
        coordinators,
        ..FindCoordinatorResponse::default()
    })
}

/// The wire fields of one answer: (error, node id, host, port); -1, "" and -1 with an error.
fn answer(found: Result<ClientBroker, ErrorCode>) -> (ErrorCode, i32, StrBytes, i32) {
    match found {
        Ok(broker) => (
            ErrorCode::None,
            broker.node_id,
            StrBytes::from(broker.host.as_str()),
            i32::from(broker.port),
        ),
        Err(error) => {
            assert_ne!(error, ErrorCode::None);
            (error, -1, StrBytes::default(), -1)
        }
    }
}

/// Creates `__consumer_offsets` if it does not exist yet.
async fn ensure_offsets_topic(ctx: &RequestContext) -> ErrorCode {
    let groups = ctx.shard.config().groups;
    let (partitions, factor) = (
        groups.offsets_topic_partitions,
        groups.offsets_topic_replication_factor,
    );
    match controller::get_or_create_offsets_topic(&ctx.shard, OFFSETS_TOPIC, partitions, factor)
        .await
    {
        Ok(_) => ErrorCode::None,
        Err(error) => {
            tracing::warn!(%error, "cannot create {OFFSETS_TOPIC}");
            ErrorCode::CoordinatorNotAvailable
        }
    }
}
