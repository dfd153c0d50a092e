//! Replication under faults (issue 16, "How it is shown to work"): three broker processes, a
//! topic with RF 3 and `min.insync.replicas=2`, an idempotent acks=all rdkafka producer writing
//! throughout. Each scenario does one kind of fault to a partition's leader or follower, lets
//! the ISR heal, stops every broker and runs the checker (`common::checker`) over the
//! producer's delivery reports and the replicas' segment files: nothing acknowledged lost, no
//! value twice, no offset with two values, replicas byte-identical below the HW.
//!
//! The checker's own unit tests (synthetic inputs, one per verdict) are at the end.
mod common;

use bytes::{Bytes, BytesMut};
use common::checker::{self, Acked, PartitionView, ReplicaLog};
use common::cluster::{CONVERGE, Cluster, LONG_SESSION_MS, Timeouts, Workload};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use ringbroker::protocol::records::{BatchBuilder, BatchOptions, NewRecord};
use std::time::Duration;

const PARTITIONS: i32 = 2;
/// Records acknowledged before the first fault and after each one (the partitions take writes).
const PROGRESS: usize = 200;

/// Three voters, the topic, and the producer writing with ≥ [`PROGRESS`] records acknowledged.
fn start(topic: &str) -> (Cluster, Workload) {
    let cluster = Cluster::start(3);
    cluster.create_topic(topic, PARTITIONS, 3, &[("min.insync.replicas", "2")]);
    let workload = Workload::start(&cluster.bootstrap(), topic);
    assert!(
        workload.wait_progress(PROGRESS, CONVERGE),
        "no writes before the faults ({}):\n{}",
        workload.describe(),
        cluster.log_tails()
    );
    (cluster, workload)
}

/// The leader of `partition` as the live brokers show it once one is elected and not in
/// `excluded`.
fn leader_of(cluster: &Cluster, topic: &str, partition: i32, excluded: &[i32]) -> i32 {
    let mut leader = -1;
    let elected = common::eventually(CONVERGE, || {
        leader = cluster
            .partitions(topic)
            .and_then(|states| states.into_iter().find(|s| s.partition == partition))
            .map_or(-1, |state| state.leader);
        leader >= 0 && !excluded.contains(&leader) && cluster.live().contains(&leader)
    });
    assert!(
        elected,
        "partition {partition} has no leader outside {excluded:?} (last {leader}):\n{}",
        cluster.log_tails()
    );
    leader
}

/// Stops the producer, heals and checks; panics with the verdict and the logs if unclean.
fn finish(mut cluster: Cluster, workload: Workload, topic: &str) {
    let (acked, failed) = workload.stop();
    assert!(acked.len() >= PROGRESS, "only {} acknowledged", acked.len());
    let tails = cluster.log_tails();
    let outcome = cluster.settle_and_check(topic, &acked);
    eprintln!(
        "{topic}: {} acknowledged, {failed} failed deliveries, end {:?}\n{}",
        acked.len(),
        outcome.partitions,
        outcome.verdict
    );
    assert!(
        outcome.verdict.is_clean(),
        "checker: {}\nlogs before the stop:\n{tails}",
        outcome.verdict
    );
}

/// Commits `offsets` (one per partition) for `group` and returns a consumer to read them back.
fn commit_offsets(
    bootstrap: &str,
    group: &str,
    topic: &str,
    offsets: &[i64],
) -> TopicPartitionList {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut list = TopicPartitionList::new();
    for (partition, offset) in (0..).zip(offsets) {
        list.add_partition_offset(topic, partition, Offset::Offset(*offset))
            .expect("partition");
    }
    let committed = common::eventually(CONVERGE, || {
        consumer.commit(&list, CommitMode::Sync).is_ok()
    });
    assert!(committed, "offsets of {group} not committed");
    list
}

/// What OffsetFetch returns for `group` now, through a fresh consumer.
fn fetch_offsets(
    bootstrap: &str,
    group: &str,
    wanted: &TopicPartitionList,
) -> Option<TopicPartitionList> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer
        .committed_offsets(wanted.clone(), Duration::from_secs(10))
        .ok()
}

