//! The blocking client (`client/security.rs`, what ringbench uses) against a broker's SSL
//! listener: the handshake checks the CA and the host, a call round-trips, and a connection
//! split into a writer and a reader half (as ringbench's producer pipelines) keeps responses
//! in order across several requests in flight. Against a listener requiring a client
//! certificate (`--tls-client-ca`, `ssl.client.auth=required`), the client and ringbench
//! (`--ssl-cert`, `--ssl-key`) present one and are served; without one they are not.
//!
//! Certificates are generated per test with `rcgen`; none is committed.
mod common;

use common::tls::{Ca, ClientPki, Files, path_text};
use common::{Broker, BrokerOptions, free_address};
use ringbroker::client::connection::{Connection, decode_response, encode_request, read_frame};
use ringbroker::client::security::{ClientSecurity, TlsFiles, tls_config};
use ringbroker::protocol::messages::api_versions::{ApiVersionsRequest, ApiVersionsResponse};
use ringbroker::protocol::{ApiKey, ErrorCode, StrBytes};
use ringbroker::security::SecurityProtocol;
use ringbroker::security::tls::client_config_from;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

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

/// Runs ringbench `produce` of a few records over SSL to `bootstrap` with `tls_flags`.
fn ringbench_produce(bootstrap: &str, tls_flags: &[String]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ringbench"))
        .args(["produce", "--bootstrap", bootstrap, "--topic", "mtls"])
        .args([
            "--num-records",
            "500",
            "--record-size",
            "64",
            "--timeout",
            "60",
        ])
        .args(["--security-protocol", "SSL"])
        .args(tls_flags)
        .output()
        .unwrap()
}

#[test]
fn client_and_ringbench_present_a_certificate_where_the_broker_requires_one() {
    let pki = ClientPki::new("test CA");
    let (ca_path, identity) = (&pki.ca_path, &pki.identity);
    let ssl = free_address();
    let mut extra_args = vec!["--listen".to_owned(), format!("SSL://{ssl}")];
    extra_args.extend(pki.server_args());
    let broker = Broker::start_with(BrokerOptions {
        shards: 1,
        config_toml: None,
        extra_args,
    });
    let connect = |identity: Option<&(PathBuf, PathBuf)>| {
        let files = TlsFiles {
            ca: Some(ca_path.clone()),
            certificate: identity.map(|(certificate, _)| certificate.clone()),
            key: identity.map(|(_, key)| key.clone()),
        };
        let tls = tls_config(SecurityProtocol::Ssl, &files).unwrap();
        let security = ClientSecurity::new(SecurityProtocol::Ssl, tls, None);
        // TLS 1.3 finishes the client's side before the broker checks its certificate:
        // the refusal may only show on the first request.
        Connection::connect_with(&ssl.to_string(), "t", &security)
            .and_then(|mut connection| connection.negotiate())
    };
    let negotiated = connect(Some(identity));
    assert!(negotiated.is_ok(), "{negotiated:?}\n{}", broker.log());
    assert!(
        connect(None).is_err(),
        "served without a client certificate"
    );

    let principal = "principal=User:CN=alice,OU=eng";
    let before = broker.log().matches(principal).count();
    let bootstrap = ssl.to_string();
    let ca_flags = vec!["--ssl-ca".to_owned(), path_text(ca_path)];
    let refused = ringbench_produce(&bootstrap, &ca_flags);
    assert!(
        !refused.status.success(),
        "ringbench ran without a client certificate"
    );
    let mut mtls_flags = ca_flags;
    mtls_flags.extend([
        "--ssl-cert".to_owned(),
        path_text(&identity.0),
        "--ssl-key".to_owned(),
        path_text(&identity.1),
    ]);
    let produced = ringbench_produce(&bootstrap, &mtls_flags);
    let stdout = String::from_utf8_lossy(&produced.stdout);
    let stderr = String::from_utf8_lossy(&produced.stderr);
    assert!(
        produced.status.success(),
        "{stdout}\n{stderr}\n{}",
        broker.log()
    );
    assert!(stdout.contains("500 records sent"), "{stdout}");
    let after = broker.log().matches(principal).count();
    assert!(
        after > before,
        "ringbench's connections were not authenticated as alice"
    );
}
