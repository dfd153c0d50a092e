//! Whether retention would delete anything from a *closed* log, read from its files without
//! opening it (issue 20: a dormant log must not keep expired segments because no client asks
//! for it). The log pump probes a bounded number of dormant logs per housekeeping pass and
//! opens only those this says are due; the open log's own retention (retention.rs) then does
//! the deleting, so this is a hint that decides an open, never a deletion.
//!
//! It reads what Kafka's retention looks at, and no more:
//!
//! ```text
//! <dir>/*.log              names: the segments (the last is active, never deleted); sizes for
//!                          retention.bytes (stat, only when retention.bytes is set)
//! <dir>/ringbroker-log     log start (segments wholly below it are deleted on open) and, for a
//!                          replicated log, the high watermark (nothing at or past it goes)
//! <first>.timeindex        its last entry: the oldest deletable segment's largest timestamp
//!                          (12 bytes), else the `.log` file's mtime — Kafka's
//!                          `LogSegment.largestTimestamp` fallback
//! ```
//!
//! Only the oldest deletable segment decides time retention: retention deletes a prefix, and
//! stops at the first segment not past `retention.ms`. Kafka's rule, `now − largest timestamp >
//! retention.ms`, is the open log's too. The active segment is never counted: Kafka rolls it on
//! the next append (`segment.ms` is checked against the first batch's timestamp then), so an
//! idle partition whose only segment is old keeps it, as in Kafka.
//!
//! Blocking `std::fs` calls (a directory listing has no io_uring op): callers run it on a
//! blocking thread (`compio::runtime::spawn_blocking`), never on a shard's executor. It writes
//! nothing, so a probe that races nothing on the shard (the pump owns the log's files) is
//! safe, and a stale answer costs one needless open or one pass of delay.
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::StorageError;
use super::config::{duration_ms, system_time_ms};
use super::control::{CONTROL_FILE_NAME, ControlState};
use super::index::TIME_ENTRY_SIZE;
use super::segment::{parse_log_file_name, segment_path};
use crate::limits::{METADATA_FILE_SIZE_MAX, SEGMENTS_PER_PARTITION_MAX};

/// What the probe needs of a closed log; `Send`, for the blocking thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedLog {
    pub directory: PathBuf,
    pub retention_ms: Option<Duration>,
    pub retention_bytes: Option<u64>,
    /// The high watermark is the persisted one (not the log end): see the module docs.
    pub replicated: bool,
}

/// Why a closed log must be opened for retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetentionDue {
    /// A segment lies wholly below the recorded log start (a crash between the control file
    /// write and the unlink): opening deletes it.
    BelowLogStart,
    RetentionMs,
    RetentionBytes,
}

/// Probes `log` at `now_ms` (module docs). `Ok(None)` when there is nothing to delete, the
/// directory does not exist yet, or it holds only the active segment.
///
/// # Errors
/// `Io` reading the directory or a file; `MalformedFile` for an unreadable control file;
/// `SegmentLimit` for more segments than a log may have (opening refuses it as well).
pub fn retention_due(log: &ClosedLog, now_ms: i64) -> Result<Option<RetentionDue>, StorageError> {
    let Some(bases) = list_log_bases(&log.directory)? else {
        return Ok(None);
    };
    // (base, next base) of every rolled segment; the last listed one is active.
    let rolled: Vec<(i64, i64)> = bases
        .iter()
        .copied()
        .zip(bases.iter().copied().skip(1))
        .collect();
    assert_eq!(
        rolled.len(),
        bases.len().saturating_sub(1),
        "one pair per rolled segment"
    );
    let Some(&(first_base, first_next)) = rolled.first() else {
        return Ok(None);
    };
    let control = read_control(&log.directory)?;
    if first_next <= control.log_start_offset {
        return Ok(Some(RetentionDue::BelowLogStart));
    }
    // Nothing at or past the high watermark is deleted; on a single node it is the log end,
    // past every rolled segment.
    let high_watermark = if log.replicated {
        control.high_watermark.unwrap_or(control.log_start_offset)
    } else {
        i64::MAX
    };
    if first_next > high_watermark {
        return Ok(None);
    }
    if let Some(retention) = log.retention_ms {
        let largest = largest_timestamp(&log.directory, first_base)?;
        if now_ms.saturating_sub(largest) > duration_ms(retention) {
            return Ok(Some(RetentionDue::RetentionMs));
        }
    }
    if let Some(retention) = log.retention_bytes {
        let mut total: u64 = 0;
        for &base in &bases {
            total = total.saturating_add(log_file_size(&log.directory, base)?);
        }
        let first_size = log_file_size(&log.directory, first_base)?;
        if total.saturating_sub(retention) >= first_size {
            return Ok(Some(RetentionDue::RetentionBytes));
        }
    }
    Ok(None)
}

