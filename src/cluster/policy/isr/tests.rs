//! AlterPartition refusals and results, elections and rebalancing (`policy::isr`).
use super::*;
use crate::cluster::metadata::{BrokerRegistration, MetadataRecord};
use crate::protocol::ErrorCode;

const TOPIC: Uuid = Uuid([3; 16]);

/// Brokers 1..=count registered and unfenced (epoch = their registration offset), then a topic
/// with one partition per replica list, ISR = all, led by the first.
fn cluster(count: i32, lists: &[&[i32]], min_isr: i32) -> ClusterMetadata {
    let mut state = ClusterMetadata::empty("c".into());
    for node_id in 1..=count {
        let broker_epoch = i64::try_from(state.version).unwrap();
        let registration = BrokerRegistration {
            node_id,
            incarnation: Uuid([1; 16]),
            broker_epoch,
            listeners: Vec::new(),
            shard_count: 1,
            rack: None,
            fenced: true,
        };
        state = state
            .apply_all(&[
                MetadataRecord::RegisterBroker(registration),
                MetadataRecord::UnfenceBroker {
                    node_id,
                    broker_epoch,
                },
            ])
            .unwrap();
    }
    let configs = BTreeMap::from([("min.insync.replicas".to_owned(), min_isr.to_string())]);
    let mut records = vec![MetadataRecord::TopicCreated {
        topic_id: TOPIC,
        name: "t".into(),
        partition_count: i32::try_from(lists.len()).unwrap(),
        configs,
    }];
    for (partition, list) in (0..).zip(lists) {
        records.push(MetadataRecord::Partition {
            topic_id: TOPIC,
            partition,
            state: PartitionState::placed(list.to_vec()),
        });
    }
    state.apply_all(&records).unwrap()
}

fn nobody(_: i32) -> bool {
    false
}

fn live(state: &ClusterMetadata) -> Liveness<'_> {
    Liveness {
        metadata: state,
        shutting_down: &nobody,
    }
}

fn policy(state: &ClusterMetadata) -> ElectionPolicy {
    let topic = state.topic_by_id(TOPIC).unwrap();
    ElectionPolicy::for_topic(state, topic, ElectionPolicy::default())
}

/// A proposal by the current leader of partition 0, at its current epochs.
fn proposal(state: &ClusterMetadata, new_isr: &[i32]) -> AlterPartitionRequest {
    let current = state.partition(TOPIC, 0).unwrap();
    AlterPartitionRequest {
        topic_id: TOPIC,
        partition: 0,
        leader_id: current.leader,
        leader_broker_epoch: state.broker(current.leader).unwrap().broker_epoch,
        leader_epoch: current.leader_epoch,
        partition_epoch: current.partition_epoch,
        new_isr: new_isr.to_vec(),
    }
}

fn refusal(state: &ClusterMetadata, request: &AlterPartitionRequest) -> ErrorCode {
    alter_partition(&live(state), request, policy(state))
        .unwrap_err()
        .error_code()
}

fn altered(state: &ClusterMetadata, request: &AlterPartitionRequest) -> ClusterMetadata {
    let delta = alter_partition(&live(state), request, policy(state))
        .unwrap()
        .expect("a change");
    state
        .apply(&MetadataRecord::PartitionChange {
            topic_id: TOPIC,
            partition: 0,
            delta,
        })
        .unwrap()
}

#[test]
fn each_refusal_has_kafkas_code() {
    let state = cluster(4, &[&[1, 2, 3]], 1);
    let good = proposal(&state, &[1, 2]);
    let mut unknown = good.clone();
    unknown.partition = 1;
    assert_eq!(
        refusal(&state, &unknown),
        ErrorCode::UnknownTopicOrPartition
    );
    unknown = AlterPartitionRequest {
        topic_id: Uuid([8; 16]),
        ..good.clone()
    };
    assert_eq!(
        refusal(&state, &unknown),
        ErrorCode::UnknownTopicOrPartition
    );
    let stale_broker = AlterPartitionRequest {
        leader_broker_epoch: good.leader_broker_epoch - 1,
        ..good.clone()
    };
    assert_eq!(refusal(&state, &stale_broker), ErrorCode::StaleBrokerEpoch);
    let unregistered = AlterPartitionRequest {
        leader_id: 9,
        ..good.clone()
    };
    assert_eq!(refusal(&state, &unregistered), ErrorCode::StaleBrokerEpoch);
    let not_leader = AlterPartitionRequest {
        leader_id: 2,
        leader_broker_epoch: state.broker(2).unwrap().broker_epoch,
        ..good.clone()
    };
    assert_eq!(refusal(&state, &not_leader), ErrorCode::InvalidRequest);
    let ahead = AlterPartitionRequest {
        leader_epoch: 1,
        ..good.clone()
    };
    assert_eq!(refusal(&state, &ahead), ErrorCode::NotController);
    for bad_isr in [&[1, 4][..], &[1, 1], &[2, 3]] {
        let request = AlterPartitionRequest {
            new_isr: bad_isr.to_vec(),
            ..good.clone()
        };
        assert_eq!(
            refusal(&state, &request),
            ErrorCode::InvalidRequest,
            "{bad_isr:?}"
        );
    }
    // After one change, the old epochs are stale.
    let shrunk = altered(&state, &good);
    assert_eq!(refusal(&shrunk, &good), ErrorCode::InvalidUpdateVersion);
    let moved = shrunk
        .apply(&MetadataRecord::PartitionChange {
            topic_id: TOPIC,
            partition: 0,
            delta: PartitionDelta {
                leader: Some(2),
                leader_epoch: 1,
                partition_epoch: 2,
                ..PartitionDelta::default()
            },
        })
        .unwrap();
    assert_eq!(refusal(&moved, &good), ErrorCode::FencedLeaderEpoch);
}

