//! Differential test of our admin and SASL message codecs against the `kafka-protocol` crate.
//!
//! For every message and every version both codecs support: build a populated kafka-protocol
//! value (every field the version has set to a non-default value, tagged ones included), encode
//! it with kafka-protocol, decode with ours, re-encode with ours and require identical bytes,
//! then decode our bytes with kafka-protocol and require the original value. Runs on the test
//! thread; no broker, no shards.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages as kp;
use kafka_protocol::protocol::{Decodable, Encodable, Message as KpMessage, StrBytes};
use ringbroker::protocol::Message;
use ringbroker::protocol::messages::{
    alter_configs, create_acls, create_partitions, create_topics, delete_acls, delete_topics,
    describe_acls, describe_cluster, describe_configs, describe_quorum, elect_leaders,
    incremental_alter_configs, sasl_authenticate, sasl_handshake,
};
use std::fmt::Debug;

fn s(text: &'static str) -> StrBytes {
    StrBytes::from_static_str(text)
}

fn topic(text: &'static str) -> kp::TopicName {
    kp::TopicName(s(text))
}

/// kafka-protocol bytes → ours → our bytes (must be identical) → kafka-protocol (must equal).
fn assert_same_bytes<Ours, Theirs>(theirs: &Theirs, version: i16)
where
    Ours: Message + Debug,
    Theirs: Encodable + Decodable + PartialEq + Debug,
{
    let mut their_bytes = BytesMut::new();
    theirs
        .encode(&mut their_bytes, version)
        .unwrap_or_else(|error| panic!("kafka-protocol encode v{version}: {error}"));
    let ours = Ours::decode_body(their_bytes.clone().freeze(), version)
        .unwrap_or_else(|error| panic!("{:?} v{version}: {error}", Ours::API_KEY));
    let mut our_bytes = BytesMut::new();
    ours.encode_body(&mut our_bytes, version);
    assert_eq!(
        their_bytes,
        our_bytes,
        "{:?} v{version}: re-encoded bytes differ; decoded {ours:?}",
        Ours::API_KEY
    );
    let mut input = our_bytes.freeze();
    let back = Theirs::decode(&mut input, version)
        .unwrap_or_else(|error| panic!("kafka-protocol decode v{version}: {error}"));
    assert!(
        input.is_empty(),
        "{:?} v{version}: bytes left",
        Ours::API_KEY
    );
    assert_eq!(&back, theirs, "{:?} v{version}", Ours::API_KEY);
}

/// Runs `check` for every version in both our range and kafka-protocol's; fails when the two
/// ranges do not overlap, so a silently empty loop cannot pass.
fn for_common_versions<Ours: Message, Theirs: KpMessage>(mut check: impl FnMut(i16)) {
    let min = Ours::VERSION_MIN.max(Theirs::VERSIONS.min);
    let max = Ours::VERSION_MAX.min(Theirs::VERSIONS.max);
    assert!(min <= max, "{:?}: no common version", Ours::API_KEY);
    for version in min..=max {
        check(version);
    }
}

fn differential<Ours, Theirs>(build: impl Fn(i16) -> Theirs)
where
    Ours: Message + Debug,
    Theirs: KpMessage + Encodable + Decodable + PartialEq + Debug,
{
    for_common_versions::<Ours, Theirs>(|version| {
        assert_same_bytes::<Ours, Theirs>(&build(version), version);
    });
}

fn create_topics_request(version: i16) -> kp::CreateTopicsRequest {
    let assignment = kp::create_topics_request::CreatableReplicaAssignment::default()
        .with_partition_index(4)
        .with_broker_ids(vec![kp::BrokerId(1), kp::BrokerId(2)]);
    let configs = vec![
        kp::create_topics_request::CreatableTopicConfig::default()
            .with_name(s("cleanup.policy"))
            .with_value(Some(s("compact"))),
        kp::create_topics_request::CreatableTopicConfig::default()
            .with_name(s("retention.ms"))
            .with_value(None),
    ];
    let topic = kp::create_topics_request::CreatableTopic::default()
        .with_name(topic("orders"))
        .with_num_partitions(-1)
        .with_replication_factor(3)
        .with_assignments(vec![assignment])
        .with_configs(configs);
    kp::CreateTopicsRequest::default()
        .with_topics(vec![topic])
        .with_timeout_ms(1_234)
        .with_validate_only(version >= 1)
}

