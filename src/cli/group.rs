//! `ringbroker group list|describe`: consumer groups over the Kafka protocol, as
//! `kafka-consumer-groups.sh --list` and `--describe` show them.
//!
//! ```text
//! list      ListGroups                                        → GROUP STATE PROTOCOL-TYPE
//! describe  FindCoordinator → DescribeGroups + OffsetFetch (coordinator)
//!           Metadata → ListOffsets(latest) per leader        → GROUP TOPIC PARTITION
//!             CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID
//! ```
//! LAG is the log end offset minus the committed offset ("-" when nothing is committed). The
//! owning member of each partition comes from the assignments in DescribeGroups (consumer
//! protocol only, Stable groups only, as Kafka's tool). Formatting is pure (`format_*`) and
//! unit-tested; the exchanges are blocking calls with the client's socket timeout.
//!
//! Runs on the main thread of the admin process.
use super::args::{self, Parsed, Spec};
use super::table::Table;
use super::{Brokers, CliError, Outcome, connect};
use crate::client::connection::{Connection, Negotiated};
use crate::protocol::messages::describe_groups::{
    DescribeGroupsRequest, DescribeGroupsResponse, DescribedGroup,
};
use crate::protocol::messages::find_coordinator::{
    FindCoordinatorRequest, FindCoordinatorResponse,
};
use crate::protocol::messages::list_groups::{ListGroupsRequest, ListGroupsResponse};
use crate::protocol::messages::list_offsets::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsResponse, ListOffsetsTopic,
};
use crate::protocol::messages::metadata::{
    MetadataRequest, MetadataRequestTopic, MetadataResponse,
};
use crate::protocol::messages::offset_fetch::{
    OffsetFetchRequest, OffsetFetchRequestGroup, OffsetFetchResponse,
};
use crate::protocol::{ApiKey, ErrorCode, Reader, StrBytes};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write;

/// Client id the commands announce.
pub const CLIENT_ID: &str = super::ADMIN_CLIENT_ID;
/// ListOffsets timestamp for the end (high watermark) offset.
const LATEST_TIMESTAMP: i64 = -1;
/// Brokers `list` asks and leaders `describe` connects to, at most.
const BROKERS_MAX: usize = 64;
/// `BOOTSTRAP_FLAGS` and `--command-config`.
const VALUES: &[&str] = &["--bootstrap", "--bootstrap-server", "--command-config"];

/// (topic, partition) → the end offset, or the leader's error.
type EndOffsets = BTreeMap<(String, i32), Result<i64, ErrorCode>>;

/// Runs `ringbroker group ACTION ARGS…`.
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
        "list" if parsed.positional.is_empty() => list(&parsed, out),
        "describe" if !parsed.positional.is_empty() => describe(&parsed, out),
        "list" | "describe" => Err(CliError::Usage(
            "usage: ringbroker group list | ringbroker group describe GROUP... [--bootstrap ADDR]",
        )),
        other => Err(CliError::UnknownCommand {
            words: format!("group {other}"),
        }),
    }
}

fn kafka_error(what: String, error_code: ErrorCode) -> CliError {
    CliError::Kafka {
        what,
        error_code,
        message: None,
    }
}

fn list(parsed: &Parsed, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let (mut connection, versions) = connect(parsed)?;
    let version = versions.need(ApiKey::ListGroups)?;
    let response: ListGroupsResponse = connection.call(version, &ListGroupsRequest::default())?;
    if response.error_code != ErrorCode::None {
        return Err(kafka_error("list groups".to_owned(), response.error_code));
    }
    out.write_all(format_list(&response).as_bytes())?;
    Ok(Outcome::Success)
}

/// `GROUP STATE PROTOCOL-TYPE`, sorted by group id.
#[must_use]
pub fn format_list(response: &ListGroupsResponse) -> String {
    let mut groups: Vec<_> = response.groups.iter().collect();
    groups.sort_by(|left, right| left.group_id.cmp(&right.group_id));
    let mut table = Table::new(&["GROUP", "STATE", "PROTOCOL-TYPE"]);
    for group in groups {
        let state = if group.group_state.is_empty() {
            "-"
        } else {
            group.group_state.as_str()
        };
        table.push(vec![
            group.group_id.to_string(),
            state.to_owned(),
            group.protocol_type.to_string(),
        ]);
    }
    table.render()
}

/// One row of `describe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRow {
    pub topic: String,
    pub partition: i32,
    /// `None`: nothing committed.
    pub committed: Option<i64>,
    /// `Err`: the leader's error.
    pub log_end: Result<i64, ErrorCode>,
    /// (member id, host, client id) of the member that owns it, if any.
    pub owner: Option<(String, String, String)>,
}

