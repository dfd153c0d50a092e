//! Tests of the record encoding: layouts, round trips, truncations, refusals, properties.
use super::*;
use crate::cluster::acls::{
    AccessControlEntry, AclOperation, AclPermission, PatternType, ResourcePattern, ResourceType,
};
use crate::cluster::quotas::EntityName;
use proptest::prelude::*;

fn configs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

/// One record of each type, in the current layouts.
pub(in crate::cluster) fn one_of_each() -> Vec<MetadataRecord> {
    let topic_id = Uuid([7; 16]);
    vec![
        MetadataRecord::TopicCreated {
            topic_id,
            name: "orders".into(),
            partition_count: 3,
            configs: configs(&[("retention.ms", "1000")]),
        },
        MetadataRecord::PartitionsAdded {
            topic_id,
            partition_count: 5,
        },
        MetadataRecord::TopicConfigsSet {
            topic_id,
            configs: configs(&[("cleanup.policy", "delete"), ("segment.bytes", "65536")]),
        },
        MetadataRecord::BrokerConfigsSet {
            configs: configs(&[("log.retention.ms", "60000")]),
        },
        MetadataRecord::TopicRemoved { topic_id },
    ]
}

/// Broker 2's first registration, fenced.
fn broker_two() -> BrokerRegistration {
    BrokerRegistration {
        node_id: 2,
        incarnation: Uuid([3; 16]),
        broker_epoch: 0,
        listeners: vec![Listener {
            name: "CLIENT".into(),
            host: "127.0.0.1".into(),
            port: 9092,
        }],
        shard_count: 2,
        rack: Some("rack-a".into()),
        fenced: true,
    }
}

/// One record of each broker, partition, producer-id, ACL and quota type, in an order that
/// applies to the empty state (the topic is created first).
pub(in crate::cluster) fn cluster_records() -> Vec<MetadataRecord> {
    let topic_id = Uuid([7; 16]);
    vec![
        MetadataRecord::RegisterBroker(broker_two()),
        MetadataRecord::UnfenceBroker {
            node_id: 2,
            broker_epoch: 0,
        },
        MetadataRecord::TopicCreated {
            topic_id,
            name: "orders".into(),
            partition_count: 1,
            configs: BTreeMap::new(),
        },
        MetadataRecord::Partition {
            topic_id,
            partition: 0,
            state: PartitionState::placed(vec![2]),
        },
        MetadataRecord::PartitionChange {
            topic_id,
            partition: 0,
            delta: PartitionDelta {
                leader: Some(crate::cluster::metadata::NO_LEADER),
                isr: Some(Vec::new()),
                elr: Some(vec![2]),
                leader_epoch: 1,
                partition_epoch: 1,
                ..PartitionDelta::default()
            },
        },
        MetadataRecord::ProducerIdBlock(ProducerIdBlock {
            node_id: 2,
            first: 0,
            size: 1000,
        }),
        MetadataRecord::FenceBroker {
            node_id: 2,
            broker_epoch: 0,
        },
        MetadataRecord::UnregisterBroker {
            node_id: 2,
            broker_epoch: 0,
        },
        MetadataRecord::AclCreated {
            acl_id: Uuid([9; 16]),
            binding: acl("orders", PatternType::Literal, AclPermission::Allow),
        },
        MetadataRecord::AclCreated {
            acl_id: Uuid([10; 16]),
            binding: acl("ord", PatternType::Prefixed, AclPermission::Deny),
        },
        MetadataRecord::AclRemoved {
            acl_id: Uuid([9; 16]),
        },
    ]
    .into_iter()
    .chain(quota_records())
    .collect()
}

/// Client quota records that apply in order: set, a default entity, removal.
fn quota_records() -> Vec<MetadataRecord> {
    vec![
        quota(Some(EntityName::Named("alice".into())), None, Some(1024.0)),
        MetadataRecord::ClientQuota {
            entity: QuotaEntity {
                user: Some(EntityName::Default),
                client_id: Some(EntityName::Default),
            },
            key: QuotaKey::RequestPercentage,
            value: Some(QuotaValue(2.5)),
        },
        quota(Some(EntityName::Named("alice".into())), None, None),
    ]
}

/// A `producer_byte_rate` record of the entity with `user` and `client_id`.
fn quota(
    user: Option<EntityName>,
    client_id: Option<EntityName>,
    value: Option<f64>,
) -> MetadataRecord {
    MetadataRecord::ClientQuota {
        entity: QuotaEntity { user, client_id },
        key: QuotaKey::ProducerByteRate,
        value: value.map(QuotaValue),
    }
}

