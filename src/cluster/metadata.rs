//! Cluster metadata: topics (name, id, partition count, config overrides) and broker-level
//! config overrides, as an immutable versioned snapshot, plus the node metadata file that makes it
//! survive restarts.
//!
//! One writer (the controller, on shard 0) derives a new snapshot with the `with_*` functions and
//! persists it before publishing; every shard holds an `Arc` of the latest snapshot read-only.
//! The `with_*` functions are pure so the rules are testable without a runtime.
//!
//! Invariants: topic names are unique and valid; topic ids are unique and non-zero; partition
//! counts are in `1..=PARTITIONS_PER_TOPIC_MAX` and only grow; `version` increases by one per
//! change.
use super::configs::{self, ConfigError};
use super::topic_name::{self, TopicNameError};
use crate::limits::PARTITIONS_PER_TOPIC_MAX;
use crate::protocol::Uuid;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    pub name: String,
    pub topic_id: Uuid,
    pub partition_count: i32,
    /// Topic-level overrides only; see `configs::effective` for resolved values.
    pub configs: BTreeMap<String, String>,
}

/// A snapshot of the cluster's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterMetadata {
    pub version: u64,
    pub cluster_id: String,
    pub topics: BTreeMap<String, Arc<TopicMetadata>>,
    /// Broker-level overrides set with IncrementalAlterConfigs, keyed by broker config name.
    pub broker_configs: BTreeMap<String, String>,
}

