//! Partition replication across three real broker processes (issue 16): an RF 3 topic's
//! followers copy the leader's batches byte for byte, the ISR holds every replica, acks=all
//! answers once the in-sync replicas have the batch, consumers read only committed records,
//! and a kill -9 of a leader loses nothing that was acknowledged. The fault schedules and the
//! Jepsen-style checker are in `replication_faults.rs`; this file is the plain path.
//! The cluster is the shared harness of `common::cluster` (timeouts scaled down by flags);
//! every wait is a bounded poll.
mod common;

use common::cluster::{CONVERGE, Cluster, PartitionState};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

/// The min.insync.replicas every topic here has: acks=all needs two of the three replicas.
const MIN_ISR: (&str, &str) = ("min.insync.replicas", "2");

/// Partition `partition` of `topic` as the first live broker shows it.
fn state(cluster: &Cluster, topic: &str, partition: i32) -> Option<PartitionState> {
    cluster
        .partitions(topic)?
        .into_iter()
        .find(|state| state.partition == partition)
}

/// Produces `values` (one record each, to `partition`) with an idempotent acks=all producer;
/// returns the offset each acknowledged value got.
fn produce(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    values: &[String],
) -> BTreeMap<String, i64> {
    use rdkafka::ClientConfig;
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "2")
        .set("message.timeout.ms", "30000")
        .create()
        .expect("producer");
    let futures: Vec<_> = values
        .iter()
        .map(|value| {
            let record = FutureRecord::<str, str>::to(topic)
                .payload(value)
                .partition(partition);
            producer
                .send_result(record)
                .map_err(|(e, _)| e)
                .expect("send")
        })
        .collect();
    let mut acknowledged = BTreeMap::new();
    for (value, future) in values.iter().zip(futures) {
        if let Ok(Ok(delivery)) = common::block(future) {
            acknowledged.insert(value.clone(), delivery.offset);
        }
    }
    acknowledged
}

/// Every record of `topic`/`partition` from the beginning, as (offset, value), read with a
/// consumer until `expected` records came or the deadline passed.
fn consume(bootstrap: &str, topic: &str, partition: i32, expected: usize) -> Vec<(i64, String)> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "replication-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let mut records = Vec::new();
    let deadline = Instant::now() + CONVERGE;
    while records.len() < expected && Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            let value = String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned();
            records.push((message.offset(), value));
        }
    }
    records
}

/// The bytes of every segment file of a partition directory, in file name order.
fn segment_bytes(directory: &Path) -> Vec<u8> {
    let mut names: Vec<_> = std::fs::read_dir(directory)
        .unwrap()
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
        .collect();
    names.sort();
    names
        .iter()
        .flat_map(|path| std::fs::read(path).unwrap())
        .collect()
}

fn values(prefix: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|index| format!("{prefix}-{index}"))
        .collect()
}

#[test]
fn followers_copy_the_leader_byte_for_byte_and_acks_all_needs_the_isr() {
    let mut cluster = Cluster::start(3);
    cluster.create_topic("copied", 2, 3, &[MIN_ISR]);
    assert!(
        cluster.wait_isr_full("copied", CONVERGE).is_some(),
        "ISR never held every replica:\n{}",
        cluster.views("copied")
    );
    let bootstrap = cluster.bootstrap();
    let sent = values("v", 500);
    let acknowledged = produce(&bootstrap, "copied", 0, &sent);
    assert_eq!(acknowledged.len(), sent.len(), "acks=all refused records");
    let offsets: BTreeSet<i64> = acknowledged.values().copied().collect();
    assert_eq!(offsets, (0..500).collect(), "offsets are 0..500, each once");
    let read = consume(&bootstrap, "copied", 0, sent.len());
    let read_values: Vec<&str> = read.iter().map(|(_, value)| value.as_str()).collect();
    let sent_values: Vec<&str> = sent.iter().map(String::as_str).collect();
    assert_eq!(
        read_values, sent_values,
        "consumers read every value in order"
    );
    // Stop every broker cleanly, then compare the replicas' files.
    cluster.stop_all();
    let copies: Vec<Vec<u8>> = cluster
        .ids()
        .map(|id| segment_bytes(&cluster.partition_dir(id, "copied", 0)))
        .collect();
    assert!(!copies[0].is_empty());
    assert!(
        copies.iter().all(|copy| *copy == copies[0]),
        "replicas differ: sizes {:?}",
        copies.iter().map(Vec::len).collect::<Vec<_>>()
    );
}

