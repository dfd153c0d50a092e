//! ACLs as cluster metadata: Kafka's model of an access-control binding (a resource pattern
//! and an access-control entry), the filters CreateAcls/DescribeAcls/DeleteAcls use, and
//! [`AclTable`], the set of ACLs the metadata log holds (`AclCreated` / `AclRemoved` records).
//!
//! ```text
//! AclBinding = ResourcePattern { resource_type, name, pattern_type: LITERAL | PREFIXED }
//!            + AccessControlEntry { principal "User:alice" | "User:*", host "*" | exact,
//!                                   operation, permission: ALLOW | DENY }
//! ```
//!
//! What ACLs exist lives here (the metadata log stores it, so it sits below `security`); who
//! may do what (super users, DENY precedence, implied operations) is `security::acl`.
//! Numeric codes are Kafka's (`ResourceType`, `PatternType`, `AclOperation`,
//! `AclPermissionType` in Kafka's clients). Resource types DELEGATION_TOKEN and USER and the
//! token operations are not supported: a request naming them is refused, not stored.
//!
//! Invariants ([`AclTable::check_invariants`]): every ACL is indexed under its pattern exactly
//! once, ids are unique and non-zero, at most `ACLS_MAX` ACLs, no binding twice.
//!
//! Pure; runs wherever metadata is applied (shard 0) or read (every shard, read-only).
use crate::limits::{ACL_STRING_LENGTH_MAX, ACLS_MAX};
use crate::protocol::Uuid;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Kafka's name of the one CLUSTER resource.
pub const CLUSTER_NAME: &str = "kafka-cluster";
/// The resource name and host that match every resource / host (`*`).
pub const WILDCARD: &str = "*";
/// The principal that matches every user.
pub const WILDCARD_PRINCIPAL: &str = "User:*";

/// Defines a Kafka enum with its wire codes and names; `ANY` and the filter-only values are
/// handled by the filter types, not here.
macro_rules! kafka_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $code:literal, $text:literal;)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[derive(serde::Serialize, serde::Deserialize)]
        pub enum $name { $($variant,)* }

        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant,)*];

            /// Kafka's wire code.
            #[must_use]
            pub const fn code(self) -> i8 {
                match self { $(Self::$variant => $code,)* }
            }

            /// The value for a wire code; `None` for UNKNOWN, ANY and codes we do not support.
            #[must_use]
            pub fn from_code(code: i8) -> Option<Self> {
                Self::ALL.iter().copied().find(|value| value.code() == code)
            }

            /// Kafka's name (`TRANSACTIONAL_ID`).
            #[must_use]
            pub const fn name(self) -> &'static str {
                match self { $(Self::$variant => $text,)* }
            }

            /// Parses Kafka's name, case-insensitively, `-` for `_` (`transactional-id`).
            #[must_use]
            pub fn parse(text: &str) -> Option<Self> {
                let text = text.replace('-', "_");
                Self::ALL.iter().copied().find(|value| value.name().eq_ignore_ascii_case(&text))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

kafka_enum! {
    /// What kind of resource an ACL guards.
    ResourceType {
        Topic = 2, "TOPIC";
        Group = 3, "GROUP";
        Cluster = 4, "CLUSTER";
        TransactionalId = 5, "TRANSACTIONAL_ID";
    }
}

kafka_enum! {
    /// How an ACL's resource name matches: exactly (or `*`: every name), or as a prefix.
    PatternType {
        Literal = 3, "LITERAL";
        Prefixed = 4, "PREFIXED";
    }
}

kafka_enum! {
    /// What a principal does to a resource. ALL stands for every operation.
    AclOperation {
        All = 2, "ALL";
        Read = 3, "READ";
        Write = 4, "WRITE";
        Create = 5, "CREATE";
        Delete = 6, "DELETE";
        Alter = 7, "ALTER";
        Describe = 8, "DESCRIBE";
        ClusterAction = 9, "CLUSTER_ACTION";
        DescribeConfigs = 10, "DESCRIBE_CONFIGS";
        AlterConfigs = 11, "ALTER_CONFIGS";
        IdempotentWrite = 12, "IDEMPOTENT_WRITE";
    }
}

kafka_enum! {
    /// Whether an ACL allows or denies. DENY wins over ALLOW.
    AclPermission {
        Deny = 2, "DENY";
        Allow = 3, "ALLOW";
    }
}

/// Kafka's wire code for ANY (in filters: matches every value).
pub const CODE_ANY: i8 = 1;
/// Kafka's wire code for the MATCH pattern filter.
pub const CODE_MATCH: i8 = 2;

/// A resource pattern: the resources an ACL covers.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct ResourcePattern {
    pub resource_type: ResourceType,
    pub pattern_type: PatternType,
    pub name: String,
}

