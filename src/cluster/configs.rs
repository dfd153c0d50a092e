//! Topic and broker configs: the one table of names, types, defaults and bounds that feeds
//! CreateTopics / IncrementalAlterConfigs validation, DescribeConfigs and the storage `LogConfig`.
//!
//! A topic's effective value is its own override, else the broker-level override of its broker
//! synonym (`log.retention.ms` for `retention.ms`, as Kafka names them), else the default.
//! Pure data; runs on any shard.
use std::collections::BTreeMap;

/// Kafka's `ConfigType` numbers (DescribeConfigs v3+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Long = 5,
}

/// How a value is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigKind {
    /// An integer in `min..=max` (both inclusive).
    Integer {
        min: i64,
        max: i64,
        config_type: ConfigType,
    },
    Boolean,
    /// One of a fixed set of strings.
    Choice(&'static [&'static str]),
}

/// One topic config.
#[derive(Debug, Clone, Copy)]
pub struct TopicConfigDef {
    pub name: &'static str,
    /// The broker-level config that sets its default for every topic.
    pub broker_synonym: &'static str,
    pub default: &'static str,
    pub kind: ConfigKind,
    /// Why this value matters here, for `ringbroker topic config` and the README.
    pub doc: &'static str,
}

const fn long(min: i64) -> ConfigKind {
    ConfigKind::Integer {
        min,
        max: i64::MAX,
        config_type: ConfigType::Long,
    }
}

const fn int(min: i64, max: i64) -> ConfigKind {
    ConfigKind::Integer {
        min,
        max,
        config_type: ConfigType::Int,
    }
}

/// Longest config value accepted. Every valid value in the table is far shorter; the bound keeps
/// stored values encodable as classic (i16-length) strings in DescribeConfigs responses.
pub const CONFIG_VALUE_LENGTH_MAX: usize = 1024;

/// Smallest `segment.bytes` we accept. Kafka 4 requires 1 MiB; we allow 4 KiB so tests and
/// small deployments can roll segments quickly (each segment costs two file descriptors).
pub const SEGMENT_BYTES_MIN: i64 = 4096;

/// Every topic config we understand. Others are refused with INVALID_CONFIG rather than
/// silently ignored, so a user never believes a setting took effect when it did not.
pub const TOPIC_CONFIGS: &[TopicConfigDef] = &[
    TopicConfigDef {
        name: "cleanup.policy",
        broker_synonym: "log.cleanup.policy",
        default: "delete",
        // Compaction is not implemented: refusing it is honest, accepting it would lose data
        // a compacting user expects to keep (the latest value per key).
        kind: ConfigKind::Choice(&["delete"]),
        doc: "Only delete (time/size retention) is supported; compact is refused.",
    },
    TopicConfigDef {
        name: "compression.type",
        broker_synonym: "compression.type",
        default: "producer",
        // Batches are stored verbatim (never recompressed), which is Kafka's `producer` mode.
        kind: ConfigKind::Choice(&["producer"]),
        doc: "Batches are stored as the producer compressed them.",
    },
    TopicConfigDef {
        name: "retention.ms",
        broker_synonym: "log.retention.ms",
        default: "604800000",
        kind: long(-1),
        doc: "Delete whole segments older than this (by largest timestamp); -1 keeps forever.",
    },
    TopicConfigDef {
        name: "retention.bytes",
        broker_synonym: "log.retention.bytes",
        default: "-1",
        kind: long(-1),
        doc: "Delete oldest segments while the partition is larger than this; -1 = no limit.",
    },
    TopicConfigDef {
        name: "segment.bytes",
        broker_synonym: "log.segment.bytes",
        default: "1073741824",
        kind: int(SEGMENT_BYTES_MIN, i32::MAX as i64),
        doc: "Roll to a new segment file at this size.",
    },
    TopicConfigDef {
        name: "segment.ms",
        broker_synonym: "log.roll.ms",
        default: "604800000",
        kind: long(1),
        doc: "Roll to a new segment after this long even if it is not full.",
    },
    TopicConfigDef {
        name: "max.message.bytes",
        broker_synonym: "message.max.bytes",
        default: "1048588",
        kind: int(0, crate::limits::BATCH_SIZE_MAX as i64),
        doc: "Largest record batch accepted.",
    },
    TopicConfigDef {
        name: "index.interval.bytes",
        broker_synonym: "log.index.interval.bytes",
        default: "4096",
        kind: int(0, i32::MAX as i64),
        doc: "Bytes between sparse offset-index entries.",
    },
    TopicConfigDef {
        name: "flush.messages",
        broker_synonym: "log.flush.interval.messages",
        default: "9223372036854775807",
        kind: long(1),
        doc: "fdatasync after this many messages (default: never; replication protects data).",
    },
    TopicConfigDef {
        name: "flush.ms",
        broker_synonym: "log.flush.interval.ms",
        default: "9223372036854775807",
        kind: long(0),
        doc: "fdatasync when the oldest unflushed append is this old (default: never).",
    },
    TopicConfigDef {
        name: "flush.strict",
        broker_synonym: "log.flush.strict",
        default: "false",
        kind: ConfigKind::Boolean,
        doc: "ringbroker only: fdatasync before acknowledging a produce, one sync per shard tick.",
    },
    TopicConfigDef {
        name: "message.timestamp.type",
        broker_synonym: "log.message.timestamp.type",
        default: "CreateTime",
        kind: ConfigKind::Choice(&["CreateTime", "LogAppendTime"]),
        doc: "CreateTime keeps the producer's timestamps; LogAppendTime uses the broker's clock.",
    },
    TopicConfigDef {
        name: "min.insync.replicas",
        broker_synonym: "min.insync.replicas",
        default: "1",
        kind: int(1, i32::MAX as i64),
        doc: "Replicas that must have a write for acks=all (single node: always 1 in sync).",
    },
];