fn describe(parsed: &Parsed, out: &mut dyn Write) -> Result<Outcome, CliError> {
    let brokers = Brokers::from_flags(parsed)?;
    let (mut connection, versions) = brokers.connect_bootstrap()?;
    let mut outcome = Outcome::Success;
    for group_id in &parsed.positional {
        let coordinator = find_coordinator(&mut connection, &versions, group_id)?;
        let (mut coordinator_connection, coordinator_versions) = brokers.connect(&coordinator)?;
        let described =
            describe_group(&mut coordinator_connection, &coordinator_versions, group_id)?;
        if described.error_code != ErrorCode::None {
            writeln!(
                out,
                "Error: group {group_id}: {}",
                described.error_code.name()
            )?;
            outcome = Outcome::Problems;
            continue;
        }
        let committed =
            committed_offsets(&mut coordinator_connection, &coordinator_versions, group_id)?;
        let owners = owners(&described);
        let partitions: BTreeSet<(String, i32)> =
            committed.keys().chain(owners.keys()).cloned().collect();
        let log_ends = log_end_offsets(&mut connection, &versions, &brokers, &partitions)?;
        let rows: Vec<PartitionRow> = partitions
            .into_iter()
            .map(|key| PartitionRow {
                committed: committed.get(&key).copied(),
                log_end: log_ends
                    .get(&key)
                    .copied()
                    .unwrap_or(Err(ErrorCode::UnknownTopicOrPartition)),
                owner: owners.get(&key).cloned(),
                topic: key.0,
                partition: key.1,
            })
            .collect();
        out.write_all(format_describe(group_id, &described, &rows).as_bytes())?;
    }
    Ok(outcome)
}

/// The coordinator's `host:port`.
fn find_coordinator(
    connection: &mut Connection,
    versions: &Negotiated,
    group_id: &str,
) -> Result<String, CliError> {
    let version = versions.need(ApiKey::FindCoordinator)?;
    let request = if version >= 4 {
        FindCoordinatorRequest {
            coordinator_keys: vec![StrBytes::from(group_id)],
            ..Default::default()
        }
    } else {
        FindCoordinatorRequest {
            key: StrBytes::from(group_id),
            ..Default::default()
        }
    };
    let response: FindCoordinatorResponse = connection.call(version, &request)?;
    let (error_code, host, port) = match response.coordinators.first() {
        Some(found) if version >= 4 => (found.error_code, found.host.clone(), found.port),
        _ => (response.error_code, response.host, response.port),
    };
    if error_code != ErrorCode::None {
        return Err(kafka_error(
            format!("coordinator of {group_id}"),
            error_code,
        ));
    }
    Ok(format!("{host}:{port}"))
}

fn describe_group(
    connection: &mut Connection,
    versions: &Negotiated,
    group_id: &str,
) -> Result<DescribedGroup, CliError> {
    let version = versions.need(ApiKey::DescribeGroups)?;
    let request = DescribeGroupsRequest {
        groups: vec![StrBytes::from(group_id)],
        include_authorized_operations: false,
    };
    let response: DescribeGroupsResponse = connection.call(version, &request)?;
    response.groups.into_iter().next().ok_or_else(|| {
        kafka_error(
            format!("describe {group_id}"),
            ErrorCode::UnknownServerError,
        )
    })
}

/// (topic, partition) → committed offset, for every partition the group committed.
fn committed_offsets(
    connection: &mut Connection,
    versions: &Negotiated,
    group_id: &str,
) -> Result<BTreeMap<(String, i32), i64>, CliError> {
    let version = versions.need(ApiKey::OffsetFetch)?;
    let request = if version >= 8 {
        OffsetFetchRequest {
            groups: vec![OffsetFetchRequestGroup {
                group_id: StrBytes::from(group_id),
                topics: None,
                ..Default::default()
            }],
            ..Default::default()
        }
    } else {
        OffsetFetchRequest {
            group_id: StrBytes::from(group_id),
            topics: None,
            ..Default::default()
        }
    };
    let response: OffsetFetchResponse = connection.call(version, &request)?;
    let mut committed = BTreeMap::new();
    if version >= 8 {
        for group in &response.groups {
            if group.error_code != ErrorCode::None {
                return Err(kafka_error(
                    format!("offsets of {group_id}"),
                    group.error_code,
                ));
            }
            for topic in &group.topics {
                for partition in &topic.partitions {
                    if partition.committed_offset >= 0 {
                        let key = (topic.name.to_string(), partition.partition_index);
                        committed.insert(key, partition.committed_offset);
                    }
                }
            }
        }
    } else {
        if response.error_code != ErrorCode::None {
            return Err(kafka_error(
                format!("offsets of {group_id}"),
                response.error_code,
            ));
        }
        for topic in &response.topics {
            for partition in &topic.partitions {
                if partition.committed_offset >= 0 {
                    let key = (topic.name.to_string(), partition.partition_index);
                    committed.insert(key, partition.committed_offset);
                }
            }
        }
    }
    Ok(committed)
}

