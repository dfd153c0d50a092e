//! DescribeCluster (key 60): the cluster id, the controller and the brokers, as the admin
//! client sees them. Runs on the connection's shard from its metadata snapshot and `Config`.
//!
//! As Kafka's `AuthHelper.computeDescribeClusterResponse` on a broker listener:
//! `endpoint_type` 1 (brokers) is answered; 2 (controllers) gets MISMATCHED_ENDPOINT_TYPE, as a
//! Kafka broker answers it, because this listener is a broker endpoint (clients send type 2 only
//! to `bootstrap.controllers`); any other value gets UNSUPPORTED_ENDPOINT_TYPE. Before v1 there
//! is no endpoint type on the wire, and both refusals are INVALID_REQUEST. A refusal carries
//! only the code and message.
//!
//! The brokers are Metadata's (`common::client_brokers`): every unfenced registered broker by
//! its `CLIENT` listener, plus the fenced ones with `is_fenced` when the request asks (v2+
//! `include_fenced_brokers`), this broker alone while no registration exists. The controller id
//! is `common::controller_id`'s: the active controller when clients can reach it (our voters
//! are brokers too), else this broker, which forwards admin requests to it.
use super::authorize::CLUSTER_OPERATIONS;
use super::common::{ClientBroker, client_brokers, controller_id, endpoint_on};
use super::{HandlerError, RequestContext};
use crate::cluster::acls::{CLUSTER_NAME, ResourceType};
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
    let this = ClientBroker::from_config(ctx.shard.config());
    let metadata = controller::metadata(&ctx.shard);
    let listener = ctx.session.listener_name();
    let listed: Vec<ClientBroker> =
        client_brokers(&metadata, &this, request.include_fenced_brokers)
            .into_iter()
            .map(|broker| endpoint_on(&metadata, ctx.shard.config(), broker, listener))
            .collect();
    let quorum_leader = ctx.shard.state.metadata.quorum_leader();
    Ok(DescribeClusterResponse {
        throttle_time_ms: 0,
        error_code: ErrorCode::None,
        error_message: None,
        endpoint_type: ENDPOINT_TYPE_BROKER,
        cluster_id: StrBytes::from(metadata.cluster_id.as_str()),
        controller_id: controller_id(quorum_leader, &unfenced(&listed), this.node_id),
        brokers: listed.iter().map(response_broker).collect(),
        cluster_authorized_operations: if request.include_cluster_authorized_operations {
            ctx.authorized_operations(&CLUSTER_OPERATIONS, ResourceType::Cluster, CLUSTER_NAME)
        } else {
            i32::MIN
        },
    })
}

/// The unfenced brokers of `listed`: the ones a controller id may name.
fn unfenced(listed: &[ClientBroker]) -> Vec<ClientBroker> {
    listed
        .iter()
        .filter(|broker| !broker.fenced)
        .cloned()
        .collect()
}

fn response_broker(broker: &ClientBroker) -> DescribeClusterBroker {
    DescribeClusterBroker {
        broker_id: broker.node_id,
        host: StrBytes::from(broker.host.as_str()),
        port: i32::from(broker.port),
        rack: broker.rack.as_deref().map(StrBytes::from),
        is_fenced: broker.fenced,
    }
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
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may unwrap
mod tests {
    use super::super::common::testing::cluster;
    use super::*;

    #[test]
    fn fenced_brokers_only_when_asked() {
        let this = ClientBroker {
            node_id: 1,
            host: "self".into(),
            port: 1,
            rack: None,
            fenced: false,
        };
        let metadata = cluster(&[1, 2, 3], &[1, 3], 1, &[]);
        let listed: Vec<_> = client_brokers(&metadata, &this, false)
            .iter()
            .map(response_broker)
            .collect();
        let ids: Vec<i32> = listed.iter().map(|broker| broker.broker_id).collect();
        assert_eq!(ids, [1, 3]);
        assert!(listed.iter().all(|broker| !broker.is_fenced));
        let all = client_brokers(&metadata, &this, true);
        let fenced: Vec<_> = all
            .iter()
            .map(response_broker)
            .map(|b| b.is_fenced)
            .collect();
        assert_eq!(fenced, [false, true, false]);
        assert_eq!(all[1].host, "b2");
        // A fenced quorum leader is not named as the controller.
        assert_eq!(controller_id(Some(2), &unfenced(&all), 1), 1);
        assert_eq!(controller_id(Some(3), &unfenced(&all), 1), 3);
        // No registration: this broker alone.
        let single = cluster(&[], &[], 1, &[]);
        assert_eq!(client_brokers(&single, &this, true), vec![this]);
    }

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
