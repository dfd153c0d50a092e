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
//!
//! ```text
//! mod.rs       errors, MetadataStore (commit, commit in entries, gate, pre-log files),
//!              ChangeTurn
//! image.rs     MetadataImage: the metadata log's applier
//! snapshot.rs  the snapshot encoding
//! files.rs     bounded blocking reads and writes, the older brokers' TOML file
//! ```
use super::records::{MetadataRecord, Reader, RecordDecodeError};
use super::{ClusterMetadata, MetadataError};
use crate::cluster::quorum::{
    MetadataApplier, MetadataQuorum, QuorumError, RaftQuorum, SnapshotRejected,
};
use crate::limits::{
    CLUSTER_ID_LENGTH_MAX, METADATA_SNAPSHOT_SIZE_MAX, QUORUM_PROPOSAL_RECORDS_MAX,
    QUORUM_PROPOSAL_SIZE_MAX,
};
use crate::protocol::Uuid;
use crate::storage::{StorageError, write_atomically};
use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

mod files;
mod image;
mod snapshot;
#[cfg(test)]
mod tests;

/// Splits encoded records, in order, into proposals of at most
/// `QUORUM_PROPOSAL_RECORDS_MAX` records and `QUORUM_PROPOSAL_SIZE_MAX` bytes (a record is
/// never larger than the latter: `METADATA_RECORD_SIZE_MAX`).
fn split_into_entries(records: Vec<Vec<u8>>) -> Vec<Vec<Vec<u8>>> {
    let mut entries: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut current: Vec<Vec<u8>> = Vec::new();
    let mut size = 0;
    for record in records {
        let full = current.len() == QUORUM_PROPOSAL_RECORDS_MAX
            || size + record.len() > QUORUM_PROPOSAL_SIZE_MAX;
        if full && !current.is_empty() {
            entries.push(std::mem::take(&mut current));
            size = 0;
        }
        size += record.len();
        current.push(record);
    }
    if !current.is_empty() {
        entries.push(current);
    }
    entries
}

use files::*;
pub use image::MetadataImage;
pub use snapshot::{decode_snapshot, encode_snapshot};

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

    /// Proposes `records` as consecutive entries of the metadata log, each within the
    /// proposal limits ([`split_into_entries`]), in order, each waited for. For changes that
    /// need not be atomic and can outgrow one entry: fencing, unfencing or registering a
    /// broker that hosts tens of thousands of partitions writes one record per partition
    /// (Kafka's controller appends such non-atomic results in bounded batches too). Every
    /// prefix of a decided change applies, so a failure part-way leaves a valid state.
    ///
    /// # Errors
    /// As [`Self::commit`], for the first entry that was not committed.
    pub async fn commit_in_entries(
        &self,
        records: &[MetadataRecord],
    ) -> Result<i64, MetadataFileError> {
        let Some(quorum) = &self.quorum else {
            let source = QuorumError::ShutDown;
            return Err(MetadataFileError::Quorum { source });
        };
        let encoded = records.iter().map(MetadataRecord::to_bytes).collect();
        let mut offset = 0;
        for entry in split_into_entries(encoded) {
            offset = quorum
                .propose(entry)
                .await
                .map_err(|source| MetadataFileError::Quorum { source })?;
        }
        Ok(offset)
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
