//! Differential test of the consumer-group messages against the `kafka-protocol` crate.
//!
//! For every message and every version both codecs support: a kafka-protocol value with every
//! field of that version set to a non-default value is encoded by kafka-protocol, decoded by ours,
//! re-encoded by ours (the bytes must be identical), and our bytes are decoded by kafka-protocol
//! (the value must equal the original). Runs on the test thread; no broker, no I/O.
//!
//! kafka-protocol 0.15.1 stops at DescribeGroups v5, so v6 (KIP-1043) is covered only by the
//! unit tests in `describe_groups.rs`. None of these schemas declares a tagged field, so the
//! tagged sections are always empty here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{self as kp, BrokerId, GroupId, TopicName};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use ringbroker::protocol::Message;
use ringbroker::protocol::messages::{
    delete_groups, describe_groups, find_coordinator, heartbeat, join_group, leave_group,
    list_groups, offset_commit, offset_delete, offset_fetch, sync_group,
};
use std::fmt::Debug;

fn s(text: &'static str) -> StrBytes {
    StrBytes::from_static_str(text)
}

fn group(text: &'static str) -> GroupId {
    GroupId(s(text))
}

fn topic(text: &'static str) -> TopicName {
    TopicName(s(text))
}

/// One round of the differential check at one version.
fn check_version<Ours, Theirs>(theirs: &Theirs, version: i16)
where
    Ours: Message + Debug,
    Theirs: Encodable + Decodable + PartialEq + Debug,
{
    let name = std::any::type_name::<Ours>();
    let mut their_bytes = BytesMut::new();
    theirs
        .encode(&mut their_bytes, version)
        .unwrap_or_else(|error| panic!("kafka-protocol encode {name} v{version}: {error}"));
    let ours = Ours::decode_body(their_bytes.clone().freeze(), version)
        .unwrap_or_else(|error| panic!("our decode {name} v{version}: {error}"));
    let mut our_bytes = BytesMut::new();
    ours.encode_body(&mut our_bytes, version);
    assert_eq!(
        our_bytes, their_bytes,
        "{name} v{version}: re-encoded bytes differ"
    );
    let back = Theirs::decode(&mut our_bytes.freeze(), version)
        .unwrap_or_else(|error| panic!("kafka-protocol decode {name} v{version}: {error}"));
    assert_eq!(
        &back, theirs,
        "{name} v{version}: kafka-protocol reads a different value"
    );
}

/// Checks every version both codecs support; returns how many there were.
fn check_all<Ours, Theirs>(build: impl Fn(i16) -> Theirs) -> usize
where
    Ours: Message + Debug,
    Theirs: Encodable + Decodable + PartialEq + Debug + kafka_protocol::protocol::Message,
{
    let min = Ours::VERSION_MIN.max(Theirs::VERSIONS.min);
    let max = Ours::VERSION_MAX.min(Theirs::VERSIONS.max);
    for version in min..=max {
        check_version::<Ours, Theirs>(&build(version), version);
    }
    usize::try_from(max - min + 1).unwrap_or(0)
}

/// Both sides of one API, over every shared version, which must be all of ours.
fn check_api<OursRequest, TheirRequest, OursResponse, TheirResponse>(
    request: impl Fn(i16) -> TheirRequest,
    response: impl Fn(i16) -> TheirResponse,
) where
    OursRequest: Message + Debug,
    OursResponse: Message + Debug,
    TheirRequest: Encodable + Decodable + PartialEq + Debug + kafka_protocol::protocol::Message,
    TheirResponse: Encodable + Decodable + PartialEq + Debug + kafka_protocol::protocol::Message,
{
    let ours = usize::try_from(OursRequest::VERSION_MAX - OursRequest::VERSION_MIN + 1).unwrap();
    assert_eq!(check_all::<OursRequest, TheirRequest>(request), ours);
    assert_eq!(check_all::<OursResponse, TheirResponse>(response), ours);
}

