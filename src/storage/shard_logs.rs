//! `ShardLogs`: the partition logs one shard owns, with a tick API that writes one tick's
//! appends for all partitions concurrently and, in Strict mode, group-commits them.
//!
//! A tick: every partition's requests become one vectored write (`append_unsynced`); all those
//! writes are polled together, so compio queues their submissions into the same io_uring
//! submission batch. Then the Strict partitions that wrote get their fdatasyncs, again polled
//! together — one sync per partition per tick instead of one per request — and only then are
//! any of their appends acknowledged. Other policies flush when due.
//! Runs on its shard only; `!Send`.
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::task::Poll;

use super::{AppendInfo, AppendRequest, FlushPolicy, PartitionLog, StorageError};

/// The logs of one shard, keyed by whatever the broker uses (topic id and partition).
pub struct ShardLogs<K> {
    logs: HashMap<K, PartitionLog>,
}

impl<K> Default for ShardLogs<K> {
    fn default() -> Self {
        Self {
            logs: HashMap::new(),
        }
    }
}

impl<K: Eq + Hash + Clone> ShardLogs<K> {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a log; returns the one it replaces, if any.
    pub fn insert(&mut self, key: K, log: PartitionLog) -> Option<PartitionLog> {
        self.logs.insert(key, log)
    }

    pub fn remove(&mut self, key: &K) -> Option<PartitionLog> {
        self.logs.remove(key)
    }

    #[must_use]
    pub fn get(&self, key: &K) -> Option<&PartitionLog> {
        self.logs.get(key)
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut PartitionLog> {
        self.logs.get_mut(key)
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.logs.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.logs.is_empty()
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.logs.keys()
    }

    pub fn values(&self) -> impl Iterator<Item = &PartitionLog> {
        self.logs.values()
    }

    /// Appends one tick's requests (any number per partition) and returns one result per
    /// request, in order. A Strict partition's results are `Ok` only after its fdatasync.
    pub async fn append_tick(
        &mut self,
        requests: Vec<(K, AppendRequest)>,
    ) -> Vec<Result<AppendInfo, StorageError>> {
        let count = requests.len();
        let mut results: Vec<Option<Result<AppendInfo, StorageError>>> =
            (0..count).map(|_| None).collect();
        let mut grouped: HashMap<K, (Vec<usize>, Vec<AppendRequest>)> = HashMap::new();
        for (index, (key, request)) in requests.into_iter().enumerate() {
            if self.logs.contains_key(&key) {
                let entry = grouped.entry(key).or_default();
                entry.0.push(index);
                entry.1.push(request);
            } else if let Some(slot) = results.get_mut(index) {
                *slot = Some(Err(StorageError::UnknownPartition));
            }
        }
        let mut writes = Vec::with_capacity(grouped.len());
        let mut order = Vec::with_capacity(grouped.len());
        for (key, log) in &mut self.logs {
            if let Some((indexes, batch_requests)) = grouped.remove(key) {
                order.push((key.clone(), indexes));
                writes.push(log.append_unsynced(batch_requests));
            }
        }
        let written = join_all(writes).await;
        let mut to_sync = HashSet::with_capacity(order.len());
        for ((key, _), outcome) in order.iter().zip(&written) {
            if outcome.iter().any(Result::is_ok) {
                to_sync.insert(key.clone());
            }
        }
        let mut synced_keys = Vec::with_capacity(to_sync.len());
        let mut syncs = Vec::with_capacity(to_sync.len());
        for (key, log) in &mut self.logs {
            if to_sync.contains(key) {
                synced_keys.push(key.clone());
                syncs.push(sync_for_policy(log));
            }
        }
        let sync_outcomes = join_all(syncs).await;
        let failed: HashMap<K, StorageError> = synced_keys
            .into_iter()
            .zip(sync_outcomes)
            .filter_map(|(key, outcome)| outcome.err().map(|error| (key, error)))
            .collect();
        for ((key, indexes), outcome) in order.iter().zip(written) {
            let sync_error = failed.get(key);
            for (index, result) in indexes.iter().zip(outcome) {
                let result = match (result, sync_error) {
                    (Ok(_), Some(error)) => Err(error.duplicate()),
                    (result, _) => result,
                };
                if let Some(slot) = results.get_mut(*index) {
                    *slot = Some(result);
                }
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or(Err(StorageError::UnknownPartition)))
            .collect()
    }
}

/// Strict: fdatasync now (this is the group commit); others: flush if due.
async fn sync_for_policy(log: &mut PartitionLog) -> Result<(), StorageError> {
    match log.config().flush {
        FlushPolicy::Strict => log.flush().await,
        FlushPolicy::None | FlushPolicy::Messages(_) | FlushPolicy::Interval(_) => {
            log.maybe_flush().await
        }
    }
}

/// Polls all futures until every one is done; outputs in input order. Each pass re-polls only
/// unfinished futures; O(n) per wake, fine for the partitions one tick touches.
pub async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|context| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(context) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[compio::test]
    async fn join_all_keeps_input_order_whatever_finishes_first() {
        let delays = [60u64, 0, 40];
        let futures: Vec<_> = delays
            .iter()
            .map(|delay| async move {
                compio::time::sleep(Duration::from_millis(*delay)).await;
                *delay
            })
            .collect();
        let started = std::time::Instant::now();
        assert_eq!(join_all(futures).await, vec![60, 0, 40]);
        // Concurrent, not one after another.
        assert!(started.elapsed() < Duration::from_millis(95));
        let empty: Vec<std::future::Ready<u8>> = Vec::new();
        assert!(join_all(empty).await.is_empty());
    }
}
