//! SCRAM credentials as metadata state (KIP-554): per user and mechanism, the salt, the
//! iteration count and the two derived keys — never the password. Data only; the SCRAM
//! exchange and key derivation live in `security::scram`, above this layer.
//!
//! Held in `ClusterMetadata` (replicated through the metadata log as `ScramCredential`
//! records, type 13) and read by every shard from its published snapshot.
use super::records::{MetadataRecord, Reader, RecordDecodeError};
use super::records::{put_string, put_u32, string_size};
use super::{ClusterMetadata, MetadataError};
use crate::limits::{
    SCRAM_CREDENTIALS_MAX, SCRAM_ITERATIONS_MAX, SCRAM_ITERATIONS_MIN, SCRAM_USER_NAME_LENGTH_MAX,
};
use std::collections::BTreeMap;

/// A SCRAM mechanism Kafka supports. The numbers are Kafka's `ScramMechanism` type ids, used
/// on the wire by Describe/AlterUserScramCredentials and in our metadata records.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum ScramMechanism {
    Sha256 = 1,
    Sha512 = 2,
}

impl ScramMechanism {
    /// Every mechanism, in type id order.
    pub const ALL: [Self; 2] = [Self::Sha256, Self::Sha512];

    /// The SASL mechanism name, e.g. `SCRAM-SHA-512`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "SCRAM-SHA-256",
            Self::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// Parses the SASL mechanism name (exact, as SaslHandshake carries it).
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|mechanism| mechanism.name() == name)
    }

    /// Kafka's type id (1 = SHA-256, 2 = SHA-512).
    #[must_use]
    pub const fn type_id(self) -> i8 {
        self as i8
    }

    /// The mechanism of Kafka's type id.
    #[must_use]
    pub const fn from_type_id(id: i8) -> Option<Self> {
        match id {
            1 => Some(Self::Sha256),
            2 => Some(Self::Sha512),
            _ => None,
        }
    }

    /// The digest's output size in bytes: the size of the stored and server keys.
    #[must_use]
    pub const fn key_size(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }
}

/// One user's credential for one mechanism (RFC 5802 §3: `StoredKey = H(ClientKey)`,
/// `ServerKey = HMAC(SaltedPassword, "Server Key")`).
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    pub iterations: i32,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

// Keys are secrets-equivalent for SCRAM (a stolen StoredKey+ServerKey lets an attacker
// impersonate the server): never print them.
impl std::fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramCredential")
            .field("salt_size", &self.salt.len())
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// Why a credential cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("user name is empty or longer than {SCRAM_USER_NAME_LENGTH_MAX} bytes")]
    InvalidUserName,
    #[error("iterations {iterations} outside {SCRAM_ITERATIONS_MIN}..={SCRAM_ITERATIONS_MAX}")]
    InvalidIterations { iterations: i32 },
    #[error("{mechanism:?} keys must be {expected} bytes, not {stored}/{server}")]
    InvalidKeySize {
        mechanism: ScramMechanism,
        expected: usize,
        stored: usize,
        server: usize,
    },
    #[error("salt is empty or longer than {max} bytes", max = crate::limits::SCRAM_SALT_SIZE_MAX)]
    InvalidSalt,
}

/// Checks a credential as a record or an AlterUserScramCredentials upsertion must be.
///
/// # Errors
/// The first rule broken.
pub fn validate_credential(
    user: &str,
    mechanism: ScramMechanism,
    credential: &ScramCredential,
) -> Result<(), CredentialError> {
    if user.is_empty() || user.len() > SCRAM_USER_NAME_LENGTH_MAX {
        return Err(CredentialError::InvalidUserName);
    }
    let iterations = credential.iterations;
    if !(SCRAM_ITERATIONS_MIN..=SCRAM_ITERATIONS_MAX).contains(&iterations) {
        return Err(CredentialError::InvalidIterations { iterations });
    }
    if credential.salt.is_empty() || credential.salt.len() > crate::limits::SCRAM_SALT_SIZE_MAX {
        return Err(CredentialError::InvalidSalt);
    }
    let expected = mechanism.key_size();
    if credential.stored_key.len() != expected || credential.server_key.len() != expected {
        return Err(CredentialError::InvalidKeySize {
            mechanism,
            expected,
            stored: credential.stored_key.len(),
            server: credential.server_key.len(),
        });
    }
    Ok(())
}