fn create_topics_response(version: i16) -> kp::CreateTopicsResponse {
    let mut result = kp::create_topics_response::CreatableTopicResult::default()
        .with_name(topic("orders"))
        .with_error_code(36)
        .with_error_message(Some(s("exists")));
    if version >= 5 {
        let config = kp::create_topics_response::CreatableTopicConfigs::default()
            .with_name(s("cleanup.policy"))
            .with_value(None)
            .with_read_only(true)
            .with_config_source(4)
            .with_is_sensitive(true);
        result = result
            .with_topic_config_error_code(29)
            .with_num_partitions(6)
            .with_replication_factor(2)
            .with_configs(Some(vec![config]));
    }
    if version >= 7 {
        result.topic_id = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0".parse().unwrap();
    }
    kp::CreateTopicsResponse::default()
        .with_throttle_time_ms(17)
        .with_topics(vec![result])
}

#[test]
fn create_topics() {
    differential::<create_topics::CreateTopicsRequest, _>(create_topics_request);
    differential::<create_topics::CreateTopicsResponse, _>(create_topics_response);
}

#[test]
fn create_topics_null_configs_in_response() {
    // v5+ allow a null configs array; check that both codecs agree on its encoding.
    for_common_versions::<create_topics::CreateTopicsResponse, kp::CreateTopicsResponse>(
        |version| {
            if version >= 5 {
                let mut response = create_topics_response(version);
                response.topics[0].configs = None;
                assert_same_bytes::<create_topics::CreateTopicsResponse, _>(&response, version);
            }
        },
    );
}

fn delete_topics_request(version: i16) -> kp::DeleteTopicsRequest {
    let mut request = kp::DeleteTopicsRequest::default().with_timeout_ms(2_500);
    if version >= 6 {
        let by_name =
            kp::delete_topics_request::DeleteTopicState::default().with_name(Some(topic("orders")));
        let mut by_id = kp::delete_topics_request::DeleteTopicState::default();
        by_id.topic_id = "00112233-4455-6677-8899-aabbccddeeff".parse().unwrap();
        request.topics = vec![by_name, by_id];
    } else {
        request.topic_names = vec![topic("orders"), topic("payments")];
    }
    request
}

fn delete_topics_response(version: i16) -> kp::DeleteTopicsResponse {
    let mut result = kp::delete_topics_response::DeletableTopicResult::default()
        .with_name(Some(topic("orders")))
        .with_error_code(73);
    if version >= 5 {
        result.error_message = Some(s("deletion disabled"));
    }
    let mut results = vec![result];
    if version >= 6 {
        let mut by_id = kp::delete_topics_response::DeletableTopicResult::default()
            .with_name(None)
            .with_error_code(100);
        by_id.topic_id = "00112233-4455-6677-8899-aabbccddeeff".parse().unwrap();
        results.push(by_id);
    }
    kp::DeleteTopicsResponse::default()
        .with_throttle_time_ms(5)
        .with_responses(results)
}

#[test]
fn delete_topics() {
    differential::<delete_topics::DeleteTopicsRequest, _>(delete_topics_request);
    differential::<delete_topics::DeleteTopicsResponse, _>(delete_topics_response);
}

fn create_partitions_request(_version: i16) -> kp::CreatePartitionsRequest {
    let assignment = kp::create_partitions_request::CreatePartitionsAssignment::default()
        .with_broker_ids(vec![kp::BrokerId(3), kp::BrokerId(1)]);
    let manual = kp::create_partitions_request::CreatePartitionsTopic::default()
        .with_name(topic("orders"))
        .with_count(8)
        .with_assignments(Some(vec![assignment]));
    let automatic = kp::create_partitions_request::CreatePartitionsTopic::default()
        .with_name(topic("payments"))
        .with_count(2)
        .with_assignments(None);
    kp::CreatePartitionsRequest::default()
        .with_topics(vec![manual, automatic])
        .with_timeout_ms(9_000)
        .with_validate_only(true)
}

