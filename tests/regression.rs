//! One test per fixed bug, named after its issue (ripgrep's `tests/regression.rs`). Each runs
//! the real broker on loopback and replays what exposed the bug: captured client bytes, or the
//! way an operator ran the binary.
mod common;

use common::{Broker, RawClient, encode_request, free_address};
use ringbroker::protocol::messages::api_versions::{ApiVersionsRequest, ApiVersionsResponse};
use ringbroker::protocol::messages::create_topics::{
    CreatableTopic, CreateTopicsRequest, CreateTopicsResponse,
};
use ringbroker::protocol::messages::metadata::MetadataResponse;
use ringbroker::protocol::testing::hex;
use ringbroker::protocol::{ErrorCode, StrBytes};
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// issue 14: confluent-kafka-python 2.16 (librdkafka 2.16.0) `AdminClient.list_topics()`, the
/// all-topics Metadata v12 request captured off the wire (frame after the length prefix). Its
/// body is a 4-byte zero array count, then allow_auto_topic_creation 1, topic authorized
/// operations 0 and no tags; Kafka reads null topics and skips the 3 bytes left, and so must we.
const LIBRDKAFKA_2_16_ALL_TOPICS_METADATA_V12: &str =
    "0003000c00000003000772646b61666b610000000000010000";

fn create_topics(client: &mut RawClient, names: &[&str]) {
    let request = CreateTopicsRequest {
        topics: names
            .iter()
            .map(|name| CreatableTopic {
                name: StrBytes::from(*name),
                num_partitions: 2,
                replication_factor: 1,
                ..CreatableTopic::default()
            })
            .collect(),
        timeout_ms: 10_000,
        ..CreateTopicsRequest::default()
    };
    client.send(5, 1, &request);
    let (_, response) = client.receive::<CreateTopicsResponse>(5);
    for topic in &response.topics {
        assert_eq!(topic.error_code, ErrorCode::None, "{:?}", topic.name);
    }
}

#[test]
fn issue_14_librdkafka_all_topics_metadata_v12_lists_every_topic() {
    let broker = Broker::start();
    let mut client = broker.client();
    create_topics(&mut client, &["issue14-a", "issue14-b"]);

    let payload = hex(LIBRDKAFKA_2_16_ALL_TOPICS_METADATA_V12).unwrap();
    let mut frame = u32::try_from(payload.len()).unwrap().to_be_bytes().to_vec();
    frame.extend_from_slice(&payload);
    client.send_raw(&frame).unwrap();
    let (correlation_id, response) = client.receive::<MetadataResponse>(12);
    assert_eq!(correlation_id, 3);
    let mut names: Vec<&str> = response
        .topics
        .iter()
        .filter_map(|topic| topic.name.as_deref())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["issue14-a", "issue14-b"],
        "all topics, none created"
    );
    assert!(
        response
            .topics
            .iter()
            .all(|topic| topic.partitions.len() == 2)
    );

    // The connection stays usable, and the tolerated bytes were logged at debug level.
    client.send(3, 4, &ApiVersionsRequest::default());
    let (correlation_id, _) = client.receive::<ApiVersionsResponse>(3);
    assert_eq!(correlation_id, 4);
    let log = broker.log();
    assert!(
        log.contains("decoded leniently") && log.contains("trailing_bytes=3"),
        "no debug line for the tolerated bytes:\n{log}"
    );
}

/// Output of a piped stream, collected by a thread so that the broker never blocks on a full
/// pipe.
fn collect(mut stream: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes);
        bytes
    })
}

/// Whether `address` answers an ApiVersions request (bounded by the socket timeouts).
fn answers(address: SocketAddr) -> bool {
    let Ok(stream) = TcpStream::connect_timeout(&address, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut client = RawClient { stream };
    client
        .send_raw(&encode_request(3, 9, &ApiVersionsRequest::default()))
        .is_ok()
        && client.read_frame().is_ok()
}

fn wait_exit(child: &mut Child, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// issue 14: log lines written to a file or pipe carried ANSI colour codes. The broker runs
/// with both streams piped and `NO_COLOR` unset (so only "not a terminal" can turn colour off),
/// logs at debug level, serves a request and shuts down; no ESC byte may appear.
#[test]
fn issue_14_piped_log_output_has_no_ansi_escapes() {
    let data = tempfile::TempDir::new().unwrap();
    let address = free_address();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringbroker"))
        .args(["serve", "--listen", &address.to_string(), "--shards", "1"])
        .args(["--log-level", "debug", "--data-dir"])
        .arg(data.path())
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = collect(child.stdout.take().unwrap());
    let stderr = collect(child.stderr.take().unwrap());
    let up = common::eventually(common::START_TIMEOUT, || answers(address));
    // SAFETY: kill(2) on our own child's pid with a valid signal number.
    let signalled = unsafe { libc::kill(i32::try_from(child.id()).unwrap(), libc::SIGTERM) };
    let exited = wait_exit(&mut child, common::STOP_TIMEOUT);
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut output = stdout.join().unwrap();
    output.extend(stderr.join().unwrap());
    let text = String::from_utf8_lossy(&output);
    assert!(up, "broker did not answer:\n{text}");
    assert_eq!(signalled, 0);
    assert!(exited, "broker did not stop:\n{text}");
    assert!(
        text.contains("ringbroker serving"),
        "nothing logged:\n{text}"
    );
    assert!(text.contains("DEBUG"), "no debug line logged:\n{text}");
    let escape = output.iter().position(|byte| *byte == 0x1b);
    assert_eq!(escape, None, "ANSI escape in piped output:\n{text}");
}
