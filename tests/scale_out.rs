//! Scale-out against real broker processes (issue 18): a fourth broker joins a three-voter
//! cluster as an observer and gets nothing until asked; AlterPartitionReassignments moves half
//! of the partitions onto it while an idempotent acks=all producer runs; every moved partition
//! ends with broker 4 in its replicas and ISR, the removed replicas' directories are deleted,
//! a preferred election makes broker 4 lead, ListPartitionReassignments shows nothing left in
//! flight; broker 1 is drained (every replica moved off it) and stopped with no partition
//! offline; the checker finds no acknowledged record lost or duplicated. A reassignment whose
//! new replica is held back (SIGSTOP) survives a kill -9 of the active controller and
//! completes under the next one (started and verified with `ringbroker partition reassign`).
//! UnregisterBroker forgets a stopped broker. A topic deleted while a broker was down leaves
//! that broker's disk when it starts again; the other topics' data stays. A topic deleted and
//! created again under its name while a broker was down never hands that broker's old data to
//! the new topic (KIP-516 topic ids in `partition.metadata`). A completed reassignment that
//! drops a replica raises the leader epoch although the leader stays (Kafka's bump): a fetch in
//! the old epoch, the dropped replica's included, is answered FENCED_LEADER_EPOCH.
//!
//! Timeouts are scaled down by flags (`common::cluster`); every wait is a bounded poll of what
//! clients see.
mod common;

use common::cluster::{CONVERGE, Cluster, PartitionState, Workload, metadata};
use common::eventually;
use ringbroker::protocol::messages::alter_partition_reassignments::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, ReassignablePartition,
    ReassignableTopic,
};
use ringbroker::protocol::messages::create_topics::{
    CreatableReplicaAssignment, CreatableTopic, CreateTopicsRequest, CreateTopicsResponse,
};
use ringbroker::protocol::messages::delete_topics::{DeleteTopicsRequest, DeleteTopicsResponse};
use ringbroker::protocol::messages::elect_leaders::{
    ELECTION_TYPE_PREFERRED, ElectLeadersRequest, ElectLeadersResponse, ElectLeadersTopicPartitions,
};
use ringbroker::protocol::messages::fetch::{
    FetchPartition, FetchRequest, FetchResponse, FetchTopic,
};
use ringbroker::protocol::messages::list_partition_reassignments::{
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};
use ringbroker::protocol::messages::unregister_broker::{
    UnregisterBrokerRequest, UnregisterBrokerResponse,
};
use ringbroker::protocol::{ErrorCode, StrBytes};
use std::collections::BTreeMap;

const TOPIC: &str = "moving";
const PARTITIONS: i32 = 6;

/// AlterPartitionReassignments v0 through broker `via`: (partition, target or `None` to
/// cancel) → each partition's code.
fn reassign(
    cluster: &Cluster,
    via: i32,
    moves: &BTreeMap<i32, Option<Vec<i32>>>,
) -> BTreeMap<i32, ErrorCode> {
    let request = AlterPartitionReassignmentsRequest {
        timeout_ms: 10_000,
        allow_replication_factor_change: true,
        topics: vec![ReassignableTopic {
            name: StrBytes::from(TOPIC),
            partitions: moves
                .iter()
                .map(|(partition, target)| ReassignablePartition {
                    partition_index: *partition,
                    replicas: target.clone(),
                })
                .collect(),
        }],
    };
    let response: AlterPartitionReassignmentsResponse =
        cluster.broker(via).client().try_call(0, &request).unwrap();
    assert_eq!(response.error_code, ErrorCode::None);
    response
        .responses
        .iter()
        .flat_map(|topic| &topic.partitions)
        .map(|partition| (partition.partition_index, partition.error_code))
        .collect()
}

/// The partitions broker `via` lists as being reassigned: partition → (adding, removing).
fn in_flight(cluster: &Cluster, via: i32) -> BTreeMap<i32, (Vec<i32>, Vec<i32>)> {
    let request = ListPartitionReassignmentsRequest {
        timeout_ms: 10_000,
        topics: None,
    };
    let response: ListPartitionReassignmentsResponse =
        cluster.broker(via).client().try_call(0, &request).unwrap();
    assert_eq!(response.error_code, ErrorCode::None);
    response
        .topics
        .iter()
        .flat_map(|topic| &topic.partitions)
        .map(|p| {
            let lists = (p.adding_replicas.clone(), p.removing_replicas.clone());
            (p.partition_index, lists)
        })
        .collect()
}

