//! SyncGroup (Kafka's `handleSyncGroup`): followers park until the leader's assignment arrives;
//! the leader's sync settles the generation and answers them; a failed store of the assignment
//! sends the group back to rebalance. Pure; runs on the group's coordinator shard.
use super::types::{Group, GroupRules, GroupState, Reply, Started, SyncInput, SyncOutcome};
use crate::protocol::error_code::ErrorCode;
use bytes::Bytes;
use std::collections::BTreeMap;

impl Group {
    /// SyncGroup (Kafka's `handleSyncGroup`). The leader's sync settles the generation and
    /// answers every parked follower; followers wait for it.
    pub fn sync(
        &mut self,
        now_ms: i64,
        input: SyncInput,
        replies: &mut Vec<Reply>,
    ) -> Started<SyncOutcome> {
        let started = self.sync_checked(now_ms, input, replies);
        self.check_invariants();
        started
    }

    pub(super) fn sync_checked(
        &mut self,
        now_ms: i64,
        input: SyncInput,
        replies: &mut Vec<Reply>,
    ) -> Started<SyncOutcome> {
        let done = |error| Started::Done(SyncOutcome::error(error));
        if self.state == GroupState::Dead {
            return done(ErrorCode::CoordinatorNotAvailable);
        }
        if !self.members.contains_key(&input.member_id) {
            return done(ErrorCode::UnknownMemberId);
        }
        if self.is_static_member_fenced(input.group_instance_id.as_deref(), &input.member_id) {
            return done(ErrorCode::FencedInstanceId);
        }
        if input.generation_id != self.generation_id {
            return done(ErrorCode::IllegalGeneration);
        }
        let type_mismatch = input
            .protocol_type
            .as_ref()
            .is_some_and(|name| self.protocol_type.as_ref() != Some(name));
        let name_mismatch = input
            .protocol_name
            .as_ref()
            .is_some_and(|name| self.protocol_name.as_ref() != Some(name));
        if type_mismatch || name_mismatch {
            return done(ErrorCode::InconsistentGroupProtocol);
        }
        match self.state {
            GroupState::Empty => done(ErrorCode::UnknownMemberId),
            GroupState::PreparingRebalance => done(ErrorCode::RebalanceInProgress),
            GroupState::Stable => Started::Done(self.sync_answer(&input.member_id)),
            GroupState::CompletingRebalance => self.sync_completing(now_ms, input, replies),
            GroupState::Dead => done(ErrorCode::CoordinatorNotAvailable),
        }
    }

    pub(super) fn sync_completing(
        &mut self,
        now_ms: i64,
        input: SyncInput,
        replies: &mut Vec<Reply>,
    ) -> Started<SyncOutcome> {
        let is_leader = self.leader_id.as_deref() == Some(input.member_id.as_str());
        if !is_leader {
            if let Some(member) = self.members.get_mut(&input.member_id) {
                member.sync_parked = true;
            }
            return Started::Waiting {
                member_id: input.member_id,
            };
        }
        // Members the leader left out get an empty assignment (Kafka does the same).
        let mut assignments: BTreeMap<String, Bytes> = input.assignments.into_iter().collect();
        for member in self.members.values_mut() {
            member.assignment = assignments.remove(&member.member_id).unwrap_or_default();
            member.heartbeat_deadline_ms =
                now_ms.saturating_add(i64::from(member.session_timeout_ms));
        }
        let ids: Vec<String> = self
            .members
            .values()
            .filter(|member| member.awaiting_sync && member.member_id != input.member_id)
            .map(|member| member.member_id.clone())
            .collect();
        for member_id in ids {
            let outcome = self.sync_answer(&member_id);
            replies.push(Reply::Sync { member_id, outcome });
        }
        for member in self.members.values_mut() {
            member.awaiting_sync = false;
            member.sync_parked = false;
        }
        self.sync_deadline_ms = None;
        self.transition(GroupState::Stable, now_ms);
        self.dirty = true;
        Started::Done(self.sync_answer(&input.member_id))
    }

    pub(super) fn sync_answer(&self, member_id: &str) -> SyncOutcome {
        SyncOutcome {
            error: ErrorCode::None,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            assignment: self
                .members
                .get(member_id)
                .map(|member| member.assignment.clone())
                .unwrap_or_default(),
        }
    }

    /// The leader's assignment could not be persisted (Kafka's `resetAndPropagateAssignmentError`
    /// after a failed `storeGroup`): members must rejoin.
    pub fn assignment_store_failed(
        &mut self,
        rules: &GroupRules,
        now_ms: i64,
        replies: &mut Vec<Reply>,
    ) {
        if matches!(
            self.state,
            GroupState::Stable | GroupState::CompletingRebalance
        ) {
            self.prepare_rebalance(rules, now_ms, replies);
        }
        self.check_invariants();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may panic
mod tests {
    use super::super::testing::{RULES, join_input, sync_input};
    use super::super::*;
    use crate::protocol::error_code::ErrorCode;

    #[test]
    fn sync_timeout_removes_members_that_never_synced() {
        let mut group = Group::new("g", 0);
        let mut replies = Vec::new();
        group.join(&RULES, 0, join_input("", "a"), &mut replies);
        group.join(&RULES, 0, join_input("", "b"), &mut replies);
        group.tick(&RULES, 100, &mut replies);
        group.tick(&RULES, 200, &mut replies);
        assert_eq!(group.state(), GroupState::CompletingRebalance);
        replies.clear();
        // b syncs and waits; the leader a never does.
        group.sync(210, sync_input("b", 1, &[]), &mut replies);
        group.tick(&RULES, 30_200, &mut replies);
        assert!(!group.has_member("a"));
        assert!(group.has_member("b"));
        assert_eq!(group.state(), GroupState::PreparingRebalance);
        assert!(replies.contains(&Reply::Sync {
            member_id: "b".into(),
            outcome: SyncOutcome::error(ErrorCode::RebalanceInProgress)
        }));
    }
}
