//! Idempotent-producer state of one partition: per producer id its epoch, the sequence and
//! offset ranges of its last 5 batches, and when it was last active; the checks an append runs
//! per batch before anything is written, and the snapshot file that carries the table across
//! restarts.
//!
//! Rules (Kafka's `ProducerAppendInfo` / `ProducerStateEntry` / `UnifiedLog`, Kafka ≥ 2.7):
//! ```text
//! producer_id < 0                       no idempotence: bypasses the table
//! epoch = entry epoch, (first, last) sequence equal to one of the 5 kept batches
//!                                       Duplicate: answer with its offsets, write nothing
//! epoch < entry epoch                   INVALID_PRODUCER_EPOCH (47)
//! epoch > entry epoch, sequence ≠ 0     OUT_OF_ORDER_SEQUENCE_NUMBER (45)
//! epoch > entry epoch, sequence = 0     accepted; the new epoch starts with an empty window
//! same epoch, first ≠ last + 1          OUT_OF_ORDER_SEQUENCE_NUMBER (45); i32::MAX → 0 wraps
//! unknown producer (no entry)           accepted at any sequence (KIP-360, Kafka 2.5+: the
//!                                       broker no longer answers UNKNOWN_PRODUCER_ID (59) to
//!                                       Produce; it forgets producers only by expiry, and a
//!                                       client whose state expired must be able to go on)
//! ```
//! The duplicate check looks at the committed table only (as Kafka's does); the sequence check
//! of a batch also sees the batches before it in the same append ([`Staging`]).
//!
//! Expiry: a producer whose last batch timestamp is `producer.id.expiration.ms` or more behind
//! the clock is forgotten. Like Kafka, "last activity" is the batch's max timestamp (the broker's
//! clock for LogAppendTime), because that is what a replay of the log can reproduce.
//!
//! Snapshot file `<20-digit offset>.snapshot`: the table as of that offset (batches below it).
//! ```text
//! [magic "RBPS"][version:u16 = 1][crc32c:u32 of everything after it]
//! [offset:i64][producer_count:u32]
//! per producer: [producer_id:i64][epoch:i16][last_timestamp_ms:i64][batch_count:u8]
//!   per batch:  [first_sequence:i32][last_sequence:i32][first_offset:i64][last_offset:i64]
//!               [timestamp_ms:i64]
//! ```
//! all big-endian. Invariants: at most [`crate::limits::PRODUCERS_PER_PARTITION_MAX`] producers and
//! [`BATCHES_RETAINED`] batches each, batches in append order with rising offsets.
//!
//! Runs on the shard that owns the partition; `!Send` only through its owner.
//!
//! Files: `rules.rs` (the per-batch checks and their errors), `table.rs` (the committed table),
//! `staging.rs` (batches checked but not yet written), `snapshot.rs` (the file format).
mod rules;
mod snapshot;
mod staging;
mod table;

pub use rules::{Decision, ProducerBatch, ProducerError, increment_sequence};
pub use snapshot::{
    SNAPSHOT_SIZE_MAX, SnapshotError, parse_snapshot_file_name, snapshot_file_name,
};
pub use staging::{StagedUpdates, Staging};
pub use table::{BatchRecord, ProducerEntry, ProducerStateTable};

/// Batches remembered per producer: the most a client keeps in flight
/// (`max.in.flight.requests.per.connection` ≤ 5 with idempotence), Kafka's
/// `NUM_BATCHES_TO_RETAIN`.
pub const BATCHES_RETAINED: usize = 5;

/// Kafka's default `producer.id.expiration.ms`: one day.
pub const PRODUCER_ID_EXPIRATION_MS_DEFAULT: i64 = 86_400_000;
// The same fact as the broker setting's default (config.rs), in the table's i64 milliseconds.
#[allow(clippy::cast_sign_loss)] // a positive constant
const _: () = assert!(
    PRODUCER_ID_EXPIRATION_MS_DEFAULT as u64 == crate::limits::PRODUCER_ID_EXPIRATION_MS_DEFAULT
);
