//! The records a coordinator writes to its `__consumer_offsets` partition, in Kafka's own
//! key/value schemas (so the log reads like Kafka's), and the batch encoding and replay.
//!
//! ```text
//! OffsetCommitKey v1     [version:i16=1][group:string][topic:string][partition:i32]
//! OffsetCommitValue v3   [version:i16=3][offset:i64][leader_epoch:i32][metadata:string]
//!                        [commit_timestamp:i64]
//! GroupMetadataKey v2    [version:i16=2][group:string]
//! GroupMetadataValue v3  [version:i16=3][protocol_type:string][generation:i32]
//!                        [protocol:nullable string][leader:nullable string]
//!                        [current_state_timestamp:i64][members:i32 count]
//!   member v3            [member_id:string][group_instance_id:nullable string]
//!                        [client_id:string][client_host:string][rebalance_timeout:i32]
//!                        [session_timeout:i32][subscription:bytes][assignment:bytes]
//! string = [length:i16][utf-8]; bytes = [length:i32][bytes]; a null value is a tombstone.
//! ```
//! Later records for the same key replace earlier ones; a tombstone deletes.
//!
//! Pure (sans-IO); runs on the coordinator shard. Decoding never trusts the disk: every length
//! is bounded by the bytes left (`Reader`), and an unknown key or value version is an error the
//! caller skips.
use super::state::{GroupRecord, MemberRecord};
use crate::protocol::primitives::length_i32;
use crate::protocol::records::{BatchBuilder, BatchOptions, EncodeError, NewRecord, Records};
use crate::protocol::{DecodeError, Reader};
use bytes::{BufMut, Bytes, BytesMut};

const OFFSET_KEY_VERSION: i16 = 1;
const GROUP_KEY_VERSION: i16 = 2;
const OFFSET_VALUE_VERSION: i16 = 3;
const GROUP_VALUE_VERSION: i16 = 3;

/// A committed offset as stored (Kafka's OffsetCommitValue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetValue {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp_ms: i64,
}

/// One record of the offsets log.
#[derive(Debug, Clone, PartialEq)]
pub enum LogRecord {
    /// A commit, or its deletion (`None`).
    Offset {
        group_id: String,
        topic: String,
        partition: i32,
        value: Option<OffsetValue>,
    },
    /// A group's metadata, or its deletion (`None`).
    Group {
        group_id: String,
        value: Option<GroupRecord>,
    },
}

impl LogRecord {
    #[must_use]
    pub fn group_id(&self) -> &str {
        match self {
            Self::Offset { group_id, .. } | Self::Group { group_id, .. } => group_id,
        }
    }
}

/// Why a stored record cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum LogDecodeError {
    #[error("record without a key")]
    MissingKey,
    #[error("unknown key version {version}")]
    KeyVersion { version: i16 },
    #[error("unknown value version {version}")]
    ValueVersion { version: i16 },
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Records(#[from] crate::protocol::records::RecordsError),
}

fn put_string(target: &mut BytesMut, text: &str) {
    // Group ids, topics and member fields come from requests whose strings are i16-length.
    let length = i16::try_from(text.len()).unwrap_or(i16::MAX);
    target.put_i16(length);
    target.put_slice(
        text.as_bytes()
            .get(..text.len().min(i16::MAX as usize))
            .unwrap_or_default(),
    );
}

fn put_nullable_string(target: &mut BytesMut, text: Option<&str>) {
    match text {
        Some(text) => put_string(target, text),
        None => target.put_i16(-1),
    }
}

fn put_bytes(target: &mut BytesMut, bytes: &[u8]) {
    target.put_i32(length_i32(bytes.len()));
    target.put_slice(bytes);
}

/// The key and value bytes of `record`.
#[must_use]
pub fn encode_record(record: &LogRecord) -> (BytesMut, Option<BytesMut>) {
    let mut key = BytesMut::with_capacity(64);
    match record {
        LogRecord::Offset {
            group_id,
            topic,
            partition,
            value,
        } => {
            key.put_i16(OFFSET_KEY_VERSION);
            put_string(&mut key, group_id);
            put_string(&mut key, topic);
            key.put_i32(*partition);
            (key, value.as_ref().map(encode_offset_value))
        }
        LogRecord::Group { group_id, value } => {
            key.put_i16(GROUP_KEY_VERSION);
            put_string(&mut key, group_id);
            (key, value.as_ref().map(encode_group_value))
        }
    }
}

fn encode_offset_value(value: &OffsetValue) -> BytesMut {
    let mut target = BytesMut::with_capacity(32 + value.metadata.len());
    target.put_i16(OFFSET_VALUE_VERSION);
    target.put_i64(value.offset);
    target.put_i32(value.leader_epoch);
    put_string(&mut target, &value.metadata);
    target.put_i64(value.commit_timestamp_ms);
    target
}

