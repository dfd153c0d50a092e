//! Admin APIs against the real broker: librdkafka's AdminClient (via `rdkafka`) where it has
//! the call, raw frames through our codec where it does not (IncrementalAlterConfigs,
//! DescribeCluster, OffsetForLeaderEpoch, CreateTopics v7 fields, DeleteTopics by id).
//!
//! Each test starts its own broker (2 shards) on loopback and keeps its data small.
mod common;

use common::{admin, block};

use common::{Broker, RawClient};
use rdkafka::ClientConfig;
use rdkafka::Message as _;
use rdkafka::admin::{
    AdminClient, AdminOptions, ConfigSource, NewPartitions, NewTopic, ResourceSpecifier,
    TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use ringbroker::protocol::messages::create_topics::{
    CreatableTopic, CreatableTopicConfig, CreateTopicsRequest, CreateTopicsResponse,
};
use ringbroker::protocol::messages::delete_records::{
    DeleteRecordsPartition, DeleteRecordsRequest, DeleteRecordsResponse, DeleteRecordsTopic,
};
use ringbroker::protocol::messages::delete_topics::{
    DeleteTopicState, DeleteTopicsRequest, DeleteTopicsResponse,
};
use ringbroker::protocol::messages::describe_cluster::{
    DescribeClusterRequest, DescribeClusterResponse,
};
use ringbroker::protocol::messages::describe_configs::{
    DescribeConfigsRequest, DescribeConfigsResource, DescribeConfigsResponse,
};
use ringbroker::protocol::messages::describe_log_dirs::{
    DescribableLogDirTopic, DescribeLogDirsRequest, DescribeLogDirsResponse,
};
use ringbroker::protocol::messages::incremental_alter_configs::{
    AlterConfigsResource, AlterableConfig, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
};
use ringbroker::protocol::messages::metadata::{
    MetadataRequest, MetadataRequestTopic, MetadataResponse,
};
use ringbroker::protocol::messages::offset_for_leader_epoch::{
    OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse, OffsetForLeaderPartition,
    OffsetForLeaderTopic,
};
use ringbroker::protocol::{ErrorCode, StrBytes, Uuid};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(20);

fn options() -> AdminOptions {
    AdminOptions::new().request_timeout(Some(TIMEOUT))
}

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

fn partition_count(client: &mut RawClient, topic: &str) -> Option<usize> {
    let request = MetadataRequest {
        topics: Some(vec![MetadataRequestTopic {
            name: Some(StrBytes::from(topic)),
            ..MetadataRequestTopic::default()
        }]),
        allow_auto_topic_creation: false,
        ..MetadataRequest::default()
    };
    let response: MetadataResponse = call(client, 12, &request);
    let found = &response.topics[0];
    (found.error_code == ErrorCode::None).then_some(found.partitions.len())
}

fn creatable(name: &str, num_partitions: i32, replication_factor: i16) -> CreatableTopic {
    CreatableTopic {
        name: StrBytes::from(name),
        num_partitions,
        replication_factor,
        ..CreatableTopic::default()
    }
}

/// Creates `name` (replication factor 1) through CreateTopics v5; it must succeed.
fn create_topic(client: &mut RawClient, name: &str, num_partitions: i32) {
    let create = CreateTopicsRequest {
        topics: vec![creatable(name, num_partitions, 1)],
        timeout_ms: 10_000,
        validate_only: false,
    };
    let created: CreateTopicsResponse = call(client, 5, &create);
    assert_eq!(created.topics[0].error_code, ErrorCode::None);
}

/// librdkafka's per-topic answer for a refusal.
fn refused(name: &str, code: RDKafkaErrorCode) -> Vec<rdkafka::admin::TopicResult> {
    vec![Err((name.to_owned(), code))]
}

#[test]
fn create_grow_and_delete_topics() {
    let broker = Broker::start();
    let admin = admin(&broker);
    let mut client = broker.client();
    let orders =
        NewTopic::new("orders", 3, TopicReplication::Fixed(1)).set("retention.ms", "60000");
    let created = block(admin.create_topics([&orders], &options())).unwrap();
    assert_eq!(created, vec![Ok("orders".to_owned())]);
    let again = block(admin.create_topics([&orders], &options())).unwrap();
    assert_eq!(
        again,
        refused("orders", RDKafkaErrorCode::TopicAlreadyExists)
    );
    let replicated = NewTopic::new("replicated", 1, TopicReplication::Fixed(3));
    let answer = block(admin.create_topics([&replicated], &options())).unwrap();
    let invalid_factor = RDKafkaErrorCode::InvalidReplicationFactor;
    assert_eq!(answer, refused("replicated", invalid_factor));
    let checked = NewTopic::new("checked", 2, TopicReplication::Fixed(1));
    let validate = options().validate_only(true);
    assert!(block(admin.create_topics([&checked], &validate)).unwrap()[0].is_ok());
    assert_eq!(
        partition_count(&mut client, "checked"),
        None,
        "validate_only"
    );

    let grow = NewPartitions::new("orders", 5);
    let grown = block(admin.create_partitions([&grow], &options())).unwrap();
    assert_eq!(grown, vec![Ok("orders".to_owned())]);
    assert_eq!(partition_count(&mut client, "orders"), Some(5));
    for count in [2, 5] {
        let shrink = NewPartitions::new("orders", count);
        let answer = block(admin.create_partitions([&shrink], &options())).unwrap();
        let expected = refused("orders", RDKafkaErrorCode::InvalidPartitions);
        assert_eq!(answer, expected, "{count} partitions");
    }
    let grow_checked = NewPartitions::new("orders", 8);
    assert!(block(admin.create_partitions([&grow_checked], &validate)).unwrap()[0].is_ok());
    assert_eq!(
        partition_count(&mut client, "orders"),
        Some(5),
        "validate_only"
    );

    let deleted = block(admin.delete_topics(&["orders"], &options())).unwrap();
    assert_eq!(deleted, vec![Ok("orders".to_owned())]);
    assert_eq!(partition_count(&mut client, "orders"), None);
    let gone = block(admin.delete_topics(&["orders"], &options())).unwrap();
    assert_eq!(
        gone,
        refused("orders", RDKafkaErrorCode::UnknownTopicOrPartition)
    );
}

#[test]
fn create_topics_v7_fields_and_delete_by_id() {
    let broker = Broker::start();
    let mut client = broker.client();
    let mut with_config = creatable("fresh", -1, -1);
    with_config.configs = vec![CreatableTopicConfig {
        name: StrBytes::from("segment.bytes"),
        value: Some(StrBytes::from("65536")),
    }];
    let request = CreateTopicsRequest {
        topics: vec![
            creatable("twice", 1, 1),
            creatable("twice", 2, 1),
            creatable("bad/name", 1, 1),
            creatable("zero", 0, 1),
            with_config,
        ],
        timeout_ms: 10_000,
        validate_only: false,
    };
    let response: CreateTopicsResponse = call(&mut client, 7, &request);
    let codes: Vec<(&str, ErrorCode)> = response
        .topics
        .iter()
        .map(|topic| (topic.name.as_str(), topic.error_code))
        .collect();
    assert_eq!(
        codes,
        vec![
            ("twice", ErrorCode::InvalidRequest),
            ("bad/name", ErrorCode::InvalidTopicException),
            ("zero", ErrorCode::InvalidPartitions),
            ("fresh", ErrorCode::None),
        ]
    );
    let fresh = &response.topics[3];
    assert!(!fresh.topic_id.is_zero());
    assert_eq!(fresh.num_partitions, 1, "broker default partitions");
    assert_eq!(fresh.replication_factor, 1);
    let configs = fresh.configs.as_ref().unwrap();
    let segment = configs
        .iter()
        .find(|config| config.name.as_str() == "segment.bytes")
        .unwrap();
    assert_eq!(segment.value.as_deref(), Some("65536"));
    assert_eq!(segment.config_source, 1, "DYNAMIC_TOPIC_CONFIG");
    assert_eq!(partition_count(&mut client, "twice"), None);

    let delete = |id: Uuid| DeleteTopicsRequest {
        topics: vec![DeleteTopicState {
            name: None,
            topic_id: id,
        }],
        timeout_ms: 10_000,
        ..DeleteTopicsRequest::default()
    };
    let deleted: DeleteTopicsResponse = call(&mut client, 6, &delete(fresh.topic_id));
    assert_eq!(deleted.responses[0].error_code, ErrorCode::None);
    assert_eq!(deleted.responses[0].name.as_deref(), Some("fresh"));
    assert_eq!(partition_count(&mut client, "fresh"), None);
    let again: DeleteTopicsResponse = call(&mut client, 6, &delete(fresh.topic_id));
    assert_eq!(again.responses[0].error_code, ErrorCode::UnknownTopicId);
}

#[test]
fn delete_topics_v6_refuses_ambiguous_entries() {
    let broker = Broker::start();
    let mut client = broker.client();
    let create = CreateTopicsRequest {
        topics: vec![creatable("pair", 1, 1)],
        timeout_ms: 10_000,
        validate_only: false,
    };
    let created: CreateTopicsResponse = call(&mut client, 7, &create);
    let pair_id = created.topics[0].topic_id;
    assert!(!pair_id.is_zero());
    let state = |name: Option<&str>, topic_id| DeleteTopicState {
        name: name.map(StrBytes::from),
        topic_id,
    };
    let request = DeleteTopicsRequest {
        topics: vec![
            state(Some("pair"), Uuid::ZERO),
            state(None, pair_id),
            state(Some("pair"), pair_id),
            state(None, Uuid::ZERO),
            state(Some("never"), Uuid::ZERO),
        ],
        timeout_ms: 10_000,
        ..DeleteTopicsRequest::default()
    };
    let response: DeleteTopicsResponse = call(&mut client, 6, &request);
    let codes: Vec<ErrorCode> = response.responses.iter().map(|r| r.error_code).collect();
    let expected = [
        ErrorCode::InvalidRequest,
        ErrorCode::None,
        ErrorCode::InvalidRequest,
        ErrorCode::InvalidRequest,
        ErrorCode::UnknownTopicOrPartition,
    ];
    assert_eq!(codes, expected);
    assert_eq!(partition_count(&mut client, "pair"), None, "deleted by id");
}

#[test]
fn describe_cluster_names_this_broker() {
    let broker = Broker::start();
    let mut client = broker.client();
    let response: DescribeClusterResponse =
        call(&mut client, 1, &DescribeClusterRequest::default());
    assert_eq!(response.error_code, ErrorCode::None);
    assert_eq!(response.brokers.len(), 1);
    assert_eq!(response.brokers[0].port, i32::from(broker.address.port()));
    assert_eq!(response.controller_id, response.brokers[0].broker_id);
    assert_eq!(response.cluster_id.len(), 22);
    let controllers = DescribeClusterRequest {
        endpoint_type: 2,
        ..DescribeClusterRequest::default()
    };
    let refused: DescribeClusterResponse = call(&mut client, 1, &controllers);
    assert_eq!(refused.error_code, ErrorCode::MismatchedEndpointType);
    assert!(refused.brokers.is_empty());
}

#[test]
fn describe_log_dirs_reports_partition_sizes() {
    let broker = Broker::start();
    let mut client = broker.client();
    create_topic(&mut client, "sized", 3);
    produce(&broker, "sized", 5, now_ms());

    // Null topics: every partition of every topic, whichever shard owns it.
    let all: DescribeLogDirsResponse =
        call(&mut client, 4, &DescribeLogDirsRequest { topics: None });
    assert_eq!(all.error_code, ErrorCode::None);
    assert_eq!(all.results.len(), 1);
    let dir = &all.results[0];
    assert_eq!(dir.error_code, ErrorCode::None);
    assert!(std::path::Path::new(dir.log_dir.as_str()).is_absolute());
    assert!(dir.total_bytes > 0 && (0..=dir.total_bytes).contains(&dir.usable_bytes));
    let topic = dir
        .topics
        .iter()
        .find(|t| t.name.as_str() == "sized")
        .unwrap();
    let mut indexes: Vec<i32> = topic.partitions.iter().map(|p| p.partition_index).collect();
    indexes.sort_unstable();
    assert_eq!(indexes, [0, 1, 2]);
    let size = |index: i32| {
        let found = topic.partitions.iter().find(|p| p.partition_index == index);
        found.unwrap().partition_size
    };
    assert!(size(0) > size(1), "{topic:?}");
    assert!(
        topic
            .partitions
            .iter()
            .all(|p| p.offset_lag == 0 && !p.is_future_key)
    );

    // Named partitions; unknown topics and partitions are left out, as Kafka does.
    let named = DescribeLogDirsRequest {
        topics: Some(vec![
            DescribableLogDirTopic {
                topic: StrBytes::from("sized"),
                partitions: vec![0, 7],
            },
            DescribableLogDirTopic {
                topic: StrBytes::from("nope"),
                partitions: vec![0],
            },
        ]),
    };
    let some: DescribeLogDirsResponse = call(&mut client, 2, &named);
    let topics = &some.results[0].topics;
    assert_eq!(topics.len(), 1);
    assert_eq!(topics[0].partitions.len(), 1);
    assert_eq!(topics[0].partitions[0].partition_size, size(0));
    // Before v4 the volume sizes are not on the wire.
    assert_eq!(some.results[0].total_bytes, -1);
}

fn alter(
    client: &mut RawClient,
    resource_type: i8,
    name: &str,
    changes: &[(&str, i8, Option<&str>)],
    validate_only: bool,
) -> ErrorCode {
    let request = IncrementalAlterConfigsRequest {
        resources: vec![AlterConfigsResource {
            resource_type,
            resource_name: StrBytes::from(name),
            configs: changes
                .iter()
                .map(|(name, config_operation, value)| AlterableConfig {
                    name: StrBytes::from(*name),
                    config_operation: *config_operation,
                    value: value.map(StrBytes::from),
                })
                .collect(),
        }],
        validate_only,
    };
    let response: IncrementalAlterConfigsResponse = call(client, 1, &request);
    response.responses[0].error_code
}

/// (value, source) of each named config of a resource, via librdkafka's DescribeConfigs.
fn described(
    admin: &AdminClient<DefaultClientContext>,
    resource: ResourceSpecifier<'_>,
    names: &[&str],
) -> Vec<(Option<String>, ConfigSource)> {
    let results = block(admin.describe_configs([&resource], &options())).unwrap();
    let resource = results.into_iter().next().unwrap().unwrap();
    names
        .iter()
        .map(|name| {
            let entry = resource
                .entries
                .iter()
                .find(|entry| entry.name == *name)
                .unwrap_or_else(|| panic!("{name} not described"));
            let source = match entry.source {
                ConfigSource::DynamicTopic => ConfigSource::DynamicTopic,
                ConfigSource::DynamicDefaultBroker => ConfigSource::DynamicDefaultBroker,
                ConfigSource::StaticBroker => ConfigSource::StaticBroker,
                ConfigSource::Default => ConfigSource::Default,
                _ => ConfigSource::Unknown,
            };
            (entry.value.clone(), source)
        })
        .collect()
}

fn produce(broker: &Broker, topic: &str, count: usize, base_ms: i64) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.address.to_string())
        .set("linger.ms", "1")
        .set("message.timeout.ms", "20000")
        .create()
        .expect("producer");
    for index in 0..count {
        let value = format!("value-{index}");
        let timestamp = base_ms + i64::try_from(index).unwrap() * 1000;
        let record = BaseRecord::<(), _>::to(topic)
            .payload(&value)
            .partition(0)
            .timestamp(timestamp);
        producer.send(record).map_err(|(error, _)| error).unwrap();
    }
    producer.flush(TIMEOUT).expect("flush");
}

