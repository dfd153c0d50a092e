//! The producer snapshot file (format in the module docs of `producer_state/mod.rs`): encoding
//! a table, decoding one without panicking on any byte, and the `<20 digits>.snapshot` name.
//! It does not read or write files (`producer_log.rs` does). Runs on the shard that owns the
//! partition.
use std::collections::VecDeque;

use super::BATCHES_RETAINED;
use super::table::{BatchRecord, ProducerEntry, ProducerStateTable};
use crate::limits::PRODUCERS_PER_PARTITION_MAX;

const SNAPSHOT_MAGIC: &[u8; 4] = b"RBPS";
const SNAPSHOT_VERSION: u16 = 1;
const SNAPSHOT_PREFIX_SIZE: usize = 4 + 2 + 4;
const SNAPSHOT_PRODUCER_SIZE: usize = 8 + 2 + 8 + 1;
const SNAPSHOT_BATCH_SIZE: usize = 4 + 4 + 8 + 8 + 8;

/// Largest snapshot we write or read: every producer with a full window.
pub const SNAPSHOT_SIZE_MAX: usize = SNAPSHOT_PREFIX_SIZE
    + 8
    + 4
    + PRODUCERS_PER_PARTITION_MAX
        * (SNAPSHOT_PRODUCER_SIZE + BATCHES_RETAINED * SNAPSHOT_BATCH_SIZE);

impl ProducerStateTable {
    /// The snapshot bytes of this table as of `offset` (format in the module docs).
    #[must_use]
    pub fn encode_snapshot(&self, offset: i64) -> Vec<u8> {
        let mut body = Vec::with_capacity(12 + self.producers.len() * SNAPSHOT_PRODUCER_SIZE);
        body.extend_from_slice(&offset.to_be_bytes());
        let count = u32::try_from(self.producers.len()).unwrap_or(u32::MAX);
        body.extend_from_slice(&count.to_be_bytes());
        let mut ids: Vec<i64> = self.producers.keys().copied().collect();
        ids.sort_unstable();
        for producer_id in ids {
            let Some(entry) = self.producers.get(&producer_id) else {
                continue;
            };
            body.extend_from_slice(&producer_id.to_be_bytes());
            body.extend_from_slice(&entry.epoch.to_be_bytes());
            body.extend_from_slice(&entry.last_timestamp_ms.to_be_bytes());
            let batch_count = u8::try_from(entry.batches.len()).unwrap_or(u8::MAX);
            body.push(batch_count);
            for batch in &entry.batches {
                body.extend_from_slice(&batch.first_sequence.to_be_bytes());
                body.extend_from_slice(&batch.last_sequence.to_be_bytes());
                body.extend_from_slice(&batch.first_offset.to_be_bytes());
                body.extend_from_slice(&batch.last_offset.to_be_bytes());
                body.extend_from_slice(&batch.timestamp_ms.to_be_bytes());
            }
        }
        let mut bytes = Vec::with_capacity(SNAPSHOT_PREFIX_SIZE + body.len());
        bytes.extend_from_slice(SNAPSHOT_MAGIC);
        bytes.extend_from_slice(&SNAPSHOT_VERSION.to_be_bytes());
        bytes.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
        bytes.extend_from_slice(&body);
        assert!(bytes.len() <= SNAPSHOT_SIZE_MAX, "snapshot over its bound");
        bytes
    }

    /// Decodes a snapshot; returns the table (expiring after `expiration_ms`; the caller
    /// removes the already expired) and the offset it was taken at.
    ///
    /// # Errors
    /// [`SnapshotError`] for any byte that does not fit the format.
    pub fn decode_snapshot(bytes: &[u8], expiration_ms: i64) -> Result<(Self, i64), SnapshotError> {
        let mut reader = Reader { bytes, position: 0 };
        if reader.take(4)? != SNAPSHOT_MAGIC {
            return Err(SnapshotError::BadMagic);
        }
        let version = reader.u16()?;
        if version != SNAPSHOT_VERSION {
            return Err(SnapshotError::UnknownVersion { version });
        }
        let stored = reader.u32()?;
        let computed = crc32c::crc32c(bytes.get(SNAPSHOT_PREFIX_SIZE..).unwrap_or_default());
        if stored != computed {
            return Err(SnapshotError::CrcMismatch { stored, computed });
        }
        let offset = reader.i64()?;
        let count = reader.u32()? as usize;
        if count > PRODUCERS_PER_PARTITION_MAX {
            return Err(SnapshotError::TooManyProducers { count });
        }
        let mut table = Self::new(expiration_ms);
        for _ in 0..count {
            let (producer_id, entry) = decode_entry(&mut reader, offset)?;
            if table.producers.insert(producer_id, entry).is_some() {
                return Err(SnapshotError::Malformed {
                    position: reader.position,
                });
            }
        }
        if reader.position != bytes.len() {
            return Err(SnapshotError::Malformed {
                position: reader.position,
            });
        }
        table.check_invariants();
        Ok((table, offset))
    }
}

