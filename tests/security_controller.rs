//! The controller channel over mutual TLS (issue 19, `--controller-tls-*`): three voters whose
//! Raft RPCs and broker-to-controller frames (registration, heartbeats, AlterPartition,
//! forwarded admin) run over TLS with a certificate from a test CA on every node. The cluster
//! forms, elects, takes an RF 3 topic with acks=all records, and fails over when the active
//! controller is killed with SIGKILL. A process that dials a controller listener in plaintext,
//! over TLS without a client certificate, or with a certificate of another CA gets no answer
//! to anything it sends (the handshake fails before any frame is read), cannot join the quorum
//! or register as a broker, and the cluster keeps working. A TLS controller channel missing a
//! file stops the start with an error naming it.
//!
//! SIGHUP reloads the channel's CA, certificate and key: a running cluster is rotated to a
//! second CA without a restart (new CA appended to the trust file, new certificates, old CA
//! dropped, a SIGHUP to every node after each step); afterwards a peer with an old-CA
//! certificate is refused, the quorum re-forms over new connections after the active
//! controller is killed, the killed node (new files only) rejoins, and a certificate for
//! another subject (Kafka's KIP-978 check) or a bad file at a later SIGHUP is logged and keeps
//! the working configuration.
mod common;

use common::cluster::{CONVERGE, Cluster, metadata};
use common::tls::{Ca, Files, consume_and_check, path_text, produce};
use common::{Broker, BrokerOptions, eventually};
use ringbroker::cluster::metadata::Listener;
use ringbroker::cluster::policy::lifecycle::RegistrationRequest;
use ringbroker::cluster::quorum::{ControllerConnection, Plaintext, Transport};
use ringbroker::cluster::rpc::{ControllerRequest, ControllerResponse};
use ringbroker::config::{CertificateChanges, ClientAuth, InterBrokerTls, TlsConfig};
use ringbroker::protocol::Uuid;
use ringbroker::security::controller::ControllerChannelTls;
use ringbroker::security::tls::{client_config, server_config};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A node id no broker of the test has.
const STRANGER_ID: i32 = 99;