/// The offsets and payloads of `topic`-0 from the beginning, until `count` arrived.
fn consume(broker: &Broker, topic: &str, count: usize) -> Vec<(i64, String)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.address.to_string())
        .set("group.id", "unused-manual-assignment")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let mut received = Vec::new();
    while received.len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} consumed",
            received.len()
        );
        if let Some(message) = consumer.poll(Duration::from_millis(200)) {
            let message = message.expect("consume");
            let payload = String::from_utf8(message.payload().unwrap().to_vec()).unwrap();
            received.push((message.offset(), payload));
        }
    }
    received
}

fn now_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(now.as_millis()).unwrap()
}

/// Changes IncrementalAlterConfigs must refuse (or only validate); none may take effect.
fn assert_refused_alters(client: &mut RawClient) {
    let twice = AlterConfigsResource {
        resource_type: 2,
        resource_name: StrBytes::from("cfg"),
        configs: vec![AlterableConfig {
            name: StrBytes::from("retention.ms"),
            config_operation: 0,
            value: Some(StrBytes::from("1")),
        }],
    };
    let request = IncrementalAlterConfigsRequest {
        resources: vec![twice.clone(), twice],
        validate_only: false,
    };
    let response: IncrementalAlterConfigsResponse = call(client, 0, &request);
    let codes: Vec<ErrorCode> = response.responses.iter().map(|r| r.error_code).collect();
    assert_eq!(
        codes,
        [ErrorCode::InvalidRequest, ErrorCode::InvalidRequest]
    );
    assert_eq!(
        alter(
            client,
            2,
            "cfg",
            &[("retention.ms", 0, Some("soon"))],
            false
        ),
        ErrorCode::InvalidConfig
    );
    assert_eq!(
        alter(client, 2, "cfg", &[("retention.ms", 2, Some("1"))], false),
        ErrorCode::InvalidConfig,
        "APPEND on a non-list config"
    );
    assert_eq!(
        alter(client, 2, "cfg", &[("retention.ms", 0, Some("1"))], true),
        ErrorCode::None,
        "validate_only"
    );
    assert_eq!(
        alter(client, 2, "nope", &[("retention.ms", 0, Some("1"))], false),
        ErrorCode::UnknownTopicOrPartition
    );
    assert_eq!(
        alter(client, 4, "", &[("listeners", 0, Some("x"))], false),
        ErrorCode::InvalidRequest
    );
}

