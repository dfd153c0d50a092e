//! Receive buffers for large request frames: a per-shard pool of `Vec<u8>`s in power-of-two size
//! classes, and [`FrameBuffer`], which receives exactly one frame into a pooled buffer (or a
//! fresh one) and turns it into `Bytes` that give the buffer back when the last slice drops.
//!
//! Why: a Produce frame of 1 MiB used to be split off the connection's one receive buffer, so
//! the next reserve on that buffer allocated afresh and copied the partial next frame, and each
//! 1 MiB+ allocation was a fresh mmap (page faults, zeroing, munmap). Reusing a buffer that
//! holds one frame and nothing else removes the copy and the faults.
//!
//! Classes: class `k` holds idle buffers whose capacity lies in `[2^k, 2^(k+1))`, for `k` from
//! `RECEIVE_POOL_CLASS_MIN_LOG2` to `RECEIVE_POOL_CLASS_MAX_LOG2`. A frame of `n` bytes looks in
//! class `floor(log2 n)` for a buffer of capacity ≥ n, then in the class above (where every
//! buffer fits), so a pooled buffer is at most 4× its frame. Buffers of other capacities are not
//! kept. Bounds: `RECEIVE_POOL_BUFFERS_PER_CLASS_MAX` per class and
//! `RECEIVE_POOL_SIZE_PER_SHARD_MAX` idle bytes per pool; a buffer that would exceed either is
//! freed instead, except that a full class swaps its smallest buffer for a larger one (so it
//! drifts toward buffers that fit the frames actually arriving).
//!
//! Memory follows bytes received: a frame that finds no pooled buffer gets one that grows by at
//! most `READ_GROWTH_MAX` per read and never past the frame's size, so a peer announcing
//! 100 MiB and sending 10 bytes costs one growth step. Such a grown buffer joins the pool when
//! its frame is dropped (if its capacity fits a class), so the pool fills from real traffic.
//!
//! Threads: each shard thread has its own pool ([`shard_pool`]), taken from only on that
//! thread (the connection's). The last slice of a frame may drop on another shard (storage on
//! the partition's owner), so giving back is thread-safe and never blocks: a `try_lock` on the
//! class; a busy or poisoned class, or a full one with nothing smaller, just frees the buffer.
use crate::limits;
use bytes::Bytes;
use compio::buf::Slice;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const CLASS_MIN_LOG2: u32 = limits::RECEIVE_POOL_CLASS_MIN_LOG2;
const CLASS_MAX_LOG2: u32 = limits::RECEIVE_POOL_CLASS_MAX_LOG2;
const CLASS_COUNT: usize = (CLASS_MAX_LOG2 - CLASS_MIN_LOG2 + 1) as usize;

/// One shard's idle receive buffers. Cloning shares the pool.
#[derive(Debug, Clone)]
pub struct ReceivePool {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// Idle buffers per class, each `Vec` allocated once at its cap so pushing never allocates
    /// (nothing can panic while a lock is held).
    classes: [Mutex<Vec<Vec<u8>>>; CLASS_COUNT],
    /// Capacity of all idle buffers, ≤ `RECEIVE_POOL_SIZE_PER_SHARD_MAX`.
    idle_size: AtomicUsize,
}

thread_local! {
    /// The pool of the shard running on this thread (one shard per thread, ARCHITECTURE §1).
    static SHARD_POOL: ReceivePool = ReceivePool::new();
}

/// This shard's pool.
#[must_use]
pub fn shard_pool() -> ReceivePool {
    SHARD_POOL.with(ReceivePool::clone)
}

/// The class an idle buffer of `capacity` bytes belongs to, if any.
fn class_of_capacity(capacity: usize) -> Option<usize> {
    let log2 = capacity.checked_ilog2()?;
    if !(CLASS_MIN_LOG2..=CLASS_MAX_LOG2).contains(&log2) {
        return None;
    }
    usize::try_from(log2 - CLASS_MIN_LOG2).ok()
}

