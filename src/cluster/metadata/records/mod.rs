//! Metadata records: the changes the metadata log is made of, and their binary encoding.
//!
//! Every record starts with its type and the version of that type's layout, so a broker reads
//! logs and snapshots written by older brokers: a layout change adds a version (decode keeps
//! reading the old ones), a new kind of change adds a type. Integers are big-endian; strings
//! and maps carry u32 lengths checked against the bytes left, so nothing the file says sizes an
//! allocation beyond the record's own bytes (≤ `METADATA_RECORD_SIZE_MAX`).
//!
//! ```text
//! record            [type:u8][version:u8][body]
//! TopicCreated  1 v0 [topic_id:16][name:str][partition_count:i32][configs:map]
//! TopicRemoved  2 v0 [topic_id:16]
//! PartitionsAdded 3 v0 [topic_id:16][partition_count:i32]   (the new total)
//! TopicConfigsSet 4 v0 [topic_id:16][configs:map]          (replaces all overrides)
//! BrokerConfigsSet 5 v0 [configs:map]                      (replaces all overrides)
//! RegisterBroker  6 v0 [node_id:i32][incarnation:16][broker_epoch:i64][shard_count:i32]
//!                      [rack:opt_str][listeners:u32 count × [name:str][host:str][port:u16]]
//! FenceBroker     7 v0 [node_id:i32][broker_epoch:i64]
//! UnfenceBroker   8 v0 [node_id:i32][broker_epoch:i64]
//! UnregisterBroker 9 v0 [node_id:i32][broker_epoch:i64]
//! Partition      10 v0 [topic_id:16][partition:i32][replicas:ids][isr:ids][elr:ids]
//!                      [adding:ids][removing:ids][leader:i32][leader_epoch:i32]
//!                      [partition_epoch:i32]
//! PartitionChange 11 v0 [topic_id:16][partition:i32][leader_epoch:i32][partition_epoch:i32]
//!                      [fields:u8] then, for each bit set in order: bit 0 [leader:i32],
//!                      bit 1 [isr:ids], bit 2 [elr:ids], bit 3 [replicas:ids],
//!                      bit 4 [adding:ids], bit 5 [removing:ids]; other bits must be 0
//! ProducerIdBlock 12 v0 [node_id:i32][first:i64][size:i32]
//! ScramCredential 13 v0 [user:str][mechanism:u8][present:u8] present → [salt:bytes]
//!                      [iterations:i32][stored_key:bytes][server_key:bytes] (absent: delete)
//! AclCreated     14 v0 [acl_id:16][resource_type:i8][pattern_type:i8][resource_name:str]
//!                      [principal:str][host:str][operation:i8][permission:i8]   (Kafka's codes)
//! AclRemoved     15 v0 [acl_id:16]
//! ClientQuota    16 v0 [user:entity][client_id:entity][key:u8][present:u8]
//!                      present → [value:f64 bits, u64]   (absent: the key is removed)
//! entity            [kind:u8 = 0 absent | 1 <default>] | [kind:u8 = 2][name:str]
//! str               [length:u32][UTF-8 bytes]
//! bytes             [length:u32][bytes]
//! opt_str           [present:u8 = 0] | [present:u8 = 1][str]
//! ids               [count:u32] count × [node_id:i32]
//! map               [count:u32] count × [name:str][value:str], names strictly ascending
//! ```
//! Numbers are assigned when a record is added and never reused (13 is `ScramCredential`'s,
//! 16 `ClientQuota`'s, Kafka's ClientQuotaRecord). The encoding is canonical (maps sorted,
//! flags 0 or 1, no padding), so `encode(decode(b)) == b`.
//!
//! Pure code; runs wherever records are encoded or decoded (shard 0 today).
use super::brokers::{BrokerRegistration, Listener, ProducerIdBlock};
use super::partitions::{PartitionDelta, PartitionState};
use super::scram_credentials::{self, ScramCredential, ScramMechanism};
use crate::cluster::acls::AclBinding;
use crate::cluster::quotas::{QuotaEntity, QuotaKey, QuotaValue};
use crate::limits::METADATA_RECORD_SIZE_MAX;
use crate::protocol::Uuid;
use std::collections::BTreeMap;
pub(super) use wire::Reader;
use wire::*;
pub(super) use wire::{put_string, put_u32, string_size};

