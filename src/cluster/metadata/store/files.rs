//! Bounded blocking reads and writes of the pre-log files, and the TOML file of brokers
//! before the records. Start-up only (blocking I/O, once, before any shard serves).
use super::*;

/// The whole file, `None` when it does not exist; refused when over the snapshot bound.
pub(super) fn read_bounded(path: &Path) -> Result<Option<Vec<u8>>, MetadataFileError> {
    let io = |source| MetadataFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(io(source)),
    };
    let mut bytes = Vec::new();
    let bound = u64::try_from(METADATA_SNAPSHOT_SIZE_MAX).unwrap_or(u64::MAX);
    file.take(bound + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() > METADATA_SNAPSHOT_SIZE_MAX {
        return Err(MetadataFileError::TooLarge {
            size: bytes.len(),
            size_max: METADATA_SNAPSHOT_SIZE_MAX,
        });
    }
    Ok(Some(bytes))
}

/// The blocking twin of `storage::write_atomically`, for start-up only (no runtime yet).
pub(super) fn write_blocking(
    directory: &Path,
    name: &str,
    bytes: &[u8],
) -> Result<(), MetadataFileError> {
    let target = directory.join(name);
    let temporary = directory.join(format!("{name}.tmp"));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| MetadataFileError::Io { path, source }
    };
    let mut file = std::fs::File::create(&temporary).map_err(io(&temporary))?;
    file.write_all(bytes).map_err(io(&temporary))?;
    file.sync_all().map_err(io(&temporary))?;
    drop(file);
    std::fs::rename(&temporary, &target).map_err(io(&target))?;
    sync_directory_blocking(directory)
}

pub(super) fn sync_directory_blocking(directory: &Path) -> Result<(), MetadataFileError> {
    std::fs::File::open(directory)
        .and_then(|handle| handle.sync_all())
        .map_err(|source| MetadataFileError::Io {
            path: directory.to_path_buf(),
            source,
        })
}

/// The TOML file older brokers wrote (read-only here).
#[derive(Debug, serde::Deserialize)]
pub(super) struct LegacyFile {
    format_version: u32,
    cluster_id: String,
    version: u64,
    #[serde(default)]
    broker_configs: BTreeMap<String, String>,
    #[serde(default)]
    topics: Vec<LegacyTopic>,
}

#[derive(Debug, serde::Deserialize)]
pub(super) struct LegacyTopic {
    name: String,
    topic_id: String,
    partition_count: i32,
    #[serde(default)]
    configs: BTreeMap<String, String>,
}

impl LegacyFile {
    /// The same state as records: a snapshot taken at the file's `version`.
    pub(super) fn into_metadata(self) -> Result<ClusterMetadata, LegacyFileError> {
        if self.format_version != LEGACY_FORMAT_VERSION {
            let found = self.format_version;
            return Err(LegacyFileError::FormatVersion { found });
        }
        let length = self.cluster_id.len();
        if length == 0 || length > CLUSTER_ID_LENGTH_MAX {
            return Err(LegacyFileError::ClusterId { length });
        }
        let mut records = Vec::with_capacity(self.topics.len() + 1);
        for topic in self.topics {
            let Some(topic_id) = uuid_from_hex(&topic.topic_id) else {
                let (name, topic_id) = (topic.name, topic.topic_id);
                return Err(LegacyFileError::TopicId { name, topic_id });
            };
            records.push(MetadataRecord::TopicCreated {
                topic_id,
                name: topic.name,
                partition_count: topic.partition_count,
                configs: topic.configs,
            });
        }
        if !self.broker_configs.is_empty() {
            records.push(MetadataRecord::BrokerConfigsSet {
                configs: self.broker_configs,
            });
        }
        ClusterMetadata::restore(self.cluster_id, self.version, &records).map_err(|source| {
            LegacyFileError::Apply {
                source: Box::new(source),
            }
        })
    }
}

/// 32 hex digits, as older brokers wrote topic ids.
pub(super) fn uuid_from_hex(text: &str) -> Option<Uuid> {
    if text.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (index, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(index * 2..index * 2 + 2)?, 16).ok()?;
    }
    Some(Uuid(bytes))
}
