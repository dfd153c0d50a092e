//! Topic and broker configs: the one table of names, types, defaults, bounds and docs. Every
//! use derives from it: CreateTopics / IncrementalAlterConfigs / AlterConfigs validation (one
//! validator, [`parse_value`]), DescribeConfigs, and the storage's typed per-partition
//! [`LogConfig`] ([`log_config`]). The defaults and bounds themselves are `limits.rs` constants,
//! shared with `LogConfig::default()`.
//!
//! Which resource a config belongs to: every entry of [`TOPIC_CONFIGS`] is a topic config under
//! its own name and a writable broker-level default under its broker synonym (`log.retention.ms`
//! for `retention.ms`, as Kafka names them); [`BROKER_CONFIGS`] are writable broker-only configs
//! (`default.replication.factor`, `follower.replication.throttled.rate`); [`BROKER_READ_ONLY`]
//! are broker-only configs whose values come from the running `Config` (static, never altered
//! through the API).
//!
//! A topic's effective value is its own override, else the broker-level override of its broker
//! synonym, else the default. Values are refused where they enter (the metadata `with_*` checks
//! the handlers and the controller run); [`log_config`] parses them once per metadata change
//! into typed values and reports, never replaces, a value the table refuses.
//! Pure data; runs on any shard.
use std::collections::BTreeMap;
use std::time::Duration;

use crate::limits::{
    BATCH_SIZE_MAX, CONFIG_VALUE_LENGTH_MAX, INDEX_INTERVAL_BYTES_DEFAULT,
    MESSAGE_SIZE_MAX_DEFAULT, MESSAGE_TIMESTAMP_AFTER_MAX_MS_DEFAULT, REPLICAS_PER_PARTITION_MAX,
    REPLICATION_FACTOR_DEFAULT, RETENTION_MS_DEFAULT, SEGMENT_BYTES_DEFAULT, SEGMENT_BYTES_MIN,
    SEGMENT_MS_DEFAULT, SEGMENT_SIZE_MAX,
};
use crate::storage::{FlushPolicy, LogConfig, TimestampType};

/// Kafka's `ConfigType` numbers (DescribeConfigs v3+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean = 1,
    String = 2,
    Int = 3,
    Long = 5,
}

/// How a value is checked, and its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigKind {
    /// An integer in `min..=max` (both inclusive).
    Integer {
        min: i64,
        max: i64,
        default: i64,
        config_type: ConfigType,
    },
    Boolean {
        default: bool,
    },
    /// One of a fixed set of strings (case-sensitive, as Kafka's `ValidString`).
    Choice {
        choices: &'static [&'static str],
        default: &'static str,
    },
}

/// One topic config.
#[derive(Debug, Clone, Copy)]
pub struct TopicConfigDef {
    pub name: &'static str,
    /// The broker-level config that sets its default for every topic.
    pub broker_synonym: &'static str,
    pub kind: ConfigKind,
    /// Why this value matters here, for `ringbroker topic config` and the README.
    pub doc: &'static str,
}

impl TopicConfigDef {
    /// The default as Kafka renders it (DescribeConfigs' DEFAULT_CONFIG value).
    #[must_use]
    pub fn default_value(&self) -> String {
        match self.kind {
            ConfigKind::Integer { default, .. } => default.to_string(),
            ConfigKind::Boolean { default } => default.to_string(),
            ConfigKind::Choice { default, .. } => default.to_owned(),
        }
    }

    /// The default, typed.
    #[must_use]
    pub const fn default_typed(&self) -> ConfigValue {
        match self.kind {
            ConfigKind::Integer { default, .. } => ConfigValue::Int(default),
            ConfigKind::Boolean { default } => ConfigValue::Bool(default),
            ConfigKind::Choice { default, .. } => ConfigValue::Choice(default),
        }
    }
}

/// A value parsed and checked against its definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigValue {
    Int(i64),
    Bool(bool),
    /// The table's own spelling of the chosen string.
    Choice(&'static str),
}

const fn long(min: i64, default: i64) -> ConfigKind {
    ConfigKind::Integer {
        min,
        max: i64::MAX,
        default,
        config_type: ConfigType::Long,
    }
}

const fn int(min: i64, max: i64, default: i64) -> ConfigKind {
    assert!(
        min <= default && default <= max,
        "default out of its own bounds"
    );
    ConfigKind::Integer {
        min,
        max,
        default,
        config_type: ConfigType::Int,
    }
}