#[test]
fn configs_and_data_survive_a_restart() {
    let mut broker = Broker::start();
    let mut client = broker.client();
    let cluster: DescribeClusterResponse = call(&mut client, 1, &DescribeClusterRequest::default());
    let node_id = cluster.brokers[0].broker_id;
    let admin = admin(&broker);
    let topic = NewTopic::new("cfg", 1, TopicReplication::Fixed(1)).set("segment.bytes", "65536");
    assert!(block(admin.create_topics([&topic], &options())).unwrap()[0].is_ok());

    assert_refused_alters(&mut client);
    let names = ["segment.bytes", "retention.ms", "retention.bytes"];
    let before = described(&admin, ResourceSpecifier::Topic("cfg"), &names);
    assert_eq!(
        before[0],
        (Some("65536".into()), ConfigSource::DynamicTopic)
    );
    assert_eq!(before[1], (Some("604800000".into()), ConfigSource::Default));

    let changes = [
        ("retention.ms", 0, Some("86400000")),
        ("segment.bytes", 1, None),
    ];
    assert_eq!(
        alter(&mut client, 2, "cfg", &changes, false),
        ErrorCode::None
    );
    let broker_change = [("log.retention.bytes", 0, Some("1048576"))];
    let node = node_id.to_string();
    assert_eq!(
        alter(&mut client, 4, &node, &broker_change, false),
        ErrorCode::None
    );
    let expected = vec![
        (Some("1073741824".into()), ConfigSource::Default),
        (Some("86400000".into()), ConfigSource::DynamicTopic),
        (Some("1048576".into()), ConfigSource::DynamicDefaultBroker),
    ];
    assert_eq!(
        described(&admin, ResourceSpecifier::Topic("cfg"), &names),
        expected
    );
    let broker_names = ["log.retention.bytes", "listeners"];
    let broker_configs = described(&admin, ResourceSpecifier::Broker(node_id), &broker_names);
    assert_eq!(broker_configs[0].0.as_deref(), Some("1048576"));
    assert_eq!(broker_configs[1].1, ConfigSource::StaticBroker);

    let base_ms = now_ms();
    produce(&broker, "cfg", 20, base_ms);
    drop(admin);
    drop(client);
    broker.restart();

    let admin = self::admin(&broker);
    assert_eq!(
        described(&admin, ResourceSpecifier::Topic("cfg"), &names),
        expected
    );
    let records = consume(&broker, "cfg", 20);
    let expected_records: Vec<(i64, String)> = (0..20)
        .map(|index| (index, format!("value-{index}")))
        .collect();
    assert_eq!(records, expected_records);
}

