//! The byte-level helpers of the record encoding: sizes, writers and the bounded `Reader`
//! every decode goes through (lengths checked against the bytes left before any allocation).
//! Pure code.
use super::*;
use crate::cluster::acls::{
    AccessControlEntry, AclOperation, AclPermission, PatternType, ResourcePattern, ResourceType,
};
use crate::cluster::quotas::EntityName;

/// An entity component's kind byte in a `ClientQuota` record.
const ENTITY_ABSENT: u8 = 0;
const ENTITY_DEFAULT: u8 = 1;
const ENTITY_NAMED: u8 = 2;

fn entity_name_size(name: Option<&EntityName>) -> usize {
    match name {
        Some(EntityName::Named(name)) => 1 + string_size(name),
        Some(EntityName::Default) | None => 1,
    }
}

pub(in crate::cluster::metadata) fn quota_entity_size(entity: &QuotaEntity) -> usize {
    entity_name_size(entity.user.as_ref()) + entity_name_size(entity.client_id.as_ref())
}

fn put_entity_name(out: &mut Vec<u8>, name: Option<&EntityName>) {
    match name {
        None => out.push(ENTITY_ABSENT),
        Some(EntityName::Default) => out.push(ENTITY_DEFAULT),
        Some(EntityName::Named(name)) => {
            out.push(ENTITY_NAMED);
            put_string(out, name);
        }
    }
}

pub(in crate::cluster::metadata) fn put_quota_entity(out: &mut Vec<u8>, entity: &QuotaEntity) {
    put_entity_name(out, entity.user.as_ref());
    put_entity_name(out, entity.client_id.as_ref());
}

/// Bits of a `PartitionChange`'s `fields` byte, in encoding order.
pub(in crate::cluster::metadata) const DELTA_LEADER: u8 = 1;
pub(in crate::cluster::metadata) const DELTA_ISR: u8 = 1 << 1;
pub(in crate::cluster::metadata) const DELTA_ELR: u8 = 1 << 2;
pub(in crate::cluster::metadata) const DELTA_REPLICAS: u8 = 1 << 3;
pub(in crate::cluster::metadata) const DELTA_ADDING: u8 = 1 << 4;
pub(in crate::cluster::metadata) const DELTA_REMOVING: u8 = 1 << 5;
pub(in crate::cluster::metadata) const DELTA_ALL: u8 = (1 << 6) - 1;

pub(in crate::cluster::metadata) fn ids_size(ids: &[i32]) -> usize {
    4 + 4 * ids.len()
}

pub(in crate::cluster::metadata) fn registration_size(broker: &BrokerRegistration) -> usize {
    let rack = 1 + broker.rack.as_deref().map_or(0, string_size);
    let listeners: usize = broker
        .listeners
        .iter()
        .map(|listener| string_size(&listener.name) + string_size(&listener.host) + 2)
        .sum();
    4 + 16 + 8 + 4 + rack + 4 + listeners
}

pub(in crate::cluster::metadata) fn partition_state_size(state: &PartitionState) -> usize {
    let lists = [
        &state.replicas,
        &state.isr,
        &state.elr,
        &state.adding,
        &state.removing,
    ];
    lists.iter().map(|ids| ids_size(ids)).sum::<usize>() + 3 * 4
}

pub(in crate::cluster::metadata) fn delta_lists(
    delta: &PartitionDelta,
) -> [(u8, Option<&Vec<i32>>); 5] {
    [
        (DELTA_ISR, delta.isr.as_ref()),
        (DELTA_ELR, delta.elr.as_ref()),
        (DELTA_REPLICAS, delta.replicas.as_ref()),
        (DELTA_ADDING, delta.adding.as_ref()),
        (DELTA_REMOVING, delta.removing.as_ref()),
    ]
}

pub(in crate::cluster::metadata) fn delta_size(delta: &PartitionDelta) -> usize {
    let lists: usize = delta_lists(delta)
        .iter()
        .filter_map(|(_, ids)| ids.map(|ids| ids_size(ids)))
        .sum();
    4 + 4 + 1 + delta.leader.map_or(0, |_| 4) + lists
}

pub(in crate::cluster::metadata) fn string_size(value: &str) -> usize {
    4 + value.len()
}

