//! The applied side of the quorum: openraft's `RaftStateMachine` + `RaftSnapshotBuilder` over a
//! [`MetadataApplier`] the caller provides (the metadata image later; a list in tests).
//!
//! Committed proposals reach the applier in log order with their offsets; blank and membership
//! entries are kept here (membership is part of every snapshot) and never reach it. Snapshots
//! are the applier's bytes plus openraft's snapshot meta, written atomically as
//!
//! ```text
//! <end offset:020>-<term:010>.checkpoint   (Kafka's snapshot naming: end offset = last + 1)
//! [magic "RBQS"][version:u8 = 1][meta_size:u32 BE][meta: postcard][data_size:u32 BE][data]
//! [crc32c:u32 BE of everything before it]
//! ```
//! Only the newest snapshot is kept. On open the newest valid one is restored into the applier,
//! so a restart replays only the log tail after it.
//!
//! Runs on the quorum's runtime; `!Send`. `RefCell` borrows never cross an `.await`.
use std::cell::RefCell;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::{EntryPayload, RaftSnapshotBuilder};
use openraft_rt_compio::futures::{Stream, TryStreamExt};

use super::types::{
    LogId, Snapshot, SnapshotMeta, StoredMembership, TypeConfig, offset_of, term_of,
};
use crate::limits::QUORUM_SNAPSHOT_SIZE_MAX;
use crate::storage::write_atomically;

const SNAPSHOT_MAGIC: &[u8; 4] = b"RBQS";
const SNAPSHOT_VERSION: u8 = 1;
const SNAPSHOT_SUFFIX: &str = ".checkpoint";

/// A snapshot the applier could not load.
#[derive(Debug, thiserror::Error)]
#[error("snapshot rejected by the applier: {reason}")]
pub struct SnapshotRejected {
    pub reason: String,
}

/// What the quorum's owner applies committed proposals to. Called on the quorum's runtime, in
/// log order, each entry once per process lifetime (after a restart, from the snapshot on).
pub trait MetadataApplier: 'static {
    /// Applies the records of the proposal committed at `offset`.
    fn apply(&mut self, offset: i64, records: &[Vec<u8>]);
    /// The applied state, for a snapshot (at most [`QUORUM_SNAPSHOT_SIZE_MAX`] bytes).
    fn snapshot(&self) -> Vec<u8>;
    /// Replaces the applied state with a snapshot taken after the entry at `offset` was applied.
    ///
    /// # Errors
    /// A snapshot the applier cannot read.
    fn restore(&mut self, offset: i64, snapshot: &[u8]) -> Result<(), SnapshotRejected>;
}

/// A snapshot as kept in memory: its meta and the applier's bytes.
type StoredSnapshot = Rc<(SnapshotMeta, Vec<u8>)>;

struct Shared<A> {
    applier: RefCell<A>,
    applied: RefCell<Option<LogId>>,
    membership: RefCell<StoredMembership>,
    /// The newest snapshot on disk, kept in memory to serve followers.
    current: RefCell<Option<StoredSnapshot>>,
    directory: PathBuf,
}

/// openraft's state machine (and, as clones, its snapshot builder).
pub struct StateMachine<A> {
    shared: Rc<Shared<A>>,
}

impl<A> Clone for StateMachine<A> {
    fn clone(&self) -> Self {
        Self {
            shared: Rc::clone(&self.shared),
        }
    }
}

impl<A: MetadataApplier> StateMachine<A> {
    /// Restores the newest valid snapshot in `directory` (the metadata partition's) into
    /// `applier`.
    ///
    /// # Errors
    /// `io::Error` reading the snapshot, or the applier's refusal.
    pub async fn open(directory: &Path, mut applier: A) -> Result<Self, io::Error> {
        let loaded = load_newest_snapshot(directory).await?;
        let (applied, membership) = match &loaded {
            Some((meta, data)) => {
                if let Some(last) = &meta.last_log_id {
                    applier
                        .restore(offset_of(last), data)
                        .map_err(io::Error::other)?;
                }
                (meta.last_log_id, meta.last_membership.clone())
            }
            None => (None, StoredMembership::default()),
        };
        let shared = Shared {
            applier: RefCell::new(applier),
            applied: RefCell::new(applied),
            membership: RefCell::new(membership),
            current: RefCell::new(loaded.map(Rc::new)),
            directory: directory.to_path_buf(),
        };
        Ok(Self {
            shared: Rc::new(shared),
        })
    }