/// Why a metadata change is refused. Each maps to one Kafka error code in the handlers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("topic {name:?} already exists")]
    TopicAlreadyExists { name: String },
    #[error("topic {name:?} collides with existing topic {existing:?} ('.' and '_' collide)")]
    TopicCollision { name: String, existing: String },
    #[error("unknown topic {name:?}")]
    UnknownTopic { name: String },
    #[error(transparent)]
    InvalidTopicName(#[from] TopicNameError),
    #[error("invalid partition count {count} (must be 1..={PARTITIONS_PER_TOPIC_MAX})")]
    InvalidPartitionCount { count: i32 },
    #[error("topic {name:?} has {current} partitions; it can only grow, not become {requested}")]
    PartitionsCannotShrink {
        name: String,
        current: i32,
        requested: i32,
    },
    #[error(transparent)]
    InvalidConfig(#[from] ConfigError),
    /// The change could not be made durable (or the controller shard is gone); nothing changed.
    #[error("metadata change not persisted: {reason}")]
    Persist { reason: String },
}

impl ClusterMetadata {
    /// An empty cluster with a fresh random id.
    #[must_use]
    pub fn new_cluster() -> Self {
        Self {
            version: 1,
            cluster_id: cluster_id_from(random_uuid()),
            topics: BTreeMap::new(),
            broker_configs: BTreeMap::new(),
        }
    }

    #[must_use]
    pub fn topic(&self, name: &str) -> Option<&Arc<TopicMetadata>> {
        self.topics.get(name)
    }

    /// Linear in the topic count; callers on hot paths resolve ids once per request.
    #[must_use]
    pub fn topic_by_id(&self, topic_id: Uuid) -> Option<&Arc<TopicMetadata>> {
        if topic_id.is_zero() {
            return None;
        }
        self.topics
            .values()
            .find(|topic| topic.topic_id == topic_id)
    }

    fn next(&self) -> Self {
        let mut next = self.clone();
        next.version = self.version + 1;
        next
    }

    /// Checks a would-be new topic without changing anything (CreateTopics validate_only).
    ///
    /// # Errors
    /// Any [`MetadataError`] the creation would return.
    pub fn check_create_topic(
        &self,
        name: &str,
        partition_count: i32,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), MetadataError> {
        topic_name::validate(name)?;
        if self.topics.contains_key(name) {
            return Err(MetadataError::TopicAlreadyExists {
                name: name.to_owned(),
            });
        }
        let key = topic_name::collision_key(name);
        if let Some(existing) = self
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

    /// A snapshot with the topic added under a new random id.
    ///
    /// # Errors
    /// As [`Self::check_create_topic`].
    pub fn with_topic_created(
        &self,
        name: &str,
        partition_count: i32,
        configs: BTreeMap<String, String>,
    ) -> Result<(Self, Arc<TopicMetadata>), MetadataError> {
        self.check_create_topic(name, partition_count, &configs)?;
        let mut topic_id = random_uuid();
        while topic_id.is_zero() || self.topic_by_id(topic_id).is_some() {
            topic_id = random_uuid();
        }
        let topic = Arc::new(TopicMetadata {
            name: name.to_owned(),
            topic_id,
            partition_count,
            configs,
        });
        let mut next = self.next();
        next.topics.insert(name.to_owned(), Arc::clone(&topic));
        next.check_invariants();
        Ok((next, topic))
    }

    /// # Errors
    /// `UnknownTopic`.
    pub fn with_topic_deleted(
        &self,
        name: &str,
    ) -> Result<(Self, Arc<TopicMetadata>), MetadataError> {
        let mut next = self.next();
        let topic = next
            .topics
            .remove(name)
            .ok_or_else(|| MetadataError::UnknownTopic {
                name: name.to_owned(),
            })?;
        next.check_invariants();
        Ok((next, topic))
    }

    /// Checks a partition increase without applying it.
    ///
    /// # Errors
    /// `UnknownTopic`, `PartitionsCannotShrink` (also for an equal count, as Kafka does),
    /// `InvalidPartitionCount`.
    pub fn check_partitions(&self, name: &str, count: i32) -> Result<(), MetadataError> {
        let topic = self
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

    /// # Errors
    /// As [`Self::check_partitions`].
    pub fn with_partitions(&self, name: &str, count: i32) -> Result<Self, MetadataError> {
        self.check_partitions(name, count)?;
        let mut next = self.next();
        if let Some(topic) = next.topics.get_mut(name) {
            Arc::make_mut(topic).partition_count = count;
        }
        next.check_invariants();
        Ok(next)
    }

    /// Replaces a topic's overrides (callers merge incremental changes first).
    ///
    /// # Errors
    /// `UnknownTopic`, `InvalidConfig`.
    pub fn with_topic_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
    ) -> Result<Self, MetadataError> {
        if !self.topics.contains_key(name) {
            return Err(MetadataError::UnknownTopic {
                name: name.to_owned(),
            });
        }
        configs::check_topic_configs(&configs)?;
        let mut next = self.next();
        if let Some(topic) = next.topics.get_mut(name) {
            Arc::make_mut(topic).configs = configs;
        }
        next.check_invariants();
        Ok(next)
    }

    /// Replaces the broker-level overrides (keyed by broker synonym names).
    ///
    /// # Errors
    /// `InvalidConfig` for a name that is not a topic config's broker synonym or a bad value.
    pub fn with_broker_configs(
        &self,
        broker_configs: BTreeMap<String, String>,
    ) -> Result<Self, MetadataError> {
        for (name, value) in &broker_configs {
            let def = configs::topic_config_by_broker_name(name)
                .ok_or_else(|| ConfigError::Unknown { name: name.clone() })?;
            configs::check_value(def, value)?;
        }
        let mut next = self.next();
        next.broker_configs = broker_configs;
        Ok(next)
    }

    /// # Panics
    /// When an invariant in the module docs is broken (a programmer error).
    pub fn check_invariants(&self) {
        let mut ids = std::collections::HashSet::new();
        for (name, topic) in &self.topics {
            assert_eq!(name, &topic.name, "topic keyed under another name");
            assert!(!topic.topic_id.is_zero(), "topic {name} has the zero id");
            assert!(
                ids.insert(topic.topic_id),
                "duplicate topic id {:?}",
                topic.topic_id
            );
            assert!(
                (1..=PARTITIONS_PER_TOPIC_MAX).contains(&topic.partition_count),
                "topic {name} has {} partitions",
                topic.partition_count
            );
        }
    }
}

/// A random (v4) UUID from the kernel's CSPRNG.
#[must_use]
pub fn random_uuid() -> Uuid {
    let mut bytes = [0u8; 16];
    let mut filled = 0;
    // getrandom(2) on a 16-byte buffer returns it whole once the pool is initialised; the loop
    // is bounded in case of EINTR.
    for _ in 0..16 {
        if filled == bytes.len() {
            break;
        }
        let rest = &mut bytes[filled..];
        // SAFETY: `rest` is a valid writable buffer of `rest.len()` bytes.
        let got = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if let Ok(got) = usize::try_from(got) {
            filled += got;
        }
    }
    assert_eq!(filled, bytes.len(), "getrandom failed");
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Uuid(bytes)
}

/// Kafka's cluster id format: the UUID in URL-safe base64 without padding (22 characters).
#[must_use]
pub fn cluster_id_from(uuid: Uuid) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(22);
    let mut bits: u32 = 0;
    let mut bit_count = 0;
    for byte in uuid.0 {
        bits = (bits << 8) | u32::from(byte);
        bit_count += 8;
        while bit_count >= 6 {
            bit_count -= 6;
            out.push(char::from(ALPHABET[((bits >> bit_count) & 0x3f) as usize]));
        }
    }
    if bit_count > 0 {
        out.push(char::from(
            ALPHABET[((bits << (6 - bit_count)) & 0x3f) as usize],
        ));
    }
    out
}

fn uuid_to_hex(uuid: Uuid) -> String {
    format!("{uuid:?}")
}

fn uuid_from_hex(text: &str) -> Option<Uuid> {
    if text.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (index, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(index * 2..index * 2 + 2)?, 16).ok()?;
    }
    Some(Uuid(bytes))
}

