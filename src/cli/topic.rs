//! `ringbroker topic …`: topic administration over the Kafka protocol, as `kafka-topics.sh`
//! and `kafka-configs.sh --entity-type topics` do it.
//!
//! ```text
//! list            Metadata(all topics)                          → TOPIC PARTITIONS REPLICATION
//! describe        Metadata + ListOffsets(earliest, latest) + DescribeLogDirs per leader
//!                 + DescribeConfigs
//! create          CreateTopics
//! delete          DeleteTopics
//! add-partitions  CreatePartitions (the new total, as kafka-topics --alter --partitions)
//! config          DescribeConfigs, or IncrementalAlterConfigs for --set / --delete
//! ```
//!
//! Formatting is split from the exchanges (the `format_*` functions are pure) so the tables
//! are unit-tested without a broker. Every exchange is one blocking call with the client's
//! socket timeout; per-topic errors are reported and make the exit code 1, as kafka-topics.sh.
//! The SIZE column is the leader's log size on disk in bytes (DescribeLogDirs), "-" when the
//! broker does not offer that API or did not list the partition.
//!
//! Runs on the main thread of the admin process.
use super::args::{self, Parsed, Spec};
use super::table::Table;
use super::{BOOTSTRAP_DEFAULT, CliError, Outcome};
use crate::client::connection::{Connection, Negotiated};
use crate::protocol::messages::create_partitions::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreatePartitionsTopic,
};
use crate::protocol::messages::create_topics::{
    CreatableTopic, CreatableTopicConfig, CreateTopicsRequest, CreateTopicsResponse,
};
use crate::protocol::messages::delete_topics::{
    DeleteTopicState, DeleteTopicsRequest, DeleteTopicsResponse,
};
use crate::protocol::messages::describe_configs::{
    DescribeConfigsRequest, DescribeConfigsResource, DescribeConfigsResourceResult,
    DescribeConfigsResponse, DescribeConfigsResult,
};
use crate::protocol::messages::describe_log_dirs::{
    DescribableLogDirTopic, DescribeLogDirsRequest, DescribeLogDirsResponse,
};
use crate::protocol::messages::incremental_alter_configs::{
    AlterConfigsResource, AlterableConfig, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
};
use crate::protocol::messages::list_offsets::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsResponse, ListOffsetsTopic,
};
use crate::protocol::messages::metadata::{
    MetadataRequest, MetadataRequestTopic, MetadataResponse, MetadataResponseTopic,
};
use crate::protocol::{ApiKey, ErrorCode, StrBytes, Uuid};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;

/// Client id the admin commands announce (brokers log it).
pub const CLIENT_ID: &str = "ringbroker-admin";
/// How long the broker may take to create, delete or grow topics (Kafka's admin default).
pub const ADMIN_TIMEOUT_MS: i32 = 30_000;
/// Kafka's DescribeConfigs / IncrementalAlterConfigs resource type of a topic.
pub const RESOURCE_TYPE_TOPIC: i8 = 2;
/// ListOffsets timestamps: the log start offset and the end (high watermark) offset.
pub const EARLIEST_TIMESTAMP: i64 = -2;
pub const LATEST_TIMESTAMP: i64 = -1;
/// IncrementalAlterConfigs operations (Kafka's `AlterConfigOp.OpType`).
pub const CONFIG_OPERATION_SET: i8 = 0;
pub const CONFIG_OPERATION_DELETE: i8 = 1;
/// DescribeConfigs `config_source` of a config set on the topic itself.
pub const CONFIG_SOURCE_DYNAMIC_TOPIC: i8 = 1;
/// Leaders a describe connects to, besides the bootstrap broker (one per broker at most).
pub const LEADER_CONNECTIONS_MAX: usize = 64;

/// Every command's flags start with these two spellings of the bootstrap address.
const BOOTSTRAP: &[&str] = &["--bootstrap", "--bootstrap-server"];
const CREATE_FLAGS: &[&str] = &[
    "--bootstrap",
    "--bootstrap-server",
    "--partitions",
    "--replication-factor",
    "--config",
];
const ADD_PARTITIONS_FLAGS: &[&str] = &["--bootstrap", "--bootstrap-server", "--partitions"];
const CONFIG_FLAGS: &[&str] = &["--bootstrap", "--bootstrap-server", "--set", "--delete"];

