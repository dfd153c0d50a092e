//! Client quotas as cluster metadata (KIP-13, KIP-55, KIP-124, KIP-546): which entity has which
//! quota values. [`ClientQuotas`] is the table the metadata log holds (`ClientQuota` records,
//! type 16); [`ClientQuotas::resolve`] is Kafka's precedence when several entities match.
//!
//! ```text
//! entity   user: absent | <default> | name   ×   client-id: absent | <default> | name
//!          (at least one present)
//! keys     producer_byte_rate  consumer_byte_rate  request_percentage  controller_mutation_rate
//! ```
//!
//! `controller_mutation_rate` (KIP-599) is stored and described, as Kafka's AlterClientQuotas
//! accepts it, but not enforced: it throttles topic and partition creation and deletion, which
//! go through one metadata log here and are rare next to produce and fetch. Refusing it would
//! break tools (kafka-configs.sh) that set all four keys at once.
//!
//! Invariants ([`ClientQuotas::check_invariants`]): no entity without a component, no entity
//! without a value, every value finite and ≥ 0, at most `CLIENT_QUOTA_ENTITIES_MAX` entities.
//!
//! Pure; runs wherever metadata is applied (shard 0) or read (every shard, read-only).
use crate::limits::{CLIENT_QUOTA_ENTITIES_MAX, CLIENT_QUOTA_NAME_LENGTH_MAX};
use crate::protocol::ErrorCode;
use std::collections::BTreeMap;

/// Kafka's entity type names on the wire.
pub const ENTITY_USER: &str = "user";
pub const ENTITY_CLIENT_ID: &str = "client-id";

/// One component of an entity: Kafka's `<default>` (a null name on the wire) or a name.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum EntityName {
    Default,
    Named(String),
}

impl EntityName {
    /// From the wire: `None` is `<default>`.
    #[must_use]
    pub fn from_wire(name: Option<&str>) -> Self {
        name.map_or(Self::Default, |name| Self::Named(name.to_owned()))
    }

    /// To the wire: `<default>` is `None`.
    #[must_use]
    pub fn to_wire(&self) -> Option<&str> {
        match self {
            Self::Default => None,
            Self::Named(name) => Some(name),
        }
    }
}

impl std::fmt::Display for EntityName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Default => f.write_str("<default>"),
            Self::Named(name) => f.write_str(name),
        }
    }
}

/// Who a quota applies to: a user, a client id, or a user's client id.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct QuotaEntity {
    pub user: Option<EntityName>,
    pub client_id: Option<EntityName>,
}

impl std::fmt::Display for QuotaEntity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(user) = &self.user {
            parts.push(format!("user={user}"));
        }
        if let Some(client_id) = &self.client_id {
            parts.push(format!("client-id={client_id}"));
        }
        f.write_str(&parts.join(","))
    }
}

/// A quota value's name (Kafka's `QuotaConfig` keys).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum QuotaKey {
    ProducerByteRate,
    ConsumerByteRate,
    RequestPercentage,
    /// Stored, not enforced (module docs).
    ControllerMutationRate,
}

impl QuotaKey {
    pub const ALL: [Self; 4] = [
        Self::ProducerByteRate,
        Self::ConsumerByteRate,
        Self::RequestPercentage,
        Self::ControllerMutationRate,
    ];

    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::ProducerByteRate => "producer_byte_rate",
            Self::ConsumerByteRate => "consumer_byte_rate",
            Self::RequestPercentage => "request_percentage",
            Self::ControllerMutationRate => "controller_mutation_rate",
        }
    }

    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|key| key.name() == name)
    }

    /// The record's code for the key. Part of the on-disk format: never renumber.
    #[must_use]
    pub const fn code(self) -> u8 {
        match self {
            Self::ProducerByteRate => 0,
            Self::ConsumerByteRate => 1,
            Self::RequestPercentage => 2,
            Self::ControllerMutationRate => 3,
        }
    }

    #[must_use]
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|key| key.code() == code)
    }

    /// Kafka types the byte rates as LONG: a value with a fraction is refused.
    #[must_use]
    pub const fn is_integral(self) -> bool {
        matches!(self, Self::ProducerByteRate | Self::ConsumerByteRate)
    }
}

