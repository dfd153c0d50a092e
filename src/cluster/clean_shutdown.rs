//! The broker's clean-shutdown marker (KIP-966): `<data>/clean-shutdown`, written after every
//! partition log closed cleanly at the end of a SIGTERM shutdown, holding the broker epoch
//! this broker ran with; read and removed (durably) at the next start, before the broker
//! registers.
//!
//! ```text
//! # written by ringbroker at a clean shutdown; removed at start
//! broker.epoch=4711
//! ```
//!
//! The registration carries that epoch as `previous_broker_epoch`. The controller treats a
//! new incarnation without it (a crash, kill -9, power loss: records a follower acknowledged
//! may not have reached the disk, as Kafka does not sync each append either) as an unclean
//! shutdown and takes the broker out of every ISR and ELR, so it is never elected from them
//! with a log that may miss committed records ([`super::policy::election`]). Kafka's controller
//! treats every new incarnation so; the KIP's design keeps a cleanly stopped broker in the
//! ELR, which is what this marker allows — a broker whose logs were all synced and closed lost
//! nothing.
//!
//! Blocking file I/O: runs on `main` before the shards start and after they stopped.
use super::membership::MembershipError;
use crate::limits::NODE_FILE_SIZE_MAX;
use std::path::Path;

pub const CLEAN_SHUTDOWN_FILE_NAME: &str = "clean-shutdown";

/// Reads and removes the marker: the broker epoch the last run ended with when it ended
/// cleanly, `None` when there is no marker (a first start or an unclean end) or it does not
/// parse (treated as unclean, and logged). The removal is synced, so a crash from here on is
/// an unclean shutdown.
///
/// # Errors
/// The marker exists but cannot be read or removed.
pub fn take(data_dir: &Path) -> Result<Option<i64>, MembershipError> {
    let path = data_dir.join(CLEAN_SHUTDOWN_FILE_NAME);
    let bad = |error: std::io::Error| MembershipError::NodeFile {
        path: path.display().to_string(),
        reason: error.to_string(),
    };
    let file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(bad(error)),
    };
    // One byte past the limit is enough to tell a too-large file.
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(file, NODE_FILE_SIZE_MAX as u64 + 1),
        &mut bytes,
    )
    .map_err(bad)?;
    let epoch = parse(&bytes);
    if epoch.is_none() {
        tracing::warn!(path = %path.display(), "unreadable clean-shutdown marker: unclean");
    }
    std::fs::remove_file(&path).map_err(bad)?;
    sync_directory(data_dir).map_err(bad)?;
    Ok(epoch)
}

/// Writes the marker for `broker_epoch`, atomically and durably.
///
/// # Errors
/// The write failed (the next start is then treated as unclean).
pub fn write(data_dir: &Path, broker_epoch: i64) -> Result<(), MembershipError> {
    let text = format!(
        "# written by ringbroker at a clean shutdown; removed at start\n\
         broker.epoch={broker_epoch}\n"
    );
    write_durably(data_dir, CLEAN_SHUTDOWN_FILE_NAME, &text).map_err(|error| {
        MembershipError::NodeFile {
            path: data_dir
                .join(CLEAN_SHUTDOWN_FILE_NAME)
                .display()
                .to_string(),
            reason: error.to_string(),
        }
    })
}

/// The epoch in a marker's bytes; `None` when too large or without a valid `broker.epoch`.
fn parse(bytes: &[u8]) -> Option<i64> {
    if bytes.len() > NODE_FILE_SIZE_MAX {
        return None;
    }
    std::str::from_utf8(bytes)
        .ok()?
        .lines()
        .filter_map(|line| line.split_once('='))
        .find(|(key, _)| key.trim() == "broker.epoch")
        .and_then(|(_, value)| value.trim().parse().ok())
        .filter(|epoch: &i64| *epoch >= 0)
}

/// Writes `<dir>/<name>` through a synced temporary file, a rename and a synced directory.
///
/// # Errors
/// Any step failed.
pub(crate) fn write_durably(dir: &Path, name: &str, text: &str) -> std::io::Result<()> {
    let path = dir.join(name);
    let temporary = dir.join(format!("{name}.tmp"));
    let file = std::fs::File::create(&temporary)?;
    std::io::Write::write_all(&mut &file, text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temporary, &path)?;
    sync_directory(dir)
}

fn sync_directory(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir).and_then(|directory| directory.sync_all())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_marker_is_taken_once() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(take(dir.path()).unwrap(), None, "no marker: unclean");
        write(dir.path(), 4711).unwrap();
        assert_eq!(take(dir.path()).unwrap(), Some(4711));
        assert_eq!(
            take(dir.path()).unwrap(),
            None,
            "taken: a crash now is unclean"
        );
        assert!(!dir.path().join(CLEAN_SHUTDOWN_FILE_NAME).exists());
    }

    #[test]
    fn a_damaged_marker_counts_as_unclean_and_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        for text in ["broker.epoch=x\n", "", "broker.epoch=-3\n", "other=1\n"] {
            std::fs::write(dir.path().join(CLEAN_SHUTDOWN_FILE_NAME), text).unwrap();
            assert_eq!(take(dir.path()).unwrap(), None, "{text:?}");
            assert!(!dir.path().join(CLEAN_SHUTDOWN_FILE_NAME).exists());
        }
        let huge = format!("broker.epoch=1\n{}", "#".repeat(NODE_FILE_SIZE_MAX));
        std::fs::write(dir.path().join(CLEAN_SHUTDOWN_FILE_NAME), huge).unwrap();
        assert_eq!(take(dir.path()).unwrap(), None);
    }
}