/// Runs `ringbroker topic ACTION ARGS…`.
///
/// # Errors
/// Bad arguments, connection or protocol errors. Per-topic errors are printed to `out` and
/// give [`Outcome::Problems`].
pub fn run(action: &str, args: &[String], out: &mut dyn Write) -> Result<Outcome, CliError> {
    match action {
        "list" => list(&parse(args, BOOTSTRAP, 0..=0)?, out),
        "describe" => describe(&parse(args, BOOTSTRAP, 0..=usize::MAX)?, out),
        "create" => create(&parse(args, CREATE_FLAGS, 1..=1)?, out),
        "delete" => delete(&parse(args, BOOTSTRAP, 1..=usize::MAX)?, out),
        "add-partitions" => add_partitions(&parse(args, ADD_PARTITIONS_FLAGS, 1..=1)?, out),
        "config" => config(&parse(args, CONFIG_FLAGS, 1..=1)?, out),
        other => Err(CliError::UnknownCommand {
            words: format!("topic {other}"),
        }),
    }
}

/// Parses `args` against `values` (flags with a value) and checks the topic-name count.
fn parse(
    args: &[String],
    values: &'static [&'static str],
    positional: std::ops::RangeInclusive<usize>,
) -> Result<Parsed, CliError> {
    assert!(
        values.starts_with(BOOTSTRAP),
        "every command takes --bootstrap"
    );
    let parsed = args::parse(
        args,
        Spec {
            values,
            switches: &[],
        },
    )?;
    if !positional.contains(&parsed.positional.len()) {
        return Err(CliError::Usage(
            "wrong number of topic names (see ringbroker topic --help)",
        ));
    }
    Ok(parsed)
}

/// A connection to the bootstrap broker with its negotiated versions.
struct Admin {
    connection: Connection,
    versions: Negotiated,
    bootstrap: String,
}

impl Admin {
    fn connect(parsed: &Parsed) -> Result<Self, CliError> {
        let bootstrap = BOOTSTRAP
            .iter()
            .find_map(|flag| parsed.value(flag))
            .unwrap_or(BOOTSTRAP_DEFAULT)
            .to_owned();
        let mut connection = Connection::connect(&bootstrap, CLIENT_ID)?;
        let versions = connection.api_versions(CLIENT_ID)?;
        Ok(Self {
            connection,
            versions,
            bootstrap,
        })
    }

    /// Metadata for `topics` (every topic when `None`), never auto-creating.
    fn metadata(&mut self, topics: Option<&[String]>) -> Result<MetadataResponse, CliError> {
        let version = self.versions.need(ApiKey::Metadata)?;
        let topics = match topics {
            Some(names) => Some(
                names
                    .iter()
                    .map(|name| MetadataRequestTopic {
                        name: Some(StrBytes::from(name.as_str())),
                        ..Default::default()
                    })
                    .collect(),
            ),
            // v0 has no null array: an empty one means every topic there.
            None if version == 0 => Some(Vec::new()),
            None => None,
        };
        let request = MetadataRequest {
            topics,
            allow_auto_topic_creation: false,
            ..Default::default()
        };
        Ok(self.connection.call(version, &request)?)
    }

    /// Every config of each topic, or `None` when the broker does not offer DescribeConfigs.
    fn describe_configs(
        &mut self,
        topics: &[&str],
    ) -> Result<Option<DescribeConfigsResponse>, CliError> {
        let Some(version) = self.versions.get(ApiKey::DescribeConfigs) else {
            return Ok(None);
        };
        let request = DescribeConfigsRequest {
            resources: topics
                .iter()
                .map(|name| DescribeConfigsResource {
                    resource_type: RESOURCE_TYPE_TOPIC,
                    resource_name: StrBytes::from(*name),
                    configuration_keys: None,
                })
                .collect(),
            include_synonyms: false,
            include_documentation: false,
        };
        Ok(Some(self.connection.call(version, &request)?))
    }
}

