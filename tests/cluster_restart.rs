//! The metadata log across restarts of the real broker (one voter, the default): topics,
//! their configs and deletions survive kill -9 and clean restarts, recovered from the log's
//! snapshot plus the tail after it (`--quorum-snapshot-entries 16`, so a snapshot is taken
//! and the log below it purged), and the metadata log only grows (its snapshots' end
//! offsets never go back).
mod common;

use common::{Broker, BrokerOptions, RawClient};
use ringbroker::protocol::messages::create_topics::{
    CreatableTopic, CreatableTopicConfig, CreateTopicsRequest, CreateTopicsResponse,
};
use ringbroker::protocol::messages::delete_topics::{DeleteTopicsRequest, DeleteTopicsResponse};
use ringbroker::protocol::messages::describe_configs::{
    DescribeConfigsRequest, DescribeConfigsResource, DescribeConfigsResponse,
};
use ringbroker::protocol::messages::metadata::{MetadataRequest, MetadataResponse};
use ringbroker::protocol::{ErrorCode, StrBytes};
use std::path::Path;

/// Topics created before the first restart; with the first entry and the leaders' blank
/// entries that is past one snapshot interval of 16.
const TOPICS: usize = 24;

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

fn create(client: &mut RawClient, name: &str, partitions: i32, retention_ms: &str) {
    let request = CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: StrBytes::from(name),
            num_partitions: partitions,
            replication_factor: 1,
            configs: vec![CreatableTopicConfig {
                name: StrBytes::from("retention.ms"),
                value: Some(StrBytes::from(retention_ms)),
            }],
            ..CreatableTopic::default()
        }],
        timeout_ms: 10_000,
        validate_only: false,
    };
    let response: CreateTopicsResponse = call(client, 5, &request);
    assert_eq!(
        response.topics[0].error_code,
        ErrorCode::None,
        "{response:?}"
    );
}

fn delete(client: &mut RawClient, name: &str) {
    let request = DeleteTopicsRequest {
        topic_names: vec![StrBytes::from(name)],
        timeout_ms: 10_000,
        ..DeleteTopicsRequest::default()
    };
    let response: DeleteTopicsResponse = call(client, 4, &request);
    assert_eq!(
        response.responses[0].error_code,
        ErrorCode::None,
        "{response:?}"
    );
}

/// Every topic the broker lists, with its partition count, sorted by name.
fn topics(client: &mut RawClient) -> Vec<(String, usize)> {
    let request = MetadataRequest {
        topics: None,
        allow_auto_topic_creation: false,
        ..MetadataRequest::default()
    };
    let response: MetadataResponse = call(client, 9, &request);
    let mut listed: Vec<(String, usize)> = response
        .topics
        .iter()
        .filter(|topic| topic.error_code == ErrorCode::None)
        .filter_map(|topic| Some((topic.name.as_ref()?.to_string(), topic.partitions.len())))
        .filter(|(name, _)| !name.starts_with("__"))
        .collect();
    listed.sort();
    listed
}

fn retention_ms(client: &mut RawClient, name: &str) -> Option<String> {
    let request = DescribeConfigsRequest {
        resources: vec![DescribeConfigsResource {
            resource_type: 2,
            resource_name: StrBytes::from(name),
            configuration_keys: Some(vec![StrBytes::from("retention.ms")]),
        }],
        ..DescribeConfigsRequest::default()
    };
    let response: DescribeConfigsResponse = call(client, 1, &request);
    let result = response.results.first()?;
    assert_eq!(result.error_code, ErrorCode::None, "{response:?}");
    result
        .configs
        .iter()
        .find(|config| config.name.as_str() == "retention.ms")
        .and_then(|config| config.value.as_ref().map(ToString::to_string))
}

/// The end offset of the newest metadata log snapshot (`<end offset:020>-<term>.checkpoint`).
fn snapshot_end_offset(data: &Path) -> Option<u64> {
    std::fs::read_dir(data.join("__cluster_metadata-0"))
        .unwrap()
        .filter_map(|entry| {
            let name = entry.unwrap().file_name().into_string().ok()?;
            let stem = name.strip_suffix(".checkpoint")?;
            stem.split_once('-')?.0.parse().ok()
        })
        .max()
}