/// The PEM files of the cluster's CA and of its nodes' certificate (one for all three: each
/// names 127.0.0.1, the address every node is dialled at).
struct Pki {
    files: Files,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Pki {
    fn new() -> Self {
        let ca = Ca::new("controller CA");
        let files = Files::new();
        let (cert, key) = ca.node_leaf("node");
        Self {
            ca: files.write("ca.pem", &ca.pem),
            cert: files.write("node.pem", &cert),
            key: files.write("node.key", &key),
            files,
        }
    }

    fn flags(&self) -> Vec<String> {
        [
            ("--controller-tls-ca", &self.ca),
            ("--controller-tls-cert", &self.cert),
            ("--controller-tls-key", &self.key),
        ]
        .iter()
        .flat_map(|(flag, path)| [(*flag).to_owned(), path_text(path)])
        .collect()
    }

    /// A transport whose client side trusts this CA and presents `identity` (none: no client
    /// certificate at all).
    fn transport(&self, identity: Option<(PathBuf, PathBuf)>) -> Transport {
        let server = server_config(&TlsConfig {
            cert: self.cert.clone(),
            key: self.key.clone(),
            client_ca: Some(self.ca.clone()),
            client_auth: ClientAuth::Required,
            changes: CertificateChanges::default(),
        })
        .unwrap();
        let client = client_config(&InterBrokerTls {
            ca: self.ca.clone(),
            identity,
        })
        .unwrap();
        ControllerChannelTls::from_configs(server, client).transport()
    }

    /// What the nodes dial each other with.
    fn node_transport(&self) -> Transport {
        self.transport(Some((self.cert.clone(), self.key.clone())))
    }
}

/// Three voters with the controller channel over mutual TLS (client listeners plaintext).
fn start(pki: &Pki) -> Cluster {
    let flags = pki.flags();
    let extra: Vec<&str> = flags.iter().map(String::as_str).collect();
    let cluster = Cluster::start_tuned(3, 2, &extra);
    for id in cluster.ids() {
        let log = cluster.broker(id).log();
        assert!(
            log.contains("controller listener") && log.contains("mTLS"),
            "broker {id} does not say its controller listener runs mTLS:\n{}",
            cluster.log_tails()
        );
    }
    cluster
}

/// The controller every broker in `asking` names, once they agree on one of them.
fn agreed_controller(cluster: &Cluster, asking: &[i32]) -> i32 {
    let mut agreed = None;
    let settled = eventually(CONVERGE, || {
        let named: BTreeSet<i32> = asking
            .iter()
            .filter_map(|id| metadata(cluster.broker(*id).address, None).ok())
            .map(|response| response.controller_id)
            .collect();
        agreed = named.first().copied();
        named.len() == 1 && agreed.is_some_and(|id| asking.contains(&id))
    });
    assert!(
        settled,
        "brokers {asking:?} never agreed on a controller:\n{}",
        cluster.log_tails()
    );
    agreed.unwrap()
}

fn plain_client(bootstrap: &str) -> rdkafka::ClientConfig {
    let mut config = rdkafka::ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("socket.timeout.ms", "5000");
    config
}

/// One App request to the controller listener at `address` over `transport`.
fn ask(
    address: SocketAddr,
    transport: Transport,
    request: &ControllerRequest,
) -> std::io::Result<ControllerResponse> {
    let bytes = postcard::to_stdvec(request).unwrap();
    let runtime = compio::runtime::Runtime::new().unwrap();
    let answer = runtime.block_on(async {
        let timeout = Duration::from_secs(5);
        ControllerConnection::new(&address.to_string(), timeout, transport)
            .app(&bytes)
            .await
    })?;
    Ok(postcard::from_bytes(&answer).unwrap())
}

/// Asks the voter at `address` to add [`STRANGER_ID`] as an observer; true when it answered.
fn join_answered(address: SocketAddr, transport: Transport) -> bool {
    let runtime = compio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let timeout = Duration::from_secs(5);
        let mut connection = ControllerConnection::new(&address.to_string(), timeout, transport);
        connection
            .join(STRANGER_ID, "127.0.0.1:1", [9; 16])
            .await
            .is_ok()
    })
}

/// A registration of [`STRANGER_ID`] the controller would accept from a node.
fn stranger_registration(cluster_id: String) -> ControllerRequest {
    ControllerRequest::Register(RegistrationRequest {
        cluster_id,
        node_id: STRANGER_ID,
        incarnation: Uuid([9; 16]),
        listeners: vec![Listener {
            name: "CLIENT".into(),
            host: "127.0.0.1".into(),
            port: 1,
        }],
        shard_count: 2,
        rack: None,
        previous_broker_epoch: None,
    })
}

fn index(id: i32) -> usize {
    usize::try_from(id - 1).unwrap()
}

#[test]
fn a_cluster_over_a_tls_controller_channel_replicates_and_fails_over() {
    let pki = Pki::new();
    let mut cluster = start(&pki);
    cluster.create_topic("secured", 1, 3, &[]);
    let full = cluster.wait_isr_full("secured", CONVERGE);
    assert!(
        full.is_some(),
        "the ISR never filled:\n{}",
        cluster.log_tails()
    );
    let client = plain_client(&cluster.bootstrap());
    produce(&client, "secured", 200);
    consume_and_check(&client, "secured", 200);

    // The active controller dies; the two others elect one of them over TLS, and it serves
    // metadata changes (CreateTopics is forwarded to it) and partition leadership.
    let controller = agreed_controller(&cluster, &[1, 2, 3]);
    cluster.kill9(controller);
    let survivors: Vec<i32> = cluster.ids().filter(|id| *id != controller).collect();
    let next = agreed_controller(&cluster, &survivors);
    assert_ne!(next, controller);
    cluster.create_topic("after-failover", 1, 2, &[]);
    let bootstrap: Vec<String> = survivors
        .iter()
        .map(|id| cluster.broker(*id).address.to_string())
        .collect();
    let client = plain_client(&bootstrap.join(","));
    produce(&client, "after-failover", 100);
    consume_and_check(&client, "after-failover", 100);
    cluster.stop_all();
}