/// The credential record's body (type 13, v0):
/// `[user:str][mechanism:u8][present:u8]` then, when present,
/// `[salt:bytes][iterations:i32][stored_key:bytes][server_key:bytes]`; absent = deleted.
pub(super) fn record_body_size(user: &str, credential: Option<&ScramCredential>) -> usize {
    let keys = credential.map_or(0, |credential| {
        4 + credential.salt.len()
            + 4
            + 4
            + credential.stored_key.len()
            + 4
            + credential.server_key.len()
    });
    string_size(user) + 1 + 1 + keys
}

pub(super) fn put_record_body(
    out: &mut Vec<u8>,
    user: &str,
    mechanism: ScramMechanism,
    credential: Option<&ScramCredential>,
) {
    put_string(out, user);
    out.push(mechanism as u8);
    out.push(u8::from(credential.is_some()));
    if let Some(credential) = credential {
        put_u32(out, credential.salt.len());
        out.extend_from_slice(&credential.salt);
        out.extend_from_slice(&credential.iterations.to_be_bytes());
        put_u32(out, credential.stored_key.len());
        out.extend_from_slice(&credential.stored_key);
        put_u32(out, credential.server_key.len());
        out.extend_from_slice(&credential.server_key);
    }
}

pub(super) fn decode_record_body(
    reader: &mut Reader<'_>,
) -> Result<MetadataRecord, RecordDecodeError> {
    let user = reader.string()?;
    let offset = reader.offset;
    let value = reader.u8()?;
    let mechanism = i8::try_from(value)
        .ok()
        .and_then(ScramMechanism::from_type_id)
        .ok_or(RecordDecodeError::InvalidFlags { offset, value })?;
    let credential = match reader.flags(1)? {
        0 => None,
        _ => Some(ScramCredential {
            salt: reader.bytes()?.to_vec(),
            iterations: reader.i32()?,
            stored_key: reader.bytes()?.to_vec(),
            server_key: reader.bytes()?.to_vec(),
        }),
    };
    Ok(MetadataRecord::ScramCredential {
        user,
        mechanism,
        credential,
    })
}

impl ClusterMetadata {
    /// `user`'s credential for `mechanism`.
    #[must_use]
    pub fn scram_credential(
        &self,
        user: &str,
        mechanism: ScramMechanism,
    ) -> Option<&ScramCredential> {
        self.scram_credentials.get(user)?.get(&mechanism)
    }

    /// Every user with a credential, by name, with their credentials by mechanism.
    pub fn scram_users(
        &self,
    ) -> impl Iterator<Item = (&String, &BTreeMap<ScramMechanism, ScramCredential>)> {
        self.scram_credentials.iter()
    }

    /// Credentials stored, over all users and mechanisms.
    #[must_use]
    pub fn scram_credential_count(&self) -> usize {
        self.scram_credentials.values().map(BTreeMap::len).sum()
    }

    /// Applies a `ScramCredential` record: sets or deletes one credential.
    pub(super) fn apply_scram_credential(
        &mut self,
        user: &str,
        mechanism: ScramMechanism,
        credential: Option<&ScramCredential>,
    ) -> Result<(), MetadataError> {
        let Some(credential) = credential else {
            let user_credentials = self.scram_credentials.get_mut(user);
            let removed = user_credentials.and_then(|map| map.remove(&mechanism));
            if removed.is_none() {
                return Err(MetadataError::ScramCredentialNotFound {
                    user: user.to_owned(),
                    mechanism: mechanism.name(),
                });
            }
            self.scram_credentials.retain(|_, map| !map.is_empty());
            return Ok(());
        };
        validate_credential(user, mechanism, credential)?;
        let exists = self.scram_credential(user, mechanism).is_some();
        if !exists && self.scram_credential_count() >= SCRAM_CREDENTIALS_MAX {
            return Err(MetadataError::ScramCredentialsFull);
        }
        let user_credentials = self.scram_credentials.entry(user.to_owned()).or_default();
        user_credentials.insert(mechanism, credential.clone());
        Ok(())
    }

