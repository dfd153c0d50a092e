//! The log pump: the one task per shard that owns the shard's partition logs, and
//! [`LogPump`], the handle every other task (and service) on the shard reaches it with.
//!
//! Storage calls hold `&mut PartitionLog` / `&PartitionLog` across io_uring awaits, so the logs
//! cannot sit in a `RefCell` that handlers borrow. Instead one task owns them (`ShardLogs`) and
//! everything else sends it commands over a bounded local queue (`LOG_PUMP_QUEUE_CAPACITY`) and
//! awaits a oneshot reply. Each turn of the pump is a *tick*: it takes every command already
//! queued (at most `LOG_PUMP_TICK_COMMANDS_MAX`), runs all appends of the tick as one
//! `append_tick` (one vectored write per partition, submitted together; one group fdatasync in
//! strict mode), then the mutations in arrival order, then all queries concurrently.
//! Appends from one connection keep their order because the connection's shard sends them in
//! request order and the queue is FIFO.
//!
//! A command is one of three kinds, each its own type handled by its own code: an [`Append`]
//! (batched into the tick's write), a [`Query`] (reads the logs, `task.rs` → `query.rs`) or a
//! [`Mutation`] (changes the set of logs or a log's start, `task.rs`; replication's own in
//! `replica.rs`).
//!
//! ```text
//! mod.rs      the handle, the command kinds, the values that cross the mesh
//! task.rs          the pump task: ticks, mutations (reconcile, delete records, close)
//! lazy.rs          dormant logs: opened on first use or in the background, least used closed
//! housekeeping.rs  rolls, retention, flushes of open logs; dormant logs probed for retention
//! query.rs         read-only commands; copy-mode and zero-copy (leased) reads
//! replica.rs       replication's mutations: verbatim follower appends, high watermark,
//!                  truncation, reset, epochs, log start
//! ```
//!
//! Replication (issue 16): a log whose [`LogSpec`] says `replicated` keeps its high watermark
//! apart from its log end; the replica manager moves it ([`LogPump::set_high_watermark`]) and
//! reads past the high watermark for its followers ([`ReadUpto::LogEnd`]). A follower applies
//! a whole fetch answer with one mutation, [`LogPump::follow_leader`]: per partition, in the
//! answer's order, the leader's batches appended verbatim, then the high watermark, then the
//! log start, and the log's state returned; one queued command and one wake-up per answer
//! instead of four per partition (the RF 3 cost was those wake-ups, bench/RESULTS.md). It
//! stays out of the tick's shared write: one write per partition per answer either way.
//!
//! Zero-copy reads (`read_leased`): the pump resolves a fetch to file ranges and `dup`s each
//! segment's fd for them. The `Rc<SegmentFile>` of a range cannot leave this shard, but fds are
//! process-wide: the duplicate is `Send`, and it *is* the lease: a segment that retention
//! unlinks stays readable until the last duplicate is closed, after the send completes.
//!
//! Long poll: a fetch registers a waiter (a bounded(1) sender) per partition; the pump signals
//! every waiter of a partition after an append to it succeeds (a leader's or a follower's:
//! followers long-poll for the log end) and when its high watermark grows (consumers of a
//! replicated partition wait for that, not for the append).
//!
//! Does not own: which partitions a shard has (placement and topic configs are the cluster's:
//! it sends [`LogPump::reconcile`] the full wanted set), wire types, cross-shard routing.
//!
//! Runs on its own shard only; `!Send` state. Callers on other shards reach it through the
//! mesh to this shard.
mod housekeeping;
mod lazy;
mod query;
mod replica;
mod task;

pub use query::lease_ranges;

use super::{
    AppendInfo, AppendRequest, CheckedBatch, Clock, EpochEntry, LogConfig, ShardLogs, StorageError,
    SystemClock,
};
use crate::limits;
use crate::protocol::Uuid;
use bytes::Bytes;
use std::cell::RefCell;
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// A partition, as the broker names it internally. Ordered so the dormant logs can be visited
/// round-robin from a cursor (housekeeping.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionKey {
    pub topic_id: Uuid,
    pub partition: i32,
}

/// Record bytes read for a fetch (copy mode), with the partition's offsets at read time.
#[derive(Debug, Clone)]
pub struct ReadData {
    pub bytes: Bytes,
    pub high_watermark: i64,
    pub log_start_offset: i64,
}

/// What a fetch reads from one partition: whole batches from the one holding `offset`, at most
/// `max_bytes` unless `min_one_batch` (KIP-74: the first batch whole, however large), up to
/// `upto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadArgs {
    pub key: PartitionKey,
    pub offset: i64,
    pub max_bytes: u32,
    pub min_one_batch: bool,
    pub upto: ReadUpto,
}