fn list(parsed: &Parsed, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let mut admin = Admin::connect(parsed)?;
    let metadata = admin.metadata(None)?;
    out.write_all(format_list(&metadata).as_bytes())?;
    Ok(Outcome::Success)
}

/// `TOPIC PARTITIONS REPLICATION-FACTOR`, sorted by name; internal topics included.
#[must_use]
pub fn format_list(metadata: &MetadataResponse) -> String {
    let mut table = Table::new(&["TOPIC", "PARTITIONS", "REPLICATION-FACTOR"]);
    for topic in sorted_topics(metadata) {
        table.push(vec![
            topic_name(topic).to_owned(),
            topic.partitions.len().to_string(),
            replication_factor(topic).to_string(),
        ]);
    }
    table.render()
}

fn sorted_topics(metadata: &MetadataResponse) -> Vec<&MetadataResponseTopic> {
    let mut topics: Vec<_> = metadata.topics.iter().collect();
    topics.sort_by(|a, b| topic_name(a).cmp(topic_name(b)));
    topics
}

fn topic_name(topic: &MetadataResponseTopic) -> &str {
    topic.name.as_deref().unwrap_or("")
}

/// The replica count of partition 0 (what kafka-topics.sh prints as ReplicationFactor).
fn replication_factor(topic: &MetadataResponseTopic) -> usize {
    topic
        .partitions
        .iter()
        .min_by_key(|partition| partition.partition_index)
        .map_or(0, |partition| partition.replica_nodes.len())
}

/// Log start and end offset of one partition, or the error the leader gave, and its size on
/// the leader's disk when known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offsets {
    pub log_start: Result<i64, ErrorCode>,
    pub end: Result<i64, ErrorCode>,
    pub size: Option<i64>,
}

/// (topic, partition) → offsets.
pub type OffsetTable = HashMap<(String, i32), Offsets>;
/// (topic, partition) → one ListOffsets answer.
type PartitionOffsets = HashMap<(String, i32), Result<i64, ErrorCode>>;

fn describe(parsed: &Parsed, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let mut admin = Admin::connect(parsed)?;
    let names = (!parsed.positional.is_empty()).then_some(parsed.positional.as_slice());
    let metadata = admin.metadata(names)?;
    let mut outcome = Outcome::Success;
    let mut found = Vec::new();
    for topic in sorted_topics(&metadata) {
        if topic.error_code == ErrorCode::None {
            found.push(topic);
        } else {
            outcome = Outcome::Problems;
            let error = topic_error(topic_name(topic), topic.error_code, None);
            writeln!(out, "Error: {error}")?;
        }
    }
    let offsets = leader_offsets(&mut admin, &metadata, &found)?;
    let names: Vec<&str> = found.iter().map(|topic| topic_name(topic)).collect();
    let configs = admin.describe_configs(&names)?;
    for topic in found {
        let topic_configs = configs.as_ref().and_then(|response| {
            response
                .results
                .iter()
                .find(|result| result.resource_name.as_str() == topic_name(topic))
        });
        out.write_all(format_describe(topic, topic_configs, &offsets).as_bytes())?;
    }
    Ok(outcome)
}

fn topic_error(topic: &str, error_code: ErrorCode, message: Option<&StrBytes>) -> CliError {
    CliError::Kafka {
        what: format!("topic {topic}"),
        error_code,
        message: message.map(ToString::to_string),
    }
}