fn create_partitions_response(_version: i16) -> kp::CreatePartitionsResponse {
    let failed = kp::create_partitions_response::CreatePartitionsTopicResult::default()
        .with_name(topic("orders"))
        .with_error_code(37)
        .with_error_message(Some(s("cannot shrink")));
    let ok = kp::create_partitions_response::CreatePartitionsTopicResult::default()
        .with_name(topic("payments"))
        .with_error_message(None);
    kp::CreatePartitionsResponse::default()
        .with_throttle_time_ms(11)
        .with_results(vec![failed, ok])
}

#[test]
fn create_partitions() {
    differential::<create_partitions::CreatePartitionsRequest, _>(create_partitions_request);
    differential::<create_partitions::CreatePartitionsResponse, _>(create_partitions_response);
}

fn describe_configs_request(version: i16) -> kp::DescribeConfigsRequest {
    let some_keys = kp::describe_configs_request::DescribeConfigsResource::default()
        .with_resource_type(2)
        .with_resource_name(s("orders"))
        .with_configuration_keys(Some(vec![s("retention.ms"), s("cleanup.policy")]));
    let all_keys = kp::describe_configs_request::DescribeConfigsResource::default()
        .with_resource_type(4)
        .with_resource_name(s("1"))
        .with_configuration_keys(None);
    kp::DescribeConfigsRequest::default()
        .with_resources(vec![some_keys, all_keys])
        .with_include_synonyms(version >= 1)
        .with_include_documentation(version >= 3)
}

fn describe_configs_response(version: i16) -> kp::DescribeConfigsResponse {
    use kp::describe_configs_response as m;
    let synonym = m::DescribeConfigsSynonym::default()
        .with_name(s("log.retention.ms"))
        .with_value(Some(s("604800000")))
        .with_source(5);
    let mut config = m::DescribeConfigsResourceResult::default()
        .with_name(s("retention.ms"))
        .with_value(None)
        .with_read_only(true)
        .with_is_sensitive(true)
        .with_config_source(1)
        .with_synonyms(vec![synonym]);
    if version >= 3 {
        config = config
            .with_config_type(5)
            .with_documentation(Some(s("how long to keep data")));
    }
    let result = m::DescribeConfigsResult::default()
        .with_error_code(42)
        .with_error_message(None)
        .with_resource_type(2)
        .with_resource_name(s("orders"))
        .with_configs(vec![config]);
    kp::DescribeConfigsResponse::default()
        .with_throttle_time_ms(21)
        .with_results(vec![result])
}

#[test]
fn describe_configs() {
    differential::<describe_configs::DescribeConfigsRequest, _>(describe_configs_request);
    differential::<describe_configs::DescribeConfigsResponse, _>(describe_configs_response);
}

fn incremental_alter_configs_request(_version: i16) -> kp::IncrementalAlterConfigsRequest {
    use kp::incremental_alter_configs_request as m;
    let set = m::AlterableConfig::default()
        .with_name(s("retention.ms"))
        .with_config_operation(0)
        .with_value(Some(s("1000")));
    let delete = m::AlterableConfig::default()
        .with_name(s("segment.ms"))
        .with_config_operation(1)
        .with_value(None);
    let resource = m::AlterConfigsResource::default()
        .with_resource_type(2)
        .with_resource_name(s("orders"))
        .with_configs(vec![set, delete]);
    kp::IncrementalAlterConfigsRequest::default()
        .with_resources(vec![resource])
        .with_validate_only(true)
}

fn incremental_alter_configs_response(_version: i16) -> kp::IncrementalAlterConfigsResponse {
    use kp::incremental_alter_configs_response as m;
    let failed = m::AlterConfigsResourceResponse::default()
        .with_error_code(40)
        .with_error_message(Some(s("bad value")))
        .with_resource_type(2)
        .with_resource_name(s("orders"));
    let ok = m::AlterConfigsResourceResponse::default()
        .with_error_message(None)
        .with_resource_type(4)
        .with_resource_name(s("1"));
    kp::IncrementalAlterConfigsResponse::default()
        .with_throttle_time_ms(2)
        .with_responses(vec![failed, ok])
}

