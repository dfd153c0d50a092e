//! ACLs end to end on a PLAINTEXT listener, where every connection is `User:ANONYMOUS`:
//! CreateAcls / DescribeAcls / DeleteAcls through the controller, and the authorizer in
//! Produce, Fetch and Metadata, seen by librdkafka (the `rdkafka` crate) and raw requests.
//!
//! The broker runs with `--authorizer --allow-everyone-if-no-acl-found`, so the cluster
//! resource (which no ACL names) stays open to create ACLs and topics, while an ACL on the
//! literal topic `*` (a DENY for a principal that never connects) makes every topic covered,
//! so topics are deny-by-default for ANONYMOUS. The super-user test runs deny-by-default
//! without any ACL.
mod common;

use bytes::BytesMut;
use rdkafka::ClientConfig;
use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use ringbroker::protocol::messages::alter_user_scram_credentials::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse, ScramCredentialDeletion,
};
use ringbroker::protocol::messages::create_acls::{
    AclCreation, CreateAclsRequest, CreateAclsResponse,
};
use ringbroker::protocol::messages::delete_acls::{
    DeleteAclsFilter, DeleteAclsRequest, DeleteAclsResponse,
};
use ringbroker::protocol::messages::describe_acls::{DescribeAclsRequest, DescribeAclsResponse};
use ringbroker::protocol::messages::describe_user_scram_credentials::{
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};
use ringbroker::protocol::messages::fetch::FetchResponse;
use ringbroker::protocol::messages::find_coordinator::{
    FindCoordinatorRequest, FindCoordinatorResponse,
};
use ringbroker::protocol::messages::list_partition_reassignments::{
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};
use ringbroker::protocol::messages::metadata::{MetadataRequest, MetadataResponse};
use ringbroker::protocol::messages::offset_fetch::{
    OffsetFetchRequest, OffsetFetchRequestTopic, OffsetFetchResponse,
};
use ringbroker::protocol::messages::produce::{
    PartitionProduceData, ProduceRequest, ProduceResponse, TopicProduceData,
};
use ringbroker::protocol::messages::unregister_broker::{
    UnregisterBrokerRequest, UnregisterBrokerResponse,
};
use ringbroker::protocol::records::{BatchBuilder, BatchOptions, NewRecord};
use ringbroker::protocol::{ErrorCode, StrBytes};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

// Kafka's codes (cluster::acls).
const TOPIC: i8 = 2;
const LITERAL: i8 = 3;
const PREFIXED: i8 = 4;
const ALL: i8 = 2;
const READ: i8 = 3;
const DENY: i8 = 2;
const ALLOW: i8 = 3;
const ANY: i8 = 1;

const ANONYMOUS: &str = "User:ANONYMOUS";

fn batch(value: &str) -> bytes::Bytes {
    let mut output = BytesMut::new();
    let mut scratch = BytesMut::new();
    let mut builder = BatchBuilder::new(&mut output, &mut scratch, BatchOptions::default());
    builder
        .append(&NewRecord {
            timestamp: common::now_ms(),
            key: None,
            value: Some(value.as_bytes()),
            headers: &[],
        })
        .unwrap();
    builder.finish().unwrap();
    output.freeze()
}

/// Produces one record to partition 0 of `topic` (auto-created when allowed); its error.
fn produce(client: &mut common::RawClient, topic: &str, value: &str) -> ErrorCode {
    let request = ProduceRequest {
        acks: -1,
        timeout_ms: 5000,
        topic_data: vec![TopicProduceData {
            name: StrBytes::from(topic),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(batch(value)),
            }],
            ..TopicProduceData::default()
        }],
        ..ProduceRequest::default()
    };
    client.send(9, 1, &request);
    let (_, response) = client.receive::<ProduceResponse>(9);
    response.responses[0].partition_responses[0].error_code
}

/// Fetches partition 0 of `topic` from offset 0 without waiting; its error.
fn fetch(client: &mut common::RawClient, topic: &str) -> ErrorCode {
    let request = common::fetch_partition_zero(topic, -1);
    client.send(12, 2, &request);
    let (_, response) = client.receive::<FetchResponse>(12);
    response.responses[0].partitions[0].error_code
}

/// The topics an all-topics Metadata request lists.
fn listed_topics(client: &mut common::RawClient) -> BTreeSet<String> {
    let request = MetadataRequest {
        topics: None,
        ..MetadataRequest::default()
    };
    client.send(12, 3, &request);
    let (_, response) = client.receive::<MetadataResponse>(12);
    response
        .topics
        .iter()
        .filter_map(|topic| topic.name.as_deref().map(str::to_owned))
        .collect()
}