/// Asks each partition's leader for its log start and end offsets (ListOffsets is answered
/// by leaders only), reusing the bootstrap connection for the broker it reached.
fn leader_offsets(
    admin: &mut Admin,
    metadata: &MetadataResponse,
    topics: &[&MetadataResponseTopic],
) -> Result<OffsetTable, CliError> {
    let version = admin.versions.need(ApiKey::ListOffsets)?;
    // Assumed the same on every broker, as the ListOffsets version is.
    let log_dirs_version = admin.versions.get(ApiKey::DescribeLogDirs);
    let mut by_leader: BTreeMap<i32, Vec<(&str, i32)>> = BTreeMap::new();
    for topic in topics {
        for partition in &topic.partitions {
            by_leader
                .entry(partition.leader_id)
                .or_default()
                .push((topic_name(topic), partition.partition_index));
        }
    }
    let mut table = OffsetTable::new();
    for (leader, partitions) in by_leader.iter().take(LEADER_CONNECTIONS_MAX) {
        let address = metadata
            .brokers
            .iter()
            .find(|broker| broker.node_id == *leader)
            .map(|broker| format!("{}:{}", broker.host, broker.port));
        let Some(address) = address else {
            // No live leader: every offset of these partitions shows the leader's absence.
            for (topic, partition) in partitions {
                let missing = Err(ErrorCode::LeaderNotAvailable);
                let offsets = Offsets {
                    log_start: missing,
                    end: missing,
                    size: None,
                };
                table.insert(((*topic).to_owned(), *partition), offsets);
            }
            continue;
        };
        let mut other;
        let connection = if metadata.brokers.len() == 1 || address == admin.bootstrap {
            &mut admin.connection
        } else {
            other = Connection::connect(&address, CLIENT_ID)?;
            &mut other
        };
        let earliest = list_offsets(connection, version, partitions, EARLIEST_TIMESTAMP)?;
        let latest = list_offsets(connection, version, partitions, LATEST_TIMESTAMP)?;
        let sizes = match log_dirs_version {
            Some(version) => log_dir_sizes(connection, version, partitions)?,
            None => HashMap::new(),
        };
        for (key, log_start) in earliest {
            let end = latest
                .get(&key)
                .copied()
                .unwrap_or(Err(ErrorCode::UnknownTopicOrPartition));
            let size = sizes.get(&key).copied();
            table.insert(
                key,
                Offsets {
                    log_start,
                    end,
                    size,
                },
            );
        }
    }
    Ok(table)
}

fn list_offsets(
    connection: &mut Connection,
    version: i16,
    partitions: &[(&str, i32)],
    timestamp: i64,
) -> Result<PartitionOffsets, CliError> {
    let mut topics: BTreeMap<&str, Vec<ListOffsetsPartition>> = BTreeMap::new();
    for (topic, partition) in partitions {
        topics.entry(topic).or_default().push(ListOffsetsPartition {
            partition_index: *partition,
            timestamp,
            ..Default::default()
        });
    }
    let request = ListOffsetsRequest {
        replica_id: -1,
        isolation_level: 0,
        topics: topics
            .into_iter()
            .map(|(name, partitions)| ListOffsetsTopic {
                name: StrBytes::from(name),
                partitions,
            })
            .collect(),
        timeout_ms: ADMIN_TIMEOUT_MS,
    };
    let response: ListOffsetsResponse = connection.call(version, &request)?;
    let mut offsets = HashMap::new();
    for topic in &response.topics {
        for partition in &topic.partitions {
            let value = if partition.error_code == ErrorCode::None {
                Ok(partition.offset)
            } else {
                Err(partition.error_code)
            };
            offsets.insert((topic.name.to_string(), partition.partition_index), value);
        }
    }
    Ok(offsets)
}

/// (topic, partition) → bytes on the broker's disk, summed over its log dirs (a partition has
/// one current log; a future log during a dir move is left out).
fn log_dir_sizes(
    connection: &mut Connection,
    version: i16,
    partitions: &[(&str, i32)],
) -> Result<HashMap<(String, i32), i64>, CliError> {
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, partition) in partitions {
        topics.entry(topic).or_default().push(*partition);
    }
    let request = DescribeLogDirsRequest {
        topics: Some(
            topics
                .into_iter()
                .map(|(name, partitions)| DescribableLogDirTopic {
                    topic: StrBytes::from(name),
                    partitions,
                })
                .collect(),
        ),
    };
    let response: DescribeLogDirsResponse = connection.call(version, &request)?;
    let mut sizes = HashMap::new();
    let dirs = response.results.iter();
    for dir in dirs.filter(|dir| dir.error_code == ErrorCode::None) {
        for topic in &dir.topics {
            for partition in topic.partitions.iter().filter(|p| !p.is_future_key) {
                let key = (topic.name.to_string(), partition.partition_index);
                *sizes.entry(key).or_insert(0) += partition.partition_size;
            }
        }
    }
    Ok(sizes)
}