/// Where a read stops (Kafka's `FetchIsolation`, without transactions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadUpto {
    /// Consumers: committed records only (`FetchHighWatermark`).
    #[default]
    HighWatermark,
    /// Followers: everything the leader has (`FetchLogEnd`).
    LogEnd,
}

/// What the replica manager needs of a log, in one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaLogState {
    pub log_start_offset: i64,
    pub high_watermark: i64,
    pub log_end_offset: i64,
    /// The leader-epoch cache, oldest first.
    pub epochs: Vec<EpochEntry>,
}

/// One partition of a follower's fetch answer, as [`LogPump::follow_leader`] applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowerUpdate {
    pub key: PartitionKey,
    /// The answer's whole batches, checked, to append verbatim; empty: nothing to append.
    pub batches: Vec<CheckedBatch>,
    /// The leader's high watermark: the log's becomes `min(this, its log end)` (the
    /// follower's rule, `replication/follower.rs`), clamped as `set_high_watermark` clamps.
    pub leader_high_watermark: i64,
    /// The leader's log start: the log's follows it when positive (`advance_log_start`).
    pub leader_log_start_offset: i64,
}

/// What [`LogPump::follow_leader`] did for one partition: each step's own result (a failed
/// step does not stop the next ones, as when they were separate commands).
#[derive(Debug)]
pub struct FollowerOutcome {
    /// `None` when there was nothing to append; otherwise the log's state right after the
    /// append (before the high watermark and log start moved), or why the append failed.
    pub appended: Option<Result<ReplicaLogState, StorageError>>,
    /// The high watermark now in force.
    pub high_watermark: Result<i64, StorageError>,
    /// `None` when the leader's log start was not positive; otherwise the log start now.
    pub log_start_offset: Option<Result<i64, StorageError>>,
}

/// A byte range of a segment file, leased: the duplicated fd keeps the file readable (even after
/// retention unlinks it) until every clone of this range is dropped. `Send`, unlike
/// `storage::FileRange`, so it can travel from the owning shard to the connection's shard.
#[derive(Debug, Clone)]
pub struct LeasedRange {
    pub file: Arc<OwnedFd>,
    pub position: u64,
    pub length: u32,
}

impl PartialEq for LeasedRange {
    /// The same lease of the same bytes (fd identity, not file contents).
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.file, &other.file)
            && self.position == other.position
            && self.length == other.length
    }
}

impl Eq for LeasedRange {}

/// Record bytes of a fetch (splice mode) as leased file ranges, with the partition's offsets at
/// read time.
#[derive(Debug, Clone)]
pub struct LeasedData {
    pub ranges: Vec<LeasedRange>,
    pub high_watermark: i64,
    pub log_start_offset: i64,
}

impl LeasedData {
    /// Bytes the ranges hold together.
    #[must_use]
    pub fn size_bytes(&self) -> u64 {
        self.ranges
            .iter()
            .map(|range| u64::from(range.length))
            .sum()
    }
}

/// A partition's offsets: log start ≤ high watermark ≤ log end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionOffsets {
    pub log_start_offset: i64,
    pub high_watermark: i64,
    pub log_end_offset: i64,
    pub size_bytes: u64,
}

/// One log the shard should have: where it lives and how it behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct LogSpec {
    pub directory: PathBuf,
    /// `None` when the topic's config could not be resolved: an open log keeps its settings,
    /// a log not open yet stays closed (its data is kept) until the config resolves.
    pub config: Option<LogConfig>,
    /// More than one replica: replication sets the high watermark (it does not follow the log
    /// end), and it is persisted and restored on open (`PartitionLog::open_in_mode`).
    pub replicated: bool,
}

/// Every log a shard should have, by partition (what [`LogPump::reconcile`] takes).
pub type WantedLogs = HashMap<PartitionKey, LogSpec>;

type Reply<T> = flume::Sender<T>;

/// One command on the pump's queue.
enum Command {
    Append(Append),
    Query(Query),
    Mutation(Mutation),
}

/// Appends batches to one partition; batched with the tick's other appends.
struct Append {
    key: PartitionKey,
    request: AppendRequest,
    reply: Reply<Result<AppendInfo, StorageError>>,
}

