//! Bootstrap: negotiate versions, find (or create) the topic, and learn each partition's leader
//! and the leaders' addresses.
//!
//! Owns the metadata exchange only; runs on the main thread before any load starts. Creation
//! is explicit (CreateTopics with `--partitions`) rather than Metadata's auto-create, so the
//! partition count is the one asked for, not the broker's default; a broker that does not offer
//! CreateTopics gets one Metadata request with `allow_auto_topic_creation` instead (the
//! broker's own partition count then applies, and a note says when it differs).
use crate::cli::Options;
use anyhow::{Context, bail};
use ringbroker::client::connection::{Connection, Versions};
use ringbroker::client::security::{ClientSecurity, SaslLogin, TlsFiles, tls_config};
use ringbroker::protocol::messages::create_topics::{
    CreatableTopic, CreateTopicsRequest, CreateTopicsResponse,
};
use ringbroker::protocol::messages::metadata::{
    MetadataRequest, MetadataRequestTopic, MetadataResponse, MetadataResponsePartition,
};
use ringbroker::protocol::{ErrorCode, StrBytes, Uuid};
use ringbroker::security::SecurityProtocol;
use ringbroker::security::sasl::SaslMechanism;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

/// Metadata polls while a new topic's leaders are elected (× [`METADATA_RETRY_DELAY`]).
const METADATA_ATTEMPTS_MAX: u32 = 100;
const METADATA_RETRY_DELAY: Duration = Duration::from_millis(100);
/// The last Fetch version that names topics (v13 replaced names with topic ids).
const FETCH_LAST_NAME_VERSION: i16 = 12;

/// One partition and the broker leading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionLeader {
    pub partition: i32,
    pub leader_id: i32,
}

/// What a workload needs to know about its topic.
#[derive(Debug, Clone)]
pub struct Topic {
    pub name: String,
    pub topic_id: Uuid,
    pub partitions: Vec<PartitionLeader>,
    /// `node_id` → `host:port`.
    pub brokers: HashMap<i32, String>,
    pub versions: Versions,
    /// How every connection of the run is secured (`--security-protocol`).
    pub security: ClientSecurity,
}

impl Topic {
    /// The address of broker `node_id`.
    ///
    /// # Errors
    /// When metadata named a leader it did not list (a broken broker).
    pub fn address(&self, node_id: i32) -> anyhow::Result<&str> {
        self.brokers
            .get(&node_id)
            .map(String::as_str)
            .with_context(|| format!("leader {node_id} is not among the brokers listed"))
    }
}

/// Connects to `options.bootstrap`, negotiates versions and describes `options.topic`, creating
/// it with `options.partitions` partitions when it does not exist and `create` is set. An
/// existing topic keeps its partition count (a note says so when it differs).
///
/// # Errors
/// Connection, protocol or topic errors, or leaders still missing after the retry budget.
pub fn discover(options: &Options, create: bool) -> anyhow::Result<Topic> {
    let (bootstrap, client_id, topic) = (&options.bootstrap, &options.client_id, &options.topic);
    let partitions = options.partitions;
    assert!(partitions >= 1, "partitions validated by the CLI");
    let security = security(options)?;
    let mut connection = Connection::connect_with(bootstrap, client_id, &security)?;
    let versions = connection.negotiate()?;
    let mut created = false;
    for _attempt in 0..METADATA_ATTEMPTS_MAX {
        let response = metadata(&mut connection, versions.metadata, topic, false)?;
        let brokers = response
            .brokers
            .iter()
            .map(|broker| (broker.node_id, format!("{}:{}", broker.host, broker.port)))
            .collect::<HashMap<_, _>>();
        let Some(found) = response.topics.first() else {
            bail!("metadata for {topic} came back without the topic");
        };
        match found.error_code {
            ErrorCode::None => {}
            ErrorCode::UnknownTopicOrPartition if create && !created => {
                if versions.create_topics.is_some() {
                    create_topic(&mut connection, versions, topic, partitions)?;
                } else {
                    println!(
                        "note: no CreateTopics offered; asking Metadata to auto-create {topic}"
                    );
                    metadata(&mut connection, versions.metadata, topic, true)?;
                }
                created = true;
                continue;
            }
            ErrorCode::UnknownTopicOrPartition | ErrorCode::LeaderNotAvailable => {
                std::thread::sleep(METADATA_RETRY_DELAY);
                continue;
            }
            other => bail!("metadata for {topic}: {}", other.name()),
        }
        let Some(leaders) = leaders_of(&found.partitions) else {
            std::thread::sleep(METADATA_RETRY_DELAY);
            continue;
        };
        if create && leaders.len() != usize::try_from(partitions).unwrap_or(0) {
            println!(
                "note: {topic} exists with {} partitions; --partitions {partitions} is ignored",
                leaders.len()
            );
        }
        // Fetch v13+ names topics by id only; a broker that reports no id gets names, as the
        // Java client does (it caps Fetch at v12 when a topic lacks an id).
        let versions = if found.topic_id.is_zero() {
            Versions {
                fetch: versions.fetch.min(FETCH_LAST_NAME_VERSION),
                ..versions
            }
        } else {
            versions
        };
        return Ok(Topic {
            name: topic.to_owned(),
            topic_id: found.topic_id,
            partitions: leaders,
            brokers,
            versions,
            security,
        });
    }
    bail!("{topic} has no leader for every partition after {METADATA_ATTEMPTS_MAX} attempts")
}