/// The `.log` base offsets, sorted; `None` when the directory does not exist.
fn list_log_bases(directory: &Path) -> Result<Option<Vec<i64>>, StorageError> {
    let entries = match std::fs::read_dir(directory) {
        Ok(entries) => entries,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(StorageError::io("list", directory, error)),
    };
    let mut bases = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StorageError::io("list", directory, e))?;
        let name = entry.file_name();
        let Some(base) = name.to_str().and_then(parse_log_file_name) else {
            continue;
        };
        if bases.len() >= SEGMENTS_PER_PARTITION_MAX {
            return Err(StorageError::SegmentLimit { count: bases.len() });
        }
        bases.push(base);
    }
    bases.sort_unstable();
    Ok(Some(bases))
}

/// The control file; the defaults (log start 0, no high watermark) when there is none yet.
fn read_control(directory: &Path) -> Result<ControlState, StorageError> {
    let path = directory.join(CONTROL_FILE_NAME);
    let malformed = |line| StorageError::MalformedFile {
        path: path.clone(),
        line,
    };
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(ControlState::default()),
        Err(error) => return Err(StorageError::io("read", &path, error)),
    };
    if bytes.len() as u64 > METADATA_FILE_SIZE_MAX {
        return Err(malformed(0));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| malformed(0))?;
    ControlState::decode(text).map_err(malformed)
}

/// The segment's largest timestamp: its time index's last entry (a rolled segment's always
/// is its largest, index.rs), else — no entry, or an index not written yet — the `.log`
/// file's mtime, as Kafka's `LogSegment.largestTimestamp` falls back to.
fn largest_timestamp(directory: &Path, base: i64) -> Result<i64, StorageError> {
    let path = segment_path(directory, base, "timeindex");
    if let Some(timestamp) = last_time_entry(&path)? {
        return Ok(timestamp);
    }
    let log_path = segment_path(directory, base, "log");
    let modified = std::fs::metadata(&log_path)
        .and_then(|metadata| metadata.modified())
        .map_err(|e| StorageError::io("stat", &log_path, e))?;
    Ok(system_time_ms(modified))
}

/// The timestamp of a `.timeindex` file's last entry; `None` when the file is missing, empty,
/// not whole entries, or its last timestamp is negative (then the caller falls back).
fn last_time_entry(path: &Path) -> Result<Option<i64>, StorageError> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(StorageError::io("open", path, error)),
    };
    let length = file
        .metadata()
        .map_err(|e| StorageError::io("stat", path, e))?
        .len();
    let entry = TIME_ENTRY_SIZE as u64;
    if length < entry || !length.is_multiple_of(entry) {
        return Ok(None);
    }
    let mut timestamp = [0u8; 8];
    file.read_exact_at(&mut timestamp, length - entry)
        .map_err(|e| StorageError::io("read", path, e))?;
    let timestamp = i64::from_be_bytes(timestamp);
    Ok((timestamp >= 0).then_some(timestamp))
}