const I32_MAX: i64 = i32::MAX as i64;
const _: () = assert!(SEGMENT_SIZE_MAX == i32::MAX as u64);
const _: () = assert!(BATCH_SIZE_MAX <= i32::MAX as usize);

/// Every topic config we understand. Others are refused with INVALID_CONFIG rather than
/// silently ignored, so a user never believes a setting took effect when it did not.
#[allow(clippy::cast_possible_wrap)] // every limit cast here is at most i32::MAX (asserts above)
pub const TOPIC_CONFIGS: &[TopicConfigDef] = &[
    TopicConfigDef {
        name: "cleanup.policy",
        broker_synonym: "log.cleanup.policy",
        // Compaction is not implemented: refusing it is honest, accepting it would lose data
        // a compacting user expects to keep (the latest value per key).
        kind: ConfigKind::Choice {
            choices: &["delete"],
            default: "delete",
        },
        doc: "Only delete (time/size retention) is supported; compact is refused.",
    },
    TopicConfigDef {
        name: "compression.type",
        broker_synonym: "compression.type",
        // Batches are stored verbatim (never recompressed), which is Kafka's `producer` mode.
        kind: ConfigKind::Choice {
            choices: &["producer"],
            default: "producer",
        },
        doc: "Batches are stored as the producer compressed them.",
    },
    TopicConfigDef {
        name: "retention.ms",
        broker_synonym: "log.retention.ms",
        kind: long(-1, RETENTION_MS_DEFAULT),
        doc: "Delete whole segments older than this (by largest timestamp); -1 keeps forever.",
    },
    TopicConfigDef {
        name: "retention.bytes",
        broker_synonym: "log.retention.bytes",
        kind: long(-1, -1),
        doc: "Delete oldest segments while the partition is larger than this; -1 = no limit.",
    },
    TopicConfigDef {
        name: "segment.bytes",
        broker_synonym: "log.segment.bytes",
        kind: int(
            SEGMENT_BYTES_MIN as i64,
            SEGMENT_SIZE_MAX as i64,
            SEGMENT_BYTES_DEFAULT as i64,
        ),
        doc: "Roll to a new segment file at this size.",
    },
    TopicConfigDef {
        name: "segment.ms",
        broker_synonym: "log.roll.ms",
        kind: long(1, SEGMENT_MS_DEFAULT),
        doc: "Roll to a new segment after this long even if it is not full.",
    },
    TopicConfigDef {
        name: "max.message.bytes",
        broker_synonym: "message.max.bytes",
        kind: int(0, BATCH_SIZE_MAX as i64, MESSAGE_SIZE_MAX_DEFAULT as i64),
        doc: "Largest record batch accepted.",
    },
    TopicConfigDef {
        name: "index.interval.bytes",
        broker_synonym: "log.index.interval.bytes",
        kind: int(0, I32_MAX, INDEX_INTERVAL_BYTES_DEFAULT as i64),
        doc: "Bytes between sparse offset-index entries.",
    },
    TopicConfigDef {
        name: "flush.messages",
        broker_synonym: "log.flush.interval.messages",
        kind: long(1, i64::MAX),
        doc: "fdatasync after this many messages (default: never; replication protects data).",
    },
    TopicConfigDef {
        name: "flush.ms",
        broker_synonym: "log.flush.interval.ms",
        kind: long(0, i64::MAX),
        doc: "fdatasync when the oldest unflushed append is this old (default: never).",
    },
    TopicConfigDef {
        name: "flush.strict",
        broker_synonym: "log.flush.strict",
        kind: ConfigKind::Boolean { default: false },
        doc: "ringbroker only: fdatasync before acknowledging a produce, one sync per shard tick.",
    },
    TopicConfigDef {
        name: "message.timestamp.type",
        broker_synonym: "log.message.timestamp.type",
        kind: ConfigKind::Choice {
            choices: &["CreateTime", "LogAppendTime"],
            default: "CreateTime",
        },
        doc: "CreateTime keeps the producer's timestamps; LogAppendTime uses the broker's clock.",
    },
    TopicConfigDef {
        name: "message.timestamp.before.max.ms",
        broker_synonym: "log.message.timestamp.before.max.ms",
        kind: long(0, i64::MAX),
        doc: "CreateTime only: refuse a batch whose timestamp is further in the past than this.",
    },
    TopicConfigDef {
        name: "message.timestamp.after.max.ms",
        broker_synonym: "log.message.timestamp.after.max.ms",
        kind: long(0, MESSAGE_TIMESTAMP_AFTER_MAX_MS_DEFAULT),
        doc: "CreateTime only: refuse a batch whose timestamp is further in the future than this.",
    },
    TopicConfigDef {
        name: "min.insync.replicas",
        broker_synonym: "min.insync.replicas",
        kind: int(1, I32_MAX, 1),
        doc: "Replicas that must have a write for acks=all (single node: always 1 in sync).",
    },
    TopicConfigDef {
        name: "unclean.leader.election.enable",
        broker_synonym: "unclean.leader.election.enable",
        kind: ConfigKind::Boolean { default: false },
        doc: "Elect an out-of-sync replica when no in-sync or eligible one is live: the \
              partition comes back, but acknowledged records may be lost.",
    },
];

