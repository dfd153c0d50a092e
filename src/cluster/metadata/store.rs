//! The metadata snapshot encoding and the controller's handle on the metadata log: the
//! log's applier ([`MetadataImage`]), the commit of a change's records through the Raft node
//! on shard 0 ([`MetadataStore::commit`]), the gate that lets one change at a time through
//! the controller, and the pre-log files of older brokers (read once to upgrade).
//!
//! ```text
//! snapshot encoding (integers big-endian)
//! [magic:8 "ringmeta"][format_version:u32 = 1][version:u64][cluster_id:str]
//! [record_count:u32] record_count × [length:u32][record]
//! [crc32c:u32 of every byte before it]
//! ```
//! The records are [`ClusterMetadata::snapshot_records`] (registrations, producer-id blocks,
//! one `TopicCreated` per topic with its `Partition` records, one `BrokerConfigsSet`) in
//! `records.rs`'s encoding; `version` is the metadata version the state stands at. The whole
//! is bounded by `METADATA_SNAPSHOT_SIZE_MAX` and checked by its CRC before any record is
//! read, so damage or a foreign file is refused rather than half-loaded. The encoding is the
//! metadata log's first entry, the log's snapshots (`cluster::quorum` frames them), and the
//! pre-log file `<data>/cluster-metadata.snapshot`.
//!
//! Upgrade: brokers before the metadata log wrote `<data>/cluster-metadata.snapshot`, and
//! before the records `<data>/cluster-metadata.toml` (format 1). When the log has no entry,
//! the broker reads the snapshot file (else the TOML file) without writing, commits its state
//! as the log's first entry, and only then renames the files to `*.migrated`: a crash before
//! the commit leaves them in charge. `load_or_create` and `save` are the pre-log read/write
//! path, kept for the format's tests.
//!
//! Start-up I/O is blocking (once, before any shard serves: on `main`, and on shard 0 for the
//! rename); commits run on the controller's shard, shard 0.
use super::records::{MetadataRecord, Reader, RecordDecodeError};
use super::{ClusterMetadata, MetadataError};
use crate::cluster::quorum::{
    MetadataApplier, MetadataQuorum, QuorumError, RaftQuorum, SnapshotRejected,
};
use crate::limits::{CLUSTER_ID_LENGTH_MAX, METADATA_SNAPSHOT_SIZE_MAX};
use crate::protocol::Uuid;
use crate::storage::{StorageError, write_atomically};
use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

const MAGIC: &[u8; 8] = b"ringmeta";
const FORMAT_VERSION: u32 = 1;
/// The format version of the TOML file older brokers wrote.
const LEGACY_FORMAT_VERSION: u32 = 1;
/// What the pre-log files are renamed to once the metadata log holds their state.
pub const MIGRATED_SUFFIX: &str = ".migrated";

/// Why the metadata file cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum MetadataFileError {
    #[error("metadata file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The per-change atomic write failed (the old snapshot is intact unless it was renamed).
    #[error("writing the metadata snapshot: {source}")]
    Write { source: StorageError },
    #[error("metadata snapshot {path} is not valid: {source}")]
    Snapshot {
        path: PathBuf,
        source: SnapshotDecodeError,
    },
    #[error("metadata file {path} (written by an older broker) is not valid: {source}")]
    Legacy {
        path: PathBuf,
        source: LegacyFileError,
    },
    #[error("metadata snapshot of {size} bytes exceeds the limit of {size_max} bytes")]
    TooLarge { size: usize, size_max: usize },
    /// The metadata log did not commit the change (no leader, timeout, shutting down).
    #[error("metadata log: {source}")]
    Quorum { source: QuorumError },
}

