//! The exchanges of `ringbroker topic` with brokers: a connection to the bootstrap broker with
//! its negotiated versions ([`Admin`]), Metadata and DescribeConfigs calls, and the per-leader
//! ListOffsets and DescribeLogDirs calls behind `describe`'s offsets and sizes. It prints
//! nothing (`commands.rs`, `format.rs`). Runs on the main thread of the admin process; every
//! call blocks with the client's socket timeout.
use super::super::args::Parsed;
use super::super::{Brokers, CliError};
use super::format::{OffsetTable, Offsets, topic_name};
use super::{
    ADMIN_TIMEOUT_MS, CLIENT_ID, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, LEADER_CONNECTIONS_MAX,
    RESOURCE_TYPE_TOPIC,
};
use crate::client::connection::{Connection, Negotiated};
use crate::protocol::messages::describe_configs::{
    DescribeConfigsRequest, DescribeConfigsResource, DescribeConfigsResponse,
};
use crate::protocol::messages::describe_log_dirs::{
    DescribableLogDirTopic, DescribeLogDirsRequest, DescribeLogDirsResponse,
};
use crate::protocol::messages::list_offsets::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsResponse, ListOffsetsTopic,
};
use crate::protocol::messages::metadata::{
    MetadataRequest, MetadataRequestTopic, MetadataResponse, MetadataResponseTopic,
};
use crate::protocol::{ApiKey, ErrorCode, StrBytes};
use std::collections::{BTreeMap, HashMap};

/// (topic, partition) → one ListOffsets answer.
type PartitionOffsets = HashMap<(String, i32), Result<i64, ErrorCode>>;

/// A connection to the bootstrap broker with its negotiated versions.
pub(super) struct Admin {
    pub(super) connection: Connection,
    pub(super) versions: Negotiated,
    brokers: Brokers,
}

impl Admin {
    pub(super) fn connect(parsed: &Parsed) -> Result<Self, CliError> {
        let brokers = Brokers::from_flags(parsed)?;
        let (connection, versions) = brokers.connect_bootstrap()?;
        Ok(Self {
            connection,
            versions,
            brokers,
        })
    }

    /// Metadata for `topics` (every topic when `None`), never auto-creating.
    pub(super) fn metadata(
        &mut self,
        topics: Option<&[String]>,
    ) -> Result<MetadataResponse, CliError> {
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
    pub(super) fn describe_configs(
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

/// Asks each partition's leader for its log start and end offsets (ListOffsets is answered
/// by leaders only), reusing the bootstrap connection for the broker it reached.
pub(super) fn leader_offsets(
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
        let connection = if metadata.brokers.len() == 1 || address == admin.brokers.bootstrap {
            &mut admin.connection
        } else {
            other = admin.brokers.connect_only(&address, CLIENT_ID)?;
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