/// Writable broker-only configs: set through the broker resource (IncrementalAlterConfigs /
/// AlterConfigs) like a topic config's broker synonym, but no topic has them (`name` and
/// `broker_synonym` are the same).
#[allow(clippy::cast_possible_wrap)] // REPLICAS_PER_PARTITION_MAX is small (limits.rs)
pub const BROKER_CONFIGS: &[TopicConfigDef] = &[
    TopicConfigDef {
        name: "default.replication.factor",
        broker_synonym: "default.replication.factor",
        kind: int(
            1,
            REPLICAS_PER_PARTITION_MAX as i64,
            REPLICATION_FACTOR_DEFAULT as i64,
        ),
        doc: "Replicas of a new topic's partitions when CreateTopics asks for -1, and of \
              auto-created topics.",
    },
    TopicConfigDef {
        name: FOLLOWER_THROTTLED_RATE,
        broker_synonym: FOLLOWER_THROTTLED_RATE,
        // Kafka's default, Long.MAX_VALUE, means off. Kafka accepts 0 (nothing moves at
        // all); here the least is 1 byte/s so a throttle can slow a move, never wedge it.
        kind: long(1, i64::MAX),
        doc: "Bytes/s each broker fetches for the replicas it is adding (a reassignment's \
              moving replicas); in-sync followers are not slowed. Cluster-wide here.",
    },
];

/// Kafka's dynamic broker config throttling reassignment traffic (the follower side).
pub const FOLLOWER_THROTTLED_RATE: &str = "follower.replication.throttled.rate";

/// `follower.replication.throttled.rate` under the broker-level overrides, in bytes/s:
/// `None` when off (unset, Long.MAX_VALUE, or a stored value the table refuses, which is
/// reported: a broken throttle must not stall a move).
#[must_use]
pub fn follower_throttled_rate(broker_overrides: &BTreeMap<String, String>) -> Option<u64> {
    let def = topic_config_by_broker_name(FOLLOWER_THROTTLED_RATE)?;
    let value = broker_overrides.get(FOLLOWER_THROTTLED_RATE)?;
    match parse_value(def, value) {
        Ok(ConfigValue::Int(rate)) if rate < i64::MAX => u64::try_from(rate).ok(),
        Ok(_) => None,
        Err(error) => {
            tracing::warn!(%error, "{FOLLOWER_THROTTLED_RATE}: not throttling");
            None
        }
    }
}

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

/// The definition of a writable broker-level config by its name: a topic config's broker
/// synonym, or a broker-only config ([`BROKER_CONFIGS`]).
#[must_use]
pub fn topic_config_by_broker_name(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS
        .iter()
        .chain(BROKER_CONFIGS)
        .find(|def| def.broker_synonym == name)
}

/// Every writable broker-level config (topic synonyms and broker-only ones), by broker name.
#[must_use]
pub fn broker_configs_sorted() -> Vec<&'static TopicConfigDef> {
    let mut defs: Vec<&'static TopicConfigDef> =
        TOPIC_CONFIGS.iter().chain(BROKER_CONFIGS).collect();
    defs.sort_by_key(|def| def.broker_synonym);
    defs
}

