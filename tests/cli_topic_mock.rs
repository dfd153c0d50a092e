//! `ringbroker topic create|delete|add-partitions|config` against a mock admin broker: checks
//! what each command puts on the wire and how it prints the answers, including per-topic
//! errors. The same commands against the real broker are in cli_topic.rs (ignored until its
//! admin handlers land); this file keeps the exchanges tested meanwhile.
//!
//! The mock is a thread per connection speaking our codec; it answers from a small in-memory
//! state and records each request it decoded.
use bytes::{Bytes, BytesMut};
use ringbroker::client::connection::read_frame;
use ringbroker::protocol::frame::{finish_frame, start_frame};
use ringbroker::protocol::header::{
    RequestHeader, encode_response_header, response_header_is_flexible,
};
use ringbroker::protocol::messages::api_versions::{
    ApiVersion, ApiVersionsRequest, ApiVersionsResponse,
};
use ringbroker::protocol::messages::create_partitions::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreatePartitionsTopicResult,
};
use ringbroker::protocol::messages::create_topics::{
    CreatableTopicResult, CreateTopicsRequest, CreateTopicsResponse,
};
use ringbroker::protocol::messages::delete_topics::{
    DeletableTopicResult, DeleteTopicsRequest, DeleteTopicsResponse,
};
use ringbroker::protocol::messages::describe_configs::{
    DescribeConfigsRequest, DescribeConfigsResourceResult, DescribeConfigsResponse,
    DescribeConfigsResult,
};
use ringbroker::protocol::messages::incremental_alter_configs::{
    AlterConfigsResourceResponse, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use ringbroker::protocol::{ApiKey, ErrorCode, Message, Reader, StrBytes, versions};
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};

/// Connections the mock accepts before its thread ends (each CLI run opens one).
const CONNECTIONS_MAX: usize = 64;

#[derive(Default)]
struct State {
    /// topic → (partitions, configs set on the topic).
    topics: BTreeMap<String, (i32, BTreeMap<String, String>)>,
    /// One line per decoded request, for the tests to check.
    requests: Vec<String>,
}

type Shared = Arc<Mutex<State>>;

fn start_mock() -> (String, Shared) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let state = Shared::default();
    let shared = Arc::clone(&state);
    std::thread::spawn(move || {
        for stream in listener.incoming().take(CONNECTIONS_MAX) {
            let Ok(stream) = stream else { return };
            let state = Arc::clone(&shared);
            // A closed connection ends the thread; errors surface as CLI failures.
            std::thread::spawn(move || serve(stream, &state));
        }
    });
    (address, state)
}

fn serve(mut stream: TcpStream, state: &Shared) -> std::io::Result<()> {
    // Bounded by the client: each CLI run sends a few requests, then closes.
    loop {
        // Requests are framed like responses; the client's reader bounds their size.
        let Ok(payload) = read_frame(&mut stream) else {
            return Ok(());
        };
        let mut reader = Reader::new(payload);
        let header = RequestHeader::decode(&mut reader).unwrap();
        let key = ApiKey::from_i16(header.api_key).unwrap();
        let version = header.api_version;
        let mut out = BytesMut::new();
        let position = start_frame(&mut out);
        let flexible = response_header_is_flexible(key, version);
        encode_response_header(&mut out, header.correlation_id, flexible);
        let mut state = state.lock().unwrap();
        answer(key, version, reader.rest(), &mut state, &mut out);
        drop(state);
        finish_frame(&mut out, position, 0);
        stream.write_all(&out)?;
    }
}

fn decode<M: Message>(body: Bytes, version: i16) -> M {
    M::decode_body(body, version).unwrap()
}

fn answer(key: ApiKey, version: i16, body: Bytes, state: &mut State, out: &mut BytesMut) {
    match key {
        ApiKey::ApiVersions => {
            decode::<ApiVersionsRequest>(body, version);
            api_versions().encode_body(out, version);
        }
        ApiKey::CreateTopics => {
            let request: CreateTopicsRequest = decode(body, version);
            create_topics(&request, state).encode_body(out, version);
        }
        ApiKey::DeleteTopics => {
            let request: DeleteTopicsRequest = decode(body, version);
            delete_topics(&request, version, state).encode_body(out, version);
        }
        ApiKey::CreatePartitions => {
            let request: CreatePartitionsRequest = decode(body, version);
            create_partitions(&request, state).encode_body(out, version);
        }
        ApiKey::IncrementalAlterConfigs => {
            let request: IncrementalAlterConfigsRequest = decode(body, version);
            alter_configs(&request, state).encode_body(out, version);
        }
        ApiKey::DescribeConfigs => {
            let request: DescribeConfigsRequest = decode(body, version);
            describe_configs(&request, state).encode_body(out, version);
        }
        other => panic!("the mock does not serve {other:?}"),
    }
}