#[cfg(test)]
pub(super) mod tests;
mod wire;

/// One change to the cluster metadata. Topics are named by id, as in Kafka's records, so a
/// record stays unambiguous when a topic is deleted and re-created under the same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataRecord {
    /// A new topic with its partitions and config overrides.
    TopicCreated {
        topic_id: Uuid,
        name: String,
        partition_count: i32,
        configs: BTreeMap<String, String>,
    },
    /// The topic is gone (its data is deleted when shards reconcile).
    TopicRemoved { topic_id: Uuid },
    /// The topic now has `partition_count` partitions (more than before).
    PartitionsAdded {
        topic_id: Uuid,
        partition_count: i32,
    },
    /// The topic's overrides are now exactly `configs`.
    TopicConfigsSet {
        topic_id: Uuid,
        configs: BTreeMap<String, String>,
    },
    /// The broker-level overrides are now exactly `configs`.
    BrokerConfigsSet { configs: BTreeMap<String, String> },
    /// A broker (re)registers; its registration is replaced and starts fenced. `fenced` in
    /// the registration is not encoded (always true after apply).
    RegisterBroker(BrokerRegistration),
    /// The broker at `broker_epoch` is fenced: it leads nothing and is not listed.
    FenceBroker { node_id: i32, broker_epoch: i64 },
    /// The broker at `broker_epoch` may lead and is listed.
    UnfenceBroker { node_id: i32, broker_epoch: i64 },
    /// The broker at `broker_epoch` leaves the cluster.
    UnregisterBroker { node_id: i32, broker_epoch: i64 },
    /// The first state of the next partition of a topic.
    Partition {
        topic_id: Uuid,
        partition: i32,
        state: PartitionState,
    },
    /// A recorded partition changes (only the changed fields, plus the new epochs).
    PartitionChange {
        topic_id: Uuid,
        partition: i32,
        delta: PartitionDelta,
    },
    /// Producer ids handed to a broker.
    ProducerIdBlock(ProducerIdBlock),
    /// A user's SCRAM credential for one mechanism is set (`Some`) or deleted (`None`).
    ScramCredential {
        user: String,
        mechanism: ScramMechanism,
        credential: Option<ScramCredential>,
    },
    /// A new ACL under a fresh id (Kafka's AccessControlEntryRecord).
    AclCreated { acl_id: Uuid, binding: AclBinding },
    /// The ACL with `acl_id` is gone (Kafka's RemoveAccessControlEntryRecord).
    AclRemoved { acl_id: Uuid },
    /// One quota value of an entity is set (`Some`) or removed (`None`) (Kafka's
    /// ClientQuotaRecord).
    ClientQuota {
        entity: QuotaEntity,
        key: QuotaKey,
        value: Option<QuotaValue>,
    },
}

/// The type byte of a record. Part of the on-disk format: never renumber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RecordType {
    TopicCreated = 1,
    TopicRemoved = 2,
    PartitionsAdded = 3,
    TopicConfigsSet = 4,
    BrokerConfigsSet = 5,
    RegisterBroker = 6,
    FenceBroker = 7,
    UnfenceBroker = 8,
    UnregisterBroker = 9,
    Partition = 10,
    PartitionChange = 11,
    ProducerIdBlock = 12,
    ScramCredential = 13,
    AclCreated = 14,
    AclRemoved = 15,
    ClientQuota = 16,
}

impl RecordType {
    #[must_use]
    pub const fn from_u8(value: u8) -> Option<Self> {
        match value {
            1 => Some(Self::TopicCreated),
            2 => Some(Self::TopicRemoved),
            3 => Some(Self::PartitionsAdded),
            4 => Some(Self::TopicConfigsSet),
            5 => Some(Self::BrokerConfigsSet),
            6 => Some(Self::RegisterBroker),
            7 => Some(Self::FenceBroker),
            8 => Some(Self::UnfenceBroker),
            9 => Some(Self::UnregisterBroker),
            10 => Some(Self::Partition),
            11 => Some(Self::PartitionChange),
            12 => Some(Self::ProducerIdBlock),
            13 => Some(Self::ScramCredential),
            14 => Some(Self::AclCreated),
            15 => Some(Self::AclRemoved),
            16 => Some(Self::ClientQuota),
            _ => None,
        }
    }