#[test]
fn client_quota_layout() {
    let record = quota(
        Some(EntityName::Named("u".into())),
        Some(EntityName::Default),
        Some(1.0),
    );
    #[rustfmt::skip]
    let expected = [
        16, 0,                          // ClientQuota v0
        2, 0, 0, 0, 1, b'u',            // user "u"
        1,                              // client-id <default>
        0,                              // producer_byte_rate
        1, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, // present, 1.0
    ];
    assert_eq!(record.to_bytes(), expected);
    assert_eq!(MetadataRecord::decode(&expected), Ok(record));
    // An unknown entity kind or key code is refused.
    let mut bad_kind = expected;
    bad_kind[8] = 3;
    assert!(MetadataRecord::decode(&bad_kind).is_err());
    let mut bad_key = expected;
    bad_key[9] = 9;
    assert!(matches!(
        MetadataRecord::decode(&bad_key),
        Err(RecordDecodeError::InvalidQuotaKey { code: 9, .. })
    ));
}

/// A topic READ ACL for `User:alice` from any host.
pub(in crate::cluster) fn acl(
    name: &str,
    pattern_type: PatternType,
    permission: AclPermission,
) -> AclBinding {
    AclBinding {
        pattern: ResourcePattern {
            resource_type: ResourceType::Topic,
            pattern_type,
            name: name.into(),
        },
        entry: AccessControlEntry {
            principal: "User:alice".into(),
            host: "*".into(),
            operation: AclOperation::Read,
            permission,
        },
    }
}

#[test]
fn byte_layout_of_an_acl_creation() {
    let record = MetadataRecord::AclCreated {
        acl_id: Uuid([1; 16]),
        binding: AclBinding {
            pattern: ResourcePattern {
                resource_type: ResourceType::Group,
                pattern_type: PatternType::Prefixed,
                name: "g".into(),
            },
            entry: AccessControlEntry {
                principal: "U:a".into(),
                host: "*".into(),
                operation: AclOperation::Describe,
                permission: AclPermission::Deny,
            },
        },
    };
    let mut expected = vec![14, 0];
    expected.extend_from_slice(&[1; 16]);
    #[rustfmt::skip]
    expected.extend_from_slice(&[
        3, 4,                   // GROUP, PREFIXED
        0, 0, 0, 1, b'g',       // resource name
        0, 0, 0, 3, b'U', b':', b'a',
        0, 0, 0, 1, b'*',       // host
        8, 2,                   // DESCRIBE, DENY
    ]);
    assert_eq!(record.to_bytes(), expected);
    let mut bad = expected.clone();
    let last = bad.len() - 1;
    bad[last] = 1; // ANY is not a permission an ACL can hold
    assert!(matches!(
        MetadataRecord::decode(&bad),
        Err(RecordDecodeError::InvalidAclCode { code: 1, .. })
    ));
}

#[test]
fn byte_layout_of_a_fence_and_a_partition_change() {
    let fence = MetadataRecord::FenceBroker {
        node_id: 5,
        broker_epoch: 0x0102,
    };
    let expected = [7, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 1, 2];
    assert_eq!(fence.to_bytes(), expected);
    let change = MetadataRecord::PartitionChange {
        topic_id: Uuid([0xab; 16]),
        partition: 1,
        delta: PartitionDelta {
            leader: Some(3),
            elr: Some(vec![4]),
            leader_epoch: 2,
            partition_epoch: 6,
            ..PartitionDelta::default()
        },
    };
    let mut expected = vec![11, 0];
    expected.extend_from_slice(&[0xab; 16]);
    expected.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 6]);
    expected.push(0b101);
    expected.extend_from_slice(&[0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 4]);
    assert_eq!(change.to_bytes(), expected);
    assert_eq!(MetadataRecord::decode(&expected), Ok(change));
    expected[30] = 0b1000_0000;
    assert!(matches!(
        MetadataRecord::decode(&expected),
        Err(RecordDecodeError::InvalidFlags { offset: 30, .. })
    ));
}

#[test]
fn byte_layout_of_a_topic_creation() {
    let record = MetadataRecord::TopicCreated {
        topic_id: Uuid([0xab; 16]),
        name: "t".into(),
        partition_count: 2,
        configs: configs(&[("a", "b")]),
    };
    let mut expected = vec![1, 0];
    expected.extend_from_slice(&[0xab; 16]);
    expected.extend_from_slice(&[0, 0, 0, 1, b't']);
    expected.extend_from_slice(&[0, 0, 0, 2]);
    expected.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, b'a', 0, 0, 0, 1, b'b']);
    assert_eq!(record.to_bytes(), expected);
    assert_eq!(MetadataRecord::decode(&expected), Ok(record));
}

