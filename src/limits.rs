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