/// (topic, partition) → (member id, host, client id), from consumer-protocol assignments.
fn owners(group: &DescribedGroup) -> BTreeMap<(String, i32), (String, String, String)> {
    let mut owners = BTreeMap::new();
    if group.protocol_type.as_str() != "consumer" {
        return owners;
    }
    for member in &group.members {
        let Some(assigned) = consumer_assignment(member.member_assignment.clone()) else {
            continue;
        };
        for key in assigned {
            let owner = (
                member.member_id.to_string(),
                member.client_host.to_string(),
                member.client_id.to_string(),
            );
            owners.insert(key, owner);
        }
    }
    owners
}

/// The partitions of a consumer-protocol Assignment:
/// `[version:i16][topics: i32 count ([topic:string][partitions: i32 count (i32)*])*]…`.
/// `None` when the bytes do not parse (another protocol's data).
#[must_use]
pub fn consumer_assignment(bytes: Bytes) -> Option<Vec<(String, i32)>> {
    let mut reader = Reader::new(bytes);
    let _version = reader.i16().ok()?;
    let mut assigned = Vec::new();
    for _ in 0..reader.array_count(false).ok()?.unwrap_or(0) {
        let topic = reader.string(false).ok()?.to_string();
        for _ in 0..reader.array_count(false).ok()?.unwrap_or(0) {
            assigned.push((topic.clone(), reader.i32().ok()?));
        }
    }
    Some(assigned)
}

/// Asks each leader for the end offsets of `partitions`.
fn log_end_offsets(
    connection: &mut Connection,
    versions: &Negotiated,
    brokers: &Brokers,
    partitions: &BTreeSet<(String, i32)>,
) -> Result<EndOffsets, CliError> {
    let mut ends = BTreeMap::new();
    if partitions.is_empty() {
        return Ok(ends);
    }
    let topics: BTreeSet<&str> = partitions.iter().map(|(topic, _)| topic.as_str()).collect();
    let metadata_version = versions.need(ApiKey::Metadata)?;
    let metadata: MetadataResponse = connection.call(
        metadata_version,
        &MetadataRequest {
            topics: Some(
                topics
                    .iter()
                    .map(|name| MetadataRequestTopic {
                        name: Some(StrBytes::from(*name)),
                        ..Default::default()
                    })
                    .collect(),
            ),
            allow_auto_topic_creation: false,
            ..Default::default()
        },
    )?;
    let mut by_leader: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
    for topic in &metadata.topics {
        let name = topic.name.as_deref().unwrap_or_default();
        for partition in &topic.partitions {
            let key = (name.to_owned(), partition.partition_index);
            if partitions.contains(&key) {
                by_leader.entry(partition.leader_id).or_default().push(key);
            }
        }
    }
    let version = versions.need(ApiKey::ListOffsets)?;
    for (leader, keys) in by_leader.into_iter().take(BROKERS_MAX) {
        let address = metadata
            .brokers
            .iter()
            .find(|broker| broker.node_id == leader)
            .map(|broker| format!("{}:{}", broker.host, broker.port));
        let mut other;
        let target = match address {
            Some(address) if address != brokers.bootstrap && metadata.brokers.len() > 1 => {
                other = brokers.connect_only(&address, CLIENT_ID)?;
                &mut other
            }
            Some(_) => &mut *connection,
            None => {
                for key in keys {
                    ends.insert(key, Err(ErrorCode::LeaderNotAvailable));
                }
                continue;
            }
        };
        ends.extend(latest_offsets(target, version, &keys)?);
    }
    Ok(ends)
}

