//! Process lifecycle against the real binary: SIGTERM/SIGINT exit 0 (also with connections
//! open), restart and kill -9 on the same data dir, connections_max refusal, the idle timeout,
//! `--help`, and invalid configuration.
mod common;

use common::{Broker, BrokerOptions, RawClient};
use ringbroker::protocol::ErrorCode;
use ringbroker::protocol::messages::api_versions::{ApiVersionsRequest, ApiVersionsResponse};
use std::process::Command;
use std::time::Duration;

fn api_versions_ok(client: &mut RawClient, correlation_id: i32) -> bool {
    client.send(2, correlation_id, &ApiVersionsRequest::default());
    let (echoed, response) = client.receive::<ApiVersionsResponse>(2);
    echoed == correlation_id && response.error_code == ErrorCode::None
}

#[test]
fn sigterm_exits_zero_with_connections_open() {
    let mut broker = Broker::start();
    let mut idle = broker.client();
    assert!(api_versions_ok(&mut idle, 1));
    let status = broker.terminate();
    assert_eq!(status.code(), Some(0), "log:\n{}", broker.log());
    assert!(idle.is_closed(), "open connection closed on shutdown");
    let log = broker.log();
    assert!(log.contains("shutdown hook ran"), "hooks ran:\n{log}");
    assert!(log.contains("placement"), "placement logged:\n{log}");
}

#[test]
fn sigint_exits_zero() {
    let mut broker = Broker::start();
    broker.signal(libc::SIGINT);
    let status = broker.wait_exit(common::STOP_TIMEOUT);
    assert_eq!(status.code(), Some(0));
}

#[test]
fn restart_and_kill9_reuse_address_and_data_dir() {
    let mut broker = Broker::start();
    let marker = broker.data_dir().join("marker");
    std::fs::write(&marker, b"kept").unwrap();
    assert_eq!(broker.restart().code(), Some(0));
    assert!(api_versions_ok(&mut broker.client(), 1));
    broker.kill9();
    broker.start_again();
    assert!(api_versions_ok(&mut broker.client(), 2));
    assert_eq!(std::fs::read(&marker).unwrap(), b"kept");
}

/// A connection that got an ApiVersions answer, retrying (bounded) while slots are taken.
fn admitted_client(broker: &Broker, correlation_id: i32) -> RawClient {
    let mut admitted = None;
    let found = common::eventually(Duration::from_secs(5), || {
        let mut client = broker.client();
        client.send(2, correlation_id, &ApiVersionsRequest::default());
        if client.read_frame().is_ok() {
            admitted = Some(client);
        }
        admitted.is_some()
    });
    assert!(found, "no slot freed within 5 s");
    admitted.unwrap()
}

#[test]
fn connection_over_connections_max_is_closed() {
    let broker = Broker::start_with(BrokerOptions {
        config_toml: Some("[limits]\nconnections_max = 2\n".to_owned()),
        ..Default::default()
    });
    // The harness's readiness probe held a slot until the broker saw it close: retry.
    let mut first = admitted_client(&broker, 1);
    let second = admitted_client(&broker, 2);
    let mut third = broker.client();
    // Whether the request write races the close or not, no answer may come.
    let _ = third.send_raw(&common::encode_request(
        2,
        3,
        &ApiVersionsRequest::default(),
    ));
    assert!(third.is_closed(), "third connection must be refused");
    // The admitted connections are unaffected, and a slot frees when one closes.
    assert!(api_versions_ok(&mut first, 4));
    drop(second);
    let mut fourth = admitted_client(&broker, 5);
    assert!(api_versions_ok(&mut fourth, 6));
}

#[test]
fn idle_connection_is_closed_after_timeout() {
    let broker = Broker::start_with(BrokerOptions {
        config_toml: Some("[limits]\nconnections_max_idle_ms = 300\n".to_owned()),
        ..Default::default()
    });
    let mut client = broker.client();
    assert!(api_versions_ok(&mut client, 1));
    let started = std::time::Instant::now();
    assert!(client.is_closed(), "idle connection closed");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250),
        "closed too early: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(5),
        "closed too late: {waited:?}"
    );
}

#[test]
fn help_lists_flags_and_bad_config_fails() {
    let binary = env!("CARGO_BIN_EXE_ringbroker");
    let help = Command::new(binary).arg("--help").output().unwrap();
    assert!(help.status.success());
    let text = String::from_utf8(help.stdout).unwrap();
    for flag in [
        "--listen",
        "--advertise",
        "--data-dir",
        "--node-id",
        "--config",
        "--shards",
    ] {
        assert!(text.contains(flag), "--help lacks {flag}");
    }
    let bad = Command::new(binary)
        .args(["--shards", "0", "--listen", "127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let message = String::from_utf8(bad.stderr).unwrap();
    assert!(message.contains("shards.count"), "{message}");
    let unknown = Command::new(binary).arg("--nope").output().unwrap();
    assert_eq!(unknown.status.code(), Some(1));
}

#[test]
fn port_in_use_fails_start_with_exit_1() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = holder.local_addr().unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_ringbroker"))
        .args(["--listen", &address.to_string(), "--shards", "1"])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let message = String::from_utf8(output.stderr).unwrap();
    assert!(message.contains("cannot listen"), "{message}");
}

#[test]
fn sigterm_during_a_pipelined_burst_answers_a_prefix_in_order() {
    let mut broker = Broker::start();
    let mut client = broker.client();
    let mut burst = Vec::new();
    for correlation_id in 0..500 {
        burst.extend(common::encode_request(
            2,
            correlation_id,
            &ApiVersionsRequest::default(),
        ));
    }
    client.send_raw(&burst).unwrap();
    broker.signal(libc::SIGTERM);
    // Whatever was read before draining is answered, in order, with no gap; then a close.
    let mut expected = 0;
    while let Ok(payload) = client.read_frame() {
        let (echoed, _) = common::decode_response::<ApiVersionsResponse>(payload, 2);
        assert_eq!(echoed, expected);
        expected += 1;
    }
    let status = broker.wait_exit(common::STOP_TIMEOUT);
    assert_eq!(status.code(), Some(0), "log:\n{}", broker.log());
}
