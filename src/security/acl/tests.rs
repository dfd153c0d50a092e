//! The authorizer against a reference model written the obvious way (every ACL scanned, the
//! implied operations as a table), plus Kafka's filter examples and the table's bookkeeping.
use super::*;
use crate::cluster::acls::{
    AccessControlEntry, AclFilter, PatternFilter, PatternType, ResourcePattern,
};
use crate::protocol::Uuid;
use proptest::prelude::*;

const NAMES: &[&str] = &["a", "ab", "abc", "b", "*", "pub-", "pub-x"];
const PRINCIPALS: &[&str] = &["User:alice", "User:bob", "User:*"];
const HOSTS: &[&str] = &["*", "10.0.0.1", "10.0.0.2"];
const TYPES: &[ResourceType] = &[ResourceType::Topic, ResourceType::Group];

/// Which operations an ALLOW of the first implies (besides itself and through ALL).
const IMPLIED: &[(AclOperation, AclOperation)] = &[
    (AclOperation::Read, AclOperation::Describe),
    (AclOperation::Write, AclOperation::Describe),
    (AclOperation::Delete, AclOperation::Describe),
    (AclOperation::Alter, AclOperation::Describe),
    (AclOperation::AlterConfigs, AclOperation::DescribeConfigs),
];

fn reference(
    settings: &Authorizer,
    bindings: &[AclBinding],
    caller: Caller<'_>,
    operation: AclOperation,
    resource: (ResourceType, &str),
) -> bool {
    if settings.super_users.iter().any(|u| u == caller.principal) {
        return true;
    }
    let covering: Vec<&AclBinding> = bindings
        .iter()
        .filter(|b| b.pattern.resource_type == resource.0)
        .filter(|b| match b.pattern.pattern_type {
            PatternType::Literal => b.pattern.name == resource.1 || b.pattern.name == "*",
            PatternType::Prefixed => resource.1.starts_with(b.pattern.name.as_str()),
        })
        .collect();
    if covering.is_empty() {
        return settings.allow_everyone_if_no_acl_found;
    }
    let applicable = covering.iter().filter(|b| {
        (b.entry.principal == caller.principal || b.entry.principal == "User:*")
            && (b.entry.host == caller.host || b.entry.host == "*")
    });
    let mut allowed = false;
    for b in applicable {
        let op = b.entry.operation;
        match b.entry.permission {
            AclPermission::Deny if op == operation || op == AclOperation::All => return false,
            AclPermission::Deny => {}
            AclPermission::Allow => {
                allowed |= op == AclOperation::All
                    || op == operation
                    || IMPLIED.contains(&(op, operation));
            }
        }
    }
    allowed
}

fn binding() -> impl Strategy<Value = AclBinding> {
    (
        prop::sample::select(TYPES),
        prop::sample::select(NAMES),
        any::<bool>(),
        prop::sample::select(PRINCIPALS),
        prop::sample::select(HOSTS),
        prop::sample::select(AclOperation::ALL),
        any::<bool>(),
    )
        .prop_map(
            |(resource_type, name, prefixed, principal, host, operation, deny)| AclBinding {
                pattern: ResourcePattern {
                    resource_type,
                    pattern_type: if prefixed {
                        PatternType::Prefixed
                    } else {
                        PatternType::Literal
                    },
                    name: name.to_owned(),
                },
                entry: AccessControlEntry {
                    principal: principal.to_owned(),
                    host: host.to_owned(),
                    operation,
                    permission: if deny {
                        AclPermission::Deny
                    } else {
                        AclPermission::Allow
                    },
                },
            },
        )
}

fn table_of(bindings: &[AclBinding]) -> (AclTable, Vec<AclBinding>) {
    let mut table = AclTable::default();
    let mut held = Vec::new();
    for (index, binding) in bindings.iter().enumerate() {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&(index as u64 + 1).to_be_bytes());
        if table.insert(Uuid(id), binding.clone()).is_ok() {
            held.push(binding.clone());
        }
    }
    table.check_invariants();
    (table, held)
}