/// One topic as `kafka-topics.sh --describe` shows it: a summary line, its non-default
/// configs, then a table of partitions with leader, replicas, ISR and offsets.
#[must_use]
pub fn format_describe(
    topic: &MetadataResponseTopic,
    configs: Option<&DescribeConfigsResult>,
    offsets: &OffsetTable,
) -> String {
    let name = topic_name(topic);
    let configs = match configs {
        None => "(DescribeConfigs not offered by the broker)".to_owned(),
        Some(result) if result.error_code != ErrorCode::None => {
            format!("(error {})", result.error_code.name())
        }
        Some(result) => result
            .configs
            .iter()
            .filter(|config| config.config_source == CONFIG_SOURCE_DYNAMIC_TOPIC)
            .map(|config| format!("{}={}", config.name, config_value(config)))
            .collect::<Vec<_>>()
            .join(","),
    };
    let mut text = format!(
        "Topic: {name}  TopicId: {}  PartitionCount: {}  ReplicationFactor: {}\n\
         Configs: {configs}\n",
        topic_id_text(topic.topic_id),
        topic.partitions.len(),
        replication_factor(topic),
    );
    let mut table = Table::new(&[
        "PARTITION",
        "LEADER",
        "REPLICAS",
        "ISR",
        "LOG-START-OFFSET",
        "END-OFFSET",
        "SIZE",
    ]);
    let mut partitions: Vec<_> = topic.partitions.iter().collect();
    partitions.sort_by_key(|partition| partition.partition_index);
    for partition in partitions {
        let found = offsets.get(&(name.to_owned(), partition.partition_index));
        let offset_text = |value: Option<Result<i64, ErrorCode>>| match value {
            Some(Ok(offset)) => offset.to_string(),
            Some(Err(error)) => error.name().to_owned(),
            None => "-".to_owned(),
        };
        table.push(vec![
            partition.partition_index.to_string(),
            partition.leader_id.to_string(),
            join_ids(&partition.replica_nodes),
            join_ids(&partition.isr_nodes),
            offset_text(found.map(|offsets| offsets.log_start)),
            offset_text(found.map(|offsets| offsets.end)),
            found
                .and_then(|offsets| offsets.size)
                .map_or_else(|| "-".to_owned(), |size| size.to_string()),
        ]);
    }
    text.push_str(&table.render());
    text.push('\n');
    text
}

fn join_ids(ids: &[i32]) -> String {
    let texts: Vec<String> = ids.iter().map(ToString::to_string).collect();
    texts.join(",")
}

fn config_value(config: &DescribeConfigsResourceResult) -> String {
    if config.is_sensitive {
        return "(sensitive)".to_owned();
    }
    config
        .value
        .as_ref()
        .map_or_else(|| "(null)".to_owned(), ToString::to_string)
}

/// A topic id as Kafka prints it: URL-safe base64 without padding (22 characters).
///
/// # Panics
/// Never: 16 bytes always make 22 characters (asserted).
#[must_use]
pub fn topic_id_text(id: Uuid) -> String {
    let mut text = String::with_capacity(22);
    let mut bits: u32 = 0;
    let mut bit_count = 0;
    for byte in id.0 {
        bits = (bits << 8) | u32::from(byte);
        bit_count += 8;
        while bit_count >= 6 {
            bit_count -= 6;
            text.push(base64_digit(bits >> bit_count));
        }
    }
    if bit_count > 0 {
        text.push(base64_digit(bits << (6 - bit_count)));
    }
    assert_eq!(text.len(), 22, "16 bytes are 22 base64 characters");
    text
}

/// The URL-safe base64 digit of the low six bits of `bits`.
fn base64_digit(bits: u32) -> char {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    // The mask keeps the index below 64, so `get` always finds a digit.
    let index = usize::try_from(bits & 63).unwrap_or(0);
    char::from(ALPHABET.get(index).copied().unwrap_or(b'A'))
}