fn log_file_size(directory: &Path, base: i64) -> Result<u64, StorageError> {
    let path = segment_path(directory, base, "log");
    let metadata = std::fs::metadata(&path).map_err(|e| StorageError::io("stat", &path, e))?;
    Ok(metadata.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Clock, SystemClock};
    use std::time::UNIX_EPOCH;

    const NOW: i64 = 1_700_000_000_000;
    const DAY: Duration = Duration::from_secs(86_400);

    fn closed(directory: &Path) -> ClosedLog {
        ClosedLog {
            directory: directory.to_path_buf(),
            retention_ms: Some(DAY),
            retention_bytes: None,
            replicated: false,
        }
    }

    /// A segment file of `size` bytes with a time index whose last timestamp is `largest`
    /// (`None`: an empty time index).
    fn segment(directory: &Path, base: i64, size: usize, largest: Option<i64>) {
        std::fs::write(segment_path(directory, base, "log"), vec![0u8; size]).unwrap();
        let mut index = Vec::new();
        for timestamp in largest.iter().flat_map(|t| [t - 5, *t]) {
            index.extend_from_slice(&timestamp.to_be_bytes());
            index.extend_from_slice(&0u32.to_be_bytes());
        }
        std::fs::write(segment_path(directory, base, "timeindex"), index).unwrap();
    }

    fn assert_due(log: &ClosedLog, now_ms: i64, reason: RetentionDue) {
        assert_eq!(retention_due(log, now_ms).unwrap(), Some(reason));
    }

    fn control(directory: &Path, state: ControlState) {
        std::fs::write(directory.join(CONTROL_FILE_NAME), state.encode()).unwrap();
    }

    #[test]
    fn only_the_oldest_rolled_segment_past_retention_ms_makes_a_log_due() {
        let directory = tempfile::tempdir().unwrap();
        let closed = closed(directory.path());
        assert_eq!(
            retention_due(&closed, NOW).unwrap(),
            None,
            "empty directory"
        );
        segment(directory.path(), 0, 100, Some(NOW - 2 * duration_ms(DAY)));
        // The active segment alone is never deleted, however old.
        assert_eq!(retention_due(&closed, NOW).unwrap(), None);
        segment(directory.path(), 10, 100, Some(NOW));
        assert_due(&closed, NOW, RetentionDue::RetentionMs);
        // Kafka's rule is strict: exactly retention.ms old is kept.
        let at_limit = NOW - 2 * duration_ms(DAY) + duration_ms(DAY);
        assert_eq!(retention_due(&closed, at_limit).unwrap(), None);
        assert_eq!(
            retention_due(&closed, at_limit + 1).unwrap(),
            Some(RetentionDue::RetentionMs)
        );
        let no_retention = ClosedLog {
            retention_ms: None,
            ..closed
        };
        assert_eq!(retention_due(&no_retention, NOW).unwrap(), None);
        let missing = ClosedLog {
            directory: directory.path().join("never-created"),
            ..no_retention
        };
        assert_eq!(retention_due(&missing, NOW).unwrap(), None);
    }

    #[test]
    fn a_segment_without_time_entries_falls_back_to_its_mtime() {
        let directory = tempfile::tempdir().unwrap();
        let closed = closed(directory.path());
        segment(directory.path(), 0, 100, None);
        segment(directory.path(), 10, 100, None);
        let now = SystemClock.now_ms();
        assert_eq!(
            retention_due(&closed, now).unwrap(),
            None,
            "written just now"
        );
        let old = UNIX_EPOCH + Duration::from_millis(1_000_000_000_000);
        let file = std::fs::File::options()
            .write(true)
            .open(segment_path(directory.path(), 0, "log"))
            .unwrap();
        file.set_modified(old).unwrap();
        assert_due(&closed, now, RetentionDue::RetentionMs);
        // A missing time index (a crash before the roll's flush wrote it) falls back too.
        std::fs::remove_file(segment_path(directory.path(), 0, "timeindex")).unwrap();
        assert_due(&closed, now, RetentionDue::RetentionMs);
    }

    #[test]
    fn retention_bytes_counts_every_segment_and_deletes_whole_ones() {
        let directory = tempfile::tempdir().unwrap();
        let closed = ClosedLog {
            retention_ms: None,
            retention_bytes: Some(250),
            ..closed(directory.path())
        };
        segment(directory.path(), 0, 100, Some(NOW));
        segment(directory.path(), 10, 100, Some(NOW));
        segment(directory.path(), 20, 149, None);
        // 349 bytes: 99 over, less than the first segment.
        assert_eq!(retention_due(&closed, NOW).unwrap(), None);
        segment(directory.path(), 20, 150, None);
        assert_due(&closed, NOW, RetentionDue::RetentionBytes);
    }

    #[test]
    fn log_start_and_a_replicated_high_watermark_bound_what_is_deletable() {
        let directory = tempfile::tempdir().unwrap();
        let old = NOW - 2 * duration_ms(DAY);
        segment(directory.path(), 0, 100, Some(old));
        segment(directory.path(), 10, 100, Some(old));
        segment(directory.path(), 20, 100, Some(NOW));
        let replicated = ClosedLog {
            replicated: true,
            ..closed(directory.path())
        };
        let mut state = ControlState {
            log_start_offset: 0,
            recovery_point: 20,
            clean_shutdown: true,
            high_watermark: Some(9),
        };
        control(directory.path(), state);
        // A follower may still need [0, 10): it stays while the high watermark is below 10.
        assert_eq!(retention_due(&replicated, NOW).unwrap(), None);
        state.high_watermark = Some(10);
        control(directory.path(), state);
        assert_due(&replicated, NOW, RetentionDue::RetentionMs);
        // A log start past a whole segment: opening deletes it, whatever the retention.
        state.log_start_offset = 12;
        control(directory.path(), state);
        let single = ClosedLog {
            retention_ms: None,
            ..closed(directory.path())
        };
        assert_due(&single, NOW, RetentionDue::BelowLogStart);
    }
}