/// The classes, best first, that may hold a buffer for a frame of `size` bytes.
fn classes_for_frame(size: usize) -> impl Iterator<Item = usize> {
    let log2 = size.checked_ilog2().unwrap_or(0).max(CLASS_MIN_LOG2);
    // Above the largest class nothing is pooled: both candidates fall outside the range.
    [log2, log2.saturating_add(1)]
        .into_iter()
        .filter(|log2| (CLASS_MIN_LOG2..=CLASS_MAX_LOG2).contains(log2))
        .filter_map(|log2| usize::try_from(log2 - CLASS_MIN_LOG2).ok())
}

impl Default for ReceivePool {
    fn default() -> Self {
        Self::new()
    }
}

impl ReceivePool {
    /// An empty pool; allocates only the per-class lists (a few hundred bytes).
    #[must_use]
    pub fn new() -> Self {
        let classes = std::array::from_fn(|_| {
            Mutex::new(Vec::with_capacity(
                limits::RECEIVE_POOL_BUFFERS_PER_CLASS_MAX,
            ))
        });
        Self {
            shared: Arc::new(Shared {
                classes,
                idle_size: AtomicUsize::new(0),
            }),
        }
    }

    /// An idle buffer (empty, capacity ≥ `size`) for a frame of `size` bytes, or `None` when
    /// none of a fitting class is idle (or the class is busy being given to).
    #[must_use]
    pub fn take(&self, size: usize) -> Option<Vec<u8>> {
        for class in classes_for_frame(size) {
            let Some(Ok(mut idle)) = self.shared.classes.get(class).map(Mutex::try_lock) else {
                continue;
            };
            // Bounded by RECEIVE_POOL_BUFFERS_PER_CLASS_MAX.
            let Some(position) = idle.iter().position(|buffer| buffer.capacity() >= size) else {
                continue;
            };
            let buffer = idle.swap_remove(position);
            drop(idle);
            self.shared
                .idle_size
                .fetch_sub(buffer.capacity(), Ordering::Relaxed);
            return Some(buffer);
        }
        None
    }

    /// Keeps `buffer` for a later frame if its class has room (or holds a smaller buffer, which
    /// it replaces) and the pool's byte cap allows; otherwise frees it. Never blocks; callable
    /// from any thread. Returns whether it was kept.
    pub fn give(&self, mut buffer: Vec<u8>) -> bool {
        let capacity = buffer.capacity();
        let Some(class) = class_of_capacity(capacity) else {
            return false;
        };
        let Some(Ok(mut idle)) = self.shared.classes.get(class).map(Mutex::try_lock) else {
            return false;
        };
        // A full class trades its smallest buffer for a larger one: frames of one class vary in
        // size and a larger buffer fits more of them, so a class cannot stay full of buffers
        // too small for the frames that arrive. Bounded scan: the class's cap.
        let evict = if idle.len() >= limits::RECEIVE_POOL_BUFFERS_PER_CLASS_MAX {
            let smallest = idle
                .iter()
                .enumerate()
                .min_by_key(|(_, idle)| idle.capacity())
                .map(|(index, idle)| (index, idle.capacity()));
            match smallest {
                Some((index, smallest)) if smallest < capacity => Some((index, smallest)),
                _ => return false,
            }
        } else {
            None
        };
        let freed = evict.map_or(0, |(_, size)| size);
        let reserved =
            self.shared
                .idle_size
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |idle_size| {
                    idle_size
                        .checked_sub(freed)?
                        .checked_add(capacity)
                        .filter(|&total| total <= limits::RECEIVE_POOL_SIZE_PER_SHARD_MAX)
                });
        if reserved.is_err() {
            return false;
        }
        // Old frame bytes stay in memory but are never exposed: only `len` bytes are readable,
        // and every use refills from 0.
        buffer.clear();
        let evicted = match evict.and_then(|(index, _)| idle.get_mut(index)) {
            Some(slot) => Some(std::mem::replace(slot, buffer)),
            None => {
                idle.push(buffer);
                None
            }
        };
        drop(idle);
        // Freed (an munmap for large buffers) after the lock is released.
        drop(evicted);
        true
    }

    /// Capacity of the idle buffers, in bytes.
    #[must_use]
    pub fn idle_size(&self) -> usize {
        self.shared.idle_size.load(Ordering::Relaxed)
    }

    /// Idle buffers (a busy class counts as empty).
    #[must_use]
    pub fn idle_count(&self) -> usize {
        self.shared
            .classes
            .iter()
            .filter_map(|class| class.try_lock().ok().map(|idle| idle.len()))
            .sum()
    }
}

