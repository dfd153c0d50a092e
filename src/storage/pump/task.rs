//! The pump task of one shard: takes a tick of commands off the queue, runs its appends as one
//! `append_tick`, then its mutations in arrival order, then its queries concurrently.
//!
//! Runs on its own shard only, for the shard's life (until `Shutdown` or every handle is gone).
use super::housekeeping::RetentionProbe;
use super::query::query;
use super::{
    Append, Command, LogSpec, Mutation, PartitionKey, PumpLimits, PumpOptions, Query, Waiters,
    WantedLogs,
};
use crate::limits;
use crate::storage::{Clock, ShardLogs, StorageError, join_all};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

pub(super) struct Pump {
    shard_index: usize,
    pub(super) logs: ShardLogs<PartitionKey>,
    pub(super) clock: Rc<dyn Clock>,
    pub(super) limits: PumpLimits,
    waiters: Waiters,
    /// Logs this shard owns that are not open (lazy.rs): recovered on first use. Ordered for
    /// the round-robin retention probe (housekeeping.rs).
    pub(super) dormant: BTreeMap<PartitionKey, LogSpec>,
    /// The last dormant log the retention probe visited; the next probe starts after it.
    pub(super) retention_cursor: Option<PartitionKey>,
    /// The dormant-log retention probe running, if any (housekeeping.rs).
    pub(super) retention_probe: Option<RetentionProbe>,
    /// Dormant logs never opened since start-up, recovered in the background (lazy.rs).
    pub(super) to_recover: Vec<PartitionKey>,
    /// The tick each open log was last used in, for closing the least recently used.
    pub(super) last_used: HashMap<PartitionKey, u64>,
    pub(super) tick_count: u64,
    /// Whether a reconcile ran: the first (start-up) one opens nothing (lazy.rs).
    reconciled_once: bool,
}

type QueryFuture<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// One tick's commands, sorted by kind.
#[derive(Default)]
struct Tick {
    appends: Vec<Append>,
    mutations: Vec<Mutation>,
    queries: Vec<Query>,
}

impl Pump {
    pub(super) fn new(
        shard_index: usize,
        logs: ShardLogs<PartitionKey>,
        options: &PumpOptions,
        waiters: &Waiters,
    ) -> Self {
        Self {
            shard_index,
            logs,
            clock: Rc::clone(&options.clock),
            limits: options.limits,
            waiters: Rc::clone(waiters),
            dormant: BTreeMap::new(),
            retention_cursor: None,
            retention_probe: None,
            to_recover: Vec::new(),
            last_used: HashMap::new(),
            tick_count: 0,
            reconciled_once: false,
        }
    }

    /// Runs until a `Shutdown` command or until every sender is gone.
    pub(super) async fn run(mut self, inbox: flume::Receiver<Command>) {
        // Loops once per tick for the shard's whole life.
        loop {
            let first = match inbox.try_recv() {
                Ok(command) => command,
                Err(flume::TryRecvError::Disconnected) => break,
                Err(flume::TryRecvError::Empty) if self.background_due() => {
                    self.open_in_background().await;
                    continue;
                }
                Err(flume::TryRecvError::Empty) => match inbox.recv_async().await {
                    Ok(command) => command,
                    Err(_) => break,
                },
            };
            let mut tick = Tick::default();
            tick.push(first);
            let mut taken = 1;
            while taken < limits::LOG_PUMP_TICK_COMMANDS_MAX {
                match inbox.try_recv() {
                    Ok(command) => tick.push(command),
                    Err(_) => break,
                }
                taken += 1;
            }
            if self.run_tick(tick).await {
                break;
            }
        }
        tracing::debug!(shard = self.shard_index, "log pump stopped");
    }