#[test]
fn incremental_alter_configs() {
    use incremental_alter_configs as ours;
    differential::<ours::IncrementalAlterConfigsRequest, _>(incremental_alter_configs_request);
    differential::<ours::IncrementalAlterConfigsResponse, _>(incremental_alter_configs_response);
}

fn alter_configs_request(version: i16) -> kp::AlterConfigsRequest {
    use kp::alter_configs_request as m;
    let set = m::AlterableConfig::default()
        .with_name(s("retention.ms"))
        .with_value(Some(s("1000")));
    let null = m::AlterableConfig::default()
        .with_name(s("segment.ms"))
        .with_value(None);
    let topic = m::AlterConfigsResource::default()
        .with_resource_type(2)
        .with_resource_name(s("orders"))
        .with_configs(vec![set, null]);
    let broker = m::AlterConfigsResource::default()
        .with_resource_type(4)
        .with_resource_name(s(""));
    kp::AlterConfigsRequest::default()
        .with_resources(vec![topic, broker])
        .with_validate_only(version != 1)
}

fn alter_configs_response(version: i16) -> kp::AlterConfigsResponse {
    use kp::alter_configs_response as m;
    let failed = m::AlterConfigsResourceResponse::default()
        .with_error_code(40)
        .with_error_message(Some(s("bad value")))
        .with_resource_type(2)
        .with_resource_name(s("orders"));
    let ok = m::AlterConfigsResourceResponse::default()
        .with_error_message(None)
        .with_resource_type(4)
        .with_resource_name(s("1"));
    kp::AlterConfigsResponse::default()
        .with_throttle_time_ms(2 + i32::from(version))
        .with_responses(vec![failed, ok])
}

#[test]
fn alter_configs() {
    use alter_configs as ours;
    differential::<ours::AlterConfigsRequest, _>(alter_configs_request);
    differential::<ours::AlterConfigsResponse, _>(alter_configs_response);
}

fn describe_cluster_request(version: i16) -> kp::DescribeClusterRequest {
    let mut request =
        kp::DescribeClusterRequest::default().with_include_cluster_authorized_operations(true);
    if version >= 1 {
        request.endpoint_type = 2;
    }
    request
}

fn describe_cluster_response(version: i16) -> kp::DescribeClusterResponse {
    use kp::describe_cluster_response as m;
    let racked = m::DescribeClusterBroker::default()
        .with_broker_id(kp::BrokerId(1))
        .with_host(s("10.0.0.1"))
        .with_port(9092)
        .with_rack(Some(s("rack-a")));
    let unracked = m::DescribeClusterBroker::default()
        .with_broker_id(kp::BrokerId(2))
        .with_host(s("10.0.0.2"))
        .with_port(9093)
        .with_rack(None);
    let mut response = kp::DescribeClusterResponse::default()
        .with_throttle_time_ms(8)
        .with_error_code(31)
        .with_error_message(Some(s("denied")))
        .with_cluster_id(s("cluster-a"))
        .with_controller_id(kp::BrokerId(1))
        .with_brokers(vec![racked, unracked])
        .with_cluster_authorized_operations(0x0ff0);
    if version >= 1 {
        response.endpoint_type = 2;
    }
    response
}

#[test]
fn describe_cluster() {
    // kafka-protocol 0.15.1 stops at v1; v2 (is_fenced, include_fenced_brokers) is covered by
    // the byte-layout tests in describe_cluster.rs.
    differential::<describe_cluster::DescribeClusterRequest, _>(describe_cluster_request);
    differential::<describe_cluster::DescribeClusterResponse, _>(describe_cluster_response);
}

fn describe_quorum_request(_version: i16) -> kp::DescribeQuorumRequest {
    use kp::describe_quorum_request as m;
    let partitions = vec![
        m::PartitionData::default().with_partition_index(0),
        m::PartitionData::default().with_partition_index(3),
    ];
    let topic = m::TopicData::default()
        .with_topic_name(topic("__cluster_metadata"))
        .with_partitions(partitions);
    kp::DescribeQuorumRequest::default().with_topics(vec![topic])
}