/// Who may (or may not) do what from where, on a pattern's resources.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct AccessControlEntry {
    /// `Type:name`, e.g. `User:alice`; `User:*` matches every user.
    pub principal: String,
    /// A client address, or `*` for every host.
    pub host: String,
    pub operation: AclOperation,
    pub permission: AclPermission,
}

/// One ACL.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct AclBinding {
    pub pattern: ResourcePattern,
    pub entry: AccessControlEntry,
}

/// Why a binding or filter from a request cannot be used; Kafka answers each with
/// INVALID_REQUEST and a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclError {
    #[error("unknown or unsupported {field} code {code}")]
    UnsupportedCode { field: &'static str, code: i8 },
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
    #[error("{field} is longer than {ACL_STRING_LENGTH_MAX} bytes")]
    TooLong { field: &'static str },
    #[error("invalid principal {principal:?}: expected Type:name")]
    InvalidPrincipal { principal: String },
    #[error("the resource name of a CLUSTER ACL must be {CLUSTER_NAME:?}")]
    InvalidClusterName,
    #[error("the cluster already holds {ACLS_MAX} ACLs")]
    TooManyAcls,
    /// A record creates an ACL under the zero id or one another ACL has.
    #[error("ACL id {id:?} is zero or already taken")]
    IdTaken { id: Uuid },
    /// A record creates an ACL the table already holds under another id.
    #[error("the ACL is already held under id {id:?}")]
    AlreadyHeld { id: Uuid },
    /// A record removes an ACL the table does not hold.
    #[error("no ACL has id {id:?}")]
    UnknownId { id: Uuid },
}

impl AclError {
    /// The Kafka error code a client sees: request faults are INVALID_REQUEST; the bound is a
    /// policy; record faults (ids) are the server's.
    #[must_use]
    pub const fn error_code(&self) -> crate::protocol::ErrorCode {
        use crate::protocol::ErrorCode;
        match self {
            Self::UnsupportedCode { .. }
            | Self::Empty { .. }
            | Self::TooLong { .. }
            | Self::InvalidPrincipal { .. }
            | Self::InvalidClusterName => ErrorCode::InvalidRequest,
            Self::TooManyAcls => ErrorCode::PolicyViolation,
            Self::IdTaken { .. } | Self::AlreadyHeld { .. } | Self::UnknownId { .. } => {
                ErrorCode::UnknownServerError
            }
        }
    }
}

impl AclBinding {
    /// Kafka's checks on a binding to create (`AclControlManager.validateNewAcl`).
    ///
    /// # Errors
    /// [`AclError`] naming the first bad field.
    pub fn validate(&self) -> Result<(), AclError> {
        check_string("resource name", &self.pattern.name)?;
        check_string("principal", &self.entry.principal)?;
        check_string("host", &self.entry.host)?;
        match self.entry.principal.split_once(':') {
            Some((kind, name)) if !kind.is_empty() && !name.is_empty() => {}
            _ => {
                return Err(AclError::InvalidPrincipal {
                    principal: self.entry.principal.clone(),
                });
            }
        }
        if self.pattern.resource_type == ResourceType::Cluster && self.pattern.name != CLUSTER_NAME
        {
            return Err(AclError::InvalidClusterName);
        }
        Ok(())
    }
}

fn check_string(field: &'static str, value: &str) -> Result<(), AclError> {
    if value.is_empty() {
        return Err(AclError::Empty { field });
    }
    if value.len() > ACL_STRING_LENGTH_MAX {
        return Err(AclError::TooLong { field });
    }
    Ok(())
}

/// How a filter matches pattern types: ANY (every type, names compared exactly), MATCH
/// (every pattern that covers the named resource), or one type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PatternFilter {
    Any,
    Match,
    Only(PatternType),
}

