//! The throttle of moving data (issue 18, `follower.replication.throttled.rate`): three
//! brokers; `big`-0 (two replicas, ~20 MiB) is moved so that its follower is replaced by the
//! third broker, started with `ringbroker partition reassign --execute PLAN --throttle 4 MiB/s`.
//! The new replica cannot hold half of the partition before (half − the bucket's burst − one
//! batch of overshoot) / 4 MiB/s ≈ 2.3 s (the test asserts that lower bound, never a speed;
//! the rate and its burst are the broker's, whatever its shard count); meanwhile an acks=all
//! producer to `busy` (three replicas, one of them on the moving broker, min ISR 2) keeps
//! being answered, every request succeeding. Then the throttle is removed
//! (IncrementalAlterConfigs) and the move completes; `--verify` reports it completed and that
//! it removed the throttle. Every wait is bounded.
mod common;

use common::RawClient;
use common::cluster::{CONVERGE, Cluster};
use ringbroker::protocol::messages::incremental_alter_configs::{
    AlterConfigsResource, AlterableConfig, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
};
use ringbroker::protocol::messages::produce::{
    PartitionProduceData, ProduceRequest, ProduceResponse, TopicProduceData,
};
use ringbroker::protocol::{ErrorCode, StrBytes};
use ringbroker::storage::testing::build_batch_sized;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const BIG: &str = "big";
const BUSY: &str = "busy";
const RATE: u64 = 4 * 1024 * 1024;
const BATCH_SIZE: usize = 256 * 1024;
const BATCHES: u64 = 80;
/// Requests the busy producer sends at most (it stops earlier when the move is done).
const BUSY_REQUESTS_MAX: u64 = 100_000;

/// Produces one batch of `size` bytes to partition 0 of `topic`; the answer's code.
fn produce(client: &mut RawClient, topic: &str, acks: i16, size: usize, seed: u64) -> ErrorCode {
    let batch = build_batch_sized(1, common::now_ms(), size, seed).freeze();
    let request = ProduceRequest {
        acks,
        timeout_ms: 10_000,
        topic_data: vec![TopicProduceData {
            name: StrBytes::from(topic),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(batch),
            }],
            ..TopicProduceData::default()
        }],
        ..ProduceRequest::default()
    };
    let response: ProduceResponse = client.try_call(9, &request).unwrap();
    response.responses[0].partition_responses[0].error_code
}

/// Bytes in the `.log` files of a partition directory (0 while it does not exist).
fn log_bytes(directory: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "log"))
        .filter_map(|entry| entry.metadata().ok())
        .map(|metadata| metadata.len())
        .sum()
}

fn reassign_cli(cluster: &Cluster, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ringbroker"))
        .args(["partition", "reassign"])
        .args(args)
        .args(["--bootstrap", &cluster.broker(1).address.to_string()])
        .output()
        .unwrap()
}

/// Removes the cluster-wide moving-data throttle.
fn remove_throttle(cluster: &Cluster) {
    let request = IncrementalAlterConfigsRequest {
        resources: vec![AlterConfigsResource {
            resource_type: 4,
            resource_name: StrBytes::from(""),
            configs: vec![AlterableConfig {
                name: StrBytes::from("follower.replication.throttled.rate"),
                config_operation: 1,
                value: None,
            }],
        }],
        validate_only: false,
    };
    let response: IncrementalAlterConfigsResponse =
        cluster.broker(1).client().try_call(0, &request).unwrap();
    assert_eq!(response.responses[0].error_code, ErrorCode::None);
}

/// An acks=all producer to `busy`'s leader until `stop`, counting the requests answered
/// successfully in `answered`; returns the refusals.
fn busy_producer(
    cluster: &Cluster,
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
) -> std::thread::JoinHandle<Vec<ErrorCode>> {
    let leader = cluster.partitions(BUSY).unwrap()[0].leader;
    let address = cluster.broker(leader).address;
    std::thread::spawn(move || {
        let mut client = RawClient::connect(address);
        let mut refused = Vec::new();
        for seed in 0..BUSY_REQUESTS_MAX {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            match produce(&mut client, BUSY, -1, 1024, seed + 1) {
                ErrorCode::None => answered.fetch_add(1, Ordering::Relaxed),
                code => {
                    refused.push(code);
                    0
                }
            };
            // A steady trickle, not a load test (two cores run the whole cluster).
            std::thread::sleep(Duration::from_millis(5));
        }
        refused
    })
}