#[test]
fn every_type_round_trips_and_every_truncation_fails() {
    for record in one_of_each().into_iter().chain(cluster_records()) {
        let bytes = record.to_bytes();
        assert_eq!(bytes.len(), record.encoded_size());
        assert_eq!(MetadataRecord::decode(&bytes).as_ref(), Ok(&record));
        for end in 0..bytes.len() {
            let error = MetadataRecord::decode(&bytes[..end]);
            assert!(error.is_err(), "{record:?} cut at {end} decoded");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            MetadataRecord::decode(&longer),
            Err(RecordDecodeError::TrailingBytes { count: 1 })
        );
    }
}

#[test]
fn unknown_types_newer_versions_and_unsorted_maps_are_refused() {
    assert_eq!(
        MetadataRecord::decode(&[0, 0]),
        Err(RecordDecodeError::UnknownType { record_type: 0 })
    );
    assert_eq!(
        MetadataRecord::decode(&[17, 0]),
        Err(RecordDecodeError::UnknownType { record_type: 17 })
    );
    assert!(matches!(
        MetadataRecord::decode(&[2, 1]),
        Err(RecordDecodeError::UnsupportedVersion { version: 1, .. })
    ));
    let mut unsorted = vec![5, 0, 0, 0, 0, 2];
    for name in [b'b', b'a'] {
        unsorted.extend_from_slice(&[0, 0, 0, 1, name, 0, 0, 0, 0]);
    }
    assert_eq!(
        MetadataRecord::decode(&unsorted),
        Err(RecordDecodeError::UnsortedConfigs { offset: 15 })
    );
    let huge_count = [5, 0, 0xff, 0xff, 0xff, 0xff];
    assert!(matches!(
        MetadataRecord::decode(&huge_count),
        Err(RecordDecodeError::UnexpectedEof { .. })
    ));
}

fn arbitrary_configs() -> impl Strategy<Value = BTreeMap<String, String>> {
    proptest::collection::btree_map("[a-z.]{1,12}", "\\PC{0,16}", 0..4)
}

pub(in crate::cluster) fn arbitrary_record() -> impl Strategy<Value = MetadataRecord> {
    let id = any::<[u8; 16]>().prop_map(Uuid);
    prop_oneof![
        (id.clone(), "\\PC{0,20}", any::<i32>(), arbitrary_configs()).prop_map(
            |(topic_id, name, partition_count, configs)| MetadataRecord::TopicCreated {
                topic_id,
                name,
                partition_count,
                configs,
            }
        ),
        id.clone()
            .prop_map(|topic_id| MetadataRecord::TopicRemoved { topic_id }),
        (id.clone(), any::<i32>()).prop_map(|(topic_id, partition_count)| {
            MetadataRecord::PartitionsAdded {
                topic_id,
                partition_count,
            }
        }),
        (id, arbitrary_configs()).prop_map(|(topic_id, configs)| {
            MetadataRecord::TopicConfigsSet { topic_id, configs }
        }),
        arbitrary_configs().prop_map(|configs| MetadataRecord::BrokerConfigsSet { configs }),
        arbitrary_cluster_record(),
        arbitrary_scram_record(),
    ]
}

fn arbitrary_scram_record() -> impl Strategy<Value = MetadataRecord> {
    use super::super::{ScramCredential, ScramMechanism};
    let bytes = || proptest::collection::vec(any::<u8>(), 0..8);
    let credential = (bytes(), any::<i32>(), bytes(), bytes()).prop_map(
        |(salt, iterations, stored_key, server_key)| ScramCredential {
            salt,
            iterations,
            stored_key,
            server_key,
        },
    );
    let mechanism = proptest::sample::select(ScramMechanism::ALL.to_vec());
    ("\\PC{0,8}", mechanism, proptest::option::of(credential)).prop_map(
        |(user, mechanism, credential)| MetadataRecord::ScramCredential {
            user,
            mechanism,
            credential,
        },
    )
}

fn arbitrary_ids() -> impl Strategy<Value = Vec<i32>> {
    proptest::collection::vec(any::<i32>(), 0..5)
}

fn arbitrary_registration() -> impl Strategy<Value = BrokerRegistration> {
    let listener = ("\\PC{0,8}", "\\PC{0,12}", any::<u16>())
        .prop_map(|(name, host, port)| Listener { name, host, port });
    (
        any::<(i32, [u8; 16], i64, i32)>(),
        proptest::option::of("\\PC{0,8}"),
        proptest::collection::vec(listener, 0..3),
    )
        .prop_map(
            |((node_id, incarnation, broker_epoch, shard_count), rack, listeners)| {
                BrokerRegistration {
                    node_id,
                    incarnation: Uuid(incarnation),
                    broker_epoch,
                    listeners,
                    shard_count,
                    rack,
                    fenced: true,
                }
            },
        )
}

