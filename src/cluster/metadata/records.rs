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
//! str               [length:u32][UTF-8 bytes]
//! map               [count:u32] count × [name:str][value:str], names strictly ascending
//! ```
//! Types 6.. are reserved for CLUSTER.md's records (RegisterBroker, FenceBroker, Partition,
//! PartitionChange, ProducerIdBlock, …); numbers are assigned when a record is added and never
//! reused. The encoding is canonical (maps sorted, no padding), so `encode(decode(b)) == b`.
//!
//! Pure code; runs wherever records are encoded or decoded (shard 0 today).
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
            | Self::BrokerConfigsSet => 0,
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
        }
        assert_eq!(
            out.len() - start,
            self.encoded_size(),
            "size and encoding agree"
        );
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
    })
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
        for record in one_of_each() {
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
            MetadataRecord::decode(&[6, 0]),
            Err(RecordDecodeError::UnknownType { record_type: 6 })
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