/// A broker with topic "rec" (one partition) holding 10 records one second apart from the
/// returned base timestamp.
fn broker_with_records() -> (Broker, AdminClient<DefaultClientContext>, i64) {
    let broker = Broker::start();
    let admin = admin(&broker);
    let topic = NewTopic::new("rec", 1, TopicReplication::Fixed(1));
    assert!(block(admin.create_topics([&topic], &options())).unwrap()[0].is_ok());
    let base_ms = now_ms();
    produce(&broker, "rec", 10, base_ms);
    (broker, admin, base_ms)
}

#[test]
fn offsets_for_times_finds_records_by_timestamp() {
    let (broker, _admin, base_ms) = broker_with_records();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.address.to_string())
        .set("group.id", "unused")
        .create()
        .unwrap();
    let lookup = |timestamp: i64| {
        let mut list = TopicPartitionList::new();
        list.add_partition_offset("rec", 0, Offset::Offset(timestamp))
            .unwrap();
        let found = consumer.offsets_for_times(list, TIMEOUT).unwrap();
        found.find_partition("rec", 0).unwrap().offset()
    };
    assert_eq!(lookup(base_ms + 3500), Offset::Offset(4));
    assert_eq!(lookup(base_ms + 3000), Offset::Offset(3));
    assert_eq!(lookup(base_ms - 60_000), Offset::Offset(0));
    assert_eq!(lookup(base_ms + 60_000), Offset::End, "no record that late");
}

