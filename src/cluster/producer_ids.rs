//! Producer id allocation for InitProducerId: ids unique across restarts, never reused even
//! after a crash.
//!
//! Block reservation: the file `<data>/producer-ids` records `reserved_end`, the first id not
//! yet reserved. Ids are handed out from the reserved block in memory; when it runs out, the
//! next block (`block_size` ids) is written to the file and fsynced *before* any id of it is
//! handed out. On open the allocator starts at the recorded `reserved_end`, so every id that
//! may have been handed out before a crash lies below it; a crash skips at most one block.
//!
//! ```text
//! <data>/producer-ids      ringbroker-producer-ids 1
//!                          reserved_end 3000
//! ```
//! Invariants: `next_id ≤ reserved_end`; the file's `reserved_end` ≥ the in-memory one once a
//! reservation has committed; reservations are serialised (one write in flight), so the file
//! only grows.
//!
//! Runs on shard 0 only (the one allocator of the node; other shards reach it through
//! `Shard::invoke_on(0, …)`). `!Send`.
use std::cell::RefCell;
use std::path::{Path, PathBuf};

use crate::limits::PRODUCER_ID_BLOCK_SIZE;
use crate::storage::{StorageError, read_small_file, write_atomically};

const HEADER: &str = "ringbroker-producer-ids 1";

/// Why no producer id could be handed out.
#[derive(Debug, thiserror::Error)]
pub enum ProducerIdError {
    /// Reading or writing the reservation file failed (also a malformed file).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Every id up to `i64::MAX` was reserved.
    #[error("producer ids are exhausted")]
    Exhausted,
    /// Shard 0 holds no allocator (start-up did not create one).
    #[error("no producer id allocator on this shard")]
    NotHere,
}

/// The allocator. See the module docs.
#[derive(Debug)]
pub struct ProducerIdAllocator {
    data_dir: PathBuf,
    next_id: i64,
    reserved_end: i64,
    block_size: i64,
    /// One reservation in flight at a time: a bounded(1) channel used as a lock that can be
    /// held across `.await` without holding the allocator's `RefCell` borrow.
    gate: (flume::Sender<()>, flume::Receiver<()>),
}

impl ProducerIdAllocator {
    pub const FILE_NAME: &'static str = "producer-ids";

    /// Opens (or starts) the allocator in `data_dir` with blocks of `PRODUCER_ID_BLOCK_SIZE`.
    ///
    /// # Errors
    /// `Storage` for an unreadable or malformed file.
    pub async fn open(data_dir: &Path) -> Result<Self, ProducerIdError> {
        Self::open_with_block_size(data_dir, PRODUCER_ID_BLOCK_SIZE).await
    }

    /// [`Self::open`] with another block size (tests).
    ///
    /// # Errors
    /// As [`Self::open`].
    ///
    /// # Panics
    /// When `block_size` is not positive.
    pub async fn open_with_block_size(
        data_dir: &Path,
        block_size: i64,
    ) -> Result<Self, ProducerIdError> {
        assert!(block_size > 0, "producer id blocks hold at least one id");
        compio::fs::create_dir_all(data_dir)
            .await
            .map_err(|e| StorageError::io("mkdir", data_dir, e))?;
        let path = data_dir.join(Self::FILE_NAME);
        let reserved_end = match read_small_file(&path).await? {
            None => 0,
            Some(text) => {
                decode(&text).map_err(|line| StorageError::MalformedFile { path, line })?
            }
        };
        let allocator = Self {
            data_dir: data_dir.to_path_buf(),
            next_id: reserved_end,
            reserved_end,
            block_size,
            gate: flume::bounded(1),
        };
        allocator.check_invariants();
        Ok(allocator)
    }

    /// Whether `producer_id` may have been handed out by this node (now or before a restart).
    #[must_use]
    pub fn is_issued(&self, producer_id: i64) -> bool {
        (0..self.next_id).contains(&producer_id)
    }

