//! Every bound in the broker, with its arithmetic. Config values are validated against these
//! once, at start-up (`config.rs`); code below uses them as hard caps.
//!
//! Runs on no shard in particular: constants only.

/// Largest request frame accepted (Kafka's `socket.request.max.bytes` default, 100 MiB). A frame
/// is buffered whole before decoding, so this is also the per-connection receive buffer cap; at
/// 1 GB/s a maximal frame holds a connection's pipeline for ~100 ms.
pub const FRAME_SIZE_MAX: usize = 100 * 1024 * 1024;

/// Largest record batch accepted in one Produce partition (Kafka's `message.max.bytes` default is
/// 1 MiB + overhead; we allow topics to raise it up to this, which must fit in a frame).
pub const BATCH_SIZE_MAX: usize = 64 * 1024 * 1024;
const _: () = assert!(FRAME_SIZE_MAX >= BATCH_SIZE_MAX);

/// Default `max.message.bytes` (Kafka: 1048588).
pub const MESSAGE_SIZE_MAX_DEFAULT: usize = 1_048_588;
const _: () = assert!(MESSAGE_SIZE_MAX_DEFAULT <= BATCH_SIZE_MAX);

/// Cap on the decompressed size of one batch when records are iterated (tests, ringbench,
/// validation of compressed batches). 256 MiB: four times the largest batch, which covers real
/// compression ratios of text while stopping a decompression bomb.
pub const DECOMPRESSED_BATCH_SIZE_MAX: usize = 256 * 1024 * 1024;
const _: () = assert!(DECOMPRESSED_BATCH_SIZE_MAX >= BATCH_SIZE_MAX);

/// Kafka's topic name length limit (249: the directory name `<topic>-<partition>` must fit 255).
pub const TOPIC_NAME_LENGTH_MAX: usize = 249;

/// Partitions per topic we accept on create / add-partitions.
pub const PARTITIONS_PER_TOPIC_MAX: i32 = 10_000;

/// Partitions one shard may own; each costs two open files (log + index) and a few KiB of state.
pub const PARTITIONS_PER_SHARD_MAX: usize = 100_000;

// ---- storage (src/storage) ----

/// Largest segment file: sparse index positions are i32 (Kafka's `.index` format).
pub const SEGMENT_SIZE_MAX: u64 = i32::MAX as u64;

/// Smallest segment Kafka accepts for `segment.bytes` (14 bytes in Kafka; we require room for
/// one batch header so every non-empty segment holds at least one batch).
pub const SEGMENT_SIZE_MIN: u64 = 61;

/// Batches in one append (one Produce partition or one tick's worth for a partition). A Produce
/// frame of `FRAME_SIZE_MAX` holds at most FRAME_SIZE_MAX / 61 ≈ 1.7 M batches; we cap far lower
/// because each batch costs an iovec and the kernel takes at most 1024 iovecs per write call.
pub const APPEND_BATCHES_MAX: usize = 65_536;

/// Bytes in one append: a Produce frame's worth.
pub const APPEND_SIZE_MAX: u64 = FRAME_SIZE_MAX as u64;
const _: () = assert!(APPEND_SIZE_MAX <= SEGMENT_SIZE_MAX);

/// Bytes read per I/O when walking batch headers (reads, offset-for-timestamp) or scanning a
/// segment during recovery. 1 MiB keeps recovery near sequential-read speed while bounding the
/// per-scan buffer.
pub const SEGMENT_SCAN_CHUNK_SIZE: usize = 1024 * 1024;
const _: () = assert!(SEGMENT_SCAN_CHUNK_SIZE >= 61);

/// Bytes read per I/O when only batch headers are needed (a fetch locating its start and end).
pub const HEADER_SCAN_CHUNK_SIZE: usize = 16 * 1024;

/// Segments one partition may hold; a log that would exceed it rolls no further segments until
/// retention deletes some (1 GiB segments × 100 k = 100 TiB per partition).
pub const SEGMENTS_PER_PARTITION_MAX: usize = 100_000;

/// Leader epochs remembered per partition (Kafka keeps all; a real partition sees a few hundred).
pub const LEADER_EPOCHS_MAX: usize = 65_536;

/// Appends whose end position is remembered while the high watermark lags the log end
/// (replication). Older ones are forgotten: reads then stop at an earlier batch boundary.
pub const UNREPLICATED_APPENDS_MAX: usize = 4096;

/// Size of our own small files (control file, leader-epoch checkpoint) we read whole.
pub const METADATA_FILE_SIZE_MAX: u64 = 4 * 1024 * 1024;