proptest! {
    #[test]
    fn authorize_agrees_with_the_reference(
        bindings in prop::collection::vec(binding(), 0..12),
        resource_type in prop::sample::select(TYPES),
        name in prop::sample::select(&["a", "ab", "abc", "abd", "b", "pub-x", "pub-y", "c"][..]),
        principal in prop::sample::select(&["User:alice", "User:bob", "User:carol"][..]),
        host in prop::sample::select(&["10.0.0.1", "10.0.0.2"][..]),
        operation in prop::sample::select(AclOperation::ALL),
        alice_super in any::<bool>(),
        allow_everyone in any::<bool>(),
    ) {
        prop_assume!(operation != AclOperation::All);
        let settings = Authorizer {
            enabled: true,
            super_users: if alice_super { vec!["User:alice".into()] } else { Vec::new() },
            allow_everyone_if_no_acl_found: allow_everyone,
        };
        let (table, held) = table_of(&bindings);
        let caller = Caller { principal, host };
        let resource = (resource_type, name);
        prop_assert_eq!(
            authorize(&settings, &table, caller, operation, resource),
            reference(&settings, &held, caller, operation, resource)
        );
    }

    #[test]
    fn a_matching_deny_always_wins(
        bindings in prop::collection::vec(binding(), 0..8),
        name in prop::sample::select(&["a", "ab", "pub-x"][..]),
        operation in prop::sample::select(AclOperation::ALL),
    ) {
        prop_assume!(operation != AclOperation::All);
        let mut bindings = bindings;
        bindings.push(AclBinding {
            pattern: ResourcePattern {
                resource_type: ResourceType::Topic,
                pattern_type: PatternType::Literal,
                name: "*".into(),
            },
            entry: AccessControlEntry {
                principal: "User:*".into(),
                host: "*".into(),
                operation,
                permission: AclPermission::Deny,
            },
        });
        let (table, _) = table_of(&bindings);
        let settings = Authorizer { enabled: true, ..Authorizer::default() };
        let caller = Caller { principal: "User:alice", host: "10.0.0.1" };
        let resource = (ResourceType::Topic, name);
        prop_assert!(!authorize(&settings, &table, caller, operation, resource));
    }

    #[test]
    fn removing_what_was_inserted_empties_the_table(
        bindings in prop::collection::vec(binding(), 0..16),
    ) {
        let (mut table, _) = table_of(&bindings);
        let ids: Vec<Uuid> = table.iter().map(|(id, _)| id).collect();
        for id in ids {
            prop_assert!(table.remove(id).is_ok());
            table.check_invariants();
        }
        prop_assert!(table.is_empty());
        prop_assert_eq!(table, AclTable::default());
    }
}

fn topic_acl(name: &str, pattern_type: PatternType, operation: AclOperation) -> AclBinding {
    AclBinding {
        pattern: ResourcePattern {
            resource_type: ResourceType::Topic,
            pattern_type,
            name: name.into(),
        },
        entry: AccessControlEntry {
            principal: "User:ANONYMOUS".into(),
            host: "*".into(),
            operation,
            permission: AclPermission::Allow,
        },
    }
}

#[test]
fn read_on_a_prefix_reads_and_describes_those_topics_only() {
    let (table, _) = table_of(&[topic_acl("pub-", PatternType::Prefixed, AclOperation::Read)]);
    let settings = Authorizer {
        enabled: true,
        ..Authorizer::default()
    };
    let caller = Caller {
        principal: "User:ANONYMOUS",
        host: "127.0.0.1",
    };
    let check = |operation, name| {
        authorize(
            &settings,
            &table,
            caller,
            operation,
            (ResourceType::Topic, name),
        )
    };
    assert!(check(AclOperation::Read, "pub-a"));
    assert!(
        check(AclOperation::Describe, "pub-a"),
        "READ implies DESCRIBE"
    );
    assert!(!check(AclOperation::Write, "pub-a"));
    assert!(!check(AclOperation::Read, "private"));
    assert!(!check(AclOperation::Describe, "private"));
    assert!(!may_write_some_topic(&settings, &table, caller));
    let open = Authorizer {
        allow_everyone_if_no_acl_found: true,
        ..settings.clone()
    };
    assert!(authorize(
        &open,
        &table,
        caller,
        AclOperation::Write,
        (ResourceType::Topic, "private")
    ));
    assert!(!authorize(
        &open,
        &table,
        caller,
        AclOperation::Write,
        (ResourceType::Topic, "pub-a")
    ));
}

#[test]
fn filters_match_as_kafkas_do() {
    let literal = topic_acl("orders", PatternType::Literal, AclOperation::Read);
    let wildcard = topic_acl("*", PatternType::Literal, AclOperation::Read);
    let prefixed = topic_acl("ord", PatternType::Prefixed, AclOperation::Read);
    let filter = |pattern, name: Option<&str>| AclFilter {
        name: name.map(str::to_owned),
        pattern,
        ..AclFilter::any()
    };
    let any_orders = filter(PatternFilter::Any, Some("orders"));
    assert!(any_orders.matches(&literal));
    assert!(!any_orders.matches(&wildcard));
    assert!(!any_orders.matches(&prefixed));
    let match_orders = filter(PatternFilter::Match, Some("orders"));
    assert!(match_orders.matches(&literal));
    assert!(match_orders.matches(&wildcard));
    assert!(match_orders.matches(&prefixed));
    let only_prefixed = filter(PatternFilter::Only(PatternType::Prefixed), None);
    assert!(only_prefixed.matches(&prefixed));
    assert!(!only_prefixed.matches(&literal));
    let deny_only = AclFilter {
        permission: Some(AclPermission::Deny),
        ..AclFilter::any()
    };
    assert!(!deny_only.matches(&literal));
    assert!(AclFilter::any().matches(&literal));
}

#[test]
fn bindings_are_validated_as_kafka_does() {
    let mut binding = topic_acl("orders", PatternType::Literal, AclOperation::Read);
    assert_eq!(binding.validate(), Ok(()));
    binding.entry.principal = "alice".into();
    assert!(binding.validate().is_err());
    binding.entry.principal = "User:alice".into();
    binding.pattern.resource_type = ResourceType::Cluster;
    assert!(binding.validate().is_err());
    binding.pattern.name = crate::cluster::acls::CLUSTER_NAME.into();
    assert_eq!(binding.validate(), Ok(()));
    binding.entry.host = String::new();
    assert!(binding.validate().is_err());
}