fn arbitrary_state() -> impl Strategy<Value = PartitionState> {
    let lists = (
        arbitrary_ids(),
        arbitrary_ids(),
        arbitrary_ids(),
        arbitrary_ids(),
        arbitrary_ids(),
    );
    (lists, any::<(i32, i32, i32)>()).prop_map(
        |((replicas, isr, elr, adding, removing), (leader, leader_epoch, partition_epoch))| {
            PartitionState {
                replicas,
                isr,
                elr,
                adding,
                removing,
                leader,
                leader_epoch,
                partition_epoch,
            }
        },
    )
}

fn arbitrary_delta() -> impl Strategy<Value = PartitionDelta> {
    let maybe = || proptest::option::of(arbitrary_ids());
    (
        proptest::option::of(any::<i32>()),
        (maybe(), maybe(), maybe(), maybe(), maybe()),
        any::<(i32, i32)>(),
    )
        .prop_map(
            |(leader, (isr, elr, replicas, adding, removing), (leader_epoch, partition_epoch))| {
                PartitionDelta {
                    leader,
                    isr,
                    elr,
                    replicas,
                    adding,
                    removing,
                    leader_epoch,
                    partition_epoch,
                }
            },
        )
}

fn arbitrary_cluster_record() -> impl Strategy<Value = MetadataRecord> {
    let id = any::<[u8; 16]>().prop_map(Uuid);
    let broker = any::<(i32, i64)>();
    prop_oneof![
        arbitrary_registration().prop_map(MetadataRecord::RegisterBroker),
        broker.prop_map(|(node_id, broker_epoch)| MetadataRecord::FenceBroker {
            node_id,
            broker_epoch
        }),
        broker.prop_map(|(node_id, broker_epoch)| MetadataRecord::UnfenceBroker {
            node_id,
            broker_epoch
        }),
        broker.prop_map(|(node_id, broker_epoch)| MetadataRecord::UnregisterBroker {
            node_id,
            broker_epoch
        }),
        (id.clone(), any::<i32>(), arbitrary_state()).prop_map(|(topic_id, partition, state)| {
            MetadataRecord::Partition {
                topic_id,
                partition,
                state,
            }
        }),
        (id.clone(), any::<i32>(), arbitrary_delta()).prop_map(|(topic_id, partition, delta)| {
            MetadataRecord::PartitionChange {
                topic_id,
                partition,
                delta,
            }
        }),
        any::<(i32, i64, i32)>().prop_map(|(node_id, first, size)| {
            MetadataRecord::ProducerIdBlock(ProducerIdBlock {
                node_id,
                first,
                size,
            })
        }),
        (id.clone(), "[a-z*]{0,4}", any::<bool>(), any::<bool>()).prop_map(
            |(acl_id, name, prefixed, deny)| {
                let pattern_type = if prefixed {
                    PatternType::Prefixed
                } else {
                    PatternType::Literal
                };
                let permission = if deny {
                    AclPermission::Deny
                } else {
                    AclPermission::Allow
                };
                let binding = acl(&name, pattern_type, permission);
                MetadataRecord::AclCreated { acl_id, binding }
            }
        ),
        id.prop_map(|acl_id| MetadataRecord::AclRemoved { acl_id }),
        arbitrary_quota_record(),
    ]
}

/// Any `ClientQuota` record (entities of every kind, any value bits).
fn arbitrary_quota_record() -> impl Strategy<Value = MetadataRecord> {
    let strategy = (0u8..3, 0u8..3, 0u8..4, proptest::option::of(any::<u64>()));
    strategy.prop_map(|(user, client_id, key, bits)| {
        let component = |kind: u8, name: &str| match kind {
            0 => None,
            1 => Some(EntityName::Default),
            _ => Some(EntityName::Named(name.to_owned())),
        };
        MetadataRecord::ClientQuota {
            entity: QuotaEntity {
                user: component(user, "u"),
                client_id: component(client_id, "c"),
            },
            key: QuotaKey::from_code(key).unwrap_or(QuotaKey::ProducerByteRate),
            value: bits.map(|bits| QuotaValue(f64::from_bits(bits))),
        }
    })
}

proptest! {
    #[test]
    fn decode_inverts_encode(record in arbitrary_record()) {
        let bytes = record.to_bytes();
        prop_assert_eq!(MetadataRecord::decode(&bytes), Ok(record));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        if let Ok(record) = MetadataRecord::decode(&bytes) {
            // The encoding is canonical: what decodes re-encodes to the same bytes.
            prop_assert_eq!(record.to_bytes(), bytes);
        }
    }
}
