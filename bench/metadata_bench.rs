//! metadata-bench: how fast the cluster metadata state machine takes in the records of a
//! 100,000-partition cluster, and what its snapshot costs (CLUSTER.md, "On paper: 100 brokers,
//! 100k partitions": ~10 MB of partition records, replay under a second).
//!
//! The records: 3 brokers registered and unfenced, then `TOPIC_COUNT` topics of
//! `PARTITIONS_PER_TOPIC` partitions (100,000 in all), each topic a `TopicCreated` followed by
//! one `Partition` record per partition with replication factor 3 (replicas and ISR rotated
//! over the brokers, the first replica leading). Measured, single-threaded, no runtime, no I/O:
//! - `apply_all` of the whole set as one change (a snapshot replayed, a follower catching up);
//! - `apply_all` once per topic, each on the previous state (CreateTopics commits one entry per
//!   request: a new immutable state per change, as the controller publishes);
//! - the metadata log's replay path: each topic's records decoded from their encoded bytes
//!   (`MetadataRecord::decode`) and applied with `apply_all`, as `MetadataImage` applies an
//!   entry;
//! - `apply`, one record at a time, each producing a new state (the worst case: a state per
//!   record; each `apply` clones the state's maps, so the whole set is quadratic in topics);
//! - `encode_snapshot` of the final state (and its size) and `decode_snapshot` of those bytes.
//!
//! Each figure is the median of `RUNS` timed runs after one warm-up run. Run in release:
//! `cargo run --release --bin metadata-bench`. Results go to bench/RESULTS.md ("metadata").
use anyhow::{Context, Result, ensure};
use ringbroker::cluster::metadata::{
    BrokerRegistration, ClusterMetadata, Listener, MetadataRecord, PartitionState, decode_snapshot,
    encode_snapshot,
};
use ringbroker::limits::PARTITIONS_PER_CLUSTER_MAX;
use ringbroker::protocol::Uuid;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Timed runs per measurement; the median is reported.
const RUNS: usize = 5;
const BROKER_COUNT: i32 = 3;
const REPLICATION_FACTOR: i32 = 3;
const TOPIC_COUNT: i32 = 1_000;
const PARTITIONS_PER_TOPIC: i32 = 100;
const PARTITION_COUNT: usize = 100_000;
const _: () = assert!(TOPIC_COUNT as usize * PARTITIONS_PER_TOPIC as usize == PARTITION_COUNT);
const _: () = assert!(PARTITION_COUNT <= PARTITIONS_PER_CLUSTER_MAX);
const _: () = assert!(REPLICATION_FACTOR <= BROKER_COUNT);

fn main() -> Result<()> {
    let brokers = broker_records();
    let topics = topic_changes();
    let all: Vec<MetadataRecord> = brokers
        .iter()
        .chain(topics.iter().flatten())
        .cloned()
        .collect();
    let expected_records = all.len();
    let empty = ClusterMetadata::empty("bench-cluster".into());
    let registered = empty.apply_all(&brokers)?;
    let final_state = empty.apply_all(&all)?;
    check(&final_state, expected_records)?;

    println!(
        "metadata-bench: {BROKER_COUNT} brokers, {TOPIC_COUNT} topics x {PARTITIONS_PER_TOPIC} \
         partitions = {PARTITION_COUNT} partitions (RF {REPLICATION_FACTOR}), \
         {expected_records} records; median of {RUNS} runs"
    );
    println!("| measurement | records | ms | records/s |");
    println!("|---|---:|---:|---:|");
    let whole = median_time(|| Ok(black_box(empty.apply_all(&all)?).version))?;
    row(
        "apply_all, whole set as one change",
        expected_records,
        whole,
    );
    let per_topic = median_time(|| apply_per_change(&registered, &topics))?;
    row(
        "apply_all per topic (1 change = 1 topic)",
        expected_records,
        per_topic,
    );
    let encoded: Vec<Vec<Vec<u8>>> = topics
        .iter()
        .map(|change| change.iter().map(MetadataRecord::to_bytes).collect())
        .collect();
    let replay = median_time(|| replay_encoded(&registered, &encoded))?;
    row(
        "decode + apply_all per topic entry (log replay)",
        expected_records,
        replay,
    );
    let one_by_one = median_time(|| apply_one_by_one(&empty, &all))?;
    row(
        "apply, one record -> one new state",
        expected_records,
        one_by_one,
    );

    let snapshot = encode_snapshot(&final_state)?;
    let encode = median_time(|| Ok(encode_snapshot(&final_state)?.len()))?;
    let decode = median_time(|| Ok(decode_snapshot(&snapshot)?.version))?;
    ensure!(
        decode_snapshot(&snapshot)? == final_state,
        "snapshot round trip differs"
    );
    let snapshot_records = final_state.snapshot_records().len();
    row("encode_snapshot", snapshot_records, encode);
    row("decode_snapshot", snapshot_records, decode);
    println!(
        "snapshot: {} bytes ({:.1} MiB), {:.1} bytes per partition",
        snapshot.len(),
        snapshot.len() as f64 / (1024.0 * 1024.0),
        snapshot.len() as f64 / PARTITION_COUNT as f64
    );
    Ok(())
}