fn encode_group_value(value: &GroupRecord) -> BytesMut {
    let mut target = BytesMut::with_capacity(128);
    target.put_i16(GROUP_VALUE_VERSION);
    put_string(&mut target, &value.protocol_type);
    target.put_i32(value.generation_id);
    put_nullable_string(&mut target, value.protocol_name.as_deref());
    put_nullable_string(&mut target, value.leader_id.as_deref());
    target.put_i64(value.state_timestamp_ms);
    target.put_i32(length_i32(value.members.len()));
    for member in &value.members {
        put_string(&mut target, &member.member_id);
        put_nullable_string(&mut target, member.group_instance_id.as_deref());
        put_string(&mut target, &member.client_id);
        put_string(&mut target, &member.client_host);
        target.put_i32(member.rebalance_timeout_ms);
        target.put_i32(member.session_timeout_ms);
        put_bytes(&mut target, &member.subscription);
        put_bytes(&mut target, &member.assignment);
    }
    target
}

/// Decodes one stored record.
///
/// # Errors
/// A missing key, an unknown version, or bytes that do not parse.
pub fn decode_record(
    key: Option<Bytes>,
    value: Option<Bytes>,
) -> Result<LogRecord, LogDecodeError> {
    let mut key = Reader::new(key.ok_or(LogDecodeError::MissingKey)?);
    let version = key.i16()?;
    match version {
        0 | 1 => {
            let group_id = key.string(false)?.to_string();
            let topic = key.string(false)?.to_string();
            let partition = key.i32()?;
            let value = value.map(decode_offset_value).transpose()?;
            Ok(LogRecord::Offset {
                group_id,
                topic,
                partition,
                value,
            })
        }
        2 => {
            let group_id = key.string(false)?.to_string();
            let value = value.map(decode_group_value).transpose()?;
            Ok(LogRecord::Group { group_id, value })
        }
        version => Err(LogDecodeError::KeyVersion { version }),
    }
}

fn decode_offset_value(bytes: Bytes) -> Result<OffsetValue, LogDecodeError> {
    let mut reader = Reader::new(bytes);
    let version = reader.i16()?;
    if version != OFFSET_VALUE_VERSION {
        return Err(LogDecodeError::ValueVersion { version });
    }
    Ok(OffsetValue {
        offset: reader.i64()?,
        leader_epoch: reader.i32()?,
        metadata: reader.string(false)?.to_string(),
        commit_timestamp_ms: reader.i64()?,
    })
}

fn decode_group_value(bytes: Bytes) -> Result<GroupRecord, LogDecodeError> {
    let mut reader = Reader::new(bytes);
    let version = reader.i16()?;
    if version != GROUP_VALUE_VERSION {
        return Err(LogDecodeError::ValueVersion { version });
    }
    let protocol_type = reader.string(false)?.to_string();
    let generation_id = reader.i32()?;
    let protocol_name = reader.nullable_string(false)?.map(|name| name.to_string());
    let leader_id = reader.nullable_string(false)?.map(|name| name.to_string());
    let state_timestamp_ms = reader.i64()?;
    // `array_count` checks the count against the bytes left before anything is allocated.
    let count = reader.array_count(false)?.unwrap_or(0);
    let mut members = Vec::with_capacity(count);
    for _ in 0..count {
        members.push(MemberRecord {
            member_id: reader.string(false)?.to_string(),
            group_instance_id: reader.nullable_string(false)?.map(|id| id.to_string()),
            client_id: reader.string(false)?.to_string(),
            client_host: reader.string(false)?.to_string(),
            rebalance_timeout_ms: reader.i32()?,
            session_timeout_ms: reader.i32()?,
            subscription: reader.bytes_field(false)?,
            assignment: reader.bytes_field(false)?,
        });
    }
    Ok(GroupRecord {
        protocol_type,
        generation_id,
        protocol_name,
        leader_id,
        state_timestamp_ms,
        members,
    })
}

/// Encodes `records` as one uncompressed batch (offsets assigned by the log on append).
///
/// # Errors
/// `Empty` for no records; `Full` when they exceed one batch's cap.
pub fn encode_batch(records: &[LogRecord], now_ms: i64) -> Result<BytesMut, EncodeError> {
    let mut output = BytesMut::with_capacity(256);
    let mut scratch = BytesMut::new();
    let mut builder = BatchBuilder::new(&mut output, &mut scratch, BatchOptions::default());
    for record in records {
        let (key, value) = encode_record(record);
        builder.append(&NewRecord {
            timestamp: now_ms,
            key: Some(&key),
            value: value.as_deref(),
            headers: &[],
        })?;
    }
    builder.finish()?;
    Ok(output)
}