/// `default.replication.factor` under the broker-level overrides (keyed by broker name): the
/// override when it parses, else the default (a stored value the table refuses is reported
/// where it is read, `log_config`'s rule; here the default keeps creation working).
#[must_use]
pub fn default_replication_factor(broker_overrides: &BTreeMap<String, String>) -> i16 {
    let Some(def) = BROKER_CONFIGS
        .iter()
        .find(|def| def.name == "default.replication.factor")
    else {
        return REPLICATION_FACTOR_DEFAULT;
    };
    let value = broker_overrides
        .get(def.broker_synonym)
        .map(|value| parse_value(def, value));
    match value {
        Some(Ok(ConfigValue::Int(factor))) => {
            i16::try_from(factor).unwrap_or(REPLICATION_FACTOR_DEFAULT)
        }
        Some(Err(error)) => {
            tracing::warn!(%error, "default.replication.factor: using the default");
            REPLICATION_FACTOR_DEFAULT
        }
        _ => REPLICATION_FACTOR_DEFAULT,
    }
}

/// Kafka's `ConfigType` of a topic config, as DescribeConfigs v3+ reports it (a choice is a
/// STRING, as Kafka types its enumerated configs such as `message.timestamp.type`).
#[must_use]
pub const fn config_type(def: &TopicConfigDef) -> ConfigType {
    match def.kind {
        ConfigKind::Integer { config_type, .. } => config_type,
        ConfigKind::Boolean { .. } => ConfigType::Boolean,
        ConfigKind::Choice { .. } => ConfigType::String,
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

/// The one validator: parses `value` for `def` as Kafka's `ConfigDef` does (values trimmed,
/// booleans in any case, choices exact) and checks its bounds, with Kafka's reasons ("Not a
/// number of type LONG", "Value must be at least 0", "String must be one of: ...").
///
/// # Errors
/// `Invalid` with the reason.
pub fn parse_value(def: &TopicConfigDef, value: &str) -> Result<ConfigValue, ConfigError> {
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
        ConfigKind::Integer {
            min,
            max,
            config_type,
            ..
        } => {
            let type_name = if config_type == ConfigType::Int {
                "INT"
            } else {
                "LONG"
            };
            // Kafka's ConfigDef parses INT as an i32, so a wider number is "not a number" too.
            let parsed: i64 = value
                .trim()
                .parse()
                .map_err(|_| invalid(format!("Not a number of type {type_name}")))?;
            if parsed < min {
                return Err(invalid(format!("Value must be at least {min}")));
            }
            if parsed > max {
                return Err(invalid(format!("Value must be no more than {max}")));
            }
            Ok(ConfigValue::Int(parsed))
        }
        ConfigKind::Boolean { .. } => match value.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(ConfigValue::Bool(true)),
            "false" => Ok(ConfigValue::Bool(false)),
            _ => Err(invalid("Expected value to be either true or false".into())),
        },
        ConfigKind::Choice { choices, .. } => choices
            .iter()
            .find(|choice| **choice == value.trim())
            .map(|choice| ConfigValue::Choice(choice))
            .ok_or_else(|| invalid(format!("String must be one of: {}", choices.join(", ")))),
    }
}

/// Checks `value` for `def` (see [`parse_value`]).
///
/// # Errors
/// `Invalid` with the reason.
pub fn check_value(def: &TopicConfigDef, value: &str) -> Result<(), ConfigError> {
    parse_value(def, value).map(drop)
}

/// Checks a full set of topic overrides (keyed by topic config name).
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

/// Checks a full set of broker-level overrides (keyed by broker synonym).
///
/// # Errors
/// The first bad entry.
pub fn check_broker_configs(configs: &BTreeMap<String, String>) -> Result<(), ConfigError> {
    for (name, value) in configs {
        let def = topic_config_by_broker_name(name)
            .ok_or_else(|| ConfigError::Unknown { name: name.clone() })?;
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
        value: def.default_value(),
        source: ConfigSource::Default,
    }
}

/// Typed effective values of one topic, each parsed by [`parse_value`].
struct Resolver<'a> {
    overrides: &'a BTreeMap<String, String>,
    broker_overrides: &'a BTreeMap<String, String>,
}