    /// The layout version this broker writes; it reads every version up to this one.
    #[must_use]
    pub const fn version(self) -> u8 {
        match self {
            Self::TopicCreated
            | Self::TopicRemoved
            | Self::PartitionsAdded
            | Self::TopicConfigsSet
            | Self::BrokerConfigsSet
            | Self::RegisterBroker
            | Self::FenceBroker
            | Self::UnfenceBroker
            | Self::UnregisterBroker
            | Self::Partition
            | Self::PartitionChange
            | Self::ProducerIdBlock
            | Self::ScramCredential
            | Self::AclCreated
            | Self::AclRemoved
            | Self::ClientQuota => 0,
        }
    }
}

/// Why bytes are not a record. Offsets are from the record's first byte.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordDecodeError {
    #[error("record of {size} bytes exceeds the limit of {size_max} bytes")]
    TooLarge { size: usize, size_max: usize },
    #[error("record ends at offset {offset}: {need} more bytes needed, {have} left")]
    UnexpectedEof {
        offset: usize,
        need: usize,
        have: usize,
    },
    #[error("unknown record type {record_type}")]
    UnknownType { record_type: u8 },
    #[error("{record_type:?} record version {version} is newer than {version_max}")]
    UnsupportedVersion {
        record_type: RecordType,
        version: u8,
        version_max: u8,
    },
    #[error("string at offset {offset} is not UTF-8")]
    InvalidUtf8 { offset: usize },
    #[error("config name at offset {offset} is not after the previous one")]
    UnsortedConfigs { offset: usize },
    #[error("{count} bytes after the record's last field")]
    TrailingBytes { count: usize },
    #[error("flag byte {value:#04x} at offset {offset} has bits that mean nothing")]
    InvalidFlags { offset: usize, value: u8 },
    #[error("quota key code {code} at offset {offset} is unknown")]
    InvalidQuotaKey { offset: usize, code: u8 },
    #[error("ACL {field} code {code} at offset {offset} is unknown")]
    InvalidAclCode {
        offset: usize,
        field: &'static str,
        code: i8,
    },
}

impl MetadataRecord {
    #[must_use]
    pub const fn record_type(&self) -> RecordType {
        match self {
            Self::TopicCreated { .. } => RecordType::TopicCreated,
            Self::TopicRemoved { .. } => RecordType::TopicRemoved,
            Self::PartitionsAdded { .. } => RecordType::PartitionsAdded,
            Self::TopicConfigsSet { .. } => RecordType::TopicConfigsSet,
            Self::BrokerConfigsSet { .. } => RecordType::BrokerConfigsSet,
            Self::RegisterBroker(_) => RecordType::RegisterBroker,
            Self::FenceBroker { .. } => RecordType::FenceBroker,
            Self::UnfenceBroker { .. } => RecordType::UnfenceBroker,
            Self::UnregisterBroker { .. } => RecordType::UnregisterBroker,
            Self::Partition { .. } => RecordType::Partition,
            Self::PartitionChange { .. } => RecordType::PartitionChange,
            Self::ProducerIdBlock(_) => RecordType::ProducerIdBlock,
            Self::ScramCredential { .. } => RecordType::ScramCredential,
            Self::AclCreated { .. } => RecordType::AclCreated,
            Self::AclRemoved { .. } => RecordType::AclRemoved,
            Self::ClientQuota { .. } => RecordType::ClientQuota,
        }
    }