/// Splits `bytes` (whole batches as read from the log) and decodes every record, in log
/// order, calling `apply` for each; returns the offset after the last batch seen and how
/// many records were skipped as unreadable. A partial batch at the end is left for the next
/// read.
pub fn replay(mut bytes: Bytes, mut apply: impl FnMut(LogRecord)) -> Replayed {
    let mut replayed = Replayed::default();
    // Bounded by the bytes: each iteration consumes at least one batch header.
    while bytes.len() >= crate::protocol::record_batch::HEADER_SIZE {
        let Some(length) = batch_size(&bytes) else {
            break;
        };
        if length > bytes.len() {
            break;
        }
        let batch = bytes.split_to(length);
        match Records::new(batch) {
            Ok(records) => {
                for record in records {
                    replayed.next_offset = replayed.next_offset.max(1);
                    match record {
                        Ok(record) => {
                            replayed.next_offset = record.offset.saturating_add(1);
                            match decode_record(record.key, record.value) {
                                Ok(decoded) => apply(decoded),
                                Err(_) => replayed.skipped += 1,
                            }
                        }
                        Err(_) => replayed.skipped += 1,
                    }
                }
            }
            Err(_) => replayed.skipped += 1,
        }
    }
    replayed
}

/// What [`replay`] went through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Replayed {
    /// One past the last record's offset (0 when none).
    pub next_offset: i64,
    pub skipped: u64,
}

/// The whole size of the batch at the start of `bytes`: its length field plus the 12 bytes
/// before it.
fn batch_size(bytes: &[u8]) -> Option<usize> {
    let field = bytes.get(8..12)?;
    let length = i32::from_be_bytes(field.try_into().ok()?);
    let length = usize::try_from(length).ok()?;
    length.checked_add(crate::protocol::record_batch::LOG_OVERHEAD)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)] // tests may panic
mod tests {
    use super::*;

    fn group_record() -> GroupRecord {
        GroupRecord {
            protocol_type: "consumer".into(),
            generation_id: 7,
            protocol_name: Some("range".into()),
            leader_id: Some("m1".into()),
            state_timestamp_ms: 1_700_000_000_000,
            members: vec![MemberRecord {
                member_id: "m1".into(),
                group_instance_id: Some("i1".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 30_000,
                session_timeout_ms: 10_000,
                subscription: Bytes::from_static(b"\x00\x01sub"),
                assignment: Bytes::from_static(b"asg"),
            }],
        }
    }

    fn records() -> Vec<LogRecord> {
        vec![
            LogRecord::Offset {
                group_id: "g".into(),
                topic: "t".into(),
                partition: 3,
                value: Some(OffsetValue {
                    offset: 42,
                    leader_epoch: -1,
                    metadata: "meta".into(),
                    commit_timestamp_ms: 5,
                }),
            },
            LogRecord::Group {
                group_id: "g".into(),
                value: Some(group_record()),
            },
            LogRecord::Offset {
                group_id: "g".into(),
                topic: "t".into(),
                partition: 3,
                value: None,
            },
            LogRecord::Group {
                group_id: "g".into(),
                value: None,
            },
        ]
    }

    #[test]
    fn offset_key_and_value_layout_are_kafkas() {
        let (key, value) = encode_record(&records()[0]);
        assert_eq!(&key[..], &[0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 3]);
        #[rustfmt::skip]
        let expected = [
            0, 3,                         // version
            0, 0, 0, 0, 0, 0, 0, 42,      // offset
            0xff, 0xff, 0xff, 0xff,       // leader epoch -1
            0, 4, b'm', b'e', b't', b'a', // metadata
            0, 0, 0, 0, 0, 0, 0, 5,       // commit timestamp
        ];
        assert_eq!(&value.unwrap()[..], &expected);
    }

    #[test]
    fn batch_round_trip_and_replay() {
        let mut log = BytesMut::new();
        log.extend_from_slice(&encode_batch(&records()[..2], 9).unwrap());
        log.extend_from_slice(&encode_batch(&records()[2..], 9).unwrap());
        let mut seen = Vec::new();
        let replayed = replay(log.clone().freeze(), |record| seen.push(record));
        assert_eq!(seen, records());
        // Both batches were built with base offset 0; the log assigns real offsets.
        assert_eq!(replayed.skipped, 0);
        // A torn tail is left alone, not misread.
        let torn = log.split_to(log.len() - 3).freeze();
        let mut partial = Vec::new();
        replay(torn, |record| partial.push(record));
        assert_eq!(partial, records()[..2].to_vec());
    }

    #[test]
    fn malformed_values_are_errors_not_panics() {
        let (key, value) = encode_record(&LogRecord::Group {
            group_id: "g".into(),
            value: Some(group_record()),
        });
        let value = value.unwrap().freeze();
        for cut in 0..value.len() {
            let result = decode_record(Some(key.clone().freeze()), Some(value.slice(..cut)));
            assert!(result.is_err(), "cut at {cut}");
        }
        assert!(matches!(
            decode_record(Some(Bytes::from_static(&[0, 9])), None),
            Err(LogDecodeError::KeyVersion { version: 9 })
        ));
        assert!(matches!(
            decode_record(None, None),
            Err(LogDecodeError::MissingKey)
        ));
    }
}