/// What is wrong with a snapshot file's bytes.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotDecodeError {
    #[error("{size} bytes exceed the limit of {size_max}")]
    TooLarge { size: usize, size_max: usize },
    #[error("not a ringbroker metadata snapshot (bad magic)")]
    BadMagic,
    #[error("crc32c {stored:#010x} stored, {computed:#010x} computed")]
    Checksum { stored: u32, computed: u32 },
    #[error("format version {found} is not {FORMAT_VERSION}")]
    FormatVersion { found: u32 },
    #[error("cluster id of {length} bytes (must be 1..={CLUSTER_ID_LENGTH_MAX})")]
    ClusterId { length: usize },
    #[error("header: {source}")]
    Header { source: RecordDecodeError },
    #[error("record {index}: {source}")]
    Record {
        index: u32,
        source: RecordDecodeError,
    },
    #[error("the records do not rebuild a valid state: {source}")]
    Apply { source: Box<MetadataError> },
}

/// What is wrong with the TOML file of an older broker.
#[derive(Debug, thiserror::Error)]
pub enum LegacyFileError {
    #[error(transparent)]
    Parse(#[from] toml::de::Error),
    #[error("format_version {found} is not {LEGACY_FORMAT_VERSION}")]
    FormatVersion { found: u32 },
    #[error("cluster id of {length} bytes (must be 1..={CLUSTER_ID_LENGTH_MAX})")]
    ClusterId { length: usize },
    #[error("topic {name:?} has a malformed id {topic_id:?}")]
    TopicId { name: String, topic_id: String },
    #[error("the topics do not form a valid state: {source}")]
    Apply { source: Box<MetadataError> },
}

/// The metadata log's handle on the controller shard (and the pre-log files of this node),
/// and the one-change-at-a-time gate. Lives on the controller shard; clones share the gate
/// and the quorum.
#[derive(Clone)]
pub struct MetadataStore {
    directory: PathBuf,
    /// A bounded(1) channel used as an async lock: a change holds the token from reading the
    /// current state until its result is installed, across the `.await` of the commit.
    gate: (flume::Sender<()>, flume::Receiver<()>),
    /// The Raft node of the metadata log (shard 0 of a running broker; `None` in unit tests
    /// of the file formats).
    quorum: Option<Rc<RaftQuorum<MetadataImage>>>,
}

impl std::fmt::Debug for MetadataStore {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("MetadataStore")
            .field("directory", &self.directory)
            .field("quorum", &self.quorum.as_ref().map(|q| q.status()))
            .finish_non_exhaustive()
    }
}

/// The applied state of the metadata log: what [`RaftQuorum`] applies committed entries to.
///
/// An entry is either one full state — a single record in the snapshot file's encoding
/// ([`encode_snapshot`], recognised by its magic), the log's first entry, which carries the
/// cluster id and version (a new cluster's, or an upgraded data dir's) — or metadata records
/// ([`MetadataRecord::to_bytes`]), applied whole with [`ClusterMetadata::apply_all`]. A
/// second full state, or records that do not decode or apply, are skipped with an error log:
/// every broker skips them alike, so states never diverge. Its quorum snapshot is the same
/// encoding. Runs on the quorum's runtime (shard 0).
#[derive(Debug, Default)]
pub struct MetadataImage {
    current: Option<Arc<ClusterMetadata>>,
}

impl MetadataImage {
    /// The applied state; `None` until the first (full-state) entry is applied.
    #[must_use]
    pub fn current(&self) -> Option<Arc<ClusterMetadata>> {
        self.current.clone()
    }
}

/// `current` after an entry's records, or `None` (logged) when they do not decode or apply.
fn apply_records(current: &ClusterMetadata, records: &[Vec<u8>]) -> Option<ClusterMetadata> {
    let decoded: Result<Vec<_>, _> = records.iter().map(|r| MetadataRecord::decode(r)).collect();
    let decoded = decoded
        .map_err(|error| tracing::error!(%error, "metadata entry skipped: bad record"))
        .ok()?;
    current
        .apply_all(&decoded)
        .map_err(|error| tracing::error!(%error, "metadata entry skipped: does not apply"))
        .ok()
}