#[test]
fn a_peer_without_a_node_certificate_is_closed_unread_and_changes_nothing() {
    let pki = Pki::new();
    let cluster = start(&pki);
    let controller = agreed_controller(&cluster, &[1, 2, 3]);
    let address = cluster.controller_addresses[index(controller)];
    // A node's certificate is served: the requests below are ones the controller answers.
    let known = ask(address, pki.node_transport(), &ControllerRequest::ClusterId);
    let Ok(ControllerResponse::ClusterId {
        cluster_id: Some(cluster_id),
    }) = known
    else {
        panic!("a node's request was not answered: {known:?}");
    };

    let other = Ca::new("another CA");
    let (other_cert, other_key) = other.node_leaf("intruder");
    let other_identity = (
        pki.files.write("other.pem", &other_cert),
        pki.files.write("other.key", &other_key),
    );
    let strangers = [
        ("plaintext", Plaintext::transport()),
        ("no client certificate", pki.transport(None)),
        (
            "another CA's certificate",
            pki.transport(Some(other_identity)),
        ),
    ];
    let requests = [
        ControllerRequest::ClusterId,
        stranger_registration(cluster_id),
        ControllerRequest::Brokers,
    ];
    for (what, transport) in &strangers {
        for request in &requests {
            let answer = ask(address, transport.clone(), request);
            assert!(answer.is_err(), "{what}: {request:?} answered {answer:?}");
        }
        assert!(
            !join_answered(address, transport.clone()),
            "{what}: a join was answered"
        );
    }
    let refusals = cluster.broker(controller).log();
    let refused = refusals.matches("refused at handshake").count();
    assert!(
        refused >= strangers.len(),
        "{refused} handshake refusals logged:\n{}",
        cluster.log_tails()
    );

    // Nothing was committed: no registration and no observer with the stranger's id.
    let brokers = ask(address, pki.node_transport(), &ControllerRequest::Brokers);
    let Ok(ControllerResponse::Brokers { brokers }) = brokers else {
        panic!("Brokers not answered: {brokers:?}");
    };
    let ids: BTreeSet<i32> = brokers.iter().map(|broker| broker.node_id).collect();
    assert_eq!(ids, BTreeSet::from([1, 2, 3]));
    let status = ask(
        address,
        pki.node_transport(),
        &ControllerRequest::QuorumStatus,
    );
    let Ok(ControllerResponse::QuorumStatus(status)) = status else {
        panic!("QuorumStatus not answered: {status:?}");
    };
    assert!(
        status.observers.iter().all(|o| o.node_id != STRANGER_ID),
        "{status:?}"
    );
    // And the cluster still works.
    cluster.create_topic("still-served", 1, 3, &[]);
    assert!(cluster.wait_isr_full("still-served", CONVERGE).is_some());
}

/// `ringbroker cluster status` through broker 1 with `flags`: the broker epoch column of
/// each broker row (`NODE HOST:PORT RACK FENCED EPOCH SHARDS CONTROLLER`), once it succeeds.
fn status_epochs(cluster: &Cluster, flags: &[String]) -> Vec<String> {
    let bootstrap = cluster.broker(1).address.to_string();
    let addresses: Vec<String> = cluster
        .ids()
        .map(|id| cluster.broker(id).address.to_string())
        .collect();
    let mut epochs = Vec::new();
    let mut last = String::new();
    let reported = eventually(CONVERGE, || {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_ringbroker"))
            .args(["cluster", "status", "--bootstrap", &bootstrap])
            .args(flags)
            .output()
            .unwrap();
        last = String::from_utf8_lossy(&output.stdout).into_owned();
        epochs = last
            .lines()
            .map(|line| line.split_whitespace().collect::<Vec<_>>())
            .filter(|cells| cells.len() >= 6 && addresses.iter().any(|a| a == cells[1]))
            .map(|cells| cells[4].to_owned())
            .collect();
        output.status.success() && epochs.len() == addresses.len()
    });
    assert!(reported, "no status with every broker:\n{last}");
    epochs
}

