//! Membership over time: heartbeats and the commit checks of OffsetCommit, LeaveGroup (batched,
//! static and dynamic members), session and rebalance expiry driven by `tick`, the next
//! deadline the coordinator must wake for, and deletion. Pure; runs on the group's coordinator
//! shard.
use super::types::{Group, GroupRules, GroupState, InitialDelay, LeaveInput, Reply};
use crate::protocol::error_code::ErrorCode;

impl Group {
    /// Heartbeat (Kafka's `handleHeartbeat`): refreshes the member's session.
    pub fn heartbeat(
        &mut self,
        now_ms: i64,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
    ) -> ErrorCode {
        match self.state {
            GroupState::Dead => return ErrorCode::CoordinatorNotAvailable,
            GroupState::Empty => return ErrorCode::UnknownMemberId,
            _ => {}
        }
        if self.is_static_member_fenced(group_instance_id, member_id) {
            return ErrorCode::FencedInstanceId;
        }
        let Some(member) = self.members.get_mut(member_id) else {
            return ErrorCode::UnknownMemberId;
        };
        if generation_id != self.generation_id {
            return ErrorCode::IllegalGeneration;
        }
        member.heartbeat_deadline_ms = now_ms.saturating_add(i64::from(member.session_timeout_ms));
        if self.state == GroupState::PreparingRebalance {
            ErrorCode::RebalanceInProgress
        } else {
            ErrorCode::None
        }
    }

    /// Whether an OffsetCommit from this member may commit (Kafka's `doCommitOffsets` checks);
    /// a valid commit from a member also counts as a heartbeat.
    pub fn check_commit(
        &mut self,
        now_ms: i64,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
    ) -> ErrorCode {
        if self.state == GroupState::Dead {
            return ErrorCode::CoordinatorNotAvailable;
        }
        if self.is_static_member_fenced(group_instance_id, member_id) {
            return ErrorCode::FencedInstanceId;
        }
        if generation_id < 0 && self.state == GroupState::Empty {
            // A consumer that manages its own partitions (no group membership) commits freely.
            return ErrorCode::None;
        }
        if self.state == GroupState::CompletingRebalance {
            return ErrorCode::RebalanceInProgress;
        }
        let Some(member) = self.members.get_mut(member_id) else {
            return ErrorCode::UnknownMemberId;
        };
        if generation_id != self.generation_id {
            return ErrorCode::IllegalGeneration;
        }
        member.heartbeat_deadline_ms = now_ms.saturating_add(i64::from(member.session_timeout_ms));
        ErrorCode::None
    }

    // ---- LeaveGroup, expiry --------------------------------------------------------------

    /// LeaveGroup (Kafka's `handleLeaveGroup`), one error per leaving member.
    pub fn leave(
        &mut self,
        rules: &GroupRules,
        now_ms: i64,
        leaving: &[LeaveInput],
        replies: &mut Vec<Reply>,
    ) -> Vec<ErrorCode> {
        let errors = leaving
            .iter()
            .map(|input| self.leave_one(rules, now_ms, input, replies))
            .collect();
        self.check_invariants();
        errors
    }

    pub(super) fn leave_one(
        &mut self,
        rules: &GroupRules,
        now_ms: i64,
        input: &LeaveInput,
        replies: &mut Vec<Reply>,
    ) -> ErrorCode {
        if self.state == GroupState::Dead {
            return ErrorCode::CoordinatorNotAvailable;
        }
        let member_id = match &input.group_instance_id {
            Some(instance) => match self.static_members.get(instance) {
                None => return ErrorCode::UnknownMemberId,
                Some(registered)
                    if !input.member_id.is_empty() && *registered != input.member_id =>
                {
                    return ErrorCode::FencedInstanceId;
                }
                Some(registered) => registered.clone(),
            },
            None => input.member_id.clone(),
        };
        if self.pending_members.remove(&member_id).is_some() {
            self.try_complete_join(now_ms, replies);
            return ErrorCode::None;
        }
        if !self.members.contains_key(&member_id) {
            return ErrorCode::UnknownMemberId;
        }
        self.remove_member_and_update_group(rules, now_ms, &member_id, replies);
        ErrorCode::None
    }

