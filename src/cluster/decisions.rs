//! The controller's decisions: the current metadata and a requested change in, the records
//! that carry it out (or the reason it is refused) out. Pure functions, so every rule is tested
//! without a runtime, and the same code decides on the Raft leader later.
//!
//! This is where policy lives: existing and colliding names, partition growth, config names
//! and values (`cluster::configs`), record size. `ClusterMetadata::apply` checks only that a
//! record fits the state, so records written under older rules still replay.
//!
//! A decision reads one state; the controller (`cluster::controller`, shard 0) runs it under
//! the store's one-change-at-a-time gate against the latest state, so two changes never decide
//! against the same state. Validate-only requests run the same checks on their shard's copy.
//! Will move into `cluster/controller/` when that becomes a directory (CLUSTER.md).
use super::configs::{self, ConfigError};
use super::metadata::{ClusterMetadata, MetadataError, MetadataRecord};
use super::topic_name;
use crate::limits::{METADATA_RECORD_SIZE_MAX, PARTITIONS_PER_TOPIC_MAX};
use crate::protocol::Uuid;
use std::collections::BTreeMap;

/// A change a client asked for, before the controller checked it. Serializable: a broker
/// that is not the active controller forwards it there (KIP-590's role), so every field is
/// plain data.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MetadataChange {
    /// `topic_id` is drawn by the caller (a random v4 UUID); a clash is refused by `apply`.
    CreateTopic {
        name: String,
        topic_id: Uuid,
        partition_count: i32,
        configs: BTreeMap<String, String>,
    },
    DeleteTopic {
        name: String,
    },
    /// Grow the topic to `partition_count` partitions.
    CreatePartitions {
        name: String,
        partition_count: i32,
    },
    /// Replace the topic's overrides (callers merge incremental changes first).
    SetTopicConfigs {
        name: String,
        configs: BTreeMap<String, String>,
    },
    /// Replace the broker-level overrides (keyed by broker synonym names).
    SetBrokerConfigs {
        configs: BTreeMap<String, String>,
    },
}

/// The records that carry out `change` on `current`; none when it changes nothing.
///
/// # Errors
/// Why the change is refused: `TopicAlreadyExists`, `TopicCollision`, `InvalidTopicName`,
/// `InvalidPartitionCount`, `PartitionsCannotShrink`, `UnknownTopic`, `InvalidConfig`,
/// `RecordTooLarge`.
pub fn decide(
    current: &ClusterMetadata,
    change: &MetadataChange,
) -> Result<Vec<MetadataRecord>, MetadataError> {
    let record = match change {
        MetadataChange::CreateTopic {
            name,
            topic_id,
            partition_count,
            configs,
        } => {
            check_create_topic(current, name, *partition_count, configs)?;
            MetadataRecord::TopicCreated {
                topic_id: *topic_id,
                name: name.clone(),
                partition_count: *partition_count,
                configs: configs.clone(),
            }
        }
        MetadataChange::DeleteTopic { name } => MetadataRecord::TopicRemoved {
            topic_id: topic_id_of(current, name)?,
        },
        MetadataChange::CreatePartitions {
            name,
            partition_count,
        } => {
            check_partitions(current, name, *partition_count)?;
            MetadataRecord::PartitionsAdded {
                topic_id: topic_id_of(current, name)?,
                partition_count: *partition_count,
            }
        }
        MetadataChange::SetTopicConfigs { name, configs } => {
            let topic_id = topic_id_of(current, name)?;
            configs::check_topic_configs(configs)?;
            if current
                .topic(name)
                .is_some_and(|topic| topic.configs == *configs)
            {
                return Ok(Vec::new());
            }
            let configs = configs.clone();
            MetadataRecord::TopicConfigsSet { topic_id, configs }
        }
        MetadataChange::SetBrokerConfigs { configs } => {
            check_broker_configs(configs)?;
            if current.broker_configs == *configs {
                return Ok(Vec::new());
            }
            let configs = configs.clone();
            MetadataRecord::BrokerConfigsSet { configs }
        }
    };
    check_record_size(&record)?;
    Ok(vec![record])
}