fn create(parsed: &Parsed, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let name = parsed
        .positional
        .first()
        .ok_or(CliError::Usage("topic name"))?;
    // -1 asks for the broker's defaults (CreateTopics v4+, KIP-464).
    let partitions = parsed.number::<i32>("--partitions")?.unwrap_or(-1);
    let replication_factor = parsed.number::<i16>("--replication-factor")?.unwrap_or(-1);
    let configs = parsed
        .values("--config")
        .map(|pair| {
            let (key, value) = split_pair("--config", pair)?;
            Ok(CreatableTopicConfig {
                name: StrBytes::from(key),
                value: Some(StrBytes::from(value)),
            })
        })
        .collect::<Result<Vec<_>, CliError>>()?;
    let mut admin = Admin::connect(parsed)?;
    let version = admin.versions.need(ApiKey::CreateTopics)?;
    if version < 4 && (partitions < 0 || replication_factor < 0) {
        return Err(CliError::Usage(
            "this broker's CreateTopics needs --partitions and --replication-factor",
        ));
    }
    let request = CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: StrBytes::from(name.as_str()),
            num_partitions: partitions,
            replication_factor,
            assignments: Vec::new(),
            configs,
        }],
        timeout_ms: ADMIN_TIMEOUT_MS,
        validate_only: false,
    };
    let response: CreateTopicsResponse = admin.connection.call(version, &request)?;
    let results = response.topics.iter().map(|result| {
        let error = result.error_message.as_ref();
        (result.name.to_string(), result.error_code, error.cloned())
    });
    report(out, "Created topic", results)
}

fn split_pair<'a>(flag: &'static str, pair: &'a str) -> Result<(&'a str, &'a str), CliError> {
    pair.split_once('=')
        .filter(|(key, _)| !key.is_empty())
        .ok_or_else(|| CliError::BadValue {
            flag,
            value: pair.to_owned(),
            expected: "KEY=VALUE",
        })
}

/// Prints `"{done} {name}."` per success and `Error: …` per failure.
fn report(
    out: &mut dyn Write,
    done: &str,
    results: impl Iterator<Item = (String, ErrorCode, Option<StrBytes>)>,
) -> Result<Outcome, CliError> {
    let mut outcome = Outcome::Success;
    let mut count = 0usize;
    for (name, error_code, message) in results {
        count += 1;
        if error_code == ErrorCode::None {
            writeln!(out, "{done} {name}.")?;
        } else {
            outcome = Outcome::Problems;
            writeln!(
                out,
                "Error: {}",
                topic_error(&name, error_code, message.as_ref())
            )?;
        }
    }
    if count == 0 {
        writeln!(out, "Error: the broker answered without any topic result")?;
        outcome = Outcome::Problems;
    }
    Ok(outcome)
}

fn delete(parsed: &Parsed, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let mut admin = Admin::connect(parsed)?;
    let version = admin.versions.need(ApiKey::DeleteTopics)?;
    let names = &parsed.positional;
    let request = DeleteTopicsRequest {
        topics: names
            .iter()
            .map(|name| DeleteTopicState {
                name: Some(StrBytes::from(name.as_str())),
                topic_id: Uuid::ZERO,
            })
            .collect(),
        topic_names: names
            .iter()
            .map(|name| StrBytes::from(name.as_str()))
            .collect(),
        timeout_ms: ADMIN_TIMEOUT_MS,
    };
    let response: DeleteTopicsResponse = admin.connection.call(version, &request)?;
    let results = response.responses.iter().map(|result| {
        let name = result.name.as_ref().map_or_else(
            || format!("(id {})", topic_id_text(result.topic_id)),
            ToString::to_string,
        );
        (name, result.error_code, result.error_message.clone())
    });
    report(out, "Deleted topic", results)
}

fn add_partitions(parsed: &Parsed, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let name = parsed
        .positional
        .first()
        .ok_or(CliError::Usage("topic name"))?;
    let count = parsed
        .number::<i32>("--partitions")?
        .ok_or(CliError::Usage("add-partitions needs --partitions TOTAL"))?;
    let mut admin = Admin::connect(parsed)?;
    let version = admin.versions.need(ApiKey::CreatePartitions)?;
    let request = CreatePartitionsRequest {
        topics: vec![CreatePartitionsTopic {
            name: StrBytes::from(name.as_str()),
            count,
            assignments: None,
        }],
        timeout_ms: ADMIN_TIMEOUT_MS,
        validate_only: false,
    };
    let response: CreatePartitionsResponse = admin.connection.call(version, &request)?;
    let results = response.results.iter().map(|result| {
        let message = result.error_message.clone();
        (result.name.to_string(), result.error_code, message)
    });
    report(out, &format!("{count} partitions now in topic"), results)
}