/// A replica state as kafka-protocol decodes it from its wire form: the crate does not
/// re-export its uuid type, so a v2 directory id comes out of its own decoder.
fn replica_state(
    version: i16,
    id: i32,
    log_end_offset: i64,
) -> kp::describe_quorum_response::ReplicaState {
    let mut wire = id.to_be_bytes().to_vec();
    if version >= 2 {
        wire.extend_from_slice(&[u8::try_from(id).unwrap(); 16]);
    }
    wire.extend_from_slice(&log_end_offset.to_be_bytes());
    if version >= 1 {
        wire.extend_from_slice(&1_700_000_000_000_i64.to_be_bytes());
        wire.extend_from_slice(&1_700_000_000_500_i64.to_be_bytes());
    }
    wire.push(0); // no tagged fields
    kp::describe_quorum_response::ReplicaState::decode(&mut Bytes::from(wire), version).unwrap()
}

fn describe_quorum_response(version: i16) -> kp::DescribeQuorumResponse {
    use kp::describe_quorum_response as m;
    let mut partition = m::PartitionData::default()
        .with_partition_index(0)
        .with_error_code(6)
        .with_leader_id(kp::BrokerId(1))
        .with_leader_epoch(7)
        .with_high_watermark(1234)
        .with_current_voters(vec![
            replica_state(version, 1, 1234),
            replica_state(version, 2, 1200),
        ])
        .with_observers(vec![replica_state(version, 4, -1)]);
    let mut response = kp::DescribeQuorumResponse::default().with_error_code(0);
    if version >= 2 {
        partition.error_message = Some(s("not the leader"));
        response.error_message = Some(s("partly"));
        let listener = m::Listener::default()
            .with_name(s("CONTROLLER"))
            .with_host(s("10.0.0.1"))
            .with_port(9192);
        response.nodes = vec![
            m::Node::default()
                .with_node_id(kp::BrokerId(1))
                .with_listeners(vec![listener]),
        ];
    }
    let topic = m::TopicData::default()
        .with_topic_name(topic("__cluster_metadata"))
        .with_partitions(vec![partition]);
    response.with_topics(vec![topic])
}

#[test]
fn describe_quorum() {
    differential::<describe_quorum::DescribeQuorumRequest, _>(describe_quorum_request);
    differential::<describe_quorum::DescribeQuorumResponse, _>(describe_quorum_response);
}

fn sasl_handshake_request(_version: i16) -> kp::SaslHandshakeRequest {
    kp::SaslHandshakeRequest::default().with_mechanism(s("SCRAM-SHA-512"))
}

fn sasl_handshake_response(_version: i16) -> kp::SaslHandshakeResponse {
    kp::SaslHandshakeResponse::default()
        .with_error_code(33)
        .with_mechanisms(vec![s("PLAIN"), s("SCRAM-SHA-256")])
}

#[test]
fn sasl_handshake() {
    differential::<sasl_handshake::SaslHandshakeRequest, _>(sasl_handshake_request);
    differential::<sasl_handshake::SaslHandshakeResponse, _>(sasl_handshake_response);
}

fn sasl_authenticate_request(_version: i16) -> kp::SaslAuthenticateRequest {
    kp::SaslAuthenticateRequest::default()
        .with_auth_bytes(bytes::Bytes::from_static(b"\0user\0secret"))
}

fn sasl_authenticate_response(version: i16) -> kp::SaslAuthenticateResponse {
    let mut response = kp::SaslAuthenticateResponse::default()
        .with_error_code(58)
        .with_error_message(Some(s("authentication failed")))
        .with_auth_bytes(bytes::Bytes::from_static(&[0, 1, 2, 0xff]));
    if version >= 1 {
        response.session_lifetime_ms = 3_600_000;
    }
    response
}

#[test]
fn sasl_authenticate() {
    differential::<sasl_authenticate::SaslAuthenticateRequest, _>(sasl_authenticate_request);
    differential::<sasl_authenticate::SaslAuthenticateResponse, _>(sasl_authenticate_response);
}

