//! The SCRAM credential store as the broker reads it, and the bootstrap file that puts users
//! in a cluster before its first start (`ringbroker user add`, as Kafka's `kafka-storage
//! format --add-scram`).
//!
//! The store is the metadata: `ClusterMetadata` holds every credential (records of type 13,
//! replicated by the metadata log), and each shard reads its published snapshot.
//!
//! Bootstrap: `user add` cannot reach a metadata log that does not exist yet, and must not
//! write into a log the broker later replays (Raft owns that file). So it writes the
//! credential records to `DATA_DIR/scram-credentials.bootstrap`; when the broker starts on a
//! metadata log without its first entry, it applies them to the state it commits as that
//! entry, so the credentials are in the log from its first entry on, on every node that
//! replicates it. The file is renamed `.migrated` once the first entry is committed. A file
//! found when the log already has entries is ignored with a warning: users are then added
//! online with AlterUserScramCredentials.
//!
//! ```text
//! file   [magic:8 = "RBSCRAM1"][count:u32] count × [length:u32][record] [crc32c:u32 of all before]
//! ```
//!
//! Runs on shard 0 at start-up (blocking file I/O, before serving) and in the CLI.
use super::sasl::CredentialLookup;
use crate::cluster::metadata::{
    ClusterMetadata, MetadataError, MetadataRecord, ScramCredential, ScramMechanism,
};
use crate::limits::{METADATA_RECORD_SIZE_MAX, SCRAM_CREDENTIALS_MAX};
use std::io;
use std::path::{Path, PathBuf};

impl CredentialLookup for ClusterMetadata {
    fn credential(&self, user: &str, mechanism: ScramMechanism) -> Option<ScramCredential> {
        self.scram_credential(user, mechanism).cloned()
    }
}

/// The bootstrap file's name in the data dir.
pub const BOOTSTRAP_FILE_NAME: &str = "scram-credentials.bootstrap";
const MAGIC: &[u8; 8] = b"RBSCRAM1";

/// Why the bootstrap file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: not a credential bootstrap file ({reason})")]
    Corrupt { path: PathBuf, reason: &'static str },
    #[error("{path}: a credential does not apply: {source}")]
    Apply {
        path: PathBuf,
        source: MetadataError,
    },
}

/// The bootstrap file of `data_dir`.
#[must_use]
pub fn bootstrap_path(data_dir: &Path) -> PathBuf {
    data_dir.join(BOOTSTRAP_FILE_NAME)
}

/// The credential records in `data_dir`'s bootstrap file; empty when there is none.
///
/// # Errors
/// I/O errors other than not-found, or a corrupt file.
pub fn read_bootstrap(data_dir: &Path) -> Result<Vec<MetadataRecord>, BootstrapError> {
    let path = bootstrap_path(data_dir);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(BootstrapError::Io { path, source }),
    };
    decode_bootstrap(&bytes).map_err(|reason| BootstrapError::Corrupt { path, reason })
}

/// Adds (or replaces) credentials in `data_dir`'s bootstrap file, atomically (temp file,
/// fsync, rename, directory fsync).
///
/// # Errors
/// I/O errors, a corrupt existing file, or a credential that does not apply.
pub fn add_to_bootstrap(data_dir: &Path, records: &[MetadataRecord]) -> Result<(), BootstrapError> {
    let path = bootstrap_path(data_dir);
    let io_error = |source| BootstrapError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(io_error)?;
    let mut all = read_bootstrap(data_dir)?;
    all.extend_from_slice(records);
    // Check the whole file applies (and keep only the latest credential per user and
    // mechanism, so the file stays one record per credential).
    let state = ClusterMetadata::empty(String::new());
    let state = state
        .apply_all(&all)
        .map_err(|source| BootstrapError::Apply {
            path: path.clone(),
            source,
        })?;
    let bytes = encode_bootstrap(&credential_records(&state));
    let temporary = data_dir.join(format!("{BOOTSTRAP_FILE_NAME}.tmp"));
    write_synced(&temporary, &bytes).map_err(io_error)?;
    std::fs::rename(&temporary, &path).map_err(io_error)?;
    std::fs::File::open(data_dir)
        .and_then(|directory| directory.sync_all())
        .map_err(io_error)
}

/// `metadata` with the bootstrap file's credentials applied: the state a new metadata log
/// commits as its first entry.
///
/// # Errors
/// As [`read_bootstrap`], or a credential that does not apply.
pub fn with_bootstrap_credentials(
    data_dir: &Path,
    metadata: ClusterMetadata,
) -> Result<ClusterMetadata, BootstrapError> {
    let records = read_bootstrap(data_dir)?;
    if records.is_empty() {
        return Ok(metadata);
    }
    let path = bootstrap_path(data_dir);
    let next = metadata
        .apply_all(&records)
        .map_err(|source| BootstrapError::Apply { path, source })?;
    tracing::info!(
        credentials = records.len(),
        "SCRAM credentials from {BOOTSTRAP_FILE_NAME} join the new metadata log's first entry"
    );
    Ok(next)
}

