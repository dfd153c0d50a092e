//! The metadata state machine: applying records, replaying them, snapshot and restore.
//!
//! Pure and deterministic: the same records applied to the same state give the same state on
//! every broker, which is what lets the Raft log replicate metadata as records. `apply` checks
//! structure only — the invariants of `ClusterMetadata` (unique valid names, unique non-zero
//! ids, partition counts in bounds and only growing). Policy (name collisions, config names and
//! values) is checked once, when the controller decides to write a record
//! (`cluster::decisions`), never on replay: a log written under older rules must still replay.
//!
//! A refused record leaves the state unchanged: every check runs before the first mutation.
//! Runs on whichever shard applies records (shard 0 today).
use super::records::MetadataRecord;
use super::{ClusterMetadata, MetadataError, TopicMetadata};
use crate::cluster::quotas::QuotaKey;
use crate::cluster::topic_name;
use crate::limits::PARTITIONS_PER_TOPIC_MAX;
use crate::protocol::Uuid;
use std::sync::Arc;

impl ClusterMetadata {
    /// The state after `record`, one version later.
    ///
    /// # Errors
    /// The record does not fit this state (see [`Self::apply_in_place`]).
    pub fn apply(&self, record: &MetadataRecord) -> Result<Self, MetadataError> {
        let mut next = self.clone();
        next.apply_in_place(record)?;
        Ok(next)
    }

    /// The state after all of `records`, or an error and no state: a change made of several
    /// records happens whole or not at all.
    ///
    /// # Errors
    /// The first record that does not fit.
    pub fn apply_all(&self, records: &[MetadataRecord]) -> Result<Self, MetadataError> {
        let mut next = self.clone();
        for record in records {
            next.apply_in_place(record)?;
        }
        let added = u64::try_from(records.len()).unwrap_or(u64::MAX);
        assert_eq!(next.version, self.version + added, "one version per record");
        Ok(next)
    }

    /// Applies `record` to `self` and counts it in `version`.
    ///
    /// # Errors
    /// `UnknownTopicId`, `TopicIdTaken`, `TopicAlreadyExists`, `InvalidTopicName`,
    /// `InvalidPartitionCount`, `PartitionsCannotShrink`, `Cluster` (broker, partition and
    /// producer-id records); `self` is then unchanged.
    ///
    /// # Panics
    /// In debug builds, when the result breaks an invariant (a bug in these checks).
    pub fn apply_in_place(&mut self, record: &MetadataRecord) -> Result<(), MetadataError> {
        let version = self.version;
        match record {
            MetadataRecord::TopicCreated {
                topic_id,
                name,
                partition_count,
                configs,
            } => self.create_topic(TopicMetadata {
                name: name.clone(),
                topic_id: *topic_id,
                partition_count: *partition_count,
                configs: configs.clone(),
            })?,
            MetadataRecord::TopicRemoved { topic_id } => self.remove_topic(*topic_id)?,
            MetadataRecord::PartitionsAdded {
                topic_id,
                partition_count,
            } => self.add_partitions(*topic_id, *partition_count)?,
            MetadataRecord::TopicConfigsSet { topic_id, configs } => {
                let name = self.name_of(*topic_id)?;
                if let Some(topic) = self.topics.get_mut(&name) {
                    Arc::make_mut(topic).configs.clone_from(configs);
                }
            }
            MetadataRecord::BrokerConfigsSet { configs } => {
                self.broker_configs.clone_from(configs);
            }
            MetadataRecord::AclCreated { acl_id, binding } => {
                Arc::make_mut(&mut self.acls).insert(*acl_id, binding.clone())?;
            }
            MetadataRecord::AclRemoved { acl_id } => {
                Arc::make_mut(&mut self.acls).remove(*acl_id)?;
            }
            MetadataRecord::ClientQuota { entity, key, value } => {
                let value = value.map(|value| value.0);
                Arc::make_mut(&mut self.client_quotas).set(entity, *key, value)?;
            }
            other => self.apply_cluster_record(other)?,
        }
        self.version = version + 1;
        // O(topics): a full check per record would make replay quadratic in release builds.
        if cfg!(debug_assertions) {
            self.check_invariants();
        }
        Ok(())
    }

