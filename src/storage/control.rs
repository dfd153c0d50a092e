//! Our small per-partition control file, and the atomic small-file write both it and the
//! leader-epoch checkpoint use.
//!
//! ```text
//! ringbroker-log 1
//! log_start_offset 1200
//! recovery_point 5000
//! clean_shutdown 0
//! high_watermark 4800
//! ```
//! Written atomically (temp file, fdatasync, rename, directory fsync) on open, roll, log start
//! moves and close; never on the append path. `clean_shutdown 1` is written only by `close`
//! after everything is synced, and `0` again as soon as the log is opened, so a crash after
//! opening is always detected.
//!
//! `high_watermark` (added for replication, issue 16) is optional: files written before it
//! have four lines, and older brokers stop reading after the fourth, so the header stays
//! version 1 both ways. It is the high watermark when the file was written: on a single node
//! the log end then, on a replicated log the one replication set (Kafka keeps the same value
//! in its broker-wide `replication-offset-checkpoint`; we keep it per partition, beside the
//! recovery point). Runs on the shard that owns the partition.
use std::path::Path;

use crate::limits::METADATA_FILE_SIZE_MAX;

use super::StorageError;

pub const CONTROL_FILE_NAME: &str = "ringbroker-log";
const HEADER: &str = "ringbroker-log 1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ControlState {
    pub log_start_offset: i64,
    /// Every offset below this is on disk (fdatasynced) with its segment's indexes.
    pub recovery_point: i64,
    pub clean_shutdown: bool,
    /// The high watermark when written; `None` in files from before replication.
    pub high_watermark: Option<i64>,
}

impl ControlState {
    #[must_use]
    pub fn encode(&self) -> String {
        use std::fmt::Write as _;
        let mut text = format!(
            "{HEADER}\nlog_start_offset {}\nrecovery_point {}\nclean_shutdown {}\n",
            self.log_start_offset,
            self.recovery_point,
            u8::from(self.clean_shutdown)
        );
        if let Some(high_watermark) = self.high_watermark {
            let _ = writeln!(text, "high_watermark {high_watermark}");
        }
        text
    }

    /// # Errors
    /// The 1-based line that does not parse.
    pub fn decode(text: &str) -> Result<Self, usize> {
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err(1);
        }
        let mut field = |line_number: usize, name: &str| -> Result<i64, usize> {
            let line = lines.next().ok_or(line_number)?;
            parse_field(line, name).ok_or(line_number)
        };
        let log_start_offset = field(2, "log_start_offset")?;
        let recovery_point = field(3, "recovery_point")?;
        let clean = field(4, "clean_shutdown")?;
        if clean > 1 {
            return Err(4);
        }
        // Optional (see the module docs): absent in files from before replication.
        let high_watermark = match lines.next() {
            None => None,
            Some(line) => Some(parse_field(line, "high_watermark").ok_or(5usize)?),
        };
        Ok(Self {
            log_start_offset,
            recovery_point,
            clean_shutdown: clean == 1,
            high_watermark,
        })
    }
}

/// `name value` with a non-negative value.
fn parse_field(line: &str, name: &str) -> Option<i64> {
    line.strip_prefix(name)
        .and_then(|rest| rest.strip_prefix(' '))
        .and_then(|value| value.parse::<i64>().ok())
        .filter(|value| *value >= 0)
}

/// Reads one of our small metadata files; `Ok(None)` when it does not exist.
///
/// # Errors
/// `Io`, or `MalformedFile` when it is larger than any file we write.
pub async fn read_small_file(path: &Path) -> Result<Option<String>, StorageError> {
    let bytes = match compio::fs::read(path).await {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(StorageError::io("read", path, error)),
    };
    if bytes.len() as u64 > METADATA_FILE_SIZE_MAX {
        return Err(StorageError::MalformedFile {
            path: path.to_path_buf(),
            line: 0,
        });
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| StorageError::MalformedFile {
            path: path.to_path_buf(),
            line: 0,
        })
}

/// Replaces `directory/name` with `contents` atomically: write a temp file, sync it, rename it
/// over the old one, sync the directory. Rare (open, roll, retention, epoch change, close).
///
/// # Errors
/// `Io` from any step; the old file is intact unless the rename happened.
pub async fn write_atomically(
    directory: &Path,
    name: &str,
    contents: impl Into<Vec<u8>>,
) -> Result<(), StorageError> {
    use compio::io::AsyncWriteAtExt;

    let target = directory.join(name);
    let temporary = directory.join(format!("{name}.tmp"));
    let file = compio::fs::File::create(&temporary)
        .await
        .map_err(|e| StorageError::io("create", &temporary, e))?;
    let mut writer = &file;
    let compio::BufResult(written, _) = writer.write_all_at(contents.into(), 0).await;
    written.map_err(|e| StorageError::io("write", &temporary, e))?;
    file.sync_data()
        .await
        .map_err(|e| StorageError::io("fdatasync", &temporary, e))?;
    file.close()
        .await
        .map_err(|e| StorageError::io("close", &temporary, e))?;
    compio::fs::rename(&temporary, &target)
        .await
        .map_err(|e| StorageError::io("rename", &target, e))?;
    sync_directory(directory).await
}

/// fsyncs a directory so renames, creates and unlinks in it survive a power loss.
///
/// # Errors
/// `Io`.
pub async fn sync_directory(directory: &Path) -> Result<(), StorageError> {
    let handle = compio::fs::File::open(directory)
        .await
        .map_err(|e| StorageError::io("open", directory, e))?;
    handle
        .sync_all()
        .await
        .map_err(|e| StorageError::io("fsync", directory, e))?;
    handle
        .close()
        .await
        .map_err(|e| StorageError::io("close", directory, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_state_round_trips() {
        let state = ControlState {
            log_start_offset: 12,
            recovery_point: 99,
            clean_shutdown: true,
            high_watermark: Some(50),
        };
        let text = state.encode();
        assert_eq!(ControlState::decode(&text), Ok(state));
        let old = ControlState {
            high_watermark: None,
            ..state
        };
        assert!(!old.encode().contains("high_watermark"));
        assert_eq!(ControlState::decode(&old.encode()), Ok(old));
        let bad = text.replace("high_watermark 50", "high_watermark x");
        assert_eq!(ControlState::decode(&bad), Err(5));
        assert_eq!(ControlState::decode("nonsense"), Err(1));
        let negative = text.replace("recovery_point 99", "recovery_point -4");
        assert_eq!(ControlState::decode(&negative), Err(3));
        let truncated = old.encode();
        let truncated = truncated.get(..truncated.len() - 18).unwrap();
        assert_eq!(ControlState::decode(truncated), Err(4));
    }

    #[compio::test]
    async fn atomic_write_replaces_contents() {
        let directory = tempfile::tempdir().unwrap();
        write_atomically(directory.path(), "x", "one".to_string())
            .await
            .unwrap();
        write_atomically(directory.path(), "x", "two".to_string())
            .await
            .unwrap();
        let text = read_small_file(&directory.path().join("x")).await.unwrap();
        assert_eq!(text.as_deref(), Some("two"));
        assert!(!directory.path().join("x.tmp").exists());
        assert_eq!(
            read_small_file(&directory.path().join("y")).await.unwrap(),
            None
        );
    }
}
