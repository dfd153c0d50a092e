//! Group APIs over raw frames (our codec, no client library): Kafka's exact error codes for
//! the cases clients rely on, batched FindCoordinator, static-member fencing, batched
//! LeaveGroup, multi-group OffsetFetch, ListGroups state filters, DeleteGroups, and the
//! expiry of members reloaded after a restart with no client talking to their coordinator.
mod common;

use bytes::Bytes;
use ringbroker::protocol::Message;
use ringbroker::protocol::error_code::ErrorCode;
use ringbroker::protocol::messages::delete_groups::{DeleteGroupsRequest, DeleteGroupsResponse};
use ringbroker::protocol::messages::delete_topics::{DeleteTopicsRequest, DeleteTopicsResponse};
use ringbroker::protocol::messages::describe_groups::{
    DescribeGroupsRequest, DescribeGroupsResponse,
};
use ringbroker::protocol::messages::find_coordinator::{
    FindCoordinatorRequest, FindCoordinatorResponse,
};
use ringbroker::protocol::messages::heartbeat::{HeartbeatRequest, HeartbeatResponse};
use ringbroker::protocol::messages::join_group::{
    JoinGroupRequest, JoinGroupRequestProtocol, JoinGroupResponse,
};
use ringbroker::protocol::messages::leave_group::{
    LeaveGroupRequest, LeaveGroupResponse, MemberIdentity,
};
use ringbroker::protocol::messages::list_groups::{ListGroupsRequest, ListGroupsResponse};
use ringbroker::protocol::messages::metadata::{MetadataRequest, MetadataRequestTopic};
use ringbroker::protocol::messages::offset_commit::{
    OffsetCommitRequest, OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    OffsetCommitResponse,
};
use ringbroker::protocol::messages::offset_fetch::{
    OffsetFetchRequest, OffsetFetchRequestGroup, OffsetFetchResponse,
};
use ringbroker::protocol::messages::sync_group::{SyncGroupRequest, SyncGroupResponse};

fn call<Req: Message, Resp: Message>(
    client: &mut common::RawClient,
    version: i16,
    request: &Req,
) -> Resp {
    client.send(version, 7, request);
    client.receive::<Resp>(version).1
}

fn start() -> common::Broker {
    common::Broker::start_with(common::BrokerOptions {
        extra_args: vec![
            "--group-initial-rebalance-delay-ms".into(),
            "0".into(),
            "--auto-create-partitions".into(),
            "2".into(),
        ],
        ..common::BrokerOptions::default()
    })
}

fn join_request(group: &str, member_id: &str, instance: Option<&str>) -> JoinGroupRequest {
    JoinGroupRequest {
        group_id: group.into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 10_000,
        member_id: member_id.into(),
        group_instance_id: instance.map(Into::into),
        protocol_type: "consumer".into(),
        protocols: vec![JoinGroupRequestProtocol {
            name: "range".into(),
            metadata: Bytes::from_static(b"meta"),
        }],
        ..Default::default()
    }
}

/// Joins (v5) and syncs as the only member; returns (member id, generation).
fn join_alone(
    client: &mut common::RawClient,
    group: &str,
    instance: Option<&str>,
) -> (String, i32) {
    join_alone_with_session(client, group, instance, 10_000)
}

/// [`join_alone`] with the member's session timeout.
fn join_alone_with_session(
    client: &mut common::RawClient,
    group: &str,
    instance: Option<&str>,
    session_timeout_ms: i32,
) -> (String, i32) {
    let join = |member_id: &str| JoinGroupRequest {
        session_timeout_ms,
        ..join_request(group, member_id, instance)
    };
    let joined: JoinGroupResponse = call(client, 5, &join(""));
    let joined = if joined.error_code == ErrorCode::MemberIdRequired {
        call(client, 5, &join(&joined.member_id))
    } else {
        joined
    };
    assert_eq!(joined.error_code, ErrorCode::None, "{joined:?}");
    let sync = SyncGroupRequest {
        group_id: group.into(),
        generation_id: joined.generation_id,
        member_id: joined.member_id.clone(),
        group_instance_id: instance.map(Into::into),
        assignments: vec![],
        ..Default::default()
    };
    let synced: SyncGroupResponse = call(client, 3, &sync);
    assert_eq!(synced.error_code, ErrorCode::None);
    (joined.member_id.to_string(), joined.generation_id)
}

