//! The consume workload (`consume`, and the consuming half of `e2e`): one consumer thread per
//! connection, kafka-consumer-perf-test's summary.
//!
//! Runs on the main thread, which spawns and joins the consumer threads.
use crate::actors::assignment::assign;
use crate::actors::cluster::Topic;
use crate::actors::consumer::{self, ConsumerConfig, ConsumerResult};
use crate::cli::Options;
use crate::report::{ConsumeSummary, Latency, consumer_row};
use anyhow::bail;
use ringbroker::client::connection::SOCKET_TIMEOUT;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc::sync_channel;
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime};

/// Running consumers, started by [`start`] and finished by [`Consumers::finish`].
pub struct Consumers {
    handles: Vec<JoinHandle<anyhow::Result<ConsumerResult>>>,
    /// Records to read in all; `e2e` lowers it once the producers are done.
    pub target: Arc<AtomicU64>,
    start_time: SystemTime,
}

/// Starts the consumers and waits until each has its start offsets, so that a producer
/// started afterwards cannot write records a consumer would skip (`from_latest`).
///
/// # Errors
/// Thread creation failures, or a consumer not ready within the socket timeout.
pub fn start(
    options: &Options,
    topic: &Topic,
    target: u64,
    from_latest: bool,
    deadline: Instant,
) -> anyhow::Result<Consumers> {
    let shares = assign(&topic.partitions, options.connections);
    let target = Arc::new(AtomicU64::new(target));
    let consumed = Arc::new(AtomicU64::new(0));
    let (ready_sender, ready) = sync_channel(shares.len());
    let start_time = SystemTime::now();
    let mut handles = Vec::with_capacity(shares.len());
    for (index, share) in shares.iter().enumerate() {
        let config = ConsumerConfig {
            address: topic.address(share.leader_id)?.to_owned(),
            client_id: options.client_id.clone(),
            topic: topic.name.clone(),
            topic_id: topic.topic_id,
            partitions: share.partitions.clone(),
            fetch_version: topic.versions.fetch,
            list_offsets_version: topic.versions.list_offsets,
            fetch_max_bytes: options.fetch_max_bytes,
            partition_max_bytes: options.partition_max_bytes,
            target: Arc::clone(&target),
            from_latest,
            stop_at: deadline,
            end_to_end: from_latest,
            security: topic.security.clone(),
        };
        let consumed = Arc::clone(&consumed);
        let ready = ready_sender.clone();
        let handle = std::thread::Builder::new()
            .name(format!("ringbench-consumer-{index}"))
            .spawn(move || consumer::run(&config, &consumed, Some(ready)))?;
        handles.push(handle);
    }
    drop(ready_sender);
    let consumers = Consumers {
        handles,
        target,
        start_time,
    };
    for _ in 0..consumers.handles.len() {
        if ready.recv_timeout(SOCKET_TIMEOUT).is_err() {
            // A consumer failed before it was ready; its error is the useful one.
            consumers.finish(deadline)?;
            bail!("a consumer did not find its start offsets");
        }
    }
    Ok(consumers)
}

impl Consumers {
    /// Joins the consumers and sums their figures (with the merged end-to-end latency).
    ///
    /// # Errors
    /// The first consumer error, or consumers still running well past the deadline.
    pub fn finish(self, deadline: Instant) -> anyhow::Result<(ConsumeSummary, Latency)> {
        // Bounded: consumers stop at the deadline; a Fetch returns within the socket timeout.
        while !self.handles.iter().all(JoinHandle::is_finished) {
            if Instant::now() >= deadline + SOCKET_TIMEOUT * 2 {
                bail!("consumers still running past the timeout");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let mut summary = ConsumeSummary {
            start: self.start_time,
            end: SystemTime::now(),
            records: 0,
            bytes: 0,
            wire_bytes: 0,
            fetches: 0,
            fetch_time: std::time::Duration::ZERO,
        };
        let mut latency = Latency::new();
        let mut first_fetch: Option<Instant> = None;
        let mut last_record: Option<Instant> = None;
        for result in super::join_all(self.handles, "consumer")? {
            summary.records += result.records;
            summary.bytes += result.bytes;
            summary.wire_bytes += result.wire_bytes;
            summary.fetches += result.fetches;
            latency.merge(&result.latency);
            first_fetch = min_instant(first_fetch, result.first_fetch);
            last_record = last_record.max(result.last_record);
        }
        if let (Some(first), Some(last)) = (first_fetch, last_record) {
            summary.fetch_time = last.saturating_duration_since(first);
        }
        Ok((summary, latency))
    }
}

fn min_instant(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Reads `--num-records` records from the earliest offsets and prints the consumer tool's
/// header and row.
///
/// # Errors
/// Any consumer's error.
pub fn run(options: &Options, topic: &Topic, deadline: Instant) -> anyhow::Result<ConsumeSummary> {
    let target = options.records_limit().unwrap_or(u64::MAX);
    let consumers = start(options, topic, target, false, deadline)?;
    let (summary, _) = consumers.finish(deadline)?;
    println!("{}", crate::report::CONSUMER_HEADER);
    println!("{}", consumer_row(&summary));
    if summary.records < target && target != u64::MAX {
        println!(
            "note: read {} of {target} records; stopped after {} s without a new record or at \
             the timeout (the topic holds fewer?)",
            summary.records,
            crate::actors::consumer::IDLE_TIMEOUT.as_secs()
        );
    }
    Ok(summary)
}
