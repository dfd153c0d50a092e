//! DescribeConfigs (key 32): the configs of topics and of this broker, built from the one config
//! table in `cluster::configs`. Runs on the connection's shard and reads its metadata snapshot
//! only (no other shard is involved).
//!
//! As Kafka's `ConfigHelper.describeConfigs`:
//! - topic (resource type 2): every topic config with its effective value and source
//!   (DYNAMIC_TOPIC_CONFIG 1 for an override, DYNAMIC_DEFAULT_BROKER_CONFIG 3 for a broker-level
//!   override of its broker synonym, DEFAULT_CONFIG 5 otherwise). Synonyms list every level that
//!   has a value, most specific first, the broker levels under the broker config's name. An
//!   invalid name gets INVALID_TOPIC_EXCEPTION, a missing topic UNKNOWN_TOPIC_OR_PARTITION.
//! - broker (type 4) named by our node id: the broker synonyms of the topic configs (writable
//!   dynamic defaults) plus the read-only static broker configs from the running `Config`.
//!   Named "" (the cluster-wide default resource): only the dynamic defaults that are set,
//!   because Kafka reports nothing else there. Another id gets INVALID_REQUEST, as Kafka does.
//! - any other type: INVALID_REQUEST.
//!
//! `configuration_keys` null or empty means every config (Kafka treats both alike). Nothing is
//! sensitive here (no passwords exist), so values are never hidden.
use super::{HandlerError, RequestContext};
use crate::cluster::acls::AclOperation;
use crate::cluster::configs::{
    self, BROKER_READ_ONLY, ConfigSource, ConfigType, TopicConfigDef, effective,
};
use crate::cluster::{ClusterMetadata, TopicMetadata, controller, topic_name};
use crate::config::Config;
use crate::protocol::messages::describe_configs::{
    DescribeConfigsRequest, DescribeConfigsResource, DescribeConfigsResourceResult,
    DescribeConfigsResponse, DescribeConfigsResult, DescribeConfigsSynonym,
};
use crate::protocol::{ApiKey, ErrorCode, StrBytes};
use std::collections::BTreeMap;

pub const API_KEY: ApiKey = ApiKey::DescribeConfigs;
pub const VERSION_MIN: i16 = 1;
pub const VERSION_MAX: i16 = 4;

/// Kafka's `ConfigResource.Type` numbers.
pub const RESOURCE_TYPE_TOPIC: i8 = 2;
pub const RESOURCE_TYPE_BROKER: i8 = 4;

/// One described config, before it is put in a version's wire shape (`CreateTopics` v5+ reports
/// the same entries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    pub value: String,
    pub source: ConfigSource,
    pub read_only: bool,
    pub config_type: ConfigType,
    pub documentation: Option<&'static str>,
    /// (name, value, source), most specific first.
    pub synonyms: Vec<(String, String, ConfigSource)>,
}

/// # Errors
/// None of its own: every problem is a per-resource error code.
/// # Panics
/// When dispatched for another API key (a registry error).
#[allow(clippy::unused_async)] // the registry awaits every handler
pub async fn handle(
    ctx: &mut RequestContext,
    request: DescribeConfigsRequest,
) -> Result<DescribeConfigsResponse, HandlerError> {
    assert_eq!(ctx.api_key, API_KEY);
    let metadata = controller::metadata(&ctx.shard);
    let config = ctx.shard.config();
    let shape = Shape {
        synonyms: request.include_synonyms,
        // v1-2 have no documentation field; the codec skips it, but keep the intent explicit.
        documentation: request.include_documentation && ctx.api_version >= 3,
    };
    let results = request
        .resources
        .into_iter()
        .map(|resource| {
            let entries = ctx
                .authorize_config(
                    AclOperation::DescribeConfigs,
                    resource.resource_type,
                    &resource.resource_name,
                )
                .and_then(|()| entries_of(&metadata, config, &resource));
            result(resource, entries, shape)
        })
        .collect();
    Ok(DescribeConfigsResponse {
        throttle_time_ms: 0,
        results,
    })
}

