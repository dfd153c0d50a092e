//! The blocking client (`client/secure.rs`, what ringbench uses) against a broker's SSL
//! listener: the handshake checks the CA and the host, a call round-trips, and a connection
//! split into a writer and a reader half (as ringbench's producer pipelines) keeps responses
//! in order across several requests in flight.
//!
//! Certificates are generated per test with `rcgen`; none is committed.
mod common;

use common::tls::{Ca, Files};
use common::{Broker, BrokerOptions, free_address};
use ringbroker::client::connection::{Connection, decode_response, encode_request, read_frame};
use ringbroker::client::security::ClientSecurity;
use ringbroker::protocol::messages::api_versions::{ApiVersionsRequest, ApiVersionsResponse};
use ringbroker::protocol::{ApiKey, ErrorCode, StrBytes};
use ringbroker::security::SecurityProtocol;
use ringbroker::security::tls::client_config_from;
use std::io::Write;

#[test]
fn blocking_client_speaks_tls_and_pipelines_over_split_halves() {
    let ca = Ca::new("test CA");
    let files = Files::new();
    let ca_path = files.write("ca.pem", &ca.pem);
    let ssl = free_address();
    let mut extra_args = vec!["--listen".to_owned(), format!("SSL://{ssl}")];
    extra_args.extend(files.server_args(&ca));
    let _broker = Broker::start_with(BrokerOptions {
        shards: 1,
        config_toml: None,
        extra_args,
    });
    let trusting = |ca: &std::path::Path| {
        let tls = client_config_from(ca, None).unwrap();
        ClientSecurity::new(SecurityProtocol::Ssl, Some(tls), None)
    };
    let security = trusting(&ca_path);
    let mut connection = Connection::connect_with(&ssl.to_string(), "t", &security).unwrap();
    let versions = connection.negotiate().unwrap();
    assert!(versions.produce >= 3);

    // Pipelined: every request written by one half before the other reads any answer.
    let mut writer = connection.stream().try_clone().unwrap();
    let mut reader = connection.stream().try_clone().unwrap();
    let request = ApiVersionsRequest {
        client_software_name: StrBytes::from("t"),
        client_software_version: StrBytes::from("1"),
    };
    let mut frame = bytes::BytesMut::new();
    for correlation_id in 100..110 {
        encode_request(&mut frame, 3, correlation_id, "t", &request);
        writer.write_all(&frame).unwrap();
    }
    for correlation_id in 100..110 {
        let payload = read_frame(&mut reader).unwrap();
        let response: ApiVersionsResponse = decode_response(payload, 3, correlation_id).unwrap();
        assert_eq!(response.error_code, ErrorCode::None);
        assert!(
            response
                .api_keys
                .iter()
                .any(|key| key.api_key == ApiKey::Produce.as_i16())
        );
    }

    // A client trusting another CA refuses the broker's certificate.
    let other = files.write("other-ca.pem", &Ca::new("other CA").pem);
    let distrust = trusting(&other);
    assert!(Connection::connect_with(&ssl.to_string(), "t", &distrust).is_err());
}