/// A read-only command; the tick runs its queries concurrently, after its writes.
enum Query {
    Read {
        read: ReadArgs,
        reply: Reply<Result<ReadData, StorageError>>,
    },
    ReadLeased {
        read: ReadArgs,
        reply: Reply<Result<LeasedData, StorageError>>,
    },
    Offsets {
        key: PartitionKey,
        reply: Reply<Result<PartitionOffsets, StorageError>>,
    },
    OffsetForTimestamp {
        key: PartitionKey,
        timestamp_ms: i64,
        reply: Reply<Result<Option<(i64, i64)>, StorageError>>,
    },
    MaxTimestamp {
        key: PartitionKey,
        reply: Reply<Result<Option<(i64, i64)>, StorageError>>,
    },
    EndOffsetForEpoch {
        key: PartitionKey,
        epoch: i32,
        reply: Reply<Result<Option<(i32, i64)>, StorageError>>,
    },
    ReplicaState {
        key: PartitionKey,
        reply: Reply<Result<ReplicaLogState, StorageError>>,
    },
}

/// A command that changes the logs (not by appending); runs alone, in arrival order.
enum Mutation {
    DeleteRecords {
        key: PartitionKey,
        offset: i64,
        reply: Reply<Result<i64, StorageError>>,
    },
    Reconcile {
        wanted: WantedLogs,
        reply: Reply<()>,
    },
    /// Answers (when asked) once the pass is done.
    Housekeeping {
        reply: Option<Reply<()>>,
    },
    /// Answers whether every log closed cleanly.
    Shutdown {
        reply: Reply<bool>,
    },
    Replica(ReplicaMutation),
}

/// Replication's mutations (`replica.rs`); each answers with the log's new state.
enum ReplicaMutation {
    /// A follower's fetch answer, every partition of it (at most
    /// `REPLICA_FETCH_PARTITIONS_MAX`).
    FollowLeader {
        updates: Vec<FollowerUpdate>,
        reply: Reply<Vec<FollowerOutcome>>,
    },
    SetHighWatermark {
        key: PartitionKey,
        high_watermark: i64,
        reply: Reply<Result<i64, StorageError>>,
    },
    TruncateTo {
        key: PartitionKey,
        offset: i64,
        reply: Reply<Result<i64, StorageError>>,
    },
    ResetTo {
        key: PartitionKey,
        offset: i64,
        reply: Reply<Result<(), StorageError>>,
    },
    AssignEpoch {
        key: PartitionKey,
        epoch: i32,
        start_offset: i64,
        reply: Reply<Result<(), StorageError>>,
    },
}

type Waiters = Rc<RefCell<HashMap<PartitionKey, Vec<flume::Sender<()>>>>>;

/// The handle every task on the shard uses to reach the pump. Cheap to clone; a service that
/// writes or reads logs (the group coordinator) holds its own clone.
#[derive(Debug, Clone)]
pub struct LogPump {
    commands: flume::Sender<Command>,
    waiters: Waiters,
}

fn stopped() -> StorageError {
    StorageError::Io {
        operation: "log pump",
        path: PathBuf::new(),
        source: std::io::Error::other("the shard's log pump has stopped"),
    }
}

/// The bounds a pump keeps (lazy.rs, housekeeping.rs). The broker uses the defaults, which
/// are `limits.rs`'s; tests lower them (never raise them: [`Self::check`]) to see dormant
/// logs without opening thousands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PumpLimits {
    pub open_logs_max: usize,
    pub open_segment_files_max: usize,
    /// Dormant logs whose files one housekeeping pass probes for retention.
    pub dormant_checks_per_pass: usize,
    /// Dormant logs one housekeeping pass opens because retention has something to delete.
    pub dormant_opens_per_pass: usize,
}

impl Default for PumpLimits {
    fn default() -> Self {
        Self {
            open_logs_max: limits::OPEN_LOGS_PER_SHARD_MAX,
            open_segment_files_max: limits::OPEN_SEGMENT_FILES_PER_SHARD_MAX,
            dormant_checks_per_pass: limits::DORMANT_RETENTION_CHECKS_PER_PASS,
            dormant_opens_per_pass: limits::DORMANT_RETENTION_OPENS_PER_PASS,
        }
    }
}

impl PumpLimits {
    /// # Panics
    /// When a bound is zero or above its `limits.rs` maximum, or the segment files bound is
    /// below the open logs bound (programmer errors).
    pub fn check(&self) {
        let maximum = Self::default();
        for (value, max) in [
            (self.open_logs_max, maximum.open_logs_max),
            (self.open_segment_files_max, maximum.open_segment_files_max),
            (
                self.dormant_checks_per_pass,
                maximum.dormant_checks_per_pass,
            ),
            (self.dormant_opens_per_pass, maximum.dormant_opens_per_pass),
        ] {
            assert!(value >= 1, "a pump limit of 0: {self:?}");
            assert!(value <= max, "a pump limit above limits.rs: {self:?}");
        }
        assert!(
            self.open_segment_files_max >= self.open_logs_max,
            "fewer segment files than logs: {self:?}"
        );
    }
}