/// What the request asked to include.
#[derive(Debug, Clone, Copy)]
struct Shape {
    synonyms: bool,
    documentation: bool,
}

/// A refusal for one resource: the code and Kafka's kind of message.
type Refusal = (ErrorCode, String);

fn entries_of(
    metadata: &ClusterMetadata,
    config: &Config,
    resource: &DescribeConfigsResource,
) -> Result<Vec<ConfigEntry>, Refusal> {
    let name = resource.resource_name.as_str();
    match resource.resource_type {
        RESOURCE_TYPE_TOPIC => {
            if let Err(error) = topic_name::validate(name) {
                return Err((ErrorCode::InvalidTopicException, error.to_string()));
            }
            let topic = metadata.topic(name).ok_or_else(|| {
                (
                    ErrorCode::UnknownTopicOrPartition,
                    format!("Topic {name} does not exist."),
                )
            })?;
            Ok(topic_entries(topic, &metadata.broker_configs))
        }
        RESOURCE_TYPE_BROKER => {
            if name.is_empty() {
                Ok(broker_default_entries(&metadata.broker_configs))
            } else if name == config.node_id.to_string() {
                Ok(broker_entries(config, &metadata.broker_configs))
            } else {
                Err((
                    ErrorCode::InvalidRequest,
                    format!(
                        "Unexpected broker id, expected {} or empty string, but received {name}",
                        config.node_id
                    ),
                ))
            }
        }
        other => Err((
            ErrorCode::InvalidRequest,
            format!("Unsupported resource type {other}"),
        )),
    }
}

fn result(
    resource: DescribeConfigsResource,
    entries: Result<Vec<ConfigEntry>, Refusal>,
    shape: Shape,
) -> DescribeConfigsResult {
    let entries = match entries {
        Ok(entries) => entries,
        Err((error_code, message)) => {
            return DescribeConfigsResult {
                error_code,
                error_message: Some(StrBytes::from(message)),
                resource_type: resource.resource_type,
                resource_name: resource.resource_name,
                configs: Vec::new(),
            };
        }
    };
    let wanted = |name: &str| match &resource.configuration_keys {
        Some(keys) if !keys.is_empty() => keys.iter().any(|key| key.as_str() == name),
        _ => true,
    };
    let configs = entries
        .into_iter()
        .filter(|entry| wanted(&entry.name))
        .map(|entry| wire_entry(entry, shape))
        .collect();
    DescribeConfigsResult {
        error_code: ErrorCode::None,
        error_message: None,
        resource_type: resource.resource_type,
        resource_name: resource.resource_name,
        configs,
    }
}

fn wire_entry(entry: ConfigEntry, shape: Shape) -> DescribeConfigsResourceResult {
    let synonyms = if shape.synonyms {
        entry
            .synonyms
            .into_iter()
            .map(|(name, value, source)| DescribeConfigsSynonym {
                name: StrBytes::from(name),
                value: Some(StrBytes::from(value)),
                source: source as i8,
            })
            .collect()
    } else {
        Vec::new()
    };
    DescribeConfigsResourceResult {
        name: StrBytes::from(entry.name),
        value: Some(StrBytes::from(entry.value)),
        read_only: entry.read_only,
        config_source: entry.source as i8,
        is_sensitive: false,
        synonyms,
        config_type: entry.config_type as i8,
        documentation: if shape.documentation {
            entry.documentation.map(StrBytes::from_static)
        } else {
            None
        },
    }
}