impl MetadataApplier for MetadataImage {
    fn apply(&mut self, offset: i64, records: &[Vec<u8>]) {
        let next = match (&self.current, records) {
            (None, [only]) if only.starts_with(MAGIC) => decode_snapshot(only)
                .map_err(|error| tracing::error!(offset, %error, "metadata bootstrap skipped"))
                .ok(),
            (Some(_), [only]) if only.starts_with(MAGIC) => {
                tracing::warn!(offset, "second metadata bootstrap entry skipped");
                None
            }
            (Some(current), records) => apply_records(current, records),
            (None, _) => {
                tracing::error!(
                    offset,
                    "metadata records before the bootstrap entry skipped"
                );
                None
            }
        };
        if let Some(next) = next {
            self.current = Some(Arc::new(next));
        }
    }

    fn snapshot(&self) -> Vec<u8> {
        let Some(current) = &self.current else {
            return Vec::new();
        };
        encode_snapshot(current).unwrap_or_else(|error| {
            tracing::error!(%error, "metadata snapshot not encoded");
            Vec::new()
        })
    }

    fn restore(&mut self, _offset: i64, snapshot: &[u8]) -> Result<(), SnapshotRejected> {
        if snapshot.is_empty() {
            self.current = None;
            return Ok(());
        }
        let state = decode_snapshot(snapshot).map_err(|error| SnapshotRejected {
            reason: error.to_string(),
        })?;
        self.current = Some(Arc::new(state));
        Ok(())
    }
}

/// One change's exclusive turn; dropping it (also when the change's task is dropped) lets the
/// next change in.
#[derive(Debug)]
pub struct ChangeTurn {
    release: flume::Receiver<()>,
}

impl Drop for ChangeTurn {
    fn drop(&mut self) {
        let released = self.release.try_recv();
        debug_assert!(released.is_ok(), "metadata change gate out of balance");
    }
}

impl MetadataStore {
    pub const FILE_NAME: &'static str = "cluster-metadata.snapshot";
    /// What brokers before the record log wrote; read once to upgrade, then removed.
    pub const LEGACY_FILE_NAME: &'static str = "cluster-metadata.toml";

    /// The pre-log files of `data_dir` only (start-up, unit tests).
    #[must_use]
    pub fn new(data_dir: &Path) -> Self {
        Self {
            directory: data_dir.to_path_buf(),
            gate: flume::bounded(1),
            quorum: None,
        }
    }

    /// The controller shard's store: changes commit through `quorum`.
    #[must_use]
    pub fn with_quorum(data_dir: &Path, quorum: Rc<RaftQuorum<MetadataImage>>) -> Self {
        Self {
            quorum: Some(quorum),
            ..Self::new(data_dir)
        }
    }

    /// The metadata log's Raft node.
    #[must_use]
    pub fn quorum(&self) -> Option<&Rc<RaftQuorum<MetadataImage>>> {
        self.quorum.as_ref()
    }

    /// The state the metadata log has applied.
    #[must_use]
    pub fn applied(&self) -> Option<Arc<ClusterMetadata>> {
        self.quorum.as_ref()?.with_applier(MetadataImage::current)
    }

    /// Proposes `records` as one entry of the metadata log and waits until it is committed
    /// (fsynced on a majority of the voters) and applied here.
    ///
    /// # Errors
    /// `Quorum`: not committed (it may still commit later; the applied state tells).
    pub async fn commit(&self, records: &[MetadataRecord]) -> Result<i64, MetadataFileError> {
        let Some(quorum) = &self.quorum else {
            let source = QuorumError::ShutDown;
            return Err(MetadataFileError::Quorum { source });
        };
        let encoded = records.iter().map(MetadataRecord::to_bytes).collect();
        quorum
            .propose(encoded)
            .await
            .map_err(|source| MetadataFileError::Quorum { source })
    }

    /// The state this node kept before the metadata log: the snapshot file, else an older
    /// broker's TOML file, else `None`. Writes nothing (blocking; start-up only).
    ///
    /// # Errors
    /// I/O errors, a snapshot or TOML file that is invalid (the broker refuses to start rather
    /// than begin a new cluster over it).
    pub fn load_existing(&self) -> Result<Option<ClusterMetadata>, MetadataFileError> {
        let path = self.path();
        if let Some(bytes) = read_bounded(&path)? {
            let metadata = decode_snapshot(&bytes)
                .map_err(|source| MetadataFileError::Snapshot { path, source })?;
            return Ok(Some(metadata));
        }
        self.read_legacy()
    }

