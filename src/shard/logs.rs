//! The log pump: the one task per shard that owns the shard's partition logs.
//!
//! Storage calls hold `&mut PartitionLog` / `&PartitionLog` across io_uring awaits, so the logs
//! cannot sit in a `RefCell` that handlers borrow. Instead one task owns them (`ShardLogs`) and
//! everything else sends it commands over a bounded local queue (`LOG_PUMP_QUEUE_CAPACITY`) and
//! awaits a oneshot reply. Each turn of the pump is a *tick*: it takes every command already
//! queued (at most `LOG_PUMP_TICK_COMMANDS_MAX`), runs all appends of the tick as one
//! `append_tick` (one vectored write per partition, submitted together; one group fdatasync in
//! strict mode), then the other mutations in arrival order, then all reads concurrently.
//! Appends from one connection keep their order because the connection's shard sends them in
//! request order and the queue is FIFO.
//!
//! Zero-copy reads (`read_leased`): the pump resolves a fetch to file ranges and `dup`s each
//! segment's fd for them. The `Rc<SegmentFile>` of a range cannot leave this shard, but fds are
//! process-wide: the duplicate is `Send`, and it *is* the lease: a segment that retention
//! unlinks stays readable until the last duplicate is closed, after the send completes.
//!
//! Long poll: a fetch registers a waiter (a bounded(1) sender) per partition; the pump signals
//! every waiter of a partition after an append to it succeeds.
//!
//! Runs on its own shard only; `!Send` state. Callers on other shards reach it through
//! `Shard::invoke_on` to this shard.
use crate::cluster::configs;
use crate::cluster::{ClusterMetadata, TopicMetadata};
use crate::limits;
use crate::protocol::Uuid;
use crate::shard::placement::shard_for;
use crate::storage::{
    AppendInfo, AppendRequest, Clock, FlushPolicy, LogConfig, PartitionLog, ShardLogs,
    StorageError, SystemClock, TimestampType, join_all,
};
use crate::storage::{ReadSlice, SegmentFile};
use bytes::{Bytes, BytesMut};
use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// A partition, as the broker names it internally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
/// `max_bytes` unless `min_one_batch` (KIP-74: the first batch whole, however large).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadArgs {
    pub key: PartitionKey,
    pub offset: i64,
    pub max_bytes: u32,
    pub min_one_batch: bool,
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

type Reply<T> = flume::Sender<T>;

enum Command {
    Append {
        key: PartitionKey,
        request: AppendRequest,
        reply: Reply<Result<AppendInfo, StorageError>>,
    },
    Read {
        key: PartitionKey,
        offset: i64,
        max_bytes: u32,
        min_one_batch: bool,
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
    DeleteRecords {
        key: PartitionKey,
        offset: i64,
        reply: Reply<Result<i64, StorageError>>,
    },
    Reconcile {
        metadata: Arc<ClusterMetadata>,
        reply: Reply<()>,
    },
    Housekeeping,
    Shutdown {
        reply: Reply<()>,
    },
}

type Waiters = Rc<RefCell<HashMap<PartitionKey, Vec<flume::Sender<()>>>>>;

/// The handle every task on the shard uses to reach the pump.
#[derive(Debug, Clone)]
pub struct LogPump {
    commands: flume::Sender<Command>,
    waiters: Waiters,
}

/// Where the pump lives and what it owns.
#[derive(Debug, Clone)]
pub struct PumpPlacement {
    pub shard_index: usize,
    pub shard_count: usize,
    pub data_dir: PathBuf,
    /// Broker-wide `producer_id_expiration_ms`, given to every log this pump opens.
    pub producer_id_expiration: Duration,
}

fn stopped() -> StorageError {
    StorageError::Io {
        operation: "log pump",
        path: PathBuf::new(),
        source: std::io::Error::other("the shard's log pump has stopped"),
    }
}

impl LogPump {
    /// Spawns the pump and its housekeeping timer on the current (shard) runtime.
    #[must_use]
    pub fn spawn(placement: PumpPlacement) -> Self {
        let (commands, inbox) = flume::bounded(limits::LOG_PUMP_QUEUE_CAPACITY);
        let waiters: Waiters = Rc::default();
        let pump = Pump {
            placement,
            logs: ShardLogs::new(),
            clock: Rc::new(SystemClock),
            waiters: Rc::clone(&waiters),
        };
        compio::runtime::spawn(pump.run(inbox)).detach();
        compio::runtime::spawn(housekeeping_timer(commands.clone())).detach();
        Self { commands, waiters }
    }

    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Option<T> {
        let (reply, answer) = flume::bounded(1);
        self.commands.send_async(make(reply)).await.ok()?;
        answer.recv_async().await.ok()
    }

