//! One classic consumer group's membership state machine, as Kafka's `GroupCoordinator` and
//! `GroupMetadata` run it: Empty → PreparingRebalance → CompletingRebalance → Stable, and Dead.
//!
//! Pure: no runtime, no I/O, no randomness. Time is a wall-clock millisecond count passed in
//! (`now_ms`, Kafka's `time.milliseconds()`), fresh member ids are passed in, and answers to
//! waiting JoinGroup/SyncGroup requests come back as [`Reply`] values that the coordinator
//! (coordinator.rs) delivers to the parked requests. Runs on the group's coordinator shard.
//!
//! ```text
//! Empty ──join──▶ PreparingRebalance ──all joined / deadline──▶ CompletingRebalance
//!   ▲                  ▲   ▲                                        │ leader SyncGroup
//!   │ all left         │   └──────── join / leave / expiry ─────────┤
//!   └──────────────────┴──────────── join / leave / expiry ◀── Stable ◀┘
//! any ──delete──▶ Dead
//! ```
//! Invariants (checked by [`Group::check_invariants`] after every mutation):
//! - Empty and Dead hold no members; the leader, when set, is a member;
//! - every static member's instance id maps to its member id and back;
//! - members awaiting join only exist in PreparingRebalance; awaiting sync only in
//!   CompletingRebalance;
//! - `members.len() <= members_max`.
//!
//! Files: `types.rs` (the states, inputs, answers, records and the [`Group`] itself with its
//! invariants), `join.rs` (JoinGroup and completing a rebalance), `sync.rs` (SyncGroup),
//! `membership.rs` (heartbeats, commit checks, leaving, expiry, deletion), `records.rs` (the
//! persisted form).
mod join;
mod membership;
mod records;
mod sync;
#[cfg(test)]
mod testing;
mod types;

pub use types::{
    Group, GroupRecord, GroupRules, GroupState, JoinInput, JoinMember, JoinOutcome, LeaveInput,
    Member, MemberRecord, Reply, Started, SyncInput, SyncOutcome,
};

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may panic
mod tests {
    use super::testing::{RULES, join_input, stable_pair, sync_input};
    use super::*;
    use crate::protocol::error_code::ErrorCode;
    use bytes::Bytes;

    #[test]
    fn two_members_join_and_sync() {
        let group = stable_pair(1_000);
        assert_eq!(group.generation_id(), 1);
        assert_eq!(group.leader_id(), Some("a"));
    }

    #[test]
    fn validation_errors() {
        let mut group = stable_pair(0);
        let mut replies = Vec::new();
        let mut input = join_input("", "c");
        input.session_timeout_ms = 999;
        let Started::Done(outcome) = group.join(&RULES, 300, input, &mut replies) else {
            panic!()
        };
        assert_eq!(outcome.error, ErrorCode::InvalidSessionTimeout);
        let mut input = join_input("", "c");
        input.protocols = vec![("roundrobin".into(), Bytes::new())];
        let Started::Done(outcome) = group.join(&RULES, 300, input, &mut replies) else {
            panic!()
        };
        assert_eq!(outcome.error, ErrorCode::InconsistentGroupProtocol);
        let mut input = join_input("", "c");
        input.protocol_type = "connect".into();
        let Started::Done(outcome) = group.join(&RULES, 300, input, &mut replies) else {
            panic!()
        };
        assert_eq!(outcome.error, ErrorCode::InconsistentGroupProtocol);
        assert_eq!(
            group.heartbeat(300, "a", None, 7),
            ErrorCode::IllegalGeneration
        );
        assert_eq!(
            group.heartbeat(300, "zz", None, 1),
            ErrorCode::UnknownMemberId
        );
        assert_eq!(group.heartbeat(300, "a", None, 1), ErrorCode::None);
        let Started::Done(outcome) = group.sync(300, sync_input("a", 2, &[]), &mut replies) else {
            panic!()
        };
        assert_eq!(outcome.error, ErrorCode::IllegalGeneration);
        let mut wrong = sync_input("a", 1, &[]);
        wrong.protocol_name = Some("roundrobin".into());
        let Started::Done(outcome) = group.sync(300, wrong, &mut replies) else {
            panic!()
        };
        assert_eq!(outcome.error, ErrorCode::InconsistentGroupProtocol);
        assert_eq!(
            group.check_commit(300, "a", None, 0),
            ErrorCode::IllegalGeneration
        );
        assert_eq!(group.check_commit(300, "a", None, 1), ErrorCode::None);
        assert_eq!(group.delete(300), ErrorCode::NonEmptyGroup);
        assert!(replies.is_empty());
    }
}
