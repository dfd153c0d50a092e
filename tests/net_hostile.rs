//! Hostile input closes only the offending connection: an oversized or negative length prefix,
//! a garbage header, an unknown API key, an API we do not serve, a malformed body. Another
//! connection, opened before, keeps working; requests queued before the bad one are answered.
mod common;

use common::{Broker, RawClient, encode_raw_request, encode_request};
use ringbroker::protocol::ErrorCode;
use ringbroker::protocol::messages::api_versions::{ApiVersionsRequest, ApiVersionsResponse};

fn assert_healthy(client: &mut RawClient, correlation_id: i32) {
    client.send(1, correlation_id, &ApiVersionsRequest::default());
    let (echoed, response) = client.receive::<ApiVersionsResponse>(1);
    assert_eq!(echoed, correlation_id);
    assert_eq!(response.error_code, ErrorCode::None);
}

/// Each case: bytes that must make the broker close the connection.
fn hostile_cases() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("length 2^31-1", vec![0x7f, 0xff, 0xff, 0xff, 0, 18]),
        ("negative length", vec![0xff, 0xff, 0xff, 0xfe, 0, 18]),
        ("length -2^31", vec![0x80, 0, 0, 0]),
        ("garbage header", vec![0, 0, 0, 3, 0xde, 0xad, 0xbe]),
        (
            "client id longer than frame",
            vec![0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 0x7f, 0xff],
        ),
        ("unknown api key", encode_raw_request(9999, 0, 1, &[])),
        ("negative api key", encode_raw_request(-1, 0, 1, &[])),
        // Metadata is known to the codec but not served yet: Kafka closes on keys it lacks.
        ("api not served", encode_raw_request(3, 12, 1, &[])),
        // ApiVersions v3 with a body cut short.
        ("malformed body", {
            let mut bytes = encode_raw_request(18, 3, 1, &[0]);
            // v3 uses header v2: rewrite as a flexible header with an empty tag section, then a
            // compact string length of 5 with no bytes after it.
            bytes.truncate(4);
            bytes.extend_from_slice(&[0, 18, 0, 3, 0, 0, 0, 1, 0xff, 0xff, 0, 6]);
            let size = i32::try_from(bytes.len() - 4).unwrap();
            bytes[..4].copy_from_slice(&size.to_be_bytes());
            bytes
        }),
    ]
}

#[test]
fn hostile_frames_close_only_their_connection() {
    let broker = Broker::start();
    let mut healthy = broker.client();
    assert_healthy(&mut healthy, 1);
    for (index, (name, bytes)) in hostile_cases().into_iter().enumerate() {
        let mut hostile = broker.client();
        hostile.send_raw(&bytes).unwrap();
        assert!(hostile.is_closed(), "{name}: connection should close");
        assert_healthy(&mut healthy, i32::try_from(index).unwrap() + 10);
    }
    assert!(broker.log().contains("closed"), "closes are logged");
}

#[test]
fn requests_before_a_bad_frame_are_answered_then_closed() {
    let broker = Broker::start();
    let mut client = broker.client();
    let mut bytes = encode_request(2, 41, &ApiVersionsRequest::default());
    bytes.extend(encode_request(2, 42, &ApiVersionsRequest::default()));
    bytes.extend(encode_raw_request(9999, 0, 43, &[]));
    bytes.extend(encode_request(2, 44, &ApiVersionsRequest::default()));
    client.send_raw(&bytes).unwrap();
    assert_eq!(client.receive::<ApiVersionsResponse>(2).0, 41);
    assert_eq!(client.receive::<ApiVersionsResponse>(2).0, 42);
    assert!(client.is_closed(), "no answer after the unknown key");
}

#[test]
fn frame_over_configured_limit_closes_before_buffering() {
    let broker = Broker::start_with(common::BrokerOptions {
        config_toml: Some("[limits]\nframe_size_max = 2097152\n".to_owned()),
        ..Default::default()
    });
    let mut client = broker.client();
    // Announce 2 MiB + 1 but send only the prefix: the size alone must trigger the close.
    let size = 2_097_152i32 + 1;
    client.send_raw(&size.to_be_bytes()).unwrap();
    assert!(client.is_closed());
    let mut other = broker.client();
    assert_healthy(&mut other, 5);
}

#[test]
fn abrupt_client_reset_is_not_an_error() {
    let broker = Broker::start();
    {
        let client = broker.client();
        // SO_LINGER 0 makes close send RST.
        let socket = socket2::SockRef::from(&client.stream);
        socket.set_linger(Some(std::time::Duration::ZERO)).unwrap();
        let half = encode_request(2, 1, &ApiVersionsRequest::default());
        let mut client = client;
        client.send_raw(&half[..half.len() / 2]).unwrap();
    }
    let mut other = broker.client();
    assert_healthy(&mut other, 2);
    std::thread::sleep(std::time::Duration::from_millis(100));
    let log = broker.log();
    assert!(!log.contains("WARN"), "reset logged as a warning:\n{log}");
    assert!(!log.contains("ERROR"), "reset logged as an error:\n{log}");
}
