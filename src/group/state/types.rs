//! The vocabulary of a classic group and the [`Group`] itself: its states, the group-wide
//! rules, members, the resolved JoinGroup/SyncGroup/LeaveGroup inputs and their answers, the
//! persisted records, and the group's fields with its invariants and state transitions. The
//! operations live beside it (`join.rs`, `sync.rs`, `membership.rs`, `records.rs`). Pure; runs
//! on the group's coordinator shard.
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
    pub(super) awaiting_join: bool,
    pub(super) awaiting_sync: bool,
    /// Sent SyncGroup and waits for the leader's assignment.
    pub(super) sync_parked: bool,
    /// Session expiry, pushed forward by every heartbeat.
    pub(super) heartbeat_deadline_ms: i64,
}

impl Member {
    /// Answers this member's parked JoinGroup and SyncGroup (if any) with `error`: it is being
    /// removed or fenced, so nothing else will answer them.
    pub(super) fn fail_parked(&self, member_id: &str, error: ErrorCode, replies: &mut Vec<Reply>) {
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
pub(super) struct InitialDelay {
    pub(super) check_at_ms: i64,
    pub(super) remaining_ms: i64,
    pub(super) new_member_added: bool,
}

/// One classic group.
#[derive(Debug, Clone)]
pub struct Group {
    pub(super) group_id: String,
    pub(super) state: GroupState,
    /// When `state` last changed (offsets of an Empty group expire relative to this).
    pub(super) state_timestamp_ms: i64,
    pub(super) protocol_type: Option<String>,
    pub(super) protocol_name: Option<String>,
    pub(super) generation_id: i32,
    pub(super) leader_id: Option<String>,
    /// By member id; BTreeMap so leader re-election and answers are deterministic.
    pub(super) members: BTreeMap<String, Member>,
    /// group.instance.id → member id.
    pub(super) static_members: BTreeMap<String, String>,
    /// Members told MEMBER_ID_REQUIRED, until they rejoin or their session expires.
    pub(super) pending_members: BTreeMap<String, i64>,
    pub(super) initial_delay: Option<InitialDelay>,
    /// PreparingRebalance completes by this time even if some members did not rejoin.
    pub(super) join_deadline_ms: Option<i64>,
    /// CompletingRebalance: members that did not sync by this time are removed.
    pub(super) sync_deadline_ms: Option<i64>,
    /// Something persisted changed (membership settled, emptied, died): the coordinator
    /// writes the group record and clears this.
    pub(super) dirty: bool,
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

    pub(super) fn transition(&mut self, state: GroupState, now_ms: i64) {
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
}