/// The on-disk form of the metadata (TOML). Kept separate from the snapshot so the file format
/// can evolve without touching the in-memory types.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct MetadataFile {
    format_version: u32,
    cluster_id: String,
    version: u64,
    #[serde(default)]
    broker_configs: BTreeMap<String, String>,
    #[serde(default)]
    topics: Vec<TopicFile>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct TopicFile {
    name: String,
    topic_id: String,
    partition_count: i32,
    #[serde(default)]
    configs: BTreeMap<String, String>,
}

const FORMAT_VERSION: u32 = 1;

/// Why the node metadata file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MetadataFileError {
    #[error("metadata file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("metadata file {path} is not valid: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// The node metadata file under the data directory.
#[derive(Debug, Clone)]
pub struct MetadataStore {
    path: PathBuf,
}

impl MetadataStore {
    pub const FILE_NAME: &'static str = "cluster-metadata.toml";

    #[must_use]
    pub fn new(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join(Self::FILE_NAME),
        }
    }

    /// Loads the metadata, or a new cluster when there is no file yet (then it is saved).
    ///
    /// Blocking file I/O: runs once at start-up, before the shards start serving.
    ///
    /// # Errors
    /// I/O errors and a file that does not parse or breaks an invariant.
    pub fn load_or_create(&self) -> Result<ClusterMetadata, MetadataFileError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let metadata = ClusterMetadata::new_cluster();
                self.save(&metadata)?;
                return Ok(metadata);
            }
            Err(source) => {
                return Err(MetadataFileError::Io {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        let invalid = |reason: String| MetadataFileError::Invalid {
            path: self.path.clone(),
            reason,
        };
        let file: MetadataFile =
            toml::from_str(&text).map_err(|error| invalid(error.to_string()))?;
        if file.format_version != FORMAT_VERSION {
            return Err(invalid(format!(
                "format_version {} is not {FORMAT_VERSION}",
                file.format_version
            )));
        }
        let mut metadata = ClusterMetadata {
            version: file.version,
            cluster_id: file.cluster_id,
            topics: BTreeMap::new(),
            broker_configs: file.broker_configs,
        };
        for topic in file.topics {
            let topic_id = uuid_from_hex(&topic.topic_id)
                .ok_or_else(|| invalid(format!("topic {} has a bad id", topic.name)))?;
            topic_name::validate(&topic.name).map_err(|error| invalid(error.to_string()))?;
            if !(1..=PARTITIONS_PER_TOPIC_MAX).contains(&topic.partition_count)
                || topic_id.is_zero()
            {
                return Err(invalid(format!("topic {} is out of bounds", topic.name)));
            }
            let entry = TopicMetadata {
                name: topic.name.clone(),
                topic_id,
                partition_count: topic.partition_count,
                configs: topic.configs,
            };
            if metadata
                .topics
                .insert(topic.name.clone(), Arc::new(entry))
                .is_some()
            {
                return Err(invalid(format!("topic {} appears twice", topic.name)));
            }
        }
        if metadata.topic_ids_unique() {
            Ok(metadata)
        } else {
            Err(invalid("duplicate topic ids".into()))
        }
    }

    /// Writes the snapshot atomically: temp file, fsync, rename, fsync of the directory.
    ///
    /// Blocking file I/O on the controller's shard: metadata changes are rare admin operations
    /// on a file of a few KiB, and must be durable before they are acknowledged.
    ///
    /// # Errors
    /// I/O errors.
    pub fn save(&self, metadata: &ClusterMetadata) -> Result<(), MetadataFileError> {
        let file = MetadataFile {
            format_version: FORMAT_VERSION,
            cluster_id: metadata.cluster_id.clone(),
            version: metadata.version,
            broker_configs: metadata.broker_configs.clone(),
            topics: metadata
                .topics
                .values()
                .map(|topic| TopicFile {
                    name: topic.name.clone(),
                    topic_id: uuid_to_hex(topic.topic_id),
                    partition_count: topic.partition_count,
                    configs: topic.configs.clone(),
                })
                .collect(),
        };
        let io = |source| MetadataFileError::Io {
            path: self.path.clone(),
            source,
        };
        let text = toml::to_string(&file).map_err(|error| MetadataFileError::Invalid {
            path: self.path.clone(),
            reason: error.to_string(),
        })?;
        let temporary = self.path.with_extension("toml.tmp");
        let mut handle = std::fs::File::create(&temporary).map_err(io)?;
        handle.write_all(text.as_bytes()).map_err(io)?;
        handle.sync_all().map_err(io)?;
        drop(handle);
        std::fs::rename(&temporary, &self.path).map_err(io)?;
        if let Some(directory) = self.path.parent() {
            std::fs::File::open(directory)
                .and_then(|dir| dir.sync_all())
                .map_err(io)?;
        }
        Ok(())
    }
}

impl ClusterMetadata {
    fn topic_ids_unique(&self) -> bool {
        let mut ids = std::collections::HashSet::new();
        self.topics.values().all(|topic| ids.insert(topic.topic_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_grow_configure_delete() {
        let metadata = ClusterMetadata::new_cluster();
        let (metadata, topic) = metadata
            .with_topic_created("orders", 3, BTreeMap::new())
            .unwrap();
        assert_eq!(topic.partition_count, 3);
        assert!(matches!(
            metadata.with_topic_created("orders", 1, BTreeMap::new()),
            Err(MetadataError::TopicAlreadyExists { .. })
        ));
        assert!(matches!(
            metadata.with_partitions("orders", 2),
            Err(MetadataError::PartitionsCannotShrink { .. })
        ));
        let metadata = metadata.with_partitions("orders", 6).unwrap();
        assert_eq!(metadata.topic("orders").unwrap().partition_count, 6);
        let mut configs = BTreeMap::new();
        configs.insert("retention.ms".to_owned(), "1000".to_owned());
        let metadata = metadata.with_topic_configs("orders", configs).unwrap();
        assert_eq!(metadata.topic_by_id(topic.topic_id).unwrap().name, "orders");
        let (metadata, _) = metadata.with_topic_deleted("orders").unwrap();
        assert!(metadata.topics.is_empty());
        assert_eq!(metadata.version, 5, "one version per change");
    }

    #[test]
    fn refuses_collisions_and_bad_counts() {
        let (metadata, _) = ClusterMetadata::new_cluster()
            .with_topic_created("a.b", 1, BTreeMap::new())
            .unwrap();
        assert!(matches!(
            metadata.with_topic_created("a_b", 1, BTreeMap::new()),
            Err(MetadataError::TopicCollision { .. })
        ));
        assert!(matches!(
            metadata.with_topic_created("c", 0, BTreeMap::new()),
            Err(MetadataError::InvalidPartitionCount { count: 0 })
        ));
    }

    #[test]
    fn file_round_trip() {
        let directory = tempfile::tempdir().unwrap();
        let store = MetadataStore::new(directory.path());
        let created = store.load_or_create().unwrap();
        let mut configs = BTreeMap::new();
        configs.insert("segment.bytes".to_owned(), "65536".to_owned());
        let (metadata, _) = created.with_topic_created("t", 4, configs).unwrap();
        let mut broker = BTreeMap::new();
        broker.insert("log.retention.ms".to_owned(), "60000".to_owned());
        let metadata = metadata.with_broker_configs(broker).unwrap();
        store.save(&metadata).unwrap();
        assert_eq!(store.load_or_create().unwrap(), metadata);
    }

    #[test]
    fn cluster_id_is_22_url_safe_characters() {
        let id = cluster_id_from(Uuid([0xff; 16]));
        assert_eq!(id.len(), 22);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(random_uuid(), random_uuid());
    }
}