#[test]
fn cluster_status_reads_registrations_over_the_tls_controller_channel_with_a_node_certificate() {
    let pki = Pki::new();
    let cluster = start(&pki);
    // Without the flags the controller refuses the plaintext request: epochs are unknown.
    let plain = status_epochs(&cluster, &[]);
    assert!(plain.iter().all(|epoch| epoch == "-"), "{plain:?}");
    let secured = status_epochs(&cluster, &pki.flags());
    assert!(
        secured.iter().all(|epoch| epoch.parse::<i64>().is_ok()),
        "{secured:?}"
    );
}

#[test]
fn a_tls_controller_channel_missing_a_file_stops_the_start_with_a_clear_error() {
    let pki = Pki::new();
    let ca = path_text(&pki.ca);
    let cert = path_text(&pki.cert);
    let missing = path_text(&pki.files.write("gone", "").with_file_name("absent.key"));
    let cases: [(Vec<&str>, &str); 2] = [
        (
            vec!["--controller-tls-ca", &ca, "--controller-tls-cert", &cert],
            "--controller-tls-key",
        ),
        (
            vec![
                "--controller-tls-ca",
                &ca,
                "--controller-tls-cert",
                &cert,
                "--controller-tls-key",
                &missing,
            ],
            "absent.key",
        ),
    ];
    for (flags, named) in cases {
        let mut broker = Broker::unstarted(BrokerOptions {
            extra_args: flags.iter().map(|flag| (*flag).to_owned()).collect(),
            ..BrokerOptions::default()
        });
        broker.spawn_again();
        let status = broker.wait_exit(Duration::from_secs(20));
        assert!(!status.success(), "{flags:?} started:\n{}", broker.log());
        let log = broker.log();
        assert!(log.contains(named), "{flags:?}: {named} not named:\n{log}");
    }
}

/// The log line a node writes when SIGHUP reloaded its controller channel.
const RELOADED: &str = "controller channel TLS certificate reloaded";
/// The log line a node writes when a SIGHUP reload of its controller channel failed.
const RELOAD_FAILED: &str = "controller channel TLS reload failed";

/// Sends SIGHUP to each of `ids` and waits (bounded) until each logged one more `line`.
fn sighup_and_wait(cluster: &Cluster, ids: &[i32], line: &str) {
    for &id in ids {
        let broker = cluster.broker(id);
        let before = broker.log().matches(line).count();
        broker.signal(libc::SIGHUP);
        let logged = eventually(CONVERGE, || broker.log().matches(line).count() > before);
        assert!(
            logged,
            "broker {id} did not log {line:?} after SIGHUP:\n{}",
            cluster.log_tails()
        );
    }
}

/// Whether the controller at `address` answers a ClusterId request over `transport`.
fn answers(address: SocketAddr, transport: &Transport) -> bool {
    matches!(
        ask(address, transport.clone(), &ControllerRequest::ClusterId),
        Ok(ControllerResponse::ClusterId {
            cluster_id: Some(_)
        })
    )
}

/// Rotates every node's controller files from the first CA to `next` in the order that
/// never leaves two nodes unable to talk: trust both, then new certificates, then trust only
/// the new CA, with a SIGHUP to every node after each step. Returns an identity of the old
/// CA, which is refused after the last step.
fn rotate(cluster: &Cluster, pki: &Pki, next: &Ca) -> (PathBuf, PathBuf) {
    let all: Vec<i32> = cluster.ids().collect();
    let old_ca = std::fs::read_to_string(&pki.ca).unwrap();
    let old_identity = (
        pki.files
            .write("old-node.pem", &std::fs::read_to_string(&pki.cert).unwrap()),
        pki.files
            .write("old-node.key", &std::fs::read_to_string(&pki.key).unwrap()),
    );
    pki.files
        .write("ca.pem", &format!("{old_ca}\n{}", next.pem));
    sighup_and_wait(cluster, &all, RELOADED);
    // The same subject and names from the new CA: a rotation changes the issuer, not who the
    // node is (another subject would be refused, Kafka's KIP-978 checks).
    let (cert, key) = next.node_leaf("node");
    pki.files.write("node.key", &key);
    pki.files.write("node.pem", &cert);
    sighup_and_wait(cluster, &all, RELOADED);
    // Both CAs are trusted still: an old-CA peer is answered.
    let controller = agreed_controller(cluster, &all);
    let address = cluster.controller_addresses[index(controller)];
    let old = pki.transport(Some(old_identity.clone()));
    assert!(
        answers(address, &old),
        "an old-CA peer was refused while both CAs are trusted:\n{}",
        cluster.log_tails()
    );
    pki.files.write("ca.pem", &next.pem);
    sighup_and_wait(cluster, &all, RELOADED);
    old_identity
}