#[test]
fn repeated_kill_9_of_a_leader_loses_no_acknowledged_record() {
    let topic = "kill-leader";
    let (mut cluster, workload) = start(topic);
    let group = "kept-offsets";
    let committed = commit_offsets(&cluster.bootstrap(), group, topic, &[5, 7]);
    for round in 0..3 {
        let leader = leader_of(&cluster, topic, round % PARTITIONS, &[]);
        cluster.kill9(leader);
        let moved = leader_of(&cluster, topic, round % PARTITIONS, &[leader]);
        eprintln!("round {round}: killed leader {leader}, now {moved}");
        assert!(
            workload.wait_progress(PROGRESS, CONVERGE),
            "round {round}: no writes after killing {leader} ({}):\n{}",
            workload.describe(),
            cluster.log_tails()
        );
        cluster.start_again(leader);
        assert!(
            cluster.wait_isr_full(topic, CONVERGE).is_some(),
            "round {round}: ISR did not heal after {leader} came back:\n{}{}",
            cluster.views(topic),
            cluster.log_tails()
        );
    }
    let mut fetched = None;
    let same = common::eventually(CONVERGE, || {
        fetched = fetch_offsets(&cluster.bootstrap(), group, &committed);
        fetched
            .as_ref()
            .is_some_and(|f| f.to_topic_map() == committed.to_topic_map())
    });
    assert!(
        same,
        "committed {committed:?}, fetched {fetched:?}\n{}",
        cluster.log_tails()
    );
    finish(cluster, workload, topic);
}

#[test]
fn a_frozen_leader_is_fenced_and_acknowledges_nothing_after() {
    let topic = "frozen-leader";
    let (mut cluster, workload) = start(topic);
    let leader = leader_of(&cluster, topic, 0, &[]);
    cluster.freeze(leader);
    // Past the session timeout: the controller fences it and elects another leader, and the
    // producer's writes go on there.
    let moved = leader_of(&cluster, topic, 0, &[leader]);
    assert!(
        workload.wait_progress(PROGRESS, CONVERGE),
        "no writes while {leader} is frozen ({}):\n{}",
        workload.describe(),
        cluster.log_tails()
    );
    cluster.thaw(leader);
    eprintln!("froze leader {leader}, {moved} took over, thawed");
    // Whatever the thawed broker still had in flight as leader must not have been
    // acknowledged unless it is in the final log: the checker's `lost`.
    finish(cluster, workload, topic);
}