impl Resolver<'_> {
    fn value(&self, name: &str) -> Result<ConfigValue, ConfigError> {
        let def = topic_config(name).ok_or_else(|| ConfigError::Unknown {
            name: name.to_owned(),
        })?;
        if let Some(value) = self.overrides.get(def.name) {
            return parse_value(def, value);
        }
        if let Some(value) = self.broker_overrides.get(def.broker_synonym) {
            return parse_value(def, value);
        }
        Ok(def.default_typed())
    }

    /// # Panics
    /// When `name` is not an integer config (a programmer error; the defaults test reaches
    /// every call).
    fn int(&self, name: &str) -> Result<i64, ConfigError> {
        match self.value(name)? {
            ConfigValue::Int(value) => Ok(value),
            other => panic!("{name} is not an integer config: {other:?}"),
        }
    }

    /// An integer config whose table minimum is at least zero, as a `u64`.
    fn unsigned(&self, name: &str) -> Result<u64, ConfigError> {
        let value = self.int(name)?;
        u64::try_from(value).map_err(|_| ConfigError::Invalid {
            name: name.to_owned(),
            value: value.to_string(),
            reason: "must not be negative".into(),
        })
    }

    /// A millisecond config; `none_at` (a sentinel such as -1 or `i64::MAX`) means no limit.
    fn millis(&self, name: &str, none_at: i64) -> Result<Option<Duration>, ConfigError> {
        if self.int(name)? == none_at {
            return Ok(None);
        }
        self.unsigned(name)
            .map(|ms| Some(Duration::from_millis(ms)))
    }

    fn flag(&self, name: &str) -> Result<bool, ConfigError> {
        match self.value(name)? {
            ConfigValue::Bool(value) => Ok(value),
            other => panic!("{name} is not a boolean config: {other:?}"),
        }
    }

    /// Storage keeps one flush policy per log: strict wins, then `flush.messages`, then
    /// `flush.ms` (their defaults, `i64::MAX`, mean never).
    fn flush(&self) -> Result<FlushPolicy, ConfigError> {
        if self.flag("flush.strict")? {
            return Ok(FlushPolicy::Strict);
        }
        if self.int("flush.messages")? < i64::MAX {
            return self.unsigned("flush.messages").map(FlushPolicy::Messages);
        }
        Ok(self
            .millis("flush.ms", i64::MAX)?
            .map_or(FlushPolicy::None, FlushPolicy::Interval))
    }

    fn timestamp_type(&self) -> Result<TimestampType, ConfigError> {
        Ok(match self.value("message.timestamp.type")? {
            ConfigValue::Choice("LogAppendTime") => TimestampType::LogAppendTime,
            _ => TimestampType::CreateTime,
        })
    }
}

/// A `u64` config the table bounds to `0..=i32::MAX`, as a `u32`.
fn narrow(name: &str, value: u64) -> Result<u32, ConfigError> {
    u32::try_from(value).map_err(|_| ConfigError::Invalid {
        name: name.to_owned(),
        value: value.to_string(),
        reason: "too large".into(),
    })
}