/// Every topic config of `topic`, in name order, with its effective value and synonyms.
///
/// # Panics
/// Never: every config has at least its default as a synonym (asserted).
#[must_use]
pub fn topic_entries(
    topic: &TopicMetadata,
    broker_overrides: &BTreeMap<String, String>,
) -> Vec<ConfigEntry> {
    configs::topic_configs_sorted_by(|def| def.name)
        .into_iter()
        .map(|def| {
            let resolved = effective(def, &topic.configs, broker_overrides);
            let mut synonyms = Vec::with_capacity(3);
            if let Some(value) = topic.configs.get(def.name) {
                synonyms.push((
                    def.name.to_owned(),
                    value.clone(),
                    ConfigSource::DynamicTopic,
                ));
            }
            synonyms.extend(broker_synonyms(def, broker_overrides));
            assert!(!synonyms.is_empty(), "the default is always a synonym");
            ConfigEntry {
                name: def.name.to_owned(),
                value: resolved.value,
                source: resolved.source,
                read_only: false,
                config_type: configs::config_type(def),
                documentation: Some(def.doc),
                synonyms,
            }
        })
        .collect()
}

/// The broker-level synonyms of `def`: its dynamic default when set, then the built-in default.
fn broker_synonyms(
    def: &TopicConfigDef,
    broker_overrides: &BTreeMap<String, String>,
) -> Vec<(String, String, ConfigSource)> {
    let mut synonyms = Vec::with_capacity(2);
    if let Some(value) = broker_overrides.get(def.broker_synonym) {
        synonyms.push((
            def.broker_synonym.to_owned(),
            value.clone(),
            ConfigSource::DynamicDefaultBroker,
        ));
    }
    synonyms.push((
        def.broker_synonym.to_owned(),
        def.default_value(),
        ConfigSource::Default,
    ));
    synonyms
}

/// The broker resource named by our node id: writable dynamic defaults, then read-only statics.
fn broker_entries(
    config: &Config,
    broker_overrides: &BTreeMap<String, String>,
) -> Vec<ConfigEntry> {
    let mut entries: Vec<ConfigEntry> = configs::broker_configs_sorted()
        .into_iter()
        .map(|def| {
            let synonyms = broker_synonyms(def, broker_overrides);
            let (value, source) = synonyms.first().map_or_else(
                || (def.default_value(), ConfigSource::Default),
                |(_, value, source)| (value.clone(), *source),
            );
            ConfigEntry {
                name: def.broker_synonym.to_owned(),
                value,
                source,
                read_only: false,
                config_type: configs::config_type(def),
                documentation: Some(def.doc),
                synonyms,
            }
        })
        .collect();
    for (name, config_type) in BROKER_READ_ONLY {
        let value = static_value(config, name);
        entries.push(ConfigEntry {
            name: (*name).to_owned(),
            value: value.clone(),
            // Set at start-up from the config file, flags or built-in defaults; we cannot tell
            // which, and all of them are static to a running broker.
            source: ConfigSource::StaticBroker,
            read_only: true,
            config_type: *config_type,
            documentation: None,
            synonyms: vec![((*name).to_owned(), value, ConfigSource::StaticBroker)],
        });
    }
    entries
}

/// The cluster-default broker resource (""): only the dynamic defaults that are set.
fn broker_default_entries(broker_overrides: &BTreeMap<String, String>) -> Vec<ConfigEntry> {
    broker_overrides
        .iter()
        .filter_map(|(name, value)| {
            let def = configs::topic_config_by_broker_name(name)?;
            Some(ConfigEntry {
                name: name.clone(),
                value: value.clone(),
                source: ConfigSource::DynamicDefaultBroker,
                read_only: false,
                config_type: configs::config_type(def),
                documentation: Some(def.doc),
                synonyms: vec![(
                    name.clone(),
                    value.clone(),
                    ConfigSource::DynamicDefaultBroker,
                )],
            })
        })
        .collect()
}