/// Broker-only configs reported by DescribeConfigs for the broker resource (read-only).
pub const BROKER_READ_ONLY: &[(&str, ConfigType)] = &[
    ("broker.id", ConfigType::Int),
    ("node.id", ConfigType::Int),
    ("listeners", ConfigType::String),
    ("advertised.listeners", ConfigType::String),
    ("log.dirs", ConfigType::String),
    ("num.partitions", ConfigType::Int),
    ("auto.create.topics.enable", ConfigType::Boolean),
    ("socket.request.max.bytes", ConfigType::Int),
];

/// Why a config value is refused; maps to INVALID_CONFIG with the text as error message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown config {name:?}")]
    Unknown { name: String },
    #[error("config {name:?} needs a value")]
    Missing { name: String },
    #[error("invalid value {value:?} for {name:?}: {reason}")]
    Invalid {
        name: String,
        value: String,
        reason: String,
    },
}

/// The definition of a topic config by its own name.
#[must_use]
pub fn topic_config(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|def| def.name == name)
}

/// The definition of a topic config by its broker synonym.
#[must_use]
pub fn topic_config_by_broker_name(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|def| def.broker_synonym == name)
}

/// Kafka's `ConfigType` of a topic config, as DescribeConfigs v3+ reports it (a choice is a
/// STRING, as Kafka types its enumerated configs such as `message.timestamp.type`).
#[must_use]
pub const fn config_type(def: &TopicConfigDef) -> ConfigType {
    match def.kind {
        ConfigKind::Integer { config_type, .. } => config_type,
        ConfigKind::Boolean => ConfigType::Boolean,
        ConfigKind::Choice(_) => ConfigType::String,
    }
}

/// Every topic config, sorted by `key` (Kafka lists configs in name order).
#[must_use]
pub fn topic_configs_sorted_by(
    key: fn(&TopicConfigDef) -> &'static str,
) -> Vec<&'static TopicConfigDef> {
    let mut defs: Vec<&'static TopicConfigDef> = TOPIC_CONFIGS.iter().collect();
    defs.sort_by_key(|def| key(def));
    defs
}

/// Checks `value` for `def`.
///
/// # Errors
/// `Invalid` with the reason.
pub fn check_value(def: &TopicConfigDef, value: &str) -> Result<(), ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        name: def.name.to_owned(),
        value: value.chars().take(64).collect(),
        reason,
    };
    if value.len() > CONFIG_VALUE_LENGTH_MAX {
        return Err(invalid(format!(
            "longer than {CONFIG_VALUE_LENGTH_MAX} bytes"
        )));
    }
    match def.kind {
        ConfigKind::Integer { min, max, .. } => {
            let parsed: i64 = value
                .trim()
                .parse()
                .map_err(|_| invalid("not an integer".into()))?;
            if parsed < min || parsed > max {
                return Err(invalid(format!("must be in [{min}, {max}]")));
            }
        }
        ConfigKind::Boolean => {
            if !matches!(value.trim(), "true" | "false") {
                return Err(invalid("must be true or false".into()));
            }
        }
        ConfigKind::Choice(choices) => {
            if !choices.contains(&value.trim()) {
                return Err(invalid(format!("must be one of {choices:?}")));
            }
        }
    }
    Ok(())
}