/// How a pump is built: [`LogPump::spawn`] takes the defaults (the system clock, `limits.rs`,
/// a housekeeping pass every `HOUSEKEEPING_INTERVAL_MS`); tests inject a `ManualClock`, lower
/// limits and run housekeeping themselves ([`LogPump::housekeeping`]).
pub struct PumpOptions {
    pub clock: Rc<dyn Clock>,
    pub limits: PumpLimits,
    pub housekeeping_timer: bool,
}

impl Default for PumpOptions {
    fn default() -> Self {
        Self {
            clock: Rc::new(SystemClock),
            limits: PumpLimits::default(),
            housekeeping_timer: true,
        }
    }
}

impl LogPump {
    /// Spawns the pump of shard `shard_index` and its housekeeping timer on the current (shard)
    /// runtime. The pump starts with no logs; [`Self::reconcile`] opens them.
    #[must_use]
    pub fn spawn(shard_index: usize) -> Self {
        Self::spawn_with(shard_index, PumpOptions::default())
    }

    /// [`Self::spawn`] with `options`.
    ///
    /// # Panics
    /// When `options.limits` fails [`PumpLimits::check`].
    #[must_use]
    pub fn spawn_with(shard_index: usize, options: PumpOptions) -> Self {
        options.limits.check();
        let (commands, inbox) = flume::bounded(limits::LOG_PUMP_QUEUE_CAPACITY);
        let waiters: Waiters = Rc::default();
        let pump = task::Pump::new(shard_index, ShardLogs::new(), &options, &waiters);
        compio::runtime::spawn(pump.run(inbox)).detach();
        if options.housekeeping_timer {
            compio::runtime::spawn(housekeeping_timer(commands.clone())).detach();
        }
        Self { commands, waiters }
    }

    /// Runs one housekeeping pass now (the timer runs one every `HOUSEKEEPING_INTERVAL_MS`)
    /// and waits until it is done.
    pub async fn housekeeping(&self) {
        let _ = self
            .mutate(|reply| Mutation::Housekeeping { reply: Some(reply) })
            .await;
    }

    async fn query<T>(&self, make: impl FnOnce(Reply<T>) -> Query) -> Option<T> {
        let (reply, answer) = flume::bounded(1);
        let command = Command::Query(make(reply));
        self.commands.send_async(command).await.ok()?;
        answer.recv_async().await.ok()
    }

    async fn mutate<T>(&self, make: impl FnOnce(Reply<T>) -> Mutation) -> Option<T> {
        let (reply, answer) = flume::bounded(1);
        let command = Command::Mutation(make(reply));
        self.commands.send_async(command).await.ok()?;
        answer.recv_async().await.ok()
    }

    /// Sends every append first (so they share a tick), then awaits every answer, in order.
    pub async fn append_all(
        &self,
        requests: Vec<(PartitionKey, AppendRequest)>,
    ) -> Vec<Result<AppendInfo, StorageError>> {
        let count = requests.len();
        let mut answers = Vec::with_capacity(count);
        for (key, request) in requests {
            let (reply, answer) = flume::bounded(1);
            let append = Append {
                key,
                request,
                reply,
            };
            let sent = self.commands.send_async(Command::Append(append)).await;
            answers.push(sent.ok().map(|()| answer));
        }
        let mut results = Vec::with_capacity(answers.len());
        for answer in answers {
            let result = match answer {
                Some(answer) => answer.recv_async().await.unwrap_or_else(|_| Err(stopped())),
                None => Err(stopped()),
            };
            results.push(result);
        }
        assert_eq!(results.len(), count, "one result per append");
        results
    }

    /// A copy-mode read up to the high watermark ([`Self::read_with`] for the other fields).
    ///
    /// # Errors
    /// Storage errors; `OffsetOutOfRange` outside the log.
    pub async fn read(
        &self,
        key: PartitionKey,
        offset: i64,
        max_bytes: u32,
        min_one_batch: bool,
    ) -> Result<ReadData, StorageError> {
        let read = ReadArgs {
            key,
            offset,
            max_bytes,
            min_one_batch,
            upto: ReadUpto::HighWatermark,
        };
        self.read_with(read).await
    }

    /// A copy-mode read as `read` says, `upto` included.
    ///
    /// # Errors
    /// Storage errors; `OffsetOutOfRange` outside the log.
    pub async fn read_with(&self, read: ReadArgs) -> Result<ReadData, StorageError> {
        self.query(|reply| Query::Read { read, reply })
            .await
            .unwrap_or_else(|| Err(stopped()))
    }