/// The value of a read-only broker config in the running configuration.
fn static_value(config: &Config, name: &str) -> String {
    // Kafka's syntax, every listener: `NAME://host:port,...`.
    let listeners = |address: &dyn Fn(&crate::config::ListenerConfig) -> String| {
        let entries: Vec<String> = config
            .listeners
            .iter()
            .map(|listener| format!("{}://{}", listener.name, address(listener)))
            .collect();
        entries.join(",")
    };
    match name {
        "broker.id" | "node.id" => config.node_id.to_string(),
        "listeners" => listeners(&|listener| listener.address.to_string()),
        "advertised.listeners" => listeners(&|listener| {
            format!("{}:{}", listener.advertise.host, listener.advertise.port)
        }),
        "log.dirs" => config.data_dir.display().to_string(),
        // Kafka's num.partitions is the default partition count of a new topic; ours doubles as
        // the auto-creation switch (0 = off), when CreateTopics' default is still 1.
        "num.partitions" => config.auto_create_partitions.max(1).to_string(),
        "auto.create.topics.enable" => (config.auto_create_partitions > 0).to_string(),
        "socket.request.max.bytes" => config.limits.frame_size_max.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may unwrap
mod tests {
    use super::*;
    use crate::protocol::Uuid;

    fn topic(configs: &[(&str, &str)]) -> TopicMetadata {
        TopicMetadata {
            name: "t".to_owned(),
            topic_id: Uuid([1; 16]),
            partition_count: 1,
            configs: configs
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn topic_sources_and_synonyms_follow_precedence() {
        let mut broker = BTreeMap::new();
        broker.insert("log.retention.ms".to_owned(), "1000".to_owned());
        broker.insert("log.segment.bytes".to_owned(), "8192".to_owned());
        let entries = topic_entries(&topic(&[("retention.ms", "5")]), &broker);
        assert_eq!(entries.len(), configs::TOPIC_CONFIGS.len());
        let names: Vec<&str> = entries.iter().map(|entry| entry.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted, "name order");
        let find = |name: &str| entries.iter().find(|entry| entry.name == name).unwrap();
        let retention = find("retention.ms");
        assert_eq!(retention.value, "5");
        assert_eq!(retention.source, ConfigSource::DynamicTopic);
        assert_eq!(retention.synonyms.len(), 3);
        assert_eq!(retention.synonyms[1].0, "log.retention.ms");
        assert_eq!(retention.synonyms[2].2, ConfigSource::Default);
        let segment = find("segment.bytes");
        assert_eq!(segment.value, "8192");
        assert_eq!(segment.source, ConfigSource::DynamicDefaultBroker);
        let flush = find("flush.strict");
        assert_eq!(flush.source, ConfigSource::Default);
        assert_eq!(flush.config_type, ConfigType::Boolean);
    }

    #[test]
    fn cluster_default_lists_only_set_overrides() {
        let mut broker = BTreeMap::new();
        assert!(broker_default_entries(&broker).is_empty());
        broker.insert("log.retention.ms".to_owned(), "1000".to_owned());
        let entries = broker_default_entries(&broker);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].source, ConfigSource::DynamicDefaultBroker);
    }

    #[test]
    fn filter_keeps_requested_keys_and_empty_means_all() {
        let entries = topic_entries(&topic(&[]), &BTreeMap::new());
        let shape = Shape {
            synonyms: false,
            documentation: false,
        };
        let resource = |keys: Option<Vec<StrBytes>>| DescribeConfigsResource {
            resource_type: RESOURCE_TYPE_TOPIC,
            resource_name: StrBytes::from("t"),
            configuration_keys: keys,
        };
        let one = result(
            resource(Some(vec![StrBytes::from("retention.ms")])),
            Ok(entries.clone()),
            shape,
        );
        assert_eq!(one.configs.len(), 1);
        assert!(one.configs[0].synonyms.is_empty());
        assert_eq!(one.configs[0].documentation, None);
        let all = result(resource(Some(Vec::new())), Ok(entries.clone()), shape);
        assert_eq!(all.configs.len(), entries.len());
    }
}
