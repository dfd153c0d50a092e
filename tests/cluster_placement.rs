//! Replication factor and placement on a single node against the real binary: CreateTopics with
//! replication factor 1 and -1 (the broker's `default.replication.factor`) works and reports
//! the factor the partitions got, 2 is INVALID_REPLICATION_FACTOR with Kafka's message, manual
//! assignments may name only this node, `default.replication.factor` is a settable broker
//! config, CreatePartitions places with the topic's factor, and Metadata (with auto-creation)
//! still answers as before. Before the broker registers with the controller it is the one broker
//! placement knows.
mod common;

use common::{Broker, RawClient};
use ringbroker::protocol::messages::create_partitions::{
    CreatePartitionsAssignment, CreatePartitionsRequest, CreatePartitionsResponse,
    CreatePartitionsTopic,
};
use ringbroker::protocol::messages::create_topics::{
    CreatableReplicaAssignment, CreatableTopic, CreateTopicsRequest, CreateTopicsResponse,
};
use ringbroker::protocol::messages::describe_configs::{
    DescribeConfigsRequest, DescribeConfigsResource, DescribeConfigsResponse,
};
use ringbroker::protocol::messages::incremental_alter_configs::{
    AlterConfigsResource, AlterableConfig, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
};
use ringbroker::protocol::messages::metadata::{
    MetadataRequest, MetadataRequestTopic, MetadataResponse,
};
use ringbroker::protocol::{ErrorCode, StrBytes};

/// DescribeConfigs / IncrementalAlterConfigs resource type of a broker.
const BROKER: i8 = 4;

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

fn creatable(name: &str, num_partitions: i32, replication_factor: i16) -> CreatableTopic {
    CreatableTopic {
        name: StrBytes::from(name),
        num_partitions,
        replication_factor,
        ..CreatableTopic::default()
    }
}

fn create(
    client: &mut RawClient,
    topics: Vec<CreatableTopic>,
    validate_only: bool,
) -> CreateTopicsResponse {
    let request = CreateTopicsRequest {
        topics,
        timeout_ms: 10_000,
        validate_only,
    };
    call(client, 7, &request)
}

fn metadata(client: &mut RawClient, topic: &str, auto_create: bool) -> MetadataResponse {
    let request = MetadataRequest {
        topics: Some(vec![MetadataRequestTopic {
            name: Some(StrBytes::from(topic)),
            ..MetadataRequestTopic::default()
        }]),
        allow_auto_topic_creation: auto_create,
        ..MetadataRequest::default()
    };
    call(client, 12, &request)
}

/// This broker's node id, as Metadata lists it.
fn node_id(client: &mut RawClient) -> i32 {
    let response = metadata(client, "absent", false);
    assert_eq!(response.brokers.len(), 1);
    response.brokers[0].node_id
}

fn assignment(partition_index: i32, broker_ids: Vec<i32>) -> CreatableReplicaAssignment {
    CreatableReplicaAssignment {
        partition_index,
        broker_ids,
    }
}

#[test]
fn create_topics_takes_replication_factor_one_and_the_default_and_refuses_two() {
    let broker = Broker::start();
    let mut client = broker.client();
    let node = node_id(&mut client);
    let response = create(
        &mut client,
        vec![
            creatable("one", 3, 1),
            creatable("default", -1, -1),
            creatable("two", 1, 2),
            creatable("zero", 1, 0),
        ],
        false,
    );
    let results = &response.topics;
    assert_eq!(results[0].error_code, ErrorCode::None);
    assert_eq!(
        (results[0].num_partitions, results[0].replication_factor),
        (3, 1)
    );
    assert_eq!(results[1].error_code, ErrorCode::None);
    assert_eq!(results[1].replication_factor, 1, "the default, resolved");
    assert!(results[1].num_partitions >= 1);
    assert_eq!(results[2].error_code, ErrorCode::InvalidReplicationFactor);
    assert_eq!(
        results[2].error_message.as_deref(),
        Some(
            "Unable to replicate the partition 2 time(s): The target replication factor of 2 \
             cannot be reached because only 1 broker(s) are registered."
        )
    );
    assert_eq!(results[3].error_code, ErrorCode::InvalidReplicationFactor);
    // Metadata lists the placed partitions as before: this node leads and holds them all.
    let described = metadata(&mut client, "one", false);
    let topic = &described.topics[0];
    assert_eq!(topic.error_code, ErrorCode::None);
    assert_eq!(topic.partitions.len(), 3);
    for partition in &topic.partitions {
        assert_eq!(partition.leader_id, node);
        assert_eq!(partition.replica_nodes, vec![node]);
        assert_eq!(partition.isr_nodes, vec![node]);
    }
    // Validate-only runs the same placement and creates nothing.
    let checked = create(
        &mut client,
        vec![creatable("checked", 2, -1), creatable("wide", 1, 2)],
        true,
    );
    assert_eq!(checked.topics[0].error_code, ErrorCode::None);
    assert_eq!(
        (
            checked.topics[0].num_partitions,
            checked.topics[0].replication_factor
        ),
        (2, 1)
    );
    assert_eq!(
        checked.topics[1].error_code,
        ErrorCode::InvalidReplicationFactor
    );
    let absent = metadata(&mut client, "checked", false);
    assert_eq!(
        absent.topics[0].error_code,
        ErrorCode::UnknownTopicOrPartition
    );
}

