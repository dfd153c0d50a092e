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
//! str               [length:u32][UTF-8 bytes]
//! opt_str           [present:u8 = 0] | [present:u8 = 1][str]
//! ids               [count:u32] count × [node_id:i32]
//! map               [count:u32] count × [name:str][value:str], names strictly ascending
//! ```
//! Numbers are assigned when a record is added and never reused (CLUSTER.md's `Config`,
//! `ScramCredential`, `Acl`, `ClientQuota` take 13..). The encoding is canonical (maps sorted,
//! flags 0 or 1, no padding), so `encode(decode(b)) == b`.
//!
//! Pure code; runs wherever records are encoded or decoded (shard 0 today).
use super::brokers::{BrokerRegistration, Listener, ProducerIdBlock};
use super::partitions::{PartitionDelta, PartitionState};
use crate::limits::METADATA_RECORD_SIZE_MAX;
use crate::protocol::Uuid;
use std::collections::BTreeMap;

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
            | Self::ProducerIdBlock => 0,
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
    })
}

/// Bits of a `PartitionChange`'s `fields` byte, in encoding order.
const DELTA_LEADER: u8 = 1;
const DELTA_ISR: u8 = 1 << 1;
const DELTA_ELR: u8 = 1 << 2;
const DELTA_REPLICAS: u8 = 1 << 3;
const DELTA_ADDING: u8 = 1 << 4;
const DELTA_REMOVING: u8 = 1 << 5;
const DELTA_ALL: u8 = (1 << 6) - 1;

fn ids_size(ids: &[i32]) -> usize {
    4 + 4 * ids.len()
}

fn registration_size(broker: &BrokerRegistration) -> usize {
    let rack = 1 + broker.rack.as_deref().map_or(0, string_size);
    let listeners: usize = broker
        .listeners
        .iter()
        .map(|listener| string_size(&listener.name) + string_size(&listener.host) + 2)
        .sum();
    4 + 16 + 8 + 4 + rack + 4 + listeners
}

fn partition_state_size(state: &PartitionState) -> usize {
    let lists = [
        &state.replicas,
        &state.isr,
        &state.elr,
        &state.adding,
        &state.removing,
    ];
    lists.iter().map(|ids| ids_size(ids)).sum::<usize>() + 3 * 4
}

fn delta_lists(delta: &PartitionDelta) -> [(u8, Option<&Vec<i32>>); 5] {
    [
        (DELTA_ISR, delta.isr.as_ref()),
        (DELTA_ELR, delta.elr.as_ref()),
        (DELTA_REPLICAS, delta.replicas.as_ref()),
        (DELTA_ADDING, delta.adding.as_ref()),
        (DELTA_REMOVING, delta.removing.as_ref()),
    ]
}

fn delta_size(delta: &PartitionDelta) -> usize {
    let lists: usize = delta_lists(delta)
        .iter()
        .filter_map(|(_, ids)| ids.map(|ids| ids_size(ids)))
        .sum();
    4 + 4 + 1 + delta.leader.map_or(0, |_| 4) + lists
}

fn string_size(value: &str) -> usize {
    4 + value.len()
}

fn map_size(map: &BTreeMap<String, String>) -> usize {
    4 + map
        .iter()
        .map(|(name, value)| string_size(name) + string_size(value))
        .sum::<usize>()
}

fn put_u32(out: &mut Vec<u8>, value: usize) {
    let value = u32::try_from(value);
    assert!(value.is_ok(), "length over u32::MAX in a metadata record");
    out.extend_from_slice(&value.unwrap_or(u32::MAX).to_be_bytes());
}

fn put_string(out: &mut Vec<u8>, value: &str) {
    put_u32(out, value.len());
    out.extend_from_slice(value.as_bytes());
}

fn put_ids(out: &mut Vec<u8>, ids: &[i32]) {
    put_u32(out, ids.len());
    for id in ids {
        out.extend_from_slice(&id.to_be_bytes());
    }
}

