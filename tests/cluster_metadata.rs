//! The metadata log against the real broker: a data dir written by a broker from before the
//! metadata log (`cluster-metadata.toml`, or the later `cluster-metadata.snapshot`) is upgraded
//! in place — its state becomes the log's first entry, with its cluster id, topic ids,
//! partition counts and configs intact, and the old file is renamed away; a damaged old file
//! stops the broker; `--quorum-voters` must name this node.
mod common;

use ringbroker::cluster::metadata::encode_snapshot;
use ringbroker::cluster::{ClusterMetadata, MetadataRecord};
use ringbroker::protocol::messages::metadata::{
    MetadataRequest, MetadataRequestTopic, MetadataResponse,
};
use ringbroker::protocol::{ErrorCode, StrBytes, Uuid};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// What the broker before the record log wrote: one topic with an override, one broker
/// override, after a few changes (its versions started at 1).
const LEGACY_TOML: &str = r#"format_version = 1
cluster_id = "q1Sh-9_ISia_aT7Yv2fdvA"
version = 4

[broker_configs]
"log.retention.ms" = "60000"

[[topics]]
name = "legacy"
topic_id = "0123456789abcdef0123456789abcdef"
partition_count = 3

[topics.configs]
"retention.ms" = "1000"
"#;

fn metadata(client: &mut common::RawClient, names: &[&str]) -> MetadataResponse {
    let request = MetadataRequest {
        topics: Some(
            names
                .iter()
                .map(|name| MetadataRequestTopic {
                    name: Some(StrBytes::from(*name)),
                    ..Default::default()
                })
                .collect(),
        ),
        allow_auto_topic_creation: false,
        ..MetadataRequest::default()
    };
    client.send(12, 1, &request);
    client.receive::<MetadataResponse>(12).1
}

fn assert_legacy_topic(broker: &common::Broker) {
    let response = metadata(&mut broker.client(), &["legacy"]);
    assert_eq!(
        response.cluster_id.as_ref().map(StrBytes::as_str),
        Some("q1Sh-9_ISia_aT7Yv2fdvA")
    );
    let topic = &response.topics[0];
    assert_eq!(topic.error_code, ErrorCode::None, "{topic:?}");
    assert_eq!(
        format!("{:?}", topic.topic_id),
        "0123456789abcdef0123456789abcdef"
    );
    assert_eq!(topic.partitions.len(), 3);
}

/// The metadata log's partition of a data dir.
fn metadata_log(data: &Path) -> std::path::PathBuf {
    data.join("__cluster_metadata-0")
}

/// A data dir as today's broker leaves it, turned back into one from before the metadata log.
fn without_metadata_log(broker: &mut common::Broker) -> std::path::PathBuf {
    broker.terminate();
    let data = broker.data_dir();
    assert!(
        metadata_log(&data).is_dir(),
        "a new broker keeps its metadata in the log"
    );
    assert!(
        !data.join("cluster-metadata.snapshot").exists(),
        "and writes no pre-log snapshot file"
    );
    std::fs::remove_dir_all(metadata_log(&data)).unwrap();
    // Brokers before the metadata log wrote no node file either.
    std::fs::remove_file(data.join("meta.properties")).unwrap();
    data
}

#[test]
fn an_older_brokers_toml_data_dir_is_upgraded_into_the_metadata_log() {
    let mut broker = common::Broker::start();
    let data = without_metadata_log(&mut broker);
    let legacy = data.join("cluster-metadata.toml");
    std::fs::write(&legacy, LEGACY_TOML).unwrap();

    broker.start_again();
    assert_legacy_topic(&broker);
    assert!(metadata_log(&data).is_dir(), "upgraded into the log");
    assert!(!legacy.exists(), "the TOML file is renamed away");
    assert!(data.join("cluster-metadata.toml.migrated").exists());

    // The log alone carries the state from now on, across clean and hard restarts.
    broker.restart();
    assert_legacy_topic(&broker);
    broker.kill9();
    broker.start_again();
    assert_legacy_topic(&broker);
}