/// The TLS configuration and SASL login the flags ask for (both validated by the CLI; the
/// files are read by the client module the admin CLI uses too).
///
/// # Errors
/// An unreadable or malformed `--ssl-ca`, `--ssl-cert` or `--ssl-key` file.
pub fn security(options: &Options) -> anyhow::Result<ClientSecurity> {
    let protocol = SecurityProtocol::parse(options.security_protocol)
        .with_context(|| format!("unknown security protocol {}", options.security_protocol))?;
    let files = TlsFiles {
        ca: options.ssl_ca.as_ref().map(PathBuf::from),
        certificate: options.ssl_cert.as_ref().map(PathBuf::from),
        key: options.ssl_key.as_ref().map(PathBuf::from),
    };
    let tls = tls_config(protocol, &files).context("--ssl-ca, --ssl-cert, --ssl-key")?;
    let sasl = match &options.sasl {
        Some((mechanism, user, password)) => Some(SaslLogin {
            mechanism: SaslMechanism::parse(mechanism)
                .with_context(|| format!("unknown SASL mechanism {mechanism}"))?,
            user: user.clone(),
            password: password.clone().into(),
        }),
        None => None,
    };
    // The CLI checked that TLS comes with --ssl-ca and SASL with a login.
    Ok(ClientSecurity::new(protocol, tls, sasl))
}

/// Each partition's leader, by partition; `None` while some partition has no leader yet.
fn leaders_of(partitions: &[MetadataResponsePartition]) -> Option<Vec<PartitionLeader>> {
    let mut leaders: Vec<PartitionLeader> = partitions
        .iter()
        .map(|partition| PartitionLeader {
            partition: partition.partition_index,
            leader_id: partition.leader_id,
        })
        .collect();
    if leaders.is_empty() || leaders.iter().any(|leader| leader.leader_id < 0) {
        return None;
    }
    leaders.sort_by_key(|leader| leader.partition);
    Some(leaders)
}

fn metadata(
    connection: &mut Connection,
    version: i16,
    topic: &str,
    auto_create: bool,
) -> anyhow::Result<MetadataResponse> {
    let request = MetadataRequest {
        topics: Some(vec![MetadataRequestTopic {
            name: Some(StrBytes::from(topic)),
            ..Default::default()
        }]),
        allow_auto_topic_creation: auto_create,
        ..Default::default()
    };
    Ok(connection.call(version, &request)?)
}

fn create_topic(
    connection: &mut Connection,
    versions: Versions,
    topic: &str,
    partitions: i32,
) -> anyhow::Result<()> {
    let version = versions
        .create_topics
        .context("the topic does not exist and the broker does not offer CreateTopics")?;
    let request = CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: StrBytes::from(topic),
            num_partitions: partitions,
            // -1 asks for the broker's default (v4+, KIP-464); older versions need a number.
            replication_factor: if version >= 4 { -1 } else { 1 },
            ..Default::default()
        }],
        timeout_ms: 30_000,
        validate_only: false,
    };
    let response: CreateTopicsResponse = connection.call(version, &request)?;
    for result in &response.topics {
        match result.error_code {
            ErrorCode::None | ErrorCode::TopicAlreadyExists => {}
            other => bail!(
                "creating {topic}: {} {}",
                other.name(),
                result.error_message.as_deref().unwrap_or("")
            ),
        }
    }
    Ok(())
}
