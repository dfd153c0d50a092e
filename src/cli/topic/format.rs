//! The texts `ringbroker topic` prints, as pure functions of the responses so that they are
//! unit-tested without a broker: the topic list, a topic's describe block (summary, configs set
//! on the topic, partitions with offsets and sizes), the configs table, and Kafka's base64 topic
//! ids. Runs on the main thread of the admin process.
use super::super::table::Table;
use super::CONFIG_SOURCE_DYNAMIC_TOPIC;
use crate::protocol::messages::describe_configs::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use crate::protocol::messages::metadata::{MetadataResponse, MetadataResponseTopic};
use crate::protocol::{ErrorCode, Uuid};
use std::collections::HashMap;

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

pub(super) fn sorted_topics(metadata: &MetadataResponse) -> Vec<&MetadataResponseTopic> {
    let mut topics: Vec<_> = metadata.topics.iter().collect();
    topics.sort_by(|a, b| topic_name(a).cmp(topic_name(b)));
    topics
}

pub(super) fn topic_name(topic: &MetadataResponseTopic) -> &str {
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
    use crate::protocol::StrBytes;
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
}