fn creation(
    name: &str,
    pattern: i8,
    principal: &str,
    operation: i8,
    permission: i8,
) -> AclCreation {
    AclCreation {
        resource_type: TOPIC,
        resource_name: name.into(),
        resource_pattern_type: pattern,
        principal: principal.into(),
        host: "*".into(),
        operation,
        permission_type: permission,
    }
}

fn create_acls(client: &mut common::RawClient, creations: Vec<AclCreation>) -> Vec<ErrorCode> {
    client.send(3, 4, &CreateAclsRequest { creations });
    let (_, response) = client.receive::<CreateAclsResponse>(3);
    response
        .results
        .iter()
        .map(|result| result.error_code)
        .collect()
}

/// The topics librdkafka sees in all-topics metadata.
fn rdkafka_topics(bootstrap: &str) -> BTreeSet<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("metadata");
    metadata
        .topics()
        .iter()
        .map(|topic| topic.name().to_owned())
        .collect()
}

/// The values librdkafka reads from partition 0 of `topic` (bounded wait for `want`).
fn rdkafka_read(bootstrap: &str, topic: &str, want: usize) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "acl-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = rdkafka::TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, rdkafka::Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).expect("assign");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut values = Vec::new();
    while values.len() < want && Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            let payload = message.payload().unwrap_or_default();
            values.push(String::from_utf8_lossy(payload).into_owned());
        }
    }
    values
}

/// Metadata v10 asking for the authorized operations (KIP-430): the cluster's bits and each
/// listed topic's.
fn authorized_operations(client: &mut common::RawClient) -> (i32, BTreeMap<String, i32>) {
    let request = MetadataRequest {
        topics: None,
        include_cluster_authorized_operations: true,
        include_topic_authorized_operations: true,
        ..MetadataRequest::default()
    };
    client.send(10, 8, &request);
    let (_, response) = client.receive::<MetadataResponse>(10);
    let topics = response
        .topics
        .iter()
        .filter_map(|topic| {
            Some((
                topic.name.as_deref()?.to_owned(),
                topic.topic_authorized_operations,
            ))
        })
        .collect();
    (response.cluster_authorized_operations, topics)
}

/// Bits of Kafka's AclOperation codes: READ 3, DESCRIBE 8; every topic operation (READ, WRITE,
/// CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS); every cluster operation
/// (CREATE, ALTER, DESCRIBE, CLUSTER_ACTION, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE).
const READ_AND_DESCRIBE: i32 = (1 << 3) | (1 << 8);
const TOPIC_ALL: i32 = 0b1101_1111_1000;
const CLUSTER_ALL: i32 = 0b1_1111_1010_0000;

fn start(extra: &[&str]) -> common::Broker {
    let mut args = vec!["--authorizer".to_owned()];
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    common::Broker::start_with(common::BrokerOptions {
        extra_args: args,
        ..common::BrokerOptions::default()
    })
}

#[test]
fn read_on_a_prefix_reads_those_topics_only_and_deny_beats_allow() {
    let broker = start(&["--allow-everyone-if-no-acl-found"]);
    let bootstrap = broker.address.to_string();
    let mut client = broker.client();
    // No topic ACL yet: every topic is open (allow-everyone), so the data goes in.
    assert_eq!(produce(&mut client, "pub-a", "hello"), ErrorCode::None);
    assert_eq!(produce(&mut client, "private", "secret"), ErrorCode::None);

    let codes = create_acls(
        &mut client,
        vec![
            creation("*", LITERAL, "User:nobody", ALL, DENY),
            creation("pub-", PREFIXED, ANONYMOUS, READ, ALLOW),
            // A bad creation fails alone: principal without `Type:`.
            creation("x", LITERAL, "nobody", READ, ALLOW),
        ],
    );
    assert_eq!(
        codes,
        [ErrorCode::None, ErrorCode::None, ErrorCode::InvalidRequest]
    );
    let describe = DescribeAclsRequest {
        resource_type_filter: TOPIC,
        resource_name_filter: Some("pub-a".into()),
        pattern_type_filter: 2, // MATCH: every ACL that covers the topic pub-a
        principal_filter: None,
        host_filter: None,
        operation: ANY,
        permission_type: ANY,
    };
    client.send(3, 5, &describe);
    let (_, described) = client.receive::<DescribeAclsResponse>(3);
    assert_eq!(described.error_code, ErrorCode::None);
    let names: BTreeSet<&str> = described
        .resources
        .iter()
        .map(|resource| resource.resource_name.as_str())
        .collect();
    assert_eq!(names, BTreeSet::from(["*", "pub-"]));

    // Reads the prefix, nothing else; cannot produce; does not see the other topic.
    assert_eq!(fetch(&mut client, "pub-a"), ErrorCode::None);
    assert_eq!(
        fetch(&mut client, "private"),
        ErrorCode::TopicAuthorizationFailed
    );
    assert_eq!(
        produce(&mut client, "pub-a", "nope"),
        ErrorCode::TopicAuthorizationFailed
    );
    assert_eq!(
        listed_topics(&mut client),
        BTreeSet::from(["pub-a".to_owned()])
    );
    assert_eq!(
        rdkafka_topics(&bootstrap),
        BTreeSet::from(["pub-a".to_owned()])
    );
    assert_eq!(rdkafka_read(&bootstrap, "pub-a", 1), ["hello"]);
    // KIP-430: READ (and the DESCRIBE it implies) on the topic; no ACL names the cluster, so
    // allow-everyone grants all of its operations.
    let (cluster, topics) = authorized_operations(&mut client);
    assert_eq!(cluster, CLUSTER_ALL);
    assert_eq!(
        topics,
        BTreeMap::from([("pub-a".to_owned(), READ_AND_DESCRIBE)])
    );

    assert_eq!(
        offset_fetch_codes(&mut client, &["pub-a", "private"]),
        [ErrorCode::None, ErrorCode::TopicAuthorizationFailed]
    );
    deny_beats_allow_until_deleted(&mut client);
}