/// Connection steering (`shard::steering`): with two shards per broker, every follower
/// connection lands on the leader's shard that owns the partitions it fetches, so no follower
/// fetch partition is served across the mesh. Without steering the kernel's hash puts each of
/// the six (leader, follower shard) connections on either shard: all six right by chance is
/// one in 64.
#[test]
fn followers_fetch_on_the_leaders_shard_that_owns_their_partitions() {
    use common::metrics::{scrape, sum};
    let metrics: Vec<std::net::SocketAddr> = (0..3).map(|_| common::free_address()).collect();
    let cluster = Cluster::start_tuned_each(3, 2, |id| {
        let address = metrics[usize::try_from(id - 1).unwrap()];
        vec!["--metrics-listen".to_owned(), address.to_string()]
    });
    // Eight partitions: each shard of each broker leads or follows some of them.
    cluster.create_topic("steered", 8, 3, &[MIN_ISR]);
    assert!(
        cluster.wait_isr_full("steered", CONVERGE).is_some(),
        "ISR never held every replica:\n{}",
        cluster.views("steered")
    );
    let bootstrap = cluster.bootstrap();
    for partition in 0..8 {
        let sent = values(&format!("p{partition}-"), 20);
        assert_eq!(produce(&bootstrap, "steered", partition, &sent).len(), 20);
    }
    let mut follower_fetches = 0.0;
    for address in &metrics {
        let text = scrape(*address);
        let off_shard = sum(
            &text,
            "ringbroker_follower_fetch_off_shard_partitions_total",
            &[],
        );
        assert!(
            off_shard == 0.0,
            "{off_shard} partitions crossed shards:\n{text}"
        );
        follower_fetches += sum(&text, "ringbroker_requests_total", &["api=\"Fetch\""]);
    }
    // Only followers fetch here (acks=all waited for them), so fetches were served.
    assert!(follower_fetches > 0.0, "no fetch was served");
}

#[test]
fn killing_the_leader_loses_no_acknowledged_record() {
    let mut cluster = Cluster::start(3);
    cluster.create_topic("failover", 1, 3, &[MIN_ISR]);
    assert!(cluster.wait_isr_full("failover", CONVERGE).is_some());
    let bootstrap = cluster.bootstrap();
    let before = produce(&bootstrap, "failover", 0, &values("before", 300));
    assert_eq!(before.len(), 300);
    let leader = state(&cluster, "failover", 0).expect("partition 0").leader;
    cluster.kill9(leader);
    let moved = common::eventually(CONVERGE, || {
        state(&cluster, "failover", 0)
            .is_some_and(|now| now.leader >= 0 && now.leader != leader && now.isr.len() == 2)
    });
    assert!(moved, "no new leader:\n{}", cluster.views("failover"));
    let after = produce(&bootstrap, "failover", 0, &values("after", 300));
    assert_eq!(after.len(), 300, "the two survivors take acks=all writes");
    cluster.start_again(leader);
    assert!(
        cluster.wait_isr_full("failover", CONVERGE).is_some(),
        "the restarted broker never rejoined the ISR:\n{}",
        cluster.views("failover")
    );
    let read = consume(&bootstrap, "failover", 0, 600);
    let by_value: BTreeMap<&str, i64> = read.iter().map(|(o, v)| (v.as_str(), *o)).collect();
    assert_eq!(by_value.len(), read.len(), "a value read twice");
    for (value, offset) in before.iter().chain(&after) {
        assert_eq!(
            by_value.get(value.as_str()),
            Some(offset),
            "acknowledged {value} not at its offset"
        );
    }
}
