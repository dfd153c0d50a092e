//! The node metadata file against the real broker: a data dir written by a broker from before
//! the metadata records (`cluster-metadata.toml`) loads and is upgraded in place to the
//! snapshot file, with its cluster id, topic ids, partition counts and configs intact.
mod common;

use ringbroker::protocol::messages::metadata::{
    MetadataRequest, MetadataRequestTopic, MetadataResponse,
};
use ringbroker::protocol::{ErrorCode, StrBytes};
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

#[test]
fn an_older_brokers_data_dir_is_upgraded_in_place() {
    let mut broker = common::Broker::start();
    broker.terminate();
    let data = broker.data_dir();
    let snapshot = data.join("cluster-metadata.snapshot");
    let legacy = data.join("cluster-metadata.toml");
    assert!(snapshot.exists(), "a new broker writes the snapshot file");
    std::fs::remove_file(&snapshot).unwrap();
    std::fs::write(&legacy, LEGACY_TOML).unwrap();

    broker.start_again();
    assert_legacy_topic(&broker);
    assert!(snapshot.exists(), "upgraded to the snapshot file");
    assert!(!legacy.exists(), "the TOML file is replaced");

    broker.restart();
    assert_legacy_topic(&broker);
}

#[test]
fn a_damaged_snapshot_stops_the_broker_instead_of_starting_a_new_cluster() {
    let mut broker = common::Broker::start();
    broker.terminate();
    let snapshot = broker.data_dir().join("cluster-metadata.snapshot");
    let mut bytes = std::fs::read(&snapshot).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&snapshot, bytes).unwrap();
    let (status, output) = run_to_exit(&broker.data_dir());
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

/// Runs the broker on `data_dir` and waits (bounded) for it to exit on its own; a broker
/// still running at the deadline is killed and fails the test.
fn run_to_exit(data_dir: &Path) -> (ExitStatus, String) {
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