/// OffsetFetch v7 of group `g` (no group ACL: open) for partition 0 of each topic: the
/// partitions' error codes, in order.
fn offset_fetch_codes(client: &mut common::RawClient, topics: &[&str]) -> Vec<ErrorCode> {
    let request = OffsetFetchRequest {
        group_id: "g".into(),
        topics: Some(
            topics
                .iter()
                .map(|name| OffsetFetchRequestTopic {
                    name: (*name).into(),
                    partition_indexes: vec![0],
                })
                .collect(),
        ),
        ..OffsetFetchRequest::default()
    };
    client.send(7, 8, &request);
    let (_, response) = client.receive::<OffsetFetchResponse>(7);
    assert_eq!(response.error_code, ErrorCode::None);
    response
        .topics
        .iter()
        .map(|topic| topic.partitions[0].error_code)
        .collect()
}

/// A DENY of READ on `pub-a` wins over the prefix ALLOW; DeleteAcls removes it (and reports
/// it), and reading works again.
fn deny_beats_allow_until_deleted(client: &mut common::RawClient) {
    let codes = create_acls(
        client,
        vec![creation("pub-a", LITERAL, ANONYMOUS, READ, DENY)],
    );
    assert_eq!(codes, [ErrorCode::None]);
    assert_eq!(fetch(client, "pub-a"), ErrorCode::TopicAuthorizationFailed);
    let delete = DeleteAclsRequest {
        filters: vec![DeleteAclsFilter {
            resource_type_filter: TOPIC,
            resource_name_filter: Some("pub-a".into()),
            pattern_type_filter: LITERAL,
            principal_filter: Some(ANONYMOUS.into()),
            host_filter: None,
            operation: ANY,
            permission_type: DENY,
        }],
    };
    client.send(3, 6, &delete);
    let (_, deleted) = client.receive::<DeleteAclsResponse>(3);
    let result = &deleted.filter_results[0];
    assert_eq!(result.error_code, ErrorCode::None);
    assert_eq!(result.matching_acls.len(), 1);
    assert_eq!(result.matching_acls[0].permission_type, DENY);
    assert_eq!(fetch(client, "pub-a"), ErrorCode::None);
}

#[test]
fn deny_by_default_and_super_users_see_all() {
    // Deny-by-default: no ACL, not a super user → nothing (and no ACL can be created).
    let closed = start(&[]);
    let mut client = closed.client();
    assert_eq!(
        produce(&mut client, "t", "x"),
        ErrorCode::TopicAuthorizationFailed
    );
    assert!(listed_topics(&mut client).is_empty());
    let codes = create_acls(
        &mut client,
        vec![creation("t", LITERAL, ANONYMOUS, ALL, ALLOW)],
    );
    assert_eq!(codes, [ErrorCode::ClusterAuthorizationFailed]);
    let find = FindCoordinatorRequest {
        key: "g".into(),
        ..FindCoordinatorRequest::default()
    };
    client.send(3, 7, &find);
    let (_, found) = client.receive::<FindCoordinatorResponse>(3);
    assert_eq!(found.error_code, ErrorCode::GroupAuthorizationFailed);
    // The audit log names the principal and the operation (written before the response).
    let audited = common::eventually(Duration::from_secs(10), || {
        let log = closed.log();
        log.contains("authorization denied") && log.contains("User:ANONYMOUS")
    });
    assert!(audited, "no audit line: {}", closed.log());
    assert_eq!(
        authorized_operations(&mut closed.client()),
        (0, BTreeMap::new())
    );

    // The same principal as a super user may do everything.
    let open = start(&["--super-users", ANONYMOUS]);
    let bootstrap = open.address.to_string();
    let mut client = open.client();
    assert_eq!(produce(&mut client, "pub-a", "one"), ErrorCode::None);
    assert_eq!(produce(&mut client, "private", "two"), ErrorCode::None);
    let all = BTreeSet::from(["private".to_owned(), "pub-a".to_owned()]);
    assert_eq!(listed_topics(&mut client), all);
    assert_eq!(rdkafka_topics(&bootstrap), all);
    assert_eq!(rdkafka_read(&bootstrap, "private", 1), ["two"]);
    let (cluster, topics) = authorized_operations(&mut client);
    assert_eq!(cluster, CLUSTER_ALL);
    assert!(topics.values().all(|bits| *bits == TOPIC_ALL), "{topics:?}");
    // Not asked for: Kafka's "omitted" value.
    let request = MetadataRequest {
        topics: None,
        ..MetadataRequest::default()
    };
    client.send(10, 9, &request);
    let (_, response) = client.receive::<MetadataResponse>(10);
    assert_eq!(response.cluster_authorized_operations, i32::MIN);
    assert!(
        response
            .topics
            .iter()
            .all(|t| t.topic_authorized_operations == i32::MIN)
    );
}