/// A quota value; compared by bits so the metadata state stays `Eq` (values are finite).
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct QuotaValue(pub f64);

impl PartialEq for QuotaValue {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for QuotaValue {}

/// Why a quota entity, key or value is refused; all INVALID_REQUEST, as Kafka answers.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QuotaError {
    #[error("the quota entity names no user and no client id")]
    EmptyEntity,
    #[error("entity type {entity_type:?} is named twice")]
    DuplicateEntityType { entity_type: String },
    #[error("entity type {entity_type:?} is not supported (user and client-id are)")]
    UnknownEntityType { entity_type: String },
    #[error("entity name is longer than {CLIENT_QUOTA_NAME_LENGTH_MAX} bytes")]
    NameTooLong,
    #[error("invalid quota key {key:?}")]
    UnknownKey { key: String },
    #[error("quota {key} must be a finite value ≥ 0, not {value}")]
    InvalidValue { key: &'static str, value: f64 },
    #[error("quota {key} must be a whole number, not {value}")]
    NotIntegral { key: &'static str, value: f64 },
    #[error("the cluster holds the most quota entities it may ({CLIENT_QUOTA_ENTITIES_MAX})")]
    TooManyEntities,
    #[error("{entity} has no {key} quota to remove")]
    NothingToRemove { entity: String, key: &'static str },
}

impl QuotaError {
    #[must_use]
    pub const fn error_code(&self) -> ErrorCode {
        ErrorCode::InvalidRequest
    }
}

/// Builds an entity from the wire's (entity type, name) pairs.
///
/// # Errors
/// `EmptyEntity`, `DuplicateEntityType`, `UnknownEntityType` (Kafka's `ip` included: not
/// supported), `NameTooLong`.
pub fn entity_from_wire<'a>(
    components: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> Result<QuotaEntity, QuotaError> {
    let mut entity = QuotaEntity {
        user: None,
        client_id: None,
    };
    for (entity_type, name) in components {
        if name.is_some_and(|name| name.len() > CLIENT_QUOTA_NAME_LENGTH_MAX) {
            return Err(QuotaError::NameTooLong);
        }
        let slot = match entity_type {
            ENTITY_USER => &mut entity.user,
            ENTITY_CLIENT_ID => &mut entity.client_id,
            other => {
                let entity_type = other.to_owned();
                return Err(QuotaError::UnknownEntityType { entity_type });
            }
        };
        if slot.is_some() {
            let entity_type = entity_type.to_owned();
            return Err(QuotaError::DuplicateEntityType { entity_type });
        }
        *slot = Some(EntityName::from_wire(name));
    }
    if entity.user.is_none() && entity.client_id.is_none() {
        return Err(QuotaError::EmptyEntity);
    }
    Ok(entity)
}

/// Checks one value for `key` as Kafka's `ClientQuotaControlManager` does (and refuses what
/// it leaves to chance: negative, NaN and infinite values).
///
/// # Errors
/// `InvalidValue`, `NotIntegral`.
pub fn validate_value(key: QuotaKey, value: f64) -> Result<(), QuotaError> {
    if !value.is_finite() || value < 0.0 {
        return Err(QuotaError::InvalidValue {
            key: key.name(),
            value,
        });
    }
    if key.is_integral() && value.fract() != 0.0 {
        return Err(QuotaError::NotIntegral {
            key: key.name(),
            value,
        });
    }
    Ok(())
}

/// The quota that applies to a client, and the entity it came from: its sensor is keyed by
/// that entity's levels with the client's own names (Kafka's metric tags), so clients that
/// share a `<default>` quota each get their own rate.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedQuota {
    pub value: f64,
    /// The user tag: the client's user when the entity has a user component, else empty.
    pub user_tag: Option<String>,
    /// The client-id tag: the client's id when the entity has a client-id component.
    pub client_id_tag: Option<String>,
}

/// The quota values each entity has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientQuotas {
    entities: BTreeMap<QuotaEntity, BTreeMap<QuotaKey, QuotaValue>>,
}

impl ClientQuotas {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entities.is_empty()
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.entities.len()
    }

