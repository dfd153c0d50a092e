//! A partition directory's `partition.metadata` file (KIP-516): the id of the topic the
//! directory's data belongs to. Directories are named `<topic>-<partition>`, so a topic deleted
//! and created again under its name while this broker was down would otherwise find the old
//! topic's data and take it for its own.
//!
//! ```text
//! version: 0\n
//! topic_id: <the id, base64url without padding: 22 characters>\n
//! ```
//! Kafka's layout, so `kafka-dump-log`-style tools read it. Written atomically (temp file,
//! fdatasync, rename, directory fsync) before the log is used, the first time it is opened;
//! a directory without the file (written before topic ids were recorded) adopts the id it is
//! opened for, as Kafka's `UnifiedLog.assignTopicId` adopts the metadata's id. A file naming
//! another topic is refused (Kafka's InconsistentTopicIdException): the log is not opened.
//!
//! Not owned here: removing a directory whose id is not the topic's any more (start-up,
//! `cluster::partition_logs`). Runs on the shard that owns the log, and at start-up on the
//! first shard (the blocking [`read_blocking`]).
use super::StorageError;
use super::control::{read_small_file, write_atomically};
use crate::limits::METADATA_FILE_SIZE_MAX;
use crate::protocol::Uuid;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::path::Path;

/// The file's name in a partition directory (Kafka's).
pub const FILE_NAME: &str = "partition.metadata";

/// The file's contents for `topic_id`.
#[must_use]
pub fn encode(topic_id: Uuid) -> String {
    let text = format!(
        "version: 0\ntopic_id: {}\n",
        URL_SAFE_NO_PAD.encode(topic_id.0)
    );
    assert!(text.len() as u64 <= METADATA_FILE_SIZE_MAX);
    text
}

/// The topic id `text` records.
///
/// # Errors
/// `MalformedFile` (with the 1-based line at fault) for anything but version 0 and a 16-byte
/// id; `path` names the file in the error.
pub fn decode(text: &str, path: &Path) -> Result<Uuid, StorageError> {
    let malformed = |line| StorageError::MalformedFile {
        path: path.to_path_buf(),
        line,
    };
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some("version: 0") {
        return Err(malformed(1));
    }
    let encoded = lines
        .next()
        .and_then(|line| line.strip_prefix("topic_id:"))
        .ok_or_else(|| malformed(2))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded.trim())
        .map_err(|_| malformed(2))?;
    let id: [u8; 16] = bytes.try_into().map_err(|_| malformed(2))?;
    if lines.any(|line| !line.trim().is_empty()) {
        return Err(malformed(3));
    }
    Ok(Uuid(id))
}

/// The topic id recorded in `directory`; `None` without the file.
///
/// # Errors
/// `Io`; `MalformedFile`.
pub async fn read(directory: &Path) -> Result<Option<Uuid>, StorageError> {
    let path = directory.join(FILE_NAME);
    match read_small_file(&path).await? {
        Some(text) => decode(&text, &path).map(Some),
        None => Ok(None),
    }
}

/// [`read`] with blocking calls, for start-up before the shards run.
///
/// # Errors
/// As [`read`].
pub fn read_blocking(directory: &Path) -> Result<Option<Uuid>, StorageError> {
    let path = directory.join(FILE_NAME);
    let text = match std::fs::read(&path) {
        Ok(bytes) if bytes.len() as u64 <= METADATA_FILE_SIZE_MAX => String::from_utf8(bytes)
            .map_err(|_| StorageError::MalformedFile {
                path: path.clone(),
                line: 0,
            })?,
        Ok(_) => return Err(StorageError::MalformedFile { path, line: 0 }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(StorageError::io("read", &path, error)),
    };
    decode(&text, &path).map(Some)
}

/// Checks that `directory` (which may not exist yet) holds data of `topic_id`, before its log
/// is opened.
///
/// # Errors
/// `InconsistentTopicId` when its file names another topic; `Io`; `MalformedFile`.
pub async fn check(directory: &Path, topic_id: Uuid) -> Result<(), StorageError> {
    match read(directory).await? {
        Some(found) if found != topic_id => Err(StorageError::InconsistentTopicId {
            path: directory.to_path_buf(),
            expected: topic_id,
            found,
        }),
        _ => Ok(()),
    }
}

/// Records `topic_id` in `directory` (which exists) unless it is recorded already.
///
/// # Errors
/// As [`check`].
pub async fn record(directory: &Path, topic_id: Uuid) -> Result<(), StorageError> {
    check(directory, topic_id).await?;
    if read(directory).await?.is_none() {
        write_atomically(directory, FILE_NAME, encode(topic_id)).await?;
    }
    assert_eq!(
        read(directory).await?,
        Some(topic_id),
        "recorded id differs"
    );
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn the_file_round_trips_in_kafkas_layout() {
        let id = Uuid([7; 16]);
        let text = encode(id);
        assert_eq!(text, "version: 0\ntopic_id: BwcHBwcHBwcHBwcHBwcHBw\n");
        assert_eq!(decode(&text, Path::new("p")).unwrap(), id);
        // Kafka's own writer: the same lines.
        assert_eq!(
            decode(
                "version: 0\ntopic_id: AAAAAAAAAAAAAAAAAAAAAQ",
                Path::new("p")
            )
            .unwrap(),
            Uuid([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
        );
        for (bad, line) in [
            ("", 1),
            ("version: 1\ntopic_id: BwcHBwcHBwcHBwcHBwcHBw\n", 1),
            ("version: 0\n", 2),
            ("version: 0\ntopic_id: BwcH\n", 2),
            ("version: 0\ntopic_id: !!\n", 2),
            ("version: 0\ntopic_id: BwcHBwcHBwcHBwcHBwcHBw\nmore\n", 3),
        ] {
            match decode(bad, Path::new("p")) {
                Err(StorageError::MalformedFile { line: at, .. }) => assert_eq!(at, line, "{bad}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[compio::test]
    async fn a_directory_adopts_an_id_once_and_refuses_another() {
        let dir = tempfile::tempdir().unwrap();
        let (old, new) = (Uuid([1; 16]), Uuid([2; 16]));
        {
            let missing = dir.path().join("t-0");
            check(&missing, old).await.unwrap();
            assert_eq!(read(&missing).await.unwrap(), None);
            std::fs::create_dir(&missing).unwrap();
            record(&missing, old).await.unwrap();
            record(&missing, old).await.unwrap();
            assert_eq!(read_blocking(&missing).unwrap(), Some(old));
            match check(&missing, new).await {
                Err(StorageError::InconsistentTopicId {
                    expected, found, ..
                }) => assert_eq!((expected, found), (new, old)),
                other => panic!("{other:?}"),
            }
            assert!(record(&missing, new).await.is_err());
            assert_eq!(read(&missing).await.unwrap(), Some(old), "unchanged");
        }
    }
}
