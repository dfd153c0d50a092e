//! Producer id allocation for InitProducerId: ids unique across brokers and restarts, never
//! reused even after a crash.
//!
//! Blocks from the metadata log: the node's allocator hands out ids from a block the controller
//! gave it (`MetadataChange::AllocateProducerIds` → a `ProducerIdBlock` record, decided by
//! `policy::producer_id_blocks`; blocks never overlap, so no two brokers hold one id). A block
//! is committed to the log before any of its ids is handed out; after a restart the node asks
//! for a new one, so a crash skips at most the rest of its blocks. When a block is down to
//! `PRODUCER_ID_BLOCK_PREFETCH_REMAINING` ids the allocator asks for the next one in the
//! background (one request in flight, a bounded(1) gate), so InitProducerId rarely waits for
//! the controller.
//!
//! Upgrade from a single-node data dir: such a node reserved ids in the file
//! `<data>/producer-ids` (`reserved_end`, the first id not yet reserved). The file is only
//! read now: every block this node asks for starts at or above its `reserved_end` (the
//! request's `floor`), so no id is handed out twice across the upgrade.
//!
//! ```text
//! <data>/producer-ids      ringbroker-producer-ids 1
//!                          reserved_end 3000
//! ```
//! Invariants: `next_id ≤ block_end`; a spare block starts at or after `block_end`; the ranges
//! remembered for `is_issued` are at most `PRODUCER_ID_RANGES_REMEMBERED_MAX`.
//!
//! Runs on shard 0 only (the one allocator of the node; other shards reach it through
//! `Shard::invoke_on(0, …)`). `!Send`.
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::ops::Range;
use std::path::Path;

use crate::cluster::metadata::{ClusterMetadata, MetadataError, ProducerIdBlock};
use crate::limits::{PRODUCER_ID_BLOCK_PREFETCH_REMAINING, PRODUCER_ID_RANGES_REMEMBERED_MAX};
use crate::storage::{StorageError, read_small_file};

const HEADER: &str = "ringbroker-producer-ids 1";

/// Why no producer id could be handed out.
#[derive(Debug, thiserror::Error)]
pub enum ProducerIdError {
    /// Reading the pre-cluster reservation file failed (also a malformed file).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The controller gave no block (not committed, refused, shutting down).
    #[error("no producer id block: {0}")]
    Metadata(#[from] MetadataError),
    /// Shard 0 holds no allocator (start-up did not create one).
    #[error("no producer id allocator on this shard")]
    NotHere,
}

/// Where blocks come from, and where the allocator lives: the running broker asks the
/// controller (`controller::allocate_producer_ids`); tests decide on a local state.
pub trait BlockSource: Clone + 'static {
    /// The node's allocator (on shard 0).
    fn allocator(&self) -> &RefCell<Option<ProducerIdAllocator>>;

    /// The next block for `node_id`, starting at or above `floor`, committed to the log.
    fn request_block(
        &self,
        node_id: i32,
        floor: i64,
    ) -> impl Future<Output = Result<ProducerIdBlock, MetadataError>>;
}

/// The allocator. See the module docs.
#[derive(Debug)]
pub struct ProducerIdAllocator {
    node_id: i32,
    /// `reserved_end` of the pre-cluster file (0 without one): the floor of every block.
    floor: i64,
    /// The current block's ids not handed out yet: `next_id..block_end`.
    next_id: i64,
    block_end: i64,
    /// The block fetched ahead, taken when the current one runs out.
    spare: Option<ProducerIdBlock>,
    /// Ids this node may have handed out (oldest first, contiguous ranges merged).
    issued: VecDeque<Range<i64>>,
    /// One block request in flight at a time: a bounded(1) channel used as a lock that can be
    /// held across `.await` without holding the allocator's `RefCell` borrow.
    gate: (flume::Sender<()>, flume::Receiver<()>),
}

impl ProducerIdAllocator {
    pub const FILE_NAME: &'static str = "producer-ids";

    /// The allocator of node `node_id`, whose data dir is `data_dir`, on the metadata
    /// `metadata` (its last recorded block counts as issued: ids of it may have been handed
    /// out before a restart). No block yet: the first id asks for one.
    ///
    /// # Errors
    /// `Storage` for an unreadable or malformed pre-cluster file.
    pub async fn open(
        data_dir: &Path,
        node_id: i32,
        metadata: &ClusterMetadata,
    ) -> Result<Self, ProducerIdError> {
        let path = data_dir.join(Self::FILE_NAME);
        let floor = match read_small_file(&path).await? {
            None => 0,
            Some(text) => {
                decode(&text).map_err(|line| StorageError::MalformedFile { path, line })?
            }
        };
        let mut allocator = Self {
            node_id,
            floor,
            next_id: 0,
            block_end: 0,
            spare: None,
            issued: VecDeque::new(),
            gate: flume::bounded(1),
        };
        allocator.remember(0..floor);
        if let Some(block) = metadata.producer_id_block(node_id) {
            allocator.remember(block.first..block.end());
        }
        allocator.check_invariants();
        Ok(allocator)
    }

    /// Whether `producer_id` may have been handed out by this node, now or before a restart:
    /// below the pre-cluster file's end, in a block this process held, or in the last block the
    /// metadata recorded for it at start. Never true for another broker's id; an id from an
    /// older block (or one forgotten past `PRODUCER_ID_RANGES_REMEMBERED_MAX`) reads as not
    /// issued, and its producer gets a fresh id, which is always correct.
    #[must_use]
    pub fn is_issued(&self, producer_id: i64) -> bool {
        self.issued.iter().any(|range| range.contains(&producer_id))
    }

    /// The floor of every block this node asks for.
    #[must_use]
    pub fn floor(&self) -> i64 {
        self.floor
    }

