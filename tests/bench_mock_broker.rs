//! ringbench end to end against a small in-test Kafka broker on 127.0.0.1.
//!
//! ringbroker does not serve Produce/Fetch yet, so these tests stand up a minimal broker of
//! their own, written with the same codec: ApiVersions, Metadata, CreateTopics, Produce (every
//! batch is checked with `records::verify_records`: CRC, codec, every record), ListOffsets and
//! Fetch, all in memory. It proves ringbench's client side (batching, versions, topic ids,
//! pipelining, offsets, e2e stamps, every codec); because both sides share the codec, codec
//! bugs are left to the differential tests against `kafka-protocol`.
//!
//! `real_broker` runs against any broker named by `RINGBENCH_BOOTSTRAP` (ignored by default).
use bytes::{Bytes, BytesMut};
use ringbroker::protocol::frame::{finish_frame, start_frame};
use ringbroker::protocol::header::{
    RequestHeader, encode_response_header, response_header_is_flexible,
};
use ringbroker::protocol::messages::api_versions::{
    ApiVersion, ApiVersionsRequest, ApiVersionsResponse,
};
use ringbroker::protocol::messages::create_topics::{
    CreatableTopicResult, CreateTopicsRequest, CreateTopicsResponse,
};
use ringbroker::protocol::messages::fetch::{
    FetchRequest, FetchResponse, FetchableTopicResponse, PartitionData,
};
use ringbroker::protocol::messages::list_offsets::{
    ListOffsetsPartitionResponse, ListOffsetsRequest, ListOffsetsResponse, ListOffsetsTopicResponse,
};
use ringbroker::protocol::messages::metadata::{
    MetadataRequest, MetadataResponse, MetadataResponseBroker, MetadataResponsePartition,
    MetadataResponseTopic,
};
use ringbroker::protocol::messages::produce::{
    PartitionProduceResponse, ProduceRequest, ProduceResponse, TopicProduceResponse,
};
use ringbroker::protocol::record_batch::{BatchHeader, BatchSplitter, set_base_offset};
use ringbroker::protocol::records::verify_records;
use ringbroker::protocol::{ApiKey, ErrorCode, Message, Reader, StrBytes, Uuid, versions};
use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CONNECTIONS_MAX: usize = 256;

#[derive(Default)]
struct Partition {
    /// (base offset, next offset, batch bytes).
    batches: Vec<(i64, i64, Bytes)>,
    end: i64,
}

struct Topic {
    id: Uuid,
    partitions: Vec<Partition>,
}

#[derive(Default)]
struct State {
    topics: HashMap<String, Topic>,
    codecs: BTreeSet<i16>,
    produce_requests: u64,
}

impl State {
    fn records(&self, topic: &str) -> i64 {
        self.topics
            .get(topic)
            .map_or(0, |topic| topic.partitions.iter().map(|p| p.end).sum())
    }
}

type Shared = Arc<Mutex<State>>;

struct Broker {
    port: u16,
    state: Shared,
}

fn start_broker() -> Broker {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let state = Shared::default();
    let shared = Arc::clone(&state);
    std::thread::spawn(move || {
        // Bounded: the test process ends long before this many connections.
        for stream in listener.incoming().take(CONNECTIONS_MAX) {
            let Ok(stream) = stream else { return };
            let state = Arc::clone(&shared);
            std::thread::spawn(move || {
                // A closed connection ends the thread; errors here surface as client failures.
                let _ = serve(stream, &state, port);
            });
        }
    });
    Broker { port, state }
}

fn serve(mut stream: TcpStream, state: &Shared, port: u16) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    loop {
        let mut prefix = [0u8; 4];
        stream.read_exact(&mut prefix)?;
        let size = usize::try_from(i32::from_be_bytes(prefix)).unwrap();
        assert!(size <= 100 * 1024 * 1024);
        let mut payload = vec![0u8; size];
        stream.read_exact(&mut payload)?;
        let mut reader = Reader::new(Bytes::from(payload));
        let header = RequestHeader::decode(&mut reader).unwrap();
        let body = reader.rest();
        let key = ApiKey::from_i16(header.api_key).unwrap();
        let version = header.api_version;
        let mut out = BytesMut::new();
        let position = start_frame(&mut out);
        let flexible = response_header_is_flexible(key, version);
        encode_response_header(&mut out, header.correlation_id, flexible);
        let answered = answer(key, version, body, state, port, &mut out);
        if answered {
            finish_frame(&mut out, position, 0);
            stream.write_all(&out)?;
        }
    }
}

