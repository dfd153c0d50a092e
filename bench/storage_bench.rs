//! storage-bench: partition log append throughput against a plain sequential write loop on the
//! same file system, and Strict-mode acknowledged appends/s with group commit (`ShardLogs`)
//! against one fdatasync per append.
//!
//! Run (release, the numbers in bench/RESULTS.md):
//! `CARGO_TARGET_DIR=/work/main/target cargo run --release --bin storage-bench [-- DIR]`
//! DIR defaults to a scratch directory under /var/tmp (a disk, not tmpfs). Each case runs five
//! times, the two sides interleaved in 16 MiB turns so both see the same background load;
//! medians are printed. Only the append/write calls are timed: building the batches (the
//! producer's work) is outside the clock for both sides. `STORAGE_BENCH_SIZES=1024,16384`
//! narrows the throughput cases, `STORAGE_BENCH_SKIP_STRICT=1` skips the fdatasync cases.
//! Runs on one compio runtime on the main thread.
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::BytesMut;
use compio::BufResult;
use compio::io::AsyncWriteAtExt;
use ringbroker::storage::testing::build_batch_sized;
use ringbroker::storage::{
    AppendRequest, CheckedBatch, Clock, FlushPolicy, LogConfig, PartitionLog, ShardLogs,
    SystemClock,
};

const RUNS: usize = 5;
/// Bytes appended per throughput run: large enough to leave CPU caches, small enough to stay
/// in the page cache of a modest machine so both sides measure the same thing.
const THROUGHPUT_BYTES: u64 = 512 * 1024 * 1024;
/// Bytes each side writes before the other takes a turn.
const CHUNK_BYTES: u64 = 16 * 1024 * 1024;
const STRICT_PARTITIONS: usize = 4;
const STRICT_PRODUCERS_PER_PARTITION: usize = 8;
const STRICT_TICKS: usize = 100;