    fn remember(&mut self, range: Range<i64>) {
        if range.is_empty() {
            return;
        }
        if let Some(last) = self.issued.back_mut()
            && last.end == range.start
        {
            last.end = range.end;
            return;
        }
        self.issued.push_back(range);
        while self.issued.len() > PRODUCER_ID_RANGES_REMEMBERED_MAX {
            self.issued.pop_front();
        }
    }

    /// The next id of the current block, else of the spare block.
    fn take(&mut self) -> Option<i64> {
        if self.next_id >= self.block_end {
            let spare = self.spare.take()?;
            self.install(spare);
        }
        let id = self.next_id;
        self.next_id += 1;
        self.check_invariants();
        Some(id)
    }

    /// Makes `block` the current one.
    fn install(&mut self, block: ProducerIdBlock) {
        assert!(block.first >= self.block_end, "blocks only move forward");
        self.next_id = block.first;
        self.block_end = block.end();
        self.remember(block.first..block.end());
    }

    /// Keeps a block fetched ahead (or makes it current when the current one is used up).
    fn receive(&mut self, block: ProducerIdBlock) {
        if self.next_id >= self.block_end && self.spare.is_none() {
            self.install(block);
        } else {
            assert!(self.spare.is_none(), "one block request in flight");
            self.spare = Some(block);
        }
        self.check_invariants();
    }

    /// Whether the blocks held are running low (then a block is fetched ahead).
    fn running_low(&self) -> bool {
        self.spare.is_none()
            && self.block_end - self.next_id <= PRODUCER_ID_BLOCK_PREFETCH_REMAINING
    }

    /// # Panics
    /// When `next_id` ran past its block or the spare block overlaps it.
    pub fn check_invariants(&self) {
        assert!(self.next_id >= 0, "negative producer id");
        assert!(
            self.next_id <= self.block_end,
            "id {} handed out beyond the block end {}",
            self.next_id,
            self.block_end
        );
        if let Some(spare) = &self.spare {
            assert!(spare.first >= self.block_end, "spare block overlaps");
        }
        assert!(self.issued.len() <= PRODUCER_ID_RANGES_REMEMBERED_MAX);
    }
}

/// Hands out one producer id from the allocator of `source`, asking the controller for a block
/// first when none is left. Never holds the `RefCell` borrow across an `.await`.
///
/// # Errors
/// `NotHere` when there is no allocator; `Metadata` when no block could be had.
pub async fn allocate(source: &impl BlockSource) -> Result<i64, ProducerIdError> {
    let (lock, unlock) = {
        let mut allocator = source.allocator().borrow_mut();
        let allocator = allocator.as_mut().ok_or(ProducerIdError::NotHere)?;
        // Fast path: an id of a block held, no waiting.
        if let Some(id) = allocator.take() {
            if allocator.running_low() {
                prefetch(source, allocator.gate.clone());
            }
            return Ok(id);
        }
        allocator.gate.clone()
    };
    // Waits while another request is in flight. Both channel ends live in the allocator, so
    // the send cannot fail while we hold a clone of each.
    let _ = lock.send_async(()).await;
    let result = fetch_and_take(source).await;
    let released = unlock.try_recv();
    assert!(released.is_ok(), "producer id gate out of balance");
    result
}

/// Under the gate: take an id if a block arrived meanwhile, else ask for one and take its first
/// id.
async fn fetch_and_take(source: &impl BlockSource) -> Result<i64, ProducerIdError> {
    let (node_id, floor) = {
        let mut allocator = source.allocator().borrow_mut();
        let allocator = allocator.as_mut().ok_or(ProducerIdError::NotHere)?;
        if let Some(id) = allocator.take() {
            return Ok(id);
        }
        (allocator.node_id, allocator.floor)
    };
    let block = source.request_block(node_id, floor).await?;
    let mut allocator = source.allocator().borrow_mut();
    let allocator = allocator.as_mut().ok_or(ProducerIdError::NotHere)?;
    allocator.receive(block);
    allocator.take().ok_or(ProducerIdError::NotHere)
}

/// Asks for the next block in the background, unless a request is in flight already. The
/// detached task holds the gate as its permit (at most one such task), and releases it when
/// done.
fn prefetch<S: BlockSource>(source: &S, (lock, unlock): (flume::Sender<()>, flume::Receiver<()>)) {
    if lock.try_send(()).is_err() {
        return; // a request is in flight: it brings the next block
    }
    let source = source.clone();
    compio::runtime::spawn(async move {
        let request = {
            let allocator = source.allocator().borrow();
            allocator
                .as_ref()
                .filter(|allocator| allocator.running_low())
                .map(|allocator| (allocator.node_id, allocator.floor))
        };
        if let Some((node_id, floor)) = request {
            match source.request_block(node_id, floor).await {
                Ok(block) => {
                    if let Some(allocator) = source.allocator().borrow_mut().as_mut() {
                        allocator.receive(block);
                    }
                }
                // The next allocation asks again, in the foreground.
                Err(error) => tracing::warn!(%error, "producer id block prefetch failed"),
            }
        }
        let released = unlock.try_recv();
        assert!(released.is_ok(), "producer id gate out of balance");
    })
    .detach();
}

/// `reserved_end` of the file, or the 1-based line that is wrong.
fn decode(text: &str) -> Result<i64, usize> {
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        return Err(1);
    }
    let value = lines
        .next()
        .and_then(|line| line.strip_prefix("reserved_end "))
        .and_then(|value| value.parse::<i64>().ok())
        .filter(|value| *value >= 0)
        .ok_or(2usize)?;
    if lines.next().is_some() {
        return Err(3);
    }
    Ok(value)
}

#[cfg(test)]
mod tests;
