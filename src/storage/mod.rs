//! Partition logs on disk, Kafka's layout: segments of verbatim record batches, sparse offset
//! and time indexes, a leader-epoch checkpoint, and our control file (recovery point, log
//! start, clean-shutdown marker).
//!
//! ```text
//! <data>/<topic>-<partition>/
//!   00000000000000000000.log  .index  .timeindex     one segment (see segment.rs, index.rs)
//!   00000000000000001200.log  .index  .timeindex     the active segment is the last
//!   leader-epoch-checkpoint                           Kafka's text format (epoch.rs)
//!   ringbroker-log                                    control file (control.rs)
//!   00000000000000001200.snapshot                     producer state (producer_state.rs)
//! ```
//! Owns: files under a partition directory, offsets (log start ≤ high watermark ≤ log end),
//! recovery, retention, roll, flush policies, and replication's log operations (replica.rs:
//! a follower's verbatim append, the replicated high watermark and its checkpoint, epochs).
//! Does not own: wire types (it sees batches only through `protocol::record_batch`), partition
//! placement, fetch sessions, splice, replication's decisions (src/replication/).
//!
//! Writes go through compio's io_uring positional (vectored) writes into the page cache; no
//! O_DIRECT. Opening, rolling and deleting segments use compio's fs ops (open/rename/unlink/
//! fsync); listing a directory on open uses `std::fs::read_dir` (rare, documented blocking).
//!
//! Each shard's logs are owned by one task, its log pump (`pump/`); every other task and
//! service on the shard reaches them through a [`LogPump`] handle.
//!
//! Runs on the shard that owns each partition; everything here is `!Send`.
mod append;
mod batch;
mod config;
mod control;
mod epoch;
mod error;
mod index;
mod log;
pub mod partition_metadata;
mod producer_log;
mod producer_state;
mod pump;
mod read;
mod replica;
mod retention;
mod retention_probe;
mod segment;
mod shard_logs;
pub mod testing;
mod truncate;

pub use append::{AppendInfo, AppendRequest};
pub use batch::CheckedBatch;
pub use config::{Clock, FlushPolicy, LogConfig, ManualClock, SystemClock, TimestampType};
pub use control::{read_small_file, write_atomically};
pub use epoch::{EpochEntry, LeaderEpochCache};
pub use error::{StorageError, StorageErrorKind};
pub use log::PartitionLog;
pub use producer_state::{
    BATCHES_RETAINED, BatchRecord, Decision, PRODUCER_ID_EXPIRATION_MS_DEFAULT, ProducerBatch,
    ProducerEntry, ProducerError, ProducerStateTable, SnapshotError, StagedUpdates, Staging,
    increment_sequence, parse_snapshot_file_name, snapshot_file_name,
};
pub use pump::{
    FollowerOutcome, FollowerUpdate, LeasedData, LeasedRange, LogPump, LogSpec, PartitionKey,
    PartitionOffsets, PumpLimits, PumpOptions, ReadArgs, ReadData, ReadUpto, ReplicaLogState,
    WantedLogs, lease_ranges,
};
pub use read::{FileRange, ReadSlice};
pub use segment::SegmentFile;
pub use shard_logs::{ShardLogs, join_all};