    /// One tick; returns `true` once shut down.
    async fn run_tick(&mut self, tick: Tick) -> bool {
        let opened = self.wake(tick.keys()).await;
        let Tick {
            appends,
            mutations,
            queries,
        } = tick;
        if !appends.is_empty() {
            self.append(appends).await;
        }
        let mut shut_down = false;
        for mutation in mutations {
            shut_down |= self.mutate(mutation).await;
        }
        let logs = &self.logs;
        let futures: Vec<QueryFuture<'_>> = queries
            .into_iter()
            .map(|command| Box::pin(query(logs, command)) as QueryFuture<'_>)
            .collect();
        join_all(futures).await;
        if opened && !shut_down {
            self.close_least_used_if_over().await;
        }
        shut_down
    }

    /// The tick's appends as one `append_tick`; wakes the long polls of partitions that grew.
    async fn append(&mut self, appends: Vec<Append>) {
        let count = appends.len();
        let mut requests = Vec::with_capacity(count);
        let mut replies = Vec::with_capacity(count);
        for Append {
            key,
            request,
            reply,
        } in appends
        {
            requests.push((key, request));
            replies.push((key, reply));
        }
        let results = self.logs.append_tick(requests).await;
        assert_eq!(results.len(), count, "one result per append");
        let mut appended = Vec::new();
        for ((key, reply), result) in replies.into_iter().zip(results) {
            if result.is_ok() {
                appended.push(key);
            }
            let _ = reply.send(result);
        }
        self.notify(&appended);
    }

    /// Signals every waiter of `keys` (each waiter once; they register again to wait again).
    pub(super) fn notify(&self, keys: &[PartitionKey]) {
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

    /// Runs one mutation; returns `true` once shut down.
    async fn mutate(&mut self, mutation: Mutation) -> bool {
        match mutation {
            Mutation::DeleteRecords { key, offset, reply } => {
                let result = match self.logs.get_mut(&key) {
                    Some(log) => log.delete_records_before(offset).await,
                    None => Err(StorageError::UnknownPartition),
                };
                let _ = reply.send(result);
            }
            Mutation::Reconcile { wanted, reply } => {
                self.reconcile(wanted).await;
                let _ = reply.send(());
            }
            Mutation::Housekeeping { reply } => {
                self.housekeeping(reply.is_some()).await;
                if let Some(reply) = reply {
                    let _ = reply.send(());
                }
            }
            Mutation::Replica(replica) => self.replica(replica).await,
            Mutation::Shutdown { reply } => {
                let clean = self.close_all().await;
                let _ = reply.send(clean);
                return true;
            }
        }
        false
    }

    /// Closes and deletes the logs no longer wanted, updates the open ones, and leaves the
    /// others dormant (lazy.rs) — except partitions new since the last reconcile, opened now
    /// while there is room (their directory and empty segment are created at once).
    async fn reconcile(&mut self, wanted: WantedLogs) {
        let gone: Vec<PartitionKey> = self
            .logs
            .keys()
            .chain(self.dormant.keys())
            .filter(|key| !wanted.contains_key(key))
            .copied()
            .collect();
        for key in gone {
            self.remove_log(key).await;
        }
        let first = !self.reconciled_once;
        self.reconciled_once = true;
        let mut opening = Vec::new();
        for (key, spec) in wanted {
            if let Some(log) = self.logs.get_mut(&key) {
                if let Some(config) = spec.config
                    && log.config() != &config
                {
                    log.update_config(config);
                }
                if log.is_replicated() != spec.replicated {
                    let before = log.high_watermark();
                    log.set_replicated(spec.replicated);
                    // Back to a single node, the high watermark jumps to the log end.
                    if log.high_watermark() > before {
                        self.notify(&[key]);
                    }
                }
                continue;
            }
            if spec.config.is_none() {
                tracing::error!(
                    directory = ?spec.directory,
                    "partition log not opened: its config is refused"
                );
                self.dormant.remove(&key);
                continue;
            }
            if let Some(dormant) = self.dormant.get_mut(&key) {
                *dormant = spec;
            } else if !first && self.logs.len() + opening.len() < self.limits.open_logs_max {
                opening.push((key, spec));
            } else {
                self.dormant.insert(key, spec);
                self.to_recover.push(key);
            }
        }
        self.open_all(opening).await;
    }

    /// Closes (or forgets, when dormant) a log no longer wanted and deletes its directory.
    async fn remove_log(&mut self, key: PartitionKey) {
        self.last_used.remove(&key);
        let directory = if let Some(log) = self.logs.remove(&key) {
            let directory = log.directory().to_path_buf();
            if let Err(error) = log.close().await {
                tracing::warn!(%error, ?directory, "closing a deleted partition failed");
            }
            directory
        } else if let Some(spec) = self.dormant.remove(&key) {
            spec.directory
        } else {
            return;
        };
        // Blocking unlink of a deleted topic's directory: a rare admin operation.
        if let Err(error) = std::fs::remove_dir_all(&directory)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(%error, ?directory, "cannot remove a deleted partition");
        }
    }

    /// Closes every log; whether each closed cleanly (synced, clean-shutdown marker written).
    async fn close_all(&mut self) -> bool {
        let keys: Vec<PartitionKey> = self.logs.keys().copied().collect();
        let mut clean = true;
        for key in keys {
            if let Some(log) = self.logs.remove(&key) {
                let directory = log.directory().to_path_buf();
                if let Err(error) = log.close().await {
                    tracing::warn!(%error, ?directory, "closing partition log failed");
                    clean = false;
                }
            }
        }
        clean
    }
}

impl Tick {
    /// The partitions the tick's commands name (a reconcile, housekeeping or shutdown: none).
    fn keys(&self) -> Vec<PartitionKey> {
        let appends = self.appends.iter().map(|append| append.key);
        let queries = self.queries.iter().map(Query::key);
        let mut keys: Vec<PartitionKey> = appends.chain(queries).collect();
        for mutation in &self.mutations {
            mutation.push_keys(&mut keys);
        }
        keys
    }

    fn push(&mut self, command: Command) {
        match command {
            Command::Append(append) => self.appends.push(append),
            Command::Mutation(mutation) => self.mutations.push(mutation),
            Command::Query(query) => self.queries.push(query),
        }
    }
}