#[test]
fn fenced_shutting_down_or_unregistered_members_are_ineligible() {
    let state = cluster(3, &[&[1, 2, 3]], 1);
    let shrunk = altered(&state, &proposal(&state, &[1]));
    let fenced = shrunk
        .apply(&MetadataRecord::FenceBroker {
            node_id: 3,
            broker_epoch: shrunk.broker(3).unwrap().broker_epoch,
        })
        .unwrap();
    let request = proposal(&fenced, &[1, 3]);
    assert_eq!(refusal(&fenced, &request), ErrorCode::IneligibleReplica);
    let request = proposal(&shrunk, &[1, 2]);
    let two_stops = |node| node == 2;
    let stopping = Liveness {
        metadata: &shrunk,
        shutting_down: &two_stops,
    };
    let error = alter_partition(&stopping, &request, policy(&shrunk)).unwrap_err();
    assert_eq!(error.error_code(), ErrorCode::IneligibleReplica);
    assert!(error.to_string().contains("shutting down"), "{error}");
    let gone = shrunk
        .apply(&MetadataRecord::UnregisterBroker {
            node_id: 2,
            broker_epoch: shrunk.broker(2).unwrap().broker_epoch,
        })
        .unwrap();
    assert_eq!(
        refusal(&gone, &proposal(&gone, &[1, 2])),
        ErrorCode::IneligibleReplica
    );
    // The same ISR back is accepted while 2 is live.
    assert!(
        altered(&shrunk, &proposal(&shrunk, &[2, 1]))
            .partition(TOPIC, 0)
            .unwrap()
            .isr
            == [1, 2]
    );
}

#[test]
fn a_shrink_below_min_isr_moves_leavers_to_the_elr_and_rejoining_leaves_it() {
    let state = cluster(3, &[&[1, 2, 3]], 2);
    let at_min = altered(&state, &proposal(&state, &[1, 2]));
    let partition = at_min.partition(TOPIC, 0).unwrap();
    assert_eq!(
        (partition.isr.clone(), partition.elr.clone()),
        (vec![1, 2], vec![])
    );
    assert_eq!((partition.leader_epoch, partition.partition_epoch), (0, 1));
    let below = altered(&at_min, &proposal(&at_min, &[1]));
    let partition = below.partition(TOPIC, 0).unwrap();
    assert_eq!(
        (partition.isr.clone(), partition.elr.clone()),
        (vec![1], vec![2])
    );
    assert_eq!(partition.leader, 1, "the leader stays");
    // 3 comes back: still below min? No: ISR [1, 3] is at min, so the ELR is cleared.
    let back = altered(&below, &proposal(&below, &[3, 1]));
    let partition = back.partition(TOPIC, 0).unwrap();
    assert_eq!(
        (partition.isr.clone(), partition.elr.clone()),
        (vec![1, 3], vec![])
    );
    // Below min with min 3: 2 rejoining leaves the ELR, 3 leaving joins it.
    let state = cluster(3, &[&[1, 2, 3]], 3);
    let one = altered(&state, &proposal(&state, &[1]));
    assert_eq!(one.partition(TOPIC, 0).unwrap().elr, vec![2, 3]);
    let two = altered(&one, &proposal(&one, &[1, 2]));
    let partition = two.partition(TOPIC, 0).unwrap();
    assert_eq!(
        (partition.isr.clone(), partition.elr.clone()),
        (vec![1, 2], vec![3])
    );
}

#[test]
fn a_proposal_equal_to_the_isr_changes_nothing() {
    let state = cluster(3, &[&[1, 2, 3]], 1);
    let same = proposal(&state, &[3, 2, 1]);
    assert_eq!(
        alter_partition(&live(&state), &same, policy(&state)),
        Ok(None)
    );
}