    /// Like [`Self::read_with`], but the bytes stay in the file: leased ranges for a splice.
    ///
    /// # Errors
    /// Storage errors; `OffsetOutOfRange` outside the log; `Io` when an fd cannot be duplicated
    /// (EMFILE).
    pub async fn read_leased(&self, read: ReadArgs) -> Result<LeasedData, StorageError> {
        self.query(|reply| Query::ReadLeased { read, reply })
            .await
            .unwrap_or_else(|| Err(stopped()))
    }

    /// # Errors
    /// `UnknownPartition` when this shard does not own it.
    pub async fn offsets(&self, key: PartitionKey) -> Result<PartitionOffsets, StorageError> {
        self.query(|reply| Query::Offsets { key, reply })
            .await
            .unwrap_or_else(|| Err(stopped()))
    }

    /// # Errors
    /// Storage errors.
    pub async fn offset_for_timestamp(
        &self,
        key: PartitionKey,
        timestamp_ms: i64,
    ) -> Result<Option<(i64, i64)>, StorageError> {
        self.query(|reply| Query::OffsetForTimestamp {
            key,
            timestamp_ms,
            reply,
        })
        .await
        .unwrap_or_else(|| Err(stopped()))
    }

    /// # Errors
    /// Storage errors.
    pub async fn max_timestamp(
        &self,
        key: PartitionKey,
    ) -> Result<Option<(i64, i64)>, StorageError> {
        self.query(|reply| Query::MaxTimestamp { key, reply })
            .await
            .unwrap_or_else(|| Err(stopped()))
    }

    /// # Errors
    /// Storage errors.
    pub async fn end_offset_for_epoch(
        &self,
        key: PartitionKey,
        epoch: i32,
    ) -> Result<Option<(i32, i64)>, StorageError> {
        self.query(|reply| Query::EndOffsetForEpoch { key, epoch, reply })
            .await
            .unwrap_or_else(|| Err(stopped()))
    }

    /// # Errors
    /// Storage errors; `OffsetOutOfRange` beyond the high watermark.
    pub async fn delete_records(
        &self,
        key: PartitionKey,
        offset: i64,
    ) -> Result<i64, StorageError> {
        self.mutate(|reply| Mutation::DeleteRecords { key, offset, reply })
            .await
            .unwrap_or_else(|| Err(stopped()))
    }

    /// Opens the logs in `wanted` that are not open, updates the configs of open ones, and
    /// closes and deletes the open logs not in `wanted`. Waits until done.
    pub async fn reconcile(&self, wanted: WantedLogs) {
        let _ = self
            .mutate(|reply| Mutation::Reconcile { wanted, reply })
            .await;
    }

    /// Closes every log (flush, clean-shutdown marker); the pump stops. Returns whether every
    /// log closed cleanly (`false` too when the pump was already gone).
    pub async fn shutdown(&self) -> bool {
        self.mutate(|reply| Mutation::Shutdown { reply })
            .await
            .unwrap_or(false)
    }

    /// Registers `waiter` to get a message after the next successful append (a leader's or a
    /// follower's) to any of `keys`, or when a replicated one's high watermark grows. Returns
    /// whether it was registered for at least one key (each key holds a bounded number).
    #[must_use]
    pub fn register_waiter(&self, keys: &[PartitionKey], waiter: &flume::Sender<()>) -> bool {
        let mut waiters = self.waiters.borrow_mut();
        let mut registered = false;
        for key in keys {
            let list = waiters.entry(*key).or_default();
            list.retain(|sender| !sender.is_disconnected());
            if list.len() < limits::FETCH_WAITERS_PER_PARTITION_MAX {
                list.push(waiter.clone());
                registered = true;
            }
        }
        registered
    }
}

/// Sends a housekeeping command every `HOUSEKEEPING_INTERVAL_MS`, forever (until the pump is
/// gone, when the send fails).
async fn housekeeping_timer(commands: flume::Sender<Command>) {
    loop {
        compio::time::sleep(Duration::from_millis(limits::HOUSEKEEPING_INTERVAL_MS)).await;
        // try_send: skip a beat rather than queue housekeeping behind a full queue.
        let pass = Mutation::Housekeeping { reply: None };
        match commands.try_send(Command::Mutation(pass)) {
            Ok(()) | Err(flume::TrySendError::Full(_)) => {}
            Err(flume::TrySendError::Disconnected(_)) => break,
        }
    }
}