    /// Every entity and its values, in entity order.
    pub fn iter(&self) -> impl Iterator<Item = (&QuotaEntity, &BTreeMap<QuotaKey, QuotaValue>)> {
        self.entities.iter()
    }

    #[must_use]
    pub fn get(&self, entity: &QuotaEntity, key: QuotaKey) -> Option<f64> {
        self.entities.get(entity)?.get(&key).map(|value| value.0)
    }

    /// Sets (`Some`) or removes (`None`) one value; an entity without values is forgotten.
    ///
    /// # Errors
    /// `EmptyEntity`, `InvalidValue`, `TooManyEntities`, `NothingToRemove`; `self` is then
    /// unchanged.
    pub fn set(
        &mut self,
        entity: &QuotaEntity,
        key: QuotaKey,
        value: Option<f64>,
    ) -> Result<(), QuotaError> {
        if entity.user.is_none() && entity.client_id.is_none() {
            return Err(QuotaError::EmptyEntity);
        }
        match value {
            Some(value) => {
                if !value.is_finite() || value < 0.0 {
                    let key = key.name();
                    return Err(QuotaError::InvalidValue { key, value });
                }
                let known = self.entities.contains_key(entity);
                if !known && self.entities.len() >= CLIENT_QUOTA_ENTITIES_MAX {
                    return Err(QuotaError::TooManyEntities);
                }
                let values = self.entities.entry(entity.clone()).or_default();
                values.insert(key, QuotaValue(value));
            }
            None => {
                let removed = self
                    .entities
                    .get_mut(entity)
                    .and_then(|values| values.remove(&key));
                if removed.is_none() {
                    let entity = entity.to_string();
                    return Err(QuotaError::NothingToRemove {
                        entity,
                        key: key.name(),
                    });
                }
                if self.entities.get(entity).is_some_and(BTreeMap::is_empty) {
                    self.entities.remove(entity);
                }
            }
        }
        // O(entities): a full check per record would make replay quadratic in release.
        if cfg!(debug_assertions) {
            self.check_invariants();
        }
        Ok(())
    }

    /// The `key` quota for a client of `user` with `client_id`, by Kafka's precedence
    /// (`DefaultQuotaCallback`, most specific first):
    ///
    /// ```text
    /// 1 user=U,client-id=C   2 user=U,client-id=<default>   3 user=U
    /// 4 user=<default>,client-id=C   5 user=<default>,client-id=<default>   6 user=<default>
    /// 7 client-id=C   8 client-id=<default>
    /// ```
    #[must_use]
    pub fn resolve(&self, key: QuotaKey, user: &str, client_id: &str) -> Option<ResolvedQuota> {
        if self.entities.is_empty() {
            return None;
        }
        let named_user = || Some(EntityName::Named(user.to_owned()));
        let named_client = || Some(EntityName::Named(client_id.to_owned()));
        let default = || Some(EntityName::Default);
        let levels = [
            (named_user(), named_client()),
            (named_user(), default()),
            (named_user(), None),
            (default(), named_client()),
            (default(), default()),
            (default(), None),
            (None, named_client()),
            (None, default()),
        ];
        levels.into_iter().find_map(|(user_level, client_level)| {
            let entity = QuotaEntity {
                user: user_level,
                client_id: client_level,
            };
            let value = self.get(&entity, key)?;
            Some(ResolvedQuota {
                value,
                user_tag: entity.user.map(|_| user.to_owned()),
                client_id_tag: entity.client_id.map(|_| client_id.to_owned()),
            })
        })
    }