fn api_versions() -> ApiVersionsResponse {
    let api_keys = [
        ApiKey::ApiVersions,
        ApiKey::Metadata,
        ApiKey::CreateTopics,
        ApiKey::DeleteTopics,
        ApiKey::CreatePartitions,
        ApiKey::DescribeConfigs,
        ApiKey::IncrementalAlterConfigs,
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
    ApiVersionsResponse {
        api_keys,
        ..Default::default()
    }
}

fn create_topics(request: &CreateTopicsRequest, state: &mut State) -> CreateTopicsResponse {
    let mut topics = Vec::new();
    for topic in &request.topics {
        let configs: BTreeMap<String, String> = topic
            .configs
            .iter()
            .map(|c| (c.name.to_string(), c.value.as_ref().unwrap().to_string()))
            .collect();
        state.requests.push(format!(
            "CreateTopics {} partitions={} rf={} configs={configs:?}",
            topic.name, topic.num_partitions, topic.replication_factor
        ));
        let error_code = match state.topics.entry(topic.name.to_string()) {
            Entry::Occupied(_) => ErrorCode::TopicAlreadyExists,
            Entry::Vacant(entry) => {
                entry.insert((topic.num_partitions.max(1), configs));
                ErrorCode::None
            }
        };
        topics.push(CreatableTopicResult {
            name: topic.name.clone(),
            error_code,
            error_message: (error_code != ErrorCode::None).then(|| "exists".into()),
            ..Default::default()
        });
    }
    CreateTopicsResponse {
        topics,
        ..Default::default()
    }
}

fn delete_topics(
    request: &DeleteTopicsRequest,
    version: i16,
    state: &mut State,
) -> DeleteTopicsResponse {
    let names: Vec<String> = if version >= 6 {
        request
            .topics
            .iter()
            .map(|t| t.name.as_ref().unwrap().to_string())
            .collect()
    } else {
        request
            .topic_names
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    state.requests.push(format!("DeleteTopics {names:?}"));
    let responses = names
        .into_iter()
        .map(|name| DeletableTopicResult {
            error_code: if state.topics.remove(&name).is_some() {
                ErrorCode::None
            } else {
                ErrorCode::UnknownTopicOrPartition
            },
            name: Some(StrBytes::from(name)),
            ..Default::default()
        })
        .collect();
    DeleteTopicsResponse {
        responses,
        ..Default::default()
    }
}

fn create_partitions(
    request: &CreatePartitionsRequest,
    state: &mut State,
) -> CreatePartitionsResponse {
    let mut results = Vec::new();
    for topic in &request.topics {
        state.requests.push(format!(
            "CreatePartitions {} count={}",
            topic.name, topic.count
        ));
        let error_code = match state.topics.get_mut(topic.name.as_str()) {
            None => ErrorCode::UnknownTopicOrPartition,
            Some((partitions, _)) if topic.count <= *partitions => ErrorCode::InvalidPartitions,
            Some((partitions, _)) => {
                *partitions = topic.count;
                ErrorCode::None
            }
        };
        results.push(CreatePartitionsTopicResult {
            name: topic.name.clone(),
            error_code,
            error_message: None,
        });
    }
    CreatePartitionsResponse {
        results,
        ..Default::default()
    }
}

fn alter_configs(
    request: &IncrementalAlterConfigsRequest,
    state: &mut State,
) -> IncrementalAlterConfigsResponse {
    let mut responses = Vec::new();
    for resource in &request.resources {
        let name = resource.resource_name.to_string();
        let ops: Vec<String> = resource
            .configs
            .iter()
            .map(|c| format!("{}:{}={:?}", c.config_operation, c.name, c.value))
            .collect();
        state.requests.push(format!(
            "IncrementalAlterConfigs type={} {name} {ops:?}",
            resource.resource_type
        ));
        let error_code = match state.topics.get_mut(&name) {
            None => ErrorCode::UnknownTopicOrPartition,
            Some((_, configs)) => {
                for config in &resource.configs {
                    let key = config.name.to_string();
                    match (config.config_operation, &config.value) {
                        (0, Some(value)) => configs.insert(key, value.to_string()),
                        _ => configs.remove(&key),
                    };
                }
                ErrorCode::None
            }
        };
        responses.push(AlterConfigsResourceResponse {
            error_code,
            error_message: None,
            resource_type: resource.resource_type,
            resource_name: resource.resource_name.clone(),
        });
    }
    IncrementalAlterConfigsResponse {
        responses,
        ..Default::default()
    }
}

fn describe_configs(
    request: &DescribeConfigsRequest,
    state: &mut State,
) -> DescribeConfigsResponse {
    let mut results = Vec::new();
    for resource in &request.resources {
        let name = resource.resource_name.to_string();
        state.requests.push(format!(
            "DescribeConfigs type={} {name}",
            resource.resource_type
        ));
        let mut result = DescribeConfigsResult {
            resource_type: resource.resource_type,
            resource_name: resource.resource_name.clone(),
            ..Default::default()
        };
        match state.topics.get(&name) {
            None => result.error_code = ErrorCode::UnknownTopicOrPartition,
            Some((_, configs)) => {
                let retention = configs.get("retention.ms");
                result.configs = vec![DescribeConfigsResourceResult {
                    name: "retention.ms".into(),
                    value: Some(retention.map_or("604800000", String::as_str).into()),
                    config_source: if retention.is_some() { 1 } else { 5 },
                    ..Default::default()
                }];
            }
        }
        results.push(result);
    }
    DescribeConfigsResponse {
        results,
        ..Default::default()
    }
}

/// Runs `ringbroker topic ACTION --bootstrap ADDRESS ARGS…`; (exit code, stdout, stderr).
fn topic(address: &str, action: &str, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_ringbroker"))
        .args(["topic", action, "--bootstrap", address])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    println!("$ ringbroker topic {action} {args:?}\n{stdout}{stderr}");
    (output.status.code().unwrap(), stdout, stderr)
}

fn requests(state: &Shared) -> Vec<String> {
    std::mem::take(&mut state.lock().unwrap().requests)
}

#[test]
fn create_sends_partitions_replication_and_configs() {
    let (address, state) = start_mock();
    let args = [
        "orders",
        "--partitions",
        "3",
        "--config",
        "retention.ms=1000",
    ];
    let (code, stdout, _) = topic(&address, "create", &args);
    assert_eq!((code, stdout.as_str()), (0, "Created topic orders.\n"));
    assert_eq!(
        requests(&state),
        ["CreateTopics orders partitions=3 rf=-1 configs={\"retention.ms\": \"1000\"}"]
    );
    let (code, stdout, _) = topic(&address, "create", &["orders"]);
    assert_eq!(code, 1);
    assert_eq!(
        stdout,
        "Error: topic orders: TOPIC_ALREADY_EXISTS (exists)\n"
    );
    assert_eq!(
        requests(&state),
        ["CreateTopics orders partitions=-1 rf=-1 configs={}"]
    );
}

#[test]
fn delete_reports_each_topic() {
    let (address, state) = start_mock();
    assert_eq!(topic(&address, "create", &["a"]).0, 0);
    requests(&state);
    let (code, stdout, _) = topic(&address, "delete", &["a", "missing"]);
    assert_eq!(code, 1, "one of the two failed");
    assert_eq!(
        stdout,
        "Deleted topic a.\nError: topic missing: UNKNOWN_TOPIC_OR_PARTITION\n"
    );
    assert_eq!(requests(&state), ["DeleteTopics [\"a\", \"missing\"]"]);
}

#[test]
fn add_partitions_sends_the_new_total() {
    let (address, state) = start_mock();
    assert_eq!(
        topic(&address, "create", &["grow", "--partitions", "2"]).0,
        0
    );
    requests(&state);
    let (code, stdout, _) = topic(&address, "add-partitions", &["grow", "--partitions", "5"]);
    assert_eq!(
        (code, stdout.as_str()),
        (0, "5 partitions now in topic grow.\n")
    );
    assert_eq!(requests(&state), ["CreatePartitions grow count=5"]);
    let (code, stdout, _) = topic(&address, "add-partitions", &["grow", "--partitions", "4"]);
    assert_eq!(code, 1);
    assert_eq!(stdout, "Error: topic grow: INVALID_PARTITIONS\n");
}

#[test]
fn config_alters_then_describes() {
    let (address, state) = start_mock();
    assert_eq!(topic(&address, "create", &["conf"]).0, 0);
    requests(&state);

    let (code, stdout, _) = topic(&address, "config", &["conf"]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        "NAME          VALUE      SOURCE          READ-ONLY\n\
         retention.ms  604800000  DEFAULT_CONFIG  false\n"
    );
    assert_eq!(requests(&state), ["DescribeConfigs type=2 conf"]);

    let args = [
        "conf",
        "--set",
        "retention.ms=1000",
        "--delete",
        "segment.ms",
    ];
    let (code, stdout, _) = topic(&address, "config", &args);
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        "Updated configs of topic conf.\n\
         NAME          VALUE  SOURCE                READ-ONLY\n\
         retention.ms  1000   DYNAMIC_TOPIC_CONFIG  false\n"
    );
    assert_eq!(
        requests(&state),
        [
            "IncrementalAlterConfigs type=2 conf [\"0:retention.ms=Some(\\\"1000\\\")\", \
             \"1:segment.ms=None\"]",
            "DescribeConfigs type=2 conf",
        ]
    );

    let (code, stdout, _) = topic(&address, "config", &["nope"]);
    assert_eq!(code, 1);
    assert_eq!(stdout, "Error: topic nope: UNKNOWN_TOPIC_OR_PARTITION\n");
}
