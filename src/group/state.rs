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
use crate::protocol::error_code::ErrorCode;
use bytes::Bytes;
use std::collections::BTreeMap;

/// Kafka's group states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// Kafka's name, as DescribeGroups and ListGroups print it.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Empty => "Empty",
            Self::PreparingRebalance => "PreparingRebalance",
            Self::CompletingRebalance => "CompletingRebalance",
            Self::Stable => "Stable",
            Self::Dead => "Dead",
        }
    }
}

/// Group-wide timing and size rules (from config.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupRules {
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group waits
    /// for more members before completing.
    pub initial_rebalance_delay_ms: i64,
    pub session_timeout_ms_min: i32,
    pub session_timeout_ms_max: i32,
    /// `group.max.size`.
    pub members_max: usize,
}

/// One member.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    /// Protocols in the member's order of preference, with their opaque metadata.
    pub protocols: Vec<(String, Bytes)>,
    /// The leader's assignment for this member in the current generation.
    pub assignment: Bytes,
    awaiting_join: bool,
    awaiting_sync: bool,
    /// Sent SyncGroup and waits for the leader's assignment.
    sync_parked: bool,
    /// Session expiry, pushed forward by every heartbeat.
    heartbeat_deadline_ms: i64,
}

impl Member {
    /// Answers this member's parked JoinGroup and SyncGroup (if any) with `error`: it is being
    /// removed or fenced, so nothing else will answer them.
    fn fail_parked(&self, member_id: &str, error: ErrorCode, replies: &mut Vec<Reply>) {
        if self.awaiting_join {
            replies.push(Reply::Join {
                member_id: member_id.to_owned(),
                outcome: JoinOutcome::error(member_id, error),
            });
        }
        if self.awaiting_sync {
            replies.push(Reply::Sync {
                member_id: member_id.to_owned(),
                outcome: SyncOutcome::error(error),
            });
        }
    }

    /// The metadata this member sent for `protocol`.
    #[must_use]
    pub fn metadata(&self, protocol: &str) -> Option<&Bytes> {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, metadata)| metadata)
    }
}

/// A JoinGroup request, resolved.
#[derive(Debug, Clone)]
pub struct JoinInput {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// v4+: an unknown member first gets MEMBER_ID_REQUIRED with its id.
    pub require_known_member_id: bool,
    /// v9+: a rejoining static leader of a stable group gets the members with
    /// `skip_assignment` instead of forcing a rebalance (KIP-814).
    pub supports_skip_assignment: bool,
    /// The id to hand out if this member is new (`client_id-UUID`, made by the caller).
    pub fresh_member_id: String,
}

/// One member as the leader sees it in a JoinGroup answer.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub metadata: Bytes,
}

/// A JoinGroup answer.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinOutcome {
    pub error: ErrorCode,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader_id: String,
    pub member_id: String,
    pub members: Vec<JoinMember>,
    pub skip_assignment: bool,
}

impl JoinOutcome {
    /// An error answer (Kafka's `JoinGroupResult(memberId, error)`).
    #[must_use]
    pub fn error(member_id: &str, error: ErrorCode) -> Self {
        Self {
            error,
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader_id: String::new(),
            member_id: member_id.to_owned(),
            members: Vec::new(),
            skip_assignment: false,
        }
    }
}

/// A SyncGroup request, resolved.
#[derive(Debug, Clone)]
pub struct SyncInput {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// The leader's assignments (empty from followers).
    pub assignments: Vec<(String, Bytes)>,
}

/// A SyncGroup answer.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncOutcome {
    pub error: ErrorCode,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncOutcome {
    #[must_use]
    pub fn error(error: ErrorCode) -> Self {
        Self {
            error,
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

/// An answer to a parked request of `member_id`.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Join {
        member_id: String,
        outcome: JoinOutcome,
    },
    Sync {
        member_id: String,
        outcome: SyncOutcome,
    },
}

/// How a JoinGroup or SyncGroup request proceeds.
#[derive(Debug, Clone, PartialEq)]
pub enum Started<T> {
    /// Answer now.
    Done(T),
    /// Park the request under this member id until a [`Reply`] for it comes back.
    Waiting { member_id: String },
}

/// One entry of a batched LeaveGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveInput {
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

/// The group as persisted in `__consumer_offsets` (Kafka's GroupMetadataValue).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRecord {
    pub protocol_type: String,
    pub generation_id: i32,
    pub protocol_name: Option<String>,
    pub leader_id: Option<String>,
    pub state_timestamp_ms: i64,
    pub members: Vec<MemberRecord>,
}