#[test]
fn find_coordinator_batched_and_single() {
    let broker = start();
    let mut client = broker.client();
    let batched = FindCoordinatorRequest {
        coordinator_keys: vec!["a".into(), "b".into()],
        ..Default::default()
    };
    let response: FindCoordinatorResponse = call(&mut client, 4, &batched);
    assert_eq!(response.coordinators.len(), 2);
    for coordinator in &response.coordinators {
        assert_eq!(coordinator.error_code, ErrorCode::None);
        assert_eq!(coordinator.port, i32::from(broker.address.port()));
    }
    let single = FindCoordinatorRequest {
        key: "a".into(),
        ..Default::default()
    };
    let response: FindCoordinatorResponse = call(&mut client, 0, &single);
    assert_eq!(response.error_code, ErrorCode::None);
    assert_eq!(response.port, i32::from(broker.address.port()));
    let transaction = FindCoordinatorRequest {
        key: "tx".into(),
        key_type: 1,
        ..Default::default()
    };
    let response: FindCoordinatorResponse = call(&mut client, 3, &transaction);
    assert_eq!(response.error_code, ErrorCode::CoordinatorNotAvailable);
}

#[allow(clippy::too_many_lines)] // one scenario whose steps read in order; helpers would hide it
#[test]
fn kafka_error_codes() {
    let broker = start();
    let mut client = broker.client();
    let _: FindCoordinatorResponse = call(&mut client, 3, &FindCoordinatorRequest::default());
    let mut bad = join_request("g", "", None);
    bad.session_timeout_ms = 100;
    let response: JoinGroupResponse = call(&mut client, 5, &bad);
    assert_eq!(response.error_code, ErrorCode::InvalidSessionTimeout);
    let response: JoinGroupResponse = call(&mut client, 5, &join_request("", "", None));
    assert_eq!(response.error_code, ErrorCode::InvalidGroupId);
    let response: JoinGroupResponse = call(&mut client, 5, &join_request("g", "ghost", None));
    assert_eq!(response.error_code, ErrorCode::UnknownMemberId);
    let heartbeat = HeartbeatRequest {
        group_id: "nobody".into(),
        generation_id: 1,
        member_id: "m".into(),
        ..Default::default()
    };
    let response: HeartbeatResponse = call(&mut client, 3, &heartbeat);
    assert_eq!(response.error_code, ErrorCode::UnknownMemberId);
    let (member_id, generation) = join_alone(&mut client, "g", None);
    let mut stale = SyncGroupRequest {
        group_id: "g".into(),
        generation_id: generation + 1,
        member_id: member_id.as_str().into(),
        ..Default::default()
    };
    let response: SyncGroupResponse = call(&mut client, 3, &stale);
    assert_eq!(response.error_code, ErrorCode::IllegalGeneration);
    stale.generation_id = generation;
    stale.protocol_type = Some("connect".into());
    let response: SyncGroupResponse = call(&mut client, 5, &stale);
    assert_eq!(response.error_code, ErrorCode::InconsistentGroupProtocol);
    // A member of another protocol type cannot join.
    let mut other = join_request("g", "", None);
    other.protocol_type = "connect".into();
    let response: JoinGroupResponse = call(&mut client, 4, &other);
    assert_eq!(response.error_code, ErrorCode::InconsistentGroupProtocol);
    // Groups with members cannot be deleted; unknown ones are not found.
    let delete = DeleteGroupsRequest {
        groups_names: vec!["g".into(), "missing".into()],
    };
    let response: DeleteGroupsResponse = call(&mut client, 2, &delete);
    let codes: Vec<_> = response
        .results
        .iter()
        .map(|result| result.error_code)
        .collect();
    assert_eq!(
        codes,
        [ErrorCode::NonEmptyGroup, ErrorCode::GroupIdNotFound]
    );
    // Batched leave: one known member, one unknown.
    let leave = LeaveGroupRequest {
        group_id: "g".into(),
        members: vec![
            MemberIdentity {
                member_id: member_id.as_str().into(),
                ..Default::default()
            },
            MemberIdentity {
                member_id: "stranger".into(),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let response: LeaveGroupResponse = call(&mut client, 3, &leave);
    let codes: Vec<_> = response
        .members
        .iter()
        .map(|member| member.error_code)
        .collect();
    assert_eq!(codes, [ErrorCode::None, ErrorCode::UnknownMemberId]);
    // Describe: v6 reports an unknown group; the emptied one is Empty.
    let describe = DescribeGroupsRequest {
        groups: vec!["g".into(), "missing".into()],
        ..Default::default()
    };
    let response: DescribeGroupsResponse = call(&mut client, 6, &describe);
    assert_eq!(response.groups[0].group_state.as_str(), "Empty");
    assert_eq!(response.groups[1].error_code, ErrorCode::GroupIdNotFound);
    let response: DescribeGroupsResponse = call(&mut client, 5, &describe);
    assert_eq!(response.groups[1].error_code, ErrorCode::None);
    assert_eq!(response.groups[1].group_state.as_str(), "Dead");
    let response: DeleteGroupsResponse = call(&mut client, 2, &delete);
    assert_eq!(response.results[0].error_code, ErrorCode::None);
}

#[test]
fn static_member_fencing() {
    let broker = start();
    let mut client = broker.client();
    let _: FindCoordinatorResponse = call(&mut client, 3, &FindCoordinatorRequest::default());
    let (first_id, generation) = join_alone(&mut client, "static", Some("instance-1"));
    // The same instance restarts without its member id: a new id, the old one is fenced.
    let rejoined: JoinGroupResponse = call(
        &mut client,
        5,
        &join_request("static", "", Some("instance-1")),
    );
    assert_eq!(rejoined.error_code, ErrorCode::None);
    assert_ne!(rejoined.member_id.as_str(), first_id);
    let heartbeat = HeartbeatRequest {
        group_id: "static".into(),
        generation_id: generation,
        member_id: first_id.as_str().into(),
        group_instance_id: Some("instance-1".into()),
    };
    let response: HeartbeatResponse = call(&mut client, 3, &heartbeat);
    assert_eq!(response.error_code, ErrorCode::FencedInstanceId);
}

#[allow(clippy::too_many_lines)] // one scenario whose steps read in order; helpers would hide it
#[test]
fn offsets_commit_fetch_and_list() {
    let broker = start();
    let mut client = broker.client();
    let _: FindCoordinatorResponse = call(&mut client, 3, &FindCoordinatorRequest::default());
    let metadata = MetadataRequest {
        topics: Some(vec![MetadataRequestTopic {
            name: Some("t".into()),
            ..Default::default()
        }]),
        allow_auto_topic_creation: true,
        ..Default::default()
    };
    client.send(9, 1, &metadata);
    let _ = client.read_frame().unwrap();
    let commit = |group: &str, generation: i32, offset: i64| OffsetCommitRequest {
        group_id: group.into(),
        generation_id_or_member_epoch: generation,
        topics: vec![
            OffsetCommitRequestTopic {
                name: "t".into(),
                partitions: vec![OffsetCommitRequestPartition {
                    partition_index: 1,
                    committed_offset: offset,
                    ..Default::default()
                }],
            },
            OffsetCommitRequestTopic {
                name: "unknown".into(),
                partitions: vec![OffsetCommitRequestPartition::default()],
            },
        ],
        ..Default::default()
    };
    // A generation for a group that does not exist comes from a stale member.
    let response: OffsetCommitResponse = call(&mut client, 8, &commit("a", 3, 5));
    assert_eq!(
        response.topics[0].partitions[0].error_code,
        ErrorCode::IllegalGeneration
    );
    assert_eq!(
        response.topics[1].partitions[0].error_code,
        ErrorCode::UnknownTopicOrPartition
    );
    for (group, offset) in [("a", 5), ("b", 9)] {
        let response: OffsetCommitResponse = call(&mut client, 8, &commit(group, -1, offset));
        assert_eq!(response.topics[0].partitions[0].error_code, ErrorCode::None);
    }
    let fetch = OffsetFetchRequest {
        groups: ["a", "b", "none"]
            .iter()
            .map(|group| OffsetFetchRequestGroup {
                group_id: (*group).into(),
                topics: None,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let response: OffsetFetchResponse = call(&mut client, 8, &fetch);
    let offsets: Vec<Vec<i64>> = response
        .groups
        .iter()
        .map(|group| {
            group
                .topics
                .iter()
                .flat_map(|topic| topic.partitions.iter().map(|p| p.committed_offset))
                .collect()
        })
        .collect();
    assert_eq!(offsets, [vec![5], vec![9], vec![]]);
    let list = ListGroupsRequest {
        states_filter: vec!["empty".into()],
        ..Default::default()
    };
    let response: ListGroupsResponse = call(&mut client, 4, &list);
    let mut names: Vec<_> = response
        .groups
        .iter()
        .map(|g| g.group_id.to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["a", "b"]);
    let list = ListGroupsRequest {
        states_filter: vec!["Stable".into()],
        ..Default::default()
    };
    let response: ListGroupsResponse = call(&mut client, 4, &list);
    assert!(response.groups.is_empty());
}

/// The state ListGroups (v4) reports for `group`; ListGroups reads every shard's coordinator
/// without starting its timer (unlike the per-group APIs, which call `ensure_loaded`).
fn listed_state(client: &mut common::RawClient, group: &str) -> Option<String> {
    let response: ListGroupsResponse = call(client, 4, &ListGroupsRequest::default());
    assert_eq!(response.error_code, ErrorCode::None);
    response
        .groups
        .iter()
        .find(|listed| listed.group_id.as_str() == group)
        .map(|listed| listed.group_state.to_string())
}

/// A member persisted before a restart expires after its session timeout although no client
/// sends a group request afterwards.
///
/// Why it can fail: the coordinator's timer task used to start only with a shard's first
/// per-group request (`ensure_loaded`). The only requests here after the restart are
/// ListGroups, which does not go through `ensure_loaded`, so without the start-up hook
/// (`start_timer_if_loaded`) nothing ever ticks the group: it stays Stable forever and the
/// final wait fails. The check right after the restart (Stable, a member) proves the member
/// was reloaded, so an Empty state at the end can only come from the session expiring.
#[test]
fn reloaded_member_expires_without_any_group_request() {
    const SESSION_MS: i32 = 3_000;
    let mut broker = common::Broker::start_with(common::BrokerOptions {
        config_toml: Some("[groups]\nsession_timeout_ms_min = 1000\n".into()),
        extra_args: vec!["--group-initial-rebalance-delay-ms".into(), "0".into()],
        ..common::BrokerOptions::default()
    });
    {
        let mut client = broker.client();
        let _: FindCoordinatorResponse = call(&mut client, 3, &FindCoordinatorRequest::default());
        join_alone_with_session(&mut client, "reloaded", None, SESSION_MS);
        assert_eq!(
            listed_state(&mut client, "reloaded").as_deref(),
            Some("Stable")
        );
    }
    assert_eq!(broker.restart().code(), Some(0));
    let mut client = broker.client();
    // Sessions of reloaded members restart at load time, so it is still Stable right now.
    assert_eq!(
        listed_state(&mut client, "reloaded").as_deref(),
        Some("Stable")
    );
    let deadline = std::time::Duration::from_millis(u64::try_from(SESSION_MS).unwrap() + 7_000);
    let expired = common::eventually(deadline, || {
        listed_state(&mut client, "reloaded").as_deref() == Some("Empty")
    });
    assert!(expired, "state {:?}", listed_state(&mut client, "reloaded"));
}

/// Committed offsets of a deleted topic are forgotten, also across a restart, so a topic
/// re-created under the same name starts without them (Kafka's cleanup on partition
/// deletion); offsets of other topics stay.
#[allow(clippy::too_many_lines)] // one scenario whose steps read in order; helpers would hide it
#[test]
fn deleting_a_topic_forgets_its_committed_offsets() {
    let mut broker = start();
    let mut client = broker.client();
    let create = |client: &mut common::RawClient, names: &[&str]| {
        let metadata = MetadataRequest {
            topics: Some(
                names
                    .iter()
                    .map(|name| MetadataRequestTopic {
                        name: Some((*name).into()),
                        ..Default::default()
                    })
                    .collect(),
            ),
            allow_auto_topic_creation: true,
            ..Default::default()
        };
        client.send(9, 1, &metadata);
        let _ = client.read_frame().unwrap();
    };
    create(&mut client, &["gone", "kept"]);
    // Creates __consumer_offsets, as a client's first group request does.
    let _: FindCoordinatorResponse = call(&mut client, 3, &FindCoordinatorRequest::default());
    let commit = OffsetCommitRequest {
        group_id: "g".into(),
        generation_id_or_member_epoch: -1,
        topics: ["gone", "kept"]
            .iter()
            .map(|name| OffsetCommitRequestTopic {
                name: (*name).into(),
                partitions: (0..2)
                    .map(|partition| OffsetCommitRequestPartition {
                        partition_index: partition,
                        committed_offset: 40 + i64::from(partition),
                        ..Default::default()
                    })
                    .collect(),
            })
            .collect(),
        ..Default::default()
    };
    let response: OffsetCommitResponse = call(&mut client, 8, &commit);
    let codes: Vec<ErrorCode> = response
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        .collect();
    assert_eq!(codes, [ErrorCode::None; 4]);
    let committed = |client: &mut common::RawClient| -> Vec<(String, i32, i64)> {
        let fetch = OffsetFetchRequest {
            groups: vec![OffsetFetchRequestGroup {
                group_id: "g".into(),
                topics: None,
                ..Default::default()
            }],
            ..Default::default()
        };
        let response: OffsetFetchResponse = call(client, 8, &fetch);
        let mut found: Vec<(String, i32, i64)> = response.groups[0]
            .topics
            .iter()
            .flat_map(|topic| {
                topic.partitions.iter().map(|p| {
                    (
                        topic.name.to_string(),
                        p.partition_index,
                        p.committed_offset,
                    )
                })
            })
            .collect();
        found.sort();
        found
    };
    let kept = vec![("kept".to_owned(), 0, 40), ("kept".to_owned(), 1, 41)];
    assert_eq!(committed(&mut client).len(), 4);
    let delete = DeleteTopicsRequest {
        topic_names: vec!["gone".into()],
        timeout_ms: 5_000,
        ..Default::default()
    };
    let response: DeleteTopicsResponse = call(&mut client, 5, &delete);
    assert_eq!(response.responses[0].error_code, ErrorCode::None);
    assert_eq!(committed(&mut client), kept);
    // Re-created under the same name: no offsets come back, before or after a restart.
    create(&mut client, &["gone"]);
    assert_eq!(committed(&mut client), kept);
    drop(client);
    broker.restart();
    let mut client = broker.client();
    assert_eq!(committed(&mut client), kept);
}