/// Waits until every live broker shows each partition of `targets` with exactly its target
/// replicas, all in sync, led by a live broker, and nothing in flight.
fn wait_moved(cluster: &Cluster, targets: &BTreeMap<i32, Option<Vec<i32>>>) -> Vec<PartitionState> {
    let mut last = Vec::new();
    let moved = eventually(CONVERGE, || {
        let live = cluster.live();
        live.iter().all(|id| {
            let Some(states) = cluster.partitions_seen_by(*id, TOPIC) else {
                return false;
            };
            let done = targets.iter().all(|(partition, target)| {
                states.iter().any(|state| {
                    state.partition == *partition
                        && Some(&state.replicas) == target.as_ref()
                        && state.isr_is_full()
                        && live.contains(&state.leader)
                })
            });
            last = states;
            done && in_flight(cluster, *id).is_empty()
        })
    });
    assert!(
        moved,
        "not moved to {targets:?}; last seen {last:?}\n{}",
        cluster.log_tails()
    );
    last
}

fn preferred_election(cluster: &Cluster, via: i32, partitions: Vec<i32>) -> ElectLeadersResponse {
    let request = ElectLeadersRequest {
        election_type: ELECTION_TYPE_PREFERRED,
        topic_partitions: Some(vec![ElectLeadersTopicPartitions {
            topic: StrBytes::from(TOPIC),
            partitions,
        }]),
        timeout_ms: 10_000,
    };
    cluster.broker(via).client().try_call(2, &request).unwrap()
}