#[test]
fn manual_assignments_may_name_only_this_node() {
    let broker = Broker::start();
    let mut client = broker.client();
    let node = node_id(&mut client);
    let mut manual = creatable("manual", -1, -1);
    manual.assignments = vec![assignment(0, vec![node]), assignment(1, vec![node])];
    let mut stranger = creatable("stranger", -1, -1);
    stranger.assignments = vec![assignment(0, vec![node + 1])];
    let mut both = creatable("both", 2, -1);
    both.assignments = vec![assignment(0, vec![node])];
    let response = create(&mut client, vec![manual, stranger, both], false);
    let results = &response.topics;
    assert_eq!(results[0].error_code, ErrorCode::None);
    assert_eq!(
        (results[0].num_partitions, results[0].replication_factor),
        (2, 1)
    );
    assert_eq!(results[1].error_code, ErrorCode::InvalidReplicaAssignment);
    let message = results[1].error_message.as_deref().unwrap_or_default();
    assert!(
        message.contains("but no such broker is registered"),
        "{message}"
    );
    assert_eq!(results[2].error_code, ErrorCode::InvalidRequest);
    // CreatePartitions: the topic's factor, or lists naming this node once.
    let grow = |count: i32, lists: Option<Vec<Vec<i32>>>| CreatePartitionsTopic {
        name: StrBytes::from("manual"),
        count,
        assignments: lists.map(|lists| {
            lists
                .into_iter()
                .map(|broker_ids| CreatePartitionsAssignment { broker_ids })
                .collect()
        }),
    };
    let request = CreatePartitionsRequest {
        topics: vec![grow(3, None)],
        timeout_ms: 10_000,
        validate_only: false,
    };
    let grown: CreatePartitionsResponse = call(&mut client, 3, &request);
    assert_eq!(grown.results[0].error_code, ErrorCode::None);
    let request = CreatePartitionsRequest {
        topics: vec![grow(4, Some(vec![vec![node, node]]))],
        timeout_ms: 10_000,
        validate_only: false,
    };
    let twice: CreatePartitionsResponse = call(&mut client, 3, &request);
    assert_eq!(
        twice.results[0].error_code,
        ErrorCode::InvalidReplicaAssignment
    );
    let request = CreatePartitionsRequest {
        topics: vec![grow(4, Some(vec![vec![node]]))],
        timeout_ms: 10_000,
        validate_only: false,
    };
    let placed: CreatePartitionsResponse = call(&mut client, 3, &request);
    assert_eq!(placed.results[0].error_code, ErrorCode::None);
    let described = metadata(&mut client, "manual", false);
    assert_eq!(described.topics[0].partitions.len(), 4);
}

#[test]
fn default_replication_factor_is_a_broker_config_and_auto_creation_uses_it() {
    let broker = Broker::start();
    let mut client = broker.client();
    let node = node_id(&mut client);
    let describe = |client: &mut RawClient| -> Option<String> {
        let request = DescribeConfigsRequest {
            resources: vec![DescribeConfigsResource {
                resource_type: BROKER,
                resource_name: StrBytes::from(node.to_string()),
                configuration_keys: Some(vec![StrBytes::from("default.replication.factor")]),
            }],
            include_synonyms: false,
            include_documentation: false,
        };
        let response: DescribeConfigsResponse = call(client, 4, &request);
        let result = &response.results[0];
        assert_eq!(result.error_code, ErrorCode::None);
        result
            .configs
            .first()
            .map(|entry| entry.value.as_deref().unwrap_or_default().to_owned())
    };
    assert_eq!(describe(&mut client).as_deref(), Some("1"));
    // Auto-creation (Metadata) places at the default factor.
    let created = metadata(&mut client, "auto", true);
    assert_eq!(created.topics[0].error_code, ErrorCode::None);
    assert!(!created.topics[0].partitions.is_empty());
    let request = IncrementalAlterConfigsRequest {
        resources: vec![AlterConfigsResource {
            resource_type: BROKER,
            resource_name: StrBytes::from(""),
            configs: vec![AlterableConfig {
                name: StrBytes::from("default.replication.factor"),
                config_operation: 0,
                value: Some(StrBytes::from("2")),
            }],
        }],
        validate_only: false,
    };
    let altered: IncrementalAlterConfigsResponse = call(&mut client, 1, &request);
    assert_eq!(altered.responses[0].error_code, ErrorCode::None);
    assert_eq!(describe(&mut client).as_deref(), Some("2"));
    // One broker cannot hold two replicas: -1 now means 2 and is refused.
    let response = create(&mut client, vec![creatable("by-default", 1, -1)], false);
    assert_eq!(
        response.topics[0].error_code,
        ErrorCode::InvalidReplicationFactor
    );
    let explicit = create(&mut client, vec![creatable("explicit", 1, 1)], false);
    assert_eq!(explicit.topics[0].error_code, ErrorCode::None);
}
