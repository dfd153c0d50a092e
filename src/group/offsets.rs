//! One group's committed offsets and when they expire (Kafka's KIP-211 rules).
//!
//! Pure; runs on the group's coordinator shard. Invariant: at most
//! [`crate::limits::GROUP_OFFSETS_MAX`] partitions per group (a commit past it is refused by
//! the coordinator before it is written).
use super::log::OffsetValue;
use super::state::GroupState;
use std::collections::BTreeMap;

/// A partition of a topic, by name (commits name topics, not ids).
pub type TopicPartition = (String, i32);

/// Committed offsets of one group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupOffsets {
    offsets: BTreeMap<TopicPartition, OffsetValue>,
}

/// What expiry looks at besides the offsets themselves.
#[derive(Debug, Clone, Copy)]
pub struct ExpiryContext {
    pub now_ms: i64,
    pub retention_ms: i64,
    pub state: GroupState,
    pub state_timestamp_ms: i64,
    /// Whether the group ever had members (a protocol type); standalone committers do not.
    pub has_protocol_type: bool,
}

impl GroupOffsets {
    #[must_use]
    pub fn get(&self, topic: &str, partition: i32) -> Option<&OffsetValue> {
        self.offsets.get(&(topic.to_owned(), partition))
    }

    pub fn insert(&mut self, topic: &str, partition: i32, value: OffsetValue) {
        self.offsets.insert((topic.to_owned(), partition), value);
    }

    pub fn remove(&mut self, topic: &str, partition: i32) -> Option<OffsetValue> {
        self.offsets.remove(&(topic.to_owned(), partition))
    }

    #[must_use]
    /// Removes every partition of `topic`; returns the partitions removed, ascending.
    pub fn remove_topic(&mut self, topic: &str) -> Vec<i32> {
        let start = (topic.to_owned(), i32::MIN);
        let partitions: Vec<i32> = self
            .offsets
            .range(start..)
            .take_while(|((name, _), _)| name == topic)
            .map(|((_, partition), _)| *partition)
            .collect();
        for partition in &partitions {
            self.offsets.remove(&(topic.to_owned(), *partition));
        }
        partitions
    }

    pub fn contains(&self, topic: &str, partition: i32) -> bool {
        self.offsets.contains_key(&(topic.to_owned(), partition))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&TopicPartition, &OffsetValue)> {
        self.offsets.iter()
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// Partitions whose offsets expired (Kafka's `cleanupGroupMetadata`): for a group that
    /// had members, all of them once it has been Empty for the retention period; for a
    /// standalone committer, each once it was committed longer ago than the retention.
    #[must_use]
    pub fn expired(&self, context: &ExpiryContext) -> Vec<TopicPartition> {
        let expired_since =
            |base_ms: i64| base_ms.saturating_add(context.retention_ms) <= context.now_ms;
        if context.has_protocol_type {
            if context.state != GroupState::Empty || !expired_since(context.state_timestamp_ms) {
                return Vec::new();
            }
            return self.offsets.keys().cloned().collect();
        }
        self.offsets
            .iter()
            .filter(|(_, value)| expired_since(value.commit_timestamp_ms))
            .map(|(key, _)| key.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(commit_timestamp_ms: i64) -> OffsetValue {
        OffsetValue {
            offset: 1,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp_ms,
        }
    }

    #[test]
    fn remove_topic_takes_every_partition_of_that_topic_only() {
        let mut offsets = GroupOffsets::default();
        for (topic, partition) in [("a", 0), ("ab", 1), ("b", -1), ("b", 0), ("b", 7), ("c", 2)] {
            offsets.insert(topic, partition, value(1));
        }
        assert_eq!(offsets.remove_topic("b"), vec![-1, 0, 7]);
        assert_eq!(offsets.len(), 3);
        assert!(offsets.contains("ab", 1) && offsets.contains("a", 0) && offsets.contains("c", 2));
        assert!(offsets.remove_topic("b").is_empty());
        assert!(offsets.remove_topic("missing").is_empty());
    }

    #[test]
    fn consumer_group_offsets_expire_only_when_empty_long_enough() {
        let mut offsets = GroupOffsets::default();
        offsets.insert("t", 0, value(0));
        offsets.insert("t", 1, value(500));
        let mut context = ExpiryContext {
            now_ms: 10_000,
            retention_ms: 1_000,
            state: GroupState::Stable,
            state_timestamp_ms: 0,
            has_protocol_type: true,
        };
        assert!(
            offsets.expired(&context).is_empty(),
            "stable groups keep offsets"
        );
        context.state = GroupState::Empty;
        context.state_timestamp_ms = 9_500;
        assert!(
            offsets.expired(&context).is_empty(),
            "empty for only 500 ms"
        );
        context.state_timestamp_ms = 9_000;
        assert_eq!(offsets.expired(&context).len(), 2);
    }

    #[test]
    fn standalone_offsets_expire_by_commit_time() {
        let mut offsets = GroupOffsets::default();
        offsets.insert("t", 0, value(0));
        offsets.insert("t", 1, value(9_500));
        let context = ExpiryContext {
            now_ms: 10_000,
            retention_ms: 1_000,
            state: GroupState::Empty,
            state_timestamp_ms: 0,
            has_protocol_type: false,
        };
        assert_eq!(offsets.expired(&context), vec![("t".to_owned(), 0)]);
        assert!(offsets.remove("t", 0).is_some());
        assert_eq!(offsets.len(), 1);
    }
}