    /// The records that rebuild this state from the empty one, in a fixed order (brokers by
    /// node id, producer-id blocks by first id, topics by name, each followed by its recorded
    /// partitions): the content of a snapshot.
    #[must_use]
    pub fn snapshot_records(&self) -> Vec<MetadataRecord> {
        let mut records = self.broker_snapshot_records();
        for topic in self.topics.values() {
            records.push(MetadataRecord::TopicCreated {
                topic_id: topic.topic_id,
                name: topic.name.clone(),
                partition_count: topic.partition_count,
                configs: topic.configs.clone(),
            });
            let partitions = self.recorded_partitions(topic.topic_id);
            for (index, state) in partitions.iter().enumerate() {
                records.push(MetadataRecord::Partition {
                    topic_id: topic.topic_id,
                    partition: i32::try_from(index).unwrap_or(i32::MAX),
                    state: state.clone(),
                });
            }
        }
        records.extend(self.scram_snapshot_records());
        if !self.broker_configs.is_empty() {
            records.push(MetadataRecord::BrokerConfigsSet {
                configs: self.broker_configs.clone(),
            });
        }
        records.extend(
            self.acls
                .iter()
                .map(|(acl_id, binding)| MetadataRecord::AclCreated {
                    acl_id,
                    binding: binding.clone(),
                }),
        );
        for (entity, values) in self.client_quotas.iter() {
            records.extend(
                values
                    .iter()
                    .map(|(key, value)| MetadataRecord::ClientQuota {
                        entity: entity.clone(),
                        key: *key,
                        value: Some(*value),
                    }),
            );
        }
        let bound = 2 * self.brokers.len()
            + self.acls.len()
            + QuotaKey::ALL.len() * self.client_quotas.len()
            + self.producer_id_blocks.len()
            + self.topics.len()
            + self.recorded_partition_count()
            + self.scram_credential_count()
            + 1;
        assert!(
            records.len() <= bound,
            "{} records > {bound}",
            records.len()
        );
        records
    }

    /// Registrations (with an unfence for each unfenced broker) and the producer-id blocks,
    /// in an order that applies: blocks by first id.
    fn broker_snapshot_records(&self) -> Vec<MetadataRecord> {
        let mut records = Vec::new();
        for broker in self.brokers() {
            records.push(MetadataRecord::RegisterBroker(broker.clone()));
            if !broker.fenced {
                records.push(MetadataRecord::UnfenceBroker {
                    node_id: broker.node_id,
                    broker_epoch: broker.broker_epoch,
                });
            }
        }
        let mut blocks: Vec<_> = self.producer_id_blocks.values().copied().collect();
        blocks.sort_by_key(|block| block.first);
        records.extend(blocks.into_iter().map(MetadataRecord::ProducerIdBlock));
        records
    }

    /// Applies the records about brokers, partitions and producer ids.
    fn apply_cluster_record(&mut self, record: &MetadataRecord) -> Result<(), MetadataError> {
        match record {
            MetadataRecord::RegisterBroker(registration) => {
                self.register_broker(registration.clone())?;
            }
            MetadataRecord::FenceBroker {
                node_id,
                broker_epoch,
            } => self.set_fenced(*node_id, *broker_epoch, true)?,
            MetadataRecord::UnfenceBroker {
                node_id,
                broker_epoch,
            } => self.set_fenced(*node_id, *broker_epoch, false)?,
            MetadataRecord::UnregisterBroker {
                node_id,
                broker_epoch,
            } => self.unregister_broker(*node_id, *broker_epoch)?,
            MetadataRecord::Partition {
                topic_id,
                partition,
                state,
            } => self.create_partition(*topic_id, *partition, state)?,
            MetadataRecord::PartitionChange {
                topic_id,
                partition,
                delta,
            } => self.change_partition(*topic_id, *partition, delta)?,
            MetadataRecord::ProducerIdBlock(block) => self.add_producer_id_block(*block)?,
            MetadataRecord::ScramCredential {
                user,
                mechanism,
                credential,
            } => self.apply_scram_credential(user, *mechanism, credential.as_ref())?,
            MetadataRecord::TopicCreated { .. }
            | MetadataRecord::TopicRemoved { .. }
            | MetadataRecord::PartitionsAdded { .. }
            | MetadataRecord::TopicConfigsSet { .. }
            | MetadataRecord::BrokerConfigsSet { .. }
            | MetadataRecord::AclCreated { .. }
            | MetadataRecord::AclRemoved { .. }
            | MetadataRecord::ClientQuota { .. } => {
                unreachable!("topic and ACL records are applied by apply_in_place")
            }
        }
        Ok(())
    }