    /// The next id if the reserved block has one left.
    fn take_reserved(&mut self) -> Option<i64> {
        if self.next_id >= self.reserved_end {
            return None;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.check_invariants();
        Some(id)
    }

    /// # Panics
    /// When `next_id` ran past the reserved block or below zero.
    pub fn check_invariants(&self) {
        assert!(self.next_id >= 0, "negative producer id");
        assert!(
            self.next_id <= self.reserved_end,
            "id {} handed out beyond the reserved end {}",
            self.next_id,
            self.reserved_end
        );
    }
}

/// Hands out one producer id from the allocator in `cell`, reserving (and fsyncing) a new
/// block first when the current one is used up. Never holds the `RefCell` borrow across an
/// `.await`.
///
/// # Errors
/// `NotHere` when `cell` is empty; `Storage` when the reservation cannot be made durable;
/// `Exhausted`.
pub async fn allocate(cell: &RefCell<Option<ProducerIdAllocator>>) -> Result<i64, ProducerIdError> {
    let (lock, unlock) = {
        let mut allocator = cell.borrow_mut();
        let allocator = allocator.as_mut().ok_or(ProducerIdError::NotHere)?;
        // Fast path: an id of the reserved block, no file I/O, no waiting.
        if let Some(id) = allocator.take_reserved() {
            return Ok(id);
        }
        allocator.gate.clone()
    };
    // Waits while another task's reservation is in flight. Both channel ends live in the
    // allocator, so the send cannot fail while we hold a clone of each.
    let _ = lock.send_async(()).await;
    let result = reserve_and_take(cell).await;
    let released = unlock.try_recv();
    assert!(released.is_ok(), "producer id gate out of balance");
    result
}

/// Under the gate: take an id if another reservation made room meanwhile, else reserve the
/// next block durably and take its first id.
async fn reserve_and_take(
    cell: &RefCell<Option<ProducerIdAllocator>>,
) -> Result<i64, ProducerIdError> {
    let (data_dir, new_end) = {
        let mut allocator = cell.borrow_mut();
        let allocator = allocator.as_mut().ok_or(ProducerIdError::NotHere)?;
        if let Some(id) = allocator.take_reserved() {
            return Ok(id);
        }
        let new_end = allocator
            .reserved_end
            .checked_add(allocator.block_size)
            .ok_or(ProducerIdError::Exhausted)?;
        (allocator.data_dir.clone(), new_end)
    };
    write_atomically(&data_dir, ProducerIdAllocator::FILE_NAME, encode(new_end)).await?;
    // Re-check after the await: only this task reserves (the gate), so the end is unchanged.
    let mut allocator = cell.borrow_mut();
    let allocator = allocator.as_mut().ok_or(ProducerIdError::NotHere)?;
    assert!(new_end > allocator.reserved_end, "reservations only grow");
    allocator.reserved_end = new_end;
    allocator.take_reserved().ok_or(ProducerIdError::Exhausted)
}

fn encode(reserved_end: i64) -> String {
    format!("{HEADER}\nreserved_end {reserved_end}\n")
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
mod tests {
    use std::rc::Rc;

    use super::*;

    async fn open(directory: &Path, block_size: i64) -> RefCell<Option<ProducerIdAllocator>> {
        let allocator = ProducerIdAllocator::open_with_block_size(directory, block_size)
            .await
            .unwrap();
        RefCell::new(Some(allocator))
    }

    fn reserved_end(directory: &Path) -> i64 {
        let text = std::fs::read_to_string(directory.join(ProducerIdAllocator::FILE_NAME));
        decode(&text.unwrap()).unwrap()
    }

    #[compio::test]
    async fn ids_are_reserved_durably_before_they_are_handed_out() {
        let directory = tempfile::tempdir().unwrap();
        let cell = open(directory.path(), 3).await;
        assert!(
            !directory
                .path()
                .join(ProducerIdAllocator::FILE_NAME)
                .exists()
        );
        assert_eq!(allocate(&cell).await.unwrap(), 0);
        assert_eq!(reserved_end(directory.path()), 3);
        assert_eq!(allocate(&cell).await.unwrap(), 1);
        assert_eq!(allocate(&cell).await.unwrap(), 2);
        assert_eq!(reserved_end(directory.path()), 3);
        assert_eq!(allocate(&cell).await.unwrap(), 3);
        assert_eq!(reserved_end(directory.path()), 6);
        let allocator = cell.borrow();
        assert!(allocator.as_ref().unwrap().is_issued(3));
        assert!(!allocator.as_ref().unwrap().is_issued(4));
    }

    #[compio::test]
    async fn a_restart_never_reuses_an_id() {
        let directory = tempfile::tempdir().unwrap();
        let cell = open(directory.path(), 10).await;
        for expected in 0..4 {
            assert_eq!(allocate(&cell).await.unwrap(), expected);
        }
        drop(cell); // a crash: ids 4..10 of the block are skipped, never reused
        let cell = open(directory.path(), 10).await;
        assert!(cell.borrow().as_ref().unwrap().is_issued(9));
        assert_eq!(allocate(&cell).await.unwrap(), 10);
        assert_eq!(reserved_end(directory.path()), 20);
    }

    #[compio::test]
    async fn concurrent_allocations_are_unique_and_covered_by_the_file() {
        let directory = tempfile::tempdir().unwrap();
        let cell = Rc::new(open(directory.path(), 2).await);
        let tasks: Vec<_> = (0..25)
            .map(|_| {
                let cell = Rc::clone(&cell);
                compio::runtime::spawn(async move { allocate(&cell).await.unwrap() })
            })
            .collect();
        let mut ids = Vec::new();
        for task in tasks {
            ids.push(task.await.unwrap());
        }
        ids.sort_unstable();
        assert_eq!(ids, (0..25).collect::<Vec<i64>>());
        assert!(reserved_end(directory.path()) >= 25);
    }

    #[compio::test]
    async fn a_malformed_file_refuses_to_open() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join(ProducerIdAllocator::FILE_NAME);
        std::fs::write(&path, format!("{HEADER}\nreserved_end -4\n")).unwrap();
        let error = ProducerIdAllocator::open(directory.path())
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                ProducerIdError::Storage(StorageError::MalformedFile { line: 2, .. })
            ),
            "{error}"
        );
        assert_eq!(decode("something else\n"), Err(1));
        assert_eq!(
            decode(&format!("{HEADER}\nreserved_end 5\nextra\n")),
            Err(3)
        );
        assert_eq!(decode(&encode(77)), Ok(77));
    }

    #[compio::test]
    async fn an_empty_cell_is_not_here() {
        let cell = RefCell::new(None);
        assert!(matches!(
            allocate(&cell).await,
            Err(ProducerIdError::NotHere)
        ));
    }
}