/// Checks a would-be new topic without deciding anything (CreateTopics `validate_only`).
///
/// # Errors
/// `InvalidTopicName`, `TopicAlreadyExists`, `TopicCollision`, `InvalidPartitionCount`,
/// `InvalidConfig`.
pub fn check_create_topic(
    current: &ClusterMetadata,
    name: &str,
    partition_count: i32,
    configs: &BTreeMap<String, String>,
) -> Result<(), MetadataError> {
    topic_name::validate(name)?;
    if current.topic(name).is_some() {
        return Err(MetadataError::TopicAlreadyExists {
            name: name.to_owned(),
        });
    }
    let key = topic_name::collision_key(name);
    if let Some(existing) = current
        .topics
        .keys()
        .find(|existing| topic_name::collision_key(existing) == key)
    {
        return Err(MetadataError::TopicCollision {
            name: name.to_owned(),
            existing: existing.clone(),
        });
    }
    if !(1..=PARTITIONS_PER_TOPIC_MAX).contains(&partition_count) {
        return Err(MetadataError::InvalidPartitionCount {
            count: partition_count,
        });
    }
    configs::check_topic_configs(configs)?;
    Ok(())
}

/// Checks a partition increase without deciding anything (CreatePartitions `validate_only`).
///
/// # Errors
/// `UnknownTopic`, `PartitionsCannotShrink` (also for an equal count, as Kafka does),
/// `InvalidPartitionCount`.
pub fn check_partitions(
    current: &ClusterMetadata,
    name: &str,
    count: i32,
) -> Result<(), MetadataError> {
    let topic = current
        .topic(name)
        .ok_or_else(|| MetadataError::UnknownTopic {
            name: name.to_owned(),
        })?;
    if count <= topic.partition_count {
        return Err(MetadataError::PartitionsCannotShrink {
            name: name.to_owned(),
            current: topic.partition_count,
            requested: count,
        });
    }
    if count > PARTITIONS_PER_TOPIC_MAX {
        return Err(MetadataError::InvalidPartitionCount { count });
    }
    Ok(())
}

/// Every name must be a topic config's broker synonym with a valid value.
///
/// # Errors
/// `InvalidConfig`.
pub fn check_broker_configs(configs: &BTreeMap<String, String>) -> Result<(), MetadataError> {
    for (name, value) in configs {
        let def = configs::topic_config_by_broker_name(name)
            .ok_or_else(|| ConfigError::Unknown { name: name.clone() })?;
        configs::check_value(def, value)?;
    }
    Ok(())
}

fn topic_id_of(current: &ClusterMetadata, name: &str) -> Result<Uuid, MetadataError> {
    current
        .topic(name)
        .map(|topic| topic.topic_id)
        .ok_or_else(|| MetadataError::UnknownTopic {
            name: name.to_owned(),
        })
}

fn check_record_size(record: &MetadataRecord) -> Result<(), MetadataError> {
    let size = record.encoded_size();
    if size > METADATA_RECORD_SIZE_MAX {
        return Err(MetadataError::RecordTooLarge {
            size,
            size_max: METADATA_RECORD_SIZE_MAX,
        });
    }
    Ok(())
}

/// The decisions as methods of the state, for handlers that check (validate-only) or preview
/// a change on their shard's copy.
impl ClusterMetadata {
    /// The state `change` would lead to: [`decide`], then [`ClusterMetadata::apply_all`].
    ///
    /// # Errors
    /// As [`decide`] and `apply`.
    pub fn with_change(&self, change: &MetadataChange) -> Result<Self, MetadataError> {
        self.apply_all(&decide(self, change)?)
    }

    /// # Errors
    /// As [`check_create_topic`].
    pub fn check_create_topic(
        &self,
        name: &str,
        partition_count: i32,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), MetadataError> {
        check_create_topic(self, name, partition_count, configs)
    }

    /// # Errors
    /// As [`check_partitions`].
    pub fn check_partitions(&self, name: &str, count: i32) -> Result<(), MetadataError> {
        check_partitions(self, name, count)
    }