#[test]
fn offset_for_leader_epoch_answers_end_offsets() {
    let (broker, _admin, _) = broker_with_records();
    let mut client = broker.client();
    let epochs = |current_leader_epoch: i32, leader_epoch: i32, partition: i32| {
        OffsetForLeaderEpochRequest {
            replica_id: -1,
            topics: vec![OffsetForLeaderTopic {
                topic: StrBytes::from("rec"),
                partitions: vec![OffsetForLeaderPartition {
                    partition,
                    current_leader_epoch,
                    leader_epoch,
                }],
            }],
        }
    };
    let mut ask = |version, request: OffsetForLeaderEpochRequest| {
        let answer: OffsetForLeaderEpochResponse = call(&mut client, version, &request);
        let end = &answer.topics[0].partitions[0];
        (end.error_code, end.leader_epoch, end.end_offset)
    };
    assert_eq!(ask(4, epochs(0, 0, 0)), (ErrorCode::None, 0, 10));
    assert_eq!(ask(2, epochs(-1, 0, 0)), (ErrorCode::None, 0, 10));
    assert_eq!(
        ask(4, epochs(0, -1, 0)),
        (ErrorCode::None, -1, -1),
        "undefined"
    );
    assert_eq!(ask(4, epochs(1, 0, 0)).0, ErrorCode::UnknownLeaderEpoch);
    assert_eq!(ask(4, epochs(-3, 0, 0)).0, ErrorCode::FencedLeaderEpoch);
    assert_eq!(
        ask(3, epochs(-1, 0, 9)).0,
        ErrorCode::UnknownTopicOrPartition
    );
}

