//! SASL on a SASL_PLAINTEXT listener (issue 19): librdkafka authenticates with SCRAM-SHA-512
//! (user created by `ringbroker user add` before the first start) and with PLAIN (allowed on
//! plaintext by configuration), produces and consumes; a wrong password gets
//! SASL_AUTHENTICATION_FAILED and nothing is served; a non-SASL request before authentication
//! and an oversized pre-authentication frame close the connection; a session that outlives
//! `connections.max.reauth.ms` without re-authenticating is closed; AlterUserScramCredentials
//! adds a user librdkafka then logs in as, DescribeUserScramCredentials lists it, deleting it
//! locks it out.
mod common;

use common::{Broker, BrokerOptions, RawClient};
use rdkafka::ClientConfig;
use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use ringbroker::cluster::metadata::ScramMechanism;
use ringbroker::protocol::ErrorCode;
use ringbroker::protocol::messages::alter_user_scram_credentials::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse, ScramCredentialDeletion,
    ScramCredentialUpsertion,
};
use ringbroker::protocol::messages::describe_user_scram_credentials::{
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
    DescribeUserScramCredentialsResult, UserName,
};
use ringbroker::protocol::messages::metadata::{MetadataRequest, MetadataResponse};
use ringbroker::protocol::messages::sasl_authenticate::{
    SaslAuthenticateRequest, SaslAuthenticateResponse,
};
use ringbroker::protocol::messages::sasl_handshake::{SaslHandshakeRequest, SaslHandshakeResponse};
use ringbroker::security::scram;
use std::process::Command;
use std::time::{Duration, Instant};

const USER: &str = "alice";
const PASSWORD: &str = "alice-secret";

/// `ringbroker user add` into the unstarted broker's data dir, then a start on a
/// SASL_PLAINTEXT listener with `flags`.
fn sasl_broker(flags: &[&str]) -> Broker {
    let mut broker = Broker::unstarted(BrokerOptions::default());
    let status = Command::new(env!("CARGO_BIN_EXE_ringbroker"))
        .args(["user", "add", USER, "--mechanism", "SCRAM-SHA-512"])
        .args(["--password", PASSWORD, "--data-dir"])
        .arg(broker.data_dir())
        .status()
        .expect("run user add");
    assert!(status.success(), "user add failed: {status}");
    // A second user, SCRAM-SHA-256, its password from a file.
    let password_file = broker.data_dir().with_file_name("bob.password");
    std::fs::write(&password_file, "bob-secret\n").expect("password file");
    let status = Command::new(env!("CARGO_BIN_EXE_ringbroker"))
        .args(["user", "add", "bob", "--mechanism", "SCRAM-SHA-256"])
        .arg("--password-file")
        .arg(&password_file)
        .arg("--data-dir")
        .arg(broker.data_dir())
        .status()
        .expect("run user add");
    assert!(
        status.success(),
        "user add --password-file failed: {status}"
    );
    let listen = format!("SASL_PLAINTEXT://{}", broker.address);
    let args = broker.extra_args_mut();
    args.extend(["--listen".to_owned(), listen]);
    args.extend(flags.iter().map(|flag| (*flag).to_owned()));
    broker.start_again();
    broker
}

fn client_config(broker: &Broker, mechanism: &str, password: &str) -> ClientConfig {
    user_config(broker, mechanism, USER, password)
}

fn user_config(broker: &Broker, mechanism: &str, user: &str, password: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", broker.address.to_string())
        .set("security.protocol", "SASL_PLAINTEXT")
        .set("sasl.mechanisms", mechanism)
        .set("sasl.username", user)
        .set("sasl.password", password);
    config
}