/// One member as persisted (Kafka's MemberMetadata v3).
#[derive(Debug, Clone, PartialEq)]
pub struct MemberRecord {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// The first rebalance of an empty group waits `initial_rebalance_delay_ms`, and again while
/// new members keep arriving, up to the rebalance timeout (Kafka's `InitialDelayedJoin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct InitialDelay {
    check_at_ms: i64,
    remaining_ms: i64,
    new_member_added: bool,
}

/// One classic group.
#[derive(Debug, Clone)]
pub struct Group {
    group_id: String,
    state: GroupState,
    /// When `state` last changed (offsets of an Empty group expire relative to this).
    state_timestamp_ms: i64,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    generation_id: i32,
    leader_id: Option<String>,
    /// By member id; BTreeMap so leader re-election and answers are deterministic.
    members: BTreeMap<String, Member>,
    /// group.instance.id → member id.
    static_members: BTreeMap<String, String>,
    /// Members told MEMBER_ID_REQUIRED, until they rejoin or their session expires.
    pending_members: BTreeMap<String, i64>,
    initial_delay: Option<InitialDelay>,
    /// PreparingRebalance completes by this time even if some members did not rejoin.
    join_deadline_ms: Option<i64>,
    /// CompletingRebalance: members that did not sync by this time are removed.
    sync_deadline_ms: Option<i64>,
    /// Something persisted changed (membership settled, emptied, died): the coordinator
    /// writes the group record and clears this.
    dirty: bool,
}

impl Group {
    #[must_use]
    pub fn new(group_id: &str, now_ms: i64) -> Self {
        let group = Self {
            group_id: group_id.to_owned(),
            state: GroupState::Empty,
            state_timestamp_ms: now_ms,
            protocol_type: None,
            protocol_name: None,
            generation_id: 0,
            leader_id: None,
            members: BTreeMap::new(),
            static_members: BTreeMap::new(),
            pending_members: BTreeMap::new(),
            initial_delay: None,
            join_deadline_ms: None,
            sync_deadline_ms: None,
            dirty: false,
        };
        group.check_invariants();
        group
    }

    #[must_use]
    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    #[must_use]
    pub fn state(&self) -> GroupState {
        self.state
    }

    #[must_use]
    pub fn state_timestamp_ms(&self) -> i64 {
        self.state_timestamp_ms
    }

    #[must_use]
    pub fn generation_id(&self) -> i32 {
        self.generation_id
    }

    #[must_use]
    pub fn protocol_type(&self) -> Option<&str> {
        self.protocol_type.as_deref()
    }

    #[must_use]
    pub fn protocol_name(&self) -> Option<&str> {
        self.protocol_name.as_deref()
    }

    #[must_use]
    pub fn leader_id(&self) -> Option<&str> {
        self.leader_id.as_deref()
    }

    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    #[must_use]
    pub fn has_member(&self, member_id: &str) -> bool {
        self.members.contains_key(member_id)
    }

    /// Whether a persisted field changed since the last call; clears the flag.
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// # Panics
    /// When an invariant in the module doc does not hold (a bug in this file).
    pub fn check_invariants(&self) {
        if matches!(self.state, GroupState::Empty | GroupState::Dead) {
            assert!(self.members.is_empty(), "{} has members", self.state.name());
        }
        if let Some(leader) = &self.leader_id {
            assert!(
                self.members.contains_key(leader),
                "leader {leader} not a member"
            );
        }
        assert_eq!(self.leader_id.is_none(), self.members.is_empty());
        for (instance, member_id) in &self.static_members {
            let member = self.members.get(member_id);
            assert!(
                member.is_some_and(|member| member.group_instance_id.as_ref() == Some(instance)),
                "static member {instance} → {member_id} is not registered both ways"
            );
        }
        for member in self.members.values() {
            if member.awaiting_join {
                assert_eq!(self.state, GroupState::PreparingRebalance);
            }
            if member.awaiting_sync {
                assert_eq!(self.state, GroupState::CompletingRebalance);
            }
        }
    }