/// Registration and unfencing of brokers 1..=BROKER_COUNT.
fn broker_records() -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for node_id in 1..=BROKER_COUNT {
        let broker_epoch = i64::from(node_id) * 10;
        records.push(MetadataRecord::RegisterBroker(BrokerRegistration {
            node_id,
            incarnation: uuid(0xb0, u32::try_from(node_id).unwrap_or(0)),
            broker_epoch,
            listeners: vec![Listener {
                name: "CLIENT".into(),
                host: format!("broker{node_id}.example"),
                port: 9092,
            }],
            shard_count: 2,
            rack: Some(format!("rack-{node_id}")),
            fenced: true,
        }));
        records.push(MetadataRecord::UnfenceBroker {
            node_id,
            broker_epoch,
        });
    }
    records
}

/// One change per topic: its `TopicCreated` and its `Partition` records.
fn topic_changes() -> Vec<Vec<MetadataRecord>> {
    (0..TOPIC_COUNT)
        .map(|topic| {
            let topic_id = uuid(0x70, u32::try_from(topic).unwrap_or(0));
            let mut change = vec![MetadataRecord::TopicCreated {
                topic_id,
                name: format!("topic-{topic:05}"),
                partition_count: PARTITIONS_PER_TOPIC,
                configs: BTreeMap::new(),
            }];
            change.extend(
                (0..PARTITIONS_PER_TOPIC).map(|partition| MetadataRecord::Partition {
                    topic_id,
                    partition,
                    state: partition_state(topic + partition),
                }),
            );
            change
        })
        .collect()
}

/// Replicas rotated over the brokers from `seed`; all in sync; the first leads.
fn partition_state(seed: i32) -> PartitionState {
    let replicas: Vec<i32> = (0..REPLICATION_FACTOR)
        .map(|index| (seed + index).rem_euclid(BROKER_COUNT) + 1)
        .collect();
    PartitionState {
        leader: replicas[0],
        isr: replicas.clone(),
        replicas,
        elr: Vec::new(),
        adding: Vec::new(),
        removing: Vec::new(),
        leader_epoch: 0,
        partition_epoch: 0,
    }
}

/// A non-zero id from a tag byte and a counter.
fn uuid(tag: u8, counter: u32) -> Uuid {
    let mut bytes = [tag; 16];
    bytes[12..].copy_from_slice(&counter.to_be_bytes());
    Uuid(bytes)
}

fn check(state: &ClusterMetadata, records: usize) -> Result<()> {
    ensure!(
        state.recorded_partition_count() == PARTITION_COUNT,
        "partitions recorded"
    );
    ensure!(
        state.version == u64::try_from(records)?,
        "one version per record"
    );
    ensure!(state.topics.len() == TOPIC_COUNT as usize, "topics");
    ensure!(
        state.brokers().filter(|b| !b.fenced).count() == BROKER_COUNT as usize,
        "brokers"
    );
    Ok(())
}

fn apply_per_change(start: &ClusterMetadata, changes: &[Vec<MetadataRecord>]) -> Result<u64> {
    let mut state = start.clone();
    for change in changes {
        state = state.apply_all(change)?;
    }
    Ok(black_box(state).version)
}

fn replay_encoded(start: &ClusterMetadata, entries: &[Vec<Vec<u8>>]) -> Result<u64> {
    let mut state = start.clone();
    for entry in entries {
        let decoded: Result<Vec<_>, _> = entry.iter().map(|r| MetadataRecord::decode(r)).collect();
        state = state.apply_all(&decoded?)?;
    }
    Ok(black_box(state).version)
}

fn apply_one_by_one(start: &ClusterMetadata, records: &[MetadataRecord]) -> Result<u64> {
    let mut state = start.clone();
    for record in records {
        state = state.apply(record)?;
    }
    Ok(black_box(state).version)
}

/// One warm-up run, then the median wall time of `RUNS` runs.
fn median_time<T>(mut run: impl FnMut() -> Result<T>) -> Result<Duration> {
    black_box(run()?);
    let mut times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        black_box(run()?);
        times.push(started.elapsed());
    }
    times.sort();
    times.get(RUNS / 2).copied().context("no runs")
}

fn row(name: &str, records: usize, elapsed: Duration) {
    let ms = elapsed.as_secs_f64() * 1000.0;
    let rate = records as f64 / elapsed.as_secs_f64();
    println!("| {name} | {records} | {ms:.1} | {rate:.0} |");
}
