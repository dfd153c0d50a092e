//! The produce workload (`produce`, and each run of `sweep` and the producing half of `e2e`):
//! one producer thread per connection, progress lines from the main thread.
//!
//! Runs on the main thread, which spawns and joins the producer threads; progress is read
//! from the shared window every `--report-interval`, so printing never slows a producer.
//! The main thread also watches `--stop-file`: once it exists the producers stop generating,
//! drain what is in flight and the summary prints, so a script running ringbench in the
//! background (where SIGINT is ignored) ends it cleanly at the moment it chooses.
use crate::actors::assignment::{Share, assign};
use crate::actors::cluster::Topic;
use crate::actors::producer::{self, ProducerConfig, ProducerResult};
use crate::cli::{Options, Stop};
use crate::report::{Latency, ProduceSummary, Window, progress_line, window_line};
use anyhow::{Context, bail};
use ringbroker::protocol::record_batch::Compression;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// How often the main thread checks whether producers are done between progress lines.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Maps a CLI codec name to the codec.
///
/// # Errors
/// A name outside [`crate::cli::COMPRESSIONS`] (the CLI already refuses those).
pub fn compression(name: &str) -> anyhow::Result<Compression> {
    Compression::ALL
        .iter()
        .copied()
        .find(|codec| codec.name() == name)
        .with_context(|| format!("unknown codec {name}"))
}

/// Running producers, started by [`start`] and finished by [`finish`].
pub struct Producers {
    handles: Vec<JoinHandle<anyhow::Result<ProducerResult>>>,
    window: Arc<Mutex<Window>>,
    started: Instant,
    /// Set when `stop_file` appears; every producer's config holds it.
    stop: Arc<AtomicBool>,
    stop_file: Option<PathBuf>,
}

/// Starts one producer thread per share of the topic's partitions.
///
/// # Errors
/// Thread creation failures.
pub fn start(
    options: &Options,
    topic: &Topic,
    codec: Compression,
    deadline: Instant,
) -> anyhow::Result<Producers> {
    let shares = assign(&topic.partitions, options.connections);
    let started = Instant::now();
    let stop_at = match options.stop {
        Stop::Duration(duration) => (started + duration).min(deadline),
        Stop::Records(_) => deadline,
    };
    let total = options.records_limit().unwrap_or(u64::MAX);
    let window = Arc::new(Mutex::new(Window::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::with_capacity(shares.len());
    for (index, share) in shares.iter().enumerate() {
        let config = producer_config(options, topic, codec, share, index, shares.len(), total)?;
        let config = ProducerConfig {
            stop_at,
            stop: Arc::clone(&stop),
            ..config
        };
        let window = Arc::clone(&window);
        let handle = std::thread::Builder::new()
            .name(format!("ringbench-producer-{index}"))
            .spawn(move || producer::run(&config, &window))?;
        handles.push(handle);
    }
    Ok(Producers {
        handles,
        window,
        started,
        stop,
        stop_file: options.stop_file.as_ref().map(PathBuf::from),
    })
}

fn producer_config(
    options: &Options,
    topic: &Topic,
    codec: Compression,
    share: &Share,
    index: usize,
    count: usize,
    total: u64,
) -> anyhow::Result<ProducerConfig> {
    assert!(index < count, "share index in range");
    let count_u64 = count as u64;
    // Deal the records evenly; the first `total % count` connections send one more.
    let records_max = if total == u64::MAX {
        u64::MAX
    } else {
        total / count_u64 + u64::from((index as u64) < total % count_u64)
    };
    #[allow(clippy::cast_precision_loss)] // a rate, not a count
    let rate = options.throughput as f64 / count as f64;
    Ok(ProducerConfig {
        address: topic.address(share.leader_id)?.to_owned(),
        client_id: options.client_id.clone(),
        topic: topic.name.clone(),
        topic_id: topic.topic_id,
        partitions: share.partitions.clone(),
        produce_version: topic.versions.produce,
        record_size: options.record_size,
        batch_size: options.batch_size,
        linger: options.linger,
        compression: codec,
        acks: options.acks,
        in_flight_max: options.in_flight_max,
        rate,
        records_max,
        stop_at: Instant::now(),
        stop: Arc::new(AtomicBool::new(false)),
        seed: 0x5eed_0000 + index as u64,
        security: topic.security.clone(),
    })
}

impl Producers {
    /// Prints a progress line every `interval` until every producer is done or `deadline`
    /// passes, then joins them and sums their figures.
    ///
    /// # Errors
    /// The first producer error, or producers still running at the deadline.
    pub fn finish(self, interval: Duration, deadline: Instant) -> anyhow::Result<ProduceSummary> {
        let mut window_start = Instant::now();
        // Bounded by the deadline (the producers' own stop_at is no later).
        while !self.handles.iter().all(JoinHandle::is_finished) {
            if Instant::now() >= deadline + ringbroker::client::connection::SOCKET_TIMEOUT {
                bail!("producers still running past the timeout");
            }
            std::thread::sleep(POLL_INTERVAL);
            if self.stop_file.as_ref().is_some_and(|path| path.exists())
                && !self.stop.swap(true, Ordering::Relaxed)
            {
                println!("stop file found; draining");
            }
            if window_start.elapsed() >= interval {
                print_window(&self.window, window_start.elapsed());
                window_start = Instant::now();
            }
        }
        // The last, partial window.
        print_window(&self.window, window_start.elapsed());
        let mut summary = ProduceSummary::default();
        let mut latency = Latency::new();
        let mut finished = self.started;
        // Elapsed ends at the last producer's last acknowledgement, not at this poll loop's
        // next tick, so short runs are not charged the poll interval.
        for result in super::join_all(self.handles, "producer")? {
            finished = finished.max(result.finished.unwrap_or(finished));
            summary.records += result.records;
            summary.bytes += result.bytes;
            summary.wire_bytes += result.wire_bytes;
            summary.requests += result.requests;
            latency.merge(&result.latency);
        }
        summary.elapsed = finished.saturating_duration_since(self.started);
        summary.latency = latency.percentiles();
        Ok(summary)
    }
}

fn print_window(window: &Arc<Mutex<Window>>, elapsed: Duration) {
    let taken = match window.lock() {
        Ok(mut shared) => std::mem::take(&mut *shared),
        Err(_) => return,
    };
    println!("{}", progress_line(&taken, elapsed));
    println!("{}", window_line(&taken, SystemTime::now()));
}

/// Runs the produce workload once with `codec` and prints kafka-producer-perf-test's lines.
///
/// # Errors
/// Any producer's error.
pub fn run(
    options: &Options,
    topic: &Topic,
    codec: Compression,
    deadline: Instant,
) -> anyhow::Result<ProduceSummary> {
    let producers = start(options, topic, codec, deadline)?;
    let summary = producers.finish(options.report_interval, deadline)?;
    println!("{}", crate::report::produce_summary_line(&summary));
    println!("{}", crate::report::hdr_line("produce", &summary.latency));
    Ok(summary)
}