/// Encodes the response to one request into `out`; `false` when none is due (acks = 0).
fn answer(
    key: ApiKey,
    version: i16,
    body: Bytes,
    state: &Shared,
    port: u16,
    out: &mut BytesMut,
) -> bool {
    match key {
        ApiKey::ApiVersions => {
            ApiVersionsRequest::decode_body(body, version).unwrap();
            let api_keys = [
                ApiKey::Produce,
                ApiKey::Fetch,
                ApiKey::ListOffsets,
                ApiKey::Metadata,
                ApiKey::ApiVersions,
                ApiKey::CreateTopics,
            ]
            .into_iter()
            .map(|key| {
                let range = versions::range(key);
                ApiVersion {
                    api_key: key.as_i16(),
                    min_version: range.min,
                    max_version: range.max,
                }
            })
            .collect();
            let response = ApiVersionsResponse {
                api_keys,
                ..Default::default()
            };
            response.encode_body(out, version);
        }
        ApiKey::Metadata => {
            let request = MetadataRequest::decode_body(body, version).unwrap();
            metadata(&request, state, port).encode_body(out, version);
        }
        ApiKey::CreateTopics => {
            let request = CreateTopicsRequest::decode_body(body, version).unwrap();
            create_topics(&request, state).encode_body(out, version);
        }
        ApiKey::Produce => {
            let request = ProduceRequest::decode_body(body, version).unwrap();
            let response = produce(&request, state);
            if request.acks == 0 {
                return false;
            }
            response.encode_body(out, version);
        }
        ApiKey::ListOffsets => {
            let request = ListOffsetsRequest::decode_body(body, version).unwrap();
            list_offsets(&request, state).encode_body(out, version);
        }
        ApiKey::Fetch => {
            let request = FetchRequest::decode_body(body, version).unwrap();
            let response = fetch(&request, state);
            response.encode_body(out, version);
        }
        other => panic!("the mock broker does not serve {other:?}"),
    }
    true
}

fn metadata(request: &MetadataRequest, state: &Shared, port: u16) -> MetadataResponse {
    let state = state.lock().unwrap();
    let topics = request
        .topics
        .iter()
        .flatten()
        .map(|asked| {
            let name = asked.name.clone().unwrap();
            match state.topics.get(name.as_str()) {
                None => MetadataResponseTopic {
                    error_code: ErrorCode::UnknownTopicOrPartition,
                    name: Some(name),
                    ..Default::default()
                },
                Some(topic) => MetadataResponseTopic {
                    name: Some(name),
                    topic_id: topic.id,
                    partitions: (0..topic.partitions.len())
                        .map(|index| MetadataResponsePartition {
                            partition_index: i32::try_from(index).unwrap(),
                            leader_id: 1,
                            replica_nodes: vec![1],
                            isr_nodes: vec![1],
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                },
            }
        })
        .collect();
    MetadataResponse {
        brokers: vec![MetadataResponseBroker {
            node_id: 1,
            host: StrBytes::from("127.0.0.1"),
            port: i32::from(port),
            rack: None,
        }],
        controller_id: 1,
        topics,
        ..Default::default()
    }
}

fn create_topics(request: &CreateTopicsRequest, state: &Shared) -> CreateTopicsResponse {
    let mut state = state.lock().unwrap();
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let id = Uuid([u8::try_from(state.topics.len() + 1).unwrap(); 16]);
            let partitions = (0..topic.num_partitions)
                .map(|_| Partition::default())
                .collect();
            state
                .topics
                .insert(topic.name.to_string(), Topic { id, partitions });
            CreatableTopicResult {
                name: topic.name.clone(),
                topic_id: id,
                ..Default::default()
            }
        })
        .collect();
    CreateTopicsResponse {
        topics,
        ..Default::default()
    }
}

fn produce(request: &ProduceRequest, state: &Shared) -> ProduceResponse {
    let mut state = state.lock().unwrap();
    state.produce_requests += 1;
    let mut responses = Vec::new();
    for topic_data in &request.topic_data {
        let mut partition_responses = Vec::new();
        for data in &topic_data.partition_data {
            let records = data.records.clone().unwrap();
            let mut base_offset = -1;
            for batch in BatchSplitter::new(records) {
                let count = verify_records(batch.clone(), 64 * 1024 * 1024).unwrap();
                let codec = BatchHeader::parse(&batch).unwrap().attributes() & 7;
                state.codecs.insert(codec);
                let topic = find_topic(&mut state, &topic_data.name, topic_data.topic_id);
                let partition = &mut topic.partitions[usize::try_from(data.index).unwrap()];
                let mut stored = BytesMut::from(&batch[..]);
                set_base_offset(&mut stored, partition.end);
                if base_offset < 0 {
                    base_offset = partition.end;
                }
                let next = partition.end + i64::from(count);
                partition
                    .batches
                    .push((partition.end, next, stored.freeze()));
                partition.end = next;
            }
            partition_responses.push(PartitionProduceResponse {
                index: data.index,
                base_offset,
                ..Default::default()
            });
        }
        responses.push(TopicProduceResponse {
            name: topic_data.name.clone(),
            topic_id: topic_data.topic_id,
            partition_responses,
        });
    }
    ProduceResponse {
        responses,
        ..Default::default()
    }
}

