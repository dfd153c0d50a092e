//! Test and benchmark helper: assembles a valid RecordBatch v2 around opaque record bytes.
//!
//! Storage never parses records, so the "records" here are arbitrary bytes; the header's count,
//! last offset delta, timestamps and CRC-32C are right, which is all storage checks. Not used
//! by the broker. Runs anywhere (pure function).
use bytes::{BufMut, BytesMut};

use crate::protocol::record_batch::{
    self, BASE_SEQUENCE_OFFSET, CRC_OFFSET, HEADER_SIZE, LOG_OVERHEAD, MAGIC_V2,
    PRODUCER_EPOCH_OFFSET, PRODUCER_ID_OFFSET,
};

/// A batch of `record_count` records carrying `payload` as its record bytes, with
/// `max_timestamp` (base timestamp = max timestamp − 1, or the same when ≤ 0).
///
/// # Panics
/// When `record_count < 1` or the batch would not fit an i32 length.
#[must_use]
pub fn build_batch(record_count: i32, max_timestamp: i64, payload: &[u8]) -> BytesMut {
    assert!(record_count >= 1, "a batch holds at least one record");
    let total = HEADER_SIZE + payload.len();
    let batch_length = i32::try_from(total - LOG_OVERHEAD).unwrap_or(i32::MAX);
    let mut batch = BytesMut::with_capacity(total);
    batch.put_i64(0); // base offset, assigned by the log
    batch.put_i32(batch_length);
    batch.put_i32(-1); // partition leader epoch, assigned by the log
    batch.put_i8(MAGIC_V2);
    batch.put_u32(0); // crc, below
    batch.put_i16(0); // attributes: no compression, CreateTime
    batch.put_i32(record_count - 1);
    batch.put_i64(if max_timestamp > 0 {
        max_timestamp - 1
    } else {
        max_timestamp
    });
    batch.put_i64(max_timestamp);
    batch.put_i64(-1); // producer id
    batch.put_i16(-1); // producer epoch
    batch.put_i32(-1); // base sequence
    batch.put_i32(record_count);
    batch.put_slice(payload);
    seal(batch)
}

/// `build_batch` with a payload of `payload_size` bytes derived from `seed` (so tests can tell
/// batches apart by content).
#[must_use]
pub fn build_batch_sized(
    record_count: i32,
    max_timestamp: i64,
    payload_size: usize,
    seed: u64,
) -> BytesMut {
    let mut state = seed | 1;
    let payload: Vec<u8> = (0..payload_size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect();
    build_batch(record_count, max_timestamp, &payload)
}

/// The producer fields of an idempotent batch: who sent it and its first sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerFields {
    pub producer_id: i64,
    pub epoch: i16,
    pub base_sequence: i32,
}

/// `build_batch` from an idempotent producer (the CRC is recomputed over the new fields).
///
/// # Panics
/// As [`build_batch`].
#[must_use]
pub fn build_producer_batch(
    producer: ProducerFields,
    record_count: i32,
    max_timestamp: i64,
) -> BytesMut {
    let mut batch = build_batch(record_count, max_timestamp, b"idempotent");
    let fields: [(usize, &[u8]); 3] = [
        (PRODUCER_ID_OFFSET, &producer.producer_id.to_be_bytes()),
        (PRODUCER_EPOCH_OFFSET, &producer.epoch.to_be_bytes()),
        (BASE_SEQUENCE_OFFSET, &producer.base_sequence.to_be_bytes()),
    ];
    for (offset, bytes) in fields {
        if let Some(field) = batch.get_mut(offset..offset + bytes.len()) {
            field.copy_from_slice(bytes);
        }
    }
    seal(batch)
}

/// Writes the CRC-32C over the finished header and records, and checks the result.
fn seal(mut batch: BytesMut) -> BytesMut {
    let crc = record_batch::compute_crc(&batch);
    if let Some(field) = batch.get_mut(CRC_OFFSET..CRC_OFFSET + 4) {
        field.copy_from_slice(&crc.to_be_bytes());
    }
    assert!(
        record_batch::validate(&batch).is_ok(),
        "built batch validates"
    );
    batch
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::record_batch::BatchHeader;

    #[test]
    fn built_batches_validate_and_carry_counts() {
        let batch = build_batch_sized(5, 1_000, 100, 7);
        let header = record_batch::validate(&batch).unwrap();
        assert_eq!(header.records_count(), 5);
        assert_eq!(header.last_offset_delta(), 4);
        assert_eq!(header.max_timestamp(), 1_000);
        assert_eq!(batch.len(), HEADER_SIZE + 100);
        let other = build_batch_sized(5, 1_000, 100, 8);
        assert_ne!(BatchHeader::parse(&other).unwrap().crc(), header.crc());
    }
}

/// SplitMix64: a tiny seeded generator for model tests and benches (no `rand` dependency).
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (`bound > 0`; slight modulo bias is fine for tests).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }

    /// Seed from the environment variable `name` if set, else from the clock.
    #[must_use]
    pub fn seed_from_env(name: &str) -> u64 {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            })
    }
}