fn config(parsed: &Parsed, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let name = parsed
        .positional
        .first()
        .ok_or(CliError::Usage("topic name"))?;
    let mut changes = Vec::new();
    for pair in parsed.values("--set") {
        let (key, value) = split_pair("--set", pair)?;
        changes.push(AlterableConfig {
            name: StrBytes::from(key),
            config_operation: CONFIG_OPERATION_SET,
            value: Some(StrBytes::from(value)),
        });
    }
    for key in parsed.values("--delete") {
        changes.push(AlterableConfig {
            name: StrBytes::from(key),
            config_operation: CONFIG_OPERATION_DELETE,
            value: None,
        });
    }
    let mut admin = Admin::connect(parsed)?;
    if !changes.is_empty() {
        let version = admin.versions.need(ApiKey::IncrementalAlterConfigs)?;
        let request = IncrementalAlterConfigsRequest {
            resources: vec![AlterConfigsResource {
                resource_type: RESOURCE_TYPE_TOPIC,
                resource_name: StrBytes::from(name.as_str()),
                configs: changes,
            }],
            validate_only: false,
        };
        let response: IncrementalAlterConfigsResponse = admin.connection.call(version, &request)?;
        let results = response.responses.iter().map(|result| {
            let message = result.error_message.clone();
            (result.resource_name.to_string(), result.error_code, message)
        });
        if report(out, "Updated configs of topic", results)? == Outcome::Problems {
            return Ok(Outcome::Problems);
        }
    }
    admin.versions.need(ApiKey::DescribeConfigs)?;
    let response = admin.describe_configs(&[name.as_str()])?;
    let result = response
        .as_ref()
        .and_then(|response| response.results.first());
    match result {
        Some(result) if result.error_code == ErrorCode::None => {
            out.write_all(format_configs(result).as_bytes())?;
            Ok(Outcome::Success)
        }
        Some(result) => {
            let message = result.error_message.as_ref();
            let error = topic_error(name, result.error_code, message);
            writeln!(out, "Error: {error}")?;
            Ok(Outcome::Problems)
        }
        None => {
            writeln!(
                out,
                "Error: the broker answered without the topic's configs"
            )?;
            Ok(Outcome::Problems)
        }
    }
}

/// `NAME VALUE SOURCE READ-ONLY`, sorted by name.
#[must_use]
pub fn format_configs(result: &DescribeConfigsResult) -> String {
    let mut configs: Vec<_> = result.configs.iter().collect();
    configs.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
    let mut table = Table::new(&["NAME", "VALUE", "SOURCE", "READ-ONLY"]);
    for config in configs {
        table.push(vec![
            config.name.to_string(),
            config_value(config),
            config_source_name(config.config_source).to_owned(),
            config.read_only.to_string(),
        ]);
    }
    table.render()
}