    /// Kafka's `removeMemberAndUpdateGroup`: parked requests of the member are answered with
    /// UNKNOWN_MEMBER_ID, and the rest of the group rebalances.
    pub(super) fn remove_member_and_update_group(
        &mut self,
        rules: &GroupRules,
        now_ms: i64,
        member_id: &str,
        replies: &mut Vec<Reply>,
    ) {
        let Some(member) = self.remove_member(member_id) else {
            return;
        };
        member.fail_parked(member_id, ErrorCode::UnknownMemberId, replies);
        match self.state {
            GroupState::Dead | GroupState::Empty => {}
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(rules, now_ms, replies);
                self.try_complete_join(now_ms, replies);
            }
            GroupState::PreparingRebalance => self.try_complete_join(now_ms, replies),
        }
    }

    /// Advances time: expires sessions and pending members, ends the initial delay, forces the
    /// join phase past its deadline and drops members that did not sync in time. Called by the
    /// coordinator's timer (every tick) and cheap when nothing is due.
    pub fn tick(&mut self, rules: &GroupRules, now_ms: i64, replies: &mut Vec<Reply>) {
        self.pending_members
            .retain(|_, deadline| *deadline > now_ms);
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|member| {
                !member.awaiting_join
                    && !member.awaiting_sync
                    && member.heartbeat_deadline_ms <= now_ms
            })
            .map(|member| member.member_id.clone())
            .collect();
        for member_id in expired {
            self.remove_member_and_update_group(rules, now_ms, &member_id, replies);
        }
        self.tick_initial_delay(rules, now_ms, replies);
        if self.state == GroupState::PreparingRebalance
            && self
                .join_deadline_ms
                .is_some_and(|deadline| deadline <= now_ms)
        {
            self.complete_join(now_ms, replies);
        } else {
            self.try_complete_join(now_ms, replies);
        }
        if self.state == GroupState::CompletingRebalance
            && self
                .sync_deadline_ms
                .is_some_and(|deadline| deadline <= now_ms)
        {
            self.expire_unsynced(rules, now_ms, replies);
        }
        self.check_invariants();
    }

    pub(super) fn tick_initial_delay(
        &mut self,
        rules: &GroupRules,
        now_ms: i64,
        replies: &mut Vec<Reply>,
    ) {
        let Some(delay) = self.initial_delay else {
            return;
        };
        if delay.check_at_ms > now_ms {
            return;
        }
        if delay.new_member_added && delay.remaining_ms > 0 {
            // Members are still arriving: wait one more delay, within the rebalance timeout.
            let next = rules.initial_rebalance_delay_ms.min(delay.remaining_ms);
            self.initial_delay = Some(InitialDelay {
                check_at_ms: now_ms.saturating_add(next),
                remaining_ms: delay.remaining_ms.saturating_sub(next),
                new_member_added: false,
            });
            return;
        }
        self.initial_delay = None;
        self.complete_join(now_ms, replies);
    }

    /// Kafka's `DelayedSync` expiry: members that never sent SyncGroup are removed and the
    /// rest rebalance (or, if the leader never synced, everyone waiting is told to rejoin).
    pub(super) fn expire_unsynced(
        &mut self,
        rules: &GroupRules,
        now_ms: i64,
        replies: &mut Vec<Reply>,
    ) {
        let unsynced: Vec<String> = self
            .members
            .values()
            .filter(|member| member.awaiting_sync && !member.sync_parked)
            .map(|member| member.member_id.clone())
            .collect();
        for member_id in &unsynced {
            self.remove_member(member_id);
        }
        if self.members.is_empty() {
            // Nobody synced: the next join starts from an empty group.
            self.prepare_rebalance(rules, now_ms, replies);
            self.initial_delay = None;
            self.complete_join(now_ms, replies);
            return;
        }
        self.prepare_rebalance(rules, now_ms, replies);
    }

    /// The next time `tick` has work, if any (the timer may sleep until then).
    #[must_use]
    pub fn next_deadline_ms(&self) -> Option<i64> {
        let members = self
            .members
            .values()
            .filter(|member| !member.awaiting_join && !member.awaiting_sync)
            .map(|member| member.heartbeat_deadline_ms);
        members
            .chain(self.pending_members.values().copied())
            .chain(self.initial_delay.map(|delay| delay.check_at_ms))
            .chain(self.join_deadline_ms)
            .chain(self.sync_deadline_ms)
            .min()
    }

    // ---- Deletion, persistence -----------------------------------------------------------

    /// DeleteGroups for this group: only an Empty group can go (NON_EMPTY_GROUP otherwise).
    pub fn delete(&mut self, now_ms: i64) -> ErrorCode {
        match self.state {
            GroupState::Dead => ErrorCode::GroupIdNotFound,
            GroupState::Empty => {
                self.mark_dead(now_ms);
                ErrorCode::None
            }
            GroupState::PreparingRebalance
            | GroupState::CompletingRebalance
            | GroupState::Stable => ErrorCode::NonEmptyGroup,
        }
    }

    /// Empty → Dead (deletion, or every offset expired).
    ///
    /// # Panics
    /// When the group still has members.
    pub fn mark_dead(&mut self, now_ms: i64) {
        assert!(self.members.is_empty(), "only an empty group dies");
        self.transition(GroupState::Dead, now_ms);
        self.dirty = true;
        self.check_invariants();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may panic
mod tests {
    use super::super::testing::{RULES, join_input, join_reply, stable_pair};
    use super::super::*;
    use crate::protocol::error_code::ErrorCode;

    #[test]
    fn pending_member_expires_after_session_timeout() {
        let mut group = Group::new("g", 0);
        let mut replies = Vec::new();
        let mut input = join_input("", "p");
        input.require_known_member_id = true;
        group.join(&RULES, 0, input, &mut replies);
        assert_eq!(group.next_deadline_ms(), Some(10_000));
        group.tick(&RULES, 10_000, &mut replies);
        assert_eq!(group.next_deadline_ms(), None);
    }

    #[test]
    fn missing_member_is_dropped_at_the_rebalance_deadline() {
        let mut group = stable_pair(0);
        let mut replies = Vec::new();
        group.join(&RULES, 1_000, join_input("a", "-"), &mut replies);
        assert_eq!(group.state(), GroupState::PreparingRebalance);
        // b heartbeats (so its session lives) but never rejoins.
        assert_eq!(
            group.heartbeat(25_000, "b", None, 1),
            ErrorCode::RebalanceInProgress
        );
        group.tick(&RULES, 30_999, &mut replies);
        assert!(replies.is_empty(), "{replies:?}");
        group.tick(&RULES, 31_000, &mut replies);
        let a = join_reply(&replies, "a");
        assert_eq!(a.generation_id, 2);
        assert_eq!(a.members.len(), 1);
        assert!(!group.has_member("b"));
    }

    #[test]
    fn session_expiry_removes_member_and_rebalances() {
        let mut group = stable_pair(0);
        let mut replies = Vec::new();
        assert_eq!(group.heartbeat(9_000, "a", None, 1), ErrorCode::None);
        // b's session (10 s from its sync at 220) ends at 10_220; a's at 19_000.
        group.tick(&RULES, 10_219, &mut replies);
        assert_eq!(group.state(), GroupState::Stable);
        group.tick(&RULES, 10_220, &mut replies);
        assert!(!group.has_member("b"));
        assert_eq!(group.state(), GroupState::PreparingRebalance);
        let Started::Done(a) = group.join(&RULES, 10_300, join_input("a", "-"), &mut replies)
        else {
            panic!("a is the only member left")
        };
        assert_eq!((a.generation_id, a.members.len()), (2, 1));
    }

    #[test]
    fn batched_leave_and_empty_group() {
        let mut group = stable_pair(0);
        let mut replies = Vec::new();
        let leaving = [
            LeaveInput {
                member_id: "a".into(),
                group_instance_id: None,
            },
            LeaveInput {
                member_id: "nope".into(),
                group_instance_id: None,
            },
            LeaveInput {
                member_id: "b".into(),
                group_instance_id: None,
            },
        ];
        let errors = group.leave(&RULES, 500, &leaving, &mut replies);
        assert_eq!(
            errors,
            vec![ErrorCode::None, ErrorCode::UnknownMemberId, ErrorCode::None]
        );
        // The rebalance with nobody left completes into Empty with a new generation.
        assert_eq!(group.state(), GroupState::Empty);
        assert_eq!(group.generation_id(), 2);
        assert_eq!(group.delete(600), ErrorCode::None);
        assert_eq!(group.state(), GroupState::Dead);
        assert_eq!(group.delete(700), ErrorCode::GroupIdNotFound);
    }
}