fn latest_offsets(
    connection: &mut Connection,
    version: i16,
    keys: &[(String, i32)],
) -> Result<EndOffsets, CliError> {
    let mut topics: BTreeMap<&str, Vec<ListOffsetsPartition>> = BTreeMap::new();
    for (topic, partition) in keys {
        topics.entry(topic).or_default().push(ListOffsetsPartition {
            partition_index: *partition,
            timestamp: LATEST_TIMESTAMP,
            ..Default::default()
        });
    }
    let request = ListOffsetsRequest {
        replica_id: -1,
        topics: topics
            .into_iter()
            .map(|(name, partitions)| ListOffsetsTopic {
                name: StrBytes::from(name),
                partitions,
            })
            .collect(),
        ..Default::default()
    };
    let response: ListOffsetsResponse = connection.call(version, &request)?;
    Ok(response
        .topics
        .iter()
        .flat_map(|topic| {
            topic.partitions.iter().map(|partition| {
                let value = if partition.error_code == ErrorCode::None {
                    Ok(partition.offset)
                } else {
                    Err(partition.error_code)
                };
                ((topic.name.to_string(), partition.partition_index), value)
            })
        })
        .collect())
}

/// `kafka-consumer-groups.sh --describe`'s table for one group, preceded by its state.
#[must_use]
pub fn format_describe(group_id: &str, group: &DescribedGroup, rows: &[PartitionRow]) -> String {
    let mut text = format!(
        "Consumer group '{group_id}': state {}, {} member(s)\n",
        group.group_state,
        group.members.len()
    );
    if group.members.is_empty() {
        // Writing to a String cannot fail.
        let _ = writeln!(text, "Consumer group '{group_id}' has no active members.");
    }
    let mut table = Table::new(&[
        "GROUP",
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "CONSUMER-ID",
        "HOST",
        "CLIENT-ID",
    ]);
    for row in rows {
        let committed = row
            .committed
            .map_or("-".to_owned(), |offset| offset.to_string());
        let log_end = match row.log_end {
            Ok(offset) => offset.to_string(),
            Err(error) => error.name().to_owned(),
        };
        let lag = match (row.committed, row.log_end) {
            (Some(committed), Ok(end)) => end.saturating_sub(committed).max(0).to_string(),
            _ => "-".to_owned(),
        };
        let (member, host, client) = row
            .owner
            .clone()
            .unwrap_or_else(|| ("-".to_owned(), "-".to_owned(), "-".to_owned()));
        table.push(vec![
            group_id.to_owned(),
            row.topic.clone(),
            row.partition.to_string(),
            committed,
            log_end,
            lag,
            member,
            host,
            client,
        ]);
    }
    text.push_str(&table.render());
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may panic
mod tests {
    use super::*;
    use crate::protocol::messages::list_groups::ListedGroup;
    use bytes::{BufMut, BytesMut};

    #[test]
    fn assignment_bytes_parse() {
        let mut bytes = BytesMut::new();
        bytes.put_i16(0);
        bytes.put_i32(1);
        bytes.put_i16(1);
        bytes.put_slice(b"t");
        bytes.put_i32(2);
        bytes.put_i32(0);
        bytes.put_i32(3);
        bytes.put_i32(-1);
        let assigned = consumer_assignment(bytes.freeze()).unwrap();
        assert_eq!(assigned, vec![("t".to_owned(), 0), ("t".to_owned(), 3)]);
        assert_eq!(
            consumer_assignment(Bytes::from_static(&[0, 0, 0, 0, 0, 9])),
            None
        );
    }

    #[test]
    fn describe_shows_lag_and_owner() {
        let group = DescribedGroup {
            group_id: "g".into(),
            group_state: "Stable".into(),
            members: vec![Default::default()],
            ..Default::default()
        };
        let rows = [
            PartitionRow {
                topic: "t".into(),
                partition: 0,
                committed: Some(40),
                log_end: Ok(50),
                owner: Some(("m-1".into(), "/127.0.0.1".into(), "rdkafka".into())),
            },
            PartitionRow {
                topic: "t".into(),
                partition: 1,
                committed: None,
                log_end: Ok(7),
                owner: None,
            },
        ];
        let text = format_describe("g", &group, &rows);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("state Stable"));
        let first: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(
            first,
            [
                "g",
                "t",
                "0",
                "40",
                "50",
                "10",
                "m-1",
                "/127.0.0.1",
                "rdkafka"
            ]
        );
        let second: Vec<&str> = lines[3].split_whitespace().collect();
        assert_eq!(second, ["g", "t", "1", "-", "7", "-", "-", "-", "-"]);
    }

    #[test]
    fn list_is_sorted() {
        let response = ListGroupsResponse {
            groups: vec![
                ListedGroup {
                    group_id: "b".into(),
                    protocol_type: "consumer".into(),
                    group_state: "Empty".into(),
                    ..Default::default()
                },
                ListedGroup {
                    group_id: "a".into(),
                    protocol_type: "consumer".into(),
                    group_state: "Stable".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let text = format_list(&response);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].starts_with("a "));
        assert!(lines[2].starts_with("b "));
    }
}