#[test]
fn find_coordinator() {
    use kp::find_coordinator_response::Coordinator;
    let request = |version: i16| {
        let mut message = kp::FindCoordinatorRequest::default();
        if version <= 3 {
            message.key = s("group-a");
        }
        if version >= 1 {
            message.key_type = 1;
        }
        if version >= 4 {
            message.coordinator_keys = vec![s("a"), s("b")];
        }
        message
    };
    let response = |version: i16| {
        let mut message = kp::FindCoordinatorResponse::default();
        if version >= 1 {
            message.throttle_time_ms = 11;
        }
        if version <= 3 {
            message.error_code = 15;
            message.node_id = BrokerId(3);
            message.host = s("broker-3");
            message.port = 9092;
        }
        if (1..=3).contains(&version) {
            message.error_message = Some(s("loading"));
        }
        if version >= 4 {
            let coordinator = Coordinator::default()
                .with_key(s("a"))
                .with_node_id(BrokerId(4))
                .with_host(s("h"))
                .with_port(9093)
                .with_error_code(16)
                .with_error_message(Some(s("moved")));
            message.coordinators = vec![coordinator, Coordinator::default()];
        }
        message
    };
    check_api::<
        find_coordinator::FindCoordinatorRequest,
        _,
        find_coordinator::FindCoordinatorResponse,
        _,
    >(request, response);
}

#[test]
fn join_group() {
    use kp::join_group_request::JoinGroupRequestProtocol;
    use kp::join_group_response::JoinGroupResponseMember;
    let request = |version: i16| {
        let mut message = kp::JoinGroupRequest::default()
            .with_group_id(group("g"))
            .with_session_timeout_ms(45_000)
            .with_member_id(s("member-1"))
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![
                JoinGroupRequestProtocol::default()
                    .with_name(s("range"))
                    .with_metadata(Bytes::from_static(&[0, 3, 0, 0, 0, 1])),
                JoinGroupRequestProtocol::default().with_name(s("cooperative-sticky")),
            ]);
        if version >= 1 {
            message.rebalance_timeout_ms = 300_000;
        }
        if version >= 5 {
            message.group_instance_id = Some(s("instance-1"));
        }
        if version >= 8 {
            message.reason = Some(s("rejoin"));
        }
        message
    };
    let response = |version: i16| {
        let mut member = JoinGroupResponseMember::default()
            .with_member_id(s("member-1"))
            .with_metadata(Bytes::from_static(&[1, 2, 3]));
        if version >= 5 {
            member.group_instance_id = Some(s("instance-1"));
        }
        let mut message = kp::JoinGroupResponse::default()
            .with_error_code(79)
            .with_generation_id(7)
            .with_protocol_name(Some(s("range")))
            .with_leader(s("member-1"))
            .with_member_id(s("member-2"))
            .with_members(vec![member, JoinGroupResponseMember::default()]);
        if version >= 2 {
            message.throttle_time_ms = 12;
        }
        if version >= 7 {
            message.protocol_type = Some(s("consumer"));
        }
        if version >= 9 {
            message.skip_assignment = true;
        }
        message
    };
    check_api::<join_group::JoinGroupRequest, _, join_group::JoinGroupResponse, _>(
        request, response,
    );
}

#[test]
fn join_group_response_null_protocol_name_from_v7() {
    let message = kp::JoinGroupResponse::default().with_protocol_name(None);
    for version in 7..=9 {
        check_version::<join_group::JoinGroupResponse, _>(&message, version);
    }
}

#[test]
fn sync_group() {
    use kp::sync_group_request::SyncGroupRequestAssignment;
    let request = |version: i16| {
        let mut message = kp::SyncGroupRequest::default()
            .with_group_id(group("g"))
            .with_generation_id(7)
            .with_member_id(s("member-1"))
            .with_assignments(vec![
                SyncGroupRequestAssignment::default()
                    .with_member_id(s("member-1"))
                    .with_assignment(Bytes::from_static(&[0, 1, 0, 0])),
                SyncGroupRequestAssignment::default().with_member_id(s("member-2")),
            ]);
        if version >= 3 {
            message.group_instance_id = Some(s("instance-1"));
        }
        if version >= 5 {
            message.protocol_type = Some(s("consumer"));
            message.protocol_name = Some(s("range"));
        }
        message
    };
    let response = |version: i16| {
        let mut message = kp::SyncGroupResponse::default()
            .with_error_code(27)
            .with_assignment(Bytes::from_static(&[9, 9]));
        if version >= 1 {
            message.throttle_time_ms = 13;
        }
        if version >= 5 {
            message.protocol_type = Some(s("consumer"));
            message.protocol_name = Some(s("range"));
        }
        message
    };
    check_api::<sync_group::SyncGroupRequest, _, sync_group::SyncGroupResponse, _>(
        request, response,
    );
}

