//! TLS test helpers: a CA made with `rcgen` per test, leaf certificates it signs, the PEM
//! files written into a temp dir (none is committed), librdkafka clients over SSL and
//! SASL_SSL that produce and consume, and a rustls client that reads the subject a TLS
//! listener serves.
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
pub struct Ca {
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    pub fn new(name: &str) -> Self {
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

    /// A leaf certificate and its key (PEM): a server one for localhost / 127.0.0.1 (subject
    /// `CN=localhost`), or a client one with subject `CN=alice,OU=eng`.
    pub fn leaf(&self, server: bool) -> (String, String) {
        if server {
            return self.server_leaf("localhost", &["localhost", "127.0.0.1"]);
        }
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        // rcgen starts with a CN of its own; the subject here is written in the order pushed.
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationalUnitName, "eng");
        params.distinguished_name.push(DnType::CommonName, "alice");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let certificate = params.signed_by(&key, &self.issuer).unwrap();
        (certificate.pem(), key.serialize_pem())
    }

    /// A server certificate (PEM) with subject `CN=<common_name>` naming `names` (DNS names
    /// or IP addresses), and its key: a fresh key and serial each call.
    pub fn server_leaf(&self, common_name: &str, names: &[&str]) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let certificate = params.signed_by(&key, &self.issuer).unwrap();
        (certificate.pem(), key.serialize_pem())
    }
}

impl Ca {
    /// A node's certificate and key (PEM) for the controller channel's mutual TLS: names
    /// localhost / 127.0.0.1 (the addresses dialled) and may serve and be a client.
    pub fn node_leaf(&self, name: &str) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let certificate = params.signed_by(&key, &self.issuer).unwrap();
        (certificate.pem(), key.serialize_pem())
    }
}

/// The PEM files of one test, in a temp dir.
pub struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    pub fn new() -> Self {
        Self {
            dir: tempfile::TempDir::new().unwrap(),
        }
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        // Written whole then renamed: a reload never reads half a file.
        let partial = self.dir.path().join(format!("{name}.partial"));
        std::fs::write(&partial, text).unwrap();
        std::fs::rename(&partial, &path).unwrap();
        path
    }

    /// Writes a server certificate `ca` signs and its key; the broker flags that serve them.
    pub fn server_args(&self, ca: &Ca) -> Vec<String> {
        let (certificate, key) = ca.leaf(true);
        vec![
            "--tls-cert".to_owned(),
            path_text(&self.write("server.pem", &certificate)),
            "--tls-key".to_owned(),
            path_text(&self.write("server.key", &key)),
        ]
    }
}

impl Files {
    /// [`Files::server_args`] with client certificates from `ca` required (Kafka's
    /// `ssl.client.auth=required`); `ca_path` is where `ca`'s certificate was written.
    pub fn mtls_server_args(&self, ca: &Ca, ca_path: &Path) -> Vec<String> {
        let mut args = self.server_args(ca);
        args.extend([
            "--tls-client-ca".to_owned(),
            path_text(ca_path),
            "--ssl-client-auth".to_owned(),
            "required".to_owned(),
        ]);
        args
    }
}

/// A CA written to `ca.pem` and a client certificate it signs (subject `CN=alice,OU=eng`)
/// written to `client.pem` / `client.key`: what an mTLS test needs.
pub struct ClientPki {
    pub ca: Ca,
    pub files: Files,
    pub ca_path: PathBuf,
    /// Certificate and key files.
    pub identity: (PathBuf, PathBuf),
}

impl ClientPki {
    pub fn new(ca_name: &str) -> Self {
        let ca = Ca::new(ca_name);
        let files = Files::new();
        let ca_path = files.write("ca.pem", &ca.pem);
        let (certificate, key) = ca.leaf(false);
        let identity = (
            files.write("client.pem", &certificate),
            files.write("client.key", &key),
        );
        Self {
            ca,
            files,
            ca_path,
            identity,
        }
    }

    /// The broker flags of an mTLS server, [`Files::mtls_server_args`].
    pub fn server_args(&self) -> Vec<String> {
        self.files.mtls_server_args(&self.ca, &self.ca_path)
    }
}

pub fn path_text(path: &Path) -> String {
    path.to_str().unwrap().to_owned()
}

/// librdkafka settings of an SSL client trusting `ca` (and presenting `identity`).
pub fn ssl_client(
    bootstrap: SocketAddr,
    ca: &Path,
    identity: Option<(&Path, &Path)>,
) -> ClientConfig {
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
pub fn metadata_ports(config: &ClientConfig) -> Result<Vec<u16>, String> {
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

pub fn produce(config: &ClientConfig, topic: &str, count: usize) {
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
pub fn consume_and_check(config: &ClientConfig, topic: &str, count: usize) {
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

/// A SASL_SSL client of `bootstrap`: SASL `mechanism` as `user` over TLS trusting `ca`.
pub fn sasl_ssl_client(
    bootstrap: SocketAddr,
    ca: &Path,
    mechanism: &str,
    (user, password): (&str, &str),
) -> ClientConfig {
    let mut config = ssl_client(bootstrap, ca, None);
    config
        .set("security.protocol", "sasl_ssl")
        .set("sasl.mechanisms", mechanism)
        .set("sasl.username", user)
        .set("sasl.password", password);
    config
}

/// The subject (RFC 2253, `CN=localhost`) of the certificate the TLS listener at `address`
/// serves a new connection, as a rustls client trusting `ca` and dialling 127.0.0.1 sees it;
/// the handshake error otherwise.
pub fn served_subject(address: SocketAddr, ca: &Path) -> Result<String, String> {
    use ringbroker::security::tls::{client_config_from, principal_from_certificate};
    let config = client_config_from(ca, None).map_err(|error| error.to_string())?;
    let name = ringbroker::security::tls::server_name(&address.to_string()).unwrap();
    let mut session = rustls::ClientConnection::new(config, name).unwrap();
    let timeout = Duration::from_secs(5);
    let mut socket =
        std::net::TcpStream::connect_timeout(&address, timeout).map_err(|e| e.to_string())?;
    socket.set_read_timeout(Some(timeout)).unwrap();
    socket.set_write_timeout(Some(timeout)).unwrap();
    // Bounded: each round trip either progresses or times out; a handshake takes two or three.
    for _ in 0..16 {
        if !session.is_handshaking() {
            break;
        }
        session
            .complete_io(&mut socket)
            .map_err(|error| error.to_string())?;
    }
    assert!(
        !session.is_handshaking(),
        "handshake with {address} did not finish"
    );
    let leaf = session.peer_certificates().and_then(<[_]>::first).unwrap();
    Ok(principal_from_certificate(leaf).unwrap().name)
}