/// The topic addressed by name (Produce/Fetch before v13) or by id (v13+).
fn find_topic<'a>(state: &'a mut State, name: &str, id: Uuid) -> &'a mut Topic {
    if name.is_empty() {
        state
            .topics
            .values_mut()
            .find(|topic| topic.id == id)
            .unwrap()
    } else {
        state.topics.get_mut(name).unwrap()
    }
}

fn list_offsets(request: &ListOffsetsRequest, state: &Shared) -> ListOffsetsResponse {
    let mut state = state.lock().unwrap();
    let topics = request
        .topics
        .iter()
        .map(|asked| {
            let topic = find_topic(&mut state, &asked.name, Uuid::ZERO);
            let partitions = asked
                .partitions
                .iter()
                .map(|p| {
                    let end = topic.partitions[usize::try_from(p.partition_index).unwrap()].end;
                    ListOffsetsPartitionResponse {
                        partition_index: p.partition_index,
                        offset: if p.timestamp == -2 { 0 } else { end },
                        ..Default::default()
                    }
                })
                .collect();
            ListOffsetsTopicResponse {
                name: asked.name.clone(),
                partitions,
            }
        })
        .collect();
    ListOffsetsResponse {
        topics,
        ..Default::default()
    }
}

fn fetch(request: &FetchRequest, state: &Shared) -> FetchResponse {
    let mut responses = Vec::new();
    let mut empty = true;
    {
        let mut state = state.lock().unwrap();
        for asked in &request.topics {
            let topic = find_topic(&mut state, &asked.topic, asked.topic_id);
            let mut partitions = Vec::new();
            for p in &asked.partitions {
                let partition = &topic.partitions[usize::try_from(p.partition).unwrap()];
                let limit = usize::try_from(p.partition_max_bytes).unwrap();
                let mut records = BytesMut::new();
                for (_, next, batch) in &partition.batches {
                    if *next <= p.fetch_offset {
                        continue;
                    }
                    // Kafka returns at least one whole batch, then stops at the limit.
                    if !records.is_empty() && records.len() + batch.len() > limit {
                        break;
                    }
                    records.extend_from_slice(batch);
                }
                empty &= records.is_empty();
                partitions.push(PartitionData {
                    partition_index: p.partition,
                    high_watermark: partition.end,
                    records: Some(records.freeze()),
                    ..Default::default()
                });
            }
            responses.push(FetchableTopicResponse {
                topic: asked.topic.clone(),
                topic_id: asked.topic_id,
                partitions,
            });
        }
    }
    if empty {
        // A long poll in miniature: keeps an idle consumer from spinning.
        std::thread::sleep(Duration::from_millis(5));
    }
    FetchResponse {
        responses,
        ..Default::default()
    }
}

fn ringbench(broker: &Broker, args: &[&str]) -> Output {
    let bootstrap = format!("127.0.0.1:{}", broker.port);
    run_ringbench(&bootstrap, args, &["--report-interval", "1"])
}