#[test]
fn heartbeat() {
    let request = |version: i16| {
        let mut message = kp::HeartbeatRequest::default()
            .with_group_id(group("g"))
            .with_generation_id(7)
            .with_member_id(s("member-1"));
        if version >= 3 {
            message.group_instance_id = Some(s("instance-1"));
        }
        message
    };
    let response = |version: i16| {
        let mut message = kp::HeartbeatResponse::default().with_error_code(27);
        if version >= 1 {
            message.throttle_time_ms = 14;
        }
        message
    };
    check_api::<heartbeat::HeartbeatRequest, _, heartbeat::HeartbeatResponse, _>(request, response);
}

#[test]
fn leave_group() {
    use kp::leave_group_request::MemberIdentity;
    use kp::leave_group_response::MemberResponse;
    let request = |version: i16| {
        let mut message = kp::LeaveGroupRequest::default().with_group_id(group("g"));
        if version <= 2 {
            message.member_id = s("member-1");
        } else {
            let mut first = MemberIdentity::default()
                .with_member_id(s("member-1"))
                .with_group_instance_id(Some(s("instance-1")));
            if version >= 5 {
                first.reason = Some(s("shutdown"));
            }
            message.members = vec![first, MemberIdentity::default().with_member_id(s("m2"))];
        }
        message
    };
    let response = |version: i16| {
        let mut message = kp::LeaveGroupResponse::default().with_error_code(25);
        if version >= 1 {
            message.throttle_time_ms = 15;
        }
        if version >= 3 {
            message.members = vec![
                MemberResponse::default()
                    .with_member_id(s("member-1"))
                    .with_group_instance_id(Some(s("instance-1")))
                    .with_error_code(82),
                MemberResponse::default().with_group_instance_id(None),
            ];
        }
        message
    };
    check_api::<leave_group::LeaveGroupRequest, _, leave_group::LeaveGroupResponse, _>(
        request, response,
    );
}

#[test]
fn offset_commit() {
    use kp::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
    use kp::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
    let request = |version: i16| {
        let mut partition = OffsetCommitRequestPartition::default()
            .with_partition_index(3)
            .with_committed_offset(1_000_000_000_000)
            .with_committed_metadata(Some(s("meta")));
        if version >= 6 {
            partition.committed_leader_epoch = 5;
        }
        let null_metadata = partition.clone().with_committed_metadata(None);
        let mut message = kp::OffsetCommitRequest::default()
            .with_group_id(group("g"))
            .with_topics(vec![
                OffsetCommitRequestTopic::default()
                    .with_name(topic("t"))
                    .with_partitions(vec![partition, null_metadata]),
            ]);
        if version >= 1 {
            message.generation_id_or_member_epoch = 7;
            message.member_id = s("member-1");
        }
        if (2..=4).contains(&version) {
            message.retention_time_ms = 86_400_000;
        }
        if version >= 7 {
            message.group_instance_id = Some(s("instance-1"));
        }
        message
    };
    let response = |version: i16| {
        let mut message = kp::OffsetCommitResponse::default().with_topics(vec![
            OffsetCommitResponseTopic::default()
                .with_name(topic("t"))
                .with_partitions(vec![
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(3)
                        .with_error_code(12),
                ]),
        ]);
        if version >= 3 {
            message.throttle_time_ms = 16;
        }
        message
    };
    check_api::<offset_commit::OffsetCommitRequest, _, offset_commit::OffsetCommitResponse, _>(
        request, response,
    );
}