/// `ringbroker partition reassign MODE PLAN` with `targets` written as Kafka's plan JSON,
/// through broker `via`; asserts it exits 0 and returns its report.
fn reassign_with_cli(
    cluster: &Cluster,
    via: i32,
    mode: &str,
    targets: &BTreeMap<i32, Option<Vec<i32>>>,
) -> String {
    let partitions: Vec<String> = targets
        .iter()
        .map(|(partition, target)| {
            let replicas = target.as_ref().unwrap();
            format!(r#"{{"topic":"{TOPIC}","partition":{partition},"replicas":{replicas:?}}}"#)
        })
        .collect();
    let plan = format!(r#"{{"version":1,"partitions":[{}]}}"#, partitions.join(","));
    let file = cluster.broker(via).data_dir().join("../plan.json");
    std::fs::write(&file, plan).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ringbroker"))
        .args(["partition", "reassign", mode, file.to_str().unwrap()])
        .args(["--bootstrap", &cluster.broker(via).address.to_string()])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{mode}: {report}");
    report
}

/// Moves the even partitions onto broker `new`: it replaces each one's last replica and is put
/// first. Waits until they moved and the removed replicas' directories are gone; returns the
/// moved partitions.
fn move_half_onto(cluster: &Cluster, before: &[PartitionState], new: i32) -> Vec<i32> {
    // Half of the partitions: broker 4 replaces each one's last replica and is put first.
    let mut targets = BTreeMap::new();
    let mut removed = BTreeMap::new();
    for state in before.iter().filter(|state| state.partition % 2 == 0) {
        let mut target = vec![new];
        target.extend(&state.replicas[..state.replicas.len() - 1]);
        removed.insert(state.partition, *state.replicas.last().unwrap());
        targets.insert(state.partition, Some(target));
    }
    let codes = reassign(cluster, 2, &targets);
    assert!(
        codes.values().all(|code| *code == ErrorCode::None),
        "{codes:?}"
    );
    let after = wait_moved(cluster, &targets);
    for (partition, old) in &removed {
        let directory = cluster.partition_dir(*old, TOPIC, *partition);
        let gone = eventually(CONVERGE, || !directory.exists());
        assert!(gone, "{} is still there", directory.display());
        assert!(cluster.partition_dir(new, TOPIC, *partition).exists());
    }
    assert!(
        after
            .iter()
            .all(|state| state.partition % 2 == 0 || !state.replicas.contains(&new))
    );
    targets.keys().copied().collect()
}

/// Moves every replica off broker `leaving` and stops it: no partition goes offline.
fn drain_and_stop(cluster: &mut Cluster, leaving: i32) {
    // `ringbroker cluster drain` plans the moves, executes them and waits for them.
    let via = cluster.broker(4).address.to_string();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ringbroker"))
        .args([
            "cluster",
            "drain",
            &leaving.to_string(),
            "--bootstrap",
            &via,
        ])
        .args(["--timeout-ms", &CONVERGE.as_millis().to_string()])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{report}\n{}", cluster.log_tails());
    assert!(report.contains("holds no replica"), "{report}");
    let states = cluster.partitions(TOPIC).unwrap();
    let drain: BTreeMap<i32, Option<Vec<i32>>> = states
        .iter()
        .map(|state| (state.partition, Some(state.replicas.clone())))
        .collect();
    let drained = wait_moved(cluster, &drain);
    assert!(
        drained
            .iter()
            .all(|state| !state.replicas.contains(&leaving)),
        "{drained:?}"
    );
    cluster.stop(leaving);
    let online = eventually(CONVERGE, || {
        cluster.partitions(TOPIC).is_some_and(|states| {
            states
                .iter()
                .all(|s| s.leader != leaving && s.leader > 0 && s.isr_is_full())
        })
    });
    assert!(
        online,
        "a partition went offline:\n{}",
        cluster.views(TOPIC)
    );
}

/// A workload on `topic` that has 200 records acknowledged.
fn running_workload(cluster: &Cluster, topic: &str) -> Workload {
    let workload = Workload::start(&cluster.bootstrap(), topic);
    assert!(
        workload.wait_progress(200, CONVERGE),
        "{}",
        workload.describe()
    );
    workload
}

#[test]
fn a_new_broker_takes_half_the_partitions_and_a_drained_broker_stops_with_nothing_offline() {
    let mut cluster = Cluster::start(3);
    cluster.create_topic(TOPIC, PARTITIONS, 3, &[("min.insync.replicas", "2")]);
    let workload = running_workload(&cluster, TOPIC);

    let new = cluster.add_observer();
    assert_eq!(new, 4);
    let before = cluster.partitions_seen_by(new, TOPIC).unwrap();
    assert!(
        before.iter().all(|state| !state.replicas.contains(&new)),
        "nothing moves to a new broker until asked: {before:?}"
    );
    assert!(!cluster.partition_dir(new, TOPIC, 0).exists());

    let moved = move_half_onto(&cluster, &before, new);
    assert!(
        workload.wait_progress(200, CONVERGE),
        "{}",
        workload.describe()
    );

    // Broker 4 is each moved partition's preferred replica: an election makes it lead.
    let elected = preferred_election(&cluster, 3, moved.clone());
    let results = &elected.replica_election_results[0].partition_result;
    assert!(
        results
            .iter()
            .all(|r| matches!(r.error_code, ErrorCode::None | ErrorCode::ElectionNotNeeded)),
        "{results:?}"
    );
    let leads = eventually(CONVERGE, || {
        cluster.partitions(TOPIC).is_some_and(|states| {
            states
                .iter()
                .filter(|state| moved.contains(&state.partition))
                .all(|state| state.leader == new)
        })
    });
    assert!(leads, "broker 4 does not lead:\n{}", cluster.views(TOPIC));

    drain_and_stop(&mut cluster, 1);
    assert!(
        workload.wait_progress(500, CONVERGE),
        "{}",
        workload.describe()
    );

    // A broker that left for good is forgotten.
    let unregister = |id| -> UnregisterBrokerResponse {
        let request = UnregisterBrokerRequest { broker_id: id };
        cluster.broker(2).client().try_call(0, &request).unwrap()
    };
    assert_eq!(unregister(1).error_code, ErrorCode::None);
    assert_eq!(unregister(1).error_code, ErrorCode::BrokerIdNotRegistered);
    let forgotten = eventually(CONVERGE, || {
        metadata(cluster.broker(3).address, None)
            .is_ok_and(|response| response.brokers.iter().all(|b| b.node_id != 1))
    });
    assert!(forgotten, "broker 1 still listed");

    let described = workload.describe();
    let (acked, failed) = workload.stop();
    assert_eq!(failed, 0, "deliveries failed: {described}");
    let outcome = cluster.settle_and_check(TOPIC, &acked);
    assert!(outcome.verdict.is_clean(), "{:?}", outcome.verdict);
}

#[test]
fn a_reassignment_interrupted_by_killing_the_controller_completes_after_failover() {
    let mut cluster = Cluster::start(3);
    cluster.create_topic(TOPIC, 2, 2, &[]);
    let new = cluster.add_observer();
    // Held back, broker 4 cannot catch up: the reassignment stays in flight.
    cluster.freeze(new);
    let states = cluster.partitions(TOPIC).unwrap();
    let targets: BTreeMap<i32, Option<Vec<i32>>> = states
        .iter()
        .map(|state| (state.partition, Some(vec![new, state.replicas[0]])))
        .collect();
    let via = cluster.live()[0];
    let report = reassign_with_cli(&cluster, via, "--execute", &targets);
    assert_eq!(
        report.matches("Successfully started").count(),
        2,
        "{report}"
    );
    let listed = in_flight(&cluster, via);
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(
        listed.values().all(|(adding, _)| adding == &[new]),
        "{listed:?}"
    );

    let controller = metadata(cluster.broker(via).address, None)
        .unwrap()
        .controller_id;
    assert!((1..=3).contains(&controller), "controller {controller}");
    cluster.kill9(controller);
    let survivor = cluster.live()[0];
    let failed_over = eventually(CONVERGE, || {
        metadata(cluster.broker(survivor).address, None)
            .is_ok_and(|r| r.controller_id > 0 && r.controller_id != controller)
    });
    assert!(failed_over, "no new controller:\n{}", cluster.log_tails());
    assert_eq!(
        in_flight(&cluster, survivor).len(),
        2,
        "the log kept the reassignment"
    );

    cluster.thaw(new);
    // The killed broker may have been a target replica: it comes back for the ISR.
    cluster.start_again(controller);
    wait_moved(&cluster, &targets);
    let report = reassign_with_cli(&cluster, survivor, "--verify", &targets);
    assert_eq!(report.matches("is completed.").count(), 2, "{report}");
    // The removed replicas' data is deleted, also by the restarted broker (at start-up, when
    // it was down as the move completed).
    for state in &states {
        for old in state.replicas.iter().filter(|r| **r != state.replicas[0]) {
            let directory = cluster.partition_dir(*old, TOPIC, state.partition);
            let gone = eventually(CONVERGE, || !directory.exists());
            assert!(gone, "{} is still there", directory.display());
        }
    }
}

#[test]
fn a_topic_deleted_while_a_broker_was_down_leaves_its_disk_when_it_starts_again() {
    const KEPT: &str = "kept";
    const DOOMED: &str = "doomed";
    let mut cluster = Cluster::start(3);
    cluster.create_topic(KEPT, 4, 3, &[]);
    cluster.create_topic(DOOMED, 4, 3, &[]);
    let workload = running_workload(&cluster, KEPT);
    let described = workload.describe();
    let (acked, failed) = workload.stop();
    assert_eq!(failed, 0, "deliveries failed: {described}");
    assert!((0..4).all(|p| cluster.partition_dir(3, DOOMED, p).exists()));

    cluster.kill9(3);
    let request = DeleteTopicsRequest {
        topic_names: vec![StrBytes::from(DOOMED)],
        timeout_ms: 10_000,
        ..DeleteTopicsRequest::default()
    };
    let deleted: DeleteTopicsResponse = cluster.broker(1).client().try_call(4, &request).unwrap();
    assert_eq!(deleted.responses[0].error_code, ErrorCode::None);
    let live_gone = eventually(CONVERGE, || {
        (1..=2).all(|id| (0..4).all(|p| !cluster.partition_dir(id, DOOMED, p).exists()))
    });
    assert!(live_gone, "the live brokers keep {DOOMED}");
    assert!(
        (0..4).all(|p| cluster.partition_dir(3, DOOMED, p).exists()),
        "broker 3 was down"
    );

    cluster.start_again(3);
    for partition in 0..4 {
        let directory = cluster.partition_dir(3, DOOMED, partition);
        let gone = eventually(CONVERGE, || !directory.exists());
        assert!(gone, "{} is still there", directory.display());
        assert!(cluster.partition_dir(3, KEPT, partition).exists());
    }
    let leftovers: Vec<_> = std::fs::read_dir(cluster.broker(3).data_dir())
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with(DOOMED))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(
        cluster.wait_isr_full(KEPT, CONVERGE).is_some(),
        "broker 3 does not rejoin {KEPT}:\n{}",
        cluster.views(KEPT)
    );
    let outcome = cluster.settle_and_check(KEPT, &acked);
    assert!(outcome.verdict.is_clean(), "{:?}", outcome.verdict);
}

/// CreateTopics with one partition placed on `replicas` (a manual assignment may name a
/// broker that is down), through broker `via`.
fn create_placed(cluster: &Cluster, via: i32, topic: &str, replicas: Vec<i32>) -> ErrorCode {
    let request = CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: StrBytes::from(topic),
            num_partitions: -1,
            replication_factor: -1,
            assignments: vec![CreatableReplicaAssignment {
                partition_index: 0,
                broker_ids: replicas,
            }],
            ..CreatableTopic::default()
        }],
        timeout_ms: 10_000,
        validate_only: false,
    };
    let answer: CreateTopicsResponse = cluster.broker(via).client().try_call(5, &request).unwrap();
    answer.topics[0].error_code
}

