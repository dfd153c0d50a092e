//! `ringbroker cluster status`: the metadata quorum and the brokers, as
//! `kafka-metadata-quorum.sh describe --status --replication` and `kafka-cluster.sh` show them.
//! `ringbroker cluster drain BROKER` (moving every replica off a broker) is `cli::partition`'s.
//!
//! ```text
//! status  DescribeCluster (bootstrap)        → cluster id, controller, brokers
//!         DescribeQuorum (controller first,  → leader, epoch, high watermark,
//!           then the other brokers while        each voter's / observer's log end offset
//!           NOT_LEADER_OR_FOLLOWER)             and LAG = high watermark − log end offset
//! ```
//! The broker table shows what DescribeCluster carries (node, host:port, rack, fenced) and
//! each node's `CONTROLLER` listener from DescribeQuorum v2, plus the quorum's nodes
//! DescribeCluster did not list (their `CLIENT` listener from DescribeQuorum v2). Broker epoch
//! and shard count, which no Kafka API carries, come from the quorum leader's controller
//! listener (ringbroker's own `Brokers` RPC; over mutual TLS with `--controller-tls-ca/cert/key`
//! when the controller channel runs it); "-" when it does not answer. Exit 0 when the
//! quorum answered, 1 when no broker could describe it (the reason is printed) or on any
//! connection or protocol error.
//! Formatting is pure (`format_status`) and unit-tested; the exchanges are blocking calls with
//! the client's socket timeout.
//!
//! Runs on the main thread of the admin process.
use super::args::{self, Parsed, Spec};
use super::table::Table;
use super::{Brokers, CliError, Outcome};
use crate::cluster::metadata::{CLIENT_LISTENER, CONTROLLER_LISTENER};
use crate::cluster::quorum::{app_call_blocking, app_exchange_blocking, connect_blocking};
use crate::cluster::rpc::{ControllerRequest, ControllerResponse};
use crate::config::{CertificateChanges, ControllerFile, ControllerTls, validate_controller};
use crate::limits::CONTROLLER_RPC_TIMEOUT_MS;
use crate::protocol::messages::describe_cluster::{
    DescribeClusterRequest, DescribeClusterResponse,
};
use crate::protocol::messages::describe_quorum::{
    DescribeQuorumNode, DescribeQuorumPartitionData, DescribeQuorumPartitionRequest,
    DescribeQuorumRequest, DescribeQuorumResponse, DescribeQuorumTopicRequest, ReplicaState,
};
use crate::protocol::{ApiKey, ErrorCode, StrBytes};
use crate::security::controller::server_name;
use crate::security::tls::client_config;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::time::Duration;

/// The metadata log's topic and partition (KRaft's names).
const METADATA_TOPIC: &str = "__cluster_metadata";
const METADATA_PARTITION: i32 = 0;
/// Brokers asked for the quorum, at most (each answers NOT_LEADER_OR_FOLLOWER at worst).
const QUORUM_ATTEMPTS_MAX: usize = 16;
/// `BOOTSTRAP_FLAGS`, `--command-config`, `drain`'s bound on its wait, and the controller
/// channel's mutual TLS (the node flags' names: an admin host given a node's certificate reads
/// registrations).
const VALUES: &[&str] = &[
    "--bootstrap",
    "--bootstrap-server",
    "--command-config",
    "--timeout-ms",
    "--controller-tls-ca",
    "--controller-tls-cert",
    "--controller-tls-key",
];