/// Kafka's `ConfigSource` names (DescribeConfigsResponse.json).
#[must_use]
pub fn config_source_name(source: i8) -> &'static str {
    match source {
        1 => "DYNAMIC_TOPIC_CONFIG",
        2 => "DYNAMIC_BROKER_CONFIG",
        3 => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        4 => "STATIC_BROKER_CONFIG",
        5 => "DEFAULT_CONFIG",
        6 => "DYNAMIC_BROKER_LOGGER_CONFIG",
        7 => "CLIENT_METRICS_CONFIG",
        8 => "GROUP_CONFIG",
        _ => "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::metadata::MetadataResponsePartition;

    fn topic(name: &str, partitions: i32) -> MetadataResponseTopic {
        MetadataResponseTopic {
            name: Some(StrBytes::from(name)),
            topic_id: Uuid([7; 16]),
            partitions: (0..partitions)
                .rev()
                .map(|index| MetadataResponsePartition {
                    partition_index: index,
                    leader_id: 1,
                    replica_nodes: vec![1, 2],
                    isr_nodes: vec![1],
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn list_is_sorted_and_aligned() {
        let metadata = MetadataResponse {
            topics: vec![topic("orders", 3), topic("audit", 1)],
            ..Default::default()
        };
        assert_eq!(
            format_list(&metadata),
            "TOPIC   PARTITIONS  REPLICATION-FACTOR\n\
             audit   1           2\n\
             orders  3           2\n"
        );
    }

    #[test]
    fn describe_shows_partitions_offsets_and_topic_configs_only() {
        let mut offsets = OffsetTable::new();
        let found = Offsets {
            log_start: Ok(5),
            end: Ok(42),
            size: Some(1234),
        };
        offsets.insert(("orders".to_owned(), 0), found);
        let failed = Offsets {
            log_start: Err(ErrorCode::NotLeaderOrFollower),
            end: Ok(7),
            size: None,
        };
        offsets.insert(("orders".to_owned(), 1), failed);
        let config = |name: &str, value: &str, source: i8| DescribeConfigsResourceResult {
            name: StrBytes::from(name),
            value: Some(StrBytes::from(value)),
            config_source: source,
            ..Default::default()
        };
        let configs = DescribeConfigsResult {
            resource_name: StrBytes::from("orders"),
            configs: vec![
                config("retention.ms", "1000", CONFIG_SOURCE_DYNAMIC_TOPIC),
                config("segment.bytes", "1073741824", 5),
            ],
            ..Default::default()
        };
        let text = format_describe(&topic("orders", 3), Some(&configs), &offsets);
        assert_eq!(
            text,
            "Topic: orders  TopicId: BwcHBwcHBwcHBwcHBwcHBw  PartitionCount: 3  \
             ReplicationFactor: 2\n\
             Configs: retention.ms=1000\n\
             PARTITION  LEADER  REPLICAS  ISR  LOG-START-OFFSET        END-OFFSET  SIZE\n\
             0          1       1,2       1    5                       42          1234\n\
             1          1       1,2       1    NOT_LEADER_OR_FOLLOWER  7           -\n\
             2          1       1,2       1    -                       -           -\n\n"
        );
    }

    #[test]
    fn topic_ids_print_as_kafka_base64() {
        // Kafka's Uuid.toString of 0x00..01 is AAAAAAAAAAAAAAAAAAAAAQ.
        let mut bytes = [0u8; 16];
        bytes[15] = 1;
        assert_eq!(topic_id_text(Uuid(bytes)), "AAAAAAAAAAAAAAAAAAAAAQ");
        assert_eq!(topic_id_text(Uuid([0xff; 16])), "_____________________w");
    }

    #[test]
    fn configs_table_names_sources() {
        let result = DescribeConfigsResult {
            configs: vec![
                DescribeConfigsResourceResult {
                    name: StrBytes::from("segment.bytes"),
                    value: Some(StrBytes::from("1024")),
                    config_source: 5,
                    read_only: false,
                    ..Default::default()
                },
                DescribeConfigsResourceResult {
                    name: StrBytes::from("password"),
                    value: None,
                    is_sensitive: true,
                    config_source: 1,
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        assert_eq!(
            format_configs(&result),
            "NAME           VALUE        SOURCE                READ-ONLY\n\
             password       (sensitive)  DYNAMIC_TOPIC_CONFIG  false\n\
             segment.bytes  1024         DEFAULT_CONFIG        false\n"
        );
    }

    #[test]
    fn arguments_are_checked_before_connecting() {
        let mut out = Vec::new();
        let words =
            |text: &str| -> Vec<String> { text.split_whitespace().map(str::to_owned).collect() };
        assert!(matches!(
            run("create", &words("a b"), &mut out),
            Err(CliError::Usage(_))
        ));
        assert!(matches!(
            run("config", &words("t --set novalue"), &mut out),
            Err(CliError::BadValue { flag: "--set", .. })
        ));
        assert!(matches!(
            run("frobnicate", &[], &mut out),
            Err(CliError::UnknownCommand { .. })
        ));
        assert!(out.is_empty());
    }
}