/// The segment files of one partition directory, by name, with their bytes.
fn segment_bytes(directory: &std::path::Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(directory)
        .unwrap()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let name = entry.file_name().into_string().ok()?;
            name.ends_with(".log")
                .then(|| (name, std::fs::read(entry.path()).unwrap_or_default()))
        })
        .collect()
}

/// Runs the workload on `topic` until 200 + `more` records are acknowledged, then stops it;
/// asserts none failed.
fn produce_and_stop(cluster: &Cluster, topic: &str, more: usize) {
    let workload = running_workload(cluster, topic);
    let progressed = workload.wait_progress(more, CONVERGE);
    assert!(progressed, "{}", workload.describe());
    let (_, failed) = workload.stop();
    assert_eq!(failed, 0);
}

/// DeleteTopics of `topic` through broker `via`; asserts it succeeds.
fn delete_topic(cluster: &Cluster, via: i32, topic: &str) {
    let request = DeleteTopicsRequest {
        topic_names: vec![StrBytes::from(topic)],
        timeout_ms: 10_000,
        ..DeleteTopicsRequest::default()
    };
    let deleted: DeleteTopicsResponse = cluster.broker(via).client().try_call(4, &request).unwrap();
    assert_eq!(deleted.responses[0].error_code, ErrorCode::None);
}

