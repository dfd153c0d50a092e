//! DescribeCluster (key 60): the cluster id, the controller and the brokers, as the admin
//! client sees them. Runs on the connection's shard from its metadata snapshot and `Config`.
//!
//! As Kafka's `AuthHelper.computeDescribeClusterResponse` on a broker listener:
//! `endpoint_type` 1 (brokers) is answered; 2 (controllers) gets MISMATCHED_ENDPOINT_TYPE, as a
//! Kafka broker answers it, because this listener is a broker endpoint (clients send type 2 only
//! to `bootstrap.controllers`); any other value gets UNSUPPORTED_ENDPOINT_TYPE. Before v1 there
//! is no endpoint type on the wire, and both refusals are INVALID_REQUEST. A refusal carries
//! only the code and message. The controller id is our node: this node is its own controller
//! and, unlike a KRaft controller, reachable on this listener. We are never fenced.
use super::{HandlerError, RequestContext};
use crate::cluster::controller;
use crate::protocol::messages::describe_cluster::{
    DescribeClusterBroker, DescribeClusterRequest, DescribeClusterResponse,
};
use crate::protocol::{ApiKey, ErrorCode, StrBytes};

pub const API_KEY: ApiKey = ApiKey::DescribeCluster;
pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 2;

/// Kafka's `EndpointType` ids.
const ENDPOINT_TYPE_BROKER: i8 = 1;
const ENDPOINT_TYPE_CONTROLLER: i8 = 2;

/// Kafka's ACL operation bits allowed on the cluster resource, all granted (no authorizer):
/// `CREATE` 5, `ALTER` 7, `DESCRIBE` 8, `CLUSTER_ACTION` 9, `DESCRIBE_CONFIGS` 10,
/// `ALTER_CONFIGS` 11, `IDEMPOTENT_WRITE` 12.
const CLUSTER_OPERATIONS_ALL: i32 =
    (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);

/// # Errors
/// None of its own.
/// # Panics
/// When dispatched for another API key (a registry error).
#[allow(clippy::unused_async)] // the registry awaits every handler
pub async fn handle(
    ctx: &mut RequestContext,
    request: DescribeClusterRequest,
) -> Result<DescribeClusterResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    if let Some((code, message)) = refusal(request.endpoint_type) {
        return Ok(DescribeClusterResponse {
            error_code: if ctx.api_version == 0 {
                ErrorCode::InvalidRequest
            } else {
                code
            },
            error_message: Some(StrBytes::from(message)),
            ..DescribeClusterResponse::default()
        });
    }
    let config = ctx.shard.config();
    let metadata = controller::metadata(&ctx.shard);
    Ok(DescribeClusterResponse {
        throttle_time_ms: 0,
        error_code: ErrorCode::None,
        error_message: None,
        endpoint_type: ENDPOINT_TYPE_BROKER,
        cluster_id: StrBytes::from(metadata.cluster_id.as_str()),
        controller_id: config.node_id,
        brokers: vec![DescribeClusterBroker {
            broker_id: config.node_id,
            host: StrBytes::from(config.advertise.host.as_str()),
            port: i32::from(config.advertise.port),
            rack: None,
            is_fenced: false,
        }],
        cluster_authorized_operations: if request.include_cluster_authorized_operations {
            CLUSTER_OPERATIONS_ALL
        } else {
            i32::MIN
        },
    })
}

/// Why an endpoint type is refused on this (broker) listener.
fn refusal(endpoint_type: i8) -> Option<(ErrorCode, String)> {
    match endpoint_type {
        ENDPOINT_TYPE_BROKER => None,
        ENDPOINT_TYPE_CONTROLLER => Some((
            ErrorCode::MismatchedEndpointType,
            "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of \
             type CONTROLLER"
                .to_owned(),
        )),
        other => Some((
            ErrorCode::UnsupportedEndpointType,
            format!("Unsupported endpoint type {other}"),
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn only_the_broker_endpoint_is_answered() {
        assert_eq!(refusal(ENDPOINT_TYPE_BROKER), None);
        assert_eq!(
            refusal(ENDPOINT_TYPE_CONTROLLER).unwrap().0,
            ErrorCode::MismatchedEndpointType
        );
        assert_eq!(refusal(0).unwrap().0, ErrorCode::UnsupportedEndpointType);
        assert_eq!(refusal(3).unwrap().0, ErrorCode::UnsupportedEndpointType);
    }
}