/// Checks a full set of topic overrides.
///
/// # Errors
/// The first bad entry.
pub fn check_topic_configs(configs: &BTreeMap<String, String>) -> Result<(), ConfigError> {
    for (name, value) in configs {
        let def = topic_config(name).ok_or_else(|| ConfigError::Unknown { name: name.clone() })?;
        check_value(def, value)?;
    }
    Ok(())
}

/// Where an effective value came from (Kafka's `ConfigSource` numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    DynamicTopic = 1,
    DynamicDefaultBroker = 3,
    StaticBroker = 4,
    Default = 5,
}

/// A topic config's effective value and its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveValue {
    pub value: String,
    pub source: ConfigSource,
}

/// Resolves `def` for a topic with `overrides`, given broker-level `broker_overrides` (keyed by
/// broker synonym).
#[must_use]
pub fn effective(
    def: &TopicConfigDef,
    overrides: &BTreeMap<String, String>,
    broker_overrides: &BTreeMap<String, String>,
) -> EffectiveValue {
    if let Some(value) = overrides.get(def.name) {
        return EffectiveValue {
            value: value.clone(),
            source: ConfigSource::DynamicTopic,
        };
    }
    if let Some(value) = broker_overrides.get(def.broker_synonym) {
        return EffectiveValue {
            value: value.clone(),
            source: ConfigSource::DynamicDefaultBroker,
        };
    }
    EffectiveValue {
        value: def.default.to_owned(),
        source: ConfigSource::Default,
    }
}

/// An effective integer config (the table's checks guarantee it parses; the default is the
/// fallback for a value that was valid under an older table).
#[must_use]
pub fn effective_i64(
    name: &str,
    overrides: &BTreeMap<String, String>,
    broker_overrides: &BTreeMap<String, String>,
) -> i64 {
    let Some(def) = topic_config(name) else {
        return 0;
    };
    let value = effective(def, overrides, broker_overrides).value;
    value
        .trim()
        .parse()
        .unwrap_or_else(|_| def.default.parse().unwrap_or(0))
}

/// An effective string config.
#[must_use]
pub fn effective_str(
    name: &str,
    overrides: &BTreeMap<String, String>,
    broker_overrides: &BTreeMap<String, String>,
) -> String {
    topic_config(name)
        .map(|def| effective(def, overrides, broker_overrides).value)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_their_own_checks() {
        for def in TOPIC_CONFIGS {
            assert_eq!(check_value(def, def.default), Ok(()), "{}", def.name);
        }
    }

    #[test]
    fn rejects_unknown_and_out_of_range() {
        let mut configs = BTreeMap::new();
        configs.insert("retention.ms".to_owned(), "-5".to_owned());
        assert!(matches!(
            check_topic_configs(&configs),
            Err(ConfigError::Invalid { .. })
        ));
        configs.clear();
        configs.insert("no.such".to_owned(), "1".to_owned());
        assert!(matches!(
            check_topic_configs(&configs),
            Err(ConfigError::Unknown { .. })
        ));
        configs.clear();
        configs.insert("cleanup.policy".to_owned(), "compact".to_owned());
        assert!(check_topic_configs(&configs).is_err());
    }

    #[test]
    fn topic_override_beats_broker_beats_default() {
        let mut topic = BTreeMap::new();
        let mut broker = BTreeMap::new();
        assert_eq!(effective_i64("retention.ms", &topic, &broker), 604_800_000);
        broker.insert("log.retention.ms".to_owned(), "1000".to_owned());
        assert_eq!(effective_i64("retention.ms", &topic, &broker), 1000);
        topic.insert("retention.ms".to_owned(), "5".to_owned());
        let def = topic_config("retention.ms").unwrap();
        assert_eq!(
            effective(def, &topic, &broker).source,
            ConfigSource::DynamicTopic
        );
        assert_eq!(effective_i64("retention.ms", &topic, &broker), 5);
    }
}