/// One large frame being received, size prefix included, into a buffer of its own.
///
/// Invariants: `bytes.len() ≤ frame_size`; `bytes.capacity() ≤ frame_size` unless the buffer
/// came from the pool; reads go at most up to `frame_size`, so no byte of the next frame lands
/// here.
#[derive(Debug)]
pub struct FrameBuffer {
    bytes: Vec<u8>,
    frame_size: usize,
    pool: ReceivePool,
}

impl FrameBuffer {
    /// Starts receiving a frame of `frame_size` bytes whose first bytes, `received` (shorter
    /// than the frame), already arrived. Takes a pooled buffer if one fits; otherwise allocates
    /// what arrived plus at most one growth step.
    #[must_use]
    pub fn start(pool: &ReceivePool, frame_size: usize, received: &[u8]) -> Self {
        assert!(
            received.len() < frame_size,
            "a whole frame needs no buffer of its own"
        );
        let mut bytes = pool.take(frame_size).unwrap_or_else(|| {
            Vec::with_capacity(frame_size.min(received.len() + limits::READ_GROWTH_MAX))
        });
        bytes.extend_from_slice(received);
        Self {
            bytes,
            frame_size,
            pool: pool.clone(),
        }
    }

    /// Bytes of the frame not received yet.
    #[must_use]
    pub fn missing(&self) -> usize {
        self.frame_size - self.bytes.len()
    }

    /// Capacity of the buffer (for tests and accounting).
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
    }

    /// The buffer's room up to the frame's end, for one read; grows the buffer first (by at most
    /// `READ_GROWTH_MAX`, never past the frame) when less than a read chunk is left. Hand the
    /// buffer back with [`FrameBuffer::filled`].
    ///
    /// # Panics
    /// When the frame is complete (there is nothing to read into).
    #[must_use]
    pub fn read_target(&mut self) -> Slice<Vec<u8>> {
        let missing = self.missing();
        assert!(missing > 0, "read into a complete frame");
        let room = self.bytes.capacity() - self.bytes.len();
        if room < missing.min(limits::READ_CHUNK_SIZE) {
            self.bytes
                .reserve_exact(missing.min(limits::READ_GROWTH_MAX));
        }
        let begin = self.bytes.len();
        // Fully qualified: `IoBuf` in scope would shadow `Bytes::slice` below.
        compio::buf::IoBuf::slice(std::mem::take(&mut self.bytes), begin..self.frame_size)
    }

    /// Takes the buffer back after a read into [`FrameBuffer::read_target`].
    pub fn filled(&mut self, bytes: Vec<u8>) {
        assert!(bytes.len() <= self.frame_size, "read past the frame's end");
        self.bytes = bytes;
    }

    /// The frame's payload (after the size prefix) as `Bytes`; the buffer goes back to the pool
    /// when the last slice of it drops, on whatever thread that is.
    ///
    /// # Panics
    /// When the frame is not complete.
    #[must_use]
    pub fn finish(mut self, prefix_size: usize) -> Bytes {
        assert_eq!(self.missing(), 0, "frame not complete");
        let owner = PooledBytes {
            bytes: std::mem::take(&mut self.bytes),
            pool: self.pool.clone(),
        };
        Bytes::from_owner(owner).slice(prefix_size..)
    }
}