    /// The records that rebuild the credentials, by user then mechanism.
    pub(super) fn scram_snapshot_records(&self) -> Vec<MetadataRecord> {
        let mut records = Vec::new();
        for (user, credentials) in &self.scram_credentials {
            for (mechanism, credential) in credentials {
                records.push(MetadataRecord::ScramCredential {
                    user: user.clone(),
                    mechanism: *mechanism,
                    credential: Some(credential.clone()),
                });
            }
        }
        assert!(records.len() <= SCRAM_CREDENTIALS_MAX);
        records
    }

    /// # Panics
    /// When a stored credential breaks `validate_credential` or a user has none.
    pub(super) fn check_scram_invariants(&self) {
        assert!(self.scram_credential_count() <= SCRAM_CREDENTIALS_MAX);
        for (user, credentials) in &self.scram_credentials {
            assert!(
                !credentials.is_empty(),
                "user {user:?} kept without credentials"
            );
            for (mechanism, credential) in credentials {
                assert_eq!(validate_credential(user, *mechanism, credential), Ok(()));
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    fn credential(key_size: usize) -> ScramCredential {
        ScramCredential {
            salt: vec![7; 16],
            iterations: 4096,
            stored_key: vec![1; key_size],
            server_key: vec![2; key_size],
        }
    }

    #[test]
    fn records_round_trip_and_apply_set_then_delete() {
        let set = MetadataRecord::ScramCredential {
            user: "alice".to_owned(),
            mechanism: ScramMechanism::Sha512,
            credential: Some(credential(64)),
        };
        let delete = MetadataRecord::ScramCredential {
            user: "alice".to_owned(),
            mechanism: ScramMechanism::Sha512,
            credential: None,
        };
        for record in [&set, &delete] {
            let bytes = record.to_bytes();
            assert_eq!(bytes.first(), Some(&13));
            assert_eq!(&MetadataRecord::decode(&bytes).unwrap(), record);
            for end in 0..bytes.len() {
                assert!(MetadataRecord::decode(&bytes[..end]).is_err(), "{end}");
            }
        }
        let empty = ClusterMetadata::empty("c".to_owned());
        assert!(empty.apply(&delete).is_err(), "deleting nothing is refused");
        let with = empty.apply(&set).unwrap();
        assert!(
            with.scram_credential("alice", ScramMechanism::Sha512)
                .is_some()
        );
        assert!(
            with.scram_credential("alice", ScramMechanism::Sha256)
                .is_none()
        );
        let restored = ClusterMetadata::restore("c".to_owned(), 1, &with.snapshot_records());
        assert_eq!(restored.unwrap(), with);
        let without = with.apply(&delete).unwrap();
        assert_eq!(without.scram_users().count(), 0);
        let wrong_size = MetadataRecord::ScramCredential {
            user: "bob".to_owned(),
            mechanism: ScramMechanism::Sha256,
            credential: Some(credential(64)),
        };
        assert!(empty.apply(&wrong_size).is_err());
    }

    #[test]
    fn mechanisms_round_trip_names_and_kafka_ids() {
        for mechanism in ScramMechanism::ALL {
            assert_eq!(ScramMechanism::parse(mechanism.name()), Some(mechanism));
            assert_eq!(
                ScramMechanism::from_type_id(mechanism.type_id()),
                Some(mechanism)
            );
        }
        assert_eq!(ScramMechanism::Sha512.type_id(), 2);
        assert_eq!(ScramMechanism::parse("scram-sha-256"), None);
        assert_eq!(ScramMechanism::from_type_id(0), None);
    }

    #[test]
    fn validation_checks_bounds_and_key_sizes() {
        let good = ScramCredential {
            salt: vec![1; 16],
            iterations: 4096,
            stored_key: vec![0; 32],
            server_key: vec![0; 32],
        };
        assert_eq!(
            validate_credential("u", ScramMechanism::Sha256, &good),
            Ok(())
        );
        assert!(validate_credential("", ScramMechanism::Sha256, &good).is_err());
        assert!(validate_credential("u", ScramMechanism::Sha512, &good).is_err());
        let few = ScramCredential {
            iterations: 10,
            ..good.clone()
        };
        assert!(validate_credential("u", ScramMechanism::Sha256, &few).is_err());
        let saltless = ScramCredential {
            salt: Vec::new(),
            ..good
        };
        assert!(validate_credential("u", ScramMechanism::Sha256, &saltless).is_err());
    }
}