/// The typed per-partition settings of a topic with `overrides`, given the broker-level
/// `broker_overrides`: the storage's one source of its config, resolved once per metadata change.
/// `producer_id_expiration` (a broker setting, not a topic config) keeps its default; the log
/// pump sets it from the broker's `Config`.
///
/// # Errors
/// A stored value the table refuses (one written before a bound was tightened): reported so the
/// caller can keep the partition's current settings and say so, never replaced by a default.
pub fn log_config(
    overrides: &BTreeMap<String, String>,
    broker_overrides: &BTreeMap<String, String>,
) -> Result<LogConfig, ConfigError> {
    let resolver = Resolver {
        overrides,
        broker_overrides,
    };
    let config = LogConfig {
        segment_bytes: resolver.unsigned("segment.bytes")?,
        segment_ms: resolver.millis("segment.ms", -1)?,
        retention_ms: resolver.millis("retention.ms", -1)?,
        retention_bytes: match resolver.int("retention.bytes")? {
            -1 => None,
            _ => Some(resolver.unsigned("retention.bytes")?),
        },
        index_interval_bytes: narrow(
            "index.interval.bytes",
            resolver.unsigned("index.interval.bytes")?,
        )?,
        max_message_bytes: narrow("max.message.bytes", resolver.unsigned("max.message.bytes")?)?,
        flush: resolver.flush()?,
        message_timestamp_type: resolver.timestamp_type()?,
        message_timestamp_before_max: resolver
            .millis("message.timestamp.before.max.ms", i64::MAX)?,
        message_timestamp_after_max: resolver.millis("message.timestamp.after.max.ms", i64::MAX)?,
        ..LogConfig::default()
    };
    assert!(config.segment_bytes >= SEGMENT_BYTES_MIN, "table bound");
    assert!(
        config.max_message_bytes as usize <= BATCH_SIZE_MAX,
        "table bound"
    );
    Ok(config)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_pass_their_own_checks() {
        for def in TOPIC_CONFIGS.iter().chain(BROKER_CONFIGS) {
            assert_eq!(
                parse_value(def, &def.default_value()),
                Ok(def.default_typed()),
                "{}",
                def.name
            );
        }
    }

    #[test]
    fn names_and_synonyms_are_unique() {
        let mut names = std::collections::HashSet::new();
        for def in TOPIC_CONFIGS.iter().chain(BROKER_CONFIGS) {
            assert!(names.insert(def.name), "{}", def.name);
            assert!(
                def.name == def.broker_synonym || names.insert(def.broker_synonym),
                "{}",
                def.broker_synonym
            );
        }
    }

    #[test]
    fn replication_defaults_match_kafka_and_are_broker_settable() {
        let empty = BTreeMap::new();
        assert_eq!(default_replication_factor(&empty), 1, "Kafka's default");
        let min_isr = topic_config("min.insync.replicas").unwrap();
        assert_eq!(min_isr.default_value(), "1", "Kafka's default");
        let def = topic_config_by_broker_name("default.replication.factor").unwrap();
        assert_eq!(def.default_value(), "1");
        assert!(
            topic_config("default.replication.factor").is_none(),
            "broker only"
        );
        assert!(check_broker_configs(&map(&[("default.replication.factor", "3")])).is_ok());
        assert!(check_broker_configs(&map(&[("default.replication.factor", "0")])).is_err());
        assert!(check_broker_configs(&map(&[("default.replication.factor", "17")])).is_err());
        let three = map(&[("default.replication.factor", "3")]);
        assert_eq!(default_replication_factor(&three), 3);
        let broken = map(&[("default.replication.factor", "x")]);
        assert_eq!(default_replication_factor(&broken), 1);
        let names: Vec<&str> = broker_configs_sorted()
            .iter()
            .map(|def| def.broker_synonym)
            .collect();
        assert!(names.contains(&"default.replication.factor"));
        assert!(names.contains(&"min.insync.replicas"));
        assert!(names.windows(2).all(|pair| pair[0] < pair[1]), "sorted");
    }

    #[test]
    fn the_follower_throttle_is_a_broker_config_off_by_default() {
        let def = topic_config_by_broker_name(FOLLOWER_THROTTLED_RATE).unwrap();
        assert_eq!(def.default_value(), i64::MAX.to_string(), "Kafka's default");
        assert_eq!(config_type(def), ConfigType::Long);
        assert!(
            topic_config(FOLLOWER_THROTTLED_RATE).is_none(),
            "broker only"
        );
        assert_eq!(follower_throttled_rate(&BTreeMap::new()), None);
        let rate = map(&[(FOLLOWER_THROTTLED_RATE, "4194304")]);
        assert!(check_broker_configs(&rate).is_ok());
        assert_eq!(follower_throttled_rate(&rate), Some(4_194_304));
        let off = map(&[(FOLLOWER_THROTTLED_RATE, &i64::MAX.to_string())]);
        assert_eq!(follower_throttled_rate(&off), None);
        for refused in ["0", "-1", "fast"] {
            let bad = map(&[(FOLLOWER_THROTTLED_RATE, refused)]);
            assert!(check_broker_configs(&bad).is_err(), "{refused}");
            assert_eq!(follower_throttled_rate(&bad), None, "{refused}");
        }
    }

    /// One source per default: the table's defaults resolve to exactly the storage's.
    #[test]
    fn no_overrides_resolve_to_the_storage_default() {
        let empty = BTreeMap::new();
        assert_eq!(log_config(&empty, &empty), Ok(LogConfig::default()));
    }

    #[test]
    fn overrides_resolve_typed() {
        let topic = map(&[
            ("segment.bytes", " 8192 "),
            ("retention.ms", "-1"),
            ("retention.bytes", "1000"),
            ("max.message.bytes", "2000000"),
            ("flush.strict", "TRUE"),
            ("message.timestamp.type", "LogAppendTime"),
        ]);
        let broker = map(&[("log.index.interval.bytes", "100"), ("log.roll.ms", "5")]);
        let config = log_config(&topic, &broker).unwrap();
        assert_eq!(config.segment_bytes, 8192);
        assert_eq!(config.retention_ms, None);
        assert_eq!(config.retention_bytes, Some(1000));
        assert_eq!(config.max_message_bytes, 2_000_000);
        assert_eq!(config.index_interval_bytes, 100);
        assert_eq!(config.segment_ms, Some(Duration::from_millis(5)));
        assert_eq!(config.flush, FlushPolicy::Strict);
        assert_eq!(config.message_timestamp_type, TimestampType::LogAppendTime);
        let flush_ms = map(&[("flush.ms", "250")]);
        let config = log_config(&flush_ms, &BTreeMap::new()).unwrap();
        assert_eq!(
            config.flush,
            FlushPolicy::Interval(Duration::from_millis(250))
        );
        let flush_messages = map(&[("flush.messages", "3"), ("flush.ms", "250")]);
        let config = log_config(&flush_messages, &BTreeMap::new()).unwrap();
        assert_eq!(config.flush, FlushPolicy::Messages(3));
    }

    /// A stored value the table refuses is an error, never silently the default.
    #[test]
    fn a_refused_stored_value_is_reported_not_replaced() {
        let topic = map(&[("max.message.bytes", "-5")]);
        assert!(matches!(
            log_config(&topic, &BTreeMap::new()),
            Err(ConfigError::Invalid { .. })
        ));
        let broker = map(&[("log.segment.bytes", "12")]);
        assert!(log_config(&BTreeMap::new(), &broker).is_err());
    }

    #[test]
    fn rejects_unknown_and_out_of_range() {
        assert!(matches!(
            check_topic_configs(&map(&[("retention.ms", "-5")])),
            Err(ConfigError::Invalid { .. })
        ));
        assert!(matches!(
            check_topic_configs(&map(&[("no.such", "1")])),
            Err(ConfigError::Unknown { .. })
        ));
        assert!(check_topic_configs(&map(&[("cleanup.policy", "compact")])).is_err());
        assert!(check_topic_configs(&map(&[("flush.strict", "yes")])).is_err());
        assert!(check_topic_configs(&map(&[("segment.bytes", "4095")])).is_err());
        assert!(check_topic_configs(&map(&[("segment.bytes", "2147483648")])).is_err());
        assert!(check_broker_configs(&map(&[("retention.ms", "5")])).is_err());
        assert!(check_broker_configs(&map(&[("log.retention.ms", "5")])).is_ok());
        let reason = |name: &str, value: &str| match check_topic_configs(&map(&[(name, value)])) {
            Err(ConfigError::Invalid { reason, .. }) => reason,
            other => panic!("{name}={value}: {other:?}"),
        };
        assert_eq!(reason("retention.ms", "soon"), "Not a number of type LONG");
        assert_eq!(reason("segment.bytes", "1e3"), "Not a number of type INT");
        assert_eq!(reason("retention.bytes", "-2"), "Value must be at least -1");
        assert_eq!(
            reason("max.message.bytes", "67108865"),
            "Value must be no more than 67108864"
        );
        assert_eq!(
            reason("message.timestamp.type", "Now"),
            "String must be one of: CreateTime, LogAppendTime"
        );
        let long = "1".repeat(CONFIG_VALUE_LENGTH_MAX + 1);
        assert!(check_topic_configs(&map(&[("retention.ms", long.as_str())])).is_err());
    }

    #[test]
    fn topic_override_beats_broker_beats_default() {
        let mut topic = BTreeMap::new();
        let mut broker = BTreeMap::new();
        let retention = |topic: &BTreeMap<String, String>, broker: &BTreeMap<String, String>| {
            log_config(topic, broker).unwrap().retention_ms
        };
        assert_eq!(
            retention(&topic, &broker),
            Some(Duration::from_millis(604_800_000))
        );
        broker.insert("log.retention.ms".to_owned(), "1000".to_owned());
        assert_eq!(
            retention(&topic, &broker),
            Some(Duration::from_millis(1000))
        );
        topic.insert("retention.ms".to_owned(), "5".to_owned());
        let def = topic_config("retention.ms").unwrap();
        assert_eq!(
            effective(def, &topic, &broker).source,
            ConfigSource::DynamicTopic
        );
        assert_eq!(retention(&topic, &broker), Some(Duration::from_millis(5)));
        topic.insert("flush.strict".to_owned(), " True".to_owned());
        let flush = log_config(&topic, &broker).unwrap().flush;
        assert_eq!(flush, FlushPolicy::Strict);
    }
}
