//! The pump task of one shard: takes a tick of commands off the queue, runs its appends as one
//! `append_tick`, then its mutations in arrival order, then its queries concurrently.
//!
//! Runs on its own shard only, for the shard's life (until `Shutdown` or every handle is gone).
use super::query::query;
use super::{Append, Command, Mutation, PartitionKey, Query, Waiters, WantedLogs};
use crate::limits;
use crate::storage::{Clock, PartitionLog, ShardLogs, StorageError, join_all};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

pub(super) struct Pump {
    shard_index: usize,
    pub(super) logs: ShardLogs<PartitionKey>,
    clock: Rc<dyn Clock>,
    waiters: Waiters,
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
        clock: Rc<dyn Clock>,
        waiters: &Waiters,
    ) -> Self {
        Self {
            shard_index,
            logs,
            clock,
            waiters: Rc::clone(waiters),
        }
    }

    /// Runs until a `Shutdown` command or until every sender is gone.
    pub(super) async fn run(mut self, inbox: flume::Receiver<Command>) {
        // Loops once per tick for the shard's whole life.
        while let Ok(first) = inbox.recv_async().await {
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
            Mutation::Housekeeping => self.housekeeping().await,
            Mutation::Replica(replica) => self.replica(replica).await,
            Mutation::Shutdown { reply } => {
                let clean = self.close_all().await;
                let _ = reply.send(clean);
                return true;
            }
        }
        false
    }

    async fn reconcile(&mut self, wanted: WantedLogs) {
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
        for (key, spec) in wanted {
            let directory = spec.directory;
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
            let Some(config) = spec.config else {
                tracing::error!(
                    ?directory,
                    "partition log not opened: its config is refused"
                );
                continue;
            };
            let clock = Rc::clone(&self.clock);
            match PartitionLog::open_in_mode(directory.clone(), config, clock, spec.replicated)
                .await
            {
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
            if let Err(error) = log.maybe_persist_high_watermark().await {
                tracing::warn!(%error, "high watermark checkpoint failed");
            }
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
    fn push(&mut self, command: Command) {
        match command {
            Command::Append(append) => self.appends.push(append),
            Command::Mutation(mutation) => self.mutations.push(mutation),
            Command::Query(query) => self.queries.push(query),
        }
    }
}