    /// The offset of the last entry applied (or covered by the restored snapshot).
    pub fn applied_offset(&self) -> Option<i64> {
        self.shared.applied.borrow().as_ref().map(offset_of)
    }

    /// Applies a proposal read from the local log outside Raft (`node::replay_local`).
    pub fn apply_local(&self, offset: i64, records: &[Vec<u8>]) {
        self.shared.applier.borrow_mut().apply(offset, records);
    }

    /// The applier back, when this is the last handle (`node::replay_local`).
    pub fn into_applier(self) -> Option<A> {
        Rc::try_unwrap(self.shared)
            .ok()
            .map(|shared| shared.applier.into_inner())
    }

    /// Calls `f` with the applier (for the owner's reads of the applied state).
    pub fn with_applier<T>(&self, f: impl FnOnce(&A) -> T) -> T {
        f(&self.shared.applier.borrow())
    }

    async fn store_snapshot(&self, meta: SnapshotMeta, data: Vec<u8>) -> Result<(), io::Error> {
        if data.len() > QUORUM_SNAPSHOT_SIZE_MAX {
            return Err(io::Error::other(format!(
                "snapshot of {} bytes over {QUORUM_SNAPSHOT_SIZE_MAX}",
                data.len()
            )));
        }
        let name = snapshot_file_name(meta.last_log_id.as_ref());
        let bytes = encode_snapshot(&meta, &data)?;
        write_atomically(&self.shared.directory, &name, bytes)
            .await
            .map_err(io::Error::other)?;
        let older = list_snapshots(&self.shared.directory)?;
        *self.shared.current.borrow_mut() = Some(Rc::new((meta, data)));
        for (_, file) in older.into_iter().filter(|(_, file)| *file != name) {
            let path = self.shared.directory.join(&file);
            if let Err(error) = compio::fs::remove_file(&path).await {
                tracing::warn!(?path, %error, "old metadata snapshot not removed");
            }
        }
        Ok(())
    }
}

impl<A: MetadataApplier> RaftSnapshotBuilder<TypeConfig> for StateMachine<A> {
    type SnapshotData = Vec<u8>;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        let data = self.shared.applier.borrow().snapshot();
        let meta = SnapshotMeta {
            last_log_id: *self.shared.applied.borrow(),
            last_membership: self.shared.membership.borrow().clone(),
        };
        self.store_snapshot(meta.clone(), data.clone()).await?;
        Ok(Snapshot {
            meta,
            snapshot: data,
        })
    }
}