    /// The state a snapshot stands for: its records applied to the empty state, at the
    /// snapshot's `version` (the log offset it was taken at, not its record count).
    ///
    /// # Errors
    /// The first record that does not fit.
    pub fn restore(
        cluster_id: String,
        version: u64,
        records: &[MetadataRecord],
    ) -> Result<Self, MetadataError> {
        let mut state = Self::empty(cluster_id).apply_all(records)?;
        state.version = version;
        state.check_invariants();
        Ok(state)
    }

    fn name_of(&self, topic_id: Uuid) -> Result<String, MetadataError> {
        self.topic_names_by_id
            .get(&topic_id)
            .cloned()
            .ok_or(MetadataError::UnknownTopicId { topic_id })
    }

    fn create_topic(&mut self, topic: TopicMetadata) -> Result<(), MetadataError> {
        topic_name::validate(&topic.name)?;
        if self.topics.contains_key(&topic.name) {
            return Err(MetadataError::TopicAlreadyExists { name: topic.name });
        }
        if topic.topic_id.is_zero() || self.topic_names_by_id.contains_key(&topic.topic_id) {
            return Err(MetadataError::TopicIdTaken {
                topic_id: topic.topic_id,
            });
        }
        if !(1..=PARTITIONS_PER_TOPIC_MAX).contains(&topic.partition_count) {
            return Err(MetadataError::InvalidPartitionCount {
                count: topic.partition_count,
            });
        }
        self.topic_names_by_id
            .insert(topic.topic_id, topic.name.clone());
        self.topics.insert(topic.name.clone(), Arc::new(topic));
        Ok(())
    }

    fn remove_topic(&mut self, topic_id: Uuid) -> Result<(), MetadataError> {
        let name = self.name_of(topic_id)?;
        self.topic_names_by_id.remove(&topic_id);
        if let Some(partitions) = self.partitions.remove(&topic_id) {
            self.recorded_partition_total -= partitions.len();
        }
        let removed = self.topics.remove(&name);
        assert!(removed.is_some(), "indexed topic {name} missing");
        Ok(())
    }