fn elect_leaders_request(version: i16) -> kp::ElectLeadersRequest {
    use kp::elect_leaders_request as m;
    let orders = m::TopicPartitions::default()
        .with_topic(topic("orders"))
        .with_partitions(vec![0, 3]);
    let empty = m::TopicPartitions::default().with_topic(topic("empty"));
    kp::ElectLeadersRequest::default()
        .with_election_type(i8::from(version >= 1))
        .with_topic_partitions((version != 1).then(|| vec![orders, empty]))
        .with_timeout_ms(2_000)
}

fn elect_leaders_response(version: i16) -> kp::ElectLeadersResponse {
    use kp::elect_leaders_response as m;
    let elected = m::PartitionResult::default()
        .with_partition_id(0)
        .with_error_code(0)
        .with_error_message(None);
    let refused = m::PartitionResult::default()
        .with_partition_id(3)
        .with_error_code(80)
        .with_error_message(Some(s("not in the ISR")));
    let result = m::ReplicaElectionResult::default()
        .with_topic(topic("orders"))
        .with_partition_result(vec![elected, refused]);
    kp::ElectLeadersResponse::default()
        .with_throttle_time_ms(3)
        .with_error_code(if version >= 1 { 41 } else { 0 })
        .with_replica_election_results(vec![result])
}

#[test]
fn elect_leaders() {
    differential::<elect_leaders::ElectLeadersRequest, _>(elect_leaders_request);
    differential::<elect_leaders::ElectLeadersResponse, _>(elect_leaders_response);
}

fn describe_user_scram_credentials_request(
    _version: i16,
) -> kp::DescribeUserScramCredentialsRequest {
    use kp::describe_user_scram_credentials_request as m;
    kp::DescribeUserScramCredentialsRequest::default()
        .with_users(Some(vec![m::UserName::default().with_name(s("alice"))]))
}

fn describe_user_scram_credentials_response(
    _version: i16,
) -> kp::DescribeUserScramCredentialsResponse {
    use kp::describe_user_scram_credentials_response as m;
    let info = m::CredentialInfo::default()
        .with_mechanism(2)
        .with_iterations(8192);
    let found = m::DescribeUserScramCredentialsResult::default()
        .with_user(s("alice"))
        .with_credential_infos(vec![info]);
    let missing = m::DescribeUserScramCredentialsResult::default()
        .with_user(s("bob"))
        .with_error_code(91)
        .with_error_message(Some(s("no such user")));
    kp::DescribeUserScramCredentialsResponse::default()
        .with_throttle_time_ms(3)
        .with_results(vec![found, missing])
}

#[test]
fn describe_user_scram_credentials() {
    use ringbroker::protocol::messages::describe_user_scram_credentials as ours;
    differential::<ours::DescribeUserScramCredentialsRequest, _>(
        describe_user_scram_credentials_request,
    );
    differential::<ours::DescribeUserScramCredentialsRequest, _>(|_| {
        kp::DescribeUserScramCredentialsRequest::default().with_users(None)
    });
    differential::<ours::DescribeUserScramCredentialsResponse, _>(
        describe_user_scram_credentials_response,
    );
}

fn alter_user_scram_credentials_request(_version: i16) -> kp::AlterUserScramCredentialsRequest {
    use kp::alter_user_scram_credentials_request as m;
    let deletion = m::ScramCredentialDeletion::default()
        .with_name(s("bob"))
        .with_mechanism(1);
    let upsertion = m::ScramCredentialUpsertion::default()
        .with_name(s("alice"))
        .with_mechanism(2)
        .with_iterations(4096)
        .with_salt(Bytes::from_static(b"salt"))
        .with_salted_password(Bytes::from_static(&[9; 64]));
    kp::AlterUserScramCredentialsRequest::default()
        .with_deletions(vec![deletion])
        .with_upsertions(vec![upsertion])
}