/// DescribeAcls' and DeleteAcls' filter: `None` in a field matches every value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AclFilter {
    pub resource_type: Option<ResourceType>,
    pub name: Option<String>,
    pub pattern: PatternFilter,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: Option<AclOperation>,
    pub permission: Option<AclPermission>,
}

impl AclFilter {
    /// The filter that matches every ACL.
    #[must_use]
    pub const fn any() -> Self {
        Self {
            resource_type: None,
            name: None,
            pattern: PatternFilter::Any,
            principal: None,
            host: None,
            operation: None,
            permission: None,
        }
    }

    /// Whether `binding` is one this filter selects (Kafka's `AclBindingFilter.matches`).
    #[must_use]
    pub fn matches(&self, binding: &AclBinding) -> bool {
        self.matches_pattern(&binding.pattern) && self.matches_entry(&binding.entry)
    }

    fn matches_pattern(&self, pattern: &ResourcePattern) -> bool {
        if self
            .resource_type
            .is_some_and(|wanted| wanted != pattern.resource_type)
        {
            return false;
        }
        if let PatternFilter::Only(wanted) = self.pattern
            && wanted != pattern.pattern_type
        {
            return false;
        }
        let Some(name) = &self.name else {
            return true;
        };
        match (self.pattern, pattern.pattern_type) {
            (PatternFilter::Any | PatternFilter::Only(_), _) => *name == pattern.name,
            (PatternFilter::Match, PatternType::Literal) => {
                *name == pattern.name || pattern.name == WILDCARD
            }
            (PatternFilter::Match, PatternType::Prefixed) => name.starts_with(&pattern.name),
        }
    }

    fn matches_entry(&self, entry: &AccessControlEntry) -> bool {
        self.principal
            .as_ref()
            .is_none_or(|p| *p == entry.principal)
            && self.host.as_ref().is_none_or(|h| *h == entry.host)
            && self.operation.is_none_or(|op| op == entry.operation)
            && self.permission.is_none_or(|p| p == entry.permission)
    }
}

/// The ACLs the metadata log holds, by id and indexed by resource pattern. Cloned on write
/// (`Arc::make_mut` in `ClusterMetadata::apply`), shared by every shard's published state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AclTable {
    by_id: BTreeMap<Uuid, Arc<AclBinding>>,
    /// Pattern → the ids of its ACLs; what the authorizer looks a resource up in.
    by_pattern: BTreeMap<ResourcePattern, BTreeMap<Uuid, Arc<AclBinding>>>,
}

impl AclTable {
    #[must_use]
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Every ACL with its id, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (Uuid, &AclBinding)> {
        self.by_id
            .iter()
            .map(|(id, binding)| (*id, binding.as_ref()))
    }

    /// The id of `binding`, if it is held.
    #[must_use]
    pub fn id_of(&self, binding: &AclBinding) -> Option<Uuid> {
        let ids = self.by_pattern.get(&binding.pattern)?;
        ids.iter()
            .find(|(_, held)| held.as_ref() == binding)
            .map(|(id, _)| *id)
    }