    /// Bytes [`Self::encode`] appends, computed without encoding.
    #[must_use]
    pub fn encoded_size(&self) -> usize {
        const HEADER: usize = 2;
        const ID: usize = 16;
        let body = match self {
            Self::TopicCreated { name, configs, .. } => {
                ID + string_size(name) + 4 + map_size(configs)
            }
            Self::TopicRemoved { .. } => ID,
            Self::PartitionsAdded { .. } => ID + 4,
            Self::TopicConfigsSet { configs, .. } => ID + map_size(configs),
            Self::BrokerConfigsSet { configs } => map_size(configs),
            Self::RegisterBroker(broker) => registration_size(broker),
            Self::FenceBroker { .. }
            | Self::UnfenceBroker { .. }
            | Self::UnregisterBroker { .. } => 4 + 8,
            Self::Partition { state, .. } => ID + 4 + partition_state_size(state),
            Self::PartitionChange { delta, .. } => ID + 4 + delta_size(delta),
            Self::ProducerIdBlock(_) => 4 + 8 + 4,
            Self::ScramCredential {
                user, credential, ..
            } => scram_credentials::record_body_size(user, credential.as_ref()),
            Self::AclCreated { binding, .. } => ID + acl_binding_size(binding),
            Self::AclRemoved { .. } => ID,
            Self::ClientQuota { entity, value, .. } => {
                quota_entity_size(entity) + 2 + value.map_or(0, |_| 8)
            }
        };
        HEADER + body
    }

    /// Appends the record in the current version of its type's layout.
    ///
    /// # Panics
    /// When a string or map is longer than `u32::MAX` (callers bound records to
    /// `METADATA_RECORD_SIZE_MAX` long before).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        let record_type = self.record_type();
        out.push(record_type as u8);
        out.push(record_type.version());
        match self {
            Self::TopicCreated {
                topic_id,
                name,
                partition_count,
                configs,
            } => {
                out.extend_from_slice(&topic_id.0);
                put_string(out, name);
                out.extend_from_slice(&partition_count.to_be_bytes());
                put_map(out, configs);
            }
            Self::TopicRemoved { topic_id } => out.extend_from_slice(&topic_id.0),
            Self::PartitionsAdded {
                topic_id,
                partition_count,
            } => {
                out.extend_from_slice(&topic_id.0);
                out.extend_from_slice(&partition_count.to_be_bytes());
            }
            Self::TopicConfigsSet { topic_id, configs } => {
                out.extend_from_slice(&topic_id.0);
                put_map(out, configs);
            }
            Self::BrokerConfigsSet { configs } => put_map(out, configs),
            other => other.encode_cluster_body(out),
        }
        assert_eq!(
            out.len() - start,
            self.encoded_size(),
            "size and encoding agree"
        );
    }

    /// The bodies of the broker, partition and producer-id records.
    fn encode_cluster_body(&self, out: &mut Vec<u8>) {
        match self {
            Self::RegisterBroker(broker) => put_registration(out, broker),
            Self::FenceBroker {
                node_id,
                broker_epoch,
            }
            | Self::UnfenceBroker {
                node_id,
                broker_epoch,
            }
            | Self::UnregisterBroker {
                node_id,
                broker_epoch,
            } => {
                out.extend_from_slice(&node_id.to_be_bytes());
                out.extend_from_slice(&broker_epoch.to_be_bytes());
            }
            Self::Partition {
                topic_id,
                partition,
                state,
            } => {
                out.extend_from_slice(&topic_id.0);
                out.extend_from_slice(&partition.to_be_bytes());
                put_partition_state(out, state);
            }
            Self::PartitionChange {
                topic_id,
                partition,
                delta,
            } => {
                out.extend_from_slice(&topic_id.0);
                out.extend_from_slice(&partition.to_be_bytes());
                put_delta(out, delta);
            }
            Self::ProducerIdBlock(block) => {
                out.extend_from_slice(&block.node_id.to_be_bytes());
                out.extend_from_slice(&block.first.to_be_bytes());
                out.extend_from_slice(&block.size.to_be_bytes());
            }
            Self::ScramCredential {
                user,
                mechanism,
                credential,
            } => scram_credentials::put_record_body(out, user, *mechanism, credential.as_ref()),
            Self::AclCreated { acl_id, binding } => {
                out.extend_from_slice(&acl_id.0);
                put_acl_binding(out, binding);
            }
            Self::AclRemoved { acl_id } => out.extend_from_slice(&acl_id.0),
            Self::ClientQuota { entity, key, value } => {
                put_quota_entity(out, entity);
                out.push(key.code());
                match value {
                    None => out.push(0),
                    Some(value) => {
                        out.push(1);
                        out.extend_from_slice(&value.0.to_bits().to_be_bytes());
                    }
                }
            }
            Self::TopicCreated { .. }
            | Self::TopicRemoved { .. }
            | Self::PartitionsAdded { .. }
            | Self::TopicConfigsSet { .. }
            | Self::BrokerConfigsSet { .. } => unreachable!("topic records are encoded by encode"),
        }
    }

    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_size());
        self.encode(&mut out);
        out
    }

    /// Decodes one whole record (every byte of `bytes` must belong to it).
    ///
    /// # Errors
    /// [`RecordDecodeError`]; never panics, whatever the bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordDecodeError> {
        if bytes.len() > METADATA_RECORD_SIZE_MAX {
            return Err(RecordDecodeError::TooLarge {
                size: bytes.len(),
                size_max: METADATA_RECORD_SIZE_MAX,
            });
        }
        let mut reader = Reader { bytes, offset: 0 };
        let type_byte = reader.u8()?;
        let record_type = RecordType::from_u8(type_byte).ok_or(RecordDecodeError::UnknownType {
            record_type: type_byte,
        })?;
        let version = reader.u8()?;
        if version > record_type.version() {
            return Err(RecordDecodeError::UnsupportedVersion {
                record_type,
                version,
                version_max: record_type.version(),
            });
        }
        // Every type is at version 0; a version 1 layout gets its own arm here.
        let record = decode_v0(record_type, &mut reader)?;
        reader.finish()?;
        Ok(record)
    }
}

