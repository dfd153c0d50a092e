//! Which partition logs a shard should have for a metadata snapshot, and each one's storage
//! config: the translation from cluster metadata (topics, partition counts, config overrides)
//! to what storage's log pump reconciles against ([`WantedLogs`]). Storage knows nothing of
//! topics or placement; this is the one place that joins them.
//!
//! Pure; runs on every shard, each for itself, when a snapshot is installed.
use super::configs;
use super::{ClusterMetadata, TopicMetadata};
use crate::shard::placement::shard_for;
use crate::storage::{FlushPolicy, LogConfig, LogSpec, PartitionKey, TimestampType, WantedLogs};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What a shard's logs depend on besides the snapshot; fixed for the shard's life.
#[derive(Debug, Clone)]
pub struct LogPlacement {
    pub shard_index: usize,
    pub shard_count: usize,
    pub data_dir: PathBuf,
    /// Broker-wide `producer_id_expiration_ms`, given to every log.
    pub producer_id_expiration: Duration,
}

/// Every partition of `metadata` that `placement`'s shard owns, with its directory and config.
///
/// # Panics
/// When the shard index is out of range (a programmer error in the composition).
#[must_use]
pub fn wanted_logs(metadata: &ClusterMetadata, placement: &LogPlacement) -> WantedLogs {
    assert!(placement.shard_index < placement.shard_count);
    let mut wanted = WantedLogs::new();
    for topic in metadata.topics.values() {
        let config = LogConfig {
            producer_id_expiration: placement.producer_id_expiration,
            ..log_config(topic, &metadata.broker_configs)
        };
        for partition in 0..topic.partition_count {
            if shard_for(topic.topic_id, partition, placement.shard_count) != placement.shard_index
            {
                continue;
            }
            let key = PartitionKey {
                topic_id: topic.topic_id,
                partition,
            };
            let spec = LogSpec {
                directory: partition_directory(&placement.data_dir, &topic.name, partition),
                config: config.clone(),
            };
            wanted.insert(key, spec);
        }
    }
    wanted
}

/// `<data dir>/<topic>-<partition>`, Kafka's layout.
#[must_use]
pub fn partition_directory(data_dir: &Path, topic: &str, partition: i32) -> PathBuf {
    data_dir.join(format!("{topic}-{partition}"))
}

/// The storage `LogConfig` of a topic: its overrides, then broker-level overrides, then
/// defaults (see `cluster::configs`). Flush policy: strict wins, then `flush.messages`, then
/// `flush.ms` (storage keeps one policy per log).
#[must_use]
pub fn log_config(topic: &TopicMetadata, broker: &BTreeMap<String, String>) -> LogConfig {
    let get = |name: &str| configs::effective_i64(name, &topic.configs, broker);
    let millis = |value: i64| u64::try_from(value).ok().map(Duration::from_millis);
    let retention_ms = get("retention.ms");
    let retention_bytes = get("retention.bytes");
    let flush_messages = get("flush.messages");
    let flush_ms = get("flush.ms");
    let strict = configs::effective_str("flush.strict", &topic.configs, broker) == "true";
    let flush = if strict {
        FlushPolicy::Strict
    } else if flush_messages < i64::MAX {
        FlushPolicy::Messages(u64::try_from(flush_messages).unwrap_or(1))
    } else if flush_ms < i64::MAX {
        FlushPolicy::Interval(millis(flush_ms).unwrap_or_default())
    } else {
        FlushPolicy::None
    };
    let timestamp_type = if configs::effective_str("message.timestamp.type", &topic.configs, broker)
        == "LogAppendTime"
    {
        TimestampType::LogAppendTime
    } else {
        TimestampType::CreateTime
    };
    LogConfig {
        segment_bytes: u64::try_from(get("segment.bytes")).unwrap_or(1 << 30),
        segment_ms: millis(get("segment.ms")),
        retention_ms: if retention_ms < 0 {
            None
        } else {
            millis(retention_ms)
        },
        retention_bytes: u64::try_from(retention_bytes).ok(),
        index_interval_bytes: u32::try_from(get("index.interval.bytes")).unwrap_or(4096),
        max_message_bytes: u32::try_from(get("max.message.bytes")).unwrap_or(1_048_588),
        flush,
        message_timestamp_type: timestamp_type,
        ..LogConfig::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_partition_lands_on_exactly_one_shard() {
        let mut metadata = ClusterMetadata::new_cluster();
        for (name, count) in [("a", 7), ("b", 1), ("c", 12)] {
            metadata = metadata
                .with_topic_created(name, count, BTreeMap::new())
                .unwrap()
                .0;
        }
        let shard_count = 3;
        let mut seen = 0;
        for shard_index in 0..shard_count {
            let placement = LogPlacement {
                shard_index,
                shard_count,
                data_dir: PathBuf::from("/data"),
                producer_id_expiration: Duration::from_secs(60),
            };
            let wanted = wanted_logs(&metadata, &placement);
            for (key, spec) in &wanted {
                assert_eq!(
                    shard_for(key.topic_id, key.partition, shard_count),
                    shard_index
                );
                assert!(spec.directory.starts_with("/data"));
                assert_eq!(spec.config.producer_id_expiration, Duration::from_secs(60));
            }
            seen += wanted.len();
        }
        assert_eq!(seen, 7 + 1 + 12);
    }
}
