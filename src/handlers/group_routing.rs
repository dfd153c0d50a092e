//! Routing a group request to its coordinator shard: the group id names a `__consumer_offsets`
//! partition (`group::route_in`, Kafka's hash), the partition names a shard, and the request's
//! work runs there with that shard's group coordinator. Routing is the handlers' job, so
//! group/ stays a per-shard service that never names the shard context.
//!
//! Which broker coordinates a group is the leader of its `__consumer_offsets` partition (the
//! partition's record, or the single-node default: this broker), as in Kafka. A group request
//! reaching another broker is NOT_COORDINATOR (its client finds the coordinator again), and
//! FindCoordinator names that leader ([`coordinator_of`]).
//!
//! Runs on the connection's shard (routing) and on the coordinator shard (the job).
use super::common::{ClientBroker, client_broker};
use crate::broker::Shard;
use crate::cluster::ClusterMetadata;
use crate::cluster::controller;
use crate::cluster::metadata::NO_LEADER;
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
/// COORDINATOR_NOT_AVAILABLE while `__consumer_offsets` does not exist yet, and NOT_COORDINATOR
/// when this broker does not lead the group's `__consumer_offsets` partition.
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
    let metadata = controller::metadata(shard);
    let node_id = shard.config().node_id;
    let route = match local_route(&metadata, &group_id, shard.count(), node_id) {
        Ok(route) => route,
        Err(error_code) => return Ok(Err(error_code)),
    };
    shard
        .invoke_on(route.shard, move |target| job(target, route, group_id))
        .await
        .map(Ok)
}

/// The route of `group_id` when this broker (`node_id`) coordinates it.
///
/// # Errors
/// COORDINATOR_NOT_AVAILABLE while `__consumer_offsets` does not exist; NOT_COORDINATOR when
/// the group's partition is led by another broker or by none.
pub fn local_route(
    metadata: &ClusterMetadata,
    group_id: &str,
    shard_count: usize,
    node_id: i32,
) -> Result<Route, ErrorCode> {
    let route =
        route_in(metadata, group_id, shard_count).ok_or(ErrorCode::CoordinatorNotAvailable)?;
    match metadata.partition_or_single_node(route.key.topic_id, route.key.partition, node_id) {
        Some(state) if state.leader == node_id => Ok(route),
        _ => Err(ErrorCode::NotCoordinator),
    }
}

/// The broker clients are told coordinates `group_id`: the leader of its `__consumer_offsets`
/// partition, by its `CLIENT` listener.
///
/// # Errors
/// COORDINATOR_NOT_AVAILABLE while `__consumer_offsets` does not exist, while the partition
/// has no leader, or when the leader has no client endpoint (not registered).
pub fn coordinator_of(
    metadata: &ClusterMetadata,
    group_id: &str,
    this: &ClientBroker,
) -> Result<ClientBroker, ErrorCode> {
    // The shard count does not change which partition, and so which broker, coordinates.
    let route = route_in(metadata, group_id, 1).ok_or(ErrorCode::CoordinatorNotAvailable)?;
    let leader = metadata
        .partition_or_single_node(route.key.topic_id, route.key.partition, this.node_id)
        .map_or(NO_LEADER, |state| state.leader);
    if leader == NO_LEADER {
        return Err(ErrorCode::CoordinatorNotAvailable);
    }
    client_broker(metadata, leader, this).ok_or(ErrorCode::CoordinatorNotAvailable)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::super::common::testing::{registration, state};
    use super::*;
    use crate::cluster::MetadataRecord;
    use crate::group::{OFFSETS_TOPIC, coordinator_partition};
    use crate::protocol::Uuid;
    use std::collections::BTreeMap;

    const OFFSETS_ID: Uuid = Uuid([3; 16]);

    /// Brokers 1..=3 unfenced, `__consumer_offsets` with 3 partitions led by `leaders`.
    fn cluster(leaders: [i32; 3]) -> ClusterMetadata {
        let mut records = Vec::new();
        for node_id in 1..=3 {
            let broker_epoch = i64::from(node_id);
            records.push(MetadataRecord::RegisterBroker(
                crate::cluster::metadata::BrokerRegistration {
                    broker_epoch,
                    ..registration(node_id)
                },
            ));
            records.push(MetadataRecord::UnfenceBroker {
                node_id,
                broker_epoch,
            });
        }
        records.push(MetadataRecord::TopicCreated {
            topic_id: OFFSETS_ID,
            name: OFFSETS_TOPIC.into(),
            partition_count: 3,
            configs: BTreeMap::new(),
        });
        for (partition, leader) in (0..).zip(leaders) {
            let isr: &[i32] = if leader == NO_LEADER {
                &[1]
            } else {
                &[1, 2, 3]
            };
            records.push(MetadataRecord::Partition {
                topic_id: OFFSETS_ID,
                partition,
                state: state(&[1, 2, 3], isr, leader, 1),
            });
        }
        ClusterMetadata::empty("c".into())
            .apply_all(&records)
            .unwrap()
    }

    /// A group id that hashes to `partition` of 3.
    fn group_on(partition: i32) -> String {
        (0..1000)
            .map(|index| format!("g{index}"))
            .find(|group| coordinator_partition(group, 3) == partition)
            .unwrap()
    }

    fn this(node_id: i32) -> ClientBroker {
        ClientBroker {
            node_id,
            host: "self".into(),
            port: 1,
            rack: None,
            fenced: false,
        }
    }

    #[test]
    fn the_offsets_partition_leader_coordinates() {
        let metadata = cluster([2, 3, NO_LEADER]);
        let found = coordinator_of(&metadata, &group_on(0), &this(1)).unwrap();
        assert_eq!(
            (found.node_id, found.host.as_str(), found.port),
            (2, "b2", 9002)
        );
        assert_eq!(
            coordinator_of(&metadata, &group_on(1), &this(1))
                .unwrap()
                .node_id,
            3
        );
        assert_eq!(
            coordinator_of(&metadata, &group_on(2), &this(1)),
            Err(ErrorCode::CoordinatorNotAvailable)
        );
        // Group requests: only the leader's broker coordinates.
        assert!(local_route(&metadata, &group_on(0), 4, 2).is_ok());
        assert_eq!(
            local_route(&metadata, &group_on(0), 4, 1).unwrap_err(),
            ErrorCode::NotCoordinator
        );
        assert_eq!(
            local_route(&metadata, &group_on(2), 4, 1).unwrap_err(),
            ErrorCode::NotCoordinator
        );
    }

    #[test]
    fn without_the_offsets_topic_or_records() {
        let empty = ClusterMetadata::empty("c".into());
        assert_eq!(
            coordinator_of(&empty, "g", &this(1)),
            Err(ErrorCode::CoordinatorNotAvailable)
        );
        assert_eq!(
            local_route(&empty, "g", 1, 1).unwrap_err(),
            ErrorCode::CoordinatorNotAvailable
        );
        // A single node: the topic without partition records, this broker coordinates.
        let record = MetadataRecord::TopicCreated {
            topic_id: OFFSETS_ID,
            name: OFFSETS_TOPIC.into(),
            partition_count: 3,
            configs: BTreeMap::new(),
        };
        let single = empty.apply(&record).unwrap();
        assert_eq!(coordinator_of(&single, "g", &this(7)), Ok(this(7)));
        assert!(local_route(&single, "g", 2, 7).is_ok());
    }
}
