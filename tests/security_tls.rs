//! TLS listeners with a real client (librdkafka through the `rdkafka` crate, OpenSSL on the
//! client side, rustls on the broker): produce and consume over SSL next to a PLAINTEXT
//! listener (Metadata advertises each listener's own port), mutual TLS (the client
//! certificate names the principal; without one the handshake fails), a client trusting
//! another CA fails, and SIGHUP reloads the server certificate.
//!
//! Certificates are generated per test with `rcgen` into the test's temp dir; none is
//! committed.
mod common;

use common::{Broker, BrokerOptions, eventually, free_address};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rdkafka::ClientConfig;
use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A test certificate authority.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let pem = params.self_signed(&key).unwrap().pem();
        Self {
            pem,
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf certificate and its key (PEM): a server one for localhost / 127.0.0.1, or a
    /// client one with subject `CN=alice,OU=eng`.
    fn leaf(&self, server: bool) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let names = if server {
            vec!["localhost".to_owned(), "127.0.0.1".to_owned()]
        } else {
            Vec::new()
        };
        let mut params = CertificateParams::new(names).unwrap();
        // rcgen starts with a CN of its own; the subject here is written in the order pushed.
        params.distinguished_name = DistinguishedName::new();
        if server {
            params
                .distinguished_name
                .push(DnType::CommonName, "localhost");
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        } else {
            params
                .distinguished_name
                .push(DnType::OrganizationalUnitName, "eng");
            params.distinguished_name.push(DnType::CommonName, "alice");
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        }
        let certificate = params.signed_by(&key, &self.issuer).unwrap();
        (certificate.pem(), key.serialize_pem())
    }
}

/// The PEM files of one test, in a temp dir.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        Self {
            dir: tempfile::TempDir::new().unwrap(),
        }
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        // Written whole then renamed: a reload never reads half a file.
        let partial = self.dir.path().join(format!("{name}.partial"));
        std::fs::write(&partial, text).unwrap();
        std::fs::rename(&partial, &path).unwrap();
        path
    }

    /// Writes a server certificate `ca` signs and its key; the broker flags that serve them.
    fn server_args(&self, ca: &Ca) -> Vec<String> {
        let (certificate, key) = ca.leaf(true);
        vec![
            "--tls-cert".to_owned(),
            path_text(&self.write("server.pem", &certificate)),
            "--tls-key".to_owned(),
            path_text(&self.write("server.key", &key)),
        ]
    }
}

fn path_text(path: &Path) -> String {
    path.to_str().unwrap().to_owned()
}

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

/// librdkafka settings of an SSL client trusting `ca` (and presenting `identity`).
fn ssl_client(bootstrap: SocketAddr, ca: &Path, identity: Option<(&Path, &Path)>) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap.to_string())
        .set("security.protocol", "ssl")
        .set("ssl.ca.location", path_text(ca))
        .set("socket.timeout.ms", "5000");
    if let Some((certificate, key)) = identity {
        config
            .set("ssl.certificate.location", path_text(certificate))
            .set("ssl.key.location", path_text(key));
    }
    config
}

/// The brokers' ports a client is told, or the error fetching Metadata.
fn metadata_ports(config: &ClientConfig) -> Result<Vec<u16>, String> {
    let consumer: BaseConsumer = config.create().map_err(|error| error.to_string())?;
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(5))
        .map_err(|error| error.to_string())?;
    Ok(metadata
        .brokers()
        .iter()
        .map(|broker| u16::try_from(broker.port()).unwrap())
        .collect())
}

fn produce(config: &ClientConfig, topic: &str, count: usize) {
    let producer: ThreadedProducer<DefaultProducerContext> = config
        .clone()
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000")
        .create()
        .unwrap();
    for index in 0..count {
        let value = format!("value-{index}-{}", "x".repeat(index % 300));
        let key = index.to_string();
        let mut record = BaseRecord::to(topic).key(&key).payload(&value).partition(0);
        let deadline = Instant::now() + Duration::from_secs(30);
        // Bounded retry while the local queue is full.
        while let Err((error, returned)) = producer.send(record) {
            assert!(Instant::now() < deadline, "queue stayed full: {error}");
            record = returned;
            producer.poll(Duration::from_millis(10));
        }
    }
    producer.flush(Duration::from_secs(60)).unwrap();
}

/// Consumes partition 0 from the start and checks every record, in order.
fn consume_and_check(config: &ClientConfig, topic: &str, count: usize) {
    let consumer: BaseConsumer = config
        .clone()
        .set("group.id", "tls-test")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut next = 0;
    // Bounded by the deadline.
    while next < count {
        assert!(Instant::now() < deadline, "consumed {next} of {count}");
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message.unwrap();
        let expected = format!("value-{next}-{}", "x".repeat(next % 300));
        assert_eq!(message.offset(), i64::try_from(next).unwrap());
        assert_eq!(message.payload(), Some(expected.as_bytes()));
        next += 1;
    }
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
    let mut tls_args = files.server_args(&ca);
    tls_args.extend([
        "--tls-client-ca".to_owned(),
        path_text(&ca_path),
        "--ssl-client-auth".to_owned(),
        "required".to_owned(),
    ]);
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
    let (certificate, key) = new_ca.leaf(true);
    files.write("server.key", &key);
    files.write("server.pem", &certificate);
    broker.signal(libc::SIGHUP);
    let reloaded = eventually(Duration::from_secs(10), || {
        broker.log().contains("TLS certificate reloaded")
    });
    assert!(reloaded, "no reload:\n{}", broker.log());
    assert_eq!(metadata_ports(&client), Ok(vec![ssl.port()]));
}

/// A SASL_SSL client of `bootstrap`: SASL `mechanism` as `alice` over TLS trusting `ca`.
fn sasl_ssl_client(
    bootstrap: SocketAddr,
    ca: &Path,
    mechanism: &str,
    password: &str,
) -> ClientConfig {
    let mut config = ssl_client(bootstrap, ca, None);
    config
        .set("security.protocol", "sasl_ssl")
        .set("sasl.mechanisms", mechanism)
        .set("sasl.username", "alice")
        .set("sasl.password", password);
    config
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
    let scram = sasl_ssl_client(secured, &ca_path, "SCRAM-SHA-512", "alice-secret");
    assert_eq!(metadata_ports(&scram), Ok(vec![secured.port()]));
    produce(&scram, "sasl-over-tls", 500);
    consume_and_check(&scram, "sasl-over-tls", 500);
    let plain = sasl_ssl_client(secured, &ca_path, "PLAIN", "alice-secret");
    consume_and_check(&plain, "sasl-over-tls", 500);
    let wrong = sasl_ssl_client(secured, &ca_path, "SCRAM-SHA-512", "not-her-password");
    assert!(metadata_ports(&wrong).is_err());
}
