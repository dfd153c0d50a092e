//! The persisted form of a group (Kafka's GroupMetadataValue in `__consumer_offsets`): taking a
//! settled group's record, and rebuilding a group from one on load. The encoding of the record
//! is `group/log.rs`'s. Pure; runs on the group's coordinator shard.
use super::types::{Group, GroupRecord, GroupState, Member, MemberRecord};

impl Group {
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
    use super::super::testing::stable_pair;
    use super::super::*;
    use crate::protocol::error_code::ErrorCode;

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