/// Runs `ringbroker cluster ACTION ARGS…`.
///
/// # Errors
/// Bad arguments, connection or protocol errors.
pub fn run(action: &str, args: &[String], out: &mut dyn Write) -> Result<Outcome, CliError> {
    let parsed = args::parse(
        args,
        Spec {
            values: VALUES,
            switches: &[],
        },
    )?;
    match action {
        "status" if parsed.positional.is_empty() => status(&parsed, out),
        "status" => Err(CliError::Usage(
            "usage: ringbroker cluster status [--bootstrap HOST:PORT] [--controller-tls-ca FILE \
             --controller-tls-cert FILE --controller-tls-key FILE]",
        )),
        "drain" => match parsed.positional.as_slice() {
            [broker] => {
                let leaving = broker.parse().map_err(|_| CliError::BadValue {
                    flag: "BROKER",
                    value: broker.clone(),
                    expected: "broker id",
                })?;
                super::partition::drain(&parsed, leaving, out)
            }
            _ => Err(CliError::Usage(
                "usage: ringbroker cluster drain BROKER [--timeout-ms MS] [--bootstrap HOST:PORT]",
            )),
        },
        other => Err(CliError::UnknownCommand {
            words: format!("cluster {other}"),
        }),
    }
}

/// What the quorum question came to.
#[derive(Debug, Clone, PartialEq)]
pub enum QuorumAnswer {
    /// The leader's answer (v2 nodes empty below v2).
    Described {
        partition: DescribeQuorumPartitionData,
        nodes: Vec<DescribeQuorumNode>,
    },
    /// No broker asked could describe it: the last error seen.
    Failed { error_code: ErrorCode },
}

fn status(parsed: &Parsed, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let brokers = Brokers::from_flags(parsed)?;
    let (mut connection, versions) = brokers.connect_bootstrap()?;
    let version = versions.need(ApiKey::DescribeCluster)?;
    let cluster: DescribeClusterResponse =
        connection.call(version, &DescribeClusterRequest::default())?;
    if cluster.error_code != ErrorCode::None {
        return Err(CliError::Kafka {
            what: "describe cluster".to_owned(),
            error_code: cluster.error_code,
            message: cluster.error_message.map(|m| m.to_string()),
        });
    }
    let candidates = candidates(&cluster, &brokers.bootstrap);
    let quorum = describe_quorum(&brokers, &candidates, &cluster)?;
    let registrations = registrations(&quorum, controller_tls(parsed)?.as_ref());
    out.write_all(format_status(&cluster, &quorum, &registrations).as_bytes())?;
    Ok(match quorum {
        QuorumAnswer::Described { .. } => Outcome::Success,
        QuorumAnswer::Failed { .. } => Outcome::Problems,
    })
}

/// The controller channel's mutual TLS from `--controller-tls-*` (all three or none).
fn controller_tls(parsed: &Parsed) -> Result<Option<ControllerTls>, CliError> {
    let path = |flag| parsed.value(flag).map(std::path::PathBuf::from);
    let file = ControllerFile {
        tls_ca: path("--controller-tls-ca"),
        tls_cert: path("--controller-tls-cert"),
        tls_key: path("--controller-tls-key"),
    };
    // Only the client side is used here: nothing is reloaded, so no change policy applies.
    Ok(validate_controller(&file, CertificateChanges::default())?)
}

/// One App request to the controller listener at `address`: plaintext, or mutual TLS with
/// the node certificate `tls` names (a blocking rustls session over the socket).
fn controller_call(
    address: &str,
    request: &[u8],
    tls: Option<&ControllerTls>,
) -> std::io::Result<Vec<u8>> {
    let timeout = Duration::from_millis(CONTROLLER_RPC_TIMEOUT_MS);
    let Some(tls) = tls else {
        return app_call_blocking(address, request, timeout);
    };
    let config = client_config(&tls.client_settings()).map_err(std::io::Error::other)?;
    let name = server_name(address)?;
    let session = rustls::ClientConnection::new(config, name).map_err(std::io::Error::other)?;
    let socket = connect_blocking(address, timeout)?;
    app_exchange_blocking(&mut rustls::StreamOwned::new(session, socket), request)
}