    /// Sends every append first (so they share a tick), then awaits every answer, in order.
    pub async fn append_all(
        &self,
        requests: Vec<(PartitionKey, AppendRequest)>,
    ) -> Vec<Result<AppendInfo, StorageError>> {
        let mut answers = Vec::with_capacity(requests.len());
        for (key, request) in requests {
            let (reply, answer) = flume::bounded(1);
            let sent = self
                .commands
                .send_async(Command::Append {
                    key,
                    request,
                    reply,
                })
                .await;
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
        results
    }

    /// # Errors
    /// Storage errors; `OffsetOutOfRange` outside the log.
    pub async fn read(
        &self,
        key: PartitionKey,
        offset: i64,
        max_bytes: u32,
        min_one_batch: bool,
    ) -> Result<ReadData, StorageError> {
        self.call(|reply| Command::Read {
            key,
            offset,
            max_bytes,
            min_one_batch,
            reply,
        })
        .await
        .unwrap_or_else(|| Err(stopped()))
    }

    /// Like [`Self::read`], but the bytes stay in the file: leased ranges for a splice.
    ///
    /// # Errors
    /// Storage errors; `OffsetOutOfRange` outside the log; `Io` when an fd cannot be duplicated
    /// (EMFILE).
    pub async fn read_leased(&self, read: ReadArgs) -> Result<LeasedData, StorageError> {
        self.call(|reply| Command::ReadLeased { read, reply })
            .await
            .unwrap_or_else(|| Err(stopped()))
    }

    /// # Errors
    /// `UnknownPartition` when this shard does not own it.
    pub async fn offsets(&self, key: PartitionKey) -> Result<PartitionOffsets, StorageError> {
        self.call(|reply| Command::Offsets { key, reply })
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
        self.call(|reply| Command::OffsetForTimestamp {
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
        self.call(|reply| Command::MaxTimestamp { key, reply })
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
        self.call(|reply| Command::EndOffsetForEpoch { key, epoch, reply })
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
        self.call(|reply| Command::DeleteRecords { key, offset, reply })
            .await
            .unwrap_or_else(|| Err(stopped()))
    }

    /// Opens the logs this shard owns in `metadata`, updates their configs, and closes and
    /// deletes the logs of topics no longer in it. Waits until done.
    pub async fn reconcile(&self, metadata: Arc<ClusterMetadata>) {
        let _ = self
            .call(|reply| Command::Reconcile { metadata, reply })
            .await;
    }

    /// Closes every log (flush, clean-shutdown marker); the pump stops.
    pub async fn shutdown(&self) {
        let _ = self.call(|reply| Command::Shutdown { reply }).await;
    }

    /// A receiver that gets a message after the next successful append to any of `keys`.
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
        match commands.try_send(Command::Housekeeping) {
            Ok(()) | Err(flume::TrySendError::Full(_)) => {}
            Err(flume::TrySendError::Disconnected(_)) => break,
        }
    }
}

/// The storage `LogConfig` of a topic: its overrides, then broker-level overrides, then
/// defaults (see `cluster::configs`). Flush policy: strict wins, then `flush.messages`, then
/// `flush.ms` (storage keeps one policy per log).
#[must_use]
pub fn log_config(
    topic: &TopicMetadata,
    broker: &std::collections::BTreeMap<String, String>,
) -> LogConfig {
    let get = |name: &str| configs::effective_i64(name, &topic.configs, broker);
    let millis = |value: i64| u64::try_from(value).ok().map(Duration::from_millis);
    let retention_ms = get("retention.ms");
    let retention_bytes = get("retention.bytes");
    let flush_messages = get("flush.messages");
    let flush_ms = get("flush.ms");
    let strict = configs::effective_str("flush.strict", &topic.configs, broker) == "true";
    let flush = if strict {
        FlushPolicy::Strict
    } else if flush_messages < i64::MAX {
        FlushPolicy::Messages(u64::try_from(flush_messages).unwrap_or(1))
    } else if flush_ms < i64::MAX {
        FlushPolicy::Interval(millis(flush_ms).unwrap_or_default())
    } else {
        FlushPolicy::None
    };
    let timestamp_type = if configs::effective_str("message.timestamp.type", &topic.configs, broker)
        == "LogAppendTime"
    {
        TimestampType::LogAppendTime
    } else {
        TimestampType::CreateTime
    };
    LogConfig {
        segment_bytes: u64::try_from(get("segment.bytes")).unwrap_or(1 << 30),
        segment_ms: millis(get("segment.ms")),
        retention_ms: if retention_ms < 0 {
            None
        } else {
            millis(retention_ms)
        },
        retention_bytes: u64::try_from(retention_bytes).ok(),
        index_interval_bytes: u32::try_from(get("index.interval.bytes")).unwrap_or(4096),
        max_message_bytes: u32::try_from(get("max.message.bytes")).unwrap_or(1_048_588),
        flush,
        message_timestamp_type: timestamp_type,
        ..LogConfig::default()
    }
}

struct Pump {
    placement: PumpPlacement,
    logs: ShardLogs<PartitionKey>,
    clock: Rc<dyn Clock>,
    waiters: Waiters,
}

type ReadFuture<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

impl Pump {
    /// Runs until a `Shutdown` command or until every sender is gone.
    async fn run(mut self, inbox: flume::Receiver<Command>) {
        // Loops once per tick for the shard's whole life.
        while let Ok(first) = inbox.recv_async().await {
            let mut tick = vec![first];
            while tick.len() < limits::LOG_PUMP_TICK_COMMANDS_MAX {
                match inbox.try_recv() {
                    Ok(command) => tick.push(command),
                    Err(_) => break,
                }
            }
            if self.run_tick(tick).await {
                break;
            }
        }
        tracing::debug!(shard = self.placement.shard_index, "log pump stopped");
    }

    /// One tick; returns `true` once shut down.
    async fn run_tick(&mut self, tick: Vec<Command>) -> bool {
        let mut appends = Vec::new();
        let mut append_replies = Vec::new();
        let mut mutations = Vec::new();
        let mut reads = Vec::new();
        for command in tick {
            match command {
                Command::Append {
                    key,
                    request,
                    reply,
                } => {
                    appends.push((key, request));
                    append_replies.push((key, reply));
                }
                Command::DeleteRecords { .. }
                | Command::Reconcile { .. }
                | Command::Housekeeping
                | Command::Shutdown { .. } => mutations.push(command),
                Command::Read { .. }
                | Command::ReadLeased { .. }
                | Command::Offsets { .. }
                | Command::OffsetForTimestamp { .. }
                | Command::MaxTimestamp { .. }
                | Command::EndOffsetForEpoch { .. } => reads.push(command),
            }
        }
        if !appends.is_empty() {
            let results = self.logs.append_tick(appends).await;
            assert_eq!(results.len(), append_replies.len());
            let mut appended = Vec::new();
            for ((key, reply), result) in append_replies.into_iter().zip(results) {
                if result.is_ok() {
                    appended.push(key);
                }
                let _ = reply.send(result);
            }
            self.notify(&appended);
        }
        let mut shut_down = false;
        for command in mutations {
            shut_down |= self.mutate(command).await;
        }
        let logs = &self.logs;
        let futures: Vec<ReadFuture<'_>> = reads
            .into_iter()
            .map(|command| query(logs, command))
            .collect();
        join_all(futures).await;
        shut_down
    }

    fn notify(&self, keys: &[PartitionKey]) {
        let mut waiters = self.waiters.borrow_mut();
        for key in keys {
            if let Some(list) = waiters.remove(key) {
                for waiter in list {
                    // Full means the fetch was already woken; disconnected means it is gone.
                    let _ = waiter.try_send(());
                }
            }
        }
    }

    async fn mutate(&mut self, command: Command) -> bool {
        match command {
            Command::DeleteRecords { key, offset, reply } => {
                let result = match self.logs.get_mut(&key) {
                    Some(log) => log.delete_records_before(offset).await,
                    None => Err(StorageError::UnknownPartition),
                };
                let _ = reply.send(result);
            }
            Command::Reconcile { metadata, reply } => {
                self.reconcile(&metadata).await;
                let _ = reply.send(());
            }
            Command::Housekeeping => self.housekeeping().await,
            Command::Shutdown { reply } => {
                self.close_all().await;
                let _ = reply.send(());
                return true;
            }
            Command::Append { .. }
            | Command::Read { .. }
            | Command::ReadLeased { .. }
            | Command::Offsets { .. }
            | Command::OffsetForTimestamp { .. }
            | Command::MaxTimestamp { .. }
            | Command::EndOffsetForEpoch { .. } => {
                unreachable!("run_tick sorts commands; only mutations arrive here")
            }
        }
        false
    }

    async fn reconcile(&mut self, metadata: &ClusterMetadata) {
        let placement = &self.placement;
        let mut wanted: HashMap<PartitionKey, (PathBuf, LogConfig)> = HashMap::new();
        for topic in metadata.topics.values() {
            let config = LogConfig {
                producer_id_expiration: placement.producer_id_expiration,
                ..log_config(topic, &metadata.broker_configs)
            };
            for partition in 0..topic.partition_count {
                if shard_for(topic.topic_id, partition, placement.shard_count)
                    != placement.shard_index
                {
                    continue;
                }
                let key = PartitionKey {
                    topic_id: topic.topic_id,
                    partition,
                };
                let directory = placement
                    .data_dir
                    .join(format!("{}-{partition}", topic.name));
                wanted.insert(key, (directory, config.clone()));
            }
        }
        let gone: Vec<PartitionKey> = self
            .logs
            .keys()
            .filter(|key| !wanted.contains_key(key))
            .copied()
            .collect();
        for key in gone {
            if let Some(log) = self.logs.remove(&key) {
                let directory = log.directory().to_path_buf();
                if let Err(error) = log.close().await {
                    tracing::warn!(%error, ?directory, "closing a deleted partition failed");
                }
                // Blocking unlink of a deleted topic's directory: a rare admin operation.
                if let Err(error) = std::fs::remove_dir_all(&directory) {
                    tracing::warn!(%error, ?directory, "cannot remove a deleted partition");
                }
            }
        }
        for (key, (directory, config)) in wanted {
            if let Some(log) = self.logs.get_mut(&key) {
                if log.config() != &config {
                    log.update_config(config);
                }
                continue;
            }
            match PartitionLog::open(directory.clone(), config, Rc::clone(&self.clock)).await {
                Ok(log) => {
                    self.logs.insert(key, log);
                }
                Err(error) => tracing::error!(%error, ?directory, "cannot open partition log"),
            }
        }
    }

    async fn housekeeping(&mut self) {
        let keys: Vec<PartitionKey> = self.logs.keys().copied().collect();
        for key in keys {
            let Some(log) = self.logs.get_mut(&key) else {
                continue;
            };
            if let Err(error) = log.maybe_roll().await {
                tracing::warn!(%error, "segment roll failed");
            }
            if let Err(error) = log.enforce_retention().await {
                tracing::warn!(%error, "retention failed");
            }
            if let Err(error) = log.maybe_flush().await {
                tracing::warn!(%error, "flush failed");
            }
        }
    }

    async fn close_all(&mut self) {
        let keys: Vec<PartitionKey> = self.logs.keys().copied().collect();
        for key in keys {
            if let Some(log) = self.logs.remove(&key) {
                let directory = log.directory().to_path_buf();
                if let Err(error) = log.close().await {
                    tracing::warn!(%error, ?directory, "closing partition log failed");
                }
            }
        }
    }
}

/// A read-only command as a future borrowing the logs; it sends its own reply.
fn query<'a>(logs: &'a ShardLogs<PartitionKey>, command: Command) -> ReadFuture<'a> {
    Box::pin(async move {
        match command {
            Command::Read {
                key,
                offset,
                max_bytes,
                min_one_batch,
                reply,
            } => {
                let result = match logs.get(&key) {
                    Some(log) => read_bytes(log, offset, max_bytes, min_one_batch).await,
                    None => Err(StorageError::UnknownPartition),
                };
                let _ = reply.send(result);
            }
            Command::ReadLeased { read, reply } => {
                let result = match logs.get(&read.key) {
                    Some(log) => read_leased(log, read).await,
                    None => Err(StorageError::UnknownPartition),
                };
                let _ = reply.send(result);
            }
            Command::Offsets { key, reply } => {
                let result = logs
                    .get(&key)
                    .map_or(Err(StorageError::UnknownPartition), |log| {
                        Ok(PartitionOffsets {
                            log_start_offset: log.log_start_offset(),
                            high_watermark: log.high_watermark(),
                            log_end_offset: log.log_end_offset(),
                            size_bytes: log.size_bytes(),
                        })
                    });
                let _ = reply.send(result);
            }
            Command::OffsetForTimestamp {
                key,
                timestamp_ms,
                reply,
            } => {
                let result = match logs.get(&key) {
                    Some(log) => log.offset_for_timestamp(timestamp_ms).await,
                    None => Err(StorageError::UnknownPartition),
                };
                let _ = reply.send(result);
            }
            Command::MaxTimestamp { key, reply } => {
                let result = logs
                    .get(&key)
                    .map_or(Err(StorageError::UnknownPartition), |log| {
                        Ok(log.max_timestamp())
                    });
                let _ = reply.send(result);
            }
            Command::EndOffsetForEpoch { key, epoch, reply } => {
                let result = logs
                    .get(&key)
                    .map_or(Err(StorageError::UnknownPartition), |log| {
                        Ok(log.end_offset_for_epoch(epoch))
                    });
                let _ = reply.send(result);
            }
            Command::Append { .. }
            | Command::DeleteRecords { .. }
            | Command::Reconcile { .. }
            | Command::Housekeeping
            | Command::Shutdown { .. } => {
                unreachable!("run_tick sorts commands; only queries arrive here")
            }
        }
    })
}

/// Copy-mode read: the file ranges' bytes, concatenated.
async fn read_bytes(
    log: &PartitionLog,
    offset: i64,
    max_bytes: u32,
    min_one_batch: bool,
) -> Result<ReadData, StorageError> {
    let slice = log.read(offset, max_bytes, min_one_batch).await?;
    let bytes = match slice.ranges.as_slice() {
        [] => Bytes::new(),
        [only] => only.read_to_bytes().await?,
        ranges => {
            let total = usize::try_from(slice.size_bytes()).unwrap_or(usize::MAX);
            let mut joined = BytesMut::with_capacity(total);
            for range in ranges {
                joined.extend_from_slice(&range.read_to_bytes().await?);
            }
            joined.freeze()
        }
    };
    Ok(ReadData {
        bytes,
        high_watermark: slice.high_watermark,
        log_start_offset: slice.log_start_offset,
    })
}

/// Splice-mode read: the file ranges, each with a duplicated fd as its lease.
async fn read_leased(log: &PartitionLog, read: ReadArgs) -> Result<LeasedData, StorageError> {
    let slice = log
        .read(read.offset, read.max_bytes, read.min_one_batch)
        .await?;
    let ranges = lease_ranges(&slice)?;
    Ok(LeasedData {
        ranges,
        high_watermark: slice.high_watermark,
        log_start_offset: slice.log_start_offset,
    })
}

/// Leases every range of `slice`: one `dup` per distinct segment file (consecutive ranges of
/// one file share it). A `dup` is a cheap syscall that never blocks.
///
/// # Errors
/// `Io` when the process is out of fds.
pub fn lease_ranges(slice: &ReadSlice) -> Result<Vec<LeasedRange>, StorageError> {
    let mut leased: Vec<LeasedRange> = Vec::with_capacity(slice.ranges.len());
    let mut previous: Option<(&Rc<SegmentFile>, Arc<OwnedFd>)> = None;
    for range in &slice.ranges {
        let file = match previous {
            Some((segment, ref fd)) if Rc::ptr_eq(segment, &range.file) => Arc::clone(fd),
            _ => {
                let duplicate = range.file.file().as_fd().try_clone_to_owned();
                Arc::new(duplicate.map_err(|error| {
                    StorageError::io("dup segment fd", range.file.path(), error)
                })?)
            }
        };
        previous = Some((&range.file, Arc::clone(&file)));
        leased.push(LeasedRange {
            file,
            position: range.position,
            length: range.length,
        });
    }
    assert_eq!(leased.len(), slice.ranges.len());
    Ok(leased)
}