fn put_registration(out: &mut Vec<u8>, broker: &BrokerRegistration) {
    out.extend_from_slice(&broker.node_id.to_be_bytes());
    out.extend_from_slice(&broker.incarnation.0);
    out.extend_from_slice(&broker.broker_epoch.to_be_bytes());
    out.extend_from_slice(&broker.shard_count.to_be_bytes());
    match &broker.rack {
        None => out.push(0),
        Some(rack) => {
            out.push(1);
            put_string(out, rack);
        }
    }
    put_u32(out, broker.listeners.len());
    for listener in &broker.listeners {
        put_string(out, &listener.name);
        put_string(out, &listener.host);
        out.extend_from_slice(&listener.port.to_be_bytes());
    }
}

fn put_partition_state(out: &mut Vec<u8>, state: &PartitionState) {
    for ids in [
        &state.replicas,
        &state.isr,
        &state.elr,
        &state.adding,
        &state.removing,
    ] {
        put_ids(out, ids);
    }
    out.extend_from_slice(&state.leader.to_be_bytes());
    out.extend_from_slice(&state.leader_epoch.to_be_bytes());
    out.extend_from_slice(&state.partition_epoch.to_be_bytes());
}

fn put_delta(out: &mut Vec<u8>, delta: &PartitionDelta) {
    out.extend_from_slice(&delta.leader_epoch.to_be_bytes());
    out.extend_from_slice(&delta.partition_epoch.to_be_bytes());
    let lists = delta_lists(delta);
    let mut fields = if delta.leader.is_some() {
        DELTA_LEADER
    } else {
        0
    };
    for (bit, ids) in &lists {
        if ids.is_some() {
            fields |= bit;
        }
    }
    out.push(fields);
    if let Some(leader) = delta.leader {
        out.extend_from_slice(&leader.to_be_bytes());
    }
    for ids in lists.iter().filter_map(|(_, ids)| *ids) {
        put_ids(out, ids);
    }
}

fn put_map(out: &mut Vec<u8>, map: &BTreeMap<String, String>) {
    put_u32(out, map.len());
    for (name, value) in map {
        put_string(out, name);
        put_string(out, value);
    }
}