fn alter_user_scram_credentials_response(_version: i16) -> kp::AlterUserScramCredentialsResponse {
    use kp::alter_user_scram_credentials_response as m;
    let result = m::AlterUserScramCredentialsResult::default()
        .with_user(s("bob"))
        .with_error_code(91)
        .with_error_message(Some(s("absent")));
    kp::AlterUserScramCredentialsResponse::default().with_results(vec![result])
}

#[test]
fn alter_user_scram_credentials() {
    use ringbroker::protocol::messages::alter_user_scram_credentials as ours;
    differential::<ours::AlterUserScramCredentialsRequest, _>(alter_user_scram_credentials_request);
    differential::<ours::AlterUserScramCredentialsResponse, _>(
        alter_user_scram_credentials_response,
    );
}

/// Kafka's LITERAL (3): the pattern type versions without the field decode to.
fn pattern(version: i16, wanted: i8) -> i8 {
    if version >= 1 { wanted } else { 3 }
}

fn create_acls_request(version: i16) -> kp::CreateAclsRequest {
    let creation = kp::create_acls_request::AclCreation::default()
        .with_resource_type(2)
        .with_resource_name(s("orders"))
        .with_resource_pattern_type(pattern(version, 4))
        .with_principal(s("User:alice"))
        .with_host(s("*"))
        .with_operation(3)
        .with_permission_type(3);
    kp::CreateAclsRequest::default().with_creations(vec![creation])
}

fn create_acls_response(_version: i16) -> kp::CreateAclsResponse {
    let failed = kp::create_acls_response::AclCreationResult::default()
        .with_error_code(42)
        .with_error_message(Some(s("bad principal")));
    kp::CreateAclsResponse::default()
        .with_throttle_time_ms(3)
        .with_results(vec![failed, Default::default()])
}

fn describe_acls_request(version: i16) -> kp::DescribeAclsRequest {
    kp::DescribeAclsRequest::default()
        .with_resource_type_filter(3)
        .with_resource_name_filter(Some(s("group-1")))
        .with_pattern_type_filter(pattern(version, 2))
        .with_principal_filter(None)
        .with_host_filter(Some(s("10.0.0.1")))
        .with_operation(1)
        .with_permission_type(2)
}

fn describe_acls_response(version: i16) -> kp::DescribeAclsResponse {
    let acl = kp::describe_acls_response::AclDescription::default()
        .with_principal(s("User:*"))
        .with_host(s("*"))
        .with_operation(8)
        .with_permission_type(3);
    let resource = kp::describe_acls_response::DescribeAclsResource::default()
        .with_resource_type(2)
        .with_resource_name(s("pub-"))
        .with_pattern_type(pattern(version, 4))
        .with_acls(vec![acl]);
    kp::DescribeAclsResponse::default()
        .with_throttle_time_ms(1)
        .with_error_message(Some(s("none")))
        .with_resources(vec![resource])
}

fn delete_acls_request(version: i16) -> kp::DeleteAclsRequest {
    let filter = kp::delete_acls_request::DeleteAclsFilter::default()
        .with_resource_type_filter(1)
        .with_resource_name_filter(None)
        .with_pattern_type_filter(pattern(version, 1))
        .with_principal_filter(Some(s("User:bob")))
        .with_host_filter(None)
        .with_operation(2)
        .with_permission_type(1);
    kp::DeleteAclsRequest::default().with_filters(vec![filter])
}

fn delete_acls_response(version: i16) -> kp::DeleteAclsResponse {
    let matching = kp::delete_acls_response::DeleteAclsMatchingAcl::default()
        .with_error_message(None)
        .with_resource_type(4)
        .with_resource_name(s("kafka-cluster"))
        .with_pattern_type(pattern(version, 3))
        .with_principal(s("User:ops"))
        .with_host(s("*"))
        .with_operation(7)
        .with_permission_type(3);
    let result = kp::delete_acls_response::DeleteAclsFilterResult::default()
        .with_matching_acls(vec![matching]);
    kp::DeleteAclsResponse::default()
        .with_throttle_time_ms(2)
        .with_filter_results(vec![result])
}