/// Produces `count` records to partition 0 of `topic` and reads them back.
fn produce_and_consume(broker: &Broker, mechanism: &str, topic: &str) {
    let count = 100;
    let producer: ThreadedProducer<DefaultProducerContext> =
        client_config(broker, mechanism, PASSWORD)
            .set("message.timeout.ms", "30000")
            .create()
            .expect("producer");
    for index in 0..count {
        let value = format!("value-{index}");
        let record = BaseRecord::<(), _>::to(topic).payload(&value).partition(0);
        producer
            .send(record)
            .map_err(|(error, _)| error)
            .expect("send");
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
    let consumer: BaseConsumer = client_config(broker, mechanism, PASSWORD)
        .set("group.id", format!("{topic}-group"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .expect("assignment");
    consumer.assign(&assignment).expect("assign");
    let mut received: Vec<String> = Vec::new();
    // Bounded: at most 600 polls of up to 100 ms.
    for _ in 0..600 {
        if received.len() == count {
            break;
        }
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.expect("consume");
            received.push(String::from_utf8_lossy(message.payload().unwrap_or_default()).into());
        }
    }
    let expected: Vec<String> = (0..count).map(|index| format!("value-{index}")).collect();
    assert_eq!(received, expected);
}

#[test]
fn rdkafka_scram_sha512_produces_and_consumes() {
    let broker = sasl_broker(&["--sasl-mechanisms", "SCRAM-SHA-512"]);
    produce_and_consume(&broker, "SCRAM-SHA-512", "scram-topic");
    assert!(broker.log().contains("authenticated"), "{}", broker.log());
}

#[test]
fn rdkafka_plain_produces_and_consumes_when_allowed_on_plaintext() {
    let broker = sasl_broker(&["--sasl-plain-on-plaintext", "true"]);
    produce_and_consume(&broker, "PLAIN", "plain-topic");
}

#[test]
fn rdkafka_with_a_wrong_password_is_refused_and_audited() {
    let broker = sasl_broker(&["--sasl-mechanisms", "SCRAM-SHA-512"]);
    let consumer: BaseConsumer = client_config(&broker, "SCRAM-SHA-512", "wrong")
        .create()
        .expect("consumer");
    let metadata = consumer.fetch_metadata(None, Duration::from_secs(5));
    assert!(metadata.is_err(), "metadata served without authentication");
    let log = broker.log();
    assert!(
        log.contains("authentication failed") && log.contains("user=alice"),
        "{log}"
    );
    assert!(log.contains("mechanism=SCRAM-SHA-512"), "{log}");
}

fn handshake(client: &mut RawClient, mechanism: &str) -> SaslHandshakeResponse {
    let request = SaslHandshakeRequest {
        mechanism: mechanism.into(),
    };
    client.try_call(1, &request).expect("handshake")
}

fn plain(client: &mut RawClient, password: &str) -> SaslAuthenticateResponse {
    let handshake = handshake(client, "PLAIN");
    assert_eq!(handshake.error_code, ErrorCode::None);
    let request = SaslAuthenticateRequest {
        auth_bytes: format!("\0{USER}\0{password}").into_bytes().into(),
    };
    client.try_call(2, &request).expect("authenticate")
}

fn metadata(client: &mut RawClient) -> std::io::Result<MetadataResponse> {
    client.try_call(9, &MetadataRequest::default())
}

#[test]
fn a_wrong_password_gets_authentication_failed_and_nothing_is_served() {
    let broker = sasl_broker(&["--sasl-plain-on-plaintext", "true"]);
    let mut client = broker.client();
    let response = plain(&mut client, "wrong");
    assert_eq!(response.error_code, ErrorCode::SaslAuthenticationFailed);
    assert!(
        metadata(&mut client).is_err(),
        "served after a failed login"
    );
    assert!(client.is_closed());
    let mut client = broker.client();
    assert_eq!(plain(&mut client, PASSWORD).error_code, ErrorCode::None);
    assert!(metadata(&mut client).is_ok());
}

#[test]
fn a_non_sasl_request_before_authentication_closes_the_connection() {
    let broker = sasl_broker(&[]);
    let mut client = broker.client();
    // ApiVersions is served before authentication; Metadata is not.
    let request = ringbroker::protocol::messages::api_versions::ApiVersionsRequest::default();
    let _: ringbroker::protocol::messages::api_versions::ApiVersionsResponse =
        client.try_call(0, &request).expect("api versions");
    assert!(metadata(&mut client).is_err());
    assert!(client.is_closed());
    assert!(
        broker.log().contains("before SASL authentication"),
        "{}",
        broker.log()
    );
}

/// Sends `token` as a bare size-prefixed frame and reads the bare answer (SaslHandshake v0).
fn raw_token(client: &mut RawClient, token: &[u8]) -> std::io::Result<bytes::Bytes> {
    let mut frame = i32::try_from(token.len()).unwrap().to_be_bytes().to_vec();
    frame.extend_from_slice(token);
    client.send_raw(&frame)?;
    client.read_frame()
}

fn handshake_v0(client: &mut RawClient, mechanism: &str) {
    let request = SaslHandshakeRequest {
        mechanism: mechanism.into(),
    };
    let response: SaslHandshakeResponse = client.try_call(0, &request).expect("handshake v0");
    assert_eq!(response.error_code, ErrorCode::None);
}

/// SaslHandshake v0 (Kafka 4.x still serves it, KIP-896): the tokens follow as bare frames,
/// PLAIN answered with an empty token, SCRAM with server-first and the server signature the
/// client expects; afterwards requests are served. A wrong password closes the connection.
#[test]
fn handshake_v0_is_followed_by_bare_sasl_tokens() {
    let broker = sasl_broker(&["--sasl-plain-on-plaintext", "true"]);
    let mut client = broker.client();
    handshake_v0(&mut client, "PLAIN");
    let answer = raw_token(&mut client, format!("\0{USER}\0{PASSWORD}").as_bytes()).unwrap();
    assert!(answer.is_empty(), "{answer:?}");
    assert!(metadata(&mut client).is_ok());

    let mut client = broker.client();
    handshake_v0(&mut client, "SCRAM-SHA-512");
    let mechanism = ScramMechanism::Sha512;
    let (scram, first) = scram::ScramClient::start(mechanism, USER, PASSWORD.as_bytes()).unwrap();
    let server_first = raw_token(&mut client, first.as_bytes()).unwrap();
    let (last, expected) = scram.finish(&server_first).unwrap();
    let server_final = raw_token(&mut client, last.as_bytes()).unwrap();
    assert_eq!(&server_final[..], expected.as_bytes());
    assert!(metadata(&mut client).is_ok());

    let mut client = broker.client();
    handshake_v0(&mut client, "PLAIN");
    let refused = raw_token(&mut client, format!("\0{USER}\0wrong").as_bytes());
    assert!(refused.is_err(), "answered a wrong password: {refused:?}");
}

#[test]
fn plain_is_not_offered_on_plaintext_unless_configured() {
    let broker = sasl_broker(&[]);
    let mut client = broker.client();
    let response = handshake(&mut client, "PLAIN");
    assert_eq!(response.error_code, ErrorCode::UnsupportedSaslMechanism);
    let offered: Vec<&str> = response.mechanisms.iter().map(|name| &**name).collect();
    assert_eq!(offered, ["SCRAM-SHA-256", "SCRAM-SHA-512"]);
}

#[test]
fn an_oversized_frame_before_authentication_closes_the_connection() {
    let broker = sasl_broker(&[]);
    let mut client = broker.client();
    // Only the size prefix: the broker must refuse from it, without waiting for (or
    // buffering) the 512 KiB + 1 it announces.
    let size: i32 = 512 * 1024 + 1;
    client.send_raw(&size.to_be_bytes()).expect("send prefix");
    assert!(client.is_closed());
    // Exactly the limit is still read (then refused as a request before authentication).
    let mut client = broker.client();
    let size = 512 * 1024;
    let mut frame = i32::try_from(size).unwrap().to_be_bytes().to_vec();
    frame.extend(std::iter::repeat_n(0u8, size));
    // The broker may close as soon as it decodes the header; the write may then fail.
    let _ = client.send_raw(&frame);
    assert!(client.is_closed());
}

/// A broker with PLAIN allowed and sessions that last `lifetime_ms`.
fn reauth_broker(lifetime_ms: i64) -> Broker {
    sasl_broker(&[
        "--sasl-plain-on-plaintext",
        "true",
        "--connections-max-reauth-ms",
        &lifetime_ms.to_string(),
    ])
}

#[test]
fn a_session_that_expires_without_reauthenticating_is_closed() {
    let lifetime_ms = 300;
    let broker = reauth_broker(lifetime_ms);
    let mut client = broker.client();
    let started = Instant::now();
    let response = plain(&mut client, PASSWORD);
    assert_eq!(response.error_code, ErrorCode::None);
    assert_eq!(response.session_lifetime_ms, lifetime_ms);
    // Bounded, without sleeping: back-to-back round trips until the broker closes; 200,000
    // loopback round trips take far longer than the 300 ms lifetime.
    let closed = (0..200_000).any(|_| metadata(&mut client).is_err());
    assert!(closed, "still served after the session expired");
    // Never before the lifetime: the broker counts it from after `started`.
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(client.is_closed());
}

#[test]
fn reauthenticating_in_time_keeps_the_connection() {
    let lifetime_ms = 300;
    let broker = reauth_broker(lifetime_ms);
    let mut client = broker.client();
    assert_eq!(plain(&mut client, PASSWORD).error_code, ErrorCode::None);
    let started = Instant::now();
    let span = Duration::from_millis(3 * 300);
    // Bounded: at most 100,000 rounds; each re-authenticates (KIP-368: SaslHandshake then
    // SaslAuthenticate on the same connection) long before the previous session ends.
    for _ in 0..100_000 {
        if started.elapsed() > span {
            break;
        }
        let response = plain(&mut client, PASSWORD);
        assert_eq!(response.error_code, ErrorCode::None);
        assert_eq!(response.session_lifetime_ms, lifetime_ms);
        metadata(&mut client).expect("served after re-authenticating");
    }
    assert!(started.elapsed() > span, "loop ended early");
    // Re-authenticating as someone else is refused and ends the session.
    let handshake = handshake(&mut client, "PLAIN");
    assert_eq!(handshake.error_code, ErrorCode::None);
    let request = SaslAuthenticateRequest {
        auth_bytes: b"\0mallory\0x".to_vec().into(),
    };
    let response: SaslAuthenticateResponse = client.try_call(2, &request).expect("authenticate");
    assert_eq!(response.error_code, ErrorCode::SaslAuthenticationFailed);
    assert!(metadata(&mut client).is_err());
}

#[test]
fn credentials_survive_a_restart_and_the_bootstrap_file_is_retired() {
    let mut broker = sasl_broker(&["--sasl-plain-on-plaintext", "true"]);
    let data_dir = broker.data_dir();
    let retired = data_dir.join("scram-credentials.bootstrap.migrated");
    assert!(retired.exists(), "bootstrap file not retired");
    assert!(!data_dir.join("scram-credentials.bootstrap").exists());
    broker.restart();
    let mut client = broker.client();
    assert_eq!(plain(&mut client, PASSWORD).error_code, ErrorCode::None);
    assert!(metadata(&mut client).is_ok());
    // bob (SCRAM-SHA-256, from --password-file) through librdkafka.
    let consumer: BaseConsumer = user_config(&broker, "SCRAM-SHA-256", "bob", "bob-secret")
        .create()
        .expect("consumer");
    assert!(
        consumer
            .fetch_metadata(None, Duration::from_secs(5))
            .is_ok()
    );
}

fn describe(
    client: &mut RawClient,
    users: Option<&[&str]>,
) -> Vec<DescribeUserScramCredentialsResult> {
    let users = users.map(|names| {
        let names = names.iter().map(|name| UserName {
            name: (*name).into(),
        });
        names.collect()
    });
    let request = DescribeUserScramCredentialsRequest { users };
    let response: DescribeUserScramCredentialsResponse =
        client.try_call(0, &request).expect("describe");
    assert_eq!(response.error_code, ErrorCode::None);
    response.results
}

fn alter(
    client: &mut RawClient,
    request: &AlterUserScramCredentialsRequest,
) -> Vec<(String, ErrorCode)> {
    let response: AlterUserScramCredentialsResponse = client.try_call(0, request).expect("alter");
    let results = response.results.into_iter();
    results
        .map(|result| (result.user.to_string(), result.error_code))
        .collect()
}

fn logs_in(broker: &Broker, user: &str, password: &str) -> bool {
    let consumer: BaseConsumer = user_config(broker, "SCRAM-SHA-512", user, password)
        .create()
        .expect("consumer");
    consumer
        .fetch_metadata(None, Duration::from_secs(5))
        .is_ok()
}

#[test]
fn alter_and_describe_user_scram_credentials_online() {
    let broker = sasl_broker(&["--sasl-plain-on-plaintext", "true"]);
    let mut admin = broker.client();
    assert_eq!(plain(&mut admin, PASSWORD).error_code, ErrorCode::None);
    let salt = b"dave-salt".to_vec();
    let salted = scram::salted_password(ScramMechanism::Sha512, b"dave-secret", &salt, 4096);
    let upsert_dave = ScramCredentialUpsertion {
        name: "dave".into(),
        mechanism: ScramMechanism::Sha512.type_id(),
        iterations: 4096,
        salt: salt.into(),
        salted_password: salted.into(),
    };
    let delete = |name: &str| ScramCredentialDeletion {
        name: name.into(),
        mechanism: ScramMechanism::Sha512.type_id(),
    };
    let request = AlterUserScramCredentialsRequest {
        deletions: vec![delete("carol")],
        upsertions: vec![upsert_dave],
    };
    let results = alter(&mut admin, &request);
    assert_eq!(
        results,
        [
            ("carol".to_owned(), ErrorCode::ResourceNotFound),
            ("dave".to_owned(), ErrorCode::None)
        ]
    );
    assert!(logs_in(&broker, "dave", "dave-secret"));
    assert!(!logs_in(&broker, "dave", "dave-wrong"));
    let dave = describe(&mut admin, Some(&["dave"]));
    assert_eq!(dave.len(), 1);
    let infos: Vec<(i8, i32)> = dave[0]
        .credential_infos
        .iter()
        .map(|info| (info.mechanism, info.iterations))
        .collect();
    assert_eq!(infos, [(2, 4096)]);
    let all = describe(&mut admin, None);
    let names: Vec<String> = all.iter().map(|result| result.user.to_string()).collect();
    assert_eq!(names, ["alice", "bob", "dave"]);
    let twice = describe(&mut admin, Some(&["dave", "dave"]));
    assert_eq!(twice[0].error_code, ErrorCode::DuplicateResource);
    let request = AlterUserScramCredentialsRequest {
        deletions: vec![delete("dave")],
        upsertions: Vec::new(),
    };
    assert_eq!(
        alter(&mut admin, &request),
        [("dave".to_owned(), ErrorCode::None)]
    );
    let gone = describe(&mut admin, Some(&["dave"]));
    assert_eq!(gone[0].error_code, ErrorCode::ResourceNotFound);
    assert!(!logs_in(&broker, "dave", "dave-secret"));
}