fn main() -> Result<()> {
    let root = match std::env::args().nth(1) {
        Some(directory) => PathBuf::from(directory),
        None => PathBuf::from("/var/tmp"),
    };
    let scratch = root.join(format!("storage-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).context("scratch directory")?;
    let runtime = compio::runtime::Runtime::new().context("compio runtime")?;
    let outcome = runtime.block_on(run(&scratch));
    std::fs::remove_dir_all(&scratch).context("removing the scratch directory")?;
    outcome
}

async fn run(scratch: &Path) -> Result<()> {
    println!(
        "storage-bench in {} ({RUNS} runs per case, median)",
        scratch.display()
    );
    // STORAGE_BENCH_SIZES=1024,16384 narrows the throughput cases (profiling one of them).
    let sizes: Vec<usize> = match std::env::var("STORAGE_BENCH_SIZES") {
        Ok(list) => list
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect(),
        Err(_) => vec![1024, 16 * 1024, 1024 * 1024],
    };
    for batch_size in sizes {
        let mut log_rates = Vec::new();
        let mut plain_rates = Vec::new();
        let mut ratios = Vec::new();
        for run in 0..RUNS {
            let directory = scratch.join(format!("append-{batch_size}-{run}"));
            let (log_rate, plain_rate) = interleaved_throughput(&directory, batch_size).await?;
            log_rates.push(log_rate);
            plain_rates.push(plain_rate);
            ratios.push(log_rate / plain_rate);
        }
        println!(
            "append {:>7} B batches: log {:>8.1} MiB/s, plain write {:>8.1} MiB/s, \
             ratio {:>5.1}% (median of per-run ratios)",
            batch_size,
            median(&mut log_rates),
            median(&mut plain_rates),
            100.0 * median(&mut ratios)
        );
    }
    if std::env::var_os("STORAGE_BENCH_SKIP_STRICT").is_some() {
        return Ok(());
    }
    let mut grouped = Vec::new();
    let mut single = Vec::new();
    for run in 0..RUNS {
        grouped.push(strict_group_commit(&scratch.join(format!("group-{run}"))).await?);
        single.push(strict_one_sync_per_append(&scratch.join(format!("single-{run}"))).await?);
    }
    let grouped = median(&mut grouped);
    let single = median(&mut single);
    println!(
        "strict 1 KiB appends, {STRICT_PARTITIONS} partitions x {STRICT_PRODUCERS_PER_PARTITION} \
         producers: group commit {grouped:>8.0} acks/s, one fdatasync per append \
         {single:>8.0} acks/s, speedup {:.1}x",
        grouped / single
    );
    Ok(())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn mib_per_second(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / elapsed.as_secs_f64()
}

fn clock() -> Rc<dyn Clock> {
    Rc::new(SystemClock)
}

/// The same batch content every time: the payload does not matter to either side.
fn template(batch_size: usize) -> BytesMut {
    let now = SystemClock.now_ms();
    build_batch_sized(1, now, batch_size - 61, 7)
}

/// Appends `THROUGHPUT_BYTES` through a `PartitionLog` and writes the same bytes with a plain
/// positional write loop to a file beside it, alternating `CHUNK_BYTES` of each so both sides
/// see the same background load (the machine is shared) and the same page-cache state.
/// Returns (log MiB/s, plain MiB/s) over the timed calls only.
async fn interleaved_throughput(directory: &Path, batch_size: usize) -> Result<(f64, f64)> {
    let config = LogConfig {
        max_message_bytes: u32::try_from(batch_size)?,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(directory.join("log-0"), config, clock()).await?;
    let plain_path = directory.join("plain.bin");
    let plain = compio::fs::File::create(&plain_path).await?;
    let template = template(batch_size);
    let per_chunk = (CHUNK_BYTES / batch_size as u64).max(1);
    let chunks = THROUGHPUT_BYTES / (per_chunk * batch_size as u64);
    let mut log_timed = Duration::ZERO;
    let mut plain_timed = Duration::ZERO;
    let mut position = 0u64;
    let mut writer = &plain;
    for _ in 0..chunks {
        for _ in 0..per_chunk {
            let batch = template.clone();
            let started = Instant::now();
            log.append(vec![batch], 0).await?;
            log_timed += started.elapsed();
        }
        for _ in 0..per_chunk {
            let buffer = template.clone();
            let started = Instant::now();
            let BufResult(result, _) = writer.write_all_at(buffer, position).await;
            result?;
            plain_timed += started.elapsed();
            position += batch_size as u64;
        }
    }
    let written = log.size_bytes();
    assert_eq!(written, position, "both sides wrote the same bytes");
    // Untimed, for both: leave the page cache clean for the next case.
    log.close().await?;
    plain.sync_data().await?;
    plain.close().await?;
    std::fs::remove_dir_all(directory)?;
    Ok((
        mib_per_second(written, log_timed),
        mib_per_second(position, plain_timed),
    ))
}

fn strict_config() -> LogConfig {
    LogConfig {
        flush: FlushPolicy::Strict,
        ..LogConfig::default()
    }
}

async fn strict_group_commit(directory: &Path) -> Result<f64> {
    let mut shard = ShardLogs::new();
    for partition in 0..STRICT_PARTITIONS {
        let path = directory.join(format!("t-{partition}"));
        shard.insert(
            partition,
            PartitionLog::open(path, strict_config(), clock()).await?,
        );
    }
    let template = CheckedBatch::new(template(1024).freeze())?;
    let started = Instant::now();
    let mut acknowledged = 0usize;
    for _ in 0..STRICT_TICKS {
        let mut requests = Vec::with_capacity(STRICT_PARTITIONS * STRICT_PRODUCERS_PER_PARTITION);
        for partition in 0..STRICT_PARTITIONS {
            for _ in 0..STRICT_PRODUCERS_PER_PARTITION {
                let request = AppendRequest {
                    batches: vec![template.clone()],
                    leader_epoch: 0,
                };
                requests.push((partition, request));
            }
        }
        for result in shard.append_tick(requests).await {
            result?;
            acknowledged += 1;
        }
    }
    let elapsed = started.elapsed();
    std::fs::remove_dir_all(directory)?;
    Ok(acknowledged as f64 / elapsed.as_secs_f64())
}

async fn strict_one_sync_per_append(directory: &Path) -> Result<f64> {
    let mut logs = Vec::with_capacity(STRICT_PARTITIONS);
    for partition in 0..STRICT_PARTITIONS {
        let path = directory.join(format!("t-{partition}"));
        logs.push(PartitionLog::open(path, strict_config(), clock()).await?);
    }
    let template = template(1024);
    let started = Instant::now();
    let mut acknowledged = 0usize;
    // A quarter of the group-commit run's appends: each costs a full fdatasync.
    for _ in 0..STRICT_TICKS / 4 {
        for log in &mut logs {
            for _ in 0..STRICT_PRODUCERS_PER_PARTITION {
                log.append(vec![template.clone()], 0).await?;
                acknowledged += 1;
            }
        }
    }
    let elapsed = started.elapsed();
    std::fs::remove_dir_all(directory)?;
    Ok(acknowledged as f64 / elapsed.as_secs_f64())
}