/// Runs ringbench against `bootstrap` and asserts it succeeded.
fn run_ringbench(bootstrap: &str, args: &[&str], extra: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_ringbench"))
        .args(args)
        .args(["--bootstrap", bootstrap, "--timeout", "60"])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "ringbench {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn produce_then_consume_every_record() {
    let broker = start_broker();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("produce.json");
    let json_arg = json.to_str().unwrap();
    let args = [
        "produce",
        "--topic",
        "t1",
        "--partitions",
        "3",
        "--connections",
        "2",
        "--num-records",
        "3000",
        "--record-size",
        "200",
        "--compression",
        "lz4",
        "--batch-size",
        "8192",
        "--json",
        json_arg,
    ];
    let produced = stdout(&ringbench(&broker, &args));
    assert!(produced.contains("3000 records sent, "), "{produced}");
    assert!(produced.contains("produce latency us: p50 "), "{produced}");
    {
        let state = broker.state.lock().unwrap();
        assert_eq!(state.records("t1"), 3000);
        assert_eq!(state.topics["t1"].partitions.len(), 3);
        // Sticky batching: every partition got records.
        assert!(state.topics["t1"].partitions.iter().all(|p| p.end > 0));
        assert_eq!(state.codecs, BTreeSet::from([3]));
    }
    let document = std::fs::read_to_string(&json).unwrap();
    assert!(
        document.contains(r#""records":3000,"bytes":600000,"#),
        "{document}"
    );

    let args = [
        "consume",
        "--topic",
        "t1",
        "--num-records",
        "3000",
        "--connections",
        "2",
    ];
    let consumed = stdout(&ringbench(&broker, &args));
    assert!(
        consumed.starts_with("start.time, end.time, data.consumed.in.MB"),
        "{consumed}"
    );
    let row = consumed.lines().nth(1).unwrap();
    let columns: Vec<&str> = row.split(", ").collect();
    assert_eq!(columns.len(), 10, "{row}");
    assert_eq!(columns[4], "3000", "{row}");
    assert_eq!(columns[2], "0.5722", "3000 × 200 bytes in MB: {row}");
}

#[test]
fn end_to_end_reads_exactly_what_was_produced() {
    let broker = start_broker();
    let args = [
        "e2e",
        "--topic",
        "t2",
        "--num-records",
        "1000",
        "--throughput",
        "2000",
        "--linger-ms",
        "1",
        "--record-size",
        "64",
    ];
    let output = stdout(&ringbench(&broker, &args));
    println!("{output}");
    assert!(output.contains("1000 records sent, "), "{output}");
    let row = output
        .lines()
        .skip_while(|line| !line.starts_with("start.time"))
        .nth(1)
        .unwrap();
    assert_eq!(row.split(", ").nth(4), Some("1000"), "{row}");
    let e2e = output
        .lines()
        .find(|l| l.starts_with("end-to-end latency us"))
        .unwrap();
    assert!(e2e.ends_with("(1000 samples)"), "{e2e}");
}

#[test]
fn sweep_sends_every_codec() {
    let broker = start_broker();
    let args = [
        "sweep",
        "--topic",
        "t3",
        "--num-records",
        "400",
        "--record-size",
        "100",
    ];
    let output = stdout(&ringbench(&broker, &args));
    println!("{output}");
    let state = broker.state.lock().unwrap();
    assert_eq!(state.codecs, BTreeSet::from([0, 1, 2, 3, 4]));
    assert_eq!(state.records("t3"), 2000);
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        assert!(
            output.lines().any(|line| line.starts_with(codec)),
            "{output}"
        );
    }
}

#[test]
fn acks_zero_and_duration_bound() {
    let broker = start_broker();
    let args = [
        "produce",
        "--topic",
        "t4",
        "--acks",
        "0",
        "--num-records",
        "500",
    ];
    ringbench(&broker, &args);
    // Produce is fire-and-forget: wait (bounded) for the broker to take the last request.
    for _ in 0..200 {
        if broker.state.lock().unwrap().records("t4") == 500 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(broker.state.lock().unwrap().records("t4"), 500);

    let args = [
        "produce",
        "--topic",
        "t5",
        "--duration",
        "0.5",
        "--throughput",
        "1000",
    ];
    let output = stdout(&ringbench(&broker, &args));
    let sent = broker.state.lock().unwrap().records("t5");
    // The rate limit allows at most 1000/s × 0.5 s (+1 for the first record at time 0).
    assert!(sent > 0 && sent <= 501, "{sent} records\n{output}");
}

/// Runs against a real broker: `RINGBENCH_BOOTSTRAP=127.0.0.1:9092 cargo test --test
/// bench_mock_broker -- --ignored`. Ignored by default because ringbroker does not serve
/// Produce/Fetch yet and no other broker is part of the test environment.
#[test]
#[ignore = "needs a Kafka-compatible broker at $RINGBENCH_BOOTSTRAP"]
fn real_broker() {
    let bootstrap = std::env::var("RINGBENCH_BOOTSTRAP").expect("set RINGBENCH_BOOTSTRAP");
    assert!(bootstrap.starts_with("127."), "loopback only");
    let run = |args: &[&str]| stdout(&run_ringbench(&bootstrap, args, &["--topic", "rb-test"]));
    assert!(
        run(&["produce", "--num-records", "1000", "--partitions", "2"])
            .contains("1000 records sent")
    );
    assert!(run(&["consume", "--num-records", "1000"]).contains("start.time"));
    assert!(run(&["e2e", "--num-records", "500"]).contains("end-to-end latency us"));
}

#[test]
fn consuming_more_than_the_topic_holds_ends_at_the_timeout() {
    let broker = start_broker();
    ringbench(
        &broker,
        &["produce", "--topic", "t6", "--num-records", "50"],
    );
    let started = std::time::Instant::now();
    let bootstrap = format!("127.0.0.1:{}", broker.port);
    let output = Command::new(env!("CARGO_BIN_EXE_ringbench"))
        .args(["consume", "--topic", "t6", "--num-records", "100"])
        .args(["--bootstrap", &bootstrap, "--timeout", "2"])
        .output()
        .unwrap();
    let text = stdout(&output);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("note: read 50 of 100 records"), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "bounded by --timeout"
    );
}