#[test]
fn sighup_rotates_the_controller_channel_to_a_new_ca_without_a_restart() {
    let pki = Pki::new();
    let mut cluster = start(&pki);
    cluster.create_topic("before-rotation", 1, 3, &[]);
    let next = Ca::new("next controller CA");
    let old_identity = rotate(&cluster, &pki, &next);

    // New handshakes use the reloaded files on both sides: a client trusting only the new CA
    // and presenting a new certificate is answered (the server shows its new certificate and
    // trusts the new CA), an old-CA certificate is refused.
    let controller = agreed_controller(&cluster, &[1, 2, 3]);
    let address = cluster.controller_addresses[index(controller)];
    let current = pki.node_transport();
    assert!(
        answers(address, &current),
        "a new-CA peer was refused:\n{}",
        cluster.log_tails()
    );
    let old = pki.transport(Some(old_identity));
    assert!(
        !answers(address, &old),
        "an old-CA peer was answered after the old CA was dropped"
    );
    // Connections opened before the rotation carry on: the cluster still takes changes.
    cluster.create_topic("after-rotation", 1, 3, &[]);
    assert!(cluster.wait_isr_full("after-rotation", CONVERGE).is_some());

    // The active controller dies; the survivors elect one of them and serve changes.
    cluster.kill9(controller);
    let survivors: Vec<i32> = cluster.ids().filter(|id| *id != controller).collect();
    let next_controller = agreed_controller(&cluster, &survivors);
    assert_ne!(next_controller, controller);
    cluster.create_topic("after-failover", 1, 2, &[]);
    // The killed node knows only the new files: it rejoins over new connections only, to
    // and from survivors that were never restarted.
    cluster.start_again(controller);
    cluster.create_topic("rejoined", 1, 3, &[]);
    assert!(
        cluster.wait_isr_full("rejoined", CONVERGE).is_some(),
        "the restarted node never joined the ISR:\n{}",
        cluster.log_tails()
    );
    let client = plain_client(&cluster.bootstrap());
    produce(&client, "rejoined", 100);
    consume_and_check(&client, "rejoined", 100);

    // A certificate for another subject at the next SIGHUP: refused (Kafka's KIP-978
    // default), logged with the reason; the node keeps answering.
    let survivor = survivors[0];
    let (cert, key) = next.node_leaf("intruder");
    pki.files.write("node.key", &key);
    pki.files.write("node.pem", &cert);
    sighup_and_wait(&cluster, &[survivor], RELOAD_FAILED);
    let log = cluster.broker(survivor).log();
    assert!(
        log.contains("certificate subject changed from CN=node to CN=intruder"),
        "broker {survivor} does not say why it kept its certificate:\n{log}"
    );
    // A bad key at the next SIGHUP: logged, the node keeps running on the old configuration.
    pki.files.write("node.key", "not a key\n");
    sighup_and_wait(&cluster, &[survivor], RELOAD_FAILED);
    let survivor_address = cluster.controller_addresses[index(survivor)];
    assert!(
        answers(survivor_address, &current),
        "broker {survivor} stopped answering after a failed reload:\n{}",
        cluster.log_tails()
    );
    assert!(cluster.brokers[index(survivor)].is_running());
    cluster.stop_all();
}