    fn add_partitions(&mut self, topic_id: Uuid, count: i32) -> Result<(), MetadataError> {
        let name = self.name_of(topic_id)?;
        let current = self
            .topics
            .get(&name)
            .map_or(0, |topic| topic.partition_count);
        assert!(current > 0, "indexed topic {name} missing");
        if count <= current {
            return Err(MetadataError::PartitionsCannotShrink {
                name,
                current,
                requested: count,
            });
        }
        if count > PARTITIONS_PER_TOPIC_MAX {
            return Err(MetadataError::InvalidPartitionCount { count });
        }
        if let Some(topic) = self.topics.get_mut(&name) {
            Arc::make_mut(topic).partition_count = count;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::records::tests::{arbitrary_record, cluster_records, one_of_each};
    use super::super::{ClusterError, NO_LEADER, PartitionDelta, PartitionState};
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn configs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    fn empty() -> ClusterMetadata {
        ClusterMetadata::empty("cluster".into())
    }

    #[test]
    fn each_record_changes_what_it_says_and_counts_one_version() {
        let records = one_of_each();
        let mut state = empty();
        let mut states = Vec::new();
        for record in &records {
            state = state.apply(record).unwrap();
            states.push(state.clone());
        }
        let topic = states[0].topic("orders").unwrap();
        assert_eq!(topic.partition_count, 3);
        assert_eq!(states[1].topic("orders").unwrap().partition_count, 5);
        let id = topic.topic_id;
        assert_eq!(states[2].topic_by_id(id).unwrap().configs.len(), 2);
        assert_eq!(states[3].broker_configs["log.retention.ms"], "60000");
        assert!(states[4].topics.is_empty());
        assert_eq!(states[4].topic_by_id(id), None);
        assert_eq!(state.version, 5, "one version per record");
    }

    #[test]
    fn invalid_records_are_refused_without_change() {
        let state = empty().apply(&one_of_each()[0]).unwrap();
        let orders = state.topic("orders").unwrap().topic_id;
        let other = Uuid([9; 16]);
        let create = |topic_id, name: &str, partition_count| MetadataRecord::TopicCreated {
            topic_id,
            name: name.into(),
            partition_count,
            configs: BTreeMap::new(),
        };
        let refusals = [
            (create(other, "orders", 1), "TopicAlreadyExists"),
            (create(orders, "fresh", 1), "TopicIdTaken"),
            (create(Uuid::ZERO, "fresh", 1), "TopicIdTaken"),
            (create(other, "a/b", 1), "InvalidTopicName"),
            (create(other, "fresh", 0), "InvalidPartitionCount"),
            (
                create(other, "fresh", PARTITIONS_PER_TOPIC_MAX + 1),
                "InvalidPartitionCount",
            ),
            (
                MetadataRecord::TopicRemoved { topic_id: other },
                "UnknownTopicId",
            ),
            (
                MetadataRecord::PartitionsAdded {
                    topic_id: orders,
                    partition_count: 3,
                },
                "PartitionsCannotShrink",
            ),
            (
                MetadataRecord::PartitionsAdded {
                    topic_id: orders,
                    partition_count: PARTITIONS_PER_TOPIC_MAX + 1,
                },
                "InvalidPartitionCount",
            ),
            (
                MetadataRecord::TopicConfigsSet {
                    topic_id: other,
                    configs: configs(&[("a", "b")]),
                },
                "UnknownTopicId",
            ),
        ];
        for (record, expected) in refusals {
            let mut copy = state.clone();
            let error = copy.apply_in_place(&record).unwrap_err();
            assert!(
                format!("{error:?}").starts_with(expected),
                "{record:?}: {error:?}"
            );
            assert_eq!(copy, state, "{record:?} changed the state");
        }
    }

    #[test]
    fn cluster_records_apply_and_snapshot() {
        let records = cluster_records();
        let mut state = empty();
        for (index, record) in records.iter().enumerate() {
            state.apply_in_place(record).unwrap();
            state.check_invariants();
            let restored = ClusterMetadata::restore(
                "cluster".into(),
                state.version,
                &state.snapshot_records(),
            );
            assert_eq!(restored.unwrap(), state, "snapshot after record {index}");
            match index {
                0 => assert!(state.broker(2).unwrap().fenced, "registered fenced"),
                3 => {
                    let partition = state.partition(Uuid([7; 16]), 0).unwrap();
                    assert!(state.offline_replicas(partition).is_empty());
                    let fenced = state.apply(&records[6]).unwrap();
                    assert_eq!(fenced.offline_replicas(partition), vec![2]);
                }
                1 => assert_eq!(state.unfenced_brokers().count(), 1),
                4 => {
                    let topic_id = Uuid([7; 16]);
                    let partition = state.partition(topic_id, 0).unwrap();
                    assert_eq!((partition.leader, partition.leader_epoch), (NO_LEADER, 1));
                    assert_eq!(partition.elr, vec![2]);
                }
                5 => assert_eq!(state.producer_id_next(), 1000),
                _ => {}
            }
        }
        assert!(state.broker(2).is_none(), "unregistered");
    }

    #[test]
    fn a_partition_without_a_record_reads_as_the_single_node_default() {
        let state = empty().apply(&one_of_each()[0]).unwrap();
        let topic_id = state.topic("orders").unwrap().topic_id;
        assert_eq!(state.partition(topic_id, 0), None);
        let default = state.partition_or_single_node(topic_id, 2, 7).unwrap();
        assert_eq!(default, PartitionState::single_node(7));
        assert_eq!(
            (default.replicas, default.leader, default.leader_epoch),
            (vec![7], 7, 0)
        );
        assert_eq!(state.partition_or_single_node(topic_id, 3, 7), None);
    }

    #[test]
    fn invalid_cluster_records_are_refused_without_change() {
        let records = cluster_records();
        let state = empty().apply_all(&records[..4]).unwrap();
        let topic_id = Uuid([7; 16]);
        let MetadataRecord::RegisterBroker(broker) = records[0].clone() else {
            panic!("the first record registers")
        };
        let change = |delta| MetadataRecord::PartitionChange {
            topic_id,
            partition: 0,
            delta,
        };
        let refusals = [
            MetadataRecord::RegisterBroker(broker.clone()),
            MetadataRecord::RegisterBroker(super::super::BrokerRegistration {
                shard_count: 0,
                broker_epoch: 9,
                ..broker
            }),
            MetadataRecord::FenceBroker {
                node_id: 2,
                broker_epoch: 1,
            },
            MetadataRecord::UnfenceBroker {
                node_id: 3,
                broker_epoch: 0,
            },
            MetadataRecord::Partition {
                topic_id,
                partition: 0,
                state: PartitionState::placed(vec![2]),
            },
            change(PartitionDelta {
                isr: Some(vec![5]),
                partition_epoch: 1,
                ..PartitionDelta::default()
            }),
            change(PartitionDelta {
                leader: Some(NO_LEADER),
                partition_epoch: 1,
                ..PartitionDelta::default()
            }),
            change(PartitionDelta::default()),
            MetadataRecord::ProducerIdBlock(super::super::ProducerIdBlock {
                node_id: 2,
                first: 0,
                size: 0,
            }),
        ];
        for record in refusals {
            let mut copy = state.clone();
            let error = copy.apply_in_place(&record).unwrap_err();
            assert!(
                matches!(error, MetadataError::Cluster(_)),
                "{record:?}: {error:?}"
            );
            assert_eq!(copy, state, "{record:?} changed the state");
        }
        let later = state.apply(&records[5]).unwrap();
        let overlapping = MetadataRecord::ProducerIdBlock(super::super::ProducerIdBlock {
            node_id: 3,
            first: 999,
            size: 1,
        });
        assert!(matches!(
            later.apply(&overlapping),
            Err(MetadataError::Cluster(
                ClusterError::InvalidProducerIdBlock { next: 1000, .. }
            ))
        ));
    }

    #[test]
    fn a_change_of_several_records_is_all_or_nothing() {
        let records = one_of_each();
        let mut broken = records[..2].to_vec();
        broken.push(MetadataRecord::TopicRemoved {
            topic_id: Uuid([1; 16]),
        });
        assert!(empty().apply_all(&broken).is_err());
        assert_eq!(empty().apply_all(&records).unwrap().version, 5);
    }

    /// Applies what fits of `records` (random records are mostly refused), as a log whose
    /// every entry was accepted: the accepted ones and the final state.
    fn accepted(records: &[MetadataRecord]) -> (Vec<MetadataRecord>, ClusterMetadata) {
        let mut state = empty();
        let mut log = Vec::new();
        for record in records {
            if state.apply_in_place(record).is_ok() {
                log.push(record.clone());
            }
        }
        (log, state)
    }

    /// Records about a few ids and names, so that many of them apply.
    fn plausible_record() -> impl Strategy<Value = MetadataRecord> {
        let id = (1u8..4).prop_map(|byte| Uuid([byte; 16]));
        let name = prop_oneof![Just("a"), Just("b"), Just("c")].prop_map(str::to_owned);
        let count = 1i32..6;
        prop_oneof![
            (id.clone(), name, count.clone()).prop_map(|(topic_id, name, partition_count)| {
                MetadataRecord::TopicCreated {
                    topic_id,
                    name,
                    partition_count,
                    configs: configs(&[("retention.ms", "1")]),
                }
            }),
            id.clone()
                .prop_map(|topic_id| MetadataRecord::TopicRemoved { topic_id }),
            (id.clone(), count).prop_map(|(topic_id, partition_count)| {
                MetadataRecord::PartitionsAdded {
                    topic_id,
                    partition_count,
                }
            }),
            id.prop_map(|topic_id| MetadataRecord::TopicConfigsSet {
                topic_id,
                configs: configs(&[("segment.bytes", "1024")]),
            }),
            Just(MetadataRecord::BrokerConfigsSet {
                configs: configs(&[("log.retention.ms", "5")]),
            }),
            arbitrary_record(),
        ]
    }

    proptest! {
        #[test]
        fn replaying_the_log_gives_the_same_state(
            records in proptest::collection::vec(plausible_record(), 0..40)
        ) {
            let (log, state) = accepted(&records);
            let replayed = empty().apply_all(&log).unwrap();
            prop_assert_eq!(replayed.version, log.len() as u64);
            prop_assert_eq!(&replayed, &state);
            // Deterministic: a second replay agrees byte for byte with the first.
            prop_assert_eq!(empty().apply_all(&log).unwrap(), replayed);
        }

        #[test]
        fn snapshot_and_tail_equal_full_replay(
            records in proptest::collection::vec(plausible_record(), 0..40),
            split in any::<prop::sample::Index>(),
        ) {
            let (log, state) = accepted(&records);
            let at = split.index(log.len() + 1);
            let head = empty().apply_all(&log[..at]).unwrap();
            let snapshot = head.snapshot_records();
            let restored = ClusterMetadata::restore("cluster".into(), head.version, &snapshot);
            let restored = restored.unwrap();
            prop_assert_eq!(&restored, &head);
            prop_assert_eq!(restored.apply_all(&log[at..]).unwrap(), state);
        }

        #[test]
        fn refused_records_change_nothing(
            records in proptest::collection::vec(plausible_record(), 0..20),
            probe in plausible_record(),
        ) {
            let (_, state) = accepted(&records);
            let mut copy = state.clone();
            match copy.apply_in_place(&probe) {
                Ok(()) => prop_assert_eq!(copy.version, state.version + 1),
                Err(_) => prop_assert_eq!(copy, state),
            }
        }
    }
}