    /// Renames the pre-log files away (`<name>.migrated`) once their state is committed as the
    /// log's first entry; until then they win (an interrupted upgrade starts over from them).
    /// Blocking: runs once, at start-up, before the shard serves.
    ///
    /// # Errors
    /// A rename or the directory sync failed.
    pub fn retire_pre_log_files(&self) -> Result<(), MetadataFileError> {
        let mut renamed = false;
        for name in [Self::FILE_NAME, Self::LEGACY_FILE_NAME] {
            let path = self.directory.join(name);
            let target = self.directory.join(format!("{name}{MIGRATED_SUFFIX}"));
            match std::fs::rename(&path, &target) {
                Ok(()) => renamed = true,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(MetadataFileError::Io { path, source }),
            }
        }
        if renamed {
            sync_directory_blocking(&self.directory)?;
        }
        Ok(())
    }

    #[must_use]
    pub fn path(&self) -> PathBuf {
        self.directory.join(Self::FILE_NAME)
    }

    /// Waits until no other change is running, then holds the turn until dropped.
    pub async fn turn(&self) -> ChangeTurn {
        let (lock, release) = self.gate.clone();
        // Both ends live in the store and we hold clones of each, so the send cannot fail.
        let _ = lock.send_async(()).await;
        ChangeTurn { release }
    }

    /// Loads the snapshot; else upgrades an older broker's TOML file; else starts a new
    /// cluster. Creates the data directory. Writes the snapshot when there was none.
    ///
    /// Blocking file I/O: runs once at start-up, before the shards start serving.
    ///
    /// # Errors
    /// I/O errors, a snapshot or TOML file that is invalid.
    pub fn load_or_create(&self) -> Result<ClusterMetadata, MetadataFileError> {
        std::fs::create_dir_all(&self.directory).map_err(|source| MetadataFileError::Io {
            path: self.directory.clone(),
            source,
        })?;
        let path = self.path();
        if let Some(bytes) = read_bounded(&path)? {
            let metadata = decode_snapshot(&bytes)
                .map_err(|source| MetadataFileError::Snapshot { path, source })?;
            // An upgrade that stopped after writing the snapshot: finish it.
            self.remove_legacy()?;
            return Ok(metadata);
        }
        let metadata = match self.read_legacy()? {
            Some(metadata) => {
                tracing::info!(
                    version = metadata.version,
                    topics = metadata.topics.len(),
                    "upgrading {} to {}",
                    Self::LEGACY_FILE_NAME,
                    Self::FILE_NAME
                );
                metadata
            }
            None => ClusterMetadata::new_cluster(),
        };
        write_blocking(
            &self.directory,
            Self::FILE_NAME,
            &encode_snapshot(&metadata)?,
        )?;
        self.remove_legacy()?;
        Ok(metadata)
    }

    /// Makes `metadata` the node's snapshot, atomically and durably.
    ///
    /// # Errors
    /// `TooLarge`, `Write`; the previous snapshot then stays in place.
    pub async fn save(&self, metadata: &ClusterMetadata) -> Result<(), MetadataFileError> {
        let bytes = encode_snapshot(metadata)?;
        write_atomically(&self.directory, Self::FILE_NAME, bytes)
            .await
            .map_err(|source| MetadataFileError::Write { source })
    }

    fn read_legacy(&self) -> Result<Option<ClusterMetadata>, MetadataFileError> {
        let path = self.directory.join(Self::LEGACY_FILE_NAME);
        let Some(bytes) = read_bounded(&path)? else {
            return Ok(None);
        };
        let legacy = |source| MetadataFileError::Legacy {
            path: path.clone(),
            source,
        };
        let text = String::from_utf8_lossy(&bytes);
        let file: LegacyFile = toml::from_str(&text).map_err(|e| legacy(e.into()))?;
        file.into_metadata().map(Some).map_err(legacy)
    }