pub(in crate::cluster::metadata) fn map_size(map: &BTreeMap<String, String>) -> usize {
    4 + map
        .iter()
        .map(|(name, value)| string_size(name) + string_size(value))
        .sum::<usize>()
}

pub(in crate::cluster::metadata) fn put_u32(out: &mut Vec<u8>, value: usize) {
    let value = u32::try_from(value);
    assert!(value.is_ok(), "length over u32::MAX in a metadata record");
    out.extend_from_slice(&value.unwrap_or(u32::MAX).to_be_bytes());
}

pub(in crate::cluster::metadata) fn put_string(out: &mut Vec<u8>, value: &str) {
    put_u32(out, value.len());
    out.extend_from_slice(value.as_bytes());
}

pub(in crate::cluster::metadata) fn put_ids(out: &mut Vec<u8>, ids: &[i32]) {
    put_u32(out, ids.len());
    for id in ids {
        out.extend_from_slice(&id.to_be_bytes());
    }
}

pub(in crate::cluster::metadata) fn put_registration(
    out: &mut Vec<u8>,
    broker: &BrokerRegistration,
) {
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

pub(in crate::cluster::metadata) fn put_partition_state(out: &mut Vec<u8>, state: &PartitionState) {
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

pub(in crate::cluster::metadata) fn put_delta(out: &mut Vec<u8>, delta: &PartitionDelta) {
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

pub(in crate::cluster::metadata) fn acl_binding_size(binding: &AclBinding) -> usize {
    let strings = [
        &binding.pattern.name,
        &binding.entry.principal,
        &binding.entry.host,
    ];
    4 + strings.iter().map(|text| string_size(text)).sum::<usize>()
}

pub(in crate::cluster::metadata) fn put_acl_binding(out: &mut Vec<u8>, binding: &AclBinding) {
    out.extend_from_slice(&binding.pattern.resource_type.code().to_be_bytes());
    out.extend_from_slice(&binding.pattern.pattern_type.code().to_be_bytes());
    put_string(out, &binding.pattern.name);
    put_string(out, &binding.entry.principal);
    put_string(out, &binding.entry.host);
    out.extend_from_slice(&binding.entry.operation.code().to_be_bytes());
    out.extend_from_slice(&binding.entry.permission.code().to_be_bytes());
}

pub(in crate::cluster::metadata) fn put_map(out: &mut Vec<u8>, map: &BTreeMap<String, String>) {
    put_u32(out, map.len());
    for (name, value) in map {
        put_string(out, name);
        put_string(out, value);
    }
}

/// A bounds-checked cursor over one record (also used for the snapshot file's header).
pub(in crate::cluster::metadata) struct Reader<'a> {
    pub(in crate::cluster::metadata) bytes: &'a [u8],
    pub(in crate::cluster::metadata) offset: usize,
}

impl<'a> Reader<'a> {
    pub(in crate::cluster::metadata) fn take(
        &mut self,
        need: usize,
    ) -> Result<&'a [u8], RecordDecodeError> {
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

    pub(in crate::cluster::metadata) fn array<const N: usize>(
        &mut self,
    ) -> Result<[u8; N], RecordDecodeError> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    pub(in crate::cluster::metadata) fn u8(&mut self) -> Result<u8, RecordDecodeError> {
        Ok(self.array::<1>()?[0])
    }

    pub(in crate::cluster::metadata) fn u32(&mut self) -> Result<u32, RecordDecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(in crate::cluster::metadata) fn u64(&mut self) -> Result<u64, RecordDecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    pub(in crate::cluster::metadata) fn i32(&mut self) -> Result<i32, RecordDecodeError> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    pub(in crate::cluster::metadata) fn i64(&mut self) -> Result<i64, RecordDecodeError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    pub(in crate::cluster::metadata) fn u16(&mut self) -> Result<u16, RecordDecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// A flag byte: only the bits in `allowed` may be set.
    pub(in crate::cluster::metadata) fn flags(
        &mut self,
        allowed: u8,
    ) -> Result<u8, RecordDecodeError> {
        let offset = self.offset;
        let value = self.u8()?;
        if value & !allowed != 0 {
            return Err(RecordDecodeError::InvalidFlags { offset, value });
        }
        Ok(value)
    }

    /// A list of node ids; each takes 4 bytes, so the loop ends at the first that does not
    /// fit, whatever the count says.
    pub(in crate::cluster::metadata) fn ids(&mut self) -> Result<Vec<i32>, RecordDecodeError> {
        let count = self.u32()?;
        let mut ids = Vec::new();
        for _ in 0..count {
            ids.push(self.i32()?);
        }
        Ok(ids)
    }

    pub(in crate::cluster::metadata) fn registration(
        &mut self,
    ) -> Result<BrokerRegistration, RecordDecodeError> {
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

    pub(in crate::cluster::metadata) fn partition_state(
        &mut self,
    ) -> Result<PartitionState, RecordDecodeError> {
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

    pub(in crate::cluster::metadata) fn delta(
        &mut self,
    ) -> Result<PartitionDelta, RecordDecodeError> {
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

    /// One of Kafka's ACL enum codes, decoded by `from_code`.
    fn acl_code<T>(
        &mut self,
        field: &'static str,
        from_code: fn(i8) -> Option<T>,
    ) -> Result<T, RecordDecodeError> {
        let offset = self.offset;
        let code = i8::from_be_bytes(self.array()?);
        from_code(code).ok_or(RecordDecodeError::InvalidAclCode {
            offset,
            field,
            code,
        })
    }

    pub(in crate::cluster::metadata) fn acl_binding(
        &mut self,
    ) -> Result<AclBinding, RecordDecodeError> {
        let resource_type = self.acl_code("resource type", ResourceType::from_code)?;
        let pattern_type = self.acl_code("pattern type", PatternType::from_code)?;
        let pattern = ResourcePattern {
            resource_type,
            pattern_type,
            name: self.string()?,
        };
        let principal = self.string()?;
        let host = self.string()?;
        let entry = AccessControlEntry {
            principal,
            host,
            operation: self.acl_code("operation", AclOperation::from_code)?,
            permission: self.acl_code("permission", AclPermission::from_code)?,
        };
        Ok(AclBinding { pattern, entry })
    }

    fn entity_name(&mut self) -> Result<Option<EntityName>, RecordDecodeError> {
        let offset = self.offset;
        match self.u8()? {
            ENTITY_ABSENT => Ok(None),
            ENTITY_DEFAULT => Ok(Some(EntityName::Default)),
            ENTITY_NAMED => Ok(Some(EntityName::Named(self.string()?))),
            value => Err(RecordDecodeError::InvalidFlags { offset, value }),
        }
    }

    /// A `ClientQuota` record's body.
    pub(in crate::cluster::metadata) fn client_quota(
        &mut self,
    ) -> Result<MetadataRecord, RecordDecodeError> {
        let entity = QuotaEntity {
            user: self.entity_name()?,
            client_id: self.entity_name()?,
        };
        let offset = self.offset;
        let code = self.u8()?;
        let key =
            QuotaKey::from_code(code).ok_or(RecordDecodeError::InvalidQuotaKey { offset, code })?;
        let value = match self.flags(1)? {
            0 => None,
            _ => Some(QuotaValue(f64::from_bits(self.u64()?))),
        };
        Ok(MetadataRecord::ClientQuota { entity, key, value })
    }

    pub(in crate::cluster::metadata) fn uuid(&mut self) -> Result<Uuid, RecordDecodeError> {
        Ok(Uuid(self.array()?))
    }

    /// A length-prefixed byte string; the length is checked against the bytes left before
    /// anything is allocated.
    pub(in crate::cluster::metadata) fn bytes(&mut self) -> Result<&'a [u8], RecordDecodeError> {
        let length = usize::try_from(self.u32()?).unwrap_or(usize::MAX);
        self.take(length)
    }

    pub(in crate::cluster::metadata) fn string(&mut self) -> Result<String, RecordDecodeError> {
        let offset = self.offset;
        let bytes = self.bytes()?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| RecordDecodeError::InvalidUtf8 { offset })
    }

    pub(in crate::cluster::metadata) fn map(
        &mut self,
    ) -> Result<BTreeMap<String, String>, RecordDecodeError> {
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

    pub(in crate::cluster::metadata) fn finish(&self) -> Result<(), RecordDecodeError> {
        match self.bytes.len() - self.offset {
            0 => Ok(()),
            count => Err(RecordDecodeError::TrailingBytes { count }),
        }
    }
}