impl<A: MetadataApplier> RaftStateMachine<TypeConfig> for StateMachine<A> {
    type SnapshotData = Vec<u8>;
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        let applied = *self.shared.applied.borrow();
        Ok((applied, self.shared.membership.borrow().clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin,
    {
        // Loop bound: the stream holds the entries openraft committed in one batch.
        while let Some((entry, responder)) = entries.try_next().await? {
            let offset = offset_of(&entry.log_id);
            match entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(proposal) => {
                    self.shared
                        .applier
                        .borrow_mut()
                        .apply(offset, &proposal.records);
                }
                EntryPayload::Membership(membership) => {
                    *self.shared.membership.borrow_mut() =
                        StoredMembership::new(Some(entry.log_id), membership);
                }
            }
            let previous = self.shared.applied.replace(Some(entry.log_id));
            assert!(
                previous.is_none_or(|p| p.index < entry.log_id.index),
                "entries applied in order"
            );
            if let Some(responder) = responder {
                responder.send(());
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Vec<u8>,
    ) -> Result<(), io::Error> {
        if let Some(last) = &meta.last_log_id {
            self.shared
                .applier
                .borrow_mut()
                .restore(offset_of(last), &snapshot)
                .map_err(io::Error::other)?;
        }
        *self.shared.applied.borrow_mut() = meta.last_log_id;
        *self.shared.membership.borrow_mut() = meta.last_membership.clone();
        self.store_snapshot(meta.clone(), snapshot).await
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        let current = self.shared.current.borrow().clone();
        Ok(current.map(|stored| Snapshot {
            meta: stored.0.clone(),
            snapshot: stored.1.clone(),
        }))
    }
}

fn snapshot_file_name(last: Option<&LogId>) -> String {
    let end_offset = last.map_or(0, |id| offset_of(id) + 1);
    let term = last.map_or(0, term_of);
    format!("{end_offset:020}-{term:010}{SNAPSHOT_SUFFIX}")
}

/// `(end offset, file name)` of every snapshot file, newest first. Blocking directory read:
/// rare (open, and after each snapshot).
fn list_snapshots(directory: &Path) -> Result<Vec<(i64, String)>, io::Error> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(directory)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(SNAPSHOT_SUFFIX) else {
            continue;
        };
        let Some((offset, _term)) = stem.split_once('-') else {
            continue;
        };
        if let Ok(offset) = offset.parse::<i64>() {
            found.push((offset, name.to_string()));
        }
    }
    found.sort_unstable_by(|a, b| b.cmp(a));
    Ok(found)
}

async fn load_newest_snapshot(
    directory: &Path,
) -> Result<Option<(SnapshotMeta, Vec<u8>)>, io::Error> {
    compio::fs::create_dir_all(directory).await?;
    for (_, name) in list_snapshots(directory)? {
        let path = directory.join(&name);
        let bytes = compio::fs::read(&path).await?;
        match decode_snapshot(&bytes) {
            Some(snapshot) => return Ok(Some(snapshot)),
            None => tracing::warn!(?path, "metadata snapshot skipped: does not decode"),
        }
    }
    Ok(None)
}

fn encode_snapshot(meta: &SnapshotMeta, data: &[u8]) -> Result<Vec<u8>, io::Error> {
    let meta = postcard::to_stdvec(meta).map_err(io::Error::other)?;
    let meta_size = u32::try_from(meta.len()).map_err(io::Error::other)?;
    let data_size = u32::try_from(data.len()).map_err(io::Error::other)?;
    let mut bytes = Vec::with_capacity(data.len() + meta.len() + 17);
    bytes.extend_from_slice(SNAPSHOT_MAGIC);
    bytes.push(SNAPSHOT_VERSION);
    bytes.extend_from_slice(&meta_size.to_be_bytes());
    bytes.extend_from_slice(&meta);
    bytes.extend_from_slice(&data_size.to_be_bytes());
    bytes.extend_from_slice(data);
    let crc = crc32c::crc32c(&bytes);
    bytes.extend_from_slice(&crc.to_be_bytes());
    Ok(bytes)
}

fn decode_snapshot(bytes: &[u8]) -> Option<(SnapshotMeta, Vec<u8>)> {
    let (body, crc) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
    if crc32c::crc32c(body).to_be_bytes() != crc {
        return None;
    }
    let rest = body.strip_prefix(SNAPSHOT_MAGIC)?;
    let (&version, rest) = rest.split_first()?;
    if version != SNAPSHOT_VERSION {
        return None;
    }
    let (meta, rest) = take_sized(rest)?;
    let (data, rest) = take_sized(rest)?;
    if !rest.is_empty() {
        return None;
    }
    let meta: SnapshotMeta = postcard::from_bytes(meta).ok()?;
    Some((meta, data.to_vec()))
}

/// `[size:u32 BE][bytes]` from the front of `bytes`.
fn take_sized(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (size, rest) = bytes.split_at_checked(4)?;
    let size = usize::try_from(u32::from_be_bytes(size.try_into().ok()?)).ok()?;
    rest.split_at_checked(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_bytes_round_trip_and_reject_damage() {
        let meta = SnapshotMeta {
            last_log_id: Some(LogId::new_term_index(3, 9)),
            last_membership: StoredMembership::default(),
        };
        let mut bytes = encode_snapshot(&meta, b"applied state").unwrap();
        let (decoded, data) = decode_snapshot(&bytes).unwrap();
        assert_eq!(decoded, meta);
        assert_eq!(data, b"applied state");
        assert_eq!(
            snapshot_file_name(meta.last_log_id.as_ref()),
            "00000000000000000010-0000000003.checkpoint"
        );
        // Every flipped byte and every truncation is refused, never a panic.
        for index in 0..bytes.len() {
            bytes[index] ^= 0x40;
            assert!(decode_snapshot(&bytes).is_none(), "flip at {index}");
            bytes[index] ^= 0x40;
            assert!(decode_snapshot(&bytes[..index]).is_none(), "cut at {index}");
        }
    }
}