    /// # Panics
    /// When an invariant in the module docs does not hold.
    pub fn check_invariants(&self) {
        assert!(self.entities.len() <= CLIENT_QUOTA_ENTITIES_MAX);
        for (entity, values) in &self.entities {
            assert!(entity.user.is_some() || entity.client_id.is_some());
            assert!(!values.is_empty(), "{entity} kept without values");
            for value in values.values() {
                assert!(
                    value.0.is_finite() && value.0 >= 0.0,
                    "{entity}: {}",
                    value.0
                );
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn entity(user: Option<Option<&str>>, client_id: Option<Option<&str>>) -> QuotaEntity {
        QuotaEntity {
            user: user.map(EntityName::from_wire),
            client_id: client_id.map(EntityName::from_wire),
        }
    }

    #[test]
    fn precedence_is_kafkas_most_specific_first() {
        let key = QuotaKey::ProducerByteRate;
        let levels = [
            entity(None, Some(None)),
            entity(None, Some(Some("c"))),
            entity(Some(None), None),
            entity(Some(None), Some(None)),
            entity(Some(None), Some(Some("c"))),
            entity(Some(Some("u")), None),
            entity(Some(Some("u")), Some(None)),
            entity(Some(Some("u")), Some(Some("c"))),
        ];
        let mut quotas = ClientQuotas::default();
        // Adding ever more specific entities: each one added wins from then on.
        for (index, level) in levels.iter().enumerate() {
            let value = f64::from(u32::try_from(index).unwrap() + 1);
            quotas.set(level, key, Some(value)).unwrap();
            let resolved = quotas.resolve(key, "u", "c").unwrap();
            assert_eq!(resolved.value, value, "level {level}");
        }
        // Another user and client only see the defaults.
        let other = quotas.resolve(key, "v", "d").unwrap();
        assert_eq!(other.value, 4.0);
        assert_eq!(other.user_tag.as_deref(), Some("v"));
        assert_eq!(other.client_id_tag.as_deref(), Some("d"));
        // The other keys are unset.
        assert!(
            quotas
                .resolve(QuotaKey::ConsumerByteRate, "u", "c")
                .is_none()
        );
    }

    #[test]
    fn client_id_default_tags_the_client_only() {
        let mut quotas = ClientQuotas::default();
        let key = QuotaKey::ConsumerByteRate;
        quotas
            .set(&entity(None, Some(None)), key, Some(10.0))
            .unwrap();
        let resolved = quotas.resolve(key, "u", "c").unwrap();
        assert_eq!(resolved.user_tag, None);
        assert_eq!(resolved.client_id_tag.as_deref(), Some("c"));
    }

    #[test]
    fn removal_forgets_empty_entities_and_refuses_nothing() {
        let mut quotas = ClientQuotas::default();
        let alice = entity(Some(Some("alice")), None);
        let key = QuotaKey::RequestPercentage;
        assert!(matches!(
            quotas.set(&alice, key, None),
            Err(QuotaError::NothingToRemove { .. })
        ));
        quotas.set(&alice, key, Some(50.0)).unwrap();
        assert_eq!(quotas.len(), 1);
        quotas.set(&alice, key, None).unwrap();
        assert!(quotas.is_empty());
        assert!(quotas.set(&alice, key, Some(-1.0)).is_err());
        assert!(quotas.set(&alice, key, Some(f64::NAN)).is_err());
        assert!(quotas.is_empty());
    }

    #[test]
    fn wire_entities_and_values_are_checked() {
        let both = entity_from_wire([("user", Some("u")), ("client-id", None)]).unwrap();
        assert_eq!(both, entity(Some(Some("u")), Some(None)));
        assert_eq!(entity_from_wire([]), Err(QuotaError::EmptyEntity));
        assert!(matches!(
            entity_from_wire([("user", None), ("user", Some("x"))]),
            Err(QuotaError::DuplicateEntityType { .. })
        ));
        assert!(matches!(
            entity_from_wire([("ip", Some("1.2.3.4"))]),
            Err(QuotaError::UnknownEntityType { .. })
        ));
        assert!(validate_value(QuotaKey::ProducerByteRate, 1024.0).is_ok());
        assert!(validate_value(QuotaKey::ProducerByteRate, 10.5).is_err());
        assert!(validate_value(QuotaKey::RequestPercentage, 10.5).is_ok());
        assert!(validate_value(QuotaKey::ConsumerByteRate, -1.0).is_err());
        assert!(validate_value(QuotaKey::ConsumerByteRate, f64::INFINITY).is_err());
        for key in QuotaKey::ALL {
            assert_eq!(QuotaKey::parse(key.name()), Some(key));
            assert_eq!(QuotaKey::from_code(key.code()), Some(key));
        }
    }
}