fn decode_v0(
    record_type: RecordType,
    reader: &mut Reader<'_>,
) -> Result<MetadataRecord, RecordDecodeError> {
    Ok(match record_type {
        RecordType::TopicCreated => MetadataRecord::TopicCreated {
            topic_id: reader.uuid()?,
            name: reader.string()?,
            partition_count: reader.i32()?,
            configs: reader.map()?,
        },
        RecordType::TopicRemoved => MetadataRecord::TopicRemoved {
            topic_id: reader.uuid()?,
        },
        RecordType::PartitionsAdded => MetadataRecord::PartitionsAdded {
            topic_id: reader.uuid()?,
            partition_count: reader.i32()?,
        },
        RecordType::TopicConfigsSet => MetadataRecord::TopicConfigsSet {
            topic_id: reader.uuid()?,
            configs: reader.map()?,
        },
        RecordType::BrokerConfigsSet => MetadataRecord::BrokerConfigsSet {
            configs: reader.map()?,
        },
        RecordType::RegisterBroker => MetadataRecord::RegisterBroker(reader.registration()?),
        RecordType::FenceBroker => MetadataRecord::FenceBroker {
            node_id: reader.i32()?,
            broker_epoch: reader.i64()?,
        },
        RecordType::UnfenceBroker => MetadataRecord::UnfenceBroker {
            node_id: reader.i32()?,
            broker_epoch: reader.i64()?,
        },
        RecordType::UnregisterBroker => MetadataRecord::UnregisterBroker {
            node_id: reader.i32()?,
            broker_epoch: reader.i64()?,
        },
        RecordType::Partition => MetadataRecord::Partition {
            topic_id: reader.uuid()?,
            partition: reader.i32()?,
            state: reader.partition_state()?,
        },
        RecordType::PartitionChange => MetadataRecord::PartitionChange {
            topic_id: reader.uuid()?,
            partition: reader.i32()?,
            delta: reader.delta()?,
        },
        RecordType::ProducerIdBlock => MetadataRecord::ProducerIdBlock(ProducerIdBlock {
            node_id: reader.i32()?,
            first: reader.i64()?,
            size: reader.i32()?,
        }),
        RecordType::ScramCredential => scram_credentials::decode_record_body(reader)?,
        RecordType::AclCreated => MetadataRecord::AclCreated {
            acl_id: reader.uuid()?,
            binding: reader.acl_binding()?,
        },
        RecordType::AclRemoved => MetadataRecord::AclRemoved {
            acl_id: reader.uuid()?,
        },
        RecordType::ClientQuota => reader.client_quota()?,
    })
}
