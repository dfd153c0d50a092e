//! Test-only helpers for the group state machine: the rules every test uses, resolved inputs,
//! finding a member's join answer, and a Stable two-member group to start from. Compiled only
//! for tests.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may panic
use super::types::{
    Group, GroupRules, GroupState, JoinInput, JoinOutcome, Reply, Started, SyncInput, SyncOutcome,
};
use crate::protocol::error_code::ErrorCode;
use bytes::Bytes;

pub(super) const RULES: GroupRules = GroupRules {
    initial_rebalance_delay_ms: 100,
    session_timeout_ms_min: 1_000,
    session_timeout_ms_max: 60_000,
    members_max: 10,
};

pub(super) fn join_input(member_id: &str, fresh: &str) -> JoinInput {
    JoinInput {
        member_id: member_id.to_owned(),
        group_instance_id: None,
        client_id: "client".to_owned(),
        client_host: "/127.0.0.1".to_owned(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 30_000,
        protocol_type: "consumer".to_owned(),
        protocols: vec![("range".to_owned(), Bytes::from_static(b"sub"))],
        require_known_member_id: false,
        supports_skip_assignment: false,
        fresh_member_id: fresh.to_owned(),
    }
}

pub(super) fn sync_input(
    member_id: &str,
    generation_id: i32,
    assignments: &[(&str, &str)],
) -> SyncInput {
    SyncInput {
        member_id: member_id.to_owned(),
        group_instance_id: None,
        generation_id,
        protocol_type: Some("consumer".to_owned()),
        protocol_name: Some("range".to_owned()),
        assignments: assignments
            .iter()
            .map(|(id, bytes)| ((*id).to_owned(), Bytes::copy_from_slice(bytes.as_bytes())))
            .collect(),
    }
}

pub(super) fn join_reply(replies: &[Reply], member_id: &str) -> JoinOutcome {
    replies
        .iter()
        .find_map(|reply| match reply {
            Reply::Join {
                member_id: id,
                outcome,
            } if id == member_id => Some(outcome.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no join reply for {member_id} in {replies:?}"))
}

/// Two members a and b in a Stable group at generation 1, a leading.
pub(super) fn stable_pair(now: i64) -> Group {
    let mut group = Group::new("g", now);
    let mut replies = Vec::new();
    let a = group.join(&RULES, now, join_input("", "a"), &mut replies);
    assert_eq!(
        a,
        Started::Waiting {
            member_id: "a".into()
        }
    );
    let b = group.join(&RULES, now + 10, join_input("", "b"), &mut replies);
    assert_eq!(
        b,
        Started::Waiting {
            member_id: "b".into()
        }
    );
    assert_eq!(group.state(), GroupState::PreparingRebalance);
    // The initial delay is extended once because b arrived during it.
    group.tick(&RULES, now + 100, &mut replies);
    assert!(replies.is_empty(), "{replies:?}");
    group.tick(&RULES, now + 200, &mut replies);
    assert_eq!(group.state(), GroupState::CompletingRebalance);
    let leader = join_reply(&replies, "a");
    assert_eq!(leader.generation_id, 1);
    assert_eq!(leader.leader_id, "a");
    assert_eq!(leader.members.len(), 2);
    assert_eq!(leader.protocol_name.as_deref(), Some("range"));
    assert!(join_reply(&replies, "b").members.is_empty());
    replies.clear();
    let follower = group.sync(now + 210, sync_input("b", 1, &[]), &mut replies);
    assert_eq!(
        follower,
        Started::Waiting {
            member_id: "b".into()
        }
    );
    let assignments = [("a", "pa"), ("b", "pb")];
    let Started::Done(outcome) =
        group.sync(now + 220, sync_input("a", 1, &assignments), &mut replies)
    else {
        panic!("leader sync parks");
    };
    assert_eq!(outcome.assignment, Bytes::from_static(b"pa"));
    assert_eq!(
        replies,
        vec![Reply::Sync {
            member_id: "b".into(),
            outcome: SyncOutcome {
                error: ErrorCode::None,
                protocol_type: Some("consumer".into()),
                protocol_name: Some("range".into()),
                assignment: Bytes::from_static(b"pb"),
            }
        }]
    );
    assert_eq!(group.state(), GroupState::Stable);
    assert!(group.take_dirty());
    group
}
