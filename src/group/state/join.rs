//! JoinGroup (Kafka's `handleJoinGroup`): new, known and static members, protocol checks,
//! parking the join until the rebalance completes, the initial delay, and completing the join
//! (generation bump, leader choice, protocol vote, the answers to every parked member). Pure;
//! runs on the group's coordinator shard.
use super::types::{
    Group, GroupRules, GroupState, InitialDelay, JoinInput, JoinMember, JoinOutcome, Member, Reply,
    Started, SyncOutcome,
};
use crate::protocol::error_code::ErrorCode;
use bytes::Bytes;

impl Group {
    /// JoinGroup (Kafka's `handleJoinGroup`). The answer is either immediate or parked until
    /// the rebalance completes; `replies` go to other parked requests.
    pub fn join(
        &mut self,
        rules: &GroupRules,
        now_ms: i64,
        input: JoinInput,
        replies: &mut Vec<Reply>,
    ) -> Started<JoinOutcome> {
        let done = |error| Started::Done(JoinOutcome::error(&input.member_id, error));
        if input.session_timeout_ms < rules.session_timeout_ms_min
            || input.session_timeout_ms > rules.session_timeout_ms_max
        {
            return done(ErrorCode::InvalidSessionTimeout);
        }
        if self.state == GroupState::Dead {
            // Deleted while this request was routed: the client looks the coordinator up again.
            return done(ErrorCode::CoordinatorNotAvailable);
        }
        if !self.supports_protocols(&input.protocol_type, &input.protocols) {
            return done(ErrorCode::InconsistentGroupProtocol);
        }
        let started = if input.member_id.is_empty() {
            self.join_new_member(rules, now_ms, input, replies)
        } else {
            self.join_known_member(rules, now_ms, input, replies)
        };
        self.check_invariants();
        started
    }