#[allow(clippy::too_many_lines)] // one scenario whose steps read in order; helpers would hide it
#[test]
fn offset_fetch() {
    use kp::offset_fetch_request::{
        OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
    };
    use kp::offset_fetch_response::{
        OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
        OffsetFetchResponseTopic, OffsetFetchResponseTopics,
    };
    let request = |version: i16| {
        let mut message = kp::OffsetFetchRequest::default();
        if version <= 7 {
            message.group_id = group("g");
            message.topics = Some(vec![
                OffsetFetchRequestTopic::default()
                    .with_name(topic("t"))
                    .with_partition_indexes(vec![0, 1, 2]),
            ]);
        } else {
            let mut first = OffsetFetchRequestGroup::default()
                .with_group_id(group("g"))
                .with_topics(Some(vec![
                    OffsetFetchRequestTopics::default()
                        .with_name(topic("t"))
                        .with_partition_indexes(vec![0, 1, 2]),
                ]));
            if version >= 9 {
                first.member_id = Some(s("member-1"));
                first.member_epoch = 3;
            }
            let every_topic = OffsetFetchRequestGroup::default()
                .with_group_id(group("h"))
                .with_topics(None);
            message.groups = vec![first, every_topic];
        }
        if version >= 7 {
            message.require_stable = true;
        }
        message
    };
    let response = |version: i16| {
        let mut message = kp::OffsetFetchResponse::default();
        if version >= 3 {
            message.throttle_time_ms = 17;
        }
        if version <= 7 {
            let mut partition = OffsetFetchResponsePartition::default()
                .with_partition_index(1)
                .with_committed_offset(42)
                .with_metadata(Some(s("meta")))
                .with_error_code(88);
            if version >= 5 {
                partition.committed_leader_epoch = 2;
            }
            let null_metadata = partition.clone().with_metadata(None);
            message.topics = vec![
                OffsetFetchResponseTopic::default()
                    .with_name(topic("t"))
                    .with_partitions(vec![partition, null_metadata]),
            ];
        }
        if (2..=7).contains(&version) {
            message.error_code = 16;
        }
        if version >= 8 {
            let partition = OffsetFetchResponsePartitions::default()
                .with_partition_index(1)
                .with_committed_offset(42)
                .with_committed_leader_epoch(2)
                .with_metadata(None)
                .with_error_code(88);
            message.groups = vec![
                OffsetFetchResponseGroup::default()
                    .with_group_id(group("g"))
                    .with_topics(vec![
                        OffsetFetchResponseTopics::default()
                            .with_name(topic("t"))
                            .with_partitions(vec![partition]),
                    ])
                    .with_error_code(69),
            ];
        }
        message
    };
    check_api::<offset_fetch::OffsetFetchRequest, _, offset_fetch::OffsetFetchResponse, _>(
        request, response,
    );
}

#[test]
fn offset_fetch_null_topics_from_v2() {
    let message = kp::OffsetFetchRequest::default()
        .with_group_id(group("g"))
        .with_topics(None);
    for version in 2..=7 {
        check_version::<offset_fetch::OffsetFetchRequest, _>(&message, version);
    }
}

#[test]
fn list_groups() {
    use kp::list_groups_response::ListedGroup;
    let request = |version: i16| {
        let mut message = kp::ListGroupsRequest::default();
        if version >= 4 {
            message.states_filter = vec![s("Stable"), s("PreparingRebalance")];
        }
        if version >= 5 {
            message.types_filter = vec![s("classic"), s("consumer")];
        }
        message
    };
    let response = |version: i16| {
        let mut listed = ListedGroup::default()
            .with_group_id(group("g"))
            .with_protocol_type(s("consumer"));
        if version >= 4 {
            listed.group_state = s("Stable");
        }
        if version >= 5 {
            listed.group_type = s("classic");
        }
        let mut message = kp::ListGroupsResponse::default()
            .with_error_code(15)
            .with_groups(vec![listed, ListedGroup::default()]);
        if version >= 1 {
            message.throttle_time_ms = 18;
        }
        message
    };
    check_api::<list_groups::ListGroupsRequest, _, list_groups::ListGroupsResponse, _>(
        request, response,
    );
}

