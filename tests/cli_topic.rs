//! `ringbroker topic …` against the real binary: each command is run as a process against a
//! running broker (tests/common), and its exit code and printed tables are checked.
//!
//! Every command runs against the broker's own admin handlers (CreateTopics, DeleteTopics,
//! CreatePartitions, DescribeConfigs, IncrementalAlterConfigs, Metadata, ListOffsets).
mod common;

use bytes::BytesMut;
use common::{Broker, free_address};
use ringbroker::client::connection::Connection;
use ringbroker::protocol::ApiKey;
use ringbroker::protocol::messages::metadata::{
    MetadataRequest, MetadataRequestTopic, MetadataResponse,
};
use ringbroker::protocol::messages::produce::{
    PartitionProduceData, ProduceRequest, ProduceResponse, TopicProduceData,
};
use ringbroker::protocol::records::{BatchBuilder, BatchOptions, NewRecord};
use ringbroker::protocol::{ErrorCode, StrBytes};
use std::process::Command;

/// What one `ringbroker …` run printed.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn ringbroker(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_ringbroker"))
        .args(args)
        .output()
        .expect("run ringbroker");
    Run {
        code: output.status.code().expect("exited, not signalled"),
        stdout: String::from_utf8(output.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(output.stderr).expect("utf-8 stderr"),
    }
}

/// `ringbroker topic ACTION --bootstrap ADDRESS ARGS…`, printed for the test log.
fn topic(broker: &Broker, action: &str, args: &[&str]) -> Run {
    let address = broker.address.to_string();
    let mut all = vec!["topic", action, "--bootstrap", address.as_str()];
    all.extend_from_slice(args);
    let run = ringbroker(&all);
    println!(
        "$ ringbroker {}\n{}{}(exit {})",
        all.join(" "),
        run.stdout,
        run.stderr,
        run.code
    );
    run
}

/// The data row of `table` whose first cell is `first`, split into cells.
fn row<'a>(table: &'a str, first: &str) -> Vec<&'a str> {
    table
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.first() == Some(&first))
        .unwrap_or_else(|| panic!("no row {first} in:\n{table}"))
}

/// Produces `count` records to `partition` of `topic` through our own client.
fn produce(broker: &Broker, topic: &str, partition: i32, count: usize) {
    let mut connection = Connection::connect(&broker.address.to_string(), "cli-test").unwrap();
    let versions = connection.api_versions("cli-test").unwrap();
    // v13 names topics by id; by name is simpler here.
    let version = versions.need(ApiKey::Produce).unwrap().min(12);
    let (mut output, mut scratch) = (BytesMut::new(), BytesMut::new());
    let mut builder = BatchBuilder::new(&mut output, &mut scratch, BatchOptions::default());
    for _ in 0..count {
        let record = NewRecord {
            value: Some(b"value"),
            ..Default::default()
        };
        builder.append(&record).unwrap();
    }
    builder.finish().unwrap();
    let request = ProduceRequest {
        transactional_id: None,
        acks: -1,
        timeout_ms: 10_000,
        topic_data: vec![TopicProduceData {
            name: StrBytes::from(topic),
            partition_data: vec![PartitionProduceData {
                index: partition,
                records: Some(output.freeze()),
            }],
            ..Default::default()
        }],
    };
    let response: ProduceResponse = connection.call(version, &request).unwrap();
    let error = response.responses[0].partition_responses[0].error_code;
    assert_eq!(error, ErrorCode::None);
}

/// Creates `topic` with the broker's default partition count (auto-creation through Metadata).
fn auto_create(broker: &Broker, topic: &str) {
    let mut connection = Connection::connect(&broker.address.to_string(), "cli-test").unwrap();
    let versions = connection.api_versions("cli-test").unwrap();
    let request = MetadataRequest {
        topics: Some(vec![MetadataRequestTopic {
            name: Some(StrBytes::from(topic)),
            ..Default::default()
        }]),
        allow_auto_topic_creation: true,
        ..Default::default()
    };
    let version = versions.need(ApiKey::Metadata).unwrap();
    let created = common::eventually(std::time::Duration::from_secs(10), || {
        let response: MetadataResponse = connection.call(version, &request).unwrap();
        response.topics[0].error_code == ErrorCode::None
            && response.topics[0]
                .partitions
                .iter()
                .all(|p| p.leader_id >= 0)
    });
    assert!(created, "{topic} was not auto-created");
}