#[test]
fn delete_records_moves_the_log_start() {
    let (broker, admin, _) = broker_with_records();
    let mut cut = TopicPartitionList::new();
    cut.add_partition_offset("rec", 0, Offset::Offset(4))
        .unwrap();
    let result = block(admin.delete_records(&cut, &options())).unwrap();
    let element = result.find_partition("rec", 0).unwrap();
    assert!(element.error().is_ok(), "{:?}", element.error());
    assert_eq!(element.offset(), Offset::Offset(4), "low watermark");
    let records = consume(&broker, "rec", 6);
    let offsets: Vec<i64> = records.iter().map(|(offset, _)| *offset).collect();
    assert_eq!(offsets, (4..10).collect::<Vec<i64>>());

    let mut client = broker.client();
    let delete = |offset: i64| DeleteRecordsRequest {
        topics: vec![DeleteRecordsTopic {
            name: StrBytes::from("rec"),
            partitions: vec![DeleteRecordsPartition {
                partition_index: 0,
                offset,
            }],
        }],
        timeout_ms: 10_000,
    };
    let mut ask = |offset| {
        let answer: DeleteRecordsResponse = call(&mut client, 2, &delete(offset));
        let partition = &answer.topics[0].partitions[0];
        (partition.error_code, partition.low_watermark)
    };
    assert_eq!(ask(11), (ErrorCode::OffsetOutOfRange, -1));
    assert_eq!(ask(-2), (ErrorCode::OffsetOutOfRange, -1));
    assert_eq!(
        ask(2),
        (ErrorCode::None, 4),
        "behind the log start: no change"
    );
    assert_eq!(ask(-1), (ErrorCode::None, 10), "-1 is the high watermark");
}