    fn remove_legacy(&self) -> Result<(), MetadataFileError> {
        let path = self.directory.join(Self::LEGACY_FILE_NAME);
        match std::fs::remove_file(&path) {
            Ok(()) => sync_directory_blocking(&self.directory),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(MetadataFileError::Io { path, source }),
        }
    }
}

/// The snapshot file's bytes for `metadata`.
///
/// # Errors
/// `TooLarge` when they would exceed `METADATA_SNAPSHOT_SIZE_MAX`.
pub fn encode_snapshot(metadata: &ClusterMetadata) -> Result<Vec<u8>, MetadataFileError> {
    let records = metadata.snapshot_records();
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
    out.extend_from_slice(&metadata.version.to_be_bytes());
    put_length(&mut out, metadata.cluster_id.len());
    out.extend_from_slice(metadata.cluster_id.as_bytes());
    put_length(&mut out, records.len());
    for record in &records {
        put_length(&mut out, record.encoded_size());
        record.encode(&mut out);
        if out.len() > METADATA_SNAPSHOT_SIZE_MAX {
            break;
        }
    }
    let size = out.len() + 4;
    if size > METADATA_SNAPSHOT_SIZE_MAX {
        return Err(MetadataFileError::TooLarge {
            size,
            size_max: METADATA_SNAPSHOT_SIZE_MAX,
        });
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    Ok(out)
}

/// A length that fits u32: every length here is bounded by the snapshot size, checked
/// against `METADATA_SNAPSHOT_SIZE_MAX` (≤ u32::MAX) before the file is written.
fn put_length(out: &mut Vec<u8>, length: usize) {
    out.extend_from_slice(&u32::try_from(length).unwrap_or(u32::MAX).to_be_bytes());
}

/// The state a snapshot file's bytes stand for.
///
/// # Errors
/// [`SnapshotDecodeError`]; never panics, whatever the bytes.
pub fn decode_snapshot(bytes: &[u8]) -> Result<ClusterMetadata, SnapshotDecodeError> {
    if bytes.len() > METADATA_SNAPSHOT_SIZE_MAX {
        return Err(SnapshotDecodeError::TooLarge {
            size: bytes.len(),
            size_max: METADATA_SNAPSHOT_SIZE_MAX,
        });
    }
    if !bytes.starts_with(MAGIC) {
        return Err(SnapshotDecodeError::BadMagic);
    }
    let (body, stored) = bytes
        .split_last_chunk::<4>()
        .ok_or(SnapshotDecodeError::BadMagic)?;
    let stored = u32::from_be_bytes(*stored);
    let computed = crc32c::crc32c(body);
    if stored != computed {
        return Err(SnapshotDecodeError::Checksum { stored, computed });
    }
    let header = |source| SnapshotDecodeError::Header { source };
    let mut reader = Reader {
        bytes: body,
        offset: MAGIC.len(),
    };
    let found = reader.u32().map_err(header)?;
    if found != FORMAT_VERSION {
        return Err(SnapshotDecodeError::FormatVersion { found });
    }
    let version = reader.u64().map_err(header)?;
    let cluster_id = reader.string().map_err(header)?;
    if cluster_id.is_empty() || cluster_id.len() > CLUSTER_ID_LENGTH_MAX {
        let length = cluster_id.len();
        return Err(SnapshotDecodeError::ClusterId { length });
    }
    let record_count = reader.u32().map_err(header)?;
    // Not preallocated from `record_count`: each record takes at least 6 bytes, so the loop
    // stops at the first one the file does not hold.
    let mut records = Vec::new();
    for index in 0..record_count {
        let record = reader
            .bytes()
            .and_then(MetadataRecord::decode)
            .map_err(|source| SnapshotDecodeError::Record { index, source })?;
        records.push(record);
    }
    reader.finish().map_err(header)?;
    ClusterMetadata::restore(cluster_id, version, &records).map_err(|source| {
        SnapshotDecodeError::Apply {
            source: Box::new(source),
        }
    })
}

/// The whole file, `None` when it does not exist; refused when over the snapshot bound.
fn read_bounded(path: &Path) -> Result<Option<Vec<u8>>, MetadataFileError> {
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
fn write_blocking(directory: &Path, name: &str, bytes: &[u8]) -> Result<(), MetadataFileError> {
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

fn sync_directory_blocking(directory: &Path) -> Result<(), MetadataFileError> {
    std::fs::File::open(directory)
        .and_then(|handle| handle.sync_all())
        .map_err(|source| MetadataFileError::Io {
            path: directory.to_path_buf(),
            source,
        })
}

/// The TOML file older brokers wrote (read-only here).
#[derive(Debug, serde::Deserialize)]
struct LegacyFile {
    format_version: u32,
    cluster_id: String,
    version: u64,
    #[serde(default)]
    broker_configs: BTreeMap<String, String>,
    #[serde(default)]
    topics: Vec<LegacyTopic>,
}

#[derive(Debug, serde::Deserialize)]
struct LegacyTopic {
    name: String,
    topic_id: String,
    partition_count: i32,
    #[serde(default)]
    configs: BTreeMap<String, String>,
}

impl LegacyFile {
    /// The same state as records: a snapshot taken at the file's `version`.
    fn into_metadata(self) -> Result<ClusterMetadata, LegacyFileError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What the broker before the record log wrote for a topic with an override, a second
    /// topic and one broker override, after four changes (its versions started at 1).
    const LEGACY_TOML: &str = r#"format_version = 1
cluster_id = "q1Sh-9_ISia_aT7Yv2fdvA"
version = 5

[broker_configs]
"log.retention.ms" = "60000"

[[topics]]
name = "orders"
topic_id = "0123456789abcdef0123456789abcdef"
partition_count = 6

[topics.configs]
"retention.ms" = "1000"

[[topics]]
name = "payments"
topic_id = "fedcba9876543210fedcba9876543210"
partition_count = 1
"#;

    fn sample() -> ClusterMetadata {
        let topic_id = Uuid([3; 16]);
        let records = [
            MetadataRecord::TopicCreated {
                topic_id,
                name: "t".into(),
                partition_count: 4,
                configs: [("segment.bytes".to_owned(), "65536".to_owned())].into(),
            },
            MetadataRecord::BrokerConfigsSet {
                configs: [("log.retention.ms".to_owned(), "60000".to_owned())].into(),
            },
        ];
        ClusterMetadata::new_cluster().apply_all(&records).unwrap()
    }

    #[test]
    fn a_new_cluster_is_created_once_and_loads_again() {
        let directory = tempfile::tempdir().unwrap();
        let store = MetadataStore::new(&directory.path().join("data"));
        let created = store.load_or_create().unwrap();
        assert_eq!(created.version, 0);
        assert!(store.path().exists());
        assert_eq!(
            store.load_or_create().unwrap(),
            created,
            "same cluster id after restart"
        );
    }

    #[compio::test]
    async fn a_saved_change_survives_a_restart() {
        let directory = tempfile::tempdir().unwrap();
        let store = MetadataStore::new(directory.path());
        store.load_or_create().unwrap();
        let metadata = sample();
        store.save(&metadata).await.unwrap();
        assert_eq!(store.load_or_create().unwrap(), metadata);
        assert!(
            !directory
                .path()
                .join("cluster-metadata.snapshot.tmp")
                .exists()
        );
    }

    #[test]
    fn an_older_brokers_toml_file_is_upgraded_in_place() {
        let directory = tempfile::tempdir().unwrap();
        let legacy = directory.path().join(MetadataStore::LEGACY_FILE_NAME);
        std::fs::write(&legacy, LEGACY_TOML).unwrap();
        let store = MetadataStore::new(directory.path());
        let metadata = store.load_or_create().unwrap();
        assert_eq!(metadata.cluster_id, "q1Sh-9_ISia_aT7Yv2fdvA");
        assert_eq!(metadata.version, 5, "the version carries over");
        let orders = metadata.topic("orders").unwrap();
        assert_eq!(
            format!("{:?}", orders.topic_id),
            "0123456789abcdef0123456789abcdef"
        );
        assert_eq!(orders.partition_count, 6);
        assert_eq!(orders.configs["retention.ms"], "1000");
        let payments = metadata.topic("payments").unwrap();
        assert_eq!(
            metadata.topic_by_id(payments.topic_id).unwrap().name,
            "payments"
        );
        assert_eq!(metadata.broker_configs["log.retention.ms"], "60000");
        assert!(!legacy.exists(), "the TOML file is replaced");
        assert!(store.path().exists());
        assert_eq!(store.load_or_create().unwrap(), metadata);
    }

    #[test]
    fn an_interrupted_upgrade_keeps_the_snapshot() {
        let directory = tempfile::tempdir().unwrap();
        let store = MetadataStore::new(directory.path());
        let metadata = sample();
        let bytes = encode_snapshot(&metadata).unwrap();
        std::fs::write(store.path(), bytes).unwrap();
        let legacy = directory.path().join(MetadataStore::LEGACY_FILE_NAME);
        std::fs::write(&legacy, LEGACY_TOML).unwrap();
        assert_eq!(store.load_or_create().unwrap(), metadata);
        assert!(!legacy.exists());
    }

    #[test]
    fn invalid_legacy_files_are_refused() {
        let cases = [
            (
                LEGACY_TOML.replace("format_version = 1", "format_version = 2"),
                "FormatVersion",
            ),
            (
                LEGACY_TOML.replace("fedcba9876543210fedcba9876543210", "xyz"),
                "TopicId",
            ),
            (LEGACY_TOML.replace("\"payments\"", "\"orders\""), "Apply"),
            (
                LEGACY_TOML.replace(
                    "fedcba9876543210fedcba9876543210",
                    "0123456789abcdef0123456789abcdef",
                ),
                "Apply",
            ),
            (
                LEGACY_TOML.replace("partition_count = 1", "partition_count = 0"),
                "Apply",
            ),
            (
                LEGACY_TOML.replace("version = 5", "version = \"x\""),
                "Parse",
            ),
        ];
        for (text, expected) in cases {
            let directory = tempfile::tempdir().unwrap();
            let legacy = directory.path().join(MetadataStore::LEGACY_FILE_NAME);
            std::fs::write(&legacy, &text).unwrap();
            let error = MetadataStore::new(directory.path())
                .load_or_create()
                .unwrap_err();
            let MetadataFileError::Legacy { source, .. } = error else {
                panic!("{expected}: {error:?}");
            };
            assert!(
                format!("{source:?}").starts_with(expected),
                "{expected}: {source:?}"
            );
            assert!(legacy.exists(), "a refused file is left for the operator");
        }
    }

    #[test]
    fn damaged_snapshots_are_refused() {
        let metadata = sample();
        let bytes = encode_snapshot(&metadata).unwrap();
        assert_eq!(decode_snapshot(&bytes).unwrap(), metadata);
        for end in 0..bytes.len() {
            assert!(
                decode_snapshot(&bytes[..end]).is_err(),
                "cut at {end} decoded"
            );
        }
        for index in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[index] ^= 0x20;
            assert!(
                decode_snapshot(&flipped).is_err(),
                "flip at {index} decoded"
            );
        }
        assert!(matches!(
            decode_snapshot(b"cluster-metadata"),
            Err(SnapshotDecodeError::BadMagic)
        ));
    }

    #[test]
    fn a_snapshot_stands_for_its_version_not_its_record_count() {
        let metadata = sample().apply(&MetadataRecord::TopicRemoved {
            topic_id: Uuid([3; 16]),
        });
        let metadata = metadata.unwrap();
        assert_eq!(metadata.version, 3);
        let decoded = decode_snapshot(&encode_snapshot(&metadata).unwrap()).unwrap();
        assert_eq!(decoded.version, 3);
        assert!(decoded.topics.is_empty());
    }

    #[test]
    fn brokers_partitions_and_producer_ids_survive_the_snapshot_file() {
        let records = super::super::records::tests::cluster_records();
        // Up to the block: the broker is fenced and unregistered after it.
        let metadata = ClusterMetadata::new_cluster()
            .apply_all(&records[..6])
            .unwrap();
        assert!(metadata.broker(2).is_some_and(|broker| !broker.fenced));
        let decoded = decode_snapshot(&encode_snapshot(&metadata).unwrap()).unwrap();
        assert_eq!(decoded, metadata);
        assert_eq!(decoded.producer_id_next(), 1000);
        // A snapshot written before partition records existed loads with the default.
        let old = decode_snapshot(&encode_snapshot(&sample()).unwrap()).unwrap();
        let topic_id = Uuid([3; 16]);
        assert_eq!(
            old.partition_or_single_node(topic_id, 3, 1),
            Some(super::super::PartitionState::single_node(1))
        );
    }

    #[compio::test]
    async fn the_gate_admits_one_change_at_a_time() {
        let store = MetadataStore::new(Path::new("/nonexistent"));
        let turn = store.turn().await;
        assert!(store.gate.0.is_full(), "a turn holds the token");
        let shared = Rc::new(store.clone());
        drop(turn);
        assert!(
            shared.gate.0.is_empty(),
            "dropping the turn releases it for every clone"
        );
        let _again = shared.turn().await;
        assert!(store.gate.0.is_full());
    }

    #[test]
    fn the_image_applies_a_first_state_then_records_and_snapshots_in_the_file_encoding() {
        let mut image = MetadataImage::default();
        let record = MetadataRecord::TopicRemoved {
            topic_id: Uuid([3; 16]),
        };
        // Records before the first state are skipped: there is nothing to apply them to.
        image.apply(1, &[record.to_bytes()]);
        assert!(image.current().is_none());
        let first = sample();
        image.apply(2, &[encode_snapshot(&first).unwrap()]);
        assert_eq!(
            *image.current().unwrap(),
            first,
            "first state, version kept"
        );
        // A second full state is skipped; so are records that do not decode or apply.
        image.apply(
            3,
            &[encode_snapshot(&ClusterMetadata::new_cluster()).unwrap()],
        );
        image.apply(4, &[vec![0xff, 0, 0]]);
        let unknown = MetadataRecord::TopicRemoved {
            topic_id: Uuid([9; 16]),
        };
        image.apply(5, &[unknown.to_bytes()]);
        assert_eq!(*image.current().unwrap(), first);
        image.apply(6, &[record.to_bytes()]);
        let removed = first.apply(&record).unwrap();
        assert_eq!(*image.current().unwrap(), removed);
        assert_eq!(image.current().unwrap().version, first.version + 1);
        let mut restored = MetadataImage::default();
        restored.restore(6, &image.snapshot()).unwrap();
        assert_eq!(restored.current(), image.current());
        assert!(restored.restore(6, b"not a snapshot").is_err());
        assert!(MetadataImage::default().snapshot().is_empty());
    }

    #[test]
    fn pre_log_files_are_read_without_writing_and_renamed_away() {
        let directory = tempfile::tempdir().unwrap();
        let store = MetadataStore::new(directory.path());
        assert!(store.load_existing().unwrap().is_none());
        std::fs::write(
            directory.path().join(MetadataStore::LEGACY_FILE_NAME),
            LEGACY_TOML,
        )
        .unwrap();
        let legacy = store.load_existing().unwrap().unwrap();
        assert_eq!(legacy.version, 5);
        assert!(!store.path().exists(), "nothing written");
        let state = sample();
        let bytes = encode_snapshot(&state).unwrap();
        write_blocking(directory.path(), MetadataStore::FILE_NAME, &bytes).unwrap();
        assert_eq!(
            store.load_existing().unwrap().unwrap(),
            state,
            "the snapshot wins"
        );
        store.retire_pre_log_files().unwrap();
        assert!(store.load_existing().unwrap().is_none());
        for name in [MetadataStore::FILE_NAME, MetadataStore::LEGACY_FILE_NAME] {
            let migrated = directory.path().join(format!("{name}{MIGRATED_SUFFIX}"));
            assert!(migrated.exists(), "{name}");
        }
        store.retire_pre_log_files().unwrap();
    }
}