/// The leader epochs a broker's log says it led with since its last start: one
/// `(partition, leader_epoch)` per `leading` line of topic `topic_id` (hex, as logged).
fn leaderships_since_start(log: &str, topic_id: &str) -> Vec<(i32, i32)> {
    let start = log
        .rfind("placement: shard 0")
        .map_or(log, |at| log.get(at..).unwrap_or(log));
    let number = |line: &str, field: &str| -> Option<i32> {
        let rest = line.get(line.find(field)? + field.len()..)?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    start
        .lines()
        .filter(|line| line.contains("replication::manager: leading key="))
        .filter(|line| line.contains(topic_id))
        .filter_map(|line| Some((number(line, "partition: ")?, number(line, "leader_epoch=")?)))
        .collect()
}

/// A restarted broker starts every shard from the metadata the quorum holds once it caught
/// up, never from its own persisted log: on that log's view a shard other than the first
/// would lead again, for a moment, the partitions the broker led when it died (and take
/// acks=1 writes there that the real leader never sees).
#[test]
fn a_restarted_broker_does_not_lead_on_its_persisted_metadata() {
    let topic = "restart-stale";
    let shards = 2;
    let mut cluster = Cluster::start_tuned(3, shards, &[]);
    cluster.create_topic(topic, 12, 3, &[("min.insync.replicas", "2")]);
    let shown = cluster.wait_isr_full(topic, CONVERGE).expect("ISR full");
    let response =
        common::cluster::metadata(cluster.broker(1).address, Some(&[topic])).expect("metadata");
    let topic_id = response.topics[0].topic_id;
    // The victim leads a partition on its second shard, whose start-up view is the question.
    let victim = shown
        .iter()
        .find(|state| ringbroker::shard::shard_for(topic_id, state.partition, shards) == 1)
        .map(|state| state.leader)
        .expect("a partition on shard 1");
    let led_before: Vec<(i32, i32)> = shown
        .iter()
        .filter(|state| state.leader == victim)
        .map(|state| (state.partition, state.leader_epoch))
        .collect();
    cluster.kill9(victim);
    for (partition, _) in &led_before {
        let _moved = leader_of(&cluster, topic, *partition, &[victim]);
    }
    cluster.start_again(victim);
    assert!(
        cluster.wait_isr_full(topic, CONVERGE).is_some(),
        "ISR did not heal:\n{}",
        cluster.views(topic)
    );
    let hex: String = topic_id
        .0
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let led_after = leaderships_since_start(&cluster.broker(victim).log(), &hex);
    // Leading again is fine only in a newer epoch (a preferred-leader election).
    let stale: Vec<&(i32, i32)> = led_after
        .iter()
        .filter(|(partition, epoch)| {
            led_before
                .iter()
                .any(|(before, old)| before == partition && epoch <= old)
        })
        .collect();
    assert!(
        stale.is_empty(),
        "broker {victim} led {stale:?} (partition, epoch) again after its restart; before the \
         kill it led {led_before:?}"
    );
}

/// Well inside [`LONG_SESSION_MS`]: the fencing of a killed broker must come before this.
const FENCED_WITHIN: Duration = Duration::from_secs(10);

/// Three voters with [`Timeouts::LongSession`] and an RF 3 topic of one partition (no
/// producer); does `fault` to the partition's leader and polls for up to [`FENCED_WITHIN`]
/// until the live brokers show another leader (or none). Returns the cluster, the leader and
/// whether its leadership went: only fencing takes it away here, and the session is 30 s.
fn leadership_after(topic: &str, fault: fn(&mut Cluster, i32)) -> (Cluster, i32, bool) {
    let mut cluster = Cluster::start_with(3, Timeouts::LongSession);
    cluster.create_topic(topic, 1, 3, &[("min.insync.replicas", "2")]);
    let leader = leader_of(&cluster, topic, 0, &[]);
    fault(&mut cluster, leader);
    let moved = common::eventually(FENCED_WITHIN, || {
        let shown = cluster.partitions(topic);
        let first = shown.and_then(|states| states.first().map(|state| state.leader));
        first.is_some_and(|now| now != leader)
    });
    (cluster, leader, moved)
}

#[test]
fn a_killed_leader_is_fenced_long_before_its_session_times_out() {
    let topic = "probe-killed";
    // Its controller listener refuses connections now: the controller's probe fences it and
    // elects another leader without waiting 30 s.
    let (mut cluster, leader, moved) = leadership_after(topic, Cluster::kill9);
    assert!(
        moved,
        "killed leader {leader} still leads after {FENCED_WITHIN:?} (session \
         {LONG_SESSION_MS} ms):\n{}{}",
        cluster.views(topic),
        cluster.log_tails()
    );
    leader_of(&cluster, topic, 0, &[leader]);
    cluster.stop_all();
}

#[test]
fn a_frozen_leader_keeps_its_session_until_the_timeout() {
    let topic = "probe-frozen";
    // Its kernel still accepts the probe's connect: alive as far as the controller can tell,
    // so it keeps leading (and stays registered) for the session timeout, as in Kafka.
    let (mut cluster, leader, moved) = leadership_after(topic, Cluster::freeze);
    let views = cluster.views(topic);
    cluster.thaw(leader);
    assert!(
        !moved,
        "frozen leader {leader} lost its leadership within {FENCED_WITHIN:?} (session \
         {LONG_SESSION_MS} ms):\n{views}{}",
        cluster.log_tails()
    );
    cluster.stop_all();
}

#[test]
fn a_follower_cut_off_leaves_the_isr_and_rejoins() {
    let topic = "cut-follower";
    let (mut cluster, workload) = start(topic);
    let leader = leader_of(&cluster, topic, 0, &[]);
    let follower = cluster.ids().find(|id| *id != leader).unwrap();
    let cut = match cluster.cut_off(follower) {
        Ok(cut) => cut,
        Err(why) => {
            eprintln!("SKIPPED: cannot cut a broker off with nftables here: {why}");
            return;
        }
    };
    // The rule blocks: a connect to the follower's client port times out.
    let connect = std::net::TcpStream::connect_timeout(
        &cluster.broker(follower).address,
        Duration::from_secs(1),
    );
    assert!(
        matches!(&connect, Err(e) if e.kind() == std::io::ErrorKind::TimedOut),
        "connect to the cut-off broker: {connect:?}"
    );
    let left = common::eventually(CONVERGE, || {
        cluster.partitions(topic).is_some_and(|states| {
            states
                .iter()
                .all(|s| s.replicas.contains(&follower) && !s.isr.contains(&follower))
        })
    });
    assert!(
        left,
        "{follower} stayed in an ISR:\n{}{}",
        cluster.views(topic),
        cluster.log_tails()
    );
    assert!(
        workload.wait_progress(PROGRESS, CONVERGE),
        "no writes while {follower} is cut off ({}):\n{}",
        workload.describe(),
        cluster.log_tails()
    );
    cluster.heal(follower, cut);
    // `finish` asserts it is back in every ISR.
    finish(cluster, workload, topic);
}

/// Two leader changes with no write in between: the middle leader's epoch holds no record, and
/// the leader after it never saw that epoch. When the middle leader comes back as a follower,
/// its newest epoch is that empty one; the new leader answers its fetch with a DivergingEpoch
/// ending at the log end, and the follower must drop the empty epoch (Kafka's
/// `truncateFromEnd` runs even when no byte is cut) to fetch on and rejoin the ISR.
#[test]
fn a_leader_whose_epoch_holds_no_record_rejoins_the_isr_as_a_follower() {
    let topic = "empty-epoch";
    let (mut cluster, workload) = start(topic);
    let (acked, failed) = workload.stop();
    let first = leader_of(&cluster, topic, 0, &[]);
    cluster.kill9(first);
    let second = leader_of(&cluster, topic, 0, &[first]);
    // Nothing is written while `second` leads. `first` returns (two voters of three must
    // run) and follows it: its newest epoch holds records `second` has, so it rejoins.
    cluster.start_again(first);
    assert!(
        cluster.wait_isr_full(topic, CONVERGE).is_some(),
        "{first} did not rejoin under {second}:\n{}",
        cluster.views(topic)
    );
    cluster.kill9(second);
    let third = leader_of(&cluster, topic, 0, &[second]);
    eprintln!("leaders {first} -> {second} -> {third}, {failed} failed deliveries");
    cluster.start_again(second);
    // `settle_and_check` asserts every ISR heals, then checks the logs.
    let outcome = cluster.settle_and_check(topic, &acked);
    assert!(outcome.verdict.is_clean(), "checker: {}", outcome.verdict);
}

// ---------------------------------------------------------------------------------------------
// The checker on synthetic inputs: each verdict is found, and a clean run is clean.

/// One batch of `values` at `base_offset`, tagged with `epoch`.
fn batch(base_offset: i64, epoch: i32, values: &[&str]) -> Bytes {
    let (mut output, mut scratch) = (BytesMut::new(), BytesMut::new());
    let mut builder = BatchBuilder::new(
        &mut output,
        &mut scratch,
        BatchOptions {
            base_offset,
            partition_leader_epoch: epoch,
            ..BatchOptions::default()
        },
    );
    for value in values {
        builder
            .append(&NewRecord {
                timestamp: 1,
                value: Some(value.as_bytes()),
                ..NewRecord::default()
            })
            .unwrap();
    }
    builder.finish().unwrap();
    output.freeze()
}

fn replica(broker: i32, batches: &[Bytes]) -> ReplicaLog {
    ReplicaLog {
        broker,
        batches: batches.to_vec(),
    }
}

fn view(high_watermark: i64, replicas: Vec<ReplicaLog>) -> PartitionView {
    PartitionView {
        partition: 0,
        leader: 1,
        high_watermark,
        replicas,
    }
}

fn acked(offset: i64, value: &str) -> Acked {
    Acked {
        partition: 0,
        offset,
        value: value.as_bytes().to_vec(),
    }
}

#[test]
fn checker_passes_identical_replicas_holding_every_acknowledged_record() {
    let log = [batch(0, 0, &["a", "b"]), batch(2, 1, &["c"])];
    let views = [view(
        3,
        vec![replica(1, &log), replica(2, &log), replica(3, &log)],
    )];
    let verdict = checker::check(&[acked(0, "a"), acked(1, "b"), acked(2, "c")], &views);
    assert!(verdict.is_clean(), "{verdict}");
    assert_eq!(verdict.acknowledged, 3);
}

#[test]
fn checker_finds_a_lost_record() {
    let log = [batch(0, 0, &["a", "b"])];
    let views = [view(2, vec![replica(1, &log), replica(2, &log)])];
    // Acknowledged at 1 but the leader holds "b" there; acknowledged at 2, above the HW.
    let verdict = checker::check(&[acked(1, "x"), acked(2, "c")], &views);
    assert_eq!(verdict.lost.len(), 2, "{verdict}");
    assert_eq!(
        verdict.lost[0],
        (0, 1, "x".to_owned(), Some("b".to_owned()))
    );
    assert_eq!(verdict.lost[1], (0, 2, "c".to_owned(), None));
    // Held by the leader at its offset, but at the HW: not committed, so lost as well.
    let verdict = checker::check(&[acked(1, "b")], &[view(1, vec![replica(1, &log)])]);
    assert_eq!(
        verdict.lost,
        vec![(0, 1, "b".to_owned(), Some("b".to_owned()))]
    );
    assert!(verdict.duplicated.is_empty() && verdict.divergent.is_empty());
}

#[test]
fn checker_finds_a_duplicated_value() {
    let log = [batch(0, 0, &["a", "b"]), batch(2, 0, &["b"])];
    let views = [view(3, vec![replica(1, &log), replica(2, &log)])];
    let verdict = checker::check(&[acked(0, "a")], &views);
    assert_eq!(
        verdict.duplicated,
        vec![
            (0, 1, "b".to_owned(), vec![1, 2]),
            (0, 2, "b".to_owned(), vec![1, 2])
        ]
    );
    assert!(verdict.lost.is_empty() && verdict.divergent.is_empty());
}

#[test]
fn checker_finds_divergent_replicas_below_the_high_watermark_only() {
    let leader = [
        batch(0, 0, &["a"]),
        batch(1, 1, &["b"]),
        batch(2, 1, &["c"]),
    ];
    // The follower kept an old leader's record at 1; at 2 (the HW) differences are allowed.
    let follower = [
        batch(0, 0, &["a"]),
        batch(1, 0, &["z"]),
        batch(2, 0, &["y"]),
    ];
    let views = [view(2, vec![replica(1, &leader), replica(2, &follower)])];
    let verdict = checker::check(&[acked(0, "a"), acked(1, "b")], &views);
    assert_eq!(
        verdict.divergent,
        vec![(
            0,
            1,
            vec![(1, Some("b".to_owned())), (2, Some("z".to_owned()))]
        )]
    );
    assert_eq!(verdict.not_identical.len(), 1, "{verdict}");
    assert!(verdict.lost.is_empty() && verdict.duplicated.is_empty());
}

#[test]
fn checker_finds_replicas_that_hold_the_same_values_in_different_bytes() {
    let leader = [batch(0, 3, &["a", "b"])];
    // Same records, another leader epoch in the batch header: values agree, bytes do not.
    let follower = [batch(0, 2, &["a", "b"])];
    let short = [batch(0, 3, &["a", "b"]), batch(2, 3, &["c"])];
    let views = [view(
        2,
        vec![
            replica(1, &leader),
            replica(2, &follower),
            replica(3, &short),
        ],
    )];
    let verdict = checker::check(&[acked(0, "a"), acked(1, "b")], &views);
    assert!(verdict.divergent.is_empty(), "{verdict}");
    assert_eq!(verdict.not_identical.len(), 1, "{verdict}");
    assert_eq!(verdict.not_identical[0].1, 2);
    assert!(verdict.not_identical[0].2.contains("differs"), "{verdict}");
}

#[test]
fn checker_reads_segment_files_in_offset_order_and_ignores_a_torn_tail() {
    let directory = tempfile::TempDir::new().unwrap();
    let (first, second) = (batch(0, 0, &["a", "b"]), batch(2, 0, &["c"]));
    std::fs::write(directory.path().join(format!("{:020}.log", 2)), {
        let mut bytes = second.to_vec();
        bytes.extend_from_slice(&first[..20]); // a torn batch after the last whole one
        bytes
    })
    .unwrap();
    std::fs::write(directory.path().join(format!("{:020}.log", 0)), &first).unwrap();
    std::fs::write(directory.path().join(format!("{:020}.index", 0)), [1u8; 8]).unwrap();
    let log = checker::read_replica_log(7, directory.path()).unwrap();
    assert_eq!(log.broker, 7);
    assert_eq!(log.batches, vec![first, second]);
}
