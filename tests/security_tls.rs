//! TLS listeners with a real client (librdkafka through the `rdkafka` crate, OpenSSL on the
//! client side, rustls on the broker): produce and consume over SSL next to a PLAINTEXT
//! listener (Metadata advertises each listener's own port), mutual TLS (the client
//! certificate names the principal; without one the handshake fails), a client trusting
//! another CA fails, and SIGHUP reloads the server certificate, but not one for another
//! subject or without one of the current names unless allowed (Kafka's KIP-978 checks,
//! `--ssl-allow-dn-changes`).
//!
//! Certificates are generated per test with `rcgen` into the test's temp dir; none is
//! committed.
mod common;

use common::tls::{
    Ca, Files, consume_and_check, metadata_ports, produce, sasl_ssl_client, served_subject,
    ssl_client,
};
use common::{Broker, BrokerOptions, eventually, free_address};
use rdkafka::ClientConfig;
use std::net::SocketAddr;
use std::time::Duration;

/// A broker with the harness's PLAINTEXT listener first and an SSL listener at `ssl`.
fn start_broker(ssl: SocketAddr, tls_args: &[String]) -> Broker {
    let mut extra_args = vec!["--listen".to_owned(), format!("SSL://{ssl}")];
    extra_args.extend_from_slice(tls_args);
    Broker::start_with(BrokerOptions {
        shards: 2,
        config_toml: None,
        extra_args,
    })
}

#[test]
fn ssl_listener_serves_produce_and_consume_and_advertises_its_own_port() {
    let ca = Ca::new("test CA");
    let files = Files::new();
    let ca_path = files.write("ca.pem", &ca.pem);
    let tls_args = files.server_args(&ca);
    let ssl = free_address();
    let broker = start_broker(ssl, &tls_args);
    // Each listener advertises itself: an SSL client is never sent to the plaintext port.
    let client = ssl_client(ssl, &ca_path, None);
    assert_eq!(metadata_ports(&client), Ok(vec![ssl.port()]));
    let mut plain = ClientConfig::new();
    plain.set("bootstrap.servers", broker.address.to_string());
    assert_eq!(metadata_ports(&plain), Ok(vec![broker.address.port()]));
    // Enough records for several fetches from the segment file (the TLS copy path).
    produce(&client, "over-tls", 3_000);
    consume_and_check(&client, "over-tls", 3_000);
    consume_and_check(&plain, "over-tls", 3_000);
    let log = broker.log();
    assert!(
        log.contains("fetch_path=\"copy (TLS"),
        "no fetch path line for the SSL listener:\n{log}"
    );
    // A client that trusts another CA refuses the broker's certificate.
    let other = files.write("other-ca.pem", &Ca::new("other CA").pem);
    assert!(metadata_ports(&ssl_client(ssl, &other, None)).is_err());
}

#[test]
fn mtls_names_the_principal_and_refuses_a_client_without_a_certificate() {
    let ca = Ca::new("test CA");
    let files = Files::new();
    let ca_path = files.write("ca.pem", &ca.pem);
    let (client_certificate, client_key) = ca.leaf(false);
    let tls_args = files.mtls_server_args(&ca, &ca_path);
    let ssl = free_address();
    let broker = start_broker(ssl, &tls_args);
    let identity = (
        files.write("client.pem", &client_certificate),
        files.write("client.key", &client_key),
    );
    let with_certificate = ssl_client(ssl, &ca_path, Some((&identity.0, &identity.1)));
    assert_eq!(metadata_ports(&with_certificate), Ok(vec![ssl.port()]));
    // Kafka's default principal: the subject's full X.500 name, last RDN first.
    let named = eventually(Duration::from_secs(10), || {
        broker.log().contains("principal=User:CN=alice,OU=eng")
    });
    assert!(named, "principal not logged:\n{}", broker.log());
    let without = ssl_client(ssl, &ca_path, None);
    assert!(metadata_ports(&without).is_err());
    assert!(broker.log().contains("TLS handshake failed"));
}

/// The log line of a SIGHUP that reloaded the listeners' certificate.
const RELOADED: &str = "SIGHUP: listeners TLS certificate reloaded";
/// The log line of a SIGHUP reload that kept the old certificate.
const RELOAD_FAILED: &str = "SIGHUP: listeners TLS reload failed; old kept";

/// Writes `identity` (certificate, key) as the server's files, sends SIGHUP and waits
/// (bounded) for one more `line` in the log.
fn replace_and_sighup(broker: &Broker, files: &Files, identity: (String, String), line: &str) {
    let before = broker.log().matches(line).count();
    files.write("server.key", &identity.1);
    files.write("server.pem", &identity.0);
    broker.signal(libc::SIGHUP);
    let logged = eventually(Duration::from_secs(10), || {
        broker.log().matches(line).count() > before
    });
    assert!(logged, "no {line:?} after SIGHUP:\n{}", broker.log());
}