/// Broker epoch and shard count per node, which no Kafka API carries: asked of the quorum
/// leader's `CONTROLLER` listener with ringbroker's own controller RPC (`cluster::rpc`,
/// `Brokers`), over mutual TLS when `tls` is given. Empty when that fails (the table then
/// shows "-"; a TLS controller channel asked without `--controller-tls-*` refuses it); the
/// status does not depend on it.
fn registrations(quorum: &QuorumAnswer, tls: Option<&ControllerTls>) -> BTreeMap<i32, (i64, i32)> {
    let QuorumAnswer::Described { partition, nodes } = quorum else {
        return BTreeMap::new();
    };
    let Some(address) = listener_address(nodes, partition.leader_id, CONTROLLER_LISTENER) else {
        return BTreeMap::new();
    };
    let request = postcard::to_stdvec(&ControllerRequest::Brokers).unwrap_or_default();
    let answer = controller_call(&address, &request, tls)
        .ok()
        .and_then(|bytes| postcard::from_bytes::<ControllerResponse>(&bytes).ok());
    match answer {
        Some(ControllerResponse::Brokers { brokers }) => brokers
            .iter()
            .map(|b| (b.node_id, (b.broker_epoch, b.shard_count)))
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// Addresses to ask for the quorum, in order: the controller DescribeCluster named, the other
/// brokers, then the bootstrap address (a broker may list no one yet), each once.
#[must_use]
pub fn candidates(cluster: &DescribeClusterResponse, bootstrap: &str) -> Vec<String> {
    let controller = cluster
        .brokers
        .iter()
        .filter(|broker| broker.broker_id == cluster.controller_id);
    let others = cluster
        .brokers
        .iter()
        .filter(|broker| broker.broker_id != cluster.controller_id);
    let mut addresses: Vec<String> = Vec::new();
    let listed = controller
        .chain(others)
        .map(|broker| address(broker.host.as_str(), broker.port));
    for candidate in listed.chain(std::iter::once(bootstrap.to_owned())) {
        if !addresses.contains(&candidate) && addresses.len() < QUORUM_ATTEMPTS_MAX {
            addresses.push(candidate);
        }
    }
    addresses
}

fn address(host: &str, port: i32) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Asks `candidates` in turn; a NOT_LEADER_OR_FOLLOWER answer that names a leader moves that
/// leader to the front (its address as DescribeCluster listed it, else the answer's `CLIENT`
/// listener of it). Bounded: each address is asked at
/// most once and at most `QUORUM_ATTEMPTS_MAX` are asked.
///
/// # Errors
/// The connection error when the only address there was to ask could not be reached.
fn describe_quorum(
    brokers: &Brokers,
    candidates: &[String],
    cluster: &DescribeClusterResponse,
) -> Result<QuorumAnswer, CliError> {
    let mut queue: Vec<String> = candidates.to_vec();
    let mut asked: Vec<String> = Vec::new();
    let mut last = ErrorCode::NotLeaderOrFollower;
    let mut connect_error = None;
    // Bounded: every iteration removes one address from the queue, and an address is queued
    // again (as a leader hint) only while it has not been asked.
    while !queue.is_empty() && asked.len() < QUORUM_ATTEMPTS_MAX {
        let next = queue.remove(0);
        if asked.contains(&next) {
            continue;
        }
        asked.push(next.clone());
        let (answer, leader_hint) = match ask_quorum(brokers, &next) {
            Ok(answered) => answered,
            Err(error) => {
                // An unreachable broker is skipped; another may lead.
                connect_error = Some(error);
                continue;
            }
        };
        match answer {
            QuorumAnswer::Described { .. } => return Ok(answer),
            QuorumAnswer::Failed { error_code } => last = error_code,
        }
        let listed = cluster
            .brokers
            .iter()
            .find(|broker| Some(broker.broker_id) == leader_hint.node_id)
            .map(|broker| address(broker.host.as_str(), broker.port));
        let hinted = listed.or(leader_hint.client_address);
        if let Some(leader) = hinted.filter(|leader| !asked.contains(leader)) {
            queue.insert(0, leader);
        }
    }
    match connect_error {
        Some(error) if asked.len() == 1 => Err(error),
        _ => Ok(QuorumAnswer::Failed { error_code: last }),
    }
}

/// What a NOT_LEADER_OR_FOLLOWER answer says about the leader: its id, and its client
/// address when the answer's v2 nodes carry its `CLIENT` listener.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct LeaderHint {
    node_id: Option<i32>,
    client_address: Option<String>,
}

/// One DescribeQuorum exchange with `address`: its answer, and what it said of the leader.
fn ask_quorum(brokers: &Brokers, address: &str) -> Result<(QuorumAnswer, LeaderHint), CliError> {
    let (mut connection, versions) = brokers.connect(address)?;
    let version = versions.need(ApiKey::DescribeQuorum)?;
    let request = DescribeQuorumRequest {
        topics: vec![DescribeQuorumTopicRequest {
            topic_name: StrBytes::from(METADATA_TOPIC),
            partitions: vec![DescribeQuorumPartitionRequest {
                partition_index: METADATA_PARTITION,
            }],
        }],
    };
    let response: DescribeQuorumResponse = connection.call(version, &request)?;
    if response.error_code != ErrorCode::None {
        let failed = QuorumAnswer::Failed {
            error_code: response.error_code,
        };
        return Ok((failed, LeaderHint::default()));
    }
    let partition = response
        .topics
        .into_iter()
        .filter(|topic| topic.topic_name.as_str() == METADATA_TOPIC)
        .flat_map(|topic| topic.partitions)
        .find(|partition| partition.partition_index == METADATA_PARTITION);
    Ok(match partition {
        Some(partition) if partition.error_code == ErrorCode::None => {
            let described = QuorumAnswer::Described {
                partition,
                nodes: response.nodes,
            };
            (described, LeaderHint::default())
        }
        Some(partition) => {
            let hint = LeaderHint {
                node_id: (partition.leader_id >= 0).then_some(partition.leader_id),
                client_address: listener_address(
                    &response.nodes,
                    partition.leader_id,
                    CLIENT_LISTENER,
                ),
            };
            let failed = QuorumAnswer::Failed {
                error_code: partition.error_code,
            };
            (failed, hint)
        }
        None => {
            let failed = QuorumAnswer::Failed {
                error_code: ErrorCode::UnknownTopicOrPartition,
            };
            (failed, LeaderHint::default())
        }
    })
}

/// The report: a quorum summary, the replication table and the broker table.
#[must_use]
pub fn format_status(
    cluster: &DescribeClusterResponse,
    quorum: &QuorumAnswer,
    registrations: &BTreeMap<i32, (i64, i32)>,
) -> String {
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(text, "ClusterId:        {}", cluster.cluster_id);
    let _ = writeln!(text, "ControllerId:     {}", cluster.controller_id);
    let nodes: &[DescribeQuorumNode] = match quorum {
        QuorumAnswer::Described { partition, nodes } => {
            text.push_str(&format_quorum(partition));
            nodes
        }
        QuorumAnswer::Failed { error_code } => {
            let _ = writeln!(
                text,
                "Quorum:           unavailable ({})",
                error_code.name()
            );
            &[]
        }
    };
    text.push('\n');
    text.push_str(&format_brokers(cluster, nodes, registrations));
    text
}

/// The broker table: DescribeCluster's brokers, then the quorum's nodes it did not list (with
/// their `CLIENT` listener; rack and fenced "-": only DescribeCluster reports them), by id.
fn format_brokers(
    cluster: &DescribeClusterResponse,
    nodes: &[DescribeQuorumNode],
    registrations: &BTreeMap<i32, (i64, i32)>,
) -> String {
    let unknown = || "-".to_owned();
    let controller = |node_id| listener_address(nodes, node_id, CONTROLLER_LISTENER);
    let epoch = |node_id| {
        registrations
            .get(&node_id)
            .map_or_else(unknown, |(epoch, _)| epoch.to_string())
    };
    let shards = |node_id| {
        registrations
            .get(&node_id)
            .map_or_else(unknown, |(_, shards)| shards.to_string())
    };
    let mut rows: Vec<(i32, Vec<String>)> = cluster
        .brokers
        .iter()
        .map(|broker| {
            let row = vec![
                broker.broker_id.to_string(),
                address(broker.host.as_str(), broker.port),
                broker
                    .rack
                    .as_ref()
                    .map_or_else(unknown, ToString::to_string),
                broker.is_fenced.to_string(),
                epoch(broker.broker_id),
                shards(broker.broker_id),
                controller(broker.broker_id).unwrap_or_else(unknown),
            ];
            (broker.broker_id, row)
        })
        .collect();
    for node in nodes {
        if rows.iter().any(|(id, _)| *id == node.node_id) {
            continue;
        }
        let client = listener_address(nodes, node.node_id, CLIENT_LISTENER);
        let row = vec![
            node.node_id.to_string(),
            client.unwrap_or_else(unknown),
            unknown(),
            unknown(),
            epoch(node.node_id),
            shards(node.node_id),
            controller(node.node_id).unwrap_or_else(unknown),
        ];
        rows.push((node.node_id, row));
    }
    rows.sort_by_key(|(id, _)| *id);
    let mut table = Table::new(&[
        "NODE",
        "HOST:PORT",
        "RACK",
        "FENCED",
        "EPOCH",
        "SHARDS",
        "CONTROLLER-LISTENER",
    ]);
    for (_, row) in rows {
        table.push(row);
    }
    table.render()
}

/// The summary lines and the replication table of a described quorum.
fn format_quorum(partition: &DescribeQuorumPartitionData) -> String {
    let hw = partition.high_watermark;
    let lag = |replica: &ReplicaState| {
        (replica.log_end_offset >= 0 && hw >= 0).then(|| hw.saturating_sub(replica.log_end_offset))
    };
    let ids = |replicas: &[ReplicaState]| {
        let ids: Vec<String> = replicas.iter().map(|r| r.replica_id.to_string()).collect();
        format!("[{}]", ids.join(","))
    };
    let max_lag = partition.current_voters.iter().filter_map(lag).max();
    let mut text = String::new();
    let _ = writeln!(text, "LeaderId:         {}", partition.leader_id);
    let _ = writeln!(text, "LeaderEpoch:      {}", partition.leader_epoch);
    let _ = writeln!(text, "HighWatermark:    {hw}");
    let _ = writeln!(
        text,
        "MaxFollowerLag:   {}",
        max_lag.map_or("-".to_owned(), |l| l.to_string())
    );
    let _ = writeln!(text, "CurrentVoters:    {}", ids(&partition.current_voters));
    let _ = writeln!(text, "CurrentObservers: {}", ids(&partition.observers));
    text.push('\n');
    let mut table = Table::new(&["NODE", "STATUS", "LOG-END-OFFSET", "LAG"]);
    let voters = partition.current_voters.iter().map(|r| (r, true));
    let observers = partition.observers.iter().map(|r| (r, false));
    for (replica, voter) in voters.chain(observers) {
        let status = match (voter, replica.replica_id == partition.leader_id) {
            (true, true) => "Leader",
            (true, false) => "Follower",
            (false, _) => "Observer",
        };
        let unknown = || "-".to_owned();
        table.push(vec![
            replica.replica_id.to_string(),
            status.to_owned(),
            if replica.log_end_offset >= 0 {
                replica.log_end_offset.to_string()
            } else {
                unknown()
            },
            lag(replica).map_or_else(unknown, |l| l.to_string()),
        ]);
    }
    text.push_str(&table.render());
    text
}

/// `node_id`'s listener called `name` in the quorum's v2 nodes, as `host:port`.
fn listener_address(nodes: &[DescribeQuorumNode], node_id: i32, name: &str) -> Option<String> {
    nodes
        .iter()
        .filter(|node| node.node_id == node_id)
        .flat_map(|node| &node.listeners)
        .find(|listener| listener.name.as_str() == name)
        .map(|l| address(l.host.as_str(), i32::from(l.port)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may unwrap
mod tests {
    use super::*;
    use crate::protocol::messages::describe_cluster::DescribeClusterBroker;
    use crate::protocol::messages::describe_quorum::DescribeQuorumListener;

    fn broker(broker_id: i32, host: &str, port: i32) -> DescribeClusterBroker {
        DescribeClusterBroker {
            broker_id,
            host: host.into(),
            port,
            rack: (broker_id == 2).then(|| "rack-b".into()),
            is_fenced: broker_id == 3,
        }
    }

    fn cluster() -> DescribeClusterResponse {
        DescribeClusterResponse {
            cluster_id: "c-1".into(),
            controller_id: 2,
            brokers: vec![
                broker(1, "h1", 9091),
                broker(2, "h2", 9092),
                broker(3, "::1", 9093),
            ],
            ..DescribeClusterResponse::default()
        }
    }

    fn replica(replica_id: i32, log_end_offset: i64) -> ReplicaState {
        ReplicaState {
            replica_id,
            log_end_offset,
            ..ReplicaState::default()
        }
    }

    #[test]
    fn the_controller_is_asked_first_then_the_others_then_bootstrap() {
        let order = candidates(&cluster(), "h1:9091");
        assert_eq!(order, ["h2:9092", "h1:9091", "[::1]:9093"]);
        let order = candidates(&DescribeClusterResponse::default(), "b:1");
        assert_eq!(order, ["b:1"]);
    }

    #[test]
    fn status_shows_lag_per_voter_and_the_brokers() {
        let quorum = QuorumAnswer::Described {
            partition: DescribeQuorumPartitionData {
                leader_id: 2,
                leader_epoch: 5,
                high_watermark: 100,
                current_voters: vec![replica(2, 100), replica(1, 97), replica(3, -1)],
                observers: vec![replica(4, 90)],
                ..DescribeQuorumPartitionData::default()
            },
            nodes: vec![
                DescribeQuorumNode {
                    node_id: 2,
                    listeners: vec![DescribeQuorumListener {
                        name: "CONTROLLER".into(),
                        host: "h2".into(),
                        port: 9192,
                    }],
                },
                DescribeQuorumNode {
                    node_id: 5,
                    listeners: vec![
                        DescribeQuorumListener {
                            name: "CLIENT".into(),
                            host: "h5".into(),
                            port: 9092,
                        },
                        DescribeQuorumListener {
                            name: "CONTROLLER".into(),
                            host: "h5".into(),
                            port: 9192,
                        },
                    ],
                },
            ],
        };
        let registrations = BTreeMap::from([(2, (17, 2))]);
        let text = format_status(&cluster(), &quorum, &registrations);
        let rows: Vec<Vec<&str>> = text
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert!(rows.contains(&vec!["LeaderId:", "2"]), "{text}");
        assert!(rows.contains(&vec!["MaxFollowerLag:", "3"]), "{text}");
        assert!(rows.contains(&vec!["CurrentVoters:", "[2,1,3]"]), "{text}");
        assert!(rows.contains(&vec!["2", "Leader", "100", "0"]), "{text}");
        assert!(rows.contains(&vec!["1", "Follower", "97", "3"]), "{text}");
        assert!(rows.contains(&vec!["3", "Follower", "-", "-"]), "{text}");
        assert!(rows.contains(&vec!["4", "Observer", "90", "10"]), "{text}");
        let broker_two = vec!["2", "h2:9092", "rack-b", "false", "17", "2", "h2:9192"];
        assert!(rows.contains(&broker_two), "{text}");
        assert!(
            rows.contains(&vec!["3", "[::1]:9093", "-", "true", "-", "-", "-"]),
            "{text}"
        );
    }

    #[test]
    fn an_unavailable_quorum_is_named() {
        let quorum = QuorumAnswer::Failed {
            error_code: ErrorCode::NotLeaderOrFollower,
        };
        let text = format_status(&cluster(), &quorum, &BTreeMap::new());
        assert!(
            text.contains("unavailable (NOT_LEADER_OR_FOLLOWER)"),
            "{text}"
        );
        assert!(text.contains("h1:9091"), "{text}");
    }
}