/// Creates both topics and fills `big` (its ISR full again after); writes the plan moving
/// `big`-0 from its follower to the third broker. Returns (leader, new replica, the
/// partition's log bytes, the plan's path).
fn fill_big(cluster: &Cluster) -> (i32, i32, u64, PathBuf) {
    cluster.create_topic(BIG, 1, 2, &[]);
    cluster.create_topic(BUSY, 1, 3, &[("min.insync.replicas", "2")]);
    let big = cluster.wait_isr_full(BIG, CONVERGE).unwrap()[0].clone();
    cluster.wait_isr_full(BUSY, CONVERGE).unwrap();
    let leader = big.leader;
    let new = cluster.ids().find(|id| !big.replicas.contains(id)).unwrap();
    let mut client = RawClient::connect(cluster.broker(leader).address);
    for seed in 0..BATCHES {
        assert_eq!(
            produce(&mut client, BIG, 1, BATCH_SIZE, seed + 1),
            ErrorCode::None
        );
    }
    let big = cluster.wait_isr_full(BIG, CONVERGE).unwrap()[0].clone();
    eprintln!("before the move: {big:?}");
    let total = log_bytes(&cluster.partition_dir(leader, BIG, 0));
    assert!(total >= BATCHES * BATCH_SIZE as u64, "{total} bytes");
    let plan = cluster.broker(1).data_dir().join("../throttle-plan.json");
    let partition = format!(r#"{{"topic":"{BIG}","partition":0,"replicas":[{leader},{new}]}}"#);
    std::fs::write(
        &plan,
        format!(r#"{{"version":1,"partitions":[{partition}]}}"#),
    )
    .unwrap();
    (leader, new, total, plan)
}

#[test]
fn a_throttled_move_does_not_starve_acks_all_producers() {
    let cluster = Cluster::start(3);
    let (leader, new, total, plan) = fill_big(&cluster);
    let plan = plan.to_str().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let producer = busy_producer(&cluster, Arc::clone(&stop), Arc::clone(&answered));

    let started = Instant::now();
    let output = reassign_cli(
        &cluster,
        &["--execute", plan, "--throttle", &RATE.to_string()],
    );
    let report = String::from_utf8_lossy(&output.stdout);
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{report}{errors}");
    assert!(report.contains("throttle limit was set"), "{report}");
    let answered_before = answered.load(Ordering::Relaxed);
    let moving = cluster.partition_dir(new, BIG, 0);
    let half = eventually_some(|| (log_bytes(&moving) >= total / 2).then(|| started.elapsed()));
    let Some(half) = half else {
        panic!(
            "{} bytes moved of {total}:\n{}",
            log_bytes(&moving),
            cluster.log_tails()
        );
    };
    let answered_moving = answered.load(Ordering::Relaxed) - answered_before;
    eprintln!("half of {total} bytes moved after {half:?}");
    eprintln!("busy producer: {answered_moving} acks=all requests answered meanwhile");
    let burst_and_overshoot = RATE / 10 + BATCH_SIZE as u64;
    let floor_ms = (total / 2 - burst_and_overshoot) * 1000 / RATE;
    assert!(floor_ms >= 2_000, "the bound below is {floor_ms} ms");
    assert!(
        half >= Duration::from_millis(floor_ms),
        "half the partition moved in {half:?}, faster than the throttle allows ({floor_ms} ms)"
    );

    remove_throttle(&cluster);
    let mut last = String::new();
    let completed = common::eventually(CONVERGE, || {
        let output = reassign_cli(&cluster, &["--verify", plan]);
        last = String::from_utf8_lossy(&output.stdout).into_owned();
        output.status.success()
    });
    assert!(completed, "{last}\n{}", cluster.log_tails());
    assert!(last.contains("is completed."), "{last}");
    assert!(last.contains("Throttle was removed."), "{last}");
    stop.store(true, Ordering::Relaxed);
    let refused = producer.join().unwrap();
    assert!(refused.is_empty(), "acks=all refused: {refused:?}");
    assert!(
        answered_moving > 0,
        "no acks=all request answered while the partition moved"
    );
    let after = cluster.wait_isr_full(BIG, CONVERGE).unwrap();
    assert_eq!(after[0].replicas, vec![leader, new]);
    assert_eq!(
        log_bytes(&moving),
        total,
        "the moved replica holds every byte"
    );
}

/// Polls `probe` (bounded by [`CONVERGE`]) until it gives a value.
fn eventually_some<T>(mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let mut value = None;
    common::eventually(CONVERGE, || {
        value = probe();
        value.is_some()
    });
    value
}