/// SIGHUP serves a certificate from another CA for the same subject to new connections;
/// then a certificate for another subject, and one that drops the `localhost` name, are
/// refused, the log says why and the reloaded certificate is still served.
#[test]
fn sighup_reloads_the_server_certificate_for_new_connections() {
    let (old_ca, new_ca) = (Ca::new("old CA"), Ca::new("new CA"));
    let files = Files::new();
    let new_ca_path = files.write("new-ca.pem", &new_ca.pem);
    let tls_args = files.server_args(&old_ca);
    let ssl = free_address();
    let broker = start_broker(ssl, &tls_args);
    let client = ssl_client(ssl, &new_ca_path, None);
    assert!(
        metadata_ports(&client).is_err(),
        "trusted before the reload"
    );
    replace_and_sighup(&broker, &files, new_ca.leaf(true), RELOADED);
    assert_eq!(metadata_ports(&client), Ok(vec![ssl.port()]));
    let served = || served_subject(ssl, &new_ca_path);
    assert_eq!(served().as_deref(), Ok("CN=localhost"));

    let refusals = [
        (
            new_ca.server_leaf("broker-renamed", &["localhost", "127.0.0.1"]),
            "certificate subject changed from CN=localhost to CN=broker-renamed",
        ),
        (
            new_ca.server_leaf("localhost", &["127.0.0.1"]),
            "certificate subject alternative names dropped: DNS:localhost",
        ),
    ];
    for (identity, reason) in refusals {
        replace_and_sighup(&broker, &files, identity, RELOAD_FAILED);
        let log = broker.log();
        assert!(log.contains(reason), "no {reason:?} in the log:\n{log}");
        assert_eq!(served().as_deref(), Ok("CN=localhost"));
    }
    assert_eq!(metadata_ports(&client), Ok(vec![ssl.port()]));
}

/// With `--ssl-allow-dn-changes true` (Kafka's `ssl.allow.dn.changes`) the certificate for
/// another subject is served after SIGHUP; dropping a name is still refused.
#[test]
fn sighup_with_dn_changes_allowed_serves_a_certificate_for_another_subject() {
    let ca = Ca::new("test CA");
    let files = Files::new();
    let ca_path = files.write("ca.pem", &ca.pem);
    let mut tls_args = files.server_args(&ca);
    tls_args.extend(["--ssl-allow-dn-changes".to_owned(), "true".to_owned()]);
    let ssl = free_address();
    let broker = start_broker(ssl, &tls_args);
    assert_eq!(served_subject(ssl, &ca_path).as_deref(), Ok("CN=localhost"));
    let renamed = ca.server_leaf("broker-renamed", &["localhost", "127.0.0.1"]);
    replace_and_sighup(&broker, &files, renamed, RELOADED);
    assert_eq!(
        served_subject(ssl, &ca_path).as_deref(),
        Ok("CN=broker-renamed")
    );
    let narrowed = ca.server_leaf("broker-renamed", &["127.0.0.1"]);
    replace_and_sighup(&broker, &files, narrowed, RELOAD_FAILED);
    assert_eq!(
        served_subject(ssl, &ca_path).as_deref(),
        Ok("CN=broker-renamed")
    );
}

/// SASL_SSL, the two parts of the issue together: SCRAM-SHA-512 over TLS for a user added
/// before the first start, produce and consume; PLAIN is offered under TLS without any flag;
/// a wrong password gets no metadata.
#[test]
fn sasl_ssl_serves_scram_and_plain_over_tls() {
    let ca = Ca::new("test CA");
    let files = Files::new();
    let ca_path = files.write("ca.pem", &ca.pem);
    let mut broker = Broker::unstarted(BrokerOptions {
        shards: 2,
        config_toml: None,
        extra_args: Vec::new(),
    });
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_ringbroker"))
        .args(["user", "add", "alice", "--mechanism", "SCRAM-SHA-512"])
        .args(["--password", "alice-secret", "--data-dir"])
        .arg(broker.data_dir())
        .status()
        .unwrap();
    assert!(status.success(), "user add failed: {status}");
    let secured = free_address();
    let server_args = files.server_args(&ca);
    broker.extra_args_mut().extend(server_args);
    broker.extra_args_mut().extend([
        "--listen".to_owned(),
        format!("SASL_SSL://{secured}"),
        "--sasl-mechanisms".to_owned(),
        "SCRAM-SHA-512,PLAIN".to_owned(),
    ]);
    broker.start_again();
    let scram = sasl_ssl_client(
        secured,
        &ca_path,
        "SCRAM-SHA-512",
        ("alice", "alice-secret"),
    );
    assert_eq!(metadata_ports(&scram), Ok(vec![secured.port()]));
    produce(&scram, "sasl-over-tls", 500);
    consume_and_check(&scram, "sasl-over-tls", 500);
    let plain = sasl_ssl_client(secured, &ca_path, "PLAIN", ("alice", "alice-secret"));
    consume_and_check(&plain, "sasl-over-tls", 500);
    let wrong = sasl_ssl_client(
        secured,
        &ca_path,
        "SCRAM-SHA-512",
        ("alice", "not-her-password"),
    );
    assert!(metadata_ports(&wrong).is_err());
}
