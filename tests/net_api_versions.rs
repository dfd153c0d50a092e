//! ApiVersions over raw TCP against the real binary: every version we serve, an unsupported
//! version (v0 answer with UNSUPPORTED_VERSION), invalid client software names, and pipelined
//! requests answered in order.
mod common;

use common::{Broker, RawClient, decode_response, encode_raw_request, encode_request};
use ringbroker::protocol::ErrorCode;
use ringbroker::protocol::messages::api_versions::{ApiVersionsRequest, ApiVersionsResponse};

fn request(version: i16) -> ApiVersionsRequest {
    let mut request = ApiVersionsRequest::default();
    if version >= 3 {
        request.client_software_name = "ringbroker-test".into();
        request.client_software_version = "1.0".into();
    }
    request
}

fn assert_lists_api_versions(response: &ApiVersionsResponse) {
    let entry = response
        .api_keys
        .iter()
        .find(|key| key.api_key == 18)
        .expect("ApiVersions listed");
    assert_eq!((entry.min_version, entry.max_version), (0, 4));
}

#[test]
fn every_supported_version_answers() {
    let broker = Broker::start();
    let mut client = broker.client();
    for version in 0..=4i16 {
        let correlation_id = 100 + i32::from(version);
        client.send(version, correlation_id, &request(version));
        let (echoed, response) = client.receive::<ApiVersionsResponse>(version);
        assert_eq!(echoed, correlation_id, "v{version}");
        assert_eq!(response.error_code, ErrorCode::None, "v{version}");
        assert_lists_api_versions(&response);
    }
}

#[test]
fn unsupported_version_gets_v0_error_35() {
    let broker = Broker::start();
    let mut client = broker.client();
    for version in [5i16, 99, i16::MAX] {
        // A future version's body is opaque to us; the header is read as v1.
        client
            .send_raw(&encode_raw_request(18, version, 7, &[0, 1, 2, 3]))
            .unwrap();
        let (echoed, response) =
            decode_response::<ApiVersionsResponse>(client.read_frame().unwrap(), 0);
        assert_eq!(echoed, 7);
        assert_eq!(response.error_code, ErrorCode::UnsupportedVersion);
        assert_lists_api_versions(&response);
    }
    // The connection stays usable after the error answer.
    client.send(3, 8, &request(3));
    assert_eq!(client.receive::<ApiVersionsResponse>(3).0, 8);
}

#[test]
fn invalid_client_software_name_is_invalid_request() {
    let broker = Broker::start();
    let mut client = broker.client();
    let mut bad = request(3);
    bad.client_software_name = "-bad name".into();
    client.send(3, 1, &bad);
    let (_, response) = client.receive::<ApiVersionsResponse>(3);
    assert_eq!(response.error_code, ErrorCode::InvalidRequest);
    assert!(response.api_keys.is_empty());
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let broker = Broker::start();
    let mut client = broker.client();
    // 300 requests (more than the default in-flight cap of 100) in one write, mixed versions.
    let count = 300i32;
    let mut batch = Vec::new();
    for correlation_id in 0..count {
        let version = i16::try_from(correlation_id % 5).unwrap();
        batch.extend(encode_request(version, correlation_id, &request(version)));
    }
    client.send_raw(&batch).unwrap();
    for correlation_id in 0..count {
        let version = i16::try_from(correlation_id % 5).unwrap();
        let (echoed, response) = client.receive::<ApiVersionsResponse>(version);
        assert_eq!(echoed, correlation_id);
        assert_eq!(response.error_code, ErrorCode::None);
    }
}

#[test]
fn many_connections_spread_over_shards_all_answer() {
    let broker = Broker::start_with(common::BrokerOptions {
        shards: 3,
        ..Default::default()
    });
    let mut clients: Vec<RawClient> = (0..12).map(|_| broker.client()).collect();
    for (index, client) in clients.iter_mut().enumerate() {
        let correlation_id = i32::try_from(index).unwrap();
        client.send(2, correlation_id, &request(2));
    }
    for (index, client) in clients.iter_mut().enumerate() {
        assert_eq!(
            client.receive::<ApiVersionsResponse>(2).0,
            i32::try_from(index).unwrap()
        );
    }
}

#[test]
fn responses_decode_with_an_independent_codec() {
    use kafka_protocol::protocol::Decodable;
    // The kafka-protocol crate (dev-dependency oracle) reads our wire bytes at every version.
    let broker = Broker::start();
    let mut client = broker.client();
    for version in 0..=4i16 {
        client.send(version, i32::from(version), &request(version));
        let mut payload = client.read_frame().unwrap();
        let mut header = payload.split_to(4);
        assert_eq!(
            i32::from_be_bytes(header[..].try_into().unwrap()),
            i32::from(version)
        );
        header.clear();
        let response = kafka_protocol::messages::ApiVersionsResponse::decode(&mut payload, version)
            .unwrap_or_else(|error| panic!("v{version}: {error}"));
        assert!(payload.is_empty(), "v{version}: trailing bytes");
        assert_eq!(response.error_code, 0);
        let entry = response
            .api_keys
            .iter()
            .find(|key| key.api_key == 18)
            .unwrap();
        assert_eq!((entry.min_version, entry.max_version), (0, 4));
    }
}

#[test]
fn frame_spanning_many_reads_is_assembled() {
    // A valid 3 MiB request: ApiVersions v3 whose body ends with an unknown tagged field of
    // 3 MiB, which the broker must read whole and skip. (A 3 MiB string would be refused:
    // Kafka caps strings at i16::MAX bytes in every encoding.)
    let broker = Broker::start();
    let mut client = broker.client();
    let mut frame = encode_request(3, 9, &request(3));
    assert_eq!(
        frame.pop(),
        Some(0),
        "the body ends with an empty tagged-field section"
    );
    let payload_size: u32 = 3 << 20;
    frame.push(1); // one tagged field
    frame.push(100); // tag 100: unknown to every version
    let mut size = payload_size;
    while size >= 0x80 {
        frame.push(u8::try_from(size & 0x7f).unwrap() | 0x80);
        size >>= 7;
    }
    frame.push(u8::try_from(size).unwrap());
    frame.resize(frame.len() + usize::try_from(payload_size).unwrap(), b'a');
    let length = i32::try_from(frame.len() - 4).unwrap();
    frame[..4].copy_from_slice(&length.to_be_bytes());
    client.send_raw(&frame).unwrap();
    let (echoed, response) = client.receive::<ApiVersionsResponse>(3);
    assert_eq!(echoed, 9);
    assert_eq!(response.error_code, ErrorCode::None);
    // And the connection continues with small frames afterwards.
    client.send(3, 10, &request(3));
    assert_eq!(client.receive::<ApiVersionsResponse>(3).0, 10);
}