#[test]
fn preferred_elections_move_leadership_back_only_to_a_live_in_sync_preferred_replica() {
    let state = cluster(3, &[&[1, 2, 3]], 1);
    let partition = state.partition(TOPIC, 0).unwrap();
    assert!(!election_needed(partition, ElectionType::Preferred));
    assert_eq!(elect_preferred(partition, &live(&state)), None);
    let moved = state
        .apply(&MetadataRecord::PartitionChange {
            topic_id: TOPIC,
            partition: 0,
            delta: PartitionDelta {
                leader: Some(2),
                leader_epoch: 1,
                partition_epoch: 1,
                ..PartitionDelta::default()
            },
        })
        .unwrap();
    let partition = moved.partition(TOPIC, 0).unwrap();
    assert!(election_needed(partition, ElectionType::Preferred));
    assert!(!election_needed(partition, ElectionType::Unclean));
    let delta = elect_preferred(partition, &live(&moved)).unwrap();
    assert_eq!(
        (delta.leader, delta.leader_epoch, delta.partition_epoch),
        (Some(1), 2, 2)
    );
    let one_stops = |node| node == 1;
    let stopping = Liveness {
        metadata: &moved,
        shutting_down: &one_stops,
    };
    assert_eq!(elect_preferred(partition, &stopping), None, "not live");
    let out_of_sync = altered(
        &moved,
        &AlterPartitionRequest {
            leader_broker_epoch: moved.broker(2).unwrap().broker_epoch,
            ..proposal(&moved, &[2, 3])
        },
    );
    let partition = out_of_sync.partition(TOPIC, 0).unwrap();
    assert_eq!(
        elect_preferred(partition, &live(&out_of_sync)),
        None,
        "not in the ISR"
    );
}

#[test]
fn unclean_elections_pick_a_live_replica_only_for_a_leaderless_partition() {
    let mut state = cluster(3, &[&[1, 2, 3]], 1);
    state = altered(&state, &proposal(&state, &[1]));
    let fenced = state
        .apply(&MetadataRecord::FenceBroker {
            node_id: 1,
            broker_epoch: state.broker(1).unwrap().broker_epoch,
        })
        .unwrap();
    let partition = fenced.partition(TOPIC, 0).unwrap();
    let delta = election::remove_replica(partition, 1, &|node| node != 1, policy(&fenced)).unwrap();
    let offline = fenced
        .apply(&MetadataRecord::PartitionChange {
            topic_id: TOPIC,
            partition: 0,
            delta,
        })
        .unwrap();
    let partition = offline.partition(TOPIC, 0).unwrap();
    assert_eq!(partition.leader, NO_LEADER, "2 and 3 are out of sync");
    assert!(election_needed(partition, ElectionType::Unclean));
    let clean = elect(
        partition,
        ElectionType::Preferred,
        &live(&offline),
        policy(&offline),
    );
    assert_eq!(clean, None);
    let delta = elect(
        partition,
        ElectionType::Unclean,
        &live(&offline),
        policy(&offline),
    )
    .unwrap();
    assert_eq!((delta.leader, delta.isr.clone()), (Some(2), Some(vec![2])));
    assert_eq!(delta.leader_epoch, partition.leader_epoch + 1);
}

#[test]
fn rebalancing_picks_partitions_of_brokers_above_the_imbalance_threshold() {
    // Broker 1 is preferred for 4 partitions, broker 2 for 1.
    let lists: [&[i32]; 5] = [&[1, 2], &[1, 2], &[1, 2], &[1, 2], &[2, 1]];
    let mut state = cluster(2, &lists, 1);
    let move_to = |state: &ClusterMetadata, partition: i32, leader: i32| {
        let current = state.partition(TOPIC, partition).unwrap();
        state
            .apply(&MetadataRecord::PartitionChange {
                topic_id: TOPIC,
                partition,
                delta: PartitionDelta {
                    leader: Some(leader),
                    leader_epoch: current.leader_epoch + 1,
                    partition_epoch: current.partition_epoch + 1,
                    ..PartitionDelta::default()
                },
            })
            .unwrap()
    };
    assert!(imbalanced_partitions(&live(&state), 10).is_empty());
    state = move_to(&state, 0, 2);
    // Broker 1: 1 of 4 not led = 25 %.
    assert_eq!(imbalanced_partitions(&live(&state), 25), vec![]);
    assert_eq!(imbalanced_partitions(&live(&state), 24), vec![(TOPIC, 0)]);
    state = move_to(&state, 4, 1);
    assert_eq!(
        imbalanced_partitions(&live(&state), 10),
        vec![(TOPIC, 0), (TOPIC, 4)]
    );
}