    /// Kafka's `supportsProtocols`: a first member needs a type and a protocol; later ones
    /// must match the type and share at least one protocol with every member.
    pub(super) fn supports_protocols(
        &self,
        protocol_type: &str,
        protocols: &[(String, Bytes)],
    ) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols.iter().any(|(name, _)| {
                self.members
                    .values()
                    .all(|member| member.metadata(name).is_some())
            })
    }

    pub(super) fn join_new_member(
        &mut self,
        rules: &GroupRules,
        now_ms: i64,
        input: JoinInput,
        replies: &mut Vec<Reply>,
    ) -> Started<JoinOutcome> {
        let member_id = input.fresh_member_id.clone();
        assert!(!member_id.is_empty(), "the caller makes a fresh member id");
        if let Some(instance) = input.group_instance_id.clone() {
            if let Some(old_member_id) = self.static_members.get(&instance).cloned() {
                return self.replace_static_member(rules, now_ms, input, &old_member_id, replies);
            }
        } else if input.require_known_member_id {
            if self.members.len() + self.pending_members.len() >= rules.members_max {
                return Started::Done(JoinOutcome::error("", ErrorCode::GroupMaxSizeReached));
            }
            let deadline = now_ms.saturating_add(i64::from(input.session_timeout_ms));
            self.pending_members.insert(member_id.clone(), deadline);
            return Started::Done(JoinOutcome::error(&member_id, ErrorCode::MemberIdRequired));
        }
        if self.members.len() >= rules.members_max {
            return Started::Done(JoinOutcome::error("", ErrorCode::GroupMaxSizeReached));
        }
        self.add_member_and_rebalance(rules, now_ms, member_id, input, replies)
    }

    pub(super) fn join_known_member(
        &mut self,
        rules: &GroupRules,
        now_ms: i64,
        input: JoinInput,
        replies: &mut Vec<Reply>,
    ) -> Started<JoinOutcome> {
        let member_id = input.member_id.clone();
        let done = |error| Started::Done(JoinOutcome::error(&member_id, error));
        if self.pending_members.remove(&member_id).is_some() {
            if input.group_instance_id.is_some() || self.members.len() >= rules.members_max {
                return done(ErrorCode::UnknownMemberId);
            }
            return self.add_member_and_rebalance(rules, now_ms, member_id.clone(), input, replies);
        }
        if self.is_static_member_fenced(input.group_instance_id.as_deref(), &member_id) {
            return done(ErrorCode::FencedInstanceId);
        }
        let Some(member) = self.members.get(&member_id) else {
            return done(ErrorCode::UnknownMemberId);
        };
        let same_protocols = member.protocols == input.protocols;
        let is_leader = self.leader_id.as_deref() == Some(member_id.as_str());
        match self.state {
            GroupState::CompletingRebalance if same_protocols => {
                // A retry of a join whose answer was lost: answer with this generation again.
                Started::Done(self.join_answer(&member_id, is_leader, false))
            }
            GroupState::Stable if same_protocols && !is_leader => {
                Started::Done(self.join_answer(&member_id, false, false))
            }
            GroupState::PreparingRebalance
            | GroupState::CompletingRebalance
            | GroupState::Stable => {
                self.update_member_and_rebalance(rules, now_ms, &input, replies)
            }
            GroupState::Empty | GroupState::Dead => done(ErrorCode::UnknownMemberId),
        }
    }

    /// A static member rejoined without its member id (a restart): the new id replaces the
    /// old, and a request still parked under the old id is fenced.
    pub(super) fn replace_static_member(
        &mut self,
        rules: &GroupRules,
        now_ms: i64,
        input: JoinInput,
        old_member_id: &str,
        replies: &mut Vec<Reply>,
    ) -> Started<JoinOutcome> {
        let Some(mut member) = self.members.remove(old_member_id) else {
            return Started::Done(JoinOutcome::error("", ErrorCode::UnknownMemberId));
        };
        member.fail_parked(old_member_id, ErrorCode::FencedInstanceId, replies);
        let new_member_id = input.fresh_member_id.clone();
        let same_protocols = member.protocols == input.protocols;
        member.member_id.clone_from(&new_member_id);
        member.awaiting_join = false;
        member.awaiting_sync = false;
        member.sync_parked = false;
        member.heartbeat_deadline_ms = now_ms.saturating_add(i64::from(input.session_timeout_ms));
        self.members.insert(new_member_id.clone(), member);
        if let Some(instance) = &input.group_instance_id {
            self.static_members
                .insert(instance.clone(), new_member_id.clone());
        }
        let was_leader = self.leader_id.as_deref() == Some(old_member_id);
        if was_leader {
            self.leader_id = Some(new_member_id.clone());
        }
        self.join_after_static_replace(
            rules,
            now_ms,
            input,
            &new_member_id,
            same_protocols,
            was_leader,
            replies,
        )
    }

    #[allow(clippy::too_many_arguments)] // the pieces of one static-member replacement
    pub(super) fn join_after_static_replace(
        &mut self,
        rules: &GroupRules,
        now_ms: i64,
        mut input: JoinInput,
        member_id: &str,
        same_protocols: bool,
        is_leader: bool,
        replies: &mut Vec<Reply>,
    ) -> Started<JoinOutcome> {
        member_id.clone_into(&mut input.member_id);
        let stable_without_change = self.state == GroupState::Stable
            && same_protocols
            && (!is_leader || input.supports_skip_assignment);
        if stable_without_change {
            // KIP-345: a static restart with unchanged subscription does not rebalance; a v9
            // leader gets the members back with skip_assignment (KIP-814).
            return Started::Done(self.join_answer(member_id, is_leader, is_leader));
        }
        // Stable with a change, CompletingRebalance or PreparingRebalance: the member (already
        // present under its new id) rejoins as a current member would.
        self.update_member_and_rebalance(rules, now_ms, &input, replies)
    }

    pub(super) fn add_member_and_rebalance(
        &mut self,
        rules: &GroupRules,
        now_ms: i64,
        member_id: String,
        input: JoinInput,
        replies: &mut Vec<Reply>,
    ) -> Started<JoinOutcome> {
        if self.members.is_empty() {
            self.protocol_type = Some(input.protocol_type.clone());
        }
        let member = Member {
            member_id: member_id.clone(),
            group_instance_id: input.group_instance_id.clone(),
            client_id: input.client_id,
            client_host: input.client_host,
            session_timeout_ms: input.session_timeout_ms,
            rebalance_timeout_ms: input.rebalance_timeout_ms,
            protocols: input.protocols,
            assignment: Bytes::new(),
            awaiting_join: false,
            awaiting_sync: false,
            sync_parked: false,
            heartbeat_deadline_ms: now_ms.saturating_add(i64::from(input.session_timeout_ms)),
        };
        if self.leader_id.is_none() {
            self.leader_id = Some(member_id.clone());
        }
        if let Some(instance) = input.group_instance_id {
            self.static_members.insert(instance, member_id.clone());
        }
        self.members.insert(member_id.clone(), member);
        if let Some(delay) = &mut self.initial_delay {
            delay.new_member_added = true;
        }
        self.park_join(rules, now_ms, &member_id, replies)
    }

    pub(super) fn update_member_and_rebalance(
        &mut self,
        rules: &GroupRules,
        now_ms: i64,
        input: &JoinInput,
        replies: &mut Vec<Reply>,
    ) -> Started<JoinOutcome> {
        let member_id = input.member_id.clone();
        if let Some(member) = self.members.get_mut(&member_id) {
            member.protocols.clone_from(&input.protocols);
            member.session_timeout_ms = input.session_timeout_ms;
            member.rebalance_timeout_ms = input.rebalance_timeout_ms;
            // A join already parked for this member is superseded: the coordinator replaces
            // its waiter (as Kafka overwrites `awaitingJoinCallback`).
        }
        self.park_join(rules, now_ms, &member_id, replies)
    }

    /// Marks `member_id` as awaiting join, starts a rebalance if none runs, and completes it
    /// if everyone is in.
    pub(super) fn park_join(
        &mut self,
        rules: &GroupRules,
        now_ms: i64,
        member_id: &str,
        replies: &mut Vec<Reply>,
    ) -> Started<JoinOutcome> {
        if self.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(rules, now_ms, replies);
        }
        if let Some(member) = self.members.get_mut(member_id) {
            member.awaiting_join = true;
        }
        self.try_complete_join(now_ms, replies);
        let answered = replies.iter().position(
            |reply| matches!(reply, Reply::Join { member_id: id, .. } if id == member_id),
        );
        // The join just completed and answered this member: hand its answer back directly.
        match answered.map(|index| replies.remove(index)) {
            Some(Reply::Join { outcome, .. }) => Started::Done(outcome),
            _ => Started::Waiting {
                member_id: member_id.to_owned(),
            },
        }
    }

    /// Kafka's `prepareRebalance`: members parked in SyncGroup learn of the new rebalance, and
    /// the join phase gets its deadline (the initial delay for an empty group).
    pub(super) fn prepare_rebalance(
        &mut self,
        rules: &GroupRules,
        now_ms: i64,
        replies: &mut Vec<Reply>,
    ) {
        if self.state == GroupState::CompletingRebalance {
            self.reset_and_propagate_assignment_error(ErrorCode::RebalanceInProgress, replies);
        }
        let rebalance_timeout_ms = self.rebalance_timeout_ms();
        if self.state == GroupState::Empty {
            let delay = rules.initial_rebalance_delay_ms.min(rebalance_timeout_ms);
            self.initial_delay = Some(InitialDelay {
                check_at_ms: now_ms.saturating_add(delay),
                remaining_ms: rebalance_timeout_ms.saturating_sub(delay).max(0),
                new_member_added: false,
            });
            self.join_deadline_ms = None;
        } else {
            self.initial_delay = None;
            self.join_deadline_ms = Some(now_ms.saturating_add(rebalance_timeout_ms));
        }
        self.sync_deadline_ms = None;
        self.transition(GroupState::PreparingRebalance, now_ms);
    }

    /// The longest rebalance timeout among members (Kafka's `rebalanceTimeoutMs`).
    pub(super) fn rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|member| i64::from(member.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    pub(super) fn reset_and_propagate_assignment_error(
        &mut self,
        error: ErrorCode,
        replies: &mut Vec<Reply>,
    ) {
        for member in self.members.values_mut() {
            member.assignment = Bytes::new();
            member.sync_parked = false;
            if std::mem::take(&mut member.awaiting_sync) {
                replies.push(Reply::Sync {
                    member_id: member.member_id.clone(),
                    outcome: SyncOutcome::error(error),
                });
            }
        }
    }

    pub(super) fn all_members_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|member| member.awaiting_join)
    }

    /// Completes the join phase when every member rejoined (never during the initial delay,
    /// like Kafka's `InitialDelayedJoin`).
    pub(super) fn try_complete_join(&mut self, now_ms: i64, replies: &mut Vec<Reply>) {
        if self.state == GroupState::PreparingRebalance
            && self.initial_delay.is_none()
            && self.all_members_joined()
        {
            self.complete_join(now_ms, replies);
        }
    }

    /// Kafka's `onCompleteJoin`: drops members that did not rejoin, starts the next
    /// generation and answers every parked join.
    pub(super) fn complete_join(&mut self, now_ms: i64, replies: &mut Vec<Reply>) {
        assert_eq!(self.state, GroupState::PreparingRebalance);
        let absent: Vec<String> = self
            .members
            .values()
            .filter(|member| !member.awaiting_join)
            .map(|member| member.member_id.clone())
            .collect();
        for member_id in absent {
            self.remove_member(&member_id);
        }
        self.initial_delay = None;
        self.join_deadline_ms = None;
        self.generation_id = self.generation_id.wrapping_add(1).max(1);
        self.dirty = true;
        if self.members.is_empty() {
            self.protocol_name = None;
            self.transition(GroupState::Empty, now_ms);
            return;
        }
        self.protocol_name = self.select_protocol();
        self.transition(GroupState::CompletingRebalance, now_ms);
        let sync_timeout_ms = self.rebalance_timeout_ms();
        self.sync_deadline_ms = Some(now_ms.saturating_add(sync_timeout_ms));
        let leader = self.leader_id.clone();
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for member_id in ids {
            let is_leader = leader.as_deref() == Some(member_id.as_str());
            let outcome = self.join_answer(&member_id, is_leader, false);
            if let Some(member) = self.members.get_mut(&member_id) {
                member.awaiting_join = false;
                member.awaiting_sync = true;
                member.heartbeat_deadline_ms =
                    now_ms.saturating_add(i64::from(member.session_timeout_ms));
            }
            replies.push(Reply::Join { member_id, outcome });
        }
    }

    /// Kafka's `selectProtocol`: among protocols every member supports, each member votes for
    /// its first choice; most votes wins, ties go to the leader's order.
    pub(super) fn select_protocol(&self) -> Option<String> {
        let first = self
            .leader_id
            .as_ref()
            .and_then(|leader| self.members.get(leader))?;
        let candidates: Vec<&String> = first
            .protocols
            .iter()
            .map(|(name, _)| name)
            .filter(|name| self.members.values().all(|m| m.metadata(name).is_some()))
            .collect();
        let votes = |candidate: &String| {
            self.members
                .values()
                .filter(|member| {
                    member
                        .protocols
                        .iter()
                        .map(|(name, _)| name)
                        .find(|name| candidates.contains(name))
                        == Some(candidate)
                })
                .count()
        };
        let mut best: Option<(&String, usize)> = None;
        for candidate in &candidates {
            let count = votes(candidate);
            if best.is_none_or(|(_, most)| count > most) {
                best = Some((candidate, count));
            }
        }
        best.map(|(name, _)| name.clone())
    }

    pub(super) fn join_answer(
        &self,
        member_id: &str,
        is_leader: bool,
        skip_assignment: bool,
    ) -> JoinOutcome {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let members = if is_leader {
            self.members
                .values()
                .map(|member| JoinMember {
                    member_id: member.member_id.clone(),
                    group_instance_id: member.group_instance_id.clone(),
                    metadata: member.metadata(&protocol).cloned().unwrap_or_default(),
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinOutcome {
            error: ErrorCode::None,
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader_id: self.leader_id.clone().unwrap_or_default(),
            member_id: member_id.to_owned(),
            members,
            skip_assignment,
        }
    }

    pub(super) fn is_static_member_fenced(&self, instance: Option<&str>, member_id: &str) -> bool {
        instance
            .and_then(|instance| self.static_members.get(instance))
            .is_some_and(|registered| registered != member_id)
    }

    /// Removes a member; a new leader is the first remaining member.
    pub(super) fn remove_member(&mut self, member_id: &str) -> Option<Member> {
        let member = self.members.remove(member_id)?;
        if let Some(instance) = &member.group_instance_id {
            self.static_members.remove(instance);
        }
        if self.leader_id.as_deref() == Some(member_id) {
            self.leader_id = self.members.keys().next().cloned();
        }
        Some(member)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may panic
mod tests {
    use super::super::testing::{RULES, join_input, join_reply, stable_pair, sync_input};
    use super::super::*;
    use crate::protocol::error_code::ErrorCode;
    use bytes::Bytes;

    #[test]
    fn member_id_required_then_join() {
        let mut group = Group::new("g", 0);
        let mut replies = Vec::new();
        let mut input = join_input("", "fresh-1");
        input.require_known_member_id = true;
        let first = group.join(&RULES, 0, input.clone(), &mut replies);
        let Started::Done(outcome) = first else {
            panic!()
        };
        assert_eq!(outcome.error, ErrorCode::MemberIdRequired);
        assert_eq!(outcome.member_id, "fresh-1");
        assert_eq!(group.state(), GroupState::Empty);
        input.member_id = "fresh-1".into();
        input.fresh_member_id = "unused".into();
        let second = group.join(&RULES, 5, input, &mut replies);
        assert_eq!(
            second,
            Started::Waiting {
                member_id: "fresh-1".into()
            }
        );
        group.tick(&RULES, 105, &mut replies);
        assert_eq!(join_reply(&replies, "fresh-1").generation_id, 1);
        // A made-up id is unknown.
        let mut stranger = join_input("nobody", "x");
        stranger.require_known_member_id = true;
        let Started::Done(outcome) = group.join(&RULES, 106, stranger, &mut replies) else {
            panic!()
        };
        assert_eq!(outcome.error, ErrorCode::UnknownMemberId);
    }

    #[test]
    fn third_member_triggers_rebalance_and_everyone_rejoins() {
        let mut group = stable_pair(0);
        let mut replies = Vec::new();
        let c = group.join(&RULES, 1_000, join_input("", "c"), &mut replies);
        assert_eq!(
            c,
            Started::Waiting {
                member_id: "c".into()
            }
        );
        assert_eq!(group.state(), GroupState::PreparingRebalance);
        assert_eq!(
            group.heartbeat(1_001, "a", None, 1),
            ErrorCode::RebalanceInProgress
        );
        assert_eq!(group.check_commit(1_001, "b", None, 1), ErrorCode::None);
        assert_eq!(
            group.join(&RULES, 1_002, join_input("a", "-"), &mut replies),
            Started::Waiting {
                member_id: "a".into()
            }
        );
        // The last member in completes the join at once (no initial delay: not Empty).
        let Started::Done(b) = group.join(&RULES, 1_003, join_input("b", "-"), &mut replies) else {
            panic!("the last joiner is answered directly")
        };
        assert_eq!(b.generation_id, 2);
        assert_eq!(join_reply(&replies, "a").members.len(), 3);
        assert_eq!(join_reply(&replies, "c").leader_id, "a");
        assert_eq!(group.state(), GroupState::CompletingRebalance);
        // Commits during CompletingRebalance are refused, as in Kafka.
        assert_eq!(
            group.check_commit(1_004, "b", None, 2),
            ErrorCode::RebalanceInProgress
        );
    }

    #[test]
    fn static_member_restart_fences_the_old_id_without_rebalance() {
        let mut group = Group::new("g", 0);
        let mut replies = Vec::new();
        let mut a = join_input("", "a1");
        a.group_instance_id = Some("ia".into());
        let mut b = join_input("", "b1");
        b.group_instance_id = Some("ib".into());
        group.join(&RULES, 0, a.clone(), &mut replies);
        group.join(&RULES, 0, b.clone(), &mut replies);
        group.tick(&RULES, 100, &mut replies);
        group.tick(&RULES, 200, &mut replies);
        group.sync(
            210,
            SyncInput {
                group_instance_id: Some("ib".into()),
                ..sync_input("b1", 1, &[])
            },
            &mut replies,
        );
        group.sync(
            210,
            sync_input("a1", 1, &[("a1", "x"), ("b1", "y")]),
            &mut replies,
        );
        assert_eq!(group.state(), GroupState::Stable);
        replies.clear();
        // b restarts: same instance id, no member id.
        b.fresh_member_id = "b2".into();
        let Started::Done(outcome) = group.join(&RULES, 300, b, &mut replies) else {
            panic!("unchanged static follower answers at once")
        };
        assert_eq!(
            (outcome.error, outcome.member_id.as_str()),
            (ErrorCode::None, "b2")
        );
        assert_eq!(outcome.generation_id, 1);
        assert_eq!(group.state(), GroupState::Stable);
        assert_eq!(
            group.heartbeat(301, "b1", Some("ib"), 1),
            ErrorCode::FencedInstanceId
        );
        assert_eq!(group.heartbeat(301, "b2", Some("ib"), 1), ErrorCode::None);
        let Started::Done(sync) = group.sync(
            302,
            SyncInput {
                group_instance_id: Some("ib".into()),
                ..sync_input("b2", 1, &[])
            },
            &mut replies,
        ) else {
            panic!()
        };
        assert_eq!(sync.assignment, Bytes::from_static(b"y"));
        // Leaving by instance id with a stale member id is fenced; with the right one it works.
        let stale = [LeaveInput {
            member_id: "b1".into(),
            group_instance_id: Some("ib".into()),
        }];
        assert_eq!(
            group.leave(&RULES, 303, &stale, &mut replies),
            vec![ErrorCode::FencedInstanceId]
        );
        let by_instance = [LeaveInput {
            member_id: String::new(),
            group_instance_id: Some("ib".into()),
        }];
        assert_eq!(
            group.leave(&RULES, 304, &by_instance, &mut replies),
            vec![ErrorCode::None]
        );
        assert!(!group.has_member("b2"));
    }

    #[test]
    fn protocol_selection_by_votes() {
        let mut group = Group::new("g", 0);
        let mut replies = Vec::new();
        let both = |first: &str, second: &str| {
            vec![
                (first.to_owned(), Bytes::from_static(b"1")),
                (second.to_owned(), Bytes::new()),
            ]
        };
        let mut a = join_input("", "a");
        a.protocols = both("range", "roundrobin");
        let mut b = join_input("", "b");
        b.protocols = both("roundrobin", "range");
        let mut c = join_input("", "c");
        c.protocols = vec![
            ("roundrobin".into(), Bytes::new()),
            ("sticky".into(), Bytes::new()),
        ];
        group.join(&RULES, 0, a, &mut replies);
        group.join(&RULES, 0, b, &mut replies);
        group.join(&RULES, 0, c, &mut replies);
        for now in [100, 200, 300] {
            group.tick(&RULES, now, &mut replies);
        }
        assert_eq!(group.protocol_name(), Some("roundrobin"));
        assert_eq!(
            join_reply(&replies, "a").protocol_name.as_deref(),
            Some("roundrobin")
        );
    }
}