    fn transition(&mut self, state: GroupState, now_ms: i64) {
        let allowed = match state {
            GroupState::Empty => matches!(self.state, GroupState::PreparingRebalance),
            GroupState::PreparingRebalance => matches!(
                self.state,
                GroupState::Empty | GroupState::CompletingRebalance | GroupState::Stable
            ),
            GroupState::CompletingRebalance => self.state == GroupState::PreparingRebalance,
            GroupState::Stable => self.state == GroupState::CompletingRebalance,
            GroupState::Dead => true,
        };
        assert!(allowed, "{} → {}", self.state.name(), state.name());
        self.state = state;
        self.state_timestamp_ms = now_ms;
    }

    // ---- JoinGroup ---------------------------------------------------------------------

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
    fn supports_protocols(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
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

    fn join_new_member(
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

    fn join_known_member(
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
    fn replace_static_member(
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
    fn join_after_static_replace(
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

    fn add_member_and_rebalance(
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

    fn update_member_and_rebalance(
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
    fn park_join(
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
    fn prepare_rebalance(&mut self, rules: &GroupRules, now_ms: i64, replies: &mut Vec<Reply>) {
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
    fn rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|member| i64::from(member.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    fn reset_and_propagate_assignment_error(&mut self, error: ErrorCode, replies: &mut Vec<Reply>) {
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

    fn all_members_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|member| member.awaiting_join)
    }

    /// Completes the join phase when every member rejoined (never during the initial delay,
    /// like Kafka's `InitialDelayedJoin`).
    fn try_complete_join(&mut self, now_ms: i64, replies: &mut Vec<Reply>) {
        if self.state == GroupState::PreparingRebalance
            && self.initial_delay.is_none()
            && self.all_members_joined()
        {
            self.complete_join(now_ms, replies);
        }
    }

    /// Kafka's `onCompleteJoin`: drops members that did not rejoin, starts the next
    /// generation and answers every parked join.
    fn complete_join(&mut self, now_ms: i64, replies: &mut Vec<Reply>) {
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
    fn select_protocol(&self) -> Option<String> {
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

    fn join_answer(&self, member_id: &str, is_leader: bool, skip_assignment: bool) -> JoinOutcome {
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

    fn is_static_member_fenced(&self, instance: Option<&str>, member_id: &str) -> bool {
        instance
            .and_then(|instance| self.static_members.get(instance))
            .is_some_and(|registered| registered != member_id)
    }

    /// Removes a member; a new leader is the first remaining member.
    fn remove_member(&mut self, member_id: &str) -> Option<Member> {
        let member = self.members.remove(member_id)?;
        if let Some(instance) = &member.group_instance_id {
            self.static_members.remove(instance);
        }
        if self.leader_id.as_deref() == Some(member_id) {
            self.leader_id = self.members.keys().next().cloned();
        }
        Some(member)
    }

    // ---- SyncGroup ---------------------------------------------------------------------

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

    fn sync_checked(
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

    fn sync_completing(
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

    fn sync_answer(&self, member_id: &str) -> SyncOutcome {
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

    // ---- Heartbeat, commit checks --------------------------------------------------------

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

    fn leave_one(
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
    fn remove_member_and_update_group(
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

    fn tick_initial_delay(&mut self, rules: &GroupRules, now_ms: i64, replies: &mut Vec<Reply>) {
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
    fn expire_unsynced(&mut self, rules: &GroupRules, now_ms: i64, replies: &mut Vec<Reply>) {
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

    /// The persisted form (Kafka's GroupMetadataValue).
    #[must_use]
    pub fn to_record(&self) -> GroupRecord {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        GroupRecord {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation_id: self.generation_id,
            protocol_name: self.protocol_name.clone(),
            leader_id: self.leader_id.clone(),
            state_timestamp_ms: self.state_timestamp_ms,
            members: self
                .members
                .values()
                .map(|member| MemberRecord {
                    member_id: member.member_id.clone(),
                    group_instance_id: member.group_instance_id.clone(),
                    client_id: member.client_id.clone(),
                    client_host: member.client_host.clone(),
                    rebalance_timeout_ms: member.rebalance_timeout_ms,
                    session_timeout_ms: member.session_timeout_ms,
                    subscription: member.metadata(&protocol).cloned().unwrap_or_default(),
                    assignment: member.assignment.clone(),
                })
                .collect(),
        }
    }

    /// Rebuilds a group from its record when the coordinator loads (Kafka's
    /// `GroupMetadata.loadGroup`): Stable with its members, whose sessions start now, or Empty.
    #[must_use]
    pub fn from_record(group_id: &str, record: GroupRecord, now_ms: i64) -> Self {
        let mut group = Self::new(group_id, record.state_timestamp_ms);
        group.generation_id = record.generation_id;
        group.protocol_type = Some(record.protocol_type).filter(|name| !name.is_empty());
        group.protocol_name.clone_from(&record.protocol_name);
        let protocol = record.protocol_name.unwrap_or_default();
        for member in record.members {
            if let Some(instance) = &member.group_instance_id {
                group
                    .static_members
                    .insert(instance.clone(), member.member_id.clone());
            }
            let loaded = Member {
                member_id: member.member_id.clone(),
                group_instance_id: member.group_instance_id,
                client_id: member.client_id,
                client_host: member.client_host,
                session_timeout_ms: member.session_timeout_ms,
                rebalance_timeout_ms: member.rebalance_timeout_ms,
                protocols: vec![(protocol.clone(), member.subscription)],
                assignment: member.assignment,
                awaiting_join: false,
                awaiting_sync: false,
                sync_parked: false,
                heartbeat_deadline_ms: now_ms.saturating_add(i64::from(member.session_timeout_ms)),
            };
            group.members.insert(member.member_id, loaded);
        }
        if !group.members.is_empty() {
            group.leader_id = record
                .leader_id
                .filter(|leader| group.members.contains_key(leader))
                .or_else(|| group.members.keys().next().cloned());
            group.state = GroupState::Stable;
        }
        group.check_invariants();
        group
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may panic
mod tests {
    use super::*;

    const RULES: GroupRules = GroupRules {
        initial_rebalance_delay_ms: 100,
        session_timeout_ms_min: 1_000,
        session_timeout_ms_max: 60_000,
        members_max: 10,
    };

    fn join_input(member_id: &str, fresh: &str) -> JoinInput {
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

    fn sync_input(member_id: &str, generation_id: i32, assignments: &[(&str, &str)]) -> SyncInput {
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

    fn join_reply(replies: &[Reply], member_id: &str) -> JoinOutcome {
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
    fn stable_pair(now: i64) -> Group {
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

    #[test]
    fn two_members_join_and_sync() {
        let group = stable_pair(1_000);
        assert_eq!(group.generation_id(), 1);
        assert_eq!(group.leader_id(), Some("a"));
    }

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

    #[test]
    fn record_round_trip_restores_a_stable_group() {
        let group = stable_pair(0);
        let record = group.to_record();
        assert_eq!(record.members.len(), 2);
        let mut loaded = Group::from_record("g", record.clone(), 5_000);
        assert_eq!(loaded.state(), GroupState::Stable);
        assert_eq!(loaded.to_record(), record);
        assert_eq!(loaded.heartbeat(5_001, "b", None, 1), ErrorCode::None);
        let empty = Group::from_record(
            "e",
            GroupRecord {
                members: Vec::new(),
                ..record
            },
            0,
        );
        assert_eq!(empty.state(), GroupState::Empty);
    }
}