/// Renames the bootstrap file away (`.migrated`) once the log's first entry holds it; a file
/// left on a node whose log already had entries is reported and renamed too.
///
/// # Errors
/// A rename failed.
pub fn retire_bootstrap(data_dir: &Path, applied: bool) -> Result<(), BootstrapError> {
    let path = bootstrap_path(data_dir);
    if !path.exists() {
        return Ok(());
    }
    if !applied {
        tracing::warn!(
            path = %path.display(),
            "SCRAM bootstrap file ignored: the metadata log already has entries; \
             add users with AlterUserScramCredentials"
        );
    }
    let target = data_dir.join(format!("{BOOTSTRAP_FILE_NAME}.migrated"));
    std::fs::rename(&path, target).map_err(|source| BootstrapError::Io { path, source })
}

fn credential_records(state: &ClusterMetadata) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for (user, credentials) in state.scram_users() {
        for (mechanism, credential) in credentials {
            records.push(MetadataRecord::ScramCredential {
                user: user.clone(),
                mechanism: *mechanism,
                credential: Some(credential.clone()),
            });
        }
    }
    records
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn encode_bootstrap(records: &[MetadataRecord]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    let count = u32::try_from(records.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&count.to_be_bytes());
    for record in records {
        let bytes = record.to_bytes();
        let length = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(&bytes);
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

fn decode_bootstrap(bytes: &[u8]) -> Result<Vec<MetadataRecord>, &'static str> {
    let body_size = bytes.len().checked_sub(4).ok_or("truncated")?;
    let (body, crc) = bytes.split_at(body_size);
    let crc = u32::from_be_bytes(crc.try_into().map_err(|_| "truncated")?);
    if crc32c::crc32c(body) != crc {
        return Err("checksum mismatch");
    }
    let rest = body.strip_prefix(MAGIC.as_slice()).ok_or("bad magic")?;
    let (count, mut rest) = split_u32(rest)?;
    if count > SCRAM_CREDENTIALS_MAX {
        return Err("too many credentials");
    }
    let mut records = Vec::new();
    for _ in 0..count {
        let (length, after) = split_u32(rest)?;
        if length > METADATA_RECORD_SIZE_MAX || length > after.len() {
            return Err("truncated record");
        }
        let (record, after) = after.split_at(length);
        let record = MetadataRecord::decode(record).map_err(|_| "bad record")?;
        if !matches!(record, MetadataRecord::ScramCredential { .. }) {
            return Err("not a credential record");
        }
        records.push(record);
        rest = after;
    }
    if !rest.is_empty() {
        return Err("trailing bytes");
    }
    Ok(records)
}

fn split_u32(bytes: &[u8]) -> Result<(usize, &[u8]), &'static str> {
    let (head, rest) = bytes.split_at_checked(4).ok_or("truncated")?;
    let value = u32::from_be_bytes(head.try_into().map_err(|_| "truncated")?);
    Ok((usize::try_from(value).unwrap_or(usize::MAX), rest))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use crate::security::scram;

    fn record(user: &str, password: &[u8]) -> MetadataRecord {
        MetadataRecord::ScramCredential {
            user: user.to_owned(),
            mechanism: ScramMechanism::Sha512,
            credential: Some(scram::derive_credential(
                ScramMechanism::Sha512,
                password,
                b"salt",
                4096,
            )),
        }
    }

    #[test]
    fn the_bootstrap_file_keeps_the_latest_credential_and_feeds_the_first_entry() {
        let directory = tempfile::tempdir().unwrap();
        assert!(read_bootstrap(directory.path()).unwrap().is_empty());
        add_to_bootstrap(directory.path(), &[record("alice", b"one")]).unwrap();
        add_to_bootstrap(
            directory.path(),
            &[record("alice", b"two"), record("bob", b"b")],
        )
        .unwrap();
        assert_eq!(read_bootstrap(directory.path()).unwrap().len(), 2);
        let state = ClusterMetadata::empty("c".to_owned());
        let state = with_bootstrap_credentials(directory.path(), state).unwrap();
        let alice = state
            .scram_credential("alice", ScramMechanism::Sha512)
            .unwrap();
        assert!(scram::password_matches(
            ScramMechanism::Sha512,
            alice,
            b"two"
        ));
        retire_bootstrap(directory.path(), true).unwrap();
        assert!(read_bootstrap(directory.path()).unwrap().is_empty());
    }

    #[test]
    fn a_corrupt_bootstrap_file_is_refused_at_every_length() {
        let bytes = encode_bootstrap(&[record("alice", b"pw")]);
        assert_eq!(decode_bootstrap(&bytes).unwrap().len(), 1);
        for end in 0..bytes.len() {
            assert!(decode_bootstrap(&bytes[..end]).is_err(), "{end}");
        }
        let mut flipped = bytes;
        flipped[12] ^= 1;
        assert!(decode_bootstrap(&flipped).is_err());
    }
}
