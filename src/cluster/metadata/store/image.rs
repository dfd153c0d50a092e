//! `MetadataImage`: the applied state of the metadata log, the applier `RaftQuorum` drives.
//! Runs on the quorum's runtime (shard 0).
use super::*;

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
pub(super) fn apply_records(
    current: &ClusterMetadata,
    records: &[Vec<u8>],
) -> Option<ClusterMetadata> {
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