#[test]
fn acls() {
    differential::<create_acls::CreateAclsRequest, _>(create_acls_request);
    differential::<create_acls::CreateAclsResponse, _>(create_acls_response);
    differential::<describe_acls::DescribeAclsRequest, _>(describe_acls_request);
    differential::<describe_acls::DescribeAclsResponse, _>(describe_acls_response);
    differential::<delete_acls::DeleteAclsRequest, _>(delete_acls_request);
    differential::<delete_acls::DeleteAclsResponse, _>(delete_acls_response);
}

fn describe_client_quotas_request(_version: i16) -> kp::DescribeClientQuotasRequest {
    use kp::describe_client_quotas_request as m;
    let exact = m::ComponentData::default()
        .with_entity_type(s("user"))
        .with_match_type(0)
        .with_match(Some(s("alice")));
    let default = m::ComponentData::default()
        .with_entity_type(s("client-id"))
        .with_match_type(1)
        .with_match(None);
    kp::DescribeClientQuotasRequest::default()
        .with_components(vec![exact, default])
        .with_strict(true)
}

fn describe_client_quotas_response(_version: i16) -> kp::DescribeClientQuotasResponse {
    use kp::describe_client_quotas_response as m;
    let entity = vec![
        m::EntityData::default()
            .with_entity_type(s("user"))
            .with_entity_name(Some(s("alice"))),
        m::EntityData::default()
            .with_entity_type(s("client-id"))
            .with_entity_name(None),
    ];
    let values = vec![
        m::ValueData::default()
            .with_key(s("producer_byte_rate"))
            .with_value(1_048_576.0),
        m::ValueData::default()
            .with_key(s("request_percentage"))
            .with_value(12.5),
    ];
    let entry = m::EntryData::default()
        .with_entity(entity)
        .with_values(values);
    kp::DescribeClientQuotasResponse::default()
        .with_throttle_time_ms(7)
        .with_entries(Some(vec![entry]))
}

#[test]
fn describe_client_quotas() {
    use ringbroker::protocol::messages::describe_client_quotas as ours;
    differential::<ours::DescribeClientQuotasRequest, _>(describe_client_quotas_request);
    differential::<ours::DescribeClientQuotasResponse, _>(describe_client_quotas_response);
    // A refusal: error code and message, entries null.
    differential::<ours::DescribeClientQuotasResponse, _>(|_| {
        kp::DescribeClientQuotasResponse::default()
            .with_error_code(42)
            .with_error_message(Some(s("bad filter")))
            .with_entries(None)
    });
}

fn alter_client_quotas_request(_version: i16) -> kp::AlterClientQuotasRequest {
    use kp::alter_client_quotas_request as m;
    let entity = vec![
        m::EntityData::default()
            .with_entity_type(s("user"))
            .with_entity_name(None),
        m::EntityData::default()
            .with_entity_type(s("client-id"))
            .with_entity_name(Some(s("app"))),
    ];
    let ops = vec![
        m::OpData::default()
            .with_key(s("consumer_byte_rate"))
            .with_value(2048.0),
        m::OpData::default()
            .with_key(s("producer_byte_rate"))
            .with_remove(true),
    ];
    let entry = m::EntryData::default().with_entity(entity).with_ops(ops);
    kp::AlterClientQuotasRequest::default()
        .with_entries(vec![entry])
        .with_validate_only(true)
}

fn alter_client_quotas_response(_version: i16) -> kp::AlterClientQuotasResponse {
    use kp::alter_client_quotas_response as m;
    let entity = vec![
        m::EntityData::default()
            .with_entity_type(s("user"))
            .with_entity_name(Some(s("bob"))),
    ];
    let failed = m::EntryData::default()
        .with_error_code(42)
        .with_error_message(Some(s("unknown key")))
        .with_entity(entity.clone());
    let done = m::EntryData::default().with_entity(entity);
    kp::AlterClientQuotasResponse::default()
        .with_throttle_time_ms(5)
        .with_entries(vec![failed, done])
}

#[test]
fn alter_client_quotas() {
    use ringbroker::protocol::messages::alter_client_quotas as ours;
    differential::<ours::AlterClientQuotasRequest, _>(alter_client_quotas_request);
    differential::<ours::AlterClientQuotasResponse, _>(alter_client_quotas_response);
}
