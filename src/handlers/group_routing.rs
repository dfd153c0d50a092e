//! Routing a group request to its coordinator shard: the group id names a `__consumer_offsets`
//! partition (`group::route_in`, Kafka's hash), the partition names a shard, and the request's
//! work runs there with that shard's group coordinator. Routing is the handlers' job, so
//! group/ stays a per-shard service that never names the shard context.
//!
//! Runs on the connection's shard (routing) and on the coordinator shard (the job).
use crate::broker::Shard;
use crate::cluster::controller;
use crate::group::{Route, route_in};
use crate::protocol::error_code::ErrorCode;
use crate::shard::MeshError;
use std::future::Future;
use std::rc::Rc;

/// The coordinator of `group_id` by this shard's metadata snapshot, or `None` while
/// `__consumer_offsets` does not exist yet.
#[must_use]
pub fn route(shard: &Shard, group_id: &str) -> Option<Route> {
    let metadata = controller::metadata(shard);
    route_in(&metadata, group_id, shard.count())
}

/// Runs `job` on the coordinator shard of `group_id` with its [`Route`]; the inner `Err` is
/// COORDINATOR_NOT_AVAILABLE while `__consumer_offsets` does not exist yet.
///
/// # Errors
/// `MeshError` when the coordinator shard stopped (shutdown).
pub async fn on_coordinator<F, Fut, R>(
    shard: &Rc<Shard>,
    group_id: String,
    job: F,
) -> Result<Result<R, ErrorCode>, MeshError>
where
    F: FnOnce(Rc<Shard>, Route, String) -> Fut + Send + 'static,
    Fut: Future<Output = R> + 'static,
    R: Send + 'static,
{
    let Some(route) = route(shard, &group_id) else {
        return Ok(Err(ErrorCode::CoordinatorNotAvailable));
    };
    shard
        .invoke_on(route.shard, move |target| job(target, route, group_id))
        .await
        .map(Ok)
}
