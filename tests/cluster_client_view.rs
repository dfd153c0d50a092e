//! The cluster as clients see it, on one real broker: Metadata, DescribeCluster and
//! FindCoordinator list the broker by its registration (its `CLIENT` listener and `--rack`),
//! and the data APIs check the client's leader epoch against the partition's. Multi-broker
//! views are in `cluster_quorum.rs`; the choice functions are unit-tested in
//! `src/handlers/{common,metadata,group_routing}.rs`.
mod common;

use common::{Broker, BrokerOptions, RawClient};
use ringbroker::protocol::messages::describe_cluster::{
    DescribeClusterRequest, DescribeClusterResponse,
};
use ringbroker::protocol::messages::fetch::{
    FetchPartition, FetchRequest, FetchResponse, FetchTopic,
};
use ringbroker::protocol::messages::find_coordinator::{
    FindCoordinatorRequest, FindCoordinatorResponse,
};
use ringbroker::protocol::messages::list_offsets::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsResponse, ListOffsetsTopic,
};
use ringbroker::protocol::messages::metadata::{
    MetadataRequest, MetadataRequestTopic, MetadataResponse,
};
use ringbroker::protocol::{ErrorCode, StrBytes};
use std::time::Duration;

const TOPIC: &str = "view";
/// How long the registration (which carries the rack) may take to be applied.
const CONVERGE: Duration = Duration::from_secs(20);

/// One raw request/response exchange.
fn call<Q, R>(client: &mut RawClient, version: i16, request: &Q) -> R
where
    Q: ringbroker::protocol::Message,
    R: ringbroker::protocol::Message,
{
    client.send(version, 7, request);
    let (correlation_id, response) = client.receive::<R>(version);
    assert_eq!(correlation_id, 7);
    response
}

fn broker_on_rack() -> Broker {
    Broker::start_with(BrokerOptions {
        extra_args: vec!["--rack".into(), "r1".into()],
        ..BrokerOptions::default()
    })
}

/// Metadata v12 for [`TOPIC`], auto-creating it.
fn metadata(client: &mut RawClient) -> MetadataResponse {
    let request = MetadataRequest {
        topics: Some(vec![MetadataRequestTopic {
            name: Some(StrBytes::from(TOPIC)),
            ..MetadataRequestTopic::default()
        }]),
        allow_auto_topic_creation: true,
        ..MetadataRequest::default()
    };
    call(client, 12, &request)
}

#[test]
fn the_broker_is_listed_by_its_listener_and_rack_and_leads_at_epoch_zero() {
    let broker = broker_on_rack();
    let mut client = broker.client();
    let listed_with_rack = common::eventually(CONVERGE, || {
        let response = metadata(&mut client);
        response.brokers.len() == 1 && response.brokers[0].rack.as_deref() == Some("r1")
    });
    assert!(listed_with_rack, "{:?}", metadata(&mut client).brokers);
    let response = metadata(&mut client);
    let this = &response.brokers[0];
    assert_eq!(this.host.as_str(), "127.0.0.1");
    assert_eq!(this.port, i32::from(broker.address.port()));
    assert_eq!(response.controller_id, this.node_id);
    let topic = &response.topics[0];
    assert_eq!(topic.error_code, ErrorCode::None);
    assert!(!topic.partitions.is_empty());
    for partition in &topic.partitions {
        assert_eq!(partition.error_code, ErrorCode::None);
        assert_eq!(partition.leader_id, this.node_id);
        assert_eq!(partition.replica_nodes, [this.node_id]);
        assert_eq!(partition.isr_nodes, [this.node_id]);
        assert!(partition.offline_replicas.is_empty());
    }

    let described: DescribeClusterResponse = call(
        &mut client,
        2,
        &DescribeClusterRequest {
            include_fenced_brokers: true,
            ..DescribeClusterRequest::default()
        },
    );
    assert_eq!(described.error_code, ErrorCode::None);
    assert_eq!(described.brokers.len(), 1);
    assert_eq!(described.brokers[0].broker_id, this.node_id);
    assert_eq!(described.brokers[0].rack.as_deref(), Some("r1"));
    assert!(!described.brokers[0].is_fenced);
    assert_eq!(described.controller_id, this.node_id);

    let found: FindCoordinatorResponse = call(
        &mut client,
        4,
        &FindCoordinatorRequest {
            key_type: 0,
            coordinator_keys: vec![StrBytes::from("group")],
            ..FindCoordinatorRequest::default()
        },
    );
    let coordinator = &found.coordinators[0];
    assert_eq!(coordinator.error_code, ErrorCode::None);
    assert_eq!(coordinator.node_id, this.node_id);
    assert_eq!(coordinator.port, i32::from(broker.address.port()));
}

#[test]
fn the_clients_leader_epoch_is_checked_against_the_partitions() {
    let broker = Broker::start();
    let mut client = broker.client();
    assert_eq!(
        metadata(&mut client).topics[0].partitions[0].leader_epoch,
        0
    );
    let mut list_offsets = |current_leader_epoch: i32| {
        let request = ListOffsetsRequest {
            replica_id: -1,
            topics: vec![ListOffsetsTopic {
                name: StrBytes::from(TOPIC),
                partitions: vec![ListOffsetsPartition {
                    partition_index: 0,
                    current_leader_epoch,
                    timestamp: -1,
                    ..ListOffsetsPartition::default()
                }],
            }],
            ..ListOffsetsRequest::default()
        };
        let response: ListOffsetsResponse = call(&mut client, 7, &request);
        let partition = &response.topics[0].partitions[0];
        (partition.error_code, partition.leader_epoch)
    };
    assert_eq!(list_offsets(-1), (ErrorCode::None, 0));
    assert_eq!(list_offsets(0), (ErrorCode::None, 0));
    assert_eq!(list_offsets(1).0, ErrorCode::UnknownLeaderEpoch);

    // A refused partition answers at once: were the long poll (30 s) kept, the read would
    // time out (IO_TIMEOUT) and fail the test.
    let fetch = FetchRequest {
        max_wait_ms: 30_000,
        min_bytes: 1,
        topics: vec![FetchTopic {
            topic: StrBytes::from(TOPIC),
            partitions: vec![FetchPartition {
                partition: 0,
                current_leader_epoch: 2,
                fetch_offset: 0,
                partition_max_bytes: 1 << 20,
                ..FetchPartition::default()
            }],
            ..FetchTopic::default()
        }],
        ..FetchRequest::default()
    };
    let response: FetchResponse = call(&mut client, 12, &fetch);
    let partition = &response.responses[0].partitions[0];
    assert_eq!(partition.error_code, ErrorCode::UnknownLeaderEpoch);
}