/// A preferred election of `topic`-0 through broker 1 (its answer is not needed: callers
/// wait for what it leads to).
fn elect_preferred(cluster: &Cluster, topic: &str) {
    let request = ElectLeadersRequest {
        election_type: ELECTION_TYPE_PREFERRED,
        topic_partitions: Some(vec![ElectLeadersTopicPartitions {
            topic: StrBytes::from(topic),
            partitions: vec![0],
        }]),
        timeout_ms: 10_000,
    };
    let _: ElectLeadersResponse = cluster.broker(1).client().try_call(2, &request).unwrap();
}

#[test]
fn a_topic_created_again_under_its_name_while_a_broker_was_down_gets_none_of_its_old_data() {
    use ringbroker::storage::partition_metadata;
    const AGAIN: &str = "again";
    let mut cluster = Cluster::start(3);
    // Broker 3 first: the preferred leader, once it is back.
    assert_eq!(
        create_placed(&cluster, 1, AGAIN, vec![3, 1]),
        ErrorCode::None
    );
    produce_and_stop(&cluster, AGAIN, 3000);
    assert!(cluster.wait_isr_full(AGAIN, CONVERGE).is_some());
    let old_end = eventually(CONVERGE, || cluster.high_watermark(3, AGAIN, 0).is_some())
        .then(|| cluster.high_watermark(3, AGAIN, 0).unwrap())
        .unwrap();
    let old_directory = cluster.partition_dir(3, AGAIN, 0);
    let old_id = partition_metadata::read_blocking(&old_directory)
        .unwrap()
        .unwrap();

    cluster.kill9(3);
    delete_topic(&cluster, 1, AGAIN);
    let gone = eventually(CONVERGE, || !cluster.partition_dir(1, AGAIN, 0).exists());
    assert!(gone, "broker 1 keeps the deleted topic");
    let created = eventually(CONVERGE, || {
        create_placed(&cluster, 1, AGAIN, vec![3, 1]) == ErrorCode::None
    });
    assert!(created, "{AGAIN} not created again");
    produce_and_stop(&cluster, AGAIN, 0);
    let new_end = cluster.high_watermark(1, AGAIN, 0).unwrap();
    assert!(
        new_end < old_end,
        "the new topic holds fewer records: {new_end} vs {old_end}"
    );
    assert!(
        old_directory.exists(),
        "broker 3 was down: its old directory is there"
    );

    cluster.start_again(3);
    assert!(
        cluster.wait_isr_full(AGAIN, CONVERGE).is_some(),
        "broker 3 does not rejoin {AGAIN}:\n{}",
        cluster.views(AGAIN)
    );
    let new_id = partition_metadata::read_blocking(&cluster.partition_dir(1, AGAIN, 0))
        .unwrap()
        .unwrap();
    assert_ne!(new_id, old_id);
    let on_three = partition_metadata::read_blocking(&old_directory).unwrap();
    assert_eq!(
        on_three,
        Some(new_id),
        "broker 3's directory is the new topic's"
    );
    // Broker 3 leads and serves exactly the new topic's records.
    elect_preferred(&cluster, AGAIN);
    let leads = eventually(CONVERGE, || {
        cluster.high_watermark(3, AGAIN, 0) == Some(new_end)
    });
    assert!(
        leads,
        "broker 3 does not serve {new_end} records: {:?}\n{}",
        cluster.list_latest(3, AGAIN, 0),
        cluster.views(AGAIN)
    );
    // Replicas are byte-identical: none of the old topic's bytes are left on broker 3.
    let same = eventually(CONVERGE, || {
        segment_bytes(&old_directory) == segment_bytes(&cluster.partition_dir(1, AGAIN, 0))
    });
    assert!(same, "broker 3's segments differ from broker 1's");
}