#[test]
fn list_and_describe_an_auto_created_topic() {
    let broker = Broker::start();
    let empty = topic(&broker, "list", &[]);
    assert_eq!(empty.code, 0, "{}", empty.stderr);
    assert_eq!(empty.stdout, "TOPIC  PARTITIONS  REPLICATION-FACTOR\n");

    auto_create(&broker, "auto");
    produce(&broker, "auto", 0, 3);
    let list = topic(&broker, "list", &[]);
    assert_eq!(row(&list.stdout, "auto"), ["auto", "1", "1"]);

    let describe = topic(&broker, "describe", &["auto"]);
    assert_eq!(describe.code, 0, "{}", describe.stderr);
    let summary = describe.stdout.lines().next().unwrap();
    assert!(summary.starts_with("Topic: auto  TopicId: "), "{summary}");
    assert!(
        summary.ends_with("PartitionCount: 1  ReplicationFactor: 1"),
        "{summary}"
    );
    assert_eq!(
        row(&describe.stdout, "0")[..6],
        ["0", "0", "0", "0", "0", "3"]
    );
    // Describing every topic (no names) finds the same one.
    let all = topic(&broker, "describe", &[]);
    assert_eq!(all.stdout, describe.stdout);

    let unknown = topic(&broker, "describe", &["nope"]);
    assert_eq!(unknown.code, 1);
    assert!(
        unknown
            .stdout
            .contains("topic nope: UNKNOWN_TOPIC_OR_PARTITION"),
        "{}",
        unknown.stdout
    );
}