/// The snapshot file the broker before the metadata log wrote, holding the legacy topic.
fn pre_log_snapshot() -> Vec<u8> {
    let record = MetadataRecord::TopicCreated {
        topic_id: Uuid([
            0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
            0xcd, 0xef,
        ]),
        name: "legacy".to_owned(),
        partition_count: 3,
        configs: BTreeMap::from([("retention.ms".to_owned(), "1000".to_owned())]),
    };
    let state =
        ClusterMetadata::restore("q1Sh-9_ISia_aT7Yv2fdvA".to_owned(), 9, &[record]).unwrap();
    encode_snapshot(&state).unwrap()
}

#[test]
fn a_pre_log_snapshot_file_becomes_the_logs_first_entry() {
    let mut broker = common::Broker::start();
    let data = without_metadata_log(&mut broker);
    let snapshot = data.join("cluster-metadata.snapshot");
    std::fs::write(&snapshot, pre_log_snapshot()).unwrap();

    broker.start_again();
    assert_legacy_topic(&broker);
    assert!(!snapshot.exists(), "the snapshot file is renamed away");
    assert!(data.join("cluster-metadata.snapshot.migrated").exists());
    broker.restart();
    assert_legacy_topic(&broker);
}

#[test]
fn once_the_first_entry_is_committed_the_log_wins_over_a_leftover_pre_log_file() {
    let mut broker = common::Broker::start();
    let data = without_metadata_log(&mut broker);
    let snapshot = data.join("cluster-metadata.snapshot");
    std::fs::write(&snapshot, pre_log_snapshot()).unwrap();
    broker.start_again();
    assert_legacy_topic(&broker);
    broker.kill9();
    // A crash after the commit but before the rename leaves the old file in place; here it
    // even stands for another state (a new cluster): the committed log must win.
    let other = ClusterMetadata::new_cluster();
    std::fs::write(&snapshot, encode_snapshot(&other).unwrap()).unwrap();
    broker.start_again();
    assert_legacy_topic(&broker);
    assert!(!snapshot.exists(), "the leftover file is renamed away");
}

#[test]
fn a_damaged_pre_log_snapshot_stops_the_broker_instead_of_starting_a_new_cluster() {
    let mut broker = common::Broker::start();
    let data = without_metadata_log(&mut broker);
    let snapshot = data.join("cluster-metadata.snapshot");
    let mut bytes = pre_log_snapshot();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&snapshot, bytes).unwrap();
    let (status, output) = run_to_exit(&data, &[]);
    assert!(
        !status.success(),
        "started on a damaged snapshot:\n{output}"
    );
    assert!(output.contains("crc32c"), "{output}");
    let after = std::fs::read(&snapshot).unwrap();
    assert_eq!(
        after.len(),
        last + 1,
        "the damaged file is left for the operator"
    );
}

#[test]
fn a_data_dir_of_another_node_id_is_refused_with_a_clear_message() {
    let mut broker = common::Broker::start();
    broker.terminate();
    let data = broker.data_dir();
    let node_file = std::fs::read_to_string(data.join("meta.properties")).unwrap();
    assert!(node_file.contains("node.id=0"), "{node_file}");
    assert!(node_file.contains("cluster.id="), "{node_file}");
    let (status, output) = run_to_exit(&data, &["--node-id", "7"]);
    assert!(!status.success(), "{output}");
    assert!(
        output.contains("belongs to node 0, not --node-id 7"),
        "{output}"
    );
}

#[test]
fn a_one_voter_list_naming_this_node_runs_the_broker() {
    let voters = format!("3@{}", common::free_address());
    let broker = common::Broker::start_with(common::BrokerOptions {
        extra_args: vec![
            "--node-id".to_owned(),
            "3".to_owned(),
            "--quorum-voters".to_owned(),
            voters,
        ],
        ..common::BrokerOptions::default()
    });
    let response = metadata(&mut broker.client(), &[]);
    assert_eq!(response.controller_id, 3, "{response:?}");
}

/// Runs the broker on `data_dir` and waits (bounded) for it to exit on its own; a broker
/// still running at the deadline is killed and fails the test.
fn run_to_exit(data_dir: &Path, extra_args: &[&str]) -> (ExitStatus, String) {
    let log = data_dir.with_file_name("refused.log");
    let file = std::fs::File::create(&log).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringbroker"))
        .arg("serve")
        .arg("--listen")
        .arg(common::free_address().to_string())
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--shards")
        .arg("1")
        .args(extra_args)
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + common::START_TIMEOUT;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return (status, std::fs::read_to_string(&log).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the broker kept running on a damaged snapshot");
}