/// The cluster-level admin APIs of SCRAM credentials and reassignment need DESCRIBE or ALTER
/// on the cluster, as in Kafka's KafkaApis: deny-by-default refuses each without acting.
#[test]
fn credential_and_reassignment_apis_need_the_cluster_permission() {
    let closed = start(&[]);
    let mut client = closed.client();
    client.send(0, 1, &DescribeUserScramCredentialsRequest::default());
    let (_, described) = client.receive::<DescribeUserScramCredentialsResponse>(0);
    assert_eq!(described.error_code, ErrorCode::ClusterAuthorizationFailed);
    assert!(described.results.is_empty());
    let deletion = ScramCredentialDeletion {
        name: "alice".into(),
        mechanism: 2,
    };
    let alter = AlterUserScramCredentialsRequest {
        deletions: vec![deletion],
        upsertions: Vec::new(),
    };
    client.send(0, 2, &alter);
    let (_, altered) = client.receive::<AlterUserScramCredentialsResponse>(0);
    let codes: Vec<ErrorCode> = altered.results.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, [ErrorCode::ClusterAuthorizationFailed]);
    client.send(0, 3, &ListPartitionReassignmentsRequest::default());
    let (_, listed) = client.receive::<ListPartitionReassignmentsResponse>(0);
    assert_eq!(listed.error_code, ErrorCode::ClusterAuthorizationFailed);
    client.send(0, 4, &UnregisterBrokerRequest { broker_id: 7 });
    let (_, unregistered) = client.receive::<UnregisterBrokerResponse>(0);
    assert_eq!(
        unregistered.error_code,
        ErrorCode::ClusterAuthorizationFailed
    );
}

fn cli(args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(ToString::to_string).collect();
    let mut out = Vec::new();
    let outcome = ringbroker::cli::run(&args, &mut out).unwrap();
    assert_eq!(outcome, ringbroker::cli::Outcome::Success);
    String::from_utf8(out).unwrap()
}

#[test]
fn the_acl_cli_adds_lists_and_removes() {
    let broker = start(&["--allow-everyone-if-no-acl-found"]);
    let bootstrap = broker.address.to_string();
    let b = bootstrap.as_str();
    let added = cli(&[
        "acl",
        "add",
        "--bootstrap",
        b,
        "--principal",
        ANONYMOUS,
        "--topic",
        "pub-",
        "--prefixed",
        "--operation",
        "read",
        "--operation",
        "DESCRIBE",
    ]);
    assert_eq!(
        added.lines().filter(|l| l.starts_with("added: ")).count(),
        2,
        "{added}"
    );
    cli(&[
        "acl",
        "add",
        "--bootstrap",
        b,
        "--principal",
        "User:ops",
        "--group",
        "g1",
        "--operation",
        "READ",
        "--deny",
    ]);
    let listed = cli(&[
        "acl",
        "list",
        "--bootstrap",
        b,
        "--topic",
        "pub-",
        "--prefixed",
    ]);
    let rows: Vec<&str> = listed.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{listed}");
    assert!(
        rows.iter()
            .all(|row| row.starts_with("TOPIC") && row.contains("PREFIXED"))
    );
    let every = cli(&["acl", "list", "--bootstrap", b]);
    assert!(every.contains("GROUP") && every.contains("DENY"), "{every}");

    let removed = cli(&["acl", "remove", "--bootstrap", b, "--principal", ANONYMOUS]);
    assert!(removed.starts_with("removed 2 ACL(s)"), "{removed}");
    let left = cli(&["acl", "list", "--bootstrap", b]);
    assert_eq!(
        left.lines().count(),
        2,
        "the header and the group DENY: {left}"
    );
}