    /// The state with the topic's overrides replaced (validate-only preview).
    ///
    /// # Errors
    /// `UnknownTopic`, `InvalidConfig`.
    pub fn with_topic_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
    ) -> Result<Self, MetadataError> {
        let name = name.to_owned();
        self.with_change(&MetadataChange::SetTopicConfigs { name, configs })
    }

    /// The state with the broker overrides replaced (validate-only preview).
    ///
    /// # Errors
    /// `InvalidConfig`.
    pub fn with_broker_configs(
        &self,
        configs: BTreeMap<String, String>,
    ) -> Result<Self, MetadataError> {
        self.with_change(&MetadataChange::SetBrokerConfigs { configs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(name: &str, partition_count: i32, id_byte: u8) -> MetadataChange {
        MetadataChange::CreateTopic {
            name: name.into(),
            topic_id: Uuid([id_byte; 16]),
            partition_count,
            configs: BTreeMap::new(),
        }
    }

    fn one(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    fn empty() -> ClusterMetadata {
        ClusterMetadata::empty("cluster".into())
    }

    #[test]
    fn create_grow_configure_delete() {
        let state = empty().with_change(&create("orders", 3, 1)).unwrap();
        let topic = state.topic("orders").unwrap();
        assert_eq!(topic.partition_count, 3);
        assert!(matches!(
            state.with_change(&create("orders", 1, 2)),
            Err(MetadataError::TopicAlreadyExists { .. })
        ));
        let grow = |partition_count| MetadataChange::CreatePartitions {
            name: "orders".into(),
            partition_count,
        };
        assert!(matches!(
            state.with_change(&grow(2)),
            Err(MetadataError::PartitionsCannotShrink { .. })
        ));
        let state = state.with_change(&grow(6)).unwrap();
        assert_eq!(state.topic("orders").unwrap().partition_count, 6);
        let state = state
            .with_topic_configs("orders", one(&[("retention.ms", "1000")]))
            .unwrap();
        assert_eq!(state.topic_by_id(topic.topic_id).unwrap().name, "orders");
        let delete = MetadataChange::DeleteTopic {
            name: "orders".into(),
        };
        let records = decide(&state, &delete).unwrap();
        assert_eq!(
            records,
            vec![MetadataRecord::TopicRemoved {
                topic_id: topic.topic_id
            }]
        );
        let state = state.apply_all(&records).unwrap();
        assert!(state.topics.is_empty());
        assert_eq!(state.version, 4, "one version per record");
        assert!(matches!(
            state.with_change(&delete),
            Err(MetadataError::UnknownTopic { .. })
        ));
    }

    #[test]
    fn refuses_collisions_bad_counts_and_bad_configs() {
        let state = empty().with_change(&create("a.b", 1, 1)).unwrap();
        assert!(matches!(
            state.with_change(&create("a_b", 1, 2)),
            Err(MetadataError::TopicCollision { .. })
        ));
        assert!(matches!(
            state.with_change(&create("c", 0, 2)),
            Err(MetadataError::InvalidPartitionCount { count: 0 })
        ));
        assert!(matches!(
            state.with_topic_configs("a.b", one(&[("no.such.config", "1")])),
            Err(MetadataError::InvalidConfig(ConfigError::Unknown { .. }))
        ));
        assert!(matches!(
            state.with_broker_configs(one(&[("retention.ms", "1")])),
            Err(MetadataError::InvalidConfig(ConfigError::Unknown { .. })),
        ));
        let state = state
            .with_broker_configs(one(&[("log.retention.ms", "60000")]))
            .unwrap();
        assert_eq!(state.version, 2);
    }

    #[test]
    fn a_change_that_changes_nothing_writes_no_record() {
        let configs = one(&[("retention.ms", "1000")]);
        let state = empty().with_change(&create("t", 1, 1)).unwrap();
        let state = state.with_topic_configs("t", configs.clone()).unwrap();
        let again = MetadataChange::SetTopicConfigs {
            name: "t".into(),
            configs,
        };
        assert_eq!(decide(&state, &again).unwrap(), Vec::new());
        let brokers = MetadataChange::SetBrokerConfigs {
            configs: BTreeMap::new(),
        };
        assert_eq!(decide(&state, &brokers).unwrap(), Vec::new());
    }

    #[test]
    fn a_clashing_topic_id_is_refused_by_apply() {
        let state = empty().with_change(&create("a", 1, 1)).unwrap();
        assert!(matches!(
            state.with_change(&create("b", 1, 1)),
            Err(MetadataError::TopicIdTaken { .. })
        ));
    }
}