/// A bounds-checked cursor over one record (also used for the snapshot file's header).
pub(super) struct Reader<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) offset: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn take(&mut self, need: usize) -> Result<&'a [u8], RecordDecodeError> {
        let have = self.bytes.len() - self.offset;
        let eof = RecordDecodeError::UnexpectedEof {
            offset: self.offset,
            need,
            have,
        };
        let end = self.offset.checked_add(need).ok_or(eof.clone())?;
        let taken = self.bytes.get(self.offset..end).ok_or(eof)?;
        self.offset = end;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], RecordDecodeError> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    pub(super) fn u8(&mut self) -> Result<u8, RecordDecodeError> {
        Ok(self.array::<1>()?[0])
    }

    pub(super) fn u32(&mut self) -> Result<u32, RecordDecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(super) fn u64(&mut self) -> Result<u64, RecordDecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn i32(&mut self) -> Result<i32, RecordDecodeError> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64, RecordDecodeError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    fn u16(&mut self) -> Result<u16, RecordDecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// A flag byte: only the bits in `allowed` may be set.
    fn flags(&mut self, allowed: u8) -> Result<u8, RecordDecodeError> {
        let offset = self.offset;
        let value = self.u8()?;
        if value & !allowed != 0 {
            return Err(RecordDecodeError::InvalidFlags { offset, value });
        }
        Ok(value)
    }

    /// A list of node ids; each takes 4 bytes, so the loop ends at the first that does not
    /// fit, whatever the count says.
    fn ids(&mut self) -> Result<Vec<i32>, RecordDecodeError> {
        let count = self.u32()?;
        let mut ids = Vec::new();
        for _ in 0..count {
            ids.push(self.i32()?);
        }
        Ok(ids)
    }

    fn registration(&mut self) -> Result<BrokerRegistration, RecordDecodeError> {
        let node_id = self.i32()?;
        let incarnation = self.uuid()?;
        let broker_epoch = self.i64()?;
        let shard_count = self.i32()?;
        let rack = match self.flags(1)? {
            0 => None,
            _ => Some(self.string()?),
        };
        let count = self.u32()?;
        let mut listeners = Vec::new();
        // Each listener takes at least 10 bytes: bounded by the bytes left.
        for _ in 0..count {
            listeners.push(Listener {
                name: self.string()?,
                host: self.string()?,
                port: self.u16()?,
            });
        }
        Ok(BrokerRegistration {
            node_id,
            incarnation,
            broker_epoch,
            listeners,
            shard_count,
            rack,
            fenced: true,
        })
    }

    fn partition_state(&mut self) -> Result<PartitionState, RecordDecodeError> {
        Ok(PartitionState {
            replicas: self.ids()?,
            isr: self.ids()?,
            elr: self.ids()?,
            adding: self.ids()?,
            removing: self.ids()?,
            leader: self.i32()?,
            leader_epoch: self.i32()?,
            partition_epoch: self.i32()?,
        })
    }

    fn delta(&mut self) -> Result<PartitionDelta, RecordDecodeError> {
        let leader_epoch = self.i32()?;
        let partition_epoch = self.i32()?;
        let fields = self.flags(DELTA_ALL)?;
        let leader = match fields & DELTA_LEADER {
            0 => None,
            _ => Some(self.i32()?),
        };
        let mut list = |bit: u8| -> Result<Option<Vec<i32>>, RecordDecodeError> {
            if fields & bit == 0 {
                return Ok(None);
            }
            self.ids().map(Some)
        };
        Ok(PartitionDelta {
            leader,
            isr: list(DELTA_ISR)?,
            elr: list(DELTA_ELR)?,
            replicas: list(DELTA_REPLICAS)?,
            adding: list(DELTA_ADDING)?,
            removing: list(DELTA_REMOVING)?,
            leader_epoch,
            partition_epoch,
        })
    }

    fn uuid(&mut self) -> Result<Uuid, RecordDecodeError> {
        Ok(Uuid(self.array()?))
    }

    /// A length-prefixed byte string; the length is checked against the bytes left before
    /// anything is allocated.
    pub(super) fn bytes(&mut self) -> Result<&'a [u8], RecordDecodeError> {
        let length = usize::try_from(self.u32()?).unwrap_or(usize::MAX);
        self.take(length)
    }

    pub(super) fn string(&mut self) -> Result<String, RecordDecodeError> {
        let offset = self.offset;
        let bytes = self.bytes()?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| RecordDecodeError::InvalidUtf8 { offset })
    }

    fn map(&mut self) -> Result<BTreeMap<String, String>, RecordDecodeError> {
        let count = self.u32()?;
        let mut map = BTreeMap::new();
        // Each entry takes at least 8 bytes, so `count` is bounded by the bytes left: the loop
        // ends at the first entry that does not fit.
        for _ in 0..count {
            let offset = self.offset;
            let name = self.string()?;
            let value = self.string()?;
            if map.last_key_value().is_some_and(|(last, _)| *last >= name) {
                return Err(RecordDecodeError::UnsortedConfigs { offset });
            }
            map.insert(name, value);
        }
        Ok(map)
    }

    pub(super) fn finish(&self) -> Result<(), RecordDecodeError> {
        match self.bytes.len() - self.offset {
            0 => Ok(()),
            count => Err(RecordDecodeError::TrailingBytes { count }),
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
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

    /// One record of each broker, partition and producer-id type, in an order that applies
    /// to the empty state (the topic is created first).
    pub(in crate::cluster) fn cluster_records() -> Vec<MetadataRecord> {
        let topic_id = Uuid([7; 16]);
        let broker = BrokerRegistration {
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
        };
        vec![
            MetadataRecord::RegisterBroker(broker),
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
        ]
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
            MetadataRecord::decode(&[13, 0]),
            Err(RecordDecodeError::UnknownType { record_type: 13 })
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
        ]
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
                |(
                    leader,
                    (isr, elr, replicas, adding, removing),
                    (leader_epoch, partition_epoch),
                )| {
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
            (id.clone(), any::<i32>(), arbitrary_state()).prop_map(
                |(topic_id, partition, state)| MetadataRecord::Partition {
                    topic_id,
                    partition,
                    state
                }
            ),
            (id, any::<i32>(), arbitrary_delta()).prop_map(|(topic_id, partition, delta)| {
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
        ]
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
}