#[test]
fn describe_groups() {
    use kp::describe_groups_response::{DescribedGroup, DescribedGroupMember};
    let request = |version: i16| {
        let mut message =
            kp::DescribeGroupsRequest::default().with_groups(vec![group("g"), group("h")]);
        if version >= 3 {
            message.include_authorized_operations = true;
        }
        message
    };
    let response = |version: i16| {
        let mut member = DescribedGroupMember::default()
            .with_member_id(s("member-1"))
            .with_client_id(s("client"))
            .with_client_host(s("/10.0.0.1"))
            .with_member_metadata(Bytes::from_static(&[1]))
            .with_member_assignment(Bytes::from_static(&[2, 3]));
        if version >= 4 {
            member.group_instance_id = Some(s("instance-1"));
        }
        let mut described = DescribedGroup::default()
            .with_group_id(group("g"))
            .with_group_state(s("Stable"))
            .with_protocol_type(s("consumer"))
            .with_protocol_data(s("range"))
            .with_members(vec![member]);
        if version >= 3 {
            described.authorized_operations = 0x0f00;
        }
        let missing = DescribedGroup::default()
            .with_error_code(69)
            .with_group_id(group("h"))
            .with_group_state(s("Dead"));
        let mut message =
            kp::DescribeGroupsResponse::default().with_groups(vec![described, missing]);
        if version >= 1 {
            message.throttle_time_ms = 19;
        }
        message
    };
    let request_count =
        check_all::<describe_groups::DescribeGroupsRequest, kp::DescribeGroupsRequest>(request);
    let response_count =
        check_all::<describe_groups::DescribeGroupsResponse, kp::DescribeGroupsResponse>(response);
    // v0–v5; v6 is beyond kafka-protocol 0.15.1 (see the module doc).
    assert_eq!((request_count, response_count), (6, 6));
}

#[test]
fn delete_groups() {
    use kp::delete_groups_response::DeletableGroupResult;
    let request =
        |_: i16| kp::DeleteGroupsRequest::default().with_groups_names(vec![group("g"), group("h")]);
    let response = |_: i16| {
        kp::DeleteGroupsResponse::default()
            .with_throttle_time_ms(20)
            .with_results(vec![
                DeletableGroupResult::default().with_group_id(group("g")),
                DeletableGroupResult::default()
                    .with_group_id(group("h"))
                    .with_error_code(68),
            ])
    };
    check_api::<delete_groups::DeleteGroupsRequest, _, delete_groups::DeleteGroupsResponse, _>(
        request, response,
    );
}

#[test]
fn offset_delete() {
    use kp::offset_delete_request::{OffsetDeleteRequestPartition, OffsetDeleteRequestTopic};
    use kp::offset_delete_response::{OffsetDeleteResponsePartition, OffsetDeleteResponseTopic};
    let request = |_: i16| {
        kp::OffsetDeleteRequest::default()
            .with_group_id(group("g"))
            .with_topics(vec![
                OffsetDeleteRequestTopic::default()
                    .with_name(topic("t"))
                    .with_partitions(vec![
                        OffsetDeleteRequestPartition::default().with_partition_index(1),
                        OffsetDeleteRequestPartition::default().with_partition_index(2),
                    ]),
            ])
    };
    let response = |_: i16| {
        kp::OffsetDeleteResponse::default()
            .with_error_code(69)
            .with_throttle_time_ms(21)
            .with_topics(vec![
                OffsetDeleteResponseTopic::default()
                    .with_name(topic("t"))
                    .with_partitions(vec![
                        OffsetDeleteResponsePartition::default()
                            .with_partition_index(1)
                            .with_error_code(86),
                    ]),
            ])
    };
    check_api::<offset_delete::OffsetDeleteRequest, _, offset_delete::OffsetDeleteResponse, _>(
        request, response,
    );
}