impl Drop for FrameBuffer {
    /// A frame dropped between reads (its connection ended) still returns its buffer; one
    /// dropped during a read loses it with the read (the kernel may still be writing into it).
    fn drop(&mut self) {
        if self.bytes.capacity() > 0 {
            self.pool.give(std::mem::take(&mut self.bytes));
        }
    }
}

/// The owner behind a received frame's `Bytes`: gives its buffer back on drop.
struct PooledBytes {
    bytes: Vec<u8>,
    pool: ReceivePool,
}

impl AsRef<[u8]> for PooledBytes {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for PooledBytes {
    fn drop(&mut self) {
        self.pool.give(std::mem::take(&mut self.bytes));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may unwrap and index
mod tests {
    use super::*;
    use compio::buf::IntoInner;

    const KIB: usize = 1024;
    const MIB: usize = 1024 * 1024;

    #[test]
    fn classes_cover_powers_of_two_between_the_limits() {
        assert_eq!(class_of_capacity(0), None);
        assert_eq!(class_of_capacity(64 * KIB), None);
        assert_eq!(class_of_capacity(128 * KIB), Some(0));
        assert_eq!(class_of_capacity(256 * KIB - 1), Some(0));
        assert_eq!(class_of_capacity(MIB + 100), Some(3));
        assert_eq!(class_of_capacity(16 * MIB), Some(CLASS_COUNT - 1));
        assert_eq!(class_of_capacity(32 * MIB), None);
        // A frame looks in its floor class, then the one above.
        assert_eq!(classes_for_frame(100 * KIB).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(classes_for_frame(MIB + 100).collect::<Vec<_>>(), [3, 4]);
        assert_eq!(
            classes_for_frame(16 * MIB).collect::<Vec<_>>(),
            [CLASS_COUNT - 1]
        );
        assert_eq!(classes_for_frame(32 * MIB).count(), 0);
    }

    #[test]
    fn take_finds_a_buffer_big_enough_for_the_frame() {
        let pool = ReceivePool::new();
        assert!(pool.take(MIB).is_none());
        assert!(pool.give(Vec::with_capacity(MIB + 100)));
        // Same class, but too small for this frame.
        assert!(pool.take(MIB + 200).is_none());
        let buffer = pool.take(MIB + 50).unwrap();
        assert!(buffer.capacity() >= MIB + 50 && buffer.is_empty());
        assert_eq!(pool.idle_size(), 0);
        // A buffer one class up serves a smaller frame; two classes up does not.
        assert!(pool.give(Vec::with_capacity(2 * MIB)));
        assert!(pool.take(MIB + 300).is_some());
        assert!(pool.give(Vec::with_capacity(4 * MIB)));
        assert!(pool.take(MIB + 300).is_none());
        assert_eq!(pool.idle_count(), 1);
    }

    #[test]
    fn pool_bounds_count_per_class_and_total_size() {
        let pool = ReceivePool::new();
        // Sizes outside the classes are never kept.
        assert!(!pool.give(Vec::with_capacity(64 * KIB)));
        assert!(!pool.give(Vec::with_capacity(32 * MIB)));
        for _ in 0..limits::RECEIVE_POOL_BUFFERS_PER_CLASS_MAX {
            assert!(pool.give(Vec::with_capacity(128 * KIB)));
        }
        assert!(!pool.give(Vec::with_capacity(128 * KIB)));
        let count = limits::RECEIVE_POOL_BUFFERS_PER_CLASS_MAX;
        assert_eq!(pool.idle_size(), count * 128 * KIB);
        assert_eq!(pool.idle_count(), count);
        // A full class trades its smallest buffer for a larger one of the class.
        assert!(pool.give(Vec::with_capacity(200 * KIB)));
        assert_eq!(pool.idle_count(), count);
        assert_eq!(pool.idle_size(), (count - 1) * 128 * KIB + 200 * KIB);
        assert!(pool.take(200 * KIB).is_some());
        assert_eq!(pool.idle_size(), (count - 1) * 128 * KIB);
        assert!(pool.give(Vec::with_capacity(128 * KIB)));
        // The byte cap: 16 MiB buffers until the next would pass it.
        let mut kept = 0;
        while pool.give(Vec::with_capacity(16 * MIB)) {
            kept += 1;
            assert!(kept <= limits::RECEIVE_POOL_BUFFERS_PER_CLASS_MAX);
        }
        assert!(pool.idle_size() <= limits::RECEIVE_POOL_SIZE_PER_SHARD_MAX);
        assert!(pool.idle_size() + 16 * MIB > limits::RECEIVE_POOL_SIZE_PER_SHARD_MAX);
    }

    #[test]
    fn frame_bytes_return_their_buffer_from_another_thread() {
        let pool = ReceivePool::new();
        let frame_size = 300 * KIB;
        let mut frame = FrameBuffer::start(&pool, frame_size, &[0, 4, 176, 0, 7]);
        fill(&mut frame);
        let bytes = frame.finish(4);
        assert_eq!(bytes.len(), frame_size - 4);
        assert_eq!(bytes[0], 7);
        assert_eq!(pool.idle_count(), 0);
        let part = bytes.slice(10..20);
        drop(bytes);
        assert_eq!(pool.idle_count(), 0, "a slice still holds the buffer");
        std::thread::spawn(move || drop(part)).join().unwrap();
        assert_eq!(pool.idle_count(), 1);
        // The next frame of that class reuses it, without growth steps.
        let frame = FrameBuffer::start(&pool, frame_size - 1, &[1]);
        assert_eq!(frame.capacity(), frame_size);
        assert_eq!(pool.idle_count(), 0);
        drop(frame);
        assert_eq!(
            pool.idle_count(),
            1,
            "an abandoned frame gives its buffer back"
        );
    }

    #[test]
    fn a_full_pool_frees_returned_buffers() {
        let pool = ReceivePool::new();
        let frames: Vec<Bytes> = (0..=limits::RECEIVE_POOL_BUFFERS_PER_CLASS_MAX)
            .map(|_| {
                let mut frame = FrameBuffer::start(&pool, 200 * KIB, &[0]);
                fill(&mut frame);
                frame.finish(4)
            })
            .collect();
        drop(frames);
        assert_eq!(
            pool.idle_count(),
            limits::RECEIVE_POOL_BUFFERS_PER_CLASS_MAX
        );
    }

    #[test]
    fn memory_follows_bytes_received_not_the_announced_size() {
        let pool = ReceivePool::new();
        let mut frame = FrameBuffer::start(&pool, 100 * MIB, &[6, 64, 0, 0, 1, 2]);
        assert!(frame.capacity() <= 6 + limits::READ_GROWTH_MAX);
        let target = frame.read_target();
        assert_eq!(target.begin(), 6);
        frame.filled(target.into_inner());
        assert!(frame.capacity() <= 6 + limits::READ_GROWTH_MAX);
        // Growth happens only once the room is used, one step at a time.
        let mut filled = 6;
        for _ in 0..3 {
            let mut target = frame.read_target();
            let room = target.as_inner().capacity() - filled;
            target.as_inner_mut().resize(filled + room, 9);
            filled += room;
            frame.filled(target.into_inner());
            assert!(frame.capacity() <= filled + limits::READ_GROWTH_MAX);
        }
        // A frame that fits one step is allocated at its size, never past it.
        let frame = FrameBuffer::start(&pool, 300 * KIB, &[0]);
        assert_eq!(frame.capacity(), 300 * KIB);
    }

    /// Receives the rest of `frame` as reads would, byte 7 throughout.
    fn fill(frame: &mut FrameBuffer) {
        while frame.missing() > 0 {
            let mut target = frame.read_target();
            let end = target.end().unwrap();
            let room = target.as_inner().capacity().min(end);
            target.as_inner_mut().resize(room, 7);
            frame.filled(target.into_inner());
        }
    }
}