/// Fetch v12 of `TOPIC`-0 at offset 0 in `leader_epoch`, as `replica_id` (-1: a consumer),
/// sent to broker `to`: the partition's error code.
fn fetch_in_epoch(cluster: &Cluster, to: i32, replica_id: i32, leader_epoch: i32) -> ErrorCode {
    let request = FetchRequest {
        replica_id,
        max_wait_ms: 0,
        min_bytes: 0,
        topics: vec![FetchTopic {
            topic: StrBytes::from(TOPIC),
            partitions: vec![FetchPartition {
                partition: 0,
                current_leader_epoch: leader_epoch,
                fetch_offset: 0,
                partition_max_bytes: 1 << 20,
                ..FetchPartition::default()
            }],
            ..FetchTopic::default()
        }],
        ..FetchRequest::default()
    };
    let response: FetchResponse = cluster.broker(to).client().try_call(12, &request).unwrap();
    response.responses[0].partitions[0].error_code
}

#[test]
fn a_completed_reassignment_that_drops_a_replica_fences_the_old_leader_epoch() {
    let cluster = Cluster::start(3);
    assert_eq!(
        create_placed(&cluster, 1, TOPIC, vec![1, 2, 3]),
        ErrorCode::None
    );
    let before = cluster.wait_isr_full(TOPIC, CONVERGE).unwrap();
    let (leader, epoch) = (before[0].leader, before[0].leader_epoch);
    assert_eq!(leader, 1);
    assert_eq!(fetch_in_epoch(&cluster, 1, -1, epoch), ErrorCode::None);
    let moves = BTreeMap::from([(0, Some(vec![1, 2]))]);
    assert_eq!(reassign(&cluster, 1, &moves)[&0], ErrorCode::None);
    let mut last = None;
    let completed = eventually(CONVERGE, || {
        last = cluster.partitions(TOPIC);
        last.as_ref()
            .is_some_and(|states| states[0].replicas == [1, 2] && states[0].isr_is_full())
    });
    assert!(completed, "not completed: {last:?}");
    let after = last.unwrap();
    assert_eq!(
        (after[0].leader, after[0].leader_epoch),
        (1, epoch + 1),
        "the leader stays, in a new epoch (Kafka's reassignment bump)"
    );
    // Every broker's copy says so, and the leader serves in the new epoch only.
    let everywhere = eventually(CONVERGE, || {
        (1..=2).all(|id| {
            cluster
                .partitions_seen_by(id, TOPIC)
                .is_some_and(|states| states[0].leader_epoch == epoch + 1)
        })
    });
    assert!(everywhere, "{}", cluster.views(TOPIC));
    let served = eventually(CONVERGE, || {
        fetch_in_epoch(&cluster, 1, -1, epoch + 1) == ErrorCode::None
    });
    assert!(served, "the leader does not serve the new epoch");
    assert_eq!(
        fetch_in_epoch(&cluster, 1, -1, epoch),
        ErrorCode::FencedLeaderEpoch
    );
    assert_eq!(
        fetch_in_epoch(&cluster, 1, 3, epoch),
        ErrorCode::FencedLeaderEpoch,
        "the dropped replica fetching in the old epoch"
    );
    let directory = cluster.partition_dir(3, TOPIC, 0);
    let gone = eventually(CONVERGE, || !directory.exists());
    assert!(gone, "{} is still there", directory.display());
}