/// One producer of a snapshot taken at `offset`: its id and entry, batches checked to lie below
/// `offset` with rising offsets.
fn decode_entry(
    reader: &mut Reader<'_>,
    offset: i64,
) -> Result<(i64, ProducerEntry), SnapshotError> {
    let producer_id = reader.i64()?;
    let epoch = reader.i16()?;
    let last_timestamp_ms = reader.i64()?;
    let batch_count = usize::from(reader.u8()?);
    if producer_id < 0 || batch_count > BATCHES_RETAINED {
        return Err(SnapshotError::Malformed {
            position: reader.position,
        });
    }
    let mut batches = VecDeque::with_capacity(batch_count);
    for _ in 0..batch_count {
        let batch = BatchRecord {
            first_sequence: reader.i32()?,
            last_sequence: reader.i32()?,
            first_offset: reader.i64()?,
            last_offset: reader.i64()?,
            timestamp_ms: reader.i64()?,
        };
        let rising = batches
            .back()
            .is_none_or(|older: &BatchRecord| older.last_offset < batch.first_offset);
        if batch.first_offset > batch.last_offset || batch.last_offset >= offset || !rising {
            return Err(SnapshotError::Malformed {
                position: reader.position,
            });
        }
        batches.push_back(batch);
    }
    let entry = ProducerEntry {
        epoch,
        batches,
        last_timestamp_ms,
    };
    Ok((producer_id, entry))
}

/// Why a snapshot file was not usable (the log then rebuilds from an older one or the start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("not a producer snapshot")]
    BadMagic,
    #[error("snapshot version {version} is not ours")]
    UnknownVersion { version: u16 },
    #[error("snapshot CRC {stored:#x} does not match {computed:#x}")]
    CrcMismatch { stored: u32, computed: u32 },
    #[error("snapshot ends early at byte {position}")]
    Truncated { position: usize },
    #[error("snapshot holds {count} producers, more than we keep")]
    TooManyProducers { count: usize },
    #[error("snapshot is malformed at byte {position}")]
    Malformed { position: usize },
}

/// Big-endian reads that fail instead of panicking past the end.
struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl Reader<'_> {
    fn take(&mut self, length: usize) -> Result<&[u8], SnapshotError> {
        let end = self.position.saturating_add(length);
        let slice = self
            .bytes
            .get(self.position..end)
            .ok_or(SnapshotError::Truncated {
                position: self.position,
            })?;
        self.position = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        let position = self.position;
        self.take(N)?
            .try_into()
            .map_err(|_| SnapshotError::Truncated { position })
    }

    fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    fn u16(&mut self) -> Result<u16, SnapshotError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn i16(&mut self) -> Result<i16, SnapshotError> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, SnapshotError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn i32(&mut self) -> Result<i32, SnapshotError> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64, SnapshotError> {
        Ok(i64::from_be_bytes(self.array()?))
    }
}

/// `<20-digit offset>.snapshot`, Kafka's name for producer snapshots.
#[must_use]
pub fn snapshot_file_name(offset: i64) -> String {
    format!("{offset:020}.snapshot")
}

/// The offset of a `<20 digits>.snapshot` file name.
#[must_use]
pub fn parse_snapshot_file_name(name: &str) -> Option<i64> {
    super::super::segment::parse_offset_file_name(name, ".snapshot")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::producer_state::PRODUCER_ID_EXPIRATION_MS_DEFAULT;
    use crate::storage::producer_state::rules::{ProducerBatch, increment_sequence};

    fn batch(producer_id: i64, epoch: i16, first_sequence: i32, count: i32) -> ProducerBatch {
        ProducerBatch {
            producer_id,
            epoch,
            first_sequence,
            last_sequence: increment_sequence(first_sequence, count - 1),
            offset_count: i64::from(count),
            max_timestamp: 1000,
        }
    }

    #[test]
    fn snapshot_names_are_twenty_digits() {
        assert_eq!(snapshot_file_name(42), "00000000000000000042.snapshot");
        assert_eq!(
            parse_snapshot_file_name("00000000000000000042.snapshot"),
            Some(42)
        );
        assert_eq!(parse_snapshot_file_name("42.snapshot"), None);
        assert_eq!(parse_snapshot_file_name("00000000000000000042.log"), None);
    }

    #[test]
    fn snapshot_decoding_refuses_damage_without_panicking() {
        let mut table = ProducerStateTable::new(PRODUCER_ID_EXPIRATION_MS_DEFAULT);
        table.update(&batch(7, 2, 0, 3), 10, 500);
        let bytes = table.encode_snapshot(13);
        let (decoded, offset) =
            ProducerStateTable::decode_snapshot(&bytes, PRODUCER_ID_EXPIRATION_MS_DEFAULT).unwrap();
        assert_eq!((decoded, offset), (table, 13));
        for cut in 0..bytes.len() {
            let decoded = ProducerStateTable::decode_snapshot(&bytes[..cut], 1);
            assert!(decoded.is_err(), "cut at {cut}");
        }
        for index in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[index] ^= 0x40;
            assert!(
                ProducerStateTable::decode_snapshot(&damaged, 1).is_err(),
                "byte {index}"
            );
        }
    }
}