fn create_error(client: &mut RawClient, name: &str) -> ErrorCode {
    let request = CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: StrBytes::from(name),
            num_partitions: 1,
            replication_factor: 1,
            ..CreatableTopic::default()
        }],
        timeout_ms: 10_000,
        validate_only: false,
    };
    let response: CreateTopicsResponse = call(client, 5, &request);
    response.topics[0].error_code
}

#[test]
fn the_metadata_logs_name_is_not_a_topic_name() {
    let mut broker = Broker::start();
    let mut client = broker.client();
    let code = create_error(&mut client, "__cluster_metadata");
    assert_eq!(code, ErrorCode::InvalidTopicException);
    create(&mut client, "kept", 1, "5");
    drop(client);
    broker.restart();
    let mut client = broker.client();
    assert_eq!(topics(&mut client), vec![("kept".to_owned(), 1)]);
}

fn name(index: usize) -> String {
    format!("topic-{index:02}")
}

#[test]
fn topics_configs_and_deletions_survive_kill9_and_clean_restarts() {
    let mut broker = Broker::start_with(BrokerOptions {
        extra_args: vec!["--quorum-snapshot-entries".to_owned(), "16".to_owned()],
        ..BrokerOptions::default()
    });
    let mut client = broker.client();
    for index in 0..TOPICS {
        let partitions = i32::try_from(index % 3 + 1).unwrap();
        create(
            &mut client,
            &name(index),
            partitions,
            &format!("{}", 1000 + index),
        );
    }
    delete(&mut client, &name(0));
    let expected: Vec<(String, usize)> = (1..TOPICS).map(|i| (name(i), i % 3 + 1)).collect();
    assert_eq!(topics(&mut client), expected);
    drop(client);
    let data = broker.data_dir();
    let first_snapshot = snapshot_end_offset(&data).expect("a snapshot after 16 entries");

    broker.kill9();
    broker.start_again();
    let mut client = broker.client();
    assert_eq!(topics(&mut client), expected, "after kill -9");
    assert_eq!(retention_ms(&mut client, &name(5)).as_deref(), Some("1005"));
    // A change after the restart lands on top of the recovered state.
    create(&mut client, "after-crash", 2, "7");
    drop(client);

    broker.restart();
    let mut client = broker.client();
    let mut with_new = expected.clone();
    with_new.push(("after-crash".to_owned(), 2));
    with_new.sort();
    assert_eq!(topics(&mut client), with_new, "after a clean restart");
    assert_eq!(
        retention_ms(&mut client, "after-crash").as_deref(),
        Some("7")
    );
    assert_eq!(
        retention_ms(&mut client, &name(TOPICS - 1)).as_deref(),
        Some("1023")
    );
    // Recreating a deleted topic's name works: the deletion was recovered too.
    create(&mut client, &name(0), 1, "1");
    drop(client);
    let last_snapshot = snapshot_end_offset(&data).expect("still a snapshot");
    assert!(
        last_snapshot >= first_snapshot,
        "the metadata log went back: {last_snapshot} < {first_snapshot}"
    );
}

/// KIP-966's clean-shutdown marker: a SIGTERM leaves `<data>/clean-shutdown` naming the broker
/// epoch the run registered with; the next start takes it (removes it before serving), so a
/// kill -9 then leaves none and the start after that counts as unclean.
#[test]
fn a_clean_stop_leaves_the_clean_shutdown_marker_and_a_start_takes_it() {
    let marker = |broker: &Broker| broker.data_dir().join("clean-shutdown");
    let epoch = |broker: &Broker| -> Option<i64> {
        let text = std::fs::read_to_string(marker(broker)).ok()?;
        text.lines()
            .find_map(|line| line.strip_prefix("broker.epoch="))
            .and_then(|value| value.parse().ok())
    };
    let mut broker = Broker::spawn(BrokerOptions::default());
    broker.wait_ready();
    assert!(!marker(&broker).exists(), "a first start has no marker");
    assert!(broker.terminate().success());
    let first = epoch(&broker).expect("a SIGTERM stop writes the marker with the epoch");
    assert!(first >= 0);
    broker.spawn_again();
    broker.wait_ready();
    assert!(!marker(&broker).exists(), "the start took the marker");
    broker.kill9();
    assert!(!marker(&broker).exists(), "kill -9 leaves no marker");
    broker.spawn_again();
    broker.wait_ready();
    assert!(broker.terminate().success());
    let second = epoch(&broker).expect("marker after the second clean stop");
    assert!(
        second > first,
        "each registration has a newer epoch: {first} then {second}"
    );
}