#[test]
fn describe_configs_v4_filters_and_refuses() {
    let broker = Broker::start();
    let mut client = broker.client();
    create_topic(&mut client, "described", 1);
    let resource =
        |resource_type: i8, name: &str, keys: Option<Vec<StrBytes>>| DescribeConfigsResource {
            resource_type,
            resource_name: StrBytes::from(name),
            configuration_keys: keys,
        };
    let retention = Some(vec![StrBytes::from("retention.ms")]);
    let request = DescribeConfigsRequest {
        resources: vec![
            resource(2, "described", retention),
            resource(2, "missing", None),
            resource(4, "99", None),
            resource(8, "0", None),
            resource(4, "", None),
        ],
        include_synonyms: true,
        include_documentation: true,
    };
    let described: DescribeConfigsResponse = call(&mut client, 4, &request);
    let codes: Vec<ErrorCode> = described.results.iter().map(|r| r.error_code).collect();
    let expected = [
        ErrorCode::None,
        ErrorCode::UnknownTopicOrPartition,
        ErrorCode::InvalidRequest,
        ErrorCode::InvalidRequest,
        ErrorCode::None,
    ];
    assert_eq!(codes, expected);
    let configs = &described.results[0].configs;
    assert_eq!(configs.len(), 1, "configuration_keys filter");
    let entry = &configs[0];
    assert_eq!(entry.value.as_deref(), Some("604800000"));
    assert_eq!(
        (entry.config_source, entry.config_type),
        (5, 5),
        "DEFAULT_CONFIG, LONG"
    );
    assert!(!entry.read_only && !entry.is_sensitive);
    assert!(
        entry
            .documentation
            .as_ref()
            .is_some_and(|doc| !doc.is_empty())
    );
    let synonyms: Vec<(&str, i8)> = entry
        .synonyms
        .iter()
        .map(|synonym| (synonym.name.as_str(), synonym.source))
        .collect();
    assert_eq!(synonyms, [("log.retention.ms", 5)]);
    assert!(
        described.results[4].configs.is_empty(),
        "no cluster defaults set"
    );
}