#[test]
fn help_lists_every_topic_command() {
    let run = ringbroker(&["topic", "--help"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for command in [
        "topic list",
        "topic describe",
        "topic create",
        "topic delete",
        "topic add-partitions",
        "topic config",
        "--bootstrap",
    ] {
        assert!(
            run.stdout.contains(command),
            "{command} missing:\n{}",
            run.stdout
        );
    }
}

#[test]
fn an_unreachable_broker_fails_naming_the_address() {
    let address = free_address().to_string();
    let run = ringbroker(&["topic", "list", "--bootstrap", &address]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(&format!("connecting to {address}")),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

#[test]
fn bad_arguments_fail_before_connecting() {
    // Port 1 would refuse; the argument errors must come first.
    for (args, expected) in [
        (&["topic", "create"][..], "wrong number of topic names"),
        (
            &["topic", "list", "--partitons", "3"][..],
            "unknown flag --partitons",
        ),
        (&["topic", "config", "t", "--set", "x"][..], "KEY=VALUE"),
        (&["topic", "add-partitions", "t"][..], "needs --partitions"),
        (&["topic", "rename", "t"][..], "unknown command"),
    ] {
        let mut all = args.to_vec();
        all.extend(["--bootstrap", "127.0.0.1:1"]);
        let run = ringbroker(&all);
        assert_eq!(run.code, 1, "{args:?}");
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn create_list_and_delete() {
    let broker = Broker::start();
    let run = topic(&broker, "create", &["orders", "--partitions", "2"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "Created topic orders.\n");

    let again = topic(&broker, "create", &["orders", "--partitions", "2"]);
    assert_eq!(again.code, 1);
    assert!(
        again.stdout.contains("TOPIC_ALREADY_EXISTS"),
        "{}",
        again.stdout
    );

    let list = topic(&broker, "list", &[]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert!(list.stdout.starts_with("TOPIC "), "{}", list.stdout);
    assert_eq!(row(&list.stdout, "orders"), ["orders", "2", "1"]);

    let deleted = topic(&broker, "delete", &["orders"]);
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);
    assert_eq!(deleted.stdout, "Deleted topic orders.\n");
    let list = topic(&broker, "list", &[]);
    assert!(!list.stdout.contains("orders"), "{}", list.stdout);

    let missing = topic(&broker, "delete", &["orders"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stdout.contains("UNKNOWN_TOPIC_OR_PARTITION"),
        "{}",
        missing.stdout
    );
}

#[test]
fn describe_shows_leaders_offsets_and_topic_configs() {
    let broker = Broker::start();
    let run = topic(
        &broker,
        "create",
        &[
            "events",
            "--partitions",
            "2",
            "--config",
            "retention.ms=60000",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    produce(&broker, "events", 0, 3);

    let describe = topic(&broker, "describe", &["events"]);
    assert_eq!(describe.code, 0, "{}", describe.stderr);
    let mut lines = describe.stdout.lines();
    let summary = lines.next().unwrap();
    assert!(summary.starts_with("Topic: events  TopicId: "), "{summary}");
    assert!(
        summary.ends_with("PartitionCount: 2  ReplicationFactor: 1"),
        "{summary}"
    );
    assert_eq!(lines.next(), Some("Configs: retention.ms=60000"));
    let header = lines.next().unwrap();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        [
            "PARTITION",
            "LEADER",
            "REPLICAS",
            "ISR",
            "LOG-START-OFFSET",
            "END-OFFSET",
            "SIZE"
        ]
    );
    let produced = row(&describe.stdout, "0");
    assert_eq!(produced[..6], ["0", "0", "0", "0", "0", "3"]);
    // SIZE (DescribeLogDirs): the three records are on disk.
    let size: i64 = produced[6].parse().unwrap();
    assert!(size > 0, "{}", describe.stdout);
    let empty = row(&describe.stdout, "1");
    assert_eq!(empty[..6], ["1", "0", "0", "0", "0", "0"]);
    let empty_size: i64 = empty[6].parse().unwrap();
    assert!(empty_size < size, "{}", describe.stdout);

    let unknown = topic(&broker, "describe", &["nope"]);
    assert_eq!(unknown.code, 1);
    assert!(
        unknown.stdout.contains("UNKNOWN_TOPIC_OR_PARTITION"),
        "{}",
        unknown.stdout
    );
}

#[test]
fn add_partitions_grows_the_topic() {
    let broker = Broker::start();
    assert_eq!(
        topic(&broker, "create", &["grow", "--partitions", "1"]).code,
        0
    );
    let run = topic(&broker, "add-partitions", &["grow", "--partitions", "3"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "3 partitions now in topic grow.\n");
    let describe = topic(&broker, "describe", &["grow"]);
    assert!(
        describe.stdout.contains("PartitionCount: 3"),
        "{}",
        describe.stdout
    );
    assert_eq!(row(&describe.stdout, "2")[0], "2");

    let shrink = topic(&broker, "add-partitions", &["grow", "--partitions", "2"]);
    assert_eq!(shrink.code, 1);
    assert!(
        shrink.stdout.contains("INVALID_PARTITIONS"),
        "{}",
        shrink.stdout
    );
}

#[test]
fn config_shows_sets_and_deletes_topic_configs() {
    let broker = Broker::start();
    assert_eq!(
        topic(&broker, "create", &["conf", "--partitions", "1"]).code,
        0
    );
    let shown = topic(&broker, "config", &["conf"]);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert_eq!(
        shown
            .stdout
            .lines()
            .next()
            .map(str::split_whitespace)
            .map(Iterator::collect),
        Some(vec!["NAME", "VALUE", "SOURCE", "READ-ONLY"])
    );
    assert_eq!(row(&shown.stdout, "retention.ms")[2], "DEFAULT_CONFIG");

    let set = topic(&broker, "config", &["conf", "--set", "retention.ms=1000"]);
    assert_eq!(set.code, 0, "{}", set.stderr);
    assert!(
        set.stdout.starts_with("Updated configs of topic conf.\n"),
        "{}",
        set.stdout
    );
    assert_eq!(
        row(&set.stdout, "retention.ms"),
        ["retention.ms", "1000", "DYNAMIC_TOPIC_CONFIG", "false"]
    );

    let deleted = topic(&broker, "config", &["conf", "--delete", "retention.ms"]);
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);
    assert_eq!(row(&deleted.stdout, "retention.ms")[2], "DEFAULT_CONFIG");
}