    /// The ACLs under exactly `pattern`.
    pub fn under<'a>(
        &'a self,
        pattern: &ResourcePattern,
    ) -> impl Iterator<Item = &'a AclBinding> + use<'a> {
        self.by_pattern
            .get(pattern)
            .into_iter()
            .flat_map(|ids| ids.values().map(AsRef::as_ref))
    }

    /// The ACLs of `resource_type` whose pattern covers the resource `name`: LITERAL `name`
    /// and `*`, and PREFIXED with every prefix of `name`. O(|name| · log n).
    pub fn covering<'a>(
        &'a self,
        resource_type: ResourceType,
        name: &'a str,
    ) -> impl Iterator<Item = &'a AclBinding> + 'a {
        let wildcard = (name != WILDCARD).then_some(WILDCARD);
        let literal = std::iter::once(name)
            .chain(wildcard)
            .map(|text| (PatternType::Literal, text));
        let prefixes = name
            .char_indices()
            .map(|(index, c)| index + c.len_utf8())
            .filter_map(move |end| name.get(..end))
            .map(|prefix| (PatternType::Prefixed, prefix));
        literal
            .chain(prefixes)
            .flat_map(move |(pattern_type, text)| {
                self.under(&ResourcePattern {
                    resource_type,
                    pattern_type,
                    name: text.to_owned(),
                })
            })
    }

    /// Whether any ACL of `resource_type` exists (for "WRITE on any topic").
    pub fn of_type(&self, resource_type: ResourceType) -> impl Iterator<Item = &AclBinding> {
        self.by_pattern
            .iter()
            .filter(move |(pattern, _)| pattern.resource_type == resource_type)
            .flat_map(|(_, ids)| ids.values().map(AsRef::as_ref))
    }

    /// Adds `binding` under `id`; on error the table is unchanged.
    ///
    /// # Errors
    /// `IdTaken` (zero or taken), `AlreadyHeld`, `TooManyAcls` at `ACLS_MAX`.
    pub fn insert(&mut self, id: Uuid, binding: AclBinding) -> Result<(), AclError> {
        if id.is_zero() || self.by_id.contains_key(&id) {
            return Err(AclError::IdTaken { id });
        }
        if let Some(held) = self.id_of(&binding) {
            return Err(AclError::AlreadyHeld { id: held });
        }
        if self.by_id.len() >= ACLS_MAX {
            return Err(AclError::TooManyAcls);
        }
        let binding = Arc::new(binding);
        self.by_pattern
            .entry(binding.pattern.clone())
            .or_default()
            .insert(id, Arc::clone(&binding));
        self.by_id.insert(id, binding);
        Ok(())
    }

    /// Removes the ACL with `id`.
    ///
    /// # Errors
    /// `UnknownId`; the table is then unchanged.
    pub fn remove(&mut self, id: Uuid) -> Result<Arc<AclBinding>, AclError> {
        let binding = self.by_id.remove(&id).ok_or(AclError::UnknownId { id })?;
        if let Some(ids) = self.by_pattern.get_mut(&binding.pattern) {
            ids.remove(&id);
            if ids.is_empty() {
                self.by_pattern.remove(&binding.pattern);
            }
        }
        Ok(binding)
    }

    #[must_use]
    pub fn contains_id(&self, id: Uuid) -> bool {
        self.by_id.contains_key(&id)
    }

    /// # Panics
    /// When an invariant in the module docs is broken.
    pub fn check_invariants(&self) {
        assert!(self.by_id.len() <= ACLS_MAX, "{} ACLs", self.by_id.len());
        let indexed: usize = self.by_pattern.values().map(BTreeMap::len).sum();
        assert_eq!(indexed, self.by_id.len(), "index out of step");
        for (id, binding) in &self.by_id {
            assert!(!id.is_zero(), "ACL id zero");
            let under = self.by_pattern.get(&binding.pattern);
            assert!(
                under.is_some_and(|ids| ids.get(id) == Some(binding)),
                "ACL {id:?} not indexed under its pattern"
            );
        }
        if cfg!(debug_assertions) {
            let mut seen = std::collections::BTreeSet::new();
            for binding in self.by_id.values() {
                assert!(seen.insert(binding.as_ref()), "ACL {binding:?} held twice");
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;
    use crate::cluster::decisions::{MetadataChange, decide};
    use crate::cluster::metadata::{ClusterMetadata, MetadataError, MetadataRecord};

    fn binding(name: &str, principal: &str, permission: AclPermission) -> AclBinding {
        AclBinding {
            pattern: ResourcePattern {
                resource_type: ResourceType::Topic,
                pattern_type: PatternType::Literal,
                name: name.into(),
            },
            entry: AccessControlEntry {
                principal: principal.into(),
                host: WILDCARD.into(),
                operation: AclOperation::Read,
                permission,
            },
        }
    }

    fn create(acls: &[(u8, AclBinding)]) -> MetadataChange {
        MetadataChange::CreateAcls {
            acls: acls
                .iter()
                .map(|(id, binding)| (Uuid([*id; 16]), binding.clone()))
                .collect(),
        }
    }

    #[test]
    fn create_skips_held_and_repeated_bindings_then_delete_removes_matches() {
        let empty = ClusterMetadata::empty("c".into());
        let alice = binding("orders", "User:alice", AclPermission::Allow);
        let bob = binding("orders", "User:bob", AclPermission::Deny);
        let change = create(&[(1, alice.clone()), (2, alice.clone()), (3, bob.clone())]);
        let state = empty.with_change(&change, 0).unwrap();
        assert_eq!(state.acls().len(), 2, "alice named twice is created once");
        assert_eq!(state.acls().id_of(&bob), Some(Uuid([3; 16])));
        // Creating what is held writes nothing (Kafka: a no-op success).
        assert!(
            decide(&state, &create(&[(4, alice.clone())]), 0)
                .unwrap()
                .is_empty()
        );
        // An id already in use is refused.
        let clash = create(&[(1, binding("x", "User:c", AclPermission::Allow))]);
        assert!(matches!(
            decide(&state, &clash, 0),
            Err(MetadataError::Acl(AclError::IdTaken { .. }))
        ));
        let deny_only = AclFilter {
            permission: Some(AclPermission::Deny),
            ..AclFilter::any()
        };
        let delete = MetadataChange::DeleteAcls {
            filters: vec![deny_only],
        };
        let records = decide(&state, &delete, 0).unwrap();
        assert_eq!(
            records,
            [MetadataRecord::AclRemoved {
                acl_id: Uuid([3; 16])
            }]
        );
        let state = state.apply_all(&records).unwrap();
        assert_eq!(state.acls().id_of(&alice), Some(Uuid([1; 16])));
        assert_eq!(state.acls().len(), 1);
        // The snapshot rebuilds the same ACLs.
        let restored =
            ClusterMetadata::restore("c".into(), state.version, &state.snapshot_records()).unwrap();
        assert_eq!(restored, state);
    }

    #[test]
    fn records_that_do_not_fit_are_refused_and_change_nothing() {
        let empty = ClusterMetadata::empty("c".into());
        let alice = binding("orders", "User:alice", AclPermission::Allow);
        let created = MetadataRecord::AclCreated {
            acl_id: Uuid([1; 16]),
            binding: alice.clone(),
        };
        let state = empty.apply(&created).unwrap();
        let again = MetadataRecord::AclCreated {
            acl_id: Uuid([2; 16]),
            binding: alice,
        };
        assert!(state.apply(&again).is_err(), "the same binding twice");
        assert!(state.apply(&created).is_err(), "the same id twice");
        let zero = MetadataRecord::AclCreated {
            acl_id: Uuid([0; 16]),
            binding: binding("t", "User:z", AclPermission::Allow),
        };
        assert!(state.apply(&zero).is_err(), "the zero id");
        let unknown = MetadataRecord::AclRemoved {
            acl_id: Uuid([9; 16]),
        };
        assert!(state.apply(&unknown).is_err());
        state.check_invariants();
        assert_eq!(state.acls().len(), 1);
    }

    #[test]
    fn codes_and_names_round_trip() {
        for operation in AclOperation::ALL {
            assert_eq!(AclOperation::from_code(operation.code()), Some(*operation));
            assert_eq!(AclOperation::parse(operation.name()), Some(*operation));
        }
        assert_eq!(
            ResourceType::parse("transactional-id"),
            Some(ResourceType::TransactionalId)
        );
        assert_eq!(AclOperation::from_code(CODE_ANY), None);
        assert_eq!(PatternType::from_code(CODE_MATCH), None);
    }
}
